//! Secrets at rest: AES-256-GCM with a random 96-bit nonce per value, key from config.
//!
//! Stored form: base64(nonce || ciphertext+tag). Never logs or displays plaintext or the key.

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("the master key must be 32 bytes, base64-encoded")]
    BadKey,
    #[error("a stored secret could not be decrypted (wrong master key or corrupt data)")]
    Decrypt,
    #[error("a secret could not be encrypted")]
    Encrypt,
}

/// The master key. `Debug` is redacted.
#[derive(Clone)]
pub struct MasterKey {
    cipher: Aes256Gcm,
    bytes: [u8; 32],
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(redacted)")
    }
}

impl MasterKey {
    pub fn from_base64(text: &str) -> Result<Self, CryptoError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| CryptoError::BadKey)?;
        let cipher = Aes256Gcm::new_from_slice(&bytes).map_err(|_| CryptoError::BadKey)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| CryptoError::BadKey)?;
        Ok(Self { cipher, bytes })
    }

    /// A fresh random key, base64-encoded, for `countersign` to write to a 0600 key file.
    pub fn generate_base64() -> String {
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        STANDARD.encode(bytes)
    }

    pub fn encrypt(&self, plaintext: &str) -> Result<String, CryptoError> {
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ciphertext =
            self.cipher.encrypt(&Nonce::from(nonce), plaintext.as_bytes()).map_err(|_| CryptoError::Encrypt)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        Ok(STANDARD.encode(out))
    }

    /// A separate 32-byte key for another purpose (e.g. signing approval tokens), so one key in
    /// config serves several uses without reusing key material across algorithms.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"countersign key derivation\0");
        hasher.update(purpose.as_bytes());
        hasher.update([0]);
        hasher.update(self.bytes);
        hasher.finalize().into()
    }

    pub fn decrypt(&self, stored: &str) -> Result<String, CryptoError> {
        let bytes = STANDARD.decode(stored).map_err(|_| CryptoError::Decrypt)?;
        if bytes.len() < 12 + 16 {
            return Err(CryptoError::Decrypt);
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let nonce: [u8; 12] = nonce.try_into().map_err(|_| CryptoError::Decrypt)?;
        let plaintext = self.cipher.decrypt(&Nonce::from(nonce), ciphertext).map_err(|_| CryptoError::Decrypt)?;
        String::from_utf8(plaintext).map_err(|_| CryptoError::Decrypt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MasterKey {
        MasterKey::from_base64(&MasterKey::generate_base64()).expect("valid key")
    }

    #[test]
    fn round_trips_and_never_stores_plaintext() {
        let key = key();
        let stored = key.encrypt("access-sandbox-secret").expect("encrypts");
        assert!(!stored.contains("access-sandbox"));
        assert_eq!(key.decrypt(&stored).ok().as_deref(), Some("access-sandbox-secret"));
    }

    #[test]
    fn the_same_secret_encrypts_differently_each_time() {
        let key = key();
        assert_ne!(key.encrypt("x").ok(), key.encrypt("x").ok());
    }

    #[test]
    fn another_key_or_a_flipped_bit_fails_to_decrypt() {
        let stored = key().encrypt("secret").expect("encrypts");
        assert!(key().decrypt(&stored).is_err());
        let own = key();
        let mut bytes = STANDARD.decode(own.encrypt("secret").expect("encrypts")).expect("base64");
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        assert!(own.decrypt(&STANDARD.encode(bytes)).is_err());
    }

    #[test]
    fn short_or_non_base64_keys_are_refused() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64!").is_err());
    }
}
