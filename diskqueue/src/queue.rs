//! One go-diskqueue compatible queue on disk: the I/O layer over
//! [`State`] (docs/data-directory.md#disk-queues).
//!
//! A [`DiskQueue`] belongs to one task on a glommio executor and is used
//! through `&mut self`: no locks, no shared state, nothing but
//! [`crate::format`] and [`crate::state`] beneath it.
//!
//! ```text
//!            put / put_many                         peek ──► advance
//!                 │                                   ▲
//!   State::begin_append ─► one pwrite per batch       │  64 KiB read chunk, records sliced out of it
//!                 │        (BufferedFile, page cache) │  (State::next_read / finish_read)
//!                 ▼                                   │
//!   <name>.diskqueue.000007.dat  ...  000009.dat ─────┘
//!
//!   sync = fdatasync(write file) + <meta>.<random>.tmp (write, fdatasync, close) + rename
//!          when State::sync_due() (--sync-every reads+writes, a roll, a deleted or
//!          .bad file, a repair) or --sync-timeout after the last sync (maybe_sync)
//! ```
//!
//! # I/O
//!
//! Appends of up to 256 KiB are one inline `pwrite` into the page cache
//! while that stays fast, and otherwise glommio's `write_at` (see
//! `crate::append` for why and for the guard against a stalled page
//! cache). Every other file operation after [`DiskQueue::open`] goes
//! through glommio's io_uring API: [`BufferedFile`] `open`/`read_at`/`write_at`/`fdatasync`/
//! `file_size`/`close`, and [`glommio::io::remove`] / [`glommio::io::rename`]
//! (which glommio 0.9 runs on its own blocking-syscall thread, so the
//! executor never blocks). Buffered rather than O_DIRECT files: records are
//! not block aligned, and a consumer usually reads what was just written,
//! which then comes from the page cache.
//!
//! Two blocking calls remain, **only in [`DiskQueue::open`]**: listing the
//! data directory with `std::fs::read_dir` (io_uring has no `getdents`) and
//! making a relative directory absolute (`getcwd`). The listing tells which
//! data files exist, so deleting a range of files never probes file
//! numbers one by one, and a write file number that already has data (a
//! metadata file older than the data) is never written over.
//!
//! glommio 0.9 details this relies on or works around:
//! * `BufferedFile::write_at` takes the buffer by value and vectored
//!   writes are not usable, so each write is one contiguous `Vec` (prefix
//!   and payload of every record of the batch), and a short write cannot
//!   be continued: it is an error and the file is truncated back.
//! * `read_at` returns glommio's own buffer (`ReadResult`, not `Send`):
//!   each chunk is copied once into a [`Bytes`], and records are
//!   reference-counted slices of it.
//! * Converting an "enhanced" glommio error into `io::Error` keeps only
//!   the kind; [`QueueError::Io`] keeps the OS error and names the file
//!   and the operation itself.
//! * Opening a relative path calls `std::fs::canonicalize(".")` every
//!   time: the directory is made absolute once, at open.
//! * Buffered files need no `io_memory` (the DMA buffer pool).
//!
//! # Differences from go-diskqueue, all at open
//!
//! * Data files numbered after the metadata's write file (the metadata is
//!   older than a roll: the rename of a newer one was lost in a crash):
//!   the reader salvages them and writing resumes after the last one. Go
//!   would write over them.
//! * Data files but no metadata file: reading starts at the first file and
//!   writing after the last one (depth starts at 0 and is corrected by the
//!   tail check). Go starts over at file 0 and writes over it.
//! * Left-over `<meta>.<random>.tmp` and `<deferrals>.<random>.tmp` files
//!   of this queue are removed.
//! * A metadata file that does not scan is an error ([`QueueError::BadMeta`]);
//!   Go runs with whatever it scanned.
//!
//! Problems the queue repairs or works around (corrupt records, failed
//! deletes, a failed sync while rolling) are not errors: they are queued
//! as [`QueueEvent`]s for the owner to log ([`DiskQueue::take_events`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use glommio::io::BufferedFile;
use glommio::Task;

use crate::config::QueueConfig;
use crate::error::{io_error, not_found, CorruptReason, IoOp, QueueError, QueueEvent};
use crate::files::remove;
use crate::format::{self, Meta};
use crate::state::{Effect, Position, ReadAt, State};

mod deferrals;
mod open;
mod read;
mod sync_behind;
mod write;

pub use read::READ_CHUNK;

/// Events kept for [`DiskQueue::take_events`]; later ones are counted only.
const MAX_EVENTS: usize = 1024;

/// An open file and the data file number it is. Shared with a sync
/// running behind the writer ([`DiskQueue::start_sync_behind`]).
struct Handle {
    file_num: u64,
    file: Rc<BufferedFile>,
}

/// Bytes `start..start + data.len()` of a data file, as last read.
struct Chunk {
    file_num: u64,
    start: u64,
    data: Bytes,
}

