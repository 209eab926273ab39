//! One go-diskqueue compatible queue on disk: the I/O layer over
//! [`State`] (reference D.1).
//!
//! A [`DiskQueue`] belongs to one task on a glommio executor and is used
//! through `&mut self`: no locks, no shared state, nothing from the rest
//! of the broker (only [`super::format`] and [`super::state`]).
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
//! [`super::append`] for why and for the guard against a stalled page
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

use std::collections::hash_map::RandomState;
use std::collections::BTreeSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use glommio::io::{BufferedFile, OpenOptions};
use glommio::{GlommioError, Task};
use nsq_protocol::Decoded;

use super::append;
use super::format::{
    self, decode_record, record_prefix, BadRecordLength, Meta, MetaParseError, RecordLimits,
    RECORD_LEN_PREFIX,
};
use super::state::{
    AppendPlan, Config, Effect, NegativeMeta, Position, ReadAt, ReadStep, Roll, State, Warning,
};

/// Bytes asked for per read call (more when a single record is larger).
pub const READ_CHUNK: usize = 64 * 1024;

/// Mode of data and metadata files (Go: 0600).
const FILE_MODE: libc::mode_t = 0o600;

/// Events kept for [`DiskQueue::take_events`]; later ones are counted only.
const MAX_EVENTS: usize = 1024;

/// A queue's parameters (nsqd's `--max-bytes-per-file`, `--sync-every`,
/// `--sync-timeout`; record bounds from `--max-msg-size`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// A data file is not extended past this (a single larger record still
    /// goes alone into a file).
    pub max_bytes_per_file: u64,
    /// Smallest record payload (go-diskqueue's `minMsgSize`; nsqd: 26).
    pub min_msg_size: u32,
    /// Largest record payload (go-diskqueue's `maxMsgSize`; nsqd:
    /// `--max-msg-size` + 26). Capped at `i32::MAX`.
    pub max_msg_size: u32,
    /// Reads and writes between syncs.
    pub sync_every: u64,
    /// Longest time between a read or write and the sync that covers it
    /// (through [`DiskQueue::maybe_sync`]).
    pub sync_timeout: Duration,
}

impl QueueConfig {
    /// What nsqd passes to go-diskqueue: records of 26 (the message
    /// header) to `max_msg_size + 26` bytes.
    pub fn nsqd(
        max_bytes_per_file: u64,
        max_msg_size: u64,
        sync_every: u64,
        sync_timeout: Duration,
    ) -> QueueConfig {
        let limits = RecordLimits::nsqd(max_msg_size);
        QueueConfig {
            max_bytes_per_file,
            min_msg_size: limits.min,
            max_msg_size: limits.max,
            sync_every,
            sync_timeout,
        }
    }

    fn limits(&self) -> RecordLimits {
        RecordLimits {
            min: self.min_msg_size,
            max: self.max_msg_size.min(i32::MAX as u32),
        }
    }

    fn state_config(&self) -> Config {
        Config {
            max_bytes_per_file: self.max_bytes_per_file,
            limits: self.limits(),
            sync_every: self.sync_every,
        }
    }
}

// ---------------------------------------------------------------------------
// Errors and events
// ---------------------------------------------------------------------------

/// The file operation that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoOp {
    /// Listing the data directory (at open).
    ListDir,
    /// Opening a file for reading.
    Open,
    /// Creating or opening a file for writing.
    Create,
    /// Reading.
    Read,
    /// Writing.
    Write,
    /// Truncating after a failed write.
    Truncate,
    /// Getting a file's size.
    Stat,
    /// `fdatasync`.
    Sync,
    /// Closing a file.
    Close,
    /// Renaming (metadata into place, a data file to `.bad`).
    Rename,
    /// Removing a file.
    Remove,
}

impl fmt::Display for IoOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IoOp::ListDir => "list directory",
            IoOp::Open => "open",
            IoOp::Create => "create",
            IoOp::Read => "read",
            IoOp::Write => "write",
            IoOp::Truncate => "truncate",
            IoOp::Stat => "stat",
            IoOp::Sync => "fdatasync",
            IoOp::Close => "close",
            IoOp::Rename => "rename",
            IoOp::Remove => "remove",
        })
    }
}

