//! nsqd with the real `nsqlookupd` binary (docs/lookupd.md,
//! docs/clients.md#discovery): registration and unregistration, channel
//! pre-creation for a new topic, reconnection after a lookupd restart, lookupd
//! peers changed at run time, the broadcast flags, and a cluster of two
//! lookupds and three nsqd that tokio-nsq and pynsq consumers discover through
//! lookupd while nodes stop and restart.
//!
//! nsqlookupd is built by another package of the workspace: it is expected
//! next to the nsqd binary (`cargo build --workspace --bins`, which
//! `scripts/test.sh` runs first).

use std::collections::{BTreeSet, HashSet};
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use nsq_protocol::command::Request;
use serde_json::Value;

use crate::harness::*;
use nsq_test_support::{free_port, Daemon, Listen};

// ------------------------------------------------------------------ helpers

/// The nsqlookupd binary, next to nsqd.
fn lookupd_bin() -> PathBuf {
    nsq_test_support::sibling_bin(nsqd_bin(), "nsqlookupd")
}

/// Poll `cond` every 50 ms until it returns `Some`, at most `timeout`;
/// panics with `what` and the last `describe()` otherwise.
fn wait_for<T>(
    what: &str,
    timeout: Duration,
    cond: impl FnMut() -> Option<T>,
    describe: impl Fn() -> String,
) -> T {
    nsq_test_support::poll(what, timeout, Duration::from_millis(50), cond, describe)
}

/// One HTTP/1.1 request on a fresh connection: (status, body).
fn http(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let accept = [("Accept", "application/vnd.nsq; version=1.0")];
    let r = nsq_test_support::http::request(addr, method, path, &accept, body, WAIT);
    (r.status, r.body)
}

/// `http` and require a 200.
fn http_ok(addr: SocketAddr, method: &str, path: &str, body: &[u8]) -> String {
    let (status, text) = http(addr, method, path, body);
    assert_eq!(status, 200, "{method} {addr}{path}: {text}");
    text
}

/// A JSON body, unwrapping a legacy `data` envelope if there is one.
fn parse_json(text: &str) -> Value {
    let v: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    match v.get("data") {
        Some(inner) if v.get("status_code").is_some() => inner.clone(),
        _ => v,
    }
}

/// A running nsqlookupd, killed on drop (its log printed if the test fails).
pub(super) struct Lookupd {
    daemon: Daemon,
    pub(super) tcp: SocketAddr,
    http: SocketAddr,
}

impl Lookupd {
    /// On 127.0.0.1, ports chosen by the kernel.
    pub(super) fn start() -> Lookupd {
        Self::start_on(0, 0)
    }

    /// On 127.0.0.1 with these ports (0: any), broadcast address 127.0.0.1.
    fn start_on(tcp_port: u16, http_port: u16) -> Lookupd {
        let args = [
            format!("--tcp-address=127.0.0.1:{tcp_port}"),
            format!("--http-address=127.0.0.1:{http_port}"),
            "--broadcast-address=127.0.0.1".to_string(),
        ];
        let daemon = Daemon::start(&lookupd_bin(), &args, Listen::TCP_HTTP, WAIT)
            .unwrap_or_else(|log| panic!("nsqlookupd {args:?} did not start:\n{log}"));
        Lookupd {
            tcp: daemon.tcp.expect("tcp"),
            http: daemon.http.expect("http"),
            daemon,
        }
    }

    /// The process ID.
    fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// SIGTERM and a bounded wait for the exit.
    fn terminate(&mut self) {
        if self.daemon.terminate(WAIT).is_none() {
            self.daemon.kill();
            panic!("nsqlookupd did not exit within {WAIT:?} of SIGTERM");
        }
    }

    fn http_url(&self) -> String {
        format!("http://{}", self.http)
    }

    fn post(&self, path: &str) {
        http_ok(self.http, "POST", path, b"");
    }

    fn get(&self, path: &str) -> Value {
        parse_json(&http_ok(self.http, "GET", path, b""))
    }

    /// `/lookup?topic=`; None on 404 (no registration at all).
    fn lookup(&self, topic: &str) -> Option<Value> {
        let (status, body) = http(self.http, "GET", &format!("/lookup?topic={topic}"), b"");
        match status {
            200 => Some(parse_json(&body)),
            404 => None,
            s => panic!("/lookup?topic={topic}: {s} {body}"),
        }
    }

    /// Producers `/lookup?topic=` returns (empty on 404).
    pub(super) fn producers(&self, topic: &str) -> Vec<Value> {
        self.lookup(topic)
            .and_then(|v| v["producers"].as_array().cloned())
            .unwrap_or_default()
    }

    /// The producer of `topic` with this TCP port, if listed.
    fn producer(&self, topic: &str, tcp_port: u16) -> Option<Value> {
        self.producers(topic)
            .into_iter()
            .find(|p| p["tcp_port"] == tcp_port)
    }

