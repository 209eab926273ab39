//! Feature negotiation (docs/protocol.md#identify, #upgrades, #compression,
//! #tls, #auth): TLS, snappy and deflate upgrades alone and combined, each
//! followed by PUB/MPUB and SUB of many messages both ways (topics on both
//! shards, so the TLS session and codec state survive the SUB handoff);
//! certificates and client-auth policies; `--tls-required` on TCP and HTTP and
//! the HTTPS listener; AUTH against a stub auth server started here (GET and
//! POST; grant, deny, expiry and re-query, unreachable server).
//!
//! The client side uses independent implementations: rustls as TLS client,
//! the `snap` crate's framing reader/writer and flate2's raw DEFLATE
//! streams. Certificates are generated per test with rcgen.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nsq_protocol::command::Request;
use nsq_protocol::frame::decode_frame;
use nsq_protocol::Decoded;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};

use crate::harness::*;
use nsq_test_support::bodies::mixed_body as body;
use nsq_test_support::inflate::InflateReader;

// ------------------------------------------------------------ certificates

/// A CA, a server certificate for 127.0.0.1/localhost signed by it, a
/// client certificate (CN `client-cn`) signed by it, and a self-signed
/// "rogue" client certificate, as PEM files in a temp directory (removed
/// on drop).
pub struct Pki {
    pki: nsq_test_support::pki::Pki,
    pub ca_pem: String,
    pub client: (Vec<CertificateDer<'static>>, Vec<u8>),
    pub rogue: (Vec<CertificateDer<'static>>, Vec<u8>),
    /// A CA nobody trusts (for "wrong CA" checks).
    pub other_ca_pem: String,
}

impl Pki {
    pub fn new() -> Pki {
        let pki = nsq_test_support::pki::Pki::new("nsq test CA", "client-cn");
        let chain = |c: &nsq_test_support::pki::Cert| {
            (vec![CertificateDer::from(c.der.clone())], c.key_der.clone())
        };
        Pki {
            ca_pem: pki.ca_pem.clone(),
            client: chain(&pki.client),
            rogue: chain(&pki.rogue),
            other_ca_pem: pki.other_ca_pem.clone(),
            pki,
        }
    }

    pub fn path(&self, name: &str) -> String {
        self.pki.path(name)
    }

    /// `--tls-cert` and `--tls-key` flags.
    pub fn server_flags(&self) -> Vec<String> {
        self.pki.server_flags()
    }

    /// A client config trusting `ca_pem`, with an optional client cert.
    pub fn client_config(
        &self,
        ca_pem: &str,
        cert: Option<&(Vec<CertificateDer<'static>>, Vec<u8>)>,
    ) -> Arc<rustls::ClientConfig> {
        use rustls::pki_types::pem::PemObject;
        let mut roots = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots);
        let config = match cert {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain.clone(), PrivateKeyDer::try_from(key.clone()).unwrap())
                .unwrap(),
            None => builder.with_no_client_auth(),
        };
        Arc::new(config)
    }
}

/// Start nsqd with TLS configured plus `extra` flags.
fn start_tls(pki: &Pki, extra: &[&str]) -> Nsqd {
    let mut flags: Vec<String> = pki.server_flags();
    flags.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    Nsqd::start(&refs)
}

/// The HTTPS address from the log.
fn https_addr(nsqd: &Nsqd) -> SocketAddr {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(addr) = nsqd
            .log()
            .lines()
            .find_map(|l| l.split("HTTPS: listening on ").nth(1).map(str::to_string))
        {
            return addr.trim().parse().unwrap();
        }
        assert!(Instant::now() < deadline, "no HTTPS listener");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// ----------------------------------------------------------- the client

/// One stream shared by the reading and the writing layers.
struct Shared<S>(Rc<RefCell<S>>);

impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<S: Read> Read for Shared<S> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().read(buf)
    }
}

impl<S: Write> Write for Shared<S> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.borrow_mut().flush()
    }
}

enum Wire {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Wire {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.read(buf),
            Wire::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Wire {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Wire::Plain(s) => s.write(buf),
            Wire::Tls(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Wire::Plain(s) => s.flush(),
            Wire::Tls(s) => s.flush(),
        }
    }
}

/// What a test client asks for.
#[derive(Clone, Copy, Default, Debug)]
pub struct Want {
    pub tls: bool,
    pub snappy: bool,
    pub deflate: bool,
    pub deflate_level: i64,
}

impl Want {
    fn json(&self) -> String {
        format!(
            r#"{{"feature_negotiation":true,"tls_v1":{},"snappy":{},"deflate":{},"deflate_level":{},"client_id":"features-test","heartbeat_interval":30000}}"#,
            self.tls, self.snappy, self.deflate, self.deflate_level
        )
    }
}

/// A V2 client whose stream may be wrapped in TLS and snappy/deflate.
pub struct FClient {
    reader: Box<dyn Read>,
    writer: Box<dyn Write>,
    buf: Vec<u8>,
    /// The IDENTIFY reply.
    pub identify: serde_json::Value,
}

fn read_frame_exact(r: &mut dyn Read) -> std::io::Result<Got> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size)?;
    let n = u32::from_be_bytes(size) as usize;
    let mut rest = vec![0u8; n];
    r.read_exact(&mut rest)?;
    let mut whole = size.to_vec();
    whole.extend_from_slice(&rest);
    match decode_frame(&whole, 64 << 20).unwrap() {
        Decoded::Complete { value, .. } => Ok(Got::from_frame(value)),
        Decoded::Incomplete => unreachable!(),
    }
}

