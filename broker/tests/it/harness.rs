//! Test harness: start the real `nsqd` binary on 127.0.0.1 with a free port
//! (port 0, actual port read from its log), stop it by PID, and a small
//! blocking client that speaks the raw V2 protocol with bounded waits. The
//! process handling is `nsq_test_support`'s.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant};

use nsq_protocol::command::Request;
use nsq_protocol::frame::{decode_frame, Frame};
use nsq_protocol::{Decoded, MessageHeader, MessageId};
use nsq_test_support::{Daemon, Listen};

/// The `skip`-th topic name `<prefix><i>` owned by `shard` of 2 (the
/// broker's own ownership rule).
pub fn topic_on(prefix: &str, shard: usize, skip: usize) -> String {
    (0..)
        .map(|i| format!("{prefix}{i}"))
        .filter(|t| nsq_broker::owner_of(t, 2) == shard)
        .nth(skip)
        .expect("some name is owned by every shard")
}

/// A new, empty directory under the system temp dir.
pub fn fresh_data_dir() -> std::path::PathBuf {
    nsq_test_support::fresh_dir("nsqd-it")
}

/// Default bound for any wait in tests.
pub const WAIT: Duration = nsq_test_support::WAIT;

/// The nsqd binary of this package.
pub fn nsqd_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_nsqd"))
}

/// A running nsqd, killed on drop.
pub struct Nsqd {
    daemon: Daemon,
    /// TCP address it listens on.
    pub tcp: SocketAddr,
    /// HTTP address it listens on, if HTTP is on.
    pub http: Option<SocketAddr>,
    /// Its data directory (removed on drop).
    pub data_dir: std::path::PathBuf,
}

impl Nsqd {
    /// Start with 2 shards and extra flags.
    pub fn start(extra: &[&str]) -> Nsqd {
        let mut args = vec![
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            "--shards=2",
        ];
        // TLS tests start an HTTPS listener too: never on the fixed default port.
        if !extra.iter().any(|a| a.contains("https-address")) {
            args.push("--https-address=127.0.0.1:0");
        }
        args.extend_from_slice(extra);
        Self::start_raw(&args).expect("nsqd failed to start")
    }

    /// Start with exactly these flags (plus a fresh temporary `--data-path`
    /// unless one is given); Err(log) if it exits before listening.
    pub fn start_raw(args: &[&str]) -> Result<Nsqd, String> {
        let data_dir = fresh_data_dir();
        let data_flag = format!("--data-path={}", data_dir.display());
        let mut all: Vec<&str> = args.to_vec();
        if !args.iter().any(|a| a.contains("data-path")) {
            all.push(&data_flag);
        }
        // HTTP is on unless `--http-address=` (empty) is given.
        let http = !args
            .iter()
            .any(|a| *a == "--http-address=" || *a == "-http-address=");
        let want = Listen { tcp: true, http };
        let daemon = Daemon::start(nsqd_bin(), &all, want, WAIT).inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&data_dir);
        })?;
        Ok(Nsqd {
            tcp: daemon.tcp.expect("tcp address"),
            http: daemon.http,
            daemon,
            data_dir,
        })
    }

    /// [`Nsqd::start`] with at most `nofile` open descriptors (soft and
    /// hard limit, set by `sh`'s `ulimit -n` before it execs nsqd).
    pub fn start_with_fd_limit(nofile: u64, extra: &[&str]) -> Nsqd {
        let data_dir = fresh_data_dir();
        let script = format!("ulimit -n {nofile} && exec \"$0\" \"$@\"");
        let data_flag = format!("--data-path={}", data_dir.display());
        let nsqd = nsqd_bin().display().to_string();
        let mut args = vec![
            "-c",
            &script,
            &nsqd,
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            "--shards=2",
            &data_flag,
        ];
        args.extend_from_slice(extra);
        let daemon = Daemon::start(Path::new("/bin/sh"), &args, Listen::TCP_HTTP, WAIT)
            .expect("nsqd failed to start");
        Nsqd {
            tcp: daemon.tcp.expect("tcp address"),
            http: daemon.http,
            daemon,
            data_dir,
        }
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Log lines so far.
    pub fn log(&self) -> String {
        self.daemon.log()
    }

    /// Send SIGTERM and wait (bounded) for exit; returns the exit status.
    pub fn terminate(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon.terminate(WAIT)
    }

    /// Send `sig`.
    pub fn signal(&self, sig: i32) {
        self.daemon.signal(sig);
    }

    /// Wait (at most `within`) for it to exit by itself; its exit status.
    pub fn wait_exit(&mut self, within: Duration) -> Option<std::process::ExitStatus> {
        nsq_test_support::process::wait_exit(self.daemon.child(), within)
    }

    /// A connected client that sent the magic.
    pub fn connect(&self) -> Client {
        Client::connect(self.tcp)
    }
}

