//! nsq_tail: consume topics and print message bodies to stdout, one per
//! line (docs/utilities.md#nsq_tail); everything else is logged on stderr,
//! so that stdout can be piped.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use clap::Parser;
use nsq_tools::cli::{self, go_bool};
use nsq_tools::client::{random_u64, Consumer, Message};

#[derive(Parser, Debug)]
#[command(
    name = "nsq_tail",
    about = "consume NSQ topics and print messages to stdout"
)]
struct Args {
    /// NSQ topic (may be given multiple times)
    #[arg(long, action = clap::ArgAction::Append)]
    topic: Vec<String>,
    /// NSQ channel (default: a random ephemeral channel)
    #[arg(long, default_value = "")]
    channel: String,
    /// max number of messages to allow in flight
    #[arg(long, default_value_t = 200)]
    max_in_flight: u64,
    /// total messages to show (will wait if starved)
    #[arg(short = 'n', long = "n", default_value_t = 0)]
    total_messages: u64,
    /// print topic name where message was received
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    print_topic: bool,
    /// option to passthrough to nsq.Consumer (may be given multiple times)
    #[arg(long = "consumer-opt", action = clap::ArgAction::Append)]
    consumer_opt: Vec<String>,
    /// nsqd TCP address (may be given multiple times)
    #[arg(long = "nsqd-tcp-address", action = clap::ArgAction::Append)]
    nsqd_tcp_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times)
    #[arg(long = "lookupd-http-address", action = clap::ArgAction::Append)]
    lookupd_http_address: Vec<String>,
    /// print version string
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    version: bool,
    #[command(flatten)]
    log: cli::LogArgs,
}

static STDOUT: Mutex<()> = Mutex::new(());

fn main() {
    let mut args: Args = cli::parse();
    if args.version {
        cli::print_version("nsq_tail");
    }
    args.log.init("");
    if args.channel.is_empty() {
        args.channel = format!("tail{:06}#ephemeral", random_u64() % 999_999);
    }
    cli::check_sources(&args.nsqd_tcp_address, &args.lookupd_http_address);
    if args.topic.is_empty() {
        cli::fatal("--topic required");
    }
    // Don't ask for more messages than we want.
    if args.total_messages > 0 && args.total_messages < args.max_in_flight {
        args.max_in_flight = args.total_messages;
    }
    let mut cfg = cli::config("nsq_tail", &args.consumer_opt);
    cfg.max_in_flight = args.max_in_flight;
    let signals = cli::signals(false);

    let mut consumers = Vec::new();
    for topic in &args.topic {
        nsq_tools::log::info(&format!("Adding consumer for topic: {topic}"));
        let shown = Arc::new(AtomicU64::new(0));
        let (t, total, print_topic) = (topic.clone(), args.total_messages, args.print_topic);
        let handler = move |m: &Message| -> Result<(), String> {
            let n = shown.fetch_add(1, Ordering::AcqRel) + 1;
            let _guard = STDOUT.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = std::io::stdout().lock();
            let mut line = Vec::with_capacity(m.body.len() + t.len() + 4);
            if print_topic {
                line.extend_from_slice(t.as_bytes());
                line.extend_from_slice(b" | ");
            }
            line.extend_from_slice(&m.body);
            line.push(b'\n');
            if let Err(e) = out.write_all(&line).and_then(|_| out.flush()) {
                cli::fatal(format!("failed to write to os.Stdout - {e}"));
            }
            if total > 0 && n >= total {
                m.finish();
                std::process::exit(0);
            }
            Ok(())
        };
        let consumer = Consumer::new(topic, &args.channel, cfg.clone(), Arc::new(handler), 1)
            .unwrap_or_else(|e| cli::fatal(e));
        cli::connect(
            &consumer,
            &args.nsqd_tcp_address,
            &args.lookupd_http_address,
        );
        consumers.push(consumer);
    }
    let _ = signals.recv();
    for c in &consumers {
        c.stop();
    }
    for c in &consumers {
        c.wait(std::time::Duration::from_secs(30));
    }
}
