//! The one blocking HTTP/1.1 client of nsq-rs, used by the tools (lookupd,
//! nsqd `/stats`, nsq_to_http), nsqadmin (every upstream call), nsqd (AUTH
//! helper threads, the lookupd `/channels` query), `nsq_ping` and the
//! integration tests.
//!
//! One request per connection (`Connection: close`), over plain TCP or, for
//! `https://` [`Target`]s, rustls with the caller's client configuration.
//! Timeouts are NSQ's (`--http-client-connect-timeout`,
//! `--http-client-request-timeout`): the connect is bounded by the connect
//! timeout, the whole request (connect, TLS handshake, write, read) by the
//! request timeout, as Go's `http.Client{Timeout}` over a dialer with its
//! own timeout. A zero timeout is no bound, as in Go.
//!
//! ```text
//! Target ── dial (every address, connect timeout) ── [TLS] ── head + body
//!        ◀── ResponseReader (Content-Length, chunked or to EOF) ◀── socket
//! ```
//!
//! * [`url`]: [`Url`] and [`Target`], the addresses NSQ's flags take.
//! * [`conn`]: dialing, TLS server names, the plain-or-TLS stream, TLS
//!   records into a buffer.
//! * [`exchange`]: [`Client`], the request and its deadline.
//! * [`response`]: [`Response`] and its incremental reader.
//! * [`escape`]: Go's `url.QueryEscape`.
//! * [`error`]: [`HttpError`] and the errors of its parts.

pub mod conn;
pub mod error;
pub mod escape;
pub mod exchange;
pub mod response;
pub mod url;

pub use conn::{dial, server_name, tls_encrypt};
pub use error::{BadServerName, DialError, HttpError};
pub use escape::query_escape;
pub use exchange::{Client, Timeouts};
pub use response::Response;
pub use url::{Target, Url};
