//! Turning a decoded [`Command`] (borrowing the read buffer) into an owned
//! [`Cmd`] whose topic names and bodies are [`Bytes`] slices of the same
//! buffer: the decoder's spans are recorded as offsets, the consumed bytes
//! are frozen once, and every body shares that allocation (no copy).

use std::ops::Range;

use bytes::Bytes;
use nsq_protocol::command::Command;
use nsq_protocol::{ClientError, ErrorCode};

use crate::name::TopicName;
use crate::publish::bodies::Bodies;
use crate::publish::PubKind;

/// A publish with owned topic and bodies.
#[derive(Debug)]
pub(crate) struct OwnedPublish {
    /// Topic name.
    pub(crate) topic: TopicName,
    /// Delay in ms.
    pub(crate) defer_ms: u64,
    /// Bodies.
    pub(crate) bodies: Bodies,
}

/// An owned command.
#[derive(Debug)]
pub(crate) enum Cmd {
    /// IDENTIFY.
    Identify(Result<Bytes, ClientError>),
    /// AUTH.
    Auth(Result<Bytes, ClientError>),
    /// SUB topic channel.
    Sub(Result<(String, String), ClientError>),
    /// RDY.
    Rdy(Result<u64, ClientError>),
    /// FIN id.
    Fin(Result<[u8; 16], ClientError>),
    /// REQ id ms.
    Req(Result<([u8; 16], u64), ClientError>),
    /// TOUCH id.
    Touch(Result<[u8; 16], ClientError>),
    /// CLS.
    Cls,
    /// NOP.
    Nop,
    /// PUB, MPUB, DPUB.
    Publish(PubKind, Result<OwnedPublish, ClientError>),
    /// Unknown command.
    Unknown(ClientError),
}

/// A command whose buffer spans are still offsets.
#[derive(Debug)]
pub(crate) enum Spans {
    /// Nothing borrowed.
    Ready(Cmd),
    /// IDENTIFY's body span.
    Identify(Range<usize>),
    /// AUTH's body span.
    Auth(Range<usize>),
    /// A publish's topic and body spans.
    Publish {
        /// Which command.
        kind: PubKind,
        /// The topic name's span.
        topic: Range<usize>,
        /// DPUB's delay (0 for the others).
        defer_ms: u64,
        /// The bodies' spans.
        bodies: BodySpans,
    },
}

/// Body spans of a publish (no allocation for PUB and DPUB).
#[derive(Debug)]
pub(crate) enum BodySpans {
    /// PUB, DPUB.
    One(Range<usize>),
    /// MPUB.
    Many(Vec<Range<usize>>),
}

fn span(base: &[u8], part: &[u8]) -> Range<usize> {
    let start = part.as_ptr() as usize - base.as_ptr() as usize;
    start..start + part.len()
}

fn id16(raw: &[u8]) -> [u8; 16] {
    let mut id = [0u8; 16];
    id.copy_from_slice(&raw[..16]);
    id
}

impl Spans {
    /// Record `command`'s spans relative to `base` (the buffer it was decoded from).
    pub(crate) fn of(command: Command<'_>, base: &[u8]) -> Spans {
        match command {
            Command::Identify(Ok(b)) => Spans::Identify(span(base, b)),
            Command::Identify(Err(e)) => Spans::Ready(Cmd::Identify(Err(e))),
            Command::Auth(Ok(b)) => Spans::Auth(span(base, b)),
            Command::Auth(Err(e)) => Spans::Ready(Cmd::Auth(Err(e))),
            Command::Sub(r) => Spans::Ready(Cmd::Sub(
                r.map(|s| (s.topic.to_string(), s.channel.to_string())),
            )),
            Command::Rdy(r) => Spans::Ready(Cmd::Rdy(r)),
            Command::Fin(r) => Spans::Ready(Cmd::Fin(r.map(id16))),
            Command::Req(r) => Spans::Ready(Cmd::Req(r.map(|q| (id16(q.id), q.timeout_ms)))),
            Command::Touch(r) => Spans::Ready(Cmd::Touch(r.map(id16))),
            Command::Cls => Spans::Ready(Cmd::Cls),
            Command::Nop => Spans::Ready(Cmd::Nop),
            Command::Pub(Ok(p)) => Spans::Publish {
                kind: PubKind::Pub,
                topic: span(base, p.topic.as_bytes()),
                defer_ms: 0,
                bodies: BodySpans::One(span(base, p.body)),
            },
            Command::Dpub(Ok(p)) => Spans::Publish {
                kind: PubKind::Dpub,
                topic: span(base, p.topic.as_bytes()),
                defer_ms: p.defer_ms,
                bodies: BodySpans::One(span(base, p.body)),
            },
            Command::Mpub(Ok(m)) => Spans::Publish {
                kind: PubKind::Mpub,
                topic: span(base, m.topic.as_bytes()),
                defer_ms: 0,
                bodies: BodySpans::Many(m.bodies.iter().map(|b| span(base, b)).collect()),
            },
            Command::Pub(Err(e)) => Spans::Ready(Cmd::Publish(PubKind::Pub, Err(e))),
            Command::Dpub(Err(e)) => Spans::Ready(Cmd::Publish(PubKind::Dpub, Err(e))),
            Command::Mpub(Err(e)) => Spans::Ready(Cmd::Publish(PubKind::Mpub, Err(e))),
            Command::Unknown(e) => Spans::Ready(Cmd::Unknown(e)),
        }
    }

    /// Resolve the spans against the frozen bytes of the command.
    pub(crate) fn resolve(self, chunk: &Bytes) -> Cmd {
        match self {
            Spans::Ready(cmd) => cmd,
            Spans::Identify(r) => Cmd::Identify(Ok(chunk.slice(r))),
            Spans::Auth(r) => Cmd::Auth(Ok(chunk.slice(r))),
            Spans::Publish {
                kind,
                topic,
                defer_ms,
                bodies,
            } => {
                let bodies = match bodies {
                    BodySpans::One(r) => Bodies::One(chunk.slice(r)),
                    BodySpans::Many(rs) => {
                        Bodies::Many(rs.into_iter().map(|r| chunk.slice(r)).collect())
                    }
                };
                // The decoder checked the name already: it is valid.
                let publish = TopicName::new(chunk.slice(topic))
                    .map(|topic| OwnedPublish {
                        topic,
                        defer_ms,
                        bodies,
                    })
                    .ok_or_else(|| {
                        ClientError::new(
                            ErrorCode::BadTopic,
                            format!("{} topic name is not valid", kind.name()),
                        )
                    });
                Cmd::Publish(kind, publish)
            }
        }
    }
}
