//! A validated topic name carried without copying: the bytes of a PUB's
//! topic stay a slice of the publisher's read buffer from the decoder to the
//! owner shard, and read as a `&str` wherever a name is needed.

use bytes::Bytes;
use nsq_protocol::names::is_valid_topic_name;

/// A topic name that passed NSQ's name rules (docs/protocol.md#names), so
/// it is ASCII.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TopicName(Bytes);

impl TopicName {
    /// `bytes` as a topic name, if it is a valid one.
    pub(crate) fn new(bytes: Bytes) -> Option<TopicName> {
        is_valid_topic_name(&bytes).then_some(TopicName(bytes))
    }

    /// The name.
    pub(crate) fn as_str(&self) -> &str {
        // SAFETY: `new` admits only valid names, and a valid name is ASCII
        // (hence UTF-8); the bytes never change afterwards.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_names_are_admitted() {
        let name = TopicName::new(Bytes::from_static(b"t.1#ephemeral")).unwrap();
        assert_eq!(name.as_str(), "t.1#ephemeral");
        for bad in [&b""[..], b"a b", b"t\xff", &[b'x'; 65]] {
            assert!(TopicName::new(Bytes::copy_from_slice(bad)).is_none());
        }
    }
}
