//! The TCP V2 protocol surface a client sees (docs/protocol.md):
//!
//! * magic: `  V2` works; a bad magic gets one `E_BAD_PROTOCOL` error frame
//!   then EOF; a client that sends 2 bytes and leaves does not hurt others;
//! * IDENTIFY: `OK` without negotiation; the negotiation JSON (every key, in
//!   NSQ's order, exact values, upgrades refused when not available); every
//!   validation bound with its exact text; validation order; unknown keys
//!   (go-nsq's and pynsq's full bodies); bad JSON and body sizes; IDENTIFY
//!   after SUB; bounds moved by flags in all four flag spellings;
//! * command errors with exact texts: empty, unknown and lowercase commands,
//!   missing parameters, bad numbers, PUB/DPUB/MPUB size limits, DPUB range,
//!   bad topic and channel names (64-byte limit, quoting), lines over 16 KiB;
//! * state errors: RDY/FIN/REQ/TOUCH/CLS before SUB, SUB twice, SUB with
//!   heartbeats disabled, AUTH (disabled), bad message-ID length (fatal) and
//!   FIN/REQ/TOUCH of unknown IDs (not fatal: the connection keeps working);
//! * every fatal error is an error frame then EOF, and a subscribed
//!   bystander connection keeps receiving throughout;
//! * heartbeats: cadence of `_heartbeat_`, disconnect after ~2 silent
//!   intervals, a client answering NOP stays connected.

use std::time::{Duration, Instant};

use nsq_protocol::command::Request;

use crate::harness::*;

/// A well-formed message ID that is never in flight.
const ID: &str = "0123456789abcdef";

/// IDENTIFY keys with bounds.
const HB: &str = "heartbeat_interval";
const OBS: &str = "output_buffer_size";
const OBT: &str = "output_buffer_timeout";
const MT: &str = "msg_timeout";

/// Wire bytes of some commands.
fn enc(reqs: &[Request<'_>]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in reqs {
        r.encode(&mut out);
    }
    out
}

/// A command line followed by a 4-byte size field (and nothing else).
fn sized(line: &str, size: u32) -> Vec<u8> {
    let mut out = format!("{line}\n").into_bytes();
    out.extend_from_slice(&size.to_be_bytes());
    out
}

/// `MPUB t` whose body starts with `fields` and is padded to `size` bytes.
fn mpub_padded(fields: &[u32], size: u32) -> Vec<u8> {
    let mut out = sized("MPUB t", size);
    fields
        .iter()
        .for_each(|f| out.extend_from_slice(&f.to_be_bytes()));
    out.resize(out.len() + size as usize - 4 * fields.len(), b'x');
    out
}

/// Expect one error frame with `err`, then EOF.
fn expect_fatal(c: &mut Client, err: &str) {
    c.expect_error(err);
    c.expect_closed();
}

/// On a fresh connection, `bytes` must get error `err` then EOF.
fn fatal(nsqd: &Nsqd, bytes: impl AsRef<[u8]>, err: impl AsRef<str>) {
    let mut c = nsqd.connect();
    c.send_bytes(bytes.as_ref());
    expect_fatal(&mut c, err.as_ref());
}

/// On a fresh connection subscribed to `t`/`c`, `bytes` must be fatal.
fn fatal_subscribed(nsqd: &Nsqd, bytes: impl AsRef<[u8]>, err: impl AsRef<str>) {
    let mut c = nsqd.connect();
    c.subscribe("t", "c");
    c.send_bytes(bytes.as_ref());
    expect_fatal(&mut c, err.as_ref());
}

/// A table of fatal cases: `fatal_cases!(check, nsqd; bytes => error, ...)`
/// runs `check(nsqd, bytes, error)` for each (`fatal` or `fatal_subscribed`).
macro_rules! fatal_cases {
    ($check:ident, $nsqd:expr; $($bytes:expr => $err:expr),+ $(,)?) => {
        $($check($nsqd, $bytes, $err);)+
    };
}

/// IDENTIFY with `json` on a fresh connection; returns the reply and client.
fn identify(nsqd: &Nsqd, json: &str) -> (Got, Client) {
    let mut c = nsqd.connect();
    let got = c.identify(json);
    (got, c)
}

