//! nsq_to_nsq (docs/utilities.md#nsq_to_nsq).

use crate::args;
use crate::harness::*;
use crate::tail::sorted_tail as tail;

#[test]
fn json_filters_and_destination_topic() {
    let src = Daemon::nsqd(&[], &[]);
    let dst = Daemon::nsqd(&[], &[]);
    for body in [
        r#"{"c":true,"b":"x","a":1}"#,
        r#"{"a":2,"b":"y"}"#,
        r#"{"b":"x"}"#,
        "not json",
    ] {
        src.publish("nn_src", body.as_bytes());
    }
    let mut tool = Tool::start(
        "nsq_to_nsq",
        &args![
            "--topic=nn_src",
            format!("--nsqd-tcp-address={}", src.tcp),
            format!("--destination-nsqd-tcp-address={}", dst.tcp),
            "--destination-topic=nn_dst",
            "--require-json-field=b",
            "--require-json-value=x",
            "--whitelist-json-field=a",
            "-whitelist-json-field",
            "b",
        ],
        None,
    );
    wait_for("source drained", WAIT, || {
        let (depth, in_flight, n, _) = src.channel("nn_src", "nsq_to_nsq")?;
        (depth == 0 && in_flight == 0 && n == 4).then_some(())
    });
    wait_for("2 published", WAIT, || {
        (dst.topic_count("nn_dst")? == 2).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    assert_eq!(
        tail(&dst, "nn_dst", 2),
        [r#"{"a":1,"b":"x"}"#, r#"{"b":"x"}"#]
    );
}

#[test]
fn round_robin_over_destinations_via_lookupd() {
    let lookupd = Daemon::lookupd();
    let src = Daemon::nsqd(&[&lookupd], &[]);
    let d1 = Daemon::nsqd(&[], &[]);
    let d2 = Daemon::nsqd(&[], &[]);
    for i in 0..6 {
        src.publish("nn_rr", format!("m{i}").as_bytes());
    }
    wait_for("topic registered with lookupd", WAIT, || {
        let (s, b) = lookupd.get("/lookup?topic=nn_rr");
        (s == 200 && b.contains("tcp_port")).then_some(())
    });
    let mut tool = Tool::start(
        "nsq_to_nsq",
        &args![
            "--topic=nn_rr",
            format!("--lookupd-http-address={}", lookupd.http),
            format!("--destination-nsqd-tcp-address={}", d1.tcp),
            format!("--destination-nsqd-tcp-address={}", d2.tcp),
            "--mode=round-robin",
        ],
        None,
    );
    wait_for("6 republished, 3 to each", WAIT, || {
        (d1.topic_count("nn_rr")? == 3 && d2.topic_count("nn_rr")? == 3).then_some(())
    });
    wait_for("source drained", WAIT, || {
        let (depth, in_flight, _, _) = src.channel("nn_rr", "nsq_to_nsq")?;
        (depth == 0 && in_flight == 0).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    let mut all = tail(&d1, "nn_rr", 3);
    all.extend(tail(&d2, "nn_rr", 3));
    all.sort();
    assert_eq!(all, ["m0", "m1", "m2", "m3", "m4", "m5"]);
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let (status, _, err) = Tool::run(
        "nsq_to_nsq",
        &args!["--topic=t", "--nsqd-tcp-address=127.0.0.1:1"],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("--destination-nsqd-tcp-address required"),
        "{err}"
    );
    let (status, _, err) = Tool::run(
        "nsq_to_nsq",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--destination-nsqd-tcp-address=127.0.0.1:1",
            "--mode=bogus"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--mode must be one of"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_to_nsq",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--destination-nsqd-tcp-address=127.0.0.1:1"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("127.0.0.1:1"), "{err}");
}
