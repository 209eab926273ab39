//! nsqd's command-line flags (docs/configuration.md#nsqd-flags), with NSQ's
//! names and defaults.
//!
//! Go's flag package accepts `-flag v`, `-flag=v`, `--flag v` and
//! `--flag=v`; [`normalize_args`] rewrites single-dash spellings of known
//! flags so clap sees only the double-dash forms
//! (docs/configuration.md#flag-syntax). Boolean flags take an optional
//! `=value`, as in Go. Flags for features this build does not have yet are
//! accepted and reported by [`Options::unsupported`].

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches, Parser};
use nsq_daemon_support::{matches_with_config, ConfigKeys};

/// The version NSQ clients and tools see (docs/compatibility.md#version).
pub const NSQ_VERSION: &str = "1.3.0";

use nsq_protocol::flags::parse_bool;
pub use nsq_protocol::flags::parse_go_duration;

/// The OS hostname.
pub use nsq_daemon_support::hostname;

/// The nsqd flags. Field docs are the `--help` text.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "nsqd",
    about = "nsqd: a thread-per-core, drop-in NSQ broker",
    long_about = "nsqd: a thread-per-core, drop-in NSQ broker.\n\nQueues spill to go-diskqueue files in --data-path beyond --mem-queue-size, as in NSQ; --sync-every=1 answers each publish after its fsync (group commit).",
    disable_version_flag = true,
    // Go's flag package: a repeated flag is no error, the last one wins.
    args_override_self = true
)]
pub struct Flags {
    /// print version string
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub version: bool,
    /// path to config file (TOML; keys are flag names with '_' for '-')
    #[arg(long, default_value = "")]
    pub config: String,
    /// set log verbosity: debug, info, warn, error, or fatal
    #[arg(long = "log-level", default_value = "info")]
    pub log_level: String,
    /// log message prefix
    #[arg(long = "log-prefix", default_value = "[nsqd] ")]
    pub log_prefix: String,
    /// [deprecated] has no effect, use --log-level
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub verbose: bool,
    /// unique part for message IDs, (int) in range [0,1024) (default is hash of hostname)
    #[arg(long = "node-id")]
    pub node_id: Option<i64>,
    /// [deprecated] use --node-id
    #[arg(long = "worker-id")]
    pub worker_id: Option<i64>,
    /// <addr>:<port> to listen on for TCP clients
    #[arg(long = "tcp-address", default_value = "0.0.0.0:4150")]
    pub tcp_address: String,
    /// <addr>:<port> to listen on for HTTP clients (empty disables HTTP)
    #[arg(long = "http-address", default_value = "0.0.0.0:4151")]
    pub http_address: String,
    /// <addr>:<port> to listen on for HTTPS clients (only with --tls-cert and --tls-key)
    #[arg(long = "https-address", default_value = "0.0.0.0:4152")]
    pub https_address: String,
    /// address that will be registered with lookupd (defaults to the OS hostname)
    #[arg(long = "broadcast-address", default_value = "")]
    pub broadcast_address: String,
    /// TCP port that will be registered with lookupd (defaults to the TCP port that this nsqd is listening on)
    #[arg(long = "broadcast-tcp-port", default_value = "0")]
    pub broadcast_tcp_port: u16,
    /// HTTP port that will be registered with lookupd (defaults to the HTTP port that this nsqd is listening on)
    #[arg(long = "broadcast-http-port", default_value = "0")]
    pub broadcast_http_port: u16,
    /// lookupd TCP address (may be given multiple times)
    #[arg(long = "lookupd-tcp-address")]
    pub lookupd_tcp_address: Vec<String>,
    /// <addr>:<port> or full URL of an auth server (may be given multiple times)
    #[arg(long = "auth-http-address")]
    pub auth_http_address: Vec<String>,
    /// HTTP method to use for auth requests: get or post
    #[arg(long = "auth-http-request-method", default_value = "get")]
    pub auth_http_request_method: String,
    /// timeout for HTTP connect
    #[arg(long = "http-client-connect-timeout", default_value = "2s", value_parser = parse_go_duration)]
    pub http_client_connect_timeout: Duration,
    /// timeout for HTTP request
    #[arg(long = "http-client-request-timeout", default_value = "5s", value_parser = parse_go_duration)]
    pub http_client_request_timeout: Duration,
    /// topology region (experiment, not supported)
    #[arg(long = "topology-region", default_value = "")]
    pub topology_region: String,
    /// topology zone (experiment, not supported)
    #[arg(long = "topology-zone", default_value = "")]
    pub topology_zone: String,
    /// experiment to enable (not supported)
    #[arg(long = "enable-experiment")]
    pub enable_experiment: Vec<String>,
    /// path to store disk-backed messages and nsqd.dat (default: the working directory; message queues are in memory in this build, nsqd.dat is kept)
    #[arg(long = "data-path", default_value = "")]
    pub data_path: String,
    /// number of messages to keep in memory (per topic/channel); a publish beyond it is refused with E_PUB_FAILED until disk queues exist
    #[arg(long = "mem-queue-size", default_value = "10000")]
    pub mem_queue_size: i64,
    /// number of bytes per diskqueue file before rolling
    #[arg(long = "max-bytes-per-file", default_value = "104857600")]
    pub max_bytes_per_file: i64,
    /// number of messages per diskqueue fsync
    #[arg(long = "sync-every", default_value = "2500")]
    pub sync_every: i64,
    /// duration of time per diskqueue fsync
    #[arg(long = "sync-timeout", default_value = "2s", value_parser = parse_go_duration)]
    pub sync_timeout: Duration,
    /// max concurrency for checking in-flight and deferred message timeouts (ignored: timers are exact here)
    #[arg(long = "queue-scan-worker-pool-max", default_value = "4")]
    pub queue_scan_worker_pool_max: i64,
    /// number of channels to check per cycle (ignored: timers are exact here)
    #[arg(long = "queue-scan-selection-count", default_value = "20")]
    pub queue_scan_selection_count: i64,
    /// default duration to wait before auto-requeing a message
    #[arg(long = "msg-timeout", default_value = "60s", value_parser = parse_go_duration)]
    pub msg_timeout: Duration,
    /// maximum duration before a message will timeout
    #[arg(long = "max-msg-timeout", default_value = "15m", value_parser = parse_go_duration)]
    pub max_msg_timeout: Duration,
    /// maximum size of a single message in bytes
    #[arg(long = "max-msg-size", default_value = "1048576")]
    pub max_msg_size: i64,
    /// maximum requeuing timeout
    #[arg(long = "max-req-timeout", default_value = "1h", value_parser = parse_go_duration)]
    pub max_req_timeout: Duration,
    /// maximum DPUB / defer timeout (defaults to --max-req-timeout)
    #[arg(long = "max-defer-timeout", value_parser = parse_go_duration)]
    pub max_defer_timeout: Option<Duration>,
    /// maximum size of a single command body
    #[arg(long = "max-body-size", default_value = "5242880")]
    pub max_body_size: i64,
    /// maximum client configurable duration of time between client heartbeats
    #[arg(long = "max-heartbeat-interval", default_value = "60s", value_parser = parse_go_duration)]
    pub max_heartbeat_interval: Duration,
    /// maximum RDY count for a client
    #[arg(long = "max-rdy-count", default_value = "2500")]
    pub max_rdy_count: i64,
    /// maximum client configurable size (in bytes) for a client output buffer
    #[arg(long = "max-output-buffer-size", default_value = "65536")]
    pub max_output_buffer_size: i64,
    /// maximum client configurable duration of time between flushing to a client
    #[arg(long = "max-output-buffer-timeout", default_value = "30s", value_parser = parse_go_duration)]
    pub max_output_buffer_timeout: Duration,
    /// minimum client configurable duration of time between flushing to a client
    #[arg(long = "min-output-buffer-timeout", default_value = "25ms", value_parser = parse_go_duration)]
    pub min_output_buffer_timeout: Duration,
    /// default duration of time between flushing data to clients
    #[arg(long = "output-buffer-timeout", default_value = "250ms", value_parser = parse_go_duration)]
    pub output_buffer_timeout: Duration,
    /// maximum channel consumer connection count per nsqd instance (default 0, i.e., unlimited)
    #[arg(long = "max-channel-consumers", default_value = "0")]
    pub max_channel_consumers: i64,
    /// UDP <addr>:<port> of a statsd daemon for pushing stats
    #[arg(long = "statsd-address", default_value = "")]
    pub statsd_address: String,
    /// duration between pushing to statsd
    #[arg(long = "statsd-interval", default_value = "60s", value_parser = parse_go_duration)]
    pub statsd_interval: Duration,
    /// toggle sending memory and GC stats to statsd
    #[arg(long = "statsd-mem-stats", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "true")]
    pub statsd_mem_stats: bool,
    /// prefix used for keys sent to statsd (%s for host replacement)
    #[arg(long = "statsd-prefix", default_value = "nsq.%s")]
    pub statsd_prefix: String,
    /// the size in bytes of statsd UDP packets
    #[arg(long = "statsd-udp-packet-size", default_value = "508")]
    pub statsd_udp_packet_size: i64,
    /// don't send ephemeral topics and channels to statsd
    #[arg(long = "statsd-exclude-ephemeral", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub statsd_exclude_ephemeral: bool,
    /// message processing time percentiles (as float (0, 1.0]) to track (can be specified multiple times or comma separated '1.0,0.99,0.95', default none)
    #[arg(long = "e2e-processing-latency-percentile")]
    pub e2e_processing_latency_percentile: Vec<String>,
    /// calculate end to end latency quantiles for this duration of time
    #[arg(long = "e2e-processing-latency-window-time", default_value = "10m", value_parser = parse_go_duration)]
    pub e2e_processing_latency_window_time: Duration,
    /// path to certificate file
    #[arg(long = "tls-cert", default_value = "")]
    pub tls_cert: String,
    /// path to key file
    #[arg(long = "tls-key", default_value = "")]
    pub tls_key: String,
    /// client certificate auth policy ('require' or 'require-verify')
    #[arg(long = "tls-client-auth-policy", default_value = "")]
    pub tls_client_auth_policy: String,
    /// path to certificate authority file
    #[arg(long = "tls-root-ca-file", default_value = "")]
    pub tls_root_ca_file: String,
    /// require TLS for client connections (true, false, tcp-https)
    #[arg(long = "tls-required", num_args = 0..=1, default_missing_value = "true", require_equals = true, default_value = "false")]
    pub tls_required: String,
    /// minimum SSL/TLS version acceptable ('tls1.0', 'tls1.1', 'tls1.2' or 'tls1.3'; this build speaks TLS 1.2 and 1.3)
    #[arg(long = "tls-min-version", default_value = "tls1.0")]
    pub tls_min_version: String,
    /// enable deflate feature negotiation (client compression)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "true")]
    pub deflate: bool,
    /// max deflate compression level a client can negotiate (> values == > nsqd CPU usage)
    #[arg(long = "max-deflate-level", default_value = "6")]
    pub max_deflate_level: i64,
    /// enable snappy feature negotiation (client compression)
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "true")]
    pub snappy: bool,
    /// number of shards (one glommio executor thread each); 0 = the CPUs this process may use
    #[arg(long = "shards", default_value = "0")]
    pub shards: usize,
    /// pin each shard to its own CPU (for dedicated hosts; off by default)
    #[arg(long = "pin-cores", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub pin_cores: bool,
    /// busy-poll this long before an idle shard sleeps (dedicated hosts: lower wake-up latency, CPU burnt while idle); 0 = sleep at once
    #[arg(long = "spin-before-park", default_value = "0s", value_parser = parse_go_duration)]
    pub spin_before_park: Duration,
    /// deliveries after which a message that times out or is requeued goes to the channel's dead-letter topic <topic>.<channel>.dead instead (0 = unlimited, as NSQ; per channel: POST /channel/config)
    #[arg(long = "max-attempts", default_value = "0")]
    pub max_attempts: u16,
    /// how long a drain (POST /drain, SIGUSR1) waits for consumers to empty the channels before the normal shutdown
    #[arg(long = "drain-timeout", default_value = "5m", value_parser = parse_go_duration)]
    pub drain_timeout: Duration,
}

