use std::path::Path;

use super::session::uuid_v4;
use super::*;

const SID: &str = "0b9e4c2a-5d1f-4e3a-9c7b-2f6d8e1a4b3c";

fn spec(kind: Kind, prompt: &str) -> Spec {
    Spec {
        kind,
        issue: Issue::from(42),
        worktree: PathBuf::from("/repo/.worktrees/issue/42-fix"),
        prompt: prompt.to_string(),
        prompt_file: None,
        session_id: Some(SID.to_string()),
        resume: false,
        custom_template: None,
        plugin_dir: None,
    }
}

fn argv(agent: AgentKind, mode: Mode, spec: &Spec) -> Vec<String> {
    let launch = command(agent, mode, spec).unwrap();
    std::iter::once(launch.program).chain(launch.args).collect()
}

fn words(list: &[&str]) -> Vec<String> {
    list.iter().map(|w| w.to_string()).collect()
}

#[test]
fn agent_names_round_trip() {
    for agent in AgentKind::ALL {
        assert_eq!(AgentKind::parse(agent.as_str()).unwrap(), agent);
    }
    let err = AgentKind::parse("cursor").unwrap_err();
    assert_eq!(err.code(), 2);
    assert_eq!(
        err.hint_text(),
        Some("agents are: claude, codex, opencode, gemini, custom")
    );
}

#[test]
fn claude_headless_worker() {
    let s = spec(Kind::Worker, "do it");
    assert_eq!(
        argv(AgentKind::Claude, Mode::Headless, &s),
        words(&[
            "claude",
            "-p",
            "--output-format",
            "stream-json",
            "--verbose",
            "--agent",
            "orc:worker",
            "--allowedTools",
            "Bash,Read,Edit,Write,Glob,Grep",
            "--permission-mode",
            "acceptEdits",
            "--session-id",
            SID,
            "do it",
        ])
    );
}

#[test]
fn claude_loads_the_plugin_when_its_root_is_known() {
    let mut s = spec(Kind::Worker, "-x do it");
    s.plugin_dir = Some(PathBuf::from("/opt/orc"));
    let args = argv(AgentKind::Claude, Mode::Headless, &s);
    let at = args.iter().position(|a| a == "--plugin-dir").unwrap();
    assert_eq!(args[at + 1], "/opt/orc");
    assert_eq!(args[at - 1], "orc:worker");
    // A prompt that looks like a flag stays an operand.
    assert_eq!(args[args.len() - 2..], words(&["--", "-x do it"]));
}

#[test]
fn claude_reviewer_reads_only() {
    let s = spec(Kind::Reviewer, "review");
    let args = argv(AgentKind::Claude, Mode::Headless, &s);
    let at = args.iter().position(|a| a == "--agent").unwrap();
    assert_eq!(args[at + 1], "orc:reviewer");
    let at = args.iter().position(|a| a == "--allowedTools").unwrap();
    assert_eq!(args[at + 1], "Bash,Read,Glob,Grep");
}

#[test]
fn claude_interactive_has_no_print_flags() {
    let s = spec(Kind::Worker, "do it");
    assert_eq!(
        argv(AgentKind::Claude, Mode::Interactive, &s),
        words(&[
            "claude",
            "--agent",
            "orc:worker",
            "--allowedTools",
            "Bash,Read,Edit,Write,Glob,Grep",
            "--permission-mode",
            "acceptEdits",
            "--session-id",
            SID,
            "do it",
        ])
    );
}

#[test]
fn claude_resume_replaces_session_id() {
    let mut s = spec(Kind::Worker, "go on");
    s.resume = true;
    for mode in [Mode::Headless, Mode::Interactive] {
        let args = argv(AgentKind::Claude, mode, &s);
        assert!(!args.contains(&"--session-id".to_string()));
        assert_eq!(args[args.len() - 3..], words(&["--resume", SID, "go on"]));
    }
    s.session_id = None;
    let err = command(AgentKind::Claude, Mode::Headless, &s).unwrap_err();
    assert_eq!(err.code(), 2);
}

