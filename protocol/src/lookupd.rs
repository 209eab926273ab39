//! The nsqlookupd TCP protocol "  V1" (docs/lookupd.md#tcp-protocol): what nsqd
//! sends to nsqlookupd and what comes back. Pure: decoders for the server side,
//! encoders and a response decoder for nsqd's side.
//!
//! ```text
//! nsqd                                              nsqlookupd
//!   "  V1"                                ───────▶  (magic, once)
//!   IDENTIFY\n[4-byte size][JSON]         ───────▶
//!                                         ◀───────  [4-byte size][JSON reply]
//!   REGISTER <topic> [<channel>]\n        ───────▶
//!                                         ◀───────  [4-byte size]["OK"]
//!   UNREGISTER <topic> [<channel>]\n      ───────▶
//!   PING\n                                ───────▶
//!   bad input                             ───────▶
//!                                         ◀───────  [4-byte size]["E_INVALID ..."], close
//! ```
//!
//! Responses have no frame-type field (unlike V2). Every protocol error is
//! fatal. IDENTIFY's body is decoded separately ([`decode_identify_body`])
//! because nsqlookupd refuses a second IDENTIFY before reading its body.
//!
//! ```
//! use nsq_protocol::lookupd::{decode_command, LookupCommand, LookupRequest};
//! use nsq_protocol::Decoded;
//!
//! let mut wire = Vec::new();
//! LookupRequest::Register { topic: "t", channel: Some("c") }.encode(&mut wire);
//! let Ok(Decoded::Complete { value: LookupCommand::Register(Ok(tc)), consumed }) =
//!     decode_command(&wire)
//! else {
//!     panic!()
//! };
//! assert_eq!((tc.topic, tc.channel, consumed), ("t", Some("c"), wire.len()));
//! ```

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, ErrorCode};
use crate::names::{is_valid_channel_name, is_valid_topic_name};
use crate::Decoded;

/// The 4 bytes nsqd sends first.
pub const MAGIC_V1: &[u8; 4] = b"  V1";

/// Longest command line (NSQ has no bound; names are at most 64 bytes, so
/// anything near this is garbage).
pub const MAX_LINE: usize = 16 * 1024;

/// Default bound on an IDENTIFY body (nsqd's default `--max-body-size`).
pub const DEFAULT_MAX_IDENTIFY_BODY: usize = 5 * 1024 * 1024;

/// A command line longer than [`MAX_LINE`] with no newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

/// The topic and optional channel of REGISTER / UNREGISTER, validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicChannel<'a> {
    /// The topic.
    pub topic: &'a str,
    /// The channel, if one was given (an empty one counts as none, as in NSQ).
    pub channel: Option<&'a str>,
}

/// One command line, decoded. Parameter errors are carried inside the
/// command because NSQ checks the connection state (IDENTIFY first) before
/// the parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupCommand<'a> {
    /// `IDENTIFY\n`: its body follows ([`decode_identify_body`]).
    Identify,
    /// `REGISTER <topic> [<channel>]`.
    Register(Result<TopicChannel<'a>, ClientError>),
    /// `UNREGISTER <topic> [<channel>]`.
    Unregister(Result<TopicChannel<'a>, ClientError>),
    /// `PING`.
    Ping,
    /// Anything else: `E_INVALID invalid command <x>`.
    Invalid(ClientError),
}

/// Go's `strings.TrimSpace` for ASCII whitespace.
fn trim_space(mut s: &[u8]) -> &[u8] {
    const WS: &[u8] = b" \t\n\x0b\x0c\r";
    while let [first, rest @ ..] = s {
        if !WS.contains(first) {
            break;
        }
        s = rest;
    }
    while let [rest @ .., last] = s {
        if !WS.contains(last) {
            break;
        }
        s = rest;
    }
    s
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Decode one command line from the front of `buf`: the
/// line is trimmed and split on single spaces, as NSQ does.
pub fn decode_command(buf: &[u8]) -> Result<Decoded<LookupCommand<'_>>, LineTooLong> {
    let Some(eol) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE {
            Err(LineTooLong)
        } else {
            Ok(Decoded::Incomplete)
        };
    };
    if eol > MAX_LINE {
        return Err(LineTooLong);
    }
    let consumed = eol + 1;
    let line = trim_space(buf.get(..eol).unwrap_or_default());
    let mut params = line.split(|&b| b == b' ');
    let name = params.next().unwrap_or_default();
    let value = match name {
        b"IDENTIFY" => LookupCommand::Identify,
        b"PING" => LookupCommand::Ping,
        b"REGISTER" => LookupCommand::Register(topic_channel("REGISTER", params)),
        b"UNREGISTER" => LookupCommand::Unregister(topic_channel("UNREGISTER", params)),
        other => LookupCommand::Invalid(ClientError::invalid(format!(
            "invalid command {}",
            lossy(other)
        ))),
    };
    Ok(Decoded::Complete { value, consumed })
}

