//! Pure codecs for NSQ's TCP V2 protocol and nsqlookupd's V1 protocol: no
//! I/O, no async, no runtime.
//!
//! Everything here works on byte slices and caller-owned buffers, so it can
//! be fuzzed and property-tested on its own and shared by the broker, the
//! bench harness and the client utilities.
//!
//! * [`command`]: client → server commands (decoder and encoders),
//!   docs/protocol.md#commands.
//! * [`frame`]: server → client frames, docs/protocol.md#frames.
//! * [`message`]: message IDs and the 26-byte message header,
//!   docs/protocol.md#message-format.
//! * [`identify`]: IDENTIFY JSON and negotiation rules,
//!   docs/protocol.md#identify.
//! * [`names`]: topic and channel names, docs/protocol.md#names.
//! * [`error`]: the error-code catalogue, docs/protocol.md#error-codes.
//! * [`lookupd`]: nsqlookupd's TCP "  V1" protocol,
//!   docs/lookupd.md#tcp-protocol; [`api::lookup`] its HTTP JSON shapes,
//!   docs/lookupd.md#http-api.
//! * [`http`]: HTTP/1.1 requests and V1 replies, docs/http-api.md#conventions.
//! * [`flags`], [`logfmt`]: flag spellings, `--config` TOML and log lines
//!   shared by the daemons, docs/configuration.md.
//!
//! ```text
//! client                                       server
//!   "  V2"                          ───────▶    (magic, once)
//!   PUB t\n[size][body]             ───────▶
//!                                   ◀───────    [size][0]["OK"]
//!   SUB t c\n  RDY 10\n             ───────▶
//!                                   ◀───────    [size][2][ts][attempts][id][body]
//!   FIN <id>\n                      ───────▶
//! ```
//!
//! "Need more bytes" is never an error: decoders return
//! [`Decoded::Incomplete`].
//!
//! ```
//! use nsq_protocol::command::{decode_command, Command, Limits, Request};
//! use nsq_protocol::Decoded;
//!
//! let mut wire = Vec::new();
//! Request::Pub("events", b"hello").encode(&mut wire);
//! match decode_command(&wire, &Limits::default()).unwrap() {
//!     Decoded::Complete { value: Command::Pub(Ok(p)), consumed } => {
//!         assert_eq!((p.topic, p.body, consumed), ("events", &b"hello"[..], wire.len()));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod api;
pub mod base64;
pub mod command;
pub mod error;
pub mod flags;
pub mod frame;
pub mod http;
pub mod identify;
pub mod logfmt;
pub mod lookupd;
pub mod message;
pub mod names;
pub mod quote;

pub use error::{ClientError, ErrorCode};
pub use message::{MessageHeader, MessageId};

/// The 4 bytes a V2 client sends first.
pub const MAGIC_V2: &[u8; 4] = b"  V2";

/// The result of decoding from a buffer that may hold a partial input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    /// A whole value, and how many bytes it took.
    Complete {
        /// The decoded value.
        value: T,
        /// Bytes consumed from the front of the buffer.
        consumed: usize,
    },
    /// More bytes are needed.
    Incomplete,
}
