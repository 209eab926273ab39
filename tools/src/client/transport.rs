//! The stream layers IDENTIFY can negotiate (docs/clients.md#upgrades,
//! docs/protocol.md#compression), as blocking wrappers over one socket:
//!
//! ```text
//! read:  socket -> (TLS decrypt) -> (snappy frames | raw inflate) -> NSQ frames
//! write: command -> (snappy chunk | deflate + sync flush) -> (TLS encrypt) -> socket
//! ```
//!
//! The reader thread and the writers share one rustls `ClientConnection`
//! behind a mutex, each with its own clone of the socket. The lock is never
//! held across a socket read or write: the reader feeds the bytes it read
//! into the session and drains the plaintext; a writer encrypts into a
//! buffer and writes that after unlocking. Only writers (serialized by the
//! connection's write lock) take TLS records out of the session, so records
//! go out in order; records rustls queues while reading (alerts) leave with
//! the next command. Compression has independent state per direction.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme};

use super::{Config, Error};

/// A TLS session shared by a connection's reader and writer.
pub type SharedTls = Arc<Mutex<ClientConnection>>;

fn lock(tls: &SharedTls) -> MutexGuard<'_, ClientConnection> {
    tls.lock().unwrap_or_else(|p| p.into_inner())
}

fn invalid(e: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e.to_string())
}

// --------------------------------------------------------------------- TLS

/// System CA bundles, first found wins (`SSL_CERT_FILE` overrides).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, Error> {
    let pem = std::fs::read(path).map_err(|e| Error::Io(format!("read {path}"), e))?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Config(format!("{path}: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Config(format!("{path}: no PEM certificate")));
    }
    Ok(certs)
}

fn roots(cfg: &Config) -> Result<rustls::RootCertStore, Error> {
    let mut store = rustls::RootCertStore::empty();
    let files: Vec<String> = match &cfg.tls_root_ca_file {
        Some(f) => vec![f.clone()],
        None => std::env::var("SSL_CERT_FILE")
            .ok()
            .into_iter()
            .chain(SYSTEM_BUNDLES.iter().map(|s| s.to_string()))
            .filter(|p| std::path::Path::new(p).is_file())
            .take(1)
            .collect(),
    };
    for f in files {
        for c in load_certs(&f)? {
            // A bundle may hold certificates webpki rejects; skip those.
            if store.add(c).is_err() && cfg.tls_root_ca_file.is_some() {
                return Err(Error::Config(format!("{f}: unusable CA certificate")));
            }
        }
    }
    Ok(store)
}

/// Accepts any server certificate (`tls_insecure_skip_verify`), still
/// checking the handshake signatures.
#[derive(Debug)]
struct NoVerify(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for NoVerify {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The rustls client configuration for `cfg`'s `tls_*` options.
pub fn client_config(cfg: &Config) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions: &[&rustls::SupportedProtocolVersion] = match cfg.tls_min_version.as_deref() {
        Some("tls1.3") => &[&rustls::version::TLS13],
        // rustls speaks TLS 1.2 and 1.3 only: lower minimums mean 1.2.
        _ => rustls::ALL_VERSIONS,
    };
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .map_err(|e| Error::Config(format!("TLS: {e}")))?;
    let builder = if cfg.tls_insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerify(provider)))
    } else {
        builder.with_root_certificates(roots(cfg)?)
    };
    let config = match (&cfg.tls_cert, &cfg.tls_key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| Error::Config(format!("tls_key {key}: {e}")))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| Error::Config(format!("TLS client certificate: {e}")))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => {
            return Err(Error::Config(
                "tls_cert and tls_key must be given together".into(),
            ))
        }
    };
    Ok(Arc::new(config))
}

/// The host part of `host:port` / `[v6]:port`, as a TLS server name.
pub fn server_name(addr: &str) -> Result<ServerName<'static>, Error> {
    nsq_http_client::server_name(addr).map_err(|e| Error::Config(e.to_string()))
}

/// Run the client handshake on `sock` (blocking, bounded by its timeouts).
pub fn handshake(
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
    mut sock: &TcpStream,
) -> Result<ClientConnection, Error> {
    let mut conn =
        ClientConnection::new(config, name).map_err(|e| Error::Protocol(format!("TLS: {e}")))?;
    let tls_err = |e: io::Error| Error::Io("TLS handshake".into(), e);
    while conn.is_handshaking() {
        conn.complete_io(&mut sock).map_err(tls_err)?;
    }
    while conn.wants_write() {
        conn.write_tls(&mut sock).map_err(tls_err)?;
    }
    Ok(conn)
}

