//! Carries out one planned action through the ZIS client and records the result in the working
//! copy of the status (the record of what exists remotely). Knows ZIS calls, not Kubernetes.

use super::access::Access;
use super::outcome::{Failure, Happened, Note};
use super::plan::{Action, ConflictDecision, Doomed, Identity, created_by_pending, on_conflict};
use super::validate::Target;
use crate::resource::{AdoptionPolicy, PendingCreate, RemoteConnection, ZisBearerConnectionStatus};
use crate::secret::SecretString;
use crate::zis::{
    BearerConnection, BearerTokenUpdate, IntegrationClient, NewBearerConnection, ZisError,
};

/// What the remote side needs: where, which token, and the token's fingerprint.
pub struct Desired<'a> {
    pub target: &'a Target,
    pub token: &'a SecretString,
    pub fingerprint: &'a str,
    pub secret_resource_version: Option<&'a str>,
    pub adoption: AdoptionPolicy,
}

/// How to reach ZIS.
pub struct Remote<'a> {
    pub access: &'a Access,
}

impl Remote<'_> {
    /// The calls of `integration`, with the access token that serves it.
    pub fn integration(&self, integration: &str) -> Result<IntegrationClient, Failure> {
        self.access
            .client(integration)
            .map_err(|e| Failure::from_access(&e))
    }
}

/// Facts about this attempt that are not desired state.
#[derive(Debug, Clone, Copy, Default)]
pub struct Attempt<'a> {
    /// The create replaces a connection deleted to change its domain (event `Recreated`).
    pub recreating: bool,
    /// The pending create found in the status when this reconcile began: a POST sent earlier
    /// (before a crash or a timeout) whose outcome was never recorded. A marker written by this
    /// reconcile does not count, or every 409 would look like our own.
    pub inherited_pending: Option<&'a PendingCreate>,
}

/// What one step did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Done with this action; plan again.
    Continue(Vec<Note>),
    /// Done with this action; these notes are published before the next step, which may delete
    /// the connection just taken over (people learn it was adopted before it goes).
    Announce(Vec<Note>),
    /// The domain could not be changed in place: the old connection was deleted and must be
    /// created again (the next create is reported as `Recreated`).
    Recreate(Vec<Note>),
}

/// Reads the recorded connection for a drift check: `Ok(None)` when ZIS says it is gone.
pub async fn observe(
    remote: &Remote<'_>,
    identity: &Identity,
) -> Result<Option<BearerConnection>, Failure> {
    let client = remote.integration(&identity.integration)?;
    match client.get_bearer(&identity.connection_name).await {
        Ok(connection) => Ok(Some(connection)),
        Err(ZisError::NotFound) => Ok(None),
        Err(error) => Err(Failure::from_zis(&format!("reading {identity}"), &error)),
    }
}

/// Carries out `action`.
pub async fn act(
    action: &Action,
    desired: &Desired<'_>,
    record: &mut ZisBearerConnectionStatus,
    remote: &Remote<'_>,
    attempt: Attempt<'_>,
) -> Result<Step, Failure> {
    match action {
        Action::Nothing => Ok(Step::Continue(Vec::new())),
        Action::Create => create(desired, record, remote, attempt).await,
        Action::Update { token, domain } => update(desired, record, remote, *token, *domain).await,
        Action::Retire => {
            record.retiring = record.remote.take();
            Ok(Step::Continue(Vec::new()))
        }
        Action::Restore => {
            let replacement = record.remote.take();
            record.remote = record.retiring.take();
            if replacement.is_some() {
                // What the status says of the token and timestamps was about the replacement.
                record.token_fingerprint = None;
                record.created_at = None;
                record.updated_at = None;
                record.adopted = None;
            }
            record.retiring = replacement;
            Ok(Step::Continue(Vec::new()))
        }
        Action::RemoveOld { old, delete } => remove_old(old, *delete, record, remote).await,
    }
}

