//! Codec tests for [`super::decode_command`]: golden bytes, round trips,
//! strict prefixes and NSQ's exact error texts.

use super::*;
use proptest::prelude::*;

fn limits() -> Limits {
    Limits {
        max_msg_size: 100,
        max_body_size: 1000,
        max_rdy_count: 2500,
        max_defer_timeout_ms: 3_600_000,
    }
}

fn decode(buf: &[u8]) -> (Command<'_>, usize) {
    match decode_command(buf, &limits()).unwrap() {
        Decoded::Complete { value, consumed } => (value, consumed),
        Decoded::Incomplete => panic!("incomplete: {buf:?}"),
    }
}

fn error_text(buf: &[u8]) -> String {
    let (cmd, _) = decode(buf);
    match cmd {
        Command::Identify(Err(e))
        | Command::Auth(Err(e))
        | Command::Sub(Err(e))
        | Command::Rdy(Err(e))
        | Command::Fin(Err(e))
        | Command::Req(Err(e))
        | Command::Touch(Err(e))
        | Command::Pub(Err(e))
        | Command::Mpub(Err(e))
        | Command::Dpub(Err(e))
        | Command::Unknown(e) => e.to_string(),
        other => panic!("no error: {other:?}"),
    }
}

fn encoded(req: Request<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    req.encode(&mut out);
    out
}

#[test]
fn golden_pub() {
    let wire = encoded(Request::Pub("t", b"hi"));
    assert_eq!(wire, b"PUB t\n\x00\x00\x00\x02hi");
    let (cmd, n) = decode(&wire);
    assert_eq!(n, wire.len());
    assert_eq!(
        cmd,
        Command::Pub(Ok(Publish {
            topic: "t",
            defer_ms: 0,
            body: b"hi"
        }))
    );
}

#[test]
fn golden_mpub() {
    let wire = encoded(Request::Mpub("t", &[b"a", b"bc"]));
    assert_eq!(
        wire,
        b"MPUB t\n\x00\x00\x00\x0f\x00\x00\x00\x02\x00\x00\x00\x01a\x00\x00\x00\x02bc"
    );
    let (Command::Mpub(Ok(m)), n) = decode(&wire) else {
        panic!()
    };
    assert_eq!(n, wire.len());
    assert_eq!(m.bodies.len(), 2);
    assert_eq!(
        m.bodies.iter().collect::<Vec<_>>(),
        vec![&b"a"[..], &b"bc"[..]]
    );
}

#[test]
fn golden_simple_lines() {
    assert_eq!(encoded(Request::Sub("t", "c")), b"SUB t c\n");
    assert_eq!(encoded(Request::Rdy(10)), b"RDY 10\n");
    assert_eq!(
        encoded(Request::Fin(MessageId(1))),
        b"FIN 0000000000000001\n"
    );
    assert_eq!(
        encoded(Request::Req(MessageId(1), 50)),
        b"REQ 0000000000000001 50\n"
    );
    assert_eq!(
        encoded(Request::Touch(MessageId(1))),
        b"TOUCH 0000000000000001\n"
    );
    assert_eq!(encoded(Request::Nop), b"NOP\n");
    assert_eq!(encoded(Request::Cls), b"CLS\n");
    assert_eq!(
        encoded(Request::Dpub("t", 5, b"x")),
        b"DPUB t 5\n\x00\x00\x00\x01x"
    );
    assert_eq!(
        encoded(Request::Identify(b"{}")),
        b"IDENTIFY\n\x00\x00\x00\x02{}"
    );
}

#[test]
fn crlf_is_stripped() {
    assert_eq!(decode(b"NOP\r\n"), (Command::Nop, 5));
    assert_eq!(
        decode(b"SUB t c\r\n").0,
        Command::Sub(Ok(Sub {
            topic: "t",
            channel: "c"
        }))
    );
}

#[test]
fn rdy_parsing() {
    assert_eq!(decode(b"RDY\n").0, Command::Rdy(Ok(1)));
    assert_eq!(decode(b"RDY \n").0, Command::Rdy(Ok(0)));
    assert_eq!(decode(b"RDY 2500\n").0, Command::Rdy(Ok(2500)));
    assert_eq!(
        error_text(b"RDY 2501\n"),
        "E_INVALID RDY count 2501 out of range 0-2500"
    );
    assert_eq!(
        error_text(b"RDY -1\n"),
        "E_INVALID RDY could not parse count -1"
    );
    assert_eq!(
        error_text(b"RDY x\n"),
        "E_INVALID RDY could not parse count x"
    );
}

