//! nsq_to_nsq: consume topics and republish to other nsqds over TCP, with
//! optional JSON filtering; a message is FINed when its publish succeeded
//! and REQueued (with backoff) when it failed (docs/utilities.md#nsq_to_nsq).
//! The destination is marked good or bad for `--mode` when the reply arrives;
//! every reply is timed for `--status-every`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};

use clap::Parser;
use nsq_protocol::names::{is_valid_channel_name, is_valid_topic_name};
use nsq_tools::cli::{self, go_bool};
use nsq_tools::client::producer::Pending;
use nsq_tools::client::{Consumer, Message, Producer};
use nsq_tools::timer_metrics::Timings;
use nsq_tools::upstream::{JsonFilter, Mode, Pick, Pool, Verdict};

#[derive(Parser, Debug)]
#[command(name = "nsq_to_nsq", about = "republish NSQ topics to other nsqds")]
struct Args {
    /// nsq topic (may be given multiple times)
    #[arg(long, action = clap::ArgAction::Append)]
    topic: Vec<String>,
    /// nsq channel
    #[arg(long, default_value = "nsq_to_nsq")]
    channel: String,
    /// use this destination topic for all consumed topics (default is consumed topic name)
    #[arg(long, default_value = "")]
    destination_topic: String,
    /// max number of messages to allow in flight
    #[arg(long, default_value_t = 200)]
    max_in_flight: u64,
    /// the # of requests between logging status (per destination), 0 disables
    #[arg(long, default_value_t = 250)]
    status_every: usize,
    /// the upstream request mode options: round-robin, hostpool (default), epsilon-greedy
    #[arg(long, default_value = "hostpool")]
    mode: String,
    /// nsqd TCP address (may be given multiple times)
    #[arg(long = "nsqd-tcp-address", action = clap::ArgAction::Append)]
    nsqd_tcp_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times)
    #[arg(long = "lookupd-http-address", action = clap::ArgAction::Append)]
    lookupd_http_address: Vec<String>,
    /// destination nsqd TCP address (may be given multiple times)
    #[arg(long = "destination-nsqd-tcp-address", action = clap::ArgAction::Append)]
    destination_nsqd_tcp_address: Vec<String>,
    /// for JSON messages: only pass messages that contain this field
    #[arg(long, default_value = "")]
    require_json_field: String,
    /// for JSON messages: only pass messages in which the required field has this value
    #[arg(long, default_value = "")]
    require_json_value: String,
    /// for JSON messages: pass this field (may be given multiple times)
    #[arg(long = "whitelist-json-field", action = clap::ArgAction::Append)]
    whitelist_json_field: Vec<String>,
    /// option to passthrough to nsq.Consumer (may be given multiple times)
    #[arg(long = "consumer-opt", action = clap::ArgAction::Append)]
    consumer_opt: Vec<String>,
    /// option to passthrough to nsq.Producer (may be given multiple times)
    #[arg(long = "producer-opt", action = clap::ArgAction::Append)]
    producer_opt: Vec<String>,
    /// print version string
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    version: bool,
    #[command(flatten)]
    log: cli::LogArgs,
}

/// One destination: its producer and the thread that answers messages in
/// the order their publishes were sent (replies come back in that order).
struct Dest {
    producer: Arc<Producer>,
    done: Mutex<Sender<(Pending, Message, Pick)>>,
}

