//! Process setup for `zis-operator run`: logging to stderr, the tokio runtime, the Kubernetes
//! and ZIS clients, the watches (objects, token Secrets metadata-only, the credentials Secret)
//! and the controller.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::events::{Recorder, Reporter};
use futures::{StreamExt, TryStreamExt, stream};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{ListParams, PartialObjectMeta};
use kube::runtime::controller::Config as ControllerConfig;
use kube::runtime::{Controller, WatchStreamExt, reflector, watcher};
use kube::{Api, ResourceExt};
use tracing::{debug, info, warn};

use crate::cli::{MetricsAddr, RunArgs, SecretRef};
use crate::controller::access::{Access, SimpleMode, parse_selector};
use crate::controller::credentials::Credentials;
use crate::controller::index::ObjectIndex;
use crate::controller::lean::LeanConnection;
use crate::controller::own_writes::OwnWrites;
use crate::controller::secret_versions::SecretVersions;
use crate::controller::{self, Context, Settings, Watched};
use crate::integrations::{self, SecretSeen};
use crate::leader::{self, Candidate, Leadership};
use crate::metrics::server::{MetricsServer, ServerError};
use crate::metrics::{self, KubeWrite, Metrics, Role};
use crate::resource::ZisBearerConnection;
use crate::zis::{ClientConfig, ConfigError, Permit, ZisClient};

/// How long startup waits for the first read of the credentials Secret.
const CREDENTIALS_WAIT: Duration = Duration::from_secs(10);
/// The Lease's namespace out of a cluster when nothing else names one.
const DEFAULT_LEASE_NAMESPACE: &str = "zis-system";
/// How long reconciles in flight may take to finish after SIGTERM (pods get 30 s by default).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(20);

/// Why the operator could not start.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("invalid zendesk configuration: {0}")]
    Zis(#[from] ConfigError),
    #[error("cannot reach kubernetes: {0}")]
    Kube(#[from] kube::Error),
    /// The API server did not answer the first request, or refused it.
    #[error(
        "cannot use the Kubernetes API server at {url} (from KUBECONFIG, ~/.kube/config or the in-cluster config): {cause}"
    )]
    Cluster { url: String, cause: String },
    #[error(
        "the ZisBearerConnection CRD (zisbearerconnections.zis-operator.dev) is not installed; install it with `kubectl apply -f crds/zisbearerconnections.yaml` (or `zis-operator crd | kubectl apply -f -`)"
    )]
    CrdMissing,
    #[error("cannot start the async runtime: {0}")]
    Runtime(#[from] std::io::Error),
    #[error(
        "no Zendesk account given: set --subdomain NAME (or ZIS_SUBDOMAIN=NAME) for https://NAME.zendesk.com, or --zendesk-url URL (or ZIS_ZENDESK_URL=URL)"
    )]
    NoZendesk,
    #[error(transparent)]
    Metrics(#[from] ServerError),
    #[error("lost the leader lease; stopped at once so that another replica can take over")]
    LeadershipLost,
    #[error(
        "--zendesk-url/--subdomain name the simple mode's account, which needs --credentials-secret NAMESPACE/NAME (or ZIS_CREDENTIALS_SECRET) too"
    )]
    NoCredentialsSecret,
    #[error("invalid --namespace-selector: {0}")]
    NamespaceSelector(String),
    #[error("invalid --integration-selector: {0}")]
    IntegrationSelector(String),
}

/// The ZIS clients the leader starts from.
struct Clients {
    /// The simple mode's account, if that mode is on.
    simple: Option<ZisClient>,
    simple_namespaces: Option<kube::core::Selector>,
    /// How the clients of ZisIntegrations' accounts are made.
    template: ClientConfig,
}

