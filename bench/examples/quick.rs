//! A quick closed-loop throughput and round-trip probe for any NSQ V2
//! broker, used for the figures in the issue notes until the real `nsq-bench`
//! harness (open loop, HdrHistogram, CPU per message) lands.
//!
//! ```text
//! cargo run --release -p nsq-bench --example quick -- ADDR pub SECS [SIZE] [CONNS]
//!     MPUB of 200 x SIZE-byte bodies per round trip on CONNS connections (bench_writer)
//! cargo run --release -p nsq-bench --example quick -- ADDR sub SECS [SIZE] [CONNS]
//!     SUB sub_bench/ch, RDY 2500, FIN every message (bench_reader)
//! cargo run --release -p nsq-bench --example quick -- ADDR rtt SECS [SIZE]
//!     one PUB at a time on one connection: PUB -> OK percentiles
//! ```
//!
//! `NSQ_FEATURES=tls|snappy|deflate|tls+snappy|tls+deflate` negotiates those
//! upgrades on every connection (IDENTIFY, docs/protocol.md#upgrades); with
//! `tls`, `NSQ_CA=<pem>` is the CA that signed nsqd's certificate (for
//! `localhost`). `NSQ_DEFLATE_LEVEL` (default 6) is the level asked for.
#![allow(clippy::unwrap_used)]

use nsq_protocol::command::Request;
use nsq_protocol::frame::{decode_frame, Frame};
use nsq_protocol::Decoded;
use nsq_test_support::inflate::InflateReader;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A connection, possibly upgraded: commands go out through `w` (flushed
/// after each write), frames come in through `r`.
struct Conn {
    r: Box<dyn Read + Send>,
    w: Box<dyn Write + Send>,
}

impl Conn {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        self.w.write_all(b)?;
        self.w.flush()
    }
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.r.read(b)
    }
}

/// One stream shared by the reading and writing layers.
struct Shared<S>(Arc<std::sync::Mutex<S>>);
impl<S> Clone for Shared<S> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}
impl<S: Read> Read for Shared<S> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().read(b)
    }
}
impl<S: Write> Write for Shared<S> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().write(b)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.0.lock().unwrap().flush()
    }
}

/// TCP or TLS; the TLS session is split into halves by reading with a
/// short timeout so the lock is never held while blocked for long.
struct Duplex {
    tcp: TcpStream,
    tls: Option<rustls::ClientConnection>,
}

impl Read for Duplex {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        match &mut self.tls {
            None => self.tcp.read(b),
            Some(t) => rustls::Stream::new(t, &mut self.tcp).read(b),
        }
    }
}
impl Write for Duplex {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        match &mut self.tls {
            None => self.tcp.write(b),
            Some(t) => rustls::Stream::new(t, &mut self.tcp).write(b),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.tls {
            None => self.tcp.flush(),
            Some(t) => rustls::Stream::new(t, &mut self.tcp).flush(),
        }
    }
}

/// A reader that retries the short read timeouts of [`Duplex`] (so the
/// writer half gets the lock in between).
struct Patient<R>(R);
impl<R: Read> Read for Patient<R> {
    fn read(&mut self, b: &mut [u8]) -> std::io::Result<usize> {
        loop {
            match self.0.read(b) {
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                other => return other,
            }
        }
    }
}

fn read_frame(r: &mut dyn Read) -> Vec<u8> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size).unwrap();
    let mut rest = vec![0u8; u32::from_be_bytes(size) as usize];
    r.read_exact(&mut rest).unwrap();
    rest
}

fn tls_config() -> Arc<rustls::ClientConfig> {
    use rustls::pki_types::pem::PemObject;
    let path = std::env::var("NSQ_CA").expect("NSQ_CA=<CA pem> is needed with tls");
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&path).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    Arc::new(
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth(),
    )
}

