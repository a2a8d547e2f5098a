//! Agent API keys: `cs_` + 43 base64url characters (256 random bits), shown once, stored as
//! SHA-256. A fast hash is right here because the key has full entropy: there is nothing to
//! brute-force, unlike a password.

use crate::domain::canonical::sha256_hex;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

const PREFIX: &str = "cs_";

/// A newly generated key and the hash to store.
pub struct NewApiKey {
    pub key: String,
    pub hash: String,
}

pub fn generate() -> NewApiKey {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let key = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = hash(&key);
    NewApiKey { key, hash }
}

/// The stored form of a presented key; `None` when it can't be one of ours, so malformed
/// keys never reach the database.
pub fn hash_presented(key: &str) -> Option<String> {
    let body = key.strip_prefix(PREFIX)?;
    (body.len() == 43
        && body
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    .then(|| hash(key))
}

fn hash(key: &str) -> String {
    sha256_hex(key.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_hashes_to_its_stored_hash() {
        let new = generate();
        assert_eq!(hash_presented(&new.key), Some(new.hash));
    }

    #[test]
    fn malformed_keys_are_not_hashed() {
        assert_eq!(hash_presented("cs_short"), None);
        assert_eq!(hash_presented(&format!("xx_{}", "a".repeat(43))), None);
        assert_eq!(hash_presented(&format!("cs_{}", "!".repeat(43))), None);
    }
}
