//! Client-to-server commands (docs/protocol.md#commands): the decoder the
//! broker runs on its read buffer, and the encoders clients use.
//!
//! ```text
//! NAME[ SP param]* LF                      (a trailing CR before LF is stripped)
//! IDENTIFY LF [4-byte size][JSON]
//! AUTH LF     [4-byte size][secret]
//! PUB <topic> LF [4-byte size][body]
//! DPUB <topic> <defer_ms> LF [4-byte size][body]
//! MPUB <topic> LF [4-byte body size][4-byte count]([4-byte size][body])*
//! ```
//!
//! [`decode_command`] returns [`Decoded::Incomplete`] until a whole command
//! (line and body) is buffered, and never panics. Each command carries the
//! result of its own parameter checks as a `Result`, because NSQ checks the
//! connection state *before* the parameters: the broker checks state first,
//! then reports the embedded error. Parameter and body errors that NSQ finds
//! before reading the body are returned as soon as the line (and size field)
//! are in, with `consumed` covering only what was read: they are all fatal.

use crate::error::{ClientError, ErrorCode};
use crate::message::{MessageId, MESSAGE_ID_LEN};
use crate::names::is_valid_name;
use crate::quote::go_quote;
use crate::Decoded;

/// Longest command line the server accepts (NSQ's 16 KiB read buffer). A
/// longer line is a [`LineTooLong`] error: the connection is closed without
/// an error frame, as NSQ does.
pub const MAX_LINE_LEN: usize = 16 * 1024;

/// The line is longer than [`MAX_LINE_LEN`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

impl std::fmt::Display for LineTooLong {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command line longer than {MAX_LINE_LEN} bytes")
    }
}

impl std::error::Error for LineTooLong {}

/// Server limits the decoder checks (nsqd's flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `--max-msg-size`: largest single message body.
    pub max_msg_size: u64,
    /// `--max-body-size`: largest IDENTIFY/AUTH/MPUB body.
    pub max_body_size: u64,
    /// `--max-rdy-count`.
    pub max_rdy_count: u64,
    /// `--max-defer-timeout` (falls back to `--max-req-timeout`) in ms.
    pub max_defer_timeout_ms: u64,
}

impl Default for Limits {
    /// NSQ's defaults.
    fn default() -> Self {
        Limits {
            max_msg_size: 1_048_576,
            max_body_size: 5_242_880,
            max_rdy_count: 2500,
            max_defer_timeout_ms: 3_600_000,
        }
    }
}

/// SUB's parameters (not yet validated against state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sub<'a> {
    /// Topic name (valid).
    pub topic: &'a str,
    /// Channel name (valid).
    pub channel: &'a str,
}

/// A publish of one message (PUB, or DPUB with `defer_ms`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Publish<'a> {
    /// Topic name (valid).
    pub topic: &'a str,
    /// Delay in ms (0 for PUB).
    pub defer_ms: u64,
    /// The body (1..=max-msg-size bytes).
    pub body: &'a [u8],
}

/// An MPUB: the topic and its validated bodies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MultiPublish<'a> {
    /// Topic name (valid).
    pub topic: &'a str,
    /// The bodies, already validated.
    pub bodies: MpubBodies<'a>,
}

/// The validated message region of an MPUB body; iterating yields each body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MpubBodies<'a> {
    count: u32,
    data: &'a [u8],
}

impl<'a> MpubBodies<'a> {
    /// Number of messages.
    pub fn len(&self) -> usize {
        self.count as usize
    }

    /// Always false: an MPUB carries at least one message.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Iterate over the bodies.
    pub fn iter(&self) -> MpubIter<'a> {
        MpubIter { rest: self.data }
    }
}

impl<'a> IntoIterator for MpubBodies<'a> {
    type Item = &'a [u8];
    type IntoIter = MpubIter<'a>;
    fn into_iter(self) -> MpubIter<'a> {
        self.iter()
    }
}

/// Iterator over validated MPUB bodies.
#[derive(Debug, Clone)]
pub struct MpubIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for MpubIter<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        let len = read_u32(self.rest)? as usize;
        let body = self.rest.get(4..4 + len)?;
        self.rest = self.rest.get(4 + len..)?;
        Some(body)
    }
}

/// REQ's parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requeue<'a> {
    /// The 16 raw ID bytes as sent.
    pub id: &'a [u8],
    /// Requested delay in ms (not yet clamped).
    pub timeout_ms: u64,
}

