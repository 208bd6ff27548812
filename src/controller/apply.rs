//! One reconcile of an object that exists (not being deleted), as one straight line:
//!
//! 1. **observe**: the object as stored (never a cache older than our own status write), the
//!    caches (Secret metadata, the index of who claims which name), and the token Secret only
//!    when its `resourceVersion` is not the one last pushed;
//! 2. **decide**: validate the spec and the token, defer to another object that owns the name,
//!    and let [`Run::sync`] plan (`plan`) from the status, which is the record of what was pushed;
//! 3. **act**: at most what the plan asks of ZIS (`act`), unless a retry gate or the
//!    integration's breaker holds the calls back;
//! 4. **record**: one status write when something changed, the events, the retry decision.

use std::sync::Arc;
use std::time::Duration;

use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, ResourceExt};
use tracing::debug;

use super::access::AccessError;
use super::act::Desired;
use super::context::{Context, Inputs, StatusDigest};
use super::index::senior_claimant;
use super::outcome::Failure;
use super::own_writes::version_digest;
use super::report::{self, Verdict};
use super::run::Run;
use super::validate::{self, Target};
use super::{Error, dereference, fingerprint, requested};
use crate::resource::{AdoptionPolicy, ConditionStatus, ZisBearerConnection};
use crate::secret::SecretString;

type Object = ZisBearerConnection;

/// The token as this reconcile pushes it.
pub(super) struct Token {
    pub(super) value: SecretString,
    pub(super) fingerprint: String,
    /// Of the Secret it was read from.
    pub(super) resource_version: Option<String>,
}

pub(super) async fn apply(
    object: Arc<Object>,
    api: &Api<Object>,
    ctx: &Context,
) -> Result<Requeue, Error> {
    // Observe.
    let key = super::index::key_of(&object);
    let Some(object) = fresh(object, api, ctx, &key).await? else {
        return Ok(Requeue::await_change());
    };
    if !ctx.access.read_once() {
        return Ok(wait_for_credentials(&key));
    }
    let mut run = Run::new(&object, api, ctx, key);
    // A "reconcile now" request takes no shortcut below (it may even probe credentials the
    // breaker holds back), and the status this reconcile writes says it was handled.
    let asked_now = match requested::take(&object, ctx, &run.key) {
        Some(requested) => {
            run.record.last_handled_reconcile_at = Some(requested);
            true
        }
        None => false,
    };

    // Decide.
    let target = match validate::target(&object.name_any(), &object.spec) {
        Ok(target) => target,
        Err(error) => return run.fail(Failure::from_validation(&error)).await,
    };
    if ctx.access.pending(&target.integration) {
        return Ok(wait_for_credentials(&run.key));
    }
    if object.spec.suspend {
        let in_sync = suspended_in_sync(&object, &target, ctx).await?;
        run.write(&Verdict::Suspended { in_sync }).await?;
        return Ok(Requeue::await_change());
    }
    if let Err(refused) = admitted(&object, &target, ctx) {
        return run.fail(Failure::from_access(&refused)).await;
    }
    if let Some(owner) = senior_claimant(&object, &target, ctx) {
        return run.defer_to(&owner, &target).await;
    }
    let epoch = ctx.access.epoch();
    // Read before any call, to tell a refusal of a token replaced meanwhile.
    let tokens = ctx.access.token_generation();
    if unchanged_since_sync(&object, &target, ctx, &run.key, epoch) {
        // The drift watch wakes this object if its connection changes remotely.
        debug!(key = %run.key, "nothing changed since the last sync; no reads");
        return Ok(Requeue::await_change());
    }
    let token = match read_token(&object, ctx).await? {
        Ok(token) => token,
        Err(failure) => return run.fail(failure).await,
    };
    if let Err(error) = ctx.access.client(&target.integration) {
        return run.fail(Failure::from_access(&error)).await;
    }
    let inputs = Inputs {
        generation: object.metadata.generation,
        fingerprint: token.fingerprint.clone(),
        // Read once for the whole reconcile: the gate, the breaker and the memory must all
        // speak of the same credentials.
        credentials_epoch: epoch,
    };
    if let Some(left) = ctx.gated(&run.key, &inputs) {
        debug!(key = %run.key, ?left, "holding back remote calls after a failure");
        return Ok(Requeue::requeue(left));
    }

    // Act.
    let desired = Desired {
        target: &target,
        token: &token.value,
        fingerprint: &token.fingerprint,
        secret_resource_version: token.resource_version.as_deref(),
        adoption: if ctx.access.never_adopts(&target.integration) {
            AdoptionPolicy::Never
        } else {
            object.spec.adoption_policy
        },
    };
    let held = (!asked_now)
        .then(|| run.held_by_breaker(&desired, &target, epoch))
        .flatten();
    let outcome = match held {
        Some(waiting) => waiting,
        None => {
            run.sync_with_current_token(&desired, &target, tokens)
                .await?
        }
    };
    run.tell_breaker(&target.integration, epoch, &outcome);

    // Record.
    run.finish(outcome, &target, &token, inputs).await
}

