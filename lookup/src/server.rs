//! The state one nsqlookupd process serves from: options, bound ports, the
//! registry and a few counters. Lives on the single executor thread
//! (`Rc`), so no lock guards it; a `RefCell` borrow never spans an `.await`.

use std::cell::{Cell, RefCell};

use crate::options::Options;
use crate::registry::{Lifetimes, PeerId, Registry};

/// Shared by every connection task.
#[derive(Debug)]
pub struct Server {
    /// The options.
    pub opts: Options,
    /// The port TCP peers connect to (as bound).
    pub tcp_port: u16,
    /// The HTTP port (as bound).
    pub http_port: u16,
    /// The registration DB.
    pub registry: RefCell<Registry>,
    /// Open TCP connections.
    pub tcp_connections: Cell<usize>,
    /// Open HTTP connections.
    pub http_connections: Cell<usize>,
    /// Protocol errors sent to peers since start.
    pub protocol_errors: Cell<u64>,
    /// HTTP requests answered since start.
    pub http_requests: Cell<u64>,
    next_peer: Cell<u64>,
}

impl Server {
    /// A server with an empty registry.
    pub fn new(opts: Options, tcp_port: u16, http_port: u16) -> Server {
        let lifetimes = Lifetimes {
            inactive_producer_timeout: opts.flags.inactive_producer_timeout,
            tombstone_lifetime: opts.flags.tombstone_lifetime,
        };
        Server {
            opts,
            tcp_port,
            http_port,
            registry: RefCell::new(Registry::new(lifetimes)),
            tcp_connections: Cell::new(0),
            http_connections: Cell::new(0),
            protocol_errors: Cell::new(0),
            http_requests: Cell::new(0),
            next_peer: Cell::new(0),
        }
    }

    /// A fresh peer ID for a new TCP connection.
    pub fn next_peer_id(&self) -> PeerId {
        let id = self.next_peer.get() + 1;
        self.next_peer.set(id);
        PeerId(id)
    }
}
