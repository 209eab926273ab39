//! A connection's shared state: what the channel needs to deliver to it
//! (RDY window, in-flight count, output buffer) and what the connection's
//! reader and writer tasks share. Shard-local (`Rc`, `Cell`): no locks.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::RawFd;
use std::time::Duration;

use nsq_protocol::api::stats::{ClientStats, PubCount};
use nsq_protocol::frame::{encode_error, encode_response};
use nsq_protocol::ClientError;

use crate::message::Message;
use crate::net::transport::Transport;
use crate::notify::Notify;

/// One client connection as its channel and its tasks see it.
#[derive(Debug)]
pub struct Client {
    /// Process-wide unique connection ID (owner of in-flight messages).
    pub id: u64,
    /// Peer address.
    pub remote: SocketAddr,
    /// The socket, for `shutdown(2)` when the server closes the connection.
    pub fd: Cell<RawFd>,
    out: RefCell<Vec<u8>>,
    /// Wakes the writer task.
    pub writer_wake: Notify,
    /// Signalled by the writer after each write (the reader waits on it
    /// while too much output is pending).
    pub writer_progress: Notify,
    /// Bytes the writer is currently sending.
    pub sending: Cell<usize>,
    /// Last RDY count.
    pub rdy: Cell<u64>,
    /// Messages delivered and not yet finished, requeued or timed out.
    pub in_flight: Cell<u64>,
    /// Messages delivered.
    pub message_count: Cell<u64>,
    /// Messages finished.
    pub finish_count: Cell<u64>,
    /// Messages requeued by REQ.
    pub requeue_count: Cell<u64>,
    /// Negotiated sample rate (0 = off).
    pub sample_rate: Cell<i32>,
    /// In-flight timeout for messages sent here.
    pub msg_timeout: Cell<Duration>,
    /// Heartbeat interval (`None` = disabled).
    pub heartbeat: Cell<Option<Duration>>,
    /// After CLS: no new deliveries.
    pub closing: Cell<bool>,
    /// The connection is gone or being closed: the writer stops.
    pub closed: Cell<bool>,
    /// Flush what is buffered, then stop the writer (close, handoff).
    pub draining: Cell<bool>,
    /// The heartbeat interval changed: restart the ticker.
    pub heartbeat_reset: Cell<bool>,
    rng: Cell<u64>,
    /// Identity shown in stats (remote IP until IDENTIFY).
    pub identity: RefCell<Identity>,
    /// Unix seconds at connect.
    pub connect_ts: Cell<i64>,
    /// State number for stats (docs/protocol.md#states).
    pub state: Cell<i32>,
    /// Messages published per topic (stats `pub_counts`).
    pub pub_counts: RefCell<Vec<(String, u64)>>,
    /// TLS / compression layer, once negotiated (`None`: bytes go to the
    /// socket as they are).
    pub transport: RefCell<Option<Box<Transport>>>,
    /// Whether `transport` is set (checked without a borrow).
    pub has_transport: Cell<bool>,
    /// IDENTIFY is switching the stream: the writer sends nothing, not even
    /// heartbeats, until the upgrade is done.
    pub upgrading: Cell<bool>,
    /// Negotiated features and auth identity, for `/stats`.
    pub features: RefCell<Features>,
}

/// What `/stats` reports about a connection's TLS, compression and auth.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Features {
    /// TLS upgrade done.
    pub tls: bool,
    /// e.g. `TLS1.3`.
    pub tls_version: String,
    /// e.g. `TLS13_AES_128_GCM_SHA256`.
    pub tls_cipher_suite: String,
    /// Snappy on.
    pub snappy: bool,
    /// Deflate on.
    pub deflate: bool,
    /// AUTH succeeded.
    pub authed: bool,
    /// Auth identity.
    pub auth_identity: String,
    /// Auth identity URL.
    pub auth_identity_url: String,
}

/// The identity fields of a connection (docs/protocol.md#client-identity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// IDENTIFY client_id.
    pub client_id: String,
    /// IDENTIFY hostname.
    pub hostname: String,
    /// IDENTIFY user_agent.
    pub user_agent: String,
}

