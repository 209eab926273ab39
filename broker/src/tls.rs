//! TLS configuration (docs/protocol.md#tls): the rustls server config
//! built from `--tls-cert`, `--tls-key`, `--tls-root-ca-file`,
//! `--tls-client-auth-policy` and `--tls-min-version`, the client config the
//! auth client uses for HTTPS auth servers, and the client certificate's
//! CommonName (passed to the auth server as `common_name`).
//!
//! rustls speaks TLS 1.2 and 1.3 only: `--tls-min-version` tls1.0 and tls1.1
//! (NSQ's default is tls1.0) therefore mean "TLS 1.2 or newer", which every
//! NSQ client negotiates anyway; `ssl3.0` is refused as in NSQ.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::options::Flags;

/// `--tls-required` (docs/protocol.md#tls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsRequired {
    /// `false`.
    No,
    /// `true`: TCP and plain HTTP.
    Yes,
    /// `tcp-https`: TCP only; plain HTTP stays open.
    TcpHttps,
}

impl TlsRequired {
    /// Whether TCP commands other than IDENTIFY need TLS first.
    pub(crate) fn on_tcp(self) -> bool {
        self != TlsRequired::No
    }
}

/// The TLS part of the configuration.
#[derive(Debug, Clone)]
pub(crate) struct TlsSetup {
    /// Server config for the TCP upgrade and the HTTPS listener (`None`
    /// without `--tls-cert`/`--tls-key`).
    pub(crate) server: Option<Arc<rustls::ServerConfig>>,
    /// Effective `--tls-required` (a client auth policy forces `true`).
    pub(crate) required: TlsRequired,
    /// Client config for HTTPS auth servers (system roots or
    /// `--tls-root-ca-file`).
    pub(crate) client: Arc<rustls::ClientConfig>,
}

/// Why the TLS configuration cannot be built (NSQ's startup texts).
#[derive(Debug)]
pub enum TlsError {
    /// `--tls-required` has no such value.
    Required(String),
    /// `--tls-min-version` has no such value.
    MinVersion(String),
    /// `--tls-root-ca-file` could not be loaded.
    RootCa,
    /// rustls refused the client configuration.
    Client(rustls::Error),
    /// The server configuration (certificate, key, client policy).
    Server(ServerError),
    /// `--tls-required` or a client auth policy without a certificate.
    RequiredWithoutCert,
}

impl std::fmt::Display for TlsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TlsError::Required(v) => write!(f, "invalid --tls-required {v:?}"),
            TlsError::MinVersion(v) => write!(
                f,
                "unknown tls-min-version {v:?} (want tls1.0, tls1.1, tls1.2 or tls1.3)"
            ),
            TlsError::RootCa => f.write_str("failed to append certificate to pool"),
            TlsError::Client(e) => e.fmt(f),
            TlsError::Server(e) => write!(f, "failed to build TLS config - {e}"),
            TlsError::RequiredWithoutCert => {
                f.write_str("cannot require TLS client connections without TLS key and cert")
            }
        }
    }
}

impl std::error::Error for TlsError {}

/// What is wrong with the server's certificate, key or client policy.
#[derive(Debug)]
pub enum ServerError {
    /// `--tls-cert`.
    Certificate(CertError),
    /// `--tls-key` (the file and why).
    Key(String, rustls::pki_types::pem::Error),
    /// The client certificate verifier.
    Verifier(rustls::server::VerifierBuilderError),
    /// rustls refused the configuration.
    Config(rustls::Error),
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ServerError::Certificate(e) => e.fmt(f),
            ServerError::Key(path, e) => write!(f, "{path}: {e}"),
            ServerError::Verifier(e) => e.fmt(f),
            ServerError::Config(e) => e.fmt(f),
        }
    }
}

