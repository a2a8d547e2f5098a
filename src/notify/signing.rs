//! Standard Webhooks signing (<https://www.standardwebhooks.com/>): `webhook-id`,
//! `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">`,
//! keyed with the bytes of a `whsec_<base64>` secret. Several space-separated signatures are
//! allowed, which is how a rotated secret overlaps with the new one.
//!
//! Never logs a secret or a signature.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

const PREFIX: &str = "whsec_";

/// A fresh `whsec_` secret: 24 random bytes, as the Standard Webhooks libraries generate.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    format!("{PREFIX}{}", STANDARD.encode(bytes))
}

#[derive(Debug, thiserror::Error)]
#[error("a webhook secret must be whsec_ followed by base64")]
pub struct BadSecret;

/// The `webhook-signature` header value: one `v1,…` per secret, space-separated.
pub fn signature_header(secrets: &[String], id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let signatures: Result<Vec<String>, BadSecret> =
        secrets.iter().map(|secret| sign(secret, id, timestamp, body).map(|s| format!("v1,{s}"))).collect();
    Ok(signatures?.join(" "))
}

fn sign(secret: &str, id: &str, timestamp: i64, body: &str) -> Result<String, BadSecret> {
    let key = STANDARD.decode(secret.strip_prefix(PREFIX).unwrap_or(secret)).map_err(|_| BadSecret)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|_| BadSecret)?;
    mac.update(format!("{id}.{timestamp}.{body}").as_bytes());
    Ok(STANDARD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_the_standard_webhooks_reference_example() {
        // The example in the Standard Webhooks specification and its reference libraries' tests.
        let header = signature_header(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        )
        .expect("valid secret");
        assert_eq!(header, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn two_secrets_give_two_space_separated_signatures() {
        let (a, b) = (generate_secret(), generate_secret());
        let header = signature_header(&[a.clone(), b], "msg_1", 1, "{}").expect("valid secrets");
        let parts: Vec<&str> = header.split(' ').collect();
        assert_eq!(parts.len(), 2);
        assert!(parts.iter().all(|p| p.starts_with("v1,")));
        assert_eq!(parts[0], signature_header(&[a], "msg_1", 1, "{}").expect("valid"));
    }

    #[test]
    fn generated_secrets_are_whsec_and_differ() {
        let secret = generate_secret();
        assert!(secret.starts_with("whsec_"));
        assert_ne!(secret, generate_secret());
    }

    #[test]
    fn a_secret_that_is_not_base64_is_refused() {
        assert!(signature_header(&["whsec_not base64!".into()], "msg", 1, "{}").is_err());
    }
}
