//! The chaos message body: which message it is, and a checksum that
//! catches any corrupted byte.
//!
//! ```text
//! [ "NCH1" ][ key: u64 ][ n: u32 ][ n payload bytes ][ FNV-1a 64 of all before: u64 ]
//! ```
//! Big-endian. The key is `producer << 40 | sequence` (see
//! [`crate::chaos::ledger`]); the payload is half random bytes derived
//! from the key, half a repeated pattern, so snappy and deflate have both
//! kinds of input. No byte is `\n`-special: bodies are binary.

use crate::chaos::rng::Rng;

const MAGIC: &[u8; 4] = b"NCH1";
/// Bytes around the payload.
pub const OVERHEAD: usize = 4 + 8 + 4 + 8;

/// Why a body is not one of ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Corrupt {
    /// Shorter than the fixed part, or not starting with the magic.
    NotChaos,
    /// The length field disagrees with the body's size.
    Length,
    /// The checksum does not match.
    Checksum,
}

/// FNV-1a, 64 bits.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The body of message `key` with a `payload`-byte payload.
pub fn encode(key: u64, payload: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(OVERHEAD + payload);
    b.extend_from_slice(MAGIC);
    b.extend_from_slice(&key.to_be_bytes());
    b.extend_from_slice(&(payload as u32).to_be_bytes());
    let start = b.len();
    b.resize(start + payload, 0);
    let random = payload / 2;
    Rng::new(key).fill(&mut b[start..start + random]);
    for (i, x) in b[start + random..].iter_mut().enumerate() {
        *x = b"chaos-"[i % 6];
    }
    let sum = fnv1a(&b);
    b.extend_from_slice(&sum.to_be_bytes());
    b
}

/// The key of a body, if it is intact.
pub fn decode(body: &[u8]) -> Result<u64, Corrupt> {
    if body.len() < OVERHEAD || &body[..4] != MAGIC {
        return Err(Corrupt::NotChaos);
    }
    let word = |i: usize| u64::from_be_bytes(body[i..i + 8].try_into().unwrap_or([0; 8]));
    let n = u32::from_be_bytes(body[12..16].try_into().unwrap_or([0; 4])) as usize;
    if n + OVERHEAD != body.len() {
        return Err(Corrupt::Length);
    }
    let end = body.len() - 8;
    if fnv1a(&body[..end]) != word(end) {
        return Err(Corrupt::Checksum);
    }
    Ok(word(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_every_flipped_byte_is_caught() {
        for n in [0, 1, 7, 300] {
            let b = encode(0xABCD_0000_0042, n);
            assert_eq!(b.len(), OVERHEAD + n);
            assert_eq!(decode(&b), Ok(0xABCD_0000_0042));
            for i in 0..b.len() {
                let mut c = b.clone();
                c[i] ^= 0x10;
                assert!(decode(&c).is_err(), "byte {i} of {n}");
            }
        }
    }

    #[test]
    fn foreign_and_truncated_bodies() {
        assert_eq!(decode(b"hello"), Err(Corrupt::NotChaos));
        let b = encode(1, 10);
        assert_eq!(decode(&b[..b.len() - 1]), Err(Corrupt::Length));
        let mut longer = b.clone();
        longer.push(0);
        assert_eq!(decode(&longer), Err(Corrupt::Length));
    }
}