impl Drop for Nsqd {
    fn drop(&mut self) {
        self.daemon.kill();
        let _ = std::fs::remove_dir_all(&self.data_dir);
    }
}

/// An owned server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Got {
    /// Response frame text.
    Response(String),
    /// Error frame text.
    Error(String),
    /// A message.
    Message(Msg),
}

impl Got {
    /// An owned copy of a decoded frame.
    pub fn from_frame(frame: Frame<'_>) -> Got {
        match frame {
            Frame::Response(d) => Got::Response(String::from_utf8_lossy(d).into_owned()),
            Frame::Error(d) => Got::Error(String::from_utf8_lossy(d).into_owned()),
            Frame::Message(header, body) => Got::Message(Msg {
                header,
                body: body.to_vec(),
            }),
        }
    }

    /// Take the next whole frame off the front of `buf`, if one is there.
    pub fn take(buf: &mut Vec<u8>) -> Option<Got> {
        match decode_frame(buf, 64 << 20).expect("valid frame") {
            Decoded::Complete { value, consumed } => {
                let got = Got::from_frame(value);
                buf.drain(..consumed);
                Some(got)
            }
            Decoded::Incomplete => None,
        }
    }

    /// Whether this is a heartbeat (to answer with NOP).
    pub fn is_heartbeat(&self) -> bool {
        matches!(self, Got::Response(r) if r == "_heartbeat_")
    }
}

/// A received message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// Header.
    pub header: MessageHeader,
    /// Body.
    pub body: Vec<u8>,
}

impl Msg {
    /// The ID.
    pub fn id(&self) -> MessageId {
        self.header.id
    }
}

/// A blocking raw-protocol client.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Answer heartbeats with NOP automatically.
    pub auto_nop: bool,
}

impl Client {
    /// Connect and send the magic.
    pub fn connect(addr: SocketAddr) -> Client {
        let mut c = Self::connect_raw(addr);
        c.send_bytes(b"  V2");
        c
    }

    /// Connect without sending anything.
    pub fn connect_raw(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_nodelay(true).unwrap();
        Client {
            stream,
            buf: Vec::new(),
            auto_nop: true,
        }
    }

    /// A second handle on the socket (to write from another thread).
    pub fn try_clone_stream(&self) -> TcpStream {
        self.stream.try_clone().expect("clone socket")
    }

    /// Write raw bytes.
    pub fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Shut down the write side (a half-close): the server reads EOF.
    pub fn shutdown_write(&mut self) {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .expect("shutdown");
    }

    /// Write one command.
    pub fn send(&mut self, req: Request<'_>) {
        let mut out = Vec::new();
        req.encode(&mut out);
        self.send_bytes(&out);
    }

    /// Read the next frame (heartbeats answered and skipped when auto_nop),
    /// `None` on EOF; panics after `timeout`.
    pub fn next_within(&mut self, timeout: Duration) -> Option<Got> {
        match self.try_next_within(timeout) {
            Some(got) => got,
            None => panic!("no frame within {timeout:?}"),
        }
    }

    /// Like [`Client::next_within`], but `None` (instead of a panic) when
    /// nothing arrives within `timeout`; `Some(None)` on EOF.
    pub fn try_next_within(&mut self, timeout: Duration) -> Option<Option<Got>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(got) = Got::take(&mut self.buf) {
                if self.auto_nop && got.is_heartbeat() {
                    self.send(Request::Nop);
                    continue;
                }
                return Some(Some(got));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => return Some(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return None
                }
                Err(_) => return Some(None),
            }
        }
    }

    /// Next frame within [`WAIT`].
    pub fn next(&mut self) -> Option<Got> {
        self.next_within(WAIT)
    }

    /// Expect a response frame with `text`.
    pub fn expect_response(&mut self, text: &str) {
        assert_eq!(self.next(), Some(Got::Response(text.into())));
    }

    /// Expect an error frame with `text`.
    pub fn expect_error(&mut self, text: &str) {
        assert_eq!(self.next(), Some(Got::Error(text.into())));
    }

    /// Expect a message.
    pub fn expect_message(&mut self) -> Msg {
        match self.next() {
            Some(Got::Message(m)) => m,
            other => panic!("expected a message, got {other:?}"),
        }
    }

    /// Expect the server to close the connection (EOF) within [`WAIT`].
    pub fn expect_closed(&mut self) {
        assert_eq!(self.next(), None, "expected the connection to be closed");
    }

    /// Assert nothing (but heartbeats, answered when `auto_nop`) arrives for `d`.
    pub fn expect_silence(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        loop {
            while let Decoded::Complete { value, consumed } =
                decode_frame(&self.buf, 64 << 20).expect("valid frame")
            {
                assert_eq!(value, Frame::Response(b"_heartbeat_"), "expected silence");
                self.buf.drain(..consumed);
                if self.auto_nop {
                    self.send(Request::Nop);
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            self.stream.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("connection closed while expecting silence"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    return
                }
                Err(e) => panic!("read error while expecting silence: {e}"),
            }
        }
    }

    /// IDENTIFY with a JSON body; returns the reply.
    pub fn identify(&mut self, json: &str) -> Got {
        self.send(Request::Identify(json.as_bytes()));
        self.next().expect("IDENTIFY reply")
    }

    /// PUB and expect OK.
    pub fn publish(&mut self, topic: &str, body: &[u8]) {
        self.send(Request::Pub(topic, body));
        self.expect_response("OK");
    }

    /// PUB `<prefix><i>` to `topic` for each `i` of `range`, each answered
    /// OK.
    pub fn publish_numbered(&mut self, topic: &str, prefix: &str, range: std::ops::Range<usize>) {
        for i in range {
            self.publish(topic, format!("{prefix}{i}").as_bytes());
        }
    }

    /// SUB and expect OK.
    pub fn subscribe(&mut self, topic: &str, channel: &str) {
        self.send(Request::Sub(topic, channel));
        self.expect_response("OK");
    }

    /// Wait until `f` holds, bounded by [`WAIT`].
    pub fn wait_until(mut f: impl FnMut() -> bool) {
        let every = Duration::from_millis(10);
        nsq_test_support::poll(
            "a condition",
            WAIT,
            every,
            || f().then_some(()),
            String::new,
        );
    }
}