fn main() {
    let a: Args = cli::parse();
    if a.version {
        cli::print_version("nsq_to_nsq");
    }
    a.log.init("");
    if a.topic.is_empty() || a.channel.is_empty() {
        cli::fatal("--topic and --channel are required");
    }
    if a.topic.iter().any(|t| !is_valid_topic_name(t.as_bytes())) {
        cli::fatal("--topic is invalid");
    }
    if !a.destination_topic.is_empty() && !is_valid_topic_name(a.destination_topic.as_bytes()) {
        cli::fatal("--destination-topic is invalid");
    }
    if !is_valid_channel_name(a.channel.as_bytes()) {
        cli::fatal("--channel is invalid");
    }
    cli::check_sources(&a.nsqd_tcp_address, &a.lookupd_http_address);
    if a.destination_nsqd_tcp_address.is_empty() {
        cli::fatal("--destination-nsqd-tcp-address required");
    }
    let mode = Mode::parse(&a.mode).unwrap_or_else(|| {
        cli::fatal("--mode must be one of round-robin, hostpool or epsilon-greedy")
    });
    let mut ccfg = cli::config("nsq_to_nsq", &a.consumer_opt);
    ccfg.max_in_flight = a.max_in_flight;
    let pcfg = cli::config("nsq_to_nsq", &a.producer_opt);

    let pool = Arc::new(Pool::new(mode, a.destination_nsqd_tcp_address.len()));
    let timings = Arc::new(Timings::new(
        &a.destination_nsqd_tcp_address,
        a.status_every,
    ));
    let dests: Arc<Vec<Dest>> = Arc::new(
        a.destination_nsqd_tcp_address
            .iter()
            .map(|addr| {
                let producer = Arc::new(Producer::new(addr, pcfg.clone()));
                if let Err(e) = producer.connect() {
                    cli::fatal(format!("failed to connect to destination nsqd {addr}: {e}"));
                }
                let (tx, rx) = mpsc::channel::<(Pending, Message, Pick)>();
                let (addr, pool, timings) = (addr.clone(), pool.clone(), timings.clone());
                std::thread::spawn(move || {
                    for (pending, m, pick) in rx {
                        let result = pending.wait();
                        pool.mark(&pick, result.is_ok());
                        match result {
                            Ok(()) => m.finish(),
                            Err(e) => {
                                nsq_tools::log::error(&format!("publish to {addr} failed: {e}"));
                                m.requeue(None);
                            }
                        }
                        timings.per_address[pick.index].status(pick.started);
                        timings.aggregate.status(pick.started);
                    }
                });
                Dest {
                    producer,
                    done: Mutex::new(tx),
                }
            })
            .collect(),
    );
    let filter = Arc::new(JsonFilter {
        require_field: a.require_json_field.clone(),
        require_value: a.require_json_value.clone(),
        whitelist: a.whitelist_json_field.clone(),
    });
    let signals = cli::signals(false);
    let published = Arc::new(AtomicU64::new(0));

    let mut consumers = Vec::new();
    for topic in &a.topic {
        let dest_topic = if a.destination_topic.is_empty() {
            topic.clone()
        } else {
            a.destination_topic.clone()
        };
        let (dests, pool, filter, published) = (
            dests.clone(),
            pool.clone(),
            filter.clone(),
            published.clone(),
        );
        let handler = move |m: &Message| -> Result<(), String> {
            let body = match filter.apply(&m.body) {
                Verdict::Pass(b) => b,
                Verdict::Drop => return Ok(()),
                Verdict::Backoff => {
                    return Err("missing field to check required value".into());
                }
            };
            let Some(&pick) = pool.pick().first() else {
                return Err("no destination".into());
            };
            let d = &dests[pick.index];
            match d.producer.publish_async(&dest_topic, &body) {
                Ok(p) => {
                    m.disable_auto_response();
                    published.fetch_add(1, Ordering::Relaxed);
                    let tx = d.done.lock().map_err(|_| "shutting down".to_string())?;
                    if let Err(mpsc::SendError((_, m, _))) = tx.send((p, m.clone(), pick)) {
                        m.requeue(None);
                    }
                    Ok(())
                }
                Err(e) => {
                    pool.mark(&pick, false);
                    Err(format!("publish to {}: {e}", d.producer.addr()))
                }
            }
        };
        let consumer = Consumer::new(
            topic,
            &a.channel,
            ccfg.clone(),
            Arc::new(handler),
            a.destination_nsqd_tcp_address.len(),
        )
        .unwrap_or_else(|e| cli::fatal(e));
        cli::connect(&consumer, &a.nsqd_tcp_address, &a.lookupd_http_address);
        consumers.push(consumer);
    }
    let _ = signals.recv();
    for c in &consumers {
        c.stop();
    }
    for c in &consumers {
        c.wait(std::time::Duration::from_secs(30));
    }
    for d in dests.iter() {
        d.producer.stop();
    }
}
