//! The `nsq-bench` binary: flags, dispatch to a mode, print the table,
//! write the JSON.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use nsq_bench::error::BenchError;
use nsq_bench::modes::conns::{run_conns, ConnsOpts};
use nsq_bench::modes::fill::{run_fill, FillOpts};
use nsq_bench::modes::latency::{run_latency, run_sweep, LatencyOpts};
use nsq_bench::modes::many::{run_many, ManyOpts};
use nsq_bench::modes::throughput::{run_flow, run_pub, run_sub, PubOpts, SubOpts};
use nsq_bench::modes::Common;

/// Load generator for NSQ-compatible brokers.
#[derive(Parser, Debug)]
#[command(name = "nsq-bench", version, args_override_self = true)]
struct Cli {
    /// Broker TCP address.
    #[arg(long, global = true, default_value = "127.0.0.1:4150")]
    addr: String,
    /// Message body size in bytes (min 24: the bench's timestamps).
    #[arg(long, global = true, default_value_t = 200)]
    size: usize,
    /// Warm-up seconds, excluded from every figure.
    #[arg(long, global = true, default_value_t = 1.0)]
    warmup: f64,
    /// Measured seconds.
    #[arg(long, global = true, default_value_t = 5.0)]
    duration: f64,
    /// Broker PID: CPU seconds, CPU-us per message and RSS from /proc.
    #[arg(long, global = true)]
    broker_pid: Option<u32>,
    /// Count the broker's system calls per message with `perf stat`
    /// (needs --broker-pid and perf; wake-ups and context switches are
    /// always reported with --broker-pid).
    #[arg(long, global = true)]
    count_syscalls: bool,
    /// Topic (default: a fresh name per run).
    #[arg(long, global = true)]
    topic: Option<String>,
    /// Write the JSON report here.
    #[arg(long, global = true)]
    json: Option<PathBuf>,
    #[command(subcommand)]
    mode: Mode,
}

#[derive(Args, Debug, Clone)]
struct PubArgs {
    /// Publishing connections.
    #[arg(long = "pub-conns", default_value_t = 2)]
    pub_conns: usize,
    /// Messages per MPUB (1 = PUB).
    #[arg(long, default_value_t = 200)]
    batch: usize,
}

/// A consumer's IDENTIFY output buffer settings.
#[derive(Args, Debug, Clone)]
struct OutputBufferArgs {
    /// IDENTIFY output_buffer_size (-1 = unbuffered); default: no IDENTIFY.
    #[arg(long, allow_hyphen_values = true)]
    output_buffer_size: Option<i64>,
    /// IDENTIFY output_buffer_timeout in ms; default: no IDENTIFY.
    #[arg(long)]
    output_buffer_timeout_ms: Option<i64>,
}

impl OutputBufferArgs {
    /// (size, timeout in ms), as the consumer takes them.
    fn pair(&self) -> (Option<i64>, Option<i64>) {
        (self.output_buffer_size, self.output_buffer_timeout_ms)
    }
}

#[derive(Args, Debug, Clone)]
struct SubArgs {
    /// Consuming connections (per channel).
    #[arg(long = "sub-conns", default_value_t = 2)]
    sub_conns: usize,
    /// RDY per consuming connection.
    #[arg(long, default_value_t = 2500)]
    rdy: u64,
    #[command(flatten)]
    output_buffer: OutputBufferArgs,
}

