//! The reconcile loop of `ZisBearerConnection` objects.
//!
//! One reconcile is a short pipeline, each step in its own module:
//! [`dereference`] (token Secret) -> [`validate`] (typed desired state) -> [`plan`] (one action)
//! -> [`act`] (ZIS calls) -> [`report`] (status, events). [`credentials`] caches the operator's
//! own ZIS credentials, [`fingerprint`] keys the token fingerprints, [`outcome`] holds what steps
//! produce, [`context`] what reconciles share and remember, `index` relates objects to Secrets
//! and to each other, `run` is one reconcile's plan/act loop and status writes, [`requested`]
//! handles the "reconcile now" annotation. This module only dispatches: the finalizer, the early
//! exits, the retry decision. `crate::runtime` wires it.

pub mod act;
pub mod breaker;
pub mod context;
pub mod credentials;
pub mod dereference;
pub mod drift;
pub mod fingerprint;
pub mod index;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod requested;
mod run;
pub mod trim;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action as Requeue;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::{debug, warn};

use act::{Desired, Remote};
use context::Inputs;
use index::{identities_of, release_to_peers, senior_claimant};
use outcome::{Failure, Note, Retry, SyncOutcome};
use plan::{Cleanup, Identity, Recorded};
use report::Verdict;
use run::Run;
use validate::Target;

pub use context::{Context, Settings, Watched};
pub use index::{objects_using_secret, peers_waiting_for};

use crate::metrics::{KubeWrite, ReconcileOutcome};
use crate::resource::{ConditionStatus, FINALIZER, ZisBearerConnection};

type Object = ZisBearerConnection;

/// Why a reconcile ended without an action (the controller retries with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error(transparent)]
    SecretRead(#[from] dereference::SecretReadError),
    #[error("remote cleanup is blocked: {message}")]
    CleanupBlocked { message: String, delay: Duration },
    /// A failed cleanup is waiting out its retry delay (nothing it depends on changed).
    #[error("remote cleanup is held back for {left:?} after a failure")]
    CleanupHeld { left: Duration },
    /// Someone else wrote the status with another record of the remote side while this
    /// reconcile ran: it stops (after saving what it learned) and starts again from the stored
    /// object.
    #[error("the status was changed by another writer; starting again from the stored object")]
    Overtaken,
    /// This replica lost the leader lease: nothing more is written.
    #[error("this replica is no longer the leader")]
    NotLeader,
    /// A cleanup waits quietly until the credentials Secret has been read once.
    #[error("remote cleanup waits for the credentials to be read")]
    CredentialsNotRead,
    #[error("finalizer handling failed: {0}")]
    Finalizer(String),
    #[error("object has no namespace")]
    NoNamespace,
}

/// The controller's reconcile function: [`reconcile_object`], measured.
pub async fn reconcile(object: Arc<Object>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let key = ObjectRef::from_obj(&*object);
    let started = Instant::now();
    // Left over only if an earlier reconcile of this object was cancelled mid-way.
    ctx.take_failure(&key);
    let result = reconcile_object(object, ctx.clone()).await;
    let reported = ctx.take_failure(&key);
    ctx.metrics
        .reconciled(started.elapsed(), reconcile_outcome(&result, reported));
    result
}

/// How a reconcile ended, for the metrics: a failure reported in the status (its `Ready`
/// reason) or one that could not be (the [`Error::reason`]), else `Ok`.
fn reconcile_outcome(
    result: &Result<Requeue, Error>,
    reported: Option<&'static str>,
) -> ReconcileOutcome {
    match (result, reported) {
        (Err(error), _) => ReconcileOutcome::Failed(error.reason()),
        (Ok(_), Some(reason)) => ReconcileOutcome::Failed(reason),
        (Ok(_), None) => ReconcileOutcome::Ok,
    }
}

impl Error {
    /// A stable CamelCase name for metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Kube(_) | Error::SecretRead(_) => "KubernetesApiError",
            Error::CleanupBlocked { .. } | Error::CleanupHeld { .. } => "DeleteFailed",
            Error::CredentialsNotRead => "CredentialsNotRead",
            Error::Overtaken => "Overtaken",
            Error::NotLeader => "NotLeader",
            Error::Finalizer(_) => "FinalizerError",
            Error::NoNamespace => "NoNamespace",
        }
    }
}

