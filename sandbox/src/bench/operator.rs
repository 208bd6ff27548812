//! The operator under test as a process of its own (so that its memory and CPU are its own):
//! started with the benchmark's flags, its log in a file, its `/metrics` address read from that
//! log, its CPU time and peak memory read from `/proc`. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::BenchError;
use super::report::{KubeWrites, reconciles_from_metrics};

/// The environment variables the operator reads: removed from the child's environment so the
/// caller's shell never changes what is measured.
const OPERATOR_ENV: &[&str] = &[
    "ZIS_ZENDESK_URL",
    "ZIS_SUBDOMAIN",
    "ZIS_CREDENTIALS_SECRET",
    "ZIS_ALLOW_HTTP",
    "ZIS_RESYNC_INTERVAL",
    "ZIS_CONCURRENCY",
    "ZIS_NAMESPACE",
    "ZIS_REQUESTS_PER_MINUTE",
    "ZIS_LOG_FORMAT",
    "ZIS_METRICS_ADDR",
    "ZIS_LEADER_ELECTION",
    "ZIS_LEADER_ELECTION_NAMESPACE",
    "ZIS_LEADER_ELECTION_LEASE",
    "POD_NAME",
    "POD_NAMESPACE",
];

/// How long a SIGTERM may take before the process is killed (the operator's own grace for
/// reconciles in flight is 20 s).
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// Everything an operator process is started with.
#[derive(Debug, Clone)]
pub(super) struct Launch {
    pub binary: PathBuf,
    pub kubeconfig: PathBuf,
    pub zendesk_url: String,
    pub credentials_secret: String,
    pub resync_interval: Duration,
    pub requests_per_minute: u32,
    pub concurrency: Option<u16>,
    pub rust_log: String,
    /// CPUs the process may run on (`taskset -c` syntax); `None`: any.
    pub cpus: Option<String>,
}

/// A running operator process.
pub(super) struct Operator {
    child: Option<Child>,
    pid: u32,
    log_path: PathBuf,
    started: Instant,
    metrics_url: Option<String>,
    clock_ticks: f64,
    /// CPU time at the last reading (kept once the process is gone).
    cpu: CpuTime,
    peak_rss_kib: u64,
}

