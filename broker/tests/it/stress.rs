//! Randomized stress runs with a fixed seed (xorshift; `STRESS_SEED=<u64>`
//! picks another one, printed at the start of each test):
//! - mixed PUB/MPUB/DPUB load from pipelining producers (every answer `OK`,
//!   in order), each publishing to topics on both shards, consumed on two
//!   channels per topic (some shared by two consumers) with random RDY, FIN,
//!   REQ, TOUCH, held messages (some FINed after their timeout) and abrupt
//!   reconnects (msg_timeout 1 s): every channel gets every acknowledged
//!   body and FINs it exactly once, a redelivery always carries a higher
//!   attempt count, /stats drains to zero and counts every message once;
//! - garbage and abrupt disconnects (random bytes, bad magic, truncated and
//!   oversized commands, invalid names, RDY out of range, half MPUBs, RSTs,
//!   HTTP junk) while a healthy PUB→SUB flow keeps going without errors; nsqd
//!   stays alive and answers /ping;
//! - hundreds of short-lived `#ephemeral` consumers on both shards: no
//!   ephemeral channel or topic left in /stats, descriptors back to the start.
//!
//! Every wait is bounded.

use std::collections::{HashMap, HashSet};
use std::io::ErrorKind::{TimedOut, WouldBlock};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nsq_broker::owner_of;
use nsq_protocol::command::Request;
use nsq_protocol::MessageId;

use crate::harness::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The run's seed: `STRESS_SEED` or a fixed default.
fn seed(test: &str) -> u64 {
    let s = std::env::var("STRESS_SEED").map(|s| s.parse().expect("STRESS_SEED: a u64"));
    let s: u64 = s.unwrap_or(0x5EED_CAFE_2024);
    eprintln!("{test}: seed {s} (rerun with STRESS_SEED={s})");
    s
}

/// xorshift64* PRNG.
struct Rng(u64);

impl Rng {
    /// Stream `stream` of `seed` (multiplying by an odd constant is a bijection).
    fn new(seed: u64, stream: u64) -> Rng {
        let x = seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        Rng(x.wrapping_mul(0xBF58_476D_1CE4_E5B9).max(1))
    }
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi - lo + 1)
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    fn pick<T: Clone>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize].clone()
    }
    /// One of the `|`-separated `alternatives`.
    fn one_of(&mut self, alternatives: &str) -> String {
        self.pick(&alternatives.split('|').collect::<Vec<_>>())
            .to_string()
    }
    /// `lo..=hi` random bytes.
    fn bytes(&mut self, lo: u64, hi: u64) -> Vec<u8> {
        let n = self.range(lo, hi);
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A raw V2 connection whose reads time out instead of panicking, with an
/// output buffer flushed before every blocking read.
struct Conn {
    s: TcpStream,
    buf: Vec<u8>,
    out: Vec<u8>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let s = TcpStream::connect(addr).expect("connect");
        s.set_nodelay(true).unwrap();
        let (buf, out) = (Vec::new(), b"  V2".to_vec());
        Conn { s, buf, out }
    }
    fn cmd(&mut self, r: Request<'_>) {
        r.encode(&mut self.out);
    }
    fn flush(&mut self) {
        if !self.out.is_empty() {
            self.s.write_all(&self.out).expect("write");
            self.out.clear();
        }
    }
    /// The next frame within `t` (heartbeats answered), `None` on timeout;
    /// panics on EOF: these connections are never closed by the server.
    fn poll(&mut self, t: Duration) -> Option<Got> {
        let deadline = Instant::now() + t;
        loop {
            if let Some(got) = Got::take(&mut self.buf) {
                if got.is_heartbeat() {
                    self.cmd(Request::Nop);
                    continue;
                }
                return Some(got);
            }
            self.flush();
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.s.set_read_timeout(Some(left)).unwrap();
            let mut chunk = [0u8; 65536];
            match self.s.read(&mut chunk) {
                Ok(0) => panic!("the server closed a healthy connection"),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), WouldBlock | TimedOut) => return None,
                Err(e) => panic!("read on a healthy connection: {e}"),
            }
        }
    }
    /// The next frame within `t` if it is a message; panics on any other.
    fn message(&mut self, t: Duration) -> Option<Msg> {
        match self.poll(t)? {
            Got::Message(m) => Some(m),
            other => panic!("expected a message, got {other:?}"),
        }
    }
    fn expect(&mut self, text: &str) {
        match self.poll(WAIT) {
            Some(Got::Response(r)) if r == text => {}
            other => panic!("expected {text}, got {other:?}"),
        }
    }
}

