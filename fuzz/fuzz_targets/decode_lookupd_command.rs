//! Arbitrary bytes as what an nsqd sends nsqlookupd after the magic:
//! `decode_command` run over and over, with `decode_identify_body` after
//! every IDENTIFY line (as the server does), and `decode_response` plus
//! `LookupReply::parse` over the same bytes as a server's stream.
//!
//! Checked:
//! * no panic;
//! * `0 < consumed <= remaining`, and the consumed bytes alone decode to the
//!   same command (one byte fewer is `Incomplete`);
//! * `LineTooLong` only when `MAX_LINE` + 1 bytes hold no newline in range;
//! * accepted REGISTER/UNREGISTER names are valid and re-encode to a line
//!   that decodes to the same command;
//! * an accepted IDENTIFY body has every required field and survives a
//!   re-encode.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsq_protocol::lookupd::{
    decode_command, decode_identify_body, decode_response, LineTooLong, LookupCommand, LookupReply,
    LookupRequest, MAX_LINE,
};
use nsq_protocol::names::is_valid_name;
use nsq_protocol::Decoded;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    loop {
        match decode_command(rest) {
            Err(LineTooLong) => {
                let eol = rest.iter().position(|&b| b == b'\n');
                assert!(
                    eol.is_none_or(|e| e > MAX_LINE),
                    "LineTooLong with eol {eol:?}"
                );
                assert!(rest.len() > MAX_LINE);
                break;
            }
            Ok(Decoded::Incomplete) => break,
            Ok(Decoded::Complete { value, consumed }) => {
                assert!(consumed > 0 && consumed <= rest.len());
                assert_eq!(
                    decode_command(&rest[..consumed]),
                    Ok(Decoded::Complete {
                        value: value.clone(),
                        consumed
                    })
                );
                assert_eq!(
                    decode_command(&rest[..consumed - 1]),
                    Ok(Decoded::Incomplete)
                );
                check_names(&value);
                rest = &rest[consumed..];
                if value == LookupCommand::Identify {
                    match decode_identify_body(rest, 4096) {
                        Decoded::Incomplete => break,
                        Decoded::Complete { value, consumed } => {
                            assert!(consumed >= 4 && consumed <= rest.len());
                            if let Ok(req) = value {
                                assert!(
                                    !req.broadcast_address.is_empty() && !req.version.is_empty()
                                );
                                assert!(req.tcp_port != 0 && req.http_port != 0);
                                let mut wire = Vec::new();
                                LookupRequest::Identify(&req).encode(&mut wire);
                                match decode_identify_body(&wire[9..], usize::MAX) {
                                    Decoded::Complete {
                                        value: Ok(back), ..
                                    } => assert_eq!(back, req),
                                    other => panic!("IDENTIFY re-encode: {other:?}"),
                                }
                            }
                            rest = &rest[consumed..];
                        }
                    }
                }
            }
        }
    }

    let mut rest = data;
    while let Ok(Decoded::Complete { value, consumed }) = decode_response(rest, 1 << 20) {
        assert_eq!(consumed, 4 + value.len());
        let _ = LookupReply::parse(value);
        rest = &rest[consumed..];
    }
});

fn check_names(cmd: &LookupCommand<'_>) {
    let (Ok(tc), unregister) = (match cmd {
        LookupCommand::Register(r) => (r.clone(), false),
        LookupCommand::Unregister(r) => (r.clone(), true),
        _ => return,
    }) else {
        return;
    };
    assert!(is_valid_name(tc.topic.as_bytes()));
    if let Some(c) = tc.channel {
        assert!(is_valid_name(c.as_bytes()));
    }
    let mut wire = Vec::new();
    let (topic, channel) = (tc.topic, tc.channel);
    if unregister {
        LookupRequest::Unregister { topic, channel }.encode(&mut wire);
    } else {
        LookupRequest::Register { topic, channel }.encode(&mut wire);
    }
    let back = decode_command(&wire);
    let want = if unregister {
        LookupCommand::Unregister(Ok(tc))
    } else {
        LookupCommand::Register(Ok(tc))
    };
    assert_eq!(
        back,
        Ok(Decoded::Complete {
            value: want,
            consumed: wire.len()
        })
    );
}
