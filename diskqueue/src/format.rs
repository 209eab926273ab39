//! Bytes and names of a go-diskqueue queue
//! (docs/data-directory.md#disk-queues): file names, the
//! `[4-byte BE length][payload]` record codec and the `.meta.dat` text.
//!
//! Nothing here panics on disk bytes: every decoder returns a value or an
//! error, never indexes out of range (enforced by the lints below).
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use std::fmt;

use nsq_protocol::Decoded;

/// Bytes of the length prefix in front of every record.
pub const RECORD_LEN_PREFIX: usize = 4;

/// Smallest record nsqd writes or accepts: the 26-byte message header
/// (`minValidMsgLength`, docs/protocol.md#message-format) with an empty body.
pub const NSQD_MIN_RECORD: u32 = nsq_protocol::message::MESSAGE_HEADER_LEN as u32;

// ---------------------------------------------------------------------------
// File names
// ---------------------------------------------------------------------------

/// Separator between topic and channel in a channel's queue name (Linux;
/// Go uses `;` on Windows, which is out of scope:
/// docs/compatibility.md#platforms).
pub const CHANNEL_SEPARATOR: char = ':';

/// The queue name of a topic's disk queue: the topic name itself.
pub fn topic_queue_name(topic: &str) -> String {
    topic.to_owned()
}

/// The queue name of a channel's disk queue: `<topic>:<channel>`.
pub fn channel_queue_name(topic: &str, channel: &str) -> String {
    format!("{topic}{CHANNEL_SEPARATOR}{channel}")
}

/// `<name>.diskqueue.<NNNNNN>.dat`: Go's `%06d`, so at least six digits,
/// wider once the number needs more.
pub fn data_file_name(queue_name: &str, file_num: u64) -> String {
    format!("{queue_name}.diskqueue.{file_num:06}.dat")
}

/// `<data file>.bad`: where a corrupt data file is moved for the operator.
pub fn bad_file_name(queue_name: &str, file_num: u64) -> String {
    format!("{}.bad", data_file_name(queue_name, file_num))
}

/// `<name>.diskqueue.meta.dat`.
pub fn meta_file_name(queue_name: &str) -> String {
    format!("{queue_name}.diskqueue.meta.dat")
}

/// `<meta file>.<random>.tmp`: the metadata is written here, fsynced, then
/// renamed over [`meta_file_name`]. Go uses a non-negative `rand.Int()`.
pub fn meta_tmp_file_name(queue_name: &str, random: u64) -> String {
    format!("{}.{random}.tmp", meta_file_name(queue_name))
}

/// `<name>.deferred.dat`: our extension (docs/data-directory.md#deferred-file).
/// Lists, for messages in the queue that are deferred, their ID and due time;
/// Go nsqd never opens it (it reads those messages as ready ones, as it always
/// does).
pub fn deferred_file_name(queue_name: &str) -> String {
    format!("{queue_name}.deferred.dat")
}

/// The text of a [`deferred_file_name`] file: one `<16 hex ID> <due unix
/// ms>\n` line per deferred message.
pub fn encode_deferrals(entries: &[(u64, i64)]) -> Vec<u8> {
    let mut out = Vec::with_capacity(entries.len() * 32);
    for &(id, due_ms) in entries {
        out.extend_from_slice(format!("{id:016x} {due_ms}\n").as_bytes());
    }
    out
}

/// Parse a [`deferred_file_name`] file; lines that do not scan are skipped
/// (the messages stay in the queue, only their delay is lost).
pub fn parse_deferrals(text: &[u8]) -> Vec<(u64, i64)> {
    text.split(|&b| b == b'\n')
        .filter_map(|line| {
            let line = std::str::from_utf8(line).ok()?;
            let (id, due) = line.split_once(' ')?;
            if id.len() != 16 {
                return None;
            }
            Some((u64::from_str_radix(id, 16).ok()?, due.parse().ok()?))
        })
        .collect()
}