/// Runs the operator until SIGINT or SIGTERM.
pub fn main(args: RunArgs) -> ExitCode {
    crate::logging::init(args.log_format);
    let result = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(RunError::from)
        .and_then(|runtime| runtime.block_on(on_a_worker(run(args))));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // Printed directly, not logged: it must show whatever RUST_LOG says.
            eprintln!("zis-operator: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `future` as a task of the runtime rather than on the thread that blocks on it: every
/// request of the controller goes through tasks on the workers (the HTTP connections), and a
/// future polled outside them hands each one over between threads (a futex wake and a context
/// switch each way). A panic in the task is resumed here, as if it had happened in place.
async fn on_a_worker<T: Send + 'static>(future: impl Future<Output = T> + Send + 'static) -> T {
    match tokio::spawn(future).await {
        Ok(output) => output,
        Err(error) => std::panic::resume_unwind(error.into_panic()),
    }
}

/// How every ZIS client of this process is made: paced by `--requests-per-minute`, observed by
/// the metrics, and sending only while this replica leads (`permit`).
fn client_template(args: &RunArgs, metrics: Arc<Metrics>, permit: Permit) -> ClientConfig {
    let mut config = ClientConfig::for_url("https://zendesk.invalid", args.allow_http)
        .with_observer(metrics)
        .with_permit(permit);
    config.pacing.requests_per_minute = args.requests_per_minute;
    config
}

/// The client of the simple mode's account, when `--credentials-secret` asks for the simple mode.
fn simple_mode_client(
    args: &RunArgs,
    template: &ClientConfig,
) -> Result<Option<ZisClient>, RunError> {
    let base_url = match (&args.zendesk_url, &args.subdomain, &args.credentials_secret) {
        (None, None, None) => return Ok(None),
        (_, _, None) => return Err(RunError::NoCredentialsSecret),
        (Some(url), _, Some(_)) => url.clone(),
        (None, Some(subdomain), Some(_)) => ClientConfig::for_subdomain(subdomain)?.base_url,
        (None, None, Some(_)) => return Err(RunError::NoZendesk),
    };
    let mut config = template.clone();
    config.base_url = base_url;
    Ok(Some(ZisClient::new(config)?))
}

async fn run(args: RunArgs) -> Result<(), RunError> {
    let metrics = Arc::new(Metrics::new());
    let leadership = Arc::new(if args.leader_election {
        Leadership::follower()
    } else {
        Leadership::unconditional()
    });
    // Every request to ZIS checks, just before it goes out, that this replica still leads.
    let permit_holder = leadership.clone();
    let template = client_template(
        &args,
        metrics.clone(),
        Arc::new(move || permit_holder.is_leader()),
    );
    let simple_zis = simple_mode_client(&args, &template)?;
    let simple_namespaces = args
        .namespace_selector
        .as_deref()
        .map(parse_selector)
        .transpose()
        .map_err(RunError::NamespaceSelector)?;
    if let Some(selector) = &args.integration_selector {
        parse_selector(selector).map_err(RunError::IntegrationSelector)?;
    }
    // Bound before anything else so a taken port stops the operator at once.
    let (stop_server, server) = start_metrics_server(args.metrics_addr, metrics.clone()).await?;
    let config = kube::Config::infer()
        .await
        .map_err(|e| RunError::Kube(kube::Error::InferConfig(e)))?;
    let cluster_url = display_url(&config.cluster_url);
    let client = kube::Client::try_from(config)?;
    // Checked before the election: a missing CRD stops every replica at once with its message.
    let objects: Api<ZisBearerConnection> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    check_crd(&objects, &cluster_url).await?;
    let shutdown = shutdown_signal();
    let mut candidate = args.leader_election.then(|| candidate(&client, &args));
    if let Some(candidate) = candidate.as_mut() {
        metrics.set_role(Role::Standby);
        info!(
            identity = candidate.identity(),
            "waiting to become the leader"
        );
        tokio::select! {
            () = candidate.acquire(&leadership) => {}
            () = shutdown.clone() => {
                info!("stopped before becoming the leader");
                stop_metrics_server(stop_server, server).await;
                return Ok(());
            }
        }
    }
    metrics.set_role(Role::Leader);
    let result = lead(
        &args,
        client,
        Clients {
            simple: simple_zis,
            simple_namespaces,
            template,
        },
        leadership.clone(),
        metrics.clone(),
        shutdown,
        candidate.as_mut(),
    )
    .await;
    if let Some(candidate) = candidate.as_mut()
        && result.is_ok()
    {
        candidate.release(&leadership).await;
    }
    metrics.set_ready(false);
    stop_metrics_server(stop_server, server).await;
    match &result {
        Ok(()) => info!("zis-operator stopped"),
        Err(error) => tracing::error!(%error, "zis-operator stopped"),
    }
    result
}

/// Everything the leader does, until shutdown is asked for (in-flight reconciles get
/// [`SHUTDOWN_GRACE`] to finish) or leadership is lost (then it stops at once).
async fn lead(
    args: &RunArgs,
    client: kube::Client,
    clients: Clients,
    leadership: Arc<Leadership>,
    metrics: Arc<Metrics>,
    shutdown: Shutdown,
    candidate: Option<&mut Candidate>,
) -> Result<(), RunError> {
    // Parsed without managed fields (`lean`).
    let objects: Api<LeanConnection> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };

    // The simple mode's credentials, watched; a change retries every object.
    let (credentials_changed, credentials_triggers) = futures::channel::mpsc::unbounded::<()>();
    let simple = match (clients.simple, &args.credentials_secret) {
        (Some(zis), Some(secret)) => {
            let credentials = Arc::new(Credentials::new(secret.to_string()));
            let (first_read_tx, first_read) = tokio::sync::oneshot::channel();
            tokio::spawn(watch_credentials(
                client.clone(),
                secret.clone(),
                credentials.clone(),
                credentials_changed.clone(),
                first_read_tx,
            ));
            if tokio::time::timeout(CREDENTIALS_WAIT, first_read)
                .await
                .is_err()
            {
                warn!(%secret, "credentials secret not read yet; starting anyway");
                // Connections stop waiting quietly and say so; a later read wakes them again.
                credentials.stop_waiting();
            }
            Some(SimpleMode {
                zis,
                credentials,
                namespaces: clients.simple_namespaces,
            })
        }
        _ => None,
    };
    let access = Arc::new(Access::new(simple, clients.template));
    let integrations_served = integrations::watch::served(
        &client,
        args.namespace.is_some(),
        args.integration_selector.as_deref(),
    )
    .await;
    let integrations_enabled = integrations_served.is_some();

    let readiness = Readiness::new(if integrations_enabled { 4 } else { 3 }, metrics.clone());
    // The object watch is built here rather than by `Controller::new` to see its first full list
    // (readiness), to index the objects, to cache them compactly (`cache`), and to keep the
    // echoes of the operator's own status writes from waking reconciles (`own_writes`).
    let (store, mut object_writer) = reflector::store();
    let (peers, peer_triggers) = futures::channel::mpsc::unbounded();
    let index = Arc::new(ObjectIndex::new());
    let own_writes = Arc::new(OwnWrites::new());
    let (indexed, deleted_peers) = (index.clone(), peers.clone());
    let (written, echoes) = (own_writes.clone(), own_writes.clone());
    let object_triggers = watcher(objects, list_config())
        .default_backoff()
        .map_ok(move |event| {
            let event = controller::lean::objects(event);
            let cached = controller::cache::cached(&event);
            object_writer.apply_watcher_event(&cached);
            indexed.apply_event(&event);
            match &event {
                // After the cache dropped it: objects waiting for a name it held find it gone.
                watcher::Event::Delete(deleted) => {
                    written.forget(&controller::index::key_of(deleted));
                    for peer in controller::peers_waiting_for(&indexed, deleted) {
                        // A closed channel means the controller is shutting down.
                        let _ = deleted_peers.unbounded_send(peer);
                    }
                }
                watcher::Event::Init => written.forget_all(),
                _ => {}
            }
            cached
        })
        .inspect(readiness.watch())
        .applied_objects()
        // After the cache took it: the echo of our own status write wakes no reconcile.
        .try_filter(move |cached| {
            futures::future::ready(!echoes.is_unwaited_echo(&cached.key(), cached.version()))
        });
    let controller = Controller::for_stream(object_triggers, store.clone());
    let counted = store.clone();
    metrics
        .count_objects_with(move || metrics::count_by_ready(counted.state().iter().map(|o| &**o)));
    // `Api<PartialObjectMeta<_>>` asks for metadata only (`as=PartialObjectMetadata`): the
    // operator never receives, let alone caches, the data of every Secret it can see.
    let secrets: Api<PartialObjectMeta<Secret>> = match &args.namespace {
        Some(namespace) => Api::namespaced(client.clone(), namespace),
        None => Api::all(client.clone()),
    };
    // Namespace labels decide who may use an integration: metadata only, labels kept.
    let (namespace_metadata, namespace_writer) = reflector::store();
    let namespace_config = match &args.namespace {
        Some(namespace) => watcher::Config::default().fields(&format!("metadata.name={namespace}")),
        None => watcher::Config::default(),
    };
    let namespace_api: Api<PartialObjectMeta<Namespace>> = Api::all(client.clone());
    let namespace_triggers = watcher(namespace_api, namespace_config.any_semantic())
        .default_backoff()
        .modify(controller::trim::keep_labels_only)
        .reflect(namespace_writer)
        .inspect(readiness.watch())
        .touched_objects()
        .filter_map(|event| logged_watch_error(event, "namespace"));
    let namespace_index = index.clone();
    // A namespace's labels changed: its objects may now be allowed, or refused.
    let namespace_triggers = namespace_triggers
        .flat_map(move |meta| stream::iter(namespace_index.users_in_namespace(&meta.name_any())))
        .map(controller::cache::cache_key);
    let secret_index = index.clone();
    // Credentials Secrets of integrations: their changes go to the integrations' controller.
    let (integration_secrets, integration_secret_changes) = futures::channel::mpsc::unbounded();
    let secret_versions = Arc::new(SecretVersions::new());
    let (versions, listed) = (secret_versions.clone(), secret_versions.clone());
    let secret_triggers = watcher(secrets, list_config())
        .default_backoff()
        .modify(controller::trim::keep_identity_only)
        .inspect(move |event| {
            if let Ok(event) = event {
                versions.apply_event(event);
            }
        })
        .inspect(readiness.watch())
        .filter_map(|event| logged_watch_error(event, "secret"))
        .inspect(move |event| {
            // Nothing built for the integrations' controller when it is off.
            if integrations_enabled && let Some(seen) = SecretSeen::of(event) {
                // A closed channel means the integrations' controller has stopped.
                let _ = integration_secrets.unbounded_send(seen);
            }
        })
        .flat_map(move |event| {
            let users = controller::objects_for_secret_event(&secret_index, &listed, &event);
            stream::iter(users)
        })
        .map(controller::cache::cache_key);

    let reporter = Reporter {
        controller: "zis-operator".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let counted = metrics.clone();
    let recorder = Recorder::new(client.clone(), reporter)
        .with_write_counter(Arc::new(move || counted.kube_write(KubeWrite::Event)));
    let integrations_controller = integrations_enabled.then(|| {
        let parts = integrations::watch::Parts {
            client: client.clone(),
            access: access.clone(),
            connections: index.clone(),
            wake: peers.clone(),
            recorder: recorder.clone(),
            metrics: metrics.clone(),
        };
        let task = integrations::watch::run(
            parts,
            integrations_served.clone().unwrap_or_default(),
            readiness.watch(),
            integration_secret_changes,
            shutdown.clone(),
        );
        AbortOnDrop(tokio::spawn(task))
    });
    let ctx = Arc::new(
        Context::new(
            client,
            access,
            recorder,
            Settings {
                resync: args.resync_interval,
            },
            Watched {
                objects: store,
                index,
                secrets: secret_versions,
                namespaces: namespace_metadata,
                peers,
                own_writes,
            },
            metrics.clone(),
        )
        .with_leadership(leadership.clone()),
    );
    info!(
        namespace = args.namespace.as_deref().unwrap_or("<all>"),
        resync = ?args.resync_interval,
        concurrency = args.concurrency,
        "zis-operator started"
    );
    // Drift checks by listing, for as long as this replica leads.
    let drift_watch = tokio::spawn(controller::drift::watch(ctx.clone()));
    let _stop_drift_watch = AbortOnDrop(drift_watch);
    let _stop_integrations = integrations_controller;
    let reconciling = controller
        .with_config(ControllerConfig::default().concurrency(args.concurrency))
        .reconcile_on(stream::select(
            stream::select(secret_triggers, namespace_triggers),
            peer_triggers.map(controller::cache::cache_key),
        ))
        .reconcile_all_on(credentials_triggers)
        .graceful_shutdown_on(shutdown.clone())
        .run(controller::reconcile, controller::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(error) = result {
                tracing::debug!(%error, "reconcile did not finish");
            }
        });
    let grace_over = async {
        shutdown.clone().await;
        info!("stopping: no new reconciles; waiting for the ones in flight");
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    let lost = async {
        match candidate {
            Some(candidate) => candidate.hold(&leadership).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = reconciling => Ok(()),
        () = grace_over => {
            warn!(grace = ?SHUTDOWN_GRACE, "reconciles still in flight at the end of the grace period; stopping them");
            Ok(())
        }
        () = lost => Err(RunError::LeadershipLost),
    }
}

/// How the object and Secret watches list: from any API server cache, 100 objects a page rather
/// than 500 (each page is parsed whole, with managed fields, before it is trimmed: at startup
/// with thousands of objects, large pages set the peak of the operator's memory).
fn list_config() -> watcher::Config {
    watcher::Config::default().any_semantic().page_size(100)
}

/// The object of a watch event, or nothing after logging the watch's failure (it retries).
async fn logged_watch_error<K>(event: Result<K, watcher::Error>, watch: &'static str) -> Option<K> {
    event
        .map_err(|error| {
            let error = controller::dereference::describe_watch_error(&error);
            warn!(%error, "{watch} watch failed; retrying");
        })
        .ok()
}

/// Aborts a background task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A replica's candidacy, from the flags and the pod's environment.
fn candidate(client: &kube::Client, args: &RunArgs) -> Candidate {
    let namespace = args
        .leader_election_namespace
        .clone()
        .or_else(own_namespace)
        .or_else(|| {
            args.credentials_secret
                .as_ref()
                .map(|s| s.namespace.clone())
        })
        .unwrap_or_else(|| DEFAULT_LEASE_NAMESPACE.to_owned());
    let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "zis-operator".to_owned());
        format!(
            "{host}-{}-{:08x}",
            std::process::id(),
            rand::random::<u32>()
        )
    });
    info!(lease = %format!("{namespace}/{}", args.leader_election_lease), "leader election");
    Candidate::new(
        Api::namespaced(client.clone(), &namespace),
        &args.leader_election_lease,
        &identity,
        leader::Timing::default(),
    )
}

