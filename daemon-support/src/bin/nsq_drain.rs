//! `nsq_drain`: drain an nsqd and wait until it has stopped (an nsq-rs
//! extension), for a Kubernetes `preStop` hook in images without a shell
//! or curl. Exits 0 once nsqd no longer accepts connections, else 1 with
//! one line saying why.
//!
//! `nsq_drain [--timeout=DURATION] [--wait=SECONDS] [[http://]host:port]`
//! (default `127.0.0.1:4151`, nsqd's HTTP port).

use std::time::Duration;

use clap::Parser;
use nsq_daemon_support::drain::drain_and_wait;

#[derive(Parser)]
#[command(
    name = "nsq_drain",
    version,
    about = "POST /drain on nsqd, then wait until it has drained and stopped (exit 0)"
)]
struct Args {
    /// The drain's timeout, a Go duration such as 5m (default: nsqd's --drain-timeout).
    #[arg(long)]
    timeout: Option<String>,
    /// Give up waiting for nsqd to stop after this many seconds (exit 1).
    #[arg(long, default_value_t = 600.0)]
    wait: f64,
    /// nsqd's HTTP address, `[http://]host:port`.
    #[arg(default_value = "127.0.0.1:4151")]
    target: String,
}

fn main() {
    let args = Args::parse();
    let wait = Duration::try_from_secs_f64(args.wait).unwrap_or(Duration::from_secs(600));
    let authority = args.target.strip_prefix("http://").unwrap_or(&args.target);
    let authority = authority.trim_end_matches('/');
    match drain_and_wait(authority, args.timeout.as_deref(), wait) {
        Ok(()) => println!("nsq_drain: {authority} drained and stopped"),
        Err(e) => {
            eprintln!("nsq_drain: {authority}: {e}");
            std::process::exit(1);
        }
    }
}
