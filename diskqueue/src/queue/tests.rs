//! Tests of [`super`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use super::*;
use crate::format;
use crate::state::Warning;
use nsq_protocol::MessageHeader;
use serde_json::Value;
use std::collections::BTreeMap;
use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Run `f` on a fresh glommio executor.
fn run<F, Fut>(f: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + 'static,
{
    glommio::LocalExecutorBuilder::default()
        .io_memory(256 * 1024)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let path = std::env::temp_dir().join(format!(
            "nsq-diskqueue-{tag}-{}-{}-{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).unwrap();
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn cfg(max_bytes_per_file: u64) -> QueueConfig {
    QueueConfig {
        max_bytes_per_file,
        min_msg_size: 8,
        max_msg_size: 1000,
        sync_every: 10_000,
        sync_timeout: Duration::from_secs(2),
    }
}

/// A payload of `len` (≥ 8) bytes starting with `id`.
fn record(id: u32, len: usize) -> Vec<u8> {
    let mut v = id.to_be_bytes().to_vec();
    v.resize(len, (id % 251) as u8);
    v
}

fn id_of(payload: &[u8]) -> u32 {
    u32::from_be_bytes(payload[..4].try_into().unwrap())
}

async fn open(dir: &Path, name: &str, cfg: QueueConfig) -> DiskQueue {
    DiskQueue::open(dir, name, cfg).await.unwrap()
}

async fn put_ids(q: &mut DiskQueue, ids: std::ops::Range<u32>, len: usize) {
    for id in ids {
        q.put(&record(id, len)).await.unwrap();
    }
}

async fn read_n(q: &mut DiskQueue, n: usize) -> Vec<u32> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let p = q.peek().await.unwrap().expect("a record");
        ids.push(id_of(&p));
        q.advance().await.unwrap();
    }
    ids
}

async fn drain(q: &mut DiskQueue) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some(p) = q.peek().await.unwrap() {
        out.push(p.to_vec());
        q.advance().await.unwrap();
    }
    out
}

fn ids(payloads: &[Vec<u8>]) -> Vec<u32> {
    payloads.iter().map(|p| id_of(p)).collect()
}

/// Data files of `name` in `dir`, by number.
fn data_files(dir: &Path, name: &str) -> BTreeMap<u64, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let file_name = entry.unwrap().file_name().into_string().unwrap();
        if let Some((q, n)) = format::parse_data_file_name(&file_name) {
            if q == name {
                files.insert(n, std::fs::read(dir.join(&file_name)).unwrap());
            }
        }
    }
    files
}

fn names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect()
}

fn meta_text(dir: &Path, name: &str) -> Option<String> {
    std::fs::read_to_string(dir.join(format::meta_file_name(name))).ok()
}

