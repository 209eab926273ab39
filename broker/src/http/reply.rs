//! HTTP replies in NSQ's "V1" format (reference B.1): JSON objects bare with
//! `application/json`, strings as raw text, nothing as an empty 200, errors as
//! `{"message":"<TEXT>"}`; every V1 reply carries `X-NSQ-Content-Type`.

use nsq_protocol::http::{encode_response, Response};

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
    /// A plain-text error (`/ping` when unhealthy: 500 `NOK - ...`).
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