/// Rewrite `-flag` / `-flag=v` spellings of known flags to `--flag`.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let known = nsq_daemon_support::cli::long_flags(&Flags::command());
    nsq_protocol::flags::normalize_args(args, &known)
}

/// Validated, resolved options the broker runs with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The raw flags.
    pub flags: Flags,
    /// Number of shards.
    pub shards: usize,
    /// Message ID node part.
    pub node_id: u16,
    /// `--max-defer-timeout` or `--max-req-timeout`.
    pub max_defer_timeout: Duration,
    /// Flags given on the command line whose feature this build lacks.
    pub unsupported: Vec<&'static str>,
    /// End-to-end latency percentiles, when configured.
    pub(crate) e2e: Option<crate::e2e::E2eConfig>,
}

/// Flags accepted for compatibility whose feature is not built yet.
const NOT_YET_SUPPORTED: &[&str] = &[
    "topology-region",
    "topology-zone",
    "enable-experiment",
    "queue-scan-worker-pool-max",
    "queue-scan-selection-count",
    "verbose",
    "worker-id",
];

/// Flags whose config-file integers are milliseconds
/// (docs/configuration.md#config-file).
const DURATION_FLAGS: &[&str] = &[
    "http-client-connect-timeout",
    "http-client-request-timeout",
    "sync-timeout",
    "msg-timeout",
    "max-msg-timeout",
    "max-req-timeout",
    "max-defer-timeout",
    "max-heartbeat-interval",
    "max-output-buffer-timeout",
    "min-output-buffer-timeout",
    "output-buffer-timeout",
    "e2e-processing-latency-window-time",
    "drain-timeout",
];

