//! Server-to-client frames (docs/protocol.md#frames).
//!
//! ```text
//! [ 4-byte u32 size N ][ 4-byte u32 frame type ][ N-4 bytes data ]
//! frame type: 0 = response, 1 = error, 2 = message (data = the message
//! payload)
//! ```
//! Encoders append to a caller-owned buffer (one contiguous output buffer per
//! connection); the decoder works on a byte slice and returns
//! [`Decoded::Incomplete`] until a whole frame is there.

use std::io::Write;

use crate::error::ClientError;
use crate::message::{MessageHeader, MESSAGE_HEADER_LEN};
use crate::Decoded;

/// `OK`, the reply to successful commands.
pub const OK: &[u8] = b"OK";
/// The heartbeat response body.
pub const HEARTBEAT: &[u8] = b"_heartbeat_";
/// The reply to `CLS`.
pub const CLOSE_WAIT: &[u8] = b"CLOSE_WAIT";

/// Frame type numbers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum FrameType {
    /// A response (`OK`, `_heartbeat_`, JSON ...).
    Response = 0,
    /// An error: `"<CODE> <text>"`.
    Error = 1,
    /// A message: [`MessageHeader`] then body.
    Message = 2,
}

/// A decoded frame, borrowing from the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A response frame's data.
    Response(&'a [u8]),
    /// An error frame's data.
    Error(&'a [u8]),
    /// A message frame.
    Message(MessageHeader, &'a [u8]),
}

/// Why a byte stream is not a valid frame stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// The size field is below 4 (it must cover the frame type).
    SizeTooSmall(u32),
    /// The size field is above the caller's limit.
    SizeTooLarge {
        /// Declared size.
        size: u32,
        /// Caller's limit.
        max: u32,
    },
    /// A frame type other than 0, 1 or 2.
    UnknownFrameType(u32),
    /// A message frame shorter than the 26-byte header or with a bad ID.
    BadMessage,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::SizeTooSmall(n) => write!(f, "frame size {n} is below 4"),
            FrameError::SizeTooLarge { size, max } => write!(f, "frame size {size} > {max}"),
            FrameError::UnknownFrameType(t) => write!(f, "unknown frame type {t}"),
            FrameError::BadMessage => write!(f, "malformed message frame"),
        }
    }
}

impl std::error::Error for FrameError {}

fn put_header(out: &mut Vec<u8>, frame_type: FrameType, data_len: usize) {
    let size = u32::try_from(data_len + 4).unwrap_or(u32::MAX);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&(frame_type as u32).to_be_bytes());
}

/// Append a response frame carrying `data`.
pub fn encode_response(out: &mut Vec<u8>, data: &[u8]) {
    put_header(out, FrameType::Response, data.len());
    out.extend_from_slice(data);
}

/// Append an error frame carrying `"<CODE> <text>"`.
pub fn encode_error(out: &mut Vec<u8>, err: &ClientError) {
    let start = out.len();
    put_header(out, FrameType::Error, 0);
    let _ = write!(out, "{err}");
    let size = u32::try_from(out.len() - start - 4).unwrap_or(u32::MAX);
    out[start..start + 4].copy_from_slice(&size.to_be_bytes());
}

/// Append a message frame: header fields then body.
pub fn encode_message(out: &mut Vec<u8>, header: &MessageHeader, body: &[u8]) {
    out.reserve(8 + MESSAGE_HEADER_LEN + body.len());
    put_header(out, FrameType::Message, MESSAGE_HEADER_LEN + body.len());
    header.encode(out);
    out.extend_from_slice(body);
}

