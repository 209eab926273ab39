//! nsq-bench: the load-testing harness for NSQ-compatible brokers.
//!
//! Skeleton only: the bench issue fills this crate (pub, sub, pubsub, latency,
//! sweep, fanout and many modes). Nothing here runs yet.
