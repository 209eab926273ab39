//! The consumer (docs/clients.md#consumer-bootstrap, #rdy to #discovery): one
//! reader thread per nsqd connection, a pool of handler threads, a control
//! thread for RDY redistribution and backoff timers, and a lookupd poller.
//!
//! ```text
//! nsqd ──frames──▶ reader thread ──Message──▶ queue ──▶ handler threads
//!   ▲                                                      │ FIN/REQ
//!   └──────── Writer (RDY from the control thread) ◀────────┘
//! ```

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use nsq_protocol::command::Request;
use nsq_protocol::names::{is_valid_channel_name, is_valid_topic_name};
use nsq_protocol::{ErrorCode, MessageId};

use super::backoff::{Action, Backoff, Signal};
use super::conn::{self, OwnedFrame, Writer};
use super::message::{default_requeue_delay, Message, Responder, Response};
use super::rdy::{self, ConnView, Mode, Timeouts};
use super::{lookup, random_u64, Config, Error};
use crate::httpc;
use crate::log::{Level, Source};

/// Handles messages. `Ok` → FIN, `Err` → REQ with backoff, unless the
/// handler called [`Message::disable_auto_response`].
pub trait Handler: Send + Sync + 'static {
    /// Process one message.
    fn handle(&self, msg: &Message) -> Result<(), String>;
    /// A message arrived with more than `max_attempts` attempts; it is
    /// FINed without processing after this call (the consumer has logged
    /// it).
    fn failed(&self, msg: &Message) {
        let _ = msg;
    }
}

impl<F> Handler for F
where
    F: Fn(&Message) -> Result<(), String> + Send + Sync + 'static,
{
    fn handle(&self, msg: &Message) -> Result<(), String> {
        self(msg)
    }
}

/// Counters of a consumer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages received.
    pub received: u64,
    /// FINs sent.
    pub finished: u64,
    /// REQs sent.
    pub requeued: u64,
    /// Connections now.
    pub connections: usize,
}

struct ConnState {
    addr: Arc<str>,
    writer: Writer,
    max_rdy: u64,
    rdy: AtomicU64,
    in_flight: AtomicI64,
    last_msg: Mutex<Instant>,
    rdy_changed: Mutex<Instant>,
    consumer: Weak<Inner>,
    log: Source,
}

impl ConnState {
    fn log(&self, level: Level, s: &str) {
        self.log.log(level, Some(&self.addr), s);
    }
}

impl ConnState {
    fn send_rdy(&self, n: u64) {
        if self.rdy.swap(n, Ordering::AcqRel) != n {
            if let Ok(mut t) = self.rdy_changed.lock() {
                *t = Instant::now();
            }
            self.log(Level::Debug, &format!("sending RDY {n}"));
            if let Err(e) = self.writer.send(&Request::Rdy(n)) {
                self.log(Level::Error, &format!("RDY {n}: {e}"));
            }
        }
    }
}

impl Responder for ConnState {
    fn respond(&self, id: MessageId, attempts: u16, resp: Response) {
        let Some(inner) = self.consumer.upgrade() else {
            return;
        };
        let (req, signal) = match resp {
            Response::Touch => {
                let _ = self.writer.send(&Request::Touch(id));
                return;
            }
            Response::Finish => {
                inner.finished.fetch_add(1, Ordering::Relaxed);
                (Request::Fin(id), Signal::Resume)
            }
            Response::Requeue(delay, backoff) => {
                inner.requeued.fetch_add(1, Ordering::Relaxed);
                let d = delay.unwrap_or_else(|| {
                    default_requeue_delay(
                        inner.cfg.default_requeue_delay,
                        inner.cfg.max_requeue_delay,
                        attempts,
                    )
                });
                let sig = if backoff {
                    Signal::Backoff
                } else {
                    Signal::Continue
                };
                (Request::Req(id, d.as_millis() as u64), sig)
            }
        };
        if let Err(e) = self.writer.send(&req) {
            self.log(Level::Error, &format!("{req:?}: {e}"));
        }
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        inner.on_result(signal);
        inner.changed.notify_all();
    }
}

enum Ctl {
    Wake,
}

