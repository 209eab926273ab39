//! One client connection: the read loop that decodes commands from the read
//! buffer and runs them, the writer task, the SUB handoff to the owning shard,
//! and the cleanup on disconnect (docs/protocol.md#connection, #disconnect).
//!
//! Per read buffer the loop runs every complete command, then waits for the
//! owners' answers to publishes it forwarded, then reads again: so responses
//! stay in command order (producers depend on it) and a connection never has
//! more than one read buffer of publishes in flight across shards.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use glommio::net::TcpStream;
use glommio::task::JoinHandle;
use nsq_protocol::command::decode_command;
use nsq_protocol::frame::{encode_error, OK};
use nsq_protocol::identify::{IdentifyRequest, Negotiated};
use nsq_protocol::{ClientError, Decoded, ErrorCode, MAGIC_V2};

use crate::channel::Channel;
use crate::net::affinity::PublishAffinity;
use crate::net::client::Client;
use crate::net::io::{read_into, read_transport, write_all, SharedStream};
use crate::net::owned::{Cmd, PubKind, Spans};
use crate::shard::forward::AckSink;
use crate::shard::mesh::{Handoff, ShardMsg};
use crate::shard::Shard;
use crate::topic::{PutError, Topic};

/// A producer follows its topic only to an owner shard busy less than this
/// (per mille of its time).
const OWNER_BUSY: u32 = 500;

/// Output waiting for the writer above which the connection stops reading
/// commands until the client has read some of it.
const MAX_PENDING_OUTPUT: usize = 1 << 20;

/// Connection state (docs/protocol.md#states; the numbers are what /stats
/// reports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// After the magic.
    Init = 0,
    /// After SUB.
    Subscribed = 3,
    /// After CLS.
    Closing = 4,
}

/// What the read loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Keep going.
    Continue,
    /// Close the connection (after flushing).
    Close,
    /// The connection now lives on another shard.
    HandedOff,
}

/// A publish response not yet written, in command order.
#[derive(Debug)]
pub enum Pending {
    /// Answered locally.
    Local(PubKind, Result<(), PutError>),
    /// Forwarded; the answer arrives in the sink under this sequence number.
    /// The topic and message count feed the connection's `pub_counts`.
    Remote(PubKind, u64, bytes::Bytes, usize),
    /// Applied here; answered when this group-commit epoch is on disk.
    Disk(PubKind, u64, bytes::Bytes, usize),
}

/// The channel a connection consumes from.
#[derive(Debug)]
pub struct Subscription {
    /// Topic name.
    pub topic_name: String,
    /// Channel name.
    pub channel_name: String,
    /// The topic (for its backlog).
    pub topic: Rc<RefCell<Topic>>,
    /// The channel.
    pub channel: Rc<RefCell<Channel>>,
}

/// A connection on its current shard.
pub struct Connection {
    /// The shard it runs on.
    pub shard: Rc<Shard>,
    /// The socket.
    pub stream: SharedStream,
    /// Shared state (channel delivery, writer).
    pub client: Rc<Client>,
    /// Bytes read, not yet decoded.
    pub input: BytesMut,
    /// Protocol state.
    pub state: State,
    /// IDENTIFY settings (defaults until IDENTIFY).
    pub settings: Negotiated,
    /// After SUB.
    pub sub: Option<Subscription>,
    /// Publish responses not yet written.
    pub pending: VecDeque<Pending>,
    /// Where forwarded publishes' results arrive.
    pub sink: Rc<AckSink>,
    next_seq: u64,
    /// The owner of the forwarded publishes in `pending`, if any.
    pub pending_remote_owner: Option<usize>,
    /// AUTH result, when auth is on and AUTH was sent.
    pub auth: Option<crate::auth::AuthSession>,
    /// TLS done (for `--tls-required` and the auth server's `tls`).
    pub tls: bool,
    writer: Option<JoinHandle<()>>,
    moved: bool,
    /// FIN, REQ or RDY ran since the last dispatch to the channel.
    pub dispatch_due: bool,
    /// Whether this producer should move to its topic's shard.
    pub affinity: PublishAffinity,
    /// The time for the current read buffer's commands (read once).
    now: Option<Instant>,
}

