//! End-to-end tests of the utilities against the workspace's real `nsqd`
//! and `nsqlookupd` (built by `cargo build --workspace --bins`, which
//! `scripts/test.sh` runs first) on 127.0.0.1 with kernel-chosen ports.

mod client;
mod features;
mod harness;
mod https;
mod log_level;
mod modes;
mod stat;
mod status_every;
mod stdout;
mod tail;
mod to_file;
mod to_http;
mod to_nsq;
mod to_nsq_nsq;
