//! A shard's inbox loop: the single entry point for other shards (and for
//! the threads that start, query and stop it). Connections placed here or
//! handed over, forwarded publishes and their answers, admin operations,
//! stats, the startup steps and shutdown arrive as [`ShardMsg`]s and are
//! served in arrival order, between the shard's other tasks.
//!
//! After [`ShardMsg::Shutdown`] the loop keeps answering for a bounded
//! time while the connections close and memory goes to disk: stats (the
//! final `nsqd.dat` is built from them) and a clear "exiting" to
//! everything else.

use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::net::handoff::adopt;
use crate::net::spawn_connection;
use crate::shard::mesh::ShardMsg;
use crate::shard::{Context, Shard};

/// A shard's main task: start its timer, forwarder and load sampler, then
/// serve its inbox until shutdown, and stop.
/// `scan` is what the data directory holds for the queues this shard
/// owns, read once at startup.
pub(crate) async fn run(
    id: usize,
    ctx: Arc<Context>,
    inbox: flume::Receiver<ShardMsg>,
    scan: nsq_diskqueue::DirScan,
) {
    let shard = Rc::new(Shard::new(id, ctx.clone()));
    shard.disk.start_with(scan);
    glommio::spawn_local(shard.timers.clone().run()).detach();
    glommio::spawn_local(shard.heartbeats.clone().run()).detach();
    glommio::spawn_local(shard.forwarder.clone().run(ctx.clone())).detach();
    glommio::spawn_local(shard.dead_letter_mover.clone().run(shard.clone())).detach();
    if ctx.mesh.len() > 1 {
        glommio::spawn_local(crate::shard::load::sample(id, ctx.clone())).detach();
    }
    'inbox: while let Ok(first) = inbox.recv_async().await {
        let mut next = Some(first);
        while let Some(msg) = next {
            match msg {
                ShardMsg::Accepted { stream, protocol } => {
                    protocol.serve(shard.clone(), stream.bind_to_executor())
                }
                ShardMsg::Publish {
                    origin,
                    batch,
                    commands,
                } => shard.apply_forwarded(origin, batch, commands),
                ShardMsg::PublishAck { batch, results } => shard.forwarder.on_ack(batch, results),
                ShardMsg::Adopt(handoff) => {
                    spawn_connection(adopt(shard.clone(), *handoff));
                }
                ShardMsg::Admin { op, reply } => {
                    let _ = reply.send(shard.admin(op));
                }
                ShardMsg::Stats { filter, reply } => {
                    let _ = reply.send(shard.stats(&filter));
                }
                ShardMsg::Peek { channel, n, reply } => {
                    let _ = reply.send(shard.peek(&channel, n));
                }
                ShardMsg::DeadLetter(request) => shard.serve_dead_letter(request),
                ShardMsg::Drain(reply) => {
                    let _ = reply.send(shard.drain_status());
                }
                ShardMsg::Ready(reply) => {
                    let shard = shard.clone();
                    glommio::spawn_local(async move {
                        shard.disk.wait_open().await;
                        // Queues opened from now on list the directory
                        // for their own files.
                        shard.disk.end_startup();
                        let _ = reply.send(());
                    })
                    .detach();
                }
                ShardMsg::Listen(listeners) => {
                    for (fd, protocol) in listeners {
                        // SAFETY: `fd` is a bound, listening, non-blocking
                        // socket that boot created and handed to this shard alone.
                        let listener = unsafe {
                            <glommio::net::TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd)
                        };
                        glommio::spawn_local(crate::net::listener::accept_loop(
                            shard.clone(),
                            listener,
                            protocol,
                        ))
                        .detach();
                    }
                }
                ShardMsg::Shutdown => {
                    shard.stop();
                    break 'inbox;
                }
            }
            // Long bursts of cross-shard work must not starve this shard's
            // connections.
            glommio::yield_if_needed().await;
            next = inbox.try_recv().ok();
        }
    }
    // Stopped: let connections close (bounded), and keep answering the
    // inbox meanwhile: stats (the final nsqd.dat is built from them) and a
    // clear "exiting" to everything else.
    let deadline = Instant::now() + Duration::from_secs(2);
    let drain = async {
        while let Ok(msg) = inbox.recv_async().await {
            match msg {
                ShardMsg::Stats { filter, reply } => {
                    let _ = reply.send(shard.stats(&filter));
                }
                ShardMsg::Admin { reply, .. } => {
                    let _ = reply.send(Err(crate::shard::admin::AdminError::Exiting));
                }
                ShardMsg::PublishAck { batch, results } => shard.forwarder.on_ack(batch, results),
                ShardMsg::Publish {
                    origin,
                    batch,
                    commands,
                } => shard.refuse_forwarded(origin, batch, commands),
                _ => {}
            }
        }
    };
    let wait = async {
        while shard.connection_count() > 0 && Instant::now() < deadline {
            futures_lite::future::or(
                glommio::timer::sleep(Duration::from_millis(50)),
                shard.stop_wake.notified(),
            )
            .await;
        }
        // Memory, in-flight and deferred messages to disk.
        shard.flush_to_disk().await;
        // Answer late requests a little longer (the final nsqd.dat).
        glommio::timer::sleep(
            deadline
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(200)),
        )
        .await;
    };
    futures_lite::future::or(wait, drain).await;
}
