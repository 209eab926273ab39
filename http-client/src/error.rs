//! Why a request failed. The texts are what users read in logs and in
//! nsqadmin's `UPSTREAM_ERROR` messages: `GET http://h:1/x: read: timed out
//! after 5s`.

use std::fmt;

/// Why a request failed.
#[derive(Debug)]
pub enum HttpError {
    /// The URL is not `http://` or `https://` (or a bare `host:port/…`).
    BadUrl(String),
    /// TLS could not be set up (no configuration, a bad server name).
    Tls(String),
    /// No connection could be made (`METHOD url: connect: dial tcp …`).
    Connect {
        /// `METHOD url`.
        what: String,
        /// Why.
        source: DialError,
    },
    /// The request ran out of time or its write or read failed:
    /// `METHOD url: step: why`.
    Io(String),
    /// The reply is not HTTP, or breaks its own framing.
    BadResponse(String),
    /// The reply is larger than the client accepts.
    TooLarge {
        /// `METHOD url`.
        what: String,
        /// The limit, in bytes.
        limit: usize,
    },
}

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HttpError::BadUrl(s) => write!(f, "bad URL {s:?}"),
            HttpError::Io(s) | HttpError::BadResponse(s) => write!(f, "{s}"),
            HttpError::Tls(s) => write!(f, "TLS: {s}"),
            HttpError::Connect { what, source } => write!(f, "{what}: connect: {source}"),
            HttpError::TooLarge { what, limit } => {
                write!(f, "{what}: response larger than {limit} bytes")
            }
        }
    }
}

impl std::error::Error for HttpError {}

/// A TCP connection that could not be made: `dial tcp h:1: why` (or
/// `resolve h:1: why`).
#[derive(Debug)]
pub struct DialError {
    /// What was being done: `resolve <addr>` or `dial tcp <addr>`.
    pub context: String,
    /// The socket error.
    pub source: std::io::Error,
    /// The host resolved (the connect itself failed).
    pub resolved: bool,
}

impl fmt::Display for DialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.context, self.source)
    }
}

impl std::error::Error for DialError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// A host that is no valid TLS server name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadServerName {
    /// The host, without port or brackets.
    pub host: String,
    /// Why rustls refused it.
    pub reason: String,
}

impl fmt::Display for BadServerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TLS server name {:?}: {}", self.host, self.reason)
    }
}

impl std::error::Error for BadServerName {}