/// A decoded command. The `Result`s hold parameter errors that the broker
/// reports after its state checks (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command<'a> {
    /// `IDENTIFY` with its JSON body.
    Identify(Result<&'a [u8], ClientError>),
    /// `AUTH` with its secret.
    Auth(Result<&'a [u8], ClientError>),
    /// `SUB <topic> <channel>`.
    Sub(Result<Sub<'a>, ClientError>),
    /// `RDY [count]` (range-checked against `max_rdy_count`).
    Rdy(Result<u64, ClientError>),
    /// `FIN <id>`: the 16 raw ID bytes.
    Fin(Result<&'a [u8], ClientError>),
    /// `REQ <id> <timeout_ms>`.
    Req(Result<Requeue<'a>, ClientError>),
    /// `TOUCH <id>`: the 16 raw ID bytes.
    Touch(Result<&'a [u8], ClientError>),
    /// `CLS`.
    Cls,
    /// `NOP`.
    Nop,
    /// `PUB <topic>` with body.
    Pub(Result<Publish<'a>, ClientError>),
    /// `MPUB <topic>` with bodies.
    Mpub(Result<MultiPublish<'a>, ClientError>),
    /// `DPUB <topic> <defer_ms>` with body.
    Dpub(Result<Publish<'a>, ClientError>),
    /// Any other command name: `E_INVALID invalid command <name>` (fatal).
    Unknown(ClientError),
}

impl Command<'_> {
    /// The command's name as NSQ spells it (for logs and error texts).
    pub fn name(&self) -> &'static str {
        match self {
            Command::Identify(_) => "IDENTIFY",
            Command::Auth(_) => "AUTH",
            Command::Sub(_) => "SUB",
            Command::Rdy(_) => "RDY",
            Command::Fin(_) => "FIN",
            Command::Req(_) => "REQ",
            Command::Touch(_) => "TOUCH",
            Command::Cls => "CLS",
            Command::Nop => "NOP",
            Command::Pub(_) => "PUB",
            Command::Mpub(_) => "MPUB",
            Command::Dpub(_) => "DPUB",
            Command::Unknown(_) => "",
        }
    }
}

/// The space-separated parts of a command line (name first). NSQ splits on
/// single spaces, so two spaces make an empty parameter.
#[derive(Debug, Clone, Copy)]
struct Params<'a> {
    line: &'a [u8],
}

impl<'a> Params<'a> {
    fn get(&self, i: usize) -> Option<&'a [u8]> {
        self.line.split(|&b| b == b' ').nth(i)
    }
    fn count(&self) -> usize {
        self.line.split(|&b| b == b' ').count()
    }
}

/// Whether a (signed, as NSQ reads it) size is above an unsigned limit.
fn exceeds(size: i32, limit: u64) -> bool {
    i64::from(size) > i64::try_from(limit).unwrap_or(i64::MAX)
}

fn read_u32(buf: &[u8]) -> Option<u32> {
    let b = buf.get(0..4)?;
    Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// NSQ's `ByteToBase10`: decimal digits only, empty parses as 0. Wraps on
/// overflow as NSQ does; returns `None` on any non-digit.
fn parse_base10(raw: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    for &b in raw {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
    }
    Some(n)
}

fn lossy(raw: &[u8]) -> std::borrow::Cow<'_, str> {
    String::from_utf8_lossy(raw)
}

/// A valid name as `&str`, or the command's `E_BAD_<what>` error.
fn name_param<'a>(
    raw: &'a [u8],
    cmd: &str,
    what: &str,
    code: ErrorCode,
) -> Result<&'a str, ClientError> {
    if is_valid_name(raw) {
        // Valid names are ASCII, so this cannot fail.
        std::str::from_utf8(raw).map_err(|_| {
            ClientError::new(
                code,
                format!("{cmd} {what} name {} is not valid", go_quote(raw)),
            )
        })
    } else {
        Err(ClientError::new(
            code,
            format!("{cmd} {what} name {} is not valid", go_quote(raw)),
        ))
    }
}

fn decoded<T>(value: T, consumed: usize) -> Result<Decoded<T>, LineTooLong> {
    Ok(Decoded::Complete { value, consumed })
}

/// Outcome of reading a `[4-byte size][body]` block after the line.
enum Body<'a> {
    Incomplete,
    /// The size was refused: the error and the bytes consumed so far.
    Refused(ClientError, usize),
    /// The body and the total consumed (line + size + body).
    Ready(&'a [u8], usize),
}

/// Read a size-prefixed body starting at `at`. `check` maps the signed size
/// to an error when NSQ refuses it.
fn sized_body<'a>(
    buf: &'a [u8],
    at: usize,
    check: impl FnOnce(i32) -> Option<ClientError>,
) -> Body<'a> {
    let Some(size) = buf.get(at..).and_then(read_u32) else {
        return Body::Incomplete;
    };
    let size = size as i32;
    if let Some(err) = check(size) {
        return Body::Refused(err, at + 4);
    }
    let end = at + 4 + size as usize;
    match buf.get(at + 4..end) {
        Some(body) => Body::Ready(body, end),
        None => Body::Incomplete,
    }
}

