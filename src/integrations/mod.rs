//! The reconcile loop of `ZisIntegration` objects (run by the leader only): each one makes its
//! integration available to connections through [`Access`] (its Zendesk account, the access
//! token its credentials give, its namespace selector and adoption rule), renews that token
//! before it expires, and reports in its status. Connections never see the credentials Secret.
//!
//! Renewal, for the refresh-token grant: the refresh token is single use, so the new one is
//! written back into the Secret (an update conditional on the `resourceVersion` read) before
//! the new access token is used; access tokens live in memory only. If the process dies between
//! the token endpoint's answer and the write-back, the refresh token in the Secret is spent and
//! the next renewal gets `invalid_grant`: the integration then says a person must authorize the
//! app again (`ReauthorizationRequired`). That window is a few milliseconds; nothing can close
//! it, since Zendesk rotates on every use.

mod renew;
mod spec;
mod status;
pub mod watch;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::controller::Action as Requeue;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use crate::controller::access::{Access, Managed, NotReady};
use crate::controller::index::ObjectIndex;
use crate::events::Recorder;
use crate::metrics::Metrics;
use crate::resource::{ZisBearerConnection, ZisIntegration};
use crate::zis::oauth::OAuthClient;

pub use renew::Memory;
use spec::Checked;
use status::Outcome;

/// How often an integration is looked at even when nothing is known to have changed: its
/// credentials Secret may live where the operator's Secret watch does not see it.
const RECHECK: Duration = Duration::from_secs(60);

/// When a passing failure is tried again.
const RETRY: Duration = Duration::from_secs(10);

/// Why a reconcile of an integration ended without an action.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("kubernetes api call failed: {0}")]
    Kube(#[from] kube::Error),
}

/// What every reconcile of integrations shares.
pub struct IntegrationContext {
    pub client: kube::Client,
    pub access: Arc<Access>,
    pub integrations: Store<ZisIntegration>,
    /// The connections by integration (to count them and wake them).
    pub connections: Arc<ObjectIndex>,
    /// Asks for connections to be reconciled (their integration changed).
    pub wake: UnboundedSender<ObjectRef<ZisBearerConnection>>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    /// Per `ZisIntegration` name: the grant in use and renewal bookkeeping (lost on restart, by
    /// design: the refresh token lives in the Secret, access tokens are renewed).
    memory: Mutex<HashMap<String, Memory>>,
    /// Token endpoints, one per account.
    oauth: Mutex<HashMap<String, OAuthClient>>,
}

impl IntegrationContext {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        client: kube::Client,
        access: Arc<Access>,
        integrations: Store<ZisIntegration>,
        connections: Arc<ObjectIndex>,
        wake: UnboundedSender<ObjectRef<ZisBearerConnection>>,
        recorder: Recorder,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            client,
            access,
            integrations,
            connections,
            wake,
            recorder,
            metrics,
            memory: Mutex::new(HashMap::new()),
            oauth: Mutex::new(HashMap::new()),
        }
    }

    fn remember<T>(&self, name: &str, f: impl FnOnce(&mut Memory) -> T) -> T {
        let mut memory = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        f(memory.entry(name.to_owned()).or_default())
    }

    fn oauth_client(&self, base_url: &str) -> Option<OAuthClient> {
        let mut all = self.oauth.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = all.get(base_url) {
            return Some(client.clone());
        }
        let mut config = self.access.template().clone();
        config.base_url = base_url.to_owned();
        match OAuthClient::new(&config) {
            Ok(client) => {
                all.insert(base_url.to_owned(), client.clone());
                Some(client)
            }
            Err(error) => {
                warn!(%error, "cannot make a token endpoint client");
                None
            }
        }
    }

    /// Wakes every connection of `integration` (it became usable, or stopped being).
    fn wake_connections(&self, integration: &str) {
        for key in self.connections.users_of_integration(integration) {
            // A closed channel means the controller is shutting down.
            let _ = self.wake.unbounded_send(key);
        }
    }
}

