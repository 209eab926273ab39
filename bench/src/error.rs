//! The harness's error type: every failure names what was being done and
//! with which broker, so a failed run says why without a backtrace.

use std::fmt;

/// Why a bench run failed.
#[derive(Debug)]
pub enum BenchError {
    /// Connecting to the broker failed.
    Connect {
        /// Broker address.
        addr: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A socket read or write failed mid-run.
    Io {
        /// What the harness was doing.
        context: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The broker closed the connection.
    Closed(&'static str),
    /// The broker sent bytes that are not a valid frame stream.
    Frame(nsq_protocol::frame::FrameError),
    /// The broker answered a command with an error frame.
    Broker(String),
    /// No answer within the bound.
    Timeout(&'static str),
    /// Flags that make no sense together.
    Config(String),
    /// An HTTP call to the broker failed or was not answered with 200.
    Http(String),
    /// Writing a report file failed.
    Output {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A worker thread panicked.
    Worker(&'static str),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Connect { addr, source } => write!(f, "connect to {addr}: {source}"),
            BenchError::Io { context, source } => write!(f, "{context}: {source}"),
            BenchError::Closed(what) => write!(f, "broker closed the connection ({what})"),
            BenchError::Frame(e) => write!(f, "bad frame from broker: {e}"),
            BenchError::Broker(msg) => write!(f, "broker error: {msg}"),
            BenchError::Timeout(what) => write!(f, "timed out: {what}"),
            BenchError::Config(msg) => write!(f, "bad options: {msg}"),
            BenchError::Http(msg) => write!(f, "HTTP: {msg}"),
            BenchError::Output { path, source } => {
                write!(f, "write {}: {source}", path.display())
            }
            BenchError::Worker(what) => write!(f, "{what} thread panicked"),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BenchError::Connect { source, .. }
            | BenchError::Io { source, .. }
            | BenchError::Output { source, .. } => Some(source),
            BenchError::Frame(e) => Some(e),
            _ => None,
        }
    }
}

impl From<nsq_protocol::frame::FrameError> for BenchError {
    fn from(e: nsq_protocol::frame::FrameError) -> Self {
        BenchError::Frame(e)
    }
}

/// Shorthand used across the crate.
pub type Result<T> = std::result::Result<T, BenchError>;

/// Attach a context to an I/O error.
pub(crate) fn io(context: &'static str) -> impl FnOnce(std::io::Error) -> BenchError {
    move |source| BenchError::Io { context, source }
}
