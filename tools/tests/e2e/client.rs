//! The client library against real nsqds: RDY shared across connections
//! (docs/clients.md#rdy), backoff (#backoff), max attempts (#message-handling),
//! producer ordering, MPUB, DPUB and error replies (#producers).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nsq_tools::client::{Config, Consumer, Error, Message, Producer};

use crate::harness::*;

fn ready_counts(nsqd: &Daemon, topic: &str) -> Vec<i64> {
    let st = nsqd.stats();
    st.topics
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.topic_name == topic)
        .flat_map(|t| t.channels)
        .flat_map(|c| c.clients.unwrap_or_default())
        .map(|c| c.ready_count)
        .collect()
}

#[test]
fn rdy_is_shared_across_nsqd_connections() {
    let nsqds: Vec<Daemon> = (0..3).map(|_| Daemon::nsqd(&[], &[])).collect();
    let cfg = Config {
        max_in_flight: 9,
        ..Config::default()
    };
    let c = Consumer::new("rdy", "c", cfg, Arc::new(|_: &Message| Ok(())), 1).unwrap();
    for n in &nsqds {
        c.connect_to_nsqd(&n.tcp.to_string()).unwrap();
    }
    let got: Vec<u64> = c.rdy_counts().into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, [3, 3, 3]);
    for n in &nsqds {
        wait_for("nsqd sees RDY 3", WAIT, || {
            (ready_counts(n, "rdy") == [3]).then_some(())
        });
    }
    drop(c);

    // More connections than max_in_flight: RDY 1 on at most 2 of them.
    let cfg = Config {
        max_in_flight: 2,
        ..Config::default()
    };
    let c = Consumer::new("rdy2", "c", cfg, Arc::new(|_: &Message| Ok(())), 1).unwrap();
    for n in &nsqds {
        c.connect_to_nsqd(&n.tcp.to_string()).unwrap();
    }
    let got: Vec<u64> = c.rdy_counts().into_iter().map(|(_, r)| r).collect();
    assert!(
        got.iter().sum::<u64>() <= 2 && got.iter().all(|&r| r <= 1),
        "{got:?}"
    );
    assert!(c.stop_and_wait());
}

#[test]
fn backoff_zeroes_rdy_then_tests_the_waters() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let mut cfg = Config {
        max_in_flight: 5,
        ..Config::default()
    };
    cfg.set_opt("backoff_multiplier,300ms").unwrap();
    cfg.set_opt("default_requeue_delay,10ms").unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    let handler = move |_: &Message| -> Result<(), String> {
        // Fail the first delivery, succeed afterwards.
        if calls2.fetch_add(1, Ordering::SeqCst) == 0 {
            Err("first fails".into())
        } else {
            Ok(())
        }
    };
    let c = Consumer::new("bo", "c", cfg, Arc::new(handler), 1).unwrap();
    c.connect_to_nsqd(&nsqd.tcp.to_string()).unwrap();
    assert_eq!(c.rdy_counts()[0].1, 5);
    let t0 = Instant::now();
    nsqd.publish("bo", b"x");
    // Backoff level 1 = 600 ms at RDY 0, then RDY 1 to test the waters;
    // the redelivered message succeeds and RDY returns to 5.
    wait_for("RDY 0 during backoff", WAIT, || {
        (c.rdy_counts()[0].1 == 0).then_some(())
    });
    wait_for("redelivered after backoff", WAIT, || {
        (calls.load(Ordering::SeqCst) >= 2).then_some(())
    });
    assert!(
        t0.elapsed() >= Duration::from_millis(500),
        "{:?}",
        t0.elapsed()
    );
    wait_for("back to RDY 5", WAIT, || {
        (c.rdy_counts()[0].1 == 5).then_some(())
    });
    let s = c.stats();
    assert_eq!((s.received, s.finished, s.requeued), (2, 1, 1));
    assert!(c.stop_and_wait());
}

#[test]
fn max_attempts_finishes_without_calling_the_handler() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let mut cfg = Config::default();
    for o in [
        "max_attempts,2",
        "default_requeue_delay,10ms",
        "backoff_multiplier,10ms",
    ] {
        cfg.set_opt(o).unwrap();
    }
    let calls = Arc::new(AtomicUsize::new(0));
    let calls2 = calls.clone();
    let handler = move |_: &Message| -> Result<(), String> {
        calls2.fetch_add(1, Ordering::SeqCst);
        Err("always".into())
    };
    let c = Consumer::new("ma", "c", cfg, Arc::new(handler), 1).unwrap();
    c.connect_to_nsqd(&nsqd.tcp.to_string()).unwrap();
    nsqd.publish("ma", b"poison");
    wait_for("given up and finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("ma", "c")?;
        (depth == 0 && in_flight == 0 && c.stats().finished == 1).then_some(())
    });
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(c.stop_and_wait());
}

