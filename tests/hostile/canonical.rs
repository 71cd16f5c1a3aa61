//! Item 2: input is canonical. orc refuses (never rewrites) issue ids with
//! leading zeros, lower-case state names, and details or titles holding a
//! bidirectional override or isolate or a line or paragraph separator.

use orc_kernel::ids::Kind;
use orc_kernel::record::State;

use crate::common::life::{Life, add_issue};
use crate::common::{TestEnv, assert_fails, run};

/// The characters every detail and title must be refused for.
const HOSTILE: [(char, &str); 6] = [
    ('\u{202E}', "a bidirectional override (U+202E)"),
    ('\u{202A}', "a bidirectional override (U+202A)"),
    ('\u{2066}', "a bidirectional isolate (U+2066)"),
    ('\u{2069}', "a bidirectional isolate (U+2069)"),
    ('\u{2028}', "a line separator (U+2028)"),
    ('\u{2029}', "a paragraph separator (U+2029)"),
];

#[test]
fn leading_zeros_are_refused_by_every_tool() {
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    let before = env.snapshot();
    for (tool, args) in [
        ("orc-spawn", vec!["007"]),
        ("orc-lock", vec!["acquire", "007"]),
        ("orc-signal", vec!["007", "TERM"]),
        ("orc-cleanup", vec!["007"]),
        ("orc-ctl", vec!["term", "007"]),
        ("orc-watch", vec!["007"]),
    ] {
        let out = run(env.cmd(tool).args(&args));
        assert_fails(
            &out,
            2,
            &format!(
                "{tool}: error: issue number has a leading zero (007)\nhint: write it as orc prints it: 7\n"
            ),
        );
        before.assert_same(&env.snapshot());
    }
    // The worker side: ORC_ISSUE is checked like every setting.
    let out = run(env
        .cmd("orc-state")
        .env("ORC_ISSUE", "07")
        .args(["RUNNING", "x"]));
    assert_fails(
        &out,
        2,
        "orc-state: error: invalid ORC_ISSUE=\"07\" set in the environment\nhint: ORC_ISSUE accepts an issue number from 1 to 2147483647\n",
    );
    before.assert_same(&env.snapshot());
}

#[test]
fn state_names_are_upper_case() {
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    let before = env.snapshot();
    for state in ["running", "Waiting"] {
        let out = run(env
            .worker_cmd("orc-state", 7, Kind::Worker)
            .args([state, "x"]));
        assert_fails(
            &out,
            2,
            &format!(
                "orc-state: error: unknown state ({state})\nhint: states are upper case: {}\n",
                state.to_ascii_uppercase()
            ),
        );
        before.assert_same(&env.snapshot());
    }
}

#[test]
fn details_with_direction_or_separator_characters_are_refused() {
    let env = TestEnv::new();
    env.seed_worker(7, Kind::Worker, State::Running);
    let before = env.snapshot();
    for (c, why) in HOSTILE {
        let detail = format!("tests pass{c}sliaf");
        let escaped = format!("tests pass\\u{{{:x}}}sliaf", u32::from(c));
        for (tool, args) in [
            ("orc-state", vec!["RUNNING", detail.as_str()]),
            ("orc-notify", vec!["failed", detail.as_str()]),
            (
                "orc-state",
                vec!["checkpoint", "--phase", "p", "--done", detail.as_str()],
            ),
        ] {
            let out = run(env.worker_cmd(tool, 7, Kind::Worker).args(&args));
            assert_fails(
                &out,
                2,
                &format!("{tool}: error: detail contains {why} ({escaped})\n"),
            );
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(!stderr.contains(c), "the message must not carry {c:?}");
            before.assert_same(&env.snapshot());
        }
    }
}

#[test]
fn titles_with_direction_or_separator_characters_are_refused() {
    let env = Life::new();
    env.session();
    for (n, (c, why)) in HOSTILE.iter().enumerate() {
        let issue = n as u32 + 1;
        add_issue(&env, issue, &format!("Fix{c}gol"), "ok");
        let before = env.snapshot();
        let out = run(env.tool("orc-spawn").arg(issue.to_string()));
        let file = env.repo.join(format!(".orc/issues/{issue}.md"));
        assert_fails(
            &out,
            2,
            &format!(
                "orc-spawn: error: title contains {why} ({}:2)\n",
                file.display()
            ),
        );
        before.assert_same(&env.snapshot());
    }
}
