//! A shard: one glommio executor and everything it owns.
//!
//! Each shard owns the topics that [`route::owner_of`] assigns it, with
//! their channels, in-flight and deferred tables, and the connections placed
//! on it. Its inbox task is the single entry point for other shards:
//! forwarded publishes, their acknowledgements, new and handed-off
//! connections, shutdown.

pub mod admin;
pub mod commit;
pub mod forward;
pub mod load;
pub mod mesh;
pub mod route;

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use crate::inflight::IdHasher;
use std::rc::{Rc, Weak};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use nsq_protocol::command::Limits;
use nsq_protocol::identify::IdentifyPolicy;

use crate::backend::DiskShard;
use crate::lookupd::Announce;
use crate::message_id::IdGenerator;
use crate::net::client::Client;
use crate::notify::Notify;
use crate::options::Options;
use crate::timers::Timers;
use crate::topic::{PutError, Topic};
use commit::{GroupCommit, HeldAck};
use forward::Forwarder;
use mesh::{ForwardedPublish, ShardMsg};

/// What every shard shares (immutable after startup, or atomic).
#[derive(Debug)]
pub struct Context {
    /// Options.
    pub opts: Options,
    /// Decoder limits derived from the options.
    pub limits: Limits,
    /// IDENTIFY policy derived from the options.
    pub identify: IdentifyPolicy,
    /// Inbox of every shard, by shard number.
    pub mesh: Vec<flume::Sender<ShardMsg>>,
    /// TLS server config and policy (docs/protocol.md#tls).
    pub tls: crate::tls::TlsSetup,
    /// The auth client, with `--auth-http-address` (docs/protocol.md#auth).
    pub auth: Option<crate::auth::AuthClient>,
    /// The HTTPS port actually listened on (0 when not listening).
    pub https_port: u16,
    /// Next connection ID.
    pub next_client_id: AtomicU64,
    /// The TCP port actually listened on.
    pub tcp_port: u16,
    /// The HTTP port actually listened on (0 when HTTP is off).
    pub http_port: u16,
    /// Unix seconds at startup.
    pub start_time: i64,
    /// `--broadcast-address` or the hostname.
    pub broadcast_address: String,
    /// `--lookupd-tcp-address`, changeable over HTTP. Configuration, never
    /// touched on the message path.
    lookupd_tcp_addresses: std::sync::Mutex<Vec<String>>,
    /// Coalescing "nsqd.dat is stale" signal to the metadata writer.
    metadata_changes: flume::Sender<()>,
    /// Events for the lookupd announcer thread.
    announcer: flume::Sender<crate::lookupd::Announce>,
    /// Set while the last disk write failed (`/ping` answers NOK).
    unhealthy: AtomicBool,
    /// Why, for `/ping` and `/stats` (touched only when health changes).
    health_error: std::sync::Mutex<String>,
    /// How busy each shard is (placement decisions only).
    pub shard_load: load::ShardLoad,
}

