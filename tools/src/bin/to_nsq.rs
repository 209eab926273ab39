//! to_nsq: read stdin, split on `--delimiter`, publish every non-empty
//! record to `--topic` on every `--nsqd-tcp-address`
//! (docs/utilities.md#to_nsq).

use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use nsq_tools::cli::{self, go_bool};
use nsq_tools::client::Producer;

#[derive(Parser, Debug)]
#[command(
    name = "to_nsq",
    about = "publish stdin to NSQ, one message per delimited record"
)]
struct Args {
    /// NSQ topic to publish to
    #[arg(long, default_value = "")]
    topic: String,
    /// character to split input from stdin
    #[arg(long, default_value = "\n")]
    delimiter: String,
    /// destination nsqd TCP address (may be given multiple times)
    #[arg(long = "nsqd-tcp-address", action = clap::ArgAction::Append)]
    nsqd_tcp_address: Vec<String>,
    /// option to passthrough to nsq.Producer (may be given multiple times)
    #[arg(long = "producer-opt", action = clap::ArgAction::Append)]
    producer_opt: Vec<String>,
    /// Throttle messages to n/second. 0 to disable
    #[arg(long, default_value_t = 0)]
    rate: i64,
    /// print version string
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    version: bool,
    #[command(flatten)]
    log: cli::LogArgs,
}

fn main() {
    let args: Args = cli::parse();
    if args.version {
        cli::print_version("to_nsq");
    }
    args.log.init("");
    if args.topic.is_empty() {
        cli::fatal("--topic required");
    }
    if args.delimiter.len() != 1 {
        cli::fatal("--delimiter must be a single byte");
    }
    let delim = args.delimiter.as_bytes()[0];
    let cfg = cli::config("to_nsq", &args.producer_opt);
    if args.nsqd_tcp_address.is_empty() {
        cli::fatal("--nsqd-tcp-address required");
    }
    let producers: Vec<Producer> = args
        .nsqd_tcp_address
        .iter()
        .map(|a| {
            let p = Producer::new(a, cfg.clone());
            if let Err(e) = p.connect() {
                cli::fatal(format!("failed to connect to nsqd {a}: {e}"));
            }
            p
        })
        .collect();

    let signals = cli::signals(false);
    std::thread::spawn(move || {
        if signals.recv().is_ok() {
            std::process::exit(0);
        }
    });

    // Token bucket: one token per 1/rate s, at most 1 s of capacity.
    let throttle = args.rate >= 1;
    let balance = Arc::new(AtomicI64::new(1));
    let interval = if throttle {
        Duration::from_secs(1) / args.rate as u32
    } else {
        Duration::ZERO
    };
    if throttle {
        nsq_tools::log::info(&format!(
            "Throttling messages rate to max:{}/second",
            args.rate
        ));
        let (b, rate) = (balance.clone(), args.rate);
        std::thread::spawn(move || loop {
            std::thread::sleep(interval);
            if b.fetch_add(1, Ordering::AcqRel) + 1 > rate {
                b.store(rate, Ordering::Release);
            }
        });
    }

    let mut input = BufReader::new(std::io::stdin().lock());
    let mut record = Vec::new();
    loop {
        if throttle {
            while balance.load(Ordering::Acquire) <= 0 {
                std::thread::sleep(interval.min(Duration::from_millis(10)));
            }
        }
        record.clear();
        let n = input
            .read_until(delim, &mut record)
            .unwrap_or_else(|e| cli::fatal(format!("reading stdin: {e}")));
        if n == 0 {
            break;
        }
        if record.last() == Some(&delim) {
            record.pop();
        }
        if record.is_empty() {
            continue;
        }
        for p in &producers {
            if let Err(e) = p.publish(&args.topic, &record) {
                cli::fatal(format!("failed to publish to {}: {e}", p.addr()));
            }
        }
        if throttle {
            balance.fetch_sub(1, Ordering::AcqRel);
        }
    }
    for p in &producers {
        p.stop();
    }
}