/// One `GET` on a fresh HTTP connection: (status, body).
fn http(addr: SocketAddr, target: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect HTTP");
    s.set_read_timeout(Some(WAIT)).unwrap();
    write!(s, "GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n").unwrap();
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("HTTP answer");
    let status = raw.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = raw.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}

/// `/stats` as JSON: its list of topics.
fn stats(nsqd: &Nsqd) -> Vec<serde_json::Value> {
    let (status, body) = http(nsqd.http.expect("HTTP"), "/stats?format=json");
    assert_eq!(status, 200, "/stats: {body}");
    let s: serde_json::Value = serde_json::from_str(&body).expect("/stats JSON");
    serde_json::from_value(s["topics"].clone()).expect("topics")
}

/// Topic `name` in `stats`.
fn topic<'a>(stats: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    let found = stats.iter().find(|t| t["topic_name"] == name);
    found.unwrap_or_else(|| panic!("{name} not in /stats"))
}

fn fd_count(pid: u32) -> usize {
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(dir).unwrap().count()
}

/// Whether `pid` is still running (not gone, not a zombie).
fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rsplit_once(") ").map(|(_, r)| &r[..1]);
    state.is_some_and(|s| s != "Z")
}

/// Close with RST (SO_LINGER 0) instead of FIN.
fn reset(s: TcpStream) {
    let l = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    let len = std::mem::size_of::<libc::linger>() as libc::socklen_t;
    // SAFETY: setsockopt on a descriptor we own, with a correctly sized linger.
    unsafe {
        let (fd, ptr) = (s.as_raw_fd(), (&l as *const libc::linger).cast());
        libc::setsockopt(fd, libc::SOL_SOCKET, libc::SO_LINGER, ptr, len);
    }
}

/// Join every thread, re-raising the first panic.
fn join_all<T>(hs: Vec<JoinHandle<T>>) -> Vec<T> {
    let join = |h: JoinHandle<T>| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e));
    hs.into_iter().map(join).collect()
}

/// Poll `problems` until it reports none; fail with its last report after `limit`.
fn settle<I: IntoIterator<Item = String>>(limit: Duration, mut problems: impl FnMut() -> I) {
    let deadline = Instant::now() + limit;
    loop {
        let p: Vec<String> = problems().into_iter().collect();
        if p.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "after {limit:?}: {p:?}");
        thread::sleep(ms(20));
    }
}

// ---------------------------------------------------------------- mixed load

const CHANNELS: [&str; 2] = ["a", "b"];
const TOPICS: usize = 6;
const COMMANDS_PER_PRODUCER: usize = 200;
/// `FIN` of an ID that never exists: its `E_FIN_FAILED` answer proves that
/// every command written before it was processed.
const BARRIER: MessageId = MessageId(u64::MAX);

/// What the consumers of one channel saw, by body.
#[derive(Default)]
struct ChanLog {
    /// Attempt counts of every delivery.
    seen: HashMap<Vec<u8>, Vec<u16>>,
    /// FINs sent minus FINs refused with `E_FIN_FAILED`.
    fins: HashMap<Vec<u8>, i64>,
}

#[derive(Default)]
struct Shared {
    /// By `2 * topic + channel`.
    logs: [Mutex<ChanLog>; 2 * TOPICS],
    subscribed: AtomicUsize,
    /// Stop REQ, holds and reconnects: FIN everything.
    drain: AtomicBool,
    /// Sync with a barrier and leave.
    quit: AtomicBool,
    /// Deliveries, redeliveries, reconnects, refused FINs.
    counts: [AtomicU64; 4],
}

