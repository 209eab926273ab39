#!/usr/bin/env bash
# The deployment files, tested for real with podman (scripts/test.sh runs this):
#  1. build the image with scripts/image.sh (a release build of the daemons);
#  2. validate deploy/docker-compose.yml: its three services, the seccomp
#     profile and memlock (always), and `docker compose config` or
#     `docker-compose config` (schema check); the systemd units with
#     `systemd-analyze verify`;
#  3. run nsqlookupd, nsqd and nsqadmin from the image with the compose file's
#     commands, health checks, nsqd volume and seccomp profile, on a network
#     where the service names resolve (host networking if no bridge network);
#  4. publish over HTTP, read the message back with the image's nsq_tail
#     through nsqlookupd, and find the topic in nsqadmin's API;
#  5. stop nsqd with the compose stop signal and grace period: exit 0, and
#     its nsqd.dat, naming the topic, in the volume;
#  6. nsqd and nsqlookupd under the runtime's default seccomp profile exit
#     non-zero within seconds and name io_uring.
# podman, runc and docker-compose are installed with apt-get when missing.
# Whatever cannot run here is printed as "NOT RUN: <what> - <why>".
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

say() { echo "container-test: $*"; }
not_run() { echo "container-test: NOT RUN: $*"; }
fail() {
    echo "container-test: FAIL: $*" >&2
    exit 1
}

apt_updated=
apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        return 1
    fi
    if [ -z "$apt_updated" ]; then
        apt-get update -qq >/dev/null || true
        apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# ---- tools ------------------------------------------------------------------
missing=()
for tool in podman runc; do
    command -v "$tool" >/dev/null || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]} with apt-get"
    if ! apt_install "${missing[@]}"; then
        if [ "${CI:-}" = true ]; then
            fail "cannot install ${missing[*]} with apt-get"
        fi
        not_run "the whole container test - ${missing[*]} missing and not installable here (needs root and apt-get)"
        exit 0
    fi
fi
python3 -c 'import yaml' 2>/dev/null || python3 -m pip install -q pyyaml

# crun fails on this kind of host ("cgroups in hybrid mode not supported"): runc.
podman=(podman --runtime runc)
image=localhost/nsq-rs:container-test
run_id=nsq-ctest-$$
net=$run_id-net
data_volume=$run_id-nsqd-data
containers=()

