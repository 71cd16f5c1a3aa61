//! `orc-ctl service`: the run queue as a service that survives a reboot.
//!
//! `install` writes and enables a systemd user unit (Linux) or a launchd
//! agent (macOS) that runs `orc-dispatch --label L --follow` in a
//! repository at login, with the settings resolved now (as schedules
//! capture theirs: the service manager's environment is not the user's
//! shell). Nothing else is needed to recover after a reboot: the
//! dispatcher's start adopts what its journals and records say, so a worker
//! whose shim died with the machine is found `crashed` and retried in its
//! worktree, from its checkpoint, by the queue's retry rules. Stopping the
//! service (SIGTERM to the dispatcher alone: `KillMode=process`) leaves the
//! workers running for the next start to adopt.

mod unit;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;

use crate::context::Context;
use crate::error::{Error, Result};
use crate::fsutil::{ensure_private_dir, write_atomic};

pub use unit::Spec;

/// What `install` is asked.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The repository (default: the current one).
    pub repo: Option<PathBuf>,
    /// The label of the issues to dispatch.
    pub label: String,
    /// At most N workers at once.
    pub max: Option<u64>,
}

/// The service of a repository, as installed (or not).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// `orc-dispatch-<session>`.
    pub name: String,
    /// `systemd` or `launchd`.
    pub manager: &'static str,
    /// The unit or plist file.
    pub path: PathBuf,
    /// Whether the file exists.
    pub installed: bool,
    /// What the service manager says (`active`, `inactive`, ...), when it
    /// could be asked.
    pub active: Option<String>,
    /// The command the service runs.
    pub command: Vec<String>,
    /// Where its output goes.
    pub log: String,
    /// The pid of the session's dispatcher, when one runs.
    pub dispatcher_pid: Option<u32>,
}

fn launchd() -> bool {
    cfg!(target_os = "macos")
}

/// The repository's context, and the service's definition for it.
fn spec(opts: &Options) -> Result<(Context, Spec, PathBuf)> {
    let ctx = Context::orchestrator(opts.repo.as_deref())?;
    let repo = ctx.repo()?.root.clone();
    let name = format!("orc-dispatch-{}", ctx.session.name());
    let bin = crate::paths::bin_dir().unwrap_or_default();
    let dispatch = bin.join("orc-dispatch");
    let mut argv = vec![
        dispatch.display().to_string(),
        "--label".to_string(),
        opts.label.clone(),
        "--follow".to_string(),
    ];
    if let Some(n) = opts.max {
        argv.extend(["--max".to_string(), n.to_string()]);
    }
    let mut env = crate::schedule::capture::capture(&ctx.config, std::env::vars());
    env.insert(
        "ORC_STATE_DIR".into(),
        ctx.state.root().display().to_string(),
    );
    env.insert("ORC_SESSION".into(), ctx.session.name().to_string());
    let log = ctx.state.logs().join(format!("{name}.log"));
    let path = unit_path(&name)?;
    let spec = Spec {
        name,
        repo: repo.display().to_string(),
        argv,
        env,
        log: log.display().to_string(),
    };
    Ok((ctx, spec, path))
}

/// Where the unit (or plist) of `name` goes.
fn unit_path(name: &str) -> Result<PathBuf> {
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .ok_or_else(|| Error::failure("HOME is not set", "service"))?;
    if launchd() {
        return Ok(home.join(format!("Library/LaunchAgents/dev.orc.{name}.plist")));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| home.join(".config"));
    Ok(config.join(format!("systemd/user/{name}.service")))
}

/// Write and enable the service; bad input or a manager that refuses
/// leaves nothing behind.
pub fn install(opts: &Options) -> Result<Status> {
    if opts.label.trim().is_empty() {
        return Err(Error::usage("the label is empty", "--label"));
    }
    if opts.max == Some(0) {
        return Err(Error::usage(
            "the worker limit must be at least 1",
            "--max 0",
        ));
    }
    let (ctx, spec, path) = spec(opts)?;
    if !Path::new(&spec.argv[0]).is_file() {
        return Err(Error::failure(
            "orc-dispatch is not installed next to this tool",
            spec.argv[0].clone(),
        )
        .hint("build orc (`make`), then install the service again"));
    }
    let text = if launchd() {
        unit::launchd(&spec)
    } else {
        unit::systemd(&spec)
    };
    ensure_private_dir(ctx.state.logs().as_path())?;
    let dir = crate::fsutil::parent(&path)?;
    std::fs::create_dir_all(dir).map_err(|e| Error::io("create directory", dir, e))?;
    let existed = path.exists();
    write_atomic(&path, text.as_bytes(), 0o644)?;
    let enabled = if launchd() {
        manage("launchctl", &["load", "-w", &path.display().to_string()])
    } else {
        manage("systemctl", &["--user", "daemon-reload"]).and_then(|_| {
            manage(
                "systemctl",
                &[
                    "--user",
                    "enable",
                    "--now",
                    &format!("{}.service", spec.name),
                ],
            )
        })
    };
    if let Err(e) = enabled {
        if !existed {
            let _ = std::fs::remove_file(&path);
        }
        return Err(e.hint(
            "the user's service manager must run (systemd --user, or launchd at login); the unit was not kept",
        ));
    }
    status(opts)
}

/// The service of the repository: installed or not, and what its manager
/// and the session say.
pub fn status(opts: &Options) -> Result<Status> {
    let (ctx, spec, path) = spec(opts)?;
    let installed = path.is_file();
    let active = if !installed {
        None
    } else if launchd() {
        manage("launchctl", &["list", &format!("dev.orc.{}", spec.name)])
            .ok()
            .map(|_| "loaded".to_string())
    } else {
        // is-active exits non-zero for inactive units: its word is the answer.
        Command::new("systemctl")
            .args(["--user", "is-active", &format!("{}.service", spec.name)])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .filter(|s| !s.is_empty())
    };
    let dispatcher_pid = match crate::dispatch::lock_if_idle(&ctx.session)? {
        Some(_) => None,
        None => crate::dispatch::running_pid(&ctx.session),
    };
    Ok(Status {
        name: spec.name,
        manager: if launchd() { "launchd" } else { "systemd" },
        path,
        installed,
        active,
        command: spec.argv,
        log: spec.log,
        dispatcher_pid,
    })
}

/// Stop, disable and remove the service (its workers keep running); false
/// when none was installed.
pub fn uninstall(opts: &Options) -> Result<bool> {
    let (_, spec, path) = spec(opts)?;
    if !path.exists() {
        return Ok(false);
    }
    if launchd() {
        let _ = manage("launchctl", &["unload", "-w", &path.display().to_string()]);
    } else {
        let _ = manage(
            "systemctl",
            &[
                "--user",
                "disable",
                "--now",
                &format!("{}.service", spec.name),
            ],
        );
    }
    std::fs::remove_file(&path).map_err(|e| Error::io("remove", &path, e))?;
    if !launchd() {
        let _ = manage("systemctl", &["--user", "daemon-reload"]);
    }
    Ok(true)
}

/// Run the service manager; its stderr is the error.
fn manage(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| Error::failure(format!("cannot run {program}: {e}"), program.to_string()))?;
    if out.status.success() {
        return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
    Err(Error::failure(
        format!("{program} {} failed: {said}", args.join(" ")),
        program.to_string(),
    ))
}
