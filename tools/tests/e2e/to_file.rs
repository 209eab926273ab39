//! nsq_to_file (docs/utilities.md#nsq_to_file): names, contents, gzip round
//! trip, size rotation, work dir, SIGHUP, and FIN only after fsync (a crash
//! before the sync leads to redelivery, not loss).

use std::io::Read;
use std::path::Path;

use crate::args;
use crate::harness::*;

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn lines(path: &Path) -> Vec<String> {
    let raw = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let text = if path.to_string_lossy().ends_with(".gz") {
        let mut s = String::new();
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_string(&mut s)
            .unwrap_or_else(|e| panic!("gunzip {}: {e}", path.display()));
        s
    } else {
        String::from_utf8(raw).unwrap()
    };
    text.lines().map(str::to_string).collect()
}

/// Everything published was FINed: nothing queued or in flight.
fn wait_drained(nsqd: &Daemon, topic: &str, channel: &str, count: u64) {
    wait_for("all messages finished", WAIT, || {
        let (depth, in_flight, n, _) = nsqd.channel(topic, channel)?;
        (depth == 0 && in_flight == 0 && n == count).then_some(())
    });
}

#[test]
fn writes_named_file_and_fins_after_sync() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let out = TempDir::new("tofile");
    for i in 0..3 {
        nsqd.publish("tf1", format!("line{i}").as_bytes());
    }
    let before = nsq_tools::strftime::format("%Y-%m-%d_%H", &nsq_tools::strftime::now());
    let mut tool = Tool::start(
        "nsq_to_file",
        &args![
            "-topic=tf1",
            format!("-nsqd-tcp-address={}", nsqd.tcp),
            format!("--output-dir={}", out.0.display()),
            "--host-identifier=testhost",
            "--sync-interval=100ms",
        ],
        None,
    );
    wait_drained(&nsqd, "tf1", "nsq_to_file", 3);
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    let after = nsq_tools::strftime::format("%Y-%m-%d_%H", &nsq_tools::strftime::now());
    let names = files(&out.0);
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0] == format!("tf1.testhost.{before}.log")
            || names[0] == format!("tf1.testhost.{after}.log"),
        "{names:?}"
    );
    let mut got = lines(&out.0.join(&names[0]));
    got.sort();
    assert_eq!(got, ["line0", "line1", "line2"]);
}

#[test]
fn gzip_members_size_rotation_and_work_dir() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let out = TempDir::new("tofile-out");
    let work = TempDir::new("tofile-work");
    let want: Vec<String> = (0..30).map(|i| format!("message-{i:03}")).collect();
    for m in &want {
        nsqd.publish("tf2", m.as_bytes());
    }
    let mut tool = Tool::start(
        "nsq_to_file",
        &args![
            "--topic",
            "tf2",
            "--nsqd-tcp-address",
            nsqd.tcp,
            format!("--output-dir={}", out.0.display()),
            format!("--work-dir={}", work.0.display()),
            "--filename-format=<TOPIC><REV>.log",
            "--gzip",
            "--gzip-level=9",
            "--rotate-size=60",
            "--max-in-flight=4",
            "--sync-interval=100ms",
        ],
        None,
    );
    wait_drained(&nsqd, "tf2", "nsq_to_file", 30);
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    assert!(files(&work.0).is_empty(), "work dir: {:?}", files(&work.0));
    let names = files(&out.0);
    for (i, n) in names.iter().enumerate() {
        assert_eq!(n, &format!("tf2-{i:06}.log.gz"));
    }
    // 12 bytes a line, rotated once above 60 bytes: 6 lines per file (the
    // sync ticker may also have opened a last, empty file, as NSQ's does).
    let per_file: Vec<usize> = names.iter().map(|n| lines(&out.0.join(n)).len()).collect();
    assert_eq!(&per_file[..5], [6, 6, 6, 6, 6], "{names:?}");
    assert!(per_file[5..].iter().all(|&n| n == 0), "{per_file:?}");
    let mut got: Vec<String> = names.iter().flat_map(|n| lines(&out.0.join(n))).collect();
    assert_eq!(got.len(), 30);
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn sighup_closes_and_moves_the_file() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let out = TempDir::new("tofile-out");
    let work = TempDir::new("tofile-work");
    let mut tool = Tool::start(
        "nsq_to_file",
        &args![
            "--topic=tf3",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--output-dir={}", out.0.display()),
            format!("--work-dir={}", work.0.display()),
            "--filename-format=<TOPIC><REV>.log",
            "--sync-interval=100ms",
        ],
        None,
    );
    nsqd.publish("tf3", b"a");
    nsqd.publish("tf3", b"b");
    wait_drained(&nsqd, "tf3", "nsq_to_file", 2);
    assert!(files(&out.0).is_empty());
    tool.signal(libc::SIGHUP);
    wait_for("first file moved to the output dir", WAIT, || {
        (files(&out.0) == ["tf3-000000.log"]).then_some(())
    });
    nsqd.publish("tf3", b"c");
    wait_drained(&nsqd, "tf3", "nsq_to_file", 3);
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    assert_eq!(files(&out.0), ["tf3-000000.log", "tf3-000001.log"]);
    assert_eq!(lines(&out.0.join("tf3-000000.log")), ["a", "b"]);
    assert_eq!(lines(&out.0.join("tf3-000001.log")), ["c"]);
}

