//! RDY distribution across a consumer's nsqd connections (docs/clients.md#rdy),
//! pure: given each connection's state, the RDY each should have.

use std::time::Duration;

/// What the planner needs to know about one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnView {
    /// RDY currently sent.
    pub rdy: u64,
    /// The nsqd's `max_rdy_count`.
    pub max_rdy: u64,
    /// Time since this connection last delivered a message.
    pub idle: Duration,
    /// Time since its RDY last changed.
    pub rdy_age: Duration,
}

/// The consumer's mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Normal operation.
    Normal,
    /// Waiting out a backoff: RDY 0 everywhere.
    Backoff,
    /// A backoff wait ended: RDY 1 on one connection only.
    TestWaters,
    /// Stopping: RDY 0 everywhere.
    Stopped,
}

/// go-nsq's `perConnMaxInFlight`: max(1, max_in_flight / n), capped by the
/// nsqd's max RDY and by max_in_flight.
pub fn per_conn_target(max_in_flight: u64, conns: usize, max_rdy: u64) -> u64 {
    if max_in_flight == 0 {
        return 0;
    }
    let share = (max_in_flight / conns.max(1) as u64).max(1);
    share.min(max_in_flight).min(max_rdy.max(1))
}

/// Idle limits for redistribution.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `low_rdy_idle_timeout`: a connection with no message for this long
    /// gives its RDY back.
    pub idle: Duration,
    /// `low_rdy_timeout`: a connection holding RDY this long gives it back.
    pub held: Duration,
}

/// The RDY every connection should have. `pick(n)` returns a random index
/// below `n`. The sum never exceeds `max_in_flight`.
pub fn plan(
    max_in_flight: u64,
    conns: &[ConnView],
    mode: Mode,
    t: Timeouts,
    pick: &mut dyn FnMut(usize) -> usize,
) -> Vec<u64> {
    let n = conns.len();
    let mut out = vec![0; n];
    if n == 0 || max_in_flight == 0 {
        return out;
    }
    match mode {
        Mode::Backoff | Mode::Stopped => out,
        Mode::TestWaters => {
            let i = conns
                .iter()
                .position(|c| c.rdy > 0)
                .unwrap_or_else(|| pick(n));
            out[i] = 1;
            out
        }
        Mode::Normal if n as u64 <= max_in_flight => {
            for (o, c) in out.iter_mut().zip(conns) {
                *o = per_conn_target(max_in_flight, n, c.max_rdy);
            }
            out
        }
        Mode::Normal => {
            // More connections than max_in_flight: RDY 1 on at most
            // max_in_flight of them, rotating away from idle holders.
            let mut taken: Vec<bool> = vec![false; n];
            let mut freed: Vec<bool> = vec![false; n];
            let mut used = 0u64;
            for (i, c) in conns.iter().enumerate() {
                if c.rdy == 0 {
                    continue;
                }
                if used < max_in_flight && c.idle < t.idle && c.rdy_age < t.held {
                    out[i] = 1;
                    taken[i] = true;
                    used += 1;
                } else {
                    freed[i] = true;
                }
            }
            let mut candidates: Vec<usize> = (0..n).filter(|&i| !taken[i] && !freed[i]).collect();
            if candidates.is_empty() {
                candidates = (0..n).filter(|&i| !taken[i]).collect();
            }
            while used < max_in_flight && !candidates.is_empty() {
                let j = pick(candidates.len());
                let i = candidates.swap_remove(j);
                out[i] = 1;
                used += 1;
            }
            out
        }
    }
}

/// go-nsq's starvation test: some connection has messages in flight and
/// at least 85 % of its RDY (a batching consumer should flush). Pairs are
/// (RDY, in flight).
pub fn is_starved(conns: &[(u64, u64)]) -> bool {
    conns
        .iter()
        .any(|&(rdy, in_flight)| in_flight > 0 && in_flight >= (rdy as f64 * 0.85) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        idle: Duration::from_secs(10),
        held: Duration::from_secs(30),
    };

    fn view(rdy: u64) -> ConnView {
        ConnView {
            rdy,
            max_rdy: 2500,
            idle: Duration::ZERO,
            rdy_age: Duration::ZERO,
        }
    }

    fn first(_: usize) -> usize {
        0
    }

    #[test]
    fn shares_are_even_and_bounded() {
        assert_eq!(per_conn_target(200, 3, 2500), 66);
        assert_eq!(per_conn_target(200, 1, 100), 100);
        assert_eq!(per_conn_target(2, 5, 2500), 1);
        assert_eq!(per_conn_target(0, 1, 2500), 0);
        let p = plan(
            200,
            &[view(0), view(0), view(0)],
            Mode::Normal,
            T,
            &mut first,
        );
        assert_eq!(p, vec![66, 66, 66]);
        assert!(p.iter().sum::<u64>() <= 200);
    }

    #[test]
    fn a_new_connection_lowers_the_others() {
        let p = plan(10, &[view(10)], Mode::Normal, T, &mut first);
        assert_eq!(p, vec![10]);
        let p = plan(10, &[view(10), view(0)], Mode::Normal, T, &mut first);
        assert_eq!(p, vec![5, 5]);
    }

    #[test]
    fn more_connections_than_max_in_flight() {
        let conns = [view(0), view(0), view(0), view(0)];
        let p = plan(2, &conns, Mode::Normal, T, &mut first);
        assert_eq!(p.iter().sum::<u64>(), 2);
        assert!(p.iter().all(|&r| r <= 1));
        // A busy holder keeps its RDY; an idle one gives it to another.
        let mut conns = [view(1), view(1), view(0), view(0)];
        conns[1].idle = Duration::from_secs(11);
        let p = plan(2, &conns, Mode::Normal, T, &mut first);
        assert_eq!(p[0], 1);
        assert_eq!(p[1], 0);
        assert_eq!(p.iter().sum::<u64>(), 2);
    }

    #[test]
    fn backoff_and_test_waters() {
        let conns = [view(5), view(5), view(5)];
        assert_eq!(
            plan(15, &conns, Mode::Backoff, T, &mut first),
            vec![0, 0, 0]
        );
        let zero = [view(0), view(0), view(0)];
        let p = plan(15, &zero, Mode::TestWaters, T, &mut |n| n - 1);
        assert_eq!(p, vec![0, 0, 1]);
        assert_eq!(
            plan(15, &conns, Mode::Stopped, T, &mut first),
            vec![0, 0, 0]
        );
    }

    #[test]
    fn starvation() {
        assert!(is_starved(&[(100, 85)]));
        assert!(!is_starved(&[(100, 84), (0, 0)]));
        // RDY 1 (more connections than max_in_flight) or RDY 0 in backoff.
        assert!(is_starved(&[(1, 1)]));
        assert!(is_starved(&[(0, 3)]));
    }
}
