//! Arbitrary bytes through `decode_command`, as the broker feeds its read
//! buffer: decode successive commands, advancing by `consumed`, until the
//! buffer needs more bytes or the line is too long.
//!
//! Checked for every decoded command, with NSQ's default limits, with small
//! limits (so the size checks are actually reached), with limits read from
//! the input (first byte 0xFE) and on lines padded past `MAX_LINE_LEN`
//! (first byte 0xFF):
//! * no panic;
//! * `0 < consumed <= remaining`;
//! * the decoder is self-delimiting: the first `consumed` bytes alone decode
//!   to the same command, and one byte fewer is `Incomplete`;
//! * `LineTooLong` only when more than `MAX_LINE_LEN` bytes hold no newline;
//! * accepted PUB/DPUB/MPUB bodies, IDENTIFY/AUTH bodies, RDY counts and DPUB
//!   delays are within the limits, names are valid, IDs are 16 bytes;
//! * an incomplete rest gets, at EOF, either no answer or a fatal one, and
//!   none while the command line itself is unfinished;
//! * accepted SUB/PUB/DPUB/MPUB re-encode with `Request::encode` and decode
//!   back to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsq_protocol::command::{
    decode_at_eof, decode_command, Command, Limits, Request, MAX_LINE_LEN,
};
use nsq_protocol::names::is_valid_name;
use nsq_protocol::Decoded;

const SMALL: Limits = Limits {
    max_msg_size: 16,
    max_body_size: 64,
    max_rdy_count: 10,
    max_defer_timeout_ms: 1000,
};

fuzz_target!(|data: &[u8]| {
    decode_all(data, &Limits::default());
    decode_all(data, &SMALL);

    // libFuzzer's inputs stay far below MAX_LINE_LEN (16 KiB), so the
    // line-length checks would never run. An input starting with 0xFF
    // instead gives a pad length (next 2 bytes, up to MAX_LINE_LEN + 7) and
    // a text: the pad ('x' bytes) goes after the text's first space (or at
    // its start), lengthening the first parameter (or the command name)
    // across the limit.
    if let [0xff, hi, lo, text @ ..] = data {
        let pad = usize::from(u16::from_be_bytes([*hi, *lo])) % (MAX_LINE_LEN + 8);
        let at = text.iter().position(|&b| b == b' ').map_or(0, |i| i + 1);
        let mut long = Vec::with_capacity(text.len() + pad);
        long.extend_from_slice(&text[..at]);
        long.resize(at + pad, b'x');
        long.extend_from_slice(&text[at..]);
        decode_all(&long, &Limits::default());
    }

    // Limits taken from the input, for the extremes (0, u64::MAX, ...).
    if let [0xfe, raw @ ..] = data {
        if raw.len() >= 32 {
            let (l, text) = raw.split_at(32);
            let word = |i: usize| u64::from_be_bytes(l[i * 8..i * 8 + 8].try_into().unwrap());
            let limits = Limits {
                max_msg_size: word(0),
                max_body_size: word(1),
                max_rdy_count: word(2),
                max_defer_timeout_ms: word(3),
            };
            decode_all(text, &limits);
        }
    }
});

fn decode_all(data: &[u8], limits: &Limits) {
    let mut rest = data;
    loop {
        match decode_command(rest, limits) {
            Ok(Decoded::Complete { value, consumed }) => {
                assert!(consumed > 0, "consumed 0 bytes: {value:?}");
                assert!(
                    consumed <= rest.len(),
                    "consumed {consumed} > {} buffered: {value:?}",
                    rest.len()
                );
                let whole = &rest[..consumed];
                assert_eq!(
                    decode_command(whole, limits),
                    Ok(Decoded::Complete {
                        value: value.clone(),
                        consumed
                    }),
                    "the first {consumed} bytes alone decode differently"
                );
                assert_eq!(
                    decode_command(&whole[..consumed - 1], limits),
                    Ok(Decoded::Incomplete),
                    "a command decoded from {} bytes was already complete one byte earlier",
                    consumed
                );
                check(&value, limits);
                rest = &rest[consumed..];
            }
            Ok(Decoded::Incomplete) => {
                // The stream ending here: an answer only for a command
                // with a body, and always a fatal one.
                if let Some(err) = decode_at_eof(rest, limits) {
                    assert!(err.is_fatal(), "non-fatal answer at EOF: {err}");
                    assert!(rest.contains(&b'\n'), "answer at EOF to an unfinished line");
                }
                break;
            }
            Err(_line_too_long) => {
                assert!(
                    rest.len() > MAX_LINE_LEN,
                    "LineTooLong on {} bytes",
                    rest.len()
                );
                assert!(
                    !rest[..=MAX_LINE_LEN].contains(&b'\n'),
                    "LineTooLong though a newline is within the first {} bytes",
                    MAX_LINE_LEN + 1
                );
                break;
            }
        }
    }
}

