//! One disk queue's positions as a pure state machine
//! (docs/data-directory.md#disk-queues).
//!
//! [`State`] holds what go-diskqueue keeps in memory and persists in the
//! `.meta.dat` file — `readFileNum,readPos`, `writeFileNum,writePos`,
//! `depth` — plus the little extra it needs to decide every transition
//! (the end of the file being read, the sync counter). It performs no I/O:
//! each method changes the positions and returns what the I/O layer must
//! do, as [`Effect`]s, in order.
//!
//! How the I/O layer drives it:
//!
//! ```text
//! open:    meta = format::parse_meta(<name>.diskqueue.meta.dat)   (missing → Meta::default())
//!          size = stat(data_file_name(name, meta.write_file_num))
//!          (state, effects) = State::open(config, &meta, size)?
//! put:     plan = state.begin_append(payload.len())?
//!          if let Some(roll) = plan.roll { fsync + close file roll.from; persist state.meta(); state.synced() }
//!          write [len][payload] at plan.at in one write call   (file created/truncated when plan.at.pos == 0)
//!          state.commit_append(&plan)                        (skip it if the write failed)
//! read:    loop match state.next_read() {
//!              Idle => wait for a put,
//!              NeedFileSize { file_num } => state.set_read_file_end(file_num, stat(file).len),
//!              EndOfFile { .. } => apply(state.end_of_file()),
//!              Read(at) => decode_record(file[at.pos..at.end]):
//!                  Complete → hand the payload over; once taken: apply(state.finish_read(at, consumed)?)
//!                  Incomplete at at.end / Err / I/O error → apply(state.corrupt())
//!          }
//! always:  if state.sync_due() { fsync write file; persist state.meta(); state.synced() }
//!          a timer every --sync-timeout: state.sync_timer()
//! empty:   apply(state.empty())
//! ```
//!
//! Handles: the I/O layer keeps at most one read handle (on
//! `read_position().file_num`) and one write handle (on
//! `write_position().file_num`). It closes a handle before any effect
//! deletes or renames its file, and whenever the state's file number moves
//! away from it (an [`Effect::Roll`] always says so for the write side).
//!
//! Differences from go-diskqueue v1.1.0, each only where Go misbehaves:
//! * Reaching the end of a finished file without a record to read (the
//!   reader had caught up with the writer just before the writer rolled,
//!   go-diskqueue issue #42) advances and deletes the file; Go reads, hits
//!   EOF and renames a perfectly good file to `.bad`.
//! * "Data exist" compares positions lexicographically; Go's
//!   `readFileNum < writeFileNum || readPos < writePos` is true for a reader
//!   ahead of the writer with a smaller `readPos`, and Go then loops on
//!   missing files. The tail check also runs after [`State::open`] and
//!   [`State::corrupt`], not only after a read, so a stale depth is
//!   corrected as soon as the reader is at the writer.
//! * [`State::open`] requests a sync when it moves the writer to a new
//!   file. Go does not, so a second crash before the next sync finds the
//!   same stale metadata, skips to the same new file again and writes over
//!   the records appended to it since the first restart.
//! * [`State::empty`] requests a sync, so the metadata file it deletes is
//!   rewritten at once (Go waits for the next sync trigger; a crash in
//!   between restarts the queue at file 0 and orphans newer files).

use std::fmt;

use super::format::{record_prefix, BadRecordLength, Meta, RecordLimits, RECORD_LEN_PREFIX};

/// A queue's fixed parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// `--max-bytes-per-file`: a file is not extended past this (a single
    /// larger record still goes alone into a file).
    pub max_bytes_per_file: u64,
    /// Record payload bounds ([`RecordLimits::nsqd`] for nsqd).
    pub limits: RecordLimits,
    /// `--sync-every`: reads and writes between syncs.
    pub sync_every: u64,
}

/// A place in the queue: a file number and a byte offset in that file.
/// Ordered by file, then offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Position {
    /// The data file's number.
    pub file_num: u64,
    /// Byte offset in that file.
    pub pos: u64,
}

/// The write side moves to another file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roll {
    /// The file written so far: close its handle (after the sync below).
    pub from: u64,
    /// The file the next record goes to, at offset 0.
    pub to: u64,
    /// Sync now, before the next write: fsync `from` and persist
    /// [`State::meta`] (which already names `to`), then call
    /// [`State::synced`]. True for a roll caused by an append ("fsync +
    /// metadata persist on every roll"); false when a corruption, an empty
    /// or the tail check moves the writer (a sync is then only due, see
    /// [`State::sync_due`]).
    pub sync: bool,
}

