//! Client options with go-nsq's names and defaults
//! (docs/clients.md#message-handling), so that `--consumer-opt=max_attempts,10`
//! and `--producer-opt` work as they do for NSQ's tools.

use std::time::Duration;

use nsq_protocol::flags::{parse_bool, parse_go_duration};

use super::backoff::Strategy;
use super::Error;

/// go-nsq's `Config`: every option it knows is accepted by [`Config::set`].
#[derive(Debug, Clone)]
pub struct Config {
    /// `dial_timeout` (1s).
    pub dial_timeout: Duration,
    /// `read_timeout` (60s).
    pub read_timeout: Duration,
    /// `write_timeout` (1s).
    pub write_timeout: Duration,
    /// `lookupd_poll_interval` (60s).
    pub lookupd_poll_interval: Duration,
    /// `lookupd_poll_jitter` (0.3).
    pub lookupd_poll_jitter: f64,
    /// `lookupd_poll_timeout` (1m).
    pub lookupd_poll_timeout: Duration,
    /// `max_requeue_delay` (15m).
    pub max_requeue_delay: Duration,
    /// `default_requeue_delay` (90s).
    pub default_requeue_delay: Duration,
    /// `backoff_strategy` (exponential).
    pub backoff_strategy: Strategy,
    /// `max_backoff_duration` (2m).
    pub max_backoff_duration: Duration,
    /// `backoff_multiplier` (1s).
    pub backoff_multiplier: Duration,
    /// `max_attempts` (5; 0 = unlimited).
    pub max_attempts: u16,
    /// `low_rdy_idle_timeout` (10s).
    pub low_rdy_idle_timeout: Duration,
    /// `low_rdy_timeout` (30s).
    pub low_rdy_timeout: Duration,
    /// `rdy_redistribute_interval` (5s).
    pub rdy_redistribute_interval: Duration,
    /// `client_id` (short hostname).
    pub client_id: String,
    /// `hostname` (hostname).
    pub hostname: String,
    /// `user_agent`.
    pub user_agent: String,
    /// `heartbeat_interval` (30s; `None` = disabled, -1).
    pub heartbeat_interval: Option<Duration>,
    /// `sample_rate` (0).
    pub sample_rate: i32,
    /// `output_buffer_size` (16384; -1 disables).
    pub output_buffer_size: i64,
    /// `output_buffer_timeout` (250ms; `None` = disabled, -1).
    pub output_buffer_timeout: Option<Duration>,
    /// `max_in_flight` (1).
    pub max_in_flight: u64,
    /// `msg_timeout` (0 = server default).
    pub msg_timeout: Duration,
    /// `max_msg_size` (0 = no client-side limit).
    pub max_msg_size: u32,
    /// `auth_secret`.
    pub auth_secret: Option<String>,
    /// `deflate_level` (6).
    pub deflate_level: i32,
    /// `deflate` (false).
    pub deflate: bool,
    /// `snappy` (false).
    pub snappy: bool,
    /// `tls_v1` (false).
    pub tls_v1: bool,
    /// `tls_root_ca_file` (PEM; default: the system CA bundle).
    pub tls_root_ca_file: Option<String>,
    /// `tls_insecure_skip_verify` (false).
    pub tls_insecure_skip_verify: bool,
    /// `tls_cert` (PEM client certificate chain, with `tls_key`).
    pub tls_cert: Option<String>,
    /// `tls_key` (PEM private key, with `tls_cert`).
    pub tls_key: Option<String>,
    /// `tls_min_version` (`tls1.2` or `tls1.3`; older ones mean 1.2).
    pub tls_min_version: Option<String>,
    /// `skip_lookupd_authorization` (false: the auth secret goes to lookupd).
    pub skip_lookupd_authorization: bool,
}

/// The OS hostname (`/proc/sys/kernel/hostname`, else `localhost`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// The hostname up to the first dot.
pub fn short_hostname() -> String {
    let h = hostname();
    h.split('.').next().unwrap_or(&h).to_string()
}

impl Default for Config {
    fn default() -> Config {
        Config {
            dial_timeout: Duration::from_secs(1),
            read_timeout: Duration::from_secs(60),
            write_timeout: Duration::from_secs(1),
            lookupd_poll_interval: Duration::from_secs(60),
            lookupd_poll_jitter: 0.3,
            lookupd_poll_timeout: Duration::from_secs(60),
            max_requeue_delay: Duration::from_secs(15 * 60),
            default_requeue_delay: Duration::from_secs(90),
            backoff_strategy: Strategy::Exponential,
            max_backoff_duration: Duration::from_secs(120),
            backoff_multiplier: Duration::from_secs(1),
            max_attempts: 5,
            low_rdy_idle_timeout: Duration::from_secs(10),
            low_rdy_timeout: Duration::from_secs(30),
            rdy_redistribute_interval: Duration::from_secs(5),
            client_id: short_hostname(),
            hostname: hostname(),
            user_agent: format!("nsq-tools/{} go-nsq/1.1.0", crate::NSQ_VERSION),
            heartbeat_interval: Some(Duration::from_secs(30)),
            sample_rate: 0,
            output_buffer_size: 16384,
            output_buffer_timeout: Some(Duration::from_millis(250)),
            max_in_flight: 1,
            msg_timeout: Duration::ZERO,
            max_msg_size: 0,
            auth_secret: None,
            deflate_level: 6,
            deflate: false,
            snappy: false,
            tls_v1: false,
            tls_root_ca_file: None,
            tls_insecure_skip_verify: false,
            tls_cert: None,
            tls_key: None,
            tls_min_version: None,
            skip_lookupd_authorization: false,
        }
    }
}

