//! TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps), compatible with Google Authenticator and
//! `oathtool --totp -b`. Verification accepts the current step ±1 and refuses any step at or
//! before the approver's last used one; the caller records the returned step by compare-and-set
//! so a code is accepted at most once. Never logs a secret or a code.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

pub const STEP_SECONDS: u64 = 30;
const DIGITS: usize = 6;
const ISSUER: &str = "Countersign";

/// A TOTP shared secret (160 random bits). `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl std::fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpSecret(redacted)")
    }
}

impl TotpSecret {
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 20];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(bytes)
    }

    /// The stored (then encrypted) form.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(&self.0)
    }

    pub fn from_base64(text: &str) -> Option<Self> {
        STANDARD.decode(text).ok().filter(|b| b.len() >= 16).map(Self)
    }

    fn totp(&self, account: &str) -> Option<TOTP> {
        TOTP::new(Algorithm::SHA1, DIGITS, 1, STEP_SECONDS, self.0.clone(), Some(ISSUER.into()), account.into()).ok()
    }

    /// `otpauth://totp/Countersign:<account>?secret=…&issuer=Countersign` for authenticator apps.
    pub fn enrollment_uri(&self, account: &str) -> Option<String> {
        self.totp(account).map(|t| t.get_url())
    }

    /// The base32 secret, for typing into an app by hand.
    pub fn base32(&self) -> Option<String> {
        self.totp("x").map(|t| t.get_secret_base32())
    }

    /// The code for a given Unix time (tests and enrollment checks).
    pub fn code_at(&self, unix_seconds: u64) -> String {
        self.totp("x").map(|t| t.generate(unix_seconds)).unwrap_or_default()
    }
}

/// Six digits typed by a person (spaces allowed).
#[derive(Clone, PartialEq, Eq)]
pub struct TotpCode(String);

impl std::fmt::Debug for TotpCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TotpCode(redacted)")
    }
}

impl TotpCode {
    pub fn parse(text: &str) -> Option<Self> {
        let digits: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        (digits.len() == DIGITS && digits.bytes().all(|b| b.is_ascii_digit())).then_some(Self(digits))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TotpRejection {
    /// Not the code for any step in the window.
    Invalid,
    /// The code's step was already used (or an older one).
    Replayed,
}

/// Returns the matched time step. Compares every candidate in constant time.
pub fn verify(secret: &TotpSecret, code: &TotpCode, now_unix: u64, last_used_step: u64) -> Result<u64, TotpRejection> {
    let current = now_unix / STEP_SECONDS;
    let mut matched = None;
    for step in [current.saturating_sub(1), current, current + 1] {
        let expected = secret.code_at(step * STEP_SECONDS);
        if bool::from(expected.as_bytes().ct_eq(code.0.as_bytes())) {
            matched = Some(step);
        }
    }
    match matched {
        None => Err(TotpRejection::Invalid),
        Some(step) if step <= last_used_step => Err(TotpRejection::Replayed),
        Some(step) => Ok(step),
    }
}

/// A QR code drawn with Unicode half blocks, for `countersign approver add` in a terminal.
pub fn qr_terminal(text: &str) -> Option<String> {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium).ok()?;
    let border = 2;
    let size = qr.size();
    let dark = |x: i32, y: i32| qr.get_module(x, y);
    let mut out = String::new();
    let mut y = -border;
    while y < size + border {
        for x in -border..size + border {
            out.push(match (dark(x, y), dark(x, y + 1)) {
                (true, true) => ' ',
                (true, false) => '▄',
                (false, true) => '▀',
                (false, false) => '█',
            });
        }
        out.push('\n');
        y += 2;
    }
    Some(out)
}

/// The same QR code as an SVG image (for the enrollment page).
pub fn qr_svg(text: &str) -> Option<String> {
    let qr = qrcodegen::QrCode::encode_text(text, qrcodegen::QrCodeEcc::Medium).ok()?;
    let border = 4;
    let dimension = qr.size() + border * 2;
    let mut path = String::new();
    for y in 0..qr.size() {
        for x in 0..qr.size() {
            if qr.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {dimension} {dimension}\" role=\"img\" aria-label=\"TOTP enrollment QR code\">\
         <rect width=\"100%\" height=\"100%\" fill=\"#fff\"/><path d=\"{path}\" fill=\"#000\"/></svg>"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rfc_secret() -> TotpSecret {
        TotpSecret(b"12345678901234567890".to_vec())
    }

    fn code(text: &str) -> TotpCode {
        TotpCode::parse(text).expect("six digits")
    }

    #[test]
    fn matches_the_rfc_6238_sha1_vectors() {
        // RFC 6238 Appendix B, last six digits.
        for (time, expected) in [
            (59, "287082"),
            (1111111109, "081804"),
            (1111111111, "050471"),
            (1234567890, "005924"),
            (2000000000, "279037"),
        ] {
            assert_eq!(rfc_secret().code_at(time), expected, "T={time}");
        }
    }

    #[test]
    fn accepts_one_step_of_drift_either_way_and_no_more() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        for offset in [-30i64, 0, 30] {
            let at = (now as i64 + offset) as u64;
            assert!(verify(&secret, &code(&secret.code_at(at)), now, 0).is_ok(), "offset {offset}");
        }
        for offset in [-60i64, 60] {
            let at = (now as i64 + offset) as u64;
            assert_eq!(
                verify(&secret, &code(&secret.code_at(at)), now, 0),
                Err(TotpRejection::Invalid),
                "offset {offset}"
            );
        }
    }

    #[test]
    fn a_used_step_or_an_older_one_is_refused_as_a_replay() {
        let secret = TotpSecret::generate();
        let now = 1_700_000_000;
        let step = verify(&secret, &code(&secret.code_at(now)), now, 0).expect("valid");
        assert_eq!(verify(&secret, &code(&secret.code_at(now)), now, step), Err(TotpRejection::Replayed));
        assert_eq!(verify(&secret, &code(&secret.code_at(now - 30)), now, step), Err(TotpRejection::Replayed));
        assert_eq!(verify(&secret, &code(&secret.code_at(now + 30)), now, step), Ok(step + 1));
    }

    #[test]
    fn codes_must_be_six_digits() {
        assert!(TotpCode::parse("123 456").is_some());
        for bad in ["12345", "1234567", "12345a", ""] {
            assert!(TotpCode::parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn the_enrollment_uri_round_trips_through_an_authenticator_parser() {
        let secret = TotpSecret::generate();
        let uri = secret.enrollment_uri("alice").expect("uri");
        assert!(uri.starts_with("otpauth://totp/Countersign:alice?"));
        let parsed = TOTP::from_url(&uri).expect("parses");
        assert_eq!(parsed.generate(1_700_000_000), secret.code_at(1_700_000_000));
        assert_eq!(TotpSecret::from_base64(&secret.to_base64()), Some(secret));
    }

    #[test]
    fn qr_codes_render_for_terminals_and_pages() {
        let uri = "otpauth://totp/Countersign:alice?secret=JBSWY3DPEHPK3PXP&issuer=Countersign";
        assert!(qr_terminal(uri).is_some_and(|q| q.lines().count() > 10));
        assert!(qr_svg(uri).is_some_and(|s| s.starts_with("<svg") && s.contains("<path")));
    }
}
