//! One real worker turn through orc for each agent CLI other than Claude
//! Code (`codex`, `opencode`, `gemini`, at the versions `.ci/run` installs
//! and the README names), each talking to a loopback mock of its model API
//! whose replies are scripted, offline:
//!
//! - codex: the Responses API (tests/support/mock_openai.rs), through a
//!   custom provider in `$CODEX_HOME/config.toml`;
//! - opencode: the Anthropic Messages API (tests/support/mock_anthropic.rs),
//!   through its `anthropic` provider's `baseURL` in
//!   `~/.config/opencode/opencode.json`, with the models.dev fetch, the
//!   default plugins' npm install and the updater turned off;
//! - gemini: the Gemini API (tests/support/mock_gemini.rs), through
//!   `GOOGLE_GEMINI_BASE_URL` with the API-key auth.
//!
//! `orc-spawn 1` with `ORC_AGENT=<cli>` starts the real CLI under the real
//! shim in the issue's git worktree, with orc's own command line
//! (kernel/src/agent/others.rs): once headless, once interactive in a pane
//! of a tmux server of the test's own (killed once the worker reported,
//! since an interactive CLI waits for more input). The scripted model reads its instructions (the
//! prompt file orc points it at, and the task file with the issue's text)
//! with the CLI's shell tool, then runs `orc-state RUNNING
//! phase2:implement`, commits a file and runs `orc-notify ci-passed`, and
//! ends with a text. The test asserts that the mock received the issue's
//! text and orc's prompt, that the commands ran in the worktree (the commit
//! is on the issue's branch, not on main), that `orc-watch` and the record
//! report `ci-passed` (not `crashed`), that the phase reached the session's
//! events, and that no process of the worker is left.
//!
//! Every file a CLI reads or writes lives in the test's own `HOME` (its
//! `CODEX_HOME`, XDG directories and `TMPDIR` inside it). Skipped with one
//! line when a CLI (or, for the interactive turns, tmux) is not on PATH,
//! except under CI (`.ci/run` installs them), where that fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
// Each mock includes the shared server (support/mock_http.rs) itself, so a
// test file needs only the one mock it uses; this one uses three.
#![allow(clippy::duplicate_mod)]

#[path = "support/mock_anthropic.rs"]
mod mock_anthropic;
#[path = "support/mock_gemini.rs"]
mod mock_gemini;
#[path = "support/mock_openai.rs"]
mod mock_openai;
#[path = "support/world.rs"]
mod world;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use serde_json::{Value, json};
use world::{SYSTEM_PATH, World, bin_dir, output_within, run_bounded, wait_until};

/// One CLI at a time: two shared cores.
static SERIAL: Mutex<()> = Mutex::new(());
/// How long any one command may run here.
const LIMIT: Duration = Duration::from_secs(150);
/// The line orc gives a CLI instead of the prompt (kernel/src/agent.rs).
const POINTER: &str = "Your instructions are in the file ";
/// The issue's body, which only the task file holds.
const ISSUE_BODY: &str = "Add a file hello.txt that says hello, in the e2e-agents test.";
/// A line of orc's default prompt, which only the prompt file holds.
const PROMPT_MARK: &str = "You are the orc worker for issue #1,";

/// One step of the scripted worker; each mock has its own `Reply` type,
/// which [`reply!`] makes of it.
enum Step {
    Text(String),
    Bash(String),
}

/// The `Reply` of mock module `$m` for an `Option<Step>`.
macro_rules! reply {
    ($m:ident, $step:expr) => {
        $step.map(|s| match s {
            Step::Text(t) => $m::Reply::Text(t),
            Step::Bash(c) => $m::Reply::Bash(c),
        })
    };
}

/// The scripted worker, the same for every API: read the instructions,
/// report a phase, commit, report `ci-passed`, end. `None` for a request
/// that is not the worker's. No command substitution: gemini refuses it.
fn worker_step(agent: &str, convo: &str, calls: usize) -> Option<Step> {
    let at = convo.find(POINTER)?;
    let rest = &convo[at + POINTER.len()..];
    let prompt_file = &rest[..rest.find(": read it first")?];
    Some(match calls {
        0 => Step::Bash(format!(
            "printf cwd=; pwd; cat '{prompt_file}' .orc-task.md"
        )),
        1 => Step::Bash("orc-state RUNNING phase2:implement".into()),
        2 => Step::Bash(format!(
            "echo hello > hello.txt && git add hello.txt && git commit -q -m '{agent}: say hello'"
        )),
        3 => Step::Bash(format!(
            "orc-notify ci-passed \"{agent}: hello.txt committed\""
        )),
        _ => Step::Text("Reported.".into()),
    })
}

