//! NSQ-style logging to stderr (docs/configuration.md#signals-and-logs):
//! `<prefix>YYYY/MM/DD HH:MM:SS.micro LEVEL: message`, the format of
//! `nsq_protocol::logfmt`, filtered by `--log-level` (which nsqd's and
//! nsqadmin's `PUT /config/log_level` may change at run time) and led by
//! `--log-prefix`. One module for nsqd, nsqlookupd, nsqadmin and the tools
//! (whose own line shapes are built on [`write_line`] and [`enabled`]).
//! Tests read the bound ports from the `listening on` lines.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;
use std::time::{SystemTime, UNIX_EPOCH};

pub use nsq_protocol::logfmt::Level;

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Set the level and the prefix (the prefix once, at startup).
pub fn init(level: Level, prefix: &str) {
    set_level(level);
    set_prefix(prefix);
}

/// Set the prefix of every line (once; later calls change nothing).
pub fn set_prefix(prefix: &str) {
    let _ = PREFIX.set(prefix.to_string());
}

/// The prefix (empty before [`init`]).
pub fn prefix() -> &'static str {
    PREFIX.get().map_or("", String::as_str)
}

/// The current level.
pub fn level() -> Level {
    Level::from_u8(LEVEL.load(Ordering::Relaxed))
}

/// Change the level (`PUT /config/log_level`).
pub fn set_level(level: Level) {
    LEVEL.store(level as u8, Ordering::Relaxed);
}

/// Whether messages at `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

/// The current UTC time as Go's log package prints it, with microseconds.
pub fn timestamp() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    nsq_protocol::logfmt::timestamp(now)
}

/// Write `line` (with its newline) to stderr in one piece. Like Go's log
/// package, a failed write (stderr closed: the reading end of a pipe gone)
/// is ignored; `eprintln!` would panic and take down the thread that
/// logged.
pub fn write_line(line: &str) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// The daemons' line for `message` at `level`.
pub fn format_line(prefix: &str, stamp: &str, level: Level, message: &str) -> String {
    format!("{prefix}{stamp} {}: {message}\n", level.name())
}

/// Print one log line if `level` is enabled.
pub fn write(level: Level, args: std::fmt::Arguments<'_>) {
    if enabled(level) {
        write_line(&format_line(
            prefix(),
            &timestamp(),
            level,
            &args.to_string(),
        ));
    }
}

/// Log at a level: `log!(Info, "x {}", y)`. A daemon re-exports this
/// module and macro as its own `log` (`pub use nsq_daemon_support::log;`),
/// so `crate::log!` works in it.
#[macro_export]
macro_rules! log {
    ($level:ident, $($arg:tt)*) => {
        $crate::log::write($crate::log::Level::$level, format_args!($($arg)*))
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_as_nsq_prints_them() {
        assert_eq!(
            format_line("[nsqd] ", "2024/02/29 13:14:15.000016", Level::Warn, "x y"),
            "[nsqd] 2024/02/29 13:14:15.000016 WARNING: x y\n"
        );
        assert_eq!(timestamp().len(), "2024/02/29 13:14:15.000016".len());
    }
}
