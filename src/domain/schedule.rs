//! A recurring transfer's schedule (Plaid's `TransferRecurringSchedule`), validated, with the dates
//! it runs on and the one sentence an approver reads before approving the whole of it.
//!
//! Dates are the scheduled ones; Plaid moves one that falls on a weekend or bank holiday to the
//! next banking day, which changes neither the count nor the total.

use super::money::Money;
use super::words::ordinal;
use serde_json::{json, Value};
use time::{Date, Duration, Month};

/// At most this many occurrences are listed or counted; a longer schedule is "open" for display.
const MAX_LISTED: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IntervalUnit {
    Week,
    Month,
}

/// A validated schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    pub interval_unit: IntervalUnit,
    pub interval_count: u32,
    /// Week: 1 (Monday) to 5 (Friday). Month: 1 to 28, or -1 (last day) to -5 from the month's end.
    pub interval_execution_day: i32,
    pub start_date: Date,
    pub end_date: Option<Date>,
}

/// The schedule as it arrives.
#[derive(Debug, Clone, Default)]
pub struct RawSchedule<'a> {
    pub interval_unit: &'a str,
    pub interval_count: i64,
    pub interval_execution_day: i64,
    pub start_date: &'a str,
    pub end_date: Option<&'a str>,
}

impl<'a> RawSchedule<'a> {
    /// Plaid's JSON shape (a missing or mistyped field reads as empty, and is refused by `parse`).
    pub fn from_json(value: &'a Value) -> RawSchedule<'a> {
        RawSchedule {
            interval_unit: value.get("interval_unit").and_then(Value::as_str).unwrap_or_default(),
            interval_count: value.get("interval_count").and_then(Value::as_i64).unwrap_or_default(),
            interval_execution_day: value.get("interval_execution_day").and_then(Value::as_i64).unwrap_or_default(),
            start_date: value.get("start_date").and_then(Value::as_str).unwrap_or_default(),
            end_date: value.get("end_date").and_then(Value::as_str),
        }
    }
}

/// Why a schedule is refused: a machine-readable code and a sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    pub code: &'static str,
    pub message: String,
}

fn refuse(code: &'static str, message: impl Into<String>) -> ScheduleError {
    ScheduleError { code, message: message.into() }
}

fn parse_date(text: &str, field: &str) -> Result<Date, ScheduleError> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(text, &format)
        .map_err(|_| refuse("invalid_schedule_date", format!("schedule.{field} must be a date as YYYY-MM-DD")))
}

impl Schedule {
    /// Applies Plaid's rules, and ours: the schedule starts no earlier than `today`.
    pub fn parse(raw: &RawSchedule<'_>, today: Date) -> Result<Schedule, ScheduleError> {
        let interval_unit = match raw.interval_unit {
            "week" => IntervalUnit::Week,
            "month" => IntervalUnit::Month,
            _ => {
                return Err(refuse("invalid_schedule_interval", "schedule.interval_unit must be \"week\" or \"month\""))
            }
        };
        let interval_count = u32::try_from(raw.interval_count)
            .ok()
            .filter(|count| (1..=12).contains(count))
            .ok_or_else(|| refuse("invalid_schedule_interval", "schedule.interval_count must be 1 to 12"))?;
        let day = raw.interval_execution_day;
        let day_ok = match interval_unit {
            IntervalUnit::Week => (1..=5).contains(&day),
            IntervalUnit::Month => (1..=28).contains(&day) || (-5..=-1).contains(&day),
        };
        if !day_ok {
            let rule = match interval_unit {
                IntervalUnit::Week => "1 (Monday) to 5 (Friday)",
                IntervalUnit::Month => "1 to 28, or -1 (the last day) to -5",
            };
            return Err(refuse("invalid_schedule_day", format!("schedule.interval_execution_day must be {rule}")));
        }
        let start_date = parse_date(raw.start_date, "start_date")?;
        if start_date < today {
            return Err(refuse("invalid_schedule_date", "schedule.start_date is in the past"));
        }
        let end_date = raw.end_date.map(|text| parse_date(text, "end_date")).transpose()?;
        let schedule = Schedule {
            interval_unit,
            interval_count,
            interval_execution_day: i32::try_from(day).unwrap_or(1),
            start_date,
            end_date,
        };
        if let Some(end) = end_date {
            if end < start_date {
                return Err(refuse("invalid_schedule_date", "schedule.end_date is before start_date"));
            }
            if schedule.dates().is_empty() {
                return Err(refuse("empty_schedule", "no transfer falls between start_date and end_date"));
            }
        }
        Ok(schedule)
    }

