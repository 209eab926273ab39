//! `conns`: what idle consumer connections cost the broker, and whether
//! they slow the busy ones down.
//!
//! 1. Every topic and channel of the run is created first (when the HTTP
//!    address is given), so both `/stats` timings list the same topics and
//!    channels and differ only in the connections.
//! 2. A latency window (open loop at `--rate`, one publisher, one consumer)
//!    and `/stats` timings with only those connections.
//! 3. `--conns` idle consumers connect and SUB, spread over `--channels`
//!    channels of topics nobody publishes to, with RDY 1; their heartbeats
//!    are answered. The broker's RSS growth divided by their number is the
//!    memory an idle connection costs.
//! 4. The same latency window and `/stats` timings again, with all of them
//!    connected.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nsq_http_client::{Client, Timeouts, Url};
use serde::Serialize;

use super::latency::{open_loop_run, Consumers, LatencyOpts};
use super::Common;
use crate::consumer::{run_polled, Consumer, SubSpec};
use crate::error::{io, BenchError, Result};
use crate::procstat::Target;
use crate::report::Report;
use crate::run::{Counters, Window};

/// Options of `conns`.
#[derive(Debug, Clone)]
pub struct ConnsOpts {
    /// Idle consumer connections.
    pub conns: usize,
    /// Channels they spread over (one topic each).
    pub channels: usize,
    /// The broker's HTTP address, for `/stats` timings (optional).
    pub http_addr: Option<String>,
    /// Let the broker settle this long before reading its RSS.
    pub settle: Duration,
}

/// The figures of `conns`.
#[derive(Debug, Clone, Serialize)]
pub struct ConnsFigures {
    /// Idle connections made.
    pub idle_conns: usize,
    /// Broker RSS before they connected, KiB.
    pub rss_before_kib: u64,
    /// ... and with all of them connected, KiB.
    pub rss_after_kib: u64,
    /// (after - before) / connections.
    pub kib_per_conn: f64,
    /// Seconds to connect and subscribe them all.
    pub connect_s: f64,
    /// Median `/stats?format=json` time with only the busy connections, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_ms_before: Option<f64>,
    /// ... with the idle connections too, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_ms_after: Option<f64>,
    /// Median `/stats?format=json&include_clients=false` time with only
    /// the busy connections, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_lean_ms_before: Option<f64>,
    /// ... with the idle connections too, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats_lean_ms_after: Option<f64>,
    /// The latency window before they connected.
    pub before: Box<Report>,
}

/// Every client listed, as nsqadmin asks for it.
const STATS_FULL: &str = "/stats?format=json";
/// Topics and channels only (what a metrics scraper asks for).
const STATS_LEAN: &str = "/stats?format=json&include_clients=false";

/// Median time of `n` `GET path` on fresh connections, ms.
fn stats_ms(http: &str, path: &str, n: usize) -> Option<f64> {
    let mut times: Vec<f64> = (0..n)
        .filter_map(|_| {
            let t = Instant::now();
            http_request(http, "GET", path).ok()?;
            Some(t.elapsed().as_secs_f64() * 1e3)
        })
        .collect();
    times.sort_by(f64::total_cmp);
    times.get(times.len() / 2).copied()
}

/// `method path` on the broker's HTTP address (the project's one HTTP
/// client, bounded): the body of a 200 answer.
fn http_request(http: &str, method: &str, path: &str) -> Result<Vec<u8>> {
    let failed = |e: &dyn std::fmt::Display| BenchError::Http(format!("{method} {path}: {e}"));
    let target = Url::parse(&format!("http://{http}{path}"))
        .map(nsq_http_client::Target::http)
        .map_err(|e| failed(&e))?;
    let client = Client::new(Timeouts {
        connect: Duration::from_secs(5),
        request: Duration::from_secs(30),
    });
    let answer = client
        .request::<&str, &str>(method, &target, &[], b"")
        .map_err(|e| failed(&e))?;
    match answer.status {
        200 => Ok(answer.body),
        status => Err(failed(&format!("status {status}"))),
    }
}

/// Create `topic` and its `channel` over HTTP.
fn create(http: &str, topic: &str, channel: &str) -> Result<()> {
    http_request(http, "POST", &format!("/topic/create?topic={topic}"))?;
    http_request(
        http,
        "POST",
        &format!("/channel/create?topic={topic}&channel={channel}"),
    )?;
    Ok(())
}

