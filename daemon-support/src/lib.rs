//! Process-level plumbing the daemons (and the tools) share, kept out of
//! the pure `nsq-protocol` crate because it reads files and makes system
//! calls: parsing a clap command with Go's flag spellings and the
//! `--config` file ([`cli`]), NSQ's log lines on stderr ([`log`]), raising
//! the memlock limit glommio needs ([`memlock`]), the OS hostname
//! ([`host`]), listening sockets ([`listen`]), the startup check that
//! io_uring can run here at all ([`uring`]), how `main` ends on an error or
//! a panic ([`main_exit`]), SIGINT/SIGTERM ([`signals`]), connection tasks
//! that cannot take their executor down ([`task`]), systemd readiness
//! ([`sd_notify`]), the `/ping` health probe behind the `nsq_ping` binary
//! ([`ping`]), and the drain-and-wait of the `nsq_drain` binary ([`drain`]).

pub mod cli;
pub mod drain;
pub mod host;
pub mod listen;
pub mod log;
pub mod main_exit;
pub mod memlock;
pub mod ping;
pub mod sd_notify;
pub mod signals;
pub mod task;
pub mod uring;

pub use cli::{matches_with_config, ConfigKeys};
pub use host::hostname;
pub use listen::listen;
pub use main_exit::{daemon_main, run_or_exit};
pub use memlock::raise_memlock;
pub use sd_notify::notify_ready;
pub use task::spawn_connection;
pub use uring::UringError;
