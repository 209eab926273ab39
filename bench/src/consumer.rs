//! Consuming workers: SUB + RDY, FIN every message (all FINs of one read
//! go out in one write, as a real client batches them), and the stamp of
//! each body read back for end-to-end latency.
//!
//! One [`Consumer`] is a connection's state; [`run_blocking`] drives one
//! per thread (lowest overhead for the throughput modes), [`run_polled`]
//! drives thousands from one thread with epoll (the `many` mode).

use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;
use nsq_protocol::command::Request;
use nsq_protocol::frame::{Frame, HEARTBEAT};

use crate::body::Stamp;
use crate::clock::now_ns;
use crate::conn::{identify_body, Conn};
use crate::error::{io, BenchError, Result};
use crate::report::{new_histogram, record};
use crate::run::{Counters, Window};

/// How a consumer subscribes.
#[derive(Debug, Clone)]
pub struct SubSpec {
    /// Topic.
    pub topic: String,
    /// Channel.
    pub channel: String,
    /// RDY count.
    pub rdy: u64,
    /// IDENTIFY output buffering: (`output_buffer_size`, `output_buffer_timeout` ms);
    /// no IDENTIFY is sent when both are `None` (broker defaults).
    pub output_buffer: (Option<i64>, Option<i64>),
    /// Record end-to-end latency from the body stamps.
    pub record_e2e: bool,
    /// Initial read buffer in bytes (it grows for larger frames).
    pub read_buffer: usize,
}

/// Read buffer of the throughput and latency consumers.
pub const READ_BUFFER: usize = 256 * 1024;

/// One subscribed connection. Latency goes into a [`ConsumerResult`] the
/// driver owns (one per thread, not per connection: a histogram is
/// ~100 KiB and `many` has thousands of connections).
pub struct Consumer {
    conn: Conn,
    out: Vec<u8>,
    record_e2e: bool,
}

impl Consumer {
    /// Connect, optionally IDENTIFY, SUB and send RDY.
    pub fn subscribe(addr: &str, spec: &SubSpec) -> Result<Consumer> {
        let mut conn = Conn::connect_with_buffer(addr, spec.read_buffer)?;
        if spec.output_buffer.0.is_some() || spec.output_buffer.1.is_some() {
            let body = identify_body(spec.output_buffer.0, spec.output_buffer.1);
            conn.call(&Request::Identify(&body))?;
        }
        conn.call(&Request::Sub(&spec.topic, &spec.channel))?;
        conn.request(&Request::Rdy(spec.rdy))?;
        Ok(Consumer {
            conn,
            out: Vec::with_capacity(64 * 1024),
            record_e2e: spec.record_e2e,
        })
    }

    /// Read once and handle every frame: FIN messages, NOP heartbeats,
    /// count errors. Returns false if the read timed out.
    pub fn on_readable(
        &mut self,
        counters: &Counters,
        window: Window,
        hist: &mut ConsumerResult,
    ) -> Result<bool> {
        let (mut n, mut bytes, mut errors) = (0u64, 0u64, 0u64);
        // Receive time: taken once per read, after it returned.
        let mut now = None;
        let Consumer {
            conn,
            out,
            record_e2e,
        } = self;
        let got = conn.read_frames(|f| {
            match f {
                Frame::Message(h, body) => {
                    Request::Fin(h.id).encode(out);
                    n += 1;
                    bytes += (8 + 26 + body.len()) as u64;
                    if *record_e2e {
                        if let Some(s) = Stamp::read(body) {
                            let now = *now.get_or_insert_with(now_ns);
                            if window.contains(s.intended_ns) {
                                record(&mut hist.e2e, now.saturating_sub(s.intended_ns));
                                record(&mut hist.e2e_from_send, now.saturating_sub(s.sent_ns));
                            }
                        }
                    }
                }
                Frame::Response(d) if d == HEARTBEAT => Request::Nop.encode(out),
                Frame::Response(_) => {}
                Frame::Error(d) => {
                    errors += 1;
                    if errors < 3 {
                        eprintln!("nsq-bench: consumer got {}", String::from_utf8_lossy(d));
                    }
                }
            }
            Ok(())
        })?;
        if !self.out.is_empty() {
            self.conn.send(&self.out)?;
            self.out.clear();
        }
        if n > 0 {
            counters.consumed.fetch_add(n, Ordering::Relaxed);
            counters.sub_wire.fetch_add(bytes, Ordering::Relaxed);
        }
        if errors > 0 {
            counters.errors.fetch_add(errors, Ordering::Relaxed);
        }
        Ok(got)
    }
}

