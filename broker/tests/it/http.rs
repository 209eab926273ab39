//! nsqd's HTTP API as curl or a tool sees it (docs/http-api.md;
//! docs/compatibility.md#version, #null-not-empty, #pub_counts and #metrics),
//! over a tiny blocking HTTP/1.1 client written here:
//! - `/ping`, `/info` (keys in order, real ports, durations in ns);
//! - `/pub`: delivery to TCP consumers of topics on both shards from HTTP
//!   connections on both shards, `defer=`, chunked bodies, and every error
//!   (MSG_EMPTY before topic checks, INVALID_DEFER bounds, 413 MSG_TOO_BIG
//!   for Content-Length, chunked and `Expect: 100-continue` bodies);
//! - `/mpub` text mode (empty lines skipped, zero messages) and binary mode,
//!   BAD_BODY/BAD_MESSAGE, BODY_TOO_BIG, MSG_TOO_BIG;
//! - `/topic/*` and `/channel/*`: empty 200s and every error text, and their
//!   effects on live TCP consumers (pause/unpause, empty with in-flight and
//!   deferred messages, delete closing consumers);
//! - `/stats?format=json`: keys and their order at every level (read off the
//!   raw text), sorting, the `topic=`/`channel=`/`include_clients=`/
//!   `include_mem=` filters, counters after a scripted TCP session, consumer
//!   identity, producers with `pub_counts` for every topic; the text format;
//! - `/config/:opt` GET and PUT;
//! - the router: 404, 405 and OPTIONS with `Allow`, trailing-slash redirects,
//!   HTTP/1.0, keep-alive, pipelining, `100 Continue`, malformed and
//!   oversized heads;
//! - `GET /metrics`.
//!
//! Every read is bounded by [`WAIT`].

use std::collections::HashSet;
use std::io::ErrorKind::{TimedOut, WouldBlock};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nsq_protocol::command::Request;
use serde_json::{json, Value};

use crate::harness::*;

const JSON_CT: &str = "application/json; charset=utf-8";
const TEXT_CT: &str = "text/plain; charset=utf-8";
/// A quiet period: nothing should arrive.
const QUIET: Duration = Duration::from_millis(300);

// ---------------------------------------------------------------- client --

/// One HTTP response (bodies here are all text).
#[derive(Debug)]
struct Response {
    version: String,
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    /// A header's value (name case-insensitive).
    fn header(&self, name: &str) -> Option<&str> {
        let h = &self.headers;
        let (_, v) = h.iter().find(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(v)
    }
}

/// A blocking HTTP/1.1 connection (keep-alive, pipelining).
struct Http {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Http {
    fn connect(nsqd: &Nsqd) -> Http {
        let stream = TcpStream::connect(nsqd.http.expect("HTTP is on")).expect("connect");
        stream.set_write_timeout(Some(WAIT)).unwrap();
        let buf = Vec::new();
        Http { stream, buf }
    }

    fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("write request");
    }

    /// Read more bytes; false on EOF or reset.
    fn fill(&mut self, deadline: Instant) -> bool {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no HTTP response within {WAIT:?}");
        self.stream.set_read_timeout(Some(left)).unwrap();
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => false,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(e) if e.kind() == WouldBlock || e.kind() == TimedOut => {
                panic!("no HTTP response within {WAIT:?}")
            }
            Err(_) => false,
        }
    }

    /// Read the next response: the body by Content-Length, else up to EOF;
    /// none for 1xx.
    fn response(&mut self) -> Response {
        let deadline = Instant::now() + WAIT;
        let end = loop {
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break p;
            }
            let got = String::from_utf8_lossy(&self.buf).into_owned();
            assert!(
                self.fill(deadline),
                "closed before a response head; got {got:?}"
            );
        };
        let head = String::from_utf8(self.buf.drain(..end + 4).collect()).expect("UTF-8 head");
        let mut lines = head.trim_end().split("\r\n");
        let mut status_line = lines.next().unwrap().splitn(3, ' ');
        let version = status_line.next().unwrap().to_string();
        let status = status_line.next().unwrap().parse().expect("status code");
        let headers = lines
            .map(|l| l.split_once(':').expect("header line"))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let mut r = Response {
            version,
            status,
            headers,
            body: String::new(),
        };
        let body = if r.status < 200 {
            Vec::new()
        } else if let Some(n) = r.header("Content-Length") {
            let n: usize = n.parse().expect("Content-Length");
            while self.buf.len() < n {
                assert!(self.fill(deadline), "closed inside a body");
            }
            self.buf.drain(..n).collect()
        } else {
            while self.fill(deadline) {}
            std::mem::take(&mut self.buf)
        };
        r.body = String::from_utf8(body).expect("UTF-8 body");
        r
    }

    /// Expect the server to close the connection.
    fn expect_eof(&mut self) {
        while self.fill(Instant::now() + WAIT) {}
        assert!(self.buf.is_empty(), "unexpected bytes before EOF");
    }

    fn call(&mut self, method: &str, target: &str, body: &[u8]) -> Response {
        self.send(&request(method, target, body));
        self.response()
    }

    fn get(&mut self, target: &str) -> Response {
        self.call("GET", target, b"")
    }

    fn post(&mut self, target: &str, body: &[u8]) -> Response {
        self.call("POST", target, body)
    }

    /// POST and check the answer against a spec (see [`expect`]).
    fn post_expect(&mut self, target: &str, body: &[u8], spec: &str) {
        expect(&self.post(target, body), spec);
    }
}

/// A request line and a Host header, as curl sends them.
fn head(method: &str, target: &str) -> String {
    format!("{method} {target} HTTP/1.1\r\nHost: nsqd\r\n")
}

/// A request with a Content-Length body (none for an empty GET/OPTIONS).
fn request(method: &str, target: &str, body: &[u8]) -> Vec<u8> {
    let mut r = head(method, target);
    if !body.is_empty() || matches!(method, "POST" | "PUT") {
        r += &format!("Content-Length: {}\r\n", body.len());
    }
    [(r + "\r\n").as_bytes(), body].concat()
}

/// A request with a chunked body.
fn chunked(method: &str, target: &str, chunks: &[&[u8]]) -> Vec<u8> {
    let mut r = (head(method, target) + "Transfer-Encoding: chunked\r\n\r\n").into_bytes();
    for c in chunks {
        r.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        r.extend_from_slice(c);
        r.extend_from_slice(b"\r\n");
    }
    r.extend_from_slice(b"0\r\n\r\n");
    r
}

/// The head of a POST announcing `Expect: 100-continue` (curl, bodies over 1 KiB).
fn expect_continue(target: &str, len: usize) -> Vec<u8> {
    let head = head("POST", target) + "Expect: 100-continue\r\n";
    format!("{head}Content-Length: {len}\r\n\r\n").into_bytes()
}

