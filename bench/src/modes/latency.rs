//! Open-loop modes: `latency` (a fixed rate) and `sweep` (the
//! latency-versus-throughput curve).
//!
//! Producer and consumer run in this process. Each PUB carries its
//! intended send time; latency is measured from it (coordinated-omission
//! corrected), the generator's lateness is reported separately as send
//! delay, and a step whose acknowledged rate is under 95% of its target is
//! flagged saturated.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Common;
use crate::clock::{now_ns, Pacing, Schedule};
use crate::consumer::{join, run_blocking, run_polled, Consumer, ConsumerResult, SubSpec};
use crate::error::{io, BenchError, Result};
use crate::publisher::{open_loop, OpenLoopResult};
use crate::report::{new_histogram, LatencySummary, RateCheck, Rates, Report};
use crate::run::{Counters, Window};
use crate::svg;

/// Options of `latency` (and of each `sweep` step).
#[derive(Debug, Clone)]
pub struct LatencyOpts {
    /// Target messages per second (all publishing connections together).
    pub rate: f64,
    /// Publishing connections (each takes rate / conns).
    pub pub_conns: usize,
    /// Consumer RDY.
    pub rdy: u64,
    /// Consumer IDENTIFY output buffering (size, timeout ms).
    pub output_buffer: (Option<i64>, Option<i64>),
    /// How the generator waits between sends.
    pub pacing: Pacing,
    /// Messages each publisher sends at once (1 = evenly spaced; N = a
    /// burst of N after N intervals of silence).
    pub burst: u64,
    /// How long to wait for stragglers after the last send.
    pub drain: Duration,
}

impl LatencyOpts {
    /// How the latency consumers subscribe to `topic` (channel `ch`,
    /// recording end-to-end latency).
    pub fn sub_spec(&self, topic: &str) -> SubSpec {
        SubSpec {
            topic: topic.to_string(),
            channel: "ch".into(),
            rdy: self.rdy,
            output_buffer: self.output_buffer,
            record_e2e: true,
            read_buffer: crate::consumer::READ_BUFFER,
        }
    }
}

/// How the consumers of an open-loop run are driven.
pub(crate) enum Consumers {
    /// One thread each.
    Threads(Vec<Consumer>),
    /// Groups, each polled by one thread.
    Polled(Vec<Vec<Consumer>>),
}

