#!/usr/bin/env bash
# Side-by-side comparison of two nsqd binaries with the same nsq-bench
# workloads: A/B/A/B... (each run on a freshly started broker with its own
# data directory), then the median, range and B/A ratio of every figure.
#
#   scripts/bench-compare.sh [options] NSQD_A NSQD_B
#
# options (defaults in brackets):
#   -n REPS        alternations, at least 3 [3]
#   -d SECS        measured seconds per run [3]
#   -w SECS        warm-up seconds per run [1]
#   -s "SIZES"     message sizes in bytes ["100 200 1024 16384"]
#   -m "MODES"     workloads: pub sub pubsub latency everyday idle burst restart conns
#                  goclients
#                  ["pub sub pubsub latency"]
#   -r RATE        latency mode target rate, msg/s [10000]
#   -t TOPICS      restart workload: topics (1 channel, 10 messages each) [1000]
#   -c CONNS       conns workload: idle consumer connections [5000]
#   -g DIR         goclients workload: where NSQ's Go bench_writer and
#                  bench_reader are (built from NSQ's source, outside this
#                  repository) []
#   -f "FLAGS"     extra flags for both brokers, e.g. "--mem-queue-size=1000000" []
#   -o DIR         where the JSON reports and summary go [a temp dir]
#
# Workloads (all nsq-bench, 2 connections per side unless said):
#   pub     closed-loop MPUB x200 (bench_writer)
#   sub     prefill min(1M, 400 MiB / size) messages, then drain with RDY 2500 (bench_reader)
#   pubsub  both at once, closed loop
#   latency open loop at -r msg/s, 1 PUB connection, 1 consumer (RDY 2500)
#   idle    the latency workload at 100 msg/s: every message is the first
#           after 10 ms of silence on both connections
#   burst   the latency workload at 1000 msg/s in bursts of 100: every burst
#           follows 100 ms of silence
#   everyday the latency workload at 1k, 10k and 50k msg/s, with the broker's
#           wake-ups, context switches and (perf) syscalls per message
#   restart -t topics with 1 channel and 10 queued messages each: SIGTERM to
#           exit (shutdown s), then start to /ping OK (restart s), and a check
#           that every queued message is back (depth from /stats)
#   conns   -c idle consumers (SUB over 50 channels, RDY 1): broker KiB per
#           connection, e2e p99 and /stats time (with and without the
#           clients listed) before and after them
#   goclients NSQ's own Go clients: bench_writer (MPUB x200 on 1 connection,
#           -d seconds), then bench_reader drains it (RDY 2500); msg/s and
#           broker CPU-us/msg of each (run it with -f --mem-queue-size=1000000)
# Any nsqd that takes NSQ's flags works (Go nsqd v1.x or ours); the
# machine should be otherwise idle: the load average is in every report.
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=3 SECS=3 WARM=1 SIZES="100 200 1024 16384" MODES="pub sub pubsub latency" RATE=10000 FLAGS="" OUT=""
TOPICS=1000 CONNS=5000 GOBENCH=""
while getopts "n:d:w:s:m:r:f:o:t:c:g:h" opt; do
    case $opt in
    n) REPS=$OPTARG ;;
    d) SECS=$OPTARG ;;
    w) WARM=$OPTARG ;;
    s) SIZES=$OPTARG ;;
    m) MODES=$OPTARG ;;
    r) RATE=$OPTARG ;;
    f) FLAGS=$OPTARG ;;
    o) OUT=$OPTARG ;;
    t) TOPICS=$OPTARG ;;
    c) CONNS=$OPTARG ;;
    g) GOBENCH=$OPTARG ;;
    *) sed -n '2,45p' "$0"; exit 2 ;;
    esac