/// Send raw bytes on a fresh connection and check the one response against
/// a spec (see [`expect`]).
fn once(nsqd: &Nsqd, raw: &[u8], spec: &str) {
    let mut h = Http::connect(nsqd);
    h.send(raw);
    expect(&h.response(), spec);
}

// ------------------------------------------------------------ assertions --

/// Check a V1 answer (docs/http-api.md#conventions) against a short spec:
/// `"200"` is an empty 200 without Content-Type, `"200 <text>"` a raw text
/// body, and `"<status> <MESSAGE>"` an error `{"message":"<MESSAGE>"}`. Every
/// V1 answer carries `X-NSQ-Content-Type`.
fn expect(r: &Response, spec: &str) {
    let (status, text) = spec.split_once(' ').unwrap_or((spec, ""));
    let status: u16 = status.parse().unwrap();
    let (body, content_type) = match (status, text) {
        (200, "") => (String::new(), None),
        (200, _) => (text.to_string(), Some(TEXT_CT)),
        _ => (format!("{{\"message\":\"{text}\"}}"), Some(JSON_CT)),
    };
    let got = (r.status, r.body.as_str(), r.header("Content-Type"));
    assert_eq!(got, (status, body.as_str(), content_type), "{r:?}");
    assert_v1(r);
}

fn assert_v1(r: &Response) {
    let v1 = r.header("X-NSQ-Content-Type");
    assert_eq!(v1, Some("nsq; version=1.0"), "{r:?}");
}

/// 200 JSON (V1); returns the raw text.
fn expect_json(r: &Response) -> String {
    let got = (r.status, r.header("Content-Type"));
    assert_eq!(got, (200, Some(JSON_CT)), "{r:?}");
    assert_v1(r);
    r.body.clone()
}

/// The methods of an `Allow` header, as a set.
fn allow(r: &Response) -> HashSet<String> {
    let allow = r.header("Allow").expect("Allow header");
    allow.split(',').map(|m| m.trim().to_string()).collect()
}

fn set(items: &[&str]) -> HashSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

/// A Unix time in seconds within the last minute.
fn recent(unix: i64) -> bool {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    let now = now.as_secs() as i64;
    (now - 60..=now).contains(&unix)
}

// --------------------------------------------------------- raw JSON text --

/// The top-level items of a JSON object or array text, raw, in order.
fn items(raw: &str) -> Vec<&str> {
    let raw = raw.trim();
    let inner = &raw[1..raw.len() - 1];
    let (mut depth, mut in_str, mut escaped, mut start) = (0, false, false, 0);
    let mut out = Vec::new();
    for (i, c) in inner.bytes().enumerate() {
        match c {
            _ if in_str && escaped => escaped = false,
            b'\\' if in_str => escaped = true,
            b'"' => in_str = !in_str,
            _ if in_str => {}
            b'{' | b'[' => depth += 1,
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => {
                out.push(inner[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if !inner.trim().is_empty() {
        out.push(inner[start..].trim());
    }
    out
}

/// The members of a JSON object text: (key, raw value), in order.
fn members(raw: &str) -> Vec<(&str, &str)> {
    fn member(m: &str) -> (&str, &str) {
        let (key, value) = m[1..].split_once("\":").expect("a member");
        (&m[1..1 + key.len()], value.trim())
    }
    items(raw).into_iter().map(member).collect()
}

fn has_field(raw: &str, key: &str) -> bool {
    members(raw).iter().any(|(k, _)| *k == key)
}

/// The raw value of `key` in a JSON object text.
fn field<'a>(raw: &'a str, key: &str) -> &'a str {
    let found = members(raw).into_iter().find(|(k, _)| *k == key);
    found.unwrap_or_else(|| panic!("no {key:?} in {raw}")).1
}

/// An integer field.
fn int(raw: &str, key: &str) -> i64 {
    let v = field(raw, key);
    v.parse().unwrap_or_else(|_| panic!("{key} in {raw}"))
}

/// The object's keys are exactly the space-separated `expected`, in order
/// (an extra `build` key, our version, is tolerated).
fn assert_keys(raw: &str, expected: &str) {
    let keys = members(raw).into_iter().map(|(k, _)| k);
    let keys = keys.filter(|k| *k != "build");
    let expected: Vec<&str> = expected.split_whitespace().collect();
    assert_eq!(keys.collect::<Vec<_>>(), expected, "in {raw}");
}

/// `check!(raw, {"key": value, ...})`: each key has that value in the raw
/// JSON object text.
macro_rules! check {
    ($raw:expr, $($json:tt)+) => {
        assert_values($raw, json!($($json)+))
    };
}

fn assert_values(raw: &str, expected: Value) {
    for (k, v) in expected.as_object().expect("an object") {
        let got: Value = serde_json::from_str(field(raw, k)).unwrap();
        assert_eq!(&got, v, "{k} in {raw}");
    }
}

/// The element of a JSON array text whose `key` is the string `name`.
fn find<'a>(array: &'a str, key: &str, name: &str) -> &'a str {
    let quoted = json!(name).to_string();
    let found = items(array).into_iter().find(|o| field(o, key) == quoted);
    found.unwrap_or_else(|| panic!("no {key}={name} in {array}"))
}

/// The string values of `key` over a JSON array text of objects.
fn names(array: &str, key: &str) -> Vec<String> {
    let name = |o| serde_json::from_str(field(o, key)).unwrap();
    items(array).into_iter().map(name).collect()
}

// Keys in NSQ's order (docs/http-api.md#stats, #info).
const INFO_KEYS: &str = "version broadcast_address hostname http_port tcp_port start_time \
    max_heartbeat_interval max_output_buffer_size max_output_buffer_timeout max_deflate_level";
const TOP_KEYS: &str = "version health start_time topics memory producers";
const TOPIC_KEYS: &str = "topic_name channels depth backend_depth message_count message_bytes \
    paused e2e_processing_latency";
const CHANNEL_KEYS: &str = "channel_name depth backend_depth in_flight_count deferred_count \
    message_count requeue_count timeout_count client_count clients paused e2e_processing_latency";
/// `{}` marks where a producer's `pub_counts` goes.
const CLIENT_KEYS: &str = "client_id hostname version remote_address state ready_count \
    in_flight_count message_count finish_count requeue_count connect_ts sample_rate deflate \
    snappy user_agent {} tls tls_cipher_suite tls_version tls_negotiated_protocol \
    tls_negotiated_protocol_is_mutual";
const MEMORY_KEYS: &str = "heap_objects heap_idle_bytes heap_in_use_bytes heap_released_bytes \
    gc_pause_usec_100 gc_pause_usec_99 gc_pause_usec_95 next_gc_bytes gc_total_runs";
const NO_E2E: &str = r#"{"count":0,"percentiles":null}"#;

fn assert_client_keys(raw: &str, with_pub_counts: bool) {
    let keys = CLIENT_KEYS.replace("{}", if with_pub_counts { "pub_counts" } else { "" });
    assert_keys(raw, &keys);
}

// ---------------------------------------------------------------- broker --

/// `/stats?format=json&<query>`, raw.
fn stats(http: &mut Http, query: &str) -> String {
    expect_json(&http.get(&format!("/stats?format=json&{query}")))
}

/// One topic of `/stats`, raw (it must exist).
fn topic_stats(http: &mut Http, topic: &str) -> String {
    let raw = stats(http, &format!("topic={topic}"));
    find(field(&raw, "topics"), "topic_name", topic).to_string()
}

/// One channel of `/stats`, raw (it must exist).
fn channel_stats(http: &mut Http, topic: &str, channel: &str) -> String {
    let t = topic_stats(http, topic);
    find(field(&t, "channels"), "channel_name", channel).to_string()
}

/// `count` topic names `<prefix><i>` on each of the 2 shards, alternating.
fn topics_on_both_shards(prefix: &str, count: usize) -> Vec<String> {
    let on = |shard| {
        let names = (0..).map(move |i| format!("{prefix}{i}"));
        names
            .filter(move |t| nsq_broker::owner_of(t, 2) == shard)
            .take(count)
    };
    on(0).zip(on(1)).flat_map(|(a, b)| [a, b]).collect()
}

/// A TCP consumer: SUB, then RDY.
fn consumer(nsqd: &Nsqd, topic: &str, channel: &str, rdy: u64) -> Client {
    let mut c = nsqd.connect();
    c.subscribe(topic, channel);
    c.send(Request::Rdy(rdy));
    c
}

/// Receive (and FIN) exactly these bodies, in order.
fn expect_bodies(c: &mut Client, bodies: &[&str]) {
    for b in bodies {
        let m = c.expect_message();
        assert_eq!(String::from_utf8_lossy(&m.body), *b);
        c.send(Request::Fin(m.id()));
    }
}

/// A binary `/mpub` body.
fn mpub_body(bodies: &[&[u8]]) -> Vec<u8> {
    let mut out = (bodies.len() as u32).to_be_bytes().to_vec();
    for b in bodies {
        out.extend_from_slice(&(b.len() as u32).to_be_bytes());
        out.extend_from_slice(b);
    }
    out
}

// ----------------------------------------------------------------- tests --

#[test]
fn ping_and_info() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    let r = http.get("/ping");
    assert_eq!((r.status, r.body.as_str()), (200, "OK"));
    assert_eq!(r.header("Content-Type"), Some(TEXT_CT));

    let raw = expect_json(&http.get("/info"));
    assert_keys(&raw, INFO_KEYS);
    let (http_port, tcp_port) = (nsqd.http.unwrap().port(), nsqd.tcp.port());
    check!(&raw, {"version": "1.3.0", "http_port": http_port, "tcp_port": tcp_port,
        "max_heartbeat_interval": 60_000_000_000u64, "max_output_buffer_size": 65536,
        "max_output_buffer_timeout": 30_000_000_000u64, "max_deflate_level": 6});
    assert!(recent(int(&raw, "start_time")));
    assert!(!field(&raw, "hostname").trim_matches('"').is_empty());
    // --broadcast-address defaults to the OS hostname.
    assert_eq!(field(&raw, "broadcast_address"), field(&raw, "hostname"));
}

