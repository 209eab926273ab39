//! The text form of `/stats` (the default `format`), as nsqd 1.3.0's
//! `printStats` (nsqd/http.go) and `ClientV2Stats.String` (nsqd/client_v2.go)
//! print it, column widths and all, plus the Go formatting helpers it needs:
//! [`go_duration`] (Go's `time.Duration.String`), [`rfc3339_utc`] and
//! [`nanos_to_human`] (NSQ's `stringy.NanoSecondToHuman`).
//!
//! Pure: the current time is an argument.
//!
//! ```text
//! nsqd v1.3.0 (built w/nsqd-rs 0.1.0)
//! start_time 2023-11-14T22:13:20Z
//! uptime 1h2m3s
//!
//! Health: OK
//!
//! Topics:
//!    [orders         ] depth: 5     be-depth: 2     msgs: 20       e2e%: 1.5ms, 2.0us
//!       [archive                  ] depth: 3     be-depth: 1     inflt: 1    def: 2    re-q: 0     timeout: 1     msgs: 12       e2e%: 1.5ms, 2.0us
//!         [V2 worker-1.local:51234 go-nsq/1.1.0] state: 3 inflt: 1    rdy: 10   fin: 11       re-q: 0        msgs: 12       connected: 1h0m0s
//!
//! Producers:
//!    [V2 pub.local:40000 pynsq/0.9.1] msgs: 7        topics: orders=7 connected: 1h0m0s
//! ```

use std::fmt::Write;

use super::stats::{ClientStats, E2eLatency, Stats};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// `/stats` as text. `now_unix` (seconds) gives the uptime and each client's
/// `connected:` time; `build` fills the banner's `(built w/<build>)`, where Go
/// nsqd puts its Go version. The version in the banner is `stats.version`.
///
/// The uptime comes out in whole seconds (`1h2m3s`); Go prints it to the
/// nanosecond (`1h2m3.123456789s`). Use [`render_text_with_uptime`] to pass
/// a finer uptime.
pub fn render_text(stats: &Stats, now_unix: i64, build: &str) -> String {
    let uptime = now_unix
        .saturating_sub(stats.start_time)
        .saturating_mul(NANOS_PER_SEC);
    render_text_with_uptime(stats, now_unix, uptime, build)
}

/// [`render_text`] with an explicit uptime in nanoseconds.
pub fn render_text_with_uptime(
    stats: &Stats,
    now_unix: i64,
    uptime_nanos: i64,
    build: &str,
) -> String {
    let mut w = String::with_capacity(1024);
    let _ = writeln!(w, "nsqd v{} (built w/{})", stats.version, build);
    let _ = writeln!(w, "start_time {}", rfc3339_utc(stats.start_time));
    let _ = writeln!(w, "uptime {}", go_duration(uptime_nanos));
    let _ = writeln!(w, "\nHealth: {}", stats.health);
    if stats.draining {
        // Extension (docs/compatibility.md#draining): absent unless draining.
        w.push_str("Draining: true\n");
    }

    if let Some(ms) = &stats.memory {
        w.push_str("\nMemory:\n");
        for (name, value) in [
            ("heap_objects", ms.heap_objects),
            ("heap_idle_bytes", ms.heap_idle_bytes),
            ("heap_in_use_bytes", ms.heap_in_use_bytes),
            ("heap_released_bytes", ms.heap_released_bytes),
            ("gc_pause_usec_100", ms.gc_pause_usec_100),
            ("gc_pause_usec_99", ms.gc_pause_usec_99),
            ("gc_pause_usec_95", ms.gc_pause_usec_95),
            ("next_gc_bytes", ms.next_gc_bytes),
            ("gc_total_runs", ms.gc_total_runs),
        ] {
            let _ = writeln!(w, "   {name:<25}\t{value}");
        }
    }

    let topics = stats.topics.as_deref().unwrap_or_default();
    if topics.is_empty() {
        w.push_str("\nTopics: None\n");
    } else {
        // No newline: each topic line starts with one.
        w.push_str("\nTopics:");
    }
    for t in topics {
        let prefix = if t.paused { "*P " } else { "   " };
        let _ = writeln!(
            w,
            "\n{prefix}[{:<15}] depth: {:<5} be-depth: {:<5} msgs: {:<8} e2e%: {}",
            t.topic_name,
            t.depth,
            t.backend_depth,
            t.message_count,
            e2e_text(&t.e2e_processing_latency),
        );
        for c in &t.channels {
            let prefix = if c.paused { "   *P " } else { "      " };
            let _ = writeln!(
                w,
                "{prefix}[{:<25}] depth: {:<5} be-depth: {:<5} inflt: {:<4} def: {:<4} re-q: {:<5} \
                 timeout: {:<5} msgs: {:<8} e2e%: {}",
                c.channel_name,
                c.depth,
                c.backend_depth,
                c.in_flight_count,
                c.deferred_count,
                c.requeue_count,
                c.timeout_count,
                c.message_count,
                e2e_text(&c.e2e_processing_latency),
            );
            if let Some(max) = c.max_attempts {
                // Extension (docs/compatibility.md#dead-letters): only for a
                // channel with dead letters configured.
                let _ = writeln!(
                    w,
                    "         max-attempts: {max} dead-letters: {} -> {}",
                    c.dead_letter_count.unwrap_or(0),
                    c.dead_letter_topic.as_deref().unwrap_or("-"),
                );
            }
            for client in c.clients.as_deref().unwrap_or_default() {
                let _ = writeln!(w, "        {}", client_line(client, now_unix));
            }
        }
    }

    let producers = stats.producers.as_deref().unwrap_or_default();
    if producers.is_empty() {
        w.push_str("\nProducers: None\n");
    } else {
        w.push_str("\nProducers:\n");
        for client in producers {
            let _ = writeln!(w, "   {}", client_line(client, now_unix));
        }
    }
    w
}

