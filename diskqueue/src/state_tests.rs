//! Tests of [`super`].
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
use super::*;
use crate::format::decode_record;
use nsq_protocol::Decoded;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap, VecDeque};

const LIMITS: RecordLimits = RecordLimits { min: 26, max: 200 };

fn cfg(max_bytes_per_file: u64, sync_every: u64) -> Config {
    Config {
        max_bytes_per_file,
        limits: LIMITS,
        sync_every,
    }
}

fn pos(file_num: u64, pos: u64) -> Position {
    Position { file_num, pos }
}

/// Append a 26-byte record (30 bytes on disk) and commit it.
fn put(s: &mut State) -> AppendPlan {
    let plan = s.begin_append(26).unwrap();
    s.commit_append(&plan).unwrap();
    plan
}

/// The read of bytes `pos..end` of file `file_num`.
fn span(file_num: u64, pos: u64, end: u64) -> ReadAt {
    ReadAt { file_num, pos, end }
}

fn read_at(s: &State) -> ReadAt {
    match s.next_read() {
        ReadStep::Read(at) => at,
        other => panic!("expected a read, got {other:?}"),
    }
}

#[test]
fn roll_happens_before_the_record_that_would_overflow() {
    let mut s = State::new(cfg(90, 100));
    for i in 0..3 {
        let plan = put(&mut s);
        assert_eq!((plan.roll, plan.at, plan.size), (None, pos(0, 30 * i), 30));
        assert_eq!(plan.prefix, [0, 0, 0, 26]);
    }
    // 90 + 30 > 90: the file is exactly full, the next record rolls.
    let plan = s.begin_append(26).unwrap();
    assert_eq!(
        plan.roll,
        Some(Roll {
            from: 0,
            to: 1,
            sync: true
        })
    );
    assert_eq!(plan.at, pos(1, 0));
    // What the roll's sync persists: the new file, the record not yet.
    assert_eq!(
        s.meta(),
        Meta {
            depth: 3,
            read_file_num: 0,
            read_pos: 0,
            write_file_num: 1,
            write_pos: 0
        }
    );
    s.commit_append(&plan).unwrap();
    assert_eq!((s.write_position(), s.depth()), (pos(1, 30), 4));
}

#[test]
fn a_record_larger_than_a_file_goes_alone() {
    let mut s = State::new(cfg(50, 100));
    let plan = s.begin_append(100).unwrap();
    assert_eq!((plan.roll, plan.at, plan.size), (None, pos(0, 0), 104));
    s.commit_append(&plan).unwrap();
    let plan = s.begin_append(26).unwrap();
    assert_eq!(plan.roll.map(|r| (r.from, r.to)), Some((0, 1)));
    s.commit_append(&plan).unwrap();
    let plan = s.begin_append(100).unwrap();
    assert_eq!(plan.at, pos(2, 0));
}

#[test]
fn sizes_outside_the_limits_are_refused() {
    let mut s = State::new(cfg(1000, 100));
    assert!(s.begin_append(25).is_err());
    assert!(s.begin_append(201).is_err());
    assert_eq!((s.write_position(), s.depth()), (pos(0, 0), 0));
    assert!(s.begin_append(200).is_ok());
}

#[test]
fn reading_a_finished_file_deletes_it_with_its_last_record() {
    let mut s = State::new(cfg(90, 100));
    for _ in 0..4 {
        put(&mut s);
    }
    // File 0 was the read file when it rolled: its end is known.
    let at = read_at(&s);
    assert_eq!(at, span(0, 0, 90));
    assert_eq!(s.finish_read(at, 30).unwrap(), vec![]);
    assert_eq!(s.finish_read(read_at(&s), 30).unwrap(), vec![]);
    let at = read_at(&s);
    assert_eq!(s.finish_read(at, 30).unwrap(), vec![Effect::Delete(0)]);
    assert!(s.sync_due());
    assert_eq!(s.read_position(), pos(1, 0));
    assert_eq!(read_at(&s), span(1, 0, 30));
    assert_eq!(s.finish_read(read_at(&s), 30).unwrap(), vec![]);
    assert_eq!((s.next_read(), s.depth()), (ReadStep::Idle, 0));
}