/// The pod's namespace, when running in a cluster.
fn own_namespace() -> Option<String> {
    std::env::var("POD_NAMESPACE")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/var/run/secrets/kubernetes.io/serviceaccount/namespace")
                .ok()
                .map(|text| text.trim().to_owned())
        })
        .filter(|namespace| !namespace.is_empty())
}

/// Resolves once SIGTERM or SIGINT arrives; every clone resolves.
type Shutdown = futures::future::Shared<futures::future::BoxFuture<'static, ()>>;

fn shutdown_signal() -> Shutdown {
    use futures::FutureExt;
    async {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(error) => {
                    warn!(%error, "cannot listen for SIGTERM");
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::select! {
            () = terminate => info!("SIGTERM received"),
            _ = tokio::signal::ctrl_c() => info!("SIGINT received"),
        }
    }
    .boxed()
    .shared()
}

async fn stop_metrics_server(stop: tokio::sync::oneshot::Sender<()>, server: Option<ServerTask>) {
    // The receiver is gone only if the server already stopped (its error is logged below).
    let _ = stop.send(());
    if let Some(server) = server {
        match server.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => warn!(%error, "metrics server failed"),
            Err(error) => warn!(%error, "metrics server task failed"),
        }
    }
}

type ServerTask = tokio::task::JoinHandle<std::io::Result<()>>;

