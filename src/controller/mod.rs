//! The reconcile loop of `ZisBearerConnection` objects.
//!
//! One reconcile is a short pipeline, each step in its own module:
//! [`dereference`] (token Secret) -> [`validate`] (typed desired state) -> [`plan`] (one action)
//! -> [`act`] (ZIS calls) -> [`report`] (status, events). [`credentials`] caches the operator's
//! own ZIS credentials, [`fingerprint`] keys the token fingerprints, [`outcome`] holds what steps
//! produce. This module only dispatches (finalizer, per-object retry timing) and wires the
//! watches; `crate::runtime` starts it.

pub mod act;
pub mod credentials;
pub mod dereference;
pub mod fingerprint;
pub mod outcome;
pub mod plan;
pub mod report;
pub mod validate;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::channel::mpsc::UnboundedSender;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::events::Recorder;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};
use rand::Rng;
use tracing::{debug, info, warn};

use act::{Attempt, Desired, Remote, Step};
use credentials::Credentials;
use outcome::{Failure, Note, Retry, SLOW_RETRY};
use plan::{Action, Claim, Cleanup, Identity, Observation, Recorded};
use report::Verdict;
use validate::Target;

use crate::resource::{FINALIZER, PendingCreate, ZisBearerConnection, ZisBearerConnectionStatus};
use crate::zis::ZisClient;

type Object = ZisBearerConnection;

/// First delay of the exponential backoff for transient failures.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest delay of the exponential backoff.
const BACKOFF_CAP: Duration = Duration::from_secs(300);
/// How often an object waiting for the older owner of its connection name to go looks again.
const OWNER_LEAVING_POLL: Duration = Duration::from_secs(1);
/// Most plan/act steps in one reconcile (rename + create + recreate fit well within it).
const MAX_STEPS: usize = 6;

/// Settings of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often each connection is read back from ZIS (drift check), jittered by +-10%.
    pub resync: Duration,
}

/// What the operator remembers of an object between reconciles (lost on restart, by design:
/// the status is the durable record).
#[derive(Debug, Default)]
struct Memory {
    /// Consecutive transient failures, for the backoff.
    failures: u32,
    /// When the remote connection was last read or written.
    last_checked: Option<Instant>,
    /// The last status this process wrote, to detect a stale cached copy of the object.
    written: Option<ZisBearerConnectionStatus>,
    /// After a remote failure: no remote call before `until` unless the inputs change.
    gate: Option<Gate>,
}

/// Holds back remote calls after a failure, so that events that change nothing (our own status
/// writes, Secret metadata touches) cannot turn a retry delay into a hot loop. Any change of the
/// spec, the token or the operator's credentials opens it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Gate {
    until: Instant,
    inputs: Inputs,
}

/// What a remote failure depended on.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inputs {
    generation: Option<i64>,
    fingerprint: String,
    credentials_epoch: u64,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: kube::Client,
    pub zis: ZisClient,
    pub credentials: Arc<Credentials>,
    pub recorder: Recorder,
    pub store: Store<Object>,
    pub settings: Settings,
    /// Asks for other objects to be reconciled (a released connection name).
    pub peers: UnboundedSender<ObjectRef<Object>>,
    memory: Mutex<HashMap<ObjectRef<Object>, Memory>>,
}

/// Why a reconcile ended without an action (the controller retries with backoff).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api call failed: {0}")]
    Kube(#[from] kube::Error),
    #[error("remote cleanup is blocked: {message}")]
    CleanupBlocked { message: String, retry: Retry },
    #[error("finalizer handling failed: {0}")]
    Finalizer(String),
    #[error("object has no namespace")]
    NoNamespace,
}

impl Context {
    pub fn new(
        client: kube::Client,
        zis: ZisClient,
        credentials: Arc<Credentials>,
        recorder: Recorder,
        store: Store<Object>,
        settings: Settings,
        peers: UnboundedSender<ObjectRef<Object>>,
    ) -> Self {
        Self {
            client,
            zis,
            credentials,
            recorder,
            store,
            settings,
            peers,
            memory: Mutex::new(HashMap::new()),
        }
    }

    fn remember<T>(&self, key: &ObjectRef<Object>, f: impl FnOnce(&mut Memory) -> T) -> T {
        // A poisoned lock only means a panic elsewhere mid-update of plain counters.
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(memory.entry(key.clone()).or_default())
    }

