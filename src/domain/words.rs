//! Numbers as people read them in the sentences approvers see (policy reasons, schedules).

/// 1st, 2nd, 3rd, 4th, … 11th, 12th, 13th, … 21st, 22nd.
pub fn ordinal(n: i64) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinals_take_their_english_suffixes() {
        let names: Vec<String> = [1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 28, 101, 111].into_iter().map(ordinal).collect();
        assert_eq!(
            names,
            ["1st", "2nd", "3rd", "4th", "11th", "12th", "13th", "21st", "22nd", "23rd", "28th", "101st", "111th"]
        );
    }
}
