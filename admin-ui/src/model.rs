//! The JSON shapes of nsqadmin's API, key for key and `null` for `null` as
//! NSQ 1.3.0's nsqadmin writes them (docs/nsqadmin.md#api, which lists
//! where we differ), and the pure aggregation of per-nsqd `/stats` into
//! them.
//!
//! A per-node entry is what one nsqd reported (`node` = its
//! `broadcast_address:http_port`, `nodes` null, `clients` as nsqd sent
//! them: null without `include_clients`). An aggregate has `node` `"*"` and
//! lists its parts in `nodes`. Where NSQ lists a channel present on a
//! single nsqd inside a topic, it shows that node's entry itself, and so
//! do we. Unlike NSQ (whose aggregation writes into the first node's
//! entries), the per-node entries keep their own figures and an aggregate
//! lists every node, the first one included.

use std::collections::BTreeMap;

use nsq_protocol::api::stats as nsqd;
use nsq_protocol::api::stats::go_float;
use serde::Serialize;

/// One quantile (a Go `map[string]float64`: keys sorted).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentile {
    /// Mean over the nodes, weighted by their sample counts.
    #[serde(serialize_with = "go_float")]
    pub average: f64,
    /// Samples behind it.
    #[serde(serialize_with = "go_float")]
    pub count: f64,
    /// Largest node value (ns).
    #[serde(serialize_with = "go_float")]
    pub max: f64,
    /// Smallest node value (ns).
    #[serde(serialize_with = "go_float")]
    pub min: f64,
    /// The quantile, e.g. 0.99.
    #[serde(serialize_with = "go_float")]
    pub quantile: f64,
    /// The value nsqd reported: in a node's entry (and, as in NSQ, kept
    /// in an aggregate started from one).
    #[serde(
        serialize_with = "go_float_opt",
        skip_serializing_if = "Option::is_none"
    )]
    pub value: Option<f64>,
}

fn go_float_opt<S: serde::Serializer>(v: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    go_float(&v.unwrap_or_default(), s)
}

/// `e2e_processing_latency` as nsqadmin shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct E2e {
    /// Samples.
    pub count: u64,
    /// Per quantile (null when no node reports percentiles).
    pub percentiles: Option<Vec<Percentile>>,
    /// Topic: empty in a node's entry (nsqd does not send it).
    pub topic: String,
    /// Channel: likewise.
    pub channel: String,
    /// `*` once aggregated, else empty.
    pub host: String,
}

impl E2e {
    /// One node's figures, as NSQ reads them from `/stats`.
    fn from_node(e: &nsqd::E2eLatency) -> E2e {
        E2e {
            count: e.count,
            percentiles: e.percentiles.as_ref().map(|ps| {
                ps.iter()
                    .map(|p| Percentile {
                        average: p.value,
                        count: e.count as f64,
                        max: p.value,
                        min: p.value,
                        quantile: p.quantile,
                        value: Some(p.value),
                    })
                    .collect()
            }),
            ..E2e::default()
        }
    }

    /// An empty aggregate.
    fn aggregate(topic: &str, channel: &str) -> E2e {
        E2e {
            topic: topic.into(),
            channel: channel.into(),
            host: "*".into(),
            ..E2e::default()
        }
    }

    /// Fold another node's figures in (NSQ's merge: counts summed, the
    /// average weighted by counts; the min is the smallest value).
    fn add(&mut self, other: &E2e) {
        self.host = "*".into();
        self.count += other.count;
        for p in other.percentiles.iter().flatten() {
            let mine = self.percentiles.get_or_insert_with(Vec::new);
            match mine.iter_mut().find(|m| m.quantile == p.quantile) {
                Some(m) => {
                    m.max = m.max.max(p.max);
                    m.min = m.min.min(p.min);
                    m.count += p.count;
                    m.average = if m.count == 0.0 {
                        0.0
                    } else {
                        m.average + (p.average - m.average) * p.count / m.count
                    };
                }
                None => mine.push(Percentile {
                    average: if p.count == 0.0 { 0.0 } else { p.average },
                    value: None,
                    ..p.clone()
                }),
            }
        }
    }
}

