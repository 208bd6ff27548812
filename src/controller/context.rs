//! What every reconcile shares: the clients, the caches the watches fill, the settings, and
//! what the operator remembers of each object between reconciles (retry counters, the retry
//! gate, when the remote was last checked). Retry timing (backoff, jitter) lives here too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::events::Recorder;
use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use rand::Rng;

use super::access::Access;
use super::breaker::Breakers;
use super::cache::CachedConnection;
use super::index::ObjectIndex;
use super::outcome::{Retry, SLOW_RETRY};
use super::own_writes::OwnWrites;
use super::secret_versions::SecretVersions;
use crate::leader::Leadership;
use crate::metrics::Metrics;
use crate::resource::{ZisBearerConnection, ZisBearerConnectionStatus};

type Object = ZisBearerConnection;

/// First delay of the exponential backoff for transient failures.
const BACKOFF_BASE: Duration = Duration::from_millis(500);
/// Longest delay of the exponential backoff.
const BACKOFF_CAP: Duration = Duration::from_secs(300);

/// Settings of the reconcile loop.
#[derive(Debug, Clone)]
pub struct Settings {
    /// How often the drift watch lists every connection and compares it with the status.
    pub resync: Duration,
}

/// What the operator remembers of an object between reconciles (lost on restart, by design:
/// the status is the durable record).
#[derive(Debug, Default)]
pub(super) struct Memory {
    /// Consecutive transient failures, for the backoff.
    pub(super) failures: u32,
    /// The remote connection must be read before anything is decided: the drift watch found it
    /// missing or changed, a reconcile was asked for, or the last attempt failed. Otherwise the
    /// status is trusted (it says what was pushed) and the drift watch confirms it by listing.
    pub(super) look: bool,
    /// A digest of the last status this process wrote (or read), to detect a stale cached copy
    /// of the object: a digest, not a copy, since with thousands of objects a second copy of
    /// every status would be a good part of the operator's memory.
    pub(super) written: Option<StatusDigest>,
    /// A digest of the `resourceVersion` this process's last status write replaced (the write
    /// was conditional on it). A cached copy at that version is provably older than our write,
    /// and the watch is about to bring the newer one (see `own_writes`).
    pub(super) superseded: Option<u64>,
    /// After a remote failure: no remote call before `until` unless the inputs change.
    pub(super) gate: Option<Gate>,
    /// The credentials epoch of the last successful sync.
    pub(super) synced_epoch: Option<u64>,
}

/// A digest of a status (its JSON, hashed): equal statuses have equal digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct StatusDigest(u64);

impl StatusDigest {
    pub(super) fn of(status: Option<&ZisBearerConnectionStatus>) -> Self {
        // Serializing a status cannot fail (no map with non-string keys); a failure would only
        // make the digest differ, costing one extra read.
        Self(crate::digest::of_json(&status).unwrap_or_default())
    }
}

/// Holds back remote calls after a failure, so that events that change nothing (our own status
/// writes, Secret metadata touches) cannot turn a retry delay into a hot loop. Any change of the
/// spec, the token or the operator's credentials opens it at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Gate {
    until: Instant,
    inputs: Inputs,
}

/// What a remote failure depended on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Inputs {
    pub(super) generation: Option<i64>,
    pub(super) fingerprint: String,
    pub(super) credentials_epoch: u64,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: kube::Client,
    /// Who serves which integration (ZisIntegrations, or the simple mode).
    pub access: Arc<Access>,
    pub recorder: Recorder,
    pub store: Store<CachedConnection>,
    /// Which objects use which Secret and connection name (kept up to date by the object watch).
    pub index: Arc<ObjectIndex>,
    /// The `resourceVersion` of the Secrets in the watched namespaces.
    pub secrets: Arc<SecretVersions>,
    /// Metadata of the watched namespaces (their labels decide who may use an integration).
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    pub settings: Settings,
    /// Asks for other objects to be reconciled (a released connection name).
    pub peers: UnboundedSender<ObjectRef<Object>>,
    /// The versions our status writes made, whose echoes the object watch lets pass or not.
    pub own_writes: Arc<OwnWrites>,
    /// Where reconcile outcomes are counted.
    pub metrics: Arc<Metrics>,
    /// Per integration: whether ZIS refuses the operator's credentials (see `breaker`).
    pub breakers: Breakers,
    /// Whether this replica may write (status; ZIS requests are fenced by the client's permit).
    pub leadership: Arc<Leadership>,
    memory: Mutex<HashMap<ObjectRef<Object>, Memory>>,
    /// The failure reason reported by each reconcile in progress, for its metrics.
    reported: Mutex<HashMap<ObjectRef<Object>, &'static str>>,
}

