//! nsqd's side of nsqlookupd (docs/lookupd.md#announcements,
//! #channel-pre-creation): the announcer.
//!
//! One plain thread, off the shards, owns a [`peer::Peer`] per
//! `--lookupd-tcp-address`. Shards tell it what happened with a
//! non-blocking send of an [`Announce`]; it forwards REGISTER/UNREGISTER to
//! every peer in order, PINGs every 15 s, reconnects on the next command
//! after an error, and registers every topic and channel again on each
//! (re)connect. So a slow or dead lookupd never touches the message path.
//!
//! A topic created at run time while lookupds are configured starts
//! *stopped* (messages wait at the topic); the announcer asks each connected
//! lookupd's HTTP `/channels?topic=` for the channels other nsqd have, and
//! the owner creates them and then starts the topic (`AdminOp::Start`), so
//! no existing channel misses the first messages.

pub(crate) mod channels;
pub(crate) mod peer;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nsq_protocol::lookupd::{IdentifyRequest, LookupRequest};

use crate::options::NSQ_VERSION;
use crate::shard::admin::{request_stats, AdminOp, StatsFilter};
use crate::shard::mesh::ShardMsg;
use crate::shard::Context;
use peer::Peer;

/// Interval between PINGs.
const PING_INTERVAL: Duration = Duration::from_secs(15);

/// What a shard (or the HTTP config endpoint) tells the announcer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Announce {
    /// A topic created at run time, not started yet: look up its
    /// channels, have the owner create them and start it, register it.
    NewTopic(String),
    /// `REGISTER <topic>`.
    Topic(String),
    /// `REGISTER <topic> <channel>`.
    Channel {
        /// The topic.
        topic: String,
        /// The channel.
        channel: String,
    },
    /// `UNREGISTER <topic>`.
    TopicGone(String),
    /// `UNREGISTER <topic> <channel>`.
    ChannelGone {
        /// The topic.
        topic: String,
        /// The channel.
        channel: String,
    },
    /// `nsqlookupd_tcp_addresses` changed.
    PeersChanged,
    /// The node drains: unregister every topic and channel from every
    /// lookupd and register nothing more, keeping the connections
    /// (docs/compatibility.md#draining).
    Drain,
    /// Exit: close the connections.
    Shutdown,
}

/// Start the announcer thread.
pub(crate) fn spawn(ctx: Arc<Context>, events: flume::Receiver<Announce>) {
    let spawned = std::thread::Builder::new()
        .name("lookupd".into())
        .spawn(move || Announcer::new(ctx).run(events));
    if let Err(e) = spawned {
        crate::log!(Error, "cannot start the lookupd announcer: {e}");
    }
}

struct Announcer {
    ctx: Arc<Context>,
    identity: IdentifyRequest,
    peers: Vec<Peer>,
    /// Draining: no REGISTER any more.
    draining: bool,
}

impl Announcer {
    fn new(ctx: Arc<Context>) -> Announcer {
        let f = &ctx.opts.flags;
        let tcp_port = match f.broadcast_tcp_port {
            0 => ctx.tcp_port,
            p => p,
        };
        let http_port = match f.broadcast_http_port {
            0 => ctx.http_port,
            p => p,
        };
        let identity = IdentifyRequest {
            broadcast_address: ctx.broadcast_address.clone(),
            tcp_port: i64::from(tcp_port),
            http_port: i64::from(http_port),
            version: NSQ_VERSION.into(),
            hostname: crate::options::hostname(),
            topology_zone: f.topology_zone.clone(),
            topology_region: f.topology_region.clone(),
        };
        Announcer {
            ctx,
            identity,
            peers: Vec::new(),
            draining: false,
        }
    }

    fn run(mut self, events: flume::Receiver<Announce>) {
        self.sync_peers();
        let mut next_ping = Instant::now() + PING_INTERVAL;
        loop {
            let wait = next_ping.saturating_duration_since(Instant::now());
            match events.recv_timeout(wait) {
                Ok(Announce::Shutdown) | Err(flume::RecvTimeoutError::Disconnected) => break,
                Ok(event) => self.handle(event),
                Err(flume::RecvTimeoutError::Timeout) => {
                    self.send_all(LookupRequest::Ping);
                    next_ping = Instant::now() + PING_INTERVAL;
                }
            }
        }
        for p in &mut self.peers {
            p.close();
        }
    }