impl FClient {
    /// Connect, IDENTIFY with `want`, and run the upgrades the server
    /// granted (expecting each `OK`). `tls` is the client config to use.
    pub fn connect(
        addr: SocketAddr,
        want: Want,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<FClient, String> {
        let mut tcp = TcpStream::connect(addr).map_err(|e| e.to_string())?;
        tcp.set_nodelay(true).unwrap();
        tcp.set_read_timeout(Some(WAIT)).unwrap();
        tcp.write_all(b"  V2").unwrap();
        let mut out = Vec::new();
        Request::Identify(want.json().as_bytes()).encode(&mut out);
        tcp.write_all(&out).unwrap();
        let reply = match read_frame_exact(&mut tcp).map_err(|e| e.to_string())? {
            Got::Response(json) => json,
            other => return Err(format!("IDENTIFY: {other:?}")),
        };
        let identify: serde_json::Value = serde_json::from_str(&reply).unwrap();
        let wire = if identify["tls_v1"] == true {
            let config = tls.ok_or("server granted TLS but no client config")?;
            let name = ServerName::try_from("localhost").unwrap();
            let conn = rustls::ClientConnection::new(config, name).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            match read_frame_exact(&mut s) {
                Ok(Got::Response(ok)) if ok == "OK" => {}
                other => return Err(format!("TLS upgrade: {other:?}")),
            }
            Wire::Tls(Box::new(s))
        } else {
            Wire::Plain(tcp)
        };
        let shared = Shared(Rc::new(RefCell::new(wire)));
        let (reader, writer): (Box<dyn Read>, Box<dyn Write>) = if identify["snappy"] == true {
            (
                Box::new(snap::read::FrameDecoder::new(shared.clone())),
                Box::new(snap::write::FrameEncoder::new(shared)),
            )
        } else if identify["deflate"] == true {
            (
                Box::new(InflateReader::new(shared.clone())),
                Box::new(flate2::write::DeflateEncoder::new(
                    shared,
                    flate2::Compression::new(3),
                )),
            )
        } else {
            (Box::new(shared.clone()), Box::new(shared))
        };
        let compressed = identify["snappy"] == true || identify["deflate"] == true;
        let mut client = FClient {
            reader,
            writer,
            buf: Vec::new(),
            identify,
        };
        // (Read in large pieces: flate2's reader does not hand out what its
        // inflater holds back until more input arrives.)
        if compressed {
            match client.next() {
                Some(Got::Response(ok)) if ok == "OK" => {}
                other => return Err(format!("compression upgrade: {other:?}")),
            }
        }
        Ok(client)
    }

    pub fn send(&mut self, req: Request<'_>) {
        let mut out = Vec::new();
        req.encode(&mut out);
        self.writer.write_all(&out).unwrap();
        self.writer.flush().unwrap();
    }

    /// Several commands in one flush.
    pub fn send_many(&mut self, reqs: &[Request<'_>]) {
        let mut out = Vec::new();
        for r in reqs {
            r.encode(&mut out);
        }
        self.writer.write_all(&out).unwrap();
        self.writer.flush().unwrap();
    }

    /// The next frame (heartbeats answered), `None` on EOF or a read error.
    pub fn next(&mut self) -> Option<Got> {
        loop {
            if let Some(got) = Got::take(&mut self.buf) {
                if got.is_heartbeat() {
                    self.send(Request::Nop);
                    continue;
                }
                return Some(got);
            }
            let mut chunk = [0u8; 65536];
            match self.reader.read(&mut chunk) {
                Ok(0) => return None,
                Err(e) => {
                    eprintln!("features client: read error {e}");
                    return None;
                }
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    pub fn expect(&mut self, want: Got) {
        assert_eq!(self.next(), Some(want));
    }

    pub fn expect_ok(&mut self) {
        self.expect(Got::Response("OK".into()));
    }
}

/// Publish `n` messages to each topic (PUB and MPUB mixed, pipelined),
/// then consume them all on one consumer per topic with the same features.
fn pub_sub_round_trip(
    addr: SocketAddr,
    want: Want,
    tls: Option<Arc<rustls::ClientConfig>>,
    n: usize,
) {
    pub_sub_round_trip_with(addr, None, want, tls, n)
}

fn pub_sub_round_trip_with(
    addr: SocketAddr,
    http: Option<SocketAddr>,
    want: Want,
    tls: Option<Arc<rustls::ClientConfig>>,
    n: usize,
) {
    let topics = [topic_on("feat", 0, 0), topic_on("feat", 1, 0)];
    let mut producer = FClient::connect(addr, want, tls.clone()).unwrap();
    for topic in &topics {
        let mut i = 0;
        while i < n {
            if i % 3 == 0 {
                let bodies: Vec<Vec<u8>> = (i..(i + 20).min(n)).map(body).collect();
                let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
                producer.send(Request::Mpub(topic, &refs));
                i += refs.len();
            } else {
                let b = body(i);
                let b2 = body(i + 1);
                if i + 1 < n {
                    producer.send_many(&[Request::Pub(topic, &b), Request::Pub(topic, &b2)]);
                    producer.expect_ok();
                    i += 2;
                } else {
                    producer.send(Request::Pub(topic, &b));
                    i += 1;
                }
            }
            producer.expect_ok();
        }
    }
    for topic in &topics {
        let mut consumer = FClient::connect(addr, want, tls.clone()).unwrap();
        consumer.send(Request::Sub(topic, "ch"));
        consumer.expect_ok();
        consumer.send(Request::Rdy(200));
        let mut seen = HashSet::new();
        while seen.len() < n {
            match consumer.next() {
                Some(Got::Message(m)) => {
                    let i: usize = std::str::from_utf8(&m.body[..8]).unwrap().parse().unwrap();
                    assert_eq!(m.body, body(i), "{want:?} body {i}");
                    assert!(seen.insert(i), "duplicate {i}");
                    consumer.send(Request::Fin(m.id()));
                }
                other => {
                    let stats = http.map(|h| http_get(h, "/stats?format=json", None).2);
                    panic!(
                        "{want:?} {topic}: expected a message, got {other:?} after {}; stats {stats:?}",
                        seen.len()
                    )
                }
            }
        }
        // The connection still works after the handoff: NOP and CLS.
        consumer.send(Request::Cls);
        consumer.expect(Got::Response("CLOSE_WAIT".into()));
    }
}

#[test]
fn every_upgrade_alone_and_combined_carries_pub_and_sub() {
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &[]);
    let tls = Some(pki.client_config(&pki.ca_pem, None));
    for want in [
        Want {
            tls: true,
            ..Want::default()
        },
        Want {
            snappy: true,
            ..Want::default()
        },
        Want {
            deflate: true,
            deflate_level: 1,
            ..Want::default()
        },
        Want {
            tls: true,
            snappy: true,
            ..Want::default()
        },
        Want {
            tls: true,
            deflate: true,
            ..Want::default()
        },
    ] {
        let c = FClient::connect(nsqd.tcp, want, tls.clone()).unwrap();
        assert_eq!(c.identify["tls_v1"], want.tls, "{want:?}");
        assert_eq!(c.identify["snappy"], want.snappy, "{want:?}");
        assert_eq!(c.identify["deflate"], want.deflate, "{want:?}");
        drop(c);
        pub_sub_round_trip_with(nsqd.tcp, nsqd.http, want, tls.clone(), 600);
    }
}

#[test]
fn identify_reply_and_refusals() {
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &["--max-deflate-level=9"]);
    // Negotiated deflate level: asked 9, max 9; asked 0 -> 6.
    for (asked, got) in [(9, 9), (0, 6), (3, 3)] {
        let c = FClient::connect(
            nsqd.tcp,
            Want {
                deflate: true,
                deflate_level: asked,
                ..Want::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(c.identify["deflate_level"], got);
        assert_eq!(c.identify["max_deflate_level"], 9);
        assert_eq!(c.identify["auth_required"], false);
    }
    // Both compressions: refused, fatal.
    let mut c = nsqd.connect();
    c.send(Request::Identify(
        br#"{"feature_negotiation":true,"snappy":true,"deflate":true}"#,
    ));
    c.expect_error("E_IDENTIFY_FAILED cannot enable both deflate and snappy compression");
    c.expect_closed();

    // Features switched off on the server are not granted.
    let off = Nsqd::start(&["--snappy=false", "--deflate=false"]);
    let c = FClient::connect(
        off.tcp,
        Want {
            tls: true,
            snappy: true,
            ..Want::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(c.identify["tls_v1"], false, "no certificate configured");
    assert_eq!(c.identify["snappy"], false);
    let c = FClient::connect(
        off.tcp,
        Want {
            deflate: true,
            deflate_level: 9,
            ..Want::default()
        },
        None,
    )
    .unwrap();
    assert_eq!(c.identify["deflate"], false);
    assert_eq!(c.identify["deflate_level"], 6);
}

#[test]
fn untrusted_server_certificate_fails_the_handshake() {
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &[]);
    let wrong = pki.client_config(&pki.other_ca_pem, None);
    let r = FClient::connect(
        nsqd.tcp,
        Want {
            tls: true,
            ..Want::default()
        },
        Some(wrong),
    );
    assert!(r.is_err(), "handshake must fail against an untrusted CA");
    // The server is unharmed.
    let ok = pki.client_config(&pki.ca_pem, None);
    let mut c = FClient::connect(
        nsqd.tcp,
        Want {
            tls: true,
            ..Want::default()
        },
        Some(ok),
    )
    .unwrap();
    c.send(Request::Pub("after_bad_handshake", b"x"));
    c.expect_ok();
}

#[test]
fn garbage_instead_of_a_client_hello_closes_the_connection() {
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &[]);
    let mut c = nsqd.connect();
    c.send(Request::Identify(
        br#"{"feature_negotiation":true,"tls_v1":true}"#,
    ));
    match c.next() {
        Some(Got::Response(json)) => assert!(json.contains("\"tls_v1\":true")),
        other => panic!("{other:?}"),
    }
    c.send_bytes(b"PUB t\n\x00\x00\x00\x01x");
    // The server answers with a TLS alert (not a frame) and closes.
    let mut s = c.try_clone_stream();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(
        rest.is_empty() || rest[0] == 0x15,
        "a TLS alert or nothing: {rest:?}"
    );
}

#[test]
fn client_auth_policies() {
    let pki = Pki::new();
    let tls = Want {
        tls: true,
        ..Want::default()
    };
    let ca = pki.ca_pem.clone();
    // require: any certificate, but one must be presented.
    let nsqd = start_tls(&pki, &["--tls-client-auth-policy=require"]);
    let none = FClient::connect(nsqd.tcp, tls, Some(pki.client_config(&ca, None)));
    assert!(
        none.is_err(),
        "no client certificate must fail with require"
    );
    let mut rogue = FClient::connect(
        nsqd.tcp,
        tls,
        Some(pki.client_config(&ca, Some(&pki.rogue))),
    )
    .unwrap();
    rogue.send(Request::Pub("policy", b"x"));
    rogue.expect_ok();
    drop(nsqd);

    // require-verify: the certificate must chain to --tls-root-ca-file.
    let root = format!("--tls-root-ca-file={}", pki.path("ca.pem"));
    let nsqd = start_tls(&pki, &["--tls-client-auth-policy=require-verify", &root]);
    let rogue = FClient::connect(
        nsqd.tcp,
        tls,
        Some(pki.client_config(&ca, Some(&pki.rogue))),
    );
    assert!(
        rogue.is_err(),
        "an unverifiable certificate must fail with require-verify"
    );
    let mut good = FClient::connect(
        nsqd.tcp,
        tls,
        Some(pki.client_config(&ca, Some(&pki.client))),
    )
    .unwrap();
    good.send(Request::Pub("policy", b"x"));
    good.expect_ok();
    // A policy implies --tls-required: plain commands are refused.
    let mut plain = nsqd.connect();
    plain.send(Request::Pub("policy", b"x"));
    plain.expect_error("E_INVALID cannot PUB in current state (TLS required)");
    plain.expect_closed();
}

/// A minimal blocking HTTP/1.1 GET (optionally through TLS).
fn http_get(
    addr: SocketAddr,
    path: &str,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> (u16, String, String) {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let mut s: Box<dyn ReadWrite> = match tls {
        Some(cfg) => Box::new(rustls::StreamOwned::new(
            rustls::ClientConnection::new(cfg, ServerName::try_from("localhost").unwrap()).unwrap(),
            tcp,
        )),
        None => Box::new(tcp),
    };
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    s.flush().unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap_or(0);
    (status, head.to_string(), body.to_string())
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

#[test]
fn tls_required_on_tcp_and_http_and_the_https_listener() {
    let pki = Pki::new();
    let nsqd = start_tls(
        &pki,
        &["--tls-required=true", "--https-address=127.0.0.1:0"],
    );
    let https = https_addr(&nsqd);
    // TCP: everything but IDENTIFY needs TLS first, even NOP and unknown commands.
    for (cmd, text) in [
        (&b"NOP\n"[..], "NOP"),
        (b"SUB a b\n", "SUB"),
        (b"WHAT\n", "WHAT"),
        (b"AUTH\n\x00\x00\x00\x01s", "AUTH"),
    ] {
        let mut c = nsqd.connect();
        c.send_bytes(cmd);
        c.expect_error(&format!(
            "E_INVALID cannot {text} in current state (TLS required)"
        ));
        c.expect_closed();
    }
    // IDENTIFY without TLS is answered; the next command is refused.
    let mut c = nsqd.connect();
    c.send(Request::Identify(b"{}"));
    c.expect_response("OK");
    c.send(Request::Pub("t", b"x"));
    c.expect_error("E_INVALID cannot PUB in current state (TLS required)");
    // With TLS everything works.
    let cfg = pki.client_config(&pki.ca_pem, None);
    pub_sub_round_trip(
        nsqd.tcp,
        Want {
            tls: true,
            ..Want::default()
        },
        Some(cfg.clone()),
        50,
    );

    // Plain HTTP: 403 TLS_REQUIRED with the HTTPS port, on every path.
    for path in ["/ping", "/stats", "/nope"] {
        let (status, head, body) = http_get(nsqd.http.unwrap(), path, None);
        assert_eq!(status, 403, "{path}");
        assert_eq!(
            body,
            format!(
                "{{\"message\": \"TLS_REQUIRED\", \"https_port\": {}}}",
                https.port()
            )
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("x-nsq-content-type: nsq; version=1.0"),
            "{head}"
        );
    }
    // HTTPS serves the API.
    let (status, _, body) = http_get(https, "/ping", Some(cfg.clone()));
    assert_eq!((status, body.as_str()), (200, "OK"));
    let (status, _, body) = http_get(https, "/stats?format=json", Some(cfg));
    assert_eq!(status, 200);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["version"], "1.3.0");

    // tcp-https: plain HTTP stays open.
    let nsqd = start_tls(
        &pki,
        &["--tls-required=tcp-https", "--https-address=127.0.0.1:0"],
    );
    let (status, _, body) = http_get(nsqd.http.unwrap(), "/ping", None);
    assert_eq!((status, body.as_str()), (200, "OK"));
    let mut c = nsqd.connect();
    c.send(Request::Nop);
    c.expect_error("E_INVALID cannot NOP in current state (TLS required)");
}

/// Many HTTPS clients at once, each sending keep-alive POSTs
/// (`/channel/create` and `/pub` alternating over several topics): every
/// request is answered.
#[test]
fn https_keep_alive_posts_from_many_clients_are_all_answered() {
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &["--https-address=127.0.0.1:0"]);
    let https = https_addr(&nsqd);
    let config = pki.client_config(&pki.ca_pem, None);
    for t in 0..7 {
        post(&nsqd, &format!("/topic/create?topic=https_load_{t}"));
    }
    const CLIENTS: usize = 20;
    const ROUNDS: usize = 10;
    const REQUESTS: usize = 5;
    let unanswered: Vec<String> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..CLIENTS)
            .map(|client| {
                let config = config.clone();
                scope.spawn(move || {
                    let mut failures = Vec::new();
                    for round in 0..ROUNDS {
                        let tcp = TcpStream::connect(https).unwrap();
                        tcp.set_read_timeout(Some(WAIT)).unwrap();
                        let conn = rustls::ClientConnection::new(
                            config.clone(),
                            ServerName::try_from("localhost").unwrap(),
                        )
                        .unwrap();
                        let mut s = BufReader::new(rustls::StreamOwned::new(conn, tcp));
                        for i in 0..REQUESTS {
                            let topic = format!("https_load_{}", (client + round + i) % 7);
                            let (target, body) = if i % 2 == 0 {
                                (format!("/channel/create?topic={topic}&channel=c"), "")
                            } else {
                                (format!("/pub?topic={topic}"), "hello")
                            };
                            let request = format!(
                                "POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if let Err(e) = s.get_mut().write_all(request.as_bytes()) {
                                failures.push(format!("client {client} round {round} #{i}: write {e}"));
                                break;
                            }
                            match read_http_answer(&mut s) {
                                Ok(200) => {}
                                Ok(status) => failures.push(format!(
                                    "client {client} round {round} #{i}: status {status}"
                                )),
                                Err(e) => {
                                    failures.push(format!(
                                        "client {client} round {round} #{i} {target}: {e}"
                                    ));
                                    break;
                                }
                            }
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect()
    });
    assert!(unanswered.is_empty(), "{unanswered:#?}");
}

/// One HTTP/1.1 answer with a Content-Length body: its status.
fn read_http_answer(s: &mut impl BufRead) -> std::io::Result<u16> {
    let mut status = 0;
    let mut length = 0usize;
    let mut line = String::new();
    loop {
        line.clear();
        if s.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        if let Some(rest) = l.strip_prefix("HTTP/1.1 ") {
            status = rest.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
        } else if let Some((k, v)) = l.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
    }
    let mut body = vec![0u8; length];
    s.read_exact(&mut body)?;
    Ok(status)
}

#[test]
fn stats_show_negotiated_features() {
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &[]);
    let cfg = pki.client_config(&pki.ca_pem, None);
    let topic = topic_on("featstats", 1, 0);
    let mut c = FClient::connect(
        nsqd.tcp,
        Want {
            tls: true,
            snappy: true,
            ..Want::default()
        },
        Some(cfg),
    )
    .unwrap();
    c.send(Request::Sub(&topic, "ch"));
    c.expect_ok();
    let (_, _, body) = http_get(nsqd.http.unwrap(), "/stats?format=json", None);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    let client = &stats["topics"][0]["channels"][0]["clients"][0];
    assert_eq!(client["tls"], true, "{client}");
    assert_eq!(client["snappy"], true);
    assert_eq!(client["deflate"], false);
    assert!(
        client["tls_version"].as_str().unwrap().starts_with("TLS1."),
        "{client}"
    );
}

#[test]
fn startup_refuses_bad_tls_settings() {
    let err = Nsqd::start_raw(&[
        "--tcp-address=127.0.0.1:0",
        "--http-address=",
        "--tls-required=true",
    ])
    .err()
    .expect("must not start");
    assert!(
        err.contains("cannot require TLS client connections without TLS key and cert"),
        "{err}"
    );
    let err = Nsqd::start_raw(&[
        "--tcp-address=127.0.0.1:0",
        "--http-address=",
        "--tls-cert=/nonexistent.pem",
        "--tls-key=/nonexistent.key",
    ])
    .err()
    .expect("must not start");
    assert!(err.contains("failed to build TLS config"), "{err}");
}

// ------------------------------------------------------------------- AUTH

/// A stub auth server: records each request (method, target, body) and
/// answers with the current reply.
struct AuthStub {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<(String, String, String)>>>,
    reply: Arc<Mutex<(u16, String)>>,
}

impl AuthStub {
    fn start(reply: &str) -> AuthStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let reply = Arc::new(Mutex::new((200u16, reply.to_string())));
        let (req2, rep2) = (requests.clone(), reply.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { break };
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                let mut parts = line.split_whitespace();
                let method = parts.next().unwrap_or_default().to_string();
                let target = parts.next().unwrap_or_default().to_string();
                let mut len = 0usize;
                let mut headers = HashMap::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':') {
                        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
                        if k.eq_ignore_ascii_case("content-length") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let mut body = vec![0u8; len];
                let _ = r.read_exact(&mut body);
                let body = String::from_utf8_lossy(&body).into_owned();
                assert_eq!(
                    headers.get("accept").map(String::as_str),
                    Some("application/vnd.nsq; version=1.0")
                );
                if method == "POST" {
                    assert_eq!(
                        headers.get("content-type").map(String::as_str),
                        Some("application/json")
                    );
                }
                req2.lock().unwrap().push((method, target, body));
                let (status, text) = rep2.lock().unwrap().clone();
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                );
            }
        });
        AuthStub {
            addr,
            requests,
            reply,
        }
    }

    fn set_reply(&self, status: u16, body: &str) {
        *self.reply.lock().unwrap() = (status, body.to_string());
    }

    fn requests(&self) -> Vec<(String, String, String)> {
        self.requests.lock().unwrap().clone()
    }
}

const GRANT: &str = r#"{"ttl":3600,"identity":"alice","identity_url":"http://id/alice","authorizations":[
    {"topic":"^allowed","channels":[".*"],"permissions":["publish","subscribe"]},
    {"topic":"pubonly","channels":["never"],"permissions":["publish"]}]}"#;

fn auth_flags(stub: &AuthStub, method: &str) -> Vec<String> {
    vec![
        format!("--auth-http-address={}", stub.addr),
        format!("--auth-http-request-method={method}"),
    ]
}

fn start_with(flags: &[String]) -> Nsqd {
    let refs: Vec<&str> = flags.iter().map(String::as_str).collect();
    Nsqd::start(&refs)
}

#[test]
fn auth_disabled_and_required_errors() {
    let nsqd = Nsqd::start(&[]);
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"secret"));
    c.expect_error("E_AUTH_DISABLED AUTH disabled");
    c.expect_closed();

    let stub = AuthStub::start(GRANT);
    let nsqd = start_with(&auth_flags(&stub, "get"));
    let c = FClient::connect(nsqd.tcp, Want::default(), None).unwrap();
    assert_eq!(c.identify["auth_required"], true);
    for (req, cmd) in [
        (Request::Pub("allowed_t", b"x"), "PUB"),
        (Request::Mpub("allowed_t", &[b"x"]), "MPUB"),
        (Request::Dpub("allowed_t", 10, b"x"), "DPUB"),
        (Request::Sub("allowed_t", "c"), "SUB"),
    ] {
        let mut c = nsqd.connect();
        c.send(req);
        c.expect_error(&format!("E_AUTH_FIRST AUTH required before {cmd}"));
        c.expect_closed();
    }
    // Not subject to auth: NOP; AUTH in the wrong state.
    let mut c = nsqd.connect();
    c.send(Request::Nop);
    c.send(Request::Auth(b"s"));
    match c.next() {
        Some(Got::Response(json)) => assert!(json.contains("\"permission_count\":2"), "{json}"),
        other => panic!("{other:?}"),
    }
    c.send(Request::Auth(b"s"));
    c.expect_error("E_INVALID AUTH already set");
    c.expect_closed();
}

