//! Start nsqd / nsqlookupd / the tools, bounded waits, cleanup (the process
//! handling is `nsq_test_support`'s).
#![allow(dead_code)]

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nsq_test_support::{Lines, Listen};
use nsq_tools::httpc::{self, Timeouts, Url};

pub use nsq_test_support::TempDir;

/// Bound for every wait.
pub const WAIT: Duration = Duration::from_secs(20);

/// A daemon binary of the workspace, next to this crate's tools in
/// `target/<profile>/` (`cargo build --workspace --bins`).
pub fn workspace_bin(name: &str) -> PathBuf {
    nsq_test_support::sibling_bin(env!("CARGO_BIN_EXE_nsq_tail"), name)
}

/// A tool binary of this crate.
pub fn tool_bin(name: &str) -> PathBuf {
    let p = match name {
        "nsq_tail" => env!("CARGO_BIN_EXE_nsq_tail"),
        "to_nsq" => env!("CARGO_BIN_EXE_to_nsq"),
        "nsq_stat" => env!("CARGO_BIN_EXE_nsq_stat"),
        "nsq_to_file" => env!("CARGO_BIN_EXE_nsq_to_file"),
        "nsq_to_nsq" => env!("CARGO_BIN_EXE_nsq_to_nsq"),
        "nsq_to_http" => env!("CARGO_BIN_EXE_nsq_to_http"),
        other => panic!("unknown tool {other}"),
    };
    PathBuf::from(p)
}

/// Poll `cond` every 25 ms until `Some`, at most `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, cond: impl FnMut() -> Option<T>) -> T {
    let every = Duration::from_millis(25);
    nsq_test_support::poll(what, timeout, every, cond, String::new)
}

/// A running daemon, killed on drop (its log printed if the test fails).
pub struct Daemon {
    inner: nsq_test_support::Daemon,
    pub tcp: SocketAddr,
    pub http: SocketAddr,
    _dir: Option<TempDir>,
}

impl Daemon {
    fn spawn(name: &'static str, args: &[String], dir: Option<TempDir>) -> Daemon {
        let inner =
            nsq_test_support::Daemon::start(&workspace_bin(name), args, Listen::TCP_HTTP, WAIT)
                .unwrap_or_else(|log| panic!("{name} did not start:\n{log}"));
        Daemon {
            tcp: inner.tcp.expect("tcp"),
            http: inner.http.expect("http"),
            inner,
            _dir: dir,
        }
    }

    /// nsqd on 127.0.0.1, registered with these lookupds.
    pub fn nsqd(lookupds: &[&Daemon], extra: &[&str]) -> Daemon {
        let dir = TempDir::new("nsqd");
        let mut args = vec![
            "--tcp-address=127.0.0.1:0".to_string(),
            "--http-address=127.0.0.1:0".to_string(),
            "--broadcast-address=127.0.0.1".to_string(),
            format!("--data-path={}", dir.0.display()),
        ];
        for l in lookupds {
            args.push(format!("--lookupd-tcp-address={}", l.tcp));
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Self::spawn("nsqd", &args, Some(dir))
    }

    /// nsqlookupd on 127.0.0.1.
    pub fn lookupd() -> Daemon {
        let args = [
            "--tcp-address=127.0.0.1:0".to_string(),
            "--http-address=127.0.0.1:0".to_string(),
            "--broadcast-address=127.0.0.1".to_string(),
        ];
        Self::spawn("nsqlookupd", &args, None)
    }

    pub fn log(&self) -> String {
        self.inner.log()
    }

    /// GET path on the HTTP port: (status, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        http("GET", self.http, path, b"")
    }

    /// POST path on the HTTP port: (status, body).
    pub fn post(&self, path: &str, body: &[u8]) -> (u16, String) {
        http("POST", self.http, path, body)
    }