/// Why a [`DiskQueue`] operation failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueError {
    /// A file operation failed.
    Io {
        /// What was being done.
        op: IoOp,
        /// The file (or directory) it was done on.
        path: PathBuf,
        /// The OS error.
        source: io::Error,
    },
    /// Record `index` of a put has a length outside the limits; nothing
    /// of that put was written.
    RecordSize {
        /// Index in the batch (0 for [`DiskQueue::put`]).
        index: usize,
        /// The length and the limits.
        error: BadRecordLength,
    },
    /// The `.meta.dat` file does not scan.
    BadMeta {
        /// The metadata file.
        path: PathBuf,
        /// Where the scan failed.
        error: MetaParseError,
    },
    /// The `.meta.dat` file has a negative position or file number.
    NegativeMeta {
        /// The metadata file.
        path: PathBuf,
        /// The refused metadata.
        error: NegativeMeta,
    },
    /// [`DiskQueue::advance`] without a record from [`DiskQueue::peek`]
    /// (none peeked, or it was dropped by [`DiskQueue::empty`]).
    NotPeeked,
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Io { op, path, source } => {
                write!(f, "{op} {}: {source}", path.display())
            }
            QueueError::RecordSize { index, error } => write!(f, "record {index}: {error}"),
            QueueError::BadMeta { path, error } => write!(f, "{}: {error}", path.display()),
            QueueError::NegativeMeta { path, error } => write!(f, "{}: {error}", path.display()),
            QueueError::NotPeeked => f.write_str("advance without a peeked record"),
        }
    }
}

impl std::error::Error for QueueError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            QueueError::Io { source, .. } => Some(source),
            QueueError::RecordSize { error, .. } => Some(error),
            QueueError::BadMeta { error, .. } => Some(error),
            QueueError::NegativeMeta { error, .. } => Some(error),
            QueueError::NotPeeked => None,
        }
    }
}

/// The OS error inside a glommio error (glommio's own conversion keeps
/// only the kind of an "enhanced" error, not its errno).
fn os_error(e: GlommioError<()>) -> io::Error {
    match e {
        GlommioError::IoError(e) | GlommioError::EnhancedIoError { source: e, .. } => e,
        other => io::Error::from(other),
    }
}

fn io_error(op: IoOp, path: &Path, e: GlommioError<()>) -> QueueError {
    QueueError::Io {
        op,
        path: path.to_path_buf(),
        source: os_error(e),
    }
}

/// An error that says nothing about the file itself (out of descriptors or
/// memory, interrupted): the read is tried again later instead of the file
/// being taken for corrupt and its records dropped.
fn transient(e: &QueueError) -> bool {
    matches!(e, QueueError::Io { source, .. } if matches!(
        source.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR)
    ))
}

fn not_found(e: &QueueError) -> bool {
    matches!(e, QueueError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
}

/// Why a record could not be read.
#[derive(Debug)]
pub enum CorruptReason {
    /// The length prefix is outside the limits.
    BadLength(BadRecordLength),
    /// The record runs past the end of the file's data.
    Truncated {
        /// Where the file's data end.
        end: u64,
    },
    /// Opening, sizing or reading the file failed.
    Io(QueueError),
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CorruptReason::BadLength(e) => e.fmt(f),
            CorruptReason::Truncated { end } => write!(f, "record runs past the end ({end})"),
            CorruptReason::Io(e) => e.fmt(f),
        }
    }
}

