//! One worker's proc directory, `sessions/<s>/procs/<kind>-<N>/`, like
//! `/proc/<pid>`: the record, the wake FIFO, the pending signal, the shim's
//! identity and the log.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::clock;
use crate::error::{Error, Result};
use crate::fsutil::{append_line, ensure_private_dir, remove_stale_temps, write_atomic};
use crate::ids::{Issue, Kind};
use crate::liveness::{Liveness, ProcessId};
use crate::lock::{FileLock, Standing};
use crate::record::Record;
use crate::session::Session;
use crate::wake;

/// The identities of a worker's supervisor and agent (`shim.pid`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimIds {
    /// The shim.
    pub shim: ProcessId,
    /// The agent (leader of its own process group), once started.
    #[serde(default)]
    pub agent: Option<ProcessId>,
}

/// A worker's proc directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    dir: PathBuf,
    kind: Kind,
    issue: Issue,
}

impl Proc {
    /// The proc directory of `kind`-`issue` in `session` (may not exist).
    pub fn new(session: &Session, kind: Kind, issue: Issue) -> Proc {
        Proc {
            dir: session.proc_dir(kind, issue),
            kind,
            issue,
        }
    }

    /// Every proc directory of `session`, sorted by issue then kind.
    /// Entries whose names are not `<kind>-<N>` are skipped.
    pub fn list(session: &Session) -> Result<Vec<Proc>> {
        let dir = session.procs();
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::io("list", &dir, e)),
        };
        let mut out: Vec<Proc> = entries
            .flatten()
            .filter_map(|entry| {
                let name = entry.file_name().into_string().ok()?;
                let (kind, issue) = name.split_once('-')?;
                let (kind, issue) = (Kind::parse(kind).ok()?, Issue::parse(issue).ok()?);
                Some(Proc {
                    dir: entry.path(),
                    kind,
                    issue,
                })
            })
            .collect();
        out.sort_by_key(|p| (p.issue, p.kind));
        Ok(out)
    }

    /// Create the directory with `record` and the wake FIFO. Fails if the
    /// directory already holds a record.
    pub fn create(&self, record: &Record) -> Result<()> {
        ensure_private_dir(&self.dir)?;
        let _guard = self.guard()?;
        if self.state_path().exists() {
            return Err(Error::failure(
                "worker already has a record",
                self.dir.display().to_string(),
            )
            .hint("clean it up with orc-cleanup, or resume it"));
        }
        self.write(record)?;
        if !self.wake_path().exists() {
            wake::create(&self.wake_path())?;
        }
        Ok(())
    }

    /// Whether the directory exists.
    pub fn exists(&self) -> bool {
        self.dir.is_dir()
    }

    /// Read the record; `None` when there is none. A record that does not
    /// parse is an error naming the file, which is left untouched.
    pub fn read(&self) -> Result<Option<Record>> {
        crate::fsutil::read_json(&self.state_path(), "record")
            .map_err(|e| e.hint("the file is kept as it is; inspect it, or remove the worker with orc-cleanup --force"))
    }

    /// Read the record, which must exist.
    pub fn load(&self) -> Result<Record> {
        self.read()?.ok_or_else(|| self.gone())
    }

    /// Change the record under the proc lock: read, let `change` edit it,
    /// write it back atomically. Leftovers of an interrupted write are
    /// cleared first. Nothing is written when `change` fails.
    pub fn update(&self, change: impl FnOnce(&mut Record) -> Result<()>) -> Result<Record> {
        let _guard = self.guard()?;
        remove_stale_temps(&self.dir);
        let mut record = self.load()?;
        change(&mut record)?;
        self.write(&record)?;
        Ok(record)
    }

    fn write(&self, record: &Record) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(record).map_err(|e| {
            Error::failure(
                format!("cannot encode record: {e}"),
                self.dir.display().to_string(),
            )
        })?;
        write_atomic(&self.state_path(), &bytes, 0o600)
    }

    /// The proc lock serialising writers of this directory. Taking it never
    /// makes the directory: once it is removed (`orc-ctl gc` removes a
    /// launch under this lock), a late writer is told the worker is gone
    /// instead of leaving a ghost directory behind.
    pub fn guard(&self) -> Result<FileLock> {
        match FileLock::standing(&self.lock_path(), true)? {
            Standing::Locked(guard) => Ok(guard),
            Standing::Busy | Standing::Gone => Err(self.gone()),
        }
    }

    /// The proc lock if it is free now: `Busy` while a writer holds it,
    /// `Gone` once the directory is.
    pub fn try_guard(&self) -> Result<Standing> {
        FileLock::standing(&self.lock_path(), false)
    }

    fn lock_path(&self) -> PathBuf {
        self.dir.join(".lock")
    }

    fn gone(&self) -> Error {
        Error::failure(
            format!("no such {}", self.kind),
            format!("{} {}", self.kind, self.issue),
        )
        .hint("orc-ps lists the workers of this session")
    }

    /// The shim's first word, before it starts anything: under the proc
    /// lock, the record must still be there and active, and the shim's
    /// identity is written with it. A launch whose spawner died can be
    /// removed by `orc-ctl gc` (or ended by a cleanup) before its shim got
    /// here; the shim then starts nothing and says why. Returns the record.
    pub fn begin_supervision(&self, shim: ProcessId) -> Result<Record> {
        let _guard = self.guard()?;
        let record = self.read()?.ok_or_else(|| self.gone())?;
        if !record.state.is_active() {
            return Err(Error::failure(
                format!(
                    "{} {} ended ({}, {}) before its shim started; nothing is started",
                    self.kind,
                    self.issue,
                    record.state,
                    record.result_name()
                ),
                self.dir.display().to_string(),
            ));
        }
        self.write_shim_locked(&ShimIds { shim, agent: None })?;
        Ok(record)
    }

    /// The shim's and agent's identities, if recorded.
    pub fn shim(&self) -> Result<Option<ShimIds>> {
        crate::fsutil::read_json(&self.shim_path(), "shim.pid")
    }

    /// Record the shim's and agent's identities. Under the proc lock, like
    /// every writer here: [`Proc::update`] clears temporary files it finds.
    pub fn write_shim(&self, ids: &ShimIds) -> Result<()> {
        let _guard = self.guard()?;
        self.write_shim_locked(ids)
    }

    fn write_shim_locked(&self, ids: &ShimIds) -> Result<()> {
        let bytes = serde_json::to_vec(ids).map_err(|e| {
            Error::failure(
                format!("cannot encode shim.pid: {e}"),
                self.dir.display().to_string(),
            )
        })?;
        write_atomic(&self.shim_path(), &bytes, 0o600)
    }

    /// The worker's cgroup, as the shim recorded it in `cgroup` (none when
    /// it is contained by its process group).
    pub fn cgroup(&self) -> Option<PathBuf> {
        let text = crate::fsutil::read_string_nofollow(&self.dir.join("cgroup")).ok()?;
        let text = text.trim();
        (!text.is_empty()).then(|| PathBuf::from(text))
    }

    /// Record the worker's cgroup, before the agent enters it.
    pub fn write_cgroup(&self, path: &Path) -> Result<()> {
        let _guard = self.guard()?;
        let text = format!("{}\n", path.display());
        write_atomic(&self.dir.join("cgroup"), text.as_bytes(), 0o600)
    }

    /// Record that the worker has no cgroup (its agent could not enter
    /// the one recorded).
    pub fn clear_cgroup(&self) -> Result<()> {
        let _guard = self.guard()?;
        write_atomic(&self.dir.join("cgroup"), b"", 0o600)
    }

    /// Whether the shim lives: `Unknown` when there is no shim.pid, or it
    /// cannot be read.
    pub fn shim_liveness(&self) -> Liveness {
        match self.shim() {
            Ok(Some(ids)) => self.supervisor_liveness(&ids),
            _ => Liveness::Unknown,
        }
    }

    /// Whether the worker is still supervised: its shim lives, or — for a
    /// worker in a Slurm job whose local shim is gone — its job still runs
    /// (pending, running, suspended or completing), as the controller says.
    /// A job the controller cannot be asked about is `Unknown`, never dead.
    /// Many workers asked in a row share one `squeue` ([`crate::slurm::status`]).
    pub fn supervisor_liveness(&self, ids: &ShimIds) -> Liveness {
        let shim = ids.shim.liveness();
        if shim != Liveness::Dead {
            return shim;
        }
        let Some(id) = self.slurm_job() else {
            return shim;
        };
        match crate::slurm::status(id) {
            crate::slurm::Lookup::Known(info) if info.state.is_live() => Liveness::Alive,
            crate::slurm::Lookup::Known(_) | crate::slurm::Lookup::Gone => Liveness::Dead,
            crate::slurm::Lookup::Unknown(_) => Liveness::Unknown,
        }
    }

    /// The id of the Slurm job that runs this worker's agent, if any.
    pub fn slurm_job(&self) -> Option<u64> {
        self.read().ok().flatten()?.slurm?.job
    }

    /// Append a lifecycle line to the worker's log, credentials masked.
    pub fn log(&self, who: &str, text: &str) -> Result<()> {
        let ts = clock::now_rfc3339()?;
        let text = crate::secret::redact(text).replace('\n', "\\n");
        append_line(&self.log_path(), &format!("[{ts}] {who}: {text}"))
    }

    /// The last few kilobytes of the log, where an agent shows why it
    /// stopped or what it waits for.
    pub fn log_tail(&self) -> String {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut file) = crate::fsutil::open_read(&self.log_path()) else {
            return String::new();
        };
        let len = file.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = file.seek(SeekFrom::Start(len.saturating_sub(8192)));
        let mut buf = Vec::new();
        let _ = file.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The worker's kind.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The worker's issue.
    pub fn issue(&self) -> Issue {
        self.issue
    }

    /// `state.json`.
    pub fn state_path(&self) -> PathBuf {
        self.dir.join("state.json")
    }

    /// `wake`, the FIFO.
    pub fn wake_path(&self) -> PathBuf {
        self.dir.join("wake")
    }

    /// `signal`, the pending cooperative signal.
    pub fn signal_path(&self) -> PathBuf {
        self.dir.join("signal")
    }

    /// `shim.pid`.
    pub fn shim_path(&self) -> PathBuf {
        self.dir.join("shim.pid")
    }

    /// `log`.
    pub fn log_path(&self) -> PathBuf {
        self.dir.join("log")
    }

    /// `prompt`: the agent's prompt (0600), read by the agent from there or
    /// on its standard input, never passed in an argv.
    pub fn prompt_path(&self) -> PathBuf {
        self.dir.join("prompt")
    }

    /// `checkpoint.json`, read by a resumed worker.
    pub fn checkpoint_path(&self) -> PathBuf {
        self.dir.join("checkpoint.json")
    }
}