impl Drop for Connection {
    /// Clean up after a connection task that ended abnormally (a panic):
    /// leave the channel and stop the writer, so the socket is closed and no
    /// message is delivered into a dead buffer. A no-op after `close` or a
    /// handoff.
    fn drop(&mut self) {
        if self.moved {
            return;
        }
        if let Some(sub) = self.sub.take() {
            self.shard.remove_consumer(&sub, self.client.id);
        }
        self.client.closed.set(true);
        self.client.writer_wake.notify();
        self.shard.unregister(self.client.id);
    }
}

fn default_settings(shard: &Shard) -> Negotiated {
    let policy = &shard.ctx.identify;
    nsq_protocol::identify::negotiate(&IdentifyRequest::default(), policy).unwrap_or(Negotiated {
        heartbeat_interval: Some(policy.default_heartbeat_interval),
        output_buffer_size: policy.default_output_buffer_size,
        output_buffer_timeout: policy.default_output_buffer_timeout,
        sample_rate: 0,
        msg_timeout: policy.default_msg_timeout,
        feature_negotiation: false,
        tls_v1: false,
        snappy: false,
        deflate: false,
        deflate_level: 6,
        client_id: String::new(),
        hostname: String::new(),
        user_agent: String::new(),
    })
}

/// The first word of a command line (for the TLS-required error of an
/// unknown command).
fn command_name(input: &[u8]) -> String {
    let end = input
        .iter()
        .position(|&b| b == b' ' || b == b'\n')
        .unwrap_or(input.len());
    let name = &input[..end];
    String::from_utf8_lossy(name.strip_suffix(b"\r").unwrap_or(name)).into_owned()
}

/// Serve a connection accepted on (or placed on) this shard.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(remote) = stream.peer_addr() else {
        return;
    };
    let id = shard
        .ctx
        .next_client_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let settings = default_settings(&shard);
    let client = Rc::new(Client::new(
        id,
        remote,
        stream.as_raw_fd(),
        settings.msg_timeout,
    ));
    let mut conn = Connection::new(
        shard,
        stream,
        client,
        settings,
        BytesMut::with_capacity(4096),
    );
    crate::log!(Info, "TCP: new client({remote})");
    // Magic: exactly "  V2"; anything else gets E_BAD_PROTOCOL and a close.
    while conn.input.len() < 4 {
        match conn.read_more().await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
    if &conn.input[..4] != MAGIC_V2 {
        crate::log!(
            Error,
            "client({remote}) bad protocol magic '{}'",
            String::from_utf8_lossy(&conn.input[..4])
        );
        let mut frame = Vec::new();
        encode_error(&mut frame, &ClientError::new(ErrorCode::BadProtocol, ""));
        let _ = write_all(&conn.stream, &frame).await;
        return;
    }
    conn.input.advance(4);
    conn.run().await;
}

/// Take over a connection handed off by another shard: after its SUB, or a
/// producer following its topic.
pub async fn adopt(shard: Rc<Shard>, handoff: Handoff) {
    let Handoff {
        fd,
        input,
        client_id,
        remote,
        settings,
        subscribe,
        identity,
        connect_ts,
        pub_counts,
        transport,
        auth,
        features,
    } = handoff;
    // SAFETY: `fd` is a duplicate of a connected TCP socket that this shard
    // now owns exclusively; the sending shard closed its own descriptor.
    let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    let client = Rc::new(Client::new(
        client_id,
        remote,
        stream.as_raw_fd(),
        settings.msg_timeout,
    ));
    client.sample_rate.set(settings.sample_rate);
    client.heartbeat.set(settings.heartbeat_interval);
    *client.identity.borrow_mut() = identity;
    client.connect_ts.set(connect_ts);
    *client.pub_counts.borrow_mut() = pub_counts;
    let tls = transport.as_ref().is_some_and(|t| t.tls.is_some());
    client.set_transport(transport);
    *client.features.borrow_mut() = features;
    let mut conn = Connection::new(shard, stream, client, settings, BytesMut::from(&input[..]));
    conn.auth = auth;
    conn.tls = tls;
    conn.start();
    if let Some((topic, channel)) = subscribe {
        if conn.subscribe_here(&topic, &channel) == Flow::Close {
            conn.close().await;
            return;
        }
    }
    conn.run().await;
}