/// A client connection as nsqadmin shows it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ClientStats {
    /// The nsqd it is connected to (`broadcast_address:http_port`).
    pub node: String,
    /// `ip:port`.
    pub remote_address: String,
    /// `V2`.
    pub version: String,
    /// IDENTIFY `client_id`.
    pub client_id: String,
    /// IDENTIFY `hostname`.
    pub hostname: String,
    /// IDENTIFY `user_agent`.
    pub user_agent: String,
    /// Connect time, Unix seconds.
    pub connect_ts: i64,
    /// Connected for, ns (whole seconds).
    pub connected: i64,
    /// In flight.
    pub in_flight_count: i64,
    /// RDY.
    pub ready_count: i64,
    /// FINs.
    pub finish_count: u64,
    /// REQs.
    pub requeue_count: u64,
    /// Messages sent.
    pub message_count: u64,
    /// Sampling.
    pub sample_rate: i32,
    /// Deflate.
    pub deflate: bool,
    /// Snappy.
    pub snappy: bool,
    /// AUTHed.
    pub authed: bool,
    /// Auth identity.
    pub auth_identity: String,
    /// Auth identity URL.
    pub auth_identity_url: String,
    /// TLS.
    pub tls: bool,
    /// TLS cipher suite.
    pub tls_cipher_suite: String,
    /// TLS version.
    pub tls_version: String,
    /// ALPN.
    pub tls_negotiated_protocol: String,
    /// Mutual ALPN.
    pub tls_negotiated_protocol_is_mutual: bool,
}

impl ClientStats {
    fn from_nsqd(c: &nsqd::ClientStats, node: &str, now_secs: i64) -> ClientStats {
        ClientStats {
            node: node.into(),
            remote_address: c.remote_address.clone(),
            version: c.version.clone(),
            client_id: c.client_id.clone(),
            hostname: c.hostname.clone(),
            user_agent: c.user_agent.clone(),
            connect_ts: c.connect_ts,
            connected: (now_secs - c.connect_ts).max(0) * 1_000_000_000,
            in_flight_count: c.in_flight_count,
            ready_count: c.ready_count,
            finish_count: c.finish_count,
            requeue_count: c.requeue_count,
            message_count: c.message_count,
            sample_rate: c.sample_rate,
            deflate: c.deflate,
            snappy: c.snappy,
            authed: c.authed,
            auth_identity: c.auth_identity.clone(),
            auth_identity_url: c.auth_identity_url.clone(),
            tls: c.tls,
            tls_cipher_suite: c.tls_cipher_suite.clone(),
            tls_version: c.tls_version.clone(),
            tls_negotiated_protocol: c.tls_negotiated_protocol.clone(),
            tls_negotiated_protocol_is_mutual: c.tls_negotiated_protocol_is_mutual,
        }
    }
}

/// Order of nodes in an aggregate: by hostname (as NSQ), then node.
fn by_host<T>(key: impl Fn(&T) -> (&str, &str)) -> impl Fn(&T, &T) -> std::cmp::Ordering {
    move |a, b| key(a).cmp(&key(b))
}

/// A channel on one nsqd, or summed over nodes (`node` = `*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChannelStats {
    /// Node, or `*`.
    pub node: String,
    /// nsqd hostname (an aggregate of a channel view: empty).
    pub hostname: String,
    /// Topic.
    pub topic_name: String,
    /// Channel.
    pub channel_name: String,
    /// Depth.
    pub depth: i64,
    /// In memory.
    pub memory_depth: i64,
    /// On disk.
    pub backend_depth: i64,
    /// In flight.
    pub in_flight_count: i64,
    /// Deferred.
    pub deferred_count: i64,
    /// Requeued.
    pub requeue_count: u64,
    /// Timed out.
    pub timeout_count: u64,
    /// Messages.
    pub message_count: u64,
    /// Clients.
    pub client_count: i64,
    /// Per node (aggregates only; else null).
    pub nodes: Option<Vec<ChannelStats>>,
    /// Clients (null when not asked for, or none in an aggregate).
    pub clients: Option<Vec<ClientStats>>,
    /// Paused anywhere.
    pub paused: bool,
    /// Latency.
    pub e2e_processing_latency: Option<E2e>,
    /// Extension (docs/nsqadmin.md#dead-letters): the limit nsqd reports
    /// (the largest over the nodes); these three only when some node
    /// reports them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u16>,
    /// Extension: the dead-letter topic (the first node's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// Extension: messages moved to it (summed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_count: Option<u64>,
}

