//! Disk persistence through the real binary (docs/data-directory.md;
//! docs/compatibility.md#durable-deferred-messages, #group-commit): a Go nsqd
//! 1.3.0 data directory delivers every record; what we write is
//! go-diskqueue's format, checked by an independent parser here; overflow
//! and depths; empty and delete remove the files; corrupt files become
//! `.bad`; SIGKILL with `--sync-every=1` loses no acknowledged publish;
//! ENOSPC makes `/ping` unhealthy until space is back; a deferred message
//! keeps its due time across a restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nsq_protocol::command::Request;
use nsq_protocol::frame::{decode_frame, Frame};
use nsq_protocol::Decoded;
use nsq_test_support::fixtures;

use crate::harness::*;

// ----- an independent go-diskqueue reader and writer ----------------------

/// A queue's `.meta.dat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Meta {
    depth: i64,
    read: (u64, u64),
    write: (u64, u64),
}

/// A record's payload (nsqd's message encoding).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    ts: i64,
    attempts: u16,
    id: String,
    body: Vec<u8>,
}

fn meta_path(dir: &Path, queue: &str) -> PathBuf {
    dir.join(format!("{queue}.diskqueue.meta.dat"))
}

fn data_path(dir: &Path, queue: &str, n: u64) -> PathBuf {
    dir.join(format!("{queue}.diskqueue.{n:06}.dat"))
}

/// Go's `"%d\n%d,%d\n%d,%d\n"`, strictly.
fn parse_meta(text: &str) -> Meta {
    let lines: Vec<&str> = text.split('\n').collect();
    assert!(
        lines.len() == 4 && lines[3].is_empty(),
        "meta is not three \\n-terminated lines: {text:?}"
    );
    let int = |s: &str| -> u64 {
        assert!(
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()),
            "not a decimal integer in meta: {s:?} ({text:?})"
        );
        s.parse().unwrap()
    };
    let pair = |s: &str| {
        let (a, b) = s.split_once(',').unwrap_or_else(|| panic!("{text:?}"));
        (int(a), int(b))
    };
    Meta {
        depth: lines[0].parse().unwrap_or_else(|_| panic!("{text:?}")),
        read: pair(lines[1]),
        write: pair(lines[2]),
    }
}

fn read_meta(dir: &Path, queue: &str) -> Option<Meta> {
    std::fs::read_to_string(meta_path(dir, queue))
        .ok()
        .map(|t| parse_meta(&t))
}

/// Decode nsqd's message encoding: `[8 ts][2 attempts][16 hex id][body]`.
fn decode_payload(p: &[u8]) -> Rec {
    assert!(p.len() >= 26, "record shorter than 26 bytes: {}", p.len());
    let id = &p[10..26];
    assert!(
        id.iter()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)),
        "ID is not 16 lowercase hex chars: {id:?}"
    );
    Rec {
        ts: i64::from_be_bytes(p[0..8].try_into().unwrap()),
        attempts: u16::from_be_bytes(p[8..10].try_into().unwrap()),
        id: String::from_utf8(id.to_vec()).unwrap(),
        body: p[26..].to_vec(),
    }
}

/// Split a data file (from `pos` to `end`) into records; each length must
/// be within nsqd's bounds [26, max_msg_size + 26].
fn split_records(bytes: &[u8], mut pos: usize, end: usize, max_msg_size: usize) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while pos < end {
        assert!(pos + 4 <= end, "length prefix cut at {pos} (end {end})");
        let len = u32::from_be_bytes(bytes[pos..pos + 4].try_into().unwrap()) as usize;
        assert!(
            (26..=max_msg_size + 26).contains(&len),
            "record length {len} out of bounds at {pos}"
        );
        assert!(pos + 4 + len <= end, "record at {pos} runs past {end}");
        out.push(bytes[pos + 4..pos + 4 + len].to_vec());
        pos += 4 + len;
    }
    assert_eq!(pos, end, "records do not end at the end position");
    out
}

/// Per data file number: its size and the lengths of the records read.
type FileSizes = BTreeMap<u64, (u64, Vec<usize>)>;

/// What Go nsqd would read from queue `queue`: from the read position to
/// the write position, each finished file to its end. Returns the meta and
/// the records, with the raw lengths per file (file number → record sizes).
fn read_go_queue(dir: &Path, queue: &str, max_msg_size: usize) -> (Meta, Vec<Rec>, FileSizes) {
    let meta = read_meta(dir, queue).unwrap_or_else(|| panic!("no meta file for {queue}"));
    let mut recs = Vec::new();
    let mut files = BTreeMap::new();
    let (mut n, mut pos) = meta.read;
    loop {
        let path = data_path(dir, queue, n);
        let last = n == meta.write.0;
        if last && meta.write.1 == 0 && pos == 0 && !path.exists() {
            break;
        }
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let end = if last {
            assert_eq!(
                bytes.len() as u64,
                meta.write.1,
                "write file {} size vs writePos",
                path.display()
            );
            meta.write.1 as usize
        } else {
            bytes.len()
        };
        let raw = split_records(&bytes, pos as usize, end, max_msg_size);
        files.insert(
            n,
            (bytes.len() as u64, raw.iter().map(|r| r.len()).collect()),
        );
        recs.extend(raw.iter().map(|r| decode_payload(r)));
        if last {
            break;
        }
        n += 1;
        pos = 0;
    }
    (meta, recs, files)
}

/// One record as go-diskqueue writes it: `[4-byte BE len][payload]`.
fn go_record(ts: i64, attempts: u16, id: u64, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&((26 + body.len()) as u32).to_be_bytes());
    out.extend_from_slice(&ts.to_be_bytes());
    out.extend_from_slice(&attempts.to_be_bytes());
    out.extend_from_slice(format!("{id:016x}").as_bytes());
    out.extend_from_slice(body);
    out
}

