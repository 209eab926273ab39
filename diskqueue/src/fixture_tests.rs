//! Against a data directory written by Go nsqd 1.3.0 (read only).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use crate::format::{self, decode_record, encode_record, parse_meta, Meta, RecordLimits};
use crate::state::{Config, Effect, ReadStep, State};
use nsq_protocol::{Decoded, MessageHeader};
use nsq_test_support::fixtures;
use serde_json::Value;
use std::collections::BTreeMap;

/// The fixture was written with `--max-bytes-per-file=65536`.
const MAX_BYTES_PER_FILE: u64 = 65536;

fn config() -> Config {
    Config {
        max_bytes_per_file: MAX_BYTES_PER_FILE,
        limits: RecordLimits::nsqd(1024 * 1024),
        sync_every: 1,
    }
}

fn manifest() -> Value {
    fixtures::go_nsqd_manifest()
}

fn read_data(name: &str) -> Option<Vec<u8>> {
    std::fs::read(fixtures::go_nsqd_data().join(name)).ok()
}

/// Data files of `queue` present in the fixture, by number.
fn data_files(queue: &str) -> BTreeMap<u64, Vec<u8>> {
    let mut files = BTreeMap::new();
    for entry in std::fs::read_dir(fixtures::go_nsqd_data()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if let Some((q, n)) = format::parse_data_file_name(&name) {
            if q == queue {
                files.insert(n, read_data(&name).unwrap());
            }
        }
    }
    files
}

/// Decode the manifest's base64 (shared with the I/O layer's tests).
pub(crate) fn base64(text: &str) -> Vec<u8> {
    nsq_protocol::base64::decode(text).expect("the manifest's base64")
}

/// The manifest's records of `queue` as nsqd payloads (shared with the
/// I/O layer's tests).
pub(crate) fn manifest_payloads(m: &Value, queue: &str) -> Vec<Vec<u8>> {
    m["queues"][queue]["records_in_read_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut payload = Vec::new();
            MessageHeader {
                timestamp: r["timestamp_ns"].as_i64().unwrap(),
                attempts: u16::try_from(r["attempts"].as_u64().unwrap()).unwrap(),
                id: nsq_protocol::MessageId::from_hex(r["id"].as_str().unwrap().as_bytes())
                    .unwrap(),
            }
            .encode(&mut payload);
            payload.extend_from_slice(&base64(r["body_b64"].as_str().unwrap()));
            payload
        })
        .collect()
}

fn queue_meta(queue: &str) -> Meta {
    parse_meta(&read_data(&format::meta_file_name(queue)).unwrap()).unwrap()
}

fn queues(m: &Value) -> Vec<String> {
    m["queues"].as_object().unwrap().keys().cloned().collect()
}

#[test]
fn meta_files_match_the_manifest() {
    let m = manifest();
    let names = queues(&m);
    assert_eq!(
        names,
        [
            "fixture",
            "fixture:c1",
            "fixture:c2",
            "fixture:paused",
            "lonely"
        ]
    );
    for queue in &names {
        let text = read_data(&format::meta_file_name(queue)).unwrap();
        assert_eq!(
            text,
            m["queues"][queue]["meta_file_text"]
                .as_str()
                .unwrap()
                .as_bytes(),
            "{queue}"
        );
        let meta = parse_meta(&text).unwrap();
        assert_eq!(
            meta.depth,
            m["queues"][queue]["depth"].as_i64().unwrap(),
            "{queue}"
        );
        assert_eq!(format::encode_meta(&meta).as_bytes(), text, "{queue}");
    }
    assert_eq!(
        queue_meta("fixture:c1"),
        Meta {
            depth: 600,
            read_file_num: 0,
            read_pos: 0,
            write_file_num: 9,
            write_pos: 35161
        }
    );
}

/// Drive the state machine over the fixture's files the way the I/O
/// layer will (without deleting anything): the payloads in read order
/// and the effects.
fn read_queue(queue: &str) -> (Vec<Vec<u8>>, Vec<Effect>, State) {
    let files = data_files(queue);
    let meta = queue_meta(queue);
    let write_size = files
        .get(&(meta.write_file_num as u64))
        .map(|f| f.len() as u64);
    let (mut state, mut effects) = State::open(config(), &meta, write_size).unwrap();
    let mut payloads = Vec::new();
    loop {
        match state.next_read() {
            ReadStep::Idle => break,
            ReadStep::NeedFileSize { file_num } => {
                assert!(state.set_read_file_end(file_num, files[&file_num].len() as u64));
            }
            ReadStep::EndOfFile { .. } => effects.extend(state.end_of_file()),
            ReadStep::Read(at) => {
                let bytes = &files[&at.file_num][at.pos as usize..at.end as usize];
                match decode_record(bytes, &config().limits).unwrap() {
                    Decoded::Complete { value, consumed } => {
                        payloads.push(value.to_vec());
                        let fx = state.finish_read(at, consumed as u64).unwrap();
                        for e in &fx {
                            if let Effect::Delete(n) = e {
                                // Only a file read to its very end.
                                assert_eq!(*n, at.file_num);
                                assert_eq!(at.pos + consumed as u64, files[n].len() as u64);
                            }
                        }
                        effects.extend(fx);
                    }
                    Decoded::Incomplete => panic!("{queue}: truncated record at {at:?}"),
                }
            }
        }
    }
    (payloads, effects, state)
}

