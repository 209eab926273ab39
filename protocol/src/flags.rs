//! Command-line flag helpers shared by every daemon
//! (docs/configuration.md#flag-syntax, #config-file): Go duration and boolean
//! syntax, the single-dash spellings Go's flag package accepts, and the TOML
//! `--config` file turned into `--flag=value` arguments. Pure: the caller
//! reads the file and owns the clap command.
//!
//! ```
//! use nsq_protocol::flags::normalize_args;
//!
//! let known = ["tcp-address".to_string()];
//! let args = ["nsqlookupd", "-tcp-address=:4160", "-x"].map(String::from);
//! assert_eq!(normalize_args(args, &known), ["nsqlookupd", "--tcp-address=:4160", "-x"]);
//! ```

use std::time::Duration;

/// Parse a Go duration string (`250ms`, `60s`, `1h30m`, `1.5s`, `0`).
pub fn parse_go_duration(s: &str) -> Result<Duration, String> {
    let err = || format!("invalid duration {s:?}");
    let s = s.trim();
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() || s.starts_with('-') {
        return Err(err());
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    let mut total = 0f64;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .ok_or_else(err)?;
        if num_len == 0 {
            return Err(err());
        }
        let value: f64 = rest[..num_len].parse().map_err(|_| err())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" | "μs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return Err(err()),
        };
        total += value * unit;
        rest = &rest[unit_len..];
    }
    Duration::try_from_secs_f64(total).map_err(|_| err())
}

/// Parse a boolean as Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(format!("invalid boolean value {s:?}")),
    }
}

/// Rewrite `-flag` / `-flag=v` spellings of the `known` long flags (and
/// `-help`) to `--flag`, so clap sees only double-dash forms. The first
/// argument (the program name) and unknown flags are left alone.
pub fn normalize_args(args: impl IntoIterator<Item = String>, known: &[String]) -> Vec<String> {
    args.into_iter()
        .enumerate()
        .map(|(i, a)| {
            if i > 0 && a.starts_with('-') && !a.starts_with("--") && a.len() > 2 {
                let name = a[1..].split('=').next().unwrap_or_default();
                if name == "help" || known.iter().any(|k| k == name) {
                    return format!("-{a}");
                }
            }
            a
        })
        .collect()
}

/// How a daemon's config-file keys map onto its flags.
#[derive(Debug, Clone, Copy)]
pub struct ConfigSpec<'a> {
    /// Every long flag name the daemon knows.
    pub known: &'a [String],
    /// Flags whose TOML integers are milliseconds (as NSQ reads them).
    pub durations: &'a [&'a str],
    /// Flags that may repeat (a comma-separated string splits).
    pub repeatable: &'a [&'a str],
    /// Keys whose flag is not the key with `_` → `-` (NSQ's special keys).
    pub renamed: &'a [(&'a str, &'a str)],
}

impl ConfigSpec<'_> {
    fn flag_for_key(&self, key: &str) -> String {
        self.renamed
            .iter()
            .find(|(k, _)| *k == key)
            .map_or_else(|| key.replace('_', "-"), |(_, f)| (*f).to_string())
    }
}

/// `--flag=value` arguments for every known key of the TOML `text` whose
/// flag `given_on_cli` says was not on the command line (flag > file >
/// default). Unknown keys and `config` are ignored; bad TOML is an error in
/// NSQ's words.
pub fn config_args(
    path: &str,
    text: &str,
    spec: &ConfigSpec<'_>,
    given_on_cli: impl Fn(&str) -> bool,
) -> Result<Vec<String>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| format!("failed to parse config file {path} - {e}"))?;
    let mut out = Vec::new();
    for (key, value) in table {
        let flag = spec.flag_for_key(&key);
        if flag == "config" || !spec.known.contains(&flag) || given_on_cli(&flag) {
            continue;
        }
        let scalar = |v: &toml::Value| -> Result<String, String> {
            Ok(match v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) if spec.durations.contains(&flag.as_str()) => {
                    format!("{n}ms")
                }
                toml::Value::Integer(n) => n.to_string(),
                toml::Value::Float(f) => f.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => return Err(format!("config key {key}: unsupported value {other}")),
            })
        };
        match &value {
            toml::Value::Array(items) => {
                for item in items {
                    out.push(format!("--{flag}={}", scalar(item)?));
                }
            }
            toml::Value::String(s) if s.contains(',') && spec.repeatable.contains(&&*flag) => {
                for part in s.split(',').filter(|p| !p.is_empty()) {
                    out.push(format!("--{flag}={part}"));
                }
            }
            v => out.push(format!("--{flag}={}", scalar(v)?)),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        assert_eq!(parse_go_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_go_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_go_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_go_duration("0"), Ok(Duration::ZERO));
        assert!(parse_go_duration("5").is_err());
        assert!(parse_go_duration("-1s").is_err());
        assert!(parse_go_duration("1x").is_err());
        assert!(parse_go_duration("1e400h").is_err());
    }

    #[test]
    fn bools() {
        assert_eq!(parse_bool("T"), Ok(true));
        assert_eq!(parse_bool("0"), Ok(false));
        assert!(parse_bool("yes").is_err());
    }

    #[test]
    fn single_dash_known_flags_only() {
        let known = ["a-b".to_string()];
        let args = [
            "prog", "-a-b", "1", "-a-b=2", "--a-b=3", "-z", "-c=1", "-help",
        ];
        assert_eq!(
            normalize_args(args.map(String::from), &known),
            ["prog", "--a-b", "1", "--a-b=2", "--a-b=3", "-z", "-c=1", "--help"]
        );
    }

    #[test]
    fn config_file_keys() {
        let known: Vec<String> = ["log-level", "tombstone-lifetime", "addr", "node-id", "list"]
            .map(String::from)
            .to_vec();
        let spec = ConfigSpec {
            known: &known,
            durations: &["tombstone-lifetime"],
            repeatable: &["list"],
            renamed: &[("id", "node-id")],
        };
        let text = "log_level = \"debug\"\ntombstone_lifetime = 1500\nid = 3\nlist = \"a,b\"\naddr = \"x\"\nunknown = 1\nconfig = \"y\"\n";
        let mut got = config_args("f", text, &spec, |f| f == "addr").unwrap();
        got.sort();
        assert_eq!(
            got,
            [
                "--list=a",
                "--list=b",
                "--log-level=debug",
                "--node-id=3",
                "--tombstone-lifetime=1500ms"
            ]
        );
        assert!(config_args("f", "= x", &spec, |_| false)
            .unwrap_err()
            .starts_with("failed to parse config file f"));
    }
}
