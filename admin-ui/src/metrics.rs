//! `GET /metrics` (extension, docs/compatibility.md#metrics): Prometheus text
//! with nsqadmin's own counters.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::server::Answer;

static REQUESTS: AtomicU64 = AtomicU64::new(0);

/// Count one HTTP request.
pub fn count_request() {
    REQUESTS.fetch_add(1, Ordering::Relaxed);
}

/// The Prometheus text.
pub fn render() -> Answer {
    let body = format!(
        "# HELP nsqadmin_http_requests_total HTTP requests answered since start.\n\
         # TYPE nsqadmin_http_requests_total counter\n\
         nsqadmin_http_requests_total {}\n",
        REQUESTS.load(Ordering::Relaxed)
    );
    Answer::plain(
        "text/plain; version=0.0.4; charset=utf-8",
        body.into_bytes(),
    )
}
