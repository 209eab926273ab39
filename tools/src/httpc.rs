//! A minimal blocking HTTP/1.1 client: one request per connection
//! (`Connection: close`), connect and whole-request timeouts, over plain
//! TCP or, for `https://` [`Target`]s, rustls verified against the system
//! CA bundle (or `SSL_CERT_FILE`), as Go's default HTTP client does.
//! Enough for lookupd, nsqd `/stats` and nsq_to_http.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::{ClientConfig, ClientConnection, StreamOwned};

use crate::client::conn::dial;
use crate::client::transport;

/// A parsed `http://host:port/path?query` (scheme optional; plain HTTP).
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
    /// The URL is not `http://` (or `https://` where allowed).
    BadUrl(String),
    /// TLS could not be set up (CA bundle, server name).
    Tls(String),
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
            HttpError::Tls(s) => write!(f, "TLS: {s}"),
        }
    }
}

impl std::error::Error for HttpError {}

impl Url {
    /// Parse a plain HTTP URL; `https://` is refused (see [`Target`]).
    pub fn parse(s: &str) -> Result<Url, HttpError> {
        let rest = if let Some(r) = s.strip_prefix("http://") {
            r
        } else if s.contains("://") {
            return Err(HttpError::BadUrl(s.to_string()));
        } else {
            s
        };
        Url::split(s, rest, 80)
    }

    /// `host[:port][/path][?query]` after the scheme.
    fn split(whole: &str, rest: &str, default_port: u16) -> Result<Url, HttpError> {
        let (host, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'/' => (&rest[..i], rest[i..].to_string()),
            Some(i) => (&rest[..i], format!("/{}", &rest[i..])),
            None => (rest, "/".to_string()),
        };
        if host.is_empty() {
            return Err(HttpError::BadUrl(whole.to_string()));
        }
        let host = if host.rsplit_once(':').is_some_and(|(_, p)| !p.contains(']')) {
            host.to_string()
        } else {
            format!("{host}:{default_port}")
        };
        Ok(Url { host, path })
    }
}

/// A URL the tools may call over HTTP or HTTPS (nsq_to_http's `--get` /
/// `--post`, lookupd addresses given as `https://…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `https://`.
    pub tls: bool,
    /// Host (port 443 added for https when missing) and path.
    pub url: Url,
}

impl Target {
    /// Parse `http://…`, `https://…` or a bare `host:port/…` (HTTP).
    pub fn parse(s: &str) -> Result<Target, HttpError> {
        match s.strip_prefix("https://") {
            Some(rest) => Ok(Target {
                tls: true,
                url: Url::split(s, rest, 443)?,
            }),
            None => Ok(Target {
                tls: false,
                url: Url::parse(s)?,
            }),
        }
    }

    fn scheme(&self) -> &'static str {
        if self.tls {
            "https"
        } else {
            "http"
        }
    }
}

/// The rustls configuration of HTTPS requests: system roots, no client
/// certificate (go-nsq's `tls_*` options are for nsqd connections only).
fn tls_config() -> Result<Arc<ClientConfig>, HttpError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            transport::client_config(&crate::client::Config::default()).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(HttpError::Tls)
}

/// The connection of one request.
enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            // A server that closes without close_notify ends the body.
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
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

/// One plain HTTP request.
pub fn request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
) -> Result<Response, HttpError> {
    let target = Target {
        tls: false,
        url: url.clone(),
    };
    request_to(method, &target, headers, body, t)
}

/// One request over HTTP or HTTPS.
pub fn request_to(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
) -> Result<Response, HttpError> {
    let tls = if target.tls {
        Some(tls_config()?)
    } else {
        None
    };
    exchange(method, target, headers, body, t, tls)
}

/// [`request_to`] with the caller's TLS configuration for `https://`
/// (nsqadmin's `--http-client-tls-*`: own roots, client certificate).
pub fn request_to_with(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
    tls: &Arc<ClientConfig>,
) -> Result<Response, HttpError> {
    let tls = target.tls.then(|| tls.clone());
    exchange(method, target, headers, body, t, tls)
}

