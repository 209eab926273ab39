//! AUTH against external auth servers (docs/protocol.md#auth,
//! #the-auth-server).
//!
//! The HTTP call never runs on a shard: helper threads ("auth-N") take
//! requests from a channel, make the blocking HTTP request (plain or HTTPS
//! through rustls) with NSQ's connect and request timeouts, and send the
//! validated result back; the connection awaits it, so the shard keeps
//! serving everyone else meanwhile. The pool grows when every helper is
//! busy (up to [`MAX_WORKERS`] per shard), so clients stuck on a slow auth
//! server do not delay the others' AUTH, as in Go, where each connection
//! makes its own request.
//!
//! NSQ's contract, copied: GET `<addr>/auth?common_name=&remote_ip=&secret=&tls=`
//! (sorted, query-escaped; `addr` is `host:port` or a full URL), or with
//! `--auth-http-request-method=post` a POST of the same values as JSON
//! one-element arrays; servers are tried in turn from a random one; a 403
//! with `https_port` on plain HTTP retries over HTTPS; the reply must be 200
//! with `ttl > 0`, known permissions and compiling regexes.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::time::{Duration, Instant};

use regex::Regex;
use serde::Deserialize;

/// What a connection sends to the auth server.
#[derive(Debug, Clone)]
pub struct AuthRequest {
    /// The AUTH body.
    pub secret: Vec<u8>,
    /// Client IP (no port).
    pub remote_ip: String,
    /// Whether the connection is TLS.
    pub tls: bool,
    /// Client certificate CN (empty without one).
    pub common_name: String,
}

/// One authorization entry (regexes compiled once).
#[derive(Debug, Clone)]
pub struct Authorization {
    topic: Regex,
    channels: Vec<Regex>,
    subscribe: bool,
    publish: bool,
}

impl Authorization {
    fn allows(&self, topic: &str, channel: &str) -> bool {
        let permitted = if channel.is_empty() {
            self.publish
        } else {
            self.subscribe
        };
        permitted && self.topic.is_match(topic) && self.channels.iter().any(|c| c.is_match(channel))
    }
}

/// A validated auth server answer.
#[derive(Debug, Clone)]
pub struct AuthState {
    /// `identity`.
    pub identity: String,
    /// `identity_url`.
    pub identity_url: String,
    /// The entries.
    pub authorizations: Vec<Authorization>,
    /// now + ttl.
    pub expires: Instant,
}

impl AuthState {
    /// Past its TTL: the next check re-queries.
    pub fn expired(&self) -> bool {
        self.expires <= Instant::now()
    }

    /// Whether any entry grants `topic`/`channel` (channel "" = publish).
    /// Regexes are unanchored, as Go's `MatchString`.
    pub fn allows(&self, topic: &str, channel: &str) -> bool {
        self.authorizations.iter().any(|a| a.allows(topic, channel))
    }
}

/// A connection's auth: its secret (for re-queries after the TTL) and the
/// last answer. Travels with the connection on a SUB handoff.
#[derive(Debug, Clone)]
pub struct AuthSession {
    /// The AUTH body.
    pub secret: Vec<u8>,
    /// The last answer.
    pub state: AuthState,
    /// The last topic a publish was allowed to (skips the regexes for a
    /// producer that keeps publishing to one topic).
    pub last_publish_allowed: Option<String>,
}

impl AuthSession {
    /// NSQ's `HasAuthorizations`.
    pub fn has_authorizations(&self) -> bool {
        !self.state.authorizations.is_empty()
    }

    /// Whether `topic`/`channel` is allowed (the TTL is the caller's).
    pub fn allows(&mut self, topic: &str, channel: &str) -> bool {
        if channel.is_empty() && self.last_publish_allowed.as_deref() == Some(topic) {
            return true;
        }
        let ok = self.state.allows(topic, channel);
        if ok && channel.is_empty() {
            self.last_publish_allowed = Some(topic.to_string());
        }
        ok
    }
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawAuthorization {
    topic: String,
    channels: Vec<String>,
    permissions: Vec<String>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(default)]
struct RawState {
    ttl: i64,
    authorizations: Vec<RawAuthorization>,
    identity: String,
    identity_url: String,
}

/// Lower-case object keys (Go's decoder matches them case-insensitively);
/// `null` becomes absent.
fn lower_keys(v: serde_json::Value) -> serde_json::Value {
    match v {
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.to_ascii_lowercase(), lower_keys(v)))
                .collect(),
        ),
        serde_json::Value::Array(a) => {
            serde_json::Value::Array(a.into_iter().map(lower_keys).collect())
        }
        other => other,
    }
}

