//! nsqadmin's command-line flags (docs/nsqadmin.md#flags), with NSQ's names and
//! defaults, in every spelling Go accepts (`-flag v`, `-flag=v`, `--flag v`,
//! `--flag=v`) plus the TOML `--config` file (flag > file > default), and
//! the startup validations of Go's `nsqadmin.New`.

use std::net::ToSocketAddrs;
use std::time::Duration;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches, Parser};
use nsq_protocol::flags::{config_args, normalize_args, parse_bool, parse_go_duration, ConfigSpec};

use crate::acl::Cidr;

/// The version NSQ tools see (docs/compatibility.md#version).
pub const NSQ_VERSION: &str = "1.3.0";

/// The nsqadmin flags. Field docs are the `--help` text.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "nsqadmin",
    about = "nsqadmin: NSQ's web admin UI (drop-in, nsq-rs)",
    disable_version_flag = true,
    // Go's flag package: a repeated scalar flag is no error, the last one
    // wins (repeatable flags append).
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
    #[arg(long = "log-prefix", default_value = "[nsqadmin] ")]
    pub log_prefix: String,
    /// [deprecated] has no effect, use --log-level
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub verbose: bool,
    /// <addr>:<port> to listen on for HTTP clients
    #[arg(long = "http-address", default_value = "0.0.0.0:4171")]
    pub http_address: String,
    /// URL base path
    #[arg(long = "base-path", default_value = "/")]
    pub base_path: String,
    /// lookupd HTTP address (may be given multiple times)
    #[arg(long = "lookupd-http-address")]
    pub lookupd_http_address: Vec<String>,
    /// nsqd HTTP address (may be given multiple times)
    #[arg(long = "nsqd-http-address")]
    pub nsqd_http_address: Vec<String>,
    /// graphite HTTP address (accepted; nsqadmin's own charts need none)
    #[arg(long = "graphite-url", default_value = "")]
    pub graphite_url: String,
    /// proxy HTTP requests to graphite
    #[arg(long = "proxy-graphite", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub proxy_graphite: bool,
    /// prefix used for keys sent to statsd (%s for host replacement, must match nsqd)
    #[arg(long = "statsd-prefix", default_value = "nsq.%s")]
    pub statsd_prefix: String,
    /// The counter stats key formatting applied by the implementation of statsd
    #[arg(
        long = "statsd-counter-format",
        default_value = "stats.counters.%s.count"
    )]
    pub statsd_counter_format: String,
    /// The gauge stats key formatting applied by the implementation of statsd
    #[arg(long = "statsd-gauge-format", default_value = "stats.gauges.%s")]
    pub statsd_gauge_format: String,
    /// time interval nsqd is configured to push to statsd (must match nsqd)
    #[arg(long = "statsd-interval", default_value = "60s", value_parser = parse_go_duration)]
    pub statsd_interval: Duration,
    /// HTTP endpoint (fully qualified) to which POST notifications of admin actions will be sent
    #[arg(long = "notification-http-endpoint", default_value = "")]
    pub notification_http_endpoint: String,
    /// timeout for HTTP connect
    #[arg(long = "http-client-connect-timeout", default_value = "2s", value_parser = parse_go_duration)]
    pub http_client_connect_timeout: Duration,
    /// timeout for HTTP request
    #[arg(long = "http-client-request-timeout", default_value = "5s", value_parser = parse_go_duration)]
    pub http_client_request_timeout: Duration,
    /// configure the HTTP client to skip verification of TLS certificates
    #[arg(long = "http-client-tls-insecure-skip-verify", num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub http_client_tls_insecure_skip_verify: bool,
    /// CA file to use when connecting to nsqd over HTTPS
    #[arg(long = "http-client-tls-root-ca-file", default_value = "")]
    pub http_client_tls_root_ca_file: String,
    /// path to certificate file for the HTTP client
    #[arg(long = "http-client-tls-cert", default_value = "")]
    pub http_client_tls_cert: String,
    /// path to key file for the HTTP client
    #[arg(long = "http-client-tls-key", default_value = "")]
    pub http_client_tls_key: String,
    /// A CIDR from which to allow HTTP requests to the /config endpoint
    #[arg(long = "allow-config-from-cidr", default_value = "127.0.0.1/8")]
    pub allow_config_from_cidr: String,
    /// HTTP header to check for authenticated admin users
    #[arg(long = "acl-http-header", default_value = "X-Forwarded-User")]
    pub acl_http_header: String,
    /// admin user (may be given multiple times; if specified, only these users will be able to perform privileged actions)
    #[arg(long = "admin-user")]
    pub admin_user: Vec<String>,
    /// path to static files for development
    #[arg(long = "dev-static-dir", default_value = "")]
    pub dev_static_dir: String,
}

/// Flags whose config-file integers are milliseconds.
const DURATION_FLAGS: &[&str] = &[
    "statsd-interval",
    "http-client-connect-timeout",
    "http-client-request-timeout",
];