done
shift $((OPTIND - 1))
if [ $# -ne 2 ]; then
    sed -n '2,45p' "$0"
    exit 2
fi
A=$(realpath "$1")
B=$(realpath "$2")
for bin in "$A" "$B"; do
    [ -x "$bin" ] || { echo "not an executable: $bin" >&2; exit 2; }
done
if [ "$REPS" -lt 3 ]; then
    echo "need at least 3 alternations (-n 3)" >&2
    exit 2
fi
MODES=${MODES//everyday/rate1000 rate10000 rate50000}
case " $MODES " in
*" goclients "*)
    for tool in bench_writer bench_reader; do
        [ -x "$GOBENCH/$tool" ] || { echo "goclients needs -g DIR with NSQ's $tool" >&2; exit 2; }
    done
    ;;
esac
OUT=${OUT:-$(mktemp -d -t bench-compare.XXXXXX)}
mkdir -p "$OUT"
ulimit -l unlimited 2>/dev/null || ulimit -l "$(ulimit -H -l)" 2>/dev/null || true
ulimit -n "$(ulimit -H -n)" 2>/dev/null || true
cargo build --release -q -p nsq-bench
BENCH=$PWD/target/release/nsq-bench

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

now() { date +%s.%N; }

PID=""
start_broker() { # BIN DIR [keep] ; sets PORT, HPORT and PID
    local bin=$1 dir=$2
    [ "${3:-}" = keep ] || { rm -rf "$dir" && mkdir -p "$dir"; }
    PORT=$(free_port)
    HPORT=$(free_port)
    STARTED=$(now)
    # shellcheck disable=SC2086 # FLAGS is a list of flags
    "$bin" --tcp-address="127.0.0.1:$PORT" --http-address="127.0.0.1:$HPORT" \
        --data-path="$dir" $FLAGS 2>>"$dir.log" >/dev/null &
    PID=$!
    for _ in $(seq 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
            return 0
        fi
        kill -0 "$PID" 2>/dev/null || break
        sleep 0.05
    done
    echo "broker $bin did not start; log:" >&2
    cat "$dir.log" >&2
    exit 1
}

stop_broker() {
    kill -TERM "$PID" 2>/dev/null || true
    wait "$PID" 2>/dev/null || true
    PID=""
    rm -rf "$1"
}
trap '[ -n "$PID" ] && kill "$PID" 2>/dev/null; true' EXIT

# restart: fill TOPICS topics, then time SIGTERM -> exit and start -> /ping
# OK, and check every message is back. Writes a small JSON report.
restart_run() { # BIN DIR SIZE JSON
    local bin=$1 dir=$2 size=$3 json=$4 t0 t1 t1s t2 depth
    start_broker "$bin" "$dir"
    "$BENCH" --addr "127.0.0.1:$PORT" --size "$size" --topic restart \
        fill --topics "$TOPICS" --channels 1 --messages 10
    t0=$(now)
    kill -TERM "$PID"
    wait "$PID" || true
    t1=$(now)
    start_broker "$bin" "$dir" keep
    until [ "$(curl -s "http://127.0.0.1:$HPORT/ping")" = OK ]; do
        kill -0 "$PID" 2>/dev/null || { echo "broker exited" >&2; return 1; }
        sleep 0.01
    done
    t2=$(now)
    t1s=$STARTED
    depth=$(curl -s "http://127.0.0.1:$HPORT/stats?format=json&include_clients=false" |
        python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(c["depth"] for t in s["topics"] for c in t["channels"]))')
    stop_broker "$dir"
    python3 - "$t0" "$t1" "$t1s" "$t2" "$depth" "$TOPICS" "$json" <<'PY'
import json, sys
t0, t1, t1s, t2 = map(float, sys.argv[1:5])
depth, topics = int(sys.argv[5]), int(sys.argv[6])
r = {"mode": "restart", "topics": topics, "shutdown_s": t1 - t0, "restart_s": t2 - t1s,
     "depth_after": depth, "depth_expected": topics * 10}
json.dump(r, open(sys.argv[7], "w"))
print(r)
PY
}

# Broker CPU time so far (user + system), in seconds.
broker_cpu_s() {
    awk -v hz="$(getconf CLK_TCK)" '{ print ($14 + $15) / hz }' "/proc/$PID/stat"
}

# goclients: NSQ's bench_writer, then bench_reader on what it wrote, as
# NSQ's bench.sh runs them; each one's rate and the broker CPU it took.
goclients_run() { # BIN DIR SIZE JSON
    local bin=$1 dir=$2 size=$3 json=$4 c0 c1 c2 pub sub
    start_broker "$bin" "$dir"
    curl -sf -X POST "http://127.0.0.1:$HPORT/topic/create?topic=sub_bench" >/dev/null
    curl -sf -X POST "http://127.0.0.1:$HPORT/channel/create?topic=sub_bench&channel=ch" >/dev/null
    c0=$(broker_cpu_s)
    pub=$("$GOBENCH/bench_writer" --nsqd-tcp-address="127.0.0.1:$PORT" --runfor="${SECS}s" \
        --size="$size" --batch-size=200 2>&1 | tail -1)
    c1=$(broker_cpu_s)
    sub=$("$GOBENCH/bench_reader" --nsqd-tcp-address="127.0.0.1:$PORT" --runfor="${SECS}s" \
        --size="$size" --channel=ch 2>&1 | tail -1)
    c2=$(broker_cpu_s)
    stop_broker "$dir"
    echo "PUB: $pub"
    echo "SUB: $sub"
    python3 - "$c0" "$c1" "$c2" "$pub" "$sub" "$json" <<'PY'
import json, re, sys
c0, c1, c2 = map(float, sys.argv[1:4])
def rate(line):  # "... duration: 5.0s - 147.029mb/s - 770857.824ops/s - 1.297us/op"
    d = re.search(r"duration: ([0-9.]+)(m?s)", line)
    ops = re.search(r"([0-9.]+)ops/s", line)
    if not d or not ops:
        sys.exit(f"cannot read: {line}")
    secs = float(d.group(1)) / (1000 if d.group(2) == "ms" else 1)
    return float(ops.group(1)), float(ops.group(1)) * secs
pub, pub_n = rate(sys.argv[4])
sub, sub_n = rate(sys.argv[5])
r = {"mode": "goclients",
     "pub": {"msgs_per_s": pub, "broker_cpu_us_per_msg": (c1 - c0) * 1e6 / max(pub_n, 1)},
     "sub": {"msgs_per_s": sub, "broker_cpu_us_per_msg": (c2 - c1) * 1e6 / max(sub_n, 1)}}
json.dump(r, open(sys.argv[6], "w"))
print(r)
PY
}

mode_args() { # MODE SIZE
    case $1 in
    pub) echo "pub --pub-conns 2 --batch 200" ;;
    sub)
        local n=$((400 * 1024 * 1024 / $2))
        [ "$n" -gt 1000000 ] && n=1000000
        echo "--duration 60 sub --sub-conns 2 --rdy 2500 --prefill $n --pub-conns 2 --batch 200"
        ;;
    pubsub) echo "pubsub --pub-conns 2 --batch 200 --sub-conns 2 --rdy 2500" ;;
    latency) echo "latency --rate $RATE --pub-conns 1 --sub-conns 1 --rdy 2500" ;;
    idle) echo "latency --rate 100 --pub-conns 1 --sub-conns 1 --rdy 2500" ;;
    burst) echo "latency --rate 1000 --burst 100 --pub-conns 1 --sub-conns 1 --rdy 2500" ;;
    rate*) echo "--count-syscalls latency --rate ${1#rate} --pub-conns 1 --sub-conns 1 --rdy 2500" ;;
    conns) echo "conns --conns $CONNS --channels 50 --rate 1000 --http-addr 127.0.0.1:$HPORT" ;;
    *) echo "unknown mode $1" >&2; exit 2 ;;
    esac
}