impl ChannelStats {
    fn from_nsqd(c: &nsqd::ChannelStats, topic: &str, node: &str, host: &str, now: i64) -> Self {
        ChannelStats {
            node: node.into(),
            hostname: host.into(),
            topic_name: topic.into(),
            channel_name: c.channel_name.clone(),
            depth: c.depth,
            memory_depth: c.depth - c.backend_depth,
            backend_depth: c.backend_depth,
            in_flight_count: c.in_flight_count,
            deferred_count: c.deferred_count,
            requeue_count: c.requeue_count,
            timeout_count: c.timeout_count,
            message_count: c.message_count,
            client_count: c.client_count,
            nodes: None,
            clients: c.clients.as_ref().map(|cs| {
                cs.iter()
                    .map(|cl| ClientStats::from_nsqd(cl, node, now))
                    .collect()
            }),
            paused: c.paused,
            e2e_processing_latency: Some(E2e::from_node(&c.e2e_processing_latency)),
            max_attempts: c.max_attempts,
            dead_letter_topic: c.dead_letter_topic.clone(),
            dead_letter_count: c.dead_letter_count,
        }
    }

    /// An empty aggregate for `topic`/`channel` (`/api/topics/:t/:c`).
    pub fn aggregate(topic: &str, channel: &str) -> ChannelStats {
        ChannelStats {
            node: "*".into(),
            topic_name: topic.into(),
            channel_name: channel.into(),
            ..ChannelStats::default()
        }
    }

    /// Fold one node's channel in (NSQ's `ChannelStats.Add`): counters
    /// summed, the node kept in `nodes`, its clients appended.
    pub fn add(&mut self, a: &ChannelStats) {
        self.node = "*".into();
        self.depth += a.depth;
        self.memory_depth += a.memory_depth;
        self.backend_depth += a.backend_depth;
        self.in_flight_count += a.in_flight_count;
        self.deferred_count += a.deferred_count;
        self.requeue_count += a.requeue_count;
        self.timeout_count += a.timeout_count;
        self.message_count += a.message_count;
        self.client_count += a.client_count;
        self.paused |= a.paused;
        self.max_attempts = self.max_attempts.max(a.max_attempts);
        if self.dead_letter_topic.is_none() {
            self.dead_letter_topic.clone_from(&a.dead_letter_topic);
        }
        if let Some(n) = a.dead_letter_count {
            *self.dead_letter_count.get_or_insert(0) += n;
        }
        let nodes = self.nodes.get_or_insert_with(Vec::new);
        nodes.push(a.clone());
        nodes.sort_by(by_host(|n: &ChannelStats| (&n.hostname, &n.node)));
        let (topic, channel) = (self.topic_name.clone(), self.channel_name.clone());
        if let Some(e) = &a.e2e_processing_latency {
            self.e2e_processing_latency
                .get_or_insert_with(|| E2e::aggregate(&topic, &channel))
                .add(e);
        }
        // Appending none keeps a null list null (Go's append to nil).
        if let Some(cs) = a.clients.as_ref().filter(|cs| !cs.is_empty()) {
            let mine = self.clients.get_or_insert_with(Vec::new);
            mine.extend(cs.iter().cloned());
            mine.sort_by(|x, y| {
                (&x.hostname, &x.remote_address, &x.node).cmp(&(
                    &y.hostname,
                    &y.remote_address,
                    &y.node,
                ))
            });
        }
    }

    /// Merge another node's entry of the same channel inside a topic: the
    /// first node's entry grows into the aggregate (NSQ's shape: its
    /// hostname and its `e2e_processing_latency`, now with host `*`).
    fn merge_in_topic(&mut self, a: &ChannelStats) {
        if self.nodes.is_none() {
            self.nodes = Some(vec![self.clone()]);
        }
        self.add(a);
    }
}

/// A topic on one nsqd, or summed over nodes (`node` = `*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TopicStats {
    /// Node, or `*`.
    pub node: String,
    /// nsqd hostname (empty for an aggregate).
    pub hostname: String,
    /// Topic.
    pub topic_name: String,
    /// Depth.
    pub depth: i64,
    /// In memory.
    pub memory_depth: i64,
    /// On disk.
    pub backend_depth: i64,
    /// Messages.
    pub message_count: u64,
    /// Per node (aggregates only; else null).
    pub nodes: Option<Vec<TopicStats>>,
    /// Channels (on one node, or merged; an aggregate without any: null).
    pub channels: Option<Vec<ChannelStats>>,
    /// Paused anywhere.
    pub paused: bool,
    /// Latency (an aggregate of no node: null).
    pub e2e_processing_latency: Option<E2e>,
}

