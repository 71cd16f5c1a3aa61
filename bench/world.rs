//! A private world for the benchmarks: a temporary `HOME`, state directory
//! and git repository, with workers seeded through `orc_kernel` exactly as
//! the tools would write them.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use orc_kernel::ids::{Issue, Kind};
use orc_kernel::liveness::ProcessId;
use orc_kernel::lock::{Holder, IssueLock};
use orc_kernel::paths::StateDir;
use orc_kernel::procdir::{Proc, ShimIds};
use orc_kernel::record::{Outcome, Record, State};
use orc_kernel::repo::Repo;
use orc_kernel::session::Session;

/// What the benchmark's functions return.
pub type BoxResult<T> = Result<T, Box<dyn Error>>;

/// The temporary world the tools run in.
pub struct World {
    _tmp: tempfile::TempDir,
    /// `HOME` of the tools.
    pub home: PathBuf,
    /// `ORC_STATE_DIR` of the tools.
    pub state: PathBuf,
    /// The repository the tools run in.
    pub repo: PathBuf,
    /// Where the tools under test are.
    pub bin_dir: PathBuf,
}

impl World {
    /// A fresh world whose tools come from `bin_dir`, in a temporary
    /// directory under `parent` (default: `TMPDIR`).
    pub fn new(bin_dir: &Path, parent: Option<&Path>) -> BoxResult<World> {
        let mut builder = tempfile::Builder::new();
        builder.prefix("orc-bench-");
        let tmp = match parent {
            Some(dir) => builder.tempdir_in(dir)?,
            None => builder.tempdir()?,
        };
        let root = tmp.path().canonicalize()?;
        let world = World {
            home: root.join("home"),
            state: root.join("state"),
            repo: root.join("repo"),
            bin_dir: bin_dir.to_path_buf(),
            _tmp: tmp,
        };
        std::fs::create_dir_all(&world.home)?;
        std::fs::create_dir_all(&world.repo)?;
        orc_kernel::fsutil::ensure_private_dir(&world.state)?;
        world.git(&["init", "-q", "-b", "main"])?;
        world.git(&[
            "-c",
            "user.name=bench",
            "-c",
            "user.email=bench@orc.invalid",
            "commit",
            "-q",
            "--allow-empty",
            "-m",
            "initial commit",
        ])?;
        Ok(world)
    }

    fn git(&self, args: &[&str]) -> BoxResult<()> {
        let status = Command::new("git")
            .args(args)
            .current_dir(&self.repo)
            .env("HOME", &self.home)
            .stdout(Stdio::null())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("git {args:?} failed").into())
        }
    }

    /// A command for the tool `name`, environment cleared as in the tests.
    pub fn cmd(&self, name: &str) -> Command {
        let mut path = self.bin_dir.clone().into_os_string();
        path.push(":/usr/local/bin:/usr/bin:/bin");
        let mut cmd = Command::new(self.bin_dir.join(name));
        cmd.env_clear()
            .env("PATH", path)
            .env("HOME", &self.home)
            .env("ORC_STATE_DIR", &self.state)
            .current_dir(&self.repo)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        cmd
    }

    /// The repository as the kernel sees it.
    pub fn kernel_repo(&self) -> BoxResult<Repo> {
        Ok(Repo::at(&self.repo)?)
    }

    /// The session `name` (default: the repository's), created.
    pub fn session(&self, name: Option<&str>) -> BoxResult<Session> {
        let repo = self.kernel_repo()?;
        let name = name.map_or_else(|| repo.default_session(), str::to_string);
        let session = Session::open(&StateDir::at(&self.state), &name)?;
        session.ensure(Some(&repo))?;
        Ok(session)
    }

    /// Seed worker `issue` in `session` in `state`; an active one gets a
    /// `shim.pid` naming `shim` so readers judge a live process.
    pub fn seed(
        &self,
        session: &Session,
        issue: u32,
        state: State,
        shim: ProcessId,
    ) -> BoxResult<Proc> {
        let now = orc_kernel::clock::now_rfc3339()?;
        let mut record = Record::new(Issue::from(issue), Kind::Worker, session.name(), &now);
        record.state = state;
        record.repo = Some(self.repo.display().to_string());
        record.detail = "phase1:implement".to_string();
        record.worktree = Some(format!(
            "{}/.worktrees/issue/{issue}-bench",
            self.repo.display()
        ));
        record.branch = Some(format!("issue/{issue}-bench"));
        record.agent = Some("claude".to_string());
        record.result = match state {
            State::Terminated => Some(Outcome::Merged),
            State::Suspended => Some(Outcome::Suspended),
            _ => None,
        };
        let proc = Proc::new(session, Kind::Worker, Issue::from(issue));
        proc.create(&record)?;
        if state.is_active() {
            proc.write_shim(&ShimIds {
                shim,
                agent: Some(shim),
            })?;
        }
        Ok(proc)
    }

    /// Give the lock of `issue` to `holder` for `session`, as a running
    /// worker's shim holds it.
    pub fn lock(&self, issue: u32, holder: ProcessId, session: &str) -> BoxResult<()> {
        let lock = IssueLock::new(
            &StateDir::at(&self.state),
            &self.kernel_repo()?,
            Issue::from(issue),
        );
        lock.acquire(Holder::Process { id: holder }, session)?;
        Ok(())
    }
}
