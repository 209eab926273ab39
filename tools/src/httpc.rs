//! A minimal blocking HTTP/1.1 client: one request per connection
//! (`Connection: close`), connect and whole-request timeouts, plain HTTP
//! ([`request`]) or HTTPS through rustls ([`request_tls`], with a config
//! from [`crate::client::transport::client_config`]). Enough for lookupd,
//! nsqd `/stats`, nsq_to_http and nsqadmin's upstream calls.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::client::conn::dial;
use crate::client::transport::{handshake, server_name};

/// A parsed `http://host:port/path?query` (scheme optional).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `host:port` (port 80 added when missing).
    pub host: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

/// Why a request failed.
#[derive(Debug)]
pub enum HttpError {
    /// The URL is not plain `http://`.
    BadUrl(String),
    /// Connect, write or read failed.
    Io(String),
    /// The reply is not HTTP.
    BadResponse(String),
}

impl std::fmt::Display for HttpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpError::BadUrl(s) => write!(f, "bad URL {s:?}"),
            HttpError::Io(s) | HttpError::BadResponse(s) => write!(f, "{s}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl Url {
    /// Parse; `https://` is refused (no TLS in this client).
    pub fn parse(s: &str) -> Result<Url, HttpError> {
        let rest = if let Some(r) = s.strip_prefix("http://") {
            r
        } else if s.contains("://") {
            return Err(HttpError::BadUrl(s.to_string()));
        } else {
            s
        };
        let (host, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if host.is_empty() {
            return Err(HttpError::BadUrl(s.to_string()));
        }
        let host = if host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
            host.to_string()
        } else {
            format!("{host}:80")
        };
        Ok(Url { host, path })
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body (de-chunked).
    pub body: Vec<u8>,
}

impl Response {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Timeouts of a request.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect.
    pub connect: Duration,
    /// The whole request after connecting.
    pub request: Duration,
}

/// One request over plain HTTP.
pub fn request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
) -> Result<Response, HttpError> {
    exchange(method, url, headers, body, t, None)
}

/// One request over HTTPS: `url.host` is the TLS server name (an IP
/// address or a DNS name) and `tls` says which certificates to trust.
pub fn request_tls(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
    tls: &Arc<ClientConfig>,
) -> Result<Response, HttpError> {
    exchange(method, url, headers, body, t, Some(tls))
}

/// The socket, plain or through a TLS session.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn sock(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    fn write_all(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(data),
            Stream::Tls(s) => s.write_all(data).and_then(|_| s.flush()),
        }
    }

    /// A read; a TLS peer closing without `close_notify` reads as EOF
    /// (the body's length, when given, still decides completeness).
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

fn exchange(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
    tls: Option<&Arc<ClientConfig>>,
) -> Result<Response, HttpError> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let target = format!("{method} {scheme}://{}{}", url.host, url.path);
    let io =
        |what: &str, e: &dyn std::fmt::Display| HttpError::Io(format!("{target}: {what}: {e}"));
    let sock = dial(&url.host, t.connect).map_err(|e| io("connect", &e))?;
    let deadline = Instant::now() + t.request;
    let _ = sock.set_write_timeout(Some(t.request));
    let mut s = match tls {
        None => Stream::Plain(sock),
        Some(config) => {
            let _ = sock.set_read_timeout(Some(t.request));
            // handshake's errors name themselves ("TLS handshake: …").
            let tls_err = |e: crate::client::Error| HttpError::Io(format!("{target}: {e}"));
            let name = server_name(&url.host).map_err(tls_err)?;
            let conn = handshake(config.clone(), name, &sock).map_err(tls_err)?;
            Stream::Tls(Box::new(StreamOwned::new(conn, sock)))
        }
    };
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n",
        url.path, url.host
    );
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    {
        head.push_str(&format!("User-Agent: nsq-tools/{}\r\n", crate::NSQ_VERSION));
    }
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if method != "GET" || !body.is_empty() {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(body);
    s.write_all(&out).map_err(|e| io("write", &e))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io("read", &"request timeout"));
        }
        let _ = s.sock().set_read_timeout(Some(left));
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("read", &e)),
        }
        if let Some(r) = try_parse(&raw, method, false)? {
            return Ok(r);
        }
    }
    try_parse(&raw, method, true)?
        .ok_or_else(|| HttpError::BadResponse(format!("truncated HTTP response from {}", url.host)))
}

/// A complete response in `raw`, if there is one yet (a body without a
/// length runs to EOF: the caller passes what it has at EOF).
fn try_parse(raw: &[u8], method: &str, eof: bool) -> Result<Option<Response>, HttpError> {
    let mut hs = [httparse::EMPTY_HEADER; 64];
    let mut resp = httparse::Response::new(&mut hs);
    let head_len = match resp.parse(raw) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => return Err(HttpError::BadResponse(format!("bad HTTP response: {e}"))),
    };
    let status = resp.code.unwrap_or(0);
    let headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let rest = &raw[head_len..];
    let no_body = method == "HEAD" || status == 204 || status == 304 || status / 100 == 1;
    let body = if no_body {
        Vec::new()
    } else if find("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        match nsq_protocol::http::decode_chunked(rest, 1 << 30) {
            Ok(nsq_protocol::Decoded::Complete { value, .. }) => value,
            Ok(nsq_protocol::Decoded::Incomplete) => return Ok(None),
            Err(e) => return Err(HttpError::BadResponse(format!("bad chunked body: {e:?}"))),
        }
    } else if let Some(len) = find("content-length") {
        let len: usize = len
            .parse()
            .map_err(|_| HttpError::BadResponse(format!("bad Content-Length {len:?}")))?;
        if rest.len() < len {
            return Ok(None);
        }
        rest[..len].to_vec()
    } else {
        if !eof {
            return Ok(None);
        }
        rest.to_vec()
    };
    Ok(Some(Response {
        status,
        headers,
        body,
    }))
}

/// Percent-encode for a URL query value (Go's `url.QueryEscape`).
pub fn query_escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = Url::parse("127.0.0.1:4161").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("127.0.0.1:4161", "/"));
        let u = Url::parse("http://h:1/lookup?x=y").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("h:1", "/lookup?x=y"));
        let u = Url::parse("http://h?x").unwrap();
        assert_eq!((u.host.as_str(), u.path.as_str()), ("h:80", "/?x"));
        assert!(Url::parse("https://h:1/").is_err());
    }

    #[test]
    fn parses_lengths_and_chunks() {
        let r = try_parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            "GET",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"ok"[..]));
        assert!(try_parse(
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nok",
            "GET",
            false
        )
        .unwrap()
        .is_none());
        let r = try_parse(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
            "GET",
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(r.body, b"ok");
    }

    #[test]
    fn escapes() {
        assert_eq!(query_escape(b"a b&c/d"), "a+b%26c%2Fd");
    }
}
