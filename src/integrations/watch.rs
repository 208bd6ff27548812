//! Runs the integrations' controller beside the connections' one, on the leader: a watch of
//! `ZisIntegration`s (announcing each to [`Access`] as it is seen, so that its connections wait
//! for it rather than fall back to the simple mode), reconciles on a change of the object, of
//! its credentials Secret, or when ZIS refused its token.

use std::sync::Arc;

use futures::channel::mpsc::UnboundedSender;
use futures::{Stream, StreamExt, stream};
use kube::Api;
use kube::api::ListParams;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use tracing::{debug, info, warn};

use super::{IntegrationContext, SecretSeen, concerned_by, error_policy, reconcile, watched};
use crate::controller::access::Access;
use crate::controller::dereference::describe_kube_error;
use crate::controller::index::ObjectIndex;
use crate::events::Recorder;
use crate::metrics::Metrics;
use crate::resource::{ZisBearerConnection, ZisIntegration};

/// The watch of the `ZisIntegration`s this operator serves (`None`: it serves none). Their
/// CRD must be installed and the operator allowed to list them; a namespaced operator serves
/// them only when told which (`--integration-selector`), so that several namespaced installs
/// never renew the same integration's tokens.
pub async fn served(
    client: &kube::Client,
    namespaced: bool,
    selector: Option<&str>,
) -> Option<watcher::Config> {
    if namespaced && selector.is_none() {
        info!(
            "a namespaced operator serves no ZisIntegrations without --integration-selector: only the simple mode serves integrations"
        );
        return None;
    }
    let mut list = ListParams::default().limit(1);
    let mut config = watcher::Config::default().any_semantic();
    if let Some(selector) = selector {
        list = list.labels(selector);
        config = config.labels(selector);
    }
    let api: Api<ZisIntegration> = Api::all(client.clone());
    match api.list_metadata(&list).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {
            info!(
                "the ZisIntegration CRD is not installed: only the simple mode serves integrations"
            );
            return None;
        }
        Err(kube::Error::Api(status)) if status.code == 403 => {
            info!(
                "no permission to list ZisIntegrations: only the simple mode serves integrations"
            );
            return None;
        }
        Err(error) => {
            // Most likely passing: the watch retries with backoff.
            warn!(error = %describe_kube_error(&error), "listing ZisIntegrations failed; watching them anyway");
        }
    }
    Some(config)
}

/// What the integrations' controller is made of.
pub struct Parts {
    pub client: kube::Client,
    pub access: Arc<Access>,
    pub connections: Arc<ObjectIndex>,
    pub wake: UnboundedSender<ObjectRef<ZisBearerConnection>>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
}

/// Runs the controller on the `ZisIntegration`s `config` selects until `shutdown`. `listed` sees every watch event (readiness);
/// `secret_changes` says which Secrets changed or went.
pub async fn run<L, S, D>(
    parts: Parts,
    config: watcher::Config,
    listed: L,
    secret_changes: S,
    shutdown: D,
) where
    L: FnMut(&Result<watcher::Event<ZisIntegration>, watcher::Error>) + Send + 'static,
    S: Stream<Item = SecretSeen> + Send + 'static,
    D: std::future::Future<Output = ()> + Send + Sync + 'static,
{
    let (store, writer) = reflector::store();
    let (renewals, renewal_requests) = futures::channel::mpsc::unbounded();
    parts.access.renew_refused_tokens_with(renewals);
    let ctx = Arc::new(IntegrationContext::new(
        parts.client.clone(),
        parts.access,
        store.clone(),
        parts.connections,
        parts.wake,
        parts.recorder,
        parts.metrics,
    ));
    let counted = store.clone();
    ctx.metrics.count_integrations_with(move || {
        crate::metrics::count_integrations_by_ready(counted.state().iter().map(|i| &**i))
    });
    let seen = ctx.clone();
    let integrations = watcher(Api::<ZisIntegration>::all(parts.client), config)
        .default_backoff()
        .reflect(writer)
        .inspect(listed)
        .inspect(move |event| match event {
            Ok(event) => watched(event, &seen),
            Err(error) => {
                let error = crate::controller::dereference::describe_watch_error(error);
                warn!(%error, "ZisIntegration watch failed; retrying");
            }
        })
        .applied_objects();
    let by_secret = {
        let store = store.clone();
        secret_changes.flat_map(move |seen| stream::iter(concerned_by(&store, &seen)))
    };
    let by_refusal = {
        let ctx = ctx.clone();
        renewal_requests.filter_map(move |key: String| {
            let wanted = ctx.request_renewal(&key);
            async move { wanted }
        })
    };
    info!("serving ZisIntegrations");
    Controller::for_stream(integrations, store)
        .reconcile_on(stream::select(by_secret, by_refusal))
        .graceful_shutdown_on(shutdown)
        .run(reconcile, error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                debug!(%error, "integration reconcile did not finish");
            }
        })
        .await;
}