/// Whether the object's namespace may use its integration (the integration's or the simple
/// mode's namespace selector, against the namespace's labels in the cache).
fn admitted(object: &Object, target: &Target, ctx: &Context) -> Result<(), AccessError> {
    let namespace = object.namespace().unwrap_or_default();
    let labels = ctx
        .namespaces
        .get(&ObjectRef::new(&namespace))
        .and_then(|meta| meta.metadata.labels.clone())
        .unwrap_or_default();
    ctx.access.admits(&target.integration, &namespace, &labels)
}

/// Re-reads the object when the cached copy predates a status this process wrote.
async fn fresh(
    object: Arc<Object>,
    api: &Api<Object>,
    ctx: &Context,
    key: &ObjectRef<Object>,
) -> Result<Option<Arc<Object>>, Error> {
    let (written, superseded) = ctx.recall(key, |m| (m.written, m.superseded));
    match written {
        Some(written) if StatusDigest::of(object.status.as_ref()) != written => {
            let version = object.metadata.resource_version.as_deref();
            if version.is_some_and(|v| superseded == Some(version_digest(v)))
                && ctx.own_writes.wait_for_echo(key)
            {
                // Our last status write was conditional on this version, so this copy is older,
                // and the watch brings the newer one next, which then wakes the object again.
                debug!(%key, "cached object is one of our status writes behind; the watch brings it");
                return Ok(None);
            }
            debug!(%key, "cached object is older than our last status write; reading it");
            let current = api.get_opt(&object.name_any()).await?;
            // From here on the server's copy is the reference (someone else may have written it).
            let status = current.as_ref().and_then(|o| o.status.as_ref());
            let digest = status.map(|status| StatusDigest::of(Some(status)));
            ctx.remember(key, |m| m.written = digest);
            Ok(current.map(Arc::new))
        }
        _ => Ok(Some(object)),
    }
}

/// Until the credentials Secret has been read once: no status, no event, no remote call. Its
/// first read wakes every object; the requeue is only a safety net.
pub(super) fn wait_for_credentials(key: &ObjectRef<Object>) -> Requeue {
    debug!(%key, "credentials not read yet; waiting");
    Requeue::requeue(Duration::from_secs(30))
}

/// The token to push (read from its Secret and checked) and its fingerprint, or the failure that
/// says why there is none.
async fn read_token(object: &Object, ctx: &Context) -> Result<Result<Token, Failure>, Error> {
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let secret_ref = &object.spec.token_secret_ref;
    let contents =
        dereference::token_secret(&ctx.client, &namespace, &secret_ref.name, &secret_ref.key)
            .await?;
    let token = match validate::token(&secret_ref.name, &secret_ref.key, contents) {
        Ok(token) => token,
        Err(error) => return Ok(Err(Failure::from_validation(&error))),
    };
    let fingerprint = fingerprint::fingerprint(
        ctx.access.fingerprint_key().as_ref(),
        &object.uid().unwrap_or_default(),
        &token.value,
    );
    Ok(Ok(Token {
        value: token.value,
        fingerprint,
        resource_version: token.resource_version,
    }))
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
    if secret_unchanged(object, ctx) {
        return Ok(true);
    }
    match read_token(object, ctx).await? {
        Ok(token) => Ok(status.token_fingerprint.as_deref() == Some(token.fingerprint.as_str())),
        Err(_) => Ok(false),
    }
}

/// Whether the cached metadata of the object's token Secret shows the `resourceVersion` the
/// status records as last pushed.
fn secret_unchanged(object: &Object, ctx: &Context) -> bool {
    let Some(status) = object.status.as_ref() else {
        return false;
    };
    let namespace = object.namespace().unwrap_or_default();
    let cached = ctx
        .secrets
        .get(&namespace, &object.spec.token_secret_ref.name);
    cached.is_some() && cached == status.secret_resource_version
}

/// Whether the status alone shows the object in sync, so that nothing needs to be read: synced
/// for its generation with the connection it asks for, its token Secret unchanged since the last
/// push, nothing pending, no reason to look at the remote connection, and no change of the
/// credentials since this process confirmed it. After a restart the status is trusted as it is
/// (so a restart with everything in sync is quiet); the drift watch confirms it remotely.
fn unchanged_since_sync(
    object: &Object,
    target: &Target,
    ctx: &Context,
    key: &ObjectRef<Object>,
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
    synced
        && secret_unchanged(object, ctx)
        && ctx.recall(key, |m| {
            !m.look && m.synced_epoch.is_none_or(|synced| synced == epoch)
        })
}
