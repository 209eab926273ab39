//! The per-connection transport layer negotiated by IDENTIFY
//! (docs/protocol.md#upgrades, #compression): TLS, then snappy or deflate,
//! between the socket and the connection's plain buffers.
//!
//! ```text
//! inbound:  socket bytes -> (TLS decrypt) -> (decompress) -> input
//! outbound: output       -> (compress, one sync-flushed chunk per flush) -> (TLS encrypt) -> socket
//! ```
//!
//! Everything here is pure buffer work: rustls's `ServerConnection` is driven
//! with `read_tls`/`write_tls` over byte slices and `Vec`s, the codecs keep
//! their partial input, and nothing does I/O or blocks. A connection without
//! negotiated features has no `Transport` at all (its bytes are not copied).
//! The whole state is `Send`, so it travels with the SUB handoff.

use std::io::{self, Read};

use bytes::BytesMut;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

/// Largest uncompressed snappy chunk (framing format).
const SNAPPY_MAX_BLOCK: usize = 65536;
/// The snappy stream identifier chunk.
const SNAPPY_STREAM_ID: &[u8; 10] = b"\xff\x06\x00\x00sNaPpY";

/// Compression negotiated on a connection.
pub enum Codec {
    /// Snappy framing format.
    Snappy(Box<SnappyEncoder>, SnappyDecoder),
    /// Raw DEFLATE, sync-flushed.
    Deflate(DeflateEncoder, DeflateDecoder),
}

impl Codec {
    /// Snappy in both directions.
    pub fn snappy() -> Codec {
        Codec::Snappy(Box::default(), SnappyDecoder::default())
    }

    /// Deflate at `level` (1..=9) for output; any level is decoded.
    pub fn deflate(level: u32) -> Codec {
        Codec::Deflate(DeflateEncoder::new(level), DeflateDecoder::default())
    }

    fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        match self {
            Codec::Snappy(e, _) => e.encode(data, out),
            Codec::Deflate(e, _) => e.encode(data, out),
        }
    }

    fn decode(&mut self, data: &[u8], out: &mut BytesMut) -> io::Result<()> {
        match self {
            Codec::Snappy(_, d) => d.decode(data, out),
            Codec::Deflate(_, d) => d.decode(data, out),
        }
    }
}

/// TLS and/or compression state of one connection.
#[derive(Default)]
pub struct Transport {
    /// The TLS session, once the handshake is done.
    pub tls: Option<rustls::ServerConnection>,
    /// The compression, once negotiated.
    pub codec: Option<Codec>,
    /// The client certificate's CommonName (for the auth server).
    pub common_name: String,
    /// Decrypted bytes on their way to the decompressor.
    plain_in: Vec<u8>,
    /// Compressed bytes on their way to TLS.
    staged_out: Vec<u8>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("tls", &self.tls.is_some())
            .field(
                "codec",
                &match self.codec {
                    None => "none",
                    Some(Codec::Snappy(..)) => "snappy",
                    Some(Codec::Deflate(..)) => "deflate",
                },
            )
            .finish()
    }
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

impl Transport {
    /// A transport with an established TLS session.
    pub fn with_tls(session: rustls::ServerConnection, common_name: String) -> Transport {
        Transport {
            tls: Some(session),
            common_name,
            ..Transport::default()
        }
    }

