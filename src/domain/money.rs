//! `Money`: an exact amount of US dollars in integer cents. Never a float.
//!
//! Plaid's transfer APIs carry amounts as decimal strings with exactly two decimals ("12.34");
//! that is the only textual form this type parses and prints, so a value that round-trips through
//! `Money` is byte-identical to what Plaid and the payload hash see.

use std::fmt;

/// A non-negative amount in cents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// Why a string is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("amount must be a decimal string with exactly two decimals, like \"12.34\"")]
    Format,
    #[error("amount is too large")]
    TooLarge,
}

impl Money {
    /// The largest amount we accept anywhere: $100,000,000,000.00 keeps every sum far from i64 overflow.
    const MAX_CENTS: i64 = 10_000_000_000_000;

    pub const ZERO: Money = Money(0);

    /// Parses Plaid's strict transfer format `^\d+\.\d{2}$`.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let (units, cents) = text.split_once('.').ok_or(MoneyError::Format)?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(units) || cents.len() != 2 || !digits(cents) {
            return Err(MoneyError::Format);
        }
        if units.len() > 12 {
            return Err(MoneyError::TooLarge);
        }
        let units: i64 = units.parse().map_err(|_| MoneyError::Format)?;
        let cents: i64 = cents.parse().map_err(|_| MoneyError::Format)?;
        Money::from_cents(units * 100 + cents).ok_or(MoneyError::TooLarge)
    }

    /// Parses a JSON number as Plaid sends balances (`1234.5`, `50000`, `-3.2`), without
    /// float arithmetic: the decimal text is read digit by digit. Negative balances clamp to zero
    /// because an overdrawn account has no money available to move.
    pub fn from_balance_number(number: &serde_json::Number) -> Option<Money> {
        let text = number.to_string();
        if text.contains(['e', 'E']) {
            return None;
        }
        if text.starts_with('-') {
            return Some(Money::ZERO);
        }
        let (units, fraction) = text.split_once('.').unwrap_or((&text, ""));
        let mut fraction = fraction.to_owned();
        fraction.truncate(2);
        while fraction.len() < 2 {
            fraction.push('0');
        }
        Money::parse(&format!("{units}.{fraction}")).ok()
    }

    /// Parses an amount a person typed: `12000`, `12,000`, `$12,000.00`, `12000.0` — grouping
    /// commas, a dollar sign and spaces ignored, zero to two decimals — into the exact amount.
    /// Anything else (`12.345`, `1e4`, `-5`) is refused rather than guessed.
    pub fn parse_typed(text: &str) -> Result<Money, MoneyError> {
        let cleaned: String = text.chars().filter(|c| !matches!(c, '$' | ',' | ' ' | '\u{a0}')).collect();
        let (units, fraction) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
        if fraction.len() > 2 || fraction.bytes().any(|b| !b.is_ascii_digit()) {
            return Err(MoneyError::Format);
        }
        Money::parse(&format!("{units}.{fraction:0<2}"))
    }

    pub fn from_cents(cents: i64) -> Option<Money> {
        (0..=Self::MAX_CENTS).contains(&cents).then_some(Money(cents))
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Subtraction that may go below zero, for "balance after" displays.
    pub fn signed_difference(self, other: Money) -> i64 {
        self.0 - other.0
    }

    /// `$1,234.56` for people; the API always uses [`Display`] ("1234.56").
    pub fn to_human(self) -> String {
        let units = (self.0 / 100).to_string();
        let mut grouped = String::new();
        for (i, ch) in units.chars().enumerate() {
            if i > 0 && (units.len() - i) % 3 == 0 {
                grouped.push(',');
            }
            grouped.push(ch);
        }
        format!("${grouped}.{:02}", self.0 % 100)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl serde::Serialize for Money {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn typed_amounts_are_forgiving_about_grouping_and_decimals_but_never_guess() {
        let twelve_thousand = Money::from_cents(1_200_000);
        for typed in ["12000", "12,000", "12000.0", "12000.00", "$12,000.00", " 12 000 ", "12000."] {
            assert_eq!(Money::parse_typed(typed).ok(), twelve_thousand, "{typed:?}");
        }
        assert_eq!(Money::parse_typed("0.5").ok(), Money::from_cents(50));
        for bad in ["12.345", "1e4", "-5", "", "12,000.0.0", "twelve", ".5x"] {
            assert!(Money::parse_typed(bad).is_err(), "{bad:?}");
        }
    }

    use super::*;

    #[test]
    fn parses_plaid_decimal_strings_exactly() {
        assert_eq!(Money::parse("12.34").map(Money::cents), Ok(1234));
        assert_eq!(Money::parse("0.01").map(Money::cents), Ok(1));
        assert_eq!(Money::parse("10000.00").map(Money::cents), Ok(1_000_000));
    }

    #[test]
    fn rejects_anything_but_two_decimals() {
        for bad in ["12", "12.3", "12.345", ".50", "1.-1", "-1.00", "1e3.00", " 1.00", "1,000.00", "", "."] {
            assert_eq!(Money::parse(bad), Err(MoneyError::Format), "{bad:?}");
        }
    }

    #[test]
    fn rejects_absurd_amounts() {
        assert_eq!(Money::parse("9999999999999.00"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn round_trips_through_display() {
        for text in ["0.00", "0.05", "1.10", "123456.78"] {
            assert_eq!(Money::parse(text).map(|m| m.to_string()), Ok(text.to_owned()));
        }
    }

    #[test]
    fn reads_balance_numbers_without_floats() {
        let n = |s: &str| serde_json::from_str::<serde_json::Number>(s).ok();
        let cents = |s: &str| n(s).as_ref().and_then(Money::from_balance_number).map(Money::cents);
        assert_eq!(cents("50000"), Some(5_000_000));
        assert_eq!(cents("1234.5"), Some(123_450));
        assert_eq!(cents("110.0"), Some(11_000));
        assert_eq!(cents("-20.5"), Some(0));
    }

    #[test]
    fn formats_for_people_with_grouping() {
        assert_eq!(Money::parse("1250.00").map(Money::to_human), Ok("$1,250.00".to_owned()));
        assert_eq!(Money::parse("999.99").map(Money::to_human), Ok("$999.99".to_owned()));
        assert_eq!(Money::parse("1234567.89").map(Money::to_human), Ok("$1,234,567.89".to_owned()));
    }
}
