//! Canonical text: what orc accepts in a detail, a title or a setting.
//!
//! orc refuses, never rewrites: a detail, title or value holding a control
//! character, a bidirectional override or isolate (U+202A–U+202E,
//! U+2066–U+2069) or a line or paragraph separator (U+2028, U+2029) is an
//! error that names the character and where it was. Such characters make a
//! terminal show text other than what the bytes say ("Trojan Source"), or
//! split one logical line in two; silently dropping them would change what
//! the writer meant, so the writer is asked to fix the text instead.

use crate::error::{Error, Result};

/// Why `c` is not accepted in one line of text, if it is not.
pub fn forbidden(c: char) -> Option<&'static str> {
    match c {
        '\u{202A}'..='\u{202E}' => Some("a bidirectional override"),
        '\u{2066}'..='\u{2069}' => Some("a bidirectional isolate"),
        '\u{2028}' => Some("a line separator"),
        '\u{2029}' => Some("a paragraph separator"),
        c if c.is_control() => Some("a control character"),
        _ => None,
    }
}

/// The first character of `text` that one line of text may not hold, with
/// the reason.
pub fn first_forbidden(text: &str) -> Option<(char, &'static str)> {
    text.chars().find_map(|c| forbidden(c).map(|why| (c, why)))
}

/// Check that `text` (the `what` of the error) is one line of canonical
/// text; the error shows the text escaped, so it cannot reorder the
/// terminal it is printed on either.
pub fn check_line(what: &str, text: &str) -> Result<()> {
    match first_forbidden(text) {
        None => Ok(()),
        Some((c, why)) => Err(Error::usage(
            format!("{what} contains {why} (U+{:04X})", u32::from(c)),
            escaped(text, 60),
        )
        .hint(format!(
            "{what} is one line of plain text: remove the character; orc refuses such text rather than rewrite it"
        ))),
    }
}

/// `text` with every non-printable or direction-changing character escaped
/// (`\u{202e}`), cut to `max` characters, for messages.
pub fn escaped(text: &str, max: usize) -> String {
    let mut out = String::new();
    for (n, c) in text.chars().enumerate() {
        if n == max {
            out.push('…');
            break;
        }
        if forbidden(c).is_some() || c == '\\' {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bidi_and_separators_are_refused() {
        for c in [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}',
            '\u{2068}', '\u{2069}', '\u{2028}', '\u{2029}', '\n', '\u{7}',
        ] {
            let text = format!("ok {c} then");
            let err = check_line("detail", &text).err();
            assert_eq!(err.as_ref().map(|e| e.code()), Some(2), "{c:?}");
            let shown = err.map(|e| e.to_string()).unwrap_or_default();
            assert!(
                !shown.contains(c),
                "the message must not hold {c:?}: {shown}"
            );
        }
    }

    #[test]
    fn plain_unicode_is_kept() {
        for ok in [
            "parser done",
            "café \"quoted\" 'x'",
            "日本語",
            "a\u{200D}b",
            "",
        ] {
            assert!(check_line("detail", ok).is_ok(), "{ok:?}");
        }
    }

    #[test]
    fn escaped_is_cut() {
        assert_eq!(escaped("ab\u{202E}c", 10), "ab\\u{202e}c");
        assert_eq!(escaped("abcdef", 3), "abc…");
    }
}
