//! One test's world: a fresh namespace on the shared cluster, the operator's credentials Secret,
//! a fake ZIS server of its own, and an operator process watching only that namespace; plus the
//! helpers the scenarios use to act on it (the waits are in `wait`). Dropping it kills the
//! operator and deletes the namespace.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use rand::Rng;
use serde_json::{Value, json};
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

use super::cluster;
use super::fake::FakeAdmin;
use super::operator::{self, OperatorCommand, OperatorProcess};

pub const GROUP: &str = "zis-operator.dev";
pub const VERSION: &str = "v1alpha1";
pub const KIND: &str = "ZisBearerConnection";
pub const PLURAL: &str = "zisbearerconnections";
pub const FINALIZER: &str = "zis-operator.dev/cleanup";
pub const CREDENTIALS_SECRET: &str = "zis-credentials";
/// The allowed domain most scenarios use.
pub const DOMAIN: &str = "api.example.com";
/// The integration key every test's fake serves.
pub const INTEGRATION: &str = "e2e-app";

/// How long a scenario waits for the operator to converge when nothing slows it down on purpose.
pub const CONVERGE: Duration = Duration::from_secs(20);

pub fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(GROUP, VERSION, KIND), PLURAL)
}

/// A token nobody else uses, long enough for any length check, easy to spot in a log.
pub fn random_token(prefix: &str) -> String {
    let mut rng = rand::rng();
    format!(
        "{prefix}-{:016x}{:016x}",
        rng.random::<u64>(),
        rng.random::<u64>()
    )
}

/// What the operator's credentials Secret holds at start.
pub enum Credentials {
    /// `access-token` = the token the fake issued for the integration.
    Valid,
    /// `access-token` = this token (the fake may or may not know it).
    Token(String),
}

/// How to set a test's world up.
pub struct Setup {
    hint: String,
    resync: String,
    rust_log: String,
    patch_allowed_domain: bool,
    rate_limit_per_minute: Option<u32>,
    credentials: Credentials,
    start_operator: bool,
    via_env: bool,
    operator_kubeconfig: Option<PathBuf>,
}

impl Setup {
    /// `hint` names the namespace (`e2e-<hint>-<random>`).
    pub fn new(hint: &str) -> Setup {
        Setup {
            hint: hint.to_string(),
            resync: "2s".to_string(),
            rust_log: "zis_operator=debug".to_string(),
            patch_allowed_domain: true,
            rate_limit_per_minute: None,
            credentials: Credentials::Valid,
            start_operator: true,
            via_env: false,
            operator_kubeconfig: None,
        }
    }

    /// The operator's `--resync-interval` (default `2s`). Scenarios that must prove a change is
    /// acted on at once (not at the next resync) use a long one.
    pub fn resync(mut self, interval: &str) -> Setup {
        self.resync = interval.to_string();
        self
    }

    pub fn rust_log(mut self, filter: &str) -> Setup {
        self.rust_log = filter.to_string();
        self
    }

    pub fn credentials(mut self, credentials: Credentials) -> Setup {
        self.credentials = credentials;
        self
    }

    pub fn rate_limit_per_minute(mut self, limit: u32) -> Setup {
        self.rate_limit_per_minute = Some(limit);
        self
    }

    /// Configures the operator through its `ZIS_*` environment variables, with no flags.
    pub fn configured_by_env(mut self) -> Setup {
        self.via_env = true;
        self
    }

    /// Runs the operator with this kubeconfig instead of the cluster's operator identity.
    pub fn operator_kubeconfig(mut self, path: PathBuf) -> Setup {
        self.operator_kubeconfig = Some(path);
        self
    }

    /// Leaves the operator stopped (start it with [`TestEnv::start_operator`]).
    pub fn without_operator(mut self) -> Setup {
        self.start_operator = false;
        self
    }

