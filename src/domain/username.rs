//! Usernames as one name whatever their case or Unicode form: `Dan`, `DAN` and `Ｄａｎ` (fullwidth)
//! are the same person for uniqueness, sign-in, throttling and the owner check. The stored
//! display form keeps the case the operator typed; every comparison uses [`normalized`].

use unicode_normalization::UnicodeNormalization;

/// NFKC (compatibility forms folded: fullwidth letters, ligatures), then lowercase, trimmed.
pub fn normalized(text: &str) -> String {
    text.trim().nfkc().collect::<String>().to_lowercase()
}

/// Whether two names are one person's (separation of duties compares this way).
pub fn same(a: &str, b: &str) -> bool {
    normalized(a) == normalized(b)
}

/// What an approver's username may be (checked on the display form): 1 to 64 ASCII letters,
/// digits and `. _ - @`. Nothing else can name an approver, so sign-in need not look it up.
pub fn is_valid(display: &str) -> bool {
    (1..=64).contains(&display.len())
        && display.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'))
}

/// The display form to store: NFKC, trimmed, case kept.
pub fn display_form(text: &str) -> String {
    text.trim().nfkc().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_compatibility_forms_fold_to_one_name() {
        for twin in ["dan", "Dan", "DAN", " dan ", "\u{ff24}\u{ff41}\u{ff4e}"] {
            assert_eq!(normalized(twin), "dan", "{twin:?}");
        }
        assert_eq!(display_form("\u{ff24}an"), "Dan");
        assert!(same("Dan", "dan") && !same("dan", "dana"));
        assert!(is_valid("dan.o-brien_2@corp") && is_valid(&display_form("\u{ff24}an")));
        assert!(!is_valid("") && !is_valid("ann\u{0}") && !is_valid("d\u{e1}n") && !is_valid(&"a".repeat(65)));
    }
}
