//! The Claude Code plugin: manifest, marketplace, agents, skills, hooks and
//! the `bin/` launchers, checked the way CLAUDE-CODE-FACTS §11 lists.
//!
//! The static checks need nothing but the tree and the built binaries; the
//! rest run the real `claude` CLI with a sandbox `HOME` and no account
//! (skipped with a note only when `claude` is missing and `CI` is unset).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "support/markdown.rs"]
mod markdown;
#[path = "support/world.rs"]
mod world;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::Value;
use world::{World, bin_dir, output_within, plugin_root};

const AGENTS: [&str; 3] = ["orchestrator", "reviewer", "worker"];
const SKILLS: [&str; 6] = ["at", "cron", "ctl", "dispatch", "orchestrate", "setup"];
/// Tools the skills name that other issues deliver; checked once built.
const NOT_YET: [&str; 3] = ["orc-at", "orc-cron", "orc-dispatch"];
const CLAUDE_LIMIT: Duration = Duration::from_secs(90);

fn json(path: &Path) -> Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn manifest() -> Value {
    json(&plugin_root().join(".claude-plugin/plugin.json"))
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

fn is_kebab(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('-')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

#[test]
fn manifest_has_every_field_and_no_unknown_one() {
    let m = manifest();
    assert_eq!(m["name"], "orc");
    assert!(is_kebab(m["name"].as_str().unwrap()));
    assert!(
        is_semver(m["version"].as_str().unwrap()),
        "{}",
        m["version"]
    );
    for key in ["description", "license", "repository", "homepage"] {
        assert!(m[key].as_str().is_some_and(|s| !s.is_empty()), "{key}");
    }
    assert!(m["author"]["name"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(m["keywords"].as_array().is_some_and(|k| !k.is_empty()));
    assert!(m["network"]["hosts"].is_array());
    let known: BTreeSet<&str> = [
        "$schema",
        "name",
        "displayName",
        "version",
        "description",
        "author",
        "homepage",
        "repository",
        "license",
        "keywords",
        "icon",
        "engines",
        "network",
    ]
    .into();
    for key in m.as_object().unwrap().keys() {
        assert!(
            known.contains(key.as_str()),
            "unexpected manifest key {key}"
        );
    }
    // No `agents`/`skills`/`commands` lists: they would replace discovery.
    let icon = plugin_root().join(m["icon"].as_str().unwrap());
    let png = fs::read(&icon).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "icon is a PNG");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert!(w == h && (512..=2048).contains(&w), "icon is {w}x{h}");
    assert!(png.len() < 2 * 1024 * 1024);
}

#[test]
fn marketplace_lists_this_plugin_at_the_same_version() {
    let m = json(&plugin_root().join(".claude-plugin/marketplace.json"));
    assert!(is_kebab(m["name"].as_str().unwrap()));
    assert!(m["owner"]["name"].as_str().is_some_and(|s| !s.is_empty()));
    let plugins = m["plugins"].as_array().unwrap();
    assert_eq!(plugins.len(), 1);
    assert_eq!(plugins[0]["name"], "orc");
    assert_eq!(plugins[0]["source"], "./");
    assert_eq!(plugins[0]["version"], manifest()["version"]);
    // The README tells users how to install it from the marketplace.
    let readme = fs::read_to_string(plugin_root().join("README.md")).unwrap();
    assert!(readme.contains("/plugin install orc --marketplace "));
    assert!(readme.contains(&format!(
        "/plugin install orc@{}",
        m["name"].as_str().unwrap()
    )));
}

#[test]
fn no_files_that_the_loader_flags() {
    let root = plugin_root();
    assert!(
        !root.join("CLAUDE.md").exists(),
        "a root CLAUDE.md is not loaded"
    );
    for dir in [
        "agents",
        "skills",
        "hooks",
        "bin",
        ".claude-plugin",
        "assets",
    ] {
        for entry in walk(&root.join(dir)) {
            let name = entry.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                !["Thumbs.db", ".DS_Store", "desktop.ini"].contains(&name.as_str()),
                "{}",
                entry.display()
            );
        }
    }
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() && !path.is_symlink() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

#[test]
fn bin_holds_only_executable_prefixed_launchers_for_every_tool() {
    let bin = plugin_root().join("bin");
    let mut names = BTreeSet::new();
    for entry in fs::read_dir(&bin).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        assert!(
            name == "orc" || name.starts_with("orc-"),
            "bin/{name} is not prefixed"
        );
        let meta = fs::metadata(entry.path()).unwrap();
        assert!(
            meta.is_file() && meta.permissions().mode() & 0o111 != 0,
            "bin/{name}"
        );
        let head = fs::read(entry.path()).unwrap();
        assert!(
            head.starts_with(b"#!") || head.starts_with(b"\x7fELF"),
            "bin/{name}"
        );
        names.insert(name);
    }
    // Every user-facing tool of the workspace has a launcher (orc-shim is
    // internal: orc-spawn starts it by its full path).
    let cargo = fs::read_to_string(plugin_root().join("Cargo.toml")).unwrap();
    for line in cargo.lines() {
        if let Some(name) = line.strip_prefix("name = \"orc-") {
            let tool = format!("orc-{}", name.trim_end_matches('"'));
            if tool != "orc-shim" && tool != "orc-kernel" {
                assert!(names.contains(&tool), "no launcher bin/{tool}");
            }
        }
    }
    for bare in [
        "ps", "watch", "at", "cron", "lock", "notify", "signal", "cleanup", "spawn", "ctl",
    ] {
        assert!(!names.contains(bare));
    }
}

#[test]
fn hooks_json_names_known_events_and_existing_executables() {
    let h = json(&plugin_root().join("hooks/hooks.json"));
    let events: BTreeSet<&str> = ["PreToolUse", "SessionStart", "Stop"].into();
    let hooks = h["hooks"].as_object().unwrap();
    assert_eq!(
        hooks.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        events
    );
    for (event, groups) in hooks {
        for group in groups.as_array().unwrap() {
            for handler in group["hooks"].as_array().unwrap() {
                assert_eq!(handler["type"], "command", "{event}");
                let command = handler["command"].as_str().unwrap();
                let rel = command
                    .strip_prefix("${CLAUDE_PLUGIN_ROOT}/")
                    .unwrap_or_else(|| panic!("{event}: {command} is not under the plugin root"));
                let target = plugin_root().join(rel);
                let meta = fs::metadata(&target).unwrap();
                assert!(
                    meta.permissions().mode() & 0o111 != 0,
                    "{}",
                    target.display()
                );
                assert!(handler["args"].is_array(), "{event}: exec form");
            }
        }
    }
}

#[test]
fn agents_have_valid_frontmatter() {
    let real_tools: BTreeSet<&str> = ["Bash", "Read", "Edit", "Write", "Glob", "Grep"].into();
    let mut found = BTreeSet::new();
    for entry in fs::read_dir(plugin_root().join("agents"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        let stem = path.file_stem().unwrap().to_string_lossy().to_string();
        let doc = markdown::Doc::read(&path);
        assert_eq!(doc.get("name"), Some(stem.as_str()), "{}", path.display());
        assert!(is_kebab(&stem));
        assert!(
            doc.get("description").is_some_and(|d| d.len() > 40),
            "{stem}"
        );
        for tool in doc.get("tools").unwrap_or("").split(',').map(str::trim) {
            assert!(real_tools.contains(tool), "{stem}: unknown tool {tool:?}");
        }
        for ignored in ["permissionMode", "hooks", "mcpServers", "initialPrompt"] {
            assert!(
                doc.get(ignored).is_none(),
                "{stem}: {ignored} is ignored for plugin agents"
            );
        }
        found.insert(stem);
    }
    assert_eq!(found, AGENTS.iter().map(|s| s.to_string()).collect());
    // The reviewer reads only.
    let reviewer = markdown::Doc::read(&plugin_root().join("agents/reviewer.md"));
    assert!(!reviewer.get("tools").unwrap().contains("Edit"));
    assert!(!reviewer.get("tools").unwrap().contains("Write"));
}

#[test]
fn skills_have_valid_frontmatter() {
    let mut found = BTreeSet::new();
    for entry in fs::read_dir(plugin_root().join("skills"))
        .unwrap()
        .flatten()
    {
        let name = entry.file_name().to_string_lossy().to_string();
        let doc = markdown::Doc::read(&entry.path().join("SKILL.md"));
        let description = doc.get("description").unwrap_or("");
        assert!(
            description.len() > 40 && description.len() <= 1536,
            "{name}"
        );
        assert!(doc.get("argument-hint").is_some(), "{name}: argument-hint");
        let allowed = doc.get("allowed-tools").unwrap_or("");
        assert!(allowed.contains("Bash(orc-"), "{name}: allowed-tools");
        // Every skill starts, stops, builds or schedules something.
        assert_eq!(doc.get("disable-model-invocation"), Some("true"), "{name}");
        assert!(
            doc.body.contains("$ARGUMENTS"),
            "{name}: uses its arguments"
        );
        found.insert(name);
    }
    assert_eq!(found, SKILLS.iter().map(|s| s.to_string()).collect());
}

/// Every markdown file of the plugin (agents and skills).
fn plugin_markdown() -> Vec<PathBuf> {
    let root = plugin_root();
    let mut files: Vec<PathBuf> = walk(&root.join("agents"));
    files.extend(walk(&root.join("skills")));
    files.retain(|p| p.extension().is_some_and(|e| e == "md"));
    files.sort();
    files
}

#[test]
fn markdown_paths_and_agent_names_resolve() {
    let root = plugin_root();
    let agents: BTreeSet<String> = AGENTS.iter().map(|a| format!("orc:{a}")).collect();
    for file in plugin_markdown() {
        let text = fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("${CLAUDE_PLUGIN_ROOT}/") {
            let rest = &text[at + "${CLAUDE_PLUGIN_ROOT}/".len()..];
            let rel: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !"`)\"'".contains(*c))
                .collect();
            assert!(root.join(&rel).exists(), "{}: {rel}", file.display());
        }
        for (at, _) in text.match_indices("orc:") {
            let name: String = text[at..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == ':' || *c == '-')
                .collect();
            let skill = name.trim_start_matches("orc:");
            if skill.is_empty() {
                continue; // prose such as "orc: ready"
            }
            assert!(
                agents.contains(&name) || SKILLS.contains(&skill),
                "{}: {name} names no agent or skill",
                file.display()
            );
        }
    }
    // The kernel starts workers and reviewers as these agents.
    for kind in orc_kernel::ids::Kind::ALL {
        let name = orc_kernel::agent::agent_name(kind);
        assert!(agents.contains(name), "{name}");
    }
}

/// Flags and subcommands a tool accepts, read from its `--help`.
#[derive(Default, Clone)]
struct Help {
    flags: BTreeSet<String>,
    commands: BTreeSet<String>,
    /// Usage is only `TOOL <COMMAND>`: the first word must be a subcommand.
    commands_only: bool,
}

fn help(tool: &Path, sub: Option<&str>) -> Help {
    let mut cmd = Command::new(tool);
    cmd.args(sub).arg("--help");
    let out = output_within(cmd, Duration::from_secs(20));
    assert!(out.status.success(), "{} {sub:?} --help", tool.display());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut h = Help::default();
    let mut section = "";
    for line in text.lines() {
        if !line.starts_with(' ') && line.ends_with(':') {
            section = line;
            continue;
        }
        if let Some(usage) = line.strip_prefix("Usage: ") {
            // `orc-state [STATE]...` has a second usage line: `       orc-state <COMMAND>`.
            let name = usage.split_whitespace().next().unwrap_or("");
            let alternatives = text.contains(&format!("\n       {name} "));
            h.commands_only = usage.trim().ends_with("<COMMAND>") && !alternatives;
        }
        let trimmed = line.trim_start();
        if section == "Commands:" && line.starts_with("  ") && !trimmed.is_empty() {
            let name = trimmed.split_whitespace().next().unwrap_or("");
            if name != "help" && line.len() - trimmed.len() == 2 {
                h.commands.insert(name.to_string());
            }
        }
        if trimmed.starts_with('-') {
            for word in trimmed.split([' ', ',', '=']) {
                if word.starts_with('-') && word.len() > 1 && !word.starts_with("---") {
                    h.flags.insert(word.to_string());
                }
            }
        }
    }
    h
}

/// A word of a command line that stands for a value, not a literal.
fn is_placeholder(word: &str) -> bool {
    word.contains(['<', '$', '{', '"', '\'', '…'])
        || word.contains("...")
        || (word.chars().any(|c| c.is_ascii_uppercase())
            && !word.chars().any(|c| c.is_ascii_lowercase()))
}

#[test]
fn every_orc_invocation_in_the_markdown_uses_flags_the_tools_have() {
    let root = plugin_root();
    let mut calls: Vec<(String, markdown::Invocation)> = Vec::new();
    for file in plugin_markdown() {
        let rel = file.strip_prefix(&root).unwrap().display().to_string();
        let doc = markdown::Doc::read(&file);
        for inv in markdown::invocations(&doc.body) {
            calls.push((rel.clone(), inv));
        }
        for tool in markdown::allowed_tools(doc.get("allowed-tools").unwrap_or("")) {
            assert!(
                root.join("bin").join(&tool).exists(),
                "{rel}: allowed {tool} has no launcher"
            );
        }
    }
    // The hooks' command lines too.
    let hooks = json(&root.join("hooks/hooks.json"));
    for groups in hooks["hooks"].as_object().unwrap().values() {
        for handler in groups
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|g| g["hooks"].as_array().unwrap())
        {
            let tool = handler["command"]
                .as_str()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap();
            let args = handler["args"].as_array().unwrap();
            calls.push((
                "hooks/hooks.json".into(),
                markdown::Invocation {
                    tool: tool.to_string(),
                    words: args
                        .iter()
                        .map(|a| a.as_str().unwrap().to_string())
                        .collect(),
                },
            ));
        }
    }
    assert!(calls.len() > 40, "only {} invocations found", calls.len());

    let mut helps: BTreeMap<(String, Option<String>), Help> = BTreeMap::new();
    let mut checked = BTreeSet::new();
    let mut skipped = BTreeSet::new();
    let setup_script = fs::read_to_string(root.join("bin/orc")).unwrap();
    for (file, inv) in &calls {
        let tool = inv.tool.as_str();
        assert!(
            root.join("bin").join(tool).exists(),
            "{file}: {tool} has no launcher in bin/"
        );
        if tool == "orc-setup" {
            // A mode of the launcher script, not a compiled tool.
            for w in inv.words.iter().filter(|w| w.starts_with('-')) {
                assert!(
                    setup_script.contains(&format!("{w})"))
                        || setup_script.contains(&format!("= {w} ]")),
                    "{file}: orc-setup {w}"
                );
            }
            checked.insert(tool.to_string());
            continue;
        }
        let exe = bin_dir().join(tool);
        if !exe.exists() {
            assert!(
                NOT_YET.contains(&tool),
                "{file}: {tool} is neither built nor expected"
            );
            skipped.insert(tool.to_string());
            continue;
        }
        let mut get = |sub: Option<&str>| -> Help {
            helps
                .entry((tool.to_string(), sub.map(str::to_string)))
                .or_insert_with(|| help(&exe, sub))
                .clone()
        };
        let top = get(None);
        let (commands, commands_only, top_flags) = (top.commands, top.commands_only, top.flags);
        let words = inv.words.iter().map(String::as_str);
        // Which flag set applies: the tool's, a subcommand's, or (for a
        // placeholder verb) any subcommand's.
        let mut flags = top_flags;
        let first = words.clone().find(|w| !w.starts_with('-'));
        if let Some(first) = first.filter(|_| !commands.is_empty()) {
            if commands.contains(first) {
                flags = get(Some(first)).flags;
            } else if is_placeholder(first) {
                for c in &commands {
                    flags.extend(get(Some(c)).flags);
                }
            } else {
                assert!(
                    !commands_only,
                    "{file}: `{tool} {first}`: no such subcommand (has {commands:?})"
                );
            }
        }
        for word in words {
            if word == "--" {
                break;
            }
            if word.starts_with('-') && !is_placeholder(word) && word.len() > 1 {
                let name = word.split('=').next().unwrap();
                assert!(
                    flags.contains(name) || ["--help", "-h", "--version", "-V"].contains(&name),
                    "{file}: `{tool} {}` uses {name}, which `{tool} --help` does not list",
                    inv.words.join(" ")
                );
            }
        }
        checked.insert(tool.to_string());
    }
    eprintln!("checked against --help: {checked:?}");
    if !skipped.is_empty() {
        eprintln!("note: not built yet, so not checked: {skipped:?}");
    }
    for tool in [
        "orc-spawn",
        "orc-watch",
        "orc-ps",
        "orc-ctl",
        "orc-cleanup",
        "orc-state",
        "orc-notify",
        "orc-ci",
        "orc-hook",
        "orc-setup",
    ] {
        assert!(checked.contains(tool), "{tool} was never checked");
    }
    // Each tool of NOT_YET that is built by now is checked like the rest.
    for tool in NOT_YET {
        assert!(
            bin_dir().join(tool).exists() == checked.contains(tool)
                || !calls.iter().any(|(_, i)| i.tool == tool)
        );
    }
}

// ---- The launchers (bin/orc) ----

/// A copy of the plugin's launcher in a scratch root with a minimal
/// Cargo.toml, so build paths can be exercised without touching the tree.
fn scratch_root(w: &World, tools: &[&str]) -> PathBuf {
    let root = w.root.join("plugin");
    fs::create_dir_all(root.join("bin")).unwrap();
    fs::create_dir_all(root.join("bins")).unwrap();
    fs::copy(plugin_root().join("bin/orc"), root.join("bin/orc")).unwrap();
    let mut cargo = String::from("[package]\nname = \"orc\"\n");
    for t in tools {
        std::os::unix::fs::symlink("orc", root.join("bin").join(t)).unwrap();
        cargo.push_str(&format!("\n[[bin]]\nname = \"{t}\"\n"));
    }
    fs::write(root.join("Cargo.toml"), cargo).unwrap();
    fs::write(root.join("Cargo.lock"), "").unwrap();
    fs::write(root.join("bins/x.rs"), "").unwrap();
    root
}

/// A fake `cargo` that "builds" shell scripts into $CARGO_TARGET_DIR/release.
fn fake_cargo(w: &World) -> PathBuf {
    let dir = w.root.join("fakebin");
    fs::create_dir_all(&dir).unwrap();
    let script = "#!/bin/sh\necho \"fake cargo $*\" >&2\nmkdir -p \"$CARGO_TARGET_DIR/release\"\n\
                  for t in orc orc-ps; do printf '#!/bin/sh\\necho \"%s ran: $*\"\\n' \"$t\" \
                  > \"$CARGO_TARGET_DIR/release/$t\"; chmod +x \"$CARGO_TARGET_DIR/release/$t\"; done\n";
    fs::write(dir.join("cargo"), script).unwrap();
    fs::set_permissions(dir.join("cargo"), fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

fn launcher(root: &Path, tool: &str, path: &str) -> Command {
    let mut cmd = Command::new(root.join("bin").join(tool));
    cmd.env_clear()
        .env("PATH", path)
        .env("HOME", "/nonexistent");
    cmd
}

#[test]
fn launcher_runs_the_built_tool_from_orc_bin_dir() {
    let mut cmd = Command::new(plugin_root().join("bin/orc-ps"));
    cmd.env_clear()
        .env("PATH", world::SYSTEM_PATH)
        .env("ORC_BIN_DIR", bin_dir())
        .arg("--version");
    let out = output_within(cmd, Duration::from_secs(20));
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "orc-ps 0.1.0");
}

#[test]
fn launcher_builds_when_missing_then_runs_without_building_again() {
    let w = World::new();
    let root = scratch_root(&w, &["orc-ps"]);
    let path = format!("{}:{}", fake_cargo(&w).display(), world::SYSTEM_PATH);
    let mut cmd = launcher(&root, "orc-ps", &path);
    cmd.args(["a", "b c"]);
    let out = output_within(cmd, Duration::from_secs(20));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), "orc-ps ran: a b c\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fake cargo build --release --locked"), "{err}");
    assert!(root.join("target/release/orc").exists());
    // Fresh now: no second build.
    let out = output_within(launcher(&root, "orc-ps", &path), Duration::from_secs(20));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("fake cargo"));
    // A source newer than the build triggers one.
    std::thread::sleep(Duration::from_millis(1100));
    fs::write(root.join("bins/x.rs"), "// changed\n").unwrap();
    let out = output_within(launcher(&root, "orc-ps", &path), Duration::from_secs(20));
    assert!(String::from_utf8_lossy(&out.stderr).contains("fake cargo"));
}

