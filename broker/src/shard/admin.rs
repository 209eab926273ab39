//! Operations on a shard's topics and channels requested over HTTP (create,
//! delete, empty, pause, unpause; docs/protocol.md#lifecycle) and the shard's
//! part of `/stats` (docs/http-api.md#stats). Both run on the owning shard: the
//! HTTP connection's shard sends them through the inbox when it is not the
//! owner.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use nsq_protocol::api::stats::{ChannelStats, ClientStats, E2eLatency, PubCount, TopicStats};

use crate::channel::Channel;
use crate::shard::Shard;

/// An administrative operation on a topic or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AdminOp {
    /// `/topic/create`.
    CreateTopic(String),
    /// `/topic/delete`.
    DeleteTopic(String),
    /// `/topic/empty`.
    EmptyTopic(String),
    /// `/topic/pause` and `/topic/unpause`.
    PauseTopic {
        /// The topic.
        topic: String,
        /// Pause (true) or unpause.
        paused: bool,
    },
    /// `/channel/create`.
    CreateChannel(ChannelRef),
    /// `/channel/delete`.
    DeleteChannel(ChannelRef),
    /// `/channel/empty`.
    EmptyChannel(ChannelRef),
    /// `/channel/pause` and `/channel/unpause`.
    PauseChannel {
        /// The channel.
        channel: ChannelRef,
        /// Pause (true) or unpause.
        paused: bool,
    },
    /// Startup: a topic of `nsqd.dat` with its channels and paused
    /// flags, created at once and only then started.
    Load(crate::datadir::metadata::TopicMetadata),
    /// A new topic's channels as lookupd knows them
    /// (docs/lookupd.md#channel-pre-creation): create them, then start the
    /// topic.
    Start {
        /// The topic.
        topic: String,
        /// Its channels.
        channels: Vec<String>,
    },
}

/// A channel of a topic, by name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ChannelRef {
    /// The topic.
    pub(crate) topic: String,
    /// The channel.
    pub(crate) channel: String,
}

impl AdminOp {
    /// The topic it acts on (decides the owner shard).
    pub(crate) fn topic(&self) -> &str {
        match self {
            AdminOp::CreateTopic(topic)
            | AdminOp::DeleteTopic(topic)
            | AdminOp::EmptyTopic(topic)
            | AdminOp::PauseTopic { topic, .. }
            | AdminOp::Start { topic, .. } => topic,
            AdminOp::CreateChannel(c)
            | AdminOp::DeleteChannel(c)
            | AdminOp::EmptyChannel(c)
            | AdminOp::PauseChannel { channel: c, .. } => &c.topic,
            AdminOp::Load(t) => &t.name,
        }
    }
}

/// Why an operation failed (NSQ's HTTP error texts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AdminError {
    /// 404 `TOPIC_NOT_FOUND`.
    TopicNotFound,
    /// 404 `CHANNEL_NOT_FOUND`.
    ChannelNotFound,
    /// 503 `EXITING`.
    Exiting,
}

/// What `/stats` asks of each shard.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct StatsFilter {
    /// `topic=`.
    pub(crate) topic: Option<String>,
    /// `channel=`.
    pub(crate) channel: Option<String>,
    /// `include_clients` (default true).
    pub(crate) include_clients: bool,
}

/// One shard's answer to `/stats`.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardStats {
    /// Its topics (filtered).
    pub(crate) topics: Vec<TopicStats>,
    /// Its connections that published.
    pub(crate) producers: Vec<ClientStats>,
    /// Whether the `topic=` filter's topic lives here.
    pub(crate) topic_found: bool,
    /// The channels' own dead-letter settings, for `nsqd.dat`: (topic,
    /// channel, setting).
    pub(crate) dead_letter_settings: Vec<(String, String, crate::deadletter::Setting)>,
}