fn record_synced(
    record: &mut ZisBearerConnectionStatus,
    desired: &Desired<'_>,
    seen: Option<&BearerConnection>,
    adopted: Option<bool>,
) {
    let target = desired.target;
    record.remote = Some(RemoteConnection {
        integration: target.integration.clone(),
        connection_name: target.connection_name.clone(),
        allowed_domain: target.allowed_domain.clone(),
    });
    record.pending_create = None;
    if let Some(seen) = seen {
        record.created_at = Some(seen.created_at.clone());
        record.updated_at = Some(seen.updated_at.clone());
    }
    record.token_fingerprint = Some(desired.fingerprint.to_owned());
    record.secret_resource_version = desired.secret_resource_version.map(str::to_owned);
    record.last_sync_time = Some(super::report::now());
    if let Some(adopted) = adopted {
        record.adopted = Some(adopted);
    }
}

async fn create(
    desired: &Desired<'_>,
    record: &mut ZisBearerConnectionStatus,
    remote: &Remote<'_>,
    attempt: Attempt<'_>,
) -> Result<Step, Failure> {
    let target = desired.target;
    let identity = Identity::of_target(target);
    let client = remote.integration(&target.integration)?;
    let new = NewBearerConnection {
        name: target.connection_name.clone(),
        token: desired.token.clone(),
        allowed_domain: target.allowed_domain.clone(),
    };
    match client.create_bearer(&new).await {
        Ok(created) => {
            record_synced(record, desired, Some(&created), Some(false));
            let (happened, message) = if attempt.recreating {
                (
                    Happened::Recreated,
                    format!(
                        "ZIS refused to change the domain in place; deleted and created {identity} for {}",
                        target.allowed_domain
                    ),
                )
            } else {
                (
                    Happened::Created,
                    format!("created {identity} for {}", target.allowed_domain),
                )
            };
            Ok(Step::Continue(vec![Note { happened, message }]))
        }
        Err(ZisError::Conflict) => {
            let pending = attempt
                .inherited_pending
                .filter(|pending| Identity::of_pending(pending) == identity);
            if pending.is_none()
                && let Some(marker) = record.pending_create.as_mut()
            {
                // This very create, the first of this name, was answered 409: the connection
                // was there before it. Said in the marker, so that no later reconcile takes it
                // for one an unanswered create of ours made.
                marker.name_taken = true;
            }
            take_over(desired, record, &client, &identity, pending).await
        }
        Err(error) => {
            // Only a transient failure leaves open whether ZIS created it; any other answer
            // means this create did not. The marker goes only if no earlier create of the name
            // is unanswered (an inherited marker): that one still may have. A kept marker only
            // makes a later 409 ours if ZIS dates the connection after the marker's `sentAt`
            // (see `plan::created_by_pending`).
            let earlier_unanswered = attempt
                .inherited_pending
                .is_some_and(|pending| Identity::of_pending(pending) == identity);
            if !matches!(error, ZisError::Transient { .. }) && !earlier_unanswered {
                record.pending_create = None;
            }
            Err(Failure::from_zis(&format!("creating {identity}"), &error))
        }
    }
}