/// Decode one command from the front of `buf`.
///
/// `Ok(Decoded::Incomplete)` means more bytes are needed; `Err(LineTooLong)`
/// means the connection must be closed without a reply.
pub fn decode_command<'a>(
    buf: &'a [u8],
    limits: &Limits,
) -> Result<Decoded<Command<'a>>, LineTooLong> {
    let Some(nl) = buf.iter().take(MAX_LINE_LEN + 1).position(|&b| b == b'\n') else {
        return if buf.len() > MAX_LINE_LEN {
            Err(LineTooLong)
        } else {
            Ok(Decoded::Incomplete)
        };
    };
    let mut line = &buf[..nl];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let after = nl + 1;
    let params = Params { line };
    let name = params.get(0).unwrap_or_default();
    match name {
        b"IDENTIFY" => {
            Ok(identify_or_auth(buf, after, limits, "IDENTIFY", None).map(Command::Identify))
        }
        b"AUTH" => {
            let arity = (params.count() != 1)
                .then(|| ClientError::invalid("AUTH invalid number of parameters"));
            Ok(identify_or_auth(buf, after, limits, "AUTH", arity).map(Command::Auth))
        }
        b"SUB" => decoded(Command::Sub(parse_sub(params)), after),
        b"RDY" => decoded(Command::Rdy(parse_rdy(params, limits)), after),
        b"FIN" => decoded(Command::Fin(parse_id(params, "FIN")), after),
        b"TOUCH" => decoded(Command::Touch(parse_id(params, "TOUCH")), after),
        b"REQ" => decoded(Command::Req(parse_req(params)), after),
        b"CLS" => decoded(Command::Cls, after),
        b"NOP" => decoded(Command::Nop, after),
        b"PUB" => Ok(publish(buf, after, params, limits, "PUB").map(Command::Pub)),
        b"DPUB" => Ok(publish(buf, after, params, limits, "DPUB").map(Command::Dpub)),
        b"MPUB" => Ok(multi_publish(buf, after, params, limits).map(Command::Mpub)),
        other => decoded(
            Command::Unknown(ClientError::invalid(format!(
                "invalid command {}",
                lossy(other)
            ))),
            after,
        ),
    }
}

/// What nsqd answers when the client's stream ends (EOF, such as a
/// half-close of its write side) while `buf` holds the start of a command
/// that [`decode_command`] found incomplete.
///
/// NSQ reads a command's body straight from the socket, so a body cut
/// short fails the read that came up short, and that read's error is
/// answered (fatal) before the connection closes: `E_BAD_MESSAGE PUB failed
/// to read message body`, `E_BAD_BODY IDENTIFY failed to read body size`,
/// and so on. `None` when NSQ closes without an answer: the command line
/// itself is unfinished, or the command has no body.
pub fn decode_at_eof(buf: &[u8], limits: &Limits) -> Option<ClientError> {
    let nl = buf.iter().position(|&b| b == b'\n')?;
    let after = nl + 1;
    let mut line = &buf[..nl];
    if let Some(stripped) = line.strip_suffix(b"\r") {
        line = stripped;
    }
    let name = Params { line }.get(0).unwrap_or_default();
    let rest = buf.get(after..).unwrap_or_default();
    let has_size = rest.len() >= 4;
    let bad_body = |t: String| Some(ClientError::new(ErrorCode::BadBody, t));
    let bad_msg = |t: String| Some(ClientError::new(ErrorCode::BadMessage, t));
    match name {
        b"IDENTIFY" | b"AUTH" => {
            let cmd = lossy(name);
            if has_size {
                bad_body(format!("{cmd} failed to read body"))
            } else {
                bad_body(format!("{cmd} failed to read body size"))
            }
        }
        b"PUB" | b"DPUB" => {
            let cmd = lossy(name);
            if has_size {
                bad_msg(format!("{cmd} failed to read message body"))
            } else {
                bad_msg(format!("{cmd} failed to read message body size"))
            }
        }
        b"MPUB" if !has_size => bad_body("MPUB failed to read body size".into()),
        // The messages are read one by one: the first read that comes up
        // short is the one answered.
        b"MPUB" => match validate_mpub_body(&rest[4..], limits) {
            Err(e) => Some(e),
            Ok(_) => bad_msg("MPUB failed to read message body".into()),
        },
        _ => None,
    }
}

