//! Message delivery as a consumer sees it (docs/protocol.md#message-format,
//! #sub to #dpub, #flow-control, #message-lifecycle, #lifecycle, #disconnect):
//! - the message frame layout, read byte by byte off a raw socket; FIN;
//! - RDY as an in-flight window, RDY 0, RDY above `--max-rdy-count`;
//! - REQ 0, REQ with a delay, REQ beyond `--max-req-timeout` (clamped);
//! - TOUCH extending the deadline and its `--max-msg-timeout` cap;
//! - in-flight timeouts (redelivery to another consumer, attempts+1, the
//!   old owner's FIN refused non-fatally) and disconnects with messages in
//!   flight (redelivered only after msg_timeout);
//! - DPUB with a delay and DPUB 0; CLS;
//! - consumers sharing a channel, channels each getting every message;
//! - a topic without channels holding its messages;
//! - `#ephemeral` channels and topics, and their silent overflow;
//! - non-ephemeral overflow refused (`E_PUB_FAILED`, `E_MPUB_FAILED`);
//! - `--max-channel-consumers`, `sample_rate`, and a few thousand messages.
//!
//! Every wait is bounded; timing checks use `msg_timeout` 1000-2000 ms and
//! compare against instants taken before the triggering command (lower
//! bounds) or after the observed event (upper bounds).

use std::collections::HashSet;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nsq_protocol::command::Request;
use nsq_protocol::MessageId;

use crate::harness::*;

/// Slack allowed after a deadline before a redelivery must have arrived.
const LATE: Duration = Duration::from_secs(2);
/// A short quiet period: nothing more should arrive.
const QUIET: Duration = Duration::from_millis(300);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// `prefix0`, `prefix1`, ... as bodies.
fn bodies(prefix: &str, n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| format!("{prefix}{i}").into_bytes())
        .collect()
}

/// A consumer: optional IDENTIFY (no negotiation, so `OK`), SUB, then RDY.
fn consumer(nsqd: &Nsqd, topic: &str, channel: &str, identify: Option<&str>, rdy: u64) -> Client {
    let mut c = nsqd.connect();
    if let Some(json) = identify {
        assert_eq!(c.identify(json), Got::Response("OK".into()));
    }
    c.subscribe(topic, channel);
    if rdy > 0 {
        c.send(Request::Rdy(rdy));
    }
    c
}

/// IDENTIFY JSON with this msg_timeout.
fn msg_timeout(ms: u64) -> String {
    format!("{{\"msg_timeout\":{ms}}}")
}

/// PUB every body (pipelined), expecting one `OK` each.
fn publish_all(p: &mut Client, topic: &str, bodies: &[Vec<u8>]) {
    let mut wire = Vec::new();
    for b in bodies {
        Request::Pub(topic, b).encode(&mut wire);
    }
    p.send_bytes(&wire);
    for _ in bodies {
        p.expect_response("OK");
    }
}

/// Receive exactly these bodies, in order.
fn expect_bodies(c: &mut Client, bodies: &[Vec<u8>]) -> Vec<Msg> {
    bodies
        .iter()
        .map(|b| {
            let m = c.expect_message();
            assert_eq!(String::from_utf8_lossy(&m.body), String::from_utf8_lossy(b));
            m
        })
        .collect()
}

fn fin_all(c: &mut Client, msgs: &[Msg]) {
    for m in msgs {
        c.send(Request::Fin(m.id()));
    }
}

/// Expect an error frame starting with `prefix`; returns its text.
fn expect_error_prefix(c: &mut Client, prefix: &str) -> String {
    match c.next() {
        Some(Got::Error(e)) if e.starts_with(prefix) => e,
        other => panic!("expected an error starting with {prefix:?}, got {other:?}"),
    }
}

