//! What a channel keeps for dead letters: its setting (its own, or the
//! `--max-attempts` default), the messages on their way to the dead-letter
//! topic, and how many went there.
//!
//! A channel without any of this has no [`DeadLetters`] at all (a `None`),
//! so the default costs one check per requeue or timeout.

use std::cell::RefCell;
use std::rc::{Rc, Weak};

use nsq_protocol::MessageId;

use crate::channel::Channel;
use crate::deadletter::mover::Mover;
use crate::deadletter::{DeadLetterConfig, Setting};
use crate::inflight::IdHasher;
use crate::message::Message;

type IdMap<V> = std::collections::HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A channel's dead-letter state.
#[derive(Debug)]
pub(crate) struct DeadLetters {
    /// Set over HTTP or loaded from `nsqd.dat` (kept there); `None`: the
    /// `--max-attempts` default applies.
    pub(crate) setting: Option<Setting>,
    /// What applies now.
    pub(crate) active: Option<DeadLetterConfig>,
    /// Messages published to the dead-letter topic, not yet acknowledged.
    moving: IdMap<Message>,
    /// Messages moved since nsqd started.
    pub(crate) count: u64,
    mover: Rc<Mover>,
}

/// What became of a message on its way.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// In the dead-letter topic: let go of it.
    Moved,
    /// The publish failed: the channel takes it back.
    Failed(Message),
    /// Not (or no longer) on its way (emptied, flushed at shutdown).
    Unknown,
}

impl DeadLetters {
    /// State with `active` applying, whose moves go through `mover`.
    pub(crate) fn new(
        setting: Option<Setting>,
        active: Option<DeadLetterConfig>,
        mover: Rc<Mover>,
    ) -> DeadLetters {
        DeadLetters {
            setting,
            active,
            moving: IdMap::default(),
            count: 0,
            mover,
        }
    }

    /// Whether anything is to show or keep: a limit, a count, a setting.
    pub(crate) fn is_visible(&self) -> bool {
        self.active.is_some() || self.count > 0 || self.setting.is_some()
    }

    /// `message` timed out or was requeued: if it has had its attempts,
    /// send it on its way (it stays here until acknowledged) and return
    /// `None`; else give it back to be requeued.
    pub(crate) fn divert(
        &mut self,
        channel: &Weak<RefCell<Channel>>,
        message: Message,
    ) -> Option<Message> {
        let Some(config) = &self.active else {
            return Some(message);
        };
        if message.attempts < config.max_attempts {
            return Some(message);
        }
        self.mover.submit(
            channel.clone(),
            &config.topic,
            message.id,
            message.body.clone(),
        );
        self.moving.insert(message.id.0, message);
        None
    }

    /// The mover's answer for message `id`.
    pub(crate) fn answered(&mut self, id: MessageId, ok: bool) -> Outcome {
        match self.moving.remove(&id.0) {
            None => Outcome::Unknown,
            Some(_) if ok => {
                self.count += 1;
                Outcome::Moved
            }
            Some(message) => Outcome::Failed(message),
        }
    }

    /// Messages on their way.
    pub(crate) fn moving_count(&self) -> usize {
        self.moving.len()
    }

    /// Take every message on its way (shutdown writes them to disk; an
    /// emptied channel drops them). Later answers for them are ignored.
    pub(crate) fn take_moving(&mut self) -> Vec<Message> {
        let mut v: Vec<Message> = self.moving.drain().map(|(_, m)| m).collect();
        v.sort_by_key(|m| m.id.0);
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::name::TopicName;
    use bytes::Bytes;

    fn msg(id: u64, attempts: u16) -> Message {
        Message {
            id: MessageId(id),
            timestamp: 1,
            attempts,
            defer_ms: 0,
            body: Bytes::from_static(b"b"),
        }
    }

    fn state(max: u16) -> DeadLetters {
        DeadLetters::new(
            None,
            Some(DeadLetterConfig {
                max_attempts: max,
                topic: TopicName::new(Bytes::from_static(b"d")).unwrap(),
            }),
            Rc::new(Mover::default()),
        )
    }

    #[test]
    fn diverts_at_the_limit_and_settles_on_the_answer() {
        let mut s = state(2);
        let none = Weak::new();
        assert_eq!(s.divert(&none, msg(1, 1)), Some(msg(1, 1)));
        assert_eq!(s.divert(&none, msg(2, 2)), None);
        assert_eq!(s.divert(&none, msg(3, 3)), None);
        assert_eq!(s.moving_count(), 2);
        assert_eq!(s.answered(MessageId(2), true), Outcome::Moved);
        assert_eq!(s.answered(MessageId(3), false), Outcome::Failed(msg(3, 3)));
        assert_eq!(s.answered(MessageId(3), true), Outcome::Unknown);
        assert_eq!((s.count, s.moving_count()), (1, 0));
    }

    #[test]
    fn off_requeues_everything() {
        let mut s = state(1);
        s.active = None;
        assert_eq!(s.divert(&Weak::new(), msg(1, 9)), Some(msg(1, 9)));
        assert!(!s.is_visible());
    }

    #[test]
    fn taken_moves_are_forgotten() {
        let mut s = state(1);
        s.divert(&Weak::new(), msg(5, 1));
        s.divert(&Weak::new(), msg(4, 1));
        let ids: Vec<u64> = s.take_moving().iter().map(|m| m.id.0).collect();
        assert_eq!(ids, vec![4, 5]);
        assert_eq!(s.answered(MessageId(4), true), Outcome::Unknown);
        assert_eq!(s.count, 0);
    }
}