#[test]
fn pub_reaches_consumers_of_topics_on_both_shards() {
    let nsqd = Nsqd::start(&[]);
    let topics = topics_on_both_shards("pub", 2);
    let mut consumers: Vec<Client> = topics.iter().map(|t| consumer(&nsqd, t, "c", 10)).collect();
    // Two HTTP connections, placed on different shards.
    let mut conns = [Http::connect(&nsqd), Http::connect(&nsqd)];
    for (i, http) in conns.iter_mut().enumerate() {
        for t in &topics {
            let r = http.post(&format!("/pub?topic={t}"), format!("{t}-{i}").as_bytes());
            expect(&r, "200 OK");
        }
    }
    for (t, c) in topics.iter().zip(&mut consumers) {
        expect_bodies(c, &[&format!("{t}-0"), &format!("{t}-1")]);
    }
}

#[test]
fn pub_defer_delays_delivery() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "deferred", "c", 1);
    let mut http = Http::connect(&nsqd);
    let start = Instant::now();
    http.post_expect("/pub?topic=deferred&defer=1000", b"later", "200 OK");
    let deferred = |http: &mut Http| int(&channel_stats(http, "deferred", "c"), "deferred_count");
    Client::wait_until(|| deferred(&mut http) == 1);
    c.expect_silence(Duration::from_millis(600));
    expect_bodies(&mut c, &["later"]);
    let ms = start.elapsed().as_millis();
    assert!((1000..3000).contains(&ms), "delivered after {ms} ms");
}

#[test]
fn pub_errors() {
    let nsqd = Nsqd::start(&["--max-msg-size=100", "--max-req-timeout=5s"]);
    let mut http = Http::connect(&nsqd);
    let (long, hundred) = (format!("/pub?topic={}", "t".repeat(65)), "x".repeat(100));
    for (target, body, spec) in [
        // Body checks come before topic checks.
        ("/pub", "", "400 MSG_EMPTY"),
        ("/pub?topic=bad!t", "", "400 MSG_EMPTY"),
        ("/pub", "m", "400 MISSING_ARG_TOPIC"),
        ("/pub?topic=bad!t", "m", "400 INVALID_TOPIC"),
        (long.as_str(), "m", "400 INVALID_TOPIC"),
        ("/pub?topic=t&defer=abc", "m", "400 INVALID_DEFER"),
        ("/pub?topic=t&defer=1.5", "m", "400 INVALID_DEFER"),
        ("/pub?topic=t&defer=", "m", "400 INVALID_DEFER"),
        ("/pub?topic=t&defer=-1", "m", "400 INVALID_DEFER"),
        ("/pub?topic=t&defer=5001", "m", "400 INVALID_DEFER"),
        ("/pub?topic=t&defer=5000", "m", "200 OK"),
        ("/pub?topic=t", hundred.as_str(), "200 OK"),
        // Parameters come from the URL only; the first value wins.
        ("/pub?topic=t&topic=bad!t", "first", "200 OK"),
    ] {
        http.post_expect(target, body.as_bytes(), spec);
    }
    // No Content-Length at all is an empty body too.
    http.send((head("POST", "/pub?topic=t") + "\r\n").as_bytes());
    expect(&http.response(), "400 MSG_EMPTY");

    // Too big: answered before the body is read (then the server closes).
    let (big, t) = ([b'x'; 101], "/pub?topic=t");
    for (wire, spec) in [
        (request("POST", t, &big), "413 MSG_TOO_BIG"),
        (
            chunked("POST", t, &[&big[..60], &big[60..]]),
            "413 MSG_TOO_BIG",
        ),
        (chunked("POST", t, &[&big[..50], &big[51..]]), "200 OK"),
        // Announced with `Expect: 100-continue`: refused without `100 Continue`.
        (expect_continue(t, 101), "413 MSG_TOO_BIG"),
    ] {
        once(&nsqd, &wire, spec);
    }
    // Topic t holds exactly the accepted messages.
    let mut http = Http::connect(&nsqd);
    assert_eq!(int(&topic_stats(&mut http, "t"), "message_count"), 4);
}

