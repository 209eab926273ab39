//! `nsqd.dat`: the topics and channels nsqd recreates at startup, with
//! their paused flags (docs/data-directory.md#nsqd-dat).
//!
//! ```text
//! {"topics":[{"name":"t","paused":false,"channels":[{"name":"c","paused":true}]}],"version":"1.3.0"}
//! {"topics":[{"name":"lonely","paused":false,"channels":null}],"version":"1.3.0"}   no channels
//! {"topics":null,"version":"1.3.0"}                                                  no topics
//! ```
//!
//! One line, no trailing newline (Go's `json.Marshal`), keys in this order.
//! Written as `nsqd.dat.<random>.tmp`, fsynced, renamed over `nsqd.dat`.
//!
//! Extension (docs/compatibility.md#dead-letters): a channel given its own
//! dead-letter setting over HTTP has two more keys, only then:
//! `{"name":"c","paused":false,"max_attempts":5,"dead_letter_topic":"t.c.dead"}`.
//! Go nsqd ignores keys it does not know, so it still loads the file.

use std::fmt;

use nsq_protocol::names::{is_ephemeral, is_valid_channel_name, is_valid_topic_name};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

/// The file's name inside `--data-path`.
pub(crate) const FILE_NAME: &str = "nsqd.dat";

/// The version nsqd 1.3.0 writes.
pub(crate) const VERSION: &str = "1.3.0";

/// `nsqd.dat.<random>.tmp` (Go: a non-negative `rand.Int()`).
pub(crate) fn tmp_file_name(random: u64) -> String {
    format!("{FILE_NAME}.{random}.tmp")
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Metadata {
    /// Topics; `null` when there are none.
    #[serde(serialize_with = "null_if_empty")]
    pub(crate) topics: Vec<TopicMetadata>,
    /// nsqd's version; ignored when loading.
    pub(crate) version: String,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct TopicMetadata {
    /// Topic name.
    pub(crate) name: String,
    /// Paused over HTTP.
    pub(crate) paused: bool,
    /// Channels; `null` when there are none.
    #[serde(serialize_with = "null_if_empty")]
    pub(crate) channels: Vec<ChannelMetadata>,
}

/// One channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct ChannelMetadata {
    /// Channel name.
    pub(crate) name: String,
    /// Paused over HTTP.
    pub(crate) paused: bool,
    /// Extension: the channel's own maximum of attempts (0: off), only when
    /// set over HTTP.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) max_attempts: Option<u16>,
    /// Extension: its dead-letter topic, with a maximum above 0.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) dead_letter_topic: Option<String>,
}

impl ChannelMetadata {
    /// A channel without a dead-letter setting of its own.
    pub(crate) fn plain(name: String, paused: bool) -> ChannelMetadata {
        ChannelMetadata {
            name,
            paused,
            max_attempts: None,
            dead_letter_topic: None,
        }
    }

    /// Its own dead-letter setting, if it has one.
    pub(crate) fn dead_letters(&self) -> Option<crate::deadletter::Setting> {
        let max_attempts = self.max_attempts?;
        Some(crate::deadletter::Setting {
            max_attempts,
            topic: self.dead_letter_topic.clone().filter(|_| max_attempts > 0),
        })
    }
}

/// Go marshals a nil slice as `null`, and nsqd builds these slices with
/// `append`, so "none" is always `null`, never `[]`.
fn null_if_empty<T: Serialize, S: Serializer>(v: &[T], s: S) -> Result<S::Ok, S::Error> {
    if v.is_empty() {
        s.serialize_none()
    } else {
        v.serialize(s)
    }
}

impl Metadata {
    /// Metadata with this nsqd's [`VERSION`].
    pub(crate) fn new(topics: Vec<TopicMetadata>) -> Metadata {
        Metadata {
            topics,
            version: VERSION.to_owned(),
        }
    }
}

/// The bytes of `nsqd.dat` for `meta`, leaving out ephemeral topics and
/// ephemeral channels ("Ephemeral topics and ephemeral channels are
/// excluded"). Order is kept as given (Go's follows map iteration, so any
/// order is as valid).
///
/// Byte-identical to Go's `json.Marshal` for valid names
/// (docs/protocol.md#names: `[.a-zA-Z0-9_-]`, which no JSON escaping touches).
pub(crate) fn encode(meta: &Metadata) -> Vec<u8> {
    let kept = Metadata {
        topics: meta
            .topics
            .iter()
            .filter(|t| !is_ephemeral(&t.name))
            .map(|t| TopicMetadata {
                name: t.name.clone(),
                paused: t.paused,
                channels: t
                    .channels
                    .iter()
                    .filter(|c| !is_ephemeral(&c.name))
                    .cloned()
                    .collect(),
            })
            .collect(),
        version: meta.version.clone(),
    };
    serde_json::to_vec(&kept).expect("plain structs always serialize")
}

/// `nsqd.dat` as loaded: the entries to recreate, in file order, and those
/// to skip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Loaded {
    /// Topics (and their channels) with valid names, as in the file.
    /// Duplicates are kept: nsqd's `GetTopic`/`GetChannel` return the
    /// existing one, and a `paused` entry pauses it.
    pub(crate) metadata: Metadata,
    /// Entries with invalid names: nsqd logs "skipping creation of invalid
    /// topic/channel" and goes on. An invalid topic's channels are not
    /// looked at.
    pub(crate) skipped: Vec<Skipped>,
}

