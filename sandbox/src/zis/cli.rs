//! The command line of `zis-sandbox zis`: flags, their checks, and the run until SIGINT/SIGTERM.

use std::fmt;
use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::time::Duration;

use clap::ArgAction;

use super::auth::Scope;
use super::validation::is_valid_integration_key;
use super::{
    AccessTokenConfig, FakeZis, FakeZisConfig, FakeZisOptions, OAuthClientConfig,
    RefreshTokenConfig,
};

const AFTER_HELP: &str = "\
Runs a local ZIS Connections API server: a test double of Zendesk Integration Services that \
serves the bearer_token, api_key and basic_auth connection endpoints and the paginated \
connections/all list under /api/services/zis/integrations/{integration}/connections/, with the \
vendor's statuses, bodies and error codes.

Once ready it prints exactly one line, `zis fake listening on http://HOST:PORT`, on stdout and \
serves until SIGINT or SIGTERM, then exits 0. Logs go to stderr (RUST_LOG sets the level, default \
info; per-request lines at debug); no secret is ever logged.

Everything under /_fake/ is a TEST FACILITY that the real ZIS never serves: it shows the true \
secrets, seeds and changes connections, reads request counters, changes the switches below at \
run time (/_fake/settings), injects faults (/_fake/faults), adds access tokens and resets. \
Never expose this server beyond your machine.

Answers: 201/200 bodies wrapped in the type with secrets as \"*****\"; 204 with an empty body \
on PATCH and DELETE; errors {\"errors\":[{\"code\",\"title\"}]} with the vendor's codes \
(InvalidIntegration 400, InvalidCredentials 401, Forbidden 403, NotFound 404, Conflict 409, \
TooManyRequests 429) and these 400s of the fake's own: InvalidBody, MissingField, InvalidField, \
InvalidName, InvalidAllowedDomain, InvalidHeaderName, AllowedDomainImmutable, InvalidPageSize, \
InvalidCursor. A token of another integration gets 403 Forbidden; an unknown integration gets \
400 InvalidIntegration on create, update and list, 404 NotFound on show and delete. A 401 also \
carries `WWW-Authenticate: Bearer ...`, with error=\"invalid_token\" for an unknown, revoked or \
expired token.

