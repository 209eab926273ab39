//! Calls to nsqlookupd and nsqd: a blocking HTTP client with
//! `--http-client-connect-timeout` / `--http-client-request-timeout` that
//! follows an nsqd's 403 `{"https_port":N}` (TLS required) over HTTPS with
//! the `--http-client-tls-*` options, as NSQ's `http_api` client does; and
//! [`fan_out`], which runs one call per upstream on a few plain threads and
//! keeps the answers in input order.
//!
//! Errors read as Go's nsqadmin words them, since they end up in the
//! `UPSTREAM_ERROR: …` and `WARNING: …` messages scripts may log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nsq_tools::httpc::{self, Response, Target, Timeouts, Url};
use rustls::ClientConfig;
use serde::de::DeserializeOwned;

use crate::options::Flags;

/// Most upstream calls in flight for one request.
pub const MAX_PARALLEL: usize = 16;

/// Why one upstream call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpstreamError {
    /// Connect, I/O or a non-HTTP answer.
    Transport(String),
    /// A non-200 answer: status and NSQ's `message` (or the body).
    Status {
        /// `METHOD http://addr/path`.
        what: String,
        /// The status code.
        status: u16,
        /// The error message of the answer.
        message: String,
    },
    /// A 200 whose body is not the expected JSON.
    Json(String),
}

impl UpstreamError {
    /// The upstream's status code, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            UpstreamError::Status { status, .. } => Some(*status),
            _ => None,
        }
    }
}

impl std::fmt::Display for UpstreamError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            UpstreamError::Transport(e) | UpstreamError::Json(e) => write!(f, "{e}"),
            UpstreamError::Status {
                what,
                status,
                message,
            } => write!(f, "{what}: got response {status}, {message}"),
        }
    }
}

/// The HTTP client nsqadmin uses for every upstream.
#[derive(Debug, Clone)]
pub struct Client {
    timeouts: Timeouts,
    /// For nsqd that require TLS (their HTTPS port).
    tls: Arc<ClientConfig>,
}

/// The TLS client configuration of the `--http-client-tls-*` flags:
/// `--http-client-tls-root-ca-file` or else the system CA bundle,
/// `--http-client-tls-insecure-skip-verify`, and the client certificate.
pub fn tls_config(f: &Flags) -> Result<Arc<ClientConfig>, String> {
    let some = |s: &String| (!s.is_empty()).then(|| s.clone());
    let cfg = nsq_tools::client::Config {
        tls_root_ca_file: some(&f.http_client_tls_root_ca_file),
        tls_insecure_skip_verify: f.http_client_tls_insecure_skip_verify,
        tls_cert: some(&f.http_client_tls_cert),
        tls_key: some(&f.http_client_tls_key),
        ..Default::default()
    };
    nsq_tools::client::transport::client_config(&cfg)
        .map_err(|e| format!("--http-client-tls-*: {e}"))
}

/// The port of a 403 `{"https_port": N}` body.
fn https_port(body: &[u8]) -> Option<u16> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    u16::try_from(v.get("https_port")?.as_u64()?).ok()
}

/// `addr`'s host with another port (`[v6]` stays bracketed).
fn with_port(addr: &str, port: u16) -> String {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    format!("{host}:{port}")
}

impl Client {
    /// A client with these timeouts and TLS configuration.
    pub fn new(connect: Duration, request: Duration, tls: Arc<ClientConfig>) -> Client {
        Client {
            timeouts: Timeouts { connect, request },
            tls,
        }
    }

    /// One request to `http://<addr><path>`: the body on 200, else an error.
    pub fn call(&self, method: &str, addr: &str, path: &str) -> Result<Vec<u8>, UpstreamError> {
        self.call_with_body(method, addr, path, b"")
    }

    /// [`Client::call`] with a request body. A 403 naming an `https_port`
    /// is retried once, over HTTPS on that port of the same host.
    pub fn call_with_body(
        &self,
        method: &str,
        addr: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, UpstreamError> {
        let (mut what, mut resp) = self.send(method, addr, path, body, false)?;
        if resp.status == 403 {
            if let Some(port) = https_port(&resp.body) {
                (what, resp) = self.send(method, &with_port(addr, port), path, body, true)?;
            }
        }
        if resp.status != 200 {
            let message = serde_json::from_slice::<serde_json::Value>(&resp.body)
                .ok()
                .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(String::from))
                .unwrap_or_else(|| String::from_utf8_lossy(&resp.body).trim().to_string());
            return Err(UpstreamError::Status {
                what,
                status: resp.status,
                message,
            });
        }
        Ok(resp.body)
    }

    /// One exchange: (`METHOD scheme://addr/path`, the answer).
    fn send(
        &self,
        method: &str,
        addr: &str,
        path: &str,
        body: &[u8],
        https: bool,
    ) -> Result<(String, Response), UpstreamError> {
        let scheme = if https { "https" } else { "http" };
        let what = format!("{method} {scheme}://{addr}{path}");
        let url = Url::parse(&format!("http://{addr}{path}"))
            .map_err(|e| UpstreamError::Transport(format!("{what}: {e}")))?;
        let headers = [
            (
                "User-Agent".to_string(),
                format!("nsqadmin/{}", crate::options::NSQ_VERSION),
            ),
            (
                "Accept".to_string(),
                "application/vnd.nsq; version=1.0".to_string(),
            ),
        ];
        let target = Target { tls: https, url };
        let resp =
            httpc::request_to_with(method, &target, &headers, body, self.timeouts, &self.tls);
        let resp = resp.map_err(|e| UpstreamError::Transport(e.to_string()))?;
        Ok((what, resp))
    }

