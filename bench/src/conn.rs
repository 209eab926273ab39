//! A minimal blocking NSQ V2 client connection over `std::net::TcpStream`.
//!
//! It owns one read buffer and decodes frames in place with
//! `nsq_protocol::frame::decode_frame` (no hand-rolled wire format): the
//! caller sees every complete frame of a read through a closure and
//! collects its replies (FINs, NOPs) into one write. Commands are encoded
//! by the caller with `nsq_protocol::command::Request`.

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use nsq_protocol::command::Request;
use nsq_protocol::frame::{decode_frame, Frame, HEARTBEAT};
use nsq_protocol::Decoded;

use crate::error::{io, BenchError, Result};

/// Largest frame accepted from the broker.
pub const MAX_FRAME: u32 = 64 << 20;

/// How long control exchanges (SUB, IDENTIFY, a closed-loop MPUB) may take.
pub const CONTROL_TIMEOUT: Duration = Duration::from_secs(30);

/// One connection to a broker, magic sent.
pub struct Conn {
    stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Bytes read from the socket so far.
    pub bytes_in: u64,
}

impl Conn {
    /// Connect, set TCP_NODELAY and send the `"  V2"` magic.
    pub fn connect(addr: &str) -> Result<Conn> {
        Self::connect_with_buffer(addr, 64 * 1024)
    }

    /// [`Conn::connect`] with a read buffer of `buffer` bytes to start with.
    pub fn connect_with_buffer(addr: &str, buffer: usize) -> Result<Conn> {
        let stream = TcpStream::connect(addr).map_err(|source| BenchError::Connect {
            addr: addr.to_string(),
            source,
        })?;
        stream.set_nodelay(true).map_err(io("set TCP_NODELAY"))?;
        let mut c = Conn {
            stream,
            buf: vec![0; buffer.max(64)],
            start: 0,
            end: 0,
            bytes_in: 0,
        };
        c.set_read_timeout(Some(CONTROL_TIMEOUT))?;
        c.send(nsq_protocol::MAGIC_V2)?;
        Ok(c)
    }

    /// Bound each blocking read (`None` = wait forever). A read that times
    /// out returns `Ok(false)` from [`Conn::read_frames`].
    pub fn set_read_timeout(&mut self, t: Option<Duration>) -> Result<()> {
        self.stream
            .set_read_timeout(t)
            .map_err(io("set read timeout"))
    }

    /// A second handle on the socket, for a writer thread.
    pub fn writer(&self) -> Result<TcpStream> {
        self.stream.try_clone().map_err(io("clone socket"))
    }

    /// The raw socket (for polling).
    pub fn stream(&self) -> &TcpStream {
        &self.stream
    }

    /// Write all of `bytes`.
    pub fn send(&mut self, bytes: &[u8]) -> Result<()> {
        self.stream.write_all(bytes).map_err(io("write to broker"))
    }

    /// Encode and send one command.
    pub fn request(&mut self, req: &Request<'_>) -> Result<()> {
        let mut out = Vec::new();
        req.encode(&mut out);
        self.send(&out)
    }

