//! Reading the plugin's markdown for tests: the front matter of agents and
//! skills (one `key: value` per line, which is all orc's files use), and the
//! `orc-*` command lines in their code spans and fenced blocks.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::path::Path;

/// A markdown file with front matter.
pub struct Doc {
    /// `key: value` pairs of the front matter, values unquoted.
    pub front: BTreeMap<String, String>,
    /// Everything after the front matter.
    pub body: String,
}

impl Doc {
    /// Read and split `path`; a file without front matter fails the test.
    pub fn read(path: &Path) -> Doc {
        let text =
            std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let rest = text
            .strip_prefix("---\n")
            .unwrap_or_else(|| panic!("{}: no front matter", path.display()));
        let (front, body) = rest
            .split_once("\n---\n")
            .unwrap_or_else(|| panic!("{}: front matter not closed", path.display()));
        let mut map = BTreeMap::new();
        for line in front.lines().filter(|l| !l.trim().is_empty()) {
            let (key, value) = line
                .split_once(':')
                .unwrap_or_else(|| panic!("{}: not `key: value`: {line}", path.display()));
            assert!(
                !key.starts_with(' '),
                "{}: nested YAML is not used here",
                path.display()
            );
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .unwrap_or(value);
            assert!(
                map.insert(key.trim().to_string(), value.to_string())
                    .is_none(),
                "{}: duplicate key {key}",
                path.display()
            );
        }
        Doc {
            front: map,
            body: body.to_string(),
        }
    }

    /// A front-matter value.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.front.get(key).map(String::as_str)
    }
}

/// One `orc-<tool> words...` command line.
#[derive(Debug, Clone)]
pub struct Invocation {
    /// `orc-spawn`, …
    pub tool: String,
    /// The words after the tool, quotes kept.
    pub words: Vec<String>,
}

/// The code of a markdown body: fenced blocks and inline code spans.
pub fn code_segments(body: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut prose = String::new();
    let mut fence: Option<String> = None;
    for line in body.lines() {
        let trimmed = line.trim_start();
        match &mut fence {
            Some(block) if trimmed.starts_with("```") => {
                out.push(std::mem::take(block));
                fence = None;
            }
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
            None if trimmed.starts_with("```") => fence = Some(String::new()),
            None => {
                prose.push_str(line);
                prose.push('\n');
            }
        }
    }
    // Inline spans may wrap across lines in a paragraph.
    let mut parts = prose.split('`');
    parts.next();
    while let Some(span) = parts.next() {
        out.push(span.replace('\n', " "));
        parts.next();
    }
    out
}

/// Every `orc-*` command line in a markdown body's code.
pub fn invocations(body: &str) -> Vec<Invocation> {
    code_segments(body)
        .iter()
        .flat_map(|code| in_code(code))
        .collect()
}

fn in_code(code: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    let bytes = code.as_bytes();
    for (at, _) in code.match_indices("orc-") {
        let before = at.checked_sub(1).map(|i| bytes[i]);
        if before
            .is_some_and(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'(' | b'|' | b';' | b'&' | b'`'))
        {
            continue;
        }
        let name: String = code[at..]
            .chars()
            .take_while(|c| c.is_ascii_lowercase() || *c == '-')
            .collect();
        let rest = &code[at + name.len()..];
        if !(rest.is_empty() || rest.starts_with([' ', '\n', ')', '`', ';', '|'])) {
            continue;
        }
        out.push(Invocation {
            tool: name.trim_end_matches('-').to_string(),
            words: words(rest),
        });
    }
    out
}

/// The words of a command line up to its end (a newline, `|`, `;`, `&&`,
/// `)` outside quotes), quotes kept in the words.
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => {
                word.push(c);
                quote = None;
            }
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                word.push(c);
                quote = Some(c);
            }
            (None, '\n' | '|' | ';' | ')') => break,
            (None, '&') if chars.peek() == Some(&'&') => break,
            (None, ' ' | '\t') => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            (None, c) => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// The `orc-*` tools an `allowed-tools` value pre-approves
/// (`Bash(orc-spawn *), Bash(orc-ps)` gives orc-spawn and orc-ps).
pub fn allowed_tools(value: &str) -> Vec<String> {
    value
        .split("Bash(")
        .skip(1)
        .filter_map(|rule| {
            let rule = rule.split(')').next()?;
            let first = rule.split_whitespace().next()?;
            first.starts_with("orc-").then(|| first.to_string())
        })
        .collect()
}

#[test]
fn extracts_command_lines() {
    let body = "Run `orc-ctl logs 3` then\n`orc-state checkpoint --phase 2 --done \"a | b\"`.\n\
                ```sh\norc-spawn --kind reviewer --pr 7 N | head\n```\nnot orc-notify here";
    let inv = invocations(body);
    let tools: Vec<&str> = inv.iter().map(|i| i.tool.as_str()).collect();
    assert_eq!(tools, ["orc-spawn", "orc-ctl", "orc-state"]);
    assert_eq!(inv[0].words, ["--kind", "reviewer", "--pr", "7", "N"]);
    assert_eq!(
        inv[2].words,
        ["checkpoint", "--phase", "2", "--done", "\"a | b\""]
    );
    assert_eq!(
        allowed_tools("Bash(orc-spawn *), Bash(orc-ps), Bash(gh pr *)"),
        ["orc-spawn", "orc-ps"]
    );
}
