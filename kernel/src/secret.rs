//! Credentials recognised by their value, so `orc-ctl env` and orc's logs
//! never show one, whatever variable or line it hides in.
//!
//! A token is masked when a word of the text starts with a known prefix and
//! is long enough to be a credential rather than prose: GitHub tokens
//! (`ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`, `github_pat_`), Anthropic keys
//! (`sk-ant-`), Slack tokens (`xoxa-`, `xoxb-`, `xoxp-`, `xoxr-`, `xoxs-`,
//! `xoxe-`) and AWS access key ids (`AKIA` or `ASIA` and 16 upper-case
//! letters or digits). The prefix is kept and the rest becomes `****`, so a
//! reader still sees which kind of secret was there.

use std::borrow::Cow;

/// The prefixes of credential tokens and the fewest characters that must
/// follow each.
const PREFIXES: &[(&str, usize)] = &[
    ("github_pat_", 16),
    ("ghp_", 16),
    ("gho_", 16),
    ("ghu_", 16),
    ("ghs_", 16),
    ("ghr_", 16),
    ("sk-ant-", 16),
    ("xoxa-", 8),
    ("xoxb-", 8),
    ("xoxp-", 8),
    ("xoxr-", 8),
    ("xoxs-", 8),
    ("xoxe-", 8),
];

/// What replaces a secret.
pub const MASK: &str = "****";

fn token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-')
}

/// How many bytes of `word` (which starts a token) form a secret, if any.
fn secret_len(word: &str) -> Option<usize> {
    let len = word.find(|c: char| !token_char(c)).unwrap_or(word.len());
    let token = &word[..len];
    for (prefix, min) in PREFIXES {
        if token.starts_with(prefix) && token.len() >= prefix.len() + min {
            return Some(len);
        }
    }
    let aws = (token.starts_with("AKIA") || token.starts_with("ASIA"))
        && token.len() == 20
        && token[4..]
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    aws.then_some(len)
}

/// `text` with every credential token masked (borrowed when there is none).
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut out = String::new();
    let mut copied = 0;
    let mut prev_is_token = false;
    for (at, c) in text.char_indices() {
        if at < copied {
            continue;
        }
        if !prev_is_token && let Some(len) = secret_len(&text[at..]) {
            let keep = PREFIXES
                .iter()
                .find(|(p, _)| text[at..].starts_with(p))
                .map_or(4, |(p, _)| p.len());
            out.push_str(&text[copied..at + keep]);
            out.push_str(MASK);
            copied = at + len;
            prev_is_token = true;
            continue;
        }
        prev_is_token = token_char(c);
    }
    if copied == 0 {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_masked_where_they_stand() {
        let gh = format!("ghp_{}", "a1B2".repeat(9));
        let ant = format!("sk-ant-api03-{}", "x".repeat(40));
        let text =
            format!("claude --token {gh} --key={ant} AKIAIOSFODNN7EXAMPLE xoxb-1234-5678-abc");
        assert_eq!(
            redact(&text),
            "claude --token ghp_**** --key=sk-ant-**** AKIA**** xoxb-****"
        );
    }

    #[test]
    fn prose_is_left_alone() {
        for text in [
            "ghp_ is GitHub's prefix",
            "a sk-ant-short",
            "AKIA lower akiaiosfodnn7example",
            "myghp_aaaaaaaaaaaaaaaaaaaaaaaa",
            "",
        ] {
            assert!(matches!(redact(text), Cow::Borrowed(_)), "{text}");
        }
    }
}