/// Binds and serves `/metrics`, `/healthz` and `/readyz` unless disabled; the server stops when
/// the returned sender fires (or is dropped).
async fn start_metrics_server(
    addr: MetricsAddr,
    metrics: Arc<Metrics>,
) -> Result<(tokio::sync::oneshot::Sender<()>, Option<ServerTask>), RunError> {
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let MetricsAddr::Listen(addr) = addr else {
        info!("metrics server disabled (--metrics-addr off)");
        return Ok((stop, None));
    };
    let server = MetricsServer::bind(addr).await?;
    let bound = server
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    info!(addr = %bound, "metrics listening on {bound}");
    let task = tokio::spawn(server.serve(metrics, async {
        // A dropped sender (the operator is ending) stops the server too.
        let _ = stopped.await;
    }));
    Ok((stop, Some(task)))
}

/// Marks the operator ready once every watch the reconciles read has had its first full list
/// (its cache holds the whole state). `Store::wait_until_ready` is not used for this: it wakes a
/// single waiter, and the controller already waits on the object store.
struct Readiness {
    waiting: AtomicUsize,
    metrics: Arc<Metrics>,
}

impl Readiness {
    fn new(watches: usize, metrics: Arc<Metrics>) -> Arc<Self> {
        Arc::new(Self {
            waiting: AtomicUsize::new(watches),
            metrics,
        })
    }

