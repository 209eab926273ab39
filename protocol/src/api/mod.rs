//! JSON shapes of the daemons' HTTP APIs: nsqd's (reference B.3, B.4) and
//! nsqlookupd's (E.3), shared by the daemon that serializes them and the
//! tools that read them (nsqadmin, nsq_stat).

pub mod lookup;
pub mod metrics;
pub mod stats;
pub mod stats_text;