struct State {
    conns: Vec<Arc<ConnState>>,
    connecting: HashSet<String>,
    backoff: Backoff,
    backoff_until: Option<Instant>,
}

struct Inner {
    topic: String,
    channel: String,
    log: Source,
    cfg: Config,
    handler: Arc<dyn Handler>,
    state: Mutex<State>,
    changed: Condvar,
    queue: Mutex<Option<Sender<Message>>>,
    ctl: Mutex<Sender<Ctl>>,
    requery_tx: Mutex<Option<Sender<()>>>,
    lookupds: Mutex<Vec<String>>,
    stopping: AtomicBool,
    received: AtomicU64,
    finished: AtomicU64,
    requeued: AtomicU64,
}

/// A consumer of one topic/channel.
pub struct Consumer {
    inner: Arc<Inner>,
}

fn rand01() -> f64 {
    (random_u64() >> 11) as f64 / (1u64 << 53) as f64
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mode(&self, st: &State) -> Mode {
        if self.stopping.load(Ordering::Acquire) {
            Mode::Stopped
        } else if st.backoff_until.is_some_and(|t| t > Instant::now()) {
            Mode::Backoff
        } else if st.backoff.counter > 0 {
            Mode::TestWaters
        } else {
            Mode::Normal
        }
    }

    /// Send every connection the RDY the plan gives it (only changes).
    /// Once stopping, none: CLS already stopped the flow (as go-nsq), and
    /// nsqd may have closed the connection.
    fn update_rdy(&self, st: &State) {
        if self.stopping.load(Ordering::Acquire) {
            return;
        }
        let now = Instant::now();
        let views: Vec<ConnView> = st
            .conns
            .iter()
            .map(|c| ConnView {
                rdy: c.rdy.load(Ordering::Acquire),
                max_rdy: c.max_rdy,
                idle: c
                    .last_msg
                    .lock()
                    .map(|t| now.duration_since(*t))
                    .unwrap_or_default(),
                rdy_age: c
                    .rdy_changed
                    .lock()
                    .map(|t| now.duration_since(*t))
                    .unwrap_or_default(),
            })
            .collect();
        let t = Timeouts {
            idle: self.cfg.low_rdy_idle_timeout,
            held: self.cfg.low_rdy_timeout,
        };
        let plan = rdy::plan(self.cfg.max_in_flight, &views, self.mode(st), t, &mut |n| {
            (random_u64() % n as u64) as usize
        });
        // Lower first so the sum never exceeds max_in_flight.
        for (c, &n) in st.conns.iter().zip(&plan) {
            if n < c.rdy.load(Ordering::Acquire) {
                c.send_rdy(n);
            }
        }
        for (c, &n) in st.conns.iter().zip(&plan) {
            if n > c.rdy.load(Ordering::Acquire) {
                c.send_rdy(n);
            }
        }
    }

    fn on_result(&self, signal: Signal) {
        let mut st = self.lock();
        let in_timeout = st.backoff_until.is_some_and(|t| t > Instant::now());
        match st.backoff.signal(signal, in_timeout, rand01()) {
            Action::None => {}
            Action::Resume => {
                self.log.log(
                    Level::Warn,
                    None,
                    &format!(
                        "exiting backoff, returning all to RDY {}",
                        rdy::per_conn_target(self.cfg.max_in_flight, st.conns.len(), 2500)
                    ),
                );
                st.backoff_until = None;
                self.update_rdy(&st);
            }
            Action::BackoffFor(d) => {
                self.log.log(
                    Level::Warn,
                    None,
                    &format!(
                        "backing off for {d:?} (backoff level {}), setting all to RDY 0",
                        st.backoff.counter
                    ),
                );
                st.backoff_until = Some(Instant::now() + d);
                self.update_rdy(&st);
                self.wake();
            }
        }
    }

    fn wake(&self) {
        if let Ok(tx) = self.ctl.lock() {
            let _ = tx.send(Ctl::Wake);
        }
    }

    fn requery(&self) {
        if let Ok(Some(tx)) = self.requery_tx.lock().as_deref() {
            let _ = tx.send(());
        }
    }

    fn lookup_timeouts(&self) -> httpc::Timeouts {
        httpc::Timeouts {
            connect: self.cfg.dial_timeout.max(Duration::from_secs(1)),
            request: self.cfg.lookupd_poll_timeout,
        }
    }
}

