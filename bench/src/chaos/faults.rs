//! Running the schedule: one thread per lane walks its steps in order;
//! the process faults (signals, restarts, the full disk) live here, the
//! others in [`crate::chaos::hostile`] and [`crate::chaos::admin`]. Also
//! the monitor: unexpected exits (reaped and restarted) and the `/proc`
//! samples.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::chaos::admin;
use crate::chaos::clients::http;
use crate::chaos::cluster::{Cause, Daemon};
use crate::chaos::ctx::Ctx;
use crate::chaos::hostile;
use crate::chaos::rng::Rng;
use crate::chaos::schedule::{Fault, Step, Target};

/// How long a daemon may take to come back.
const START_WITHIN: Duration = Duration::from_secs(60);
/// How long a SIGTERM may take.
const TERM_WITHIN: Duration = Duration::from_secs(30);

fn kind_name(f: &Fault) -> &'static str {
    match f {
        Fault::Kill { .. } => "kill",
        Fault::Term { .. } => "term",
        Fault::Stop { .. } => "stop",
        Fault::DiskFull { .. } => "disk",
        Fault::Malformed { .. } => "malformed",
        Fault::Stall { .. } => "stall",
        Fault::NeverRead { .. } => "never-read",
        Fault::Flood { .. } => "flood",
        Fault::TopicDelete { .. } | Fault::ChannelDelete { .. } => "delete",
        Fault::TopicEmpty { .. } | Fault::ChannelEmpty { .. } => "empty",
        Fault::TopicPause { .. } | Fault::ChannelPause { .. } => "pause",
    }
}

/// Walk one lane's steps until they are done or `stop` is set.
pub fn run_lane(ctx: Arc<Ctx>, steps: Vec<Step>, stop: Arc<AtomicBool>) {
    let mut rng = Rng::derive(ctx.settings.seed, 0x1a9e);
    for step in steps {
        while ctx.ms() < step.at_ms {
            if stop.load(Ordering::Relaxed) || ctx.stopping() {
                return;
            }
            std::thread::sleep(
                Duration::from_millis(20)
                    .min(Duration::from_millis(step.at_ms.saturating_sub(ctx.ms()))),
            );
        }
        if stop.load(Ordering::Relaxed) || ctx.stopping() {
            return;
        }
        ctx.clock
            .event(&format!("fault {}: {}", step.lane.name(), step.fault));
        ctx.counters.fault(kind_name(&step.fault));
        execute(&ctx, &step.fault, &mut rng);
    }
}

fn execute(ctx: &Arc<Ctx>, f: &Fault, rng: &mut Rng) {
    match *f {
        Fault::Kill { target, down_ms } => {
            let Some(d) = ctx.cluster.daemon(target) else {
                return;
            };
            let exit = d.kill(&ctx.clock);
            let at = exit.as_ref().map_or(ctx.ms(), |e| e.ms);
            if let Target::Nsqd(i) = target {
                ctx.ledger().killed(i, at);
            }
            if let Some(e) = exit {
                ctx.clock.detail(&format!("{target}: {}", e.status));
            }
            ctx.sleep(Duration::from_millis(down_ms));
            restart(ctx, target);
        }
        Fault::Term { target, down_ms } => {
            let Some(d) = ctx.cluster.daemon(target) else {
                return;
            };
            match d.terminate(&ctx.clock, TERM_WITHIN, Cause::Terminated) {
                Ok(e) if e.ok => {}
                Ok(e) => {
                    ctx.clock
                        .event(&format!("BAD EXIT {target} after SIGTERM: {}", e.status));
                }
                Err(why) => {
                    ctx.clock.event(&format!("HUNG {why}"));
                    ctx.counters.hung_shutdowns.fetch_add(1, Ordering::Relaxed);
                    ctx.counters.note(why);
                    if let Target::Nsqd(i) = target {
                        ctx.ledger().killed(i, ctx.ms());
                    }
                }
            }
            ctx.sleep(Duration::from_millis(down_ms));
            restart(ctx, target);
        }
        Fault::Stop { target, hold_ms } => {
            let Some(d) = ctx.cluster.daemon(target) else {
                return;
            };
            if d.stop(&ctx.clock) {
                ctx.sleep(Duration::from_millis(hold_ms));
                d.cont(&ctx.clock, Duration::from_secs(1));
            }
        }
        Fault::DiskFull { nsqd, hold_ms } => disk_full(ctx, nsqd, Duration::from_millis(hold_ms)),
        Fault::Malformed {
            listener,
            probes,
            seed,
        } => hostile::malformed(ctx, listener, probes, seed),
        Fault::Stall {
            listener,
            conns,
            hold_ms,
        } => hostile::stall(ctx, listener, conns, Duration::from_millis(hold_ms)),
        Fault::NeverRead {
            nsqd,
            conns,
            hold_ms,
        } => hostile::never_read(ctx, nsqd, conns, Duration::from_millis(hold_ms), rng),
        Fault::Flood { target, hold_ms } => {
            hostile::flood(ctx, target, Duration::from_millis(hold_ms))
        }
        _ => admin::run(ctx, f),
    }
}