    fn forget(&self, key: &ObjectRef<Object>) {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.remove(key);
    }

    /// When to come back after `retry`; counts transient failures for the backoff.
    fn requeue_after(&self, key: &ObjectRef<Object>, retry: Retry) -> Requeue {
        Requeue::requeue(self.retry_delay(key, retry))
    }

    fn retry_delay(&self, key: &ObjectRef<Object>, retry: Retry) -> Duration {
        let failures = self.remember(key, |m| {
            if retry == Retry::Backoff {
                m.failures = m.failures.saturating_add(1);
            }
            m.failures
        });
        match retry {
            Retry::After(wait) => wait + jitter_up_to(wait / 10 + Duration::from_millis(100)),
            Retry::Backoff => backoff(failures),
            Retry::Slow | Retry::OnChange => SLOW_RETRY,
        }
    }

    /// Closes the gate for `requeue`'s delay after a remote failure with `inputs`.
    fn close_gate(&self, key: &ObjectRef<Object>, delay: Duration, inputs: Inputs) {
        self.remember(key, |m| {
            m.gate = Some(Gate {
                until: Instant::now() + delay,
                inputs,
            })
        });
    }

    /// How long remote calls are still held back for these inputs, if at all.
    fn gated(&self, key: &ObjectRef<Object>, inputs: &Inputs) -> Option<Duration> {
        self.remember(key, |m| {
            let gate = m.gate.as_ref()?;
            let left = gate.until.checked_duration_since(Instant::now())?;
            (gate.inputs == *inputs && !left.is_zero()).then_some(left)
        })
    }

    fn resync_after(&self) -> Requeue {
        let base = self.settings.resync;
        let tenth = base / 10;
        Requeue::requeue(base - tenth + jitter_up_to(tenth * 2))
    }

    fn resync_due(&self, key: &ObjectRef<Object>) -> bool {
        let resync = self.settings.resync;
        self.remember(key, |m| {
            // Slightly early counts as due, so a jittered requeue always finds a check to do.
            m.last_checked
                .is_none_or(|at| at.elapsed() + resync / 10 >= resync)
        })
    }
}

fn jitter_up_to(max: Duration) -> Duration {
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// Exponential backoff with "equal jitter": half the step fixed, half random.
fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let step = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(BACKOFF_CAP);
    step / 2 + jitter_up_to(step / 2)
}

/// The controller's reconcile function.
pub async fn reconcile(object: Arc<Object>, ctx: Arc<Context>) -> Result<Requeue, Error> {
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let key = ObjectRef::from_obj(&*object);
    // The controller already runs each reconcile in a span naming the object.
    let api: Api<Object> = Api::namespaced(ctx.client.clone(), &namespace);
    let result = finalizer(&api, FINALIZER, object, |event| async {
        match event {
            FinalizerEvent::Apply(object) => apply(object, &api, &ctx).await,
            FinalizerEvent::Cleanup(object) => cleanup(object, &ctx).await,
        }
    })
    .await;
    match result {
        Ok(requeue) => Ok(requeue),
        Err(finalizer::Error::CleanupFailed(Error::CleanupBlocked { message, retry })) => {
            warn!(%key, %message, "remote cleanup blocked; the finalizer stays");
            Ok(ctx.requeue_after(&key, retry))
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
            Ok(api.get_opt(&object.name_any()).await?.map(Arc::new))
        }
        _ => Ok(Some(object)),
    }
}

