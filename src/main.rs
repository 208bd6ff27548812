//! `zis-operator`: prints the CRD (`crd`) or runs the operator (`run`).

use std::process::ExitCode;

use clap::Parser;
use zis_operator::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd => match zis_operator::resource::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("zis-operator: could not render the crd: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Run(args) => zis_operator::runtime::main(*args),
    }
}