#[test]
fn launcher_without_cargo_or_for_an_unknown_tool_exits_127() {
    let w = World::new();
    let root = scratch_root(&w, &["orc-ps"]);
    let out = output_within(
        launcher(&root, "orc-ps", "/usr/bin:/bin"),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(127));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("run 'make' in {}", root.display())),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    std::os::unix::fs::symlink("orc", root.join("bin/orc-nope")).unwrap();
    let out = output_within(
        launcher(&root, "orc-nope", "/usr/bin:/bin"),
        Duration::from_secs(20),
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not part of this version"));
}

#[test]
fn setup_hook_writes_the_environment_and_always_exits_0() {
    let w = World::new();
    let data = w.root.join("data");
    let env_file = w.root.join("env.sh");
    // Built: exports and a status marker.
    let mut cmd = Command::new(plugin_root().join("bin/orc-setup"));
    cmd.arg("--hook")
        .env_clear()
        .env("PATH", world::SYSTEM_PATH)
        .env("ORC_BIN_DIR", bin_dir())
        .env("CLAUDE_PLUGIN_DATA", &data)
        .env("CLAUDE_ENV_FILE", &env_file);
    let out = output_within(cmd, Duration::from_secs(20));
    assert!(out.status.success());
    assert!(out.stdout.is_empty(), "a hook's stdout stays empty");
    let exports = fs::read_to_string(&env_file).unwrap();
    assert!(
        exports.contains(&format!("export ORC_ROOT='{}'", plugin_root().display())),
        "{exports}"
    );
    assert!(
        exports.contains(&format!("export ORC_BIN_DIR='{}'", bin_dir().display())),
        "{exports}"
    );
    let status = fs::read_to_string(data.join("setup.status")).unwrap();
    assert!(status.contains("status=ok"), "{status}");
    // The exports are valid shell that sets what they say.
    let check = Command::new("sh")
        .arg("-c")
        .arg(format!(
            ". '{}' && printf %s \"$ORC_ROOT\"",
            env_file.display()
        ))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&check.stdout),
        plugin_root().display().to_string()
    );

    // Not buildable (no cargo, nothing built): fails open, still says where
    // a later build goes.
    let root = scratch_root(&w, &["orc-ps"]);
    std::os::unix::fs::symlink("orc", root.join("bin/orc-setup")).unwrap();
    let env2 = w.root.join("env2.sh");
    let mut cmd = launcher(&root, "orc-setup", "/usr/bin:/bin");
    cmd.arg("--hook")
        .env("CLAUDE_PLUGIN_DATA", &data)
        .env("CLAUDE_ENV_FILE", &env2);
    let out = output_within(cmd, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stdout.is_empty());
    let exports = fs::read_to_string(&env2).unwrap();
    let target = data.join("target");
    assert!(
        exports.contains(&format!("export ORC_TARGET_DIR='{}'", target.display())),
        "{exports}"
    );
    assert!(
        fs::read_to_string(data.join("setup.status"))
            .unwrap()
            .contains("status=failed")
    );
    // The same without --hook reports the failure.
    let mut cmd = launcher(&root, "orc-setup", "/usr/bin:/bin");
    cmd.arg("--check");
    let out = output_within(cmd, Duration::from_secs(20));
    assert_eq!(out.status.code(), Some(1));
}

