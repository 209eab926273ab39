//! nsq-bench: the load-testing harness for NSQ-compatible brokers (ours or
//! Go nsqd), speaking the TCP V2 protocol through `nsq-protocol`'s codecs.
//!
//! Plain threads and blocking sockets: one thread per connection in the
//! throughput and latency modes (no runtime between the socket and the
//! clock), epoll for the thousands of connections of `many`. The bench
//! reports its own CPU next to the broker's so it can be seen not to be the
//! bottleneck.
//!
//! Layout:
//! * [`modes`]: `pub`, `sub`, `pubsub`, `fanout` ([`modes::throughput`]),
//!   `latency`, `sweep` ([`modes::latency`]), `many` ([`modes::many`]).
//! * [`publisher`] / [`consumer`]: the workers; [`conn`]: a minimal V2
//!   client connection.
//! * [`clock`]: the process clock and the open-loop [`clock::Schedule`];
//!   [`body`]: the timestamps carried in each body.
//! * [`run`]: window, counters and the `/proc` [`run::Meter`];
//!   [`procstat`]: `/proc` parsing; [`syscalls`]: the broker's system
//!   calls counted by perf.
//! * [`report`]: figures, JSON and text table; [`svg`]: the sweep plot.
//! * [`error`]: the error type, [`error::BenchError`].
//! * [`chaos`]: the `nsq-chaos` fault-injection harness.

pub mod body;
pub mod chaos;
pub mod clock;
pub mod conn;
pub mod consumer;
pub mod error;
pub mod modes;
pub mod procstat;
pub mod publisher;
pub mod report;
pub mod run;
pub mod svg;
pub mod syscalls;
