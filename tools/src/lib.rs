//! A small blocking NSQ client library and NSQ's utilities.
//!
//! * [`client`]: consumer (IDENTIFY, SUB, RDY distribution, backoff, max
//!   attempts, lookupd discovery, graceful CLS) and producer (ordered
//!   responses, MPUB, DPUB), configured with go-nsq's option names
//!   (docs/clients.md).
//! * [`httpc`]: a minimal HTTP/1.1 client (lookupd, `/stats`, nsq_to_http).
//! * [`cli`]: what the six binaries share: flag spellings, `--consumer-opt`,
//!   logging, signals.
//! * [`strftime`]: nsq_to_file's `--datetime-format`.
//! * [`upstream`], [`hostpool`], [`timer_metrics`]: `--mode` and
//!   `--status-every` of nsq_to_http and nsq_to_nsq.
//!
//! Everything is plain threads and std `TcpStream`: the tools are I/O-light.

pub mod cli;
pub mod client;
pub mod file_logger;
pub mod hostpool;
pub mod httpc;
pub mod log;
pub mod strftime;
pub mod timer_metrics;
pub mod upstream;

/// The version the tools report (`<tool> v1.3.0`), as NSQ's would.
pub const NSQ_VERSION: &str = "1.3.0";
