//! `GET /metrics` (an extension, docs/compatibility.md#metrics): nsqd's
//! `/stats` in the Prometheus text exposition format, version 0.0.4
//! (`Content-Type: text/plain; version=0.0.4; charset=utf-8`).
//!
//! Names are `nsq_topic_<stat>` and `nsq_channel_<stat>` after the `/stats`
//! JSON keys (and statsd names, docs/http-api.md#statsd), with `_total` added
//! to the counters as Prometheus names them:
//!
//! | family | type | labels |
//! |---|---|---|
//! | `nsq_topic_depth`, `nsq_topic_backend_depth`, `nsq_topic_paused` | gauge | `topic` |
//! | `nsq_topic_message_count_total`, `nsq_topic_message_bytes_total` | counter | `topic` |
//! | `nsq_topic_e2e_processing_latency_seconds` | summary | `topic`, `quantile` |
//! | `nsq_channel_depth`, `nsq_channel_backend_depth`, `nsq_channel_in_flight_count`, `nsq_channel_deferred_count`, `nsq_channel_client_count`, `nsq_channel_paused` | gauge | `topic`, `channel` |
//! | `nsq_channel_message_count_total`, `nsq_channel_requeue_count_total`, `nsq_channel_timeout_count_total` | counter | `topic`, `channel` |
//! | `nsq_channel_e2e_processing_latency_seconds` | summary | `topic`, `channel`, `quantile` |
//! | `nsq_channel_max_attempts`, `nsq_channel_dead_letter_topic_info` (extension: only channels with dead letters configured) | gauge | `topic`, `channel` (`dead_letter_topic` for the info) |
//! | `nsq_channel_dead_letter_count_total` (likewise) | counter | `topic`, `channel` |
//! | `process_resident_memory_bytes`, `process_start_time_seconds`, `process_open_fds` | gauge | — |
//! | `process_cpu_seconds_total` | counter | — |
//!
//! The e2e summaries carry NSQ's percentiles converted from nanoseconds to
//! seconds, and only when percentiles are configured
//! (`--e2e-processing-latency-percentile`). They have no `_sum` and no
//! `_count`: NSQ keeps no sum, and its `count` is the number of samples in the
//! sliding window, which falls as well as rises, so exposing it as a
//! summary's (monotonic) `_count` would mislead `rate()`.
//!
//! Counters are as NSQ keeps them: they restart from 0 when nsqd restarts
//! (Prometheus treats that as a counter reset) and a topic or channel that is
//! deleted simply disappears from the output.

use std::fmt::Write;

use super::stats::{ChannelStats, E2eLatency, Stats, TopicStats};

/// Process figures the caller reads from the OS (this crate does no I/O), in
/// the units of Prometheus's standard `process_*` metrics.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ProcessFigures {
    /// Resident set size, bytes (`process_resident_memory_bytes`).
    pub rss_bytes: u64,
    /// User + system CPU time, seconds (`process_cpu_seconds_total`).
    pub cpu_seconds: f64,
    /// Process start, Unix seconds (`process_start_time_seconds`).
    pub start_time_unix: f64,
    /// Open file descriptors (`process_open_fds`).
    pub open_fds: u64,
}

/// Name, type, HELP text and value of a per-topic or per-channel family.
type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> String);

const TOPIC_FAMILIES: &[Family<TopicStats>] = &[
    (
        "nsq_topic_depth",
        "gauge",
        "Messages queued in the topic, in memory and on disk.",
        |t| t.depth.to_string(),
    ),
    (
        "nsq_topic_backend_depth",
        "gauge",
        "Messages queued in the topic on disk.",
        |t| t.backend_depth.to_string(),
    ),
    (
        "nsq_topic_paused",
        "gauge",
        "1 if the topic is paused.",
        |t| u8::from(t.paused).to_string(),
    ),
    (
        "nsq_topic_message_count_total",
        "counter",
        "Messages published to the topic since nsqd started.",
        |t| t.message_count.to_string(),
    ),
    (
        "nsq_topic_message_bytes_total",
        "counter",
        "Message body bytes published to the topic since nsqd started.",
        |t| t.message_bytes.to_string(),
    ),
];

