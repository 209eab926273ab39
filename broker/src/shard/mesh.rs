//! The messages shards send each other, over one unbounded flume inbox per
//! shard (unbounded so that no cycle of full queues can deadlock; memory is
//! bounded because every sender waits for its acknowledgement before reading
//! more from its socket).

use std::os::fd::OwnedFd;

use bytes::Bytes;
use glommio::net::AcceptedTcpStream;
use nsq_protocol::identify::Negotiated;

use crate::topic::PutError;

/// One publish command forwarded to the topic's owner.
#[derive(Debug)]
pub struct ForwardedPublish {
    /// Topic name (a slice of the publisher's read buffer; valid name).
    pub topic: Bytes,
    /// DPUB delay, 0 for PUB/MPUB.
    pub defer_ms: u64,
    /// The bodies.
    pub bodies: Bodies,
    /// The publishing connection (0 for HTTP): after one of its commands
    /// fails, the owner skips its later ones in the same batch.
    pub connection: u64,
}

/// One body (PUB, DPUB) or many (MPUB), without allocating for one.
#[derive(Debug)]
pub enum Bodies {
    /// PUB / DPUB.
    One(Bytes),
    /// MPUB.
    Many(Vec<Bytes>),
}

impl Bodies {
    /// Number of messages.
    pub fn len(&self) -> usize {
        match self {
            Bodies::One(_) => 1,
            Bodies::Many(v) => v.len(),
        }
    }

    /// Never true for a valid publish.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl IntoIterator for Bodies {
    type Item = Bytes;
    type IntoIter = BodiesIter;
    fn into_iter(self) -> BodiesIter {
        match self {
            Bodies::One(b) => BodiesIter::One(Some(b)),
            Bodies::Many(v) => BodiesIter::Many(v.into_iter()),
        }
    }
}

/// Iterator over [`Bodies`].
#[derive(Debug)]
pub enum BodiesIter {
    /// One body.
    One(Option<Bytes>),
    /// Many.
    Many(std::vec::IntoIter<Bytes>),
}

impl Iterator for BodiesIter {
    type Item = Bytes;
    fn next(&mut self) -> Option<Bytes> {
        match self {
            BodiesIter::One(b) => b.take(),
            BodiesIter::Many(it) => it.next(),
        }
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = match self {
            BodiesIter::One(b) => usize::from(b.is_some()),
            BodiesIter::Many(it) => it.len(),
        };
        (n, Some(n))
    }
}

impl ExactSizeIterator for BodiesIter {}

/// A connection moving to the shard that owns the topic it subscribed to.
#[derive(Debug)]
pub struct Handoff {
    /// A duplicate of the socket; the old shard closed its own descriptor.
    pub fd: OwnedFd,
    /// Bytes read but not yet decoded.
    pub input: Vec<u8>,
    /// The connection's ID.
    pub client_id: u64,
    /// Peer address.
    pub remote: std::net::SocketAddr,
    /// Settings from IDENTIFY.
    pub settings: Negotiated,
    /// The SUB's topic and channel; `None` for a producer following the
    /// topic it publishes to (see `net::affinity`).
    pub subscribe: Option<(String, String)>,
    /// Stats identity.
    pub identity: crate::net::client::Identity,
    /// Unix seconds at connect.
    pub connect_ts: i64,
    /// Publish counts so far.
    pub pub_counts: Vec<(String, u64)>,
    /// TLS session and compression state, if negotiated.
    pub transport: Option<Box<crate::net::transport::Transport>>,
    /// AUTH result, if any.
    pub auth: Option<crate::auth::AuthSession>,
    /// Negotiated features for stats.
    pub features: crate::net::client::Features,
}

/// A message to a shard's inbox.
#[derive(Debug)]
pub enum ShardMsg {
    /// A new connection placed on this shard.
    Accepted(AcceptedTcpStream, crate::net::listener::Protocol),
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
        /// Topic.
        topic: String,
        /// Channel.
        channel: String,
        /// How many at most.
        n: usize,
        /// Where the answer goes.
        reply: flume::Sender<Result<Vec<crate::message::Message>, crate::shard::admin::AdminError>>,
    },
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