fn check(cmd: &Command<'_>, limits: &Limits) {
    match cmd {
        Command::Pub(Ok(p)) | Command::Dpub(Ok(p)) => {
            assert!(is_valid_name(p.topic.as_bytes()), "bad topic {:?}", p.topic);
            assert!(!p.body.is_empty(), "empty {} body", cmd.name());
            assert!(
                p.body.len() as u64 <= limits.max_msg_size,
                "{} body {} > max_msg_size {}",
                cmd.name(),
                p.body.len(),
                limits.max_msg_size
            );
            if matches!(cmd, Command::Pub(_)) {
                assert_eq!(p.defer_ms, 0, "PUB with a defer");
            } else {
                assert!(
                    p.defer_ms <= limits.max_defer_timeout_ms,
                    "DPUB defer {} out of range",
                    p.defer_ms
                );
            }
            let req = match cmd {
                Command::Pub(_) => Request::Pub(p.topic, p.body),
                _ => Request::Dpub(p.topic, p.defer_ms, p.body),
            };
            roundtrip(&req, cmd, limits);
        }
        Command::Mpub(Ok(m)) => {
            assert!(is_valid_name(m.topic.as_bytes()), "bad topic {:?}", m.topic);
            assert!(!m.bodies.is_empty(), "MPUB with no message");
            let bodies: Vec<&[u8]> = m.bodies.iter().collect();
            assert_eq!(
                bodies.len(),
                m.bodies.len(),
                "MPUB count differs from the bodies iterated"
            );
            let mut total: u64 = 4;
            for b in &bodies {
                assert!(!b.is_empty(), "empty MPUB body");
                assert!(
                    b.len() as u64 <= limits.max_msg_size,
                    "MPUB body {} > max_msg_size {}",
                    b.len(),
                    limits.max_msg_size
                );
                total += 4 + b.len() as u64;
            }
            assert!(
                total <= limits.max_body_size,
                "MPUB total body {total} > max_body_size {}",
                limits.max_body_size
            );
            roundtrip(&Request::Mpub(m.topic, &bodies), cmd, limits);
        }
        Command::Identify(Ok(body)) | Command::Auth(Ok(body)) => {
            assert!(!body.is_empty(), "empty {} body", cmd.name());
            assert!(
                body.len() as u64 <= limits.max_body_size,
                "{} body {} > max_body_size {}",
                cmd.name(),
                body.len(),
                limits.max_body_size
            );
        }
        Command::Sub(Ok(s)) => {
            assert!(is_valid_name(s.topic.as_bytes()), "bad topic {:?}", s.topic);
            assert!(
                is_valid_name(s.channel.as_bytes()),
                "bad channel {:?}",
                s.channel
            );
            roundtrip(&Request::Sub(s.topic, s.channel), cmd, limits);
        }
        Command::Rdy(Ok(n)) => {
            assert!(
                *n <= limits.max_rdy_count,
                "RDY {n} > max_rdy_count {}",
                limits.max_rdy_count
            );
        }
        Command::Fin(Ok(id)) | Command::Touch(Ok(id)) => {
            assert_eq!(id.len(), 16, "{} id of {} bytes", cmd.name(), id.len());
        }
        Command::Req(Ok(r)) => {
            assert_eq!(r.id.len(), 16, "REQ id of {} bytes", r.id.len());
        }
        _ => {}
    }
}

/// Encode `req` as a client would and check it decodes back to `want`.
fn roundtrip(req: &Request<'_>, want: &Command<'_>, limits: &Limits) {
    let mut wire = Vec::new();
    req.encode(&mut wire);
    match decode_command(&wire, limits) {
        Ok(Decoded::Complete { value, consumed }) => {
            assert_eq!(&value, want, "re-encoded {req:?} decodes differently");
            assert_eq!(
                consumed,
                wire.len(),
                "re-encoded {req:?} not consumed whole"
            );
        }
        other => panic!("re-encoded {req:?} does not decode: {other:?}"),
    }
}
