//! The reconcile loop of `ZisBearerConnection` objects.
//!
//! One reconcile is a short pipeline, each step in its own module: [`dereference`] (token Secret)
//! -> [`validate`] (typed desired state) -> [`plan`] (one action) -> [`act`] (ZIS calls) ->
//! [`report`] (status, events). `apply` reads as that line for an object that exists, `cleanup`
//! for one being deleted; `run` holds one reconcile's working status record, its plan/act loop
//! and its status writes.
//!
//! Around them: [`context`] (what reconciles share and remember), [`index`] (who uses which
//! Secret and connection name), [`drift`] (the drift watch that lists the remote side),
//! [`breaker`] (refused credentials per integration), [`token_changes`] (tokens being replaced),
//! [`credentials`] (the operator's own ZIS credentials), [`fingerprint`], [`outcome`],
//! [`requested`] (the "reconcile now" annotation), [`own_writes`] (the watch's echoes of our status
//! writes, which wake no reconcile),
//! [`trim`] (what the caches keep), [`cache`] (how the object cache holds an object, compressed),
//! [`secret_versions`] (the one thing kept of each Secret), [`lean`] (objects parsed without
//! managed fields). This module only dispatches: the finalizer, the error policy.
//! `crate::runtime` wires it.

/// Implements `kube::Resource` for a type that stands for a `ZisBearerConnection` (the cache's
/// and the lean parse's forms): the same kind, group, version and plural, and the metadata the
/// type holds at `$meta` of `self`.
macro_rules! stands_for_connection {
    ($type:ty, $self:ident => $meta:expr) => {
        impl kube::Resource for $type {
            type DynamicType = ();
            type Scope = <crate::resource::ZisBearerConnection as kube::Resource>::Scope;

            fn kind(dt: &()) -> std::borrow::Cow<'_, str> {
                crate::resource::ZisBearerConnection::kind(dt)
            }

            fn group(dt: &()) -> std::borrow::Cow<'_, str> {
                crate::resource::ZisBearerConnection::group(dt)
            }

            fn version(dt: &()) -> std::borrow::Cow<'_, str> {
                crate::resource::ZisBearerConnection::version(dt)
            }

            fn plural(dt: &()) -> std::borrow::Cow<'_, str> {
                crate::resource::ZisBearerConnection::plural(dt)
            }

            fn meta(&$self) -> &kube::api::ObjectMeta {
                &$meta
            }

            fn meta_mut(&mut $self) -> &mut kube::api::ObjectMeta {
                &mut $meta
            }
        }
    };
}

pub mod access;
pub mod act;
mod apply;
pub mod breaker;
pub mod cache;
mod cleanup;
pub mod context;
pub mod credentials;
pub mod dereference;
pub mod drift;
pub mod fingerprint;
pub mod index;
pub mod lean;
pub mod outcome;
pub mod own_writes;
pub mod plan;
pub mod report;
pub mod requested;
mod run;
pub mod secret_versions;
pub mod token_changes;
pub mod trim;
pub mod validate;

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::runtime::controller::Action as Requeue;
use kube::runtime::finalizer::{self, Event as FinalizerEvent, finalizer};
use kube::{Api, ResourceExt};
use tracing::{debug, warn};

use lean::LeanConnection;
use outcome::Retry;

pub use context::{Context, Settings, Watched};
pub use index::{objects_for_secret_event, peers_waiting_for};

use crate::metrics::{KubeWrite, ReconcileOutcome};
use crate::resource::{FINALIZER, ZisBearerConnection};

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

/// The controller's reconcile function: [`reconcile_object`] of the cached object, measured.
pub async fn reconcile(
    cached: Arc<cache::CachedConnection>,
    ctx: Arc<Context>,
) -> Result<Requeue, Error> {
    let object = Arc::new(cached.object());
    let key = index::key_of(&object);
    let started = Instant::now();
    // Left over only if an earlier reconcile of this object was cancelled mid-way.
    ctx.take_failure(&key);
    let result = reconcile_object(object, ctx.clone()).await;
    let reported = ctx.take_failure(&key);
    ctx.metrics
        .reconciled(started.elapsed(), reconcile_outcome(&result, reported));
    result
}

/// The object a lean copy holds (not copied: the finalizer helper passes the only reference on).
fn unwrapped(lean: Arc<LeanConnection>) -> Arc<Object> {
    Arc::new(Arc::unwrap_or_clone(lean).into_object())
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
    let key = index::key_of(&object);
    // The controller already runs each reconcile in a span naming the object.
    let api: Api<Object> = Api::namespaced(ctx.client.clone(), &namespace);
    // The finalizer helper writes once when it adds the finalizer (an object without it, not
    // being deleted) and once when it removes it (a cleanup that succeeded).
    let has_finalizer = object.finalizers().iter().any(|f| f == FINALIZER);
    let deleting = object.metadata.deletion_timestamp.is_some();
    // The finalizer's writes answer with the whole object: parsed without managed fields.
    let finalizers: Api<LeanConnection> = Api::namespaced(ctx.client.clone(), &namespace);
    let lean = Arc::new(LeanConnection::from(Arc::unwrap_or_clone(object)));
    let result = finalizer(&finalizers, FINALIZER, lean, |event| async {
        match event {
            FinalizerEvent::Apply(object) => apply::apply(unwrapped(object), &api, &ctx).await,
            FinalizerEvent::Cleanup(object) => cleanup::cleanup(unwrapped(object), &ctx).await,
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
            Ok(apply::wait_for_credentials(&key))
        }
        Err(finalizer::Error::ApplyFailed(error) | finalizer::Error::CleanupFailed(error)) => {
            Err(error)
        }
        Err(other) => Err(Error::Finalizer(other.to_string())),
    }
}

/// The controller's error policy: unexpected failures (Kubernetes API) back off per object.
pub fn error_policy(
    cached: Arc<cache::CachedConnection>,
    error: &Error,
    ctx: Arc<Context>,
) -> Requeue {
    let key = cached.key();
    if matches!(error, Error::Overtaken) {
        // Not a failure: the next reconcile starts from the stored object.
        debug!(%key, %error, "starting again");
        return Requeue::requeue(Duration::from_millis(100));
    }
    warn!(%key, %error, "reconcile failed");
    ctx.requeue_after(&key, Retry::Backoff)
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
