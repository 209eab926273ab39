//! The "  V1" protocol against the real binary: every error text of
//! docs/lookupd.md#tcp-protocol, errors are fatal, and
//! REGISTER/UNREGISTER/disconnect effects.

use crate::harness::{identity, Lookupd, Peer};

#[test]
fn bad_magic_gets_size_prefixed_e_bad_protocol_and_close() {
    let l = Lookupd::start(&[]);
    let mut p = Peer::connect_raw(l.tcp);
    p.send(b"  V2PING\n");
    p.expect_fatal("E_BAD_PROTOCOL");
}

#[test]
fn identify_reply_names_this_lookupd() {
    let l = Lookupd::start(&["--broadcast-address=lookupd.example"]);
    let mut p = l.peer();
    let reply: serde_json::Value =
        serde_json::from_str(&p.identify(&identity("n1", 4151))).unwrap();
    assert_eq!(reply["broadcast_address"], "lookupd.example");
    assert_eq!(reply["tcp_port"], l.tcp.port());
    assert_eq!(reply["http_port"], l.http.port());
    assert_eq!(reply["version"], "1.3.0");
    assert!(reply["hostname"].as_str().is_some_and(|h| !h.is_empty()));
    let keys: Vec<_> = reply.as_object().unwrap().keys().cloned().collect();
    assert_eq!(
        keys,
        [
            "broadcast_address",
            "hostname",
            "http_port",
            "tcp_port",
            "version"
        ]
    );
    assert_eq!(p.cmd("PING"), "OK");
}

#[test]
fn identify_missing_fields() {
    let l = Lookupd::start(&[]);
    for body in [
        r#"{"tcp_port":4150,"http_port":4151,"version":"1.3.0"}"#,
        r#"{"broadcast_address":"a","http_port":4151,"version":"1.3.0"}"#,
        r#"{"broadcast_address":"a","tcp_port":4150,"version":"1.3.0"}"#,
        r#"{"broadcast_address":"a","tcp_port":4150,"http_port":4151}"#,
        r#"{"broadcast_address":"","tcp_port":4150,"http_port":4151,"version":"1.3.0"}"#,
    ] {
        let mut p = l.peer();
        let mut wire = b"IDENTIFY\n".to_vec();
        wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
        wire.extend_from_slice(body.as_bytes());
        p.send(&wire);
        p.expect_fatal("E_BAD_BODY IDENTIFY missing fields");
    }
    let mut p = l.peer();
    p.send(b"IDENTIFY\n\0\0\0\x03{x}");
    p.expect_fatal("E_BAD_BODY IDENTIFY failed to decode JSON body");
    assert_eq!(l.get_json("/nodes")["producers"], serde_json::json!([]));
}

#[test]
fn identify_cut_short() {
    let l = Lookupd::start(&[]);
    let mut p = l.peer();
    p.send(b"IDENTIFY\n\0\0");
    p.shutdown_write();
    p.expect_fatal("E_BAD_BODY IDENTIFY failed to read body size");
    let mut p = l.peer();
    p.send(b"IDENTIFY\n\0\0\0\x09{");
    p.shutdown_write();
    p.expect_fatal("E_BAD_BODY IDENTIFY failed to read body");
}

#[test]
fn identify_twice() {
    let l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    p.send(b"IDENTIFY\n");
    p.expect_fatal("E_INVALID cannot IDENTIFY again");
}

#[test]
fn register_before_identify() {
    let l = Lookupd::start(&[]);
    let mut p = l.peer();
    assert_eq!(p.cmd("PING"), "OK", "PING is allowed before IDENTIFY");
    p.send(b"REGISTER t\n");
    p.expect_fatal("E_INVALID client must IDENTIFY");
    let mut p = l.peer();
    p.send(b"UNREGISTER t c\n");
    p.expect_fatal("E_INVALID client must IDENTIFY");
    // Nothing was registered.
    assert_eq!(l.get_json("/topics")["topics"], serde_json::json!([]));
}

#[test]
fn bad_names_and_params() {
    let l = Lookupd::start(&[]);
    for (line, want) in [
        (
            "REGISTER",
            "E_INVALID REGISTER insufficient number of params",
        ),
        (
            "UNREGISTER",
            "E_INVALID UNREGISTER insufficient number of params",
        ),
        (
            "REGISTER bad!topic",
            "E_BAD_TOPIC REGISTER topic name 'bad!topic' is not valid",
        ),
        (
            "UNREGISTER t bad/chan",
            "E_BAD_CHANNEL UNREGISTER channel name 'bad/chan' is not valid",
        ),
        (
            &format!("REGISTER {}", "x".repeat(65)),
            &format!(
                "E_BAD_TOPIC REGISTER topic name '{}' is not valid",
                "x".repeat(65)
            ),
        ),
        ("FROB t", "E_INVALID invalid command FROB"),
    ] {
        let mut p = l.identified("n1", 4151);
        p.send(format!("{line}\n").as_bytes());
        p.expect_fatal(want);
    }
    // A fatal error removed each of those peers again.
    l.wait_for("no nodes", |l| {
        l.get_json("/nodes")["producers"]
            .as_array()
            .unwrap()
            .is_empty()
    });
}

