//! Topic and channel name rules (docs/protocol.md#names).
//!
//! A name is 1..=64 bytes of `[.a-zA-Z0-9_-]`, optionally followed by the
//! suffix `#ephemeral` (which counts toward the 64 bytes). The same rule holds
//! for topics and channels everywhere in NSQ.

/// The suffix that makes a topic or channel ephemeral.
pub const EPHEMERAL_SUFFIX: &str = "#ephemeral";

/// The longest valid name, suffix included.
pub const MAX_NAME_LEN: usize = 64;

/// Whether `name` is a valid topic or channel name.
pub fn is_valid_name(name: &[u8]) -> bool {
    if name.is_empty() || name.len() > MAX_NAME_LEN {
        return false;
    }
    let base = name
        .strip_suffix(EPHEMERAL_SUFFIX.as_bytes())
        .unwrap_or(name);
    !base.is_empty()
        && base
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
}

/// Whether `name` is a valid topic name.
pub fn is_valid_topic_name(name: &[u8]) -> bool {
    is_valid_name(name)
}

/// Whether `name` is a valid channel name.
pub fn is_valid_channel_name(name: &[u8]) -> bool {
    is_valid_name(name)
}

/// Whether a (valid) name denotes an ephemeral topic or channel.
pub fn is_ephemeral(name: &str) -> bool {
    name.ends_with(EPHEMERAL_SUFFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn accepts_nsq_names() {
        for n in [
            "a",
            "test",
            "my.topic_name-1",
            "t#ephemeral",
            "...",
            &"x".repeat(64),
            &format!("{}#ephemeral", "x".repeat(54)),
        ] {
            assert!(is_valid_name(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn rejects_bad_names() {
        for n in [
            "",
            "#ephemeral",
            "a b",
            "a#b",
            "a#ephemeral#ephemeral",
            "tést",
            "a/b",
            "a:b",
            &"x".repeat(65),
            &format!("{}#ephemeral", "x".repeat(55)),
        ] {
            assert!(!is_valid_name(n.as_bytes()), "{n:?}");
        }
    }

    #[test]
    fn ephemeral_suffix() {
        assert!(is_ephemeral("c#ephemeral"));
        assert!(!is_ephemeral("c"));
    }

    proptest! {
        #[test]
        fn valid_names_match_the_regex(s in "[.a-zA-Z0-9_-]{1,64}") {
            prop_assert!(is_valid_name(s.as_bytes()));
        }

        #[test]
        fn never_panics(s in proptest::collection::vec(any::<u8>(), 0..100)) {
            let _ = is_valid_name(&s);
        }
    }
}