    /// Re-reads a schedule stored by [`Schedule::to_json`] (no "not in the past" rule: it was checked
    /// when proposed).
    pub fn from_json(value: &Value) -> Result<Schedule, ScheduleError> {
        Schedule::parse(&RawSchedule::from_json(value), Date::MIN)
    }

    /// Plaid's shape (also what we store and hash).
    pub fn to_json(&self) -> Value {
        json!({
            "interval_unit": match self.interval_unit { IntervalUnit::Week => "week", IntervalUnit::Month => "month" },
            "interval_count": self.interval_count,
            "interval_execution_day": self.interval_execution_day,
            "start_date": self.start_date.to_string(),
            "end_date": self.end_date.map(|d| d.to_string()),
        })
    }

    /// Every scheduled date, in order, up to [`MAX_LISTED`] (an open-ended schedule lists that many).
    pub fn dates(&self) -> Vec<Date> {
        let mut dates = Vec::new();
        let in_range = |date: Date| date >= self.start_date && self.end_date.is_none_or(|end| date <= end);
        match self.interval_unit {
            IntervalUnit::Week => {
                let weekday = self.interval_execution_day as i64 - 1; // 0 = Monday
                let offset = (weekday - i64::from(self.start_date.weekday().number_days_from_monday())).rem_euclid(7);
                let mut date = self.start_date + Duration::days(offset);
                while in_range(date) && dates.len() < MAX_LISTED {
                    dates.push(date);
                    date += Duration::weeks(i64::from(self.interval_count));
                }
            }
            IntervalUnit::Month => {
                let (mut year, mut month) = (self.start_date.year(), self.start_date.month());
                while dates.len() < MAX_LISTED {
                    let Some(date) = day_in_month(year, month, self.interval_execution_day) else { break };
                    if self.end_date.is_some_and(|end| date > end) {
                        break;
                    }
                    if in_range(date) {
                        dates.push(date);
                    }
                    for _ in 0..self.interval_count {
                        if month == Month::December {
                            year += 1;
                        }
                        month = month.next();
                    }
                }
            }
        }
        dates
    }

    /// Count and total, when the schedule ends.
    pub fn totals(&self, amount: Money) -> Option<(usize, Money)> {
        self.end_date?;
        let count = self.dates().len();
        let total = Money::from_cents(amount.cents().checked_mul(i64::try_from(count).ok()?)?)?;
        Some((count, total))
    }

    /// "Debit $250.00 from ••0000 every month on the 1st, from 2027-01-01 to 2027-12-01 — 12 debits,
    /// $3,000.00 in total": everything an approver commits to, in one sentence.
    pub fn describe(&self, is_debit: bool, amount: Money, account_mask: &str) -> String {
        let (verb, preposition, noun) = if is_debit { ("Debit", "from", "debit") } else { ("Credit", "to", "credit") };
        let every = match (self.interval_unit, self.interval_count) {
            (IntervalUnit::Week, 1) => "every week".to_owned(),
            (IntervalUnit::Week, n) => format!("every {n} weeks"),
            (IntervalUnit::Month, 1) => "every month".to_owned(),
            (IntervalUnit::Month, n) => format!("every {n} months"),
        };
        let on = match self.interval_unit {
            IntervalUnit::Week => weekday_name(self.interval_execution_day).to_owned(),
            IntervalUnit::Month if self.interval_execution_day > 0 => {
                format!("the {}", ordinal(i64::from(self.interval_execution_day)))
            }
            IntervalUnit::Month if self.interval_execution_day == -1 => "the last day".to_owned(),
            IntervalUnit::Month => format!("the {}-to-last day", ordinal(-i64::from(self.interval_execution_day))),
        };
        let head = format!("{verb} {} {preposition} ••{account_mask} {every} on {on}", amount.to_human());
        match (self.end_date, self.totals(amount)) {
            (Some(end), Some((count, total))) => {
                let plural = if count == 1 { "" } else { "s" };
                format!(
                    "{head}, from {} to {end} — {count} {noun}{plural}, {} in total",
                    self.start_date,
                    total.to_human()
                )
            }
            _ => format!("{head}, from {} until cancelled — no end date, no total", self.start_date),
        }
    }
}

/// The `day`th day of a month (1–28), or counted from its end (-1 = last).
fn day_in_month(year: i32, month: Month, day: i32) -> Option<Date> {
    let length = i32::from(month.length(year));
    let day = if day > 0 { day } else { length + 1 + day };
    Date::from_calendar_date(year, month, u8::try_from(day).ok()?).ok()
}

