//! nsq_tail (docs/utilities.md#nsq_tail).

use std::time::Duration;

use crate::args;
use crate::harness::*;

/// The first `n` messages of `topic` at `nsqd` (read by nsq_tail, which must
/// succeed), sorted.
pub(crate) fn sorted_tail(nsqd: &Daemon, topic: &str, n: usize) -> Vec<String> {
    let (status, mut out, err) = run_tail(nsqd, topic, n, &[]);
    assert!(status.success(), "{err}");
    out.sort();
    out
}

/// Run `nsq_tail -n <n>` on `topic` at `nsqd` with `extra` flags, to its
/// (bounded) exit: (status, stdout lines, stderr).
pub(crate) fn run_tail(
    nsqd: &Daemon,
    topic: &str,
    n: usize,
    extra: &[String],
) -> (std::process::ExitStatus, Vec<String>, String) {
    let mut a = args![
        format!("--topic={topic}"),
        format!("--nsqd-tcp-address={}", nsqd.tcp),
        "-n",
        n
    ]
    .to_vec();
    a.extend_from_slice(extra);
    Tool::run("nsq_tail", &a, None)
}

fn bodies(lines: &[String]) -> Vec<String> {
    let mut v = lines.to_vec();
    v.sort();
    v
}

#[test]
fn prints_bodies_and_exits_after_n() {
    let nsqd = Daemon::nsqd(&[], &[]);
    for i in 0..5 {
        nsqd.publish("tail_n", format!("m{i}").as_bytes());
    }
    // Single-dash spellings, as Go's flag package takes them.
    let (status, out, err) = Tool::run(
        "nsq_tail",
        &args!["-topic", "tail_n", "-nsqd-tcp-address", nsqd.tcp, "-n", "5"],
        None,
    );
    assert!(status.success(), "{status:?}: {err}");
    assert!(
        err.lines()
            .any(|l| l.ends_with(" Adding consumer for topic: tail_n")),
        "{err}"
    );
    assert_eq!(bodies(&out), ["m0", "m1", "m2", "m3", "m4"]);
}

#[test]
fn lookupd_discovery_and_print_topic() {
    let lookupd = Daemon::lookupd();
    let nsqd = Daemon::nsqd(&[&lookupd], &[]);
    nsqd.publish("tail_l", b"one");
    nsqd.publish("tail_l", b"two");
    wait_for("topic registered with lookupd", WAIT, || {
        let (s, b) = lookupd.get("/lookup?topic=tail_l");
        (s == 200 && b.contains("tcp_port")).then_some(())
    });
    let (status, out, err) = Tool::run(
        "nsq_tail",
        &args![
            "--topic=tail_l",
            format!("--lookupd-http-address={}", lookupd.http),
            "--print-topic",
            "--n=2",
            "--consumer-opt=max_attempts,3",
        ],
        None,
    );
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(bodies(&out), ["tail_l | one", "tail_l | two"]);
}

#[test]
fn sigterm_stops_cleanly_and_ephemeral_channel_goes() {
    let nsqd = Daemon::nsqd(&[], &[]);
    nsqd.publish("tail_s", b"first");
    let mut tool = Tool::start(
        "nsq_tail",
        &args!["--topic", "tail_s", "--nsqd-tcp-address", nsqd.tcp],
        None,
    );
    wait_for("first line", WAIT, || {
        tool.stdout().iter().any(|l| l == "first").then_some(())
    });
    let channel = wait_for("tail channel", WAIT, || {
        let st = nsqd.stats();
        let t = st.topics?.into_iter().find(|t| t.topic_name == "tail_s")?;
        let c = t.channels.into_iter().next()?;
        Some(c.channel_name)
    });
    assert!(
        channel.starts_with("tail") && channel.ends_with("#ephemeral"),
        "{channel}"
    );
    assert_eq!(channel.len(), "tail".len() + 6 + "#ephemeral".len());
    nsqd.publish("tail_s", b"second");
    wait_for("second line", WAIT, || {
        tool.stdout().iter().any(|l| l == "second").then_some(())
    });
    // Both FINed: nothing in flight.
    wait_for("nothing in flight", WAIT, || {
        (nsqd.channel("tail_s", &channel)?.1 == 0).then_some(())
    });
    tool.signal(libc::SIGTERM);
    let status = tool.wait(WAIT);
    assert!(status.success(), "{status:?}");
    wait_for("ephemeral channel deleted", WAIT, || {
        nsqd.channel("tail_s", &channel).is_none().then_some(())
    });
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let (status, _, err) = Tool::run("nsq_tail", &args!["--nsqd-tcp-address=127.0.0.1:1"], None);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--topic required"), "{err}");
    let (status, _, err) = Tool::run("nsq_tail", &args!["--topic=t"], None);
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("--nsqd-tcp-address or --lookupd-http-address required"),
        "{err}"
    );
    let (status, _, err) = Tool::run(
        "nsq_tail",
        &args!["--topic=t", "--nsqd-tcp-address=127.0.0.1:1"],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(
        err.contains("failed to connect to nsqd 127.0.0.1:1"),
        "{err}"
    );
    let (status, _, err) = Tool::run("nsq_tail", &args!["--no-such-flag"], None);
    assert_eq!(status.code(), Some(2), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_tail",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=x:1",
            "--consumer-opt=bogus,1"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("bogus"), "{err}");
    let _ = Duration::ZERO;
}

#[test]
fn one_consumer_per_topic() {
    let nsqd = Daemon::nsqd(&[], &[]);
    nsqd.publish("tail_t1", b"x1");
    nsqd.publish("tail_t2", b"x2");
    let mut tool = Tool::start(
        "nsq_tail",
        &args![
            "--topic=tail_t1",
            "--topic=tail_t2",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--print-topic",
            "--channel=fixed",
        ],
        None,
    );
    wait_for("both topics printed", WAIT, || {
        let out = tool.stdout();
        (out.contains(&"tail_t1 | x1".to_string()) && out.contains(&"tail_t2 | x2".to_string()))
            .then_some(())
    });
    tool.signal(libc::SIGINT);
    assert!(tool.wait(WAIT).success());
    tool.drain();
    let err = tool.stderr();
    for t in ["tail_t1", "tail_t2"] {
        let want = format!(" Adding consumer for topic: {t}");
        assert!(err.lines().any(|l| l.ends_with(&want)), "{err}");
    }
    // A named channel is not ephemeral: it stays, drained.
    assert_eq!(
        nsqd.channel("tail_t1", "fixed").map(|c| (c.0, c.1)),
        Some((0, 0))
    );
}