const CHANNEL_FAMILIES: &[Family<ChannelStats>] = &[
    (
        "nsq_channel_depth",
        "gauge",
        "Messages queued in the channel, in memory and on disk.",
        |c| c.depth.to_string(),
    ),
    (
        "nsq_channel_backend_depth",
        "gauge",
        "Messages queued in the channel on disk.",
        |c| c.backend_depth.to_string(),
    ),
    (
        "nsq_channel_in_flight_count",
        "gauge",
        "Messages sent to a consumer and not yet finished, requeued or timed out.",
        |c| c.in_flight_count.to_string(),
    ),
    (
        "nsq_channel_deferred_count",
        "gauge",
        "Messages deferred (DPUB or REQ with a delay) and not yet due.",
        |c| c.deferred_count.to_string(),
    ),
    (
        "nsq_channel_client_count",
        "gauge",
        "Consumers connected to the channel.",
        |c| c.client_count.to_string(),
    ),
    (
        "nsq_channel_paused",
        "gauge",
        "1 if the channel is paused.",
        |c| u8::from(c.paused).to_string(),
    ),
    (
        "nsq_channel_message_count_total",
        "counter",
        "Messages the channel received from its topic since nsqd started.",
        |c| c.message_count.to_string(),
    ),
    (
        "nsq_channel_requeue_count_total",
        "counter",
        "Messages requeued by consumers (REQ) since nsqd started.",
        |c| c.requeue_count.to_string(),
    ),
    (
        "nsq_channel_timeout_count_total",
        "counter",
        "In-flight messages that timed out since nsqd started.",
        |c| c.timeout_count.to_string(),
    ),
];

/// nsqd's `/metrics` body: topic and channel families from `stats` (topics
/// and channels in the order given, which is `/stats`'s name order), then the
/// process families. `stats.topics == None` yields no topic or channel lines.
pub fn render_prometheus(stats: &Stats, extra: &ProcessFigures) -> String {
    let mut out = String::with_capacity(4096);
    let topics = stats.topics.as_deref().unwrap_or_default();

    for (name, kind, help, get) in TOPIC_FAMILIES {
        let samples: Vec<_> = topics
            .iter()
            .map(|t| (series(name, &[("topic", &t.topic_name)]), get(t)))
            .collect();
        family(&mut out, name, kind, help, &samples);
    }

    let channels: Vec<_> = topics
        .iter()
        .flat_map(|t| t.channels.iter().map(move |c| (t.topic_name.as_str(), c)))
        .collect();
    for (name, kind, help, get) in CHANNEL_FAMILIES {
        let samples: Vec<_> = channels
            .iter()
            .map(|(t, c)| {
                (
                    series(name, &[("topic", t), ("channel", &c.channel_name)]),
                    get(c),
                )
            })
            .collect();
        family(&mut out, name, kind, help, &samples);
    }

    dead_letter_families(&mut out, &channels);

    let mut samples = Vec::new();
    for t in topics {
        quantiles(
            &mut samples,
            "nsq_topic_e2e_processing_latency_seconds",
            &[("topic", &t.topic_name)],
            &t.e2e_processing_latency,
        );
    }
    family(
        &mut out,
        "nsq_topic_e2e_processing_latency_seconds",
        "summary",
        "End-to-end latency from publish to FIN, over all the topic's channels, by quantile.",
        &samples,
    );
    let mut samples = Vec::new();
    for (t, c) in &channels {
        quantiles(
            &mut samples,
            "nsq_channel_e2e_processing_latency_seconds",
            &[("topic", t), ("channel", &c.channel_name)],
            &c.e2e_processing_latency,
        );
    }
    family(
        &mut out,
        "nsq_channel_e2e_processing_latency_seconds",
        "summary",
        "End-to-end latency from publish to FIN on the channel, by quantile.",
        &samples,
    );

    out.push_str(&render_process_metrics(extra));
    out
}

