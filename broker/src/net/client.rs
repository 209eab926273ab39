//! A connection's shared state: what the channel needs to deliver to it
//! (RDY window, in-flight count, output buffer), what the connection's
//! reader and writer tasks share, and what `/stats` shows about it.
//! Shard-local (`Rc`, `Cell`): no locks. Each fact is kept once, here; the
//! connection's read loop ([`crate::net::conn`]) keeps only its own
//! buffers.

use std::cell::{Cell, RefCell};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Weak;
use std::time::Duration;

use glommio::net::TcpStream;
use nsq_protocol::api::stats::{ClientStats, PubCount};
use nsq_protocol::frame::{encode_error, encode_response};
use nsq_protocol::identify::Negotiated;
use nsq_protocol::ClientError;

use crate::auth::AuthSession;
use crate::message::Message;
use crate::net::transport::{Codec, Transport};
use crate::notify::Notify;

/// Connection state (docs/protocol.md#states; the numbers are what /stats
/// reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum State {
    /// After the magic.
    Init = 0,
    /// After SUB.
    Subscribed = 3,
    /// After CLS.
    Closing = 4,
}

/// One client connection as its channel and its tasks see it.
#[derive(Debug)]
pub(crate) struct Client {
    /// Process-wide unique connection ID (owner of in-flight messages).
    pub(crate) id: u64,
    /// Peer address.
    pub(crate) remote: SocketAddr,
    /// The socket, for `shutdown(2)` when the server closes the connection:
    /// weak, so that nothing is done to a descriptor once the connection
    /// has dropped its socket (the number may belong to another one by
    /// then).
    socket: Weak<RefCell<TcpStream>>,
    out: RefCell<Vec<u8>>,
    /// Wakes the writer task.
    pub(crate) writer_wake: Notify,
    /// Signalled by the writer after each write (the reader waits on it
    /// while too much output is pending).
    pub(crate) writer_progress: Notify,
    /// Bytes the writer is currently sending.
    pub(crate) sending: Cell<usize>,
    /// Protocol state.
    pub(crate) state: Cell<State>,
    /// Last RDY count.
    pub(crate) rdy: Cell<u64>,
    /// Messages delivered and not yet finished, requeued or timed out.
    pub(crate) in_flight: Cell<u64>,
    /// Messages delivered.
    pub(crate) message_count: Cell<u64>,
    /// Messages finished.
    pub(crate) finish_count: Cell<u64>,
    /// Messages requeued by REQ.
    pub(crate) requeue_count: Cell<u64>,
    /// Negotiated sample rate (0 = off).
    pub(crate) sample_rate: Cell<i32>,
    /// In-flight timeout for messages sent here.
    pub(crate) msg_timeout: Cell<Duration>,
    /// Heartbeat interval (`None` = disabled).
    pub(crate) heartbeat: Cell<Option<Duration>>,
    /// After CLS: no new deliveries.
    pub(crate) closing: Cell<bool>,
    /// The connection is gone or being closed: the writer stops.
    pub(crate) closed: Cell<bool>,
    /// Flush what is buffered, then stop the writer (close, handoff).
    pub(crate) draining: Cell<bool>,
    /// Its place on the shard's heartbeat clock.
    pub(crate) heartbeat_state: crate::net::heartbeats::HeartbeatState,
    rng: Cell<u64>,
    /// TLS / compression layer, once negotiated (`None`: bytes go to the
    /// socket as they are).
    pub(crate) transport: RefCell<Option<Box<Transport>>>,
    /// Whether `transport` is set (checked without a borrow).
    has_transport: Cell<bool>,
    /// IDENTIFY is switching the stream: the writer sends nothing, not even
    /// heartbeats, until the upgrade is done.
    pub(crate) upgrading: Cell<bool>,
    /// Who the client is, what it negotiated, what it published.
    pub(crate) profile: RefCell<Profile>,
}

/// What a connection says about itself and has negotiated (shown by
/// `/stats`; moves with the connection to another shard).
#[derive(Debug, Clone, Default)]
pub(crate) struct Profile {
    /// Identity fields (docs/protocol.md#client-identity).
    pub(crate) identity: Identity,
    /// Unix seconds at connect.
    pub(crate) connect_ts: i64,
    /// Messages published per topic (stats `pub_counts`).
    pub(crate) pub_counts: Vec<(String, u64)>,
    /// TLS and compression.
    pub(crate) features: Features,
    /// The AUTH answer, when AUTH succeeded.
    pub(crate) auth: Option<AuthSession>,
}

/// What `/stats` reports about a connection's TLS and compression.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// TLS upgrade done.
    pub(crate) tls: bool,
    /// e.g. `TLS1.3`.
    pub(crate) tls_version: String,
    /// e.g. `TLS13_AES_128_GCM_SHA256`.
    pub(crate) tls_cipher_suite: String,
    /// Snappy on.
    pub(crate) snappy: bool,
    /// Deflate on.
    pub(crate) deflate: bool,
}

