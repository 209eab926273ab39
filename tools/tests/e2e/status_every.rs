//! nsq_to_http `--status-every`: NSQ's timer_metrics lines, per address
//! (with several addresses) and in aggregate, every N requests after the
//! first N, and the warning for a window under 100.

use crate::args;
use crate::harness::*;

#[test]
fn nsq_to_http_status_lines() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let (a, b) = (HttpSink::start(|_| 200), HttpSink::start(|_| 200));
    for i in 0..10 {
        nsqd.publish("nh_status", format!("m{i}").as_bytes());
    }
    let (url_a, url_b) = (
        format!("http://{}/a", a.addr),
        format!("http://{}/b", b.addr),
    );
    let mut tool = Tool::start(
        "nsq_to_http",
        &args![
            "--topic=nh_status",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--post={url_a}"),
            format!("--post={url_b}"),
            "--mode=round-robin",
            "--status-every=2",
            "-n",
            "1",
        ],
        None,
    );
    wait_for("ten requests, all finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("nh_status", "nsq_to_http")?;
        let n = a.received().len() + b.received().len();
        (depth == 0 && in_flight == 0 && n == 10).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    tool.drain();
    let err = tool.stderr();
    let line = |prefix: &str| {
        regex::Regex::new(&format!(
            r"^\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d {} finished 2 - 99th: \d+\.\d\dms - 95th: \d+\.\d\dms - avg: \d+\.\d\dms$",
            regex::escape(prefix)
        ))
        .unwrap()
    };
    let count = |re: &regex::Regex| err.lines().filter(|l| re.is_match(l)).count();
    // Ten requests, a window of 2: lines at the 3rd, 5th, 7th and 9th;
    // five per address: at their 3rd and 5th.
    assert_eq!(count(&line("[aggregate]:")), 4, "{err}");
    assert_eq!(count(&line(&format!("[{url_a}]:"))), 2, "{err}");
    assert_eq!(count(&line(&format!("[{url_b}]:"))), 2, "{err}");
    assert!(
        err.contains(
            " WARNING: use more than 100 status values for accurate percentiles (configured with 2)"
        ),
        "{err}"
    );
}
