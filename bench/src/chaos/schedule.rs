//! The fault schedule: a pure function of the seed and the mix, so a
//! failing run replays with `--seed`.
//!
//! Faults run in three lanes, each one fault at a time: *process* (signals,
//! full disk), *clients* (hostile input, stalls, readers that never read,
//! connection floods) and *admin* (topic and channel delete, empty,
//! pause). Each lane has its own generator derived from the seed, so
//! turning one lane's faults off leaves the others' schedules as they were.
//! A step starts at its planned time or when the lane's previous step is
//! done, whichever is later.

use std::fmt;

use crate::chaos::rng::Rng;

/// A daemon a fault is aimed at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// nsqd number i.
    Nsqd(usize),
    /// The nsqlookupd.
    Lookupd,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Nsqd(i) => write!(f, "nsqd{i}"),
            Target::Lookupd => write!(f, "nsqlookupd"),
        }
    }
}

/// A listening socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listener {
    /// nsqd's TCP (V2) port.
    NsqdTcp(usize),
    /// nsqd's HTTP port.
    NsqdHttp(usize),
    /// nsqd's HTTPS port.
    NsqdHttps(usize),
    /// nsqlookupd's TCP (V1) port.
    LookupdTcp,
    /// nsqlookupd's HTTP port.
    LookupdHttp,
}

impl Listener {
    /// The daemon behind it.
    pub fn target(self) -> Target {
        match self {
            Listener::NsqdTcp(i) | Listener::NsqdHttp(i) | Listener::NsqdHttps(i) => {
                Target::Nsqd(i)
            }
            Listener::LookupdTcp | Listener::LookupdHttp => Target::Lookupd,
        }
    }
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Listener::NsqdTcp(i) => write!(f, "nsqd{i} TCP"),
            Listener::NsqdHttp(i) => write!(f, "nsqd{i} HTTP"),
            Listener::NsqdHttps(i) => write!(f, "nsqd{i} HTTPS"),
            Listener::LookupdTcp => write!(f, "nsqlookupd TCP"),
            Listener::LookupdHttp => write!(f, "nsqlookupd HTTP"),
        }
    }
}

/// One fault with its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// SIGKILL, restart on the same data directory after `down_ms`.
    Kill { target: Target, down_ms: u64 },
    /// SIGTERM (exit 0 expected), restart after `down_ms`.
    Term { target: Target, down_ms: u64 },
    /// SIGSTOP for `hold_ms`, then SIGCONT.
    Stop { target: Target, hold_ms: u64 },
    /// Fill the nsqd's file system, hold, free it: it must recover alone.
    DiskFull { nsqd: usize, hold_ms: u64 },
    /// `probes` connections of malformed input (variants chosen by `seed`).
    Malformed {
        listener: Listener,
        probes: u32,
        seed: u64,
    },
    /// `conns` connections that send part of a request and stall.
    Stall {
        listener: Listener,
        conns: u32,
        hold_ms: u64,
    },
    /// `conns` subscribers (RDY 500) and publishers that never read.
    NeverRead {
        nsqd: usize,
        conns: u32,
        hold_ms: u64,
    },
    /// Connections up to the daemon's open-file limit, held.
    Flood { target: Target, hold_ms: u64 },
    /// `/topic/delete`.
    TopicDelete { nsqd: usize, topic: usize },
    /// `/topic/empty`.
    TopicEmpty { nsqd: usize, topic: usize },
    /// `/topic/pause`, `/topic/unpause` after `hold_ms`.
    TopicPause {
        nsqd: usize,
        topic: usize,
        hold_ms: u64,
    },
    /// `/channel/delete`.
    ChannelDelete {
        nsqd: usize,
        topic: usize,
        channel: usize,
    },
    /// `/channel/empty`.
    ChannelEmpty {
        nsqd: usize,
        topic: usize,
        channel: usize,
    },
    /// `/channel/pause`, `/channel/unpause` after `hold_ms`.
    ChannelPause {
        nsqd: usize,
        topic: usize,
        channel: usize,
        hold_ms: u64,
    },
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill { target, down_ms } => {
                write!(f, "SIGKILL {target}, restart after {down_ms}ms")
            }
            Fault::Term { target, down_ms } => {
                write!(f, "SIGTERM {target}, restart after {down_ms}ms")
            }
            Fault::Stop { target, hold_ms } => write!(f, "SIGSTOP {target} for {hold_ms}ms"),
            Fault::DiskFull { nsqd, hold_ms } => {
                write!(f, "fill nsqd{nsqd}'s disk for {hold_ms}ms")
            }
            Fault::Malformed {
                listener,
                probes,
                seed,
            } => write!(f, "{probes} malformed inputs to {listener} (#{seed:x})"),
            Fault::Stall {
                listener,
                conns,
                hold_ms,
            } => write!(
                f,
                "{conns} clients stall mid-request on {listener} for {hold_ms}ms"
            ),
            Fault::NeverRead {
                nsqd,
                conns,
                hold_ms,
            } => write!(
                f,
                "{conns} never-reading clients on nsqd{nsqd} for {hold_ms}ms"
            ),
            Fault::Flood { target, hold_ms } => {
                write!(f, "connection flood of {target} for {hold_ms}ms")
            }
            Fault::TopicDelete { nsqd, topic } => write!(f, "delete topic {topic} on nsqd{nsqd}"),
            Fault::TopicEmpty { nsqd, topic } => write!(f, "empty topic {topic} on nsqd{nsqd}"),
            Fault::TopicPause {
                nsqd,
                topic,
                hold_ms,
            } => write!(f, "pause topic {topic} on nsqd{nsqd} for {hold_ms}ms"),
            Fault::ChannelDelete {
                nsqd,
                topic,
                channel,
            } => write!(f, "delete channel {topic}/{channel} on nsqd{nsqd}"),
            Fault::ChannelEmpty {
                nsqd,
                topic,
                channel,
            } => write!(f, "empty channel {topic}/{channel} on nsqd{nsqd}"),
            Fault::ChannelPause {
                nsqd,
                topic,
                channel,
                hold_ms,
            } => write!(
                f,
                "pause channel {topic}/{channel} on nsqd{nsqd} for {hold_ms}ms"
            ),
        }
    }
}