/// Reconciles one object: the finalizer, then [`apply`] or [`cleanup`].
async fn reconcile_object(object: Arc<Object>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let key = ObjectRef::from_obj(&*object);
    // The controller already runs each reconcile in a span naming the object.
    let api: Api<Object> = Api::namespaced(ctx.client.clone(), &namespace);
    // The finalizer helper writes once when it adds the finalizer (an object without it, not
    // being deleted) and once when it removes it (a cleanup that succeeded).
    let has_finalizer = object.finalizers().iter().any(|f| f == FINALIZER);
    let deleting = object.metadata.deletion_timestamp.is_some();
    let result = finalizer(&api, FINALIZER, object, |event| async {
        match event {
            FinalizerEvent::Apply(object) => apply(object, &api, &ctx).await,
            FinalizerEvent::Cleanup(object) => cleanup(object, &ctx).await,
        }
    })
    .await;
    if result.is_ok() && has_finalizer == deleting {
        ctx.metrics.kube_write(KubeWrite::Finalizer);
    }
    match result {
        Ok(requeue) => Ok(requeue),
        // The failure was counted and reported once, where it happened.
        Err(finalizer::Error::CleanupFailed(Error::CleanupBlocked { message, delay })) => {
            warn!(%key, %message, ?delay, "remote cleanup blocked; the finalizer stays");
            Ok(Requeue::requeue(delay))
        }
        Err(finalizer::Error::CleanupFailed(Error::CleanupHeld { left })) => {
            debug!(%key, ?left, "holding back the remote cleanup after a failure");
            Ok(Requeue::requeue(left))
        }
        Err(finalizer::Error::CleanupFailed(Error::CredentialsNotRead)) => {
            Ok(wait_for_credentials(&key))
        }
        Err(finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error)) => {
            Err(error)
        }
        Err(other) => Err(Error::Finalizer(other.to_string())),
    }
}

/// The controller's error policy: unexpected failures (Kubernetes API) back off per object.
pub fn error_policy(object: Arc<Object>, error: &Error, ctx: Arc<Context>) -> Requeue {
    let key = ObjectRef::from_obj(&*object);
    if matches!(error, Error::Overtaken) {
        // Not a failure: the next reconcile starts from the stored object.
        debug!(%key, %error, "starting again");
        return Requeue::requeue(Duration::from_millis(100));
    }
    warn!(%key, %error, "reconcile failed");
    ctx.requeue_after(&key, Retry::Backoff)
}

/// Re-reads the object when the cached copy predates a status this process wrote.
async fn fresh(
    object: Arc<Object>,
    api: &Api<Object>,
    ctx: &Context,
    key: &ObjectRef<Object>,
) -> Result<Option<Arc<Object>>, Error> {
    let written = ctx.remember(key, |m| m.written.clone());
    match written {
        Some(written) if object.status.as_ref() != Some(&written) => {
            debug!(%key, "cached object is older than our last status write; reading it");
            let current = api.get_opt(&object.name_any()).await?;
            // From here on the server's copy is the reference (someone else may have written it).
            let status = current.as_ref().and_then(|o| o.status.clone());
            ctx.remember(key, |m| m.written = status);
            Ok(current.map(Arc::new))
        }
        _ => Ok(Some(object)),
    }
}

