//! Read and write buffers lent to connections while they have bytes to
//! hold, from a pool of the shard (one per executor thread): an idle
//! connection holds none, so tens of thousands of idle consumers cost a
//! few KiB each, and a busy one takes and returns them with a pointer move
//! (no allocation per message once the pool is warm).
//!
//! A connection gives its input buffer back when it has consumed every
//! byte and waits for the socket, and its two output buffers when the
//! writer has sent everything and waits for more. Buffers that grew large
//! (a big MPUB, a burst of deliveries) are dropped instead of pooled, and
//! the pool keeps at most [`MAX_POOLED`] of each kind.

use std::cell::RefCell;

use bytes::BytesMut;

/// Capacity of a new buffer.
pub(crate) const BUFFER: usize = 4096;
/// Buffers larger than this are freed, not pooled.
const MAX_KEPT: usize = 64 * 1024;
/// Buffers smaller than this are not worth pooling (the tail of an input
/// buffer whose head became message bodies).
const MIN_KEPT: usize = 1024;
/// Pooled buffers of each kind per shard (4 MiB each at most, plus what
/// grew up to [`MAX_KEPT`]).
const MAX_POOLED: usize = 1024;

#[derive(Default)]
struct Pool {
    input: Vec<BytesMut>,
    output: Vec<Vec<u8>>,
}

thread_local! {
    static POOL: RefCell<Pool> = RefCell::new(Pool::default());
}

/// An empty input buffer with room for a read.
pub(crate) fn take_input() -> BytesMut {
    POOL.with(|p| p.borrow_mut().input.pop())
        .unwrap_or_else(|| BytesMut::with_capacity(BUFFER))
}

/// Give back an input buffer that holds no unread byte.
pub(crate) fn give_input(mut buf: BytesMut) {
    debug_assert!(buf.is_empty());
    buf.clear();
    if (MIN_KEPT..=MAX_KEPT).contains(&buf.capacity()) {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.input.len() < MAX_POOLED {
                p.input.push(buf);
            }
        });
    }
}

/// An empty output buffer.
pub(crate) fn take_output() -> Vec<u8> {
    POOL.with(|p| p.borrow_mut().output.pop())
        .unwrap_or_else(|| Vec::with_capacity(BUFFER))
}

/// Give back an output buffer (its bytes are discarded).
pub(crate) fn give_output(mut buf: Vec<u8>) {
    buf.clear();
    if (MIN_KEPT..=MAX_KEPT).contains(&buf.capacity()) {
        POOL.with(|p| {
            let mut p = p.borrow_mut();
            if p.output.len() < MAX_POOLED {
                p.output.push(buf);
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_and_large_ones_do_not() {
        let b = take_output();
        let at = b.as_ptr();
        give_output(b);
        let again = take_output();
        assert_eq!(again.as_ptr(), at, "the pooled buffer is lent again");
        give_output(again);
        give_output(Vec::with_capacity(MAX_KEPT * 2));
        assert!(take_output().capacity() <= MAX_KEPT);

        let mut i = take_input();
        i.extend_from_slice(b"PUB t\n");
        let _body = i.split_to(6).freeze();
        give_input(i);
        assert!(take_input().capacity() >= MIN_KEPT);
    }
}
