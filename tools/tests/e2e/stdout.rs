//! What each utility prints where, byte for byte on stdout: only what
//! NSQ's tool prints there (nsq_tail's messages, nsq_stat's table,
//! `--version`), nothing from the others, so that `nsq_tail … | jq` works.
//! Everything else goes to stderr in NSQ's log formats: Go's standard log
//! for the tools' own lines (nsq_to_file: NSQ's daemon format with its
//! prefix) and go-nsq's format for the client library's.

use std::io::Read;
use std::process::{Child, ExitStatus};
use std::sync::mpsc;

use crate::args;
use crate::harness::*;

/// A tool whose stdout is kept as raw bytes.
struct Raw {
    child: Child,
    out: mpsc::Receiver<Vec<u8>>,
    err: mpsc::Receiver<Vec<u8>>,
}

fn read_all(pipe: impl Read + Send + 'static) -> mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut pipe = pipe;
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

impl Raw {
    fn start(name: &str, args: &[String], input: Option<&[u8]>) -> Raw {
        let mut child = spawn_tool(name, args, input.map(<[u8]>::to_vec));
        let out = read_all(child.stdout.take().expect("stdout"));
        let err = read_all(child.stderr.take().expect("stderr"));
        Raw { child, out, err }
    }

    /// Wait (bounded) for the exit: (status, stdout bytes, stderr text).
    fn finish(mut self) -> (ExitStatus, Vec<u8>, String) {
        let status = wait_exit(&mut self.child, WAIT);
        let out = self.out.recv_timeout(WAIT).expect("stdout ends");
        let err = self.err.recv_timeout(WAIT).expect("stderr ends");
        (status, out, String::from_utf8_lossy(&err).into_owned())
    }

    fn run(name: &str, args: &[String], input: Option<&[u8]>) -> (ExitStatus, Vec<u8>, String) {
        Raw::start(name, args, input).finish()
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        nsq_test_support::process::kill(&mut self.child);
    }
}

const TIME: &str = r"\d{4}/\d\d/\d\d \d\d:\d\d:\d\d";

/// Every stderr line is a go-nsq line or, for the tool's own lines, Go's
/// standard log line (nsq_to_file: `[nsq_to_file] <time.micro> LEVEL: `).
fn assert_log_format(tool: &str, err: &str) {
    let go_nsq = regex::Regex::new(&format!(r"^{TIME} (DBG|INF|WRN|ERR) +\d+ \S")).unwrap();
    let own = if tool == "nsq_to_file" {
        format!(r"^\[nsq_to_file\] {TIME}\.\d{{6}} (DEBUG|INFO|WARNING|ERROR|FATAL): \S")
    } else {
        format!(r"^{TIME} \S")
    };
    let own = regex::Regex::new(&own).unwrap();
    for line in err.lines() {
        assert!(
            go_nsq.is_match(line) || own.is_match(line),
            "{tool}: a stderr line not in NSQ's log format: {line:?}\n{err}"
        );
    }
}

fn has_line(err: &str, re: &str) -> bool {
    let re = regex::Regex::new(re).unwrap();
    err.lines().any(|l| re.is_match(l))
}

#[test]
fn nsq_tail_prints_only_the_messages() {
    let nsqd = Daemon::nsqd(&[], &[]);
    for i in 0..3 {
        nsqd.publish("so_tail", format!("m{i}").as_bytes());
    }
    let (status, out, err) = Raw::run(
        "nsq_tail",
        &args![
            "--topic=so_tail",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "-n",
            3
        ],
        None,
    );
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(String::from_utf8_lossy(&out), "m0\nm1\nm2\n", "{err}");
    assert_log_format("nsq_tail", &err);
    assert!(
        has_line(
            &err,
            &format!("^{TIME} Adding consumer for topic: so_tail$")
        ),
        "{err}"
    );
    assert!(
        has_line(
            &err,
            &format!(
                r"^{TIME} INF +\d+ \[so_tail/tail\d{{6}}#ephemeral\] \({}\) connecting to nsqd$",
                nsqd.tcp
            )
        ),
        "{err}"
    );

    nsqd.publish("so_tail2", b"{\"a\":1}");
    let (status, out, err) = Raw::run(
        "nsq_tail",
        &args![
            "--topic=so_tail2",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--print-topic",
            "-n",
            1
        ],
        None,
    );
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(String::from_utf8_lossy(&out), "so_tail2 | {\"a\":1}\n");
    assert_log_format("nsq_tail", &err);
}

#[test]
fn to_nsq_prints_nothing_on_stdout() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let (status, out, err) = Raw::run(
        "to_nsq",
        &args![
            "--topic=so_to",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            "--rate=1000"
        ],
        Some(b"a\nb\n"),
    );
    assert!(status.success(), "{status:?}: {err}");
    assert_eq!(nsqd.topic_count("so_to"), Some(2));
    assert_eq!(String::from_utf8_lossy(&out), "", "{err}");
    assert_log_format("to_nsq", &err);
    assert!(
        has_line(
            &err,
            &format!("^{TIME} Throttling messages rate to max:1000/second$")
        ),
        "{err}"
    );
    assert!(
        has_line(
            &err,
            &format!(r"^{TIME} INF +\d+ \({}\) connecting to nsqd$", nsqd.tcp)
        ),
        "{err}"
    );
}

