//! A connection's writer task: flushes the client's output buffer whenever
//! the reader or a channel appended to it (so frames written during one tick
//! go out in one `send`), and sends `_heartbeat_` on a fixed ticker
//! (docs/protocol.md#heartbeats), also while output keeps flowing. The
//! output-buffer timeout of NSQ is only an upper bound; flushing as soon as the
//! tick's work is done is always within it.
//!
//! Write deadline: each flush must complete within one heartbeat
//! interval, or the connection is closed (a consumer that stopped draining).

use std::rc::Rc;
use std::time::Instant;

use nsq_protocol::frame::HEARTBEAT;

use crate::net::client::Client;
use crate::net::io::{write_all, SharedStream};

/// Run until the client is closed, or drained after `draining` is set.
pub(crate) async fn run(stream: SharedStream, client: Rc<Client>) {
    let mut sending: Vec<u8> = Vec::with_capacity(4096);
    // What goes on the wire when a transport (TLS, compression) is on.
    let mut wire: Vec<u8> = Vec::new();
    let mut next_heartbeat: Option<Instant> = None;
    loop {
        if client.heartbeat_reset.replace(false) {
            next_heartbeat = None;
        }
        let interval = client.heartbeat.get();
        if let Some(interval) = interval {
            let at = *next_heartbeat.get_or_insert_with(|| Instant::now() + interval);
            let now = Instant::now();
            if now >= at && !client.closed.get() && !client.upgrading.get() {
                client.respond(HEARTBEAT);
                next_heartbeat = Some(at + interval)
                    .filter(|t| *t > now)
                    .or(Some(now + interval));
            }
        }
        let tls_pending = client.has_transport()
            && client
                .transport
                .borrow()
                .as_ref()
                .is_some_and(|t| t.wants_write());
        if (client.has_output() || tls_pending) && !client.closed.get() && !client.upgrading.get() {
            client.take_output(&mut sending);
            client.sending.set(sending.len().max(1));
            if client.has_transport() {
                wire.clear();
                let encoded = match client.transport.borrow_mut().as_mut() {
                    Some(t) => t
                        .encode(&sending, &mut wire)
                        .and_then(|()| t.flush_tls(&mut wire)),
                    None => {
                        wire.extend_from_slice(&sending);
                        Ok(())
                    }
                };
                if encoded.is_err() {
                    client.kill();
                    break;
                }
                std::mem::swap(&mut sending, &mut wire);
            }
            let written = match interval {
                Some(deadline) => {
                    futures_lite::future::or(
                        async { write_all(&stream, &sending).await.is_ok() },
                        async {
                            glommio::timer::sleep(deadline).await;
                            false
                        },
                    )
                    .await
                }
                None => write_all(&stream, &sending).await.is_ok(),
            };
            client.sending.set(0);
            client.writer_progress.notify();
            if !written {
                client.kill();
                break;
            }
            sending.clear();
            if sending.capacity() > 1 << 20 {
                sending = Vec::with_capacity(4096);
            }
            if wire.capacity() > 1 << 20 {
                wire = Vec::new();
            }
            continue;
        }
        if client.closed.get() || client.draining.get() {
            break;
        }
        match (interval, next_heartbeat) {
            (Some(_), Some(at)) => {
                let wait = at.saturating_duration_since(Instant::now());
                futures_lite::future::or(
                    glommio::timer::sleep(wait),
                    client.writer_wake.notified(),
                )
                .await;
            }
            _ => client.writer_wake.notified().await,
        }
    }
    client.writer_progress.notify();
}
