//! Codec tests: golden bytes, exact error texts, every strict prefix is
//! `Incomplete`, and proptest round trips.

use super::*;
use proptest::prelude::*;

fn cmd(wire: &[u8]) -> (LookupCommand<'_>, usize) {
    match decode_command(wire).unwrap() {
        Decoded::Complete { value, consumed } => (value, consumed),
        Decoded::Incomplete => panic!("incomplete: {wire:?}"),
    }
}

fn err_text(c: LookupCommand<'_>) -> String {
    match c {
        LookupCommand::Register(Err(e)) | LookupCommand::Unregister(Err(e)) => e.to_string(),
        LookupCommand::Invalid(e) => e.to_string(),
        other => panic!("not an error: {other:?}"),
    }
}

#[test]
fn golden_request_bytes() {
    let mut out = Vec::new();
    LookupRequest::Register {
        topic: "t",
        channel: None,
    }
    .encode(&mut out);
    LookupRequest::Unregister {
        topic: "t",
        channel: Some("c#ephemeral"),
    }
    .encode(&mut out);
    LookupRequest::Ping.encode(&mut out);
    assert_eq!(out, b"REGISTER t\nUNREGISTER t c#ephemeral\nPING\n");

    let req = IdentifyRequest {
        broadcast_address: "h".into(),
        tcp_port: 4150,
        http_port: 4151,
        version: "1.3.0".into(),
        hostname: "h".into(),
        ..IdentifyRequest::default()
    };
    let mut out = Vec::new();
    LookupRequest::Identify(&req).encode(&mut out);
    let json = br#"{"broadcast_address":"h","tcp_port":4150,"http_port":4151,"version":"1.3.0","hostname":"h"}"#;
    let mut want = b"IDENTIFY\n".to_vec();
    want.extend_from_slice(&(json.len() as u32).to_be_bytes());
    want.extend_from_slice(json);
    assert_eq!(out, want);
    assert_eq!(cmd(&out).0, LookupCommand::Identify);
    assert_eq!(
        decode_identify_body(&out[9..], 1024),
        Decoded::Complete {
            value: Ok(req),
            consumed: out.len() - 9
        }
    );
}

#[test]
fn golden_response_bytes() {
    let mut out = Vec::new();
    encode_response(&mut out, b"OK");
    assert_eq!(out, b"\0\0\0\x02OK");
    assert_eq!(
        decode_response(&out, 10),
        Ok(Decoded::Complete {
            value: &b"OK"[..],
            consumed: 6
        })
    );
    assert_eq!(decode_response(&out, 1), Err(ResponseTooLarge { size: 2 }));
    assert_eq!(LookupReply::parse(b"OK"), LookupReply::Ok);
    assert_eq!(
        LookupReply::parse(b"E_INVALID x"),
        LookupReply::Error("E_INVALID x".into())
    );
    let reply = br#"{"broadcast_address":"b","hostname":"h","http_port":4161,"tcp_port":4160,"version":"1.3.0"}"#;
    let parsed = IdentifyResponse {
        broadcast_address: "b".into(),
        hostname: "h".into(),
        http_port: 4161,
        tcp_port: 4160,
        version: "1.3.0".into(),
    };
    assert_eq!(serde_json::to_vec(&parsed).unwrap(), reply.to_vec());
    assert_eq!(LookupReply::parse(reply), LookupReply::Identify(parsed));
    assert_eq!(
        LookupReply::parse(b"[1]"),
        LookupReply::Other(b"[1]".to_vec())
    );
}

#[test]
fn command_lines() {
    assert_eq!(cmd(b"PING\n"), (LookupCommand::Ping, 5));
    assert_eq!(cmd(b"  PING \r\nX"), (LookupCommand::Ping, 9));
    assert_eq!(cmd(b"IDENTIFY extra\n").0, LookupCommand::Identify);
    assert_eq!(
        cmd(b"REGISTER t c extra\n").0,
        LookupCommand::Register(Ok(TopicChannel {
            topic: "t",
            channel: Some("c")
        }))
    );
    // Split on single spaces: an empty channel is no channel.
    assert_eq!(
        cmd(b"UNREGISTER t  c\n").0,
        LookupCommand::Unregister(Ok(TopicChannel {
            topic: "t",
            channel: None
        }))
    );
}

#[test]
fn error_texts_are_nsqs() {
    for (line, want) in [
        (&b"FOO bar\n"[..], "E_INVALID invalid command FOO"),
        (&b"\n"[..], "E_INVALID invalid command "),
        (&b"register t\n"[..], "E_INVALID invalid command register"),
        (
            &b"REGISTER\n"[..],
            "E_INVALID REGISTER insufficient number of params",
        ),
        (
            &b"UNREGISTER \n"[..],
            "E_INVALID UNREGISTER insufficient number of params",
        ),
        (
            &b"REGISTER a!b\n"[..],
            "E_BAD_TOPIC REGISTER topic name 'a!b' is not valid",
        ),
        (
            &b"REGISTER  c\n"[..],
            "E_BAD_TOPIC REGISTER topic name '' is not valid",
        ),
        (
            &b"UNREGISTER t c$\n"[..],
            "E_BAD_CHANNEL UNREGISTER channel name 'c$' is not valid",
        ),
    ] {
        assert_eq!(err_text(cmd(line).0), want);
    }
}

