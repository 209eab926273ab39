//! The end of a run: per-daemon exits, memory and descriptors over time
//! (with growth flagged), faults, errors, examples of what went wrong, and
//! the one-line summary `chaos: acked N delivered N lost N dup N
//! unanswered N ...` whose counts decide the exit status.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::chaos::cluster::{Cause, Life, Sample};
use crate::chaos::ledger::Verdict;
use crate::chaos::watch::Answers;

/// Memory and descriptors of one daemon over its longest-lived process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Growth {
    /// Lowest RSS early on / at the end, KiB.
    pub rss_kib: (u64, u64),
    /// Highest RSS, KiB.
    pub rss_max_kib: u64,
    /// Fewest descriptors early on / at the end.
    pub fds: (u64, u64),
    /// Most descriptors.
    pub fds_max: u64,
    /// Flagged: memory or descriptors kept growing.
    pub flagged: bool,
}

/// Compare the first and the last fifth of the samples (skipping the
/// first 10 s): the minimum of each, so spikes (a flood, a backlog) do not
/// count. Growth: RSS more than 1.5x and 64 MiB up, or 64 descriptors up.
/// `None` with fewer than 30 samples.
pub fn growth(samples: &[Sample]) -> Option<Growth> {
    let start = samples.first()?.ms + 10_000;
    let s: Vec<&Sample> = samples.iter().filter(|x| x.ms >= start).collect();
    if s.len() < 30 {
        return None;
    }
    let fifth = s.len() / 5;
    let min = |xs: &[&Sample], f: fn(&Sample) -> u64| xs.iter().map(|x| f(x)).min().unwrap_or(0);
    let (early, late) = (&s[..fifth], &s[s.len() - fifth..]);
    let rss = (min(early, |x| x.rss_kib), min(late, |x| x.rss_kib));
    let fds = (min(early, |x| x.fds), min(late, |x| x.fds));
    let flagged = (rss.1 * 2 > rss.0 * 3 && rss.1 > rss.0 + 64 * 1024) || fds.1 > fds.0 + 64;
    Some(Growth {
        rss_kib: rss,
        rss_max_kib: s.iter().map(|x| x.rss_kib).max().unwrap_or(0),
        fds,
        fds_max: s.iter().map(|x| x.fds).max().unwrap_or(0),
        flagged,
    })
}

/// Everything the report is made of.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The seed.
    pub seed: u64,
    /// The checker's verdict.
    pub verdict: Verdict,
    /// The watchdog's tallies.
    pub answers: Answers,
    /// Per daemon: its name and processes.
    pub daemons: Vec<(String, Vec<Life>)>,
    /// Faults run, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    /// Publish errors by text.
    pub pub_errors: BTreeMap<String, u64>,
    /// Consumer errors by text.
    pub sub_errors: BTreeMap<String, u64>,
    /// Restarts that failed.
    pub restart_failures: u64,
    /// SIGTERMs without an exit in time.
    pub hung: u64,
    /// Full-disk faults not recovered from.
    pub disk_stuck: u64,
    /// Refused bodies, described.
    pub bad_bodies: Vec<String>,
    /// Problems noted on the way.
    pub notes: Vec<String>,
    /// Names of topics and channels, for the examples.
    pub topics: Vec<String>,
    /// Checked channel names.
    pub channels: Vec<String>,
    /// Default mode: SIGKILL losses are expected.
    pub sync_mode: bool,
    /// Messages the nsqds still held on the checked channels when the
    /// drain ended (owed but not yet delivered is not necessarily lost).
    pub queued_at_end: Option<u64>,
}

/// The counts of the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    /// Unexpected exits.
    pub crashes: u64,
    /// Exits that did not match their cause (SIGTERM but not exit 0).
    pub bad_exits: u64,
    /// Daemons whose memory or descriptors grew.
    pub growth: u64,
    /// SIGKILLs sent.
    pub kills: u64,
}

