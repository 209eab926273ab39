//! One monotonic clock for the whole process, and the open-loop rate
//! schedule.
//!
//! Producer and consumer run in the same process, so a timestamp taken by
//! one and read back by the other (from the message body) is on the same
//! clock: nanoseconds since [`now_ns`]'s first call.
//!
//! The schedule is the coordinated-omission fix: message `i` is *intended*
//! to go out at `start + i * interval`, whatever happened to message `i-1`.
//! Latency is measured from that intended time, so a broker stall that
//! makes the generator late shows up in the percentiles (and in the
//! separate send delay) instead of silently slowing the generator.
//!
//! A schedule may also send in bursts: `burst` messages share one intended
//! time, and bursts are `burst` intervals apart (the same average rate),
//! so every burst arrives on a connection that has been idle since the
//! last one.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

static EPOCH: OnceLock<Instant> = OnceLock::new();

/// Nanoseconds since the process's bench epoch (monotonic).
pub fn now_ns() -> u64 {
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_nanos() as u64
}

/// A fixed-rate schedule: which messages are due, and when each was
/// intended to be sent. Pure arithmetic on nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    /// Clock time of message 0.
    pub start_ns: u64,
    /// Nanoseconds between consecutive messages (may be fractional).
    pub interval_ns: f64,
    /// Messages sent together at one intended time (1 = evenly spaced).
    pub burst: u64,
}

impl Schedule {
    /// A schedule of `rate` messages per second starting at `start_ns`.
    /// `rate` must be positive.
    pub fn new(start_ns: u64, rate: f64) -> Schedule {
        Schedule {
            start_ns,
            interval_ns: 1e9 / rate.max(1e-9),
            burst: 1,
        }
    }

    /// The same average rate, sent `burst` messages at a time.
    pub fn in_bursts_of(self, burst: u64) -> Schedule {
        Schedule {
            burst: burst.max(1),
            ..self
        }
    }

    /// The intended send time of message `i`.
    pub fn intended(&self, i: u64) -> u64 {
        let first_of_burst = i - i % self.burst;
        self.start_ns + (first_of_burst as f64 * self.interval_ns) as u64
    }

    /// How many messages are due at clock time `now` (messages
    /// `0..due(now)` have intended times `<= now`).
    pub fn due(&self, now: u64) -> u64 {
        if now < self.start_ns {
            return 0;
        }
        let bursts = ((now - self.start_ns) as f64 / (self.interval_ns * self.burst as f64)) as u64;
        (bursts + 1) * self.burst
    }

    /// How long to wait at `now` before message `next` is due (zero when
    /// it is already due).
    pub fn wait_for(&self, next: u64, now: u64) -> Duration {
        Duration::from_nanos(self.intended(next).saturating_sub(now))
    }
}

/// How the open-loop generator waits between sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pacing {
    /// Busy-wait (yielding) this long before a due time, for precision.
    pub spin_ns: u64,
    /// Never sleep shorter than this: above `1 / min_sleep` msg/s the
    /// generator wakes once per `min_sleep` and sends everything due, which
    /// saves a wake-up per message (the CPU the broker needs on a small
    /// machine) at the cost of up to `min_sleep` of send delay, which is
    /// measured.
    pub min_sleep_ns: u64,
}

impl Pacing {
    /// When to wake up at `now` if the next message is due at `due`.
    pub fn wake_at(&self, due: u64, now: u64) -> u64 {
        due.max(now + self.min_sleep_ns)
    }
}

/// Sleep until clock time `deadline_ns`: a plain sleep for most of the
/// gap, then `spin_ns` of yielding busy-wait for precision (0 = no spin;
/// spinning costs CPU the broker may need on a small machine).
pub fn sleep_until(deadline_ns: u64, spin_ns: u64) {
    loop {
        let now = now_ns();
        if now >= deadline_ns {
            return;
        }
        let left = deadline_ns - now;
        if left > spin_ns {
            std::thread::sleep(Duration::from_nanos(left - spin_ns));
        } else {
            std::thread::yield_now();
        }
    }
}

/// Ask the kernel for 1 ns timer slack on this thread, so short sleeps end
/// on time (the default slack is 50 us). Best effort.
pub fn tighten_timer_slack() {
    // SAFETY: prctl(PR_SET_TIMERSLACK) takes an integer and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intended_times_are_evenly_spaced() {
        let s = Schedule::new(1_000, 1_000.0); // 1 ms apart
        assert_eq!(s.intended(0), 1_000);
        assert_eq!(s.intended(1), 1_001_000);
        assert_eq!(s.intended(1000), 1_000_001_000);
    }

    #[test]
    fn due_counts_messages_whose_time_has_come() {
        let s = Schedule::new(1_000, 1_000.0);
        assert_eq!(s.due(0), 0);
        assert_eq!(s.due(999), 0);
        assert_eq!(s.due(1_000), 1);
        assert_eq!(s.due(1_000_999), 1);
        assert_eq!(s.due(1_001_000), 2);
        // A late generator finds a burst due at once: no omission.
        assert_eq!(s.due(1_000 + 10_000_000), 11);
    }

    #[test]
    fn fractional_intervals_do_not_drift() {
        let s = Schedule::new(0, 3_000_000.0); // 333.33 ns
        assert_eq!(s.due(1_000_000_000), 3_000_001);
        assert!(s.intended(3_000_000) <= 1_000_000_000);
    }

    #[test]
    fn bursts_share_one_intended_time_at_the_same_average_rate() {
        let s = Schedule::new(1_000, 1_000.0).in_bursts_of(100); // 100 every 100 ms
        assert_eq!(s.intended(0), 1_000);
        assert_eq!(s.intended(99), 1_000);
        assert_eq!(s.intended(100), 100_001_000);
        assert_eq!(s.due(999), 0);
        assert_eq!(s.due(1_000), 100);
        assert_eq!(s.due(100_000_999), 100);
        assert_eq!(s.due(100_001_000), 200);
        assert_eq!(s.wait_for(100, 1_000), Duration::from_millis(100));
        assert_eq!(
            Schedule::new(0, 10.0).in_bursts_of(0),
            Schedule::new(0, 10.0)
        );
    }

    #[test]
    fn wait_for_is_zero_when_due() {
        let s = Schedule::new(0, 1_000.0);
        assert_eq!(s.wait_for(1, 0), Duration::from_millis(1));
        assert_eq!(s.wait_for(1, 5_000_000), Duration::ZERO);
    }

    #[test]
    fn pacing_batches_short_gaps_only() {
        let p = Pacing {
            spin_ns: 0,
            min_sleep_ns: 50_000,
        };
        // 1k/s: the gap is longer than the minimum, wake on time.
        assert_eq!(p.wake_at(1_000_000, 0), 1_000_000);
        // 100k/s: a 10 us gap becomes a 50 us tick.
        assert_eq!(p.wake_at(10_000, 0), 50_000);
        assert_eq!(Pacing::default().wake_at(10_000, 0), 10_000);
    }

    #[test]
    fn clock_is_monotonic() {
        let a = now_ns();
        let b = now_ns();
        assert!(b >= a);
    }
}