#[test]
fn identify_bodies() {
    let body = |json: &[u8]| {
        let mut b = (json.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(json);
        match decode_identify_body(&b, 1024) {
            Decoded::Complete { value, .. } => value.map_err(|e| e.to_string()),
            Decoded::Incomplete => panic!("incomplete"),
        }
    };
    let ok = body(
        br#"{"BROADCAST_ADDRESS":"a","tcp_port":1,"http_port":2,"version":"v","unknown":[1]}"#,
    )
    .unwrap();
    assert_eq!((ok.broadcast_address.as_str(), ok.tcp_port), ("a", 1));
    for missing in [
        &br#"{"tcp_port":1,"http_port":2,"version":"v"}"#[..],
        br#"{"broadcast_address":"a","http_port":2,"version":"v"}"#,
        br#"{"broadcast_address":"a","tcp_port":1,"version":"v"}"#,
        br#"{"broadcast_address":"a","tcp_port":1,"http_port":2}"#,
        b"null",
        b"{}",
    ] {
        assert_eq!(
            body(missing).unwrap_err(),
            "E_BAD_BODY IDENTIFY missing fields"
        );
    }
    for bad in [&b"{"[..], b"[1]", br#"{"tcp_port":"1"}"#, b"", b"{} x"] {
        assert_eq!(
            body(bad).unwrap_err(),
            "E_BAD_BODY IDENTIFY failed to decode JSON body"
        );
    }
    let negative = decode_identify_body(&(-1i32).to_be_bytes(), 1024);
    assert_eq!(
        negative,
        Decoded::Complete {
            value: Err(identify_read_error(false)),
            consumed: 4
        }
    );
    assert_eq!(
        identify_read_error(false).to_string(),
        "E_BAD_BODY IDENTIFY failed to read body size"
    );
    let huge = decode_identify_body(&2000u32.to_be_bytes(), 1024);
    assert_eq!(
        huge,
        Decoded::Complete {
            value: Err(identify_read_error(true)),
            consumed: 4
        }
    );
}

#[test]
fn every_strict_prefix_is_incomplete() {
    let line = b"REGISTER topic channel\n";
    for n in 0..line.len() {
        assert_eq!(decode_command(&line[..n]), Ok(Decoded::Incomplete), "{n}");
    }
    let mut body = Vec::new();
    LookupRequest::Identify(&IdentifyRequest {
        broadcast_address: "b".into(),
        tcp_port: 1,
        http_port: 2,
        version: "v".into(),
        ..IdentifyRequest::default()
    })
    .encode(&mut body);
    let body = &body[9..];
    for n in 0..body.len() {
        assert_eq!(
            decode_identify_body(&body[..n], 1024),
            Decoded::Incomplete,
            "{n}"
        );
    }
    let mut resp = Vec::new();
    encode_response(&mut resp, b"{\"x\":1}");
    for n in 0..resp.len() {
        assert_eq!(
            decode_response(&resp[..n], 100),
            Ok(Decoded::Incomplete),
            "{n}"
        );
    }
}

#[test]
fn long_lines_are_refused() {
    let mut line = vec![b'A'; MAX_LINE];
    assert_eq!(decode_command(&line), Ok(Decoded::Incomplete));
    line.push(b'A');
    assert_eq!(decode_command(&line), Err(LineTooLong));
    line.push(b'\n');
    assert_eq!(decode_command(&line), Err(LineTooLong));
}

fn name() -> impl Strategy<Value = String> {
    "[.a-zA-Z0-9_-]{1,54}(#ephemeral)?"
}

proptest! {
    #[test]
    fn register_roundtrip(topic in name(), channel in proptest::option::of(name()), unregister: bool) {
        let req = if unregister {
            LookupRequest::Unregister { topic: &topic, channel: channel.as_deref() }
        } else {
            LookupRequest::Register { topic: &topic, channel: channel.as_deref() }
        };
        let mut wire = Vec::new();
        req.encode(&mut wire);
        let want = Ok(TopicChannel { topic: &topic, channel: channel.as_deref() });
        let (got, consumed) = cmd(&wire);
        prop_assert_eq!(consumed, wire.len());
        match got {
            LookupCommand::Register(r) => { prop_assert!(!unregister); prop_assert_eq!(r, want); }
            LookupCommand::Unregister(r) => { prop_assert!(unregister); prop_assert_eq!(r, want); }
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn identify_roundtrip(addr in "[a-z0-9.:-]{1,40}", tcp in 1i64..65536, http in 1i64..65536, version in "[0-9.a-z-]{1,12}", hostname in "\\PC{0,20}", zone in "[a-z]{0,5}") {
        let req = IdentifyRequest { broadcast_address: addr, tcp_port: tcp, http_port: http, version, hostname, topology_zone: zone, topology_region: String::new() };
        let mut wire = Vec::new();
        LookupRequest::Identify(&req).encode(&mut wire);
        prop_assert_eq!(&wire[..9], b"IDENTIFY\n");
        prop_assert_eq!(decode_identify_body(&wire[9..], DEFAULT_MAX_IDENTIFY_BODY), Decoded::Complete { value: Ok(req), consumed: wire.len() - 9 });
    }

    #[test]
    fn response_roundtrip(data in proptest::collection::vec(any::<u8>(), 0..200)) {
        let mut wire = Vec::new();
        encode_response(&mut wire, &data);
        prop_assert_eq!(decode_response(&wire, 200), Ok(Decoded::Complete { value: &data[..], consumed: wire.len() }));
    }

    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(Decoded::Complete { consumed, .. }) = decode_command(&data) {
            prop_assert!(consumed > 0 && consumed <= data.len());
        }
        let _ = decode_identify_body(&data, 256);
        let _ = decode_response(&data, 256);
        let _ = LookupReply::parse(&data);
    }
}