/// Resolves a 409 on create (see `plan::on_conflict`). `pending` is the inherited marker of an
/// unconfirmed create of this name, if any.
async fn take_over(
    desired: &Desired<'_>,
    record: &mut ZisBearerConnectionStatus,
    client: &IntegrationClient,
    identity: &Identity,
    pending: Option<&PendingCreate>,
) -> Result<Step, Failure> {
    let existing = match client.get_bearer(&identity.connection_name).await {
        Ok(existing) => Some(existing),
        Err(ZisError::NotFound) => None,
        Err(error) => return Err(Failure::from_zis(&format!("reading {identity}"), &error)),
    };
    // Our earlier create made it only if ZIS created it after that create was sent; a
    // connection that is older belongs to someone else, whatever the marker says.
    let ours = pending
        .zip(existing.as_ref())
        .is_some_and(|(pending, existing)| created_by_pending(pending, &existing.created_at));
    match on_conflict(desired.adoption, existing.is_some(), ours) {
        ConflictDecision::OtherType => {
            record.pending_create = None;
            Err(Failure::stalled(
                "NameTakenByOtherType",
                format!(
                    "the name {identity} is taken by a ZIS connection that is not a bearer-token connection; choose another spec.connectionName"
                ),
            ))
        }
        ConflictDecision::Refuse => {
            record.pending_create = None;
            Err(Failure::stalled(
                "Conflict",
                format!(
                    "a bearer-token connection {identity} already exists and spec.adoptionPolicy is Never; it was left untouched"
                ),
            ))
        }
        ConflictDecision::TakeOver { adopted } => {
            let domain_differs = existing
                .as_ref()
                .is_some_and(|e| e.allowed_domain != desired.target.allowed_domain);
            let doing = format!("taking over {identity}");
            let seen = match push(client, identity, desired, domain_differs, &doing).await? {
                Pushed::Done(seen) => seen,
                // Gone since the 409: nothing to take over; the next step creates it.
                Pushed::Gone => return Ok(Step::Continue(Vec::new())),
                Pushed::DomainRefused => {
                    // Ours now, with our token but its old domain: recorded and announced before
                    // anything is deleted. The next step changes the domain like any other.
                    let old_domain = existing
                        .as_ref()
                        .map(|e| e.allowed_domain.clone())
                        .unwrap_or_default();
                    record_synced(record, desired, existing.as_ref(), Some(adopted));
                    if let Some(remote) = record.remote.as_mut() {
                        remote.allowed_domain = old_domain.clone();
                    }
                    return Ok(Step::Announce(took_over(
                        adopted,
                        identity,
                        &old_domain,
                        desired,
                    )));
                }
            };
            record_synced(
                record,
                desired,
                seen.as_ref().or(existing.as_ref()),
                Some(adopted),
            );
            let note = if adopted {
                Note {
                    happened: Happened::Adopted,
                    message: format!(
                        "adopted the existing connection {identity}: pushed our token and domain {}",
                        desired.target.allowed_domain
                    ),
                }
            } else {
                Note {
                    happened: Happened::Created,
                    message: format!(
                        "created {identity} for {} (confirmed after an interrupted create)",
                        desired.target.allowed_domain
                    ),
                }
            };
            Ok(Step::Continue(vec![note]))
        }
    }
}

/// The note for taking over a connection whose domain ZIS will not change in place: said before
/// the connection is deleted and created again.
fn took_over(
    adopted: bool,
    identity: &Identity,
    old_domain: &str,
    desired: &Desired<'_>,
) -> Vec<Note> {
    let (happened, whose) = if adopted {
        (Happened::Adopted, "adopted the existing connection")
    } else {
        (
            Happened::Created,
            "confirmed the connection from an interrupted create,",
        )
    };
    vec![Note {
        happened,
        message: format!(
            "{whose} {identity} and pushed our token; ZIS does not change its domain {old_domain} in place, so it is deleted and created again for {}",
            desired.target.allowed_domain
        ),
    }]
}

/// How a PATCH that may carry a new domain ended.
enum Pushed {
    /// Written; what a read afterwards saw (if it worked).
    Done(Option<BearerConnection>),
    /// ZIS will not change the domain in place, and that alone: the same PATCH without the
    /// domain succeeded (the token is pushed), or it answered 204 and a read still shows the old
    /// domain. Only this justifies deleting the connection to create it again.
    DomainRefused,
    /// ZIS answered 404: the connection is gone.
    Gone,
}

