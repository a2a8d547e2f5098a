//! Bearer secrets (agent API keys, approver session tokens): a prefix and 256 random bits in
//! base64url, shown once, stored as SHA-256. A fast hash is right because the secret has full
//! entropy: there is nothing to brute-force, unlike a password.

use crate::domain::canonical::sha256_hex;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;

/// A new secret and the hash to store.
pub struct NewToken {
    pub token: String,
    pub hash: String,
}

pub fn generate(prefix: &str) -> NewToken {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let token = format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes));
    let hash = sha256_hex(token.as_bytes());
    NewToken { token, hash }
}

/// The stored form of a presented secret; `None` when it can't be one of ours (so malformed
/// input never reaches the database).
pub fn hash_presented(prefix: &str, presented: &str) -> Option<String> {
    let body = presented.strip_prefix(prefix)?;
    let well_formed = body.len() == 43 && body.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    well_formed.then(|| sha256_hex(presented.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_token_hashes_to_its_stored_hash() {
        let new = generate("x_");
        assert_eq!(hash_presented("x_", &new.token), Some(new.hash));
    }

    #[test]
    fn malformed_or_foreign_tokens_are_not_hashed() {
        assert_eq!(hash_presented("x_", "x_short"), None);
        assert_eq!(hash_presented("x_", &format!("y_{}", "a".repeat(43))), None);
        assert_eq!(hash_presented("x_", &format!("x_{}", "!".repeat(43))), None);
    }
}