// ---- With the real claude CLI ----

/// `claude` with a sandbox HOME and no account; the launchers run the test build.
fn claude_cmd(claude: &Path, w: &World) -> Command {
    let mut cmd = Command::new(claude);
    cmd.current_dir(&w.repo)
        .env_clear()
        .env("PATH", world::claude_path(claude))
        .env("HOME", &w.home)
        .env("ORC_BIN_DIR", bin_dir())
        .env("ORC_STATE_DIR", &w.state)
        .env("DISABLE_AUTOUPDATER", "1")
        .env("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1");
    cmd
}

#[test]
fn claude_plugin_validate_strict_passes_without_warnings() {
    let Some(claude) = world::claude() else {
        return;
    };
    let w = World::new();
    let mut cmd = claude_cmd(&claude, &w);
    cmd.args(["plugin", "validate"])
        .arg(plugin_root())
        .arg("--strict");
    let out = output_within(cmd, CLAUDE_LIMIT);
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    let mut cmd = claude_cmd(&claude, &w);
    cmd.args(["plugin", "validate"])
        .arg(plugin_root())
        .arg("--json");
    let out = output_within(cmd, CLAUDE_LIMIT);
    let report: Value = serde_json::from_slice(&out.stdout).expect("validate --json");
    assert_eq!(report["success"], true, "{report}");
    for key in ["errors", "warnings"] {
        assert_eq!(report["manifest"][key], serde_json::json!([]), "{report}");
        for content in report["contents"].as_array().unwrap() {
            assert_eq!(content[key], serde_json::json!([]), "{content}");
        }
    }
    let provides = &report["provides"];
    for skill in SKILLS {
        assert!(
            provides["skills"]
                .to_string()
                .contains(&format!("orc:{skill}")),
            "{provides}"
        );
    }
    for agent in AGENTS {
        assert!(
            provides["agents"]
                .to_string()
                .contains(&format!("orc:{agent}")),
            "{provides}"
        );
    }

    let mut cmd = claude_cmd(&claude, &w);
    cmd.args(["plugin", "validate"]).arg(plugin_root()).args([
        "--profile",
        "directory",
        "--strict",
    ]);
    let out = output_within(cmd, CLAUDE_LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn claude_loads_three_agents_six_skills_and_the_hooks() {
    let Some(claude) = world::claude() else {
        return;
    };
    let w = World::new();
    // Not logged in: the CLI prints its init event, then fails the turn.
    let mut cmd = claude_cmd(&claude, &w);
    cmd.args(["-p", "hi", "--plugin-dir"])
        .arg(plugin_root())
        .args(["--output-format", "stream-json", "--verbose"]);
    let b = world::run_bounded(cmd, CLAUDE_LIMIT);
    assert!(!b.timed_out);
    let init: Value = b
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|e| e["type"] == "system" && e["subtype"] == "init")
        .unwrap_or_else(|| panic!("no system/init event:\n{}\n{}", b.stdout, b.stderr));
    let plugin = init["plugins"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "orc")
        .unwrap_or_else(|| panic!("orc not loaded: {init}"));
    assert_eq!(plugin["source"], "orc@inline");
    assert_eq!(plugin["version"], manifest()["version"]);
    let has = |key: &str, name: &str| {
        init[key]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == name))
    };
    for agent in AGENTS {
        assert!(
            has("agents", &format!("orc:{agent}")),
            "agents: {}",
            init["agents"]
        );
    }
    for skill in SKILLS {
        assert!(
            has("slash_commands", &format!("orc:{skill}")),
            "slash_commands: {}",
            init["slash_commands"]
        );
    }
    // The SessionStart hook ran before the init event and succeeded.
    assert!(
        b.stdout.contains("\"hook_event\":\"SessionStart\""),
        "{}",
        b.stdout
    );

    let mut cmd = claude_cmd(&claude, &w);
    cmd.arg("--plugin-dir")
        .arg(plugin_root())
        .args(["plugin", "list", "--json"]);
    let out = output_within(cmd, CLAUDE_LIMIT);
    let list: Value = serde_json::from_slice(&out.stdout).expect("plugin list --json");
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "orc@inline")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(entry["enabled"], true);
}

