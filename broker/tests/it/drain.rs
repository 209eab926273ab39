//! Draining a node (docs/compatibility.md#draining): `POST /drain` and
//! SIGUSR1; publishes refused over TCP and HTTP; lookupd (the real
//! nsqlookupd, checked from outside) stops listing the node but keeps its
//! connection; consumers receive every queued, deferred and in-flight
//! message; then a clean exit 0. A drain that cannot finish (a topic
//! without channels, a timeout) ends in the normal shutdown, with
//! everything on disk.

use std::time::{Duration, Instant};

use nsq_protocol::command::Request;

use super::cluster::{nsqd_with, Lookupd};
use super::harness::*;

fn draining(nsqd: &Nsqd) -> bool {
    stats(nsqd)["draining"] == true
}

/// A consumer of `t`/`c` holding one message in flight (which holds a
/// drain).
fn one_in_flight(nsqd: &Nsqd) -> (Client, Msg) {
    let mut c = nsqd.connect();
    c.subscribe("t", "c");
    nsqd.connect().publish("t", b"x");
    c.send(Request::Rdy(1));
    let m = c.expect_message();
    (c, m)
}

/// Wait for nsqd to exit by itself; its status must be success.
fn exits_cleanly(nsqd: &mut Nsqd) {
    let status = nsqd.wait_exit(WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?}\n{}",
        nsqd.log()
    );
}