#[test]
fn claude_without_session_keeps_prompt_out_of_the_tool_list() {
    let mut s = spec(Kind::Worker, "do it");
    s.session_id = None;
    let args = argv(AgentKind::Claude, Mode::Headless, &s);
    let at = args.iter().position(|a| a == "--allowedTools").unwrap();
    assert!(args[at + 2].starts_with("--"), "{args:?}");
    assert_eq!(args.last().map(String::as_str), Some("do it"));
}

#[test]
fn claude_never_bypasses_permissions_or_backgrounds() {
    for kind in Kind::ALL {
        for mode in [Mode::Headless, Mode::Interactive] {
            for resume in [false, true] {
                let mut s = spec(kind, "x");
                s.resume = resume;
                let args = argv(AgentKind::Claude, mode, &s);
                for bad in ["--dangerously-skip-permissions", "--bg", "--background"] {
                    assert!(!args.contains(&bad.to_string()), "{args:?}");
                }
            }
        }
    }
}

#[test]
fn bad_session_id_is_refused() {
    let mut s = spec(Kind::Worker, "x");
    s.session_id = Some("--dangerously-skip-permissions".into());
    assert_eq!(
        command(AgentKind::Claude, Mode::Headless, &s)
            .unwrap_err()
            .code(),
        2
    );
}

#[test]
fn other_agents_take_the_prompt_as_one_argument() {
    let prompt = "fix it; rm -rf / $(id) \"q\"\nline 2";
    let s = spec(Kind::Worker, prompt);
    let codex = [
        "--sandbox",
        "danger-full-access",
        "--config",
        "allow_login_shell=false",
    ];
    let gemini = ["--skip-trust", "--approval-mode", "yolo"];
    let cases = [
        (
            AgentKind::Codex,
            Mode::Headless,
            [&["codex", "exec"][..], &codex].concat(),
        ),
        (
            AgentKind::Codex,
            Mode::Interactive,
            [
                &["codex"][..],
                &codex,
                &[
                    "--config",
                    r#"projects={"/repo/.worktrees/issue/42-fix"={trust_level="trusted"}}"#,
                ],
            ]
            .concat(),
        ),
        (
            AgentKind::Opencode,
            Mode::Headless,
            vec!["opencode", "run", "--auto"],
        ),
        (
            AgentKind::Opencode,
            Mode::Interactive,
            vec!["opencode", "--auto", "--prompt"],
        ),
        (
            AgentKind::Gemini,
            Mode::Headless,
            [&["gemini"][..], &gemini, &["-p"]].concat(),
        ),
        (
            AgentKind::Gemini,
            Mode::Interactive,
            [&["gemini"][..], &gemini, &["-i"]].concat(),
        ),
    ];
    for (agent, mode, mut want) in cases {
        want.push(prompt);
        assert_eq!(argv(agent, mode, &s), words(&want), "{agent} {mode:?}");
    }
}

#[test]
fn interactive_codex_trusts_the_worktree_as_toml_for_one_session() {
    let mut s = spec(Kind::Worker, "go");
    s.worktree = PathBuf::from("/tmp/a \"b\" \\c\td");
    let args = argv(AgentKind::Codex, Mode::Interactive, &s);
    let at = args.len() - 2;
    assert_eq!(
        args[at],
        r#"projects={"/tmp/a \"b\" \\c\u0009d"={trust_level="trusted"}}"#
    );
    assert_eq!(args[at - 1], "--config");
    // Headless `codex exec` asks for no trust.
    let headless = argv(AgentKind::Codex, Mode::Headless, &s);
    assert!(!headless.iter().any(|w| w.starts_with("projects=")));
}

