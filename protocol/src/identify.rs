//! The IDENTIFY request and response bodies and the negotiation rules
//! (docs/protocol.md#identify).
//!
//! [`IdentifyRequest`] decodes the client's JSON (unknown keys ignored, types
//! strict as Go's decoder is); [`negotiate`] validates it in NSQ's order and
//! yields the connection's effective settings; [`IdentifyResponse`]
//! serializes the feature-negotiation reply with NSQ's keys in NSQ's order.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::error::{ClientError, ErrorCode};

/// The JSON body of IDENTIFY. Every field is optional; `null` counts as
/// absent, as in Go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct IdentifyRequest {
    /// Free text; replaces the remote IP shown in stats.
    pub client_id: Option<String>,
    /// Free text; replaces the remote IP shown in stats.
    pub hostname: Option<String>,
    /// e.g. `go-nsq/1.1.0`.
    pub user_agent: Option<String>,
    /// Reply with JSON (and allow upgrades) instead of `OK`.
    pub feature_negotiation: Option<bool>,
    /// ms; -1 disables, 0 default.
    pub heartbeat_interval: Option<i64>,
    /// bytes; -1 unbuffered, 0 default.
    pub output_buffer_size: Option<i64>,
    /// ms; -1 disables timed flush, 0 default.
    pub output_buffer_timeout: Option<i64>,
    /// Request TLS.
    pub tls_v1: Option<bool>,
    /// Request snappy.
    pub snappy: Option<bool>,
    /// Request deflate.
    pub deflate: Option<bool>,
    /// 1..9; <= 0 means 6.
    pub deflate_level: Option<i64>,
    /// 0..99.
    pub sample_rate: Option<i32>,
    /// ms; 0 default.
    pub msg_timeout: Option<i64>,
}

impl IdentifyRequest {
    /// Decode the JSON body; any error is NSQ's
    /// `E_BAD_BODY IDENTIFY failed to decode JSON body`.
    ///
    /// As with Go's decoder, the body must be a JSON object (an array is an
    /// error even though serde would map it onto the fields by position) or
    /// `null` (which changes nothing). Keys match case-insensitively, as in Go.
    pub fn from_json(body: &[u8]) -> Result<IdentifyRequest, ClientError> {
        let err = || ClientError::new(ErrorCode::BadBody, "IDENTIFY failed to decode JSON body");
        match serde_json::from_slice::<serde_json::Value>(body).map_err(|_| err())? {
            serde_json::Value::Null => Ok(IdentifyRequest::default()),
            serde_json::Value::Object(map) => {
                // Go's decoder matches keys case-insensitively.
                let map: serde_json::Map<String, serde_json::Value> = map
                    .into_iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v))
                    .collect();
                serde_json::from_value(serde_json::Value::Object(map)).map_err(|_| err())
            }
            _ => Err(err()),
        }
    }
}

/// Server settings that bound negotiation (nsqd's flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentifyPolicy {
    /// Default heartbeat interval (client timeout / 2 = 30 s).
    pub default_heartbeat_interval: Duration,
    /// `--max-heartbeat-interval`.
    pub max_heartbeat_interval: Duration,
    /// Default client output buffer size (16 KiB).
    pub default_output_buffer_size: u64,
    /// `--max-output-buffer-size`.
    pub max_output_buffer_size: u64,
    /// `--output-buffer-timeout`.
    pub default_output_buffer_timeout: Duration,
    /// `--min-output-buffer-timeout`.
    pub min_output_buffer_timeout: Duration,
    /// `--max-output-buffer-timeout`.
    pub max_output_buffer_timeout: Duration,
    /// `--msg-timeout`.
    pub default_msg_timeout: Duration,
    /// `--max-msg-timeout`.
    pub max_msg_timeout: Duration,
    /// `--max-rdy-count`.
    pub max_rdy_count: u64,
    /// `--max-deflate-level`.
    pub max_deflate_level: i64,
    /// TLS certificate configured.
    pub tls_available: bool,
    /// `--snappy` and implemented.
    pub snappy_enabled: bool,
    /// `--deflate` and implemented.
    pub deflate_enabled: bool,
    /// At least one `--auth-http-address`.
    pub auth_required: bool,
    /// Version reported on the wire.
    pub version: String,
}

impl Default for IdentifyPolicy {
    /// NSQ 1.3.0's defaults, with no upgrade available.
    fn default() -> Self {
        IdentifyPolicy {
            default_heartbeat_interval: Duration::from_secs(30),
            max_heartbeat_interval: Duration::from_secs(60),
            default_output_buffer_size: 16 * 1024,
            max_output_buffer_size: 64 * 1024,
            default_output_buffer_timeout: Duration::from_millis(250),
            min_output_buffer_timeout: Duration::from_millis(25),
            max_output_buffer_timeout: Duration::from_secs(30),
            default_msg_timeout: Duration::from_secs(60),
            max_msg_timeout: Duration::from_secs(15 * 60),
            max_rdy_count: 2500,
            max_deflate_level: 6,
            tls_available: false,
            snappy_enabled: false,
            deflate_enabled: false,
            auth_required: false,
            version: "1.3.0".into(),
        }
    }
}