    /// Read once (blocking up to the read timeout), then hand every
    /// complete frame to `f`. Returns `Ok(false)` if the read timed out
    /// (or would block on a non-blocking socket) and `Err(Closed)` at EOF.
    pub fn read_frames(&mut self, f: impl FnMut(Frame<'_>) -> Result<()>) -> Result<bool> {
        if !self.read_more()? {
            return Ok(false);
        }
        self.drain(f)?;
        Ok(true)
    }

    /// Hand every complete buffered frame to `f`, then compact.
    fn drain(&mut self, mut f: impl FnMut(Frame<'_>) -> Result<()>) -> Result<()> {
        while let Decoded::Complete { value, consumed } =
            decode_frame(&self.buf[self.start..self.end], MAX_FRAME)?
        {
            f(value)?;
            self.start += consumed;
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        Ok(())
    }

    /// Wait for the next response frame that is not a heartbeat (answering
    /// heartbeats with NOP). An error frame becomes `Err(Broker)`.
    /// Message frames that arrive meanwhile are a bug in the caller's use
    /// and are refused.
    pub fn expect_response(&mut self) -> Result<Vec<u8>> {
        let mut got: Option<Vec<u8>> = None;
        let mut heartbeats = 0;
        loop {
            let mut err = None;
            // Decode one frame at a time, so everything after the first
            // real response stays buffered for the caller.
            let progressed = {
                let mut f = |fr: Frame<'_>| -> Result<()> {
                    if got.is_some() || err.is_some() {
                        return Ok(());
                    }
                    match fr {
                        Frame::Response(d) if d == HEARTBEAT => heartbeats += 1,
                        Frame::Response(d) => got = Some(d.to_vec()),
                        Frame::Error(d) => err = Some(String::from_utf8_lossy(d).into_owned()),
                        Frame::Message(..) => err = Some("unexpected message frame".to_string()),
                    }
                    Ok(())
                };
                if self.start < self.end {
                    self.drain_one(&mut f)?
                } else {
                    false
                }
            };
            for _ in 0..heartbeats {
                self.request(&Request::Nop)?;
            }
            heartbeats = 0;
            if let Some(e) = err {
                return Err(BenchError::Broker(e));
            }
            if let Some(g) = got.take() {
                return Ok(g);
            }
            if !progressed && !self.read_more()? {
                return Err(BenchError::Timeout("response from broker"));
            }
        }
    }

    /// Decode at most one buffered frame; true if one was decoded.
    fn drain_one(&mut self, f: &mut impl FnMut(Frame<'_>) -> Result<()>) -> Result<bool> {
        match decode_frame(&self.buf[self.start..self.end], MAX_FRAME)? {
            Decoded::Complete { value, consumed } => {
                f(value)?;
                self.start += consumed;
                Ok(true)
            }
            Decoded::Incomplete => Ok(false),
        }
    }

    /// Read more bytes without decoding (making room first: compact, or
    /// double the buffer when one frame fills it); false on timeout.
    fn read_more(&mut self) -> Result<bool> {
        if self.end == self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            if self.end == self.buf.len() {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
        }
        loop {
            return match self.stream.read(&mut self.buf[self.end..]) {
                Ok(0) => Err(BenchError::Closed("read")),
                Ok(n) => {
                    self.end += n;
                    self.bytes_in += n as u64;
                    Ok(true)
                }
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    Ok(false)
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => Err(io("read from broker")(e)),
            };
        }
    }

    /// Send a command and wait for its response (`OK` or JSON).
    pub fn call(&mut self, req: &Request<'_>) -> Result<Vec<u8>> {
        self.request(req)?;
        self.expect_response()
    }
}

/// Make sure `topic`/`channel` exist without consuming anything: SUB with
/// no RDY, then close. (Channels outlive their consumers in NSQ.)
pub fn create_channel(addr: &str, topic: &str, channel: &str) -> Result<()> {
    let mut c = Conn::connect(addr)?;
    c.call(&Request::Sub(topic, channel))?;
    c.request(&Request::Cls)?;
    // CLS answers CLOSE_WAIT; a broker that just closes is fine too.
    let _ = c.expect_response();
    Ok(())
}

/// IDENTIFY body for consumers that ask for specific output buffering:
/// `output_buffer_size` bytes (-1 disables buffering) and
/// `output_buffer_timeout` ms.
pub fn identify_body(buffer_size: Option<i64>, buffer_timeout_ms: Option<i64>) -> Vec<u8> {
    let mut v = serde_json::json!({
        "client_id": "nsq-bench",
        "hostname": "nsq-bench",
        "user_agent": "nsq-bench/0.1",
        "feature_negotiation": true,
    });
    if let Some(s) = buffer_size {
        v["output_buffer_size"] = s.into();
    }
    if let Some(t) = buffer_timeout_ms {
        v["output_buffer_timeout"] = t.into();
    }
    v.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    /// A one-shot fake broker: reads the magic and `expect` more bytes,
    /// then writes `reply`.
    fn fake(reply: Vec<u8>) -> (String, std::thread::JoinHandle<Vec<u8>>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap().to_string();
        let h = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut got = vec![0u8; 4];
            s.read_exact(&mut got).unwrap();
            s.write_all(&reply).unwrap();
            s.set_read_timeout(Some(Duration::from_millis(300)))
                .unwrap();
            let mut rest = Vec::new();
            let _ = s.read_to_end(&mut rest);
            got.extend_from_slice(&rest);
            got
        });
        (addr, h)
    }

    #[test]
    fn response_after_heartbeat_and_nop_sent() {
        let mut reply = Vec::new();
        nsq_protocol::frame::encode_response(&mut reply, HEARTBEAT);
        nsq_protocol::frame::encode_response(&mut reply, b"OK");
        let (addr, h) = fake(reply);
        let mut c = Conn::connect(&addr).unwrap();
        assert_eq!(c.expect_response().unwrap(), b"OK");
        drop(c);
        let got = h.join().unwrap();
        assert_eq!(&got[..4], b"  V2");
        assert_eq!(&got[4..], b"NOP\n");
    }

    #[test]
    fn error_frame_is_an_error() {
        let mut reply = Vec::new();
        reply.extend_from_slice(&[0, 0, 0, 13, 0, 0, 0, 1]);
        reply.extend_from_slice(b"E_INVALID");
        let (addr, _h) = fake(reply);
        let mut c = Conn::connect(&addr).unwrap();
        match c.expect_response() {
            Err(BenchError::Broker(m)) => assert_eq!(m, "E_INVALID"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn frames_split_across_reads_are_reassembled() {
        let mut reply = Vec::new();
        let h = nsq_protocol::MessageHeader {
            timestamp: 1,
            attempts: 1,
            id: nsq_protocol::MessageId(7),
        };
        for _ in 0..3 {
            nsq_protocol::frame::encode_message(&mut reply, &h, &[b'y'; 5000]);
        }
        let (addr, _h) = fake(reply);
        let mut c = Conn::connect(&addr).unwrap();
        let mut n = 0;
        while n < 3 {
            c.read_frames(|f| {
                assert!(matches!(f, Frame::Message(_, b) if b.len() == 5000));
                n += 1;
                Ok(())
            })
            .unwrap();
        }
    }

    #[test]
    fn identify_json() {
        let v: serde_json::Value =
            serde_json::from_slice(&identify_body(Some(-1), Some(5))).unwrap();
        assert_eq!(v["output_buffer_size"], -1);
        assert_eq!(v["output_buffer_timeout"], 5);
        assert_eq!(v["feature_negotiation"], true);
    }
}