impl TopicStats {
    /// One node's topic from its `/stats`.
    pub fn from_nsqd(t: &nsqd::TopicStats, node: &str, host: &str, now: i64) -> TopicStats {
        TopicStats {
            node: node.into(),
            hostname: host.into(),
            topic_name: t.topic_name.clone(),
            depth: t.depth,
            memory_depth: t.depth - t.backend_depth,
            backend_depth: t.backend_depth,
            message_count: t.message_count,
            nodes: None,
            channels: Some(
                t.channels
                    .iter()
                    .map(|c| ChannelStats::from_nsqd(c, &t.topic_name, node, host, now))
                    .collect(),
            ),
            paused: t.paused,
            e2e_processing_latency: Some(E2e::from_node(&t.e2e_processing_latency)),
        }
    }

    /// An empty aggregate for `topic` (what NSQ answers when no node has it).
    pub fn aggregate(topic: &str) -> TopicStats {
        TopicStats {
            topic_name: topic.into(),
            ..TopicStats::default()
        }
    }

    /// Fold one node's topic in (NSQ's `TopicStats.Add`): counters summed,
    /// channels merged by name (sorted), the node kept in `nodes`.
    pub fn add(&mut self, a: &TopicStats) {
        self.node = "*".into();
        self.depth += a.depth;
        self.memory_depth += a.memory_depth;
        self.backend_depth += a.backend_depth;
        self.message_count += a.message_count;
        self.paused |= a.paused;
        for c in a.channels.iter().flatten() {
            let channels = self.channels.get_or_insert_with(Vec::new);
            match channels
                .iter_mut()
                .find(|m| m.channel_name == c.channel_name)
            {
                Some(m) => m.merge_in_topic(c),
                None => channels.push(c.clone()),
            }
        }
        if let Some(cs) = &mut self.channels {
            cs.sort_by(|x, y| x.channel_name.cmp(&y.channel_name));
        }
        let nodes = self.nodes.get_or_insert_with(Vec::new);
        nodes.push(a.clone());
        nodes.sort_by(by_host(|n: &TopicStats| (&n.hostname, &n.node)));
        let topic = self.topic_name.clone();
        if let Some(e) = &a.e2e_processing_latency {
            self.e2e_processing_latency
                .get_or_insert_with(|| E2e::aggregate(&topic, ""))
                .add(e);
        }
    }
}

/// `/api/counter` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CounterStats {
    /// Node.
    pub node: String,
    /// Topic.
    pub topic_name: String,
    /// Channel.
    pub channel_name: String,
    /// Messages.
    pub message_count: u64,
}

/// `/api/counter` `stats`: `"<topic>:<channel>:<node>"` → count.
pub fn counter(per_node: &[TopicStats]) -> BTreeMap<String, CounterStats> {
    let mut out = BTreeMap::new();
    for t in per_node {
        for c in t.channels.iter().flatten() {
            let key = format!("{}:{}:{}", t.topic_name, c.channel_name, t.node);
            let e = out.entry(key).or_insert_with(|| CounterStats {
                node: t.node.clone(),
                topic_name: t.topic_name.clone(),
                channel_name: c.channel_name.clone(),
                message_count: 0,
            });
            e.message_count += c.message_count;
        }
    }
    out
}

