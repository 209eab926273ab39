//! A connection's writer task: flushes the client's output buffer whenever
//! the reader or a channel appended to it (so frames written during one tick
//! go out in one `send`), and sends `_heartbeat_` on a fixed ticker (A.7).
//! The output-buffer timeout of NSQ is only an upper bound; flushing as soon
//! as the tick's work is done is always within it.

use std::rc::Rc;
use std::time::Instant;

use nsq_protocol::frame::HEARTBEAT;

use crate::net::client::Client;
use crate::net::io::{write_all, SharedStream};

/// Run until the client is closed, or drained after `draining` is set.
pub async fn run(stream: SharedStream, client: Rc<Client>) {
    let mut sending: Vec<u8> = Vec::with_capacity(4096);
    let mut next_heartbeat: Option<Instant> = None;
    loop {
        if client.has_output() && !client.closed.get() {
            client.take_output(&mut sending);
            if write_all(&stream, &sending).await.is_err() {
                client.kill();
                break;
            }
            sending.clear();
            if sending.capacity() > 1 << 20 {
                sending = Vec::with_capacity(4096);
            }
            continue;
        }
        if client.closed.get() || client.draining.get() {
            break;
        }
        if client.heartbeat_reset.replace(false) {
            next_heartbeat = None;
        }
        match client.heartbeat.get() {
            None => client.writer_wake.notified().await,
            Some(interval) => {
                let at = *next_heartbeat.get_or_insert_with(|| Instant::now() + interval);
                let now = Instant::now();
                if now >= at {
                    client.respond(HEARTBEAT);
                    next_heartbeat = Some(at + interval)
                        .filter(|t| *t > now)
                        .or(Some(now + interval));
                } else {
                    futures_lite::future::or(
                        glommio::timer::sleep(at - now),
                        client.writer_wake.notified(),
                    )
                    .await;
                }
            }
        }
    }
}