/// The read side of a TLS connection: socket bytes in, plaintext out.
pub struct TlsReader {
    sock: TcpStream,
    tls: SharedTls,
    raw: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl TlsReader {
    /// Read through `tls` from `sock`.
    pub fn new(sock: TcpStream, tls: SharedTls) -> TlsReader {
        TlsReader {
            sock,
            tls,
            raw: vec![0u8; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
        }
    }
}

impl Read for TlsReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut tls = lock(&self.tls);
                loop {
                    // Plaintext first: rustls then has room for more input.
                    match tls.reader().read(buf) {
                        Ok(n) => return Ok(n), // 0: close_notify
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                        Err(e) => return Err(e),
                    }
                    if self.pos == self.len {
                        break;
                    }
                    let n = tls.read_tls(&mut &self.raw[self.pos..self.len])?;
                    if n == 0 {
                        return Err(invalid("TLS: input not accepted"));
                    }
                    self.pos += n;
                    tls.process_new_packets().map_err(invalid)?;
                }
            }
            // Everything fed and nothing decrypted: wait for the socket
            // without holding the session.
            self.pos = 0;
            self.len = 0;
            let n = self.sock.read(&mut self.raw)?;
            if n == 0 {
                return Ok(0);
            }
            self.len = n;
        }
    }
}

// ------------------------------------------------------------- compression

/// The writer's compression, one flushed unit per command.
pub enum Compressor {
    /// Snappy framing format.
    Snappy(Box<snap::write::FrameEncoder<Vec<u8>>>),
    /// Raw DEFLATE, sync-flushed.
    Deflate(flate2::write::DeflateEncoder<Vec<u8>>),
}

impl Compressor {
    /// Snappy framing.
    pub fn snappy() -> Compressor {
        Compressor::Snappy(Box::new(snap::write::FrameEncoder::new(Vec::new())))
    }

    /// Raw deflate at `level` (clamped to 1..=9).
    pub fn deflate(level: u32) -> Compressor {
        Compressor::Deflate(flate2::write::DeflateEncoder::new(
            Vec::new(),
            flate2::Compression::new(level.clamp(1, 9)),
        ))
    }

    /// Compress and flush `data`; the bytes to send.
    pub fn compress(&mut self, data: &[u8]) -> io::Result<Vec<u8>> {
        match self {
            Compressor::Snappy(w) => {
                w.write_all(data)?;
                w.flush()?;
                Ok(std::mem::take(w.get_mut()))
            }
            Compressor::Deflate(w) => {
                w.write_all(data)?;
                // flate2's flush is a sync flush (`00 00 ff ff`).
                w.flush()?;
                Ok(std::mem::take(w.get_mut()))
            }
        }
    }
}

/// Where a connection's bytes come from: the socket, or through TLS.
pub type Source = Box<dyn Read + Send>;

/// Wrap `src` in the decompressor, `pending` (bytes already read past the
/// last uncompressed frame) first.
pub fn decompressing(src: Source, pending: Vec<u8>, snappy: bool) -> Source {
    let chained = io::Cursor::new(pending).chain(src);
    if snappy {
        Box::new(snap::read::FrameDecoder::new(chained))
    } else {
        Box::new(Inflater::new(chained))
    }
}

/// A raw DEFLATE reader that returns what the inflater already holds
/// before reading more input (flate2's `read::DeflateDecoder` asks its
/// source first, which blocks on a socket while a highly compressed
/// message is half delivered).
pub struct Inflater<R> {
    src: R,
    d: flate2::Decompress,
    input: Box<[u8]>,
    pos: usize,
    len: usize,
}

impl<R: Read> Inflater<R> {
    /// Inflate what `src` yields.
    pub fn new(src: R) -> Inflater<R> {
        Inflater {
            src,
            d: flate2::Decompress::new(false),
            input: vec![0u8; 64 * 1024].into_boxed_slice(),
            pos: 0,
            len: 0,
        }
    }
}

impl<R: Read> Read for Inflater<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let (in0, out0) = (self.d.total_in(), self.d.total_out());
            let status = self
                .d
                .decompress(
                    &self.input[self.pos..self.len],
                    buf,
                    flate2::FlushDecompress::None,
                )
                .map_err(invalid)?;
            let used = (self.d.total_in() - in0) as usize;
            let made = (self.d.total_out() - out0) as usize;
            self.pos += used;
            if made > 0 {
                return Ok(made);
            }
            if status == flate2::Status::StreamEnd {
                return Ok(0);
            }
            if used > 0 {
                continue;
            }
            // No progress: more input is needed.
            self.input.copy_within(self.pos..self.len, 0);
            self.len -= self.pos;
            self.pos = 0;
            if self.len == self.input.len() {
                return Err(invalid("deflate: no progress"));
            }
            let n = self.src.read(&mut self.input[self.len..])?;
            if n == 0 {
                return Ok(0);
            }
            self.len += n;
        }
    }
}

