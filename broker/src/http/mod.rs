//! nsqd's HTTP API (reference part B), served by every shard.
//!
//! Connections are accepted and placed like TCP ones. Each runs [`serve`]:
//! decode a request head, pick the route, read the body within the route's
//! limit (`Content-Length` or chunked), run the handler, answer; keep-alive
//! and pipelining fall out of the loop (responses to requests already
//! buffered are written together). Handlers that touch a topic go to its
//! owner shard: publishes through the same forwarder as TCP, admin operations
//! and `/stats` through the shard inboxes.

pub mod handlers;
pub mod reply;
pub mod router;

use std::cell::RefCell;
use std::rc::Rc;

use bytes::{Buf, Bytes, BytesMut};
use glommio::net::TcpStream;
use nsq_protocol::http::{
    decode_chunked, decode_head, encode_response, BodyError, Framing, Response,
};
use nsq_protocol::Decoded;

use crate::net::io::{read_into, write_all, SharedStream};
use crate::shard::forward::AckSink;
use crate::shard::Shard;
use reply::Reply;
use router::{Route, Routed};

/// Largest request head (Go's default `MaxHeaderBytes`).
const MAX_HEAD: usize = 1 << 20;

/// The parts of a request head a handler needs.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// Method.
    pub method: String,
    /// Path.
    pub path: String,
    /// Raw query string.
    pub query: String,
    /// HTTP/1.x minor version.
    pub minor_version: u8,
    /// Keep the connection open.
    pub keep_alive: bool,
}

/// Per-connection state handlers may use.
pub struct HttpConn {
    /// The shard.
    pub shard: Rc<Shard>,
    /// Results of forwarded publishes.
    pub sink: Rc<AckSink>,
    seq: u64,
}

impl HttpConn {
    /// The next forwarded-publish sequence number.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

fn too_big(route: &Routed) -> Reply {
    match route {
        Routed::Endpoint(Route::Pub) => Reply::err(413, "MSG_TOO_BIG"),
        Routed::Endpoint(Route::ConfigPut(_)) => Reply::err(413, "INVALID_VALUE"),
        _ => Reply::err(413, "BODY_TOO_BIG"),
    }
}

async fn flush(stream: &SharedStream, out: &mut Vec<u8>) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = write_all(stream, out).await.is_ok();
    out.clear();
    ok
}

/// Serve one HTTP connection until it closes.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let stream: SharedStream = Rc::new(RefCell::new(stream));
    let mut conn = HttpConn {
        shard: shard.clone(),
        sink: Rc::new(AckSink::default()),
        seq: 0,
    };
    let mut input = BytesMut::with_capacity(4096);
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
                    if !flush(&stream, &mut out).await {
                        return;
                    }
                    match read_into(&stream, &shard.scratch, &mut input).await {
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
                flush(&stream, &mut out).await;
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
            && framing != Framing::None
            && !matches!(framing, Framing::Length(n) if n > limit)
        {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            if !flush(&stream, &mut out).await {
                return;
            }
        }
        let body: Result<Bytes, Reply> = loop {
            match framing {
                Framing::None => break Ok(Bytes::new()),
                Framing::Length(n) if n > limit => break Err(too_big(&routed)),
                Framing::Length(n) => {
                    if input.len() as u64 >= n {
                        break Ok(input.split_to(n as usize).freeze());
                    }
                }
                Framing::Chunked => match decode_chunked(&input, limit) {
                    Ok(Decoded::Complete { value, consumed }) => {
                        input.advance(consumed);
                        break Ok(Bytes::from(value));
                    }
                    Ok(Decoded::Incomplete) => {}
                    Err(BodyError::TooLarge) => break Err(too_big(&routed)),
                    Err(BodyError::Malformed) => break Err(Reply::err(400, "INVALID_REQUEST")),
                },
            }
            match read_into(&stream, &shard.scratch, &mut input).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        };
        let body = match body {
            Ok(b) => b,
            Err(reply) => {
                // The rest of the body was not read: answer and close.
                reply.encode(&mut out, head.minor_version, false, &[]);
                flush(&stream, &mut out).await;
                return;
            }
        };

        // The answer.
        let keep_alive = head.keep_alive;
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
                &Response {
                    status: 200,
                    content_type: None,
                    nsq_v1: false,
                    headers: &[("Allow", &allow)],
                    body: b"",
                },
            ),
            Routed::Redirect(status, path) => {
                let location = if head.query.is_empty() {
                    path
                } else {
                    format!("{path}?{}", head.query)
                };
                let (content_type, body) = if head.method == "GET" {
                    (
                        Some("text/html; charset=utf-8"),
                        format!(
                            "<a href=\"{location}\">{}</a>.\n\n",
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
        if !keep_alive {
            flush(&stream, &mut out).await;
            return;
        }
    }
}
