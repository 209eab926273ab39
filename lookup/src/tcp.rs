//! The TCP "  V1" server (docs/lookupd.md#tcp-protocol): one task per nsqd
//! connection.
//!
//! [`Session`] is the connection's protocol state machine over bytes
//! (magic, commands, the IDENTIFY body); it never does I/O, so
//! [`serve`] only moves bytes: read, `Session::process`, write what it
//! answered, repeat. Every protocol error is written and then the
//! connection is closed; closing removes the peer from every registration
//! it was in. Nothing a peer sends can touch another peer's state except
//! through the registry's own rules.

use std::rc::Rc;

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use nsq_protocol::error::ClientError;
use nsq_protocol::lookupd::{
    decode_command, decode_identify_body, encode_response, identify_read_error, IdentifyResponse,
    LineTooLong, LookupCommand, DEFAULT_MAX_IDENTIFY_BODY, MAGIC_V1,
};
use nsq_protocol::Decoded;

use crate::options::{hostname, NSQ_VERSION};
use crate::registry::{PeerId, UnixNanos};
use crate::server::Server;

/// Where a connection is in the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the 4-byte magic.
    Magic,
    /// Waiting for a command line.
    Command,
    /// IDENTIFY read; waiting for its `[size][JSON]` body.
    IdentifyBody,
}

/// One connection's protocol state.
#[derive(Debug)]
pub struct Session {
    peer: PeerId,
    remote: String,
    state: State,
    identified: bool,
}

/// What to do after [`Session::process`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Write the answers, then read more.
    Read,
    /// Write the answers, then close.
    Close,
}

impl Session {
    /// A new connection from `remote` (`ip:port`, NSQ's peer ID).
    pub fn new(peer: PeerId, remote: String) -> Session {
        Session {
            peer,
            remote,
            state: State::Magic,
            identified: false,
        }
    }

    /// Whether IDENTIFY succeeded (so the registry knows this peer).
    pub fn identified(&self) -> bool {
        self.identified
    }

    /// Handle every complete request at the front of `input`, appending the
    /// answers to `out`. Returns the bytes consumed and what to do next.
    pub fn process(
        &mut self,
        input: &[u8],
        out: &mut Vec<u8>,
        server: &Server,
        now: UnixNanos,
    ) -> (usize, Next) {
        let mut at = 0;
        loop {
            let rest = input.get(at..).unwrap_or_default();
            let step = match self.state {
                State::Magic => match rest.first_chunk::<4>() {
                    None => return (at, Next::Read),
                    Some(magic) => {
                        crate::log!(
                            Info,
                            "CLIENT({}): desired protocol magic '{}'",
                            self.remote,
                            String::from_utf8_lossy(magic)
                        );
                        if magic == MAGIC_V1 {
                            self.state = State::Command;
                            Ok(4)
                        } else {
                            encode_response(out, b"E_BAD_PROTOCOL");
                            crate::log!(
                                Error,
                                "client({}) bad protocol magic '{}'",
                                self.remote,
                                String::from_utf8_lossy(magic)
                            );
                            return (at + 4, Next::Close);
                        }
                    }
                },
                State::IdentifyBody => {
                    match decode_identify_body(rest, DEFAULT_MAX_IDENTIFY_BODY) {
                        Decoded::Incomplete => return (at, Next::Read),
                        Decoded::Complete { value, consumed } => {
                            self.state = State::Command;
                            value
                                .map(|req| self.identify(&req, out, server, now))
                                .map(|()| consumed)
                        }
                    }
                }
                State::Command => match decode_command(rest) {
                    Ok(Decoded::Incomplete) => return (at, Next::Read),
                    Err(LineTooLong) => Err(ClientError::invalid("line too long")),
                    Ok(Decoded::Complete { value, consumed }) => {
                        self.command(value, out, server, now).map(|()| consumed)
                    }
                },
            };
            match step {
                Ok(consumed) => at += consumed,
                Err(e) => {
                    crate::log!(Error, "client({}) - {e}", self.remote);
                    server.protocol_errors.set(server.protocol_errors.get() + 1);
                    encode_response(out, e.to_string().as_bytes());
                    return (input.len(), Next::Close);
                }
            }
        }
    }

    /// The peer closed with `pending` unprocessed bytes: NSQ reports an
    /// IDENTIFY body cut short (best effort; the socket may be gone).
    pub fn at_eof(&self, pending: usize, out: &mut Vec<u8>) {
        if self.state == State::IdentifyBody {
            let e = identify_read_error(pending >= 4);
            encode_response(out, e.to_string().as_bytes());
        }
    }

