//! The custom agent's command template: split into words like a POSIX shell
//! would, but with no expansion at all, then placeholders filled per word.
//!
//! Splitting happens before substitution, so whatever the prompt holds
//! (spaces, quotes, `$(...)`, newlines) lands inside one word and stays one
//! argument.

use crate::error::{Error, Result};

/// Split `text` into words: blanks separate words; `'...'` is literal;
/// `"..."` is literal except `\"`, `\\`, `\$`, `` \` `` and backslash-newline;
/// outside quotes a backslash takes the next character literally and
/// backslash-newline joins lines. `$`, backticks, globs, `~` and `#` are
/// plain characters: nothing is expanded, nothing is a comment.
///
/// Errors (usage): an unbalanced quote or a trailing backslash.
pub fn split_words(text: &str) -> Result<Vec<String>> {
    let hint = "ORC_AGENT_CMD is split like a shell command line: close every quote";
    let mut words = Vec::new();
    let mut word = String::new();
    // Whether a word has started: `''` is an empty word, not no word.
    let mut started = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            ' ' | '\t' | '\n' => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            '\'' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err(Error::usage("unbalanced ' quote", text).hint(hint)),
                    }
                }
            }
            '"' => {
                started = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some('\n') => {}
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => {
                                return Err(Error::usage("unbalanced \" quote", text).hint(hint));
                            }
                        },
                        Some(c) => word.push(c),
                        None => return Err(Error::usage("unbalanced \" quote", text).hint(hint)),
                    }
                }
            }
            '\\' => match chars.next() {
                Some('\n') => {}
                Some(c) => {
                    started = true;
                    word.push(c);
                }
                None => {
                    return Err(Error::usage("trailing backslash", text)
                        .hint("escape a final backslash as \\\\ or quote it"));
                }
            },
            c => {
                started = true;
                word.push(c);
            }
        }
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

/// The values of the template's placeholders.
pub(super) struct Values<'a> {
    /// `{prompt}`: the whole prompt.
    pub prompt: &'a str,
    /// `{prompt_file}`: the path of the private file holding the prompt.
    pub prompt_file: &'a str,
    /// `{agent}`: `orc:worker` or `orc:reviewer`.
    pub agent: &'a str,
    /// `{issue}`: the issue number.
    pub issue: &'a str,
    /// `{worktree}`: the worktree's absolute path.
    pub worktree: &'a str,
}

/// Fill the placeholders inside each word, in one pass: a value is never
/// scanned again, so a prompt that contains `{issue}` stays as written.
/// Other braces are kept as they are. Returns the words and whether any of
/// them held `{prompt}` or `{prompt_file}`.
pub(super) fn fill(words: &[String], values: &Values<'_>) -> (Vec<String>, bool) {
    let table = [
        ("{prompt_file}", values.prompt_file),
        ("{prompt}", values.prompt),
        ("{agent}", values.agent),
        ("{issue}", values.issue),
        ("{worktree}", values.worktree),
    ];
    let mut used_prompt = false;
    let filled = words
        .iter()
        .map(|word| {
            let mut out = String::with_capacity(word.len());
            let mut rest = word.as_str();
            while let Some(at) = rest.find('{') {
                out.push_str(&rest[..at]);
                rest = &rest[at..];
                match table.iter().find(|(name, _)| rest.starts_with(name)) {
                    Some((name, value)) => {
                        used_prompt |= *name == "{prompt}" || *name == "{prompt_file}";
                        out.push_str(value);
                        rest = &rest[name.len()..];
                    }
                    None => {
                        out.push('{');
                        rest = &rest[1..];
                    }
                }
            }
            out.push_str(rest);
            out
        })
        .collect();
    (filled, used_prompt)
}