/// The settings a connection runs with after IDENTIFY.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// `None` = heartbeats disabled.
    pub heartbeat_interval: Option<Duration>,
    /// Effective output buffer size (1 = unbuffered).
    pub output_buffer_size: u64,
    /// Effective flush timeout (zero = no timed flush).
    pub output_buffer_timeout: Duration,
    /// 0..=99.
    pub sample_rate: i32,
    /// In-flight timeout for messages sent to this connection.
    pub msg_timeout: Duration,
    /// Whether the client asked for the JSON reply.
    pub feature_negotiation: bool,
    /// TLS upgrade negotiated.
    pub tls_v1: bool,
    /// Snappy negotiated.
    pub snappy: bool,
    /// Deflate negotiated.
    pub deflate: bool,
    /// Effective deflate level (reported even when deflate is off).
    pub deflate_level: i64,
    /// Identity fields (absent = empty, as NSQ overwrites them).
    pub client_id: String,
    /// See `client_id`.
    pub hostname: String,
    /// See `client_id`.
    pub user_agent: String,
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

fn body_err(text: String) -> ClientError {
    ClientError::new(ErrorCode::BadBody, format!("IDENTIFY {text}"))
}

/// Validate a request against the policy, in NSQ's order (heartbeat, output
/// buffer timeout then size, sample rate, msg timeout, then the compression
/// conflict when negotiating).
pub fn negotiate(
    req: &IdentifyRequest,
    policy: &IdentifyPolicy,
) -> Result<Negotiated, ClientError> {
    let hb = req.heartbeat_interval.unwrap_or(0);
    let heartbeat_interval = match hb {
        -1 => None,
        0 => Some(policy.default_heartbeat_interval),
        v if v >= 1000 && v <= ms(policy.max_heartbeat_interval) => {
            Some(Duration::from_millis(v as u64))
        }
        v => return Err(body_err(format!("heartbeat interval ({v}) is invalid"))),
    };

    let obt = req.output_buffer_timeout.unwrap_or(0);
    let mut output_buffer_timeout = match obt {
        -1 => Duration::ZERO,
        0 => policy.default_output_buffer_timeout,
        v if v >= ms(policy.min_output_buffer_timeout)
            && v <= ms(policy.max_output_buffer_timeout) =>
        {
            Duration::from_millis(v as u64)
        }
        v => return Err(body_err(format!("output buffer timeout ({v}) is invalid"))),
    };
    let obs = req.output_buffer_size.unwrap_or(0);
    let output_buffer_size = match obs {
        -1 => {
            output_buffer_timeout = Duration::ZERO;
            1
        }
        0 => policy.default_output_buffer_size,
        v if v >= 64 && v <= policy.max_output_buffer_size as i64 => v as u64,
        v => return Err(body_err(format!("output buffer size ({v}) is invalid"))),
    };

    let sample_rate = req.sample_rate.unwrap_or(0);
    if !(0..=99).contains(&sample_rate) {
        return Err(body_err(format!("sample rate ({sample_rate}) is invalid")));
    }

    let mt = req.msg_timeout.unwrap_or(0);
    let msg_timeout = match mt {
        0 => policy.default_msg_timeout,
        v if v >= 1000 && v <= ms(policy.max_msg_timeout) => Duration::from_millis(v as u64),
        v => return Err(body_err(format!("msg timeout ({v}) is invalid"))),
    };

    let feature_negotiation = req.feature_negotiation.unwrap_or(false);
    let tls_v1 = feature_negotiation && policy.tls_available && req.tls_v1.unwrap_or(false);
    let deflate = feature_negotiation && policy.deflate_enabled && req.deflate.unwrap_or(false);
    let snappy = feature_negotiation && policy.snappy_enabled && req.snappy.unwrap_or(false);
    let mut deflate_level = 6;
    if deflate {
        if let Some(l) = req.deflate_level.filter(|&l| l > 0) {
            deflate_level = l;
        }
    }
    deflate_level = deflate_level.min(policy.max_deflate_level);
    if deflate && snappy {
        return Err(ClientError::new(
            ErrorCode::IdentifyFailed,
            "cannot enable both deflate and snappy compression",
        ));
    }

    Ok(Negotiated {
        heartbeat_interval,
        output_buffer_size,
        output_buffer_timeout,
        sample_rate,
        msg_timeout,
        feature_negotiation,
        tls_v1,
        snappy,
        deflate,
        deflate_level,
        client_id: req.client_id.clone().unwrap_or_default(),
        hostname: req.hostname.clone().unwrap_or_default(),
        user_agent: req.user_agent.clone().unwrap_or_default(),
    })
}

