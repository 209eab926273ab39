//! A daemon's command line as NSQ reads it (docs/configuration.md#flag-syntax,
//! #config-file): Go's single-dash spellings of the command's long flags, then
//! the TOML `--config` file's keys for every flag not given on the command line
//! (flag > file > default). The pure parts are `nsq_protocol::flags`; this
//! module owns the clap side and reads the file.

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Command};
use nsq_protocol::flags::{config_args, normalize_args, ConfigSpec};

/// How a daemon's config-file keys map onto its flags (the flag names
/// themselves come from the command).
#[derive(Debug, Clone, Copy, Default)]
pub struct ConfigKeys<'a> {
    /// Flags whose TOML integers are milliseconds.
    pub durations: &'a [&'a str],
    /// Flags that may repeat (a comma-separated string splits).
    pub repeatable: &'a [&'a str],
    /// Keys whose flag is not the key with `_` → `-`.
    pub renamed: &'a [(&'a str, &'a str)],
}

/// Every long flag name of `command`.
pub fn long_flags(command: &Command) -> Vec<String> {
    command
        .get_arguments()
        .filter_map(|a| a.get_long().map(str::to_string))
        .collect()
}

/// Parse `args` (program name first) with `command()`, merging in the
/// `--config` file if one is given. Errors are clap errors in NSQ's words
/// (`failed to load config file <path> - <why>`).
pub fn matches_with_config(
    command: impl Fn() -> Command,
    args: impl IntoIterator<Item = String>,
    keys: &ConfigKeys<'_>,
) -> Result<ArgMatches, clap::Error> {
    let known = long_flags(&command());
    let args = normalize_args(args, &known);
    let matches = command().try_get_matches_from(&args)?;
    let config = matches
        .get_one::<String>("config")
        .cloned()
        .unwrap_or_default();
    if config.is_empty() {
        return Ok(matches);
    }
    let invalid = |msg: String| command().error(ErrorKind::ValueValidation, msg);
    let text = std::fs::read_to_string(&config)
        .map_err(|e| invalid(format!("failed to load config file {config} - {e}")))?;
    let spec = ConfigSpec {
        known: &known,
        durations: keys.durations,
        repeatable: keys.repeatable,
        renamed: keys.renamed,
    };
    let from_file = config_args(&config, &text, &spec, |flag| {
        matches.value_source(&flag.replace('-', "_")) == Some(ValueSource::CommandLine)
    })
    .map_err(invalid)?;
    // The file's flags first: a later command-line flag wins.
    let mut all = vec![args.first().cloned().unwrap_or_default()];
    all.extend(from_file);
    all.extend(args.into_iter().skip(1));
    command().try_get_matches_from(all)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Arg;

    fn command() -> Command {
        Command::new("d")
            .args_override_self(true)
            .arg(Arg::new("config").long("config").default_value(""))
            .arg(Arg::new("addr").long("addr").default_value("x"))
            .arg(Arg::new("timeout").long("timeout").default_value("1s"))
    }

    fn parse(args: &[&str]) -> Result<ArgMatches, clap::Error> {
        let keys = ConfigKeys {
            durations: &["timeout"],
            ..ConfigKeys::default()
        };
        let args = std::iter::once("d").chain(args.iter().copied());
        matches_with_config(command, args.map(String::from), &keys)
    }

    fn get(m: &ArgMatches, id: &str) -> String {
        m.get_one::<String>(id).cloned().unwrap_or_default()
    }

    #[test]
    fn single_dash_spellings() {
        let m = parse(&["-addr=y"]).unwrap();
        assert_eq!(get(&m, "addr"), "y");
    }

    #[test]
    fn the_file_fills_what_the_command_line_does_not_give() {
        let text = "addr = \"file\"\ntimeout = 1500\n";
        let (dir, path) = nsq_test_support::temp_file("nsq-daemon-cli", "d.cfg", text);
        let cfg = format!("--config={}", path.display());
        let m = parse(&[&cfg]).unwrap();
        assert_eq!(
            (get(&m, "addr"), get(&m, "timeout")),
            ("file".into(), "1500ms".into())
        );
        let m = parse(&["-addr", "cli", &cfg]).unwrap();
        assert_eq!(get(&m, "addr"), "cli", "the command line wins");
        drop(dir);
        let err = parse(&[&cfg]).unwrap_err().to_string();
        assert!(err.contains("failed to load config file"), "{err}");
    }
}
