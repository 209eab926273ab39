//! AUTH against external auth servers (docs/protocol.md#auth,
//! #the-auth-server).
//!
//! The HTTP call never runs on a shard: helper threads ("auth-N") take
//! requests from a channel, make the blocking HTTP request (plain or HTTPS
//! through rustls) with NSQ's connect and request timeouts, and send the
//! validated result back; the connection awaits it, so the shard keeps
//! serving everyone else meanwhile. The pool grows when every helper is
//! busy (up to [`MAX_WORKERS`], for the whole process), so clients stuck on a slow auth
//! server do not delay the others' AUTH, as in Go, where each connection
//! makes its own request.
//!
//! NSQ's contract, copied: GET `<addr>/auth?common_name=&remote_ip=&secret=&tls=`
//! (sorted, query-escaped; `addr` is `host:port` or a full URL), or with
//! `--auth-http-request-method=post` a POST of the same values as JSON
//! one-element arrays; servers are tried in turn from a random one; a 403
//! with `https_port` on plain HTTP retries over HTTPS; the reply must be 200
//! with `ttl > 0`, known permissions and compiling regexes.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nsq_http_client::{query_escape, Client, HttpError, Target, Timeouts};
use regex::Regex;
use serde::Deserialize;

/// Why an AUTH (or its refresh) failed; logged, and the client gets
/// `E_AUTH_FAILED`.
#[derive(Debug)]
pub enum AuthError {
    /// The 200 body is not the JSON an auth server answers.
    InvalidJson(serde_json::Error),
    /// A permission other than `subscribe` and `publish`.
    UnknownPermission(String),
    /// A topic or channel pattern that does not compile.
    BadPattern {
        /// `topic` or `channel`.
        what: &'static str,
        /// The pattern.
        pattern: String,
        /// Why.
        source: regex::Error,
    },
    /// `ttl` of 0 or less.
    InvalidTtl(i64),
    /// No `--auth-http-address`.
    NoServer,
    /// The request itself failed (address, connect, timeout, TLS, read).
    Http(HttpError),
    /// An answer other than 200 (or a 403 that names an HTTPS port).
    Status(u16, String),
    /// A 403 whose body names no HTTPS port.
    BadRedirect(serde_json::Error),
    /// The helper threads are gone, or one panicked.
    Workers(&'static str),
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AuthError::InvalidJson(e) => write!(f, "invalid JSON - {e}"),
            AuthError::UnknownPermission(p) => write!(f, "unknown permission {p}"),
            AuthError::BadPattern {
                what,
                pattern,
                source,
            } => write!(f, "unable to compile {what} {pattern:?} {source}"),
            AuthError::InvalidTtl(ttl) => write!(f, "invalid TTL {ttl} (must be >0)"),
            AuthError::NoServer => f.write_str("no auth server"),
            AuthError::Http(e) => write!(f, "{e}"),
            AuthError::Status(code, body) => write!(f, "got response {code} {body:?}"),
            AuthError::BadRedirect(e) => write!(f, "403 - {e}"),
            AuthError::Workers(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for AuthError {}

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
pub fn parse_state(body: &[u8], now: Instant) -> Result<AuthState, AuthError> {
    let value: serde_json::Value = serde_json::from_slice(body).map_err(AuthError::InvalidJson)?;
    let raw: RawState =
        serde_json::from_value(lower_keys(value)).map_err(AuthError::InvalidJson)?;
    let mut authorizations = Vec::with_capacity(raw.authorizations.len());
    for a in raw.authorizations {
        let (mut subscribe, mut publish) = (false, false);
        for p in &a.permissions {
            match p.as_str() {
                "subscribe" => subscribe = true,
                "publish" => publish = true,
                other => return Err(AuthError::UnknownPermission(other.to_string())),
            }
        }
        let compile = |what, pattern: &str| {
            Regex::new(pattern).map_err(|source| AuthError::BadPattern {
                what,
                pattern: pattern.to_string(),
                source,
            })
        };
        let topic = compile("topic", &a.topic)?;
        let channels = a
            .channels
            .iter()
            .map(|c| compile("channel", c))
            .collect::<Result<Vec<_>, _>>()?;
        authorizations.push(Authorization {
            topic,
            channels,
            subscribe,
            publish,
        });
    }
    if raw.ttl <= 0 {
        return Err(AuthError::InvalidTtl(raw.ttl));
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

type Job = (AuthRequest, flume::Sender<Result<AuthState, AuthError>>);

/// Handle to the auth helper threads.
#[derive(Debug)]
pub struct AuthClient {
    jobs: flume::Sender<Job>,
    pool: Arc<Pool>,
}

/// Helper threads kept even when idle: auth calls are rare (once per
/// connection and per TTL).
const WORKERS: usize = 4;

/// At most this many requests wait on auth servers at once (each may wait
/// up to `--http-client-request-timeout`); more queue.
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
            .unwrap_or_else(|_| Err(AuthError::Workers("auth query panicked")));
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
    pub async fn query(&self, req: AuthRequest) -> Result<AuthState, AuthError> {
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
            return Err(AuthError::Workers("auth workers gone"));
        }
        rx.recv_async()
            .await
            .map_err(|_| AuthError::Workers("auth worker dropped the request"))?
    }
}

fn random_start(n: usize) -> usize {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos() as usize);
    nanos % n.max(1)
}

/// Try every server once, from a random one; the last error if all fail.
pub fn query_any(config: &AuthConfig, req: &AuthRequest) -> Result<AuthState, AuthError> {
    let n = config.addresses.len();
    if n == 0 {
        return Err(AuthError::NoServer);
    }
    let start = random_start(n);
    let mut last = AuthError::NoServer;
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

/// Largest auth reply read.
const MAX_REPLY: usize = 1 << 20;

/// The headers of an auth request (`Content-Type` for a POST).
fn headers(content_type: Option<&str>) -> Vec<(&'static str, String)> {
    let mut h = vec![
        (
            "User-Agent",
            format!("nsqd/{}", crate::options::NSQ_VERSION),
        ),
        ("Accept", "application/vnd.nsq; version=1.0".to_string()),
    ];
    if let Some(t) = content_type {
        h.push(("Content-Type", t.to_string()));
    }
    h
}

fn query_one(config: &AuthConfig, addr: &str, req: &AuthRequest) -> Result<AuthState, AuthError> {
    let endpoint = if addr.contains("://") {
        addr.to_string()
    } else {
        format!("http://{addr}/auth")
    };
    let mut target = Target::parse(&endpoint).map_err(AuthError::Http)?;
    let client = Client::new(Timeouts {
        connect: config.connect_timeout,
        request: config.request_timeout,
    })
    .with_tls(config.tls.clone())
    .with_max_response(MAX_REPLY);
    loop {
        let reply = if config.post {
            let h = headers(Some("application/json"));
            client.request("POST", &target, &h, &post_body(req))
        } else {
            let mut get = target.clone();
            get.url.path = format!("{}?{}", get.url.path, query_string(req));
            client.request("GET", &get, &headers(None), b"")
        }
        .map_err(AuthError::Http)?;
        if reply.status == 403 && !target.tls {
            target = https_target(&target, &reply.body)?;
            continue;
        }
        if reply.status != 200 {
            return Err(AuthError::Status(
                reply.status,
                String::from_utf8_lossy(&reply.body).into_owned(),
            ));
        }
        return parse_state(&reply.body, Instant::now());
    }
}

/// A 403 `{"https_port": N}`: the same endpoint over HTTPS on port N.
fn https_target(target: &Target, body: &[u8]) -> Result<Target, AuthError> {
    #[derive(Deserialize)]
    struct Port {
        https_port: u16,
    }
    let port: Port = serde_json::from_slice(body).map_err(AuthError::BadRedirect)?;
    Ok(Target {
        tls: true,
        url: target.url.with_port(port.https_port),
    })
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
    fn a_403_with_an_https_port_moves_to_https() {
        let t = Target::parse("http://h:1/auth").unwrap();
        let t = https_target(&t, br#"{"https_port":4443}"#).unwrap();
        assert_eq!(t.to_string(), "https://h:4443/auth");
        assert!(https_target(&t, b"{}").is_err());
    }
}
