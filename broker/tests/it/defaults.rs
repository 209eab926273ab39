//! Daemons started the way most users start them: nothing but their
//! addresses, in an empty working directory (no `--data-path`, no
//! `--shards`, every other flag at NSQ's default). Each case publishes and
//! consumes, stops nsqd with SIGTERM, starts it again in the same directory
//! and reads every queued message back: nsqd alone, nsqd registered with
//! nsqlookupd, and nsqadmin on that nsqlookupd.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;

use nsq_protocol::command::Request;
use nsq_test_support::{Daemon, Listen};
use serde_json::Value;

use crate::harness::*;

const TOPIC: &str = "keep";
const CHANNEL: &str = "c";
/// Messages left queued across the restart.
const QUEUED: usize = 100;

fn bin(name: &str) -> std::path::PathBuf {
    nsq_test_support::sibling_bin(nsqd_bin(), name)
}

/// Start `name` with only `args` in the working directory `cwd`.
fn start_in(name: &str, args: &[String], cwd: &Path, want: Listen) -> Daemon {
    Daemon::start_in(&bin(name), args, cwd, want, WAIT)
        .unwrap_or_else(|log| panic!("{name} did not start:\n{log}"))
}

fn get_json(addr: SocketAddr, target: &str) -> Value {
    let r = nsq_test_support::http::request(addr, "GET", target, &[], b"", WAIT);
    assert_eq!(r.status, 200, "GET {addr}{target}: {}", r.body);
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{e}: {}", r.body))
}

/// nsqd with nothing but its addresses (and the lookupd, if any).
fn start_nsqd(cwd: &Path, lookupd_tcp: Option<SocketAddr>) -> Daemon {
    let mut args = vec![
        "--tcp-address=127.0.0.1:0".to_string(),
        "--http-address=127.0.0.1:0".to_string(),
    ];
    if let Some(l) = lookupd_tcp {
        args.push(format!("--lookupd-tcp-address={l}"));
    }
    start_in("nsqd", &args, cwd, Listen::TCP_HTTP)
}

/// Wait until `/ping` answers `OK` (a healthy nsqd).
fn wait_healthy(nsqd: &Daemon) {
    let http = nsqd.http.expect("http");
    wait_for_value("nsqd /ping", WAIT, "OK".to_string(), || {
        nsq_test_support::http::request(http, "GET", "/ping", &[], b"", WAIT).body
    });
}

/// Publish `QUEUED + 1` messages, consume one (FIN), and leave the rest
/// queued on the channel. Returns the bodies left queued.
fn publish_and_consume_one(nsqd: &Daemon) -> BTreeSet<Vec<u8>> {
    let tcp = nsqd.tcp.expect("tcp");
    let mut consumer = Client::connect(tcp);
    consumer.subscribe(TOPIC, CHANNEL);
    let mut producer = Client::connect(tcp);
    let bodies: Vec<Vec<u8>> = (0..=QUEUED)
        .map(|i| format!("m{i:04}").into_bytes())
        .collect();
    for body in &bodies {
        producer.publish(TOPIC, body);
    }
    consumer.send(Request::Rdy(1));
    let first = consumer.expect_message();
    consumer.send(Request::Fin(first.id()));
    consumer.send(Request::Cls);
    consumer.expect_response("CLOSE_WAIT");
    drop(consumer);
    let mut left: BTreeSet<Vec<u8>> = bodies.into_iter().collect();
    assert!(left.remove(&first.body), "consumed an unknown body");
    left
}

/// Read every message of the channel (expecting exactly `want`) and FIN it.
fn consume_all(tcp: SocketAddr, want: &BTreeSet<Vec<u8>>) {
    let mut consumer = Client::connect(tcp);
    consumer.subscribe(TOPIC, CHANNEL);
    consumer.send(Request::Rdy(want.len() as u64));
    let mut got = BTreeSet::new();
    for _ in 0..want.len() {
        let m = consumer.expect_message();
        consumer.send(Request::Fin(m.id()));
        got.insert(m.body);
    }
    assert_eq!(&got, want, "the messages queued before the restart");
}

/// SIGTERM and a clean exit, with no error logged.
fn stop(mut nsqd: Daemon) {
    let status = nsqd.terminate(WAIT).expect("nsqd exits after SIGTERM");
    let log = nsqd.log();
    assert!(status.success(), "nsqd exit status {status:?}:\n{log}");
    assert!(
        !log.contains("ERROR") && !log.contains("FATAL") && !log.contains("lost"),
        "nsqd logged an error:\n{log}"
    );
}

