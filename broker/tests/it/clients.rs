//! Real NSQ client libraries, unchanged, against our nsqd: tokio-nsq (Rust,
//! in process), pynsq (Python, tornado) and nsqjs (Node) as child processes.
//! Each publishes with the library's producer (PUB and MPUB), consumes with
//! its consumer, FINishes every message and checks that every body arrives
//! exactly once. Topics on both shards are used, so publishes and
//! subscriptions cross shards.
//!
//! The Python and Node clients are installed by `scripts/install-test-deps.sh`;
//! when one is missing the test fails and says so.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio_nsq::{
    NSQChannel, NSQConfigShared, NSQConfigSharedCompression, NSQConfigSharedTLS, NSQConsumerConfig,
    NSQConsumerConfigSources, NSQDeflateLevel, NSQEvent, NSQProducerConfig, NSQTopic,
};

use crate::harness::*;

/// Bound on a whole client round trip (in-process runtime or child process).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(90);

/// What to do when a client library is missing.
const INSTALL_HINT: &str = "run scripts/install-test-deps.sh to install the NSQ client libraries";

// ---------------------------------------------------------------- tokio-nsq

/// The i-th body of `topic`: unique, of varied length, with non-UTF-8 bytes.
fn tokio_body(topic: &str, i: usize) -> Vec<u8> {
    let mut b = format!("{topic}|{i:06}|").into_bytes();
    b.extend((0..i % 61).map(|k| ((i + k) % 256) as u8));
    b
}

/// Publish `per_topic` bodies to each topic on one producer connection,
/// interleaving the topics, alternating PUB and MPUB (batches of 25), and wait
/// for every OK.
async fn tokio_produce(
    addr: String,
    topics: Vec<String>,
    per_topic: usize,
    shared: Option<NSQConfigShared>,
) -> Result<(), String> {
    let mut config = NSQProducerConfig::new(addr);
    if let Some(shared) = shared {
        config = config.set_shared(shared);
    }
    let mut producer = config.build();
    match producer.consume().await {
        Some(NSQEvent::Healthy()) => {}
        other => return Err(format!("producer: expected Healthy first, got {other:?}")),
    }
    let handles: Vec<_> = topics
        .iter()
        .map(|t| NSQTopic::new(t.as_str()).expect("valid topic"))
        .collect();
    let mut commands = 0usize;
    let mut next = vec![0usize; topics.len()];
    let mut single = true;
    while next.iter().any(|&i| i < per_topic) {
        for (k, topic) in topics.iter().enumerate() {
            let i = next[k];
            if i >= per_topic {
                continue;
            }
            let sent = if single {
                producer
                    .publish(&handles[k], tokio_body(topic, i))
                    .await
                    .map_err(|e| format!("producer: PUB {topic}: {e}"))?;
                1
            } else {
                let end = per_topic.min(i + 25);
                let batch = (i..end).map(|j| tokio_body(topic, j)).collect();
                producer
                    .publish_multiple(&handles[k], batch)
                    .await
                    .map_err(|e| format!("producer: MPUB {topic}: {e}"))?;
                end - i
            };
            next[k] += sent;
            commands += 1;
        }
        single = !single;
    }
    for acked in 0..commands {
        match producer.consume().await {
            Some(NSQEvent::Ok()) => {}
            other => {
                return Err(format!(
                    "producer: after {acked} of {commands} OKs got {other:?} \
                     (an error frame makes tokio-nsq reconnect)"
                ))
            }
        }
    }
    Ok(())
}