/// The record [`DiskQueue::peek`] returned, until [`DiskQueue::advance`].
struct Peeked {
    at: ReadAt,
    consumed: u64,
    payload: Bytes,
}

/// One go-diskqueue queue: `<name>.diskqueue.*` files in a directory.
pub struct DiskQueue {
    dir: PathBuf,
    name: String,
    cfg: QueueConfig,
    state: State,
    writer: Option<Handle>,
    reader: Option<Handle>,
    chunk: Option<Chunk>,
    peeked: Option<Peeked>,
    /// Data files of this queue known to exist.
    files: BTreeSet<u64>,
    last_sync: Instant,
    events: Vec<QueueEvent>,
    events_dropped: u64,
    /// Read position persisted instead of the reader's, and records it
    /// adds to the persisted depth ([`DiskQueue::set_floor`]).
    floor: Option<(Position, u64)>,
    /// Finished files kept because the floor is in or before them.
    held: BTreeSet<u64>,
    /// A sync of what was written so far, running while the writer goes
    /// on ([`DiskQueue::put_many`]).
    behind: Option<Task<Result<(), QueueError>>>,
    /// Whether `<name>.deferred.dat` exists, when known (from a directory
    /// scan, or since the queue last wrote or removed it): spares a read
    /// or a removal of a file that is not there.
    deferred_file: Option<bool>,
}

impl fmt::Debug for DiskQueue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiskQueue")
            .field("dir", &self.dir)
            .field("name", &self.name)
            .field("meta", &self.state.meta())
            .finish_non_exhaustive()
    }
}

impl Drop for DiskQueue {
    /// A queue dropped without [`DiskQueue::close`] (a panic, the executor
    /// ending) lets a running sync finish instead of cancelling it halfway
    /// through its metadata file.
    fn drop(&mut self) {
        if let Some(task) = self.behind.take() {
            task.detach();
        }
    }
}

impl DiskQueue {
    /// The queue's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The queue's parameters.
    pub fn config(&self) -> &QueueConfig {
        &self.cfg
    }

    /// Records in the queue as counted (stats' `backend_depth`); the
    /// metadata's count, which can be off after a crash until the reader
    /// reaches the writer. Never below 0.
    pub fn depth(&self) -> u64 {
        u64::try_from(self.state.depth()).unwrap_or(0)
    }

    /// Whether the reader is not at the writer yet: there is a record to
    /// read whatever [`DiskQueue::depth`] says (after a crash the count can
    /// be short until the reader reaches the writer).
    pub fn has_unread(&self) -> bool {
        self.state.has_data()
    }

    /// The positions and depth the next sync persists.
    pub fn meta(&self) -> Meta {
        self.state.meta()
    }

    /// Delete every data file from the read file to the write file and
    /// the metadata file; both positions move to a new file at 0, depth 0.
    /// A peeked record is dropped. The metadata is rewritten at once.
    pub async fn empty(&mut self) -> Result<(), QueueError> {
        self.finish_sync_behind().await;
        self.peeked = None;
        self.chunk = None;
        self.floor = None;
        let effects = self.state.empty();
        self.apply(effects).await?;
        self.release_held().await;
        self.sync().await
    }

    /// Persist `floor.0` as the read position (and `floor.1` more records
    /// in the depth) instead of the reader's own, and keep every finished
    /// file from the floor's on: records read but not yet settled by the
    /// owner (delivered, not finished) are then read again after a crash.
    /// `None` persists the reader's position; held files are removed by
    /// [`DiskQueue::release_held`]. Takes effect at the next sync.
    pub fn set_floor(&mut self, floor: Option<(Position, u64)>) {
        self.floor = floor;
    }

    /// Remove the held finished files that are before the floor now.
    pub async fn release_held(&mut self) {
        if !self.held.is_empty() {
            self.finish_sync_behind().await;
        }
        let keep_from = self.floor.map_or(u64::MAX, |(p, _)| p.file_num);
        let done: Vec<u64> = self.held.range(..keep_from).copied().collect();
        for n in done {
            self.held.remove(&n);
            self.remove_data_file(n).await;
        }
    }

