//! Slurm, as orc uses it: the words of `ORC_SLURM_ARGS`, a job's name and
//! time limit, and what `squeue`, `scontrol` and `scancel` say about and do
//! to one job.
//!
//! Every call runs a Slurm client with its arguments as separate words;
//! nothing goes through a shell. A client that cannot be run, or a job the
//! controller no longer knows, is an answer of its own (`Unknown`, `None`),
//! never taken for "the job ended".

use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

mod listing;
pub use listing::status;

/// A worker's job, as its record carries it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlurmJob {
    /// The job id, once the controller gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<u64>,
    /// The job name orc chose (`orc-<session>-<kind>-<N>-<attempt>`), which
    /// finds the job before its id is known.
    pub name: String,
    /// The job's state as last seen (`PENDING`, `RUNNING`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Why it waits, while it waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The node it runs on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    /// The time limit given to Slurm (`--time`).
    pub time: String,
    /// The words of `ORC_SLURM_ARGS` given to `srun`.
    #[serde(default)]
    pub args: Vec<String>,
}

/// A job's state as Slurm names it (`JobState=` of `scontrol show job`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for resources; the reason says which.
    Pending,
    /// Running (or its tasks are being set up).
    Running,
    /// Suspended by an administrator or a preemption.
    Suspended,
    /// Its processes are being cleaned up after the end.
    Completing,
    /// Ended; the payload is Slurm's name for how (COMPLETED, FAILED,
    /// CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, ...).
    Ended(String),
}

impl JobState {
    /// Parse Slurm's name of a state (`CANCELLED by 0` reads as CANCELLED).
    pub fn parse(text: &str) -> JobState {
        let word = text.split_whitespace().next().unwrap_or("");
        match word {
            "PENDING" | "CONFIGURING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED"
            | "RESV_DEL_HOLD" => JobState::Pending,
            "RUNNING" | "RESIZING" | "SIGNALING" | "STAGE_OUT" => JobState::Running,
            "SUSPENDED" | "STOPPED" => JobState::Suspended,
            "COMPLETING" => JobState::Completing,
            other => JobState::Ended(other.to_string()),
        }
    }

    /// Whether the job may still run its task: pending, running, suspended
    /// or completing.
    pub fn is_live(&self) -> bool {
        !matches!(self, JobState::Ended(_))
    }

    /// Slurm's own word for the state.
    pub fn as_str(&self) -> &str {
        match self {
            JobState::Pending => "PENDING",
            JobState::Running => "RUNNING",
            JobState::Suspended => "SUSPENDED",
            JobState::Completing => "COMPLETING",
            JobState::Ended(word) => word,
        }
    }
}

/// What the controller says about one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobInfo {
    /// The job id.
    pub id: u64,
    /// Its state.
    pub state: JobState,
    /// Why it waits (`Resources`, `Priority`, ...), or `None`.
    pub reason: Option<String>,
    /// `ExitCode=code:signal` once ended.
    pub exit: Option<(i32, i32)>,
    /// The node(s) it runs on, once it runs.
    pub nodes: Option<String>,
}

/// The controller's answer about a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    /// It knows the job.
    Known(JobInfo),
    /// It no longer knows it (ended longer ago than `MinJobAge`), or never did.
    Gone,
    /// Slurm could not be asked (no client, controller down): say nothing.
    Unknown(String),
}

/// Check that this host can submit jobs: `srun` and `squeue` are on PATH.
pub fn client_ready() -> Result<()> {
    for program in ["srun", "squeue", "scontrol", "scancel"] {
        if which::which(program).is_err() {
            return Err(Error::failure(
                format!("the slurm backend needs {program}, which is not on PATH"),
                program,
            )
            .hint("install the Slurm client (Debian: slurm-client) or use another ORC_BACKEND"));
        }
    }
    Ok(())
}

/// The nodes of the cluster that are not this host, by `sinfo`'s names.
pub fn other_nodes() -> Vec<String> {
    let Ok(out) = Command::new("sinfo")
        .args(["-h", "-N", "-o", "%N"])
        .stdin(Stdio::null())
        .output()
    else {
        return Vec::new();
    };
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let mut nodes: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty() && *n != host)
        .map(str::to_string)
        .collect();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// A warning when `path` is on a filesystem that only this host sees while