/// Consume `count` bodies of `topic` with a tokio-nsq consumer (max in flight
/// 200), FIN each, check content, attempts and uniqueness, then linger to
/// catch late redeliveries.
async fn tokio_consume(
    addr: String,
    topic: String,
    count: usize,
    shared: Option<NSQConfigShared>,
) -> Result<(), String> {
    let mut config = NSQConsumerConfig::new(
        NSQTopic::new(topic.as_str()).expect("valid topic"),
        NSQChannel::new("tokio_nsq").expect("valid channel"),
    )
    .set_max_in_flight(200)
    .set_sources(NSQConsumerConfigSources::Daemons(vec![addr]));
    if let Some(shared) = shared {
        config = config.set_shared(shared);
    }
    let mut consumer = config.build();
    let expected: HashSet<Vec<u8>> = (0..count).map(|i| tokio_body(&topic, i)).collect();
    let mut seen: HashSet<Vec<u8>> = HashSet::new();
    let mut healthy = 0;
    let mut check = |event: NSQEvent, seen: &mut HashSet<Vec<u8>>| -> Result<_, String> {
        match event {
            NSQEvent::Message(m) => {
                let body = String::from_utf8_lossy(&m.body).into_owned();
                if !expected.contains(&m.body) {
                    return Err(format!("{topic}: unexpected body {body:?}"));
                }
                if m.attempt != 1 {
                    return Err(format!("{topic}: {body:?} has attempts {}", m.attempt));
                }
                if !seen.insert(m.body.clone()) {
                    return Err(format!("{topic}: duplicate delivery of {body:?}"));
                }
                Ok(Some(m))
            }
            NSQEvent::Healthy() => {
                healthy += 1;
                if healthy > 1 {
                    return Err(format!("{topic}: consumer connection was re-established"));
                }
                Ok(None)
            }
            other => Err(format!("{topic}: consumer got {other:?}")),
        }
    };
    while seen.len() < count {
        let event = consumer.consume().await.ok_or_else(|| {
            format!(
                "{topic}: consumer closed after {} of {count} messages",
                seen.len()
            )
        })?;
        if let Some(m) = check(event, &mut seen)? {
            m.finish().await;
        }
    }
    // Nothing more may arrive (a lost FIN would come back after the timeout,
    // which is longer than this, but a duplicate send would show here).
    let linger = Instant::now() + Duration::from_millis(500);
    while let Ok(event) = tokio::time::timeout_at(linger.into(), consumer.consume()).await {
        let event = event.ok_or_else(|| format!("{topic}: consumer closed while lingering"))?;
        if let Some(m) = check(event, &mut seen)? {
            let body = String::from_utf8_lossy(&m.body).into_owned();
            m.finish().await;
            return Err(format!("{topic}: extra message {body:?} after all {count}"));
        }
    }
    Ok(())
}

/// Run the tokio-nsq round trip for `topics` (one producer connection, one
/// consumer per topic, all concurrent) on a runtime owned by the test.
fn tokio_nsq_roundtrip(topics: &[String], per_topic: usize) {
    tokio_nsq_roundtrip_with(topics, per_topic, &[], None)
}

/// As [`tokio_nsq_roundtrip`] with nsqd flags and tokio-nsq's shared
/// connection settings (TLS, compression).
fn tokio_nsq_roundtrip_with(
    topics: &[String],
    per_topic: usize,
    nsqd_flags: &[&str],
    shared: Option<NSQConfigShared>,
) {
    let nsqd = Nsqd::start(nsqd_flags);
    let addr = nsqd.tcp.to_string();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    let started = Instant::now();
    let result: Result<(), String> = rt.block_on(async {
        let mut tasks = Vec::new();
        for t in topics {
            tasks.push(tokio::spawn(tokio_consume(
                addr.clone(),
                t.clone(),
                per_topic,
                shared.clone(),
            )));
        }
        tasks.push(tokio::spawn(tokio_produce(
            addr.clone(),
            topics.to_vec(),
            per_topic,
            shared.clone(),
        )));
        let all = async {
            for task in tasks {
                task.await.map_err(|e| format!("task panicked: {e}"))??;
            }
            Ok(())
        };
        tokio::time::timeout(CLIENT_TIMEOUT, all)
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "tokio-nsq round trip timed out after {CLIENT_TIMEOUT:?}"
                ))
            })
    });
    // Drop the clients' connections before the broker.
    rt.shutdown_timeout(Duration::from_secs(5));
    if let Err(e) = result {
        panic!("tokio-nsq: {e}");
    }
    eprintln!(
        "tokio-nsq: {} messages on {} topic(s) in {:.2?}",
        per_topic * topics.len(),
        topics.len(),
        started.elapsed()
    );
}

