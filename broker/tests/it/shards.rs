//! Several shards: publishes that cross shards, the SUB handoff, response
//! order on one connection publishing to topics on different shards,
//! startup errors and clean shutdown.

use std::collections::HashSet;
use std::time::Duration;

use nsq_protocol::command::Request;

use crate::harness::*;

/// Topic names owned by shard 0 and shard 1 of 2 (same rule as the broker).
fn topics_on_each_shard() -> (String, String) {
    (topic_on(0, 0), topic_on(1, 0))
}

/// The `skip`-th topic name `t<i>` owned by `shard` of 2.
fn topic_on(shard: usize, skip: usize) -> String {
    crate::harness::topic_on("t", shard, skip)
}

#[test]
fn publishes_to_topics_on_both_shards_are_answered_in_order() {
    let nsqd = Nsqd::start(&[]);
    let (a, b) = topics_on_each_shard();
    let mut p = nsqd.connect();
    // Pipeline 200 publishes alternating between the shards; then one bad one.
    let mut wire = Vec::new();
    for i in 0..200 {
        let t = if i % 2 == 0 { &a } else { &b };
        Request::Pub(t, format!("m{i}").as_bytes()).encode(&mut wire);
    }
    Request::Pub("bad!topic", b"x").encode(&mut wire);
    p.send_bytes(&wire);
    for _ in 0..200 {
        p.expect_response("OK");
    }
    p.expect_error("E_BAD_TOPIC PUB topic name \"bad!topic\" is not valid");
    p.expect_closed();

    // Both topics hold their 100 messages, in publish order.
    for (t, parity) in [(&a, 0), (&b, 1)] {
        let mut c = nsqd.connect();
        c.subscribe(t, "ch");
        c.send(Request::Rdy(200));
        for i in (0..200).filter(|i| i % 2 == parity) {
            let m = c.expect_message();
            assert_eq!(m.body, format!("m{i}").as_bytes());
            assert_eq!(m.header.attempts, 1);
            c.send(Request::Fin(m.id()));
        }
    }
}

#[test]
fn consumers_on_every_shard_receive_after_handoff_and_can_still_publish() {
    let nsqd = Nsqd::start(&[]);
    let (a, b) = topics_on_each_shard();
    // Connections are placed round-robin, so four consumers land on both shards
    // and half of them are handed to the owner after SUB.
    let mut consumers: Vec<Client> = (0..4).map(|_| nsqd.connect()).collect();
    for (i, c) in consumers.iter_mut().enumerate() {
        let topic = if i % 2 == 0 { &a } else { &b };
        // Pipeline SUB and RDY in one write: RDY must survive the handoff.
        let mut wire = Vec::new();
        Request::Sub(topic, &format!("c{i}")).encode(&mut wire);
        Request::Rdy(10).encode(&mut wire);
        c.send_bytes(&wire);
        c.expect_response("OK");
    }
    let mut p = nsqd.connect();
    p.publish(&a, b"to-a");
    p.publish(&b, b"to-b");
    for (i, c) in consumers.iter_mut().enumerate() {
        let m = c.expect_message();
        assert_eq!(
            m.body,
            if i % 2 == 0 {
                b"to-a".to_vec()
            } else {
                b"to-b".to_vec()
            }
        );
        c.send(Request::Fin(m.id()));
        // A consumer connection may publish too, to either shard.
        c.publish(&topic_on(0, 1), b"from-consumer");
        c.publish(&topic_on(1, 1), b"from-consumer");
    }
    for topic in [&topic_on(0, 1), &topic_on(1, 1)] {
        let mut check = nsqd.connect();
        check.subscribe(topic, "check");
        check.send(Request::Rdy(10));
        for _ in 0..4 {
            assert_eq!(check.expect_message().body, b"from-consumer");
        }
    }
}

