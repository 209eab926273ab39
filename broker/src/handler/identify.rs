//! IDENTIFY with the feature upgrades (docs/protocol.md#identify, #upgrades)
//! and AUTH with its permission checks (docs/protocol.md#auth).

use std::time::Duration;

use bytes::Bytes;
use nsq_protocol::frame::{encode_response, OK};
use nsq_protocol::identify::{negotiate, IdentifyRequest, IdentifyResponse, Negotiated};
use nsq_protocol::{ClientError, ErrorCode};

use crate::auth::{AuthRequest, AuthSession};
use crate::net::client::State;
use crate::net::conn::{Connection, Flow};
use crate::net::io::{tls_handshake, write_all};
use crate::net::transport::{Codec, Transport};

/// NSQ's TLS handshake deadline.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

impl Connection {
    /// IDENTIFY: validate, apply, answer `OK` or the negotiation JSON, then
    /// run the negotiated upgrades.
    pub(crate) async fn identify(&mut self, body: Result<Bytes, ClientError>) -> Flow {
        if self.client.state.get() != State::Init {
            return self.fail(ClientError::invalid("cannot IDENTIFY in current state"));
        }
        let negotiated = body
            .and_then(|b| IdentifyRequest::from_json(&b))
            .and_then(|req| negotiate(&req, &self.shard.ctx.identify));
        let n = match negotiated {
            Ok(n) => n,
            Err(e) => return self.fail(e),
        };
        self.client.apply_settings(&n);
        self.apply_timeouts();
        if !n.feature_negotiation {
            self.client.respond(OK);
            return Flow::Continue;
        }
        // A second IDENTIFY cannot upgrade again what is already on.
        let has_codec = self
            .client
            .transport
            .borrow()
            .as_ref()
            .is_some_and(|t| t.codec.is_some());
        let tls = n.tls_v1 && !self.client.tls();
        let compress = (n.snappy || n.deflate) && !has_codec;
        let reply = IdentifyResponse::new(&n, &self.shard.ctx.identify);
        self.client.respond(&reply.to_json());
        if !tls && !compress {
            return Flow::Continue;
        }
        match self.upgrade(&n, tls, compress).await {
            Ok(()) => Flow::Continue,
            Err(e) => {
                crate::log!(
                    Error,
                    "client({}) - E_IDENTIFY_FAILED IDENTIFY failed {e}",
                    self.client.remote
                );
                self.client.kill();
                Flow::Close
            }
        }
    }

    /// The upgrade order clients rely on: the JSON goes out in plain text, then
    /// the TLS handshake and an `OK` inside TLS, then compression and an `OK`
    /// compressed. The writer task is held off meanwhile; input the client sent
    /// early is dropped, as NSQ replaces its reader at each upgrade.
    async fn upgrade(&mut self, n: &Negotiated, tls: bool, compress: bool) -> std::io::Result<()> {
        self.client.upgrading.set(true);
        let result = self.upgrade_inner(n, tls, compress).await;
        self.client.upgrading.set(false);
        self.client.writer_wake.notify();
        result
    }