    /// Sets the world up; `None` when this binary's API server cannot run on this machine (then
    /// the scenario returns at once: see [`cluster::available`]).
    pub async fn start(self) -> Option<TestEnv> {
        let cluster = cluster::available()?;
        let kubeconfig = cluster.kubeconfig.clone();
        let operator_kubeconfig = self
            .operator_kubeconfig
            .clone()
            .unwrap_or_else(|| cluster.operator_kubeconfig.clone());
        let client = cluster::client().await;
        let ns = namespace_name(&self.hint);
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace: Namespace = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": ns, "labels": {"app.kubernetes.io/part-of": "zis-operator-e2e"}},
        }))
        .unwrap_or_else(|e| panic!("namespace object: {e}"));
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .unwrap_or_else(|e| panic!("cannot create namespace {ns}: {e}"));

        let access_token = random_token("zis-access");
        let fake = FakeZis::start(
            FakeZisConfig {
                integrations: vec![(INTEGRATION.to_string(), access_token.clone())],
                patch_allowed_domain: self.patch_allowed_domain,
                rate_limit_per_minute: self.rate_limit_per_minute,
            },
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        )
        .await
        .unwrap_or_else(|e| panic!("cannot start the fake ZIS: {e}"));
        let admin = FakeAdmin::new(fake.url());

        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join("e2e-logs")
            .join(&ns);
        std::fs::create_dir_all(&log_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", log_dir.display()));

        let mut env = TestEnv {
            objects: Api::namespaced_with(client.clone(), &ns, &api_resource()),
            secrets: Api::namespaced(client.clone(), &ns),
            client,
            kubeconfig,
            operator_kubeconfig,
            ns,
            admin,
            fake: Some(fake),
            access_token,
            resync: self.resync,
            rust_log: self.rust_log,
            via_env: self.via_env,
            operator: None,
            runs: 0,
            replica_runs: 0,
            replica_logs: Vec::new(),
            log_dir,
        };
        let credentials = match self.credentials {
            Credentials::Valid => env.access_token.clone(),
            Credentials::Token(token) => token,
        };
        env.put_credentials(&credentials).await;
        if self.start_operator {
            env.start_operator();
        }
        Some(env)
    }
}

fn namespace_name(hint: &str) -> String {
    let clean: String = hint
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(40)
        .collect();
    let suffix: u32 = rand::rng().random_range(0..0x100_0000);
    format!("e2e-{}-{suffix:06x}", clean.trim_matches('-'))
}

/// An event about one object, from either events API.
#[derive(Debug, Clone)]
pub struct EventInfo {
    pub reason: String,
    pub type_: String,
    pub message: String,
}

pub struct TestEnv {
    pub ns: String,
    pub client: kube::Client,
    pub objects: Api<DynamicObject>,
    pub secrets: Api<Secret>,
    pub admin: FakeAdmin,
    /// The fake ZIS; dropped (stopped) with the environment.
    pub fake: Option<FakeZis>,
    /// The access token the fake issued for [`INTEGRATION`].
    pub access_token: String,
    /// Every right: for the test's own reads and writes.
    kubeconfig: PathBuf,
    /// What the operator runs as (its ServiceAccount on the real API server).
    operator_kubeconfig: PathBuf,
    resync: String,
    rust_log: String,
    via_env: bool,
    operator: Option<OperatorProcess>,
    runs: usize,
    replica_runs: usize,
    replica_logs: Vec<PathBuf>,
    log_dir: PathBuf,
}

impl TestEnv {
    // ----- the operator process -----

    /// Starts an operator process (a new log file per start).
    pub fn start_operator(&mut self) {
        assert!(self.operator.is_none(), "the operator is already running");
        self.runs += 1;
        let log_path = self.log_dir.join(format!("operator-{}.log", self.runs));
        let url = self.fake_url();
        self.operator = Some(OperatorProcess::spawn(OperatorCommand {
            kubeconfig: &self.operator_kubeconfig,
            namespace: &self.ns,
            zendesk_url: &url,
            resync_interval: &self.resync,
            rust_log: &self.rust_log,
            log_path,
            via_env: self.via_env,
            lease: &self.ns,
            identity: &format!("{}-operator", self.ns),
        }));
    }

    /// Starts one more replica of the operator with the same flags (the same Lease) and its own
    /// identity, apart from the one [`TestEnv::start_operator`] manages; the caller owns it
    /// (killed on drop). Its log is `replica-<identity>-<n>.log`, and also part of
    /// [`TestEnv::operator_output`].
    pub fn spawn_replica(&mut self, identity: &str) -> OperatorProcess {
        self.replica_runs += 1;
        let log_path = self
            .log_dir
            .join(format!("replica-{identity}-{}.log", self.replica_runs));
        self.replica_logs.push(log_path.clone());
        let url = self.fake_url();
        OperatorProcess::spawn(OperatorCommand {
            kubeconfig: &self.operator_kubeconfig,
            namespace: &self.ns,
            zendesk_url: &url,
            resync_interval: &self.resync,
            rust_log: &self.rust_log,
            log_path,
            via_env: self.via_env,
            lease: &self.ns,
            identity: &format!("{}-{identity}", self.ns),
        })
    }

