//! `nsq-chaos`: a fault-injection harness for NSQ-compatible clusters.
//!
//! It starts 2 nsqd and 1 nsqlookupd (any binaries: ours or Go NSQ's) on
//! loopback with temporary data directories, runs producers (V2 PUB, MPUB,
//! DPUB with TLS/snappy/deflate mixed in; HTTP `/pub`; HTTPS `/mpub`) and
//! consumers on four channels per topic with different manners, and
//! injects faults on a seeded schedule: SIGKILL, SIGTERM, SIGSTOP of every
//! daemon with restarts on the same data directory, a full disk, hostile
//! and stalled and never-reading clients, connection floods, topic and
//! channel delete/empty/pause. Then it drains and checks that every
//! acknowledged message was delivered on every channel that had to deliver
//! it, and that every request was answered.
//!
//! * [`schedule`] (+ [`rng`]): the replayable plan; [`ledger`] (+ [`body`]):
//!   the checker; both pure and unit-tested.
//! * [`cluster`]: the daemons; [`watch`]: the answer watchdog;
//!   [`clients`], [`producer`], [`consumer`]: the workload; [`faults`],
//!   [`hostile`], [`admin`]: the faults; [`report`]: the verdict.

pub mod admin;
pub mod body;
pub mod clients;
pub mod clock;
pub mod cluster;
pub mod consumer;
pub mod ctx;
pub mod faults;
pub mod hostile;
pub mod ledger;
pub mod producer;
pub mod report;
pub mod rng;
pub mod schedule;
pub mod watch;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use clock::Clock;
use cluster::{Cause, Cluster, Daemon, SmallDisk, Spawner, Spec};
use consumer::CHANNELS;
use ctx::{Counters, Ctx, Settings};
use ledger::Ledger;
use schedule::{Kind, Lane, Mix, Target};
use watch::Tracker;

/// Options of a run.
#[derive(Debug, Clone)]
pub struct ChaosOpts {
    /// How long faults are injected.
    pub duration: Duration,
    /// The seed (random if `None`).
    pub seed: Option<u64>,
    /// nsqd binary.
    pub nsqd: PathBuf,
    /// nsqlookupd binary.
    pub lookupd: PathBuf,
    /// Number of nsqds.
    pub nsqds: usize,
    /// Checked topics.
    pub topics: usize,
    /// `--sync-every=1 --mem-queue-size=0`: acknowledged messages must
    /// survive SIGKILL.
    pub sync: bool,
    /// More nsqd arguments.
    pub nsqd_args: Vec<String>,
    /// Messages per second, all producers together.
    pub rate: f64,
    /// Enabled faults.
    pub faults: Vec<Kind>,
    /// Mean pause between two faults of a lane.
    pub fault_interval: Duration,
    /// An answer must come within this.
    pub answer_timeout: Duration,
    /// The daemons' open-file limit (the flood fills it).
    pub fd_limit: u64,
    /// Output kept per daemon (all its processes), bytes.
    pub log_cap: u64,
    /// Size of the tmpfs for the full-disk fault (MiB); `None`: no tmpfs.
    pub tmpfs_mib: Option<u64>,
    /// End the drain after this long without progress.
    pub drain_idle: Duration,
    /// End the drain after this long in any case.
    pub drain_max: Duration,
    /// Where the run directory goes.
    pub dir: PathBuf,
    /// Keep the run directory even when the run passed.
    pub keep: bool,
    /// Print the schedule and exit.
    pub print_schedule: bool,
    /// The command line, for the replay hint.
    pub argv: Vec<String>,
}

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_sigint(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

fn random_seed() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    rng::Rng::new(t ^ ((std::process::id() as u64) << 32)).next_u64() % 1_000_000_000
}

fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], nsq_test_support::free_port("127.0.0.1")))
}

fn config_err(e: impl std::fmt::Display) -> BenchError {
    BenchError::Config(e.to_string())
}

/// The replay command: the same arguments with `--seed`.
fn replay_command(argv: &[String], seed: u64) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut skip = false;
    for a in argv {
        if skip {
            skip = false;
            continue;
        }
        if a == "--seed" {
            skip = true;
            continue;
        }
        if a.starts_with("--seed=") || a == "--print-schedule" {
            continue;
        }
        out.push(a.clone());
    }
    out.push(format!("--seed={seed}"));
    out.join(" ")
}