#[test]
fn a_prompt_starting_with_a_dash_is_not_a_flag() {
    let s = spec(Kind::Worker, "- fix the bug");
    let tail = |agent, mode| {
        let args = argv(agent, mode, &s);
        args[args.len() - 2..].to_vec()
    };
    assert_eq!(
        tail(AgentKind::Claude, Mode::Headless),
        words(&["--", "- fix the bug"])
    );
    assert_eq!(
        tail(AgentKind::Codex, Mode::Headless),
        words(&["--", "- fix the bug"])
    );
    assert_eq!(
        argv(AgentKind::Gemini, Mode::Headless, &s),
        words(&[
            "gemini",
            "--skip-trust",
            "--approval-mode",
            "yolo",
            "--prompt=- fix the bug"
        ])
    );
    assert_eq!(
        argv(AgentKind::Opencode, Mode::Interactive, &s),
        words(&["opencode", "--auto", "--prompt=- fix the bug"])
    );
}

#[test]
fn splitter_follows_shell_quoting_without_expansion() {
    let cases: &[(&str, &[&str])] = &[
        ("a b\tc\nd", &["a", "b", "c", "d"]),
        ("  lead  trail  ", &["lead", "trail"]),
        ("'a b' \"c d\" e\\ f", &["a b", "c d", "e f"]),
        ("x'y'\"z\"", &["xyz"]),
        ("'' \"\" a", &["", "", "a"]),
        (
            "'$(id)' $(id) `id` $HOME ~ *.rs #c",
            &["$(id)", "$(id)", "`id`", "$HOME", "~", "*.rs", "#c"],
        ),
        ("\"a \\\" \\\\ \\$ \\` \\n\"", &["a \" \\ $ ` \\n"]),
        ("'it''s' 'a\\b'", &["its", "a\\b"]),
        ("\\'q\\\"", &["'q\""]),
        ("a\\\nb \"c\\\nd\"", &["ab", "cd"]),
        ("", &[]),
    ];
    for (text, want) in cases {
        assert_eq!(split_words(text).unwrap(), words(want), "{text:?}");
    }
    for bad in ["'open", "\"open", "a \"b\\\"", "trailing\\", "x 'y\"z"] {
        assert_eq!(split_words(bad).unwrap_err().code(), 2, "{bad:?}");
    }
}

#[test]
fn custom_fills_placeholders_inside_words() {
    let mut s = spec(Kind::Reviewer, "p");
    s.custom_template =
        Some("my-agent --as={agent} --issue '{issue}' -C \"{worktree}\" -m {prompt} {x}".into());
    assert_eq!(
        argv(AgentKind::Custom, Mode::Headless, &s),
        words(&[
            "my-agent",
            "--as=orc:reviewer",
            "--issue",
            "42",
            "-C",
            "/repo/.worktrees/issue/42-fix",
            "-m",
            "p",
            "{x}",
        ])
    );
}

#[test]
fn custom_keeps_a_hostile_prompt_one_argument() {
    let hostile = "a b 'c' \"d\" $(rm -rf ~) `id` ${HOME} \\ {issue} {prompt}\nnext; && |";
    let mut s = spec(Kind::Worker, hostile);
    s.custom_template = Some("agent --task={prompt} --then {prompt}".into());
    let launch = command(AgentKind::Custom, Mode::Interactive, &s).unwrap();
    assert_eq!(launch.program, "agent");
    assert_eq!(
        launch.args,
        vec![format!("--task={hostile}"), "--then".into(), hostile.into()]
    );
}

#[test]
fn custom_without_prompt_placeholder_appends_it() {
    let mut s = spec(Kind::Worker, "the task");
    s.custom_template = Some("aider --yes".into());
    assert_eq!(
        argv(AgentKind::Custom, Mode::Headless, &s),
        words(&["aider", "--yes", "the task"])
    );
}

#[test]
fn custom_needs_a_template() {
    for template in [None, Some(""), Some("  \n"), Some("\\\n")] {
        let mut s = spec(Kind::Worker, "x");
        s.custom_template = template.map(String::from);
        let err = command(AgentKind::Custom, Mode::Headless, &s).unwrap_err();
        assert_eq!(err.code(), 2, "{template:?}");
        if template.is_none_or(|t| t.trim().is_empty()) {
            assert!(err.hint_text().unwrap().contains("set ORC_AGENT_CMD"));
        }
    }
    let mut s = spec(Kind::Worker, "x");
    s.custom_template = Some("'' {prompt}".into());
    assert_eq!(
        command(AgentKind::Custom, Mode::Headless, &s)
            .unwrap_err()
            .code(),
        2
    );
    s.custom_template = Some("agent 'unbalanced".into());
    assert_eq!(
        command(AgentKind::Custom, Mode::Headless, &s)
            .unwrap_err()
            .code(),
        2
    );
}

