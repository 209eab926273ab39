//! Closed-loop throughput modes: `pub`, `sub`, `pubsub`, `fanout`.
//!
//! Publishing is NSQ's bench_writer loop (one MPUB of `batch` bodies in
//! flight per connection, wait for `OK`); consuming is bench_reader's
//! (`SUB`, `RDY n`, `FIN` every message). Throughput of a closed loop is
//! connections x batch / round trip, so these modes measure capacity, not
//! latency under load: use `latency`/`sweep` for that.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use hdrhistogram::Histogram;

use super::Common;
use crate::clock::now_ns;
use crate::conn::create_channel;
use crate::consumer::{join, run_blocking, Consumer, ConsumerResult, SubSpec};
use crate::error::{io, Result};
use crate::publisher::closed_loop;
use crate::report::{new_histogram, Backlog, LatencySummary, Rates, Report};
use crate::run::{sleep_until, Counters, Meter, Window};

/// Publishing side of the closed-loop modes.
#[derive(Debug, Clone)]
pub struct PubOpts {
    /// Publishing connections.
    pub conns: usize,
    /// Messages per MPUB (1 = PUB).
    pub batch: usize,
}

/// Start `conns` closed-loop publisher threads.
fn spawn_publishers(
    c: &Common,
    p: &PubOpts,
    topic: &str,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
    window: Window,
    limit: Option<u64>,
) -> Result<Vec<JoinHandle<Result<Histogram<u64>>>>> {
    (0..p.conns)
        .map(|i| {
            let (addr, topics) = (c.addr.clone(), vec![topic.to_string()]);
            let (stop, counters) = (stop.clone(), counters.clone());
            let (size, batch) = (c.size, p.batch);
            std::thread::Builder::new()
                .name(format!("pub-{i}"))
                .spawn(move || {
                    closed_loop(&addr, &topics, size, batch, &stop, &counters, window, limit)
                })
                .map_err(io("spawn publisher"))
        })
        .collect()
}

fn join_publishers(hs: Vec<JoinHandle<Result<Histogram<u64>>>>) -> Result<Histogram<u64>> {
    let mut all = new_histogram();
    for h in hs {
        let _ = all.add(join(h, "publisher")?);
    }
    Ok(all)
}

