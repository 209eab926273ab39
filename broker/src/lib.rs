//! nsqd: a thread-per-core, shared-nothing NSQ broker on glommio.
//!
//! Read [`ARCHITECTURE.md`](../ARCHITECTURE.md) first. Where to start:
//! [`boot`] starts one executor per shard, each running its inbox
//! ([`shard::inbox`]); [`net::listener`] places connections; [`net::conn`]
//! runs a connection's read loop and [`handler`] its commands; [`publish`]
//! owns the publish path from a decoded command to its answer; [`shard`]
//! owns topics ([`topic`], [`channel`], [`inflight`]) and their disk
//! queues ([`backend`] over the `nsq-diskqueue` crate); [`timers`] fires
//! in-flight timeouts and deferred deliveries; [`http`] serves the HTTP
//! API; [`datadir`] keeps the data directory's lock and `nsqd.dat`.
//!
//! Invariants worth naming:
//! * A topic, its channels and their tables are touched only by the shard
//!   [`shard::route::owner_of`] names; no lock guards them.
//! * Every publish is acknowledged exactly once, in command order per
//!   connection, and only after the owner accepted it and wrote to disk
//!   whatever of it went to disk ([`publish::commit`]).
//! * No `RefCell` borrow is held across an `.await`.

pub mod boot;
pub mod options;

pub(crate) mod auth;
pub(crate) mod backend;
pub(crate) mod channel;
pub(crate) mod datadir;
pub(crate) mod deadletter;
pub(crate) mod drain;
pub(crate) mod due_heap;
pub(crate) mod e2e;
pub(crate) mod handler;
pub(crate) mod http;
pub(crate) mod inflight;
pub(crate) use nsq_daemon_support::log;
pub(crate) mod lookupd;
pub(crate) mod message;
pub(crate) mod message_id;
pub(crate) mod name;
pub(crate) mod net;
pub(crate) mod notify;
pub(crate) mod publish;
pub(crate) mod shard;
pub(crate) mod statsd;
pub(crate) mod timers;
pub(crate) mod tls;
pub(crate) mod topic;

pub use shard::route::owner_of;
