//! A shard: one glommio executor and everything it owns.
//!
//! Each shard owns the topics that [`route::owner_of`] assigns it, with
//! their channels, in-flight and deferred tables, and the connections placed
//! on it. Its inbox task ([`inbox`]) is the single entry point for other
//! shards: forwarded publishes, their acknowledgements, new and handed-off
//! connections, admin operations, stats, shutdown.
//!
//! * [`context`]: what every shard shares.
//! * [`mesh`]: the messages shards send each other.
//! * [`route`]: which shard owns a topic.
//! * [`admin`]: HTTP's operations on topics and channels, and `/stats`.
//! * [`load`]: how busy each shard is.

pub(crate) mod admin;
pub(crate) mod context;
pub(crate) mod inbox;
pub(crate) mod load;
pub(crate) mod mesh;
pub(crate) mod route;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use crate::backend::DiskShard;
use crate::inflight::IdHasher;
use crate::lookupd::Announce;
use crate::message_id::IdGenerator;
use crate::net::client::Client;
use crate::notify::Notify;
use crate::publish::commit::GroupCommit;
use crate::publish::forward::Forwarder;
use crate::publish::owner::AckRoute;
use crate::timers::Timers;
use crate::topic::Topic;
pub(crate) use context::Context;

/// Wall-clock nanoseconds (message timestamps).
pub(crate) fn wall_clock_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One shard's state. Lives in an `Rc` on its executor thread.
#[derive(Debug)]
pub(crate) struct Shard {
    /// Shard number.
    pub(crate) id: usize,
    /// Shared context.
    pub(crate) ctx: Arc<Context>,
    topics: RefCell<HashMap<String, Rc<RefCell<Topic>>, BuildHasherDefault<IdHasher>>>,
    /// Timer for in-flight and deferred deadlines.
    timers: Rc<Timers>,
    /// Heartbeats and read deadlines of the shard's connections.
    pub(crate) heartbeats: Rc<crate::net::heartbeats::Heartbeats>,
    /// Message IDs for topics on this shard.
    pub(crate) ids: IdGenerator,
    /// Cross-shard publishing.
    pub(crate) forwarder: Rc<Forwarder>,
    /// Which publishes are on disk yet.
    pub(crate) commit: Rc<GroupCommit>,
    /// Publishes dead letters (docs/compatibility.md#dead-letters).
    pub(crate) dead_letter_mover: Rc<crate::deadletter::mover::Mover>,
    /// The disk queues of the shard's topics and channels.
    disk: Rc<DiskShard>,
    connections: RefCell<HashMap<u64, Weak<Client>>>,
    /// Set when shutting down.
    stopping: Cell<bool>,
    /// Wakes the shard's main task while shutting down.
    stop_wake: Notify,
    /// Wakes the accept loops at shutdown (one each: a `Notify` wakes one task).
    accept_stops: RefCell<Vec<Rc<Notify>>>,
    /// One read buffer for every connection of the shard (borrowed only
    /// within a single poll).
    pub(crate) scratch: RefCell<Vec<u8>>,
}

impl Shard {
    /// A shard with no topics.
    pub(crate) fn new(id: usize, ctx: Arc<Context>) -> Shard {
        let commit = Rc::new(GroupCommit::new(AckRoute::new(ctx.mesh.clone())));
        Shard {
            id,
            disk: Rc::new(DiskShard::new(ctx.clone(), commit.clone())),
            commit,
            dead_letter_mover: Rc::default(),
            ids: IdGenerator::new(ctx.opts.node_id),
            forwarder: Rc::new(Forwarder::new(id, ctx.shards())),
            ctx,
            topics: RefCell::new(HashMap::default()),
            timers: Rc::new(Timers::default()),
            heartbeats: Rc::default(),
            connections: RefCell::new(HashMap::new()),
            stopping: Cell::new(false),
            stop_wake: Notify::default(),
            accept_stops: RefCell::new(Vec::new()),
            scratch: RefCell::new(vec![0; 64 * 1024]),
        }
    }