/// Ask every shard except `skip` for its part of `/stats`; the answers
/// arrive on the returned receivers.
pub(crate) fn request_stats(
    mesh: &[flume::Sender<crate::shard::mesh::ShardMsg>],
    filter: &StatsFilter,
    skip: Option<usize>,
) -> Vec<flume::Receiver<ShardStats>> {
    mesh.iter()
        .enumerate()
        .filter(|(i, _)| Some(*i) != skip)
        .filter_map(|(_, tx)| {
            let (reply, rx) = flume::bounded(1);
            let msg = crate::shard::mesh::ShardMsg::Stats {
                filter: filter.clone(),
                reply,
            };
            tx.send(msg).is_ok().then_some(rx)
        })
        .collect()
}

fn no_e2e() -> E2eLatency {
    E2eLatency {
        count: 0,
        percentiles: None,
    }
}

impl Shard {
    /// Run an admin operation on a topic owned here.
    pub(crate) fn admin(&self, op: AdminOp) -> Result<(), AdminError> {
        if self.stopping.get() {
            return Err(AdminError::Exiting);
        }
        let durable_change = matches!(
            op,
            AdminOp::DeleteTopic(_)
                | AdminOp::PauseTopic { .. }
                | AdminOp::DeleteChannel(_)
                | AdminOp::PauseChannel { .. }
        );
        let now = Instant::now();
        let find = |t: &str| self.topic(t).ok_or(AdminError::TopicNotFound);
        match op {
            AdminOp::CreateTopic(t) => {
                self.get_or_create_topic(&t);
            }
            AdminOp::Start { topic: t, channels } => {
                let topic = find(&t)?;
                for c in &channels {
                    self.get_or_create_channel(&topic, c);
                }
                topic.borrow_mut().start(now);
            }
            AdminOp::Load(meta) => {
                let topic = self.load_topic(&meta.name);
                for c in &meta.channels {
                    let channel = self.get_or_create_channel(&topic, &c.name);
                    channel.borrow_mut().paused = c.paused;
                    if let Some(setting) = c.dead_letters() {
                        let channel = ChannelRef {
                            topic: meta.name.clone(),
                            channel: c.name.clone(),
                        };
                        let _ = self.configure_dead_letters(&channel, setting);
                    }
                }
                let mut topic = topic.borrow_mut();
                topic.paused = meta.paused;
                topic.start(now);
            }
            AdminOp::DeleteTopic(t) => {
                find(&t)?;
                self.delete_topic(&t);
            }
            AdminOp::EmptyTopic(t) => find(&t)?.borrow_mut().empty(),
            AdminOp::PauseTopic { topic, paused } => {
                find(&topic)?.borrow_mut().set_paused(paused, now)
            }
            AdminOp::CreateChannel(ChannelRef { topic, channel }) => {
                self.get_or_create_channel(&find(&topic)?, &channel);
            }
            AdminOp::DeleteChannel(ChannelRef {
                topic: t,
                channel: c,
            }) => {
                let topic = find(&t)?;
                let channel = topic
                    .borrow_mut()
                    .remove_channel(&c)
                    .ok_or(AdminError::ChannelNotFound)?;
                channel.borrow_mut().delete();
                crate::log!(Info, "TOPIC({t}): deleted channel {c}");
                self.ctx.announce(crate::lookupd::Announce::ChannelGone {
                    topic: t.clone(),
                    channel: c,
                });
                let abandoned = {
                    let topic = topic.borrow();
                    topic.ephemeral && topic.channels().is_empty()
                };
                if abandoned {
                    self.delete_topic(&t);
                }
            }
            AdminOp::EmptyChannel(c) => self.find_channel(&c)?.borrow_mut().empty(),
            AdminOp::PauseChannel { channel, paused } => {
                let channel = self.find_channel(&channel)?;
                let mut channel = channel.borrow_mut();
                channel.paused = paused;
                channel.dispatch(now);
            }
        }
        if durable_change {
            self.ctx.metadata_changed();
        }
        Ok(())
    }

    /// A channel of a topic owned here.
    pub(crate) fn find_channel(&self, c: &ChannelRef) -> Result<Rc<RefCell<Channel>>, AdminError> {
        let topic = self.topic(&c.topic).ok_or(AdminError::TopicNotFound)?;
        let channel = topic.borrow().channel(&c.channel);
        channel.ok_or(AdminError::ChannelNotFound)
    }

