//! nsqd's HTTP API (docs/http-api.md), served by every shard.
//!
//! Connections are accepted and placed like TCP ones. Each runs [`serve`]:
//! decode a request head, pick the route, read the body within the route's
//! limit (`Content-Length` or chunked), run the handler, answer; keep-alive
//! and pipelining fall out of the loop (responses to requests already
//! buffered are written together). Handlers that touch a topic go to its
//! owner shard: publishes through the same [`Publisher`] as TCP, admin
//! operations and `/stats` through the shard inboxes.

pub(crate) mod handlers;
pub(crate) mod reply;
pub(crate) mod router;

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use glommio::net::TcpStream;
use nsq_protocol::http::{
    decode_head, encode_response, BodyError, ChunkedDecoder, Framing, Response,
};
use nsq_protocol::Decoded;

use crate::net::io::{read_into, read_transport, write_all, SharedStream};
use crate::net::transport::Transport;
use crate::publish::Publisher;
use crate::shard::Shard;
use reply::Reply;
use router::{Route, Routed};
use std::io;

/// Largest request head (Go's default `MaxHeaderBytes`).
const MAX_HEAD: usize = 1 << 20;

/// The parts of a request head a handler needs.
#[derive(Debug, Clone)]
pub(crate) struct RequestHead {
    /// Method.
    pub(crate) method: String,
    /// Path.
    pub(crate) path: String,
    /// Raw query string.
    pub(crate) query: String,
    /// HTTP/1.x minor version.
    pub(crate) minor_version: u8,
    /// Keep the connection open.
    pub(crate) keep_alive: bool,
}

/// Per-connection state handlers may use.
pub(crate) struct HttpConn {
    /// The shard.
    pub(crate) shard: Rc<Shard>,
    /// `/pub` and `/mpub`, through the same publish path as TCP.
    pub(crate) publisher: Publisher,
}

fn too_big(route: &Routed) -> Reply {
    match route {
        Routed::Endpoint(Route::Pub) => Reply::err(413, "MSG_TOO_BIG"),
        Routed::Endpoint(Route::ConfigPut(_)) => Reply::err(413, "INVALID_VALUE"),
        _ => Reply::err(413, "BODY_TOO_BIG"),
    }
}

/// The connection's byte stream: plain, or TLS on the HTTPS listener.
struct HttpIo {
    stream: SharedStream,
    tls: Option<RefCell<Option<Box<Transport>>>>,
    wire: Vec<u8>,
}

impl HttpIo {
    /// Read more request bytes into `input` (0 = EOF).
    async fn read(
        &mut self,
        scratch: &RefCell<Vec<u8>>,
        input: &mut BytesMut,
    ) -> io::Result<usize> {
        match &self.tls {
            None => read_into(&self.stream, scratch, input).await,
            Some(t) => read_transport(&self.stream, scratch, t, input).await,
        }
    }
}

async fn flush(io: &mut HttpIo, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = match &io.tls {
        None => write_all(&io.stream, out).await.is_ok(),
        Some(t) => {
            io.wire.clear();
            let encoded = match t.borrow_mut().as_mut() {
                Some(t) => t.encode(out, &mut io.wire).is_ok(),
                None => false,
            };
            encoded && write_all(&io.stream, &io.wire).await.is_ok()
        }
    };
    out.clear();
    ok
}

/// Serve one HTTPS connection: the TLS handshake (bounded by NSQ's 5 s),
/// then the same API as plain HTTP.
pub(crate) async fn serve_tls(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Some(config) = shard.ctx.tls.server.clone() else {
        return;
    };
    let Ok(mut session) = rustls::ServerConnection::new(config) else {
        return;
    };
    let stream: SharedStream = Rc::new(RefCell::new(stream));
    let done = futures_lite::future::or(
        async {
            crate::net::io::tls_handshake(&stream, &shard.scratch, &mut session)
                .await
                .ok()
        },
        async {
            glommio::timer::sleep(std::time::Duration::from_secs(5)).await;
            None
        },
    )
    .await;
    let Some(after_handshake) = done else {
        return;
    };
    let mut transport = Transport::with_tls(session, String::new());
    // A request sent right behind the handshake: decrypted along with it,
    // or read after it.
    let mut input = BytesMut::with_capacity(4096);
    if transport.decode(&after_handshake, &mut input).is_err() {
        return;
    }
    let io = HttpIo {
        stream,
        tls: Some(RefCell::new(Some(Box::new(transport)))),
        wire: Vec::new(),
    };
    serve_io(shard, io, input, false).await;
}

/// Serve one HTTP connection until it closes.
pub(crate) async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let stream: SharedStream = Rc::new(RefCell::new(stream));
    // `--tls-required=true`: plain HTTP answers every request with 403.
    let tls_required = shard.ctx.tls.required == crate::tls::TlsRequired::Yes;
    let io = HttpIo {
        stream,
        tls: None,
        wire: Vec::new(),
    };
    serve_io(shard, io, BytesMut::with_capacity(4096), tls_required).await;
}