/// Something for the owner to log; the queue has already dealt with it.
#[derive(Debug)]
#[non_exhaustive]
pub enum QueueEvent {
    /// An inconsistency the state machine repaired (Go logs these at
    /// ERROR or WARN).
    Repaired(Warning),
    /// The record at `file_num`/`pos` could not be read: the file is
    /// renamed `.bad` and reading goes on with the next one (ERROR).
    Corrupt {
        /// The data file.
        file_num: u64,
        /// Offset of the record.
        pos: u64,
        /// What was wrong.
        reason: CorruptReason,
    },
    /// At open: data files numbered after the metadata's write file; they
    /// are read, and writing resumes after the last (WARN).
    FilesPastWriter {
        /// The metadata's write file.
        meta_write_file: u64,
        /// The last data file found.
        last_file: u64,
    },
    /// At open: data files without a metadata file; they are read from
    /// the first, and writing resumes after the last (WARN).
    FilesWithoutMeta {
        /// The first data file found.
        first_file: u64,
        /// The last data file found.
        last_file: u64,
    },
    /// A best-effort operation failed (renaming a `.bad` file, removing a
    /// finished file, the sync of a roll, closing): ERROR.
    Failed(QueueError),
}

impl fmt::Display for QueueEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueEvent::Repaired(w) => w.fmt(f),
            QueueEvent::Corrupt {
                file_num,
                pos,
                reason,
            } => write!(
                f,
                "jump to next file and saving bad file {file_num} (record at {pos}: {reason})"
            ),
            QueueEvent::FilesPastWriter {
                meta_write_file,
                last_file,
            } => write!(
                f,
                "data files {}..={last_file} after the metadata's write file {meta_write_file}: \
                 reading them, writing after them",
                meta_write_file.saturating_add(1)
            ),
            QueueEvent::FilesWithoutMeta {
                first_file,
                last_file,
            } => write!(
                f,
                "data files {first_file}..={last_file} without metadata: reading them, writing after them"
            ),
            QueueEvent::Failed(e) => e.fmt(f),
        }
    }
}

