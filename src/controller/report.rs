//! Says what happened: computes the status (conditions `Ready`, `Reconciling`, `Stalled` with
//! `observedGeneration`, `lastTransitionTime` kept while a condition's status is unchanged),
//! writes it only when it changed (merge patch on `/status`), and publishes events. Never a
//! secret in any of them.

use crate::events::{Event, EventType, Recorder};
use chrono::{SecondsFormat, Utc};
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde::{Deserialize, Serialize};

use super::outcome::{Failure, Note};
use super::validate::Target;
use crate::resource::{Condition, ConditionStatus, ZisBearerConnection, ZisBearerConnectionStatus};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";
/// Whether ZIS answered the operator's last look at the connection: kept apart from `Ready`, so
/// that a failed read of a connection in sync (a 429, a 5xx) does not tell users it is broken.
pub const REMOTE_CHECKED: &str = "RemoteChecked";

/// The overall verdict of a reconcile, from which the conditions follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The remote connection matches the spec and the token. `confirmed`: ZIS answered a call
    /// about it during this reconcile (else nothing was asked, and `RemoteChecked` stays).
    Synced { message: String, confirmed: bool },
    /// The periodic read of a connection in sync failed: `Ready` stays as it was, only
    /// `RemoteChecked` says so.
    CheckFailed(Failure),
    /// A new generation is being worked on.
    Progressing,
    /// `spec.suspend` is true. `in_sync`: the recorded remote connection answers the current
    /// spec and token (see [`records_target`]); only then may `Ready` stay `True`.
    Suspended { in_sync: bool },
    /// The reconcile could not finish.
    Failed(Failure),
}

/// Sets condition `type_` in `conditions`, keeping `lastTransitionTime` when the status is the
/// same as before.
pub fn set_condition(
    conditions: &mut Vec<Condition>,
    type_: &str,
    status: ConditionStatus,
    reason: &str,
    message: &str,
    generation: Option<i64>,
    now: &str,
) {
    let existing = conditions.iter_mut().find(|c| c.type_ == type_);
    match existing {
        Some(condition) => {
            if condition.status != status {
                condition.last_transition_time = now.to_owned();
            }
            condition.status = status;
            condition.reason = reason.to_owned();
            condition.message = message.to_owned();
            condition.observed_generation = generation;
        }
        None => conditions.push(Condition {
            type_: type_.to_owned(),
            status,
            reason: reason.to_owned(),
            message: message.to_owned(),
            last_transition_time: now.to_owned(),
            observed_generation: generation,
        }),
    }
}