{
    echo "A = $A"
    echo "B = $B"
    echo "flags: ${FLAGS:-(none)}; $REPS alternations; ${WARM}s warm-up + ${SECS}s per run"
    echo "host: $(nproc) CPUs, $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg), git $(git rev-parse --short HEAD 2>/dev/null || echo '?')"
} | tee "$OUT/header.txt"

for size in $SIZES; do
    for mode in $MODES; do
        for rep in $(seq "$REPS"); do
            for side in A B; do
                bin=$A
                [ $side = B ] && bin=$B
                dir="$OUT/data-$side"
                json="$OUT/$mode-$size-$side-$rep.json"
                if [ "$mode" = restart ] || [ "$mode" = goclients ]; then
                    "${mode}_run" "$bin" "$dir" "$size" "$json" >"$OUT/$mode-$size-$side-$rep.txt" 2>&1 ||
                        echo "run failed: $mode $size $side $rep (see $OUT/$mode-$size-$side-$rep.txt)" >&2
                    printf '.'
                    continue
                fi
                start_broker "$bin" "$dir"
                # shellcheck disable=SC2046 # mode_args is a list of words
                if ! "$BENCH" --addr "127.0.0.1:$PORT" --broker-pid "$PID" --size "$size" \
                    --warmup "$WARM" --duration "$SECS" --json "$json" \
                    $(mode_args "$mode" "$size") >"$OUT/$mode-$size-$side-$rep.txt" 2>&1; then
                    echo "run failed: $mode $size $side $rep (see $OUT/$mode-$size-$side-$rep.txt)" >&2
                    rm -f "$json"
                fi
                stop_broker "$dir"
                printf '.'
            done
        done
    done
done
echo

python3 - "$OUT" "$REPS" "$SIZES" "$MODES" <<'EOF' | tee "$OUT/summary.txt"
import json, os, statistics, sys
out, reps, sizes, modes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()

def get(d, path):
    for p in path.split("."):
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d

