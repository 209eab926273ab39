#!/usr/bin/env bash
# Start a local NSQ cluster on 127.0.0.1 with sensible defaults: nsqlookupd,
# and nsqd registered with it. Ctrl-C stops both cleanly.
#   scripts/run-local.sh [extra nsqd flags...]
# Environment: NSQD_TCP (default 127.0.0.1:4150), NSQD_HTTP (127.0.0.1:4151),
# LOOKUPD_TCP (127.0.0.1:4160), LOOKUPD_HTTP (127.0.0.1:4161), ADMIN_HTTP (127.0.0.1:4171),
# NSQD_DATA (./nsq-data), SHARDS (default: all CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
# glommio registers io_uring buffers in locked memory (see kernel-tuning.md).
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
cargo build --release --bin nsqd --bin nsqlookupd --bin nsqadmin
tcp="${NSQD_TCP:-127.0.0.1:4150}"
http="${NSQD_HTTP:-127.0.0.1:4151}"
ltcp="${LOOKUPD_TCP:-127.0.0.1:4160}"
lhttp="${LOOKUPD_HTTP:-127.0.0.1:4161}"
ahttp="${ADMIN_HTTP:-127.0.0.1:4171}"
data="${NSQD_DATA:-./nsq-data}"
mkdir -p "$data"

pids=()
stop() {
    trap - INT TERM EXIT
    # In reverse start order: nsqadmin, nsqd (it writes its queues to
    # disk), then lookupd.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
        wait "${pids[i]}" 2>/dev/null || true
    done
}
trap stop INT TERM EXIT

./target/release/nsqlookupd --tcp-address="$ltcp" --http-address="$lhttp" \
    --broadcast-address=127.0.0.1 &
pids+=($!)

args=(--tcp-address="$tcp" --http-address="$http" --data-path="$data"
    --lookupd-tcp-address="$ltcp" --broadcast-address=127.0.0.1)
[ -n "${SHARDS:-}" ] && args+=(--shards="$SHARDS")
./target/release/nsqd "${args[@]}" "$@" &
pids+=($!)

./target/release/nsqadmin --lookupd-http-address="$lhttp" --http-address="$ahttp" &
pids+=($!)

cat >&2 <<EOF
nsqlookupd: TCP $ltcp, HTTP http://$lhttp (try: curl 'http://$lhttp/lookup?topic=test')
nsqd:       TCP $tcp, HTTP http://$http (try: curl -d hi 'http://$http/pub?topic=test'), data in $data
nsqadmin:   http://$ahttp (open it in a browser)
Ctrl-C stops all three.
EOF
# Exit (stopping the other) as soon as either process ends.
wait -n "${pids[@]}" || true
