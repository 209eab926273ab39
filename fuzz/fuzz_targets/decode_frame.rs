//! Arbitrary bytes through `decode_frame`, as a client reads a server's
//! stream: decode successive frames, advancing by `consumed`, until the
//! buffer needs more bytes or the stream is invalid.
//!
//! Checked, with a 1 MiB size limit and with one read from the first byte of
//! the input (so `SizeTooLarge` boundaries are reached):
//! * no panic;
//! * `consumed` is `4 + size field`, at least 8, at most the bytes buffered;
//! * size errors agree with the size field;
//! * round trip: a decoded Message frame re-encoded with `encode_message`
//!   (and a Response frame with `encode_response`) gives back the very same
//!   bytes, and those decode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use nsq_protocol::frame::{decode_frame, encode_message, encode_response, Frame, FrameError};
use nsq_protocol::Decoded;

fuzz_target!(|data: &[u8]| {
    decode_all(data, 1 << 20);
    if let Some((&first, rest)) = data.split_first() {
        // Small limits, including ones below 4 and around the header size.
        decode_all(rest, u32::from(first));
    }
});

fn decode_all(data: &[u8], max_size: u32) {
    let mut rest = data;
    loop {
        let size_field = rest
            .get(0..4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));
        match decode_frame(rest, max_size) {
            Ok(Decoded::Complete { value, consumed }) => {
                let size = size_field.expect("a frame decoded from fewer than 4 bytes");
                assert_eq!(
                    consumed as u64,
                    4 + u64::from(size),
                    "consumed differs from 4 + size"
                );
                assert!(consumed >= 8, "frame of {consumed} bytes");
                assert!(
                    consumed <= rest.len(),
                    "consumed {consumed} > {} buffered",
                    rest.len()
                );
                assert!(
                    size <= max_size,
                    "frame of size {size} accepted with max {max_size}"
                );
                roundtrip(&value, &rest[..consumed], max_size);
                rest = &rest[consumed..];
            }
            Ok(Decoded::Incomplete) => {
                if let Some(size) = size_field {
                    assert!(
                        (rest.len() as u64) < 4 + u64::from(size),
                        "Incomplete though the whole frame is buffered"
                    );
                }
                break;
            }
            Err(e) => {
                let size = size_field.expect("an error from fewer than 4 bytes");
                match e {
                    FrameError::SizeTooSmall(n) => assert!(n == size && n < 4),
                    FrameError::SizeTooLarge { size: n, max } => {
                        assert!(n == size && max == max_size && n > max)
                    }
                    FrameError::UnknownFrameType(t) => assert!(t > 2),
                    FrameError::BadMessage => {}
                }
                break;
            }
        }
    }
}

fn roundtrip(frame: &Frame<'_>, wire: &[u8], max_size: u32) {
    let mut out = Vec::new();
    match frame {
        Frame::Message(header, body) => encode_message(&mut out, header, body),
        Frame::Response(data) => encode_response(&mut out, data),
        // encode_error takes a ClientError, not raw bytes: nothing to re-encode.
        Frame::Error(_) => return,
    }
    assert_eq!(out, wire, "re-encoding {frame:?} gives different bytes");
    assert_eq!(
        decode_frame(&out, max_size),
        Ok(Decoded::Complete {
            value: frame.clone(),
            consumed: out.len()
        }),
        "re-encoded frame decodes differently"
    );
}
