//! Calls to nsqlookupd and nsqd: a blocking HTTP client with
//! `--http-client-connect-timeout` / `--http-client-request-timeout`, and
//! [`fan_out`], which runs one call per upstream on a few plain threads and
//! keeps the answers in input order.
//!
//! Errors read as Go's nsqadmin words them, since they end up in the
//! `UPSTREAM_ERROR: …` and `WARNING: …` messages scripts may log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use nsq_tools::httpc::{self, Timeouts, Url};
use serde::de::DeserializeOwned;

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
#[derive(Debug, Clone, Copy)]
pub struct Client {
    timeouts: Timeouts,
}

impl Client {
    /// A client with these timeouts.
    pub fn new(connect: Duration, request: Duration) -> Client {
        Client {
            timeouts: Timeouts { connect, request },
        }
    }

    /// One request to `http://<addr><path>`: the body on 200, else an error.
    pub fn call(&self, method: &str, addr: &str, path: &str) -> Result<Vec<u8>, UpstreamError> {
        self.call_with_body(method, addr, path, b"")
    }

    /// [`Client::call`] with a request body.
    pub fn call_with_body(
        &self,
        method: &str,
        addr: &str,
        path: &str,
        body: &[u8],
    ) -> Result<Vec<u8>, UpstreamError> {
        let what = format!("{method} http://{addr}{path}");
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
        let resp = httpc::request(method, &url, &headers, body, self.timeouts)
            .map_err(|e| UpstreamError::Transport(e.to_string()))?;
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

    /// GET and decode JSON (a legacy `{"status_code","data"}` envelope is
    /// unwrapped, as go-nsq does for old servers).
    pub fn get_json<T: DeserializeOwned>(
        &self,
        addr: &str,
        path: &str,
    ) -> Result<T, UpstreamError> {
        let body = self.call("GET", addr, path)?;
        let json_err = |e: serde_json::Error| {
            UpstreamError::Json(format!("GET http://{addr}{path}: invalid JSON - {e}"))
        };
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(json_err)?;
        let v = match v {
            serde_json::Value::Object(mut m)
                if m.contains_key("status_code") && m.contains_key("data") =>
            {
                m.remove("data").unwrap_or_default()
            }
            v => v,
        };
        serde_json::from_value(v).map_err(json_err)
    }

    /// POST with an empty body; Ok on 200.
    pub fn post(&self, addr: &str, path: &str) -> Result<(), UpstreamError> {
        self.call("POST", addr, path).map(|_| ())
    }
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
    fn unreachable_upstream_is_a_transport_error() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let c = Client::new(Duration::from_millis(200), Duration::from_millis(200));
        let e = c.call("GET", &format!("127.0.0.1:{port}"), "/ping");
        assert!(matches!(e, Err(UpstreamError::Transport(_))), "{e:?}");
    }
}
