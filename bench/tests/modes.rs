//! Every mode, ~1 s each, against our real `nsqd` on 127.0.0.1 (port 0):
//! the JSON report must have its fields and they must be sane. Nothing
//! here asserts on timing or throughput.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use nsq_test_support::{Daemon, Listen, TempDir};
use serde_json::Value;

/// Our nsqd: `$NSQD_BIN`, or `nsqd` next to `nsq-bench` in
/// `target/<profile>/` (scripts/test.sh builds every binary first).
fn nsqd_path() -> PathBuf {
    if let Some(p) = std::env::var_os("NSQD_BIN") {
        return PathBuf::from(p);
    }
    nsq_test_support::sibling_bin(env!("CARGO_BIN_EXE_nsq-bench"), "nsqd")
}

/// A running nsqd, killed on drop (its data directory removed after).
struct Broker {
    daemon: Daemon,
    addr: String,
    _dir: TempDir,
}

impl Broker {
    fn start() -> Broker {
        Broker::start_listening(Listen::TCP)
    }

    /// With its HTTP listener too (`daemon.http`).
    fn start_listening(listen: Listen) -> Broker {
        let dir = TempDir::new("nsq-bench-it-data");
        let http = if listen.http { "127.0.0.1:0" } else { "" };
        let args = [
            "--tcp-address=127.0.0.1:0".to_string(),
            format!("--http-address={http}"),
            "--shards=2".to_string(),
            format!("--data-path={}", dir.path().display()),
        ];
        let daemon = Daemon::start(&nsqd_path(), &args, listen, Duration::from_secs(20))
            .unwrap_or_else(|log| panic!("nsqd did not report its addresses:\n{log}"));
        Broker {
            addr: daemon.tcp.expect("tcp").to_string(),
            daemon,
            _dir: dir,
        }
    }

