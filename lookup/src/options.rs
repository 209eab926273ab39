//! nsqlookupd's command-line flags (docs/lookupd.md#flags), with NSQ's names
//! and defaults, in every spelling Go accepts (`-flag v`, `-flag=v`,
//! `--flag v`, `--flag=v`) plus the TOML `--config` file (flag > file >
//! default).

use std::time::Duration;

use clap::{CommandFactory, FromArgMatches, Parser};
use nsq_daemon_support::{matches_with_config, ConfigKeys};
use nsq_protocol::flags::{parse_bool, parse_go_duration};

/// The OS hostname.
pub use nsq_daemon_support::hostname;

/// The version NSQ clients and tools see (docs/compatibility.md#version).
pub const NSQ_VERSION: &str = "1.3.0";

/// The nsqlookupd flags. Field docs are the `--help` text.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "nsqlookupd",
    about = "nsqlookupd: NSQ's discovery daemon (drop-in, nsq-rs)",
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
    #[arg(long = "log-prefix", default_value = "[nsqlookupd] ")]
    pub log_prefix: String,
    /// [deprecated] has no effect, use --log-level
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true, value_parser = parse_bool, default_value = "false")]
    pub verbose: bool,
    /// <addr>:<port> to listen on for TCP clients
    #[arg(long = "tcp-address", default_value = "0.0.0.0:4160")]
    pub tcp_address: String,
    /// <addr>:<port> to listen on for HTTP clients
    #[arg(long = "http-address", default_value = "0.0.0.0:4161")]
    pub http_address: String,
    /// address of this lookupd node, (default to the OS hostname)
    #[arg(long = "broadcast-address", default_value = "")]
    pub broadcast_address: String,
    /// duration of time a producer will remain in the active list since its last ping
    #[arg(long = "inactive-producer-timeout", default_value = "300s", value_parser = parse_go_duration)]
    pub inactive_producer_timeout: Duration,
    /// duration of time a producer will remain tombstoned if registration remains
    #[arg(long = "tombstone-lifetime", default_value = "45s", value_parser = parse_go_duration)]
    pub tombstone_lifetime: Duration,
}

/// Config-file keys: these integers are milliseconds
/// (docs/configuration.md#config-file).
const CONFIG_KEYS: ConfigKeys<'static> = ConfigKeys {
    durations: &["inactive-producer-timeout", "tombstone-lifetime"],
    repeatable: &[],
    renamed: &[],
};

/// Validated options nsqlookupd runs with.
#[derive(Debug, Clone)]
pub struct Options {
    /// The raw flags.
    pub flags: Flags,
    /// `--broadcast-address`, or the OS hostname.
    pub broadcast_address: String,
    /// `--log-level`, parsed.
    pub log_level: nsq_protocol::logfmt::Level,
}

fn bad(msg: String) -> clap::Error {
    Flags::command().error(clap::error::ErrorKind::ValueValidation, msg)
}

impl Options {
    /// Parse and validate `args` (including the program name).
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Options, clap::Error> {
        let matches = matches_with_config(Flags::command, args, &CONFIG_KEYS)?;
        let flags = Flags::from_arg_matches(&matches)?;
        let log_level = nsq_protocol::logfmt::Level::parse(&flags.log_level)
            .ok_or_else(|| bad(format!("invalid log level {:?}", flags.log_level)))?;
        let broadcast_address = if flags.broadcast_address.is_empty() {
            hostname()
        } else {
            flags.broadcast_address.clone()
        };
        Ok(Options {
            flags,
            broadcast_address,
            log_level,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn try_parse(args: &[&str]) -> Result<Options, clap::Error> {
        let args = std::iter::once("nsqlookupd").chain(args.iter().copied());
        Options::parse(args.map(String::from))
    }

    fn parse(args: &[&str]) -> Options {
        try_parse(args).unwrap()
    }

    #[test]
    fn defaults_match_nsq() {
        let o = parse(&[]);
        assert_eq!(o.flags.tcp_address, "0.0.0.0:4160");
        assert_eq!(o.flags.http_address, "0.0.0.0:4161");
        assert_eq!(o.flags.inactive_producer_timeout, Duration::from_secs(300));
        assert_eq!(o.flags.tombstone_lifetime, Duration::from_secs(45));
        assert_eq!(o.flags.log_prefix, "[nsqlookupd] ");
        assert_eq!(o.broadcast_address, hostname());
        assert!(!o.flags.version);
    }

    #[test]
    fn every_spelling() {
        for args in [
            ["-tombstone-lifetime", "5s"].as_slice(),
            &["-tombstone-lifetime=5s"],
            &["--tombstone-lifetime", "5s"],
            &["--tombstone-lifetime=5s"],
        ] {
            assert_eq!(
                parse(args).flags.tombstone_lifetime,
                Duration::from_secs(5),
                "{args:?}"
            );
        }
        assert!(parse(&["-version"]).flags.version);
        assert!(parse(&["--verbose=true"]).flags.verbose);
        assert_eq!(parse(&["-broadcast-address", "b"]).broadcast_address, "b");
    }

    #[test]
    fn bad_values_are_errors() {
        let err = |args: &[&str]| try_parse(args).unwrap_err().to_string();
        assert!(err(&["--tombstone-lifetime=5"]).contains("invalid duration"));
        assert!(err(&["--log-level=loud"]).contains("invalid log level"));
        assert!(err(&["--nope"]).contains("--nope"));
        assert!(err(&["--config=/nonexistent/x.cfg"]).contains("failed to load config file"));
    }

    #[test]
    fn config_file_fills_flags_not_given() {
        let (_dir, path) = nsq_test_support::temp_file(
            "nsqlookupd-cfg",
            "lookupd.cfg",
            "tombstone_lifetime = 1500\ninactive_producer_timeout = \"1m\"\nbroadcast_address = \"b.example\"\ntcp_address = \"1.2.3.4:5\"\nunknown = 1\n",
        );
        let cfg = format!("--config={}", path.display());
        let o = parse(&[&cfg, "-tcp-address", "127.0.0.1:9"]);
        assert_eq!(o.flags.tombstone_lifetime, Duration::from_millis(1500));
        assert_eq!(o.flags.inactive_producer_timeout, Duration::from_secs(60));
        assert_eq!(o.broadcast_address, "b.example");
        assert_eq!(o.flags.tcp_address, "127.0.0.1:9", "the command line wins");
    }
}