/// Flags that may repeat.
const REPEATABLE: &[&str] = &["lookupd-http-address", "nsqd-http-address", "admin-user"];

/// Config-file keys that are not their flag's name with `_`.
const RENAMED: &[(&str, &str)] = &[
    ("nsqlookupd_http_addresses", "lookupd-http-address"),
    ("nsqd_http_addresses", "nsqd-http-address"),
    ("admin_users", "admin-user"),
];

fn known_flags() -> Vec<String> {
    Flags::command()
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// Validated options nsqadmin runs with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The raw flags.
    pub flags: Flags,
    /// `--base-path`, normalized: leading `/`, cleaned, no trailing `/`
    /// except for the root itself.
    pub base_path: String,
    /// `--log-level`, parsed.
    pub log_level: nsq_protocol::logfmt::Level,
    /// `--allow-config-from-cidr`, parsed.
    pub config_cidr: Cidr,
}

fn bad(msg: String) -> clap::Error {
    Flags::command().error(clap::error::ErrorKind::ValueValidation, msg)
}

/// Go's `normalizeBasePath`: leading `/`, then `path.Clean`.
pub fn normalize_base_path(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    format!("/{}", parts.join("/"))
}

impl Options {
    /// Parse and validate `args` (including the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, clap::Error> {
        let known = known_flags();
        let args = normalize_args(args, &known);
        let mut matches = Flags::command().try_get_matches_from(&args)?;
        let config = matches
            .get_one::<String>("config")
            .cloned()
            .unwrap_or_default();
        if !config.is_empty() {
            let text = std::fs::read_to_string(&config)
                .map_err(|e| bad(format!("failed to load config file {config} - {e}")))?;
            let spec = ConfigSpec {
                known: &known,
                durations: DURATION_FLAGS,
                repeatable: REPEATABLE,
                renamed: RENAMED,
            };
            let from_file = config_args(&config, &text, &spec, |flag| {
                matches.value_source(&flag.replace('-', "_")) == Some(ValueSource::CommandLine)
            })
            .map_err(bad)?;
            let mut all = vec![args.first().cloned().unwrap_or_default()];
            all.extend(from_file);
            all.extend(args.into_iter().skip(1));
            matches = Flags::command().try_get_matches_from(all)?;
        }
        let flags = Flags::from_arg_matches(&matches)?;
        if flags.version {
            // `--version` alone must work without the address flags.
            return Ok(Options {
                base_path: normalize_base_path(&flags.base_path),
                log_level: nsq_protocol::logfmt::Level::Info,
                config_cidr: Cidr::parse("127.0.0.1/8").map_err(bad)?,
                flags,
            });
        }
        let log_level = nsq_protocol::logfmt::Level::parse(&flags.log_level)
            .ok_or_else(|| bad(format!("invalid log level {:?}", flags.log_level)))?;
        validate(&flags).map_err(bad)?;
        let config_cidr = Cidr::parse(&flags.allow_config_from_cidr).map_err(|e| {
            bad(format!(
                "failed to parse --allow-config-from-cidr ({}) - {e}",
                flags.allow_config_from_cidr
            ))
        })?;
        Ok(Options {
            base_path: normalize_base_path(&flags.base_path),
            log_level,
            config_cidr,
            flags,
        })
    }

    /// Whether nsqadmin discovers nsqd through nsqlookupd (else a static
    /// `--nsqd-http-address` list).
    pub fn lookupd_mode(&self) -> bool {
        !self.flags.lookupd_http_address.is_empty()
    }
}

/// The checks of Go's `nsqadmin.New`, in its order and words.
fn validate(f: &Flags) -> Result<(), String> {
    match (
        f.nsqd_http_address.is_empty(),
        f.lookupd_http_address.is_empty(),
    ) {
        (true, true) => return Err("--nsqd-http-address or --lookupd-http-address required".into()),
        (false, false) => {
            return Err("use --nsqd-http-address or --lookupd-http-address not both".into())
        }
        _ => {}
    }
    if f.http_client_tls_cert.is_empty() != f.http_client_tls_key.is_empty() {
        return Err(if f.http_client_tls_cert.is_empty() {
            "--http-client-tls-cert must be specified with --http-client-tls-key".into()
        } else {
            "--http-client-tls-key must be specified with --http-client-tls-cert".into()
        });
    }
    for (flag, addrs) in [
        ("lookupd-http-address", &f.lookupd_http_address),
        ("nsqd-http-address", &f.nsqd_http_address),
    ] {
        for a in addrs {
            resolve(a).map_err(|e| format!("failed to resolve --{flag} address ({a}) - {e}"))?;
        }
    }
    if !f.notification_http_endpoint.is_empty()
        && nsq_tools::httpc::Url::parse(&f.notification_http_endpoint).is_err()
    {
        return Err(format!(
            "failed to parse --notification-http-endpoint ({}) - want http://host:port/path",
            f.notification_http_endpoint
        ));
    }
    Ok(())
}

