//! One reconcile of one object: the working copy of the status (the record of what exists
//! remotely), the plan/act loop, status writes (only when something changed) and events.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, Utc};
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};
use tracing::{debug, info, warn};

use super::Error;
use super::act::{self, Attempt, Desired, Remote, Step};
use super::context::Context;
use super::outcome::{Failure, Note, Retry, SyncOutcome};
use super::plan::{self, Action, Identity, Observation, Recorded};
use super::report::{self, Verdict};
use super::validate::Target;
use crate::resource::{PendingCreate, ZisBearerConnection, ZisBearerConnectionStatus};

type Object = ZisBearerConnection;

/// Most plan/act steps in one reconcile (rename + create + recreate fit well within it).
const MAX_STEPS: usize = 6;

/// One reconcile of one object: the working status record, events so far, status writes.
pub(super) struct Run<'a> {
    pub(super) object: &'a Object,
    pub(super) api: &'a Api<Object>,
    pub(super) ctx: &'a Context,
    pub(super) key: ObjectRef<Object>,
    /// The status as written last (by anyone), to skip no-op writes.
    pub(super) written: ZisBearerConnectionStatus,
    /// The working copy: what exists remotely, as learned during this reconcile.
    pub(super) record: ZisBearerConnectionStatus,
    pub(super) notes: Vec<Note>,
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
            written: status.clone(),
            record: status,
            notes: Vec::new(),
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
        // Conditions are computed from the last written ones so transition times carry over.
        let mut base = self.record.clone();
        base.conditions = self.written.conditions.clone();
        let status = report::next_status(&base, verdict, self.generation(), &report::now());
        self.store_status(status).await
    }

    /// Writes `status` unless it is what was written last.
    pub(super) async fn store_status(
        &mut self,
        status: ZisBearerConnectionStatus,
    ) -> Result<(), Error> {
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
    pub(super) async fn before(&mut self, action: &Action, target: &Target) -> Result<(), Error> {
        if *action == Action::Create {
            let identity = Identity::of_target(target);
            // A retry of an unconfirmed create keeps the first one's time: that one may be what
            // created the connection.
            let sent_at = match &self.record.pending_create {
                Some(pending) if Identity::of_pending(pending) == identity => {
                    pending.sent_at.clone()
                }
                _ => None,
            }
            .unwrap_or_else(|| Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true));
            self.record.pending_create = Some(PendingCreate {
                integration: target.integration.clone(),
                connection_name: target.connection_name.clone(),
                sent_at: Some(sent_at),
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

    /// Plans and acts until nothing is left to do. The `Result` is for Kubernetes API failures;
    /// the outcome says what the status should report.
    pub(super) async fn sync(
        &mut self,
        desired: &Desired<'_>,
        target: &Target,
    ) -> Result<SyncOutcome, Error> {
        let remote = Remote {
            zis: &self.ctx.zis,
            credentials: &self.ctx.credentials,
        };
        let wanted = Identity::of_target(target);
        let mut observed = Observation::NotChecked;
        let mut confirmed = false;
        let recorded_here = self
            .record
            .remote
            .as_ref()
            .is_some_and(|r| Identity::of_remote(r) == wanted);
        if recorded_here && self.ctx.resync_due(&self.key) {
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
            self.ctx
                .remember(&self.key, |m| m.last_checked = Some(Instant::now()));
            observed = Observation::NotChecked;
        }
        Ok(SyncOutcome::Failed(Failure {
            reason: "ZisUnavailable",
            message: "the remote connection did not settle; retrying".to_owned(),
            stalled: false,
            retry: Retry::Backoff,
        }))
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
        let repeated = previous
            == Some((
                failure.reason.to_owned(),
                crate::resource::ConditionStatus::False,
            ));
        if repeated {
            debug!(key = %self.key, reason = failure.reason, message = %failure.message, "the drift check still fails");
        } else {
            warn!(key = %self.key, reason = failure.reason, message = %failure.message, "the drift check failed");
        }
        self.ctx.note_failure(&self.key, failure.reason);
        self.write(&Verdict::CheckFailed(failure.clone())).await?;
        if !repeated {
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
        self.write(&Verdict::Failed(failure.clone())).await?;
        self.publish_notes().await;
        if !repeated {
            report::publish_failure(&self.ctx.recorder, &self.reference(), &failure).await;
        }
        if failure.retry != Retry::Backoff {
            self.ctx.remember(&self.key, |m| m.failures = 0);
        }
        Ok(self.ctx.retry_delay(&self.key, failure.retry))
    }
}