/// What the I/O layer must do, in the order given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// The write side moves to a new file.
    Roll(Roll),
    /// Remove data file `n` (fully read). A missing file is not an error.
    Delete(u64),
    /// Remove data files `first..=last`; missing ones are not an error. The
    /// range comes from metadata and can be wide after corruption: listing
    /// the directory ([`crate::format::parse_data_file_name`]) is fine.
    DeleteRange {
        /// First file number.
        first: u64,
        /// Last file number, inclusive.
        last: u64,
    },
    /// Rename data file `n` to `<file>.bad` ([`crate::format::bad_file_name`]);
    /// a failure is only logged.
    RenameBad(u64),
    /// Remove the `.meta.dat` file (it is rewritten at the next sync).
    DeleteMeta,
    /// Log this (go-diskqueue logs these at ERROR / WARN).
    Warn(Warning),
}

/// Inconsistencies the state machine repaired; the I/O layer logs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Warning {
    /// At open, the write file on disk is longer than the recorded
    /// `writePos` (metadata not synced before a crash): writing resumes in
    /// the next file and the reader salvages the longer one.
    WriteFileLongerThanMeta {
        /// The write file in the metadata.
        file_num: u64,
        /// The `writePos` in the metadata.
        write_pos: u64,
        /// Its size on disk.
        file_size: u64,
    },
    /// The reader reached the writer with a non-zero depth; depth was set
    /// to 0. Positive: "data loss"; negative: "metadata corruption".
    DepthAtTail {
        /// The depth before the reset.
        depth: i64,
    },
    /// The read position was past the write position; both were reset to
    /// the start of a fresh file.
    ReadAheadOfWrite {
        /// Read position before the reset.
        read: Position,
        /// Write position before the reset.
        write: Position,
    },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::WriteFileLongerThanMeta {
                file_num,
                write_pos,
                file_size,
            } => write!(
                f,
                "file {file_num}: metadata writePos {write_pos} < file size of {file_size}, skipping to new file"
            ),
            Warning::DepthAtTail { depth } if *depth < 0 => {
                write!(f, "negative depth at tail ({depth}), metadata corruption, resetting 0...")
            }
            Warning::DepthAtTail { depth } => {
                write!(f, "positive depth at tail ({depth}), data loss, resetting 0...")
            }
            Warning::ReadAheadOfWrite { read, write } => write!(
                f,
                "read position {},{} > write position {},{}, corruption, skipping to next writeFileNum and resetting 0...",
                read.file_num, read.pos, write.file_num, write.pos
            ),
        }
    }
}

/// The next thing the reader has to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadStep {
    /// No data: the reader is at the writer.
    Idle,
    /// The reader is in a finished file whose length is not known yet
    /// (it was finished before this process opened the queue): stat it and
    /// call [`State::set_read_file_end`]. If it cannot be opened, call
    /// [`State::corrupt`] (Go treats a failed open as a read error).
    NeedFileSize {
        /// The file to stat.
        file_num: u64,
    },
    /// The reader is at the end of a finished file: call
    /// [`State::end_of_file`], which moves on and deletes it.
    EndOfFile {
        /// The finished file.
        file_num: u64,
    },
    /// Decode the record at [`ReadAt::pos`].
    Read(ReadAt),
}

/// Where the next record is, and how far the file's data go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReadAt {
    /// The data file.
    pub file_num: u64,
    /// Offset of the record's length prefix.
    pub pos: u64,
    /// End of the data the reader may use: `writePos` for the file being
    /// written, the file's length for a finished one. A record that does
    /// not end by here is corrupt ([`State::corrupt`]).
    pub end: u64,
}

/// Where a new record goes, from [`State::begin_append`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendPlan {
    /// Set when the record starts a new file: carry out the roll (sync
    /// included) before writing.
    pub roll: Option<Roll>,
    /// File and offset of the record.
    pub at: Position,
    /// Bytes to write: 4 + payload length.
    pub size: u64,
    /// The 4-byte length prefix to write before the payload.
    pub prefix: [u8; 4],
}

/// [`State::open`] refused the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NegativeMeta(pub Meta);

impl fmt::Display for NegativeMeta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metadata has a negative file number or position: {:?}",
            self.0
        )
    }
}

impl std::error::Error for NegativeMeta {}

/// A plan or read that no longer matches the state (an empty, a
/// corruption or a reopen happened in between), or a read longer than its
/// [`ReadAt::end`]. Nothing was changed; drop the pre-read record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale;

