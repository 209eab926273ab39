//! nsqadmin against an nsqd that requires TLS
//! (docs/nsqadmin.md#upstream-queries): nsqd's plain HTTP port answers 403
//! `{"https_port":N}`, nsqadmin retries over HTTPS on that port, verifying with
//! `--http-client-tls-root-ca-file` (or
//! `--http-client-tls-insecure-skip-verify`) and presenting
//! `--http-client-tls-cert`/`--http-client-tls-key` when nsqd asks for a client
//! certificate. A CA that did not sign nsqd's certificate gives a clear
//! `UPSTREAM_ERROR`. Certificates come from the shared test PKI.

use std::sync::Arc;

use nsq_test_support::pki::Pki;
use nsq_test_support::TempDir;
use nsq_tools::httpc::{self, Target, Timeouts};
use serde_json::Value;

use crate::harness::*;

/// A CA, nsqd's certificate for 127.0.0.1/localhost, a client certificate
/// signed by the CA, and an unrelated CA, as PEM files.
fn pki() -> Pki {
    Pki::new("nsqadmin test CA", "nsqadmin-client")
}

/// An nsqd with TLS required (`--tls-required=true`: its plain HTTP port
/// answers 403 with `https_port`), announcing to `lookupd`, plus its data
/// directory and its HTTPS address.
struct TlsNsqd {
    daemon: Daemon,
    https: String,
    _data: TempDir,
}

