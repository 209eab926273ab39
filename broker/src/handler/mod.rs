//! Command handlers, one file per group, as methods of
//! [`Connection`](crate::net::conn::Connection): IDENTIFY and AUTH, the
//! publishes, and the consumer commands. They never touch the socket: they
//! append frames to the client's output buffer and return a [`Flow`](crate::net::conn::Flow).

pub(crate) mod identify;
pub(crate) mod publish;
pub(crate) mod subscribe;