#[test]
fn error_texts() {
    assert_eq!(error_text(b"\n"), "E_INVALID invalid command ");
    assert_eq!(error_text(b"FOO bar\n"), "E_INVALID invalid command FOO");
    assert_eq!(error_text(b"nop\n"), "E_INVALID invalid command nop");
    assert_eq!(
        error_text(b"SUB t\n"),
        "E_INVALID SUB insufficient number of parameters"
    );
    assert_eq!(
        error_text(b"SUB t! c\n"),
        "E_BAD_TOPIC SUB topic name \"t!\" is not valid"
    );
    assert_eq!(
        error_text(b"SUB t c!\n"),
        "E_BAD_CHANNEL SUB channel name \"c!\" is not valid"
    );
    assert_eq!(
        error_text(b"FIN\n"),
        "E_INVALID FIN insufficient number of params"
    );
    assert_eq!(error_text(b"FIN 123\n"), "E_INVALID invalid message ID");
    assert_eq!(
        error_text(b"TOUCH\n"),
        "E_INVALID TOUCH insufficient number of params"
    );
    assert_eq!(
        error_text(b"REQ 0000000000000001\n"),
        "E_INVALID REQ insufficient number of params"
    );
    assert_eq!(
        error_text(b"REQ 0000000000000001 x\n"),
        "E_INVALID REQ could not parse timeout x"
    );
    assert_eq!(error_text(b"REQ 01 5\n"), "E_INVALID invalid message ID");
    assert_eq!(
        error_text(b"PUB\n"),
        "E_INVALID PUB insufficient number of parameters"
    );
    assert_eq!(
        error_text(b"PUB t!\n"),
        "E_BAD_TOPIC PUB topic name \"t!\" is not valid"
    );
    assert_eq!(
        error_text(b"PUB t\n\x00\x00\x00\x00"),
        "E_BAD_MESSAGE PUB invalid message body size 0"
    );
    assert_eq!(
        error_text(b"PUB t\n\xff\xff\xff\xff"),
        "E_BAD_MESSAGE PUB invalid message body size -1"
    );
    assert_eq!(
        error_text(b"PUB t\n\x00\x00\x00\x65"),
        "E_BAD_MESSAGE PUB message too big 101 > 100"
    );
    assert_eq!(
        error_text(b"DPUB t\n"),
        "E_INVALID DPUB insufficient number of parameters"
    );
    assert_eq!(
        error_text(b"DPUB t x\n"),
        "E_INVALID DPUB could not parse timeout x"
    );
    assert_eq!(
        error_text(b"DPUB t 3600001\n"),
        "E_INVALID DPUB timeout 3600001 out of range 0-3600000"
    );
    assert_eq!(
        error_text(b"DPUB t 5\n\x00\x00\x00\x65"),
        "E_BAD_MESSAGE DPUB message too big 101 > 100"
    );
    assert_eq!(
        error_text(b"MPUB\n"),
        "E_INVALID MPUB insufficient number of parameters"
    );
    assert_eq!(
        error_text(b"MPUB t!\n"),
        "E_BAD_TOPIC MPUB topic name \"t!\" is not valid"
    );
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x00\x00"),
        "E_BAD_BODY MPUB invalid body size 0"
    );
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x03\xe9"),
        "E_BAD_BODY MPUB body too big 1001 > 1000"
    );
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x00\x04\x00\x00\x00\x00"),
        "E_BAD_BODY MPUB invalid message count 0"
    );
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x00\x04\x00\x00\x00\xc8"),
        "E_BAD_BODY MPUB invalid message count 200"
    );
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x00\x0c\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x01"),
        "E_BAD_MESSAGE MPUB invalid message(0) body size 0"
    );
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x00\x09\x00\x00\x00\x01\x00\x00\x00\x65x"),
        "E_BAD_MESSAGE MPUB message too big 101 > 100"
    );
    assert_eq!(
        error_text(b"IDENTIFY\n\x00\x00\x03\xe9"),
        "E_BAD_BODY IDENTIFY body too big 1001 > 1000"
    );
    assert_eq!(
        error_text(b"IDENTIFY\n\x00\x00\x00\x00"),
        "E_BAD_BODY IDENTIFY invalid body size 0"
    );
    assert_eq!(
        error_text(b"AUTH a\n"),
        "E_INVALID AUTH invalid number of parameters"
    );
}

