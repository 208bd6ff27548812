//! `zis-operator`: prints the CRDs (`crd`) or runs the operator (`run`).

use std::process::ExitCode;

use clap::Parser;
use zis_operator::cli::{Cli, Command, CrdArgs};

fn crd_yaml(which: &CrdArgs) -> Result<String, serde_yaml::Error> {
    use zis_operator::resource;
    match (which.connection, which.integration) {
        (true, _) => resource::crd_yaml(),
        (_, true) => resource::integration_crd_yaml(),
        _ => resource::all_crds_yaml(),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Crd(which) => match crd_yaml(&which) {
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
