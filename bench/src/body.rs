//! The bench message body: timestamps the consumer reads back.
//!
//! ```text
//! [ 8-byte u64 intended send ns ][ 8-byte u64 actual send ns ][ 8-byte u64 seq ][ 'x' padding ... ]
//! ```
//! Big-endian, clock of [`crate::clock::now_ns`]. Bodies shorter than
//! [`STAMP_LEN`] are not allowed; the padding makes the body `size` bytes.

/// Bytes of the stamp at the front of every body.
pub const STAMP_LEN: usize = 24;

/// What a body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// When the schedule wanted the message sent (open loop), or when it
    /// was sent (closed loop).
    pub intended_ns: u64,
    /// When the producer actually handed it to the socket.
    pub sent_ns: u64,
    /// Producer sequence number.
    pub seq: u64,
}

impl Stamp {
    /// Write the stamp into the front of `body` (which must be at least
    /// [`STAMP_LEN`] long).
    pub fn write(&self, body: &mut [u8]) {
        body[0..8].copy_from_slice(&self.intended_ns.to_be_bytes());
        body[8..16].copy_from_slice(&self.sent_ns.to_be_bytes());
        body[16..24].copy_from_slice(&self.seq.to_be_bytes());
    }

    /// Read a stamp back; `None` if the body is too short.
    pub fn read(body: &[u8]) -> Option<Stamp> {
        let word = |i: usize| -> Option<u64> {
            Some(u64::from_be_bytes(body.get(i..i + 8)?.try_into().ok()?))
        };
        Some(Stamp {
            intended_ns: word(0)?,
            sent_ns: word(8)?,
            seq: word(16)?,
        })
    }
}

/// A padded body of `size` bytes (at least [`STAMP_LEN`]) with a zero stamp.
pub fn blank(size: usize) -> Vec<u8> {
    let mut b = vec![b'x'; size.max(STAMP_LEN)];
    Stamp {
        intended_ns: 0,
        sent_ns: 0,
        seq: 0,
    }
    .write(&mut b);
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip() {
        let mut b = blank(100);
        let s = Stamp {
            intended_ns: 7,
            sent_ns: 9,
            seq: u64::MAX,
        };
        s.write(&mut b);
        assert_eq!(b.len(), 100);
        assert_eq!(Stamp::read(&b), Some(s));
        assert_eq!(b[STAMP_LEN], b'x');
    }

    #[test]
    fn short_bodies_have_no_stamp() {
        assert_eq!(Stamp::read(&[0; 23]), None);
        assert_eq!(blank(3).len(), STAMP_LEN);
    }
}