#[test]
fn mpub_fifth_message_error_uses_its_index() {
    let mut wire = encoded(Request::Mpub("t", &[b"a", b"b", b"c", b"d", b"e", b"f"]));
    // Zero the size of message(5): bytes after the line, outer size and count.
    let line = b"MPUB t\n".len();
    let at = line + 8 + 5 * 5;
    wire[at..at + 4].copy_from_slice(&[0, 0, 0, 0]);
    assert_eq!(
        error_text(&wire),
        "E_BAD_MESSAGE MPUB invalid message(5) body size 0"
    );
}

#[test]
fn mpub_inner_sizes_must_fill_outer_size() {
    // Inner message claims more bytes than the outer body holds.
    assert_eq!(
        error_text(b"MPUB t\n\x00\x00\x00\x09\x00\x00\x00\x01\x00\x00\x00\x05x"),
        "E_BAD_MESSAGE MPUB failed to read message body"
    );
    // Trailing garbage inside the outer body.
    assert!(
        error_text(b"MPUB t\n\x00\x00\x00\x0a\x00\x00\x00\x01\x00\x00\x00\x01xy")
            .starts_with("E_BAD_BODY")
    );
}

#[test]
fn line_too_long() {
    let long = vec![b'a'; MAX_LINE_LEN + 1];
    assert_eq!(decode_command(&long, &limits()), Err(LineTooLong));
    let mut ok = vec![b'a'; MAX_LINE_LEN - 1];
    ok.push(b'\n');
    assert!(matches!(
        decode_command(&ok, &limits()),
        Ok(Decoded::Complete { .. })
    ));
}

