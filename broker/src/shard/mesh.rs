//! The messages shards send each other, over one unbounded flume inbox per
//! shard (unbounded so that no cycle of full queues can deadlock; memory is
//! bounded because every sender waits for its acknowledgement before reading
//! more from its socket).

use glommio::net::AcceptedTcpStream;

use crate::net::handoff::Handoff;
use crate::publish::forward::ForwardedPublish;
use crate::publish::PutError;

/// A message to a shard's inbox.
#[derive(Debug)]
pub(crate) enum ShardMsg {
    /// A new connection placed on this shard.
    Accepted {
        /// The connection.
        stream: AcceptedTcpStream,
        /// What it speaks.
        protocol: crate::net::listener::Protocol,
    },
    /// Publishes for topics this shard owns, from shard `origin`.
    Publish {
        /// Sending shard.
        origin: usize,
        /// Sender's batch number, echoed in the ack.
        batch: u64,
        /// The commands, in order.
        commands: Vec<ForwardedPublish>,
    },
    /// The owner's answer to a `Publish`, one result per command.
    PublishAck {
        /// The batch number.
        batch: u64,
        /// Per command.
        results: Vec<Result<(), PutError>>,
    },
    /// A subscribed connection moving here.
    Adopt(Box<Handoff>),
    /// An HTTP admin operation on a topic this shard owns.
    Admin {
        /// The operation.
        op: crate::shard::admin::AdminOp,
        /// Where the result goes.
        reply: flume::Sender<Result<(), crate::shard::admin::AdminError>>,
    },
    /// Up to `n` messages queued in a channel's memory, oldest first
    /// (`/channel/peek`).
    Peek {
        /// The channel.
        channel: crate::shard::admin::ChannelRef,
        /// How many at most.
        n: usize,
        /// Where the answer goes.
        reply: flume::Sender<Result<Vec<crate::message::Message>, crate::shard::admin::AdminError>>,
    },
    /// Dead letters: settings, redrive (docs/compatibility.md#dead-letters).
    DeadLetter(crate::deadletter::request::Request),
    /// What is left to drain on this shard (docs/compatibility.md#draining).
    Drain(flume::Sender<crate::drain::ShardDrain>),
    /// This shard's part of `/stats`.
    Stats {
        /// The filter.
        filter: crate::shard::admin::StatsFilter,
        /// Where the answer goes.
        reply: flume::Sender<crate::shard::admin::ShardStats>,
    },
    /// Answer once every disk queue of the shard has opened
    /// (docs/data-directory.md#startup).
    Ready(flume::Sender<()>),
    /// Start accepting on these listening sockets (after startup loading).
    Listen(Vec<(i32, crate::net::listener::Protocol)>),
    /// Stop: close connections and exit.
    Shutdown,
}