#[test]
fn claude_init_only_runs_the_session_start_hook() {
    let Some(claude) = world::claude() else {
        return;
    };
    let w = World::new();
    let mut cmd = claude_cmd(&claude, &w);
    cmd.arg("--init-only")
        .arg("--plugin-dir")
        .arg(plugin_root());
    let out = output_within(cmd, CLAUDE_LIMIT);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let marker = w.home.join(".claude/plugins/data/orc-inline/setup.status");
    let status =
        fs::read_to_string(&marker).unwrap_or_else(|e| panic!("{}: {e}", marker.display()));
    assert!(status.contains("status=ok"), "{status}");
    assert!(
        status.contains(&format!("bin={}", bin_dir().display())),
        "{status}"
    );
}

#[test]
fn claude_expands_a_skill_with_its_arguments() {
    let Some(claude) = world::claude() else {
        return;
    };
    let w = World::new();
    let mut cmd = claude_cmd(&claude, &w);
    cmd.args(["-p", "/orc:ctl logs 3", "--plugin-dir"])
        .arg(plugin_root())
        .args(["--output-format", "json"]);
    let out = output_within(cmd, CLAUDE_LIMIT);
    let result: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}", String::from_utf8_lossy(&out.stdout)));
    let session = result["session_id"].as_str().expect("session_id");
    let transcript = walk(&w.home.join(".claude/projects"))
        .into_iter()
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy() == format!("{session}.jsonl"))
        })
        .expect("the session transcript");
    let text = fs::read_to_string(transcript).unwrap();
    assert!(text.contains("Run `orc-ctl logs 3` and report"), "{text}");
    assert!(text.contains(&format!(
        "Base directory for this skill: {}",
        plugin_root().join("skills/ctl").display()
    )));
}

