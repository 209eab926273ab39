//! The HTTP server: a std listener, one plain thread per connection (at most
//! [`MAX_CONNECTIONS`]; nsqadmin serves a few browsers and scripts, and its
//! handlers block on upstream calls anyway), keep-alive, bodies up to
//! [`MAX_BODY`], gzip when the client asks. Requests are decoded with
//! `nsq_protocol::http`; [`crate::api::handle`] answers them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nsq_protocol::http::{
    decode_head, encode_response, BodyError, ChunkedDecoder, Framing, Response,
};
use nsq_protocol::Decoded;

use crate::app::App;

/// Connections served at once; more are answered 503 and closed.
pub const MAX_CONNECTIONS: usize = 256;

/// Largest request head.
const MAX_HEAD: usize = 1 << 20;

/// Largest request body (action bodies are a few bytes of JSON).
pub const MAX_BODY: u64 = 1 << 20;

/// An idle keep-alive connection is closed after this.
const IDLE: Duration = Duration::from_secs(60);

/// Bodies smaller than this are not compressed.
const GZIP_MIN: usize = 1024;

/// A decoded request.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Path as sent (not decoded), without the query.
    pub path: String,
    /// Query string without `?`.
    pub query: String,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
    /// The peer.
    pub remote: Option<SocketAddr>,
}

impl Request {
    /// The first header named `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Status.
    pub status: u16,
    /// Content type.
    pub content_type: Option<String>,
    /// Add the V1 header.
    pub nsq_v1: bool,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

impl Answer {
    /// A V1 JSON error `{"message": …}`.
    pub fn error(status: u16, message: &str) -> Answer {
        Answer {
            status,
            content_type: Some("application/json; charset=utf-8".into()),
            nsq_v1: true,
            headers: Vec::new(),
            body: serde_json::to_vec(&serde_json::json!({ "message": message }))
                .unwrap_or_default(),
        }
    }

    /// A V1 JSON success.
    pub fn json<T: serde::Serialize>(value: &T) -> Answer {
        match serde_json::to_vec(value) {
            Ok(body) => Answer {
                status: 200,
                content_type: Some("application/json; charset=utf-8".into()),
                nsq_v1: true,
                headers: Vec::new(),
                body,
            },
            Err(_) => Answer::error(500, "INTERNAL_ERROR"),
        }
    }