/// The dead-letter families (an extension, docs/compatibility.md#dead-letters),
/// for the channels that show dead-letter figures in `/stats` only: with
/// none (the default) nothing is written.
fn dead_letter_families(out: &mut String, channels: &[(&str, &ChannelStats)]) {
    let labels = |t: &str, c: &ChannelStats| {
        vec![
            ("topic", t.to_string()),
            ("channel", c.channel_name.clone()),
        ]
    };
    let mut max = Vec::new();
    let mut count = Vec::new();
    let mut info = Vec::new();
    for (t, c) in channels {
        let l = labels(t, c);
        let l: Vec<(&str, &str)> = l.iter().map(|(k, v)| (*k, v.as_str())).collect();
        if let Some(m) = c.max_attempts {
            max.push((series("nsq_channel_max_attempts", &l), m.to_string()));
        }
        if let Some(n) = c.dead_letter_count {
            count.push((
                series("nsq_channel_dead_letter_count_total", &l),
                n.to_string(),
            ));
        }
        if let Some(d) = &c.dead_letter_topic {
            let mut with = l.clone();
            with.push(("dead_letter_topic", d));
            info.push((
                series("nsq_channel_dead_letter_topic_info", &with),
                "1".to_string(),
            ));
        }
    }
    family(
        out,
        "nsq_channel_max_attempts",
        "gauge",
        "Deliveries after which a message that times out or is requeued goes to the dead-letter topic (0: no limit).",
        &max,
    );
    family(
        out,
        "nsq_channel_dead_letter_count_total",
        "counter",
        "Messages moved to the dead-letter topic since nsqd started.",
        &count,
    );
    family(
        out,
        "nsq_channel_dead_letter_topic_info",
        "gauge",
        "The channel's dead-letter topic (always 1).",
        &info,
    );
}

/// The four `process_*` families alone, for servers with no `/stats` of
/// their own (nsqlookupd, nsqadmin).
pub fn render_process_metrics(extra: &ProcessFigures) -> String {
    let mut out = String::with_capacity(512);
    let one = |name: &str, value: String| vec![(name.to_string(), value)];
    family(
        &mut out,
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        &one("process_cpu_seconds_total", fmt_f64(extra.cpu_seconds)),
    );
    family(
        &mut out,
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        &one("process_open_fds", extra.open_fds.to_string()),
    );
    family(
        &mut out,
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        &one("process_resident_memory_bytes", extra.rss_bytes.to_string()),
    );
    family(
        &mut out,
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        &one("process_start_time_seconds", fmt_f64(extra.start_time_unix)),
    );
    out
}

/// Appends one sample per configured percentile, converted to seconds.
fn quantiles(
    samples: &mut Vec<(String, String)>,
    name: &str,
    labels: &[(&str, &str)],
    e2e: &E2eLatency,
) {
    for q in e2e.percentiles.as_deref().unwrap_or_default() {
        let quantile = fmt_f64(q.quantile);
        let mut all = labels.to_vec();
        all.push(("quantile", &quantile));
        samples.push((series(name, &all), fmt_f64(q.value / 1e9)));
    }
}

/// `# HELP`, `# TYPE` and the samples of one family; nothing at all when it
/// has no samples.
fn family(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(String, String)]) {
    if samples.is_empty() {
        return;
    }
    let _ = writeln!(out, "# HELP {name} {}", escape_help(help));
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for (series, value) in samples {
        let _ = writeln!(out, "{series} {value}");
    }
}

/// `name{k="v",...}` with label values escaped.
fn series(name: &str, labels: &[(&str, &str)]) -> String {
    let mut s = String::from(name);
    if !labels.is_empty() {
        s.push('{');
        for (i, (k, v)) in labels.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            let _ = write!(s, "{k}=\"{}\"", escape_label_value(v));
        }
        s.push('}');
    }
    s
}

