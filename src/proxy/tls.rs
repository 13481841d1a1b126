//! TLS termination on the data-plane listeners: the certificate chosen by the name the client
//! asks for (SNI), client certificates checked per listener, and both swapped by a reload
//! without touching the listeners or established connections (Pingora's acceptor keeps one
//! rustls configuration for its life, so what may change is read through an `ArcSwap` here).
//!
//! A client certificate that verified is read once, after the handshake, into a
//! [`ClientCert`] the connection's TLS digest carries to every request on it.

use crate::config::{Config, Listener, TlsSpec};
use arc_swap::ArcSwap;
use async_trait::async_trait;
use pingora::listeners::tls::TlsSettings;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::protocols::ALPN;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::any::Any;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// The certificates by server name, as the configuration in force gives them.
#[derive(Default)]
struct CertTable {
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// `*.example.com` under `example.com`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    default: Option<Arc<CertifiedKey>>,
}

impl CertTable {
    fn of(tls: &TlsSpec) -> CertTable {
        let mut t = CertTable::default();
        for c in &tls.certificates {
            for name in &c.names {
                match name.strip_prefix("*.") {
                    Some(domain) => t.wildcard.insert(domain.to_string(), c.key.clone()),
                    None => t.exact.insert(name.clone(), c.key.clone()),
                };
            }
            if c.default {
                t.default = Some(c.key.clone());
            }
        }
        t
    }

    fn find(&self, name: Option<&str>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = name else {
            return self.default.clone();
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        let parent = name.split_once('.').map(|(_, rest)| rest);
        self.exact
            .get(&name)
            .or_else(|| parent.and_then(|p| self.wildcard.get(p)))
            .or(self.default.as_ref())
            .cloned()
    }
}

/// The server certificates of every TLS listener of a worker.
#[derive(Default)]
pub struct Certificates(ArcSwap<CertTable>);

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Certificates")
    }
}

impl ResolvesServerCert for Certificates {
    /// `None` (a name no certificate serves, and no default) ends the handshake with an alert.
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.load().find(hello.server_name())
    }
}

/// A listener's check of client certificates, against the CAs the configuration in force
/// names. Whether one is required is fixed with the listener.
#[derive(Debug)]
struct ClientCheck {
    required: bool,
    current: ArcSwap<Arc<dyn ClientCertVerifier>>,
}

impl ClientCertVerifier for ClientCheck {
    fn client_auth_mandatory(&self) -> bool {
        self.required
    }

    // The CA names a client may use to pick its certificate are a hint only; they cannot be
    // lent from a value a reload may replace, so none are sent.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.current
            .load()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.current
            .load()
            .verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.current.load().supported_verify_schemes()
    }
}

fn verifier(ca: &crate::config::ClientCa) -> Result<Arc<dyn ClientCertVerifier>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = WebPkiClientVerifier::builder_with_provider(ca.roots.clone(), provider);
    let builder = if ca.required {
        builder
    } else {
        builder.allow_unauthenticated()
    };
    builder
        .build()
        .map_err(|e| format!("client_ca {}: {e}", ca.path))
}

/// A verified client certificate, on the connection's TLS digest.
#[derive(Debug, Clone)]
pub struct ClientCert {
    /// The subject's distinguished name, e.g. `CN=billing, O=Acme`.
    pub subject: String,
}

/// The header that carries a verified client certificate's subject to the upstream; one a
/// client sends is always removed.
pub const CLIENT_CERT_HEADER: http::HeaderName =
    http::HeaderName::from_static("x-client-cert-subject");

/// Whether the request came over TLS.
pub fn is_tls(session: &pingora::proxy::Session) -> bool {
    session.digest().is_some_and(|d| d.ssl_digest.is_some())
}

/// `Strict-Transport-Security` for every answer to a request that came over TLS, when
/// `[tls] hsts` sets it; never over plain HTTP, where clients ignore it (RFC 6797 8.1).
pub fn add_hsts(
    session: &pingora::proxy::Session,
    snapshot: &ArcSwap<crate::snapshot::Snapshot>,
    headers: &mut crate::limits::vocab::Headers,
) {
    if !is_tls(session) {
        return;
    }
    if let Some(value) = &snapshot.load().config.tls.hsts {
        headers.push((http::header::STRICT_TRANSPORT_SECURITY, value.clone()));
    }
}

