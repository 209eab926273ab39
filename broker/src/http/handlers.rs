//! The endpoint handlers (docs/http-api.md#endpoints), with NSQ's parameter
//! checks, in NSQ's order, and NSQ's error texts.

use std::time::Duration;

use bytes::Bytes;
use nsq_protocol::api::stats::{Info, MemoryStats, Stats};
use nsq_protocol::command::decode_mpub_body;
use nsq_protocol::http::{query_get, query_is_valid};
use nsq_protocol::names::{is_valid_channel_name, is_valid_topic_name};

use crate::http::reply::Reply;
use crate::http::router::Route;
use crate::http::{HttpConn, RequestHead};
use crate::name::TopicName;
use crate::options::NSQ_VERSION;
use crate::publish::bodies::Bodies;
use crate::publish::{PubKind, PutError};
use crate::shard::admin::{
    request_stats, AdminError, AdminOp, ChannelRef, ShardStats, StatsFilter,
};
use crate::shard::mesh::ShardMsg;
use crate::shard::Shard;

/// Run one endpoint.
pub(crate) async fn handle(
    conn: &mut HttpConn,
    route: Route,
    head: &RequestHead,
    body: Bytes,
) -> Reply {
    let q = head.query.as_str();
    match route {
        Route::Ping => match conn.shard.ctx.health() {
            None => Reply::Plain("text/plain; charset=utf-8", b"OK".to_vec()),
            Some(why) => Reply::PlainError(500, format!("NOK - {why}")),
        },
        Route::Info => info(conn),
        Route::Pub => publish(conn, q, body).await,
        Route::Mpub => multi_publish(conn, q, body).await,
        Route::Stats => stats(conn, q).await,
        Route::Metrics => metrics(conn).await,
        Route::Topic(op) => topic_op(conn, op, q).await,
        Route::Channel(op) => channel_op(conn, op, q).await,
        Route::ChannelPeek => peek(conn, q).await,
        Route::ChannelConfig => extensions::channel_config(conn, q).await,
        Route::ChannelRedrive => extensions::channel_redrive(conn, q).await,
        Route::Drain => extensions::drain(conn, q),
        Route::ConfigGet(opt) => crate::http::handlers::config::get(conn, &opt),
        Route::ConfigPut(opt) => crate::http::handlers::config::put(conn, &opt, &body),
    }
}

#[path = "config.rs"]
pub(crate) mod config;
#[path = "extensions.rs"]
pub(crate) mod extensions;

fn info(conn: &HttpConn) -> Reply {
    let ctx = &conn.shard.ctx;
    let f = &ctx.opts.flags;
    Reply::json(&Info {
        version: NSQ_VERSION.into(),
        broadcast_address: ctx.broadcast_address.clone(),
        hostname: crate::options::hostname(),
        http_port: i64::from(ctx.http_port),
        tcp_port: i64::from(ctx.tcp_port),
        start_time: ctx.start_time,
        max_heartbeat_interval: f.max_heartbeat_interval.as_nanos() as i64,
        max_output_buffer_size: f.max_output_buffer_size,
        max_output_buffer_timeout: f.max_output_buffer_timeout.as_nanos() as i64,
        max_deflate_level: f.max_deflate_level,
    })
}

/// `topic=` checked as NSQ's `getTopicFromQuery`.
fn topic_param(q: &str) -> Result<TopicName, Reply> {
    if !query_is_valid(q) {
        return Err(Reply::err(400, "INVALID_REQUEST"));
    }
    let topic = query_get(q, "topic").ok_or_else(|| Reply::err(400, "MISSING_ARG_TOPIC"))?;
    TopicName::new(Bytes::from(topic.into_owned())).ok_or_else(|| Reply::err(400, "INVALID_TOPIC"))
}

fn put_error(e: PutError) -> Reply {
    match e {
        // NSQ answers every failed put this way.
        PutError::Exiting | PutError::Skipped | PutError::DiskFailed => Reply::err(503, "EXITING"),
    }
}