#[test]
fn round_trip_across_rolls() {
    run(|| async {
        let tmp = TempDir::new("roundtrip");
        let mut q = open(&tmp.0, "t", cfg(200)).await;
        let len = |id: u32| 8 + (id as usize * 7) % 53;
        for id in 0..20 {
            q.put(&record(id, len(id))).await.unwrap();
        }
        let batch: Vec<Vec<u8>> = (20..60).map(|id| record(id, len(id))).collect();
        let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
        q.put_many(&refs).await.unwrap();
        for chunk in (60..100).collect::<Vec<u32>>().chunks(7) {
            let batch: Vec<Vec<u8>> = chunk.iter().map(|&id| record(id, len(id))).collect();
            let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
            q.put_many(&refs).await.unwrap();
        }
        assert_eq!(q.depth(), 100);
        let files = data_files(&tmp.0, "t");
        assert!(files.len() > 10, "rolled: {} files", files.len());
        for (n, bytes) in &files {
            assert!(bytes.len() <= 200, "file {n}: {}", bytes.len());
        }

        // Lengths outside the limits: refused, nothing written.
        let err = q.put(&[0; 7]).await.unwrap_err();
        assert!(
            matches!(err, QueueError::RecordSize { index: 0, .. }),
            "{err}"
        );
        let big = vec![0; 1001];
        let err = q.put_many(&[&record(999, 8), &big]).await.unwrap_err();
        assert!(
            matches!(err, QueueError::RecordSize { index: 1, .. }),
            "{err}"
        );
        assert_eq!(q.depth(), 100);

        // Peek is stable until advance.
        let mut got = Vec::new();
        for _ in 0..50 {
            let a = q.peek().await.unwrap().unwrap();
            let b = q.peek().await.unwrap().unwrap();
            assert_eq!(a, b);
            assert_eq!(a.len(), len(id_of(&a)));
            got.push(id_of(&a));
            q.advance().await.unwrap();
        }
        put_ids(&mut q, 100..120, 40).await;
        assert_eq!(q.depth(), 70);
        got.extend(ids(&drain(&mut q).await));
        assert_eq!(got, (0..120).collect::<Vec<_>>());
        assert_eq!(q.depth(), 0);
        assert!(q.peek().await.unwrap().is_none());
        assert!(matches!(q.advance().await, Err(QueueError::NotPeeked)));
        // The reader keeps up with the writer.
        for id in 120..130 {
            q.put(&record(id, 50)).await.unwrap();
            assert_eq!(read_n(&mut q, 1).await, [id]);
        }
        let (events, dropped) = q.take_events();
        assert!(events.is_empty(), "{events:?}");
        assert_eq!(dropped, 0);
        q.close().await.unwrap();
    });
}

#[test]
fn close_and_reopen_keeps_depth_and_order() {
    run(|| async {
        let tmp = TempDir::new("reopen");
        let mut q = open(&tmp.0, "t:c", cfg(300)).await;
        put_ids(&mut q, 0..50, 30).await;
        assert_eq!(read_n(&mut q, 10).await, (0..10).collect::<Vec<_>>());
        // Peeked but not taken: still there after the restart.
        assert_eq!(id_of(&q.peek().await.unwrap().unwrap()), 10);
        let meta = q.meta();
        q.close().await.unwrap();
        assert_eq!(
            meta_text(&tmp.0, "t:c").unwrap(),
            format::encode_meta(&meta)
        );
        assert_eq!(meta.depth, 40);

        let mut q = open(&tmp.0, "t:c", cfg(300)).await;
        assert_eq!(q.depth(), 40);
        assert_eq!(q.meta(), meta);
        assert_eq!(read_n(&mut q, 5).await, (10..15).collect::<Vec<_>>());
        put_ids(&mut q, 50..55, 30).await;
        q.close().await.unwrap();

        let mut q = open(&tmp.0, "t:c", cfg(300)).await;
        assert_eq!(q.depth(), 40);
        assert_eq!(ids(&drain(&mut q).await), (15..55).collect::<Vec<_>>());
        assert!(q.take_events().0.is_empty());
        q.close().await.unwrap();
        assert!(names(&tmp.0).iter().all(|n| !n.ends_with(".tmp")));
    });
}

#[test]
fn files_read_to_the_end_are_deleted() {
    run(|| async {
        let tmp = TempDir::new("delete-read");
        // 34 bytes a record: two a file.
        let mut q = open(&tmp.0, "t", cfg(100)).await;
        put_ids(&mut q, 0..10, 30).await;
        let keys = |tmp: &TempDir| data_files(&tmp.0, "t").into_keys().collect::<Vec<_>>();
        assert_eq!(keys(&tmp), [0, 1, 2, 3, 4]);
        assert_eq!(read_n(&mut q, 1).await, [0]);
        assert_eq!(keys(&tmp), [0, 1, 2, 3, 4]);
        assert_eq!(read_n(&mut q, 1).await, [1]);
        assert_eq!(keys(&tmp), [1, 2, 3, 4]);
        // Moving to a new read file synced the metadata.
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "8\n1,0\n4,68\n");
        assert_eq!(ids(&drain(&mut q).await), (2..10).collect::<Vec<_>>());
        assert_eq!(keys(&tmp), [4], "the write file stays");
        q.close().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "0\n4,68\n4,68\n");
    });
}

