//! nsqadmin: the web admin UI (reference part F).
//!
//! Skeleton only: the nsqadmin issue fills this crate. Nothing here runs yet,
//! and no `nsqadmin` binary is built.
