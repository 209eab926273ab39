//! PUB, MPUB and DPUB (docs/protocol.md#pub, #mpub, #dpub): the TCP side of
//! the publish path ([`crate::publish`]). A publish goes to the topic's
//! owner through the connection's [`Publisher`](crate::publish::Publisher);
//! its `OK` (or `E_*_FAILED`) is written in command order once the owner
//! answered and its disk writes are done.

use nsq_protocol::frame::OK;
use nsq_protocol::{ClientError, ErrorCode};

use crate::net::conn::{Connection, Flow};
use crate::net::owned::OwnedPublish;
use crate::publish::pending::Answer;
use crate::publish::{PubKind, PutError};

impl Connection {
    /// Publish to the topic's owner (after the AUTH check, when AUTH is
    /// on).
    pub(crate) async fn publish(&mut self, kind: PubKind, p: OwnedPublish) -> Flow {
        let OwnedPublish {
            topic,
            defer_ms,
            bodies,
        } = p;
        if self.shard.ctx.auth.is_some() {
            if let Err(e) = self.check_auth(kind.name(), topic.as_str(), "").await {
                if !self.drain_pending().await {
                    return Flow::Close;
                }
                return self.fail(e);
            }
        }
        if self.shard.ctx.drain.is_draining() {
            // As NSQ refuses a publish while exiting
            // (docs/compatibility.md#draining).
            if !self.drain_pending().await {
                return Flow::Close;
            }
            return self.fail(refusal(kind, PutError::Exiting));
        }
        let owner = self.shard.owner_of(topic.as_str());
        self.affinity.note(owner);
        if self.publisher.must_wait_before(owner) && !self.drain_pending().await {
            return Flow::Close;
        }
        match self.publisher.start(kind, topic, defer_ms, bodies, owner) {
            None => Flow::Continue,
            Some(answer) => match self.answer(answer) {
                Ok(()) => Flow::Continue,
                Err(e) => self.fail(e),
            },
        }
    }

    /// Write the answers of pending publishes in order, waiting for those
    /// not known yet. False if one failed (the connection must close).
    pub(crate) async fn drain_pending(&mut self) -> bool {
        self.dispatch_if_due();
        if self.publisher.has_pending() {
            // Waiting for answers takes time: read the clock again after.
            self.now = None;
        }
        while let Some(answer) = self.publisher.next_answer().await {
            if let Err(e) = self.answer(answer) {
                self.publisher.abandon();
                self.fail(e);
                return false;
            }
        }
        true
    }

    /// Count the messages of an accepted publish and write `OK`, or return
    /// its `E_*_FAILED` error.
    fn answer(&self, answer: Answer) -> Result<(), ClientError> {
        let Answer {
            kind,
            topic,
            messages,
            result,
        } = answer;
        match result {
            Ok(()) => {
                self.client.respond(OK);
                self.client.add_pub_count(topic.as_str(), messages as u64);
                Ok(())
            }
            Err(e) => Err(refusal(kind, e)),
        }
    }
}

/// NSQ's `E_PUB_FAILED PUB failed <why>` (and MPUB's, DPUB's).
fn refusal(kind: PubKind, e: PutError) -> ClientError {
    let code = match kind {
        PubKind::Pub => ErrorCode::PubFailed,
        PubKind::Mpub => ErrorCode::MpubFailed,
        PubKind::Dpub => ErrorCode::DpubFailed,
    };
    ClientError::new(code, format!("{} failed {e}", kind.name()))
}
