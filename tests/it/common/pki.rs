//! Test certificates made in the test (`rcgen`, ECDSA P-256): a CA, server certificates for
//! given names and lifetimes, client certificates; written as PEM files for the gateway, and
//! clients that trust the CA (`reqwest` over rustls, resolving test names to loopback).

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Ca {
    cert: Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM files.
pub struct Issued {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub cert_pem: String,
    pub key_pem: String,
}

impl Ca {
    pub fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().unwrap();
        let cert = params.self_signed(&key).unwrap();
        Ca { cert, key }
    }

    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// Writes the CA's certificate to `dir/{file}`.
    pub fn write(&self, dir: &Path, file: &str) -> PathBuf {
        let path = dir.join(file);
        std::fs::write(&path, self.pem()).unwrap();
        path
    }

    /// A server certificate for `names` (DNS names or IP addresses), with `cn` as its common
    /// name, valid for `days`, written to `dir/{stem}.pem` and `dir/{stem}.key`.
    pub fn server(&self, dir: &Path, stem: &str, cn: &str, names: &[&str], days: u64) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = time::OffsetDateTime::now_utc() - Duration::from_secs(3600);
        params.not_after = time::OffsetDateTime::now_utc() + Duration::from_secs(days * 86_400);
        self.issue(dir, stem, params)
    }

    /// A client certificate with `cn` as its common name and `org` as its organization.
    pub fn client(&self, dir: &Path, stem: &str, cn: &str, org: &str) -> Issued {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, org);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(dir, stem, params)
    }

    fn issue(&self, dir: &Path, stem: &str, params: CertificateParams) -> Issued {
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let issued = Issued {
            cert: dir.join(format!("{stem}.pem")),
            key: dir.join(format!("{stem}.key")),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        };
        std::fs::write(&issued.cert, &issued.cert_pem).unwrap();
        std::fs::write(&issued.key, &issued.key_pem).unwrap();
        issued
    }
}

/// A client that trusts `cas` only and reaches each of `names` at `port` on loopback (so the
/// name is sent as SNI and checked against the certificate), with a client certificate when
/// given. A fresh connection per request, so each request is a new handshake.
pub fn client(
    cas: &[&str],
    names: &[&str],
    port: u16,
    identity: Option<&Issued>,
) -> reqwest::blocking::Client {
    let mut b = reqwest::blocking::Client::builder()
        .tls_built_in_root_certs(false)
        .use_rustls_tls()
        .pool_max_idle_per_host(0)
        .timeout(Duration::from_secs(10));
    for ca in cas {
        b = b.add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap());
    }
    for name in names {
        b = b.resolve(name, ([127, 0, 0, 1], port).into());
    }
    if let Some(id) = identity {
        let pem = format!("{}{}", id.cert_pem, id.key_pem);
        b = b.identity(reqwest::Identity::from_pem(pem.as_bytes()).unwrap());
    }
    b.build().unwrap()
}

/// The subject of the certificate the server at `port` serves for `name` (none: no SNI), read
/// with `openssl s_client`; `None` when the handshake fails.
pub fn served_subject(port: u16, name: Option<&str>, extra: &[&str]) -> Option<String> {
    let mut cmd = std::process::Command::new("openssl");
    cmd.args(["s_client", "-connect", &format!("127.0.0.1:{port}")]);
    match name {
        Some(n) => cmd.args(["-servername", n]),
        None => cmd.arg("-noservername"),
    };
    cmd.args(extra).stdin(std::process::Stdio::null());
    let out = super::output_within(&mut cmd, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() || !text.contains("-----BEGIN CERTIFICATE-----") {
        return None;
    }
    text.lines()
        .find_map(|l| l.strip_prefix("subject="))
        .map(|s| s.trim().to_string())
}
