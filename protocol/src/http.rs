//! A small, pure HTTP/1.1 codec for the daemons' HTTP APIs (reference B.1),
//! on top of `httparse`: request heads, `Content-Length` and chunked bodies,
//! query strings, and response encoding. No I/O: the caller owns the buffers
//! and decides the body limit per route after seeing the head.
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
            let v = std::str::from_utf8(h.value)
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok())
                .ok_or(HeadError::BadContentLength)?;
            if length.is_some_and(|l| l != v) {
                return Err(HeadError::BadContentLength);
            }
            length = Some(v);
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if header_has_token(h.value, "chunked") {
                chunked = true;
            } else if !header_has_token(h.value, "identity") {
                return Err(HeadError::UnsupportedTransferEncoding);
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

/// Decode a chunked body from the front of `buf` (which starts right after
/// the head). The limit is enforced as chunk sizes are seen, before the data
/// arrives. Trailers are skipped.
pub fn decode_chunked(buf: &[u8], limit: u64) -> Result<Decoded<Vec<u8>>, BodyError> {
    let mut at = 0usize;
    let mut total: u64 = 0;
    let mut spans: Vec<(usize, usize)> = Vec::new();
    loop {
        let Some(eol) = find_crlf(&buf[at..]) else {
            return if buf.len() - at > 1024 {
                Err(BodyError::Malformed)
            } else {
                Ok(Decoded::Incomplete)
            };
        };
        let line = &buf[at..at + eol];
        let size_part = line
            .split(|&b| b == b';')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        let size = std::str::from_utf8(size_part)
            .ok()
            .filter(|s| !s.is_empty() && s.len() <= 16)
            .and_then(|s| u64::from_str_radix(s, 16).ok())
            .ok_or(BodyError::Malformed)?;
        at += eol + 2;
        if size == 0 {
            // Trailers until an empty line.
            loop {
                let Some(eol) = find_crlf(&buf[at..]) else {
                    return if buf.len() - at > 8192 {
                        Err(BodyError::Malformed)
                    } else {
                        Ok(Decoded::Incomplete)
                    };
                };
                at += eol + 2;
                if eol == 0 {
                    let mut body = Vec::with_capacity(total as usize);
                    for (s, e) in spans {
                        body.extend_from_slice(&buf[s..e]);
                    }
                    return Ok(Decoded::Complete {
                        value: body,
                        consumed: at,
                    });
                }
            }
        }
        total = total.saturating_add(size);
        if total > limit {
            return Err(BodyError::TooLarge);
        }
        let end = at + size as usize;
        if buf.len() < end + 2 {
            return Ok(Decoded::Incomplete);
        }
        if &buf[end..end + 2] != b"\r\n" {
            return Err(BodyError::Malformed);
        }
        spans.push((at, end));
        at = end + 2;
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

    proptest! {
        #[test]
        fn heads_never_panic(data in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = decode_head(&data, 256);
            let _ = decode_chunked(&data, 64);
        }

        #[test]
        fn chunked_roundtrip(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 1..50), 0..10)) {
            let mut wire = Vec::new();
            for c in &chunks {
                wire.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
                wire.extend_from_slice(c);
                wire.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(b"0\r\n\r\n");
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
