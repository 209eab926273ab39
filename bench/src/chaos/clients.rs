//! Connections of the workload: V2 connections with a mix of TLS, snappy
//! and deflate (through `nsq-tools`' client connection), and HTTP/HTTPS
//! requests (through `nsq-tools`' HTTP client), each watched for an answer
//! (see [`crate::chaos::watch`]).

use std::fmt;
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use nsq_tools::client::conn::{connect_on, FrameReader, Writer};
use nsq_tools::client::Config;
use nsq_tools::httpc::{self, HttpError, Response, Timeouts, Url};

use crate::chaos::ctx::Ctx;
use crate::chaos::rng::Rng;
use crate::chaos::schedule::Target;
use crate::chaos::watch::{Outcome, Watch};

/// What a V2 connection negotiates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Nothing.
    Plain,
    /// TLS.
    Tls,
    /// Snappy.
    Snappy,
    /// Deflate (level 1..9).
    Deflate(u32),
    /// TLS and snappy.
    TlsSnappy,
    /// TLS and deflate.
    TlsDeflate(u32),
}

impl Transport {
    /// A random mix: plain 40%, each upgrade 12%.
    pub fn pick(rng: &mut Rng) -> Transport {
        let level = rng.range(1, 9) as u32;
        match rng.below(100) {
            0..=39 => Transport::Plain,
            40..=51 => Transport::Tls,
            52..=63 => Transport::Snappy,
            64..=75 => Transport::Deflate(level),
            76..=87 => Transport::TlsSnappy,
            _ => Transport::TlsDeflate(level),
        }
    }

    fn apply(self, cfg: &mut Config) {
        let (tls, snappy, deflate) = match self {
            Transport::Plain => (false, false, None),
            Transport::Tls => (true, false, None),
            Transport::Snappy => (false, true, None),
            Transport::Deflate(l) => (false, false, Some(l)),
            Transport::TlsSnappy => (true, true, None),
            Transport::TlsDeflate(l) => (true, false, Some(l)),
        };
        cfg.tls_v1 = tls;
        cfg.snappy = snappy;
        if let Some(l) = deflate {
            cfg.deflate = true;
            cfg.deflate_level = l as i32;
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Transport::Plain => write!(f, "plain"),
            Transport::Tls => write!(f, "tls"),
            Transport::Snappy => write!(f, "snappy"),
            Transport::Deflate(l) => write!(f, "deflate{l}"),
            Transport::TlsSnappy => write!(f, "tls+snappy"),
            Transport::TlsDeflate(l) => write!(f, "tls+deflate{l}"),
        }
    }
}

/// A V2 connection of the workload.
pub struct V2 {
    /// Commands go out here.
    pub writer: Writer,
    /// Frames come in here.
    pub reader: FrameReader,
    /// Its watch.
    pub watch: Arc<Watch>,
}

/// Connect to nsqd `nsqd` as `role` and IDENTIFY (`tweak` adjusts the
/// options); `None` if it is down or the handshake failed (a handshake
/// that hangs is counted by the watchdog).
pub fn connect_v2(
    ctx: &Ctx,
    nsqd: usize,
    role: &str,
    transport: Transport,
    tweak: impl FnOnce(&mut Config),
) -> Option<V2> {
    let addr = ctx.cluster.nsqds[nsqd].spec.tcp;
    let sock = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    ctx.counters.connects.fetch_add(1, Ordering::Relaxed);
    let local = sock.local_addr().map(|a| a.port()).unwrap_or(0);
    let watch = ctx.tracker.watch(
        Target::Nsqd(nsqd),
        format!("{role} ({transport}, port {local})"),
        &sock,
    )?;
    let mut cfg = Config {
        client_id: role.to_string(),
        hostname: "nsq-chaos".to_string(),
        user_agent: "nsq-bench-chaos/0.1".to_string(),
        // The watchdog bounds reads; a socket timeout could cut a
        // compressed frame in half.
        read_timeout: Duration::from_secs(24 * 3600),
        write_timeout: ctx.tracker.timeout(),
        heartbeat_interval: Some(ctx.settings.heartbeat),
        msg_timeout: ctx.settings.msg_timeout,
        tls_root_ca_file: Some(ctx.ca_file.display().to_string()),
        ..Config::default()
    };
    transport.apply(&mut cfg);
    tweak(&mut cfg);
    watch.sent(ctx.ms(), "IDENTIFY");
    match connect_on(sock, &addr.to_string(), &cfg) {
        Ok((writer, reader, _)) => {
            watch.answered(&ctx.tracker, ctx.ms());
            Some(V2 {
                writer,
                reader,
                watch,
            })
        }
        Err(e) => {
            ctx.clock
                .detail(&format!("nsqd{nsqd} {role} ({transport}): connect: {e}"));
            None
        }
    }
}

/// Whether an HTTP error means the request timed out (rather than being
/// refused or cut off).
fn timed_out(e: &HttpError) -> bool {
    let t = e.to_string();
    t.contains("request timeout") || t.contains("os error 11") || t.contains("timed out")
}

/// Why an HTTP request has no response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpFail {
    /// It never reached the daemon (not listening, backlog full).
    NotSent,
    /// Sent, then closed or timed out: it may have taken effect.
    Failed,
}

/// One HTTP(S) request to `target`'s `addr`, its outcome reported to the
/// watchdog.
pub fn http(
    ctx: &Ctx,
    target: Target,
    addr: &str,
    tls: bool,
    method: &str,
    path: &str,
    body: &[u8],
) -> Result<Response, HttpFail> {
    let t = httpc::Target {
        tls,
        url: Url {
            host: addr.to_string(),
            path: path.to_string(),
        },
    };
    let timeouts = Timeouts {
        connect: Duration::from_secs(1),
        request: ctx.tracker.timeout(),
    };
    let sent = ctx.ms();
    let what = format!("{method} {}{path}", if tls { "https " } else { "" });
    match httpc::request_to_with(method, &t, &[], body, timeouts, &ctx.https) {
        Ok(r) => {
            ctx.tracker
                .outcome(target, &what, sent, Outcome::Answered(ctx.ms() - sent));
            Ok(r)
        }
        Err(e) => {
            let text = e.to_string();
            ctx.clock.detail(&format!("{target}: {what}: {text}"));
            if text.contains(": connect: ") {
                return Err(HttpFail::NotSent);
            }
            let o = if timed_out(&e) {
                Outcome::TimedOut
            } else {
                Outcome::Closed
            };
            ctx.tracker.outcome(target, &what, sent, o);
            Err(HttpFail::Failed)
        }
    }
}