/// Kinds of fault, as named in `--faults`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// SIGKILL + restart.
    Kill,
    /// SIGTERM + restart.
    Term,
    /// SIGSTOP + SIGCONT.
    Stop,
    /// Full disk.
    Disk,
    /// Malformed input.
    Malformed,
    /// Clients stalling mid-request.
    Stall,
    /// Clients that never read.
    NeverRead,
    /// Connection floods.
    Flood,
    /// Topic/channel delete.
    Delete,
    /// Topic/channel empty.
    Empty,
    /// Topic/channel pause.
    Pause,
}

/// Every kind, in `--faults` order.
pub const ALL_KINDS: [(Kind, &str); 11] = [
    (Kind::Kill, "kill"),
    (Kind::Term, "term"),
    (Kind::Stop, "stop"),
    (Kind::Disk, "disk"),
    (Kind::Malformed, "malformed"),
    (Kind::Stall, "stall"),
    (Kind::NeverRead, "never-read"),
    (Kind::Flood, "flood"),
    (Kind::Delete, "delete"),
    (Kind::Empty, "empty"),
    (Kind::Pause, "pause"),
];

/// Parse `--faults`: `all`, `none`, or a comma-separated list of kinds.
pub fn parse_kinds(s: &str) -> Result<Vec<Kind>, String> {
    match s.trim() {
        "all" => return Ok(ALL_KINDS.iter().map(|(k, _)| *k).collect()),
        "none" | "" => return Ok(Vec::new()),
        _ => {}
    }
    s.split(',')
        .map(|name| {
            ALL_KINDS
                .iter()
                .find(|(_, n)| *n == name.trim())
                .map(|(k, _)| *k)
                .ok_or_else(|| {
                    let names: Vec<&str> = ALL_KINDS.iter().map(|(_, n)| *n).collect();
                    format!(
                        "unknown fault {name:?} (all, none, or some of {})",
                        names.join(",")
                    )
                })
        })
        .collect()
}

/// A lane of the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Signals and the full disk.
    Process,
    /// Hostile and broken clients.
    Clients,
    /// Topic and channel administration.
    Admin,
}

impl Lane {
    /// Every lane.
    pub const ALL: [Lane; 3] = [Lane::Process, Lane::Clients, Lane::Admin];

    fn kinds(self) -> &'static [Kind] {
        match self {
            Lane::Process => &[Kind::Kill, Kind::Term, Kind::Stop, Kind::Disk],
            Lane::Clients => &[Kind::Malformed, Kind::Stall, Kind::NeverRead, Kind::Flood],
            Lane::Admin => &[Kind::Delete, Kind::Empty, Kind::Pause],
        }
    }

    /// Name for the log.
    pub fn name(self) -> &'static str {
        match self {
            Lane::Process => "process",
            Lane::Clients => "clients",
            Lane::Admin => "admin",
        }
    }
}

