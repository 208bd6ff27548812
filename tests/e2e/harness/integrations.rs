//! `ZisIntegration`s of one test: cluster-scoped, so each is named after the test's namespace and
//! labelled with it (its operator serves only those: `--integration-selector`), and deleted with
//! the test's world. Their credentials Secrets live in the test's namespace.

use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams,
};
use serde_json::{Value, json};

use super::env::{CONVERGE, EventInfo, GROUP, TestEnv, VERSION, to_value};
use super::operator::INTEGRATION_LABEL;
use super::status::check_condition;

pub const INTEGRATION_KIND: &str = "ZisIntegration";

pub fn integration_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, VERSION, INTEGRATION_KIND),
        "zisintegrations",
    )
}

/// Every `ZisIntegration`, cluster-wide.
pub fn integrations_api(client: kube::Client) -> Api<DynamicObject> {
    Api::all_with(client, &integration_resource())
}

/// Deletes the `ZisIntegration`s of the test whose namespace is `ns`.
pub async fn delete_integrations_of(client: kube::Client, ns: &str) {
    let api = integrations_api(client);
    let selector = format!("{INTEGRATION_LABEL}={ns}");
    let _ = api
        .delete_collection(
            &DeleteParams::default(),
            &ListParams::default().labels(&selector),
        )
        .await;
}

impl TestEnv {
    /// The cluster-wide name of this test's integration `suffix`.
    pub fn integration_name(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.ns)
    }

    /// Creates `ZisIntegration` `<ns>-<suffix>` with `spec`; returns its name.
    pub async fn create_integration(&self, suffix: &str, spec: Value) -> String {
        let name = self.integration_name(suffix);
        let object: DynamicObject = serde_json::from_value(json!({
            "apiVersion": format!("{GROUP}/{VERSION}"),
            "kind": INTEGRATION_KIND,
            "metadata": {"name": name, "labels": {INTEGRATION_LABEL: self.ns}},
            "spec": spec,
        }))
        .unwrap_or_else(|e| panic!("integration {name}: {e}"));
        integrations_api(self.client.clone())
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|e| panic!("creating ZisIntegration {name} with {spec} failed: {e}"));
        name
    }

    pub async fn get_integration(&self, name: &str) -> Option<Value> {
        integrations_api(self.client.clone())
            .get_opt(name)
            .await
            .unwrap_or_else(|e| panic!("reading ZisIntegration {name}: {e}"))
            .map(|object| to_value(&object))
    }

    pub async fn patch_integration_spec(&self, name: &str, spec: Value) {
        integrations_api(self.client.clone())
            .patch(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": spec})),
            )
            .await
            .unwrap_or_else(|e| panic!("patching ZisIntegration {name} with {spec}: {e}"));
    }

    /// Events about `ZisIntegration` `name` (cluster-scoped: they live in `default`).
    pub async fn integration_events(&self, name: &str) -> Vec<EventInfo> {
        let events: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(self.client.clone(), "default");
        let list = events
            .list(&ListParams::default())
            .await
            .unwrap_or_else(|e| panic!("listing events in default: {e}"));
        list.items
            .into_iter()
            .filter(|event| {
                event.involved_object.name.as_deref() == Some(name)
                    && event.involved_object.kind.as_deref() == Some(INTEGRATION_KIND)
            })
            .map(|event| EventInfo {
                reason: event.reason.unwrap_or_default(),
                type_: event.type_.unwrap_or_default(),
                message: event.message.unwrap_or_default(),
            })
            .collect()
    }

    /// Sets label `key`=`value` on the test's namespace.
    pub async fn label_namespace(&self, key: &str, value: &str) {
        let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(self.client.clone());
        namespaces
            .patch(
                &self.ns,
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {key: value}}})),
            )
            .await
            .unwrap_or_else(|e| panic!("labelling namespace {}: {e}", self.ns));
    }

    pub async fn delete_integration(&self, name: &str) {
        integrations_api(self.client.clone())
            .delete(name, &DeleteParams::default())
            .await
            .unwrap_or_else(|e| panic!("deleting ZisIntegration {name}: {e}"));
    }

    /// Waits until `ZisIntegration` `name` has `Ready` = `status` with `reason`; returns it.
    pub async fn wait_integration(&mut self, name: &str, status: &str, reason: &str) -> Value {
        let what = format!("ZisIntegration {name} Ready={status} ({reason})");
        self.eventually(&what, CONVERGE, async |env| {
            let object = env
                .get_integration(name)
                .await
                .ok_or_else(|| "it does not exist".to_string())?;
            check_condition(&object, "Ready", status, reason).map(|()| object)
        })
        .await
    }

    /// The spec of an integration the test's fake serves, with credentials from Secret `secret`
    /// (in the test's namespace) used as `grant`.
    pub fn integration_spec(&self, integration: &str, secret: &str, grant: &str) -> Value {
        json!({
            "integration": integration,
            "url": self.fake_url(),
            "credentials": {
                "secretRef": {"namespace": self.ns, "name": secret},
                "grant": grant,
            },
            "namespaceSelector": {},
            "adoption": "Allowed",
        })
    }
}

impl TestEnv {
    /// Lets the operator write Secret `secret` of the test's namespace back (a rotated refresh
    /// token), as the chart does for each Secret of `integrationCredentials`: a Role with
    /// `update` on that name only, bound to the operator's ServiceAccount.
    pub async fn allow_write_back(&self, secret: &str) {
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
        let name = format!("zis-operator-write-back-{secret}");
        let role: Role = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": self.ns},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [secret], "verbs": ["update"]}],
        }))
        .unwrap_or_else(|e| panic!("role: {e}"));
        let binding: RoleBinding = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": self.ns},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "zis-operator", "namespace": "zis-system"}],
        }))
        .unwrap_or_else(|e| panic!("role binding: {e}"));
        Api::<Role>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &role)
            .await
            .unwrap_or_else(|e| panic!("creating Role {name}: {e}"));
        Api::<RoleBinding>::namespaced(self.client.clone(), &self.ns)
            .create(&PostParams::default(), &binding)
            .await
            .unwrap_or_else(|e| panic!("creating RoleBinding {name}: {e}"));
    }
}
