//! A connection's publishes whose answers are not given yet, in command
//! order, and an answer once it is known.

use crate::name::TopicName;
use crate::publish::{PubKind, PutError};

/// A publish not yet answered.
#[derive(Debug)]
pub(crate) enum Pending {
    /// Forwarded to its owner shard; the result arrives in the
    /// connection's sink under `seq`.
    Remote {
        /// Which command.
        kind: PubKind,
        /// Its sequence number at the sink.
        seq: u64,
        /// Its topic (for the connection's `pub_counts`).
        topic: TopicName,
        /// Its message count.
        messages: usize,
    },
    /// Applied here; answered once group-commit epoch `epoch` is on disk.
    Disk {
        /// Which command.
        kind: PubKind,
        /// The epoch to wait for.
        epoch: u64,
        /// Its topic.
        topic: TopicName,
        /// Its message count.
        messages: usize,
    },
}

/// A publish's answer.
#[derive(Debug)]
pub(crate) struct Answer {
    /// Which command.
    pub(crate) kind: PubKind,
    /// Its topic.
    pub(crate) topic: TopicName,
    /// How many messages it published.
    pub(crate) messages: usize,
    /// Accepted, or why not.
    pub(crate) result: Result<(), PutError>,
}
