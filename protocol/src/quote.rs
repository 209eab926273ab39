//! Go's `%q` formatting of a byte string (`strconv.Quote`), which NSQ uses in
//! its "topic name %q is not valid" error texts.

use std::fmt::Write;

/// Quote `raw` the way Go's `fmt.Sprintf("%q", string(raw))` does: in double
/// quotes, with `\"`, `\\`, the C escapes, `\xNN` for invalid UTF-8 and ASCII
/// control bytes, and `\uNNNN` / `\UNNNNNNNN` for other non-printable runes.
pub fn go_quote(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len() + 2);
    out.push('"');
    for chunk in raw.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.push_str("\\\""),
                '\\' => out.push_str("\\\\"),
                '\u{7}' => out.push_str("\\a"),
                '\u{8}' => out.push_str("\\b"),
                '\u{c}' => out.push_str("\\f"),
                '\n' => out.push_str("\\n"),
                '\r' => out.push_str("\\r"),
                '\t' => out.push_str("\\t"),
                '\u{b}' => out.push_str("\\v"),
                c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                    let _ = write!(out, "\\x{:02x}", c as u32);
                }
                c if c.is_control() => {
                    if (c as u32) < 0x10000 {
                        let _ = write!(out, "\\u{:04x}", c as u32);
                    } else {
                        let _ = write!(out, "\\U{:08x}", c as u32);
                    }
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote(b"abc"), "\"abc\"");
        assert_eq!(go_quote(b"a b"), "\"a b\"");
        assert_eq!(go_quote(b"a\"b\\"), "\"a\\\"b\\\\\"");
        assert_eq!(go_quote(b"a\nb\t"), "\"a\\nb\\t\"");
        assert_eq!(go_quote(b"\x00\x7f"), "\"\\x00\\x7f\"");
        assert_eq!(go_quote(b"\xff"), "\"\\xff\"");
        assert_eq!(go_quote("tést".as_bytes()), "\"tést\"");
        assert_eq!(go_quote("\u{85}".as_bytes()), "\"\\u0085\"");
    }
}
