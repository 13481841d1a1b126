//! Compiles TLS: each listener's TLS settings (its client CA read into a root store), and
//! `[tls]`'s certificates read, parsed and checked (each key matches its certificate, the names
//! are host names or `*.` wildcards, no name is served twice), ready for the SNI table. A
//! reload compiles them again, so new files are read and a bad one refuses the reload.

use super::Checker;
use crate::config::problem::{key, Seg};
use crate::config::schema::{CertificateSection, ListenEntry, ListenerSection, TlsSection};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use rustls::RootCertStore;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// A data-plane listener.
#[derive(Debug, Clone, PartialEq)]
pub struct Listener {
    pub addr: SocketAddr,
    /// Set on a TLS listener.
    pub tls: Option<ListenerTls>,
    /// Cleartext HTTP/2 with prior knowledge is served beside HTTP/1.1 (plain listeners only;
    /// a TLS listener offers HTTP/2 through ALPN).
    pub h2c: bool,
    /// Set on a plain listener that only redirects to HTTPS on this port.
    pub redirect_https: Option<u16>,
}

impl std::fmt::Display for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (&self.tls, self.redirect_https, self.h2c) {
            (Some(_), _, _) => write!(f, "{} (TLS)", self.addr),
            (None, Some(port), _) => write!(f, "{} (redirect to HTTPS port {port})", self.addr),
            (None, None, true) => write!(f, "{} (h2c)", self.addr),
            (None, None, false) => write!(f, "{}", self.addr),
        }
    }
}

impl Listener {
    /// Whether the gateway serves requests here (routes, APIs), rather than redirecting them.
    pub fn serves(&self) -> bool {
        self.redirect_https.is_none()
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ListenerTls {
    pub client_ca: Option<ClientCa>,
}

/// The CAs a listener checks client certificates against.
#[derive(Clone)]
pub struct ClientCa {
    pub path: String,
    /// A client without a valid certificate is refused in the handshake.
    pub required: bool,
    pub roots: Arc<RootCertStore>,
}

/// Equal when the same file is read the same way: its contents are read again by a reload,
/// which swaps them in (a change of file or mode needs a restart, as any listener change).
impl PartialEq for ClientCa {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.required == other.required
    }
}

impl std::fmt::Debug for ClientCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCa")
            .field("path", &self.path)
            .field("required", &self.required)
            .field("roots", &self.roots.len())
            .finish()
    }
}

/// `[tls]`, compiled.
#[derive(Debug, Clone, Default)]
pub struct TlsSpec {
    pub certificates: Vec<CertSpec>,
    /// `Strict-Transport-Security` for answers over TLS.
    pub hsts: Option<http::HeaderValue>,
}

/// One certificate, parsed, with its key loaded.
#[derive(Clone)]
pub struct CertSpec {
    pub cert_path: String,
    /// Lowercase host names, or `*.` and a domain.
    pub names: Vec<String>,
    pub default: bool,
    /// When the certificate stops being valid, in Unix seconds.
    pub not_after: i64,
    pub subject: String,
    pub key: Arc<CertifiedKey>,
}

impl std::fmt::Debug for CertSpec {
    // Never the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSpec")
            .field("cert_path", &self.cert_path)
            .field("names", &self.names)
            .field("default", &self.default)
            .field("not_after", &self.not_after)
            .finish()
    }
}

/// `[server] listen`: each address, and the TLS of those that have it.
pub(super) fn compile_listeners(
    entries: &[ListenEntry],
    has_certificates: bool,
    ck: &mut Checker,
) -> Vec<Listener> {
    let mut out = Vec::new();
    for (i, entry) in entries.iter().enumerate() {
        let base = [key("server"), key("listen"), Seg::Index(i)];
        let (addr, table) = match entry {
            ListenEntry::Addr(a) => (a.as_str(), None),
            ListenEntry::Listener(l) => (l.addr.as_str(), Some(l)),
        };
        let field: &[&str] = if table.is_some() { &["addr"] } else { &[] };
        let Ok(addr) = addr.parse::<SocketAddr>() else {
            let msg = format!(
                "{addr:?} is not an IP:port address (e.g. \"127.0.0.1:8080\" or \"[::]:8080\")"
            );
            ck.at(&base, field, msg);
            continue;
        };
        if out.iter().any(|l: &Listener| l.addr == addr) {
            ck.at(&base, field, format!("{addr} is listed twice"));
        }
        let tls = table.and_then(|t| listener_tls(t, has_certificates, &base, ck));
        let h2c = table.is_some_and(|t| t.h2c);
        if h2c && tls.is_some() {
            let msg = "h2c is cleartext HTTP/2: a TLS listener offers HTTP/2 through ALPN already";
            ck.at(&base, &["h2c"], msg);
        }
        let redirect_https = table.and_then(|t| redirect(t, &base, ck));
        out.push(Listener {
            addr,
            tls,
            h2c,
            redirect_https,
        });
    }
    out
}

