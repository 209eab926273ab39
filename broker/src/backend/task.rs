//! A backend's task (one per queue, on the owner's shard): open the queue,
//! then write what the owner pushed, read back what it has room for,
//! sync, empty, retry a failed write, and close or delete at the end
//! (crate::backend has the picture).

use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use nsq_diskqueue::{DiskQueue, QueueError};
use nsq_protocol::{MessageHeader, MessageId};

use super::{Backend, End, Phase, Pin, READ_BYTES, READ_MAX, RETRY_FIRST, RETRY_MAX};
use crate::message::Message;

impl Backend {
    /// Wait until the previous queue of this name (deleted or closed) is
    /// done with its files.
    async fn wait_for_previous(&self) {
        let Some(previous) = self.previous.borrow_mut().take() else {
            return;
        };
        loop {
            let seen = self.disk.settled.version();
            if previous.is_finished() {
                return;
            }
            if previous.inner.borrow().end.is_none() {
                crate::log!(
                    Warn,
                    "DISKQUEUE({}): opened while a previous queue of that name is open",
                    self.name
                );
                return;
            }
            self.disk.settled.changed(seen).await;
        }
    }

    pub(super) async fn run(self: Rc<Self>) {
        self.wait_for_previous().await;
        let opened = self.disk.open_queue(&self.name).await;
        let mut queue = match opened {
            Ok(q) => q,
            Err(e) => {
                crate::log!(Error, "DISKQUEUE({}): failed to open - {e}", self.name);
                self.disk
                    .ctx
                    .set_unhealthy(format!("failed to open disk queue {} - {e}", self.name));
                self.inner.borrow_mut().phase = Phase::Failed;
                self.disk.opened();
                return self.run_failed().await;
            }
        };
        match queue.load_deferrals().await {
            Ok(entries) => self.inner.borrow_mut().deferrals.extend(entries),
            Err(e) => crate::log!(Warn, "DISKQUEUE({}): deferrals not loaded - {e}", self.name),
        }
        {
            let mut i = self.inner.borrow_mut();
            i.on_disk = queue.depth();
            i.unread = queue.has_unread();
            i.phase = Phase::Open;
        }
        self.log_events(&mut queue);
        self.disk.opened();
        let mut ending = None;
        loop {
            if ending.is_none() && self.inner.borrow().end.is_some() {
                // Its turn among the queues ending (DiskShard::ending).
                ending = self.disk.ending.acquire_permit(1).await.ok();
            }
            self.write_pending(&mut queue).await;
            if std::mem::take(&mut self.inner.borrow_mut().floor_moved) {
                queue.set_floor(self.floor());
                queue.release_held().await;
                if let Err(e) = queue.sync().await {
                    crate::log!(Error, "DISKQUEUE({}): failed to sync - {e}", self.name);
                }
            }
            if std::mem::take(&mut self.inner.borrow_mut().empty_requested) {
                if let Err(e) = queue.empty().await {
                    crate::log!(Error, "DISKQUEUE({}): failed to empty - {e}", self.name);
                }
                if let Err(e) = queue.save_deferrals(&[]).await {
                    crate::log!(Error, "DISKQUEUE({}): failed to empty - {e}", self.name);
                }
                let mut i = self.inner.borrow_mut();
                i.on_disk = 0;
                i.unread = false;
                continue;
            }
            let end = self.inner.borrow().end;
            if let Some(end) = end {
                self.end(queue, end).await;
                return;
            }
            if self.read_back(&mut queue).await {
                continue;
            }
            if let Err(e) = queue.maybe_sync().await {
                crate::log!(Error, "DISKQUEUE({}): failed to sync - {e}", self.name);
            }
            self.log_events(&mut queue);
            if self.has_work() {
                continue;
            }
            let now = Instant::now();
            let mut wait = queue.sync_deadline().saturating_duration_since(now);
            if let Some((at, _)) = self.inner.borrow().retry {
                wait = wait.min(at.saturating_duration_since(now));
            }
            if self.disk.durable && self.owner.channels_failing() {
                // Read back once they write again (nothing wakes us then).
                wait = wait.min(RETRY_FIRST);
            }
            futures_lite::future::or(self.wake.notified(), async {
                glommio::timer::sleep(wait.max(Duration::from_millis(1))).await;
            })
            .await;
        }
    }

