//! The registration DB (docs/lookupd.md#registrations): pure, synchronous
//! state, with the time passed in by the caller (`now`), so tests never sleep.
//!
//! Registrations are keyed by (category, key, subkey): `client/""/""` (every
//! identified nsqd), `topic/<topic>/""` and `channel/<topic>/<channel>`; each
//! maps the peers producing it to their per-registration state (the
//! tombstone). Peers are the identified TCP connections; each knows the
//! registrations it is in, so a disconnect is proportional to them.
//!
//! Invariants worth naming:
//! * A producer entry always refers to a peer in `peers`, and a peer's
//!   `registrations` set is exactly the registrations it produces.
//! * Registration keys outlive their producers: only an explicit
//!   UNREGISTER of an `#ephemeral` name or the HTTP deletes remove a key.
//! * Iteration orders are sorted (topics, channels, producers by
//!   connection order), so answers are deterministic.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::time::Duration;

use nsq_protocol::api::lookup::{
    DebugProducer, DebugResponse, LookupResponse, Node, NodesResponse, PeerInfo,
};
use nsq_protocol::lookupd::IdentifyRequest;
use nsq_protocol::names::is_ephemeral;

/// Wall-clock time as Unix nanoseconds (what `/debug` reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct UnixNanos(pub i64);

impl UnixNanos {
    /// The current wall-clock time.
    pub fn now() -> UnixNanos {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        UnixNanos(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    /// `self + d` (saturating).
    pub fn plus(self, d: Duration) -> UnixNanos {
        UnixNanos(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }

    /// Nanoseconds from `earlier` to `self` (negative if the clock went back).
    fn since(self, earlier: UnixNanos) -> i128 {
        i128::from(self.0) - i128::from(earlier.0)
    }
}

/// A peer: one identified nsqd connection. Assigned by the server per
/// connection, so a reused `ip:port` can never alias an older peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(pub u64);

/// What a registration is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Category {
    /// `client`: every identified nsqd.
    Client,
    /// `channel`: a channel of a topic.
    Channel,
    /// `topic`: a topic.
    Topic,
}

impl Category {
    /// NSQ's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Client => "client",
            Category::Channel => "channel",
            Category::Topic => "topic",
        }
    }
}

/// A registration key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Registration {
    /// Category.
    pub category: Category,
    /// Topic name (empty for `client`).
    pub key: String,
    /// Channel name (empty unless `channel`).
    pub subkey: String,
}

impl Registration {
    /// `client/""/""`.
    pub fn client() -> Registration {
        Registration {
            category: Category::Client,
            key: String::new(),
            subkey: String::new(),
        }
    }

    /// `topic/<topic>/""`.
    pub fn topic(topic: &str) -> Registration {
        Registration {
            category: Category::Topic,
            key: topic.to_string(),
            subkey: String::new(),
        }
    }

    /// `channel/<topic>/<channel>`.
    pub fn channel(topic: &str, channel: &str) -> Registration {
        Registration {
            category: Category::Channel,
            key: topic.to_string(),
            subkey: channel.to_string(),
        }
    }
}

impl std::fmt::Display for Registration {
    /// NSQ's log form: `category:x key:y subkey:z`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "category:{} key:{} subkey:{}",
            self.category.as_str(),
            self.key,
            self.subkey
        )
    }
}

/// A peer's state in one registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Producer {
    /// When `/topic/tombstone` marked it.
    tombstoned_at: Option<UnixNanos>,
}

/// An identified nsqd.
#[derive(Debug, Clone)]
struct Peer {
    info: PeerInfo,
    /// `ip:port` of the connection (NSQ's peer ID).
    id: String,
    last_update: UnixNanos,
    registrations: BTreeSet<Registration>,
}

/// How long producers stay visible (`--inactive-producer-timeout`,
/// `--tombstone-lifetime`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// `--inactive-producer-timeout`.
    pub inactive_producer_timeout: Duration,
    /// `--tombstone-lifetime`.
    pub tombstone_lifetime: Duration,
}

impl Default for Lifetimes {
    fn default() -> Self {
        Lifetimes {
            inactive_producer_timeout: Duration::from_secs(300),
            tombstone_lifetime: Duration::from_secs(45),
        }
    }
}

