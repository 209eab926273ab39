//! Logging to stderr for the library and the tools: a level filter
//! (`--log-level` debug|info|warn|error|fatal) and a prefix (`--log-prefix`).
//! Lines look like go-nsq's: `<prefix><DBG|INF|WRN|ERR> <text>`.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

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

static LEVEL: AtomicU8 = AtomicU8::new(Level::Info as u8);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Parse (case-insensitively, NSQ's names) and set the level.
pub fn set_level(name: &str) -> Result<(), UnknownLevel> {
    let l = Level::parse(name).ok_or_else(|| UnknownLevel(name.to_string()))?;
    LEVEL.store(l as u8, Ordering::Relaxed);
    Ok(())
}

/// Set the prefix of every line (once).
pub fn set_prefix(prefix: &str) {
    let _ = PREFIX.set(prefix.to_string());
}

/// Whether lines of `level` are printed.
pub fn enabled(level: Level) -> bool {
    level as u8 >= LEVEL.load(Ordering::Relaxed)
}

fn emit(level: Level, tag: &str, s: &str) {
    if enabled(level) {
        let prefix = PREFIX.get().map(String::as_str).unwrap_or("");
        // A failed write (stderr closed) is ignored, as Go's log does.
        let _ = writeln!(std::io::stderr().lock(), "{prefix}{tag} {s}");
    }
}

/// Debug line.
pub fn debug(s: &str) {
    emit(Level::Debug, "DBG", s);
}
/// Info line.
pub fn info(s: &str) {
    emit(Level::Info, "INF", s);
}
/// Warning line.
pub fn warn(s: &str) {
    emit(Level::Warn, "WRN", s);
}
/// Error line.
pub fn error(s: &str) {
    emit(Level::Error, "ERR", s);
}