#[test]
fn reader_at_the_writer_when_it_rolls_moves_on_without_a_bad_file() {
    // go-diskqueue issue #42: Go renames file 0 to .bad here.
    let mut s = State::new(cfg(90, 100));
    for _ in 0..3 {
        put(&mut s);
        let at = read_at(&s);
        s.finish_read(at, 30).unwrap();
    }
    assert_eq!(s.next_read(), ReadStep::Idle);
    put(&mut s); // rolls
    assert_eq!(s.next_read(), ReadStep::EndOfFile { file_num: 0 });
    assert_eq!(s.end_of_file(), vec![Effect::Delete(0)]);
    assert_eq!(read_at(&s), span(1, 0, 30));
    assert_eq!(s.end_of_file(), vec![]);
}

#[test]
fn a_pre_read_record_survives_a_roll() {
    let mut s = State::new(cfg(90, 100));
    for _ in 0..3 {
        put(&mut s);
    }
    s.finish_read(read_at(&s), 30).unwrap();
    s.finish_read(read_at(&s), 30).unwrap();
    let held = read_at(&s); // the last record of file 0, not yet taken
    assert_eq!(held.end, 90);
    put(&mut s); // rolls while it is held
    assert_eq!(s.finish_read(held, 30).unwrap(), vec![Effect::Delete(0)]);
    assert_eq!(s.read_position(), pos(1, 0));
    assert_eq!(s.depth(), 1);
}

#[test]
fn stale_reads_and_plans_change_nothing() {
    let mut s = State::new(cfg(90, 100));
    put(&mut s);
    let at = read_at(&s);
    assert_eq!(s.finish_read(at, 31), Err(Stale)); // beyond end
    assert_eq!(s.finish_read(ReadAt { pos: 4, ..at }, 26), Err(Stale));
    let plan = s.begin_append(26).unwrap();
    s.empty();
    assert_eq!(s.finish_read(at, 30), Err(Stale));
    assert_eq!(s.commit_append(&plan), Err(Stale));
    assert_eq!(
        (s.read_position(), s.write_position(), s.depth()),
        (pos(1, 0), pos(1, 0), 0)
    );
}

#[test]
fn finished_file_of_unknown_size_is_asked_for() {
    let meta = Meta {
        depth: 2,
        read_file_num: 3,
        read_pos: 30,
        write_file_num: 4,
        write_pos: 30,
    };
    let (mut s, fx) = State::open(cfg(90, 100), &meta, Some(30)).unwrap();
    assert_eq!(fx, vec![]);
    assert!(!s.sync_due());
    assert_eq!(s.next_read(), ReadStep::NeedFileSize { file_num: 3 });
    assert!(!s.set_read_file_end(4, 60));
    assert!(s.set_read_file_end(3, 60)); // smaller than max-bytes-per-file
    let at = read_at(&s);
    assert_eq!(at, span(3, 30, 60));
    assert_eq!(s.finish_read(at, 30).unwrap(), vec![Effect::Delete(3)]);
    assert_eq!(read_at(&s), span(4, 0, 30));
    // An empty finished file.
    let (mut s, _) = State::open(cfg(90, 100), &meta, Some(30)).unwrap();
    s.set_read_file_end(3, 30);
    assert_eq!(s.next_read(), ReadStep::EndOfFile { file_num: 3 });
}

#[test]
fn open_skips_a_write_file_longer_than_the_metadata() {
    let meta = Meta {
        depth: 600,
        read_file_num: 0,
        read_pos: 0,
        write_file_num: 9,
        write_pos: 35161,
    };
    let (s, fx) = State::open(cfg(65536, 2500), &meta, Some(35161)).unwrap();
    assert_eq!((fx, s.meta()), (vec![], meta));
    let (s, fx) = State::open(cfg(65536, 2500), &meta, None).unwrap();
    assert_eq!((fx, s.meta()), (vec![], meta));
    let (s, fx) = State::open(cfg(65536, 2500), &meta, Some(35200)).unwrap();
    assert_eq!(
        fx,
        vec![Effect::Warn(Warning::WriteFileLongerThanMeta {
            file_num: 9,
            write_pos: 35161,
            file_size: 35200
        })]
    );
    assert_eq!((s.write_position(), s.depth()), (pos(10, 0), 600));
    assert!(s.sync_due());
    // The reader, at the old write file's start, salvages all of it.
    let meta = Meta {
        depth: 1,
        read_file_num: 9,
        read_pos: 35131,
        ..meta
    };
    let (mut s, _) = State::open(cfg(65536, 2500), &meta, Some(35200)).unwrap();
    assert_eq!(s.next_read(), ReadStep::NeedFileSize { file_num: 9 });
    s.set_read_file_end(9, 35200);
    assert_eq!(read_at(&s).end, 35200);
}