// ---------------------------------------------------------------------------
// The queue
// ---------------------------------------------------------------------------

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
    /// Open (or create) queue `name` in `dir`: load `<name>.diskqueue.meta.dat`
    /// if present and apply what [`State::open`] decides (skipping a write
    /// file longer than the metadata, the tail check), syncing at once
    /// when it moved the writer. See the module docs for the directory
    /// listing done here and the repairs beyond Go's.
    pub async fn open(dir: &Path, name: &str, cfg: QueueConfig) -> Result<DiskQueue, QueueError> {
        let dir = std::path::absolute(dir).map_err(|source| QueueError::Io {
            op: IoOp::ListDir,
            path: dir.to_path_buf(),
            source,
        })?;
        let (files, stale_tmp) = list_dir(&dir, name)?;
        let meta_path = dir.join(format::meta_file_name(name));
        let mut events = Vec::new();
        let meta = match read_small_file(&meta_path).await {
            Ok(text) => {
                let mut meta = format::parse_meta(&text).map_err(|error| QueueError::BadMeta {
                    path: meta_path.clone(),
                    error,
                })?;
                let last = files.last().copied();
                if let (Some(last), Ok(write_file)) = (last, u64::try_from(meta.write_file_num)) {
                    if last > write_file {
                        events.push(QueueEvent::FilesPastWriter {
                            meta_write_file: write_file,
                            last_file: last,
                        });
                        meta.write_file_num = to_i64(last);
                        meta.write_pos = 0;
                    }
                }
                meta
            }
            Err(e) if not_found(&e) => match (files.first(), files.last()) {
                (Some(&first), Some(&last)) => {
                    events.push(QueueEvent::FilesWithoutMeta {
                        first_file: first,
                        last_file: last,
                    });
                    Meta {
                        depth: 0,
                        read_file_num: to_i64(first),
                        read_pos: 0,
                        write_file_num: to_i64(last),
                        write_pos: 0,
                    }
                }
                _ => Meta::default(),
            },
            Err(e) => return Err(e),
        };
        let write_size = match u64::try_from(meta.write_file_num) {
            Ok(n) if files.contains(&n) => {
                let path = dir.join(format::data_file_name(name, n));
                match file_size(&path).await {
                    Ok(size) => Some(size),
                    Err(e) if not_found(&e) => None,
                    Err(e) => return Err(e),
                }
            }
            _ => None,
        };
        let (state, effects) =
            State::open(cfg.state_config(), &meta, write_size).map_err(|error| {
                QueueError::NegativeMeta {
                    path: meta_path.clone(),
                    error,
                }
            })?;
        let mut queue = DiskQueue {
            dir,
            name: name.to_owned(),
            cfg,
            state,
            writer: None,
            reader: None,
            chunk: None,
            peeked: None,
            files,
            last_sync: Instant::now(),
            events: Vec::new(),
            events_dropped: 0,
            floor: None,
            held: BTreeSet::new(),
            behind: None,
        };
        for e in events {
            queue.event(e);
        }
        for tmp in stale_tmp {
            let path = queue.dir.join(tmp);
            if let Err(e) = remove(&path).await {
                queue.event(QueueEvent::Failed(e));
            }
        }
        queue.apply(effects).await?;
        queue.sync_if_due().await?;
        Ok(queue)
    }

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

    /// Append one record. See [`DiskQueue::put_many`].
    pub async fn put(&mut self, payload: &[u8]) -> Result<(), QueueError> {
        self.put_many(&[payload]).await
    }

    /// Append records in order, with one write call per run of records
    /// that go into the same file (rolling to a new file, with its sync,
    /// before a record that would not fit). Each record counts toward
    /// `sync_every`. A sync that became due is started before returning:
    /// with `sync_every` 1 it is also finished (group commit: the answer
    /// waits for the fsync); otherwise it runs behind the writer (see
    /// [`DiskQueue::start_sync_behind`]).
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

    fn begin_append(&mut self, index: usize, payload: &[u8]) -> Result<AppendPlan, QueueError> {
        self.state
            .begin_append(payload.len())
            .map_err(|error| QueueError::RecordSize { index, error })
    }

    /// Add a record to the write buffer and count it (the state is
    /// restored if the write then fails).
    fn append(&mut self, plan: &AppendPlan, payload: &[u8], buf: &mut Vec<u8>) {
        buf.extend_from_slice(&plan.prefix);
        buf.extend_from_slice(payload);
        // Never stale: the plan was made just now on this state.
        let committed = self.state.commit_append(plan);
        debug_assert!(committed.is_ok());
    }

    /// The next record, without consuming it: the same one until
    /// [`DiskQueue::advance`]. `None` when the reader is at the writer.
    ///
    /// Moves past finished files (deleting them) and past corrupt ones
    /// (renamed `.bad`, with a [`QueueEvent::Corrupt`]) on the way; a
    /// transient error (no descriptor or memory left) is returned instead,
    /// and the same record is tried again by the next call. The
    /// payload is a slice of a shared read chunk of up to [`READ_CHUNK`]
    /// bytes.
    pub async fn peek(&mut self) -> Result<Option<Bytes>, QueueError> {
        loop {
            if let Some(p) = &self.peeked {
                return Ok(Some(p.payload.clone()));
            }
            match self.state.next_read() {
                ReadStep::Idle => break,
                ReadStep::NeedFileSize { file_num } => match self.read_file_size(file_num).await {
                    Ok(size) => {
                        self.state.set_read_file_end(file_num, size);
                    }
                    Err(e) if transient(&e) => return Err(e),
                    Err(e) => {
                        let pos = self.state.read_position().pos;
                        self.corrupt(file_num, pos, CorruptReason::Io(e)).await?;
                    }
                },
                ReadStep::EndOfFile { .. } => {
                    let effects = self.state.end_of_file();
                    self.apply(effects).await?;
                }
                ReadStep::Read(at) => match self.read_record(at).await {
                    Ok((payload, consumed)) => {
                        self.peeked = Some(Peeked {
                            at,
                            consumed,
                            payload,
                        });
                    }
                    Err(CorruptReason::Io(e)) if transient(&e) => return Err(e),
                    Err(reason) => self.corrupt(at.file_num, at.pos, reason).await?,
                },
            }
        }
        // Moving past files or corruption made a sync due.
        self.sync_if_due().await?;
        Ok(None)
    }

    /// Consume the record [`DiskQueue::peek`] returned: the read position
    /// and depth advance, a finished file is deleted, and a sync that
    /// became due (`sync_every`, a new read file) is done.
    pub async fn advance(&mut self) -> Result<(), QueueError> {
        self.advance_batched().await?;
        self.sync_if_due().await
    }

    /// [`DiskQueue::advance`] without the sync it may make due: for a
    /// reader that consumes a batch of records and then calls
    /// [`DiskQueue::sync_if_due`] once (with `--sync-every=1`, one fsync
    /// per batch instead of one per record).
    pub async fn advance_batched(&mut self) -> Result<(), QueueError> {
        let Some(p) = self.peeked.take() else {
            return Err(QueueError::NotPeeked);
        };
        let effects = self
            .state
            .finish_read(p.at, p.consumed)
            .map_err(|_| QueueError::NotPeeked)?;
        if !effects.is_empty() {
            self.apply(effects).await?;
        }
        Ok(())
    }

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
    /// [`DiskQueue::sync_deadline`] at the latest.
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

    /// When [`DiskQueue::maybe_sync`] should run next for `sync_timeout`.
    pub fn sync_deadline(&self) -> Instant {
        self.last_sync + self.cfg.sync_timeout
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

    /// Where the record [`DiskQueue::peek`] returned starts.
    pub fn peeked_at(&self) -> Option<Position> {
        self.peeked.as_ref().map(|p| Position {
            file_num: p.at.file_num,
            pos: p.at.pos,
        })
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

    /// Sync if `sync_every` operations, a new file or a repair made one
    /// due.
    pub async fn sync_if_due(&mut self) -> Result<(), QueueError> {
        if self.state.sync_due() {
            self.sync().await
        } else {
            Ok(())
        }
    }

    async fn sync_inner(&mut self) -> Result<(), QueueError> {
        if let Some(w) = &self.writer {
            w.file
                .fdatasync()
                .await
                .map_err(|e| io_error(IoOp::Sync, &self.data_path(w.file_num), e))?;
        }
        self.persist_meta().await
    }

    async fn persist_meta(&self) -> Result<(), QueueError> {
        persist_meta(&self.dir, &self.name, self.persisted_meta()).await
    }

    /// The metadata a sync persists now: the state's, with the floor as
    /// the read position.
    fn persisted_meta(&self) -> Meta {
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
    /// finishes it too ([`DiskQueue::finish_sync_behind`]). A failed one
    /// is an event and the sync stays due.
    async fn start_sync_behind(&mut self) {
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
    async fn finish_sync_behind(&mut self) {
        if let Some(task) = self.behind.as_mut() {
            let result = task.await;
            self.behind = None;
            self.sync_behind_done(result);
        }
    }

    /// Take the result of the sync behind the writer if it is done.
    async fn collect_sync_behind(&mut self) {
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
    fn sync_behind_done(&mut self, result: Result<(), QueueError>) {
        if let Err(e) = result {
            self.state.request_sync();
            self.event(QueueEvent::Failed(e));
        }
    }

    /// The deferrals saved by [`DiskQueue::save_deferrals`] (message ID,
    /// due unix ms); none if there is no such file.
    pub async fn load_deferrals(&self) -> Result<Vec<(u64, i64)>, QueueError> {
        let path = self.dir.join(format::deferred_file_name(&self.name));
        match read_whole_file(&path).await {
            Ok(text) => Ok(format::parse_deferrals(&text)),
            Err(e) if not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e),
        }
    }

    /// Save the due times of deferred messages in the queue (written to a
    /// temporary file, fdatasynced, renamed); no entries removes the file.
    pub async fn save_deferrals(&self, entries: &[(u64, i64)]) -> Result<(), QueueError> {
        let path = self.dir.join(format::deferred_file_name(&self.name));
        if entries.is_empty() {
            return match remove(&path).await {
                Err(e) if !not_found(&e) => Err(e),
                _ => Ok(()),
            };
        }
        let tmp_path = self.dir.join(format!(
            "{}.{}.tmp",
            format::deferred_file_name(&self.name),
            random_u63()
        ));
        write_atomically(&tmp_path, &path, format::encode_deferrals(entries)).await
    }

    /// Carry out a roll: the sync it asks for (its failure is an event, as
    /// in Go), then close the old write file.
    async fn roll(&mut self, roll: Roll) {
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
    async fn write_all(&mut self, file_num: u64, pos: u64, buf: Vec<u8>) -> Result<(), QueueError> {
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

    async fn close_writer(&mut self) {
        if self.writer.is_none() {
            return;
        }
        self.finish_sync_behind().await;
        if let Some(w) = self.writer.take() {
            self.close_handle(w).await;
        }
    }

    async fn close_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            self.close_handle(r).await;
        }
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

    /// The read handle on `file_num`, opened if needed.
    async fn reader(&mut self, file_num: u64) -> Result<&BufferedFile, QueueError> {
        if self.reader.as_ref().is_some_and(|r| r.file_num != file_num) {
            self.close_reader().await;
        }
        let handle = match self.reader.take() {
            Some(handle) => handle,
            None => {
                let path = self.data_path(file_num);
                let file = OpenOptions::new()
                    .read(true)
                    .buffered_open(&path)
                    .await
                    .map_err(|e| io_error(IoOp::Open, &path, e))?;
                Handle {
                    file_num,
                    file: Rc::new(file),
                }
            }
        };
        Ok(&self.reader.insert(handle).file)
    }

    async fn read_file_size(&mut self, file_num: u64) -> Result<u64, QueueError> {
        let path = self.data_path(file_num);
        self.reader(file_num)
            .await?
            .file_size()
            .await
            .map_err(|e| io_error(IoOp::Stat, &path, e))
    }

    /// Decode the record at `at` from the chunk, reading a new chunk at
    /// `at.pos` when the record is not all in it.
    async fn read_record(&mut self, at: ReadAt) -> Result<(Bytes, u64), CorruptReason> {
        let limits = self.cfg.limits();
        let mut need = RECORD_LEN_PREFIX as u64;
        if let Some(c) = self.chunk.as_ref().filter(|c| c.file_num == at.file_num) {
            match decode_in_chunk(c, at, &limits) {
                ChunkDecode::Record(payload, consumed) => return Ok((payload, consumed)),
                ChunkDecode::Bad(e) => return Err(CorruptReason::BadLength(e)),
                ChunkDecode::Need(n) => need = n,
                ChunkDecode::Outside => {}
            }
        }
        let left = at.end.saturating_sub(at.pos);
        loop {
            let size = need.max(READ_CHUNK as u64).min(left);
            let data = self
                .read_at(at.file_num, at.pos, size)
                .await
                .map_err(CorruptReason::Io)?;
            let chunk = Chunk {
                file_num: at.file_num,
                start: at.pos,
                data,
            };
            let result = match decode_in_chunk(&chunk, at, &limits) {
                ChunkDecode::Record(payload, consumed) => Ok((payload, consumed)),
                ChunkDecode::Bad(e) => Err(CorruptReason::BadLength(e)),
                // A record larger than the chunk just read: read it whole.
                ChunkDecode::Need(n) if n > size && n <= left => {
                    need = n;
                    continue;
                }
                ChunkDecode::Need(_) | ChunkDecode::Outside => {
                    Err(CorruptReason::Truncated { end: at.end })
                }
            };
            self.chunk = Some(chunk);
            return result;
        }
    }

    /// Up to `size` bytes at `pos` (fewer only at the end of the file).
    async fn read_at(&mut self, file_num: u64, pos: u64, size: u64) -> Result<Bytes, QueueError> {
        let path = self.data_path(file_num);
        let size = usize::try_from(size).unwrap_or(usize::MAX);
        let file = self.reader(file_num).await?;
        let first = file
            .read_at(pos, size)
            .await
            .map_err(|e| io_error(IoOp::Read, &path, e))?;
        if first.len() >= size || first.is_empty() {
            return Ok(Bytes::copy_from_slice(&first));
        }
        // A short read before the end: go on until the end or `size`.
        let mut data = Vec::with_capacity(size);
        data.extend_from_slice(&first);
        drop(first);
        while data.len() < size {
            let more = file
                .read_at(pos + data.len() as u64, size - data.len())
                .await
                .map_err(|e| io_error(IoOp::Read, &path, e))?;
            if more.is_empty() {
                break;
            }
            data.extend_from_slice(&more);
        }
        Ok(Bytes::from(data))
    }
}

enum ChunkDecode {
    /// The payload and the record's size.
    Record(Bytes, u64),
    /// Bad length prefix.
    Bad(BadRecordLength),
    /// The chunk has the start of the record but not all of it; the
    /// record needs this many bytes (4 while the prefix is incomplete).
    Need(u64),
    /// The chunk does not cover `at.pos`.
    Outside,
}

fn decode_in_chunk(c: &Chunk, at: ReadAt, limits: &RecordLimits) -> ChunkDecode {
    if at.pos < c.start {
        return ChunkDecode::Outside;
    }
    let chunk_end = c.start.saturating_add(c.data.len() as u64);
    let end = chunk_end.min(at.end);
    let (Ok(off), Ok(stop)) = (
        usize::try_from(at.pos - c.start),
        usize::try_from(end.saturating_sub(c.start)),
    ) else {
        return ChunkDecode::Outside;
    };
    let Some(window) = c.data.get(off..stop.max(off)) else {
        return ChunkDecode::Outside;
    };
    if window.is_empty() {
        return ChunkDecode::Outside;
    }
    match decode_record(window, limits) {
        Ok(Decoded::Complete { value, consumed }) => {
            let start = off + RECORD_LEN_PREFIX;
            ChunkDecode::Record(c.data.slice(start..start + value.len()), consumed as u64)
        }
        Ok(Decoded::Incomplete) => {
            let need = match window.first_chunk::<RECORD_LEN_PREFIX>() {
                Some(prefix) => RECORD_LEN_PREFIX as u64 + u64::from(u32::from_be_bytes(*prefix)),
                None => RECORD_LEN_PREFIX as u64,
            };
            ChunkDecode::Need(need)
        }
        Err(e) => ChunkDecode::Bad(e),
    }
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// A non-negative 63-bit random number (Go's `rand.Int()`), for temporary
/// file names.
fn random_u63() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() >> 1
}

/// Data file numbers of `name` in `dir`, and its left-over metadata and
/// deferrals `.tmp` files (a crash while one was written). Blocking
/// (`std::fs::read_dir`): at open only.
fn list_dir(dir: &Path, name: &str) -> Result<(BTreeSet<u64>, Vec<String>), QueueError> {
    let list_error = |source| QueueError::Io {
        op: IoOp::ListDir,
        path: dir.to_path_buf(),
        source,
    };
    let tmp_prefixes = [
        format!("{}.", format::meta_file_name(name)),
        format!("{}.", format::deferred_file_name(name)),
    ];
    let mut files = BTreeSet::new();
    let mut tmp = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list_error)? {
        let entry = entry.map_err(list_error)?;
        let Ok(file_name) = entry.file_name().into_string() else {
            continue;
        };
        if let Some((queue, n)) = format::parse_data_file_name(&file_name) {
            if queue == name {
                files.insert(n);
            }
        } else if let Some(random) = tmp_prefixes.iter().find_map(|p| {
            file_name
                .strip_prefix(p.as_str())
                .and_then(|rest| rest.strip_suffix(".tmp"))
        }) {
            if !random.is_empty() && random.bytes().all(|b| b.is_ascii_digit()) {
                tmp.push(file_name);
            }
        }
    }
    Ok((files, tmp))
}

/// Persist `meta` as queue `name`'s metadata file in `dir`.
async fn persist_meta(dir: &Path, name: &str, meta: Meta) -> Result<(), QueueError> {
    let text = format::encode_meta(&meta).into_bytes();
    let meta_path = dir.join(format::meta_file_name(name));
    let tmp_path = dir.join(format::meta_tmp_file_name(name, random_u63()));
    write_atomically(&tmp_path, &meta_path, text).await
}

/// Write `bytes` to `tmp_path`, fdatasync, close, and rename it over
/// `path` (the metadata and the deferrals file).
async fn write_atomically(tmp_path: &Path, path: &Path, bytes: Vec<u8>) -> Result<(), QueueError> {
    let result = async {
        let file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(FILE_MODE)
            .buffered_open(tmp_path)
            .await
            .map_err(|e| io_error(IoOp::Create, tmp_path, e))?;
        let written = write_fully(&file, 0, bytes).await;
        let synced = match written {
            Ok(()) => file
                .fdatasync()
                .await
                .map_err(|e| io_error(IoOp::Sync, tmp_path, e)),
            Err(e) => Err(io_error(IoOp::Write, tmp_path, e)),
        };
        let closed = file
            .close()
            .await
            .map_err(|e| io_error(IoOp::Close, tmp_path, e));
        synced.and(closed)?;
        glommio::io::rename(tmp_path, path)
            .await
            .map_err(|e| io_error(IoOp::Rename, path, e))
    }
    .await;
    if result.is_err() {
        let _ = glommio::io::remove(tmp_path).await;
    }
    result
}

/// A whole file (the deferrals file).
async fn read_whole_file(path: &Path) -> Result<Vec<u8>, QueueError> {
    let file = OpenOptions::new()
        .read(true)
        .buffered_open(path)
        .await
        .map_err(|e| io_error(IoOp::Open, path, e))?;
    let result = async {
        let size = file
            .file_size()
            .await
            .map_err(|e| io_error(IoOp::Stat, path, e))?;
        let mut out = Vec::with_capacity(size as usize);
        while (out.len() as u64) < size {
            let chunk = file
                .read_at(out.len() as u64, (size as usize - out.len()).min(1 << 20))
                .await
                .map_err(|e| io_error(IoOp::Read, path, e))?;
            if chunk.is_empty() {
                break;
            }
            out.extend_from_slice(&chunk);
        }
        Ok(out)
    }
    .await;
    let _ = file.close().await;
    result
}

async fn remove(path: &Path) -> Result<(), QueueError> {
    glommio::io::remove(path)
        .await
        .map_err(|e| io_error(IoOp::Remove, path, e))
}

/// The first 4 KiB of a small file (the metadata).
async fn read_small_file(path: &Path) -> Result<Vec<u8>, QueueError> {
    let file = OpenOptions::new()
        .read(true)
        .buffered_open(path)
        .await
        .map_err(|e| io_error(IoOp::Open, path, e))?;
    let read = file
        .read_at(0, 4096)
        .await
        .map(|r| r.to_vec())
        .map_err(|e| io_error(IoOp::Read, path, e));
    let _ = file.close().await;
    read
}

async fn file_size(path: &Path) -> Result<u64, QueueError> {
    let file = OpenOptions::new()
        .read(true)
        .buffered_open(path)
        .await
        .map_err(|e| io_error(IoOp::Open, path, e))?;
    let size = file
        .file_size()
        .await
        .map_err(|e| io_error(IoOp::Stat, path, e));
    let _ = file.close().await;
    size
}

/// `pwrite` all of `buf` at `pos` through io_uring. glommio's `write_at`
/// takes the buffer, so a short write (ENOSPC, EFBIG) cannot be continued:
/// it is an error, like Go's `Write` returning one.
async fn write_fully(file: &BufferedFile, pos: u64, buf: Vec<u8>) -> Result<(), GlommioError<()>> {
    let len = buf.len();
    let began = Instant::now();
    if append::shard_allows(len, began) {
        let written = append::pwrite_all(file.as_raw_fd(), pos, &buf);
        append::shard_record(len, began, Instant::now());
        return written.map_err(GlommioError::IoError);
    }
    let written = file.write_at(buf, pos).await?;
    if written < len {
        return Err(GlommioError::IoError(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write: {written} of {len} bytes"),
        )));
    }
    Ok(())
}

#[cfg(test)]
#[path = "queue_tests.rs"]
mod tests;
