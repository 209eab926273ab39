//! The `nsqlookupd` binary: parse flags, run the daemon.

use nsq_lookup::options::{Options, NSQ_VERSION};

fn main() {
    let opts = match Options::parse(std::env::args()) {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    if opts.flags.version {
        println!(
            "nsqlookupd v{NSQ_VERSION} (built w/rust, nsq-rs {})",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    nsq_daemon_support::run_or_exit("nsqlookupd", || nsq_lookup::boot::run(opts));
}
