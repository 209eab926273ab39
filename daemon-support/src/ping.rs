//! A health probe: `GET /ping` on a daemon's HTTP port, healthy on `200`.
//! It is what the `nsq_ping` binary runs, so a container image without a
//! shell or curl can still have a health check (`nsqd` answers
//! `500 NOK - <error>` while its disk writes fail, which counts as unhealthy).

use std::time::Duration;

use nsq_http_client::{Client, DialError, HttpError, Timeouts, Url};

/// The largest answer read (`/ping` answers are a few bytes).
const MAX_ANSWER: usize = 8 * 1024;

/// What a probe found wrong.
#[derive(Debug)]
pub enum PingError {
    /// The target is not `[http://]host:port[/path]`.
    Target(String),
    /// No address of the host accepted a connection (or it did not
    /// resolve).
    Connect(String, DialError),
    /// The exchange failed or timed out, or the answer is not HTTP.
    Request(HttpError),
    /// An answer other than 200 (status and body).
    Status(u16, String),
}

impl std::fmt::Display for PingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PingError::Target(t) => write!(
                f,
                "invalid target {t:?} (want [http://]host:port[/path], e.g. 127.0.0.1:4151)"
            ),
            PingError::Connect(a, e) => write!(f, "connect {a} failed - {e}"),
            PingError::Request(e) => write!(f, "{e}"),
            PingError::Status(code, body) => write!(f, "answered {code} {}", body.trim()),
        }
    }
}

impl std::error::Error for PingError {}

/// A probe's target: where to connect and which path to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub authority: String,
    /// The request path (`/ping` unless given).
    pub path: String,
}

impl Target {
    /// Parse `[http://]host:port[/path]`.
    pub fn parse(text: &str) -> Result<Target, PingError> {
        let bad = || PingError::Target(text.to_string());
        let rest = text.strip_prefix("http://").unwrap_or(text);
        if rest.contains("://") {
            return Err(bad());
        }
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/ping"),
        };
        let port = authority.rsplit_once(':').map(|(_, p)| p).ok_or_else(bad)?;
        if port.parse::<u16>().is_err() || authority.starts_with(':') {
            return Err(bad());
        }
        Ok(Target {
            authority: authority.to_string(),
            path: path.to_string(),
        })
    }
}

/// `GET` the target within `timeout` overall; `Ok` with the body on `200`.
pub fn ping(target: &Target, timeout: Duration) -> Result<String, PingError> {
    request(target, "GET", timeout)
}

/// `method` (without a body) on the target within `timeout` overall,
/// through `nsq_http_client`; `Ok` with the body on `200`.
pub fn request(target: &Target, method: &str, timeout: Duration) -> Result<String, PingError> {
    let url = nsq_http_client::Target::http(Url {
        host: target.authority.clone(),
        path: target.path.clone(),
    });
    let answer = Client::new(Timeouts {
        connect: timeout,
        request: timeout,
    })
    .with_max_response(MAX_ANSWER)
    .request(method, &url, &[("User-Agent", "nsq_ping")], b"")
    .map_err(|e| match e {
        HttpError::Connect { source, .. } if source.resolved => {
            PingError::Connect(target.authority.clone(), source)
        }
        other => PingError::Request(other),
    })?;
    let body = String::from_utf8_lossy(&answer.body).into_owned();
    if answer.status == 200 {
        Ok(body)
    } else {
        Err(PingError::Status(answer.status, body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    #[test]
    fn targets() {
        let t = Target::parse("127.0.0.1:4151").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("127.0.0.1:4151", "/ping")
        );
        let t = Target::parse("http://nsqd:4151/ping").unwrap();
        assert_eq!(
            (t.authority.as_str(), t.path.as_str()),
            ("nsqd:4151", "/ping")
        );
        let t = Target::parse("[::1]:4171/ping").unwrap();
        assert_eq!(t.authority, "[::1]:4171");
        for bad in [
            "",
            "nsqd",
            "https://nsqd:4151",
            ":4151",
            "nsqd:port",
            "nsqd:70000",
        ] {
            assert!(Target::parse(bad).is_err(), "{bad:?}");
        }
    }

    /// Answer one connection with `answer` and return its address.
    fn server(answer: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(answer.as_bytes());
            // Keep the connection open until the probe closes it: a probe
            // that waited for the server's close would time out instead.
            let _ = s.set_read_timeout(Some(Duration::from_secs(30)));
            let _ = s.read(&mut buf);
        });
        addr
    }

    #[test]
    fn ok_is_healthy_without_waiting_for_the_close() {
        let addr = server("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK");
        let body = ping(&Target::parse(&addr).unwrap(), Duration::from_secs(10)).unwrap();
        assert_eq!(body, "OK");
    }

    #[test]
    fn an_error_status_is_unhealthy() {
        let addr = server("HTTP/1.1 500 Internal Server Error\r\nContent-Length: 22\r\n\r\nNOK - disk write error");
        let err = ping(&Target::parse(&addr).unwrap(), Duration::from_secs(10)).unwrap_err();
        assert_eq!(err.to_string(), "answered 500 NOK - disk write error");
    }

    #[test]
    fn nobody_listening_is_unhealthy() {
        let addr = nsq_test_support::dead_addr();
        let err = ping(&Target::parse(&addr).unwrap(), Duration::from_secs(5)).unwrap_err();
        assert!(matches!(err, PingError::Connect(..)), "{err}");
    }
}
