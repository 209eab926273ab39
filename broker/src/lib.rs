//! nsqd: a thread-per-core, shared-nothing NSQ broker on glommio.
//!
//! Read [`ARCHITECTURE.md`](../ARCHITECTURE.md) first. Where to start:
//! [`boot`] starts one executor per shard; [`net::listener`] places
//! connections; [`net::conn`] runs a connection's read loop and
//! [`handler`] its commands; [`shard`] owns topics ([`topic`], [`channel`],
//! [`inflight`]) and their disk queues ([`backend`] over the `nsq-diskqueue`
//! crate),
//! and talks to other shards ([`shard::forward`],
//! [`shard::mesh`]); [`timers`] fires in-flight timeouts and deferred
//! deliveries.
//!
//! Invariants worth naming:
//! * A topic, its channels and their tables are touched only by the shard
//!   [`shard::route::owner_of`] names; no lock guards them.
//! * Every publish is acknowledged exactly once, in command order per
//!   connection, and only after the owner accepted it and wrote to disk
//!   whatever of it went to disk ([`shard::commit`]).
//! * No `RefCell` borrow is held across an `.await`.

pub mod auth;
pub mod backend;
pub mod boot;
pub mod channel;
pub mod datadir;
pub mod e2e;
pub mod handler;
pub mod http;
pub mod inflight;
pub mod log;
pub mod lookupd;
pub mod message;
pub mod message_id;
pub mod net;
pub mod notify;
pub mod options;
pub mod shard;
pub mod statsd;
pub mod timers;
pub mod tls;
pub mod topic;