/// `pub`: closed-loop MPUB on `conns` connections for warm-up + duration.
/// The topic gets channel `ch` first (as NSQ's bench.sh does) unless
/// `no_channel`, so the messages queue in a channel like a real backlog.
pub fn run_pub(c: &Common, p: &PubOpts, no_channel: bool) -> Result<Report> {
    let topic = c.topic_or_fresh("pub_bench");
    if !no_channel {
        create_channel(&c.addr, &topic, "ch")?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let window = Window::after(c.warmup, c.duration);
    let hs = spawn_publishers(c, p, &topic, &stop, &counters, window, None)?;
    let (d, meter) = c.measure_window(&counters, window);
    let mut r = Report {
        mode: "pub".into(),
        broker: c.addr.clone(),
        config: c.config(serde_json::json!({
            "topic": topic, "conns": p.conns, "batch": p.batch, "channel": !no_channel,
        })),
        warmup_s: c.warmup.as_secs_f64(),
        measured_s: window.seconds(),
        publish: Some(Rates::new(
            d.published,
            c.size,
            d.pub_wire,
            window.seconds(),
        )),
        ..Report::default()
    };
    meter.finish(d.published, &mut r);
    stop.store(true, Ordering::Relaxed);
    r.latency.pub_ok = LatencySummary::of(&join_publishers(hs)?);
    r.errors = counters.errors.load(Ordering::Relaxed);
    r.notes.push(format!(
        "closed loop: one {} of {} in flight per connection; PUB->OK is per command, from its actual send",
        if p.batch > 1 { "MPUB" } else { "PUB" },
        p.batch
    ));
    Ok(r)
}

/// Consuming side of the `sub`, `pubsub` and `fanout` modes.
#[derive(Debug, Clone)]
pub struct SubOpts {
    /// Consuming connections per channel.
    pub conns: usize,
    /// RDY per connection.
    pub rdy: u64,
    /// IDENTIFY output buffering (see [`SubSpec::output_buffer`]).
    pub output_buffer: (Option<i64>, Option<i64>),
}

#[allow(clippy::too_many_arguments)]
fn spawn_consumers(
    c: &Common,
    s: &SubOpts,
    topic: &str,
    channels: &[String],
    record_e2e: bool,
    stop: &Arc<AtomicBool>,
    counters: &Arc<Counters>,
    window: Window,
) -> Result<Vec<JoinHandle<Result<ConsumerResult>>>> {
    let mut hs = Vec::new();
    for ch in channels {
        for i in 0..s.conns {
            let spec = SubSpec {
                topic: topic.to_string(),
                channel: ch.clone(),
                rdy: s.rdy,
                output_buffer: s.output_buffer,
                record_e2e,
                read_buffer: crate::consumer::READ_BUFFER,
            };
            let consumer = Consumer::subscribe(&c.addr, &spec)?;
            let (stop, counters) = (stop.clone(), counters.clone());
            hs.push(
                std::thread::Builder::new()
                    .name(format!("sub-{ch}-{i}"))
                    .spawn(move || run_blocking(consumer, &stop, &counters, window))
                    .map_err(io("spawn consumer"))?,
            );
        }
    }
    Ok(hs)
}

fn join_consumers(hs: Vec<JoinHandle<Result<ConsumerResult>>>) -> Result<ConsumerResult> {
    let mut all = ConsumerResult::new();
    for h in hs {
        all.merge(&join(h, "consumer")?);
    }
    Ok(all)
}

/// `sub`: fill channel `ch` of the topic with `prefill` messages (closed-loop
/// MPUB with `fill`), then drain it with RDY/FIN consumers and time how long
/// that takes (capped at the duration). `prefill = 0` drains whatever is
/// already there for the whole duration (bench_reader exactly).
pub fn run_sub(c: &Common, s: &SubOpts, prefill: u64, fill: &PubOpts) -> Result<Report> {
    let topic = c.topic_or_fresh("sub_bench");
    create_channel(&c.addr, &topic, "ch")?;
    let mut notes = Vec::new();
    if prefill > 0 {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let t0 = now_ns();
        let none = Window {
            start_ns: 0,
            end_ns: 0,
        };
        let hs = spawn_publishers(c, fill, &topic, &stop, &counters, none, Some(prefill))?;
        join_publishers(hs)?;
        let n = counters.published.load(Ordering::Relaxed);
        let secs = (now_ns() - t0) as f64 / 1e9;
        notes.push(format!(
            "prefilled {n} messages in {secs:.2} s ({:.0} msg/s)",
            n as f64 / secs
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let meter = Meter::start(c.broker_pid, c.count_syscalls);
    let t0 = now_ns();
    let deadline = t0 + c.duration.as_nanos() as u64;
    let window = Window {
        start_ns: t0,
        end_ns: deadline,
    };
    let hs = spawn_consumers(
        c,
        s,
        &topic,
        &["ch".to_string()],
        false,
        &stop,
        &counters,
        window,
    )?;
    while now_ns() < deadline
        && (prefill == 0 || counters.consumed.load(Ordering::Relaxed) < prefill)
    {
        std::thread::sleep(Duration::from_micros(500));
    }
    let t1 = now_ns();
    let d = counters.snapshot();
    let secs = (t1 - t0) as f64 / 1e9;
    let mut r = Report {
        mode: "sub".into(),
        broker: c.addr.clone(),
        config: c.config(serde_json::json!({
            "topic": topic, "channel": "ch", "conns": s.conns, "rdy": s.rdy, "prefill": prefill,
        })),
        measured_s: secs,
        consume: Some(Rates::new(d.consumed, c.size, d.sub_wire, secs)),
        notes,
        ..Report::default()
    };
    meter.finish(d.consumed, &mut r);
    stop.store(true, Ordering::Relaxed);
    join_consumers(hs)?;
    r.errors = counters.errors.load(Ordering::Relaxed);
    if prefill > 0 {
        r.notes.push(if d.consumed >= prefill {
            format!("drained the whole backlog of {prefill} in {secs:.2} s")
        } else {
            format!(
                "stopped at the duration with {} of {prefill} drained",
                d.consumed
            )
        });
    }
    Ok(r)
}

/// `pubsub` (one channel) and `fanout` (K channels): closed-loop publishers
/// and consumers at once. Reports both rates, backlog growth (messages
/// published x channels - consumed, sampled every 250 ms) and end-to-end
/// latency from each message's send time (closed loop: no schedule).
pub fn run_flow(
    c: &Common,
    mode: &str,
    p: &PubOpts,
    s: &SubOpts,
    channels: usize,
) -> Result<Report> {
    let topic = c.topic_or_fresh(mode);
    let names: Vec<String> = if channels <= 1 {
        vec!["ch".into()]
    } else {
        (0..channels).map(|i| format!("ch{i}")).collect()
    };
    for ch in &names {
        create_channel(&c.addr, &topic, ch)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let window = Window::after(c.warmup, c.duration);
    let subs = spawn_consumers(c, s, &topic, &names, true, &stop, &counters, window)?;
    let pubs = spawn_publishers(c, p, &topic, &stop, &counters, window, None)?;
    let (s0, meter) = c.start_window(&counters, window);
    let k = names.len() as i64;
    let mut samples = Vec::new();
    loop {
        let now = now_ns();
        let snap = counters.snapshot();
        samples.push((
            (now.saturating_sub(window.start_ns)) as f64 / 1e9,
            snap.published as i64 * k - snap.consumed as i64,
        ));
        if now >= window.end_ns {
            break;
        }
        sleep_until((now + 250_000_000).min(window.end_ns));
    }
    let d = counters.snapshot() - s0;
    let secs = window.seconds();
    let mut r = Report {
        mode: mode.into(),
        broker: c.addr.clone(),
        config: c.config(serde_json::json!({
            "topic": topic, "channels": names.len(), "pub_conns": p.conns, "batch": p.batch,
            "sub_conns_per_channel": s.conns, "rdy": s.rdy,
            "output_buffer_size": s.output_buffer.0, "output_buffer_timeout_ms": s.output_buffer.1,
        })),
        warmup_s: c.warmup.as_secs_f64(),
        measured_s: secs,
        publish: Some(Rates::new(d.published, c.size, d.pub_wire, secs)),
        consume: Some(Rates::new(d.consumed, c.size, d.sub_wire, secs)),
        backlog: Some(Backlog::from_samples(samples)),
        ..Report::default()
    };
    meter.finish(d.published, &mut r);
    stop.store(true, Ordering::Relaxed);
    r.latency.pub_ok = LatencySummary::of(&join_publishers(pubs)?);
    r.latency.e2e = LatencySummary::of(&join_consumers(subs)?.e2e);
    r.errors = counters.errors.load(Ordering::Relaxed);
    r.notes.push(
        "closed loop: e2e is from each message's actual send (no schedule); backlog = published x channels - consumed"
            .into(),
    );
    Ok(r)
}