#[test]
fn tail_check() {
    let at_tail = |depth| Meta {
        depth,
        read_file_num: 2,
        read_pos: 60,
        write_file_num: 2,
        write_pos: 60,
    };
    for depth in [5, -5] {
        let (s, fx) = State::open(cfg(90, 100), &at_tail(depth), Some(60)).unwrap();
        assert_eq!(fx, vec![Effect::Warn(Warning::DepthAtTail { depth })]);
        assert_eq!((s.depth(), s.sync_due()), (0, true));
        assert_eq!(s.meta(), at_tail(0));
    }
    assert!(Warning::DepthAtTail { depth: 5 }
        .to_string()
        .contains("data loss"));
    assert!(Warning::DepthAtTail { depth: -5 }
        .to_string()
        .contains("metadata corruption"));
    // Read ahead of write in the same file: that file is deleted.
    let meta = Meta {
        read_pos: 90,
        ..at_tail(0)
    };
    let (s, fx) = State::open(cfg(90, 100), &meta, Some(60)).unwrap();
    assert_eq!(
        fx,
        vec![
            Effect::Warn(Warning::ReadAheadOfWrite {
                read: pos(2, 90),
                write: pos(2, 60)
            }),
            Effect::Roll(Roll {
                from: 2,
                to: 3,
                sync: false
            }),
            Effect::DeleteRange { first: 2, last: 2 },
        ]
    );
    assert_eq!(
        (s.read_position(), s.write_position(), s.depth()),
        (pos(3, 0), pos(3, 0), 0)
    );
    // Read file ahead of write file with a smaller readPos: Go thinks
    // there are data and spins; here it is the same repair.
    let meta = Meta {
        depth: 3,
        read_file_num: 5,
        read_pos: 0,
        write_file_num: 2,
        write_pos: 60,
    };
    let (s, fx) = State::open(cfg(90, 100), &meta, Some(60)).unwrap();
    assert_eq!(fx.len(), 3); // depth warning, read-ahead warning, roll; nothing to delete
    assert_eq!(
        (s.read_position(), s.write_position(), s.depth()),
        (pos(3, 0), pos(3, 0), 0)
    );
}

#[test]
fn negative_metadata_is_refused() {
    for meta in [
        Meta {
            read_pos: -1,
            ..Meta::default()
        },
        Meta {
            write_file_num: -1,
            ..Meta::default()
        },
    ] {
        assert_eq!(
            State::open(cfg(90, 100), &meta, None).unwrap_err(),
            NegativeMeta(meta)
        );
    }
    assert!(State::open(
        cfg(90, 100),
        &Meta {
            depth: -1,
            ..Meta::default()
        },
        None
    )
    .is_ok());
}

#[test]
fn corruption_in_the_write_file_moves_both_sides() {
    let mut s = State::new(cfg(90, 100));
    put(&mut s);
    put(&mut s);
    assert_eq!(
        s.corrupt(),
        vec![
            Effect::Roll(Roll {
                from: 0,
                to: 1,
                sync: false
            }),
            Effect::RenameBad(0),
            Effect::Warn(Warning::DepthAtTail { depth: 2 }),
        ]
    );
    assert_eq!(
        (s.read_position(), s.write_position(), s.depth()),
        (pos(1, 0), pos(1, 0), 0)
    );
    assert!(s.sync_due());
    assert_eq!(s.corrupt(), vec![]); // nothing to read: no effect
}