/// The HTTPS port a redirecting listener sends clients to.
fn redirect(l: &ListenerSection, base: &[Seg], ck: &mut Checker) -> Option<u16> {
    let port = l.redirect_https?;
    if l.tls {
        let msg = "a listener that redirects to HTTPS is plain HTTP: leave out tls = true";
        ck.at(base, &["redirect_https"], msg);
    }
    if port == 0 {
        ck.at(
            base,
            &["redirect_https"],
            "the HTTPS port, 1 to 65535 (e.g. 443)",
        );
    }
    Some(port)
}

fn listener_tls(
    l: &ListenerSection,
    has_certificates: bool,
    base: &[Seg],
    ck: &mut Checker,
) -> Option<ListenerTls> {
    if !l.tls {
        for (set, field) in [
            (l.client_ca.is_some(), "client_ca"),
            (l.client_auth.is_some(), "client_auth"),
        ] {
            if set {
                ck.at(
                    base,
                    &[field],
                    "only a TLS listener (tls = true) checks client certificates",
                );
            }
        }
        return None;
    }
    if !has_certificates {
        ck.at(base, &["tls"], "a TLS listener needs [[tls.certificates]]");
    }
    let required = match l.client_auth.as_deref() {
        None | Some("required") => true,
        Some("optional") => false,
        Some(other) => {
            let msg = format!("{other:?}: use \"required\" or \"optional\"");
            ck.at(base, &["client_auth"], msg);
            true
        }
    };
    if l.client_auth.is_some() && l.client_ca.is_none() {
        ck.at(
            base,
            &["client_auth"],
            "needs client_ca: the CAs client certificates are checked against",
        );
    }
    let client_ca = l
        .client_ca
        .as_ref()
        .and_then(|path| match read_roots(path) {
            Ok(roots) => Some(ClientCa {
                path: path.clone(),
                required,
                roots: Arc::new(roots),
            }),
            Err(e) => {
                ck.at(base, &["client_ca"], e);
                None
            }
        });
    Some(ListenerTls { client_ca })
}

// Read at start and on reload (off the request path), as every file of the configuration.
#[allow(clippy::disallowed_methods)]
fn read(path: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))
}

fn read_roots(path: &str) -> Result<RootCertStore, String> {
    let pem = read(path)?;
    let mut roots = RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut &pem[..]) {
        let cert = cert.map_err(|e| format!("{path}: not PEM: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("{path}: a certificate that is not a CA's: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("{path}: no certificate in it"));
    }
    Ok(roots)
}

/// `[tls]`: every certificate loaded and checked, each name served by one certificate.
pub(super) fn compile_tls(t: &TlsSection, ck: &mut Checker) -> TlsSpec {
    let mut out = TlsSpec::default();
    let mut owners: HashMap<String, usize> = HashMap::new();
    for (i, c) in t.certificates.iter().enumerate() {
        let base = [key("tls"), key("certificates"), Seg::Index(i)];
        let Some(spec) = certificate(c, &base, ck) else {
            continue;
        };
        for name in &spec.names {
            if let Some(j) = owners.insert(name.clone(), i) {
                let msg = format!("{name:?} is also served by tls.certificates[{j}]");
                ck.at(&base, &["names"], msg);
            }
        }
        if spec.default && out.certificates.iter().any(|c| c.default) {
            ck.at(
                &base,
                &["default"],
                "only one certificate may be the default",
            );
        }
        out.certificates.push(spec);
    }
    out.hsts = t.hsts.as_deref().and_then(|v| match hsts(v) {
        Ok(value) => Some(value),
        Err(e) => {
            ck.at(&[key("tls")], &["hsts"], e);
            None
        }
    });
    out
}

/// A `Strict-Transport-Security` value (RFC 6797 6.1): `max-age=SECONDS`, then optionally
/// `includeSubDomains` and `preload`.
fn hsts(v: &str) -> Result<http::HeaderValue, String> {
    let example = "e.g. \"max-age=63072000; includeSubDomains\"";
    let mut max_age = false;
    for d in v.split(';').map(str::trim) {
        let (name, value) = d
            .split_once('=')
            .map_or((d, None), |(n, v)| (n.trim(), Some(v)));
        match (name.to_ascii_lowercase().as_str(), value) {
            ("max-age", Some(secs)) if !max_age => {
                let secs = secs.trim().trim_matches('"');
                if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
                    return Err(format!("max-age={secs:?} is not a number of seconds"));
                }
                max_age = true;
            }
            ("includesubdomains" | "preload", None) => {}
            _ => return Err(format!("{d:?} is not an HSTS directive ({example})")),
        }
    }
    if !max_age {
        return Err(format!("{v:?} has no max-age ({example})"));
    }
    http::HeaderValue::from_str(v.trim()).map_err(|e| format!("{v:?}: {e}"))
}

