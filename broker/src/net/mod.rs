//! Networking: the accept loop, connections, their shared client state, the
//! writer task and socket helpers. Only this module and `boot`/`shard` name
//! the runtime.

pub mod affinity;
pub mod client;
pub mod conn;
pub mod io;
pub mod listener;
pub mod owned;
pub mod transport;
pub mod writer;