impl<T> Decoded<T> {
    /// Map the decoded value.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Decoded<U> {
        match self {
            Decoded::Complete { value, consumed } => Decoded::Complete {
                value: f(value),
                consumed,
            },
            Decoded::Incomplete => Decoded::Incomplete,
        }
    }
}

fn identify_or_auth<'a>(
    buf: &'a [u8],
    after: usize,
    limits: &Limits,
    cmd: &str,
    early: Option<ClientError>,
) -> Decoded<Result<&'a [u8], ClientError>> {
    if let Some(err) = early {
        return Decoded::Complete {
            value: Err(err),
            consumed: after,
        };
    }
    let max = limits.max_body_size;
    match sized_body(buf, after, |size| {
        if exceeds(size, max) {
            Some(ClientError::new(
                ErrorCode::BadBody,
                format!("{cmd} body too big {size} > {max}"),
            ))
        } else if size <= 0 {
            Some(ClientError::new(
                ErrorCode::BadBody,
                format!("{cmd} invalid body size {size}"),
            ))
        } else {
            None
        }
    }) {
        Body::Incomplete => Decoded::Incomplete,
        Body::Refused(err, consumed) => Decoded::Complete {
            value: Err(err),
            consumed,
        },
        Body::Ready(body, consumed) => Decoded::Complete {
            value: Ok(body),
            consumed,
        },
    }
}

fn parse_sub(params: Params<'_>) -> Result<Sub<'_>, ClientError> {
    let (Some(topic), Some(channel)) = (params.get(1), params.get(2)) else {
        return Err(ClientError::invalid(
            "SUB insufficient number of parameters",
        ));
    };
    let topic = name_param(topic, "SUB", "topic", ErrorCode::BadTopic)?;
    let channel = name_param(channel, "SUB", "channel", ErrorCode::BadChannel)?;
    Ok(Sub { topic, channel })
}

fn parse_rdy(params: Params<'_>, limits: &Limits) -> Result<u64, ClientError> {
    let Some(raw) = params.get(1) else {
        return Ok(1);
    };
    let count = parse_base10(raw)
        .ok_or_else(|| ClientError::invalid(format!("RDY could not parse count {}", lossy(raw))))?;
    if count > limits.max_rdy_count {
        return Err(ClientError::invalid(format!(
            "RDY count {count} out of range 0-{}",
            limits.max_rdy_count
        )));
    }
    Ok(count)
}

fn message_id_param(raw: &[u8]) -> Result<&[u8], ClientError> {
    if raw.len() == MESSAGE_ID_LEN {
        Ok(raw)
    } else {
        Err(ClientError::invalid("invalid message ID"))
    }
}

fn parse_id<'a>(params: Params<'a>, cmd: &str) -> Result<&'a [u8], ClientError> {
    let raw = params
        .get(1)
        .ok_or_else(|| ClientError::invalid(format!("{cmd} insufficient number of params")))?;
    message_id_param(raw)
}

