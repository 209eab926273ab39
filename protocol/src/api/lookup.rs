//! JSON shapes of nsqlookupd's HTTP API (docs/lookupd.md#http-api), with NSQ's
//! key order: structs where NSQ marshals a struct, sorted keys where it
//! marshals a Go map. Shared by nsqlookupd (which serializes them) and the
//! tools that read them (nsqd's channel pre-creation, nsqadmin, clients).
//!
//! The topology fields are a master-only experiment upstream: they are kept
//! when an nsqd sends them and left out when empty, so 1.3.0 nsqds give
//! 1.3.0's shapes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One nsqd as `/lookup` lists it (Go's `PeerInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerInfo {
    /// nsqd's `ip:port` as lookupd sees its TCP connection.
    pub remote_address: String,
    /// nsqd's OS hostname.
    pub hostname: String,
    /// Where clients connect.
    pub broadcast_address: String,
    /// nsqd's TCP port.
    pub tcp_port: i64,
    /// nsqd's HTTP port.
    pub http_port: i64,
    /// nsqd's version.
    pub version: String,
    /// Topology zone (master-only; omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_zone: String,
    /// Topology region (master-only; omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_region: String,
}

/// `GET /lookup?topic=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LookupResponse {
    /// Every channel registration of the topic.
    pub channels: Vec<String>,
    /// Active, not tombstoned producers of the topic.
    pub producers: Vec<PeerInfo>,
}

/// `GET /topics`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TopicsResponse {
    /// Every topic registration.
    pub topics: Vec<String>,
}

/// `GET /channels?topic=`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ChannelsResponse {
    /// Every channel registration of the topic.
    pub channels: Vec<String>,
}

/// One nsqd as `/nodes` lists it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Node {
    /// nsqd's `ip:port` as lookupd sees it.
    pub remote_address: String,
    /// nsqd's OS hostname.
    pub hostname: String,
    /// Where clients connect.
    pub broadcast_address: String,
    /// nsqd's TCP port.
    pub tcp_port: i64,
    /// nsqd's HTTP port.
    pub http_port: i64,
    /// nsqd's version.
    pub version: String,
    /// Topology zone (master-only; omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_zone: String,
    /// Topology region (master-only; omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_region: String,
    /// Whether this nsqd is tombstoned for each of `topics`.
    pub tombstones: Vec<bool>,
    /// Topics this nsqd registered.
    pub topics: Vec<String>,
}

/// `GET /nodes`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NodesResponse {
    /// Every active identified nsqd.
    pub producers: Vec<Node>,
}

/// `GET /info`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InfoResponse {
    /// `1.3.0`.
    pub version: String,
}

/// One producer in `/debug` (a Go map, so keys are sorted).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DebugProducer {
    /// Where clients connect.
    pub broadcast_address: String,
    /// nsqd's OS hostname.
    pub hostname: String,
    /// nsqd's HTTP port.
    pub http_port: i64,
    /// The peer ID: nsqd's `ip:port` as lookupd sees it.
    pub id: String,
    /// Last IDENTIFY or PING, Unix nanoseconds.
    pub last_update: i64,
    /// nsqd's TCP port.
    pub tcp_port: i64,
    /// Whether `/topic/tombstone` marked it (whatever its age).
    pub tombstoned: bool,
    /// When it was tombstoned, Unix nanoseconds (0 if never).
    pub tombstoned_at: i64,
    /// Topology region (master-only; omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_region: String,
    /// Topology zone (master-only; omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty")]
    pub topology_zone: String,
    /// nsqd's version.
    pub version: String,
}

/// `GET /debug`: `"<category>:<key>:<subkey>"` → producers (registrations
/// without producers are absent, as in NSQ).
pub type DebugResponse = BTreeMap<String, Vec<DebugProducer>>;

#[cfg(test)]
mod tests {
    use super::*;

    fn peer() -> PeerInfo {
        PeerInfo {
            remote_address: "127.0.0.1:5000".into(),
            hostname: "h".into(),
            broadcast_address: "b".into(),
            tcp_port: 4150,
            http_port: 4151,
            version: "1.3.0".into(),
            ..PeerInfo::default()
        }
    }

    #[test]
    fn golden_lookup() {
        let r = LookupResponse {
            channels: vec!["c".into()],
            producers: vec![peer()],
        };
        assert_eq!(
            serde_json::to_string(&r).unwrap(),
            r#"{"channels":["c"],"producers":[{"remote_address":"127.0.0.1:5000","hostname":"h","broadcast_address":"b","tcp_port":4150,"http_port":4151,"version":"1.3.0"}]}"#
        );
        let back: LookupResponse =
            serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(back, r);
    }

    #[test]
    fn golden_nodes_with_topology() {
        let n = Node {
            remote_address: "r".into(),
            hostname: "h".into(),
            broadcast_address: "b".into(),
            tcp_port: 1,
            http_port: 2,
            version: "v".into(),
            topology_zone: "z".into(),
            topology_region: "g".into(),
            tombstones: vec![false, true],
            topics: vec!["a".into(), "b".into()],
        };
        assert_eq!(
            serde_json::to_string(&NodesResponse { producers: vec![n] }).unwrap(),
            r#"{"producers":[{"remote_address":"r","hostname":"h","broadcast_address":"b","tcp_port":1,"http_port":2,"version":"v","topology_zone":"z","topology_region":"g","tombstones":[false,true],"topics":["a","b"]}]}"#
        );
    }

    #[test]
    fn golden_debug_keys_sorted() {
        let mut d = DebugResponse::new();
        d.insert(
            "topic:t:".into(),
            vec![DebugProducer {
                broadcast_address: "b".into(),
                hostname: "h".into(),
                http_port: 2,
                id: "i".into(),
                last_update: 5,
                tcp_port: 1,
                tombstoned: true,
                tombstoned_at: 6,
                version: "v".into(),
                ..DebugProducer::default()
            }],
        );
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"{"topic:t:":[{"broadcast_address":"b","hostname":"h","http_port":2,"id":"i","last_update":5,"tcp_port":1,"tombstoned":true,"tombstoned_at":6,"version":"v"}]}"#
        );
        assert_eq!(
            serde_json::to_string(&TopicsResponse::default()).unwrap(),
            r#"{"topics":[]}"#
        );
    }
}