/// A label value per the exposition format: `\`, `"` and line feed escaped.
pub fn escape_label_value(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for ch in v.chars() {
        match ch {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

/// HELP text per the exposition format: `\` and line feed escaped.
fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

/// A sample value: Go's `ParseFloat` syntax, with `NaN`, `+Inf`, `-Inf`.
fn fmt_f64(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf" } else { "-Inf" }.into()
    } else {
        // Rust's Display: shortest round-trip digits, never an exponent.
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};

    use super::super::stats::Quantile;
    use super::*;

    #[derive(Debug, PartialEq)]
    enum Line {
        Help {
            name: String,
            text: String,
        },
        Type {
            name: String,
            kind: String,
        },
        Sample {
            name: String,
            labels: Vec<(String, String)>,
            value: String,
        },
    }

    fn valid_name(n: &str) -> bool {
        let mut chars = n.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
    }

    /// A strict reader for what `render_prometheus` writes.
    fn parse(text: &str) -> Vec<Line> {
        assert!(text.is_empty() || text.ends_with('\n'), "no final newline");
        let mut lines = Vec::new();
        for line in text.lines() {
            assert!(!line.is_empty(), "blank line");
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let (name, text) = rest.split_once(' ').unwrap();
                lines.push(Line::Help {
                    name: name.into(),
                    text: text.into(),
                });
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(
                    ["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind),
                    "{line}"
                );
                lines.push(Line::Type {
                    name: name.into(),
                    kind: kind.into(),
                });
            } else {
                lines.push(parse_sample(line));
            }
        }
        lines
    }

    fn parse_sample(line: &str) -> Line {
        let name_end = line.find(['{', ' ']).expect("sample without value");
        let name = &line[..name_end];
        let rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            return finish_labels(name, Vec::new(), r, line);
        }
        let value = rest.strip_prefix(' ').expect("space before value");
        check_value(value, line);
        Line::Sample {
            name: name.into(),
            labels: Vec::new(),
            value: value.into(),
        }
    }

    /// Reads `k="v",...}` and the value after it.
    fn finish_labels(name: &str, mut labels: Vec<(String, String)>, r: &str, line: &str) -> Line {
        let mut r = r;
        loop {
            let eq = r.find('=').unwrap();
            let key = r[..eq].to_string();
            assert!(valid_name(&key), "{line}");
            assert!(r[eq + 1..].starts_with('"'), "{line}");
            let body = &r[eq + 2..];
            let mut value = String::new();
            let mut it = body.char_indices();
            let end = loop {
                let (i, c) = it.next().expect("unterminated label value");
                match c {
                    '\\' => match it.next().unwrap().1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other} in {line}"),
                    },
                    '"' => break i + 1,
                    c => value.push(c),
                }
            };
            labels.push((key, value));
            let after = &body[end..];
            if let Some(next) = after.strip_prefix(',') {
                r = next;
            } else if let Some(tail) = after.strip_prefix('}') {
                let value = tail.strip_prefix(' ').expect("space before value");
                check_value(value, line);
                return Line::Sample {
                    name: name.into(),
                    labels,
                    value: value.into(),
                };
            } else {
                panic!("unexpected {after:?} in {line}");
            }
        }
    }

    fn check_value(value: &str, line: &str) {
        assert!(
            value.parse::<f64>().is_ok() || ["NaN", "+Inf", "-Inf"].contains(&value),
            "bad value in {line}"
        );
    }

    /// Checks the grouping rules and returns samples by series key.
    fn check(text: &str) -> (Vec<Line>, HashMap<String, String>, HashMap<String, String>) {
        let lines = parse(text);
        let mut seen_families = HashSet::new();
        let mut types = HashMap::new();
        let mut current: Option<(String, String)> = None;
        let mut samples = HashMap::new();
        let mut i = 0;
        while i < lines.len() {
            match &lines[i] {
                Line::Help { name, text } => {
                    assert!(valid_name(name), "{name}");
                    assert!(!text.is_empty());
                    assert!(
                        seen_families.insert(name.clone()),
                        "family {name} appears twice"
                    );
                    match &lines[i + 1] {
                        Line::Type { name: n, kind } if n == name => {
                            types.insert(name.clone(), kind.clone());
                            current = Some((name.clone(), kind.clone()));
                        }
                        other => panic!("HELP {name} not followed by its TYPE: {other:?}"),
                    }
                    i += 2;
                    // A family has at least one sample.
                    assert!(
                        matches!(lines.get(i), Some(Line::Sample { .. })),
                        "{name} has no samples"
                    );
                }
                Line::Type { name, .. } => panic!("TYPE {name} without HELP"),
                Line::Sample {
                    name,
                    labels,
                    value,
                } => {
                    let (family, kind) = current.as_ref().expect("sample before any TYPE");
                    assert!(valid_name(name), "{name}");
                    let belongs = name == family
                        || (kind == "summary"
                            && [format!("{family}_sum"), format!("{family}_count")].contains(name));
                    assert!(belongs, "{name} inside family {family}");
                    if kind == "summary" && name == family {
                        assert_eq!(labels.last().unwrap().0, "quantile", "{name}");
                    }
                    let key = format!(
                        "{name}{{{}}}",
                        labels
                            .iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    );
                    assert!(
                        samples.insert(key.clone(), value.clone()).is_none(),
                        "duplicate series {key}"
                    );
                    i += 1;
                }
            }
        }
        (lines, samples, types)
    }

    fn latency(values: &[(f64, f64)]) -> E2eLatency {
        E2eLatency {
            count: 3,
            percentiles: Some(
                values
                    .iter()
                    .map(|&(quantile, value)| Quantile { quantile, value })
                    .collect(),
            ),
        }
    }

    fn stats() -> Stats {
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
                            in_flight_count: 4,
                            deferred_count: 2,
                            message_count: 12,
                            requeue_count: 5,
                            timeout_count: 6,
                            client_count: 7,
                            paused: true,
                            e2e_processing_latency: latency(&[
                                (0.99, 1_500_000.0),
                                (1.0, 2_000_000_000.0),
                            ]),
                            ..ChannelStats::default()
                        },
                        ChannelStats {
                            channel_name: "audit#ephemeral".into(),
                            ..ChannelStats::default()
                        },
                    ],
                    depth: 5,
                    backend_depth: 2,
                    message_count: u64::MAX,
                    message_bytes: 2048,
                    paused: false,
                    e2e_processing_latency: latency(&[(0.5, 250_000.0)]),
                },
                TopicStats {
                    topic_name: "idle".into(),
                    paused: true,
                    ..TopicStats::default()
                },
            ]),
            memory: None,
            producers: None,
        }
    }

    fn process() -> ProcessFigures {
        ProcessFigures {
            rss_bytes: 10_485_760,
            cpu_seconds: 1.25,
            start_time_unix: 1_700_000_000.5,
            open_fds: 17,
        }
    }

    #[test]
    fn families_names_labels_values() {
        let text = render_prometheus(&stats(), &process());
        let (_, samples, types) = check(&text);
        let get = |k: &str| {
            samples
                .get(k)
                .unwrap_or_else(|| panic!("missing {k} in\n{text}"))
                .as_str()
        };

        assert_eq!(get("nsq_topic_depth{topic=orders}"), "5");
        assert_eq!(get("nsq_topic_depth{topic=idle}"), "0");
        assert_eq!(get("nsq_topic_backend_depth{topic=orders}"), "2");
        assert_eq!(get("nsq_topic_paused{topic=orders}"), "0");
        assert_eq!(get("nsq_topic_paused{topic=idle}"), "1");
        // Integers are exact, even above 2^53.
        assert_eq!(
            get("nsq_topic_message_count_total{topic=orders}"),
            "18446744073709551615"
        );
        assert_eq!(get("nsq_topic_message_bytes_total{topic=orders}"), "2048");

        let ch = |m: &str| get(&format!("{m}{{topic=orders,channel=archive}}")).to_string();
        assert_eq!(ch("nsq_channel_depth"), "3");
        assert_eq!(ch("nsq_channel_backend_depth"), "1");
        assert_eq!(ch("nsq_channel_in_flight_count"), "4");
        assert_eq!(ch("nsq_channel_deferred_count"), "2");
        assert_eq!(ch("nsq_channel_client_count"), "7");
        assert_eq!(ch("nsq_channel_paused"), "1");
        assert_eq!(ch("nsq_channel_message_count_total"), "12");
        assert_eq!(ch("nsq_channel_requeue_count_total"), "5");
        assert_eq!(ch("nsq_channel_timeout_count_total"), "6");
        assert_eq!(
            get("nsq_channel_depth{topic=orders,channel=audit#ephemeral}"),
            "0"
        );

        // Quantiles in seconds; only where percentiles are configured.
        assert_eq!(
            get("nsq_topic_e2e_processing_latency_seconds{topic=orders,quantile=0.5}"),
            "0.00025"
        );
        assert_eq!(
            get("nsq_channel_e2e_processing_latency_seconds{topic=orders,channel=archive,quantile=0.99}"),
            "0.0015"
        );
        assert_eq!(get("nsq_channel_e2e_processing_latency_seconds{topic=orders,channel=archive,quantile=1}"), "2");
        assert!(!samples
            .keys()
            .any(|k| k.contains("e2e") && k.contains("idle")));
        assert!(!samples
            .keys()
            .any(|k| k.contains("e2e") && k.contains("audit")));

        assert_eq!(get("process_resident_memory_bytes{}"), "10485760");
        assert_eq!(get("process_cpu_seconds_total{}"), "1.25");
        assert_eq!(get("process_start_time_seconds{}"), "1700000000.5");
        assert_eq!(get("process_open_fds{}"), "17");

        for (name, kind) in [
            ("nsq_topic_depth", "gauge"),
            ("nsq_topic_backend_depth", "gauge"),
            ("nsq_topic_paused", "gauge"),
            ("nsq_topic_message_count_total", "counter"),
            ("nsq_topic_message_bytes_total", "counter"),
            ("nsq_channel_depth", "gauge"),
            ("nsq_channel_backend_depth", "gauge"),
            ("nsq_channel_in_flight_count", "gauge"),
            ("nsq_channel_deferred_count", "gauge"),
            ("nsq_channel_client_count", "gauge"),
            ("nsq_channel_paused", "gauge"),
            ("nsq_channel_message_count_total", "counter"),
            ("nsq_channel_requeue_count_total", "counter"),
            ("nsq_channel_timeout_count_total", "counter"),
            ("nsq_topic_e2e_processing_latency_seconds", "summary"),
            ("nsq_channel_e2e_processing_latency_seconds", "summary"),
            ("process_resident_memory_bytes", "gauge"),
            ("process_cpu_seconds_total", "counter"),
            ("process_start_time_seconds", "gauge"),
            ("process_open_fds", "gauge"),
        ] {
            assert_eq!(types.get(name).map(String::as_str), Some(kind), "{name}");
        }
        assert_eq!(types.len(), 20);
        // Every counter is named *_total.
        for (name, kind) in &types {
            assert_eq!(kind == "counter", name.ends_with("_total"), "{name}");
        }
    }

    #[test]
    fn exact_lines() {
        let text = render_prometheus(&stats(), &process());
        for want in [
            "# HELP nsq_topic_depth Messages queued in the topic, in memory and on disk.",
            "# TYPE nsq_topic_depth gauge",
            "nsq_topic_depth{topic=\"orders\"} 5",
            "nsq_channel_depth{topic=\"orders\",channel=\"archive\"} 3",
            "nsq_channel_e2e_processing_latency_seconds{topic=\"orders\",channel=\"archive\",quantile=\"0.99\"} 0.0015",
            "# TYPE nsq_topic_e2e_processing_latency_seconds summary",
            "process_open_fds 17",
        ] {
            assert!(text.lines().any(|l| l == want), "missing line {want:?} in\n{text}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let weird = "a\"b\\c\nd";
        let s = Stats {
            topics: Some(vec![TopicStats {
                topic_name: weird.into(),
                channels: vec![ChannelStats {
                    channel_name: "é\\".into(),
                    ..ChannelStats::default()
                }],
                ..TopicStats::default()
            }]),
            ..Stats::default()
        };
        let text = render_prometheus(&s, &ProcessFigures::default());
        assert!(
            text.contains("nsq_topic_depth{topic=\"a\\\"b\\\\c\\nd\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("nsq_channel_depth{topic=\"a\\\"b\\\\c\\nd\",channel=\"é\\\\\"} 0\n"),
            "{text}"
        );
        let (lines, _, _) = check(&text);
        // The reader gets the original names back.
        let topic_labels: Vec<_> = lines
            .iter()
            .filter_map(|l| match l {
                Line::Sample { name, labels, .. } if name == "nsq_channel_depth" => {
                    Some(labels.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(
            topic_labels,
            vec![vec![
                ("topic".into(), weird.into()),
                ("channel".into(), "é\\".into())
            ]]
        );
        assert_eq!(
            escape_label_value("plain_name.1#ephemeral"),
            "plain_name.1#ephemeral"
        );
        assert_eq!(escape_help("a\\b\nc"), "a\\\\b\\nc");
    }

    #[test]
    fn no_topics_gives_process_families_only() {
        for topics in [None, Some(vec![])] {
            let s = Stats {
                topics,
                ..Stats::default()
            };
            let text = render_prometheus(&s, &process());
            let (_, _, types) = check(&text);
            let mut names: Vec<_> = types.keys().cloned().collect();
            names.sort();
            assert_eq!(
                names,
                [
                    "process_cpu_seconds_total",
                    "process_open_fds",
                    "process_resident_memory_bytes",
                    "process_start_time_seconds"
                ]
            );
            assert_eq!(text, render_process_metrics(&process()));
        }
    }

    #[test]
    fn dead_letter_families_only_for_configured_channels() {
        let plain = render_prometheus(&stats(), &process());
        assert!(!plain.contains("dead_letter") && !plain.contains("max_attempts"));
        let mut s = stats();
        let c = &mut s.topics.as_mut().unwrap()[0].channels[0];
        c.max_attempts = Some(5);
        c.dead_letter_topic = Some("orders.archive.dead".into());
        c.dead_letter_count = Some(7);
        let text = render_prometheus(&s, &process());
        let (_, samples, types) = check(&text);
        assert_eq!(
            samples["nsq_channel_max_attempts{topic=orders,channel=archive}"],
            "5"
        );
        assert_eq!(
            samples["nsq_channel_dead_letter_count_total{topic=orders,channel=archive}"],
            "7"
        );
        assert_eq!(
            samples["nsq_channel_dead_letter_topic_info{topic=orders,channel=archive,dead_letter_topic=orders.archive.dead}"],
            "1"
        );
        assert_eq!(types["nsq_channel_dead_letter_count_total"], "counter");
        assert!(!samples
            .keys()
            .any(|k| k.contains("audit") && k.contains("dead")));
    }

    #[test]
    fn special_floats() {
        assert_eq!(fmt_f64(f64::NAN), "NaN");
        assert_eq!(fmt_f64(f64::INFINITY), "+Inf");
        assert_eq!(fmt_f64(f64::NEG_INFINITY), "-Inf");
        assert_eq!(fmt_f64(1e-7), "0.0000001");
        assert_eq!(fmt_f64(3.0), "3");
        let text = render_process_metrics(&ProcessFigures {
            cpu_seconds: f64::NAN,
            ..ProcessFigures::default()
        });
        check(&text);
        assert!(text.contains("process_cpu_seconds_total NaN\n"));
    }
}
