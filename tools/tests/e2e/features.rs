//! The IDENTIFY upgrades (docs/clients.md#upgrades) against our nsqd: TLS,
//! snappy, deflate and TLS + compression for the consumer and the producer,
//! client certificates, verification failures, and the tools'
//! `--consumer-opt` / `--producer-opt` spellings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use nsq_protocol::api::stats::ClientStats;
use nsq_tools::client::{Config, Consumer, Error, Message, Producer};

use crate::args;
use crate::harness::*;

/// A CA, a server certificate for 127.0.0.1/localhost and a client
/// certificate signed by it, and an unrelated CA, as PEM files.
pub(crate) struct Pki(nsq_test_support::pki::Pki);

impl Pki {
    pub(crate) fn new() -> Pki {
        Pki(nsq_test_support::pki::Pki::new(
            "nsq-tools test CA",
            "tools-client",
        ))
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.0.path(name)
    }

    /// nsqd flags: TLS with this PKI, TLS required on TCP if `required`.
    fn nsqd_flags(&self, required: bool) -> Vec<String> {
        let mut v = self.0.server_flags();
        v.push("--https-address=127.0.0.1:0".to_string());
        if required {
            v.push("--tls-required=tcp-https".to_string());
        }
        v
    }
}

/// nsqd with TLS (required on TCP) and these flags.
fn nsqd_with(pki: &Pki, extra: &[&str]) -> Daemon {
    nsqd_tls(pki, true, extra)
}

fn nsqd_tls(pki: &Pki, required: bool, extra: &[&str]) -> Daemon {
    let mut flags = pki.nsqd_flags(required);
    flags.extend(extra.iter().map(|s| s.to_string()));
    let flags: Vec<&str> = flags.iter().map(|s| s.as_str()).collect();
    Daemon::nsqd(&[], &flags)
}

/// Message `i`: small mostly, every 10th up to ~70 KB; compressible text
/// mixed with pseudo-random bytes, and every 50th and the last 70 KB of one
/// byte (a few hundred compressed bytes that inflate to more than one read:
/// the last one must arrive with nothing behind it to push it out).
fn body(i: usize) -> Vec<u8> {
    if i % 50 == 25 || i % 100 == 99 {
        let mut b = format!("m{i}:").into_bytes();
        b.resize(70_000, b'z');
        return b;
    }
    let len = if i.is_multiple_of(10) {
        1000 + (i * 7919) % 69_000
    } else {
        1 + (i * 131) % 2000
    };
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let mut b = format!("m{i}:").into_bytes();
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        if x.is_multiple_of(3) {
            b.extend_from_slice(&x.to_le_bytes());
        } else {
            b.extend_from_slice(b"nsq payload ");
        }
    }
    b.truncate(len.max(4));
    b
}

fn config(pki: &Pki, opts: &[&str]) -> Config {
    let mut cfg = Config::default();
    for o in opts {
        cfg.set_opt(&o.replace("<ca>", &pki.path("ca.pem")))
            .unwrap();
    }
    cfg
}

fn clients(nsqd: &Daemon, topic: &str) -> Vec<ClientStats> {
    nsqd.stats()
        .topics
        .unwrap_or_default()
        .into_iter()
        .filter(|t| t.topic_name == topic)
        .flat_map(|t| t.channels)
        .flat_map(|c| c.clients.unwrap_or_default())
        .collect()
}

