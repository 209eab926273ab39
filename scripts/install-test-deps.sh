#!/usr/bin/env bash
# Install the real NSQ client libraries that broker/tests/it/clients.rs runs
# against our nsqd: pynsq (+ pinned tornado) with pip, nsqjs with npm; and,
# where apt-get exists, Debian's chromium + chromium-driver for nsqadmin's
# browser tests (admin-ui/tests/it/browser.rs, which skip without them).
# Idempotent; exits non-zero, saying what failed, if a client library cannot
# be installed (a missing Chromium never fails the script).
# (tokio-nsq is a Rust dev-dependency: cargo fetches it.)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
clients="$root/broker/tests/clients"

die() {
    echo "install-test-deps: ERROR: $*" >&2
    exit 1
}

command -v python3 >/dev/null 2>&1 || die "python3 not found (needed for pynsq)"
command -v node >/dev/null 2>&1 || die "node not found (needed for nsqjs)"
command -v npm >/dev/null 2>&1 || die "npm not found (needed for nsqjs)"
python3 -m pip --version >/dev/null 2>&1 || die "python3 -m pip not available"

# --- pynsq + tornado ---------------------------------------------------------
pip_flags=(--quiet --disable-pip-version-check)
if python3 -m pip install --help 2>/dev/null | grep -q -- '--root-user-action'; then
    pip_flags+=(--root-user-action=ignore)
fi
echo "install-test-deps: pip install -r broker/tests/clients/requirements.txt"
python3 -m pip install "${pip_flags[@]}" -r "$clients/requirements.txt" \
    || die "pip could not install $clients/requirements.txt"
python3 - <<'PY' || die "pynsq/tornado installed but not importable by python3"
import nsq, tornado, snappy
print("install-test-deps: pynsq %s, tornado %s" % (nsq.__version__, tornado.version))
PY

# --- nsqjs -------------------------------------------------------------------
cd "$clients"
if [ -f package-lock.json ]; then
    echo "install-test-deps: npm ci in broker/tests/clients"
    npm ci --no-audit --no-fund --loglevel=error || die "npm ci failed in $clients"
else
    echo "install-test-deps: npm install in broker/tests/clients"
    npm install --no-audit --no-fund --loglevel=error || die "npm install failed in $clients"
fi
node -e 'const v = require("nsqjs/package.json").version; console.log("install-test-deps: nsqjs " + v)' \
    || die "nsqjs installed but not loadable by node from $clients"

# --- chromium + chromedriver (optional: the browser tests skip without) -----
if ! command -v chromedriver >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    echo "install-test-deps: apt-get install chromium chromium-driver"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; } \
        || echo "install-test-deps: chromium not installed: browser tests will skip"
fi
if command -v chromedriver >/dev/null 2>&1; then
    echo "install-test-deps: $(chromedriver --version 2>/dev/null | head -n1)"
else
    echo "install-test-deps: chromium not installed: browser tests will skip"
fi

echo "install-test-deps: OK"
