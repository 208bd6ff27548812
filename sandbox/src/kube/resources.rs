//! The resource types the server knows: the built-in kinds it serves and the kinds that
//! CustomResourceDefinitions add. Discovery, OpenAPI, routing and storage all read this.

use serde_json::Value;

/// One served resource in one group/version.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    pub group: String,
    pub version: String,
    /// Plural resource name (`configmaps`).
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    /// Whether `/status` is a subresource (then main-resource writes leave status alone).
    pub status_subresource: bool,
    /// Served from a CustomResourceDefinition (CR semantics: schema, no strategic merge, ...).
    pub custom: bool,
    /// Whether `metadata.generation` is maintained.
    pub has_generation: bool,
    /// Whether a PUT of a missing object creates it (as the real server's strategies allow).
    pub create_on_update: bool,
    /// The CRD version's `openAPIV3Schema`.
    pub schema: Option<Value>,
    /// The CRD version's `additionalPrinterColumns`.
    pub printer_columns: Option<Value>,
    /// A create-only review (SelfSubjectAccessReview, ...): answered, never stored.
    pub review: bool,
}

impl ResourceType {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Storage is shared by all versions of a resource: (group, plural). events.k8s.io Events
    /// live with core/v1 Events, as on a real server.
    pub fn storage_key(&self) -> (String, String) {
        if self.group == "events.k8s.io" && self.plural == "events" {
            return (String::new(), "events".into());
        }
        (self.group.clone(), self.plural.clone())
    }

    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }

    /// The `/apis/...` or `/api/v1` prefix of this resource's group version.
    pub fn prefix(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    singular: &'static str,
    kind: &'static str,
    namespaced: bool,
    short_names: &'static [&'static str],
    categories: &'static [&'static str],
    status: bool,
    generation: bool,
    create_on_update: bool,
}

const BUILTINS: &[Builtin] = &[
    Builtin {
        group: "",
        version: "v1",
        plural: "namespaces",
        singular: "namespace",
        kind: "Namespace",
        namespaced: false,
        short_names: &["ns"],
        categories: &[],
        status: true,
        generation: false,
        create_on_update: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "configmaps",
        singular: "configmap",
        kind: "ConfigMap",
        namespaced: true,
        short_names: &["cm"],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "secrets",
        singular: "secret",
        kind: "Secret",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: false,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "serviceaccounts",
        singular: "serviceaccount",
        kind: "ServiceAccount",
        namespaced: true,
        short_names: &["sa"],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    // Stored generically (no cluster IPs, no endpoints) so that manifests with a Service apply
    // and `kubectl cluster-info`, which lists Services, works.
    Builtin {
        group: "",
        version: "v1",
        plural: "services",
        singular: "service",
        kind: "Service",
        namespaced: true,
        short_names: &["svc"],
        categories: &["all"],
        status: true,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "events.k8s.io",
        version: "v1",
        plural: "events",
        singular: "event",
        kind: "Event",
        namespaced: true,
        short_names: &["ev"],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "coordination.k8s.io",
        version: "v1",
        plural: "leases",
        singular: "lease",
        kind: "Lease",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "apiextensions.k8s.io",
        version: "v1",
        plural: "customresourcedefinitions",
        singular: "customresourcedefinition",
        kind: "CustomResourceDefinition",
        namespaced: false,
        short_names: &["crd", "crds"],
        categories: &["api-extensions"],
        status: true,
        generation: true,
        create_on_update: false,
    },
    // Stored generically so that deployment manifests apply; no controller acts on them.
    Builtin {
        group: "apps",
        version: "v1",
        plural: "deployments",
        singular: "deployment",
        kind: "Deployment",
        namespaced: true,
        short_names: &["deploy"],
        categories: &["all"],
        status: true,
        generation: true,
        create_on_update: false,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "roles",
        singular: "role",
        kind: "Role",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "rolebindings",
        singular: "rolebinding",
        kind: "RoleBinding",
        namespaced: true,
        short_names: &[],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterroles",
        singular: "clusterrole",
        kind: "ClusterRole",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
    Builtin {
        group: "rbac.authorization.k8s.io",
        version: "v1",
        plural: "clusterrolebindings",
        singular: "clusterrolebinding",
        kind: "ClusterRoleBinding",
        namespaced: false,
        short_names: &[],
        categories: &[],
        status: false,
        generation: false,
        create_on_update: true,
    },
];

/// Whether the sandbox serves `kind` as a built-in kind of `group`/`version`.
pub fn is_builtin_kind(group: &str, version: &str, kind: &str) -> bool {
    BUILTINS
        .iter()
        .any(|b| b.group == group && b.version == version && b.kind == kind)
}

/// The built-in resource types, in discovery order.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| ResourceType {
            group: b.group.to_string(),
            version: b.version.to_string(),
            plural: b.plural.to_string(),
            singular: b.singular.to_string(),
            kind: b.kind.to_string(),
            namespaced: b.namespaced,
            short_names: b.short_names.iter().map(|s| s.to_string()).collect(),
            categories: b.categories.iter().map(|s| s.to_string()).collect(),
            status_subresource: b.status,
            custom: false,
            has_generation: b.generation,
            create_on_update: b.create_on_update,
            schema: None,
            printer_columns: None,
            review: false,
        })
        .chain(reviews())
        .collect()
}