/// Publish 300 messages (PUB, async PUB and MPUB) with `opts`, consume them
/// with the same options, check every body and what nsqd reports.
fn round_trip(opts: &[&str]) {
    let pki = Pki::new();
    let tls = opts.iter().any(|o| o.starts_with("tls_v1"));
    // With TLS, nsqd refuses plaintext commands: proof the upgrade happened.
    let nsqd = nsqd_tls(&pki, tls, &[]);
    let topic = format!(
        "feat_{}",
        opts.iter()
            .map(|o| o.split(',').next().unwrap())
            .filter(|o| !o.starts_with("tls_root"))
            .collect::<Vec<_>>()
            .join("_")
    );
    let snappy = opts.iter().any(|o| o.starts_with("snappy"));
    let deflate = opts.iter().any(|o| o.starts_with("deflate,"));
    const N: usize = 300;

    let p = Producer::new(&nsqd.tcp.to_string(), config(&pki, opts));
    for i in 0..100 {
        p.publish(&topic, &body(i)).unwrap();
    }
    let pending: Vec<_> = (100..200)
        .map(|i| p.publish_async(&topic, &body(i)).unwrap())
        .collect();
    for r in pending {
        r.wait().unwrap();
    }
    let batch: Vec<Vec<u8>> = (200..N).map(body).collect();
    for chunk in batch.chunks(25) {
        let refs: Vec<&[u8]> = chunk.iter().map(|b| &b[..]).collect();
        p.multi_publish(&topic, &refs).unwrap();
    }
    assert_eq!(nsqd.topic_count(&topic), Some(N as u64));
    p.stop();

    let got = Arc::new(Mutex::new(HashMap::new()));
    let g = got.clone();
    let handler = move |m: &Message| -> Result<(), String> {
        g.lock().unwrap().insert(m.body.clone(), ());
        Ok(())
    };
    let mut cfg = config(&pki, opts);
    cfg.max_in_flight = 50;
    let c = Consumer::new(&topic, "c", cfg, Arc::new(handler), 2).unwrap();
    c.connect_to_nsqd(&nsqd.tcp.to_string()).unwrap();
    wait_for("every message consumed", WAIT, || {
        (got.lock().unwrap().len() == N).then_some(())
    });
    let got = got.lock().unwrap();
    for i in 0..N {
        assert!(got.contains_key(&body(i)), "message {i} missing or altered");
    }
    let cl = clients(&nsqd, &topic);
    assert_eq!(cl.len(), 1, "{cl:?}");
    assert_eq!(
        (cl[0].tls, cl[0].snappy, cl[0].deflate),
        (tls, snappy, deflate),
        "{:?}",
        cl[0]
    );
    wait_for("all FINs counted", WAIT, || {
        let ch = nsqd.channel(&topic, "c")?;
        (ch.0 == 0 && ch.1 == 0).then_some(())
    });
    assert!(c.stop_and_wait());
}

#[test]
fn tls_round_trip() {
    round_trip(&["tls_v1,true", "tls_root_ca_file,<ca>"]);
}

#[test]
fn snappy_round_trip() {
    round_trip(&["snappy,true"]);
}

#[test]
fn deflate_round_trip() {
    round_trip(&["deflate,true", "deflate_level,9"]);
}

#[test]
fn tls_snappy_round_trip() {
    round_trip(&["tls_v1", "tls_root_ca_file,<ca>", "snappy"]);
}

#[test]
fn tls_deflate_round_trip() {
    round_trip(&["tls_v1,true", "tls_root_ca_file,<ca>", "deflate,true"]);
}