/// the cluster has other nodes: the job may land where the worktree or the
/// state directory does not exist.
pub fn storage_warning(path: &std::path::Path, other_nodes: &[String]) -> Option<String> {
    use nix::sys::statfs::{NFS_SUPER_MAGIC, SMB_SUPER_MAGIC, statfs};
    if other_nodes.is_empty() {
        return None;
    }
    let fs = statfs(path).ok()?;
    let kind = fs.filesystem_type();
    // NFS, SMB and the cluster filesystems (Lustre, GPFS, CephFS, BeeGFS,
    // 9p, FUSE mounts) are what nodes share; by magic number where nix has
    // no name for it.
    const SHARED: &[i64] = &[
        0x0BD0_0BD0, // Lustre
        0x4750_4653, // GPFS
        0x00C3_6400, // CephFS
        0x1982_0401, // BeeGFS
        0x0102_1997, // 9p
        0x6573_5546, // FUSE
        0xFE53_4D42, // SMB2
        0xFF53_4D42, // CIFS
    ];
    let magic = kind.0 as i64;
    if kind == NFS_SUPER_MAGIC || kind == SMB_SUPER_MAGIC || SHARED.contains(&magic) {
        return None;
    }
    Some(format!(
        "{} is on a local filesystem (magic {magic:#x}), but the cluster has other nodes ({}): \
         a job placed there cannot see it; put the repository and ORC_STATE_DIR on shared storage \
         or pin jobs to this host (ORC_SLURM_ARGS=--nodelist=...)",
        path.display(),
        other_nodes.join(", ")
    ))
}

/// Split `ORC_SLURM_ARGS` into srun's words: separated by blanks, with
/// single or double quotes around a word that holds blanks. No variable,
/// glob or escape is expanded: the words are data, never shell.
pub fn split_args(text: &str) -> Result<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => word.push(c),
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                in_word = true;
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            None => {
                word.push(c);
                in_word = true;
            }
        }
    }
    if let Some(q) = quote {
        return Err(Error::usage(
            format!("ORC_SLURM_ARGS has an unclosed {q}"),
            text.to_string(),
        )
        .hint("quote a value with blanks as '--constraint=a b' or \"--comment=x y\""));
    }
    if in_word {
        words.push(word);
    }
    if let Some(bad) = words.iter().find(|w| !w.starts_with('-')) {
        return Err(Error::usage(
            "ORC_SLURM_ARGS holds a word that is not an option",
            bad.clone(),
        )
        .hint("give srun options only, e.g. --partition=debug --mem=2G --cpus-per-task=2"));
    }
    Ok(words)
}

/// Slurm's `--time` for a limit in seconds: `D-HH:MM:SS`, rounded up to a
/// whole minute (Slurm's granularity), at least one minute.
pub fn time_limit(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60).max(1);
    let (days, rest) = (minutes / 1440, minutes % 1440);
    format!("{days}-{:02}:{:02}:00", rest / 60, rest % 60)
}

/// Parse one line of `scontrol show job -o ID`.
pub fn parse_scontrol(line: &str) -> Option<JobInfo> {
    let field = |key: &str| -> Option<&str> {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(key)?.strip_prefix('='))
    };
    let id = field("JobId")?.parse().ok()?;
    let state = JobState::parse(field("JobState")?);
    let reason = field("Reason").filter(|r| *r != "None").map(str::to_string);
    let exit = field("ExitCode").and_then(|e| {
        let (code, sig) = e.split_once(':')?;
        Some((code.parse().ok()?, sig.parse().ok()?))
    });
    let nodes = field("NodeList")
        .filter(|n| *n != "(null)" && !n.is_empty())
        .map(str::to_string);
    Some(JobInfo {
        id,
        state,
        reason,
        exit,
        nodes,
    })
}

