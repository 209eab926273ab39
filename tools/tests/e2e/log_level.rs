//! `--log-level` (and `--log-prefix`) through the shared implementation:
//! `error` silences the info lines, `debug` adds the client's debug lines
//! (IDENTIFY response, RDY), checked on nsq_tail and nsq_to_file, whose
//! own lines have NSQ's daemon format and the prefix (go-nsq's have none).

use crate::args;
use crate::harness::*;

/// Run nsq_tail for one message at `level`: its stderr.
fn tail_stderr(nsqd: &Daemon, topic: &str, level: &str) -> String {
    nsqd.publish(topic, b"x");
    let (status, out, err) =
        crate::tail::run_tail(nsqd, topic, 1, &args![format!("--log-level={level}")]);
    assert!(status.success(), "{status:?}: {err}");
    assert!(out.contains(&"x".to_string()), "{out:?}");
    err
}

/// A client-library line at level `tag` (go-nsq's `INF    1 …` after
/// Go's time stamp; no prefix).
fn has_tag(err: &str, tag: &str) -> bool {
    let re = regex::Regex::new(&format!(r"^\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d {tag} +\d+ ")).unwrap();
    err.lines().any(|l| re.is_match(l))
}

/// An nsq_to_file line at `level` (`<prefix><time.micro> LEVEL: …`).
fn has_app_line(err: &str, prefix: &str, level: &str) -> bool {
    let re = regex::Regex::new(&format!(
        r"^{}\d{{4}}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{{6}} {level}: ",
        regex::escape(prefix)
    ))
    .unwrap();
    err.lines().any(|l| re.is_match(l))
}

#[test]
fn nsq_tail_levels() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let info = tail_stderr(&nsqd, "ll_info", "info");
    assert!(has_tag(&info, "INF"), "{info}");
    assert!(!has_tag(&info, "DBG"), "{info}");

    let error = tail_stderr(&nsqd, "ll_error", "ERROR");
    assert!(!has_tag(&error, "INF"), "{error}");
    assert!(!has_tag(&error, "DBG"), "{error}");

    let debug = tail_stderr(&nsqd, "ll_debug", "debug");
    assert!(has_tag(&debug, "INF"), "{debug}");
    assert!(debug.contains("IDENTIFY response: {"), "{debug}");
    assert!(debug.contains("sending RDY 1"), "{debug}");

    let (status, _, err) = Tool::run("nsq_tail", &args!["--topic=t", "--log-level=loud"], None);
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--log-level is invalid"), "{err}");
}

/// Archive one message with nsq_to_file at `level` and stop it: stderr.
fn to_file_stderr(nsqd: &Daemon, topic: &str, extra: &[String]) -> String {
    let dir = TempDir::new("loglevel");
    nsqd.publish(topic, b"line");
    let mut a = args![
        format!("--topic={topic}"),
        format!("--nsqd-tcp-address={}", nsqd.tcp),
        format!("--output-dir={}", dir.0.display()),
    ]
    .to_vec();
    a.extend_from_slice(extra);
    let mut tool = Tool::start("nsq_to_file", &a, None);
    wait_for("message archived and finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel(topic, "nsq_to_file")?;
        (depth == 0 && in_flight == 0).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    tool.drain();
    tool.stderr()
}

#[test]
fn nsq_to_file_levels_and_prefix() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let p = "[nsq_to_file] ";
    let info = to_file_stderr(&nsqd, "lf_info", &[]);
    assert!(has_app_line(&info, p, "INFO"), "{info}");
    assert!(has_tag(&info, "INF"), "{info}");
    assert!(info.contains("opening "), "{info}");
    assert!(!has_app_line(&info, p, "DEBUG"), "{info}");
    assert!(!has_tag(&info, "DBG"), "{info}");

    let error = to_file_stderr(&nsqd, "lf_error", &args!["--log-level=error"]);
    assert!(!has_app_line(&error, p, "INFO"), "{error}");
    assert!(!has_tag(&error, "INF"), "{error}");
    assert!(!error.contains("opening "), "{error}");

    let debug = to_file_stderr(
        &nsqd,
        "lf_debug",
        &args!["-log-level", "debug", "--log-prefix=<f> "],
    );
    assert!(has_tag(&debug, "DBG"), "{debug}");
    assert!(has_app_line(&debug, "<f> ", "INFO"), "{debug}");
    assert!(debug.contains("IDENTIFY response: {"), "{debug}");
}