    /// Channels `/lookup?topic=` lists.
    fn lookup_channels(&self, topic: &str) -> BTreeSet<String> {
        strings(&self.lookup(topic).unwrap_or(Value::Null)["channels"])
    }

    /// `/channels?topic=`.
    fn channels(&self, topic: &str) -> BTreeSet<String> {
        strings(&self.get(&format!("/channels?topic={topic}"))["channels"])
    }

    /// `/nodes` producers.
    fn nodes(&self) -> Vec<Value> {
        self.get("/nodes")["producers"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// The `/nodes` entry with this TCP port.
    pub(super) fn node(&self, tcp_port: u16) -> Option<Value> {
        self.nodes().into_iter().find(|p| p["tcp_port"] == tcp_port)
    }

    /// The producers `/debug` lists for `<category>:<key>:<subkey>`
    /// (None when the registration does not exist).
    fn debug_producers(&self, registration: &str) -> Option<usize> {
        self.get("/debug")
            .get(registration)
            .map(|v| v.as_array().map_or(0, Vec::len))
    }

    /// The topics a node has registered (empty if the node is not listed).
    fn node_topics(&self, tcp_port: u16) -> BTreeSet<String> {
        self.node(tcp_port)
            .map(|n| strings(&n["topics"]))
            .unwrap_or_default()
    }

    fn state(&self) -> String {
        let (_, nodes) = http(self.http, "GET", "/nodes", b"");
        let (_, debug) = http(self.http, "GET", "/debug", b"");
        format!("lookupd {}: /nodes {nodes} /debug {debug}", self.http)
    }
}

/// The strings of a JSON array.
fn strings(v: &Value) -> BTreeSet<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A data directory that outlives nsqd restarts, removed on drop.
struct DataDir(nsq_test_support::TempDir);

impl DataDir {
    fn new() -> DataDir {
        DataDir(nsq_test_support::TempDir::new("nsqd-it"))
    }
}

/// Start nsqd on `ip` (ports 0: any) with broadcast address `ip`, 2 shards,
/// these lookupds and data directory.
fn start_nsqd(ip: &str, ports: (u16, u16), lookupds: &[&Lookupd], data: &DataDir) -> Nsqd {
    let mut args = vec![
        format!("--tcp-address={ip}:{}", ports.0),
        format!("--http-address={ip}:{}", ports.1),
        format!("--broadcast-address={ip}"),
        "--shards=2".to_string(),
        format!("--data-path={}", data.0.path().display()),
    ];
    args.extend(
        lookupds
            .iter()
            .map(|l| format!("--lookupd-tcp-address={}", l.tcp)),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Nsqd::start_raw(&refs).unwrap_or_else(|log| panic!("nsqd {args:?} did not start:\n{log}"))
}

/// nsqd on 127.0.0.1 announcing to these lookupds, with extra flags.
pub(super) fn nsqd_with(lookupds: &[&Lookupd], extra: &[&str]) -> Nsqd {
    let mut args = vec!["--broadcast-address=127.0.0.1".to_string()];
    args.extend(
        lookupds
            .iter()
            .map(|l| format!("--lookupd-tcp-address={}", l.tcp)),
    );
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    Nsqd::start(&refs)
}

fn nsqd_http(n: &Nsqd) -> SocketAddr {
    n.http.expect("nsqd HTTP is on")
}

/// Channel names of `topic` in nsqd's `/stats`.
fn nsqd_channels(n: &Nsqd, topic: &str) -> Vec<(String, i64)> {
    let v = parse_json(&http_ok(
        nsqd_http(n),
        "GET",
        &format!("/stats?format=json&topic={topic}"),
        b"",
    ));
    v["topics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| t["topic_name"] == topic)
        .flat_map(|t| t["channels"].as_array().cloned().unwrap_or_default())
        .map(|c| {
            (
                c["channel_name"].as_str().unwrap_or_default().to_string(),
                c["depth"].as_i64().unwrap_or(-1),
            )
        })
        .collect()
}

/// Wait until lookupd lists nsqd `n` (by TCP port) as a node.
fn wait_node(l: &Lookupd, tcp_port: u16, timeout: Duration) {
    wait_for(
        &format!("lookupd {} to list the nsqd on TCP port {tcp_port}", l.http),
        timeout,
        || l.node(tcp_port).map(|_| ()),
        || l.state(),
    );
}

/// Wait until lookupd lists `n` as a producer of every topic and every
/// (topic, channel) of `want`, as seen by `/lookup` and `/debug`.
fn wait_registered(l: &Lookupd, tcp_port: u16, want: &[(&str, &[&str])], timeout: Duration) {
    wait_for(
        &format!(
            "lookupd {} to list the nsqd on port {tcp_port} for {want:?}",
            l.http
        ),
        timeout,
        || {
            want.iter()
                .all(|(topic, channels)| {
                    l.producer(topic, tcp_port).is_some()
                        && channels.iter().all(|c| {
                            l.lookup_channels(topic).contains(*c)
                                && l.debug_producers(&format!("channel:{topic}:{c}"))
                                    .is_some_and(|n| n > 0)
                        })
                })
                .then_some(())
        },
        || l.state(),
    );
}

// -------------------------------------------------------------------- tests

/// PUB and SUB register the topic and channel with lookupd, with
/// nsqd's broadcast address and ports; `/nodes` lists its topics; an
/// ephemeral channel is forgotten when its last consumer leaves; nsqd's
/// `/channel/delete` and `/topic/delete` send UNREGISTER.
#[test]
fn nsqd_registers_topics_and_channels_and_unregisters_on_delete() {
    let l = Lookupd::start();
    let mut n = nsqd_with(&[&l], &[]);
    let (tcp_port, http_port) = (n.tcp.port(), nsqd_http(&n).port());
    wait_node(&l, tcp_port, WAIT);

    let mut p = n.connect();
    p.publish("reg_t", b"first");
    let mut c = n.connect();
    c.subscribe("reg_t", "reg_c");
    wait_registered(&l, tcp_port, &[("reg_t", &["reg_c"])], WAIT);

    let producer = l.producer("reg_t", tcp_port).unwrap();
    assert_eq!(producer["broadcast_address"], "127.0.0.1", "{producer}");
    assert_eq!(producer["tcp_port"], tcp_port, "{producer}");
    assert_eq!(producer["http_port"], http_port, "{producer}");
    assert_eq!(producer["version"], "1.3.0", "{producer}");
    assert!(
        producer["remote_address"]
            .as_str()
            .is_some_and(|a| a.starts_with("127.0.0.1:")),
        "{producer}"
    );
    assert!(
        producer["hostname"].as_str().is_some_and(|h| !h.is_empty()),
        "{producer}"
    );
    assert_eq!(l.producers("reg_t").len(), 1, "{}", l.state());

    let node = l.node(tcp_port).unwrap();
    assert_eq!(node["broadcast_address"], "127.0.0.1", "{node}");
    assert_eq!(node["http_port"], http_port, "{node}");
    assert_eq!(strings(&node["topics"]), BTreeSet::from(["reg_t".into()]));
    assert_eq!(l.channels("reg_t"), BTreeSet::from(["reg_c".into()]));

    // Ephemeral channel: registered while it has a consumer, forgotten
    // (UNREGISTER, then lookupd drops the emptied ephemeral key) when the
    // last consumer leaves.
    let mut e = n.connect();
    e.subscribe("reg_t", "eph#ephemeral");
    wait_for(
        "the ephemeral channel registered",
        WAIT,
        || l.channels("reg_t").contains("eph#ephemeral").then_some(()),
        || l.state(),
    );
    drop(e);
    wait_for(
        "the ephemeral channel forgotten after its consumer left",
        WAIT,
        || (!l.channels("reg_t").contains("eph#ephemeral")).then_some(()),
        || l.state(),
    );
    assert!(l.channels("reg_t").contains("reg_c"), "{}", l.state());

    // nsqd /channel/delete → UNREGISTER reg_t reg_c: the channel
    // registration has no producer left; the topic one keeps nsqd.
    http_ok(
        nsqd_http(&n),
        "POST",
        "/channel/delete?topic=reg_t&channel=reg_c",
        b"",
    );
    c.expect_closed();
    wait_for(
        "channel:reg_t:reg_c without producers",
        WAIT,
        || {
            l.debug_producers("channel:reg_t:reg_c")
                .is_none_or(|n| n == 0)
                .then_some(())
        },
        || l.state(),
    );
    assert!(l.producer("reg_t", tcp_port).is_some(), "{}", l.state());

    // nsqd /topic/delete → UNREGISTER reg_t: no producer for the topic,
    // and the node no longer lists it.
    http_ok(nsqd_http(&n), "POST", "/topic/delete?topic=reg_t", b"");
    wait_for(
        "reg_t without producers",
        WAIT,
        || l.producers("reg_t").is_empty().then_some(()),
        || l.state(),
    );
    wait_for(
        "the node without reg_t",
        WAIT,
        || (!l.node_topics(tcp_port).contains("reg_t")).then_some(()),
        || l.state(),
    );
    // Still a node (IDENTIFY'd, connected).
    assert!(l.node(tcp_port).is_some(), "{}", l.state());
    // A new PUB registers it again.
    p.publish("reg_t", b"again");
    wait_registered(&l, tcp_port, &[("reg_t", &[])], WAIT);

    // SIGTERM closes the lookupd connection: lookupd drops the node.
    drop((p, c));
    let status = n.terminate().expect("nsqd exits on SIGTERM");
    assert!(status.success(), "{status}");
    wait_for(
        "lookupd to drop the stopped nsqd",
        WAIT,
        || (l.node(tcp_port).is_none() && l.producers("reg_t").is_empty()).then_some(()),
        || l.state(),
    );
}

/// An ephemeral topic deleted with its last (ephemeral) channel
/// when the last consumer leaves is unregistered, and lookupd forgets it
/// entirely.
#[test]
fn ephemeral_topic_is_forgotten_when_its_last_consumer_leaves() {
    let l = Lookupd::start();
    let n = nsqd_with(&[&l], &[]);
    let port = n.tcp.port();
    let mut c = n.connect();
    c.subscribe("et#ephemeral", "ec#ephemeral");
    wait_for(
        "et#ephemeral registered",
        WAIT,
        || l.producer("et%23ephemeral", port).map(|_| ()),
        || l.state(),
    );
    assert!(strings(&l.get("/topics")["topics"]).contains("et#ephemeral"));
    wait_for(
        "ec#ephemeral registered",
        WAIT,
        || (l.channels("et%23ephemeral") == BTreeSet::from(["ec#ephemeral".into()])).then_some(()),
        || l.state(),
    );
    drop(c);
    wait_for(
        "lookupd to forget et#ephemeral",
        WAIT,
        || {
            (!strings(&l.get("/topics")["topics"]).contains("et#ephemeral")
                && l.lookup("et%23ephemeral").is_none())
            .then_some(())
        },
        || l.state(),
    );
    assert!(
        !l.node_topics(port).contains("et#ephemeral"),
        "{}",
        l.state()
    );
}

/// A lookupd that accepts connections but never answers
/// (SIGSTOP) must not hold back delivery on topics created meanwhile for
/// long: NSQ bounds the channel query by --http-client-request-timeout
/// (5 s), each new topic independently.
#[test]
fn hung_lookupd_does_not_hold_new_topics_back() {
    let l = Lookupd::start();
    let n = nsqd_with(&[&l], &[]);
    wait_node(&l, n.tcp.port(), WAIT);
    // SAFETY: kill(2) on our own child's PID (SIGKILL on drop still works).
    unsafe {
        libc::kill(l.pid() as i32, libc::SIGSTOP);
    }
    struct Cont(u32);
    impl Drop for Cont {
        fn drop(&mut self) {
            // SAFETY: as above.
            unsafe {
                libc::kill(self.0 as i32, libc::SIGCONT);
            }
        }
    }
    let _cont = Cont(l.pid());
    let t0 = Instant::now();
    let topics: Vec<String> = (0..4).map(|i| format!("hung_t{i}")).collect();
    let mut p = n.connect();
    let mut consumers = Vec::new();
    for t in &topics {
        let mut c = n.connect();
        c.subscribe(t, "c");
        c.send(Request::Rdy(1));
        consumers.push(c);
        p.publish(t, t.as_bytes());
    }
    let published = t0.elapsed();
    for (t, c) in topics.iter().zip(&mut consumers) {
        let m = c.next_within(Duration::from_secs(30));
        match m {
            Some(Got::Message(m)) => assert_eq!(m.body, t.as_bytes()),
            other => panic!("{t}: {other:?}"),
        }
        eprintln!("{t}: delivered {:?} after the first PUB", t0.elapsed());
    }
    let all = t0.elapsed();
    assert!(
        all < Duration::from_secs(10),
        "with lookupd hung, the 4 new topics were delivered only after {all:?} \
         (publishes answered within {published:?})"
    );
}

/// A topic new to nsqd first creates the (non-ephemeral) channels
/// lookupd knows, so a consumer that subscribes later gets the messages
/// published before it came.
#[test]
fn new_topic_precreates_the_channels_lookupd_knows() {
    let l = Lookupd::start();
    let l2 = Lookupd::start();
    l.post("/channel/create?topic=pre_t&channel=pre");
    l.post("/channel/create?topic=pre_t&channel=skip%23ephemeral");
    // A channel only the second lookupd knows: the answers are united.
    l2.post("/channel/create?topic=pre_t&channel=pre2");
    assert_eq!(
        l.channels("pre_t"),
        BTreeSet::from(["pre".into(), "skip#ephemeral".into()])
    );
    let n = nsqd_with(&[&l, &l2], &[]);
    // Connected (IDENTIFY done) before the topic is created.
    wait_node(&l, n.tcp.port(), WAIT);
    wait_node(&l2, n.tcp.port(), WAIT);

    let mut p = n.connect();
    for i in 0..5 {
        p.publish("pre_t", format!("pre-{i}").as_bytes());
    }
    // The channels exist with the 5 messages each (not left at the topic
    // for whichever channel comes first); the ephemeral one was not created.
    wait_for(
        "channels pre and pre2 with depth 5 on nsqd",
        WAIT,
        || {
            let mut got = nsqd_channels(&n, "pre_t");
            got.sort();
            (got == vec![("pre".to_string(), 5), ("pre2".to_string(), 5)]).then_some(())
        },
        || format!("{:?}", nsqd_channels(&n, "pre_t")),
    );
    // Another channel subscribed first must not take them.
    let mut other = n.connect();
    other.subscribe("pre_t", "late");
    other.send(Request::Rdy(10));
    let mut c = n.connect();
    c.subscribe("pre_t", "pre");
    c.send(Request::Rdy(10));
    let mut got = BTreeSet::new();
    for _ in 0..5 {
        let m = c.expect_message();
        c.send(Request::Fin(m.id()));
        got.insert(String::from_utf8(m.body).unwrap());
    }
    let want: BTreeSet<String> = (0..5).map(|i| format!("pre-{i}")).collect();
    assert_eq!(got, want);
    other.expect_silence(Duration::from_millis(300));
    // nsqd registered the pre-created channel as its own.
    for l in [&l, &l2] {
        wait_registered(
            l,
            n.tcp.port(),
            &[("pre_t", &["pre", "pre2", "late"])],
            WAIT,
        );
    }
}

/// lookupd restarted on the same ports gets every topic and channel
/// again (the PING every 15 s reconnects); while it is down nsqd keeps
/// accepting publishes, creating topics and delivering.
#[test]
fn nsqd_registers_everything_again_after_lookupd_restarts() {
    let (tcp_port, http_port) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let mut l = Lookupd::start_on(tcp_port, http_port);
    let n = nsqd_with(&[&l], &[]);
    let port = n.tcp.port();
    let mut p = n.connect();
    p.publish("rc_plain", b"x");
    p.publish("rc_chan", b"before");
    let mut c = n.connect();
    c.subscribe("rc_chan", "rc_c");
    c.send(Request::Rdy(100));
    let m = c.expect_message();
    assert_eq!(m.body, b"before");
    c.send(Request::Fin(m.id()));
    wait_registered(&l, port, &[("rc_plain", &[]), ("rc_chan", &["rc_c"])], WAIT);

    l.terminate();
    // lookupd down: publishing, delivery and new topics carry on promptly.
    let t0 = Instant::now();
    p.publish("rc_chan", b"during");
    let m = c.expect_message();
    assert_eq!(m.body, b"during");
    c.send(Request::Fin(m.id()));
    p.publish("rc_new", b"new-during");
    let mut c2 = n.connect();
    c2.subscribe("rc_new", "rc_c2");
    c2.send(Request::Rdy(10));
    let m = c2.expect_message();
    assert_eq!(m.body, b"new-during");
    c2.send(Request::Fin(m.id()));
    assert!(
        t0.elapsed() < Duration::from_secs(3),
        "publish/deliver while lookupd is down took {:?}",
        t0.elapsed()
    );

    let l = Lookupd::start_on(tcp_port, http_port);
    let t1 = Instant::now();
    wait_registered(
        &l,
        port,
        &[
            ("rc_plain", &[]),
            ("rc_chan", &["rc_c"]),
            ("rc_new", &["rc_c2"]),
        ],
        Duration::from_secs(20),
    );
    eprintln!("re-registered {:?} after the lookupd restart", t1.elapsed());
    // And it keeps working.
    p.publish("rc_chan", b"after");
    let m = c.expect_message();
    assert_eq!(m.body, b"after");
}

/// An nsqd that did nothing while lookupd was down registers again
/// within ~20 s of lookupd's restart (PING interval 15 s).
#[test]
fn idle_nsqd_registers_again_within_20s_of_a_lookupd_restart() {
    let (tcp_port, http_port) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let mut l = Lookupd::start_on(tcp_port, http_port);
    let n = nsqd_with(&[&l], &[]);
    let port = n.tcp.port();
    let mut c = n.connect();
    c.subscribe("idle_t", "idle_c");
    wait_registered(&l, port, &[("idle_t", &["idle_c"])], WAIT);

    l.terminate();
    let l = Lookupd::start_on(tcp_port, http_port);
    let t1 = Instant::now();
    wait_registered(
        &l,
        port,
        &[("idle_t", &["idle_c"])],
        Duration::from_secs(20),
    );
    eprintln!("re-registered {:?} after the lookupd restart", t1.elapsed());
}

/// `PUT /config/nsqlookupd_tcp_addresses` connects new lookupds
/// (registering everything) and closes removed ones (lookupd drops nsqd).
#[test]
fn lookupd_addresses_changed_at_run_time() {
    let l1 = Lookupd::start();
    let l2 = Lookupd::start();
    let n = nsqd_with(&[&l1], &[]);
    let (port, h) = (n.tcp.port(), nsqd_http(&n));
    let mut p = n.connect();
    p.publish("cfg_t", b"x");
    let mut c = n.connect();
    c.subscribe("cfg_t", "cfg_c");
    wait_registered(&l1, port, &[("cfg_t", &["cfg_c"])], WAIT);
    assert!(l2.node(port).is_none());

    let both = serde_json::json!([l1.tcp.to_string(), l2.tcp.to_string()]);
    let answer = http_ok(
        h,
        "PUT",
        "/config/nsqlookupd_tcp_addresses",
        both.to_string().as_bytes(),
    );
    assert_eq!(parse_json(&answer), both);
    assert_eq!(
        parse_json(&http_ok(h, "GET", "/config/nsqlookupd_tcp_addresses", b"")),
        both
    );
    wait_registered(&l2, port, &[("cfg_t", &["cfg_c"])], WAIT);
    assert!(l1.producer("cfg_t", port).is_some());

    // Remove l1: its connection is closed, so l1 drops the producer.
    let only2 = serde_json::json!([l2.tcp.to_string()]);
    http_ok(
        h,
        "PUT",
        "/config/nsqlookupd_tcp_addresses",
        only2.to_string().as_bytes(),
    );
    wait_for(
        "l1 to drop the nsqd",
        WAIT,
        || (l1.node(port).is_none() && l1.producers("cfg_t").is_empty()).then_some(()),
        || l1.state(),
    );
    // New topics now go to l2 only.
    p.publish("cfg_t2", b"y");
    wait_registered(&l2, port, &[("cfg_t2", &[])], WAIT);
    assert!(l1.producers("cfg_t2").is_empty(), "{}", l1.state());
    assert!(l2.producer("cfg_t", port).is_some(), "{}", l2.state());

    // Empty list: no lookupd at all; publishing still works.
    http_ok(h, "PUT", "/config/nsqlookupd_tcp_addresses", b"[]");
    wait_for(
        "l2 to drop the nsqd",
        WAIT,
        || l2.node(port).is_none().then_some(()),
        || l2.state(),
    );
    p.publish("cfg_t3", b"z");
    p.publish("cfg_t", b"w");
    c.send(Request::Rdy(10));
    let got: BTreeSet<Vec<u8>> = (0..2).map(|_| c.expect_message().body).collect();
    assert_eq!(got, BTreeSet::from([b"x".to_vec(), b"w".to_vec()]));
}

/// `--broadcast-tcp-port` and `--broadcast-http-port` are what
/// nsqd tells lookupd (and so what clients connect to).
#[test]
fn broadcast_ports_are_what_lookupd_reports() {
    let l = Lookupd::start();
    let n = nsqd_with(
        &[&l],
        &["--broadcast-tcp-port=4242", "--broadcast-http-port=4343"],
    );
    let mut p = n.connect();
    p.publish("bc_t", b"x");
    let producer = wait_for(
        "bc_t registered",
        WAIT,
        || l.producer("bc_t", 4242),
        || l.state(),
    );
    assert_eq!(producer["http_port"], 4343, "{producer}");
    assert_eq!(producer["broadcast_address"], "127.0.0.1", "{producer}");
    let node = l.node(4242).expect("node");
    assert_eq!(node["http_port"], 4343, "{node}");
    assert!(
        l.producers("bc_t")
            .iter()
            .all(|p| p["tcp_port"] != n.tcp.port()),
        "{}",
        l.state()
    );
}

// ------------------------------------------------------------ the cluster

/// Bodies received by a consumer (unique set and total count).
#[derive(Default)]
struct Received {
    unique: HashSet<String>,
    total: usize,
}

type Shared = Arc<Mutex<Received>>;

/// A tokio-nsq consumer discovering nsqd through the lookupds, on its own
/// thread and runtime; stops when `stop` is set.
fn tokio_lookupd_consumer(
    lookupds: Vec<String>,
    topic: &str,
    channel: &str,
    got: Shared,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    use tokio_nsq::{
        NSQChannel, NSQConfigShared, NSQConsumerConfig, NSQConsumerConfigSources,
        NSQConsumerLookupConfig, NSQEvent, NSQTopic,
    };
    let (topic, channel) = (topic.to_string(), channel.to_string());
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        rt.block_on(async {
            let mut consumer = NSQConsumerConfig::new(
                NSQTopic::new(topic.as_str()).expect("topic"),
                NSQChannel::new(channel.as_str()).expect("channel"),
            )
            .set_max_in_flight(60)
            .set_shared(
                NSQConfigShared::new()
                    .set_backoff_max_wait(Duration::from_secs(1))
                    .set_backoff_healthy_after(Duration::from_secs(2)),
            )
            .set_rebalance_interval(Duration::from_millis(500))
            .set_sources(NSQConsumerConfigSources::Lookup(
                NSQConsumerLookupConfig::new()
                    .set_poll_interval(Duration::from_millis(500))
                    .set_addresses(lookupds.into_iter().collect()),
            ))
            .build();
            while !stop.load(Ordering::Relaxed) {
                let event =
                    tokio::time::timeout(Duration::from_millis(200), consumer.consume()).await;
                if let Ok(Some(NSQEvent::Message(m))) = event {
                    {
                        let mut g = got.lock().unwrap();
                        g.unique
                            .insert(String::from_utf8_lossy(&m.body).into_owned());
                        g.total += 1;
                    }
                    m.finish().await;
                }
            }
        });
        rt.shutdown_timeout(Duration::from_secs(2));
    })
}

/// The pynsq Reader script, its `MSG <body>` lines counted into `got`.
struct PyReader {
    child: Child,
    output: Arc<Mutex<String>>,
}

impl PyReader {
    fn spawn(lookupds: &[String], topic: &str, channel: &str, got: Shared) -> PyReader {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
        let script = dir.join("pynsq_lookupd_reader.py");
        assert!(script.is_file(), "missing {}", script.display());
        let mut cmd = Command::new("python3");
        cmd.arg(&script)
            .args([
                "--topic",
                topic,
                "--channel",
                channel,
                "--poll-interval",
                "1",
            ])
            .args(["--timeout", "240"])
            .current_dir(&dir)
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("PYTHONUNBUFFERED", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for l in lookupds {
            cmd.args(["--lookupd-http-address", l]);
        }
        let mut child = cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); run scripts/install-test-deps.sh")
        });
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let out2 = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(body) = line.strip_prefix("MSG ") {
                    let mut g = got.lock().unwrap();
                    g.unique.insert(body.to_string());
                    g.total += 1;
                } else {
                    out2.lock().unwrap().push_str(&format!("{line}\n"));
                }
            }
        });
        let out3 = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                out3.lock().unwrap().push_str(&format!("{line}\n"));
            }
        });
        PyReader { child, output }
    }

    /// Fails if the script exited (3: pynsq missing).
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "pynsq reader exited early ({status}; 3 = pynsq not installed, run \
                 scripts/install-test-deps.sh):\n{}",
                self.output.lock().unwrap_or_else(PoisonError::into_inner)
            );
        }
    }
}