/// The verified client certificate of the request's connection.
pub fn client_cert(session: &pingora::proxy::Session) -> Option<&ClientCert> {
    let digest = session.digest()?.ssl_digest.as_ref()?;
    digest.extension.get::<ClientCert>()
}

/// Reads the client certificate, when one verified, once per connection.
struct ReadClientCert;

#[async_trait]
impl TlsAccept for ReadClientCert {
    async fn handshake_complete_callback(
        &self,
        tls: &TlsRef,
    ) -> Option<Arc<dyn Any + Send + Sync>> {
        let der = tls.peer_certificate_der()?;
        let leaf = crate::config::Leaf::parse(der).ok()?;
        Some(Arc::new(ClientCert {
            subject: header_safe(&leaf.subject),
        }))
    }
}

/// `text` with what a header value cannot hold (anything but visible ASCII and spaces)
/// written as `\u{...}`, so a subject always reaches the upstream and the log.
fn header_safe(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let plain = c == ' ' || c.is_ascii_graphic();
            let escaped = (!plain).then(|| c.escape_unicode());
            plain
                .then_some(c)
                .into_iter()
                .chain(escaped.into_iter().flatten())
        })
        .collect()
}

/// What a worker's TLS listeners read that a reload may change.
#[derive(Default)]
pub struct TlsState {
    certificates: Arc<Certificates>,
    clients: Vec<(SocketAddr, Arc<ClientCheck>)>,
}

impl TlsState {
    /// The state of `config`'s listeners; fails only on a client CA rustls refuses.
    pub fn new(config: &Config) -> Result<TlsState, String> {
        let mut clients = Vec::new();
        for l in &config.server.listen {
            let Some(ca) = l.tls.as_ref().and_then(|t| t.client_ca.as_ref()) else {
                continue;
            };
            let check = ClientCheck {
                required: ca.required,
                current: ArcSwap::from_pointee(verifier(ca)?),
            };
            clients.push((l.addr, Arc::new(check)));
        }
        let certificates = Certificates(ArcSwap::from_pointee(CertTable::of(&config.tls)));
        Ok(TlsState {
            certificates: Arc::new(certificates),
            clients,
        })
    }

    /// Serves `config`'s certificates and client CAs to new handshakes (a reload; the
    /// listeners stay as they started).
    pub fn update(&self, config: &Config) {
        self.certificates
            .0
            .store(Arc::new(CertTable::of(&config.tls)));
        for (addr, check) in &self.clients {
            let ca = config
                .server
                .listen
                .iter()
                .find(|l| l.addr == *addr)
                .and_then(|l| l.tls.as_ref()?.client_ca.as_ref());
            match ca.map(verifier) {
                Some(Ok(v)) => check.current.store(Arc::new(v)),
                Some(Err(e)) => tracing::warn!("tls: {e}; the previous CAs stay in force"),
                None => {}
            }
        }
    }

    /// The TLS settings of `listener`: its certificates, its client check and ALPN (`h2`
    /// preferred, `http/1.1` for clients without HTTP/2).
    pub fn settings(&self, listener: &Listener) -> pingora::Result<TlsSettings> {
        let mut settings = TlsSettings::with_callbacks(Box::new(ReadClientCert))?;
        settings.set_cert_resolver(self.certificates.clone());
        if let Some((_, check)) = self.clients.iter().find(|(a, _)| *a == listener.addr) {
            settings.set_client_cert_verifier(check.clone());
        }
        settings.set_alpn(ALPN::H2H1);
        Ok(settings)
    }

    /// The admin listener's TLS settings: the same certificates, no client certificates, and
    /// HTTP/1.1 only (the admin API is a plain HTTP/1.1 app).
    pub fn admin_settings(&self) -> pingora::Result<TlsSettings> {
        // Its callback finds no client certificate, as none is asked for.
        let mut settings = TlsSettings::with_callbacks(Box::new(ReadClientCert))?;
        settings.set_cert_resolver(self.certificates.clone());
        settings.set_alpn(ALPN::H1);
        Ok(settings)
    }
}

#[cfg(test)]
mod tests;