/// How the test reads one API's request bodies.
struct Wire {
    /// The whole request as text.
    convo: fn(&Value) -> String,
    /// The shell commands the model has called so far.
    calls: fn(&Value) -> Vec<String>,
    /// The outputs of the tool calls so far.
    outputs: fn(&Value) -> Vec<String>,
}

/// What the test asks of a running mock, whichever API it serves.
trait Api {
    /// A one-line-per-request account, for failure messages.
    fn transcript(&self) -> String;
    /// Whether the model was asked for its turn after the worker's last
    /// shell command (`orc-notify`), and so ended with its final text.
    fn final_turn(&self) -> bool;
}

/// [`Api`] for a mock's type, given its reader of the shell calls.
macro_rules! api {
    ($mock:ty, $calls:path) => {
        impl Api for $mock {
            fn transcript(&self) -> String {
                // The server's own method, not this trait's.
                (**self).transcript()
            }
            fn final_turn(&self) -> bool {
                (**self)
                    .requests()
                    .iter()
                    .any(|s| $calls(&s.body).len() >= 4)
            }
        }
    };
}

api!(mock_openai::MockOpenAi, mock_openai::shell_calls);
api!(mock_anthropic::MockApi, mock_anthropic::bash_calls);
api!(mock_gemini::MockGemini, mock_gemini::shell_calls);

/// What one worker turn left.
struct Turn {
    worktree: String,
    watch: String,
    done: bool,
    context: String,
}

/// A world with issue 1 and the CLI's own directories inside its HOME.
fn world() -> World {
    let w = World::new();
    w.issue(1, "Say hello", ISSUE_BODY);
    for dir in [".config", ".local/share", ".local/state", ".cache", "tmp"] {
        fs::create_dir_all(w.home.join(dir)).unwrap();
    }
    w
}

/// The environment of orc's tools (and so of the worker) for `agent`,
/// with the CLI's directory on PATH after orc's binaries.
fn env(w: &World, agent: &str, program: &Path) -> Vec<(String, String)> {
    let h = |p: &str| w.home.join(p).display().to_string();
    let dir = program.parent().unwrap().display();
    vec![
        ("ORC_AGENT".into(), agent.into()),
        ("ORC_WORKER_TIMEOUT".into(), "120".into()),
        (
            "PATH".into(),
            format!("{}:{dir}:{SYSTEM_PATH}", bin_dir().display()),
        ),
        ("XDG_CONFIG_HOME".into(), h(".config")),
        ("XDG_DATA_HOME".into(), h(".local/share")),
        ("XDG_STATE_HOME".into(), h(".local/state")),
        ("XDG_CACHE_HOME".into(), h(".cache")),
        ("TMPDIR".into(), h("tmp")),
        ("NO_COLOR".into(), "1".into()),
    ]
}

/// Where the worker runs.
#[derive(Clone, Copy, PartialEq)]
enum How {
    /// `ORC_BACKEND=headless`: the CLI's non-interactive form.
    Headless,
    /// `ORC_BACKEND=tmux`: the CLI's interactive form in a pane of a tmux
    /// server of the test's own.
    Tmux,
}

/// What every turn starts from: the CLI, its turn of [`SERIAL`], a world,
/// and for a turn in tmux a server of the test's own.
struct Start {
    program: PathBuf,
    _serial: std::sync::MutexGuard<'static, ()>,
    w: World,
    tmux: Option<Tmux>,
}

/// [`Start`] for `program` (npm `package`) run as `how`; None after one
/// line when the CLI or tmux is missing (a failure under CI).
fn start(program: &str, package: &str, how: How) -> Option<Start> {
    let program = world::npm_cli(program, package)?;
    let serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let w = world();
    let tmux = match how {
        How::Headless => None,
        How::Tmux => Some(Tmux::new(&w)?),
    };
    Some(Start {
        program,
        _serial: serial,
        w,
        tmux,
    })
}

