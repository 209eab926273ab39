//! Discovery and stats, as Go's `clusterinfo`: which nsqd exist, which
//! produce a topic, and their `/stats`, from nsqlookupd (`/topics`,
//! `/lookup`, `/channels`, `/nodes`) or, in static mode, from each nsqd
//! (`/info` + `/stats`). Every query fans out concurrently; the answer is a
//! [`Partial`] (some upstreams failed: a warning) or an [`Err`] (all failed:
//! `UPSTREAM_ERROR`).

use std::collections::{BTreeMap, BTreeSet};

use nsq_protocol::api::lookup::{ChannelsResponse, LookupResponse, NodesResponse, TopicsResponse};
use nsq_protocol::api::stats::{Info, Stats};
use serde::Serialize;

use crate::model::TopicStats;
use crate::upstream::{fan_out, q, Client, UpstreamError};

/// A value plus the errors of the upstreams that did not answer.
#[derive(Debug, Clone, Default)]
pub struct Partial<T> {
    /// What the answering upstreams said.
    pub value: T,
    /// One line per failed upstream.
    pub errors: Vec<String>,
}

impl<T> Partial<T> {
    /// The value changed by `f`, the errors kept.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Partial<U> {
        Partial {
            value: f(self.value),
            errors: self.errors,
        }
    }
}

/// A query that no upstream answered.
pub type Total = String;

/// A result of a cluster query.
pub type Res<T> = Result<Partial<T>, Total>;

/// One `{topic, tombstoned}` of a node.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct ProducerTopic {
    /// Topic.
    pub topic: String,
    /// Tombstoned in some lookupd.
    pub tombstoned: bool,
}

/// An nsqd (Go's `clusterinfo.Producer`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Producer {
    /// `<lookupd>/<remote_address>` per lookupd that knows it (static
    /// mode: null, as NSQ).
    pub remote_addresses: Option<Vec<String>>,
    /// As lookupd sees it.
    pub remote_address: String,
    /// OS hostname.
    pub hostname: String,
    /// Broadcast address.
    pub broadcast_address: String,
    /// TCP port.
    pub tcp_port: i64,
    /// HTTP port.
    pub http_port: i64,
    /// Version.
    pub version: String,
    /// Topics it registered (none: null, as NSQ).
    pub topics: Option<Vec<ProducerTopic>>,
    /// Older than the newest version seen.
    pub out_of_date: bool,
    /// Where nsqadmin reaches its HTTP API (static mode: the configured
    /// address; else `broadcast_address:http_port`).
    #[serde(skip)]
    pub http_addr: String,
}

impl Producer {
    /// Whether it has `topic`.
    pub fn has_topic(&self, topic: &str) -> bool {
        self.topics.iter().flatten().any(|t| t.topic == topic)
    }

    /// The node name: `broadcast_address:http_port` (IPv6 in brackets).
    pub fn node(&self) -> String {
        if self.broadcast_address.contains(':') {
            format!("[{}]:{}", self.broadcast_address, self.http_port)
        } else {
            format!("{}:{}", self.broadcast_address, self.http_port)
        }
    }
}

/// `1.2.3-x` → (1, 2, 3); missing parts are 0.
pub fn version_key(v: &str) -> (u64, u64, u64) {
    let core = v
        .trim_start_matches('v')
        .split(['-', '+'])
        .next()
        .unwrap_or("");
    let mut it = core.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
        it.next().unwrap_or(0),
    )
}

/// A static nsqd's address, `/stats` and (if asked) `/info`.
type StaticStats = (String, Stats, Option<Info>);

/// Where nsqadmin looks for nsqd.
#[derive(Debug, Clone)]
pub struct Cluster {
    /// The HTTP client.
    pub client: Client,
    /// nsqlookupd HTTP addresses (lookupd mode).
    pub lookupds: Vec<String>,
    /// nsqd HTTP addresses (static mode).
    pub nsqds: Vec<String>,
}

/// Split results into values and error lines; all failed → Err.
fn collect<T>(
    what: &str,
    results: Vec<Result<T, UpstreamError>>,
) -> Result<Partial<Vec<T>>, Total> {
    let n = results.len();
    let mut out = Partial {
        value: Vec::new(),
        errors: Vec::new(),
    };
    for r in results {
        match r {
            Ok(v) => out.value.push(v),
            Err(e) => out.errors.push(e.to_string()),
        }
    }
    if n > 0 && out.value.is_empty() {
        return Err(all_failed(what, &out.errors));
    }
    Ok(out)
}

/// NSQ's message when no upstream answered (its error list joins with
/// newlines).
fn all_failed(what: &str, errors: &[String]) -> Total {
    format!("failed to query any {what}: {}", errors.join("\n"))
}

/// A list NSQ builds by appending: null when nothing was appended.
fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

impl Cluster {
    /// Whether discovery goes through nsqlookupd.
    pub fn lookupd_mode(&self) -> bool {
        !self.lookupds.is_empty()
    }

