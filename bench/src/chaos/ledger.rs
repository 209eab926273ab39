//! The checker: every publish the harness made, every channel's life, every
//! delivery, and the verdict (Jepsen-style: an acknowledged write must be
//! read back).
//!
//! Pure bookkeeping, no I/O: the runner feeds events (with times in ms since
//! the run started) and asks for a [`Verdict`].
//!
//! **Which channels must deliver a message.** A message published to nsqd
//! *n*, topic *t* (sent at `s`) is *required* on channel *c* when *c*
//! certainly existed on *n* from before `s` to the end of the run:
//! * no delete or empty of *c* (or of all of *t*'s channels: topic delete
//!   or empty) finished at or after `s` (it may have removed the message);
//! * and *c* was created (a SUB or `/channel/create` answered) after the
//!   last delete of it finished and no later than `s`. In default mode a
//!   SIGKILL counts as such a delete too: channels not yet written to
//!   `nsqd.dat` are legitimately gone after it.
//!
//! A required channel *delivered* the message when a consumer FINed it
//! there. A message missing on a required channel is *lost*, except in
//! default mode (not `--sync-every=1 --mem-queue-size=0`) when nsqd was
//! SIGKILLed (or crashed) after it was sent, or its disk was full after:
//! then the loss is the documented price of unsynced data and counted
//! apart. A delivery after the message was FINed on that channel is a
//! *duplicate*.

use crate::chaos::body;

/// Checked channels per topic.
pub const MAX_CHANNELS: usize = 4;

/// Bits of the key that number a producer's messages.
pub const SEQ_BITS: u32 = 40;

/// The key of a producer's `seq`-th message.
pub fn key(producer: u32, seq: u64) -> u64 {
    ((producer as u64) << SEQ_BITS) | seq
}

fn split(key: u64) -> (usize, usize) {
    (
        (key >> SEQ_BITS) as usize,
        (key & ((1 << SEQ_BITS) - 1)) as usize,
    )
}

/// What happened to a publish.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PubState {
    /// Sent, no answer (yet, or ever: the connection broke).
    Sent,
    /// Answered `OK`.
    Acked,
    /// Answered with an error.
    Failed,
}

/// One message, as compact as possible (millions of them).
#[derive(Debug, Clone)]
struct Msg {
    sent_ms: u32,
    acked_ms: u32,
    nsqd: u8,
    topic: u8,
    state: PubState,
    /// FINs sent, per channel.
    fins: [u8; MAX_CHANNELS],
    /// Deliveries after the first FIN, per channel.
    dups: [u8; MAX_CHANNELS],
}

/// Something that removes a channel's messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Removal {
    /// Delete: the channel is gone until created again.
    Delete,
    /// Empty: the channel stays.
    Empty,
}

/// The history of one (nsqd, topic, channel).
#[derive(Debug, Clone, Default)]
struct Life {
    /// Times a SUB or `/channel/create` was answered, sorted on use.
    created: Vec<u64>,
    /// Latest end of any removal.
    last_removal_end: Option<u64>,
    /// Latest end of a delete.
    last_delete_end: Option<u64>,
}

/// Why a delivered body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bad {
    /// Not an intact chaos body.
    Body(body::Corrupt),
    /// A key the harness never sent.
    Phantom(u64),
    /// Sent to another nsqd or topic than it arrived from.
    Misrouted(u64),
}

/// A lost message, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lost {
    /// Its key.
    pub key: u64,
    /// nsqd index.
    pub nsqd: usize,
    /// Topic index.
    pub topic: usize,
    /// Sent, ms.
    pub sent_ms: u64,
    /// Acknowledged, ms.
    pub acked_ms: u64,
    /// Channels that never delivered it.
    pub missing: Vec<usize>,
}

/// The checker's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Publishes answered OK.
    pub acked: u64,
    /// Acknowledged messages FINed on every channel that had to deliver
    /// them (and on at least one channel).
    pub delivered: u64,
    /// Acknowledged messages missing on a channel that had to deliver them.
    pub lost: u64,
    /// Default mode: missing after a SIGKILL/crash of their nsqd.
    pub lost_unsynced: u64,
    /// Default mode: missing after their nsqd's disk was full.
    pub lost_disk_full: u64,
    /// Acknowledged messages no channel had to deliver (deleted, emptied)
    /// and none did.
    pub exempt: u64,
    /// (message, channel) pairs still to be delivered.
    pub pending_pairs: u64,
    /// Of those, the pairs of `lost_unsynced` and `lost_disk_full` messages.
    pub pending_expected: u64,
    /// Deliveries after a FIN on the same channel.
    pub dup: u64,
    /// Refused bodies.
    pub corrupt: u64,
    /// Publishes never answered (connection lost) that were delivered.
    pub unacked_delivered: u64,
    /// Publishes never answered.
    pub unacked: u64,
    /// Publishes answered with an error.
    pub failed: u64,
    /// The first lost messages.
    pub examples: Vec<Lost>,
}

