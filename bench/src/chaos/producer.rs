//! Producers: PUB, MPUB and DPUB over V2 (mixed transports), `/pub` over
//! HTTP and binary `/mpub` over HTTPS. Every message is in the ledger
//! before it is sent; an `OK` makes it acknowledged, an error answer
//! failed, a broken connection leaves it unanswered (never owed).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use nsq_protocol::command::Request;
use nsq_tools::client::conn::{next_non_heartbeat, OwnedFrame};

use crate::chaos::body;
use crate::chaos::clients::{self, connect_v2, Transport};
use crate::chaos::ctx::{Counters, Ctx};
use crate::chaos::ledger::key;
use crate::chaos::rng::Rng;
use crate::chaos::schedule::Target;

/// How a producer publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// V2 `PUB`.
    Pub,
    /// V2 `MPUB` of 2..20.
    Mpub,
    /// V2 `DPUB` (0..1.5 s).
    Dpub,
    /// HTTP `/pub` (sometimes deferred).
    HttpPub,
    /// HTTPS binary `/mpub`.
    HttpsMpub,
}

impl Kind {
    /// Every kind; each nsqd gets one producer of each.
    pub const ALL: [Kind; 5] = [
        Kind::Pub,
        Kind::Mpub,
        Kind::Dpub,
        Kind::HttpPub,
        Kind::HttpsMpub,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::Pub => "pub",
            Kind::Mpub => "mpub",
            Kind::Dpub => "dpub",
            Kind::HttpPub => "http-pub",
            Kind::HttpsMpub => "https-mpub",
        }
    }

    fn batch(self, rng: &mut Rng) -> usize {
        match self {
            Kind::Mpub | Kind::HttpsMpub => rng.range(2, 20) as usize,
            _ => 1,
        }
    }
}

/// Paces one producer at its share of the rate (no catching up in
/// bursts after a reconnect).
struct Pacer {
    per_msg: Duration,
    next: Instant,
}

impl Pacer {
    fn wait(&mut self, ctx: &Ctx, n: usize) {
        let now = Instant::now();
        if self.next + Duration::from_secs(1) < now {
            self.next = now;
        }
        if self.next > now {
            ctx.sleep(self.next - now);
        }
        self.next += self.per_msg * n as u32;
    }
}

/// A payload size: mostly small, some medium, a few large.
fn payload(rng: &mut Rng, max: usize) -> usize {
    let n = match rng.below(100) {
        0..=69 => rng.below(513),
        70..=94 => rng.range(513, 8192),
        _ => rng.range(8193, 65_536),
    } as usize;
    n.min(max)
}

struct Batch {
    keys: Vec<u64>,
    bodies: Vec<Vec<u8>>,
    topic: usize,
}

/// The producer's state.
struct Producer {
    ctx: Arc<Ctx>,
    nsqd: usize,
    kind: Kind,
    rng: Rng,
    id: u32,
    seq: u64,
    pacer: Pacer,
}

impl Producer {
    /// The next batch, entered in the ledger as sent.
    fn batch(&mut self) -> Batch {
        let n = self.kind.batch(&mut self.rng);
        self.pacer.wait(&self.ctx, n);
        let topic = self.rng.below(self.ctx.topics.len() as u64) as usize;
        let mut keys = Vec::with_capacity(n);
        let mut bodies = Vec::with_capacity(n);
        for _ in 0..n {
            let k = key(self.id, self.seq);
            self.seq += 1;
            keys.push(k);
            bodies.push(body::encode(
                k,
                payload(&mut self.rng, self.ctx.settings.max_payload),
            ));
        }
        let now = self.ctx.ms();
        let mut l = self.ctx.ledger();
        for &k in &keys {
            l.sent(k, self.nsqd, topic, now);
        }
        Batch {
            keys,
            bodies,
            topic,
        }
    }

    fn answered(&self, b: &Batch, ok: bool, error: Option<String>) {
        let now = self.ctx.ms();
        {
            let mut l = self.ctx.ledger();
            for &k in &b.keys {
                if ok {
                    l.acked(k, now);
                } else {
                    l.failed(k);
                }
            }
        }
        if let Some(e) = error {
            Counters::tally(&self.ctx.counters.pub_errors, &e);
        }
    }

