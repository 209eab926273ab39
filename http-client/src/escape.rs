//! Percent-encoding of query values, as Go's `url.QueryEscape` does it (the
//! AUTH query, lookupd's `?topic=`, nsq_to_http's `%s`).

/// Percent-encode `raw` for a URL query value: unreserved bytes stay, a
/// space becomes `+`, everything else `%XX`.
pub fn query_escape(raw: &[u8]) -> String {
    let mut out = String::with_capacity(raw.len());
    for &b in raw {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_as_go() {
        assert_eq!(query_escape(b"a b&c/d"), "a+b%26c%2Fd");
        assert_eq!(query_escape(b"s e/c+r&t\xff"), "s+e%2Fc%2Br%26t%FF");
        assert_eq!(query_escape(b"t#ephemeral"), "t%23ephemeral");
    }
}