/// Send `COMMANDS_PER_PRODUCER` random PUB/MPUB/DPUB in pipelined batches
/// to topics on both shards; returns the acknowledged bodies per topic.
fn produce(addr: SocketAddr, topics: &[String], id: u64, mut rng: Rng) -> Vec<Vec<Vec<u8>>> {
    let mut c = Conn::open(addr);
    // Its own topic on each shard (0..3 on shard 0, 3..6 on shard 1) and one more.
    let mine = [id as usize % 3, 3 + id as usize % 3, rng.below(6) as usize];
    let (mut acked, mut seq, mut sent) = (vec![Vec::new(); topics.len()], 0, 0);
    while sent < COMMANDS_PER_PRODUCER {
        let n = (rng.range(1, 8) as usize).min(COMMANDS_PER_PRODUCER - sent);
        let mut batch = Vec::new();
        for _ in 0..n {
            let (t, kind) = (rng.pick(&mine), rng.below(4));
            let count = if kind == 1 { rng.range(1, 50) } else { 1 };
            let mut body = || {
                seq += 1;
                let pad = "x".repeat(rng.below(64) as usize);
                format!("p{id}-{seq}-{pad}").into_bytes()
            };
            let bodies: Vec<Vec<u8>> = (0..count).map(|_| body()).collect();
            let refs: Vec<&[u8]> = bodies.iter().map(|b| &b[..]).collect();
            c.cmd(match kind {
                1 => Request::Mpub(&topics[t], &refs),
                2 => Request::Dpub(&topics[t], rng.below(301), refs[0]),
                _ => Request::Pub(&topics[t], refs[0]),
            });
            batch.push((t, bodies));
        }
        c.flush();
        for (i, (t, bodies)) in batch.into_iter().enumerate() {
            match c.poll(WAIT) {
                Some(Got::Response(r)) if r == "OK" => acked[t].extend(bodies),
                other => panic!("producer {id}: answer {i} of {n}: {other:?}"),
            }
        }
        sent += n;
        if rng.pct(30) {
            thread::sleep(ms(rng.below(15)));
        }
    }
    acked
}