fn auth_grant_and_deny(method: &str) {
    let stub = AuthStub::start(GRANT);
    let nsqd = start_with(&auth_flags(&stub, method));
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"s3cr et/+"));
    c.expect_response(
        r#"{"identity":"alice","identity_url":"http://id/alice","permission_count":2}"#,
    );
    // Exactly what NSQ sends.
    let reqs = stub.requests();
    assert_eq!(reqs.len(), 1);
    let (m, target, body) = &reqs[0];
    if method == "get" {
        assert_eq!(m, "GET");
        assert_eq!(
            target,
            "/auth?common_name=&remote_ip=127.0.0.1&secret=s3cr+et%2F%2B&tls=false"
        );
    } else {
        assert_eq!(m, "POST");
        assert_eq!(target, "/auth");
        assert_eq!(
            body,
            r#"{"common_name":[""],"remote_ip":["127.0.0.1"],"secret":["s3cr et/+"],"tls":["false"]}"#
        );
    }
    // Topics on both shards; publishes need a channel regex matching "".
    for t in [topic_on("allowed", 0, 0), topic_on("allowed", 1, 0)] {
        c.publish(&t, b"x");
        c.send(Request::Mpub(&t, &[b"a", b"b"]));
        c.expect_response("OK");
    }
    c.send(Request::Pub("pubonly", b"x"));
    c.expect_error(r#"E_UNAUTHORIZED AUTH failed for PUB on "pubonly" """#);
    c.expect_closed();

    // SUB: allowed topic (possibly on another shard), and denied ones.
    let mut s = nsqd.connect();
    s.send(Request::Auth(b"k"));
    assert!(matches!(s.next(), Some(Got::Response(_))));
    let topic = topic_on("allowed", 1, 1);
    s.subscribe(&topic, "ch");
    let mut s = nsqd.connect();
    s.send(Request::Auth(b"k"));
    assert!(matches!(s.next(), Some(Got::Response(_))));
    s.send(Request::Sub("pubonly", "never"));
    s.expect_error(r#"E_UNAUTHORIZED AUTH failed for SUB on "pubonly" "never""#);
    s.expect_closed();
    assert_eq!(
        stub.requests().len(),
        3,
        "one query per AUTH, none per command"
    );
}

#[test]
fn auth_get_grant_deny_and_exact_parameters() {
    auth_grant_and_deny("get");
}

#[test]
fn auth_post_grant_deny_and_exact_parameters() {
    auth_grant_and_deny("post");
}

#[test]
fn auth_ttl_expiry_requeries_and_can_revoke() {
    let stub = AuthStub::start(&GRANT.replace("3600", "1"));
    let nsqd = start_with(&auth_flags(&stub, "get"));
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"s"));
    assert!(matches!(c.next(), Some(Got::Response(_))));
    c.publish("allowed_ttl", b"1");
    assert_eq!(stub.requests().len(), 1);
    std::thread::sleep(Duration::from_millis(1100));
    c.publish("allowed_ttl", b"2");
    assert_eq!(stub.requests().len(), 2, "re-queried after the TTL");
    // Revoked at the next expiry.
    stub.set_reply(200, r#"{"ttl":60,"authorizations":[{"topic":"other","channels":[".*"],"permissions":["publish"]}]}"#);
    std::thread::sleep(Duration::from_millis(1100));
    c.send(Request::Pub("allowed_ttl", b"3"));
    c.expect_error(r#"E_UNAUTHORIZED AUTH failed for PUB on "allowed_ttl" """#);
    c.expect_closed();

    // A failing re-query is E_AUTH_FAILED.
    stub.set_reply(200, &GRANT.replace("3600", "1"));
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"s"));
    assert!(matches!(c.next(), Some(Got::Response(_))));
    stub.set_reply(500, "boom");
    std::thread::sleep(Duration::from_millis(1100));
    c.send(Request::Pub("allowed_ttl", b"4"));
    c.expect_error("E_AUTH_FAILED AUTH failed");
    c.expect_closed();
}