/// IDENTIFY must be accepted with `reply`, and the connection keep working.
fn identify_ok(nsqd: &Nsqd, json: &str, reply: &str) {
    let (got, mut c) = identify(nsqd, json);
    assert_eq!(got, Got::Response(reply.into()), "IDENTIFY {json}");
    c.publish("after_identify", b"x");
}

/// IDENTIFY must be refused with `E_BAD_BODY IDENTIFY <text>` then EOF.
fn identify_refused(nsqd: &Nsqd, json: &str, text: &str) {
    let (got, mut c) = identify(nsqd, json);
    assert_eq!(
        got,
        Got::Error(format!("E_BAD_BODY IDENTIFY {text}")),
        "IDENTIFY {json}"
    );
    c.expect_closed();
}

/// `{"<k>": v}` is accepted for each `ok` value; each `refused` value is
/// fatal with `<k with spaces> (<v>) is invalid`.
fn check_bounds(nsqd: &Nsqd, k: &str, ok: &[i64], refused: &[i64]) {
    for v in ok {
        identify_ok(nsqd, &format!(r#"{{"{k}":{v}}}"#), "OK");
    }
    for v in refused {
        let text = format!("{} ({v}) is invalid", k.replace('_', " "));
        identify_refused(nsqd, &format!(r#"{{"{k}":{v}}}"#), &text);
    }
}

/// The negotiation reply of NSQ 1.3.0 with default flags (keys in order).
const REPLY: &str = concat!(
    r#"{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,"#,
    r#""tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"#,
    r#""sample_rate":0,"auth_required":false,"output_buffer_size":16384,"#,
    r#""output_buffer_timeout":250}"#
);

/// [`REPLY`] with some values replaced (`(key, raw JSON value)`).
fn negotiated(overrides: &[(&str, &str)]) -> String {
    let mut s = REPLY.to_string();
    for (k, v) in overrides {
        let key = format!("\"{k}\":");
        let at = s.find(&key).expect("known key") + key.len();
        let end = at + s[at..].find([',', '}']).unwrap();
        s.replace_range(at..end, v);
    }
    s
}

/// A consumer of `bystander`/`c` with RDY 10, to prove later that bad
/// clients did not disturb it.
fn bystander(nsqd: &Nsqd) -> Client {
    let mut c = nsqd.connect();
    c.subscribe("bystander", "c");
    c.send(Request::Rdy(10));
    c
}

/// The bystander still receives what a fresh producer publishes, and a
/// fresh connection still works.
fn bystander_still_served(nsqd: &Nsqd, b: &mut Client, body: &[u8]) {
    let mut p = nsqd.connect();
    p.publish("bystander", body);
    let m = b.expect_message();
    assert_eq!(m.body, body);
    b.send(Request::Fin(m.id()));
    b.send(Request::Nop);
    p.publish("bystander_check", b"still here");
}

/// A command whose body the client's half-close cut short gets the short
/// read's error (fatal) before the close, for every command with a body;
/// a command line cut short gets no answer.
#[test]
fn a_body_cut_short_by_a_half_close_is_answered_before_the_close() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    let cases: [(Vec<u8>, &str); 8] = [
        (
            b"PUB t\n\0\0".to_vec(),
            "E_BAD_MESSAGE PUB failed to read message body size",
        ),
        (
            [&sized("PUB t", 5)[..], b"ab"].concat(),
            "E_BAD_MESSAGE PUB failed to read message body",
        ),
        (
            [&sized("DPUB t 100", 5)[..], b"ab"].concat(),
            "E_BAD_MESSAGE DPUB failed to read message body",
        ),
        (
            sized("MPUB t", 20)[..9].to_vec(),
            "E_BAD_BODY MPUB failed to read body size",
        ),
        (
            sized("MPUB t", 20),
            "E_BAD_BODY MPUB failed to read message count",
        ),
        (
            [&sized("MPUB t", 20)[..], &[0, 0, 0, 2, 0, 0, 0, 3], b"a"].concat(),
            "E_BAD_MESSAGE MPUB failed to read message body",
        ),
        (
            [&sized("IDENTIFY", 10)[..], b"{}"].concat(),
            "E_BAD_BODY IDENTIFY failed to read body",
        ),
        (
            [&sized("AUTH", 10)[..], b"sec"].concat(),
            "E_BAD_BODY AUTH failed to read body",
        ),
    ];
    for (bytes, err) in cases {
        let mut c = nsqd.connect();
        c.send_bytes(&bytes);
        c.shutdown_write();
        expect_fatal(&mut c, err);
    }
    // Earlier commands on the connection are answered first.
    let mut c = nsqd.connect();
    c.send(Request::Pub("t", b"whole"));
    c.send_bytes(b"PUB t\n\0\0\0\x09cut");
    c.shutdown_write();
    c.expect_response("OK");
    expect_fatal(&mut c, "E_BAD_MESSAGE PUB failed to read message body");
    // A command line cut short: EOF without an answer.
    let mut c = nsqd.connect();
    c.send_bytes(b"PUB t");
    c.shutdown_write();
    c.expect_closed();
    bystander_still_served(&nsqd, &mut b, b"after half-closes");
}

// ---------------------------------------------------------------- magic --

#[test]
fn good_magic_then_nop_and_pub() {
    let nsqd = Nsqd::start(&[]);
    let mut c = nsqd.connect();
    // NOP has no response: the only frame is PUB's OK.
    c.send_bytes(&enc(&[Request::Nop, Request::Pub("t", b"x")]));
    c.expect_response("OK");
    c.expect_silence(Duration::from_millis(100));
}

#[test]
fn bad_magic_gets_e_bad_protocol_then_eof() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    for magic in [&b"  V1"[..], b"GET ", b"V2  ", b"\0\0\0\0"] {
        let mut c = Client::connect_raw(nsqd.tcp);
        c.send_bytes(magic);
        expect_fatal(&mut c, "E_BAD_PROTOCOL");
    }
    bystander_still_served(&nsqd, &mut b, b"after bad magic");
}

#[test]
fn partial_magic_and_hangup_does_not_hurt_the_server() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    for _ in 0..20 {
        let mut c = Client::connect_raw(nsqd.tcp);
        c.send_bytes(b" V");
        drop(c);
    }
    // One that stays with a partial magic gets nothing and is not closed.
    let mut waiting = Client::connect_raw(nsqd.tcp);
    waiting.send_bytes(b"  ");
    waiting.expect_silence(Duration::from_millis(200));
    bystander_still_served(&nsqd, &mut b, b"after partial magic");
    // Completing the magic later still works.
    waiting.send_bytes(b"V2");
    waiting.publish("late", b"x");
}

// ------------------------------------------------------------- IDENTIFY --

#[test]
fn identify_without_negotiation_is_ok_and_never_upgrades() {
    let nsqd = Nsqd::start(&[]);
    identify_ok(&nsqd, "{}", "OK");
    identify_ok(
        &nsqd,
        r#"{"client_id":"c","hostname":"h","user_agent":"test/1.0"}"#,
        "OK",
    );
    // Upgrades asked for without feature_negotiation: plain OK, no upgrade.
    identify_ok(
        &nsqd,
        r#"{"tls_v1":true,"snappy":true,"deflate":true,"feature_negotiation":false}"#,
        "OK",
    );
    // A second IDENTIFY before SUB is accepted
    // (docs/compatibility.md#second-identify).
    let (got, mut c) = identify(&nsqd, "{}");
    assert_eq!(got, Got::Response("OK".into()));
    assert_eq!(c.identify("{}"), Got::Response("OK".into()));
    c.subscribe("t", "c");
}

#[test]
fn identify_negotiation_reports_every_key_in_order() {
    let nsqd = Nsqd::start(&[]);
    identify_ok(&nsqd, r#"{"feature_negotiation":true}"#, &negotiated(&[]));
    identify_ok(
        &nsqd,
        r#"{"feature_negotiation":true,"heartbeat_interval":1000,"msg_timeout":1000,
            "output_buffer_size":64,"output_buffer_timeout":25,"sample_rate":99}"#,
        &negotiated(&[
            ("msg_timeout", "1000"),
            ("sample_rate", "99"),
            ("output_buffer_size", "64"),
            ("output_buffer_timeout", "25"),
        ]),
    );
    // Unbuffered: size 1 and the timed flush forced off.
    identify_ok(
        &nsqd,
        r#"{"feature_negotiation":true,"output_buffer_size":-1,"output_buffer_timeout":1000}"#,
        &negotiated(&[("output_buffer_size", "1"), ("output_buffer_timeout", "0")]),
    );
    identify_ok(
        &nsqd,
        r#"{"feature_negotiation":true,"output_buffer_timeout":-1,"msg_timeout":900000}"#,
        &negotiated(&[("output_buffer_timeout", "0"), ("msg_timeout", "900000")]),
    );
    // No TLS certificate: tls_v1 is false even when asked for.
    identify_ok(
        &nsqd,
        r#"{"feature_negotiation":true,"tls_v1":true}"#,
        &negotiated(&[]),
    );
}

#[test]
fn identify_upgrades_are_false_when_disabled() {
    let nsqd = Nsqd::start(&["--deflate=false", "--snappy=false", "--max-deflate-level=9"]);
    // Nothing is upgraded: the next command is still plain text.
    identify_ok(
        &nsqd,
        r#"{"feature_negotiation":true,"tls_v1":true,"snappy":true,"deflate":true,"deflate_level":9}"#,
        &negotiated(&[("max_deflate_level", "9")]),
    );
}

#[test]
fn identify_validation_bounds_and_texts() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    check_bounds(&nsqd, HB, &[1000, 60000, -1, 0], &[999, 60001, -2]);
    check_bounds(&nsqd, OBS, &[64, 65536, -1, 0], &[63, 65537, -2]);
    check_bounds(&nsqd, OBT, &[25, 30000, -1, 0], &[24, 30001, -2]);
    check_bounds(&nsqd, "sample_rate", &[0, 99], &[100, -1]);
    check_bounds(&nsqd, MT, &[1000, 900000, 0], &[999, 900001, -1]);
    // Order: heartbeat, buffer timeout, buffer size, sample rate, msg timeout.
    fatal_cases!(identify_refused, &nsqd;
        r#"{"msg_timeout":1,"sample_rate":100,"output_buffer_size":1,"heartbeat_interval":1}"#
            => "heartbeat interval (1) is invalid",
        r#"{"output_buffer_size":1,"output_buffer_timeout":1}"#
            => "output buffer timeout (1) is invalid",
        r#"{"msg_timeout":1,"sample_rate":100,"output_buffer_size":1}"#
            => "output buffer size (1) is invalid",
        r#"{"msg_timeout":1,"sample_rate":100}"# => "sample rate (100) is invalid",
    );
    bystander_still_served(&nsqd, &mut b, b"after IDENTIFY errors");
}