/// The inverse of [`data_file_name`] for a directory listing:
/// `Some((queue_name, file_num))` only for names this module would produce
/// (canonical `%06d` digits, no `.bad` suffix).
pub fn parse_data_file_name(file_name: &str) -> Option<(&str, u64)> {
    let stem = file_name.strip_suffix(".dat")?;
    let (queue, digits) = stem.rsplit_once(".diskqueue.")?;
    if queue.is_empty() || digits.len() < 6 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // More than six digits only when the number needs them (no extra zeros).
    if digits.len() > 6 && digits.starts_with('0') {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some((queue, n))
}

// ---------------------------------------------------------------------------
// Records
// ---------------------------------------------------------------------------

/// Bounds on a record's payload length, checked on write and on read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordLimits {
    /// Smallest payload (Go's `minMsgSize`).
    pub min: u32,
    /// Largest payload (Go's `maxMsgSize`, at most `i32::MAX`).
    pub max: u32,
}

impl RecordLimits {
    /// What nsqd configures: min 26 (the message header), max
    /// `max_msg_size + 26`. Go stores both as `int32`; the max is capped at
    /// `i32::MAX` here instead of wrapping.
    pub fn nsqd(max_msg_size: u64) -> RecordLimits {
        let max = max_msg_size
            .saturating_add(u64::from(NSQD_MIN_RECORD))
            .min(i32::MAX as u64);
        RecordLimits {
            min: NSQD_MIN_RECORD,
            max: u32::try_from(max).unwrap_or(i32::MAX as u32),
        }
    }

    fn allows(&self, len: i64) -> bool {
        len >= i64::from(self.min) && len <= i64::from(self.max)
    }
}

/// A record length outside [`RecordLimits`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadRecordLength {
    /// The length found (read: the signed `int32` on disk) or asked for.
    pub len: i64,
    /// The limits in force.
    pub limits: RecordLimits,
}

impl fmt::Display for BadRecordLength {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid message size ({}), must be within [{}, {}]",
            self.len, self.limits.min, self.limits.max
        )
    }
}

impl std::error::Error for BadRecordLength {}

/// Bytes a record with a `payload_len`-byte payload takes in a file.
pub fn record_size(payload_len: u32) -> u64 {
    RECORD_LEN_PREFIX as u64 + u64::from(payload_len)
}

/// The 4-byte big-endian length prefix of a record (for vectored writes),
/// after checking the length against `limits`.
pub fn record_prefix(
    payload_len: usize,
    limits: &RecordLimits,
) -> Result<[u8; 4], BadRecordLength> {
    let len = i64::try_from(payload_len).unwrap_or(i64::MAX);
    if !limits.allows(len) {
        return Err(BadRecordLength {
            len,
            limits: *limits,
        });
    }
    // `limits.max <= i32::MAX`, so the length fits the signed field Go reads.
    let len = u32::try_from(payload_len).map_err(|_| BadRecordLength {
        len,
        limits: *limits,
    })?;
    Ok(len.to_be_bytes())
}

/// Append `[4-byte BE length][payload]` to `out`: the bytes go-diskqueue
/// writes with a single `write` call. Lengths outside `limits` are refused
/// (nothing is appended).
pub fn encode_record(
    payload: &[u8],
    limits: &RecordLimits,
    out: &mut Vec<u8>,
) -> Result<(), BadRecordLength> {
    let prefix = record_prefix(payload.len(), limits)?;
    out.reserve(RECORD_LEN_PREFIX + payload.len());
    out.extend_from_slice(&prefix);
    out.extend_from_slice(payload);
    Ok(())
}

/// Decode the record at the start of `buf`.
///
/// * `Ok(Decoded::Complete { value: payload, consumed: 4 + payload.len() })`;
/// * `Ok(Decoded::Incomplete)` while fewer bytes than the record needs are
///   present (the reader decides whether more can come or the file ended);
/// * `Err` as soon as the length prefix is readable and outside `limits`:
///   Go checks the length before reading the payload, and such a file is
///   corrupt from here on (no way to find the next record).
pub fn decode_record<'a>(
    buf: &'a [u8],
    limits: &RecordLimits,
) -> Result<Decoded<&'a [u8]>, BadRecordLength> {
    let Some((prefix, rest)) = buf.split_first_chunk::<RECORD_LEN_PREFIX>() else {
        return Ok(Decoded::Incomplete);
    };
    // Go reads the prefix into an int32.
    let len = i64::from(i32::from_be_bytes(*prefix));
    if !limits.allows(len) {
        return Err(BadRecordLength {
            len,
            limits: *limits,
        });
    }
    let Ok(len) = usize::try_from(len) else {
        return Err(BadRecordLength {
            len,
            limits: *limits,
        });
    };
    match rest.get(..len) {
        Some(payload) => Ok(Decoded::Complete {
            value: payload,
            consumed: RECORD_LEN_PREFIX + len,
        }),
        None => Ok(Decoded::Incomplete),
    }
}