#[test]
fn scrub_removes_session_markers_and_keeps_user_settings() {
    let removed = [
        "CLAUDECODE",
        "CLAUDE_CODE_SESSION_ID",
        "CLAUDE_CODE_LAUNCHED_BY_SESSION_IDS",
        "CLAUDE_CODE_CHILD_NOTES_DIR",
        "CLAUDE_CODE_CHILD_SESSION",
        "CLAUDE_CODE_SESSION_ATTENDED",
        "CLAUDE_CODE_CHROME_MCP_ORG_DENIED",
        "CLAUDE_CODE_EVAL_INTERVIEW_SESSION",
        "CLAUDE_CODE_BRIDGE_SESSION_ID",
        "CLAUDE_CODE_HOST_WORKTREE",
        "CLAUDE_CODE_HOST_WORKTREE_FENCE",
        "CLAUDE_CODE_PLUGIN_DIRS",
        "CLAUDE_CODE_ATTRIBUTION_PROJECT",
        "CLAUDE_CODE_SKIP_PLUGIN_LOCAL_MCP_SERVERS",
        "CLAUDE_CODE_SKIP_PLUGIN_MCP_BUNDLES",
        "CLAUDE_CODE_PLUGIN_REMOTE_MCP_REACHABLE_HOSTS_HINT",
        "CLAUDE_BG_JOB",
        "CLAUDE_BG_ANYTHING_ELSE",
        "CLAUDE_CODE_ENTRYPOINT",
        "CLAUDE_CODE_EXECPATH",
        "CLAUDE_CODE_MESSAGING_SOCKET",
        "CLAUDE_CODE_MESSAGING_TOKEN",
        "CLAUDE_PID",
        "CLAUDE_EFFORT",
        "AI_AGENT",
        "TRACEPARENT",
        "CLAUDE_ENV_FILE",
        "CLAUDE_PLUGIN_ROOT",
        "CLAUDE_PLUGIN_DATA",
        "CLAUDE_PROJECT_DIR",
        "CLAUDE_JOB_DIR",
        "CLAUDE_CODE_SESSION_ACCESS_TOKEN",
        "ORC_SESSION",
        "ORC_ISSUE",
        "ORC_KIND",
        "ORC_STATE_DIR",
        "ORC_ENV",
    ];
    let kept = [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "PATH",
        "HOME",
        "CLAUDE_CODE_USE_BEDROCK",
        "CLAUDE_CODE_USE_VERTEX",
        "CLAUDE_CODE_FORCE_SESSION_PERSISTENCE",
        "CLAUDE_CONFIG_DIR",
        "HTTPS_PROXY",
        "ORC_MAX_WORKERS",
        "ORC_AGENT_CMD",
        "CLAUDECODE_X",
    ];
    let env: Vec<(String, String)> = removed
        .iter()
        .chain(kept.iter())
        .map(|n| (n.to_string(), "1".to_string()))
        .collect();
    let names: Vec<String> = scrub(env).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, words(&kept));
    for name in removed {
        assert!(is_scrubbed(name), "{name}");
    }
}

#[test]
fn session_ids_are_uuid_v4() {
    let a = new_session_id().unwrap();
    let b = new_session_id().unwrap();
    assert_ne!(a, b);
    for id in [&a, &b] {
        assert!(is_uuid(id), "{id}");
        assert_eq!(id.len(), 36);
        assert_eq!(&id[14..15], "4");
        assert!("89ab".contains(&id[19..20]), "{id}");
        assert_eq!(id.to_lowercase(), *id);
    }
    assert_eq!(uuid_v4([0xff; 16]), "ffffffff-ffff-4fff-bfff-ffffffffffff");
    assert_eq!(uuid_v4([0; 16]), "00000000-0000-4000-8000-000000000000");
    for bad in [
        "",
        "not-a-uuid",
        "0b9e4c2a5d1f4e3a9c7b2f6d8e1a4b3c",
        "0b9e4c2a-5d1f-4e3a-9c7b-2f6d8e1a4b3g",
    ] {
        assert!(!is_uuid(bad), "{bad}");
    }
}

