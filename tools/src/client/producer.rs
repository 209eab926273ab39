//! The producer (docs/clients.md#producers): one lazily opened connection to
//! one nsqd; every PUB/MPUB/DPUB waits for its own reply, matched strictly in
//! order (FIFO) because nsqd answers a connection's commands in order.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nsq_protocol::command::Request;

use super::conn::{self, OwnedFrame, Writer};
use super::{Config, Error};
use crate::log::{Level, Source};

type Reply = Result<(), Error>;

struct PConn {
    writer: Writer,
    pending: Mutex<VecDeque<Sender<Reply>>>,
    dead: AtomicBool,
}

impl PConn {
    fn fail_all(&self, why: &str) {
        self.dead.store(true, Ordering::Release);
        if let Ok(mut p) = self.pending.lock() {
            for tx in p.drain(..) {
                let _ = tx.send(Err(Error::Server(why.to_string())));
            }
        }
    }
}

/// A producer for one nsqd.
pub struct Producer {
    addr: String,
    cfg: Config,
    conn: Mutex<Option<Arc<PConn>>>,
    log: Source,
}

/// A publish whose reply has not arrived yet.
pub struct Pending {
    rx: Receiver<Reply>,
    timeout: Duration,
}

impl Pending {
    /// Wait for the reply (bounded by read timeout).
    pub fn wait(self) -> Result<(), Error> {
        match self.rx.recv_timeout(self.timeout) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(Error::Timeout),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(Error::Closed),
        }
    }
}

impl Producer {
    /// A producer; nothing is opened until the first publish.
    pub fn new(addr: &str, cfg: Config) -> Producer {
        Producer {
            addr: addr.to_string(),
            cfg,
            conn: Mutex::new(None),
            log: Source::producer(),
        }
    }

    /// The nsqd address.
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Open the connection now (to report an unreachable nsqd early).
    pub fn connect(&self) -> Result<(), Error> {
        self.get_conn().map(|_| ())
    }

    fn get_conn(&self) -> Result<Arc<PConn>, Error> {
        let mut slot = self.conn.lock().map_err(|_| Error::Closed)?;
        if let Some(c) = slot.as_ref() {
            if !c.dead.load(Ordering::Acquire) {
                return Ok(c.clone());
            }
        }
        self.log
            .log(Level::Info, Some(&self.addr), "connecting to nsqd");
        let (writer, mut reader, neg) = conn::connect(&self.addr, &self.cfg)?;
        let identify = format!("IDENTIFY response: {}", neg.identify_response);
        self.log.log(Level::Debug, Some(&self.addr), &identify);
        let c = Arc::new(PConn {
            writer,
            pending: Mutex::new(VecDeque::new()),
            dead: AtomicBool::new(false),
        });
        let rc = c.clone();
        let addr = self.addr.clone();
        std::thread::spawn(move || {
            let why = loop {
                let f = match reader.next_frame() {
                    Ok(f) => f,
                    Err(e) => break e.to_string(),
                };
                let reply = match f {
                    OwnedFrame::Response(r) if r == nsq_protocol::frame::HEARTBEAT => {
                        if let Err(e) = rc.writer.send(&Request::Nop) {
                            break e.to_string();
                        }
                        continue;
                    }
                    OwnedFrame::Response(_) => Ok(()),
                    OwnedFrame::Error(e) => {
                        Err(Error::Server(String::from_utf8_lossy(&e).into_owned()))
                    }
                    OwnedFrame::Message(..) => break "unexpected message frame".into(),
                };
                let tx = rc.pending.lock().ok().and_then(|mut p| p.pop_front());
                match tx {
                    Some(tx) => {
                        let _ = tx.send(reply);
                    }
                    None => break format!("reply without a command: {reply:?}"),
                }
            };
            rc.writer.shutdown();
            rc.fail_all(&format!("({addr}) connection closed: {why}"));
        });
        *slot = Some(c.clone());
        Ok(c)
    }

    /// Send a publish command; the reply comes through the returned
    /// [`Pending`]. Replies keep the order of the calls.
    pub fn send(&self, req: &Request<'_>) -> Result<Pending, Error> {
        let c = self.get_conn()?;
        let mut bytes = Vec::new();
        req.encode(&mut bytes);
        let (tx, rx) = mpsc::channel();
        let r = c.writer.send_after(&bytes, || {
            if let Ok(mut p) = c.pending.lock() {
                p.push_back(tx);
            }
        });
        if let Err(e) = r {
            c.writer.shutdown();
            c.fail_all("write failed");
            return Err(e);
        }
        Ok(Pending {
            rx,
            timeout: self.cfg.read_timeout + self.cfg.write_timeout,
        })
    }

    /// `PUB` and wait for `OK`.
    pub fn publish(&self, topic: &str, body: &[u8]) -> Result<(), Error> {
        self.send(&Request::Pub(topic, body))?.wait()
    }

    /// `PUB` without waiting.
    pub fn publish_async(&self, topic: &str, body: &[u8]) -> Result<Pending, Error> {
        self.send(&Request::Pub(topic, body))
    }

    /// `MPUB` (one reply for the batch).
    pub fn multi_publish(&self, topic: &str, bodies: &[&[u8]]) -> Result<(), Error> {
        if bodies.is_empty() {
            return Err(Error::Config("MPUB needs at least one message".into()));
        }
        self.send(&Request::Mpub(topic, bodies))?.wait()
    }

    /// `DPUB`.
    pub fn deferred_publish(&self, topic: &str, delay: Duration, body: &[u8]) -> Result<(), Error> {
        self.send(&Request::Dpub(topic, delay.as_millis() as u64, body))?
            .wait()
    }

    /// Close the connection (pending publishes fail).
    pub fn stop(&self) {
        if let Ok(mut slot) = self.conn.lock() {
            if let Some(c) = slot.take() {
                c.writer.shutdown();
                c.fail_all("producer stopped");
            }
        }
    }
}

impl Drop for Producer {
    fn drop(&mut self) {
        self.stop();
    }
}