    fn has_work(&self) -> bool {
        let i = self.inner.borrow();
        let retry_due = i.retry.is_none_or(|(at, _)| at <= Instant::now());
        (!i.to_write.is_empty() && retry_due)
            || i.empty_requested
            || i.end.is_some()
            || i.floor_moved
    }

    /// Write everything queued as one batch.
    async fn write_pending(&self, queue: &mut DiskQueue) {
        let (batch, began, generation) = {
            let mut i = self.inner.borrow_mut();
            let retry_due = i.retry.is_none_or(|(at, _)| at <= Instant::now());
            if i.to_write.is_empty() || !(retry_due || i.end.is_some()) {
                return;
            }
            i.to_write_bytes = 0;
            let batch = std::mem::take(&mut i.to_write);
            i.writing = batch.len();
            (batch, i.dirty_since.take(), i.generation)
        };
        let last_epoch = self.disk.commit.begin_write();
        let mut buf = Vec::with_capacity(batch.iter().map(|m| 26 + m.body.len()).sum());
        let mut ends = Vec::with_capacity(batch.len());
        for m in &batch {
            MessageHeader {
                timestamp: m.timestamp,
                attempts: m.attempts,
                id: m.id,
            }
            .encode(&mut buf);
            buf.extend_from_slice(&m.body);
            ends.push(buf.len());
        }
        let mut start = 0;
        let records: Vec<&[u8]> = ends
            .iter()
            .map(|&end| {
                let r = &buf[start..end];
                start = end;
                r
            })
            .collect();
        let mut result = queue.put_many(&records).await;
        if result.is_ok() && batch.iter().any(|m| m.defer_ms > 0) {
            // Their due times must survive a crash too (before the answer).
            let entries = self.deferral_entries();
            result = queue.save_deferrals(&entries).await;
        }
        {
            let mut i = self.inner.borrow_mut();
            if i.generation == generation {
                i.writing = 0;
                i.on_disk = queue.depth();
                i.unread = queue.has_unread();
            }
        }
        let mut retained = false;
        match &result {
            Ok(()) => {
                self.inner.borrow_mut().retry = None;
                self.disk.ctx.set_healthy();
            }
            Err(e) => {
                self.disk
                    .ctx
                    .set_unhealthy(format!("failed to write messages to {} - {e}", self.name));
                let mut i = self.inner.borrow_mut();
                if i.generation != generation || matches!(e, QueueError::RecordSize { .. }) {
                    // Emptied meanwhile, or never writable: dropped.
                    crate::log!(
                        Error,
                        "DISKQUEUE({}): failed to write {} messages - {e}",
                        self.name,
                        batch.len()
                    );
                    for m in &batch {
                        i.deferrals.remove(&m.id.0);
                    }
                } else {
                    // Kept, in front of what came since, for the next try.
                    let delay = i.retry.map_or(RETRY_FIRST, |(_, d)| (d * 2).min(RETRY_MAX));
                    crate::log!(
                        Error,
                        "DISKQUEUE({}): failed to write {} messages - {e}; trying again in {delay:?}",
                        self.name,
                        batch.len()
                    );
                    i.retry = Some((Instant::now() + delay, delay));
                    i.to_write_bytes += batch.iter().map(|m| m.body.len()).sum::<usize>();
                    let newer = std::mem::replace(&mut i.to_write, batch);
                    i.to_write.extend(newer);
                    retained = true;
                }
            }
        }
        if let Some(began) = began {
            self.disk.commit.written(began, last_epoch, result.is_ok());
        }
        if retained {
            // The kept batch is unwritten again: later epochs wait for it.
            let mut i = self.inner.borrow_mut();
            if i.dirty_since.is_none() {
                i.dirty_since = Some(self.disk.commit.dirty());
            }
        }
        self.log_events(queue);
    }