#[test]
fn producer_orders_replies_and_speaks_mpub_dpub() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let p = Producer::new(&nsqd.tcp.to_string(), Config::default());
    let pending: Vec<_> = (0..200)
        .map(|i| p.publish_async("prod", format!("{i}").as_bytes()).unwrap())
        .collect();
    for r in pending {
        r.wait().unwrap();
    }
    p.multi_publish("prod", &[b"a", b"b", b"c"]).unwrap();
    p.deferred_publish("prod", Duration::from_millis(100), b"later")
        .unwrap();
    assert_eq!(nsqd.topic_count("prod"), Some(204));
    // An error reply fails that publish only (then nsqd closes; the next
    // publish reconnects).
    match p.publish("bad!topic", b"x") {
        Err(Error::Server(e)) => assert!(e.starts_with("E_BAD_TOPIC"), "{e}"),
        other => panic!("{other:?}"),
    }
    let deadline = Instant::now() + WAIT;
    loop {
        match p.publish("prod", b"again") {
            Ok(()) => break,
            Err(e) if Instant::now() < deadline => eprintln!("retrying: {e}"),
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!(nsqd.topic_count("prod"), Some(205));

    // Everything arrives, in order for the PUBs.
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let cfg = Config {
        max_in_flight: 50,
        ..Config::default()
    };
    let handler = move |m: &Message| -> Result<(), String> {
        g.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&m.body).into_owned());
        Ok(())
    };
    let c = Consumer::new("prod", "c", cfg, Arc::new(handler), 1).unwrap();
    c.connect_to_nsqd(&nsqd.tcp.to_string()).unwrap();
    wait_for("205 consumed", WAIT, || {
        (got.lock().unwrap().len() == 205).then_some(())
    });
    let got = got.lock().unwrap().clone();
    let firsts: Vec<String> = got.iter().take(200).cloned().collect();
    assert_eq!(firsts, (0..200).map(|i| i.to_string()).collect::<Vec<_>>());
    assert!(got.contains(&"later".to_string()));
    assert!(c.stop_and_wait());
}

#[test]
fn unreachable_nsqd_is_an_error() {
    let c = Consumer::new(
        "u",
        "c",
        Config::default(),
        Arc::new(|_: &Message| Ok(())),
        1,
    )
    .unwrap();
    assert!(matches!(
        c.connect_to_nsqd("127.0.0.1:1"),
        Err(Error::Io(..))
    ));
    assert!(Consumer::new(
        "bad topic",
        "c",
        Config::default(),
        Arc::new(|_: &Message| Ok(())),
        1
    )
    .is_err());
}

#[test]
fn lookupd_discovers_new_nsqds_and_rebalances_when_one_goes() {
    let lookupd = Daemon::lookupd();
    let a = Daemon::nsqd(&[&lookupd], &[]);
    a.publish("disc", b"from-a");
    let mut cfg = Config::default();
    cfg.set_opt("lookupd_poll_interval,200ms").unwrap();
    cfg.set_opt("lookupd_poll_jitter,0").unwrap();
    cfg.max_in_flight = 10;
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let handler = move |m: &Message| -> Result<(), String> {
        g.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&m.body).into_owned());
        Ok(())
    };
    let c = Consumer::new("disc", "c", cfg, Arc::new(handler), 1).unwrap();
    wait_for("topic registered", WAIT, || {
        let (s, b) = lookupd.get("/lookup?topic=disc");
        (s == 200 && b.contains("tcp_port")).then_some(())
    });
    c.connect_to_lookupd(&lookupd.http.to_string()).unwrap();
    wait_for("message from a", WAIT, || {
        got.lock()
            .unwrap()
            .contains(&"from-a".to_string())
            .then_some(())
    });
    // A second nsqd with the topic appears: found at the next poll, and
    // max_in_flight is split between the two.
    let b = Daemon::nsqd(&[&lookupd], &[]);
    b.publish("disc", b"from-b");
    wait_for("message from b", WAIT, || {
        got.lock()
            .unwrap()
            .contains(&"from-b".to_string())
            .then_some(())
    });
    let rdy: Vec<u64> = c.rdy_counts().into_iter().map(|(_, r)| r).collect();
    assert_eq!(rdy, [5, 5]);
    // b goes away: its share returns to a.
    drop(b);
    wait_for("only a left, with RDY 10", WAIT, || {
        let r = c.rdy_counts();
        (r.len() == 1 && r[0].1 == 10).then_some(())
    });
    assert!(c.stop_and_wait());
}
