//! A health probe: `GET /ping` on a daemon's HTTP port, healthy on `200`.
//! It is what the `nsq_ping` binary runs, so a container image without a
//! shell or curl can still have a health check (`nsqd` answers
//! `500 NOK - <error>` while its disk writes fail, which counts as unhealthy).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// The largest answer read (`/ping` answers are a few bytes).
const MAX_ANSWER: usize = 8 * 1024;

/// What a probe found wrong.
#[derive(Debug)]
pub enum PingError {
    /// The target is not `[http://]host:port[/path]`.
    Target(String),
    /// The host did not resolve.
    Resolve(String, std::io::Error),
    /// No address of the host accepted a connection.
    Connect(String, std::io::Error),
    /// The exchange failed or timed out.
    Io(String, std::io::Error),
    /// Not an HTTP answer.
    Malformed(String),
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
            PingError::Resolve(h, e) => write!(f, "cannot resolve {h} - {e}"),
            PingError::Connect(a, e) => write!(f, "connect {a} failed - {e}"),
            PingError::Io(a, e) => write!(f, "{a}: {e}"),
            PingError::Malformed(a) => write!(f, "{a}: not an HTTP answer"),
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

/// `method` (without a body) on the target within `timeout` overall; `Ok`
/// with the body on `200`.
pub fn request(target: &Target, method: &str, timeout: Duration) -> Result<String, PingError> {
    let deadline = Instant::now() + timeout;
    let addrs: Vec<SocketAddr> = target
        .authority
        .to_socket_addrs()
        .map_err(|e| PingError::Resolve(target.authority.clone(), e))?
        .collect();
    let mut last = None;
    for addr in addrs {
        let left = deadline.saturating_duration_since(Instant::now());
        match TcpStream::connect_timeout(&addr, left.max(Duration::from_millis(1))) {
            Ok(stream) => return exchange(stream, target, method, deadline),
            Err(e) => last = Some(PingError::Connect(addr.to_string(), e)),
        }
    }
    Err(last.unwrap_or_else(|| {
        PingError::Resolve(
            target.authority.clone(),
            std::io::Error::new(std::io::ErrorKind::NotFound, "no address"),
        )
    }))
}

fn exchange(
    mut stream: TcpStream,
    target: &Target,
    method: &str,
    deadline: Instant,
) -> Result<String, PingError> {
    let io = |e| PingError::Io(target.authority.clone(), e);
    let left = || {
        deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1))
    };
    stream.set_write_timeout(Some(left())).map_err(io)?;
    let length = if method == "GET" {
        ""
    } else {
        "Content-Length: 0\r\n"
    };
    let request = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: nsq_ping\r\n{length}Connection: close\r\n\r\n",
        target.path, target.authority
    );
    stream.write_all(request.as_bytes()).map_err(io)?;
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        stream.set_read_timeout(Some(left())).map_err(io)?;
        let n = stream.read(&mut buf).map_err(io)?;
        answer.extend_from_slice(&buf[..n]);
        if n == 0 || answer.len() >= MAX_ANSWER || complete(&answer) {
            break;
        }
    }
    let (status, body) =
        parse(&answer).ok_or_else(|| PingError::Malformed(target.authority.clone()))?;
    if status == 200 {
        Ok(body)
    } else {
        Err(PingError::Status(status, body))
    }
}

/// Whether `answer` holds the whole head and `Content-Length` body bytes
/// (without a length, the server's close ends it).
fn complete(answer: &[u8]) -> bool {
    let Some(end) = answer.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&answer[..end]);
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse::<usize>().ok())
        .is_some_and(|len| answer.len() >= end + 4 + len)
}

/// The status code and body of an HTTP/1.x answer.
fn parse(answer: &[u8]) -> Option<(u16, String)> {
    let text = String::from_utf8_lossy(answer);
    let (head, body) = text.split_once("\r\n\r\n")?;
    let mut status_line = head.lines().next()?.split(' ');
    if !status_line.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let status = status_line.next()?.parse().ok()?;
    Some((status, body.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