#[test]
fn empty_and_delete_remove_the_files() {
    run(|| async {
        let tmp = TempDir::new("empty");
        let mut other = open(&tmp.0, "t:c", cfg(100)).await;
        put_ids(&mut other, 0..5, 30).await;
        let mut q = open(&tmp.0, "t", cfg(100)).await;
        put_ids(&mut q, 0..10, 30).await;
        assert_eq!(read_n(&mut q, 3).await, [0, 1, 2]);
        q.peek().await.unwrap().unwrap();
        q.empty().await.unwrap();
        assert!(data_files(&tmp.0, "t").is_empty());
        assert_eq!(q.depth(), 0);
        assert!(q.peek().await.unwrap().is_none());
        assert!(matches!(q.advance().await, Err(QueueError::NotPeeked)));
        // The metadata is rewritten at once, at a new file.
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "0\n5,0\n5,0\n");
        put_ids(&mut q, 10..13, 30).await;
        assert_eq!(ids(&drain(&mut q).await), [10, 11, 12]);
        put_ids(&mut q, 13..20, 30).await;
        q.delete().await.unwrap();
        assert!(data_files(&tmp.0, "t").is_empty());
        assert_eq!(meta_text(&tmp.0, "t"), None);
        // The other queue is untouched.
        assert_eq!(data_files(&tmp.0, "t:c").len(), 3);
        assert_eq!(ids(&drain(&mut other).await), (0..5).collect::<Vec<_>>());
        other.close().await.unwrap();
        // A deleted queue reopens empty.
        let mut q = open(&tmp.0, "t", cfg(100)).await;
        assert_eq!((q.depth(), q.meta()), (0, Meta::default()));
        assert!(q.peek().await.unwrap().is_none());
        q.delete().await.unwrap();
    });
}

#[test]
fn a_corrupt_file_is_renamed_bad_and_reading_goes_on() {
    run(|| async {
        let tmp = TempDir::new("corrupt");
        let mut q = open(&tmp.0, "t", cfg(100)).await;
        put_ids(&mut q, 0..8, 30).await;
        q.close().await.unwrap();
        let path = |n: u64| tmp.0.join(format::data_file_name("t", n));
        // File 1: the second record's length is garbage.
        let mut f1 = std::fs::read(path(1)).unwrap();
        f1[34..38].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        std::fs::write(path(1), f1).unwrap();
        // File 2: ends in the middle of its second record.
        let mut f2 = std::fs::read(path(2)).unwrap();
        f2.truncate(50);
        std::fs::write(path(2), f2).unwrap();

        let mut q = open(&tmp.0, "t", cfg(100)).await;
        assert_eq!(q.depth(), 8);
        assert_eq!(ids(&drain(&mut q).await), [0, 1, 2, 4, 6, 7]);
        assert_eq!(q.depth(), 0, "corrected at the tail");
        let (events, _) = q.take_events();
        let corrupt: Vec<(u64, u64)> = events
            .iter()
            .filter_map(|e| match e {
                QueueEvent::Corrupt { file_num, pos, .. } => Some((*file_num, *pos)),
                _ => None,
            })
            .collect();
        assert_eq!(corrupt, [(1, 34), (2, 34)], "{events:?}");
        assert!(matches!(
            &events[0],
            QueueEvent::Corrupt {
                reason: CorruptReason::BadLength(_),
                ..
            }
        ));
        assert!(events.iter().any(|e| matches!(
            e,
            QueueEvent::Corrupt {
                reason: CorruptReason::Truncated { end: 50 },
                ..
            }
        )));
        assert!(events
            .iter()
            .any(|e| matches!(e, QueueEvent::Repaired(Warning::DepthAtTail { depth: 2 }))));
        for e in &events {
            assert!(!e.to_string().is_empty());
        }
        let all = names(&tmp.0);
        for n in [1, 2] {
            assert!(all.contains(&format::bad_file_name("t", n)), "{all:?}");
            assert!(!all.contains(&format::data_file_name("t", n)));
        }
        assert_eq!(data_files(&tmp.0, "t").into_keys().collect::<Vec<_>>(), [3]);
        // Writing and reading go on.
        put_ids(&mut q, 8..10, 30).await;
        assert_eq!(ids(&drain(&mut q).await), [8, 9]);
        q.close().await.unwrap();
    });
}

