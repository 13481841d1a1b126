//! `tollgate admin keygen`: a new API key made offline, for the declarative `[[tenants]]` seed.
//! The key is printed once for whoever hands it to the client; the configuration gets only its
//! public id and the SHA-256 of its secret, so a config file in version control gives no key away.

use super::CliError;
use crate::base::api_key;
use crate::base::time::parse_date;

/// The text to print: the key, a blank line, then the `[[tenants.apps.keys]]` lines.
pub fn keygen(name: Option<&str>, expires: Option<&str>) -> Result<String, CliError> {
    if let Some(date) = expires {
        parse_date(date).map_err(|e| CliError::Input(format!("--expires: {e}")))?;
    }
    let k = api_key::generate()
        .map_err(|e| CliError::Input(format!("no random numbers from the system: {e}")))?;
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut out = format!(
        "key: {}\n\n[[tenants.apps.keys]]\nid = {}\nsha256 = {}\n",
        k.full,
        quote(&k.public_id),
        quote(&api_key::to_hex(&k.hash)),
    );
    if let Some(name) = name {
        out.push_str(&format!("name = {}\n", quote(name)));
    }
    if let Some(date) = expires {
        out.push_str(&format!("expires = {}\n", quote(date)));
    }
    Ok(out)
}

/// What to tell the operator, on stderr.
pub const ADVICE: &str = "Give the key to its client now: it is not kept anywhere. Put the TOML \
lines under the app's [[tenants.apps]] entry and reload the gateway.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_printed_lines_verify_the_printed_key_and_pass_validation() {
        let out = keygen(Some("ci \"runner\""), Some("2030-01-01")).unwrap();
        let (first, toml_text) = out.split_once("\n\n").unwrap();
        let full = first.strip_prefix("key: ").unwrap();
        let (id, secret) = api_key::parse(full).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(
            &path,
            format!(
                "[store]\npath = \"t.db\"\n\n[[upstreams]]\nname = \"u\"\n\
                 targets = [\"127.0.0.1:1\"]\n\n[[routes]]\nname = \"r\"\nupstream = \"u\"\n\n\
                 [[tenants]]\nname = \"acme\"\n\n\
                 [[tenants.apps]]\nname = \"web\"\n\n{toml_text}"
            ),
        )
        .unwrap();
        let config = crate::config::load(&path).unwrap_or_else(|p| panic!("{p}"));
        let seed = &config.tenants[0].apps[0].keys[0];
        assert_eq!(seed.public_id, id);
        assert!(api_key::verify(secret, &seed.hash));
        assert_eq!(seed.name, "ci \"runner\"");
        assert_eq!(seed.expires_at, Some(parse_date("2030-01-01").unwrap()));
        assert!(!toml_text.contains(secret), "the secret is not in the TOML");
    }

    #[test]
    fn a_bad_date_is_refused() {
        let e = keygen(None, Some("soon")).unwrap_err().to_string();
        assert!(e.starts_with("--expires: "), "{e}");
        let plain = keygen(None, None).unwrap();
        assert!(!plain.contains("name =") && !plain.contains("expires ="));
    }
}