fn duration(key: &str, v: &str) -> Result<Duration, Error> {
    // go-nsq takes a Go duration string, or an integer as nanoseconds.
    if let Ok(ns) = v.parse::<u64>() {
        return Ok(Duration::from_nanos(ns));
    }
    parse_go_duration(v).map_err(|e| Error::Config(format!("invalid value for {key}: {e}")))
}

fn number<T: std::str::FromStr>(key: &str, v: &str) -> Result<T, Error> {
    v.parse()
        .map_err(|_| Error::Config(format!("invalid value for {key}: {v:?}")))
}

fn boolean(key: &str, v: &str) -> Result<bool, Error> {
    parse_bool(v).map_err(|e| Error::Config(format!("invalid value for {key}: {e}")))
}

fn range<T: PartialOrd + std::fmt::Debug + Copy>(
    key: &str,
    v: T,
    min: T,
    max: T,
) -> Result<T, Error> {
    if v < min || v > max {
        return Err(Error::Config(format!(
            "invalid {key} ! {min:?} <= {v:?} <= {max:?}"
        )));
    }
    Ok(v)
}

impl Config {
    /// Set one option by go-nsq's name (`-` and `_` both accepted), value
    /// as text; a key alone (`value` = None) means boolean true.
    pub fn set(&mut self, key: &str, value: Option<&str>) -> Result<(), Error> {
        let key = key.trim().replace('-', "_");
        let v = value.unwrap_or("true").trim();
        let k = key.as_str();
        match k {
            "dial_timeout" => self.dial_timeout = duration(k, v)?,
            "read_timeout" => {
                self.read_timeout = duration(k, v)?;
                range(
                    k,
                    self.read_timeout,
                    Duration::from_millis(100),
                    Duration::from_secs(300),
                )?;
            }
            "write_timeout" => {
                self.write_timeout = duration(k, v)?;
                range(
                    k,
                    self.write_timeout,
                    Duration::from_millis(100),
                    Duration::from_secs(300),
                )?;
            }
            "local_addr" => {} // accepted; the kernel picks the source address
            "lookupd_poll_interval" => {
                self.lookupd_poll_interval = duration(k, v)?;
                range(
                    k,
                    self.lookupd_poll_interval,
                    Duration::from_millis(10),
                    Duration::from_secs(300),
                )?;
            }
            "lookupd_poll_jitter" => {
                self.lookupd_poll_jitter = range(k, number(k, v)?, 0.0, 1.0)?;
            }
            "lookupd_poll_timeout" => self.lookupd_poll_timeout = duration(k, v)?,
            "max_requeue_delay" => self.max_requeue_delay = duration(k, v)?,
            "default_requeue_delay" => self.default_requeue_delay = duration(k, v)?,
            "backoff_strategy" => {
                self.backoff_strategy = match v {
                    "" | "exponential" => Strategy::Exponential,
                    "full_jitter" => Strategy::FullJitter,
                    other => {
                        return Err(Error::Config(format!(
                            "invalid backoff strategy {other:?} (exponential|full_jitter)"
                        )))
                    }
                }
            }
            "max_backoff_duration" => self.max_backoff_duration = duration(k, v)?,
            "backoff_multiplier" => self.backoff_multiplier = duration(k, v)?,
            "max_attempts" => self.max_attempts = number(k, v)?,
            "low_rdy_idle_timeout" => self.low_rdy_idle_timeout = duration(k, v)?,
            "low_rdy_timeout" => self.low_rdy_timeout = duration(k, v)?,
            "rdy_redistribute_interval" => {
                self.rdy_redistribute_interval = duration(k, v)?;
                range(
                    k,
                    self.rdy_redistribute_interval,
                    Duration::from_millis(1),
                    Duration::from_secs(5),
                )?;
            }
            "client_id" => self.client_id = v.to_string(),
            "hostname" => self.hostname = v.to_string(),
            "user_agent" => self.user_agent = v.to_string(),
            "heartbeat_interval" => {
                self.heartbeat_interval = if v == "-1" {
                    None
                } else {
                    Some(duration(k, v)?)
                }
            }
            "sample_rate" => self.sample_rate = range(k, number(k, v)?, 0, 99)?,
            "output_buffer_size" => self.output_buffer_size = number(k, v)?,
            "output_buffer_timeout" => {
                self.output_buffer_timeout = if v == "-1" {
                    None
                } else {
                    Some(duration(k, v)?)
                }
            }
            "max_in_flight" => self.max_in_flight = number(k, v)?,
            "msg_timeout" => self.msg_timeout = duration(k, v)?,
            "max_msg_size" => self.max_msg_size = number(k, v)?,
            "auth_secret" => self.auth_secret = Some(v.to_string()),
            "skip_lookupd_authorization" => self.skip_lookupd_authorization = boolean(k, v)?,
            "deflate_level" => self.deflate_level = range(k, number(k, v)?, 1, 9)?,
            "tls_v1" => self.tls_v1 = boolean(k, v)?,
            "deflate" => self.deflate = boolean(k, v)?,
            "snappy" => self.snappy = boolean(k, v)?,
            "tls_root_ca_file" => self.tls_root_ca_file = Some(v.to_string()),
            "tls_insecure_skip_verify" => self.tls_insecure_skip_verify = boolean(k, v)?,
            "tls_cert" => self.tls_cert = Some(v.to_string()),
            "tls_key" => self.tls_key = Some(v.to_string()),
            "tls_min_version" => {
                self.tls_min_version = match v.to_ascii_lowercase().as_str() {
                    "ssl3.0" | "tls1.0" | "tls1.1" | "tls1.2" => Some("tls1.2".into()),
                    "tls1.3" => Some("tls1.3".into()),
                    other => {
                        return Err(Error::Config(format!(
                            "invalid tls_min_version {other:?} (ssl3.0|tls1.0|tls1.1|tls1.2|tls1.3)"
                        )))
                    }
                }
            }
            "tls_config" => {
                return Err(Error::Config(
                    "tls_config cannot be set from text: use tls_root_ca_file, \
                     tls_insecure_skip_verify, tls_cert, tls_key, tls_min_version"
                        .into(),
                ))
            }
            _ => return Err(Error::Config(format!("invalid option {key}"))),
        }
        Ok(())
    }