/// Run the harness; `Ok(true)` if the run passed.
pub fn run(opts: ChaosOpts) -> Result<bool, BenchError> {
    let seed = opts.seed.unwrap_or_else(random_seed);
    println!(
        "chaos: seed {seed} (replay: {})",
        replay_command(&opts.argv, seed)
    );
    let run_dir = opts
        .dir
        .join(format!("nsq-chaos-{seed}-{}", std::process::id()));
    let disk_nsqd = opts.nsqds.checked_sub(1);
    let mut mix = Mix {
        kinds: opts.faults.clone(),
        interval_ms: opts.fault_interval.as_millis() as u64,
        warmup_ms: 3000,
        nsqds: opts.nsqds,
        topics: opts.topics,
        channels: CHANNELS.len(),
        disk_nsqd: None,
        lookupd: true,
    };
    let duration_ms = opts.duration.as_millis() as u64;
    if opts.print_schedule {
        mix.disk_nsqd = disk_nsqd;
        for s in schedule::plan(seed, duration_ms, &mix) {
            println!("{s}");
        }
        return Ok(true);
    }
    if opts.nsqds == 0 || opts.topics == 0 {
        return Err(config_err("--nsqds and --topics must be at least 1"));
    }
    // SAFETY: installing a handler that only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_sigint as *const () as libc::sighandler_t);
    }
    nsq_test_support::process::raise_memlock();
    nsq_test_support::process::raise_nofile();
    std::fs::create_dir_all(&run_dir)
        .map_err(|e| config_err(format!("{}: {e}", run_dir.display())))?;
    let events = std::fs::File::create(run_dir.join("events.log")).ok();
    let clock = Arc::new(Clock::new(events, false));
    clock.event(&format!(
        "run directory {} (daemon logs, events.log, schedule.txt, report.txt, samples.csv)",
        run_dir.display()
    ));

    // The full disk needs a small file system of its own.
    let mut disk = None;
    if opts.faults.contains(&Kind::Disk) {
        match (opts.tmpfs_mib, disk_nsqd) {
            (Some(mib), Some(n)) => {
                match SmallDisk::mount(&run_dir.join(format!("nsqd{n}-disk")), mib) {
                    Ok(d) => {
                        mix.disk_nsqd = Some(n);
                        disk = Some(d);
                    }
                    Err(why) => println!(
                        "chaos: FULL-DISK FAULT DISABLED: {why} (it needs root and a tmpfs mount)"
                    ),
                }
            }
            _ => println!("chaos: FULL-DISK FAULT DISABLED: --no-tmpfs"),
        }
    }
    let steps = schedule::plan(seed, duration_ms, &mix);
    let text: Vec<String> = steps.iter().map(|s| s.to_string()).collect();
    let _ = std::fs::write(run_dir.join("schedule.txt"), text.join("\n") + "\n");

    let pki = nsq_test_support::pki::Pki::new("nsq-chaos CA", "nsq-chaos-client");
    let mut lookupd_spec = Spec {
        name: "nsqlookupd".into(),
        bin: opts.lookupd.clone(),
        args: Vec::new(),
        tcp: free_addr(),
        http: free_addr(),
        https: None,
        log: run_dir.join("nsqlookupd.log"),
        log_cap: opts.log_cap,
        fd_limit: opts.fd_limit,
    };
    lookupd_spec.args = vec![
        format!("--tcp-address={}", lookupd_spec.tcp),
        format!("--http-address={}", lookupd_spec.http),
        "--broadcast-address=127.0.0.1".into(),
    ];
    let mut nsqds = Vec::new();
    for i in 0..opts.nsqds {
        let data = match (&disk, disk_nsqd) {
            (Some(d), Some(n)) if n == i => d.mount.join("data"),
            _ => run_dir.join(format!("nsqd{i}-data")),
        };
        std::fs::create_dir_all(&data)
            .map_err(|e| config_err(format!("{}: {e}", data.display())))?;
        let (tcp, http, https) = (free_addr(), free_addr(), free_addr());
        let mut args = vec![
            format!("--tcp-address={tcp}"),
            format!("--http-address={http}"),
            format!("--https-address={https}"),
            format!("--data-path={}", data.display()),
            "--broadcast-address=127.0.0.1".into(),
            format!("--lookupd-tcp-address={}", lookupd_spec.tcp),
            "--max-bytes-per-file=4194304".into(),
        ];
        args.extend(pki.server_flags());
        if opts.sync {
            args.push("--sync-every=1".into());
            args.push("--mem-queue-size=0".into());
        }
        args.extend(opts.nsqd_args.iter().cloned());
        nsqds.push(Arc::new(Daemon::new(Spec {
            name: format!("nsqd{i}"),
            bin: opts.nsqd.clone(),
            args,
            tcp,
            http,
            https: Some(https),
            log: run_dir.join(format!("nsqd{i}.log")),
            log_cap: opts.log_cap,
            fd_limit: opts.fd_limit,
        })));
    }
    let cluster = Arc::new(Cluster {
        nsqds,
        lookupd: Some(Arc::new(Daemon::new(lookupd_spec))),
        spawner: Spawner::new(),
    });
    let tracker = Arc::new(Tracker::new(
        clock.clone(),
        cluster.clone(),
        opts.answer_timeout,
    ));
    let https = nsq_tools::client::transport::client_config(&nsq_tools::client::Config {
        tls_root_ca_file: Some(pki.path("ca.pem")),
        ..nsq_tools::client::Config::default()
    })
    .map_err(config_err)?;
    let topics: Vec<String> = (0..opts.topics).map(|i| format!("chaos-t{i}")).collect();
    let ctx = Arc::new(Ctx {
        settings: Settings {
            seed,
            rate: opts.rate,
            sync_mode: opts.sync,
            msg_timeout: Duration::from_secs(3),
            heartbeat: Duration::from_secs(2),
            max_payload: 64 * 1024,
        },
        clock: clock.clone(),
        cluster: cluster.clone(),
        tracker,
        ledger: Mutex::new(Ledger::new(
            opts.sync,
            opts.nsqds,
            opts.topics,
            CHANNELS.len(),
        )),
        topics: topics.clone(),
        channels: CHANNELS.iter().map(|s| s.to_string()).collect(),
        ca_file: PathBuf::from(pki.path("ca.pem")),
        https,
        disk,
        stop_producers: AtomicBool::new(false),
        stop_all: AtomicBool::new(false),
        draining: AtomicBool::new(false),
        counters: Counters::default(),
    });

    // Start the cluster.
    let abort = |why: String| {
        for d in cluster.all() {
            d.kill(&clock);
        }
        config_err(why)
    };
    for d in cluster.all() {
        d.start(&clock, &cluster.spawner, Duration::from_secs(60))
            .map_err(abort)?;
        clock.event(&format!(
            "{} up: pid {} tcp {} http {}",
            d.spec.name,
            d.pid().unwrap_or(0),
            d.spec.tcp,
            d.spec.http
        ));
    }
    for i in 0..opts.nsqds {
        if !admin::create_all(&ctx, i, Duration::from_secs(30)) {
            return Err(abort(format!("nsqd{i}: could not create the channels")));
        }
    }
    clock.event(&format!(
        "{} faults planned over {} s (schedule.txt); {} msg/s over {} producers, {} consumers; {} mode",
        steps.len(),
        opts.duration.as_secs(),
        opts.rate,
        opts.nsqds * producer::Kind::ALL.len(),
        opts.nsqds * opts.topics * CHANNELS.len(),
        if opts.sync { "sync" } else { "default" }
    ));

    let spawn = |name: String, f: Box<dyn FnOnce() + Send>| -> JoinHandle<()> {
        std::thread::Builder::new()
            .name(name)
            .spawn(f)
            .expect("spawn thread")
    };
    let mut background = Vec::new();
    {
        let c = ctx.clone();
        background.push(spawn(
            "monitor".into(),
            Box::new(move || faults::monitor(c)),
        ));
        let c = ctx.clone();
        background.push(spawn(
            "watchdog".into(),
            Box::new(move || faults::watchdog(c)),
        ));
        let c = ctx.clone();
        background.push(spawn("poller".into(), Box::new(move || poll_http(c))));
    }
    let mut consumers = Vec::new();
    let mut stream = 100u64;
    for n in 0..opts.nsqds {
        for t in 0..opts.topics {
            for ch in 0..CHANNELS.len() {
                let c = ctx.clone();
                stream += 1;
                let s = stream;
                consumers.push(spawn(
                    format!("c{n}-{t}-{ch}"),
                    Box::new(move || consumer::run(c, n, t, ch, s)),
                ));
            }
        }
    }
    let mut producers = Vec::new();
    let share = 1.0 / (opts.nsqds * producer::Kind::ALL.len()) as f64;
    for n in 0..opts.nsqds {
        for k in producer::Kind::ALL {
            let c = ctx.clone();
            stream += 1;
            let s = stream;
            producers.push(spawn(
                format!("p{n}-{k:?}"),
                Box::new(move || producer::run(c, n, k, s, share)),
            ));
        }
    }
    let lane_stop = Arc::new(AtomicBool::new(false));
    let mut lanes = Vec::new();
    for lane in Lane::ALL {
        let mine: Vec<_> = steps.iter().filter(|s| s.lane == lane).cloned().collect();
        let (c, stop) = (ctx.clone(), lane_stop.clone());
        lanes.push(spawn(
            format!("lane-{}", lane.name()),
            Box::new(move || faults::run_lane(c, mine, stop)),
        ));
    }

    // The run.
    let end = Instant::now() + opts.duration;
    let mut next_progress = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end && !INTERRUPTED.load(Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(100));
        if Instant::now() >= next_progress {
            next_progress += Duration::from_secs(10);
            progress(&ctx, "running");
        }
    }
    if INTERRUPTED.load(Ordering::Relaxed) {
        clock.event("interrupted: stopping the faults and draining (Ctrl-C again to abort)");
        // SAFETY: restoring the default disposition.
        unsafe {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
        }
    }
    clock.event("faults stop; waiting for the lanes to finish their step");
    lane_stop.store(true, Ordering::Relaxed);
    for h in lanes {
        let _ = h.join();
    }
    for (i, d) in cluster.nsqds.iter().enumerate() {
        if !d.running() {
            faults::restart(&ctx, Target::Nsqd(i));
        }
    }
    if let Some(l) = &cluster.lookupd {
        if !l.running() {
            faults::restart(&ctx, Target::Lookupd);
        }
    }
    admin::unpause_all(&ctx);
    clock.event("producers stop");
    ctx.stop_producers.store(true, Ordering::Relaxed);
    for h in producers {
        let _ = h.join();
    }
    clock.event("draining: consumers finish everything");
    ctx.draining.store(true, Ordering::Relaxed);
    drain(&ctx, opts.drain_idle, opts.drain_max);
    let queued = queued_at_nsqds(&ctx);
    ctx.stop_all.store(true, Ordering::Relaxed);
    for h in consumers.into_iter().chain(background) {
        let _ = h.join();
    }
    clock.event("stopping the daemons (SIGTERM)");
    for d in cluster.nsqds.iter().chain(cluster.lookupd.iter()) {
        if let Err(why) = d.terminate(&clock, Duration::from_secs(60), Cause::Shutdown) {
            clock.event(&format!("HUNG {why}"));
            ctx.counters.hung_shutdowns.fetch_add(1, Ordering::Relaxed);
            ctx.counters.note(why);
        }
    }

    let facts = report::Facts {
        queued_at_end: queued,
        ..facts(&ctx, seed)
    };
    write_samples(&run_dir.join("samples.csv"), &facts);
    let text = facts.render();
    print!("{text}");
    let _ = std::fs::write(
        run_dir.join("report.txt"),
        format!("{text}\n{}\n", facts.summary_line()),
    );
    let passed = facts.passed();
    drop(ctx);
    drop(pki);
    if passed && !opts.keep {
        let _ = std::fs::remove_dir_all(&run_dir);
    } else {
        println!("chaos: run directory kept: {}", run_dir.display());
    }
    println!("{}", facts.summary_line());
    Ok(passed)
}

