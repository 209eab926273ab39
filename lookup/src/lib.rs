//! nsqlookupd: NSQ's discovery daemon (docs/lookupd.md), on one glommio
//! executor.
//!
//! Where to start: [`boot`] binds the listeners and runs the executor;
//! [`tcp`] serves nsqd peers (the "  V1" protocol, codec in
//! `nsq_protocol::lookupd`); [`http`] serves the HTTP API; both act on the
//! [`registry`], the pure registration DB (time passed in); [`options`] are
//! the flags; [`metrics`] the Prometheus text.
//!
//! Invariants worth naming:
//! * All state lives on the executor thread ([`server::Server`] in an
//!   `Rc`); no `RefCell` borrow is held across an `.await`.
//! * Every TCP protocol error is answered and the connection closed; a
//!   closed connection leaves no producer behind.
//! * State code never reads the clock: callers pass `now`.

pub mod boot;
pub mod error;
pub mod http;
pub mod log;
pub mod metrics;
pub mod options;
pub mod registry;
pub mod server;
pub mod tcp;

pub use error::LookupError;
