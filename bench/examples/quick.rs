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
#![allow(clippy::unwrap_used)]

use nsq_protocol::command::Request;
use nsq_protocol::frame::{decode_frame, Frame};
use nsq_protocol::Decoded;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

fn conn(addr: &str) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_nodelay(true).unwrap();
    s.write_all(b"  V2").unwrap();
    s
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