/// File names in `dir`, sorted.
fn list(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Files in `dir` of queue `queue` (data, meta, deferred, `.bad`, tmp).
fn queue_files(dir: &Path, queue: &str) -> Vec<String> {
    list(dir)
        .into_iter()
        .filter(|f| {
            f.strip_prefix(queue).is_some_and(|rest| {
                rest.starts_with(".diskqueue.") || rest.starts_with(".deferred")
            })
        })
        .collect()
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn now_ms() -> i64 {
    now_ns() / 1_000_000
}

// ----- stats and consuming -------------------------------------------------

/// The `/stats` entry of a topic, or of one of its channels; None if it
/// does not exist.
/// (depth, backend_depth) of a topic, or of one of its channels; None if
/// it does not exist.
fn depths(nsqd: &Nsqd, topic: &str, channel: Option<&str>) -> Option<(i64, i64)> {
    let o = stats_of(nsqd, topic, channel)?;
    Some((
        o["depth"].as_i64().unwrap(),
        o["backend_depth"].as_i64().unwrap(),
    ))
}

fn channel_stat(nsqd: &Nsqd, topic: &str, channel: &str, key: &str) -> Option<i64> {
    stats_of(nsqd, topic, Some(channel))?[key].as_i64()
}

/// Subscribe with RDY `n`, take exactly `n` messages, check nothing more
/// comes, then RDY 0 and FIN them all.
fn consume(nsqd: &Nsqd, topic: &str, channel: &str, n: usize) -> Vec<Msg> {
    let mut c = nsqd.connect();
    c.subscribe(topic, channel);
    c.send(Request::Rdy(n as u64));
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        match c.try_next_within(WAIT) {
            Some(Some(Got::Message(m))) => out.push(m),
            other => panic!("{topic}/{channel}: message {i} of {n}: got {other:?}"),
        }
    }
    c.send(Request::Rdy(0));
    for m in &out {
        c.send(Request::Fin(m.id()));
    }
    c.expect_silence(Duration::from_millis(200));
    out
}

fn body_str(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ----- base64 for the manifest ---------------------------------------------

fn base64_decode(s: &str) -> Vec<u8> {
    nsq_protocol::base64::decode(s).expect("the manifest's base64")
}

/// The manifest's records of `queue`, in read order.
fn manifest_records(manifest: &serde_json::Value, queue: &str) -> Vec<Rec> {
    manifest["queues"][queue]["records_in_read_order"]
        .as_array()
        .unwrap_or_else(|| panic!("no {queue} in manifest"))
        .iter()
        .map(|r| Rec {
            ts: r["timestamp_ns"].as_i64().unwrap(),
            attempts: r["attempts"].as_u64().unwrap() as u16,
            id: r["id"].as_str().unwrap().to_string(),
            body: base64_decode(r["body_b64"].as_str().unwrap()),
        })
        .collect()
}

/// Delivered messages as records with attempts as stored (one less).
fn as_stored(msgs: &[Msg]) -> Vec<Rec> {
    msgs.iter()
        .map(|m| Rec {
            ts: m.header.timestamp,
            attempts: m.header.attempts.wrapping_sub(1),
            id: String::from_utf8(m.header.id.to_hex().to_vec()).unwrap(),
            body: m.body.clone(),
        })
        .collect()
}

/// Same records in the same order, with a readable failure.
fn assert_same_records(what: &str, got: &[Rec], want: &[Rec]) {
    let key = |r: &Rec| (r.id.clone(), r.ts, r.attempts, r.body.clone());
    let mut g: Vec<_> = got.iter().map(key).collect();
    let mut w: Vec<_> = want.iter().map(key).collect();
    g.sort();
    w.sort();
    if g != w {
        let gs: HashSet<_> = g.iter().cloned().collect();
        let ws: HashSet<_> = w.iter().cloned().collect();
        let missing: Vec<_> = ws.difference(&gs).map(|k| k.0.clone()).take(5).collect();
        let extra: Vec<_> = gs.difference(&ws).map(|k| k.0.clone()).take(5).collect();
        panic!(
            "{what}: {} records, want {}; missing (IDs) {missing:?}, unexpected {extra:?}",
            got.len(),
            want.len()
        );
    }
    if let Some(i) = (0..got.len()).find(|&i| got[i] != want[i]) {
        panic!(
            "{what}: the same records but in another order: first difference at index {i}: got {}, want {}",
            got[i].id, want[i].id
        );
    }
}

// ----- 1. A Go nsqd 1.3.0 data directory -----------------------------------

/// Every record of the Go fixture reaches every channel exactly as the
/// manifest lists it (ID, timestamp, attempts + 1, body, read order);
/// depths right after startup are the manifest's; `paused` delivers only
/// once unpaused; `lonely` keeps its 100 messages until it has a channel.
#[test]
fn a_go_nsqd_data_directory_delivers_every_record_as_the_manifest_lists_it() {
    let manifest = fixtures::go_nsqd_manifest();
    let dir = TempDir::new();
    fixtures::copy_go_nsqd_data(dir.path());
    let nsqd = start_on(dir.path());

    // Right after startup: the manifest's depths, all on disk.
    let depth = |q: &str| manifest["queues"][q]["depth"].as_i64().unwrap();
    assert_eq!(
        depths(&nsqd, "fixture", None),
        Some((depth("fixture"), depth("fixture")))
    );
    for c in ["c1", "c2", "paused"] {
        let d = depth(&format!("fixture:{c}"));
        assert_eq!(d, 600);
        assert_eq!(depths(&nsqd, "fixture", Some(c)), Some((d, d)), "{c}");
    }
    assert_eq!(depths(&nsqd, "lonely", None), Some((100, 100)));

    for c in ["c1", "c2"] {
        let want = manifest_records(&manifest, &format!("fixture:{c}"));
        let got = consume(&nsqd, "fixture", c, want.len());
        assert!(got.iter().all(|m| m.header.attempts == 1));
        assert_same_records(c, &as_stored(&got), &want);
        wait_for_value(&format!("{c} drained"), WAIT, Some((0, 0)), || {
            depths(&nsqd, "fixture", Some(c))
        });
    }

    // Paused: nothing until unpaused, then everything.
    let want = manifest_records(&manifest, "fixture:paused");
    let mut p = nsqd.connect();
    p.subscribe("fixture", "paused");
    p.send(Request::Rdy(1000));
    p.expect_silence(Duration::from_millis(500));
    assert_eq!(depths(&nsqd, "fixture", Some("paused")), Some((600, 600)));
    post(&nsqd, "/channel/unpause?topic=fixture&channel=paused");
    let mut got = Vec::new();
    for _ in 0..want.len() {
        let m = p.expect_message();
        p.send(Request::Fin(m.id()));
        got.push(m);
    }
    p.expect_silence(Duration::from_millis(200));
    assert_same_records("paused", &as_stored(&got), &want);

    // lonely: waits at the topic (nothing moves while it has no channel).
    let want = manifest_records(&manifest, "lonely");
    assert_eq!(depths(&nsqd, "lonely", None), Some((100, 100)));
    post(&nsqd, "/channel/create?topic=lonely&channel=late");
    wait_for_value("lonely moved to its channel", WAIT, Some(0), || {
        depths(&nsqd, "lonely", None).map(|d| d.0)
    });
    assert_eq!(
        depths(&nsqd, "lonely", Some("late")).map(|d| d.0),
        Some(100)
    );
    let got = consume(&nsqd, "lonely", "late", want.len());
    assert_same_records("lonely", &as_stored(&got), &want);
}

// ----- 2. What we write is go-diskqueue's format ---------------------------

/// A deterministic body of `i`: its index, then pseudo-random binary bytes
/// (mixed sizes: 1..=4096, and now and then 20 000).
fn mixed_body(i: usize) -> Vec<u8> {
    let mut x = (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ 0xdead_beef;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let len = if i % 37 == 5 {
        20_000
    } else {
        1 + (next() % 4096) as usize
    };
    let mut b = format!("m{i:04}:").into_bytes();
    while b.len() < len {
        b.push(next() as u8);
    }
    b
}

#[test]
fn what_we_write_is_go_diskqueue_format_byte_for_byte() {
    const MAX_FILE: u64 = 65536;
    const N: usize = 300;
    let dir = TempDir::new();
    let started_ns = now_ns();
    let mut nsqd = start_on_with(
        dir.path(),
        &["--mem-queue-size=10", "--max-bytes-per-file=65536"],
    );
    create_channel(&nsqd, "fmt", "a");
    post(&nsqd, "/channel/create?topic=fmt&channel=b");
    let bodies: Vec<Vec<u8>> = (0..N).map(mixed_body).collect();
    let mut p = nsqd.connect();
    let mut i = 0;
    while i < N {
        if i % 50 < 25 {
            p.publish("fmt", &bodies[i]);
            i += 1;
        } else {
            let end = (i + 5).min(N);
            let batch: Vec<&[u8]> = bodies[i..end].iter().map(|b| b.as_slice()).collect();
            p.send(Request::Mpub("fmt", &batch));
            p.expect_response("OK");
            i = end;
        }
    }
    drop(p);
    assert!(nsqd.terminate().expect("exit on SIGTERM").success());
    let ended_ns = now_ns();
    let d = dir.path();

    // nsqd.dat exactly as Go writes it.
    assert_eq!(
        std::fs::read_to_string(d.join("nsqd.dat")).unwrap(),
        r#"{"topics":[{"name":"fmt","paused":false,"channels":[{"name":"a","paused":false},{"name":"b","paused":false}]}],"version":"1.3.0"}"#
    );

    let mut expected_files = vec!["nsqd.dat".to_string()];
    // The topic gave everything to its channels.
    let (tmeta, trecs, tfiles) = read_go_queue(d, "fmt", 1 << 20);
    assert_eq!((tmeta.depth, trecs.len()), (0, 0), "{tmeta:?}");
    assert_eq!(tmeta.read, tmeta.write, "{tmeta:?}");
    expected_files.push("fmt.diskqueue.meta.dat".into());
    expected_files.extend(tfiles.keys().map(|&n| format!("fmt.diskqueue.{n:06}.dat")));

    let mut per_channel = Vec::new();
    for ch in ["a", "b"] {
        let q = format!("fmt:{ch}");
        let (meta, recs, files) = read_go_queue(d, &q, 1 << 20);
        assert_eq!(meta.depth, N as i64, "{q}: {meta:?}");
        assert_eq!(recs.len(), N, "{q}");
        assert_eq!(meta.read, (0, 0), "{q}: nothing was read");
        assert!(files.len() > 5, "{q}: rotation at 64 KiB: {files:?}");
        // Rotation: a finished file holds at most max-bytes-per-file (or a
        // single larger record), and it was finished only because the next
        // record would not have fit.
        let nums: Vec<u64> = files.keys().copied().collect();
        assert_eq!(
            nums,
            (meta.read.0..=meta.write.0).collect::<Vec<_>>(),
            "{q}: contiguous file numbers"
        );
        for w in nums.windows(2) {
            let (size, lens) = &files[&w[0]];
            let next_first = files[&w[1]].1[0] as u64;
            assert!(
                *size <= MAX_FILE || lens.len() == 1,
                "{q}: file {} has {size} bytes",
                w[0]
            );
            assert!(
                size + 4 + next_first > MAX_FILE,
                "{q}: file {} rolled early ({size} + 4 + {next_first})",
                w[0]
            );
            assert_eq!(
                *size,
                lens.iter().map(|l| 4 + *l as u64).sum::<u64>(),
                "{q}: records fill file {} exactly",
                w[0]
            );
        }
        // Records: attempts 0, a timestamp from this run, unique IDs,
        // exactly the published bodies.
        for r in &recs {
            assert_eq!(r.attempts, 0, "{q}");
            assert!(
                (started_ns..=ended_ns).contains(&r.ts),
                "{q}: timestamp {} outside the run",
                r.ts
            );
        }
        let ids: HashSet<&str> = recs.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), N, "{q}: unique IDs");
        let mut got: Vec<&[u8]> = recs.iter().map(|r| r.body.as_slice()).collect();
        let mut want: Vec<&[u8]> = bodies.iter().map(|b| b.as_slice()).collect();
        got.sort();
        want.sort();
        assert!(got == want, "{q}: the records are not the published bodies");
        expected_files.push(format!("{q}.diskqueue.meta.dat"));
        expected_files.extend(nums.iter().map(|n| format!("{q}.diskqueue.{n:06}.dat")));
        per_channel.push(recs);
    }
    // Both channels got the same copies (same ID, timestamp, body).
    let by_id = |recs: &[Rec]| -> HashMap<String, (i64, Vec<u8>)> {
        recs.iter()
            .map(|r| (r.id.clone(), (r.ts, r.body.clone())))
            .collect()
    };
    assert!(by_id(&per_channel[0]) == by_id(&per_channel[1]));

    // Nothing else in the directory (no tmp files, no deferrals file).
    expected_files.sort();
    assert_eq!(list(d), expected_files);
    // Mode 0600 like Go.
    use std::os::unix::fs::PermissionsExt;
    for f in &expected_files {
        let mode = std::fs::metadata(d.join(f)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{f}: mode {mode:o}");
    }
}

// ----- 3. Overflow beyond --mem-queue-size, depth and backend_depth --------

/// nsqd with `flags` on a fresh data directory, `topic` with its channel
/// `c`, and a producer connection that published `<prefix><i>` for each
/// `i` of `0..n` to it.
fn start_publishing(
    flags: &[&str],
    topic: &str,
    prefix: &str,
    n: usize,
) -> (TempDir, Nsqd, Client) {
    let dir = TempDir::new();
    let nsqd = start_on_with(dir.path(), flags);
    create_channel(&nsqd, topic, "c");
    let mut producer = nsqd.connect();
    producer.publish_numbered(topic, prefix, 0..n);
    (dir, nsqd, producer)
}

#[test]
fn overflow_goes_to_disk_and_depths_count_memory_and_disk() {
    let (dir, nsqd, mut p) = start_publishing(&["--mem-queue-size=5"], "ovf", "o", 20);
    // Topic passes everything on; the channel keeps 5 in memory, 15 on disk.
    wait_for_value("channel depths", WAIT, Some((20, 15)), || {
        depths(&nsqd, "ovf", Some("c"))
    });
    assert_eq!(depths(&nsqd, "ovf", None), Some((0, 0)));
    // The disk really holds 15 records (after a sync: reader sees meta
    // lazily, so only check the data once nsqd is stopped, below).

    // A topic without channel keeps them: 5 in memory, the rest on disk.
    p.publish_numbered("lone", "l", 0..12);
    wait_for_value("lone topic depths", WAIT, Some((12, 7)), || {
        depths(&nsqd, "lone", None)
    });

    // Consuming drains memory and disk, in publish order.
    let got = consume(&nsqd, "ovf", "c", 20);
    let bodies: Vec<String> = got.iter().map(|m| body_str(&m.body)).collect();
    assert_eq!(bodies, (0..20).map(|i| format!("o{i}")).collect::<Vec<_>>());
    wait_for_value("drained", WAIT, Some((0, 0)), || {
        depths(&nsqd, "ovf", Some("c"))
    });
    // Files of finished data are gone; the meta file says 0.
    drop(nsqd);
    let _ = dir;

    // --mem-queue-size=0: everything through the disk.
    let (dir, mut nsqd, _p) = start_publishing(&["--mem-queue-size=0"], "zero", "z", 10);
    wait_for_value("all on disk", WAIT, Some((10, 10)), || {
        depths(&nsqd, "zero", Some("c"))
    });
    assert_eq!(depths(&nsqd, "zero", None), Some((0, 0)));
    let got = consume(&nsqd, "zero", "c", 4);
    assert_eq!(body_str(&got[0].body), "z0");
    wait_for_value("6 left", WAIT, Some(6), || {
        depths(&nsqd, "zero", Some("c")).map(|d| d.0)
    });
    assert!(nsqd.terminate().expect("exit").success());
    let (meta, recs, _) = read_go_queue(dir.path(), "zero:c", 1 << 20);
    assert_eq!(meta.depth, 6, "{meta:?}");
    let bodies: Vec<String> = recs.iter().map(|r| body_str(&r.body)).collect();
    assert_eq!(bodies, (4..10).map(|i| format!("z{i}")).collect::<Vec<_>>());
}

/// A backlog on disk must not send every later message through the disk
/// too: as in NSQ, a new message goes to memory while memory has room.
/// (Queuing everything behind the backlog would keep a busy channel writing
/// and reading back each message for good: throughput would fall to a few
/// percent.)
#[test]
fn a_disk_backlog_does_not_send_new_messages_to_disk_while_memory_has_room() {
    let (_dir, nsqd, mut p) = start_publishing(&["--mem-queue-size=100"], "backlog", "b", 300);
    wait_for_value("backlog", WAIT, Some((300, 200)), || {
        depths(&nsqd, "backlog", Some("c"))
    });
    // One message leaves memory (99 left: no read-back yet).
    let mut c = nsqd.connect();
    c.subscribe("backlog", "c");
    c.send(Request::Rdy(1));
    let first = c.expect_message();
    assert_eq!(body_str(&first.body), "b0");
    wait_for_value("one in flight", WAIT, Some((299, 200)), || {
        depths(&nsqd, "backlog", Some("c"))
    });
    // The next message takes the free place in memory, so it is delivered
    // before the backlog on disk (queued behind it, it would come last).
    p.publish("backlog", b"fresh");
    wait_for_value("fresh message queued", WAIT, 300, || {
        depths(&nsqd, "backlog", Some("c")).map_or(0, |d| d.0)
    });
    c.send(Request::Fin(first.id()));
    c.send(Request::Rdy(100));
    let bodies: Vec<String> = (0..100)
        .map(|_| body_str(&c.expect_message().body))
        .collect();
    let mut want: Vec<String> = (1..100).map(|i| format!("b{i}")).collect();
    want.push("fresh".into());
    assert_eq!(bodies, want);
}

// ----- 4. Empty and delete remove the files ---------------------------------

/// Poll (bounded) until `f` lists nothing; otherwise record a problem.
fn files_gone(problems: &mut Vec<String>, what: &str, mut f: impl FnMut() -> Vec<String>) {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let left = f();
        if left.is_empty() {
            return;
        }
        if Instant::now() >= deadline {
            problems.push(format!("{what}: still there: {left:?}"));
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn empty_and_delete_remove_the_queue_files_and_a_recreated_topic_starts_empty() {
    let dir = TempDir::new();
    let d = dir.path();
    let flags = ["--mem-queue-size=2"];
    let mut problems = Vec::new();
    let mut nsqd = start_on_with(d, &flags);
    create_channel(&nsqd, "T", "c");
    post(&nsqd, "/channel/create?topic=T&channel=d");
    let mut p = nsqd.connect();
    p.publish_numbered("T", "t", 0..10);
    p.send(Request::Dpub("T", 600_000, b"deferred"));
    p.expect_response("OK");
    p.publish_numbered("U", "u", 0..10);
    drop(p);
    assert!(nsqd.terminate().expect("exit").success());
    drop(nsqd);
    for q in ["T:c", "T:d"] {
        let files = queue_files(d, q);
        assert!(
            files.contains(&format!("{q}.diskqueue.meta.dat")),
            "{files:?}"
        );
        assert!(
            files.contains(&format!("{q}.diskqueue.000000.dat")),
            "{files:?}"
        );
        assert!(files.contains(&format!("{q}.deferred.dat")), "{files:?}");
    }
    assert!(!queue_files(d, "U").is_empty());

    let nsqd = start_on_with(d, &flags);
    assert_eq!(depths(&nsqd, "T", Some("c")), Some((11, 11)));
    assert_eq!(depths(&nsqd, "U", None), Some((10, 10)));

    // Files left of queue `q` after an empty: the meta file may stay if it
    // says empty (Go deletes it and writes it again at the next sync).
    let leftover = |q: &str| -> Vec<String> {
        let mut v = queue_files(d, q);
        v.retain(|f| {
            *f != format!("{q}.diskqueue.meta.dat")
                || read_meta(d, q).is_none_or(|m| m.depth != 0 || m.read != m.write)
        });
        v
    };

    // Channel empty: its files go (data, deferrals), depth 0; the other
    // channel keeps its own.
    post(&nsqd, "/channel/empty?topic=T&channel=c");
    assert_eq!(depths(&nsqd, "T", Some("c")), Some((0, 0)));
    files_gone(&mut problems, "/channel/empty T:c", || leftover("T:c"));
    assert_eq!(depths(&nsqd, "T", Some("d")), Some((11, 11)));
    let mut c = nsqd.connect();
    c.subscribe("T", "c");
    c.send(Request::Rdy(10));
    c.expect_silence(Duration::from_millis(300));
    drop(c);

    // Topic empty (a topic without channels holds its messages).
    post(&nsqd, "/topic/empty?topic=U");
    assert_eq!(depths(&nsqd, "U", None), Some((0, 0)));
    files_gone(&mut problems, "/topic/empty U", || leftover("U"));

    // Channel delete: every file of it goes, and nsqd.dat forgets it.
    post(&nsqd, "/channel/delete?topic=T&channel=d");
    files_gone(&mut problems, "/channel/delete T:d", || {
        queue_files(d, "T:d")
    });
    // nsqd.dat is rewritten by its own thread, just after the change.
    wait_for_value("nsqd.dat without channel d", WAIT, false, || {
        std::fs::read_to_string(d.join("nsqd.dat"))
            .unwrap()
            .contains(r#""name":"d""#)
    });

    // Topic delete, then at once a publish to the same name: the new topic
    // has only the new message.
    let mut p = nsqd.connect();
    p.publish_numbered("W", "w", 0..10);
    wait_for_value("W depth", WAIT, Some((10, 8)), || depths(&nsqd, "W", None));
    post(&nsqd, "/topic/delete?topic=W");
    p.publish("W", b"fresh");
    assert_eq!(depths(&nsqd, "W", None).map(|d| d.0), Some(1));
    let got = consume(&nsqd, "W", "c", 1);
    assert_eq!(got[0].body, b"fresh");

    post(&nsqd, "/topic/delete?topic=T");
    files_gone(&mut problems, "/topic/delete T", || {
        let mut v = queue_files(d, "T");
        v.extend(queue_files(d, "T:c"));
        v
    });
    p.publish("T", b"new");
    let got = consume(&nsqd, "T", "c2", 1);
    assert_eq!(got[0].body, b"new");
    drop(p);
    drop(nsqd);

    // A restart brings back nothing that was emptied or deleted.
    let nsqd = start_on_with(d, &flags);
    assert_eq!(depths(&nsqd, "U", None), Some((0, 0)));
    assert_eq!(depths(&nsqd, "T", None), Some((0, 0)));
    assert_eq!(depths(&nsqd, "T", Some("c")), None, "deleted with T");
    assert_eq!(depths(&nsqd, "T", Some("d")), None);
    assert!(problems.is_empty(), "{problems:#?}");
}

// ----- 5. Corrupt and truncated data files ----------------------------------

#[test]
fn corrupt_and_truncated_data_files_are_renamed_bad_and_the_next_file_is_read() {
    let dir = TempDir::new();
    let d = dir.path();
    std::fs::write(
        d.join("nsqd.dat"),
        r#"{"topics":[{"name":"t","paused":false,"channels":[{"name":"garbage","paused":false},{"name":"truncated","paused":false}]}],"version":"1.3.0"}"#,
    )
    .unwrap();
    let ts = now_ns();
    let mut want: HashMap<&str, Vec<String>> = HashMap::new();
    for (ch, prefix, id_base) in [("garbage", "g", 0x1000u64), ("truncated", "r", 0x2000)] {
        let q = format!("t:{ch}");
        let mut id = id_base;
        let mut rec = |i: usize, out: &mut Vec<u8>| {
            id += 1;
            out.extend(go_record(ts, 0, id, format!("{prefix}{i}").as_bytes()));
        };
        let mut f0 = Vec::new();
        (0..4).for_each(|i| rec(i, &mut f0));
        let mut f1 = Vec::new();
        (4..6).for_each(|i| rec(i, &mut f1));
        if ch == "garbage" {
            // A length prefix far beyond max-msg-size + 26, then junk.
            f1.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
            f1.extend_from_slice(&[0xab; 40]);
        } else {
            // A record cut in the middle.
            let r = go_record(ts, 0, 0xffff, &[b'x'; 100]);
            f1.extend_from_slice(&r[..60]);
        }
        let mut f2 = Vec::new();
        (6..10).for_each(|i| rec(i, &mut f2));
        std::fs::write(data_path(d, &q, 0), &f0).unwrap();
        std::fs::write(data_path(d, &q, 1), &f1).unwrap();
        std::fs::write(data_path(d, &q, 2), &f2).unwrap();
        std::fs::write(meta_path(d, &q), format!("11\n0,0\n2,{}\n", f2.len())).unwrap();
        want.insert(ch, (0..10).map(|i| format!("{prefix}{i}")).collect());
    }

    let nsqd = start_on(d);
    for ch in ["garbage", "truncated"] {
        let q = format!("t:{ch}");
        let got = consume(&nsqd, "t", ch, 10);
        let bodies: Vec<String> = got.iter().map(|m| body_str(&m.body)).collect();
        assert_eq!(bodies, want[ch], "{q}");
        let bad = format!("{q}.diskqueue.000001.dat.bad");
        assert!(list(d).contains(&bad), "{q}: {:?}", list(d));
        // Go logs "jump to next file and saving bad file as <path>.bad";
        // we log the file number: either is fine for an operator.
        let log = nsqd.log();
        assert!(
            log.lines()
                .any(|l| l.contains(&format!("DISKQUEUE({q})")) && l.contains("bad file")),
            "{q}: the log reports the bad file:\n{log}"
        );
        // The metadata said 11: the tail check corrects it.
        wait_for_value(
            &format!("{q} depth at the tail"),
            WAIT,
            Some((0, 0)),
            || depths(&nsqd, "t", Some(ch)),
        );
    }
    // Still serving, through the disk queues too.
    let mut p = nsqd.connect();
    p.publish("t", b"after");
    for ch in ["garbage", "truncated"] {
        assert_eq!(consume(&nsqd, "t", ch, 1)[0].body, b"after");
    }
    assert_eq!(http(&nsqd, "GET", "/ping"), (200, "OK".to_string()));
}

// ----- 6. Crash tests -------------------------------------------------------

/// A publisher connection that never panics: it records the bodies of
/// every publish answered OK and stops at the first error, EOF or timeout.
struct Publisher {
    acked: Arc<Mutex<Vec<String>>>,
    acks: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

fn read_frame(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<(bool, Vec<u8>)> {
    loop {
        match decode_frame(buf, 1 << 20) {
            Ok(Decoded::Complete { value, consumed }) => {
                let out = match value {
                    Frame::Response(d) => (true, d.to_vec()),
                    Frame::Error(d) => (false, d.to_vec()),
                    Frame::Message(..) => (false, b"unexpected message".to_vec()),
                };
                buf.drain(..consumed);
                if out == (true, b"_heartbeat_".to_vec()) {
                    let mut nop = Vec::new();
                    Request::Nop.encode(&mut nop);
                    s.write_all(&nop).ok()?;
                    continue;
                }
                return Some(out);
            }
            Ok(_) => {}
            Err(_) => return None,
        }
        let mut chunk = [0u8; 4096];
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

impl Publisher {
    fn run(&self, addr: SocketAddr, topic: &str, tag: &str) {
        let Ok(mut s) = TcpStream::connect(addr) else {
            return;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = s.set_nodelay(true);
        if s.write_all(b"  V2").is_err() {
            return;
        }
        let mut buf = Vec::new();
        let mut seq = 0usize;
        while !self.stop.load(Ordering::Relaxed) {
            let n = if seq.is_multiple_of(3) { 4 } else { 1 };
            let bodies: Vec<String> = (0..n)
                .map(|k| {
                    let pad = "x".repeat((seq * 7 + k * 131) % 700);
                    format!("{tag}-{}-{pad}", seq + k)
                })
                .collect();
            let refs: Vec<&[u8]> = bodies.iter().map(|b| b.as_bytes()).collect();
            let mut out = Vec::new();
            if n == 1 {
                Request::Pub(topic, refs[0]).encode(&mut out);
            } else {
                Request::Mpub(topic, &refs).encode(&mut out);
            }
            seq += n;
            if s.write_all(&out).is_err() {
                return;
            }
            match read_frame(&mut s, &mut buf) {
                Some((true, d)) if d == b"OK" => {
                    self.acked.lock().unwrap().extend(bodies);
                    self.acks.fetch_add(n, Ordering::Relaxed);
                }
                _ => return,
            }
        }
    }
}

/// A consumer of `crash/c` that records every body it is given (then
/// FINs it) until EOF or an error.
fn consume_into(addr: SocketAddr, seen: Arc<Mutex<HashSet<String>>>) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
    let mut out = b"  V2".to_vec();
    Request::Sub("crash", "c").encode(&mut out);
    Request::Rdy(50).encode(&mut out);
    if s.write_all(&out).is_err() {
        return;
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 65536];
    loop {
        while let Ok(Decoded::Complete { value, consumed }) = decode_frame(&buf, 1 << 20) {
            let mut reply = Vec::new();
            match value {
                Frame::Message(h, body) => {
                    seen.lock().unwrap().insert(body_key(body));
                    Request::Fin(h.id).encode(&mut reply);
                }
                Frame::Response(b"_heartbeat_") => Request::Nop.encode(&mut reply),
                _ => {}
            }
            buf.drain(..consumed);
            if s.write_all(&reply).is_err() {
                return;
            }
        }
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The key of a published body (without its padding).
fn body_key(b: &[u8]) -> String {
    let s = body_str(b);
    match s.rsplit_once('-') {
        Some((k, _)) => k.to_string(),
        None => s,
    }
}

/// Run `cycles` rounds: start nsqd on `dir`, run 4 publishers (and a
/// consumer of `crash/c` if `seen` is given, recording what it got) until
/// `min_acks` more publishes were acknowledged, stop nsqd with `signal`
/// while they publish. Returns every acknowledged body key.
fn publish_through_restarts(
    dir: &Path,
    flags: &[&str],
    cycles: usize,
    signal: i32,
    min_acks: usize,
    seen: Option<Arc<Mutex<HashSet<String>>>>,
) -> HashSet<String> {
    let acked = Arc::new(Mutex::new(Vec::new()));
    let acks = Arc::new(AtomicUsize::new(0));
    for cycle in 0..cycles {
        let mut nsqd = start_on_with(dir, flags);
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..4)
            .map(|k| {
                let p = Publisher {
                    acked: acked.clone(),
                    acks: acks.clone(),
                    stop: stop.clone(),
                };
                let addr = nsqd.tcp;
                std::thread::spawn(move || p.run(addr, "crash", &format!("c{cycle}p{k}")))
            })
            .collect();
        // A consumer every other round: the rest piles up on disk.
        let consumer = seen.clone().filter(|_| cycle % 2 == 1).map(|seen| {
            let addr = nsqd.tcp;
            std::thread::spawn(move || consume_into(addr, seen))
        });
        let before = acks.load(Ordering::Relaxed);
        // Kill at a different point each round.
        let target = before + min_acks + cycle * 37;
        let deadline = Instant::now() + Duration::from_secs(15);
        while acks.load(Ordering::Relaxed) < target {
            assert!(
                Instant::now() < deadline,
                "cycle {cycle}: only {} acks within 15 s",
                acks.load(Ordering::Relaxed) - before
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        // SAFETY: kill(2) on our own child's PID.
        unsafe {
            libc::kill(nsqd.pid() as i32, signal);
        }
        if signal == libc::SIGTERM {
            assert!(
                nsqd.terminate().is_some(),
                "cycle {cycle}: no exit on SIGTERM"
            );
        }
        stop.store(true, Ordering::Relaxed);
        for t in threads {
            t.join().unwrap();
        }
        if let Some(c) = consumer {
            c.join().unwrap();
        }
        drop(nsqd);
    }
    let keys = acked
        .lock()
        .unwrap()
        .iter()
        .map(|b| body_key(b.as_bytes()))
        .collect();
    keys
}

/// Consume `crash/c` until every key in `want` arrived (bounded); `seen`:
/// what consumers got before.
fn drain_and_check(dir: &Path, flags: &[&str], want: &HashSet<String>, seen: HashSet<String>) {
    let nsqd = start_on_with(dir, flags);
    let mut c = nsqd.connect();
    c.subscribe("crash", "c");
    c.send(Request::Rdy(1000));
    let consumed_before = seen.len();
    let mut seen = seen;
    let mut delivered = 0usize;
    let started = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !want.is_subset(&seen) {
        let left = deadline.saturating_duration_since(Instant::now());
        match c.try_next_within(left.min(Duration::from_secs(5))) {
            Some(Some(Got::Message(m))) => {
                delivered += 1;
                seen.insert(body_key(&m.body));
                c.send(Request::Fin(m.id()));
            }
            other => {
                let missing: Vec<_> = want.difference(&seen).take(10).collect();
                panic!(
                    "{} of {} acknowledged publishes never arrived ({delivered} delivered, then {other:?}); e.g. {missing:?}",
                    want.difference(&seen).count(),
                    want.len()
                );
            }
        }
    }
    eprintln!(
        "{} acknowledged, all delivered ({consumed_before} while publishing, {delivered} deliveries after, {} distinct) in {:?}",
        want.len(),
        seen.len(),
        started.elapsed()
    );
}

/// A data directory whose `nsqd.dat` holds topic `crash` with channel `c`,
/// written by an nsqd with `flags` that has stopped again.
fn data_dir_with_crash_channel(flags: &[&str]) -> TempDir {
    let dir = TempDir::new();
    let nsqd = start_on_with(dir.path(), flags);
    create_channel(&nsqd, "crash", "c");
    Client::wait_until(|| {
        std::fs::read_to_string(dir.path().join("nsqd.dat"))
            .is_ok_and(|s| s.contains(r#""name":"c""#))
    });
    drop(nsqd);
    dir
}

#[test]
fn sigkill_with_sync_every_1_loses_no_acknowledged_publish() {
    let flags = ["--sync-every=1"];
    let dir = data_dir_with_crash_channel(&flags);
    // No consumer during the kills: a message already sent to a consumer
    // and in flight lives in memory until FIN, as in NSQ
    // (docs/data-directory.md#what-survives), so a SIGKILL can lose it with the
    // consumer's unread socket data.
    let acked = publish_through_restarts(dir.path(), &flags, 5, libc::SIGKILL, 150, None);
    assert!(acked.len() >= 5 * 150, "{}", acked.len());
    drain_and_check(dir.path(), &flags, &acked, HashSet::new());
}

/// Group commit keeps what a consumer has in flight on disk until it is
/// finished: SIGKILL while consumers run loses nothing either (a message
/// the consumer never saw, or saw and did not get to finish, comes again).
#[test]
fn sigkill_with_sync_every_1_and_consumers_loses_nothing() {
    let flags = ["--sync-every=1"];
    let dir = data_dir_with_crash_channel(&flags);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let acked = publish_through_restarts(
        dir.path(),
        &flags,
        6,
        libc::SIGKILL,
        150,
        Some(seen.clone()),
    );
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    drain_and_check(dir.path(), &flags, &acked, seen);
}

/// SIGTERM in sync mode while a consumer keeps the channel's read-back
/// busy (every message goes through the disk, `--mem-queue-size=0`):
/// every acknowledged message is delivered after the restarts.
#[test]
fn sigterm_with_sync_every_1_while_a_consumer_reads_back_loses_nothing() {
    let flags = ["--sync-every=1", "--mem-queue-size=0"];
    let dir = data_dir_with_crash_channel(&flags);
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let acked = publish_through_restarts(
        dir.path(),
        &flags,
        8,
        libc::SIGTERM,
        300,
        Some(seen.clone()),
    );
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    drain_and_check(dir.path(), &flags, &acked, seen);
}

#[test]
fn sigterm_at_default_settings_loses_no_acknowledged_publish() {
    let dir = TempDir::new();
    {
        let nsqd = start_on(dir.path());
        create_channel(&nsqd, "crash", "c");
    }
    // A consumer on every other round: what it has in flight at the
    // SIGTERM is written to disk and delivered again.
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let acked =
        publish_through_restarts(dir.path(), &[], 3, libc::SIGTERM, 200, Some(seen.clone()));
    let seen = std::mem::take(&mut *seen.lock().unwrap());
    drain_and_check(dir.path(), &[], &acked, seen);
}

// ----- 7. Disk full ---------------------------------------------------------

/// A tmpfs mounted for the test, unmounted on drop (also on failure).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Result<Tmpfs, String> {
        let dir = fresh_data_dir();
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&dir)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            let _ = std::fs::remove_dir(&dir);
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        Ok(Tmpfs(dir))
    }

    /// [`Tmpfs::mount`], or None after saying the test is skipped (no
    /// permission to mount here).
    fn mount_or_skip(size: &str) -> Option<Tmpfs> {
        Tmpfs::mount(size)
            .map_err(|why| eprintln!("SKIPPED: cannot mount a tmpfs: {why}"))
            .ok()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// PUB on a fresh connection: Ok, or the error frame's text.
fn pub_once(addr: SocketAddr, topic: &str, body: &[u8]) -> Result<(), String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(WAIT)).unwrap();
    s.write_all(b"  V2").unwrap();
    let mut out = Vec::new();
    Request::Pub(topic, body).encode(&mut out);
    s.write_all(&out).unwrap();
    let mut buf = Vec::new();
    match read_frame(&mut s, &mut buf) {
        Some((true, d)) if d == b"OK" => Ok(()),
        Some((_, d)) => Err(body_str(&d)),
        None => Err("no answer".into()),
    }
}

#[test]
fn a_full_disk_fails_publishes_and_ping_until_space_is_back() {
    let Some(mnt) = Tmpfs::mount_or_skip("2m") else {
        return;
    };
    let d = mnt.0.clone();
    // Ballast to free later.
    std::fs::write(d.join("ballast"), vec![7u8; 1200 * 1024]).unwrap();
    let nsqd = start_on_with(&d, &["--mem-queue-size=0", "--max-bytes-per-file=131072"]);
    assert_eq!(http(&nsqd, "GET", "/ping"), (200, "OK".to_string()));
    let body = |i: usize| {
        let mut b = format!("full{i:04}-").into_bytes();
        b.resize(32 * 1024, b'f');
        b
    };
    let mut acked = Vec::new();
    let mut failure = None;
    for i in 0..200 {
        match pub_once(nsqd.tcp, "full", &body(i)) {
            Ok(()) => acked.push(i),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a publish fails once the disk is full");
    assert!(failure.starts_with("E_PUB_FAILED"), "{failure}");
    assert!(!acked.is_empty());
    let (status, text) = http(&nsqd, "GET", "/ping");
    assert_eq!(status, 500, "{text}");
    assert!(text.starts_with("NOK"), "{text}");
    let health = stats(&nsqd)["health"].as_str().unwrap().to_string();
    assert!(health.starts_with("NOK"), "{health}");

    // Space again: publishes succeed and nsqd is healthy.
    std::fs::remove_file(d.join("ballast")).unwrap();
    let next = acked.len() + 1;
    pub_once(nsqd.tcp, "full", &body(next)).expect("publish after freeing space");
    acked.push(next);
    pub_once(nsqd.tcp, "full", &body(next + 1)).expect("publish after freeing space");
    acked.push(next + 1);
    assert_eq!(http(&nsqd, "GET", "/ping"), (200, "OK".to_string()));

    // Everything acknowledged arrives intact, in order (the failed write
    // left nothing that breaks the queue).
    let mut c = nsqd.connect();
    c.subscribe("full", "c");
    c.send(Request::Rdy(50));
    let mut got = Vec::new();
    while !acked.iter().all(|i| got.contains(i)) {
        match c.try_next_within(WAIT) {
            Some(Some(Got::Message(m))) => {
                c.send(Request::Fin(m.id()));
                assert!(m.body == body(body_index(&m.body)), "body damaged");
                got.push(body_index(&m.body));
            }
            other => panic!("after {got:?} of {acked:?}: {other:?}"),
        }
    }
    // The failed publish may arrive too (at least once), nothing else.
    got.retain(|i| acked.contains(i));
    assert_eq!(got, acked);
    drop(c);
    drop(nsqd);
    drop(mnt);
}

fn body_index(b: &[u8]) -> usize {
    body_str(&b[4..8]).parse().unwrap()
}

// ----- 8. Durable deferral --------------------------------------------------

#[test]
fn a_deferred_message_keeps_its_due_time_across_a_restart_and_is_an_ordinary_record_on_disk() {
    const DELAY_MS: u64 = 4000;
    let dir = TempDir::new();
    let d = dir.path();
    let mut nsqd = start_on(d);
    create_channel(&nsqd, "later", "c");
    let mut p = nsqd.connect();
    let sent_ms = now_ms();
    let sent = Instant::now();
    p.send(Request::Dpub("later", DELAY_MS, b"deferred"));
    p.expect_response("OK");
    p.publish("later", b"now");
    assert_eq!(channel_stat(&nsqd, "later", "c", "deferred_count"), Some(1));
    drop(p);
    assert!(nsqd.terminate().expect("exit").success());
    drop(nsqd);

    // Go's reader sees two ordinary records (Go nsqd would deliver the
    // deferred one at once: it does not know the extra file).
    let (meta, recs, _) = read_go_queue(d, "later:c", 1 << 20);
    assert_eq!(meta.depth, 2, "{meta:?}");
    let mut bodies: Vec<String> = recs.iter().map(|r| body_str(&r.body)).collect();
    bodies.sort();
    assert_eq!(bodies, ["deferred", "now"]);
    let deferred = recs.iter().find(|r| r.body == b"deferred").unwrap();
    assert_eq!(deferred.attempts, 0);
    // The extra file holds its due time.
    let text = std::fs::read_to_string(d.join("later:c.deferred.dat")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&deferred.id))
        .unwrap_or_else(|| panic!("{} not in {text:?}", deferred.id));
    let due: i64 = line.split(' ').nth(1).unwrap().parse().unwrap();
    let want_due = sent_ms + DELAY_MS as i64;
    assert!(
        (want_due..want_due + 1000).contains(&due),
        "due {due}, sent at {sent_ms} + {DELAY_MS}"
    );

    let nsqd = start_on(d);
    let mut c = nsqd.connect();
    c.subscribe("later", "c");
    c.send(Request::Rdy(10));
    let first = c.expect_message();
    assert_eq!(first.body, b"now");
    c.send(Request::Fin(first.id()));
    let m = match c.try_next_within(Duration::from_millis(DELAY_MS + 5000)) {
        Some(Some(Got::Message(m))) => m,
        other => panic!("deferred message: {other:?}"),
    };
    let waited = sent.elapsed();
    assert_eq!(m.body, b"deferred");
    assert_eq!(m.header.attempts, 1);
    assert!(
        waited >= Duration::from_millis(DELAY_MS - 50),
        "arrived after {waited:?}, due after {DELAY_MS} ms"
    );
    assert!(
        waited <= Duration::from_millis(DELAY_MS + 2000),
        "arrived after {waited:?}, due after {DELAY_MS} ms"
    );
    c.send(Request::Fin(m.id()));
}

/// The same for a REQ with a delay, and for a DPUB that goes through the
/// disk at once (`--mem-queue-size=0`; Go would lose its deferral, we do
/// not: docs/compatibility.md#deferral-lost).
#[test]
fn a_requeue_delay_survives_a_restart_and_a_dpub_through_the_disk_stays_deferred() {
    let dir = TempDir::new();
    let d = dir.path();
    let flags = ["--mem-queue-size=0"];
    let mut nsqd = start_on_with(d, &flags);
    create_channel(&nsqd, "rq", "c");
    let mut p = nsqd.connect();
    let t0 = Instant::now();
    p.send(Request::Dpub("rq", 2500, b"dpub"));
    p.expect_response("OK");
    p.publish("rq", b"req");
    let mut c = nsqd.connect();
    c.subscribe("rq", "c");
    c.send(Request::Rdy(10));
    let m = c.expect_message();
    assert_eq!(m.body, b"req", "the deferred one waits");
    let requeued_at = Instant::now();
    c.send(Request::Req(m.id(), 3000));
    wait_for_value("deferred_count", WAIT, Some(2), || {
        channel_stat(&nsqd, "rq", "c", "deferred_count")
    });
    drop(c);
    drop(p);
    assert!(nsqd.terminate().expect("exit").success());
    drop(nsqd);

    let nsqd = start_on_with(d, &flags);
    let mut c = nsqd.connect();
    c.subscribe("rq", "c");
    c.send(Request::Rdy(10));
    let mut seen = Vec::new();
    for _ in 0..2 {
        let m = match c.try_next_within(Duration::from_secs(8)) {
            Some(Some(Got::Message(m))) => m,
            other => panic!("after {seen:?}: {other:?}"),
        };
        c.send(Request::Fin(m.id()));
        let (since, due) = if m.body == b"dpub" {
            (t0.elapsed(), 2500)
        } else {
            assert_eq!(m.header.attempts, 2, "REQ keeps attempts");
            (requeued_at.elapsed(), 3000)
        };
        assert!(
            since >= Duration::from_millis(due - 50),
            "{} arrived after {since:?}, due after {due} ms",
            body_str(&m.body)
        );
        seen.push(body_str(&m.body));
    }
    assert_eq!(seen, ["dpub", "req"]);
}

/// With `--sync-every=1` an acknowledged publish is on disk, and a SIGKILL
/// must not lose it later either: not when a slow consumer (RDY 1, one
/// message in flight) made the channel take messages off the disk ahead
/// of delivery, and not when it was a DPUB (whose deferral the extension
/// keeps). Go nsqd takes a message off the disk only to send it.
fn sigkill_after_acks(slow_consumer: bool, dpub: bool) {
    let dir = TempDir::new();
    let d = dir.path();
    let flags = ["--sync-every=1"];
    let nsqd = start_on_with(d, &flags);
    create_channel(&nsqd, "ra", "c");
    let mut p = nsqd.connect();
    let bodies: Vec<String> = (0..300).map(|i| format!("ra{i}")).collect();
    for chunk in bodies.chunks(30) {
        let refs: Vec<&[u8]> = chunk.iter().map(|b| b.as_bytes()).collect();
        p.send(Request::Mpub("ra", &refs));
        p.expect_response("OK");
    }
    if dpub {
        p.send(Request::Dpub("ra", 1500, b"deferred"));
        p.expect_response("OK");
    }
    let dpub_acked = Instant::now();
    // With group commit the deferred message waits on disk too (counted in
    // depth there, as NSQ counts a DPUB that overflowed to disk).
    let on_disk = if dpub { 301 } else { 300 };
    wait_for_value("all on disk", WAIT, Some((on_disk, on_disk)), || {
        depths(&nsqd, "ra", Some("c"))
    });
    let mut seen = HashSet::new();
    let mut c = nsqd.connect();
    let mut read_ahead = 0;
    if slow_consumer {
        // A slow consumer: one message in flight, not finished.
        c.subscribe("ra", "c");
        c.send(Request::Rdy(1));
        let first = body_str(&c.expect_message().body);
        // If the broker reads ahead for it, wait until it did (else go on).
        let deadline = Instant::now() + Duration::from_secs(1);
        while Instant::now() < deadline {
            if let Some((depth, backend)) = depths(&nsqd, "ra", Some("c")) {
                read_ahead = depth - backend;
                if read_ahead > 0 {
                    break;
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("read ahead into memory before the kill: {read_ahead}");
        if read_ahead > 1 {
            // Give the read position time to reach the metadata file (a sync
            // is due at once with --sync-every=1, at the latest after
            // --sync-timeout=2s).
            let deadline = Instant::now() + Duration::from_secs(3);
            while Instant::now() < deadline
                && read_meta(d, "ra:c").is_some_and(|m| m.read == (0, 0))
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("before the kill: {:?}", read_meta(d, "ra:c"));
        }
        seen.insert(first);
    }
    // SAFETY: kill(2) on our own child's PID.
    unsafe {
        libc::kill(nsqd.pid() as i32, libc::SIGKILL);
    }
    drop(c);
    drop(p);
    drop(nsqd);
    eprintln!("after the kill: {:?}", read_meta(d, "ra:c"));

    let nsqd = start_on_with(d, &flags);
    let mut c = nsqd.connect();
    c.subscribe("ra", "c");
    c.send(Request::Rdy(1000));
    let mut want: HashSet<String> = bodies.iter().cloned().collect();
    if dpub {
        want.insert("deferred".into());
    }
    // What was delivered once before the kill keeps "at least once".
    while !want.is_subset(&seen) {
        match c.try_next_within(Duration::from_secs(4)) {
            Some(Some(Got::Message(m))) => {
                if m.body == b"deferred" {
                    assert!(
                        dpub_acked.elapsed() >= Duration::from_millis(1400),
                        "the DPUB lost its deferral"
                    );
                }
                seen.insert(body_str(&m.body));
                c.send(Request::Fin(m.id()));
            }
            other => {
                let mut missing: Vec<_> = want.difference(&seen).cloned().collect();
                missing.sort();
                panic!(
                    "{} of {} acknowledged messages lost after SIGKILL (read ahead before the kill: {read_ahead}), then {other:?}: {:?}...",
                    missing.len(),
                    want.len(),
                    &missing[..missing.len().min(8)]
                );
            }
        }
    }
}

#[test]
fn sigkill_with_sync_every_1_loses_nothing_read_ahead_for_a_slow_consumer() {
    sigkill_after_acks(true, false);
}

#[test]
fn sigkill_with_sync_every_1_loses_no_acknowledged_dpub() {
    sigkill_after_acks(false, true);
}

/// With an early message still in flight and the later ones finished, the
/// persisted read position is the unfinished message's (so a crash
/// redelivers it) and the persisted depth counts every record from there to
/// the reader, not only the unfinished ones: after a SIGKILL the re-read
/// records do not use the depth up, and what was published later is
/// delivered too (nsq-chaos `--sync`, seed 5, checks the same).
#[test]
fn sigkill_with_sync_every_1_while_an_early_message_is_in_flight_loses_no_later_publish() {
    let dir = TempDir::new();
    let d = dir.path();
    let flags = ["--sync-every=1", "--mem-queue-size=0"];
    let nsqd = start_on_with(d, &flags);
    create_channel(&nsqd, "fl", "c");
    let mut p = nsqd.connect();
    let old: Vec<String> = (0..20).map(|i| format!("old{i}")).collect();
    let refs: Vec<&[u8]> = old.iter().map(|b| b.as_bytes()).collect();
    p.send(Request::Mpub("fl", &refs));
    p.expect_response("OK");
    let mut c = nsqd.connect();
    c.subscribe("fl", "c");
    c.send(Request::Rdy(20));
    let got: Vec<Msg> = (0..20).map(|_| c.expect_message()).collect();
    // The first stays in flight, the others are finished; nothing more is
    // read back.
    c.send(Request::Rdy(0));
    for m in &got[1..] {
        c.send(Request::Fin(m.id()));
    }
    c.expect_silence(Duration::from_millis(200));
    // One more, read back and delivered: the metadata is synced with the
    // floor still at the first message.
    p.send(Request::Pub("fl", b"mid"));
    p.expect_response("OK");
    c.send(Request::Rdy(2));
    assert_eq!(c.expect_message().body, b"mid");
    std::thread::sleep(Duration::from_millis(100));
    // SAFETY: kill(2) on our own child's PID.
    unsafe {
        libc::kill(nsqd.pid() as i32, libc::SIGKILL);
    }
    drop((c, p, nsqd));
    let meta = read_meta(d, "fl:c").expect("fl:c metadata");
    // old0..old19 and mid are after the persisted read position.
    assert_eq!(meta.depth, 21, "{meta:?}");

    let nsqd = start_on_with(d, &flags);
    let mut p = nsqd.connect();
    p.send(Request::Pub("fl", b"late"));
    p.expect_response("OK");
    // One at a time: each read-back batch is then gated by the depth.
    let want = ["old0", "mid", "late"].map(String::from).into();
    let _c = receive_one_at_a_time(&nsqd, "fl", want);
    wait_for_value("depth 0", WAIT, Some((0, 0)), || {
        depths(&nsqd, "fl", Some("c"))
    });
}

/// A record larger than the 64 KiB read chunk is read whole, also when the
/// chunk in memory does not hold its start (the first record of a file, or
/// one starting right at the end of the previous chunk): it is not taken
/// for a truncated one, which would rename the file `.bad` and lose every
/// message in it.
#[test]
fn messages_larger_than_the_read_chunk_come_back_from_disk() {
    let dir = TempDir::new();
    let nsqd = start_on_with(dir.path(), &["--mem-queue-size=0"]);
    create_channel(&nsqd, "big", "c");
    // Big first (the start of the file), then big ones after small ones
    // that end exactly where a chunk read ends.
    let sizes = [100_000, 10, 70_000, 65_536 - 30 - 4, 200_000, 1];
    let bodies: Vec<Vec<u8>> = sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| vec![b'a' + i as u8; n])
        .collect();
    let mut p = nsqd.connect();
    for b in &bodies {
        p.send(Request::Pub("big", b));
        p.expect_response("OK");
    }
    wait_for_value("all on disk", WAIT, Some((6, 6)), || {
        depths(&nsqd, "big", Some("c"))
    });
    let got = consume(&nsqd, "big", "c", bodies.len());
    let got: Vec<Vec<u8>> = got.into_iter().map(|m| m.body.to_vec()).collect();
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), sizes.to_vec());
    assert_eq!(got, bodies);
    assert!(
        !list(dir.path()).iter().any(|f| f.ends_with(".bad")),
        "{:?}",
        list(dir.path())
    );
}

/// A reader that cannot open the next data file for lack of descriptors (a
/// connection flood to the fd limit) tries again: such errors say nothing
/// about the file, which is not taken for corrupt (renamed `.bad`, its
/// messages dropped).
#[test]
fn a_read_without_a_descriptor_left_is_retried_not_taken_for_corruption() {
    let nsqd = Nsqd::start_with_fd_limit(96, &["--mem-queue-size=0", "--max-bytes-per-file=4096"]);
    create_channel(&nsqd, "fd", "c");
    let mut p = nsqd.connect();
    let bodies: Vec<String> = (0..60)
        .map(|i| format!("{i:03}{}", "x".repeat(500)))
        .collect();
    for b in &bodies {
        p.send(Request::Pub("fd", b.as_bytes()));
        p.expect_response("OK");
    }
    let mut c = nsqd.connect();
    c.subscribe("fd", "c");
    // Every descriptor nsqd may open, taken by connections.
    let mut flood = Vec::new();
    let deadline = Instant::now() + WAIT;
    while !nsqd.log().contains("Too many open files") {
        assert!(
            Instant::now() < deadline,
            "nsqd never ran out of descriptors"
        );
        for _ in 0..20 {
            if let Ok(s) = TcpStream::connect_timeout(&nsqd.tcp, Duration::from_millis(200)) {
                flood.push(s);
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    // Now the channel reads its backlog: the first data file cannot be opened.
    c.send(Request::Rdy(100));
    std::thread::sleep(Duration::from_millis(500));
    drop(flood);
    let mut seen = HashSet::new();
    while seen.len() < bodies.len() {
        match c.try_next_within(WAIT) {
            Some(Some(Got::Message(m))) => {
                seen.insert(body_str(&m.body));
                c.send(Request::Fin(m.id()));
            }
            other => panic!(
                "{} of {} delivered, then {other:?}; files: {:?}",
                seen.len(),
                bodies.len(),
                list(&nsqd.data_dir)
            ),
        }
    }
    assert!(
        !list(&nsqd.data_dir).iter().any(|f| f.ends_with(".bad")),
        "{:?}",
        list(&nsqd.data_dir)
    );
}

/// Fill the file system of `dir` with `dir/filler` (removed by the caller).
fn fill_disk(dir: &Path) {
    let mut f = std::fs::File::create(dir.join("filler")).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    while f.write(&chunk).is_ok_and(|n| n > 0) {}
    while f.write(&[0]).is_ok_and(|n| n > 0) {}
}

/// With group commit a paused topic keeps its acknowledged messages on
/// disk; when it is unpaused while the disk is full, the channels' copies
/// cannot be written: the topic must not move its read position past them.
/// (Found while building nsq-chaos's full-disk fault: the channels dropped
/// the batch whose write failed and the topic read on, so all 20 were
/// lost.) The channel keeps and retries it; the topic waits.
#[test]
fn a_paused_topic_unpaused_on_a_full_disk_loses_no_acknowledged_message() {
    let Some(mnt) = Tmpfs::mount_or_skip("4m") else {
        return;
    };
    let d = mnt.0.clone();
    let nsqd = start_on_with(&d, &["--sync-every=1", "--mem-queue-size=0"]);
    post(&nsqd, "/topic/create?topic=pf");
    post(&nsqd, "/channel/create?topic=pf&channel=c");
    post(&nsqd, "/topic/pause?topic=pf");
    let body = |i: usize| {
        let mut b = format!("pauf{i:04}-").into_bytes();
        b.resize(16 * 1024, b'p');
        b
    };
    for i in 0..20 {
        pub_once(nsqd.tcp, "pf", &body(i)).unwrap();
    }
    fill_disk(&d);
    post(&nsqd, "/topic/unpause?topic=pf");
    std::thread::sleep(Duration::from_secs(1));
    let _ = std::fs::remove_file(d.join("filler"));
    let mut c = nsqd.connect();
    c.subscribe("pf", "c");
    c.send(Request::Rdy(50));
    let mut got = HashSet::new();
    while got.len() < 20 {
        match c.try_next_within(WAIT) {
            Some(Some(Got::Message(m))) => {
                c.send(Request::Fin(m.id()));
                got.insert(body_index(&m.body));
            }
            other => panic!("{} of 20 delivered, then {other:?}", got.len()),
        }
    }
    drop(c);
    drop(nsqd);
    drop(mnt);
}

/// Found by nsq-chaos (`--sync`, seed 410256861): messages a disk queue
/// was reading back when SIGTERM came were handed to channels that had
/// already written out their memory for the exit, past the read position
/// then persisted, and were gone after the restart. A paused topic's
/// backlog, unpaused just before the SIGTERM, keeps the topic reading back
/// at that moment.
#[test]
fn sigterm_while_a_topic_reads_its_backlog_back_loses_nothing() {
    let dir = TempDir::new();
    let d = dir.path();
    let flags = ["--mem-queue-size=0"];
    let mut nsqd = start_on_with(d, &flags);
    post(&nsqd, "/topic/create?topic=back");
    post(&nsqd, "/channel/create?topic=back&channel=c");
    post(&nsqd, "/topic/pause?topic=back");
    const N: usize = 20_000;
    let body = |i: usize| {
        let mut b = format!("back{i:05}-").into_bytes();
        b.resize(1024, b'b');
        b
    };
    let mut p = nsqd.connect();
    for start in (0..N).step_by(500) {
        let bodies: Vec<Vec<u8>> = (start..start + 500).map(body).collect();
        let refs: Vec<&[u8]> = bodies.iter().map(Vec::as_slice).collect();
        p.send(Request::Mpub("back", &refs));
        p.expect_response("OK");
    }
    drop(p);
    post(&nsqd, "/topic/unpause?topic=back");
    assert!(nsqd.terminate().is_some_and(|s| s.success()));
    drop(nsqd);

    let nsqd = start_on_with(d, &flags);
    let mut c = nsqd.connect();
    c.subscribe("back", "c");
    c.send(Request::Rdy(2500));
    let mut got = HashSet::new();
    while got.len() < N {
        match c.try_next_within(WAIT) {
            Some(Some(Got::Message(m))) => {
                c.send(Request::Fin(m.id()));
                got.insert(body_str(&m.body[4..9]));
            }
            other => panic!(
                "{} of {N} back after the restart, then {other:?}",
                got.len()
            ),
        }
    }
}

/// Found by nsq-chaos (`--sync --faults=kill`, seed 21): a SIGKILL between
/// a data write and its metadata leaves records past the persisted write
/// position; at the restart the queue moves on to a new file and reads
/// them too (as Go does), so its depth counts fewer records than it reads.
/// The channel stopped reading when that count reached 0, and the newest
/// records stayed on disk undelivered. Whether there is more to read is a
/// matter of positions, not of the count.
#[test]
fn records_beyond_the_persisted_write_position_do_not_strand_later_ones() {
    let dir = TempDir::new();
    let d = dir.path();
    let flags = ["--mem-queue-size=0"];
    let mut nsqd = start_on_with(d, &flags);
    post(&nsqd, "/topic/create?topic=tail");
    post(&nsqd, "/channel/create?topic=tail&channel=c");
    let mut p = nsqd.connect();
    for i in 0..5 {
        p.send(Request::Pub("tail", format!("before{i}").as_bytes()));
        p.expect_response("OK");
    }
    drop(p);
    assert!(nsqd.terminate().is_some_and(|s| s.success()));
    drop(nsqd);
    // Three records written after the last metadata sync (a crash).
    let meta = read_meta(d, "tail:c").expect("metadata");
    assert_eq!((meta.depth, meta.write.0), (5, 0), "{meta:?}");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(data_path(d, "tail:c", 0))
        .unwrap();
    for i in 0..3 {
        f.write_all(&go_record(
            now_ns(),
            1,
            0xfeed_0000 + i,
            format!("unsynced{i}").as_bytes(),
        ))
        .unwrap();
    }
    drop(f);

    let nsqd = start_on_with(d, &flags);
    let mut p = nsqd.connect();
    for i in 0..5 {
        p.send(Request::Pub("tail", format!("after{i}").as_bytes()));
        p.expect_response("OK");
    }
    // One at a time, so every read-back is gated anew.
    let want = (0..5)
        .flat_map(|i| [format!("before{i}"), format!("after{i}")])
        .collect();
    receive_one_at_a_time(&nsqd, "tail", want);
}

/// Subscribe to `topic`'s channel `c` with RDY 1 and FIN every message
/// until each body in `want` has arrived; the consumer, still connected.
fn receive_one_at_a_time(nsqd: &Nsqd, topic: &str, mut want: HashSet<String>) -> Client {
    let mut c = nsqd.connect();
    c.subscribe(topic, "c");
    c.send(Request::Rdy(1));
    while !want.is_empty() {
        match c.try_next_within(Duration::from_secs(4)) {
            Some(Some(Got::Message(m))) => {
                want.remove(&body_str(&m.body));
                c.send(Request::Fin(m.id()));
            }
            other => panic!("still missing {want:?}, then {other:?}"),
        }
    }
    c
}

/// Found by nsq-chaos (`--sync --faults=kill`): every SIGKILL while a
/// queue's deferrals file was being replaced left its `.tmp` behind, and
/// they piled up in the data directory. Opening the queue removes them, as
/// it removes its metadata's.
#[test]
fn left_over_temporary_files_of_a_queue_are_removed_when_it_opens() {
    let dir = TempDir::new();
    let d = dir.path();
    let mut nsqd = start_on(d);
    post(&nsqd, "/topic/create?topic=tmpf");
    post(&nsqd, "/channel/create?topic=tmpf&channel=c");
    assert!(nsqd.terminate().is_some_and(|s| s.success()));
    drop(nsqd);
    let stale = [
        "tmpf:c.deferred.dat.123456.tmp",
        "tmpf:c.diskqueue.meta.dat.42.tmp",
        "tmpf.diskqueue.meta.dat.7.tmp",
    ];
    for f in stale {
        std::fs::write(d.join(f), b"half written").unwrap();
    }
    // Not ours: stays.
    std::fs::write(d.join("tmpf:c.deferred.dat.notanumber.tmp"), b"x").unwrap();
    let _nsqd = start_on(d);
    wait_for_value("stale .tmp files removed", WAIT, true, || {
        let files = list(d);
        stale.iter().all(|f| !files.contains(&f.to_string()))
    });
    assert!(list(d).contains(&"tmpf:c.deferred.dat.notanumber.tmp".to_string()));
}
