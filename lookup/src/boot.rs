//! Startup and shutdown: bind both listeners, run everything on one glommio
//! executor, stop on SIGINT/SIGTERM.
//!
//! Why one executor: nsqlookupd's work per request is tiny (a map lookup, a
//! few hundred bytes of JSON), so one core is plenty, and keeping the
//! registry on that one thread means no lock at all between thousands of
//! churning nsqd peers and `/lookup` readers. Each peer is a task (a few KiB
//! of buffers), not a thread, so thousands of idle nsqd connections cost
//! little. glommio traps handled here (performance guide 3.2, 3.7):
//! memlock is raised and io_memory kept small (no file I/O here), and the
//! sockets are bound without SO_REUSEPORT so a port in use is a clear error.

use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::time::Duration;

use glommio::net::TcpListener;
use glommio::{LocalExecutorBuilder, Placement};

use crate::error::LookupError;
use crate::options::{Options, NSQ_VERSION};
use crate::server::Server;
use nsq_daemon_support::{raise_memlock, spawn_connection};

/// io_memory for the executor: glommio registers it on its rings; this
/// process does no DMA file I/O, so the minimum serves.
const IO_MEMORY: usize = 64 * 1024;

/// Bind a listening socket (std: no SO_REUSEPORT), non-blocking.
fn bind(flag: &'static str, addr: &str) -> Result<(i32, SocketAddr), LookupError> {
    let resolved = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .ok_or_else(|| LookupError::Address {
            flag,
            value: addr.to_string(),
        })?;
    nsq_daemon_support::listen(resolved).map_err(|source| LookupError::Listen {
        addr: resolved.to_string(),
        source,
    })
}

/// Which protocol a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tcp,
    Http,
}

/// Run nsqlookupd until SIGINT/SIGTERM.
pub fn run(opts: Options) -> Result<(), LookupError> {
    crate::log::init(opts.log_level, &opts.flags.log_prefix);
    crate::log!(
        Info,
        "nsqlookupd v{NSQ_VERSION} (nsq-rs {})",
        env!("CARGO_PKG_VERSION")
    );
    let memlock = raise_memlock();
    crate::log!(Debug, "memlock limit {memlock} bytes");
    // Before anything listens: without io_uring, say why and exit.
    nsq_daemon_support::uring::probe(IO_MEMORY).map_err(LookupError::Uring)?;

    let (tcp_fd, tcp_local) = bind("tcp-address", &opts.flags.tcp_address)?;
    crate::log!(Info, "TCP: listening on {tcp_local}");
    let (http_fd, http_local) = bind("http-address", &opts.flags.http_address)?;
    crate::log!(Info, "HTTP: listening on {http_local}");

    let (stop_tx, stop_rx) = flume::bounded::<()>(1);
    if let Some(signals) = nsq_daemon_support::signals::catch() {
        nsq_daemon_support::signals::on_shutdown(signals, move || {
            let _ = stop_tx.try_send(());
        });
    }
    let handle = LocalExecutorBuilder::new(Placement::Unbound)
        .name("nsqlookupd")
        .io_memory(IO_MEMORY)
        .spawn(move || async move {
            let server = Rc::new(Server::new(opts, tcp_local.port(), http_local.port()));
            for (fd, protocol) in [(tcp_fd, Protocol::Tcp), (http_fd, Protocol::Http)] {
                // SAFETY: `fd` is a bound, listening, non-blocking socket
                // that `bind` created and handed to this executor alone.
                let listener = unsafe { <TcpListener as std::os::fd::FromRawFd>::from_raw_fd(fd) };
                glommio::spawn_local(accept_loop(server.clone(), listener, protocol)).detach();
            }
            if let Err(e) = nsq_daemon_support::notify_ready() {
                crate::log!(Warn, "sd_notify READY=1 failed - {e}");
            }
            let _ = stop_rx.recv_async().await;
            crate::log!(Info, "TCP: closing {tcp_local}");
            crate::log!(Info, "HTTP: closing {http_local}");
        })
        .map_err(|e| LookupError::Executor(e.to_string()))?;
    // A panic on the executor thread (at start or later) leaves nobody
    // serving: exit non-zero so that a supervisor restarts nsqlookupd.
    if handle.join().is_err() {
        return Err(LookupError::Panicked);
    }
    crate::log!(Info, "exiting");
    Ok(())
}

/// Accept connections forever (the executor's end stops it).
async fn accept_loop(server: Rc<Server>, listener: TcpListener, protocol: Protocol) {
    loop {
        match listener.accept().await {
            Ok(stream) => match protocol {
                Protocol::Tcp => spawn_connection(crate::tcp::serve(server.clone(), stream)),
                Protocol::Http => spawn_connection(crate::http::serve(server.clone(), stream)),
            },
            Err(e) => {
                // Out of file descriptors and the like: back off, go on.
                crate::log!(Error, "accept error - {e}");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}
