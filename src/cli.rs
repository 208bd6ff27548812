//! The command line: `zis-operator run ...` and `zis-operator crd`. Every `run` flag can also come
//! from an environment variable (`ZIS_...`). Parsing only; nothing here touches the network.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// Kubernetes operator that keeps Zendesk Integration Services bearer-token connections in sync
/// with `ZisBearerConnection` objects and their Secrets.
#[derive(Debug, Parser)]
#[command(name = "zis-operator", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the operator against the cluster of KUBECONFIG, ~/.kube/config or in-cluster config.
    Run(Box<RunArgs>),
    /// Print the CustomResourceDefinitions as YAML (both, what `crds/` holds), or one of them.
    Crd(CrdArgs),
}

/// Flags of `zis-operator crd`.
#[derive(Debug, Clone, Args)]
pub struct CrdArgs {
    /// Only `ZisBearerConnection` (crds/zisbearerconnections.yaml).
    #[arg(long, conflicts_with = "integration")]
    pub connection: bool,
    /// Only `ZisIntegration` (crds/zisintegrations.yaml).
    #[arg(long)]
    pub integration: bool,
}

/// Flags of `zis-operator run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Base URL of the Zendesk account of the simple mode (for example https://acme.zendesk.com or
    /// a local server). This or --subdomain goes with --credentials-secret.
    // Not `required_unless_present`: clap's error would name only this flag; the operator's own
    // (`RunError::NoZendesk`) names both flags and their environment variables.
    #[arg(long, env = "ZIS_ZENDESK_URL", conflicts_with = "subdomain")]
    pub zendesk_url: Option<String>,

    /// Zendesk subdomain of the simple mode: the account at https://SUBDOMAIN.zendesk.com. This or
    /// --zendesk-url goes with --credentials-secret.
    #[arg(long, env = "ZIS_SUBDOMAIN")]
    pub subdomain: Option<String>,

    /// NAMESPACE/NAME of the Secret holding the operator's ZIS access tokens: the simple
    /// single-account mode, for the integrations no ZisIntegration serves. Without it, only
    /// ZisIntegrations serve integrations.
    #[arg(long, env = "ZIS_CREDENTIALS_SECRET", value_parser = parse_secret_ref)]
    pub credentials_secret: Option<SecretRef>,

    /// Which namespaces may use the simple mode, as `kubectl -l` takes a selector (for example
    /// `zis-operator.dev/simple-mode=allowed`). Default: every namespace.
    #[arg(long, env = "ZIS_NAMESPACE_SELECTOR")]
    pub namespace_selector: Option<String>,

    /// Accept a plain http:// Zendesk URL (local test servers only).
    /// (The environment variable accepts true/false, 1/0, yes/no, on/off.)
    #[arg(long, env = "ZIS_ALLOW_HTTP", action = clap::ArgAction::SetTrue, value_parser = clap::builder::BoolishValueParser::new())]
    pub allow_http: bool,

    /// How often every connection is compared with the remote (jittered).
    #[arg(long, env = "ZIS_RESYNC_INTERVAL", default_value = "10m", value_parser = parse_duration)]
    pub resync_interval: Duration,

    /// How many objects are reconciled at once.
    #[arg(long, env = "ZIS_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,

    /// Watch only this namespace (objects and Secrets); default: all namespaces.
    #[arg(long, env = "ZIS_NAMESPACE")]
    pub namespace: Option<String>,

    /// Sustained ZIS requests per minute for the whole account.
    #[arg(long, env = "ZIS_REQUESTS_PER_MINUTE", default_value_t = 400, value_parser = clap::value_parser!(u32).range(1..))]
    pub requests_per_minute: u32,

    /// Log line format on stderr.
    #[arg(long, env = "ZIS_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// IP:PORT of the HTTP server for /metrics, /healthz and /readyz (port 0: any free port);
    /// `off` disables it. The operator exits at startup if the address cannot be bound.
    #[arg(long, env = "ZIS_METRICS_ADDR", default_value = "0.0.0.0:8080", value_parser = parse_metrics_addr)]
    pub metrics_addr: MetricsAddr,

    /// Run only while holding a Lease, so several replicas can run and exactly one reconciles.
    /// `false` for a single replica that never waits for one.
    #[arg(long, env = "ZIS_LEADER_ELECTION", default_value_t = true, action = clap::ArgAction::Set, value_parser = clap::builder::BoolishValueParser::new())]
    pub leader_election: bool,

    /// Namespace of the Lease. Default: the pod's own namespace in a cluster (POD_NAMESPACE or
    /// the service account's), else the namespace of --credentials-secret.
    #[arg(long, env = "ZIS_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,

    /// Name of the Lease; replicas that share it elect one leader.
    #[arg(
        long,
        env = "ZIS_LEADER_ELECTION_LEASE",
        default_value = "zis-operator"
    )]
    pub leader_election_lease: String,
}