/// A progress line.
fn progress(ctx: &Ctx, phase: &str) {
    let v = ctx.ledger().verdict();
    let a = ctx.tracker.summary();
    let faults: u64 = ctx
        .counters
        .faults
        .lock()
        .map(|m| m.values().sum())
        .unwrap_or(0);
    ctx.clock.event(&format!(
        "{phase}: acked {} delivered {} owed {} unanswered {} faults {}",
        v.acked, v.delivered, v.pending_pairs, a.unanswered, faults
    ));
}

/// Wait until every owed delivery happened, or nothing moved for `idle`
/// (10 s when only expected losses are left), or `max` passed.
fn drain(ctx: &Ctx, idle: Duration, max: Duration) {
    let start = Instant::now();
    let mut last = u64::MAX;
    let mut since = Instant::now();
    loop {
        std::thread::sleep(Duration::from_secs(2));
        let v = ctx.ledger().verdict();
        if v.pending_pairs == 0 {
            ctx.clock.event("drained: nothing owed");
            return;
        }
        if v.pending_pairs != last {
            last = v.pending_pairs;
            since = Instant::now();
            progress(ctx, "draining");
        }
        // Only losses this mode expects are left: they are not coming.
        let idle = if v.pending_pairs == v.pending_expected {
            idle.min(Duration::from_secs(10))
        } else {
            idle
        };
        if since.elapsed() >= idle || start.elapsed() >= max {
            ctx.clock.event(&format!(
                "drain ends with {} (message, channel) pairs owed",
                v.pending_pairs
            ));
            return;
        }
    }
}