async fn apply(object: Arc<Object>, api: &Api<Object>, ctx: &Context) -> Result<Requeue, Error> {
    let key = ObjectRef::from_obj(&*object);
    let Some(object) = fresh(object, api, ctx, &key).await? else {
        return Ok(Requeue::await_change());
    };
    let mut run = Run::new(&object, api, ctx, key);
    let name = object.name_any();

    let target = match validate::target(&name, &object.spec) {
        Ok(target) => target,
        Err(error) => return run.fail(Failure::from_validation(&error)).await,
    };
    if object.spec.suspend {
        run.write(&Verdict::Suspended).await?;
        return Ok(Requeue::await_change());
    }
    if let Some(owner) = senior_claimant(&object, &target, &ctx.store) {
        // The older object owns the name: never write to it, and stop claiming it ourselves.
        let wanted = Identity::of_target(&target);
        if run
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
        let mut failure = Failure::stalled(
            "Conflict",
            format!(
                "ZisBearerConnection {}/{} (older) already manages connection {wanted}; this object leaves it alone",
                owner.namespace, owner.name
            ),
        );
        if owner.deleting {
            // The owner is going away: look again soon, the name is about to be free.
            failure.retry = Retry::After(OWNER_LEAVING_POLL);
        }
        return run.fail(failure).await;
    }

    let secret_ref = &object.spec.token_secret_ref;
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
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
        credentials_epoch: ctx.credentials.epoch(),
    };
    if let Some(left) = ctx.gated(&run.key, &inputs) {
        debug!(key = %run.key, ?left, "holding back remote calls after a failure");
        return Ok(Requeue::requeue(left));
    }
    match run.sync(&desired, &target).await? {
        Ok(()) => {
            ctx.remember(&run.key, |m| m.gate = None);
            let message = format!(
                "connection {} is in sync for {}",
                Identity::of_target(&target),
                target.allowed_domain
            );
            run.write(&Verdict::Synced { message }).await?;
            run.publish_notes().await;
            ctx.remember(&run.key, |m| m.failures = 0);
            Ok(ctx.resync_after())
        }
        Err(failure) => {
            let delay = run.fail_after(failure).await?;
            ctx.close_gate(&run.key, delay, inputs);
            Ok(Requeue::requeue(delay))
        }
    }
}

/// The oldest other object that targets the same connection, if older than `object`.
fn senior_claimant(object: &Object, target: &Target, store: &Store<Object>) -> Option<Claim> {
    let me = Claim {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        created: object.metadata.creation_timestamp.clone(),
        identity: Identity::of_target(target),
        deleting: object.metadata.deletion_timestamp.is_some(),
    };
    let others: Vec<Claim> = store
        .state()
        .iter()
        .filter_map(|other| claim_of(other))
        .collect();
    plan::senior_claimant(&me, others.iter()).cloned()
}

fn claim_of(object: &Object) -> Option<Claim> {
    let target = validate::target(&object.name_any(), &object.spec).ok()?;
    Some(Claim {
        namespace: object.namespace().unwrap_or_default(),
        name: object.name_any(),
        created: object.metadata.creation_timestamp.clone(),
        identity: Identity::of_target(&target),
        deleting: object.metadata.deletion_timestamp.is_some(),
    })
}

/// One reconcile of one object: the working status record, events so far, status writes.
struct Run<'a> {
    object: &'a Object,
    api: &'a Api<Object>,
    ctx: &'a Context,
    key: ObjectRef<Object>,
    /// The status as written last (by anyone), to skip no-op writes.
    written: ZisBearerConnectionStatus,
    /// The working copy: what exists remotely, as learned during this reconcile.
    record: ZisBearerConnectionStatus,
    notes: Vec<Note>,
}

impl<'a> Run<'a> {
    fn new(
        object: &'a Object,
        api: &'a Api<Object>,
        ctx: &'a Context,
        key: ObjectRef<Object>,
    ) -> Self {
        let status = object.status.clone().unwrap_or_default();
        Self {
            object,
            api,
            ctx,
            key,
            written: status.clone(),
            record: status,
            notes: Vec::new(),
        }
    }

    fn generation(&self) -> Option<i64> {
        self.object.metadata.generation
    }

    fn reference(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        self.object.object_ref(&())
    }

    /// Writes the status for `verdict` if it differs from the last written one.
    async fn write(&mut self, verdict: &Verdict) -> Result<(), Error> {
        // Conditions are computed from the last written ones so transition times carry over.
        let mut base = self.record.clone();
        base.conditions = self.written.conditions.clone();
        let status = report::next_status(&base, verdict, self.generation(), &report::now());
        self.store_status(status).await
    }

    /// Writes `status` unless it is what was written last.
    async fn store_status(&mut self, status: ZisBearerConnectionStatus) -> Result<(), Error> {
        if status == self.written {
            return Ok(());
        }
        report::write_status(self.api, &self.object.name_any(), &status).await?;
        self.record.conditions = status.conditions.clone();
        self.record.observed_generation = status.observed_generation;
        self.written = status.clone();
        self.ctx.remember(&self.key, |m| m.written = Some(status));
        Ok(())
    }