/// Parse and validate an auth server's 200 body.
pub fn parse_state(body: &[u8], now: Instant) -> Result<AuthState, String> {
    let value: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| format!("invalid JSON - {e}"))?;
    let raw: RawState =
        serde_json::from_value(lower_keys(value)).map_err(|e| format!("invalid JSON - {e}"))?;
    let mut authorizations = Vec::with_capacity(raw.authorizations.len());
    for a in raw.authorizations {
        let (mut subscribe, mut publish) = (false, false);
        for p in &a.permissions {
            match p.as_str() {
                "subscribe" => subscribe = true,
                "publish" => publish = true,
                other => return Err(format!("unknown permission {other}")),
            }
        }
        let topic = Regex::new(&a.topic)
            .map_err(|e| format!("unable to compile topic {:?} {e}", a.topic))?;
        let channels = a
            .channels
            .iter()
            .map(|c| Regex::new(c).map_err(|e| format!("unable to compile channel {c:?} {e}")))
            .collect::<Result<Vec<_>, _>>()?;
        authorizations.push(Authorization {
            topic,
            channels,
            subscribe,
            publish,
        });
    }
    if raw.ttl <= 0 {
        return Err(format!("invalid TTL {} (must be >0)", raw.ttl));
    }
    Ok(AuthState {
        identity: raw.identity,
        identity_url: raw.identity_url,
        authorizations,
        expires: now + Duration::from_secs(raw.ttl as u64),
    })
}

// ------------------------------------------------------------- the client

/// Auth client settings.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `--auth-http-address` values.
    pub addresses: Vec<String>,
    /// `--auth-http-request-method=post`.
    pub post: bool,
    /// `--http-client-connect-timeout`.
    pub connect_timeout: Duration,
    /// `--http-client-request-timeout`.
    pub request_timeout: Duration,
    /// For HTTPS auth servers.
    pub tls: Arc<rustls::ClientConfig>,
}

type Job = (AuthRequest, flume::Sender<Result<AuthState, String>>);

/// Handle to the auth helper threads.
#[derive(Debug)]
pub struct AuthClient {
    jobs: flume::Sender<Job>,
    pool: Arc<Pool>,
}

/// Helper threads kept even when idle: auth calls are rare (once per
/// connection and per TTL).
const WORKERS: usize = 4;

/// At most this many requests of one shard wait on auth servers at once
/// (each may wait up to `--http-client-request-timeout`); more queue.
pub const MAX_WORKERS: usize = 256;

/// A helper beyond [`WORKERS`] idle this long exits.
const IDLE_EXIT: Duration = Duration::from_secs(30);

/// The helper threads' shared state.
#[derive(Debug)]
struct Pool {
    rx: flume::Receiver<Job>,
    config: AuthConfig,
    /// Helpers running (counted from before their thread starts).
    total: std::sync::atomic::AtomicUsize,
    /// Requests sent and not yet answered: when there are more than
    /// helpers, one waits in the queue, so another helper is started.
    busy: std::sync::atomic::AtomicUsize,
}

impl Pool {
    /// Start one more helper, unless there are [`MAX_WORKERS`].
    fn grow(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::SeqCst;
        let n = self.total.fetch_add(1, SeqCst);
        if n >= MAX_WORKERS {
            self.total.fetch_sub(1, SeqCst);
            return;
        }
        let pool = self.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("auth-{n}"))
            .spawn(move || pool.work(n < WORKERS));
        if spawned.is_err() {
            self.total.fetch_sub(1, SeqCst);
        }
    }

    /// Start a helper if some request has none.
    fn grow_if_short(self: &Arc<Self>) {
        use std::sync::atomic::Ordering::SeqCst;
        if self.busy.load(SeqCst) > self.total.load(SeqCst) {
            self.grow();
        }
    }

    fn work(self: Arc<Self>, permanent: bool) {
        use std::sync::atomic::Ordering::SeqCst;
        loop {
            let job = if permanent {
                self.rx
                    .recv()
                    .map_err(|_| flume::RecvTimeoutError::Disconnected)
            } else {
                self.rx.recv_timeout(IDLE_EXIT)
            };
            let (req, reply) = match job {
                Ok(job) => job,
                Err(flume::RecvTimeoutError::Disconnected) => {
                    self.total.fetch_sub(1, SeqCst);
                    return;
                }
                Err(flume::RecvTimeoutError::Timeout) => {
                    self.total.fetch_sub(1, SeqCst);
                    // A request sent just now may have counted on us.
                    self.grow_if_short();
                    return;
                }
            };
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                query_any(&self.config, &req)
            }))
            .unwrap_or_else(|_| Err("auth query panicked".into()));
            self.busy.fetch_sub(1, SeqCst);
            let _ = reply.send(result);
        }
    }
}

