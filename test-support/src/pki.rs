//! A throwaway PKI for TLS tests: a CA, a server certificate for
//! `localhost` / `127.0.0.1` signed by it, a client certificate signed by
//! it, a self-signed "rogue" client certificate, and a CA nobody trusts.
//! The server's, client's and CAs' PEM files are written to a temp dir.

use std::path::Path;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair,
};

use crate::dirs::TempDir;

/// A certificate and its private key.
pub struct Cert {
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Its private key, PKCS#8 DER.
    pub key_der: Vec<u8>,
}

impl Cert {
    fn new(cert: &Certificate, key: &KeyPair) -> Cert {
        Cert {
            der: cert.der().to_vec(),
            key_der: key.serialize_der(),
        }
    }
}

/// The PKI; its directory holds `ca.pem`, `server.pem`, `server.key`,
/// `client.pem`, `client.key` and `other-ca.pem`, and is removed on drop.
pub struct Pki {
    /// The directory of the PEM files.
    pub dir: TempDir,
    /// The CA, PEM.
    pub ca_pem: String,
    /// A CA that signed nothing here (for "wrong CA" checks), PEM.
    pub other_ca_pem: String,
    /// The client certificate signed by the CA.
    pub client: Cert,
    /// A self-signed client certificate (CN `rogue-cn`).
    pub rogue: Cert,
}

/// Parameters of a certificate with this common name (and these names).
fn params(cn: &str, names: &[&str]) -> CertificateParams {
    let names = names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let mut p = CertificateParams::new(names).expect("certificate params");
    p.distinguished_name.push(DnType::CommonName, cn);
    p
}

/// Parameters of a client certificate with this common name.
fn client_params(cn: &str) -> CertificateParams {
    let mut p = params(cn, &[]);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    p
}

/// A self-signed CA certificate and its key.
fn self_signed_ca(cn: &str) -> (Certificate, KeyPair) {
    let key = KeyPair::generate().expect("key");
    let mut p = params(cn, &[]);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    (p.self_signed(&key).expect("self-signed CA"), key)
}

impl Pki {
    /// A new PKI whose CA is named `ca_cn` and whose client certificate has
    /// the common name `client_cn`.
    pub fn new(ca_cn: &str, client_cn: &str) -> Pki {
        let (ca, ca_key) = self_signed_ca(ca_cn);
        let server_key = KeyPair::generate().expect("key");
        let server = params("localhost", &["localhost", "127.0.0.1"])
            .signed_by(&server_key, &ca, &ca_key)
            .expect("server certificate");
        let client_key = KeyPair::generate().expect("key");
        let client = client_params(client_cn)
            .signed_by(&client_key, &ca, &ca_key)
            .expect("client certificate");
        let rogue_key = KeyPair::generate().expect("key");
        let rogue = client_params("rogue-cn")
            .self_signed(&rogue_key)
            .expect("rogue certificate");
        let (other, _) = self_signed_ca("other CA");

        let dir = TempDir::new("nsq-pki");
        let write = |name: &str, pem: String| write(&dir.0.join(name), &pem);
        write("ca.pem", ca.pem());
        write("server.pem", server.pem());
        write("server.key", server_key.serialize_pem());
        write("client.pem", client.pem());
        write("client.key", client_key.serialize_pem());
        write("other-ca.pem", other.pem());
        Pki {
            ca_pem: ca.pem(),
            other_ca_pem: other.pem(),
            client: Cert::new(&client, &client_key),
            rogue: Cert::new(&rogue, &rogue_key),
            dir,
        }
    }

    /// The path of one of its files.
    pub fn path(&self, name: &str) -> String {
        self.dir.0.join(name).display().to_string()
    }

    /// `--tls-cert` and `--tls-key` flags for nsqd.
    pub fn server_flags(&self) -> Vec<String> {
        vec![
            format!("--tls-cert={}", self.path("server.pem")),
            format!("--tls-key={}", self.path("server.key")),
        ]
    }
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}
