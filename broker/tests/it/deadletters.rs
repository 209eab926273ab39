//! Dead letters (docs/compatibility.md#dead-letters): `--max-attempts`,
//! `POST /channel/config`, the move to the dead-letter topic after a REQ or
//! a timeout (on the same shard and across shards), what `/stats`,
//! `/metrics` and `nsqd.dat` show, restarts, redrive, and a SIGKILL during
//! the moves with `--sync-every=1`.

use std::collections::HashSet;
use std::time::Duration;

use nsq_protocol::command::Request;

use super::harness::*;

/// `POST /channel/config?topic=&channel=` plus `rest`.
fn config(nsqd: &Nsqd, topic: &str, channel: &str, rest: &str) -> (u16, String) {
    http(
        nsqd,
        "POST",
        &format!("/channel/config?topic={topic}&channel={channel}{rest}"),
    )
}

/// A channel name of `topic` whose default dead-letter topic lives on the
/// same shard as `topic` (or on the other one).
fn channel_named(topic: &str, same_shard: bool) -> String {
    (0..)
        .map(|i| format!("c{i}"))
        .find(|c| {
            let dead = format!("{topic}.{c}.dead");
            (nsq_broker::owner_of(&dead, 2) == nsq_broker::owner_of(topic, 2)) == same_shard
        })
        .expect("some name fits")
}

/// A consumer of `topic`/`channel` with RDY `rdy`.
fn consumer(nsqd: &Nsqd, topic: &str, channel: &str, rdy: u64) -> Client {
    let mut c = nsqd.connect();
    c.subscribe(topic, channel);
    c.send(Request::Rdy(rdy));
    c
}

/// The next message, which must be its `attempts`-th delivery.
fn next_attempt(c: &mut Client, attempts: u16) -> Msg {
    let m = c.expect_message();
    assert_eq!(
        m.header.attempts,
        attempts,
        "{:?}",
        String::from_utf8_lossy(&m.body)
    );
    m
}

fn figure(nsqd: &Nsqd, topic: &str, channel: &str, key: &str) -> serde_json::Value {
    stats_of(nsqd, topic, Some(channel)).map_or(serde_json::Value::Null, |c| c[key].clone())
}

fn topic_depth(nsqd: &Nsqd, topic: &str) -> Option<i64> {
    stats_of(nsqd, topic, None).and_then(|t| t["depth"].as_i64())
}