fn weekday_name(day: i32) -> &'static str {
    match day {
        1 => "Monday",
        2 => "Tuesday",
        3 => "Wednesday",
        4 => "Thursday",
        _ => "Friday",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    fn raw<'a>(unit: &'a str, count: i64, day: i64, start: &'a str, end: Option<&'a str>) -> RawSchedule<'a> {
        RawSchedule {
            interval_unit: unit,
            interval_count: count,
            interval_execution_day: day,
            start_date: start,
            end_date: end,
        }
    }

    fn parse(raw: RawSchedule<'_>) -> Result<Schedule, ScheduleError> {
        Schedule::parse(&raw, date!(2026 - 12 - 03))
    }

    fn money(text: &str) -> Money {
        Money::parse(text).expect("money")
    }

    #[test]
    fn the_issue_example_reads_as_one_sentence() {
        let schedule = parse(raw("month", 1, 1, "2027-01-01", Some("2027-12-01"))).expect("valid");
        assert_eq!(
            schedule.describe(true, money("250.00"), "0000"),
            "Debit $250.00 from ••0000 every month on the 1st, from 2027-01-01 to 2027-12-01 — 12 debits, $3,000.00 in total"
        );
    }

    #[test]
    fn weeks_count_from_the_first_matching_weekday() {
        // 2027-01-01 is a Friday: the first Monday is 2027-01-04.
        let schedule = parse(raw("week", 2, 1, "2027-01-01", Some("2027-02-01"))).expect("valid");
        assert_eq!(schedule.dates(), vec![date!(2027 - 01 - 04), date!(2027 - 01 - 18), date!(2027 - 02 - 01)]);
        assert_eq!(
            schedule.describe(false, money("1000.50"), "1111"),
            "Credit $1,000.50 to ••1111 every 2 weeks on Monday, from 2027-01-01 to 2027-02-01 — 3 credits, $3,001.50 in total"
        );
    }

    #[test]
    fn month_days_from_the_end_follow_each_months_length() {
        let schedule = parse(raw("month", 1, -1, "2027-01-15", Some("2027-03-31"))).expect("valid");
        assert_eq!(schedule.dates(), vec![date!(2027 - 01 - 31), date!(2027 - 02 - 28), date!(2027 - 03 - 31)]);
        assert!(schedule.describe(true, money("5.00"), "0000").contains("every month on the last day"));
        let second = parse(raw("month", 3, -2, "2027-01-01", Some("2027-12-31"))).expect("valid");
        assert_eq!(second.dates().len(), 4);
        assert!(second.describe(true, money("5.00"), "0000").contains("every 3 months on the 2nd-to-last day"));
    }

    #[test]
    fn a_start_after_the_day_skips_to_the_next_month() {
        let schedule = parse(raw("month", 1, 1, "2027-01-02", Some("2027-03-01"))).expect("valid");
        assert_eq!(schedule.dates(), vec![date!(2027 - 02 - 01), date!(2027 - 03 - 01)]);
    }

    #[test]
    fn an_open_schedule_says_it_has_no_total() {
        let schedule = parse(raw("month", 1, 15, "2027-01-01", None)).expect("valid");
        assert_eq!(schedule.totals(money("10.00")), None);
        assert_eq!(
            schedule.describe(true, money("10.00"), "0000"),
            "Debit $10.00 from ••0000 every month on the 15th, from 2027-01-01 until cancelled — no end date, no total"
        );
    }

    #[test]
    fn bad_schedules_are_refused_with_a_code() {
        let code = |r| parse(r).err().map(|e| e.code);
        assert_eq!(code(raw("day", 1, 1, "2027-01-01", None)), Some("invalid_schedule_interval"));
        assert_eq!(code(raw("month", 0, 1, "2027-01-01", None)), Some("invalid_schedule_interval"));
        assert_eq!(code(raw("week", 1, 6, "2027-01-01", None)), Some("invalid_schedule_day"));
        assert_eq!(code(raw("month", 1, 29, "2027-01-01", None)), Some("invalid_schedule_day"));
        assert_eq!(code(raw("month", 1, -6, "2027-01-01", None)), Some("invalid_schedule_day"));
        assert_eq!(code(raw("month", 1, 1, "2027-13-01", None)), Some("invalid_schedule_date"));
        assert_eq!(code(raw("month", 1, 1, "2026-12-01", None)), Some("invalid_schedule_date"));
        assert_eq!(code(raw("month", 1, 1, "2027-02-01", Some("2027-01-01"))), Some("invalid_schedule_date"));
        assert_eq!(code(raw("month", 1, 1, "2027-01-02", Some("2027-01-30"))), Some("empty_schedule"));
    }

    #[test]
    fn the_stored_form_round_trips() {
        let schedule = parse(raw("week", 1, 5, "2027-01-01", Some("2027-06-30"))).expect("valid");
        assert_eq!(Schedule::from_json(&schedule.to_json()), Ok(schedule));
    }
}
