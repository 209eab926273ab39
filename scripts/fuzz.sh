#!/usr/bin/env bash
# Run the cargo-fuzz targets in fuzz/ for N seconds each.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
#
# SECONDS defaults to 60; with no TARGET every target (`cargo fuzz list`) runs.
# Works on the stable toolchain: cargo-fuzz needs nightly-only rustc flags
# (-Zsanitizer and friends), which RUSTC_BOOTSTRAP=1 unlocks.
# Environment: FUZZ_SANITIZER (default "address"; "none" runs faster),
# FUZZ_JOBS (libFuzzer -fork workers, default 0 = a single process).
# Crashes are saved under fuzz/artifacts/<target>/; the corpus grows in
# fuzz/corpus/<target>/, starting from the committed fuzz/seeds/<target>/ and
# the libFuzzer dictionary fuzz/dict/<target>.dict when they exist.
# Exits non-zero if any target found a crash.
set -euo pipefail

secs="${1:-60}"
shift || true
case "$secs" in
    '' | *[!0-9]*) echo "usage: $0 [SECONDS] [TARGET...]" >&2; exit 2 ;;
esac

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

export RUSTC_BOOTSTRAP=1
sanitizer="${FUZZ_SANITIZER:-address}"
jobs="${FUZZ_JOBS:-0}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install --locked cargo-fuzz
fi

if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "== building ${targets[*]} (sanitizer: $sanitizer)"
cargo fuzz build --sanitizer "$sanitizer"

failed=()
for t in "${targets[@]}"; do
    echo "== fuzzing $t for ${secs}s"
    args=(-max_total_time="$secs" -print_final_stats=1)
    if [ -f "dict/$t.dict" ]; then
        args+=(-dict="dict/$t.dict")
    fi
    if [ "$jobs" -gt 0 ]; then
        args+=(-fork="$jobs")
    fi
    # New inputs go to corpus/<t> (git-ignored); seeds/<t> (committed) is
    # read too, so the run starts from valid commands, frames and JSON.
    corpora=("corpus/$t")
    mkdir -p "corpus/$t"
    if [ -d "seeds/$t" ]; then
        corpora+=("seeds/$t")
    fi
    if ! cargo fuzz run --sanitizer "$sanitizer" "$t" "${corpora[@]}" -- "${args[@]}"; then
        failed+=("$t")
    fi
done

if [ "${#failed[@]}" -gt 0 ]; then
    echo "== crashes in: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
    exit 1
fi
echo "== no crash in: ${targets[*]}"