#[test]
fn auth_failures() {
    let stub = AuthStub::start(r#"{"ttl":60,"authorizations":[]}"#);
    // The first address is unreachable: the other one is tried.
    let dead = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nsqd = start_with(&[
        format!("--auth-http-address={dead}"),
        format!("--auth-http-address=http://{}/auth", stub.addr),
    ]);
    for _ in 0..3 {
        let mut c = nsqd.connect();
        c.send(Request::Auth(b"s"));
        c.expect_error("E_UNAUTHORIZED AUTH no authorizations found");
        c.expect_closed();
    }
    // Invalid answers.
    for (status, reply) in [
        (200, r#"{"ttl":0,"authorizations":[]}"#),
        (
            200,
            r#"{"ttl":5,"authorizations":[{"topic":"(","channels":[],"permissions":["publish"]}]}"#,
        ),
        (
            200,
            r#"{"ttl":5,"authorizations":[{"topic":"a","channels":[],"permissions":["admin"]}]}"#,
        ),
        (500, "{}"),
        (200, "not json"),
    ] {
        stub.set_reply(status, reply);
        let mut c = nsqd.connect();
        c.send(Request::Auth(b"s"));
        c.expect_error("E_AUTH_FAILED AUTH failed");
        c.expect_closed();
    }
    // Only an unreachable server.
    let nsqd = start_with(&[format!("--auth-http-address={dead}")]);
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"s"));
    c.expect_error("E_AUTH_FAILED AUTH failed");
    c.expect_closed();
}

