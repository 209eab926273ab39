//! What can go wrong in a [`DiskQueue`](crate::DiskQueue): the errors its
//! operations return, and the events it reports after dealing with a
//! problem itself (a corrupt record, a failed removal).

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use glommio::GlommioError;

use crate::format::{BadRecordLength, MetaParseError};
use crate::state::{NegativeMeta, Warning};

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

/// Why a [`DiskQueue`](crate::DiskQueue) operation failed.
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
        /// Index in the batch (0 for [`DiskQueue::put`](crate::DiskQueue::put)).
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
    /// [`DiskQueue::advance`](crate::DiskQueue::advance) without a record from [`DiskQueue::peek`](crate::DiskQueue::peek)
    /// (none peeked, or it was dropped by [`DiskQueue::empty`](crate::DiskQueue::empty)).
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
pub(crate) fn os_error(e: GlommioError<()>) -> io::Error {
    match e {
        GlommioError::IoError(e) | GlommioError::EnhancedIoError { source: e, .. } => e,
        other => io::Error::from(other),
    }
}

pub(crate) fn io_error(op: IoOp, path: &Path, e: GlommioError<()>) -> QueueError {
    QueueError::Io {
        op,
        path: path.to_path_buf(),
        source: os_error(e),
    }
}

/// An error that says nothing about the file itself (out of descriptors or
/// memory, interrupted): the read is tried again later instead of the file
/// being taken for corrupt and its records dropped.
pub(crate) fn transient(e: &QueueError) -> bool {
    matches!(e, QueueError::Io { source, .. } if matches!(
        source.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::EAGAIN | libc::EINTR)
    ))
}

pub(crate) fn not_found(e: &QueueError) -> bool {
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
