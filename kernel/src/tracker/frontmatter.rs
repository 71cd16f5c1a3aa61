//! A small, strict reader of the YAML-like front matter of local issues.
//!
//! It knows only what issue files need: `key: value` lines, scalars bare or
//! quoted with `'…'` (`''` is a quote) or `"…"` (escapes `\\ \" \n \t`),
//! inline lists `[a, b]`, block lists of `- item` lines, blank lines and `#`
//! comment lines. A full YAML parser would accept far more and report less
//! precisely; here anything unexpected is an error at `file:line`. A `#`
//! inside a value is part of it (titles like "Support C# bindings"), and a
//! bare value starting with a YAML indicator must be quoted, so nothing this
//! reader accepts means something else to YAML.

use std::path::Path;

use crate::error::{Error, Result};

/// A value: one scalar, a list of scalars with their line numbers, or
/// nothing (`key:` with no items after it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Value {
    /// `key: value`.
    Scalar(String),
    /// `key: [a, b]` or `key:` followed by `- item` lines.
    List(Vec<(usize, String)>),
    /// `key:` and nothing else.
    Empty,
}

/// One `key: value` of the front matter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    /// The key as written.
    pub key: String,
    /// Its 1-based line number.
    pub line: usize,
    /// The value.
    pub value: Value,
}

/// A document split into its front matter and the text after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Document<'a> {
    /// The entries in file order; keys are unique.
    pub entries: Vec<Entry>,
    /// The text after the closing `---` line.
    pub rest: &'a str,
    /// The 1-based line number of the first line of `rest`.
    pub rest_line: usize,
}

/// `file:line`, the subject of every error about a file's content.
pub(crate) fn at(file: &Path, line: usize) -> String {
    format!("{}:{line}", file.display())
}

/// Split `text` (LF line ends) into front matter entries and the rest.
pub(crate) fn parse<'a>(text: &'a str, file: &Path) -> Result<Document<'a>> {
    let shape = "an issue file starts with a '---' line, 'title: ...', and another '---' line";
    let mut lines = text.split_inclusive('\n');
    if lines.next().map(str::trim_end) != Some("---") {
        return Err(Error::usage(
            "missing front matter: the first line must be '---'",
            at(file, 1),
        )
        .hint(shape));
    }
    let mut offset = text.find('\n').map_or(text.len(), |i| i + 1);
    let mut entries: Vec<Entry> = Vec::new();
    let mut in_list = false;
    for (idx, raw) in lines.enumerate() {
        let line_no = idx + 2;
        offset += raw.len();
        let line = raw.trim_end();
        if line == "---" {
            return Ok(Document {
                entries,
                rest: &text[offset..],
                rest_line: line_no + 1,
            });
        }
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if let Some(item) = list_item(trimmed) {
            let here = at(file, line_no);
            let Some(entry) = entries.last_mut().filter(|_| in_list) else {
                return Err(Error::usage("list item without a key above it", here));
            };
            let item = scalar(item, &here)?;
            if item.is_empty() {
                return Err(Error::usage("empty list item", here));
            }
            match &mut entry.value {
                Value::List(items) => items.push((line_no, item)),
                value => *value = Value::List(vec![(line_no, item)]),
            }
            continue;
        }
        let entry = key_value(line, line_no, file)?;
        if let Some(first) = entries.iter().find(|e| e.key == entry.key) {
            return Err(Error::usage(
                format!(
                    "duplicate key {:?} (first on line {})",
                    entry.key, first.line
                ),
                at(file, line_no),
            ));
        }
        in_list = entry.value == Value::Empty;
        entries.push(entry);
    }
    Err(Error::usage(
        "front matter is not terminated by a '---' line",
        at(file, 1),
    )
    .hint(shape))
}

/// The item of a block list line `- item` (already left-trimmed).
fn list_item(line: &str) -> Option<&str> {
    if line == "-" {
        return Some("");
    }
    line.strip_prefix("- ").or_else(|| line.strip_prefix("-\t"))
}

