//! What stops nsqadmin from starting (exit non-zero with this message).

use std::fmt;

/// A startup failure.
#[derive(Debug)]
pub enum AdminError {
    /// A flag's value is unusable (the message says which and why).
    Config(String),
    /// Could not listen on `--http-address`.
    Listen {
        /// The address.
        addr: String,
        /// Why.
        source: std::io::Error,
    },
}

impl fmt::Display for AdminError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AdminError::Config(msg) => write!(f, "{msg}"),
            AdminError::Listen { addr, source } => write!(f, "listen ({addr}) failed - {source}"),
        }
    }
}

impl std::error::Error for AdminError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AdminError::Listen { source, .. } => Some(source),
            AdminError::Config(_) => None,
        }
    }
}