/// Expect a message not before `since + silent`, at least `min` after
/// `since`, and no later than `since + max`.
fn arrives_between(
    c: &mut Client,
    since: Instant,
    min: Duration,
    silent: Duration,
    max: Duration,
) -> Msg {
    c.expect_silence((since + silent).saturating_duration_since(Instant::now()));
    let left = (since + max).saturating_duration_since(Instant::now());
    let m = match c.next_within(left.max(ms(1))) {
        Some(Got::Message(m)) => m,
        other => panic!("expected a message, got {other:?}"),
    };
    let took = since.elapsed();
    assert!(
        took >= min,
        "arrived after {took:?}, expected at least {min:?}"
    );
    m
}

/// Same message, delivered again with one more attempt.
fn assert_redelivery(first: &Msg, again: &Msg) {
    assert_eq!(again.id(), first.id());
    assert_eq!(again.body, first.body);
    assert_eq!(again.header.timestamp, first.header.timestamp);
    assert_eq!(again.header.attempts, first.header.attempts + 1);
}

/// The text of a FIN refused because `id` is not in flight.
fn not_in_flight(id: MessageId) -> String {
    format!("E_FIN_FAILED FIN {} failed ID not in flight", hex(id))
}

fn hex(id: MessageId) -> String {
    String::from_utf8(id.to_hex().to_vec()).unwrap()
}

/// Ordering barrier: FIN an ID that cannot be in flight and collect the
/// messages that arrive before its (non-fatal) error, then expect quiet.
fn collect_until_barrier(c: &mut Client) -> Vec<Msg> {
    let bogus = MessageId(0);
    c.send(Request::Fin(bogus));
    let mut got = Vec::new();
    loop {
        match c.next() {
            Some(Got::Message(m)) => got.push(m),
            Some(Got::Error(e)) if e == not_in_flight(bogus) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    c.expect_silence(QUIET);
    got
}

/// SUB on a new connection, retrying while `--max-channel-consumers=1`
/// refuses it: returns once the previous consumer has left the channel.
fn subscribe_when_free(nsqd: &Nsqd, topic: &str, channel: &str) -> Client {
    let deadline = Instant::now() + WAIT;
    loop {
        let mut c = nsqd.connect();
        c.send(Request::Sub(topic, channel));
        match c.next() {
            Some(Got::Response(r)) if r == "OK" => return c,
            Some(Got::Error(e)) if e.starts_with("E_SUB_FAILED") => {}
            other => panic!("SUB: {other:?}"),
        }
        assert!(
            Instant::now() < deadline,
            "{topic}:{channel} still has a consumer"
        );
        std::thread::sleep(ms(10));
    }
}

/// TOUCH `id` on `c` every `every` from another thread until stopped.
fn keep_touching(
    mut c: Client,
    id: MessageId,
    every: Duration,
) -> (Arc<AtomicBool>, JoinHandle<Client>) {
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = stop.clone();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT;
        while !stop2.load(Ordering::SeqCst) && Instant::now() < deadline {
            std::thread::sleep(every);
            c.send(Request::Touch(id));
        }
        c
    });
    (stop, handle)
}

