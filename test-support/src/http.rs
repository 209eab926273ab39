//! The tests' HTTP requests, made with the one client of nsq-rs
//! ([`nsq_http_client`]): one request on a fresh connection, the target
//! sent as given, bounded by a timeout; any failure panics.

use std::fmt::Display;
use std::net::ToSocketAddrs;
use std::time::Duration;

use nsq_http_client::{Client, Target, Timeouts, Url};

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers as received.
    pub headers: Vec<(String, String)>,
    /// Body (lossy UTF-8).
    pub body: String,
}

impl Response {
    /// A header's value (name matched case-insensitively).
    pub fn header(&self, name: &str) -> Option<&str> {
        nsq_http_client::response::find_header(&self.headers, name)
    }

    /// The body as JSON (panics if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }
}

impl From<nsq_http_client::Response> for Response {
    fn from(r: nsq_http_client::Response) -> Response {
        Response {
            status: r.status,
            headers: r.headers,
            body: String::from_utf8_lossy(&r.body).into_owned(),
        }
    }
}

/// One request to `addr` with these extra `headers` and `body`; panics on
/// a connection error or a malformed answer, or after `timeout`.
pub fn request<A: ToSocketAddrs + Display>(
    addr: A,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    timeout: Duration,
) -> Response {
    let target = Target::http(Url {
        host: addr.to_string(),
        path: target.to_string(),
    });
    let client = Client::new(Timeouts {
        connect: timeout,
        request: timeout,
    });
    client
        .request(method, &target, headers, body)
        .unwrap_or_else(|e| panic!("{e}"))
        .into()
}

/// Parse one whole response (read up to the end of its connection).
pub fn parse_response(raw: &[u8]) -> Response {
    nsq_http_client::Response::parse(raw, "GET")
        .unwrap_or_else(|e| panic!("{e} in {:?}", String::from_utf8_lossy(raw)))
        .into()
}
