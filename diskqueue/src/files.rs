//! Whole-file helpers over glommio's io_uring files: small reads, atomic
//! replacement (temporary file, fdatasync, rename), removal.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::time::Instant;

use glommio::io::{BufferedFile, OpenOptions};
use glommio::GlommioError;

use crate::append;
use crate::error::{io_error, IoOp, QueueError};

/// Mode of data and metadata files (Go: 0600).
pub(crate) const FILE_MODE: libc::mode_t = 0o600;

/// A non-negative 63-bit random number (Go's `rand.Int()`), for temporary
/// file names.
pub(crate) fn random_u63() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() >> 1
}

/// Write `bytes` to `tmp_path`, fdatasync, close, and rename it over
/// `path` (the metadata and the deferrals file).
pub(crate) async fn write_atomically(
    tmp_path: &Path,
    path: &Path,
    bytes: Vec<u8>,
) -> Result<(), QueueError> {
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
pub(crate) async fn read_whole_file(path: &Path) -> Result<Vec<u8>, QueueError> {
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

pub(crate) async fn remove(path: &Path) -> Result<(), QueueError> {
    glommio::io::remove(path)
        .await
        .map_err(|e| io_error(IoOp::Remove, path, e))
}

/// The first 4 KiB of a small file (the metadata).
pub(crate) async fn read_small_file(path: &Path) -> Result<Vec<u8>, QueueError> {
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

pub(crate) async fn file_size(path: &Path) -> Result<u64, QueueError> {
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
pub(crate) async fn write_fully(
    file: &BufferedFile,
    pos: u64,
    buf: Vec<u8>,
) -> Result<(), GlommioError<()>> {
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