    /// GET and decode JSON (a legacy `{"status_code","data"}` envelope is
    /// unwrapped, as go-nsq does for old servers). Decoded straight into
    /// `T`: a channel's `/stats` with 10 000 clients is megabytes.
    pub fn get_json<T: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
    ) -> Result<T, UpstreamError> {
        let body = self.call("GET", addr, path)?;
        decode_json(&body).map_err(|e| {
            UpstreamError::Json(format!("GET http://{addr}{path}: invalid JSON - {e}"))
        })
    }

    /// POST with an empty body; Ok on 200.
    pub fn post(&self, addr: &str, path: &str) -> Result<(), UpstreamError> {
        self.call("POST", addr, path).map(|_| ())
    }
}

/// NSQ's legacy answer: `{"status_code":200,"status_txt":"OK","data":…}`.
#[derive(serde::Deserialize)]
struct Envelope<T> {
    #[allow(dead_code)]
    status_code: serde::de::IgnoredAny,
    data: T,
}

/// `body` as `T`, or the `data` of a legacy envelope holding a `T`.
fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, serde_json::Error> {
    let start = body
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(0);
    if body[start..].starts_with(b"{\"status_code\"") {
        if let Ok(e) = serde_json::from_slice::<Envelope<T>>(body) {
            return Ok(e.data);
        }
    }
    serde_json::from_slice::<T>(body).or_else(|direct| {
        serde_json::from_slice::<Envelope<T>>(body)
            .map(|e| e.data)
            .map_err(|_| direct)
    })
}

/// Run `f` on every item, at most [`MAX_PARALLEL`] at once on scoped
/// threads; the results come back in the items' order.
pub fn fan_out<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    match items {
        [] => Vec::new(),
        [one] => vec![f(one)],
        _ => {
            let next = AtomicUsize::new(0);
            let slots: Vec<Mutex<Option<R>>> = items.iter().map(|_| Mutex::new(None)).collect();
            std::thread::scope(|s| {
                for _ in 0..items.len().min(MAX_PARALLEL) {
                    s.spawn(|| loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(item) = items.get(i) else { break };
                        let r = f(item);
                        if let Ok(mut slot) = slots[i].lock() {
                            *slot = Some(r);
                        }
                    });
                }
            });
            slots
                .into_iter()
                .filter_map(|m| m.into_inner().ok().flatten())
                .collect()
        }
    }
}

/// Percent-encode a query value (Go's `url.QueryEscape`).
pub fn q(value: &str) -> String {
    httpc::query_escape(value.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fan_out_keeps_order() {
        let items: Vec<u64> = (0..50).collect();
        let got = fan_out(&items, |&i| {
            std::thread::sleep(Duration::from_millis(50 - i));
            i * 2
        });
        assert_eq!(got, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(fan_out(&[] as &[u8], |_| 1).is_empty());
    }

    #[test]
    fn json_with_and_without_the_legacy_envelope() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct T {
            topics: Vec<String>,
        }
        let want = T {
            topics: vec!["a".into()],
        };
        assert_eq!(decode_json::<T>(br#"{"topics":["a"]}"#).unwrap(), want);
        let legacy = br#"{"status_code":200,"status_txt":"OK","data":{"topics":["a"]}}"#;
        assert_eq!(decode_json::<T>(legacy).unwrap(), want);
        let spaced = br#" { "status_txt": "OK", "status_code": 200, "data": {"topics":["a"]}}"#;
        assert_eq!(decode_json::<T>(spaced).unwrap(), want);
        assert!(decode_json::<T>(b"not json").is_err());
    }

    #[test]
    fn https_redirects() {
        assert_eq!(
            https_port(br#"{"message": "TLS_REQUIRED", "https_port": 4152}"#),
            Some(4152)
        );
        assert_eq!(https_port(br#"{"message":"FORBIDDEN"}"#), None);
        assert_eq!(https_port(b"FORBIDDEN"), None);
        assert_eq!(with_port("127.0.0.1:4151", 4152), "127.0.0.1:4152");
        assert_eq!(with_port("[::1]:4151", 4152), "[::1]:4152");
        assert_eq!(with_port("nsqd.example:4151", 1), "nsqd.example:1");
    }

    #[test]
    fn unreachable_upstream_is_a_transport_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let opts = crate::options::Options::parse(
            ["nsqadmin", "--nsqd-http-address=127.0.0.1:4151"].map(String::from),
        )
        .unwrap();
        let tls = tls_config(&opts.flags).unwrap();
        let c = Client::new(Duration::from_millis(200), Duration::from_millis(200), tls);
        let e = c.call("GET", &format!("127.0.0.1:{port}"), "/ping");
        assert!(matches!(e, Err(UpstreamError::Transport(_))), "{e:?}");
    }
}