async fn publish(conn: &mut HttpConn, q: &str, body: Bytes) -> Reply {
    if body.is_empty() {
        return Reply::err(400, "MSG_EMPTY");
    }
    let topic = match topic_param(q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let mut defer_ms = 0;
    if let Some(d) = query_get(q, "defer") {
        let max = conn.shard.ctx.opts.max_defer_timeout;
        match d.parse::<i64>() {
            Ok(ms) if ms >= 0 && Duration::from_millis(ms as u64) <= max => defer_ms = ms as u64,
            _ => return Reply::err(400, "INVALID_DEFER"),
        }
    }
    if conn.shard.ctx.drain.is_draining() {
        return Reply::err(503, "DRAINING");
    }
    let put = conn
        .publisher
        .publish(PubKind::Pub, topic, defer_ms, Bodies::One(body));
    match put.await {
        Ok(()) => Reply::Text(b"OK".to_vec()),
        Err(e) => put_error(e),
    }
}

/// Go's `strconv.ParseBool`.
fn parse_bool(v: &str) -> Option<bool> {
    // nsqd's boolParams: only these four spellings are recognised.
    match v {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        _ => None,
    }
}

async fn multi_publish(conn: &mut HttpConn, q: &str, body: Bytes) -> Reply {
    let topic = match topic_param(q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let limits = conn.shard.ctx.limits;
    // Absent/false/0 = text; true/1 or any unrecognised value = binary.
    let binary = query_get(q, "binary").is_some_and(|v| parse_bool(&v).unwrap_or(true));
    let bodies: Vec<Bytes> = if binary {
        match decode_mpub_body(&body, &limits) {
            Ok(m) => m.iter().map(|b| body.slice_ref(b)).collect(),
            Err(e) => return Reply::err(413, e.code().as_str().trim_start_matches("E_")),
        }
    } else {
        let mut out = Vec::new();
        for line in body.split(|&b| b == b'\n') {
            if line.is_empty() {
                continue;
            }
            if line.len() as u64 > limits.max_msg_size {
                return Reply::err(413, "MSG_TOO_BIG");
            }
            out.push(body.slice_ref(line));
        }
        out
    };
    if conn.shard.ctx.drain.is_draining() {
        return Reply::err(503, "DRAINING");
    }
    if bodies.is_empty() {
        return Reply::Text(b"OK".to_vec());
    }
    let put = conn
        .publisher
        .publish(PubKind::Mpub, topic, 0, Bodies::Many(bodies));
    match put.await {
        Ok(()) => Reply::Text(b"OK".to_vec()),
        Err(e) => put_error(e),
    }
}

/// Run `request` on shard `owner`: with `here` if that is this shard; else
/// in the message `there` builds around a reply channel, whose answer is
/// awaited.
pub(crate) async fn on_owner<R, T>(
    conn: &HttpConn,
    owner: usize,
    request: R,
    here: impl FnOnce(&Shard, R) -> Result<T, AdminError>,
    there: impl FnOnce(R, flume::Sender<Result<T, AdminError>>) -> ShardMsg,
) -> Result<T, AdminError> {
    let shard = &conn.shard;
    if owner == shard.id {
        return here(shard, request);
    }
    let (reply, rx) = flume::bounded(1);
    if shard.ctx.mesh[owner].send(there(request, reply)).is_err() {
        return Err(AdminError::Exiting);
    }
    rx.recv_async().await.unwrap_or(Err(AdminError::Exiting))
}

/// Run an admin operation on the topic's owner shard.
async fn admin(conn: &HttpConn, op: AdminOp) -> Result<(), AdminError> {
    let owner = conn.shard.owner_of(op.topic());
    on_owner(
        conn,
        owner,
        op,
        |shard, op| shard.admin(op),
        |op, reply| ShardMsg::Admin { op, reply },
    )
    .await
}

pub(crate) fn admin_reply(result: Result<(), AdminError>) -> Reply {
    match result {
        Ok(()) => Reply::Empty,
        Err(AdminError::TopicNotFound) => Reply::err(404, "TOPIC_NOT_FOUND"),
        Err(AdminError::ChannelNotFound) => Reply::err(404, "CHANNEL_NOT_FOUND"),
        Err(AdminError::Exiting) => Reply::err(503, "EXITING"),
    }
}

async fn topic_op(conn: &HttpConn, op: &str, q: &str) -> Reply {
    if !query_is_valid(q) {
        return Reply::err(400, "INVALID_REQUEST");
    }
    let Some(topic) = query_get(q, "topic").map(|t| t.into_owned()) else {
        return Reply::err(400, "MISSING_ARG_TOPIC");
    };
    // create and empty validate the name; delete, pause and unpause do not
    // (an invalid name is simply not found, as in NSQ).
    if matches!(op, "create" | "empty") && !is_valid_topic_name(topic.as_bytes()) {
        return Reply::err(400, "INVALID_TOPIC");
    }
    if !is_valid_topic_name(topic.as_bytes()) {
        return Reply::err(404, "TOPIC_NOT_FOUND");
    }
    let op = match op {
        "create" => AdminOp::CreateTopic(topic),
        "delete" => AdminOp::DeleteTopic(topic),
        "empty" => AdminOp::EmptyTopic(topic),
        pause => AdminOp::PauseTopic {
            topic,
            paused: pause == "pause",
        },
    };
    admin_reply(admin(conn, op).await)
}

/// `topic=` and `channel=` of the `/channel/*` endpoints, checked in NSQ's
/// order.
pub(crate) fn channel_params(q: &str) -> Result<ChannelRef, Reply> {
    if !query_is_valid(q) {
        return Err(Reply::err(400, "INVALID_REQUEST"));
    }
    let Some(topic) = query_get(q, "topic").map(|t| t.into_owned()) else {
        return Err(Reply::err(400, "MISSING_ARG_TOPIC"));
    };
    if !is_valid_topic_name(topic.as_bytes()) {
        return Err(Reply::err(400, "INVALID_ARG_TOPIC"));
    }
    let Some(channel) = query_get(q, "channel").map(|c| c.into_owned()) else {
        return Err(Reply::err(400, "MISSING_ARG_CHANNEL"));
    };
    if !is_valid_channel_name(channel.as_bytes()) {
        return Err(Reply::err(400, "INVALID_ARG_CHANNEL"));
    }
    Ok(ChannelRef { topic, channel })
}

async fn channel_op(conn: &HttpConn, op: &str, q: &str) -> Reply {
    let channel = match channel_params(q) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let op = match op {
        "create" => AdminOp::CreateChannel(channel),
        "delete" => AdminOp::DeleteChannel(channel),
        "empty" => AdminOp::EmptyChannel(channel),
        pause => AdminOp::PauseChannel {
            channel,
            paused: pause == "pause",
        },
    };
    admin_reply(admin(conn, op).await)
}

/// Most messages one `/channel/peek` returns.
const PEEK_MAX: usize = 100;

/// `GET /channel/peek?topic=&channel=&n=` (extension, NSQ #848): up to `n`
/// (default 10, at most 100) messages queued in the channel's memory,
/// oldest first, without consuming them: `{"messages":[{"id", "timestamp",
/// "attempts", "body" (UTF-8, lossy), "body_base64"}]}`. Messages on disk
/// and in flight are not shown.
async fn peek(conn: &HttpConn, q: &str) -> Reply {
    let channel = match channel_params(q) {
        Ok(c) => c,
        Err(reply) => return reply,
    };
    let n = match query_get(q, "n") {
        None => 10,
        Some(v) => match v.parse::<usize>() {
            Ok(n) => n.min(PEEK_MAX),
            Err(_) => return Reply::err(400, "INVALID_ARG_N"),
        },
    };
    let owner = conn.shard.owner_of(&channel.topic);
    let result = on_owner(
        conn,
        owner,
        channel,
        |shard, channel| shard.peek(&channel, n),
        |channel, reply| ShardMsg::Peek { channel, n, reply },
    )
    .await;
    match result {
        Ok(messages) => {
            let messages: Vec<serde_json::Value> = messages
                .iter()
                .map(|m| {
                    serde_json::json!({
                        "id": String::from_utf8_lossy(&m.id.to_hex()),
                        "timestamp": m.timestamp,
                        "attempts": m.attempts,
                        "body": String::from_utf8_lossy(&m.body),
                        "body_base64": nsq_protocol::base64::encode(&m.body),
                    })
                })
                .collect();
            Reply::json(&serde_json::json!({ "messages": messages }))
        }
        Err(e) => admin_reply(Err(e)),
    }
}

/// Gather every shard's part of `/stats` (each shard answers between its
/// own tasks; none is stopped).
pub(crate) async fn gather(conn: &HttpConn, filter: &StatsFilter) -> Vec<ShardStats> {
    let shard = &conn.shard;
    let waiting = request_stats(&shard.ctx.mesh, filter, Some(shard.id));
    let mut parts = vec![shard.stats(filter)];
    for rx in waiting {
        if let Ok(part) = rx.recv_async().await {
            parts.push(part);
        }
    }
    parts
}

/// This process's memory figures under Go's names
/// (docs/compatibility.md#go-runtime).
pub(crate) fn memory_stats() -> MemoryStats {
    // SAFETY: mallinfo2 only reads glibc's allocator statistics.
    let mi = unsafe { libc::mallinfo2() };
    MemoryStats {
        heap_objects: 0,
        heap_idle_bytes: mi.fordblks as u64,
        heap_in_use_bytes: mi.uordblks as u64,
        heap_released_bytes: mi.fsmblks as u64,
        gc_pause_usec_100: 0,
        gc_pause_usec_99: 0,
        gc_pause_usec_95: 0,
        next_gc_bytes: crate::http::handlers::process::rss_bytes(),
        gc_total_runs: 0,
    }
}

#[path = "process.rs"]
pub(crate) mod process;

/// Build the whole `/stats` answer.
pub(crate) async fn collect_stats(
    conn: &HttpConn,
    filter: &StatsFilter,
    include_mem: bool,
) -> Stats {
    let parts = gather(conn, filter).await;
    let found = filter.topic.is_none() || parts.iter().any(|p| p.topic_found);
    let mut topics: Vec<_> = parts
        .iter()
        .flat_map(|p| p.topics.iter().cloned())
        .collect();
    topics.sort_by(|a, b| a.topic_name.cmp(&b.topic_name));
    let producers: Vec<_> = parts.into_iter().flat_map(|p| p.producers).collect();
    Stats {
        version: NSQ_VERSION.into(),
        health: conn
            .shard
            .ctx
            .health()
            .map_or_else(|| "OK".into(), |why| format!("NOK - {why}")),
        draining: conn.shard.ctx.drain.is_draining(),
        start_time: conn.shard.ctx.start_time,
        topics: found.then_some(topics),
        memory: include_mem.then(memory_stats),
        producers: (found && !producers.is_empty()).then_some(producers),
    }
}

async fn stats(conn: &HttpConn, q: &str) -> Reply {
    if !query_is_valid(q) {
        return Reply::err(400, "INVALID_REQUEST");
    }
    // Unrecognised values of the two booleans count as true.
    let flag = |name: &str| query_get(q, name).is_none_or(|v| parse_bool(&v).unwrap_or(true));
    let filter = StatsFilter {
        topic: query_get(q, "topic")
            .map(|t| t.into_owned())
            .filter(|t| !t.is_empty()),
        channel: query_get(q, "channel")
            .map(|c| c.into_owned())
            .filter(|c| !c.is_empty()),
        include_clients: flag("include_clients"),
    };
    let stats = collect_stats(conn, &filter, flag("include_mem")).await;
    if query_get(q, "format").as_deref() == Some("json") {
        Reply::json(&stats)
    } else {
        let now = crate::shard::wall_clock_ns() / 1_000_000_000;
        let build = format!("rust, nsq-rs {}", env!("CARGO_PKG_VERSION"));
        Reply::Text(nsq_protocol::api::stats_text::render_text(&stats, now, &build).into_bytes())
    }
}

async fn metrics(conn: &HttpConn) -> Reply {
    let filter = StatsFilter {
        include_clients: false,
        ..StatsFilter::default()
    };
    let stats = collect_stats(conn, &filter, false).await;
    let figures = process::figures(conn.shard.ctx.start_time);
    Reply::Plain(
        "text/plain; version=0.0.4; charset=utf-8",
        nsq_protocol::api::metrics::render_prometheus(&stats, &figures).into_bytes(),
    )
}
