use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;

use super::*;

/// A server that answers one connection with `answer` (the request it
/// read comes back on the channel), or, with `None`, holds it unanswered
/// until the channel's sender is dropped.
fn server(answer: Option<&'static [u8]>) -> (SocketAddr, mpsc::Receiver<String>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let (mut s, _) = l.accept().unwrap();
        let Some(answer) = answer else {
            let _ = tx.send(String::new());
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink);
            return;
        };
        let _ = tx.send(read_request(&s));
        let _ = s.write_all(answer);
    });
    (addr, rx)
}

/// The head and body of one request.
fn read_request(s: &TcpStream) -> String {
    let mut r = BufReader::new(s);
    let mut req = String::new();
    let mut len = 0;
    loop {
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        if let Some(v) = line.strip_prefix("Content-Length: ") {
            len = v.trim().parse().unwrap();
        }
        req.push_str(&line);
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).unwrap();
    req + &String::from_utf8_lossy(&body)
}

fn client(request: Duration) -> Client {
    Client::new(Timeouts {
        connect: Duration::from_secs(5),
        request,
    })
}

#[test]
fn requests_are_written_as_go_writes_them() {
    let (addr, rx) = server(Some(
        b"HTTP/1.1 201 Created\r\nX-A:  b \r\nContent-Length: 2\r\n\r\nokEXTRA",
    ));
    let target = Target::parse(&format!("http://{addr}/p?q=1")).unwrap();
    let r = client(Duration::from_secs(5))
        .request("POST", &target, &[("X-T", "v")], b"body")
        .unwrap();
    assert_eq!(
        (r.status, r.header("x-a"), r.body.as_slice()),
        (201, Some("b"), &b"ok"[..])
    );
    assert_eq!(
        rx.recv().unwrap(),
        format!("POST /p?q=1 HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nX-T: v\r\nContent-Length: 4\r\n\r\nbody")
    );
    let (addr, rx) = server(Some(b"HTTP/1.0 200 OK\r\n\r\nto the end"));
    let target = Target::parse(&format!("{addr}/g")).unwrap();
    let r = client(Duration::from_secs(5))
        .request::<&str, &str>("GET", &target, &[], b"")
        .unwrap();
    assert_eq!(r.body, b"to the end");
    assert_eq!(
        rx.recv().unwrap(),
        format!("GET /g HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")
    );
}

#[test]
fn a_silent_http_server_times_out_saying_so() {
    let (addr, rx) = server(None);
    let target = Target::parse(&format!("http://{addr}/stats")).unwrap();
    let r = client(Duration::from_secs(1)).request::<&str, &str>("GET", &target, &[], b"");
    drop(rx);
    let Err(HttpError::Io(text)) = r else {
        panic!("{r:?}")
    };
    assert_eq!(
        text,
        format!("GET http://{addr}/stats: read: timed out after 1s")
    );
}

#[test]
fn a_silent_https_server_times_out() {
    // Accepts and never answers the TLS handshake.
    let (addr, rx) = server(None);
    let tls = Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth(),
    );
    let target = Target::parse(&format!("https://{addr}/")).unwrap();
    let r = client(Duration::from_millis(200))
        .with_tls(tls)
        .request::<&str, &str>("GET", &target, &[], b"");
    drop(rx);
    let Err(HttpError::Io(text)) = r else {
        panic!("{r:?}")
    };
    assert!(text.ends_with("timed out after 0.2s"), "{text}");
}

#[test]
fn https_needs_a_configuration() {
    let target = Target::parse("https://127.0.0.1:1/").unwrap();
    let r = client(Duration::from_secs(1)).request::<&str, &str>("GET", &target, &[], b"");
    assert!(matches!(r, Err(HttpError::Tls(_))), "{r:?}");
}

#[test]
fn answers_over_the_limit_are_refused() {
    let (addr, _rx) = server(Some(
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789012345678901234567890123456789",
    ));
    let target = Target::parse(&format!("http://{addr}/")).unwrap();
    let r = client(Duration::from_secs(5))
        .with_max_response(32)
        .request::<&str, &str>("GET", &target, &[], b"");
    assert!(
        matches!(r, Err(HttpError::TooLarge { limit: 32, .. })),
        "{r:?}"
    );
}

#[test]
fn https_round_trip_with_the_given_roots() {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
    let der = CertificateDer::from(cert.cert.der().to_vec());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der()));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = Arc::new(
        rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![der.clone()], key)
            .unwrap(),
    );
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let conn = rustls::ServerConnection::new(server_config).unwrap();
        let mut tls = rustls::StreamOwned::new(conn, s);
        let mut buf = [0u8; 1024];
        let n = tls.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        tls.write_all(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nyes\r\n0\r\n\r\n",
        )
        .unwrap();
        tls.conn.send_close_notify();
        let _ = tls.flush();
        req
    });
    let mut roots = rustls::RootCertStore::empty();
    roots.add(der).unwrap();
    let tls = Arc::new(
        ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    );
    let target = Target::parse(&format!("https://localhost:{port}/auth?x=1")).unwrap();
    let r = client(Duration::from_secs(10))
        .with_tls(tls)
        .request::<&str, &str>("GET", &target, &[], b"")
        .unwrap();
    assert_eq!((r.status, r.body.as_slice()), (200, &b"yes"[..]));
    let req = server.join().unwrap();
    assert!(
        req.starts_with(&format!(
            "GET /auth?x=1 HTTP/1.1\r\nHost: localhost:{port}\r\n"
        )),
        "{req}"
    );
}
