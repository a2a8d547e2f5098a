//! CSRF synchronizer tokens: HMAC-SHA256 (key derived from the master key for this purpose only)
//! of the signed-in session's id, or of the pre-session nonce cookie on anonymous forms. Checked
//! in constant time before a form does anything; a missing or foreign token is 403, no change.

use super::UiError;
use crate::service::Context;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

fn mac(key: &[u8; 32], purpose: &str, value: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        // HMAC takes keys of any length; unreachable, but no panic on the request path.
        Err(_) => return String::new(),
    };
    mac.update(purpose.as_bytes());
    mac.update(b"\0");
    mac.update(value.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

/// The token for forms of a signed-in session.
pub fn for_session(ctx: &Context, session_id: &str) -> String {
    mac(&ctx.master_key.derive("csrf"), "session", session_id)
}

/// The token for anonymous forms, bound to the pre-session nonce cookie.
pub fn for_nonce(ctx: &Context, nonce: &str) -> String {
    mac(&ctx.master_key.derive("csrf"), "nonce", nonce)
}

/// Refuses unless `presented` is exactly `expected` (and not empty).
pub fn check(expected: &str, presented: &str) -> Result<(), UiError> {
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(UiError::csrf());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_differ_by_key_session_and_purpose() {
        let (a, b) = ([1u8; 32], [2u8; 32]);
        let token = mac(&a, "session", "ses_1");
        assert_eq!(token, mac(&a, "session", "ses_1"));
        assert_ne!(token, mac(&b, "session", "ses_1"));
        assert_ne!(token, mac(&a, "session", "ses_2"));
        assert_ne!(token, mac(&a, "nonce", "ses_1"));
    }

    #[test]
    fn only_the_exact_token_passes() {
        let token = mac(&[7u8; 32], "session", "ses_1");
        assert!(check(&token, &token).is_ok());
        assert!(check(&token, "").is_err());
        assert!(check(&token, &token[1..]).is_err());
        assert!(check("", "").is_err(), "an empty expectation never matches");
    }
}