    /// Read records back into the owner while it has room; true if any
    /// was read.
    async fn read_back(&self, queue: &mut DiskQueue) -> bool {
        let room = self.owner.room();
        if room == 0 || !queue.has_unread() {
            return false;
        }
        if self.disk.durable && self.owner.channels_failing() {
            // Their copies could not be kept: read on once they write.
            return false;
        }
        let generation = self.inner.borrow().generation;
        let mut messages = Vec::with_capacity(room.min(READ_MAX));
        let now_ms = crate::shard::wall_clock_ns() / 1_000_000;
        let mut bytes = 0;
        while messages.len() < room && bytes < READ_BYTES {
            let payload = match queue.peek().await {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    crate::log!(Error, "DISKQUEUE({}): read failed - {e}", self.name);
                    break;
                }
            };
            let at = queue.peeked_at();
            let decoded = decode(payload.clone());
            if let (true, Some(m), Some(at)) = (self.retain, &decoded, at) {
                // Pinned before the reader moves on, so a finished file
                // that holds it is kept.
                let mut i = self.inner.borrow_mut();
                if let Some(old) = i.pin_of.insert(m.id.0, at) {
                    // The same ID read twice (a duplicate on disk).
                    i.unpin(old);
                }
                let seq = i.read_seq;
                i.pins.entry(at).or_insert(Pin { count: 0, seq }).count += 1;
                drop(i);
                queue.set_floor(self.floor());
            }
            if let Err(e) = queue.advance_batched().await {
                crate::log!(Error, "DISKQUEUE({}): read failed - {e}", self.name);
                break;
            }
            if self.retain {
                self.inner.borrow_mut().read_seq += 1;
                queue.set_floor(self.floor());
            }
            bytes += payload.len();
            match decoded {
                Some(mut m) => {
                    let due = self.inner.borrow_mut().deferrals.remove(&m.id.0);
                    if let Some(due) = due.filter(|&d| d > now_ms) {
                        m.defer_ms = (due - now_ms) as u64;
                    }
                    messages.push(m);
                }
                None => crate::log!(
                    Error,
                    "TOPIC/CHANNEL({}): failed to decode message from disk",
                    self.name
                ),
            }
        }
        {
            let mut i = self.inner.borrow_mut();
            if i.generation != generation {
                // Emptied meanwhile: these are gone too.
                return true;
            }
            i.on_disk = queue.depth();
            i.unread = queue.has_unread();
        }
        if self.inner.borrow().end.is_some() {
            // Closing: the owner wrote out what it held while these were
            // being read, and holds no queue any more. They go back to
            // disk with its messages (the read position has moved past
            // them).
            let mut lost = 0usize;
            for m in messages {
                lost += usize::from(self.push(m, now_ms).is_none());
            }
            if lost > 0 {
                crate::log!(
                    Error,
                    "DISKQUEUE({}): {lost} messages lost at exit: the disk would not take them",
                    self.name
                );
            }
            return true;
        }
        let read = !messages.is_empty();
        if read {
            self.owner.refill(messages);
        }
        if self.disk.durable && self.owner.is_topic() {
            // The channels' copies must be written before the topic's read
            // position is: else a crash in between would lose them.
            self.disk.commit.begin_write();
            let epoch = self.disk.commit.current() - 1;
            self.wait_others(epoch).await;
            // A copy whose write failed is kept and retried by its
            // channel: the read position waits for that too.
            while self.owner.channels_failing() && self.inner.borrow().end.is_none() {
                glommio::timer::sleep(RETRY_FIRST).await;
            }
            self.owner.redriven().await;
        }
        if let Err(e) = queue.sync_if_due().await {
            crate::log!(Error, "DISKQUEUE({}): failed to sync - {e}", self.name);
        }
        self.log_events(queue);
        read
    }

    fn deferral_entries(&self) -> Vec<(u64, i64)> {
        self.inner
            .borrow()
            .deferrals
            .iter()
            .map(|(&id, &due)| (id, due))
            .collect()
    }

    /// Wait until epoch `e` is complete but for this queue's own batch.
    async fn wait_others(&self, e: u64) {
        let commit = &self.disk.commit;
        loop {
            let seen = commit.done.version();
            let own = self.inner.borrow().dirty_since;
            if commit.is_complete_except(e, own) {
                return;
            }
            commit.done.changed(seen).await;
        }
    }

    async fn end(&self, mut queue: DiskQueue, end: End) {
        match end {
            End::Close => {
                // The owner wrote whatever it still held (in flight
                // included) before closing: nothing is pinned any more.
                {
                    let mut i = self.inner.borrow_mut();
                    i.pin_of.clear();
                    i.pins.clear();
                }
                queue.set_floor(None);
                queue.release_held().await;
                self.write_pending(&mut queue).await;
                let (unwritten, began) = {
                    let mut i = self.inner.borrow_mut();
                    i.to_write_bytes = 0;
                    (std::mem::take(&mut i.to_write), i.dirty_since.take())
                };
                if !unwritten.is_empty() {
                    crate::log!(
                        Error,
                        "DISKQUEUE({}): {} messages lost at exit: the disk would not take them",
                        self.name,
                        unwritten.len()
                    );
                }
                if let Some(began) = began {
                    self.disk.commit.written(began, began, false);
                }
                let entries = self.deferral_entries();
                if let Err(e) = queue.save_deferrals(&entries).await {
                    crate::log!(Error, "DISKQUEUE({}): deferrals not saved - {e}", self.name);
                }
                self.log_events(&mut queue);
                if let Err(e) = queue.close().await {
                    crate::log!(Error, "DISKQUEUE({}): failed to close - {e}", self.name);
                }
            }
            End::Delete => {
                let _ = queue.save_deferrals(&[]).await;
                if let Err(e) = queue.delete().await {
                    crate::log!(Error, "DISKQUEUE({}): failed to delete - {e}", self.name);
                }
            }
        }
        self.inner.borrow_mut().phase = Phase::Finished;
        self.disk.retired(&self.name);
    }

    /// A queue that did not open: fail every write until it is closed.
    async fn run_failed(&self) {
        loop {
            let (batch, began, end) = {
                let mut i = self.inner.borrow_mut();
                (std::mem::take(&mut i.to_write), i.dirty_since.take(), i.end)
            };
            drop(batch);
            if let Some(began) = began {
                let last = self.disk.commit.begin_write();
                self.disk.commit.written(began, last, false);
            }
            if end.is_some() {
                self.inner.borrow_mut().phase = Phase::Finished;
                self.disk.retired(&self.name);
                return;
            }
            self.wake.notified().await;
        }
    }

    fn log_events(&self, queue: &mut DiskQueue) {
        let (events, dropped) = queue.take_events();
        for e in events {
            crate::log!(Error, "DISKQUEUE({}): {e}", self.name);
        }
        if dropped > 0 {
            crate::log!(Error, "DISKQUEUE({}): {dropped} more events", self.name);
        }
    }
}

/// A record's payload as a message (the body shares the read chunk).
fn decode(payload: Bytes) -> Option<Message> {
    let (header, body) = MessageHeader::decode(&payload)?;
    let body_start = payload.len() - body.len();
    Some(Message {
        id: MessageId(header.id.0),
        timestamp: header.timestamp,
        attempts: header.attempts,
        defer_ms: 0,
        body: payload.slice(body_start..),
    })
}
