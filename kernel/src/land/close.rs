//! Closing a local issue: `.orc/issues/<N>.md` gets `state: closed`, the
//! time and the commit that merged it, in its front matter. The rest of the
//! file (the body, the comments, the other keys and their order) is kept as
//! written.

/// `text` with its front matter saying closed at `when` by `commit`;
/// `None` when the text has no front matter to edit.
pub fn closed_text(text: &str, when: &str, commit: &str) -> Option<String> {
    let values = [
        ("state", "closed".to_string()),
        ("closed", when.to_string()),
        ("merged", commit.to_string()),
    ];
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.first().map(|l| l.trim_end()) != Some("---") {
        return None;
    }
    let end = lines
        .iter()
        .skip(1)
        .position(|l| l.trim_end() == "---")
        .map(|p| p + 1)?;
    let mut set = [false; 3];
    for line in lines.iter_mut().take(end).skip(1) {
        for (k, (key, value)) in values.iter().enumerate() {
            // A top-level key (not an item of a list or a nested value).
            let is_key = line
                .strip_prefix(key)
                .is_some_and(|rest| rest.trim_start().starts_with(':'));
            if is_key {
                *line = format!("{key}: {value}");
                set[k] = true;
            }
        }
    }
    let missing: Vec<String> = values
        .iter()
        .zip(set)
        .filter(|(_, done)| !done)
        .map(|((key, value), _)| format!("{key}: {value}"))
        .collect();
    lines.splice(end..end, missing);
    let mut out = lines.join("\n");
    if text.ends_with('\n') {
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_time_and_commit_are_set_and_the_rest_kept() {
        let text = "---\ntitle: A\nstate: open\nlabels: [q]\n---\nBody.\n\n## Comment by x\nhi\n";
        let got = closed_text(text, "2026-12-04T17:00:00.000Z", "abc123").unwrap_or_default();
        assert_eq!(
            got,
            "---\ntitle: A\nstate: closed\nlabels: [q]\nclosed: 2026-12-04T17:00:00.000Z\n\
             merged: abc123\n---\nBody.\n\n## Comment by x\nhi\n"
        );
        // Closing twice rewrites, never repeats, the keys.
        let again = closed_text(&got, "T2", "def").unwrap_or_default();
        assert_eq!(again.matches("state:").count(), 1);
        assert!(again.contains("closed: T2\nmerged: def\n"), "{again}");
        assert_eq!(closed_text("no front matter\n", "t", "c"), None);
        assert_eq!(closed_text("---\ntitle: open-ended\n", "t", "c"), None);
    }
}
