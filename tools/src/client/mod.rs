//! The client library: [`Consumer`] and [`Producer`] over blocking TCP, with
//! go-nsq's conventions (docs/clients.md) and option names ([`Config::set`]).

pub mod backoff;
pub mod config;
pub mod conn;
pub mod consumer;
pub mod lookup;
pub mod message;
pub mod producer;
pub mod rdy;
pub mod transport;

pub use config::Config;
pub use consumer::{Consumer, Handler};
pub use message::Message;
pub use producer::Producer;

/// Errors of the client library.
#[derive(Debug)]
pub enum Error {
    /// A socket error, with what was being done.
    Io(String, std::io::Error),
    /// The server answered with an error frame (`E_CODE text`).
    Server(String),
    /// The server broke the protocol.
    Protocol(String),
    /// A bad option or argument.
    Config(String),
    /// The connection or producer is closed.
    Closed,
    /// No reply within the configured timeout.
    Timeout,
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Io(what, e) => write!(f, "{what}: {e}"),
            Error::Server(text) => write!(f, "{text}"),
            Error::Protocol(text) => write!(f, "protocol error: {text}"),
            Error::Config(text) => write!(f, "{text}"),
            Error::Closed => write!(f, "connection closed"),
            Error::Timeout => write!(f, "timed out waiting for a response"),
        }
    }
}

impl std::error::Error for Error {}

/// A small xorshift generator seeded from the clock and a counter: enough
/// for jitter, random connection picks and `tail<6 digits>` names.
pub fn random_u64() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static STATE: AtomicU64 = AtomicU64::new(0);
    let mut x = STATE.load(Ordering::Relaxed);
    if x == 0 {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1);
        x = t ^ ((std::process::id() as u64) << 32) | 1;
    }
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    STATE.store(x, Ordering::Relaxed);
    x
}