#[test]
fn records_in_read_order_match_the_manifest() {
    let m = manifest();
    for queue in queues(&m) {
        let want = &m["queues"][&queue]["records_in_read_order"];
        let (payloads, effects, state) = read_queue(&queue);
        assert_eq!(payloads.len(), want.as_array().unwrap().len(), "{queue}");
        assert_eq!(
            payloads.len() as i64,
            queue_meta(&queue).depth,
            "{queue}: depth = records"
        );
        for (payload, r) in payloads.iter().zip(want.as_array().unwrap()) {
            let (header, body) = MessageHeader::decode(payload).unwrap();
            assert_eq!(header.id.to_string(), r["id"].as_str().unwrap());
            assert_eq!(header.timestamp, r["timestamp_ns"].as_i64().unwrap());
            assert_eq!(u64::from(header.attempts), r["attempts"].as_u64().unwrap());
            assert_eq!(body, base64(r["body_b64"].as_str().unwrap()));
        }
        assert_eq!(payloads, manifest_payloads(&m, &queue), "{queue}");
        // Every file but the write file is deleted once read; no repairs.
        let meta = queue_meta(&queue);
        let deleted: Vec<u64> = effects
            .iter()
            .map(|e| match e {
                Effect::Delete(n) => *n,
                other => panic!("{queue}: unexpected {other:?}"),
            })
            .collect();
        let want_deleted: Vec<u64> =
            (meta.read_file_num as u64..meta.write_file_num as u64).collect();
        assert_eq!(deleted, want_deleted, "{queue}");
        assert_eq!(state.depth(), 0);
        assert_eq!(state.read_position(), state.write_position());
    }
}

#[test]
fn our_writer_reproduces_gos_files_byte_for_byte() {
    let m = manifest();
    for queue in ["fixture:c1", "fixture:c2", "fixture:paused", "lonely"] {
        let meta = queue_meta(queue);
        assert_eq!(
            (meta.read_file_num, meta.read_pos),
            (0, 0),
            "written from the start, never read"
        );
        let mut state = State::new(config());
        let mut written: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
        let mut rolls = 0;
        for payload in manifest_payloads(&m, queue) {
            let plan = state.begin_append(payload.len()).unwrap();
            rolls += usize::from(plan.roll.is_some());
            let file = written.entry(plan.at.file_num).or_default();
            assert_eq!(file.len() as u64, plan.at.pos);
            file.extend_from_slice(&plan.prefix);
            file.extend_from_slice(&payload);
            state.commit_append(&plan).unwrap();
        }
        let go = data_files(queue);
        assert_eq!(
            written.keys().collect::<Vec<_>>(),
            go.keys().collect::<Vec<_>>(),
            "{queue}"
        );
        for (n, bytes) in &written {
            assert!(bytes == &go[n], "{queue}: file {n} differs from Go's");
        }
        assert_eq!(rolls, go.len() - 1);
        assert_eq!(
            state.meta(),
            meta,
            "{queue}: same positions and depth as Go's metadata"
        );
    }
}

#[test]
fn every_file_re_encodes_to_its_bytes() {
    let m = manifest();
    let c1_ids: Vec<String> = m["queues"]["fixture:c1"]["records_in_read_order"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_owned())
        .collect();
    for queue in queues(&m) {
        for (n, bytes) in data_files(&queue) {
            let (mut rest, mut again, mut ids) = (&bytes[..], Vec::new(), Vec::new());
            while !rest.is_empty() {
                let Decoded::Complete { value, consumed } =
                    decode_record(rest, &config().limits).unwrap()
                else {
                    panic!("{queue} file {n}: truncated");
                };
                encode_record(value, &config().limits, &mut again).unwrap();
                ids.push(MessageHeader::decode(value).unwrap().0.id.to_string());
                rest = &rest[consumed..];
            }
            assert!(again == bytes, "{queue} file {n}");
            assert!(bytes.len() as u64 <= MAX_BYTES_PER_FILE);
            if queue == "fixture" {
                // The topic's last file, fully read: its messages went
                // on to the channels.
                assert!(ids.iter().all(|id| c1_ids.contains(id)));
            }
        }
    }
}
