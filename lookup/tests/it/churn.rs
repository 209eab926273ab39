//! Load and process behaviour: hundreds of concurrent peers registering,
//! unregistering and reconnecting while `/lookup` is queried; flag
//! spellings and `--config` on the real binary; `--version`; SIGTERM.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::harness::{Lookupd, WAIT};

const THREADS: usize = 6;
const PEERS_PER_THREAD: usize = 50;
const ROUNDS: usize = 5;

#[test]
fn hundreds_of_peers_churn_while_lookup_answers() {
    let l = Arc::new(Lookupd::start(&[]));
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicUsize::new(0));
    let querier = {
        let (l, stop, lookups) = (l.clone(), stop.clone(), lookups.clone());
        std::thread::spawn(move || {
            let mut slowest = Duration::ZERO;
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                let r = l.http("GET", "/lookup?topic=churn");
                slowest = slowest.max(t.elapsed());
                assert!(r.status == 200 || r.status == 404, "{r:?}");
                if r.status == 200 {
                    let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
                    assert!(v["producers"].is_array() && v["channels"].is_array());
                }
                lookups.fetch_add(1, Ordering::Relaxed);
            }
            slowest
        })
    };
    let workers: Vec<_> = (0..THREADS)
        .map(|w| {
            let l = l.clone();
            std::thread::spawn(move || {
                let mut peers: Vec<_> = (0..PEERS_PER_THREAD)
                    .map(|i| l.identified(&format!("n{w}-{i}"), 4151))
                    .collect();
                for round in 0..ROUNDS {
                    for (i, p) in peers.iter_mut().enumerate() {
                        let chan = format!("c{}", (i + round) % 3);
                        assert_eq!(p.cmd(&format!("REGISTER churn {chan}")), "OK");
                        assert_eq!(p.cmd("REGISTER churn x#ephemeral"), "OK");
                        if (i + round) % 2 == 0 {
                            assert_eq!(p.cmd(&format!("UNREGISTER churn {chan}")), "OK");
                            assert_eq!(p.cmd("UNREGISTER churn"), "OK");
                        }
                        assert_eq!(p.cmd("PING"), "OK");
                    }
                    // Every fifth peer reconnects.
                    for i in (round % 5..peers.len()).step_by(5) {
                        peers[i] = l.identified(&format!("n{w}-{i}"), 4151);
                    }
                }
                for p in peers.iter_mut() {
                    assert_eq!(p.cmd("REGISTER churn"), "OK");
                }
                peers
            })
        })
        .collect();
    let peers: Vec<_> = workers
        .into_iter()
        .flat_map(|w| w.join().expect("worker"))
        .collect();
    let total = THREADS * PEERS_PER_THREAD;
    l.wait_for("every live peer listed", |l| {
        l.producers("churn").len() == total
    });
    assert_eq!(
        l.get_json("/nodes")["producers"].as_array().unwrap().len(),
        total,
        "reconnected peers left no stale node"
    );
    stop.store(true, Ordering::Relaxed);
    let slowest = querier.join().expect("querier");
    assert!(lookups.load(Ordering::Relaxed) > 0);
    assert!(
        slowest < Duration::from_secs(2),
        "a /lookup took {slowest:?}"
    );
    drop(peers);
    l.wait_for("every producer gone", |l| {
        l.producers("churn").is_empty()
            && l.get_json("/nodes")["producers"]
                .as_array()
                .unwrap()
                .is_empty()
    });
    assert_eq!(
        l.http("GET", "/lookup?topic=churn").status,
        200,
        "the key stays"
    );
}

#[test]
fn flag_spellings_and_config_file() {
    let dir = std::env::temp_dir().join(format!("nsqlookupd-it-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("lookupd.cfg");
    std::fs::write(
        &cfg,
        "broadcast_address = \"from-config\"\ntombstone_lifetime = 1000\n",
    )
    .unwrap();
    let cfg_flag = format!("-config={}", cfg.display());
    let l = Lookupd::start_raw(&[
        "-tcp-address",
        "127.0.0.1:0",
        "--http-address",
        "127.0.0.1:0",
        &cfg_flag,
        "-inactive-producer-timeout=1m",
    ])
    .expect("start");
    let mut p = l.peer();
    let reply = p.identify(&crate::harness::identity("n", 1));
    assert!(
        reply.contains(r#""broadcast_address":"from-config""#),
        "{reply}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let err = Lookupd::start_raw(&["--tcp-address=127.0.0.1:0", "--tombstone-lifetime=x"])
        .err()
        .expect("refused");
    assert!(err.contains("invalid duration"), "{err}");
    let err = Lookupd::start_raw(&["--tcp-address=nonsense", "--http-address=127.0.0.1:0"])
        .err()
        .expect("refused");
    assert!(err.contains("invalid --tcp-address"), "{err}");
}

#[test]
fn version_flag() {
    for flag in ["--version", "-version"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nsqlookupd"))
            .arg(flag)
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.starts_with("nsqlookupd v1.3.0 (built w/rust"),
            "{text}"
        );
    }
}

#[test]
fn sigterm_stops_cleanly() {
    let mut l = Lookupd::start(&[]);
    let mut p = l.identified("n1", 4151);
    assert_eq!(p.cmd("REGISTER t"), "OK");
    let status = l.terminate().expect("exits within the bound");
    assert!(status.success(), "{status:?}");
    assert_eq!(p.try_read(), None, "connections are closed");
    let deadline = Instant::now() + WAIT;
    while !l.log().contains("TCP: closing") {
        assert!(Instant::now() < deadline, "{}", l.log());
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn a_thousand_peers_connect_at_once() {
    // Both ends of every connection live on this machine (and the other
    // tests run alongside): stay well inside the file limit.
    let n = 1000.min((nsq_test_support::process::raise_nofile() as usize).saturating_sub(200) / 2);
    let l = Lookupd::start(&[]);
    let mut peers: Vec<_> = (0..n).map(|_| l.peer()).collect();
    for (i, p) in peers.iter_mut().enumerate() {
        let mut wire = Vec::new();
        nsq_protocol::lookupd::LookupRequest::Identify(&crate::harness::identity(
            &format!("n{i}"),
            4151,
        ))
        .encode(&mut wire);
        wire.extend_from_slice(format!("REGISTER t{} c\nREGISTER all\n", i % 20).as_bytes());
        p.send(&wire);
    }
    for p in peers.iter_mut() {
        assert!(p.read().starts_with('{'));
        assert_eq!((p.read(), p.read()), ("OK".into(), "OK".into()));
    }
    assert_eq!(l.producers("all").len(), n);
    assert_eq!(
        l.get_json("/lookup?topic=t3")["channels"],
        serde_json::json!(["c"])
    );
    drop(peers);
    l.wait_for("every peer gone", |l| l.producers("all").is_empty());
}
