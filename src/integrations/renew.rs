//! The access token of an integration: read from its Secret (`AccessToken`), or obtained from
//! Zendesk's token endpoint and renewed before it expires (`RefreshToken`, `ClientCredentials`).
//! A new refresh token is written back into the Secret, conditionally on the `resourceVersion`
//! read, before its access token is used; until it is written, it is kept in memory and the
//! write is retried before anything else. No token ever reaches a log, an event or the status.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::{Api, ResourceExt};
use tokio::time::Instant;
use tracing::{info, warn};

use super::spec::Checked;
use super::status::{Outcome, Problem};
use super::{Error, IntegrationContext};
use crate::controller::dereference::describe_kube_error;
use crate::resource::{CredentialsGrant, ZisIntegration};
use crate::secret::SecretString;
use crate::zis::oauth::{Grant, OAuthError};

pub const ACCESS_TOKEN_KEY: &str = "access-token";
pub const CLIENT_ID_KEY: &str = "client-id";
pub const CLIENT_SECRET_KEY: &str = "client-secret";
pub const REFRESH_TOKEN_KEY: &str = "refresh-token";
/// The scopes asked for with client credentials (ZIS writes need `write`).
const SCOPES: &str = "read write";
/// A renewal asked for after a refusal is honoured only for a token older than this: a fresh
/// token refused means something else is wrong, and renewing again would not help.
const REFUSAL_RENEWAL_MIN_AGE: Duration = Duration::from_secs(10);

/// What the operator holds of an integration between reconciles.
#[derive(Default)]
pub struct Memory {
    held: Option<Held>,
    /// A grant whose refresh token is not in the Secret yet (the write-back failed): written
    /// before anything else, and its access token not used until then.
    unsaved: Option<(Grant, String)>,
    /// The token endpoint refused these credentials for good (`invalid_grant` and the like):
    /// the Secret's `resourceVersion` and grant then, and why. Not asked again until either
    /// changes, so that status writes and rechecks never make a retry storm.
    refused: Option<(Option<String>, CredentialsGrant, Problem)>,
    /// ZIS refused the current token (401): renew once even if it is not due.
    pub(super) renewal_requested: bool,
}

/// An access token in use.
struct Held {
    access_token: SecretString,
    /// When to renew (monotonic); `None`: never (a static token).
    renew_at: Option<Instant>,
    expires_at: Option<DateTime<Utc>>,
    refresh_token_expires_at: Option<DateTime<Utc>>,
    renewed_at: DateTime<Utc>,
    obtained: Instant,
    /// What it was obtained from: a change of any of these means a fresh start.
    grant: CredentialsGrant,
    base_url: String,
    /// The Secret's `resourceVersion` the token belongs to (after our own write-back, if any).
    secret_version: Option<String>,
}