#[test]
fn mpub_text_and_binary() {
    let nsqd = Nsqd::start(&["--max-msg-size=100", "--max-body-size=300"]);
    let mut c = consumer(&nsqd, "m", "c", 100);
    let mut http = Http::connect(&nsqd);
    // Text: empty lines skipped, trailing newline, zero messages still OK.
    for body in ["a\n\nb\nc\n", "", "\n\n"] {
        http.post_expect("/mpub?topic=m", body.as_bytes(), "200 OK");
    }
    http.post_expect("/mpub?topic=m&binary=false", b"d", "200 OK");
    expect_bodies(&mut c, &["a", "b", "c", "d"]);
    // Binary: true, 1, and any unrecognised value.
    for (i, flag) in ["true", "1", "yes"].iter().enumerate() {
        let body = mpub_body(&[format!("x{i}").as_bytes(), format!("yy{i}").as_bytes()]);
        http.post_expect(&format!("/mpub?topic=m&binary={flag}"), &body, "200 OK");
        expect_bodies(&mut c, &[&format!("x{i}"), &format!("yy{i}")]);
    }
    c.expect_silence(QUIET);

    // Errors that leave the connection usable, and publish nothing.
    http.post_expect("/mpub", b"a", "400 MISSING_ARG_TOPIC");
    http.post_expect("/mpub?topic=bad!t", b"a", "400 INVALID_TOPIC");
    for (body, spec) in [
        (vec![], "413 BAD_BODY"),
        (vec![0, 0], "413 BAD_BODY"),
        (0u32.to_be_bytes().to_vec(), "413 BAD_BODY"),
        (mpub_body(&[b"ok", b""]), "413 BAD_MESSAGE"),
        (mpub_body(&[&[b'z'; 101]]), "413 BAD_MESSAGE"),
    ] {
        http.post_expect("/mpub?topic=m&binary=true", &body, spec);
    }
    let long_line = [b"ok\n".as_slice(), &[b'z'; 101]].concat();
    http.post_expect("/mpub?topic=m", &long_line, "413 MSG_TOO_BIG");
    c.expect_silence(QUIET);
    // A body over --max-body-size is refused before it is read.
    let (nl, m) = ([b'\n'; 301], "/mpub?topic=m");
    once(&nsqd, &request("POST", m, &nl), "413 BODY_TOO_BIG");
    let wire = chunked("POST", m, &[&nl[..200], &nl[200..]]);
    once(&nsqd, &wire, "413 BODY_TOO_BIG");
}

#[test]
fn topic_and_channel_admin_replies() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    let mut post = |target: String, spec: &str| http.post_expect(&target, b"", spec);
    for op in ["create", "delete", "empty", "pause", "unpause"] {
        // Only create and empty validate the name, as in NSQ.
        let bad_name = match op {
            "create" | "empty" => "400 INVALID_TOPIC",
            _ => "404 TOPIC_NOT_FOUND",
        };
        post(format!("/topic/{op}"), "400 MISSING_ARG_TOPIC");
        post(format!("/topic/{op}?topic=bad!t"), bad_name);
        if op != "create" {
            post(format!("/topic/{op}?topic=nope"), "404 TOPIC_NOT_FOUND");
        }
        for (query, spec) in [
            ("channel=c", "400 MISSING_ARG_TOPIC"),
            ("topic=bad!t&channel=c", "400 INVALID_ARG_TOPIC"),
            ("topic=nope", "400 MISSING_ARG_CHANNEL"),
            ("topic=nope&channel=bad!c", "400 INVALID_ARG_CHANNEL"),
            ("topic=nope&channel=c", "404 TOPIC_NOT_FOUND"),
        ] {
            post(format!("/channel/{op}?{query}"), spec);
        }
    }
    // Success on a topic of each shard: empty 200s, and the effects in /stats.
    for topic in topics_on_both_shards("adm", 1) {
        let t = |op: &str| format!("/topic/{op}?topic={topic}");
        let c = |op: &str| format!("/channel/{op}?topic={topic}&channel=c");
        let mut post = |target: String, spec: &str| http.post_expect(&target, b"", spec);
        post(t("create"), "200");
        post(t("create"), "200");
        for op in ["delete", "empty", "pause", "unpause"] {
            post(c(op), "404 CHANNEL_NOT_FOUND");
        }
        post(c("create"), "200");
        post(c("create"), "200");
        for (op, paused) in [("pause", "true"), ("unpause", "false")] {
            http.post_expect(&c(op), b"", "200");
            let ch = channel_stats(&mut http, &topic, "c");
            assert_eq!(field(&ch, "paused"), paused);
            http.post_expect(&t(op), b"", "200");
            assert_eq!(field(&topic_stats(&mut http, &topic), "paused"), paused);
        }
        let mut post = |target: String, spec: &str| http.post_expect(&target, b"", spec);
        post(c("empty"), "200");
        post(t("empty"), "200");
        post(c("delete"), "200");
        post(c("delete"), "404 CHANNEL_NOT_FOUND");
        assert_eq!(field(&topic_stats(&mut http, &topic), "channels"), "[]");
        http.post_expect(&t("delete"), b"", "200");
        http.post_expect(&t("delete"), b"", "404 TOPIC_NOT_FOUND");
    }
}

#[test]
fn pauses_hold_messages_from_live_consumers() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    let mut c = consumer(&nsqd, "p", "c", 10);
    // Channel pause: messages queue in the channel.
    http.post_expect("/channel/pause?topic=p&channel=c", b"", "200");
    http.post_expect("/pub?topic=p", b"held", "200 OK");
    c.expect_silence(QUIET);
    let ch = channel_stats(&mut http, "p", "c");
    assert_eq!((field(&ch, "paused"), int(&ch, "depth")), ("true", 1));
    http.post_expect("/channel/unpause?topic=p&channel=c", b"", "200");
    expect_bodies(&mut c, &["held"]);

    // Topic pause: messages stay at the topic.
    http.post_expect("/topic/pause?topic=p", b"", "200");
    http.post_expect("/mpub?topic=p", b"1\n2\n3", "200 OK");
    c.expect_silence(QUIET);
    let t = topic_stats(&mut http, "p");
    assert_eq!((field(&t, "paused"), int(&t, "depth")), ("true", 3));
    let ch = find(field(&t, "channels"), "channel_name", "c");
    assert_eq!(int(ch, "depth"), 0);
    assert!(http.get("/stats").body.contains("\n*P [p    "));
    http.post_expect("/topic/unpause?topic=p", b"", "200");
    expect_bodies(&mut c, &["1", "2", "3"]);
    assert_eq!(int(&topic_stats(&mut http, "p"), "depth"), 0);
}