/// A PEM certificate file that could not be used.
#[derive(Debug)]
pub enum CertError {
    /// Could not be opened (the file and why).
    Open(String, rustls::pki_types::pem::Error),
    /// Did not parse.
    Parse(String, rustls::pki_types::pem::Error),
    /// Holds no certificate.
    Empty(String),
}

impl std::fmt::Display for CertError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CertError::Open(path, e) => write!(f, "open {path} - {e}"),
            CertError::Parse(path, e) => write!(f, "parse {path} - {e}"),
            CertError::Empty(path) => write!(f, "no certificate found in {path}"),
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| CertError::Open(path.to_owned(), e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| CertError::Parse(path.to_owned(), e))?;
    if certs.is_empty() {
        return Err(CertError::Empty(path.to_owned()));
    }
    Ok(certs)
}

/// Roots from `--tls-root-ca-file`, else the system bundle (if any).
fn roots(ca_file: &str) -> Result<RootCertStore, TlsError> {
    let mut store = RootCertStore::empty();
    if !ca_file.is_empty() {
        for cert in load_certs(ca_file).map_err(|_| TlsError::RootCa)? {
            store.add(cert).map_err(|_| TlsError::RootCa)?;
        }
        return Ok(store);
    }
    let candidates = [
        std::env::var("SSL_CERT_FILE").unwrap_or_default(),
        "/etc/ssl/certs/ca-certificates.crt".into(),
        "/etc/pki/tls/certs/ca-bundle.crt".into(),
        "/etc/ssl/cert.pem".into(),
    ];
    for path in candidates.iter().filter(|p| !p.is_empty()) {
        if let Ok(iter) = CertificateDer::pem_file_iter(path) {
            let certs: Vec<_> = iter.filter_map(Result::ok).collect();
            store.add_parsable_certificates(certs);
            break;
        }
    }
    Ok(store)
}

/// `require`: any client certificate is accepted (not verified), but the
/// client must prove it owns the key (Go's `RequireAnyClientCert`).
#[derive(Debug)]
struct AnyClientCert {
    algs: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for AnyClientCert {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algs)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algs)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algs.supported_schemes()
    }
}

/// Parse `--tls-required`.
pub(crate) fn parse_required(s: &str) -> Result<TlsRequired, TlsError> {
    match s {
        "tcp-https" => Ok(TlsRequired::TcpHttps),
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(TlsRequired::Yes),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(TlsRequired::No),
        other => Err(TlsError::Required(other.to_owned())),
    }
}

/// Build the TLS setup from the flags (startup errors are NSQ's texts).
pub(crate) fn build(f: &Flags) -> Result<TlsSetup, TlsError> {
    let provider = provider();
    let mut required = parse_required(&f.tls_required)?;
    if !f.tls_client_auth_policy.is_empty() && required == TlsRequired::No {
        required = TlsRequired::Yes;
    }
    let versions: &[&'static rustls::SupportedProtocolVersion] = match f.tls_min_version.as_str() {
        "" | "tls1.0" | "tls1.1" | "tls1.2" => &[&rustls::version::TLS12, &rustls::version::TLS13],
        "tls1.3" => &[&rustls::version::TLS13],
        other => return Err(TlsError::MinVersion(other.to_owned())),
    };
    let client_roots = roots(&f.tls_root_ca_file)?;
    let client = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Client)?
        .with_root_certificates(client_roots.clone())
        .with_no_client_auth();
    let server = if f.tls_cert.is_empty() && f.tls_key.is_empty() {
        None
    } else {
        let server_err = TlsError::Server;
        let certs = load_certs(&f.tls_cert).map_err(|e| server_err(ServerError::Certificate(e)))?;
        let key = PrivateKeyDer::from_pem_file(&f.tls_key)
            .map_err(|e| server_err(ServerError::Key(f.tls_key.clone(), e)))?;
        let verifier: Arc<dyn ClientCertVerifier> = match f.tls_client_auth_policy.as_str() {
            "require" => Arc::new(AnyClientCert {
                algs: provider.signature_verification_algorithms,
            }),
            "require-verify" => WebPkiClientVerifier::builder_with_provider(
                Arc::new(client_roots),
                provider.clone(),
            )
            .build()
            .map_err(|e| server_err(ServerError::Verifier(e)))?,
            _ => WebPkiClientVerifier::no_client_auth(),
        };
        let config = rustls::ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| server_err(ServerError::Config(e)))?
            .with_client_cert_verifier(verifier)
            .with_single_cert(certs, key)
            .map_err(|e| server_err(ServerError::Config(e)))?;
        Some(Arc::new(config))
    };
    if server.is_none() && required != TlsRequired::No {
        return Err(TlsError::RequiredWithoutCert);
    }
    Ok(TlsSetup {
        server,
        required,
        client: Arc::new(client),
    })
}

