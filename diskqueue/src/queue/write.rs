//! Appending records: one write per run of records that go into the same
//! file, a roll (with its sync) before a record that would not fit.

use std::rc::Rc;
use std::time::Instant;

use glommio::io::OpenOptions;

use super::{DiskQueue, Handle};
use crate::error::{io_error, IoOp, QueueError, QueueEvent};
use crate::files::{write_fully, FILE_MODE};
use crate::format::record_prefix;
use crate::state::{AppendPlan, Roll};

impl DiskQueue {
    /// Append one record. See [`DiskQueue::put_many`](crate::DiskQueue::put_many).
    pub async fn put(&mut self, payload: &[u8]) -> Result<(), QueueError> {
        self.put_many(&[payload]).await
    }

    /// Append records in order, with one write call per run of records
    /// that go into the same file (rolling to a new file, with its sync,
    /// before a record that would not fit). Each record counts toward
    /// `sync_every`. A sync that became due is started before returning:
    /// with `sync_every` 1 it is also finished (group commit: the answer
    /// waits for the fsync); otherwise it runs behind the writer (see
    /// [`DiskQueue::start_sync_behind`](crate::DiskQueue::start_sync_behind)).
    ///
    /// All lengths are checked first: if one is outside the limits nothing
    /// is written. If a write fails, the records of that write and after
    /// are not in the queue (those before it are).
    pub async fn put_many(&mut self, payloads: &[&[u8]]) -> Result<(), QueueError> {
        let limits = self.cfg.limits();
        for (index, payload) in payloads.iter().enumerate() {
            record_prefix(payload.len(), &limits)
                .map_err(|error| QueueError::RecordSize { index, error })?;
        }
        let mut next = 0;
        let mut carried: Option<AppendPlan> = None;
        while let Some(&first) = payloads.get(next) {
            let plan = match carried.take() {
                Some(plan) => plan,
                None => self.begin_append(next, first)?,
            };
            if let Some(roll) = plan.roll {
                self.roll(roll).await;
            }
            // The state before this write's records: restored if it fails.
            let backup = self.state.clone();
            let at = plan.at;
            let mut buf = Vec::with_capacity(usize::try_from(plan.size).unwrap_or(0));
            self.append(&plan, first, &mut buf);
            next += 1;
            while let Some(&payload) = payloads.get(next) {
                let plan = self.begin_append(next, payload)?;
                if plan.roll.is_some() {
                    carried = Some(plan);
                    break;
                }
                self.append(&plan, payload, &mut buf);
                next += 1;
            }
            if let Err(e) = self.write_all(at.file_num, at.pos, buf).await {
                self.state = backup;
                return Err(e);
            }
        }
        self.collect_sync_behind().await;
        if !self.state.sync_due() {
            return Ok(());
        }
        if self.cfg.sync_every <= 1 {
            return self.sync().await;
        }
        self.start_sync_behind().await;
        Ok(())
    }

    pub(super) fn begin_append(
        &mut self,
        index: usize,
        payload: &[u8],
    ) -> Result<AppendPlan, QueueError> {
        self.state
            .begin_append(payload.len())
            .map_err(|error| QueueError::RecordSize { index, error })
    }

    /// Add a record to the write buffer and count it (the state is
    /// restored if the write then fails).
    pub(super) fn append(&mut self, plan: &AppendPlan, payload: &[u8], buf: &mut Vec<u8>) {
        buf.extend_from_slice(&plan.prefix);
        buf.extend_from_slice(payload);
        // Never stale: the plan was made just now on this state.
        let committed = self.state.commit_append(plan);
        debug_assert!(committed.is_ok());
    }

    /// Carry out a roll: the sync it asks for (its failure is an event, as
    /// in Go), then close the old write file.
    pub(super) async fn roll(&mut self, roll: Roll) {
        self.finish_sync_behind().await;
        if roll.sync {
            match self.sync_inner().await {
                Ok(()) => self.state.synced(),
                Err(e) => {
                    self.state.sync_failed();
                    self.event(QueueEvent::Failed(e));
                }
            }
            self.last_sync = Instant::now();
        }
        if self
            .writer
            .as_ref()
            .is_some_and(|w| w.file_num == roll.from)
        {
            self.close_writer().await;
        }
    }

    /// Write `buf` at `pos` of data file `file_num` (created or truncated
    /// when `pos` is 0), retrying short writes. On failure the file is
    /// truncated back to `pos` (best effort).
    pub(super) async fn write_all(
        &mut self,
        file_num: u64,
        pos: u64,
        buf: Vec<u8>,
    ) -> Result<(), QueueError> {
        if self.writer.as_ref().is_some_and(|w| w.file_num != file_num) {
            self.close_writer().await;
        }
        let handle = match self.writer.take() {
            Some(handle) => handle,
            None => {
                let path = self.data_path(file_num);
                let file = OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(pos == 0)
                    .mode(FILE_MODE)
                    .buffered_open(&path)
                    .await
                    .map_err(|e| io_error(IoOp::Create, &path, e))?;
                self.files.insert(file_num);
                Handle {
                    file_num,
                    file: Rc::new(file),
                }
            }
        };
        let path = self.data_path(file_num);
        let file = &self.writer.insert(handle).file;
        let Err(e) = write_fully(file, pos, buf).await else {
            return Ok(());
        };
        if let Err(t) = file.truncate(pos).await {
            self.event(QueueEvent::Failed(io_error(IoOp::Truncate, &path, t)));
        }
        Err(io_error(IoOp::Write, &path, e))
    }

    pub(super) async fn close_writer(&mut self) {
        if self.writer.is_none() {
            return;
        }
        self.finish_sync_behind().await;
        if let Some(w) = self.writer.take() {
            self.close_handle(w).await;
        }
    }
}