fn certificate(c: &CertificateSection, base: &[Seg], ck: &mut Checker) -> Option<CertSpec> {
    let (chain, private) = match (read_chain(&c.cert), read_key(&c.key)) {
        (Ok(chain), Ok(private)) => (chain, private),
        (chain, private) => {
            if let Err(e) = chain {
                ck.at(base, &["cert"], e);
            }
            if let Err(e) = private {
                ck.at(base, &["key"], e);
            }
            return None;
        }
    };
    let leaf = match Leaf::parse(&chain[0]) {
        Ok(l) => l,
        Err(e) => {
            ck.at(base, &["cert"], format!("{}: {e}", c.cert));
            return None;
        }
    };
    let provider = rustls::crypto::ring::default_provider();
    let signer = match provider.key_provider.load_private_key(private) {
        Ok(s) => s,
        Err(e) => {
            let msg = format!(
                "{}: a key rustls cannot sign with ({e}); use ECDSA P-256/P-384, RSA or Ed25519",
                c.key
            );
            ck.at(base, &["key"], msg);
            return None;
        }
    };
    let certified = CertifiedKey::new(chain, signer);
    if let Err(rustls::Error::InconsistentKeys(_)) = certified.keys_match() {
        let msg = format!("{} is not the key of {}", c.key, c.cert);
        ck.at(base, &["key"], msg);
        return None;
    }
    let names = match &c.names {
        Some(given) => given.iter().map(|n| n.to_ascii_lowercase()).collect(),
        None => leaf.dns_names.clone(),
    };
    if names.is_empty() && !c.default {
        let msg = "the certificate names no DNS host: give `names`, or make it the default";
        ck.at(base, &["names"], msg);
    }
    for (j, n) in names.iter().enumerate() {
        if !valid_name(n) {
            let at = [base, &[key("names"), Seg::Index(j)]].concat();
            ck.at(
                &at,
                &[],
                format!("{n:?} is not a host name or a wildcard (\"*.example.com\")"),
            );
        }
    }
    Some(CertSpec {
        cert_path: c.cert.clone(),
        names,
        default: c.default,
        not_after: leaf.not_after,
        subject: leaf.subject,
        key: Arc::new(certified),
    })
}

fn read_chain(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let pem = read(path)?;
    let chain = rustls_pemfile::certs(&mut &pem[..])
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{path}: not PEM: {e}"))?;
    if chain.is_empty() {
        return Err(format!("{path}: no certificate in it"));
    }
    Ok(chain)
}

fn read_key(path: &str) -> Result<PrivateKeyDer<'static>, String> {
    let pem = read(path)?;
    rustls_pemfile::private_key(&mut &pem[..])
        .map_err(|e| format!("{path}: not PEM: {e}"))?
        .ok_or_else(|| format!("{path}: no private key in it"))
}

/// What the gateway reads of a certificate.
pub struct Leaf {
    pub dns_names: Vec<String>,
    pub not_after: i64,
    pub subject: String,
}

impl Leaf {
    pub fn parse(der: &[u8]) -> Result<Leaf, String> {
        use x509_parser::extensions::GeneralName;
        let (_, cert) = x509_parser::parse_x509_certificate(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let mut dns_names = Vec::new();
        if let Ok(Some(san)) = cert.subject_alternative_name() {
            for name in &san.value.general_names {
                if let GeneralName::DNSName(n) = name {
                    dns_names.push(n.to_ascii_lowercase());
                }
            }
        }
        Ok(Leaf {
            dns_names,
            not_after: cert.validity().not_after.timestamp(),
            subject: cert.subject().to_string(),
        })
    }
}

/// A host name (`api.example.com`) or a wildcard over one label (`*.example.com`).
fn valid_name(n: &str) -> bool {
    let host = n.strip_prefix("*.").unwrap_or(n);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
}

/// How long before a certificate's end `tollgate validate`, a start and a reload warn of it.
pub const EXPIRY_WARNING: i64 = 14 * 86_400;

/// The certificates that expire within `EXPIRY_WARNING` of `now` (Unix seconds), or have
/// expired, as warnings naming them.
pub fn expiring(tls: &TlsSpec, now: i64) -> Vec<String> {
    tls.certificates
        .iter()
        .filter(|c| c.not_after - now < EXPIRY_WARNING)
        .map(|c| {
            let date = httpdate::fmt_http_date(
                std::time::UNIX_EPOCH + std::time::Duration::from_secs(c.not_after.max(0) as u64),
            );
            let days = (c.not_after - now).div_euclid(86_400);
            if c.not_after <= now {
                format!("certificate {} expired on {date}", c.cert_path)
            } else {
                format!(
                    "certificate {} expires in {days} day(s), on {date}",
                    c.cert_path
                )
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{hsts, valid_name};

    #[test]
    fn hsts_takes_max_age_and_the_two_flags() {
        for ok in [
            "max-age=63072000",
            "max-age=0",
            "max-age=31536000; includeSubDomains",
            "max-age=\"60\"; includeSubDomains; preload",
        ] {
            assert!(hsts(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "includeSubDomains",
            "max-age=1y",
            "max-age=",
            "max-age=1; max-age=2",
            "max-age=1; includeSubDomains=1",
            "max-age=1; always",
            "max-age=1\nx",
        ] {
            assert!(hsts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn names_are_hosts_or_one_label_wildcards() {
        for ok in ["a.example.com", "*.example.com", "localhost", "x-1.io"] {
            assert!(valid_name(ok), "{ok}");
        }
        for bad in ["", "*.", "a.*.com", "**.a", "a..b", "A.com", "a_b.com", "*"] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