fn stop_touching((stop, handle): (Arc<AtomicBool>, JoinHandle<Client>)) -> Client {
    stop.store(true, Ordering::SeqCst);
    handle.join().expect("touch thread")
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

/// Read one raw frame: (type, data).
fn read_raw_frame(s: &mut TcpStream) -> (u32, Vec<u8>) {
    let mut head = [0u8; 8];
    s.read_exact(&mut head).expect("frame header");
    let size = u32::from_be_bytes(head[0..4].try_into().unwrap()) as usize;
    let kind = u32::from_be_bytes(head[4..8].try_into().unwrap());
    let mut data = vec![0u8; size - 4];
    s.read_exact(&mut data).expect("frame data");
    (kind, data)
}

#[test]
fn message_frame_layout_then_fin_ends_delivery() {
    let nsqd = Nsqd::start(&[]);
    let mut raw = TcpStream::connect(nsqd.tcp).unwrap();
    raw.set_read_timeout(Some(WAIT)).unwrap();
    let mut wire = b"  V2".to_vec();
    Request::Identify(msg_timeout(1000).as_bytes()).encode(&mut wire);
    Request::Sub("layout", "c").encode(&mut wire);
    Request::Rdy(1).encode(&mut wire);
    raw.write_all(&wire).unwrap();
    assert_eq!(read_raw_frame(&mut raw), (0, b"OK".to_vec())); // IDENTIFY
    assert_eq!(read_raw_frame(&mut raw), (0, b"OK".to_vec())); // SUB

    let before = now_ns();
    nsqd.connect().publish("layout", b"hello world");
    let (kind, data) = read_raw_frame(&mut raw);
    let after = now_ns();
    assert_eq!(kind, 2, "message frame type");
    assert_eq!(data.len(), 26 + 11);
    let ts = i64::from_be_bytes(data[0..8].try_into().unwrap());
    assert!(
        (before - 1_000_000_000..=after + 1_000_000_000).contains(&ts),
        "timestamp {ts} not within [{before}, {after}] (±1 s)"
    );
    assert_eq!(u16::from_be_bytes([data[8], data[9]]), 1, "attempts");
    let id = &data[10..26];
    assert!(
        id.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)),
        "id {:?} is not 16 lowercase hex chars",
        String::from_utf8_lossy(id)
    );
    assert_eq!(&data[26..], b"hello world");

    // FIN with the same 16 bytes: no answer, and no redelivery after msg_timeout.
    let mut fin = b"FIN ".to_vec();
    fin.extend_from_slice(id);
    fin.push(b'\n');
    raw.write_all(&fin).unwrap();
    raw.set_read_timeout(Some(ms(1500))).unwrap();
    let mut byte = [0u8; 1];
    match raw.read(&mut byte) {
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) => {}
        other => panic!("expected nothing after FIN, got {other:?}"),
    }
}

#[test]
fn rdy_is_an_in_flight_window() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "window", "c", None, 2);
    let all = bodies("m", 5);
    publish_all(&mut nsqd.connect(), "window", &all);
    let first = expect_bodies(&mut c, &all[0..2]);
    c.expect_silence(QUIET);
    // One FIN frees one slot: exactly one more, without sending RDY again.
    c.send(Request::Fin(first[0].id()));
    let third = expect_bodies(&mut c, &all[2..3]);
    c.expect_silence(QUIET);
    // RDY 0 stops delivery even when the window empties.
    c.send(Request::Rdy(0));
    fin_all(&mut c, &[first[1].clone(), third[0].clone()]);
    c.expect_silence(QUIET);
    c.send(Request::Rdy(5));
    let rest = expect_bodies(&mut c, &all[3..5]);
    fin_all(&mut c, &rest);
    c.expect_silence(QUIET);
}

#[test]
fn rdy_above_max_rdy_count_is_fatal() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "maxrdy", "c", None, 2500);
    c.send(Request::Rdy(2501));
    c.expect_error("E_INVALID RDY count 2501 out of range 0-2500");
    c.expect_closed();
}

#[test]
fn req_0_redelivers_at_once_with_attempts_2() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "req0", "c", None, 1);
    nsqd.connect().publish("req0", b"again");
    let first = c.expect_message();
    assert_eq!(first.header.attempts, 1);
    c.send(Request::Req(first.id(), 0));
    let again = c.expect_message();
    assert_redelivery(&first, &again);
    c.send(Request::Fin(again.id()));
    c.expect_silence(QUIET);
}

#[test]
fn req_with_delay_redelivers_after_the_delay() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "reqdelay", "c", None, 1);
    nsqd.connect().publish("reqdelay", b"later");
    let first = c.expect_message();
    let sent = Instant::now();
    c.send(Request::Req(first.id(), 1500));
    let again = arrives_between(&mut c, sent, ms(1400), ms(1000), ms(1500) + LATE);
    assert_redelivery(&first, &again);
}