#[test]
fn auth_slow_server_does_not_block_other_connections() {
    // An auth server that never answers: the AUTH waits for the request
    // timeout while other connections on every shard keep working.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = silent.local_addr().unwrap();
    let _hold = std::thread::spawn(move || {
        let conns: Vec<_> = silent.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(4));
        drop(conns);
    });
    let nsqd = start_with(&[
        format!("--auth-http-address={addr}"),
        "--http-client-request-timeout=3s".to_string(),
    ]);
    let mut waiting: Vec<_> = (0..2)
        .map(|_| {
            let mut c = nsqd.connect();
            c.send(Request::Auth(b"s"));
            c
        })
        .collect();
    let t = Instant::now();
    for _ in 0..20 {
        let mut other = nsqd.connect();
        other.send(Request::Identify(b"{}"));
        other.expect_response("OK");
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "other connections were blocked"
    );
    for c in &mut waiting {
        c.expect_error("E_AUTH_FAILED AUTH failed");
    }
}

#[test]
fn auth_gets_tls_and_the_client_certificate_common_name() {
    let pki = Pki::new();
    let stub = AuthStub::start(GRANT);
    let mut flags = pki.server_flags();
    flags.extend(auth_flags(&stub, "get"));
    flags.push("--tls-client-auth-policy=require".into());
    let nsqd = start_with(&flags);
    let cfg = pki.client_config(&pki.ca_pem, Some(&pki.client));
    let mut c = FClient::connect(
        nsqd.tcp,
        Want {
            tls: true,
            deflate: true,
            ..Want::default()
        },
        Some(cfg),
    )
    .unwrap();
    assert_eq!(c.identify["auth_required"], true);
    c.send(Request::Auth(b"tok"));
    match c.next() {
        Some(Got::Response(json)) => assert!(json.contains("alice"), "{json}"),
        other => panic!("{other:?}"),
    }
    let reqs = stub.requests();
    assert_eq!(
        reqs[0].1,
        "/auth?common_name=client-cn&remote_ip=127.0.0.1&secret=tok&tls=true"
    );
    // Auth state travels with the SUB handoff; the subscriber gets messages.
    let topic = topic_on("allowed_h", 1, 0);
    c.send(Request::Sub(&topic, "c"));
    c.expect_ok();
    c.send(Request::Rdy(10));
    let mut p = nsqd.connect();
    p.send(Request::Identify(b"{}"));
    p.expect_response("OK");
    // The producer has no TLS: refused (policy implies --tls-required).
    p.send(Request::Pub(&topic, b"x"));
    p.expect_error("E_INVALID cannot PUB in current state (TLS required)");
}