#[test]
fn throttle_detection() {
    assert!(looks_throttled(Some(75), ""));
    assert!(!looks_throttled(Some(1), "error: something broke"));
    assert!(!looks_throttled(None, ""));
    for tail in [
        "Error: Rate limit exceeded",
        "API Error: 429 {\"type\":\"error\"}",
        "HTTP 429 Too Many Requests",
        "Claude AI usage limit reached|1767225600",
        "5-hour limit reached ∙ resets 3pm",
        "You've hit your limit · resets 9am (UTC)",
        "ERROR: You've hit your usage limit.",
        "[API Error: Quota exceeded for quota metric]\n    at retry (x.js:1)",
        r#"{"type":"result","subtype":"success","is_error":true,"result":"Claude AI usage limit reached|1767225600"}"#,
    ] {
        assert!(looks_throttled(Some(1), tail), "{tail}");
    }
    // A clean exit, the model's own words, and numbers that contain 429.
    assert!(!looks_throttled(Some(0), "Added a rate limit to the API"));
    let chatter = concat!(
        r#"{"type":"assistant","message":{"content":[{"type":"text","text":"rate limit fixed"}]}}"#,
        "\n",
        r#"{"type":"result","is_error":false,"result":"implemented the usage limit"}"#,
        "\n",
    );
    assert!(!looks_throttled(Some(1), chatter));
    assert!(!looks_throttled(
        Some(1),
        "took 4291 ms, cost 0.429, id a429b, session 4c1a-4290"
    ));
    // orc's own lines in the log are not the agent's words: a shim or an
    // agent whose pid is 429 is not a rate limit.
    let ours = concat!(
        "[2026-12-05T02:14:29.101Z] orc-shim: started fake-agent (pid 429, nice 10); ",
        "contained in cgroup /sys/fs/cgroup/orc-worker-7-429\n",
        "[2026-12-05T02:14:29.311Z] orc-state: RUNNING phase1: rate limit the API\n",
    );
    assert!(!looks_throttled(Some(137), ours));
    let theirs = format!("{ours}Error: Rate limit exceeded\n");
    assert!(looks_throttled(Some(1), &theirs));
}

#[test]
fn orc_s_own_log_lines_are_not_a_permission_prompt() {
    let ours = "[2026-12-05T02:14:29.311Z] orc-state: WAITING Do you want to proceed?\n";
    assert_eq!(blocked_reason(ours), None);
    let theirs = format!("{ours}Do you want to proceed?\n");
    assert!(blocked_reason(&theirs).is_some());
}

#[test]
fn background_id_is_parsed() {
    let out = "Starting background service…\n\
               backgrounded · 46be24c7 · fix-login\n  claude attach 46be24c7\n";
    assert_eq!(parse_background_id(out).as_deref(), Some("46be24c7"));
    let coloured = "\u{1b}[32mbackgrounded\u{1b}[0m · 46be24c7 · x";
    assert_eq!(parse_background_id(coloured).as_deref(), Some("46be24c7"));
    assert_eq!(parse_background_id("Workspace not trusted."), None);
    assert_eq!(parse_background_id("backgrounded · oops · x"), None);
}

#[test]
fn default_prompt_says_how_to_work_and_finish() {
    let p = default_prompt(Kind::Worker, Issue::from(7), None, None);
    for want in [
        "#7",
        ".orc-task.md",
        "CLAUDE.md",
        "orc-state RUNNING",
        "orc-state WAITING",
        "status 3",
        "orc-notify cancelled",
        "orc-state checkpoint --phase",
        "orc-notify suspended",
        "Commit",
        "merged, ci-passed, failed, cancelled, suspended, throttled",
    ] {
        assert!(p.contains(want), "missing {want:?} in\n{p}");
    }
    assert!(!p.contains("resumes"));

    let r = default_prompt(Kind::Reviewer, Issue::from(7), None, None);
    assert!(r.contains("approved, changes-requested"));
    assert!(!r.contains("merged"));

    let cp = Path::new("/state/procs/worker-7/checkpoint.json");
    let p = default_prompt(Kind::Worker, Issue::from(7), Some(cp), Some("throttled"));
    assert!(p.contains("resumes"));
    assert!(p.contains(&cp.display().to_string()));
    assert!(p.contains("Reason for the resume: throttled"));
}

