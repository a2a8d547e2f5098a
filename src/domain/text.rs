//! Which characters text from outside may hold. Pure rules, used at the HTTP edge (every JSON
//! string and form field) and by the newtypes that parse single-line fields.
//!
//! NUL matters most: PostgreSQL cannot store it in text, so it must never get past the edge.

/// Refused in any text from outside: every control character (C0, DEL, C1) except newline and
/// tab, which free text such as a reason may hold.
pub fn is_refused_anywhere(c: char) -> bool {
    c.is_control() && c != '\n' && c != '\t'
}

/// Whether `text` may stand in a free-text field (a reason): no control characters but newline and tab.
/// Runs over every string of every request body, so it reads bytes rather than decoding chars: the
/// control characters are C0 and DEL (one byte each) and C1 (U+0080..=U+009F, `0xC2 0x80..=0x9F`).
pub fn is_free_text(text: &str) -> bool {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| match b {
        b'\n' | b'\t' => true,
        0x00..=0x1F | 0x7F => false,
        0xC2 => !matches!(bytes.get(i + 1), Some(0x80..=0x9F)),
        _ => true,
    })
}

/// Whether `text` is one line without control characters (names, ids, descriptions).
pub fn is_single_line(text: &str) -> bool {
    !text.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_text_may_hold_newlines_and_tabs_but_no_other_control_character() {
        assert!(is_free_text("line one\nline two\tand a tab, ünïcödé"));
        for bad in ["nul\u{0}", "bell\u{7}", "cr\r", "esc\u{1b}[31m", "del\u{7f}", "c1\u{85}"] {
            assert!(!is_free_text(bad), "{bad:?}");
        }
    }

    #[test]
    fn the_byte_reading_agrees_with_the_char_definition() {
        for c in (0..0x3000u32).chain(0xFFF0..0x1_0000).chain([0x1F600, 0x10FFFF]).filter_map(char::from_u32) {
            let text = format!("a{c}b");
            assert_eq!(is_free_text(&text), !is_refused_anywhere(c), "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn single_line_text_holds_no_control_character_at_all() {
        assert!(is_single_line("Ada Lovelace"));
        for bad in ["two\nlines", "tab\t", "nul\u{0}"] {
            assert!(!is_single_line(bad), "{bad:?}");
        }
    }
}
