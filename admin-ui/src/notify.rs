//! Admin-action notifications (docs/nsqadmin.md#notifications): with
//! `--notification-http-endpoint`, every action POSTs a JSON description,
//! asynchronously and best effort (a failure is logged, never reported).

use serde::Serialize;

use crate::app::App;
use crate::server::Request;

/// The JSON body of a notification (NSQ's `AdminAction`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AdminAction {
    /// e.g. `pause_topic`.
    pub action: String,
    /// Topic.
    pub topic: String,
    /// Channel.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub channel: String,
    /// Node (tombstones).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub node: String,
    /// Unix seconds.
    pub timestamp: i64,
    /// HTTP basic-auth user name.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// `ip:port` of the requester.
    pub remote_ip: String,
    /// Its User-Agent.
    pub user_agent: String,
    /// The request URL, reconstructed.
    pub url: String,
    /// nsqadmin's hostname.
    pub via: String,
}

/// Build the notification for an action `req` performed.
pub fn action(
    app: &App,
    req: &Request,
    action: &str,
    topic: &str,
    channel: &str,
    node: &str,
) -> AdminAction {
    let tls = req
        .header("x-scheme")
        .is_some_and(|s| s.eq_ignore_ascii_case("https"));
    let host = req.header("host").unwrap_or_default();
    let query = if req.query.is_empty() {
        String::new()
    } else {
        format!("?{}", req.query)
    };
    AdminAction {
        action: action.into(),
        topic: topic.into(),
        channel: channel.into(),
        node: node.into(),
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        user: req
            .header("authorization")
            .and_then(basic_auth_user)
            .unwrap_or_default(),
        remote_ip: req.remote.map(|r| r.to_string()).unwrap_or_default(),
        user_agent: req.header("user-agent").unwrap_or_default().into(),
        url: format!(
            "{}://{host}{}{query}",
            if tls { "https" } else { "http" },
            req.path
        ),
        via: app.hostname.clone(),
    }
}

/// Send it (on its own thread) if an endpoint is configured.
pub fn send(app: &App, a: AdminAction) {
    let endpoint = app.opts.flags.notification_http_endpoint.clone();
    if endpoint.is_empty() {
        return;
    }
    let client = app.client.clone();
    let _ = std::thread::Builder::new()
        .name("notify".into())
        .spawn(move || {
            let Ok(url) = nsq_tools::httpc::Url::parse(&endpoint) else {
                return;
            };
            let body = serde_json::to_vec(&a).unwrap_or_default();
            if let Err(e) = client.call_with_body("POST", &url.host, &url.path, &body) {
                crate::log!(Error, "failed to send admin notification - {e}");
            }
        });
}

/// The user of an `Authorization: Basic …` header.
pub fn basic_auth_user(value: &str) -> Option<String> {
    let b64 = value.strip_prefix("Basic ")?.trim();
    let raw = nsq_protocol::base64::decode(b64)?;
    let text = String::from_utf8(raw).ok()?;
    Some(text.split(':').next().unwrap_or_default().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_auth() {
        // "alice:secret"
        assert_eq!(
            basic_auth_user("Basic YWxpY2U6c2VjcmV0").as_deref(),
            Some("alice")
        );
        assert_eq!(basic_auth_user("Basic YQ==").as_deref(), Some("a"));
        assert_eq!(basic_auth_user("Bearer x"), None);
        assert_eq!(basic_auth_user("Basic !!!"), None);
    }

    #[test]
    fn omits_empty_fields() {
        let a = AdminAction {
            action: "pause_topic".into(),
            topic: "t".into(),
            ..AdminAction::default()
        };
        let v = serde_json::to_value(&a).unwrap();
        assert!(v.get("channel").is_none() && v.get("node").is_none() && v.get("user").is_none());
        assert_eq!(v["action"], "pause_topic");
    }
}