impl Consumer {
    /// A consumer; `concurrency` handler threads (go-nsq's
    /// `AddConcurrentHandlers`).
    pub fn new(
        topic: &str,
        channel: &str,
        cfg: Config,
        handler: Arc<dyn Handler>,
        concurrency: usize,
    ) -> Result<Consumer, Error> {
        if !is_valid_topic_name(topic.as_bytes()) {
            return Err(Error::Config(format!("invalid topic name {topic:?}")));
        }
        if !is_valid_channel_name(channel.as_bytes()) {
            return Err(Error::Config(format!("invalid channel name {channel:?}")));
        }
        let (qtx, qrx) = mpsc::channel::<Message>();
        let (ctx, crx) = mpsc::channel::<Ctl>();
        let inner = Arc::new(Inner {
            topic: topic.to_string(),
            channel: channel.to_string(),
            log: Source::consumer(topic, channel),
            state: Mutex::new(State {
                conns: Vec::new(),
                connecting: HashSet::new(),
                backoff: Backoff::new(
                    cfg.backoff_strategy,
                    cfg.backoff_multiplier,
                    cfg.max_backoff_duration,
                ),
                backoff_until: None,
            }),
            cfg,
            handler,
            changed: Condvar::new(),
            queue: Mutex::new(Some(qtx)),
            ctl: Mutex::new(ctx),
            requery_tx: Mutex::new(None),
            lookupds: Mutex::new(Vec::new()),
            stopping: AtomicBool::new(false),
            received: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            requeued: AtomicU64::new(0),
        });
        let qrx = Arc::new(Mutex::new(qrx));
        for _ in 0..concurrency.max(1) {
            let (inner, qrx) = (Arc::downgrade(&inner), qrx.clone());
            std::thread::spawn(move || handler_loop(inner, qrx));
        }
        let weak = Arc::downgrade(&inner);
        std::thread::spawn(move || control_loop(weak, crx));
        Ok(Consumer { inner })
    }

    /// Connect to one nsqd directly; an error if it cannot be reached (it
    /// is then not retried).
    pub fn connect_to_nsqd(&self, addr: &str) -> Result<(), Error> {
        {
            let mut st = self.inner.lock();
            if st.connecting.contains(addr) || st.conns.iter().any(|c| &*c.addr == addr) {
                return Ok(());
            }
            st.connecting.insert(addr.to_string());
        }
        let r = open(&self.inner, addr);
        self.inner.lock().connecting.remove(addr);
        self.inner.changed.notify_all();
        r
    }

    /// Discover nsqds through this lookupd (polled every
    /// `lookupd_poll_interval`, rotating through all lookupds given).
    pub fn connect_to_lookupd(&self, addr: &str) -> Result<(), Error> {
        lookup::endpoint_url(addr, "/lookup", &[]).map_err(Error::Config)?;
        let first = {
            let mut l = self.inner.lookupds.lock().map_err(|_| Error::Closed)?;
            if l.iter().any(|a| a == addr) {
                return Ok(());
            }
            l.push(addr.to_string());
            l.len() == 1
        };
        if first {
            let weak = Arc::downgrade(&self.inner);
            let (tx, rx) = mpsc::channel();
            std::thread::spawn(move || lookupd_loop(weak, rx));
            if let Ok(mut r) = self.inner.requery_tx.lock() {
                *r = Some(tx);
            }
        }
        Ok(())
    }

    /// Begin a graceful stop: no reconnections, `CLS` on every connection.
    /// In-flight messages can still be answered until the connections close.
    pub fn stop(&self) {
        // Under the state lock, so a connection being opened either sees
        // the flag (and sends CLS itself) or is in the list below.
        let st = self.inner.lock();
        if self.inner.stopping.swap(true, Ordering::AcqRel) {
            return;
        }
        for c in &st.conns {
            if let Err(e) = c.writer.send(&Request::Cls) {
                c.log(Level::Error, &format!("CLS: {e}"));
                c.writer.shutdown();
            }
        }
        drop(st);
        self.inner.wake();
        self.inner.changed.notify_all();
    }

