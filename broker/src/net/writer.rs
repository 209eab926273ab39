//! A connection's writer task: flushes the client's output buffer whenever
//! the reader, a channel or the shard's heartbeat clock appended to it (so
//! frames written during one tick go out in one `send`). The output-buffer
//! timeout of NSQ is only an upper bound; flushing as soon as the tick's
//! work is done is always within it.
//!
//! Write deadline: a flush that cannot complete at once must complete
//! within one heartbeat interval, or the connection is closed (a consumer
//! that stopped draining). The timer is armed only then: a send that
//! completes in its first attempt, the usual case, arms none.

use std::rc::Rc;
use std::time::Duration;

use crate::net::client::Client;
use crate::net::io::{write_all, SharedStream};

/// Run until the client is closed, or drained after `draining` is set.
pub(crate) async fn run(stream: SharedStream, client: Rc<Client>) {
    // Both buffers are the shard's, lent while there is output
    // (crate::net::buffers): an idle connection holds none.
    let mut sending: Vec<u8> = Vec::new();
    // What goes on the wire when a transport (TLS, compression) is on.
    let mut wire: Vec<u8> = Vec::new();
    loop {
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
            let written = write_within(&stream, &sending, client.heartbeat.get()).await;
            client.sending.set(0);
            client.writer_progress.notify();
            if !written {
                client.kill();
                break;
            }
            sending.clear();
            if !client.has_output() {
                crate::net::buffers::give_output(std::mem::take(&mut sending));
                client.release_output();
            }
            if wire.capacity() > 1 << 20 {
                wire = Vec::new();
            }
            continue;
        }
        if client.closed.get() || client.draining.get() {
            break;
        }
        client.writer_wake.notified().await;
    }
    crate::net::buffers::give_output(sending);
    client.release_output();
    client.writer_progress.notify();
}

/// Write all of `buf`: at once if the socket takes it, else within
/// `deadline` (false when it failed or timed out).
async fn write_within(stream: &SharedStream, buf: &[u8], deadline: Option<Duration>) -> bool {
    let mut write = std::pin::pin!(write_all(stream, buf));
    if let Some(done) = futures_lite::future::poll_once(write.as_mut()).await {
        return done.is_ok();
    }
    match deadline {
        Some(d) => {
            futures_lite::future::or(async { write.await.is_ok() }, async {
                glommio::timer::sleep(d).await;
                false
            })
            .await
        }
        None => write.await.is_ok(),
    }
}
