//! Test harness: start the real daemons (stopped by PID on drop, their logs
//! printed when a test fails), a tiny HTTP client, a raw TCP consumer, a
//! recording HTTP server, and bounded waits.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Bound of every wait.
pub const WAIT: Duration = Duration::from_secs(10);

/// A binary of the workspace: nsqadmin from this package, the others from
/// `target/<profile>/` (built by `cargo build --workspace --bins`).
fn bin(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_nsqadmin")).with_file_name(name);
    assert!(
        path.is_file(),
        "{name} binary not found at {}: run `cargo build --workspace --bins` first \
         (scripts/test.sh does)",
        path.display()
    );
    path
}

/// A running daemon, stopped by PID on drop.
pub struct Daemon {
    name: String,
    child: Child,
    /// `TCP: listening on` address, if any.
    pub tcp: Option<SocketAddr>,
    /// `HTTP: listening on` address.
    pub http: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
    data_dir: Option<PathBuf>,
}

impl Daemon {
    /// Start `name` with `args`; wait for its listening lines.
    pub fn start(name: &str, args: &[String], want_tcp: bool) -> Daemon {
        let mut child = Command::new(bin(name))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
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
        while http.is_none() || (want_tcp && tcp.is_none()) {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(("TCP", a)) => tcp = a.parse().ok(),
                Ok((_, a)) => http = a.parse().ok(),
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!(
                        "{name} {args:?} did not start:\n{}",
                        log.lock().unwrap().join("\n")
                    );
                }
            }
        }
        Daemon {
            name: name.into(),
            child,
            tcp,
            http: http.expect("http"),
            log,
            data_dir: None,
        }
    }

    /// `host:port` of its HTTP API.
    pub fn addr(&self) -> String {
        self.http.to_string()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if let Some(d) = &self.data_dir {
            let _ = std::fs::remove_dir_all(d);
        }
        if std::thread::panicking() {
            eprintln!(
                "---- {} {} log ----\n{}",
                self.name,
                self.http,
                self.log.lock().unwrap().join("\n")
            );
        }
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
    use std::sync::atomic::{AtomicUsize, Ordering};
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "nsqadmin-it-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut args = vec![
        "--tcp-address=127.0.0.1:0".to_string(),
        "--http-address=127.0.0.1:0".into(),
        "--broadcast-address=127.0.0.1".into(),
        "--shards=1".into(),
        format!("--data-path={}", dir.display()),
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
#[derive(Debug)]
pub struct Resp {
    /// Status.
    pub status: u16,
    /// Headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: String,
}

impl Resp {
    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {:?}", self.body))
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// One request on a fresh connection.
pub fn http(addr: &str, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
    let mut s = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)
        .unwrap_or_else(|e| panic!("{method} {addr}{path}: {e}"));
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("{method} {addr}{path}: no HTTP head in {text:?}"));
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line in {head:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    Resp {
        status,
        headers,
        body: body.to_string(),
    }
}

/// GET, require 200, JSON.
pub fn get_json(addr: &str, path: &str) -> Value {
    let r = http(addr, "GET", path, &[], "");
    assert_eq!(r.status, 200, "GET {path}: {}", r.body);
    r.json()
}

/// POST with an empty body, require 200.
pub fn post_ok(addr: &str, path: &str, body: &str) {
    let r = http(addr, "POST", path, &[], body);
    assert_eq!(r.status, 200, "POST {addr}{path}: {}", r.body);
}

/// Poll `cond` every 50 ms until it returns `Some`, at most [`WAIT`].
pub fn wait_for<T>(what: &str, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
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
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().to_string()
}