impl Facts {
    /// The counts derived from the daemons' histories.
    pub fn totals(&self) -> Totals {
        let mut t = Totals::default();
        for (_, lives) in &self.daemons {
            for l in lives {
                let Some(e) = &l.exit else { continue };
                match e.cause {
                    Cause::Unexpected => t.crashes += 1,
                    Cause::Killed => t.kills += 1,
                    _ if !e.ok => t.bad_exits += 1,
                    _ => {}
                }
            }
            let longest = lives.iter().max_by_key(|l| l.samples.len());
            if longest
                .and_then(|l| growth(&l.samples))
                .is_some_and(|g| g.flagged)
            {
                t.growth += 1;
            }
        }
        t
    }

    /// Whether the run passed: nothing lost, unanswered, corrupt; no crash,
    /// bad exit, hung shutdown, failed restart or stuck disk.
    pub fn passed(&self) -> bool {
        let t = self.totals();
        self.verdict.lost == 0
            && self.answers.unanswered == 0
            && self.verdict.corrupt == 0
            && t.crashes == 0
            && t.bad_exits == 0
            && self.hung == 0
            && self.restart_failures == 0
            && self.disk_stuck == 0
    }

    /// The last line.
    pub fn summary_line(&self) -> String {
        let v = &self.verdict;
        let t = self.totals();
        format!(
            "chaos: acked {} delivered {} lost {} dup {} unanswered {} corrupt {} \
             lost_unsynced {} lost_disk_full {} exempt {} unacked {} failed {} \
             crashes {} bad_exits {} hung {} restart_failures {} disk_stuck {} \
             growth {} max_answer_ms {} kills {} faults {} queued_at_end {} seed {}",
            v.acked,
            v.delivered,
            v.lost,
            v.dup,
            self.answers.unanswered,
            v.corrupt,
            v.lost_unsynced,
            v.lost_disk_full,
            v.exempt,
            v.unacked,
            v.failed,
            t.crashes,
            t.bad_exits,
            self.hung,
            self.restart_failures,
            self.disk_stuck,
            t.growth,
            self.answers.longest_ms,
            t.kills,
            self.faults.values().sum::<u64>(),
            self.queued_at_end
                .map_or_else(|| "?".to_string(), |q| q.to_string()),
            self.seed
        )
    }

