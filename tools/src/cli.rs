//! What the six binaries share: Go flag spellings
//! (docs/configuration.md#flag-syntax: `-flag v`, `-flag=v`, `--flag v`,
//! `--flag=v`), Go booleans and durations, `--consumer-opt` / `--producer-opt`,
//! the nsqd-or-lookupd rule, fatal errors, termination signals and
//! `--log-level` / `--log-prefix`.

use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use crate::client::{Config, Consumer};

/// Parse the process arguments into `T` after rewriting single-dash long
/// flags. Bad flags print clap's error and exit 2 (as Go's flag package).
pub fn parse<T: CommandFactory + FromArgMatches>() -> T {
    parse_from(std::env::args())
}

/// [`parse`] from given arguments.
pub fn parse_from<T: CommandFactory + FromArgMatches>(args: impl IntoIterator<Item = String>) -> T {
    let cmd = T::command();
    let known: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect();
    let args = nsq_protocol::flags::normalize_args(args, &known);
    let matches = cmd
        .try_get_matches_from(args)
        .unwrap_or_else(|e| flag_exit(e));
    T::from_arg_matches(&matches).unwrap_or_else(|e| flag_exit(e))
}

/// End on a flag error as Go's flag package does: the message or the
/// usage on stderr (`--help` too: stdout is the tool's output), exit 2,
/// or 0 for `--help`.
fn flag_exit(e: clap::Error) -> ! {
    use std::io::Write;
    let _ = write!(std::io::stderr(), "{}", e.render());
    std::process::exit(if e.use_stderr() { 2 } else { 0 })
}

/// A Go boolean flag value (`--flag`, `--flag=true`, `--flag=0`).
pub fn go_bool(s: &str) -> Result<bool, String> {
    nsq_protocol::flags::parse_bool(s)
}

/// A Go duration flag value (`2s`, `1m30s`).
pub fn go_duration(s: &str) -> Result<Duration, String> {
    nsq_protocol::flags::parse_go_duration(s)
}

/// `--log-level` and `--log-prefix`, flattened into every tool's flags.
/// NSQ 1.3.0 has them on nsq_to_file only; the other tools accept them
/// too (an extension: the defaults print what NSQ's tools print). The
/// level filters every line; the prefix leads the tool's own lines, not
/// the client library's (go-nsq's logger has none).
#[derive(clap::Args, Debug, Clone)]
pub struct LogArgs {
    /// set log verbosity: debug, info, warn, error, or fatal
    #[arg(long, default_value = "info")]
    pub log_level: String,
    /// log message prefix (nsq_to_file: "[nsq_to_file] ", others: none)
    #[arg(long)]
    pub log_prefix: Option<String>,
}

impl LogArgs {
    /// Apply the level and the prefix (`default_prefix` when none was
    /// given); an unknown level is fatal.
    pub fn init(&self, default_prefix: &str) {
        if let Err(e) = crate::log::set_level(&self.log_level) {
            fatal(format!("--log-level is invalid: {e}"));
        }
        crate::log::set_prefix(self.log_prefix.as_deref().unwrap_or(default_prefix));
    }
}

/// Log `FATAL: msg` on stderr (in the tool's log format) and exit 1
/// (Go's `log.Fatal`).
pub fn fatal(msg: impl std::fmt::Display) -> ! {
    crate::log::fatal(&msg.to_string());
    std::process::exit(1)
}

/// Print `<tool> v1.3.0` on stdout, exactly as NSQ's tools, and exit 0.
pub fn print_version(tool: &str) -> ! {
    println!("{tool} v{}", crate::NSQ_VERSION);
    std::process::exit(0)
}

/// go-nsq's config with the tool's user agent and the `--*-opt` values.
pub fn config(tool: &str, opts: &[String]) -> Config {
    let mut cfg = Config {
        user_agent: format!("{tool}/{} go-nsq/1.1.0", crate::NSQ_VERSION),
        ..Config::default()
    };
    for o in opts {
        if let Err(e) = cfg.set_opt(o) {
            fatal(format!("invalid option {o:?}: {e}"));
        }
    }
    cfg
}

/// The nsqd-or-lookupd rule of NSQ's consumer tools.
pub fn check_sources(nsqd: &[String], lookupd: &[String]) {
    if nsqd.is_empty() && lookupd.is_empty() {
        fatal("--nsqd-tcp-address or --lookupd-http-address required");
    }
    if !nsqd.is_empty() && !lookupd.is_empty() {
        fatal("use --nsqd-tcp-address or --lookupd-http-address not both");
    }
}

/// Connect a consumer to its sources; an unreachable nsqd is fatal.
pub fn connect(consumer: &Consumer, nsqd: &[String], lookupd: &[String]) {
    for a in nsqd {
        if let Err(e) = consumer.connect_to_nsqd(a) {
            fatal(format!("failed to connect to nsqd {a}: {e}"));
        }
    }
    for a in lookupd {
        if let Err(e) = consumer.connect_to_lookupd(a) {
            fatal(format!("bad --lookupd-http-address {a}: {e}"));
        }
    }
}

/// Signal numbers delivered as they arrive (SIGINT and SIGTERM, plus
/// SIGHUP when asked).
pub fn signals(hup: bool) -> Receiver<i32> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut list = vec![SIGINT, SIGTERM];
    if hup {
        list.push(SIGHUP);
    }
    let (tx, rx) = mpsc::channel();
    match signal_hook::iterator::Signals::new(&list) {
        Ok(mut s) => {
            std::thread::spawn(move || {
                for sig in s.forever() {
                    if tx.send(sig).is_err() {
                        return;
                    }
                }
            });
        }
        Err(e) => fatal(format!("cannot install signal handlers: {e}")),
    }
    rx
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct F {
        #[arg(long, action = clap::ArgAction::Append)]
        topic: Vec<String>,
        #[arg(short = 'n', long = "n", default_value_t = 0)]
        n: u64,
        #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true",
              default_value = "false", value_parser = go_bool)]
        print_topic: bool,
        #[arg(long, default_value = "2s", value_parser = go_duration)]
        interval: Duration,
        #[command(flatten)]
        log: LogArgs,
    }

    fn p(args: &[&str]) -> F {
        parse_from(
            std::iter::once("x")
                .chain(args.iter().copied())
                .map(String::from),
        )
    }

    #[test]
    fn every_spelling() {
        for args in [
            &["-topic", "a", "-n", "3"][..],
            &["-topic=a", "-n=3"],
            &["--topic", "a", "--n", "3"],
            &["--topic=a", "--n=3"],
        ] {
            let f = p(args);
            assert_eq!(
                (f.topic.as_slice(), f.n),
                (&["a".to_string()][..], 3),
                "{args:?}"
            );
        }
        let f = p(&["-print-topic", "--topic=a", "--topic=b", "-interval=1m"]);
        assert!(f.print_topic);
        assert_eq!(f.topic.len(), 2);
        assert_eq!(f.interval, Duration::from_secs(60));
        assert!(!p(&["--print-topic=false"]).print_topic);
        let f = p(&["-log-level", "debug", "-log-prefix=[x] "]);
        assert_eq!(f.log.log_level, "debug");
        assert_eq!(f.log.log_prefix.as_deref(), Some("[x] "));
        assert_eq!(p(&[]).log.log_level, "info");
    }
}