impl Context {
    /// Derive limits and policy from the options; `ports` are the TCP and
    /// HTTP ports actually listened on.
    pub fn new(
        opts: Options,
        mesh: Vec<flume::Sender<ShardMsg>>,
        ports: (u16, u16),
        metadata_changes: flume::Sender<()>,
        announcer: flume::Sender<crate::lookupd::Announce>,
        tls: crate::tls::TlsSetup,
        https_port: u16,
    ) -> Context {
        let f = &opts.flags;
        let mesh_len = mesh.len();
        let limits = Limits {
            max_msg_size: f.max_msg_size as u64,
            max_body_size: f.max_body_size as u64,
            max_rdy_count: f.max_rdy_count as u64,
            max_defer_timeout_ms: opts.max_defer_timeout.as_millis() as u64,
        };
        let identify = IdentifyPolicy {
            max_heartbeat_interval: f.max_heartbeat_interval,
            max_output_buffer_size: f.max_output_buffer_size as u64,
            default_output_buffer_timeout: f.output_buffer_timeout,
            min_output_buffer_timeout: f.min_output_buffer_timeout,
            max_output_buffer_timeout: f.max_output_buffer_timeout,
            default_msg_timeout: f.msg_timeout,
            max_msg_timeout: f.max_msg_timeout,
            max_rdy_count: f.max_rdy_count as u64,
            max_deflate_level: f.max_deflate_level,
            tls_available: tls.server.is_some(),
            snappy_enabled: f.snappy,
            deflate_enabled: f.deflate,
            auth_required: !f.auth_http_address.is_empty(),
            ..IdentifyPolicy::default()
        };
        let auth = (!f.auth_http_address.is_empty()).then(|| {
            crate::auth::AuthClient::start(crate::auth::AuthConfig {
                addresses: f.auth_http_address.clone(),
                post: f.auth_http_request_method == "post",
                connect_timeout: f.http_client_connect_timeout,
                request_timeout: f.http_client_request_timeout,
                tls: tls.client.clone(),
            })
        });
        let broadcast_address = if f.broadcast_address.is_empty() {
            crate::options::hostname()
        } else {
            f.broadcast_address.clone()
        };
        let lookupd_tcp_addresses = std::sync::Mutex::new(f.lookupd_tcp_address.clone());
        Context {
            opts,
            limits,
            identify,
            mesh,
            tls,
            auth,
            https_port,
            next_client_id: AtomicU64::new(1),
            tcp_port: ports.0,
            http_port: ports.1,
            start_time: wall_clock_ns() / 1_000_000_000,
            broadcast_address,
            lookupd_tcp_addresses,
            metadata_changes,
            announcer,
            unhealthy: AtomicBool::new(false),
            health_error: std::sync::Mutex::new(String::new()),
            shard_load: load::ShardLoad::new(mesh_len),
        }
    }

    /// Tell the lookupd announcer (never blocks).
    pub fn announce(&self, event: crate::lookupd::Announce) {
        let _ = self.announcer.send(event);
    }

    /// A disk operation failed: `/ping` reports `NOK - <why>` until one
    /// succeeds.
    pub fn set_unhealthy(&self, why: String) {
        if let Ok(mut e) = self.health_error.lock() {
            *e = why;
        }
        self.unhealthy.store(true, Ordering::Release);
    }

    /// A disk write succeeded (cheap when already healthy).
    pub fn set_healthy(&self) {
        if self.unhealthy.load(Ordering::Acquire) {
            self.unhealthy.store(false, Ordering::Release);
            crate::log!(Info, "disk writes succeed again: healthy");
        }
    }

    /// `None` when healthy, else why not.
    pub fn health(&self) -> Option<String> {
        if !self.unhealthy.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.health_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
        )
    }

    /// A durable topic or channel was created, deleted, paused or
    /// unpaused: ask the writer to rewrite `nsqd.dat` (never blocks).
    pub fn metadata_changed(&self) {
        let _ = self.metadata_changes.try_send(());
    }

    /// Current `nsqlookupd_tcp_addresses`.
    pub fn lookupd_tcp_addresses(&self) -> Vec<String> {
        self.lookupd_tcp_addresses
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Replace `nsqlookupd_tcp_addresses`.
    pub fn set_lookupd_tcp_addresses(&self, addrs: Vec<String>) {
        if let Ok(mut v) = self.lookupd_tcp_addresses.lock() {
            *v = addrs;
        }
        self.announce(crate::lookupd::Announce::PeersChanged);
    }

    /// Number of shards.
    pub fn shards(&self) -> usize {
        self.mesh.len()
    }
}

