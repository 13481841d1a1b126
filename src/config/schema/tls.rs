//! What users write for TLS: a `listen` entry that is a table (`{ addr = "0.0.0.0:443",
//! tls = true }`), and `[tls]` with the certificates served, chosen by the name a client asks
//! for (SNI).

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// One entry of `[server] listen`: an address (plain HTTP), or a table.
#[derive(Debug, Clone)]
pub enum ListenEntry {
    Addr(String),
    Listener(ListenerSection),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerSection {
    pub addr: String,
    /// Terminate TLS here, with the certificates of `[tls]`.
    #[serde(default)]
    pub tls: bool,
    /// A PEM file of the CAs whose client certificates this listener accepts (TLS only).
    pub client_ca: Option<String>,
    /// `required` (a client without a valid certificate is refused in the handshake) or
    /// `optional` (one is checked when sent); `required` when `client_ca` is given.
    pub client_auth: Option<String>,
    /// Also serve cleartext HTTP/2 with prior knowledge (plain listeners only; HTTP/1.1 is
    /// still served).
    #[serde(default)]
    pub h2c: bool,
    /// A plain listener that answers every request with a redirect to `https://` on this
    /// port (no routing, no authentication).
    pub redirect_https: Option<u16>,
}

impl<'de> Deserialize<'de> for ListenEntry {
    // By hand rather than `untagged`, so a table's own problems (an unknown key, a wrong type)
    // are reported as such instead of "did not match any variant".
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entry;
        impl<'de> Visitor<'de> for Entry {
            type Value = ListenEntry;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an address (\"0.0.0.0:8080\") or a table ({ addr = \"0.0.0.0:443\", tls = true })")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<ListenEntry, E> {
                Ok(ListenEntry::Addr(v.to_string()))
            }
            fn visit_map<M: MapAccess<'de>>(self, m: M) -> Result<ListenEntry, M::Error> {
                let table = ListenerSection::deserialize(de::value::MapAccessDeserializer::new(m))?;
                Ok(ListenEntry::Listener(table))
            }
        }
        d.deserialize_any(Entry)
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsSection {
    #[serde(default)]
    pub certificates: Vec<CertificateSection>,
    /// The `Strict-Transport-Security` value put on every answer served over TLS.
    pub hsts: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CertificateSection {
    /// PEM: the certificate, then its intermediates.
    pub cert: String,
    /// PEM: its private key (ECDSA, RSA or Ed25519; PKCS#8, SEC1 or PKCS#1).
    pub key: String,
    /// The server names it serves (`api.example.com`, `*.example.com`); the certificate's own
    /// DNS names when left out.
    pub names: Option<Vec<String>>,
    /// Served to a client that sends no name, or a name no certificate has.
    #[serde(default)]
    pub default: bool,
}