impl Operator {
    pub fn spawn(launch: &Launch, log_path: &Path) -> Result<Operator, BenchError> {
        let log = std::fs::File::create(log_path)?;
        // `taskset` execs the operator: the process (and its pid) is the operator's.
        let mut command = match &launch.cpus {
            Some(cpus) => {
                let mut taskset = Command::new("taskset");
                taskset.args(["-c", cpus]).arg(&launch.binary);
                taskset
            }
            None => Command::new(&launch.binary),
        };
        for name in OPERATOR_ENV {
            command.env_remove(name);
        }
        command
            .arg("run")
            .args(["--zendesk-url", &launch.zendesk_url, "--allow-http"])
            .args(["--credentials-secret", &launch.credentials_secret])
            .args([
                "--resync-interval",
                &format!("{}ms", launch.resync_interval.as_millis()),
            ])
            .args([
                "--requests-per-minute",
                &launch.requests_per_minute.to_string(),
            ])
            // One replica: no Lease to wait for, also when restarted.
            .args(["--leader-election", "false"])
            .args(["--metrics-addr", "127.0.0.1:0"]);
        if let Some(concurrency) = launch.concurrency {
            command.args(["--concurrency", &concurrency.to_string()]);
        }
        command
            .env("KUBECONFIG", &launch.kubeconfig)
            .env("RUST_LOG", &launch.rust_log)
            .env_remove("RUST_BACKTRACE")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log));
        let child = command.spawn().map_err(|error| {
            let under = if launch.cpus.is_some() {
                " under taskset"
            } else {
                ""
            };
            BenchError::Operator(format!(
                "cannot start {}{under}: {error}",
                launch.binary.display()
            ))
        })?;
        Ok(Operator {
            pid: child.id(),
            child: Some(child),
            log_path: log_path.to_owned(),
            started: Instant::now(),
            metrics_url: None,
            clock_ticks: clock_ticks_per_second(),
            cpu: CpuTime::default(),
            peak_rss_kib: 0,
        })
    }

    /// Waits until the operator serves `/readyz` with 200 (its caches are synced); how long that
    /// took from the start of the process.
    pub async fn wait_ready(
        &mut self,
        http: &reqwest::Client,
        timeout: Duration,
    ) -> Result<Duration, BenchError> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(BenchError::Operator(format!(
                    "the operator exited ({status}) before it was ready; last lines of {}:\n{}",
                    self.log_path.display(),
                    self.log_tail(20)
                )));
            }
            if self.metrics_url.is_none() {
                self.metrics_url = metrics_addr(&self.log()).map(|addr| format!("http://{addr}"));
            }
            if let Some(url) = &self.metrics_url {
                let ready = http
                    .get(format!("{url}/readyz"))
                    .send()
                    .await
                    .is_ok_and(|answer| answer.status().is_success());
                if ready {
                    return Ok(self.started.elapsed());
                }
            }
            if Instant::now() > deadline {
                return Err(BenchError::Timeout(format!(
                    "the operator was not ready within {timeout:?}; last lines of {}:\n{}",
                    self.log_path.display(),
                    self.log_tail(20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The operator's Kubernetes write counters (from `/metrics`), read now.
    pub async fn kube_writes(&self, http: &reqwest::Client) -> Result<KubeWrites, BenchError> {
        Ok(KubeWrites::from_metrics(&self.metrics(http).await?))
    }

    /// How many reconciles the operator has run (whatever their outcome), read now.
    pub async fn reconciles(&self, http: &reqwest::Client) -> Result<u64, BenchError> {
        Ok(reconciles_from_metrics(&self.metrics(http).await?))
    }

    /// The operator's `/metrics`, as text.
    async fn metrics(&self, http: &reqwest::Client) -> Result<String, BenchError> {
        let url = self.metrics_url.as_ref().ok_or_else(|| {
            BenchError::Operator("the operator's metrics address is not known yet".into())
        })?;
        Ok(http
            .get(format!("{url}/metrics"))
            .send()
            .await?
            .error_for_status()?
            .text()
            .await?)
    }

    /// Reads CPU time and peak memory now (both only grow).
    pub fn sample(&mut self) {
        if let Some((_, cpu)) = read_stat(self.pid, self.clock_ticks) {
            self.cpu = self.cpu.latest(cpu);
        }
        if let Some(hwm) = read_peak_rss_kib(self.pid) {
            self.peak_rss_kib = self.peak_rss_kib.max(hwm);
        }
    }

    pub fn cpu_seconds(&self) -> f64 {
        self.cpu.total()
    }

    pub fn cpu_time(&self) -> CpuTime {
        self.cpu
    }

    pub fn peak_rss_kib(&self) -> u64 {
        self.peak_rss_kib
    }

    /// Stops the process as Kubernetes stops a pod (SIGTERM, then SIGKILL after
    /// [`STOP_TIMEOUT`]) and reads its final CPU time before it is reaped: a process that has
    /// exited but was not yet waited for still shows its times in `/proc/PID/stat`.
    pub async fn stop(&mut self) -> Result<(), BenchError> {
        let Some(mut child) = self.child.take() else {
            return Ok(());
        };
        self.sample();
        signal(self.pid, "-TERM");
        let deadline = Instant::now() + STOP_TIMEOUT;
        while let Some((state, cpu)) = read_stat(self.pid, self.clock_ticks) {
            self.cpu = self.cpu.latest(cpu);
            if state == 'Z' || state == 'X' {
                break;
            }
            if Instant::now() > deadline {
                eprintln!(
                    "bench: the operator did not stop within {STOP_TIMEOUT:?} of SIGTERM; killing it"
                );
                let _ = child.kill();
                break;
            }
            // Shutting down may still take memory.
            if let Some(hwm) = read_peak_rss_kib(self.pid) {
                self.peak_rss_kib = self.peak_rss_kib.max(hwm);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::task::spawn_blocking(move || child.wait())
            .await
            .map_err(|e| BenchError::Operator(format!("waiting for the operator: {e}")))??;
        Ok(())
    }

    /// The exit status, if the process has ended.
    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut()?.try_wait().ok().flatten()
    }

    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    fn log(&self) -> String {
        std::fs::read(&self.log_path)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
            .unwrap_or_default()
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let log = self.log();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, signal: &str) {
    let _ = Command::new("kill")
        .arg(signal)
        .arg(pid.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// `ADDR` of the operator's log line `metrics listening on ADDR`.
fn metrics_addr(log: &str) -> Option<String> {
    let line = log
        .lines()
        .find(|line| line.contains("metrics listening on "))?;
    let addr = line.rsplit("metrics listening on ").next()?;
    Some(addr.split_whitespace().next()?.to_owned())
}

/// User and system CPU time of a process, in seconds.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub(super) struct CpuTime {
    pub user: f64,
    pub system: f64,
}

impl CpuTime {
    pub fn total(self) -> f64 {
        self.user + self.system
    }

    /// What was spent since `earlier`.
    pub fn since(self, earlier: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }

    /// The later of two readings of one process (both only grow).
    fn latest(self, reading: CpuTime) -> CpuTime {
        CpuTime {
            user: self.user.max(reading.user),
            system: self.system.max(reading.system),
        }
    }
}

/// The process state letter and its CPU time, from `/proc/PID/stat`.
fn read_stat(pid: u32, clock_ticks: f64) -> Option<(char, CpuTime)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text, clock_ticks)
}

fn parse_stat(text: &str, clock_ticks: f64) -> Option<(char, CpuTime)> {
    // The command name (field 2) is in parentheses and may hold spaces: count from after it.
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    // Fields 14 and 15 of proc(5): utime and stime, in clock ticks.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    let cpu = CpuTime {
        user: utime / clock_ticks,
        system: stime / clock_ticks,
    };
    Some((state, cpu))
}

/// `VmHWM` (peak resident set size) of `/proc/PID/status`, in KiB.
fn read_peak_rss_kib(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_peak_rss_kib(&text)
}

fn parse_peak_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
}

/// `getconf CLK_TCK` (100 on every Linux this runs on, asked anyway).
fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|ticks| *ticks > 0.0)
        .unwrap_or(100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_time_is_read_after_the_command_name_even_with_spaces_in_it() {
        let stat = "4242 (zis operator) S 1 4242 4242 0 -1 4194560 2000 0 0 0 250 50 0 0 20 0 \
                    9 0 12345 100000000 5000 18446744073709551615";
        let cpu = CpuTime {
            user: 2.5,
            system: 0.5,
        };
        assert_eq!(parse_stat(stat, 100.0), Some(('S', cpu)));
        assert_eq!(cpu.total(), 3.0);
        assert_eq!(parse_stat("garbage", 100.0), None);
    }

    #[test]
    fn peak_memory_is_the_vmhwm_line() {
        let status =
            "Name:\tzis-operator\nVmPeak:\t  900000 kB\nVmHWM:\t   23456 kB\nVmRSS:\t 20000 kB\n";
        assert_eq!(parse_peak_rss_kib(status), Some(23_456));
        assert_eq!(parse_peak_rss_kib("Name:\tx\n"), None);
    }

    #[test]
    fn the_metrics_address_comes_from_the_log_line() {
        let log = "2026-01-01T00:00:00Z  INFO zis_operator::runtime: metrics listening on 127.0.0.1:41234 addr=127.0.0.1:41234\n";
        assert_eq!(metrics_addr(log).as_deref(), Some("127.0.0.1:41234"));
        assert_eq!(metrics_addr("nothing here"), None);
    }

    #[test]
    fn an_exited_process_still_shows_its_cpu_time_until_it_is_reaped() {
        let mut child = Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .spawn()
            .expect("sh runs");
        let ticks = clock_ticks_per_second();
        let deadline = Instant::now() + Duration::from_secs(60);
        let cpu = loop {
            let (state, cpu) = read_stat(child.id(), ticks).expect("stat while not reaped");
            if state == 'Z' {
                break cpu;
            }
            assert!(Instant::now() < deadline, "sh did not end");
            std::thread::sleep(Duration::from_millis(10));
        };
        assert!(cpu.total() > 0.0, "an exited busy loop shows no CPU time");
        child.wait().expect("reaped");
        assert!(read_stat(child.id(), ticks).is_none());
    }

    #[test]
    fn this_process_has_a_cpu_time_and_a_peak_memory() {
        let pid = std::process::id();
        let (state, cpu) = read_stat(pid, clock_ticks_per_second()).expect("own stat");
        assert!(state.is_ascii_alphabetic());
        assert!(cpu.user >= 0.0 && cpu.system >= 0.0);
        assert!(read_peak_rss_kib(pid).expect("own status") > 0);
    }
}