/// Wall-clock nanoseconds (message timestamps).
pub fn wall_clock_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// One shard's state. Lives in an `Rc` on its executor thread.
#[derive(Debug)]
pub struct Shard {
    /// Shard number.
    pub id: usize,
    /// Shared context.
    pub ctx: Arc<Context>,
    topics: RefCell<HashMap<String, Rc<RefCell<Topic>>, BuildHasherDefault<IdHasher>>>,
    /// Timer for in-flight and deferred deadlines.
    pub timers: Rc<Timers>,
    /// Message IDs for topics on this shard.
    pub ids: IdGenerator,
    /// Cross-shard publishing.
    pub forwarder: Rc<Forwarder>,
    /// Which publishes are on disk yet.
    pub commit: Rc<GroupCommit>,
    /// The disk queues of the shard's topics and channels.
    pub disk: Rc<DiskShard>,
    connections: RefCell<HashMap<u64, Weak<Client>>>,
    /// Set when shutting down.
    pub stopping: Cell<bool>,
    /// Wakes the shard's main task while shutting down.
    pub stop_wake: Notify,
    /// Wakes the accept loops at shutdown (one each: a `Notify` wakes one task).
    pub accept_stops: RefCell<Vec<Rc<Notify>>>,
    /// One read buffer for every connection of the shard (borrowed only
    /// within a single poll).
    pub scratch: RefCell<Vec<u8>>,
}

impl Shard {
    /// A shard with no topics.
    pub fn new(id: usize, ctx: Arc<Context>) -> Shard {
        let commit = Rc::new(GroupCommit::default());
        Shard {
            id,
            disk: Rc::new(DiskShard::new(ctx.clone(), commit.clone())),
            commit,
            ids: IdGenerator::new(ctx.opts.node_id),
            forwarder: Rc::new(Forwarder::new(id, ctx.shards())),
            ctx,
            topics: RefCell::new(HashMap::default()),
            timers: Rc::new(Timers::default()),
            connections: RefCell::new(HashMap::new()),
            stopping: Cell::new(false),
            stop_wake: Notify::default(),
            accept_stops: RefCell::new(Vec::new()),
            scratch: RefCell::new(vec![0; 64 * 1024]),
        }
    }

    /// The shard that owns `topic`.
    pub fn owner_of(&self, topic: &str) -> usize {
        route::owner_of(topic, self.ctx.shards())
    }

    /// Find a topic owned here.
    pub fn topic(&self, name: &str) -> Option<Rc<RefCell<Topic>>> {
        self.topics.borrow().get(name).cloned()
    }