fn parse_req(params: Params<'_>) -> Result<Requeue<'_>, ClientError> {
    let (Some(id), Some(timeout)) = (params.get(1), params.get(2)) else {
        return Err(ClientError::invalid("REQ insufficient number of params"));
    };
    let id = message_id_param(id)?;
    let timeout_ms = parse_base10(timeout).ok_or_else(|| {
        ClientError::invalid(format!("REQ could not parse timeout {}", lossy(timeout)))
    })?;
    Ok(Requeue { id, timeout_ms })
}

/// `E_BAD_MESSAGE` checks on one message body size.
fn message_size_error(cmd: &str, size: i32, limits: &Limits) -> Option<ClientError> {
    if size <= 0 {
        Some(ClientError::new(
            ErrorCode::BadMessage,
            format!("{cmd} invalid message body size {size}"),
        ))
    } else if exceeds(size, limits.max_msg_size) {
        Some(ClientError::new(
            ErrorCode::BadMessage,
            format!("{cmd} message too big {size} > {}", limits.max_msg_size),
        ))
    } else {
        None
    }
}

fn publish<'a>(
    buf: &'a [u8],
    after: usize,
    params: Params<'a>,
    limits: &Limits,
    cmd: &'static str,
) -> Decoded<Result<Publish<'a>, ClientError>> {
    let fail = |err| Decoded::Complete {
        value: Err(err),
        consumed: after,
    };
    let min_params = if cmd == "DPUB" { 3 } else { 2 };
    if params.count() < min_params {
        return fail(ClientError::invalid(format!(
            "{cmd} insufficient number of parameters"
        )));
    }
    let topic = match name_param(
        params.get(1).unwrap_or_default(),
        cmd,
        "topic",
        ErrorCode::BadTopic,
    ) {
        Ok(t) => t,
        Err(e) => return fail(e),
    };
    let mut defer_ms = 0;
    if cmd == "DPUB" {
        let raw = params.get(2).unwrap_or_default();
        defer_ms = match parse_base10(raw) {
            Some(v) => v,
            None => {
                return fail(ClientError::invalid(format!(
                    "DPUB could not parse timeout {}",
                    lossy(raw)
                )))
            }
        };
        if defer_ms > limits.max_defer_timeout_ms {
            return fail(ClientError::invalid(format!(
                "DPUB timeout {defer_ms} out of range 0-{}",
                limits.max_defer_timeout_ms
            )));
        }
    }
    match sized_body(buf, after, |size| message_size_error(cmd, size, limits)) {
        Body::Incomplete => Decoded::Incomplete,
        Body::Refused(err, consumed) => Decoded::Complete {
            value: Err(err),
            consumed,
        },
        Body::Ready(body, consumed) => Decoded::Complete {
            value: Ok(Publish {
                topic,
                defer_ms,
                body,
            }),
            consumed,
        },
    }
}

fn multi_publish<'a>(
    buf: &'a [u8],
    after: usize,
    params: Params<'a>,
    limits: &Limits,
) -> Decoded<Result<MultiPublish<'a>, ClientError>> {
    let fail = |err, consumed| Decoded::Complete {
        value: Err(err),
        consumed,
    };
    if params.count() < 2 {
        return fail(
            ClientError::invalid("MPUB insufficient number of parameters"),
            after,
        );
    }
    let topic = match name_param(
        params.get(1).unwrap_or_default(),
        "MPUB",
        "topic",
        ErrorCode::BadTopic,
    ) {
        Ok(t) => t,
        Err(e) => return fail(e, after),
    };
    let max_body = limits.max_body_size;
    let (body, consumed) = match sized_body(buf, after, |size| {
        if size <= 0 {
            Some(ClientError::new(
                ErrorCode::BadBody,
                format!("MPUB invalid body size {size}"),
            ))
        } else if exceeds(size, max_body) {
            Some(ClientError::new(
                ErrorCode::BadBody,
                format!("MPUB body too big {size} > {max_body}"),
            ))
        } else {
            None
        }
    }) {
        Body::Incomplete => return Decoded::Incomplete,
        Body::Refused(err, consumed) => return fail(err, consumed),
        Body::Ready(body, consumed) => (body, consumed),
    };
    match validate_mpub_body(body, limits) {
        Ok((count, data)) => Decoded::Complete {
            value: Ok(MultiPublish {
                topic,
                bodies: MpubBodies { count, data },
            }),
            consumed,
        },
        Err(err) => fail(err, consumed),
    }
}

/// Validate an MPUB body (`[4-byte count]([4-byte size][body])*`, without
/// the outer size), as nsqd's HTTP `/mpub?binary=true` receives it.
pub fn decode_mpub_body<'a>(
    body: &'a [u8],
    limits: &Limits,
) -> Result<MpubBodies<'a>, ClientError> {
    validate_mpub_body(body, limits).map(|(count, data)| MpubBodies { count, data })
}