#[test]
fn corruption_in_the_write_file_moves_the_writer_too() {
    run(|| async {
        let tmp = TempDir::new("corrupt-write");
        let mut q = open(&tmp.0, "t", cfg(1000)).await;
        put_ids(&mut q, 0..3, 30).await;
        // Garbage where the reader has not looked yet.
        let path = tmp.0.join(format::data_file_name("t", 0));
        let mut f0 = std::fs::read(&path).unwrap();
        f0[34..38].copy_from_slice(&[0, 0, 0, 1]);
        std::fs::write(&path, f0).unwrap();
        assert_eq!(ids(&drain(&mut q).await), [0]);
        assert!(names(&tmp.0).contains(&format::bad_file_name("t", 0)));
        put_ids(&mut q, 3..5, 30).await;
        assert_eq!(ids(&drain(&mut q).await), [3, 4]);
        assert_eq!(data_files(&tmp.0, "t").into_keys().collect::<Vec<_>>(), [1]);
        q.close().await.unwrap();
    });
}

/// Put `before` records, sync and keep that metadata; read a few, put
/// `after` more and sync; "crash" (drop without close) and put the old
/// metadata back. Reopening must give every record not taken, in
/// order, and write new ones without touching the old files.
fn crash_with_old_metadata(max_bytes_per_file: u64, before: u32, after: u32) {
    run(move || async move {
        let tmp = TempDir::new("crash");
        let cfg = cfg(max_bytes_per_file);
        let mut q = open(&tmp.0, "t", cfg).await;
        put_ids(&mut q, 0..before, 30).await;
        q.sync().await.unwrap();
        let old_meta = meta_text(&tmp.0, "t").unwrap();
        read_n(&mut q, 3).await;
        put_ids(&mut q, before..before + after, 30).await;
        q.sync().await.unwrap();
        drop(q);
        std::fs::write(tmp.0.join(format::meta_file_name("t")), &old_meta).unwrap();
        let old_files = data_files(&tmp.0, "t");

        let mut q = open(&tmp.0, "t", cfg).await;
        let (events, _) = q.take_events();
        assert!(
            events.iter().any(|e| matches!(
                e,
                QueueEvent::FilesPastWriter { .. }
                    | QueueEvent::Repaired(Warning::WriteFileLongerThanMeta { .. })
            )),
            "{events:?}"
        );
        let total = before + after;
        put_ids(&mut q, total..total + 5, 30).await;
        let now = data_files(&tmp.0, "t");
        for (n, bytes) in &old_files {
            assert!(&now[n] == bytes, "file {n} was written over");
        }
        assert!(now.len() > old_files.len());
        // The new writer position was persisted at once.
        let meta = format::parse_meta(meta_text(&tmp.0, "t").unwrap().as_bytes()).unwrap();
        assert!(meta.write_file_num as u64 > *old_files.keys().last().unwrap());
        // From the old read position on: the 3 records taken since
        // come again (if their file was not deleted), nothing is lost.
        let got = ids(&drain(&mut q).await);
        let first = *got.first().unwrap();
        assert!(first <= 3, "{got:?}");
        assert_eq!(got, (first..total + 5).collect::<Vec<_>>());
        if max_bytes_per_file > 1000 {
            assert_eq!(first, 0);
        }
        q.close().await.unwrap();
    });
}

#[test]
fn crash_with_metadata_older_than_the_write_file() {
    crash_with_old_metadata(10_000, 10, 10);
}

#[test]
fn crash_with_metadata_older_than_a_roll() {
    // Two records a file: the old metadata names file 1, files 2-5 exist.
    crash_with_old_metadata(100, 3, 8);
}