/// Latency histograms of one or more consumers, merged.
pub struct ConsumerResult {
    /// Intended send -> received.
    pub e2e: Histogram<u64>,
    /// Actual send -> received.
    pub e2e_from_send: Histogram<u64>,
}

impl ConsumerResult {
    fn empty() -> ConsumerResult {
        ConsumerResult {
            e2e: new_histogram(),
            e2e_from_send: new_histogram(),
        }
    }

    /// Add another result.
    pub fn merge(&mut self, o: &ConsumerResult) {
        let _ = self.e2e.add(&o.e2e);
        let _ = self.e2e_from_send.add(&o.e2e_from_send);
    }

    /// An empty result to merge into.
    pub fn new() -> ConsumerResult {
        Self::empty()
    }
}

impl Default for ConsumerResult {
    fn default() -> Self {
        Self::empty()
    }
}

/// Drive one consumer on this thread until `stop`.
pub fn run_blocking(
    mut c: Consumer,
    stop: &AtomicBool,
    counters: &Counters,
    window: Window,
) -> Result<ConsumerResult> {
    c.conn.set_read_timeout(Some(Duration::from_millis(50)))?;
    let mut r = ConsumerResult::empty();
    while !stop.load(Ordering::Relaxed) {
        c.on_readable(counters, window, &mut r)?;
    }
    Ok(r)
}

/// Drive many consumers from this thread with epoll until `stop`. Sockets
/// stay blocking: level-triggered readiness guarantees one read each.
pub fn run_polled(
    mut cs: Vec<Consumer>,
    stop: &AtomicBool,
    counters: &Counters,
    window: Window,
) -> Result<ConsumerResult> {
    let ep = Epoll::new()?;
    for (i, c) in cs.iter().enumerate() {
        ep.add(c.conn.stream().as_raw_fd(), i as u64)?;
    }
    let mut ready = Vec::with_capacity(512);
    let mut r = ConsumerResult::empty();
    while !stop.load(Ordering::Relaxed) {
        ep.wait(&mut ready, 100)?;
        for &i in &ready {
            if let Some(c) = cs.get_mut(i as usize) {
                c.on_readable(counters, window, &mut r)?;
            }
        }
    }
    Ok(r)
}

/// A minimal epoll wrapper (level-triggered, read readiness only).
struct Epoll(std::os::fd::OwnedFd);

impl Epoll {
    fn new() -> Result<Epoll> {
        // SAFETY: epoll_create1 takes flags only; the fd is owned below.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io("epoll_create1")(std::io::Error::last_os_error()));
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        Ok(Epoll(unsafe {
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd)
        }))
    }

    fn add(&self, fd: i32, token: u64) -> Result<()> {
        let mut ev = libc::epoll_event {
            events: libc::EPOLLIN as u32,
            u64: token,
        };
        // SAFETY: valid epoll fd, valid socket fd, ev lives across the call.
        let r = unsafe { libc::epoll_ctl(self.0.as_raw_fd(), libc::EPOLL_CTL_ADD, fd, &mut ev) };
        if r < 0 {
            return Err(io("epoll_ctl")(std::io::Error::last_os_error()));
        }
        Ok(())
    }

    fn wait(&self, ready: &mut Vec<u64>, timeout_ms: i32) -> Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 512];
        // SAFETY: evs is a valid buffer of 512 events.
        let n = unsafe {
            libc::epoll_wait(
                self.0.as_raw_fd(),
                evs.as_mut_ptr(),
                evs.len() as i32,
                timeout_ms,
            )
        };
        ready.clear();
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                return Ok(());
            }
            return Err(io("epoll_wait")(e));
        }
        ready.extend(evs[..n as usize].iter().map(|e| e.u64));
        Ok(())
    }
}

/// Join a worker thread, mapping a panic to an error.
pub fn join<T>(h: std::thread::JoinHandle<Result<T>>, what: &'static str) -> Result<T> {
    h.join().map_err(|_| BenchError::Worker(what))?
}