#[test]
fn corruption_in_a_finished_file_skips_only_it() {
    let mut s = State::new(cfg(90, 100));
    for _ in 0..5 {
        put(&mut s);
    }
    assert_eq!(s.corrupt(), vec![Effect::RenameBad(0)]);
    assert_eq!(
        (s.read_position(), s.write_position(), s.depth()),
        (pos(1, 0), pos(1, 60), 5)
    );
    assert_eq!(read_at(&s), span(1, 0, 60));
}

#[test]
fn empty_deletes_everything_and_starts_a_new_file() {
    let mut s = State::new(cfg(90, 100));
    for _ in 0..7 {
        put(&mut s);
    }
    s.finish_read(read_at(&s), 30).unwrap();
    s.synced();
    assert_eq!(
        s.empty(),
        vec![
            Effect::Roll(Roll {
                from: 2,
                to: 3,
                sync: false
            }),
            Effect::DeleteRange { first: 0, last: 2 },
            Effect::DeleteMeta,
        ]
    );
    assert_eq!(
        s.meta(),
        Meta {
            depth: 0,
            read_file_num: 3,
            read_pos: 0,
            write_file_num: 3,
            write_pos: 0
        }
    );
    assert!(s.sync_due());
    assert_eq!(s.next_read(), ReadStep::Idle);
    assert_eq!(s.begin_append(26).unwrap().at, pos(3, 0));
}

#[test]
fn sync_bookkeeping() {
    let mut s = State::new(cfg(1000, 3));
    assert!(!s.sync_due());
    s.sync_timer();
    assert!(!s.sync_due(), "no activity, no sync");
    put(&mut s);
    put(&mut s);
    assert!(!s.sync_due());
    let _ = s.begin_append(1); // refused writes count too
    assert!(s.sync_due());
    s.synced();
    assert!(!s.sync_due());
    s.finish_read(read_at(&s), 30).unwrap();
    assert!(!s.sync_due());
    s.sync_timer();
    assert!(s.sync_due());
    s.sync_failed();
    assert!(s.sync_due());
    s.synced();
    assert!(!s.sync_due());
}

#[test]
fn meta_round_trips_through_open() {
    let mut s = State::new(cfg(90, 100));
    for _ in 0..5 {
        put(&mut s);
    }
    s.finish_read(read_at(&s), 30).unwrap();
    let (t, fx) = State::open(cfg(90, 100), &s.meta(), Some(s.write_position().pos)).unwrap();
    assert_eq!(fx, vec![]);
    assert_eq!(t.meta(), s.meta());
}

// ----- model test ------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Append(usize),
    AppendBad,
    PreRead,
    Take,
    Empty,
    Timer,
    Crash,
    Corrupt,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        8 => (26usize..120).prop_map(Op::Append),
        1 => Just(Op::AppendBad),
        5 => Just(Op::PreRead),
        5 => Just(Op::Take),
        1 => Just(Op::Empty),
        1 => Just(Op::Timer),
        1 => Just(Op::Crash),
        1 => Just(Op::Corrupt),
    ]
}

/// A minimal I/O layer over an in-memory directory, checked against a
/// `VecDeque` of the records that must come out, in order.
struct Harness {
    cfg: Config,
    state: State,
    files: BTreeMap<u64, Vec<u8>>,
    bad: Vec<(u64, Vec<u8>)>,
    meta_file: Option<Meta>,
    expected: VecDeque<u64>,
    loc: HashMap<u64, Position>,
    exact_depth: bool,
    pending: Option<(ReadAt, u64, u64)>,
    next_id: u64,
}

impl Harness {
    fn new(cfg: Config) -> Harness {
        Harness {
            cfg,
            state: State::new(cfg),
            files: BTreeMap::new(),
            bad: Vec::new(),
            meta_file: None,
            expected: VecDeque::new(),
            loc: HashMap::new(),
            exact_depth: true,
            pending: None,
            next_id: 0,
        }
    }

    fn in_files(&self, first: u64, last: u64) -> bool {
        self.expected
            .iter()
            .any(|id| (first..=last).contains(&self.loc[id].file_num))
    }