/// The identity fields of a connection (docs/protocol.md#client-identity).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Identity {
    /// IDENTIFY client_id.
    pub(crate) client_id: String,
    /// IDENTIFY hostname.
    pub(crate) hostname: String,
    /// IDENTIFY user_agent.
    pub(crate) user_agent: String,
}

/// A connection's state that moves with it to another shard (plain data,
/// `Send`): the rest starts afresh there.
#[derive(Debug)]
pub(crate) struct Moving {
    /// Heartbeat interval.
    pub(crate) heartbeat: Option<Duration>,
    /// In-flight timeout.
    pub(crate) msg_timeout: Duration,
    /// Sample rate.
    pub(crate) sample_rate: i32,
    /// TLS session and compression state, if negotiated.
    pub(crate) transport: Option<Box<Transport>>,
    /// Identity, features, publish counts, AUTH.
    pub(crate) profile: Profile,
}

impl Client {
    /// A new client on `socket` with `settings` (NSQ's defaults until
    /// IDENTIFY).
    pub(crate) fn new(
        id: u64,
        remote: SocketAddr,
        socket: Weak<RefCell<TcpStream>>,
        settings: &Negotiated,
    ) -> Client {
        Client::with(
            id,
            remote,
            socket,
            settings.heartbeat_interval,
            settings.msg_timeout,
            settings.sample_rate,
        )
    }