/// The write side of a connection: compression, TLS, socket.
pub struct WireWriter {
    sock: TcpStream,
    /// The TLS session, once the handshake is done.
    pub tls: Option<SharedTls>,
    /// The compression, once negotiated.
    pub compressor: Option<Compressor>,
}

impl WireWriter {
    /// Plain writes to `sock`.
    pub fn new(sock: TcpStream) -> WireWriter {
        WireWriter {
            sock,
            tls: None,
            compressor: None,
        }
    }

    /// Send `plain` through the negotiated layers.
    pub fn write_all(&mut self, plain: &[u8]) -> io::Result<()> {
        let compressed;
        let data = match self.compressor.as_mut() {
            Some(c) => {
                compressed = c.compress(plain)?;
                &compressed[..]
            }
            None => plain,
        };
        match &self.tls {
            None => self.sock.write_all(data),
            Some(tls) => {
                let mut wire = Vec::with_capacity(data.len() + 64);
                nsq_http_client::tls_encrypt(&mut lock(tls), data, &mut wire)?;
                self.sock.write_all(&wire)
            }
        }
    }

    /// Shut the socket down.
    pub fn shutdown(&self) {
        let _ = self.sock.shutdown(std::net::Shutdown::Both);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressors_round_trip_through_decompressors() {
        let parts: Vec<Vec<u8>> = vec![
            b"OK".to_vec(),
            (0..70_000u32).map(|i| (i % 7) as u8).collect(),
            b"x".repeat(3),
        ];
        for snappy in [true, false] {
            let mut c = if snappy {
                Compressor::snappy()
            } else {
                Compressor::deflate(6)
            };
            let mut wire = Vec::new();
            for p in &parts {
                wire.extend(c.compress(p).unwrap());
            }
            if !snappy {
                assert!(wire.ends_with(&[0, 0, 0xff, 0xff]));
            }
            // Split anywhere between the already-read prefix and the rest.
            let split = 5;
            let rest: Source = Box::new(io::Cursor::new(wire[split..].to_vec()));
            let mut r = decompressing(rest, wire[..split].to_vec(), snappy);
            let mut back = Vec::new();
            r.read_to_end(&mut back).unwrap();
            assert_eq!(back, parts.concat(), "snappy={snappy}");
        }
    }

    /// A source that yields at most `step` bytes per read and fails if
    /// read past its data (a socket would block).
    struct NoMore(io::Cursor<Vec<u8>>, usize);

    impl Read for NoMore {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let step = buf.len().min(self.1);
            match self.0.read(&mut buf[..step])? {
                0 => Err(io::ErrorKind::WouldBlock.into()),
                n => Ok(n),
            }
        }
    }

    #[test]
    fn decompressors_take_any_read_sizes_and_never_over_read() {
        // 70 KB of one byte compresses to a few hundred bytes (sync-flushed
        // in pieces); every byte must come out without reading the source
        // past its end. (The end-to-end deflate round trip ends with such a
        // message: flate2's read::DeflateDecoder stalls on it until the next
        // heartbeat, hence `Inflater`.)
        for len in [70_000, 200_000] {
            let data = vec![b'z'; len];
            for (snappy, level) in [(true, 0), (false, 1), (false, 6), (false, 9)] {
                for step in [1, 7, usize::MAX] {
                    let mut c = if snappy {
                        Compressor::snappy()
                    } else {
                        Compressor::deflate(level)
                    };
                    // Sync-flushed in pieces, as nsqd's output buffer does.
                    let mut wire = Vec::new();
                    for piece in data.chunks(16 * 1024) {
                        wire.extend(c.compress(piece).unwrap());
                    }
                    let src = NoMore(io::Cursor::new(wire), step);
                    let mut r = decompressing(Box::new(src), vec![], snappy);
                    let mut back = Vec::new();
                    let mut chunk = vec![0u8; 64 * 1024];
                    while back.len() < data.len() {
                        let n = r
                            .read(&mut chunk)
                            .unwrap_or_else(|e| panic!("len {len} level {level} step {step}: {e}"));
                        back.extend_from_slice(&chunk[..n]);
                    }
                    assert_eq!(back, data, "snappy={snappy}");
                }
            }
        }
    }
}