/// The token for `integration`, renewing it when due.
pub async fn token(
    integration: &ZisIntegration,
    checked: &Checked,
    ctx: &IntegrationContext,
) -> Result<Outcome, Error> {
    let name = integration.name_any();
    let credentials = &integration.spec.credentials;
    let secrets: Api<Secret> =
        Api::namespaced(ctx.client.clone(), &credentials.secret_ref.namespace);
    let secret_name = &credentials.secret_ref.name;
    let where_ = format!("{}/{}", credentials.secret_ref.namespace, secret_name);
    let secret = match secrets.get_opt(secret_name).await {
        Ok(Some(secret)) => secret,
        Ok(None) => {
            return Ok(Outcome::failed(Problem::stalled(
                "SecretNotFound",
                format!("the credentials secret {where_} does not exist"),
            )));
        }
        Err(error) => {
            return Ok(Outcome::failed(Problem::retrying(
                "SecretUnreadable",
                format!(
                    "the credentials secret {where_} could not be read: {}",
                    describe_kube_error(&error)
                ),
            )));
        }
    };
    let data = entries(&secret);
    let key_missing = |key: &str| {
        Outcome::failed(Problem::stalled(
            "SecretKeyNotFound",
            format!(
                "the credentials secret {where_} has no key {key:?} (grant {:?})",
                credentials.grant
            ),
        ))
    };
    if credentials.grant == CredentialsGrant::AccessToken {
        ctx.remember(&name, |m| *m = Memory::default());
        return Ok(match data.get(ACCESS_TOKEN_KEY) {
            Some(token) => Outcome::ready(token.clone(), format!("access token from {where_}")),
            None => key_missing(ACCESS_TOKEN_KEY),
        });
    }
    let (Some(client_id), Some(client_secret)) =
        (data.get(CLIENT_ID_KEY), data.get(CLIENT_SECRET_KEY))
    else {
        let missing = if data.contains_key(CLIENT_ID_KEY) {
            CLIENT_SECRET_KEY
        } else {
            CLIENT_ID_KEY
        };
        return Ok(key_missing(missing));
    };
    let refresh_token = data.get(REFRESH_TOKEN_KEY);
    if credentials.grant == CredentialsGrant::RefreshToken && refresh_token.is_none() {
        return Ok(key_missing(REFRESH_TOKEN_KEY));
    }

    let version = secret.metadata.resource_version.clone();
    let refused_before = ctx.remember(&name, |m| match &m.refused {
        Some((at, grant, problem)) if *at == version && *grant == credentials.grant => {
            Some(problem.clone())
        }
        _ => None,
    });
    if let Some(problem) = refused_before {
        return Ok(Outcome::failed(problem));
    }
    // A refresh token not written back yet comes first: it is the only valid one, unless a
    // person has put another one in the Secret meanwhile (theirs wins; ours is dropped).
    let unsaved = ctx
        .remember(&name, |m| m.unsaved.take())
        .filter(|(_, spent)| refresh_token.is_some_and(|stored| stored.expose() == spent.as_str()));
    if let Some((grant, spent)) = unsaved {
        return Ok(match write_back(&secrets, &secret, &grant, &spent).await {
            Ok(version) => hold(
                ctx,
                &name,
                checked,
                grant,
                credentials.grant,
                version,
                "renewed",
            ),
            Err(problem) => {
                ctx.remember(&name, |m| m.unsaved = Some((grant, spent)));
                Outcome::failed(problem)
            }
        });
    }
    if let Some(outcome) = still_good(ctx, &name, checked, credentials.grant, &secret) {
        return Ok(outcome);
    }
    let Some(oauth) = ctx.oauth_client(&checked.base_url) else {
        return Ok(Outcome::failed(Problem::invalid(
            "the account's token endpoint cannot be reached (see the operator's log)",
        )));
    };
    let client_id = client_id.expose().to_owned();
    // From here until the outcome is served, calls with the current token may be refused.
    ctx.access.renewal_started(&checked.key);
    let asked = match (credentials.grant, refresh_token) {
        (CredentialsGrant::RefreshToken, Some(refresh)) => {
            oauth
                .refresh(
                    &client_id,
                    client_secret,
                    refresh,
                    checked.access_token_lifetime,
                    checked.refresh_token_lifetime,
                )
                .await
        }
        _ => {
            oauth
                .client_credentials(
                    &client_id,
                    client_secret,
                    SCOPES,
                    checked.access_token_lifetime,
                )
                .await
        }
    };
    let grant = match asked {
        Ok(grant) => grant,
        Err(error) => {
            let outcome = refused(ctx, &name, &where_, &error);
            if outcome.stalled {
                let problem = Problem::stalled(outcome.reason, outcome.message.clone());
                ctx.remember(&name, |m| {
                    m.refused = Some((version, credentials.grant, problem))
                });
            }
            return Ok(outcome);
        }
    };
    ctx.metrics.token_renewed("ok");
    let version = match (credentials.grant, refresh_token) {
        (CredentialsGrant::RefreshToken, Some(spent)) => {
            match write_back(&secrets, &secret, &grant, spent.expose()).await {
                Ok(version) => version,
                Err(problem) => {
                    warn!(integration = %checked.key, "the new refresh token is not in the secret yet; retrying the write before using it");
                    ctx.remember(&name, |m| {
                        m.unsaved = Some((grant, spent.expose().to_owned()))
                    });
                    return Ok(Outcome::failed(problem));
                }
            }
        }
        _ => secret.metadata.resource_version.clone(),
    };
    info!(integration = %checked.key, "access token renewed");
    Ok(hold(
        ctx,
        &name,
        checked,
        grant,
        credentials.grant,
        version,
        "renewed",
    ))
}