FIGS = {
    "pub": [("publish.msgs_per_s", "msg/s"), ("publish.mib_per_s", "MiB/s bodies"),
            ("latency.pub_ok.p99_us", "MPUB->OK p99 us"), ("broker_process.cpu_us_per_msg", "broker CPU-us/msg"),
            ("broker_process.peak_rss_kib", "broker peak RSS KiB")],
    "sub": [("consume.msgs_per_s", "msg/s"), ("consume.mib_per_s", "MiB/s bodies"),
            ("broker_process.cpu_us_per_msg", "broker CPU-us/msg")],
    "pubsub": [("publish.msgs_per_s", "pub msg/s"), ("consume.msgs_per_s", "sub msg/s"),
               ("backlog.growth_per_s", "backlog growth/s"), ("latency.e2e.p99_us", "e2e p99 us (closed loop)"),
               ("broker_process.cpu_us_per_msg", "broker CPU-us/msg")],
    "goclients": [("pub.msgs_per_s", "bench_writer msg/s"),
                  ("pub.broker_cpu_us_per_msg", "broker CPU-us/msg, PUB"),
                  ("sub.msgs_per_s", "bench_reader msg/s"),
                  ("sub.broker_cpu_us_per_msg", "broker CPU-us/msg, SUB")],
    "restart": [("shutdown_s", "shutdown s"), ("restart_s", "start to /ping OK s"),
                ("depth_after", "messages back"), ("depth_expected", "messages queued")],
    "conns": [("conns.kib_per_conn", "broker KiB/idle conn"),
              ("conns.before.latency.e2e.p99_us", "e2e p99 us, few conns"),
              ("latency.e2e.p99_us", "e2e p99 us, +idle conns"),
              ("conns.stats_ms_before", "/stats ms, few conns"),
              ("conns.stats_ms_after", "/stats ms, +idle conns"),
              ("conns.stats_lean_ms_before", "/stats no clients ms, few"),
              ("conns.stats_lean_ms_after", "/stats no clients ms, +idle")],
    "latency": [("rate.achieved_per_s", "achieved msg/s"), ("latency.pub_ok.p50_us", "PUB->OK p50 us"),
                ("latency.pub_ok.p99_us", "PUB->OK p99 us"), ("latency.e2e.p50_us", "e2e p50 us"),
                ("latency.e2e.p99_us", "e2e p99 us"), ("latency.e2e.p999_us", "e2e p99.9 us"),
                ("broker_process.cpu_us_per_msg", "broker CPU-us/msg")],
}
EVERYDAY = [("rate.achieved_per_s", "achieved msg/s"),
            ("broker_process.cpu_us_per_msg", "broker CPU-us/msg"),
            ("broker_process.per_msg.syscalls", "broker syscalls/msg"),
            ("broker_process.per_msg.wakeups", "broker wake-ups/msg"),
            ("broker_process.per_msg.context_switches", "broker ctx switches/msg"),
            ("latency.e2e.p50_us", "e2e p50 us"), ("latency.e2e.p99_us", "e2e p99 us"),
            ("latency.e2e.p999_us", "e2e p99.9 us")]
FIGS["idle"] = FIGS["burst"] = FIGS["latency"]
for r in ("rate1000", "rate10000", "rate50000"):
    FIGS[r] = EVERYDAY
summary = []
print(f"{'workload':<14} {'figure':<26} {'A median':>12} {'A range':>23} {'B median':>12} {'B range':>23} {'B/A':>7}")
for size in sizes:
    for mode in modes:
        runs = {}
        for side in "AB":
            runs[side] = []
            for rep in range(1, reps + 1):
                p = os.path.join(out, f"{mode}-{size}-{side}-{rep}.json")
                if os.path.exists(p):
                    with open(p) as f:
                        runs[side].append(json.load(f))
        sat = {s: sum(1 for r in runs[s] if get(r, "rate.saturated")) for s in "AB"}
        for path, label in FIGS.get(mode, []):
            row = {"workload": f"{mode} {size}B", "figure": label}
            cells = []
            for side in "AB":
                vals = [v for v in (get(r, path) for r in runs[side]) if isinstance(v, (int, float))]
                if vals:
                    med = statistics.median(vals)
                    row[side] = {"median": med, "min": min(vals), "max": max(vals), "n": len(vals)}
                    cells += [f"{med:12.1f}", f"{min(vals):>10.1f}..{max(vals):<11.1f}"]
                else:
                    cells += [f"{'-':>12}", f"{'-':>23}"]
            a, b = row.get("A", {}).get("median"), row.get("B", {}).get("median")
            ratio = b / a if a not in (None, 0) and b is not None else None
            row["ratio_b_over_a"] = ratio
            summary.append(row)
            print(f"{mode + ' ' + size + 'B':<14} {label:<26} {' '.join(cells)} {ratio if ratio is None else f'{ratio:7.2f}'}")
        if sat["A"] or sat["B"]:
            print(f"{'':<14} saturated runs (achieved < 95% of target): A {sat['A']}, B {sat['B']}")
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(summary, f, indent=1)
print(f"\nreports: {out}")
EOF
