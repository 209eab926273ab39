//! A small, pure HTTP/1.1 codec for the daemons' HTTP APIs
//! (docs/http-api.md#conventions), on top of `httparse`: request heads,
//! `Content-Length` and chunked bodies, query strings, response encoding, and
//! NSQ's V1 replies ([`Reply`]). No I/O: the caller owns the buffers and
//! decides the body limit per route after seeing the head.
//!
//! ```text
//! POST /pub?topic=t HTTP/1.1\r\n         decode_head → Head { method, path, query, framing, .. }
//! Content-Length: 5\r\n\r\n
//! hello                                   body: framing Length(5) → the next 5 bytes
//! ```

use std::borrow::Cow;
use std::io::Write;

use crate::Decoded;

/// Most headers a request may carry.
pub const MAX_HEADERS: usize = 100;

/// How the request body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    None,
    /// `Content-Length: n`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head, borrowing the buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head<'a> {
    /// Method, e.g. `GET`.
    pub method: &'a str,
    /// Path without the query string (not percent-decoded).
    pub path: &'a str,
    /// Query string without `?` (may be empty).
    pub query: &'a str,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Whether the connection stays open after the response.
    pub keep_alive: bool,
    /// `Expect: 100-continue` was sent.
    pub expect_continue: bool,
    /// Body framing.
    pub framing: Framing,
    /// Bytes of the head, including the blank line.
    pub head_len: usize,
}

/// Why a request head is refused (the connection is closed after the answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeadError {
    /// Head larger than the limit, or too many headers: 431.
    TooLarge,
    /// Not HTTP: 400.
    Malformed,
    /// A transfer coding other than chunked: 501.
    UnsupportedTransferEncoding,
    /// Unparsable or conflicting Content-Length: 400.
    BadContentLength,
}

impl HeadError {
    /// The status code to answer with.
    pub fn status(self) -> u16 {
        match self {
            HeadError::TooLarge => 431,
            HeadError::Malformed | HeadError::BadContentLength => 400,
            HeadError::UnsupportedTransferEncoding => 501,
        }
    }
}

fn header_has_token(value: &[u8], token: &str) -> bool {
    value
        .split(|&b| b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
}

/// Decode a request head from the front of `buf`; `max_head` bounds its size.
pub fn decode_head(buf: &[u8], max_head: usize) -> Result<Decoded<Head<'_>>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return if buf.len() > max_head {
                Err(HeadError::TooLarge)
            } else {
                Ok(Decoded::Incomplete)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(_) => return Err(HeadError::Malformed),
    };
    if head_len > max_head {
        return Err(HeadError::TooLarge);
    }
    let (Some(method), Some(target), Some(minor_version)) = (req.method, req.path, req.version)
    else {
        return Err(HeadError::Malformed);
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut keep_alive = minor_version == 1;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            // Digits only, as Go: no sign, no spaces inside.
            let raw = h.value.trim_ascii();
            if raw.is_empty() || !raw.iter().all(u8::is_ascii_digit) {
                return Err(HeadError::BadContentLength);
            }
            let v = std::str::from_utf8(raw)
                .ok()
                .and_then(|s| s.parse::<u64>().ok())
                .ok_or(HeadError::BadContentLength)?;
            if length.is_some_and(|l| l != v) {
                return Err(HeadError::BadContentLength);
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            // Go: exactly one Transfer-Encoding, exactly "chunked"; HTTP/1.0
            // ignores it.
            if minor_version == 1 {
                if chunked || !h.value.trim_ascii().eq_ignore_ascii_case(b"chunked") {
                    return Err(HeadError::UnsupportedTransferEncoding);
                }
                chunked = true;
            }
        } else if h.name.eq_ignore_ascii_case("connection") {
            if header_has_token(h.value, "close") {
                keep_alive = false;
            } else if header_has_token(h.value, "keep-alive") {
                keep_alive = true;
            }
        } else if h.name.eq_ignore_ascii_case("expect") {
            expect_continue = header_has_token(h.value, "100-continue");
        }
    }
    if chunked && length.is_some() {
        // Ambiguous framing: honour chunked, but never reuse the connection.
        keep_alive = false;
    }
    let framing = if chunked {
        Framing::Chunked
    } else {
        match length {
            Some(0) | None => Framing::None,
            Some(n) => Framing::Length(n),
        }
    };
    Ok(Decoded::Complete {
        value: Head {
            method,
            path,
            query,
            minor_version,
            keep_alive,
            expect_continue,
            framing,
            head_len,
        },
        consumed: head_len,
    })
}

