//! `fill`: many topics, each with its channels and a few messages queued,
//! for measuring what a broker with many queues costs to stop and start
//! (`scripts/bench-compare.sh -m restart`). Not a timed mode: it prints
//! how long the filling took and exits.

use std::time::Instant;

use nsq_protocol::command::Request;

use super::Common;
use crate::conn::{create_channel, Conn};
use crate::error::{BenchError, Result};
use crate::report::Report;

/// Options of `fill`.
#[derive(Debug, Clone)]
pub struct FillOpts {
    /// Topics to create.
    pub topics: usize,
    /// Channels per topic.
    pub channels: usize,
    /// Messages published to each topic (after its channels exist).
    pub messages: usize,
}

/// MPUBs in flight before their answers are read.
const PIPELINE: usize = 64;

/// Run `fill`: topics `<prefix>_<i>` with channels `ch<j>`.
pub fn run_fill(c: &Common, f: &FillOpts) -> Result<Report> {
    let prefix = c.topic.clone().unwrap_or_else(|| "fill".into());
    let t0 = Instant::now();
    let topics: Vec<String> = (0..f.topics).map(|i| format!("{prefix}_{i}")).collect();
    for t in &topics {
        for ch in 0..f.channels {
            create_channel(&c.addr, t, &format!("ch{ch}"))?;
        }
    }
    let created_s = t0.elapsed().as_secs_f64();
    let body = crate::body::blank(c.size);
    let bodies: Vec<&[u8]> = (0..f.messages).map(|_| body.as_slice()).collect();
    let mut conn = Conn::connect(&c.addr)?;
    let mut outstanding = 0;
    for t in &topics {
        if f.messages == 0 {
            break;
        }
        conn.request(&Request::Mpub(t, &bodies))?;
        outstanding += 1;
        if outstanding == PIPELINE {
            answer(&mut conn, &mut outstanding)?;
        }
    }
    while outstanding > 0 {
        answer(&mut conn, &mut outstanding)?;
    }
    let total_s = t0.elapsed().as_secs_f64();
    Ok(Report {
        mode: "fill".into(),
        broker: c.addr.clone(),
        config: serde_json::json!({
            "topics": f.topics, "channels_per_topic": f.channels,
            "messages_per_topic": f.messages, "size": c.size, "prefix": prefix,
        }),
        measured_s: total_s,
        notes: vec![format!(
            "{} topics x {} channels created in {created_s:.2} s, {} messages each published, {total_s:.2} s in all",
            f.topics, f.channels, f.messages
        )],
        ..Report::default()
    })
}

/// Read one `OK`.
fn answer(conn: &mut Conn, outstanding: &mut usize) -> Result<()> {
    let r = conn.expect_response()?;
    if r != b"OK" {
        return Err(BenchError::Broker(format!(
            "MPUB answered {:?}",
            String::from_utf8_lossy(&r)
        )));
    }
    *outstanding -= 1;
    Ok(())
}