#[test]
fn req_delay_beyond_max_req_timeout_is_clamped() {
    let nsqd = Nsqd::start(&["--max-req-timeout=2s"]);
    let mut c = consumer(&nsqd, "reqclamp", "c", None, 1);
    nsqd.connect().publish("reqclamp", b"clamped");
    let first = c.expect_message();
    let sent = Instant::now();
    c.send(Request::Req(first.id(), 100_000));
    // Not refused (no error frame), and back after ~2 s rather than 100 s.
    let again = arrives_between(&mut c, sent, ms(1900), ms(1500), ms(2000) + LATE);
    assert_redelivery(&first, &again);
}

/// A holds one message (then RDY 0 so it cannot take it back); B, on the
/// same channel, is ready for it. Returns (A, B, the message, publish time).
fn held_by_a(nsqd: &Nsqd, topic: &str, a_timeout: u64) -> (Client, Client, Msg, Instant) {
    let mut a = consumer(nsqd, topic, "c", Some(&msg_timeout(a_timeout)), 1);
    let published = Instant::now();
    nsqd.connect().publish(topic, b"held");
    let m = a.expect_message();
    a.send(Request::Rdy(0));
    let b = consumer(nsqd, topic, "c", None, 1);
    (a, b, m, published)
}

#[test]
fn unfinished_message_times_out_to_another_consumer() {
    let nsqd = Nsqd::start(&[]);
    let (mut a, mut b, m, published) = held_by_a(&nsqd, "timeout", 1000);
    let received = Instant::now();
    let again = arrives_between(&mut b, received, Duration::ZERO, ms(700), ms(1000) + LATE);
    assert!(published.elapsed() >= ms(950), "redelivered early");
    assert_redelivery(&m, &again);
    // The old delivery can no longer be finished; the error is not fatal.
    a.send(Request::Fin(m.id()));
    a.expect_error(&format!(
        "E_FIN_FAILED FIN {} failed client does not own message",
        hex(m.id())
    ));
    a.publish("other", b"still connected");
    b.send(Request::Fin(again.id()));
    b.expect_silence(QUIET);
}

#[test]
fn touch_extends_the_deadline() {
    let nsqd = Nsqd::start(&[]);
    let (a, mut b, m, _) = held_by_a(&nsqd, "touch", 1000);
    let touching = keep_touching(a, m.id(), ms(300));
    b.expect_silence(ms(2500));
    let mut a = stop_touching(touching);
    let stopped = Instant::now();
    // Once the touches stop, the 1 s timeout applies again.
    let again = arrives_between(
        &mut b,
        stopped,
        Duration::ZERO,
        Duration::ZERO,
        ms(1000) + LATE,
    );
    assert_redelivery(&m, &again);
    // No TOUCH was refused: the first error A sees is for its late FIN.
    a.send(Request::Fin(m.id()));
    expect_error_prefix(&mut a, "E_FIN_FAILED");
}

#[test]
fn touch_is_capped_by_max_msg_timeout() {
    let nsqd = Nsqd::start(&["--max-msg-timeout=2s"]);
    let (a, mut b, m, published) = held_by_a(&nsqd, "touchcap", 1000);
    let received = Instant::now();
    let touching = keep_touching(a, m.id(), ms(300));
    let again = arrives_between(&mut b, received, Duration::ZERO, ms(1200), ms(2000) + LATE);
    assert!(
        published.elapsed() >= ms(1900),
        "redelivered before the cap"
    );
    assert_redelivery(&m, &again);
    stop_touching(touching);
}

