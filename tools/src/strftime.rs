//! `--datetime-format` for nsq_to_file: the strftime subset NSQ supports
//! (`%Y %y %m %d %H %I %M %S %p %a %A %b %B %Z %z %%`), in local time
//! (libc `localtime_r` for the zone rules).

const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Broken-down local time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tm {
    /// Year, e.g. 2024.
    pub year: i32,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=60.
    pub second: u32,
    /// 0 = Sunday.
    pub weekday: u32,
    /// Seconds east of UTC.
    pub offset: i64,
    /// Zone abbreviation.
    pub zone: String,
}

/// The local time of `unix` seconds.
#[allow(unsafe_code)]
pub fn local(unix: i64) -> Tm {
    let t: libc::time_t = unix as libc::time_t;
    // SAFETY: `tm` is a plain C struct that localtime_r fills in; `t` and
    // `tm` outlive the call.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return Tm {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            weekday: 4,
            offset: 0,
            zone: "UTC".into(),
        };
    }
    let zone = if tm.tm_zone.is_null() {
        String::new()
    } else {
        // SAFETY: tm_zone points to a NUL-terminated static zone name.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    Tm {
        year: tm.tm_year + 1900,
        month: (tm.tm_mon + 1) as u32,
        day: tm.tm_mday as u32,
        hour: tm.tm_hour as u32,
        minute: tm.tm_min as u32,
        second: tm.tm_sec as u32,
        weekday: tm.tm_wday as u32,
        offset: tm.tm_gmtoff,
        zone,
    }
}

/// Local time now.
pub fn now() -> Tm {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    local(secs)
}

/// Format `tm` with NSQ's strftime subset; other `%x` pass through.
pub fn format(fmt: &str, tm: &Tm) -> String {
    let mut out = String::new();
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let Some(d) = chars.next() else {
            out.push('%');
            break;
        };
        let s = match d {
            'Y' => format!("{:04}", tm.year),
            'y' => format!("{:02}", tm.year.rem_euclid(100)),
            'm' => format!("{:02}", tm.month),
            'd' => format!("{:02}", tm.day),
            'H' => format!("{:02}", tm.hour),
            'I' => format!("{:02}", (tm.hour + 11) % 12 + 1),
            'M' => format!("{:02}", tm.minute),
            'S' => format!("{:02}", tm.second),
            'p' => (if tm.hour < 12 { "AM" } else { "PM" }).to_string(),
            'a' => DAYS[tm.weekday as usize % 7][..3].to_string(),
            'A' => DAYS[tm.weekday as usize % 7].to_string(),
            'b' => MONTHS[(tm.month as usize + 11) % 12][..3].to_string(),
            'B' => MONTHS[(tm.month as usize + 11) % 12].to_string(),
            'Z' => tm.zone.clone(),
            'z' => {
                let sign = if tm.offset < 0 { '-' } else { '+' };
                let m = tm.offset.abs() / 60;
                format!("{sign}{:02}{:02}", m / 60, m % 60)
            }
            '%' => "%".to_string(),
            other => format!("%{other}"),
        };
        out.push_str(&s);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subset() {
        let tm = Tm {
            year: 2024,
            month: 3,
            day: 5,
            hour: 14,
            minute: 7,
            second: 9,
            weekday: 2,
            offset: -(5 * 3600 + 30 * 60),
            zone: "XST".into(),
        };
        assert_eq!(format("%Y-%m-%d_%H", &tm), "2024-03-05_14");
        assert_eq!(
            format("%y %I%p %M:%S %a %A %b %B %Z %z %% %q", &tm),
            "24 02PM 07:09 Tue Tuesday Mar March XST -0530 % %q"
        );
        let e = local(0);
        assert!(e.year == 1970 || e.year == 1969);
    }
}
