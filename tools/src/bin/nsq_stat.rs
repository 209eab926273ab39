//! nsq_stat: poll `/stats` of every nsqd holding `--topic` and print one
//! aggregated line per `--interval` for `--channel`, with NSQ's columns and
//! header cadence (docs/utilities.md#nsq_stat).

use std::time::Duration;

use clap::Parser;
use nsq_protocol::api::stats::{ChannelStats, Stats};
use nsq_tools::cli::{self, go_bool, go_duration};
use nsq_tools::client::lookup;
use nsq_tools::httpc::{self, Timeouts, Url};

#[derive(Parser, Debug)]
#[command(
    name = "nsq_stat",
    about = "poll nsqd /stats for a topic/channel and print a summary"
)]
struct Args {
    /// NSQ topic
    #[arg(long, default_value = "")]
    topic: String,
    /// NSQ channel
    #[arg(long, default_value = "")]
    channel: String,
    /// duration of time between polling/printing output
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    interval: Duration,
    /// timeout for HTTP connect
    #[arg(long, default_value = "2s", value_parser = go_duration)]
    http_client_connect_timeout: Duration,
    /// timeout for HTTP request
    #[arg(long, default_value = "5s", value_parser = go_duration)]
    http_client_request_timeout: Duration,
    /// number of reports
    #[arg(long)]
    count: Option<i64>,
    /// nsqd HTTP address (may be given multiple times)
    #[arg(long = "nsqd-http-address", action = clap::ArgAction::Append)]
    nsqd_http_address: Vec<String>,
    /// lookupd HTTP address (may be given multiple times)
    #[arg(long = "lookupd-http-address", action = clap::ArgAction::Append)]
    lookupd_http_address: Vec<String>,
    /// print version
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
          default_value = "false", value_parser = go_bool)]
    version: bool,
    #[command(flatten)]
    log: cli::LogArgs,
}

/// The channel totals nsq_stat prints (clusterinfo's `ChannelStats.Add`).
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    depth: i64,
    backend_depth: i64,
    in_flight: i64,
    deferred: i64,
    message_count: i64,
    requeue_count: i64,
    timeout_count: i64,
    client_count: i64,
}

impl Totals {
    fn add(&mut self, c: &ChannelStats) {
        self.depth += c.depth;
        self.backend_depth += c.backend_depth;
        self.in_flight += c.in_flight_count;
        self.deferred += c.deferred_count;
        self.message_count += c.message_count as i64;
        self.requeue_count += c.requeue_count as i64;
        self.timeout_count += c.timeout_count as i64;
        self.client_count += c.client_count;
    }
}

fn get_json<T: serde::de::DeserializeOwned>(
    addr: &str,
    path: &str,
    t: Timeouts,
) -> Result<T, String> {
    let url = Url {
        host: Url::parse(addr).map_err(|e| e.to_string())?.host,
        path: path.to_string(),
    };
    let headers = [("Accept".to_string(), lookup::ACCEPT.to_string())];
    let r = httpc::request("GET", &url, &headers, b"", t).map_err(|e| e.to_string())?;
    lookup::decode(&r).map_err(|e| format!("GET http://{}{path}: {e}", url.host))
}

fn q(s: &str) -> String {
    httpc::query_escape(s.as_bytes())
}

