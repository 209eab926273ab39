//! nsqadmin's actions for nsqd's extensions (docs/nsqadmin.md#dead-letters,
//! #draining), admins only, each sent to every nsqd concerned:
//!
//! * `POST /api/topics/:topic/:channel` `{"action":"set_max_attempts",
//!   "max_attempts":N[,"dead_letter_topic":"…"]}`: `POST /channel/config`
//!   on every nsqd that has the channel;
//! * `POST /api/topics/:topic/:channel` `{"action":"redrive"}`:
//!   `POST /channel/redrive` on every nsqd that has the channel; answers
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

/// The HTTP addresses of the nsqd that have `channel` of `topic` (their
/// `/stats` say so), or the 502.
fn holders_of(
    app: &App,
    topic: &str,
    channel: &str,
    errors: &mut Vec<String>,
) -> Result<Vec<String>, Answer> {
    let cluster = app.cluster();
    let mut partial = |r: &Vec<String>| {
        if !r.is_empty() {
            errors.push(r.join("\n"));
        }
    };
    let producers = match cluster.topic_producers(topic) {
        Ok(p) => {
            partial(&p.errors);
            p.value
        }
        Err(e) => return Err(upstream_error(&e)),
    };
    let per_node = match cluster.nsqd_stats(&producers, topic, channel, false) {
        Ok(s) => {
            partial(&s.errors);
            s.value
        }
        Err(e) => return Err(upstream_error(&e)),
    };
    let has = |node: &str| {
        per_node.iter().any(|t| {
            t.node == node
                && t.channels
                    .iter()
                    .flatten()
                    .any(|c| c.channel_name == channel)
        })
    };
    Ok(producers
        .into_iter()
        .filter(|p| has(&p.node()))
        .map(|p| p.http_addr)
        .collect())
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
    let addrs = match holders_of(app, topic, channel, &mut errors) {
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
    let addrs = match holders_of(app, topic, channel, &mut errors) {
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