impl AuthClient {
    /// Start the helper threads.
    pub fn start(config: AuthConfig) -> AuthClient {
        let (jobs, rx) = flume::unbounded::<Job>();
        let pool = Arc::new(Pool {
            rx,
            config,
            total: std::sync::atomic::AtomicUsize::new(0),
            busy: std::sync::atomic::AtomicUsize::new(0),
        });
        for _ in 0..WORKERS {
            pool.grow();
        }
        AuthClient { jobs, pool }
    }

    /// Query the auth servers off the shard and await the answer.
    pub async fn query(&self, req: AuthRequest) -> Result<AuthState, String> {
        let (tx, rx) = flume::bounded(1);
        // Every helper busy (on a slow server, say): one more, so this
        // request does not wait behind theirs.
        self.pool
            .busy
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.pool.grow_if_short();
        if self.jobs.send((req, tx)).is_err() {
            self.pool
                .busy
                .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
            return Err("auth workers gone".to_string());
        }
        rx.recv_async()
            .await
            .map_err(|_| "auth worker dropped the request".to_string())?
    }
}

fn random_start(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    nanos % n.max(1)
}

/// Try every server once, from a random one; the last error if all fail.
pub fn query_any(config: &AuthConfig, req: &AuthRequest) -> Result<AuthState, String> {
    let n = config.addresses.len();
    if n == 0 {
        return Err("no auth server".into());
    }
    let start = random_start(n);
    let mut last = String::new();
    for i in 0..n {
        let addr = &config.addresses[(start + i) % n];
        match query_one(config, addr, req) {
            Ok(state) => return Ok(state),
            Err(e) => {
                crate::log!(Warn, "failed auth against {addr} {e}");
                last = e;
            }
        }
    }
    Err(last)
}