/// PATCHes our token (and the domain when `domain`), and proves a refusal of the domain before
/// anyone may act on it. A 400 that is not proven to be about the domain is a failure like any
/// other: nothing is deleted on a guess. The token is always sent: pushing the same token again
/// is harmless, and a PATCH that changes nothing would prove nothing.
async fn push(
    client: &IntegrationClient,
    identity: &Identity,
    desired: &Desired<'_>,
    domain: bool,
    doing: &str,
) -> Result<Pushed, Failure> {
    let update = BearerTokenUpdate {
        token: Some(desired.token.clone()),
        allowed_domain: domain.then(|| desired.target.allowed_domain.clone()),
    };
    match client
        .update_bearer(&identity.connection_name, &update)
        .await
    {
        Ok(()) => {}
        Err(ZisError::NotFound) => return Ok(Pushed::Gone),
        Err(ZisError::Invalid { code, title }) if domain => {
            let without_domain = BearerTokenUpdate {
                token: Some(desired.token.clone()),
                allowed_domain: None,
            };
            return match client
                .update_bearer(&identity.connection_name, &without_domain)
                .await
            {
                Ok(()) => {
                    tracing::info!(connection = %identity, %code, "ZIS refuses only the new domain");
                    Ok(Pushed::DomainRefused)
                }
                Err(ZisError::NotFound) => Ok(Pushed::Gone),
                Err(ZisError::Invalid { .. }) => Err(Failure::stalled(
                    "InvalidRequest",
                    format!(
                        "{doing}: ZIS rejected the request ({code}: {title}), also without the new domain, so the cause is not the domain; the connection was left as it is"
                    ),
                )),
                Err(error) => Err(Failure::from_zis(doing, &error)),
            };
        }
        Err(error) => return Err(Failure::from_zis(doing, &error)),
    }
    let seen = read_back(client, identity).await;
    if domain
        && seen
            .as_ref()
            .is_some_and(|s| s.allowed_domain != desired.target.allowed_domain)
    {
        // 204, yet the old domain: the server ignored it.
        return Ok(Pushed::DomainRefused);
    }
    Ok(Pushed::Done(seen))
}

/// A best-effort read after a write, for `updatedAt` and to confirm a domain change; a failed
/// read does not undo the successful write.
async fn read_back(client: &IntegrationClient, identity: &Identity) -> Option<BearerConnection> {
    match client.get_bearer(&identity.connection_name).await {
        Ok(seen) => Some(seen),
        Err(error) => {
            tracing::debug!(connection = %identity, %error, "read after write failed");
            None
        }
    }
}

/// Deletes `identity` so that it can be created again with the new domain.
async fn replace(
    record: &mut ZisBearerConnectionStatus,
    client: &IntegrationClient,
    identity: &Identity,
    notes: Vec<Note>,
) -> Result<Step, Failure> {
    match client.delete_bearer(&identity.connection_name).await {
        Ok(()) | Err(ZisError::NotFound) => {}
        Err(error) => {
            return Err(Failure::from_zis(
                &format!("deleting {identity} to change its domain"),
                &error,
            ));
        }
    }
    record.remote = None;
    record.token_fingerprint = None;
    record.created_at = None;
    record.updated_at = None;
    Ok(Step::Recreate(notes))
}

async fn update(
    desired: &Desired<'_>,
    record: &mut ZisBearerConnectionStatus,
    remote: &Remote<'_>,
    token: bool,
    domain: bool,
) -> Result<Step, Failure> {
    let target = desired.target;
    let identity = Identity::of_target(target);
    let client = remote.integration(&target.integration)?;
    let doing = format!("updating {identity}");
    let seen = match push(&client, &identity, desired, domain, &doing).await? {
        Pushed::Done(seen) => seen,
        Pushed::Gone => {
            // Deleted behind our back since it was last read: create it again.
            record.remote = None;
            return Ok(Step::Continue(Vec::new()));
        }
        Pushed::DomainRefused => return replace(record, &client, &identity, Vec::new()).await,
    };
    record_synced(record, desired, seen.as_ref(), None);
    let what = match (token, domain) {
        (true, true) => format!("pushed the token and domain {}", target.allowed_domain),
        (false, true) => format!("changed the domain to {}", target.allowed_domain),
        _ => "pushed the current token".to_owned(),
    };
    Ok(Step::Continue(vec![Note {
        happened: Happened::Updated,
        message: format!("updated {identity}: {what}"),
    }]))
}

