//! Black-box tests of the real `nsqlookupd` binary (one test binary). Each
//! module lists what it covers; every server binds 127.0.0.1 port 0.

mod harness;

/// Many concurrent peers churning while /lookup is queried; flags; SIGTERM.
mod churn;
/// The HTTP API: every endpoint, codes, golden JSON, tombstones, router.
mod http;
/// The TCP "  V1" protocol: magic, IDENTIFY, REGISTER/UNREGISTER, exact errors.
mod protocol;
