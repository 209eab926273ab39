//! Publishing workers: the closed-loop MPUB loop of NSQ's bench_writer and
//! the open-loop, fixed-rate PUB generator of the latency modes.
//!
//! Commands are encoded once per topic by `nsq_protocol::command::Request`
//! ([`Template`]); per send only the 24-byte stamps at the front of each
//! body are patched in place.

use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hdrhistogram::Histogram;
use nsq_protocol::command::Request;
use nsq_protocol::frame::{Frame, HEARTBEAT};

use crate::body::{self, Stamp};
use crate::clock::{now_ns, sleep_until, tighten_timer_slack, Pacing, Schedule};
use crate::conn::Conn;
use crate::error::{io, BenchError, Result};
use crate::report::{new_histogram, record};
use crate::run::{Counters, Window};

/// One encoded PUB (batch 1) or MPUB command with the offsets of its
/// bodies, so stamps can be rewritten without re-encoding.
#[derive(Debug, Clone)]
pub struct Template {
    /// The wire bytes.
    pub bytes: Vec<u8>,
    body_offsets: Vec<usize>,
}

impl Template {
    /// Encode `batch` bodies of `size` bytes for `topic`: PUB when `batch`
    /// is 1, MPUB otherwise.
    pub fn new(topic: &str, size: usize, batch: usize) -> Template {
        let body = body::blank(size);
        let size = body.len();
        let mut bytes = Vec::new();
        if batch <= 1 {
            Request::Pub(topic, &body).encode(&mut bytes);
            let off = bytes.len() - size;
            return Template {
                bytes,
                body_offsets: vec![off],
            };
        }
        let bodies: Vec<&[u8]> = (0..batch).map(|_| &body[..]).collect();
        Request::Mpub(topic, &bodies).encode(&mut bytes);
        // MPUB ends with `batch` x ([4-byte size][body]).
        let first = bytes.len() - batch * (4 + size) + 4;
        Template {
            bytes,
            body_offsets: (0..batch).map(|i| first + i * (4 + size)).collect(),
        }
    }

    /// Messages per command.
    pub fn batch(&self) -> usize {
        self.body_offsets.len()
    }

    /// Rewrite the stamp of body `i`.
    pub fn stamp(&mut self, i: usize, s: Stamp) {
        let off = self.body_offsets[i];
        s.write(&mut self.bytes[off..off + body::STAMP_LEN]);
    }
}