/// Consume `topic`/`CHANNELS[at % 2]` until told to quit: FIN most, REQ
/// some, TOUCH some, hold a few (some FINed too late), and disconnect
/// abruptly up to twice leaving messages in flight (after a barrier, so that
/// the FIN accounting is exact).
fn consume(addr: SocketAddr, topic: &str, at: usize, mut rng: Rng, sh: &Shared) {
    let (channel, log) = (CHANNELS[at % 2], &sh.logs[at]);
    let mut reconnects = rng.range(0, 2);
    loop {
        // Magic, IDENTIFY, SUB and RDY in one write: RDY must survive the handoff.
        let (mut c, mut rdy) = (Conn::open(addr), rng.range(1, 200));
        c.cmd(Request::Identify(br#"{"msg_timeout":1000}"#));
        c.cmd(Request::Sub(topic, channel));
        c.cmd(Request::Rdy(rdy));
        c.expect("OK");
        c.expect("OK");
        sh.subscribed.fetch_add(1, Relaxed);
        let crash_after = (reconnects > 0).then(|| rng.range(20, 300));
        let (mut received, mut holds, mut barrier, mut crashing) = (0, 0, false, false);
        let mut fin_sent = HashMap::new();
        let mut late: Vec<(Instant, MessageId, Vec<u8>)> = Vec::new();
        loop {
            let (drain, quit) = (sh.drain.load(Relaxed), sh.quit.load(Relaxed));
            // FIN some held messages after their timeout (refused unless still
            // ours), but never after a barrier: its answer ends the accounting.
            while !barrier && late.first().is_some_and(|(due, ..)| *due < Instant::now()) {
                let (_, id, body) = late.remove(0);
                *log.lock().unwrap().fins.entry(body.clone()).or_default() += 1;
                fin_sent.insert(id, body);
                c.cmd(Request::Fin(id));
            }
            if !barrier && (quit || (!drain && crash_after == Some(received))) {
                c.cmd(Request::Fin(BARRIER));
                (barrier, crashing) = (true, !quit);
            }
            match c.poll(ms(50)) {
                None => {}
                Some(Got::Message(m)) => {
                    received += 1;
                    let (id, a) = (m.id(), m.header.attempts);
                    sh.counts[0].fetch_add(1, Relaxed);
                    sh.counts[1].fetch_add(u64::from(a > 1), Relaxed);
                    let mut l = log.lock().unwrap();
                    let seen = l.seen.entry(m.body.clone()).or_default();
                    let body = String::from_utf8_lossy(&m.body);
                    let again =
                        format!("{topic}/{channel}: {body} again, attempts {a} after {seen:?}");
                    assert!(a >= 1 && !seen.contains(&a), "{again}");
                    seen.push(a);
                    let r = rng.below(100);
                    if crashing {
                        // Left in flight on purpose.
                    } else if !drain && !quit && r < 12 {
                        c.cmd(Request::Req(id, rng.below(201)));
                    } else if !drain && !quit && r < 14 && holds < 2 && rdy >= 10 {
                        // Not answered in time: times out after 1 s.
                        holds += 1;
                        if rng.pct(50) {
                            late.push((Instant::now() + ms(1500), id, m.body));
                        }
                    } else {
                        if r >= 92 {
                            c.cmd(Request::Touch(id));
                        }
                        *l.fins.entry(m.body.clone()).or_default() += 1;
                        fin_sent.insert(id, m.body);
                        c.cmd(Request::Fin(id));
                    }
                    if rng.pct(2) {
                        rdy = rng.range(1, 200);
                        c.cmd(Request::Rdy(rdy));
                    }
                }
                Some(Got::Error(e)) if e.starts_with("E_FIN_FAILED ") => {
                    let hex = e.split(' ').nth(2).unwrap_or_default();
                    let id = MessageId::from_hex(hex.as_bytes()).expect("ID in E_FIN_FAILED");
                    if id == BARRIER {
                        break;
                    }
                    sh.counts[3].fetch_add(1, Relaxed);
                    let body = fin_sent.get(&id).unwrap_or_else(|| panic!("{e}: not ours"));
                    *log.lock().unwrap().fins.get_mut(body).unwrap() -= 1;
                }
                Some(Got::Error(e))
                    if e.starts_with("E_REQ_FAILED ") || e.starts_with("E_TOUCH_FAILED ") => {}
                Some(other) => panic!("{topic}/{channel}: unexpected {other:?}"),
            }
        }
        if !crashing {
            return;
        }
        // Abrupt disconnect with unanswered messages in flight and unread.
        reconnects -= 1;
        sh.counts[2].fetch_add(1, Relaxed);
        reset(c.s);
        thread::sleep(ms(rng.below(100)));
    }
}

/// Topics (and their two channels) with a depth, in-flight or deferred count.
fn unclean(nsqd: &Nsqd, topics: &[String]) -> Vec<String> {
    let (s, mut bad) = (stats(nsqd), Vec::new());
    for t in topics {
        let chans = topic(&s, t)["channels"].as_array().unwrap();
        if chans.len() != CHANNELS.len() || topic(&s, t)["depth"] != 0 {
            bad.push(format!(
                "{t}: depth {}, {} channels",
                topic(&s, t)["depth"],
                chans.len()
            ));
        }
        for c in chans {
            for k in ["depth", "in_flight_count", "deferred_count"] {
                if c[k] != 0 {
                    bad.push(format!("{t}/{}: {k} {}", c["channel_name"], c[k]));
                }
            }
        }
    }
    bad
}

#[test]
fn mixed_load_across_shards_loses_and_duplicates_nothing() {
    let (seed, start) = (seed("mixed_load"), Instant::now());
    let nsqd = Nsqd::start(&[]);
    let (addr, n, sh) = (nsqd.tcp, TOPICS, Arc::new(Shared::default()));
    let topics: Vec<String> = (0..n).map(|i| topic_on("mix", i / 3, i % 3)).collect();
    // One consumer per channel, and a second one on channel "a" of every other topic.
    let slots: Vec<usize> = (0..2 * n).chain((0..2 * n).step_by(4)).collect();
    let consumers: Vec<_> = (slots.iter().enumerate())
        .map(|(i, &at)| {
            let (sh, topic) = (sh.clone(), topics[at / 2].clone());
            let rng = Rng::new(seed, 100 + i as u64);
            thread::spawn(move || consume(addr, &topic, at, rng, &sh))
        })
        .collect();
    Client::wait_until(|| sh.subscribed.load(Relaxed) >= slots.len());
    let producers: Vec<_> = (0..8)
        .map(|id| {
            let (ts, rng) = (topics.clone(), Rng::new(seed, id));
            thread::spawn(move || produce(addr, &ts, id, rng))
        })
        .collect();
    let mut expected = vec![HashSet::new(); n];
    for acked in join_all(producers) {
        for (t, bodies) in acked.into_iter().enumerate() {
            expected[t].extend(bodies);
        }
    }
    let produced_in = start.elapsed();
    let published: usize = expected.iter().map(HashSet::len).sum();
    let name = |at: usize| format!("{}/{}", topics[at / 2], CHANNELS[at % 2]);
    let died = || consumers.iter().any(|h| h.is_finished());
    // Every acknowledged body FINed (for all we know yet) on every channel ...
    settle(Duration::from_secs(15), || {
        assert!(!died(), "a consumer died");
        let not_fined = |at: usize| {
            let l = sh.logs[at].lock().unwrap();
            let fined = |b: &&Vec<u8>| l.fins.get(*b).is_some_and(|&f| f >= 1);
            expected[at / 2].iter().filter(|b| !fined(b)).count()
        };
        let report = |at| format!("{}: {} not FINed", name(at), not_fined(at));
        (0..2 * n)
            .filter(|&at| not_fined(at) > 0)
            .map(report)
            .collect::<Vec<_>>()
    });
    // ... then FIN what refused late FINs brought back, until /stats is empty.
    sh.drain.store(true, Relaxed);
    settle(WAIT, || {
        assert!(!died(), "a consumer died");
        unclean(&nsqd, &topics)
    });
    sh.quit.store(true, Relaxed);
    join_all(consumers);

    for (at, log) in sh.logs.iter().enumerate() {
        let (l, ch) = (log.lock().unwrap(), name(at));
        for body in &expected[at / 2] {
            let b = String::from_utf8_lossy(body);
            assert!(l.seen.contains_key(body), "{ch}: {b} never delivered");
            let attempts = &l.seen[body];
            assert_eq!(l.fins[body], 1, "{ch}: {b} FINed, attempts {attempts:?}");
        }
        let extra = l.seen.keys().find(|b| !expected[at / 2].contains(*b));
        assert_eq!(extra, None, "{ch}: delivered, never published");
    }
    assert_eq!(unclean(&nsqd, &topics), Vec::<String>::new());
    let s = stats(&nsqd);
    for (t, exp) in topics.iter().zip(&expected) {
        assert_eq!(topic(&s, t)["message_count"], exp.len(), "{t}");
    }
    let [deliveries, again, reconnects, refused] = sh.counts.each_ref().map(|c| c.load(Relaxed));
    eprintln!(
        "mixed_load: {published} messages to {n} topics in {produced_in:?}, {deliveries} \
         deliveries ({again} again), {reconnects} reconnects, {refused} FINs refused, \
         done in {:?}",
        start.elapsed()
    );
}

// ------------------------------------------------------------------- garbage

/// One short connection that misbehaves in a random way, then goes away
/// (half the time with RST).
fn misbehave(nsqd: &Nsqd, h: &str, rng: &mut Rng) {
    let kind = rng.below(10);
    let long = "n".repeat(rng.range(65, 300) as usize);
    let mut w = if matches!(kind, 1 | 9) {
        vec![]
    } else {
        b"  V2".to_vec()
    };
    match kind {
        0 => w.extend(rng.bytes(1, 3000)),
        1 => w.extend(rng.bytes(0, 8)), // Bad or partial magic.
        2 | 3 => {
            // A body cut short (so never published), or of an absurd size.
            let cmd = rng.one_of(&format!("PUB {h}|DPUB {h} 5|MPUB x|IDENTIFY|AUTH"));
            let size = match kind {
                2 => rng.range(2, 500) as u32,
                _ => rng.pick(&[u32::MAX, 1 << 31, (1 << 31) - 1, 50 << 20, 0]),
            };
            w.extend(format!("{cmd}\n").as_bytes());
            w.extend(size.to_be_bytes());
            w.extend(rng.bytes(0, u64::from(size).clamp(1, 500) - 1));
        }
        4 => {
            let bad = rng.one_of(&format!(
                "PUB bad!t|PUB {long}|SUB {long} c|SUB {h} bad/c|SUB a#ephemeral#ephemeral c|PUB |SUB a"
            ));
            w.extend(format!("{bad}\n\0\0\0\x03abc").as_bytes());
        }
        5 => {
            let fin = "FIN 0123456789abcdef\nTOUCH 0123456789abcdef\nREQ short 1\n";
            let fin = if rng.pct(50) { fin } else { "" };
            let rdy = rng.one_of("2501|99999999999999999999999|-1|x|1 2|");
            w.extend(format!("SUB garbage g{}\n{fin}RDY {rdy}\n", rng.below(3)).as_bytes());
        }
        6 => {
            // Half-written MPUB to the healthy topic: declared size 0 or 1 byte
            // more than the bodies, and always cut short of it.
            let count = rng.range(2, 20) as u32;
            let mut body = count.to_be_bytes().to_vec();
            for i in 0..count {
                body.extend([0, 0, 0, 5]);
                body.extend(format!("half{i}").as_bytes());
            }
            let declared = body.len() as u64 + rng.range(0, 1);
            w.extend(format!("MPUB {h}\n").as_bytes());
            w.extend((declared as u32).to_be_bytes());
            w.extend(&body[..rng.below(declared).min(body.len() as u64) as usize]);
        }
        7 => {
            let junk = "\n\n\n|NOP\nNOP\nFOO bar\n|IDENTIFY\n\0\0\0\x03{x}|CLS\n|pub x\n";
            w.extend(rng.one_of(junk).as_bytes());
            w.extend(rng.bytes(0, 49));
        }
        8 => {} // Magic only, then gone.
        _ => {
            let reqs = format!(
                "POST /pub?topic={h} HTTP/1.1\r\nContent-Length: 1000000\r\n\r\nab|\
                 GET /{long}{long}{long} HTTP/1.1\r\n\r\n|GET /stats HTTP/1.1\r\nX: y\r\n|\
                 BREW /coffee HTTP/1.1\r\n\r\n|GET /ping HTTP/1.1\r\nTransfer-Encoding: \
                 chunked\r\n\r\nzz\r\n|POST /mpub?topic=x&binary=true HTTP/1.1\r\n\
                 Content-Length: 8\r\n\r\n\x7f\x7f\x7f\x7f\0\0\0\x01|"
            );
            w.extend(rng.one_of(&reqs).as_bytes());
            w.extend(rng.bytes(0, 299));
        }
    }
    let to = [nsqd.tcp, nsqd.http.unwrap()][usize::from(kind == 9)];
    let mut s = TcpStream::connect(to).expect("connect");
    // Write in pieces; the server may close early (fatal error).
    for piece in w.chunks(rng.range(1, 2000) as usize) {
        if s.write_all(piece).is_err() {
            break;
        }
    }
    if rng.pct(30) {
        s.set_read_timeout(Some(ms(rng.range(1, 30)))).unwrap();
        let _ = s.read(&mut [0u8; 4096]);
    }
    if rng.pct(50) {
        reset(s);
    }
}

#[test]
fn garbage_and_abrupt_disconnects_never_disturb_other_clients() {
    let (seed, start) = (seed("garbage"), Instant::now());
    let nsqd = Arc::new(Nsqd::start(&[]));
    let (healthy, pid) = (topic_on("healthy", 1, 0), nsqd.pid());
    let vandals: Vec<_> = (0..3)
        .map(|i| {
            let (nsqd, healthy, mut rng) = (nsqd.clone(), healthy.clone(), Rng::new(seed, 10 + i));
            thread::spawn(move || (0..150).for_each(|_| misbehave(&nsqd, &healthy, &mut rng)))
        })
        .collect();
    // Meanwhile a healthy producer and consumer keep going, with progress in
    // every 3 s window, until the vandals are done and every message is in.
    let (mut p, mut c) = (Conn::open(nsqd.tcp), Conn::open(nsqd.tcp));
    let mut rng = Rng::new(seed, 1);
    c.cmd(Request::Sub(&healthy, "ch"));
    c.cmd(Request::Rdy(50));
    c.expect("OK");
    let (mut published, mut received, mut since) = (0, 0, Instant::now());
    loop {
        let done = vandals.iter().all(|h| h.is_finished());
        if done && received == published {
            break;
        }
        assert!(alive(pid), "nsqd exited:\n{}", nsqd.log());
        assert!(since.elapsed() < ms(3000), "stuck at {received}");
        assert!(start.elapsed() < ms(15000), "vandals too slow");
        let batch = if done { 0 } else { rng.range(1, 4) };
        for n in published + 1..=published + batch {
            p.cmd(Request::Pub(&healthy, format!("h{n}").as_bytes()));
        }
        (0..batch).for_each(|_| p.expect("OK"));
        published += batch;
        while let Some(m) = c.message(ms(2)) {
            received += 1;
            assert_eq!(m.body, format!("h{received}").as_bytes());
            c.cmd(Request::Fin(m.id()));
            since = Instant::now();
        }
    }
    join_all(vandals);
    assert_eq!(http(nsqd.http.unwrap(), "/ping"), (200, "OK".to_string()));
    // Both shards serve a fresh client; no cut-short publish reached the topic.
    nsqd.connect().publish(&topic_on("healthy", 0, 0), b"after");
    let count = topic(&stats(&nsqd), &healthy)["message_count"].clone();
    assert_eq!(count, published, "{healthy}");
    eprintln!(
        "garbage: {published} through 450 vandals in {:?}",
        start.elapsed()
    );
}

// ----------------------------------------------------------- ephemeral churn

/// Two rounds of 25 consumers at once on shared and private ephemeral
/// channels of `topics`, some leaving before the answer to SUB (maybe
/// mid-handoff), others after taking messages; returns the peak of nsqd's
/// descriptors.
fn churn(addr: SocketAddr, topics: &[String], pid: u32, mut rng: Rng) -> usize {
    let mut peak = 0;
    for _round in 0..2 {
        let mut open = Vec::new();
        for _ in 0..25 {
            let mut c = Conn::open(addr);
            let ch = format!("c{}#ephemeral", rng.below(6));
            c.cmd(Request::Sub(&rng.pick(topics), &ch));
            c.cmd(Request::Rdy(rng.range(0, 20)));
            c.flush();
            match rng.below(10) {
                0 => reset(c.s),
                1 => {}
                _ => {
                    c.expect("OK");
                    open.push(c);
                }
            }
        }
        peak = peak.max(fd_count(pid));
        for c in &mut open {
            // Take (and FIN some of) what arrives; the rest stays in flight.
            while let Some(m) = c.message(ms(rng.below(3))) {
                if rng.pct(50) {
                    c.cmd(Request::Fin(m.id()));
                }
            }
        }
        for c in open.into_iter().filter(|_| rng.pct(50)) {
            reset(c.s);
        }
    }
    peak
}

#[test]
fn many_connections_and_ephemeral_churn() {
    let seed = seed("churn");
    let nsqd = Nsqd::start(&[]);
    let (addr, pid) = (nsqd.tcp, nsqd.pid());
    let owned_by = |shard| {
        let mut names = (0..).map(|i| format!("echurn{i}#ephemeral"));
        names.find(|t| owner_of(t, 2) == shard).unwrap()
    };
    let durable = [topic_on("churn", 0, 0), topic_on("churn", 1, 0)];
    let mut all = durable.to_vec();
    all.extend([owned_by(0), owned_by(1)]);
    // Warm every path up (and see /stats list ephemeral channels while they
    // have consumers), then take the descriptor baseline.
    let mut warm: Vec<Client> = all.iter().map(|_| nsqd.connect()).collect();
    for (c, t) in warm.iter_mut().zip(&all) {
        c.subscribe(t, "warm#ephemeral");
        c.publish(&durable[0], b"warm");
    }
    let s = stats(&nsqd);
    for t in &all {
        let channel = &topic(&s, t)["channels"][0]["channel_name"];
        assert_eq!(channel, "warm#ephemeral");
    }
    drop(warm);
    thread::sleep(ms(200));
    let base = fd_count(pid);

    let workers: Vec<_> = (0..8)
        .map(|i| {
            let (all, rng) = (all.clone(), Rng::new(seed, 20 + i));
            thread::spawn(move || churn(addr, &all, pid, rng))
        })
        .collect();
    let (mut p, mut n) = (Conn::open(addr), 0);
    while !workers.iter().all(|h| h.is_finished()) {
        n += 1;
        p.cmd(Request::Pub(&durable[n % 2], format!("m{n}").as_bytes()));
        p.expect("OK");
        thread::sleep(ms(1));
    }
    let peak = join_all(workers).into_iter().max().unwrap();
    drop(p);

    settle(WAIT, || {
        let mut left = Vec::new();
        for t in stats(&nsqd) {
            let chans = t["channels"].as_array().unwrap().iter();
            let chans = chans.map(|c| format!("{}/{}", t["topic_name"], c["channel_name"]));
            left.extend([t["topic_name"].to_string()].into_iter().chain(chans));
        }
        left.retain(|name| name.contains("#ephemeral"));
        left
    });
    settle(WAIT, || {
        assert!(alive(pid));
        let now = fd_count(pid);
        (now > base + 4).then(|| format!("{now} descriptors, {base} before"))
    });
    let after = fd_count(pid);
    eprintln!("churn: descriptors {base} before, {peak} at peak, {after} after");
}
