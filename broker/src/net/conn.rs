//! One client connection: the read loop that decodes commands from the read
//! buffer and runs them ([`crate::handler`]), starting and stopping its
//! writer task ([`crate::net::writer`]), and the cleanup on disconnect
//! (docs/protocol.md#connection, #disconnect). Moving to another shard is
//! [`crate::net::handoff`].
//!
//! Per read buffer the loop runs every complete command, then waits for the
//! owners' answers to publishes it forwarded, then reads again: so responses
//! stay in command order (producers depend on it) and a connection never has
//! more than one read buffer of publishes in flight across shards.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};
use glommio::net::TcpStream;
use glommio::task::JoinHandle;
use nsq_protocol::command::decode_command;
use nsq_protocol::frame::encode_error;
use nsq_protocol::identify::{IdentifyRequest, Negotiated};
use nsq_protocol::{ClientError, Decoded, ErrorCode, MAGIC_V2};

use crate::channel::Channel;
use crate::net::affinity::PublishAffinity;
use crate::net::client::Client;
use crate::net::io::{read_into, read_transport, write_all, SharedStream};
use crate::net::owned::{Cmd, Spans};
use crate::publish::Publisher;
use crate::shard::Shard;
use crate::topic::Topic;

/// A producer follows its topic only to an owner shard busy less than this
/// (per mille of its time).
const OWNER_BUSY: u32 = 500;

/// What a producer moving to its topic's shard is assumed to take of it
/// (per mille) until that shard's next load sample: at most two arrive on
/// an idle owner per sample period.
const ARRIVAL_CHARGE: u32 = 250;

/// Output waiting for the writer above which the connection stops reading
/// commands until the client has read some of it.
const MAX_PENDING_OUTPUT: usize = 1 << 20;

/// What the read loop does after a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep going.
    Continue,
    /// Close the connection (after flushing).
    Close,
    /// The connection now lives on another shard.
    HandedOff,
}

/// The channel a connection consumes from.
#[derive(Debug)]
pub(crate) struct Subscription {
    /// Topic name.
    pub(crate) topic_name: String,
    /// Channel name.
    pub(crate) channel_name: String,
    /// The topic (for its backlog).
    pub(crate) topic: Rc<RefCell<Topic>>,
    /// The channel.
    pub(crate) channel: Rc<RefCell<Channel>>,
}