    /// Bytes from the socket: append what they decode to into `input`.
    /// Returns true when the peer closed the TLS session (close_notify).
    pub fn decode(&mut self, raw: &[u8], input: &mut BytesMut) -> io::Result<bool> {
        let Some(tls) = self.tls.as_mut() else {
            if let Some(codec) = self.codec.as_mut() {
                codec.decode(raw, input)?;
            }
            return Ok(false);
        };
        let mut eof = false;
        let mut rest = raw;
        loop {
            // Drain the plaintext first (the session may hold some from the
            // handshake, and `read_tls` refuses input while it holds more
            // than 16 KiB), then feed more: rustls bounds what it buffers,
            // so this alternates with `read_tls` for large inputs.
            let sink: &mut Vec<u8> = &mut self.plain_in;
            loop {
                let at = sink.len();
                sink.resize(at + 16 * 1024, 0);
                match tls.reader().read(&mut sink[at..]) {
                    Ok(0) => {
                        sink.truncate(at);
                        eof = true;
                        break;
                    }
                    Ok(n) => sink.truncate(at + n),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        sink.truncate(at);
                        break;
                    }
                    Err(e) => {
                        sink.truncate(at);
                        return Err(e);
                    }
                }
            }
            if rest.is_empty() || eof {
                break;
            }
            tls.read_tls(&mut rest)?;
            tls.process_new_packets().map_err(invalid)?;
        }
        match self.codec.as_mut() {
            Some(codec) => codec.decode(&self.plain_in, input)?,
            None => input.extend_from_slice(&self.plain_in),
        }
        self.plain_in.clear();
        Ok(eof)
    }

    /// Plain output (whole NSQ frames): append the bytes to send to `wire`.
    /// Compressed output is flushed (one independently decodable unit per
    /// call).
    pub fn encode(&mut self, plain: &[u8], wire: &mut Vec<u8>) -> io::Result<()> {
        match (self.tls.as_mut(), self.codec.as_mut()) {
            (None, None) => wire.extend_from_slice(plain),
            (None, Some(codec)) => codec.encode(plain, wire)?,
            (Some(tls), None) => nsq_http_client::tls_encrypt(tls, plain, wire)?,
            (Some(tls), Some(codec)) => {
                self.staged_out.clear();
                codec.encode(plain, &mut self.staged_out)?;
                nsq_http_client::tls_encrypt(tls, &self.staged_out, wire)?;
                if self.staged_out.capacity() > 1 << 20 {
                    self.staged_out = Vec::new();
                }
            }
        }
        Ok(())
    }

    /// TLS records rustls wants to send on its own (alerts, tickets).
    pub fn wants_write(&self) -> bool {
        self.tls.as_ref().is_some_and(|t| t.wants_write())
    }

    /// Append those records to `wire`.
    pub fn flush_tls(&mut self, wire: &mut Vec<u8>) -> io::Result<()> {
        if let Some(tls) = self.tls.as_mut() {
            while tls.wants_write() {
                tls.write_tls(wire)?;
            }
        }
        Ok(())
    }
}

// ------------------------------------------------------------------ snappy

/// The framing format's masked checksum.
fn masked_crc(data: &[u8]) -> u32 {
    // CRC-32C (Castagnoli); the crate has its own SSE4.2 path.
    let c = crc32c::crc32c(data);
    (c.rotate_right(15)).wrapping_add(0xa282_ead8)
}

/// Snappy framing-format writer: the stream identifier first, then one or
/// more chunks per [`encode`](SnappyEncoder::encode) call (each call is a
/// flush).
pub struct SnappyEncoder {
    enc: snap::raw::Encoder,
    started: bool,
}

impl Default for SnappyEncoder {
    fn default() -> Self {
        SnappyEncoder {
            enc: snap::raw::Encoder::new(),
            started: false,
        }
    }
}

impl SnappyEncoder {
    /// Append `data` as framed chunks to `out`.
    pub fn encode(&mut self, data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        if !self.started {
            out.extend_from_slice(SNAPPY_STREAM_ID);
            self.started = true;
        }
        for block in data.chunks(SNAPPY_MAX_BLOCK) {
            let head = out.len();
            let max = snap::raw::max_compress_len(block.len());
            out.resize(head + 8 + max, 0);
            let n = self
                .enc
                .compress(block, &mut out[head + 8..])
                .map_err(invalid)?;
            // golang/snappy's rule: keep the compressed form only if it
            // saves at least 1/8.
            let (kind, len) = if n < block.len() - block.len() / 8 {
                out.truncate(head + 8 + n);
                (0x00u8, n + 4)
            } else {
                out.truncate(head + 8);
                out.extend_from_slice(block);
                (0x01u8, block.len() + 4)
            };
            let crc = masked_crc(block);
            out[head] = kind;
            out[head + 1..head + 4].copy_from_slice(&(len as u32).to_le_bytes()[..3]);
            out[head + 4..head + 8].copy_from_slice(&crc.to_le_bytes());
        }
        Ok(())
    }
}

/// Incremental snappy framing-format reader: keeps a partial chunk until the
/// rest arrives; verifies checksums.
pub struct SnappyDecoder {
    dec: snap::raw::Decoder,
    pending: Vec<u8>,
    seen_stream_id: bool,
}

impl Default for SnappyDecoder {
    fn default() -> Self {
        SnappyDecoder {
            dec: snap::raw::Decoder::new(),
            pending: Vec::new(),
            seen_stream_id: false,
        }
    }
}