    /// A plain 200 of a content type.
    pub fn plain(content_type: &str, body: Vec<u8>) -> Answer {
        Answer {
            status: 200,
            content_type: Some(content_type.into()),
            nsq_v1: false,
            headers: Vec::new(),
            body,
        }
    }
}

/// Accept connections forever.
pub fn serve(listener: TcpListener, app: Arc<App>) {
    let active = Arc::new(AtomicUsize::new(0));
    for stream in listener.incoming() {
        let Ok(stream) = stream else {
            std::thread::sleep(Duration::from_millis(10));
            continue;
        };
        if active.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
            let mut s = stream;
            let mut out = Vec::new();
            encode_answer(
                &mut out,
                1,
                false,
                &Answer::error(503, "TOO_MANY_CONNECTIONS"),
                false,
            );
            let _ = s.write_all(&out);
            continue;
        }
        active.fetch_add(1, Ordering::Relaxed);
        let (app, active2) = (app.clone(), active.clone());
        let spawned = std::thread::Builder::new()
            .name("http".into())
            // Virtual size only; gzip and JSON of large answers need more
            // than a minimal stack.
            .stack_size(2 << 20)
            .spawn(move || {
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    connection(stream, &app)
                }));
                active2.fetch_sub(1, Ordering::Relaxed);
            });
        if spawned.is_err() {
            active.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Serve one connection until it closes.
fn connection(mut stream: TcpStream, app: &App) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE));
    let remote = stream.peer_addr().ok();
    let mut input: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    let mut fill = |stream: &mut TcpStream, input: &mut Vec<u8>| -> bool {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                input.extend_from_slice(&chunk[..n]);
                true
            }
        }
    };
    loop {
        let (mut req, minor, keep_alive, framing, expect) = loop {
            match decode_head(&input, MAX_HEAD) {
                Ok(Decoded::Complete { value, consumed }) => {
                    let headers = parse_headers(&input[..consumed]);
                    let r = (
                        Request {
                            method: value.method.to_string(),
                            path: value.path.to_string(),
                            query: value.query.to_string(),
                            headers,
                            body: Vec::new(),
                            remote,
                        },
                        value.minor_version,
                        value.keep_alive,
                        value.framing,
                        value.expect_continue,
                    );
                    input.drain(..consumed);
                    break r;
                }
                Ok(Decoded::Incomplete) => {
                    if !fill(&mut stream, &mut input) {
                        return;
                    }
                }
                Err(e) => {
                    let mut out = Vec::new();
                    let status = e.status();
                    encode_response(
                        &mut out,
                        1,
                        false,
                        &Response::plain_text(
                            status,
                            nsq_protocol::http::reason(status).as_bytes(),
                        ),
                    );
                    let _ = stream.write_all(&out);
                    return;
                }
            }
        };
        if expect && minor == 1 && framing != Framing::None {
            let _ = stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        let mut chunked = ChunkedDecoder::new(MAX_BODY);
        let refused = loop {
            match framing {
                Framing::None => break None,
                Framing::Length(n) if n > MAX_BODY => {
                    break Some(Answer::error(413, "BODY_TOO_BIG"))
                }
                Framing::Length(n) => {
                    if input.len() as u64 >= n {
                        req.body = input.drain(..n as usize).collect();
                        break None;
                    }
                }
                Framing::Chunked => match chunked.feed(&input) {
                    Ok((used, done)) => {
                        input.drain(..used);
                        if let Some(body) = done {
                            req.body = body;
                            break None;
                        }
                    }
                    Err(BodyError::TooLarge) => break Some(Answer::error(413, "BODY_TOO_BIG")),
                    Err(BodyError::Malformed) => break Some(Answer::error(400, "INVALID_REQUEST")),
                },
            }
            if !fill(&mut stream, &mut input) {
                return;
            }
        };
        let mut out = Vec::new();
        if let Some(answer) = refused {
            encode_answer(&mut out, minor, false, &answer, false);
            let _ = stream.write_all(&out);
            return;
        }
        let answer = crate::api::handle(app, &req);
        crate::log!(
            Debug,
            "{} {} {}{}{}",
            answer.status,
            req.method,
            req.path,
            if req.query.is_empty() { "" } else { "?" },
            req.query
        );
        let gzip = req
            .header("accept-encoding")
            .is_some_and(|v| v.split(',').any(|t| t.trim().starts_with("gzip")));
        encode_answer(&mut out, minor, keep_alive, &answer, gzip);
        if req.method == "HEAD" {
            if let Some(end) = out.windows(4).position(|w| w == b"\r\n\r\n") {
                out.truncate(end + 4);
            }
        }
        if stream.write_all(&out).is_err() || !keep_alive {
            return;
        }
    }
}

/// Every header of a complete head.
fn parse_headers(head: &[u8]) -> Vec<(String, String)> {
    let mut hs = [httparse::EMPTY_HEADER; nsq_protocol::http::MAX_HEADERS];
    let mut req = httparse::Request::new(&mut hs);
    if req.parse(head).is_err() {
        return Vec::new();
    }
    req.headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect()
}

/// Encode an answer, gzipped when allowed and worth it.
pub fn encode_answer(out: &mut Vec<u8>, minor: u8, keep_alive: bool, a: &Answer, gzip: bool) {
    let mut headers: Vec<(&str, &str)> = a
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let compressed;
    let body: &[u8] = if gzip && a.body.len() >= GZIP_MIN {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        compressed = enc.write_all(&a.body).and_then(|_| enc.finish()).ok();
        match &compressed {
            Some(c) => {
                headers.push(("Content-Encoding", "gzip"));
                headers.push(("Vary", "Accept-Encoding"));
                c
            }
            None => &a.body,
        }
    } else {
        &a.body
    };
    encode_response(
        out,
        minor,
        keep_alive,
        &Response {
            status: a.status,
            content_type: a.content_type.as_deref(),
            nsq_v1: a.nsq_v1,
            headers: &headers,
            body,
        },
    );
}