/// NSQ's `getTopicChan`: at least one parameter, valid names.
fn topic_channel<'a>(
    command: &str,
    mut params: impl Iterator<Item = &'a [u8]>,
) -> Result<TopicChannel<'a>, ClientError> {
    let Some(topic) = params.next() else {
        return Err(ClientError::invalid(format!(
            "{command} insufficient number of params"
        )));
    };
    let channel = params.next().unwrap_or_default();
    if !is_valid_topic_name(topic) {
        return Err(ClientError::new(
            ErrorCode::BadTopic,
            format!("{command} topic name '{}' is not valid", lossy(topic)),
        ));
    }
    if !channel.is_empty() && !is_valid_channel_name(channel) {
        return Err(ClientError::new(
            ErrorCode::BadChannel,
            format!("{command} channel name '{}' is not valid", lossy(channel)),
        ));
    }
    // Valid names are ASCII.
    let as_str = |b: &'a [u8]| std::str::from_utf8(b).unwrap_or_default();
    Ok(TopicChannel {
        topic: as_str(topic),
        channel: (!channel.is_empty()).then(|| as_str(channel)),
    })
}

/// The JSON body of IDENTIFY: nsqd's identity. Unknown keys are ignored,
/// keys match case-insensitively and types are strict, as with Go's decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct IdentifyRequest {
    /// Address clients should connect to.
    pub broadcast_address: String,
    /// nsqd's TCP port (as broadcast).
    pub tcp_port: i64,
    /// nsqd's HTTP port (as broadcast).
    pub http_port: i64,
    /// nsqd's version.
    pub version: String,
    /// nsqd's OS hostname.
    pub hostname: String,
    /// Topology zone (master-only experiment; kept when sent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_zone: String,
    /// Topology region (master-only experiment; kept when sent).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_region: String,
}

impl IdentifyRequest {
    /// Decode and validate the body: `E_BAD_BODY IDENTIFY failed to decode
    /// JSON body` or `E_BAD_BODY IDENTIFY missing fields`.
    pub fn from_json(body: &[u8]) -> Result<IdentifyRequest, ClientError> {
        let err = || ClientError::new(ErrorCode::BadBody, "IDENTIFY failed to decode JSON body");
        let req = match serde_json::from_slice::<serde_json::Value>(body).map_err(|_| err())? {
            serde_json::Value::Null => IdentifyRequest::default(),
            serde_json::Value::Object(map) => {
                let map: serde_json::Map<String, serde_json::Value> = map
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                serde_json::from_value(serde_json::Value::Object(map)).map_err(|_| err())?
            }
            _ => return Err(err()),
        };
        if req.broadcast_address.is_empty()
            || req.tcp_port == 0
            || req.http_port == 0
            || req.version.is_empty()
        {
            return Err(ClientError::new(
                ErrorCode::BadBody,
                "IDENTIFY missing fields",
            ));
        }
        Ok(req)
    }
}

/// nsqlookupd's reply to IDENTIFY (Go marshals a map: keys sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct IdentifyResponse {
    /// lookupd's `--broadcast-address`.
    pub broadcast_address: String,
    /// lookupd's OS hostname.
    pub hostname: String,
    /// lookupd's HTTP port.
    pub http_port: u16,
    /// lookupd's TCP port.
    pub tcp_port: u16,
    /// `1.3.0`.
    pub version: String,
}