// ---------------------------------------------------------------------------
// Metadata text (`<name>.diskqueue.meta.dat`)
// ---------------------------------------------------------------------------

/// The five numbers of a `.meta.dat` file, as Go's `int64`s.
///
/// Signed on purpose: Go reads and writes whatever `%d` takes, and `depth`
/// can legitimately be negative (before the tail check of
/// docs/data-directory.md#reading fixes it). Positions and file numbers are
/// checked when a queue is opened ([`crate::state::State::open`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Hash)]
pub struct Meta {
    /// Messages between the read and the write position.
    pub depth: i64,
    /// File the reader is in.
    pub read_file_num: i64,
    /// Byte offset of the next record to read in that file.
    pub read_pos: i64,
    /// File the writer appends to.
    pub write_file_num: i64,
    /// Byte offset of the next record to write in that file.
    pub write_pos: i64,
}

/// Render `meta` exactly as Go's `fmt.Fprintf(f, "%d\n%d,%d\n%d,%d\n", ...)`.
pub fn encode_meta(meta: &Meta) -> String {
    format!(
        "{}\n{},{}\n{},{}\n",
        meta.depth, meta.read_file_num, meta.read_pos, meta.write_file_num, meta.write_pos
    )
}

/// Why a `.meta.dat` text did not scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaParseError {
    /// How many of the five numbers were scanned before the failure. Go
    /// scans straight into the queue's fields, so after a failure it runs
    /// with the first `scanned` positions from the file (depth is a local
    /// and stays 0); this implementation reports the error instead.
    pub scanned: usize,
    /// What went wrong, worded like Go's `fmt` scanner.
    pub reason: &'static str,
}

impl fmt::Display for MetaParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metadata: {} (after {} of 5 values)",
            self.reason, self.scanned
        )
    }
}

impl std::error::Error for MetaParseError {}

/// Scan a `.meta.dat` text the way go-diskqueue does, with
/// `fmt.Fscanf(f, "%d\n%d,%d\n%d,%d\n", ...)`. Accepted exactly as Go
/// accepts it:
///
/// * before each number: any run of spaces other than newline (`' '`,
///   `\t`, `\r`, `\v`, `\f`, U+0085, U+00A0, ... — Go's `isSpace`), then an
///   optional `+`/`-` and ASCII digits (an `int64`; overflow is an error);
/// * each `\n` of the format: spaces other than newline, then a newline or
///   the end of the input (so CRLF line ends and a missing final newline
///   are fine, a blank line is not);
/// * `,`: exactly a comma, right after the number;
/// * anything after the third line is ignored.
///
/// Invalid UTF-8 scans as U+FFFD, which matches nothing.
pub fn parse_meta(text: &[u8]) -> Result<Meta, MetaParseError> {
    let text = String::from_utf8_lossy(text);
    let mut sc = Scanner {
        chars: text.chars().collect(),
        pos: 0,
        values: [0; 5],
        scanned: 0,
    };
    sc.int()?;
    sc.newline()?;
    sc.int()?;
    sc.comma()?;
    sc.int()?;
    sc.newline()?;
    sc.int()?;
    sc.comma()?;
    sc.int()?;
    sc.newline()?;
    let [depth, read_file_num, read_pos, write_file_num, write_pos] = sc.values;
    Ok(Meta {
        depth,
        read_file_num,
        read_pos,
        write_file_num,
        write_pos,
    })
}

/// Go's `fmt` scanner `isSpace` table.
fn is_go_space(c: char) -> bool {
    matches!(c,
        '\u{0009}'..='\u{000d}'
        | '\u{0020}'
        | '\u{0085}'
        | '\u{00a0}'
        | '\u{1680}'
        | '\u{2000}'..='\u{200a}'
        | '\u{2028}'..='\u{2029}'
        | '\u{202f}'
        | '\u{205f}'
        | '\u{3000}')
}