/// One client as `ClientV2Stats.String` prints it: the producer form when
/// `pub_counts` is non-empty (this holds for a channel's consumer that has
/// also published, as in NSQ), the consumer form otherwise.
pub fn client_line(c: &ClientStats, now_unix: i64) -> String {
    // Go: time.Since(connectTime).Truncate(time.Second); connect_ts is whole seconds.
    let connected = go_duration(
        now_unix
            .saturating_sub(c.connect_ts)
            .saturating_mul(NANOS_PER_SEC),
    );
    let port = split_host_port_port(&c.remote_address);
    let id = format!("{}:{} {}", c.hostname, port, c.user_agent);
    if !c.pub_counts.is_empty() {
        let total = c
            .pub_counts
            .iter()
            .fold(0u64, |acc, p| acc.wrapping_add(p.count));
        let topics: Vec<String> = c
            .pub_counts
            .iter()
            .map(|p| format!("{}={}", p.topic, p.count))
            .collect();
        return format!(
            "[{} {:<21}] msgs: {:<8} topics: {} connected: {}",
            c.version,
            id,
            total,
            topics.join(","),
            connected
        );
    }
    format!(
        "[{} {:<21}] state: {} inflt: {:<4} rdy: {:<4} fin: {:<8} re-q: {:<8} msgs: {:<8} connected: {}",
        c.version,
        id,
        c.state,
        c.in_flight_count,
        c.ready_count,
        c.finish_count,
        c.requeue_count,
        c.message_count,
        connected
    )
}

/// The port part of `host:port` as Go's `net.SplitHostPort` finds it, or ""
/// where it fails (Go ignores the error and prints an empty port).
fn split_host_port_port(hostport: &str) -> &str {
    let Some(i) = hostport.rfind(':') else {
        return "";
    };
    let (j, k) = if hostport.starts_with('[') {
        let Some(end) = hostport.find(']') else {
            return "";
        };
        if end + 1 != i {
            return "";
        }
        (1, end + 1)
    } else {
        if hostport[..i].contains(':') {
            return "";
        }
        (0, 0)
    };
    if hostport[j..].contains('[') || hostport[k..].contains(']') {
        return "";
    }
    &hostport[i + 1..]
}

/// `e2e_processing_latency` as the text form shows it (`quantile.Result.String`):
/// each percentile's value through [`nanos_to_human`], joined by `", "`;
/// empty when percentiles are off, which leaves the trailing space after
/// `e2e%:`, as NSQ's does.
pub fn e2e_text(e: &E2eLatency) -> String {
    let parts: Vec<String> = e
        .percentiles
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|q| nanos_to_human(q.value))
        .collect();
    parts.join(", ")
}

/// NSQ's `stringy.NanoSecondToHuman`: one decimal and the largest unit the
/// value strictly exceeds (`1.5ms`, `999.0ns`, `1000.0ms` for exactly 1 s).
pub fn nanos_to_human(v: f64) -> String {
    let (v, suffix) = if v > 1e9 {
        (v / 1e9, "s")
    } else if v > 1e6 {
        (v / 1e6, "ms")
    } else if v > 1e3 {
        (v / 1e3, "us")
    } else {
        (v, "ns")
    };
    format!("{v:.1}{suffix}")
}

