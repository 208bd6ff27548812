//! Checks a `ZisIntegration`'s spec and turns it into what serving it needs: its key, its
//! account's client, its namespace selector, its adoption rule and the token lifetimes to ask
//! for. Pure but for making (or reusing) the account's client.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use kube::ResourceExt;
use kube::core::Selector;

use super::IntegrationContext;
use super::status::Problem;
use crate::cli::parse_duration;
use crate::resource::rules::{INTEGRATION_MAX_LEN, INTEGRATION_PATTERN, regex_matches};
use crate::resource::{IntegrationAdoption, ZisIntegration};
use crate::zis::oauth::{
    ACCESS_TOKEN_LIFETIME, DEFAULT_ACCESS_TOKEN_LIFETIME, DEFAULT_REFRESH_TOKEN_LIFETIME,
    REFRESH_TOKEN_LIFETIME,
};
use crate::zis::{ClientConfig, ZisClient};

/// The reason of a `ZisIntegration` whose key an older one already serves.
pub const CONFLICT: &str = "Conflict";

/// A `ZisIntegration` whose spec makes sense.
#[derive(Clone)]
pub struct Checked {
    pub key: String,
    pub base_url: String,
    pub zis: ZisClient,
    pub namespaces: Selector,
    pub never_adopt: bool,
    pub access_token_lifetime: Duration,
    pub refresh_token_lifetime: Duration,
}

pub fn check(integration: &ZisIntegration, ctx: &IntegrationContext) -> Result<Checked, Problem> {
    let spec = &integration.spec;
    let key = spec.integration.clone();
    if key.is_empty()
        || key.len() > INTEGRATION_MAX_LEN
        || !regex_matches(INTEGRATION_PATTERN, &key)
    {
        return Err(Problem::invalid(format!(
            "spec.integration {key:?} is not a ZIS integration key (lower-case letters, digits, '-' and '_', at most 64)"
        )));
    }
    if let Some(senior) = senior_with_same_key(integration, ctx) {
        return Err(Problem::stalled(
            CONFLICT,
            format!(
                "ZisIntegration {senior} (older) already serves integration {key}; this one serves nothing until it goes"
            ),
        ));
    }
    let base_url = match (&spec.subdomain, &spec.url) {
        (Some(subdomain), None) => {
            ClientConfig::for_subdomain(subdomain)
                .map_err(|e| Problem::invalid(format!("spec.subdomain: {e}")))?
                .base_url
        }
        (None, Some(url)) => url.clone(),
        _ => {
            return Err(Problem::invalid(
                "exactly one of spec.subdomain and spec.url must be set",
            ));
        }
    };
    let zis = ctx
        .access
        .account(&base_url)
        .map_err(|e| Problem::invalid(format!("spec.url: {e}")))?;
    let namespaces = Selector::try_from(spec.namespace_selector.clone())
        .map_err(|e| Problem::invalid(format!("spec.namespaceSelector: {}", e.0)))?;
    let credentials = &spec.credentials;
    let access_token_lifetime = lifetime(
        "spec.credentials.accessTokenLifetime",
        credentials.access_token_lifetime.as_deref(),
        DEFAULT_ACCESS_TOKEN_LIFETIME,
        &ACCESS_TOKEN_LIFETIME,
    )?;
    let refresh_token_lifetime = lifetime(
        "spec.credentials.refreshTokenLifetime",
        credentials.refresh_token_lifetime.as_deref(),
        DEFAULT_REFRESH_TOKEN_LIFETIME,
        &REFRESH_TOKEN_LIFETIME,
    )?;
    Ok(Checked {
        key,
        base_url,
        zis,
        namespaces,
        never_adopt: spec.adoption == IntegrationAdoption::Never,
        access_token_lifetime,
        refresh_token_lifetime,
    })
}

fn lifetime(
    field: &str,
    value: Option<&str>,
    default: Duration,
    range: &std::ops::RangeInclusive<Duration>,
) -> Result<Duration, Problem> {
    let Some(value) = value else {
        return Ok(default);
    };
    let parsed = parse_duration(value).map_err(|e| Problem::invalid(format!("{field}: {e}")))?;
    if !range.contains(&parsed) {
        return Err(Problem::invalid(format!(
            "{field}: {value} is outside what Zendesk accepts ({} to {} seconds)",
            range.start().as_secs(),
            range.end().as_secs()
        )));
    }
    Ok(parsed)
}

/// The name of an older `ZisIntegration` with the same key, if any (creation time, then name).
fn senior_with_same_key(integration: &ZisIntegration, ctx: &IntegrationContext) -> Option<String> {
    let key = &integration.spec.integration;
    let rank = |i: &ZisIntegration| {
        let created = i
            .metadata
            .creation_timestamp
            .as_ref()
            .map_or(Timestamp::MAX, |t| t.0);
        (created, i.name_any())
    };
    let mine = rank(integration);
    ctx.integrations
        .state()
        .iter()
        .filter(|other| {
            other.spec.integration == *key && other.name_any() != integration.name_any()
        })
        .filter(|other| rank(other) < mine)
        .map(|other| other.name_any())
        .min()
}