#[test]
fn drain_with_deferred_and_in_flight_messages() {
    let lookupd = Lookupd::start();
    let mut nsqd = nsqd_with(&[&lookupd], &[]);
    let port = nsqd.tcp.port();
    let mut c = nsqd.connect();
    c.subscribe("t", "c");
    let mut p = nsqd.connect();
    p.publish_numbered("t", "m", 0..5);
    p.send(Request::Dpub("t", 1500, b"deferred"));
    p.expect_response("OK");
    let deferred_at = Instant::now();
    wait_for_value("registered", WAIT, 1, || lookupd.producers("t").len());
    c.send(Request::Rdy(2));
    let in_flight = [c.expect_message(), c.expect_message()];

    post(&nsqd, "/drain");
    assert!(draining(&nsqd));
    assert!(http(&nsqd, "GET", "/stats")
        .1
        .contains("\nDraining: true\n"));
    assert_eq!(http(&nsqd, "GET", "/ping"), (200, "OK".to_string()));

    // Publishes are refused as NSQ refuses them while exiting.
    for (req, err) in [
        (Request::Pub("t", b"x"), "E_PUB_FAILED PUB failed exiting"),
        (
            Request::Mpub("t", &[&b"x"[..]]),
            "E_MPUB_FAILED MPUB failed exiting",
        ),
        (
            Request::Dpub("t", 10, b"x"),
            "E_DPUB_FAILED DPUB failed exiting",
        ),
    ] {
        let mut q = nsqd.connect();
        q.send(req);
        q.expect_error(err);
        q.expect_closed();
    }
    for path in ["/pub?topic=t", "/mpub?topic=t"] {
        assert_eq!(
            http_with_body(&nsqd, "POST", path, b"x"),
            (503, r#"{"message":"DRAINING"}"#.to_string()),
            "{path}"
        );
    }
    // lookupd stops listing it for the topic, but keeps the connection: the
    // node is listed with no topic.
    wait_for_value("lookup producers", WAIT, 0, || lookupd.producers("t").len());
    let node = lookupd.node(port).expect("the lookupd connection is kept");
    assert_eq!(node["topics"], serde_json::json!([]), "{node}");

    // The consumer gets everything: in flight, queued, then deferred.
    for m in &in_flight {
        c.send(Request::Fin(m.id()));
    }
    c.send(Request::Rdy(10));
    let mut bodies = Vec::new();
    for _ in 0..4 {
        let m = c.expect_message();
        bodies.push(String::from_utf8(m.body.clone()).unwrap());
        c.send(Request::Fin(m.id()));
    }
    assert_eq!(bodies[3], "deferred");
    assert!(deferred_at.elapsed() >= Duration::from_millis(1400));
    exits_cleanly(&mut nsqd);
    assert!(nsqd.log().contains("DRAIN: done"), "{}", nsqd.log());
    wait_for_value("node gone", WAIT, true, || lookupd.node(port).is_none());
}

#[test]
fn what_cannot_drain_stays_on_disk() {
    // A channel without consumers past the timeout, and a topic without
    // channels: the normal shutdown writes both to disk.
    let dir = TempDir::new();
    let mut nsqd = start_on(dir.path());
    create_channel(&nsqd, "waiting", "c");
    let mut p = nsqd.connect();
    p.publish_numbered("waiting", "w", 0..3);
    p.publish_numbered("lonely", "l", 0..2);
    let started = Instant::now();
    post(&nsqd, "/drain?timeout=1s");
    exits_cleanly(&mut nsqd);
    assert!(started.elapsed() >= Duration::from_millis(900));
    assert!(nsqd.log().contains("DRAIN: timed out"), "{}", nsqd.log());
    drop(nsqd);
    let nsqd = start_on(dir.path());
    assert!(!draining(&nsqd));
    assert_eq!(stats_of(&nsqd, "waiting", Some("c")).unwrap()["depth"], 3);
    assert_eq!(stats_of(&nsqd, "lonely", None).unwrap()["depth"], 2);
}

#[test]
fn a_topic_without_channels_does_not_hold_the_drain() {
    let dir = TempDir::new();
    let mut nsqd = start_on(dir.path());
    nsqd.connect().publish_numbered("lonely", "l", 0..2);
    post(&nsqd, "/drain");
    exits_cleanly(&mut nsqd);
    assert!(
        nsqd.log()
            .contains("DRAIN: done (2 messages without consumers stay on disk)"),
        "{}",
        nsqd.log()
    );
    drop(nsqd);
    let nsqd = start_on(dir.path());
    assert_eq!(stats_of(&nsqd, "lonely", None).unwrap()["depth"], 2);
}

#[test]
fn sigusr1_starts_a_drain() {
    let mut nsqd = Nsqd::start(&[]);
    let (mut c, m) = one_in_flight(&nsqd);
    nsqd.signal(libc::SIGUSR1);
    wait_for_value("draining", WAIT, true, || draining(&nsqd));
    // Still in flight: still running.
    c.expect_silence(Duration::from_millis(300));
    c.send(Request::Fin(m.id()));
    exits_cleanly(&mut nsqd);
}

#[test]
fn drain_parameters() {
    let nsqd = Nsqd::start(&[]);
    assert_eq!(
        http(&nsqd, "POST", "/drain?timeout=soon"),
        (400, r#"{"message":"INVALID_ARG_TIMEOUT"}"#.to_string())
    );
    assert_eq!(http(&nsqd, "GET", "/drain").0, 405);
    assert!(!draining(&nsqd));
    assert!(stats(&nsqd).get("draining").is_none());
}

/// `nsq_drain` (the preStop hook of the Kubernetes example) returns once
/// nsqd has drained and stopped, and fails on an address nobody serves.
#[test]
fn nsq_drain_waits_until_nsqd_has_stopped() {
    let bin = nsq_test_support::sibling_bin(nsqd_bin(), "nsq_drain");
    let mut nsqd = Nsqd::start(&[]);
    let (mut c, m) = one_in_flight(&nsqd);
    let mut hook = std::process::Command::new(&bin)
        .arg("--wait=60")
        .arg(nsqd.http.unwrap().to_string())
        .spawn()
        .expect("nsq_drain runs");
    wait_for_value("draining", WAIT, true, || draining(&nsqd));
    // In flight: nsqd runs on, and so does the hook.
    c.expect_silence(Duration::from_millis(300));
    assert!(
        hook.try_wait().unwrap().is_none(),
        "nsq_drain returned early"
    );
    c.send(Request::Fin(m.id()));
    let status = nsq_test_support::process::wait_exit(&mut hook, WAIT);
    assert!(status.is_some_and(|s| s.success()), "nsq_drain: {status:?}");
    exits_cleanly(&mut nsqd);

    let out = std::process::Command::new(&bin)
        .arg(nsq_test_support::dead_addr())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("POST /drain failed"));
}
