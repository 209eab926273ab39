//! `GET /config/:opt` and `PUT /config/:opt` (docs/http-api.md#config): every
//! option by its config-file name; strings come back as raw text, durations
//! as nanoseconds, the log level as NSQ's number. Only
//! `nsqlookupd_tcp_addresses` and `log_level` can be changed.

use serde_json::{json, Value};

use crate::http::reply::Reply;
use crate::http::HttpConn;
use crate::log::Level;

/// An option's current value.
enum OptValue {
    Json(Value),
    Text(String),
}

fn ns(d: std::time::Duration) -> OptValue {
    OptValue::Json(json!(d.as_nanos() as u64))
}

fn tls_version_number(v: &str) -> u16 {
    match v {
        "tls1.1" => 0x0302,
        "tls1.2" => 0x0303,
        "tls1.3" => 0x0304,
        _ => 0x0301,
    }
}

fn value_of(conn: &HttpConn, name: &str) -> Option<OptValue> {
    let ctx = &conn.shard.ctx;
    let o = &ctx.opts;
    let f = &o.flags;
    let text = |s: &str| Some(OptValue::Text(s.to_string()));
    let j = |v: Value| Some(OptValue::Json(v));
    match name {
        "id" => j(json!(o.node_id)),
        "log_level" => j(json!(crate::log::level() as u8 + 1)),
        "log_prefix" => text(&f.log_prefix),
        "tcp_address" => text(&f.tcp_address),
        "http_address" => text(&f.http_address),
        "https_address" => text(&f.https_address),
        "broadcast_address" => text(&ctx.broadcast_address),
        // NSQ stores the real ports when the flags are 0.
        "broadcast_tcp_port" => j(json!(if f.broadcast_tcp_port == 0 {
            ctx.tcp_port
        } else {
            f.broadcast_tcp_port
        })),
        "broadcast_http_port" => j(json!(if f.broadcast_http_port == 0 {
            ctx.http_port
        } else {
            f.broadcast_http_port
        })),
        "nsqlookupd_tcp_addresses" => j(json!(ctx.lookupd_tcp_addresses())),
        "auth_http_addresses" => j(json!(f.auth_http_address)),
        "auth_http_request_method" => text(&f.auth_http_request_method),
        "http_client_connect_timeout" => Some(ns(f.http_client_connect_timeout)),
        "http_client_request_timeout" => Some(ns(f.http_client_request_timeout)),
        "topology_region" => text(&f.topology_region),
        "topology_zone" => text(&f.topology_zone),
        "enable_experiment" => j(json!(f.enable_experiment)),
        "data_path" => text(&f.data_path),
        "mem_queue_size" => j(json!(f.mem_queue_size)),
        "max_bytes_per_file" => j(json!(f.max_bytes_per_file)),
        "sync_every" => j(json!(f.sync_every)),
        "sync_timeout" => Some(ns(f.sync_timeout)),
        "queue_scan_worker_pool_max" => j(json!(f.queue_scan_worker_pool_max)),
        "queue_scan_selection_count" => j(json!(f.queue_scan_selection_count)),
        "msg_timeout" => Some(ns(f.msg_timeout)),
        "max_msg_timeout" => Some(ns(f.max_msg_timeout)),
        "max_msg_size" => j(json!(f.max_msg_size)),
        "max_body_size" => j(json!(f.max_body_size)),
        "max_req_timeout" => Some(ns(f.max_req_timeout)),
        "max_defer_timeout" => Some(ns(o.max_defer_timeout)),
        "max_heartbeat_interval" => Some(ns(f.max_heartbeat_interval)),
        "max_rdy_count" => j(json!(f.max_rdy_count)),
        "max_output_buffer_size" => j(json!(f.max_output_buffer_size)),
        "max_output_buffer_timeout" => Some(ns(f.max_output_buffer_timeout)),
        "min_output_buffer_timeout" => Some(ns(f.min_output_buffer_timeout)),
        "output_buffer_timeout" => Some(ns(f.output_buffer_timeout)),
        "max_channel_consumers" => j(json!(f.max_channel_consumers)),
        "statsd_address" => text(&f.statsd_address),
        // NSQ stores the resolved prefix.
        "statsd_prefix" => text(&crate::statsd::prefix(
            &f.statsd_prefix,
            &ctx.broadcast_address,
            if f.broadcast_http_port == 0 {
                ctx.http_port
            } else {
                f.broadcast_http_port
            },
        )),
        "statsd_interval" => Some(ns(f.statsd_interval)),
        "statsd_mem_stats" => j(json!(f.statsd_mem_stats)),
        "statsd_udp_packet_size" => j(json!(f.statsd_udp_packet_size)),
        "statsd_exclude_ephemeral" => j(json!(f.statsd_exclude_ephemeral)),
        "e2e_processing_latency_window_time" => Some(ns(f.e2e_processing_latency_window_time)),
        "e2e_processing_latency_percentiles" => j(json!(f
            .e2e_processing_latency_percentile
            .iter()
            .flat_map(|p| p.split(','))
            .filter_map(|p| p.trim().parse::<f64>().ok())
            .collect::<Vec<_>>())),
        "tls_cert" => text(&f.tls_cert),
        "tls_key" => text(&f.tls_key),
        "tls_client_auth_policy" => text(&f.tls_client_auth_policy),
        "tls_root_ca_file" => text(&f.tls_root_ca_file),
        "tls_required" => j(json!(match f.tls_required.as_str() {
            "true" | "1" => 2,
            "tcp-https" => 1,
            _ => 0,
        })),
        "tls_min_version" => j(json!(tls_version_number(&f.tls_min_version))),
        "deflate" => j(json!(f.deflate)),
        "max_deflate_level" => j(json!(f.max_deflate_level)),
        "snappy" => j(json!(f.snappy)),
        // Extensions (docs/compatibility.md#extra-flags).
        "max_attempts" => j(json!(f.max_attempts)),
        "drain_timeout" => Some(ns(f.drain_timeout)),
        _ => None,
    }
}

fn reply_for(v: OptValue) -> Reply {
    match v {
        OptValue::Json(v) => Reply::json(&v),
        OptValue::Text(s) => Reply::Text(s.into_bytes()),
    }
}

/// GET.
pub(crate) fn get(conn: &HttpConn, opt: &str) -> Reply {
    value_of(conn, opt).map_or_else(|| Reply::err(400, "INVALID_OPTION"), reply_for)
}

/// PUT.
pub(crate) fn put(conn: &HttpConn, opt: &str, body: &[u8]) -> Reply {
    if body.is_empty() {
        return Reply::err(413, "INVALID_VALUE");
    }
    match opt {
        "nsqlookupd_tcp_addresses" => match serde_json::from_slice::<Vec<String>>(body) {
            Ok(addrs) => {
                crate::log!(Info, "nsqlookupd_tcp_addresses set to {addrs:?}");
                conn.shard.ctx.set_lookupd_tcp_addresses(addrs);
            }
            Err(_) => return Reply::err(400, "INVALID_VALUE"),
        },
        "log_level" => match std::str::from_utf8(body).ok().and_then(Level::parse) {
            Some(level) => crate::log::set_level(level),
            None => return Reply::err(400, "INVALID_VALUE"),
        },
        _ => return Reply::err(400, "INVALID_OPTION"),
    }
    get(conn, opt)
}
