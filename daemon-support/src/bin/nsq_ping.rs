//! `nsq_ping`: a health check for the daemons' HTTP `/ping`, for container
//! images that have no shell or curl. Exits 0 when every target answers
//! 200, else 1 with one line per failure.
//!
//! `nsq_ping [--timeout=SECONDS] [http://]host:port[/path]...`
//! (default `127.0.0.1:4151`, nsqd's HTTP port).

use std::time::Duration;

use clap::Parser;
use nsq_daemon_support::ping::{ping, Target};

#[derive(Parser)]
#[command(
    name = "nsq_ping",
    version,
    about = "GET /ping on nsqd, nsqlookupd or nsqadmin; exit 0 on 200 (a container health check)"
)]
struct Args {
    /// Give up after this many seconds (per target).
    #[arg(long, default_value_t = 3.0)]
    timeout: f64,
    /// `[http://]host:port[/path]`; the path defaults to /ping.
    #[arg(default_value = "127.0.0.1:4151")]
    targets: Vec<String>,
}

fn main() {
    let args = Args::parse();
    let timeout = Duration::try_from_secs_f64(args.timeout).unwrap_or(Duration::from_secs(3));
    let mut healthy = true;
    for text in &args.targets {
        if let Err(e) = Target::parse(text).and_then(|t| ping(&t, timeout)) {
            eprintln!("nsq_ping: {text}: {e}");
            healthy = false;
        }
    }
    std::process::exit(if healthy { 0 } else { 1 });
}