#[test]
fn installs_from_its_own_marketplace_as_committed() {
    let Some(claude) = world::claude() else {
        return;
    };
    let w = World::new();
    // What a clone ships: the committed tree at HEAD, symlinks and modes kept.
    let src = w.root.join("market");
    fs::create_dir_all(&src).unwrap();
    let archive = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "git -C '{}' archive HEAD | tar -x -C '{}'",
            plugin_root().display(),
            src.display()
        ))
        .output()
        .unwrap();
    if !archive.status.success() || !src.join(".claude-plugin/marketplace.json").exists() {
        eprintln!("note: skipping: no committed plugin at HEAD to install");
        return;
    }
    assert!(
        fs::symlink_metadata(src.join("bin/orc-spawn"))
            .unwrap()
            .is_symlink()
    );
    let git = |args: &[&str]| {
        let mut c = Command::new("git");
        c.args(args)
            .current_dir(&src)
            .env_clear()
            .env("HOME", &w.home)
            .env("PATH", world::SYSTEM_PATH);
        assert!(
            output_within(c, Duration::from_secs(30)).status.success(),
            "git {args:?}"
        );
    };
    git(&["init", "-q", "-b", "main"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "release"]);
    let run = |args: &[&str]| {
        let mut cmd = claude_cmd(&claude, &w);
        cmd.args(args);
        let out = output_within(cmd, CLAUDE_LIMIT);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "claude {args:?}: {text}");
        text
    };
    let src_arg = src.display().to_string();
    let tag = run(&["plugin", "tag", "--dry-run", &src_arg]);
    assert!(
        tag.contains(&format!(
            "orc--v{}",
            manifest()["version"].as_str().unwrap()
        )),
        "{tag}"
    );
    run(&["plugin", "marketplace", "add", &src_arg]);
    let installed = run(&["plugin", "install", "orc@orc-market"]);
    assert!(
        installed.contains("Successfully installed plugin: orc@orc-market"),
        "{installed}"
    );
    let list: Value = serde_json::from_str(&run(&["plugin", "list", "--json"])).unwrap();
    let entry = list
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "orc@orc-market")
        .unwrap_or_else(|| panic!("{list}"));
    assert_eq!(entry["enabled"], true);
    // Installed, not --plugin-dir: its SessionStart hook runs in every session.
    run(&["--init-only"]);
    let status = fs::read_to_string(
        w.home
            .join(".claude/plugins/data/orc-orc-market/setup.status"),
    )
    .unwrap();
    assert!(status.contains("status=ok"), "{status}");
}
