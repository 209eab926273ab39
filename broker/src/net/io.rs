//! Socket I/O helpers over a glommio [`TcpStream`] shared by a connection's
//! reader and writer tasks. The `RefCell` is borrowed only inside each
//! `poll_*` call, never across an `.await`; glommio keeps separate read and
//! write readiness sources, so the two tasks do not disturb each other.
//!
//! glommio 0.9 has no working vectored write, so the writer always hands one
//! contiguous buffer to [`write_all`].

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::rc::Rc;

use bytes::BytesMut;
use futures_lite::future::poll_fn;
use futures_lite::{AsyncRead, AsyncWrite};
use glommio::net::TcpStream;

/// The stream, shared by the connection's tasks.
pub type SharedStream = Rc<RefCell<TcpStream>>;

/// Read once into the shard's scratch buffer and append what arrived to
/// `input`. Returns the byte count (0 = EOF). The scratch buffer is borrowed
/// only during each poll, so one per shard serves every connection.
pub async fn read_into(
    stream: &SharedStream,
    scratch: &RefCell<Vec<u8>>,
    input: &mut BytesMut,
) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut scratch = scratch.borrow_mut();
        let mut stream = stream.borrow_mut();
        match Pin::new(&mut *stream).poll_read(cx, &mut scratch[..]) {
            std::task::Poll::Ready(Ok(n)) => {
                input.extend_from_slice(&scratch[..n]);
                std::task::Poll::Ready(Ok(n))
            }
            other => other,
        }
    })
    .await
}

/// Write all of `buf`.
pub async fn write_all(stream: &SharedStream, buf: &[u8]) -> io::Result<()> {
    let mut written = 0;
    while written < buf.len() {
        let n = poll_fn(|cx| Pin::new(&mut *stream.borrow_mut()).poll_write(cx, &buf[written..]))
            .await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        written += n;
    }
    Ok(())
}