async fn apply(object: Arc<Object>, api: &Api<Object>, ctx: &Context) -> Result<Requeue, Error> {
    let key = ObjectRef::from_obj(&*object);
    let Some(object) = fresh(object, api, ctx, &key).await? else {
        return Ok(Requeue::await_change());
    };
    if !ctx.credentials.read_once() {
        return Ok(wait_for_credentials(&key));
    }
    let mut run = Run::new(&object, api, ctx, key);
    // A "reconcile now" request: no shortcut below (it may even probe credentials the breaker
    // holds back), and the status this reconcile writes says so.
    let requested_now = requested::take(&object, ctx, &run.key);
    let asked_now = requested_now.is_some();
    if let Some(requested) = requested_now {
        run.record.last_handled_reconcile_at = Some(requested);
    }
    let name = object.name_any();

    let target = match validate::target(&name, &object.spec) {
        Ok(target) => target,
        Err(error) => return run.fail(Failure::from_validation(&error)).await,
    };
    if object.spec.suspend {
        let in_sync = suspended_in_sync(&object, &target, ctx).await?;
        run.write(&Verdict::Suspended { in_sync }).await?;
        return Ok(Requeue::await_change());
    }
    if let Some(owner) = senior_claimant(&object, &target, ctx) {
        // The other object comes first for the name: never write to it. Our record of it is
        // dropped only if the owner holds it too (then the owner cleans it up); a connection
        // only we hold is never forgotten (a holder always comes first, so this is defensive).
        let wanted = Identity::of_target(&target);
        if owner.owns(&wanted)
            && run
                .record
                .remote
                .as_ref()
                .is_some_and(|r| Identity::of_remote(r) == wanted)
        {
            run.record.remote = None;
            run.record.token_fingerprint = None;
            run.record.adopted = None;
        }
        if run
            .record
            .pending_create
            .as_ref()
            .is_some_and(|p| Identity::of_pending(p) == wanted)
        {
            run.record.pending_create = None;
        }
        let why = if owner.owns(&wanted) {
            "its status holds it"
        } else {
            "older"
        };
        let mut message = format!(
            "ZisBearerConnection {}/{} ({why}) already manages connection {wanted}; this object leaves it alone",
            owner.namespace, owner.name
        );
        if owner.deleting {
            // No polling: the owner's cleanup and its removal from the cache wake this object
            // (`release_to_peers`, `peers_waiting_for`); the slow retry is only a safety net.
            message.push_str(" until that object, being deleted, is gone");
        }
        return run.fail(Failure::stalled("Conflict", message)).await;
    }

    let secret_ref = &object.spec.token_secret_ref;
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let epoch = ctx.credentials.epoch();
    if unchanged_since_sync(&object, &target, ctx, &run.key, &namespace, epoch) {
        // The drift watch lists the remote side on the resync interval and wakes this object if
        // its connection differs: nothing to do until something changes.
        debug!(key = %run.key, "nothing changed since the last sync; no reads");
        return Ok(Requeue::await_change());
    }
    let contents =
        dereference::token_secret(&ctx.client, &namespace, &secret_ref.name, &secret_ref.key)
            .await?;
    let token = match validate::token(&secret_ref.name, &secret_ref.key, contents) {
        Ok(token) => token,
        Err(error) => return run.fail(Failure::from_validation(&error)).await,
    };
    if let Err(error) = ctx.credentials.for_integration(&target.integration) {
        return run.fail(Failure::from_credentials(&error)).await;
    }
    let uid = object.uid().unwrap_or_default();
    let fingerprint = fingerprint::fingerprint(
        ctx.credentials.fingerprint_key().as_ref(),
        &uid,
        &token.value,
    );
    let desired = Desired {
        target: &target,
        token: &token.value,
        fingerprint: &fingerprint,
        secret_resource_version: token.resource_version.as_deref(),
        adoption: object.spec.adoption_policy,
    };
    let inputs = Inputs {
        generation: object.metadata.generation,
        fingerprint: fingerprint.clone(),
        // The epoch read once for this whole reconcile: the gate, the breaker and the memory
        // must all speak of the same credentials.
        credentials_epoch: epoch,
    };
    if let Some(left) = ctx.gated(&run.key, &inputs) {
        debug!(key = %run.key, ?left, "holding back remote calls after a failure");
        return Ok(Requeue::requeue(left));
    }
    let held = if asked_now {
        None
    } else {
        run.held_by_breaker(&desired, &target, epoch)
    };
    let outcome = match held {
        Some(waiting) => waiting,
        None => run.sync(&desired, &target).await?,
    };
    run.tell_breaker(&target.integration, epoch, &outcome);
    match outcome {
        SyncOutcome::InSync { confirmed } => {
            ctx.remember(&run.key, |m| m.gate = None);
            // The pushed token is still current under a new Secret version (recreated, or only
            // its metadata changed): record the version when the status is written anyway, so
            // later reconciles can skip reading the Secret; never write status just for this.
            let was_synced = report::ready(&run.written)
                .is_some_and(|c| c.status == ConditionStatus::True && c.reason == "Synced")
                && run.written.observed_generation == object.metadata.generation;
            if !was_synced && run.record.token_fingerprint.as_deref() == Some(fingerprint.as_str())
            {
                run.record.secret_resource_version = token.resource_version.clone();
            }
            let message = format!(
                "connection {} is in sync for {}",
                Identity::of_target(&target),
                target.allowed_domain
            );
            run.write(&Verdict::Synced { message, confirmed }).await?;
            run.publish_notes().await;
            // A name this object held before a rename is free now for anyone waiting on it.
            let before = object
                .status
                .as_ref()
                .and_then(|s| s.remote.as_ref())
                .map(Identity::of_remote);
            if let Some(old) = before.filter(|old| *old != Identity::of_target(&target)) {
                release_to_peers(ctx, &[old], &run.key);
            }
            ctx.remember(&run.key, |m| {
                m.failures = 0;
                m.look = false;
                m.synced_epoch = Some(epoch);
            });
            // No periodic requeue: the drift watch wakes it if the remote side changes.
            Ok(Requeue::await_change())
        }
        SyncOutcome::Failed(failure) => {
            let delay = run.fail_after(failure).await?;
            ctx.close_gate(&run.key, delay, inputs);
            Ok(Requeue::requeue(delay))
        }
        SyncOutcome::CheckFailed(failure) => {
            let delay = run.check_failed(failure).await?;
            ctx.close_gate(&run.key, delay, inputs);
            Ok(Requeue::requeue(delay))
        }
    }
}

