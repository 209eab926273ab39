//! Routing and the handlers of nsqadmin's HTTP API (docs/nsqadmin.md#api), all
//! under `--base-path`: the JSON API under `/api`, `/config/:opt`, the
//! static assets and the page routes (every one serves `index.html`; the
//! browser renders the page).
//!
//! Answers are NSQ's "V1" format (docs/http-api.md#conventions): JSON without
//! envelope, errors `{"message":…}`. Reads that some upstreams failed answer
//! 200 with `"message":"WARNING: …"`; when every upstream failed, 502
//! `UPSTREAM_ERROR: …`. Every mutating endpoint answers 403 `FORBIDDEN` to a
//! user not in `--admin-user`.

use std::collections::BTreeMap;

use nsq_protocol::http::{percent_decode, query_get};
use nsq_protocol::names::{is_valid_channel_name, is_valid_topic_name};
use serde::Serialize;

use crate::acl::is_admin;
use crate::app::App;
use crate::cluster::{Partial, Producer};
use crate::model::{self, ChannelStats, TopicStats};
use crate::notify;
use crate::server::{Answer, Request};
use crate::upstream::q;

/// A value plus nsqadmin's `message` (Go embeds the struct and adds it).
#[derive(Serialize)]
struct WithMessage<'a, T: Serialize> {
    #[serde(flatten)]
    inner: &'a T,
    message: String,
}

/// `""`, or `WARNING: <errors>`.
fn warn_msg(errors: &[String]) -> String {
    if errors.is_empty() {
        String::new()
    } else {
        format!("WARNING: {}", errors.join("; "))
    }
}

pub(crate) fn upstream_error(e: &str) -> Answer {
    crate::log!(Error, "{e}");
    Answer::error(502, &format!("UPSTREAM_ERROR: {e}"))
}

fn with_message<T: Serialize>(value: &T, errors: &[String]) -> Answer {
    Answer::json(&WithMessage {
        inner: value,
        message: warn_msg(errors),
    })
}

/// Unwrap a cluster query, or return its 502. A partial failure adds one
/// message (NSQ joins a query's errors with newlines, messages with `; `).
macro_rules! up {
    ($res:expr, $errors:ident) => {
        match $res {
            Ok(Partial { value, errors }) => {
                if !errors.is_empty() {
                    $errors.push(errors.join("\n"));
                }
                value
            }
            Err(e) => return upstream_error(&e),
        }
    };
}

/// The page routes the browser renders (all serve `index.html`).
fn is_page(seg: &[String]) -> bool {
    matches!(
        seg.iter()
            .map(String::as_str)
            .collect::<Vec<_>>()
            .as_slice(),
        [] | ["topics"]
            | ["topics", _]
            | ["topics", _, _]
            | ["nodes"]
            | ["nodes", _]
            | ["counter"]
            | ["lookup"]
    )
}