    /// The whole report but the summary line.
    pub fn render(&self) -> String {
        let mut o = String::new();
        let _ = writeln!(o, "\n== daemons (exits; RSS MiB and open fds of the longest-lived process: early min -> late min, max)");
        for (name, lives) in &self.daemons {
            let mut exits: BTreeMap<String, u64> = BTreeMap::new();
            for l in lives {
                let text = match &l.exit {
                    Some(e) => format!(
                        "{:?}: {}{}",
                        e.cause,
                        e.status,
                        if e.ok { "" } else { " (UNEXPECTED)" }
                    ),
                    None => "running".to_string(),
                };
                *exits.entry(text).or_default() += 1;
            }
            let exits: Vec<String> = exits.iter().map(|(k, n)| format!("{k} x{n}")).collect();
            let g = lives
                .iter()
                .max_by_key(|l| l.samples.len())
                .and_then(|l| growth(&l.samples));
            let mem = match g {
                Some(g) => format!(
                    "rss {}->{} ({}) fds {}->{} ({}){}",
                    g.rss_kib.0 >> 10,
                    g.rss_kib.1 >> 10,
                    g.rss_max_kib >> 10,
                    g.fds.0,
                    g.fds.1,
                    g.fds_max,
                    if g.flagged { " GROWTH" } else { "" }
                ),
                None => "too short to judge growth".to_string(),
            };
            let _ = writeln!(
                o,
                "{name:<11} {} processes; {mem}\n            exits: {}",
                lives.len(),
                exits.join(", ")
            );
        }
        let _ = writeln!(o, "\n== faults");
        let f: Vec<String> = self
            .faults
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect();
        let _ = writeln!(
            o,
            "{}",
            if f.is_empty() {
                "none".into()
            } else {
                f.join(", ")
            }
        );
        for (title, map) in [
            ("publish errors", &self.pub_errors),
            ("consumer errors", &self.sub_errors),
        ] {
            if !map.is_empty() {
                let _ = writeln!(o, "\n== {title}");
                for (k, n) in map {
                    let _ = writeln!(o, "{n:>8}  {k}");
                }
            }
        }
        let a = &self.answers;
        let _ = writeln!(
            o,
            "\n== answers: {} answered, {} unanswered, {} slow ones excused (daemon stopped, flooded or starting); longest {} ms ({})",
            a.answered, a.unanswered, a.excused, a.longest_ms, a.longest_what
        );
        for e in &a.examples {
            let _ = writeln!(o, "  unanswered: {e}");
        }
        let v = &self.verdict;
        let _ = writeln!(
            o,
            "\n== messages ({} mode): {} acknowledged, {} delivered on every channel owed, {} lost, {} lost to SIGKILL (unsynced, expected in this mode), {} lost to a full disk (expected in this mode), {} owed nowhere (deleted/emptied), {} unanswered publishes ({} of them delivered), {} refused publishes, {} duplicates",
            if self.sync_mode { "sync" } else { "default" },
            v.acked, v.delivered, v.lost, v.lost_unsynced, v.lost_disk_full, v.exempt, v.unacked, v.unacked_delivered, v.failed, v.dup
        );
        if v.pending_pairs > 0 {
            let held = match self.queued_at_end {
                Some(q) => format!("the nsqds still held {q} messages on the checked channels (queued, in flight or deferred: owed, not necessarily lost)"),
                None => "the nsqds' stats did not answer".to_string(),
            };
            let _ = writeln!(
                o,
                "  when the drain ended {} (message, channel) pairs were owed; {held}",
                v.pending_pairs
            );
        }
        for l in &v.examples {
            let missing: Vec<&str> = l
                .missing
                .iter()
                .map(|&c| self.channels.get(c).map_or("?", |s| s.as_str()))
                .collect();
            let _ = writeln!(
                o,
                "  lost: key {:#x} nsqd{} {} sent {:.3}s acked {:.3}s, never FINed on {}",
                l.key,
                l.nsqd,
                self.topics.get(l.topic).map_or("?", |s| s.as_str()),
                l.sent_ms as f64 / 1000.0,
                l.acked_ms as f64 / 1000.0,
                missing.join(",")
            );
        }
        for b in &self.bad_bodies {
            let _ = writeln!(o, "  corrupt: {b}");
        }
        if !self.notes.is_empty() {
            let _ = writeln!(o, "\n== problems");
            for n in &self.notes {
                let _ = writeln!(o, "  {n}");
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(rss: impl Fn(u64) -> u64, fds: impl Fn(u64) -> u64) -> Vec<Sample> {
        (0..200)
            .map(|i| Sample {
                ms: i * 1000,
                rss_kib: rss(i),
                fds: fds(i),
            })
            .collect()
    }

    #[test]
    fn growth_is_flagged_only_when_the_floor_rises() {
        let flat = samples(|i| 50_000 + (i % 7) * 30_000, |_| 40);
        assert!(!growth(&flat).unwrap().flagged);
        let leak = samples(|i| 50_000 + i * 2000, |_| 40);
        let g = growth(&leak).unwrap();
        assert!(g.flagged, "{g:?}");
        let fd_leak = samples(|_| 50_000, |i| 40 + i);
        assert!(growth(&fd_leak).unwrap().flagged);
        // A spike (flood, backlog) is not growth.
        let spike = samples(|_| 50_000, |i| if i == 150 { 2000 } else { 40 });
        assert!(!growth(&spike).unwrap().flagged);
        assert_eq!(growth(&flat[..20]), None);
    }

    #[test]
    fn summary_line_counts_and_verdict() {
        let mut f = Facts {
            seed: 7,
            ..Facts::default()
        };
        f.verdict.acked = 10;
        f.verdict.delivered = 10;
        assert!(f.passed());
        let line = f.summary_line();
        assert!(line.starts_with("chaos: acked 10 delivered 10 lost 0 dup 0 unanswered 0 "));
        assert!(line.ends_with("queued_at_end ? seed 7"));
        f.answers.unanswered = 1;
        assert!(!f.passed());
        f.answers.unanswered = 0;
        f.verdict.lost = 1;
        assert!(!f.passed());
        f.verdict.lost = 0;
        f.verdict.lost_unsynced = 5;
        assert!(f.passed());
    }
}
