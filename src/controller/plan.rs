//! Decides the one next remote action from what is desired, what the status says was last pushed
//! and (when it was checked) what ZIS reports. Pure: no I/O, no clock. `act` carries the action
//! out; the sync loop calls `plan` again after each step until it answers `Nothing`.

use std::cmp::Ordering;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use super::validate::Target;
use crate::resource::{
    AdoptionPolicy, DeletionPolicy, PendingCreate, RemoteConnection, ZisBearerConnectionStatus,
};

/// Which remote connection: an integration and a connection name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity {
    pub integration: String,
    pub connection_name: String,
}

impl Identity {
    pub fn of_target(target: &Target) -> Self {
        Self {
            integration: target.integration.clone(),
            connection_name: target.connection_name.clone(),
        }
    }

    pub fn of_remote(remote: &RemoteConnection) -> Self {
        Self {
            integration: remote.integration.clone(),
            connection_name: remote.connection_name.clone(),
        }
    }

    pub fn of_pending(pending: &PendingCreate) -> Self {
        Self {
            integration: pending.integration.clone(),
            connection_name: pending.connection_name.clone(),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.integration, self.connection_name)
    }
}

/// What the status records about the remote side.
#[derive(Debug, Clone, Copy, Default)]
pub struct Recorded<'a> {
    pub remote: Option<&'a RemoteConnection>,
    /// A connection being replaced (see `status.retiring`).
    pub retiring: Option<&'a RemoteConnection>,
    pub pending: Option<&'a PendingCreate>,
    pub fingerprint: Option<&'a str>,
    pub updated_at: Option<&'a str>,
}

impl<'a> Recorded<'a> {
    pub fn of(status: &'a ZisBearerConnectionStatus) -> Self {
        Self {
            remote: status.remote.as_ref(),
            retiring: status.retiring.as_ref(),
            pending: status.pending_create.as_ref(),
            fingerprint: status.token_fingerprint.as_deref(),
            updated_at: status.updated_at.as_deref(),
        }
    }
}

/// What a read of the recorded remote connection found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Observation {
    /// Not read this time (no resync due): trust the status.
    NotChecked,
    /// The bearer-token connection exists with this domain and `updated_at`.
    Found {
        allowed_domain: String,
        updated_at: String,
    },
    /// ZIS answered 404.
    Gone,
}

/// The one next remote action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `POST bearer_token` (a 409 is resolved with [`on_conflict`]).
    Create,
    /// `PATCH bearer_token/{name}` with the token, the domain, or both.
    Update { token: bool, domain: bool },
    /// The integration or connection name changed: the recorded connection becomes `retiring`
    /// (no remote call). It keeps working until its replacement exists.
    Retire,
    /// The spec asks again for the connection being retired: it becomes the recorded one again
    /// (no remote call; the one recorded until now, if any, is retired instead).
    Restore,
    /// Remove a connection that is not wanted any more: the retiring one once its replacement
    /// is in sync, or one only a create was sent for (`delete: false` when `deletionPolicy` is
    /// `Orphan`, which only forgets it).
    RemoveOld { old: Identity, delete: bool },
    /// In sync.
    Nothing,
}

/// Decides the next action while the object exists (not being deleted).
pub fn plan(
    target: &Target,
    fingerprint: &str,
    recorded: Recorded<'_>,
    observed: &Observation,
    deletion: DeletionPolicy,
) -> Action {
    let wanted = Identity::of_target(target);
    let delete = deletion == DeletionPolicy::Delete;
    let current = recorded.remote.map(Identity::of_remote);
    let retiring = recorded.retiring.map(Identity::of_remote);
    // A connection is replaced, never removed first: the working one stays until the new one
    // exists (the new name may be taken, the create may fail).
    if retiring.as_ref() == Some(&wanted) && current.as_ref() != Some(&wanted) {
        return Action::Restore;
    }
    if let Some(current) = &current
        && *current != wanted
    {
        return match retiring {
            None => Action::Retire,
            // Already replacing another one, which is not wanted either.
            Some(old) => Action::RemoveOld { old, delete },
        };
    }
    if let Some(pending) = recorded.pending {
        let old = Identity::of_pending(pending);
        // A create for another name may have reached ZIS before a crash: it must not leak.
        if old != wanted && current.as_ref() != Some(&old) && retiring.as_ref() != Some(&old) {
            return Action::RemoveOld { old, delete };
        }
    }
    let Some(remote) = recorded.remote else {
        return Action::Create;
    };
    let (domain, token_touched_remotely) = match observed {
        Observation::Gone => return Action::Create,
        Observation::NotChecked => (remote.allowed_domain != target.allowed_domain, false),
        Observation::Found {
            allowed_domain,
            updated_at,
        } => (
            *allowed_domain != target.allowed_domain,
            // Someone changed the connection behind our back: the token may be theirs now.
            recorded.updated_at.is_some_and(|ours| ours != updated_at),
        ),
    };
    let token = recorded.fingerprint != Some(fingerprint) || token_touched_remotely;
    if token || domain {
        Action::Update { token, domain }
    } else if let Some(old) = retiring {
        // The replacement is in sync: now the old one may go.
        Action::RemoveOld { old, delete }
    } else {
        Action::Nothing
    }
}

