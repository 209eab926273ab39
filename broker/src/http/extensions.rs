//! The endpoints of nsqd's extensions that act (docs/http-api.md#extensions):
//! `POST /channel/config` and `POST /channel/redrive` (dead letters,
//! docs/compatibility.md#dead-letters) and `POST /drain`
//! (docs/compatibility.md#draining). Errors are NSQ-style
//! `{"message":"<CODE>"}`.

use nsq_protocol::http::{query_get, query_is_valid};
use nsq_protocol::names::is_valid_topic_name;

use crate::deadletter::redrive::RedriveError;
use crate::deadletter::request::Request;
use crate::deadletter::{parse_max_attempts, resolve, NameError, Setting};
use crate::http::handlers::{admin_reply, channel_params, on_owner};
use crate::http::reply::Reply;
use crate::http::HttpConn;
use crate::options::parse_go_duration;
use crate::shard::mesh::ShardMsg;

/// `dead_letter_topic=`, when given and not empty.
fn dead_letter_param(q: &str) -> Result<Option<String>, Reply> {
    match query_get(q, "dead_letter_topic").filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) if is_valid_topic_name(t.as_bytes()) => Ok(Some(t.into_owned())),
        Some(_) => Err(Reply::err(400, NameError::Invalid.code())),
    }
}

/// `POST /channel/config?topic=&channel=&max_attempts=N[&dead_letter_topic=]`:
/// the channel's own limit (0: off, even with `--max-attempts`), kept in
/// `nsqd.dat`.
pub(crate) async fn channel_config(conn: &HttpConn, q: &str) -> Reply {
    let channel = match channel_params(q) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let Some(max) = query_get(q, "max_attempts") else {
        return Reply::err(400, "MISSING_ARG_MAX_ATTEMPTS");
    };
    let Some(max_attempts) = parse_max_attempts(&max) else {
        return Reply::err(400, "INVALID_ARG_MAX_ATTEMPTS");
    };
    let explicit = match dead_letter_param(q) {
        Ok(t) => t,
        Err(reply) => return reply,
    };
    let topic = if max_attempts == 0 {
        None
    } else {
        match resolve(&channel.topic, &channel.channel, explicit.as_deref()) {
            Ok(t) => Some(t),
            Err(e) => return Reply::err(400, e.code()),
        }
    };
    let setting = Setting {
        max_attempts,
        topic,
    };
    let owner = conn.shard.owner_of(&channel.topic);
    let result = on_owner(
        conn,
        owner,
        (channel, setting),
        |shard, (channel, setting)| shard.configure_dead_letters(&channel, setting),
        |(channel, setting), reply| {
            ShardMsg::DeadLetter(Request::Configure {
                channel,
                setting,
                reply,
            })
        },
    )
    .await;
    admin_reply(result)
}

/// `POST /channel/redrive?topic=&channel=[&dead_letter_topic=]`: move the
/// messages of the channel's dead-letter topic (`dead_letter_topic=`, or
/// the channel's, or `<topic>.<channel>.dead`) back into that channel
/// only; answers `{"moved":N}`.
pub(crate) async fn channel_redrive(conn: &HttpConn, q: &str) -> Reply {
    let channel = match channel_params(q) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let explicit = match dead_letter_param(q) {
        Ok(t) => t,
        Err(reply) => return reply,
    };
    if conn.shard.ctx.drain.is_draining() {
        return Reply::err(503, "DRAINING");
    }
    // The channel must exist; its dead-letter topic, unless one is given.
    let owner = conn.shard.owner_of(&channel.topic);
    let configured = on_owner(
        conn,
        owner,
        channel.clone(),
        |shard, channel| shard.dead_letter_topic_of(&channel),
        |channel, reply| ShardMsg::DeadLetter(Request::TopicOf { channel, reply }),
    )
    .await;
    let configured = match configured {
        Ok(c) => c,
        Err(e) => return admin_reply(Err(e)),
    };
    let dead_topic = match explicit.or(configured) {
        Some(t) => t,
        None => match resolve(&channel.topic, &channel.channel, None) {
            Ok(t) => t,
            Err(e) => return Reply::err(400, e.code()),
        },
    };
    if dead_topic == channel.topic {
        return Reply::err(400, NameError::SameTopic.code());
    }
    // A task of its own on the dead-letter topic's owner (this shard too):
    // the redrive finishes even if this connection closes.
    let shard = &conn.shard;
    let dead_owner = shard.owner_of(&dead_topic);
    let (reply, rx) = flume::bounded(1);
    let request = Request::Redrive {
        dead_topic,
        target: channel,
        reply,
    };
    let exiting = Err(RedriveError::Admin(
        crate::shard::admin::AdminError::Exiting,
    ));
    let result = if dead_owner == shard.id {
        shard.serve_dead_letter(request);
        rx.recv_async().await.unwrap_or(exiting)
    } else if shard.ctx.mesh[dead_owner]
        .send(ShardMsg::DeadLetter(request))
        .is_err()
    {
        exiting
    } else {
        rx.recv_async().await.unwrap_or(exiting)
    };
    match result {
        Ok(moved) => Reply::json(&serde_json::json!({ "moved": moved })),
        Err(RedriveError::Admin(e)) => admin_reply(Err(e)),
        Err(RedriveError::InProgress) => Reply::err(409, "REDRIVE_IN_PROGRESS"),
        Err(RedriveError::DiskFailed) => Reply::err(500, "INTERNAL_ERROR"),
    }
}

/// `POST /drain[?timeout=<Go duration>]`: start draining (a drain already
/// running takes the new timeout, counted from now). Default timeout:
/// `--drain-timeout`.
pub(crate) fn drain(conn: &HttpConn, q: &str) -> Reply {
    if !query_is_valid(q) {
        return Reply::err(400, "INVALID_REQUEST");
    }
    let ctx = &conn.shard.ctx;
    let timeout = match query_get(q, "timeout") {
        None => ctx.opts.flags.drain_timeout,
        Some(t) => match parse_go_duration(&t) {
            Ok(d) => d,
            Err(_) => return Reply::err(400, "INVALID_ARG_TIMEOUT"),
        },
    };
    ctx.drain.start(ctx, timeout);
    Reply::Empty
}
