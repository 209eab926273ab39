//! Message IDs (docs/protocol.md#message-ids) and the message payload layout
//! (docs/protocol.md#message-format).
//!
//! ```text
//! message frame payload, also the record stored on disk:
//! [ 8-byte i64 timestamp ns ][ 2-byte u16 attempts ][ 16-byte ASCII hex ID ][ body ... ]
//! |<------------------------ 26-byte header ------------------------------->|
//! ```
//! All integers are big-endian.

use std::fmt;

/// Length of the fixed header before a message body.
pub const MESSAGE_HEADER_LEN: usize = 8 + 2 + MESSAGE_ID_LEN;

/// Length of a message ID on the wire.
pub const MESSAGE_ID_LEN: usize = 16;

/// A message ID: a 64-bit number sent as 16 lowercase hex digits.
///
/// Clients treat the 16 bytes as opaque; only uniqueness per topic matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct MessageId(pub u64);

const HEX: &[u8; 16] = b"0123456789abcdef";

impl MessageId {
    /// The 16 ASCII hex bytes sent on the wire.
    pub fn to_hex(self) -> [u8; MESSAGE_ID_LEN] {
        let mut out = [0u8; MESSAGE_ID_LEN];
        let mut v = self.0;
        for slot in out.iter_mut().rev() {
            *slot = HEX[(v & 0xf) as usize];
            v >>= 4;
        }
        out
    }

    /// Parse the 16 wire bytes. `None` unless they are exactly 16 lowercase
    /// hex digits (an ID this server could have produced).
    pub fn from_hex(raw: &[u8]) -> Option<MessageId> {
        if raw.len() != MESSAGE_ID_LEN {
            return None;
        }
        let mut v: u64 = 0;
        for &b in raw {
            let d = match b {
                b'0'..=b'9' => b - b'0',
                b'a'..=b'f' => b - b'a' + 10,
                _ => return None,
            };
            v = (v << 4) | u64::from(d);
        }
        Some(MessageId(v))
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// The fixed part of a message, as carried in a message frame and on disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageHeader {
    /// Wall-clock nanoseconds when the broker accepted the publish.
    pub timestamp: i64,
    /// Delivery attempts so far (1 on first delivery).
    pub attempts: u16,
    /// The message ID.
    pub id: MessageId,
}

impl MessageHeader {
    /// Append the 26 header bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.extend_from_slice(&self.attempts.to_be_bytes());
        out.extend_from_slice(&self.id.to_hex());
    }

    /// Split a message payload into its header and body. `None` if shorter
    /// than the header or if the ID is not 16 hex digits.
    pub fn decode(payload: &[u8]) -> Option<(MessageHeader, &[u8])> {
        let ts = payload.get(0..8)?;
        let att = payload.get(8..10)?;
        let id = payload.get(10..MESSAGE_HEADER_LEN)?;
        let body = payload.get(MESSAGE_HEADER_LEN..)?;
        Some((
            MessageHeader {
                timestamp: i64::from_be_bytes(ts.try_into().ok()?),
                attempts: u16::from_be_bytes(att.try_into().ok()?),
                id: MessageId::from_hex(id)?,
            },
            body,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn id_golden() {
        assert_eq!(
            &MessageId(0x0123_4567_89ab_cdef).to_hex(),
            b"0123456789abcdef"
        );
        assert_eq!(MessageId(1).to_string(), "0000000000000001");
        assert_eq!(
            MessageId::from_hex(b"0123456789abcdef"),
            Some(MessageId(0x0123_4567_89ab_cdef))
        );
        assert_eq!(MessageId::from_hex(b"0123456789ABCDEF"), None);
        assert_eq!(MessageId::from_hex(b"0123"), None);
        assert_eq!(MessageId::from_hex(b"0123456789abcdeg"), None);
    }

    #[test]
    fn header_golden_bytes() {
        let h = MessageHeader {
            timestamp: 0x0102_0304_0506_0708,
            attempts: 0x0a0b,
            id: MessageId(0xff),
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        out.extend_from_slice(b"body");
        assert_eq!(&out[..10], &[1, 2, 3, 4, 5, 6, 7, 8, 0x0a, 0x0b]);
        assert_eq!(&out[10..26], b"00000000000000ff");
        assert_eq!(MessageHeader::decode(&out), Some((h, &b"body"[..])));
    }

    #[test]
    fn every_short_header_is_rejected() {
        let h = MessageHeader {
            timestamp: 7,
            attempts: 1,
            id: MessageId(9),
        };
        let mut out = Vec::new();
        h.encode(&mut out);
        for n in 0..out.len() {
            assert_eq!(MessageHeader::decode(&out[..n]), None);
        }
    }

    proptest! {
        #[test]
        fn id_roundtrip(v in any::<u64>()) {
            prop_assert_eq!(MessageId::from_hex(&MessageId(v).to_hex()), Some(MessageId(v)));
        }

        #[test]
        fn header_roundtrip(ts in any::<i64>(), att in any::<u16>(), id in any::<u64>(), body in proptest::collection::vec(any::<u8>(), 0..64)) {
            let h = MessageHeader { timestamp: ts, attempts: att, id: MessageId(id) };
            let mut out = Vec::new();
            h.encode(&mut out);
            out.extend_from_slice(&body);
            let (h2, b2) = MessageHeader::decode(&out).unwrap();
            prop_assert_eq!(h2, h);
            prop_assert_eq!(b2, &body[..]);
        }
    }
}
