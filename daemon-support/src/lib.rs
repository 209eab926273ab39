//! Process-level plumbing the daemons share, kept out of the pure
//! `nsq-protocol` crate because it reads files and makes system calls:
//! parsing a clap command with Go's flag spellings and the `--config` file
//! ([`cli`]), raising the memlock limit glommio needs ([`memlock`]), and
//! the OS hostname ([`host`]), and listening sockets ([`listen`]).

pub mod cli;
pub mod host;
pub mod listen;
pub mod memlock;

pub use cli::{matches_with_config, ConfigKeys};
pub use host::hostname;
pub use listen::listen;
pub use memlock::raise_memlock;