/// The status to write: `record` (what exists remotely) plus conditions for `verdict`.
pub fn next_status(
    record: &ZisBearerConnectionStatus,
    verdict: &Verdict,
    generation: Option<i64>,
    now: &str,
) -> ZisBearerConnectionStatus {
    use ConditionStatus::{False, True, Unknown};
    let mut status = record.clone();
    let conditions = &mut status.conditions;
    match verdict {
        Verdict::Synced { message, confirmed } => {
            set_condition(conditions, READY, True, "Synced", message, generation, now);
            if *confirmed {
                set_condition(
                    conditions,
                    REMOTE_CHECKED,
                    True,
                    "Checked",
                    "ZIS answered the last call about this connection",
                    generation,
                    now,
                );
            }
            set_condition(
                conditions,
                RECONCILING,
                False,
                "Synced",
                "in sync",
                generation,
                now,
            );
            set_condition(
                conditions, STALLED, False, "Synced", "in sync", generation, now,
            );
        }
        Verdict::Progressing => {
            let message = "working on the new generation";
            set_condition(
                conditions,
                READY,
                Unknown,
                "Progressing",
                message,
                generation,
                now,
            );
            set_condition(
                conditions,
                RECONCILING,
                True,
                "Progressing",
                message,
                generation,
                now,
            );
            set_condition(
                conditions,
                STALLED,
                False,
                "Progressing",
                message,
                generation,
                now,
            );
        }
        Verdict::Suspended { in_sync } => {
            // Ready keeps its status if the last synced state still answers the spec; a spec
            // change (or a new token) made while suspended is not synced, so Ready cannot stay
            // True for it.
            let ready = conditions
                .iter()
                .find(|c| c.type_ == READY)
                .map(|c| c.status);
            let still_synced = ready == Some(True) && *in_sync && record.remote.is_some();
            let status_value = match ready {
                Some(True) if !still_synced => Unknown,
                Some(value) => value,
                None => Unknown,
            };
            let message = "spec.suspend is true: no remote calls are made";
            set_condition(
                conditions,
                READY,
                status_value,
                "Suspended",
                message,
                generation,
                now,
            );
            set_condition(
                conditions,
                RECONCILING,
                False,
                "Suspended",
                message,
                generation,
                now,
            );
            set_condition(
                conditions,
                STALLED,
                False,
                "Suspended",
                message,
                generation,
                now,
            );
        }
        Verdict::CheckFailed(failure) => {
            let message = format!(
                "{}; the connection was in sync when last confirmed, Ready is unchanged",
                failure.message
            );
            set_condition(
                conditions,
                REMOTE_CHECKED,
                False,
                failure.reason,
                &message,
                generation,
                now,
            );
        }
        Verdict::Failed(failure) => {
            let (reason, message) = (failure.reason, failure.message.as_str());
            set_condition(conditions, READY, False, reason, message, generation, now);
            if failure.stalled {
                set_condition(
                    conditions,
                    RECONCILING,
                    False,
                    reason,
                    message,
                    generation,
                    now,
                );
                set_condition(conditions, STALLED, True, reason, message, generation, now);
            } else {
                set_condition(
                    conditions,
                    RECONCILING,
                    True,
                    "Progressing",
                    message,
                    generation,
                    now,
                );
                set_condition(conditions, STALLED, False, reason, message, generation, now);
            }
        }
    }
    status.observed_generation = generation;
    status
}

/// The current time as the status writes it.
pub fn now() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Whether the status records a remote connection with exactly `target`'s integration, name and
/// domain.
pub fn records_target(status: &ZisBearerConnectionStatus, target: &Target) -> bool {
    status.remote.as_ref().is_some_and(|remote| {
        remote.integration == target.integration
            && remote.connection_name == target.connection_name
            && remote.allowed_domain == target.allowed_domain
    })
}

/// The `Ready` condition of a status, if any.
pub fn ready(status: &ZisBearerConnectionStatus) -> Option<&Condition> {
    status.conditions.iter().find(|c| c.type_ == READY)
}

/// Writes `status` to object `name` (a merge patch on `/status`) if the object is still at
/// `resource_version` (else 409 `Conflict`: someone wrote it since it was read). Returns the
/// object's new `resourceVersion`.
pub async fn write_status(
    api: &Api<ZisBearerConnection>,
    name: &str,
    status: &ZisBearerConnectionStatus,
    resource_version: Option<&str>,
) -> Result<Option<String>, kube::Error> {
    // Every field is sent (absent ones as null) so that a merge patch also clears them.
    let patch = StatusPatch {
        metadata: VersionPrecondition { resource_version },
        status,
    };
    let request = kube::core::Request::new(api.resource_url())
        .patch_subresource(
            "status",
            name,
            &PatchParams::default(),
            &Patch::Merge(&patch),
        )
        .map_err(kube::Error::BuildRequest)?;
    let written: Written = api.clone().into_client().request(request).await?;
    Ok(written.metadata.resource_version)
}

/// The body of a status write, serialized as it is (not through a `serde_json::Value`, which
/// would allocate every field of every status once more).
#[derive(Serialize)]
struct StatusPatch<'a> {
    metadata: VersionPrecondition<'a>,
    status: &'a ZisBearerConnectionStatus,
}

/// `metadata.resourceVersion` in a patch: the write fails with 409 unless the object is still
/// at that version (`null`: unconditional).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct VersionPrecondition<'a> {
    resource_version: Option<&'a str>,
}

