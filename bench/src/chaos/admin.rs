//! Topic and channel administration during traffic, over nsqd's HTTP API:
//! delete, empty, pause/unpause, and (re)creating the checked channels,
//! each entered in the ledger (see [`crate::chaos::ledger`] for how a
//! delete or empty excuses the messages it may have removed).

use std::time::Duration;

use crate::chaos::clients::{http, HttpFail};
use crate::chaos::consumer::CHANNELS;
use crate::chaos::ctx::Ctx;
use crate::chaos::ledger::Removal;
use crate::chaos::schedule::{Fault, Target};

/// POST `path` to nsqd `nsqd`'s HTTP API; the status, or why none.
fn post(ctx: &Ctx, nsqd: usize, path: &str) -> Result<u16, HttpFail> {
    let addr = ctx.nsqd_http(nsqd);
    http(ctx, Target::Nsqd(nsqd), &addr, false, "POST", path, b"").map(|r| r.status)
}

/// Create a checked channel (and its topic); on success it counts as
/// existing from now.
pub fn create_channel(ctx: &Ctx, nsqd: usize, topic: usize, channel: usize) -> bool {
    if post(
        ctx,
        nsqd,
        &format!("/topic/create?topic={}", ctx.topics[topic]),
    ) != Ok(200)
    {
        return false;
    }
    let path = format!(
        "/channel/create?topic={}&channel={}",
        ctx.topics[topic], CHANNELS[channel]
    );
    if post(ctx, nsqd, &path) == Ok(200) {
        let now = ctx.ms();
        ctx.ledger().created(nsqd, topic, channel, now);
        true
    } else {
        false
    }
}

/// Create every checked channel of nsqd `nsqd`, retrying for up to
/// `within`; false if some could not be created.
pub fn create_all(ctx: &Ctx, nsqd: usize, within: Duration) -> bool {
    let deadline = std::time::Instant::now() + within;
    for t in 0..ctx.topics.len() {
        for c in 0..CHANNELS.len() {
            while !create_channel(ctx, nsqd, t, c) {
                if std::time::Instant::now() >= deadline {
                    return false;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
    true
}

/// Delete or empty; the removal is recorded unless the request never
/// reached nsqd. After a delete the channels are created again.
fn remove(ctx: &Ctx, nsqd: usize, topic: usize, channel: Option<usize>, what: Removal) {
    let verb = match what {
        Removal::Delete => "delete",
        Removal::Empty => "empty",
    };
    let path = match channel {
        Some(c) => format!(
            "/channel/{verb}?topic={}&channel={}",
            ctx.topics[topic], CHANNELS[c]
        ),
        None => format!("/topic/{verb}?topic={}", ctx.topics[topic]),
    };
    let r = post(ctx, nsqd, &path);
    if r == Err(HttpFail::NotSent) {
        return;
    }
    let end = ctx.ms();
    ctx.ledger().removed(nsqd, topic, channel, what, end);
    if let Ok(s) = r {
        if s != 200 {
            ctx.clock.event(&format!("nsqd{nsqd}: {path} answered {s}"));
        }
    }
    if what == Removal::Delete {
        let chans: Vec<usize> = match channel {
            Some(c) => vec![c],
            None => (0..CHANNELS.len()).collect(),
        };
        for c in chans {
            create_channel(ctx, nsqd, topic, c);
        }
    }
}

/// Pause, hold, unpause (retried: a paused channel left behind would hold
/// its messages; the end of the run unpauses everything anyway).
fn pause(ctx: &Ctx, nsqd: usize, topic: usize, channel: Option<usize>, hold: Duration) {
    let (kind, query) = match channel {
        Some(c) => (
            "channel",
            format!("topic={}&channel={}", ctx.topics[topic], CHANNELS[c]),
        ),
        None => ("topic", format!("topic={}", ctx.topics[topic])),
    };
    let path = |verb: &str| format!("/{kind}/{verb}?{query}");
    let _ = post(ctx, nsqd, &path("pause"));
    ctx.sleep(hold);
    for _ in 0..50 {
        if post(ctx, nsqd, &path("unpause")) == Ok(200) {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Unpause every checked topic and channel on every nsqd.
pub fn unpause_all(ctx: &Ctx) {
    for n in 0..ctx.cluster.nsqds.len() {
        for t in &ctx.topics {
            let _ = post(ctx, n, &format!("/topic/unpause?topic={t}"));
            for c in CHANNELS {
                let _ = post(ctx, n, &format!("/channel/unpause?topic={t}&channel={c}"));
            }
        }
    }
}

/// Run an admin fault.
pub fn run(ctx: &Ctx, f: &Fault) {
    match *f {
        Fault::TopicDelete { nsqd, topic } => remove(ctx, nsqd, topic, None, Removal::Delete),
        Fault::TopicEmpty { nsqd, topic } => remove(ctx, nsqd, topic, None, Removal::Empty),
        Fault::ChannelDelete {
            nsqd,
            topic,
            channel,
        } => remove(ctx, nsqd, topic, Some(channel), Removal::Delete),
        Fault::ChannelEmpty {
            nsqd,
            topic,
            channel,
        } => remove(ctx, nsqd, topic, Some(channel), Removal::Empty),
        Fault::TopicPause {
            nsqd,
            topic,
            hold_ms,
        } => pause(ctx, nsqd, topic, None, Duration::from_millis(hold_ms)),
        Fault::ChannelPause {
            nsqd,
            topic,
            channel,
            hold_ms,
        } => pause(
            ctx,
            nsqd,
            topic,
            Some(channel),
            Duration::from_millis(hold_ms),
        ),
        _ => {}
    }
}