    /// Records the pending create (and, for a new generation, `Progressing`) before a POST or
    /// the first write of a new generation, so a crash right after cannot lose track of it.
    async fn before(&mut self, action: &Action, target: &Target) -> Result<(), Error> {
        if *action == Action::Create {
            self.record.pending_create = Some(PendingCreate {
                integration: target.integration.clone(),
                connection_name: target.connection_name.clone(),
            });
        }
        if self.written.observed_generation != self.generation() {
            self.write(&Verdict::Progressing).await
        } else {
            // Same conditions as written; only the record (the pending create) may change.
            let mut status = self.record.clone();
            status.conditions = self.written.conditions.clone();
            status.observed_generation = self.written.observed_generation;
            self.store_status(status).await
        }
    }

    /// Plans and acts until nothing is left to do. The outer `Result` is for Kubernetes API
    /// failures, the inner one for failures reported in the status.
    async fn sync(
        &mut self,
        desired: &Desired<'_>,
        target: &Target,
    ) -> Result<Result<(), Failure>, Error> {
        let remote = Remote {
            zis: &self.ctx.zis,
            credentials: &self.ctx.credentials,
        };
        let wanted = Identity::of_target(target);
        let mut observed = Observation::NotChecked;
        let recorded_here = self
            .record
            .remote
            .as_ref()
            .is_some_and(|r| Identity::of_remote(r) == wanted);
        if recorded_here && self.ctx.resync_due(&self.key) {
            match act::observe(&remote, &wanted).await {
                Ok(Some(seen)) => {
                    observed = Observation::Found {
                        allowed_domain: seen.allowed_domain,
                        updated_at: seen.updated_at,
                    }
                }
                Ok(None) => {
                    info!(key = %self.key, connection = %wanted, "remote connection is gone; creating it again");
                    observed = Observation::Gone;
                    self.record.remote = None;
                }
                Err(failure) => return Ok(Err(failure)),
            }
            self.ctx
                .remember(&self.key, |m| m.last_checked = Some(Instant::now()));
        }
        let deletion = self.object.spec.deletion_policy;
        let inherited = self
            .object
            .status
            .as_ref()
            .and_then(|status| status.pending_create.clone());
        let mut recreating = false;
        for _ in 0..MAX_STEPS {
            let recorded = Recorded {
                remote: self.record.remote.as_ref(),
                pending: self.record.pending_create.as_ref(),
                fingerprint: self.record.token_fingerprint.as_deref(),
                updated_at: self.record.updated_at.as_deref(),
            };
            let action = plan::plan(target, desired.fingerprint, recorded, &observed, deletion);
            debug!(key = %self.key, ?action, "planned");
            if action == Action::Nothing {
                return Ok(Ok(()));
            }
            self.before(&action, target).await?;
            let attempt = Attempt {
                recreating,
                inherited_pending: inherited.as_ref(),
            };
            match act::act(&action, desired, &mut self.record, &remote, attempt).await {
                Ok(Step::Continue(notes)) => {
                    if action == Action::Create {
                        recreating = false;
                    }
                    self.notes.extend(notes);
                }
                Ok(Step::Recreate(notes)) => {
                    recreating = true;
                    self.notes.extend(notes);
                }
                Err(failure) => return Ok(Err(failure)),
            }
            self.ctx
                .remember(&self.key, |m| m.last_checked = Some(Instant::now()));
            observed = Observation::NotChecked;
        }
        Ok(Err(Failure {
            reason: "ZisUnavailable",
            message: "the remote connection did not settle; retrying".to_owned(),
            stalled: false,
            retry: Retry::Backoff,
        }))
    }

    async fn publish_notes(&mut self) {
        let notes = std::mem::take(&mut self.notes);
        for note in &notes {
            info!(key = %self.key, event = note.happened.reason(), message = %note.message, "remote change");
        }
        report::publish_notes(&self.ctx.recorder, &self.reference(), &notes).await;
    }

