//! What every tool's `main` shares on the clap side (the kernel has no clap).

use std::process::ExitCode;

/// The hidden first argument by which `orc completions` and `orc man` ask a
/// tool for what its clap definition generates: `--orc-generate bash|zsh|
/// fish|man`. Read before clap, so it never shows in help, completions or
/// man pages, and it cannot clash with a tool's own flags.
pub const GENERATE: &str = "--orc-generate";

/// Parse the command line. A parse error is printed like every orc error
/// (`orc-<tool>: error: …`, exit 2); `--help` and `--version` go to stdout
/// and exit 0. `Err` carries the exit code to return from `main`: also
/// after `--orc-generate`, which prints the tool's completion script or
/// man page instead of running it.
pub fn parse<T: clap::Parser>(tool: &str) -> Result<T, ExitCode> {
    if let Some(code) = generated::<T>(tool) {
        return Err(code);
    }
    T::try_parse().map_err(|e| {
        if e.use_stderr() {
            orc_kernel::cli::usage_error(tool, &e.to_string())
        } else {
            let _ = e.print();
            ExitCode::SUCCESS
        }
    })
}

/// When the command line is `--orc-generate WHAT`, print what `T`
/// generates and return the exit code; otherwise `None`.
pub fn generated<T: clap::CommandFactory>(tool: &str) -> Option<ExitCode> {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() != Some(GENERATE) {
        return None;
    }
    Some(generate::<T>(tool, args.next().as_deref().unwrap_or("")))
}

/// Print the completion script for `what` (bash, zsh, fish) or the man
/// page (man) of `T`, named `tool`.
fn generate<T: clap::CommandFactory>(tool: &str, what: &str) -> ExitCode {
    use clap_complete::Shell;
    use std::io::Write;
    let mut cmd = T::command().bin_name(tool);
    let mut out = std::io::stdout().lock();
    let shell = match what {
        "bash" => Shell::Bash,
        "zsh" => Shell::Zsh,
        "fish" => Shell::Fish,
        "man" => {
            let written = clap_mangen::Man::new(cmd).render(&mut out);
            return match written.and_then(|()| out.flush()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
                Err(e) => orc_kernel::cli::usage_error(tool, &format!("error: {e} (stdout)")),
            };
        }
        other => {
            return orc_kernel::cli::usage_error(
                tool,
                &format!("error: nothing to generate for '{other}' (bash, zsh, fish or man)"),
            );
        }
    };
    clap_complete::generate(shell, &mut cmd, tool, &mut out);
    let _ = out.flush();
    ExitCode::SUCCESS
}
