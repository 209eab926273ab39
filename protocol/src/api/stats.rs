//! `/stats` and `/info` (docs/http-api.md#stats, #info): field names, order,
//! and the null-versus-empty rules (docs/compatibility.md#null-not-empty). The
//! text form of `/stats` is in [`super::stats_text`], the Prometheus form in
//! [`super::metrics`].
//!
//! Serialization follows nsqd 1.3.0 key for key (Go's `encoding/json` emits
//! struct fields in declaration order, and these structs declare them in the
//! same order). Deserialization is lenient so that tools can also read the
//! `/stats` of a real nsqd, of any version: unknown keys (for example the
//! master-only `zone_local_msg_count`) are ignored, missing keys take their
//! zero value, and `null` is accepted for the arrays NSQ may leave nil.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `/stats?format=json` top level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Stats {
    /// "1.3.0".
    pub version: String,
    /// "OK" or "NOK - <error>".
    pub health: String,
    /// Extension: `true` while the node drains (docs/compatibility.md#draining);
    /// absent otherwise, as in NSQ.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// Unix seconds.
    pub start_time: i64,
    /// Sorted by name; `null` for a `topic=` filter naming no topic.
    pub topics: Option<Vec<TopicStats>>,
    /// Omitted with `include_mem=false`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    /// TCP connections that published; `null` with `include_clients=false`.
    pub producers: Option<Vec<ClientStats>>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct TopicStats {
    /// Name.
    pub topic_name: String,
    /// Sorted by name (`[]`, never `null`, in nsqd's own output).
    #[serde(deserialize_with = "null_as_default")]
    pub channels: Vec<ChannelStats>,
    /// Memory + disk depth.
    pub depth: i64,
    /// Disk depth.
    pub backend_depth: i64,
    /// Messages accepted.
    pub message_count: u64,
    /// Body bytes accepted.
    pub message_bytes: u64,
    /// Paused.
    pub paused: bool,
    /// E2E latency.
    #[serde(deserialize_with = "null_as_default")]
    pub e2e_processing_latency: E2eLatency,
}

/// One channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ChannelStats {
    /// Name.
    pub channel_name: String,
    /// Memory + disk depth.
    pub depth: i64,
    /// Disk depth.
    pub backend_depth: i64,
    /// In flight.
    pub in_flight_count: i64,
    /// Deferred.
    pub deferred_count: i64,
    /// Messages received from the topic.
    pub message_count: u64,
    /// Explicit REQs.
    pub requeue_count: u64,
    /// In-flight timeouts.
    pub timeout_count: u64,
    /// Consumers connected.
    pub client_count: i64,
    /// `null` with `include_clients=false`.
    pub clients: Option<Vec<ClientStats>>,
    /// Paused.
    pub paused: bool,
    /// E2E latency.
    #[serde(deserialize_with = "null_as_default")]
    pub e2e_processing_latency: E2eLatency,
    /// Extension (docs/compatibility.md#dead-letters): the most deliveries
    /// before a message goes to the dead-letter topic (0: no limit). This
    /// and the next two appear only for a channel with a limit, set or
    /// inherited, or that has moved messages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u16>,
    /// Extension: where messages over the limit go.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_topic: Option<String>,
    /// Extension: messages moved to the dead-letter topic since nsqd started.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter_count: Option<u64>,
}

/// A consumer (channel `clients`) or a producer (`producers`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct ClientStats {
    /// IDENTIFY client_id (remote IP before IDENTIFY).
    pub client_id: String,
    /// IDENTIFY hostname (remote IP before IDENTIFY).
    pub hostname: String,
    /// "V2".
    pub version: String,
    /// "ip:port".
    pub remote_address: String,
    /// Connection state number (docs/protocol.md#states).
    pub state: i32,
    /// RDY.
    pub ready_count: i64,
    /// In flight.
    pub in_flight_count: i64,
    /// Delivered.
    pub message_count: u64,
    /// Finished.
    pub finish_count: u64,
    /// Requeued.
    pub requeue_count: u64,
    /// Unix seconds.
    pub connect_ts: i64,
    /// Negotiated sample rate.
    pub sample_rate: i32,
    /// Deflate negotiated.
    pub deflate: bool,
    /// Snappy negotiated.
    pub snappy: bool,
    /// IDENTIFY user_agent.
    pub user_agent: String,
    /// AUTH done.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub authed: bool,
    /// Auth identity.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity: String,
    /// Auth identity URL.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub auth_identity_url: String,
    /// Per-topic publish counts (producers).
    #[serde(
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub pub_counts: Vec<PubCount>,
    /// TLS negotiated.
    pub tls: bool,
    /// TLS cipher suite.
    pub tls_cipher_suite: String,
    /// "TLS1.2" ...
    pub tls_version: String,
    /// ALPN protocol.
    pub tls_negotiated_protocol: String,
    /// ALPN mutual.
    pub tls_negotiated_protocol_is_mutual: bool,
}