/// What UNREGISTER removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unregistered {
    /// Registrations the peer was removed from.
    pub removed: Vec<Registration>,
    /// Channel registrations removed by a topic UNREGISTER (NSQ warns).
    pub unexpected: Vec<Registration>,
    /// Ephemeral registrations deleted because no producer was left.
    pub deleted: Vec<Registration>,
}

/// Counts for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Identified nsqd connections.
    pub peers: usize,
    /// Topic registrations.
    pub topics: usize,
    /// Channel registrations.
    pub channels: usize,
    /// Producer entries in topic registrations.
    pub topic_producers: usize,
}

/// The registration DB.
#[derive(Debug, Clone, Default)]
pub struct Registry {
    lifetimes: Lifetimes,
    registrations: BTreeMap<Registration, BTreeMap<PeerId, Producer>>,
    peers: HashMap<PeerId, Peer>,
}

impl Registry {
    /// An empty DB.
    pub fn new(lifetimes: Lifetimes) -> Registry {
        Registry {
            lifetimes,
            ..Registry::default()
        }
    }

    // ---- TCP side ----

    /// IDENTIFY: remember the peer (`id` is its `ip:port`) and add it to the
    /// `client` registration. Returns false if it was already known.
    pub fn identify(
        &mut self,
        peer: PeerId,
        id: &str,
        req: &IdentifyRequest,
        now: UnixNanos,
    ) -> bool {
        if self.peers.contains_key(&peer) {
            return false;
        }
        let info = PeerInfo {
            remote_address: id.to_string(),
            hostname: req.hostname.clone(),
            broadcast_address: req.broadcast_address.clone(),
            tcp_port: req.tcp_port,
            http_port: req.http_port,
            version: req.version.clone(),
            topology_zone: req.topology_zone.clone(),
            topology_region: req.topology_region.clone(),
        };
        self.peers.insert(
            peer,
            Peer {
                info,
                id: id.to_string(),
                last_update: now,
                registrations: BTreeSet::new(),
            },
        );
        self.add_producer(Registration::client(), peer)
    }

    /// PING from an identified peer: refresh its last-update time. Returns
    /// the previous one.
    pub fn ping(&mut self, peer: PeerId, now: UnixNanos) -> Option<UnixNanos> {
        let p = self.peers.get_mut(&peer)?;
        Some(std::mem::replace(&mut p.last_update, now))
    }

    /// REGISTER: producer of the channel (if given) and of the topic.
    /// Returns the registrations it was newly added to.
    pub fn register(
        &mut self,
        peer: PeerId,
        topic: &str,
        channel: Option<&str>,
    ) -> Vec<Registration> {
        let mut added = Vec::new();
        let mut keys = Vec::with_capacity(2);
        if let Some(c) = channel {
            keys.push(Registration::channel(topic, c));
        }
        keys.push(Registration::topic(topic));
        for key in keys {
            if self.add_producer(key.clone(), peer) {
                added.push(key);
            }
        }
        added
    }

    /// UNREGISTER: with a channel, leave that channel
    /// (deleting an emptied `#ephemeral` one); without, leave every channel
    /// of the topic and the topic (deleting an emptied `#ephemeral` topic).
    pub fn unregister(&mut self, peer: PeerId, topic: &str, channel: Option<&str>) -> Unregistered {
        let mut out = Unregistered::default();
        if let Some(c) = channel {
            let key = Registration::channel(topic, c);
            let (removed, left) = self.remove_producer(&key, peer);
            if left == 0 && is_ephemeral(c) && self.remove_registration(&key) {
                out.deleted.push(key.clone());
            }
            if removed {
                out.removed.push(key);
            }
            return out;
        }
        for key in self.channel_keys(topic) {
            if self.remove_producer(&key, peer).0 {
                out.unexpected.push(key);
            }
        }
        let key = Registration::topic(topic);
        let (removed, left) = self.remove_producer(&key, peer);
        if left == 0 && is_ephemeral(topic) && self.remove_registration(&key) {
            out.deleted.push(key.clone());
        }
        if removed {
            out.removed.push(key);
        }
        out
    }