/// The request loop; `input` holds request bytes already received.
async fn serve_io(shard: Rc<Shard>, mut io: HttpIo, mut input: BytesMut, tls_required: bool) {
    let mut conn = HttpConn {
        shard: shard.clone(),
        publisher: Publisher::new(shard.clone(), 0),
    };
    let mut out: Vec<u8> = Vec::new();
    loop {
        // The head.
        let parsed = loop {
            match decode_head(&input, MAX_HEAD) {
                Ok(Decoded::Complete { value, .. }) => {
                    break Ok((
                        RequestHead {
                            method: value.method.to_string(),
                            path: value.path.to_string(),
                            query: value.query.to_string(),
                            minor_version: value.minor_version,
                            keep_alive: value.keep_alive,
                        },
                        value.framing,
                        value.expect_continue,
                        value.head_len,
                    ))
                }
                Ok(Decoded::Incomplete) => {
                    if !flush(&mut io, &mut out).await {
                        return;
                    }
                    match io.read(&shard.scratch, &mut input).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                }
                Err(e) => break Err(e),
            }
        };
        let (head, framing, expect_continue, head_len) = match parsed {
            Ok(p) => p,
            Err(e) => {
                let status = e.status();
                let text = format!("{status} {}", nsq_protocol::http::reason(status));
                Reply::Plain("text/plain; charset=utf-8", text.into_bytes())
                    .encode_status(&mut out, status);
                flush(&mut io, &mut out).await;
                return;
            }
        };
        let routed = router::route(&head.method, &head.path);
        let limit = match routed {
            Routed::Endpoint(Route::Pub) | Routed::Endpoint(Route::ConfigPut(_)) => {
                shard.ctx.opts.flags.max_msg_size as u64
            }
            _ => shard.ctx.opts.flags.max_body_size as u64,
        };
        input.advance(head_len);

        // The body.
        if expect_continue
            && head.minor_version == 1
            && matches!(routed, Routed::Endpoint(_))
            && framing != Framing::None
            && !matches!(framing, Framing::Length(n) if n > limit)
        {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            if !flush(&mut io, &mut out).await {
                return;
            }
        }
        let mut chunked = ChunkedDecoder::new(limit);
        let body: Result<Bytes, Reply> = loop {
            match framing {
                Framing::None => break Ok(Bytes::new()),
                Framing::Length(n) if n > limit => break Err(too_big(&routed)),
                Framing::Length(n) => {
                    if input.len() as u64 >= n {
                        break Ok(input.split_to(n as usize).freeze());
                    }
                }
                // Incremental: each byte is decoded once however it arrives.
                Framing::Chunked => match chunked.feed(&input) {
                    Ok((consumed, done)) => {
                        input.advance(consumed);
                        if let Some(body) = done {
                            break Ok(Bytes::from(body));
                        }
                    }
                    Err(BodyError::TooLarge) => break Err(too_big(&routed)),
                    Err(BodyError::Malformed) => break Err(Reply::err(400, "INVALID_REQUEST")),
                },
            }
            // Answers to earlier pipelined requests go out before waiting.
            if !flush(&mut io, &mut out).await {
                return;
            }
            match io.read(&shard.scratch, &mut input).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let body = match body {
            Ok(b) => b,
            Err(reply) => {
                // The rest of the body was not read: answer and close.
                reply.encode(&mut out, head.minor_version, false, &[]);
                flush(&mut io, &mut out).await;
                return;
            }
        };

        // The answer.
        let keep_alive = head.keep_alive;
        let answer_start = out.len();
        if tls_required {
            let body = format!(
                "{{\"message\": \"TLS_REQUIRED\", \"https_port\": {}}}",
                shard.ctx.https_port
            );
            encode_response(
                &mut out,
                head.minor_version,
                keep_alive,
                &Response {
                    status: 403,
                    content_type: Some("text/plain; charset=utf-8"),
                    nsq_v1: true,
                    headers: &[],
                    body: body.as_bytes(),
                },
            );
            if !keep_alive || !flush(&mut io, &mut out).await {
                flush(&mut io, &mut out).await;
                return;
            }
            continue;
        }
        match routed {
            Routed::Endpoint(route) => {
                let reply = handlers::handle(&mut conn, route, &head, body).await;
                reply.encode(&mut out, head.minor_version, keep_alive, &[]);
            }
            Routed::NotFound => {
                Reply::err(404, "NOT_FOUND").encode(&mut out, head.minor_version, keep_alive, &[])
            }
            Routed::MethodNotAllowed(allow) => Reply::err(405, "METHOD_NOT_ALLOWED").encode(
                &mut out,
                head.minor_version,
                keep_alive,
                &[("Allow", &allow)],
            ),
            Routed::Options(allow) => encode_response(
                &mut out,
                head.minor_version,
                keep_alive,
                &Response::options(&[("Allow", &allow)]),
            ),
            Routed::Redirect {
                status,
                location: path,
            } => {
                let location = if head.query.is_empty() {
                    path
                } else {
                    format!("{path}?{}", head.query)
                };
                let (content_type, body) = if head.method == "GET" {
                    (
                        Some("text/html; charset=utf-8"),
                        format!(
                            "<a href=\"{}\">{}</a>.\n\n",
                            html_escape(&location),
                            nsq_protocol::http::reason(status)
                        ),
                    )
                } else {
                    (None, String::new())
                };
                encode_response(
                    &mut out,
                    head.minor_version,
                    keep_alive,
                    &Response {
                        status,
                        content_type,
                        nsq_v1: false,
                        headers: &[("Location", &location)],
                        body: body.as_bytes(),
                    },
                );
            }
        }
        if head.method == "HEAD" {
            strip_body(&mut out, answer_start);
        }
        if !keep_alive {
            flush(&mut io, &mut out).await;
            return;
        }
        // Bound what a pipelining client that does not read can pile up.
        if out.len() > MAX_UNSENT && !flush(&mut io, &mut out).await {
            return;
        }
    }
}

/// Unsent answers above which they are written before the next request.
const MAX_UNSENT: usize = 64 * 1024;

/// Escape text for an HTML attribute or body (Go's `htmlEscape`).
fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Answer a HEAD request with the headers only: drop the body of the
/// response that starts at `start` in `out` (its Content-Length stays).
fn strip_body(out: &mut Vec<u8>, start: usize) {
    if let Some(end) = out[start..].windows(4).position(|w| w == b"\r\n\r\n") {
        out.truncate(start + end + 4);
    }
}