    fn handle(&mut self, event: Announce) {
        if self.draining {
            match event {
                Announce::NewTopic(topic) => return self.start_topic(&topic),
                // Everything is unregistered already.
                Announce::Topic(_)
                | Announce::Channel { .. }
                | Announce::TopicGone(_)
                | Announce::ChannelGone { .. } => return,
                _ => {}
            }
        }
        match event {
            Announce::NewTopic(topic) => {
                self.start_topic(&topic);
                self.send_all(LookupRequest::Register {
                    topic: &topic,
                    channel: None,
                });
            }
            Announce::Topic(topic) => self.send_all(LookupRequest::Register {
                topic: &topic,
                channel: None,
            }),
            Announce::Channel { topic, channel } => self.send_all(LookupRequest::Register {
                topic: &topic,
                channel: Some(&channel),
            }),
            Announce::TopicGone(topic) => self.send_all(LookupRequest::Unregister {
                topic: &topic,
                channel: None,
            }),
            Announce::ChannelGone { topic, channel } => self.send_all(LookupRequest::Unregister {
                topic: &topic,
                channel: Some(&channel),
            }),
            Announce::PeersChanged => self.sync_peers(),
            Announce::Drain => self.unregister_all(),
            Announce::Shutdown => {}
        }
    }

    /// Draining: UNREGISTER every channel, then every topic, everywhere;
    /// from now on nothing is registered (not even on a reconnection).
    fn unregister_all(&mut self) {
        let all = self.current_registrations();
        self.draining = true;
        let channels = all.iter().filter(|(_, c)| c.is_some());
        let topics: std::collections::BTreeSet<&String> = all.iter().map(|(t, _)| t).collect();
        for (topic, channel) in channels {
            self.send_all(LookupRequest::Unregister {
                topic,
                channel: channel.as_deref(),
            });
        }
        for topic in topics {
            self.send_all(LookupRequest::Unregister {
                topic,
                channel: None,
            });
        }
        crate::log!(Info, "DRAIN: unregistered from every lookupd");
    }

    /// Match the peers to `nsqlookupd_tcp_addresses`: close the removed,
    /// connect the new ones.
    fn sync_peers(&mut self) {
        let wanted = self.ctx.lookupd_tcp_addresses();
        self.peers.retain_mut(|p| {
            let keep = wanted.contains(&p.addr);
            if !keep {
                p.close();
            }
            keep
        });
        let max = usize::try_from(self.ctx.opts.flags.max_body_size).unwrap_or(5 << 20);
        for addr in wanted {
            if !self.peers.iter().any(|p| p.addr == addr) {
                crate::log!(Info, "LOOKUP({addr}): adding peer");
                self.peers.push(Peer::new(addr, max));
                let i = self.peers.len() - 1;
                self.connect(i);
            }
        }
    }

    /// Connect peer `i` if needed; on a new connection register every
    /// topic and channel. False if it is not connected.
    fn connect(&mut self, i: usize) -> bool {
        let connected = match self.peers[i].ensure_connected(&self.identity) {
            Ok(new) => new,
            Err(peer::PeerError::Backoff) => return false,
            Err(e) => {
                crate::log!(Error, "LOOKUPD({}): {e}", self.peers[i].addr);
                return false;
            }
        };
        if connected && !self.draining {
            let all = self.current_registrations();
            for (topic, channel) in &all {
                let req = LookupRequest::Register {
                    topic,
                    channel: channel.as_deref(),
                };
                if let Err(e) = self.peers[i].command(req) {
                    crate::log!(Error, "LOOKUPD({}): {e}", self.peers[i].addr);
                    return false;
                }
            }
        }
        true
    }

