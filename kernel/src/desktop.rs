//! Desktop notifications for failed runs: `notify-send` on Linux,
//! `osascript` on macOS, and silence when neither is installed. A
//! notification is best effort: it never fails or delays a run for long.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a notifier may take before it is given up on.
const PATIENCE: Duration = Duration::from_secs(5);

/// The notifier's program and arguments, if one is installed. The text
/// travels as arguments: `osascript` reads it from `argv`, never from the
/// script, so quotes in it cannot change what runs.
pub fn command(title: &str, body: &str) -> Option<(String, Vec<String>)> {
    if cfg!(target_os = "macos") {
        which::which("osascript").ok()?;
        let script = [
            "-e",
            "on run argv",
            "-e",
            "display notification (item 2 of argv) with title (item 1 of argv)",
            "-e",
            "end run",
        ];
        let mut args: Vec<String> = script.iter().map(|s| s.to_string()).collect();
        args.extend([title.to_string(), body.to_string()]);
        return Some(("osascript".to_string(), args));
    }
    which::which("notify-send").ok()?;
    Some((
        "notify-send".to_string(),
        vec![
            "--app-name=orc".to_string(),
            "--urgency=critical".to_string(),
            "--".to_string(),
            title.to_string(),
            body.to_string(),
        ],
    ))
}

/// Show a notification if a notifier is installed; errors are ignored.
pub fn notify(title: &str, body: &str) {
    let Some((program, args)) = command(title, body) else {
        return;
    };
    let Ok(mut child) = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
    else {
        return;
    };
    let deadline = Instant::now() + PATIENCE;
    while Instant::now() < deadline {
        match child.try_wait() {
            Ok(Some(_)) | Err(_) => return,
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}