/// The token held, if it is still good for this Secret and spec and not due for renewal.
fn still_good(
    ctx: &IntegrationContext,
    name: &str,
    checked: &Checked,
    grant: CredentialsGrant,
    secret: &Secret,
) -> Option<Outcome> {
    ctx.remember(name, |m| {
        let held = m.held.as_ref()?;
        let same_source = held.grant == grant
            && held.base_url == checked.base_url
            && held.secret_version == secret.metadata.resource_version;
        let due = held.renew_at.is_some_and(|at| Instant::now() >= at);
        let refused = m.renewal_requested && held.obtained.elapsed() >= REFUSAL_RENEWAL_MIN_AGE;
        if !same_source || due || refused {
            m.renewal_requested = false;
            return None;
        }
        m.renewal_requested = false;
        Some(outcome_of(held, "access token current"))
    })
}

/// Keeps `grant` as the token in use and says so.
fn hold(
    ctx: &IntegrationContext,
    name: &str,
    checked: &Checked,
    grant: Grant,
    kind: CredentialsGrant,
    secret_version: Option<String>,
    what: &str,
) -> Outcome {
    // Renewed well before it expires: a fifth of its life ahead.
    let renew_at = grant
        .access_token_deadline()
        .zip(grant.expires_in)
        .map(|(deadline, lifetime)| deadline - lifetime / 5);
    let held = Held {
        access_token: grant.access_token,
        renew_at,
        expires_at: grant.expires_at,
        refresh_token_expires_at: grant.refresh_token_expires_at,
        renewed_at: Utc::now(),
        obtained: Instant::now(),
        grant: kind,
        base_url: checked.base_url.clone(),
        secret_version,
    };
    let outcome = outcome_of(&held, &format!("access token {what}"));
    ctx.remember(name, |m| m.held = Some(held));
    outcome
}

fn outcome_of(held: &Held, message: &str) -> Outcome {
    let mut outcome = Outcome::ready(held.access_token.clone(), message);
    outcome.expires_at = held.expires_at;
    outcome.refresh_token_expires_at = held.refresh_token_expires_at;
    outcome.last_renewed_at = Some(held.renewed_at);
    outcome.requeue = held
        .renew_at
        .map(|at| at.saturating_duration_since(Instant::now()));
    // The message must not change at each renewal (a status write each time).
    outcome.message = message.split(' ').take(2).collect::<Vec<_>>().join(" ");
    outcome
}