    fn apply(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::Roll(r) => {
                    assert!(!r.sync && r.from < r.to);
                    assert!(
                        self.files.get(&r.to).is_none_or(Vec::is_empty),
                        "roll into a file with data"
                    );
                }
                Effect::Delete(n) => {
                    assert!(n < self.state.read_position().file_num);
                    assert!(
                        !self.in_files(n, n),
                        "deleted file {n} holds unread records"
                    );
                    assert!(self.files.remove(&n).is_some(), "deleted missing file {n}");
                }
                Effect::DeleteRange { first, last } => {
                    assert!(!self.in_files(first, last), "deleted unread records");
                    self.files.retain(|n, _| !(first..=last).contains(n));
                }
                Effect::RenameBad(n) => {
                    if let Some(f) = self.files.remove(&n) {
                        self.bad.push((n, f));
                    }
                    let loc = &self.loc;
                    self.expected.retain(|id| loc[id].file_num != n);
                    self.exact_depth = false;
                }
                Effect::DeleteMeta => self.meta_file = None,
                Effect::Warn(Warning::DepthAtTail { .. }) => {
                    assert!(!self.exact_depth, "depth was exact but not 0 at the tail")
                }
                Effect::Warn(Warning::WriteFileLongerThanMeta { .. }) => {}
                Effect::Warn(w @ Warning::ReadAheadOfWrite { .. }) => panic!("{w}"),
            }
        }
    }

    fn sync(&mut self) {
        self.meta_file = Some(self.state.meta());
        self.state.synced();
    }

    fn append(&mut self, len: usize) {
        let id = self.next_id;
        self.next_id += 1;
        let mut payload = id.to_be_bytes().to_vec();
        payload.resize(len, id as u8);
        let plan = self.state.begin_append(len).unwrap();
        assert_eq!(plan.size, 4 + len as u64);
        match plan.roll {
            Some(roll) => {
                assert!(roll.sync);
                assert_eq!((roll.to, plan.at.pos), (plan.at.file_num, 0));
                let old = self.files.get(&roll.from).map_or(0, |f| f.len() as u64);
                assert!(old > 0 && old + plan.size > self.cfg.max_bytes_per_file);
                self.sync();
            }
            None if plan.at.pos > 0 => {
                assert!(plan.at.pos + plan.size <= self.cfg.max_bytes_per_file)
            }
            None => {}
        }
        let f = self.files.entry(plan.at.file_num).or_default();
        assert_eq!(
            f.len() as u64,
            plan.at.pos,
            "write not at the end of its file"
        );
        f.extend_from_slice(&plan.prefix);
        f.extend_from_slice(&payload);
        self.state.commit_append(&plan).unwrap();
        self.loc.insert(id, plan.at);
        self.expected.push_back(id);
    }

    fn pre_read(&mut self) {
        if self.pending.is_some() {
            return;
        }
        for _ in 0..10_000 {
            match self.state.next_read() {
                ReadStep::Idle => return,
                ReadStep::NeedFileSize { file_num } => match self.files.get(&file_num) {
                    Some(f) => assert!(self.state.set_read_file_end(file_num, f.len() as u64)),
                    None => {
                        let fx = self.state.corrupt();
                        self.apply(fx);
                    }
                },
                ReadStep::EndOfFile { .. } => {
                    let fx = self.state.end_of_file();
                    assert!(!fx.is_empty());
                    self.apply(fx);
                }
                ReadStep::Read(at) => {
                    let data = self
                        .files
                        .get(&at.file_num)
                        .and_then(|f| f.get(at.pos as usize..at.end as usize));
                    match data.map(|d| decode_record(d, &LIMITS)) {
                        Some(Ok(Decoded::Complete { value, consumed })) => {
                            let id = u64::from_be_bytes(value[..8].try_into().unwrap());
                            self.pending = Some((at, id, consumed as u64));
                            return;
                        }
                        _ => {
                            let fx = self.state.corrupt();
                            self.apply(fx);
                        }
                    }
                }
            }
        }
        panic!("reader does not settle");
    }

    fn take(&mut self) {
        if let Some((at, id, consumed)) = self.pending.take() {
            let fx = self
                .state
                .finish_read(at, consumed)
                .expect("a held record is never stale here");
            assert_eq!(self.expected.pop_front(), Some(id), "out of order");
            self.apply(fx);
        }
    }

    fn crash(&mut self) {
        self.pending = None;
        let meta = self.meta_file.unwrap_or_default();
        let size = self
            .files
            .get(&(meta.write_file_num as u64))
            .map(|f| f.len() as u64);
        let (state, fx) = State::open(self.cfg, &meta, size).unwrap();
        self.state = state;
        // What must come out now: every record on disk from the
        // persisted read position on (duplicates included), up to the
        // first undecodable record of each file.
        let start = pos(meta.read_file_num as u64, meta.read_pos as u64);
        assert!(
            self.files.range(..start.file_num).next().is_none(),
            "orphaned files"
        );
        self.expected.clear();
        for (&n, f) in self.files.range(start.file_num..) {
            let mut p = if n == start.file_num {
                start.pos as usize
            } else {
                0
            };
            while let Some(Ok(Decoded::Complete { value, consumed })) =
                f.get(p..).map(|d| decode_record(d, &LIMITS))
            {
                self.expected
                    .push_back(u64::from_be_bytes(value[..8].try_into().unwrap()));
                p += consumed;
            }
        }
        self.exact_depth = false;
        self.apply(fx);
    }

    fn step(&mut self, op: &Op) {
        match *op {
            Op::Append(len) => self.append(len),
            Op::AppendBad => {
                let before = (
                    self.state.read_position(),
                    self.state.write_position(),
                    self.state.depth(),
                );
                assert!(self.state.begin_append(25).is_err());
                assert!(self.state.begin_append(201).is_err());
                assert_eq!(
                    before,
                    (
                        self.state.read_position(),
                        self.state.write_position(),
                        self.state.depth()
                    )
                );
            }
            Op::PreRead => self.pre_read(),
            Op::Take => self.take(),
            Op::Empty => {
                self.pending = None;
                self.expected.clear();
                let fx = self.state.empty();
                self.apply(fx);
                assert!(self.files.is_empty(), "empty left data files");
                assert_eq!(self.meta_file, None);
                self.exact_depth = true;
            }
            Op::Timer => self.state.sync_timer(),
            Op::Crash => self.crash(),
            Op::Corrupt => {
                if self.pending.is_none() {
                    if let ReadStep::Read(at) = self.state.next_read() {
                        if let Some(f) = self.files.get_mut(&at.file_num) {
                            f[at.pos as usize..at.pos as usize + 4].copy_from_slice(&[0xff; 4]);
                        }
                    }
                }
            }
        }
        if self.state.sync_due() {
            self.sync();
        }
        self.check();
    }

    fn check(&mut self) {
        let s = &self.state;
        assert!(s.read_position() <= s.write_position());
        if self.exact_depth {
            assert_eq!(s.depth(), self.expected.len() as i64, "depth");
        }
        if !s.has_data() {
            assert!(self.pending.is_none());
            assert!(
                self.expected.is_empty(),
                "records left behind: {:?}",
                self.expected
            );
            assert_eq!(s.depth(), 0);
            self.exact_depth = true;
        }
    }

    fn drain(&mut self) {
        for _ in 0..100_000 {
            self.pre_read();
            if self.pending.is_none() {
                break;
            }
            self.take();
            if self.state.sync_due() {
                self.sync();
            }
            self.check();
        }
        let s = &self.state;
        assert!(!s.has_data());
        assert!(self.expected.is_empty());
        assert_eq!(s.depth(), 0);
        let w = s.write_position().file_num;
        assert!(
            self.files.keys().all(|&n| n == w),
            "files left: {:?} (write file {w})",
            self.files.keys().collect::<Vec<_>>()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn state_machine_matches_a_fifo(
        max_bytes_per_file in 40u64..400,
        sync_every in 1u64..6,
        ops in proptest::collection::vec(op(), 0..200),
    ) {
        let mut h = Harness::new(cfg(max_bytes_per_file, sync_every));
        for op in &ops {
            h.step(op);
        }
        h.drain();
    }
}