impl fmt::Display for Stale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stale disk queue position")
    }
}

impl std::error::Error for Stale {}

/// One queue's positions, depth and sync bookkeeping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    config: Config,
    read: Position,
    write: Position,
    depth: i64,
    /// Length of the file being read, once it is finished (Go's
    /// `maxBytesPerFileRead`). `None` while it is the write file or while
    /// its length is not known yet.
    read_file_end: Option<u64>,
    ops_since_sync: u64,
    need_sync: bool,
}

fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

impl State {
    /// An empty queue at file 0, offset 0: no metadata file ("missing =
    /// empty queue").
    pub fn new(config: Config) -> State {
        State {
            config,
            read: Position::default(),
            write: Position::default(),
            depth: 0,
            read_file_end: None,
            ops_since_sync: 0,
            need_sync: false,
        }
    }

    /// Resume from a `.meta.dat` and the size of its write file on disk
    /// (`None` if that file does not exist).
    ///
    /// * "If the current write file on disk is larger than the recorded
    ///   writePos (metadata not synced before a crash), writing resumes in
    ///   a new file (number +1) and the reader salvages the old one."
    /// * "Depth is whatever the metadata says", then the tail check runs
    ///   (see the module docs).
    ///
    /// Go skips the size check when there is no metadata file at all and
    /// then overwrites file 0 from offset 0. Passing `Meta::default()` with
    /// the size of file 0 instead salvages what a crash left there (depth
    /// starts at 0 and is corrected by the tail check).
    ///
    /// Negative positions or file numbers (Go would try them and fail on
    /// every read) are refused: move the metadata aside and start fresh.
    pub fn open(
        config: Config,
        meta: &Meta,
        write_file_size: Option<u64>,
    ) -> Result<(State, Vec<Effect>), NegativeMeta> {
        let u = |v: i64| u64::try_from(v).map_err(|_| NegativeMeta(*meta));
        let mut state = State {
            config,
            read: Position {
                file_num: u(meta.read_file_num)?,
                pos: u(meta.read_pos)?,
            },
            write: Position {
                file_num: u(meta.write_file_num)?,
                pos: u(meta.write_pos)?,
            },
            depth: meta.depth,
            read_file_end: None,
            ops_since_sync: 0,
            need_sync: false,
        };
        let mut effects = Vec::new();
        if let Some(size) = write_file_size.filter(|&size| size > state.write.pos) {
            effects.push(Effect::Warn(Warning::WriteFileLongerThanMeta {
                file_num: state.write.file_num,
                write_pos: state.write.pos,
                file_size: size,
            }));
            state.write = Position {
                file_num: state.write.file_num.saturating_add(1),
                pos: 0,
            };
            // Persist the new write file at once: with the old metadata, a
            // second crash would skip to this same file again and write
            // over what was appended to it in between.
            state.need_sync = true;
        }
        effects.extend(state.check_tail());
        Ok((state, effects))
    }

    /// The metadata to persist: `depth`, `readFileNum,readPos`,
    /// `writeFileNum,writePos`.
    pub fn meta(&self) -> Meta {
        Meta {
            depth: self.depth,
            read_file_num: to_i64(self.read.file_num),
            read_pos: to_i64(self.read.pos),
            write_file_num: to_i64(self.write.file_num),
            write_pos: to_i64(self.write.pos),
        }
    }

    /// The queue's parameters.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Messages in the queue as counted (stats' `backend_depth`). Can be
    /// off, even negative, after a crash or a corruption until the tail
    /// check corrects it.
    pub fn depth(&self) -> i64 {
        self.depth
    }

    /// Where the next record is read.
    pub fn read_position(&self) -> Position {
        self.read
    }

    /// Where the next record is written.
    pub fn write_position(&self) -> Position {
        self.write
    }

    /// "Data exist while (readFileNum < writeFileNum) or (readPos <
    /// writePos)" — taken lexicographically.
    pub fn has_data(&self) -> bool {
        self.read < self.write
    }

    // ----- write path -------------------------------------------------

