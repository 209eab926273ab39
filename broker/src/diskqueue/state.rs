//! One disk queue's positions as a pure state machine (reference D.1).
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
    /// the directory ([`super::format::parse_data_file_name`]) is fine.
    DeleteRange {
        /// First file number.
        first: u64,
        /// Last file number, inclusive.
        last: u64,
    },
    /// Rename data file `n` to `<file>.bad` ([`super::format::bad_file_name`]);
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

    /// A sync failed: it stays due; the operation count restarts (as Go's).
    pub fn sync_failed(&mut self) {
        self.ops_since_sync = 0;
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::diskqueue::format::decode_record;
    use nsq_protocol::Decoded;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, HashMap, VecDeque};

    const LIMITS: RecordLimits = RecordLimits { min: 26, max: 200 };

    fn cfg(max_bytes_per_file: u64, sync_every: u64) -> Config {
        Config {
            max_bytes_per_file,
            limits: LIMITS,
            sync_every,
        }
    }

    fn pos(file_num: u64, pos: u64) -> Position {
        Position { file_num, pos }
    }

    /// Append a 26-byte record (30 bytes on disk) and commit it.
    fn put(s: &mut State) -> AppendPlan {
        let plan = s.begin_append(26).unwrap();
        s.commit_append(&plan).unwrap();
        plan
    }

    fn read_at(s: &State) -> ReadAt {
        match s.next_read() {
            ReadStep::Read(at) => at,
            other => panic!("expected a read, got {other:?}"),
        }
    }

    #[test]
    fn roll_happens_before_the_record_that_would_overflow() {
        let mut s = State::new(cfg(90, 100));
        for i in 0..3 {
            let plan = put(&mut s);
            assert_eq!((plan.roll, plan.at, plan.size), (None, pos(0, 30 * i), 30));
            assert_eq!(plan.prefix, [0, 0, 0, 26]);
        }
        // 90 + 30 > 90: the file is exactly full, the next record rolls.
        let plan = s.begin_append(26).unwrap();
        assert_eq!(
            plan.roll,
            Some(Roll {
                from: 0,
                to: 1,
                sync: true
            })
        );
        assert_eq!(plan.at, pos(1, 0));
        // What the roll's sync persists: the new file, the record not yet.
        assert_eq!(
            s.meta(),
            Meta {
                depth: 3,
                read_file_num: 0,
                read_pos: 0,
                write_file_num: 1,
                write_pos: 0
            }
        );
        s.commit_append(&plan).unwrap();
        assert_eq!((s.write_position(), s.depth()), (pos(1, 30), 4));
    }

    #[test]
    fn a_record_larger_than_a_file_goes_alone() {
        let mut s = State::new(cfg(50, 100));
        let plan = s.begin_append(100).unwrap();
        assert_eq!((plan.roll, plan.at, plan.size), (None, pos(0, 0), 104));
        s.commit_append(&plan).unwrap();
        let plan = s.begin_append(26).unwrap();
        assert_eq!(plan.roll.map(|r| (r.from, r.to)), Some((0, 1)));
        s.commit_append(&plan).unwrap();
        let plan = s.begin_append(100).unwrap();
        assert_eq!(plan.at, pos(2, 0));
    }

    #[test]
    fn sizes_outside_the_limits_are_refused() {
        let mut s = State::new(cfg(1000, 100));
        assert!(s.begin_append(25).is_err());
        assert!(s.begin_append(201).is_err());
        assert_eq!((s.write_position(), s.depth()), (pos(0, 0), 0));
        assert!(s.begin_append(200).is_ok());
    }

    #[test]
    fn reading_a_finished_file_deletes_it_with_its_last_record() {
        let mut s = State::new(cfg(90, 100));
        for _ in 0..4 {
            put(&mut s);
        }
        // File 0 was the read file when it rolled: its end is known.
        let at = read_at(&s);
        assert_eq!(
            at,
            ReadAt {
                file_num: 0,
                pos: 0,
                end: 90
            }
        );
        assert_eq!(s.finish_read(at, 30).unwrap(), vec![]);
        assert_eq!(s.finish_read(read_at(&s), 30).unwrap(), vec![]);
        let at = read_at(&s);
        assert_eq!(s.finish_read(at, 30).unwrap(), vec![Effect::Delete(0)]);
        assert!(s.sync_due());
        assert_eq!(s.read_position(), pos(1, 0));
        assert_eq!(
            read_at(&s),
            ReadAt {
                file_num: 1,
                pos: 0,
                end: 30
            }
        );
        assert_eq!(s.finish_read(read_at(&s), 30).unwrap(), vec![]);
        assert_eq!((s.next_read(), s.depth()), (ReadStep::Idle, 0));
    }

    #[test]
    fn reader_at_the_writer_when_it_rolls_moves_on_without_a_bad_file() {
        // go-diskqueue issue #42: Go renames file 0 to .bad here.
        let mut s = State::new(cfg(90, 100));
        for _ in 0..3 {
            put(&mut s);
            let at = read_at(&s);
            s.finish_read(at, 30).unwrap();
        }
        assert_eq!(s.next_read(), ReadStep::Idle);
        put(&mut s); // rolls
        assert_eq!(s.next_read(), ReadStep::EndOfFile { file_num: 0 });
        assert_eq!(s.end_of_file(), vec![Effect::Delete(0)]);
        assert_eq!(
            read_at(&s),
            ReadAt {
                file_num: 1,
                pos: 0,
                end: 30
            }
        );
        assert_eq!(s.end_of_file(), vec![]);
    }

    #[test]
    fn a_pre_read_record_survives_a_roll() {
        let mut s = State::new(cfg(90, 100));
        for _ in 0..3 {
            put(&mut s);
        }
        s.finish_read(read_at(&s), 30).unwrap();
        s.finish_read(read_at(&s), 30).unwrap();
        let held = read_at(&s); // the last record of file 0, not yet taken
        assert_eq!(held.end, 90);
        put(&mut s); // rolls while it is held
        assert_eq!(s.finish_read(held, 30).unwrap(), vec![Effect::Delete(0)]);
        assert_eq!(s.read_position(), pos(1, 0));
        assert_eq!(s.depth(), 1);
    }

    #[test]
    fn stale_reads_and_plans_change_nothing() {
        let mut s = State::new(cfg(90, 100));
        put(&mut s);
        let at = read_at(&s);
        assert_eq!(s.finish_read(at, 31), Err(Stale)); // beyond end
        assert_eq!(s.finish_read(ReadAt { pos: 4, ..at }, 26), Err(Stale));
        let plan = s.begin_append(26).unwrap();
        s.empty();
        assert_eq!(s.finish_read(at, 30), Err(Stale));
        assert_eq!(s.commit_append(&plan), Err(Stale));
        assert_eq!(
            (s.read_position(), s.write_position(), s.depth()),
            (pos(1, 0), pos(1, 0), 0)
        );
    }

    #[test]
    fn finished_file_of_unknown_size_is_asked_for() {
        let meta = Meta {
            depth: 2,
            read_file_num: 3,
            read_pos: 30,
            write_file_num: 4,
            write_pos: 30,
        };
        let (mut s, fx) = State::open(cfg(90, 100), &meta, Some(30)).unwrap();
        assert_eq!(fx, vec![]);
        assert!(!s.sync_due());
        assert_eq!(s.next_read(), ReadStep::NeedFileSize { file_num: 3 });
        assert!(!s.set_read_file_end(4, 60));
        assert!(s.set_read_file_end(3, 60)); // smaller than max-bytes-per-file
        let at = read_at(&s);
        assert_eq!(
            at,
            ReadAt {
                file_num: 3,
                pos: 30,
                end: 60
            }
        );
        assert_eq!(s.finish_read(at, 30).unwrap(), vec![Effect::Delete(3)]);
        assert_eq!(
            read_at(&s),
            ReadAt {
                file_num: 4,
                pos: 0,
                end: 30
            }
        );
        // An empty finished file.
        let (mut s, _) = State::open(cfg(90, 100), &meta, Some(30)).unwrap();
        s.set_read_file_end(3, 30);
        assert_eq!(s.next_read(), ReadStep::EndOfFile { file_num: 3 });
    }

    #[test]
    fn open_skips_a_write_file_longer_than_the_metadata() {
        let meta = Meta {
            depth: 600,
            read_file_num: 0,
            read_pos: 0,
            write_file_num: 9,
            write_pos: 35161,
        };
        let (s, fx) = State::open(cfg(65536, 2500), &meta, Some(35161)).unwrap();
        assert_eq!((fx, s.meta()), (vec![], meta));
        let (s, fx) = State::open(cfg(65536, 2500), &meta, None).unwrap();
        assert_eq!((fx, s.meta()), (vec![], meta));
        let (s, fx) = State::open(cfg(65536, 2500), &meta, Some(35200)).unwrap();
        assert_eq!(
            fx,
            vec![Effect::Warn(Warning::WriteFileLongerThanMeta {
                file_num: 9,
                write_pos: 35161,
                file_size: 35200
            })]
        );
        assert_eq!((s.write_position(), s.depth()), (pos(10, 0), 600));
        assert!(s.sync_due());
        // The reader, at the old write file's start, salvages all of it.
        let meta = Meta {
            depth: 1,
            read_file_num: 9,
            read_pos: 35131,
            ..meta
        };
        let (mut s, _) = State::open(cfg(65536, 2500), &meta, Some(35200)).unwrap();
        assert_eq!(s.next_read(), ReadStep::NeedFileSize { file_num: 9 });
        s.set_read_file_end(9, 35200);
        assert_eq!(read_at(&s).end, 35200);
    }

    #[test]
    fn tail_check() {
        let at_tail = |depth| Meta {
            depth,
            read_file_num: 2,
            read_pos: 60,
            write_file_num: 2,
            write_pos: 60,
        };
        for depth in [5, -5] {
            let (s, fx) = State::open(cfg(90, 100), &at_tail(depth), Some(60)).unwrap();
            assert_eq!(fx, vec![Effect::Warn(Warning::DepthAtTail { depth })]);
            assert_eq!((s.depth(), s.sync_due()), (0, true));
            assert_eq!(s.meta(), at_tail(0));
        }
        assert!(Warning::DepthAtTail { depth: 5 }
            .to_string()
            .contains("data loss"));
        assert!(Warning::DepthAtTail { depth: -5 }
            .to_string()
            .contains("metadata corruption"));
        // Read ahead of write in the same file: that file is deleted.
        let meta = Meta {
            read_pos: 90,
            ..at_tail(0)
        };
        let (s, fx) = State::open(cfg(90, 100), &meta, Some(60)).unwrap();
        assert_eq!(
            fx,
            vec![
                Effect::Warn(Warning::ReadAheadOfWrite {
                    read: pos(2, 90),
                    write: pos(2, 60)
                }),
                Effect::Roll(Roll {
                    from: 2,
                    to: 3,
                    sync: false
                }),
                Effect::DeleteRange { first: 2, last: 2 },
            ]
        );
        assert_eq!(
            (s.read_position(), s.write_position(), s.depth()),
            (pos(3, 0), pos(3, 0), 0)
        );
        // Read file ahead of write file with a smaller readPos: Go thinks
        // there are data and spins; here it is the same repair.
        let meta = Meta {
            depth: 3,
            read_file_num: 5,
            read_pos: 0,
            write_file_num: 2,
            write_pos: 60,
        };
        let (s, fx) = State::open(cfg(90, 100), &meta, Some(60)).unwrap();
        assert_eq!(fx.len(), 3); // depth warning, read-ahead warning, roll; nothing to delete
        assert_eq!(
            (s.read_position(), s.write_position(), s.depth()),
            (pos(3, 0), pos(3, 0), 0)
        );
    }

    #[test]
    fn negative_metadata_is_refused() {
        for meta in [
            Meta {
                read_pos: -1,
                ..Meta::default()
            },
            Meta {
                write_file_num: -1,
                ..Meta::default()
            },
        ] {
            assert_eq!(
                State::open(cfg(90, 100), &meta, None).unwrap_err(),
                NegativeMeta(meta)
            );
        }
        assert!(State::open(
            cfg(90, 100),
            &Meta {
                depth: -1,
                ..Meta::default()
            },
            None
        )
        .is_ok());
    }

    #[test]
    fn corruption_in_the_write_file_moves_both_sides() {
        let mut s = State::new(cfg(90, 100));
        put(&mut s);
        put(&mut s);
        assert_eq!(
            s.corrupt(),
            vec![
                Effect::Roll(Roll {
                    from: 0,
                    to: 1,
                    sync: false
                }),
                Effect::RenameBad(0),
                Effect::Warn(Warning::DepthAtTail { depth: 2 }),
            ]
        );
        assert_eq!(
            (s.read_position(), s.write_position(), s.depth()),
            (pos(1, 0), pos(1, 0), 0)
        );
        assert!(s.sync_due());
        assert_eq!(s.corrupt(), vec![]); // nothing to read: no effect
    }

    #[test]
    fn corruption_in_a_finished_file_skips_only_it() {
        let mut s = State::new(cfg(90, 100));
        for _ in 0..5 {
            put(&mut s);
        }
        assert_eq!(s.corrupt(), vec![Effect::RenameBad(0)]);
        assert_eq!(
            (s.read_position(), s.write_position(), s.depth()),
            (pos(1, 0), pos(1, 60), 5)
        );
        assert_eq!(
            read_at(&s),
            ReadAt {
                file_num: 1,
                pos: 0,
                end: 60
            }
        );
    }

    #[test]
    fn empty_deletes_everything_and_starts_a_new_file() {
        let mut s = State::new(cfg(90, 100));
        for _ in 0..7 {
            put(&mut s);
        }
        s.finish_read(read_at(&s), 30).unwrap();
        s.synced();
        assert_eq!(
            s.empty(),
            vec![
                Effect::Roll(Roll {
                    from: 2,
                    to: 3,
                    sync: false
                }),
                Effect::DeleteRange { first: 0, last: 2 },
                Effect::DeleteMeta,
            ]
        );
        assert_eq!(
            s.meta(),
            Meta {
                depth: 0,
                read_file_num: 3,
                read_pos: 0,
                write_file_num: 3,
                write_pos: 0
            }
        );
        assert!(s.sync_due());
        assert_eq!(s.next_read(), ReadStep::Idle);
        assert_eq!(s.begin_append(26).unwrap().at, pos(3, 0));
    }

    #[test]
    fn sync_bookkeeping() {
        let mut s = State::new(cfg(1000, 3));
        assert!(!s.sync_due());
        s.sync_timer();
        assert!(!s.sync_due(), "no activity, no sync");
        put(&mut s);
        put(&mut s);
        assert!(!s.sync_due());
        let _ = s.begin_append(1); // refused writes count too
        assert!(s.sync_due());
        s.synced();
        assert!(!s.sync_due());
        s.finish_read(read_at(&s), 30).unwrap();
        assert!(!s.sync_due());
        s.sync_timer();
        assert!(s.sync_due());
        s.sync_failed();
        assert!(s.sync_due());
        s.synced();
        assert!(!s.sync_due());
    }

    #[test]
    fn meta_round_trips_through_open() {
        let mut s = State::new(cfg(90, 100));
        for _ in 0..5 {
            put(&mut s);
        }
        s.finish_read(read_at(&s), 30).unwrap();
        let (t, fx) = State::open(cfg(90, 100), &s.meta(), Some(s.write_position().pos)).unwrap();
        assert_eq!(fx, vec![]);
        assert_eq!(t.meta(), s.meta());
    }

    // ----- model test ------------------------------------------------

    #[derive(Debug, Clone)]
    enum Op {
        Append(usize),
        AppendBad,
        PreRead,
        Take,
        Empty,
        Timer,
        Crash,
        Corrupt,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            8 => (26usize..120).prop_map(Op::Append),
            1 => Just(Op::AppendBad),
            5 => Just(Op::PreRead),
            5 => Just(Op::Take),
            1 => Just(Op::Empty),
            1 => Just(Op::Timer),
            1 => Just(Op::Crash),
            1 => Just(Op::Corrupt),
        ]
    }

    /// A minimal I/O layer over an in-memory directory, checked against a
    /// `VecDeque` of the records that must come out, in order.
    struct Harness {
        cfg: Config,
        state: State,
        files: BTreeMap<u64, Vec<u8>>,
        bad: Vec<(u64, Vec<u8>)>,
        meta_file: Option<Meta>,
        expected: VecDeque<u64>,
        loc: HashMap<u64, Position>,
        exact_depth: bool,
        pending: Option<(ReadAt, u64, u64)>,
        next_id: u64,
    }

    impl Harness {
        fn new(cfg: Config) -> Harness {
            Harness {
                cfg,
                state: State::new(cfg),
                files: BTreeMap::new(),
                bad: Vec::new(),
                meta_file: None,
                expected: VecDeque::new(),
                loc: HashMap::new(),
                exact_depth: true,
                pending: None,
                next_id: 0,
            }
        }

        fn in_files(&self, first: u64, last: u64) -> bool {
            self.expected
                .iter()
                .any(|id| (first..=last).contains(&self.loc[id].file_num))
        }

        fn apply(&mut self, effects: Vec<Effect>) {
            for e in effects {
                match e {
                    Effect::Roll(r) => {
                        assert!(!r.sync && r.from < r.to);
                        assert!(
                            self.files.get(&r.to).is_none_or(Vec::is_empty),
                            "roll into a file with data"
                        );
                    }
                    Effect::Delete(n) => {
                        assert!(n < self.state.read_position().file_num);
                        assert!(
                            !self.in_files(n, n),
                            "deleted file {n} holds unread records"
                        );
                        assert!(self.files.remove(&n).is_some(), "deleted missing file {n}");
                    }
                    Effect::DeleteRange { first, last } => {
                        assert!(!self.in_files(first, last), "deleted unread records");
                        self.files.retain(|n, _| !(first..=last).contains(n));
                    }
                    Effect::RenameBad(n) => {
                        if let Some(f) = self.files.remove(&n) {
                            self.bad.push((n, f));
                        }
                        let loc = &self.loc;
                        self.expected.retain(|id| loc[id].file_num != n);
                        self.exact_depth = false;
                    }
                    Effect::DeleteMeta => self.meta_file = None,
                    Effect::Warn(Warning::DepthAtTail { .. }) => {
                        assert!(!self.exact_depth, "depth was exact but not 0 at the tail")
                    }
                    Effect::Warn(Warning::WriteFileLongerThanMeta { .. }) => {}
                    Effect::Warn(w @ Warning::ReadAheadOfWrite { .. }) => panic!("{w}"),
                }
            }
        }

        fn sync(&mut self) {
            self.meta_file = Some(self.state.meta());
            self.state.synced();
        }

        fn append(&mut self, len: usize) {
            let id = self.next_id;
            self.next_id += 1;
            let mut payload = id.to_be_bytes().to_vec();
            payload.resize(len, id as u8);
            let plan = self.state.begin_append(len).unwrap();
            assert_eq!(plan.size, 4 + len as u64);
            match plan.roll {
                Some(roll) => {
                    assert!(roll.sync);
                    assert_eq!((roll.to, plan.at.pos), (plan.at.file_num, 0));
                    let old = self.files.get(&roll.from).map_or(0, |f| f.len() as u64);
                    assert!(old > 0 && old + plan.size > self.cfg.max_bytes_per_file);
                    self.sync();
                }
                None if plan.at.pos > 0 => {
                    assert!(plan.at.pos + plan.size <= self.cfg.max_bytes_per_file)
                }
                None => {}
            }
            let f = self.files.entry(plan.at.file_num).or_default();
            assert_eq!(
                f.len() as u64,
                plan.at.pos,
                "write not at the end of its file"
            );
            f.extend_from_slice(&plan.prefix);
            f.extend_from_slice(&payload);
            self.state.commit_append(&plan).unwrap();
            self.loc.insert(id, plan.at);
            self.expected.push_back(id);
        }

        fn pre_read(&mut self) {
            if self.pending.is_some() {
                return;
            }
            for _ in 0..10_000 {
                match self.state.next_read() {
                    ReadStep::Idle => return,
                    ReadStep::NeedFileSize { file_num } => match self.files.get(&file_num) {
                        Some(f) => assert!(self.state.set_read_file_end(file_num, f.len() as u64)),
                        None => {
                            let fx = self.state.corrupt();
                            self.apply(fx);
                        }
                    },
                    ReadStep::EndOfFile { .. } => {
                        let fx = self.state.end_of_file();
                        assert!(!fx.is_empty());
                        self.apply(fx);
                    }
                    ReadStep::Read(at) => {
                        let data = self
                            .files
                            .get(&at.file_num)
                            .and_then(|f| f.get(at.pos as usize..at.end as usize));
                        match data.map(|d| decode_record(d, &LIMITS)) {
                            Some(Ok(Decoded::Complete { value, consumed })) => {
                                let id = u64::from_be_bytes(value[..8].try_into().unwrap());
                                self.pending = Some((at, id, consumed as u64));
                                return;
                            }
                            _ => {
                                let fx = self.state.corrupt();
                                self.apply(fx);
                            }
                        }
                    }
                }
            }
            panic!("reader does not settle");
        }

        fn take(&mut self) {
            if let Some((at, id, consumed)) = self.pending.take() {
                let fx = self
                    .state
                    .finish_read(at, consumed)
                    .expect("a held record is never stale here");
                assert_eq!(self.expected.pop_front(), Some(id), "out of order");
                self.apply(fx);
            }
        }

        fn crash(&mut self) {
            self.pending = None;
            let meta = self.meta_file.unwrap_or_default();
            let size = self
                .files
                .get(&(meta.write_file_num as u64))
                .map(|f| f.len() as u64);
            let (state, fx) = State::open(self.cfg, &meta, size).unwrap();
            self.state = state;
            // What must come out now: every record on disk from the
            // persisted read position on (duplicates included), up to the
            // first undecodable record of each file.
            let start = pos(meta.read_file_num as u64, meta.read_pos as u64);
            assert!(
                self.files.range(..start.file_num).next().is_none(),
                "orphaned files"
            );
            self.expected.clear();
            for (&n, f) in self.files.range(start.file_num..) {
                let mut p = if n == start.file_num {
                    start.pos as usize
                } else {
                    0
                };
                while let Some(Ok(Decoded::Complete { value, consumed })) =
                    f.get(p..).map(|d| decode_record(d, &LIMITS))
                {
                    self.expected
                        .push_back(u64::from_be_bytes(value[..8].try_into().unwrap()));
                    p += consumed;
                }
            }
            self.exact_depth = false;
            self.apply(fx);
        }

        fn step(&mut self, op: &Op) {
            match *op {
                Op::Append(len) => self.append(len),
                Op::AppendBad => {
                    let before = (
                        self.state.read_position(),
                        self.state.write_position(),
                        self.state.depth(),
                    );
                    assert!(self.state.begin_append(25).is_err());
                    assert!(self.state.begin_append(201).is_err());
                    assert_eq!(
                        before,
                        (
                            self.state.read_position(),
                            self.state.write_position(),
                            self.state.depth()
                        )
                    );
                }
                Op::PreRead => self.pre_read(),
                Op::Take => self.take(),
                Op::Empty => {
                    self.pending = None;
                    self.expected.clear();
                    let fx = self.state.empty();
                    self.apply(fx);
                    assert!(self.files.is_empty(), "empty left data files");
                    assert_eq!(self.meta_file, None);
                    self.exact_depth = true;
                }
                Op::Timer => self.state.sync_timer(),
                Op::Crash => self.crash(),
                Op::Corrupt => {
                    if self.pending.is_none() {
                        if let ReadStep::Read(at) = self.state.next_read() {
                            if let Some(f) = self.files.get_mut(&at.file_num) {
                                f[at.pos as usize..at.pos as usize + 4].copy_from_slice(&[0xff; 4]);
                            }
                        }
                    }
                }
            }
            if self.state.sync_due() {
                self.sync();
            }
            self.check();
        }

        fn check(&mut self) {
            let s = &self.state;
            assert!(s.read_position() <= s.write_position());
            if self.exact_depth {
                assert_eq!(s.depth(), self.expected.len() as i64, "depth");
            }
            if !s.has_data() {
                assert!(self.pending.is_none());
                assert!(
                    self.expected.is_empty(),
                    "records left behind: {:?}",
                    self.expected
                );
                assert_eq!(s.depth(), 0);
                self.exact_depth = true;
            }
        }

        fn drain(&mut self) {
            for _ in 0..100_000 {
                self.pre_read();
                if self.pending.is_none() {
                    break;
                }
                self.take();
                if self.state.sync_due() {
                    self.sync();
                }
                self.check();
            }
            let s = &self.state;
            assert!(!s.has_data());
            assert!(self.expected.is_empty());
            assert_eq!(s.depth(), 0);
            let w = s.write_position().file_num;
            assert!(
                self.files.keys().all(|&n| n == w),
                "files left: {:?} (write file {w})",
                self.files.keys().collect::<Vec<_>>()
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]
        #[test]
        fn state_machine_matches_a_fifo(
            max_bytes_per_file in 40u64..400,
            sync_every in 1u64..6,
            ops in proptest::collection::vec(op(), 0..200),
        ) {
            let mut h = Harness::new(cfg(max_bytes_per_file, sync_every));
            for op in &ops {
                h.step(op);
            }
            h.drain();
        }
    }
}
