//! The tools' own HTTP calls over TLS: nsq_to_http to `https://`
//! destinations and consumers discovering nsqd through a lookupd address
//! given as `https://…`, both verified against the CA in `SSL_CERT_FILE`
//! (as Go's HTTP client does), and refused with an untrusted CA.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::args;
use crate::features::Pki;
use crate::harness::*;

/// One request an [`HttpsServer`] answered.
#[derive(Debug, Clone)]
struct Request {
    method: String,
    target: String,
    body: Vec<u8>,
}

/// A tiny HTTPS server (the PKI's server certificate for 127.0.0.1) that
/// records requests and answers each with `reply(&request)`:
/// (status, extra headers, body).
struct HttpsServer {
    addr: std::net::SocketAddr,
    got: Arc<Mutex<Vec<Request>>>,
}

type Reply = (u16, Vec<(&'static str, String)>, Vec<u8>);

impl HttpsServer {
    fn start(pki: &Pki, reply: impl Fn(&Request) -> Reply + Send + Sync + 'static) -> HttpsServer {
        let certs: Vec<CertificateDer<'static>> =
            CertificateDer::pem_file_iter(pki.path("server.pem"))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
        let key = PrivateKeyDer::from_pem_file(pki.path("server.key")).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let config = Arc::new(config);
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let (g, reply) = (got.clone(), Arc::new(reply));
        std::thread::spawn(move || {
            for sock in listener.incoming().map_while(Result::ok) {
                let (config, g, reply) = (config.clone(), g.clone(), reply.clone());
                std::thread::spawn(move || serve(config, sock, &g, &*reply));
            }
        });
        HttpsServer { addr, got }
    }

    fn received(&self) -> Vec<Request> {
        self.got.lock().unwrap().clone()
    }
}

/// Answer one request on one TLS connection (handshake errors just end it).
fn serve(
    config: Arc<rustls::ServerConfig>,
    sock: TcpStream,
    got: &Mutex<Vec<Request>>,
    reply: &(dyn Fn(&Request) -> Reply + Send + Sync),
) {
    let _ = sock.set_read_timeout(Some(WAIT));
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut r = BufReader::new(&mut tls);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        match r.read_line(&mut line) {
            Ok(0) | Err(_) => return,
            Ok(_) if line == "\r\n" => break,
            Ok(_) => head.push(line.trim_end().to_string()),
        }
    }
    let mut first = head[0].split(' ');
    let (method, target) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
    let len: usize = head
        .iter()
        .filter_map(|h| h.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if r.read_exact(&mut body).is_err() {
        return;
    }
    let req = Request {
        method: method.to_string(),
        target: target.to_string(),
        body,
    };
    let (status, headers, body) = reply(&req);
    got.lock().unwrap().push(req);
    let mut out = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        out.push_str(&format!("{k}: {v}\r\n"));
    }
    out.push_str("\r\n");
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&body);
    let _ = tls.write_all(&bytes);
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

/// A tool started with `SSL_CERT_FILE` set; its stderr collected.
struct EnvTool {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl EnvTool {
    fn start(name: &str, args: &[String], ca_file: &str) -> EnvTool {
        let mut child = Command::new(tool_bin(name))
            .args(args)
            .env("SSL_CERT_FILE", ca_file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = |r: Box<dyn Read + Send>| {
            let v = Arc::new(Mutex::new(Vec::new()));
            let v2 = v.clone();
            std::thread::spawn(move || {
                for l in BufReader::new(r).lines().map_while(Result::ok) {
                    v2.lock().unwrap().push(l);
                }
            });
            v
        };
        let stdout = lines(Box::new(child.stdout.take().unwrap()));
        let stderr = lines(Box::new(child.stderr.take().unwrap()));
        EnvTool {
            child,
            stdout,
            stderr,
        }
    }

    fn stderr(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// SIGTERM, then a bounded wait for a clean exit.
    fn stop(mut self) -> String {
        signal(&self.child, libc::SIGTERM);
        let status = wait_exit(&mut self.child, WAIT);
        assert!(status.success(), "{status:?}\n{}", self.stderr());
        self.stderr()
    }
}

impl Drop for EnvTool {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn nsq_to_http_posts_to_https_and_refuses_an_untrusted_server() {
    let pki = Pki::new();
    let nsqd = Daemon::nsqd(&[], &[]);
    let server = HttpsServer::start(&pki, |_| (200, vec![], b"ok".to_vec()));
    nsqd.publish("nh_tls", b"secret body");
    let post = |topic: &str, path: &str, ca: &str| {
        EnvTool::start(
            "nsq_to_http",
            &args![
                format!("--topic={topic}"),
                format!("--nsqd-tcp-address={}", nsqd.tcp),
                format!("--post=https://127.0.0.1:{}{path}", server.addr.port()),
                "--consumer-opt=default_requeue_delay,50ms",
            ],
            &pki.path(ca),
        )
    };
    let tool = post("nh_tls", "/in", "ca.pem");
    wait_for("POST over TLS, message finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("nh_tls", "nsq_to_http")?;
        (depth == 0 && in_flight == 0 && !server.received().is_empty()).then_some(())
    });
    tool.stop();
    let got = server.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        (got[0].method.as_str(), got[0].target.as_str()),
        ("POST", "/in")
    );
    assert_eq!(got[0].body, b"secret body");

    // The server's certificate is not signed by the CA the tool trusts:
    // the request fails (no request is seen) and the message is requeued.
    nsqd.publish("nh_tls_bad", b"x");
    let tool = post("nh_tls_bad", "/bad", "other-ca.pem");
    wait_for("a handler error naming the certificate", WAIT, || {
        let err = tool.stderr();
        (err.contains("Handler returned error") && err.to_lowercase().contains("certificate"))
            .then_some(())
    });
    let err = tool.stop();
    assert!(
        server.received().iter().all(|r| r.target != "/bad"),
        "{err}"
    );
}

#[test]
fn consumer_discovers_nsqd_through_https_lookupd() {
    let pki = Pki::new();
    let nsqd = Daemon::nsqd(&[], &[]);
    nsqd.publish("tail_tls", b"found via https");
    // A lookupd stand-in over HTTPS answering /lookup with this nsqd.
    let tcp_port = nsqd.tcp.port();
    let lookupd = HttpsServer::start(&pki, move |_| {
        let body = format!(
            r#"{{"channels":[],"producers":[{{"remote_address":"127.0.0.1:1","hostname":"h","broadcast_address":"127.0.0.1","tcp_port":{tcp_port},"http_port":1,"version":"1.3.0"}}]}}"#
        );
        (
            200,
            vec![("X-NSQ-Content-Type", "nsq; version=1.0".to_string())],
            body.into_bytes(),
        )
    });
    let mut tool = EnvTool::start(
        "nsq_tail",
        &args![
            "--topic=tail_tls",
            format!(
                "--lookupd-http-address=https://localhost:{}",
                lookupd.addr.port()
            ),
            "-n",
            "1",
        ],
        &pki.path("ca.pem"),
    );
    let status = wait_exit(&mut tool.child, WAIT);
    let err = tool.stderr();
    assert!(status.success(), "{status:?}\n{err}");
    wait_for("the message on stdout", WAIT, || {
        let out = tool.stdout.lock().unwrap().clone();
        (out.last().map(String::as_str) == Some("found via https")).then_some(())
    });
    let got = lookupd.received();
    assert_eq!(got[0].method, "GET");
    assert_eq!(got[0].target, "/lookup?topic=tail_tls");
}