#[test]
fn channel_empty_drops_queued_in_flight_and_deferred_messages() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    let mut c = consumer(&nsqd, "ce", "c", 1);
    let mut p = nsqd.connect();
    for b in ["a", "b", "c"] {
        p.publish("ce", b.as_bytes());
    }
    p.send(Request::Dpub("ce", 60_000, b"d"));
    p.expect_response("OK");
    let m = c.expect_message();
    // Channel depth, in flight, deferred; the consumer's in flight.
    let counts = |http: &mut Http| {
        let ch = channel_stats(http, "ce", "c");
        let client = items(field(&ch, "clients"))[0].to_string();
        let keys = ["depth", "in_flight_count", "deferred_count"];
        let mut counts = keys.map(|k| int(&ch, k)).to_vec();
        counts.push(int(&client, "in_flight_count"));
        counts
    };
    Client::wait_until(|| counts(&mut http) == [2, 1, 1, 1]);
    http.post_expect("/channel/empty?topic=ce&channel=c", b"", "200");
    assert_eq!(counts(&mut http), [0, 0, 0, 0]);
    c.send(Request::Fin(m.id()));
    let id = String::from_utf8(m.id().to_hex().to_vec()).unwrap();
    c.expect_error(&format!("E_FIN_FAILED FIN {id} failed ID not in flight"));
    // The consumer's window was freed: it gets the next message.
    p.publish("ce", b"e");
    expect_bodies(&mut c, &["e"]);
    c.expect_silence(QUIET);
}

#[test]
fn deletes_close_their_consumers() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    for topic in topics_on_both_shards("del", 1) {
        let [mut gone, mut kept] = ["gone", "kept"].map(|ch| consumer(&nsqd, &topic, ch, 10));
        let (publish, delete) = (format!("/pub?topic={topic}"), format!("topic={topic}"));
        http.post_expect(
            &format!("/channel/delete?{delete}&channel=gone"),
            b"",
            "200",
        );
        gone.expect_closed();
        let t = topic_stats(&mut http, &topic);
        assert_eq!(names(field(&t, "channels"), "channel_name"), ["kept"]);
        http.post_expect(&publish, b"still", "200 OK");
        expect_bodies(&mut kept, &["still"]);

        // Deleting the topic closes the remaining consumers and forgets it.
        let delete = format!("/topic/delete?{delete}");
        http.post_expect(&delete, b"", "200");
        kept.expect_closed();
        let raw = stats(&mut http, "");
        assert!(!names(field(&raw, "topics"), "topic_name").contains(&topic));
        let raw = stats(&mut http, &format!("topic={topic}"));
        assert_eq!(field(&raw, "topics"), "null");
        http.post_expect(&delete, b"", "404 TOPIC_NOT_FOUND");
    }
}

/// The scripted session behind the `/stats` tests: topics `a_first` and
/// `z_last` created over HTTP; on `s_main` a consumer `cid` on channel `c`
/// that FINs one message, REQs one for a minute and holds one (two stay
/// queued), and one on `slow` that lets one message time out and FINs its
/// successor (four stay queued); a TCP producer with 5 messages (2-byte
/// bodies) to `s_main` and 2 to `s_other`; an HTTP publish to `s_other`.
/// Returns nsqd, an HTTP connection to it and the clients, which must stay
/// connected.
fn scripted_session() -> (Nsqd, Http, [Client; 3]) {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    let clients = scripted_clients(&nsqd, &mut http);
    (nsqd, http, clients)
}

fn scripted_clients(nsqd: &Nsqd, http: &mut Http) -> [Client; 3] {
    for t in ["z_last", "a_first"] {
        http.post_expect(&format!("/topic/create?topic={t}"), b"", "200");
    }
    let mut c = nsqd.connect();
    let identity = r#"{"client_id":"cid","hostname":"host.example","user_agent":"ua/1.0"}"#;
    assert_eq!(c.identify(identity), Got::Response("OK".into()));
    c.subscribe("s_main", "c");
    let mut slow = nsqd.connect();
    let identity = r#"{"msg_timeout":1000}"#;
    assert_eq!(slow.identify(identity), Got::Response("OK".into()));
    slow.subscribe("s_main", "slow");
    let mut p = nsqd.connect();
    p.publish_numbered("s_main", "m", 0..5);
    p.publish("s_other", b"x");
    p.publish("s_other", b"y");
    http.post_expect("/pub?topic=s_other", b"z", "200 OK");

    c.send(Request::Rdy(1));
    let m = c.expect_message();
    c.send(Request::Fin(m.id()));
    let m = c.expect_message();
    c.send(Request::Req(m.id(), 60_000));
    c.expect_message();

    slow.send(Request::Rdy(1));
    slow.expect_message();
    let m = slow.expect_message(); // after the first one timed out
    let mut wire = Vec::new();
    Request::Rdy(0).encode(&mut wire);
    Request::Fin(m.id()).encode(&mut wire);
    slow.send_bytes(&wire);
    Client::wait_until(|| int(&channel_stats(http, "s_main", "slow"), "in_flight_count") == 0);
    [c, slow, p]
}

const S_MAIN_COUNT: &str = r#"{"topic":"s_main","count":5}"#;

/// The `pub_counts` entries of a producer, raw.
fn pub_counts(producer: &str) -> HashSet<String> {
    set(&items(field(producer, "pub_counts")))
}

