//! The connection of one request: dialing `host:port` (every address it
//! resolves to, in turn, as Go's dialer), the TLS server name of a host, and
//! the plain-or-TLS stream the exchange reads and writes.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, StreamOwned};

use crate::error::{BadServerName, DialError};

/// Connect to `addr` (`host:port`), trying each address it resolves to with
/// `timeout` (zero: the system's own bound); the last error if none answers.
pub fn dial(addr: &str, timeout: Duration) -> Result<TcpStream, DialError> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|source| DialError {
            context: format!("resolve {addr}"),
            source,
            resolved: false,
        })?
        .collect();
    let mut last = None;
    for a in addrs {
        let attempt = if timeout.is_zero() {
            TcpStream::connect(a)
        } else {
            TcpStream::connect_timeout(&a, timeout)
        };
        match attempt {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(DialError {
        context: format!("dial tcp {addr}"),
        resolved: last.is_some(),
        source: last.unwrap_or_else(|| io::Error::other("no address")),
    })
}

/// The TLS server name of `addr` (`host:port`, `[v6]:port` or a bare host).
pub fn server_name(addr: &str) -> Result<ServerName<'static>, BadServerName> {
    let host = match addr.rsplit_once(':') {
        Some((h, _)) => h,
        None => addr,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_string()).map_err(|e| BadServerName {
        host: host.to_string(),
        reason: e.to_string(),
    })
}

/// Encrypt `plain` into `wire` (TLS records, after whatever records the
/// session had queued), for callers that own their socket writes: nsqd's
/// and the tools' TLS upgrades of V2 connections.
pub fn tls_encrypt<D>(
    tls: &mut rustls::ConnectionCommon<D>,
    mut plain: &[u8],
    wire: &mut Vec<u8>,
) -> io::Result<()> {
    loop {
        let n = tls.writer().write(plain)?;
        plain = &plain[n..];
        while tls.wants_write() {
            tls.write_tls(wire)?;
        }
        if plain.is_empty() {
            return Ok(());
        }
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
    }
}

/// The connection of one request.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    /// The socket under it (for its timeouts).
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            // A server that closes without close_notify ends the body.
            Stream::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_names() {
        assert!(server_name("example.com:443").is_ok());
        assert!(server_name("[::1]:4151").is_ok());
        assert!(server_name("127.0.0.1").is_ok());
        let e = server_name("bad name:1").unwrap_err();
        assert!(
            e.to_string().starts_with("TLS server name \"bad name\""),
            "{e}"
        );
    }

    #[test]
    fn dial_names_what_failed() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        drop(l);
        let e = dial(&addr, Duration::from_secs(5)).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("dial tcp {addr}: ")),
            "{e}"
        );
    }
}