/// The JSON reply to a negotiating IDENTIFY, keys in NSQ's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdentifyResponse {
    /// `--max-rdy-count`.
    pub max_rdy_count: i64,
    /// Server version (`1.3.0`).
    pub version: String,
    /// `--max-msg-timeout` in ms.
    pub max_msg_timeout: i64,
    /// This connection's msg timeout in ms.
    pub msg_timeout: i64,
    /// TLS negotiated.
    pub tls_v1: bool,
    /// Deflate negotiated.
    pub deflate: bool,
    /// Effective deflate level.
    pub deflate_level: i64,
    /// `--max-deflate-level`.
    pub max_deflate_level: i64,
    /// Snappy negotiated.
    pub snappy: bool,
    /// This connection's sample rate.
    pub sample_rate: i32,
    /// Whether AUTH is required.
    pub auth_required: bool,
    /// Effective output buffer size.
    pub output_buffer_size: i64,
    /// Effective output buffer timeout in ms.
    pub output_buffer_timeout: i64,
}

impl IdentifyResponse {
    /// The reply for a negotiated connection.
    pub fn new(n: &Negotiated, policy: &IdentifyPolicy) -> IdentifyResponse {
        IdentifyResponse {
            max_rdy_count: policy.max_rdy_count as i64,
            version: policy.version.clone(),
            max_msg_timeout: ms(policy.max_msg_timeout),
            msg_timeout: ms(n.msg_timeout),
            tls_v1: n.tls_v1,
            deflate: n.deflate,
            deflate_level: n.deflate_level,
            max_deflate_level: policy.max_deflate_level,
            snappy: n.snappy,
            sample_rate: n.sample_rate,
            auth_required: policy.auth_required,
            output_buffer_size: n.output_buffer_size as i64,
            output_buffer_timeout: ms(n.output_buffer_timeout),
        }
    }

