//! Bad input shared by the tools' tests: corrupt records, unusable state
//! directories, issue ids that must be refused.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use orc_kernel::procdir::Proc;

use super::{TestEnv, assert_fails, run};

/// Write a corrupt `state.json` over the record of `proc`.
pub fn corrupt_record(proc: &Proc) -> Vec<u8> {
    let bytes = b"{\"issue\": 7, \"state\": \"RUNN".to_vec();
    fs::write(proc.state_path(), &bytes).expect("write a corrupt record");
    bytes
}

/// Check that `tool ARGS` refuses a relative and an unusable
/// `ORC_STATE_DIR` with a clear message, exit 2 and 1, creating nothing.
pub fn assert_bad_state_dirs(env: &TestEnv, tool: &str, args: &[&str]) {
    let prefix = format!("{tool}: error: ");
    let before = env.snapshot();
    let out = run(env.cmd(tool).args(args).env("ORC_STATE_DIR", "state"));
    assert_fails(
        &out,
        2,
        &format!(
            "{prefix}invalid ORC_STATE_DIR=\"state\" set in the environment\n\
             hint: ORC_STATE_DIR accepts an absolute path\n"
        ),
    );
    before.assert_same(&env.snapshot());

    // A path below a regular file cannot become a directory, even for root.
    let file = env.root.join("not-a-dir");
    fs::write(&file, "x").expect("write a file");
    let before = env.snapshot();
    let bad = file.join("state");
    let out = run(env.cmd(tool).args(args).env("ORC_STATE_DIR", &bad));
    assert_fails(
        &out,
        1,
        &format!("{prefix}cannot create directory: Not a directory"),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&bad.display().to_string()));
    before.assert_same(&env.snapshot());

    // A directory without write permission: root may write anyway, so the
    // refusal is only checked for other users.
    let locked = env.root.join("read-only");
    fs::create_dir_all(&locked).expect("create a directory");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o500)).expect("chmod 0500");
    if !nix::unistd::geteuid().is_root() {
        let before = env.snapshot();
        let out = run(env.cmd(tool).args(args).env("ORC_STATE_DIR", &locked));
        assert_fails(&out, 1, &format!("{prefix}state directory is not writable"));
        before.assert_same(&env.snapshot());
    }
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o700)).expect("chmod 0700");
}

/// Issue ids every tool must refuse: path-like, signed, not a number, too
/// large for any tracker, zero, two words. (Pass `-1` after `--` to reach
/// the tool's own check rather than the argument parser's.)
pub const BAD_ISSUES: [&str; 6] = ["../x", "-1", "4x", "99999999999999999999", "0", "4 2"];