/// Messages the nsqds still hold on the checked channels (depth, in flight,
/// deferred, from `/stats`): owed but not delivered when the drain ended is
/// not necessarily lost. `None` if an nsqd did not answer.
fn queued_at_nsqds(ctx: &Ctx) -> Option<u64> {
    let mut total = 0;
    for n in 0..ctx.cluster.nsqds.len() {
        let r = clients::http(
            ctx,
            Target::Nsqd(n),
            &ctx.nsqd_http(n),
            false,
            "GET",
            "/stats?format=json",
            b"",
        )
        .ok()?;
        let v: serde_json::Value = serde_json::from_slice(&r.body).ok()?;
        // NSQ 1.x answers the stats at the top level (older ones under "data").
        let topics = v.get("topics").or_else(|| v.pointer("/data/topics"))?;
        for t in topics.as_array()? {
            if !ctx.topics.iter().any(|x| t["topic_name"] == x.as_str()) {
                continue;
            }
            for c in t["channels"].as_array().into_iter().flatten() {
                if !CHANNELS.iter().any(|x| c["channel_name"] == *x) {
                    continue;
                }
                for k in ["depth", "in_flight_count", "deferred_count"] {
                    total += c[k].as_u64().unwrap_or(0);
                }
            }
        }
    }
    Some(total)
}

