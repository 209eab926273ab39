//! nsqadmin's JSON API (docs/nsqadmin.md#api) against a live cluster.

use serde_json::{json, Value};

use crate::harness::*;

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// lookupd + two nsqd with topic `orders` (3 + 2 messages) and channel
/// `audit` (a consumer with a hostile client_id on the first nsqd).
struct Fixture {
    lookupd: Daemon,
    nsqd: [Daemon; 2],
    _consumer: Consumer,
}

fn fixture() -> Fixture {
    let lookupd = lookupd();
    let nsqd = [nsqd(Some(&lookupd)), nsqd(Some(&lookupd))];
    for (n, count) in nsqd.iter().zip([3, 2]) {
        post_ok(&n.addr(), "/topic/create?topic=orders", "");
        post_ok(&n.addr(), "/channel/create?topic=orders&channel=audit", "");
        for i in 0..count {
            post_ok(&n.addr(), "/pub?topic=orders", &format!("m{i}"));
        }
    }
    let consumer = consumer(&nsqd[0], "orders", "audit", HOSTILE);
    let l = lookupd.addr();
    wait_for("lookupd to list both producers of orders", || {
        let r = http(&l, "GET", "/lookup?topic=orders", &[], "");
        (r.status == 200
            && r.json()["producers"]
                .as_array()
                .is_some_and(|p| p.len() == 2))
        .then_some(())
    });
    Fixture {
        lookupd,
        nsqd,
        _consumer: consumer,
    }
}

fn admin_for(f: &Fixture, extra: &[&str]) -> Daemon {
    let mut flags = vec![format!("--lookupd-http-address={}", f.lookupd.addr())];
    flags.extend(extra.iter().map(|s| s.to_string()));
    nsqadmin(&flags)
}

fn node_name(n: &Daemon) -> String {
    format!("127.0.0.1:{}", n.http.port())
}

