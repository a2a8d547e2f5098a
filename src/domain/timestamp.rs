//! How the audit trail writes time: RFC 3339, UTC, always three fractional digits, so exported
//! records and signed checkpoints read the same and sort as text. One leaf, used by both.

use time::macros::format_description;
use time::OffsetDateTime;

/// `ms` since the Unix epoch as `2026-12-03T06:00:00.000Z` (empty if out of range).
pub fn format_audit_time(ms: i64) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&format).ok())
        .unwrap_or_default()
}

/// Any RFC 3339 time as ms since the Unix epoch.
pub fn parse_audit_time(text: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_time_round_trips_with_three_digits() {
        assert_eq!(format_audit_time(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_audit_time(1_796_270_400_123), "2026-12-03T04:00:00.123Z");
        assert_eq!(parse_audit_time("2026-12-03T04:00:00.123Z"), Some(1_796_270_400_123));
        assert_eq!(parse_audit_time("2026-12-03T05:00:00.123+01:00"), Some(1_796_270_400_123));
        assert_eq!(parse_audit_time("yesterday"), None);
    }
}
