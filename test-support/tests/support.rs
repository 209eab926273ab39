//! The harness itself, against `/bin/sh` standing in for a daemon.

use std::path::Path;
use std::time::{Duration, Instant};

use nsq_test_support::http::{parse_response, request};
use nsq_test_support::{poll, Daemon, Listen, TempDir};

const SH: &str = "/bin/sh";

fn sh(script: &str) -> [String; 2] {
    ["-c".to_string(), script.to_string()]
}

#[test]
fn start_reads_the_listening_lines() {
    let script = "echo 'TCP: listening on 127.0.0.1:4150' >&2; \
                  echo 'HTTP: listening on 127.0.0.1:4151' >&2; exec sleep 30";
    let mut d = Daemon::start(
        Path::new(SH),
        &sh(script),
        Listen::TCP_HTTP,
        Duration::from_secs(5),
    )
    .expect("started");
    assert_eq!(d.tcp, Some("127.0.0.1:4150".parse().unwrap()));
    assert_eq!(d.http, Some("127.0.0.1:4151".parse().unwrap()));
    assert_eq!(d.name(), "sh");
    let status = d
        .terminate(Duration::from_secs(5))
        .expect("exits on SIGTERM");
    assert!(!status.success());
}

#[test]
fn an_early_exit_is_an_error_with_the_log_at_once() {
    let t0 = Instant::now();
    let err = Daemon::start(
        Path::new(SH),
        &sh("echo 'bad flag' >&2; exit 1"),
        Listen::TCP,
        Duration::from_secs(10),
    )
    .err()
    .expect("no listening line");
    assert_eq!(err, "bad flag");
    assert!(t0.elapsed() < Duration::from_secs(5), "{:?}", t0.elapsed());
}

#[test]
fn wait_for_line_is_bounded() {
    let d = Daemon::spawn(Path::new(SH), &sh("echo one >&2; exec sleep 30"));
    let got = d.wait_for_line(Duration::from_secs(5), |l| (l == "one").then_some(1));
    assert_eq!(got, Some(1));
    let t0 = Instant::now();
    let none = d.wait_for_line(Duration::from_millis(200), |l| (l == "two").then_some(2));
    assert_eq!(none, None);
    assert!(t0.elapsed() >= Duration::from_millis(200));
}

#[test]
fn http_request_and_response() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let server = std::thread::spawn(move || {
        use std::io::{Read, Write};
        let (mut s, _) = l.accept().unwrap();
        let mut buf = vec![0u8; 4096];
        let n = s.read(&mut buf).unwrap();
        let req = String::from_utf8_lossy(&buf[..n]).into_owned();
        s.write_all(b"HTTP/1.1 201 Created\r\nX-A: b\r\nContent-Length: 8\r\n\r\n{\"k\": 1}")
            .unwrap();
        req
    });
    let r = request(
        addr,
        "POST",
        "/p?q=1",
        &[("X-T", "v")],
        b"body",
        Duration::from_secs(5),
    );
    assert_eq!(
        (r.status, r.header("x-a"), r.json()["k"].as_i64()),
        (201, Some("b"), Some(1))
    );
    let req = server.join().unwrap();
    assert!(req.starts_with("POST /p?q=1 HTTP/1.1\r\n"), "{req}");
    assert!(
        req.contains("\r\nX-T: v\r\n") && req.ends_with("\r\n\r\nbody"),
        "{req}"
    );
    assert_eq!(
        parse_response(b"HTTP/1.1 404 Not Found\r\n\r\n").status,
        404
    );
}

#[test]
fn temp_dirs_and_polling() {
    let dir = TempDir::new("nsq-test-support");
    let path = dir.path().to_path_buf();
    assert!(path.is_dir());
    drop(dir);
    assert!(!path.exists());
    let mut n = 0;
    let got = poll(
        "n to reach 3",
        Duration::from_secs(5),
        Duration::ZERO,
        || {
            n += 1;
            (n == 3).then_some(n)
        },
        String::new,
    );
    assert_eq!(got, 3);
}
