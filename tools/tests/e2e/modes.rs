//! `--mode=hostpool` / `--mode=epsilon-greedy` end to end: a failing
//! destination gets one request, then rests (30 s) while the others take
//! the traffic (the selection itself is unit-tested in `hostpool`).

use crate::args;
use crate::harness::*;

/// nsq_to_http from `topic` to two sinks (POST) in `mode`.
fn to_two_sinks(
    nsqd: &Daemon,
    topic: &str,
    mode: &str,
    sinks: [&HttpSink; 2],
    extra: &[String],
) -> Tool {
    let mut a = args![
        format!("--topic={topic}"),
        format!("--nsqd-tcp-address={}", nsqd.tcp),
        format!("--post=http://{}/", sinks[0].addr),
        format!("--post=http://{}/", sinks[1].addr),
        format!("--mode={mode}"),
    ]
    .to_vec();
    a.extend_from_slice(extra);
    Tool::start("nsq_to_http", &a, None)
}

fn failing_destination_rests(mode: &str, topic: &str) {
    let nsqd = Daemon::nsqd(&[], &[]);
    let bad = HttpSink::start(|_| 500);
    let good = HttpSink::start(|_| 200);
    for i in 0..6 {
        nsqd.publish(topic, format!("m{i}").as_bytes());
    }
    let mut tool = to_two_sinks(
        &nsqd,
        topic,
        mode,
        [&bad, &good],
        &args![
            "-n",
            "1",
            "--consumer-opt=default_requeue_delay,50ms",
            "--consumer-opt=backoff_multiplier,50ms",
        ],
    );
    wait_for("every message at the good destination", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel(topic, "nsq_to_http")?;
        (depth == 0 && in_flight == 0 && good.received().len() == 6).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    // The first pick is the first address; after its failure it rests.
    assert_eq!(bad.received().len(), 1, "{}", tool.stderr());
    let st = nsqd.stats();
    let ch = &st.topics.unwrap()[0].channels[0];
    assert_eq!(ch.requeue_count, 1);
}

#[test]
fn nsq_to_http_hostpool_rests_a_failing_destination() {
    failing_destination_rests("hostpool", "mode_hp");
}

#[test]
fn nsq_to_http_epsilon_greedy_rests_a_failing_destination() {
    failing_destination_rests("epsilon-greedy", "mode_eg");
}

#[test]
fn nsq_to_nsq_hostpool_moves_off_a_dead_destination() {
    let src = Daemon::nsqd(&[], &[]);
    let live = Daemon::nsqd(&[], &[]);
    let mut dead = Daemon::nsqd(&[], &[]);
    let mut tool = Tool::start(
        "nsq_to_nsq",
        &args![
            "--topic=mode_nn",
            format!("--nsqd-tcp-address={}", src.tcp),
            format!("--destination-nsqd-tcp-address={}", live.tcp),
            format!("--destination-nsqd-tcp-address={}", dead.tcp),
            "--consumer-opt=default_requeue_delay,50ms",
            "--consumer-opt=backoff_multiplier,50ms",
        ],
        None,
    );
    // The first message (first pick: the first address) shows that the
    // tool is connected to both; then the second destination goes away.
    src.publish("mode_nn", b"m0");
    wait_for("the first message at the live destination", WAIT, || {
        (live.topic_count("mode_nn")? == 1).then_some(())
    });
    dead.terminate();
    for i in 1..10 {
        src.publish("mode_nn", format!("m{i}").as_bytes());
    }
    wait_for("all ten at the live destination", WAIT, || {
        (live.topic_count("mode_nn")? == 10).then_some(())
    });
    wait_for("source drained", WAIT, || {
        let (depth, in_flight, _, _) = src.channel("mode_nn", "nsq_to_nsq")?;
        (depth == 0 && in_flight == 0).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    // At most one failed publish per handler (two destinations: two
    // handlers) before the dead destination was marked down.
    let st = src.stats();
    let ch = &st.topics.unwrap()[0].channels[0];
    assert!(ch.requeue_count <= 2, "{ch:?}\n{}", tool.stderr());
}

#[test]
fn nsq_to_http_multicast_and_unknown_modes_send_to_every_url() {
    let nsqd = Daemon::nsqd(&[], &[]);
    for (mode, topic) in [("multicast", "mode_mc"), ("no-such-mode", "mode_unknown")] {
        let (a, b) = (HttpSink::start(|_| 200), HttpSink::start(|_| 200));
        for i in 0..3 {
            nsqd.publish(topic, format!("m{i}").as_bytes());
        }
        let mut tool = to_two_sinks(&nsqd, topic, mode, [&a, &b], &[]);
        wait_for("three messages at both URLs", WAIT, || {
            let (depth, in_flight, _, _) = nsqd.channel(topic, "nsq_to_http")?;
            let both = a.received().len() == 3 && b.received().len() == 3;
            (depth == 0 && in_flight == 0 && both).then_some(())
        });
        tool.signal(libc::SIGTERM);
        assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
        tool.drain();
        let warned = tool
            .stderr()
            .contains(" WARNING: multicast mode is deprecated");
        assert_eq!(warned, mode == "multicast", "{}", tool.stderr());
    }
}
