//! PUB, MPUB and DPUB (reference A.6.11-A.6.13).
//!
//! The ownership rule at this hop: the connection's shard never touches a
//! topic it does not own. A publish to a local topic is applied at once; one
//! to a remote topic goes into this shard's forwarder outbox (batched with
//! every other connection's, one envelope per owner per tick) and its `OK`
//! is written when the owner's answer comes back, in command order.

use crate::net::conn::{Connection, Flow, Pending};
use crate::net::owned::{OwnedPublish, PubKind};
use crate::shard::mesh::ForwardedPublish;

impl Connection {
    /// Publish to the topic's owner.
    pub fn publish(&mut self, kind: PubKind, p: OwnedPublish) -> Flow {
        let OwnedPublish {
            topic,
            defer_ms,
            bodies,
        } = p;
        // The decoder validated the name, so it is ASCII.
        let name = std::str::from_utf8(&topic).unwrap_or_default();
        let owner = self.shard.owner_of(name);
        if owner == self.shard.id {
            let n = bodies.len();
            let result = self.shard.publish_local(name, defer_ms, bodies);
            let failed = result.is_err();
            if !failed {
                self.client.add_pub_count(name, n as u64);
            }
            if self.pending.is_empty() {
                if let Err(e) = self.answer_publish(kind, result) {
                    return self.fail(e);
                }
            } else {
                self.pending.push_back(Pending::Local(kind, result));
            }
            return if failed { Flow::Close } else { Flow::Continue };
        }
        let seq = self.next_seq();
        let n = bodies.len();
        let topic_name = topic.clone();
        self.shard.forwarder.submit(
            owner,
            ForwardedPublish {
                topic,
                defer_ms,
                bodies,
            },
            &self.sink,
            seq,
        );
        self.pending
            .push_back(Pending::Remote(kind, seq, topic_name, n));
        Flow::Continue
    }
}