/// How the config file's keys map onto the flags (NSQ's special keys).
const CONFIG_KEYS: ConfigKeys<'static> = ConfigKeys {
    durations: DURATION_FLAGS,
    repeatable: &[
        "lookupd-tcp-address",
        "auth-http-address",
        "e2e-processing-latency-percentile",
        "enable-experiment",
    ],
    renamed: &[
        ("id", "node-id"),
        ("nsqlookupd_tcp_addresses", "lookupd-tcp-address"),
        ("auth_http_addresses", "auth-http-address"),
        (
            "e2e_processing_latency_percentiles",
            "e2e-processing-latency-percentile",
        ),
    ],
};

fn default_node_id() -> u16 {
    // NSQ: crc32(md5(hostname)) % 1024. Any stable hash of the hostname
    // serves: IDs only need to be unique per topic per nsqd.
    let host = hostname();
    let mut h: u32 = 2_166_136_261;
    for b in host.bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(16_777_619);
    }
    (h % 1024) as u16
}

impl Options {
    /// Parse and validate `args` (including the program name). With
    /// `--config`, the file's keys fill every flag not given on the command
    /// line (as NSQ: flag > config file > default).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, clap::Error> {
        let matches = matches_with_config(Flags::command, args, &CONFIG_KEYS)?;
        let flags = Flags::from_arg_matches(&matches)?;
        Self::validate(flags, &matches)
    }

    fn validate(flags: Flags, matches: &ArgMatches) -> Result<Options, clap::Error> {
        let bad =
            |msg: String| Flags::command().error(clap::error::ErrorKind::ValueValidation, msg);
        let node_id = match flags.node_id {
            Some(n) if !(0..1024).contains(&n) => {
                return Err(bad(format!("--node-id must be [0,1024) (got {n})")))
            }
            Some(n) => n as u16,
            None => default_node_id(),
        };
        if !(1..=9).contains(&flags.max_deflate_level) {
            return Err(bad("--max-deflate-level must be [1,9]".into()));
        }
        if !matches!(flags.auth_http_request_method.as_str(), "get" | "post") {
            return Err(bad("--auth-http-request-method must be post or get".into()));
        }
        crate::tls::parse_required(&flags.tls_required).map_err(|e| bad(e.to_string()))?;
        if !matches!(
            flags.tls_min_version.as_str(),
            "tls1.0" | "tls1.1" | "tls1.2" | "tls1.3"
        ) {
            return Err(bad(format!(
                "invalid --tls-min-version {:?} (want tls1.0, tls1.1, tls1.2 or tls1.3)",
                flags.tls_min_version
            )));
        }
        if flags.mem_queue_size < 0 {
            return Err(bad("--mem-queue-size must be >= 0".into()));
        }
        for (name, v) in [
            ("--max-msg-size", flags.max_msg_size),
            ("--max-body-size", flags.max_body_size),
            ("--max-rdy-count", flags.max_rdy_count),
            ("--max-output-buffer-size", flags.max_output_buffer_size),
        ] {
            if v <= 0 {
                return Err(bad(format!("{name} must be > 0")));
            }
        }
        let shards = if flags.shards == 0 {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        } else {
            flags.shards
        };
        let unsupported = NOT_YET_SUPPORTED
            .iter()
            .copied()
            .filter(|name| {
                let id = name.replace('-', "_");
                matches.value_source(&id) == Some(ValueSource::CommandLine)
            })
            .collect();
        let e2e = crate::e2e::E2eConfig::from_flags(
            &flags.e2e_processing_latency_percentile,
            flags.e2e_processing_latency_window_time,
        )
        .map_err(bad)?;
        Ok(Options {
            e2e,
            max_defer_timeout: flags.max_defer_timeout.unwrap_or(flags.max_req_timeout),
            shards,
            node_id,
            unsupported,
            flags,
        })
    }

    /// The data directory: `--data-path`, or the working directory when
    /// the flag is empty (NSQ's default), made absolute so that every log
    /// line and queue file names the same place.
    pub fn data_dir(&self) -> PathBuf {
        let given = Path::new(&self.flags.data_path);
        if given.as_os_str().is_empty() {
            return std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        }
        std::path::absolute(given).unwrap_or_else(|_| given.to_path_buf())
    }

    /// Options with NSQ's defaults (for tests).
    pub fn defaults() -> Options {
        Options::parse(["nsqd".to_string()]).expect("defaults are valid")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_parse(args: &[&str]) -> Result<Options, clap::Error> {
        let args = std::iter::once("nsqd").chain(args.iter().copied());
        Options::parse(args.map(String::from))
    }

    fn parse(args: &[&str]) -> Options {
        try_parse(args).unwrap()
    }

    #[test]
    fn every_spelling() {
        for args in [
            ["-mem-queue-size", "5"].as_slice(),
            &["-mem-queue-size=5"],
            &["--mem-queue-size", "5"],
            &["--mem-queue-size=5"],
        ] {
            assert_eq!(parse(args).flags.mem_queue_size, 5, "{args:?}");
        }
        assert!(!parse(&["-snappy=false"]).flags.snappy);
        assert!(parse(&["--pin-cores"]).flags.pin_cores);
        assert_eq!(
            parse(&["-spin-before-park=100us"]).flags.spin_before_park,
            Duration::from_micros(100)
        );
        assert_eq!(parse(&[]).flags.spin_before_park, Duration::ZERO);
        assert_eq!(
            parse(&["-lookupd-tcp-address=a:1", "--lookupd-tcp-address", "b:2"])
                .flags
                .lookupd_tcp_address,
            vec!["a:1", "b:2"]
        );
    }

    #[test]
    fn defaults_match_nsq() {
        let o = Options::defaults();
        assert_eq!(o.flags.tcp_address, "0.0.0.0:4150");
        assert_eq!(o.flags.mem_queue_size, 10000);
        assert_eq!(o.flags.msg_timeout, Duration::from_secs(60));
        assert_eq!(o.flags.max_msg_timeout, Duration::from_secs(900));
        assert_eq!(o.flags.max_rdy_count, 2500);
        assert_eq!(o.max_defer_timeout, Duration::from_secs(3600));
        assert!(o.unsupported.is_empty());
    }

    #[test]
    fn a_repeated_flag_is_the_last_one_and_lists_still_add_up() {
        let o = parse(&[
            "--broadcast-address=a",
            "-broadcast-address",
            "b",
            "--lookupd-tcp-address=x:1",
            "-lookupd-tcp-address=y:2",
        ]);
        assert_eq!(o.flags.broadcast_address, "b");
        assert_eq!(o.flags.lookupd_tcp_address, vec!["x:1", "y:2"]);
    }

    #[test]
    fn validations() {
        let err = |args: &[&str]| try_parse(args).unwrap_err().to_string();
        assert!(err(&["--node-id=1024"]).contains("--node-id must be [0,1024)"));
        assert!(err(&["--max-deflate-level=10"]).contains("--max-deflate-level must be [1,9]"));
        assert!(err(&["--auth-http-request-method=put"]).contains("must be post or get"));
        assert!(err(&["--tls-min-version=ssl3.0"]).contains("invalid --tls-min-version"));
        assert!(err(&["--tls-required=maybe"]).contains("invalid --tls-required"));
    }

    #[test]
    fn config_file_fills_flags_not_given() {
        let (_dir, path) = nsq_test_support::temp_file(
            "nsqd-cfg",
            "nsqd.cfg",
            "mem_queue_size = 7\nmsg_timeout = 1500\nmax_req_timeout = \"2h\"\nid = 9\nnsqlookupd_tcp_addresses = [\"a:1\", \"b:2\"]\nsnappy = false\nunknown_key = 1\ntcp_address = \"1.2.3.4:5\"\n",
        );
        let cfg = format!("--config={}", path.display());
        let o = parse(&[&cfg, "--tcp-address=127.0.0.1:9"]);
        assert_eq!(o.flags.mem_queue_size, 7);
        assert_eq!(o.flags.msg_timeout, Duration::from_millis(1500));
        assert_eq!(o.flags.max_req_timeout, Duration::from_secs(7200));
        assert_eq!(o.node_id, 9);
        assert_eq!(o.flags.lookupd_tcp_address, vec!["a:1", "b:2"]);
        assert!(!o.flags.snappy);
        assert_eq!(o.flags.tcp_address, "127.0.0.1:9", "the command line wins");
    }

    #[test]
    fn unsupported_flags_are_reported() {
        assert_eq!(
            parse(&[
                "--data-path=/tmp/x",
                "--topology-zone",
                "c",
                "--tls-cert",
                "c"
            ])
            .unsupported,
            vec!["topology-zone"]
        );
    }
}