/// Why a chunked body is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyError {
    /// The decoded body would exceed the limit.
    TooLarge,
    /// Bad chunk syntax.
    Malformed,
}

/// Most bytes of trailer lines after the last chunk.
pub const MAX_TRAILERS: usize = 8 * 1024;

/// Longest chunk-size line (size, extensions, CRLF).
const MAX_CHUNK_LINE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk's data, this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
    /// After the last chunk: trailer lines until an empty one.
    Trailers,
}

/// An incremental `Transfer-Encoding: chunked` decoder: feed it the bytes as
/// they arrive; it consumes what it decoded, so every byte is looked at once
/// whatever the chunk sizes. The body limit is enforced as chunk sizes are
/// seen (before their data arrives), trailers by [`MAX_TRAILERS`].
#[derive(Debug, Clone)]
pub struct ChunkedDecoder {
    state: ChunkState,
    limit: u64,
    body: Vec<u8>,
    trailer_bytes: usize,
}

impl ChunkedDecoder {
    /// A decoder for a body of at most `limit` bytes.
    pub fn new(limit: u64) -> ChunkedDecoder {
        ChunkedDecoder {
            state: ChunkState::Size,
            limit,
            body: Vec::new(),
            trailer_bytes: 0,
        }
    }

    /// Decode from the front of `buf`. Returns the bytes consumed (drop them
    /// from the buffer) and, once the last chunk and trailers are in, the body.
    pub fn feed(&mut self, buf: &[u8]) -> Result<(usize, Option<Vec<u8>>), BodyError> {
        let mut at = 0usize;
        loop {
            let rest = buf.get(at..).unwrap_or_default();
            match self.state {
                ChunkState::Size => {
                    let Some(eol) = find_crlf(rest) else {
                        return if rest.len() > MAX_CHUNK_LINE {
                            Err(BodyError::Malformed)
                        } else {
                            Ok((at, None))
                        };
                    };
                    let line = &rest[..eol];
                    let size_part = line.split(|&b| b == b';').next().unwrap_or_default();
                    // Go accepts hex digits only: no sign, no spaces.
                    if size_part.is_empty()
                        || size_part.len() > 16
                        || !size_part.iter().all(u8::is_ascii_hexdigit)
                    {
                        return Err(BodyError::Malformed);
                    }
                    let size = std::str::from_utf8(size_part)
                        .ok()
                        .and_then(|s| u64::from_str_radix(s, 16).ok())
                        .ok_or(BodyError::Malformed)?;
                    at += eol + 2;
                    if size == 0 {
                        self.state = ChunkState::Trailers;
                    } else {
                        if (self.body.len() as u64).saturating_add(size) > self.limit {
                            return Err(BodyError::TooLarge);
                        }
                        self.state = ChunkState::Data(size);
                    }
                }
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok((at, None));
                    }
                    let take = (left as usize).min(rest.len());
                    self.body.extend_from_slice(&rest[..take]);
                    at += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok((at, None));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(BodyError::Malformed);
                    }
                    at += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(eol) = find_crlf(rest) else {
                        return if self.trailer_bytes + rest.len() > MAX_TRAILERS {
                            Err(BodyError::Malformed)
                        } else {
                            Ok((at, None))
                        };
                    };
                    at += eol + 2;
                    self.trailer_bytes += eol + 2;
                    if self.trailer_bytes > MAX_TRAILERS {
                        return Err(BodyError::Malformed);
                    }
                    if eol == 0 {
                        return Ok((at, Some(std::mem::take(&mut self.body))));
                    }
                }
            }
        }
    }
}

/// Decode a whole chunked body from the front of `buf` (a convenience over
/// [`ChunkedDecoder`] for callers that have it all).
pub fn decode_chunked(buf: &[u8], limit: u64) -> Result<Decoded<Vec<u8>>, BodyError> {
    let mut decoder = ChunkedDecoder::new(limit);
    match decoder.feed(buf)? {
        (consumed, Some(body)) => Ok(Decoded::Complete {
            value: body,
            consumed,
        }),
        (_, None) => Ok(Decoded::Incomplete),
    }
}

