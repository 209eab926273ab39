//! nsq_to_http: consume a topic and make an HTTP(S) request per message
//! (docs/utilities.md#nsq_to_http). Success is a 2xx for POST and exactly 200
//! for GET; a failure REQueues the message with backoff. `--status-every` logs
//! timing percentiles per destination and in aggregate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use nsq_tools::cli::{self, go_bool, go_duration};
use nsq_tools::client::{random_u64, Consumer, Message};
use nsq_tools::httpc::{self, query_escape, Target, Timeouts};
use nsq_tools::timer_metrics::Timings;
use nsq_tools::upstream::{Mode, Pool};

#[derive(Parser, Debug)]
#[command(
    name = "nsq_to_http",
    about = "consume an NSQ topic and make an HTTP request per message"
)]
struct Args {
    /// nsq topic
    #[arg(long, default_value = "")]
    topic: String,
    /// nsq channel
    #[arg(long, default_value = "nsq_to_http")]
    channel: String,
    /// max number of messages to allow in flight
    #[arg(long, default_value_t = 200)]
    max_in_flight: u64,
    /// number of concurrent publishers
    #[arg(short = 'n', long = "n", default_value_t = 100)]
    num_publishers: usize,
    /// the upstream request mode options: multicast, round-robin, hostpool (default), epsilon-greedy
    #[arg(long, default_value = "hostpool")]
    mode: String,
    /// % of messages to publish (float b/w 0 -> 1)
    #[arg(long, default_value_t = 1.0)]
    sample: f64,
    /// timeout for HTTP connect
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    http_client_connect_timeout: Duration,
    /// timeout for HTTP request
    #[arg(long, default_value = "20s", value_parser = go_duration)]
    http_client_request_timeout: Duration,
    /// the # of requests between logging status (per handler), 0 disables
    #[arg(long, default_value_t = 250)]
    status_every: usize,
    /// the Content-Type used for POST requests
    #[arg(long, default_value = "application/octet-stream")]
    content_type: String,
    /// HTTP address to make a GET request to. '%s' will be printf replaced with data (may be given multiple times)
    #[arg(long, action = clap::ArgAction::Append)]
    get: Vec<String>,
    /// HTTP address to make a POST request to.  data will be in the body (may be given multiple times)
    #[arg(long, action = clap::ArgAction::Append)]
    post: Vec<String>,
    /// Custom header for HTTP requests (may be given multiple times)
    #[arg(long, action = clap::ArgAction::Append)]
    header: Vec<String>,
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

/// `Key: Value` → (Key, Value), split at the first `:`.
fn parse_header(s: &str) -> Result<(String, String), String> {
    match s.split_once(':') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_string(), v.trim().to_string())),
        _ => Err(format!("Invalid header: {s:?}")),
    }
}

struct Publisher {
    get: bool,
    addrs: Vec<String>,
    headers: Vec<(String, String)>,
    timeouts: Timeouts,
}

impl Publisher {
    fn publish(&self, addr: &str, body: &[u8]) -> Result<(), String> {
        let (method, target, payload) = if self.get {
            ("GET", addr.replacen("%s", &query_escape(body), 1), &b""[..])
        } else {
            ("POST", addr.to_string(), body)
        };
        let target = Target::parse(&target).map_err(|e| e.to_string())?;
        let r = httpc::request_to(method, &target, &self.headers, payload, self.timeouts)
            .map_err(|e| e.to_string())?;
        let ok = if self.get {
            r.status == 200
        } else {
            (200..300).contains(&r.status)
        };
        if ok {
            Ok(())
        } else {
            Err(format!("got status code {}", r.status))
        }
    }
}

/// `--mode`: an unrecognized value sends to every address, as NSQ does.
fn mode(name: &str) -> Mode {
    if name == "multicast" {
        nsq_tools::log::warn(
            "multicast mode is deprecated in favor of using separate nsq_to_http on different channels (and will be dropped in a future release)",
        );
    }
    Mode::parse(name).unwrap_or(Mode::All)
}

fn main() {
    let a: Args = cli::parse();
    if a.version {
        cli::print_version("nsq_to_http");
    }
    a.log.init("");
    if a.topic.is_empty() || a.channel.is_empty() {
        cli::fatal("--topic and --channel are required");
    }
    cli::check_sources(&a.nsqd_tcp_address, &a.lookupd_http_address);
    if a.get.is_empty() && a.post.is_empty() {
        cli::fatal("--get or --post required");
    }
    if !a.get.is_empty() && !a.post.is_empty() {
        cli::fatal("use --get or --post not both");
    }
    if a.get.iter().any(|g| g.matches("%s").count() != 1) {
        cli::fatal("invalid GET address - must be a printf string");
    }
    if !(0.0..=1.0).contains(&a.sample) {
        cli::fatal("--sample must be between 0.0 and 1.0");
    }
    if a.num_publishers == 0 {
        cli::fatal("-n must be positive");
    }
    let mut headers = vec![(
        "User-Agent".to_string(),
        format!("nsq_to_http v{}", nsq_tools::NSQ_VERSION),
    )];
    if a.get.is_empty() {
        headers.push(("Content-Type".to_string(), a.content_type.clone()));
    }
    for h in &a.header {
        let (k, v) = parse_header(h).unwrap_or_else(|e| cli::fatal(e));
        headers.retain(|(x, _)| !x.eq_ignore_ascii_case(&k));
        headers.push((k, v));
    }
    let addrs = if a.get.is_empty() {
        a.post.clone()
    } else {
        a.get.clone()
    };
    for addr in &addrs {
        let probe = addr.replacen("%s", "", 1);
        if let Err(e) = Target::parse(&probe) {
            cli::fatal(format!("invalid address: {e} (http:// or https:// only)"));
        }
    }
    let pool = Pool::new(mode(&a.mode), addrs.len());
    let status = Timings::new(&addrs, a.status_every);
    let publisher = Arc::new(Publisher {
        get: !a.get.is_empty(),
        addrs,
        headers,
        timeouts: Timeouts {
            connect: a.http_client_connect_timeout,
            request: a.http_client_request_timeout,
        },
    });
    let sample = a.sample;
    let handler = move |m: &Message| -> Result<(), String> {
        if sample < 1.0 && (random_u64() % 1_000_000) as f64 / 1_000_000.0 >= sample {
            return Ok(());
        }
        let start = Instant::now();
        for pick in pool.pick() {
            // Each request timed on its own (multicast sends one after
            // the other).
            let sent = Instant::now();
            let r = publisher.publish(&publisher.addrs[pick.index], &m.body);
            pool.mark(&pick, r.is_ok());
            r?;
            status.per_address[pick.index].status(sent);
        }
        status.aggregate.status(start);
        Ok(())
    };
    let mut cfg = cli::config("nsq_to_http", &a.consumer_opt);
    cfg.max_in_flight = a.max_in_flight;
    let signals = cli::signals(false);
    let consumer = Consumer::new(
        &a.topic,
        &a.channel,
        cfg,
        Arc::new(handler),
        a.num_publishers,
    )
    .unwrap_or_else(|e| cli::fatal(e));
    cli::connect(&consumer, &a.nsqd_tcp_address, &a.lookupd_http_address);
    let _ = signals.recv();
    consumer.stop();
    consumer.wait(Duration::from_secs(30));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers() {
        assert_eq!(
            parse_header("X-A: b: c").unwrap(),
            ("X-A".to_string(), "b: c".to_string())
        );
        assert!(parse_header("nocolon").is_err());
    }
}
