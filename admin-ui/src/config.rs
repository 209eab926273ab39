//! `GET/PUT /config/:opt` (docs/nsqadmin.md#api): read any option by its
//! config-file name; change `nsqlookupd_http_addresses` and `log_level` at
//! run time. Only from `--allow-config-from-cidr`. As NSQ's nsqadmin, a
//! string option comes back as raw text, any other as JSON; a PUT without
//! a body (or over 1 MiB) is 413 `INVALID_VALUE`.

use serde_json::{json, Value};

use crate::app::App;
use crate::server::{Answer, Request};

/// Answer a `/config/:opt` request.
pub fn handle(app: &App, req: &Request, opt: &str) -> Answer {
    let Some(remote) = req.remote else {
        return Answer::error(400, "INVALID_REMOTE_ADDR");
    };
    if !app.opts.config_cidr.contains(remote.ip()) {
        return Answer::error(403, "FORBIDDEN");
    }
    if req.method == "PUT" {
        if req.body.is_empty() || req.body.len() > 1024 * 1024 {
            return Answer::error(413, "INVALID_VALUE");
        }
        match opt {
            "nsqlookupd_http_addresses" => {
                let Ok(list) = serde_json::from_slice::<Vec<String>>(&req.body) else {
                    return Answer::error(400, "INVALID_VALUE");
                };
                if let Ok(mut l) = app.lookupds.write() {
                    *l = list;
                }
            }
            "log_level" => {
                let text = String::from_utf8_lossy(&req.body);
                let Some(level) = crate::log::Level::parse(text.trim()) else {
                    return Answer::error(400, "INVALID_VALUE");
                };
                crate::log::set_level(level);
            }
            _ => return Answer::error(400, "INVALID_OPTION"),
        }
    }
    match value(app, opt) {
        Some(Value::String(text)) => {
            let mut a = Answer::plain("text/plain; charset=utf-8", text.into_bytes());
            a.nsq_v1 = true;
            if a.body.is_empty() {
                // An empty answer carries no Content-Type (Go's server).
                a.content_type = None;
            }
            a
        }
        Some(v) => Answer::json(&v),
        None => Answer::error(400, "INVALID_OPTION"),
    }
}

/// The JSON value of an option (durations in ns, log level 1..5 as NSQ's
/// `lg.LogLevel`).
fn value(app: &App, opt: &str) -> Option<Value> {
    let f = &app.opts.flags;
    let ns = |d: std::time::Duration| json!(d.as_nanos() as u64);
    Some(match opt {
        "nsqlookupd_http_addresses" => json!(*app.lookupds.read().ok()?),
        "nsqd_http_addresses" => json!(f.nsqd_http_address),
        "log_level" => json!(crate::log::level() as u8 + 1),
        "log_prefix" => json!(f.log_prefix),
        "http_address" => json!(f.http_address),
        "base_path" => json!(app.opts.base_path),
        "graphite_url" => json!(f.graphite_url),
        "proxy_graphite" => json!(f.proxy_graphite),
        "statsd_prefix" => json!(f.statsd_prefix),
        "statsd_counter_format" => json!(f.statsd_counter_format),
        "statsd_gauge_format" => json!(f.statsd_gauge_format),
        "statsd_interval" => ns(f.statsd_interval),
        "notification_http_endpoint" => json!(f.notification_http_endpoint),
        "http_client_connect_timeout" => ns(f.http_client_connect_timeout),
        "http_client_request_timeout" => ns(f.http_client_request_timeout),
        "http_client_tls_insecure_skip_verify" => json!(f.http_client_tls_insecure_skip_verify),
        "http_client_tls_root_ca_file" => json!(f.http_client_tls_root_ca_file),
        "http_client_tls_cert" => json!(f.http_client_tls_cert),
        "http_client_tls_key" => json!(f.http_client_tls_key),
        "allow_config_from_cidr" => json!(f.allow_config_from_cidr),
        "acl_http_header" => json!(f.acl_http_header),
        "admin_users" => json!(f.admin_user),
        "dev_static_dir" => json!(f.dev_static_dir),
        _ => return None,
    })
}
