//! nsqadmin against a live local cluster of our nsqlookupd and nsqd
//! (127.0.0.1, kernel-chosen ports): the JSON API's shapes, fan-out,
//! actions, errors and ACL; and every page in headless Chromium (browser.rs).
//!
//! nsqd and nsqlookupd are built by other packages of the workspace:
//! `cargo build --workspace --bins` (scripts/test.sh runs it first).

mod api;
mod browser;
mod extensions;
mod golden;
mod harness;
mod https;
mod scale;
