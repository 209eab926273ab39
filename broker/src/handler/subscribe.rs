//! The consumer commands: SUB (with the handoff to the owning shard), RDY,
//! FIN, REQ, TOUCH, CLS (docs/protocol.md#sub to #cls).

use std::time::{Duration, Instant};

use nsq_protocol::frame::{CLOSE_WAIT, OK};
use nsq_protocol::{ClientError, ErrorCode};

use crate::channel::Channel;
use crate::inflight::InFlightError;
use crate::net::client::{Client, State};
use crate::net::conn::{Connection, Flow, Subscription};

impl Connection {
    /// SUB: checks in NSQ's order, then subscribe here or move to the owner.
    pub(crate) async fn sub(&mut self, params: Result<(String, String), ClientError>) -> Flow {
        if self.client.state.get() != State::Init {
            return self.fail(ClientError::invalid("cannot SUB in current state"));
        }
        if self.client.heartbeat.get().is_none() {
            return self.fail(ClientError::invalid("cannot SUB with heartbeats disabled"));
        }
        let (topic, channel) = match params {
            Ok(p) => p,
            Err(e) => return self.fail(e),
        };
        if let Err(e) = self.check_auth("SUB", &topic, &channel).await {
            return self.fail(e);
        }
        let owner = self.shard.owner_of(&topic);
        if owner == self.shard.id {
            self.subscribe_here(&topic, &channel)
        } else {
            self.hand_off(owner, Some((topic, channel))).await
        }
    }

    /// Join the channel on this (owning) shard and answer `OK`.
    pub(crate) fn subscribe_here(&mut self, topic_name: &str, channel_name: &str) -> Flow {
        if self.shard.is_stopping() {
            return self.fail(ClientError::new(ErrorCode::SubFailed, "SUB failed exiting"));
        }
        let topic = self.shard.get_or_create_topic(topic_name);
        let channel = self.shard.get_or_create_channel(&topic, channel_name);
        let max = self.shard.ctx.opts.flags.max_channel_consumers;
        if max > 0 && channel.borrow().consumer_count() as i64 >= max {
            return self.fail(ClientError::new(
                ErrorCode::SubFailed,
                format!(
                    "SUB failed consumers for {topic_name}:{channel_name} exceeds limit of {max}"
                ),
            ));
        }
        channel.borrow_mut().add_consumer(self.client.clone());
        self.client.state.set(State::Subscribed);
        self.sub = Some(Subscription {
            topic_name: topic_name.to_string(),
            channel_name: channel_name.to_string(),
            topic,
            channel,
        });
        self.client.respond(OK);
        Flow::Continue
    }

    fn in_flight_error(&self, cmd: &str, id: &[u8; 16], e: InFlightError) -> Flow {
        let code = match cmd {
            "FIN" => ErrorCode::FinFailed,
            "REQ" => ErrorCode::ReqFailed,
            _ => ErrorCode::TouchFailed,
        };
        self.fail(ClientError::new(
            code,
            format!(
                "{cmd} {} failed {}",
                String::from_utf8_lossy(id),
                e.as_str()
            ),
        ))
    }

    fn consuming(&self) -> bool {
        matches!(self.client.state.get(), State::Subscribed | State::Closing)
    }

    /// RDY: set the in-flight window (ignored after CLS).
    pub(crate) fn rdy(&mut self, count: Result<u64, ClientError>) -> Flow {
        match self.client.state.get() {
            State::Closing => return Flow::Continue,
            State::Subscribed => {}
            State::Init => return self.fail(ClientError::invalid("cannot RDY in current state")),
        }
        let count = match count {
            Ok(c) => c,
            Err(e) => return self.fail(e),
        };
        self.client.rdy.set(count);
        self.dispatch_due = true;
        Flow::Continue
    }

    /// FIN, REQ and TOUCH: state check, then the parameter error, then the
    /// channel operation; a miss is the command's non-fatal `E_*_FAILED`.
    fn in_flight_command(
        &mut self,
        cmd: &str,
        id: Result<[u8; 16], ClientError>,
        op: impl FnOnce(&mut Channel, &Client, &[u8; 16], Instant) -> Result<(), InFlightError>,
    ) -> Flow {
        if !self.consuming() {
            return self.fail(ClientError::invalid(format!(
                "cannot {cmd} in current state"
            )));
        }
        let id = match id {
            Ok(id) => id,
            Err(e) => return self.fail(e),
        };
        let now = self.now();
        let Some(sub) = &self.sub else {
            return Flow::Continue;
        };
        let result = op(&mut sub.channel.borrow_mut(), &self.client, &id, now);
        match result {
            Ok(()) => {
                // FIN and REQ free RDY room (REQ may queue a message):
                // deliver once for the whole read buffer.
                self.dispatch_due = true;
                Flow::Continue
            }
            Err(e) => self.in_flight_error(cmd, &id, e),
        }
    }

    /// FIN.
    pub(crate) fn fin(&mut self, id: Result<[u8; 16], ClientError>) -> Flow {
        self.in_flight_command("FIN", id, |ch, client, id, now| ch.finish(client, id, now))
    }

    /// REQ, with the delay clamped to `--max-req-timeout`.
    pub(crate) fn req(&mut self, params: Result<([u8; 16], u64), ClientError>) -> Flow {
        let max = self.shard.ctx.opts.flags.max_req_timeout;
        let delay = params.as_ref().map_or(Duration::ZERO, |(_, ms)| {
            Duration::from_millis(*ms).min(max)
        });
        let id = params.map(|(id, _)| id);
        self.in_flight_command("REQ", id, |ch, client, id, now| {
            ch.requeue(client, id, delay, now)
        })
    }

    /// TOUCH.
    pub(crate) fn touch(&mut self, id: Result<[u8; 16], ClientError>) -> Flow {
        self.in_flight_command("TOUCH", id, |ch, client, id, now| ch.touch(client, id, now))
    }

    /// CLS: stop deliveries and answer `CLOSE_WAIT`; the client closes.
    pub(crate) fn cls(&mut self) -> Flow {
        if self.client.state.get() != State::Subscribed {
            return self.fail(ClientError::invalid("cannot CLS in current state"));
        }
        self.client.rdy.set(0);
        self.client.closing.set(true);
        self.client.state.set(State::Closing);
        self.client.respond(CLOSE_WAIT);
        Flow::Continue
    }
}