    /// Wait until every connection closed after [`Consumer::stop`]; after
    /// `timeout` the sockets are shut down. True when all closed in time.
    pub fn wait(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut st = self.inner.lock();
        loop {
            if st.conns.is_empty() && st.connecting.is_empty() {
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                for c in &st.conns {
                    c.writer.shutdown();
                }
                return false;
            }
            st = self
                .inner
                .changed
                .wait_timeout(st, left.min(Duration::from_millis(100)))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        drop(st);
        if let Ok(mut q) = self.inner.queue.lock() {
            q.take();
        }
        true
    }

    /// Stop and wait (30 s, as go-nsq).
    pub fn stop_and_wait(&self) -> bool {
        self.stop();
        self.wait(Duration::from_secs(30))
    }

    /// Whether the consumer is stopping.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::Acquire)
    }

    /// Some connection has ≥ 85 % of its RDY in flight.
    pub fn is_starved(&self) -> bool {
        let st = self.inner.lock();
        let v: Vec<(u64, u64)> = st
            .conns
            .iter()
            .map(|c| {
                (
                    c.rdy.load(Ordering::Acquire),
                    c.in_flight.load(Ordering::Acquire).max(0) as u64,
                )
            })
            .collect();
        rdy::is_starved(&v)
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        Stats {
            received: self.inner.received.load(Ordering::Relaxed),
            finished: self.inner.finished.load(Ordering::Relaxed),
            requeued: self.inner.requeued.load(Ordering::Relaxed),
            connections: self.inner.lock().conns.len(),
        }
    }

    /// The RDY each connection has now (address, RDY).
    pub fn rdy_counts(&self) -> Vec<(String, u64)> {
        self.inner
            .lock()
            .conns
            .iter()
            .map(|c| (c.addr.to_string(), c.rdy.load(Ordering::Acquire)))
            .collect()
    }
}

impl Drop for Consumer {
    fn drop(&mut self) {
        self.inner.stopping.store(true, Ordering::Release);
        for c in &self.inner.lock().conns {
            c.writer.shutdown();
        }
    }
}

/// Open, SUB, register, start the reader.
fn open(inner: &Arc<Inner>, addr: &str) -> Result<(), Error> {
    if inner.stopping.load(Ordering::Acquire) {
        return Err(Error::Closed);
    }
    inner.log.log(Level::Info, Some(addr), "connecting to nsqd");
    let (writer, mut reader, neg) = conn::connect(addr, &inner.cfg)?;
    let identify = format!("IDENTIFY response: {}", neg.identify_response);
    inner.log.log(Level::Debug, Some(addr), &identify);
    writer.send(&Request::Sub(&inner.topic, &inner.channel))?;
    match conn::next_non_heartbeat(&mut reader, &writer)? {
        OwnedFrame::Response(r) if r == b"OK" => {}
        OwnedFrame::Error(e) => {
            return Err(Error::Server(String::from_utf8_lossy(&e).into_owned()));
        }
        other => {
            return Err(Error::Protocol(format!(
                "unexpected reply to SUB: {other:?}"
            )))
        }
    }
    let now = Instant::now();
    let c = Arc::new(ConnState {
        addr: addr.into(),
        writer,
        max_rdy: neg.max_rdy_count,
        rdy: AtomicU64::new(0),
        in_flight: AtomicI64::new(0),
        last_msg: Mutex::new(now),
        rdy_changed: Mutex::new(now),
        consumer: Arc::downgrade(inner),
        log: inner.log.clone(),
    });
    {
        let mut st = inner.lock();
        st.conns.push(c.clone());
        inner.update_rdy(&st);
        if inner.stopping.load(Ordering::Acquire) {
            // stop() ran while this connection was opening.
            let _ = c.writer.send(&Request::Cls);
        }
    }
    inner.log.log(Level::Info, Some(addr), "connected");
    let weak = Arc::downgrade(inner);
    std::thread::spawn(move || reader_loop(weak, c, reader));
    Ok(())
}

