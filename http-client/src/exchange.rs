//! One request and its answer: [`Client`] holds what every request of a
//! caller shares (timeouts, the TLS configuration of `https://` targets,
//! the largest answer it takes); [`Client::request`] dials, writes the head
//! and body, and reads the answer within the request's deadline.

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::conn::{dial, server_name, Stream};
use crate::error::HttpError;
use crate::response::{Response, ResponseReader};
use crate::url::Target;

/// NSQ's two HTTP client timeouts (zero: no bound).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// The TCP connect (`--http-client-connect-timeout`).
    pub connect: Duration,
    /// The whole request, connect included (`--http-client-request-timeout`).
    pub request: Duration,
}

/// What the requests of one caller share.
#[derive(Debug, Clone)]
pub struct Client {
    timeouts: Timeouts,
    tls: Option<Arc<ClientConfig>>,
    max_response: usize,
}

/// A duration as Go prints a whole number of seconds (`5s`), else `1.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{s}s")
    }
}

/// Where a request stands against its deadline.
struct Deadline {
    at: Option<Instant>,
    timeout: Duration,
}

impl Deadline {
    fn new(timeout: Duration) -> Deadline {
        Deadline {
            at: (!timeout.is_zero()).then(|| Instant::now() + timeout),
            timeout,
        }
    }

    /// Time left (`None`: unbounded); an error once none is.
    fn left(&self) -> Result<Option<Duration>, String> {
        match self.at {
            None => Ok(None),
            Some(at) => match at.saturating_duration_since(Instant::now()) {
                d if d.is_zero() => Err(self.expired()),
                d => Ok(Some(d)),
            },
        }
    }

    fn expired(&self) -> String {
        format!("timed out after {}", seconds(self.timeout))
    }
}

impl Client {
    /// A client with these timeouts, for plain HTTP only.
    pub fn new(timeouts: Timeouts) -> Client {
        Client {
            timeouts,
            tls: None,
            max_response: 1 << 30,
        }
    }

    /// Call `https://` targets with this TLS configuration.
    pub fn with_tls(mut self, tls: Arc<ClientConfig>) -> Client {
        self.tls = Some(tls);
        self
    }

    /// Refuse answers larger than `bytes` (head included).
    pub fn with_max_response(mut self, bytes: usize) -> Client {
        self.max_response = bytes;
        self
    }

    /// The timeouts.
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// One request: `headers` as given (in order, after `Host` and
    /// `Connection: close`), a `Content-Length` unless it is a GET without a
    /// body. Any status is an answer.
    pub fn request<K: AsRef<str>, V: AsRef<str>>(
        &self,
        method: &str,
        target: &Target,
        headers: &[(K, V)],
        body: &[u8],
    ) -> Result<Response, HttpError> {
        let what = format!("{method} {target}");
        let io = |step: &str, e: &dyn fmt::Display| HttpError::Io(format!("{what}: {step}: {e}"));
        let deadline = Deadline::new(self.timeouts.request);
        // A socket timeout surfaces as EAGAIN ("Resource temporarily
        // unavailable"): say what it is.
        let failed = |step: &str, e: std::io::Error| match e.kind() {
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                io(step, &deadline.expired())
            }
            _ => io(step, &e),
        };
        let tls = match (target.tls, &self.tls) {
            (false, _) => None,
            (true, Some(config)) => Some(config.clone()),
            (true, None) => return Err(HttpError::Tls(format!("{what}: no TLS configuration"))),
        };
        let connect = match deadline.left().map_err(|e| io("connect", &e))? {
            Some(left) if !self.timeouts.connect.is_zero() => left.min(self.timeouts.connect),
            Some(left) => left,
            None => self.timeouts.connect,
        };
        let sock = dial(&target.url.host, connect).map_err(|source| HttpError::Connect {
            what: what.clone(),
            source,
        })?;
        let _ = sock.set_nodelay(true);
        let mut s = match tls {
            Some(config) => {
                let name =
                    server_name(&target.url.host).map_err(|e| HttpError::Tls(e.to_string()))?;
                let conn = ClientConnection::new(config, name)
                    .map_err(|e| HttpError::Tls(e.to_string()))?;
                Stream::Tls(Box::new(StreamOwned::new(conn, sock)))
            }
            None => Stream::Plain(sock),
        };
        // Bounds the TLS handshake too (it runs inside the first write).
        let left = deadline.left().map_err(|e| io("write", &e))?;
        let _ = s.socket().set_write_timeout(left);
        let _ = s.socket().set_read_timeout(left);
        let mut out = head(method, target, headers, body);
        out.extend_from_slice(body);
        s.write_all(&out)
            .and_then(|_| s.flush())
            .map_err(|e| failed("write", e))?;
        let mut reader = ResponseReader::new(method, self.max_response);
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let left = deadline.left().map_err(|e| io("read", &e))?;
            let _ = s.socket().set_read_timeout(left);
            match s.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => {
                    let done = reader.push(&chunk[..n]).map_err(|e| context(&what, e))?;
                    if reader.over_limit() {
                        return Err(HttpError::TooLarge {
                            what,
                            limit: self.max_response,
                        });
                    }
                    if let Some(r) = done {
                        return Ok(r);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(failed("read", e)),
            }
        }
        reader.finish().map_err(|e| context(&what, e))
    }
}

/// `what: ` before a malformed-response error.
fn context(what: &str, e: HttpError) -> HttpError {
    match e {
        HttpError::BadResponse(s) => HttpError::BadResponse(format!("{what}: {s}")),
        other => other,
    }
}

/// The request head.
fn head<K: AsRef<str>, V: AsRef<str>>(
    method: &str,
    target: &Target,
    headers: &[(K, V)],
    body: &[u8],
) -> Vec<u8> {
    let url = &target.url;
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        url.path,
        url.host_header(target.tls)
    );
    for (k, v) in headers {
        head.push_str(&format!("{}: {}\r\n", k.as_ref(), v.as_ref()));
    }
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    head.into_bytes()
}

#[cfg(test)]
mod tests;
