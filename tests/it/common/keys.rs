//! API keys made for a test: the full key a client sends, and the seed lines that declare it.

use tollgate::base::api_key;

pub struct TestKey {
    pub full: String,
    pub id: String,
    pub sha256: String,
}

impl TestKey {
    pub fn new() -> TestKey {
        let k = api_key::generate().unwrap();
        TestKey {
            sha256: api_key::to_hex(&k.hash),
            id: k.public_id,
            full: k.full,
        }
    }

    /// Its `[[tenants.apps.keys]]` entry, with `extra` lines (e.g. `expires = ...`).
    pub fn lines(&self, extra: &str) -> String {
        format!(
            "[[tenants.apps.keys]]\nid = \"{}\"\nsha256 = \"{}\"\n{extra}\n",
            self.id, self.sha256
        )
    }
}
