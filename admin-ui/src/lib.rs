//! nsqadmin: NSQ's web admin UI and its JSON API (docs/nsqadmin.md),
//! written from scratch: same pages, actions and `/api`, none of NSQ's assets.
//!
//! Where to start: [`boot`] binds the listener; [`server`] serves HTTP on
//! plain threads; [`api`] routes and answers (the JSON API, `/config`,
//! pages); [`cluster`] asks nsqlookupd and nsqd (through [`upstream`],
//! concurrently) and [`model`] sums their `/stats` into nsqadmin's shapes;
//! [`assets`] embeds the front end (`static/`: plain JS modules and CSS).
//!
//! nsqadmin keeps no cluster state: every answer is computed from live
//! upstream queries, and the pages compute rates from successive readings.

pub mod acl;
pub mod api;
pub mod app;
pub mod assets;
pub mod boot;
pub mod cluster;
pub mod config;
pub mod error;
pub mod extensions;
pub use nsq_daemon_support::log;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod options;
pub mod server;
pub mod upstream;

pub use error::AdminError;
