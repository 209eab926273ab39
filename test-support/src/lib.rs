//! Dev-only helpers shared by the integration tests of broker, lookup,
//! tools and admin-ui: start a real daemon binary on 127.0.0.1 (port 0, the
//! bound addresses read from its `listening on` log lines), wait on events
//! with bounded waits, stop it by PID, temporary directories, free ports,
//! HTTP requests (over `nsq_http_client`), a throwaway PKI for TLS tests, a
//! raw DEFLATE reader and message bodies for transport tests, and the
//! committed test data (`fixtures/`).
//! Each test crate keeps a thin `harness.rs` with its own daemon-specific
//! helpers over this crate.

pub mod bins;
pub mod bodies;
pub mod daemon;
pub mod dirs;
pub mod fixtures;
pub mod http;
pub mod inflate;
pub mod lines;
pub mod net;
pub mod pki;
pub mod process;
pub mod sandbox;
pub mod wait;

pub use bins::sibling_bin;
pub use daemon::{Daemon, Listen};
pub use dirs::{fresh_dir, temp_file, TempDir};
pub use lines::Lines;
pub use net::{dead_addr, free_port};
pub use wait::poll;

/// The default bound of a wait in tests.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);