/// What a 409 on create means, once `GET bearer_token/{name}` has answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictDecision {
    /// Push our token and domain to it. `adopted` is false when our own earlier create (recorded
    /// as pending before a crash) made it.
    TakeOver { adopted: bool },
    /// `adoptionPolicy: Never`: report `Conflict` and write nothing.
    Refuse,
    /// The name belongs to a connection of another type: report `NameTakenByOtherType`.
    OtherType,
}

/// How much earlier than our `sentAt` ZIS may date a connection our own create made. ZIS stamps
/// `created_at` with its clock, `sentAt` is ours: if ours runs ahead, our own connection looks
/// older than the request that made it. Servers synced by NTP differ by milliseconds; 5 s also
/// covers a ZIS that reported whole seconds. The price of a larger value: a connection someone
/// else created less than this long before our first unconfirmed create would be taken for ours.
pub const CLOCK_SKEW_ALLOWANCE: chrono::TimeDelta = chrono::TimeDelta::seconds(5);

/// Whether a connection ZIS reports as created at `created_at` can be the one `pending` asked
/// for: created no earlier than the request was sent (less [`CLOCK_SKEW_ALLOWANCE`]). Without a
/// readable `sentAt` or `created_at` nothing proves it is ours, so it is not.
pub fn created_by_pending(pending: &PendingCreate, created_at: &str) -> bool {
    if pending.name_taken {
        return false;
    }
    let parse = |text: &str| chrono::DateTime::parse_from_rfc3339(text).ok();
    match (
        pending.sent_at.as_deref().and_then(parse),
        parse(created_at),
    ) {
        (Some(sent), Some(created)) => created >= sent - CLOCK_SKEW_ALLOWANCE,
        _ => false,
    }
}

/// Resolves a 409: `bearer_exists` is whether `GET bearer_token/{name}` found it, `ours` whether
/// the status recorded a create of this very name that may have succeeded before a crash and ZIS
/// dates the connection after it was sent ([`created_by_pending`]).
pub fn on_conflict(policy: AdoptionPolicy, bearer_exists: bool, ours: bool) -> ConflictDecision {
    match (bearer_exists, ours, policy) {
        (false, _, _) => ConflictDecision::OtherType,
        (true, true, _) => ConflictDecision::TakeOver { adopted: false },
        (true, false, AdoptionPolicy::Adopt) => ConflictDecision::TakeOver { adopted: true },
        (true, false, AdoptionPolicy::Never) => ConflictDecision::Refuse,
    }
}

/// A connection to delete at cleanup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doomed {
    pub identity: Identity,
    /// Set when only a create was sent (never confirmed): the connection is deleted only if ZIS
    /// dates it after that create ([`created_by_pending`]); otherwise it is someone else's.
    pub unconfirmed: Option<PendingCreate>,
}

/// What deleting the object does remotely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cleanup {
    /// Delete these connections (404 counts as gone), then release the object.
    Delete(Vec<Doomed>),
    /// Leave these connections in place and release the object.
    Orphan(Vec<Identity>),
    /// Nothing of ours exists remotely: release the object.
    Release,
}

/// Decides cleanup from `deletionPolicy` and the status (the record of what exists remotely).
pub fn plan_cleanup(policy: DeletionPolicy, recorded: Recorded<'_>) -> Cleanup {
    let mut owned: Vec<Doomed> = recorded
        .remote
        .into_iter()
        .chain(recorded.retiring)
        .map(|remote| Doomed {
            identity: Identity::of_remote(remote),
            unconfirmed: None,
        })
        .collect();
    if let Some(pending) = recorded.pending
        && !owned
            .iter()
            .any(|d| d.identity == Identity::of_pending(pending))
    {
        owned.push(Doomed {
            identity: Identity::of_pending(pending),
            unconfirmed: Some(pending.clone()),
        });
    }
    match (owned.is_empty(), policy) {
        (true, _) => Cleanup::Release,
        (false, DeletionPolicy::Delete) => Cleanup::Delete(owned),
        (false, DeletionPolicy::Orphan) => {
            Cleanup::Orphan(owned.into_iter().map(|d| d.identity).collect())
        }
    }
}

