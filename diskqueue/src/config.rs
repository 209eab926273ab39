//! A queue's parameters: nsqd's `--max-bytes-per-file`, `--sync-every`,
//! `--sync-timeout`, and the record bounds from `--max-msg-size`.

use std::time::Duration;

use crate::format::RecordLimits;
use crate::state::Config;

/// A queue's parameters.
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
    /// (through [`DiskQueue::maybe_sync`](crate::DiskQueue::maybe_sync)).
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

    pub(crate) fn limits(&self) -> RecordLimits {
        RecordLimits {
            min: self.min_msg_size,
            max: self.max_msg_size.min(i32::MAX as u32),
        }
    }

    pub(crate) fn state_config(&self) -> Config {
        Config {
            max_bytes_per_file: self.max_bytes_per_file,
            limits: self.limits(),
            sync_every: self.sync_every,
        }
    }
}