/// A one-shot-per-connection HTTPS auth stub (certificate from `pki`)
/// answering `reply`; returns its address and the request targets seen.
fn https_auth_stub(pki: &Pki, reply: &'static str) -> (SocketAddr, Arc<Mutex<Vec<String>>>) {
    use rustls::pki_types::pem::PemObject;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(pki.path("server.pem"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let key = PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
    let config = Arc::new(
        rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap(),
    );
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = seen.clone();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { break };
            let conn = rustls::ServerConnection::new(config.clone()).unwrap();
            let mut s = rustls::StreamOwned::new(conn, tcp);
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                match s.read(&mut byte) {
                    Ok(1) => head.push(byte[0]),
                    _ => break,
                }
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let target = text.split(' ').nth(1).unwrap_or_default().to_string();
            seen2.lock().unwrap().push(target);
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{reply}",
                reply.len()
            );
            let _ = s.flush();
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    });
    (addr, seen)
}

#[test]
fn auth_over_https_and_the_403_redirect_to_https() {
    let pki = Pki::new();
    let (https, seen) = https_auth_stub(&pki, GRANT);
    let root = format!("--tls-root-ca-file={}", pki.path("ca.pem"));
    // A full https:// URL, verified against --tls-root-ca-file.
    let nsqd = start_with(&[
        root.clone(),
        format!(
            "--auth-http-address=https://127.0.0.1:{}/auth",
            https.port()
        ),
    ]);
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"tok"));
    match c.next() {
        Some(Got::Response(json)) => assert!(json.contains("alice"), "{json}"),
        other => panic!("{other:?}"),
    }
    // A plain auth server answering 403 with https_port: nsqd retries
    // over HTTPS on that port (NSQ's http_api client).
    let plain = AuthStub::start(&format!("{{\"https_port\": {}}}", https.port()));
    plain.set_reply(403, &format!("{{\"https_port\": {}}}", https.port()));
    let nsqd = start_with(&[root, format!("--auth-http-address={}", plain.addr)]);
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"tok2"));
    match c.next() {
        Some(Got::Response(json)) => assert!(json.contains("alice"), "{json}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(plain.requests().len(), 1);
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen[1].contains("secret=tok2"), "{seen:?}");
    // /stats shows the identity.
    c.publish("allowed_stats", b"x");
    let (_, _, body) = http_get(nsqd.http.unwrap(), "/stats?format=json", None);
    let stats: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(stats["producers"][0]["authed"], true, "{stats}");
    assert_eq!(stats["producers"][0]["auth_identity"], "alice");
}

