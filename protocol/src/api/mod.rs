//! JSON shapes of the daemons' HTTP APIs: nsqd's (docs/http-api.md#stats,
//! #info) and nsqlookupd's (docs/lookupd.md#http-api), shared by the daemon
//! that serializes them and the tools that read them (nsqadmin, nsq_stat).

pub mod lookup;
pub mod metrics;
pub mod stats;
pub mod stats_text;