fn conn(addr: &str) -> Conn {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(b"  V2").unwrap();
    let features = std::env::var("NSQ_FEATURES").unwrap_or_default();
    if features.is_empty() {
        let r = s.try_clone().unwrap();
        return Conn {
            r: Box::new(r),
            w: Box::new(s),
        };
    }
    let tls = features.contains("tls");
    let snappy = features.contains("snappy");
    let deflate = features.contains("deflate");
    let level: i64 = std::env::var("NSQ_DEFLATE_LEVEL")
        .ok()
        .and_then(|l| l.parse().ok())
        .unwrap_or(6);
    let json = format!(
        r#"{{"feature_negotiation":true,"tls_v1":{tls},"snappy":{snappy},"deflate":{deflate},"deflate_level":{level}}}"#
    );
    let mut out = Vec::new();
    Request::Identify(json.as_bytes()).encode(&mut out);
    s.write_all(&out).unwrap();
    let reply: serde_json::Value = serde_json::from_slice(&read_frame(&mut s)[4..]).unwrap();
    assert_eq!(reply["tls_v1"], tls, "{reply}");
    assert_eq!(reply["snappy"], snappy, "{reply}");
    assert_eq!(reply["deflate"], deflate, "{reply}");
    let mut duplex = Duplex { tcp: s, tls: None };
    if tls {
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        duplex.tls = Some(rustls::ClientConnection::new(tls_config(), name).unwrap());
        assert_eq!(read_frame(&mut duplex), b"\0\0\0\0OK");
    }
    // Reads time out briefly so that a blocked reader lets writes through.
    duplex
        .tcp
        .set_read_timeout(Some(Duration::from_millis(1)))
        .unwrap();
    let shared = Shared(Arc::new(std::sync::Mutex::new(duplex)));
    let raw_r = Patient(shared.clone());
    let (mut r, w): (Box<dyn Read + Send>, Box<dyn Write + Send>) = if snappy {
        (
            Box::new(snap::read::FrameDecoder::new(raw_r)),
            Box::new(snap::write::FrameEncoder::new(shared)),
        )
    } else if deflate {
        (
            Box::new(InflateReader::new(raw_r)),
            Box::new(flate2::write::DeflateEncoder::new(
                shared,
                flate2::Compression::new(level as u32),
            )),
        )
    } else {
        (Box::new(raw_r), Box::new(shared))
    };
    if snappy || deflate {
        assert_eq!(read_frame(&mut r), b"\0\0\0\0OK");
    }
    Conn { r, w }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let addr = args[1].clone();
    let mode = args[2].clone();
    let secs: u64 = args[3].parse().unwrap();
    let size: usize = args.get(4).map(|s| s.parse().unwrap()).unwrap_or(200);
    let conns: usize = args.get(5).map(|s| s.parse().unwrap()).unwrap_or(2);
    if mode == "rtt" {
        let mut s = conn(&addr);
        let body = vec![b'x'; size];
        let mut out = Vec::new();
        Request::Pub("rtt", &body).encode(&mut out);
        let mut buf = [0u8; 64];
        let mut lat = Vec::new();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(secs) {
            let t0 = Instant::now();
            s.write_all(&out).unwrap();
            let mut have = 0;
            while have < 10 {
                have += s.read(&mut buf[have..]).unwrap();
            }
            lat.push(t0.elapsed().as_nanos() as u64);
        }
        let warm = lat.len() / 20;
        let mut l = lat[warm..].to_vec();
        l.sort();
        let p = |q: f64| l[((l.len() as f64 * q) as usize).min(l.len() - 1)] as f64 / 1000.0;
        println!(
            "rtt n={} p50={:.1}us p90={:.1}us p99={:.1}us p99.9={:.1}us max={:.1}us",
            l.len(),
            p(0.5),
            p(0.9),
            p(0.99),
            p(0.999),
            p(1.0)
        );
        return;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut hs = vec![];
    for _ in 0..conns {
        let (addr, stop, count, mode) = (addr.clone(), stop.clone(), count.clone(), mode.clone());
        hs.push(std::thread::spawn(move || {
            let mut s = conn(&addr);
            let mut buf = vec![0u8; 1 << 20];
            let mut have = 0usize;
            if mode == "pub" {
                let body = vec![b'x'; size];
                let bodies: Vec<&[u8]> = (0..200).map(|_| &body[..]).collect();
                let mut out = Vec::new();
                Request::Mpub("sub_bench", &bodies).encode(&mut out);
                while !stop.load(Ordering::Relaxed) {
                    s.write_all(&out).unwrap();
                    loop {
                        let n = s.read(&mut buf[have..]).unwrap();
                        have += n;
                        if let Decoded::Complete { value, consumed } =
                            decode_frame(&buf[..have], 1 << 30).unwrap()
                        {
                            assert_eq!(value, Frame::Response(b"OK"));
                            buf.copy_within(consumed..have, 0);
                            have -= consumed;
                            break;
                        }
                    }
                    count.fetch_add(200, Ordering::Relaxed);
                }
            } else {
                let mut out = Vec::new();
                Request::Sub("sub_bench", "ch").encode(&mut out);
                Request::Rdy(2500).encode(&mut out);
                s.write_all(&out).unwrap();
                let mut fins = Vec::with_capacity(65536);
                while !stop.load(Ordering::Relaxed) {
                    let n = s.read(&mut buf[have..]).unwrap();
                    if n == 0 {
                        break;
                    }
                    have += n;
                    let mut at = 0;
                    let mut c = 0;
                    while let Decoded::Complete { value, consumed } =
                        decode_frame(&buf[at..have], 1 << 30).unwrap()
                    {
                        if let Frame::Message(h, _) = value {
                            Request::Fin(h.id).encode(&mut fins);
                            c += 1;
                        }
                        at += consumed;
                    }
                    buf.copy_within(at..have, 0);
                    have -= at;
                    if !fins.is_empty() {
                        s.write_all(&fins).unwrap();
                        fins.clear();
                    }
                    count.fetch_add(c, Ordering::Relaxed);
                }
            }
        }));
    }
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(secs));
    stop.store(true, Ordering::Relaxed);
    let n = count.load(Ordering::Relaxed);
    let el = t.elapsed().as_secs_f64();
    println!(
        "{mode}: {n} msgs in {el:.2}s = {:.0} msg/s ({:.1} MiB/s bodies)",
        n as f64 / el,
        n as f64 * size as f64 / el / 1048576.0
    );
    std::process::exit(0);
}