/// One `pub_counts` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct PubCount {
    /// Topic.
    pub topic: String,
    /// Messages published to it by this connection.
    pub count: u64,
}

/// `e2e_processing_latency`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct E2eLatency {
    /// Samples.
    pub count: u64,
    /// `null` when percentiles are not configured.
    pub percentiles: Option<Vec<Quantile>>,
}

/// One percentile.
///
/// Both numbers are Go `float64`s, which Go prints without a fraction when
/// they are whole (`1`, `1234567`), where serde_json would print `1.0`; they
/// are serialized the Go way so that the JSON matches nsqd's byte for byte.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Quantile {
    /// e.g. 0.99.
    #[serde(serialize_with = "go_float")]
    pub quantile: f64,
    /// Nanoseconds.
    #[serde(serialize_with = "go_float")]
    pub value: f64,
}

/// `memory` (Go runtime names; this process's allocator and RSS figures,
/// docs/compatibility.md#go-runtime).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct MemoryStats {
    /// Live allocations (approximate).
    pub heap_objects: u64,
    /// Bytes held but unused.
    pub heap_idle_bytes: u64,
    /// Bytes in use.
    pub heap_in_use_bytes: u64,
    /// Bytes returned to the OS.
    pub heap_released_bytes: u64,
    /// GC pause percentiles (always 0: no GC).
    pub gc_pause_usec_100: u64,
    /// See above.
    pub gc_pause_usec_99: u64,
    /// See above.
    pub gc_pause_usec_95: u64,
    /// Next GC target (RSS here).
    pub next_gc_bytes: u64,
    /// GC runs (0).
    pub gc_total_runs: u64,
}

/// `/info` (docs/http-api.md#info).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Info {
    /// "1.3.0".
    pub version: String,
    /// `--broadcast-address`.
    pub broadcast_address: String,
    /// OS hostname.
    pub hostname: String,
    /// HTTP port.
    pub http_port: i64,
    /// TCP port.
    pub tcp_port: i64,
    /// Unix seconds.
    pub start_time: i64,
    /// ns.
    pub max_heartbeat_interval: i64,
    /// bytes.
    pub max_output_buffer_size: i64,
    /// ns.
    pub max_output_buffer_timeout: i64,
    /// 1..9.
    pub max_deflate_level: i64,
}

/// `null` reads as the type's default (Go's nil slice or nil pointer).
fn null_as_default<'de, D, T>(de: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(de)?.unwrap_or_default())
}