#[test]
fn data_files_without_metadata_are_salvaged() {
    run(|| async {
        let tmp = TempDir::new("no-meta");
        let mut q = open(&tmp.0, "t", cfg(100)).await;
        put_ids(&mut q, 0..6, 30).await;
        read_n(&mut q, 2).await; // file 0 deleted
        q.close().await.unwrap();
        std::fs::remove_file(tmp.0.join(format::meta_file_name("t"))).unwrap();
        std::fs::write(tmp.0.join(format::meta_tmp_file_name("t", 42)), "junk").unwrap();
        let mut q = open(&tmp.0, "t", cfg(100)).await;
        assert!(matches!(
            q.take_events().0.first(),
            Some(QueueEvent::FilesWithoutMeta {
                first_file: 1,
                last_file: 2
            })
        ));
        assert!(!names(&tmp.0).iter().any(|n| n.ends_with(".tmp")));
        put_ids(&mut q, 6..7, 30).await;
        assert_eq!(ids(&drain(&mut q).await), [2, 3, 4, 5, 6]);
        q.close().await.unwrap();
    });
}

#[test]
fn sync_every_and_sync_timeout() {
    run(|| async {
        let tmp = TempDir::new("sync");
        let mut q = open(
            &tmp.0,
            "t",
            QueueConfig {
                sync_every: 3,
                sync_timeout: Duration::from_millis(300),
                ..cfg(10_000)
            },
        )
        .await;
        assert_eq!(meta_text(&tmp.0, "t"), None, "nothing to persist yet");
        put_ids(&mut q, 0..2, 30).await;
        assert_eq!(meta_text(&tmp.0, "t"), None);
        read_n(&mut q, 1).await; // third operation
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "1\n0,34\n0,68\n");
        put_ids(&mut q, 2..3, 30).await;
        q.maybe_sync().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "1\n0,34\n0,68\n");
        assert!(q.sync_deadline() > Instant::now());
        glommio::timer::sleep(Duration::from_millis(350)).await;
        q.maybe_sync().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "2\n0,34\n0,102\n");
        // No activity: the timer does not sync again.
        std::fs::remove_file(tmp.0.join(format::meta_file_name("t"))).unwrap();
        glommio::timer::sleep(Duration::from_millis(350)).await;
        q.maybe_sync().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t"), None);
        q.close().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "2\n0,34\n0,102\n");
    });
}

#[test]
fn a_due_sync_runs_behind_the_writer_and_persists_what_was_written_before_it() {
    run(|| async {
        let tmp = TempDir::new("behind");
        let mut q = open(
            &tmp.0,
            "t",
            QueueConfig {
                sync_every: 3,
                ..cfg(10_000)
            },
        )
        .await;
        // The third write makes a sync due: put_many returns while it runs,
        // and the metadata it persists names the three records only.
        let three: Vec<Vec<u8>> = (0..3).map(|id| record(id, 30)).collect();
        let refs: Vec<&[u8]> = three.iter().map(Vec::as_slice).collect();
        q.put_many(&refs).await.unwrap();
        put_ids(&mut q, 3..5, 30).await;
        // One sync at a time: a sync finishes the one behind first.
        q.sync().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "5\n0,0\n0,170\n");
        // Many due syncs in a row, then a clean close: nothing is lost.
        for id in 5..50 {
            q.put(&record(id, 30)).await.unwrap();
        }
        q.close().await.unwrap();
        assert_eq!(meta_text(&tmp.0, "t").unwrap(), "50\n0,0\n0,1700\n");
        let mut q = open(&tmp.0, "t", cfg(10_000)).await;
        assert_eq!(ids(&drain(&mut q).await), (0..50).collect::<Vec<_>>());
        q.close().await.unwrap();
    });
}

