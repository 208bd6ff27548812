//! One reconcile of one object: the working copy of the status (the record of what exists
//! remotely), the plan/act loop, status writes (only when something changed) and events.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tracing::{debug, info, warn};

use super::Error;
use super::act::{self, Attempt, Desired, Remote, Step};
use super::apply::Token;
use super::breaker::{self, Admission};
use super::context::Inputs;
use super::context::{Context, StatusDigest};
use super::index::release_to_peers;
use super::outcome::{Failure, Note, Retry, SyncOutcome};
use super::own_writes::version_digest;
use super::plan::Claim;
use super::plan::{self, Action, Identity, Observation, Recorded};
use super::report::{self, Verdict};
use super::validate::Target;
use crate::metrics::KubeWrite;
use crate::resource::ConditionStatus;
use crate::resource::{PendingCreate, ZisBearerConnection, ZisBearerConnectionStatus};

type Object = ZisBearerConnection;

/// Most plan/act steps in one reconcile (rename + create + recreate fit well within it).
const MAX_STEPS: usize = 6;
/// Most tries of one status write against concurrent writers.
const MAX_STATUS_ATTEMPTS: usize = 5;

/// What a status write carries, which decides what a conflict with another writer does to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Content {
    /// What this reconcile learned remotely (and the verdict): never lost.
    Facts,
    /// The marker of an action about to be taken: dropped if the plan is outdated.
    Intent,
}

/// One reconcile of one object: the working status record, events so far, status writes.
pub(super) struct Run<'a> {
    pub(super) object: &'a Object,
    pub(super) api: &'a Api<Object>,
    pub(super) ctx: &'a Context,
    pub(super) key: ObjectRef<Object>,
    /// The status as written last (by anyone), to skip no-op writes.
    pub(super) written: ZisBearerConnectionStatus,
    /// The object's `resourceVersion` as last read or written: status writes are conditional on
    /// it, so a concurrent writer is noticed instead of silently overwritten.
    resource_version: Option<String>,
    /// The working copy: what exists remotely, as learned during this reconcile.
    pub(super) record: ZisBearerConnectionStatus,
    pub(super) notes: Vec<Note>,
    /// Failures are reported in the status only, without an event: the integration's breaker
    /// already announced that ZIS refuses the operator's credentials.
    quiet: bool,
}