/// Until the credentials Secret has been read once: no status, no event, no remote call. Its
/// first read wakes every object; the requeue is only a safety net.
fn wait_for_credentials(key: &ObjectRef<Object>) -> Requeue {
    debug!(%key, "credentials not read yet; waiting");
    Requeue::requeue(Duration::from_secs(30))
}

/// While suspended (no remote calls): whether the recorded remote connection still answers the
/// spec (integration, name, domain) and the current token. The token Secret is read only when its
/// cached `resourceVersion` is not the one last pushed.
async fn suspended_in_sync(object: &Object, target: &Target, ctx: &Context) -> Result<bool, Error> {
    let Some(status) = object.status.as_ref() else {
        return Ok(false);
    };
    if !report::records_target(status, target) {
        return Ok(false);
    }
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let secret_ref = &object.spec.token_secret_ref;
    let cached = ctx
        .secrets
        .get(&ObjectRef::new(&secret_ref.name).within(&namespace));
    let cached_version = cached.and_then(|c| c.metadata.resource_version.clone());
    if cached_version.is_some() && cached_version == status.secret_resource_version {
        return Ok(true);
    }
    let contents =
        dereference::token_secret(&ctx.client, &namespace, &secret_ref.name, &secret_ref.key)
            .await?;
    let Ok(token) = validate::token(&secret_ref.name, &secret_ref.key, contents) else {
        return Ok(false);
    };
    let fingerprint = fingerprint::fingerprint(
        ctx.credentials.fingerprint_key().as_ref(),
        &object.uid().unwrap_or_default(),
        &token.value,
    );
    Ok(status.token_fingerprint.as_deref() == Some(fingerprint.as_str()))
}

/// Whether the status alone shows the object in sync, so that nothing needs to be read: synced
/// for its generation with the connection it asks for, its token Secret's `resourceVersion`
/// (from the metadata cache) the one last pushed, nothing pending, no reason to look at the
/// remote connection, and no change of the credentials since this process confirmed it. After a
/// restart the status is trusted as it is (so a restart with everything in sync is quiet); the
/// drift watch confirms it remotely.
fn unchanged_since_sync(
    object: &Object,
    target: &Target,
    ctx: &Context,
    key: &ObjectRef<Object>,
    namespace: &str,
    epoch: u64,
) -> bool {
    let Some(status) = object.status.as_ref() else {
        return false;
    };
    let synced = report::ready(status)
        .is_some_and(|ready| ready.status == ConditionStatus::True && ready.reason == "Synced")
        && status.observed_generation == object.metadata.generation
        && report::records_target(status, target)
        && status.pending_create.is_none()
        && status.retiring.is_none();
    if !synced {
        return false;
    }
    let secret = ObjectRef::new(&object.spec.token_secret_ref.name).within(namespace);
    let secret_unchanged = ctx.secrets.get(&secret).is_some_and(|cached| {
        cached.metadata.resource_version.is_some()
            && cached.metadata.resource_version == status.secret_resource_version
    });
    secret_unchanged
        && ctx.remember(key, |m| {
            !m.look && m.synced_epoch.is_none_or(|synced| synced == epoch)
        })
}