/// What the schedule may use.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Enabled kinds.
    pub kinds: Vec<Kind>,
    /// Mean pause between two faults of a lane, ms.
    pub interval_ms: u64,
    /// Faults start after this, ms (clients get going first).
    pub warmup_ms: u64,
    /// nsqds.
    pub nsqds: usize,
    /// Topics.
    pub topics: usize,
    /// Checked channels per topic.
    pub channels: usize,
    /// The nsqd whose data directory is on a small file system, if any.
    pub disk_nsqd: Option<usize>,
    /// Whether a lookupd runs (a fault target).
    pub lookupd: bool,
}

/// One planned fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Planned start, ms since the run started.
    pub at_ms: u64,
    /// Its lane.
    pub lane: Lane,
    /// The fault.
    pub fault: Fault,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:>8.3}s {:<7} {}",
            self.at_ms as f64 / 1000.0,
            self.lane.name(),
            self.fault
        )
    }
}

/// The whole run's faults, per lane in time order.
pub fn plan(seed: u64, duration_ms: u64, mix: &Mix) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, lane) in Lane::ALL.iter().enumerate() {
        let kinds: Vec<Kind> = lane
            .kinds()
            .iter()
            .copied()
            .filter(|k| mix.kinds.contains(k))
            .filter(|k| *k != Kind::Disk || mix.disk_nsqd.is_some())
            .collect();
        if kinds.is_empty() {
            continue;
        }
        let mut rng = Rng::derive(seed, i as u64 + 1);
        let mut t = mix.warmup_ms + rng.below(mix.interval_ms.max(1));
        while t < duration_ms {
            let kind = *rng.pick(&kinds);
            let fault = make(kind, &mut rng, mix);
            let busy = nominal_ms(&fault);
            steps.push(Step {
                at_ms: t,
                lane: *lane,
                fault,
            });
            let gap = mix.interval_ms / 2 + rng.below(mix.interval_ms.max(1));
            t += busy + gap;
        }
    }
    steps
}

/// A daemon to signal or flood: mostly nsqd, sometimes the lookupd.
fn target(rng: &mut Rng, mix: &Mix) -> Target {
    if mix.lookupd && rng.chance(0.2) {
        Target::Lookupd
    } else {
        Target::Nsqd(rng.below(mix.nsqds as u64) as usize)
    }
}

fn listener(rng: &mut Rng, mix: &Mix) -> Listener {
    let n = rng.below(mix.nsqds as u64) as usize;
    let all = [
        Listener::NsqdTcp(n),
        Listener::NsqdHttp(n),
        Listener::NsqdHttps(n),
        Listener::LookupdTcp,
        Listener::LookupdHttp,
    ];
    let usable = if mix.lookupd { &all[..] } else { &all[..3] };
    *rng.pick(usable)
}

fn make(kind: Kind, rng: &mut Rng, mix: &Mix) -> Fault {
    let nsqd = rng.below(mix.nsqds as u64) as usize;
    let topic = rng.below(mix.topics as u64) as usize;
    let channel = rng.below(mix.channels as u64) as usize;
    match kind {
        Kind::Kill => Fault::Kill {
            target: target(rng, mix),
            down_ms: rng.range(0, 2000),
        },
        Kind::Term => Fault::Term {
            target: target(rng, mix),
            down_ms: rng.range(0, 2000),
        },
        Kind::Stop => Fault::Stop {
            target: target(rng, mix),
            hold_ms: rng.range(300, 4000),
        },
        Kind::Disk => Fault::DiskFull {
            nsqd: mix.disk_nsqd.unwrap_or(0),
            hold_ms: rng.range(1000, 6000),
        },
        Kind::Malformed => Fault::Malformed {
            listener: listener(rng, mix),
            probes: rng.range(5, 40) as u32,
            seed: rng.next_u64(),
        },
        Kind::Stall => Fault::Stall {
            listener: listener(rng, mix),
            conns: rng.range(1, 20) as u32,
            hold_ms: rng.range(1000, 8000),
        },
        Kind::NeverRead => Fault::NeverRead {
            nsqd,
            conns: rng.range(1, 4) as u32,
            hold_ms: rng.range(2000, 10_000),
        },
        Kind::Flood => Fault::Flood {
            target: target(rng, mix),
            hold_ms: rng.range(1000, 4000),
        },
        Kind::Delete => {
            if rng.chance(0.3) {
                Fault::TopicDelete { nsqd, topic }
            } else {
                Fault::ChannelDelete {
                    nsqd,
                    topic,
                    channel,
                }
            }
        }
        Kind::Empty => {
            if rng.chance(0.3) {
                Fault::TopicEmpty { nsqd, topic }
            } else {
                Fault::ChannelEmpty {
                    nsqd,
                    topic,
                    channel,
                }
            }
        }
        Kind::Pause => {
            let hold_ms = rng.range(500, 5000);
            if rng.chance(0.3) {
                Fault::TopicPause {
                    nsqd,
                    topic,
                    hold_ms,
                }
            } else {
                Fault::ChannelPause {
                    nsqd,
                    topic,
                    channel,
                    hold_ms,
                }
            }
        }
    }
}

