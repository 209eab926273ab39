//! The broker's in-memory message: header fields plus a shared body.
//!
//! Fan-out to channels clones a `Message`: the body is a [`Bytes`] handle,
//! so no body is ever copied between channels.

use bytes::Bytes;
use nsq_protocol::frame::encode_message;
use nsq_protocol::{MessageHeader, MessageId};

/// A message as queued in a topic or channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Message {
    /// Unique per topic.
    pub(crate) id: MessageId,
    /// Wall-clock ns at publish; kept across requeues.
    pub(crate) timestamp: i64,
    /// Deliveries so far.
    pub(crate) attempts: u16,
    /// Remaining deferral in ms while the message waits at the topic (DPUB).
    pub(crate) defer_ms: u64,
    /// The body, shared by every copy.
    pub(crate) body: Bytes,
}

impl Message {
    /// Append this message as a message frame.
    pub(crate) fn encode_frame(&self, out: &mut Vec<u8>) {
        let header = MessageHeader {
            timestamp: self.timestamp,
            attempts: self.attempts,
            id: self.id,
        };
        encode_message(out, &header, &self.body);
    }
}