#[test]
fn register_and_unregister_effects() {
    let l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    let me = p.local_addr();
    assert_eq!(p.cmd("REGISTER t c1"), "OK");
    assert_eq!(p.cmd("REGISTER t c2"), "OK");
    assert_eq!(p.cmd("REGISTER t c2"), "OK", "idempotent");
    assert_eq!(p.cmd("REGISTER u"), "OK");
    assert_eq!(
        l.get_json("/topics")["topics"],
        serde_json::json!(["t", "u"])
    );
    assert_eq!(
        l.get_json("/channels?topic=t")["channels"],
        serde_json::json!(["c1", "c2"])
    );
    assert_eq!(l.producers("t"), std::slice::from_ref(&me));
    let nodes = l.get_json("/nodes");
    assert_eq!(
        nodes["producers"][0]["topics"],
        serde_json::json!(["t", "u"])
    );
    assert_eq!(nodes["producers"][0]["remote_address"], me.as_str());

    assert_eq!(p.cmd("UNREGISTER t c1"), "OK");
    assert_eq!(
        l.get_json("/channels?topic=t")["channels"],
        serde_json::json!(["c1", "c2"]),
        "keys stay"
    );
    let debug = l.get_json("/debug");
    assert!(
        debug.get("channel:t:c1").is_none(),
        "no producer left in c1"
    );
    assert!(debug.get("channel:t:c2").is_some());

    assert_eq!(p.cmd("UNREGISTER t"), "OK");
    assert_eq!(l.producers("t"), Vec::<String>::new());
    let debug = l.get_json("/debug");
    assert!(
        debug.get("channel:t:c2").is_none(),
        "topic UNREGISTER leaves every channel"
    );
    assert!(debug.get("topic:t:").is_none());
    assert_eq!(
        l.get_json("/lookup?topic=t")["channels"],
        serde_json::json!(["c1", "c2"])
    );
    assert_eq!(
        l.get_json("/nodes")["producers"][0]["topics"],
        serde_json::json!(["u"])
    );
}

#[test]
fn ephemeral_unregister_deletes_the_key() {
    let l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    assert_eq!(p.cmd("REGISTER t c#ephemeral"), "OK");
    assert_eq!(p.cmd("REGISTER e#ephemeral"), "OK");
    assert_eq!(
        l.get_json("/channels?topic=t")["channels"],
        serde_json::json!(["c#ephemeral"])
    );
    assert_eq!(p.cmd("UNREGISTER t c#ephemeral"), "OK");
    assert_eq!(
        l.get_json("/channels?topic=t")["channels"],
        serde_json::json!([])
    );
    assert_eq!(p.cmd("UNREGISTER e#ephemeral"), "OK");
    assert_eq!(l.http("GET", "/lookup?topic=e%23ephemeral").status, 404);
    assert_eq!(l.get_json("/topics")["topics"], serde_json::json!(["t"]));
}

#[test]
fn disconnect_removes_producers_but_keeps_keys() {
    let l = Lookupd::start(&[]);
    let mut keep = l.identified("n2", 4151);
    let mut p = l.identified("n1", 4151);
    assert_eq!(p.cmd("REGISTER t c"), "OK");
    assert_eq!(p.cmd("REGISTER e#ephemeral x#ephemeral"), "OK");
    assert_eq!(keep.cmd("REGISTER t"), "OK");
    assert_eq!(l.producers("t").len(), 2);
    drop(p);
    l.wait_for("n1 gone", |l| l.producers("t").len() == 1);
    assert_eq!(l.producers("t"), [keep.local_addr()]);
    let lookup = l.http("GET", "/lookup?topic=e%23ephemeral");
    assert_eq!(
        lookup.status, 200,
        "keys stay on disconnect, even ephemeral"
    );
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&lookup.body).unwrap(),
        serde_json::json!({"channels":["x#ephemeral"],"producers":[]})
    );
    assert_eq!(
        l.get_json("/topics")["topics"],
        serde_json::json!(["e#ephemeral", "t"])
    );
    assert_eq!(
        l.get_json("/nodes")["producers"].as_array().unwrap().len(),
        1
    );
    assert_eq!(keep.cmd("PING"), "OK", "other peers are untouched");
}

#[test]
fn one_peers_garbage_never_affects_another() {
    let l = Lookupd::start(&[]);
    let mut good = l.identified("n1", 4151);
    assert_eq!(good.cmd("REGISTER t"), "OK");
    for garbage in [
        &b"\xff\xfe\x00garbage\n"[..],
        &[b'A'; 16385],
        b"IDENTIFY\n\x7f\xff\xff\xff",
    ] {
        let mut bad = l.peer();
        bad.send(garbage);
        let reply = bad.try_read().unwrap_or_default();
        assert!(reply.starts_with("E_"), "{reply:?}");
        assert_eq!(bad.try_read(), None);
    }
    assert_eq!(good.cmd("PING"), "OK");
    assert_eq!(l.producers("t"), [good.local_addr()]);
}

#[test]
fn pipelined_commands_are_answered_in_order() {
    let l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    let mut wire = Vec::new();
    for i in 0..200 {
        wire.extend_from_slice(format!("REGISTER t{i} c\n").as_bytes());
    }
    wire.extend_from_slice(b"PING\n");
    p.send(&wire);
    for _ in 0..201 {
        assert_eq!(p.read(), "OK");
    }
    assert_eq!(
        l.get_json("/topics")["topics"].as_array().unwrap().len(),
        200
    );
}
