//! The `nsqd` binary: parse flags, run the broker.

use nsq_broker::options::{Options, NSQ_VERSION};

fn main() {
    let opts = match Options::parse(std::env::args()) {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    if opts.flags.version {
        println!(
            "nsqd v{NSQ_VERSION} (built w/rust, nsq-rs {})",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    nsq_daemon_support::run_or_exit("nsqd", || nsq_broker::boot::run(opts));
}