    fn with(
        id: u64,
        remote: SocketAddr,
        socket: Weak<RefCell<TcpStream>>,
        heartbeat: Option<Duration>,
        msg_timeout: Duration,
        sample_rate: i32,
    ) -> Client {
        Client {
            id,
            remote,
            socket,
            out: RefCell::new(Vec::new()),
            writer_wake: Notify::default(),
            writer_progress: Notify::default(),
            sending: Cell::new(0),
            state: Cell::new(State::Init),
            rdy: Cell::new(0),
            in_flight: Cell::new(0),
            message_count: Cell::new(0),
            finish_count: Cell::new(0),
            requeue_count: Cell::new(0),
            sample_rate: Cell::new(sample_rate),
            msg_timeout: Cell::new(msg_timeout),
            heartbeat: Cell::new(heartbeat),
            closing: Cell::new(false),
            closed: Cell::new(false),
            draining: Cell::new(false),
            heartbeat_state: crate::net::heartbeats::HeartbeatState::new(std::time::Instant::now()),
            rng: Cell::new(id.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            transport: RefCell::new(None),
            has_transport: Cell::new(false),
            upgrading: Cell::new(false),
            profile: RefCell::new(Profile {
                identity: Identity {
                    client_id: remote.ip().to_string(),
                    hostname: remote.ip().to_string(),
                    user_agent: String::new(),
                },
                connect_ts: crate::shard::wall_clock_ns() / 1_000_000_000,
                pub_counts: Vec::new(),
                features: Features::default(),
                auth: None,
            }),
        }
    }

    /// A client with no socket (unit tests of delivery).
    #[cfg(test)]
    pub(crate) fn detached(id: u64, msg_timeout: Duration) -> Client {
        let remote = SocketAddr::from(([127, 0, 0, 1], 1));
        Client::with(id, remote, Weak::new(), None, msg_timeout, 0)
    }

    /// The client of a connection that moved here from another shard.
    pub(crate) fn arrived(
        id: u64,
        remote: SocketAddr,
        socket: Weak<RefCell<TcpStream>>,
        moving: Moving,
    ) -> Client {
        let Moving {
            heartbeat,
            msg_timeout,
            sample_rate,
            transport,
            profile,
        } = moving;
        let client = Client::with(id, remote, socket, heartbeat, msg_timeout, sample_rate);
        client.set_transport(transport);
        *client.profile.borrow_mut() = profile;
        client
    }

    /// What moves with the connection to another shard (its transport is
    /// taken: this client sends nothing more).
    pub(crate) fn leave(&self) -> Moving {
        Moving {
            heartbeat: self.heartbeat.get(),
            msg_timeout: self.msg_timeout.get(),
            sample_rate: self.sample_rate.get(),
            transport: self.set_transport(None),
            profile: std::mem::take(&mut *self.profile.borrow_mut()),
        }
    }

    /// Apply what IDENTIFY negotiated.
    pub(crate) fn apply_settings(&self, n: &Negotiated) {
        self.profile.borrow_mut().identity = Identity {
            client_id: n.client_id.clone(),
            hostname: n.hostname.clone(),
            user_agent: n.user_agent.clone(),
        };
        self.sample_rate.set(n.sample_rate);
        self.msg_timeout.set(n.msg_timeout);
        self.heartbeat.set(n.heartbeat_interval);
    }

    /// Install (or remove) the transport layer; returns the one it replaces.
    pub(crate) fn set_transport(&self, t: Option<Box<Transport>>) -> Option<Box<Transport>> {
        self.has_transport.set(t.is_some());
        std::mem::replace(&mut *self.transport.borrow_mut(), t)
    }

    /// Add compression to the transport (creating one without TLS if
    /// there is none).
    pub(crate) fn install_codec(&self, codec: Codec) {
        self.transport
            .borrow_mut()
            .get_or_insert_with(Box::default)
            .codec = Some(codec);
        self.has_transport.set(true);
    }

    /// Whether a transport layer is on (no borrow: checked per read and
    /// per flush).
    pub(crate) fn has_transport(&self) -> bool {
        self.has_transport.get()
    }

    /// Whether the TLS upgrade is done.
    pub(crate) fn tls(&self) -> bool {
        self.profile.borrow().features.tls
    }

    /// Count `n` messages published to `topic` by this connection.
    pub(crate) fn add_pub_count(&self, topic: &str, n: u64) {
        let mut profile = self.profile.borrow_mut();
        let counts = &mut profile.pub_counts;
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
    pub(crate) fn stats(&self) -> ClientStats {
        let profile = self.profile.borrow();
        let Profile {
            identity,
            connect_ts,
            pub_counts,
            features,
            auth,
        } = &*profile;
        let authed = auth.as_ref().is_some_and(|a| a.has_authorizations());
        let (auth_identity, auth_identity_url) = auth.as_ref().map_or_else(Default::default, |a| {
            (a.state.identity.clone(), a.state.identity_url.clone())
        });
        ClientStats {
            client_id: identity.client_id.clone(),
            hostname: identity.hostname.clone(),
            version: "V2".into(),
            remote_address: self.remote.to_string(),
            state: self.state.get() as i32,
            ready_count: self.rdy.get() as i64,
            in_flight_count: self.in_flight.get() as i64,
            message_count: self.message_count.get(),
            finish_count: self.finish_count.get(),
            requeue_count: self.requeue_count.get(),
            connect_ts: *connect_ts,
            sample_rate: self.sample_rate.get(),
            deflate: features.deflate,
            snappy: features.snappy,
            user_agent: identity.user_agent.clone(),
            authed,
            auth_identity,
            auth_identity_url,
            pub_counts: pub_counts
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
    pub(crate) fn is_ready(&self) -> bool {
        !self.closing.get() && !self.closed.get() && self.in_flight.get() < self.rdy.get()
    }

    /// Sampling (docs/protocol.md#sampling): true if this message is to be
    /// discarded.
    pub(crate) fn sampled_out(&self) -> bool {
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
    pub(crate) fn deliver(&self, message: &Message) {
        message.encode_frame(&mut self.out_buffer());
        self.in_flight.set(self.in_flight.get() + 1);
        self.message_count.set(self.message_count.get() + 1);
        self.writer_wake.notify();
    }

    /// Append a response frame.
    pub(crate) fn respond(&self, data: &[u8]) {
        encode_response(&mut self.out_buffer(), data);
        self.writer_wake.notify();
    }

    /// Append an error frame.
    pub(crate) fn respond_error(&self, err: &ClientError) {
        encode_error(&mut self.out_buffer(), err);
        self.writer_wake.notify();
    }

    /// Swap the pending output into `into` (which must be empty).
    pub(crate) fn take_output(&self, into: &mut Vec<u8>) {
        std::mem::swap(&mut *self.out.borrow_mut(), into);
    }

    /// The output buffer to append to, borrowed from the shard's pool
    /// when the client holds none (see [`crate::net::buffers`]).
    fn out_buffer(&self) -> std::cell::RefMut<'_, Vec<u8>> {
        let mut out = self.out.borrow_mut();
        if out.capacity() == 0 {
            *out = crate::net::buffers::take_output();
        }
        out
    }

    /// Give the output buffer back to the pool if it holds nothing.
    pub(crate) fn release_output(&self) {
        let mut out = self.out.borrow_mut();
        if out.is_empty() && out.capacity() > 0 {
            crate::net::buffers::give_output(std::mem::take(&mut *out));
        }
    }

    /// Output not yet written: buffered plus being sent.
    pub(crate) fn pending_output(&self) -> usize {
        self.out.borrow().len() + self.sending.get()
    }

    /// Whether output is waiting.
    pub(crate) fn has_output(&self) -> bool {
        !self.out.borrow().is_empty()
    }

    /// A message's in-flight entry ended (FIN, REQ, timeout).
    pub(crate) fn release_in_flight(&self) {
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
    }

    /// Close the connection from the server side: stop the writer and make
    /// the reader see EOF.
    pub(crate) fn kill(&self) {
        self.closed.set(true);
        self.writer_wake.notify();
        self.writer_progress.notify();
        // Only while the connection still owns its socket: once dropped,
        // its descriptor number may be another connection's. No borrow of
        // the stream spans an `.await`, so it is free here.
        let Some(socket) = self.socket.upgrade() else {
            return;
        };
        let Ok(stream) = socket.try_borrow() else {
            return;
        };
        // SAFETY: shutdown(2) on the descriptor of a socket that is open
        // (held alive by `stream`); it does not close the descriptor, only
        // ends the TCP stream.
        unsafe {
            libc::shutdown(stream.as_raw_fd(), libc::SHUT_RDWR);
        }
    }
}