fn reader_loop(weak: Weak<Inner>, c: Arc<ConnState>, mut reader: conn::FrameReader) {
    let reason = loop {
        let frame = match reader.next_frame() {
            Ok(f) => f,
            Err(e) => break e.to_string(),
        };
        let Some(inner) = weak.upgrade() else {
            return;
        };
        match frame {
            OwnedFrame::Response(r) if r == nsq_protocol::frame::HEARTBEAT => {
                if let Err(e) = c.writer.send(&Request::Nop) {
                    break e.to_string();
                }
            }
            OwnedFrame::Response(r) if r == nsq_protocol::frame::CLOSE_WAIT => {
                // Let handlers answer what is in flight, then close.
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut st = inner.lock();
                while c.in_flight.load(Ordering::Acquire) > 0 && Instant::now() < deadline {
                    st = inner
                        .changed
                        .wait_timeout(st, Duration::from_millis(50))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|p| p.into_inner().0);
                }
                break "closed (CLS)".into();
            }
            OwnedFrame::Response(_) => {}
            OwnedFrame::Error(e) => {
                let text = String::from_utf8_lossy(&e).into_owned();
                c.log(Level::Error, &format!("protocol error - {text}"));
                let code = text.split(' ').next().unwrap_or("");
                let fatal = ErrorCode::ALL
                    .iter()
                    .find(|ec| ec.as_str() == code)
                    .is_none_or(|ec| ec.is_fatal());
                if fatal {
                    break text;
                }
            }
            OwnedFrame::Message(h, body) => {
                c.in_flight.fetch_add(1, Ordering::AcqRel);
                inner.received.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut t) = c.last_msg.lock() {
                    *t = Instant::now();
                }
                let msg = Message::new(h, body, c.addr.clone(), c.clone());
                let max = inner.cfg.max_attempts;
                if max > 0 && msg.attempts > max {
                    inner.log.log(
                        Level::Warn,
                        None,
                        &format!(
                            "msg {} attempted {} times, giving up",
                            String::from_utf8_lossy(&msg.id.to_hex()),
                            msg.attempts
                        ),
                    );
                    inner.handler.failed(&msg);
                    msg.finish();
                    continue;
                }
                let q = inner.queue.lock().ok().and_then(|q| q.clone());
                match q {
                    Some(q) => {
                        if q.send(msg).is_err() {
                            break "handlers gone".into();
                        }
                    }
                    None => msg.requeue_without_backoff(Some(Duration::ZERO)),
                }
            }
        }
    };
    c.writer.shutdown();
    let Some(inner) = weak.upgrade() else {
        return;
    };
    let stopping = inner.stopping.load(Ordering::Acquire);
    {
        let mut st = inner.lock();
        st.conns.retain(|x| !Arc::ptr_eq(x, &c));
        inner.update_rdy(&st);
    }
    inner.changed.notify_all();
    if stopping {
        return;
    }
    c.log(Level::Warn, &format!("connection closed: {reason}"));
    let has_lookupd = inner
        .lookupds
        .lock()
        .map(|l| !l.is_empty())
        .unwrap_or(false);
    if has_lookupd {
        inner.requery();
        return;
    }
    // A direct nsqd: retry every lookupd_poll_interval until it works.
    let addr = c.addr.to_string();
    let interval = inner.cfg.lookupd_poll_interval;
    drop(inner);
    std::thread::spawn(move || loop {
        if !sleep_unless_stopping(&weak, interval) {
            return;
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        match open(&inner, &addr) {
            Ok(()) => return,
            Err(e) => inner
                .log
                .log(Level::Error, Some(&addr), &format!("reconnect failed: {e}")),
        }
    });
}

/// Sleep, waking early (false) when the consumer stops or is dropped.
fn sleep_unless_stopping(weak: &Weak<Inner>, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    loop {
        match weak.upgrade() {
            Some(i) if !i.stopping.load(Ordering::Acquire) => {}
            _ => return false,
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(Duration::from_millis(100)));
    }
}