    /// `/channel/peek`: up to `n` messages queued in the channel's memory.
    pub(crate) fn peek(
        &self,
        channel: &ChannelRef,
        n: usize,
    ) -> Result<Vec<crate::message::Message>, AdminError> {
        let messages = self.find_channel(channel)?.borrow().peek(n);
        Ok(messages)
    }

    /// Delete a topic: close its consumers, drop its messages.
    pub(crate) fn delete_topic(&self, name: &str) {
        let Some(topic) = self.remove_topic(name) else {
            return;
        };
        topic.borrow_mut().delete();
        crate::log!(Info, "TOPIC({name}): deleted");
        self.ctx
            .announce(crate::lookupd::Announce::TopicGone(name.to_string()));
    }

    /// This shard's part of `/stats`.
    pub(crate) fn stats(&self, filter: &StatsFilter) -> ShardStats {
        let mut out = ShardStats::default();
        let now = Instant::now();
        let percentiles = self.ctx.opts.e2e.as_ref().map(|e| e.percentiles.as_slice());
        for (name, topic) in self.topics_sorted() {
            if filter.topic.as_deref().is_some_and(|t| t != name) {
                continue;
            }
            out.topic_found = true;
            let topic = topic.borrow();
            let mut topic_e2e = crate::e2e::empty();
            let mut channels = Vec::new();
            // As NSQ: a topic's figures merge its channels'; none, no figures.
            let mut any_channel = false;
            for channel in topic.channels() {
                any_channel = true;
                let mut c = channel.borrow_mut();
                let e2e = match (percentiles, c.e2e_snapshot(now)) {
                    (Some(p), Some(h)) => {
                        let _ = topic_e2e.add(&h);
                        crate::e2e::report(&h, p)
                    }
                    _ => no_e2e(),
                };
                if filter.channel.as_deref().is_some_and(|f| f != &*c.name) {
                    continue;
                }
                if let Some(setting) = crate::deadletter::request::setting_of(&c) {
                    out.dead_letter_settings
                        .push((name.clone(), c.name.to_string(), setting));
                }
                let (max_attempts, dead_letter_topic, dead_letter_count) =
                    crate::deadletter::request::figures(&c);
                channels.push(ChannelStats {
                    channel_name: c.name.to_string(),
                    depth: c.depth() as i64,
                    backend_depth: c.backend_depth() as i64,
                    in_flight_count: c.in_flight_count() as i64,
                    deferred_count: c.deferred_count() as i64,
                    message_count: c.message_count,
                    requeue_count: c.requeue_count,
                    timeout_count: c.timeout_count,
                    client_count: c.consumer_count() as i64,
                    clients: filter
                        .include_clients
                        .then(|| c.consumers().iter().map(|cl| cl.stats()).collect()),
                    paused: c.paused,
                    e2e_processing_latency: e2e,
                    max_attempts,
                    dead_letter_topic,
                    dead_letter_count,
                });
            }
            if filter.channel.is_some() && channels.is_empty() {
                continue;
            }
            channels.sort_by(|a, b| a.channel_name.cmp(&b.channel_name));
            out.topics.push(TopicStats {
                topic_name: name.clone(),
                channels,
                depth: topic.depth() as i64,
                backend_depth: topic.backend_depth() as i64,
                message_count: topic.message_count,
                message_bytes: topic.message_bytes,
                paused: topic.paused,
                e2e_processing_latency: percentiles
                    .filter(|_| any_channel)
                    .map_or_else(no_e2e, |p| crate::e2e::report(&topic_e2e, p)),
            });
        }
        if filter.include_clients {
            for client in self.live_connections() {
                if client.profile.borrow().pub_counts.is_empty() {
                    continue;
                }
                let mut s = client.stats();
                if let Some(t) = &filter.topic {
                    s.pub_counts.retain(|PubCount { topic, .. }| topic == t);
                }
                out.producers.push(s);
            }
        }
        out
    }
}
