//! What orc tells an agent, and what it reads back from the agent's output.

use std::fmt::Write as _;
use std::path::Path;

use crate::context::TASK_FILE;
use crate::exit;
use crate::ids::{Issue, Kind};

/// The prompt a worker gets when the user gives none: where its task is,
/// how to report phases, how to honour signals and how to finish. For a
/// resume, it points at the checkpoint and says why the worker restarts.
pub fn default_prompt(
    kind: Kind,
    issue: Issue,
    checkpoint: Option<&Path>,
    resume_reason: Option<&str>,
) -> String {
    let mut p = String::new();
    // Writing to a String cannot fail; the results are ignored for that reason.
    match kind {
        Kind::Worker => {
            let _ = writeln!(
                p,
                "You are the orc worker for issue #{issue}, in your own git worktree (the \
                 current directory) on the issue's branch."
            );
        }
        Kind::Reviewer => {
            let _ = writeln!(
                p,
                "You are the orc reviewer for issue #{issue}, in the worker's git worktree (the \
                 current directory). Review the change on this branch against its base. Do not \
                 edit, commit or push anything here."
            );
        }
    }
    if checkpoint.is_some() || resume_reason.is_some() {
        let _ = writeln!(p, "\nThis run resumes earlier work on the issue.");
        if let Some(reason) = resume_reason {
            let _ = writeln!(p, "Reason for the resume: {reason}");
        }
        match checkpoint {
            Some(path) => {
                let _ = writeln!(
                    p,
                    "Read the checkpoint {} first: it names the phase reached, what is done \
                     and what comes next. Continue from there; do not redo finished work.",
                    path.display()
                );
            }
            None => {
                let _ = writeln!(
                    p,
                    "There is no checkpoint: read `git log` and `git status` in the worktree \
                     to see what is done. Continue from there; do not redo finished work."
                );
            }
        }
    }
    let _ = writeln!(
        p,
        "\n1. Read {TASK_FILE} at the root of the worktree: the issue, repository, base branch, \
         title, labels, body and comments. Follow the target repository's CLAUDE.md (and \
         AGENTS.md if present)."
    );
    let _ = writeln!(
        p,
        "2. Before each phase run `orc-state RUNNING <phase>` (e.g. `orc-state RUNNING \
         implement`); while you wait on something outside, run `orc-state WAITING <what>` \
         (e.g. `orc-state WAITING ci`)."
    );
    match kind {
        Kind::Worker => {
            let _ = writeln!(
                p,
                "3. If `orc-state` exits with status 3, a signal is pending: stop cleanly at \
                 once. On TERM: commit what is worth keeping, then `orc-notify cancelled \
                 \"<why>\"`. On SUSPEND: commit, then `orc-state checkpoint --phase <phase> \
                 --done \"<what is done>\" --next \"<what comes next>\"`, then `orc-notify \
                 suspended \"<phase>\"`. Then end your turn."
            );
            let _ = writeln!(
                p,
                "4. Commit your work on this branch as you go; never stop with uncommitted \
                 changes."
            );
            let _ = writeln!(
                p,
                "5. Finish with exactly one `orc-notify RESULT \"DETAIL\"`, RESULT one of: \
                 merged, ci-passed, failed, cancelled, suspended, throttled (a usage or rate \
                 limit stopped you). Nothing after it."
            );
        }
        Kind::Reviewer => {
            let _ = writeln!(
                p,
                "3. If `orc-state` exits with status 3, a signal is pending: stop at once with \
                 `orc-notify failed \"stopped by <signal>\"`."
            );
            let _ = writeln!(
                p,
                "4. Finish with exactly one `orc-notify RESULT \"DETAIL\"`, RESULT one of: \
                 approved, changes-requested (DETAIL says what must change), failed. Nothing \
                 after it."
            );
        }
    }
    p
}

/// Whether an agent that exited with `exit_code` (None: killed by a signal)
/// and printed `output_tail` last stopped on a usage or rate limit, so its
/// work should be retried later rather than counted as a failure.
///
/// Exit 75 (EX_TEMPFAIL) always counts. A clean exit never does: a worker
/// whose issue is about rate limiting talks about them. Only the last lines
/// are read, and in Claude's stream-json the model's own messages and tool
/// results are skipped, for the same reason; a `result` event counts only
/// when it is an error.
pub fn looks_throttled(exit_code: Option<i32>, output_tail: &str) -> bool {
    match exit_code {
        Some(code) if code == i32::from(exit::TEMPFAIL) => return true,
        Some(0) => return false,
        _ => {}
    }
    agent_lines(output_tail)
        .rev()
        .take(10)
        .filter(|line| !is_model_text(line))
        .any(|line| limit_message(&line.to_lowercase()))
}

/// The non-empty lines of a worker's log that are not orc's own: the
/// tools' `[<time>] orc-<tool>: …` lines carry pids, paths and phases,
/// never an agent's words (a shim pid of 429 is not a rate limit).
pub(super) fn agent_lines(log: &str) -> impl DoubleEndedIterator<Item = &str> {
    log.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !is_orc_line(line))
}

/// `[2026-12-05T02:14:29.429Z] orc-shim: started …`
fn is_orc_line(line: &str) -> bool {
    let Some((stamp, rest)) = line.split_once("] ") else {
        return false;
    };
    let Some((who, _)) = rest.split_once(": ") else {
        return false;
    };
    stamp.starts_with('[')
        && !stamp.contains(' ')
        && who
            .strip_prefix("orc-")
            .is_some_and(|tool| !tool.is_empty() && tool.bytes().all(|b| b.is_ascii_lowercase()))
}

/// A stream-json event that carries model or tool text rather than the CLI's
/// own words.
fn is_model_text(line: &str) -> bool {
    if !line.starts_with('{') {
        return false;
    }
    let Ok(event) = serde_json::from_str::<serde_json::Value>(line) else {
        return false;
    };
    match event.get("type").and_then(|t| t.as_str()) {
        Some("assistant" | "user") => true,
        Some("result") => event.get("is_error").and_then(|e| e.as_bool()) != Some(true),
        _ => false,
    }
}

/// The phrases agent CLIs print when a limit stops them (lower-cased line).
fn limit_message(line: &str) -> bool {
    const PHRASES: &[&str] = &[
        "rate limit",
        "rate-limit",
        "rate_limit",
        "ratelimit",
        "usage limit",
        "too many requests",
        "quota exceeded",
        "exceeded your current quota",
        "resource_exhausted",
        "hit your limit",
    ];
    PHRASES.iter().any(|p| line.contains(p))
        // Claude: "5-hour limit reached ∙ resets 3pm".
        || (line.contains("limit reached") && line.contains("reset"))
        || has_status_429(line)
}

/// `429` as a word of its own (an HTTP status), not part of a longer number,
/// a decimal or an id such as a session UUID.
fn has_status_429(line: &str) -> bool {
    let bytes = line.as_bytes();
    line.match_indices("429").any(|(at, _)| {
        let before = at.checked_sub(1).and_then(|i| bytes.get(i));
        let after = bytes.get(at + 3);
        !before.is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'.')
            && !after.is_some_and(u8::is_ascii_alphanumeric)
    })
}