/// Answer one request.
pub fn handle(app: &App, req: &Request) -> Answer {
    crate::metrics::count_request();
    let base = app.opts.base_path.as_str();
    let rel = if base == "/" {
        Some(req.path.as_str())
    } else if req.path == base {
        Some("/")
    } else {
        req.path.strip_prefix(base).filter(|r| r.starts_with('/'))
    };
    let Some(rel) = rel else {
        return Answer::error(404, "NOT_FOUND");
    };
    let seg: Vec<String> = rel
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(s).into_owned())
        .collect();
    let s: Vec<&str> = seg.iter().map(String::as_str).collect();
    let m = if req.method == "HEAD" {
        "GET"
    } else {
        req.method.as_str()
    };
    let allowed: &[&str] = match s.as_slice() {
        ["ping"] | ["static", _] | ["fonts", _] | ["metrics"] => &["GET"],
        _ if is_page(&seg) => &["GET"],
        ["api", "topics"] => &["GET", "POST"],
        ["api", "topics", _] | ["api", "topics", _, _] => &["GET", "POST", "DELETE"],
        ["api", "topics", _, _, "peek"] => &["GET"],
        ["api", "nodes"]
        | ["api", "counter"]
        | ["api", "graphite"]
        | ["api", "stats", "topics"] => &["GET"],
        ["api", "nodes", _] => &["GET", "POST", "DELETE"],
        ["render"] if app.opts.flags.proxy_graphite => &["GET"],
        ["config", _] => &["GET", "PUT"],
        _ => return Answer::error(404, "NOT_FOUND"),
    };
    if !allowed.contains(&m) {
        let mut a = Answer::error(405, "METHOD_NOT_ALLOWED");
        a.headers.push(("Allow".into(), allowed.join(", ")));
        return a;
    }
    match (m, s.as_slice()) {
        (_, ["ping"]) => Answer::plain("text/plain; charset=utf-8", b"OK".to_vec()),
        (_, ["static", name]) | (_, ["fonts", name]) => crate::assets::asset(app, name),
        (_, ["metrics"]) => crate::metrics::render(),
        ("GET", ["api", "topics"]) => topics(app, req),
        ("POST", ["api", "topics"]) => admin(app, req, create_topic_channel),
        ("GET", ["api", "topics", t]) => topic(app, t),
        ("GET", ["api", "topics", t, c]) => channel(app, t, c),
        ("GET", ["api", "topics", t, c, "peek"]) => peek(app, req, t, c),
        ("POST", ["api", "topics", t]) => admin(app, req, |a, r| action(a, r, t, "")),
        ("POST", ["api", "topics", t, c]) => admin(app, req, |a, r| action(a, r, t, c)),
        ("DELETE", ["api", "topics", t]) => admin(app, req, |a, r| delete(a, r, t, "")),
        ("DELETE", ["api", "topics", t, c]) => admin(app, req, |a, r| delete(a, r, t, c)),
        ("GET", ["api", "nodes"]) => nodes(app),
        ("GET", ["api", "nodes", n]) => node(app, req, n),
        ("POST", ["api", "nodes", n]) => admin(app, req, |a, r| node_action(a, r, n)),
        ("DELETE", ["api", "nodes", n]) => admin(app, req, |a, r| tombstone(a, r, n)),
        ("GET", ["api", "counter"]) => counter(app),
        ("GET", ["api", "graphite"]) => graphite(app, req),
        ("GET", ["api", "stats", "topics"]) => topics_summary(app),
        ("GET", ["render"]) => render(app, req),
        (_, ["config", opt]) => crate::config::handle(app, req, opt),
        _ => crate::assets::index(app, req),
    }
}

/// Run a mutating handler for admins only.
fn admin(app: &App, req: &Request, f: impl FnOnce(&App, &Request) -> Answer) -> Answer {
    let user = req.header(&app.opts.flags.acl_http_header);
    if !is_admin(&app.opts.flags.admin_user, user) {
        return Answer::error(403, "FORBIDDEN");
    }
    f(app, req)
}

/// The current user's right to act (for the pages).
pub fn request_is_admin(app: &App, req: &Request) -> bool {
    is_admin(
        &app.opts.flags.admin_user,
        req.header(&app.opts.flags.acl_http_header),
    )
}

fn topics(app: &App, req: &Request) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let topics = up!(cluster.topics(), errors);
    if query_get(&req.query, "inactive").as_deref() == Some("true") {
        let mut inactive: BTreeMap<String, Option<Vec<String>>> = BTreeMap::new();
        if cluster.lookupd_mode() {
            let names = topics.unwrap_or_default();
            let found = crate::upstream::fan_out(&names, |t| {
                let producers = cluster
                    .topic_producers(t)
                    .map(|p| p.value)
                    .unwrap_or_default();
                if producers.is_empty() {
                    let chans = cluster
                        .lookupd_topic_channels(t)
                        .map(|p| p.value)
                        .unwrap_or_default();
                    Some((t.clone(), chans))
                } else {
                    None
                }
            });
            inactive.extend(found.into_iter().flatten());
        }
        #[derive(Serialize)]
        struct R {
            topics: BTreeMap<String, Option<Vec<String>>>,
            message: String,
        }
        return Answer::json(&R {
            topics: inactive,
            message: warn_msg(&errors),
        });
    }
    #[derive(Serialize)]
    struct R {
        topics: Option<Vec<String>>,
        message: String,
    }
    Answer::json(&R {
        topics,
        message: warn_msg(&errors),
    })
}

