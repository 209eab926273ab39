//! Test harness: start the real `nsqlookupd` binary on 127.0.0.1 with port 0
//! (the bound ports are read from its log), stop it by PID; a blocking raw
//! "  V1" peer and a minimal HTTP/1.1 client, all with bounded waits. The
//! process handling is `nsq_test_support`'s.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use nsq_protocol::lookupd::{decode_response, IdentifyRequest, LookupRequest, MAGIC_V1};
use nsq_protocol::Decoded;
use nsq_test_support::{Daemon, Listen};

/// Default bound for any wait in tests.
pub const WAIT: Duration = nsq_test_support::WAIT;

/// A running nsqlookupd, killed on drop.
pub struct Lookupd {
    daemon: Daemon,
    /// TCP address.
    pub tcp: SocketAddr,
    /// HTTP address.
    pub http: SocketAddr,
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
        let bin = Path::new(env!("CARGO_BIN_EXE_nsqlookupd"));
        let daemon = Daemon::start(bin, args, Listen::TCP_HTTP, WAIT)?;
        Ok(Lookupd {
            tcp: daemon.tcp.expect("tcp"),
            http: daemon.http.expect("http"),
            daemon,
        })
    }

    /// Log lines so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Send SIGTERM and wait (bounded) for the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon.terminate(WAIT)
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
        let every = Duration::from_millis(10);
        nsq_test_support::poll(what, WAIT, every, || cond(self).then_some(()), String::new);
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
pub type HttpResponse = nsq_test_support::http::Response;

/// One request on a fresh connection (`Connection: close`).
pub fn http(addr: SocketAddr, method: &str, path: &str) -> HttpResponse {
    nsq_test_support::http::request(addr, method, path, &[], b"", WAIT)
}

impl Peer {
    /// Half-close: the server sees EOF after what was sent.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(std::net::Shutdown::Write);
    }
}
