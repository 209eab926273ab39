//! nsqlookupd queries (docs/clients.md#discovery): the `/lookup` URL for an
//! address that may be `host:port` or a full URL, the `X-NSQ-Content-Type` rule
//! (without that header the body is the legacy `{"status_code",
//! "status_txt","data"}` envelope), and `/topics` for topic discovery.

use nsq_protocol::api::lookup::{LookupResponse, TopicsResponse};
use serde::de::DeserializeOwned;

use crate::httpc::{self, Response, Target, Timeouts};

/// The `Accept` header go-nsq sends to lookupd.
pub const ACCEPT: &str = "application/vnd.nsq; version=1.0";

/// The URL for `endpoint` (`/lookup`, `/topics`) at a lookupd address with
/// extra query pairs. A full URL (`http://` or `https://`) keeps its path
/// and query.
pub fn endpoint_url(addr: &str, endpoint: &str, query: &[(&str, &str)]) -> Result<Target, String> {
    let mut target = Target::parse(addr).map_err(|e| e.to_string())?;
    let url = &mut target.url;
    let full = addr.contains("://");
    let (path, q) = match url.path.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (url.path.clone(), String::new()),
    };
    let path = if !full || path == "/" || path.is_empty() {
        endpoint.to_string()
    } else {
        path
    };
    let mut pairs: Vec<String> = q
        .split('&')
        .filter(|p| !p.is_empty())
        .map(str::to_string)
        .collect();
    for (k, v) in query {
        pairs.retain(|p| p.split('=').next() != Some(k));
        pairs.push(format!("{k}={}", httpc::query_escape(v.as_bytes())));
    }
    url.path = if pairs.is_empty() {
        path
    } else {
        format!("{path}?{}", pairs.join("&"))
    };
    Ok(target)
}

/// Decode a 200 reply: directly when `X-NSQ-Content-Type: nsq; version=1.0`
/// is present, otherwise from the legacy envelope's `data`.
pub fn decode<T: DeserializeOwned>(resp: &Response) -> Result<T, String> {
    if resp.status != 200 {
        return Err(format!(
            "got response {} {:?}",
            resp.status,
            String::from_utf8_lossy(&resp.body).trim()
        ));
    }
    let v1 = resp
        .header("X-NSQ-Content-Type")
        .is_some_and(|v| v.replace(' ', "") == "nsq;version=1.0");
    if v1 {
        serde_json::from_slice(&resp.body).map_err(|e| format!("bad JSON: {e}"))
    } else {
        #[derive(serde::Deserialize)]
        struct Envelope<T> {
            data: T,
        }
        serde_json::from_slice::<Envelope<T>>(&resp.body)
            .map(|e| e.data)
            .map_err(|e| format!("bad JSON (legacy envelope): {e}"))
    }
}

fn get<T: DeserializeOwned>(
    target: &Target,
    t: Timeouts,
    secret: Option<&str>,
) -> Result<T, String> {
    let mut headers = vec![("Accept".to_string(), ACCEPT.to_string())];
    // go-nsq sends the auth secret to lookupd (for nsqauthfilter-style
    // proxies; lookupd ignores it).
    if let Some(s) = secret {
        headers.push(("Authorization".to_string(), format!("Bearer {s}")));
    }
    let resp = httpc::request_to("GET", target, &headers, b"", t).map_err(|e| e.to_string())?;
    decode(&resp)
}

/// `/lookup?topic=`: the topic's producers and channels.
pub fn lookup(addr: &str, topic: &str, t: Timeouts) -> Result<LookupResponse, String> {
    lookup_with_secret(addr, topic, t, None)
}

/// [`lookup`] with `Authorization: Bearer <secret>` (go-nsq's
/// `auth_secret` unless `skip_lookupd_authorization`).
pub fn lookup_with_secret(
    addr: &str,
    topic: &str,
    t: Timeouts,
    secret: Option<&str>,
) -> Result<LookupResponse, String> {
    get(
        &endpoint_url(addr, "/lookup", &[("topic", topic)])?,
        t,
        secret,
    )
}

/// `/topics`.
pub fn topics(addr: &str, t: Timeouts) -> Result<Vec<String>, String> {
    get::<TopicsResponse>(&endpoint_url(addr, "/topics", &[])?, t, None).map(|r| r.topics)
}

/// `host:port` to connect to, from a producer entry.
pub fn tcp_address(p: &nsq_protocol::api::lookup::PeerInfo) -> String {
    join_host_port(&p.broadcast_address, p.tcp_port)
}

/// `host:port`, bracketing IPv6 literals.
pub fn join_host_port(host: &str, port: i64) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(headers: &[(&str, &str)], body: &str) -> Response {
        Response {
            status: 200,
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn urls() {
        let u = endpoint_url("127.0.0.1:4161", "/lookup", &[("topic", "t")]).unwrap();
        assert_eq!((u.tls, u.url.path.as_str()), (false, "/lookup?topic=t"));
        let u = endpoint_url("http://h:1/custom?a=b", "/lookup", &[("topic", "t")]).unwrap();
        assert_eq!(u.url.path, "/custom?a=b&topic=t");
        let u = endpoint_url("https://h:1", "/lookup", &[("topic", "t")]).unwrap();
        assert_eq!((u.tls, u.url.path.as_str()), (true, "/lookup?topic=t"));
    }

    #[test]
    fn content_type_rule() {
        let direct =
            r#"{"channels":["c"],"producers":[{"broadcast_address":"h","tcp_port":4150}]}"#;
        let r: LookupResponse =
            decode(&resp(&[("X-NSQ-Content-Type", "nsq; version=1.0")], direct)).unwrap();
        assert_eq!(tcp_address(&r.producers[0]), "h:4150");
        // Without the header the same body is read as an envelope: no data.
        assert!(decode::<LookupResponse>(&resp(&[], direct)).is_err());
        let legacy = format!(r#"{{"status_code":200,"status_txt":"OK","data":{direct}}}"#);
        let r: LookupResponse = decode(&resp(&[], &legacy)).unwrap();
        assert_eq!(r.channels, vec!["c"]);
        let mut nf = resp(&[], r#"{"message":"TOPIC_NOT_FOUND"}"#);
        nf.status = 404;
        assert!(decode::<LookupResponse>(&nf).unwrap_err().contains("404"));
    }
}