#[test]
fn tokio_nsq_publishes_and_consumes_3000_messages_exactly_once() {
    tokio_nsq_roundtrip(&[topic_on("tokio_nsq_", 0, 0)], 3000);
}

#[test]
fn tokio_nsq_round_trips_on_topics_of_both_shards() {
    // Two topics owned by each shard; the producer and the four consumer
    // connections are spread over the shards, so most traffic crosses them.
    let topics = [
        topic_on("tokio_nsq_multi_", 0, 0),
        topic_on("tokio_nsq_multi_", 1, 0),
        topic_on("tokio_nsq_multi_", 0, 1),
        topic_on("tokio_nsq_multi_", 1, 1),
    ];
    tokio_nsq_roundtrip(&topics, 1000);
}

// ------------------------------------------------- Python and Node clients

/// broker/tests/clients
fn clients_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

/// A running client script with its output collected.
struct Script {
    what: String,
    child: Child,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Script {
    /// Spawn `program script args...` in broker/tests/clients.
    fn spawn(program: &str, script: &str, args: &[String], env: &[(&str, &str)]) -> Script {
        let dir = clients_dir();
        let path = dir.join(script);
        assert!(path.is_file(), "missing client script {}", path.display());
        let what = format!("{program} {script} {}", args.join(" "));
        let mut cmd = Command::new(program);
        cmd.arg(&path)
            .args(args)
            .current_dir(&dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run `{program}` ({e}); {INSTALL_HINT}"));
        let output = Arc::new(Mutex::new(String::new()));
        let mut readers = Vec::new();
        let pipes: [Box<dyn Read + Send>; 2] = [
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for mut pipe in pipes {
            let output = output.clone();
            readers.push(std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    output
                        .lock()
                        .unwrap()
                        .push_str(&String::from_utf8_lossy(&buf[..n]));
                }
            }));
        }
        Script {
            what,
            child,
            output,
            readers,
        }
    }