/// One exchange; `tls` is set exactly for `https://` targets.
fn exchange(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
    tls: Option<Arc<ClientConfig>>,
) -> Result<Response, HttpError> {
    let url = &target.url;
    let io = |what: &str, e: &dyn std::fmt::Display| {
        HttpError::Io(format!(
            "{method} {}://{}{}: {what}: {e}",
            target.scheme(),
            url.host,
            url.path
        ))
    };
    // A socket timeout surfaces as EAGAIN/EWOULDBLOCK ("Resource
    // temporarily unavailable"): say what it is.
    let timed_out = |what: &str, e: std::io::Error, after: Duration| match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
            io(what, &format_args!("timed out after {}", seconds(after)))
        }
        _ => io(what, &e),
    };
    let sock = dial(&url.host, t.connect).map_err(|e| io("connect", &e))?;
    let mut s = if let Some(config) = tls {
        let name = transport::server_name(&url.host).map_err(|e| HttpError::Tls(e.to_string()))?;
        let conn =
            ClientConnection::new(config, name).map_err(|e| HttpError::Tls(e.to_string()))?;
        Stream::Tls(Box::new(StreamOwned::new(conn, sock)))
    } else {
        Stream::Plain(sock)
    };
    let deadline = Instant::now() + t.request;
    // Bounds the TLS handshake too (it runs inside the first write).
    let _ = s.socket().set_write_timeout(Some(t.request));
    let _ = s.socket().set_read_timeout(Some(t.request));
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
    s.write_all(&out)
        .and_then(|_| s.flush())
        .map_err(|e| timed_out("write", e, t.request))?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io(
                "read",
                &format_args!("timed out after {}", seconds(t.request)),
            ));
        }
        let _ = s.socket().set_read_timeout(Some(left));
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(timed_out("read", e, t.request)),
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
/// A duration as Go prints a whole number of seconds (`5s`), else `1.5s`.
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{s}s")
    }
}

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
        let t = Target::parse("https://h/x?y").unwrap();
        assert_eq!(
            (t.tls, t.url.host.as_str(), t.url.path.as_str()),
            (true, "h:443", "/x?y")
        );
        let t = Target::parse("h:1").unwrap();
        assert_eq!((t.tls, t.url.host.as_str()), (false, "h:1"));
        assert!(Target::parse("ftp://h/").is_err());
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
    fn a_silent_https_server_times_out() {
        // Accepts and never answers the TLS handshake.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let held = l.accept();
            let _ = rx.recv();
            drop(held);
        });
        let t = Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_millis(200),
        };
        let target = Target::parse(&format!("https://{addr}/")).unwrap();
        let r = request_to("GET", &target, &[], b"", t);
        let _ = tx.send(());
        let Err(HttpError::Io(text)) = r else {
            panic!("{r:?}")
        };
        assert!(text.ends_with("timed out after 0.2s"), "{text}");
    }

    #[test]
    fn a_silent_http_server_times_out_saying_so() {
        // Accepts, reads the request, never answers.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let held = l.accept();
            let _ = rx.recv();
            drop(held);
        });
        let t = Timeouts {
            connect: Duration::from_secs(5),
            request: Duration::from_secs(1),
        };
        let target = Target::parse(&format!("http://{addr}/stats")).unwrap();
        let r = request_to("GET", &target, &[], b"", t);
        let _ = tx.send(());
        let Err(HttpError::Io(text)) = r else {
            panic!("{r:?}")
        };
        assert_eq!(
            text,
            format!("GET http://{addr}/stats: read: timed out after 1s")
        );
    }

    #[test]
    fn escapes() {
        assert_eq!(query_escape(b"a b&c/d"), "a+b%26c%2Fd");
    }
}