/// Every publish, channel life, kill and delivery of a run.
#[derive(Debug, Clone)]
pub struct Ledger {
    sync_mode: bool,
    nsqds: usize,
    topics: usize,
    channels: usize,
    producers: Vec<Vec<Msg>>,
    lives: Vec<Life>,
    /// Per nsqd: SIGKILL and crash times.
    kills: Vec<Vec<u64>>,
    /// Per nsqd: latest end of a full-disk period.
    disk_full_end: Vec<Option<u64>>,
    corrupt: u64,
    bad_examples: Vec<Bad>,
}

impl Ledger {
    /// A ledger for `nsqds` x `topics` x `channels` (at most
    /// [`MAX_CHANNELS`]); `sync_mode`: every acknowledged message must
    /// survive SIGKILL.
    pub fn new(sync_mode: bool, nsqds: usize, topics: usize, channels: usize) -> Ledger {
        assert!(channels <= MAX_CHANNELS && nsqds < 256 && topics < 256);
        Ledger {
            sync_mode,
            nsqds,
            topics,
            channels,
            producers: Vec::new(),
            lives: vec![Life::default(); nsqds * topics * channels],
            kills: vec![Vec::new(); nsqds],
            disk_full_end: vec![None; nsqds],
            corrupt: 0,
            bad_examples: Vec::new(),
        }
    }

    fn life(&mut self, nsqd: usize, topic: usize, channel: usize) -> &mut Life {
        &mut self.lives[(nsqd * self.topics + topic) * self.channels + channel]
    }

    /// A new producer; its messages are keyed [`key`]`(id, 0..)`.
    pub fn add_producer(&mut self) -> u32 {
        self.producers.push(Vec::new());
        (self.producers.len() - 1) as u32
    }

    /// Message `key` (the producer's next sequence number) is being sent.
    pub fn sent(&mut self, key: u64, nsqd: usize, topic: usize, ms: u64) {
        let (p, seq) = split(key);
        let msgs = &mut self.producers[p];
        assert_eq!(seq, msgs.len(), "keys of a producer are sent in order");
        msgs.push(Msg {
            sent_ms: ms as u32,
            acked_ms: 0,
            nsqd: nsqd as u8,
            topic: topic as u8,
            state: PubState::Sent,
            fins: [0; MAX_CHANNELS],
            dups: [0; MAX_CHANNELS],
        });
    }

    fn msg(&mut self, key: u64) -> Option<&mut Msg> {
        let (p, seq) = split(key);
        self.producers.get_mut(p)?.get_mut(seq)
    }

    /// The publish of `key` was answered OK.
    pub fn acked(&mut self, key: u64, ms: u64) {
        if let Some(m) = self.msg(key) {
            m.state = PubState::Acked;
            m.acked_ms = ms as u32;
        }
    }

    /// The publish of `key` was answered with an error.
    pub fn failed(&mut self, key: u64) {
        if let Some(m) = self.msg(key) {
            m.state = PubState::Failed;
        }
    }

    /// A SUB or `/channel/create` for the channel was answered at `ms`.
    pub fn created(&mut self, nsqd: usize, topic: usize, channel: usize, ms: u64) {
        self.life(nsqd, topic, channel).created.push(ms);
    }

    /// A delete or empty of `channel` (`None`: all of the topic's channels,
    /// as a topic delete or empty) ran from `start` to `end` ms.
    pub fn removed(
        &mut self,
        nsqd: usize,
        topic: usize,
        channel: Option<usize>,
        what: Removal,
        end: u64,
    ) {
        let chans: Vec<usize> = match channel {
            Some(c) => vec![c],
            None => (0..self.channels).collect(),
        };
        for c in chans {
            let l = self.life(nsqd, topic, c);
            l.last_removal_end = l.last_removal_end.max(Some(end));
            if what == Removal::Delete {
                l.last_delete_end = l.last_delete_end.max(Some(end));
            }
        }
    }

    /// nsqd was SIGKILLed (or died) at `ms`.
    pub fn killed(&mut self, nsqd: usize, ms: u64) {
        self.kills[nsqd].push(ms);
    }