/// The shared open-loop run: publishers at `o.rate` rotating over
/// `topics`, already-subscribed `consumers` (`channels` per topic),
/// warm-up, window, drain, report.
pub(crate) fn open_loop_run(
    c: &Common,
    mode: &str,
    topics: &[String],
    channels: u64,
    consumers: Consumers,
    o: &LatencyOpts,
    config: serde_json::Value,
) -> Result<Report> {
    if o.rate <= 0.0 || o.pub_conns == 0 {
        return Err(BenchError::Config(
            "rate and pub-conns must be positive".into(),
        ));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let counters = Arc::new(Counters::default());
    let window = Window::after(c.warmup, c.duration);
    let subs: Vec<JoinHandle<Result<ConsumerResult>>> = match consumers {
        Consumers::Threads(cs) => cs
            .into_iter()
            .enumerate()
            .map(|(i, cons)| {
                let (stop, counters) = (stop.clone(), counters.clone());
                std::thread::Builder::new()
                    .name(format!("sub-{i}"))
                    .spawn(move || run_blocking(cons, &stop, &counters, window))
                    .map_err(io("spawn consumer"))
            })
            .collect::<Result<_>>()?,
        Consumers::Polled(groups) => groups
            .into_iter()
            .enumerate()
            .map(|(i, cs)| {
                let (stop, counters) = (stop.clone(), counters.clone());
                std::thread::Builder::new()
                    .name(format!("poll-{i}"))
                    .spawn(move || run_polled(cs, &stop, &counters, window))
                    .map_err(io("spawn consumer poller"))
            })
            .collect::<Result<_>>()?,
    };
    let start = now_ns() + 1_000_000;
    let per_conn = o.rate / o.pub_conns as f64;
    let pubs: Vec<JoinHandle<Result<OpenLoopResult>>> = (0..o.pub_conns)
        .map(|i| {
            // Stagger connections so their sends interleave evenly.
            let offset = (1e9 / o.rate * i as f64) as u64;
            let schedule = Schedule::new(start + offset, per_conn).in_bursts_of(o.burst);
            let (addr, topics, counters) = (c.addr.clone(), topics.to_vec(), counters.clone());
            let (size, pacing) = (c.size, o.pacing);
            std::thread::Builder::new()
                .name(format!("pub-{i}"))
                .spawn(move || {
                    open_loop(
                        &addr,
                        &topics,
                        size,
                        schedule,
                        window.end_ns,
                        pacing,
                        counters,
                        window,
                    )
                })
                .map_err(io("spawn publisher"))
        })
        .collect::<Result<_>>()?;
    let (d, meter) = c.measure_window(&counters, window);
    let secs = window.seconds();
    let mut r = Report {
        mode: mode.into(),
        broker: c.addr.clone(),
        config,
        warmup_s: c.warmup.as_secs_f64(),
        measured_s: secs,
        publish: Some(Rates::new(d.published, c.size, d.pub_wire, secs)),
        consume: Some(Rates::new(d.consumed, c.size, d.sub_wire, secs)),
        rate: Some(RateCheck::new(o.rate, d.published as f64 / secs)),
        ..Report::default()
    };
    meter.finish(d.published, &mut r);
    let (mut pub_ok, mut send_delay) = (new_histogram(), new_histogram());
    let mut first_err = None;
    for h in pubs {
        match join(h, "publisher") {
            Ok(res) => {
                let _ = pub_ok.add(&res.pub_ok);
                let _ = send_delay.add(&res.send_delay);
            }
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    // Wait for the consumers to get everything that was acknowledged.
    let expected = counters.published.load(Ordering::Relaxed) * channels;
    let give_up = now_ns() + o.drain.as_nanos() as u64;
    while counters.consumed.load(Ordering::Relaxed) < expected && now_ns() < give_up {
        std::thread::sleep(Duration::from_millis(1));
    }
    stop.store(true, Ordering::Relaxed);
    let mut all = ConsumerResult::new();
    for h in subs {
        match join(h, "consumer") {
            Ok(res) => all.merge(&res),
            Err(e) => first_err = first_err.or(Some(e)),
        }
    }
    if let Some(e) = first_err {
        return Err(e);
    }
    let consumed = counters.consumed.load(Ordering::Relaxed);
    r.lost = Some(expected.saturating_sub(consumed));
    r.errors = counters.errors.load(Ordering::Relaxed);
    r.latency.pub_ok = LatencySummary::of(&pub_ok);
    r.latency.send_delay = LatencySummary::of(&send_delay);
    r.latency.e2e = LatencySummary::of(&all.e2e);
    r.latency.e2e_from_send = LatencySummary::of(&all.e2e_from_send);
    r.notes.push(
        "open loop: PUB->OK and e2e are measured from each message's intended send time".into(),
    );
    Ok(r)
}

/// `latency`: one topic, one channel, `consumers` connections.
pub fn run_latency(c: &Common, o: &LatencyOpts, consumers: usize) -> Result<Report> {
    let topic = c.topic_or_fresh("lat_bench");
    let spec = o.sub_spec(&topic);
    let cs = (0..consumers.max(1))
        .map(|_| Consumer::subscribe(&c.addr, &spec))
        .collect::<Result<Vec<_>>>()?;
    let config = c.config(serde_json::json!({
        "topic": topic, "rate": o.rate, "pub_conns": o.pub_conns, "sub_conns": consumers.max(1),
        "rdy": o.rdy, "output_buffer_size": o.output_buffer.0,
        "output_buffer_timeout_ms": o.output_buffer.1, "spin_us": o.pacing.spin_ns / 1000,
        "min_sleep_us": o.pacing.min_sleep_ns / 1000,
    }));
    open_loop_run(c, "latency", &[topic], 1, Consumers::Threads(cs), o, config)
}

/// `sweep`: find the maximum rate (or take `max_rate`), then run `steps`
/// latency steps from max/steps to max, write the SVG to `plot_path`.
pub fn run_sweep(
    c: &Common,
    o: &LatencyOpts,
    max_rate: Option<f64>,
    steps: usize,
    plot_path: &std::path::Path,
) -> Result<Report> {
    let mut notes = Vec::new();
    let max = match max_rate {
        Some(m) => m,
        None => {
            // Unthrottled probe: a target no generator reaches, so the
            // achieved rate is the ceiling of this client + broker pair.
            let probe = LatencyOpts {
                rate: 20_000_000.0,
                ..o.clone()
            };
            let r = run_latency(c, &probe, 1)?;
            let published = r.publish.as_ref().map_or(0.0, |p| p.msgs_per_s);
            let consumed = r.consume.as_ref().map_or(0.0, |p| p.msgs_per_s);
            notes.push(format!(
                "max measured by an unthrottled probe: published {published:.0}/s, consumed {consumed:.0}/s"
            ));
            published.min(consumed).max(1.0)
        }
    };
    let steps = steps.max(1);
    let mut points = Vec::new();
    for i in 1..=steps {
        let step = LatencyOpts {
            rate: max * i as f64 / steps as f64,
            ..o.clone()
        };
        let r = run_latency(c, &step, 1)?;
        eprintln!(
            "sweep step {i}/{steps}: target {:.0}/s achieved {:.0}/s e2e p99 {:.0} us",
            step.rate,
            r.rate.as_ref().map_or(0.0, |x| x.achieved_per_s),
            r.latency.e2e.as_ref().map_or(0.0, |x| x.p99_us)
        );
        points.push(r);
    }
    let plot_points: Vec<svg::Point> = points
        .iter()
        .map(|p| {
            let e = p.latency.e2e.as_ref();
            svg::Point {
                rate: p.rate.as_ref().map_or(0.0, |x| x.achieved_per_s),
                latency_us: [
                    e.map_or(0.0, |e| e.p50_us),
                    e.map_or(0.0, |e| e.p99_us),
                    e.map_or(0.0, |e| e.p999_us),
                    e.map_or(0.0, |e| e.max_us),
                ],
                saturated: p.rate.as_ref().is_some_and(|x| x.saturated),
            }
        })
        .collect();
    let title = format!(
        "nsq-bench sweep: {} B, {} ({} steps to {:.0} msg/s)",
        c.size, c.addr, steps, max
    );
    std::fs::write(plot_path, svg::plot(&plot_points, &title)).map_err(|source| {
        BenchError::Output {
            path: plot_path.to_path_buf(),
            source,
        }
    })?;
    Ok(Report {
        mode: "sweep".into(),
        broker: c.addr.clone(),
        config: c.config(serde_json::json!({
            "steps": steps, "pub_conns": o.pub_conns, "rdy": o.rdy,
            "output_buffer_size": o.output_buffer.0, "output_buffer_timeout_ms": o.output_buffer.1,
        })),
        warmup_s: c.warmup.as_secs_f64(),
        measured_s: c.duration.as_secs_f64() * steps as f64,
        load_before: points.first().map_or([0.0; 3], |p| p.load_before),
        load_after: points.last().map_or([0.0; 3], |p| p.load_after),
        errors: points.iter().map(|p| p.errors).sum(),
        max_rate: Some(max),
        plot: Some(plot_path.display().to_string()),
        points,
        notes,
        ..Report::default()
    })
}