/// A tiny `fmt.Fscanf` for the one format go-diskqueue uses.
struct Scanner {
    chars: Vec<char>,
    pos: usize,
    values: [i64; 5],
    scanned: usize,
}

impl Scanner {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn fail(&self, reason: &'static str) -> MetaParseError {
        MetaParseError {
            scanned: self.scanned,
            reason,
        }
    }

    /// `%d`: `SkipSpace` (a newline is an error), sign, digits.
    fn int(&mut self) -> Result<(), MetaParseError> {
        loop {
            match self.peek() {
                Some('\n') => return Err(self.fail("unexpected newline")),
                Some(c) if is_go_space(c) => self.pos += 1,
                _ => break,
            }
        }
        let mut token = String::new();
        match self.peek() {
            None => return Err(self.fail("unexpected EOF")),
            Some(c @ ('+' | '-')) => {
                token.push(c);
                self.pos += 1;
            }
            Some(_) => {}
        }
        let digits_start = token.len();
        while let Some(c) = self.peek().filter(char::is_ascii_digit) {
            token.push(c);
            self.pos += 1;
        }
        if token.len() == digits_start {
            return Err(self.fail("expected integer"));
        }
        let value: i64 = token.parse().map_err(|_| self.fail("value out of range"))?;
        if let Some(slot) = self.values.get_mut(self.scanned) {
            *slot = value;
        }
        self.scanned += 1;
        Ok(())
    }

    /// `\n` in the format: spaces other than newline, then newline or EOF.
    fn newline(&mut self) -> Result<(), MetaParseError> {
        loop {
            match self.peek() {
                None => return Ok(()),
                Some('\n') => {
                    self.pos += 1;
                    return Ok(());
                }
                Some(c) if is_go_space(c) => self.pos += 1,
                Some(_) => return Err(self.fail("newline in format does not match input")),
            }
        }
    }