impl Drop for PyReader {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "---- pynsq reader output ----\n{}",
                self.output.lock().unwrap_or_else(PoisonError::into_inner)
            );
        }
    }
}

/// Publish `count` bodies `<tag>-<i>` to `topic` on `n` with MPUB batches.
fn publish_batch(n: &Nsqd, topic: &str, tag: &str, count: usize, all: &mut BTreeSet<String>) {
    let bodies: Vec<String> = (0..count).map(|i| format!("{tag}-{i:04}")).collect();
    let mut c = n.connect();
    for chunk in bodies.chunks(50) {
        let refs: Vec<&[u8]> = chunk.iter().map(|b| b.as_bytes()).collect();
        c.send(Request::Mpub(topic, &refs));
        c.expect_response("OK");
    }
    all.extend(bodies);
}

/// Wait until both consumers have every published body.
fn wait_all_consumed(
    phase: &str,
    all: &BTreeSet<String>,
    consumers: &[(&str, &Shared)],
    py: &mut PyReader,
    timeout: Duration,
) {
    let missing = |got: &Shared| -> Vec<String> {
        let g = got.lock().unwrap();
        all.iter()
            .filter(|b| !g.unique.contains(*b))
            .cloned()
            .collect()
    };
    wait_for(
        &format!(
            "{phase}: every one of {} bodies at both consumers",
            all.len()
        ),
        timeout,
        || {
            py.check_alive();
            consumers
                .iter()
                .all(|(_, got)| missing(got).is_empty())
                .then_some(())
        },
        || {
            consumers
                .iter()
                .map(|(name, got)| {
                    let m = missing(got);
                    let g = got.lock().unwrap();
                    format!(
                        "{name}: {} unique of {} ({} deliveries), {} missing, e.g. {:?}",
                        g.unique.len(),
                        all.len(),
                        g.total,
                        m.len(),
                        &m[..m.len().min(5)]
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        },
    );
    for (name, got) in consumers {
        let g = got.lock().unwrap();
        let extra: Vec<_> = g.unique.iter().filter(|b| !all.contains(*b)).collect();
        assert!(extra.is_empty(), "{name}: unexpected bodies {extra:?}");
        eprintln!(
            "{phase}: {name} has all {} bodies ({} deliveries)",
            all.len(),
            g.total
        );
    }
}

/// Issue 5: two lookupds and three nsqd (127.0.0.1, ports of their own); tokio-nsq and
/// pynsq consumers find every nsqd through lookupd and get every message
/// published to each. Then one nsqd restarts (same data and ports), one
/// lookupd stops, another nsqd restarts, and nothing is lost (at least
/// once: unique bodies counted).
#[test]
fn cluster_of_two_lookupds_and_three_nsqd_with_real_consumers() {
    const TOPIC: &str = "cluster_t";
    const PER: usize = 200;
    let mut l1 = Lookupd::start();
    let l2 = Lookupd::start();
    // Both consumers' channels are known to lookupd before any nsqd has the
    // topic: every nsqd creates them with the topic
    // (docs/lookupd.md#channel-pre-creation), so neither consumer misses what
    // was published before it connected.
    l1.post(&format!("/channel/create?topic={TOPIC}&channel=tokio"));
    l1.post(&format!("/channel/create?topic={TOPIC}&channel=pynsq"));

    let ips = ["127.0.0.1"; 3];
    let dirs: Vec<DataDir> = ips.iter().map(|_| DataDir::new()).collect();
    let mut nodes: Vec<Nsqd> = ips
        .iter()
        .zip(&dirs)
        .map(|(ip, d)| start_nsqd(ip, (0, 0), &[&l1, &l2], d))
        .collect();
    for n in &nodes {
        wait_node(&l1, n.tcp.port(), WAIT);
        wait_node(&l2, n.tcp.port(), WAIT);
    }

    let mut all = BTreeSet::new();
    for (i, n) in nodes.iter().enumerate() {
        publish_batch(n, TOPIC, &format!("p1-n{i}"), PER, &mut all);
        // The announcer creates them right after the PUB (asynchronously;
        // the messages wait at the topic until then).
        let names = || {
            nsqd_channels(n, TOPIC)
                .into_iter()
                .map(|(c, _)| c)
                .collect::<BTreeSet<_>>()
        };
        wait_for(
            &format!("nsqd {i} to pre-create both channels"),
            WAIT,
            || (names() == BTreeSet::from(["pynsq".into(), "tokio".into()])).then_some(()),
            || format!("{:?}", nsqd_channels(n, TOPIC)),
        );
    }
    for l in [&l1, &l2] {
        for n in &nodes {
            wait_registered(l, n.tcp.port(), &[(TOPIC, &["tokio", "pynsq"])], WAIT);
        }
        for p in l.producers(TOPIC) {
            let addr = p["broadcast_address"].as_str().unwrap();
            let node = nodes
                .iter()
                .find(|n| n.tcp.port() == p["tcp_port"])
                .expect("a known nsqd");
            assert_eq!(addr, node.tcp.ip().to_string(), "{p}");
        }
    }

    let lookupd_urls = vec![l1.http_url(), l2.http_url()];
    let tokio_got = Shared::default();
    let py_got = Shared::default();
    let stop = Arc::new(AtomicBool::new(false));
    let tokio_thread = tokio_lookupd_consumer(
        lookupd_urls.clone(),
        TOPIC,
        "tokio",
        tokio_got.clone(),
        stop.clone(),
    );
    struct StopOnDrop(Arc<AtomicBool>);
    impl Drop for StopOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::Relaxed);
        }
    }
    let _stopper = StopOnDrop(stop.clone());
    let mut py = PyReader::spawn(&lookupd_urls, TOPIC, "pynsq", py_got.clone());
    let consumers = [("tokio-nsq", &tokio_got), ("pynsq", &py_got)];

    wait_all_consumed(
        "phase 1",
        &all,
        &consumers,
        &mut py,
        Duration::from_secs(60),
    );

    // Phase 2: nsqd 1 stops (SIGTERM) and comes back on the same data
    // directory and ports; the others keep receiving meanwhile.
    let restart = |nodes: &mut Vec<Nsqd>, i: usize, lookupds: &[&Lookupd]| {
        let (tcp, http) = (nodes[i].tcp.port(), nsqd_http(&nodes[i]).port());
        let status = nodes[i].terminate().expect("nsqd exits on SIGTERM");
        assert!(status.success(), "nsqd {i} exit status {status}");
        nodes[i] = start_nsqd(ips[i], (tcp, http), lookupds, &dirs[i]);
    };
    publish_batch(&nodes[1], TOPIC, "p2-before-stop-n1", PER, &mut all);
    let (tcp1, http1) = (nodes[1].tcp.port(), nsqd_http(&nodes[1]).port());
    let status = nodes[1].terminate().expect("nsqd exits on SIGTERM");
    assert!(status.success(), "nsqd 1 exit status {status}");
    publish_batch(&nodes[0], TOPIC, "p2-n0", PER, &mut all);
    publish_batch(&nodes[2], TOPIC, "p2-n2", PER, &mut all);
    nodes[1] = start_nsqd(ips[1], (tcp1, http1), &[&l1, &l2], &dirs[1]);
    for l in [&l1, &l2] {
        wait_registered(l, tcp1, &[(TOPIC, &["tokio", "pynsq"])], WAIT);
    }
    publish_batch(&nodes[1], TOPIC, "p2-after-restart-n1", PER, &mut all);
    wait_all_consumed(
        "phase 2",
        &all,
        &consumers,
        &mut py,
        Duration::from_secs(60),
    );

    // Phase 3: lookupd 1 stops; nsqd 2 restarts, so the consumers must find
    // it again through lookupd 2 alone.
    l1.terminate();
    publish_batch(&nodes[2], TOPIC, "p3-before-stop-n2", PER, &mut all);
    restart(&mut nodes, 2, &[&l1, &l2]);
    wait_registered(
        &l2,
        nodes[2].tcp.port(),
        &[(TOPIC, &["tokio", "pynsq"])],
        WAIT,
    );
    for (i, n) in nodes.iter().enumerate() {
        publish_batch(n, TOPIC, &format!("p3-n{i}"), PER, &mut all);
    }
    wait_all_consumed(
        "phase 3",
        &all,
        &consumers,
        &mut py,
        Duration::from_secs(60),
    );

    stop.store(true, Ordering::Relaxed);
    let _ = tokio_thread.join();
}
