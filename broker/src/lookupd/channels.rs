//! The `/channels?topic=` query nsqd makes to each connected lookupd before
//! a new topic starts (docs/lookupd.md#channel-pre-creation): a blocking GET
//! through `nsq_http_client`, run only by the announcer thread.

use std::time::Duration;

use nsq_http_client::{query_escape, Client, Target, Timeouts, Url};
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
    let host = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let target = Target::http(Url {
        host,
        path: format!("/channels?topic={}", query_escape(topic.as_bytes())),
    });
    let headers = [
        ("Accept", "application/vnd.nsq; version=1.0"),
        ("User-Agent", "nsqd/1.3.0"),
    ];
    let answer = Client::new(Timeouts {
        connect: connect_timeout,
        request: request_timeout,
    })
    .with_max_response(MAX_ANSWER)
    .request("GET", &target, &headers, b"")
    .map_err(|e| e.to_string())?;
    if answer.status != 200 {
        return Err(format!("status {}", answer.status));
    }
    parse_body(&answer.body)
}

/// The body: NSQ's V1 JSON or the legacy `{"status_code":..,"data":{..}}`
/// envelope.
fn parse_body(body: &[u8]) -> Result<Vec<String>, String> {
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
        assert_eq!(
            parse_body(b"{\"channels\":[\"a\",\"b\"]}").unwrap(),
            vec!["a", "b"]
        );
        let legacy = b"{\"status_code\":200,\"status_txt\":\"OK\",\"data\":{\"channels\":[\"c\"]}}";
        assert_eq!(parse_body(legacy).unwrap(), vec!["c"]);
        assert!(parse_body(b"<html>").is_err());
    }
}