/// The create-only reviews kubectl's `auth` commands send: `auth can-i` (SelfSubjectAccessReview),
/// `auth can-i --list` (SelfSubjectRulesReview) and `auth whoami` (SelfSubjectReview). The sandbox
/// authorizes everything, so they answer without being stored.
fn reviews() -> Vec<ResourceType> {
    [
        (
            "authorization.k8s.io",
            "selfsubjectaccessreviews",
            "selfsubjectaccessreview",
            "SelfSubjectAccessReview",
        ),
        (
            "authorization.k8s.io",
            "selfsubjectrulesreviews",
            "selfsubjectrulesreview",
            "SelfSubjectRulesReview",
        ),
        (
            "authentication.k8s.io",
            "selfsubjectreviews",
            "selfsubjectreview",
            "SelfSubjectReview",
        ),
    ]
    .into_iter()
    .map(|(group, plural, singular, kind)| ResourceType {
        group: group.into(),
        version: "v1".into(),
        plural: plural.into(),
        singular: singular.into(),
        kind: kind.into(),
        namespaced: false,
        short_names: Vec::new(),
        categories: Vec::new(),
        status_subresource: false,
        custom: false,
        has_generation: false,
        create_on_update: false,
        schema: None,
        printer_columns: None,
        review: true,
    })
    .collect()
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// The resource types a (valid) CRD serves: one per served version.
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let group = spec["group"].as_str().unwrap_or_default();
    let plural = names["plural"].as_str().unwrap_or_default();
    let kind = names["kind"].as_str().unwrap_or_default();
    if group.is_empty() || plural.is_empty() || kind.is_empty() {
        return Vec::new();
    }
    let singular = names["singular"]
        .as_str()
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let namespaced = spec["scope"].as_str() != Some("Cluster");
    let mut types = Vec::new();
    for version in spec["versions"].as_array().into_iter().flatten() {
        if version["served"].as_bool() != Some(true) {
            continue;
        }
        let Some(name) = version["name"].as_str() else {
            continue;
        };
        types.push(ResourceType {
            group: group.to_string(),
            version: name.to_string(),
            plural: plural.to_string(),
            singular: singular.clone(),
            kind: kind.to_string(),
            namespaced,
            short_names: strings(&names["shortNames"]),
            categories: strings(&names["categories"]),
            status_subresource: version["subresources"]["status"].is_object(),
            custom: true,
            has_generation: true,
            create_on_update: false,
            schema: version["schema"]
                .get("openAPIV3Schema")
                .cloned()
                .filter(|s| !s.is_null()),
            printer_columns: version
                .get("additionalPrinterColumns")
                .cloned()
                .filter(|c| c.as_array().is_some_and(|a| !a.is_empty())),
            review: false,
        });
    }
    types
}

/// Orders versions as Kubernetes does (v2 > v1 > v1beta2 > v1beta1 > v1alpha1 > others).
pub fn sort_versions(versions: &mut [String]) {
    versions.sort_by_key(|v| std::cmp::Reverse(kube::core::Version::parse(v).priority()));
}