    /// Publish over HTTP and require 200.
    pub fn publish(&self, topic: &str, body: &[u8]) {
        let (s, b) = self.post(&format!("/pub?topic={topic}"), body);
        assert_eq!(s, 200, "{b}");
    }

    /// Create a topic and a channel over HTTP.
    pub fn create_channel(&self, topic: &str, channel: &str) {
        let (s, b) = self.post(&format!("/topic/create?topic={topic}"), b"");
        assert_eq!(s, 200, "{b}");
        let (s, b) = self.post(
            &format!("/channel/create?topic={topic}&channel={channel}"),
            b"",
        );
        assert_eq!(s, 200, "{b}");
    }

    /// `/stats` as JSON.
    pub fn stats(&self) -> nsq_protocol::api::stats::Stats {
        let (s, b) = self.get("/stats?format=json");
        assert_eq!(s, 200, "{b}");
        serde_json::from_str(&b).unwrap_or_else(|e| panic!("{e}: {b}"))
    }

    /// (depth, in_flight, message_count, client_count) of a channel.
    pub fn channel(&self, topic: &str, channel: &str) -> Option<(i64, i64, u64, i64)> {
        let st = self.stats();
        let t = st.topics?.into_iter().find(|t| t.topic_name == topic)?;
        let c = t.channels.into_iter().find(|c| c.channel_name == channel)?;
        Some((c.depth, c.in_flight_count, c.message_count, c.client_count))
    }

    /// message_count of a topic.
    pub fn topic_count(&self, topic: &str) -> Option<u64> {
        let st = self.stats();
        st.topics?
            .into_iter()
            .find(|t| t.topic_name == topic)
            .map(|t| t.message_count)
    }

    /// SIGKILL-free stop: SIGTERM and a bounded wait.
    pub fn terminate(&mut self) {
        self.inner.signal(libc::SIGTERM);
        wait_exit(self.inner.child(), WAIT);
    }
}