/// A `float64` as Go's `encoding/json` writes it: whole numbers below 1e21
/// without a fraction or exponent, everything else as the shortest
/// round-tripping decimal (serde_json's own form).
pub fn go_float<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e21 {
        // Exact: a whole f64 below 1e21 fits an i128 without rounding.
        s.serialize_i128(*v as i128)
    } else {
        s.serialize_f64(*v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::{IgnoredAny, MapAccess, Visitor};

    /// The keys of a JSON object, in the order they appear.
    struct Keys(Vec<String>);

    impl<'de> Deserialize<'de> for Keys {
        fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = Keys;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                    let mut keys = Vec::new();
                    while let Some(k) = map.next_key::<String>()? {
                        map.next_value::<IgnoredAny>()?;
                        keys.push(k);
                    }
                    Ok(Keys(keys))
                }
            }
            de.deserialize_map(V)
        }
    }

    fn keys<T: Serialize>(v: &T) -> Vec<String> {
        serde_json::from_str::<Keys>(&serde_json::to_string(v).unwrap())
            .unwrap()
            .0
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
            requeue_count: 0,
            connect_ts: 1_700_000_100,
            sample_rate: 0,
            deflate: false,
            snappy: true,
            user_agent: "go-nsq/1.1.0".into(),
            authed: false,
            auth_identity: String::new(),
            auth_identity_url: String::new(),
            pub_counts: Vec::new(),
            tls: false,
            tls_cipher_suite: String::new(),
            tls_version: String::new(),
            tls_negotiated_protocol: String::new(),
            tls_negotiated_protocol_is_mutual: false,
        }
    }

    fn producer() -> ClientStats {
        ClientStats {
            client_id: "pub".into(),
            hostname: "pub.local".into(),
            remote_address: "10.0.0.6:40000".into(),
            state: 1,
            ready_count: 0,
            in_flight_count: 0,
            message_count: 0,
            finish_count: 0,
            user_agent: "pynsq/0.9.1".into(),
            authed: true,
            auth_identity: "svc-orders".into(),
            auth_identity_url: "https://auth.example/u/1".into(),
            pub_counts: vec![PubCount {
                topic: "orders".into(),
                count: 7,
            }],
            tls: true,
            tls_cipher_suite: "TLS_AES_128_GCM_SHA256".into(),
            tls_version: "TLS1.3".into(),
            ..consumer()
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

    fn sample_stats() -> Stats {
        Stats {
            version: "1.3.0".into(),
            health: "OK".into(),
            draining: false,
            start_time: 1_700_000_000,
            topics: Some(vec![TopicStats {
                topic_name: "orders".into(),
                channels: vec![
                    ChannelStats {
                        channel_name: "archive".into(),
                        depth: 3,
                        backend_depth: 1,
                        in_flight_count: 1,
                        deferred_count: 2,
                        message_count: 12,
                        requeue_count: 0,
                        timeout_count: 1,
                        client_count: 1,
                        clients: Some(vec![consumer()]),
                        paused: false,
                        e2e_processing_latency: latency(),
                        max_attempts: None,
                        dead_letter_topic: None,
                        dead_letter_count: None,
                    },
                    ChannelStats {
                        channel_name: "audit".into(),
                        clients: None,
                        paused: true,
                        ..ChannelStats::default()
                    },
                ],
                depth: 5,
                backend_depth: 2,
                message_count: 20,
                message_bytes: 2048,
                paused: false,
                e2e_processing_latency: latency(),
            }]),
            memory: Some(MemoryStats {
                heap_objects: 1,
                next_gc_bytes: 4096,
                ..MemoryStats::default()
            }),
            producers: Some(vec![producer()]),
        }
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn top_level_key_order() {
        let s = sample_stats();
        assert_eq!(
            keys(&s),
            strings(&[
                "version",
                "health",
                "start_time",
                "topics",
                "memory",
                "producers"
            ])
        );
        let no_mem = Stats { memory: None, ..s };
        assert_eq!(
            keys(&no_mem),
            strings(&["version", "health", "start_time", "topics", "producers"])
        );
    }

    #[test]
    fn topic_key_order() {
        let s = sample_stats();
        let topic = &s.topics.as_ref().unwrap()[0];
        assert_eq!(
            keys(topic),
            strings(&[
                "topic_name",
                "channels",
                "depth",
                "backend_depth",
                "message_count",
                "message_bytes",
                "paused",
                "e2e_processing_latency",
            ])
        );
    }

    #[test]
    fn channel_key_order() {
        let s = sample_stats();
        let want = strings(&[
            "channel_name",
            "depth",
            "backend_depth",
            "in_flight_count",
            "deferred_count",
            "message_count",
            "requeue_count",
            "timeout_count",
            "client_count",
            "clients",
            "paused",
            "e2e_processing_latency",
        ]);
        for c in &s.topics.as_ref().unwrap()[0].channels {
            assert_eq!(keys(c), want, "{}", c.channel_name);
        }
    }

    #[test]
    fn client_key_order_and_omitempty() {
        let base = [
            "client_id",
            "hostname",
            "version",
            "remote_address",
            "state",
            "ready_count",
            "in_flight_count",
            "message_count",
            "finish_count",
            "requeue_count",
            "connect_ts",
            "sample_rate",
            "deflate",
            "snappy",
            "user_agent",
        ];
        let tls = [
            "tls",
            "tls_cipher_suite",
            "tls_version",
            "tls_negotiated_protocol",
            "tls_negotiated_protocol_is_mutual",
        ];
        // Consumer: authed false, identities empty, no pub_counts: all four left out.
        let mut want = strings(&base);
        want.extend(strings(&tls));
        assert_eq!(keys(&consumer()), want);
        // Producer with auth: all present, in upstream's order.
        let mut want = strings(&base);
        want.extend(strings(&[
            "authed",
            "auth_identity",
            "auth_identity_url",
            "pub_counts",
        ]));
        want.extend(strings(&tls));
        assert_eq!(keys(&producer()), want);
        // Each omitempty key is independent of the others.
        let only_identity = ClientStats {
            auth_identity: "x".into(),
            ..consumer()
        };
        assert!(keys(&only_identity).contains(&"auth_identity".to_string()));
        assert!(!keys(&only_identity).contains(&"authed".to_string()));
        assert_eq!(keys(&PubCount::default()), strings(&["topic", "count"]));
    }

    #[test]
    fn latency_and_memory_key_order() {
        assert_eq!(keys(&latency()), strings(&["count", "percentiles"]));
        assert_eq!(
            keys(&latency().percentiles.unwrap()[0]),
            strings(&["quantile", "value"])
        );
        assert_eq!(
            keys(&MemoryStats::default()),
            strings(&[
                "heap_objects",
                "heap_idle_bytes",
                "heap_in_use_bytes",
                "heap_released_bytes",
                "gc_pause_usec_100",
                "gc_pause_usec_99",
                "gc_pause_usec_95",
                "next_gc_bytes",
                "gc_total_runs",
            ])
        );
    }

    #[test]
    fn info_key_order() {
        assert_eq!(
            keys(&Info::default()),
            strings(&[
                "version",
                "broadcast_address",
                "hostname",
                "http_port",
                "tcp_port",
                "start_time",
                "max_heartbeat_interval",
                "max_output_buffer_size",
                "max_output_buffer_timeout",
                "max_deflate_level",
            ])
        );
    }

    #[test]
    fn extensions_appear_only_when_set() {
        let s = Stats {
            version: "1.3.0".into(),
            health: "OK".into(),
            draining: true,
            start_time: 1,
            ..Stats::default()
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"version":"1.3.0","health":"OK","draining":true,"start_time":1,"topics":null,"producers":null}"#
        );
        let c = ChannelStats {
            channel_name: "c".into(),
            max_attempts: Some(5),
            dead_letter_topic: Some("t.c.dead".into()),
            dead_letter_count: Some(2),
            ..ChannelStats::default()
        };
        let k = keys(&c);
        assert_eq!(
            k[k.len() - 4..],
            strings(&[
                "e2e_processing_latency",
                "max_attempts",
                "dead_letter_topic",
                "dead_letter_count"
            ])
        );
        let back: ChannelStats = serde_json::from_str(&serde_json::to_string(&c).unwrap()).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn nulls_as_upstream() {
        // `/stats?topic=missing&include_mem=false`
        let s = Stats {
            version: "1.3.0".into(),
            health: "OK".into(),
            draining: false,
            start_time: 1,
            ..Stats::default()
        };
        assert_eq!(
            serde_json::to_string(&s).unwrap(),
            r#"{"version":"1.3.0","health":"OK","start_time":1,"topics":null,"producers":null}"#
        );
        // A channel with include_clients=false and no percentiles configured.
        let c = ChannelStats {
            channel_name: "c".into(),
            ..ChannelStats::default()
        };
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            concat!(
                r#"{"channel_name":"c","depth":0,"backend_depth":0,"in_flight_count":0,"#,
                r#""deferred_count":0,"message_count":0,"requeue_count":0,"timeout_count":0,"#,
                r#""client_count":0,"clients":null,"paused":false,"#,
                r#""e2e_processing_latency":{"count":0,"percentiles":null}}"#
            )
        );
        // Empty lists stay lists.
        let t = TopicStats {
            topic_name: "t".into(),
            ..TopicStats::default()
        };
        assert!(serde_json::to_string(&t)
            .unwrap()
            .contains(r#""channels":[]"#));
        let c = ChannelStats {
            clients: Some(vec![]),
            ..ChannelStats::default()
        };
        assert!(serde_json::to_string(&c)
            .unwrap()
            .contains(r#""clients":[]"#));
    }

    #[test]
    fn floats_print_as_go_does() {
        let q = |quantile, value| serde_json::to_string(&Quantile { quantile, value }).unwrap();
        assert_eq!(q(0.99, 1_500_000.0), r#"{"quantile":0.99,"value":1500000}"#);
        assert_eq!(q(1.0, 2034.5), r#"{"quantile":1,"value":2034.5}"#);
        assert_eq!(q(0.5, 0.0), r#"{"quantile":0.5,"value":0}"#);
        assert_eq!(
            q(0.5, 1e20),
            r#"{"quantile":0.5,"value":100000000000000000000}"#
        );
        assert_eq!(q(0.5, 123456.789), r#"{"quantile":0.5,"value":123456.789}"#);
    }

    /// What nsqd 1.3.0 prints for `sample_stats()`, written by hand from
    /// nsqd/stats.go and nsqd/client_v2.go: Go's field order, `omitempty`
    /// rules and float format.
    const NSQ_130_STATS: &str = concat!(
        r#"{"version":"1.3.0","health":"OK","start_time":1700000000,"topics":[{"#,
        r#""topic_name":"orders","channels":[{"channel_name":"archive","depth":3,"#,
        r#""backend_depth":1,"in_flight_count":1,"deferred_count":2,"message_count":12,"#,
        r#""requeue_count":0,"timeout_count":1,"client_count":1,"clients":[{"#,
        r#""client_id":"worker-1","hostname":"worker-1.local","version":"V2","#,
        r#""remote_address":"10.0.0.5:51234","state":3,"ready_count":10,"in_flight_count":1,"#,
        r#""message_count":12,"finish_count":11,"requeue_count":0,"connect_ts":1700000100,"#,
        r#""sample_rate":0,"deflate":false,"snappy":true,"user_agent":"go-nsq/1.1.0","#,
        r#""tls":false,"tls_cipher_suite":"","tls_version":"","tls_negotiated_protocol":"","#,
        r#""tls_negotiated_protocol_is_mutual":false}],"paused":false,"#,
        r#""e2e_processing_latency":{"count":12,"percentiles":[{"quantile":0.99,"value":1500000},"#,
        r#"{"quantile":1,"value":2034.5}]}},{"channel_name":"audit","depth":0,"backend_depth":0,"#,
        r#""in_flight_count":0,"deferred_count":0,"message_count":0,"requeue_count":0,"#,
        r#""timeout_count":0,"client_count":0,"clients":null,"paused":true,"#,
        r#""e2e_processing_latency":{"count":0,"percentiles":null}}],"depth":5,"#,
        r#""backend_depth":2,"message_count":20,"message_bytes":2048,"paused":false,"#,
        r#""e2e_processing_latency":{"count":12,"percentiles":[{"quantile":0.99,"value":1500000},"#,
        r#"{"quantile":1,"value":2034.5}]}}],"memory":{"heap_objects":1,"heap_idle_bytes":0,"#,
        r#""heap_in_use_bytes":0,"heap_released_bytes":0,"gc_pause_usec_100":0,"#,
        r#""gc_pause_usec_99":0,"gc_pause_usec_95":0,"next_gc_bytes":4096,"gc_total_runs":0},"#,
        r#""producers":[{"client_id":"pub","hostname":"pub.local","version":"V2","#,
        r#""remote_address":"10.0.0.6:40000","state":1,"ready_count":0,"in_flight_count":0,"#,
        r#""message_count":0,"finish_count":0,"requeue_count":0,"connect_ts":1700000100,"#,
        r#""sample_rate":0,"deflate":false,"snappy":true,"user_agent":"pynsq/0.9.1","#,
        r#""authed":true,"auth_identity":"svc-orders","auth_identity_url":"https://auth.example/u/1","#,
        r#""pub_counts":[{"topic":"orders","count":7}],"tls":true,"#,
        r#""tls_cipher_suite":"TLS_AES_128_GCM_SHA256","tls_version":"TLS1.3","#,
        r#""tls_negotiated_protocol":"","tls_negotiated_protocol_is_mutual":false}]}"#
    );

    #[test]
    fn serializes_byte_for_byte_as_nsq() {
        assert_eq!(
            serde_json::to_string(&sample_stats()).unwrap(),
            NSQ_130_STATS
        );
    }

    #[test]
    fn reads_nsq_130_output() {
        let s: Stats = serde_json::from_str(NSQ_130_STATS).unwrap();
        assert_eq!(s, sample_stats());
        // Pretty-printed (as `curl | jq` would save it) reads the same.
        let pretty = serde_json::to_string_pretty(
            &serde_json::from_str::<serde_json::Value>(NSQ_130_STATS).unwrap(),
        )
        .unwrap();
        assert_eq!(
            serde_json::from_str::<Stats>(&pretty).unwrap(),
            sample_stats()
        );
    }

    #[test]
    fn reads_filtered_and_minimal_output() {
        // `topic=` naming no topic, include_mem=false.
        let s: Stats = serde_json::from_str(
            r#"{"version":"1.3.0","health":"OK","start_time":1,"topics":null,"producers":null}"#,
        )
        .unwrap();
        assert_eq!((s.topics, s.memory, s.producers), (None, None, None));
        // No producers, no topics at all.
        let s: Stats = serde_json::from_str(
            r#"{"version":"1.3.0","health":"NOK - disk full","start_time":1,"topics":[]}"#,
        )
        .unwrap();
        assert_eq!(
            (s.topics, s.producers, s.health.as_str()),
            (Some(vec![]), None, "NOK - disk full")
        );
    }

    #[test]
    fn tolerates_unknown_missing_and_null() {
        // Master-only keys (zone_local_msg_count, topology_zone, build), keys older
        // nsqd versions lack (message_bytes, timeout_count, tls_negotiated_*,
        // e2e_processing_latency), and nil slices.
        let json = r#"{
            "version": "1.3.0", "build": "nsqd-rs 0.1.0", "health": "OK", "start_time": 5,
            "topics": [{
                "topic_name": "t", "depth": 1, "backend_depth": 0, "message_count": 9,
                "paused": false, "channels": [{
                    "channel_name": "c", "depth": 1, "backend_depth": 0, "in_flight_count": 0,
                    "deferred_count": 0, "message_count": 9, "zone_local_msg_count": 4,
                    "requeue_count": 0, "client_count": 1, "paused": false,
                    "e2e_processing_latency": null,
                    "clients": [{
                        "client_id": "x", "hostname": "h", "version": "V2",
                        "remote_address": "1.2.3.4:5", "state": 3, "ready_count": 1,
                        "in_flight_count": 0, "message_count": 9, "finish_count": 9,
                        "requeue_count": 0, "connect_ts": 5, "sample_rate": 0,
                        "deflate": false, "snappy": false, "user_agent": "",
                        "topology_zone": "z1", "topology_region": "r1",
                        "pub_counts": null, "tls": false
                    }]
                }]
            }, {"topic_name": "empty", "channels": null}],
            "producers": []
        }"#;
        let s: Stats = serde_json::from_str(json).unwrap();
        let topics = s.topics.unwrap();
        assert_eq!(topics.len(), 2);
        assert_eq!(topics[0].message_bytes, 0);
        assert_eq!(topics[0].e2e_processing_latency, E2eLatency::default());
        let c = &topics[0].channels[0];
        assert_eq!((c.timeout_count, c.message_count), (0, 9));
        assert_eq!(
            c.e2e_processing_latency,
            E2eLatency {
                count: 0,
                percentiles: None
            }
        );
        let client = &c.clients.as_ref().unwrap()[0];
        assert_eq!(client.remote_address, "1.2.3.4:5");
        assert!(client.pub_counts.is_empty());
        assert_eq!(client.tls_version, "");
        assert!(topics[1].channels.is_empty());
        assert_eq!(s.producers, Some(vec![]));
        assert_eq!(s.memory, None);
    }

    #[test]
    fn info_round_trip() {
        let json = concat!(
            r#"{"version":"1.3.0","broadcast_address":"host-a","hostname":"host-a","#,
            r#""http_port":4151,"tcp_port":4150,"start_time":1700000000,"#,
            r#""max_heartbeat_interval":60000000000,"max_output_buffer_size":65536,"#,
            r#""max_output_buffer_timeout":30000000000,"max_deflate_level":6}"#
        );
        let info: Info = serde_json::from_str(json).unwrap();
        assert_eq!(info.http_port, 4151);
        assert_eq!(serde_json::to_string(&info).unwrap(), json);
        // Master-only topology keys are ignored.
        let with_topology = json.replace('}', r#","topology_zone":"z","topology_region":"r"}"#);
        assert_eq!(serde_json::from_str::<Info>(&with_topology).unwrap(), info);
    }
}
