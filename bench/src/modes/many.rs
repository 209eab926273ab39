//! `many`: thousands of topics and channels (NSQ's bench_channels, plus
//! traffic). Subscribes `topics x channels` consumers (one connection per
//! channel, polled with epoll from a few threads), measures the broker's
//! idle CPU with all of them connected, then publishes open loop at a
//! fixed total rate round-robin over the topics and reports delivery,
//! end-to-end latency, CPU per message and RSS.

use std::time::Duration;

use super::latency::{open_loop_run, Consumers, LatencyOpts};
use super::Common;
use crate::clock::now_ns;
use crate::consumer::{Consumer, SubSpec};
use crate::error::Result;
use crate::procstat::{self, Target};
use crate::report::Report;

/// Options of `many`.
#[derive(Debug, Clone)]
pub struct ManyOpts {
    /// Number of topics.
    pub topics: usize,
    /// Channels per topic (one consumer connection each).
    pub channels: usize,
    /// Threads polling the consumers.
    pub threads: usize,
    /// Seconds of idle measurement after subscribing.
    pub idle: Duration,
}

/// Run `many`.
pub fn run_many(c: &Common, o: &LatencyOpts, m: &ManyOpts) -> Result<Report> {
    let prefix = c.topic_or_fresh("many");
    let topics: Vec<String> = (0..m.topics.max(1))
        .map(|i| format!("{prefix}_{i}"))
        .collect();
    let t0 = now_ns();
    let mut groups: Vec<Vec<Consumer>> = (0..m.threads.max(1)).map(|_| Vec::new()).collect();
    let mut n = 0usize;
    for t in &topics {
        for ch in 0..m.channels.max(1) {
            let spec = SubSpec {
                topic: t.clone(),
                channel: format!("ch{ch}"),
                rdy: o.rdy,
                output_buffer: o.output_buffer,
                record_e2e: true,
                read_buffer: 16 * 1024,
            };
            let g = n % groups.len();
            groups[g].push(Consumer::subscribe(&c.addr, &spec)?);
            n += 1;
        }
    }
    let setup_s = (now_ns() - t0) as f64 / 1e9;
    let mut notes = vec![format!(
        "{n} consumer connections ({} topics x {} channels) subscribed in {setup_s:.2} s",
        topics.len(),
        m.channels.max(1)
    )];
    if let Some(pid) = c.broker_pid {
        let t = Target::Pid(pid);
        if let Some(before) = t.cpu() {
            std::thread::sleep(m.idle);
            if let Some(after) = t.cpu() {
                let cores = procstat::cpu_seconds(before, after) / m.idle.as_secs_f64();
                notes.push(format!(
                    "broker idle with everyone subscribed: {:.2}% of a core over {:.1} s, RSS {} KiB",
                    cores * 100.0,
                    m.idle.as_secs_f64(),
                    t.memory().unwrap_or_default().rss_kib
                ));
            }
        }
    }
    let config = c.config(serde_json::json!({
        "topics": topics.len(), "channels_per_topic": m.channels.max(1), "consumers": n,
        "rate": o.rate, "pub_conns": o.pub_conns, "rdy": o.rdy, "poll_threads": groups.len(),
        "setup_s": setup_s,
    }));
    let mut r = open_loop_run(
        c,
        "many",
        &topics,
        m.channels.max(1) as u64,
        Consumers::Polled(groups),
        o,
        config,
    )?;
    notes.append(&mut r.notes);
    r.notes = notes;
    Ok(r)
}
