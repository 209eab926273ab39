//! Session tests over bytes (no sockets): magic, error texts, pipelining.

use super::*;
use crate::options::Options;
use nsq_protocol::lookupd::{decode_response, LookupRequest};

fn server() -> Server {
    let opts = Options::parse(["nsqlookupd", "--broadcast-address=lk"].map(String::from)).unwrap();
    Server::new(opts, 4160, 4161)
}

fn responses(mut out: &[u8]) -> Vec<String> {
    let mut all = Vec::new();
    while let Ok(Decoded::Complete { value, consumed }) = decode_response(out, 1 << 20) {
        all.push(String::from_utf8_lossy(value).into_owned());
        out = &out[consumed..];
    }
    assert!(out.is_empty(), "trailing bytes");
    all
}

fn run(session: &mut Session, server: &Server, input: &[u8]) -> (Vec<String>, usize, Next) {
    let mut out = Vec::new();
    let (consumed, next) = session.process(input, &mut out, server, UnixNanos(1));
    (responses(&out), consumed, next)
}

fn identify_bytes() -> Vec<u8> {
    let mut wire = MAGIC_V1.to_vec();
    LookupRequest::Identify(&nsq_protocol::lookupd::IdentifyRequest {
        broadcast_address: "b".into(),
        tcp_port: 1,
        http_port: 2,
        version: "1.3.0".into(),
        ..Default::default()
    })
    .encode(&mut wire);
    wire
}

#[test]
fn bad_magic_is_size_prefixed_and_closes() {
    let s = server();
    let mut session = Session::new(PeerId(1), "r".into());
    assert_eq!(run(&mut session, &s, b"  V"), (vec![], 0, Next::Read));
    assert_eq!(
        run(&mut session, &s, b"  V2PING\n"),
        (vec!["E_BAD_PROTOCOL".to_string()], 4, Next::Close)
    );
}

#[test]
fn pipelined_session() {
    let s = server();
    let mut session = Session::new(PeerId(1), "127.0.0.1:9".into());
    let mut wire = b"  V1PING\n".to_vec();
    wire.extend_from_slice(&identify_bytes()[4..]);
    wire.extend_from_slice(b"REGISTER t c\nUNREGISTER t c\nPING\nREGIS");
    let (answers, consumed, next) = run(&mut session, &s, &wire);
    assert_eq!(next, Next::Read);
    assert_eq!(consumed, wire.len() - 5);
    assert_eq!(answers.len(), 5);
    assert_eq!(answers[0], "OK");
    assert_eq!(
        answers[1],
        format!(
            r#"{{"broadcast_address":"lk","hostname":"{}","http_port":4161,"tcp_port":4160,"version":"1.3.0"}}"#,
            hostname()
        )
    );
    assert_eq!(&answers[2..], ["OK", "OK", "OK"]);
    assert!(session.identified());
    assert_eq!(s.registry.borrow().channels("t"), ["c"]);
}

#[test]
fn errors_close_after_the_answer() {
    let cases: &[(&[u8], &str)] = &[
        (b"REGISTER t\n", "E_INVALID client must IDENTIFY"),
        (b"UNREGISTER t\n", "E_INVALID client must IDENTIFY"),
        (b"NOPE\n", "E_INVALID invalid command NOPE"),
        (
            b"IDENTIFY\n\xff\xff\xff\xff",
            "E_BAD_BODY IDENTIFY failed to read body size",
        ),
    ];
    for (input, want) in cases {
        let s = server();
        let mut session = Session::new(PeerId(1), "r".into());
        let mut wire = MAGIC_V1.to_vec();
        wire.extend_from_slice(input);
        wire.extend_from_slice(b"PING\n");
        let (answers, consumed, next) = run(&mut session, &s, &wire);
        assert_eq!(
            (answers, consumed, next),
            (vec![want.to_string()], wire.len(), Next::Close)
        );
    }
    let s = server();
    let mut session = Session::new(PeerId(1), "r".into());
    let mut wire = identify_bytes();
    wire.extend_from_slice(b"IDENTIFY\n");
    let (answers, _, next) = run(&mut session, &s, &wire);
    assert_eq!(answers[1], "E_INVALID cannot IDENTIFY again");
    assert_eq!(next, Next::Close);
}

#[test]
fn eof_inside_identify_body() {
    let s = server();
    for (tail, want) in [
        (&b"\0\0"[..], "E_BAD_BODY IDENTIFY failed to read body size"),
        (b"\0\0\0\x10{", "E_BAD_BODY IDENTIFY failed to read body"),
    ] {
        let mut session = Session::new(PeerId(1), "r".into());
        let mut wire = b"  V1IDENTIFY\n".to_vec();
        wire.extend_from_slice(tail);
        let (answers, consumed, _) = run(&mut session, &s, &wire);
        assert!(answers.is_empty());
        let mut out = Vec::new();
        session.at_eof(wire.len() - consumed, &mut out);
        assert_eq!(responses(&out), [want]);
    }
}