#[test]
fn mpub_across_shards_keeps_ids_unique_per_topic() {
    let nsqd = Nsqd::start(&[]);
    let (_, b) = topics_on_each_shard();
    let mut producers: Vec<Client> = (0..3).map(|_| nsqd.connect()).collect();
    let bodies: Vec<Vec<u8>> = (0..100).map(|i| format!("b{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    for p in &mut producers {
        for _ in 0..5 {
            p.send(Request::Mpub(&b, &refs));
        }
    }
    for p in &mut producers {
        for _ in 0..5 {
            p.expect_response("OK");
        }
    }
    let mut c = nsqd.connect();
    c.subscribe(&b, "ch");
    c.send(Request::Rdy(2500));
    let mut ids = HashSet::new();
    for _ in 0..1500 {
        let m = c.expect_message();
        assert!(ids.insert(m.id()), "duplicate id {}", m.id());
        c.send(Request::Fin(m.id()));
    }
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn second_nsqd_on_a_port_in_use_fails_clearly() {
    let first = Nsqd::start(&[]);
    let addr = format!("--tcp-address={}", first.tcp);
    let err = match Nsqd::start_raw(&[&addr, "--http-address=", "--shards=1"]) {
        Ok(_) => panic!("second nsqd started on a port in use"),
        Err(log) => log,
    };
    assert!(
        err.contains("FATAL: listen (") && err.contains("failed"),
        "{err}"
    );
    // Same for the HTTP port.
    let http = format!("--http-address={}", first.http.expect("http"));
    let err = match Nsqd::start_raw(&["--tcp-address=127.0.0.1:0", &http, "--shards=1"]) {
        Ok(_) => panic!("second nsqd started on an HTTP port in use"),
        Err(log) => log,
    };
    assert!(
        err.contains("FATAL: listen (") && err.contains("failed"),
        "{err}"
    );
    // The first one still serves.
    let mut c = first.connect();
    c.publish("still_up", b"x");
}

#[test]
fn sigterm_closes_clients_and_exits_zero() {
    let mut nsqd = Nsqd::start(&[]);
    let mut c = nsqd.connect();
    c.subscribe("t", "c");
    let mut p = nsqd.connect();
    p.publish("t", b"x");
    let status = nsqd.terminate().expect("nsqd did not exit after SIGTERM");
    assert!(status.success(), "{status:?}");
    // Both listeners stop accepting (the log reader may lag the exit).
    Client::wait_until(|| {
        let log = nsqd.log();
        log.contains("signal 15 received")
            && log.contains("TCP: closing")
            && log.contains("HTTP: closing")
    });
    // The consumer sees the connection closed.
    loop {
        match c.next() {
            None => break,
            Some(Got::Message(_)) | Some(Got::Response(_)) => continue,
            other => panic!("{other:?}"),
        }
    }
}

/// The connection that is accepted first goes to shard 0 (round-robin
/// placement starts there), so its topics owned by shard 1 are forwarded.
#[test]
fn after_a_failed_forwarded_publish_no_later_command_runs() {
    // The topic's disk queue cannot open (its metadata does not scan), so
    // the message beyond --mem-queue-size fails.
    let full = topic_on(1, 0);
    let dir = crate::harness::fresh_data_dir();
    std::fs::write(dir.join(format!("{full}.diskqueue.meta.dat")), "garbage\n").unwrap();
    // Loaded at startup, so the failure is known before the first publish.
    let dat = format!(
        "{{\"topics\":[{{\"name\":\"{full}\",\"paused\":false,\"channels\":null}}],\"version\":\"1.3.0\"}}"
    );
    std::fs::write(dir.join("nsqd.dat"), dat).unwrap();
    let data_path = format!("--data-path={}", dir.display());
    let nsqd = Nsqd::start(&["--mem-queue-size=2", &data_path]);
    let later_same_owner = topic_on(1, 1);
    let later_local = topic_on(0, 0);
    let mut p = nsqd.connect();
    let mut wire = Vec::new();
    for i in 0..3 {
        Request::Pub(&full, format!("m{i}").as_bytes()).encode(&mut wire);
    }
    Request::Pub(&later_same_owner, b"must not run").encode(&mut wire);
    Request::Pub(&later_local, b"must not run").encode(&mut wire);
    p.send_bytes(&wire);
    p.expect_response("OK");
    p.expect_response("OK");
    match p.next() {
        Some(Got::Error(e)) => assert!(e.starts_with("E_PUB_FAILED PUB failed"), "{e}"),
        other => panic!("{other:?}"),
    }
    p.expect_closed();
    for topic in [&later_same_owner, &later_local] {
        let mut c = nsqd.connect();
        c.subscribe(topic, "ch");
        c.send(Request::Rdy(10));
        c.expect_silence(Duration::from_millis(300));
    }
}

#[test]
fn a_too_long_line_still_answers_the_publishes_before_it() {
    let nsqd = Nsqd::start(&[]);
    let remote = topic_on(1, 0);
    let mut p = nsqd.connect();
    let mut wire = Vec::new();
    Request::Pub(&remote, b"before").encode(&mut wire);
    wire.extend(std::iter::repeat_n(b'x', 17_000));
    p.send_bytes(&wire);
    p.expect_response("OK");
    p.expect_closed();
    let mut c = nsqd.connect();
    c.subscribe(&remote, "ch");
    c.send(Request::Rdy(1));
    assert_eq!(c.expect_message().body, b"before");
}

#[test]
fn a_publisher_that_does_not_read_is_throttled_not_dropped() {
    let nsqd = Nsqd::start(&["--mem-queue-size=100000"]);
    let mut p = nsqd.connect();
    // 60 000 pipelined PUBs (~600 KiB of OKs) written before reading any.
    let mut wire = Vec::new();
    for _ in 0..60_000 {
        Request::Pub("flood", b"x").encode(&mut wire);
    }
    let writer = {
        let mut stream = p.try_clone_stream();
        std::thread::spawn(move || {
            use std::io::Write;
            stream.write_all(&wire).unwrap();
        })
    };
    for _ in 0..60_000 {
        p.expect_response("OK");
    }
    writer.join().unwrap();
}

/// A producer with one small publish at a time to a topic of the other
/// shard moves to that shard (net::affinity), and nothing about the
/// connection changes for the client: every publish is answered in order,
/// the messages arrive in order, the stats show one producer with the
/// right counts, and it can still publish anywhere.
#[test]
fn a_producer_follows_its_topic_to_the_owning_shard_without_the_client_noticing() {
    let nsqd = Nsqd::start(&[]);
    let (a, b) = (topic_on(0, 3), topic_on(1, 3));
    let mut p = nsqd.connect();
    p.identify(r#"{"client_id":"follower","feature_negotiation":true}"#);
    // Accept placement is round-robin: one of the two phases is remote.
    for t in [&a, &b] {
        for i in 0..100 {
            p.publish(t, format!("{t}-{i}").as_bytes());
        }
    }
    // Pipelined, both shards, after the move(s).
    let mut wire = Vec::new();
    for i in 100..110 {
        Request::Pub(&a, format!("{a}-{i}").as_bytes()).encode(&mut wire);
        Request::Pub(&b, format!("{b}-{i}").as_bytes()).encode(&mut wire);
    }
    p.send_bytes(&wire);
    for _ in 0..20 {
        p.expect_response("OK");
    }
    Client::wait_until(|| nsqd.log().contains("publishes to shard"));

    assert_one_producer_with_counts(&nsqd, "follower", &[(&a, 110), (&b, 110)]);
    for t in [&a, &b] {
        expect_numbered_messages(&nsqd, t, 110);
    }
}

/// `/stats` lists the producer `client_id` once, with these publish
/// counts per topic.
fn assert_one_producer_with_counts(nsqd: &Nsqd, client_id: &str, want: &[(&str, u64)]) {
    let s: serde_json::Value =
        serde_json::from_str(&http(nsqd, "GET", "/stats?format=json").1).unwrap();
    let producers: Vec<_> = s["producers"]
        .as_array()
        .expect("producers")
        .iter()
        .filter(|c| c["client_id"] == client_id)
        .collect();
    assert_eq!(producers.len(), 1, "{s}");
    let mut counts: Vec<(String, u64)> = producers[0]["pub_counts"]
        .as_array()
        .expect("pub_counts")
        .iter()
        .map(|c| {
            (
                c["topic"].as_str().unwrap().to_string(),
                c["count"].as_u64().unwrap(),
            )
        })
        .collect();
    counts.sort();
    let mut want: Vec<(String, u64)> = want.iter().map(|(t, n)| (t.to_string(), *n)).collect();
    want.sort();
    assert_eq!(counts, want);
}

/// A consumer of `topic`/ch receives "{topic}-0" .. "{topic}-{n-1}" in
/// order.
fn expect_numbered_messages(nsqd: &Nsqd, topic: &str, n: usize) {
    let mut c = nsqd.connect();
    c.subscribe(topic, "ch");
    c.send(Request::Rdy(200));
    for i in 0..n {
        let m = c.expect_message();
        assert_eq!(String::from_utf8_lossy(&m.body), format!("{topic}-{i}"));
        c.send(Request::Fin(m.id()));
    }
}

/// A bulk producer (MPUB, one answer awaited at a time, as NSQ's
/// bench_writer and most batching clients publish) follows its topic to
/// the owning shard too, and the client notices nothing: every MPUB is
/// answered, the messages arrive in order and the stats count them all.
#[test]
fn a_bulk_producer_follows_its_topic_too() {
    let nsqd = Nsqd::start(&[]);
    let (a, b) = (topic_on(0, 4), topic_on(1, 4));
    let mut p = nsqd.connect();
    p.identify(r#"{"client_id":"bulk","feature_negotiation":true}"#);
    // Accept placement is round-robin: one of the two phases is remote.
    for t in [&a, &b] {
        for batch in 0..50 {
            let bodies: Vec<Vec<u8>> = (0..20)
                .map(|i| format!("{t}-{}", batch * 20 + i).into_bytes())
                .collect();
            let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
            p.send(Request::Mpub(t, &refs));
            p.expect_response("OK");
        }
    }
    Client::wait_until(|| nsqd.log().contains("publishes to shard"));
    assert_one_producer_with_counts(&nsqd, "bulk", &[(&a, 1000), (&b, 1000)]);
    for t in [&a, &b] {
        expect_numbered_messages(&nsqd, t, 1000);
    }
}

/// A daemon whose stderr reader went away (a log pipe that died) keeps
/// serving on every shard and still stops on SIGTERM: a failed log write
/// is ignored, as Go's log does: a panic in the thread that logged would
/// leave a shard dead and the shutdown waiting for it forever.
#[test]
fn closed_stderr_neither_kills_a_shard_nor_blocks_the_shutdown() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};

    /// Killed on drop, so that a failed assertion leaks no daemon.
    struct Killed(std::process::Child);
    impl Drop for Killed {
        fn drop(&mut self) {
            nsq_test_support::process::kill(&mut self.0);
        }
    }

    nsq_test_support::process::raise_memlock();
    let dir = TempDir::new();
    let child = Command::new(nsqd_bin())
        .args([
            "--tcp-address=127.0.0.1:0",
            "--http-address=",
            "--shards=2",
            &format!("--data-path={}", dir.path().display()),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn nsqd");
    let mut child = Killed(child);
    // Read the log until the TCP address, then close the pipe's read end.
    let (tx, rx) = std::sync::mpsc::channel();
    let stderr = child.0.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut lines = BufReader::new(stderr).lines();
        for line in lines.by_ref().map_while(Result::ok) {
            if let Some(addr) = line.split("TCP: listening on ").nth(1) {
                let _ = tx.send(addr.trim().to_string());
                break;
            }
        }
        drop(lines);
    });
    let addr: std::net::SocketAddr = rx
        .recv_timeout(WAIT)
        .expect("nsqd logs its TCP address")
        .parse()
        .expect("address");
    reader.join().expect("reader");

    // Connections land on both shards and log their ends to the dead pipe;
    // each shard then still answers publishes to its own topics.
    let (a, b) = topics_on_each_shard();
    for round in 0..3 {
        for _ in 0..4 {
            let mut c = Client::connect(addr);
            c.identify(r#"{"client_id":"gone"}"#);
            drop(c);
        }
        let mut p = Client::connect(addr);
        for t in [&a, &b] {
            p.publish(t, format!("round {round}").as_bytes());
        }
    }
    let status = nsq_test_support::process::terminate(&mut child.0, WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "nsqd did not exit cleanly on SIGTERM with its stderr closed: {status:?}"
    );
}
