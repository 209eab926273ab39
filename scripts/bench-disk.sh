#!/usr/bin/env bash
# Disk-backed throughput (issue 4): publish and consume at once, with nsqd's
# queues in memory, on disk (--mem-queue-size=0), and with group commit
# (--mem-queue-size=0 --sync-every=1: every publish answered after fsync).
#
#   scripts/bench-disk.sh [SECS] [SIZE] [CONNS] [DATA_ROOT]
#
# SECS of publishing (default 5; consumers run alongside), SIZE body bytes (200), CONNS publishing and
# consuming connections (8), DATA_ROOT where the data directories go
# (default: a temp dir; point it at the disk you want to measure).
# Publishing is closed-loop MPUB of 200 bodies per round trip per
# connection (bench/examples/quick.rs); the figures are messages/s.
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-5}
SIZE=${2:-200}
CONNS=${3:-8}
if [ -n "${4:-}" ]; then
    ROOT=$4
else
    # Our own temp dir: removed at exit (each run leaves GBs of queue files).
    ROOT=$(mktemp -d)
    trap 'rm -rf "$ROOT"' EXIT
fi
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
cargo build --release -q -p nsq-broker --bin nsqd
cargo build --release -q -p nsq-bench --example quick
NSQD=target/release/nsqd
QUICK=target/release/examples/quick

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_nsqd() { # DIR FLAGS... ; sets PORT and PID
    local dir=$1
    shift
    rm -rf "$dir" && mkdir -p "$dir"
    PORT=$(free_port)
    "$NSQD" --tcp-address="127.0.0.1:$PORT" --http-address= --data-path="$dir" "$@" 2>"$dir.log" &
    PID=$!
    for _ in $(seq 100); do
        grep -q "TCP: listening" "$dir.log" 2>/dev/null && break
        sleep 0.1
    done
}

stop_nsqd() {
    kill -TERM "$PID"
    wait "$PID" || true
}

run() {
    local label=$1
    shift
    # 1. Publishing alone: no channel, so every message beyond
    #    --mem-queue-size goes to the topic's disk queue.
    start_nsqd "$ROOT/$label-pub" "$@"
    local alone
    alone=$("$QUICK" "127.0.0.1:$PORT" pub "$SECS" "$SIZE" "$CONNS" | tail -1)
    stop_nsqd
    # 2. Consumers first (the channel exists before the first publish),
    #    then publishers and consumers together: the steady state.
    start_nsqd "$ROOT/$label-both" "$@"
    "$QUICK" "127.0.0.1:$PORT" sub "$((SECS + 1))" "$SIZE" "$CONNS" >"$ROOT/$label.sub" &
    local subpid=$!
    sleep 0.5
    local pub sub
    pub=$("$QUICK" "127.0.0.1:$PORT" pub "$SECS" "$SIZE" "$CONNS" | tail -1)
    wait "$subpid"
    sub=$(tail -1 "$ROOT/$label.sub")
    stop_nsqd
    # The next run measures the disk, not this one's writeback.
    rm -rf "$ROOT/$label-pub" "$ROOT/$label-both"
    printf '%-8s %s\n    publish alone:  %s\n    with consumers: %s\n                    %s\n' \
        "$label" "$*" "$alone" "$pub" "$sub"
}

echo "nsqd $(git rev-parse --short HEAD), ${SECS}s, ${SIZE} B bodies, ${CONNS} connections, data in $ROOT"
run memory
run disk --mem-queue-size=0
run durable --mem-queue-size=0 --sync-every=1
