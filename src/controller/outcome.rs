//! What a reconcile step produced: the events to publish (things that happened remotely) and the
//! failures that end a reconcile, each with its stable `Ready` reason and how soon to retry.
//! Pure data; `report` turns it into status and events.

use std::time::Duration;

use super::access::AccessError;
use super::credentials::CredentialsError;
use super::validate::ValidationError;
use crate::zis::ZisError;

/// How long to wait before retrying a failure that needs no one to act (401/403/400 and
/// conflicts still retry, slowly, in case the cause went away unannounced).
pub const SLOW_RETRY: Duration = Duration::from_secs(300);

/// Appended to a deletion ZIS refuses for good.
pub const ORPHAN_WAY_OUT: &str = ". The finalizer stays until the delete succeeds; to let this object go and leave the remote connection in ZIS, set spec.deletionPolicy: Orphan";

/// A remote change worth a Normal event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Happened {
    Created,
    Adopted,
    Updated,
    Recreated,
    Deleted,
    Orphaned,
}

impl Happened {
    pub fn reason(self) -> &'static str {
        match self {
            Happened::Created => "Created",
            Happened::Adopted => "Adopted",
            Happened::Updated => "Updated",
            Happened::Recreated => "Recreated",
            Happened::Deleted => "Deleted",
            Happened::Orphaned => "Orphaned",
        }
    }
}

/// A Normal event: what happened and a message for people (never a secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub happened: Happened,
    pub message: String,
}

/// When to try again after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// After exactly this long (429 `Retry-After`).
    After(Duration),
    /// Exponential backoff with jitter (5xx, network).
    Backoff,
    /// [`SLOW_RETRY`], or at once when the Secret, spec or credentials change.
    Slow,
    /// When the Secret or the credentials change (watched), with [`SLOW_RETRY`] as a safety net.
    OnChange,
}

/// How the remote side of one reconcile ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncOutcome {
    /// In sync; `confirmed` when ZIS answered a call about the connection on the way.
    InSync { confirmed: bool },
    /// Not in sync (reported in `Ready`).
    Failed(Failure),
    /// In sync as far as the status knows, but the periodic read failed (reported apart from
    /// `Ready`).
    CheckFailed(Failure),
}

impl SyncOutcome {
    /// Why it failed, if it did.
    pub fn failure(&self) -> Option<&Failure> {
        match self {
            SyncOutcome::InSync { .. } => None,
            SyncOutcome::Failed(failure) | SyncOutcome::CheckFailed(failure) => Some(failure),
        }
    }
}

/// Why a reconcile could not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Stable CamelCase `Ready` reason.
    pub reason: &'static str,
    /// For people; never a secret.
    pub message: String,
    /// Whether a person must act (`Stalled=True`).
    pub stalled: bool,
    pub retry: Retry,
}

