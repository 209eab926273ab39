#!/usr/bin/env bash
# The fault-injection harness (nsq-chaos) against our release binaries:
#   scripts/chaos.sh SECONDS [nsq-chaos flags...]
# e.g. scripts/chaos.sh 1800, scripts/chaos.sh 600 --sync --faults=kill,
# scripts/chaos.sh 60 --seed=1234 (replay). 2 nsqd + 1 nsqlookupd on
# loopback; the last line is `chaos: acked N delivered N lost N dup N
# unanswered N ...`; exit status 0 only when the run passed. The full-disk
# fault needs root (a small tmpfs); without it the run says so and goes on.
set -euo pipefail
cd "$(dirname "$0")/.."
secs="${1:?usage: scripts/chaos.sh SECONDS [nsq-chaos flags...]}"
shift
# glommio registers io_uring buffers in locked memory (see kernel-tuning.md);
# the flood fault needs descriptors beyond the daemons' limit.
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
cargo build --release -p nsq-broker --bin nsqd -p nsq-lookup --bin nsqlookupd -p nsq-bench --bin nsq-chaos
exec target/release/nsq-chaos --duration "$secs" "$@"