/// An entry of `nsqd.dat` that is not recreated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Skipped {
    /// Invalid topic name.
    Topic(String),
    /// Invalid channel name in a valid topic.
    Channel {
        /// The topic.
        topic: String,
        /// The invalid channel name.
        channel: String,
    },
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Skipped::Topic(name) => write!(f, "skipping creation of invalid topic {name}"),
            Skipped::Channel { channel, .. } => {
                write!(f, "skipping creation of invalid channel {channel}")
            }
        }
    }
}

/// `nsqd.dat` is not JSON of the expected shape: nsqd refuses to start
/// ("failed to parse metadata").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError(pub(crate) String);

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "failed to parse metadata - {}", self.0)
    }
}

impl std::error::Error for ParseError {}

/// Parse `nsqd.dat` as Go's `json.Unmarshal` into nsqd's `Metadata` does:
///
/// * unknown keys are ignored; keys match case-insensitively (an exact
///   match wins); a repeated key: the last one counts;
/// * `null` anywhere means the zero value (`""`, `false`, no list), so a
///   `null` topic or channel entry is one with the empty, invalid name;
/// * a value of the wrong type, invalid JSON, an empty file or trailing
///   data is an error (fatal in nsqd); top-level `null` is no topics;
/// * invalid UTF-8 inside strings becomes U+FFFD.
///
/// Names are then checked (docs/protocol.md#names) and invalid ones reported in
/// [`Loaded::skipped`].
pub(crate) fn parse(bytes: &[u8]) -> Result<Loaded, ParseError> {
    let text = String::from_utf8_lossy(bytes);
    let value: Value = serde_json::from_str(&text).map_err(|e| ParseError(e.to_string()))?;
    let mut loaded = Loaded {
        metadata: Metadata {
            topics: Vec::new(),
            version: String::new(),
        },
        skipped: Vec::new(),
    };
    let Some(root) = object(&value, "metadata")? else {
        return Ok(loaded);
    };
    loaded.metadata.version = string(field(root, "version"), "version")?;
    for topic in array(field(root, "topics"), "topics")? {
        let t = object(topic, "topic")?;
        let name = string(t.and_then(|t| field(t, "name")), "topic name")?;
        let paused = boolean(t.and_then(|t| field(t, "paused")), "topic paused")?;
        let channels = array(t.and_then(|t| field(t, "channels")), "channels")?;
        if !is_valid_topic_name(name.as_bytes()) {
            // Go has decoded (and type-checked) everything before looking at names.
            check_channels(channels)?;
            loaded.skipped.push(Skipped::Topic(name));
            continue;
        }
        let mut kept = Vec::new();
        for channel in channels {
            let (cname, cpaused) = channel_fields(channel)?;
            if is_valid_channel_name(cname.as_bytes()) {
                let (max_attempts, dead_letter_topic) = dead_letter_fields(channel, &name, &cname);
                kept.push(ChannelMetadata {
                    name: cname,
                    paused: cpaused,
                    max_attempts,
                    dead_letter_topic,
                });
            } else {
                loaded.skipped.push(Skipped::Channel {
                    topic: name.clone(),
                    channel: cname,
                });
            }
        }
        loaded.metadata.topics.push(TopicMetadata {
            name,
            paused,
            channels: kept,
        });
    }
    Ok(loaded)
}

