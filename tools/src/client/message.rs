//! A received message and its responses (FIN, REQ, TOUCH), which may be
//! sent from any thread, once (docs/clients.md#message-handling).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use nsq_protocol::MessageId;

/// How a message is answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// `FIN`.
    Finish,
    /// `REQ` with this delay (None: go-nsq's default, 90 s × attempts
    /// capped at 15 min) and whether to signal backoff.
    Requeue(Option<Duration>, bool),
    /// `TOUCH`.
    Touch,
}

/// Where a message's responses go (its connection).
pub trait Responder: Send + Sync {
    /// Send `resp` for message `id` that had `attempts`.
    fn respond(&self, id: MessageId, attempts: u16, resp: Response);
}

/// A message delivered to a handler.
#[derive(Clone)]
pub struct Message {
    /// The message ID.
    pub id: MessageId,
    /// Nanoseconds since the epoch when nsqd accepted it.
    pub timestamp: i64,
    /// Delivery attempts (1 on first delivery).
    pub attempts: u16,
    /// The body.
    pub body: Vec<u8>,
    /// The `host:port` of the nsqd that delivered it.
    pub nsqd_address: Arc<str>,
    responder: Arc<dyn Responder>,
    responded: Arc<AtomicBool>,
    auto: Arc<AtomicBool>,
}

impl std::fmt::Debug for Message {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Message")
            .field("id", &self.id)
            .field("attempts", &self.attempts)
            .field("body_len", &self.body.len())
            .finish()
    }
}

impl Message {
    /// A message whose responses go to `responder`.
    pub fn new(
        header: nsq_protocol::MessageHeader,
        body: Vec<u8>,
        nsqd_address: Arc<str>,
        responder: Arc<dyn Responder>,
    ) -> Message {
        Message {
            id: header.id,
            timestamp: header.timestamp,
            attempts: header.attempts,
            body,
            nsqd_address,
            responder,
            responded: Arc::new(AtomicBool::new(false)),
            auto: Arc::new(AtomicBool::new(true)),
        }
    }

    /// The handler will answer itself (later, maybe from another thread).
    pub fn disable_auto_response(&self) {
        self.auto.store(false, Ordering::Release);
    }

    /// Whether the consumer answers for the handler.
    pub fn is_auto_response_enabled(&self) -> bool {
        self.auto.load(Ordering::Acquire)
    }

    /// Whether FIN or REQ was sent.
    pub fn has_responded(&self) -> bool {
        self.responded.load(Ordering::Acquire)
    }

    fn once(&self, resp: Response) {
        if !self.responded.swap(true, Ordering::AcqRel) {
            self.responder.respond(self.id, self.attempts, resp);
        }
    }

    /// `FIN`.
    pub fn finish(&self) {
        self.once(Response::Finish);
    }

    /// `REQ` with backoff; `None` = the default delay.
    pub fn requeue(&self, delay: Option<Duration>) {
        self.once(Response::Requeue(delay, true));
    }

    /// `REQ` without the backoff signal.
    pub fn requeue_without_backoff(&self, delay: Option<Duration>) {
        self.once(Response::Requeue(delay, false));
    }

    /// `TOUCH` (resets the server's timeout).
    pub fn touch(&self) {
        if !self.has_responded() {
            self.responder
                .respond(self.id, self.attempts, Response::Touch);
        }
    }
}

/// go-nsq's default REQ delay: `default` × attempts, capped at `max`.
pub fn default_requeue_delay(default: Duration, max: Duration, attempts: u16) -> Duration {
    default.saturating_mul(u32::from(attempts.max(1))).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct Rec(Mutex<Vec<Response>>);
    impl Responder for Rec {
        fn respond(&self, _: MessageId, _: u16, resp: Response) {
            self.0.lock().unwrap().push(resp);
        }
    }

    #[test]
    fn responds_once() {
        let rec = Arc::new(Rec(Mutex::new(Vec::new())));
        let h = nsq_protocol::MessageHeader {
            timestamp: 0,
            attempts: 1,
            id: MessageId(7),
        };
        let m = Message::new(h, b"x".to_vec(), "a:1".into(), rec.clone());
        m.touch();
        m.clone().finish();
        m.requeue(None);
        m.touch();
        assert_eq!(
            *rec.0.lock().unwrap(),
            vec![Response::Touch, Response::Finish]
        );
        assert!(m.has_responded());
    }

    #[test]
    fn requeue_delay() {
        let d = Duration::from_secs(90);
        let max = Duration::from_secs(900);
        assert_eq!(default_requeue_delay(d, max, 1), d);
        assert_eq!(default_requeue_delay(d, max, 3), Duration::from_secs(270));
        assert_eq!(default_requeue_delay(d, max, 100), max);
    }
}
