//! IDENTIFY (reference A.6.1) and AUTH (A.6.3; auth servers come later, so
//! AUTH answers `E_AUTH_DISABLED`).

use bytes::Bytes;
use nsq_protocol::frame::OK;
use nsq_protocol::identify::{negotiate, IdentifyRequest, IdentifyResponse};
use nsq_protocol::{ClientError, ErrorCode};

use crate::net::conn::{Connection, Flow, State};

impl Connection {
    /// IDENTIFY: validate, apply, answer `OK` or the negotiation JSON.
    pub fn identify(&mut self, body: Result<Bytes, ClientError>) -> Flow {
        if self.state != State::Init {
            return self.fail(ClientError::invalid("cannot IDENTIFY in current state"));
        }
        let negotiated = body
            .and_then(|b| IdentifyRequest::from_json(&b))
            .and_then(|req| negotiate(&req, &self.shard.ctx.identify));
        let n = match negotiated {
            Ok(n) => n,
            Err(e) => return self.fail(e),
        };
        let client = &self.client;
        *client.identity.borrow_mut() = crate::net::client::Identity {
            client_id: n.client_id.clone(),
            hostname: n.hostname.clone(),
            user_agent: n.user_agent.clone(),
        };
        client.sample_rate.set(n.sample_rate);
        client.msg_timeout.set(n.msg_timeout);
        if client.heartbeat.replace(n.heartbeat_interval) != n.heartbeat_interval {
            client.heartbeat_reset.set(true);
        }
        self.settings = n;
        self.apply_timeouts();
        if self.settings.feature_negotiation {
            let reply = IdentifyResponse::new(&self.settings, &self.shard.ctx.identify);
            self.client.respond(&reply.to_json());
        } else {
            self.client.respond(OK);
        }
        Flow::Continue
    }

    /// AUTH: state and body checks, then `E_AUTH_DISABLED` (no auth server
    /// is configured in this build).
    pub fn auth(&mut self, body: Result<Bytes, ClientError>) -> Flow {
        if self.state != State::Init {
            return self.fail(ClientError::invalid("cannot AUTH in current state"));
        }
        if let Err(e) = body {
            return self.fail(e);
        }
        self.fail(ClientError::new(ErrorCode::AuthDisabled, "AUTH disabled"))
    }
}