/// The extension keys of a channel entry (exact names; a value of another
/// type, out of range or an invalid name is ignored, as Go nsqd ignores
/// them all). A maximum without a usable topic gets the default one.
fn dead_letter_fields(channel: &Value, topic: &str, name: &str) -> (Option<u16>, Option<String>) {
    let max_attempts = channel
        .get("max_attempts")
        .and_then(Value::as_u64)
        .and_then(|n| u16::try_from(n).ok());
    let Some(max) = max_attempts.filter(|&m| m > 0) else {
        return (max_attempts, None);
    };
    let given = channel
        .get("dead_letter_topic")
        .and_then(Value::as_str)
        .filter(|t| is_valid_topic_name(t.as_bytes()) && *t != topic);
    let topic = match given {
        Some(t) => Some(t.to_string()),
        None => crate::deadletter::resolve(topic, name, None).ok(),
    };
    (Some(max), topic)
}

fn check_channels(channels: &[Value]) -> Result<(), ParseError> {
    channels
        .iter()
        .try_for_each(|c| channel_fields(c).map(drop))
}

fn channel_fields(channel: &Value) -> Result<(String, bool), ParseError> {
    let c = object(channel, "channel")?;
    Ok((
        string(c.and_then(|c| field(c, "name")), "channel name")?,
        boolean(c.and_then(|c| field(c, "paused")), "channel paused")?,
    ))
}

/// A struct field by JSON key, the way `encoding/json` finds it.
fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).or_else(|| {
        obj.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn type_error(what: &str, want: &str, got: &Value) -> ParseError {
    let got = match got {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    ParseError(format!(
        "json: cannot unmarshal {got} into {what} of type {want}"
    ))
}

fn object<'a>(v: &'a Value, what: &str) -> Result<Option<&'a Map<String, Value>>, ParseError> {
    match v {
        Value::Null => Ok(None),
        Value::Object(m) => Ok(Some(m)),
        other => Err(type_error(what, "object", other)),
    }
}

fn array<'a>(v: Option<&'a Value>, what: &str) -> Result<&'a [Value], ParseError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(type_error(what, "array", other)),
    }
}

fn string(v: Option<&Value>, what: &str) -> Result<String, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error(what, "string", other)),
    }
}