/// One object's claim on a remote connection name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub created: Option<Time>,
    /// The connection its spec asks for.
    pub identity: Identity,
    /// Connections its status still holds or may have created (`remote` and `pendingCreate`;
    /// before a rename's old connection is removed).
    pub held: Vec<Identity>,
    /// The connection its status records as existing and its own (`status.remote`).
    pub owns: Option<Identity>,
    /// The object is being deleted (it still owns the name until its cleanup finishes).
    pub deleting: bool,
}

impl Claim {
    /// Whether the status records `identity` as existing remotely and this object's.
    pub fn owns(&self, identity: &Identity) -> bool {
        self.owns.as_ref() == Some(identity)
    }

    /// Who comes first for `identity`: the object whose status already holds it (so a newer
    /// claimant can never take a live connection from its holder, nor make it forget it), then
    /// the older one (creation time, then namespace/name; objects without a creation time last).
    fn precedence(&self, other: &Claim, identity: &Identity) -> Ordering {
        let by_holding = other.owns(identity).cmp(&self.owns(identity));
        let by_time = match (&self.created, &other.created) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        };
        by_holding
            .then(by_time)
            .then_with(|| self.namespace.cmp(&other.namespace))
            .then_with(|| self.name.cmp(&other.name))
    }
}

/// The other object that comes first for the connection `me` asks for ([`Claim::precedence`]),
/// if it comes before `me`: then `me` must not touch the connection (`Conflict`).
pub fn senior_claimant<'a>(
    me: &Claim,
    others: impl IntoIterator<Item = &'a Claim>,
) -> Option<&'a Claim> {
    let wanted = &me.identity;
    others
        .into_iter()
        .filter(|other| {
            (other.identity == *wanted || other.held.contains(wanted))
                && !(other.namespace == me.namespace && other.name == me.name)
                && other.precedence(me, wanted) == Ordering::Less
        })
        .min_by(|a, b| a.precedence(b, wanted))
}

#[cfg(test)]
mod tests {
    use super::*;

    const FP: &str = "hmac-sha256:new";

    fn target(integration: &str, name: &str, domain: &str) -> Target {
        Target {
            integration: integration.into(),
            connection_name: name.into(),
            allowed_domain: domain.into(),
        }
    }

    fn remote(integration: &str, name: &str, domain: &str) -> RemoteConnection {
        RemoteConnection {
            integration: integration.into(),
            connection_name: name.into(),
            allowed_domain: domain.into(),
        }
    }

    fn pending(integration: &str, name: &str) -> PendingCreate {
        PendingCreate {
            name_taken: false,
            integration: integration.into(),
            connection_name: name.into(),
            sent_at: Some("2026-01-01T12:00:00.000Z".into()),
        }
    }

    fn id(integration: &str, name: &str) -> Identity {
        Identity {
            integration: integration.into(),
            connection_name: name.into(),
        }
    }

    fn found(domain: &str, updated_at: &str) -> Observation {
        Observation::Found {
            allowed_domain: domain.into(),
            updated_at: updated_at.into(),
        }
    }