fn find_crlf(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\r\n")
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decode a query component (`+` is a space), as Go's `url.ParseQuery`.
pub fn percent_decode(raw: &str) -> Cow<'_, str> {
    if !raw.bytes().any(|b| b == b'%' || b == b'+') {
        return Cow::Borrowed(raw);
    }
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => match (hex_val(bytes[i + 1]), hex_val(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            b => out.push(b),
        }
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// Whether Go's `url.ParseQuery` accepts the query: no `;` separators and
/// every `%` followed by two hex digits. NSQ answers 400 `INVALID_REQUEST`
/// otherwise.
pub fn query_is_valid(query: &str) -> bool {
    let b = query.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b';' => return false,
            b'%' => {
                let ok = b.get(i + 1).and_then(|&h| hex_val(h)).is_some()
                    && b.get(i + 2).and_then(|&l| hex_val(l)).is_some();
                if !ok {
                    return false;
                }
                i += 2;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

/// The query's `key=value` pairs, decoded, in order.
pub fn query_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k), percent_decode(v))
    })
}

/// The first value of `key` in the query (NSQ: first value wins).
pub fn query_get<'a>(query: &'a str, key: &str) -> Option<Cow<'a, str>> {
    query_pairs(query).find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The reason phrase for a status code.
pub fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        301 => "Moved Permanently",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Request Entity Too Large",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// A response to encode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response<'a> {
    /// Status code.
    pub status: u16,
    /// `Content-Type`, if any.
    pub content_type: Option<&'a str>,
    /// Add `X-NSQ-Content-Type: nsq; version=1.0` (V1 endpoints).
    pub nsq_v1: bool,
    /// Other headers.
    pub headers: &'a [(&'a str, &'a str)],
    /// Body.
    pub body: &'a [u8],
}