    /// Remove the queue (a deleted topic or channel): [`DiskQueue::empty`]
    /// without rewriting the metadata, then close. Any other data file of
    /// this queue found at open is removed too; `.bad` files are left.
    pub async fn delete(mut self) -> Result<(), QueueError> {
        self.finish_sync_behind().await;
        self.peeked = None;
        self.chunk = None;
        let effects = self.state.empty();
        self.apply(effects).await?;
        let rest: Vec<u64> = self.files.iter().copied().collect();
        for n in rest {
            self.remove_data_file(n).await;
        }
        self.close_handles().await;
        // The events go with the queue: report the first failed removal.
        match self.events.drain(..).find_map(|e| match e {
            QueueEvent::Failed(
                e @ QueueError::Io {
                    op: IoOp::Remove, ..
                },
            ) => Some(e),
            _ => None,
        }) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Sync and close (clean shutdown).
    pub async fn close(mut self) -> Result<(), QueueError> {
        let result = self.sync().await;
        self.close_handles().await;
        result
    }

    /// The events since the last call, oldest first, and how many were
    /// dropped because nobody took them (more than 1024 pending).
    pub fn take_events(&mut self) -> (Vec<QueueEvent>, u64) {
        let dropped = std::mem::take(&mut self.events_dropped);
        (std::mem::take(&mut self.events), dropped)
    }

    // ----- internals ------------------------------------------------------

    fn event(&mut self, e: QueueEvent) {
        if self.events.len() < MAX_EVENTS {
            self.events.push(e);
        } else {
            self.events_dropped = self.events_dropped.saturating_add(1);
        }
    }

    fn data_path(&self, file_num: u64) -> PathBuf {
        self.dir.join(format::data_file_name(&self.name, file_num))
    }

    /// Close a handle. Only the sync behind the writer shares one, and it
    /// is finished before the writer closes: if a share is left anyway,
    /// the last one closes the file when dropped.
    async fn close_handle(&mut self, handle: Handle) {
        let Ok(file) = Rc::try_unwrap(handle.file) else {
            return;
        };
        if let Err(e) = file.close().await {
            let path = self.data_path(handle.file_num);
            self.event(QueueEvent::Failed(io_error(IoOp::Close, &path, e)));
        }
    }

    async fn close_handles(&mut self) {
        self.close_writer().await;
        self.close_reader().await;
    }

    /// Close every handle on data files `first..=last` and forget what was
    /// read from them.
    async fn release(&mut self, first: u64, last: u64) {
        let range = first..=last;
        if self
            .writer
            .as_ref()
            .is_some_and(|w| range.contains(&w.file_num))
        {
            self.close_writer().await;
        }
        if self
            .reader
            .as_ref()
            .is_some_and(|r| range.contains(&r.file_num))
        {
            self.close_reader().await;
        }
        if self
            .chunk
            .as_ref()
            .is_some_and(|c| range.contains(&c.file_num))
        {
            self.chunk = None;
        }
        if self
            .peeked
            .as_ref()
            .is_some_and(|p| range.contains(&p.at.file_num))
        {
            self.peeked = None;
        }
    }

    async fn remove_data_file(&mut self, n: u64) {
        self.release(n, n).await;
        let path = self.data_path(n);
        match remove(&path).await {
            Ok(()) => {}
            Err(e) if not_found(&e) => {}
            Err(e) => self.event(QueueEvent::Failed(e)),
        }
        self.files.remove(&n);
    }

    /// Carry out the state machine's effects, in order. Only the sync of a
    /// roll can fail here, and that is an event too: the `Result` is for
    /// future effects.
    async fn apply(&mut self, effects: Vec<Effect>) -> Result<(), QueueError> {
        if !effects.is_empty() {
            self.finish_sync_behind().await;
        }
        for effect in effects {
            match effect {
                Effect::Roll(roll) => self.roll(roll).await,
                Effect::Delete(n) if self.floor.is_some_and(|(f, _)| n >= f.file_num) => {
                    self.release(n, n).await;
                    self.held.insert(n);
                }
                Effect::Delete(n) => self.remove_data_file(n).await,
                Effect::DeleteRange { first, last } if first <= last => {
                    let doomed: Vec<u64> = self.files.range(first..=last).copied().collect();
                    self.release(first, last).await;
                    for n in doomed {
                        self.remove_data_file(n).await;
                    }
                }
                Effect::DeleteRange { .. } => {}
                Effect::RenameBad(n) => {
                    self.release(n, n).await;
                    let from = self.data_path(n);
                    let to = self.dir.join(format::bad_file_name(&self.name, n));
                    // A missing file (the reason it could not be read)
                    // has nothing to rename.
                    match glommio::io::rename(&from, &to).await {
                        Ok(()) => {}
                        Err(e) => match io_error(IoOp::Rename, &from, e) {
                            e if not_found(&e) => {}
                            e => self.event(QueueEvent::Failed(e)),
                        },
                    }
                    self.files.remove(&n);
                }
                Effect::DeleteMeta => {
                    let path = self.dir.join(format::meta_file_name(&self.name));
                    match remove(&path).await {
                        Ok(()) => {}
                        Err(e) if not_found(&e) => {}
                        Err(e) => self.event(QueueEvent::Failed(e)),
                    }
                }
                Effect::Warn(w) => self.event(QueueEvent::Repaired(w)),
            }
        }
        Ok(())
    }

    async fn corrupt(
        &mut self,
        file_num: u64,
        pos: u64,
        reason: CorruptReason,
    ) -> Result<(), QueueError> {
        self.event(QueueEvent::Corrupt {
            file_num,
            pos,
            reason,
        });
        self.chunk = None;
        let effects = self.state.corrupt();
        self.apply(effects).await
    }
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests;
