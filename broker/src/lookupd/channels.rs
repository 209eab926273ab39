//! The `/channels?topic=` query nsqd makes to each connected lookupd before
//! a new topic starts (docs/lookupd.md#channel-pre-creation): a small blocking
//! HTTP/1.0 GET, run only by the announcer thread.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use nsq_protocol::api::lookup::ChannelsResponse;

/// Largest answer read.
const MAX_ANSWER: usize = 4 << 20;

/// The channels lookupd at `host:port` knows for `topic`.
pub fn query(
    host: &str,
    port: u16,
    topic: &str,
    connect_timeout: Duration,
    request_timeout: Duration,
) -> Result<Vec<String>, String> {
    let addr = (host, port)
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let deadline = Instant::now() + request_timeout;
    let mut stream =
        TcpStream::connect_timeout(&addr, connect_timeout).map_err(|e| e.to_string())?;
    let _ = stream.set_write_timeout(Some(request_timeout));
    // Topic names are [.a-zA-Z0-9_-] plus "#ephemeral": only '#' needs escaping.
    let escaped = topic.replace('#', "%23");
    write!(
        stream,
        "GET /channels?topic={escaped} HTTP/1.0\r\nHost: {host}:{port}\r\nAccept: application/vnd.nsq; version=1.0\r\nUser-Agent: nsqd/1.3.0\r\n\r\n"
    )
    .map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err("timeout".into());
        }
        let _ = stream.set_read_timeout(Some(left));
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(e.to_string()),
        }
        if raw.len() > MAX_ANSWER {
            return Err("answer too large".into());
        }
    }
    parse_answer(&raw)
}

/// Status line and body of an HTTP/1.x answer read to EOF; the body is
/// NSQ's V1 JSON or the legacy `{"status_code":..,"data":{..}}` envelope.
fn parse_answer(raw: &[u8]) -> Result<Vec<String>, String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no HTTP head")?;
    let head = String::from_utf8_lossy(&raw[..split]);
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or("bad status line")?;
    if status != 200 {
        return Err(format!("status {status}"));
    }
    let body = &raw[split + 4..];
    let value: serde_json::Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let inner = value.get("data").cloned().unwrap_or(value);
    let answer: ChannelsResponse = serde_json::from_value(inner).map_err(|e| e.to_string())?;
    Ok(answer.channels)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_and_legacy_answers() {
        let v1 = b"HTTP/1.1 200 OK\r\nX-NSQ-Content-Type: nsq; version=1.0\r\n\r\n{\"channels\":[\"a\",\"b\"]}";
        assert_eq!(parse_answer(v1).unwrap(), vec!["a", "b"]);
        let legacy = b"HTTP/1.1 200 OK\r\n\r\n{\"status_code\":200,\"status_txt\":\"OK\",\"data\":{\"channels\":[\"c\"]}}";
        assert_eq!(parse_answer(legacy).unwrap(), vec!["c"]);
        assert!(parse_answer(b"HTTP/1.1 500 NO\r\n\r\n{}").is_err());
    }
}
