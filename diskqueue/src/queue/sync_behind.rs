//! Syncing: fdatasync of the write file and the metadata written beside
//! and renamed over its file, either in the caller's path or running
//! behind the writer.

use std::rc::Rc;
use std::time::Instant;

use super::{to_i64, DiskQueue};
use crate::error::{io_error, IoOp, QueueError, QueueEvent};
use crate::files::{random_u63, write_atomically};
use crate::format::{self, Meta};
use std::path::Path;

impl DiskQueue {
    /// fdatasync the write file and persist the metadata (written to
    /// `<meta>.<random>.tmp`, fdatasynced, closed, renamed over the
    /// metadata file). A failed sync stays due.
    pub async fn sync(&mut self) -> Result<(), QueueError> {
        self.finish_sync_behind().await;
        let result = self.sync_inner().await;
        match result {
            Ok(()) => self.state.synced(),
            Err(_) => self.state.sync_failed(),
        }
        self.last_sync = Instant::now();
        result
    }

    /// Sync if one is due: `sync_every` reads and writes, a new read or
    /// write file, a repair, or `sync_timeout` since the last sync with
    /// any read or write since (Go's ticker). Call it at
    /// [`DiskQueue::sync_deadline`](crate::DiskQueue::sync_deadline) at the latest.
    pub async fn maybe_sync(&mut self) -> Result<(), QueueError> {
        self.collect_sync_behind().await;
        if self.last_sync.elapsed() >= self.cfg.sync_timeout {
            self.state.sync_timer();
            if !self.state.sync_due() {
                // Nothing happened: the next tick is a timeout from now.
                self.last_sync = Instant::now();
            }
        }
        self.sync_if_due().await
    }

    /// When [`DiskQueue::maybe_sync`](crate::DiskQueue::maybe_sync) should run next for `sync_timeout`.
    pub fn sync_deadline(&self) -> Instant {
        self.last_sync + self.cfg.sync_timeout
    }

    /// Sync if `sync_every` operations, a new file or a repair made one
    /// due.
    pub async fn sync_if_due(&mut self) -> Result<(), QueueError> {
        if self.state.sync_due() {
            self.sync().await
        } else {
            Ok(())
        }
    }

    pub(super) async fn sync_inner(&mut self) -> Result<(), QueueError> {
        if let Some(w) = &self.writer {
            w.file
                .fdatasync()
                .await
                .map_err(|e| io_error(IoOp::Sync, &self.data_path(w.file_num), e))?;
        }
        self.persist_meta().await
    }

    pub(super) async fn persist_meta(&self) -> Result<(), QueueError> {
        persist_meta(&self.dir, &self.name, self.persisted_meta()).await
    }

    /// The metadata a sync persists now: the state's, with the floor as
    /// the read position.
    pub(super) fn persisted_meta(&self) -> Meta {
        let mut meta = self.state.meta();
        if let Some((floor, unsettled)) = self.floor {
            meta.read_file_num = to_i64(floor.file_num);
            meta.read_pos = to_i64(floor.pos);
            meta.depth = meta.depth.saturating_add(to_i64(unsettled));
        }
        meta
    }

    /// Start a sync of everything written so far that runs while the
    /// writer goes on: the metadata is taken now (it names only records
    /// already written), then the task fdatasyncs the write file and
    /// persists that metadata. Go's single loop blocks its writes for the
    /// whole sync (an fdatasync of the data, another of the metadata
    /// file, each 0.2-4 ms here); this way publishes are written and
    /// answered meanwhile, and still one sync is made per `sync_every`
    /// operations. What a crash can lose is what it could lose in Go
    /// (the records since the last finished sync) plus those written while
    /// a sync was running. At most one runs: a previous one is finished
    /// first, and anything that closes, rolls, deletes or renames files
    /// finishes it too ([`DiskQueue::finish_sync_behind`](crate::DiskQueue::finish_sync_behind)). A failed one
    /// is an event and the sync stays due.
    pub(super) async fn start_sync_behind(&mut self) {
        self.finish_sync_behind().await;
        let meta = self.persisted_meta();
        let data = self
            .writer
            .as_ref()
            .map(|w| (Rc::clone(&w.file), self.data_path(w.file_num)));
        let (dir, name) = (self.dir.clone(), self.name.clone());
        self.state.synced();
        self.last_sync = Instant::now();
        self.behind = Some(glommio::spawn_local(async move {
            if let Some((file, path)) = data {
                file.fdatasync()
                    .await
                    .map_err(|e| io_error(IoOp::Sync, &path, e))?;
            }
            persist_meta(&dir, &name, meta).await
        }));
    }

    /// Wait for the sync running behind the writer, if any.
    /// Cancel-safe: the task stays in place until it has finished.
    pub(super) async fn finish_sync_behind(&mut self) {
        if let Some(task) = self.behind.as_mut() {
            let result = task.await;
            self.behind = None;
            self.sync_behind_done(result);
        }
    }

    /// Take the result of the sync behind the writer if it is done.
    pub(super) async fn collect_sync_behind(&mut self) {
        let Some(task) = self.behind.as_mut() else {
            return;
        };
        if let Some(result) = futures_lite::future::poll_once(task).await {
            self.behind = None;
            self.sync_behind_done(result);
        }
    }

    /// A failed sync is an event (logged, as Go logs its sync errors)
    /// and the sync is due again.
    pub(super) fn sync_behind_done(&mut self, result: Result<(), QueueError>) {
        if let Err(e) = result {
            self.state.request_sync();
            self.event(QueueEvent::Failed(e));
        }
    }
}

/// Persist `meta` as queue `name`'s metadata file in `dir`.
async fn persist_meta(dir: &Path, name: &str, meta: Meta) -> Result<(), QueueError> {
    let text = format::encode_meta(&meta).into_bytes();
    let meta_path = dir.join(format::meta_file_name(name));
    let tmp_path = dir.join(format::meta_tmp_file_name(name, random_u63()));
    write_atomically(&tmp_path, &meta_path, text).await
}