/// One HTTP request to `addr`.
pub fn http(method: &str, addr: SocketAddr, path: &str, body: &[u8]) -> (u16, String) {
    let url = Url {
        host: addr.to_string(),
        path: path.to_string(),
    };
    // A slow GET on a loaded machine is retried (and reported) until WAIT;
    // the tools, not the daemons' HTTP, are under test here. A POST is sent
    // once (a retry could publish twice).
    let per_try = if method == "GET" {
        Duration::from_secs(5)
    } else {
        WAIT
    };
    let t = Timeouts {
        connect: per_try,
        request: per_try,
    };
    let deadline = Instant::now() + WAIT;
    loop {
        match httpc::request(method, &url, &[], body, t) {
            Ok(r) => return (r.status, String::from_utf8_lossy(&r.body).into_owned()),
            Err(e) if method == "GET" && Instant::now() < deadline => {
                eprintln!("retrying {method} {addr}{path}: {e}");
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// Send a signal to a child.
pub fn signal(child: &Child, sig: i32) {
    nsq_test_support::process::signal(child, sig);
}

/// Wait (bounded) for a child to exit; kill it and panic otherwise.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> ExitStatus {
    nsq_test_support::process::wait_exit(child, timeout).unwrap_or_else(|| {
        nsq_test_support::process::kill(child);
        panic!("process {} did not exit within {timeout:?}", child.id());
    })
}

/// Spawn tool `name` with `args`, stdout and stderr piped; stdin gets
/// `input` (then EOF) if given, else nothing.
pub fn spawn_tool(name: &str, args: &[String], input: Option<Vec<u8>>) -> Child {
    let mut child = Command::new(tool_bin(name))
        .args(args)
        .stdin(if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
    if let Some(data) = input {
        let mut stdin = child.stdin.take().expect("stdin");
        std::thread::spawn(move || {
            let _ = stdin.write_all(&data);
        });
    }
    child
}

/// A running tool with its stdout and stderr collected line by line.
pub struct Tool {
    pub child: Child,
    out: Lines,
    err: Lines,
    name: String,
}

impl Tool {
    /// Start `name` with `args`; stdin gets `input` (then EOF) if given.
    pub fn start(name: &str, args: &[String], input: Option<Vec<u8>>) -> Tool {
        let mut child = spawn_tool(name, args, input);
        let out = Lines::collect(child.stdout.take().expect("stdout"));
        let err = Lines::collect(child.stderr.take().expect("stderr"));
        Tool {
            child,
            out,
            err,
            name: name.to_string(),
        }
    }

    /// Run to completion (bounded): (status, stdout lines, stderr text).
    pub fn run(
        name: &str,
        args: &[String],
        input: Option<Vec<u8>>,
    ) -> (ExitStatus, Vec<String>, String) {
        let mut t = Tool::start(name, args, input);
        let status = t.wait(WAIT);
        t.drain();
        (status, t.stdout(), t.stderr())
    }

    /// After exit: wait (bounded) for the pipe readers to reach EOF.
    pub fn drain(&mut self) {
        self.out.wait_ended(WAIT);
        self.err.wait_ended(WAIT);
    }

    pub fn stdout(&self) -> Vec<String> {
        self.out.all()
    }

    pub fn stderr(&self) -> String {
        self.err.text()
    }

    pub fn wait(&mut self, timeout: Duration) -> ExitStatus {
        wait_exit(&mut self.child, timeout)
    }

    pub fn signal(&self, sig: i32) {
        signal(&self.child, sig);
    }
}

impl Drop for Tool {
    fn drop(&mut self) {
        nsq_test_support::process::kill(&mut self.child);
        if std::thread::panicking() {
            eprintln!(
                "---- {} stdout ----\n{}\n---- stderr ----\n{}",
                self.name,
                self.stdout().join("\n"),
                self.stderr()
            );
        }
    }
}

/// `args!["--a=b", x]` → Vec<String>.
#[macro_export]
macro_rules! args {
    ($($a:expr),* $(,)?) => { [$($a.to_string()),*] };
}

/// A request the test HTTP server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A tiny HTTP server recording requests; `status(n)` decides the answer to
/// the n-th request (0-based).
pub struct HttpSink {
    pub addr: SocketAddr,
    pub got: Arc<Mutex<Vec<Received>>>,
}

impl HttpSink {
    pub fn start(status: impl Fn(usize) -> u16 + Send + 'static) -> HttpSink {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            let mut n = 0usize;
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let _ = s.set_read_timeout(Some(WAIT));
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                let req = loop {
                    let mut hs = [httparse::EMPTY_HEADER; 32];
                    let mut r = httparse::Request::new(&mut hs);
                    if let Ok(httparse::Status::Complete(len)) = r.parse(&buf) {
                        let headers: Vec<(String, String)> = r
                            .headers
                            .iter()
                            .map(|h| {
                                (
                                    h.name.to_string(),
                                    String::from_utf8_lossy(h.value).into_owned(),
                                )
                            })
                            .collect();
                        let cl: usize = headers
                            .iter()
                            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                            .and_then(|(_, v)| v.parse().ok())
                            .unwrap_or(0);
                        if buf.len() >= len + cl {
                            break Some(Received {
                                method: r.method.unwrap_or("").to_string(),
                                target: r.path.unwrap_or("").to_string(),
                                headers,
                                body: buf[len..len + cl].to_vec(),
                            });
                        }
                    }
                    match std::io::Read::read(&mut s, &mut chunk) {
                        Ok(0) | Err(_) => break None,
                        Ok(k) => buf.extend_from_slice(&chunk[..k]),
                    }
                };
                let Some(req) = req else { continue };
                let code = status(n);
                n += 1;
                g.lock().unwrap().push(req);
                let _ = write!(
                    s,
                    "HTTP/1.1 {code} X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                );
            }
        });
        HttpSink { addr, got }
    }

    pub fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }
}
