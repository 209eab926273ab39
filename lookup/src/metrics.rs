//! `GET /metrics`: the registry and connection counts in Prometheus text
//! format (extension; NSQ issue #732).

use std::fmt::Write;

use crate::registry::UnixNanos;
use crate::server::Server;

/// The exposition text.
pub fn render(server: &Server, now: UnixNanos) -> String {
    let counts = server.registry.borrow().counts();
    let active = server.registry.borrow().nodes(now).producers.len();
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: u64| {
        let _ = writeln!(out, "# HELP nsqlookupd_{name} {help}");
        let _ = writeln!(out, "# TYPE nsqlookupd_{name} {kind}");
        let _ = writeln!(out, "nsqlookupd_{name} {value}");
    };
    metric(
        "peers",
        "gauge",
        "Identified nsqd connections.",
        counts.peers as u64,
    );
    metric(
        "active_peers",
        "gauge",
        "Identified nsqd whose last ping is within --inactive-producer-timeout.",
        active as u64,
    );
    metric(
        "topics",
        "gauge",
        "Topic registrations (with or without producers).",
        counts.topics as u64,
    );
    metric(
        "channels",
        "gauge",
        "Channel registrations (with or without producers).",
        counts.channels as u64,
    );
    metric(
        "topic_producers",
        "gauge",
        "Producer entries over all topic registrations.",
        counts.topic_producers as u64,
    );
    metric(
        "tcp_connections",
        "gauge",
        "Open TCP connections.",
        server.tcp_connections.get() as u64,
    );
    metric(
        "http_connections",
        "gauge",
        "Open HTTP connections.",
        server.http_connections.get() as u64,
    );
    metric(
        "protocol_errors_total",
        "counter",
        "Protocol errors sent to TCP peers.",
        server.protocol_errors.get(),
    );
    metric(
        "http_requests_total",
        "counter",
        "HTTP requests answered.",
        server.http_requests.get(),
    );
    out
}