    /// A literal `,`.
    fn comma(&mut self) -> Result<(), MetaParseError> {
        match self.peek() {
            Some(',') => {
                self.pos += 1;
                Ok(())
            }
            None => Err(self.fail("unexpected EOF")),
            Some(_) => Err(self.fail("input does not match format")),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NSQD: RecordLimits = RecordLimits {
        min: 26,
        max: 1_048_576 + 26,
    };

    #[test]
    fn file_names_golden() {
        assert_eq!(data_file_name("t", 0), "t.diskqueue.000000.dat");
        assert_eq!(data_file_name("t:c", 42), "t:c.diskqueue.000042.dat");
        assert_eq!(data_file_name("t", 999_999), "t.diskqueue.999999.dat");
        assert_eq!(data_file_name("t", 1_000_000), "t.diskqueue.1000000.dat");
        assert_eq!(bad_file_name("t", 3), "t.diskqueue.000003.dat.bad");
        assert_eq!(meta_file_name("t:c"), "t:c.diskqueue.meta.dat");
        assert_eq!(meta_tmp_file_name("t", 77), "t.diskqueue.meta.dat.77.tmp");
        assert_eq!(channel_queue_name("fixture", "c1"), "fixture:c1");
        assert_eq!(topic_queue_name("fixture"), "fixture");
    }

    #[test]
    fn parse_data_file_names() {
        assert_eq!(
            parse_data_file_name("t.diskqueue.000000.dat"),
            Some(("t", 0))
        );
        assert_eq!(
            parse_data_file_name("a.b:c.diskqueue.000009.dat"),
            Some(("a.b:c", 9))
        );
        assert_eq!(
            parse_data_file_name("t.diskqueue.1000000.dat"),
            Some(("t", 1_000_000))
        );
        for bad in [
            "t.diskqueue.meta.dat",
            "t.diskqueue.000001.dat.bad",
            "t.diskqueue.00001.dat",
            "t.diskqueue.0000001.dat",
            "t.diskqueue.+00001.dat",
            ".diskqueue.000001.dat",
            "t.diskqueue.meta.dat.5.tmp",
            "nsqd.dat",
        ] {
            assert_eq!(parse_data_file_name(bad), None, "{bad}");
        }
        for n in [0, 1, 123_456, 999_999, 1_000_000, u64::MAX] {
            assert_eq!(
                parse_data_file_name(&data_file_name("q#ephemeral", n)),
                Some(("q#ephemeral", n))
            );
        }
    }

    #[test]
    fn nsqd_limits() {
        assert_eq!(RecordLimits::nsqd(1_048_576), NSQD);
        assert_eq!(RecordLimits::nsqd(u64::MAX).max, i32::MAX as u32);
    }

    #[test]
    fn record_golden_bytes() {
        let payload = [7u8; 26];
        let mut out = vec![0xaa];
        encode_record(&payload, &NSQD, &mut out).unwrap();
        assert_eq!(&out[..5], &[0xaa, 0, 0, 0, 26]);
        assert_eq!(&out[5..], &payload);
        assert_eq!(
            record_prefix(
                0x0102_0304,
                &RecordLimits {
                    min: 0,
                    max: i32::MAX as u32
                }
            )
            .unwrap(),
            [1, 2, 3, 4]
        );
        assert_eq!(
            decode_record(&out[1..], &NSQD),
            Ok(Decoded::Complete {
                value: &payload[..],
                consumed: 30
            })
        );
        assert_eq!(record_size(26), 30);
    }

    #[test]
    fn record_bounds() {
        let mut out = Vec::new();
        assert_eq!(
            encode_record(&[0; 25], &NSQD, &mut out),
            Err(BadRecordLength {
                len: 25,
                limits: NSQD
            })
        );
        assert!(out.is_empty());
        assert!(encode_record(&[0; 26], &NSQD, &mut out).is_ok());
        let tight = RecordLimits { min: 1, max: 3 };
        assert!(encode_record(&[0; 3], &tight, &mut out).is_ok());
        assert!(encode_record(&[0; 4], &tight, &mut out).is_err());
        // Read side: the length alone decides, even before the payload.
        assert!(decode_record(&[0, 0, 0, 25], &NSQD).is_err());
        assert!(decode_record(&[0, 0, 0, 4, 1], &tight).is_err());
        assert!(decode_record(&[0, 0, 0, 0], &tight).is_err());
        // Negative int32 on disk.
        assert_eq!(
            decode_record(&[0xff, 0xff, 0xff, 0xff], &NSQD),
            Err(BadRecordLength {
                len: -1,
                limits: NSQD
            })
        );
        assert_eq!(
            decode_record(
                &[0x80, 0, 0, 0],
                &RecordLimits {
                    min: 0,
                    max: i32::MAX as u32
                }
            )
            .unwrap_err()
            .len,
            i64::from(i32::MIN)
        );
        assert_eq!(decode_record(&[], &NSQD), Ok(Decoded::Incomplete));
    }

    #[test]
    fn every_strict_prefix_is_incomplete() {
        let mut buf = Vec::new();
        encode_record(b"0123456789abcdefghijklmnopqrstuvwxyz", &NSQD, &mut buf).unwrap();
        for n in 0..buf.len() {
            assert_eq!(
                decode_record(&buf[..n], &NSQD),
                Ok(Decoded::Incomplete),
                "{n}"
            );
        }
        assert!(
            matches!(decode_record(&buf, &NSQD), Ok(Decoded::Complete { consumed, .. }) if consumed == buf.len())
        );
    }

    #[test]
    fn meta_golden() {
        let m = Meta {
            depth: 600,
            read_file_num: 0,
            read_pos: 0,
            write_file_num: 9,
            write_pos: 35161,
        };
        assert_eq!(encode_meta(&m), "600\n0,0\n9,35161\n");
        assert_eq!(parse_meta(b"600\n0,0\n9,35161\n"), Ok(m));
        let neg = Meta {
            depth: -3,
            ..Meta::default()
        };
        assert_eq!(encode_meta(&neg), "-3\n0,0\n0,0\n");
        assert_eq!(parse_meta(b"-3\n0,0\n0,0\n"), Ok(neg));
    }

    #[test]
    fn meta_parse_is_as_tolerant_as_fscanf() {
        let m = Meta {
            depth: 1,
            read_file_num: 2,
            read_pos: 3,
            write_file_num: 4,
            write_pos: 5,
        };
        for ok in [
            "1\n2,3\n4,5\n",
            "1\n2,3\n4,5",              // newline in format matches EOF
            "1\r\n2,3\r\n4,5\r\n",      // \r is a space before the newline
            " \t1 \n 2, 3\t\n+4,+5 \n", // spaces before numbers and newlines
            "1\n2,3\n4,5\ntrailing garbage is never read",
            "1\n2,3\n4,5\n\n\n",
            "01\n002,3\n4,0005\n",
            "1\u{a0}\n2,3\n4,5\n", // Unicode space
        ] {
            assert_eq!(parse_meta(ok.as_bytes()), Ok(m), "{ok:?}");
        }
        for (bad, scanned) in [
            ("", 0),
            ("\n1\n2,3\n4,5\n", 0), // leading newline: unexpected newline
            ("1\n\n2,3\n4,5\n", 1), // blank line
            ("1\n2 ,3\n4,5\n", 2),  // space before the comma
            ("1\n2;3\n4,5\n", 2),
            ("1\n2,3\n4,5x\n", 5),
            ("1\n2,3\n4,", 4),
            ("1\n2,3\n4", 4),
            ("1\n2,3\n4,-\n", 4),
            ("1 2\n2,3\n4,5\n", 1),
            ("0x1\n2,3\n4,5\n", 1),
            ("1_0\n2,3\n4,5\n", 1),
            ("9223372036854775808\n2,3\n4,5\n", 0),
            ("\u{ff}\n2,3\n4,5\n", 0),
        ] {
            let err = parse_meta(bad.as_bytes()).unwrap_err();
            assert_eq!(err.scanned, scanned, "{bad:?}: {err}");
        }
        assert_eq!(parse_meta(b"1\n2,3\n4,\xff").unwrap_err().scanned, 4);
        assert_eq!(
            parse_meta(b"-9223372036854775808\n0,0\n0,9223372036854775807\n").unwrap(),
            Meta {
                depth: i64::MIN,
                write_pos: i64::MAX,
                ..Meta::default()
            }
        );
    }

    proptest! {
        #[test]
        fn record_round_trip(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 26..300), 0..8)) {
            let mut file = Vec::new();
            for p in &payloads {
                encode_record(p, &NSQD, &mut file).unwrap();
            }
            let mut rest = &file[..];
            for p in &payloads {
                match decode_record(rest, &NSQD).unwrap() {
                    Decoded::Complete { value, consumed } => {
                        prop_assert_eq!(value, &p[..]);
                        prop_assert_eq!(consumed as u64, record_size(p.len() as u32));
                        rest = &rest[consumed..];
                    }
                    Decoded::Incomplete => prop_assert!(false, "incomplete"),
                }
            }
            prop_assert!(rest.is_empty());
            prop_assert_eq!(decode_record(rest, &NSQD), Ok(Decoded::Incomplete));
        }

        #[test]
        fn record_decoder_never_panics(buf in proptest::collection::vec(any::<u8>(), 0..64), min in 0u32..40, span in 0u32..40) {
            let limits = RecordLimits { min, max: min + span };
            match decode_record(&buf, &limits) {
                Ok(Decoded::Complete { value, consumed }) => {
                    prop_assert_eq!(consumed, value.len() + 4);
                    prop_assert!(consumed <= buf.len());
                    prop_assert!(value.len() as u32 >= min && value.len() as u32 <= min + span);
                }
                Ok(Decoded::Incomplete) => prop_assert!(buf.len() < 4 || buf.len() < 4 + u32::from_be_bytes(buf[..4].try_into().unwrap()) as usize),
                Err(e) => prop_assert!(e.len < i64::from(min) || e.len > i64::from(min + span)),
            }
        }

        #[test]
        fn meta_round_trip(depth in any::<i64>(), rf in any::<i64>(), rp in any::<i64>(), wf in any::<i64>(), wp in any::<i64>()) {
            let m = Meta { depth, read_file_num: rf, read_pos: rp, write_file_num: wf, write_pos: wp };
            prop_assert_eq!(parse_meta(encode_meta(&m).as_bytes()), Ok(m));
        }

        #[test]
        fn meta_parser_never_panics(text in proptest::collection::vec(any::<u8>(), 0..40)) {
            let _ = parse_meta(&text);
        }
    }
}