    fn run_tcp(&mut self) {
        let ctx = self.ctx.clone();
        let role = format!("producer-{}", self.kind.name());
        while !ctx.stop_producers.load(Ordering::Relaxed) {
            let transport = Transport::pick(&mut self.rng);
            let Some(mut c) = connect_v2(&ctx, self.nsqd, &role, transport, |_| {}) else {
                ctx.sleep(Duration::from_millis(200));
                continue;
            };
            while !ctx.stop_producers.load(Ordering::Relaxed) {
                let b = self.batch();
                let topic = &ctx.topics[b.topic];
                let mut out = Vec::new();
                let what = match self.kind {
                    Kind::Mpub => {
                        let refs: Vec<&[u8]> = b.bodies.iter().map(|x| &x[..]).collect();
                        Request::Mpub(topic, &refs).encode(&mut out);
                        "MPUB"
                    }
                    Kind::Dpub => {
                        let delay = self.rng.range(0, 1500);
                        Request::Dpub(topic, delay, &b.bodies[0]).encode(&mut out);
                        "DPUB"
                    }
                    _ => {
                        Request::Pub(topic, &b.bodies[0]).encode(&mut out);
                        "PUB"
                    }
                };
                c.watch.sent(ctx.ms(), what);
                if c.writer.send_raw(&out).is_err() {
                    break;
                }
                match next_non_heartbeat(&mut c.reader, &c.writer) {
                    Ok(OwnedFrame::Response(d)) => {
                        c.watch.answered(&ctx.tracker, ctx.ms());
                        let ok = d == b"OK";
                        let err = (!ok).then(|| format!("{what}: {}", String::from_utf8_lossy(&d)));
                        self.answered(&b, ok, err);
                    }
                    Ok(OwnedFrame::Error(e)) => {
                        c.watch.answered(&ctx.tracker, ctx.ms());
                        let text = String::from_utf8_lossy(&e);
                        let code = text.split_whitespace().next().unwrap_or("").to_string();
                        self.answered(&b, false, Some(format!("{what}: {code}")));
                        // NSQ closes the connection after a failed publish.
                        break;
                    }
                    Ok(OwnedFrame::Message(..)) | Err(_) => break,
                }
            }
        }
    }

    fn run_http(&mut self) {
        let ctx = self.ctx.clone();
        let https = self.kind == Kind::HttpsMpub;
        let spec = &ctx.cluster.nsqds[self.nsqd].spec;
        let addr = if https { spec.https } else { Some(spec.http) };
        let Some(addr) = addr.map(|a| a.to_string()) else {
            return;
        };
        while !ctx.stop_producers.load(Ordering::Relaxed) {
            let b = self.batch();
            let topic = &ctx.topics[b.topic];
            let (path, data) = if b.bodies.len() == 1 {
                let mut path = format!("/pub?topic={topic}");
                if self.rng.chance(0.2) {
                    path.push_str(&format!("&defer={}", self.rng.range(1, 1500)));
                }
                (path, b.bodies[0].clone())
            } else {
                let mut data = (b.bodies.len() as u32).to_be_bytes().to_vec();
                for x in &b.bodies {
                    data.extend_from_slice(&(x.len() as u32).to_be_bytes());
                    data.extend_from_slice(x);
                }
                (format!("/mpub?topic={topic}&binary=true"), data)
            };
            let r = clients::http(
                &ctx,
                Target::Nsqd(self.nsqd),
                &addr,
                https,
                "POST",
                &path,
                &data,
            );
            match r {
                Ok(r) if r.status == 200 => self.answered(&b, true, None),
                Ok(r) => {
                    let text = String::from_utf8_lossy(&r.body);
                    let e = format!("HTTP {} {}", r.status, text.trim());
                    self.answered(&b, false, Some(e));
                }
                Err(_) => ctx.sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// Run one producer of `kind` against nsqd `nsqd` until the producers stop.
/// `share` is its part of the total rate.
pub fn run(ctx: Arc<Ctx>, nsqd: usize, kind: Kind, stream: u64, share: f64) {
    let id = ctx.ledger().add_producer();
    let rate = (ctx.settings.rate * share).max(0.1);
    let mut p = Producer {
        rng: Rng::derive(ctx.settings.seed, stream),
        ctx,
        nsqd,
        kind,
        id,
        seq: 0,
        pacer: Pacer {
            per_msg: Duration::from_secs_f64(1.0 / rate),
            next: Instant::now(),
        },
    };
    match kind {
        Kind::HttpPub | Kind::HttpsMpub => p.run_http(),
        _ => p.run_tcp(),
    }
}