    async fn upgrade_inner(
        &mut self,
        n: &Negotiated,
        tls: bool,
        compress: bool,
    ) -> std::io::Result<()> {
        // Whatever the writer is sending finishes first; then the rest of
        // the output (the JSON) goes out through the current layer.
        while self.client.sending.get() > 0 {
            self.client.writer_progress.notified().await;
        }
        let mut plain = Vec::new();
        self.client.take_output(&mut plain);
        self.send_through_transport(&plain).await?;
        self.input.clear();
        let mut after_handshake = Vec::new();

        if tls {
            let config = self
                .shard
                .ctx
                .tls
                .server
                .clone()
                .ok_or_else(|| std::io::Error::other("TLS not configured"))?;
            let mut session = rustls::ServerConnection::new(config)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
            let handshake = futures_lite::future::or(
                async {
                    tls_handshake(&self.stream, &self.shard.scratch, &mut session)
                        .await
                        .map(Some)
                },
                async {
                    glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
                    Ok(None)
                },
            )
            .await?;
            let Some(after) = handshake else {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "TLS handshake timeout",
                ));
            };
            after_handshake = after;
            {
                let mut profile = self.client.profile.borrow_mut();
                let features = &mut profile.features;
                features.tls = true;
                features.tls_version = session
                    .protocol_version()
                    .map(|v| match v {
                        rustls::ProtocolVersion::TLSv1_2 => "TLS1.2".to_string(),
                        rustls::ProtocolVersion::TLSv1_3 => "TLS1.3".to_string(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_default();
                features.tls_cipher_suite = session
                    .negotiated_cipher_suite()
                    .map(|s| format!("{:?}", s.suite()))
                    .unwrap_or_default();
            }
            let common_name = session
                .peer_certificates()
                .and_then(|c| c.first())
                .map(|c| crate::tls::common_name(c))
                .unwrap_or_default();
            let transport = Transport::with_tls(session, common_name);
            self.client.set_transport(Some(Box::new(transport)));
            self.send_frame_ok().await?;
        }

        if compress {
            let codec = if n.deflate {
                Codec::deflate(n.deflate_level.clamp(1, 9) as u32)
            } else {
                Codec::snappy()
            };
            {
                let mut profile = self.client.profile.borrow_mut();
                profile.features.deflate = n.deflate;
                profile.features.snappy = n.snappy;
            }
            self.client.install_codec(codec);
            self.send_frame_ok().await?;
        }
        // What the client sent right behind its handshake (plain text the
        // TLS layer decrypted along with it, and bytes read after it).
        let mut t = self.client.transport.borrow_mut();
        if let Some(t) = t.as_mut() {
            t.decode(&after_handshake, &mut self.input)?;
        }
        Ok(())
    }

    /// An `OK` response frame through the current layers.
    async fn send_frame_ok(&self) -> std::io::Result<()> {
        let mut frame = Vec::with_capacity(10);
        encode_response(&mut frame, OK);
        self.send_through_transport(&frame).await
    }

    /// Write `plain` through the transport (if any) right now.
    async fn send_through_transport(&self, plain: &[u8]) -> std::io::Result<()> {
        let mut wire = Vec::with_capacity(plain.len() + 64);
        match self.client.transport.borrow_mut().as_mut() {
            Some(t) => {
                t.encode(plain, &mut wire)?;
                t.flush_tls(&mut wire)?;
            }
            None => wire.extend_from_slice(plain),
        }
        if wire.is_empty() {
            return Ok(());
        }
        write_all(&self.stream, &wire).await
    }

    fn auth_request(&self, secret: Vec<u8>) -> AuthRequest {
        AuthRequest {
            secret,
            remote_ip: self.client.remote.ip().to_string(),
            tls: self.client.tls(),
            common_name: self
                .client
                .transport
                .borrow()
                .as_ref()
                .map(|t| t.common_name.clone())
                .unwrap_or_default(),
        }
    }

    fn record_auth(&self, session: AuthSession) {
        self.client.profile.borrow_mut().auth = Some(session);
    }

    /// Whether AUTH succeeded with at least one authorization.
    fn authorized(&self) -> bool {
        let profile = self.client.profile.borrow();
        profile
            .auth
            .as_ref()
            .is_some_and(|a| a.has_authorizations())
    }

    /// AUTH (docs/protocol.md#auth): ask the auth servers (off the shard) and
    /// answer with the identity and the number of authorizations.
    pub(crate) async fn auth(&mut self, body: Result<Bytes, ClientError>) -> Flow {
        if self.client.state.get() != State::Init {
            return self.fail(ClientError::invalid("cannot AUTH in current state"));
        }
        let secret = match body {
            Ok(b) => b,
            Err(e) => return self.fail(e),
        };
        if self.authorized() {
            return self.fail(ClientError::invalid("AUTH already set"));
        }
        let ctx = self.shard.ctx.clone();
        let Some(auth) = ctx.auth.as_ref() else {
            return self.fail(ClientError::new(ErrorCode::AuthDisabled, "AUTH disabled"));
        };
        let request = self.auth_request(secret.to_vec());
        let state = match auth.query(request).await {
            Ok(s) => s,
            Err(e) => {
                crate::log!(
                    Warn,
                    "PROTOCOL(V2): [{}] AUTH failed {e}",
                    self.client.remote
                );
                return self.fail(ClientError::new(ErrorCode::AuthFailed, "AUTH failed"));
            }
        };
        let count = state.authorizations.len();
        let reply = serde_json::json!({
            "identity": state.identity,
            "identity_url": state.identity_url,
            "permission_count": count,
        });
        self.record_auth(AuthSession {
            secret: secret.to_vec(),
            state,
            last_publish_allowed: None,
        });
        if count == 0 {
            return self.fail(ClientError::new(
                ErrorCode::Unauthorized,
                "AUTH no authorizations found",
            ));
        }
        self.client
            .respond(&serde_json::to_vec(&reply).unwrap_or_default());
        Flow::Continue
    }

    /// NSQ's `CheckAuth` for SUB and the publishes (channel "" for
    /// publishes): re-queries after the TTL, off the shard.
    pub(crate) async fn check_auth(
        &mut self,
        cmd: &str,
        topic: &str,
        channel: &str,
    ) -> Result<(), ClientError> {
        // An `Rc` clone (not the `Arc` context): this runs per publish.
        let shard = self.shard.clone();
        let Some(auth) = shard.ctx.auth.as_ref() else {
            return Ok(());
        };
        if !self.authorized() {
            return Err(ClientError::new(
                ErrorCode::AuthFirst,
                format!("AUTH required before {cmd}"),
            ));
        }
        // Cloned out of the profile: no borrow spans the query's await.
        let expired_secret = {
            let profile = self.client.profile.borrow();
            profile
                .auth
                .as_ref()
                .filter(|a| a.state.expired())
                .map(|a| a.secret.clone())
        };
        if let Some(secret) = expired_secret {
            match auth.query(self.auth_request(secret.clone())).await {
                Ok(state) => self.record_auth(AuthSession {
                    secret,
                    state,
                    last_publish_allowed: None,
                }),
                Err(e) => {
                    crate::log!(
                        Warn,
                        "PROTOCOL(V2): [{}] AUTH refresh failed {e}",
                        self.client.remote
                    );
                    return Err(ClientError::new(ErrorCode::AuthFailed, "AUTH failed"));
                }
            }
        }
        let allowed = self
            .client
            .profile
            .borrow_mut()
            .auth
            .as_mut()
            .is_some_and(|a| a.allows(topic, channel));
        if allowed {
            Ok(())
        } else {
            Err(ClientError::new(
                ErrorCode::Unauthorized,
                format!("AUTH failed for {cmd} on {topic:?} {channel:?}"),
            ))
        }
    }
}