    /// nsqd's disk was full until `end` ms.
    pub fn disk_full(&mut self, nsqd: usize, end: u64) {
        self.disk_full_end[nsqd] = self.disk_full_end[nsqd].max(Some(end));
    }

    /// A message arrived from `nsqd`/`topic` on `channel`: its key, or why
    /// it is refused (counted as corrupt). Counts a duplicate when it was
    /// FINed there before.
    pub fn delivery(
        &mut self,
        nsqd: usize,
        topic: usize,
        channel: usize,
        body: &[u8],
    ) -> Result<u64, Bad> {
        let r = self.check_delivery(nsqd, topic, channel, body);
        if let Err(b) = &r {
            self.corrupt += 1;
            if self.bad_examples.len() < 20 {
                self.bad_examples.push(b.clone());
            }
        }
        r
    }

    fn check_delivery(
        &mut self,
        nsqd: usize,
        topic: usize,
        channel: usize,
        body: &[u8],
    ) -> Result<u64, Bad> {
        let key = body::decode(body).map_err(Bad::Body)?;
        let m = self.msg(key).ok_or(Bad::Phantom(key))?;
        if m.nsqd as usize != nsqd || m.topic as usize != topic {
            return Err(Bad::Misrouted(key));
        }
        if m.fins[channel] > 0 {
            m.dups[channel] = m.dups[channel].saturating_add(1);
        }
        Ok(key)
    }

    /// The consumer of `channel` sent FIN for `key`.
    pub fn finished(&mut self, key: u64, channel: usize) {
        if let Some(m) = self.msg(key) {
            m.fins[channel] = m.fins[channel].saturating_add(1);
        }
    }

    /// The first refused bodies.
    pub fn bad_examples(&self) -> &[Bad] {
        &self.bad_examples
    }

    /// Whether `channel` had to deliver a message sent at `sent` (see the
    /// module doc); `lives` sorted.
    fn required(&self, life: &Life, kills: &[u64], sent: u64) -> bool {
        if life.last_removal_end.is_some_and(|e| e >= sent) {
            return false;
        }
        let mut after = life.last_delete_end;
        if !self.sync_mode {
            // The last kill before `sent` (kills are sorted).
            let i = kills.partition_point(|&k| k < sent);
            if i > 0 {
                after = after.max(Some(kills[i - 1]));
            }
        }
        let first = match after {
            Some(a) => life.created.partition_point(|&c| c <= a),
            None => 0,
        };
        life.created.get(first).is_some_and(|&c| c <= sent)
    }

    /// The verdict so far (call at the end of the run, or to watch the
    /// drain progress).
    pub fn verdict(&mut self) -> Verdict {
        for l in &mut self.lives {
            l.created.sort_unstable();
        }
        for k in &mut self.kills {
            k.sort_unstable();
        }
        let mut v = Verdict {
            corrupt: self.corrupt,
            ..Verdict::default()
        };
        for (p, msgs) in self.producers.iter().enumerate() {
            for (seq, m) in msgs.iter().enumerate() {
                let delivered_any = m.fins[..self.channels].iter().any(|&f| f > 0);
                v.dup += m.dups.iter().map(|&d| d as u64).sum::<u64>();
                match m.state {
                    PubState::Acked => {}
                    PubState::Sent => {
                        v.unacked += 1;
                        v.unacked_delivered += delivered_any as u64;
                        continue;
                    }
                    PubState::Failed => {
                        v.failed += 1;
                        continue;
                    }
                }
                v.acked += 1;
                let (n, t, sent) = (m.nsqd as usize, m.topic as usize, m.sent_ms as u64);
                let kills = &self.kills[n];
                let mut required = 0;
                let mut missing = Vec::new();
                for c in 0..self.channels {
                    let life = &self.lives[(n * self.topics + t) * self.channels + c];
                    if !self.required(life, kills, sent) {
                        continue;
                    }
                    required += 1;
                    if m.fins[c] == 0 {
                        missing.push(c);
                    }
                }
                if required == 0 && !delivered_any {
                    v.exempt += 1;
                } else if missing.is_empty() {
                    v.delivered += 1;
                } else {
                    v.pending_pairs += missing.len() as u64;
                    let killed_after = kills.last().is_some_and(|&k| k >= sent);
                    let full_after = self.disk_full_end[n].is_some_and(|e| e >= sent);
                    if !self.sync_mode && killed_after {
                        v.lost_unsynced += 1;
                        v.pending_expected += missing.len() as u64;
                    } else if !self.sync_mode && full_after {
                        v.lost_disk_full += 1;
                        v.pending_expected += missing.len() as u64;
                    } else {
                        v.lost += 1;
                        if v.examples.len() < 20 {
                            v.examples.push(Lost {
                                key: key(p as u32, seq as u64),
                                nsqd: n,
                                topic: t,
                                sent_ms: sent,
                                acked_ms: m.acked_ms as u64,
                                missing,
                            });
                        }
                    }
                }
            }
        }
        v
    }

