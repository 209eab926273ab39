//! Consumers, one connection per (nsqd, topic, channel), each channel with
//! its own manners: `fast` FINs at once; `slow` takes its time for 20 s of
//! every 30 (backlogs, disk spill); `requeue` REQs every first attempt
//! (with or without a delay); `timeout` lets a fifth of the first attempts
//! time out and TOUCHes some. At the end of the run (draining) every
//! consumer FINs everything at once. A delivery counts for the checker
//! when it is FINed.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nsq_protocol::command::Request;
use nsq_protocol::frame::HEARTBEAT;
use nsq_tools::client::conn::{next_non_heartbeat, OwnedFrame};

use crate::chaos::clients::{connect_v2, Transport};
use crate::chaos::ctx::{Counters, Ctx};
use crate::chaos::rng::Rng;

/// The checked channels, in ledger order.
pub const CHANNELS: [&str; 4] = ["fast", "slow", "requeue", "timeout"];

/// What to do with one delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Fin,
    SlowFin(u64),
    Req(u64),
    TouchFin,
    Ignore,
}

fn decide(channel: usize, attempts: u16, rng: &mut Rng, draining: bool, now_ms: u64) -> Action {
    if draining {
        return Action::Fin;
    }
    match CHANNELS[channel] {
        "slow" if (now_ms / 1000) % 30 < 20 => Action::SlowFin(rng.range(2, 30)),
        "requeue" if attempts <= 1 => Action::Req(*rng.pick(&[0, 0, 100, 500, 1500])),
        "timeout" if attempts <= 1 => match rng.below(10) {
            0 | 1 => Action::Ignore,
            2 => Action::TouchFin,
            _ => Action::Fin,
        },
        _ => Action::Fin,
    }
}

fn rdy(channel: usize, draining: bool) -> u64 {
    match (CHANNELS[channel], draining) {
        (_, true) => 200,
        ("slow", false) => 5,
        _ => 50,
    }
}

/// Consume `topic`/`channel` on nsqd `nsqd` until everything stops.
pub fn run(ctx: Arc<Ctx>, nsqd: usize, topic: usize, channel: usize, stream: u64) {
    let mut rng = Rng::derive(ctx.settings.seed, stream);
    let role = format!("consumer-{}", CHANNELS[channel]);
    let topic_name = ctx.topics[topic].clone();
    while !ctx.stopping() {
        let transport = Transport::pick(&mut rng);
        let Some(mut c) = connect_v2(&ctx, nsqd, &role, transport, |_| {}) else {
            ctx.sleep(Duration::from_millis(200));
            continue;
        };
        c.watch.sent(ctx.ms(), "SUB");
        if c.writer
            .send(&Request::Sub(&topic_name, CHANNELS[channel]))
            .is_err()
        {
            continue;
        }
        match next_non_heartbeat(&mut c.reader, &c.writer) {
            Ok(OwnedFrame::Response(_)) => {
                let now = ctx.ms();
                c.watch.answered(&ctx.tracker, now);
                ctx.ledger().created(nsqd, topic, channel, now);
            }
            Ok(OwnedFrame::Error(e)) => {
                c.watch.answered(&ctx.tracker, ctx.ms());
                let text = String::from_utf8_lossy(&e).into_owned();
                Counters::tally(&ctx.counters.sub_errors, &format!("SUB: {text}"));
                ctx.sleep(Duration::from_millis(500));
                continue;
            }
            _ => continue,
        }
        let mut draining = ctx.draining.load(Ordering::Relaxed);
        if c.writer
            .send(&Request::Rdy(rdy(channel, draining)))
            .is_err()
        {
            continue;
        }
        c.watch.expect_frames(ctx.ms());
        while !ctx.stopping() {
            let Ok(frame) = c.reader.next_frame() else {
                break;
            };
            let now = ctx.ms();
            c.watch.heard(now);
            let sent = match frame {
                OwnedFrame::Response(d) if d == HEARTBEAT => c.writer.send(&Request::Nop),
                OwnedFrame::Response(_) => Ok(()),
                OwnedFrame::Error(e) => {
                    let text = String::from_utf8_lossy(&e);
                    let code = text.split_whitespace().next().unwrap_or("").to_string();
                    Counters::tally(&ctx.counters.sub_errors, &code);
                    Ok(())
                }
                OwnedFrame::Message(h, body) => {
                    let key = ctx.ledger().delivery(nsqd, topic, channel, &body);
                    let now_draining = ctx.draining.load(Ordering::Relaxed);
                    if now_draining && !draining {
                        draining = true;
                        let _ = c.writer.send(&Request::Rdy(rdy(channel, true)));
                    }
                    let action = match key {
                        Ok(_) => decide(channel, h.attempts, &mut rng, draining, now),
                        Err(_) => Action::Fin,
                    };
                    let fin = |c: &mut crate::chaos::clients::V2| {
                        if let Ok(k) = key {
                            ctx.ledger().finished(k, channel);
                        }
                        c.writer.send(&Request::Fin(h.id))
                    };
                    match action {
                        Action::Fin => fin(&mut c),
                        Action::SlowFin(ms) => {
                            std::thread::sleep(Duration::from_millis(ms));
                            fin(&mut c)
                        }
                        Action::Req(ms) => c.writer.send(&Request::Req(h.id, ms)),
                        Action::TouchFin => c
                            .writer
                            .send(&Request::Touch(h.id))
                            .and_then(|_| fin(&mut c)),
                        Action::Ignore => Ok(()),
                    }
                }
            };
            if sent.is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manners() {
        let mut rng = Rng::new(1);
        assert_eq!(decide(0, 1, &mut rng, false, 0), Action::Fin);
        assert!(matches!(
            decide(1, 1, &mut rng, false, 1000),
            Action::SlowFin(_)
        ));
        assert_eq!(decide(1, 1, &mut rng, false, 25_000), Action::Fin);
        assert!(matches!(decide(2, 1, &mut rng, false, 0), Action::Req(_)));
        assert_eq!(decide(2, 2, &mut rng, false, 0), Action::Fin);
        assert_eq!(decide(2, 1, &mut rng, true, 0), Action::Fin);
        let ignored = (0..1000)
            .filter(|_| decide(3, 1, &mut rng, false, 0) == Action::Ignore)
            .count();
        assert!((100..300).contains(&ignored), "{ignored}");
        assert_eq!(rdy(1, false), 5);
        assert_eq!(rdy(1, true), 200);
    }
}