/// Go's `time.Duration.String` for a duration in nanoseconds: `0s`, `1ns`,
/// `1.5µs`, `250ms`, `3.5s`, `1m0s`, `1h2m3.5s`, `-2s`.
pub fn go_duration(nanos: i64) -> String {
    let neg = nanos < 0;
    let u = nanos.unsigned_abs();
    let mut out = String::with_capacity(24);
    if neg {
        out.push('-');
    }
    if u < 1_000_000_000 {
        let (prec, unit) = match u {
            0 => return "0s".into(),
            1..=999 => (0, "ns"),
            1_000..=999_999 => (3, "µs"),
            _ => (6, "ms"),
        };
        let scale = 10u64.pow(prec);
        let _ = write!(out, "{}{}{unit}", u / scale, frac(u % scale, prec));
    } else {
        let secs = u / 1_000_000_000;
        let sub = frac(u % 1_000_000_000, 9);
        let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
        if h > 0 {
            let _ = write!(out, "{h}h{m}m");
        } else if m > 0 {
            let _ = write!(out, "{m}m");
        }
        let _ = write!(out, "{s}{sub}s");
    }
    out
}

/// `v / 10^prec`'s fraction as `.ddd` without trailing zeros; "" when zero.
fn frac(v: u64, prec: u32) -> String {
    if v == 0 {
        return String::new();
    }
    let digits = format!("{v:0width$}", width = prec as usize);
    format!(".{}", digits.trim_end_matches('0'))
}