    /// Whether the shard is shutting down.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.get()
    }

    /// Have `stop` notified when the shard stops (an accept loop).
    pub(crate) fn on_stop(&self, stop: Rc<Notify>) {
        self.accept_stops.borrow_mut().push(stop);
    }

    /// The shard that owns `topic`.
    pub(crate) fn owner_of(&self, topic: &str) -> usize {
        route::owner_of(topic, self.ctx.shards())
    }

    /// Find a topic owned here.
    pub(crate) fn topic(&self, name: &str) -> Option<Rc<RefCell<Topic>>> {
        self.topics.borrow().get(name).cloned()
    }

    /// Find or create a topic owned here. A new topic starts moving
    /// messages to channels at once, unless lookupds are configured: then
    /// the announcer first has the channels lookupd knows created
    /// (docs/lookupd.md#channel-pre-creation).
    pub(crate) fn get_or_create_topic(&self, name: &str) -> Rc<RefCell<Topic>> {
        if let Some(t) = self.topic(name) {
            return t;
        }
        let topic = self.create_topic(name);
        if self.ctx.lookupd_tcp_addresses().is_empty() {
            self.ctx.announce(Announce::Topic(name.to_string()));
        } else {
            topic.borrow_mut().started = false;
            self.ctx.announce(Announce::NewTopic(name.to_string()));
        }
        topic
    }

    /// Create a topic (not there yet).
    fn create_topic(&self, name: &str) -> Rc<RefCell<Topic>> {
        debug_assert_eq!(self.owner_of(name), self.id);
        let f = &self.ctx.opts.flags;
        let topic = Topic::new_shared(
            name,
            f.mem_queue_size.max(0) as usize,
            f.max_msg_timeout,
            self.timers.clone(),
            self.disk.clone(),
        );
        topic.borrow_mut().e2e_window = self.ctx.opts.e2e.as_ref().map(|e| e.window);
        self.topics
            .borrow_mut()
            .insert(name.to_string(), topic.clone());
        crate::log!(Info, "TOPIC({name}): created");
        if !nsq_protocol::names::is_ephemeral(name) {
            self.ctx.metadata_changed();
        }
        topic
    }

    /// Startup (docs/data-directory.md#startup): a topic of `nsqd.dat`, not
    /// started (no lookupd query).
    pub(crate) fn load_topic(&self, name: &str) -> Rc<RefCell<Topic>> {
        let topic = self.topic(name).unwrap_or_else(|| self.create_topic(name));
        topic.borrow_mut().started = false;
        self.ctx.announce(Announce::Topic(name.to_string()));
        topic
    }

    /// A consumer left its channel: delete an abandoned ephemeral channel,
    /// and an ephemeral topic left without channels
    /// (docs/protocol.md#lifecycle). Acts only on the very channel the consumer
    /// joined: a channel deleted and recreated since then (over HTTP) is a
    /// different one and is left alone.
    pub(crate) fn remove_consumer(&self, sub: &crate::net::conn::Subscription, client_id: u64) {
        let abandoned = sub.channel.borrow_mut().remove_consumer(client_id);
        if !abandoned || !sub.channel.borrow().ephemeral {
            return;
        }
        let Some(topic) = self
            .topic(&sub.topic_name)
            .filter(|t| Rc::ptr_eq(t, &sub.topic))
        else {
            return;
        };
        let mut topic_ref = topic.borrow_mut();
        if !topic_ref
            .channel(&sub.channel_name)
            .is_some_and(|c| Rc::ptr_eq(&c, &sub.channel))
        {
            return;
        }
        topic_ref.remove_channel(&sub.channel_name);
        self.ctx.announce(Announce::ChannelGone {
            topic: sub.topic_name.clone(),
            channel: sub.channel_name.clone(),
        });
        crate::log!(
            Info,
            "TOPIC({}): deleting ephemeral channel {}",
            sub.topic_name,
            sub.channel_name
        );
        if topic_ref.ephemeral && topic_ref.channels().is_empty() {
            drop(topic_ref);
            self.topics.borrow_mut().remove(&sub.topic_name);
            self.ctx
                .announce(Announce::TopicGone(sub.topic_name.clone()));
            crate::log!(Info, "TOPIC({}): deleting ephemeral topic", sub.topic_name);
        }
    }

    /// Find or create a channel of a topic owned here.
    pub(crate) fn get_or_create_channel(
        &self,
        topic: &Rc<RefCell<Topic>>,
        name: &str,
    ) -> Rc<RefCell<crate::channel::Channel>> {
        if let Some(c) = topic.borrow().channel(name) {
            return c;
        }
        let mut t = topic.borrow_mut();
        let c = t.get_or_create_channel(name, Instant::now());
        self.default_dead_letters(&t.name, &mut c.borrow_mut());
        crate::log!(Info, "TOPIC({}): new channel({name})", t.name);
        self.ctx.announce(Announce::Channel {
            topic: t.name.to_string(),
            channel: name.to_string(),
        });
        if !t.ephemeral && !nsq_protocol::names::is_ephemeral(name) {
            self.ctx.metadata_changed();
        }
        c
    }

    /// Remove a topic from the map (its owner deletes it).
    pub(crate) fn remove_topic(&self, name: &str) -> Option<Rc<RefCell<Topic>>> {
        self.topics.borrow_mut().remove(name)
    }

    /// Topics sorted by name.
    pub(crate) fn topics_sorted(&self) -> Vec<(String, Rc<RefCell<Topic>>)> {
        let mut v: Vec<_> = self
            .topics
            .borrow()
            .iter()
            .map(|(k, t)| (k.clone(), t.clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Open connections on this shard, oldest first.
    pub(crate) fn live_connections(&self) -> Vec<Rc<Client>> {
        let mut v: Vec<_> = self
            .connections
            .borrow()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        v.sort_by_key(|c| c.id);
        v
    }

    /// Track a connection (for shutdown).
    pub(crate) fn register(&self, client: &Rc<Client>) {
        self.connections
            .borrow_mut()
            .insert(client.id, Rc::downgrade(client));
    }

    /// Forget a connection.
    pub(crate) fn unregister(&self, client_id: u64) {
        self.connections.borrow_mut().remove(&client_id);
        if self.stopping.get() {
            self.stop_wake.notify();
        }
    }

    /// Connections still open.
    pub(crate) fn connection_count(&self) -> usize {
        self.connections
            .borrow()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Begin shutdown: refuse publishes, close every connection.
    pub(crate) fn stop(&self) {
        self.stopping.set(true);
        let clients: Vec<_> = self
            .connections
            .borrow()
            .values()
            .filter_map(Weak::upgrade)
            .collect();
        for c in clients {
            c.kill();
        }
        self.forwarder.fail_all();
        self.commit.fail_held();
        self.stop_wake.notify();
        for stop in self.accept_stops.borrow().iter() {
            stop.notify();
        }
    }

    /// After the connections closed (docs/data-directory.md#shutdown): write
    /// every topic's and channel's memory, in-flight and deferred messages to
    /// their disk queues, close those, and wait until they are closed.
    pub(crate) async fn flush_to_disk(&self) {
        let now = Instant::now();
        let now_ms = wall_clock_ns() / 1_000_000;
        // The map stays: the final nsqd.dat is built from it.
        let topics = self.topics_sorted();
        let held = self.messages_in_memory_of(&topics);
        for (_, topic) in &topics {
            topic.borrow_mut().flush_and_close(now, now_ms);
        }
        self.disk.wait_retired().await;
        if held > 0 {
            crate::log!(
                Info,
                "shard {}: {held} messages from memory written to disk",
                self.id
            );
        }
    }

    fn messages_in_memory_of(&self, topics: &[(String, Rc<RefCell<Topic>>)]) -> usize {
        topics
            .iter()
            .map(|(_, t)| {
                let t = t.borrow();
                let backend = t.backend_depth() as usize;
                t.depth() - backend
                    + t.channels()
                        .iter()
                        .map(|c| {
                            let c = c.borrow();
                            c.depth() - c.backend_depth() as usize
                                + c.in_flight_count()
                                + c.deferred_count()
                        })
                        .sum::<usize>()
            })
            .sum()
    }
}