    /// Wait until `deadline`, killing the child then; `None` on timeout.
    fn wait(&mut self, deadline: Instant) -> Option<ExitStatus> {
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break None;
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        status
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Run a round-trip script once per topic (one owned by each shard),
/// concurrently against one nsqd, and require every run to exit 0.
fn run_roundtrip_scripts(program: &str, script: &str, prefix: &str, count: usize) {
    run_roundtrip_scripts_with(program, script, prefix, count, &[], &[]);
}

/// As [`run_roundtrip_scripts`], with nsqd flags and extra script arguments.
fn run_roundtrip_scripts_with(
    program: &str,
    script: &str,
    prefix: &str,
    count: usize,
    nsqd_flags: &[&str],
    extra: &[String],
) {
    let nsqd = Nsqd::start(nsqd_flags);
    let started = Instant::now();
    let deadline = started + CLIENT_TIMEOUT;
    let env = [("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONUNBUFFERED", "1")];
    let mut scripts: Vec<Script> = [topic_on(prefix, 0, 0), topic_on(prefix, 1, 0)]
        .into_iter()
        .map(|topic| {
            let args = [
                "--nsqd-tcp-address".to_string(),
                nsqd.tcp.to_string(),
                "--topic".to_string(),
                topic,
                "--count".to_string(),
                count.to_string(),
                "--timeout".to_string(),
                "60".to_string(),
            ];
            let mut args = args.to_vec();
            args.extend_from_slice(extra);
            Script::spawn(program, script, &args, &env)
        })
        .collect();
    let mut failures = Vec::new();
    for s in &mut scripts {
        let status = s.wait(deadline);
        let out = s.output();
        match status {
            Some(st) if st.success() => eprint!("{out}"),
            Some(st) if st.code() == Some(3) => failures.push(format!(
                "`{}`: client library missing ({st}); {INSTALL_HINT}\n{out}",
                s.what
            )),
            Some(st) => failures.push(format!("`{}` failed ({st}):\n{out}", s.what)),
            None => failures.push(format!(
                "`{}` killed after {CLIENT_TIMEOUT:?}:\n{out}",
                s.what
            )),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("{script}: both topics done in {:.2?}", started.elapsed());
}

#[test]
fn pynsq_writer_and_reader_round_trip() {
    run_roundtrip_scripts("python3", "pynsq_roundtrip.py", "pynsq_", 2000);
}

#[test]
fn nsqjs_writer_and_reader_round_trip() {
    run_roundtrip_scripts("node", "nsqjs_roundtrip.js", "nsqjs_", 2000);
}

// ------------------------------------- the same clients with TLS and compression

/// Run a client script against nsqd with TLS configured, asking for TLS
/// (verified against the test CA) and/or a compression.
fn run_with_features(
    program: &str,
    script: &str,
    prefix: &str,
    tls: bool,
    compression: Option<&str>,
) {
    let pki = crate::features::Pki::new();
    let server_flags = pki.server_flags();
    let flags: Vec<&str> = server_flags.iter().map(String::as_str).collect();
    let mut extra = Vec::new();
    if tls {
        extra.push("--tls-ca".to_string());
        extra.push(pki.path("ca.pem"));
    }
    if let Some(c) = compression {
        extra.push("--compression".to_string());
        extra.push(c.to_string());
    }
    run_roundtrip_scripts_with(program, script, prefix, 1000, &flags, &extra);
}

#[test]
fn pynsq_with_tls_and_snappy() {
    run_with_features(
        "python3",
        "pynsq_roundtrip.py",
        "pytlssnappy",
        true,
        Some("snappy"),
    );
}

#[test]
fn pynsq_with_tls_and_deflate() {
    run_with_features(
        "python3",
        "pynsq_roundtrip.py",
        "pytlsdeflate",
        true,
        Some("deflate"),
    );
}

#[test]
fn pynsq_with_snappy() {
    run_with_features(
        "python3",
        "pynsq_roundtrip.py",
        "pysnappy",
        false,
        Some("snappy"),
    );
}

#[test]
fn nsqjs_with_tls_and_deflate() {
    run_with_features(
        "node",
        "nsqjs_roundtrip.js",
        "jstlsdeflate",
        true,
        Some("deflate"),
    );
}

#[test]
fn nsqjs_with_tls_and_snappy() {
    run_with_features(
        "node",
        "nsqjs_roundtrip.js",
        "jstlssnappy",
        true,
        Some("snappy"),
    );
}

#[test]
fn nsqjs_with_deflate() {
    run_with_features(
        "node",
        "nsqjs_roundtrip.js",
        "jsdeflate",
        false,
        Some("deflate"),
    );
}

/// tokio-nsq with TLS (its default client config does not verify the
/// server: tokio-nsq builds it with rustls 0.19) and each compression.
fn tokio_nsq_with(prefix: &str, compression: Option<NSQConfigSharedCompression>) {
    let pki = crate::features::Pki::new();
    let flags = pki.server_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let mut shared = NSQConfigShared::new().set_tls(NSQConfigSharedTLS::new("localhost"));
    if let Some(c) = compression {
        shared = shared.set_compression(c);
    }
    let topics = [topic_on(prefix, 0, 0), topic_on(prefix, 1, 0)];
    tokio_nsq_roundtrip_with(&topics, 500, &flags, Some(shared));
}

#[test]
fn tokio_nsq_with_tls_and_deflate() {
    tokio_nsq_with(
        "tokio_tls_deflate",
        Some(NSQConfigSharedCompression::Deflate(
            NSQDeflateLevel::new(3).unwrap(),
        )),
    );
}

#[test]
fn tokio_nsq_with_tls_and_snappy() {
    tokio_nsq_with("tokio_tls_snappy", Some(NSQConfigSharedCompression::Snappy));
}

#[test]
fn tokio_nsq_with_tls() {
    tokio_nsq_with("tokio_tls", None);
}