    /// Decide where a record with a `payload_len`-byte payload goes.
    ///
    /// * "writes outside those bounds are rejected" (min/max record size);
    /// * "Before appending, if the current file already has data
    ///   (writePos > 0) and writePos + 4 + L would exceed
    ///   --max-bytes-per-file, the queue moves to file number +1 at position 0 (fsync + metadata
    ///   persist on every roll). A single record larger than the limit
    ///   still goes alone into a file."
    ///
    /// The roll, if any, is applied to the state at once (as in Go, it
    /// stands even if the write then fails); the record itself counts only
    /// after [`State::commit_append`]. Counts as one operation for
    /// `--sync-every`, whatever the outcome (as in Go).
    pub fn begin_append(&mut self, payload_len: usize) -> Result<AppendPlan, BadRecordLength> {
        self.ops_since_sync = self.ops_since_sync.saturating_add(1);
        let prefix = record_prefix(payload_len, &self.config.limits)?;
        let size = (RECORD_LEN_PREFIX as u64).saturating_add(u64::from(u32::from_be_bytes(prefix)));
        let mut roll = None;
        if self.write.pos > 0
            && self.write.pos.saturating_add(size) > self.config.max_bytes_per_file
        {
            if self.read.file_num == self.write.file_num {
                // The file being read is finished here: Go's
                // `maxBytesPerFileRead = writePos`.
                self.read_file_end = Some(self.write.pos);
            }
            let from = self.write.file_num;
            self.write = Position {
                file_num: from.saturating_add(1),
                pos: 0,
            };
            roll = Some(Roll {
                from,
                to: self.write.file_num,
                sync: true,
            });
        }
        Ok(AppendPlan {
            roll,
            at: self.write,
            size,
            prefix,
        })
    }

    /// The record of `plan` is written: "writePos += 4+L; depth += 1".
    pub fn commit_append(&mut self, plan: &AppendPlan) -> Result<(), Stale> {
        if plan.at != self.write {
            return Err(Stale);
        }
        self.write.pos = self.write.pos.saturating_add(plan.size);
        self.depth = self.depth.saturating_add(1);
        Ok(())
    }

    // ----- read path --------------------------------------------------

    /// What the reader does next. For a finished file, "end-of-file is the
    /// actual file size at open time (files may be smaller than
    /// max-bytes-per-file)"; for the file being written it is `writePos`.
    pub fn next_read(&self) -> ReadStep {
        if !self.has_data() {
            return ReadStep::Idle;
        }
        let file_num = self.read.file_num;
        if file_num == self.write.file_num {
            return ReadStep::Read(ReadAt {
                file_num,
                pos: self.read.pos,
                end: self.write.pos,
            });
        }
        match self.read_file_end {
            None => ReadStep::NeedFileSize { file_num },
            Some(end) if self.read.pos >= end => ReadStep::EndOfFile { file_num },
            Some(end) => ReadStep::Read(ReadAt {
                file_num,
                pos: self.read.pos,
                end,
            }),
        }
    }

    /// The length of finished file `file_num`, answering
    /// [`ReadStep::NeedFileSize`]. Ignored (returns false) unless it is the
    /// finished file being read.
    pub fn set_read_file_end(&mut self, file_num: u64, size: u64) -> bool {
        if file_num != self.read.file_num || file_num >= self.write.file_num {
            return false;
        }
        self.read_file_end = Some(size);
        true
    }

    /// The record read at `at`, `consumed` bytes long (4 + payload, the
    /// decoder's `consumed`), was taken by a consumer: "position/depth
    /// advance only when a consumer actually takes it".
    ///
    /// When that was the last record of a finished file, "the reader moves
    /// to the next file number and deletes the finished file"
    /// ([`Effect::Delete`], and a sync becomes due). Then the tail check.
    /// Counts as one operation for `--sync-every`.
    pub fn finish_read(&mut self, at: ReadAt, consumed: u64) -> Result<Vec<Effect>, Stale> {
        let end = at.pos.checked_add(consumed).ok_or(Stale)?;
        if at.file_num != self.read.file_num
            || at.pos != self.read.pos
            || end > at.end
            || consumed < RECORD_LEN_PREFIX as u64
        {
            return Err(Stale);
        }
        self.read.pos = end;
        self.depth = self.depth.saturating_sub(1);
        self.ops_since_sync = self.ops_since_sync.saturating_add(1);
        let mut effects = Vec::new();
        if self.read.file_num < self.write.file_num
            && self.read_file_end.is_some_and(|file_end| end >= file_end)
        {
            effects.push(self.advance_read_file());
        }
        effects.extend(self.check_tail());
        Ok(effects)
    }

    /// Answer [`ReadStep::EndOfFile`]: move to the next file and delete
    /// the finished one, then the tail check. No effect in any other state.
    pub fn end_of_file(&mut self) -> Vec<Effect> {
        let ReadStep::EndOfFile { .. } = self.next_read() else {
            return Vec::new();
        };
        let mut effects = vec![self.advance_read_file()];
        effects.extend(self.check_tail());
        effects
    }

