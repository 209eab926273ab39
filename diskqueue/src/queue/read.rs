//! Reading records back: one chunk of up to [`READ_CHUNK`] bytes per read
//! call, records sliced out of it, finished and corrupt files passed on
//! the way.

use std::rc::Rc;

use bytes::Bytes;
use glommio::io::{BufferedFile, OpenOptions};
use nsq_protocol::Decoded;

use super::{Chunk, DiskQueue, Handle, Peeked};
use crate::error::{io_error, transient, CorruptReason, IoOp, QueueError};
use crate::format::{decode_record, BadRecordLength, RecordLimits, RECORD_LEN_PREFIX};
use crate::state::{Position, ReadAt, ReadStep};

/// Bytes asked for per read call (more when a single record is larger).
pub const READ_CHUNK: usize = 64 * 1024;

impl DiskQueue {
    /// The next record, without consuming it: the same one until
    /// [`DiskQueue::advance`](crate::DiskQueue::advance). `None` when the reader is at the writer.
    ///
    /// Moves past finished files (deleting them) and past corrupt ones
    /// (renamed `.bad`, with a [`QueueEvent::Corrupt`](crate::QueueEvent::Corrupt)) on the way; a
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

    /// Consume the record [`DiskQueue::peek`](crate::DiskQueue::peek) returned: the read position
    /// and depth advance, a finished file is deleted, and a sync that
    /// became due (`sync_every`, a new read file) is done.
    pub async fn advance(&mut self) -> Result<(), QueueError> {
        self.advance_batched().await?;
        self.sync_if_due().await
    }

    /// [`DiskQueue::advance`](crate::DiskQueue::advance) without the sync it may make due: for a
    /// reader that consumes a batch of records and then calls
    /// [`DiskQueue::sync_if_due`](crate::DiskQueue::sync_if_due) once (with `--sync-every=1`, one fsync
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

    /// Where the record [`DiskQueue::peek`](crate::DiskQueue::peek) returned starts.
    pub fn peeked_at(&self) -> Option<Position> {
        self.peeked.as_ref().map(|p| Position {
            file_num: p.at.file_num,
            pos: p.at.pos,
        })
    }

    pub(super) async fn close_reader(&mut self) {
        if let Some(r) = self.reader.take() {
            self.close_handle(r).await;
        }
    }

    /// The read handle on `file_num`, opened if needed.
    pub(super) async fn reader(&mut self, file_num: u64) -> Result<&BufferedFile, QueueError> {
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

    pub(super) async fn read_file_size(&mut self, file_num: u64) -> Result<u64, QueueError> {
        let path = self.data_path(file_num);
        self.reader(file_num)
            .await?
            .file_size()
            .await
            .map_err(|e| io_error(IoOp::Stat, &path, e))
    }

    /// Decode the record at `at` from the chunk, reading a new chunk at
    /// `at.pos` when the record is not all in it.
    pub(super) async fn read_record(&mut self, at: ReadAt) -> Result<(Bytes, u64), CorruptReason> {
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
    pub(super) async fn read_at(
        &mut self,
        file_num: u64,
        pos: u64,
        size: u64,
    ) -> Result<Bytes, QueueError> {
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
