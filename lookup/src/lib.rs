//! nsqlookupd: the discovery daemon (reference part E).
//!
//! Skeleton only: the lookupd issue fills this crate (TCP V1 protocol, registry,
//! HTTP API). Nothing here runs yet, and no `nsqlookupd` binary is built.
