//! Accept-and-place: shard 0 accepts every TCP and HTTP connection and
//! places them round-robin over the shards (with the handful of connections
//! of a typical bench, SO_REUSEPORT's hash split is a coin toss: one shard
//! may get them all). The listening sockets are bound by `boot` without
//! SO_REUSEPORT, so a second nsqd on the same port fails instead of silently
//! sharing it.

use std::rc::Rc;
use std::time::Duration;

use glommio::net::{TcpListener, TcpStream};

use crate::net::conn::serve;
use crate::shard::mesh::ShardMsg;
use crate::shard::Shard;

/// Which protocol a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    /// The V2 TCP protocol.
    Tcp,
    /// The HTTP API.
    Http,
    /// The HTTP API over TLS.
    Https,
}

impl Protocol {
    /// Start serving an accepted connection on the current shard.
    pub(crate) fn serve(self, shard: Rc<Shard>, stream: TcpStream) {
        match self {
            Protocol::Tcp => crate::net::spawn_connection(serve(shard, stream)),
            Protocol::Http => crate::net::spawn_connection(crate::http::serve(shard, stream)),
            Protocol::Https => crate::net::spawn_connection(crate::http::serve_tls(shard, stream)),
        }
    }

    /// Name for logs.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Http => "HTTP",
            Protocol::Https => "HTTPS",
        }
    }
}

/// Accept until the shard stops.
pub(crate) async fn accept_loop(shard: Rc<Shard>, listener: TcpListener, protocol: Protocol) {
    let shards = shard.ctx.shards();
    let mut next = 0usize;
    let stop = Rc::new(crate::notify::Notify::default());
    shard.on_stop(stop.clone());
    loop {
        let accepted =
            futures_lite::future::or(async { Some(listener.shared_accept().await) }, async {
                stop.notified().await;
                None
            })
            .await;
        if shard.is_stopping() {
            break;
        }
        let Some(accepted) = accepted else { continue };
        match accepted {
            Ok(stream) => {
                let target = next % shards;
                next = next.wrapping_add(1);
                if target == shard.id {
                    protocol.serve(shard.clone(), stream.bind_to_executor());
                } else if shard.ctx.mesh[target]
                    .send(ShardMsg::Accepted { stream, protocol })
                    .is_err()
                {
                    crate::log!(
                        Error,
                        "{}: shard {target} is gone; connection dropped",
                        protocol.name()
                    );
                }
            }
            Err(e) => {
                crate::log!(Error, "{}: accept error - {e}", protocol.name());
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    let addr = listener
        .local_addr()
        .map(|a| a.to_string())
        .unwrap_or_default();
    crate::log!(Info, "{}: closing {addr}", protocol.name());
}