/// What the answer to a status write is read for: the object's new `resourceVersion`. The rest of
/// the object (managed fields included) is skipped unparsed: at thousands of objects, parsing
/// answers nobody reads was a good part of the operator's CPU.
#[derive(Deserialize)]
struct Written {
    metadata: WrittenMetadata,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WrittenMetadata {
    resource_version: Option<String>,
}

/// What to write after a conflict: the fields this reconcile changed (`ours` differs from
/// `base`, the status it started from) over what the object holds now (`theirs`). What someone
/// else recorded meanwhile is kept, and so is what this reconcile learned remotely.
pub fn merge_status(
    base: &ZisBearerConnectionStatus,
    ours: &ZisBearerConnectionStatus,
    theirs: &ZisBearerConnectionStatus,
) -> ZisBearerConnectionStatus {
    let as_map = |status: &ZisBearerConnectionStatus| match serde_json::to_value(status) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    };
    let (base, ours, mut merged) = (as_map(base), as_map(ours), as_map(theirs));
    for (field, value) in ours {
        if base.get(&field) != Some(&value) {
            merged.insert(field, value);
        }
    }
    serde_json::from_value(serde_json::Value::Object(merged)).unwrap_or_else(|_| theirs.clone())
}

/// Whether `theirs` records something different remotely than `base`: a plan made from `base`
/// is then out of date.
pub fn record_differs(
    base: &ZisBearerConnectionStatus,
    theirs: &ZisBearerConnectionStatus,
) -> bool {
    base.remote != theirs.remote
        || base.retiring != theirs.retiring
        || base.pending_create != theirs.pending_create
        || base.token_fingerprint != theirs.token_fingerprint
}

/// Publishes Normal events for what happened; event failures are logged, never fatal.
pub async fn publish_notes(recorder: &Recorder, reference: &ObjectReference, notes: &[Note]) {
    for note in notes {
        publish(
            recorder,
            reference,
            EventType::Normal,
            note.happened.reason(),
            &note.message,
        )
        .await;
    }
}

/// Publishes a Warning event for `failure`.
pub async fn publish_failure(recorder: &Recorder, reference: &ObjectReference, failure: &Failure) {
    publish(
        recorder,
        reference,
        EventType::Warning,
        failure.reason,
        &failure.message,
    )
    .await;
}

/// Longest event note the API accepts (1 kB).
const MAX_NOTE_BYTES: usize = 1024;

/// The longest prefix of `text` within `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

