//! The real `zis-operator` binary as a child process: spawned with the command line of the
//! operator contract, its stdout and stderr captured to a log file, killed (SIGKILL) when the
//! guard is dropped so a failing test never leaves an operator behind.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The environment variables the operator reads; removed from the child's environment so the
/// developer's shell never changes what a test runs.
const OPERATOR_ENV: &[&str] = &[
    "ZIS_ZENDESK_URL",
    "ZIS_SUBDOMAIN",
    "ZIS_CREDENTIALS_SECRET",
    "ZIS_ALLOW_HTTP",
    "ZIS_RESYNC_INTERVAL",
    "ZIS_CONCURRENCY",
    "ZIS_NAMESPACE",
    "ZIS_NAMESPACE_SELECTOR",
    "ZIS_INTEGRATION_SELECTOR",
    "ZIS_REQUESTS_PER_MINUTE",
    "ZIS_LOG_FORMAT",
    "ZIS_METRICS_ADDR",
    "ZIS_LEADER_ELECTION",
    "ZIS_LEADER_ELECTION_NAMESPACE",
    "ZIS_LEADER_ELECTION_LEASE",
    "POD_NAME",
    "POD_NAMESPACE",
];

/// Where the operators of the e2e tests keep their leader Leases (each test its own Lease); the
/// operator's RBAC allows Leases there only.
pub const LEASE_NAMESPACE: &str = "zis-system";

/// The label that ties a `ZisIntegration` to the test (its namespace) whose operator serves it.
pub const INTEGRATION_LABEL: &str = "e2e.zis-operator.dev/test";

/// How to run one operator process.
pub struct OperatorCommand<'a> {
    pub kubeconfig: &'a Path,
    pub namespace: &'a str,
    pub zendesk_url: &'a str,
    pub resync_interval: &'a str,
    pub rust_log: &'a str,
    pub log_path: PathBuf,
    /// Configure through the `ZIS_*` environment variables instead of flags.
    pub via_env: bool,
    /// The Lease (in [`LEASE_NAMESPACE`]) and this replica's identity (`POD_NAME`): a restarted
    /// operator with the same identity takes its Lease back at once, as a restarted container.
    pub lease: &'a str,
    pub identity: &'a str,
}

/// A running operator; killed on drop.
pub struct OperatorProcess {
    child: Option<Child>,
    pub log_path: PathBuf,
}

impl OperatorProcess {
    pub fn spawn(command: OperatorCommand<'_>) -> OperatorProcess {
        let log = File::create(&command.log_path).unwrap_or_else(|e| {
            panic!("cannot create {}: {e}", command.log_path.display());
        });
        let log_err = log
            .try_clone()
            .unwrap_or_else(|e| panic!("cannot clone the log file handle: {e}"));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_zis-operator"));
        for name in OPERATOR_ENV {
            cmd.env_remove(name);
        }
        let credentials = format!("{}/zis-credentials", command.namespace);
        // Each test's operator serves the ZisIntegrations (cluster-scoped) of its own test only.
        let integrations = format!("{INTEGRATION_LABEL}={}", command.namespace);
        cmd.arg("run");
        if command.via_env {
            cmd.env("ZIS_NAMESPACE", command.namespace)
                .env("ZIS_ZENDESK_URL", command.zendesk_url)
                .env("ZIS_ALLOW_HTTP", "true")
                .env("ZIS_CREDENTIALS_SECRET", &credentials)
                .env("ZIS_RESYNC_INTERVAL", command.resync_interval)
                .env("ZIS_METRICS_ADDR", "127.0.0.1:0")
                .env("ZIS_LEADER_ELECTION_NAMESPACE", LEASE_NAMESPACE)
                .env("ZIS_LEADER_ELECTION_LEASE", command.lease)
                .env("ZIS_INTEGRATION_SELECTOR", integrations);
        } else {
            cmd.arg("--namespace")
                .arg(command.namespace)
                .arg("--zendesk-url")
                .arg(command.zendesk_url)
                .arg("--allow-http")
                .arg("--credentials-secret")
                .arg(&credentials)
                .arg("--resync-interval")
                .arg(command.resync_interval)
                .args(["--metrics-addr", "127.0.0.1:0"])
                .args(["--leader-election-namespace", LEASE_NAMESPACE])
                .args(["--leader-election-lease", command.lease])
                .args(["--integration-selector", &integrations]);
        }
        cmd.env("KUBECONFIG", command.kubeconfig)
            .env("POD_NAME", command.identity)
            .env("RUST_LOG", command.rust_log)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        let child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start zis-operator: {e}"));
        OperatorProcess {
            child: Some(child),
            log_path: command.log_path,
        }
    }

    /// Kills the process with SIGKILL (no chance to clean up) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sends SIGTERM (a graceful stop, as Kubernetes does before it kills a pod).
    pub fn terminate(&self) {
        if let Some(child) = &self.child {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
        }
    }

    /// Waits up to `timeout` for the process to end; its exit status, if it did.
    pub async fn wait_exit(
        &mut self,
        timeout: std::time::Duration,
    ) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if std::time::Instant::now() > deadline {
                return None;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }

    /// The address the metrics server listens on, from the log (`--metrics-addr 127.0.0.1:0`).
    pub fn metrics_addr(&self) -> Option<String> {
        let log = self.log();
        let line = log
            .lines()
            .find(|line| line.contains("metrics listening on "))?;
        let addr = line.rsplit("metrics listening on ").next()?;
        Some(addr.split_whitespace().next()?.to_owned())
    }

    /// The exit status if the process has ended (None while it runs).
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        match self.child.as_mut() {
            Some(child) => child.try_wait().ok().flatten(),
            None => None,
        }
    }

    /// The whole log so far (lossy UTF-8).
    pub fn log(&self) -> String {
        read_log(&self.log_path)
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn read_log(path: &Path) -> String {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(error) => format!("<cannot read {}: {error}>", path.display()),
    }
}

/// The last `lines` lines of a log, for failure messages.
pub fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}