/// One latency window on `topic` (one publisher, one consumer).
fn window(c: &Common, o: &LatencyOpts, topic: &str) -> Result<Report> {
    let spec = o.sub_spec(topic);
    let consumer = Consumer::subscribe(&c.addr, &spec)?;
    open_loop_run(
        c,
        "conns",
        &[topic.to_string()],
        1,
        Consumers::Threads(vec![consumer]),
        o,
        serde_json::Value::Null,
    )
}

/// Run `conns`.
pub fn run_conns(c: &Common, o: &LatencyOpts, m: &ConnsOpts) -> Result<Report> {
    let pid = c.broker_pid.ok_or_else(|| {
        BenchError::Config("conns needs --broker-pid (it measures the broker's RSS)".into())
    })?;
    let broker = Target::Pid(pid);
    let window_topics = [
        crate::run::fresh_topic("conns_before"),
        crate::run::fresh_topic("conns_after"),
    ];
    let prefix = crate::run::fresh_topic("idle");
    let idle_topic = |i: usize| format!("{prefix}_{}", i % m.channels.max(1));
    if let Some(http) = m.http_addr.as_deref() {
        for t in &window_topics {
            create(http, t, "ch")?;
        }
        for i in 0..m.conns.min(m.channels.max(1)) {
            create(http, &idle_topic(i), "idle")?;
        }
    }
    let before = window(c, o, &window_topics[0])?;
    let stats = |path| m.http_addr.as_deref().and_then(|h| stats_ms(h, path, 5));
    let (stats_ms_before, stats_lean_ms_before) = (stats(STATS_FULL), stats(STATS_LEAN));
    std::thread::sleep(m.settle);
    let rss_before = broker.memory().unwrap_or_default().rss_kib;

    let t0 = Instant::now();
    let mut idle = Vec::with_capacity(m.conns);
    for i in 0..m.conns {
        let spec = SubSpec {
            topic: idle_topic(i),
            channel: "idle".into(),
            rdy: 1,
            output_buffer: (None, None),
            record_e2e: false,
            read_buffer: 512,
        };
        idle.push(Consumer::subscribe(&c.addr, &spec)?);
    }
    let connect_s = t0.elapsed().as_secs_f64();
    // Answer their heartbeats while they sit there.
    let stop = Arc::new(AtomicBool::new(false));
    let poller = {
        let stop = stop.clone();
        let counters = Arc::new(Counters::default());
        let never = Window {
            start_ns: 0,
            end_ns: 0,
        };
        std::thread::Builder::new()
            .name("idle-poll".into())
            .spawn(move || run_polled(idle, &stop, &counters, never))
            .map_err(io("spawn idle poller"))?
    };
    std::thread::sleep(m.settle);
    let rss_after = broker.memory().unwrap_or_default().rss_kib;
    let mut after = window(c, o, &window_topics[1])?;
    let (stats_ms_after, stats_lean_ms_after) = (stats(STATS_FULL), stats(STATS_LEAN));
    stop.store(true, Ordering::Relaxed);
    crate::consumer::join(poller, "idle poller")?;

    let figures = ConnsFigures {
        idle_conns: m.conns,
        rss_before_kib: rss_before,
        rss_after_kib: rss_after,
        kib_per_conn: rss_after.saturating_sub(rss_before) as f64 / m.conns.max(1) as f64,
        connect_s,
        stats_ms_before,
        stats_ms_after,
        stats_lean_ms_before,
        stats_lean_ms_after,
        before: Box::new(before),
    };
    after.config = c.config(serde_json::json!({
        "rate": o.rate, "idle_conns": m.conns, "channels": m.channels,
    }));
    after.notes.push(format!(
        "{} idle consumers in {connect_s:.1} s: broker RSS {rss_before} -> {rss_after} KiB, \
         {:.1} KiB per connection; /stats {} -> {} ms",
        m.conns,
        figures.kib_per_conn,
        stats_ms_before.map_or("-".into(), |v| format!("{v:.1}")),
        stats_ms_after.map_or("-".into(), |v| format!("{v:.1}")),
    ));
    let p99 = |r: &Report| r.latency.e2e.as_ref().map(|e| e.p99_us);
    after.notes.push(format!(
        "e2e p99 with the busy connections only {} us, with the idle ones too {} us",
        p99(&figures.before).map_or("-".into(), |v| format!("{v:.0}")),
        p99(&after).map_or("-".into(), |v| format!("{v:.0}")),
    ));
    after.conns = Some(figures);
    Ok(after)
}
