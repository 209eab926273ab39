//! Dead letters (an extension, off by default; docs/compatibility.md#dead-letters):
//! a channel with a maximum of attempts does not requeue a message that was
//! delivered that many times and then times out or is REQ'd: it publishes
//! the message (same body, new ID) to its dead-letter topic on this nsqd,
//! and lets go of it only once that publish is acknowledged (durable, with
//! `--sync-every=1`). A crash in between may duplicate it, never lose it.
//!
//! * here: the rules for the setting and the dead-letter topic's name
//!   (pure, unit- and property-tested);
//! * [`state`]: what a channel keeps (its setting, the messages on their
//!   way, the count);
//! * [`mover`]: the shard's task that publishes them through the publish
//!   path, batched, and tells the channels the outcome;
//! * [`redrive`]: `POST /channel/redrive`, the way back;
//! * [`request`]: the shard messages of both.

pub(crate) mod mover;
pub(crate) mod redrive;
pub(crate) mod request;
pub(crate) mod state;

use bytes::Bytes;
use nsq_protocol::names::{is_ephemeral, is_valid_topic_name, MAX_NAME_LEN};

use crate::name::TopicName;

/// A channel's limit and where messages over it go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeadLetterConfig {
    /// Deliveries after which a message that times out or is requeued is
    /// dead-lettered (> 0).
    pub(crate) max_attempts: u16,
    /// The dead-letter topic (not the channel's own).
    pub(crate) topic: TopicName,
}

/// A per-channel setting as `/channel/config` gives it and `nsqd.dat`
/// keeps it: `max_attempts` 0 turns dead letters off for the channel, even
/// with `--max-attempts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Setting {
    /// 0: off.
    pub(crate) max_attempts: u16,
    /// The dead-letter topic; `None` with `max_attempts` 0.
    pub(crate) topic: Option<String>,
}

impl Setting {
    /// The active configuration, if any.
    pub(crate) fn config(&self) -> Option<DeadLetterConfig> {
        match (self.max_attempts, &self.topic) {
            (0, _) | (_, None) => None,
            (max_attempts, Some(topic)) => Some(DeadLetterConfig {
                max_attempts,
                topic: TopicName::new(Bytes::from(topic.clone()))?,
            }),
        }
    }
}

/// Why a dead-letter topic cannot be used. Each is a 400 answer whose
/// message says why, NSQ-style.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NameError {
    /// `dead_letter_topic=` is not a valid topic name.
    Invalid,
    /// The default name `<topic>.<channel>.dead` is longer than a topic
    /// name may be: give `dead_letter_topic=`.
    TooLong,
    /// The topic or channel is ephemeral, so `<topic>.<channel>.dead` is
    /// not a topic name: give `dead_letter_topic=`.
    Ephemeral,
    /// The dead-letter topic is the channel's own topic: every channel
    /// would get the message again.
    SameTopic,
}

impl NameError {
    /// The `message` of the 400 answer.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            NameError::Invalid => "INVALID_ARG_DEAD_LETTER_TOPIC",
            NameError::TooLong => "DEAD_LETTER_TOPIC_TOO_LONG",
            NameError::Ephemeral => "DEAD_LETTER_TOPIC_EPHEMERAL",
            NameError::SameTopic => "DEAD_LETTER_TOPIC_IS_SOURCE",
        }
    }
}

/// `<topic>.<channel>.dead`.
pub(crate) fn default_topic(topic: &str, channel: &str) -> String {
    format!("{topic}.{channel}.dead")
}

/// The dead-letter topic of channel `channel` of `topic`: `explicit` if
/// given, else the default name; checked.
pub(crate) fn resolve(
    topic: &str,
    channel: &str,
    explicit: Option<&str>,
) -> Result<String, NameError> {
    let name = match explicit {
        Some(given) => {
            if !is_valid_topic_name(given.as_bytes()) {
                return Err(NameError::Invalid);
            }
            given.to_string()
        }
        None => {
            if is_ephemeral(topic) || is_ephemeral(channel) {
                return Err(NameError::Ephemeral);
            }
            let name = default_topic(topic, channel);
            if name.len() > MAX_NAME_LEN {
                return Err(NameError::TooLong);
            }
            name
        }
    };
    if name == topic {
        return Err(NameError::SameTopic);
    }
    Ok(name)
}