#[test]
fn identify_ignores_unknown_keys_of_real_clients() {
    let nsqd = Nsqd::start(&[]);
    let go_nsq = r#"{"client_id":"h","hostname":"h.example","user_agent":"go-nsq/1.1.0","short_id":"h","long_id":"h.example","tls_v1":false,"deflate":false,"deflate_level":6,"snappy":false,"feature_negotiation":true,"heartbeat_interval":30000,"sample_rate":0,"output_buffer_size":16384,"output_buffer_timeout":250,"msg_timeout":0,"topology_region":"eu","topology_zone":"eu-1a"}"#;
    identify_ok(&nsqd, go_nsq, &negotiated(&[]));
    let pynsq = r#"{"short_id":"h","long_id":"h.example","client_id":"h","hostname":"h.example","heartbeat_interval":30000,"feature_negotiation":true,"tls_v1":false,"snappy":false,"deflate":false,"deflate_level":6,"output_buffer_timeout":250,"output_buffer_size":16384,"sample_rate":0,"user_agent":"pynsq/0.9.1","msg_timeout":30000}"#;
    identify_ok(&nsqd, pynsq, &negotiated(&[("msg_timeout", "30000")]));
    identify_ok(
        &nsqd,
        r#"{"future":{"nested":[1,"two",null]},"x":1.5,"client_id":null}"#,
        "OK",
    );
    // As Go's decoder: `null` changes nothing; a repeated key's last value wins.
    identify_ok(&nsqd, "null", "OK");
    identify_ok(&nsqd, r#"{"sample_rate":100,"sample_rate":1}"#, "OK");
}

#[test]
fn identify_bad_bodies_are_fatal() {
    let nsqd = Nsqd::start(&["--max-body-size=1000"]);
    let mut b = bystander(&nsqd);
    for json in [
        "nope",
        "{",
        "{}x",
        "[]",
        r#"["client"]"#,
        "1",
        r#"{"heartbeat_interval":"1000"}"#,
        r#"{"heartbeat_interval":1000.5}"#,
        r#"{"feature_negotiation":1}"#,
        r#"{"sample_rate":4294967296}"#,
    ] {
        identify_refused(&nsqd, json, "failed to decode JSON body");
    }
    fatal_cases!(fatal, &nsqd;
        sized("IDENTIFY", 0) => "E_BAD_BODY IDENTIFY invalid body size 0",
        sized("IDENTIFY", 1001) => "E_BAD_BODY IDENTIFY body too big 1001 > 1000",
    );
    // A 1000-byte body is within the limit.
    let padded = format!(r#"{{"client_id":"{}"}}"#, "p".repeat(1000 - 16));
    assert_eq!(padded.len(), 1000);
    identify_ok(&nsqd, &padded, "OK");
    bystander_still_served(&nsqd, &mut b, b"after bad IDENTIFY bodies");
}

#[test]
fn identify_bounds_follow_flags_in_every_spelling() {
    let flags = [
        ("max-heartbeat-interval", "10s"),
        ("max-msg-timeout", "20s"),
        ("msg-timeout", "5s"),
        ("max-output-buffer-size", "1000"),
        ("min-output-buffer-timeout", "50ms"),
        ("max-output-buffer-timeout", "100ms"),
        ("output-buffer-timeout", "75ms"),
        ("max-rdy-count", "100"),
    ];
    type Spell = fn(&str, &str) -> Vec<String>;
    let spellings: [Spell; 4] = [
        |f, v| vec![format!("-{f}={v}")],
        |f, v| vec![format!("--{f}"), v.into()],
        |f, v| vec![format!("-{f}"), v.into()],
        |f, v| vec![format!("--{f}={v}")],
    ];
    for spell in spellings {
        let args: Vec<String> = flags.iter().flat_map(|(f, v)| spell(f, v)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let nsqd = Nsqd::start(&args);
        identify_ok(
            &nsqd,
            r#"{"feature_negotiation":true}"#,
            &negotiated(&[
                ("max_rdy_count", "100"),
                ("max_msg_timeout", "20000"),
                ("msg_timeout", "5000"),
                ("output_buffer_timeout", "75"),
            ]),
        );
        check_bounds(&nsqd, HB, &[10000], &[10001]);
        check_bounds(&nsqd, MT, &[20000], &[20001]);
        check_bounds(&nsqd, OBS, &[1000], &[1001]);
        check_bounds(&nsqd, OBT, &[50, 100], &[49, 101]);
        let err = "E_INVALID RDY count 101 out of range 0-100";
        fatal_subscribed(&nsqd, b"RDY 101\n", err);
    }
}

// ------------------------------------------------------ command errors --

#[test]
fn malformed_commands_are_fatal_with_exact_texts() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    fatal_cases!(fatal, &nsqd;
        b"\n" => "E_INVALID invalid command ",
        b"\r\n" => "E_INVALID invalid command ",
        b" NOP\n" => "E_INVALID invalid command ",
        b"FOO\n" => "E_INVALID invalid command FOO",
        b"pub t\n" => "E_INVALID invalid command pub",
        b"Nop\n" => "E_INVALID invalid command Nop",
        b"PUB\n" => "E_INVALID PUB insufficient number of parameters",
        b"MPUB\n" => "E_INVALID MPUB insufficient number of parameters",
        b"DPUB t\n" => "E_INVALID DPUB insufficient number of parameters",
        b"DPUB t -1\n" => "E_INVALID DPUB could not parse timeout -1",
        b"DPUB t 1x\n" => "E_INVALID DPUB could not parse timeout 1x",
        b"SUB t\n" => "E_INVALID SUB insufficient number of parameters",
        b"AUTH a b\n" => "E_INVALID AUTH invalid number of parameters",
    );
    fatal_cases!(fatal_subscribed, &nsqd;
        b"SUB t c\n" => "E_INVALID cannot SUB in current state",
        b"RDY x\n" => "E_INVALID RDY could not parse count x",
        b"RDY -1\n" => "E_INVALID RDY could not parse count -1",
        b"RDY 2501\n" => "E_INVALID RDY count 2501 out of range 0-2500",
    );
    bystander_still_served(&nsqd, &mut b, b"after malformed commands");
}

#[test]
fn lines_over_16_kib_close_the_connection() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    // Just under the limit: parsed, and the (long) name is refused.
    let name = "n".repeat(16_000);
    fatal(
        &nsqd,
        format!("PUB {name}\n").as_bytes(),
        format!("E_BAD_TOPIC PUB topic name \"{name}\" is not valid"),
    );
    // Over the limit, with and without a newline: closed without a frame.
    for tail in ["\n", ""] {
        let mut c = nsqd.connect();
        c.send_bytes(format!("PUB {}{tail}", "n".repeat(17 * 1024)).as_bytes());
        c.expect_closed();
    }
    bystander_still_served(&nsqd, &mut b, b"after long lines");
}

#[test]
fn publish_size_limits_and_texts() {
    let nsqd = Nsqd::start(&[
        "--max-msg-size=100",
        "--max-body-size=1000",
        "--max-req-timeout=10s",
    ]);
    let mut b = bystander(&nsqd);
    let mut p = nsqd.connect();
    let max = vec![b'm'; 100];
    p.publish("t", &max);
    p.send(Request::Dpub("t", 10_000, &max));
    p.expect_response("OK");
    p.send(Request::Dpub("t", 0, b"x"));
    p.expect_response("OK");
    p.send(Request::Mpub("t", &[&max[..], &max[..]]));
    p.expect_response("OK");
    let many = vec![&b"abcd"[..]; 124]; // 4 + 124 * 8 = 996 bytes
    p.send(Request::Mpub("t", &many));
    p.expect_response("OK");

    let msg6 = ["1", "2", "3", "4", "5", ""].map(str::as_bytes);
    fatal_cases!(fatal, &nsqd;
        sized("PUB t", 101) => "E_BAD_MESSAGE PUB message too big 101 > 100",
        sized("PUB t", 0) => "E_BAD_MESSAGE PUB invalid message body size 0",
        sized("PUB t", u32::MAX) => "E_BAD_MESSAGE PUB invalid message body size -1",
        sized("DPUB t 5", 101) => "E_BAD_MESSAGE DPUB message too big 101 > 100",
        sized("DPUB t 5", 0) => "E_BAD_MESSAGE DPUB invalid message body size 0",
        b"DPUB t 10001\n" => "E_INVALID DPUB timeout 10001 out of range 0-10000",
        sized("MPUB t", 1001) => "E_BAD_BODY MPUB body too big 1001 > 1000",
        sized("MPUB t", 0) => "E_BAD_BODY MPUB invalid body size 0",
        mpub_padded(&[0], 4) => "E_BAD_BODY MPUB invalid message count 0",
        // At most (1000 - 4) / 5 = 199 messages fit.
        mpub_padded(&[200], 1000) => "E_BAD_BODY MPUB invalid message count 200",
        mpub_padded(&[2, 101], 1000) => "E_BAD_MESSAGE MPUB message too big 101 > 100",
        enc(&[Request::Mpub("t", &msg6)]) => "E_BAD_MESSAGE MPUB invalid message(5) body size 0",
    );
    // The publisher that did everything right is still fine.
    p.publish("t", b"still ok");
    bystander_still_served(&nsqd, &mut b, b"after size errors");
}

#[test]
fn bad_topic_and_channel_names() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    let longest = "t".repeat(64);
    let eph = format!("{}#ephemeral", "e".repeat(54));
    let mut p = nsqd.connect();
    for ok in [&longest, &eph, &"a.b_c-D9".to_string()] {
        p.publish(ok, b"x");
    }
    let mut c = nsqd.connect();
    c.subscribe(&longest, &eph);

    let too_long = "t".repeat(65);
    let eph_too_long = format!("{}#ephemeral", "e".repeat(55));
    for bad in [
        "bad!topic",
        "",
        "a\"b",
        &too_long,
        &eph_too_long,
        "x#ephemeralx",
        "a:b",
    ] {
        let q = format!("{bad:?}");
        fatal(
            &nsqd,
            format!("PUB {bad}\n").as_bytes(),
            format!("E_BAD_TOPIC PUB topic name {q} is not valid"),
        );
    }
    fatal_cases!(fatal, &nsqd;
        b"MPUB bad!topic\n" => "E_BAD_TOPIC MPUB topic name \"bad!topic\" is not valid",
        b"DPUB bad!topic 0\n" => "E_BAD_TOPIC DPUB topic name \"bad!topic\" is not valid",
        b"SUB bad!topic c\n" => "E_BAD_TOPIC SUB topic name \"bad!topic\" is not valid",
        b"SUB t c!\n" => "E_BAD_CHANNEL SUB channel name \"c!\" is not valid",
        format!("SUB t {too_long}\n")
            => format!("E_BAD_CHANNEL SUB channel name \"{too_long}\" is not valid"),
    );
    bystander_still_served(&nsqd, &mut b, b"after bad names");
}

