//! One test's world: a Kubernetes sandbox with the CRD, a fake ZIS, a namespace, and a
//! [`Context`] built as `zis-operator run` builds it, whose caches the test fills by hand.

use std::sync::Arc;
use std::time::Duration;

use futures::channel::mpsc::UnboundedReceiver;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams, PartialObjectMeta, PostParams};
use kube::core::PartialObjectMetaExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, ObjectRef, store::Writer};
use kube::runtime::watcher;
use serde_json::{Value, json};
use zis_operator::controller::access::Access;
use zis_operator::controller::cache::CachedConnection;
use zis_operator::controller::credentials::Credentials;
use zis_operator::controller::index::ObjectIndex;
use zis_operator::controller::own_writes::OwnWrites;
use zis_operator::controller::secret_versions::SecretVersions;
use zis_operator::controller::{self, Context, Settings, Watched};
use zis_operator::events::{Recorder, Reporter};
use zis_operator::metrics::Metrics;
use zis_operator::resource::ZisBearerConnection;
use zis_operator::zis::{ClientConfig, ZisClient};
use zis_sandbox::kube::KubeSandbox;
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

pub const NS: &str = "shop";
pub const INTEGRATION: &str = "int";
pub const ACCESS_TOKEN: &str = "access-token-of-the-test";
pub const DOMAIN: &str = "api.example.com";

pub struct World {
    pub client: kube::Client,
    pub objects: Api<ZisBearerConnection>,
    pub secrets: Api<Secret>,
    pub ctx: Arc<Context>,
    pub fake_url: String,
    http: reqwest::Client,
    object_cache: Writer<CachedConnection>,
    _peers: UnboundedReceiver<ObjectRef<ZisBearerConnection>>,
    _servers: (KubeSandbox, FakeZis),
}

impl World {
    /// A new process: the same caches, nothing remembered, and credentials not read yet.
    pub fn restart_before_credentials_are_read(&mut self) {
        let watched = Watched {
            objects: self.ctx.store.clone(),
            index: self.ctx.index.clone(),
            secrets: self.ctx.secrets.clone(),
            namespaces: self.ctx.namespaces.clone(),
            peers: self.ctx.peers.clone(),
            own_writes: Arc::new(OwnWrites::new()),
        };
        self.ctx = context(&self.client, &self.fake_url, false, watched);
    }

    /// Starts everything; the credentials are loaded unless `credentials_read` is false (the
    /// state right after a start, before the credentials Secret has been read).
    pub async fn start(credentials_read: bool) -> World {
        let any = "127.0.0.1:0".parse().expect("address");
        let sandbox = KubeSandbox::start(any).await.expect("kube sandbox");
        let fake = FakeZis::start(FakeZisConfig::new(INTEGRATION, ACCESS_TOKEN), any)
            .await
            .expect("fake zis");
        let client = sandbox.client().await;
        install_crd(&client).await;
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": NS}})).expect("namespace");
        namespaces
            .create(&PostParams::default(), &namespace)
            .await
            .expect("namespace created");

        let (store, object_cache) = reflector::store();
        let (peers, peers_rx) = futures::channel::mpsc::unbounded();
        let watched = Watched {
            objects: store,
            index: Arc::new(ObjectIndex::new()),
            secrets: Arc::new(SecretVersions::new()),
            namespaces: reflector::store().0,
            peers,
            own_writes: Arc::new(OwnWrites::new()),
        };
        let ctx = context(&client, &fake.url(), credentials_read, watched);
        World {
            objects: Api::namespaced(client.clone(), NS),
            secrets: Api::namespaced(client.clone(), NS),
            client,
            ctx,
            fake_url: fake.url(),
            http: reqwest::Client::new(),
            object_cache,
            _peers: peers_rx,
            _servers: (sandbox, fake),
        }
    }

