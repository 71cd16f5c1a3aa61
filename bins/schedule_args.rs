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
            prompt: w.prompt,
            repo: w.repo,
            id: w.id,
            json: w.json,
            cmd: w.cmd,
        }
    }
}