async fn publish(
    recorder: &Recorder,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    message: &str,
) {
    let event = Event {
        type_,
        reason: reason.to_owned(),
        note: Some(truncate(message, MAX_NOTE_BYTES).to_owned()),
        action: "Reconcile".to_owned(),
        secondary: None,
    };
    if let Err(error) = recorder.publish(&event, reference).await {
        tracing::warn!(%error, reason, "could not publish event");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::outcome::Retry;

    fn condition<'a>(status: &'a ZisBearerConnectionStatus, type_: &str) -> &'a Condition {
        status
            .conditions
            .iter()
            .find(|c| c.type_ == type_)
            .expect("condition present")
    }

    fn failure(stalled: bool) -> Verdict {
        Verdict::Failed(Failure {
            reason: if stalled {
                "Unauthorized"
            } else {
                "ZisUnavailable"
            },
            message: "m".into(),
            stalled,
            retry: if stalled { Retry::Slow } else { Retry::Backoff },
        })
    }

    fn synced() -> Verdict {
        Verdict::Synced {
            message: "ok".into(),
            confirmed: true,
        }
    }

    #[test]
    fn event_notes_are_cut_to_one_kilobyte_on_a_character_boundary() {
        assert_eq!(truncate("short", MAX_NOTE_BYTES), "short");
        let long = "é".repeat(600);
        let cut = truncate(&long, MAX_NOTE_BYTES);
        assert!(cut.len() <= MAX_NOTE_BYTES && cut.len() >= MAX_NOTE_BYTES - 1);
        assert!(cut.chars().all(|c| c == 'é'));
    }

    #[test]
    fn a_status_write_sends_every_field_and_its_version_precondition() {
        let status = next_status(&Default::default(), &synced(), Some(3), "T1");
        let body = |version| {
            let patch = StatusPatch {
                metadata: VersionPrecondition {
                    resource_version: version,
                },
                status: &status,
            };
            serde_json::to_value(&patch).expect("serializes")
        };
        let expected = |version: serde_json::Value| {
            serde_json::json!({
                "metadata": {"resourceVersion": version},
                "status": serde_json::to_value(&status).expect("serializes"),
            })
        };
        assert_eq!(body(Some("41")), expected("41".into()));
        // No version known: unconditional, and said so rather than left out.
        assert_eq!(body(None), expected(serde_json::Value::Null));
        // An absent field goes as null, so that the merge patch clears it at the server.
        let sent = body(None);
        assert_eq!(
            sent["status"].get("pendingCreate"),
            Some(&serde_json::Value::Null),
            "{sent}"
        );
        assert!(sent["status"]["conditions"].is_array(), "{sent}");
    }

    #[test]
    fn a_first_sync_sets_all_three_conditions_for_the_generation() {
        let status = next_status(&Default::default(), &synced(), Some(3), "T1");
        let ready = condition(&status, READY);
        assert_eq!(
            (
                ready.status,
                ready.reason.as_str(),
                ready.observed_generation
            ),
            (ConditionStatus::True, "Synced", Some(3))
        );
        assert_eq!(
            condition(&status, RECONCILING).status,
            ConditionStatus::False
        );
        assert_eq!(condition(&status, STALLED).status, ConditionStatus::False);
        assert_eq!(status.observed_generation, Some(3));
    }

    #[test]
    fn an_unchanged_condition_keeps_its_transition_time() {
        let first = next_status(&Default::default(), &synced(), Some(1), "T1");
        let second = next_status(&first, &synced(), Some(1), "T2");
        assert_eq!(condition(&second, READY).last_transition_time, "T1");
        assert_eq!(first, second, "nothing changed, so nothing is written");
    }

    #[test]
    fn a_changed_condition_status_gets_a_new_transition_time() {
        let first = next_status(&Default::default(), &synced(), Some(1), "T1");
        let second = next_status(&first, &failure(true), Some(1), "T2");
        assert_eq!(condition(&second, READY).last_transition_time, "T2");
        assert_eq!(condition(&second, STALLED).last_transition_time, "T2");
        assert_eq!(condition(&second, STALLED).status, ConditionStatus::True);
        assert_eq!(
            condition(&second, RECONCILING).status,
            ConditionStatus::False
        );
    }

    #[test]
    fn a_failed_check_changes_only_remote_checked_and_a_later_answer_restores_it() {
        let synced = next_status(&Default::default(), &synced(), Some(1), "T1");
        let Verdict::Failed(failure) = failure(false) else {
            unreachable!()
        };
        let failed = next_status(&synced, &Verdict::CheckFailed(failure), Some(1), "T2");
        for type_ in [READY, RECONCILING, STALLED] {
            assert_eq!(
                condition(&failed, type_),
                condition(&synced, type_),
                "{type_}"
            );
        }
        let checked = condition(&failed, REMOTE_CHECKED);
        assert_eq!(
            (checked.status, checked.reason.as_str()),
            (ConditionStatus::False, "ZisUnavailable")
        );
        let answered = next_status(
            &failed,
            &Verdict::Synced {
                message: "ok".into(),
                confirmed: true,
            },
            Some(1),
            "T3",
        );
        assert_eq!(
            condition(&answered, REMOTE_CHECKED).status,
            ConditionStatus::True
        );
        let unasked = next_status(
            &failed,
            &Verdict::Synced {
                message: "ok".into(),
                confirmed: false,
            },
            Some(1),
            "T3",
        );
        assert_eq!(
            condition(&unasked, REMOTE_CHECKED).status,
            ConditionStatus::False,
            "nothing was asked of ZIS, so the failed check still stands"
        );
    }

    #[test]
    fn a_merge_keeps_what_either_writer_changed() {
        let remote = |name: &str| crate::resource::RemoteConnection {
            integration: "int".into(),
            connection_name: name.into(),
            allowed_domain: "a.example.com".into(),
        };
        let base = ZisBearerConnectionStatus::default();
        let ours = ZisBearerConnectionStatus {
            retiring: Some(remote("old")),
            last_sync_time: Some("T2".into()),
            ..base.clone()
        };
        let theirs = ZisBearerConnectionStatus {
            remote: Some(remote("conn")),
            token_fingerprint: Some("hmac-sha256:x".into()),
            ..base.clone()
        };
        let merged = merge_status(&base, &ours, &theirs);
        assert_eq!(merged.remote, theirs.remote, "theirs kept");
        assert_eq!(merged.token_fingerprint, theirs.token_fingerprint);
        assert_eq!(merged.retiring, ours.retiring, "ours kept");
        assert_eq!(merged.last_sync_time, ours.last_sync_time);
        assert!(
            record_differs(&base, &theirs),
            "someone else recorded a connection"
        );
        assert!(!record_differs(
            &base,
            &ZisBearerConnectionStatus {
                last_sync_time: Some("T3".into()),
                ..base.clone()
            }
        ));
    }

    #[test]
    fn a_retrying_failure_is_reconciling_and_not_stalled() {
        let status = next_status(&Default::default(), &failure(false), Some(1), "T1");
        assert_eq!(condition(&status, READY).status, ConditionStatus::False);
        assert_eq!(condition(&status, READY).reason, "ZisUnavailable");
        assert_eq!(
            condition(&status, RECONCILING).status,
            ConditionStatus::True
        );
        assert_eq!(condition(&status, RECONCILING).reason, "Progressing");
        assert_eq!(condition(&status, STALLED).status, ConditionStatus::False);
    }

    #[test]
    fn a_new_generation_makes_ready_unknown_while_progressing() {
        let first = next_status(&Default::default(), &synced(), Some(1), "T1");
        let second = next_status(&first, &Verdict::Progressing, Some(2), "T2");
        let ready = condition(&second, READY);
        assert_eq!(
            (
                ready.status,
                ready.reason.as_str(),
                ready.observed_generation
            ),
            (ConditionStatus::Unknown, "Progressing", Some(2))
        );
        assert_eq!(
            condition(&second, RECONCILING).status,
            ConditionStatus::True
        );
    }

    #[test]
    fn suspending_keeps_the_ready_status_with_reason_suspended() {
        let record = ZisBearerConnectionStatus {
            remote: Some(crate::resource::RemoteConnection {
                integration: "i".into(),
                connection_name: "c".into(),
                allowed_domain: "d".into(),
            }),
            ..Default::default()
        };
        let first = next_status(&record, &synced(), Some(1), "T1");
        let second = next_status(&first, &Verdict::Suspended { in_sync: true }, Some(2), "T2");
        let ready = condition(&second, READY);
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::True, "Suspended")
        );
        assert_eq!(ready.last_transition_time, "T1");
        let never_synced = next_status(
            &Default::default(),
            &Verdict::Suspended { in_sync: true },
            Some(1),
            "T1",
        );
        assert_eq!(
            condition(&never_synced, READY).status,
            ConditionStatus::Unknown
        );
    }

    #[test]
    fn a_spec_change_made_while_suspended_makes_ready_unknown() {
        let record = ZisBearerConnectionStatus {
            remote: Some(crate::resource::RemoteConnection {
                integration: "i".into(),
                connection_name: "c".into(),
                allowed_domain: "d.example.com".into(),
            }),
            ..Default::default()
        };
        let target = |domain: &str| Target {
            integration: "i".into(),
            connection_name: "c".into(),
            allowed_domain: domain.into(),
        };
        assert!(records_target(&record, &target("d.example.com")));
        assert!(!records_target(&record, &target("other.example.com")));
        let first = next_status(&record, &synced(), Some(1), "T1");
        let in_sync = records_target(&first, &target("other.example.com"));
        let second = next_status(&first, &Verdict::Suspended { in_sync }, Some(2), "T2");
        let ready = condition(&second, READY);
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::Unknown, "Suspended")
        );
    }
}