cleanup() {
    for c in "${containers[@]}"; do
        podman rm -f -v "$c" >/dev/null 2>&1 || true
    done
    podman volume rm -f "$data_volume" >/dev/null 2>&1 || true
    podman network rm -f "$net" >/dev/null 2>&1 || true
    podman rmi "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# ---- 1. the image -------------------------------------------------------------
t=$SECONDS
bash scripts/image.sh "$image"
say "image built in $((SECONDS - t)) s"

# ---- 2. the compose file and the units --------------------------------------
# The compose file's settings per service, checked and printed as shell
# assignments (svc_<service>_<setting>=...).
compose_vars=$(
    python3 - deploy/docker-compose.yml <<'EOF'
import json, shlex, sys, yaml

path = sys.argv[1]
doc = yaml.safe_load(open(path))
services = doc.get("services", {})
def check(ok, what):
    if not ok:
        sys.exit(f"{path}: {what}")
check(set(services) == {"nsqlookupd", "nsqd", "nsqadmin"},
      f"want services nsqlookupd, nsqd, nsqadmin; have {sorted(services)}")
for name in ("nsqlookupd", "nsqd"):
    s = services[name]
    opts = s.get("security_opt", [])
    profiles = [o.split("=", 1)[1] for o in opts if o.startswith("seccomp=")]
    check(profiles == ["./seccomp-io_uring.json"], f"{name}: security_opt seccomp=./seccomp-io_uring.json")
    check(s.get("ulimits", {}).get("memlock") == -1, f"{name}: ulimits memlock: -1")
profile = json.load(open("deploy/seccomp-io_uring.json"))
allowed = {n for r in profile["syscalls"] if r["action"] == "SCMP_ACT_ALLOW"
           and not r.get("args") and not r.get("includes") and not r.get("excludes") for n in r["names"]}
check({"io_uring_setup", "io_uring_enter", "io_uring_register"} <= allowed,
      "seccomp-io_uring.json does not allow the io_uring syscalls")
check(profile["defaultAction"] == "SCMP_ACT_ERRNO", "seccomp-io_uring.json: default action must deny")
nsqd = services["nsqd"]
check(any(str(v).endswith(":/data") for v in nsqd.get("volumes", [])), "nsqd: a volume on /data")
grace = str(nsqd.get("stop_grace_period", "0s"))
check(grace.endswith("s") and grace[:-1].isdigit() and int(grace[:-1]) >= 30, "nsqd: stop_grace_period >= 30s")
for name, s in services.items():
    test = s.get("healthcheck", {}).get("test", [])
    check(test[:2] == ["CMD", "/nsq_ping"], f"{name}: healthcheck [CMD, /nsq_ping, ...]")
    out = {
        "command": s["command"],
        "health": json.dumps(test[1:]),
        "seccomp": ",".join(o.split("=", 1)[1] for o in s.get("security_opt", []) if o.startswith("seccomp=")),
        "volume": next((str(v) for v in s.get("volumes", []) if str(v).endswith(":/data")), ""),
        "stop_signal": s.get("stop_signal", "SIGTERM"),
        "stop_grace": str(s.get("stop_grace_period", "10s")).rstrip("s"),
        "ports": " ".join(str(p).split(":")[-1] for p in s.get("ports", [])),
    }
    for k, v in out.items():
        print(f"svc_{name}_{k}={shlex.quote(v)}")
EOF
) || fail "deploy/docker-compose.yml"
eval "$compose_vars"
say "docker-compose.yml: 3 services, seccomp-io_uring.json (io_uring allowed) and memlock -1 on nsqd and nsqlookupd, nsqd volume on /data, /nsq_ping health checks"

# The Kubernetes example drains on rollout: its preStop hook runs /nsq_drain,
# which waits less than the grace period, which is longer than the drain.
python3 - deploy/kubernetes/nsqd.yaml <<'EOF' || fail "deploy/kubernetes/nsqd.yaml"
import sys, yaml

path = sys.argv[1]
docs = {d["kind"]: d for d in yaml.safe_load_all(open(path))}
def check(ok, what):
    if not ok:
        sys.exit(f"{path}: {what}")
pod = docs["StatefulSet"]["spec"]["template"]["spec"]
nsqd = pod["containers"][0]
hook = nsqd["lifecycle"]["preStop"]["exec"]["command"]
check(hook[0] == "/nsq_drain", "preStop runs /nsq_drain")
wait = next(int(a.split("=", 1)[1]) for a in hook if a.startswith("--wait="))
timeout = next(a.split("=", 1)[1] for a in nsqd["command"] if a.startswith("--drain-timeout="))
check(timeout.endswith("m"), "--drain-timeout in minutes")
grace = pod["terminationGracePeriodSeconds"]
check(int(timeout[:-1]) * 60 < wait < grace, f"drain {timeout} < preStop wait {wait}s < grace {grace}s")
check(pod["securityContext"]["seccompProfile"]["type"] == "Localhost", "the Localhost seccomp profile")
EOF
say "kubernetes/nsqd.yaml: preStop /nsq_drain, drain timeout < hook wait < termination grace period"

if docker compose version >/dev/null 2>&1; then
    compose=(docker compose)
else
    command -v docker-compose >/dev/null || apt_install docker-compose || true
    compose=(docker-compose)
fi
if "${compose[@]}" version >/dev/null 2>&1; then
    # Compose v1 reads the seccomp path relative to the working directory.
    (cd deploy && "${compose[@]}" -f docker-compose.yml config >/dev/null) ||
        fail "${compose[*]} config rejects deploy/docker-compose.yml"
    say "docker-compose.yml: ${compose[*]} config accepts it"
else
    not_run "docker compose config - neither docker compose nor docker-compose is installable here (the structural check above ran)"
fi

if command -v systemd-analyze >/dev/null; then
    # The binaries are not installed in /usr/local/bin here: only that is forgiven.
    units=(deploy/systemd/nsqd.service deploy/systemd/nsqlookupd.service deploy/systemd/nsqadmin.service)
    problems=$(systemd-analyze verify --man=no "${units[@]}" 2>&1 |
        grep -v -E 'Command /usr/local/bin/nsq(d|lookupd|admin) is not executable' || true)
    [ -z "$problems" ] || fail "systemd-analyze verify: $problems"
    say "systemd units: systemd-analyze verify accepts them"
else
    not_run "systemd-analyze verify of deploy/systemd/ - systemd-analyze is not installed"
fi

# ---- 3. the topology ----------------------------------------------------------
# Rootful podman here cannot raise a limit above the host's hard limit
# (no CAP_SYS_RESOURCE), nor set nproc as high as it: limits at or below them.
hard_nofile=$(ulimit -Hn)
[ "$hard_nofile" = unlimited ] && hard_nofile=65536
nofile=$((hard_nofile < 65536 ? hard_nofile : 65536))
hard_memlock=$(ulimit -Hl)
if [ "$hard_memlock" = unlimited ]; then
    memlock=-1
else
    memlock=$((hard_memlock * 1024))
    not_run "memlock=-1 as in the compose file - the host's hard limit is $hard_memlock KiB and podman cannot raise it here; the containers get $memlock bytes (nsqd sizes its io_uring buffers to fit)"
fi
[ "$nofile" = 65536 ] ||
    not_run "nofile=65536 as in the compose file - the host's hard limit is $hard_nofile; the containers get $nofile"
limits=(--ulimit "nofile=$nofile:$nofile" --ulimit nproc=4096:4096 --ulimit "memlock=$memlock:$memlock")

if podman network create "$net" >/dev/null 2>&1; then
    mode=bridge
    net_args=(--network "$net")
else
    mode=host
    not_run "a bridge network with service names - podman network create failed; using host networking with the service names in /etc/hosts (ports 4150, 4151, 4160, 4161, 4171 must be free)"
    net_args=(--network host --add-host nsqlookupd:127.0.0.1 --add-host nsqd:127.0.0.1 --add-host nsqadmin:127.0.0.1)
fi

# The host address of service $1's container port $2.
host_addr() {
    if [ "$mode" = bridge ]; then
        podman port "$run_id-$1" "$2/tcp" | head -1
    else
        echo "127.0.0.1:$2"
    fi
}

# Start service $1 as the compose file says.
start_service() {
    local svc=$1 cmd health seccomp volume ports signal grace
    eval "cmd=\$svc_${svc}_command health=\$svc_${svc}_health seccomp=\$svc_${svc}_seccomp"
    eval "volume=\$svc_${svc}_volume ports=\$svc_${svc}_ports signal=\$svc_${svc}_stop_signal grace=\$svc_${svc}_stop_grace"
    local args=(-d --name "$run_id-$svc" "${net_args[@]}" "${limits[@]}" --health-cmd "$health")
    [ "$mode" = bridge ] && args+=(--network-alias "$svc")
    if [ "$mode" = bridge ]; then
        for p in $ports; do args+=(-p "127.0.0.1::$p"); done
    fi
    [ -n "$seccomp" ] && args+=(--security-opt "seccomp=deploy/${seccomp#./}")
    [ -n "$volume" ] && args+=(-v "$data_volume:${volume#*:}")
    args+=(--stop-signal "$signal" --stop-timeout "$grace")
    containers+=("$run_id-$svc")
    # The compose command is split on spaces, as compose splits it. Periodic
    # health checks need systemd timers, which podman says it cannot add
    # here: wait_healthy runs the check itself.
    # shellcheck disable=SC2086
    "${podman[@]}" run "${args[@]}" "$image" $cmd 2> >(grep -v 'unable to get systemd connection' >&2) >/dev/null
    say "started $svc: $cmd"
}

# Wait (at most 30 s) until service $1's health check passes.
wait_healthy() {
    local c=$run_id-$1
    for _ in $(seq 60); do
        # Periodic checks need systemd timers; `healthcheck run` runs the same check once.
        if podman healthcheck run "$c" >/dev/null 2>&1; then
            say "$1 is healthy (its compose health check passed)"
            return 0
        fi
        if [ "$(podman inspect -f '{{.State.Running}}' "$c")" != true ]; then
            podman logs "$c" >&2 || true
            fail "$1 exited (code $(podman inspect -f '{{.State.ExitCode}}' "$c"))"
        fi
        sleep 0.5
    done
    podman logs "$c" >&2 || true
    fail "$1 not healthy within 30 s"
}

# Poll (at most 30 s) until `curl -sf $1` prints something containing $2.
wait_http() {
    local out=
    for _ in $(seq 60); do
        out=$(curl -sf -m 5 "$1" 2>/dev/null) && [[ $out == *"$2"* ]] && return 0
        sleep 0.5
    done
    fail "$1 never answered with $2 within 30 s (last: $out)"
}

podman volume create "$data_volume" >/dev/null
t=$SECONDS
start_service nsqlookupd
wait_healthy nsqlookupd
if [ "$mode" = bridge ]; then
    if ! "${podman[@]}" run --rm "${net_args[@]}" "${limits[@]}" "$image" /nsq_ping nsqlookupd:4161 >/dev/null; then
        fail "nsqlookupd is healthy but not reachable as nsqlookupd:4161 on the bridge network $net (podman's network DNS)"
    fi
    say "bridge network: the service names resolve"
fi
start_service nsqd
start_service nsqadmin
wait_healthy nsqd
wait_healthy nsqadmin
say "topology up in $((SECONDS - t)) s ($mode networking)"

# ---- 4. a message through it ------------------------------------------------
nsqd_http=$(host_addr nsqd 4151)
lookupd_http=$(host_addr nsqlookupd 4161)
admin_http=$(host_addr nsqadmin 4171)
topic=ctest_$$
message="hello from container-test $$"
answer=$(curl -sf -m 10 --data-binary "$message" "http://$nsqd_http/pub?topic=$topic") ||
    fail "POST /pub to nsqd at $nsqd_http"
[ "$answer" = OK ] || fail "POST /pub answered $answer"
say "published to $topic over HTTP"
wait_http "http://$lookupd_http/lookup?topic=$topic" '"broadcast_address":"nsqd"'
containers+=("$run_id-tail")
got=$(timeout 60 "${podman[@]}" run --rm --name "$run_id-tail" "${net_args[@]}" "${limits[@]}" "$image" \
    /nsq_tail --lookupd-http-address=nsqlookupd:4161 --topic="$topic" -n 1) ||
    fail "nsq_tail through nsqlookupd read nothing within 60 s"
# nsq_tail, as NSQ's, prints "Adding consumer for topic: ..." first.
[ "${got##*$'\n'}" = "$message" ] || fail "nsq_tail read '$got', want '$message' last"
say "nsq_tail (through nsqlookupd) read the message back"
wait_http "http://$admin_http/api/topics" "\"$topic\""
say "nsqadmin lists $topic"

# ---- 5. stop nsqd ---------------------------------------------------------------
podman stop "$run_id-nsqd" 2> >(grep -v "unable to get systemd connection" >&2) >/dev/null
code=$(podman inspect -f '{{.State.ExitCode}}' "$run_id-nsqd")
[ "$code" = 0 ] || {
    podman logs "$run_id-nsqd" >&2
    fail "nsqd exited $code after $svc_nsqd_stop_signal"
}
data=$(podman volume inspect -f '{{.Mountpoint}}' "$data_volume")
grep -q "\"$topic\"" "$data/nsqd.dat" || fail "the volume's nsqd.dat does not name $topic"
say "nsqd stopped by $svc_nsqd_stop_signal with exit 0; the volume holds nsqd.dat with $topic (owner uid $(stat -c %u "$data/nsqd.dat"))"

# ---- 6. the default seccomp profile -------------------------------------------
# nsqd and nsqlookupd without the profile: they must exit at once, saying why.
for daemon in nsqd nsqlookupd; do
    c=$run_id-default-seccomp-$daemon
    containers+=("$c")
    t0=$(date +%s%N)
    "${podman[@]}" run -d --name "$c" --network none "${limits[@]}" "$image" "/$daemon" >/dev/null
    for _ in $(seq 30); do
        [ "$(podman inspect -f '{{.State.Running}}' "$c")" = true ] || break
        sleep 0.5
    done
    if [ "$(podman inspect -f '{{.State.Running}}' "$c")" = true ]; then
        podman logs "$c" >&2 || true
        fail "$daemon under the default seccomp profile was still running after 15 s (it must exit and say io_uring is denied)"
    fi
    ms=$((($(date +%s%N) - t0) / 1000000))
    code=$(podman inspect -f '{{.State.ExitCode}}' "$c")
    log=$(podman logs "$c" 2>&1)
    [ "$code" != 0 ] || fail "$daemon under the default seccomp profile exited 0: $log"
    grep -q io_uring <<<"$log" || fail "$daemon under the default seccomp profile does not name io_uring: $log"
    say "$daemon under the default seccomp profile exited $code within $ms ms (container start included): $(grep -m1 io_uring <<<"$log" | cut -c1-160)..."
done

say "passed in $((SECONDS - started)) s"
