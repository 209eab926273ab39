//! nsq_stat (docs/utilities.md#nsq_stat).

use crate::args;
use crate::harness::*;

const HEADER1: &str =
    "------rate------+----------------depth----------------+--------------metadata---------------";
const HEADER2: &str =
    "ingress  egress |   total     mem    disk inflt   def |     req     t-o         msgs clients";

fn columns(line: &str) -> Vec<i64> {
    line.split_whitespace()
        .filter(|w| *w != "|")
        .map(|w| {
            w.parse()
                .unwrap_or_else(|_| panic!("not a number in {line:?}"))
        })
        .collect()
}

#[test]
fn prints_nsq_columns_for_count_reports() {
    let nsqd = Daemon::nsqd(&[], &[]);
    nsqd.create_channel("st", "ch");
    for i in 0..3 {
        nsqd.publish("st", format!("m{i}").as_bytes());
    }
    wait_for("channel depth 3", WAIT, || {
        (nsqd.channel("st", "ch")?.0 == 3).then_some(())
    });
    let (status, out, err) = Tool::run(
        "nsq_stat",
        &args![
            "-topic=st",
            "-channel",
            "ch",
            format!("--nsqd-http-address={}", nsqd.http),
            "--interval=100ms",
            "--count=2"
        ],
        None,
    );
    assert!(status.success(), "{err}");
    assert_eq!(out.len(), 4, "{out:#?}");
    assert_eq!(out[0], HEADER1);
    assert_eq!(out[1], HEADER2);
    for line in &out[2..] {
        // ingress egress | total mem disk inflt def | req t-o msgs clients
        assert_eq!(columns(line), [0, 0, 3, 3, 0, 0, 0, 0, 0, 3, 0], "{line}");
        assert_eq!(line.len(), HEADER2.len(), "{line:?}");
    }
}

#[test]
fn header_every_25_lines_via_lookupd() {
    let lookupd = Daemon::lookupd();
    let nsqd = Daemon::nsqd(&[&lookupd], &[]);
    nsqd.create_channel("st2", "ch");
    wait_for("topic registered with lookupd", WAIT, || {
        let (s, b) = lookupd.get("/lookup?topic=st2");
        (s == 200 && b.contains("tcp_port")).then_some(())
    });
    let (status, out, err) = Tool::run(
        "nsq_stat",
        &args![
            "--topic=st2",
            "--channel=ch",
            format!("--lookupd-http-address={}", lookupd.http),
            "--interval=10ms",
            "--count=26"
        ],
        None,
    );
    assert!(status.success(), "{err}");
    assert_eq!(out.len(), 2 + 26 + 2, "{out:#?}");
    assert_eq!(out[0], HEADER1);
    // Headers at reports 0 and 25 (the first report only primes the rates).
    assert_eq!(out[2 + 24], HEADER1);
    assert_eq!(out[2 + 25], HEADER2);
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let (status, _, err) = Tool::run("nsq_stat", &args!["--topic=t"], None);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--topic and --channel are required"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_stat",
        &args![
            "--topic=t",
            "--channel=c",
            format!("--nsqd-http-address={}", nsqd.http),
            "--count=1"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("failed to find channel(c) in stats metadata for topic(t)"),
        "{err}"
    );
    let (status, _, err) = Tool::run(
        "nsq_stat",
        &args![
            "--topic=t",
            "--channel=c",
            "--nsqd-http-address=127.0.0.1:1",
            "--count=1"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_stat",
        &args!["--topic=t", "--channel=c", "--nsqd-http-address=http://h:1"],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("scheme"), "{err}");
}