/// `max_attempts=`: a decimal integer in 0..=65535 (attempts are 16 bits
/// on the wire), digits only.
pub(crate) fn parse_max_attempts(text: &str) -> Option<u16> {
    if text.is_empty() || text.len() > 5 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn default_names_and_refusals() {
        assert_eq!(
            resolve("orders", "archive", None).unwrap(),
            "orders.archive.dead"
        );
        assert_eq!(
            resolve("orders", "archive", Some("failed")).unwrap(),
            "failed"
        );
        assert_eq!(resolve("t", "c#ephemeral", None), Err(NameError::Ephemeral));
        assert_eq!(resolve("t#ephemeral", "c", None), Err(NameError::Ephemeral));
        // An ephemeral channel may still name a topic of its own.
        assert_eq!(resolve("t", "c#ephemeral", Some("d")).unwrap(), "d");
        let long = "x".repeat(30);
        assert_eq!(resolve(&long, &long, None), Err(NameError::TooLong));
        // 64 bytes exactly is a valid name.
        let (t, c) = ("t".repeat(29), "c".repeat(29));
        assert_eq!(resolve(&t, &c, None).unwrap().len(), 64);
        assert_eq!(resolve("t", "c", Some("bad name")), Err(NameError::Invalid));
        assert_eq!(resolve("t", "c", Some("")), Err(NameError::Invalid));
        assert_eq!(resolve("t", "c", Some("t")), Err(NameError::SameTopic));
        assert_eq!(NameError::TooLong.code(), "DEAD_LETTER_TOPIC_TOO_LONG");
    }

    #[test]
    fn settings() {
        let on = Setting {
            max_attempts: 3,
            topic: Some("d".into()),
        };
        assert_eq!(on.config().unwrap().max_attempts, 3);
        let off = Setting {
            max_attempts: 0,
            topic: None,
        };
        assert_eq!(off.config(), None);
    }

    #[test]
    fn max_attempts_edges() {
        assert_eq!(parse_max_attempts("0"), Some(0));
        assert_eq!(parse_max_attempts("65535"), Some(65535));
        assert_eq!(parse_max_attempts("007"), Some(7));
        for bad in [
            "", "65536", "-1", "+1", "1.0", " 1", "1 ", "abc", "100000", "1e3",
        ] {
            assert_eq!(parse_max_attempts(bad), None, "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_u16_round_trips(n: u16) {
            prop_assert_eq!(parse_max_attempts(&n.to_string()), Some(n));
        }

        #[test]
        fn beyond_u16_is_refused(n in 65_536u64..100_000_000) {
            prop_assert_eq!(parse_max_attempts(&n.to_string()), None);
        }

        #[test]
        fn anything_else_parses_as_str_does(s in "\\PC{0,8}") {
            let got = parse_max_attempts(&s);
            let digits = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
            if got.is_some() {
                prop_assert!(digits);
                prop_assert_eq!(got, s.parse::<u16>().ok());
            } else {
                prop_assert!(!digits || s.len() > 5 || s.parse::<u16>().is_err());
            }
        }

        #[test]
        fn resolved_names_are_valid_topics(
            t in "[a-z._-]{1,40}",
            c in "[a-z._-]{1,40}(#ephemeral)?",
        ) {
            match resolve(&t, &c, None) {
                Ok(name) => {
                    prop_assert!(is_valid_topic_name(name.as_bytes()));
                    prop_assert_ne!(name, t);
                }
                Err(NameError::TooLong) => prop_assert!(t.len() + c.len() + 6 > MAX_NAME_LEN),
                Err(NameError::Ephemeral) => prop_assert!(is_ephemeral(&c)),
                Err(e) => prop_assert!(false, "{e:?}"),
            }
        }
    }
}