/// Start a daemon again (same data directory) until it answers; nsqd's
/// checked channels are created again (a SIGKILL in default mode may
/// have taken them).
pub fn restart(ctx: &Ctx, target: Target) {
    let Some(d) = ctx.cluster.daemon(target) else {
        return;
    };
    loop {
        match d.start(&ctx.clock, &ctx.cluster.spawner, START_WITHIN) {
            Ok(()) => break,
            Err(why) => {
                ctx.clock.event(&format!("RESTART FAILED {why}"));
                ctx.counters
                    .restart_failures
                    .fetch_add(1, Ordering::Relaxed);
                ctx.counters.note(why);
                if ctx.stopping() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(2));
            }
        }
    }
    if let Target::Nsqd(i) = target {
        admin::create_all(ctx, i, Duration::from_secs(10));
    }
}

/// The mem-queue-size nsqd runs with (from its arguments; NSQ's default).
fn mem_queue_size(d: &Daemon) -> u64 {
    d.spec
        .args
        .iter()
        .find_map(|a| a.strip_prefix("--mem-queue-size="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000)
}

/// Fill nsqd's file system, hold, free it; it must be healthy again within
/// 30 s without a restart. In default mode a burst of more messages than
/// the memory queue holds makes nsqd write (health follows writes).
fn disk_full(ctx: &Arc<Ctx>, nsqd: usize, hold: Duration) {
    let Some(disk) = ctx.disk.as_ref() else {
        return;
    };
    match disk.fill() {
        Ok(n) => ctx
            .clock
            .detail(&format!("nsqd{nsqd}: disk filled with {} MiB", n >> 20)),
        Err(e) => ctx.clock.event(&format!("disk fill failed: {e}")),
    }
    ctx.sleep(hold);
    if let Err(e) = disk.free() {
        ctx.clock.event(&format!("disk free failed: {e}"));
    }
    ctx.ledger().disk_full(nsqd, ctx.ms());
    let d = &ctx.cluster.nsqds[nsqd];
    let addr = d.spec.http.to_string();
    let probe_topic = "chaos-disk-probe";
    let burst = mem_queue_size(d) + 100;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !ctx.stopping() {
        if burst > 100 && burst < 1_000_000 {
            // Binary MPUB of `burst` one-byte messages to a topic without
            // channels: more than memory holds, so some go to disk.
            let mut body = (burst as u32).to_be_bytes().to_vec();
            for _ in 0..burst {
                body.extend_from_slice(&[0, 0, 0, 1, b'p']);
            }
            let path = format!("/mpub?topic={probe_topic}&binary=true");
            let _ = http(ctx, Target::Nsqd(nsqd), &addr, false, "POST", &path, &body);
        }
        let ok = http(ctx, Target::Nsqd(nsqd), &addr, false, "GET", "/ping", b"")
            .is_ok_and(|r| r.status == 200);
        if ok {
            let path = format!("/topic/delete?topic={probe_topic}");
            let _ = http(ctx, Target::Nsqd(nsqd), &addr, false, "POST", &path, b"");
            return;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    if ctx.stopping() {
        return;
    }
    let why = format!("nsqd{nsqd}: /ping not OK 30 s after its disk was freed");
    ctx.clock.event(&format!("DISK STUCK {why}"));
    ctx.counters.disk_stuck.fetch_add(1, Ordering::Relaxed);
    ctx.counters.note(why);
}

/// Reap unexpected exits (and restart), sample `/proc` once a second, until
/// everything stops.
pub fn monitor(ctx: Arc<Ctx>) {
    let mut last_sample = 0;
    while !ctx.stopping() {
        for (i, d) in ctx.cluster.all().iter().enumerate() {
            if let Some(e) = d.reap(&ctx.clock) {
                ctx.clock.event(&format!(
                    "UNEXPECTED EXIT {}: {}; see {}",
                    d.spec.name,
                    e.status,
                    d.spec.log.display()
                ));
                let target = if ctx.cluster.lookupd.is_some() && i == 0 {
                    Target::Lookupd
                } else {
                    let n = i - ctx.cluster.lookupd.is_some() as usize;
                    ctx.ledger().killed(n, e.ms);
                    Target::Nsqd(n)
                };
                restart(&ctx, target);
            }
        }
        if ctx.ms() >= last_sample + 1000 {
            last_sample = ctx.ms();
            for d in ctx.cluster.all() {
                d.sample(&ctx.clock);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The watchdog: a pass every 100 ms until everything stops.
pub fn watchdog(ctx: Arc<Ctx>) {
    while !ctx.stopping() {
        ctx.tracker.check();
        std::thread::sleep(Duration::from_millis(100));
    }
}