#[derive(Args, Debug, Clone)]
struct LatArgs {
    /// Target publish rate, messages per second.
    #[arg(long, default_value_t = 1000.0)]
    rate: f64,
    /// Publishing connections (the rate is split between them).
    #[arg(long = "pub-conns", default_value_t = 1)]
    pub_conns: usize,
    /// Consumer RDY.
    #[arg(long, default_value_t = 2500)]
    rdy: u64,
    #[command(flatten)]
    output_buffer: OutputBufferArgs,
    /// Busy-wait this many microseconds before each scheduled send (precision vs CPU).
    #[arg(long, default_value_t = 0)]
    spin_us: u64,
    /// Shortest sleep between sends, microseconds: above 1e6/N msg/s the
    /// generator sends in ticks of N us (saves client CPU; the extra send
    /// delay is measured and included in the latencies).
    #[arg(long, default_value_t = 50)]
    min_sleep_us: u64,
    /// Seconds to wait for the last messages to arrive.
    #[arg(long, default_value_t = 5.0)]
    drain: f64,
    /// Send in bursts of N messages (same average rate): each burst
    /// follows N intervals of silence, so it measures a burst after
    /// idleness.
    #[arg(long, default_value_t = 1)]
    burst: u64,
}

impl LatArgs {
    fn opts(&self) -> LatencyOpts {
        LatencyOpts {
            rate: self.rate,
            pub_conns: self.pub_conns,
            rdy: self.rdy,
            output_buffer: self.output_buffer.pair(),
            pacing: nsq_bench::clock::Pacing {
                spin_ns: self.spin_us * 1000,
                min_sleep_ns: self.min_sleep_us * 1000,
            },
            drain: Duration::from_secs_f64(self.drain.max(0.0)),
            burst: self.burst.max(1),
        }
    }
}