/// Sum per-node topics into one aggregate per topic name (sorted), the
/// nodes taken in NSQ's order (by hostname).
pub fn aggregate_topics(per_node: &[TopicStats]) -> Vec<TopicStats> {
    let mut sorted: Vec<&TopicStats> = per_node.iter().collect();
    sorted.sort_by(|a, b| (&a.hostname, &a.node).cmp(&(&b.hostname, &b.node)));
    let mut by_name: BTreeMap<&str, TopicStats> = BTreeMap::new();
    for t in sorted {
        by_name
            .entry(&t.topic_name)
            .or_insert_with(|| TopicStats::aggregate(&t.topic_name))
            .add(t);
    }
    by_name.into_values().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn node_topic(node: &str, depth: i64, channels: &[(&str, u64, &str)]) -> TopicStats {
        let t = nsqd::TopicStats {
            topic_name: "t".into(),
            depth,
            backend_depth: 1,
            message_count: 10,
            channels: channels
                .iter()
                .map(|(name, count, client)| nsqd::ChannelStats {
                    channel_name: (*name).into(),
                    depth: 2,
                    message_count: *count,
                    client_count: 1,
                    clients: Some(vec![nsqd::ClientStats {
                        client_id: (*client).into(),
                        hostname: (*client).into(),
                        connect_ts: 100,
                        ..Default::default()
                    }]),
                    ..Default::default()
                })
                .collect(),
            e2e_processing_latency: nsqd::E2eLatency {
                count: if node == "a" { 1 } else { 3 },
                percentiles: Some(vec![nsqd::Quantile {
                    quantile: 0.99,
                    value: if node == "a" { 10.0 } else { 30.0 },
                }]),
            },
            ..Default::default()
        };
        TopicStats::from_nsqd(&t, node, &format!("host-{node}"), 105)
    }

    #[test]
    fn sums_across_nodes() {
        let a = node_topic("a", 5, &[("c1", 3, "x"), ("c2", 4, "y")]);
        let b = node_topic("b", 7, &[("c1", 6, "z")]);
        let agg = aggregate_topics(&[b.clone(), a.clone()]);
        assert_eq!(agg.len(), 1);
        let t = &agg[0];
        assert_eq!((t.node.as_str(), t.depth, t.memory_depth), ("*", 12, 10));
        assert_eq!(t.hostname, "");
        assert_eq!(t.message_count, 20);
        let nodes = t.nodes.as_ref().unwrap();
        assert_eq!(
            nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert_eq!(nodes[0], a, "the nodes keep their own figures");
        let chans = t.channels.as_ref().unwrap();
        // c1 on both: the first node's entry grown into an aggregate.
        let c1 = &chans[0];
        assert_eq!((c1.channel_name.as_str(), c1.message_count), ("c1", 9));
        assert_eq!((c1.node.as_str(), c1.hostname.as_str()), ("*", "host-a"));
        assert_eq!(c1.nodes.as_ref().unwrap().len(), 2);
        assert_eq!(c1.clients.as_ref().unwrap().len(), 2);
        assert_eq!(c1.clients.as_ref().unwrap()[0].connected, 5_000_000_000);
        let e = c1.e2e_processing_latency.as_ref().unwrap();
        assert_eq!((e.topic.as_str(), e.host.as_str()), ("", "*"));
        // c2 on one node: that node's entry itself.
        let c2 = &chans[1];
        assert_eq!((c2.node.as_str(), c2.nodes.is_none()), ("a", true));
        let json = serde_json::to_value(t).unwrap();
        // Weighted by the sample counts (1 and 3).
        assert_eq!(
            json["e2e_processing_latency"],
            json!({"count": 4, "topic": "t", "channel": "", "host": "*", "percentiles":
                [{"average": 25, "count": 4, "max": 30, "min": 10, "quantile": 0.99}]})
        );
        assert_eq!(
            json["nodes"][0]["e2e_processing_latency"],
            json!({"count": 1, "topic": "", "channel": "", "host": "", "percentiles":
                [{"average": 10, "count": 1, "max": 10, "min": 10, "quantile": 0.99, "value": 10}]})
        );
        assert_eq!(json["nodes"][0]["nodes"], json!(null));
        let counter = counter(&[a, b]);
        assert_eq!(counter["t:c1:a"].message_count, 3);
        assert_eq!(counter["t:c1:b"].message_count, 6);
        assert_eq!(counter.len(), 3);
    }

    #[test]
    fn null_where_nsq_has_null() {
        let mut t = nsqd::TopicStats {
            topic_name: "t".into(),
            ..Default::default()
        };
        t.channels.push(nsqd::ChannelStats {
            channel_name: "c".into(),
            clients: None,
            ..Default::default()
        });
        let node = TopicStats::from_nsqd(&t, "a", "h", 0);
        let mut agg = TopicStats::aggregate("t");
        assert_eq!(serde_json::to_value(&agg).unwrap()["channels"], json!(null));
        agg.add(&node);
        let json = serde_json::to_value(&agg).unwrap();
        assert_eq!(json["channels"][0]["clients"], json!(null));
        assert_eq!(json["channels"][0]["nodes"], json!(null));
        let mut c = ChannelStats::aggregate("t", "c");
        c.add(&node.channels.as_ref().unwrap()[0]);
        let json = serde_json::to_value(&c).unwrap();
        assert_eq!(json["clients"], json!(null), "no clients: null, as NSQ");
        assert_eq!(json["hostname"], "");
        assert_eq!(json["e2e_processing_latency"]["channel"], "c");
    }
}