    fn advance_read_file(&mut self) -> Effect {
        let old = self.read.file_num;
        self.read = Position {
            file_num: old.saturating_add(1),
            pos: 0,
        };
        self.read_file_end = None;
        // "sync every time we start reading from a new file"
        self.need_sync = true;
        Effect::Delete(old)
    }

    /// The record at the read position could not be read: an I/O error, a
    /// truncated record, or a length outside the limits. "Read error or
    /// out-of-bounds length → the file is renamed .bad, the reader skips to
    /// the next file (if it was also the write file, writing also moves to
    /// a new file), and a sync is scheduled." Then the tail check. No
    /// effect when there is nothing to read.
    pub fn corrupt(&mut self) -> Vec<Effect> {
        if !self.has_data() {
            return Vec::new();
        }
        let bad = self.read.file_num;
        let mut effects = Vec::new();
        if bad == self.write.file_num {
            effects.push(Effect::Roll(self.skip_write_file()));
        }
        effects.push(Effect::RenameBad(bad));
        self.read = Position {
            file_num: bad.saturating_add(1),
            pos: 0,
        };
        self.read_file_end = None;
        self.need_sync = true;
        effects.extend(self.check_tail());
        effects
    }

    fn skip_write_file(&mut self) -> Roll {
        let from = self.write.file_num;
        self.write = Position {
            file_num: from.saturating_add(1),
            pos: 0,
        };
        Roll {
            from,
            to: self.write.file_num,
            sync: false,
        }
    }

    /// "Tail check: whenever the reader catches up with the writer, depth
    /// is forced to 0 if it isn't (logged as data loss / metadata
    /// corruption); inconsistent positions (read ahead of write) reset both
    /// to a fresh next file." Run by every method that moves the reader;
    /// public for the I/O layer's own checks.
    pub fn check_tail(&mut self) -> Vec<Effect> {
        if self.has_data() {
            return Vec::new();
        }
        let mut effects = Vec::new();
        if self.depth != 0 {
            effects.push(Effect::Warn(Warning::DepthAtTail { depth: self.depth }));
            self.depth = 0;
            self.need_sync = true;
        }
        if self.read != self.write {
            effects.push(Effect::Warn(Warning::ReadAheadOfWrite {
                read: self.read,
                write: self.write,
            }));
            effects.extend(self.skip_to_next_rw_file());
            self.need_sync = true;
        }
        effects
    }

    /// Go's `skipToNextRWFile`: close both files, delete
    /// `readFileNum..=writeFileNum`, both positions to the next file at 0,
    /// depth 0.
    fn skip_to_next_rw_file(&mut self) -> Vec<Effect> {
        let first = self.read.file_num;
        let last = self.write.file_num;
        let mut effects = vec![Effect::Roll(self.skip_write_file())];
        if first <= last {
            effects.push(Effect::DeleteRange { first, last });
        }
        self.read = self.write;
        self.read_file_end = None;
        self.depth = 0;
        effects
    }

    // ----- empty and sync ---------------------------------------------

    /// "Empty: delete every data file from readFileNum..writeFileNum and
    /// the metadata file; both positions move to the next file number at
    /// 0; depth 0." Drop any pre-read record. Resets the operation count
    /// and requests a sync (see the module docs); for a deletion (Empty,
    /// then close) do not carry that sync out.
    pub fn empty(&mut self) -> Vec<Effect> {
        let mut effects = self.skip_to_next_rw_file();
        effects.push(Effect::DeleteMeta);
        self.ops_since_sync = 0;
        self.need_sync = true;
        effects
    }

    /// Whether to sync now: a sync was requested (a file deleted or
    /// renamed, a repair, a timer with activity) or `--sync-every`
    /// operations happened since the last one.
    pub fn sync_due(&self) -> bool {
        self.need_sync || self.ops_since_sync >= self.config.sync_every
    }

    /// The `--sync-timeout` ticker fired: sync if there was any activity
    /// since the last sync.
    pub fn sync_timer(&mut self) {
        if self.ops_since_sync > 0 {
            self.need_sync = true;
        }
    }

    /// A sync (fsync of the write file and metadata persisted) succeeded.
    pub fn synced(&mut self) {
        self.need_sync = false;
        self.ops_since_sync = 0;
    }

    /// A sync already counted by [`State::synced`] failed later (it ran
    /// behind the writer): sync again.
    pub fn request_sync(&mut self) {
        self.need_sync = true;
    }

    /// A sync failed: it stays due; the operation count restarts (as Go's).
    pub fn sync_failed(&mut self) {
        self.ops_since_sync = 0;
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