/// Decode one frame from the front of `buf`. `max_size` bounds the size
/// field so a corrupt stream cannot ask for gigabytes.
pub fn decode_frame(buf: &[u8], max_size: u32) -> Result<Decoded<Frame<'_>>, FrameError> {
    let Some(size_bytes) = buf.get(0..4) else {
        return Ok(Decoded::Incomplete);
    };
    let size = u32::from_be_bytes([size_bytes[0], size_bytes[1], size_bytes[2], size_bytes[3]]);
    if size < 4 {
        return Err(FrameError::SizeTooSmall(size));
    }
    if size > max_size {
        return Err(FrameError::SizeTooLarge {
            size,
            max: max_size,
        });
    }
    let total = 4 + size as usize;
    let Some(frame) = buf.get(4..total) else {
        return Ok(Decoded::Incomplete);
    };
    let (ty, data) = frame.split_at(4);
    let ty = u32::from_be_bytes([ty[0], ty[1], ty[2], ty[3]]);
    let value = match ty {
        0 => Frame::Response(data),
        1 => Frame::Error(data),
        2 => {
            let (h, body) = MessageHeader::decode(data).ok_or(FrameError::BadMessage)?;
            Frame::Message(h, body)
        }
        other => return Err(FrameError::UnknownFrameType(other)),
    };
    Ok(Decoded::Complete {
        value,
        consumed: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::message::MessageId;
    use proptest::prelude::*;

    #[test]
    fn golden_ok() {
        let mut out = Vec::new();
        encode_response(&mut out, OK);
        assert_eq!(out, b"\x00\x00\x00\x06\x00\x00\x00\x00OK");
    }

    #[test]
    fn golden_error() {
        let mut out = Vec::new();
        encode_error(
            &mut out,
            &ClientError::new(ErrorCode::Invalid, "invalid command FOO"),
        );
        let body = b"E_INVALID invalid command FOO";
        let mut want = ((body.len() + 4) as u32).to_be_bytes().to_vec();
        want.extend_from_slice(&[0, 0, 0, 1]);
        want.extend_from_slice(body);
        assert_eq!(out, want);
    }

    #[test]
    fn golden_message() {
        let h = MessageHeader {
            timestamp: 1,
            attempts: 1,
            id: MessageId(0xabc),
        };
        let mut out = Vec::new();
        encode_message(&mut out, &h, b"hi");
        let mut want = vec![0, 0, 0, 32, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1];
        want.extend_from_slice(b"0000000000000abchi");
        assert_eq!(out, want);
        assert_eq!(
            decode_frame(&out, 1 << 20).unwrap(),
            Decoded::Complete {
                value: Frame::Message(h, b"hi"),
                consumed: out.len()
            }
        );
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let mut out = Vec::new();
        encode_message(
            &mut out,
            &MessageHeader {
                timestamp: 5,
                attempts: 2,
                id: MessageId(3),
            },
            b"body",
        );
        encode_response(&mut out, HEARTBEAT);
        let first = match decode_frame(&out, 1 << 20).unwrap() {
            Decoded::Complete { consumed, .. } => consumed,
            Decoded::Incomplete => panic!(),
        };
        for n in 0..first {
            assert_eq!(
                decode_frame(&out[..n], 1 << 20).unwrap(),
                Decoded::Incomplete
            );
        }
    }

    #[test]
    fn rejects_bad_frames() {
        assert_eq!(
            decode_frame(&[0, 0, 0, 3], 100),
            Err(FrameError::SizeTooSmall(3))
        );
        assert_eq!(
            decode_frame(&[0, 0, 1, 0], 100),
            Err(FrameError::SizeTooLarge {
                size: 256,
                max: 100
            })
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 4, 0, 0, 0, 9], 100),
            Err(FrameError::UnknownFrameType(9))
        );
        assert_eq!(
            decode_frame(&[0, 0, 0, 5, 0, 0, 0, 2, 0], 100),
            Err(FrameError::BadMessage)
        );
    }

    proptest! {
        #[test]
        fn roundtrip(kind in 0u8..3, data in proptest::collection::vec(any::<u8>(), 0..300), ts in any::<i64>(), att in any::<u16>(), id in any::<u64>()) {
            let mut out = Vec::new();
            let h = MessageHeader { timestamp: ts, attempts: att, id: MessageId(id) };
            match kind {
                0 => encode_response(&mut out, &data),
                1 => out.extend_from_slice(&{ let mut v = ((data.len() + 4) as u32).to_be_bytes().to_vec(); v.extend_from_slice(&[0,0,0,1]); v.extend_from_slice(&data); v }),
                _ => encode_message(&mut out, &h, &data),
            }
            let Decoded::Complete { value, consumed } = decode_frame(&out, u32::MAX).unwrap() else { panic!() };
            prop_assert_eq!(consumed, out.len());
            match kind {
                0 => prop_assert_eq!(value, Frame::Response(&data)),
                1 => prop_assert_eq!(value, Frame::Error(&data)),
                _ => prop_assert_eq!(value, Frame::Message(h, &data)),
            }
        }

        #[test]
        fn never_panics(data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let _ = decode_frame(&data, 1 << 20);
        }
    }
}
