//! Accept-and-place: shard 0 accepts every TCP connection and places them
//! round-robin over the shards (with the handful of connections of a typical
//! bench, SO_REUSEPORT's hash split is a coin toss; see the performance
//! guide, 3.7). The listening socket is bound by `boot` without SO_REUSEPORT,
//! so a second nsqd on the same port fails instead of silently sharing it.

use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpListener;

use crate::net::conn::serve;
use crate::shard::mesh::ShardMsg;
use crate::shard::Shard;

/// Accept until the shard stops.
pub async fn accept_loop(shard: Rc<Shard>, listener: TcpListener) {
    let shards = shard.ctx.shards();
    let mut next = 0usize;
    loop {
        let accepted =
            futures_lite::future::or(async { Some(listener.shared_accept().await) }, async {
                shard.accept_stop.notified().await;
                None
            })
            .await;
        if shard.stopping.get() {
            break;
        }
        let Some(accepted) = accepted else { continue };
        match accepted {
            Ok(stream) => {
                let target = next % shards;
                next = next.wrapping_add(1);
                if target == shard.id {
                    crate::boot::spawn_connection(serve(shard.clone(), stream.bind_to_executor()));
                } else if shard.ctx.mesh[target]
                    .send(ShardMsg::Accepted(stream))
                    .is_err()
                {
                    crate::log!(Error, "TCP: shard {target} is gone; connection dropped");
                }
            }
            Err(e) => {
                crate::log!(Error, "TCP: accept error - {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    crate::log!(
        Info,
        "TCP: closing {}",
        listener
            .local_addr()
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
}