impl Failure {
    pub fn stalled(reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            reason,
            message: message.into(),
            stalled: true,
            retry: Retry::Slow,
        }
    }

    /// A failure of a ZIS call, `doing` saying which call (for example "creating int/conn").
    pub fn from_zis(doing: &str, error: &ZisError) -> Self {
        match error {
            ZisError::RateLimited { retry_after } => Self {
                reason: "RateLimited",
                message: format!("{doing}: rate limited by ZIS; retrying after the requested wait"),
                stalled: false,
                retry: Retry::After(*retry_after),
            },
            ZisError::Transient { reason } => Self {
                reason: "ZisUnavailable",
                message: format!("{doing}: ZIS unavailable ({reason}); retrying with backoff"),
                stalled: false,
                retry: Retry::Backoff,
            },
            ZisError::Unauthorized => Self::stalled(
                "Unauthorized",
                format!(
                    "{doing}: ZIS rejected the operator's access token (401); update the credentials secret"
                ),
            ),
            ZisError::Forbidden { title } => Self::stalled(
                "Forbidden",
                format!(
                    "{doing}: ZIS refused access (403: {title}); the access token needs scopes read and write for this integration"
                ),
            ),
            ZisError::Invalid { code, title } => Self::stalled(
                "InvalidRequest",
                format!("{doing}: ZIS rejected the request ({code}: {title})"),
            ),
            ZisError::NotPermitted => Self {
                reason: "NotLeader",
                message: format!("{doing}: not sent, this replica is no longer the leader"),
                stalled: false,
                retry: Retry::Backoff,
            },
            // Callers handle 404 and 409 themselves; reaching here means an unexpected answer.
            ZisError::NotFound | ZisError::Conflict => Self {
                reason: "ZisUnavailable",
                message: format!("{doing}: unexpected answer from ZIS: {error}"),
                stalled: false,
                retry: Retry::Backoff,
            },
        }
    }

    pub fn from_validation(error: &ValidationError) -> Self {
        let mut failure = Self::stalled(error.reason(), error.to_string());
        // Secret problems clear up by themselves when the Secret is fixed, which is watched.
        if !matches!(error, ValidationError::InvalidSpec { .. }) {
            failure.retry = Retry::OnChange;
        }
        failure
    }

    pub fn from_credentials(error: &CredentialsError) -> Self {
        let mut failure = Self::stalled("CredentialsMissing", error.to_string());
        failure.retry = Retry::OnChange;
        failure
    }

    /// Why the integration cannot be used: fixed by someone (a Secret, a ZisIntegration, a
    /// namespace label), which is watched.
    pub fn from_access(error: &AccessError) -> Self {
        let mut failure = Self::stalled(error.reason(), error.to_string());
        failure.retry = Retry::OnChange;
        failure
    }

    /// The same failure reported while deleting: reason `DeleteFailed`, the cause in the message.
    /// When it will not go away by itself (ZIS refuses for good: 401, 403, 400, or credentials
    /// are missing), the message also names the way out that needs no remote call.
    pub fn while_deleting(self) -> Self {
        let mut message = format!("cannot delete the remote connection: {}", self.message);
        if self.stalled {
            message.push_str(ORPHAN_WAY_OUT);
        }
        Self {
            reason: "DeleteFailed",
            message,
            ..self
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zis_errors_map_to_stable_reasons_and_retries() {
        let cases = [
            (
                ZisError::RateLimited {
                    retry_after: Duration::from_secs(7),
                },
                "RateLimited",
                false,
                Retry::After(Duration::from_secs(7)),
            ),
            (
                ZisError::Transient {
                    reason: "503".into(),
                },
                "ZisUnavailable",
                false,
                Retry::Backoff,
            ),
            (ZisError::Unauthorized, "Unauthorized", true, Retry::Slow),
            (
                ZisError::Forbidden {
                    title: "Missing scope write".into(),
                },
                "Forbidden",
                true,
                Retry::Slow,
            ),
            (
                ZisError::Invalid {
                    code: "InvalidIntegration".into(),
                    title: "bad".into(),
                },
                "InvalidRequest",
                true,
                Retry::Slow,
            ),
        ];
        for (error, reason, stalled, retry) in cases {
            let failure = Failure::from_zis("creating int/conn", &error);
            assert_eq!(
                (failure.reason, failure.stalled, failure.retry),
                (reason, stalled, retry),
                "{error}"
            );
            assert!(failure.message.starts_with("creating int/conn"));
        }
    }

    #[test]
    fn deletion_failures_keep_their_cause_in_the_message() {
        let failure =
            Failure::from_zis("deleting int/conn", &ZisError::Unauthorized).while_deleting();
        assert_eq!(failure.reason, "DeleteFailed");
        assert!(failure.message.contains("401"));
    }

    #[test]
    fn a_deletion_refused_for_good_names_the_orphan_policy_as_the_way_out() {
        let refused = [
            ZisError::Forbidden {
                title: "Missing scope write".into(),
            },
            ZisError::Unauthorized,
            ZisError::Invalid {
                code: "InvalidIntegration".into(),
                title: "bad".into(),
            },
        ];
        for error in refused {
            let failure = Failure::from_zis("deleting int/conn", &error).while_deleting();
            assert!(
                failure.message.ends_with("set spec.deletionPolicy: Orphan"),
                "{error}: {}",
                failure.message
            );
        }
        let credentials = Failure::from_credentials(&CredentialsError::SecretMissing {
            secret: "ops/zis".into(),
        })
        .while_deleting();
        assert!(credentials.message.contains("deletionPolicy: Orphan"));
        // Failures that clear up by themselves are retried; no advice needed.
        let transient = Failure::from_zis(
            "deleting int/conn",
            &ZisError::Transient {
                reason: "503".into(),
            },
        )
        .while_deleting();
        assert!(
            !transient.message.contains("Orphan"),
            "{}",
            transient.message
        );
    }
}