/// The integration's state after the token endpoint refused or failed.
fn refused(ctx: &IntegrationContext, name: &str, where_: &str, error: &OAuthError) -> Outcome {
    let problem = match error {
        OAuthError::InvalidGrant { .. } => {
            ctx.metrics.token_renewed("invalid_grant");
            Problem::stalled(
                "ReauthorizationRequired",
                format!(
                    "Zendesk refused the refresh token in {where_} (expired, revoked, or already used): authorize the app again (Zendesk's OAuth flow for the integration's client) and put the new refresh token in key {REFRESH_TOKEN_KEY:?} of that secret; the operator retries as soon as the secret changes"
                ),
            )
        }
        OAuthError::InvalidClient { .. } => {
            ctx.metrics.token_renewed("invalid_client");
            Problem::stalled(
                "InvalidClient",
                format!("Zendesk refused the OAuth client id or secret in {where_}: {error}"),
            )
        }
        OAuthError::UnauthorizedClient { .. } => {
            ctx.metrics.token_renewed("unauthorized_client");
            Problem::stalled(
                "GrantNotAllowed",
                format!(
                    "the OAuth client may not use this grant: {error}; choose another spec.credentials.grant"
                ),
            )
        }
        OAuthError::Invalid { .. } => {
            ctx.metrics.token_renewed("invalid");
            Problem::stalled("InvalidRequest", error.to_string())
        }
        OAuthError::RateLimited { .. }
        | OAuthError::Transient { .. }
        | OAuthError::NotPermitted => {
            ctx.metrics.token_renewed("failed");
            // A token still valid keeps serving while the renewal is retried.
            let current = ctx.remember(name, |m| {
                let held = m.held.as_ref()?;
                let valid = held.expires_at.is_none_or(|at| at > Utc::now());
                valid.then(|| outcome_of(held, "access token current"))
            });
            let mut outcome = current.unwrap_or_else(|| {
                Outcome::failed(Problem::retrying(
                    "RenewalFailed",
                    format!("renewing the access token failed: {error}; retrying"),
                ))
            });
            outcome.requeue = Some(match error {
                OAuthError::RateLimited { retry_after } => *retry_after,
                _ => Duration::from_secs(5),
            });
            return outcome;
        }
    };
    // Whatever was held is no good any more.
    ctx.remember(name, |m| m.held = None);
    Outcome::failed(problem)
}

/// Writes the grant's new refresh token into the Secret, conditionally on the version read. If
/// someone changed the Secret meanwhile and it still holds the refresh token that was `spent`,
/// the write is made again on top of their change; if they put another refresh token there (a
/// person authorized the app again), theirs is kept. Returns the Secret's new version.
async fn write_back(
    secrets: &Api<Secret>,
    read: &Secret,
    grant: &Grant,
    spent: &str,
) -> Result<Option<String>, Problem> {
    let Some(next) = &grant.refresh_token else {
        // Nothing to write: Zendesk kept the refresh token (or sent none).
        return Ok(read.metadata.resource_version.clone());
    };
    let mut current = read.clone();
    for _ in 0..3 {
        let mut updated = current.clone();
        updated.data.get_or_insert_with(BTreeMap::new).insert(
            REFRESH_TOKEN_KEY.to_owned(),
            ByteString(next.expose().as_bytes().to_vec()),
        );
        match secrets
            .replace(&current.name_any(), &PostParams::default(), &updated)
            .await
        {
            Ok(written) => return Ok(written.metadata.resource_version),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                let fresh = secrets
                    .get_opt(&current.name_any())
                    .await
                    .map_err(|e| Problem::retrying("WriteBackFailed", describe_kube_error(&e)))?
                    .ok_or_else(|| Problem::stalled("SecretNotFound", "the credentials secret was deleted while the refresh token was renewed"))?;
                let holds_spent = entries(&fresh)
                    .get(REFRESH_TOKEN_KEY)
                    .is_some_and(|token| token.expose() == spent);
                if !holds_spent {
                    return Err(Problem::retrying(
                        "SecretChanged",
                        "a new refresh token was put in the credentials secret while the old one was renewed; using the new one",
                    ));
                }
                current = fresh;
            }
            Err(error) => {
                return Err(Problem::retrying(
                    "WriteBackFailed",
                    format!(
                        "the renewed refresh token could not be written to the credentials secret ({}); kept in memory and retried before anything else",
                        describe_kube_error(&error)
                    ),
                ));
            }
        }
    }
    Err(Problem::retrying(
        "WriteBackFailed",
        "the credentials secret kept changing while the renewed refresh token was written; retrying",
    ))
}

/// The Secret's entries that can be credentials: UTF-8, trimmed, not blank.
fn entries(secret: &Secret) -> BTreeMap<String, SecretString> {
    secret
        .data
        .iter()
        .flatten()
        .filter_map(|(key, value)| {
            let text = String::from_utf8(value.0.clone()).ok()?;
            let text = text.trim();
            (!text.is_empty()).then(|| (key.clone(), SecretString::new(text)))
        })
        .collect()
}