#[test]
fn the_sync_behind_the_writer_finishes_before_a_roll() {
    run(|| async {
        let tmp = TempDir::new("behind-roll");
        // 34-byte records, three per file, a sync due every 2 writes.
        let mut q = open(
            &tmp.0,
            "t",
            QueueConfig {
                sync_every: 2,
                ..cfg(102)
            },
        )
        .await;
        put_ids(&mut q, 0..21, 30).await;
        // Killed here (no close), once the sync started by the last put
        // is done (the roll's sync counted id 18 as before it, so id 20 is
        // the second operation after it): its metadata names every record,
        // all in the files.
        q.finish_sync_behind().await;
        assert!(q.behind.is_none());
        let meta = meta_text(&tmp.0, "t").unwrap();
        drop(q);
        let written: usize = data_files(&tmp.0, "t").values().map(Vec::len).sum();
        assert_eq!(written, 21 * 34);
        assert_eq!(meta, "21\n0,0\n6,102\n");
        let mut q = open(&tmp.0, "t", cfg(102)).await;
        let got = ids(&drain(&mut q).await);
        assert_eq!(got, (0..21).collect::<Vec<_>>(), "{meta}");
        q.close().await.unwrap();
    });
}

// ----- the Go nsqd 1.3.0 fixture ------------------------------------

fn manifest() -> Value {
    nsq_test_support::fixtures::go_nsqd_manifest()
}

/// `--max-bytes-per-file=65536`, default `--max-msg-size`.
fn fixture_config() -> QueueConfig {
    QueueConfig::nsqd(65536, 1024 * 1024, 2500, Duration::from_secs(2))
}

use crate::fixture_tests::{base64, manifest_payloads};

fn manifest_records<'a>(m: &'a Value, queue: &str) -> &'a Vec<Value> {
    m["queues"][queue]["records_in_read_order"]
        .as_array()
        .unwrap()
}

#[test]
fn reads_every_record_of_go_nsqds_data_directory() {
    run(|| async {
        let m = manifest();
        let tmp = TempDir::new("fixture-read");
        nsq_test_support::fixtures::copy_go_nsqd_data(&tmp.0);
        let queues: Vec<String> = m["queues"].as_object().unwrap().keys().cloned().collect();
        assert!(queues.iter().any(|q| q == "fixture:c1"));
        for queue in &queues {
            let want = manifest_records(&m, queue);
            let mut q = DiskQueue::open(&tmp.0, queue, fixture_config())
                .await
                .unwrap();
            assert_eq!(
                q.depth(),
                m["queues"][queue]["depth"].as_u64().unwrap(),
                "{queue}"
            );
            let before = data_files(&tmp.0, queue);
            let got = drain(&mut q).await;
            assert_eq!(got.len(), want.len(), "{queue}");
            for (payload, r) in got.iter().zip(want) {
                let (header, body) = MessageHeader::decode(payload).unwrap();
                assert_eq!(header.id.to_string(), r["id"].as_str().unwrap());
                assert_eq!(header.timestamp, r["timestamp_ns"].as_i64().unwrap());
                assert_eq!(u64::from(header.attempts), r["attempts"].as_u64().unwrap());
                assert_eq!(body, base64(r["body_b64"].as_str().unwrap()));
            }
            assert_eq!(got, manifest_payloads(&m, queue), "{queue}");
            let (events, _) = q.take_events();
            assert!(events.is_empty(), "{queue}: {events:?}");
            let meta = q.meta();
            q.close().await.unwrap();
            // Every file but the write file was deleted once read.
            let last = *before.keys().last().unwrap();
            assert_eq!(
                data_files(&tmp.0, queue).into_keys().collect::<Vec<_>>(),
                [last],
                "{queue}"
            );
            let end = before[&last].len();
            assert_eq!(
                meta_text(&tmp.0, queue).unwrap(),
                format!("0\n{last},{end}\n{last},{end}\n"),
                "{queue}"
            );
            assert_eq!(meta.depth, 0);
        }
    });
}