    fn command(
        &mut self,
        cmd: LookupCommand<'_>,
        out: &mut Vec<u8>,
        server: &Server,
        now: UnixNanos,
    ) -> Result<(), ClientError> {
        match cmd {
            LookupCommand::Ping => {
                if self.identified {
                    let last = server.registry.borrow_mut().ping(self.peer, now);
                    if let Some(last) = last {
                        crate::log!(
                            Debug,
                            "CLIENT({}): pinged (last ping {:.3}s ago)",
                            self.remote,
                            (now.0 - last.0) as f64 / 1e9
                        );
                    }
                }
                encode_response(out, b"OK");
            }
            LookupCommand::Identify => {
                if self.identified {
                    return Err(ClientError::invalid("cannot IDENTIFY again"));
                }
                self.state = State::IdentifyBody;
            }
            LookupCommand::Register(params) => {
                self.must_identify()?;
                let tc = params?;
                let added = server
                    .registry
                    .borrow_mut()
                    .register(self.peer, tc.topic, tc.channel);
                for key in added {
                    crate::log!(Info, "DB: client({}) REGISTER {key}", self.remote);
                }
                encode_response(out, b"OK");
            }
            LookupCommand::Unregister(params) => {
                self.must_identify()?;
                let tc = params?;
                let done = server
                    .registry
                    .borrow_mut()
                    .unregister(self.peer, tc.topic, tc.channel);
                for key in &done.unexpected {
                    crate::log!(Warn, "client({}) unexpected UNREGISTER {key}", self.remote);
                }
                for key in &done.removed {
                    crate::log!(Info, "DB: client({}) UNREGISTER {key}", self.remote);
                }
                for key in &done.deleted {
                    crate::log!(Info, "DB: removed ephemeral registration {key}");
                }
                encode_response(out, b"OK");
            }
            LookupCommand::Invalid(e) => return Err(e),
        }
        Ok(())
    }

    fn must_identify(&self) -> Result<(), ClientError> {
        if self.identified {
            Ok(())
        } else {
            Err(ClientError::invalid("client must IDENTIFY"))
        }
    }

    fn identify(
        &mut self,
        req: &nsq_protocol::lookupd::IdentifyRequest,
        out: &mut Vec<u8>,
        server: &Server,
        now: UnixNanos,
    ) {
        crate::log!(
            Info,
            "CLIENT({}): IDENTIFY Address:{} TCP:{} HTTP:{} Version:{}",
            self.remote,
            req.broadcast_address,
            req.tcp_port,
            req.http_port,
            req.version
        );
        if server
            .registry
            .borrow_mut()
            .identify(self.peer, &self.remote, req, now)
        {
            crate::log!(
                Info,
                "DB: client({}) REGISTER category:client key: subkey:",
                self.remote
            );
        }
        self.identified = true;
        let reply = IdentifyResponse {
            broadcast_address: server.opts.broadcast_address.clone(),
            hostname: hostname(),
            http_port: server.http_port,
            tcp_port: server.tcp_port,
            version: NSQ_VERSION.to_string(),
        };
        encode_response(out, &serde_json::to_vec(&reply).unwrap_or_default());
    }
}

/// Bytes read per `read` call.
const READ_CHUNK: usize = 4096;

/// Serve one nsqd connection until it closes or sends bad input.
pub async fn serve(server: Rc<Server>, mut stream: TcpStream) {
    let remote = stream
        .peer_addr()
        .map(|a| a.to_string())
        .unwrap_or_else(|_| "unknown".into());
    crate::log!(Info, "TCP: new client({remote})");
    let _ = stream.set_nodelay(true);
    server.tcp_connections.set(server.tcp_connections.get() + 1);
    let mut session = Session::new(server.next_peer_id(), remote.clone());
    let mut input: Vec<u8> = Vec::new();
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; READ_CHUNK];
    loop {
        let (consumed, next) = session.process(&input, &mut out, &server, UnixNanos::now());
        input.drain(..consumed);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                break;
            }
            out.clear();
        }
        if next == Next::Close {
            break;
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                session.at_eof(input.len(), &mut out);
                if !out.is_empty() {
                    let _ = stream.write_all(&out).await;
                }
                break;
            }
            Ok(n) => input.extend_from_slice(chunk.get(..n).unwrap_or_default()),
        }
        // A chatty peer must not starve the others.
        glommio::yield_if_needed().await;
    }
    crate::log!(Info, "CLIENT({remote}): closing");
    if session.identified() {
        let removed = server.registry.borrow_mut().disconnect(session.peer);
        for key in removed {
            crate::log!(Info, "DB: client({remote}) UNREGISTER {key}");
        }
    }
    server
        .tcp_connections
        .set(server.tcp_connections.get().saturating_sub(1));
    let _ = stream.close().await;
}

#[cfg(test)]
mod tests;
