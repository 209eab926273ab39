//! The JSON shapes of nsqadmin's API (docs/nsqadmin.md#api; Go's `clusterinfo`
//! types, key for key) and the pure aggregation of per-nsqd `/stats` into
//! them: one [`TopicStats`] / [`ChannelStats`] per nsqd, summed into a
//! cluster-wide one whose `node` is `"*"` and whose `nodes` lists the parts.

use std::collections::BTreeMap;

use nsq_protocol::api::stats as nsqd;
use serde::Serialize;

/// One quantile across nodes (a Go map: keys sorted).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Percentile {
    /// Mean of the nodes' values.
    pub average: f64,
    /// How many nodes reported this quantile.
    pub count: f64,
    /// Largest value (ns).
    pub max: f64,
    /// Smallest value (ns).
    pub min: f64,
    /// The quantile, e.g. 0.99.
    pub quantile: f64,
}

/// `e2e_processing_latency` of an nsqadmin answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct E2eAggregate {
    /// Samples.
    pub count: u64,
    /// Per quantile (null when no node reports percentiles).
    pub percentiles: Option<Vec<Percentile>>,
    /// Topic.
    pub topic: String,
    /// Channel (empty for a topic).
    pub channel: String,
    /// Node (`*` for an aggregate).
    pub host: String,
}

impl E2eAggregate {
    /// One node's figures.
    fn from_node(e: &nsqd::E2eLatency, topic: &str, channel: &str, host: &str) -> E2eAggregate {
        let mut agg = E2eAggregate {
            topic: topic.into(),
            channel: channel.into(),
            host: host.into(),
            ..E2eAggregate::default()
        };
        agg.count = e.count;
        if let Some(ps) = &e.percentiles {
            agg.percentiles = Some(
                ps.iter()
                    .map(|p| Percentile {
                        average: p.value,
                        count: 1.0,
                        max: p.value,
                        min: p.value,
                        quantile: p.quantile,
                    })
                    .collect(),
            );
        }
        agg
    }

