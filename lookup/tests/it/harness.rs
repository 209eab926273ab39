//! Test harness: start the real `nsqlookupd` binary on 127.0.0.1 with port 0
//! (the bound ports are read from its log), stop it by PID; a blocking raw
//! "  V1" peer and a minimal HTTP/1.1 client, all with bounded waits.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nsq_protocol::lookupd::{decode_response, IdentifyRequest, LookupRequest, MAGIC_V1};
use nsq_protocol::Decoded;

/// Default bound for any wait in tests.
pub const WAIT: Duration = Duration::from_secs(10);

/// A running nsqlookupd, killed on drop.
pub struct Lookupd {
    child: Child,
    /// TCP address.
    pub tcp: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Lookupd {
    /// Start on 127.0.0.1 port 0 with extra flags.
    pub fn start(extra: &[&str]) -> Lookupd {
        let mut args = vec!["--tcp-address=127.0.0.1:0", "--http-address=127.0.0.1:0"];
        args.extend_from_slice(extra);
        Self::start_raw(&args).unwrap_or_else(|log| panic!("nsqlookupd did not start:\n{log}"))
    }

    /// Start with exactly these flags; Err(log) if it exits before listening.
    pub fn start_raw(args: &[&str]) -> Result<Lookupd, String> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_nsqlookupd"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn nsqlookupd");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        let log2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                for kind in ["TCP", "HTTP"] {
                    if let Some(addr) = line.split(&format!("{kind}: listening on ")).nth(1) {
                        let _ = tx.send((kind, addr.trim().to_string()));
                    }
                }
                log2.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + WAIT;
        let (mut tcp, mut http) = (None, None);
        while tcp.is_none() || http.is_none() {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(("TCP", addr)) => tcp = addr.parse().ok(),
                Ok((_, addr)) => http = addr.parse().ok(),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    // The reader thread ends at EOF; give it the bounded wait.
                    let until = Instant::now() + Duration::from_secs(2);
                    while Arc::strong_count(&log) > 1 && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(10));
                    }
                    return Err(log.lock().unwrap().join("\n"));
                }
            }
        }
        Ok(Lookupd {
            child,
            tcp: tcp.expect("tcp"),
            http: http.expect("http"),
            log,
        })
    }

    /// Log lines so far.
    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    /// A raw TCP connection that sent the magic.
    pub fn peer(&self) -> Peer {
        let mut p = Peer::connect_raw(self.tcp);
        p.send(MAGIC_V1);
        p
    }

    /// A peer that IDENTIFY'd as `broadcast:4150/http_port`.
    pub fn identified(&self, broadcast: &str, http_port: i64) -> Peer {
        let mut p = self.peer();
        let reply = p.identify(&identity(broadcast, http_port));
        assert!(reply.starts_with('{'), "IDENTIFY reply {reply}");
        p
    }

    /// GET/POST `path` (with query); returns the response.
    pub fn http(&self, method: &str, path: &str) -> HttpResponse {
        http(self.http, method, path)
    }

    /// GET `path` and parse the JSON body of a 200.
    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.http("GET", path);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{path}: {e}: {}", r.body))
    }

    /// Poll `cond` over `/lookup`-style reads until true (bounded by WAIT).
    pub fn wait_for(&self, what: &str, mut cond: impl FnMut(&Lookupd) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Remote addresses of `/lookup?topic=` producers (empty on 404).
    pub fn producers(&self, topic: &str) -> Vec<String> {
        let r = self.http("GET", &format!("/lookup?topic={topic}"));
        if r.status != 200 {
            return Vec::new();
        }
        let v: serde_json::Value = serde_json::from_str(&r.body).expect("json");
        v["producers"]
            .as_array()
            .expect("producers")
            .iter()
            .map(|p| p["remote_address"].as_str().unwrap_or_default().to_string())
            .collect()
    }
}

impl Drop for Lookupd {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- nsqlookupd log ----\n{}", self.log());
        }
    }
}

/// A valid nsqd identity.
pub fn identity(broadcast: &str, http_port: i64) -> IdentifyRequest {
    IdentifyRequest {
        broadcast_address: broadcast.into(),
        tcp_port: 4150,
        http_port,
        version: "1.3.0".into(),
        hostname: format!("{broadcast}.host"),
        ..IdentifyRequest::default()
    }
}

/// A blocking raw "  V1" connection.
pub struct Peer {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Peer {
    /// Connect without sending anything.
    pub fn connect_raw(addr: SocketAddr) -> Peer {
        let stream = TcpStream::connect_timeout(&addr, WAIT).expect("connect");
        stream.set_read_timeout(Some(WAIT)).unwrap();
        stream.set_nodelay(true).unwrap();
        Peer {
            stream,
            buf: Vec::new(),
        }
    }

    /// This side's `ip:port` (lookupd's peer ID for us).
    pub fn local_addr(&self) -> String {
        self.stream.local_addr().unwrap().to_string()
    }

    /// Write raw bytes.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Send one request.
    pub fn request(&mut self, req: LookupRequest<'_>) {
        let mut wire = Vec::new();
        req.encode(&mut wire);
        self.send(&wire);
    }

    /// IDENTIFY and read the reply.
    pub fn identify(&mut self, id: &IdentifyRequest) -> String {
        self.request(LookupRequest::Identify(id));
        self.read()
    }

    /// Send a command line (adds `\n`) and read the reply.
    pub fn cmd(&mut self, line: &str) -> String {
        self.send(format!("{line}\n").as_bytes());
        self.read()
    }

    /// Read one size-prefixed response (panics on EOF or timeout).
    pub fn read(&mut self) -> String {
        self.try_read().expect("a response")
    }

    /// Read one response; None at EOF.
    pub fn try_read(&mut self) -> Option<String> {
        loop {
            if let Ok(Decoded::Complete { value, consumed }) = decode_response(&self.buf, 1 << 20) {
                let s = String::from_utf8_lossy(value).into_owned();
                self.buf.drain(..consumed);
                return Some(s);
            }
            let mut chunk = [0u8; 4096];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) => panic!("read: {e}"),
            }
        }
    }

    /// Whether the server closed the connection (bounded wait).
    pub fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(self.stream.read(&mut b), Ok(0) | Err(_)) && self.buf.is_empty()
    }

    /// Expect `want` as the reply, then a close.
    pub fn expect_fatal(&mut self, want: &str) {
        assert_eq!(self.read(), want);
        assert_eq!(self.try_read(), None, "closed after a fatal error");
    }
}

/// A response.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl HttpResponse {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == &name.to_ascii_lowercase())
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection (`Connection: close`).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    let mut s = TcpStream::connect_timeout(&addr, WAIT).expect("connect http");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: lookupd\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read http");
    parse_response(&raw)
}

/// Parse one whole response.
pub fn parse_response(raw: &[u8]) -> HttpResponse {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("head");
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("status");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    HttpResponse {
        status,
        headers,
        body: body.to_string(),
    }
}

impl Peer {
    /// Half-close: the server sees EOF after what was sent.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}
