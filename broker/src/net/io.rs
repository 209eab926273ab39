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

use crate::net::transport::Transport;

/// The stream, shared by the connection's tasks.
pub(crate) type SharedStream = Rc<RefCell<TcpStream>>;

/// Read once into the shard's scratch buffer and append what arrived to
/// `input`. Returns the byte count (0 = EOF). The scratch buffer is borrowed
/// only during each poll, so one per shard serves every connection.
pub(crate) async fn read_into(
    stream: &SharedStream,
    scratch: &RefCell<Vec<u8>>,
    input: &mut BytesMut,
) -> io::Result<usize> {
    read_with(stream, scratch, |raw| {
        if input.capacity() == 0 {
            *input = crate::net::buffers::take_input();
        }
        input.extend_from_slice(raw);
        Ok(())
    })
    .await
    .map(|(n, _)| n)
}

/// Read once into the scratch buffer and hand the bytes to `f` (not called
/// at EOF). Returns the byte count (0 = EOF) and `f`'s result.
pub(crate) async fn read_with<T>(
    stream: &SharedStream,
    scratch: &RefCell<Vec<u8>>,
    mut f: impl FnMut(&[u8]) -> io::Result<T>,
) -> io::Result<(usize, Option<T>)> {
    poll_fn(|cx| {
        let mut scratch = scratch.borrow_mut();
        let mut stream = stream.borrow_mut();
        match Pin::new(&mut *stream).poll_read(cx, &mut scratch[..]) {
            std::task::Poll::Ready(Ok(0)) => std::task::Poll::Ready(Ok((0, None))),
            std::task::Poll::Ready(Ok(n)) => {
                std::task::Poll::Ready(f(&scratch[..n]).map(|t| (n, Some(t))))
            }
            std::task::Poll::Ready(Err(e)) => std::task::Poll::Ready(Err(e)),
            std::task::Poll::Pending => std::task::Poll::Pending,
        }
    })
    .await
}

/// Read through a transport: decrypt/decompress into `input`. Returns the
/// raw byte count (0 = EOF or the peer's close_notify).
pub(crate) async fn read_transport(
    stream: &SharedStream,
    scratch: &RefCell<Vec<u8>>,
    transport: &RefCell<Option<Box<Transport>>>,
    input: &mut BytesMut,
) -> io::Result<usize> {
    let (n, eof) = read_with(stream, scratch, |raw| {
        if input.capacity() == 0 {
            *input = crate::net::buffers::take_input();
        }
        match transport.borrow_mut().as_mut() {
            Some(t) => t.decode(raw, input),
            None => {
                input.extend_from_slice(raw);
                Ok(false)
            }
        }
    })
    .await?;
    Ok(if eof == Some(true) { 0 } else { n })
}

/// Run a TLS server handshake on `stream` (the caller bounds its time).
/// On a failed handshake the alert rustls prepared is sent before the error
/// is returned. Returns the bytes read after the handshake completed
/// (application data the client sent right behind its Finished): the
/// caller decodes them through the session, after whatever plaintext the
/// session already decrypted.
pub(crate) async fn tls_handshake(
    stream: &SharedStream,
    scratch: &RefCell<Vec<u8>>,
    tls: &mut rustls::ServerConnection,
) -> io::Result<Vec<u8>> {
    let mut wire = Vec::new();
    let mut after = Vec::new();
    loop {
        while tls.wants_write() {
            wire.clear();
            tls.write_tls(&mut wire)?;
            write_all(stream, &wire).await?;
        }
        if !tls.is_handshaking() {
            return Ok(after);
        }
        let (n, result) = read_with(stream, scratch, |mut raw| {
            while !raw.is_empty() {
                tls.read_tls(&mut raw)?;
                if let Err(e) = tls.process_new_packets() {
                    return Ok(Some(e));
                }
                if !tls.is_handshaking() {
                    // The rest is application data: feeding it here could
                    // fill the session's plaintext buffer, which nobody
                    // drains until the handshake returns.
                    after.extend_from_slice(raw);
                    break;
                }
            }
            Ok(None)
        })
        .await?;
        if n == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        if let Some(Some(e)) = result {
            wire.clear();
            let _ = tls.write_tls(&mut wire);
            let _ = write_all(stream, &wire).await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, e));
        }
    }
}

/// Write all of `buf`.
pub(crate) async fn write_all(stream: &SharedStream, buf: &[u8]) -> io::Result<()> {
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