/// Go's `url.QueryEscape`.
fn query_escape(s: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s {
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

/// The four parameters, sorted by key (Go's `url.Values`).
fn params(req: &AuthRequest) -> [(&'static str, Vec<u8>); 4] {
    [
        ("common_name", req.common_name.as_bytes().to_vec()),
        ("remote_ip", req.remote_ip.as_bytes().to_vec()),
        ("secret", req.secret.clone()),
        (
            "tls",
            if req.tls {
                b"true".to_vec()
            } else {
                b"false".to_vec()
            },
        ),
    ]
}

/// The GET query string.
pub fn query_string(req: &AuthRequest) -> String {
    params(req)
        .iter()
        .map(|(k, v)| format!("{k}={}", query_escape(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The POST body: each value a one-element array (Go's url.Values as JSON).
pub fn post_body(req: &AuthRequest) -> Vec<u8> {
    let map: std::collections::BTreeMap<&str, [String; 1]> = params(req)
        .into_iter()
        .map(|(k, v)| (k, [String::from_utf8_lossy(&v).into_owned()]))
        .collect();
    serde_json::to_vec(&map).unwrap_or_default()
}

fn query_one(config: &AuthConfig, addr: &str, req: &AuthRequest) -> Result<AuthState, String> {
    let mut endpoint = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}/auth")
    };
    loop {
        let (status, body) = if config.post {
            http_call(
                config,
                "POST",
                &endpoint,
                Some(("application/json", post_body(req))),
            )?
        } else {
            http_call(
                config,
                "GET",
                &format!("{endpoint}?{}", query_string(req)),
                None,
            )?
        };
        if status == 403 && !endpoint.starts_with("https") {
            endpoint = https_endpoint(&endpoint, &body)?;
            continue;
        }
        if status != 200 {
            return Err(format!(
                "got response {status} {:?}",
                String::from_utf8_lossy(&body)
            ));
        }
        return parse_state(&body, Instant::now());
    }
}

/// A 403 `{"https_port": N}`: the same endpoint over HTTPS on port N.
fn https_endpoint(endpoint: &str, body: &[u8]) -> Result<String, String> {
    #[derive(Deserialize)]
    struct Port {
        https_port: u16,
    }
    let port: Port = serde_json::from_slice(body).map_err(|e| format!("403 - {e}"))?;
    let url = Url::parse(endpoint)?;
    Ok(format!(
        "https://{}:{}{}",
        url.host, port.https_port, url.path_and_query
    ))
}

/// The pieces of an http(s) URL this client needs.
#[derive(Debug, PartialEq, Eq)]
struct Url {
    https: bool,
    host: String,
    port: u16,
    path_and_query: String,
}

impl Url {
    fn parse(url: &str) -> Result<Url, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("invalid URL {url:?}"))?;
        let https = match scheme.to_ascii_lowercase().as_str() {
            "http" => false,
            "https" => true,
            other => return Err(format!("unsupported protocol scheme {other:?}")),
        };
        let (authority, path) = match rest.find(['/', '?']) {
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let path = if path.starts_with('?') {
            format!("/{path}")
        } else {
            path
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => (
                h.trim_start_matches('[').trim_end_matches(']').to_string(),
                p.parse().map_err(|_| format!("invalid port in {url:?}"))?,
            ),
            _ => (authority.to_string(), if https { 443 } else { 80 }),
        };
        Ok(Url {
            https,
            host,
            port,
            path_and_query: path,
        })
    }
}

/// Largest auth reply read.
const MAX_REPLY: usize = 1 << 20;

trait Conn: Read + Write {}
impl<T: Read + Write> Conn for T {}

/// One blocking HTTP/1.1 request (`Connection: close`); (status, body).
fn http_call(
    config: &AuthConfig,
    method: &str,
    url: &str,
    body: Option<(&str, Vec<u8>)>,
) -> Result<(u16, Vec<u8>), String> {
    let u = Url::parse(url)?;
    let deadline = Instant::now() + config.request_timeout;
    let addr = (u.host.as_str(), u.port)
        .to_socket_addrs()
        .map_err(|e| format!("{e}"))?
        .next()
        .ok_or_else(|| format!("no address for {}", u.host))?;
    let tcp = TcpStream::connect_timeout(&addr, config.connect_timeout)
        .map_err(|e| format!("dial {addr}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    tcp.set_read_timeout(Some(config.request_timeout))
        .map_err(|e| e.to_string())?;
    tcp.set_write_timeout(Some(config.request_timeout))
        .map_err(|e| e.to_string())?;
    let mut conn: Box<dyn Conn> = if u.https {
        let name = rustls::pki_types::ServerName::try_from(u.host.clone())
            .map_err(|e| format!("invalid server name {}: {e}", u.host))?;
        let client =
            rustls::ClientConnection::new(config.tls.clone(), name).map_err(|e| e.to_string())?;
        Box::new(rustls::StreamOwned::new(client, tcp))
    } else {
        Box::new(tcp)
    };
    let host_header = if (u.https && u.port == 443) || (!u.https && u.port == 80) {
        u.host.clone()
    } else {
        format!("{}:{}", u.host, u.port)
    };
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: nsqd/{}\r\nAccept: application/vnd.nsq; version=1.0\r\nConnection: close\r\n",
        u.path_and_query,
        crate::options::NSQ_VERSION
    );
    let payload = match &body {
        Some((ctype, b)) => {
            head.push_str(&format!(
                "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
                b.len()
            ));
            b.as_slice()
        }
        None => &[][..],
    };
    head.push_str("\r\n");
    let mut request = head.into_bytes();
    request.extend_from_slice(payload);
    conn.write_all(&request).map_err(|e| e.to_string())?;
    conn.flush().map_err(|e| e.to_string())?;

    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(done) = parse_response(&buf)? {
            return Ok(done);
        }
        if Instant::now() > deadline {
            return Err("request timeout".into());
        }
        match conn.read(&mut chunk) {
            Ok(0) => return parse_response_eof(&buf),
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                if buf.len() > MAX_REPLY {
                    return Err("reply too large".into());
                }
            }
            // A TLS peer that closes without close_notify.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return parse_response_eof(&buf)
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

struct Head {
    status: u16,
    len: usize,
    content_length: Option<usize>,
    chunked: bool,
}

fn parse_head(buf: &[u8]) -> Result<Option<Head>, String> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return Ok(None);
    };
    let text = String::from_utf8_lossy(&buf[..end]);
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("malformed HTTP status line {status_line:?}"))?;
    let (mut content_length, mut chunked) = (None, false);
    for line in lines {
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                content_length = v.parse().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    Ok(Some(Head {
        status,
        len: end + 4,
        content_length,
        chunked,
    }))
}

fn parse_response(buf: &[u8]) -> Result<Option<(u16, Vec<u8>)>, String> {
    let Some(head) = parse_head(buf)? else {
        return Ok(None);
    };
    let body = &buf[head.len..];
    if head.chunked {
        let mut dec = nsq_protocol::http::ChunkedDecoder::new(MAX_REPLY as u64);
        return match dec.feed(body) {
            Ok((_, Some(b))) => Ok(Some((head.status, b))),
            Ok((_, None)) => Ok(None),
            Err(_) => Err("malformed chunked body".into()),
        };
    }
    match head.content_length {
        Some(n) if body.len() >= n => Ok(Some((head.status, body[..n].to_vec()))),
        _ => Ok(None),
    }
}

fn parse_response_eof(buf: &[u8]) -> Result<(u16, Vec<u8>), String> {
    let head = parse_head(buf)?.ok_or("connection closed before the reply")?;
    if head.chunked || head.content_length.is_some() {
        return Err("connection closed mid-reply".into());
    }
    Ok((head.status, buf[head.len..].to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req() -> AuthRequest {
        AuthRequest {
            secret: b"s e/c+r&t\xff".to_vec(),
            remote_ip: "127.0.0.1".into(),
            tls: false,
            common_name: String::new(),
        }
    }

    #[test]
    fn get_query_is_sorted_and_escaped_like_go() {
        assert_eq!(
            query_string(&req()),
            "common_name=&remote_ip=127.0.0.1&secret=s+e%2Fc%2Br%26t%FF&tls=false"
        );
    }

    #[test]
    fn post_body_is_url_values_json() {
        let mut r = req();
        r.secret = b"abc".to_vec();
        r.tls = true;
        r.common_name = "cn".into();
        assert_eq!(
            String::from_utf8(post_body(&r)).unwrap(),
            r#"{"common_name":["cn"],"remote_ip":["127.0.0.1"],"secret":["abc"],"tls":["true"]}"#
        );
    }

    #[test]
    fn state_validation_and_matching() {
        let now = Instant::now();
        let s = parse_state(
            br#"{"TTL":10,"identity":"u","identity_url":"http://x",
                "authorizations":[{"topic":"^t","channels":[".*"],"permissions":["publish"]},
                                  {"topic":"sub","channels":["^c$"],"permissions":["subscribe"]}]}"#,
            now,
        )
        .unwrap();
        assert_eq!(s.identity, "u");
        assert!(s.allows("topic", ""));
        assert!(!s.allows("xtopic", ""));
        assert!(!s.allows("topic", "c"), "publish-only entry grants no SUB");
        assert!(s.allows("asubz", "c"), "unanchored topic regex");
        assert!(!s.allows("sub", "cc"));
        assert!(!s.allows("sub", ""), "subscribe entry grants no publish");
        // A publish grant whose channels do not match "" grants nothing.
        let s = parse_state(
            br#"{"ttl":1,"authorizations":[{"topic":".*","channels":["x"],"permissions":["publish"]}]}"#,
            now,
        )
        .unwrap();
        assert!(!s.allows("t", ""));

        for bad in [
            &br#"{"ttl":0,"authorizations":[]}"#[..],
            br#"{"ttl":5,"authorizations":[{"topic":".*","channels":[".*"],"permissions":["admin"]}]}"#,
            br#"{"ttl":5,"authorizations":[{"topic":"(","channels":[".*"],"permissions":["publish"]}]}"#,
            br#"{"ttl":5,"authorizations":[{"topic":"a","channels":["["],"permissions":["publish"]}]}"#,
            br#"{"ttl":"5"}"#,
            b"not json",
        ] {
            assert!(
                parse_state(bad, now).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn urls() {
        assert_eq!(
            Url::parse("http://127.0.0.1:4181/auth?x=1").unwrap(),
            Url {
                https: false,
                host: "127.0.0.1".into(),
                port: 4181,
                path_and_query: "/auth?x=1".into()
            }
        );
        let u = Url::parse("https://auth.example").unwrap();
        assert_eq!((u.port, u.path_and_query.as_str()), (443, "/"));
        assert_eq!(
            https_endpoint("http://h:1/auth", br#"{"https_port":4443}"#).unwrap(),
            "https://h:4443/auth"
        );
    }

    #[test]
    fn responses() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(r).unwrap(), Some((200, b"{}".to_vec())));
        assert_eq!(parse_response(&r[..r.len() - 1]).unwrap(), None);
        let c = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
        assert_eq!(parse_response(c).unwrap(), Some((200, b"{}".to_vec())));
        let e = b"HTTP/1.0 403 Forbidden\r\n\r\nbody";
        assert_eq!(parse_response_eof(e).unwrap(), (403, b"body".to_vec()));
    }
}