    /// Reports `failure` (status, a Warning event when the reason or message is new) and
    /// decides when to retry.
    async fn fail(&mut self, failure: Failure) -> Result<Requeue, Error> {
        Ok(Requeue::requeue(self.fail_after(failure).await?))
    }

    /// Like [`Run::fail`], returning the retry delay.
    async fn fail_after(&mut self, failure: Failure) -> Result<Duration, Error> {
        let previous = report::ready(&self.written).map(|c| (c.reason.clone(), c.message.clone()));
        warn!(key = %self.key, reason = failure.reason, message = %failure.message, "not in sync");
        self.write(&Verdict::Failed(failure.clone())).await?;
        self.publish_notes().await;
        if previous != Some((failure.reason.to_owned(), failure.message.clone())) {
            report::publish_failure(&self.ctx.recorder, &self.reference(), &failure).await;
        }
        if failure.retry != Retry::Backoff {
            self.ctx.remember(&self.key, |m| m.failures = 0);
        }
        Ok(self.ctx.retry_delay(&self.key, failure.retry))
    }
}

async fn cleanup(object: Arc<Object>, ctx: &Context) -> Result<Requeue, Error> {
    let key = ObjectRef::from_obj(&*object);
    let namespace = object.namespace().ok_or(Error::NoNamespace)?;
    let api: Api<Object> = Api::namespaced(ctx.client.clone(), &namespace);
    let mut run = Run::new(&object, &api, ctx, key.clone());
    let recorded = Recorded {
        remote: run.record.remote.as_ref(),
        pending: run.record.pending_create.as_ref(),
        fingerprint: None,
        updated_at: None,
    };
    match plan::plan_cleanup(object.spec.deletion_policy, recorded) {
        Cleanup::Release => {}
        Cleanup::Orphan(identities) => {
            let names: Vec<String> = identities.iter().map(ToString::to_string).collect();
            run.notes.push(Note {
                happened: outcome::Happened::Orphaned,
                message: format!("left {} in place (deletionPolicy Orphan)", names.join(", ")),
            });
        }
        Cleanup::Delete(identities) => {
            let remote = Remote {
                zis: &ctx.zis,
                credentials: &ctx.credentials,
            };
            for identity in identities {
                if let Err(failure) = act::delete(&remote, &identity).await {
                    let retry = failure.retry;
                    let message = failure.message.clone();
                    run.fail(failure).await?;
                    return Err(Error::CleanupBlocked { message, retry });
                }
                run.notes.push(Note {
                    happened: outcome::Happened::Deleted,
                    message: format!("deleted {identity}"),
                });
            }
        }
    }
    run.publish_notes().await;
    ctx.forget(&key);
    release_to_peers(&object, ctx);
    Ok(Requeue::await_change())
}

/// Asks the other objects that want the same connection to try again (the name is free now).
fn release_to_peers(object: &Object, ctx: &Context) {
    let Some(mine) = claim_of(object) else {
        return;
    };
    for other in ctx.store.state() {
        if let Some(claim) = claim_of(&other)
            && claim.identity == mine.identity
            && !(claim.namespace == mine.namespace && claim.name == mine.name)
        {
            // The receiver lives as long as the controller; a closed channel means shutdown.
            let _ = ctx.peers.unbounded_send(ObjectRef::from_obj(&*other));
        }
    }
}

/// The objects whose token Secret is `secret` (metadata from the Secret watch).
pub fn objects_using_secret<S: Resource>(
    store: &Store<Object>,
    secret: &PartialObjectMeta<S>,
) -> Vec<ObjectRef<Object>> {
    let (Some(namespace), Some(name)) = (&secret.metadata.namespace, &secret.metadata.name) else {
        return Vec::new();
    };
    store
        .state()
        .iter()
        .filter(|object| {
            object.metadata.namespace.as_ref() == Some(namespace)
                && object.spec.token_secret_ref.name == *name
        })
        .map(|object| ObjectRef::from_obj(&**object))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_grows_and_is_capped() {
        for failures in 1..40 {
            let delay = backoff(failures);
            let step = BACKOFF_BASE
                .saturating_mul(2u32.saturating_pow(failures - 1))
                .min(BACKOFF_CAP);
            assert!(delay >= step / 2 && delay <= step, "{failures}: {delay:?}");
        }
        assert!(backoff(40) <= BACKOFF_CAP);
    }
}