fn key_value(line: &str, line_no: usize, file: &Path) -> Result<Entry> {
    let here = at(file, line_no);
    if line.starts_with([' ', '\t']) {
        return Err(Error::usage("unexpected indentation", here)
            .hint("keys start at the beginning of the line; list items are '- item'"));
    }
    let Some((key, value)) = line.split_once(':') else {
        return Err(Error::usage("expected 'key: value'", here));
    };
    let key_ok = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if !key_ok {
        return Err(Error::usage(format!("invalid key {key:?}"), here)
            .hint("keys are lowercase words such as title, labels, depends_on"));
    }
    if !value.is_empty() && !value.starts_with([' ', '\t']) {
        return Err(Error::usage(
            format!("expected a space after '{key}:'"),
            here,
        ));
    }
    let value = value.trim();
    let value = if value.is_empty() {
        Value::Empty
    } else if let Some(inner) = value.strip_prefix('[') {
        Value::List(
            inline_list(inner, &here)?
                .into_iter()
                .map(|item| (line_no, item))
                .collect(),
        )
    } else {
        Value::Scalar(scalar(value, &here)?)
    };
    Ok(Entry {
        key: key.to_string(),
        line: line_no,
        value,
    })
}

/// The items of `[a, 'b', "c"]`, given the text after `[`.
fn inline_list(mut rest: &str, here: &str) -> Result<Vec<String>> {
    let mut items = Vec::new();
    loop {
        rest = rest.trim_start();
        if items.is_empty() && rest.starts_with(']') {
            rest = &rest[1..];
            break;
        }
        let item;
        if rest.starts_with(['\'', '"']) {
            let (text, after) = quoted(rest, here)?;
            item = text;
            rest = after.trim_start();
        } else {
            let end = rest.find([',', ']']).unwrap_or(rest.len());
            item = bare(rest[..end].trim(), here)?;
            rest = &rest[end..];
        }
        if item.is_empty() {
            return Err(Error::usage("empty list item", here.to_string()));
        }
        items.push(item);
        match rest.chars().next() {
            Some(',') => rest = &rest[1..],
            Some(']') => {
                rest = &rest[1..];
                break;
            }
            Some(_) => {
                return Err(
                    Error::usage("expected ',' or ']' in the list", here.to_string())
                        .hint("quote list items that contain ',' or ']'"),
                );
            }
            None => {
                return Err(Error::usage(
                    "unterminated list: missing ']'",
                    here.to_string(),
                ));
            }
        }
    }
    if !rest.trim().is_empty() {
        return Err(Error::usage("unexpected text after ']'", here.to_string())
            .hint("quote a value that starts with '['"));
    }
    Ok(items)
}

/// A whole scalar: quoted (nothing may follow the closing quote) or bare.
fn scalar(text: &str, here: &str) -> Result<String> {
    let text = text.trim();
    if !text.starts_with(['\'', '"']) {
        return bare(text, here);
    }
    let (value, rest) = quoted(text, here)?;
    if rest.trim().is_empty() {
        Ok(value)
    } else {
        Err(Error::usage(
            "unexpected text after the closing quote",
            here.to_string(),
        ))
    }
}

/// A bare scalar: refused when YAML would read it as something else.
fn bare(text: &str, here: &str) -> Result<String> {
    if text.starts_with(['[', ']', '{', '}', '|', '>', '&', '*', '!']) {
        return Err(Error::usage(
            format!("a bare value cannot start with {:?}", &text[..1]),
            here.to_string(),
        )
        .hint("put the value in quotes"));
    }
    Ok(text.to_string())
}

