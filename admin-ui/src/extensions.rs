//! nsqadmin's actions for nsqd's extensions (docs/nsqadmin.md#dead-letters,
//! #draining), admins only, each sent to every nsqd concerned:
//!
//! * `POST /api/topics/:topic/:channel` `{"action":"set_max_attempts",
//!   "max_attempts":N[,"dead_letter_topic":"…"]}`: `POST /channel/config`
//!   on every nsqd of the topic;
//! * `POST /api/topics/:topic/:channel` `{"action":"redrive"}`:
//!   `POST /channel/redrive` on every nsqd of the topic; answers
//!   `{"moved":N,"message":…}`, N summed over them;
//! * `POST /api/nodes/:node` `{"action":"drain"}`: `POST /drain` on that
//!   nsqd (404 `NODE_NOT_FOUND` for a node the cluster does not list).
//!
//! As for NSQ's own actions, an nsqd that fails is a `WARNING: …` message;
//! only failing to find the topic's nsqd at all is a 502.

use nsq_protocol::names::is_valid_topic_name;
use serde::Serialize;

use crate::api::{done, find_node, upstream_error};
use crate::app::App;
use crate::notify;
use crate::server::{Answer, Request};
use crate::upstream::{fan_out, q};

/// The HTTP addresses of the nsqd that have `topic`, or the 502.
fn producers_of(app: &App, topic: &str, errors: &mut Vec<String>) -> Result<Vec<String>, Answer> {
    match app.cluster().topic_producers(topic) {
        Ok(p) => {
            if !p.errors.is_empty() {
                errors.push(p.errors.join("\n"));
            }
            Ok(p.value.into_iter().map(|p| p.http_addr).collect())
        }
        Err(e) => Err(upstream_error(&e)),
    }
}

/// `set_max_attempts`.
pub(crate) fn set_max_attempts(
    app: &App,
    req: &Request,
    topic: &str,
    channel: &str,
    max_attempts: Option<u64>,
    dead_letter_topic: &str,
) -> Answer {
    let Some(max) = max_attempts.filter(|&m| m <= u64::from(u16::MAX)) else {
        return Answer::error(400, "INVALID_MAX_ATTEMPTS");
    };
    if !dead_letter_topic.is_empty() && !is_valid_topic_name(dead_letter_topic.as_bytes()) {
        return Answer::error(400, "INVALID_DEAD_LETTER_TOPIC");
    }
    let mut errors = Vec::new();
    let addrs = match producers_of(app, topic, &mut errors) {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let mut path = format!(
        "/channel/config?topic={}&channel={}&max_attempts={max}",
        q(topic),
        q(channel)
    );
    if !dead_letter_topic.is_empty() {
        path.push_str(&format!("&dead_letter_topic={}", q(dead_letter_topic)));
    }
    errors.extend(app.cluster().post_all(&addrs, &path));
    notify::send(
        app,
        notify::action(app, req, "set_max_attempts", topic, channel, ""),
    );
    done(&errors)
}

/// `redrive`.
pub(crate) fn redrive(app: &App, req: &Request, topic: &str, channel: &str) -> Answer {
    let mut errors = Vec::new();
    let addrs = match producers_of(app, topic, &mut errors) {
        Ok(a) => a,
        Err(answer) => return answer,
    };
    let path = format!("/channel/redrive?topic={}&channel={}", q(topic), q(channel));
    let cluster = app.cluster();
    let mut moved = 0;
    for result in fan_out(&addrs, |a| cluster.client.call("POST", a, &path)) {
        match result {
            Ok(body) => {
                moved += serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["moved"].as_u64())
                    .unwrap_or(0);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    notify::send(
        app,
        notify::action(app, req, "redrive_channel", topic, channel, ""),
    );
    #[derive(Serialize)]
    struct R {
        moved: u64,
        message: String,
    }
    let message = if errors.is_empty() {
        String::new()
    } else {
        format!("WARNING: {}", errors.join("\n"))
    };
    Answer::json(&R { moved, message })
}

/// `drain` of one node.
pub(crate) fn drain(app: &App, req: &Request, node: &str) -> Answer {
    let cluster = app.cluster();
    let producers = match cluster.producers() {
        Ok(p) => p.value,
        Err(e) => return upstream_error(&e),
    };
    let Some(producer) = find_node(producers, node) else {
        return Answer::error(404, "NODE_NOT_FOUND");
    };
    let errors = cluster.post_all(&[producer.http_addr], "/drain");
    notify::send(app, notify::action(app, req, "drain_node", "", "", node));
    done(&errors)
}