    /// nsqds, topics and channels this ledger checks.
    pub fn shape(&self) -> (usize, usize, usize) {
        (self.nsqds, self.topics, self.channels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One nsqd, one topic, two channels, both created at t=1.
    fn ledger(sync: bool) -> (Ledger, u32) {
        let mut l = Ledger::new(sync, 1, 1, 2);
        l.created(0, 0, 0, 1);
        l.created(0, 0, 1, 1);
        let p = l.add_producer();
        (l, p)
    }

    /// Publish `seq` at `ms`, acked at `ms + 1`.
    fn publish(l: &mut Ledger, p: u32, seq: u64, ms: u64) -> u64 {
        let k = key(p, seq);
        l.sent(k, 0, 0, ms);
        l.acked(k, ms + 1);
        k
    }

    fn consume(l: &mut Ledger, k: u64, channel: usize) {
        let b = body::encode(k, 10);
        assert_eq!(l.delivery(0, 0, channel, &b), Ok(k));
        l.finished(k, channel);
    }

    #[test]
    fn delivered_everywhere_or_lost() {
        let (mut l, p) = ledger(true);
        let a = publish(&mut l, p, 0, 10);
        let b = publish(&mut l, p, 1, 11);
        consume(&mut l, a, 0);
        consume(&mut l, a, 1);
        consume(&mut l, b, 0);
        let v = l.verdict();
        assert_eq!(
            (v.acked, v.delivered, v.lost, v.pending_pairs),
            (2, 1, 1, 1)
        );
        assert_eq!(v.examples[0].key, b);
        assert_eq!(v.examples[0].missing, vec![1]);
        consume(&mut l, b, 1);
        let v = l.verdict();
        assert_eq!((v.delivered, v.lost, v.dup), (2, 0, 0));
    }

    #[test]
    fn duplicates_are_deliveries_after_a_fin() {
        let (mut l, p) = ledger(true);
        let a = publish(&mut l, p, 0, 10);
        // Delivered twice before any FIN (a REQ, a timeout): not a dup.
        let body = body::encode(a, 3);
        l.delivery(0, 0, 0, &body).unwrap();
        consume(&mut l, a, 0);
        assert_eq!(l.verdict().dup, 0);
        consume(&mut l, a, 0);
        consume(&mut l, a, 1);
        let v = l.verdict();
        assert_eq!((v.dup, v.delivered), (1, 1));
    }

    #[test]
    fn corrupt_phantom_and_misrouted_bodies() {
        let (mut l, p) = ledger(true);
        let a = publish(&mut l, p, 0, 10);
        let mut b = body::encode(a, 20);
        b[30] ^= 1;
        assert_eq!(
            l.delivery(0, 0, 0, &b),
            Err(Bad::Body(body::Corrupt::Checksum))
        );
        let never = key(p, 99);
        assert_eq!(
            l.delivery(0, 0, 0, &body::encode(never, 1)),
            Err(Bad::Phantom(never))
        );
        let mut l2 = Ledger::new(true, 2, 2, 1);
        let q = l2.add_producer();
        l2.sent(key(q, 0), 1, 0, 5);
        assert_eq!(
            l2.delivery(0, 0, 0, &body::encode(key(q, 0), 1)),
            Err(Bad::Misrouted(key(q, 0)))
        );
        assert_eq!(
            l2.delivery(1, 1, 0, &body::encode(key(q, 0), 1)),
            Err(Bad::Misrouted(key(q, 0)))
        );
        assert_eq!(l.verdict().corrupt, 2);
        assert_eq!(l.bad_examples().len(), 2);
    }

    #[test]
    fn unanswered_and_failed_publishes_are_not_owed() {
        let (mut l, p) = ledger(true);
        l.sent(key(p, 0), 0, 0, 5);
        l.sent(key(p, 1), 0, 0, 6);
        l.failed(key(p, 1));
        l.sent(key(p, 2), 0, 0, 7);
        consume(&mut l, key(p, 2), 0);
        let v = l.verdict();
        assert_eq!((v.acked, v.lost, v.unacked, v.failed), (0, 0, 2, 1));
        assert_eq!(v.unacked_delivered, 1);
    }

    #[test]
    fn deleted_channel_is_owed_only_what_came_after_its_recreation() {
        let (mut l, p) = ledger(true);
        let before = publish(&mut l, p, 0, 10);
        // Channel 1 deleted between 20 and 25, created again at 40.
        l.removed(0, 0, Some(1), Removal::Delete, 25);
        let during = publish(&mut l, p, 1, 22);
        let gap = publish(&mut l, p, 2, 30);
        l.created(0, 0, 1, 40);
        let after = publish(&mut l, p, 3, 50);
        for k in [before, during, gap, after] {
            consume(&mut l, k, 0);
        }
        let v = l.verdict();
        // Only `after` is owed on channel 1.
        assert_eq!((v.lost, v.delivered, v.exempt), (1, 3, 0));
        assert_eq!(v.pending_pairs, 1);
        assert_eq!(v.examples[0].key, after);
        consume(&mut l, after, 1);
        assert_eq!(l.verdict().lost, 0);
    }

    #[test]
    fn emptied_channel_is_owed_what_came_after_the_empty() {
        let (mut l, p) = ledger(true);
        let before = publish(&mut l, p, 0, 10);
        l.removed(0, 0, Some(0), Removal::Empty, 25);
        let after = publish(&mut l, p, 1, 30);
        consume(&mut l, before, 1);
        consume(&mut l, after, 1);
        let v = l.verdict();
        assert_eq!((v.lost, v.delivered), (1, 1));
        assert_eq!(v.examples[0].key, after);
    }

    #[test]
    fn topic_removal_covers_every_channel() {
        let (mut l, p) = ledger(true);
        publish(&mut l, p, 0, 10);
        l.removed(0, 0, None, Removal::Delete, 25);
        let v = l.verdict();
        assert_eq!((v.lost, v.exempt), (0, 1));
        // Published after the delete, before any channel exists: owed nowhere.
        publish(&mut l, p, 1, 30);
        assert_eq!(l.verdict().exempt, 2);
    }

    #[test]
    fn removal_does_not_hide_what_was_delivered() {
        let (mut l, p) = ledger(true);
        let k = publish(&mut l, p, 0, 10);
        consume(&mut l, k, 0);
        l.removed(0, 0, None, Removal::Empty, 25);
        let v = l.verdict();
        assert_eq!((v.delivered, v.exempt, v.lost), (1, 0, 0));
    }

    #[test]
    fn channel_created_after_the_publish_is_not_owed_it() {
        let mut l = Ledger::new(true, 1, 1, 2);
        let p = l.add_producer();
        l.created(0, 0, 0, 1);
        let k = publish(&mut l, p, 0, 10);
        l.created(0, 0, 1, 20);
        consume(&mut l, k, 0);
        let v = l.verdict();
        assert_eq!((v.lost, v.delivered), (0, 1));
    }

    #[test]
    fn kill_losses_are_expected_only_in_default_mode() {
        for sync in [true, false] {
            let (mut l, p) = ledger(sync);
            let k = publish(&mut l, p, 0, 10);
            consume(&mut l, k, 0);
            l.killed(0, 15);
            let v = l.verdict();
            if sync {
                assert_eq!((v.lost, v.lost_unsynced, v.pending_expected), (1, 0, 0));
            } else {
                assert_eq!((v.lost, v.lost_unsynced, v.pending_expected), (0, 1, 1));
            }
            // Published after the kill: owed in both modes once created
            // again (in default mode the kill may have taken the channel).
            let k2 = publish(&mut l, p, 1, 20);
            consume(&mut l, k2, 0);
            let v = l.verdict();
            if sync {
                assert_eq!(v.lost, 2);
            } else {
                assert_eq!((v.lost, v.delivered), (0, 1));
                l.created(0, 0, 1, 30);
                let k3 = publish(&mut l, p, 2, 40);
                consume(&mut l, k3, 0);
                assert_eq!(l.verdict().lost, 1);
            }
        }
    }

    #[test]
    fn disk_full_losses_are_expected_only_in_default_mode() {
        for sync in [true, false] {
            let (mut l, p) = ledger(sync);
            publish(&mut l, p, 0, 10);
            l.disk_full(0, 30);
            publish(&mut l, p, 1, 40);
            let v = l.verdict();
            if sync {
                assert_eq!((v.lost, v.lost_disk_full), (2, 0));
            } else {
                assert_eq!((v.lost, v.lost_disk_full), (1, 1));
            }
        }
    }
}