    /// Every topic name, sorted (none: null, as NSQ).
    pub fn topics(&self) -> Res<Option<Vec<String>>> {
        if self.lookupd_mode() {
            let r = collect(
                "nsqlookupd",
                fan_out(&self.lookupds, |a| {
                    self.client.get_json::<TopicsResponse>(a, "/topics")
                }),
            )?;
            let set: BTreeSet<String> = r.value.into_iter().flat_map(|t| t.topics).collect();
            Ok(Partial {
                value: non_empty(set.into_iter().collect()),
                errors: r.errors,
            })
        } else {
            let r = self.static_stats("", false)?;
            let set: BTreeSet<String> = r
                .value
                .iter()
                .flat_map(|(_, s, _)| s.topics.iter().flatten().map(|t| t.topic_name.clone()))
                .collect();
            Ok(Partial {
                value: non_empty(set.into_iter().collect()),
                errors: r.errors,
            })
        }
    }

    /// Channels lookupd knows for `topic` (union, sorted; none: null).
    pub fn lookupd_topic_channels(&self, topic: &str) -> Res<Option<Vec<String>>> {
        let path = format!("/channels?topic={}", q(topic));
        let r = collect(
            "nsqlookupd",
            fan_out(&self.lookupds, |a| {
                self.client.get_json::<ChannelsResponse>(a, &path)
            }),
        )?;
        let set: BTreeSet<String> = r.value.into_iter().flat_map(|c| c.channels).collect();
        Ok(Partial {
            value: non_empty(set.into_iter().collect()),
            errors: r.errors,
        })
    }

    /// nsqd producing `topic` per lookupd `/lookup`. As in NSQ, a lookupd
    /// that does not know the topic (404) counts as a failed one.
    fn lookupd_topic_producers(&self, topic: &str) -> Res<Vec<Producer>> {
        let path = format!("/lookup?topic={}", q(topic));
        let r = collect(
            "nsqlookupd",
            fan_out(&self.lookupds, |a| {
                self.client
                    .get_json::<LookupResponse>(a, &path)
                    .map(|l| (a.clone(), l))
            }),
        )?;
        let mut by_node: BTreeMap<String, Producer> = BTreeMap::new();
        for (lookupd, resp) in r.value {
            for p in resp.producers {
                let mut prod = Producer {
                    remote_address: p.remote_address.clone(),
                    hostname: p.hostname,
                    broadcast_address: p.broadcast_address,
                    tcp_port: p.tcp_port,
                    http_port: p.http_port,
                    version: p.version,
                    ..Producer::default()
                };
                let node = prod.node();
                prod.http_addr = node.clone();
                by_node
                    .entry(node)
                    .or_insert(prod)
                    .remote_addresses
                    .get_or_insert_with(Vec::new)
                    .push(format!("{lookupd}/{}", p.remote_address));
            }
        }
        Ok(Partial {
            value: by_node.into_values().collect(),
            errors: r.errors,
        })
    }

    /// Every nsqd (lookupd `/nodes`, or static `/info` + `/stats`), with
    /// `out_of_date` set.
    pub fn producers(&self) -> Res<Vec<Producer>> {
        let mut r = if self.lookupd_mode() {
            self.lookupd_producers()?
        } else {
            self.static_producers()?
        };
        let newest = r
            .value
            .iter()
            .map(|p| version_key(&p.version))
            .max()
            .unwrap_or_default();
        for p in &mut r.value {
            p.out_of_date = version_key(&p.version) < newest;
        }
        Ok(r)
    }

    fn lookupd_producers(&self) -> Res<Vec<Producer>> {
        let r = collect(
            "nsqlookupd",
            fan_out(&self.lookupds, |a| {
                self.client
                    .get_json::<NodesResponse>(a, "/nodes")
                    .map(|n| (a.clone(), n))
            }),
        )?;
        let mut by_node: BTreeMap<String, Producer> = BTreeMap::new();
        for (lookupd, resp) in r.value {
            for n in resp.producers {
                let mut prod = Producer {
                    remote_address: n.remote_address.clone(),
                    hostname: n.hostname.clone(),
                    broadcast_address: n.broadcast_address.clone(),
                    tcp_port: n.tcp_port,
                    http_port: n.http_port,
                    version: n.version.clone(),
                    ..Producer::default()
                };
                let node = prod.node();
                prod.http_addr = node.clone();
                let entry = by_node.entry(node).or_insert(prod);
                entry
                    .remote_addresses
                    .get_or_insert_with(Vec::new)
                    .push(format!("{lookupd}/{}", n.remote_address));
                for (i, t) in n.topics.iter().enumerate() {
                    let tomb = n.tombstones.get(i).copied().unwrap_or(false);
                    let topics = entry.topics.get_or_insert_with(Vec::new);
                    match topics.iter_mut().find(|pt| &pt.topic == t) {
                        Some(pt) => pt.tombstoned |= tomb,
                        None => topics.push(ProducerTopic {
                            topic: t.clone(),
                            tombstoned: tomb,
                        }),
                    }
                    topics.sort();
                }
            }
        }
        Ok(Partial {
            value: by_node.into_values().collect(),
            errors: r.errors,
        })
    }