OAuth: POST /oauth/tokens serves Zendesk's token endpoint for the OAuth clients of \
--oauth-client (or /_fake/oauth/clients): grant_type=refresh_token (single use: the answer \
carries the next refresh token, the old one and the grant's access tokens stop working) and \
grant_type=client_credentials (only for clients that allow it), JSON or form bodies, \
expires_in 300..172800 s (default 1800), refresh_token_expires_in 604800..7776000 s (default \
2592000). Errors {\"error\",\"error_description\"}: invalid_request, unsupported_grant_type, \
invalid_scope, unauthorized_client, invalid_grant 400; invalid_client 401. Tokens issued there \
open the client's integration on the Connections API until they expire; /_fake/clock moves the \
token clock forward, /_fake/oauth/grants issues and revokes grants.

Examples:
  zis-sandbox zis --listen 127.0.0.1:0 --integration my_integration --access-token s3cret
  zis-sandbox zis --listen 127.0.0.1:0 --oauth-client my_integration:zis_my_integration=client-s3cret \
    --oauth-refresh-token zis_my_integration=first-refresh-token";

/// Command-line arguments of `zis-sandbox zis`.
#[derive(clap::Args)]
#[command(after_help = AFTER_HELP)]
pub struct ZisArgs {
    /// Address to listen on; port 0 picks a free port (the ready line shows the one chosen).
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Integration key the server knows (repeatable): up to 64 of lowercase a-z, 0-9, '-', '_'.
    /// Requests naming any other integration get 400 InvalidIntegration (404 on show/delete).
    #[arg(long = "integration", value_name = "NAME")]
    pub integrations: Vec<String>,

    /// Access token (repeatable): the n-th --access-token belongs to the n-th --integration,
    /// with scopes `read write` and no expiry. Integrations may outnumber tokens, not the reverse.
    #[arg(long = "access-token", value_name = "TOKEN")]
    pub access_tokens: Vec<String>,

    /// Richer access token (repeatable): `INTEGRATION:SCOPES[:TTL_SECONDS]=TOKEN`, SCOPES being
    /// `read`, `write` or `read,write`; e.g. `my_integration:read:1800=abc` is a read-only token
    /// expiring 30 minutes after start. The integration is registered if not given otherwise.
    // Parsed in `into_config`, not by clap, whose errors would repeat the token.
    #[arg(long = "scoped-token", value_name = "SPEC")]
    pub scoped_tokens: Vec<String>,

    /// OAuth client (repeatable): `INTEGRATION:CLIENT_ID[:client_credentials]=SECRET`; its
    /// tokens carry `read write` on that integration (registered if not given otherwise), and
    /// `:client_credentials` allows grant_type=client_credentials.
    // Parsed in `into_config`, not by clap, whose errors would repeat the secret.
    #[arg(long = "oauth-client", value_name = "SPEC")]
    pub oauth_clients: Vec<String>,

    /// Refresh token that exists from start (repeatable): `CLIENT_ID[:LIFETIME_SECONDS]=TOKEN`,
    /// for a client of --oauth-client, living 30 days unless said otherwise.
    #[arg(long = "oauth-refresh-token", value_name = "SPEC")]
    pub oauth_refresh_tokens: Vec<String>,

    /// Whether PATCH may change a connection's allowed_domain; with `false` a PATCH with a
    /// different allowed_domain gets 400 AllowedDomainImmutable.
    #[arg(long, value_name = "BOOL", default_value_t = true, action = ArgAction::Set)]
    pub patch_allowed_domain: bool,

    /// Requests per minute for the whole account (sliding one-minute window) before 429
    /// TooManyRequests with Retry-After; 0 means unlimited. While set, every API answer carries
    /// X-Rate-Limit and X-Rate-Limit-Remaining.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub rate_limit_per_minute: u32,

    /// Milliseconds added to every API answer, after the request took effect (a slow network).
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub latency_ms: u64,

    /// Probability (0 to 1) that an API request is answered 500, 502, 503 or 504 without taking
    /// effect.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub error_rate: f64,

    /// Probability (0 to 1) that the connection is closed without an answer after the request
    /// took effect.
    #[arg(long, value_name = "P", default_value_t = 0.0)]
    pub drop_rate: f64,
}

// Access tokens are secrets: Debug shows how many, never which.
impl fmt::Debug for ZisArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ZisArgs")
            .field("listen", &self.listen)
            .field("integrations", &self.integrations)
            .field("access_tokens", &self.access_tokens.len())
            .field("scoped_tokens", &self.scoped_tokens.len())
            .field("oauth_clients", &self.oauth_clients.len())
            .field("oauth_refresh_tokens", &self.oauth_refresh_tokens.len())
            .field("patch_allowed_domain", &self.patch_allowed_domain)
            .field("rate_limit_per_minute", &self.rate_limit_per_minute)
            .field("latency_ms", &self.latency_ms)
            .field("error_rate", &self.error_rate)
            .field("drop_rate", &self.drop_rate)
            .finish()
    }
}

/// A command line that cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    #[error("--access-token is given {tokens} times but --integration only {integrations} times")]
    TooManyTokens { tokens: usize, integrations: usize },
    #[error("invalid integration key {0:?}: up to 64 of lowercase a-z, 0-9, '-' and '_'")]
    IntegrationKey(String),
    #[error("an access token is empty")]
    EmptyToken,
    #[error("invalid --scoped-token: {0}")]
    ScopedToken(String),
    #[error("invalid --oauth-client: {0}")]
    OAuthClient(String),
    #[error("invalid --oauth-refresh-token: {0}")]
    RefreshToken(String),
    #[error("{0}")]
    Settings(String),
}

/// Parses `INTEGRATION:SCOPES[:TTL_SECONDS]=TOKEN`; messages never repeat the token.
fn parse_scoped_token(spec: &str) -> Result<AccessTokenConfig, String> {
    let form = "expected INTEGRATION:SCOPES[:TTL_SECONDS]=TOKEN";
    let (head, token) = spec.split_once('=').ok_or(form)?;
    if token.is_empty() {
        return Err("the token after '=' is empty".into());
    }
    let mut parts = head.split(':');
    let integration = parts.next().unwrap_or_default();
    if !is_valid_integration_key(integration) {
        return Err(format!("invalid integration key {integration:?}"));
    }
    let scopes = parts
        .next()
        .ok_or(form)?
        .split([',', '+', ' '])
        .filter(|s| !s.is_empty())
        .map(|s| Scope::parse(s).ok_or_else(|| format!("unknown scope {s:?} (read, write)")))
        .collect::<Result<Vec<_>, _>>()?;
    let ttl = match parts.next() {
        None => None,
        Some(seconds) => {
            Some(Duration::from_secs(seconds.parse().map_err(|_| {
                format!("TTL_SECONDS {seconds:?} is not a number")
            })?))
        }
    };
    if parts.next().is_some() {
        return Err(form.into());
    }
    Ok(AccessTokenConfig {
        integration: integration.to_owned(),
        token: token.to_owned(),
        scopes,
        ttl,
    })
}