// ------------------------------------------------------- state errors --

#[test]
fn state_errors_are_fatal() {
    let nsqd = Nsqd::start(&[]);
    let mut b = bystander(&nsqd);
    fatal_cases!(fatal, &nsqd;
        b"RDY 1\n" => "E_INVALID cannot RDY in current state",
        format!("FIN {ID}\n") => "E_INVALID cannot FIN in current state",
        format!("REQ {ID} 0\n") => "E_INVALID cannot REQ in current state",
        format!("TOUCH {ID}\n") => "E_INVALID cannot TOUCH in current state",
        b"CLS\n" => "E_INVALID cannot CLS in current state",
        enc(&[Request::Auth(b"secret")]) => "E_AUTH_DISABLED AUTH disabled",
    );
    // Heartbeats disabled: IDENTIFY accepted, SUB refused.
    let (got, mut c) = identify(&nsqd, r#"{"heartbeat_interval":-1}"#);
    assert_eq!(got, Got::Response("OK".into()));
    c.send(Request::Sub("t", "c"));
    expect_fatal(&mut c, "E_INVALID cannot SUB with heartbeats disabled");
    fatal_cases!(fatal_subscribed, &nsqd;
        enc(&[Request::Auth(b"secret")]) => "E_INVALID cannot AUTH in current state",
        enc(&[Request::Identify(b"{}")]) => "E_INVALID cannot IDENTIFY in current state",
    );
    bystander_still_served(&nsqd, &mut b, b"after state errors");
}

#[test]
fn bad_message_id_length_is_fatal() {
    let nsqd = Nsqd::start(&[]);
    let short = &ID[..15];
    fatal_cases!(fatal_subscribed, &nsqd;
        format!("FIN {short}\n") => "E_INVALID invalid message ID",
        format!("REQ {short} 0\n") => "E_INVALID invalid message ID",
        format!("TOUCH {short}\n") => "E_INVALID invalid message ID",
        format!("FIN {ID}0\n") => "E_INVALID invalid message ID",
        b"FIN\n" => "E_INVALID FIN insufficient number of params",
        format!("REQ {ID}\n") => "E_INVALID REQ insufficient number of params",
        b"TOUCH\n" => "E_INVALID TOUCH insufficient number of params",
        format!("REQ {ID} x\n") => "E_INVALID REQ could not parse timeout x",
    );
}

#[test]
fn fin_req_touch_of_unknown_ids_are_not_fatal() {
    let nsqd = Nsqd::start(&[]);
    let mut c = nsqd.connect();
    c.subscribe("t", "c");
    for (line, cmd) in [
        (format!("FIN {ID}\n"), "FIN"),
        (format!("REQ {ID} 0\n"), "REQ"),
        (format!("TOUCH {ID}\n"), "TOUCH"),
    ] {
        c.send_bytes(line.as_bytes());
        let code = format!("E_{cmd}_FAILED");
        c.expect_error(&format!("{code} {cmd} {ID} failed ID not in flight"));
        c.publish("other", b"still works");
    }
    // Still a working consumer: a message arrives and can be FINished quietly.
    c.publish("t", b"hello");
    c.send(Request::Rdy(1));
    let m = c.expect_message();
    assert_eq!((m.body.as_slice(), m.header.attempts), (&b"hello"[..], 1));
    c.send(Request::Fin(m.id()));
    // The same ID again is no longer in flight.
    c.send(Request::Fin(m.id()));
    c.expect_error(&format!(
        "E_FIN_FAILED FIN {} failed ID not in flight",
        m.id()
    ));
    c.publish("other", b"still works");
}

// ----------------------------------------------------------- heartbeats --

/// The next frame must be a heartbeat within `within`; returns when it came.
fn next_heartbeat(c: &mut Client, within: Duration) -> Instant {
    assert_eq!(
        c.next_within(within),
        Some(Got::Response("_heartbeat_".into()))
    );
    Instant::now()
}

/// A client with a 1 s heartbeat that sees heartbeats itself.
fn fast_heartbeat_client(nsqd: &Nsqd) -> (Client, Instant) {
    let mut c = nsqd.connect();
    c.auto_nop = false;
    assert_eq!(
        c.identify(r#"{"heartbeat_interval":1000}"#),
        Got::Response("OK".into())
    );
    (c, Instant::now())
}

#[test]
fn heartbeats_arrive_every_interval() {
    let nsqd = Nsqd::start(&[]);
    let (mut c, start) = fast_heartbeat_client(&nsqd);
    let mut last = start;
    for _ in 0..3 {
        let at = next_heartbeat(&mut c, Duration::from_secs(3));
        let gap = at - last;
        assert!(
            gap >= Duration::from_millis(500) && gap <= Duration::from_millis(2500),
            "heartbeat gap {gap:?}"
        );
        last = at;
        c.send(Request::Nop);
    }
    let total = last - start;
    assert!(
        total >= Duration::from_millis(2500),
        "3 heartbeats in {total:?}"
    );
}

#[test]
fn silent_client_is_disconnected_after_two_intervals() {
    let nsqd = Nsqd::start(&[]);
    let (mut c, start) = fast_heartbeat_client(&nsqd);
    let mut beats = 0;
    loop {
        let left = Duration::from_secs(5).saturating_sub(start.elapsed());
        assert!(!left.is_zero(), "still connected after 5 s without NOP");
        match c.next_within(left) {
            Some(Got::Response(r)) if r == "_heartbeat_" => beats += 1,
            None => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1500),
        "closed after only {took:?}"
    );
    assert!(beats >= 1, "closed before any heartbeat");
    // Others are unaffected.
    nsqd.connect().publish("t", b"x");
}

#[test]
fn client_answering_nop_stays_connected() {
    let nsqd = Nsqd::start(&[]);
    let (mut c, start) = fast_heartbeat_client(&nsqd);
    c.subscribe("t", "c");
    // Answer four heartbeats (over 3 intervals), then the connection works.
    for _ in 0..4 {
        match c.next_within(Duration::from_secs(3)) {
            Some(Got::Response(r)) if r == "_heartbeat_" => c.send(Request::Nop),
            other => panic!("expected a heartbeat, got {other:?}"),
        }
    }
    assert!(start.elapsed() >= Duration::from_secs(3));
    c.send(Request::Rdy(1));
    nsqd.connect().publish("t", b"alive");
    loop {
        match c.next_within(Duration::from_secs(3)) {
            Some(Got::Response(r)) if r == "_heartbeat_" => c.send(Request::Nop),
            Some(Got::Message(m)) => {
                assert_eq!(m.body, b"alive");
                break;
            }
            other => panic!("expected the message, got {other:?}"),
        }
    }
}