/// Where the metrics server listens, if anywhere.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricsAddr {
    Off,
    Listen(SocketAddr),
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// A `NAMESPACE/NAME` reference to a Secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}

impl std::fmt::Display for SecretRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A command-line value that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("expected NAMESPACE/NAME, got {0:?}")]
    SecretRef(String),
    #[error(
        "invalid duration {0:?}: use a number with ms, s, m or h (for example 500ms, 30s, 10m, 1h)"
    )]
    Duration(String),
    #[error("invalid metrics address {0:?}: use IP:PORT (for example 0.0.0.0:8080) or off")]
    MetricsAddr(String),
}

pub fn parse_secret_ref(value: &str) -> Result<SecretRef, ParseError> {
    match value.split_once('/') {
        Some((namespace, name))
            if !namespace.is_empty() && !name.is_empty() && !name.contains('/') =>
        {
            Ok(SecretRef {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
            })
        }
        _ => Err(ParseError::SecretRef(value.to_owned())),
    }
}

/// Parses `IP:PORT`, or `off` (or an empty value) for no metrics server.
pub fn parse_metrics_addr(value: &str) -> Result<MetricsAddr, ParseError> {
    let trimmed = value.trim();
    if trimmed.is_empty() || trimmed.eq_ignore_ascii_case("off") {
        return Ok(MetricsAddr::Off);
    }
    trimmed
        .parse()
        .map(MetricsAddr::Listen)
        .map_err(|_| ParseError::MetricsAddr(value.to_owned()))
}

/// Parses `500ms`, `30s`, `10m`, `1h` (a whole number and one unit).
pub fn parse_duration(value: &str) -> Result<Duration, ParseError> {
    let err = || ParseError::Duration(value.to_owned());
    let trimmed = value.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(err)?;
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| err())?;
    let millis_per_unit: u64 = match unit {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(err()),
    };
    let millis = number.checked_mul(millis_per_unit).ok_or_else(err)?;
    if millis == 0 {
        return Err(err());
    }
    Ok(Duration::from_millis(millis))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_accept_milliseconds_seconds_minutes_and_hours() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
    }

    #[test]
    fn durations_without_a_known_unit_or_zero_are_refused() {
        for bad in ["10", "m", "1d", "-1s", "0s", "1.5s", ""] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn secret_references_need_a_namespace_and_a_name() {
        assert_eq!(
            parse_secret_ref("ops/zis-credentials"),
            Ok(SecretRef {
                namespace: "ops".into(),
                name: "zis-credentials".into()
            })
        );
        for bad in ["zis-credentials", "/x", "x/", "a/b/c"] {
            assert!(parse_secret_ref(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn run_flags_parse_with_their_defaults() {
        let cli = Cli::try_parse_from([
            "zis-operator",
            "run",
            "--zendesk-url",
            "http://127.0.0.1:1",
            "--allow-http",
            "--credentials-secret",
            "ns/creds",
        ])
        .expect("parses");
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.resync_interval, Duration::from_secs(600));
        assert!(args.allow_http);
        assert_eq!(args.namespace, None);
        assert_eq!(
            args.metrics_addr,
            MetricsAddr::Listen(SocketAddr::from(([0, 0, 0, 0], 8080)))
        );
    }

    #[test]
    fn metrics_addresses_are_ip_and_port_or_off() {
        assert_eq!(
            parse_metrics_addr("127.0.0.1:0"),
            Ok(MetricsAddr::Listen(SocketAddr::from(([127, 0, 0, 1], 0))))
        );
        assert_eq!(
            parse_metrics_addr("[::]:9090"),
            Ok(MetricsAddr::Listen("[::]:9090".parse().expect("valid")))
        );
        assert_eq!(parse_metrics_addr("off"), Ok(MetricsAddr::Off));
        assert_eq!(parse_metrics_addr(""), Ok(MetricsAddr::Off));
        for bad in ["8080", "localhost:8080", "1.2.3.4", "1.2.3.4:99999"] {
            assert!(parse_metrics_addr(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn run_takes_a_zendesk_url_or_a_subdomain_but_not_both() {
        let base = ["zis-operator", "run", "--credentials-secret", "ns/creds"];
        // Neither parses: `run` refuses it with a message naming both ways (see runtime).
        let Command::Run(args) = Cli::try_parse_from(base).expect("parses").command else {
            panic!("not run")
        };
        assert_eq!((args.zendesk_url, args.subdomain), (None, None));
        let both = [
            &base[..],
            &["--zendesk-url", "https://x.zendesk.com", "--subdomain", "x"],
        ]
        .concat();
        assert!(Cli::try_parse_from(both).is_err());
    }
}