#[test]
fn read_api_shapes_and_fan_out() {
    let f = fixture();
    let admin = admin_for(&f, &[]);
    let a = admin.addr();

    let ping = http(&a, "GET", "/ping", &[], "");
    assert_eq!((ping.status, ping.body.as_str()), (200, "OK"));

    let r = http(&a, "GET", "/api/topics", &[], "");
    assert_eq!(r.header("X-NSQ-Content-Type"), Some("nsq; version=1.0"));
    assert_eq!(r.json(), json!({"topics": ["orders"], "message": ""}));

    // The client appears once nsqd has processed the SUB.
    let channel = wait_for("the consumer in /api/topics/orders/audit", || {
        // 502 until lookupd lists the channel's nsqd.
        let v = try_json(&a, "/api/topics/orders/audit")?;
        (v["clients"].as_array().map(Vec::len) == Some(1)).then_some(v)
    });
    assert_eq!(channel["node"], "*");
    assert_eq!(channel["topic_name"], "orders");
    assert_eq!(channel["channel_name"], "audit");
    assert_eq!(channel["client_count"], 1);
    assert_eq!(channel["nodes"].as_array().unwrap().len(), 2);
    assert_eq!(channel["message"], "");
    let client = &channel["clients"][0];
    assert_eq!(client["client_id"], HOSTILE);
    assert_eq!(client["hostname"], HOSTILE);
    assert_eq!(client["node"], node_name(&f.nsqd[0]));
    for key in [
        "remote_address",
        "version",
        "user_agent",
        "connect_ts",
        "connected",
        "in_flight_count",
        "ready_count",
        "finish_count",
        "requeue_count",
        "message_count",
        "sample_rate",
        "deflate",
        "snappy",
        "authed",
        "auth_identity",
        "auth_identity_url",
        "tls",
        "tls_version",
    ] {
        assert!(client.get(key).is_some(), "client lacks {key}: {client}");
    }

    let topic = get_json(&a, "/api/topics/orders");
    assert_eq!(topic["node"], "*");
    assert_eq!(topic["topic_name"], "orders");
    assert_eq!(topic["message_count"], 5);
    let nodes = topic["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 2);
    let mut names: Vec<&str> = nodes.iter().map(|n| n["node"].as_str().unwrap()).collect();
    names.sort_unstable();
    let mut want = [node_name(&f.nsqd[0]), node_name(&f.nsqd[1])];
    want.sort();
    assert_eq!(names, want);
    assert_eq!(topic["channels"][0]["channel_name"], "audit");
    assert_eq!(topic["channels"][0]["node"], "*");
    // Channel depth: every message of the topic reached the channel (the
    // consumer has RDY 0).
    assert_eq!(topic["channels"][0]["depth"], 5);
    for key in [
        "hostname",
        "memory_depth",
        "backend_depth",
        "depth",
        "paused",
        "e2e_processing_latency",
        "message",
    ] {
        assert!(topic.get(key).is_some(), "topic lacks {key}");
    }

    let nodes = get_json(&a, "/api/nodes");
    let list = nodes["nodes"].as_array().unwrap();
    assert_eq!(list.len(), 2, "{nodes}");
    for n in list {
        assert_eq!(n["broadcast_address"], "127.0.0.1");
        assert_eq!(n["version"], "1.3.0");
        assert_eq!(n["out_of_date"], false);
        assert_eq!(
            n["topics"],
            json!([{"topic": "orders", "tombstoned": false}])
        );
        let ra = n["remote_addresses"][0].as_str().unwrap();
        assert!(ra.starts_with(&format!("{}/", f.lookupd.addr())), "{ra}");
    }

    let node = get_json(&a, &format!("/api/nodes/{}", node_name(&f.nsqd[0])));
    assert_eq!(node["node"], node_name(&f.nsqd[0]));
    assert_eq!(node["total_messages"], 3);
    assert_eq!(node["total_clients"], 1);
    assert_eq!(
        node["topics"][0]["channels"][0]["clients"][0]["client_id"],
        HOSTILE
    );
    let missing = http(&a, "GET", "/api/nodes/10.9.9.9:1", &[], "");
    assert_eq!(
        (missing.status, missing.json()),
        (404, json!({"message": "NODE_NOT_FOUND"}))
    );

    let counter = get_json(&a, "/api/counter");
    let key = format!("orders:audit:{}", node_name(&f.nsqd[1]));
    assert_eq!(
        counter["stats"][&key],
        json!({"node": node_name(&f.nsqd[1]), "topic_name": "orders", "channel_name": "audit", "message_count": 2})
    );

    // A browser asks for gzip: big answers (the index page) come compressed.
    let gz = http(
        &a,
        "GET",
        "/topics/orders",
        &[("Accept-Encoding", "gzip, deflate")],
        "",
    );
    assert_eq!(
        (gz.status, gz.header("Content-Encoding")),
        (200, Some("gzip"))
    );

    let summary = get_json(&a, "/api/stats/topics");
    assert_eq!(summary["topics"][0]["topic_name"], "orders");
    assert_eq!(summary["topics"][0]["message_count"], 5);
    assert_eq!(summary["topics"][0]["node_count"], 2);

    // Peek: our nsqd's `/channel/peek` extension, from every producer.
    let peek = http(&a, "GET", "/api/topics/orders/audit/peek", &[], "");
    assert_eq!(peek.status, 200);
    let nodes = peek.json()["nodes"].clone();
    let nodes = nodes.as_object().expect("nodes");
    assert_eq!(nodes.len(), 2, "{nodes:?}");
    assert!(
        nodes.values().all(|v| v["messages"].is_array()),
        "{nodes:?}"
    );

    // Router errors (docs/http-api.md#conventions).
    let r = http(&a, "GET", "/api/nope", &[], "");
    assert_eq!((r.status, r.json()), (404, json!({"message": "NOT_FOUND"})));
    let r = http(&a, "PUT", "/api/topics", &[], "");
    assert_eq!(
        (r.status, r.json()),
        (405, json!({"message": "METHOD_NOT_ALLOWED"}))
    );
    let g = http(&a, "GET", "/api/graphite?metric=x", &[], "");
    assert_eq!(
        (g.status, g.json()),
        (400, json!({"message": "INVALID_ARG_METRIC"}))
    );
    // No graphite to ask: NSQ's 500.
    let g = http(&a, "GET", "/api/graphite?metric=rate&target=x", &[], "");
    assert_eq!(
        (g.status, g.json()),
        (500, json!({"message": "INTERNAL_ERROR"}))
    );
}

/// nsqd's view of a topic: (paused, depth, channels as (name, paused, depth)).
type ChannelView = (String, bool, i64);

fn nsqd_topic(n: &Daemon, topic: &str) -> Option<(bool, i64, Vec<ChannelView>)> {
    let v = get_json(&n.addr(), &format!("/stats?format=json&topic={topic}"));
    let t = v["topics"].as_array()?.first()?.clone();
    let chans = t["channels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["channel_name"].as_str().unwrap().to_string(),
                c["paused"].as_bool().unwrap(),
                c["depth"].as_i64().unwrap(),
            )
        })
        .collect();
    Some((
        t["paused"].as_bool().unwrap(),
        t["depth"].as_i64().unwrap(),
        chans,
    ))
}

