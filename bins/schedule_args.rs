//! The arguments `orc-cron add` and `orc-at add` share: what a schedule
//! runs, and where.

use std::path::PathBuf;

use clap::Args;
use orc_kernel::schedule::front;

/// What a schedule runs, and where.
#[derive(Args)]
pub struct What {
    /// Run `orc-dispatch --label L` (needs orc-dispatch next to this tool).
    #[arg(long)]
    label: Option<String>,
    /// With --label: at most N workers at once (`orc-dispatch --max N`).
    #[arg(long, value_name = "N", requires = "label")]
    max: Option<u64>,
    /// With --label: one pass of the queue (`orc-dispatch --once`): start
    /// what fits and exit; the next run adopts what still runs.
    #[arg(long, requires = "label")]
    once: bool,
    /// Run the agent headless with this prompt.
    #[arg(long)]
    prompt: Option<String>,
    /// The directory runs start in (default: this repository, else here).
    #[arg(long)]
    repo: Option<PathBuf>,
    /// The schedule's id (default: cron- or at- and 8 random hex digits).
    #[arg(long)]
    id: Option<String>,
    /// Print the new entry as JSON.
    #[arg(long)]
    json: bool,
    /// The command to run, after `--`.
    #[arg(last = true)]
    cmd: Vec<String>,
}

impl From<What> for front::What {
    fn from(w: What) -> Self {
        front::What {
            label: w.label,
            max: w.max,
            once: w.once,
            prompt: w.prompt,
            repo: w.repo,
            id: w.id,
            json: w.json,
            cmd: w.cmd,
        }
    }
}