async fn cleanup(cached: Arc<Object>, ctx: &Context) -> Result<Requeue, Error> {
    let key = ObjectRef::from_obj(&*cached);
    let namespace = cached.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Object> = Api::namespaced(ctx.client.clone(), &namespace);
    // What to delete is decided from the stored object, never from the cache alone: the cache
    // may not have seen the status write that recorded a create made a moment ago, and deciding
    // from it would release the finalizer and leak that connection.
    let Some(object) = api.get_opt(&cached.name_any()).await? else {
        return Ok(Requeue::await_change());
    };
    let mut run = Run::new(&object, &api, ctx, key.clone());
    let recorded = Recorded::of(&run.record);
    match plan::plan_cleanup(object.spec.deletion_policy, recorded) {
        Cleanup::Release => {}
        Cleanup::Orphan(identities) => {
            let names: Vec<String> = identities.iter().map(ToString::to_string).collect();
            run.notes.push(Note {
                happened: outcome::Happened::Orphaned,
                message: format!("left {} in place (deletionPolicy Orphan)", names.join(", ")),
            });
        }
        // An `Err` keeps the finalizer: an `Ok` from cleanup releases it.
        Cleanup::Delete(_) if !ctx.credentials.read_once() => {
            return Err(Error::CredentialsNotRead);
        }
        Cleanup::Delete(identities) => {
            // Like `apply`: after a failure, events that change nothing (our own DeleteFailed
            // status write, Secret touches) must not cut the retry delay short. A spec change
            // (for example to deletionPolicy Orphan) or new credentials open the gate.
            let epoch = ctx.credentials.epoch();
            let inputs = Inputs {
                generation: object.metadata.generation,
                fingerprint: String::new(),
                credentials_epoch: epoch,
            };
            if let Some(left) = ctx.gated(&key, &inputs) {
                return Err(Error::CleanupHeld { left });
            }
            let remote = Remote {
                zis: &ctx.zis,
                credentials: &ctx.credentials,
            };
            for doomed in identities {
                let integration = doomed.identity.integration.clone();
                let deleted = match run.deletion_held_by_breaker(&integration, epoch) {
                    Some(waiting) => Err(waiting),
                    None => act::delete(&remote, &doomed).await,
                };
                run.tell_breaker_of_deletion(&integration, epoch, &deleted);
                match deleted.map_err(Failure::while_deleting) {
                    Ok(true) => run.notes.push(Note {
                        happened: outcome::Happened::Deleted,
                        message: format!("deleted {}", doomed.identity),
                    }),
                    // Only a create was pending and the connection is not from it: not ours.
                    Ok(false) => {}
                    Err(failure) => {
                        let message = failure.message.clone();
                        let delay = run.fail_after(failure).await?;
                        ctx.close_gate(&key, delay, inputs);
                        return Err(Error::CleanupBlocked { message, delay });
                    }
                }
            }
        }
    }
    run.publish_notes().await;
    ctx.forget(&key);
    release_to_peers(ctx, &identities_of(&object), &key);
    Ok(Requeue::await_change())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reported_failure_makes_the_reconcile_count_as_failed_under_its_reason() {
        let outcome = reconcile_outcome(&Ok(Requeue::await_change()), Some("Unauthorized"));
        assert_eq!(outcome, ReconcileOutcome::Failed("Unauthorized"));
    }

    #[test]
    fn a_reconcile_without_a_reported_failure_counts_as_ok() {
        let outcome = reconcile_outcome(&Ok(Requeue::await_change()), None);
        assert_eq!(outcome, ReconcileOutcome::Ok);
    }

    #[test]
    fn an_error_returned_to_the_controller_counts_under_its_own_reason() {
        let outcome = reconcile_outcome(&Err(Error::NoNamespace), None);
        assert_eq!(outcome, ReconcileOutcome::Failed("NoNamespace"));
        let outcome = reconcile_outcome(
            &Err(Error::Finalizer("finalizer conflict".into())),
            Some("RateLimited"),
        );
        assert_eq!(outcome, ReconcileOutcome::Failed("FinalizerError"));
    }

    #[test]
    fn reconcile_outcomes_increment_the_matching_series() {
        let metrics = crate::metrics::Metrics::new();
        let outcome = reconcile_outcome(&Ok(Requeue::await_change()), Some("ZisUnavailable"));
        metrics.reconciled(Duration::from_millis(2), outcome);
        let text = metrics.render().expect("renders");
        assert!(
            text.contains("zis_operator_reconciles_total{result=\"error\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("zis_operator_reconcile_failures_total{reason=\"ZisUnavailable\"} 1\n"),
            "{text}"
        );
    }
}