/// Parses `INTEGRATION:CLIENT_ID[:client_credentials]=SECRET`; messages never repeat the secret.
fn parse_oauth_client(spec: &str) -> Result<OAuthClientConfig, String> {
    let form = "expected INTEGRATION:CLIENT_ID[:client_credentials]=SECRET";
    let (head, secret) = spec.split_once('=').ok_or(form)?;
    if secret.is_empty() {
        return Err("the client secret after '=' is empty".into());
    }
    let mut parts = head.split(':');
    let integration = parts.next().unwrap_or_default();
    if !is_valid_integration_key(integration) {
        return Err(format!("invalid integration key {integration:?}"));
    }
    let client_id = parts.next().filter(|id| !id.is_empty()).ok_or(form)?;
    let mut client = OAuthClientConfig::new(integration, client_id, secret);
    match parts.next() {
        None => {}
        Some("client_credentials") => client.allow_client_credentials = true,
        Some(other) => return Err(format!("unknown option {other:?} (client_credentials)")),
    }
    if parts.next().is_some() {
        return Err(form.into());
    }
    Ok(client)
}

/// Parses `CLIENT_ID[:LIFETIME_SECONDS]=TOKEN`; messages never repeat the token.
fn parse_refresh_token(spec: &str) -> Result<RefreshTokenConfig, String> {
    let form = "expected CLIENT_ID[:LIFETIME_SECONDS]=TOKEN";
    let (head, token) = spec.split_once('=').ok_or(form)?;
    if token.is_empty() {
        return Err("the refresh token after '=' is empty".into());
    }
    let (client_id, lifetime) = match head.split_once(':') {
        None => (head, None),
        Some((client_id, seconds)) => (
            client_id,
            Some(Duration::from_secs(seconds.parse().map_err(|_| {
                format!("LIFETIME_SECONDS {seconds:?} is not a number")
            })?)),
        ),
    };
    if client_id.is_empty() {
        return Err(form.into());
    }
    let mut config = RefreshTokenConfig::new(client_id, token);
    if let Some(lifetime) = lifetime {
        config.lifetime = lifetime;
    }
    Ok(config)
}

impl ZisArgs {
    /// Checks the flags and turns them into the server's configuration.
    pub fn into_config(self) -> Result<(FakeZisConfig, FakeZisOptions), ArgsError> {
        if self.access_tokens.len() > self.integrations.len() {
            return Err(ArgsError::TooManyTokens {
                tokens: self.access_tokens.len(),
                integrations: self.integrations.len(),
            });
        }
        if let Some(bad) = self
            .integrations
            .iter()
            .find(|k| !is_valid_integration_key(k))
        {
            return Err(ArgsError::IntegrationKey(bad.clone()));
        }
        if self.access_tokens.iter().any(String::is_empty) {
            return Err(ArgsError::EmptyToken);
        }
        let mut tokens = self.access_tokens.into_iter();
        let mut config = FakeZisConfig::default();
        let mut options = FakeZisOptions::default();
        for integration in self.integrations {
            match tokens.next() {
                Some(token) => config.integrations.push((integration, token)),
                None => options.extra_integrations.push(integration),
            }
        }
        options.access_tokens = self
            .scoped_tokens
            .iter()
            .map(|spec| parse_scoped_token(spec))
            .collect::<Result<_, _>>()
            .map_err(ArgsError::ScopedToken)?;
        options.oauth_clients = self
            .oauth_clients
            .iter()
            .map(|spec| parse_oauth_client(spec))
            .collect::<Result<_, _>>()
            .map_err(ArgsError::OAuthClient)?;
        options.refresh_tokens = self
            .oauth_refresh_tokens
            .iter()
            .map(|spec| parse_refresh_token(spec))
            .collect::<Result<_, _>>()
            .map_err(ArgsError::RefreshToken)?;
        config.patch_allowed_domain = self.patch_allowed_domain;
        config.rate_limit_per_minute = Some(self.rate_limit_per_minute).filter(|n| *n > 0);
        options.latency_ms = self.latency_ms;
        options.error_rate = self.error_rate;
        options.drop_rate = self.drop_rate;
        super::startup(&config, &options).map_err(ArgsError::Settings)?;
        Ok((config, options))
    }
}

/// Logs to stderr; RUST_LOG overrides the default level (info).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Fails only when a subscriber is already installed, which is fine.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(filter)
        .try_init();
}