/// Unix seconds as RFC 3339 in UTC (Go's `Format(time.RFC3339)` for a UTC
/// time): `2023-11-14T22:13:20Z`.
pub fn rfc3339_utc(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let year = if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    };
    format!(
        "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March-based
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::super::stats::{ChannelStats, MemoryStats, PubCount, Quantile, TopicStats};
    use super::*;

    #[test]
    fn durations_as_go_prints_them() {
        let cases: &[(i64, &str)] = &[
            (0, "0s"),
            (1, "1ns"),
            (999, "999ns"),
            (1_000, "1µs"),
            (1_100, "1.1µs"),
            (1_500, "1.5µs"),
            (2_200_000, "2.2ms"),
            (250_000_000, "250ms"),
            (999_999_999, "999.999999ms"),
            (1_000_000_000, "1s"),
            (1_000_000_001, "1.000000001s"),
            (3_500_000_000, "3.5s"),
            (59_000_000_000, "59s"),
            (60_000_000_000, "1m0s"),
            (90_000_000_000, "1m30s"),
            (3_600_000_000_000, "1h0m0s"),
            (3_723_500_000_000, "1h2m3.5s"),
            (100 * 3_600_000_000_000, "100h0m0s"),
            (-1, "-1ns"),
            (-1_500_000_000, "-1.5s"),
            (i64::MAX, "2562047h47m16.854775807s"),
            (i64::MIN, "-2562047h47m16.854775808s"),
        ];
        for &(ns, want) in cases {
            assert_eq!(go_duration(ns), want, "{ns}");
        }
    }

    #[test]
    fn rfc3339() {
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(951_868_799), "2000-02-29T23:59:59Z");
        assert_eq!(rfc3339_utc(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339_utc(1_703_548_800), "2023-12-26T00:00:00Z");
        assert_eq!(rfc3339_utc(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339_utc(-62_135_596_800), "0001-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(253_402_300_799), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn civil_from_days_matches_a_day_by_day_walk() {
        let (mut y, mut m, mut d) = (1970i64, 1u32, 1u32);
        let leap = |y: i64| (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        for days in 0..(400 * 366) {
            assert_eq!(civil_from_days(days), (y, m, d), "{days}");
            let len = match m {
                2 if leap(y) => 29,
                2 => 28,
                4 | 6 | 9 | 11 => 30,
                _ => 31,
            };
            d += 1;
            if d > len {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }

    #[test]
    fn human_nanos_as_nsq() {
        assert_eq!(nanos_to_human(500.0), "500.0ns");
        assert_eq!(nanos_to_human(1000.0), "1000.0ns");
        assert_eq!(nanos_to_human(1500.0), "1.5us");
        assert_eq!(nanos_to_human(1_500_000.0), "1.5ms");
        assert_eq!(nanos_to_human(1_000_000_000.0), "1000.0ms");
        assert_eq!(nanos_to_human(1_500_000_000.0), "1.5s");
        assert_eq!(nanos_to_human(0.0), "0.0ns");
        assert_eq!(nanos_to_human(2_034.5), "2.0us");
        // Go rounds ties to even on the exact binary value, as Rust does.
        assert_eq!(nanos_to_human(250_250.0), "250.2us");
        assert_eq!(nanos_to_human(250_750.0), "250.8us");
    }

    #[test]
    fn host_port_split_as_go() {
        assert_eq!(split_host_port_port("10.0.0.5:51234"), "51234");
        assert_eq!(split_host_port_port("[::1]:4150"), "4150");
        assert_eq!(split_host_port_port("::1:4150"), "");
        assert_eq!(split_host_port_port("@"), "");
        assert_eq!(split_host_port_port("host"), "");
        assert_eq!(split_host_port_port("[::1]"), "");
        assert_eq!(split_host_port_port("h:"), "");
    }

    fn consumer() -> ClientStats {
        ClientStats {
            client_id: "worker-1".into(),
            hostname: "worker-1.local".into(),
            version: "V2".into(),
            remote_address: "10.0.0.5:51234".into(),
            state: 3,
            ready_count: 10,
            in_flight_count: 1,
            message_count: 12,
            finish_count: 11,
            connect_ts: 1_700_000_000,
            user_agent: "go-nsq/1.1.0".into(),
            ..ClientStats::default()
        }
    }

    fn latency() -> E2eLatency {
        E2eLatency {
            count: 12,
            percentiles: Some(vec![
                Quantile {
                    quantile: 0.99,
                    value: 1_500_000.0,
                },
                Quantile {
                    quantile: 1.0,
                    value: 2_034.5,
                },
            ]),
        }
    }

    fn full() -> Stats {
        Stats {
            version: "1.3.0".into(),
            health: "OK".into(),
            draining: false,
            start_time: 1_700_000_000,
            topics: Some(vec![
                TopicStats {
                    topic_name: "orders".into(),
                    channels: vec![
                        ChannelStats {
                            channel_name: "archive".into(),
                            depth: 3,
                            backend_depth: 1,
                            in_flight_count: 1,
                            deferred_count: 2,
                            message_count: 12,
                            timeout_count: 1,
                            client_count: 1,
                            clients: Some(vec![consumer()]),
                            e2e_processing_latency: latency(),
                            ..ChannelStats::default()
                        },
                        ChannelStats {
                            channel_name: "audit#ephemeral".into(),
                            paused: true,
                            clients: Some(vec![]),
                            ..ChannelStats::default()
                        },
                    ],
                    depth: 5,
                    backend_depth: 2,
                    message_count: 20,
                    message_bytes: 2048,
                    e2e_processing_latency: latency(),
                    ..TopicStats::default()
                },
                TopicStats {
                    topic_name: "a-very-long-topic-name".into(),
                    paused: true,
                    ..TopicStats::default()
                },
            ]),
            memory: Some(MemoryStats {
                heap_objects: 1234,
                next_gc_bytes: 4_194_304,
                ..MemoryStats::default()
            }),
            producers: Some(vec![ClientStats {
                hostname: "pub.local".into(),
                remote_address: "10.0.0.6:40000".into(),
                user_agent: "pynsq/0.9.1".into(),
                connect_ts: 1_700_003_000,
                pub_counts: vec![
                    PubCount {
                        topic: "orders".into(),
                        count: 7,
                    },
                    PubCount {
                        topic: "audit".into(),
                        count: 2,
                    },
                ],
                ..consumer()
            }]),
        }
    }

    #[test]
    fn golden_full() {
        let got = render_text(&full(), 1_700_003_723, "nsqd-rs 0.1.0");
        let want = concat!(
            "nsqd v1.3.0 (built w/nsqd-rs 0.1.0)\n",
            "start_time 2023-11-14T22:13:20Z\n",
            "uptime 1h2m3s\n",
            "\n",
            "Health: OK\n",
            "\n",
            "Memory:\n",
            "   heap_objects             \t1234\n",
            "   heap_idle_bytes          \t0\n",
            "   heap_in_use_bytes        \t0\n",
            "   heap_released_bytes      \t0\n",
            "   gc_pause_usec_100        \t0\n",
            "   gc_pause_usec_99         \t0\n",
            "   gc_pause_usec_95         \t0\n",
            "   next_gc_bytes            \t4194304\n",
            "   gc_total_runs            \t0\n",
            "\n",
            "Topics:\n",
            "   [orders         ] depth: 5     be-depth: 2     msgs: 20       e2e%: 1.5ms, 2.0us\n",
            "      [archive                  ] depth: 3     be-depth: 1     inflt: 1    def: 2    ",
            "re-q: 0     timeout: 1     msgs: 12       e2e%: 1.5ms, 2.0us\n",
            "        [V2 worker-1.local:51234 go-nsq/1.1.0] state: 3 inflt: 1    rdy: 10   ",
            "fin: 11       re-q: 0        msgs: 12       connected: 1h2m3s\n",
            "   *P [audit#ephemeral          ] depth: 0     be-depth: 0     inflt: 0    def: 0    ",
            "re-q: 0     timeout: 0     msgs: 0        e2e%: \n",
            "\n",
            "*P [a-very-long-topic-name] depth: 0     be-depth: 0     msgs: 0        e2e%: \n",
            "\n",
            "Producers:\n",
            "   [V2 pub.local:40000 pynsq/0.9.1] msgs: 9        topics: orders=7,audit=2 connected: 12m3s\n",
        );
        assert_eq!(got, want);
    }

    #[test]
    fn extensions_print_only_when_set() {
        let mut s = full();
        let plain = render_text(&s, 1_700_003_723, "go1.21.5");
        assert!(!plain.contains("Draining") && !plain.contains("max-attempts"));
        s.draining = true;
        let topics = s.topics.as_mut().unwrap();
        let c = &mut topics[0].channels[0];
        c.max_attempts = Some(5);
        c.dead_letter_topic = Some("orders.archive.dead".into());
        c.dead_letter_count = Some(3);
        let text = render_text(&s, 1_700_003_723, "go1.21.5");
        assert!(text.contains("\nHealth: OK\nDraining: true\n"), "{text}");
        let channel_line = text.lines().position(|l| l.contains("[archive")).unwrap();
        assert_eq!(
            text.lines().nth(channel_line + 1).unwrap(),
            "         max-attempts: 5 dead-letters: 3 -> orders.archive.dead"
        );
        // Everything else is the same.
        let without: String = text
            .lines()
            .filter(|l| !l.starts_with("Draining") && !l.contains("max-attempts"))
            .map(|l| format!("{l}\n"))
            .collect();
        assert_eq!(without, plain);
    }

    #[test]
    fn golden_empty() {
        // include_mem=false, no topics, no producers (topics [] or null alike).
        for topics in [None, Some(vec![])] {
            let s = Stats {
                version: "1.3.0".into(),
                health: "NOK - disk full".into(),
                draining: false,
                start_time: 1_700_000_000,
                topics,
                memory: None,
                producers: None,
            };
            let want = concat!(
                "nsqd v1.3.0 (built w/go1.21.5)\n",
                "start_time 2023-11-14T22:13:20Z\n",
                "uptime 0s\n",
                "\n",
                "Health: NOK - disk full\n",
                "\n",
                "Topics: None\n",
                "\n",
                "Producers: None\n",
            );
            assert_eq!(render_text(&s, 1_700_000_000, "go1.21.5"), want);
        }
    }

    #[test]
    fn fine_uptime_and_padding() {
        let s = Stats {
            version: "1.3.0".into(),
            start_time: 0,
            ..Stats::default()
        };
        let got = render_text_with_uptime(&s, 0, 3_723_456_789_012, "x");
        assert!(got.contains("\nuptime 1h2m3.456789012s\n"), "{got}");
        // A short id (here "h:5 ": the user agent is empty) is padded to 21 characters; a consumer that also published
        // shows in the producer form, as in NSQ.
        let c = ClientStats {
            version: "V2".into(),
            hostname: "h".into(),
            remote_address: "1.2.3.4:5".into(),
            connect_ts: 10,
            ..ClientStats::default()
        };
        assert_eq!(
            client_line(&c, 10),
            "[V2 h:5                  ] state: 0 inflt: 0    rdy: 0    fin: 0        re-q: 0        msgs: 0        connected: 0s"
        );
        let p = ClientStats {
            pub_counts: vec![PubCount {
                topic: "t".into(),
                count: 1,
            }],
            ..c
        };
        assert_eq!(
            client_line(&p, 70),
            "[V2 h:5                  ] msgs: 1        topics: t=1 connected: 1m0s"
        );
        // Padding counts characters, as Go's %-15s counts runes.
        let t = TopicStats {
            topic_name: "é".into(),
            ..TopicStats::default()
        };
        let s = Stats {
            topics: Some(vec![t]),
            ..Stats::default()
        };
        assert!(render_text(&s, 0, "x").contains("   [é              ] depth"));
    }
}
