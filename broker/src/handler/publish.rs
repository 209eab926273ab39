//! PUB, MPUB and DPUB (docs/protocol.md#pub, #mpub, #dpub).
//!
//! The ownership rule at this hop: the connection's shard never touches a
//! topic it does not own. A publish to a local topic is applied at once; one
//! to a remote topic goes into this shard's forwarder outbox (batched with
//! every other connection's, one envelope per owner per tick) and its `OK`
//! is written when the owner's answer comes back, in command order.
//!
//! After a failed publish NSQ runs none of the connection's later commands.
//! So a publish that would run somewhere else than the forwarded ones still
//! unanswered (locally, or on another owner) first waits for their answers;
//! and an owner skips a connection's later commands in a batch once one of
//! them failed.

use crate::net::conn::{Connection, Flow, Pending};
use crate::net::owned::{OwnedPublish, PubKind};
use crate::shard::mesh::ForwardedPublish;

impl Connection {
    /// Publish to the topic's owner.
    pub async fn publish(&mut self, kind: PubKind, p: OwnedPublish) -> Flow {
        let OwnedPublish {
            topic,
            defer_ms,
            bodies,
        } = p;
        // The decoder validated the name, so it is ASCII.
        let name = std::str::from_utf8(&topic).unwrap_or_default();
        let owner = self.shard.owner_of(name);
        self.affinity.note(owner, bodies.len());
        let elsewhere =
            self.pending_remote_owner.is_some_and(|o| o != owner) || owner == self.shard.id;
        if elsewhere && !self.pending.is_empty() && !self.drain_pending().await {
            return Flow::Close;
        }
        if owner == self.shard.id {
            let n = bodies.len();
            let result = self.shard.publish_local(name, defer_ms, bodies);
            if let Ok(epoch @ 1..) = result {
                // Answered once its disk writes are done (group commit).
                self.pending
                    .push_back(Pending::Disk(kind, epoch, topic.clone(), n));
                return Flow::Continue;
            }
            return match self.answer_publish(kind, result.map(|_| ())) {
                Ok(()) => {
                    self.client.add_pub_count(name, n as u64);
                    Flow::Continue
                }
                Err(e) => self.fail(e),
            };
        }
        let seq = self.next_seq();
        let n = bodies.len();
        let topic_name = topic.clone();
        let command = ForwardedPublish {
            topic,
            defer_ms,
            bodies,
            connection: self.client.id,
        };
        self.shard.forwarder.submit(owner, command, &self.sink, seq);
        self.pending
            .push_back(Pending::Remote(kind, seq, topic_name, n));
        self.pending_remote_owner = Some(owner);
        Flow::Continue
    }
}