#[test]
fn disconnect_leaves_messages_in_flight_until_msg_timeout() {
    let nsqd = Nsqd::start(&[]);
    let mut a = consumer(&nsqd, "gone", "c", Some(&msg_timeout(2000)), 3);
    let all = bodies("g", 3);
    let published = Instant::now();
    publish_all(&mut nsqd.connect(), "gone", &all);
    let held = expect_bodies(&mut a, &all);
    let received = Instant::now();
    drop(a);
    let mut b = consumer(&nsqd, "gone", "c", None, 10);
    let first = arrives_between(&mut b, received, Duration::ZERO, ms(1000), ms(2000) + LATE);
    assert!(
        published.elapsed() >= ms(1900),
        "redelivered before msg_timeout"
    );
    let mut again = vec![first];
    again.extend((0..2).map(|_| b.expect_message()));
    again.sort_by(|x, y| x.body.cmp(&y.body));
    for (old, new) in held.iter().zip(&again) {
        assert_redelivery(old, new);
    }
}

#[test]
fn dpub_defers_and_dpub_0_is_immediate() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "dpub", "c", None, 10);
    let mut p = nsqd.connect();
    let sent = Instant::now();
    p.send(Request::Dpub("dpub", 1000, b"later"));
    p.expect_response("OK");
    p.send(Request::Dpub("dpub", 0, b"now"));
    p.expect_response("OK");
    let now = c.next_within(ms(800));
    assert!(
        matches!(&now, Some(Got::Message(m)) if m.body == b"now"),
        "{now:?}"
    );
    let later = arrives_between(&mut c, sent, ms(950), ms(800), ms(1000) + LATE);
    assert_eq!(later.body, b"later");
    assert_eq!(later.header.attempts, 1);
}

#[test]
fn cls_answers_close_wait_ignores_rdy_and_still_accepts_fin() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "cls", "c", None, 1);
    let all = bodies("c", 2);
    publish_all(&mut nsqd.connect(), "cls", &all);
    let held = expect_bodies(&mut c, &all[0..1]);
    c.send(Request::Cls);
    c.expect_response("CLOSE_WAIT");
    c.send(Request::Rdy(5));
    c.expect_silence(QUIET);
    c.send(Request::Fin(held[0].id()));
    // The first FIN was accepted: a second one finds nothing in flight.
    c.send(Request::Fin(held[0].id()));
    c.expect_error(&not_in_flight(held[0].id()));
    // The queued message was left for others.
    let mut other = consumer(&nsqd, "cls", "c", None, 10);
    expect_bodies(&mut other, &all[1..2]);
    other.expect_silence(QUIET);
}

#[test]
fn consumers_of_one_channel_share_its_messages() {
    let nsqd = Nsqd::start(&[]);
    let mut cs: Vec<Client> = (0..3)
        .map(|_| consumer(&nsqd, "share", "c", None, 10))
        .collect();
    let all = bodies("s", 30);
    publish_all(&mut nsqd.connect(), "share", &all);
    // Three windows of 10 hold exactly the 30 messages: 10 each, no overlap.
    let mut seen = HashSet::new();
    for c in &mut cs {
        let got: Vec<Msg> = (0..10).map(|_| c.expect_message()).collect();
        for m in &got {
            assert_eq!(m.header.attempts, 1);
            assert!(seen.insert(m.body.clone()), "delivered twice: {m:?}");
        }
        fin_all(c, &got);
    }
    assert_eq!(seen, all.into_iter().collect());
    for c in &mut cs {
        c.expect_silence(QUIET);
    }
}

#[test]
fn every_channel_gets_every_message_with_the_same_id() {
    let nsqd = Nsqd::start(&[]);
    let mut cs: Vec<Client> = (0..3)
        .map(|i| consumer(&nsqd, "fanout", &format!("ch{i}"), None, 10))
        .collect();
    let all = bodies("f", 10);
    publish_all(&mut nsqd.connect(), "fanout", &all);
    let got: Vec<Vec<Msg>> = cs.iter_mut().map(|c| expect_bodies(c, &all)).collect();
    for other in &got[1..] {
        for (a, b) in got[0].iter().zip(other) {
            assert_eq!(a.header, b.header, "same id, timestamp and attempts");
        }
    }
}

