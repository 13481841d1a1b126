//! Tenants' provider keys at rest: ChaCha20-Poly1305 under a 32-byte key from the
//! configuration (`[store] secret_key`, normally `${TOLLGATE_SECRET_KEY}`). Each value has its
//! own random nonce, stored in front of the ciphertext.

use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};

const NONCE_LEN: usize = 12;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the secret key must be 32 bytes, written as 64 hex digits or in base64")]
    BadKey,
    #[error("cannot read random bytes: {0}")]
    Random(String),
    #[error("a stored credential does not decrypt with this secret key (was the key changed?)")]
    Decrypt,
}

#[derive(Clone)]
pub struct Cipher(ChaCha20Poly1305);

impl std::fmt::Debug for Cipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Cipher(<redacted>)")
    }
}

impl Cipher {
    /// Reads a key written as 64 hex digits or as base64 of 32 bytes.
    pub fn from_text(text: &str) -> Result<Cipher, CryptoError> {
        let text = text.trim();
        let bytes = super::api_key::from_hex(text)
            .map(|b| b.to_vec())
            .or_else(|| base64::engine::general_purpose::STANDARD.decode(text).ok())
            .filter(|b| b.len() == 32)
            .ok_or(CryptoError::BadKey)?;
        let key = Key::try_from(bytes.as_slice()).map_err(|_| CryptoError::BadKey)?;
        Ok(Cipher(ChaCha20Poly1305::new(&key)))
    }

    pub fn seal(&self, plain: &str) -> Result<Vec<u8>, CryptoError> {
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CryptoError::Random(e.to_string()))?;
        let sealed = self
            .0
            .encrypt(&Nonce::from(nonce), plain.as_bytes())
            .map_err(|_| CryptoError::Decrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<String, CryptoError> {
        if sealed.len() < NONCE_LEN {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_from(nonce).map_err(|_| CryptoError::Decrypt)?;
        let plain = self
            .0
            .decrypt(&nonce, body)
            .map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plain).map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

    #[test]
    fn seals_and_opens() {
        let c = Cipher::from_text(KEY).unwrap();
        let sealed = c.seal("sk-tenant").unwrap();
        assert!(!sealed.windows(9).any(|w| w == b"sk-tenant"));
        assert_eq!(c.open(&sealed).unwrap(), "sk-tenant");
    }

    #[test]
    fn another_key_or_tampering_fails() {
        let c = Cipher::from_text(KEY).unwrap();
        let mut sealed = c.seal("sk").unwrap();
        let other = Cipher::from_text(&KEY.replace("00", "ff")).unwrap();
        assert!(other.open(&sealed).is_err());
        let last = sealed.len() - 1;
        sealed[last] ^= 1;
        assert!(c.open(&sealed).is_err());
        assert!(c.open(b"short").is_err());
    }

    #[test]
    fn bad_keys_are_refused() {
        assert!(Cipher::from_text("short").is_err());
        assert!(Cipher::from_text(&"a".repeat(64)).is_ok());
    }
}
