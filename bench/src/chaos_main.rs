//! The `nsq-chaos` binary: flags, then [`nsq_bench::chaos::run`]. Exit
//! status 0 only when the run passed (nothing lost, unanswered or corrupt,
//! no crash, bad exit or hang), 1 when it did not, 2 on a setup error.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use nsq_bench::chaos::{self, schedule, ChaosOpts};

/// Fault-injection harness for NSQ-compatible clusters: 2 nsqd + 1
/// nsqlookupd on loopback, producers and consumers, faults on a seeded
/// schedule; checks that every acknowledged message is delivered and every
/// request answered.
#[derive(Parser, Debug)]
#[command(name = "nsq-chaos", version, args_override_self = true)]
struct Cli {
    /// Seconds of faults (then the drain and the checks).
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seed of the fault schedule and the workload (printed; random if not given).
    #[arg(long)]
    seed: Option<u64>,
    /// nsqd binary (default: `nsqd` next to this binary).
    #[arg(long)]
    nsqd: Option<PathBuf>,
    /// nsqlookupd binary (default: `nsqlookupd` next to this binary).
    #[arg(long)]
    nsqlookupd: Option<PathBuf>,
    /// Number of nsqds.
    #[arg(long, default_value_t = 2)]
    nsqds: usize,
    /// Number of checked topics (each with channels fast, slow, requeue, timeout).
    #[arg(long, default_value_t = 2)]
    topics: usize,
    /// Sync mode: nsqd --sync-every=1 --mem-queue-size=0; every acknowledged
    /// message must then survive SIGKILL (default mode: only SIGTERM, and
    /// SIGKILL losses are reported apart).
    #[arg(long)]
    sync: bool,
    /// One more nsqd argument (repeatable), e.g. --nsqd-arg=--mem-queue-size=100.
    #[arg(long = "nsqd-arg", allow_hyphen_values = true)]
    nsqd_args: Vec<String>,
    /// Messages per second, all producers together.
    #[arg(long, default_value_t = 600.0)]
    rate: f64,
    /// Faults: all, none, or a comma-separated list of kill, term, stop,
    /// disk, malformed, stall, never-read, flood, delete, empty, pause.
    #[arg(long, default_value = "all")]
    faults: String,
    /// Mean seconds between two faults of a lane (process, clients, admin).
    #[arg(long, default_value_t = 3.0)]
    fault_interval: f64,
    /// Seconds within which every request must be answered (or its
    /// connection closed); time a daemon is stopped or flooded is not counted.
    #[arg(long, default_value_t = 10.0)]
    answer_timeout: f64,
    /// Open-file limit of the daemons (the flood fills it).
    #[arg(long, default_value_t = 1024)]
    daemon_fd_limit: u64,
    /// MiB of output kept per daemon (Go nsqd logs every failed accept of a
    /// flood: gigabytes in a long run); the rest is dropped.
    #[arg(long, default_value_t = 128)]
    daemon_log_mib: u64,
    /// Size in MiB of the tmpfs holding the last nsqd's data (full-disk fault).
    #[arg(long, default_value_t = 1024)]
    tmpfs_mib: u64,
    /// No tmpfs: the full-disk fault is disabled (and says so).
    #[arg(long)]
    no_tmpfs: bool,
    /// End the drain after this many seconds without progress.
    #[arg(long, default_value_t = 30.0)]
    drain_idle: f64,
    /// End the drain after this many seconds in any case.
    #[arg(long, default_value_t = 600.0)]
    drain_max: f64,
    /// Where the run directory (logs, data, report) is made.
    #[arg(long, default_value_os_t = std::env::temp_dir())]
    dir: PathBuf,
    /// Keep the run directory when the run passed (it is always kept when not).
    #[arg(long)]
    keep: bool,
    /// Print the fault schedule for the seed and exit.
    #[arg(long)]
    print_schedule: bool,
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join(name)))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn main() {
    let cli = Cli::parse();
    let faults = match schedule::parse_kinds(&cli.faults) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("nsq-chaos: --faults: {e}");
            std::process::exit(2);
        }
    };
    let opts = ChaosOpts {
        duration: secs(cli.duration),
        seed: cli.seed,
        nsqd: cli.nsqd.unwrap_or_else(|| sibling("nsqd")),
        lookupd: cli.nsqlookupd.unwrap_or_else(|| sibling("nsqlookupd")),
        nsqds: cli.nsqds,
        topics: cli.topics,
        sync: cli.sync,
        nsqd_args: cli.nsqd_args,
        rate: cli.rate,
        faults,
        fault_interval: secs(cli.fault_interval),
        answer_timeout: secs(cli.answer_timeout),
        fd_limit: cli.daemon_fd_limit,
        log_cap: cli.daemon_log_mib << 20,
        tmpfs_mib: (!cli.no_tmpfs).then_some(cli.tmpfs_mib),
        drain_idle: secs(cli.drain_idle),
        drain_max: secs(cli.drain_max),
        dir: cli.dir,
        keep: cli.keep,
        print_schedule: cli.print_schedule,
        argv: std::env::args().collect(),
    };
    match chaos::run(opts) {
        Ok(true) => {}
        Ok(false) => std::process::exit(1),
        Err(e) => {
            eprintln!("nsq-chaos: {e}");
            std::process::exit(2);
        }
    }
}