#[test]
fn topic_without_channels_keeps_messages_until_one_exists() {
    let nsqd = Nsqd::start(&[]);
    let all = bodies("k", 10);
    publish_all(&mut nsqd.connect(), "keep", &all);
    let mut c = consumer(&nsqd, "keep", "late", None, 10);
    let got = expect_bodies(&mut c, &all);
    fin_all(&mut c, &got);
    c.expect_silence(QUIET);
}

#[test]
fn ephemeral_channel_is_deleted_with_its_last_consumer() {
    let nsqd = Nsqd::start(&["--max-channel-consumers=1"]);
    let t = "eph";
    let mut keep = consumer(&nsqd, t, "keep", None, 0);
    let eph = consumer(&nsqd, t, "e#ephemeral", None, 0);
    let durable = consumer(&nsqd, t, "durable", None, 0);
    let mut p = nsqd.connect();
    let all = bodies("e", 4);
    publish_all(&mut p, t, &all[0..3]);
    drop((eph, durable));
    // A durable channel keeps what its consumer left behind ...
    let mut durable = subscribe_when_free(&nsqd, t, "durable");
    durable.send(Request::Rdy(10));
    expect_bodies(&mut durable, &all[0..3]);
    // ... an ephemeral one is gone with it, and is recreated empty.
    let mut eph = subscribe_when_free(&nsqd, t, "e#ephemeral");
    eph.send(Request::Rdy(10));
    eph.expect_silence(QUIET);
    publish_all(&mut p, t, &all[3..4]);
    expect_bodies(&mut eph, &all[3..4]);
    expect_bodies(&mut durable, &all[3..4]);
    keep.send(Request::Rdy(10));
    expect_bodies(&mut keep, &all);
}

#[test]
fn ephemeral_topic_and_channel_lose_in_flight_messages_with_the_last_consumer() {
    let nsqd = Nsqd::start(&["--max-channel-consumers=1"]);
    let (t, ch) = ("et#ephemeral", "ec#ephemeral");
    let mut p = nsqd.connect();
    // A topic that never had a channel holds its messages.
    let all = bodies("x", 4);
    publish_all(&mut p, t, &all[0..3]);
    let mut first = consumer(&nsqd, t, ch, Some(&msg_timeout(1000)), 10);
    let held = expect_bodies(&mut first, &all[0..3]);
    first.send(Request::Fin(held[0].id()));
    drop(first);
    // The two unfinished messages went with the channel: not redelivered
    // after their 1 s timeout.
    let mut second = subscribe_when_free(&nsqd, t, ch);
    second.send(Request::Rdy(10));
    second.expect_silence(ms(1500));
    publish_all(&mut p, t, &all[3..4]);
    let got = expect_bodies(&mut second, &all[3..4]);
    assert_eq!(got[0].header.attempts, 1);
}

/// Publish 8 with `--mem-queue-size=5` (all `OK`), then consume: only the
/// first 5 were kept.
fn overflow_is_dropped(topic: &str, subscribe_first: bool) {
    let nsqd = Nsqd::start(&["--mem-queue-size=5"]);
    let mut early = subscribe_first.then(|| consumer(&nsqd, topic, "c#ephemeral", None, 0));
    let all = bodies("o", 8);
    publish_all(&mut nsqd.connect(), topic, &all);
    let mut c = match early.take() {
        Some(mut c) => {
            c.send(Request::Rdy(10));
            c
        }
        None => consumer(&nsqd, topic, "c#ephemeral", None, 10),
    };
    expect_bodies(&mut c, &all[0..5]);
    c.expect_silence(QUIET);
}

#[test]
fn ephemeral_topic_overflow_is_dropped_silently() {
    overflow_is_dropped("full#ephemeral", false);
}

#[test]
fn ephemeral_channel_overflow_is_dropped_silently() {
    overflow_is_dropped("full", true);
}

