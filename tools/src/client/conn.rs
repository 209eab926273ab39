//! One V2 connection: dial, magic, IDENTIFY with feature negotiation
//! (TLS, then snappy or deflate: docs/clients.md#upgrades), AUTH when
//! required (docs/clients.md#consumer-bootstrap), then a frame reader and a
//! shared command writer.

use std::io::Read;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nsq_protocol::command::Request;
use nsq_protocol::frame::{decode_frame, Frame};
use nsq_protocol::{Decoded, MessageHeader, MAGIC_V2};

use super::transport::{self, Compressor, Source, TlsReader, WireWriter};
use super::{Config, Error};

/// The largest frame accepted from a server.
const MAX_FRAME: u32 = 1 << 30;

/// An owned server frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnedFrame {
    /// Response frame data.
    Response(Vec<u8>),
    /// Error frame data (`E_CODE text`).
    Error(Vec<u8>),
    /// A message.
    Message(MessageHeader, Vec<u8>),
}

/// What IDENTIFY negotiated.
#[derive(Debug, Clone)]
pub struct Negotiated {
    /// The server's `max_rdy_count` (2500 for an old server).
    pub max_rdy_count: u64,
    /// TLS is on.
    pub tls: bool,
    /// `"snappy"`, `"deflate"` or `""`.
    pub compression: &'static str,
    /// The IDENTIFY response as received (for the caller's debug log).
    pub identify_response: String,
}

/// Reads frames from a connection.
pub struct FrameReader {
    stream: Source,
    buf: Vec<u8>,
    start: usize,
}