impl Connection {
    fn new(
        shard: Rc<Shard>,
        stream: TcpStream,
        client: Rc<Client>,
        settings: Negotiated,
        input: BytesMut,
    ) -> Connection {
        Connection {
            shard,
            stream: Rc::new(RefCell::new(stream)),
            client,
            input,
            state: State::Init,
            settings,
            sub: None,
            pending: VecDeque::new(),
            sink: Rc::new(AckSink::default()),
            next_seq: 0,
            pending_remote_owner: None,
            auth: None,
            tls: false,
            writer: None,
            moved: false,
            dispatch_due: false,
            affinity: PublishAffinity::default(),
            now: None,
        }
    }

    /// Register with the shard, apply timeouts and start the writer.
    fn start(&mut self) {
        if self.writer.is_some() {
            return;
        }
        self.shard.register(&self.client);
        self.apply_timeouts();
        let task = glommio::spawn_local(crate::net::writer::run(
            self.stream.clone(),
            self.client.clone(),
        ));
        self.writer = Some(task.detach());
    }

    /// Read deadline 2 x heartbeat (docs/protocol.md#heartbeats); the writer
    /// enforces the write deadline per flush.
    pub fn apply_timeouts(&self) {
        let hb = self.settings.heartbeat_interval;
        let stream = self.stream.borrow();
        let _ = stream.set_read_timeout(hb.map(|d| d * 2));
    }

    /// Read more input: straight from the socket, or through the
    /// negotiated transport (TLS, compression).
    pub async fn read_more(&mut self) -> std::io::Result<usize> {
        if !self.client.has_transport.get() {
            return read_into(&self.stream, &self.shard.scratch, &mut self.input).await;
        }
        let n = read_transport(
            &self.stream,
            &self.shard.scratch,
            &self.client.transport,
            &mut self.input,
        )
        .await?;
        // Reading may have produced TLS records to send (alerts, key updates).
        let wants_write = self
            .client
            .transport
            .borrow()
            .as_ref()
            .is_some_and(|t| t.wants_write());
        if wants_write {
            self.client.writer_wake.notify();
        }
        Ok(n)
    }

    async fn run(mut self) {
        self.start();
        if self.command_loop().await == Flow::HandedOff {
            return;
        }
        self.close().await;
    }

    /// The time for this read buffer's commands: one clock read per
    /// buffer, not per command.
    pub fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    /// Deliver into the room this buffer's FINs, REQs and RDYs made: one
    /// dispatch per read buffer instead of one per command.
    pub fn dispatch_if_due(&mut self) {
        if std::mem::take(&mut self.dispatch_due) {
            let now = self.now();
            if let Some(sub) = &self.sub {
                sub.channel.borrow_mut().dispatch(now);
            }
        }
    }

    async fn command_loop(&mut self) -> Flow {
        let flow = self.read_and_run().await;
        // A REQ just before a close still reaches the other consumers.
        self.dispatch_if_due();
        flow
    }