fn sample_requests() -> Vec<Vec<u8>> {
    vec![
        encoded(Request::Identify(br#"{"feature_negotiation":true}"#)),
        encoded(Request::Auth(b"secret")),
        encoded(Request::Sub("t", "c#ephemeral")),
        encoded(Request::Rdy(7)),
        encoded(Request::Fin(MessageId(42))),
        encoded(Request::Req(MessageId(42), 1000)),
        encoded(Request::Touch(MessageId(42))),
        encoded(Request::Cls),
        encoded(Request::Nop),
        encoded(Request::Pub("t", b"body")),
        encoded(Request::Dpub("t", 100, b"body")),
        encoded(Request::Mpub("t", &[b"x", b"yy", b"zzz"])),
    ]
}

#[test]
fn every_strict_prefix_is_incomplete() {
    for wire in sample_requests() {
        for n in 0..wire.len() {
            assert_eq!(
                decode_command(&wire[..n], &limits()),
                Ok(Decoded::Incomplete),
                "prefix {n} of {wire:?}"
            );
        }
        let (_, consumed) = decode(&wire);
        assert_eq!(consumed, wire.len());
    }
}

#[test]
fn pipelined_commands_decode_one_by_one() {
    let wire: Vec<u8> = sample_requests().concat();
    let mut at = 0;
    let mut count = 0;
    while at < wire.len() {
        let (_, n) = decode(&wire[at..]);
        at += n;
        count += 1;
    }
    assert_eq!(count, sample_requests().len());
}

fn at_eof(buf: &[u8]) -> Option<String> {
    assert_eq!(
        decode_command(buf, &limits()).unwrap(),
        Decoded::Incomplete,
        "complete: {buf:?}"
    );
    decode_at_eof(buf, &limits()).map(|e| {
        assert!(e.is_fatal(), "{e}");
        e.to_string()
    })
}

#[test]
fn a_body_cut_short_by_eof_gets_the_error_of_the_read_that_came_up_short() {
    let cases: [(&[u8], &str); 12] = [
        (
            b"PUB t\n",
            "E_BAD_MESSAGE PUB failed to read message body size",
        ),
        (
            b"PUB t\n\0\0",
            "E_BAD_MESSAGE PUB failed to read message body size",
        ),
        (
            b"PUB t\n\0\0\0\x05abc",
            "E_BAD_MESSAGE PUB failed to read message body",
        ),
        (
            b"DPUB t 10\n\0\0\0\x05",
            "E_BAD_MESSAGE DPUB failed to read message body",
        ),
        (
            b"IDENTIFY\n\0",
            "E_BAD_BODY IDENTIFY failed to read body size",
        ),
        (
            b"IDENTIFY\n\0\0\0\x02{",
            "E_BAD_BODY IDENTIFY failed to read body",
        ),
        (
            b"AUTH\n\0\0\0\x09secr",
            "E_BAD_BODY AUTH failed to read body",
        ),
        (b"MPUB t\n\0\0", "E_BAD_BODY MPUB failed to read body size"),
        (
            b"MPUB t\n\0\0\0\x20\0\0",
            "E_BAD_BODY MPUB failed to read message count",
        ),
        (
            b"MPUB t\n\0\0\0\x20\0\0\0\x02\0\0\0\x01a\0\0",
            "E_BAD_MESSAGE MPUB failed to read message(1) body size",
        ),
        (
            b"MPUB t\n\0\0\0\x20\0\0\0\x02\0\0\0\x01a\0\0\0\x03b",
            "E_BAD_MESSAGE MPUB failed to read message body",
        ),
        (
            b"MPUB t\n\0\0\0\x20\0\0\0\0",
            "E_BAD_BODY MPUB invalid message count 0",
        ),
    ];
    for (buf, want) in cases {
        assert_eq!(at_eof(buf).as_deref(), Some(want), "{buf:?}");
    }
}

#[test]
fn an_unfinished_command_line_or_bodiless_command_closes_quietly_at_eof() {
    for buf in [&b""[..], b"PUB t", b"NOP", b"SUB t c", b"IDENTIFY"] {
        assert_eq!(at_eof(buf), None, "{buf:?}");
    }
}

fn name() -> impl Strategy<Value = String> {
    "[.a-zA-Z0-9_-]{1,54}(#ephemeral)?"
}

proptest! {
    #[test]
    fn pub_roundtrip(topic in name(), body in proptest::collection::vec(any::<u8>(), 1..100), defer in 0u64..3_600_000) {
        let wire = encoded(Request::Dpub(&topic, defer, &body));
        let (cmd, n) = decode(&wire);
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(cmd, Command::Dpub(Ok(Publish { topic: &topic, defer_ms: defer, body: &body })));
    }

    #[test]
    fn mpub_roundtrip(topic in name(), bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 1..20)) {
        let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
        let wire = encoded(Request::Mpub(&topic, &refs));
        let (Command::Mpub(Ok(m)), n) = decode(&wire) else { panic!() };
        prop_assert_eq!(n, wire.len());
        prop_assert_eq!(m.topic, topic.as_str());
        prop_assert_eq!(m.bodies.iter().collect::<Vec<_>>(), refs);
    }

    #[test]
    fn id_commands_roundtrip(id in any::<u64>(), ms in any::<u32>()) {
        let hex = MessageId(id).to_hex();
        let (fin, touch, req) = (
            encoded(Request::Fin(MessageId(id))),
            encoded(Request::Touch(MessageId(id))),
            encoded(Request::Req(MessageId(id), u64::from(ms))),
        );
        prop_assert_eq!(decode(&fin).0, Command::Fin(Ok(&hex[..])));
        prop_assert_eq!(decode(&touch).0, Command::Touch(Ok(&hex[..])));
        prop_assert_eq!(
            decode(&req).0,
            Command::Req(Ok(Requeue { id: &hex[..], timeout_ms: u64::from(ms) }))
        );
    }

    #[test]
    fn sub_roundtrip(topic in name(), channel in name()) {
        let wire = encoded(Request::Sub(&topic, &channel));
        prop_assert_eq!(
            decode(&wire).0,
            Command::Sub(Ok(Sub { topic: &topic, channel: &channel }))
        );
    }

    #[test]
    fn every_strict_prefix_of_a_publish_gets_an_answer_at_eof(body in proptest::collection::vec(any::<u8>(), 1..50), cut in 0usize..1000) {
        for request in [Request::Pub("t", &body), Request::Mpub("t", &[&body, &body])] {
            let wire = encoded(request);
            let line = wire.iter().position(|&b| b == b'\n').unwrap() + 1;
            let at = line + cut % (wire.len() - line);
            prop_assert!(decode_at_eof(&wire[..at], &limits()).is_some(), "cut at {}", at);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_at_eof(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = decode_at_eof(&data, &limits());
    }

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(Decoded::Complete { consumed, .. }) = decode_command(&data, &limits()) {
            prop_assert!(consumed > 0 && consumed <= data.len());
        }
    }
}