/// Runs `zis-sandbox zis` until SIGINT or SIGTERM.
pub async fn run(args: ZisArgs) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    init_logging();
    let listen = args.listen;
    let (config, options) = args.into_config()?;
    // Handlers are installed before the ready line, so a signal sent right after it is caught.
    let mut interrupt = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let integrations: Vec<String> = config
        .integrations
        .iter()
        .map(|(key, _)| key.clone())
        .chain(options.extra_integrations.iter().cloned())
        .chain(options.oauth_clients.iter().map(|c| c.integration.clone()))
        .collect();
    let server = FakeZis::start_with(config, options, listen).await?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "zis fake listening on {}", server.url())?;
        stdout.flush()?;
    }
    tracing::info!(url = %server.url(), ?integrations, "zis fake ready");
    let signal = tokio::select! {
        _ = interrupt.recv() => "SIGINT",
        _ = terminate.recv() => "SIGTERM",
    };
    tracing::info!(signal, "shutting down");
    server.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: ZisArgs,
    }

    fn parse(args: &[&str]) -> Result<(FakeZisConfig, FakeZisOptions), String> {
        let cli = Cli::try_parse_from(std::iter::once("zis").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.args.into_config().map_err(|e| e.to_string())
    }

    #[test]
    fn the_nth_token_belongs_to_the_nth_integration() {
        let (config, options) = parse(&[
            "--integration",
            "one",
            "--access-token",
            "t1",
            "--integration",
            "two",
            "--access-token",
            "t2",
            "--integration",
            "three",
        ])
        .unwrap();
        assert_eq!(
            config.integrations,
            vec![("one".into(), "t1".into()), ("two".into(), "t2".into())]
        );
        assert_eq!(options.extra_integrations, vec!["three".to_owned()]);
        assert!(config.patch_allowed_domain);
        assert_eq!(config.rate_limit_per_minute, None);
    }

    #[test]
    fn more_tokens_than_integrations_or_bad_keys_are_refused() {
        assert!(parse(&["--access-token", "t1"]).is_err());
        assert!(parse(&["--integration", "Bad Key"]).is_err());
        assert!(parse(&["--error-rate", "2"]).is_err());
    }

    #[test]
    fn switches_are_read_from_flags() {
        let (config, options) = parse(&[
            "--patch-allowed-domain",
            "false",
            "--rate-limit-per-minute",
            "600",
            "--latency-ms",
            "5",
            "--drop-rate",
            "0.5",
        ])
        .unwrap();
        assert!(!config.patch_allowed_domain);
        assert_eq!(config.rate_limit_per_minute, Some(600));
        assert_eq!(options.latency_ms, 5);
        assert_eq!(options.drop_rate, 0.5);
    }

    #[test]
    fn oauth_clients_and_refresh_tokens_are_read_from_flags_and_errors_never_show_secrets() {
        let (_, options) = parse(&[
            "--oauth-client",
            "one:zis_one=client=secret",
            "--oauth-client",
            "two:zis_two:client_credentials=other",
            "--oauth-refresh-token",
            "zis_one=refresh-1",
            "--oauth-refresh-token",
            "zis_one:60=refresh-2",
        ])
        .unwrap();
        assert_eq!(options.oauth_clients.len(), 2);
        assert_eq!(options.oauth_clients[0].client_secret, "client=secret");
        assert!(!options.oauth_clients[0].allow_client_credentials);
        assert!(options.oauth_clients[1].allow_client_credentials);
        assert_eq!(options.refresh_tokens[1].lifetime, Duration::from_secs(60));
        for (flag, value) in [
            ("--oauth-client", "one:zis_one:admin=topsecret"),
            ("--oauth-client", "Bad:zis_one=topsecret"),
            ("--oauth-client", "one=topsecret"),
            ("--oauth-refresh-token", "zis_one:soon=topsecret"),
            ("--oauth-refresh-token", "zis_ghost=topsecret"),
        ] {
            let error = parse(&["--oauth-client", "one:zis_one=s", flag, value]).unwrap_err();
            assert!(!error.contains("topsecret"), "{error}");
        }
        let debug = format!("{:?}", options.oauth_clients);
        assert!(!debug.contains("client=secret"), "{debug}");
    }

    #[test]
    fn scoped_tokens_carry_scopes_and_lifetimes_and_errors_never_show_them() {
        let token = parse_scoped_token("one:read:1800=abc=def").unwrap();
        assert_eq!(token.integration, "one");
        assert_eq!(token.token, "abc=def");
        assert_eq!(token.scopes, vec![Scope::Read]);
        assert_eq!(token.ttl, Some(Duration::from_secs(1800)));
        let both = parse_scoped_token("one:read,write=abc").unwrap();
        assert_eq!(both.scopes, vec![Scope::Read, Scope::Write]);
        let error = parse_scoped_token("one:admin=topsecret").unwrap_err();
        assert!(!error.contains("topsecret"));
        assert!(parse_scoped_token("one=abc").is_err());
        assert!(!format!("{both:?}").contains("abc"));
    }
}
