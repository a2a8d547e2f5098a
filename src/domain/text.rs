//! Which characters text from outside may hold. Pure rules, used at the HTTP edge (every JSON
//! string and form field) and by the newtypes that parse single-line fields.
//!
//! NUL matters most: PostgreSQL cannot store it in text, so it must never get past the edge.
//! Invisible characters matter as much: a right-to-left override (U+202E) made a $321.00 request's
//! reason read "Pay $1000 to vendor" on the approval page. What an approver reads must be what the
//! agent sent, so characters that change how the text around them reads, or show as nothing, are
//! refused rather than stripped (stripping would change what the agent signed off on).

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Characters outside the Cf/Zl/Zp categories that still render as nothing or as a blank a
/// reader takes for a space: the combining grapheme joiner, the Hangul fillers, the braille blank
/// and the Mongolian free variation selectors. (Emoji variation selectors stay allowed: they only
/// pick a glyph's style.)
const INVISIBLE_OTHERS: &[char] = &[
    '\u{034F}', '\u{115F}', '\u{1160}', '\u{180B}', '\u{180C}', '\u{180D}', '\u{180F}', '\u{2800}', '\u{3164}',
    '\u{FFA0}',
];

/// Whether `c` is invisible or reorders what is around it: a format character (general category
/// Cf: bidi overrides, embeddings, isolates and marks, zero-width space/joiners, BOM, soft hyphen,
/// tag characters), a line or paragraph separator (Zl, Zp), or one of [`INVISIBLE_OTHERS`].
/// Private-use characters stay allowed: they show as a visible box, they hide nothing.
pub fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
    ) || INVISIBLE_OTHERS.contains(&c)
}

/// Refused in any text from outside: every control character (C0, DEL, C1) except newline and
/// tab, which free text such as a reason may hold, and every [invisible](is_invisible) character.
pub fn is_refused_anywhere(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t') || is_invisible(c)
}

/// Whether `text` may stand in a free-text field (a reason): no control characters but newline and
/// tab, no invisible characters. Runs over every string of every request body, so plain ASCII (the
/// common case) is read as bytes: its only refused characters are C0 and DEL.
pub fn is_free_text(text: &str) -> bool {
    if text.is_ascii() {
        return text.bytes().all(|b| matches!(b, b'\n' | b'\t') || !(b < 0x20 || b == 0x7F));
    }
    !text.chars().any(is_refused_anywhere)
}

/// Whether `text` is one line without control or invisible characters (names, ids, descriptions).
pub fn is_single_line(text: &str) -> bool {
    !text.chars().any(|c| c.is_control() || is_invisible(c))
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
    fn bidi_controls_zero_width_characters_and_other_invisibles_are_refused_everywhere() {
        for bad in [
            "Pay \u{202E} 0001$ \u{202C} to vendor",
            "\u{2066}isolate\u{2069}",
            "mark\u{200F}",
            "zero\u{200B}width",
            "join\u{200D}er",
            "\u{FEFF}bom",
            "soft\u{AD}hyphen",
            "tag\u{E0041}",
            "line\u{2028}sep",
            "filler\u{3164}",
        ] {
            assert!(!is_free_text(bad), "{bad:?}");
            assert!(!is_single_line(bad), "{bad:?}");
        }
        for good in ["Zoë Ångström", "日本語", "עברית", "العربية", "🙂", "❤\u{FE0F}", "Invoice 42", "private\u{E000}"]
        {
            assert!(is_free_text(good), "{good:?}");
            assert!(is_single_line(good), "{good:?}");
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