    /// Apply one `--consumer-opt` / `--producer-opt` value: `key[,value]`.
    pub fn set_opt(&mut self, opt: &str) -> Result<(), Error> {
        match opt.split_once(',') {
            Some((k, v)) => self.set(k, Some(v)),
            None => self.set(opt, None),
        }
    }

    /// The IDENTIFY body (go-nsq's, docs/clients.md#consumer-bootstrap).
    pub fn identify_json(&self) -> Vec<u8> {
        let ms = |d: Option<Duration>| d.map_or(-1, |d| d.as_millis() as i64);
        serde_json::json!({
            "client_id": self.client_id,
            "deflate": self.deflate,
            "deflate_level": self.deflate_level,
            "feature_negotiation": true,
            "heartbeat_interval": ms(self.heartbeat_interval),
            "hostname": self.hostname,
            "long_id": self.hostname,
            "msg_timeout": self.msg_timeout.as_millis() as i64,
            "output_buffer_size": self.output_buffer_size,
            "output_buffer_timeout": ms(self.output_buffer_timeout),
            "sample_rate": self.sample_rate,
            "short_id": self.client_id,
            "snappy": self.snappy,
            "tls_v1": self.tls_v1,
            "user_agent": self.user_agent,
        })
        .to_string()
        .into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_nsq_names_and_values() {
        let mut c = Config::default();
        c.set_opt("max_attempts,10").unwrap();
        c.set_opt("backoff-multiplier,250ms").unwrap();
        c.set_opt("lookupd_poll_interval,2s").unwrap();
        c.set_opt("heartbeat_interval,-1").unwrap();
        c.set_opt("skip_lookupd_authorization").unwrap();
        c.set_opt("max_in_flight,7").unwrap();
        assert_eq!(c.max_attempts, 10);
        assert_eq!(c.backoff_multiplier, Duration::from_millis(250));
        assert_eq!(c.lookupd_poll_interval, Duration::from_secs(2));
        assert_eq!(c.heartbeat_interval, None);
        assert_eq!(c.max_in_flight, 7);
        assert!(c.set_opt("no_such_option,1").is_err());
        assert!(c.set_opt("sample_rate,100").is_err());
        c.set_opt("snappy,true").unwrap();
        c.set_opt("tls_v1").unwrap();
        c.set_opt("tls_root_ca_file,/tmp/ca.pem").unwrap();
        c.set_opt("deflate_level,3").unwrap();
        assert!(c.set_opt("deflate_level,10").is_err());
        assert!(c.set_opt("tls_min_version,tls9").is_err());
        assert!(c.set_opt("tls_config,x").is_err());
        assert_eq!(c.tls_root_ca_file.as_deref(), Some("/tmp/ca.pem"));
        let json: serde_json::Value = serde_json::from_slice(&c.identify_json()).unwrap();
        assert_eq!(json["heartbeat_interval"], -1);
        assert_eq!(json["snappy"], true);
        assert_eq!(json["tls_v1"], true);
        assert_eq!(json["deflate"], false);
        assert_eq!(json["deflate_level"], 3);
        assert_eq!(json["feature_negotiation"], true);
    }
}
