//! JSON shapes of nsqd's HTTP API (reference B.3, B.4), shared by nsqd (which
//! serializes them) and the tools that read them (nsqadmin, nsq_stat).

pub mod metrics;
pub mod stats;
pub mod stats_text;