impl<'a> Response<'a> {
    /// A `text/plain; charset=utf-8` answer (errors before a request is
    /// routed).
    pub fn plain_text(status: u16, body: &'a [u8]) -> Response<'a> {
        Response {
            status,
            content_type: Some("text/plain; charset=utf-8"),
            nsq_v1: false,
            headers: &[],
            body,
        }
    }

    /// The 200 answer to `OPTIONS` on a known path: `headers` (its
    /// `Allow`) and no body.
    pub fn options(headers: &'a [(&'a str, &'a str)]) -> Response<'a> {
        Response {
            status: 200,
            content_type: None,
            nsq_v1: false,
            headers,
            body: b"",
        }
    }
}

/// Append the response to `out`, answering in the request's HTTP version;
/// `keep_alive` false adds `Connection: close`.
pub fn encode_response(
    out: &mut Vec<u8>,
    minor_version: u8,
    keep_alive: bool,
    resp: &Response<'_>,
) {
    let _ = write!(
        out,
        "HTTP/1.{} {} {}\r\n",
        minor_version.min(1),
        resp.status,
        reason(resp.status)
    );
    if let Some(ct) = resp.content_type {
        let _ = write!(out, "Content-Type: {ct}\r\n");
    }
    if resp.nsq_v1 {
        out.extend_from_slice(b"X-Nsq-Content-Type: nsq; version=1.0\r\n");
    }
    for (k, v) in resp.headers {
        let _ = write!(out, "{k}: {v}\r\n");
    }
    if !keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if minor_version == 0 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n\r\n", resp.body.len());
    out.extend_from_slice(resp.body);
}

/// A handler's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 with no body.
    Empty,
    /// 200 with a text body (Go sniffs `text/plain; charset=utf-8`).
    Text(Vec<u8>),
    /// 200 with a JSON body.
    Json(Vec<u8>),
    /// 200 with a body of a given content type, no V1 header (`/ping`, `/metrics`).
    Plain(&'static str, Vec<u8>),
    /// An error: status and NSQ's message.
    Error(u16, String),
    /// A plain-text error without the V1 header (nsqd's `/ping` when
    /// unhealthy: 500 `NOK - ...`).
    PlainError(u16, String),
}

impl Reply {
    /// An error reply.
    pub fn err(status: u16, message: impl Into<String>) -> Reply {
        Reply::Error(status, message.into())
    }

    /// Serialize a value as a JSON reply.
    pub fn json<T: serde::Serialize>(value: &T) -> Reply {
        match serde_json::to_vec(value) {
            Ok(body) => Reply::Json(body),
            Err(_) => Reply::err(500, "INTERNAL_ERROR"),
        }
    }

    /// Append a plain answer with an explicit status (head errors); closes.
    pub fn encode_status(&self, out: &mut Vec<u8>, status: u16) {
        if let Reply::Plain(ct, body) = self {
            encode_response(
                out,
                1,
                false,
                &Response {
                    status,
                    content_type: Some(ct),
                    nsq_v1: false,
                    headers: &[],
                    body,
                },
            );
        }
    }

    /// Append the HTTP response.
    pub fn encode(
        &self,
        out: &mut Vec<u8>,
        minor_version: u8,
        keep_alive: bool,
        headers: &[(&str, &str)],
    ) {
        let text = "text/plain; charset=utf-8";
        let json = "application/json; charset=utf-8";
        let error_body;
        let (status, content_type, v1, body): (u16, Option<&str>, bool, &[u8]) = match self {
            Reply::Empty => (200, None, true, b""),
            Reply::Text(b) => (200, Some(text), true, b),
            Reply::Json(b) => (200, Some(json), true, b),
            Reply::Plain(ct, b) => (200, Some(ct), false, b),
            Reply::PlainError(status, message) => (*status, Some(text), false, message.as_bytes()),
            Reply::Error(status, message) => {
                error_body = serde_json::to_vec(&serde_json::json!({ "message": message }))
                    .unwrap_or_default();
                (*status, Some(json), true, &error_body)
            }
        };
        encode_response(
            out,
            minor_version,
            keep_alive,
            &Response {
                status,
                content_type,
                nsq_v1: v1,
                headers,
                body,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(raw: &str) -> Head<'_> {
        match decode_head(raw.as_bytes(), 1 << 20).unwrap() {
            Decoded::Complete { value, .. } => value,
            Decoded::Incomplete => panic!("incomplete"),
        }
    }

    #[test]
    fn parses_a_pub_request() {
        let raw = "POST /pub?topic=t&defer=5 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
        let h = head(raw);
        assert_eq!(
            (h.method, h.path, h.query),
            ("POST", "/pub", "topic=t&defer=5")
        );
        assert_eq!(h.framing, Framing::Length(5));
        assert!(h.keep_alive);
        assert_eq!(h.head_len, raw.len() - 5);
    }

    #[test]
    fn http10_and_connection_headers() {
        assert!(!head("GET /ping HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head("GET /ping HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!head("GET /ping HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let raw = b"POST /pub?topic=t HTTP/1.1\r\nContent-Length: 2\r\n\r\n";
        for n in 0..raw.len() {
            assert_eq!(
                decode_head(&raw[..n], 1 << 20),
                Ok(Decoded::Incomplete),
                "{n}"
            );
        }
        let chunked = b"5\r\nhello\r\n3;x=y\r\nabc\r\n0\r\nTrailer: 1\r\n\r\n";
        for n in 0..chunked.len() {
            assert_eq!(
                decode_chunked(&chunked[..n], 100),
                Ok(Decoded::Incomplete),
                "{n}"
            );
        }
        assert_eq!(
            decode_chunked(chunked, 100),
            Ok(Decoded::Complete {
                value: b"helloabc".to_vec(),
                consumed: chunked.len()
            })
        );
    }

    #[test]
    fn refusals() {
        assert_eq!(
            decode_head(b"GARBAGE\r\n\r\n", 100),
            Err(HeadError::Malformed)
        );
        assert_eq!(decode_head(&[b'a'; 200], 100), Err(HeadError::TooLarge));
        assert_eq!(
            decode_head(b"POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 100),
            Err(HeadError::BadContentLength)
        );
        assert_eq!(
            decode_head(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 100),
            Err(HeadError::UnsupportedTransferEncoding)
        );
        assert_eq!(decode_chunked(b"zz\r\n", 100), Err(BodyError::Malformed));
        assert_eq!(
            decode_chunked(b"+3\r\nabc\r\n0\r\n\r\n", 100),
            Err(BodyError::Malformed)
        );
        assert_eq!(
            decode_chunked(b" 3\r\nabc\r\n0\r\n\r\n", 100),
            Err(BodyError::Malformed)
        );
        assert_eq!(
            decode_head(b"POST / HTTP/1.1\r\nContent-Length: +3\r\n\r\n", 100),
            Err(HeadError::BadContentLength)
        );
        assert_eq!(
            decode_head(
                b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                100
            ),
            Err(HeadError::UnsupportedTransferEncoding)
        );
        let mut trailers = b"0\r\n".to_vec();
        while trailers.len() < MAX_TRAILERS + 100 {
            trailers.extend_from_slice(b"X-a: b\r\n");
        }
        assert_eq!(decode_chunked(&trailers, 100), Err(BodyError::Malformed));
        assert_eq!(decode_chunked(b"65\r\n", 100), Err(BodyError::TooLarge));
    }

    #[test]
    fn queries() {
        assert_eq!(
            query_get("topic=a%20b&topic=c", "topic").as_deref(),
            Some("a b")
        );
        assert_eq!(query_get("x=1+2", "x").as_deref(), Some("1 2"));
        assert_eq!(query_get("binary", "binary").as_deref(), Some(""));
        assert_eq!(query_get("a=1", "b"), None);
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
        assert!(query_is_valid("topic=a%20b&x=1+2"));
        assert!(!query_is_valid("topic=a;b"));
        assert!(!query_is_valid("topic=%zz"));
        assert!(!query_is_valid("topic=%4"));
    }

    #[test]
    fn golden_response() {
        let mut out = Vec::new();
        encode_response(
            &mut out,
            1,
            true,
            &Response {
                status: 404,
                content_type: Some("application/json; charset=utf-8"),
                nsq_v1: true,
                headers: &[],
                body: br#"{"message":"NOT_FOUND"}"#,
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.1 404 Not Found\r\nContent-Type: application/json; charset=utf-8\r\nX-Nsq-Content-Type: nsq; version=1.0\r\nContent-Length: 23\r\n\r\n{\"message\":\"NOT_FOUND\"}"
        );
        let mut out = Vec::new();
        encode_response(
            &mut out,
            0,
            false,
            &Response {
                status: 200,
                content_type: None,
                nsq_v1: false,
                headers: &[],
                body: b"OK",
            },
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HTTP/1.0 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nOK"
        );
    }

    /// `chunks` in HTTP/1.1 chunked encoding, with the last (empty) chunk.
    fn chunked_wire(chunks: &[Vec<u8>]) -> Vec<u8> {
        let mut wire = Vec::new();
        for c in chunks {
            wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
            wire.extend_from_slice(c);
            wire.extend_from_slice(b"\r\n");
        }
        wire.extend_from_slice(b"0\r\n\r\n");
        wire
    }

    proptest! {
        #[test]
        fn heads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_head(&data, 256);
            let _ = decode_chunked(&data, 64);
        }

        #[test]
        fn chunked_fed_byte_by_byte_matches_whole(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..20), 0..6)) {
            let wire = chunked_wire(&chunks);
            let mut d = ChunkedDecoder::new(1 << 20);
            let mut pending: Vec<u8> = Vec::new();
            let mut body = None;
            for &b in &wire {
                pending.push(b);
                let (used, done) = d.feed(&pending).unwrap();
                pending.drain(..used);
                if done.is_some() {
                    body = done;
                }
            }
            prop_assert_eq!(body, Some(chunks.concat()));
        }

        #[test]
        fn chunked_roundtrip(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..50), 0..10)) {
            let wire = chunked_wire(&chunks);
            let want: Vec<u8> = chunks.concat();
            prop_assert_eq!(decode_chunked(&wire, 1 << 20), Ok(Decoded::Complete { value: want, consumed: wire.len() }));
        }

        #[test]
        fn percent_roundtrip(s in "[ -~]{0,40}") {
            let enc: String = s.bytes().map(|b| format!("%{b:02X}")).collect();
            prop_assert_eq!(percent_decode(&enc), s.as_str());
        }
    }
}
