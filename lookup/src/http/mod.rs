//! nsqlookupd's HTTP API (docs/lookupd.md#http-api; the V1 format of
//! docs/http-api.md#conventions).
//!
//! [`serve`] runs one connection: decode a request head, route it, read
//! (and discard: lookupd reads parameters from the query only) the body,
//! run the handler, answer. Keep-alive and pipelining fall out of the loop:
//! answers to requests already buffered are written together.

pub mod handlers;
pub mod router;

use std::rc::Rc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use nsq_protocol::http::{
    decode_head, encode_response, reason, BodyError, ChunkedDecoder, Framing, Reply, Response,
};
use nsq_protocol::Decoded;

use crate::registry::UnixNanos;
use crate::server::Server;
use router::Routed;

/// Largest request head (Go's default `MaxHeaderBytes`).
const MAX_HEAD: usize = 1 << 20;

/// Largest request body read (and discarded) before answering 413.
const MAX_BODY: u64 = 1 << 20;

/// Unsent answers above which they are written before the next request.
const MAX_UNSENT: usize = 64 * 1024;

/// A connection's socket, buffers and counters.
struct Conn {
    stream: TcpStream,
    input: Vec<u8>,
    out: Vec<u8>,
    chunk: Vec<u8>,
}

impl Conn {
    /// Write the pending answers. False if the socket failed.
    async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let ok = self.stream.write_all(&self.out).await.is_ok();
        self.out.clear();
        ok
    }

    /// Flush, then read more. False at EOF or on error.
    async fn fill(&mut self) -> bool {
        if !self.flush().await {
            return false;
        }
        match self.stream.read(&mut self.chunk).await {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.input
                    .extend_from_slice(self.chunk.get(..n).unwrap_or_default());
                true
            }
        }
    }
}

/// The head fields kept after the input buffer moves on.
struct Head {
    method: String,
    path: String,
    query: String,
    minor_version: u8,
    keep_alive: bool,
    framing: Framing,
    expect_continue: bool,
}

/// Serve one HTTP connection until it closes.
pub async fn serve(server: Rc<Server>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    server
        .http_connections
        .set(server.http_connections.get() + 1);
    let mut conn = Conn {
        stream,
        input: Vec::new(),
        out: Vec::new(),
        chunk: vec![0u8; 8192],
    };
    run(&server, &mut conn).await;
    let _ = conn.stream.close().await;
    server
        .http_connections
        .set(server.http_connections.get().saturating_sub(1));
}

async fn run(server: &Server, conn: &mut Conn) {
    loop {
        let head = loop {
            match decode_head(&conn.input, MAX_HEAD) {
                Ok(Decoded::Complete { value, consumed }) => {
                    let head = Head {
                        method: value.method.to_string(),
                        path: value.path.to_string(),
                        query: value.query.to_string(),
                        minor_version: value.minor_version,
                        keep_alive: value.keep_alive,
                        framing: value.framing,
                        expect_continue: value.expect_continue,
                    };
                    conn.input.drain(..consumed);
                    break head;
                }
                Ok(Decoded::Incomplete) => {
                    if !conn.fill().await {
                        return;
                    }
                }
                Err(e) => {
                    let status = e.status();
                    let text = format!("{status} {}", reason(status));
                    encode_response(
                        &mut conn.out,
                        1,
                        false,
                        &Response::plain_text(status, text.as_bytes()),
                    );
                    conn.flush().await;
                    return;
                }
            }
        };
        if !read_body(conn, &head).await {
            return;
        }
        let start = conn.out.len();
        answer(server, &head, &mut conn.out);
        if head.method == "HEAD" {
            strip_body(&mut conn.out, start);
        }
        if !head.keep_alive {
            conn.flush().await;
            return;
        }
        if conn.out.len() > MAX_UNSENT && !conn.flush().await {
            return;
        }
        glommio::yield_if_needed().await;
    }
}

/// Consume the request body (lookupd never uses it). False if the
/// connection must close (EOF, or a body refused with an answer).
async fn read_body(conn: &mut Conn, head: &Head) -> bool {
    if head.expect_continue && head.minor_version == 1 && head.framing != Framing::None {
        conn.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
    }
    let mut chunked = ChunkedDecoder::new(MAX_BODY);
    let refused = loop {
        match head.framing {
            Framing::None => return true,
            Framing::Length(n) if n > MAX_BODY => break Reply::err(413, "BODY_TOO_BIG"),
            Framing::Length(n) => {
                if conn.input.len() as u64 >= n {
                    conn.input.drain(..n as usize);
                    return true;
                }
            }
            Framing::Chunked => match chunked.feed(&conn.input) {
                Ok((consumed, done)) => {
                    conn.input.drain(..consumed);
                    if done.is_some() {
                        return true;
                    }
                }
                Err(BodyError::TooLarge) => break Reply::err(413, "BODY_TOO_BIG"),
                Err(BodyError::Malformed) => break Reply::err(400, "INVALID_REQUEST"),
            },
        }
        if !conn.fill().await {
            return false;
        }
    };
    refused.encode(&mut conn.out, head.minor_version, false, &[]);
    conn.flush().await;
    false
}

/// Route, run and encode one request's answer.
fn answer(server: &Server, head: &Head, out: &mut Vec<u8>) {
    server.http_requests.set(server.http_requests.get() + 1);
    let (minor, keep_alive) = (head.minor_version, head.keep_alive);
    let routed = router::route(&head.method, &head.path);
    let status = match routed {
        Routed::Endpoint(route) => {
            let reply = handlers::handle(route, &head.query, server, UnixNanos::now());
            reply.encode(out, minor, keep_alive, &[]);
            match reply {
                Reply::Error(status, _) => status,
                _ => 200,
            }
        }
        Routed::NotFound => {
            Reply::err(404, "NOT_FOUND").encode(out, minor, keep_alive, &[]);
            404
        }
        Routed::MethodNotAllowed(allow) => {
            Reply::err(405, "METHOD_NOT_ALLOWED").encode(
                out,
                minor,
                keep_alive,
                &[("Allow", &allow)],
            );
            405
        }
        Routed::Options(allow) => {
            encode_response(
                out,
                minor,
                keep_alive,
                &Response::options(&[("Allow", &allow)]),
            );
            200
        }
        Routed::Redirect(status, path) => {
            let location = if head.query.is_empty() {
                path
            } else {
                format!("{path}?{}", head.query)
            };
            encode_response(
                out,
                minor,
                keep_alive,
                &Response {
                    status,
                    content_type: None,
                    nsq_v1: false,
                    headers: &[("Location", &location)],
                    body: b"",
                },
            );
            status
        }
    };
    crate::log!(
        Debug,
        "{status} {} {}{}{}",
        head.method,
        head.path,
        if head.query.is_empty() { "" } else { "?" },
        head.query
    );
}

/// Answer a HEAD request with the headers only: drop the body of the
/// response that starts at `start` in `out` (its Content-Length stays).
fn strip_body(out: &mut Vec<u8>, start: usize) {
    if let Some(end) = out
        .get(start..)
        .and_then(|r| r.windows(4).position(|w| w == b"\r\n\r\n"))
    {
        out.truncate(start + end + 4);
    }
}