impl<'a> Run<'a> {
    pub(super) fn new(
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
            resource_version: object.metadata.resource_version.clone(),
            written: status.clone(),
            record: status,
            notes: Vec::new(),
            quiet: false,
        }
    }

    pub(super) fn generation(&self) -> Option<i64> {
        self.object.metadata.generation
    }

    pub(super) fn reference(&self) -> k8s_openapi::api::core::v1::ObjectReference {
        self.object.object_ref(&())
    }

    /// Writes the status for `verdict` if it differs from the last written one.
    pub(super) async fn write(&mut self, verdict: &Verdict) -> Result<(), Error> {
        self.write_as(verdict, Content::Facts).await
    }

    async fn write_as(&mut self, verdict: &Verdict, content: Content) -> Result<(), Error> {
        // Conditions are computed from the last written ones so transition times carry over.
        let mut base = self.record.clone();
        base.conditions = self.written.conditions.clone();
        let status = report::next_status(&base, verdict, self.generation(), &report::now());
        self.store_status(status, content).await
    }

    /// The working record with the conditions as last written.
    fn record_as_written(&self) -> ZisBearerConnectionStatus {
        let mut status = self.record.clone();
        status.conditions = self.written.conditions.clone();
        status.observed_generation = self.written.observed_generation;
        status
    }

    /// Writes `status` unless it is what was written last. The write is conditional on the
    /// object not having changed since it was read. When it has, the fields this reconcile changed
    /// are written over the stored status; but if the stored status records another remote
    /// state than this reconcile started from, the reconcile stops (`Overtaken`) to start again
    /// from the stored object, after saving what it learned remotely (`Content::Facts`) or
    /// without writing a plan made from an outdated view (`Content::Intent`).
    async fn store_status(
        &mut self,
        status: ZisBearerConnectionStatus,
        content: Content,
    ) -> Result<(), Error> {
        if !self.ctx.leadership.is_leader() {
            return Err(Error::NotLeader);
        }
        let mut ours = status;
        let mut overtaken = false;
        let mut superseded = None;
        for _ in 0..MAX_STATUS_ATTEMPTS {
            if ours == self.written {
                break;
            }
            let name = self.object.name_any();
            let version = self.resource_version.as_deref();
            match report::write_status(self.api, &name, &ours, version).await {
                Ok(written) => {
                    self.ctx.metrics.kube_write(KubeWrite::Status);
                    if let Some(written) = &written {
                        self.ctx.own_writes.wrote(&self.key, written);
                    }
                    superseded = version.map(version_digest);
                    self.resource_version = written;
                    self.written = ours.clone();
                    break;
                }
                Err(kube::Error::Api(answer)) if answer.code == 409 => {
                    let Some(stored) = self.api.get_opt(&name).await? else {
                        return Err(Error::Overtaken);
                    };
                    let theirs = stored.status.unwrap_or_default();
                    debug!(key = %self.key, "the object changed since it was read; merging the status");
                    overtaken |= report::record_differs(&self.written, &theirs);
                    if overtaken && content == Content::Intent {
                        return Err(Error::Overtaken);
                    }
                    ours = report::merge_status(&self.written, &ours, &theirs);
                    self.written = theirs;
                    self.resource_version = stored.metadata.resource_version;
                }
                Err(error) => return Err(error.into()),
            }
        }
        if ours != self.written {
            return Err(Error::Overtaken);
        }
        let digest = StatusDigest::of(Some(&ours));
        self.record = ours;
        self.ctx.remember(&self.key, |m| {
            m.written = Some(digest);
            m.superseded = superseded.or(m.superseded);
        });
        if overtaken {
            return Err(Error::Overtaken);
        }
        Ok(())
    }

    /// Records the pending create (and, for a new generation, `Progressing`) before a POST or
    /// the first write of a new generation, so a crash right after cannot lose track of it.
    pub(super) async fn before(&mut self, action: &Action, target: &Target) -> Result<(), Error> {
        // What earlier steps learned remotely is saved on its own first: it must survive
        // whatever becomes of the write of the next step's intent.
        if report::record_differs(&self.written, &self.record) {
            self.store_status(self.record_as_written(), Content::Facts)
                .await?;
        }
        if *action == Action::Create {
            let identity = Identity::of_target(target);
            // A retry of an unconfirmed create keeps the first one's time: that one may be what
            // created the connection.
            // What is known of earlier creates of this name carries over too.
            let earlier = self
                .record
                .pending_create
                .take()
                .filter(|pending| Identity::of_pending(pending) == identity);
            let sent_at = earlier
                .as_ref()
                .and_then(|pending| pending.sent_at.clone())
                .unwrap_or_else(|| Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
            self.record.pending_create = Some(PendingCreate {
                integration: target.integration.clone(),
                connection_name: target.connection_name.clone(),
                sent_at: Some(sent_at),
                name_taken: earlier.is_some_and(|pending| pending.name_taken),
            });
        }
        if self.written.observed_generation != self.generation() {
            self.write_as(&Verdict::Progressing, Content::Intent).await
        } else {
            // Same conditions as written; only the record (the pending create) may change.
            self.store_status(self.record_as_written(), Content::Intent)
                .await
        }
    }

    /// Plans and acts until nothing is left to do. The `Result` is for Kubernetes API failures;
    /// the outcome says what the status should report.
    pub(super) async fn sync(
        &mut self,
        desired: &Desired<'_>,
        target: &Target,
    ) -> Result<SyncOutcome, Error> {
        let remote = Remote {
            access: &self.ctx.access,
        };
        let wanted = Identity::of_target(target);
        let mut observed = Observation::NotChecked;
        let mut confirmed = false;
        let recorded_here = self
            .record
            .remote
            .as_ref()
            .is_some_and(|r| Identity::of_remote(r) == wanted);
        let look = recorded_here && self.must_look();
        // A new generation says so at once when a remote read comes first (it can wait for the
        // pacer); otherwise the first step's own write says it (`before`), with its intent: a
        // new object's first write is then Progressing and the pending create together.
        if look && self.written.observed_generation != self.generation() {
            self.write_as(&Verdict::Progressing, Content::Intent)
                .await?;
        }
        if look {
            match act::observe(&remote, &wanted).await {
                Ok(Some(seen)) => {
                    confirmed = true;
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
                // Only a look that failed: unless there is something to change anyway, the
                // connection is as in sync as it was.
                Err(failure) if self.plan_without_looking(desired, target) == Action::Nothing => {
                    return Ok(SyncOutcome::CheckFailed(failure));
                }
                Err(failure) => return Ok(SyncOutcome::Failed(failure)),
            }
            self.ctx.remember(&self.key, |m| m.look = false);
        }
        let deletion = self.object.spec.deletion_policy;
        let inherited = self
            .object
            .status
            .as_ref()
            .and_then(|status| status.pending_create.clone());
        let mut recreating = false;
        for _ in 0..MAX_STEPS {
            let recorded = Recorded::of(&self.record);
            let action = plan::plan(target, desired.fingerprint, recorded, &observed, deletion);
            debug!(key = %self.key, ?action, "planned");
            if action == Action::Nothing {
                return Ok(SyncOutcome::InSync { confirmed });
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
                Ok(Step::Announce(notes)) => {
                    self.notes.extend(notes);
                    self.publish_notes().await;
                }
                Ok(Step::Recreate(notes)) => {
                    recreating = true;
                    self.notes.extend(notes);
                }
                Err(failure) => return Ok(SyncOutcome::Failed(failure)),
            }
            confirmed = true;
            observed = Observation::NotChecked;
        }
        Ok(SyncOutcome::Failed(Failure {
            reason: "ZisUnavailable",
            message: "the remote connection did not settle; retrying".to_owned(),
            stalled: false,
            retry: Retry::Backoff,
        }))
    }

    /// Like [`Run::sync`], once more when ZIS refused the access token and a token was replaced
    /// since `tokens` was read: the refusal may be of the old token (Zendesk deletes it as soon
    /// as it issues the next), so it says nothing yet about the credentials.
    pub(super) async fn sync_with_current_token(
        &mut self,
        desired: &Desired<'_>,
        target: &Target,
        tokens: u64,
    ) -> Result<SyncOutcome, Error> {
        let outcome = self.sync(desired, target).await?;
        let refused = outcome.failure().is_some_and(breaker::is_refusal);
        if !refused || !self.ctx.access.token_replaced_since(tokens).await {
            return Ok(outcome);
        }
        debug!(key = %self.key, "ZIS refused an access token replaced meanwhile; trying the new one");
        self.sync(desired, target).await
    }

    /// When the breaker of `target`'s integration is open: what to report instead of calling ZIS
    /// (the connection waits for the credentials, quietly).
    pub(super) fn held_by_breaker(
        &mut self,
        desired: &Desired<'_>,
        target: &Target,
        epoch: u64,
    ) -> Option<SyncOutcome> {
        let Admission::Wait { failure, retry_in } =
            self.ctx.breakers.admit(&target.integration, epoch)
        else {
            return None;
        };
        self.quiet = true;
        let waiting = Failure {
            message: format!(
                "ZIS refuses the operator's access token for integration {} ({}); waiting without calling ZIS until the credentials secret changes (one request checks it every few minutes)",
                target.integration, failure.reason
            ),
            retry: Retry::After(retry_in),
            ..failure
        };
        Some(
            if self.plan_without_looking(desired, target) == Action::Nothing {
                SyncOutcome::CheckFailed(waiting)
            } else {
                SyncOutcome::Failed(waiting)
            },
        )
    }

    /// Tells the breaker of `integration` how the remote calls went. Only the refusal that trips
    /// it is announced with an event; later ones are reported in the status alone.
    pub(super) fn tell_breaker(&mut self, integration: &str, epoch: u64, outcome: &SyncOutcome) {
        match outcome {
            SyncOutcome::Failed(failure) | SyncOutcome::CheckFailed(failure)
                if breaker::is_refusal(failure) =>
            {
                if self.ctx.breakers.refused(integration, epoch, failure) {
                    // A token from a ZisIntegration may have been revoked early: renew it once.
                    self.ctx.access.token_refused(integration);
                    warn!(
                        integration,
                        reason = failure.reason,
                        "ZIS refuses the operator's access token; connections of this integration wait for new credentials"
                    );
                } else {
                    self.quiet = true;
                }
            }
            SyncOutcome::InSync { confirmed: true } => self.ctx.breakers.accepted(integration),
            _ => {}
        }
    }

    /// Like [`Run::held_by_breaker`], for a deletion.
    pub(super) fn deletion_held_by_breaker(
        &mut self,
        integration: &str,
        epoch: u64,
    ) -> Option<Failure> {
        let Admission::Wait { failure, retry_in } = self.ctx.breakers.admit(integration, epoch)
        else {
            return None;
        };
        self.quiet = true;
        Some(Failure {
            message: format!(
                "ZIS refuses the operator's access token for integration {integration} ({}); waiting until the credentials secret changes (one request checks it every few minutes)",
                failure.reason
            ),
            retry: Retry::After(retry_in),
            ..failure
        })
    }

    /// Like [`Run::tell_breaker`], for a deletion.
    pub(super) fn tell_breaker_of_deletion(
        &mut self,
        integration: &str,
        epoch: u64,
        deleted: &Result<bool, Failure>,
    ) {
        let outcome = match deleted {
            Ok(_) => SyncOutcome::InSync { confirmed: true },
            Err(failure) => SyncOutcome::Failed(failure.clone()),
        };
        self.tell_breaker(integration, epoch, &outcome);
    }

    /// Another object comes first for the name (`owner`): never write to it. Our record of it is
    /// dropped only if the owner holds it too (then the owner cleans it up); a connection only
    /// we hold is never forgotten (a holder always comes first, so this is defensive).
    pub(super) async fn defer_to(
        &mut self,
        owner: &Claim,
        target: &Target,
    ) -> Result<Requeue, Error> {
        let wanted = Identity::of_target(target);
        let recorded = |remote: &Option<crate::resource::RemoteConnection>| {
            remote
                .as_ref()
                .is_some_and(|r| Identity::of_remote(r) == wanted)
        };
        if owner.owns(&wanted) && recorded(&self.record.remote) {
            self.record.remote = None;
            self.record.token_fingerprint = None;
            self.record.adopted = None;
        }
        if self
            .record
            .pending_create
            .as_ref()
            .is_some_and(|p| Identity::of_pending(p) == wanted)
        {
            self.record.pending_create = None;
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
        self.fail(Failure::stalled("Conflict", message)).await
    }

    /// Records how the remote side ended (status, events, memory) and decides when to come back:
    /// in sync, only when something changes (the drift watch wakes it if the remote side does);
    /// otherwise after the failure's delay, with remote calls held back until then unless
    /// `inputs` change.
    pub(super) async fn finish(
        &mut self,
        outcome: SyncOutcome,
        target: &Target,
        token: &Token,
        inputs: Inputs,
    ) -> Result<Requeue, Error> {
        let delay = match outcome {
            SyncOutcome::InSync { confirmed } => {
                self.record_in_sync(confirmed, target, token, inputs.credentials_epoch)
                    .await?;
                return Ok(Requeue::await_change());
            }
            SyncOutcome::Failed(failure) => self.fail_after(failure).await?,
            SyncOutcome::CheckFailed(failure) => self.check_failed(failure).await?,
        };
        self.ctx.close_gate(&self.key, delay, inputs);
        Ok(Requeue::requeue(delay))
    }

    async fn record_in_sync(
        &mut self,
        confirmed: bool,
        target: &Target,
        token: &Token,
        epoch: u64,
    ) -> Result<(), Error> {
        // The pushed token is still current under a new Secret version (recreated, or only its
        // metadata changed): record the version when the status is written anyway, so later
        // reconciles can skip reading the Secret; never write status just for this.
        let was_synced = report::ready(&self.written)
            .is_some_and(|c| c.status == ConditionStatus::True && c.reason == "Synced")
            && self.written.observed_generation == self.generation();
        if !was_synced
            && self.record.token_fingerprint.as_deref() == Some(token.fingerprint.as_str())
        {
            self.record.secret_resource_version = token.resource_version.clone();
        }
        let wanted = Identity::of_target(target);
        let message = format!(
            "connection {wanted} is in sync for {}",
            target.allowed_domain
        );
        self.write(&Verdict::Synced { message, confirmed }).await?;
        self.publish_notes().await;
        // A name this object held before a rename is free now for anyone waiting on it.
        let before = self
            .object
            .status
            .as_ref()
            .and_then(|s| s.remote.as_ref())
            .map(Identity::of_remote);
        if let Some(old) = before.filter(|old| *old != wanted) {
            release_to_peers(self.ctx, &[old], &self.key);
        }
        self.ctx.remember(&self.key, |m| {
            m.gate = None;
            m.failures = 0;
            m.look = false;
            m.synced_epoch = Some(epoch);
        });
        Ok(())
    }

    /// Whether the remote connection must be read before deciding: asked for (drift, a
    /// reconcile request, a failed attempt), or the status does not show it synced for this
    /// generation (a spec change, a restart in the middle of something).
    fn must_look(&self) -> bool {
        let trusted = report::ready(&self.written)
            .is_some_and(|ready| ready.status == ConditionStatus::True && ready.reason == "Synced")
            && self.written.observed_generation == self.generation();
        !trusted || self.ctx.must_look(&self.key)
    }

    /// The next action as the status alone tells it (no remote read).
    fn plan_without_looking(&self, desired: &Desired<'_>, target: &Target) -> Action {
        let recorded = Recorded::of(&self.record);
        let deletion = self.object.spec.deletion_policy;
        plan::plan(
            target,
            desired.fingerprint,
            recorded,
            &Observation::NotChecked,
            deletion,
        )
    }

    /// Reports a failed periodic read (`RemoteChecked`, and a Warning event when its reason or
    /// message is new) and decides when to look again. `Ready` is left as it was.
    pub(super) async fn check_failed(&mut self, failure: Failure) -> Result<Duration, Error> {
        let previous = self
            .written
            .conditions
            .iter()
            .find(|c| c.type_ == report::REMOTE_CHECKED)
            .map(|c| (c.reason.clone(), c.status));
        let repeated = previous == Some((failure.reason.to_owned(), ConditionStatus::False));
        if repeated {
            debug!(key = %self.key, reason = failure.reason, message = %failure.message, "the drift check still fails");
        } else {
            warn!(key = %self.key, reason = failure.reason, message = %failure.message, "the drift check failed");
        }
        self.ctx.note_failure(&self.key, failure.reason);
        self.ctx.look_next_time(&self.key);
        self.write(&Verdict::CheckFailed(failure.clone())).await?;
        if !repeated && !self.quiet {
            report::publish_failure(&self.ctx.recorder, &self.reference(), &failure).await;
        }
        if failure.retry != Retry::Backoff {
            self.ctx.remember(&self.key, |m| m.failures = 0);
        }
        Ok(self.ctx.retry_delay(&self.key, failure.retry))
    }

    pub(super) async fn publish_notes(&mut self) {
        let notes = std::mem::take(&mut self.notes);
        for note in &notes {
            info!(key = %self.key, event = note.happened.reason(), message = %note.message, "remote change");
        }
        report::publish_notes(&self.ctx.recorder, &self.reference(), &notes).await;
    }

    /// Reports `failure` (status, a Warning event when the reason or message is new) and
    /// decides when to retry.
    pub(super) async fn fail(&mut self, failure: Failure) -> Result<Requeue, Error> {
        Ok(Requeue::requeue(self.fail_after(failure).await?))
    }

    /// Like [`Run::fail`], returning the retry delay.
    pub(super) async fn fail_after(&mut self, failure: Failure) -> Result<Duration, Error> {
        let previous = report::ready(&self.written).map(|c| (c.reason.clone(), c.message.clone()));
        let repeated = previous == Some((failure.reason.to_owned(), failure.message.clone()));
        if repeated {
            // Already reported (status, event, log): a retry with the same outcome is not news.
            debug!(key = %self.key, reason = failure.reason, message = %failure.message, "still not in sync");
        } else {
            warn!(key = %self.key, reason = failure.reason, message = %failure.message, "not in sync");
        }
        self.ctx.note_failure(&self.key, failure.reason);
        // What failed may have half-happened: the retry reads the remote side first.
        self.ctx.look_next_time(&self.key);
        self.write(&Verdict::Failed(failure.clone())).await?;
        self.publish_notes().await;
        if !repeated && !self.quiet {
            report::publish_failure(&self.ctx.recorder, &self.reference(), &failure).await;
        }
        if failure.retry != Retry::Backoff {
            self.ctx.remember(&self.key, |m| m.failures = 0);
        }
        Ok(self.ctx.retry_delay(&self.key, failure.retry))
    }
}