/// The caches and channels the watches feed.
pub struct Watched {
    /// Every `ZisBearerConnection` in the watched namespaces.
    pub objects: Store<CachedConnection>,
    /// The same objects by Secret and by connection name.
    pub index: Arc<ObjectIndex>,
    /// The `resourceVersion` of the Secrets in the watched namespaces.
    pub secrets: Arc<SecretVersions>,
    /// Metadata of the watched namespaces.
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// Where reconciles of other objects are asked for.
    pub peers: UnboundedSender<ObjectRef<Object>>,
    /// Shared with the object watch, which wakes no reconcile for the echo of our own write.
    pub own_writes: Arc<OwnWrites>,
}

impl Context {
    pub fn new(
        client: kube::Client,
        access: Arc<Access>,
        recorder: Recorder,
        settings: Settings,
        watched: Watched,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            access,
            recorder,
            store: watched.objects,
            index: watched.index,
            secrets: watched.secrets,
            namespaces: watched.namespaces,
            settings,
            peers: watched.peers,
            own_writes: watched.own_writes,
            metrics,
            breakers: Breakers::new(),
            leadership: Arc::new(Leadership::unconditional()),
            memory: Mutex::new(HashMap::new()),
            reported: Mutex::new(HashMap::new()),
        }
    }

    /// The same context, writing only while `leadership` says this replica leads.
    pub fn with_leadership(mut self, leadership: Arc<Leadership>) -> Self {
        self.leadership = leadership;
        self
    }

    /// Notes that the reconcile of `key` in progress reported `reason` (last one wins).
    pub(super) fn note_failure(&self, key: &ObjectRef<Object>, reason: &'static str) {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        reported.insert(key.clone(), reason);
    }

    /// The failure the reconcile of `key` reported, if any, forgetting it.
    pub(super) fn take_failure(&self, key: &ObjectRef<Object>) -> Option<&'static str> {
        let mut reported = self.reported.lock().unwrap_or_else(|e| e.into_inner());
        reported.remove(key)
    }

    pub(super) fn remember<T>(
        &self,
        key: &ObjectRef<Object>,
        f: impl FnOnce(&mut Memory) -> T,
    ) -> T {
        // A poisoned lock only means a panic elsewhere mid-update of plain counters.
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(memory.entry(key.clone()).or_default())
    }

    /// Reads what is remembered of `key` (nothing: the defaults) without making an entry for it:
    /// a restart reconciles every object once, and most have nothing to remember.
    pub(super) fn recall<T>(&self, key: &ObjectRef<Object>, f: impl FnOnce(&Memory) -> T) -> T {
        let memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        match memory.get(key) {
            Some(remembered) => f(remembered),
            None => f(&Memory::default()),
        }
    }

    pub(super) fn forget(&self, key: &ObjectRef<Object>) {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        memory.remove(key);
    }

    /// When to come back after `retry`; counts transient failures for the backoff.
    pub(super) fn requeue_after(&self, key: &ObjectRef<Object>, retry: Retry) -> Requeue {
        Requeue::requeue(self.retry_delay(key, retry))
    }

    pub(super) fn retry_delay(&self, key: &ObjectRef<Object>, retry: Retry) -> Duration {
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
    pub(super) fn close_gate(&self, key: &ObjectRef<Object>, delay: Duration, inputs: Inputs) {
        self.remember(key, |m| {
            m.gate = Some(Gate {
                until: Instant::now() + delay,
                inputs,
            })
        });
    }

    /// How long remote calls are still held back for these inputs, if at all.
    pub(super) fn gated(&self, key: &ObjectRef<Object>, inputs: &Inputs) -> Option<Duration> {
        self.recall(key, |m| {
            let gate = m.gate.as_ref()?;
            let left = gate.until.checked_duration_since(Instant::now())?;
            (gate.inputs == *inputs && !left.is_zero()).then_some(left)
        })
    }

    /// Asks for the remote connection of `key` to be read at its next reconcile.
    pub(super) fn look_next_time(&self, key: &ObjectRef<Object>) {
        self.remember(key, |m| m.look = true);
    }

    /// Whether the remote connection of `key` must be read before deciding.
    pub(super) fn must_look(&self, key: &ObjectRef<Object>) -> bool {
        self.recall(key, |m| m.look)
    }
}

pub(crate) fn jitter_up_to(max: Duration) -> Duration {
    let millis = u64::try_from(max.as_millis()).unwrap_or(u64::MAX);
    if millis == 0 {
        return Duration::ZERO;
    }
    Duration::from_millis(rand::rng().random_range(0..=millis))
}

/// Exponential backoff with "equal jitter": half the step fixed, half random.
pub(super) fn backoff(failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(20);
    let step = BACKOFF_BASE
        .saturating_mul(2u32.saturating_pow(exponent))
        .min(BACKOFF_CAP);
    step / 2 + jitter_up_to(step / 2)
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
