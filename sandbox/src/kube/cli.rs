//! `zis-sandbox kube`: runs the server until SIGINT or SIGTERM, after writing a kubeconfig and
//! announcing the URL on stdout.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;

use super::{DEFAULT_HISTORY, KubeSandbox};

/// Command-line arguments of `zis-sandbox kube`.
#[derive(Debug, clap::Args)]
pub struct KubeArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Write a kubeconfig pointing at the server (dummy token user, current context) here.
    #[arg(long)]
    pub kubeconfig_out: Option<PathBuf>,
    /// How many events the watch history keeps; older resourceVersions get 410 Gone.
    #[arg(long, default_value_t = DEFAULT_HISTORY)]
    pub history: usize,
    /// Log every request (method, path and query, response code; never bodies) on stderr.
    #[arg(long)]
    pub log_requests: bool,
}

/// Runs `zis-sandbox kube` until SIGINT or SIGTERM.
pub async fn run(args: KubeArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    if args.log_requests {
        // Ignored when the embedding program installed a subscriber already.
        let _ = tracing_subscriber::fmt()
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .with_env_filter("zis_sandbox::kube::requests=debug")
            .try_init();
    }
    let sandbox = KubeSandbox::start_with_history(args.listen, args.history).await?;
    if let Some(path) = &args.kubeconfig_out {
        sandbox
            .write_kubeconfig(path)
            .map_err(|e| format!("cannot write kubeconfig {}: {e}", path.display()))?;
    }
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "kube sandbox listening on {}", sandbox.url())?;
        stdout.flush()?;
    }
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        result = tokio::signal::ctrl_c() => result?,
        _ = terminate.recv() => {}
    }
    sandbox.shutdown().await;
    Ok(())
}