/// A tmux server of the test's own (`ORC_TMUX_SOCKET` under a private
/// `TMUX_TMPDIR`), killed on drop.
struct Tmux {
    env: Vec<(String, String)>,
}

impl Tmux {
    /// The server's settings for `w`, or None after one line when tmux is
    /// not installed (a failure under CI).
    fn new(w: &World) -> Option<Tmux> {
        if world::on_path("tmux").is_none() {
            assert!(
                std::env::var_os("CI").is_none_or(|v| v.is_empty()),
                "tmux is not installed under CI (see .ci/run)"
            );
            eprintln!("skipped: tmux is not installed (apt-get install tmux)");
            return None;
        }
        let dir = w.root.join("tmux");
        fs::create_dir_all(&dir).unwrap();
        Some(Tmux {
            env: vec![
                ("ORC_BACKEND".into(), "tmux".into()),
                ("ORC_TMUX_SOCKET".into(), "orc-e2e-agents".into()),
                ("TMUX_TMPDIR".into(), dir.display().to_string()),
            ],
        })
    }

    /// Kill the server: its panes hang up, and the CLIs in them end.
    fn kill(&self) {
        let _ = Command::new("tmux")
            .args(["-L", "orc-e2e-agents", "kill-server"])
            .env_clear()
            .envs(self.env.iter().cloned())
            .env("PATH", SYSTEM_PATH)
            .output();
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `orc-spawn 1` and `orc-watch 1` with `env`, then wait for the worker's
/// shim and agent to exit (an interactive CLI waits for more input: its
/// tmux server is killed once the worker reported).
fn run_worker(w: &World, env: &[(String, String)], tmux: Option<&Tmux>, api: &dyn Api) -> Turn {
    let mut env = env.to_vec();
    if let Some(t) = tmux {
        env.extend(t.env.iter().cloned());
    }
    let out = output_within(
        {
            let mut c = w.orc("orc-spawn");
            c.arg("1").envs(env.iter().cloned());
            c
        },
        LIMIT,
    );
    let spawn_err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "orc-spawn failed: {spawn_err}");
    let spawned: Value = serde_json::from_slice(&out.stdout).expect("orc-spawn's JSON");
    let worktree = spawned["worktree"].as_str().expect("worktree").to_string();
    let watch = run_bounded(
        {
            let mut c = w.orc("orc-watch");
            c.args(["--timeout", "120", "1"]).envs(env.iter().cloned());
            c
        },
        LIMIT,
    );
    // The model's last turn: its final text, after the result.
    let ended = wait_until(Duration::from_secs(60), || api.final_turn());
    if let Some(t) = tmux {
        t.kill();
    }
    let done = wait_until(Duration::from_secs(60), || w.processes().is_empty());
    let left = w.processes();
    w.end_worker("worker-1");
    let context = format!(
        "spawn: {}\nspawn stderr: {spawn_err}\nwatch: {} {}\nleft running: {left:?}\n\
         final turn seen: {ended}\nmock:\n{}\nworker log:\n{}",
        String::from_utf8_lossy(&out.stdout),
        watch.stdout,
        watch.stderr,
        api.transcript(),
        w.log("worker-1")
    );
    Turn {
        worktree,
        watch: watch.stdout,
        done,
        context,
    }
}

/// The assertions every CLI's turn must pass.
fn check(w: &World, agent: &str, turn: &Turn, bodies: &[Value], unmatched: usize, wire: &Wire) {
    let context = &turn.context;
    // orc-watch and the shim's record: the result the worker reported.
    assert!(
        turn.watch.contains("\"result\":\"ci-passed\"")
            && turn
                .watch
                .contains(&format!("{agent}: hello.txt committed")),
        "{context}"
    );
    assert!(turn.done, "the worker's processes did not exit\n{context}");
    let record = w.record("worker-1").expect("the worker's record");
    assert_eq!(record["agent"], agent, "{record}\n{context}");
    assert_eq!(record["state"], "TERMINATED", "{record}\n{context}");
    assert_eq!(record["result"], "ci-passed", "{record}\n{context}");
    // orc-state ran: the phase is in the session's events.
    let events = w.events("worker-1");
    assert!(events.contains("phase2:implement"), "{events}\n{context}");

    // The mock got orc's pointer line, then (through the shell tool) the
    // prompt file's text and the issue's, read in the worktree.
    let worker: Vec<&Value> = bodies
        .iter()
        .filter(|b| (wire.convo)(b).contains(POINTER))
        .collect();
    let last = worker
        .iter()
        .max_by_key(|b| (wire.calls)(b).len())
        .unwrap_or_else(|| panic!("no request held orc's prompt line\n{context}"));
    assert_eq!((wire.calls)(last).len(), 4, "{context}");
    let outputs = (wire.outputs)(last);
    let first = outputs.first().map_or("", String::as_str);
    assert!(
        first.contains(&format!("cwd={}\n", turn.worktree)),
        "the shell tool did not run in {}:\n{first}\n{context}",
        turn.worktree
    );
    assert!(
        first.contains(ISSUE_BODY) && first.contains(PROMPT_MARK),
        "the task did not reach the model:\n{first}\n{context}"
    );
    assert!(
        worker
            .iter()
            .filter(|b| (wire.calls)(b).is_empty())
            .all(|b| !(wire.convo)(b).contains(ISSUE_BODY)),
        "the issue's text was in a first request, not read from the task file\n{context}"
    );
    assert_eq!(unmatched, 0, "{context}");

    // The commit is on the issue's branch, not on main.
    let branch = record["branch"].as_str().expect("branch");
    let subject = format!("{agent}: say hello");
    assert!(
        w.git(&["log", "--format=%s", branch]).contains(&subject),
        "{context}"
    );
    assert!(!w.git(&["log", "--format=%s", "main"]).contains(&subject));
    assert!(
        w.git(&["show", &format!("{branch}:hello.txt")])
            .contains("hello")
    );
}

#[test]
fn codex_runs_a_real_worker_turn() {
    codex_turn(How::Headless);
}

#[test]
fn codex_runs_a_real_interactive_worker_turn_in_tmux() {
    codex_turn(How::Tmux);
}

/// A worker turn of the real `codex`, headless or in a tmux pane.
fn codex_turn(how: How) {
    let Some(Start {
        program: codex,
        _serial,
        w,
        tmux,
    }) = start("codex", "@openai/codex", how)
    else {
        return;
    };
    let mut api = mock_openai::MockOpenAi::start(
        |body| {
            let names = mock_openai::tool_names(body);
            if !names.iter().any(|n| n == mock_openai::SHELL_TOOL) {
                // The CLI's own request for the session's title.
                return Some(mock_openai::Reply::Text("Say hello".into()));
            }
            let calls = mock_openai::shell_calls(body).len();
            reply!(
                mock_openai,
                worker_step("codex", &mock_openai::conversation_text(body), calls)
            )
        },
        40,
        LIMIT * 2,
    );
    let codex_home = w.home.join(".codex");
    fs::create_dir_all(&codex_home).unwrap();
    fs::write(
        codex_home.join("config.toml"),
        mock_openai::codex_config(&api.api_url(), "mock-model", "ORC_TEST_OPENAI_KEY"),
    )
    .unwrap();
    let mut env = env(&w, "codex", &codex);
    env.extend([
        ("CODEX_HOME".into(), codex_home.display().to_string()),
        ("ORC_TEST_OPENAI_KEY".into(), "dummy".into()),
    ]);
    let turn = run_worker(&w, &env, tmux.as_ref(), &api);
    api.stop();
    let bodies: Vec<Value> = api.requests().into_iter().map(|s| s.body).collect();
    check(
        &w,
        "codex",
        &turn,
        &bodies,
        api.unmatched().len(),
        &Wire {
            convo: mock_openai::conversation_text,
            calls: mock_openai::shell_calls,
            outputs: mock_openai::tool_outputs,
        },
    );
    // codex's own account of where it ran.
    assert!(
        bodies.iter().any(|b| mock_openai::conversation_text(b)
            .contains(&format!("<cwd>{}</cwd>", turn.worktree))),
        "{}",
        turn.context
    );
}

#[test]
fn opencode_runs_a_real_worker_turn() {
    opencode_turn(How::Headless);
}

#[test]
fn opencode_runs_a_real_interactive_worker_turn_in_tmux() {
    opencode_turn(How::Tmux);
}

/// A worker turn of the real `opencode`, headless or in a tmux pane.
fn opencode_turn(how: How) {
    let Some(Start {
        program: opencode,
        _serial,
        w,
        tmux,
    }) = start("opencode", "opencode-ai", how)
    else {
        return;
    };
    let mut api = mock_anthropic::MockApi::start(
        |body| {
            if body["tools"].as_array().is_none_or(Vec::is_empty) {
                // The CLI's own request for the session's title.
                return Some(mock_anthropic::Reply::Text("Say hello".into()));
            }
            let calls = mock_anthropic::bash_calls(body).len();
            reply!(
                mock_anthropic,
                worker_step("opencode", &mock_anthropic::conversation_text(body), calls)
            )
        },
        40,
        LIMIT * 2,
    );
    let config = json!({
        "$schema": "https://opencode.ai/config.json",
        "provider": {"anthropic": {
            "options": {"baseURL": format!("{}/v1", api.base_url()), "apiKey": "dummy"},
            "models": {"mock-model": {"name": "mock-model"}}
        }},
        "model": "anthropic/mock-model",
        "small_model": "anthropic/mock-model",
        "autoupdate": false,
        "share": "disabled"
    });
    let dir = w.home.join(".config/opencode");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("opencode.json"), config.to_string()).unwrap();
    let mut env = env(&w, "opencode", &opencode);
    for var in [
        "OPENCODE_DISABLE_MODELS_FETCH",
        "OPENCODE_DISABLE_DEFAULT_PLUGINS",
        "OPENCODE_DISABLE_AUTOUPDATE",
        "OPENCODE_DISABLE_LSP_DOWNLOAD",
        "OPENCODE_DISABLE_SHARE",
    ] {
        env.push((var.into(), "1".into()));
    }
    let turn = run_worker(&w, &env, tmux.as_ref(), &api);
    api.stop();
    let bodies: Vec<Value> = api.requests().into_iter().map(|s| s.body).collect();
    check(
        &w,
        "opencode",
        &turn,
        &bodies,
        api.unmatched().len(),
        &Wire {
            convo: mock_anthropic::conversation_text,
            calls: mock_anthropic::bash_calls,
            outputs: mock_anthropic::tool_outputs,
        },
    );
}