    pub async fn put_token(&mut self, name: &str, token: &str) {
        let secret: Secret = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": NS},
            "stringData": {"token": token},
        }))
        .expect("secret");
        let created = self
            .secrets
            .create(&PostParams::default(), &secret)
            .await
            .expect("secret created");
        let meta: PartialObjectMeta<Secret> = created.metadata.into_response_partial();
        self.ctx.secrets.apply_event(&watcher::Event::Apply(meta));
    }

    pub async fn create(&mut self, name: &str, spec: Value) -> ZisBearerConnection {
        let object: ZisBearerConnection = serde_json::from_value(json!({
            "apiVersion": "zis-operator.dev/v1alpha1",
            "kind": "ZisBearerConnection",
            "metadata": {"name": name, "namespace": NS},
            "spec": spec,
        }))
        .expect("object");
        self.objects
            .create(&PostParams::default(), &object)
            .await
            .expect("object created")
    }

    /// Object `name` using a new token Secret `secret`, reconciled until synced (the finalizer,
    /// then the create): the copy from before the create (finalizer, no status yet).
    pub async fn synced(&mut self, name: &str, secret: &str) -> ZisBearerConnection {
        self.put_token(secret, "the-connection-token").await;
        self.create(name, spec(secret)).await;
        let object = self.fresh(name).await;
        self.reconcile(&object).await.expect("finalizer added");
        let before_create = self.fresh(name).await;
        self.reconcile(&before_create).await.expect("synced");
        before_create
    }

    /// The stored object, also put in the controller's cache (a watch that kept up).
    pub async fn fresh(&mut self, name: &str) -> ZisBearerConnection {
        let object = self.objects.get(name).await.expect("object read");
        self.cache(&object);
        object
    }

    /// Puts `object` in the controller's cache as the watch would.
    pub fn cache(&mut self, object: &ZisBearerConnection) {
        let event = watcher::Event::Apply(object.clone());
        self.object_cache
            .apply_watcher_event(&controller::cache::cached(&event));
        self.ctx.index.apply_event(&event);
    }

    /// One reconcile of `object` as the controller would hand it over.
    pub async fn reconcile(&self, object: &ZisBearerConnection) -> Result<Action, String> {
        controller::reconcile(Arc::new(CachedConnection::new(object)), self.ctx.clone())
            .await
            .map_err(|e| e.to_string())
    }

    /// Every bearer-token connection the fake holds, with its true token.
    pub async fn remote_connections(&self) -> Vec<Value> {
        let url = format!("{}/_fake/connections?type=bearer_token", self.fake_url);
        let body: Value = self
            .http
            .get(&url)
            .send()
            .await
            .expect("admin api")
            .json()
            .await
            .expect("admin json");
        body["connections"].as_array().cloned().unwrap_or_default()
    }

    /// `POST /_fake/{path}` on the fake's admin API.
    pub async fn admin_post(&self, path: &str, body: Value) {
        let url = format!("{}/_fake/{path}", self.fake_url);
        let answer = self
            .http
            .post(&url)
            .json(&body)
            .send()
            .await
            .expect("admin api");
        assert!(answer.status().is_success(), "POST {url}: {answer:?}");
    }

    /// `PUT /_fake/{path}` on the fake's admin API.
    pub async fn admin_put(&self, path: &str, body: Value) {
        let url = format!("{}/_fake/{path}", self.fake_url);
        let answer = self
            .http
            .put(&url)
            .json(&body)
            .send()
            .await
            .expect("admin api");
        assert!(answer.status().is_success(), "PUT {url}: {answer:?}");
    }

    /// `GET /_fake/{path}` on the fake's admin API.
    pub async fn admin_get(&self, path: &str) -> Value {
        let url = format!("{}/_fake/{path}", self.fake_url);
        self.http
            .get(&url)
            .send()
            .await
            .expect("admin api")
            .json()
            .await
            .expect("admin json")
    }

    /// How many requests the fake answered, in all.
    pub async fn remote_requests(&self) -> u64 {
        let url = format!("{}/_fake/requests", self.fake_url);
        let body: Value = self
            .http
            .get(&url)
            .send()
            .await
            .expect("admin api")
            .json()
            .await
            .expect("admin json");
        body["total"].as_u64().unwrap_or_default()
    }

    /// How many requests with `method` the fake answered.
    pub async fn remote_requests_with(&self, method: &str) -> u64 {
        let url = format!("{}/_fake/requests", self.fake_url);
        let body: Value = self
            .http
            .get(&url)
            .send()
            .await
            .expect("admin api")
            .json()
            .await
            .expect("admin json");
        body["requests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|row| row["method"] == method)
            .map(|row| row["count"].as_u64().unwrap_or_default())
            .sum()
    }

    /// Every event in the namespace (both APIs share one store in the sandbox).
    pub async fn events(&self) -> Vec<k8s_openapi::api::events::v1::Event> {
        let api: Api<k8s_openapi::api::events::v1::Event> =
            Api::namespaced(self.client.clone(), NS);
        api.list(&ListParams::default())
            .await
            .expect("events listed")
            .items
    }
}

/// A [`Context`] as `zis-operator run` builds it.
fn context(
    client: &kube::Client,
    zis_url: &str,
    credentials_read: bool,
    watched: Watched,
) -> Arc<Context> {
    let credentials = Arc::new(Credentials::new(format!("{NS}/zis-credentials")));
    if credentials_read {
        credentials.replace(Some(
            [("access-token".to_owned(), ACCESS_TOKEN.as_bytes().to_vec())].into(),
        ));
    }
    let zis = ZisClient::new(ClientConfig::for_url(zis_url, true)).expect("zis client");
    let reporter = Reporter {
        controller: "zis-operator".into(),
        instance: None,
    };
    Arc::new(Context::new(
        client.clone(),
        Arc::new(Access::simple(zis, credentials)),
        Recorder::new(client.clone(), reporter),
        Settings {
            resync: Duration::from_secs(600),
        },
        watched,
        Arc::new(Metrics::new()),
    ))
}

pub fn spec(secret: &str) -> Value {
    json!({
        "integration": INTEGRATION,
        "allowedDomain": DOMAIN,
        "tokenSecretRef": {"name": secret},
    })
}

async fn install_crd(client: &kube::Client) {
    let text = include_str!("../../crds/zisbearerconnections.yaml");
    let crd: CustomResourceDefinition = serde_yaml::from_str(text).expect("crd yaml");
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    api.create(&PostParams::default(), &crd)
        .await
        .expect("crd created");
    // The sandbox serves a CRD's kind as soon as it is created.
}