fn act(a: &str, path: &str, body: Value) -> Value {
    let r = http(a, "POST", path, &[], &body.to_string());
    assert_eq!(r.status, 200, "POST {path} {body}: {}", r.body);
    r.json()
}

#[test]
fn actions_fan_out_to_every_producer() {
    let f = fixture();
    let admin = admin_for(&f, &[]);
    let a = admin.addr();

    assert_eq!(
        act(&a, "/api/topics/orders", json!({"action": "pause"})),
        json!({"message": ""})
    );
    for n in &f.nsqd {
        assert!(
            nsqd_topic(n, "orders").unwrap().0,
            "topic paused on {}",
            n.addr()
        );
    }
    assert!(get_json(&a, "/api/topics/orders")["paused"]
        .as_bool()
        .unwrap());
    act(&a, "/api/topics/orders", json!({"action": "unpause"}));
    for n in &f.nsqd {
        assert!(!nsqd_topic(n, "orders").unwrap().0);
    }

    act(&a, "/api/topics/orders/audit", json!({"action": "pause"}));
    for n in &f.nsqd {
        assert!(nsqd_topic(n, "orders").unwrap().2[0].1, "channel paused");
    }
    act(&a, "/api/topics/orders/audit", json!({"action": "unpause"}));
    act(&a, "/api/topics/orders/audit", json!({"action": "empty"}));
    for n in &f.nsqd {
        let (_, _, chans) = nsqd_topic(n, "orders").unwrap();
        assert_eq!(chans[0], ("audit".to_string(), false, 0));
    }
    act(&a, "/api/topics/orders", json!({"action": "empty"}));

    let bad = http(
        &a,
        "POST",
        "/api/topics/orders",
        &[],
        r#"{"action":"explode"}"#,
    );
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"message": "INVALID_ACTION"}))
    );
    let bad = http(&a, "POST", "/api/topics/orders", &[], "not json");
    assert_eq!(bad.status, 400);

    // Create a topic and channel: lookupd registrations, and the channel on
    // every nsqd producing the topic.
    assert_eq!(
        act(
            &a,
            "/api/topics",
            json!({"topic": "orders", "channel": "billing"})
        ),
        json!({"message": ""})
    );
    for n in &f.nsqd {
        let chans = nsqd_topic(n, "orders").unwrap().2;
        assert!(chans.iter().any(|c| c.0 == "billing"), "{chans:?}");
    }
    act(&a, "/api/topics", json!({"topic": "fresh"}));
    let l = f.lookupd.addr();
    assert!(get_json(&l, "/topics")["topics"]
        .as_array()
        .unwrap()
        .contains(&json!("fresh")));
    // An inactive topic: registered in lookupd, no producer (no channel:
    // null, as NSQ).
    let inactive = get_json(&a, "/api/topics?inactive=true");
    assert_eq!(inactive["topics"]["fresh"], json!(null));
    assert!(inactive["topics"].get("orders").is_none());
    let bad = http(&a, "POST", "/api/topics", &[], r#"{"topic":"bad name!"}"#);
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"message": "INVALID_TOPIC"}))
    );
    let bad = http(
        &a,
        "POST",
        "/api/topics",
        &[],
        r#"{"topic":"ok","channel":"b@d"}"#,
    );
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"message": "INVALID_CHANNEL"}))
    );

    // Delete a channel, then the topic: gone from nsqd and lookupd.
    let r = http(&a, "DELETE", "/api/topics/orders/billing", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    for n in &f.nsqd {
        let chans = nsqd_topic(n, "orders").unwrap().2;
        assert!(!chans.iter().any(|c| c.0 == "billing"), "{chans:?}");
    }
    let r = http(&a, "DELETE", "/api/topics/orders", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    for n in &f.nsqd {
        assert!(nsqd_topic(n, "orders").is_none());
    }
    wait_for("lookupd to forget orders", || {
        let t = get_json(&l, "/topics");
        (!t["topics"].as_array().unwrap().contains(&json!("orders"))).then_some(())
    });
}

#[test]
fn tombstone_a_node_for_a_topic() {
    let f = fixture();
    let admin = admin_for(&f, &[]);
    let a = admin.addr();
    let node = node_name(&f.nsqd[1]);
    let r = http(
        &a,
        "DELETE",
        &format!("/api/nodes/{node}"),
        &[],
        r#"{"topic":"orders"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        nsqd_topic(&f.nsqd[1], "orders").is_none(),
        "deleted on that node"
    );
    assert!(
        nsqd_topic(&f.nsqd[0], "orders").is_some(),
        "kept on the other"
    );
    let bad = http(&a, "DELETE", &format!("/api/nodes/{node}"), &[], "nope");
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"message": "INVALID_BODY"}))
    );
    let bad = http(
        &a,
        "DELETE",
        &format!("/api/nodes/{node}"),
        &[],
        r#"{"topic":""}"#,
    );
    assert_eq!(
        (bad.status, bad.json()),
        (400, json!({"message": "INVALID_TOPIC"}))
    );
}

