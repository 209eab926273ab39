//! One nsqlookupd as nsqd sees it (docs/lookupd.md#announcements): a lazily
//! (re)connected TCP V1 connection. Plain blocking I/O with 1 s deadlines, run
//! only by the announcer thread, never by a shard.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use nsq_protocol::lookupd::{
    decode_response, IdentifyRequest, IdentifyResponse, LookupReply, LookupRequest, MAGIC_V1,
};
use nsq_protocol::Decoded;

/// Dial and per-command read/write deadline (NSQ: 1 s each).
const TIMEOUT: Duration = Duration::from_secs(1);

/// Why a command failed (the connection is closed after any of them).
#[derive(Debug)]
pub(crate) enum PeerError {
    /// Dial, read or write failed.
    Io(std::io::Error),
    /// The response was larger than `--max-body-size`.
    TooLarge(u32),
    /// lookupd answered an error (`E_...`).
    Refused(String),
    /// The IDENTIFY reply was not the expected JSON.
    BadReply,
    /// Not dialed: the last dial failed less than a second ago.
    Backoff,
}

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PeerError::Io(e) => write!(f, "{e}"),
            PeerError::TooLarge(n) => write!(f, "response of {n} bytes is too large"),
            PeerError::Refused(e) => write!(f, "{e}"),
            PeerError::BadReply => write!(f, "unexpected IDENTIFY reply"),
            PeerError::Backoff => write!(f, "not connected (redial after a pause)"),
        }
    }
}

impl From<std::io::Error> for PeerError {
    fn from(e: std::io::Error) -> Self {
        PeerError::Io(e)
    }
}

/// One `--lookupd-tcp-address`.
#[derive(Debug)]
pub(crate) struct Peer {
    /// `host:port` as configured.
    pub(crate) addr: String,
    stream: Option<TcpStream>,
    /// lookupd's IDENTIFY reply on the current connection (its broadcast
    /// address and HTTP port serve the `/channels` query).
    pub(crate) info: Option<IdentifyResponse>,
    max_response: usize,
    buf: Vec<u8>,
    /// When the last dial failed: no new dial for [`REDIAL_AFTER`].
    failed_at: Option<std::time::Instant>,
}

/// After a failed dial, commands skip this peer for this long (what they
/// would register is registered again on the next connection anyway).
const REDIAL_AFTER: Duration = Duration::from_secs(1);

impl Peer {
    /// A peer, not connected yet.
    pub(crate) fn new(addr: String, max_response: usize) -> Peer {
        Peer {
            addr,
            stream: None,
            info: None,
            max_response,
            buf: Vec::new(),
            failed_at: None,
        }
    }

    /// Whether a connection is open.
    pub(crate) fn is_connected(&self) -> bool {
        self.stream.is_some()
    }

    /// Connect, send the magic and IDENTIFY. True if this made a new
    /// connection (the caller then registers everything).
    pub(crate) fn ensure_connected(
        &mut self,
        identity: &IdentifyRequest,
    ) -> Result<bool, PeerError> {
        if self.stream.is_some() {
            return Ok(false);
        }
        if self.failed_at.is_some_and(|t| t.elapsed() < REDIAL_AFTER) {
            return Err(PeerError::Backoff);
        }
        let dialed = self.dial();
        if dialed.is_err() {
            self.failed_at = Some(std::time::Instant::now());
        }
        let stream = dialed?;
        self.failed_at = None;
        crate::log!(Info, "LOOKUPD({}): connected", self.addr);
        self.identify(stream, identity)
    }

    fn dial(&self) -> Result<TcpStream, PeerError> {
        let addr = self
            .addr
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| std::io::Error::other("no address"))?;
        let stream = TcpStream::connect_timeout(&addr, TIMEOUT)?;
        stream.set_read_timeout(Some(TIMEOUT))?;
        stream.set_write_timeout(Some(TIMEOUT))?;
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }

    fn identify(
        &mut self,
        stream: TcpStream,
        identity: &IdentifyRequest,
    ) -> Result<bool, PeerError> {
        self.stream = Some(stream);
        self.buf.clear();
        let mut out = MAGIC_V1.to_vec();
        LookupRequest::Identify(identity).encode(&mut out);
        match self.round_trip(&out)? {
            LookupReply::Identify(info) => {
                crate::log!(
                    Info,
                    "LOOKUPD({}): peer info {{TCPPort:{} HTTPPort:{} Version:{} BroadcastAddress:{}}}",
                    self.addr,
                    info.tcp_port,
                    info.http_port,
                    info.version,
                    info.broadcast_address
                );
                self.info = Some(info);
                Ok(true)
            }
            _ => {
                self.close();
                Err(PeerError::BadReply)
            }
        }
    }

    /// Send one command and read its answer; any failure closes.
    pub(crate) fn command(&mut self, request: LookupRequest<'_>) -> Result<(), PeerError> {
        let mut out = Vec::new();
        request.encode(&mut out);
        match self.round_trip(&out)? {
            LookupReply::Error(e) => {
                self.close();
                Err(PeerError::Refused(e))
            }
            _ => Ok(()),
        }
    }

    fn round_trip(&mut self, out: &[u8]) -> Result<LookupReply, PeerError> {
        let result = self.round_trip_inner(out);
        if let Err(e) = &result {
            // A peer that accepts but does not answer (hung, stopped) is
            // not redialed at once either.
            if matches!(e, PeerError::Io(io) if io.kind() == std::io::ErrorKind::WouldBlock
                || io.kind() == std::io::ErrorKind::TimedOut)
            {
                self.failed_at = Some(std::time::Instant::now());
            }
            self.close();
        }
        result
    }

    fn round_trip_inner(&mut self, out: &[u8]) -> Result<LookupReply, PeerError> {
        let Some(stream) = self.stream.as_mut() else {
            return Err(PeerError::Io(std::io::ErrorKind::NotConnected.into()));
        };
        stream.write_all(out)?;
        let mut chunk = [0u8; 4096];
        loop {
            match decode_response(&self.buf, self.max_response) {
                Err(e) => return Err(PeerError::TooLarge(e.size)),
                Ok(Decoded::Complete { value, consumed }) => {
                    let reply = LookupReply::parse(value);
                    self.buf.drain(..consumed);
                    return Ok(reply);
                }
                Ok(Decoded::Incomplete) => {}
            }
            let n = stream.read(&mut chunk)?;
            if n == 0 {
                return Err(PeerError::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Close the connection (the next command reconnects).
    pub(crate) fn close(&mut self) {
        if self.stream.take().is_some() {
            crate::log!(Info, "LOOKUPD({}): closing", self.addr);
        }
        self.info = None;
        self.buf.clear();
    }
}