// ------------------------------------------------------ certificate subject

/// One DER TLV: (tag, contents, rest).
fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)? as usize;
    let (len, head) = if first < 0x80 {
        (first, 2)
    } else {
        let n = first & 0x7f;
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | *b.get(2 + i)? as usize;
        }
        (len, 2 + n)
    };
    let end = head.checked_add(len)?;
    if end > b.len() {
        return None;
    }
    Some((tag, &b[head..end], &b[end..]))
}

fn der_string(tag: u8, v: &[u8]) -> String {
    match tag {
        // BMPString: UTF-16BE.
        0x1e => {
            let units: Vec<u16> = v
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        // T61String: treat as Latin-1.
        0x14 => v.iter().map(|&b| b as char).collect(),
        _ => String::from_utf8_lossy(v).into_owned(),
    }
}

/// The subject CommonName of a DER certificate (the last CN attribute, as
/// Go's `pkix.Name` keeps it); empty if it has none or does not parse.
pub(crate) fn common_name(der: &[u8]) -> String {
    fn inner(der: &[u8]) -> Option<String> {
        let (_, cert, _) = tlv(der)?;
        let (_, tbs, _) = tlv(cert)?;
        let mut rest = tbs;
        let (tag, _, after) = tlv(rest)?;
        if tag == 0xa0 {
            rest = after; // explicit version
        }
        // serialNumber, signature, issuer, validity
        for _ in 0..4 {
            rest = tlv(rest)?.2;
        }
        let (tag, mut rdns, _) = tlv(rest)?;
        if tag != 0x30 {
            return None;
        }
        let mut cn = None;
        while !rdns.is_empty() {
            let (_, mut set, after) = tlv(rdns)?;
            rdns = after;
            while !set.is_empty() {
                let (_, atv, after) = tlv(set)?;
                set = after;
                let (oid_tag, oid, value) = tlv(atv)?;
                if oid_tag == 0x06 && oid == [0x55, 0x04, 0x03] {
                    let (vtag, v, _) = tlv(value)?;
                    cn = Some(der_string(vtag, v));
                }
            }
        }
        cn
    }
    inner(der).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_name_of_generated_certs() {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, "nsq tests");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "client-é");
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(common_name(cert.der()), "client-é");

        let params = rcgen::CertificateParams::new(vec!["x".into()]).unwrap();
        let mut params = params;
        params.distinguished_name = rcgen::DistinguishedName::new();
        let cert = params.self_signed(&key).unwrap();
        assert_eq!(common_name(cert.der()), "");
        assert_eq!(common_name(b"\x30\x03garbage"), "");
        assert_eq!(common_name(b""), "");
    }

    #[test]
    fn tls_required_values() {
        assert_eq!(
            parse_required("tcp-https").ok(),
            Some(TlsRequired::TcpHttps)
        );
        assert_eq!(parse_required("true").ok(), Some(TlsRequired::Yes));
        assert_eq!(parse_required("0").ok(), Some(TlsRequired::No));
        assert_eq!(
            parse_required("maybe").map_err(|e| e.to_string()).err(),
            Some("invalid --tls-required \"maybe\"".to_owned())
        );
    }
}