#[test]
fn overflow_goes_to_disk_and_comes_back_in_order() {
    let nsqd = Nsqd::start(&["--mem-queue-size=5"]);
    let mut p = nsqd.connect();
    let all = bodies("n", 60);
    publish_all(&mut p, "spill", &all[0..30]);
    let refs: Vec<&[u8]> = all[30..].iter().map(Vec::as_slice).collect();
    p.send(Request::Mpub("spill", &refs));
    p.expect_response("OK");
    let mut c = consumer(&nsqd, "spill", "c", None, 7);
    let got = expect_bodies(&mut c, &all[0..7]);
    fin_all(&mut c, &got);
    c.send(Request::Rdy(100));
    let got = expect_bodies(&mut c, &all[7..]);
    fin_all(&mut c, &got);
    c.expect_silence(QUIET);
}

#[test]
fn mem_queue_size_zero_puts_everything_through_the_disk() {
    let nsqd = Nsqd::start(&["--mem-queue-size=0"]);
    let mut c = consumer(&nsqd, "zero", "c", None, 1000);
    let all = bodies("z", 500);
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    let mut p = nsqd.connect();
    p.send(Request::Mpub("zero", &refs));
    p.expect_response("OK");
    let got = expect_bodies(&mut c, &all);
    fin_all(&mut c, &got);
    c.expect_silence(QUIET);
}

#[test]
fn max_channel_consumers_refuses_the_next_sub() {
    let nsqd = Nsqd::start(&["--max-channel-consumers=1"]);
    let mut first = consumer(&nsqd, "limit", "c", None, 1);
    let mut second = nsqd.connect();
    second.send(Request::Sub("limit", "c"));
    second.expect_error("E_SUB_FAILED SUB failed consumers for limit:c exceeds limit of 1");
    second.expect_closed();
    // Another channel is a separate limit; the first consumer still works.
    let mut other = consumer(&nsqd, "limit", "other", None, 1);
    nsqd.connect().publish("limit", b"x");
    assert_eq!(first.expect_message().body, b"x");
    assert_eq!(other.expect_message().body, b"x");
}

#[test]
fn sample_rate_delivers_a_sample_and_drains_the_channel() {
    let nsqd = Nsqd::start(&[]);
    let mut s = consumer(&nsqd, "sample", "c", Some("{\"sample_rate\":50}"), 500);
    let all = bodies("r", 400);
    let refs: Vec<&[u8]> = all.iter().map(Vec::as_slice).collect();
    let mut p = nsqd.connect();
    p.send(Request::Mpub("sample", &refs));
    p.expect_response("OK");
    let got = collect_until_barrier(&mut s);
    assert!(
        (80..=320).contains(&got.len()),
        "sample_rate 50 delivered {} of 400",
        got.len()
    );
    let distinct: HashSet<_> = got.iter().map(|m| m.body.clone()).collect();
    assert_eq!(distinct.len(), got.len(), "duplicates");
    fin_all(&mut s, &got);
    // Nothing is left queued for a consumer without sampling.
    let mut check = consumer(&nsqd, "sample", "c", None, 500);
    check.expect_silence(QUIET);
    s.expect_silence(QUIET);
}

#[test]
fn thousands_of_messages_through_one_consumer() {
    let nsqd = Nsqd::start(&[]);
    let mut c = consumer(&nsqd, "many", "c", None, 100);
    let all = bodies("many-", 3000);
    let mut p = nsqd.connect();
    let mut wire = Vec::new();
    for chunk in all.chunks(100) {
        let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
        Request::Mpub("many", &refs).encode(&mut wire);
    }
    p.send_bytes(&wire);
    let mut ids = HashSet::new();
    let mut seen = HashSet::new();
    for _ in 0..all.len() {
        let m = c.expect_message();
        assert_eq!(m.header.attempts, 1);
        assert!(ids.insert(m.id()), "duplicate id {m:?}");
        assert!(seen.insert(m.body.clone()), "duplicate body {m:?}");
        c.send(Request::Fin(m.id()));
    }
    for _ in 0..30 {
        p.expect_response("OK");
    }
    assert_eq!(seen, all.into_iter().collect());
    c.expect_silence(QUIET);
}