#[test]
fn gemini_runs_a_real_worker_turn() {
    gemini_turn(How::Headless);
}

#[test]
fn gemini_runs_a_real_interactive_worker_turn_in_tmux() {
    gemini_turn(How::Tmux);
}

/// A worker turn of the real `gemini`, headless or in a tmux pane.
fn gemini_turn(how: How) {
    let Some(Start {
        program: gemini,
        _serial,
        w,
        tmux,
    }) = start("gemini", "@google/gemini-cli", how)
    else {
        return;
    };
    let mut api = mock_gemini::MockGemini::start(
        |body| {
            let names = mock_gemini::tool_names(body);
            if !names.iter().any(|n| n == mock_gemini::SHELL_TOOL) {
                // The CLI's own request for the session's title.
                return Some(mock_gemini::Reply::Text("Say hello".into()));
            }
            let calls = mock_gemini::shell_calls(body).len();
            reply!(
                mock_gemini,
                worker_step("gemini", &mock_gemini::conversation_text(body), calls)
            )
        },
        40,
        LIMIT * 2,
    );
    let dir = w.home.join(".gemini");
    fs::create_dir_all(&dir).unwrap();
    fs::write(
        dir.join("settings.json"),
        mock_gemini::gemini_settings("gemini-mock").to_string(),
    )
    .unwrap();
    let mut env = env(&w, "gemini", &gemini);
    env.extend([
        ("GEMINI_API_KEY".into(), "dummy".into()),
        ("GOOGLE_GEMINI_BASE_URL".into(), api.base_url()),
    ]);
    let turn = run_worker(&w, &env, tmux.as_ref(), &api);
    api.stop();
    let bodies: Vec<Value> = api.requests().into_iter().map(|s| s.body).collect();
    check(
        &w,
        "gemini",
        &turn,
        &bodies,
        api.unmatched().len(),
        &Wire {
            convo: mock_gemini::conversation_text,
            calls: mock_gemini::shell_calls,
            outputs: mock_gemini::tool_outputs,
        },
    );
    // gemini's own account of where it ran, before any tool call.
    let workspace = format!("Workspace Directories:**\n  - {}\n", turn.worktree);
    assert!(
        bodies
            .iter()
            .filter(|b| mock_gemini::shell_calls(b).is_empty())
            .any(|b| mock_gemini::conversation_text(b).contains(&workspace)),
        "{}",
        turn.context
    );
}