    /// The connection closed: remove the peer from every registration it is
    /// in (the keys stay, even `#ephemeral` ones). Returns them.
    pub fn disconnect(&mut self, peer: PeerId) -> Vec<Registration> {
        let Some(p) = self.peers.remove(&peer) else {
            return Vec::new();
        };
        for key in &p.registrations {
            if let Some(producers) = self.registrations.get_mut(key) {
                producers.remove(&peer);
            }
        }
        p.registrations.into_iter().collect()
    }

    // ---- HTTP side ----

    /// `/lookup`: None if the topic has no registration at all.
    pub fn lookup(&self, topic: &str, now: UnixNanos) -> Option<LookupResponse> {
        let producers = self.registrations.get(&Registration::topic(topic))?;
        let producers = producers
            .iter()
            .filter(|(id, producer)| {
                self.is_active(**id, now) && !self.is_tombstoned(producer, now)
            })
            .filter_map(|(id, _)| self.peers.get(id).map(|p| p.info.clone()))
            .collect();
        Some(LookupResponse {
            channels: self.channels(topic),
            producers,
        })
    }

    /// `/topics`: every topic registration, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.registrations
            .keys()
            .filter(|k| k.category == Category::Topic)
            .map(|k| k.key.clone())
            .collect()
    }

    /// `/channels`: every channel registration of the topic, sorted.
    pub fn channels(&self, topic: &str) -> Vec<String> {
        self.channel_keys(topic)
            .into_iter()
            .map(|k| k.subkey)
            .collect()
    }

    /// `/nodes`: every active identified nsqd with its topics and their
    /// tombstones.
    pub fn nodes(&self, now: UnixNanos) -> NodesResponse {
        let Some(clients) = self.registrations.get(&Registration::client()) else {
            return NodesResponse::default();
        };
        let producers = clients
            .keys()
            .filter(|id| self.is_active(**id, now))
            .filter_map(|id| {
                let peer = self.peers.get(id)?;
                let topics: Vec<&Registration> = peer
                    .registrations
                    .iter()
                    .filter(|r| r.category == Category::Topic)
                    .collect();
                let tombstones = topics
                    .iter()
                    .map(|r| {
                        self.registrations
                            .get(*r)
                            .and_then(|ps| ps.get(id))
                            .is_some_and(|p| self.is_tombstoned(p, now))
                    })
                    .collect();
                let info = &peer.info;
                Some(Node {
                    remote_address: info.remote_address.clone(),
                    hostname: info.hostname.clone(),
                    broadcast_address: info.broadcast_address.clone(),
                    tcp_port: info.tcp_port,
                    http_port: info.http_port,
                    version: info.version.clone(),
                    topology_zone: info.topology_zone.clone(),
                    topology_region: info.topology_region.clone(),
                    tombstones,
                    topics: topics.into_iter().map(|r| r.key.clone()).collect(),
                })
            })
            .collect();
        NodesResponse { producers }
    }

    /// `/debug`: every registration that has producers, with raw state.
    pub fn debug(&self) -> DebugResponse {
        let mut out = DebugResponse::new();
        for (key, producers) in &self.registrations {
            let name = format!("{}:{}:{}", key.category.as_str(), key.key, key.subkey);
            for (id, producer) in producers {
                let Some(peer) = self.peers.get(id) else {
                    continue;
                };
                out.entry(name.clone()).or_default().push(DebugProducer {
                    broadcast_address: peer.info.broadcast_address.clone(),
                    hostname: peer.info.hostname.clone(),
                    http_port: peer.info.http_port,
                    id: peer.id.clone(),
                    last_update: peer.last_update.0,
                    tcp_port: peer.info.tcp_port,
                    tombstoned: producer.tombstoned_at.is_some(),
                    tombstoned_at: producer.tombstoned_at.map_or(0, |t| t.0),
                    topology_region: peer.info.topology_region.clone(),
                    topology_zone: peer.info.topology_zone.clone(),
                    version: peer.info.version.clone(),
                });
            }
        }
        out
    }

    /// `/topic/create`: an empty topic registration. True if new.
    pub fn create_topic(&mut self, topic: &str) -> bool {
        self.add_registration(Registration::topic(topic))
    }

    /// `/channel/create`: the channel and topic registrations.
    pub fn create_channel(&mut self, topic: &str, channel: &str) {
        self.add_registration(Registration::channel(topic, channel));
        self.add_registration(Registration::topic(topic));
    }

    /// `/topic/delete`: every channel registration of the topic, then the
    /// topic's. Returns the removed channel names.
    pub fn delete_topic(&mut self, topic: &str) -> Vec<String> {
        let channels = self.channel_keys(topic);
        for key in &channels {
            self.remove_registration(key);
        }
        self.remove_registration(&Registration::topic(topic));
        channels.into_iter().map(|k| k.subkey).collect()
    }

    /// `/channel/delete`: false if there is no such registration.
    pub fn delete_channel(&mut self, topic: &str, channel: &str) -> bool {
        self.remove_registration(&Registration::channel(topic, channel))
    }

    /// `/topic/tombstone`: tombstone the topic's producers whose
    /// `<broadcast_address>:<http_port>` is `node`. Returns how many.
    pub fn tombstone(&mut self, topic: &str, node: &str, now: UnixNanos) -> usize {
        let Some(producers) = self.registrations.get_mut(&Registration::topic(topic)) else {
            return 0;
        };
        let mut n = 0;
        for (id, producer) in producers.iter_mut() {
            let Some(peer) = self.peers.get(id) else {
                continue;
            };
            if format!("{}:{}", peer.info.broadcast_address, peer.info.http_port) == node {
                producer.tombstoned_at = Some(now);
                n += 1;
            }
        }
        n
    }

    /// Counts for `/metrics`.
    pub fn counts(&self) -> Counts {
        let mut c = Counts {
            peers: self.peers.len(),
            ..Counts::default()
        };
        for (key, producers) in &self.registrations {
            match key.category {
                Category::Topic => {
                    c.topics += 1;
                    c.topic_producers += producers.len();
                }
                Category::Channel => c.channels += 1,
                Category::Client => {}
            }
        }
        c
    }

    // ---- helpers ----

    fn is_active(&self, peer: PeerId, now: UnixNanos) -> bool {
        self.peers.get(&peer).is_some_and(|p| {
            now.since(p.last_update) <= self.lifetimes.inactive_producer_timeout.as_nanos() as i128
        })
    }

    fn is_tombstoned(&self, producer: &Producer, now: UnixNanos) -> bool {
        producer
            .tombstoned_at
            .is_some_and(|at| now.since(at) < self.lifetimes.tombstone_lifetime.as_nanos() as i128)
    }

    /// Channel registrations of `topic`, sorted (a range of the sorted map).
    fn channel_keys(&self, topic: &str) -> Vec<Registration> {
        let start = Registration::channel(topic, "");
        self.registrations
            .range((Bound::Included(start), Bound::Unbounded))
            .map(|(k, _)| k)
            .take_while(|k| k.category == Category::Channel && k.key == topic)
            .cloned()
            .collect()
    }

    fn add_registration(&mut self, key: Registration) -> bool {
        if self.registrations.contains_key(&key) {
            return false;
        }
        self.registrations.insert(key, BTreeMap::new());
        true
    }

    /// NSQ's `AddProducer`: creates the key; an existing entry (and its
    /// tombstone) is kept. True if the peer was added.
    fn add_producer(&mut self, key: Registration, peer: PeerId) -> bool {
        let Some(p) = self.peers.get_mut(&peer) else {
            return false;
        };
        let producers = self.registrations.entry(key.clone()).or_default();
        if producers.contains_key(&peer) {
            return false;
        }
        producers.insert(peer, Producer::default());
        p.registrations.insert(key);
        true
    }

    /// NSQ's `RemoveProducer`: (removed, producers left). The key stays.
    fn remove_producer(&mut self, key: &Registration, peer: PeerId) -> (bool, usize) {
        let Some(producers) = self.registrations.get_mut(key) else {
            return (false, 0);
        };
        let removed = producers.remove(&peer).is_some();
        if removed {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.registrations.remove(key);
            }
        }
        (removed, producers.len())
    }

    /// Drop a registration and its producers. True if it existed.
    fn remove_registration(&mut self, key: &Registration) -> bool {
        let Some(producers) = self.registrations.remove(key) else {
            return false;
        };
        for peer in producers.keys() {
            if let Some(p) = self.peers.get_mut(peer) {
                p.registrations.remove(key);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests;
