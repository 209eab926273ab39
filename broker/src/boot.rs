//! Startup and shutdown: bind the listener, start one glommio executor per
//! shard, wire their inboxes, and stop them all on SIGINT/SIGTERM.
//!
//! glommio traps handled here: the memlock limit is raised to its hard
//! maximum and io_memory is sized to fit it (a too-small limit otherwise
//! degrades silently); the listening socket is bound without SO_REUSEPORT
//! so a port in use is a clear startup error. Each shard then runs its
//! inbox ([`crate::shard::inbox`]).

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use glommio::{LocalExecutorBuilder, Placement};

use crate::datadir::DataDir;
pub use crate::datadir::{metadata::ParseError, DataDirError};
use crate::net::listener::Protocol;
use crate::options::{Options, NSQ_VERSION};
use crate::shard::mesh::ShardMsg;
use crate::shard::Context;
pub use crate::tls::{CertError, ServerError, TlsError};
use nsq_daemon_support::raise_memlock;

/// Startup failures (exit non-zero with this message,
/// docs/configuration.md#startup-failures).
#[derive(Debug)]
pub enum BootError {
    /// Bad `--tcp-address`.
    Address(String),
    /// Could not listen.
    Listen {
        /// The address.
        address: String,
        /// Why.
        error: std::io::Error,
    },
    /// An executor could not start.
    Executor(String),
    /// The data directory or its metadata.
    DataDir(DataDirError),
    /// TLS configuration (certificates, policy).
    Tls(TlsError),
    /// io_uring cannot run here (seccomp, kernel, locked memory).
    Uring(nsq_daemon_support::UringError),
}

impl std::fmt::Display for BootError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BootError::Address(a) => write!(
                f,
                "invalid --tcp-address {a:?} (want host:port; unix sockets are not supported yet)"
            ),
            BootError::Listen { address, error } => {
                write!(f, "listen ({address}) failed - {error}")
            }
            BootError::Executor(e) => write!(f, "failed to start shard executor - {e}"),
            BootError::DataDir(e) => e.fmt(f),
            BootError::Tls(e) => e.fmt(f),
            BootError::Uring(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for BootError {}

/// io_memory per executor: glommio registers it on 3 rings, charged to
/// memlock for unprivileged users. This build does no DMA file I/O yet, so a
/// small pool is plenty.
fn io_memory_for(memlock: u64, shards: usize) -> usize {
    let want: u64 = 512 * 1024;
    let fits = memlock / (3 * shards as u64 + 1);
    want.min(fits).max(64 * 1024) as usize
}

fn resolve(addr: &str) -> Result<SocketAddr, BootError> {
    addr.to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| BootError::Address(addr.to_string()))
}

/// Bind a listening socket (without SO_REUSEPORT), non-blocking.
fn bind(addr: &str) -> Result<(i32, SocketAddr), BootError> {
    let addr = resolve(addr)?;
    nsq_daemon_support::listen(addr).map_err(|error| BootError::Listen {
        address: addr.to_string(),
        error,
    })
}

