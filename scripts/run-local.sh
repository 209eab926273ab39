#!/usr/bin/env bash
# Start a local nsqd on 127.0.0.1 with sensible defaults; Ctrl-C stops it.
#   scripts/run-local.sh [extra nsqd flags...]
# Environment: NSQD_TCP (default 127.0.0.1:4150), NSQD_HTTP (default 127.0.0.1:4151),
# NSQD_DATA (default ./nsq-data), SHARDS (default: all CPUs).
set -euo pipefail
cd "$(dirname "$0")/.."
# glommio registers io_uring buffers in locked memory (see kernel-tuning.md).
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
cargo build --release --bin nsqd
tcp="${NSQD_TCP:-127.0.0.1:4150}"
http="${NSQD_HTTP:-127.0.0.1:4151}"
data="${NSQD_DATA:-./nsq-data}"
mkdir -p "$data"
args=(--tcp-address="$tcp" --http-address="$http" --data-path="$data")
[ -n "${SHARDS:-}" ] && args+=(--shards="$SHARDS")
echo "nsqd: TCP $tcp, HTTP http://$http (try: curl -d hi 'http://$http/pub?topic=test'), data in $data; Ctrl-C to stop" >&2
exec ./target/release/nsqd "${args[@]}" "$@"