    /// `/stats` (no clients) of every static nsqd: (address, stats).
    fn static_stats(&self, topic: &str, with_info: bool) -> Res<Vec<StaticStats>> {
        let mut path = "/stats?format=json&include_clients=false".to_string();
        if !topic.is_empty() {
            path.push_str(&format!("&topic={}", q(topic)));
        }
        let r = collect(
            "nsqd",
            fan_out(&self.nsqds, |a| {
                let info = if with_info {
                    Some(self.client.get_json::<Info>(a, "/info")?)
                } else {
                    None
                };
                let s = self.client.get_json::<Stats>(a, &path)?;
                Ok((a.clone(), s, info))
            }),
        )?;
        Ok(r)
    }

    fn static_producers(&self) -> Res<Vec<Producer>> {
        let r = self.static_stats("", true)?;
        let value = r
            .value
            .into_iter()
            .map(|(addr, stats, info)| {
                let info = info.unwrap_or_default();
                let mut topics: Vec<ProducerTopic> = stats
                    .topics
                    .iter()
                    .flatten()
                    .map(|t| ProducerTopic {
                        topic: t.topic_name.clone(),
                        tombstoned: false,
                    })
                    .collect();
                topics.sort();
                Producer {
                    remote_addresses: None,
                    remote_address: String::new(),
                    hostname: info.hostname,
                    broadcast_address: info.broadcast_address,
                    tcp_port: info.tcp_port,
                    http_port: info.http_port,
                    version: info.version,
                    topics: non_empty(topics),
                    out_of_date: false,
                    http_addr: addr,
                }
            })
            .collect();
        Ok(Partial {
            value,
            errors: r.errors,
        })
    }

    /// The nsqd that produce `topic`.
    pub fn topic_producers(&self, topic: &str) -> Res<Vec<Producer>> {
        if self.lookupd_mode() {
            return self.lookupd_topic_producers(topic);
        }
        let r = self.static_producers()?;
        Ok(Partial {
            value: r.value.into_iter().filter(|p| p.has_topic(topic)).collect(),
            errors: r.errors,
        })
    }

    /// The per-node topics of these producers' `/stats` (sorted by topic,
    /// then host), optionally filtered by topic and channel. As in NSQ, no
    /// producer at all counts as every nsqd failing.
    pub fn nsqd_stats(
        &self,
        producers: &[Producer],
        topic: &str,
        channel: &str,
        include_clients: bool,
    ) -> Res<Vec<TopicStats>> {
        Ok(self
            .nsqd_stats_and_drains(producers, topic, channel, include_clients)?
            .map(|(topics, _)| topics))
    }

    /// [`Cluster::nsqd_stats`], and the nodes that report they are
    /// draining (an extension, docs/nsqadmin.md#draining).
    pub fn nsqd_stats_and_drains(
        &self,
        producers: &[Producer],
        topic: &str,
        channel: &str,
        include_clients: bool,
    ) -> Res<(Vec<TopicStats>, Vec<String>)> {
        let mut path = format!("/stats?format=json&include_clients={include_clients}");
        if !topic.is_empty() {
            path.push_str(&format!("&topic={}", q(topic)));
        }
        if !channel.is_empty() {
            path.push_str(&format!("&channel={}", q(channel)));
        }
        if producers.is_empty() {
            return Err(all_failed("nsqd", &[]));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let r = collect(
            "nsqd",
            fan_out(producers, |p: &Producer| {
                self.client
                    .get_json::<Stats>(&p.http_addr, &path)
                    .map(|s| (p.node(), p.hostname.clone(), s))
            }),
        )?;
        let mut out = Vec::new();
        let mut draining = Vec::new();
        for (node, hostname, stats) in r.value {
            if stats.draining {
                draining.push(node.clone());
            }
            for t in stats.topics.iter().flatten() {
                if !topic.is_empty() && t.topic_name != topic {
                    continue;
                }
                out.push(TopicStats::from_nsqd(t, &node, &hostname, now));
            }
        }
        out.sort_by(|a, b| {
            (&a.topic_name, &a.hostname, &a.node).cmp(&(&b.topic_name, &b.hostname, &b.node))
        });
        Ok(Partial {
            value: (out, draining),
            errors: r.errors,
        })
    }

    /// POST `path` to every address; the error lines of the failures
    /// (NSQ reports them as warnings, even when every call failed).
    pub fn post_all(&self, addrs: &[String], path: &str) -> Vec<String> {
        fan_out(addrs, |a| self.client.post(a, path))
            .into_iter()
            .filter_map(|r| r.err().map(|e| e.to_string()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_and_nodes() {
        assert!(version_key("1.2.1") < version_key("1.3.0"));
        assert_eq!(version_key("1.3.0-alpha"), (1, 3, 0));
        assert_eq!(version_key("junk"), (0, 0, 0));
        let p = Producer {
            broadcast_address: "::1".into(),
            http_port: 4151,
            ..Producer::default()
        };
        assert_eq!(p.node(), "[::1]:4151");
    }
}