/// A connection on its current shard: its read loop's own state (the
/// state it shares with its channel and writer is in its [`Client`]).
pub(crate) struct Connection {
    /// The shard it runs on.
    pub(crate) shard: Rc<Shard>,
    /// The socket.
    pub(crate) stream: SharedStream,
    /// Shared state (channel delivery, writer, stats).
    pub(crate) client: Rc<Client>,
    /// Bytes read, not yet decoded.
    pub(crate) input: BytesMut,
    /// After SUB.
    pub(crate) sub: Option<Subscription>,
    /// Its publishes and their answers not yet written.
    pub(crate) publisher: Publisher,
    writer: Option<JoinHandle<()>>,
    /// Set once the connection lives on another shard.
    pub(crate) moved: bool,
    /// FIN, REQ or RDY ran since the last dispatch to the channel.
    pub(crate) dispatch_due: bool,
    /// Whether this producer should move to its topic's shard.
    pub(crate) affinity: PublishAffinity,
    /// The time for the current read buffer's commands (read once).
    pub(crate) now: Option<Instant>,
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
pub(crate) async fn serve(shard: Rc<Shard>, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(remote) = stream.peer_addr() else {
        return;
    };
    let id = shard
        .ctx
        .next_client_id
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let stream: SharedStream = Rc::new(RefCell::new(stream));
    let client = Rc::new(Client::new(
        id,
        remote,
        Rc::downgrade(&stream),
        &default_settings(&shard),
    ));
    let mut conn = Connection::new(shard, stream, client, BytesMut::new());
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

impl Connection {
    /// The connection of `client` on `stream`, with `input` read already.
    pub(crate) fn new(
        shard: Rc<Shard>,
        stream: SharedStream,
        client: Rc<Client>,
        input: BytesMut,
    ) -> Connection {
        Connection {
            publisher: Publisher::new(shard.clone(), client.id),
            shard,
            stream,
            client,
            input,
            sub: None,
            writer: None,
            moved: false,
            dispatch_due: false,
            affinity: PublishAffinity::default(),
            now: None,
        }
    }

    /// Register with the shard, apply timeouts and start the writer.
    pub(crate) fn start(&mut self) {
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

    /// Heartbeats and the read deadline (2 x heartbeat,
    /// docs/protocol.md#heartbeats) with the current interval: the shard's
    /// heartbeat clock sends the one and enforces the other.
    pub(crate) fn apply_timeouts(&self) {
        self.shard.heartbeats.watch(&self.client, Instant::now());
    }

    /// Read more input: straight from the socket, or through the
    /// negotiated transport (TLS, compression).
    pub(crate) async fn read_more(&mut self) -> std::io::Result<usize> {
        if !self.client.has_transport() {
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

    pub(crate) async fn run(mut self) {
        self.start();
        if self.command_loop().await == Flow::HandedOff {
            return;
        }
        self.close().await;
    }

    /// The time for this read buffer's commands: one clock read per
    /// buffer, not per command.
    pub(crate) fn now(&mut self) -> Instant {
        *self.now.get_or_insert_with(Instant::now)
    }

    /// Deliver into the room this buffer's FINs, REQs and RDYs made: one
    /// dispatch per read buffer instead of one per command.
    pub(crate) fn dispatch_if_due(&mut self) {
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
                        if self.shard.ctx.tls.required.on_tcp()
                            && !matches!(value, nsq_protocol::command::Command::Identify(_))
                            && !self.client.tls()
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
                    // Not onto an owner that is busy already, nor onto one
                    // that took its share of newcomers since it last
                    // measured itself: many producers of one hot topic stay
                    // spread, their publishes batched by the forwarder.
                    if !self.shard.is_stopping()
                        && self
                            .shard
                            .ctx
                            .shard_load
                            .claim(owner, OWNER_BUSY, ARRIVAL_CHARGE)
                    {
                        crate::log!(
                            Info,
                            "client({}) publishes to shard {owner}'s topics: moving there",
                            self.client.remote
                        );
                        return Box::pin(self.hand_off(owner, None)).await;
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
            if self.input.is_empty() && self.input.capacity() > 0 {
                // Nothing unread: wait for the socket holding no buffer.
                crate::net::buffers::give_input(std::mem::take(&mut self.input));
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
                Ok(_) => {
                    // One clock read per read buffer: this buffer's
                    // commands use it, and the read deadline moves.
                    let now = Instant::now();
                    self.now = Some(now);
                    self.client.read_at(now);
                }
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
                Ok(p) => self.publish(kind, p).await,
                Err(e) => {
                    if !self.drain_pending().await {
                        return Flow::Close;
                    }
                    self.fail(e)
                }
            };
        }
        if self.publisher.has_pending() && !self.drain_pending().await {
            return Flow::Close;
        }
        match cmd {
            // Once per connection, with large futures (the TLS upgrade,
            // the auth call, the handoff): boxed, so the connection's own
            // future stays small while it idles.
            Cmd::Identify(r) => Box::pin(self.identify(r)).await,
            Cmd::Auth(r) => Box::pin(self.auth(r)).await,
            Cmd::Sub(r) => Box::pin(self.sub(r)).await,
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
    pub(crate) fn fail(&self, err: ClientError) -> Flow {
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

    /// Stop the writer after it flushed everything; false if it did not
    /// finish in time (a peer that stopped reading).
    pub(crate) async fn stop_writer(&mut self) -> bool {
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
    pub(crate) async fn close(mut self) {
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
}
