//! go-diskqueue v1.1.0 compatible disk queues on glommio: the queue files
//! of a Go nsqd 1.3.0 data directory, byte for byte, in both directions
//! (docs/data-directory.md). A crate of its own, as NSQ keeps go-diskqueue
//! apart from nsqd: it knows records, not messages, and nothing of the
//! broker (it needs only `nsq-protocol`'s decoder result type, glommio,
//! bytes and libc).
//!
//! * [`format`](mod@format): file names, the record codec, the `.meta.dat`
//!   text, the deferrals file.
//! * [`state`]: one queue's positions as a pure state machine (no I/O, no
//!   async, no clock) returning the [`state::Effect`]s (roll, delete,
//!   rename `.bad`, ...) an I/O layer carries out.
//! * [`DiskQueue`] (`queue`): the I/O layer on a glommio executor, one file
//!   per concern: `open`, `write` (with `append`: whether an append is an
//!   inline `pwrite` or an io_uring write), `read`, `sync_behind`,
//!   `deferrals`; `files` holds the whole-file helpers.
//! * [`QueueConfig`], [`QueueError`], [`QueueEvent`]: its parameters,
//!   errors and the events it reports for its owner to log.
//! * [`DirScan`]: one listing of a data directory (and its metadata files)
//!   for every queue opened at startup ([`DiskQueue::open_scanned`]).
//!
//! nsqd's own `nsqd.dat` (the list of topics and channels) is not a disk
//! queue file: the broker's data-directory module keeps it.
//!
//! # Files in `--data-path`
//!
//! ```text
//! nsqd.dat                                  topics, channels, paused flags         (the broker's)
//! <queue>.diskqueue.meta.dat                depth + read and write positions       format::encode_meta
//! <queue>.diskqueue.000000.dat              records, rolled at max-bytes-per-file  format::data_file_name
//! <queue>.diskqueue.000001.dat.bad          a corrupt file, left for the operator  format::bad_file_name
//! <file>.<random>.tmp                       metadata being written (then renamed)
//! <queue>.deferred.dat                      due times of deferred messages (ours; Go ignores it)
//!
//! <queue> = <topic>  or  <topic>:<channel>      (none for #ephemeral topics/channels)
//! ```
//!
//! # A data file
//!
//! ```text
//! offset 0                                                         file size ≤ max-bytes-per-file
//! ┌────────────┬─────────────────────┬────────────┬──────────────  ─ ─   (unless one record is larger)
//! │ len: 4 B   │ payload: len bytes  │ len: 4 B   │ payload ...
//! └────────────┴─────────────────────┴────────────┴──────────────  ─ ─
//!   big-endian int32, no file header, no footer, no checksum;
//!   nsqd: 26 ≤ len ≤ max-msg-size + 26
//!
//! nsqd payload (docs/protocol.md#message-format, nsq_protocol::MessageHeader):
//! ┌──────────────────────┬──────────────────┬───────────────────────┬──────────┐
//! │ timestamp ns: i64 BE │ attempts: u16 BE │ ID: 16 ASCII hex bytes │ body ... │
//! └──────────────────────┴──────────────────┴───────────────────────┴──────────┘
//! ```
//!
//! # A queue
//!
//! ```text
//!   000003.dat (finished)     000004.dat (finished)     000005.dat (write file)
//!   [ deleted ][....R ─────]  [──────────────────────]  [─────────W          ]
//!                   ▲ readFileNum=3, readPos                      ▲ writeFileNum=5, writePos
//!   depth = records from R to W;  files before R's are deleted as the reader leaves them
//!
//! <queue>.diskqueue.meta.dat, three lines (Go's "%d\n%d,%d\n%d,%d\n"):
//!   600\n          depth
//!   0,0\n          readFileNum,readPos
//!   9,35161\n      writeFileNum,writePos
//! ```
//!
//! What a real Go nsqd 1.3.0 directory looks like (the fixture in
//! `test-support/fixtures/go-nsqd-1.3.0-datadir`, checked by the tests
//! here): every finished file is shorter than 64 KiB by less than the next
//! record (the roll happens before a record that would not fit); a fully
//! read queue keeps its last file, with both positions at its end and
//! depth 0 (`fixture`: `0\n4,30713\n4,30713\n`, files 0-3 deleted); the
//! records are messages with `attempts` 0, in flush order rather than
//! publish order.

mod append;
mod config;
mod error;
mod files;
pub mod format;
mod queue;
mod scan;
pub mod state;

pub use config::QueueConfig;
pub use error::{CorruptReason, IoOp, QueueError, QueueEvent};
pub use queue::{DiskQueue, READ_CHUNK};
pub use scan::{DirScan, QueueFiles};

#[cfg(test)]
mod fixture_tests;