    /// Find or create a topic owned here. A new topic starts moving
    /// messages to channels at once, unless lookupds are configured: then
    /// the announcer first has the channels lookupd knows created
    /// (docs/lookupd.md#channel-pre-creation).
    pub fn get_or_create_topic(&self, name: &str) -> Rc<RefCell<Topic>> {
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
    pub fn load_topic(&self, name: &str) -> Rc<RefCell<Topic>> {
        let topic = self.topic(name).unwrap_or_else(|| self.create_topic(name));
        topic.borrow_mut().started = false;
        self.ctx.announce(Announce::Topic(name.to_string()));
        topic
    }

    /// Publish to a topic owned here. Returns the group-commit epoch to
    /// wait for before answering (0: nothing went to disk).
    pub fn publish_local(
        &self,
        topic: &str,
        defer_ms: u64,
        bodies: mesh::Bodies,
    ) -> Result<u64, PutError> {
        if self.stopping.get() {
            return Err(PutError::Exiting);
        }
        let topic = self.get_or_create_topic(topic);
        let mut topic = topic.borrow_mut();
        topic.put(bodies, defer_ms, &self.ids, wall_clock_ns(), Instant::now())
    }

    /// A consumer left its channel: delete an abandoned ephemeral channel,
    /// and an ephemeral topic left without channels
    /// (docs/protocol.md#lifecycle). Acts only on the very channel the consumer
    /// joined: a channel deleted and recreated since then (over HTTP) is a
    /// different one and is left alone.
    pub fn remove_consumer(&self, sub: &crate::net::conn::Subscription, client_id: u64) {
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
        self.ctx.announce(Announce::ChannelGone(
            sub.topic_name.clone(),
            sub.channel_name.clone(),
        ));
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
    pub fn get_or_create_channel(
        &self,
        topic: &Rc<RefCell<Topic>>,
        name: &str,
    ) -> Rc<RefCell<crate::channel::Channel>> {
        if let Some(c) = topic.borrow().channel(name) {
            return c;
        }
        let mut t = topic.borrow_mut();
        let c = t.get_or_create_channel(name, Instant::now());
        crate::log!(Info, "TOPIC({}): new channel({name})", t.name);
        self.ctx
            .announce(Announce::Channel(t.name.to_string(), name.to_string()));
        if !t.ephemeral && !nsq_protocol::names::is_ephemeral(name) {
            self.ctx.metadata_changed();
        }
        c
    }

    /// Remove a topic from the map (its owner deletes it).
    pub fn remove_topic(&self, name: &str) -> Option<Rc<RefCell<Topic>>> {
        self.topics.borrow_mut().remove(name)
    }

    /// Topics sorted by name.
    pub fn topics_sorted(&self) -> Vec<(String, Rc<RefCell<Topic>>)> {
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
    pub fn live_connections(&self) -> Vec<Rc<Client>> {
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
    pub fn register(&self, client: &Rc<Client>) {
        self.connections
            .borrow_mut()
            .insert(client.id, Rc::downgrade(client));
    }

    /// Forget a connection.
    pub fn unregister(&self, client_id: u64) {
        self.connections.borrow_mut().remove(&client_id);
        if self.stopping.get() {
            self.stop_wake.notify();
        }
    }

    /// Connections still open.
    pub fn connection_count(&self) -> usize {
        self.connections
            .borrow()
            .values()
            .filter(|w| w.strong_count() > 0)
            .count()
    }

    /// Begin shutdown: refuse publishes, close every connection.
    pub fn stop(&self) {
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
        for (origin, batch, results) in self.commit.fail_held() {
            let _ = self.ctx.mesh[origin].send(ShardMsg::PublishAck { batch, results });
        }
        self.stop_wake.notify();
        for stop in self.accept_stops.borrow().iter() {
            stop.notify();
        }
    }

    /// After the connections closed (docs/data-directory.md#shutdown): write
    /// every topic's and channel's memory, in-flight and deferred messages to
    /// their disk queues, close those, and wait until they are closed.
    pub async fn flush_to_disk(&self) {
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

    /// Apply a batch forwarded by another shard and answer it (once the
    /// disk writes it made are done).
    pub fn apply_forwarded(&self, origin: usize, batch: u64, commands: Vec<ForwardedPublish>) {
        let mut failed: Vec<u64> = Vec::new();
        let mut wait_for = 0;
        let results: Vec<(Result<(), PutError>, u64)> = commands
            .into_iter()
            .map(
                |ForwardedPublish {
                     topic,
                     defer_ms,
                     bodies,
                     connection,
                 }| {
                    if connection != 0 && failed.contains(&connection) {
                        return (Err(PutError::Skipped), 0);
                    }
                    let name = std::str::from_utf8(&topic).unwrap_or_default();
                    match self.publish_local(name, defer_ms, bodies) {
                        Ok(epoch) => {
                            wait_for = wait_for.max(epoch);
                            (Ok(()), epoch)
                        }
                        Err(e) => {
                            failed.push(connection);
                            (Err(e), 0)
                        }
                    }
                },
            )
            .collect();
        if wait_for > 0 {
            self.commit.hold(HeldAck {
                epoch: wait_for,
                origin,
                batch,
                results,
            });
            // Written already (a queue that failed to open answers at once).
            for (origin, batch, results) in self.commit.release() {
                let _ = self.ctx.mesh[origin].send(ShardMsg::PublishAck { batch, results });
            }
            return;
        }
        let results = results.into_iter().map(|(r, _)| r).collect();
        let _ = self.ctx.mesh[origin].send(ShardMsg::PublishAck { batch, results });
    }
}
