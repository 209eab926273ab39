//! The data directory: its exclusive lock and `nsqd.dat` (topics, channels,
//! paused flags) across restarts, in NSQ's format, including a data
//! directory written by Go nsqd 1.3.0; queued, in-flight and deferred
//! messages across a clean restart.

use crate::harness::*;

/// A topic as `/stats` lists it: name, paused, its channels (name, paused).
type TopicLayout = (String, bool, Vec<(String, bool)>);

/// Every topic as `/stats` lists it.
fn layout(nsqd: &Nsqd) -> Vec<TopicLayout> {
    stats(nsqd)["topics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            let channels = t["channels"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| {
                    (
                        c["channel_name"].as_str().unwrap().to_string(),
                        c["paused"].as_bool().unwrap(),
                    )
                })
                .collect();
            (
                t["topic_name"].as_str().unwrap().to_string(),
                t["paused"].as_bool().unwrap(),
                channels,
            )
        })
        .collect()
}

#[test]
fn topics_channels_and_pauses_survive_a_restart_and_ephemerals_do_not() {
    let dir = fresh_data_dir();
    let mut nsqd = start_on(&dir);
    create_channel(&nsqd, "t1", "c1");
    post(&nsqd, "/channel/create?topic=t1&channel=c2");
    post(&nsqd, "/channel/pause?topic=t1&channel=c1");
    post(&nsqd, "/topic/create?topic=t2");
    post(&nsqd, "/topic/pause?topic=t2");
    post(&nsqd, "/topic/create?topic=e%23ephemeral");
    post(&nsqd, "/channel/create?topic=t1&channel=c%23ephemeral");
    // A channel created by SUB is durable too.
    let mut c = nsqd.connect();
    c.subscribe("t3", "by_sub");
    // nsqd.dat is rewritten on each change, before shutdown too.
    let file = dir.join("nsqd.dat");
    Client::wait_until(|| std::fs::read_to_string(&file).is_ok_and(|s| s.contains("by_sub")));
    assert!(nsqd.terminate().expect("exit").success());
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        written,
        r#"{"topics":[{"name":"t1","paused":false,"channels":[{"name":"c1","paused":true},{"name":"c2","paused":false}]},{"name":"t2","paused":true,"channels":null},{"name":"t3","paused":false,"channels":[{"name":"by_sub","paused":false}]}],"version":"1.3.0"}"#,
        "nsqd.dat as NSQ writes it"
    );
    drop(nsqd);

    let again = start_on(&dir);
    let f = |s: &str| s.to_string();
    assert_eq!(
        layout(&again),
        vec![
            (f("t1"), false, vec![(f("c1"), true), (f("c2"), false)]),
            (f("t2"), true, vec![]),
            (f("t3"), false, vec![(f("by_sub"), false)]),
        ]
    );
    drop(again);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_nsqd_cannot_use_a_locked_data_path() {
    let dir = fresh_data_dir();
    let _first = start_on(&dir);
    let flag = format!("--data-path={}", dir.display());
    let err = match Nsqd::start_raw(&["--tcp-address=127.0.0.1:0", "--http-address=", &flag]) {
        Ok(_) => panic!("second nsqd shared a data path"),
        Err(log) => log,
    };
    assert!(err.contains("failed to lock data-path"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_data_directory_written_by_go_nsqd_opens_with_its_topics_channels_and_pauses() {
    let dir = fresh_data_dir();
    nsq_test_support::fixtures::copy_go_nsqd_data(&dir);
    let nsqd = start_on(&dir);
    let f = |s: &str| s.to_string();
    assert_eq!(
        layout(&nsqd),
        vec![
            (
                f("fixture"),
                false,
                vec![(f("c1"), false), (f("c2"), false), (f("paused"), true)]
            ),
            (f("lonely"), false, vec![]),
        ]
    );
    drop(nsqd);
    let _ = std::fs::remove_dir_all(&dir);
}

/// SIGTERM at default settings loses nothing (docs/data-directory.md#shutdown):
/// messages waiting at a topic without channels, queued in a channel, in flight
/// (redelivered with their attempts), and deferred (still deferred after the
/// restart: an extension) all come back.
#[test]
fn sigterm_writes_every_message_to_disk_and_a_restart_delivers_them() {
    use nsq_protocol::command::Request;
    let dir = fresh_data_dir();
    let mut nsqd = start_on(&dir);
    let mut p = nsqd.connect();
    p.publish_numbered("lonely", "t", 0..20);
    let mut c = nsqd.connect();
    c.subscribe("busy", "c");
    p.publish_numbered("busy", "q", 0..30);
    p.send(Request::Dpub("busy", 6000, b"later"));
    let deferred_at = std::time::Instant::now();
    p.expect_response("OK");
    c.send(Request::Rdy(5));
    let in_flight: Vec<_> = (0..5).map(|_| c.expect_message()).collect();
    assert_eq!(in_flight[0].body, b"q0");
    nsqd.terminate().expect("nsqd exits on SIGTERM");
    let files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        files.iter().any(|f| f == "busy:c.diskqueue.meta.dat"),
        "{files:?}"
    );
    assert!(
        files.iter().any(|f| f == "busy:c.deferred.dat"),
        "{files:?}"
    );

    let restarted = start_on(&dir);
    let s = stats(&restarted);
    let topics = s["topics"].as_array().unwrap();
    let lonely = topics.iter().find(|t| t["topic_name"] == "lonely").unwrap();
    assert_eq!(
        (lonely["depth"].as_i64(), lonely["backend_depth"].as_i64()),
        (Some(20), Some(20))
    );
    let busy = topics.iter().find(|t| t["topic_name"] == "busy").unwrap();
    let ch = &busy["channels"][0];
    // 25 queued + 5 that were in flight + the deferred one, all on disk.
    assert_eq!(ch["depth"].as_i64(), Some(31), "{ch}");
    let mut c = restarted.connect();
    c.subscribe("busy", "c");
    c.send(Request::Rdy(100));
    let mut got = Vec::new();
    for _ in 0..31 {
        let m = c.expect_message();
        if m.body == b"q0" {
            assert_eq!(m.header.attempts, 2, "in flight at shutdown: redelivered");
        }
        if m.body == b"later" {
            // The deferred message kept its delay across the restart.
            let waited = deferred_at.elapsed();
            assert!(
                waited >= std::time::Duration::from_millis(5900),
                "{waited:?}"
            );
        }
        got.push(String::from_utf8(m.body.clone()).unwrap());
        c.send(Request::Fin(m.id()));
    }
    got.sort();
    let mut want: Vec<String> = (0..30).map(|i| format!("q{i}")).collect();
    want.push("later".into());
    want.sort();
    assert_eq!(got, want);
    let mut l = restarted.connect();
    l.subscribe("lonely", "c");
    l.send(Request::Rdy(100));
    for i in 0..20 {
        assert_eq!(l.expect_message().body, format!("t{i}").as_bytes());
    }
}

/// A SIGTERM that arrives while nsqd is still loading its data directory
/// (here 300 topics of 2 channels, each with its disk queue to open) is
/// kept and carried out once nsqd runs: a clean shutdown, exit 0, every
/// topic still in nsqd.dat; the signal does not kill the process (status
/// 143).
#[test]
fn sigterm_during_startup_is_a_clean_shutdown() {
    let dir = TempDir::new();
    let topics: Vec<serde_json::Value> = (0..300)
        .map(|i| {
            serde_json::json!({
                "name": format!("boot{i}"),
                "paused": false,
                "channels": [
                    {"name": "a", "paused": false},
                    {"name": "b", "paused": false},
                ],
            })
        })
        .collect();
    let dat = serde_json::json!({"topics": topics, "version": "1.3.0"});
    std::fs::write(dir.path().join("nsqd.dat"), dat.to_string()).unwrap();
    let mut daemon = nsq_test_support::Daemon::spawn(
        nsqd_bin(),
        &[
            "--tcp-address=127.0.0.1:0",
            "--http-address=127.0.0.1:0",
            "--shards=2",
            &format!("--data-path={}", dir.path().display()),
        ],
    );
    // Its first line is written after the handlers are in place; the
    // topics load after it.
    daemon
        .wait_for_line(WAIT, |l| l.contains("nsqd v").then_some(()))
        .unwrap_or_else(|| panic!("no start line:\n{}", daemon.log()));
    daemon.signal(libc::SIGTERM);
    let status = nsq_test_support::process::wait_exit(daemon.child(), WAIT);
    assert!(
        status.is_some_and(|s| s.success()),
        "exit {status:?}; log:\n{}",
        daemon.log()
    );
    let text = std::fs::read_to_string(dir.path().join("nsqd.dat")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        saved["topics"].as_array().map(Vec::len),
        Some(300),
        "{text}"
    );
}

/// `topics` topics with one channel `c` each and `per` messages queued on
/// every channel, published with pipelined MPUBs.
fn fill_topics(nsqd: &Nsqd, prefix: &str, topics: usize, per: usize) {
    for i in 0..topics {
        create_channel(nsqd, &format!("{prefix}{i}"), "c");
    }
    let bodies: Vec<Vec<u8>> = (0..per).map(|i| format!("m{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
    let mut p = nsqd.connect();
    for chunk in (0..topics).collect::<Vec<_>>().chunks(50) {
        for i in chunk {
            p.send(nsq_protocol::command::Request::Mpub(
                &format!("{prefix}{i}"),
                &refs,
            ));
        }
        for _ in chunk {
            p.expect_response("OK");
        }
    }
}

/// Messages queued on all channels, from `/stats`.
fn queued(nsqd: &Nsqd) -> u64 {
    stats(nsqd)["topics"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["channels"].as_array().unwrap().iter())
        .map(|c| c["depth"].as_u64().unwrap())
        .sum()
}

/// Start nsqd on `dir` and wait for `/ping` to answer OK (every queue
/// open); the time that took, and the running nsqd.
fn timed_start(dir: &std::path::Path) -> (std::time::Duration, Nsqd) {
    let t0 = std::time::Instant::now();
    let nsqd = start_on(dir);
    // /ping is answered once every queue is open: one request, waited for.
    let addr = nsqd.http.expect("http");
    let r = nsq_test_support::http::request(addr, "GET", "/ping", &[], b"", WAIT * 6);
    assert_eq!(r.body, "OK", "/ping after the restart");
    (t0.elapsed(), nsqd)
}

/// The fastest of three restarts of `nsqd` (SIGTERM, start on the same
/// directory, `/ping` OK), checking every queued message is back each time.
fn fastest_restart(mut nsqd: Nsqd, dir: &std::path::Path, want: u64) -> std::time::Duration {
    let mut best = std::time::Duration::MAX;
    for _ in 0..3 {
        assert!(nsqd.terminate().is_some_and(|s| s.success()));
        let (took, next) = timed_start(dir);
        assert_eq!(queued(&next), want, "messages after the restart");
        best = best.min(took);
        nsqd = next;
    }
    best
}

/// Restart time grows linearly with the number of queues (a complexity
/// check, not a timing target): 10x the queues may take at most 30x the
/// time (each side the fastest of three restarts, so a busy machine does
/// not decide it). Every queued message is back after each restart.
#[test]
fn restart_time_grows_linearly_with_the_number_of_queues() {
    let small = TempDir::new();
    let nsqd = start_on(small.path());
    fill_topics(&nsqd, "s", 100, 10);
    let t200 = fastest_restart(nsqd, small.path(), 100 * 10);

    let large = TempDir::new();
    let nsqd = start_on(large.path());
    fill_topics(&nsqd, "l", 1000, 10);
    let t2000 = fastest_restart(nsqd, large.path(), 1000 * 10);

    eprintln!("restart: 200 queues {t200:?}, 2000 queues {t2000:?}");
    assert!(
        t2000 <= t200 * 30,
        "restart with 2000 queues took {t2000:?}, with 200 {t200:?}: more than 30x"
    );
}

/// Found measuring restarts at 10 000 topics: at shutdown every queue wrote
/// out its messages and closed its files at the same moment, and past the
/// open-file limit (`Too many open files`) their messages were lost. A
/// shard now ends a bounded number of queues at a time. Here 1200 queues
/// hold messages in memory under a limit of 512 descriptors.
#[test]
fn shutdown_with_more_queues_than_open_files_loses_nothing() {
    let dir = TempDir::new();
    let flag = format!("--data-path={}", dir.path().display());
    let mut nsqd = Nsqd::start_with_fd_limit(512, &[&flag]);
    fill_topics(&nsqd, "fd", 600, 5);
    assert_eq!(queued(&nsqd), 600 * 5);
    assert!(nsqd.terminate().is_some_and(|s| s.success()));
    let exit_log = nsqd.log();
    assert!(!exit_log.contains("lost"), "{exit_log}");
    drop(nsqd);
    let next = start_on(dir.path());
    assert_eq!(queued(&next), 600 * 5, "messages after the restart");
}
