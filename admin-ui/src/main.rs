//! The `nsqadmin` binary: parse flags, run the daemon.

use nsq_admin_ui::options::{Options, NSQ_VERSION};

fn main() {
    let opts = match Options::parse(std::env::args()) {
        Ok(o) => o,
        Err(e) => e.exit(),
    };
    if opts.flags.version {
        println!(
            "nsqadmin v{NSQ_VERSION} (built w/rust, nsq-rs {})",
            env!("CARGO_PKG_VERSION")
        );
        return;
    }
    nsq_daemon_support::run_or_exit("nsqadmin", || nsq_admin_ui::boot::run(opts));
}
