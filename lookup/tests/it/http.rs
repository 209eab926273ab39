//! The HTTP API against the real binary: every endpoint with its status
//! codes, error messages, golden JSON and the V1 header; tombstones; router
//! details (404, 405, OPTIONS, redirects).

use serde_json::json;

use crate::harness::{http, Lookupd};

const V1: &str = "nsq; version=1.0";

fn body(l: &Lookupd, method: &str, path: &str) -> (u16, String) {
    let r = l.http(method, path);
    assert_eq!(r.header("x-nsq-content-type"), Some(V1), "{method} {path}");
    (r.status, r.body)
}

#[test]
fn ping_info_and_v1_header() {
    let l = Lookupd::start(&[]);
    let ping = l.http("GET", "/ping");
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));
    assert_eq!(
        ping.header("x-nsq-content-type"),
        None,
        "plain text endpoint"
    );
    let info = l.http("GET", "/info");
    assert_eq!(info.header("x-nsq-content-type"), Some(V1));
    assert_eq!(
        info.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    assert_eq!(info.body, r#"{"version":"1.3.0"}"#);
}

#[test]
fn error_codes_and_messages() {
    let l = Lookupd::start(&[]);
    let msg = |m: &str| format!(r#"{{"message":"{m}"}}"#);
    for (method, path, status, message) in [
        ("GET", "/lookup", 400, "MISSING_ARG_TOPIC"),
        ("GET", "/lookup?topic=nope", 404, "TOPIC_NOT_FOUND"),
        ("GET", "/lookup?topic=a;b", 400, "INVALID_REQUEST"),
        ("GET", "/channels", 400, "MISSING_ARG_TOPIC"),
        ("POST", "/topic/create", 400, "MISSING_ARG_TOPIC"),
        ("POST", "/topic/create?topic=bad!", 400, "INVALID_ARG_TOPIC"),
        ("POST", "/topic/delete", 400, "MISSING_ARG_TOPIC"),
        ("POST", "/topic/tombstone", 400, "MISSING_ARG_TOPIC"),
        ("POST", "/topic/tombstone?topic=t", 400, "MISSING_ARG_NODE"),
        ("POST", "/channel/create", 400, "MISSING_ARG_TOPIC"),
        ("POST", "/channel/create?topic=t!", 400, "INVALID_ARG_TOPIC"),
        (
            "POST",
            "/channel/create?topic=t",
            400,
            "MISSING_ARG_CHANNEL",
        ),
        (
            "POST",
            "/channel/create?topic=t&channel=c!",
            400,
            "INVALID_ARG_CHANNEL",
        ),
        ("POST", "/channel/delete", 400, "MISSING_ARG_TOPIC"),
        (
            "POST",
            "/channel/delete?topic=t&channel=c",
            404,
            "CHANNEL_NOT_FOUND",
        ),
        ("GET", "/nope", 404, "NOT_FOUND"),
        ("GET", "/debug/pprof/", 404, "NOT_FOUND"),
        ("POST", "/lookup?topic=t", 405, "METHOD_NOT_ALLOWED"),
        ("GET", "/topic/create?topic=t", 405, "METHOD_NOT_ALLOWED"),
    ] {
        assert_eq!(
            body(&l, method, path),
            (status, msg(message)),
            "{method} {path}"
        );
    }
    let r = l.http("POST", "/nodes");
    assert_eq!(r.header("allow"), Some("GET, OPTIONS"));
    let r = l.http("OPTIONS", "/channel/delete");
    assert_eq!((r.status, r.header("allow")), (200, Some("OPTIONS, POST")));
    let r = l.http("GET", "/topics/?x=1");
    assert_eq!((r.status, r.header("location")), (301, Some("/topics?x=1")));
}

#[test]
fn empty_daemon_golden_json() {
    let l = Lookupd::start(&[]);
    assert_eq!(body(&l, "GET", "/topics"), (200, r#"{"topics":[]}"#.into()));
    assert_eq!(
        body(&l, "GET", "/channels?topic=x"),
        (200, r#"{"channels":[]}"#.into())
    );
    assert_eq!(
        body(&l, "GET", "/nodes"),
        (200, r#"{"producers":[]}"#.into())
    );
    assert_eq!(body(&l, "GET", "/debug"), (200, "{}".into()));
}

#[test]
fn create_and_delete_over_http() {
    let l = Lookupd::start(&[]);
    assert_eq!(
        body(&l, "POST", "/topic/create?topic=t"),
        (200, String::new())
    );
    assert_eq!(
        body(&l, "GET", "/lookup?topic=t"),
        (200, r#"{"channels":[],"producers":[]}"#.into())
    );
    assert_eq!(
        body(&l, "POST", "/channel/create?topic=t2&channel=c"),
        (200, String::new())
    );
    assert_eq!(
        body(&l, "GET", "/topics"),
        (200, r#"{"topics":["t","t2"]}"#.into())
    );
    assert_eq!(
        body(&l, "GET", "/lookup?topic=t2"),
        (200, r#"{"channels":["c"],"producers":[]}"#.into())
    );
    assert_eq!(
        body(&l, "POST", "/channel/delete?topic=t2&channel=c"),
        (200, String::new())
    );
    assert_eq!(
        body(&l, "GET", "/channels?topic=t2"),
        (200, r#"{"channels":[]}"#.into())
    );

    // /topic/delete removes the registrations even with producers.
    let mut p = l.identified("n1", 4151);
    assert_eq!(p.cmd("REGISTER t c"), "OK");
    assert_eq!(
        body(&l, "POST", "/topic/delete?topic=t"),
        (200, String::new())
    );
    assert_eq!(l.http("GET", "/lookup?topic=t").status, 404);
    assert_eq!(
        body(&l, "POST", "/topic/delete?topic=never"),
        (200, String::new())
    );
    assert_eq!(l.get_json("/nodes")["producers"][0]["topics"], json!([]));
    // nsqd re-registers on its next event.
    assert_eq!(p.cmd("REGISTER t c"), "OK");
    assert_eq!(l.producers("t"), [p.local_addr()]);
}

#[test]
fn golden_lookup_nodes_debug() {
    let l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    let me = p.local_addr();
    assert_eq!(p.cmd("REGISTER t c"), "OK");
    let (status, lookup) = body(&l, "GET", "/lookup?topic=t");
    assert_eq!(status, 200);
    assert_eq!(
        lookup,
        format!(
            r#"{{"channels":["c"],"producers":[{{"remote_address":"{me}","hostname":"n1.host","broadcast_address":"n1","tcp_port":4150,"http_port":4151,"version":"1.3.0"}}]}}"#
        )
    );
    let (_, nodes) = body(&l, "GET", "/nodes");
    assert_eq!(
        nodes,
        format!(
            r#"{{"producers":[{{"remote_address":"{me}","hostname":"n1.host","broadcast_address":"n1","tcp_port":4150,"http_port":4151,"version":"1.3.0","tombstones":[false],"topics":["t"]}}]}}"#
        )
    );
    let debug = l.get_json("/debug");
    let keys: Vec<_> = debug.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys, ["channel:t:c", "client::", "topic:t:"]);
    let entry = &debug["topic:t:"][0];
    let entry_keys: Vec<_> = entry.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        entry_keys,
        [
            "broadcast_address",
            "hostname",
            "http_port",
            "id",
            "last_update",
            "tcp_port",
            "tombstoned",
            "tombstoned_at",
            "version"
        ]
    );
    assert_eq!(entry["id"], me.as_str());
    assert_eq!(entry["tombstoned"], false);
    assert!(entry["last_update"].as_i64().unwrap() > 1_600_000_000_000_000_000);
}

#[test]
fn tombstone_hides_from_lookup_and_shows_in_nodes() {
    let l = Lookupd::start(&[]);
    let mut a = l.identified("n1", 4151);
    let mut b = l.identified("n2", 4151);
    assert_eq!(a.cmd("REGISTER t"), "OK");
    assert_eq!(a.cmd("REGISTER u"), "OK");
    assert_eq!(b.cmd("REGISTER t"), "OK");
    assert_eq!(
        body(&l, "POST", "/topic/tombstone?topic=t&node=n1:4151"),
        (200, String::new())
    );
    assert_eq!(
        body(&l, "POST", "/topic/tombstone?topic=t&node=unknown:1"),
        (200, String::new())
    );
    assert_eq!(l.producers("t"), [b.local_addr()]);
    assert_eq!(l.producers("u"), [a.local_addr()], "only that topic");
    let nodes = l.get_json("/nodes")["producers"].clone();
    let n1 = nodes
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["broadcast_address"] == "n1")
        .unwrap()
        .clone();
    assert_eq!(n1["topics"], json!(["t", "u"]));
    assert_eq!(n1["tombstones"], json!([true, false]));
    assert_eq!(
        nodes.as_array().unwrap().len(),
        2,
        "tombstones don't hide nodes"
    );
    // UNREGISTER then REGISTER gives a fresh, visible entry.
    assert_eq!(a.cmd("UNREGISTER t"), "OK");
    assert_eq!(a.cmd("REGISTER t"), "OK");
    assert_eq!(l.producers("t").len(), 2);
}

#[test]
fn tombstone_expires_after_its_lifetime() {
    let l = Lookupd::start(&["--tombstone-lifetime=1s"]);
    let mut a = l.identified("n1", 4151);
    assert_eq!(a.cmd("REGISTER t"), "OK");
    assert_eq!(
        l.http("POST", "/topic/tombstone?topic=t&node=n1:4151")
            .status,
        200
    );
    assert_eq!(l.producers("t"), Vec::<String>::new());
    l.wait_for("the tombstone to expire", |l| l.producers("t").len() == 1);
    assert_eq!(
        l.get_json("/nodes")["producers"][0]["tombstones"],
        json!([false])
    );
    assert_eq!(l.get_json("/debug")["topic:t:"][0]["tombstoned"], true);
}

#[test]
fn keep_alive_pipelining_and_head() {
    use std::io::{Read, Write};
    let l = Lookupd::start(&[]);
    let mut s = std::net::TcpStream::connect(l.http).unwrap();
    s.set_read_timeout(Some(crate::harness::WAIT)).unwrap();
    s.write_all(b"GET /ping HTTP/1.1\r\nHost: x\r\n\r\nPOST /topic/create?topic=k HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabcGET /topics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).unwrap();
    assert_eq!(raw.matches("HTTP/1.1 200 OK").count(), 3, "{raw}");
    assert!(raw.ends_with(r#"{"topics":["k"]}"#), "{raw}");
    let head = http(l.http, "HEAD", "/ping");
    assert_eq!((head.status, head.body.as_str()), (405, ""));
}

#[test]
fn metrics_count_peers_topics_channels() {
    let l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    assert_eq!(p.cmd("REGISTER t c"), "OK");
    assert_eq!(p.cmd("REGISTER u"), "OK");
    let m = l.http("GET", "/metrics");
    assert_eq!(m.status, 200);
    assert!(m
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    for line in [
        "nsqlookupd_peers 1",
        "nsqlookupd_active_peers 1",
        "nsqlookupd_topics 2",
        "nsqlookupd_channels 1",
        "nsqlookupd_topic_producers 2",
        "nsqlookupd_tcp_connections 1",
        "# TYPE nsqlookupd_peers gauge",
    ] {
        assert!(m.body.lines().any(|l| l == line), "{line} in\n{}", m.body);
    }
}