/// Closed loop: send one (M)PUB, wait for its `OK`, repeat until `stop`.
/// Records PUB->OK per command (from the actual send) while inside the
/// window; counts acknowledged messages in `counters.published`. Stops
/// early once `limit` messages are acknowledged across all workers.
#[allow(clippy::too_many_arguments)]
pub fn closed_loop(
    addr: &str,
    topics: &[String],
    size: usize,
    batch: usize,
    stop: &AtomicBool,
    counters: &Counters,
    window: Window,
    limit: Option<u64>,
) -> Result<Histogram<u64>> {
    let mut conn = Conn::connect(addr)?;
    let mut templates: Vec<Template> = topics
        .iter()
        .map(|t| Template::new(t, size, batch))
        .collect();
    let mut hist = new_histogram();
    let mut seq = 0u64;
    let mut turn = 0usize;
    while !stop.load(Ordering::Relaxed) {
        if let Some(l) = limit {
            // Claim a batch before sending it so workers together stop at the limit.
            let claimed = counters.claimed.fetch_add(batch as u64, Ordering::Relaxed);
            if claimed >= l {
                break;
            }
        }
        let t = &mut templates[turn % topics.len()];
        turn += 1;
        let sent = now_ns();
        for i in 0..t.batch() {
            t.stamp(
                i,
                Stamp {
                    intended_ns: sent,
                    sent_ns: sent,
                    seq,
                },
            );
            seq += 1;
        }
        conn.send(&t.bytes)?;
        match conn.expect_response() {
            Ok(_) => {}
            Err(BenchError::Broker(e)) => {
                counters.errors.fetch_add(1, Ordering::Relaxed);
                if counters.errors.load(Ordering::Relaxed) < 5 {
                    eprintln!("nsq-bench: publish error: {e}");
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        let done = now_ns();
        if window.contains(sent) {
            record(&mut hist, done - sent);
        }
        counters
            .published
            .fetch_add(t.batch() as u64, Ordering::Relaxed);
        counters
            .pub_wire
            .fetch_add(t.bytes.len() as u64, Ordering::Relaxed);
    }
    Ok(hist)
}

/// What the open-loop generator measured.
pub struct OpenLoopResult {
    /// Intended send -> OK, per message.
    pub pub_ok: Histogram<u64>,
    /// Actual send - intended send, per message.
    pub send_delay: Histogram<u64>,
    /// Messages sent with an intended time inside the window.
    pub sent_in_window: u64,
}

/// Open loop: PUB one message each at `schedule`'s intended times on one
/// connection (rotating over `topics`), until clock time `end_ns`. All
/// messages already due are written together; then the thread sleeps until
/// the next one is due, as `pacing` says.
/// A second thread reads the `OK`s: the k-th OK answers the k-th PUB, so
/// its intended time is `schedule.intended(k)`.
#[allow(clippy::too_many_arguments)]
pub fn open_loop(
    addr: &str,
    topics: &[String],
    size: usize,
    schedule: Schedule,
    end_ns: u64,
    pacing: Pacing,
    counters: Arc<Counters>,
    window: Window,
) -> Result<OpenLoopResult> {
    tighten_timer_slack();
    let mut conn = Conn::connect(addr)?;
    conn.set_read_timeout(Some(Duration::from_millis(100)))?;
    let mut writer: TcpStream = conn.writer()?;
    let total = Arc::new(AtomicU64::new(u64::MAX)); // set when the writer is done
    let nop_due = Arc::new(AtomicBool::new(false));
    let reader = {
        let (total, nop_due, counters) = (total.clone(), nop_due.clone(), counters.clone());
        let wire_per_msg = Template::new(&topics[0], size, 1).bytes.len() as u64;
        std::thread::Builder::new()
            .name("ok-reader".into())
            .spawn(move || -> Result<Histogram<u64>> {
                let mut hist = new_histogram();
                let mut acked = 0u64;
                let give_up = end_ns + 10_000_000_000;
                while acked < total.load(Ordering::Acquire) && now_ns() < give_up {
                    let mut n_ok = 0u64;
                    conn.read_frames(|f| {
                        match f {
                            Frame::Response(d) if d == HEARTBEAT => {
                                nop_due.store(true, Ordering::Relaxed);
                                return Ok(());
                            }
                            Frame::Response(_) => {}
                            Frame::Error(_) => {
                                counters.errors.fetch_add(1, Ordering::Relaxed);
                            }
                            Frame::Message(..) => return Ok(()),
                        }
                        let intended = schedule.intended(acked);
                        if window.contains(intended) {
                            record(&mut hist, now_ns().saturating_sub(intended));
                        }
                        acked += 1;
                        n_ok += 1;
                        Ok(())
                    })?;
                    counters.published.fetch_add(n_ok, Ordering::Relaxed);
                    counters
                        .pub_wire
                        .fetch_add(n_ok * wire_per_msg, Ordering::Relaxed);
                }
                Ok(hist)
            })
            .map_err(io("spawn OK reader"))?
    };
    let mut templates: Vec<Template> = topics.iter().map(|t| Template::new(t, size, 1)).collect();
    let mut send_delay = new_histogram();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut next = 0u64;
    let mut in_window = 0u64;
    let mut result = Ok(());
    loop {
        let now = now_ns();
        if now >= end_ns {
            break;
        }
        // Cap one write at ~256 KiB so a late generator catches up in chunks.
        let due = schedule
            .due(now)
            .min(next + (256 * 1024 / templates[0].bytes.len()).max(1) as u64);
        if due > next {
            if nop_due.swap(false, Ordering::Relaxed) {
                Request::Nop.encode(&mut out);
            }
            for i in next..due {
                let intended = schedule.intended(i);
                let t = &mut templates[(i % topics.len() as u64) as usize];
                t.stamp(
                    0,
                    Stamp {
                        intended_ns: intended,
                        sent_ns: now,
                        seq: i,
                    },
                );
                out.extend_from_slice(&t.bytes);
                if window.contains(intended) {
                    record(&mut send_delay, now - intended);
                    in_window += 1;
                }
            }
            if let Err(e) = std::io::Write::write_all(&mut writer, &out) {
                result = Err(io("write PUBs")(e));
                break;
            }
            out.clear();
            next = due;
        }
        let now = now_ns();
        if schedule.due(now) <= next {
            let wake = pacing.wake_at(schedule.intended(next), now);
            sleep_until(wake.min(end_ns), pacing.spin_ns);
        }
    }
    total.store(next, Ordering::Release);
    let pub_ok = reader
        .join()
        .map_err(|_| BenchError::Worker("OK reader"))??;
    result?;
    Ok(OpenLoopResult {
        pub_ok,
        send_delay,
        sent_in_window: in_window,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nsq_protocol::command::{decode_command, Command, Limits};
    use nsq_protocol::Decoded;

    fn stamped(t: &mut Template) {
        for i in 0..t.batch() {
            t.stamp(
                i,
                Stamp {
                    intended_ns: 100 + i as u64,
                    sent_ns: 200,
                    seq: i as u64,
                },
            );
        }
    }

    #[test]
    fn mpub_template_stamps_every_body() {
        let mut t = Template::new("t", 100, 5);
        stamped(&mut t);
        let Decoded::Complete {
            value: Command::Mpub(Ok(m)),
            consumed,
        } = decode_command(&t.bytes, &Limits::default()).unwrap()
        else {
            panic!("not an MPUB")
        };
        assert_eq!(consumed, t.bytes.len());
        let stamps: Vec<u64> = m
            .bodies
            .iter()
            .map(|b| {
                assert_eq!(b.len(), 100);
                Stamp::read(b).unwrap().intended_ns
            })
            .collect();
        assert_eq!(stamps, vec![100, 101, 102, 103, 104]);
    }

    #[test]
    fn pub_template_stamps_its_body() {
        let mut t = Template::new("topic", 30, 1);
        stamped(&mut t);
        let Decoded::Complete {
            value: Command::Pub(Ok(p)),
            ..
        } = decode_command(&t.bytes, &Limits::default()).unwrap()
        else {
            panic!("not a PUB")
        };
        assert_eq!(p.topic, "topic");
        assert_eq!(Stamp::read(p.body).unwrap().sent_ns, 200);
    }
}