/// HTTP traffic besides publishing: lookupd `/lookup`, nsqd `/stats`.
fn poll_http(ctx: Arc<Ctx>) {
    let mut i = 0usize;
    while !ctx.stopping() {
        if let Some(l) = &ctx.cluster.lookupd {
            let topic = &ctx.topics[i % ctx.topics.len()];
            let _ = clients::http(
                &ctx,
                Target::Lookupd,
                &l.spec.http.to_string(),
                false,
                "GET",
                &format!("/lookup?topic={topic}"),
                b"",
            );
        }
        let n = i % ctx.cluster.nsqds.len();
        let _ = clients::http(
            &ctx,
            Target::Nsqd(n),
            &ctx.nsqd_http(n),
            false,
            "GET",
            "/stats?format=json",
            b"",
        );
        i += 1;
        ctx.sleep(Duration::from_secs(2));
    }
}

/// Every `/proc` sample: `daemon,pid,ms,rss_kib,fds`.
fn write_samples(path: &std::path::Path, facts: &report::Facts) {
    let mut out = String::from("daemon,pid,ms,rss_kib,fds\n");
    for (name, lives) in &facts.daemons {
        for l in lives {
            for x in &l.samples {
                out.push_str(&format!(
                    "{name},{},{},{},{}\n",
                    l.pid, x.ms, x.rss_kib, x.fds
                ));
            }
        }
    }
    let _ = std::fs::write(path, out);
}

fn facts(ctx: &Ctx, seed: u64) -> report::Facts {
    let (verdict, bad) = {
        let mut l = ctx.ledger();
        let bad: Vec<String> = l.bad_examples().iter().map(|b| format!("{b:?}")).collect();
        (l.verdict(), bad)
    };
    let take = |m: &Mutex<std::collections::BTreeMap<String, u64>>| {
        m.lock().map(|m| m.clone()).unwrap_or_default()
    };
    report::Facts {
        seed,
        verdict,
        answers: ctx.tracker.summary(),
        daemons: ctx
            .cluster
            .all()
            .iter()
            .map(|d| (d.spec.name.clone(), d.lives()))
            .collect(),
        faults: ctx
            .counters
            .faults
            .lock()
            .map(|m| m.clone())
            .unwrap_or_default(),
        pub_errors: take(&ctx.counters.pub_errors),
        sub_errors: take(&ctx.counters.sub_errors),
        restart_failures: ctx.counters.restart_failures.load(Ordering::Relaxed),
        hung: ctx.counters.hung_shutdowns.load(Ordering::Relaxed),
        disk_stuck: ctx.counters.disk_stuck.load(Ordering::Relaxed),
        bad_bodies: bad,
        notes: ctx
            .counters
            .notes
            .lock()
            .map(|n| n.clone())
            .unwrap_or_default(),
        topics: ctx.topics.clone(),
        channels: ctx.channels.clone(),
        sync_mode: ctx.settings.sync_mode,
        queued_at_end: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replay_command_replaces_the_seed() {
        let argv: Vec<String> = ["nsq-chaos", "--duration", "60", "--seed", "5", "--sync"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(
            replay_command(&argv, 9),
            "nsq-chaos --duration 60 --sync --seed=9"
        );
    }
}