/// Check the count and every inner message of an MPUB body. Stricter than
/// NSQ: the messages must exactly fill the declared body size.
fn validate_mpub_body<'a>(body: &'a [u8], limits: &Limits) -> Result<(u32, &'a [u8]), ClientError> {
    let bad_body = |t: String| ClientError::new(ErrorCode::BadBody, t);
    let bad_msg = |t: String| ClientError::new(ErrorCode::BadMessage, t);
    let count =
        read_u32(body).ok_or_else(|| bad_body("MPUB failed to read message count".into()))? as i32;
    let max_messages =
        i64::try_from(limits.max_body_size.saturating_sub(4) / 5).unwrap_or(i64::MAX);
    if count <= 0 || i64::from(count) > max_messages {
        return Err(bad_body(format!("MPUB invalid message count {count}")));
    }
    let data = &body[4..];
    let mut rest = data;
    for i in 0..count {
        let size = read_u32(rest)
            .ok_or_else(|| bad_msg(format!("MPUB failed to read message({i}) body size")))?
            as i32;
        if size <= 0 {
            return Err(bad_msg(format!(
                "MPUB invalid message({i}) body size {size}"
            )));
        }
        if exceeds(size, limits.max_msg_size) {
            return Err(bad_msg(format!(
                "MPUB message too big {size} > {}",
                limits.max_msg_size
            )));
        }
        rest = rest
            .get(4 + size as usize..)
            .ok_or_else(|| bad_msg("MPUB failed to read message body".into()))?;
    }
    if !rest.is_empty() {
        return Err(bad_body(format!(
            "MPUB invalid body size {} (messages take {})",
            body.len(),
            body.len() - rest.len()
        )));
    }
    Ok((count as u32, data))
}

/// A command as a client sends it; [`Request::encode`] writes the wire bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// `IDENTIFY` with a JSON body.
    Identify(&'a [u8]),
    /// `AUTH` with a secret.
    Auth(&'a [u8]),
    /// `SUB topic channel`.
    Sub(&'a str, &'a str),
    /// `RDY n`.
    Rdy(u64),
    /// `FIN id`.
    Fin(MessageId),
    /// `REQ id ms`.
    Req(MessageId, u64),
    /// `TOUCH id`.
    Touch(MessageId),
    /// `CLS`.
    Cls,
    /// `NOP`.
    Nop,
    /// `PUB topic` + body.
    Pub(&'a str, &'a [u8]),
    /// `DPUB topic ms` + body.
    Dpub(&'a str, u64, &'a [u8]),
    /// `MPUB topic` + bodies.
    Mpub(&'a str, &'a [&'a [u8]]),
}

fn put_sized(out: &mut Vec<u8>, body: &[u8]) {
    out.extend_from_slice(&(body.len() as u32).to_be_bytes());
    out.extend_from_slice(body);
}

impl Request<'_> {
    /// Append the command's wire bytes to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        use std::io::Write;
        match self {
            Request::Identify(body) => {
                out.extend_from_slice(b"IDENTIFY\n");
                put_sized(out, body);
            }
            Request::Auth(body) => {
                out.extend_from_slice(b"AUTH\n");
                put_sized(out, body);
            }
            Request::Sub(t, c) => {
                let _ = writeln!(out, "SUB {t} {c}");
            }
            Request::Rdy(n) => {
                let _ = writeln!(out, "RDY {n}");
            }
            Request::Fin(id) => {
                out.extend_from_slice(b"FIN ");
                out.extend_from_slice(&id.to_hex());
                out.push(b'\n');
            }
            Request::Req(id, ms) => {
                out.extend_from_slice(b"REQ ");
                out.extend_from_slice(&id.to_hex());
                let _ = writeln!(out, " {ms}");
            }
            Request::Touch(id) => {
                out.extend_from_slice(b"TOUCH ");
                out.extend_from_slice(&id.to_hex());
                out.push(b'\n');
            }
            Request::Cls => out.extend_from_slice(b"CLS\n"),
            Request::Nop => out.extend_from_slice(b"NOP\n"),
            Request::Pub(t, body) => {
                let _ = writeln!(out, "PUB {t}");
                put_sized(out, body);
            }
            Request::Dpub(t, ms, body) => {
                let _ = writeln!(out, "DPUB {t} {ms}");
                put_sized(out, body);
            }
            Request::Mpub(t, bodies) => {
                let _ = writeln!(out, "MPUB {t}");
                let total: usize = 4 + bodies.iter().map(|b| 4 + b.len()).sum::<usize>();
                out.extend_from_slice(&(total as u32).to_be_bytes());
                out.extend_from_slice(&(bodies.len() as u32).to_be_bytes());
                for b in *bodies {
                    put_sized(out, b);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
