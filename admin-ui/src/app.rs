//! The state one nsqadmin process serves from: the options, the lookupd
//! list (`PUT /config/nsqlookupd_http_addresses` may change it) and the
//! upstream client. nsqadmin keeps no cluster state: every answer is
//! computed from live upstream queries.

use std::sync::RwLock;

use crate::cluster::Cluster;
use crate::error::AdminError;
use crate::options::Options;
use crate::upstream::{tls_config, Client};

/// Shared by every connection thread.
#[derive(Debug)]
pub struct App {
    /// The options.
    pub opts: Options,
    /// nsqlookupd HTTP addresses (mutable at run time).
    pub lookupds: RwLock<Vec<String>>,
    /// The upstream client.
    pub client: Client,
    /// This host's name (notifications' `via`).
    pub hostname: String,
}

impl App {
    /// The state for these options (fails on unusable TLS files).
    pub fn new(opts: Options) -> Result<App, AdminError> {
        let client = Client::new(
            opts.flags.http_client_connect_timeout,
            opts.flags.http_client_request_timeout,
            tls_config(&opts.flags).map_err(AdminError::Config)?,
        );
        Ok(App {
            lookupds: RwLock::new(opts.flags.lookupd_http_address.clone()),
            client,
            hostname: nsq_daemon_support::hostname(),
            opts,
        })
    }

    /// A view of the cluster to query now.
    pub fn cluster(&self) -> Cluster {
        Cluster {
            client: self.client.clone(),
            lookupds: self.lookupds.read().map(|l| l.clone()).unwrap_or_default(),
            nsqds: self.opts.flags.nsqd_http_address.clone(),
        }
    }
}