/// The controller's reconcile function for one `ZisIntegration`.
pub async fn reconcile(
    integration: Arc<ZisIntegration>,
    ctx: Arc<IntegrationContext>,
) -> Result<Requeue, Error> {
    let name = integration.name_any();
    let api: Api<ZisIntegration> = Api::all(ctx.client.clone());
    let key = integration.spec.integration.clone();

    for released in ctx.access.release_others(&name, &key) {
        ctx.wake_connections(&released);
    }
    let outcome = match spec::check(&integration, &ctx) {
        Err(problem) => {
            // A junior of the same key leaves the senior's entry alone.
            if problem.reason != spec::CONFLICT {
                let not_ready = NotReady {
                    reason: problem.reason,
                    message: problem.message.clone(),
                };
                if ctx.access.refuse(&key, &name, not_ready) {
                    ctx.wake_connections(&key);
                }
            }
            Outcome::failed(problem)
        }
        Ok(checked) => serve(&integration, &checked, &ctx).await?,
    };
    // A passing failure (a write-back refused, a Secret unreadable) is tried again soon; one a
    // person must cure waits for a change (the watches), or the periodic recheck.
    let soon = (outcome.token.is_none() && !outcome.stalled).then_some(RETRY);
    let requeue = outcome.requeue.or(soon).unwrap_or(RECHECK).min(RECHECK);
    status::report(&api, &integration, &outcome, &ctx).await?;
    debug!(%name, integration = %key, ?requeue, "integration reconciled");
    Ok(Requeue::requeue(requeue))
}

/// Makes the integration available with a current token, renewing it when it is due, and
/// tells connections when anything they rely on changed.
async fn serve(
    integration: &ZisIntegration,
    checked: &Checked,
    ctx: &IntegrationContext,
) -> Result<Outcome, Error> {
    let name = integration.name_any();
    let outcome = renew::token(integration, checked, ctx).await?;
    let managed = Managed {
        object: name.clone(),
        zis: checked.zis.clone(),
        token: match &outcome.token {
            Some(token) => Ok(token.clone()),
            None => Err(NotReady {
                reason: outcome.reason,
                message: outcome.message.clone(),
            }),
        },
        namespaces: checked.namespaces.clone(),
        never_adopt: checked.never_adopt,
    };
    if ctx.access.serve(&checked.key, managed) {
        info!(%name, integration = %checked.key, reason = outcome.reason, "integration changed for its connections");
        ctx.wake_connections(&checked.key);
    }
    Ok(outcome)
}

/// The `ZisIntegration` `object` (serving `key`) is gone from the cache: it serves nothing now.
fn forget(key: &str, object: &str, ctx: &IntegrationContext) {
    // Another object may serve the same key (a second one waiting with `Conflict`): it takes
    // over at its next reconcile; until then its connections wait for it.
    ctx.access.forget(key);
    ctx.remember(object, |m| *m = Memory::default());
    if let Some(next) = ctx
        .integrations
        .state()
        .iter()
        .find(|i| i.spec.integration == key)
    {
        ctx.access.announce(key, &next.name_any());
    }
    ctx.wake_connections(key);
}

/// After a full list: what [`Access`] holds for objects that are gone (deleted while the watch
/// was down, so never seen as deleted) is forgotten.
fn forget_unlisted(ctx: &IntegrationContext) {
    let listed = ctx.integrations.state();
    for (key, object) in ctx.access.managed() {
        let present = listed
            .iter()
            .any(|i| i.name_any() == object && i.spec.integration == key);
        if !present {
            forget(&key, &object, ctx);
        }
    }
}

/// What the integrations' watch saw: the integration `integration` names is announced (its
/// connections wait for it), a deleted one forgotten.
pub fn watched(event: &kube::runtime::watcher::Event<ZisIntegration>, ctx: &IntegrationContext) {
    use kube::runtime::watcher::Event;
    match event {
        Event::Apply(integration) | Event::InitApply(integration) => ctx
            .access
            .announce(&integration.spec.integration, &integration.name_any()),
        Event::Delete(integration) => {
            forget(&integration.spec.integration, &integration.name_any(), ctx);
        }
        Event::InitDone => forget_unlisted(ctx),
        Event::Init => {}
    }
}

impl IntegrationContext {
    /// ZIS refused the token of `integration` (its key): the `ZisIntegration` serving it is to
    /// renew it once, even if it is not due.
    pub fn request_renewal(&self, integration: &str) -> Option<ObjectRef<ZisIntegration>> {
        let object = self.access.object_of(integration)?;
        self.remember(&object, |m| m.renewal_requested = true);
        Some(ObjectRef::new(&object))
    }
}

/// The controller's error policy: Kubernetes API failures are retried soon.
pub fn error_policy(
    integration: Arc<ZisIntegration>,
    error: &Error,
    _ctx: Arc<IntegrationContext>,
) -> Requeue {
    warn!(name = %integration.name_any(), %error, "integration reconcile failed");
    Requeue::requeue(Duration::from_secs(5))
}

