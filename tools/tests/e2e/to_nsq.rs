//! to_nsq (docs/utilities.md#to_nsq).

use std::time::{Duration, Instant};

use crate::args;
use crate::harness::*;
use crate::tail::sorted_tail as tail;

#[test]
fn fans_out_to_every_nsqd() {
    let a = Daemon::nsqd(&[], &[]);
    let b = Daemon::nsqd(&[], &[]);
    let (status, _, err) = Tool::run(
        "to_nsq",
        &args![
            "--topic",
            "fan",
            "--nsqd-tcp-address",
            a.tcp,
            "-nsqd-tcp-address",
            b.tcp
        ],
        Some(b"a\nb\n\nc".to_vec()),
    );
    assert!(status.success(), "{err}");
    // The last record has no trailing delimiter: published whole (NSQ's
    // to_nsq cuts its last byte, here publishing nothing; see README).
    assert_eq!(a.topic_count("fan"), Some(3));
    assert_eq!(b.topic_count("fan"), Some(3));
    assert_eq!(tail(&a, "fan", 3), ["a", "b", "c"]);
    assert_eq!(tail(&b, "fan", 3), ["a", "b", "c"]);
}

#[test]
fn delimiter_and_rate() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let input: Vec<u8> = (0..10)
        .map(|i| format!("r{i},"))
        .collect::<String>()
        .into_bytes();
    let start = Instant::now();
    let (status, _, err) = Tool::run(
        "to_nsq",
        &args![
            "--topic=delim",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--delimiter=,",
            "--rate=10"
        ],
        Some(input),
    );
    assert!(status.success(), "{err}");
    // 10 messages at 10/s with one token to start: at least ~0.9 s.
    assert!(
        start.elapsed() >= Duration::from_millis(700),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(nsqd.topic_count("delim"), Some(10));
    let got = tail(&nsqd, "delim", 10);
    let mut want: Vec<String> = (0..10).map(|i| format!("r{i}")).collect();
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let (status, _, err) = Tool::run(
        "to_nsq",
        &args!["--nsqd-tcp-address=127.0.0.1:1"],
        Some(vec![]),
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--topic required"), "{err}");
    let (status, _, err) = Tool::run(
        "to_nsq",
        &args!["--topic=t", "--nsqd-tcp-address=127.0.0.1:1"],
        Some(b"x\n".to_vec()),
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("127.0.0.1:1"), "{err}");
    let (status, _, err) = Tool::run(
        "to_nsq",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--delimiter=ab"
        ],
        Some(vec![]),
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("single byte"), "{err}");
}
