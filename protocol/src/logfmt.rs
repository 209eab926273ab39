//! NSQ's log line format, shared by the daemons
//! (docs/configuration.md#signals-and-logs):
//! `<prefix>YYYY/MM/DD HH:MM:SS.micro LEVEL: message`, and the level names
//! `--log-level` takes. Pure: the daemons own the output.

use std::time::Duration;

/// Log levels in NSQ's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Level {
    /// Debug.
    Debug = 0,
    /// Info.
    Info = 1,
    /// Warning.
    Warn = 2,
    /// Error.
    Error = 3,
    /// Fatal.
    Fatal = 4,
}

impl Level {
    /// Parse NSQ's level names, case-insensitively.
    pub fn parse(s: &str) -> Option<Level> {
        match s.to_ascii_lowercase().as_str() {
            "debug" => Some(Level::Debug),
            "info" => Some(Level::Info),
            "warn" => Some(Level::Warn),
            "error" => Some(Level::Error),
            "fatal" => Some(Level::Fatal),
            _ => None,
        }
    }

    /// The level from its `repr` value (anything above 4 is `Fatal`).
    pub fn from_u8(v: u8) -> Level {
        match v {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warn,
            3 => Level::Error,
            _ => Level::Fatal,
        }
    }

    /// The name in log lines.
    pub fn name(self) -> &'static str {
        match self {
            Level::Debug => "DEBUG",
            Level::Info => "INFO",
            Level::Warn => "WARNING",
            Level::Error => "ERROR",
            Level::Fatal => "FATAL",
        }
    }
}

/// Format a UTC time (since the Unix epoch) as Go's log package does:
/// `YYYY/MM/DD HH:MM:SS.micro`.
pub fn timestamp(since_epoch: Duration) -> String {
    let secs = since_epoch.as_secs() as i64;
    let days = secs.div_euclid(86_400);
    let tod = secs.rem_euclid(86_400);
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}/{m:02}/{d:02} {:02}:{:02}:{:02}.{:06}",
        tod / 3600,
        (tod / 60) % 60,
        tod % 60,
        since_epoch.subsec_micros()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_log_timestamp() {
        // 2024-02-29 13:14:15.000016 UTC.
        let t = Duration::new(1_709_212_455, 16_000);
        assert_eq!(timestamp(t), "2024/02/29 13:14:15.000016");
        assert_eq!(timestamp(Duration::ZERO), "1970/01/01 00:00:00.000000");
    }

    #[test]
    fn levels() {
        assert_eq!(Level::parse("WARN"), Some(Level::Warn));
        assert_eq!(Level::parse("x"), None);
        assert_eq!(Level::from_u8(Level::Error as u8), Level::Error);
        assert_eq!(Level::Warn.name(), "WARNING");
    }
}