/// How long a fault keeps its lane busy, for planning.
fn nominal_ms(f: &Fault) -> u64 {
    match f {
        Fault::Kill { down_ms, .. } => down_ms + 2000,
        Fault::Term { down_ms, .. } => down_ms + 3000,
        Fault::Stop { hold_ms, .. }
        | Fault::Stall { hold_ms, .. }
        | Fault::NeverRead { hold_ms, .. }
        | Fault::TopicPause { hold_ms, .. }
        | Fault::ChannelPause { hold_ms, .. } => *hold_ms,
        Fault::DiskFull { hold_ms, .. } | Fault::Flood { hold_ms, .. } => hold_ms + 2000,
        Fault::Malformed { .. } => 1000,
        Fault::TopicDelete { .. }
        | Fault::TopicEmpty { .. }
        | Fault::ChannelDelete { .. }
        | Fault::ChannelEmpty { .. } => 500,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mix(kinds: Vec<Kind>) -> Mix {
        Mix {
            kinds,
            interval_ms: 2000,
            warmup_ms: 3000,
            nsqds: 2,
            topics: 2,
            channels: 4,
            disk_nsqd: Some(1),
            lookupd: true,
        }
    }

    fn all() -> Vec<Kind> {
        ALL_KINDS.iter().map(|(k, _)| *k).collect()
    }

    #[test]
    fn same_seed_same_schedule() {
        let a = plan(42, 600_000, &mix(all()));
        let b = plan(42, 600_000, &mix(all()));
        assert!(a.len() > 300, "{}", a.len());
        assert_eq!(a, b);
        let text = |s: &[Step]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(text(&a), text(&b));
        assert_ne!(a, plan(43, 600_000, &mix(all())));
    }

    #[test]
    fn every_kind_appears_and_only_enabled_ones() {
        let steps = plan(7, 3_600_000, &mix(all()));
        let has = |f: fn(&Fault) -> bool| steps.iter().any(|s| f(&s.fault));
        assert!(has(|f| matches!(f, Fault::Kill { .. })));
        assert!(has(|f| matches!(f, Fault::DiskFull { nsqd: 1, .. })));
        assert!(has(|f| matches!(f, Fault::Flood { .. })));
        assert!(has(|f| matches!(f, Fault::ChannelPause { .. })));
        assert!(has(|f| matches!(
            f,
            Fault::Malformed {
                listener: Listener::LookupdTcp,
                ..
            }
        )));
        let kills = plan(7, 600_000, &mix(vec![Kind::Kill]));
        assert!(!kills.is_empty());
        assert!(kills
            .iter()
            .all(|s| matches!(s.fault, Fault::Kill { .. }) && s.lane == Lane::Process));
        let mut no_disk = mix(all());
        no_disk.disk_nsqd = None;
        assert!(!plan(7, 3_600_000, &no_disk)
            .iter()
            .any(|s| matches!(s.fault, Fault::DiskFull { .. })));
    }

    #[test]
    fn steps_are_inside_the_run_and_lanes_do_not_overlap() {
        let steps = plan(9, 120_000, &mix(all()));
        for lane in Lane::ALL {
            let mine: Vec<&Step> = steps.iter().filter(|s| s.lane == lane).collect();
            for w in mine.windows(2) {
                assert!(w[0].at_ms + nominal_ms(&w[0].fault) <= w[1].at_ms);
            }
        }
        assert!(steps.iter().all(|s| (3000..120_000).contains(&s.at_ms)));
    }

    #[test]
    fn one_lane_off_leaves_the_others_unchanged() {
        let both = plan(5, 300_000, &mix(all()));
        let without_admin = plan(
            5,
            300_000,
            &mix(all()
                .into_iter()
                .filter(|k| !matches!(k, Kind::Delete | Kind::Empty | Kind::Pause))
                .collect()),
        );
        let process = |s: &[Step]| {
            s.iter()
                .filter(|x| x.lane == Lane::Process)
                .cloned()
                .collect::<Vec<_>>()
        };
        assert_eq!(process(&both), process(&without_admin));
    }

    #[test]
    fn kinds_parse() {
        assert_eq!(parse_kinds("all").unwrap().len(), ALL_KINDS.len());
        assert!(parse_kinds("none").unwrap().is_empty());
        assert_eq!(
            parse_kinds("kill, never-read").unwrap(),
            vec![Kind::Kill, Kind::NeverRead]
        );
        assert!(parse_kinds("kill,bogus").is_err());
    }
}