#[test]
fn stats_json_after_a_scripted_session() {
    let (_nsqd, mut http, _clients) = scripted_session();

    let raw = stats(&mut http, "");
    assert_keys(&raw, TOP_KEYS);
    check!(&raw, {"version": "1.3.0", "health": "OK"});
    assert!(recent(int(&raw, "start_time")));
    assert_keys(field(&raw, "memory"), MEMORY_KEYS);
    let topics = field(&raw, "topics");
    let sorted = ["a_first", "s_main", "s_other", "z_last"];
    assert_eq!(names(topics, "topic_name"), sorted);
    for t in items(topics) {
        assert_keys(t, TOPIC_KEYS);
        assert_eq!(field(t, "e2e_processing_latency"), NO_E2E);
    }
    let a_first = find(topics, "topic_name", "a_first");
    assert_eq!(field(a_first, "channels"), "[]");
    let t = find(topics, "topic_name", "s_main");
    check!(t, {"depth": 0, "backend_depth": 0, "message_count": 5, "message_bytes": 10,
        "paused": false});
    let channels = field(t, "channels");
    assert_eq!(names(channels, "channel_name"), ["c", "slow"]);
    for ch in items(channels) {
        assert_keys(ch, CHANNEL_KEYS);
        assert_eq!(field(ch, "e2e_processing_latency"), NO_E2E);
        check!(ch, {"backend_depth": 0, "message_count": 5, "client_count": 1});
    }
    let ch = find(channels, "channel_name", "c");
    check!(ch, {"depth": 2, "in_flight_count": 1, "deferred_count": 1, "requeue_count": 1,
        "timeout_count": 0, "paused": false});
    let slow = find(channels, "channel_name", "slow");
    check!(slow, {"depth": 4, "in_flight_count": 0, "deferred_count": 0, "requeue_count": 0,
        "timeout_count": 1});

    // The consumer, with its IDENTIFY fields.
    let client = items(field(ch, "clients"))[0];
    assert_client_keys(client, false);
    check!(client, {"client_id": "cid", "hostname": "host.example", "version": "V2",
        "state": 3, "ready_count": 1, "in_flight_count": 1, "message_count": 3,
        "finish_count": 1, "requeue_count": 1, "user_agent": "ua/1.0", "tls": false});
    assert!(field(client, "remote_address").starts_with("\"127.0.0.1:"));
    assert!(recent(int(client, "connect_ts")));

    // The TCP producer only (no consumer published; HTTP publishers never
    // appear), with every topic it published to
    // (docs/compatibility.md#pub_counts).
    let producers = items(field(&raw, "producers"));
    assert_eq!(producers.len(), 1, "{producers:?}");
    assert_client_keys(producers[0], true);
    check!(producers[0], {"client_id": "127.0.0.1", "hostname": "127.0.0.1", "state": 0});
    let expected = set(&[S_MAIN_COUNT, r#"{"topic":"s_other","count":2}"#]);
    assert_eq!(pub_counts(producers[0]), expected);
}

#[test]
fn stats_filters_and_text_format() {
    let (_nsqd, mut http, _clients) = scripted_session();

    let raw = stats(&mut http, "topic=nope");
    let got = (field(&raw, "topics"), field(&raw, "producers"));
    assert_eq!(got, ("null", "null"));
    // topic= keeps every producer, narrowing pub_counts, as NSQ does.
    let raw = stats(&mut http, "topic=s_main");
    assert_eq!(names(field(&raw, "topics"), "topic_name"), ["s_main"]);
    let producer = items(field(&raw, "producers"))[0];
    assert_eq!(pub_counts(producer), set(&[S_MAIN_COUNT]));
    let raw = stats(&mut http, "topic=a_first");
    assert!(!has_field(items(field(&raw, "producers"))[0], "pub_counts"));
    // channel= drops the topics without that channel.
    for query in ["channel=slow", "topic=s_main&channel=slow"] {
        let topics = field(&stats(&mut http, query), "topics").to_string();
        assert_eq!(names(&topics, "topic_name"), ["s_main"]);
        let channels = field(items(&topics)[0], "channels");
        assert_eq!(names(channels, "channel_name"), ["slow"]);
    }
    let raw = stats(&mut http, "include_clients=maybe");
    assert_eq!(items(field(&raw, "producers")).len(), 1);
    let raw = stats(&mut http, "include_clients=false");
    assert_eq!(field(&raw, "producers"), "null");
    let t = find(field(&raw, "topics"), "topic_name", "s_main");
    for ch in items(field(t, "channels")) {
        assert_eq!((field(ch, "clients"), int(ch, "client_count")), ("null", 1));
    }
    let raw = stats(&mut http, "include_mem=false");
    assert_keys(&raw, "version health start_time topics producers");
    let raw = stats(&mut http, "include_mem=0&include_clients=0");
    assert!(!has_field(&raw, "memory"));

    // Text: the default, and any other format value.
    for target in ["/stats", "/stats?format=text"] {
        let r = http.get(target);
        expect(&r, &format!("200 {}", r.body));
        assert!(r.body.starts_with("nsqd v1.3.0 (built w/"), "{}", r.body);
        let parts = "\nHealth: OK\n|\nTopics:|[s_main |[slow |e2e%: \n|[V2 |ua/1.0|\nProducers:\n";
        for part in parts.split('|') {
            assert!(r.body.contains(part), "{part:?} in {}", r.body);
        }
    }
}

/// A query Go's `url.ParseQuery` refuses (bad escape, `;`) is 400
/// INVALID_REQUEST (NSQ's `/stats`, and its other query readers likewise).
#[test]
fn unparsable_queries_are_invalid_request() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    for query in ["topic=%zz", "format=json;topic=t"] {
        expect(&http.get(&format!("/stats?{query}")), "400 INVALID_REQUEST");
    }
    for target in [
        "/pub?topic=%zz",
        "/mpub?topic=t&x=%",
        "/topic/create?topic=t;x",
    ] {
        http.post_expect(target, b"m", "400 INVALID_REQUEST");
    }
    http.post_expect(
        "/channel/create?topic=t&channel=%g0",
        b"",
        "400 INVALID_REQUEST",
    );
}

#[test]
fn config_get_and_put() {
    let nsqd = Nsqd::start(&["--max-msg-size=100"]);
    let mut http = Http::connect(&nsqd);
    let mut get = |opt: &str| expect_json(&http.get(&format!("/config/{opt}")));
    assert_eq!(get("msg_timeout"), "60000000000");
    assert_eq!(get("tls_required"), "0");
    assert_eq!(get("log_level"), "2");
    assert_eq!(get("nsqlookupd_tcp_addresses"), "[]");
    // Strings come back as raw text (docs/http-api.md#config).
    expect(&http.get("/config/log_prefix"), "200 [nsqd] ");
    expect(&http.get("/config/nope"), "400 INVALID_OPTION");

    let addrs = r#"["127.0.0.1:4160"]"#;
    let addrs_set = format!("200 JSON {addrs}");
    for (opt, body, spec) in [
        ("log_level", "debug", "200 JSON 1"),
        ("log_level", "loud", "400 INVALID_VALUE"),
        ("log_level", "", "413 INVALID_VALUE"),
        ("msg_timeout", "1", "400 INVALID_OPTION"),
        ("nsqlookupd_tcp_addresses", addrs, addrs_set.as_str()),
        ("nsqlookupd_tcp_addresses", "nope", "400 INVALID_VALUE"),
    ] {
        let r = http.call("PUT", &format!("/config/{opt}"), body.as_bytes());
        match spec.strip_prefix("200 JSON ") {
            Some(value) => assert_eq!(expect_json(&r), value),
            None => expect(&r, spec),
        }
    }
    let mut get = |opt: &str| expect_json(&http.get(&format!("/config/{opt}")));
    assert_eq!(get("log_level"), "1");
    assert_eq!(get("nsqlookupd_tcp_addresses"), addrs);
    let r = http.call("PUT", "/config/nsqlookupd_tcp_addresses", b"[]");
    assert_eq!(expect_json(&r), "[]");
    // A value over --max-msg-size: refused before it is read.
    let wire = request("PUT", "/config/log_level", &[b' '; 101]);
    once(&nsqd, &wire, "413 INVALID_VALUE");
}

#[test]
fn router_statuses_and_redirects() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    expect(&http.get("/nope"), "404 NOT_FOUND");
    expect(&http.get("/debug/pprof/"), "404 NOT_FOUND");
    http.post_expect("/topic/frobnicate?topic=t", b"", "404 NOT_FOUND");
    for (method, path, allowed) in [
        ("GET", "/pub", &["POST", "OPTIONS"][..]),
        ("POST", "/stats", &["GET", "OPTIONS"]),
        ("DELETE", "/config/log_level", &["GET", "PUT", "OPTIONS"]),
    ] {
        let r = http.call(method, path, b"");
        expect(&r, "405 METHOD_NOT_ALLOWED");
        assert_eq!(allow(&r), set(allowed));
        let r = http.call("OPTIONS", path, b"");
        let got = (r.status, r.body.as_str(), allow(&r));
        assert_eq!(got, (200, "", set(allowed)));
    }
    // Trailing slashes (docs/http-api.md#conventions).
    let r = http.get("/stats/");
    assert_eq!((r.status, r.header("Location")), (301, Some("/stats")));
    assert_eq!(r.body, "<a href=\"/stats\">Moved Permanently</a>.\n\n");
    let r = http.post("/pub/?topic=t", b"m");
    let got = (r.status, r.header("Location"));
    assert_eq!(got, (307, Some("/pub?topic=t")));
    // The connection survived all of that.
    assert_eq!(http.get("/ping").body, "OK");
}