/// What the Secret watch tells the integrations' controller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretSeen {
    /// The Secret (namespace, name) changed or went.
    Changed(String, String),
    /// Every Secret was listed (at start, or again after a gap): a credentials Secret deleted
    /// before or meanwhile sent no event of its own.
    Listed,
}

impl SecretSeen {
    /// What a Secret watch event tells the integrations, if anything.
    pub fn of(event: &watcher::Event<PartialObjectMeta<Secret>>) -> Option<Self> {
        match event {
            watcher::Event::Apply(secret)
            | watcher::Event::InitApply(secret)
            | watcher::Event::Delete(secret) => Some(Self::Changed(
                secret.namespace().unwrap_or_default(),
                secret.name_any(),
            )),
            watcher::Event::InitDone => Some(Self::Listed),
            watcher::Event::Init => None,
        }
    }
}

/// The `ZisIntegration`s to reconcile for what the Secret watch saw: after a listing every one
/// (each reads its Secret again; there are few integrations and few listings).
pub fn concerned_by(
    integrations: &Store<ZisIntegration>,
    seen: &SecretSeen,
) -> Vec<ObjectRef<ZisIntegration>> {
    match seen {
        SecretSeen::Changed(namespace, name) => using_secret(integrations, namespace, name),
        SecretSeen::Listed => integrations
            .state()
            .iter()
            .map(|i| ObjectRef::from_obj(&**i))
            .collect(),
    }
}

/// The `ZisIntegration`s whose credentials Secret is `namespace/name`.
fn using_secret(
    integrations: &Store<ZisIntegration>,
    namespace: &str,
    name: &str,
) -> Vec<ObjectRef<ZisIntegration>> {
    integrations
        .state()
        .iter()
        .filter(|i| {
            let secret = &i.spec.credentials.secret_ref;
            secret.namespace == namespace && secret.name == name
        })
        .map(|i| ObjectRef::from_obj(&**i))
        .collect()
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;

    fn integration(name: &str, secret: &str) -> ZisIntegration {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "zis-operator.dev/v1alpha1",
            "kind": "ZisIntegration",
            "metadata": {"name": name},
            "spec": {
                "integration": name,
                "subdomain": "acme",
                "credentials": {"secretRef": {"namespace": "zis-system", "name": secret}},
                "namespaceSelector": {}
            }
        }))
        .expect("a valid ZisIntegration")
    }

    fn names(refs: Vec<ObjectRef<ZisIntegration>>) -> Vec<String> {
        let mut names: Vec<String> = refs.into_iter().map(|r| r.name).collect();
        names.sort();
        names
    }

    #[test]
    fn a_secret_event_is_a_change_of_that_secret_and_the_end_of_a_listing_is_a_listing() {
        let secret: PartialObjectMeta<Secret> = PartialObjectMeta {
            metadata: kube::api::ObjectMeta {
                namespace: Some("zis-system".into()),
                name: Some("one-oauth".into()),
                ..Default::default()
            },
            ..Default::default()
        };
        let changed = Some(SecretSeen::Changed("zis-system".into(), "one-oauth".into()));
        assert_eq!(SecretSeen::of(&Event::Apply(secret.clone())), changed);
        assert_eq!(SecretSeen::of(&Event::InitApply(secret.clone())), changed);
        assert_eq!(SecretSeen::of(&Event::Delete(secret)), changed);
        assert_eq!(SecretSeen::of(&Event::InitDone), Some(SecretSeen::Listed));
        assert_eq!(SecretSeen::of(&Event::Init), None);
    }

    #[test]
    fn a_changed_secret_concerns_its_integrations_and_a_listing_concerns_all() {
        let (store, mut writer) = reflector::store();
        writer.apply_watcher_event(&Event::Apply(integration("one", "one-oauth")));
        writer.apply_watcher_event(&Event::Apply(integration("two", "two-oauth")));
        let changed = |namespace: &str, name: &str| {
            names(concerned_by(
                &store,
                &SecretSeen::Changed(namespace.into(), name.into()),
            ))
        };
        assert_eq!(changed("zis-system", "two-oauth"), ["two"]);
        assert!(changed("other", "two-oauth").is_empty());
        assert!(changed("zis-system", "unrelated").is_empty());
        assert_eq!(
            names(concerned_by(&store, &SecretSeen::Listed)),
            ["one", "two"]
        );
    }
}