    /// An inspector for one watch's events (after its reflector): its first `InitDone` counts.
    fn watch<K>(
        self: &Arc<Self>,
    ) -> impl FnMut(&Result<watcher::Event<K>, watcher::Error>) + use<K> {
        let readiness = self.clone();
        let mut listed = false;
        move |event| {
            if listed || !matches!(event, Ok(watcher::Event::InitDone)) {
                return;
            }
            listed = true;
            if readiness.waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
                info!("caches synced; ready");
                readiness.metrics.set_ready(true);
            }
        }
    }
}

/// Fails with [`RunError::CrdMissing`] when the API server does not serve the resource, and with
/// [`RunError::Cluster`] (naming `url`) when it cannot be reached or refuses: the first request
/// the operator makes, so the place to say which server it tried.
async fn check_crd(objects: &Api<ZisBearerConnection>, url: &str) -> Result<(), RunError> {
    match objects.list_metadata(&ListParams::default().limit(1)).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Err(RunError::CrdMissing),
        Err(error) => Err(RunError::Cluster {
            url: url.to_owned(),
            cause: error_chain(&error),
        }),
    }
}

/// The API server's URL as configured, without any user information.
fn display_url(url: &impl std::fmt::Display) -> String {
    let text = url.to_string();
    match url::Url::parse(&text) {
        Ok(mut parsed) => {
            // Both only fail for URLs that cannot have user information.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.as_str().trim_end_matches('/').to_owned()
        }
        Err(_) => text,
    }
}

