//! Listening sockets as the daemons want them: no SO_REUSEPORT (a port in
//! use is a clear startup error), non-blocking, and a long accept queue.

use std::net::SocketAddr;
use std::os::fd::{IntoRawFd, RawFd};

/// Accept queue length asked for (capped by `net.core.somaxconn`).
pub const LISTEN_BACKLOG: i32 = 4096;

/// Bind a non-blocking listening socket on `addr`; its raw fd (the caller
/// owns it) and the address it is bound to.
pub fn listen(addr: SocketAddr) -> std::io::Result<(RawFd, SocketAddr)> {
    let listener = std::net::TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let fd = listener.into_raw_fd();
    // std listens with a backlog of 128: a burst of connections (clients or
    // hundreds of nsqd reconnecting after a restart) would see dropped SYNs
    // and 1 s retransmits. Go asks for somaxconn; so do we (the kernel caps
    // the value at net.core.somaxconn).
    // SAFETY: listen(2) again on the listening socket we own; it only
    // changes the backlog.
    unsafe {
        libc::listen(fd, LISTEN_BACKLOG);
    }
    Ok((fd, local))
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_port_in_use_is_an_error() {
        let (fd, local) = super::listen("127.0.0.1:0".parse().unwrap()).unwrap();
        assert_ne!(local.port(), 0);
        assert!(super::listen(local).is_err());
        // SAFETY: closing the fd we own.
        unsafe {
            libc::close(fd);
        }
    }
}
