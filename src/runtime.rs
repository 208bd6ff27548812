//! Process setup for `zis-operator run`: logging, the tokio runtime, the controller.

use std::process::ExitCode;

use crate::cli::RunArgs;

/// Runs the operator until SIGINT or SIGTERM.
pub fn main(args: RunArgs) -> ExitCode {
    let _ = args;
    eprintln!("zis-operator: the controller is not wired yet");
    ExitCode::FAILURE
}
