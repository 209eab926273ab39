#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this).
set -euo pipefail
cd "$(dirname "$0")/.."
# glommio registers io_uring buffers in locked memory (see kernel-tuning.md).
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
bash scripts/install-test-deps.sh
cargo fmt --all -- --check
python3 scripts/check-doc-links.py
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace --all-targets
cargo test --workspace --doc
# A fresh clone of the committed tree needs nothing outside it (fixture tests
# run there; no reference to paths or documents outside the repository).
bash scripts/standalone-check.sh
# The image, compose file, seccomp profile and units, for real with podman
# (installs podman and runc itself; builds the release binaries).
bash scripts/container-test.sh
# The fault-injection harness against the release binaries (issue 20):
# 45 s in sync mode (every acknowledged message must survive SIGKILL and a
# full disk), 30 s at the defaults. A random seed each time; a failure
# prints its replay command (scripts/chaos.sh SECONDS --seed=N ...).
bash scripts/chaos.sh 45 --sync
bash scripts/chaos.sh 30