    /// Fold another node's figures in.
    fn add(&mut self, other: &E2eAggregate) {
        self.count += other.count;
        for p in other.percentiles.iter().flatten() {
            let mine = self.percentiles.get_or_insert_with(Vec::new);
            match mine.iter_mut().find(|m| m.quantile == p.quantile) {
                Some(m) => {
                    let n = m.count + p.count;
                    m.average = (m.average * m.count + p.average * p.count) / n;
                    m.count = n;
                    m.min = m.min.min(p.min);
                    m.max = m.max.max(p.max);
                }
                None => mine.push(p.clone()),
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

/// A channel on one nsqd, or summed over nodes (`node` = `*`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ChannelStats {
    /// Node, or `*`.
    pub node: String,
    /// nsqd hostname (empty for an aggregate).
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
    /// Per node (aggregates only).
    pub nodes: Vec<ChannelStats>,
    /// Clients (empty when not asked for).
    pub clients: Vec<ClientStats>,
    /// Paused anywhere.
    pub paused: bool,
    /// Latency.
    pub e2e_processing_latency: E2eAggregate,
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
            nodes: Vec::new(),
            clients: c
                .clients
                .iter()
                .flatten()
                .map(|cl| ClientStats::from_nsqd(cl, node, now))
                .collect(),
            paused: c.paused,
            e2e_processing_latency: E2eAggregate::from_node(
                &c.e2e_processing_latency,
                topic,
                &c.channel_name,
                node,
            ),
        }
    }

    /// An empty aggregate for `topic`/`channel`.
    pub fn aggregate(topic: &str, channel: &str) -> ChannelStats {
        ChannelStats {
            node: "*".into(),
            topic_name: topic.into(),
            channel_name: channel.into(),
            e2e_processing_latency: E2eAggregate {
                topic: topic.into(),
                channel: channel.into(),
                host: "*".into(),
                ..E2eAggregate::default()
            },
            ..ChannelStats::default()
        }
    }

    /// Fold one node's channel in (Go's `ChannelStats.Add`).
    pub fn add(&mut self, a: &ChannelStats) {
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
        self.e2e_processing_latency.add(&a.e2e_processing_latency);
        self.clients.extend(a.clients.iter().cloned());
        self.clients.sort_by(|x, y| {
            (&x.hostname, &x.remote_address, &x.node).cmp(&(
                &y.hostname,
                &y.remote_address,
                &y.node,
            ))
        });
        let mut part = a.clone();
        part.clients = Vec::new();
        self.nodes.push(part);
        self.nodes
            .sort_by(|x, y| (&x.hostname, &x.node).cmp(&(&y.hostname, &y.node)));
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
    /// Messages its channels received.
    pub delivery_msg_count: u64,
    /// Per node (aggregates only).
    pub nodes: Vec<TopicStats>,
    /// Channels (on one node, or summed).
    pub channels: Vec<ChannelStats>,
    /// Paused anywhere.
    pub paused: bool,
    /// Latency.
    pub e2e_processing_latency: E2eAggregate,
}

impl TopicStats {
    /// One node's topic from its `/stats`.
    pub fn from_nsqd(t: &nsqd::TopicStats, node: &str, host: &str, now: i64) -> TopicStats {
        let channels: Vec<ChannelStats> = t
            .channels
            .iter()
            .map(|c| ChannelStats::from_nsqd(c, &t.topic_name, node, host, now))
            .collect();
        TopicStats {
            node: node.into(),
            hostname: host.into(),
            topic_name: t.topic_name.clone(),
            depth: t.depth,
            memory_depth: t.depth - t.backend_depth,
            backend_depth: t.backend_depth,
            message_count: t.message_count,
            delivery_msg_count: channels.iter().map(|c| c.message_count).sum(),
            nodes: Vec::new(),
            channels,
            paused: t.paused,
            e2e_processing_latency: E2eAggregate::from_node(
                &t.e2e_processing_latency,
                &t.topic_name,
                "",
                node,
            ),
        }
    }

    /// An empty aggregate for `topic`.
    pub fn aggregate(topic: &str) -> TopicStats {
        TopicStats {
            node: "*".into(),
            topic_name: topic.into(),
            e2e_processing_latency: E2eAggregate {
                topic: topic.into(),
                host: "*".into(),
                ..E2eAggregate::default()
            },
            ..TopicStats::default()
        }
    }

    /// Fold one node's topic in (Go's `TopicStats.Add`): counters summed,
    /// channels merged by name (sorted), the node kept in `nodes`.
    pub fn add(&mut self, a: &TopicStats) {
        self.depth += a.depth;
        self.memory_depth += a.memory_depth;
        self.backend_depth += a.backend_depth;
        self.message_count += a.message_count;
        self.delivery_msg_count += a.delivery_msg_count;
        self.paused |= a.paused;
        self.e2e_processing_latency.add(&a.e2e_processing_latency);
        for c in &a.channels {
            let at = match self
                .channels
                .iter()
                .position(|m| m.channel_name == c.channel_name)
            {
                Some(i) => i,
                None => {
                    self.channels
                        .push(ChannelStats::aggregate(&self.topic_name, &c.channel_name));
                    self.channels.len() - 1
                }
            };
            self.channels[at].add(c);
        }
        self.channels
            .sort_by(|x, y| x.channel_name.cmp(&y.channel_name));
        self.nodes.push(a.clone());
        self.nodes
            .sort_by(|x, y| (&x.hostname, &x.node).cmp(&(&y.hostname, &y.node)));
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
        for c in &t.channels {
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

/// Sum per-node topics into one aggregate per topic name (sorted).
pub fn aggregate_topics(per_node: &[TopicStats]) -> Vec<TopicStats> {
    let mut by_name: BTreeMap<&str, TopicStats> = BTreeMap::new();
    for t in per_node {
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
                count: 3,
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
        assert_eq!(t.message_count, 20);
        assert_eq!(t.delivery_msg_count, 13);
        assert_eq!(
            t.nodes.iter().map(|n| n.node.as_str()).collect::<Vec<_>>(),
            ["a", "b"]
        );
        let c1 = &t.channels[0];
        assert_eq!((c1.channel_name.as_str(), c1.message_count), ("c1", 9));
        assert_eq!(c1.clients.len(), 2);
        assert_eq!(c1.clients[0].connected, 5_000_000_000);
        assert_eq!(c1.nodes.len(), 2);
        assert!(c1.nodes[0].clients.is_empty(), "clients only at the top");
        let p = &t.e2e_processing_latency.percentiles.as_ref().unwrap()[0];
        assert_eq!((p.min, p.max, p.average, p.count), (10.0, 30.0, 20.0, 2.0));
        let json = serde_json::to_value(t).unwrap();
        assert_eq!(
            json["e2e_processing_latency"]["percentiles"][0],
            serde_json::json!({"average":20.0,"count":2.0,"max":30.0,"min":10.0,"quantile":0.99})
        );
        let counter = counter(&[a, b]);
        assert_eq!(counter["t:c1:a"].message_count, 3);
        assert_eq!(counter["t:c1:b"].message_count, 6);
        assert_eq!(counter.len(), 3);
    }
}