    #[test]
    fn the_next_action_follows_desired_recorded_and_observed_state() {
        let synced = remote("int", "conn", "a.example.com");
        let other_name = remote("int", "old", "a.example.com");
        let other_integration = remote("int2", "conn", "a.example.com");
        let pending_same = pending("int", "conn");
        let pending_old = pending("int", "older");
        let t = target("int", "conn", "a.example.com");
        let t_old = target("int", "old", "a.example.com");
        let t_third = target("int", "third", "a.example.com");
        let t_new_domain = target("int", "conn", "b.example.com");
        struct Case<'a> {
            case: &'a str,
            target: &'a Target,
            recorded: Recorded<'a>,
            observed: Observation,
            deletion: DeletionPolicy,
            expected: Action,
        }
        fn rec<'a>(
            remote: Option<&'a RemoteConnection>,
            pending: Option<&'a PendingCreate>,
            fingerprint: Option<&'a str>,
        ) -> Recorded<'a> {
            Recorded {
                remote,
                retiring: None,
                pending,
                fingerprint,
                updated_at: Some("t1"),
            }
        }
        fn retiring<'a>(
            remote: Option<&'a RemoteConnection>,
            retiring: &'a RemoteConnection,
        ) -> Recorded<'a> {
            Recorded {
                retiring: Some(retiring),
                ..rec(remote, None, Some(FP))
            }
        }
        let cases = vec![
            Case {
                case: "nothing recorded means create",
                target: &t,
                recorded: Recorded::default(),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Create,
            },
            Case {
                case: "a pending create of the same name still means create",
                target: &t,
                recorded: rec(None, Some(&pending_same), None),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Create,
            },
            Case {
                case: "a pending create of an older name is removed first",
                target: &t,
                recorded: rec(None, Some(&pending_old), None),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::RemoveOld {
                    old: id("int", "older"),
                    delete: true,
                },
            },
            Case {
                case: "a synced connection with the same token and domain needs nothing",
                target: &t,
                recorded: rec(Some(&synced), None, Some(FP)),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Nothing,
            },
            Case {
                case: "a resync that finds the connection unchanged needs nothing",
                target: &t,
                recorded: rec(Some(&synced), None, Some(FP)),
                observed: found("a.example.com", "t1"),
                deletion: DeletionPolicy::Delete,
                expected: Action::Nothing,
            },
            Case {
                case: "a rotated token is pushed",
                target: &t,
                recorded: rec(Some(&synced), None, Some("hmac-sha256:old")),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: true,
                    domain: false,
                },
            },
            Case {
                case: "a status without a fingerprint pushes the token",
                target: &t,
                recorded: rec(Some(&synced), None, None),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: true,
                    domain: false,
                },
            },
            Case {
                case: "a new domain in the spec is pushed",
                target: &t_new_domain,
                recorded: rec(Some(&synced), None, Some(FP)),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: false,
                    domain: true,
                },
            },
            Case {
                case: "a new domain and a rotated token are pushed together",
                target: &t_new_domain,
                recorded: rec(Some(&synced), None, Some("hmac-sha256:old")),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: true,
                    domain: true,
                },
            },
            Case {
                case: "a domain changed remotely is put back",
                target: &t,
                recorded: rec(Some(&synced), None, Some(FP)),
                observed: found("evil.example.com", "t2"),
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: true,
                    domain: true,
                },
            },
            Case {
                case: "a connection changed remotely gets our token again",
                target: &t,
                recorded: rec(Some(&synced), None, Some(FP)),
                observed: found("a.example.com", "t2"),
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: true,
                    domain: false,
                },
            },
            Case {
                case: "a connection deleted remotely is created again",
                target: &t,
                recorded: rec(Some(&synced), None, Some(FP)),
                observed: Observation::Gone,
                deletion: DeletionPolicy::Delete,
                expected: Action::Create,
            },
            Case {
                case: "a renamed connection is retired, not removed first",
                target: &t,
                recorded: rec(Some(&other_name), None, Some(FP)),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Retire,
            },
            Case {
                case: "a new integration retires the connection of the old one",
                target: &t,
                recorded: rec(Some(&other_integration), None, Some(FP)),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Retire,
            },
            Case {
                case: "while one is retiring, the new one is created first",
                target: &t,
                recorded: retiring(None, &other_name),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Create,
            },
            Case {
                case: "the retiring one goes once its replacement is in sync",
                target: &t,
                recorded: retiring(Some(&synced), &other_name),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::RemoveOld {
                    old: id("int", "old"),
                    delete: true,
                },
            },
            Case {
                case: "the retiring one stays while its replacement still needs the token",
                target: &t,
                recorded: Recorded {
                    fingerprint: Some("hmac-sha256:old"),
                    ..retiring(Some(&synced), &other_name)
                },
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Update {
                    token: true,
                    domain: false,
                },
            },
            Case {
                case: "under the orphan policy the retiring one is forgotten, not deleted",
                target: &t,
                recorded: retiring(Some(&synced), &other_name),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Orphan,
                expected: Action::RemoveOld {
                    old: id("int", "old"),
                    delete: false,
                },
            },
            Case {
                case: "asking again for the retiring connection restores it",
                target: &t_old,
                recorded: retiring(None, &other_name),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Restore,
            },
            Case {
                case: "asking again for the retiring one while its replacement exists swaps them",
                target: &t_old,
                recorded: retiring(Some(&synced), &other_name),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::Restore,
            },
            Case {
                case: "a second rename while one is retiring removes the unwanted retiring one",
                target: &t_third,
                recorded: retiring(Some(&synced), &other_name),
                observed: Observation::NotChecked,
                deletion: DeletionPolicy::Delete,
                expected: Action::RemoveOld {
                    old: id("int", "old"),
                    delete: true,
                },
            },
        ];
        for c in cases {
            assert_eq!(
                plan(c.target, FP, c.recorded, &c.observed, c.deletion),
                c.expected,
                "{}",
                c.case
            );
        }
    }

    #[test]
    fn a_409_is_resolved_by_type_ownership_and_policy() {
        use AdoptionPolicy::{Adopt, Never};
        use ConflictDecision::*;
        let cases = [
            (
                "an existing bearer connection is adopted under Adopt",
                Adopt,
                true,
                false,
                TakeOver { adopted: true },
            ),
            (
                "an existing bearer connection is refused under Never",
                Never,
                true,
                false,
                Refuse,
            ),
            (
                "our own pending create is taken over under Adopt",
                Adopt,
                true,
                true,
                TakeOver { adopted: false },
            ),
            (
                "our own pending create is taken over even under Never",
                Never,
                true,
                true,
                TakeOver { adopted: false },
            ),
            (
                "a name held by another type is reported under Adopt",
                Adopt,
                false,
                false,
                OtherType,
            ),
            (
                "a name held by another type is reported under Never",
                Never,
                false,
                false,
                OtherType,
            ),
            (
                "a name held by another type is reported even with a pending create",
                Adopt,
                false,
                true,
                OtherType,
            ),
        ];
        for (case, policy, exists, ours, expected) in cases {
            assert_eq!(on_conflict(policy, exists, ours), expected, "{case}");
        }
    }

    #[test]
    fn cleanup_follows_the_deletion_policy_and_the_record() {
        let r = remote("int", "conn", "a.example.com");
        let old = remote("int", "old", "a.example.com");
        let p_same = pending("int", "conn");
        let p_other = pending("int", "other");
        let rec = |remote, pending| Recorded {
            remote,
            retiring: None,
            pending,
            fingerprint: None,
            updated_at: None,
        };
        let sure = |i: &str, n: &str| Doomed {
            identity: id(i, n),
            unconfirmed: None,
        };
        let unsure = |i: &str, n: &str| Doomed {
            identity: id(i, n),
            unconfirmed: Some(pending(i, n)),
        };
        let cases = vec![
            (
                "delete removes the recorded connection",
                DeletionPolicy::Delete,
                rec(Some(&r), None),
                Cleanup::Delete(vec![sure("int", "conn")]),
            ),
            (
                "orphan leaves the recorded connection",
                DeletionPolicy::Orphan,
                rec(Some(&r), None),
                Cleanup::Orphan(vec![id("int", "conn")]),
            ),
            (
                "nothing recorded releases at once",
                DeletionPolicy::Delete,
                rec(None, None),
                Cleanup::Release,
            ),
            (
                "a pending create is deleted too, if ZIS dates it after the create",
                DeletionPolicy::Delete,
                rec(None, Some(&p_same)),
                Cleanup::Delete(vec![unsure("int", "conn")]),
            ),
            (
                "a pending create equal to the remote is deleted once, unconditionally",
                DeletionPolicy::Delete,
                rec(Some(&r), Some(&p_same)),
                Cleanup::Delete(vec![sure("int", "conn")]),
            ),
            (
                "a pending create of another name is deleted as well",
                DeletionPolicy::Delete,
                rec(Some(&r), Some(&p_other)),
                Cleanup::Delete(vec![sure("int", "conn"), unsure("int", "other")]),
            ),
            (
                "a connection still retiring is deleted with the recorded one",
                DeletionPolicy::Delete,
                Recorded {
                    retiring: Some(&old),
                    ..rec(Some(&r), None)
                },
                Cleanup::Delete(vec![sure("int", "conn"), sure("int", "old")]),
            ),
            (
                "orphan leaves a retiring connection too",
                DeletionPolicy::Orphan,
                Recorded {
                    retiring: Some(&old),
                    ..rec(None, None)
                },
                Cleanup::Orphan(vec![id("int", "old")]),
            ),
        ];
        for (case, policy, recorded, expected) in cases {
            assert_eq!(plan_cleanup(policy, recorded), expected, "{case}");
        }
    }

    #[test]
    fn only_a_connection_created_after_the_pending_create_was_sent_counts_as_ours() {
        // sentAt is 2026-01-01T12:00:00Z.
        let p = pending("int", "conn");
        let cases = [
            (
                "created after the request",
                "2026-01-01T12:00:01.250000Z",
                true,
            ),
            ("created at the same instant", "2026-01-01T12:00:00Z", true),
            (
                "dated a little earlier (ZIS's clock behind ours)",
                "2026-01-01T11:59:56Z",
                true,
            ),
            (
                "dated just within the allowance",
                "2026-01-01T11:59:55Z",
                true,
            ),
            (
                "created before the allowance",
                "2026-01-01T11:59:54.999Z",
                false,
            ),
            ("created the day before", "2025-12-31T12:00:00Z", false),
            ("an unreadable created_at", "yesterday", false),
        ];
        for (case, created_at, expected) in cases {
            assert_eq!(created_by_pending(&p, created_at), expected, "{case}");
        }
        let legacy = PendingCreate {
            sent_at: None,
            ..pending("int", "conn")
        };
        let taken = PendingCreate {
            name_taken: true,
            ..pending("int", "conn")
        };
        assert!(
            !created_by_pending(&taken, "2026-01-01T12:00:01.250000Z"),
            "a name ZIS said was taken before our first create is never ours"
        );
        assert!(
            !created_by_pending(&legacy, "2026-01-01T12:00:01Z"),
            "a marker without sentAt proves nothing"
        );
    }

    #[test]
    fn the_older_object_owns_a_shared_connection_name() {
        let at = |s: &str| Some(Time(s.parse().expect("timestamp")));
        let claim = |ns: &str, name: &str, created, conn: &str| Claim {
            namespace: ns.into(),
            name: name.into(),
            created,
            identity: id("int", conn),
            held: Vec::new(),
            owns: None,
            deleting: false,
        };
        let me = claim("ns", "b", at("2026-01-01T00:00:10Z"), "shared");
        let older = claim("ns", "a", at("2026-01-01T00:00:00Z"), "shared");
        let newer = claim("ns", "c", at("2026-01-01T00:00:20Z"), "shared");
        let same_time_lower_name = claim("ns", "a2", at("2026-01-01T00:00:10Z"), "shared");
        let same_time_higher_name = claim("ns", "z", at("2026-01-01T00:00:10Z"), "shared");
        let unrelated = claim("ns", "x", at("2025-01-01T00:00:00Z"), "other");
        let renaming_away = Claim {
            held: vec![id("int", "shared")],
            owns: Some(id("int", "shared")),
            ..claim("ns", "r", at("2025-01-01T00:00:00Z"), "elsewhere")
        };
        let newer_holder = Claim {
            held: vec![id("int", "shared")],
            owns: Some(id("int", "shared")),
            ..claim("ns", "h", at("2026-01-01T00:00:30Z"), "shared")
        };
        let newer_pending = Claim {
            held: vec![id("int", "shared")],
            ..claim("ns", "p", at("2026-01-01T00:00:30Z"), "shared")
        };
        let cases: Vec<(&str, Vec<&Claim>, Option<&str>)> = vec![
            (
                "an older object with the same name wins",
                vec![&older, &newer],
                Some("a"),
            ),
            ("a newer object does not block", vec![&newer], None),
            (
                "at the same time the lower namespace/name wins",
                vec![&same_time_lower_name],
                Some("a2"),
            ),
            (
                "at the same time a higher namespace/name does not block",
                vec![&same_time_higher_name],
                None,
            ),
            (
                "objects for other names are ignored",
                vec![&unrelated],
                None,
            ),
            ("the object itself is ignored", vec![&me], None),
            (
                "an older object still holding the name while renaming away wins",
                vec![&renaming_away],
                Some("r"),
            ),
            (
                "a newer object whose status holds the connection wins over older ones",
                vec![&older, &newer_holder],
                Some("h"),
            ),
            (
                "a create only pending is no hold: age decides",
                vec![&newer_pending],
                None,
            ),
        ];
        for (case, others, expected) in cases {
            let got = senior_claimant(&me, others).map(|c| c.name.as_str());
            assert_eq!(got, expected, "{case}");
        }
        // The holder itself is not blocked by older objects that only ask for the name.
        let got = senior_claimant(&newer_holder, [&older, &me]).map(|c| c.name.as_str());
        assert_eq!(got, None, "the holder keeps its connection");
    }
}