    async fn read_and_run(&mut self) -> Flow {
        loop {
            loop {
                let limits = &self.shard.ctx.limits;
                let (spans, consumed) = match decode_command(&self.input, limits) {
                    Err(e) => {
                        crate::log!(Error, "client({}) {e}", self.client.remote);
                        self.drain_pending().await;
                        return Flow::Close;
                    }
                    Ok(Decoded::Incomplete) => break,
                    Ok(Decoded::Complete { value, consumed }) => {
                        // --tls-required: before the TLS upgrade only IDENTIFY
                        // runs.
                        if !self.tls
                            && self.shard.ctx.tls.required.on_tcp()
                            && !matches!(value, nsq_protocol::command::Command::Identify(_))
                        {
                            let name = match value.name() {
                                "" => command_name(&self.input),
                                known => known.to_string(),
                            };
                            let err = ClientError::invalid(format!(
                                "cannot {name} in current state (TLS required)"
                            ));
                            (Spans::Ready(Cmd::Unknown(err)), consumed)
                        } else {
                            (Spans::of(value, &self.input), consumed)
                        }
                    }
                };
                let cmd = match spans {
                    Spans::Ready(cmd) => {
                        self.input.advance(consumed);
                        cmd
                    }
                    spans => spans.resolve(&self.input.split_to(consumed).freeze()),
                };
                match self.exec(cmd).await {
                    Flow::Continue => {}
                    Flow::Close => {
                        self.drain_pending().await;
                        return Flow::Close;
                    }
                    Flow::HandedOff => return Flow::HandedOff,
                }
                if self.client.closed.get() {
                    return Flow::Close;
                }
            }
            if !self.drain_pending().await {
                return Flow::Close;
            }
            if self.sub.is_none() && self.input.is_empty() {
                if let Some(owner) = self.affinity.end_buffer(self.shard.id) {
                    // Not onto an owner that is busy already: many producers
                    // of one hot topic stay spread, their publishes batched
                    // by the forwarder.
                    let owner_busy = self.shard.ctx.shard_load.get(owner) >= OWNER_BUSY;
                    if !owner_busy && !self.shard.stopping.get() {
                        crate::log!(
                            Info,
                            "client({}) publishes to shard {owner}'s topics: moving there",
                            self.client.remote
                        );
                        return self.hand_off(owner, None).await;
                    }
                }
            }
            if let Some(sub) = &self.sub {
                let mut topic = sub.topic.borrow_mut();
                if topic.has_backlog() {
                    topic.pump(self.now.unwrap_or_else(Instant::now));
                }
            }
            // A client that pipelines without reading its answers waits
            // here instead of growing its output buffer without bound.
            while self.client.pending_output() > MAX_PENDING_OUTPUT && !self.client.closed.get() {
                self.client.writer_progress.notified().await;
            }
            match self.read_more().await {
                Ok(0) => {
                    // The client ended its stream inside a command's body
                    // (a half-close): NSQ answers the short read's error
                    // before it closes, as it reads bodies from the socket.
                    let limits = &self.shard.ctx.limits;
                    if let Some(err) = nsq_protocol::command::decode_at_eof(&self.input, limits) {
                        self.fail(err);
                    }
                    return Flow::Close;
                }
                Ok(_) => self.now = None,
                Err(e) => {
                    if !self.client.closed.get() {
                        crate::log!(Info, "client({}) read error: {e}", self.client.remote);
                    }
                    return Flow::Close;
                }
            }
        }
    }

    /// Run one command.
    async fn exec(&mut self, cmd: Cmd) -> Flow {
        if let Cmd::Publish(kind, result) = cmd {
            return match result {
                Ok(p) => {
                    if self.shard.ctx.auth.is_some() {
                        // The decoder validated the name: ASCII.
                        let topic = std::str::from_utf8(&p.topic).unwrap_or_default();
                        if let Err(e) = self.check_auth(kind.name(), topic, "").await {
                            if !self.drain_pending().await {
                                return Flow::Close;
                            }
                            return self.fail(e);
                        }
                    }
                    self.publish(kind, p).await
                }
                Err(e) => {
                    if !self.drain_pending().await {
                        return Flow::Close;
                    }
                    self.fail(e)
                }
            };
        }
        if self.pending.is_empty() {
            self.pending_remote_owner = None;
        } else if !self.drain_pending().await {
            return Flow::Close;
        }
        match cmd {
            Cmd::Identify(r) => self.identify(r).await,
            Cmd::Auth(r) => self.auth(r).await,
            Cmd::Sub(r) => self.sub(r).await,
            Cmd::Rdy(r) => self.rdy(r),
            Cmd::Fin(r) => self.fin(r),
            Cmd::Req(r) => self.req(r),
            Cmd::Touch(r) => self.touch(r),
            Cmd::Cls => self.cls(),
            Cmd::Nop => Flow::Continue,
            Cmd::Unknown(e) => self.fail(e),
            Cmd::Publish(..) => Flow::Continue,
        }
    }

    /// Send an error frame; fatal errors close the connection.
    pub fn fail(&self, err: ClientError) -> Flow {
        if err.is_fatal() {
            crate::log!(Error, "client({}) - {err}", self.client.remote);
        }
        self.client.respond_error(&err);
        if err.is_fatal() {
            Flow::Close
        } else {
            Flow::Continue
        }
    }