#[test]
fn writes_the_same_files_as_go_nsqd() {
    run(|| async {
        let m = manifest();
        let go_dir = nsq_test_support::fixtures::go_nsqd_data();
        // One record a call, batches that straddle rolls, all at once.
        for (queue, batch) in [
            ("fixture:c1", 1),
            ("fixture:c2", 37),
            ("fixture:paused", 600),
            ("lonely", 3),
        ] {
            let tmp = TempDir::new("fixture-write");
            let mut q = DiskQueue::open(&tmp.0, queue, fixture_config())
                .await
                .unwrap();
            let payloads = manifest_payloads(&m, queue);
            for chunk in payloads.chunks(batch) {
                let refs: Vec<&[u8]> = chunk.iter().map(Vec::as_slice).collect();
                if batch == 1 {
                    q.put(refs[0]).await.unwrap();
                } else {
                    q.put_many(&refs).await.unwrap();
                }
            }
            q.close().await.unwrap();
            let ours = names(&tmp.0);
            let go: BTreeSet<String> = names(&go_dir)
                .into_iter()
                .filter(|n| {
                    n == &format::meta_file_name(queue)
                        || format::parse_data_file_name(n).is_some_and(|(q, _)| q == queue)
                })
                .collect();
            assert_eq!(ours, go, "{queue}: same files");
            for name in &ours {
                let path = tmp.0.join(name);
                assert!(
                    std::fs::read(&path).unwrap() == std::fs::read(go_dir.join(name)).unwrap(),
                    "{queue}: {name} differs from Go's"
                );
                let mode = std::fs::metadata(&path).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o600, "{name}");
            }
        }
    });
}

// ----- benchmark --------------------------------------------------------

/// `cargo test --release -p nsq-diskqueue --lib queue::tests::bench -- --ignored --nocapture`
#[test]
#[ignore = "benchmark"]
fn bench_put_many_then_peek_advance() {
    run(|| async {
        const N: u32 = 1_000_000;
        const BATCH: u32 = 100;
        let dir = std::env::var_os("NSQ_DISKQUEUE_BENCH_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(std::env::temp_dir);
        for (label, sync_every) in [("sync_every=2500", 2500), ("no count sync", u64::MAX)] {
            let tmp = TempDir::new("bench");
            let tmp = if dir == std::env::temp_dir() {
                tmp
            } else {
                drop(tmp);
                let t = TempDir(dir.join(format!("nsq-diskqueue-bench-{}", std::process::id())));
                std::fs::create_dir_all(&t.0).unwrap();
                t
            };
            let cfg = QueueConfig {
                sync_every,
                ..QueueConfig::nsqd(100 * 1024 * 1024, 1024 * 1024, 2500, Duration::from_secs(2))
            };
            let mut q = DiskQueue::open(&tmp.0, "bench", cfg).await.unwrap();
            let payloads: Vec<Vec<u8>> = (0..BATCH).map(|i| record(i, 200)).collect();
            let refs: Vec<&[u8]> = payloads.iter().map(Vec::as_slice).collect();

            let t = Instant::now();
            for _ in 0..N / BATCH {
                q.put_many(&refs).await.unwrap();
            }
            let put = t.elapsed();
            let t = Instant::now();
            let mut n = 0u32;
            let mut bytes = 0usize;
            while let Some(p) = q.peek().await.unwrap() {
                bytes += p.len();
                n += 1;
                q.advance().await.unwrap();
            }
            let read = t.elapsed();
            assert_eq!((n, bytes), (N, N as usize * 200));

            // Interleaved: the reader follows the writer.
            let t = Instant::now();
            for _ in 0..N / BATCH {
                q.put_many(&refs).await.unwrap();
                for _ in 0..BATCH {
                    q.peek().await.unwrap().unwrap();
                    q.advance().await.unwrap();
                }
            }
            let both = t.elapsed();
            q.close().await.unwrap();
            let rate = |d: Duration| f64::from(N) / d.as_secs_f64();
            println!(
                "diskqueue {label}: {N} x 200 B, put_many({BATCH}) {:.0} msg/s ({:.2?}), \
                 peek+advance {:.0} msg/s ({:.2?}), interleaved put_many+read {:.0} msg/s ({:.2?})",
                rate(put),
                put,
                rate(read),
                read,
                rate(both),
                both
            );
        }
    });
}