#[derive(Subcommand, Debug)]
enum Mode {
    /// Closed-loop MPUB on N connections (NSQ bench_writer).
    Pub {
        #[command(flatten)]
        p: PubArgs,
        /// Do not create channel `ch` first (messages stay in the topic).
        #[arg(long)]
        no_channel: bool,
    },
    /// Prefill a backlog, then drain it with RDY + FIN (NSQ bench_reader).
    Sub {
        #[command(flatten)]
        s: SubArgs,
        /// Messages to publish first (0 = drain what is there for --duration).
        #[arg(long, default_value_t = 1_000_000)]
        prefill: u64,
        #[command(flatten)]
        p: PubArgs,
    },
    /// Publish and consume at once (closed loop), report backlog growth.
    Pubsub {
        #[command(flatten)]
        p: PubArgs,
        #[command(flatten)]
        s: SubArgs,
    },
    /// One topic, K channels, publish and consume at once.
    Fanout {
        #[command(flatten)]
        p: PubArgs,
        #[command(flatten)]
        s: SubArgs,
        /// Channels.
        #[arg(long, default_value_t = 4)]
        channels: usize,
    },
    /// Open loop at a fixed rate: PUB->OK and end-to-end latency.
    Latency {
        #[command(flatten)]
        l: LatArgs,
        /// Consuming connections.
        #[arg(long = "sub-conns", default_value_t = 1)]
        sub_conns: usize,
    },
    /// Latency at 10%..100% of the maximum rate, with an SVG plot.
    Sweep {
        #[command(flatten)]
        l: LatArgs,
        /// Number of steps.
        #[arg(long, default_value_t = 10)]
        steps: usize,
        /// Maximum rate (default: measured by an unthrottled probe run).
        #[arg(long)]
        max_rate: Option<f64>,
        /// Where the SVG goes (default: the JSON path with .svg, or nsq-bench-sweep.svg).
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// Idle consumer connections: broker memory per connection, and the
    /// latency and /stats time of the busy ones before and after.
    Conns {
        #[command(flatten)]
        l: LatArgs,
        /// Idle consumer connections.
        #[arg(long, default_value_t = 5000)]
        conns: usize,
        /// Channels (of as many topics) they spread over.
        #[arg(long, default_value_t = 50)]
        channels: usize,
        /// Broker HTTP address for /stats timings.
        #[arg(long)]
        http_addr: Option<String>,
        /// Seconds to let the broker settle before reading its RSS.
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
    },
    /// Create topics with channels and queued messages (for restart timings).
    Fill {
        /// Topics.
        #[arg(long, default_value_t = 1000)]
        topics: usize,
        /// Channels per topic.
        #[arg(long, default_value_t = 1)]
        channels: usize,
        /// Messages per topic.
        #[arg(long, default_value_t = 10)]
        messages: usize,
    },
    /// Thousands of topics and channels, open-loop traffic over all of them.
    Many {
        #[command(flatten)]
        l: LatArgs,
        /// Topics.
        #[arg(long, default_value_t = 1000)]
        topics: usize,
        /// Channels per topic.
        #[arg(long, default_value_t = 1)]
        channels: usize,
        /// Consumer polling threads.
        #[arg(long, default_value_t = 2)]
        threads: usize,
        /// Seconds of idle broker CPU measurement after subscribing.
        #[arg(long, default_value_t = 1.0)]
        idle: f64,
    },
}

/// Raise the open-file limit to its hard limit (thousands of connections).
fn raise_nofile() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit on a local struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s.max(0.0))
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("nsq-bench: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<(), BenchError> {
    if cli.size < nsq_bench::body::STAMP_LEN {
        return Err(BenchError::Config(format!(
            "--size must be at least {} (the timestamps)",
            nsq_bench::body::STAMP_LEN
        )));
    }
    let c = Common {
        addr: cli.addr.clone(),
        size: cli.size,
        warmup: secs(cli.warmup),
        duration: secs(cli.duration),
        broker_pid: cli.broker_pid,
        count_syscalls: cli.count_syscalls,
        topic: cli.topic.clone(),
    };
    let pub_opts = |p: &PubArgs| PubOpts {
        conns: p.pub_conns.max(1),
        batch: p.batch.max(1),
    };
    let sub_opts = |s: &SubArgs| SubOpts {
        conns: s.sub_conns.max(1),
        rdy: s.rdy,
        output_buffer: s.output_buffer.pair(),
    };
    let report = match &cli.mode {
        Mode::Pub { p, no_channel } => run_pub(&c, &pub_opts(p), *no_channel)?,
        Mode::Sub { s, prefill, p } => run_sub(&c, &sub_opts(s), *prefill, &pub_opts(p))?,
        Mode::Pubsub { p, s } => run_flow(&c, "pubsub", &pub_opts(p), &sub_opts(s), 1)?,
        Mode::Fanout { p, s, channels } => {
            run_flow(&c, "fanout", &pub_opts(p), &sub_opts(s), (*channels).max(1))?
        }
        Mode::Latency { l, sub_conns } => run_latency(&c, &l.opts(), *sub_conns)?,
        Mode::Sweep {
            l,
            steps,
            max_rate,
            plot,
        } => {
            let plot = plot.clone().unwrap_or_else(|| match &cli.json {
                Some(j) => j.with_extension("svg"),
                None => PathBuf::from("nsq-bench-sweep.svg"),
            });
            run_sweep(&c, &l.opts(), *max_rate, *steps, &plot)?
        }
        Mode::Conns {
            l,
            conns,
            channels,
            http_addr,
            settle,
        } => {
            raise_nofile();
            run_conns(
                &c,
                &l.opts(),
                &ConnsOpts {
                    conns: *conns,
                    channels: *channels,
                    http_addr: http_addr.clone(),
                    settle: secs(*settle),
                },
            )?
        }
        Mode::Fill {
            topics,
            channels,
            messages,
        } => run_fill(
            &c,
            &FillOpts {
                topics: *topics,
                channels: *channels,
                messages: *messages,
            },
        )?,
        Mode::Many {
            l,
            topics,
            channels,
            threads,
            idle,
        } => run_many(
            &c,
            &l.opts(),
            &ManyOpts {
                topics: *topics,
                channels: *channels,
                threads: *threads,
                idle: secs(*idle),
            },
        )?,
    };
    print!("{}", report.to_table());
    if let Some(path) = &cli.json {
        std::fs::write(path, report.to_json()).map_err(|source| BenchError::Output {
            path: path.clone(),
            source,
        })?;
    }
    Ok(())
}
