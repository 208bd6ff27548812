//! What an integration's reconcile found, and its status: `Ready`, `Reconciling` and `Stalled`
//! with `observedGeneration`, when the access token expires (never the token), when it was
//! last renewed, and how many connections use the integration. Written only when it changed;
//! a Warning event when `Ready` turns to a new failure.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kube::api::{Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Api, Resource, ResourceExt};
use serde_json::json;

use super::IntegrationContext;
use crate::controller::report::{READY, RECONCILING, STALLED, now, set_condition};
use crate::events::Event;
use crate::resource::{ConditionStatus, ZisIntegration, ZisIntegrationStatus};
use crate::secret::SecretString;

/// Why an integration serves no token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub reason: &'static str,
    pub message: String,
    /// A person must act.
    pub stalled: bool,
}

impl Problem {
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            stalled: true,
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::stalled("InvalidSpec", message)
    }

    pub fn retrying(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            stalled: false,
        }
    }
}

/// What one reconcile of an integration found.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// The token connections use; `None`: none now (see `reason`).
    pub token: Option<SecretString>,
    pub reason: &'static str,
    pub message: String,
    pub stalled: bool,
    pub expires_at: Option<DateTime<Utc>>,
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    pub last_renewed_at: Option<DateTime<Utc>>,
    /// When to look again (at the latest after `RECHECK`).
    pub requeue: Option<Duration>,
}

impl Outcome {
    pub fn ready(token: SecretString, message: impl Into<String>) -> Self {
        Self {
            token: Some(token),
            reason: "Ready",
            message: message.into(),
            stalled: false,
            expires_at: None,
            refresh_token_expires_at: None,
            last_renewed_at: None,
            requeue: None,
        }
    }

    pub fn failed(problem: Problem) -> Self {
        Self {
            token: None,
            reason: problem.reason,
            message: problem.message,
            stalled: problem.stalled,
            expires_at: None,
            refresh_token_expires_at: None,
            last_renewed_at: None,
            requeue: None,
        }
    }
}

fn rfc3339(time: Option<DateTime<Utc>>) -> Option<String> {
    time.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

/// Writes the status for `outcome` if it changed; a Warning event when `Ready` turns to a new
/// failure.
pub async fn report(
    api: &Api<ZisIntegration>,
    integration: &ZisIntegration,
    outcome: &Outcome,
    ctx: &IntegrationContext,
) -> Result<(), kube::Error> {
    use ConditionStatus::{False, True};
    let written = integration.status.clone().unwrap_or_default();
    let generation = integration.metadata.generation;
    let mut status = ZisIntegrationStatus {
        conditions: written.conditions.clone(),
        observed_generation: generation,
        access_token_expires_at: rfc3339(outcome.expires_at)
            .or(written.access_token_expires_at.clone()),
        refresh_token_expires_at: rfc3339(outcome.refresh_token_expires_at)
            .or(written.refresh_token_expires_at.clone()),
        last_renewed_at: rfc3339(outcome.last_renewed_at).or(written.last_renewed_at.clone()),
        connections: i64::try_from(
            ctx.connections
                .count_of_integration(&integration.spec.integration),
        )
        .ok(),
    };
    if outcome.token.is_none() {
        // A token no longer served has no expiry to show.
        status.access_token_expires_at = None;
    }
    let time = now();
    let conditions = &mut status.conditions;
    match (&outcome.token, outcome.stalled) {
        (Some(_), _) => {
            set_condition(
                conditions,
                READY,
                True,
                "Ready",
                &outcome.message,
                generation,
                &time,
            );
            set_condition(
                conditions,
                RECONCILING,
                False,
                "Ready",
                "ready",
                generation,
                &time,
            );
            set_condition(
                conditions, STALLED, False, "Ready", "ready", generation, &time,
            );
        }
        (None, true) => {
            let (reason, message) = (outcome.reason, outcome.message.as_str());
            set_condition(conditions, READY, False, reason, message, generation, &time);
            set_condition(
                conditions,
                RECONCILING,
                False,
                reason,
                message,
                generation,
                &time,
            );
            set_condition(
                conditions, STALLED, True, reason, message, generation, &time,
            );
        }
        (None, false) => {
            let (reason, message) = (outcome.reason, outcome.message.as_str());
            set_condition(conditions, READY, False, reason, message, generation, &time);
            set_condition(
                conditions,
                RECONCILING,
                True,
                reason,
                message,
                generation,
                &time,
            );
            set_condition(
                conditions, STALLED, False, reason, message, generation, &time,
            );
        }
    }
    if status == written {
        return Ok(());
    }
    api.patch_status(
        &integration.name_any(),
        &PatchParams::default(),
        &Patch::Merge(&json!({ "status": with_nulls(&status) })),
    )
    .await?;
    ctx.metrics.kube_write(crate::metrics::KubeWrite::Status);
    let was = ready_of(&written);
    let now_ready = ready_of(&status);
    if outcome.token.is_none() && was != now_ready {
        let event = Event {
            type_: EventType::Warning,
            reason: outcome.reason.to_owned(),
            note: Some(outcome.message.clone()),
            action: "Reconcile".to_owned(),
            secondary: None,
        };
        if let Err(error) = ctx
            .recorder
            .publish(&event, &integration.object_ref(&()))
            .await
        {
            tracing::warn!(%error, "could not publish event");
        }
    }
    Ok(())
}

/// `status` as a merge patch: a field it no longer has is sent as `null` (removed), not left out
/// (kept).
fn with_nulls(status: &ZisIntegrationStatus) -> serde_json::Value {
    let mut patch = json!(status);
    for field in [
        "accessTokenExpiresAt",
        "refreshTokenExpiresAt",
        "lastRenewedAt",
        "connections",
    ] {
        if patch.get(field).is_none() {
            patch[field] = serde_json::Value::Null;
        }
    }
    patch
}

fn ready_of(status: &ZisIntegrationStatus) -> Option<(ConditionStatus, String, String)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == READY)
        .map(|c| (c.status, c.reason.clone(), c.message.clone()))
}
