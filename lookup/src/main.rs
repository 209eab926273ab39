//! The `nsqlookupd` binary: parse flags, run the daemon.

use nsq_lookup::options::{Options, NSQ_VERSION};

fn main() {
    nsq_daemon_support::daemon_main(
        "nsqlookupd",
        (NSQ_VERSION, env!("CARGO_PKG_VERSION")),
        Options::parse(std::env::args()),
        |o| o.flags.version,
        nsq_lookup::boot::run,
    );
}