    /// Run `nsq-bench <global...> <mode args...>` against this broker and
    /// return its JSON report.
    fn bench(&self, args: &[&str]) -> Value {
        let out = TempDir::new("nsq-bench-it-out");
        let out_dir = out.path();
        let json = out_dir.join("report.json");
        let pid = self.daemon.pid().to_string();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_nsq-bench"));
        cmd.args([
            "--addr",
            &self.addr,
            "--broker-pid",
            &pid,
            "--warmup",
            "0.2",
        ])
        .args(["--duration", "0.6", "--json"])
        .arg(&json)
        .args(args)
        .current_dir(out_dir);
        let out = cmd.output().expect("run nsq-bench");
        assert!(
            out.status.success(),
            "nsq-bench {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(table.contains("mode"), "no table printed: {table}");
        let text = std::fs::read_to_string(&json).expect("JSON report written");
        serde_json::from_str(&text).expect("valid JSON")
    }
}

fn num(v: &Value, path: &[&str]) -> f64 {
    let mut cur = v;
    for p in path {
        cur = &cur[*p];
    }
    cur.as_f64()
        .unwrap_or_else(|| panic!("{path:?} missing or not a number in {v:#}"))
}

/// Fields every report has, with sane values.
fn common_checks(v: &Value, mode: &str) {
    assert_eq!(v["mode"], mode, "{v:#}");
    assert!(num(v, &["measured_s"]) > 0.0);
    assert_eq!(v["load_before"].as_array().map(Vec::len), Some(3));
    assert_eq!(v["load_after"].as_array().map(Vec::len), Some(3));
    assert!(num(v, &["broker_process", "cpu_s"]) >= 0.0, "{v:#}");
    assert!(num(v, &["broker_process", "rss_end_kib"]) > 0.0, "{v:#}");
    assert!(num(v, &["client_process", "cpu_s"]) >= 0.0, "{v:#}");
    assert_eq!(num(v, &["errors"]), 0.0, "{v:#}");
}

/// Percentiles are ordered.
fn latency_checks(v: &Value, which: &str) {
    let l = &v["latency"][which];
    assert!(num(l, &["samples"]) > 0.0, "{which}: {v:#}");
    let ps: Vec<f64> = [
        "p50_us", "p90_us", "p99_us", "p999_us", "p9999_us", "max_us",
    ]
    .iter()
    .map(|k| num(l, &[k]))
    .collect();
    assert!(
        ps.windows(2).all(|w| w[0] <= w[1]),
        "{which} unordered: {ps:?}"
    );
}

fn rates_checks(v: &Value, side: &str) {
    assert!(num(v, &[side, "messages"]) > 0.0, "{side}: {v:#}");
    assert!(num(v, &[side, "msgs_per_s"]) > 0.0);
    let body = num(v, &[side, "mib_per_s"]);
    let wire = num(v, &[side, "wire_mib_per_s"]);
    assert!(wire >= body, "wire {wire} < bodies {body}");
}

#[test]
fn pub_mode() {
    let b = Broker::start();
    let v = b.bench(&["pub", "--pub-conns", "2", "--batch", "50"]);
    common_checks(&v, "pub");
    rates_checks(&v, "publish");
    latency_checks(&v, "pub_ok");
    assert!(num(&v, &["broker_process", "cpu_us_per_msg"]) >= 0.0);
}

#[test]
fn sub_mode() {
    let b = Broker::start();
    let v = b.bench(&[
        "--duration",
        "20",
        "sub",
        "--prefill",
        "20000",
        "--batch",
        "100",
    ]);
    common_checks(&v, "sub");
    rates_checks(&v, "consume");
    assert!(num(&v, &["consume", "messages"]) <= 20000.0);
}

#[test]
fn pubsub_and_fanout_modes() {
    let b = Broker::start();
    let v = b.bench(&["pubsub", "--batch", "20"]);
    common_checks(&v, "pubsub");
    rates_checks(&v, "publish");
    rates_checks(&v, "consume");
    assert!(!v["backlog"]["samples"]
        .as_array()
        .expect("samples")
        .is_empty());
    num(&v, &["backlog", "growth_per_s"]);
    latency_checks(&v, "e2e");

    let v = b.bench(&[
        "fanout",
        "--channels",
        "3",
        "--sub-conns",
        "1",
        "--batch",
        "20",
    ]);
    common_checks(&v, "fanout");
    rates_checks(&v, "consume");
    assert_eq!(num(&v, &["config", "channels"]), 3.0);
}

#[test]
fn latency_mode() {
    let b = Broker::start();
    let v = b.bench(&[
        "latency",
        "--rate",
        "1000",
        "--output-buffer-timeout-ms",
        "25",
        "--output-buffer-size=-1",
    ]);
    common_checks(&v, "latency");
    assert_eq!(num(&v, &["rate", "target_per_s"]), 1000.0);
    assert!(num(&v, &["rate", "achieved_per_s"]) > 0.0);
    assert!(v["rate"]["saturated"].is_boolean());
    for h in ["pub_ok", "e2e", "e2e_from_send", "send_delay"] {
        latency_checks(&v, h);
    }
    assert!(v["lost"].is_u64());
}

#[test]
fn latency_mode_in_bursts() {
    let b = Broker::start();
    let v = b.bench(&["latency", "--rate", "2000", "--burst", "100"]);
    common_checks(&v, "latency");
    assert_eq!(num(&v, &["rate", "target_per_s"]), 2000.0);
    for h in ["pub_ok", "e2e", "send_delay"] {
        latency_checks(&v, h);
    }
    assert_eq!(v["lost"], 0, "{v:#}");
}

#[test]
fn conns_mode_reports_memory_and_stats_times() {
    let b = Broker::start_listening(Listen::TCP_HTTP);
    let http = b.daemon.http.expect("http").to_string();
    let v = b.bench(&[
        "conns",
        "--conns",
        "40",
        "--channels",
        "4",
        "--rate",
        "500",
        "--http-addr",
        &http,
    ]);
    common_checks(&v, "conns");
    let c = &v["conns"];
    assert_eq!(num(c, &["idle_conns"]), 40.0);
    assert!(num(c, &["kib_per_conn"]) >= 0.0, "{c:#}");
    for t in [
        "stats_ms_before",
        "stats_ms_after",
        "stats_lean_ms_before",
        "stats_lean_ms_after",
    ] {
        assert!(num(c, &[t]) > 0.0, "{t}: {c:#}");
    }
    latency_checks(&v, "e2e");
    latency_checks(&c["before"], "e2e");
}

#[test]
fn sweep_mode_writes_a_plot() {
    let b = Broker::start();
    let v = b.bench(&[
        "--warmup",
        "0.1",
        "--duration",
        "0.4",
        "sweep",
        "--steps",
        "2",
        "--max-rate",
        "2000",
    ]);
    assert_eq!(v["mode"], "sweep");
    assert_eq!(num(&v, &["max_rate"]), 2000.0);
    let points = v["points"].as_array().expect("points");
    assert_eq!(points.len(), 2);
    assert_eq!(num(&points[0], &["rate", "target_per_s"]), 1000.0);
    for p in points {
        common_checks(p, "latency");
        latency_checks(p, "e2e");
    }
    let plot = v["plot"].as_str().expect("plot path");
    assert!(plot.ends_with(".svg"));
}

#[test]
fn many_mode() {
    let b = Broker::start();
    let v = b.bench(&[
        "many",
        "--topics",
        "50",
        "--channels",
        "2",
        "--rate",
        "500",
        "--idle",
        "0.1",
    ]);
    common_checks(&v, "many");
    assert_eq!(num(&v, &["config", "consumers"]), 100.0);
    rates_checks(&v, "consume");
    latency_checks(&v, "e2e");
}