    /// The next sequence number for a forwarded publish.
    pub fn next_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Write the responses of pending publishes in order, waiting for
    /// forwarded ones. False if one failed (the connection must close).
    pub async fn drain_pending(&mut self) -> bool {
        self.dispatch_if_due();
        self.pending_remote_owner = None;
        if !self.pending.is_empty() {
            // Waiting for answers takes time: read the clock again after.
            self.now = None;
        }
        while let Some(p) = self.pending.pop_front() {
            let (kind, result) = match p {
                Pending::Local(kind, r) => (kind, r),
                Pending::Disk(kind, epoch, topic, n) => {
                    let r = self.shard.commit.wait(epoch).await;
                    if r.is_ok() {
                        let name = std::str::from_utf8(&topic).unwrap_or_default();
                        self.client.add_pub_count(name, n as u64);
                    }
                    (kind, r)
                }
                Pending::Remote(kind, seq, topic, n) => loop {
                    if let Some(r) = self.sink.take(seq) {
                        if r.is_ok() {
                            let name = std::str::from_utf8(&topic).unwrap_or_default();
                            self.client.add_pub_count(name, n as u64);
                        }
                        break (kind, r);
                    }
                    self.sink.wake.notified().await;
                },
            };
            if let Err(e) = self.answer_publish(kind, result) {
                self.pending.clear();
                self.fail(e);
                return false;
            }
        }
        true
    }

    /// Write `OK`, or return the publish's `E_*_FAILED` error.
    pub fn answer_publish(
        &self,
        kind: PubKind,
        result: Result<(), PutError>,
    ) -> Result<(), ClientError> {
        match result {
            Ok(()) => {
                self.client.respond(OK);
                Ok(())
            }
            Err(e) => {
                let code = match kind {
                    PubKind::Pub => ErrorCode::PubFailed,
                    PubKind::Mpub => ErrorCode::MpubFailed,
                    PubKind::Dpub => ErrorCode::DpubFailed,
                };
                Err(ClientError::new(
                    code,
                    format!("{} failed {e}", kind.name()),
                ))
            }
        }
    }

    /// Stop the writer after it flushed everything; false if it did not
    /// finish in time (a peer that stopped reading).
    async fn stop_writer(&mut self) -> bool {
        self.client.draining.set(true);
        self.client.writer_wake.notify();
        let Some(writer) = self.writer.take() else {
            return true;
        };
        let finished = futures_lite::future::or(async { writer.await.is_some() }, async {
            glommio::timer::sleep(Duration::from_secs(5)).await;
            false
        })
        .await;
        if !finished {
            // A peer that stopped reading: end the blocked send so the
            // writer exits and the socket and buffers are freed.
            self.client.kill();
        }
        finished
    }

    /// Leave the channel, flush, and close.
    async fn close(mut self) {
        if let Some(sub) = self.sub.take() {
            self.shard.remove_consumer(&sub, self.client.id);
        }
        self.stop_writer().await;
        self.client.closed.set(true);
        self.shard.unregister(self.client.id);
        crate::log!(
            Info,
            "PROTOCOL(V2): [{}] exiting ioloop",
            self.client.remote
        );
    }

    /// Move this connection to shard `owner`, which runs the SUB if there
    /// is one.
    pub async fn hand_off(&mut self, owner: usize, subscribe: Option<(String, String)>) -> Flow {
        if !self.stop_writer().await {
            return Flow::Close;
        }
        let raw = self.stream.borrow().as_raw_fd();
        // SAFETY: dup(2) of the socket this connection owns; the duplicate is
        // owned by the `OwnedFd` and travels to the owner shard.
        let dup = unsafe { libc::fcntl(raw, libc::F_DUPFD_CLOEXEC, 0) };
        if dup < 0 {
            crate::log!(
                Error,
                "client({}) handoff dup failed: {}",
                self.client.remote,
                std::io::Error::last_os_error()
            );
            return Flow::Close;
        }
        // SAFETY: `dup` is a fresh descriptor nobody else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(dup) };
        let handoff = Handoff {
            fd,
            input: self.input.split().to_vec(),
            client_id: self.client.id,
            remote: self.client.remote,
            settings: self.settings.clone(),
            subscribe,
            identity: self.client.identity.borrow().clone(),
            connect_ts: self.client.connect_ts.get(),
            pub_counts: self.client.pub_counts.borrow().clone(),
            transport: self.client.transport.borrow_mut().take(),
            auth: self.auth.take(),
            features: self.client.features.borrow().clone(),
        };
        self.client.has_transport.set(false);
        self.shard.unregister(self.client.id);
        if self.shard.ctx.mesh[owner]
            .send(ShardMsg::Adopt(Box::new(handoff)))
            .is_err()
        {
            return Flow::Close;
        }
        self.moved = true;
        Flow::HandedOff
    }
}
