//! Arbitrary bytes as an IDENTIFY body: `IdentifyRequest::from_json`, then
//! `negotiate` with the default policy (no upgrades available) and with a
//! policy that offers TLS, snappy and deflate.
//!
//! Checked:
//! * no panic;
//! * a decoded request serializes to JSON that decodes to the same request;
//! * negotiated settings are within the policy's bounds, and the
//!   feature-negotiation reply serializes to JSON that parses back.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use nsq_protocol::identify::{negotiate, IdentifyPolicy, IdentifyRequest, IdentifyResponse};

fuzz_target!(|data: &[u8]| {
    let Ok(req) = IdentifyRequest::from_json(data) else {
        return;
    };
    let json = serde_json::to_vec(&req).expect("an IdentifyRequest serializes");
    assert_eq!(
        IdentifyRequest::from_json(&json).as_ref(),
        Ok(&req),
        "request does not survive a JSON round trip: {}",
        String::from_utf8_lossy(&json)
    );

    check(&req, &IdentifyPolicy::default());
    check(
        &req,
        &IdentifyPolicy {
            tls_available: true,
            snappy_enabled: true,
            deflate_enabled: true,
            auth_required: true,
            ..IdentifyPolicy::default()
        },
    );
});

fn check(req: &IdentifyRequest, policy: &IdentifyPolicy) {
    let Ok(n) = negotiate(req, policy) else {
        return;
    };
    if let Some(hb) = n.heartbeat_interval {
        assert!(hb <= policy.max_heartbeat_interval, "heartbeat {hb:?}");
    }
    assert!(
        n.output_buffer_size == 1
            || (64..=policy.max_output_buffer_size).contains(&n.output_buffer_size)
            || n.output_buffer_size == policy.default_output_buffer_size,
        "output buffer size {}",
        n.output_buffer_size
    );
    if n.output_buffer_size == 1 {
        assert_eq!(
            n.output_buffer_timeout,
            Duration::ZERO,
            "unbuffered with a flush timeout"
        );
    }
    assert!(
        n.output_buffer_timeout <= policy.max_output_buffer_timeout,
        "{:?}",
        n.output_buffer_timeout
    );
    assert!(
        (0..=99).contains(&n.sample_rate),
        "sample rate {}",
        n.sample_rate
    );
    assert!(
        n.msg_timeout <= policy.max_msg_timeout,
        "msg timeout {:?}",
        n.msg_timeout
    );
    assert!(
        n.deflate_level <= policy.max_deflate_level,
        "deflate level {}",
        n.deflate_level
    );
    assert!(!(n.snappy && n.deflate), "both snappy and deflate");
    if !n.feature_negotiation {
        assert!(
            !n.tls_v1 && !n.snappy && !n.deflate,
            "upgrade without feature negotiation"
        );
    }
    if !policy.tls_available {
        assert!(!n.tls_v1);
    }
    if !policy.snappy_enabled {
        assert!(!n.snappy);
    }
    if !policy.deflate_enabled {
        assert!(!n.deflate);
    }

    let resp = IdentifyResponse::new(&n, policy);
    let json = resp.to_json();
    assert!(!json.is_empty(), "empty IDENTIFY response");
    let back: IdentifyResponse = serde_json::from_slice(&json).expect("response JSON parses back");
    assert_eq!(back, resp);
}
