//! What every shard shares: the options and what is derived from them, the
//! inboxes of all shards, the ports listened on, and the few process-wide
//! signals (health, `nsqd.dat` changes, lookupd announcements). Immutable
//! after startup, or atomic; the two mutexes are configuration, never
//! touched on the message path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use nsq_protocol::command::Limits;
use nsq_protocol::identify::IdentifyPolicy;

use crate::options::Options;
use crate::shard::load;
use crate::shard::mesh::ShardMsg;
use crate::shard::wall_clock_ns;

/// What every shard shares (immutable after startup, or atomic).
#[derive(Debug)]
pub(crate) struct Context {
    /// Options.
    pub(crate) opts: Options,
    /// Decoder limits derived from the options.
    pub(crate) limits: Limits,
    /// IDENTIFY policy derived from the options.
    pub(crate) identify: IdentifyPolicy,
    /// Inbox of every shard, by shard number.
    pub(crate) mesh: Vec<flume::Sender<ShardMsg>>,
    /// TLS server config and policy (docs/protocol.md#tls).
    pub(crate) tls: crate::tls::TlsSetup,
    /// The auth client, with `--auth-http-address` (docs/protocol.md#auth).
    pub(crate) auth: Option<crate::auth::AuthClient>,
    /// The HTTPS port actually listened on (0 when not listening).
    pub(crate) https_port: u16,
    /// Next connection ID.
    pub(crate) next_client_id: AtomicU64,
    /// The TCP port actually listened on.
    pub(crate) tcp_port: u16,
    /// The HTTP port actually listened on (0 when HTTP is off).
    pub(crate) http_port: u16,
    /// Unix seconds at startup.
    pub(crate) start_time: i64,
    /// `--broadcast-address` or the hostname.
    pub(crate) broadcast_address: String,
    /// `--lookupd-tcp-address`, changeable over HTTP. Configuration, never
    /// touched on the message path.
    lookupd_tcp_addresses: std::sync::Mutex<Vec<String>>,
    /// Coalescing "nsqd.dat is stale" signal to the metadata writer.
    metadata_changes: flume::Sender<()>,
    /// Events for the lookupd announcer thread.
    announcer: flume::Sender<crate::lookupd::Announce>,
    /// Set while the last disk write failed (`/ping` answers NOK).
    unhealthy: AtomicBool,
    /// Why, for `/ping` and `/stats` (touched only when health changes).
    health_error: std::sync::Mutex<String>,
    /// How busy each shard is (placement decisions only).
    pub(crate) shard_load: load::ShardLoad,
    /// Draining (docs/compatibility.md#draining).
    pub(crate) drain: crate::drain::Drain,
}

impl Context {
    /// Derive limits and policy from the options; `ports` are the TCP and
    /// HTTP ports actually listened on.
    pub(crate) fn new(
        opts: Options,
        mesh: Vec<flume::Sender<ShardMsg>>,
        ports: (u16, u16),
        metadata_changes: flume::Sender<()>,
        announcer: flume::Sender<crate::lookupd::Announce>,
        tls: crate::tls::TlsSetup,
        https_port: u16,
    ) -> Context {
        let f = &opts.flags;
        let mesh_len = mesh.len();
        let limits = Limits {
            max_msg_size: f.max_msg_size as u64,
            max_body_size: f.max_body_size as u64,
            max_rdy_count: f.max_rdy_count as u64,
            max_defer_timeout_ms: opts.max_defer_timeout.as_millis() as u64,
        };
        let identify = IdentifyPolicy {
            max_heartbeat_interval: f.max_heartbeat_interval,
            max_output_buffer_size: f.max_output_buffer_size as u64,
            default_output_buffer_timeout: f.output_buffer_timeout,
            min_output_buffer_timeout: f.min_output_buffer_timeout,
            max_output_buffer_timeout: f.max_output_buffer_timeout,
            default_msg_timeout: f.msg_timeout,
            max_msg_timeout: f.max_msg_timeout,
            max_rdy_count: f.max_rdy_count as u64,
            max_deflate_level: f.max_deflate_level,
            tls_available: tls.server.is_some(),
            snappy_enabled: f.snappy,
            deflate_enabled: f.deflate,
            auth_required: !f.auth_http_address.is_empty(),
            ..IdentifyPolicy::default()
        };
        let auth = (!f.auth_http_address.is_empty()).then(|| {
            crate::auth::AuthClient::start(crate::auth::AuthConfig {
                addresses: f.auth_http_address.clone(),
                post: f.auth_http_request_method == "post",
                connect_timeout: f.http_client_connect_timeout,
                request_timeout: f.http_client_request_timeout,
                tls: tls.client.clone(),
            })
        });
        let broadcast_address = if f.broadcast_address.is_empty() {
            crate::options::hostname()
        } else {
            f.broadcast_address.clone()
        };
        let lookupd_tcp_addresses = std::sync::Mutex::new(f.lookupd_tcp_address.clone());
        Context {
            opts,
            limits,
            identify,
            mesh,
            tls,
            auth,
            https_port,
            next_client_id: AtomicU64::new(1),
            tcp_port: ports.0,
            http_port: ports.1,
            start_time: wall_clock_ns() / 1_000_000_000,
            broadcast_address,
            lookupd_tcp_addresses,
            metadata_changes,
            announcer,
            unhealthy: AtomicBool::new(false),
            health_error: std::sync::Mutex::new(String::new()),
            shard_load: load::ShardLoad::new(mesh_len),
            drain: crate::drain::Drain::default(),
        }
    }

    /// Tell the lookupd announcer (never blocks).
    pub(crate) fn announce(&self, event: crate::lookupd::Announce) {
        let _ = self.announcer.send(event);
    }

    /// A disk operation failed: `/ping` reports `NOK - <why>` until one
    /// succeeds.
    pub(crate) fn set_unhealthy(&self, why: String) {
        if let Ok(mut e) = self.health_error.lock() {
            *e = why;
        }
        self.unhealthy.store(true, Ordering::Release);
    }

    /// A disk write succeeded (cheap when already healthy).
    pub(crate) fn set_healthy(&self) {
        if self.unhealthy.load(Ordering::Acquire) {
            self.unhealthy.store(false, Ordering::Release);
            crate::log!(Info, "disk writes succeed again: healthy");
        }
    }

    /// `None` when healthy, else why not.
    pub(crate) fn health(&self) -> Option<String> {
        if !self.unhealthy.load(Ordering::Acquire) {
            return None;
        }
        Some(
            self.health_error
                .lock()
                .map(|e| e.clone())
                .unwrap_or_default(),
        )
    }

    /// A durable topic or channel was created, deleted, paused or
    /// unpaused: ask the writer to rewrite `nsqd.dat` (never blocks).
    pub(crate) fn metadata_changed(&self) {
        let _ = self.metadata_changes.try_send(());
    }

    /// Current `nsqlookupd_tcp_addresses`.
    pub(crate) fn lookupd_tcp_addresses(&self) -> Vec<String> {
        self.lookupd_tcp_addresses
            .lock()
            .map(|v| v.clone())
            .unwrap_or_default()
    }

    /// Replace `nsqlookupd_tcp_addresses`.
    pub(crate) fn set_lookupd_tcp_addresses(&self, addrs: Vec<String>) {
        if let Ok(mut v) = self.lookupd_tcp_addresses.lock() {
            *v = addrs;
        }
        self.announce(crate::lookupd::Announce::PeersChanged);
    }

    /// Number of shards.
    pub(crate) fn shards(&self) -> usize {
        self.mesh.len()
    }
}
