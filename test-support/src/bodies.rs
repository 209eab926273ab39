//! Message bodies for transport tests: varied sizes, compressible and not.

/// Body `i`: an 8-digit index and `|`, then every third byte pseudo-random
/// and the rest `z`; 1..900 bytes long, and every 97th larger than a snappy
/// block (70 000 + `i`).
pub fn mixed_body(i: usize) -> Vec<u8> {
    let len = if i.is_multiple_of(97) {
        70_000 + i
    } else {
        1 + (i * 37) % 900
    };
    let mut b = format!("{i:08}|").into_bytes();
    b.extend((0..len).map(|k| {
        if k % 3 == 0 {
            (i * k % 251) as u8
        } else {
            b'z'
        }
    }));
    b
}