#[test]
fn admin_users_and_notifications() {
    let f = fixture();
    let rec = Recorder::start();
    let endpoint = format!("--notification-http-endpoint=http://{}/notify", rec.addr);
    let admin = admin_for(
        &f,
        &[
            "--admin-user=alice",
            "-admin-user",
            "carol",
            "--acl-http-header=X-User",
            &endpoint,
        ],
    );
    let a = admin.addr();
    let pause = json!({"action": "pause"}).to_string();
    for headers in [
        vec![],
        vec![("X-User", "bob")],
        vec![("X-Forwarded-User", "alice")],
    ] {
        for (method, path, body) in [
            ("POST", "/api/topics/orders", pause.as_str()),
            ("POST", "/api/topics", r#"{"topic":"x"}"#),
            ("DELETE", "/api/topics/orders", ""),
            ("DELETE", "/api/topics/orders/audit", ""),
            ("DELETE", "/api/nodes/127.0.0.1:1", r#"{"topic":"orders"}"#),
        ] {
            let r = http(&a, method, path, &headers, body);
            assert_eq!(
                (r.status, r.json()),
                (403, json!({"message": "FORBIDDEN"})),
                "{method} {path} {headers:?}"
            );
        }
    }
    assert!(
        !nsqd_topic(&f.nsqd[0], "orders").unwrap().0,
        "nothing changed"
    );
    // Reads stay open to everyone.
    assert_eq!(http(&a, "GET", "/api/topics", &[], "").status, 200);

    let r = http(
        &a,
        "POST",
        "/api/topics/orders",
        &[("X-User", "alice"), ("User-Agent", "it/1")],
        &pause,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(nsqd_topic(&f.nsqd[0], "orders").unwrap().0);
    let r = http(
        &a,
        "POST",
        "/api/topics",
        &[("X-User", "carol"), ("Authorization", "Basic Y2Fyb2w6cHc=")],
        r#"{"topic":"orders","channel":"new"}"#,
    );
    assert_eq!(r.status, 200, "{}", r.body);

    let got = wait_for("three notifications", || {
        let v = rec.received();
        (v.len() >= 3).then_some(v)
    });
    let by_action = |name: &str| {
        got.iter()
            .find(|n| n["action"] == name)
            .unwrap_or_else(|| panic!("no {name} in {got:?}"))
            .clone()
    };
    let p = by_action("pause_topic");
    assert_eq!(p["topic"], "orders");
    assert_eq!(p["user_agent"], "it/1");
    assert!(p.get("channel").is_none());
    assert!(p["remote_ip"].as_str().unwrap().starts_with("127.0.0.1:"));
    assert_eq!(p["url"], format!("http://{a}/api/topics/orders"));
    assert!(p["timestamp"].as_i64().unwrap() > 1_600_000_000);
    assert!(p["via"].is_string());
    assert_eq!(by_action("create_topic")["user"], "carol");
    assert_eq!(by_action("create_channel")["channel"], "new");
}

#[test]
fn partial_and_total_upstream_failures() {
    let f = fixture();
    let dead = dead_addr();
    let admin = admin_for(&f, &[&format!("--lookupd-http-address={dead}")]);
    let a = admin.addr();
    let v = get_json(&a, "/api/topics");
    assert_eq!(v["topics"], json!(["orders"]));
    let msg = v["message"].as_str().unwrap();
    assert!(msg.starts_with("WARNING: ") && msg.contains(&dead), "{msg}");
    let t = get_json(&a, "/api/topics/orders");
    assert_eq!(t["nodes"].as_array().unwrap().len(), 2);
    assert!(t["message"].as_str().unwrap().starts_with("WARNING: "));

    let only_dead = nsqadmin(&[format!("--lookupd-http-address={dead}")]);
    for path in [
        "/api/topics",
        "/api/nodes",
        "/api/topics/orders",
        "/api/counter",
    ] {
        let r = http(&only_dead.addr(), "GET", path, &[], "");
        assert_eq!(r.status, 502, "{path}");
        let m = r.json()["message"].as_str().unwrap().to_string();
        assert!(m.starts_with("UPSTREAM_ERROR: "), "{m}");
    }
    // As NSQ, an action's failed upstream calls are warnings, even all.
    let r = http(
        &only_dead.addr(),
        "POST",
        "/api/topics",
        &[],
        r#"{"topic":"x"}"#,
    );
    assert_eq!(r.status, 200);
    let m = r.json()["message"].as_str().unwrap().to_string();
    assert!(m.starts_with("WARNING: ") && m.contains(&dead), "{m}");
}

/// A graphite stand-in: every request gets `body` (JSON) as its answer.
fn fake_graphite(body: &'static str) -> String {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(mut s) = s else { continue };
            let _ = s.set_read_timeout(Some(WAIT));
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && s.read(&mut byte).is_ok_and(|n| n == 1) {
                head.push(byte[0]);
            }
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    addr
}

#[test]
fn graphite_rate_as_nsq() {
    let f = fixture();
    let rate = |body: &'static str| {
        let g = fake_graphite(body);
        let admin = admin_for(&f, &[&format!("--graphite-url=http://{g}")]);
        http(
            &admin.addr(),
            "GET",
            "/api/graphite?metric=rate&target=x",
            &[],
            "",
        )
    };
    // Per second over the default 60 s statsd interval.
    let r = rate(r#"[{"target":"x","datapoints":[[120.0,1700000000]]}]"#);
    assert_eq!((r.status, r.json()), (200, json!({"rate": "2.00"})));
    let r = rate(r#"[{"target":"x","datapoints":[[-1.0,1700000000]]}]"#);
    assert_eq!((r.status, r.json()), (200, json!({"rate": "N/A"})));
    // No data point: NSQ's 500.
    let r = rate("[]");
    assert_eq!(
        (r.status, r.json()),
        (500, json!({"message": "INTERNAL_ERROR"}))
    );
}

#[test]
fn static_nsqd_mode_and_base_path() {
    let n1 = nsqd(None);
    let n2 = nsqd(None);
    post_ok(&n1.addr(), "/pub?topic=solo", "x");
    post_ok(&n2.addr(), "/pub?topic=other", "y");
    let admin = nsqadmin(&[
        format!("--nsqd-http-address={}", n1.addr()),
        format!("-nsqd-http-address={}", n2.addr()),
        "--base-path=admin/".into(),
    ]);
    let a = admin.addr();
    assert_eq!(
        get_json(&a, "/admin/api/topics"),
        json!({"topics": ["other", "solo"], "message": ""})
    );
    assert_eq!(http(&a, "GET", "/api/topics", &[], "").status, 404);
    let t = get_json(&a, "/admin/api/topics/solo");
    assert_eq!(t["message_count"], 1);
    assert_eq!(t["nodes"].as_array().unwrap().len(), 1);
    let nodes = get_json(&a, "/admin/api/nodes");
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2);
    // Actions reach the static nsqd that have the topic.
    act(&a, "/admin/api/topics/solo", json!({"action": "pause"}));
    assert!(nsqd_topic(&n1, "solo").unwrap().0);
    act(
        &a,
        "/admin/api/topics",
        json!({"topic": "made", "channel": "here"}),
    );
    for n in [&n1, &n2] {
        assert_eq!(nsqd_topic(n, "made").unwrap().2[0].0, "here");
    }
    // Pages and assets under the base path.
    let page = http(&a, "GET", "/admin/topics/solo", &[], "");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("/admin/static/app.js"), "{}", page.body);
    assert!(page
        .header("Content-Security-Policy")
        .unwrap()
        .contains("script-src 'self'"));
    let js = http(&a, "GET", "/admin/static/app.js", &[], "");
    assert_eq!(js.status, 200);
    assert!(js
        .header("Content-Type")
        .unwrap()
        .starts_with("text/javascript"));
    assert_eq!(
        http(&a, "GET", "/admin/static/nope.js", &[], "").status,
        404
    );
    assert_eq!(http(&a, "GET", "/admin/ping", &[], "").body, "OK");
}

#[test]
fn config_endpoint_and_page_settings() {
    let f = fixture();
    let admin = admin_for(&f, &["--admin-user=alice"]);
    let a = admin.addr();
    assert_eq!(
        get_json(&a, "/config/nsqlookupd_http_addresses"),
        json!([f.lookupd.addr()])
    );
    let dead = dead_addr();
    let r = http(
        &a,
        "PUT",
        "/config/nsqlookupd_http_addresses",
        &[],
        &json!([f.lookupd.addr(), dead]).to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!([f.lookupd.addr(), dead]));
    assert!(get_json(&a, "/api/topics")["message"]
        .as_str()
        .unwrap()
        .starts_with("WARNING"));
    assert_eq!(
        http(&a, "PUT", "/config/log_level", &[], "debug").json(),
        json!(1)
    );
    let r = http(&a, "PUT", "/config/log_level", &[], "loud");
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"message": "INVALID_VALUE"}))
    );
    let r = http(&a, "GET", "/config/nope", &[], "");
    assert_eq!(
        (r.status, r.json()),
        (400, json!({"message": "INVALID_OPTION"}))
    );

    let closed = admin_for(&f, &["--allow-config-from-cidr=10.0.0.0/8"]);
    let r = http(&closed.addr(), "GET", "/config/log_level", &[], "");
    assert_eq!((r.status, r.json()), (403, json!({"message": "FORBIDDEN"})));

    // The page gets the settings, with the ACL user escaped for the script block.
    let page = http(
        &a,
        "GET",
        "/topics",
        &[("X-Forwarded-User", "</script><b>x")],
        "",
    );
    assert_eq!(page.status, 200);
    assert!(!page.body.contains("</script><b>"), "{}", page.body);
    assert!(page.body.contains("\"is_admin\":false"));
    let page = http(&a, "GET", "/topics", &[("X-Forwarded-User", "alice")], "");
    assert!(page.body.contains("\"is_admin\":true"));
}