#[test]
fn verification_client_certificates_and_refusals() {
    let pki = Pki::new();
    let nsqd = nsqd_with(&pki, &[]);
    let addr = nsqd.tcp.to_string();

    // Plain TCP against --tls-required: refused by nsqd.
    let plain = Producer::new(&addr, Config::default());
    match plain.publish("v", b"x") {
        Err(Error::Server(e)) => assert!(e.contains("TLS required"), "{e}"),
        other => panic!("{other:?}"),
    }

    // The wrong CA, or the system roots: the handshake fails.
    for opts in [&["tls_v1", "tls_root_ca_file,OTHER"][..], &["tls_v1"][..]] {
        let opts: Vec<String> = opts
            .iter()
            .map(|o| o.replace("OTHER", &pki.path("other-ca.pem")))
            .collect();
        let opts: Vec<&str> = opts.iter().map(|s| s.as_str()).collect();
        match Producer::new(&addr, config(&pki, &opts)).publish("v", b"x") {
            Err(Error::Io(what, e)) => {
                assert_eq!(what, "TLS handshake");
                assert!(e.to_string().contains("certificate"), "{e}");
            }
            other => panic!("{opts:?}: {other:?}"),
        }
    }
    // tls_insecure_skip_verify connects anyway.
    Producer::new(&addr, config(&pki, &["tls_v1", "tls_insecure_skip_verify"]))
        .publish("v", b"insecure")
        .unwrap();
    // Both compressions at once are refused before dialing.
    match Producer::new(&addr, config(&pki, &["snappy", "deflate"])).publish("v", b"x") {
        Err(Error::Config(e)) => assert!(e.contains("both"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Unreadable CA file and a lone tls_cert are configuration errors.
    let bad = config(&pki, &["tls_v1", "tls_root_ca_file,/nonexistent/ca.pem"]);
    assert!(Producer::new(&addr, bad).publish("v", b"x").is_err());
    let lone = config(&pki, &["tls_v1", "tls_root_ca_file,<ca>", "tls_cert,/x"]);
    match Producer::new(&addr, lone).publish("v", b"x") {
        Err(Error::Config(e)) => assert!(e.contains("together"), "{e}"),
        other => panic!("{other:?}"),
    }

    // --tls-client-auth-policy=require-verify: tls_cert/tls_key needed.
    let strict = nsqd_with(
        &pki,
        &[
            "--tls-client-auth-policy=require-verify",
            &format!("--tls-root-ca-file={}", pki.path("ca.pem")),
        ],
    );
    let saddr = strict.tcp.to_string();
    let without = config(&pki, &["tls_v1", "tls_root_ca_file,<ca>"]);
    assert!(Producer::new(&saddr, without).publish("s", b"x").is_err());
    let cert = format!("tls_cert,{}", pki.path("client.pem"));
    let key = format!("tls_key,{}", pki.path("client.key"));
    let with = config(
        &pki,
        &["tls_v1", "tls_root_ca_file,<ca>", &cert, &key, "snappy"],
    );
    Producer::new(&saddr, with).publish("s", b"mutual").unwrap();
    assert_eq!(strict.topic_count("s"), Some(1));
}

#[test]
fn to_nsq_and_nsq_tail_with_options() {
    let pki = Pki::new();
    let nsqd = nsqd_with(&pki, &[]);
    let ca = format!("tls_root_ca_file,{}", pki.path("ca.pem"));
    let big = "z".repeat(70_000);
    let mut input = String::new();
    for i in 0..200 {
        input.push_str(&format!("line{i}\n"));
    }
    input.push_str(&big);
    input.push('\n');
    for (topic, producer, consumer) in [
        ("tool_tls", "tls_v1,true", "tls_v1,true"),
        ("tool_snappy", "snappy,true", "snappy"),
        ("tool_deflate", "deflate,true", "deflate,true"),
    ] {
        let mut pargs: Vec<String> = args![
            format!("--topic={topic}"),
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--producer-opt=tls_v1,true",
            format!("--producer-opt={ca}"),
        ]
        .into();
        if producer != "tls_v1,true" {
            pargs.push(format!("--producer-opt={producer}"));
        }
        let (status, _, err) = Tool::run("to_nsq", &pargs, Some(input.clone().into_bytes()));
        assert!(status.success(), "{topic}: {err}");
        assert_eq!(nsqd.topic_count(topic), Some(201), "{topic}");

        let mut targs: Vec<String> = args![
            format!("--topic={topic}"),
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--consumer-opt=tls_v1,true",
            format!("--consumer-opt={ca}"),
            "-n",
            201
        ]
        .into();
        if consumer != "tls_v1,true" {
            targs.push(format!("--consumer-opt={consumer}"));
        }
        let (status, out, err) = Tool::run("nsq_tail", &targs, None);
        assert!(status.success(), "{topic}: {err}");
        let mut lines = out;
        lines.sort();
        let mut want: Vec<String> = (0..200).map(|i| format!("line{i}")).collect();
        want.push(big.clone());
        want.sort();
        assert!(lines == want, "{topic}: {} lines", lines.len());
    }

    // A bad option value is reported before anything is sent.
    let (status, _, err) = Tool::run(
        "to_nsq",
        &args![
            "--topic=x",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--producer-opt=tls_min_version,tls0.9"
        ],
        Some(b"a\n".to_vec()),
    );
    assert!(!status.success());
    assert!(err.contains("tls_min_version"), "{err}");
}

#[test]
fn heartbeats_are_answered_through_tls_and_deflate() {
    let pki = Pki::new();
    let nsqd = nsqd_with(&pki, &[]);
    let got = Arc::new(Mutex::new(Vec::new()));
    let g = got.clone();
    let handler = move |m: &Message| -> Result<(), String> {
        g.lock().unwrap().push(m.body.clone());
        Ok(())
    };
    let mut cfg = config(
        &pki,
        &[
            "tls_v1",
            "tls_root_ca_file,<ca>",
            "deflate",
            "heartbeat_interval,1s",
        ],
    );
    cfg.read_timeout = std::time::Duration::from_millis(2500);
    let c = Consumer::new("hb", "c", cfg, Arc::new(handler), 1).unwrap();
    c.connect_to_nsqd(&nsqd.tcp.to_string()).unwrap();
    // Several heartbeats (and NOP replies) go by; the connection stays.
    std::thread::sleep(std::time::Duration::from_millis(3500));
    assert_eq!(clients(&nsqd, "hb").len(), 1);
    let p = Producer::new(
        &nsqd.tcp.to_string(),
        config(&pki, &["tls_v1", "tls_root_ca_file,<ca>", "snappy"]),
    );
    p.publish("hb", b"after heartbeats").unwrap();
    wait_for("delivery after heartbeats", WAIT, || {
        (got.lock().unwrap().len() == 1).then_some(())
    });
    assert_eq!(got.lock().unwrap()[0], b"after heartbeats");
    assert!(c.stop_and_wait());
}