impl SnappyDecoder {
    /// Decode what `data` completes; append the plain bytes to `out`.
    pub fn decode(&mut self, data: &[u8], out: &mut BytesMut) -> io::Result<()> {
        if self.pending.is_empty() {
            let used = self.chunks(data, out)?;
            self.pending.extend_from_slice(&data[used..]);
        } else {
            let mut pending = std::mem::take(&mut self.pending);
            pending.extend_from_slice(data);
            let used = self.chunks(&pending, out)?;
            pending.drain(..used);
            self.pending = pending;
        }
        Ok(())
    }

    /// Decode the complete chunks at the start of `buf`; returns the bytes used.
    fn chunks(&mut self, buf: &[u8], out: &mut BytesMut) -> io::Result<usize> {
        let mut pos = 0;
        while buf.len() - pos >= 4 {
            let kind = buf[pos];
            let len = u32::from_le_bytes([buf[pos + 1], buf[pos + 2], buf[pos + 3], 0]) as usize;
            if len > snap::raw::max_compress_len(SNAPPY_MAX_BLOCK) + 4 {
                return Err(invalid("snappy: chunk too large"));
            }
            if buf.len() - pos - 4 < len {
                break;
            }
            let chunk = &buf[pos + 4..pos + 4 + len];
            match kind {
                0xff => {
                    if chunk != b"sNaPpY" {
                        return Err(invalid("snappy: bad stream identifier"));
                    }
                    self.seen_stream_id = true;
                }
                0x00 | 0x01 => {
                    if !self.seen_stream_id {
                        return Err(invalid("snappy: missing stream identifier"));
                    }
                    if chunk.len() < 4 {
                        return Err(invalid("snappy: short chunk"));
                    }
                    let crc = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
                    let payload = &chunk[4..];
                    let at = out.len();
                    if kind == 0x00 {
                        let n = snap::raw::decompress_len(payload).map_err(invalid)?;
                        if n > SNAPPY_MAX_BLOCK {
                            return Err(invalid("snappy: block too large"));
                        }
                        out.resize(at + n, 0);
                        self.dec
                            .decompress(payload, &mut out[at..])
                            .map_err(invalid)?;
                    } else {
                        if payload.len() > SNAPPY_MAX_BLOCK {
                            return Err(invalid("snappy: block too large"));
                        }
                        out.extend_from_slice(payload);
                    }
                    if masked_crc(&out[at..]) != crc {
                        return Err(invalid("snappy: checksum mismatch"));
                    }
                }
                0x02..=0x7f => return Err(invalid("snappy: unskippable chunk")),
                _ => {} // 0x80..=0xfe: skippable (padding and the like)
            }
            pos += 4 + len;
        }
        Ok(pos)
    }
}

// ----------------------------------------------------------------- deflate

/// Raw DEFLATE writer; every [`encode`](DeflateEncoder::encode) ends with a
/// sync flush (`00 00 ff ff`).
pub struct DeflateEncoder {
    c: Compress,
}

impl DeflateEncoder {
    /// At `level` (clamped to 1..=9).
    pub fn new(level: u32) -> DeflateEncoder {
        DeflateEncoder {
            c: Compress::new(Compression::new(level.clamp(1, 9)), false),
        }
    }

    /// Compress `data` into `out` and sync-flush.
    pub fn encode(&mut self, mut data: &[u8], out: &mut Vec<u8>) -> io::Result<()> {
        loop {
            out.reserve((data.len() + data.len() / 8 + 64).max(256));
            let before = self.c.total_in();
            self.c
                .compress_vec(data, out, FlushCompress::Sync)
                .map_err(invalid)?;
            data = &data[(self.c.total_in() - before) as usize..];
            // Done when everything went in and the flush did not run out
            // of room.
            if data.is_empty() && out.len() < out.capacity() {
                return Ok(());
            }
        }
    }
}

/// Most plain bytes one [`DeflateDecoder::decode`] call may produce: raw
/// DEFLATE expands up to ~1000x, so one 64 KiB read could otherwise become
/// 64 MiB of input buffer. Legitimate clients compress commands that the
/// decoder bounds by `--max-body-size` anyway.
const MAX_INFLATE_PER_READ: usize = 16 << 20;

/// Raw DEFLATE reader, fed as bytes arrive.
pub struct DeflateDecoder {
    d: Decompress,
}