fn tls_nsqd(pki: &Pki, lookupd: &Daemon, extra: &[&str]) -> TlsNsqd {
    let data = TempDir::new("nsqadmin-https-data");
    let mut args = vec![
        "--tcp-address=127.0.0.1:0".to_string(),
        "--http-address=127.0.0.1:0".into(),
        "--https-address=127.0.0.1:0".into(),
        "--broadcast-address=127.0.0.1".into(),
        "--shards=1".into(),
        format!("--data-path={}", data.0.display()),
        format!("--lookupd-tcp-address={}", lookupd.tcp.unwrap()),
        format!("--tls-cert={}", pki.path("server.pem")),
        format!("--tls-key={}", pki.path("server.key")),
        "--tls-required=true".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let daemon = Daemon::start("nsqd", &args, true);
    // The plain port refuses and names the HTTPS port, as NSQ's nsqd does.
    let r = http(&daemon.addr(), "GET", "/ping", &[], "");
    assert_eq!(r.status, 403, "{}", r.body);
    let v = r.json();
    assert_eq!(v["message"], "TLS_REQUIRED", "{v}");
    let port = v["https_port"].as_u64().expect("https_port");
    TlsNsqd {
        https: format!("127.0.0.1:{port}"),
        daemon,
        _data: data,
    }
}

/// The test's own HTTPS client (trusting the test CA, with the client
/// certificate).
fn test_tls(pki: &Pki) -> Arc<rustls::ClientConfig> {
    let cfg = nsq_tools::client::Config {
        tls_root_ca_file: Some(pki.path("ca.pem")),
        tls_cert: Some(pki.path("client.pem")),
        tls_key: Some(pki.path("client.key")),
        ..Default::default()
    };
    nsq_tools::client::transport::client_config(&cfg).unwrap()
}

/// A request to nsqd's HTTPS port; the status and body.
fn https(
    tls: &Arc<rustls::ClientConfig>,
    addr: &str,
    method: &str,
    path: &str,
    body: &[u8],
) -> (u16, Vec<u8>) {
    let target = Target::parse(&format!("https://{addr}{path}")).unwrap();
    let t = Timeouts {
        connect: WAIT,
        request: WAIT,
    };
    let r = httpc::request_to_with(method, &target, &[], body, t, tls)
        .unwrap_or_else(|e| panic!("{method} https://{addr}{path}: {e}"));
    (r.status, r.body)
}

/// Publish `n` messages to `topic` over HTTPS and create `channel`.
fn fill(tls: &Arc<rustls::ClientConfig>, nsqd: &TlsNsqd, topic: &str, channel: &str, n: usize) {
    for i in 0..n {
        let path = format!("/pub?topic={topic}");
        let (status, _) = https(tls, &nsqd.https, "POST", &path, format!("m{i}").as_bytes());
        assert_eq!(status, 200);
    }
    let path = format!("/channel/create?topic={topic}&channel={channel}");
    assert_eq!(https(tls, &nsqd.https, "POST", &path, b"").0, 200);
}

/// nsqadmin's topic answer once lookupd knows nsqd produces `topic`.
fn wait_topic(admin: &Daemon, topic: &str) -> Value {
    wait_for("nsqadmin to see the topic on nsqd", || {
        let r = http(
            &admin.addr(),
            "GET",
            &format!("/api/topics/{topic}"),
            &[],
            "",
        );
        let v = (r.status == 200).then(|| r.json())?;
        (v["nodes"].as_array().is_some_and(|n| !n.is_empty())).then_some(v)
    })
}

/// The topic's stats as nsqd itself reports them over HTTPS.
fn nsqd_topic(tls: &Arc<rustls::ClientConfig>, nsqd: &TlsNsqd, topic: &str) -> Value {
    let (status, body) = https(
        tls,
        &nsqd.https,
        "GET",
        &format!("/stats?format=json&topic={topic}"),
        b"",
    );
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    v["topics"][0].clone()
}

#[test]
fn https_nsqd_is_reached_through_its_https_port() {
    let pki = pki();
    let tls = test_tls(&pki);
    let lookupd = lookupd();
    let nsqd = tls_nsqd(&pki, &lookupd, &[]);
    fill(&tls, &nsqd, "secure", "ch", 3);
    let admin = nsqadmin(&[
        format!("--lookupd-http-address={}", lookupd.addr()),
        format!("--http-client-tls-root-ca-file={}", pki.path("ca.pem")),
    ]);

    // Lists come from lookupd, stats from nsqd over HTTPS.
    let topics = get_json(&admin.addr(), "/api/topics");
    assert_eq!(topics["topics"], serde_json::json!(["secure"]), "{topics}");
    let nodes = get_json(&admin.addr(), "/api/nodes");
    assert_eq!(
        nodes["nodes"][0]["http_port"],
        nsqd.daemon.http.port(),
        "{nodes}"
    );
    let t = wait_topic(&admin, "secure");
    assert_eq!(t["message"], "", "{t}");
    // The messages went to the channel once it existed.
    assert_eq!(t["message_count"], 3, "{t}");
    assert_eq!(t["channels"][0]["channel_name"], "ch", "{t}");
    assert_eq!(t["channels"][0]["depth"], 3, "{t}");
    let c = get_json(&admin.addr(), "/api/topics/secure/ch");
    assert_eq!(
        (c["message"].as_str(), c["depth"].as_i64()),
        (Some(""), Some(3)),
        "{c}"
    );
    let node = get_json(&admin.addr(), &format!("/api/nodes/{}", nsqd.daemon.addr()));
    assert_eq!(node["total_messages"], 3, "{node}");
    let summary = get_json(&admin.addr(), "/api/stats/topics");
    assert_eq!(summary["topics"][0]["message_count"], 3, "{summary}");

    // Actions are POSTed over HTTPS too.
    post_ok(&admin.addr(), "/api/topics/secure", r#"{"action":"pause"}"#);
    assert_eq!(nsqd_topic(&tls, &nsqd, "secure")["paused"], true);
    assert_eq!(
        get_json(&admin.addr(), "/api/topics/secure")["paused"],
        true
    );
    post_ok(
        &admin.addr(),
        "/api/topics/secure/ch",
        r#"{"action":"empty"}"#,
    );
    assert_eq!(nsqd_topic(&tls, &nsqd, "secure")["channels"][0]["depth"], 0);

    // Static mode: the configured (plain) address redirects as well.
    let admin = nsqadmin(&[
        format!("--nsqd-http-address={}", nsqd.daemon.addr()),
        "--http-client-tls-insecure-skip-verify".to_string(),
    ]);
    let topics = get_json(&admin.addr(), "/api/topics");
    assert_eq!(topics["topics"], serde_json::json!(["secure"]), "{topics}");
    post_ok(
        &admin.addr(),
        "/api/topics/secure",
        r#"{"action":"unpause"}"#,
    );
    assert_eq!(nsqd_topic(&tls, &nsqd, "secure")["paused"], false);
}

#[test]
fn https_nsqd_with_an_unknown_ca_is_an_upstream_error() {
    let pki = pki();
    let tls = test_tls(&pki);
    let lookupd = lookupd();
    let nsqd = tls_nsqd(&pki, &lookupd, &[]);
    fill(&tls, &nsqd, "secure", "ch", 1);
    wait_for("lookupd to list the topic", || {
        // 404 until nsqd's registration reaches lookupd.
        let v = try_json(&lookupd.addr(), "/lookup?topic=secure")?;
        (!v["producers"].as_array()?.is_empty()).then_some(())
    });
    let admin = nsqadmin(&[
        format!("--lookupd-http-address={}", lookupd.addr()),
        format!(
            "--http-client-tls-root-ca-file={}",
            pki.path("other-ca.pem")
        ),
    ]);
    let r = http(&admin.addr(), "GET", "/api/topics/secure", &[], "");
    assert_eq!(r.status, 502, "{}", r.body);
    let msg = r.json()["message"].as_str().unwrap_or_default().to_string();
    println!("bad CA: {msg}");
    assert!(msg.starts_with("UPSTREAM_ERROR: "), "{msg}");
    assert!(
        msg.contains(&format!("https://{}/stats", nsqd.https)),
        "{msg}"
    );
    assert!(msg.contains("certificate"), "{msg}");
    let r = http(
        &admin.addr(),
        "POST",
        "/api/topics/secure",
        &[],
        r#"{"action":"pause"}"#,
    );
    // As NSQ, a failed action call is a warning.
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        r.body.contains("WARNING: ") && r.body.contains("certificate"),
        "{}",
        r.body
    );
    assert_eq!(nsqd_topic(&tls, &nsqd, "secure")["paused"], false);
}

#[test]
fn https_nsqd_asking_for_a_client_certificate_gets_ours() {
    let pki = pki();
    let tls = test_tls(&pki);
    let lookupd = lookupd();
    let ca = format!("--tls-root-ca-file={}", pki.path("ca.pem"));
    let nsqd = tls_nsqd(
        &pki,
        &lookupd,
        &["--tls-client-auth-policy=require-verify", &ca],
    );
    fill(&tls, &nsqd, "secure", "ch", 2);
    let with_cert = nsqadmin(&[
        format!("--nsqd-http-address={}", nsqd.daemon.addr()),
        format!("--http-client-tls-root-ca-file={}", pki.path("ca.pem")),
        format!("--http-client-tls-cert={}", pki.path("client.pem")),
        format!("--http-client-tls-key={}", pki.path("client.key")),
    ]);
    let t = get_json(&with_cert.addr(), "/api/topics/secure");
    assert_eq!(t["message"], "", "{t}");
    assert_eq!(t["message_count"], 2, "{t}");

    let without = nsqadmin(&[
        format!("--nsqd-http-address={}", nsqd.daemon.addr()),
        format!("--http-client-tls-root-ca-file={}", pki.path("ca.pem")),
    ]);
    let r = http(&without.addr(), "GET", "/api/topics/secure", &[], "");
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.body.contains("UPSTREAM_ERROR"), "{}", r.body);
}

#[test]
fn https_client_flags_are_checked_at_startup() {
    let pki = pki();
    let run = |flags: &[String]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_nsqadmin"))
            .arg("--http-address=127.0.0.1:0")
            .arg("--nsqd-http-address=127.0.0.1:4151")
            .args(flags)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{flags:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = run(&[format!("--http-client-tls-cert={}", pki.path("client.pem"))]);
    assert!(e.contains("--http-client-tls-key must be specified"), "{e}");
    let e = run(&[format!(
        "--http-client-tls-root-ca-file={}",
        pki.path("missing.pem")
    )]);
    assert!(e.contains("missing.pem"), "{e}");
    let e = run(&[
        format!("--http-client-tls-cert={}", pki.path("client.pem")),
        format!("--http-client-tls-key={}", pki.path("ca.pem")),
    ]);
    assert!(e.contains("ca.pem"), "{e}");
}