/// Clients whose AUTH hangs on a slow auth server do not hold up another
/// client's AUTH (as in Go, where each connection makes its own request):
/// nsqd's auth helpers grow when they are all busy (with a fixed pool of
/// four, the fresh client below would wait until the hung requests time
/// out).
#[test]
fn auth_requests_stuck_on_a_slow_server_do_not_delay_other_clients() {
    // An auth server that never answers `secret=hang` and grants the rest.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let held = Arc::new(Mutex::new(Vec::new()));
    let held2 = held.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { break };
            let held = held2.clone();
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = r.read_line(&mut line);
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).is_err() || h == "\r\n" || h.is_empty() {
                        break;
                    }
                }
                if line.contains("secret=hang") {
                    held.lock().unwrap().push(stream);
                    return;
                }
                let body = GRANT;
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    let nsqd = start_with(&[
        "--shards=1".into(),
        format!("--auth-http-address={addr}"),
        "--http-client-request-timeout=1h".into(),
    ]);
    let mut stuck = Vec::new();
    for _ in 0..12 {
        let mut c = nsqd.connect();
        c.send(Request::Auth(b"hang"));
        stuck.push(c);
    }
    wait_for_value(
        "the auth server to hold every hung request",
        WAIT,
        12,
        || held.lock().unwrap().len(),
    );
    let mut c = nsqd.connect();
    c.send(Request::Auth(b"ok"));
    match c.next_within(WAIT) {
        Some(Got::Response(json)) => assert!(json.contains("\"permission_count\":2"), "{json}"),
        other => panic!("AUTH behind 12 hung ones: {other:?}"),
    }
    drop(stuck);
}