    fn send_all(&mut self, req: LookupRequest<'_>) {
        for i in 0..self.peers.len() {
            let was_connected = self.peers[i].is_connected();
            if !self.connect(i) {
                continue;
            }
            match self.peers[i].command(req) {
                Ok(()) => {}
                // A connection that died while idle (lookupd restarted):
                // reconnect at once, which registers everything again.
                Err(peer::PeerError::Io(e)) if was_connected && !is_timeout(&e) => {
                    crate::log!(
                        Info,
                        "LOOKUPD({}): {req:?} failed - {e}; reconnecting",
                        self.peers[i].addr
                    );
                    if self.connect(i) {
                        if let Err(e) = self.peers[i].command(req) {
                            crate::log!(
                                Error,
                                "LOOKUPD({}): {req:?} failed - {e}",
                                self.peers[i].addr
                            );
                        }
                    }
                }
                Err(e) => {
                    crate::log!(
                        Error,
                        "LOOKUPD({}): {req:?} failed - {e}",
                        self.peers[i].addr
                    );
                }
            }
        }
    }

    /// Every (topic, channel) to register: `REGISTER <topic>` for a topic
    /// without channels, else one per channel (ephemerals included).
    fn current_registrations(&self) -> Vec<(String, Option<String>)> {
        let filter = StatsFilter {
            include_clients: false,
            ..StatsFilter::default()
        };
        let mut out = Vec::new();
        for rx in request_stats(&self.ctx.mesh, &filter, None) {
            let Ok(part) = rx.recv_timeout(Duration::from_secs(2)) else {
                continue;
            };
            for t in part.topics {
                if t.channels.is_empty() {
                    out.push((t.topic_name.clone(), None));
                }
                for c in t.channels {
                    out.push((t.topic_name.clone(), Some(c.channel_name)));
                }
            }
        }
        out
    }

    /// The new topic's channel query, on a thread of its own (a slow or hung
    /// lookupd delays only this topic, never the announcements or other new
    /// topics).
    fn start_topic(&mut self, topic: &str) {
        let lookupds: Vec<(String, u16)> = self
            .peers
            .iter()
            .filter_map(|p| {
                let info = p.info.as_ref()?;
                let host = if info.broadcast_address.is_empty() {
                    p.addr.rsplit_once(':').map_or("", |(h, _)| h).to_string()
                } else {
                    info.broadcast_address.clone()
                };
                Some((host, info.http_port))
            })
            .collect();
        let (ctx, name) = (self.ctx.clone(), topic.to_string());
        let spawned = std::thread::Builder::new()
            .name("lookupd-channels".into())
            .spawn(move || start_topic(&ctx, &name, &lookupds));
        if let Err(e) = spawned {
            crate::log!(
                Error,
                "TOPIC({topic}): cannot query lookupd for channels - {e}"
            );
            start_topic(&self.ctx, topic, &[]);
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

/// The channels the lookupds (`host`, HTTP port) know for `topic`
/// (ephemeral ones left out), created by the owner before it starts the
/// topic. Always starts it, whatever the lookupds answer.
fn start_topic(ctx: &Context, topic: &str, lookupds: &[(String, u16)]) {
    let f = &ctx.opts.flags;
    let mut channels = BTreeSet::new();
    for (host, port) in lookupds {
        match channels::query(
            host,
            *port,
            topic,
            f.http_client_connect_timeout,
            f.http_client_request_timeout,
        ) {
            Ok(found) => channels.extend(
                found
                    .into_iter()
                    .filter(|c| !nsq_protocol::names::is_ephemeral(c)),
            ),
            Err(e) => crate::log!(
                Error,
                "TOPIC({topic}): channels query to lookupd {host}:{port} failed - {e}"
            ),
        }
    }
    if lookupds.is_empty() {
        crate::log!(
            Error,
            "TOPIC({topic}): no available nsqlookupd to query for channels to pre-create"
        );
    }
    let owner = crate::shard::route::owner_of(topic, ctx.shards());
    let (reply, rx) = flume::bounded(1);
    let op = AdminOp::Start {
        topic: topic.to_string(),
        channels: channels.into_iter().collect(),
    };
    if ctx.mesh[owner].send(ShardMsg::Admin { op, reply }).is_ok() {
        let _ = rx.recv_timeout(Duration::from_secs(5));
    }
}
