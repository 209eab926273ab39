#!/usr/bin/env bash
# The repository stands alone: clone its committed HEAD into an empty
# directory and, there,
#   1. check that no tracked file refers to a path outside the repository
#      or to documents that are not in it (section codes of the reference
#      documents the project started from, "decision <n>"; the compatibility
#      notes are docs/), and that every docs/<file>.md#<section> reference
#      resolves;
#   2. run every test that reads the committed test data
#      (test-support/fixtures/), by name, and fail unless all of them ran.
# Only committed files are checked: commit first. scripts/test.sh runs this
# last; alone: `bash scripts/standalone-check.sh`.
#
# Cost: the clone builds into the main checkout's target directory, so every
# registry dependency is reused and only the workspace crates the fixture
# tests need (protocol, daemon-support, test-support, diskqueue, broker) are compiled
# and linked again (about 50 s of CPU; 2 min wall on the shared 2-core
# development box at load average 5-11). They are built with
# codegen-units=255 instead of 256, which gives them their own artifact names:
# without that, the clone's build would overwrite the main checkout's
# artifacts, and cargo would then take those (built from the clone's sources,
# embedding its paths) as up to date for the main checkout. target/debug/nsqd,
# which the clone's build re-links, is put back afterwards.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

fail() {
    echo "standalone-check: FAIL: $*" >&2
    exit 1
}

# The tests that read test-support/fixtures/ (through nsq_test_support::fixtures).
lib_tests=(
    datadir::metadata::tests::nsqd_dat_matches_the_manifest
)
queue_tests=(
    fixture_tests::meta_files_match_the_manifest
    fixture_tests::records_in_read_order_match_the_manifest
    fixture_tests::our_writer_reproduces_gos_files_byte_for_byte
    fixture_tests::every_file_re_encodes_to_its_bytes
    queue::tests::reads_every_record_of_go_nsqds_data_directory
    queue::tests::writes_the_same_files_as_go_nsqd
)
it_tests=(
    disk::a_go_nsqd_data_directory_delivers_every_record_as_the_manifest_lists_it
    persistence::a_data_directory_written_by_go_nsqd_opens_with_its_topics_channels_and_pauses
)

started=$(date +%s)
target_dir="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
members="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(" ".join(p["name"] for p in json.load(sys.stdin)["packages"]))')"

tmp="$(mktemp -d "${TMPDIR:-/tmp}/nsq-standalone.XXXXXX")"
nsqd="$target_dir/debug/nsqd"
saved="$target_dir/debug/.nsqd.before-standalone-check"
had_nsqd=0
cleanup() {
    if [ "$had_nsqd" = 0 ]; then
        rm -f "$nsqd"
    elif [ "$saved" -ef "$nsqd" ]; then
        rm -f "$saved"
    else
        mv -f "$saved" "$nsqd"
    fi
    rm -rf "$tmp"
}
if [ -e "$nsqd" ]; then
    ln -f "$nsqd" "$saved"
    had_nsqd=1
fi
trap cleanup EXIT

git clone --quiet "$root" "$tmp/repo"
cd "$tmp/repo"
echo "standalone-check: $(git log -1 --format='%h %s') cloned into $tmp/repo"

# --- 1. references to paths and documents outside the repository ----------
# (Written so that this file does not match itself.)
outside='\.\./shared|/wor[k]/|shared/fixture[s]|reference [A-J]\.[0-9]|decision [0-9]'
if git grep -nIE "$outside"; then
    fail "the lines above refer to paths or documents outside the repository"
fi
# A bare section code of an outside document: a capital letter, a dot and a
# number, as in "(<letter>.6.2)".
if git grep -nIE '(^|[^A-Za-z0-9_.-])[A-J]\.[0-9]+' -- . ':!*.lock'; then
    fail "the lines above cite section codes of documents outside the repository: point to docs/ instead"
fi
# Every crate is one directory deep: "../.." from a manifest dir leaves the repository.
if git grep -nIE 'CARGO_MANIFEST_DIR"\)\)?\.join\("\.\./\.\.' -- '*.rs'; then
    fail "the lines above reach outside the repository from a crate directory"
fi
python3 scripts/check-doc-links.py || fail "broken docs/ section references"
# Every file that reads the fixture does so through the one helper
# (nsq_test_support::fixtures), so the test list above stays complete.
readers="$(git grep -lE 'fixtures::(go_nsqd|copy_go_nsqd)' -- '*.rs' | sort | tr '\n' ' ')"
want="broker/src/datadir/metadata.rs broker/tests/it/disk.rs broker/tests/it/persistence.rs diskqueue/src/fixture_tests.rs diskqueue/src/queue/tests.rs "
[ "$readers" = "$want" ] ||
    fail "files reading the fixture are now: $readers(expected: $want); update the test list in scripts/standalone-check.sh"

# --- 2. the fixture tests, built and run in the clone -----------------------
overrides=()
for p in $members; do
    overrides+=(--config "profile.dev.package.$p.codegen-units=255")
done
log="$tmp/test.log"
set +e
CARGO_TARGET_DIR="$target_dir" cargo "${overrides[@]}" test -p nsq-diskqueue --lib \
    -- --exact "${queue_tests[@]}" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if [ "$status" -eq 0 ]; then
    CARGO_TARGET_DIR="$target_dir" cargo "${overrides[@]}" test -p nsq-broker --lib --test it \
        -- --exact "${lib_tests[@]}" "${it_tests[@]}" 2>&1 | tee -a "$log"
    status=${PIPESTATUS[0]}
fi
set -e
[ "$status" -eq 0 ] || fail "fixture tests failed in the clone (exit $status)"
ran=$(grep -cE '^test .* \.\.\. ok$' "$log" || true)
expected=$((${#queue_tests[@]} + ${#lib_tests[@]} + ${#it_tests[@]}))
[ "$ran" -eq "$expected" ] || fail "$ran fixture tests passed in the clone, expected $expected"

echo "standalone-check: OK: no reference outside the repository; $ran fixture tests pass in a fresh clone ($(($(date +%s) - started)) s)"
