//! What every tool's `main` shares on the clap side (the kernel has no clap).

use std::process::ExitCode;

/// Parse the command line. A parse error is printed like every orc error
/// (`orc-<tool>: error: …`, exit 2); `--help` and `--version` go to stdout
/// and exit 0. `Err` carries the exit code to return from `main`.
pub fn parse<T: clap::Parser>(tool: &str) -> Result<T, ExitCode> {
    T::try_parse().map_err(|e| {
        if e.use_stderr() {
            orc_kernel::cli::usage_error(tool, &e.to_string())
        } else {
            let _ = e.print();
            ExitCode::SUCCESS
        }
    })
}