/// One HTTPS request written right behind the client's handshake Finished
/// (rustls sends plaintext queued before the handshake completes in the
/// same write): the status and body of the answer.
fn https_pipelined(
    addr: SocketAddr,
    cfg: Arc<rustls::ClientConfig>,
    request: &[u8],
) -> (u16, String) {
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(WAIT)).unwrap();
    let name = ServerName::try_from("127.0.0.1").unwrap();
    let mut conn = rustls::ClientConnection::new(cfg, name).unwrap();
    conn.writer().write_all(request).unwrap();
    let mut s = rustls::StreamOwned::new(conn, tcp);
    let mut out = Vec::new();
    if let Err(e) = s.read_to_end(&mut out) {
        assert!(!out.is_empty(), "no answer: {e}");
    }
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_string();
    (status, body)
}

#[test]
fn https_request_arriving_with_the_handshake_or_in_one_large_write_is_answered() {
    // Application data read together with the handshake's last flight is
    // answered, not left in the TLS session unseen; more than 16 KiB of it
    // does not fail the next read with "received plaintext buffer full"
    // (which would close the connection without an answer).
    let pki = Pki::new();
    let nsqd = start_tls(&pki, &["--https-address=127.0.0.1:0"]);
    let https = https_addr(&nsqd);
    let cfg = pki.client_config(&pki.ca_pem, None);
    let ping = b"GET /ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
    for _ in 0..5 {
        assert_eq!(
            https_pipelined(https, cfg.clone(), ping),
            (200, "OK".into())
        );
    }
    for size in [20_000, 40_000, 60_000] {
        let mut req = format!(
            "POST /pub?topic=big HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {size}\r\n\r\n"
        )
        .into_bytes();
        req.extend(std::iter::repeat_n(b'b', size));
        assert_eq!(
            https_pipelined(https, cfg.clone(), &req),
            (200, "OK".into()),
            "{size}-byte body"
        );
    }
    let stats = stats(&nsqd);
    assert_eq!(stats["topics"][0]["message_count"], 3);
}
