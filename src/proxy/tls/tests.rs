//! The SNI table: exact names before wildcards, a wildcard over one label only, the default
//! for no name or an unknown one, and none at all without a default.

use super::{header_safe, CertTable};
use crate::config::{CertSpec, TlsSpec};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::sync::Arc;

fn cert(names: &[&str], default: bool) -> CertSpec {
    let made = rcgen::generate_simple_self_signed(vec!["x.test".to_string()]).unwrap();
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(made.key_pair.serialize_der()));
    let signer = rustls::crypto::ring::default_provider()
        .key_provider
        .load_private_key(der)
        .unwrap();
    let chain = vec![CertificateDer::from(made.cert.der().to_vec())];
    CertSpec {
        cert_path: names.join(","),
        names: names.iter().map(|n| n.to_string()).collect(),
        default,
        not_after: 0,
        subject: String::new(),
        key: Arc::new(CertifiedKey::new(chain, signer)),
    }
}

#[test]
fn names_choose_exact_then_wildcard_then_the_default() {
    let (api, any, fallback) = (
        cert(&["api.example.com"], false),
        cert(&["*.example.com"], false),
        cert(&["other.test"], true),
    );
    let spec = TlsSpec {
        certificates: vec![api.clone(), any.clone(), fallback.clone()],
        ..TlsSpec::default()
    };
    let t = CertTable::of(&spec);
    let is = |name: Option<&str>, c: &CertSpec| {
        let got = t.find(name).unwrap();
        assert!(
            Arc::ptr_eq(&got, &c.key),
            "{name:?} got another certificate"
        );
    };
    is(Some("api.example.com"), &api);
    is(Some("API.Example.COM."), &api);
    is(Some("www.example.com"), &any);
    // A wildcard covers one label: not the domain itself, not two labels.
    is(Some("example.com"), &fallback);
    is(Some("a.b.example.com"), &fallback);
    is(Some("other.test"), &fallback);
    is(None, &fallback);

    let without_default = CertTable::of(&TlsSpec {
        certificates: vec![api],
        ..TlsSpec::default()
    });
    assert!(without_default.find(Some("unknown.test")).is_none());
    assert!(without_default.find(None).is_none());
}

#[test]
fn a_subject_is_made_fit_for_a_header() {
    assert_eq!(header_safe("CN=billing, O=Acme"), "CN=billing, O=Acme");
    assert_eq!(header_safe("CN=caf\u{e9}\n"), "CN=caf\\u{e9}\\u{a}");
}