#[test]
fn keep_alive_pipelining_continue_and_http10() {
    let nsqd = Nsqd::start(&[]);
    let topics = topics_on_both_shards("pipe", 1);
    let mut consumers: Vec<Client> = topics.iter().map(|t| consumer(&nsqd, t, "c", 10)).collect();
    let targets: Vec<String> = topics.iter().map(|t| format!("/pub?topic={t}")).collect();
    let mut http = Http::connect(&nsqd);
    // Keep-alive: sequential requests on one connection.
    for _ in 0..3 {
        assert_eq!(http.get("/ping").body, "OK");
    }
    // Pipelining: publishes to both shards around a /ping, answered in order.
    let wire = [
        request("POST", &targets[0], b"p0"),
        request("GET", "/ping", b""),
        chunked("POST", &targets[1], &[b"p", b"1"]),
        request("POST", "/pub", b""),
    ];
    http.send(&wire.concat());
    expect(&http.response(), "200 OK");
    assert_eq!(http.response().body, "OK");
    expect(&http.response(), "200 OK");
    expect(&http.response(), "400 MSG_EMPTY");
    // `Expect: 100-continue`: `100 Continue`, then the answer.
    let body = "e".repeat(2000);
    http.send(&expect_continue(&targets[0], body.len()));
    assert_eq!(http.response().status, 100);
    http.send(body.as_bytes());
    expect(&http.response(), "200 OK");
    expect_bodies(&mut consumers[0], &["p0", &body]);
    expect_bodies(&mut consumers[1], &["p1"]);

    // `Connection: close` is honoured.
    http.send((head("GET", "/ping") + "Connection: close\r\n\r\n").as_bytes());
    assert_eq!(http.response().body, "OK");
    http.expect_eof();

    // HTTP/1.0: answered in kind, then closed.
    let mut old = Http::connect(&nsqd);
    old.send(b"GET /info HTTP/1.0\r\n\r\n");
    let r = old.response();
    assert_eq!((r.version.as_str(), r.status), ("HTTP/1.0", 200));
    expect_json(&r);
    old.expect_eof();
}

#[test]
fn malformed_and_oversized_heads() {
    let nsqd = Nsqd::start(&[]);
    let mut bad = Http::connect(&nsqd);
    bad.send(b"NOT A VALID REQUEST LINE\r\n\r\n");
    let r = bad.response();
    assert_eq!((r.status, r.body.as_str()), (400, "400 Bad Request"));
    bad.expect_eof();

    let mut big = Http::connect(&nsqd);
    let mut raw = (head("GET", "/ping") + "X-Big: ").into_bytes();
    raw.resize(raw.len() + (1 << 20) + 1024, b'a');
    raw.extend_from_slice(b"\r\n\r\n");
    // The server may answer and close before reading all of it.
    let _ = big.stream.write_all(&raw);
    let r = big.response();
    let too_large = "431 Request Header Fields Too Large";
    assert_eq!((r.status, r.body.as_str()), (431, too_large));

    // Others are still served.
    assert_eq!(Http::connect(&nsqd).get("/ping").body, "OK");
}

#[test]
fn metrics_in_prometheus_text_format() {
    let nsqd = Nsqd::start(&[]);
    let mut http = Http::connect(&nsqd);
    http.post_expect("/topic/create?topic=metric_t", b"", "200");
    http.post_expect("/pub?topic=metric_t", b"m", "200 OK");
    let r = http.get("/metrics");
    assert_eq!(r.status, 200);
    let ct = r.header("Content-Type").unwrap_or_default();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    let depth = "\n# TYPE nsq_topic_depth gauge\n|\nnsq_topic_depth{topic=\"metric_t\"} 1\n";
    for line in depth.split('|') {
        assert!(r.body.contains(line), "{line:?} in {}", r.body);
    }
}

// ------------------------------------------------- e2e latency and statsd --

#[test]
fn e2e_percentiles_appear_in_stats_after_fins() {
    let nsqd = Nsqd::start(&["--e2e-processing-latency-percentile=0.99,0.5"]);
    let mut http = Http::connect(&nsqd);
    let mut c = consumer(&nsqd, "e2e", "ch", 10);
    let mut p = nsqd.connect();
    for _ in 0..5 {
        p.publish("e2e", b"x");
    }
    expect_bodies(&mut c, &["x"; 5]);
    // FINs are processed in order on the consumer's connection: a NOP
    // round trip is not answered, so wait for the count instead.
    Client::wait_until(|| {
        let ch = channel_stats(&mut http, "e2e", "ch");
        field(field(&ch, "e2e_processing_latency"), "count") == "5"
    });
    let ch = channel_stats(&mut http, "e2e", "ch");
    let e2e = field(&ch, "e2e_processing_latency");
    let pcts: Value = serde_json::from_str(field(e2e, "percentiles")).unwrap();
    assert_eq!(pcts[0]["quantile"], json!(0.99));
    assert_eq!(pcts[1]["quantile"], json!(0.5));
    let v = pcts[0]["value"].as_f64().unwrap();
    assert!(v > 0.0 && v < 10e9, "{v}");
    let topic = topic_stats(&mut http, "e2e");
    assert_eq!(field(field(&topic, "e2e_processing_latency"), "count"), "5");
    // A topic without channels has no figures to merge: null, as NSQ.
    p.publish("e2e_lone", b"x");
    let lone = topic_stats(&mut http, "e2e_lone");
    assert_eq!(field(&lone, "e2e_processing_latency"), NO_E2E);
}

