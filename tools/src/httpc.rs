//! The tools' HTTP calls (lookupd, nsqd `/stats`, nsq_to_http), made with
//! the one client of nsq-rs ([`nsq_http_client`]): `User-Agent:
//! nsq-tools/<version>` unless the caller sends its own, and for `https://`
//! targets rustls verified against the system CA bundle (or
//! `SSL_CERT_FILE`), as Go's default HTTP client does.

use std::sync::{Arc, OnceLock};

use rustls::ClientConfig;

pub use nsq_http_client::{query_escape, Client, HttpError, Response, Target, Timeouts, Url};

use crate::client::transport;

/// The rustls configuration of HTTPS requests: system roots, no client
/// certificate (go-nsq's `tls_*` options are for nsqd connections only).
fn system_tls() -> Result<Arc<ClientConfig>, HttpError> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            transport::client_config(&crate::client::Config::default()).map_err(|e| e.to_string())
        })
        .clone()
        .map_err(HttpError::Tls)
}

/// `headers` led by the tools' `User-Agent` unless they name one.
fn with_user_agent(headers: &[(String, String)]) -> Vec<(String, String)> {
    let mut all = Vec::with_capacity(headers.len() + 1);
    if !headers
        .iter()
        .any(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
    {
        all.push((
            "User-Agent".to_string(),
            format!("nsq-tools/{}", crate::NSQ_VERSION),
        ));
    }
    all.extend_from_slice(headers);
    all
}

/// One plain HTTP request.
pub fn request(
    method: &str,
    url: &Url,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
) -> Result<Response, HttpError> {
    request_to(method, &Target::http(url.clone()), headers, body, t)
}

/// One request over HTTP or HTTPS (system roots).
pub fn request_to(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
) -> Result<Response, HttpError> {
    let mut client = Client::new(t);
    if target.tls {
        client = client.with_tls(system_tls()?);
    }
    client.request(method, target, &with_user_agent(headers), body)
}

/// [`request_to`] with the caller's TLS configuration for `https://`
/// (nsqadmin's `--http-client-tls-*`: own roots, client certificate).
pub fn request_to_with(
    method: &str,
    target: &Target,
    headers: &[(String, String)],
    body: &[u8],
    t: Timeouts,
    tls: &Arc<ClientConfig>,
) -> Result<Response, HttpError> {
    Client::new(t)
        .with_tls(tls.clone())
        .request(method, target, &with_user_agent(headers), body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tools_name_themselves_unless_told_otherwise() {
        let ua = |h: &[(String, String)]| {
            with_user_agent(h)
                .iter()
                .filter(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ua(&[]), ["nsq-tools/1.3.0"]);
        assert_eq!(ua(&[("user-agent".into(), "x/1".into())]), ["x/1"]);
    }
}
