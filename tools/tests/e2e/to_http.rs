//! nsq_to_http (docs/utilities.md#nsq_to_http).

use crate::args;
use crate::harness::*;

#[test]
fn posts_with_headers_and_retries_failures() {
    let nsqd = Daemon::nsqd(&[], &[]);
    // The first request fails: the message is requeued (with backoff) and
    // delivered again.
    let sink = HttpSink::start(|n| if n == 0 { 500 } else { 201 });
    for b in ["p0", "p1", "p2"] {
        nsqd.publish("nh_post", b.as_bytes());
    }
    let mut tool = Tool::start(
        "nsq_to_http",
        &args![
            "--topic=nh_post",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--post=http://{}/in?x=1", sink.addr),
            "--content-type=text/plain",
            "--header=X-Test: a: b",
            "-n",
            "1",
            "--consumer-opt=default_requeue_delay,50ms",
            "--consumer-opt=backoff_multiplier,50ms",
        ],
        None,
    );
    wait_for("all delivered and finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("nh_post", "nsq_to_http")?;
        let ok = sink.received().len() >= 4;
        (depth == 0 && in_flight == 0 && ok).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    let got = sink.received();
    assert_eq!(got.len(), 4, "{got:#?}");
    let mut bodies: Vec<String> = got[1..]
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["p0", "p1", "p2"]);
    for r in &got {
        assert_eq!(r.method, "POST");
        assert_eq!(r.target, "/in?x=1");
        assert_eq!(r.header("Content-Type"), Some("text/plain"));
        assert_eq!(r.header("X-Test"), Some("a: b"));
    }
    let st = nsqd.stats();
    let ch = &st.topics.unwrap()[0].channels[0];
    assert_eq!(ch.requeue_count, 1);
}

#[test]
fn get_escapes_and_samples_zero() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let sink = HttpSink::start(|_| 200);
    nsqd.publish("nh_get", b"a b&c");
    let mut tool = Tool::start(
        "nsq_to_http",
        &args![
            "--topic=nh_get",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--get=http://{}/g?m=%s", sink.addr),
        ],
        None,
    );
    wait_for("request", WAIT, || {
        (sink.received().len() == 1).then_some(())
    });
    wait_for("finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("nh_get", "nsq_to_http")?;
        (depth == 0 && in_flight == 0).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success());
    let r = &sink.received()[0];
    assert_eq!(
        (r.method.as_str(), r.target.as_str()),
        ("GET", "/g?m=a+b%26c")
    );

    // --sample=0: FINed, never forwarded.
    let sink0 = HttpSink::start(|_| 200);
    nsqd.publish("nh_s", b"x");
    let mut tool = Tool::start(
        "nsq_to_http",
        &args![
            "--topic=nh_s",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--post=http://{}/", sink0.addr),
            "--sample=0",
        ],
        None,
    );
    wait_for("finished unforwarded", WAIT, || {
        let (depth, in_flight, n, _) = nsqd.channel("nh_s", "nsq_to_http")?;
        (depth == 0 && in_flight == 0 && n == 1).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success());
    assert!(sink0.received().is_empty());
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let (status, _, err) = Tool::run(
        "nsq_to_http",
        &args!["--topic=t", "--nsqd-tcp-address=127.0.0.1:1"],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--get or --post required"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_to_http",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--get=http://h:1/x"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("printf string"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_to_http",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--post=http://h:1/",
            "--header=bad"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("Invalid header"), "{err}");
}
