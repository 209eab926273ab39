//! How a batch of records reaches the page cache: an inline `pwrite` on
//! the shard's own thread, or glommio's io_uring `write_at`.
//!
//! ext4 (like most file systems) cannot do a buffered write without
//! blocking, so io_uring hands every `write_at` of a [`BufferedFile`] to
//! one of its kernel worker threads (`iou-wrk-*`): the shard wakes the
//! worker, the worker copies the bytes into the page cache and wakes the
//! shard again. A closed-loop producer waits for that round trip on every
//! batch (its OK is sent once the records are written, as go-diskqueue
//! answers after its `write`), and on this 2-vCPU VM the two cross-core
//! wake-ups cost more than the copy: `--mem-queue-size=0` PUB went from
//! 0.80M to 0.98M msg/s and from 1.2 to 0.9 CPU-µs per message with the
//! write done inline (`scripts/bench-compare.sh -m pub -f
//! --mem-queue-size=0`).
//!
//! A write into the page cache normally takes microseconds, but it can
//! block: dirty-page throttling when the disk falls behind, reclaim when
//! memory is short, a slow or network file system. The shard must not
//! stall for everyone else then, so the inline path is guarded per shard
//! ([`InlinePolicy`]): batches over [`INLINE_MAX`] always go through
//! io_uring, and one inline write that took longer than [`slow_after`]
//! its size sends every write of the shard through io_uring for
//! [`COOL_OFF`]. A stalled page cache then blocks a shard at most once per
//! cool-off, for one write. fsync stays on io_uring (it is the slow part).
//!
//! Pure policy plus one blocking helper; the caller is
//! [`crate::DiskQueue`] (`queue::write`, through `files::write_fully`).
//!
//! [`BufferedFile`]: glommio::io::BufferedFile

use std::cell::Cell;
use std::io;
use std::os::fd::RawFd;
use std::time::{Duration, Instant};

/// Larger batches are always written through io_uring.
pub const INLINE_MAX: usize = 256 << 10;

/// How long the inline path stays off after one slow inline write.
pub const COOL_OFF: Duration = Duration::from_secs(1);

/// An inline write of `len` bytes is slow when it took longer than this:
/// 1 ms plus the time to copy it at 64 MiB/s (the page cache here takes
/// 0.3-6 GB/s; a throttled writer pauses for 10 ms and more).
pub fn slow_after(len: usize) -> Duration {
    Duration::from_millis(1)
        + Duration::from_nanos((len as u64).saturating_mul(1_000_000_000) >> 26)
}

/// Whether the next append may be written inline.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct InlinePolicy {
    /// Inline writes are off until then (after a slow one).
    off_until: Option<Instant>,
}

impl InlinePolicy {
    /// May `len` bytes be written inline at `now`?
    pub fn allows(&self, len: usize, now: Instant) -> bool {
        len <= INLINE_MAX && self.off_until.is_none_or(|until| now >= until)
    }

    /// An inline write of `len` bytes began at `began` and ended at `ended`.
    pub fn record(&mut self, len: usize, began: Instant, ended: Instant) {
        if ended.saturating_duration_since(began) > slow_after(len) {
            self.off_until = Some(ended + COOL_OFF);
        } else if self.off_until.is_some_and(|until| ended >= until) {
            self.off_until = None;
        }
    }
}

thread_local! {
    /// One policy per shard (a shard is a thread): a stalled page cache
    /// turns inline writes off for every queue of the shard at once.
    static SHARD_POLICY: Cell<InlinePolicy> = Cell::new(InlinePolicy::default());
}

/// May this shard write `len` bytes inline now?
pub fn shard_allows(len: usize, now: Instant) -> bool {
    SHARD_POLICY.with(|p| p.get().allows(len, now))
}

/// Record an inline write of this shard.
pub fn shard_record(len: usize, began: Instant, ended: Instant) {
    SHARD_POLICY.with(|p| {
        let mut policy = p.get();
        policy.record(len, began, ended);
        p.set(policy);
    });
}

/// `pwrite` all of `buf` at `pos`, continuing short writes and retrying
/// on EINTR. Blocks the calling thread.
pub fn pwrite_all(fd: RawFd, mut pos: u64, mut buf: &[u8]) -> io::Result<()> {
    while !buf.is_empty() {
        let offset = libc::off_t::try_from(pos)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "file offset too large"))?;
        // SAFETY: `buf` is a live slice of `buf.len()` readable bytes; the
        // kernel only reads from it.
        let n = unsafe { libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), offset) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("short write: 0 of {} bytes", buf.len()),
            ));
        }
        let n = n as usize; // 0 < n <= buf.len()
        buf = &buf[n..];
        pos += n as u64;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn small_writes_go_inline_and_large_ones_never_do() {
        let p = InlinePolicy::default();
        let now = Instant::now();
        assert!(p.allows(0, now));
        assert!(p.allows(INLINE_MAX, now));
        assert!(!p.allows(INLINE_MAX + 1, now));
    }

    #[test]
    fn one_slow_write_turns_inline_off_for_the_cool_off() {
        let mut p = InlinePolicy::default();
        let t0 = Instant::now();
        let len = 100_000;
        // Fast: stays on.
        p.record(len, t0, t0 + Duration::from_micros(200));
        assert!(p.allows(len, t0 + Duration::from_millis(1)));
        // Slow: off for COOL_OFF after its end.
        let end = t0 + Duration::from_millis(2) + slow_after(len) + Duration::from_micros(1);
        p.record(len, t0 + Duration::from_millis(2), end);
        assert!(!p.allows(1, end));
        assert!(!p.allows(1, end + COOL_OFF - Duration::from_millis(1)));
        assert!(p.allows(1, end + COOL_OFF));
        // The next fast write after the cool-off clears it.
        let later = end + COOL_OFF + Duration::from_millis(5);
        p.record(1, later, later + Duration::from_micros(10));
        assert_eq!(p, InlinePolicy::default());
    }

    #[test]
    fn slowness_scales_with_the_size() {
        assert_eq!(slow_after(0), Duration::from_millis(1));
        // 64 MiB takes a second at 64 MiB/s.
        assert_eq!(slow_after(64 << 20), Duration::from_millis(1001));
        assert!(slow_after(INLINE_MAX) < Duration::from_millis(6));
        // No overflow on absurd sizes.
        assert!(slow_after(usize::MAX) > Duration::from_secs(1));
    }

    #[test]
    fn the_shard_policy_is_per_thread() {
        let t0 = Instant::now();
        let end = t0 + Duration::from_secs(1);
        shard_record(10, t0, end);
        assert!(!shard_allows(10, end));
        std::thread::spawn(move || assert!(shard_allows(10, end)))
            .join()
            .unwrap();
    }

    #[test]
    fn pwrite_all_writes_at_the_offset() {
        let dir = std::env::temp_dir().join(format!("nsqd-append-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f");
        let file = std::fs::File::create(&path).unwrap();
        pwrite_all(file.as_raw_fd(), 0, b"hello ").unwrap();
        pwrite_all(file.as_raw_fd(), 6, b"world").unwrap();
        pwrite_all(file.as_raw_fd(), 11, b"").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello world");
        let e = pwrite_all(-1, 0, b"x").unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EBADF));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