#[test]
fn render_quotes_for_display() {
    let launch = Launch {
        program: "claude".into(),
        args: words(&["-p", "it's $(x)"]),
        stdin_prompt: false,
    };
    assert_eq!(launch.render(), "claude -p 'it'\\''s $(x)'");
}

fn with_file(kind: Kind, prompt: &str) -> Spec {
    Spec {
        prompt_file: Some(PathBuf::from("/state/procs/worker-42/prompt")),
        ..spec(kind, prompt)
    }
}

#[test]
fn with_a_prompt_file_the_prompt_is_never_an_argument() {
    let secret = "the secret plan";
    // Headless Claude reads it on standard input: no prompt operand at all.
    let launch = command(
        AgentKind::Claude,
        Mode::Headless,
        &with_file(Kind::Worker, secret),
    )
    .unwrap();
    assert!(launch.stdin_prompt);
    assert!(
        launch.args.iter().all(|a| !a.contains("secret")),
        "{:?}",
        launch.args
    );
    assert_eq!(launch.args.last().map(String::as_str), Some(SID));
    // Interactive agents and the other CLIs get a line naming the file.
    for (agent, mode) in [
        (AgentKind::Claude, Mode::Interactive),
        (AgentKind::Codex, Mode::Headless),
        (AgentKind::Gemini, Mode::Interactive),
        (AgentKind::Opencode, Mode::Headless),
    ] {
        let launch = command(agent, mode, &with_file(Kind::Worker, secret)).unwrap();
        assert!(!launch.stdin_prompt);
        let argv = launch.args.join(" ");
        assert!(!argv.contains("secret"), "{agent}: {argv}");
        assert!(
            argv.contains("/state/procs/worker-42/prompt"),
            "{agent}: {argv}"
        );
    }
}

#[test]
fn a_custom_agent_gets_the_prompt_where_its_template_asks() {
    let run = |template: &str, mode: Mode| {
        let spec = Spec {
            custom_template: Some(template.to_string()),
            ..with_file(Kind::Worker, "do it")
        };
        command(AgentKind::Custom, mode, &spec).unwrap()
    };
    let l = run("my-agent --file {prompt_file} {issue}", Mode::Headless);
    assert_eq!(
        l.args,
        words(&["--file", "/state/procs/worker-42/prompt", "42"])
    );
    assert!(!l.stdin_prompt);
    let l = run("my-agent --task {prompt}", Mode::Headless);
    assert_eq!(l.args, words(&["--task", "do it"]));
    let l = run("my-agent {issue}", Mode::Headless);
    assert_eq!((l.args, l.stdin_prompt), (words(&["42"]), true));
    let l = run("my-agent {issue}", Mode::Interactive);
    assert!(!l.stdin_prompt);
    assert!(
        l.args[1].contains("/state/procs/worker-42/prompt"),
        "{:?}",
        l.args
    );
    // Without a prompt file, {prompt_file} cannot be filled.
    let spec = Spec {
        custom_template: Some("my-agent {prompt_file}".into()),
        ..spec(Kind::Worker, "x")
    };
    assert!(command(AgentKind::Custom, Mode::Headless, &spec).is_err());
}

#[test]
fn a_scheduled_claude_prompt_goes_on_stdin() {
    let l = orchestrator_command(
        AgentKind::Claude,
        Path::new("/repo"),
        "the secret plan",
        None,
        None,
    )
    .unwrap();
    assert!(l.stdin_prompt);
    assert!(l.args.iter().all(|a| !a.contains("secret")), "{:?}", l.args);
}
