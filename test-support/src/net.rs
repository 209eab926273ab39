//! Ports for tests: never fixed ones.

use std::net::TcpListener;

/// A free TCP port on `ip` (bound and released: good enough to restart a
/// daemon on the same port).
pub fn free_port(ip: &str) -> u16 {
    TcpListener::bind((ip, 0))
        .expect("bind port 0")
        .local_addr()
        .expect("local address")
        .port()
}

/// `127.0.0.1:<port>` where nobody listens (the port was just released).
pub fn dead_addr() -> String {
    format!("127.0.0.1:{}", free_port("127.0.0.1"))
}
