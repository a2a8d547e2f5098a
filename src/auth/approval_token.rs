//! Approval tokens: minted after step-up, a short-lived JWT bound to the approver, the request,
//! the payload hash the approver was shown, and their session. HS256 only (pinned), `iss`, `aud`,
//! `exp` required, 5 s leeway, at most 120 s of life. Single use is enforced by the caller, which
//! records the `jti` in the database. Never logs a token.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const ISSUER: &str = "countersign";
const AUDIENCE: &str = "countersign-approval";
pub const MAX_TTL_SECONDS: i64 = 120;
const LEEWAY_SECONDS: i64 = 5;

/// The HMAC key; derived from the master key by the caller. `Debug` is redacted.
#[derive(Clone)]
pub struct ApprovalTokenKey {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for ApprovalTokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApprovalTokenKey(redacted)")
    }
}

impl ApprovalTokenKey {
    pub fn new(secret: &[u8]) -> Self {
        Self { encoding: EncodingKey::from_secret(secret), decoding: DecodingKey::from_secret(secret) }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalClaims {
    pub iss: String,
    pub aud: String,
    /// The approver id.
    pub sub: String,
    pub request_id: String,
    pub payload_hash: String,
    pub session_id: String,
    pub jti: String,
    pub iat: i64,
    pub exp: i64,
    /// Whether a fresh TOTP code was verified to mint this token.
    pub step_up: bool,
}

/// What the token must be bound to.
pub struct Binding<'a> {
    pub approver_id: &'a str,
    pub request_id: &'a str,
    pub payload_hash: &'a str,
    pub session_id: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRejection {
    Malformed,
    BadSignature,
    Expired,
    WrongApprover,
    WrongRequest,
    WrongPayloadHash,
    WrongSession,
}

impl TokenRejection {
    pub fn code(self) -> &'static str {
        match self {
            Self::Malformed => "approval_token_malformed",
            Self::BadSignature => "approval_token_invalid",
            Self::Expired => "approval_token_expired",
            Self::WrongApprover => "approval_token_wrong_approver",
            Self::WrongRequest => "approval_token_wrong_request",
            Self::WrongPayloadHash => "payload_hash_mismatch",
            Self::WrongSession => "approval_token_wrong_session",
        }
    }
}

/// Mints a token valid for `ttl_seconds` (clamped to 120).
pub fn mint(
    key: &ApprovalTokenKey,
    binding: &Binding<'_>,
    step_up: bool,
    now: i64,
    ttl_seconds: i64,
) -> anyhow::Result<(String, ApprovalClaims)> {
    let claims = ApprovalClaims {
        iss: ISSUER.into(),
        aud: AUDIENCE.into(),
        sub: binding.approver_id.into(),
        request_id: binding.request_id.into(),
        payload_hash: binding.payload_hash.into(),
        session_id: binding.session_id.into(),
        jti: uuid::Uuid::new_v4().simple().to_string(),
        iat: now,
        exp: now + ttl_seconds.clamp(1, MAX_TTL_SECONDS),
        step_up,
    };
    let token = encode(&Header::new(Algorithm::HS256), &claims, &key.encoding)?;
    Ok((token, claims))
}

pub fn verify(
    key: &ApprovalTokenKey,
    token: &str,
    expected: &Binding<'_>,
    now: i64,
) -> Result<ApprovalClaims, TokenRejection> {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.algorithms = vec![Algorithm::HS256];
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[AUDIENCE]);
    // Expiry is checked below against the caller's clock, so tests and replicas agree on "now".
    validation.validate_exp = false;
    validation.leeway = 0;
    let claims = decode::<ApprovalClaims>(token, &key.decoding, &validation)
        .map_err(|e| match e.kind() {
            jsonwebtoken::errors::ErrorKind::InvalidSignature => TokenRejection::BadSignature,
            _ => TokenRejection::Malformed,
        })?
        .claims;
    if claims.exp - claims.iat > MAX_TTL_SECONDS || claims.iat > now + LEEWAY_SECONDS {
        return Err(TokenRejection::Malformed);
    }
    if now > claims.exp + LEEWAY_SECONDS {
        return Err(TokenRejection::Expired);
    }
    if claims.sub != expected.approver_id {
        return Err(TokenRejection::WrongApprover);
    }
    if claims.request_id != expected.request_id {
        return Err(TokenRejection::WrongRequest);
    }
    if claims.payload_hash != expected.payload_hash {
        return Err(TokenRejection::WrongPayloadHash);
    }
    if claims.session_id != expected.session_id {
        return Err(TokenRejection::WrongSession);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    const NOW: i64 = 1_700_000_000;

    fn binding() -> Binding<'static> {
        Binding { approver_id: "ap_1", request_id: "tr_1", payload_hash: "hash", session_id: "s1" }
    }

    fn key() -> ApprovalTokenKey {
        ApprovalTokenKey::new(b"0123456789abcdef0123456789abcdef")
    }

    fn minted() -> String {
        mint(&key(), &binding(), true, NOW, 120).expect("mint").0
    }

    #[test]
    fn a_fresh_token_verifies_with_its_bindings() {
        let claims = verify(&key(), &minted(), &binding(), NOW + 10).expect("valid");
        assert!(claims.step_up);
        assert_eq!(claims.exp - claims.iat, 120);
    }

    #[test]
    fn lifetimes_are_clamped_to_two_minutes() {
        let (_, claims) = mint(&key(), &binding(), false, NOW, 3600).expect("mint");
        assert_eq!(claims.exp - claims.iat, MAX_TTL_SECONDS);
    }

    #[test]
    fn an_expired_token_is_refused() {
        assert_eq!(verify(&key(), &minted(), &binding(), NOW + 126), Err(TokenRejection::Expired));
    }

    #[test]
    fn each_wrong_binding_is_refused_with_its_own_reason() {
        let token = minted();
        let check = |b: Binding<'_>| verify(&key(), &token, &b, NOW).err();
        assert_eq!(check(Binding { approver_id: "ap_2", ..binding() }), Some(TokenRejection::WrongApprover));
        assert_eq!(check(Binding { request_id: "tr_2", ..binding() }), Some(TokenRejection::WrongRequest));
        assert_eq!(check(Binding { payload_hash: "other", ..binding() }), Some(TokenRejection::WrongPayloadHash));
        assert_eq!(check(Binding { session_id: "s2", ..binding() }), Some(TokenRejection::WrongSession));
    }

    #[test]
    fn a_tampered_or_foreign_signature_is_refused() {
        let token = minted();
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
        claims["payload_hash"] = "forged".into();
        parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
        let forged = parts.join(".");
        let forged_binding = Binding { payload_hash: "forged", ..binding() };
        assert_eq!(verify(&key(), &forged, &forged_binding, NOW), Err(TokenRejection::BadSignature));
        let other = ApprovalTokenKey::new(b"another key, another key, another");
        assert_eq!(verify(&other, &token, &binding(), NOW), Err(TokenRejection::BadSignature));
    }

    #[test]
    fn alg_none_and_other_algorithms_are_refused() {
        let token = minted();
        let payload = token.split('.').nth(1).expect("payload").to_owned();
        for header in
            [r#"{"alg":"none","typ":"JWT"}"#, r#"{"alg":"HS512","typ":"JWT"}"#, r#"{"alg":"RS256","typ":"JWT"}"#]
        {
            let forged = format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header));
            assert!(verify(&key(), &forged, &binding(), NOW).is_err(), "{header}");
        }
        assert_eq!(verify(&key(), "not a jwt", &binding(), NOW), Err(TokenRejection::Malformed));
    }
}
