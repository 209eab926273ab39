//! Logging to stderr for the library and the tools: a level filter
//! (`--log-level` debug|info|warn|error|fatal) and a prefix (`--log-prefix`).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

static LEVEL: AtomicU8 = AtomicU8::new(1);
static PREFIX: OnceLock<String> = OnceLock::new();

/// Parse and set the level; an error for an unknown name.
pub fn set_level(name: &str) -> Result<(), String> {
    let l = match name.to_ascii_lowercase().as_str() {
        "debug" => 0,
        "info" => 1,
        "warn" | "warning" => 2,
        "error" => 3,
        "fatal" => 4,
        other => return Err(format!("invalid log level {other:?}")),
    };
    LEVEL.store(l, Ordering::Relaxed);
    Ok(())
}

/// Set the prefix of every line (once).
pub fn set_prefix(prefix: &str) {
    let _ = PREFIX.set(prefix.to_string());
}

fn emit(level: u8, tag: &str, s: &str) {
    if level >= LEVEL.load(Ordering::Relaxed) {
        let prefix = PREFIX.get().map(String::as_str).unwrap_or("");
        eprintln!("{prefix}{tag} {s}");
    }
}

/// Debug line.
pub fn debug(s: &str) {
    emit(0, "DBG", s);
}
/// Info line.
pub fn info(s: &str) {
    emit(1, "INF", s);
}
/// Warning line.
pub fn warn(s: &str) {
    emit(2, "WRN", s);
}
/// Error line.
pub fn error(s: &str) {
    emit(3, "ERR", s);
}