/// Ask the controller about job `id`.
pub fn lookup(id: u64) -> Lookup {
    let out = match Command::new("scontrol")
        .args(["show", "job", "-o", &id.to_string()])
        .stdin(Stdio::null())
        .output()
    {
        Ok(out) => out,
        Err(e) => return Lookup::Unknown(format!("cannot run scontrol: {e}")),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    if out.status.success()
        && let Some(info) = stdout.lines().find_map(parse_scontrol)
    {
        return Lookup::Known(info);
    }
    if stderr.contains("Invalid job id") {
        return Lookup::Gone;
    }
    let why = stderr.trim().replace('\n', "; ");
    Lookup::Unknown(if why.is_empty() {
        format!("scontrol show job {id} answered nothing")
    } else {
        why
    })
}

/// The id of the live job named `name` (the newest, if several), from
/// `squeue`.
pub fn find_by_name(name: &str) -> Result<Option<u64>> {
    let out = Command::new("squeue")
        .args(["-h", "-n", name, "-o", "%i"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::failure(format!("cannot run squeue: {e}"), name.to_string()))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', "; ");
        return Err(Error::failure(
            format!("squeue failed: {why}"),
            name.to_string(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .max())
}

/// `scancel` job `id`: with `signal` (e.g. `TERM`) only that signal goes
/// to its tasks; without, the job is cancelled (Slurm sends TERM, then
/// KILL after its `KillWait`).
pub fn cancel(id: u64, signal: Option<&str>) -> Result<()> {
    let mut args = Vec::new();
    if let Some(sig) = signal {
        args.push(format!("--signal={sig}"));
    }
    args.push(id.to_string());
    let out = Command::new("scancel")
        .args(&args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| Error::failure(format!("cannot run scancel: {e}"), id.to_string()))?;
    if out.status.success() {
        Ok(())
    } else {
        let why = String::from_utf8_lossy(&out.stderr)
            .trim()
            .replace('\n', "; ");
        Err(Error::failure(
            format!("scancel failed: {why}"),
            id.to_string(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_split_on_blanks_and_keep_quoted_words_whole() {
        let words =
            split_args("  --partition=debug  --mem=2G '--comment=a b' \"--x=c'd\"").unwrap();
        assert_eq!(
            words,
            ["--partition=debug", "--mem=2G", "--comment=a b", "--x=c'd"]
        );
        assert!(split_args("").unwrap().is_empty());
        assert!(split_args("   ").unwrap().is_empty());
    }

    #[test]
    fn args_are_never_expanded() {
        let words = split_args("--comment=$HOME --x=* --y=`id`").unwrap();
        assert_eq!(words, ["--comment=$HOME", "--x=*", "--y=`id`"]);
    }

    #[test]
    fn bad_args_are_refused() {
        let e = split_args("--comment='a b").unwrap_err();
        assert_eq!(e.code(), crate::exit::USAGE);
        assert!(e.what().contains("unclosed '"), "{}", e.what());
        let e = split_args("--mem=2G ; rm -rf /").unwrap_err();
        assert_eq!(e.subject(), ";");
    }

    #[test]
    fn time_limits_round_up_to_minutes() {
        assert_eq!(time_limit(0), "0-00:01:00");
        assert_eq!(time_limit(59), "0-00:01:00");
        assert_eq!(time_limit(61), "0-00:02:00");
        assert_eq!(time_limit(3600), "0-01:00:00");
        assert_eq!(time_limit(86_400 + 90), "1-00:02:00");
    }

    #[test]
    fn scontrol_lines_parse() {
        let line = "JobId=6 JobName=orc-t2 UserId=root(0) JobState=RUNNING Reason=None \
                    Dependency=(null) ExitCode=0:0 NodeList=vm TimeLimit=UNLIMITED";
        let info = parse_scontrol(line).unwrap();
        assert_eq!(info.id, 6);
        assert_eq!(info.state, JobState::Running);
        assert_eq!(info.reason, None);
        assert_eq!(info.exit, Some((0, 0)));
        assert_eq!(info.nodes.as_deref(), Some("vm"));

        let line = "JobId=7 JobState=PENDING Reason=Resources ExitCode=0:0 NodeList=(null)";
        let info = parse_scontrol(line).unwrap();
        assert_eq!(info.state, JobState::Pending);
        assert_eq!(info.reason.as_deref(), Some("Resources"));
        assert_eq!(info.nodes, None);

        let line = "JobId=8 JobState=CANCELLED Reason=None ExitCode=0:15";
        let info = parse_scontrol(line).unwrap();
        assert_eq!(info.state, JobState::Ended("CANCELLED".into()));
        assert!(!info.state.is_live());
        assert_eq!(info.exit, Some((0, 15)));

        assert_eq!(
            parse_scontrol("slurm_load_jobs error: Invalid job id"),
            None
        );
    }

    #[test]
    fn states_read_as_slurm_names_them() {
        assert_eq!(
            JobState::parse("CANCELLED by 0"),
            JobState::Ended("CANCELLED".into())
        );
        assert_eq!(JobState::parse("COMPLETING"), JobState::Completing);
        assert!(JobState::parse("COMPLETING").is_live());
        assert!(JobState::parse("CONFIGURING").is_live());
        assert!(!JobState::parse("NODE_FAIL").is_live());
        assert_eq!(JobState::parse("TIMEOUT").as_str(), "TIMEOUT");
    }
}