/// Decode the IDENTIFY body (`[4-byte BE size][JSON]`) from the front of
/// `buf`. A negative size or one above `max_body` is an error right away
/// (NSQ reads whatever size is sent); the JSON is then checked as
/// [`IdentifyRequest::from_json`] does.
pub fn decode_identify_body(
    buf: &[u8],
    max_body: usize,
) -> Decoded<Result<IdentifyRequest, ClientError>> {
    let Some(size) = buf.first_chunk::<4>().map(|b| i32::from_be_bytes(*b)) else {
        return Decoded::Incomplete;
    };
    let Ok(size) = usize::try_from(size) else {
        return Decoded::Complete {
            value: Err(identify_read_error(false)),
            consumed: 4,
        };
    };
    if size > max_body {
        return Decoded::Complete {
            value: Err(identify_read_error(true)),
            consumed: 4,
        };
    }
    match buf.get(4..4 + size) {
        Some(body) => Decoded::Complete {
            value: IdentifyRequest::from_json(body),
            consumed: 4 + size,
        },
        None => Decoded::Incomplete,
    }
}

/// The error for an IDENTIFY body cut short: `E_BAD_BODY IDENTIFY failed to
/// read body size` before the size is in, `... failed to read body` after.
pub fn identify_read_error(size_read: bool) -> ClientError {
    let what = if size_read {
        "IDENTIFY failed to read body"
    } else {
        "IDENTIFY failed to read body size"
    };
    ClientError::new(ErrorCode::BadBody, what)
}

/// A request nsqd sends to nsqlookupd (after [`MAGIC_V1`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupRequest<'a> {
    /// `IDENTIFY\n[size][JSON]`.
    Identify(&'a IdentifyRequest),
    /// `REGISTER <topic> [<channel>]\n`.
    Register {
        /// Topic.
        topic: &'a str,
        /// Channel.
        channel: Option<&'a str>,
    },
    /// `UNREGISTER <topic> [<channel>]\n`.
    Unregister {
        /// Topic.
        topic: &'a str,
        /// Channel.
        channel: Option<&'a str>,
    },
    /// `PING\n`.
    Ping,
}

impl LookupRequest<'_> {
    /// Append the wire bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let line = |out: &mut Vec<u8>, cmd: &str, topic: &str, channel: Option<&str>| {
            out.extend_from_slice(cmd.as_bytes());
            out.push(b' ');
            out.extend_from_slice(topic.as_bytes());
            if let Some(c) = channel {
                out.push(b' ');
                out.extend_from_slice(c.as_bytes());
            }
            out.push(b'\n');
        };
        match self {
            LookupRequest::Identify(req) => {
                out.extend_from_slice(b"IDENTIFY\n");
                let body = serde_json::to_vec(req).unwrap_or_default();
                out.extend_from_slice(&(body.len() as u32).to_be_bytes());
                out.extend_from_slice(&body);
            }
            LookupRequest::Register { topic, channel } => line(out, "REGISTER", topic, *channel),
            LookupRequest::Unregister { topic, channel } => {
                line(out, "UNREGISTER", topic, *channel)
            }
            LookupRequest::Ping => out.extend_from_slice(b"PING\n"),
        }
    }
}

/// Append a response: `[4-byte BE size][data]`.
pub fn encode_response(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(data);
}

/// A response larger than the reader's limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResponseTooLarge {
    /// The size field.
    pub size: u32,
}

/// Decode a response from the front of `buf`: its data, bounded by `max`
/// (nsqd bounds it by `--max-body-size`).
pub fn decode_response(buf: &[u8], max: usize) -> Result<Decoded<&[u8]>, ResponseTooLarge> {
    let Some(size) = buf.first_chunk::<4>().map(|b| u32::from_be_bytes(*b)) else {
        return Ok(Decoded::Incomplete);
    };
    if size as usize > max {
        return Err(ResponseTooLarge { size });
    }
    Ok(match buf.get(4..4 + size as usize) {
        Some(data) => Decoded::Complete {
            value: data,
            consumed: 4 + size as usize,
        },
        None => Decoded::Incomplete,
    })
}

/// A response's data, as nsqd interprets it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupReply {
    /// `OK`.
    Ok,
    /// An IDENTIFY reply.
    Identify(IdentifyResponse),
    /// An error: `<CODE> <text>` (the connection is closed after it).
    Error(String),
    /// Anything else.
    Other(Vec<u8>),
}

impl LookupReply {
    /// Classify response data.
    pub fn parse(data: &[u8]) -> LookupReply {
        if data == b"OK" {
            LookupReply::Ok
        } else if data.starts_with(b"E_") {
            LookupReply::Error(lossy(data))
        } else if let Ok(r) = serde_json::from_slice::<IdentifyResponse>(data) {
            LookupReply::Identify(r)
        } else {
            LookupReply::Other(data.to_vec())
        }
    }
}

#[cfg(test)]
mod tests;