/// The HTTP addresses of the nsqds that have the topic.
fn producers(a: &Args, t: Timeouts) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    if !a.lookupd_http_address.is_empty() {
        for l in &a.lookupd_http_address {
            let r = lookup::lookup(l, &a.topic, t)
                .map_err(|e| format!("failed to query nsqlookupd {l}: {e}"))?;
            for p in r.producers {
                let addr = lookup::join_host_port(&p.broadcast_address, p.http_port);
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    } else {
        for n in &a.nsqd_http_address {
            let path = format!(
                "/stats?format=json&topic={}&include_clients=false",
                q(&a.topic)
            );
            let s: Stats = get_json(n, &path, t)?;
            let has = s
                .topics
                .unwrap_or_default()
                .iter()
                .any(|x| x.topic_name == a.topic);
            if has && !out.contains(n) {
                out.push(n.clone());
            }
        }
    }
    Ok(out)
}

fn channel_totals(a: &Args, nodes: &[String], t: Timeouts) -> Result<Option<Totals>, String> {
    let mut found = false;
    let mut tot = Totals::default();
    for n in nodes {
        let path = format!(
            "/stats?format=json&topic={}&channel={}&include_clients=false",
            q(&a.topic),
            q(&a.channel)
        );
        let s: Stats = get_json(n, &path, t)?;
        for topic in s.topics.unwrap_or_default() {
            if topic.topic_name != a.topic {
                continue;
            }
            for c in topic
                .channels
                .iter()
                .filter(|c| c.channel_name == a.channel)
            {
                found = true;
                tot.add(c);
            }
        }
    }
    Ok(found.then_some(tot))
}

fn main() {
    let a: Args = cli::parse();
    if a.version {
        cli::print_version("nsq_stat");
    }
    a.log.init("");
    if a.topic.is_empty() || a.channel.is_empty() {
        cli::fatal("--topic and --channel are required");
    }
    if a.interval.is_zero() {
        cli::fatal("--interval should be positive");
    }
    if a.http_client_connect_timeout.is_zero() {
        cli::fatal("--http-client-connect-timeout should be positive");
    }
    if a.http_client_request_timeout.is_zero() {
        cli::fatal("--http-client-request-timeout should be positive");
    }
    if a.count.is_some_and(|c| c <= 0) {
        cli::fatal("--count should be positive");
    }
    if a.nsqd_http_address.is_empty() && a.lookupd_http_address.is_empty() {
        cli::fatal("--nsqd-http-address or --lookupd-http-address required");
    }
    if !a.nsqd_http_address.is_empty() && !a.lookupd_http_address.is_empty() {
        cli::fatal("use --nsqd-http-address or --lookupd-http-address not both");
    }
    for addr in a.nsqd_http_address.iter().chain(&a.lookupd_http_address) {
        if addr.contains("://") {
            cli::fatal(format!(
                "address {addr:?} must be host:port, without a scheme"
            ));
        }
    }
    let signals = cli::signals(false);
    std::thread::spawn(move || {
        if signals.recv().is_ok() {
            std::process::exit(0);
        }
    });
    let t = Timeouts {
        connect: a.http_client_connect_timeout,
        request: a.http_client_request_timeout,
    };
    let secs = a.interval.as_secs_f64();
    let mut prev: Option<Totals> = None;
    let mut i: i64 = 0;
    while a.count.is_none_or(|n| n >= i) {
        let nodes = producers(&a, t)
            .unwrap_or_else(|e| cli::fatal(format!("failed to get topic producers - {e}")));
        let c = channel_totals(&a, &nodes, t)
            .unwrap_or_else(|e| cli::fatal(format!("failed to get nsqd stats - {e}")))
            .unwrap_or_else(|| {
                cli::fatal(format!(
                    "failed to find channel({}) in stats metadata for topic({})",
                    a.channel, a.topic
                ))
            });
        if i % 25 == 0 {
            println!(
                "------rate------+----------------depth----------------+--------------metadata---------------"
            );
            println!(
                "{:>7} {:>7} | {:>7} {:>7} {:>7} {:>5} {:>5} | {:>7} {:>7} {:>12} {:>7}",
                "ingress",
                "egress",
                "total",
                "mem",
                "disk",
                "inflt",
                "def",
                "req",
                "t-o",
                "msgs",
                "clients"
            );
        }
        if let Some(o) = prev {
            let ingress = ((c.message_count - o.message_count) as f64 / secs) as i64;
            let egress =
                ((c.message_count - o.message_count - (c.depth - o.depth)) as f64 / secs) as i64;
            println!(
                "{:>7} {:>7} | {:>7} {:>7} {:>7} {:>5} {:>5} | {:>7} {:>7} {:>12} {:>7}",
                ingress,
                egress,
                c.depth,
                c.depth - c.backend_depth,
                c.backend_depth,
                c.in_flight,
                c.deferred,
                c.requeue_count,
                c.timeout_count,
                c.message_count,
                c.client_count
            );
        }
        prev = Some(c);
        i += 1;
        if a.count.is_none_or(|n| n >= i) {
            std::thread::sleep(a.interval);
        }
    }
}
