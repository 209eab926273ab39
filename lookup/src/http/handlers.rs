//! The endpoints of docs/lookupd.md#http-api: query parameters in, a V1
//! [`Reply`] out. Synchronous: each runs against the registry with the time
//! passed in, and never holds a borrow across an `.await` (there is none).

use std::borrow::Cow;

use nsq_protocol::api::lookup::{ChannelsResponse, InfoResponse, TopicsResponse};
use nsq_protocol::http::{query_get, query_is_valid, Reply};
use nsq_protocol::names::{is_valid_channel_name, is_valid_topic_name};

use super::router::Route;
use crate::options::NSQ_VERSION;
use crate::registry::UnixNanos;
use crate::server::Server;

/// Run an endpoint.
pub fn handle(route: Route, query: &str, server: &Server, now: UnixNanos) -> Reply {
    match route {
        Route::Ping => Reply::Plain("text/plain; charset=utf-8", b"OK".to_vec()),
        Route::Info => Reply::json(&InfoResponse {
            version: NSQ_VERSION.to_string(),
        }),
        Route::Debug => Reply::json(&server.registry.borrow().debug()),
        Route::Topics => Reply::json(&TopicsResponse {
            topics: server.registry.borrow().topics(),
        }),
        Route::Nodes => Reply::json(&server.registry.borrow().nodes(now)),
        Route::Metrics => Reply::Plain(
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::render(server, now).into_bytes(),
        ),
        // The rest parse the query first, as NSQ's `NewReqParams`.
        _ if !query_is_valid(query) => Reply::err(400, "INVALID_REQUEST"),
        Route::Lookup => with_topic(query, |topic| {
            match server.registry.borrow().lookup(&topic, now) {
                Some(found) => Reply::json(&found),
                None => Reply::err(404, "TOPIC_NOT_FOUND"),
            }
        }),
        Route::Channels => with_topic(query, |topic| {
            Reply::json(&ChannelsResponse {
                channels: server.registry.borrow().channels(&topic),
            })
        }),
        Route::TopicCreate => with_topic(query, |topic| {
            if !is_valid_topic_name(topic.as_bytes()) {
                return Reply::err(400, "INVALID_ARG_TOPIC");
            }
            crate::log!(Info, "DB: adding topic({topic})");
            server.registry.borrow_mut().create_topic(&topic);
            Reply::Empty
        }),
        Route::TopicDelete => with_topic(query, |topic| {
            let channels = server.registry.borrow_mut().delete_topic(&topic);
            for channel in channels {
                crate::log!(Info, "DB: removing channel({channel}) from topic({topic})");
            }
            crate::log!(Info, "DB: removing topic({topic})");
            Reply::Empty
        }),
        Route::TopicTombstone => with_topic(query, |topic| {
            let Some(node) = query_get(query, "node") else {
                return Reply::err(400, "MISSING_ARG_NODE");
            };
            crate::log!(
                Info,
                "DB: setting tombstone for producer@{node} of topic({topic})"
            );
            server.registry.borrow_mut().tombstone(&topic, &node, now);
            Reply::Empty
        }),
        Route::ChannelCreate => with_topic_channel(query, |topic, channel| {
            crate::log!(Info, "DB: adding channel({channel}) in topic({topic})");
            crate::log!(Info, "DB: adding topic({topic})");
            server.registry.borrow_mut().create_channel(topic, channel);
            Reply::Empty
        }),
        Route::ChannelDelete => with_topic_channel(query, |topic, channel| {
            if !server.registry.borrow_mut().delete_channel(topic, channel) {
                return Reply::err(404, "CHANNEL_NOT_FOUND");
            }
            crate::log!(Info, "DB: removing channel({channel}) from topic({topic})");
            Reply::Empty
        }),
    }
}

/// `topic` present (it may be empty, as in NSQ) or 400 `MISSING_ARG_TOPIC`.
fn with_topic(query: &str, f: impl FnOnce(Cow<'_, str>) -> Reply) -> Reply {
    match query_get(query, "topic") {
        Some(topic) => f(topic),
        None => Reply::err(400, "MISSING_ARG_TOPIC"),
    }
}

/// NSQ's `GetTopicChannelArgs`: both present and valid, checked in order.
fn with_topic_channel(query: &str, f: impl FnOnce(&str, &str) -> Reply) -> Reply {
    let Some(topic) = query_get(query, "topic") else {
        return Reply::err(400, "MISSING_ARG_TOPIC");
    };
    if !is_valid_topic_name(topic.as_bytes()) {
        return Reply::err(400, "INVALID_ARG_TOPIC");
    }
    let Some(channel) = query_get(query, "channel") else {
        return Reply::err(400, "MISSING_ARG_CHANNEL");
    };
    if !is_valid_channel_name(channel.as_bytes()) {
        return Reply::err(400, "INVALID_ARG_CHANNEL");
    }
    f(&topic, &channel)
}