fn boolean(v: Option<&Value>, what: &str) -> Result<bool, ParseError> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(type_error(what, "bool", other)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topic(name: &str, paused: bool, channels: &[(&str, bool)]) -> TopicMetadata {
        TopicMetadata {
            name: name.to_owned(),
            paused,
            channels: channels
                .iter()
                .map(|&(name, paused)| ChannelMetadata::plain(name.to_owned(), paused))
                .collect(),
        }
    }

    #[test]
    fn golden_encodings() {
        let m = Metadata::new(vec![topic("t", false, &[("c", true)])]);
        assert_eq!(
            encode(&m),
            br#"{"topics":[{"name":"t","paused":false,"channels":[{"name":"c","paused":true}]}],"version":"1.3.0"}"#
        );
        assert_eq!(
            encode(&Metadata::new(vec![])),
            br#"{"topics":null,"version":"1.3.0"}"#
        );
        let m = Metadata::new(vec![
            topic("lonely", false, &[]),
            topic(
                "fixture",
                false,
                &[("c1", false), ("c2", false), ("paused", true)],
            ),
        ]);
        assert_eq!(
            encode(&m),
            &br#"{"topics":[{"name":"lonely","paused":false,"channels":null},{"name":"fixture","paused":false,"channels":[{"name":"c1","paused":false},{"name":"c2","paused":false},{"name":"paused","paused":true}]}],"version":"1.3.0"}"#[..]
        );
    }

    #[test]
    fn ephemeral_entries_are_not_written() {
        let m = Metadata::new(vec![
            topic("gone#ephemeral", false, &[("c", false)]),
            topic("t", true, &[("e#ephemeral", false)]),
            topic("u", false, &[("e#ephemeral", true), ("kept", false)]),
        ]);
        assert_eq!(
            encode(&m),
            br#"{"topics":[{"name":"t","paused":true,"channels":null},{"name":"u","paused":false,"channels":[{"name":"kept","paused":false}]}],"version":"1.3.0"}"#
        );
        let only = Metadata::new(vec![topic("x#ephemeral", false, &[])]);
        assert_eq!(encode(&only), br#"{"topics":null,"version":"1.3.0"}"#);
    }

    #[test]
    fn round_trip() {
        let m = Metadata::new(vec![
            topic("a", true, &[("x", false), ("y", true)]),
            topic("b.c_d-e", false, &[]),
        ]);
        let loaded = parse(&encode(&m)).unwrap();
        assert_eq!(loaded.metadata, m);
        assert!(loaded.skipped.is_empty());
    }

    #[test]
    fn parse_is_as_tolerant_as_encoding_json() {
        let text = br#" {"Topics":[{"NAME":"t","paused":null,"extra":[1,2],"channels":[{"name":"c","Paused":true,"x":{}},null]},
            null, {"name":"bad name!","channels":[{"name":"c"}]}, {"name":"ok","channels":[{"name":""},{"name":"c#ephemeral"}]}],
            "unknown":1} "#;
        let loaded = parse(text).unwrap();
        assert_eq!(
            loaded.metadata,
            Metadata {
                topics: vec![
                    topic("t", false, &[("c", true)]),
                    topic("ok", false, &[("c#ephemeral", false)]),
                ],
                version: String::new(),
            }
        );
        assert_eq!(
            loaded.skipped,
            vec![
                Skipped::Channel {
                    topic: "t".into(),
                    channel: String::new()
                },
                Skipped::Topic(String::new()),
                Skipped::Topic("bad name!".into()),
                Skipped::Channel {
                    topic: "ok".into(),
                    channel: String::new()
                },
            ]
        );
        assert_eq!(
            loaded.skipped[2].to_string(),
            "skipping creation of invalid topic bad name!"
        );
        // Exact key beats a case-insensitive one; the last duplicate wins.
        let loaded = parse(
            br#"{"TOPICS":[{"name":"no"}],"topics":[{"name":"first"}],"topics":[{"name":"yes"}]}"#,
        )
        .unwrap();
        assert_eq!(loaded.metadata.topics, vec![topic("yes", false, &[])]);
        assert_eq!(parse(b"null").unwrap().metadata.topics, vec![]);
        assert_eq!(parse(br#"{}"#).unwrap().metadata.topics, vec![]);
        assert_eq!(parse(br#"{"topics":[]}"#).unwrap().metadata.topics, vec![]);
        // Invalid UTF-8 inside a name: U+FFFD, an invalid name.
        let loaded = parse(b"{\"topics\":[{\"name\":\"a\xffb\"}]}").unwrap();
        assert_eq!(loaded.skipped, vec![Skipped::Topic("a\u{fffd}b".into())]);
    }

    #[test]
    fn dead_letter_settings_are_extra_keys_only_when_set() {
        let mut m = Metadata::new(vec![topic("t", false, &[("c", false), ("d", true)])]);
        m.topics[0].channels[0].max_attempts = Some(5);
        m.topics[0].channels[0].dead_letter_topic = Some("t.c.dead".into());
        m.topics[0].channels[1].max_attempts = Some(0);
        let bytes = encode(&m);
        assert_eq!(
            bytes,
            br#"{"topics":[{"name":"t","paused":false,"channels":[{"name":"c","paused":false,"max_attempts":5,"dead_letter_topic":"t.c.dead"},{"name":"d","paused":true,"max_attempts":0}]}],"version":"1.3.0"}"#
        );
        let loaded = parse(&bytes).unwrap();
        assert_eq!(loaded.metadata, m);
        let c = &loaded.metadata.topics[0].channels;
        assert_eq!(
            c[0].dead_letters().unwrap().config().unwrap().max_attempts,
            5
        );
        assert_eq!(c[1].dead_letters().unwrap().config(), None);
    }

    #[test]
    fn odd_dead_letter_values_are_ignored_as_go_ignores_them() {
        let loaded = parse(
            br#"{"topics":[{"name":"t","channels":[
                {"name":"a","max_attempts":"5"},
                {"name":"b","max_attempts":70000,"dead_letter_topic":"x"},
                {"name":"c","max_attempts":3,"dead_letter_topic":"bad name"},
                {"name":"d","max_attempts":3,"dead_letter_topic":7},
                {"name":"e#ephemeral","max_attempts":3},
                {"name":"f","Max_Attempts":3}]}]}"#,
        )
        .unwrap();
        let got: Vec<_> = loaded.metadata.topics[0]
            .channels
            .iter()
            .map(|c| {
                (
                    c.name.as_str(),
                    c.max_attempts,
                    c.dead_letter_topic.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("a", None, None),
                ("b", None, None),
                ("c", Some(3), Some("t.c.dead")),
                ("d", Some(3), Some("t.d.dead")),
                ("e#ephemeral", Some(3), None),
                ("f", None, None),
            ]
        );
    }

    #[test]
    fn parse_errors_are_fatal() {
        for bad in [
            &b""[..],
            b"   ",
            b"{",
            b"[]",
            b"\"x\"",
            br#"{"topics":{}}"#,
            br#"{"topics":[1]}"#,
            br#"{"topics":[{"name":1}]}"#,
            br#"{"topics":[{"name":"t","paused":"yes"}]}"#,
            br#"{"topics":[{"name":"t","channels":{}}]}"#,
            br#"{"topics":[{"name":"t","channels":[{"name":"c","paused":0}]}]}"#,
            br#"{"topics":[{"name":"bad!","channels":[{"paused":0}]}]}"#,
            br#"{"topics":null,"version":1}"#,
            br#"{"topics":null} {}"#,
            b"\xef\xbb\xbf{\"topics\":null}",
        ] {
            assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn file_names() {
        assert_eq!(FILE_NAME, "nsqd.dat");
        assert_eq!(tmp_file_name(42), "nsqd.dat.42.tmp");
    }

    /// Against the `nsqd.dat` Go nsqd 1.3.0 wrote (the fixture data directory).
    #[test]
    fn nsqd_dat_matches_the_manifest() {
        let m = nsq_test_support::fixtures::go_nsqd_manifest();
        let bytes =
            std::fs::read(nsq_test_support::fixtures::go_nsqd_data().join(FILE_NAME)).unwrap();
        let loaded = parse(&bytes).unwrap();
        assert!(loaded.skipped.is_empty());
        let want = &m["nsqd_dat"];
        assert_eq!(loaded.metadata.version, want["version"].as_str().unwrap());
        let topics = want["topics"].as_array().unwrap();
        assert_eq!(loaded.metadata.topics.len(), topics.len());
        for (got, want) in loaded.metadata.topics.iter().zip(topics) {
            assert_eq!(got.name, want["name"].as_str().unwrap());
            assert_eq!(got.paused, want["paused"].as_bool().unwrap());
            let channels = want["channels"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default();
            assert_eq!(got.channels.len(), channels.len(), "{}", got.name);
            for (gc, wc) in got.channels.iter().zip(channels) {
                assert_eq!(gc.name, wc["name"].as_str().unwrap());
                assert_eq!(gc.paused, wc["paused"].as_bool().unwrap());
            }
        }
        let paused = &loaded.metadata.topics[1].channels[2];
        assert_eq!((paused.name.as_str(), paused.paused), ("paused", true));
        // Our writer produces Go's bytes (same topic order as the file).
        assert_eq!(encode(&loaded.metadata), bytes);
    }
}