fn handler_loop(weak: Weak<Inner>, qrx: Arc<Mutex<Receiver<Message>>>) {
    loop {
        let msg = {
            let Ok(rx) = qrx.lock() else {
                return;
            };
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    if weak.strong_count() == 0 {
                        return;
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            }
        };
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let result = inner.handler.handle(&msg);
        if msg.is_auto_response_enabled() && !msg.has_responded() {
            match result {
                Ok(()) => msg.finish(),
                Err(e) => {
                    inner.log.log(
                        Level::Error,
                        None,
                        &format!(
                            "Handler returned error ({e}) for msg {}",
                            String::from_utf8_lossy(&msg.id.to_hex())
                        ),
                    );
                    msg.requeue(None);
                }
            }
        }
    }
}

fn control_loop(weak: Weak<Inner>, rx: Receiver<Ctl>) {
    let mut next_redistribute = Instant::now();
    loop {
        let (timeout, interval) = match weak.upgrade() {
            Some(inner) => {
                let st = inner.lock();
                let interval = inner.cfg.rdy_redistribute_interval;
                let mut t = next_redistribute.saturating_duration_since(Instant::now());
                if let Some(b) = st.backoff_until {
                    t = t.min(b.saturating_duration_since(Instant::now()));
                }
                (t.max(Duration::from_millis(1)), interval)
            }
            None => return,
        };
        match rx.recv_timeout(timeout) {
            Ok(Ctl::Wake) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        let mut st = inner.lock();
        if st.backoff_until.is_some_and(|t| t <= Instant::now()) {
            // The wait is over: test the waters with RDY 1 on one connection.
            st.backoff_until = None;
        }
        if Instant::now() >= next_redistribute {
            next_redistribute = Instant::now() + interval;
        }
        inner.update_rdy(&st);
    }
}

fn lookupd_loop(weak: Weak<Inner>, requery: Receiver<()>) {
    let mut idx = 0usize;
    let mut first = true;
    loop {
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.stopping.load(Ordering::Acquire) {
            return;
        }
        let lookupds = inner.lookupds.lock().map(|l| l.clone()).unwrap_or_default();
        let mut producers = None;
        for _ in 0..lookupds.len().min(3) {
            let addr = &lookupds[idx % lookupds.len()];
            idx += 1;
            let secret = inner
                .cfg
                .auth_secret
                .as_deref()
                .filter(|_| !inner.cfg.skip_lookupd_authorization);
            inner
                .log
                .log(Level::Info, None, &format!("querying nsqlookupd {addr}"));
            match lookup::lookup_with_secret(addr, &inner.topic, inner.lookup_timeouts(), secret) {
                Ok(r) => {
                    producers = Some(r.producers);
                    break;
                }
                Err(e) => inner.log.log(
                    Level::Error,
                    None,
                    &format!("error querying nsqlookupd ({addr}) - {e}"),
                ),
            }
        }
        for p in producers.unwrap_or_default() {
            let addr = lookup::tcp_address(&p);
            let known = {
                let mut st = inner.lock();
                let known =
                    st.connecting.contains(&addr) || st.conns.iter().any(|c| *c.addr == *addr);
                if !known {
                    st.connecting.insert(addr.clone());
                }
                known
            };
            if known {
                continue;
            }
            let w = weak.clone();
            std::thread::spawn(move || {
                let Some(inner) = w.upgrade() else {
                    return;
                };
                if let Err(e) = open(&inner, &addr) {
                    inner.log.log(
                        Level::Error,
                        Some(&addr),
                        &format!("error connecting to nsqd - {e}"),
                    );
                }
                inner.lock().connecting.remove(&addr);
                inner.changed.notify_all();
            });
        }
        let interval = inner.cfg.lookupd_poll_interval;
        let jitter = inner.cfg.lookupd_poll_jitter;
        drop(inner);
        let wait = if first {
            first = false;
            interval + interval.mul_f64(rand01() * jitter)
        } else {
            interval
        };
        let deadline = Instant::now() + wait;
        loop {
            match weak.upgrade() {
                Some(i) if !i.stopping.load(Ordering::Acquire) => {}
                _ => return,
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            match requery.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(()) => break,
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }
}
