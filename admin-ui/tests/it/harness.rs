//! Test harness: start the real daemons (stopped by PID on drop, their logs
//! printed when a test fails), a tiny HTTP client, a raw TCP consumer, a
//! recording HTTP server, and bounded waits. The process handling is
//! `nsq_test_support`'s.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nsq_test_support::{Listen, TempDir};
use serde_json::Value;

/// Bound of every wait.
pub const WAIT: Duration = nsq_test_support::WAIT;

/// A binary of the workspace: nsqadmin from this package, the others from
/// `target/<profile>/` (built by `cargo build --workspace --bins`).
pub fn bin(name: &str) -> PathBuf {
    nsq_test_support::sibling_bin(env!("CARGO_BIN_EXE_nsqadmin"), name)
}

/// A running daemon, stopped by PID on drop.
pub struct Daemon {
    inner: nsq_test_support::Daemon,
    /// `TCP: listening on` address, if any.
    pub tcp: Option<SocketAddr>,
    /// `HTTP: listening on` address.
    pub http: SocketAddr,
    data_dir: Option<TempDir>,
}

impl Daemon {
    /// Start `name` with `args`; wait for its listening lines.
    pub fn start(name: &str, args: &[String], want_tcp: bool) -> Daemon {
        Daemon::start_bin(&bin(name), args, want_tcp)
    }

    /// [`Daemon::start`] for a binary given by path.
    pub fn start_bin(path: &std::path::Path, args: &[String], want_tcp: bool) -> Daemon {
        let want = Listen {
            tcp: want_tcp,
            http: true,
        };
        let inner = nsq_test_support::Daemon::start(path, args, want, WAIT)
            .unwrap_or_else(|log| panic!("{} {args:?} did not start:\n{log}", path.display()));
        Daemon {
            tcp: inner.tcp,
            http: inner.http.expect("http"),
            inner,
            data_dir: None,
        }
    }

    /// `host:port` of its HTTP API.
    pub fn addr(&self) -> String {
        self.http.to_string()
    }

    /// Wait (at most [`WAIT`]) for it to exit by itself; its status.
    pub fn wait_exit(&mut self) -> Option<std::process::ExitStatus> {
        nsq_test_support::process::wait_exit(self.inner.child(), WAIT)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A clean stop first (the data directory is removed after the kill).
        self.inner.terminate(WAIT);
    }
}

/// nsqlookupd on 127.0.0.1.
pub fn lookupd() -> Daemon {
    Daemon::start(
        "nsqlookupd",
        &[
            "--tcp-address=127.0.0.1:0".into(),
            "--http-address=127.0.0.1:0".into(),
            "--broadcast-address=127.0.0.1".into(),
        ],
        true,
    )
}

/// nsqd on 127.0.0.1 announcing to `lookupd` (if any).
pub fn nsqd(lookupd: Option<&Daemon>) -> Daemon {
    let dir = TempDir::new("nsqadmin-it");
    let mut args = vec![
        "--tcp-address=127.0.0.1:0".to_string(),
        "--http-address=127.0.0.1:0".into(),
        "--broadcast-address=127.0.0.1".into(),
        "--shards=1".into(),
        format!("--data-path={}", dir.path().display()),
    ];
    if let Some(l) = lookupd {
        args.push(format!("--lookupd-tcp-address={}", l.tcp.unwrap()));
    }
    let mut d = Daemon::start("nsqd", &args, true);
    d.data_dir = Some(dir);
    d
}

/// nsqadmin with these flags (plus `--http-address=127.0.0.1:0`).
pub fn nsqadmin(flags: &[String]) -> Daemon {
    let mut args = vec!["--http-address=127.0.0.1:0".to_string()];
    args.extend(flags.iter().cloned());
    Daemon::start("nsqadmin", &args, false)
}

/// An HTTP answer.
pub type Resp = nsq_test_support::http::Response;

/// One request on a fresh connection.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    nsq_test_support::http::request(addr, method, path, headers, body.as_bytes(), WAIT)
}

/// GET, require 200, JSON.
pub fn get_json(addr: &str, path: &str) -> Value {
    let r = http(addr, "GET", path, &[], "");
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

/// GET: the JSON of a 200 answer, `None` for any other status (for polls
/// that wait until something exists).
pub fn try_json(addr: &str, path: &str) -> Option<Value> {
    let r = http(addr, "GET", path, &[], "");
    (r.status == 200).then(|| r.json())
}

/// POST with an empty body, require 200.
pub fn post_ok(addr: &str, path: &str, body: &str) {
    let r = http(addr, "POST", path, &[], body);
    assert_eq!(r.status, 200, "POST {addr}{path}: {}", r.body);
}

/// Poll `cond` every 50 ms until it returns `Some`, at most [`WAIT`].
pub fn wait_for<T>(what: &str, cond: impl FnMut() -> Option<T>) -> T {
    let every = Duration::from_millis(50);
    nsq_test_support::poll(what, WAIT, every, cond, String::new)
}

/// A consumer connected over TCP V2 with this IDENTIFY, subscribed with RDY 0.
pub struct Consumer {
    _stream: TcpStream,
}

/// Connect a consumer to nsqd's TCP address.
pub fn consumer(nsqd: &Daemon, topic: &str, channel: &str, client_id: &str) -> Consumer {
    let mut s = TcpStream::connect(nsqd.tcp.unwrap()).unwrap();
    let ident = serde_json::json!({
        "client_id": client_id,
        "hostname": client_id,
        "user_agent": format!("test-ua {client_id}"),
        "feature_negotiation": false,
    })
    .to_string();
    let mut msg = b"  V2IDENTIFY\n".to_vec();
    msg.extend_from_slice(&(ident.len() as u32).to_be_bytes());
    msg.extend_from_slice(ident.as_bytes());
    msg.extend_from_slice(format!("SUB {topic} {channel}\n").as_bytes());
    s.write_all(&msg).unwrap();
    Consumer { _stream: s }
}

/// A server that records the bodies POSTed to it.
pub struct Recorder {
    /// `127.0.0.1:port`.
    pub addr: String,
    bodies: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    /// Listen on 127.0.0.1:0.
    pub fn start() -> Recorder {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let b2 = bodies.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let _ = s.set_read_timeout(Some(WAIT));
                let mut raw = Vec::new();
                let mut buf = [0u8; 4096];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    raw.extend_from_slice(&buf[..n]);
                    let text = String::from_utf8_lossy(&raw).into_owned();
                    if let Some((head, body)) = text.split_once("\r\n\r\n") {
                        let len: usize = head
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap_or(0))
                            })
                            .unwrap_or(0);
                        if body.len() >= len {
                            b2.lock().unwrap().push(body.to_string());
                            let _ = s.write_all(
                                b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                            );
                            break;
                        }
                    }
                }
            }
        });
        Recorder { addr, bodies }
    }

    /// The bodies received so far, as JSON.
    pub fn received(&self) -> Vec<Value> {
        self.bodies
            .lock()
            .unwrap()
            .iter()
            .filter_map(|b| serde_json::from_str(b).ok())
            .collect()
    }
}

/// A TCP port nobody listens on.
pub fn dead_addr() -> String {
    nsq_test_support::dead_addr()
}