#[test]
fn statsd_receives_nsq_metric_names() {
    let statsd = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    statsd.set_read_timeout(Some(WAIT)).unwrap();
    let addr = format!("--statsd-address={}", statsd.local_addr().unwrap());
    let nsqd = Nsqd::start(&[&addr, "--statsd-interval=1s", "--statsd-prefix=test.%s"]);
    let mut p = nsqd.connect();
    p.publish("sd", b"hello");
    once(
        &nsqd,
        &request("POST", "/channel/create?topic=sd&channel=c", b""),
        "200",
    );
    let port = nsqd.http.unwrap().port();
    let mut seen = String::new();
    let deadline = Instant::now() + WAIT;
    while !(seen.contains(".topic.sd.channel.c.depth:") && seen.contains(".mem.gc_runs:")) {
        assert!(Instant::now() < deadline, "statsd lines so far: {seen}");
        let mut buf = [0u8; 2048];
        let (n, _) = statsd.recv_from(&mut buf).expect("a statsd packet");
        assert!(n <= 508, "packet of {n} bytes");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let host = format!("_{port}.");
    assert!(
        seen.lines()
            .all(|l| l.starts_with("test.") && l.contains(&host)),
        "{seen}"
    );
    assert!(seen.contains(".topic.sd.message_count:1|c"), "{seen}");
    assert!(seen.contains(".topic.sd.channel.c.depth:1|g"), "{seen}");
    assert!(seen.contains(".mem.heap_in_use_bytes:"), "{seen}");
}

// ------------------------------------------------ hardening (review fixes) --

#[test]
fn head_answers_carry_no_body_and_keep_the_connection_usable() {
    let nsqd = Nsqd::start(&[]);
    let mut h = Http::connect(&nsqd);
    h.send(head("HEAD", "/ping").as_bytes());
    h.send(b"\r\n");
    h.send((head("GET", "/ping") + "\r\n").as_bytes());
    // The HEAD answer's Content-Length describes a body that is not sent, so
    // read its head by hand, then the GET answer must follow at once.
    let deadline = Instant::now() + WAIT;
    while !String::from_utf8_lossy(&h.buf).contains("\r\n\r\nHTTP/1.1 200") {
        assert!(
            h.fill(deadline),
            "closed: {:?}",
            String::from_utf8_lossy(&h.buf)
        );
    }
    let text = String::from_utf8_lossy(&h.buf).into_owned();
    assert!(text.starts_with("HTTP/1.1 405 "), "{text}");
    assert!(
        !text.contains("METHOD_NOT_ALLOWED"),
        "HEAD answer had a body: {text}"
    );
}

#[test]
fn redirect_bodies_are_html_escaped_and_only_for_the_routes_method() {
    let nsqd = Nsqd::start(&[]);
    let mut h = Http::connect(&nsqd);
    let r = h.get("/stats/?x=\"><script>y</script>");
    assert_eq!(r.status, 301);
    assert!(
        !r.body.contains("<script>") && r.body.contains("&lt;script&gt;"),
        "{}",
        r.body
    );
    once(&nsqd, &request("PUT", "/stats/", b""), "404 NOT_FOUND");
    once(&nsqd, &request("GET", "/pub/", b""), "404 NOT_FOUND");
}

#[test]
fn strict_framing_and_bounded_chunked_bodies() {
    let nsqd = Nsqd::start(&[]);
    let bad_length = (head("POST", "/pub?topic=t") + "Content-Length: +3\r\n\r\nabc").into_bytes();
    let mut h = Http::connect(&nsqd);
    h.send(&bad_length);
    assert_eq!(h.response().status, 400);
    // 3000 one-byte chunks decode to one body.
    let chunks: Vec<&[u8]> = std::iter::repeat_n(&b"x"[..], 3000).collect();
    once(
        &nsqd,
        &chunked("POST", "/pub?topic=chunky", &chunks),
        "200 OK",
    );
    // Endless trailers are refused, not buffered.
    let mut flood = head("POST", "/pub?topic=t").into_bytes();
    flood.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n");
    for _ in 0..2000 {
        flood.extend_from_slice(b"X-a: b\r\n");
    }
    let mut h = Http::connect(&nsqd);
    h.send(&flood);
    assert_eq!(h.response().status, 400);
}

#[test]
fn only_nsqs_four_boolean_spellings_are_recognised() {
    let nsqd = Nsqd::start(&[]);
    let mut h = Http::connect(&nsqd);
    // "f" is not false for nsqd: memory stays in.
    assert!(has_field(&stats(&mut h, "include_mem=f"), "memory"));
    assert!(!has_field(&stats(&mut h, "include_mem=false"), "memory"));
    assert!(!has_field(&stats(&mut h, "include_mem=0"), "memory"));
}

/// Extension (NSQ #848): `/channel/peek` shows queued messages, oldest
/// first, without consuming them; NSQ's 400/404 answers for bad arguments.
#[test]
fn channel_peek_shows_queued_messages_without_consuming_them() {
    let nsqd = Nsqd::start(&[]);
    let mut p = nsqd.connect();
    let owner_other = crate::harness::topic_on("peek", 1, 0);
    let post = |target: String| crate::harness::http(&nsqd, "POST", &target).0;
    for topic in ["peek_local", owner_other.as_str()] {
        let create_channel = format!("/channel/create?topic={topic}&channel=c");
        assert_eq!(post(create_channel.clone()), 404, "topic must exist first");
        assert_eq!(post(format!("/topic/create?topic={topic}")), 200);
        assert_eq!(post(create_channel), 200);
        for body in ["one", "two", "<three>"] {
            p.publish(topic, body.as_bytes());
        }
        let (status, json) = crate::harness::http(
            &nsqd,
            "GET",
            &format!("/channel/peek?topic={topic}&channel=c&n=2"),
        );
        assert_eq!(status, 200, "{json}");
        let v: Value = serde_json::from_str(&json).unwrap();
        let bodies: Vec<&str> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["body"].as_str().unwrap())
            .collect();
        assert_eq!(bodies, ["one", "two"]);
        assert_eq!(v["messages"][0]["body_base64"], "b25l");
        assert_eq!(v["messages"][0]["id"].as_str().unwrap().len(), 16);
        // Nothing was consumed.
        let (_, all) = crate::harness::http(
            &nsqd,
            "GET",
            &format!("/channel/peek?topic={topic}&channel=c"),
        );
        let all: Value = serde_json::from_str(&all).unwrap();
        assert_eq!(all["messages"].as_array().unwrap().len(), 3);
        assert_eq!(all["messages"][2]["body"], "<three>");
    }
    for (target, status, message) in [
        ("/channel/peek?channel=c", 400, "MISSING_ARG_TOPIC"),
        ("/channel/peek?topic=nope&channel=c", 404, "TOPIC_NOT_FOUND"),
        (
            "/channel/peek?topic=peek_local&channel=nope",
            404,
            "CHANNEL_NOT_FOUND",
        ),
        (
            "/channel/peek?topic=peek_local&channel=c&n=x",
            400,
            "INVALID_ARG_N",
        ),
    ] {
        let want = format!(r#"{{"message":"{message}"}}"#);
        assert_eq!(
            crate::harness::http(&nsqd, "GET", target),
            (status, want),
            "{target}"
        );
    }
}