/// The queue files NSQ keeps in the data directory, here the working one.
fn assert_files_in(dir: &Path) {
    for name in [
        "nsqd.dat".to_string(),
        format!("{TOPIC}.diskqueue.meta.dat"),
        format!("{TOPIC}:{CHANNEL}.diskqueue.meta.dat"),
        format!("{TOPIC}:{CHANNEL}.diskqueue.000000.dat"),
    ] {
        assert!(
            dir.join(&name).is_file(),
            "{name} is not in the working directory {}",
            dir.display()
        );
    }
}

/// Where lookupd says nsqd serves `TOPIC` (its TCP port, on loopback).
fn lookup_producer(lookupd_http: SocketAddr) -> Option<SocketAddr> {
    let r = nsq_test_support::http::request(
        lookupd_http,
        "GET",
        &format!("/lookup?topic={TOPIC}"),
        &[],
        b"",
        WAIT,
    );
    if r.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&r.body).ok()?;
    let port = v["producers"].get(0)?["tcp_port"].as_u64()?;
    Some(SocketAddr::from(([127, 0, 0, 1], port as u16)))
}

fn wait_lookup(lookupd_http: SocketAddr, nsqd_tcp: SocketAddr) {
    nsq_test_support::poll(
        "lookupd lists nsqd for the topic",
        WAIT,
        std::time::Duration::from_millis(50),
        || (lookup_producer(lookupd_http) == Some(nsqd_tcp)).then_some(()),
        || format!("{:?}", lookup_producer(lookupd_http)),
    );
}

/// nsqadmin's view of the topic: its channel's depth on every node.
fn admin_depth(admin: SocketAddr) -> Option<u64> {
    let topics = get_json(admin, "/api/topics");
    let listed = topics["topics"]
        .as_array()?
        .iter()
        .any(|t| t.as_str() == Some(TOPIC));
    if !listed {
        return None;
    }
    let topic = get_json(admin, &format!("/api/topics/{TOPIC}/{CHANNEL}"));
    topic["depth"].as_u64()
}

#[test]
fn nsqd_alone_in_an_empty_working_directory_keeps_its_queue_across_a_restart() {
    let cwd = TempDir::new();
    let nsqd = start_nsqd(cwd.path(), None);
    wait_healthy(&nsqd);
    let left = publish_and_consume_one(&nsqd);
    stop(nsqd);
    assert_files_in(cwd.path());

    let nsqd = start_nsqd(cwd.path(), None);
    wait_healthy(&nsqd);
    consume_all(nsqd.tcp.expect("tcp"), &left);
    stop(nsqd);
}

#[test]
fn nsqd_with_nsqlookupd_and_nsqadmin_with_defaults_keep_the_queue_across_a_restart() {
    let lookupd_dir = TempDir::new();
    let lookupd = start_in(
        "nsqlookupd",
        &[
            "--tcp-address=127.0.0.1:0".to_string(),
            "--http-address=127.0.0.1:0".to_string(),
        ],
        lookupd_dir.path(),
        Listen::TCP_HTTP,
    );
    let lookupd_http = lookupd.http.expect("lookupd http");
    let admin_dir = TempDir::new();
    let admin = start_in(
        "nsqadmin",
        &[
            "--http-address=127.0.0.1:0".to_string(),
            format!("--lookupd-http-address={lookupd_http}"),
        ],
        admin_dir.path(),
        Listen::HTTP,
    );
    let admin_http = admin.http.expect("nsqadmin http");

    let cwd = TempDir::new();
    let nsqd = start_nsqd(cwd.path(), lookupd.tcp);
    wait_healthy(&nsqd);
    let left = publish_and_consume_one(&nsqd);
    wait_lookup(lookupd_http, nsqd.tcp.expect("tcp"));
    wait_for_value("nsqadmin: channel depth", WAIT, Some(QUEUED as u64), || {
        admin_depth(admin_http)
    });
    stop(nsqd);
    assert_files_in(cwd.path());

    let nsqd = start_nsqd(cwd.path(), lookupd.tcp);
    wait_healthy(&nsqd);
    // A consumer finds the restarted nsqd through lookupd, and nsqadmin
    // sees the queue as it was.
    wait_lookup(lookupd_http, nsqd.tcp.expect("tcp"));
    wait_for_value("nsqadmin: channel depth", WAIT, Some(QUEUED as u64), || {
        admin_depth(admin_http)
    });
    let found = lookup_producer(lookupd_http).expect("lookupd lists nsqd");
    consume_all(found, &left);
    wait_for_value("nsqadmin: channel depth", WAIT, Some(0), || {
        admin_depth(admin_http)
    });
    stop(nsqd);
}