/// An error and its causes, `: `-separated ("client error (Connect)" alone does not say that the
/// connection was refused).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let next = cause.to_string();
        if !text.contains(&next) {
            text.push_str(": ");
            text.push_str(&next);
        }
        source = cause.source();
    }
    text
}

/// Keeps `credentials` equal to the Secret's data and signals every change.
async fn watch_credentials(
    client: kube::Client,
    secret: SecretRef,
    credentials: Arc<Credentials>,
    changed: futures::channel::mpsc::UnboundedSender<()>,
    first_read: tokio::sync::oneshot::Sender<()>,
) {
    let api: Api<Secret> = Api::namespaced(client, &secret.namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={}", secret.name));
    let mut first_read = Some(first_read);
    let mut staged: Option<Secret> = None;
    let events = watcher(api, config).default_backoff();
    futures::pin_mut!(events);
    loop {
        let event = match events.try_next().await {
            Ok(Some(event)) => event,
            Ok(None) => return,
            Err(error) => {
                let error = controller::dereference::describe_watch_error(&error);
                warn!(%error, secret = %secret, "credentials secret watch failed; retrying");
                continue;
            }
        };
        let update = match event {
            watcher::Event::Init => {
                staged = None;
                None
            }
            watcher::Event::InitApply(object) => {
                if object.name_any() == secret.name {
                    staged = Some(object);
                }
                None
            }
            watcher::Event::InitDone => Some(staged.take()),
            watcher::Event::Apply(object) if object.name_any() == secret.name => Some(Some(object)),
            watcher::Event::Delete(object) if object.name_any() == secret.name => Some(None),
            watcher::Event::Apply(_) | watcher::Event::Delete(_) => None,
        };
        if let Some(update) = update {
            let present = update.is_some();
            let changed_data = credentials.replace(update.map(|object| {
                object
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(key, value)| (key, value.0))
                    .collect()
            }));
            let first = first_read.take();
            if !present && (first.is_some() || changed_data) {
                // Said once when found missing (at start or deleted), not at every relist.
                warn!(
                    secret = %secret,
                    "the operator's credentials secret {secret} does not exist: every connection waits (Ready=False, reason CredentialsMissing) until it is created"
                );
            } else if first.is_some() {
                info!(secret = %secret, "credentials secret read");
            } else if changed_data {
                info!(secret = %secret, "credentials secret changed");
            } else {
                // A relist or a metadata-only touch: nothing to retry for.
                debug!(secret = %secret, "credentials secret event without a data change");
                continue;
            }
            if let Some(first) = first {
                // Nobody waiting any more is fine: startup went on without it.
                let _ = first.send(());
            }
            // A closed channel means the controller is shutting down.
            let _ = changed.unbounded_send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    type Event = Result<watcher::Event<Secret>, watcher::Error>;

    fn multi_thread_runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    }

    #[test]
    fn the_operator_runs_on_a_worker_not_on_the_thread_that_blocks_on_it() {
        let blocking = std::thread::current().id();
        let ran_on =
            multi_thread_runtime().block_on(on_a_worker(async { std::thread::current().id() }));
        assert_ne!(ran_on, blocking);
    }

    #[test]
    fn a_panic_on_the_worker_is_resumed_where_the_runtime_was_entered() {
        let runtime = multi_thread_runtime();
        let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            runtime.block_on(on_a_worker(async { panic!("the operator failed") }))
        }))
        .expect_err("the panic reaches the caller");
        assert_eq!(caught.downcast_ref::<&str>(), Some(&"the operator failed"));
    }

    #[test]
    fn a_missing_zendesk_account_names_both_flags_and_their_environment_variables() {
        let cli = crate::cli::Cli::try_parse_from([
            "zis-operator",
            "run",
            "--credentials-secret",
            "ns/creds",
        ])
        .expect("parses");
        let crate::cli::Command::Run(args) = cli.command else {
            panic!("not run")
        };
        let template = ClientConfig::for_url("https://zendesk.invalid", false);
        let message = match simple_mode_client(&args, &template) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("accepted no Zendesk account"),
        };
        for needle in [
            "--subdomain",
            "ZIS_SUBDOMAIN",
            "--zendesk-url",
            "ZIS_ZENDESK_URL",
        ] {
            assert!(message.contains(needle), "{needle} missing from: {message}");
        }
    }

    #[test]
    fn an_account_without_a_credentials_secret_is_refused_and_neither_means_no_simple_mode() {
        let parse = |extra: &[&str]| {
            let mut all = vec!["zis-operator", "run"];
            all.extend_from_slice(extra);
            let cli = crate::cli::Cli::try_parse_from(all).expect("parses");
            let crate::cli::Command::Run(args) = cli.command else {
                panic!("not run")
            };
            args
        };
        let template = ClientConfig::for_url("https://zendesk.invalid", false);
        let message = match simple_mode_client(&parse(&["--subdomain", "acme"]), &template) {
            Err(error) => error.to_string(),
            Ok(_) => panic!("accepted an account without credentials"),
        };
        assert!(message.contains("--credentials-secret"), "{message}");
        assert!(matches!(
            simple_mode_client(&parse(&[]), &template),
            Ok(None)
        ));
    }

    #[test]
    fn the_api_server_url_is_shown_without_user_information() {
        assert_eq!(
            display_url(&"https://10.0.0.1:6443/"),
            "https://10.0.0.1:6443"
        );
        assert_eq!(
            display_url(&"https://admin:s3cret@k8s.example.com/prefix"),
            "https://k8s.example.com/prefix"
        );
    }

    #[test]
    fn an_error_is_shown_with_its_causes() {
        #[derive(Debug, thiserror::Error)]
        #[error("client error (Connect)")]
        struct Outer(#[source] std::io::Error);
        let error = Outer(std::io::Error::new(
            std::io::ErrorKind::ConnectionRefused,
            "tcp connect error: Connection refused (os error 111)",
        ));
        assert_eq!(
            error_chain(&error),
            "client error (Connect): tcp connect error: Connection refused (os error 111)"
        );
    }

    #[test]
    fn the_operator_is_ready_only_after_every_watch_listed_once() {
        let metrics = Arc::new(Metrics::new());
        let readiness = Readiness::new(2, metrics.clone());
        let mut objects = readiness.watch::<Secret>();
        let mut secrets = readiness.watch::<Secret>();
        let init: Event = Ok(watcher::Event::Init);
        let done: Event = Ok(watcher::Event::InitDone);
        objects(&init);
        objects(&done);
        // A relist of the same watch does not count twice.
        objects(&done);
        assert!(!metrics.is_ready());
        secrets(&init);
        assert!(!metrics.is_ready());
        secrets(&done);
        assert!(metrics.is_ready());
    }
}