/// Run nsqd until SIGINT/SIGTERM.
pub fn run(opts: Options) -> Result<(), BootError> {
    // Caught from the start: a SIGTERM or SIGINT that arrives while the
    // data directory loads waits in `signals` and shuts down cleanly once
    // the shards run, instead of killing the process.
    let signals = nsq_daemon_support::signals::catch_also(&[nsq_daemon_support::signals::SIGUSR1]);
    let level = crate::log::Level::parse(&opts.flags.log_level).unwrap_or(crate::log::Level::Info);
    crate::log::init(level, &opts.flags.log_prefix);
    crate::log!(
        Info,
        "nsqd v{NSQ_VERSION} (nsq-rs {}, {} shards)",
        env!("CARGO_PKG_VERSION"),
        opts.shards
    );
    crate::log!(Info, "ID: {}", opts.node_id);
    for flag in &opts.unsupported {
        crate::log!(Warn, "flag --{flag} is accepted for compatibility but not supported by this build yet; ignored");
    }

    let memlock = raise_memlock();
    let io_memory = io_memory_for(memlock, opts.shards);
    crate::log!(
        Debug,
        "memlock limit {memlock} bytes, io_memory {io_memory} bytes per shard"
    );
    // Before anything listens: a daemon that cannot run its executors says
    // why and exits, instead of accepting connections nobody serves.
    nsq_daemon_support::uring::probe(io_memory).map_err(BootError::Uring)?;

    let tls = crate::tls::build(&opts.flags).map_err(BootError::Tls)?;

    let datadir = Arc::new(DataDir::lock(opts.data_dir()).map_err(BootError::DataDir)?);
    let loaded = datadir.load().map_err(BootError::DataDir)?;
    let mut scans = datadir
        .scan_queues(opts.shards)
        .map_err(BootError::DataDir)?
        .into_iter();

    let (tcp_fd, tcp_local) = bind(&opts.flags.tcp_address)?;
    crate::log!(Info, "TCP: listening on {tcp_local}");
    let mut listeners = vec![(tcp_fd, Protocol::Tcp)];
    let mut http_port = 0;
    if !opts.flags.http_address.is_empty() {
        let (http_fd, http_local) = bind(&opts.flags.http_address)?;
        crate::log!(Info, "HTTP: listening on {http_local}");
        listeners.push((http_fd, Protocol::Http));
        http_port = http_local.port();
    }
    let mut https_port = 0;
    if tls.server.is_some() && !opts.flags.https_address.is_empty() {
        let (https_fd, https_local) = bind(&opts.flags.https_address)?;
        crate::log!(Info, "HTTPS: listening on {https_local}");
        listeners.push((https_fd, Protocol::Https));
        https_port = https_local.port();
    }

    let shards = opts.shards;
    let pin = opts.flags.pin_cores;
    let spin = opts.flags.spin_before_park;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..shards).map(|_| flume::unbounded::<ShardMsg>()).unzip();
    let (metadata_tx, metadata_rx) = flume::bounded(1);
    let (announce_tx, announce_rx) = flume::unbounded();
    let ctx = Arc::new(Context::new(
        opts,
        senders,
        (tcp_local.port(), http_port),
        metadata_tx,
        announce_tx,
        tls,
        https_port,
    ));
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());

    let mut handles = Vec::with_capacity(shards);
    for (i, inbox) in receivers.into_iter().enumerate() {
        let placement = if pin {
            Placement::Fixed(i % cpus)
        } else {
            Placement::Unbound
        };
        let ctx = ctx.clone();
        let scan = scans.next().unwrap_or_default();
        let mut builder = LocalExecutorBuilder::new(placement)
            .name(&format!("shard-{i}"))
            .io_memory(io_memory);
        if !spin.is_zero() {
            builder = builder.spin_before_park(spin);
        }
        let handle = builder
            .spawn(move || crate::shard::inbox::run(i, ctx, inbox, scan))
            .map_err(|e| BootError::Executor(e.to_string()))?;
        // glommio leaks a panicked executor's tasks (nothing is dropped),
        // so the end of a shard is learnt by joining its thread. A shard
        // whose thread panicked (at start or later) leaves its topics and
        // connections dead and no shutdown able to finish: the watcher ends
        // the process at once, whatever the main thread is waiting for, as
        // Go's nsqd dies on a panic in any goroutine, so that a supervisor
        // restarts it.
        let watcher = std::thread::Builder::new()
            .name(format!("shard-{i}-watch"))
            .spawn(move || {
                if handle.join().is_err() {
                    if !nsq_daemon_support::main_exit::claim_fatal_exit() {
                        nsq_daemon_support::main_exit::wait_for_exit();
                    }
                    crate::log!(Fatal, "shard {i} panicked: exiting");
                    std::process::exit(1);
                }
            })
            .map_err(|e| BootError::Executor(e.to_string()))?;
        handles.push(watcher);
    }

    // docs/data-directory.md#startup: recreate the topics and channels of
    // nsqd.dat, persist, and only then start accepting clients.
    if let Some(loaded) = &loaded {
        crate::datadir::apply(&ctx, loaded);
    }
    wait_disk_queues_open(&ctx);
    crate::datadir::persist(&ctx, &datadir, false);
    crate::datadir::spawn_writer(ctx.clone(), datadir.clone(), metadata_rx);
    crate::lookupd::spawn(ctx.clone(), announce_rx);
    let _ = ctx.mesh[0].send(ShardMsg::Listen(listeners));
    {
        let (ctx, datadir) = (ctx.clone(), datadir.clone());
        crate::drain::spawn_monitor(ctx.clone(), move || shut_down(&ctx, &datadir));
    }
    if let Some(signals) = signals {
        spawn_signal_thread(ctx.clone(), datadir, signals);
    }
    if let Err(e) = nsq_daemon_support::notify_ready() {
        crate::log!(Warn, "sd_notify READY=1 failed - {e}");
    }
    crate::statsd::spawn(ctx.clone());
    for h in handles {
        let _ = h.join();
    }
    crate::log!(Info, "TCP: closed; exiting");
    Ok(())
}

/// Every loaded topic's and channel's disk queue is open
/// (its messages counted and deliverable) before clients are accepted.
fn wait_disk_queues_open(ctx: &Context) {
    let replies: Vec<_> = ctx
        .mesh
        .iter()
        .filter_map(|tx| {
            let (reply, rx) = flume::bounded(1);
            tx.send(ShardMsg::Ready(reply)).ok().map(|_| rx)
        })
        .collect();
    for rx in replies {
        let _ = rx.recv();
    }
}

/// docs/data-directory.md#shutdown: stop accepting and close clients
/// first, then persist (the stopped shards still answer the snapshot). A
/// signal, or the end of a drain.
fn shut_down(ctx: &Context, datadir: &DataDir) {
    for tx in &ctx.mesh {
        let _ = tx.send(ShardMsg::Shutdown);
    }
    ctx.announce(crate::lookupd::Announce::Shutdown);
    crate::datadir::persist(ctx, datadir, true);
}

fn spawn_signal_thread(
    ctx: Arc<Context>,
    datadir: Arc<DataDir>,
    signals: signal_hook::iterator::Signals,
) {
    let drain_ctx = ctx.clone();
    nsq_daemon_support::signals::on_signals(
        signals,
        // SIGUSR1: docs/compatibility.md#draining.
        move |_| {
            drain_ctx
                .drain
                .start(&drain_ctx, drain_ctx.opts.flags.drain_timeout);
        },
        move || shut_down(&ctx, &datadir),
    );
}