/// With the defaults nothing of either extension shows: the `/stats`
/// keys (JSON and text), `/metrics` and `nsqd.dat` are NSQ 1.3.0's, however
/// often a message is requeued or times out.
#[test]
fn defaults_leave_stats_metrics_and_nsqd_dat_as_nsq_has_them() {
    let dir = TempDir::new();
    let mut nsqd = start_on(dir.path());
    create_channel(&nsqd, "t", "c");
    nsqd.connect().publish("t", b"again");
    let mut c = nsqd.connect();
    assert!(matches!(
        c.identify(r#"{"msg_timeout":1000}"#),
        Got::Response(_)
    ));
    c.subscribe("t", "c");
    c.send(Request::Rdy(1));
    for attempt in 1..=5 {
        let m = next_attempt(&mut c, attempt);
        c.send(Request::Req(m.id(), 0));
    }
    // The sixth times out and comes back a seventh time.
    next_attempt(&mut c, 6);
    next_attempt(&mut c, 7);

    let raw = http(&nsqd, "GET", "/stats?format=json").1;
    for word in ["draining", "max_attempts", "dead_letter"] {
        assert!(!raw.contains(word), "{word} in {raw}");
    }
    let s: serde_json::Value = serde_json::from_str(&raw).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let sorted = |v: &[&str]| {
        let mut k: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        k.sort();
        k
    };
    assert_eq!(
        keys(&s),
        sorted(&[
            "version",
            "health",
            "start_time",
            "topics",
            "memory",
            "producers"
        ])
    );
    let channel = &s["topics"][0]["channels"][0];
    assert_eq!(
        keys(channel),
        sorted(&[
            "channel_name",
            "depth",
            "backend_depth",
            "in_flight_count",
            "deferred_count",
            "message_count",
            "requeue_count",
            "timeout_count",
            "client_count",
            "clients",
            "paused",
            "e2e_processing_latency",
        ])
    );
    assert_eq!(
        (&channel["requeue_count"], &channel["timeout_count"]),
        (&serde_json::json!(5), &serde_json::json!(1))
    );
    let text = http(&nsqd, "GET", "/stats").1;
    assert!(
        !text.contains("Draining") && !text.contains("max-attempts"),
        "{text}"
    );
    let metrics = http(&nsqd, "GET", "/metrics").1;
    assert!(!metrics.contains("dead_letter") && !metrics.contains("max_attempts"));
    drop(c);
    assert!(nsqd.terminate().is_some_and(|s| s.success()));
    assert_eq!(
        std::fs::read_to_string(dir.path().join("nsqd.dat")).unwrap(),
        r#"{"topics":[{"name":"t","paused":false,"channels":[{"name":"c","paused":false}]}],"version":"1.3.0"}"#
    );
}

#[test]
fn requeued_past_the_limit_goes_to_the_dead_letter_topic() {
    for same_shard in [true, false] {
        let nsqd = Nsqd::start(&[]);
        let topic = "orders";
        let ch = channel_named(topic, same_shard);
        let dead = format!("{topic}.{ch}.dead");
        create_channel(&nsqd, topic, &ch);
        assert_eq!(
            config(&nsqd, topic, &ch, "&max_attempts=2"),
            (200, String::new())
        );
        let mut p = nsqd.connect();
        p.publish(topic, b"poison");
        let mut c = consumer(&nsqd, topic, &ch, 1);
        let first = next_attempt(&mut c, 1);
        c.send(Request::Req(first.id(), 0));
        let second = next_attempt(&mut c, 2);
        assert_eq!(second.id(), first.id());
        c.send(Request::Req(second.id(), 0));
        // Not requeued: in the dead-letter topic instead.
        c.expect_silence(Duration::from_millis(300));
        wait_for_value("dead_letter_count", WAIT, 1, || {
            figure(&nsqd, topic, &ch, "dead_letter_count")
                .as_i64()
                .unwrap_or(0)
        });
        wait_for_value("dead-letter depth", WAIT, Some(1), || {
            topic_depth(&nsqd, &dead)
        });
        let s = stats_of(&nsqd, topic, Some(&ch)).unwrap();
        assert_eq!(
            (
                &s["depth"],
                &s["in_flight_count"],
                &s["requeue_count"],
                &s["max_attempts"],
                &s["dead_letter_topic"]
            ),
            (
                &serde_json::json!(0),
                &serde_json::json!(0),
                &serde_json::json!(2),
                &serde_json::json!(2),
                &serde_json::json!(dead)
            )
        );
        // Same body, a new ID, a fresh count of attempts.
        let mut d = consumer(&nsqd, &dead, "inspect", 1);
        let m = next_attempt(&mut d, 1);
        assert_eq!(m.body, b"poison");
        assert_ne!(m.id(), first.id());
        d.send(Request::Fin(m.id()));
        // Visible in the text /stats and /metrics.
        let text = http(&nsqd, "GET", "/stats").1;
        assert!(
            text.contains(&format!("max-attempts: 2 dead-letters: 1 -> {dead}")),
            "{text}"
        );
        let metrics = http(&nsqd, "GET", "/metrics").1;
        let series =
            format!("nsq_channel_dead_letter_count_total{{topic=\"{topic}\",channel=\"{ch}\"}} 1");
        assert!(metrics.lines().any(|l| l == series), "{metrics}");
        assert!(metrics.contains(&format!(
            "nsq_channel_max_attempts{{topic=\"{topic}\",channel=\"{ch}\"}} 2"
        )));
    }
}

#[test]
fn a_timeout_past_the_limit_dead_letters_too() {
    let nsqd = Nsqd::start(&[]);
    create_channel(&nsqd, "slow", "c");
    assert_eq!(
        config(
            &nsqd,
            "slow",
            "c",
            "&max_attempts=1&dead_letter_topic=slow_failed"
        )
        .0,
        200
    );
    nsqd.connect().publish("slow", b"late");
    let mut c = nsqd.connect();
    let reply = c.identify(r#"{"msg_timeout":1000}"#);
    assert!(matches!(reply, Got::Response(_)), "{reply:?}");
    c.subscribe("slow", "c");
    c.send(Request::Rdy(1));
    next_attempt(&mut c, 1);
    // Never finished: it times out and leaves the channel.
    wait_for_value("dead-letter depth", WAIT, Some(1), || {
        topic_depth(&nsqd, "slow_failed")
    });
    let s = stats_of(&nsqd, "slow", Some("c")).unwrap();
    assert_eq!(
        (&s["timeout_count"], &s["depth"]),
        (&serde_json::json!(1), &serde_json::json!(0))
    );
    c.expect_silence(Duration::from_millis(200));
}

#[test]
fn max_attempts_flag_applies_to_every_channel_unless_overridden() {
    let nsqd = Nsqd::start(&["--max-attempts=1"]);
    let mut c = consumer(&nsqd, "t", "c", 1);
    let s = stats_of(&nsqd, "t", Some("c")).unwrap();
    assert_eq!(
        (
            &s["max_attempts"],
            &s["dead_letter_topic"],
            &s["dead_letter_count"]
        ),
        (
            &serde_json::json!(1),
            &serde_json::json!("t.c.dead"),
            &serde_json::json!(0)
        )
    );
    // No default name for an ephemeral channel: no limit, nothing shown.
    let _e = consumer(&nsqd, "t", "e#ephemeral", 0);
    let e = stats_of(&nsqd, "t", Some("e#ephemeral")).unwrap();
    assert!(e.get("max_attempts").is_none(), "{e}");
    // A channel of its own: 0 turns the limit off.
    create_channel(&nsqd, "t", "keep");
    assert_eq!(config(&nsqd, "t", "keep", "&max_attempts=0").0, 200);
    let k = stats_of(&nsqd, "t", Some("keep")).unwrap();
    assert_eq!(
        (&k["max_attempts"], k.get("dead_letter_topic")),
        (&serde_json::json!(0), None)
    );

    let mut p = nsqd.connect();
    p.publish("t", b"x");
    let m = next_attempt(&mut c, 1);
    c.send(Request::Req(m.id(), 0));
    wait_for_value("t.c.dead depth", WAIT, Some(1), || {
        topic_depth(&nsqd, "t.c.dead")
    });
    let mut k = consumer(&nsqd, "t", "keep", 1);
    for attempt in 1..=3 {
        let m = next_attempt(&mut k, attempt);
        k.send(Request::Req(m.id(), 0));
    }
    next_attempt(&mut k, 4);
}

#[test]
fn channel_config_refuses_bad_values_with_reasons() {
    let nsqd = Nsqd::start(&[]);
    create_channel(&nsqd, "t", "c");
    create_channel(&nsqd, "t", "e#ephemeral");
    let long = "x".repeat(40);
    create_channel(&nsqd, &long, &long);
    let cases: Vec<(String, u16, &str)> = vec![
        ("topic=t&channel=c".into(), 400, "MISSING_ARG_MAX_ATTEMPTS"),
        (
            "topic=t&channel=c&max_attempts=-1".into(),
            400,
            "INVALID_ARG_MAX_ATTEMPTS",
        ),
        (
            "topic=t&channel=c&max_attempts=65536".into(),
            400,
            "INVALID_ARG_MAX_ATTEMPTS",
        ),
        (
            "topic=t&channel=c&max_attempts=x".into(),
            400,
            "INVALID_ARG_MAX_ATTEMPTS",
        ),
        (
            "topic=t&channel=c&max_attempts=3&dead_letter_topic=a%20b".into(),
            400,
            "INVALID_ARG_DEAD_LETTER_TOPIC",
        ),
        (
            "topic=t&channel=c&max_attempts=3&dead_letter_topic=t".into(),
            400,
            "DEAD_LETTER_TOPIC_IS_SOURCE",
        ),
        (
            "topic=t&channel=e%23ephemeral&max_attempts=3".into(),
            400,
            "DEAD_LETTER_TOPIC_EPHEMERAL",
        ),
        (
            format!("topic={long}&channel={long}&max_attempts=3"),
            400,
            "DEAD_LETTER_TOPIC_TOO_LONG",
        ),
        ("channel=c&max_attempts=3".into(), 400, "MISSING_ARG_TOPIC"),
        ("topic=t&max_attempts=3".into(), 400, "MISSING_ARG_CHANNEL"),
        (
            "topic=nope&channel=c&max_attempts=3".into(),
            404,
            "TOPIC_NOT_FOUND",
        ),
        (
            "topic=t&channel=nope&max_attempts=3".into(),
            404,
            "CHANNEL_NOT_FOUND",
        ),
    ];
    for (query, status, message) in cases {
        let (got, body) = http(&nsqd, "POST", &format!("/channel/config?{query}"));
        assert_eq!(
            (got, body),
            (status, format!("{{\"message\":\"{message}\"}}")),
            "{query}"
        );
    }
    // An ephemeral channel or a long name may still name a topic.
    let ok = "topic=t&channel=e%23ephemeral&max_attempts=3&dead_letter_topic=d";
    assert_eq!(http(&nsqd, "POST", &format!("/channel/config?{ok}")).0, 200);
    assert_eq!(
        http(&nsqd, "GET", "/channel/config?topic=t&channel=c").0,
        405
    );
    assert_eq!(
        stats_of(&nsqd, "t", Some("e#ephemeral")).unwrap()["dead_letter_topic"],
        "d"
    );
}

#[test]
fn settings_survive_restarts_in_nsqd_dat() {
    let dir = TempDir::new();
    let mut nsqd = start_on(dir.path());
    create_channel(&nsqd, "t", "c");
    create_channel(&nsqd, "t", "d");
    assert_eq!(
        config(&nsqd, "t", "c", "&max_attempts=3&dead_letter_topic=failed").0,
        200
    );
    assert_eq!(config(&nsqd, "t", "d", "&max_attempts=0").0, 200);
    assert!(nsqd.terminate().is_some_and(|s| s.success()));
    let dat = std::fs::read_to_string(dir.path().join("nsqd.dat")).unwrap();
    assert!(
        dat.contains(
            r#"{"name":"c","paused":false,"max_attempts":3,"dead_letter_topic":"failed"}"#
        ) && dat.contains(r#"{"name":"d","paused":false,"max_attempts":0}"#),
        "{dat}"
    );
    drop(nsqd);
    let nsqd = start_on(dir.path());
    assert_eq!(figure(&nsqd, "t", "c", "max_attempts"), 3);
    assert_eq!(figure(&nsqd, "t", "c", "dead_letter_topic"), "failed");
    assert_eq!(figure(&nsqd, "t", "d", "max_attempts"), 0);
    nsqd.connect().publish("t", b"x");
    let mut c = consumer(&nsqd, "t", "c", 1);
    for attempt in 1..=3 {
        let m = next_attempt(&mut c, attempt);
        c.send(Request::Req(m.id(), 0));
    }
    wait_for_value("failed depth", WAIT, Some(1), || {
        topic_depth(&nsqd, "failed")
    });
}

/// Dead-letter `n` messages of `topic`/`channel` (max attempts 1).
fn dead_letter_n(nsqd: &Nsqd, topic: &str, channel: &str, n: usize) {
    create_channel(nsqd, topic, channel);
    assert_eq!(config(nsqd, topic, channel, "&max_attempts=1").0, 200);
    let mut p = nsqd.connect();
    p.publish_numbered(topic, "m", 0..n);
    let mut c = consumer(nsqd, topic, channel, n as u64);
    for _ in 0..n {
        let m = next_attempt(&mut c, 1);
        c.send(Request::Req(m.id(), 0));
    }
    let dead = format!("{topic}.{channel}.dead");
    wait_for_value("dead-letter depth", WAIT, Some(n as i64), || {
        topic_depth(nsqd, &dead)
    });
}

#[test]
fn redrive_moves_the_dead_letters_back_into_their_channel_only() {
    // A small memory queue: most dead letters wait on disk; or group
    // commit: all of them, and each batch is fsynced in the channel before
    // the dead-letter topic lets go of it.
    for (same_shard, flag) in [
        (true, "--mem-queue-size=3"),
        (false, "--mem-queue-size=3"),
        (true, "--sync-every=1"),
        (false, "--sync-every=1"),
    ] {
        let nsqd = Nsqd::start(&[flag]);
        let ch = channel_named("jobs", same_shard);
        dead_letter_n(&nsqd, "jobs", &ch, 20);
        create_channel(&nsqd, "jobs", "other");
        let other_before = figure(&nsqd, "jobs", "other", "depth");
        let query = format!("/channel/redrive?topic=jobs&channel={ch}");
        let (status, body) = http(&nsqd, "POST", &query);
        assert_eq!((status, body.as_str()), (200, r#"{"moved":20}"#));
        assert_eq!(topic_depth(&nsqd, &format!("jobs.{ch}.dead")), Some(0));
        assert_eq!(figure(&nsqd, "jobs", "other", "depth"), other_before);
        // Fresh attempts: the consumer gets every one once more.
        let mut c = consumer(&nsqd, "jobs", &ch, 50);
        let mut seen = HashSet::new();
        for _ in 0..20 {
            let m = next_attempt(&mut c, 1);
            seen.insert(String::from_utf8(m.body.clone()).unwrap());
            c.send(Request::Fin(m.id()));
        }
        assert_eq!(seen.len(), 20);
        c.expect_silence(Duration::from_millis(200));
        assert_eq!(figure(&nsqd, "jobs", &ch, "dead_letter_count"), 20);
        // Nothing left: 0 moved.
        assert_eq!(http(&nsqd, "POST", &query).1, r#"{"moved":0}"#);
    }
}

#[test]
fn redrive_errors() {
    let nsqd = Nsqd::start(&[]);
    create_channel(&nsqd, "t", "c");
    for (query, status, body) in [
        (
            "topic=t&channel=nope",
            404,
            r#"{"message":"CHANNEL_NOT_FOUND"}"#,
        ),
        (
            "topic=nope&channel=c",
            404,
            r#"{"message":"TOPIC_NOT_FOUND"}"#,
        ),
        ("topic=t", 400, r#"{"message":"MISSING_ARG_CHANNEL"}"#),
        (
            "topic=t&channel=c&dead_letter_topic=t",
            400,
            r#"{"message":"DEAD_LETTER_TOPIC_IS_SOURCE"}"#,
        ),
        (
            "topic=t&channel=c&dead_letter_topic=a%20b",
            400,
            r#"{"message":"INVALID_ARG_DEAD_LETTER_TOPIC"}"#,
        ),
        // No dead-letter topic yet: nothing to move.
        ("topic=t&channel=c", 200, r#"{"moved":0}"#),
    ] {
        assert_eq!(
            http(&nsqd, "POST", &format!("/channel/redrive?{query}")),
            (status, body.to_string()),
            "{query}"
        );
    }
}

/// A SIGKILL while messages move to the dead-letter topic, with
/// `--sync-every=1`: after a restart every message is in the channel or in
/// the dead-letter topic (some maybe in both), none is lost.
#[test]
fn sigkill_during_dead_letter_moves_loses_nothing() {
    let dir = TempDir::new();
    let flags = ["--sync-every=1", "--max-attempts=1"];
    let nsqd = start_on_with(dir.path(), &flags);
    let ch = channel_named("work", false);
    let dead = format!("work.{ch}.dead");
    create_channel(&nsqd, "work", &ch);
    let bodies: Vec<String> = (0..300).map(|i| format!("w{i}")).collect();
    let mut p = nsqd.connect();
    for chunk in bodies.chunks(50) {
        let refs: Vec<&[u8]> = chunk.iter().map(|b| b.as_bytes()).collect();
        p.send(Request::Mpub("work", &refs));
        p.expect_response("OK");
    }
    let mut c = consumer(&nsqd, "work", &ch, 300);
    for i in 0..250 {
        let m = next_attempt(&mut c, 1);
        c.send(Request::Req(m.id(), 0));
        if i == 200 {
            // Some moves done, some on their way.
            wait_for_value("some moved", WAIT, true, || {
                figure(&nsqd, "work", &ch, "dead_letter_count")
                    .as_i64()
                    .is_some_and(|n| n > 0)
            });
        }
    }
    nsqd.signal(libc::SIGKILL);
    drop(c);
    drop(p);
    drop(nsqd);

    let nsqd = start_on_with(dir.path(), &flags);
    let mut from_channel = consumer(&nsqd, "work", &ch, 300);
    let mut from_dead = consumer(&nsqd, &dead, "audit", 300);
    let want: HashSet<String> = bodies.iter().cloned().collect();
    let mut seen = HashSet::new();
    let mut quiet = 0;
    let mut counts = [0, 0];
    while !want.is_subset(&seen) {
        let mut got = false;
        for (i, c) in [&mut from_channel, &mut from_dead].into_iter().enumerate() {
            while let Some(Some(Got::Message(m))) = c.try_next_within(Duration::from_millis(200)) {
                seen.insert(String::from_utf8(m.body.clone()).unwrap());
                c.send(Request::Fin(m.id()));
                counts[i] += 1;
                got = true;
            }
        }
        quiet = if got { 0 } else { quiet + 1 };
        if quiet > 20 {
            let mut missing: Vec<_> = want.difference(&seen).cloned().collect();
            missing.sort();
            panic!(
                "{} of 300 messages lost after SIGKILL during dead-letter moves: {:?}...",
                missing.len(),
                &missing[..missing.len().min(8)]
            );
        }
    }
    eprintln!(
        "after the SIGKILL: {} from the channel, {} from the dead-letter topic",
        counts[0], counts[1]
    );
}
