//! Logging to stderr in the formats NSQ's tools use (stdout is left to a
//! tool's output: nsq_tail's messages, nsq_stat's table). Three shapes:
//!
//! - a tool's own lines, as Go's standard `log` prints them
//!   ([`Style::Std`]): `<prefix>YYYY/MM/DD HH:MM:SS <message>`, warnings
//!   and errors led by `WARNING: ` / `ERROR: ` as NSQ's tools write them;
//! - nsq_to_file's lines, as NSQ's daemons print them ([`Style::App`]):
//!   `<prefix>YYYY/MM/DD HH:MM:SS.micro LEVEL: <message>`;
//! - the client library's lines, as go-nsq prints them ([`Source`]):
//!   `YYYY/MM/DD HH:MM:SS INF   1 [topic/channel] (addr) <message>`
//!   (go-nsq's logger has no prefix).
//!
//! Times are UTC, as the daemons'. `--log-level` filters all three (an
//! extension: go-nsq's lines follow it too); `--log-prefix` leads the
//! tool's own lines.

use std::io::Write;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use nsq_protocol::logfmt::Level;

/// An unknown `--log-level` name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLevel(pub String);

impl std::fmt::Display for UnknownLevel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "invalid log level {:?} (debug, info, warn, error or fatal)",
            self.0
        )
    }
}

impl std::error::Error for UnknownLevel {}

/// The shape of a tool's own lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Style {
    /// Go's standard logger (every tool but nsq_to_file).
    Std = 0,
    /// NSQ's leveled application logger (nsq_to_file).
    App = 1,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static STYLE: AtomicU8 = AtomicU8::new(Style::Std as u8);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Parse (case-insensitively, NSQ's names) and set the level.
pub fn set_level(name: &str) -> Result<(), UnknownLevel> {
    let l = Level::parse(name).ok_or_else(|| UnknownLevel(name.to_string()))?;
    LEVEL.store(l as u8, Ordering::Relaxed);
    Ok(())
}

/// Set the prefix of the tool's own lines (once).
pub fn set_prefix(prefix: &str) {
    let _ = PREFIX.set(prefix.to_string());
}

/// Set the shape of the tool's own lines.
pub fn set_style(style: Style) {
    STYLE.store(style as u8, Ordering::Relaxed);
}

fn style() -> Style {
    if STYLE.load(Ordering::Relaxed) == Style::App as u8 {
        Style::App
    } else {
        Style::Std
    }
}

/// Whether lines of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// Now as Go's log prints it: `YYYY/MM/DD HH:MM:SS`, with `.micro` when
/// `micros`.
fn stamp(micros: bool) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let mut s = nsq_protocol::logfmt::timestamp(now);
    if !micros {
        s.truncate(s.len() - ".000000".len());
    }
    s
}

fn write_line(line: &str) {
    // A failed write (stderr closed) is ignored, as Go's log does.
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// A tool's own line in its [`Style`].
pub fn format_line(style: Style, prefix: &str, stamp: &str, level: Level, s: &str) -> String {
    match style {
        Style::App => format!("{prefix}{stamp} {}: {s}\n", level.name()),
        Style::Std => {
            let lead = match level {
                Level::Info => "",
                Level::Debug => "DEBUG: ",
                Level::Warn => "WARNING: ",
                Level::Error => "ERROR: ",
                Level::Fatal => "FATAL: ",
            };
            format!("{prefix}{stamp} {lead}{s}\n")
        }
    }
}

fn emit(level: Level, s: &str) {
    if enabled(level) {
        let st = style();
        let prefix = PREFIX.get().map(String::as_str).unwrap_or("");
        write_line(&format_line(st, prefix, &stamp(st == Style::App), level, s));
    }
}

/// Debug line.
pub fn debug(s: &str) {
    emit(Level::Debug, s);
}
/// Info line.
pub fn info(s: &str) {
    emit(Level::Info, s);
}
/// Warning line.
pub fn warn(s: &str) {
    emit(Level::Warn, s);
}
/// Error line.
pub fn error(s: &str) {
    emit(Level::Error, s);
}
/// The last line before a fatal exit (always printed).
pub fn fatal(s: &str) {
    let st = style();
    let prefix = PREFIX.get().map(String::as_str).unwrap_or("");
    write_line(&format_line(
        st,
        prefix,
        &stamp(st == Style::App),
        Level::Fatal,
        s,
    ));
}

/// go-nsq numbers its consumers and producers from 1, in one sequence.
static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// Who a client-library line is about, as go-nsq tags it: the instance
/// number, and `[topic/channel]` for a consumer.
#[derive(Debug, Clone)]
pub struct Source {
    id: u64,
    tag: String,
}

impl Source {
    /// A consumer of `topic`/`channel` (the next instance number).
    pub fn consumer(topic: &str, channel: &str) -> Source {
        Source {
            id: INSTANCES.fetch_add(1, Ordering::Relaxed) + 1,
            tag: format!("[{topic}/{channel}] "),
        }
    }

    /// A producer (the next instance number).
    pub fn producer() -> Source {
        Source {
            id: INSTANCES.fetch_add(1, Ordering::Relaxed) + 1,
            tag: String::new(),
        }
    }

    /// The line without its time stamp: `INF   1 [t/c] (addr) message`.
    pub fn format(&self, level: Level, addr: Option<&str>, s: &str) -> String {
        let lvl = match level {
            Level::Debug => "DBG",
            Level::Info => "INF",
            Level::Warn => "WRN",
            Level::Error | Level::Fatal => "ERR",
        };
        let addr = addr.map(|a| format!("({a}) ")).unwrap_or_default();
        format!("{lvl:<4} {:>3} {}{addr}{s}", self.id, self.tag)
    }

    /// Print a line about the instance, or (`addr`) one of its connections.
    pub fn log(&self, level: Level, addr: Option<&str>, s: &str) {
        if enabled(level) {
            write_line(&format!(
                "{} {}\n",
                stamp(false),
                self.format(level, addr, s)
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_lines() {
        let t = "2024/02/29 13:14:15";
        assert_eq!(
            format_line(
                Style::Std,
                "",
                t,
                Level::Info,
                "Adding consumer for topic: a"
            ),
            "2024/02/29 13:14:15 Adding consumer for topic: a\n"
        );
        assert_eq!(
            format_line(Style::Std, "p ", t, Level::Error, "x"),
            "p 2024/02/29 13:14:15 ERROR: x\n"
        );
        assert_eq!(
            format_line(Style::App, "[nsq_to_file] ", "T", Level::Warn, "x"),
            "[nsq_to_file] T WARNING: x\n"
        );
    }

    #[test]
    fn library_lines_as_go_nsq() {
        let c = Source {
            id: 1,
            tag: "[t/c] ".into(),
        };
        assert_eq!(
            c.format(Level::Info, Some("127.0.0.1:4150"), "connecting to nsqd"),
            "INF    1 [t/c] (127.0.0.1:4150) connecting to nsqd"
        );
        let p = Source {
            id: 12,
            tag: String::new(),
        };
        assert_eq!(p.format(Level::Warn, None, "stopping"), "WRN   12 stopping");
        assert_eq!(stamp(false).len(), "2024/02/29 13:14:15".len());
        assert_eq!(stamp(true).len(), "2024/02/29 13:14:15.000016".len());
    }
}
