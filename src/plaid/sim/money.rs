//! Plaid's decimal money strings as integer cents.
//!
//! Transfer amounts travel as strings ("10.00") and balances as JSON numbers; the simulator decides
//! on whole cents only. This module must never do arithmetic on floats: the one float it produces is
//! for putting a balance on the wire, where Plaid's schema says "number".

/// Parses Plaid's transfer amount format, `^\d+\.\d{2}$`, into cents. Zero is allowed here; callers
/// that need a positive amount check that themselves.
pub fn parse_cents(s: &str) -> Option<i64> {
    let (whole, frac) = s.split_once('.')?;
    if whole.is_empty()
        || frac.len() != 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let whole: i64 = whole.parse().ok()?;
    let frac: i64 = frac.parse().ok()?;
    whole.checked_mul(100)?.checked_add(frac)
}

/// Formats cents back into Plaid's two-decimal string.
pub fn format_cents(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// A balance as the JSON number Plaid's AccountBalance schema asks for. The float exists only on
/// the wire; cents stay the source of truth.
pub fn cents_to_json_number(cents: i64) -> serde_json::Value {
    // i64 cents up to 2^53 convert to f64 exactly, and dividing by 100 gives the nearest double to
    // the decimal, which is what Plaid itself sends.
    serde_json::Number::from_f64(cents as f64 / 100.0).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_exactly_two_decimals() {
        assert_eq!(parse_cents("10.00"), Some(1000));
        assert_eq!(parse_cents("0.01"), Some(1));
        assert_eq!(parse_cents("999999.99"), Some(99_999_999));
    }

    #[test]
    fn rejects_other_shapes() {
        for bad in ["10", "10.0", "10.000", ".50", "-1.00", "1e3.00", "1,00", " 1.00", "1.0a"] {
            assert_eq!(parse_cents(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_round_trip() {
        assert_eq!(format_cents(1), "0.01");
        assert_eq!(format_cents(5_000_000), "50000.00");
        assert_eq!(format_cents(-250), "-2.50");
    }
}