    /// The JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn neg(json: &str) -> Result<Negotiated, ClientError> {
        negotiate(
            &IdentifyRequest::from_json(json.as_bytes())?,
            &IdentifyPolicy::default(),
        )
    }

    fn err_text(json: &str) -> String {
        neg(json).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let n = neg("{}").unwrap();
        assert_eq!(n.heartbeat_interval, Some(Duration::from_secs(30)));
        assert_eq!(n.output_buffer_size, 16384);
        assert_eq!(n.output_buffer_timeout, Duration::from_millis(250));
        assert_eq!(n.msg_timeout, Duration::from_secs(60));
        assert!(!n.feature_negotiation);
        assert_eq!(n.client_id, "");
    }

    #[test]
    fn go_nsq_body_is_accepted() {
        let body = r#"{"client_id":"h","hostname":"h.example","user_agent":"go-nsq/1.1.0","short_id":"h","long_id":"h.example","tls_v1":false,"deflate":false,"deflate_level":6,"snappy":false,"feature_negotiation":true,"heartbeat_interval":30000,"sample_rate":0,"output_buffer_size":16384,"output_buffer_timeout":250,"msg_timeout":0,"topology_region":"","topology_zone":""}"#;
        let n = neg(body).unwrap();
        assert!(n.feature_negotiation);
        assert_eq!(n.user_agent, "go-nsq/1.1.0");
    }

    #[test]
    fn bounds() {
        for (body, want) in [
            (
                r#"{"heartbeat_interval":999}"#,
                "E_BAD_BODY IDENTIFY heartbeat interval (999) is invalid",
            ),
            (
                r#"{"heartbeat_interval":60001}"#,
                "E_BAD_BODY IDENTIFY heartbeat interval (60001) is invalid",
            ),
            (
                r#"{"output_buffer_size":63}"#,
                "E_BAD_BODY IDENTIFY output buffer size (63) is invalid",
            ),
            (
                r#"{"output_buffer_size":65537}"#,
                "E_BAD_BODY IDENTIFY output buffer size (65537) is invalid",
            ),
            (
                r#"{"output_buffer_timeout":24}"#,
                "E_BAD_BODY IDENTIFY output buffer timeout (24) is invalid",
            ),
            (
                r#"{"sample_rate":100}"#,
                "E_BAD_BODY IDENTIFY sample rate (100) is invalid",
            ),
            (
                r#"{"sample_rate":-1}"#,
                "E_BAD_BODY IDENTIFY sample rate (-1) is invalid",
            ),
            (
                r#"{"msg_timeout":999}"#,
                "E_BAD_BODY IDENTIFY msg timeout (999) is invalid",
            ),
            (
                r#"{"msg_timeout":900001}"#,
                "E_BAD_BODY IDENTIFY msg timeout (900001) is invalid",
            ),
        ] {
            assert_eq!(err_text(body), want);
        }
        for body in [
            r#"{"heartbeat_interval":1000}"#,
            r#"{"heartbeat_interval":60000}"#,
            r#"{"output_buffer_size":64}"#,
            r#"{"output_buffer_size":65536}"#,
            r#"{"output_buffer_timeout":25}"#,
            r#"{"output_buffer_timeout":30000}"#,
        ] {
            assert!(neg(body).is_ok(), "{body}");
        }
        assert_eq!(
            neg(r#"{"heartbeat_interval":-1}"#)
                .unwrap()
                .heartbeat_interval,
            None
        );
        assert_eq!(
            neg(r#"{"msg_timeout":900000}"#).unwrap().msg_timeout,
            Duration::from_secs(900)
        );
    }

    #[test]
    fn validation_order_reports_heartbeat_first() {
        assert_eq!(
            err_text(r#"{"sample_rate":100,"heartbeat_interval":1,"output_buffer_size":1}"#),
            "E_BAD_BODY IDENTIFY heartbeat interval (1) is invalid"
        );
        assert_eq!(
            err_text(r#"{"output_buffer_size":1,"output_buffer_timeout":1}"#),
            "E_BAD_BODY IDENTIFY output buffer timeout (1) is invalid"
        );
    }

    #[test]
    fn unbuffered_forces_zero_timeout() {
        let n = neg(r#"{"output_buffer_size":-1,"output_buffer_timeout":1000}"#).unwrap();
        assert_eq!(n.output_buffer_size, 1);
        assert_eq!(n.output_buffer_timeout, Duration::ZERO);
    }

    #[test]
    fn type_mismatches_are_decode_errors() {
        for body in [
            r#"{"heartbeat_interval":"1"}"#,
            r#"{"heartbeat_interval":1.5}"#,
            "nope",
            r#"{"tls_v1":1}"#,
            r#"{"sample_rate":4294967296}"#,
        ] {
            assert_eq!(
                err_text(body),
                "E_BAD_BODY IDENTIFY failed to decode JSON body",
                "{body}"
            );
        }
        assert!(neg(r#"{"heartbeat_interval":null}"#).is_ok());
        assert!(neg("null").is_ok());
        assert_eq!(
            err_text(r#"{"HEARTBEAT_INTERVAL":999}"#),
            "E_BAD_BODY IDENTIFY heartbeat interval (999) is invalid"
        );
    }

    #[test]
    fn upgrades_are_false_when_not_available() {
        let n = neg(r#"{"feature_negotiation":true,"tls_v1":true,"snappy":true,"deflate":true,"deflate_level":9}"#).unwrap();
        assert!(!n.tls_v1 && !n.snappy && !n.deflate);
        assert_eq!(n.deflate_level, 6);
    }

    #[test]
    fn both_compressions_refused_when_available() {
        let policy = IdentifyPolicy {
            snappy_enabled: true,
            deflate_enabled: true,
            ..IdentifyPolicy::default()
        };
        let req = IdentifyRequest::from_json(
            br#"{"feature_negotiation":true,"snappy":true,"deflate":true}"#,
        )
        .unwrap();
        assert_eq!(
            negotiate(&req, &policy).unwrap_err().to_string(),
            "E_IDENTIFY_FAILED cannot enable both deflate and snappy compression"
        );
    }

    #[test]
    fn response_golden_json() {
        let policy = IdentifyPolicy::default();
        let n = neg(r#"{"feature_negotiation":true}"#).unwrap();
        let json = String::from_utf8(IdentifyResponse::new(&n, &policy).to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"max_rdy_count":2500,"version":"1.3.0","max_msg_timeout":900000,"msg_timeout":60000,"tls_v1":false,"deflate":false,"deflate_level":6,"max_deflate_level":6,"snappy":false,"sample_rate":0,"auth_required":false,"output_buffer_size":16384,"output_buffer_timeout":250}"#
        );
    }

    proptest! {
        #[test]
        fn request_roundtrip(hb in proptest::option::of(any::<i64>()), sr in proptest::option::of(any::<i32>()), cid in proptest::option::of(".*")) {
            let req = IdentifyRequest { heartbeat_interval: hb, sample_rate: sr, client_id: cid, ..Default::default() };
            let json = serde_json::to_vec(&req).unwrap();
            prop_assert_eq!(IdentifyRequest::from_json(&json).unwrap(), req);
        }

        #[test]
        fn never_panics(body in proptest::collection::vec(any::<u8>(), 0..128)) {
            if let Ok(req) = IdentifyRequest::from_json(&body) {
                let _ = negotiate(&req, &IdentifyPolicy::default());
            }
        }
    }
}
