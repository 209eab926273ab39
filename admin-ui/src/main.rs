//! The `nsqadmin` binary: parse flags, run the daemon.

use nsq_admin_ui::options::{Options, NSQ_VERSION};

fn main() {
    nsq_daemon_support::daemon_main(
        "nsqadmin",
        (NSQ_VERSION, env!("CARGO_PKG_VERSION")),
        Options::parse(std::env::args()),
        |o| o.flags.version,
        nsq_admin_ui::boot::run,
    );
}
