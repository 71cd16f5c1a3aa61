//! A throw-away system user for the tests that need a second local user:
//! created with `useradd` and removed with `userdel` when dropped. Creating
//! users needs root; without it the test prints one `skipped:` line (and
//! fails when `CI` is set, where the tests must run as root).

use std::process::Command;
use std::sync::Mutex;

/// useradd and userdel lock /etc/passwd: one at a time in this process.
static USERS: Mutex<()> = Mutex::new(());

/// A system user that exists while this value lives.
pub struct OtherUser {
    /// The login name.
    pub name: String,
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

impl OtherUser {
    /// Create a fresh user, or `None` (after saying why) when not root.
    pub fn create(test: &str) -> Option<OtherUser> {
        if !nix::unistd::geteuid().is_root() {
            assert!(
                std::env::var_os("CI").is_none(),
                "{test}: needs root to create a throw-away user"
            );
            eprintln!("skipped: {test}: creating a throw-away user needs root");
            return None;
        }
        let _one = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let name = format!("orct{}x{}", std::process::id(), test.len() % 100);
        let name = format!("{name}{}", rand_suffix());
        let out = Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--shell", "/usr/sbin/nologin", &name])
            .output()
            .expect("run useradd");
        assert!(
            out.status.success(),
            "useradd {name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let user = nix::unistd::User::from_name(&name)
            .expect("look the user up")
            .expect("the new user exists");
        Some(OtherUser {
            name,
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
        })
    }

    /// `path` (and everything below it) given to this user.
    pub fn chown(&self, path: &std::path::Path) {
        let out = Command::new("chown")
            .arg("-R")
            .arg(format!("{}:{}", self.uid, self.gid))
            .arg(path)
            .output()
            .expect("run chown");
        assert!(out.status.success(), "chown {}", path.display());
    }
}

fn rand_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("{:x}", nanos % 0xfffff)
}

impl Drop for OtherUser {
    fn drop(&mut self) {
        // The tests end the processes they started as this user themselves
        // (by pid); then the user goes (never panic here).
        let _one = USERS.lock().unwrap_or_else(|e| e.into_inner());
        let _ = Command::new("userdel").arg(&self.name).status();
    }
}
