//! `zis-sandbox`: the local servers used to develop, test and demonstrate zis-operator.

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "zis-sandbox",
    version,
    about = "Local development servers for zis-operator (never for production)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a local ZIS Connections API server (a test double of Zendesk's).
    Zis(zis_sandbox::zis::ZisArgs),
    /// Run an in-memory Kubernetes API server that kubectl and kube-rs accept.
    Kube(zis_sandbox::kube::KubeArgs),
    /// Show the operator's whole lifecycle locally: Kubernetes sandbox, local ZIS and the real
    /// zis-operator binary, with no cluster and no Zendesk account.
    Demo(zis_sandbox::demo::DemoArgs),
    /// Measure the operator with many connections on one rate-limited account (issue 9): prints
    /// one JSON object (docs/benchmark.md).
    Bench(zis_sandbox::bench::BenchArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Zis(args) => zis_sandbox::zis::run(args).await,
        Command::Kube(args) => zis_sandbox::kube::run(args).await,
        Command::Demo(args) => zis_sandbox::demo::run(args).await,
        Command::Bench(args) => zis_sandbox::bench::run_cli(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("zis-sandbox: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}