/// A quoted scalar at the start of `text`: its value and the text after it.
fn quoted<'a>(text: &'a str, here: &str) -> Result<(String, &'a str)> {
    let unterminated = || Error::usage("unterminated quote", here.to_string());
    let mut chars = text.char_indices();
    let Some((_, quote)) = chars.next() else {
        return Err(unterminated());
    };
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match (quote, c) {
            ('\'', '\'') => {
                // YAML writes a quote inside '…' as ''.
                if text[i + 1..].starts_with('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Ok((out, &text[i + 1..]));
                }
            }
            ('"', '"') => return Ok((out, &text[i + 1..])),
            ('"', '\\') => match chars.next().map(|(_, e)| e) {
                Some('\\') => out.push('\\'),
                Some('"') => out.push('"'),
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(e) => {
                    return Err(
                        Error::usage(format!("unknown escape \\{e}"), here.to_string())
                            .hint("inside \"...\" use \\\\, \\\", \\n or \\t, or quote with '...'"),
                    );
                }
                None => return Err(unterminated()),
            },
            _ => out.push(c),
        }
    }
    Err(unterminated())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(text: &str) -> Result<Document<'_>> {
        parse(text, Path::new("7.md"))
    }

    fn err(text: &str) -> String {
        doc(text).unwrap_err().to_string()
    }

    fn scalar_of(text: &str) -> Value {
        doc(&format!("---\nk: {text}\n---\n"))
            .unwrap()
            .entries
            .remove(0)
            .value
    }

    fn s(text: &str) -> Value {
        Value::Scalar(text.to_string())
    }

    #[test]
    fn splits_entries_and_rest() {
        let d = doc("---\ntitle: Hello\n\n# note\nlabels: [a, 'b c']\ntags:\n  - x\n- \"y\"\nnone:\n---\nbody\n")
            .unwrap();
        let keys: Vec<_> = d.entries.iter().map(|e| (e.key.as_str(), e.line)).collect();
        assert_eq!(
            keys,
            [("title", 2), ("labels", 5), ("tags", 6), ("none", 9)]
        );
        assert_eq!(d.entries[0].value, s("Hello"));
        assert_eq!(
            d.entries[1].value,
            Value::List(vec![(5, "a".into()), (5, "b c".into())])
        );
        assert_eq!(
            d.entries[2].value,
            Value::List(vec![(7, "x".into()), (8, "y".into())])
        );
        assert_eq!(d.entries[3].value, Value::Empty);
        assert_eq!((d.rest, d.rest_line), ("body\n", 11));
        let d = doc("---\n---").unwrap();
        assert_eq!((d.entries.len(), d.rest, d.rest_line), (0, "", 3));
    }

    #[test]
    fn scalars_bare_and_quoted() {
        assert_eq!(scalar_of("Support C# bindings"), s("Support C# bindings"));
        assert_eq!(scalar_of("  spaced  "), s("spaced"));
        assert_eq!(scalar_of("'it''s: [x]'"), s("it's: [x]"));
        assert_eq!(scalar_of(r#""a \"b\" \\ \t\n""#), s("a \"b\" \\ \t\n"));
        assert_eq!(scalar_of("''"), s(""));
        assert_eq!(scalar_of("[]"), Value::List(vec![]));
        assert_eq!(
            scalar_of("[ \"x, y\" , z ]"),
            Value::List(vec![(2, "x, y".into()), (2, "z".into())])
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        let cases = [
            (
                "",
                "missing front matter: the first line must be '---' (7.md:1)",
            ),
            (
                "title: x\n",
                "missing front matter: the first line must be '---' (7.md:1)",
            ),
            (
                "---\ntitle: x\n",
                "front matter is not terminated by a '---' line (7.md:1)",
            ),
            ("---\njust text\n---\n", "expected 'key: value' (7.md:2)"),
            ("---\nTitle: x\n---\n", "invalid key \"Title\" (7.md:2)"),
            (
                "---\ntitle:x\n---\n",
                "expected a space after 'title:' (7.md:2)",
            ),
            ("---\n  title: x\n---\n", "unexpected indentation (7.md:2)"),
            (
                "---\n- a\n---\n",
                "list item without a key above it (7.md:2)",
            ),
            (
                "---\na: 1\n- b\n---\n",
                "list item without a key above it (7.md:3)",
            ),
            ("---\na:\n-\n---\n", "empty list item (7.md:3)"),
            (
                "---\na: 1\n\na: 2\n---\n",
                "duplicate key \"a\" (first on line 2) (7.md:4)",
            ),
            ("---\na: 'x\n---\n", "unterminated quote (7.md:2)"),
            ("---\na: \"x\\\"\n---\n", "unterminated quote (7.md:2)"),
            (
                "---\na: 'x' y\n---\n",
                "unexpected text after the closing quote (7.md:2)",
            ),
            ("---\na: \"\\q\"\n---\n", "unknown escape \\q (7.md:2)"),
            (
                "---\na: [x, y\n---\n",
                "unterminated list: missing ']' (7.md:2)",
            ),
            ("---\na: [x,]\n---\n", "empty list item (7.md:2)"),
            ("---\na: [, x]\n---\n", "empty list item (7.md:2)"),
            (
                "---\na: ['x' y]\n---\n",
                "expected ',' or ']' in the list (7.md:2)",
            ),
            (
                "---\na: [WIP] fix\n---\n",
                "unexpected text after ']' (7.md:2)",
            ),
            (
                "---\na: [[x]]\n---\n",
                "a bare value cannot start with \"[\" (7.md:2)",
            ),
            (
                "---\na: >\n---\n",
                "a bare value cannot start with \">\" (7.md:2)",
            ),
            (
                "---\na: '{x}'\nb: {x}\n---\n",
                "a bare value cannot start with \"{\" (7.md:3)",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(err(text), want, "{text:?}");
        }
    }

    #[test]
    fn hints_show_the_expected_shape() {
        let e = doc("no front matter").unwrap_err();
        assert!(e.hint_text().unwrap().contains("'title: ...'"));
        let e = doc("---\na: [WIP] x\n---\n").unwrap_err();
        assert_eq!(e.hint_text(), Some("quote a value that starts with '['"));
    }
}