fn topic(app: &App, topic: &str) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.topic_producers(topic), errors);
    let per_node = up!(cluster.nsqd_stats(&producers, topic, "", false), errors);
    let mut agg = TopicStats::aggregate(topic);
    for t in &per_node {
        agg.add(t);
    }
    with_message(&agg, &errors)
}

fn channel(app: &App, topic: &str, channel: &str) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.topic_producers(topic), errors);
    let per_node = up!(cluster.nsqd_stats(&producers, topic, channel, true), errors);
    let mut agg: Option<ChannelStats> = None;
    for c in per_node
        .iter()
        .flat_map(|t| t.channels.iter().flatten())
        .filter(|c| c.channel_name == channel)
    {
        agg.get_or_insert_with(|| ChannelStats::aggregate(topic, channel))
            .add(c);
    }
    match agg {
        Some(c) => with_message(&c, &errors),
        // Go embeds a nil *ChannelStats: only the message is left.
        None => with_message(&serde_json::Map::new(), &errors),
    }
}

fn nodes(app: &App) -> Answer {
    let mut errors = Vec::new();
    let producers = up!(app.cluster().producers(), errors);
    #[derive(Serialize)]
    struct R {
        nodes: Option<Vec<Producer>>,
        message: String,
    }
    Answer::json(&R {
        nodes: (!producers.is_empty()).then_some(producers),
        message: warn_msg(&errors),
    })
}

/// The producer named `node` (its `broadcast_address:http_port` or HTTP
/// address).
pub(crate) fn find_node(producers: Vec<Producer>, node: &str) -> Option<Producer> {
    producers
        .into_iter()
        .find(|p| p.node() == node || p.http_addr == node)
}

/// `GET /api/nodes/:node`. Extension: `?include_clients=false` leaves the
/// client lists out (the node page shows counts only; a node with 10 000
/// clients is megabytes otherwise); `total_clients` is the same.
fn node(app: &App, req: &Request, node: &str) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.producers(), errors);
    let Some(producer) = find_node(producers, node) else {
        return Answer::error(404, "NODE_NOT_FOUND");
    };
    let clients = query_get(&req.query, "include_clients").as_deref() != Some("false");
    let (topics, drains) = up!(
        cluster.nsqd_stats_and_drains(&[producer], "", "", clients),
        errors
    );
    let total_clients: usize = topics
        .iter()
        .flat_map(|t| t.channels.iter().flatten())
        .map(|c| {
            let listed = c.clients.as_ref().map_or(0, Vec::len);
            listed.max(c.client_count.max(0) as usize)
        })
        .sum();
    let total_messages: u64 = topics.iter().map(|t| t.message_count).sum();
    #[derive(Serialize)]
    struct R<'a> {
        node: &'a str,
        topics: Option<Vec<TopicStats>>,
        total_messages: u64,
        total_clients: usize,
        /// Extension: the node drains (docs/nsqadmin.md#draining); absent
        /// otherwise.
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        draining: bool,
        message: String,
    }
    Answer::json(&R {
        node,
        topics: (!topics.is_empty()).then_some(topics),
        total_messages,
        total_clients,
        draining: !drains.is_empty(),
        message: warn_msg(&errors),
    })
}

fn counter(app: &App) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.producers(), errors);
    let per_node = up!(cluster.nsqd_stats(&producers, "", "", false), errors);
    #[derive(Serialize)]
    struct R {
        stats: BTreeMap<String, model::CounterStats>,
        message: String,
    }
    Answer::json(&R {
        stats: model::counter(&per_node),
        message: warn_msg(&errors),
    })
}