    /// The running operator's `/metrics` text.
    pub async fn scrape_metrics(&self) -> String {
        let addr = self
            .operator
            .as_ref()
            .and_then(OperatorProcess::metrics_addr)
            .unwrap_or_else(|| panic!("no running operator with a metrics address"));
        let answer = reqwest::get(format!("http://{addr}/metrics"))
            .await
            .unwrap_or_else(|e| panic!("GET /metrics: {e}"));
        answer.text().await.unwrap_or_default()
    }

    /// Kills the operator with SIGKILL.
    pub fn kill_operator(&mut self) {
        if let Some(mut operator) = self.operator.take() {
            operator.kill();
        }
    }

    pub fn fake_url(&self) -> String {
        match &self.fake {
            Some(fake) => fake.url(),
            None => panic!("the fake ZIS is stopped"),
        }
    }

    /// Everything every operator process of this test wrote, in start order.
    pub fn operator_output(&self) -> String {
        (1..=self.runs)
            .map(|run| self.log_dir.join(format!("operator-{run}.log")))
            .chain(self.replica_logs.iter().cloned())
            .map(|path| operator::read_log(&path))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(super) fn log_tail(&mut self) -> String {
        let exited = self
            .operator
            .as_mut()
            .and_then(|operator| operator.exited())
            .map(|status| format!(" (the operator EXITED: {status})"))
            .unwrap_or_default();
        match &self.operator {
            Some(operator) => format!(
                "operator log tail{exited} ({}):\n{}",
                operator.log_path.display(),
                operator::tail(&operator.log(), 40)
            ),
            None => format!(
                "operator not running; last log tail:\n{}",
                operator::tail(&self.operator_output(), 40)
            ),
        }
    }

    // ----- Secrets -----

    /// Creates or replaces Secret `name` with exactly `data`.
    pub async fn put_secret(&self, name: &str, data: &[(&str, &[u8])]) {
        let data: BTreeMap<String, ByteString> = data
            .iter()
            .map(|(key, value)| (key.to_string(), ByteString(value.to_vec())))
            .collect();
        let mut secret: Secret = serde_json::from_value(json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": self.ns},
            "type": "Opaque",
        }))
        .unwrap_or_else(|e| panic!("secret object: {e}"));
        secret.data = Some(data);
        match self
            .secrets
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("reading Secret {name}: {e}"))
        {
            Some(existing) => {
                secret.metadata.resource_version = existing.metadata.resource_version;
                self.secrets
                    .replace(name, &PostParams::default(), &secret)
                    .await
                    .unwrap_or_else(|e| panic!("replacing Secret {name}: {e}"));
            }
            None => {
                self.secrets
                    .create(&PostParams::default(), &secret)
                    .await
                    .unwrap_or_else(|e| panic!("creating Secret {name}: {e}"));
            }
        }
    }

    pub async fn delete_secret(&self, name: &str) {
        self.secrets
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting Secret {name}: {e}"));
    }

    /// A token Secret with key `token`.
    pub async fn put_token(&self, name: &str, token: &str) {
        self.put_secret(name, &[("token", token.as_bytes())]).await;
    }

    /// The operator's credentials Secret with key `access-token`.
    pub async fn put_credentials(&self, access_token: &str) {
        self.put_secret(
            CREDENTIALS_SECRET,
            &[("access-token", access_token.as_bytes())],
        )
        .await;
    }

    // ----- ZisBearerConnection objects -----

    /// The usual spec: [`INTEGRATION`], [`DOMAIN`], the token in Secret `secret` key `token`.
    pub fn spec(&self, secret: &str) -> Value {
        json!({
            "integration": INTEGRATION,
            "allowedDomain": DOMAIN,
            "tokenSecretRef": {"name": secret},
        })
    }

    pub async fn create(&self, name: &str, spec: Value) -> Result<Value, kube::Error> {
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": KIND,
            "metadata": {"name": name, "namespace": self.ns},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("object {name}: {e}"));
        let created = self.objects.create(&PostParams::default(), &object).await?;
        Ok(to_value(&created))
    }

    pub async fn create_ok(&self, name: &str, spec: Value) -> Value {
        match self.create(name, spec.clone()).await {
            Ok(created) => created,
            Err(error) => panic!("creating {name} with spec {spec} failed: {error}"),
        }
    }

    pub async fn get(&self, name: &str) -> Option<Value> {
        self.objects
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("reading {name}: {e}"))
            .map(|object| to_value(&object))
    }

    pub async fn get_ok(&self, name: &str) -> Value {
        match self.get(name).await {
            Some(object) => object,
            None => panic!("{name} does not exist"),
        }
    }

    /// A JSON merge patch of the spec.
    pub async fn patch_spec(&self, name: &str, spec: Value) -> Result<Value, kube::Error> {
        let patched = self
            .objects
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await?;
        Ok(to_value(&patched))
    }

    pub async fn patch_spec_ok(&self, name: &str, spec: Value) -> Value {
        match self.patch_spec(name, spec.clone()).await {
            Ok(patched) => patched,
            Err(error) => panic!("patching {name} with spec {spec} failed: {error}"),
        }
    }

    pub async fn delete(&self, name: &str) {
        self.objects
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting {name}: {e}"));
    }

    /// The bearer-token connection `name` of [`INTEGRATION`] on the fake, with its true token.
    pub async fn remote(&self, name: &str) -> Option<Value> {
        self.admin.bearer(INTEGRATION, name).await
    }

    /// Events about object `name`, from `events.k8s.io/v1` and core `v1` (whichever the cluster
    /// serves and the operator writes).
    pub async fn events(&self, name: &str) -> Result<Vec<EventInfo>, String> {
        let mut found = Vec::new();
        let mut errors = Vec::new();
        let modern: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        match modern.list(&ListParams::default()).await {
            Ok(list) => found.extend(list.items.into_iter().filter_map(|event| {
                let regarding = event.regarding.as_ref()?;
                (regarding.name.as_deref() == Some(name) && regarding.kind.as_deref() == Some(KIND))
                    .then(|| EventInfo {
                        reason: event.reason.clone().unwrap_or_default(),
                        type_: event.type_.clone().unwrap_or_default(),
                        message: event.note.clone().unwrap_or_default(),
                    })
            })),
            Err(error) => errors.push(format!("events.k8s.io/v1: {error}")),
        }
        let core: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        match core.list(&ListParams::default()).await {
            Ok(list) => found.extend(list.items.into_iter().filter_map(|event| {
                (event.involved_object.name.as_deref() == Some(name)
                    && event.involved_object.kind.as_deref() == Some(KIND))
                .then(|| EventInfo {
                    reason: event.reason.clone().unwrap_or_default(),
                    type_: event.type_.clone().unwrap_or_default(),
                    message: event.message.clone().unwrap_or_default(),
                })
            })),
            Err(error) => errors.push(format!("v1: {error}")),
        }
        if errors.len() == 2 {
            return Err(errors.join("; "));
        }
        Ok(found)
    }

    /// Every event in the namespace, as JSON text (for secret-leak checks).
    pub async fn all_events_text(&self) -> String {
        let mut text = String::new();
        let modern: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        if let Ok(list) = modern.list(&ListParams::default()).await {
            text.push_str(&serde_json::to_string(&list.items).unwrap_or_default());
        }
        let core: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), &self.ns);
        if let Ok(list) = core.list(&ListParams::default()).await {
            text.push_str(&serde_json::to_string(&list.items).unwrap_or_default());
        }
        text
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.kill_operator();
        // Cleanup needs a runtime that is not the (possibly panicking) test's: a short-lived
        // thread of its own. Finalizers are stripped first since no operator will remove them.
        let ns = self.ns.clone();
        let kubeconfig = self.kubeconfig.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                let _ =
                    tokio::time::timeout(Duration::from_secs(10), cleanup(ns, kubeconfig)).await;
            });
        });
        let _ = cleanup.join();
    }
}

async fn cleanup(ns: String, kubeconfig: PathBuf) {
    let Ok(client) = cluster::client_from(&kubeconfig).await else {
        return;
    };
    let objects: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &api_resource());
    if let Ok(list) = objects.list(&ListParams::default()).await {
        for object in list.items {
            if let Some(name) = object.metadata.name.as_deref() {
                let _ = objects
                    .patch(
                        name,
                        &PatchParams::default(),
                        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
                    )
                    .await;
                let _ = objects.delete(name, &DeleteParams::default()).await;
            }
        }
    }
    super::integrations::delete_integrations_of(client.clone(), &ns).await;
    let namespaces: Api<Namespace> = Api::all(client);
    let _ = namespaces.delete(&ns, &DeleteParams::default()).await;
}

pub fn to_value(object: &DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or_else(|e| panic!("object to JSON: {e}"))
}