#[test]
fn nsq_stat_prints_only_its_table() {
    let nsqd = Daemon::nsqd(&[], &[]);
    nsqd.create_channel("so_stat", "ch");
    for i in 0..3 {
        nsqd.publish("so_stat", format!("m{i}").as_bytes());
    }
    let (status, out, err) = Raw::run(
        "nsq_stat",
        &args![
            "--topic=so_stat",
            "--channel=ch",
            format!("--nsqd-http-address={}", nsqd.http),
            "--interval=100ms",
            "--count=2"
        ],
        None,
    );
    assert!(status.success(), "{status:?}: {err}");
    let row = "      0       0 |       3       3       0     0     0 |       0       0            3       0";
    let want = [
        "------rate------+----------------depth----------------+--------------metadata---------------",
        "ingress  egress |   total     mem    disk inflt   def |     req     t-o         msgs clients",
        row,
        row,
        "",
    ]
    .join("\n");
    assert_eq!(String::from_utf8_lossy(&out), want, "{err}");
    assert_eq!(err, "");
}

/// Run a consuming tool until `topic`'s channel is drained, stop it:
/// (stdout, stderr).
fn consume_and_stop(tool: &str, nsqd: &Daemon, topic: &str, extra: &[String]) -> (Vec<u8>, String) {
    nsqd.publish(topic, b"x");
    let mut a = args![
        format!("--topic={topic}"),
        format!("--nsqd-tcp-address={}", nsqd.tcp)
    ]
    .to_vec();
    a.extend_from_slice(extra);
    let t = Raw::start(tool, &a, None);
    wait_for("the message handled", WAIT, || {
        let (depth, in_flight, count, _) = nsqd.channel(topic, tool)?;
        (depth == 0 && in_flight == 0 && count == 1).then_some(())
    });
    nsq_test_support::process::signal(&t.child, libc::SIGTERM);
    let (status, out, err) = t.finish();
    assert!(status.success(), "{tool}: {status:?}: {err}");
    // A clean stop logs no error (no RDY sent after CLS, as go-nsq).
    assert!(!has_line(&err, &format!("^{TIME} ERR ")), "{tool}: {err}");
    (out, err)
}

#[test]
fn archivers_and_forwarders_print_nothing_on_stdout() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let dir = TempDir::new("so_file");
    let (out, err) = consume_and_stop(
        "nsq_to_file",
        &nsqd,
        "so_file",
        &args![format!("--output-dir={}", dir.0.display())],
    );
    assert_eq!(String::from_utf8_lossy(&out), "", "{err}");
    assert_log_format("nsq_to_file", &err);
    assert!(
        has_line(
            &err,
            &format!(r"^\[nsq_to_file\] {TIME}\.\d{{6}} INFO: \[so_file/nsq_to_file\] opening ")
        ),
        "{err}"
    );

    let sink = HttpSink::start(|_| 200);
    let (out, err) = consume_and_stop(
        "nsq_to_http",
        &nsqd,
        "so_http",
        &args![format!("--post=http://{}/", sink.addr)],
    );
    assert_eq!(String::from_utf8_lossy(&out), "", "{err}");
    assert_log_format("nsq_to_http", &err);

    let dst = Daemon::nsqd(&[], &[]);
    let (out, err) = consume_and_stop(
        "nsq_to_nsq",
        &nsqd,
        "so_nsq",
        &args![format!("--destination-nsqd-tcp-address={}", dst.tcp)],
    );
    assert_eq!(String::from_utf8_lossy(&out), "", "{err}");
    assert_log_format("nsq_to_nsq", &err);
}

const TOOLS: [&str; 6] = [
    "nsq_tail",
    "to_nsq",
    "nsq_stat",
    "nsq_to_file",
    "nsq_to_http",
    "nsq_to_nsq",
];

#[test]
fn version_on_stdout_help_and_errors_on_stderr() {
    for tool in TOOLS {
        let (status, out, err) = Raw::run(tool, &args!["--version"], None);
        assert!(status.success(), "{tool}: {status:?}: {err}");
        assert_eq!(String::from_utf8_lossy(&out), format!("{tool} v1.3.0\n"));
        assert_eq!(err, "", "{tool}");

        // Go's flag package prints the usage on stderr and exits 0.
        let (status, out, err) = Raw::run(tool, &args!["--help"], None);
        assert_eq!(status.code(), Some(0), "{tool}: {err}");
        assert_eq!(String::from_utf8_lossy(&out), "", "{tool}");
        assert!(err.contains("--topic"), "{tool}: {err}");

        // A bad flag: the message on stderr, exit 2.
        let (status, out, err) = Raw::run(tool, &args!["--no-such-flag"], None);
        assert_eq!(status.code(), Some(2), "{tool}: {err}");
        assert_eq!(String::from_utf8_lossy(&out), "", "{tool}");
        assert!(err.contains("no-such-flag"), "{tool}: {err}");
    }
    // A fatal error: one line on stderr, in the tool's log format.
    let (status, out, err) = Raw::run("nsq_tail", &args!["--nsqd-tcp-address=127.0.0.1:1"], None);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "");
    assert!(
        regex::Regex::new(&format!("^{TIME} FATAL: --topic required\n$"))
            .unwrap()
            .is_match(&err),
        "{err:?}"
    );
    let (status, out, err) = Raw::run("nsq_to_file", &args!["--topic=t"], None);
    assert_eq!(status.code(), Some(1), "{err}");
    assert_eq!(String::from_utf8_lossy(&out), "");
    assert_log_format("nsq_to_file", &err);
    assert_eq!(err.lines().count(), 1, "{err}");
}