impl Client {
    /// A new client with NSQ's defaults.
    pub fn new(id: u64, remote: SocketAddr, fd: RawFd, msg_timeout: Duration) -> Client {
        Client {
            id,
            remote,
            fd: Cell::new(fd),
            out: RefCell::new(Vec::with_capacity(4096)),
            writer_wake: Notify::default(),
            writer_progress: Notify::default(),
            sending: Cell::new(0),
            rdy: Cell::new(0),
            in_flight: Cell::new(0),
            message_count: Cell::new(0),
            finish_count: Cell::new(0),
            requeue_count: Cell::new(0),
            sample_rate: Cell::new(0),
            msg_timeout: Cell::new(msg_timeout),
            heartbeat: Cell::new(Some(Duration::from_secs(30))),
            closing: Cell::new(false),
            closed: Cell::new(false),
            draining: Cell::new(false),
            heartbeat_reset: Cell::new(false),
            rng: Cell::new(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            identity: RefCell::new(Identity {
                client_id: remote.ip().to_string(),
                hostname: remote.ip().to_string(),
                user_agent: String::new(),
            }),
            connect_ts: Cell::new(crate::shard::wall_clock_ns() / 1_000_000_000),
            state: Cell::new(0),
            pub_counts: RefCell::new(Vec::new()),
            transport: RefCell::new(None),
            has_transport: Cell::new(false),
            upgrading: Cell::new(false),
            features: RefCell::new(Features::default()),
        }
    }

    /// Install (or replace) the transport layer.
    pub fn set_transport(&self, t: Option<Box<Transport>>) {
        self.has_transport.set(t.is_some());
        *self.transport.borrow_mut() = t;
    }

    /// Count `n` messages published to `topic` by this connection.
    pub fn add_pub_count(&self, topic: &str, n: u64) {
        let mut counts = self.pub_counts.borrow_mut();
        // Fast path: the topic published to last.
        if let Some((t, c)) = counts.last_mut() {
            if t == topic {
                *c += n;
                return;
            }
        }
        match counts.iter_mut().find(|(t, _)| t == topic) {
            Some((_, c)) => *c += n,
            None => counts.push((topic.to_string(), n)),
        }
    }

    /// This connection as `/stats` shows it.
    pub fn stats(&self) -> ClientStats {
        let identity = self.identity.borrow();
        let features = self.features.borrow();
        ClientStats {
            client_id: identity.client_id.clone(),
            hostname: identity.hostname.clone(),
            version: "V2".into(),
            remote_address: self.remote.to_string(),
            state: self.state.get(),
            ready_count: self.rdy.get() as i64,
            in_flight_count: self.in_flight.get() as i64,
            message_count: self.message_count.get(),
            finish_count: self.finish_count.get(),
            requeue_count: self.requeue_count.get(),
            connect_ts: self.connect_ts.get(),
            sample_rate: self.sample_rate.get(),
            deflate: features.deflate,
            snappy: features.snappy,
            user_agent: identity.user_agent.clone(),
            authed: features.authed,
            auth_identity: features.auth_identity.clone(),
            auth_identity_url: features.auth_identity_url.clone(),
            pub_counts: self
                .pub_counts
                .borrow()
                .iter()
                .map(|(topic, count)| PubCount {
                    topic: topic.clone(),
                    count: *count,
                })
                .collect(),
            tls: features.tls,
            tls_cipher_suite: features.tls_cipher_suite.clone(),
            tls_version: features.tls_version.clone(),
            tls_negotiated_protocol: String::new(),
            // Go reports true for every TLS connection (the field is deprecated there).
            tls_negotiated_protocol_is_mutual: features.tls,
        }
    }

    /// Whether the channel may deliver one more message here
    /// (docs/protocol.md#flow-control).
    pub fn is_ready(&self) -> bool {
        !self.closing.get() && !self.closed.get() && self.in_flight.get() < self.rdy.get()
    }

    /// Sampling (docs/protocol.md#sampling): true if this message is to be
    /// discarded.
    pub fn sampled_out(&self) -> bool {
        let rate = self.sample_rate.get();
        if rate <= 0 {
            return false;
        }
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        (x % 100) as i32 > rate
    }

    /// Append a message frame and count the delivery.
    pub fn deliver(&self, message: &Message) {
        message.encode_frame(&mut self.out.borrow_mut());
        self.in_flight.set(self.in_flight.get() + 1);
        self.message_count.set(self.message_count.get() + 1);
        self.writer_wake.notify();
    }

    /// Append a response frame.
    pub fn respond(&self, data: &[u8]) {
        encode_response(&mut self.out.borrow_mut(), data);
        self.writer_wake.notify();
    }

    /// Append an error frame.
    pub fn respond_error(&self, err: &ClientError) {
        encode_error(&mut self.out.borrow_mut(), err);
        self.writer_wake.notify();
    }

    /// Swap the pending output into `into` (which must be empty).
    pub fn take_output(&self, into: &mut Vec<u8>) {
        std::mem::swap(&mut *self.out.borrow_mut(), into);
    }

    /// Output not yet written: buffered plus being sent.
    pub fn pending_output(&self) -> usize {
        self.out.borrow().len() + self.sending.get()
    }

    /// Whether output is waiting.
    pub fn has_output(&self) -> bool {
        !self.out.borrow().is_empty()
    }

    /// A message's in-flight entry ended (FIN, REQ, timeout).
    pub fn release_in_flight(&self) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
    }

    /// Close the connection from the server side: stop the writer and make
    /// the reader see EOF.
    pub fn kill(&self) {
        self.closed.set(true);
        self.writer_wake.notify();
        self.writer_progress.notify();
        // SAFETY: shutdown(2) on a descriptor this connection owns; it does
        // not close the descriptor, only ends the TCP stream.
        unsafe {
            libc::shutdown(self.fd.get(), libc::SHUT_RDWR);
        }
    }
}
