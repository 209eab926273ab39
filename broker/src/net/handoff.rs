//! Moving a connection to another shard: after SUB to a topic owned
//! elsewhere (the owner runs the SUB), or a producer following the topic it
//! publishes to ([`crate::net::affinity`]). The writer flushes and stops,
//! the socket is `dup`ed and sent with the unread input and the client's
//! [`Moving`] state as a [`Handoff`] through the owner's inbox; the old
//! descriptor is closed with the old connection, and the owner adopts the
//! new one ([`adopt`]).

use std::cell::RefCell;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd};
use std::rc::Rc;

use bytes::BytesMut;
use glommio::net::TcpStream;

use crate::net::client::{Client, Moving};
use crate::net::conn::{Connection, Flow};
use crate::net::io::SharedStream;
use crate::shard::mesh::ShardMsg;
use crate::shard::Shard;

/// A connection on its way to another shard.
#[derive(Debug)]
pub(crate) struct Handoff {
    /// A duplicate of the socket; the old shard closes its own descriptor.
    fd: OwnedFd,
    /// Bytes read but not yet decoded.
    input: Vec<u8>,
    /// The connection's ID.
    client_id: u64,
    /// Peer address.
    remote: std::net::SocketAddr,
    /// The SUB's topic and channel; `None` for a producer following the
    /// topic it publishes to.
    subscribe: Option<(String, String)>,
    /// Settings, transport and profile.
    moving: Moving,
}

impl Connection {
    /// Move this connection to shard `owner`, which runs the SUB if there
    /// is one.
    pub(crate) async fn hand_off(
        &mut self,
        owner: usize,
        subscribe: Option<(String, String)>,
    ) -> Flow {
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
            subscribe,
            moving: self.client.leave(),
        };
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

/// Take over a connection handed off by another shard: after its SUB, or a
/// producer following its topic.
pub(crate) async fn adopt(shard: Rc<Shard>, handoff: Handoff) {
    let Handoff {
        fd,
        input,
        client_id,
        remote,
        subscribe,
        moving,
    } = handoff;
    // SAFETY: `fd` is a duplicate of a connected TCP socket that this shard
    // now owns exclusively; the sending shard closes its own descriptor.
    let stream = unsafe { TcpStream::from_raw_fd(fd.into_raw_fd()) };
    let stream: SharedStream = Rc::new(RefCell::new(stream));
    let client = Rc::new(Client::arrived(
        client_id,
        remote,
        Rc::downgrade(&stream),
        moving,
    ));
    let mut conn = Connection::new(shard, stream, client, BytesMut::from(&input[..]));
    conn.start();
    if let Some((topic, channel)) = subscribe {
        if conn.subscribe_here(&topic, &channel) == Flow::Close {
            conn.close().await;
            return;
        }
    }
    conn.run().await;
}