async fn remove_old(
    old: &Identity,
    delete: bool,
    record: &mut ZisBearerConnectionStatus,
    remote: &Remote<'_>,
) -> Result<Step, Failure> {
    // A name only a create was sent for (never confirmed) is ours only if ZIS says so.
    let unconfirmed = record
        .pending_create
        .as_ref()
        .filter(|p| Identity::of_pending(p) == *old)
        .filter(|_| {
            !record
                .remote
                .as_ref()
                .is_some_and(|r| Identity::of_remote(r) == *old)
        });
    let note = if delete {
        let client = remote.integration(&old.integration)?;
        let doing = format!("deleting the previous connection {old}");
        let ours = match unconfirmed {
            None => true,
            Some(pending) => created_by(&client, old, pending)
                .await
                .map_err(|e| Failure::from_zis(&doing, &e))?,
        };
        if ours {
            match client.delete_bearer(&old.connection_name).await {
                Ok(()) | Err(ZisError::NotFound) => {}
                Err(error) => return Err(Failure::from_zis(&doing, &error)),
            }
        }
        ours.then(|| Note {
            happened: Happened::Deleted,
            message: format!("deleted the previous connection {old} (integration or name changed)"),
        })
    } else {
        Some(Note {
            happened: Happened::Orphaned,
            message: format!(
                "left the previous connection {old} in place (deletionPolicy Orphan; integration or name changed)"
            ),
        })
    };
    if record
        .remote
        .as_ref()
        .is_some_and(|r| Identity::of_remote(r) == *old)
    {
        record.remote = None;
        record.token_fingerprint = None;
        record.created_at = None;
        record.updated_at = None;
        record.adopted = None;
    }
    if record
        .retiring
        .as_ref()
        .is_some_and(|r| Identity::of_remote(r) == *old)
    {
        record.retiring = None;
    }
    if record
        .pending_create
        .as_ref()
        .is_some_and(|p| Identity::of_pending(p) == *old)
    {
        record.pending_create = None;
    }
    Ok(Step::Continue(note.into_iter().collect()))
}

/// Whether the connection `identity` exists and was made by the unconfirmed create `pending`
/// (see `plan::created_by_pending`); `false` when it does not exist.
async fn created_by(
    client: &IntegrationClient,
    identity: &Identity,
    pending: &PendingCreate,
) -> Result<bool, ZisError> {
    match client.get_bearer(&identity.connection_name).await {
        Ok(existing) => {
            let ours = created_by_pending(pending, &existing.created_at);
            if !ours {
                tracing::info!(connection = %identity, "a create was pending, but the connection predates it: someone else's, left alone");
            }
            Ok(ours)
        }
        Err(ZisError::NotFound) => Ok(false),
        Err(error) => Err(error),
    }
}

/// Deletes `doomed` for cleanup (404 counts as gone). A connection only a create was sent for
/// is deleted only if ZIS dates it after that create; an older one is someone else's.
/// Returns whether a connection of ours was deleted (or already gone); a failure keeps its own
/// reason (the caller reports it as `DeleteFailed`).
pub async fn delete(remote: &Remote<'_>, doomed: &Doomed) -> Result<bool, Failure> {
    let identity = &doomed.identity;
    let client = remote.integration(&identity.integration)?;
    let failed = |error: ZisError| Failure::from_zis(&format!("deleting {identity}"), &error);
    if let Some(pending) = &doomed.unconfirmed
        && !created_by(&client, identity, pending)
            .await
            .map_err(failed)?
    {
        return Ok(false);
    }
    match client.delete_bearer(&identity.connection_name).await {
        Ok(()) | Err(ZisError::NotFound) => Ok(true),
        Err(error) => Err(failed(error)),
    }
}
