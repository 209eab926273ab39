//! nsq_to_file: archive topics to newline-delimited files
//! (docs/utilities.md#nsq_to_file). One consumer and one file logger per topic;
//! topics given with `--topic` or discovered through lookupd every
//! `--topic-refresh` (filtered by `--topic-pattern`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::{self, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use clap::Parser;
use nsq_tools::cli::{self, go_bool, go_duration};
use nsq_tools::client::{lookup, Config, Consumer, Message};
use nsq_tools::file_logger::{self, Event, FileLogger, Options};
use nsq_tools::httpc::Timeouts;

#[derive(Parser, Debug)]
#[command(name = "nsq_to_file", about = "archive NSQ topics to files")]
struct Args {
    /// nsq topic (may be given multiple times)
    #[arg(long, action = clap::ArgAction::Append)]
    topic: Vec<String>,
    /// only log topics matching the following pattern
    #[arg(long, default_value = "")]
    topic_pattern: String,
    /// how frequently the topic list should be refreshed
    #[arg(long, default_value = "1m", value_parser = go_duration)]
    topic_refresh: Duration,
    /// nsq channel
    #[arg(long, default_value = "nsq_to_file")]
    channel: String,
    /// max number of messages to allow in flight
    #[arg(long, default_value_t = 200)]
    max_in_flight: u64,
    /// directory to write output files to
    #[arg(long, default_value = "/tmp")]
    output_dir: String,
    /// directory for in-progress files before moving to output-dir
    #[arg(long, default_value = "")]
    work_dir: String,
    /// strftime compatible format for <DATETIME> in filename format
    #[arg(long, default_value = "%Y-%m-%d_%H")]
    datetime_format: String,
    /// output filename format (<TOPIC>, <HOST>, <PID>, <DATETIME>, <REV> are replaced)
    #[arg(long, default_value = "<TOPIC>.<HOST><REV>.<DATETIME>.log")]
    filename_format: String,
    /// value to output in log filename in place of hostname
    #[arg(long, default_value = "")]
    host_identifier: String,
    /// gzip output files.
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    gzip: bool,
    /// gzip compression level (1-9, 1=BestSpeed, 9=BestCompression)
    #[arg(long, default_value_t = 6)]
    gzip_level: i64,
    /// rotate the file when it grows larger than this many bytes (0 = off)
    #[arg(long, default_value_t = 0)]
    rotate_size: i64,
    /// rotate the file every duration (0 = off)
    #[arg(long, default_value = "0", value_parser = go_duration)]
    rotate_interval: Duration,
    /// skip writing empty files
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    skip_empty_files: bool,
    /// sync file to disk every duration
    #[arg(long, default_value = "30s", value_parser = go_duration)]
    sync_interval: Duration,
    /// timeout for HTTP connect
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    http_client_connect_timeout: Duration,
    /// timeout for HTTP request
    #[arg(long, default_value = "5s", value_parser = go_duration)]
    http_client_request_timeout: Duration,
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

struct Running {
    events: Sender<Event>,
    thread: JoinHandle<()>,
}

fn start_topic(topic: &str, a: &Args, opts: &Options, cfg: &Config) -> Running {
    let fl = FileLogger::new(topic, opts.clone()).unwrap_or_else(|e| cli::fatal(e));
    let (mtx, mrx) = mpsc::channel::<Message>();
    let mtx = std::sync::Mutex::new(mtx);
    let handler = move |m: &Message| -> Result<(), String> {
        m.disable_auto_response();
        let tx = mtx.lock().map_err(|_| "logger gone".to_string())?;
        tx.send(m.clone()).map_err(|_| "logger gone".to_string())
    };
    let consumer = Consumer::new(topic, &a.channel, cfg.clone(), Arc::new(handler), 1)
        .unwrap_or_else(|e| cli::fatal(e));
    cli::connect(&consumer, &a.nsqd_tcp_address, &a.lookupd_http_address);
    let (etx, erx) = mpsc::channel();
    let tag = format!("[{topic}/{}]", a.channel);
    let thread = std::thread::spawn(move || {
        if let Err(e) = file_logger::route(fl, &consumer, mrx, erx) {
            // Unsynced messages are not FINed: they time out and come back.
            cli::fatal(format!("{tag} {e}"));
        }
        consumer.wait(Duration::from_secs(5));
    });
    Running {
        events: etx,
        thread,
    }
}

fn main() {
    // NSQ's nsq_to_file logs as its daemons do: `[nsq_to_file] <time> INFO: …`.
    nsq_tools::log::set_style(nsq_tools::log::Style::App);
    let mut a: Args = cli::parse();
    if a.version {
        cli::print_version("nsq_to_file");
    }
    a.log.init("[nsq_to_file] ");
    if a.channel.is_empty() {
        cli::fatal("--channel is required");
    }
    cli::check_sources(&a.nsqd_tcp_address, &a.lookupd_http_address);
    if a.topic.is_empty() && a.topic_pattern.is_empty() {
        cli::fatal("--topic or --topic-pattern required");
    }
    if a.topic.is_empty() && a.lookupd_http_address.is_empty() {
        cli::fatal("--lookupd-http-address must be specified when no --topic specified");
    }
    if !(1..=9).contains(&a.gzip_level) {
        cli::fatal(format!(
            "invalid --gzip-level value ({}), should be 1-9",
            a.gzip_level
        ));
    }
    if a.rotate_size < 0 {
        cli::fatal("--rotate-size must not be negative");
    }
    if a.sync_interval.is_zero() {
        cli::fatal("--sync-interval must be positive");
    }
    if a.work_dir.is_empty() {
        a.work_dir = a.output_dir.clone();
    }
    let pattern = regex::Regex::new(&a.topic_pattern)
        .unwrap_or_else(|e| cli::fatal(format!("invalid --topic-pattern: {e}")));
    let opts = Options {
        output_dir: PathBuf::from(&a.output_dir),
        work_dir: PathBuf::from(&a.work_dir),
        datetime_format: a.datetime_format.clone(),
        filename_format: a.filename_format.clone(),
        host_identifier: a.host_identifier.clone(),
        gzip: a.gzip,
        gzip_level: a.gzip_level as u32,
        rotate_size: a.rotate_size as u64,
        rotate_interval: a.rotate_interval,
        skip_empty_files: a.skip_empty_files,
        sync_interval: a.sync_interval,
        max_in_flight: a.max_in_flight.max(1) as usize,
        channel: a.channel.clone(),
    };
    opts.validate().unwrap_or_else(|e| cli::fatal(e));
    let mut cfg = cli::config("nsq_to_file", &a.consumer_opt);
    cfg.max_in_flight = a.max_in_flight;
    let signals = cli::signals(true);

    let mut running: HashMap<String, Running> = HashMap::new();
    for t in &a.topic {
        running.insert(t.clone(), start_topic(t, &a, &opts, &cfg));
    }
    let discover = a.topic.is_empty();
    let t = Timeouts {
        connect: a.http_client_connect_timeout,
        request: a.http_client_request_timeout,
    };
    let mut next_refresh = Instant::now();
    loop {
        if discover && Instant::now() >= next_refresh {
            next_refresh = Instant::now() + a.topic_refresh;
            for l in &a.lookupd_http_address {
                match lookup::topics(l, t) {
                    Ok(topics) => {
                        for topic in topics {
                            if running.contains_key(&topic) || !pattern.is_match(&topic) {
                                continue;
                            }
                            let r = start_topic(&topic, &a, &opts, &cfg);
                            running.insert(topic, r);
                        }
                    }
                    Err(e) => nsq_tools::log::error(&format!(
                        "error querying nsqlookupd {l} for topics: {e}"
                    )),
                }
            }
        }
        let wait = if discover {
            next_refresh.saturating_duration_since(Instant::now())
        } else {
            Duration::from_secs(3600)
        };
        match signals.recv_timeout(wait.max(Duration::from_millis(1))) {
            Ok(signal_hook::consts::SIGHUP) => {
                for r in running.values() {
                    let _ = r.events.send(Event::Hup);
                }
            }
            Ok(_) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    for r in running.values() {
        let _ = r.events.send(Event::Term);
    }
    for (_, r) in running {
        let _ = r.thread.join();
    }
}