impl Default for DeflateDecoder {
    fn default() -> Self {
        DeflateDecoder {
            d: Decompress::new(false),
        }
    }
}

impl DeflateDecoder {
    /// Decompress `data`; append the plain bytes to `out`.
    pub fn decode(&mut self, mut data: &[u8], out: &mut BytesMut) -> io::Result<()> {
        let start = out.len();
        loop {
            if out.len() - start > MAX_INFLATE_PER_READ {
                return Err(invalid("deflate: input expands too much"));
            }
            let at = out.len();
            let room = (data.len() * 4).clamp(16 * 1024, 1 << 20);
            out.resize(at + room, 0);
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let status = self
                .d
                .decompress(data, &mut out[at..], FlushDecompress::None)
                .map_err(invalid)?;
            let used = (self.d.total_in() - in0) as usize;
            let made = (self.d.total_out() - out0) as usize;
            out.truncate(at + made);
            data = &data[used..];
            if status == Status::StreamEnd {
                return Ok(());
            }
            // The inflater may hold decoded bytes back: call again until
            // a call makes no progress.
            if made == 0 && used == 0 {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sample(n: usize) -> Vec<u8> {
        (0..n)
            .map(|i| if i % 7 == 0 { (i % 251) as u8 } else { b'a' })
            .collect()
    }

    #[test]
    fn masked_crc_as_the_snappy_framing_format() {
        // CRC-32C of "123456789" is 0xe3069283, then masked.
        assert_eq!(crc32c::crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(masked_crc(b""), 0xa282_ead8);
        assert_eq!(
            masked_crc(b"123456789"),
            0xe306_9283u32.rotate_right(15).wrapping_add(0xa282_ead8)
        );
    }

    #[test]
    fn snappy_round_trip_any_split() {
        let mut enc = SnappyEncoder::default();
        let mut wire = Vec::new();
        let parts = [
            sample(10),
            sample(70_000),
            vec![],
            sample(3),
            (0..255u8).collect(),
        ];
        for p in &parts {
            enc.encode(p, &mut wire).unwrap();
        }
        assert_eq!(&wire[..10], SNAPPY_STREAM_ID);
        let want: Vec<u8> = parts.concat();
        for step in [1, 3, 7, 1000, wire.len()] {
            let mut dec = SnappyDecoder::default();
            let mut out = BytesMut::new();
            for piece in wire.chunks(step) {
                dec.decode(piece, &mut out).unwrap();
            }
            assert_eq!(&out[..], &want[..], "step {step}");
        }
    }

    #[test]
    fn snappy_interoperates_with_snap_frame_format() {
        // Our writer's output is read by snap's reference reader...
        let mut enc = SnappyEncoder::default();
        let mut wire = Vec::new();
        let data = sample(200_000);
        enc.encode(&data[..100], &mut wire).unwrap();
        enc.encode(&data[100..], &mut wire).unwrap();
        let mut back = Vec::new();
        snap::read::FrameDecoder::new(&wire[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
        // ...and snap's writer output by our reader.
        let mut w = snap::write::FrameEncoder::new(Vec::new());
        w.write_all(&data).unwrap();
        let wire = w.into_inner().unwrap();
        let mut out = BytesMut::new();
        SnappyDecoder::default().decode(&wire, &mut out).unwrap();
        assert_eq!(&out[..], &data[..]);
    }

    #[test]
    fn snappy_rejects_corruption() {
        let mut enc = SnappyEncoder::default();
        let mut wire = Vec::new();
        enc.encode(&sample(100), &mut wire).unwrap();
        let last = wire.len() - 1;
        wire[last] ^= 0x55;
        let mut out = BytesMut::new();
        assert!(SnappyDecoder::default().decode(&wire, &mut out).is_err());
        // Data before the stream identifier.
        let mut out = BytesMut::new();
        assert!(SnappyDecoder::default()
            .decode(&[0x01, 5, 0, 0, 0, 0, 0, 0, b'x'], &mut out)
            .is_err());
    }

    #[test]
    fn deflate_each_flush_is_decodable_alone() {
        let mut enc = DeflateEncoder::new(6);
        let mut dec = DeflateDecoder::default();
        let mut out = BytesMut::new();
        for n in [1, 100, 70_000, 5, 300_000] {
            let mut wire = Vec::new();
            let data = sample(n);
            enc.encode(&data, &mut wire).unwrap();
            assert_eq!(&wire[wire.len() - 4..], &[0, 0, 0xff, 0xff], "sync flush");
            out.clear();
            dec.decode(&wire, &mut out).unwrap();
            assert_eq!(out.len(), data.len(), "n {n}");
            assert!(out[..] == data[..], "n {n}");
        }
    }

    #[test]
    fn deflate_many_sync_flushed_writes_any_split() {
        // Client side: flate2's writer, a sync flush per command.
        let mut w = flate2::write::DeflateEncoder::new(Vec::new(), Compression::new(3));
        let mut want = Vec::new();
        for i in 0..2000usize {
            let cmd = format!("FIN {:016x}\n", i * 7919);
            w.write_all(cmd.as_bytes()).unwrap();
            w.flush().unwrap();
            want.extend_from_slice(cmd.as_bytes());
        }
        let wire = w.get_ref().clone();
        inflates_in_any_pieces(&wire, &want, &[1, 5, 64, 1000, 65536]);
        // Server side: big and small flushes, read back in pieces.
        let mut enc = DeflateEncoder::new(6);
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for i in 0..300usize {
            let data = sample(if i.is_multiple_of(97) {
                70_000 + i
            } else {
                1 + i * 37 % 900
            });
            enc.encode(&data, &mut wire).unwrap();
            want.extend_from_slice(&data);
        }
        inflates_in_any_pieces(&wire, &want, &[7, 1000, 65536]);
    }

    /// `wire` fed to a fresh inflater in pieces of each of `steps` bytes
    /// gives `want`.
    fn inflates_in_any_pieces(wire: &[u8], want: &[u8], steps: &[usize]) {
        for &step in steps {
            let mut dec = DeflateDecoder::default();
            let mut out = BytesMut::new();
            for piece in wire.chunks(step) {
                dec.decode(piece, &mut out).unwrap();
            }
            assert!(
                out[..] == want[..],
                "step {step}: {} of {}",
                out.len(),
                want.len()
            );
        }
    }

    #[test]
    fn deflate_large_flush_of_mixed_bodies() {
        let body = nsq_test_support::bodies::mixed_body;
        for level in [1, 6, 9] {
            let mut enc = DeflateEncoder::new(level);
            let mut data = Vec::new();
            for i in 0..582 {
                data.extend_from_slice(&body(i));
            }
            let mut wire = Vec::new();
            enc.encode(&data, &mut wire).unwrap();
            let mut tail = Vec::new();
            for i in 582..600 {
                tail.extend_from_slice(&body(i));
            }
            let mut wire2 = Vec::new();
            enc.encode(&tail, &mut wire2).unwrap();
            assert_eq!(
                &wire2[wire2.len() - 4..],
                &[0, 0, 0xff, 0xff],
                "level {level}"
            );
            let mut d = Decompress::new(false);
            let mut out = Vec::with_capacity(data.len() + tail.len() + 1024);
            d.decompress_vec(&wire, &mut out, FlushDecompress::None)
                .unwrap();
            assert_eq!(out.len(), data.len(), "level {level}");
            d.decompress_vec(&wire2, &mut out, FlushDecompress::None)
                .unwrap();
            assert_eq!(out.len(), data.len() + tail.len(), "level {level}");
        }
    }

    #[test]
    fn deflate_bomb_is_refused() {
        let mut enc = DeflateEncoder::new(9);
        let mut wire = Vec::new();
        enc.encode(&vec![0u8; 40 << 20], &mut wire).unwrap();
        assert!(wire.len() < 64 * 1024, "{}", wire.len());
        let mut out = BytesMut::new();
        assert!(DeflateDecoder::default().decode(&wire, &mut out).is_err());
    }

    #[test]
    fn deflate_byte_by_byte() {
        let mut enc = DeflateEncoder::new(9);
        let mut wire = Vec::new();
        let data = sample(50_000);
        enc.encode(&data, &mut wire).unwrap();
        let mut dec = DeflateDecoder::default();
        let mut out = BytesMut::new();
        for b in wire.chunks(1) {
            dec.decode(b, &mut out).unwrap();
        }
        assert_eq!(&out[..], &data[..]);
        // Interoperates with flate2's own raw reader.
        let mut back = Vec::new();
        flate2::read::DeflateDecoder::new(&wire[..])
            .read_to_end(&mut back)
            .ok();
        assert_eq!(back, data);
    }
}