#[test]
fn crash_before_sync_is_redelivered_not_lost() {
    let nsqd = Daemon::nsqd(&[], &["--msg-timeout=3s"]);
    let out = TempDir::new("tofile-crash");
    let want: Vec<String> = (0..5).map(|i| format!("durable-{i}")).collect();
    let base = args![
        "--topic=tf4",
        format!("--nsqd-tcp-address={}", nsqd.tcp),
        format!("--output-dir={}", out.0.display()),
        "--host-identifier=h",
        "--datetime-format=x",
        "--max-in-flight=100",
    ];
    // No sync for an hour, and 5 of 100 in flight is not starved: nothing
    // may be FINed.
    let mut first = base.to_vec();
    first.push("--sync-interval=1h".into());
    let mut tool = Tool::start("nsq_to_file", &first, None);
    // Opening the file syncs (NSQ does too): let a first message take it.
    nsqd.publish("tf4", b"opener");
    wait_drained(&nsqd, "tf4", "nsq_to_file", 1);
    for m in &want {
        nsqd.publish("tf4", m.as_bytes());
    }
    wait_for("all 5 delivered and held in flight", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("tf4", "nsq_to_file")?;
        (depth == 0 && in_flight == 5).then_some(())
    });
    tool.signal(libc::SIGKILL);
    tool.wait(WAIT);
    drop(tool);
    // Restart: the messages time out on nsqd and come back.
    let mut second = base.to_vec();
    second.push("--sync-interval=100ms".into());
    let mut tool = Tool::start("nsq_to_file", &second, None);
    wait_for("redelivered and finished", WAIT, || {
        let (depth, in_flight, _, _) = nsqd.channel("tf4", "nsq_to_file")?;
        let got = lines(&out.0.join("tf4.h.x.log"));
        (depth == 0 && in_flight == 0 && want.iter().all(|m| got.contains(m))).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    let got = lines(&out.0.join("tf4.h.x.log"));
    for m in &want {
        assert!(got.contains(m), "{m} lost: {got:?}");
    }
}

#[test]
fn errors_are_clear_and_exit_non_zero() {
    let (status, _, err) = Tool::run(
        "nsq_to_file",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--gzip",
            "--filename-format=<TOPIC>.log"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("missing <REV>"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_to_file",
        &args!["--nsqd-tcp-address=127.0.0.1:1"],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--topic or --topic-pattern required"), "{err}");
    let (status, _, err) = Tool::run(
        "nsq_to_file",
        &args![
            "--topic=t",
            "--nsqd-tcp-address=127.0.0.1:1",
            "--gzip-level=10"
        ],
        None,
    );
    assert_eq!(status.code(), Some(1));
    assert!(err.contains("--gzip-level"), "{err}");
}

#[test]
fn topic_pattern_discovers_matching_topics_through_lookupd() {
    let lookupd = Daemon::lookupd();
    let nsqd = Daemon::nsqd(&[&lookupd], &[]);
    let out = TempDir::new("tofile-pattern");
    nsqd.publish("pat_a1", b"wanted");
    nsqd.publish("other", b"unwanted");
    wait_for("topics registered with lookupd", WAIT, || {
        let (s, b) = lookupd.get("/topics");
        (s == 200 && b.contains("pat_a1") && b.contains("other")).then_some(())
    });
    let mut tool = Tool::start(
        "nsq_to_file",
        &args![
            format!("--lookupd-http-address={}", lookupd.http),
            "--topic-pattern=^pat_",
            "--topic-refresh=200ms",
            format!("--output-dir={}", out.0.display()),
            "--filename-format=<TOPIC>.log",
            "--sync-interval=100ms",
        ],
        None,
    );
    wait_drained(&nsqd, "pat_a1", "nsq_to_file", 1);
    // A topic created later is picked up at the next refresh.
    nsqd.publish("pat_b2", b"later");
    wait_drained(&nsqd, "pat_b2", "nsq_to_file", 1);
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    assert_eq!(files(&out.0), ["pat_a1.log", "pat_b2.log"]);
    assert_eq!(lines(&out.0.join("pat_a1.log")), ["wanted"]);
    assert!(nsqd.channel("other", "nsq_to_file").is_none());
}

#[test]
fn rotate_interval_with_skip_empty_files() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let out = TempDir::new("tofile-ri-out");
    let work = TempDir::new("tofile-ri-work");
    let mut tool = Tool::start(
        "nsq_to_file",
        &args![
            "--topic=tf5",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--output-dir={}", out.0.display()),
            format!("--work-dir={}", work.0.display()),
            "--filename-format=<TOPIC><REV>.log",
            "--rotate-interval=300ms",
            "--skip-empty-files",
            "--sync-interval=100ms",
        ],
        None,
    );
    nsqd.publish("tf5", b"first");
    // After the interval the sync ticker closes the file (skip-empty-files:
    // no new empty file is opened) and moves it to the output dir.
    wait_for("first file closed", WAIT, || {
        (files(&out.0) == ["tf5-000000.log"]).then_some(())
    });
    nsqd.publish("tf5", b"second");
    wait_for("second file closed", WAIT, || {
        (files(&out.0).len() == 2).then_some(())
    });
    tool.signal(libc::SIGTERM);
    assert!(tool.wait(WAIT).success(), "{}", tool.stderr());
    assert_eq!(files(&out.0), ["tf5-000000.log", "tf5-000001.log"]);
    assert_eq!(lines(&out.0.join("tf5-000000.log")), ["first"]);
    assert_eq!(lines(&out.0.join("tf5-000001.log")), ["second"]);
    assert!(files(&work.0).is_empty());
}

#[test]
fn unwritable_output_exits_non_zero_without_finishing() {
    let nsqd = Daemon::nsqd(&[], &[]);
    let dir = TempDir::new("tofile-bad");
    // The output "dir" is a file: creating the log file fails.
    let not_a_dir = dir.0.join("file");
    std::fs::write(&not_a_dir, b"").unwrap();
    nsqd.publish("tf6", b"keep-me");
    let mut tool = Tool::start(
        "nsq_to_file",
        &args![
            "--topic=tf6",
            format!("--nsqd-tcp-address={}", nsqd.tcp),
            format!("--output-dir={}", not_a_dir.display()),
        ],
        None,
    );
    let status = tool.wait(WAIT);
    tool.drain();
    assert_eq!(status.code(), Some(1), "{}", tool.stderr());
    assert!(
        tool.stderr().contains("unable to create dir"),
        "{}",
        tool.stderr()
    );
    // Not FINed: it is still there for the next run (in flight until it
    // times out, or already requeued).
    let (depth, in_flight, _, _) = nsqd.channel("tf6", "nsq_to_file").unwrap();
    assert_eq!(depth + in_flight, 1);
}
