//! The crate's error type: what stops nsqlookupd from starting (exit
//! non-zero with this message, docs/configuration.md#startup-failures).
//! Protocol errors sent to a peer are `nsq_protocol::ClientError`s and never
//! end the process.

use std::fmt;

/// A startup failure.
#[derive(Debug)]
pub enum LookupError {
    /// `--tcp-address` / `--http-address` is not `host:port`.
    Address {
        /// Which flag.
        flag: &'static str,
        /// Its value.
        value: String,
    },
    /// Could not listen on an address.
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
    /// The glommio executor could not start (often: `ulimit -l` too low).
    Executor(String),
    /// io_uring cannot run here (seccomp, kernel, locked memory).
    Uring(nsq_daemon_support::UringError),
    /// The executor thread panicked.
    Panicked,
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::Address { flag, value } => {
                write!(f, "invalid --{flag} {value:?} (want host:port)")
            }
            LookupError::Listen { addr, source } => write!(f, "listen ({addr}) failed - {source}"),
            LookupError::Executor(e) => write!(
                f,
                "failed to start the executor - {e} (io_uring needs locked memory: check `ulimit -l`)"
            ),
            LookupError::Uring(e) => write!(f, "{e}"),
            LookupError::Panicked => f.write_str("the executor thread panicked: exiting"),
        }
    }
}

impl std::error::Error for LookupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LookupError::Listen { source, .. } => Some(source),
            LookupError::Uring(e) => Some(e),
            _ => None,
        }
    }
}