/// Resolve `host:port` (what Go's `net.ResolveTCPAddr` checks).
pub fn resolve(addr: &str) -> Result<std::net::SocketAddr, String> {
    addr.to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| "no address".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Options, String> {
        Options::parse(
            std::iter::once("nsqadmin")
                .chain(args.iter().copied())
                .map(String::from),
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_match_nsq() {
        let o = parse(&["--lookupd-http-address=127.0.0.1:4161"]).unwrap();
        let f = &o.flags;
        assert_eq!(f.http_address, "0.0.0.0:4171");
        assert_eq!(o.base_path, "/");
        assert_eq!(f.statsd_prefix, "nsq.%s");
        assert_eq!(f.statsd_counter_format, "stats.counters.%s.count");
        assert_eq!(f.statsd_gauge_format, "stats.gauges.%s");
        assert_eq!(f.statsd_interval, Duration::from_secs(60));
        assert_eq!(f.http_client_connect_timeout, Duration::from_secs(2));
        assert_eq!(f.http_client_request_timeout, Duration::from_secs(5));
        assert_eq!(f.allow_config_from_cidr, "127.0.0.1/8");
        assert_eq!(f.acl_http_header, "X-Forwarded-User");
        assert_eq!(f.log_prefix, "[nsqadmin] ");
        assert!(o.lookupd_mode());
    }

    #[test]
    fn every_spelling_and_repeats() {
        for args in [
            ["-admin-user", "a", "-admin-user=b"].as_slice(),
            &["--admin-user", "a", "--admin-user=b"],
        ] {
            let mut all = vec!["-nsqd-http-address=127.0.0.1:4151"];
            all.extend_from_slice(args);
            assert_eq!(parse(&all).unwrap().flags.admin_user, ["a", "b"]);
        }
        let o = parse(&[
            "-lookupd-http-address",
            "127.0.0.1:1",
            "--lookupd-http-address=127.0.0.1:2",
            "-proxy-graphite",
            "-graphite-url=http://g:8080",
            "-statsd-interval=10s",
            "-http-client-tls-insecure-skip-verify=true",
        ])
        .unwrap();
        assert_eq!(o.flags.lookupd_http_address, ["127.0.0.1:1", "127.0.0.1:2"]);
        assert!(o.flags.proxy_graphite && o.flags.http_client_tls_insecure_skip_verify);
        assert_eq!(o.flags.statsd_interval, Duration::from_secs(10));
        assert!(parse(&["-version"]).unwrap().flags.version);
    }

    #[test]
    fn startup_errors() {
        assert!(parse(&[]).unwrap_err().contains("required"));
        assert!(parse(&[
            "--lookupd-http-address=127.0.0.1:1",
            "--nsqd-http-address=127.0.0.1:2"
        ])
        .unwrap_err()
        .contains("not both"));
        assert!(parse(&[
            "--nsqd-http-address=127.0.0.1:2",
            "--http-client-tls-cert=c"
        ])
        .unwrap_err()
        .contains("--http-client-tls-key must be specified"));
        assert!(parse(&["--nsqd-http-address=nope"])
            .unwrap_err()
            .contains("failed to resolve"));
        assert!(parse(&[
            "--nsqd-http-address=127.0.0.1:2",
            "--allow-config-from-cidr=x"
        ])
        .unwrap_err()
        .contains("allow-config-from-cidr"));
        assert!(
            parse(&["--nsqd-http-address=127.0.0.1:2", "--log-level=loud"])
                .unwrap_err()
                .contains("invalid log level")
        );
    }

    #[test]
    fn base_paths() {
        assert_eq!(normalize_base_path(""), "/");
        assert_eq!(normalize_base_path("admin"), "/admin");
        assert_eq!(normalize_base_path("/admin/"), "/admin");
        assert_eq!(normalize_base_path("//a/./b/../c"), "/a/c");
    }

    #[test]
    fn config_file() {
        let dir = std::env::temp_dir().join(format!("nsqadmin-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nsqadmin.cfg");
        std::fs::write(
            &path,
            "nsqlookupd_http_addresses = [\"127.0.0.1:4161\", \"127.0.0.1:4162\"]\nadmin_users = [\"alice\"]\nhttp_client_request_timeout = 1500\nbase_path = \"/x\"\n",
        )
        .unwrap();
        let o = parse(&[&format!("--config={}", path.display())]).unwrap();
        assert_eq!(o.flags.lookupd_http_address.len(), 2);
        assert_eq!(o.flags.admin_user, ["alice"]);
        assert_eq!(
            o.flags.http_client_request_timeout,
            Duration::from_millis(1500)
        );
        assert_eq!(o.base_path, "/x");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