impl FrameReader {
    /// The next frame; blocks up to the stream's read timeout.
    pub fn next_frame(&mut self) -> Result<OwnedFrame, Error> {
        loop {
            match decode_frame(&self.buf[self.start..], MAX_FRAME) {
                Ok(Decoded::Complete { value, consumed }) => {
                    let owned = match value {
                        Frame::Response(d) => OwnedFrame::Response(d.to_vec()),
                        Frame::Error(d) => OwnedFrame::Error(d.to_vec()),
                        Frame::Message(h, b) => OwnedFrame::Message(h, b.to_vec()),
                    };
                    self.start += consumed;
                    if self.start == self.buf.len() {
                        self.buf.clear();
                        self.start = 0;
                    }
                    return Ok(owned);
                }
                Ok(Decoded::Incomplete) => {}
                Err(e) => return Err(Error::Protocol(e.to_string())),
            }
            if self.start > 0 {
                self.buf.drain(..self.start);
                self.start = 0;
            }
            let mut chunk = [0u8; 64 * 1024];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|e| Error::Io("read".into(), e))?;
            if n == 0 {
                return Err(Error::Closed);
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// Serialized command writes on one connection.
pub struct Writer {
    stream: Mutex<WireWriter>,
}

impl Writer {
    /// Encode and write one command.
    pub fn send(&self, req: &Request<'_>) -> Result<(), Error> {
        let mut out = Vec::new();
        req.encode(&mut out);
        self.send_raw(&out)
    }

    /// Write encoded bytes.
    pub fn send_raw(&self, bytes: &[u8]) -> Result<(), Error> {
        let mut s = self.stream.lock().map_err(|_| Error::Closed)?;
        s.write_all(bytes).map_err(|e| Error::Io("write".into(), e))
    }

    /// Under the write lock, run `first` (FIFO bookkeeping: a reply can
    /// arrive as soon as the bytes are out) and then write.
    pub fn send_after(&self, bytes: &[u8], first: impl FnOnce()) -> Result<(), Error> {
        let mut s = self.stream.lock().map_err(|_| Error::Closed)?;
        first();
        s.write_all(bytes).map_err(|e| Error::Io("write".into(), e))
    }

    /// Shut the socket down (both directions), waking the reader.
    pub fn shutdown(&self) {
        if let Ok(s) = self.stream.lock() {
            s.shutdown();
        }
    }
}

/// Resolve `host:port` and connect within the dial timeout.
pub fn dial(addr: &str, timeout: Duration) -> Result<TcpStream, Error> {
    let addrs: Vec<SocketAddr> = addr
        .to_socket_addrs()
        .map_err(|e| Error::Io(format!("resolve {addr}"), e))?
        .collect();
    let mut last = None;
    for a in addrs {
        match TcpStream::connect_timeout(&a, timeout) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io(
        format!("dial tcp {addr}"),
        last.unwrap_or_else(|| std::io::Error::other("no address")),
    ))
}

fn expect_response(frame: OwnedFrame, what: &str) -> Result<Vec<u8>, Error> {
    match frame {
        OwnedFrame::Response(d) => Ok(d),
        OwnedFrame::Error(d) => Err(Error::Server(String::from_utf8_lossy(&d).into_owned())),
        OwnedFrame::Message(..) => Err(Error::Protocol(format!("message frame before {what}"))),
    }
}

/// Connect, send the magic and IDENTIFY, upgrade the stream as
/// negotiated, AUTH if the server requires it.
pub fn connect(addr: &str, cfg: &Config) -> Result<(Writer, FrameReader, Negotiated), Error> {
    // Fail on bad options before dialing.
    let tls = prepare(addr, cfg)?;
    let stream = dial(addr, cfg.dial_timeout)?;
    connect_stream(stream, cfg, tls)
}

/// [`connect`] over a socket the caller dialed (and may keep a clone of,
/// to shut it down from another thread).
pub fn connect_on(
    stream: TcpStream,
    addr: &str,
    cfg: &Config,
) -> Result<(Writer, FrameReader, Negotiated), Error> {
    let tls = prepare(addr, cfg)?;
    connect_stream(stream, cfg, tls)
}

type TlsSetup = Option<(
    Arc<rustls::ClientConfig>,
    rustls::pki_types::ServerName<'static>,
)>;

/// Check the compression options and build the TLS configuration.
fn prepare(addr: &str, cfg: &Config) -> Result<TlsSetup, Error> {
    if cfg.snappy && cfg.deflate {
        return Err(Error::Config(
            "cannot enable both deflate and snappy compression".into(),
        ));
    }
    if !cfg.tls_v1 {
        return Ok(None);
    }
    Ok(Some((
        transport::client_config(cfg)?,
        transport::server_name(addr)?,
    )))
}

fn connect_stream(
    stream: TcpStream,
    cfg: &Config,
    tls_config: TlsSetup,
) -> Result<(Writer, FrameReader, Negotiated), Error> {
    let _ = stream.set_nodelay(true);
    stream
        .set_write_timeout(Some(cfg.write_timeout))
        .and_then(|_| stream.set_read_timeout(Some(cfg.read_timeout)))
        .map_err(|e| Error::Io("socket options".into(), e))?;
    let clone = || {
        stream
            .try_clone()
            .map_err(|e| Error::Io("clone socket".into(), e))
    };
    let read_half = clone()?;
    let writer = Writer {
        stream: Mutex::new(WireWriter::new(clone()?)),
    };
    let mut reader = FrameReader {
        stream: Box::new(read_half),
        buf: Vec::new(),
        start: 0,
    };
    let mut hello = MAGIC_V2.to_vec();
    Request::Identify(&cfg.identify_json()).encode(&mut hello);
    writer.send_raw(&hello)?;
    let reply = expect_response(next_non_heartbeat(&mut reader, &writer)?, "IDENTIFY")?;
    let mut neg = Negotiated {
        max_rdy_count: 2500,
        tls: false,
        compression: "",
        identify_response: String::from_utf8_lossy(&reply).into_owned(),
    };
    if reply.first() == Some(&b'{') {
        let v: serde_json::Value = serde_json::from_slice(&reply)
            .map_err(|e| Error::Protocol(format!("IDENTIFY response: {e}")))?;
        if let Some(n) = v.get("max_rdy_count").and_then(|n| n.as_u64()) {
            neg.max_rdy_count = n;
        }
        let on = |feature: &str| v.get(feature).and_then(|b| b.as_bool()) == Some(true);
        for (feature, asked) in [
            ("tls_v1", cfg.tls_v1),
            ("deflate", cfg.deflate),
            ("snappy", cfg.snappy),
        ] {
            if on(feature) && !asked {
                return Err(Error::Protocol(format!(
                    "server enabled {feature}, which was not requested"
                )));
            }
        }
        if on("deflate") && on("snappy") {
            return Err(Error::Protocol(
                "server enabled both deflate and snappy".into(),
            ));
        }
        if on("tls_v1") {
            let (config, name) = tls_config
                .clone()
                .ok_or_else(|| Error::Protocol("unrequested TLS".into()))?;
            if reader.start < reader.buf.len() {
                return Err(Error::Protocol("data before the TLS handshake".into()));
            }
            let sock = clone()?;
            let session = Arc::new(Mutex::new(transport::handshake(config, name, &sock)?));
            reader.stream = Box::new(TlsReader::new(sock, session.clone()));
            writer.stream.lock().map_err(|_| Error::Closed)?.tls = Some(session);
            expect_ok(&mut reader, &writer, "TLS")?;
            neg.tls = true;
        }
        let compression = if on("deflate") {
            let level = v
                .get("deflate_level")
                .and_then(|n| n.as_u64())
                .filter(|n| (1..=9).contains(n))
                .unwrap_or(cfg.deflate_level as u64);
            Some(("deflate", Compressor::deflate(level as u32)))
        } else if on("snappy") {
            Some(("snappy", Compressor::snappy()))
        } else {
            None
        };
        if let Some((name, compressor)) = compression {
            let pending = reader.buf.split_off(reader.start);
            reader.buf.clear();
            reader.start = 0;
            let src = std::mem::replace(&mut reader.stream, Box::new(std::io::empty()));
            reader.stream = transport::decompressing(src, pending, name == "snappy");
            writer.stream.lock().map_err(|_| Error::Closed)?.compressor = Some(compressor);
            expect_ok(&mut reader, &writer, name)?;
            neg.compression = name;
        }
        if on("auth_required") {
            let Some(secret) = &cfg.auth_secret else {
                return Err(Error::Config(
                    "auth required by the server: set --consumer-opt/--producer-opt auth_secret,<secret>"
                        .into(),
                ));
            };
            writer.send(&Request::Auth(secret.as_bytes()))?;
            expect_response(next_non_heartbeat(&mut reader, &writer)?, "AUTH")?;
        }
    }
    Ok((writer, reader, neg))
}

/// The `OK` that confirms an upgrade (the first frame in the new layer).
fn expect_ok(reader: &mut FrameReader, writer: &Writer, what: &str) -> Result<(), Error> {
    let reply = expect_response(next_non_heartbeat(reader, writer)?, what)?;
    if reply != b"OK" {
        return Err(Error::Protocol(format!(
            "expected OK after the {what} upgrade, got {:?}",
            String::from_utf8_lossy(&reply)
        )));
    }
    Ok(())
}

/// The next frame, answering heartbeats with NOP on the way.
pub fn next_non_heartbeat(reader: &mut FrameReader, writer: &Writer) -> Result<OwnedFrame, Error> {
    loop {
        let f = reader.next_frame()?;
        if f == OwnedFrame::Response(nsq_protocol::frame::HEARTBEAT.to_vec()) {
            writer.send(&Request::Nop)?;
            continue;
        }
        return Ok(f);
    }
}