/// Extension for the topics page: per topic, the cluster-wide depth,
/// message count, channel count and paused flag (no clients), so that the
/// list shows figures and live rates without one request per topic.
fn topics_summary(app: &App) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.producers(), errors);
    // Unlike /api/counter (NSQ: 502 when there is no nsqd), an empty
    // cluster is an empty list here.
    let per_node = if producers.is_empty() {
        Vec::new()
    } else {
        up!(cluster.nsqd_stats(&producers, "", "", false), errors)
    };
    #[derive(Serialize)]
    struct Row {
        topic_name: String,
        depth: i64,
        message_count: u64,
        channel_count: usize,
        node_count: usize,
        paused: bool,
    }
    #[derive(Serialize)]
    struct R {
        topics: Vec<Row>,
        message: String,
    }
    let topics = model::aggregate_topics(&per_node)
        .into_iter()
        .map(|t| Row {
            depth: t.depth,
            message_count: t.message_count,
            channel_count: t.channels.as_ref().map_or(0, Vec::len),
            node_count: t.nodes.as_ref().map_or(0, Vec::len),
            paused: t.paused,
            topic_name: t.topic_name,
        })
        .collect();
    Answer::json(&R {
        topics,
        message: warn_msg(&errors),
    })
}

/// Extension: up to `n` queued messages of a channel from each producer
/// whose nsqd offers `GET /channel/peek`; 501 `PEEK_UNAVAILABLE` when none does.
fn peek(app: &App, req: &Request, topic: &str, channel: &str) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.topic_producers(topic), errors);
    let n: u32 = query_get(&req.query, "n")
        .and_then(|n| n.parse().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let path = format!(
        "/channel/peek?topic={}&channel={}&n={n}",
        q(topic),
        q(channel)
    );
    let results = crate::upstream::fan_out(&producers, |p| {
        (
            p.node(),
            cluster
                .client
                .get_json::<serde_json::Value>(&p.http_addr, &path),
        )
    });
    let mut nodes = BTreeMap::new();
    let mut unavailable = 0;
    for (node, r) in results {
        match r {
            Ok(v) => {
                nodes.insert(node, v);
            }
            Err(e) if matches!(e.status(), Some(404 | 405)) => unavailable += 1,
            Err(e) => errors.push(e.to_string()),
        }
    }
    if !producers.is_empty() && unavailable == producers.len() {
        return Answer::error(501, "PEEK_UNAVAILABLE");
    }
    #[derive(Serialize)]
    struct R {
        nodes: BTreeMap<String, serde_json::Value>,
        message: String,
    }
    Answer::json(&R {
        nodes,
        message: warn_msg(&errors),
    })
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct TopicChannelBody {
    topic: String,
    channel: String,
}

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct ActionBody {
    action: String,
    /// `set_max_attempts` (extension).
    max_attempts: Option<u64>,
    /// `set_max_attempts`, optional (extension).
    dead_letter_topic: String,
}

fn decode<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Answer> {
    serde_json::from_slice(body).map_err(|e| Answer::error(400, &e.to_string()))
}

/// An action's answer: `{"message": ""|"WARNING: …"}`. As NSQ, every
/// upstream call that failed is a warning (one message, a line each); only
/// failing to find the producers at all is a 502.
pub(crate) fn done(errors: &[String]) -> Answer {
    #[derive(Serialize)]
    struct R {
        message: String,
    }
    let message = if errors.is_empty() {
        String::new()
    } else {
        format!("WARNING: {}", errors.join("\n"))
    };
    Answer::json(&R { message })
}

fn http_addrs(producers: &[Producer]) -> Vec<String> {
    producers.iter().map(|p| p.http_addr.clone()).collect()
}

fn create_topic_channel(app: &App, req: &Request) -> Answer {
    let body: TopicChannelBody = match decode(&req.body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if !is_valid_topic_name(body.topic.as_bytes()) {
        return Answer::error(400, "INVALID_TOPIC");
    }
    if !body.channel.is_empty() && !is_valid_channel_name(body.channel.as_bytes()) {
        return Answer::error(400, "INVALID_CHANNEL");
    }
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let tq = format!("topic={}", q(&body.topic));
    let cq = format!("{tq}&channel={}", q(&body.channel));
    if cluster.lookupd_mode() {
        errors.extend(cluster.post_all(&cluster.lookupds, &format!("/topic/create?{tq}")));
        if !body.channel.is_empty() {
            errors.extend(cluster.post_all(&cluster.lookupds, &format!("/channel/create?{cq}")));
            let producers = up!(cluster.topic_producers(&body.topic), errors);
            errors.extend(
                cluster.post_all(&http_addrs(&producers), &format!("/channel/create?{cq}")),
            );
        }
    } else {
        // Static mode (no lookupd to register with): create on every nsqd.
        errors.extend(cluster.post_all(&cluster.nsqds, &format!("/topic/create?{tq}")));
        if !body.channel.is_empty() {
            errors.extend(cluster.post_all(&cluster.nsqds, &format!("/channel/create?{cq}")));
        }
    }
    notify::send(
        app,
        notify::action(app, req, "create_topic", &body.topic, "", ""),
    );
    if !body.channel.is_empty() {
        notify::send(
            app,
            notify::action(app, req, "create_channel", &body.topic, &body.channel, ""),
        );
    }
    done(&errors)
}

fn action(app: &App, req: &Request, topic: &str, channel: &str) -> Answer {
    let body: ActionBody = match decode(&req.body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if !channel.is_empty() {
        match body.action.as_str() {
            "redrive" => return crate::extensions::redrive(app, req, topic, channel),
            "set_max_attempts" => {
                return crate::extensions::set_max_attempts(
                    app,
                    req,
                    topic,
                    channel,
                    body.max_attempts,
                    &body.dead_letter_topic,
                )
            }
            _ => {}
        }
    }
    if !["pause", "unpause", "empty"].contains(&body.action.as_str()) {
        return Answer::error(400, "INVALID_ACTION");
    }
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let producers = up!(cluster.topic_producers(topic), errors);
    let (path, what) = if channel.is_empty() {
        (
            format!("/topic/{}?topic={}", body.action, q(topic)),
            format!("{}_topic", body.action),
        )
    } else {
        (
            format!(
                "/channel/{}?topic={}&channel={}",
                body.action,
                q(topic),
                q(channel)
            ),
            format!("{}_channel", body.action),
        )
    };
    errors.extend(cluster.post_all(&http_addrs(&producers), &path));
    notify::send(app, notify::action(app, req, &what, topic, channel, ""));
    done(&errors)
}

fn delete(app: &App, req: &Request, topic: &str, channel: &str) -> Answer {
    let cluster = app.cluster();
    let mut errors = Vec::new();
    // The producers first: lookupd forgets them once the topic is deleted.
    let producers = up!(cluster.topic_producers(topic), errors);
    let path = if channel.is_empty() {
        format!("/topic/delete?topic={}", q(topic))
    } else {
        format!("/channel/delete?topic={}&channel={}", q(topic), q(channel))
    };
    if cluster.lookupd_mode() {
        errors.extend(cluster.post_all(&cluster.lookupds, &path));
    }
    errors.extend(cluster.post_all(&http_addrs(&producers), &path));
    let what = if channel.is_empty() {
        "delete_topic"
    } else {
        "delete_channel"
    };
    notify::send(app, notify::action(app, req, what, topic, channel, ""));
    done(&errors)
}

/// `POST /api/nodes/:node` `{"action":"drain"}` (extension).
fn node_action(app: &App, req: &Request, node: &str) -> Answer {
    let body: ActionBody = match decode(&req.body) {
        Ok(b) => b,
        Err(a) => return a,
    };
    if body.action != "drain" {
        return Answer::error(400, "INVALID_ACTION");
    }
    crate::extensions::drain(app, req, node)
}

fn tombstone(app: &App, req: &Request, node: &str) -> Answer {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        topic: String,
    }
    let Ok(body) = serde_json::from_slice::<Body>(&req.body) else {
        return Answer::error(400, "INVALID_BODY");
    };
    if !is_valid_topic_name(body.topic.as_bytes()) {
        return Answer::error(400, "INVALID_TOPIC");
    }
    let cluster = app.cluster();
    let mut errors = Vec::new();
    let tq = format!("topic={}", q(&body.topic));
    if cluster.lookupd_mode() {
        errors.extend(cluster.post_all(
            &cluster.lookupds,
            &format!("/topic/tombstone?{tq}&node={}", q(node)),
        ));
    }
    let addr = match cluster.producers() {
        Ok(p) => find_node(p.value, node).map_or_else(|| node.to_string(), |p| p.http_addr),
        Err(_) => node.to_string(),
    };
    // NSQ asks the node itself first: an nsqd that does not answer is a 502.
    if let Err(e) = cluster.client.get_json::<serde_json::Value>(&addr, "/info") {
        return upstream_error(&format!("failed to query any nsqd: {e}"));
    }
    errors.extend(cluster.post_all(&[addr], &format!("/topic/delete?{tq}")));
    notify::send(
        app,
        notify::action(app, req, "tombstone_topic_producer", &body.topic, "", node),
    );
    done(&errors)
}

/// `GET /api/graphite?metric=rate&target=…`: the per-second rate of the
/// window [-2 intervals, -1 interval] from graphite's `/render`. As NSQ:
/// 500 `INTERNAL_ERROR` when graphite cannot be asked (no `--graphite-url`
/// included) or gives no data point, `N/A` for a negative one.
fn graphite(app: &App, req: &Request) -> Answer {
    if query_get(&req.query, "metric").as_deref() != Some("rate") {
        return Answer::error(400, "INVALID_ARG_METRIC");
    }
    let Some(target) = query_get(&req.query, "target") else {
        return Answer::error(400, "INVALID_ARG_TARGET");
    };
    let failed = || Answer::error(500, "INTERNAL_ERROR");
    let Some((host, base)) = graphite_base(app) else {
        return failed();
    };
    let secs = app.opts.flags.statsd_interval.as_secs().max(1);
    let path = format!(
        "{base}/render?target={}&from=-{}sec&until=-{}sec&format=json",
        q(&target),
        secs * 2,
        secs
    );
    let value = match app.client.get_json::<serde_json::Value>(&host, &path) {
        Ok(v) => v
            .get(0)
            .and_then(|s| s.get("datapoints"))
            .and_then(|d| d.get(0))
            .and_then(|p| p.get(0))
            .and_then(serde_json::Value::as_f64),
        Err(e) => {
            crate::log!(Error, "graphite request failed - {e}");
            None
        }
    };
    let Some(x) = value else {
        return failed();
    };
    #[derive(Serialize)]
    struct R {
        rate: String,
    }
    Answer::json(&R {
        rate: if x < 0.0 {
            "N/A".into()
        } else {
            format!("{:.2}", x / secs as f64)
        },
    })
}

/// `--graphite-url` as (host:port, path prefix).
fn graphite_base(app: &App) -> Option<(String, String)> {
    let u = nsq_tools::httpc::Url::parse(&app.opts.flags.graphite_url).ok()?;
    if app.opts.flags.graphite_url.is_empty() {
        return None;
    }
    Some((u.host, u.path.trim_end_matches('/').to_string()))
}

/// `--proxy-graphite`: `<base>/render` forwarded to graphite.
fn render(app: &App, req: &Request) -> Answer {
    let Some((host, base)) = graphite_base(app) else {
        return Answer::error(502, "UPSTREAM_ERROR: no --graphite-url");
    };
    match app
        .client
        .call("GET", &host, &format!("{base}/render?{}", req.query))
    {
        Ok(body) => Answer::plain("application/json", body),
        Err(e) => upstream_error(&e.to_string()),
    }
}
