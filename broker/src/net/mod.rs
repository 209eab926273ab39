//! Networking: the accept loop, TCP connections (read loop, writer task,
//! the state their channel and tasks share), the hand-off of a connection
//! to another shard, the TLS/compression transport and socket helpers.
//!
//! * [`listener`]: accept and place connections round-robin.
//! * [`conn`]: one connection's read loop; [`owned`]: decoded commands as
//!   slices of the read buffer.
//! * [`client`]: the state a connection's channel and tasks share;
//!   [`writer`]: its writer task.
//! * [`handoff`]: moving a connection to another shard (after SUB, or a
//!   producer following its topic, [`affinity`]).
//! * [`transport`]: TLS, snappy, deflate; [`io`]: reading and writing the
//!   socket; [`buffers`]: the shard's pool of read and write buffers, lent
//!   to a connection only while it has data.
//! * [`heartbeats`]: the shard's heartbeat clock (heartbeats and read
//!   deadlines of every connection, no timer per connection).

pub(crate) mod affinity;
pub(crate) mod buffers;
pub(crate) mod client;
pub(crate) mod conn;
pub(crate) mod handoff;
pub(crate) mod heartbeats;
pub(crate) mod io;
pub(crate) mod listener;
pub(crate) mod owned;
pub(crate) mod transport;
pub(crate) mod writer;

/// Run a connection task; a panic ends that connection only (logged), never
/// the shard that serves everyone else.
pub(crate) use nsq_daemon_support::spawn_connection;
