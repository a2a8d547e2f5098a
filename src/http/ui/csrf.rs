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

fn mac(ctx: &Context, purpose: &str, value: &str) -> String {
    let key = ctx.master_key.derive("csrf");
    let mut mac = match Hmac::<Sha256>::new_from_slice(&key) {
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
    mac(ctx, "session", session_id)
}

/// The token for anonymous forms, bound to the pre-session nonce cookie.
pub fn for_nonce(ctx: &Context, nonce: &str) -> String {
    mac(ctx, "nonce", nonce)
}

/// Refuses unless `presented` is exactly `expected` (and not empty).
pub fn check(expected: &str, presented: &str) -> Result<(), UiError> {
    if expected.is_empty() || !bool::from(expected.as_bytes().ct_eq(presented.as_bytes())) {
        return Err(UiError::csrf());
    }
    Ok(())
}
