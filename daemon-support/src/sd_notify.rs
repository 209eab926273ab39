//! systemd readiness for `Type=notify` units: `READY=1` sent as one
//! datagram to the socket named by `$NOTIFY_SOCKET` (a path, or `@name` for
//! the abstract namespace), once the daemon accepts connections. Without
//! `$NOTIFY_SOCKET` (not started by systemd, or another unit type) nothing
//! is sent. The protocol is a plain datagram, so no library is needed.

use std::ffi::OsStr;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;

/// The environment variable systemd sets for `Type=notify` services.
pub const NOTIFY_SOCKET: &str = "NOTIFY_SOCKET";

/// Tell the service manager the daemon is ready: listeners are accepting
/// and its data is loaded. `Ok(false)` when there is no manager to tell.
pub fn notify_ready() -> io::Result<bool> {
    match std::env::var_os(NOTIFY_SOCKET) {
        Some(socket) if !socket.is_empty() => send_state(&socket, "READY=1\n").map(|()| true),
        _ => Ok(false),
    }
}

/// Send one state datagram (`KEY=value` lines) to `socket`.
pub fn send_state(socket: &OsStr, state: &str) -> io::Result<()> {
    let sock = UnixDatagram::unbound()?;
    let bytes = socket.as_bytes();
    if let Some(name) = bytes.strip_prefix(b"@") {
        use std::os::linux::net::SocketAddrExt;
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
        sock.send_to_addr(state.as_bytes(), &addr)?;
    } else {
        sock.send_to(state.as_bytes(), socket)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn received(sock: &UnixDatagram) -> String {
        sock.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 256];
        let n = sock.recv(&mut buf).unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    #[test]
    fn a_path_socket_gets_the_state() {
        let dir = nsq_test_support::TempDir::new("nsq-sd-notify");
        let path = dir.path().join("notify.sock");
        let sock = UnixDatagram::bind(&path).unwrap();
        send_state(path.as_os_str(), "READY=1\n").unwrap();
        assert_eq!(received(&sock), "READY=1\n");
    }

    #[test]
    fn an_abstract_socket_gets_the_state() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("nsq-sd-notify-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let sock = UnixDatagram::bind_addr(&addr).unwrap();
        send_state(OsStr::new(&format!("@{name}")), "READY=1\n").unwrap();
        assert_eq!(received(&sock), "READY=1\n");
    }

    #[test]
    fn a_missing_socket_is_an_error() {
        let dir = nsq_test_support::TempDir::new("nsq-sd-notify");
        let path = dir.path().join("nobody.sock");
        assert!(send_state(path.as_os_str(), "READY=1\n").is_err());
    }
}
