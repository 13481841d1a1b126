//! API keys: `tg_<public id>_<secret>`. The public id finds the key without a scan; only a
//! SHA-256 of the secret is stored. The secret carries about 190 bits of entropy, so a fast
//! hash is enough (as for GitHub and Stripe tokens) and keeps the check well under a
//! microsecond on the request path.

use sha2::{Digest, Sha256};

pub const PREFIX: &str = "tg_";
pub const PUBLIC_ID_LEN: usize = 12;
pub const SECRET_LEN: usize = 32;

const ID_ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const SECRET_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/// The SHA-256 of a key's secret part.
pub type SecretHash = [u8; 32];

/// A key just made: `full` is shown once to whoever created it, then only `hash` is kept.
pub struct NewKey {
    pub public_id: String,
    pub full: String,
    pub hash: SecretHash,
}

/// Makes a key from the operating system's random source.
pub fn generate() -> Result<NewKey, getrandom::Error> {
    generate_with(PREFIX)
}

/// Makes a token of the same shape with another prefix (`tgu_` for the admin's personal
/// tokens), so neither kind can be mistaken for the other.
pub fn generate_with(prefix: &str) -> Result<NewKey, getrandom::Error> {
    let public_id = random_text(ID_ALPHABET, PUBLIC_ID_LEN)?;
    let secret = random_secret()?;
    Ok(NewKey {
        full: format!("{prefix}{public_id}_{secret}"),
        hash: hash_secret(&secret),
        public_id,
    })
}

/// A random secret of `SECRET_LEN` characters (about 190 bits), e.g. a session id.
pub fn random_secret() -> Result<String, getrandom::Error> {
    random_text(SECRET_ALPHABET, SECRET_LEN)
}

/// Splits a presented key into its public id and secret; `None` when it is not in the format.
pub fn parse(key: &str) -> Option<(&str, &str)> {
    parse_with(PREFIX, key)
}

/// `parse` for a token made by `generate_with(prefix)`.
pub fn parse_with<'a>(prefix: &str, key: &'a str) -> Option<(&'a str, &'a str)> {
    let rest = key.strip_prefix(prefix)?;
    let (id, secret) = rest.split_once('_')?;
    (is_public_id(id) && secret.len() == SECRET_LEN).then_some((id, secret))
}

/// Whether `id` has the shape of a public id (also checked on ids given in the TOML seed).
pub fn is_public_id(id: &str) -> bool {
    id.len() == PUBLIC_ID_LEN && id.bytes().all(|b| ID_ALPHABET.contains(&b))
}

pub fn hash_secret(secret: &str) -> SecretHash {
    Sha256::digest(secret.as_bytes()).into()
}

/// Whether `secret` hashes to `expected`, compared in time that does not depend on where
/// the first difference is.
pub fn verify(secret: &str, expected: &SecretHash) -> bool {
    same_bytes(&hash_secret(secret), expected)
}

/// Constant-time equality for secrets of public length.
pub fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub fn to_hex(hash: &SecretHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn from_hex(text: &str) -> Option<SecretHash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in bytes.chunks(2).enumerate() {
        let s = std::str::from_utf8(pair).ok()?;
        out[i] = u8::from_str_radix(s, 16).ok()?;
    }
    Some(out)
}

fn random_text(alphabet: &[u8], len: usize) -> Result<String, getrandom::Error> {
    // Rejection sampling keeps every symbol equally likely.
    let limit = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(len);
    let mut raw = [0u8; 64];
    while out.len() < len {
        getrandom::fill(&mut raw)?;
        for &b in raw.iter().filter(|&&b| (b as usize) < limit) {
            if out.len() < len {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_and_verifies() {
        let k = generate().unwrap();
        assert!(k.full.starts_with("tg_"));
        let (id, secret) = parse(&k.full).unwrap();
        assert_eq!(id, k.public_id);
        assert!(verify(secret, &k.hash));
        let mut wrong = secret.to_string();
        wrong.replace_range(0..1, if wrong.starts_with('A') { "B" } else { "A" });
        assert!(!verify(&wrong, &k.hash));
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "tg_",
            "sk-abc",
            "tg_short_secret",
            "tg_ABCDEFGHIJKL_0123456789abcdef0123456789abcdef",
            "tg_abcdefghijkl_tooshort",
        ] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn hex_round_trips() {
        let h = hash_secret("x");
        assert_eq!(from_hex(&to_hex(&h)), Some(h));
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn keys_differ() {
        assert_ne!(generate().unwrap().full, generate().unwrap().full);
    }
}