/// One HTTP request with `body` on a fresh connection; returns (status, body).
pub fn http_with_body(nsqd: &Nsqd, method: &str, target: &str, body: &[u8]) -> (u16, String) {
    let addr = nsqd.http.expect("http");
    let r = nsq_test_support::http::request(addr, method, target, &[], body, WAIT);
    (r.status, r.body)
}

/// One HTTP request on a fresh connection; returns (status, body).
pub fn http(nsqd: &Nsqd, method: &str, target: &str) -> (u16, String) {
    http_with_body(nsqd, method, target, b"")
}

/// POST and expect 200.
pub fn post(nsqd: &Nsqd, target: &str) {
    let (status, body) = http(nsqd, "POST", target);
    assert_eq!(status, 200, "{target}: {body}");
}

/// Create `topic` and its channel `channel` over HTTP.
pub fn create_channel(nsqd: &Nsqd, topic: &str, channel: &str) {
    post(nsqd, &format!("/topic/create?topic={topic}"));
    post(
        nsqd,
        &format!("/channel/create?topic={topic}&channel={channel}"),
    );
}

/// `/stats` as JSON (without clients).
pub fn stats(nsqd: &Nsqd) -> serde_json::Value {
    serde_json::from_str(&http(nsqd, "GET", "/stats?format=json&include_clients=false").1).unwrap()
}

/// A topic's `/stats` JSON entry, or one of its channels'; None if it does
/// not exist.
pub fn stats_of(nsqd: &Nsqd, topic: &str, channel: Option<&str>) -> Option<serde_json::Value> {
    let s = stats(nsqd);
    let t = s["topics"]
        .as_array()?
        .iter()
        .find(|t| t["topic_name"] == topic)?
        .clone();
    match channel {
        None => Some(t),
        Some(c) => t["channels"]
            .as_array()?
            .iter()
            .find(|x| x["channel_name"] == c)
            .cloned(),
    }
}

/// Start (2 shards) on the data directory `dir` with extra flags.
pub fn start_on(dir: &std::path::Path) -> Nsqd {
    start_on_with(dir, &[])
}

/// Start (2 shards) on the data directory `dir` with extra flags.
pub fn start_on_with(dir: &std::path::Path, extra: &[&str]) -> Nsqd {
    let flag = format!("--data-path={}", dir.display());
    let mut args = vec![flag.as_str()];
    args.extend_from_slice(extra);
    Nsqd::start(&args)
}

/// A directory removed (recursively) on drop.
pub struct TempDir(nsq_test_support::TempDir);

impl TempDir {
    /// A fresh empty directory.
    pub fn new() -> TempDir {
        TempDir(nsq_test_support::TempDir::new("nsqd-it"))
    }

    /// Its path.
    pub fn path(&self) -> &std::path::Path {
        self.0.path()
    }
}

/// Poll `f` (every 20 ms, bounded by `within`) until it returns `want`;
/// panics with the last value otherwise.
pub fn wait_for_value<T: PartialEq + std::fmt::Debug>(
    what: &str,
    within: Duration,
    want: T,
    mut f: impl FnMut() -> T,
) {
    let deadline = Instant::now() + within;
    loop {
        let got = f();
        if got == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: still {got:?} after {within:?}, want {want:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
