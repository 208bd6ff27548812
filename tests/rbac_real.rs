//! The operator's RBAC (`deploy/rbac.yaml`) is exactly what it needs, proved on the real API
//! server of `tests/cluster`:
//!
//! - with every rule, a connection's whole life (create, a lease renewal period, two rotations,
//!   delete) and a connection served by a `ZisIntegration` (namespace labels) work and the audit log shows no request of the operator refused (it never asks for
//!   more);
//! - with any one verb of any one rule removed, the audit log shows the operator refused exactly
//!   there (no rule is unnecessary: the full variant would be refused without it), and that life
//!   breaks. One removal does not break this life: `list` or `watch` on namespaces, whose labels
//!   decide who may use the credentials (`--namespace-selector`) and integrations; these
//!   operators run without a selector, so the refused namespace watch changes nothing they do.
//!   The chart's Namespaced variants below run with a selector, and there its removal breaks the
//!   life.
//!
//! Each variant runs as a ServiceAccount of its own, bound to a ClusterRole of its own, in a
//! namespace of its own, all at once. Without Go (the API server cannot be built) the test
//! returns at once with a note.
//!
//! `deploy/rbac.yaml` is the Helm chart's cluster-wide RBAC, rendered (`deploy/render.sh`;
//! `tests/chart.rs` checks it is up to date). The chart's other scope, Roles in the one namespace
//! the operator is limited to (`rbac.scope: Namespaced`), is proved the same way by the second
//! test: each variant is the chart rendered for it (its namespace, its credentials Secret in the
//! release namespace, which a Role limited to that Secret's name lets it read) and run as the
//! chart runs it, with `credentials.namespaceSelector` naming the variant's namespace (which the
//! chart's ClusterRole lets it list and watch by name). With every rule the life works and nothing
//! is refused; with any one verb removed the operator is refused exactly that verb (it uses it;
//! removing it from the chart makes the full variant fail). Every removal but two also breaks the
//! life: without `watch` on the credentials Secret or on the namespace the operator re-lists it
//! after each refused watch, which a life that changes neither does not notice.

#[path = "e2e/harness/mod.rs"]
mod harness;
#[path = "shipping/mod.rs"]
mod shipping;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde::Deserialize;
use serde_json::{Value, json};

use harness::cluster::{self, Cluster};
use harness::env::TestEnv;
use harness::{Setup, random_token};

/// How long one step of the scenario may take before it counts as broken.
const STEP: Duration = Duration::from_secs(15);

/// A Role or ClusterRole `deploy/rbac.yaml` ships.
#[derive(Debug, Clone)]
struct Shipped {
    kind: String,
    namespace: Option<String>,
    name: String,
    rules: Vec<PolicyRule>,
}

/// Every Role and ClusterRole of `deploy/rbac.yaml`.
fn shipped_roles() -> Vec<Shipped> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/rbac.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|document| {
            let value = Value::deserialize(document).ok()?;
            let kind = value["kind"].as_str()?;
            if kind != "Role" && kind != "ClusterRole" {
                return None;
            }
            Some(Shipped {
                kind: kind.to_owned(),
                namespace: value["metadata"]["namespace"].as_str().map(str::to_owned),
                name: value["metadata"]["name"].as_str()?.to_owned(),
                rules: serde_json::from_value(value["rules"].clone()).ok()?,
            })
        })
        .collect()
}

/// One verb on one resource of one role, as the audit log names a request.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Grant {
    role: String,
    group: String,
    resource: String,
    subresource: Option<String>,
    verb: String,
}

impl Grant {
    /// Whether the audit log entry of a refused request is about this grant.
    fn refused_as(&self, refused: &Grant) -> bool {
        (&self.group, &self.resource, &self.subresource, &self.verb)
            == (
                &refused.group,
                &refused.resource,
                &refused.subresource,
                &refused.verb,
            )
    }
}

impl std::fmt::Display for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let sub = self
            .subresource
            .as_deref()
            .map(|s| format!("/{s}"))
            .unwrap_or_default();
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(
            f,
            "{} {}{} ({group}, {})",
            self.verb, self.resource, sub, self.role
        )
    }
}

/// Every (resource, verb) each rule of `role` grants, refusing wildcards.
fn grants(role: &Shipped) -> Vec<Grant> {
    let mut all = Vec::new();
    for rule in &role.rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                for verb in &rule.verbs {
                    assert!(
                        !group.contains('*') && !resource.contains('*') && !verb.contains('*'),
                        "deploy/rbac.yaml grants a wildcard: {group} {resource} {verb}"
                    );
                    all.push(grant_of(&role.name, group, resource, verb));
                }
            }
        }
    }
    all
}

fn grant_of(role: &str, group: &str, resource: &str, verb: &str) -> Grant {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r.to_owned(), Some(s.to_owned())),
        None => (resource.to_owned(), None),
    };
    Grant {
        role: role.to_owned(),
        group: group.to_owned(),
        resource,
        subresource,
        verb: verb.to_owned(),
    }
}

/// `role`'s rules without `removed` (one rule per group and resource, so that one verb can go
/// without touching the others).
fn rules_without(role: &Shipped, removed: Option<&Grant>) -> Vec<PolicyRule> {
    let mut split = Vec::new();
    for rule in &role.rules {
        for group in rule.api_groups.iter().flatten() {
            for resource in rule.resources.iter().flatten() {
                let verbs: Vec<String> = rule
                    .verbs
                    .iter()
                    .filter(|verb| Some(&grant_of(&role.name, group, resource, verb)) != removed)
                    .cloned()
                    .collect();
                if !verbs.is_empty() {
                    split.push(PolicyRule {
                        api_groups: Some(vec![group.clone()]),
                        resources: Some(vec![resource.clone()]),
                        verbs,
                        ..PolicyRule::default()
                    });
                }
            }
        }
    }
    split
}

fn kubectl(cluster: &Cluster, args: &[&str], input: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(&cluster.kubectl)
        .arg("--kubeconfig")
        .arg(&cluster.kubeconfig)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    if let (Some(text), Some(mut stdin)) = (input, child.stdin.take()) {
        stdin
            .write_all(text.as_bytes())
            .unwrap_or_else(|e| panic!("kubectl stdin: {e}"));
    }
    let out = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("kubectl: {e}"));
    assert!(
        out.status.success(),
        "kubectl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A ServiceAccount `account` in `zis-system` bound to copies of the shipped roles (without
/// `removed`), and a kubeconfig for it.
fn identity_with(cluster: &Cluster, account: &str, removed: Option<&Grant>) -> PathBuf {
    let mut items = vec![json!({
        "apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": account, "namespace": "zis-system"},
    })];
    for role in shipped_roles() {
        let name = format!("{}-{account}", role.name);
        let mut metadata = json!({"name": name});
        if let Some(namespace) = &role.namespace {
            metadata["namespace"] = json!(namespace);
        }
        items.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": role.kind,
            "metadata": metadata,
            "rules": rules_without(&role, removed),
        }));
        let binding_kind = format!("{}Binding", role.kind);
        items.push(json!({
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": binding_kind,
            "metadata": metadata,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.kind, "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": "zis-system"}],
        }));
    }
    let manifests = json!({"apiVersion": "v1", "kind": "List", "items": items});
    kubectl(cluster, &["apply", "-f", "-"], Some(&manifests.to_string()));
    let token = kubectl(
        cluster,
        &[
            "create",
            "token",
            account,
            "-n",
            "zis-system",
            "--duration",
            "2h",
        ],
        None,
    );
    // The cluster's operator kubeconfig, with this account's token instead.
    let template = std::fs::read_to_string(&cluster.operator_kubeconfig)
        .unwrap_or_else(|e| panic!("{}: {e}", cluster.operator_kubeconfig.display()));
    let kubeconfig: String = template
        .lines()
        .map(|line| match line.split_once("token: ") {
            Some((indent, _)) => format!("{indent}token: {}", token.trim()),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("rbac-{}-{account}.kubeconfig", std::process::id()));
    std::fs::write(&path, kubeconfig).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}

/// Polls `probe` until it answers `Ok`, or returns its last answer after [`STEP`].
async fn within(
    env: &TestEnv,
    what: &str,
    mut probe: impl AsyncFnMut(&TestEnv) -> Result<(), String>,
) -> Result<(), String> {
    let started = Instant::now();
    loop {
        match probe(env).await {
            Ok(()) => return Ok(()),
            Err(last) if started.elapsed() > STEP => return Err(format!("{what}: {last}")),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// A connection served by a `ZisIntegration` that allows the test's namespace by its labels:
/// the integration and the connection both Ready.
async fn served_by_integration(env: &TestEnv) -> Result<(), String> {
    let key = "rbac-app";
    let access_token = random_token("zis-access");
    env.admin
        .add_access_token(key, &access_token, &["read", "write"])
        .await;
    env.put_secret(
        "rbac-credentials",
        &[("access-token", access_token.as_bytes())],
    )
    .await;
    let mut spec = env.integration_spec(key, "rbac-credentials", "AccessToken");
    spec["namespaceSelector"] =
        json!({"matchLabels": {"app.kubernetes.io/part-of": "zis-operator-e2e"}});
    let integration = env.create_integration("rbac", spec).await;
    env.put_token("rbac-int-token", &random_token("conn-token"))
        .await;
    let mut connection = env.spec("rbac-int-token");
    connection["integration"] = json!(key);
    env.create("rbac-int-conn", connection)
        .await
        .map_err(|e| format!("creating the object: {e}"))?;
    within(
        env,
        "the integration and its connection Ready",
        async |env| {
            let ready = |object: &Value| {
                object["status"]["conditions"]
                    .as_array()
                    .is_some_and(|all| {
                        all.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            };
            let served = env.get_integration(&integration).await.unwrap_or_default();
            let object = env.get("rbac-int-conn").await.unwrap_or_default();
            match (ready(&served), ready(&object)) {
                (true, true) => Ok(()),
                (served, object) => Err(format!(
                    "integration ready {served}, connection ready {object}"
                )),
            }
        },
    )
    .await
}

/// A connection's whole life: created and Ready with its event, the token rotated twice (the
/// second rotation repeats the first one's event), deleted remotely through the finalizer; and
/// with `with_integration`, a connection of a `ZisIntegration` first.
async fn life(env: &TestEnv, with_integration: bool) -> Result<(), String> {
    if with_integration {
        served_by_integration(env).await?;
    }
    let name = "rbac-conn";
    env.put_token("rbac-token", &random_token("conn-token"))
        .await;
    env.create(name, env.spec("rbac-token"))
        .await
        .map_err(|e| format!("creating the object: {e}"))?;
    within(env, "Ready with a Created event", async |env| {
        let object = env.get(name).await.unwrap_or_default();
        let ready = object["status"]["conditions"]
            .as_array()
            .is_some_and(|all| {
                all.iter()
                    .any(|c| c["type"] == "Ready" && c["status"] == "True")
            });
        let events = env.events(name).await?;
        match (ready, events.iter().any(|e| e.reason == "Created")) {
            (true, true) => Ok(()),
            (ready, event) => Err(format!("ready {ready}, Created event {event}")),
        }
    })
    .await?;
    // Longer than the lease's renew deadline: a leader that cannot renew has stopped by now.
    tokio::time::sleep(Duration::from_secs(12)).await;
    for round in 1..=2 {
        let token = random_token("rotated");
        env.put_token("rbac-token", &token).await;
        within(
            env,
            &format!("rotation {round} at ZIS"),
            async |env| match env.remote(name).await {
                Some(remote) if remote["token"] == token.as_str() => Ok(()),
                _ => Err("the old token".to_owned()),
            },
        )
        .await?;
    }
    within(env, "the repeated Updated event counted", async |env| {
        let modern: kube::Api<k8s_openapi::api::events::v1::Event> =
            kube::Api::namespaced(env.client.clone(), &env.ns);
        let list = modern
            .list(&Default::default())
            .await
            .map_err(|e| e.to_string())?;
        let counted = list
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("Updated") && e.series.is_some());
        counted.then_some(()).ok_or_else(|| "no series".to_owned())
    })
    .await?;
    env.objects
        .delete(name, &Default::default())
        .await
        .map_err(|e| format!("deleting: {e}"))?;
    within(
        env,
        "the remote connection deleted and the object gone",
        async |env| match (env.remote(name).await, env.get(name).await) {
            (None, None) => Ok(()),
            (remote, object) => Err(format!(
                "remote {}, object {}",
                remote.is_some(),
                object.is_some()
            )),
        },
    )
    .await
}

/// The requests of `account` the API server refused (403), from the audit log.
fn refused(audit_log: &Path, account: &str) -> Vec<Grant> {
    let user = format!("system:serviceaccount:zis-system:{account}");
    let text = std::fs::read_to_string(audit_log).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|entry| {
            entry["user"]["username"] == user.as_str() && entry["responseStatus"]["code"] == 403
        })
        .map(|entry| Grant {
            role: String::new(),
            group: entry["objectRef"]["apiGroup"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            resource: entry["objectRef"]["resource"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            subresource: entry["objectRef"]["subresource"]
                .as_str()
                .map(str::to_owned),
            verb: entry["verb"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// Runs the life of a connection as a fresh account bound to the shipped roles without
/// `removed`.
async fn run_as(
    cluster: &'static Cluster,
    account: String,
    removed: Option<Grant>,
) -> Result<(), String> {
    let kubeconfig =
        tokio::task::spawn_blocking(move || identity_with(cluster, &account, removed.as_ref()))
            .await
            .map_err(|e| e.to_string())?;
    let Some(env) = Setup::new("rbac")
        .resync("10m")
        .operator_kubeconfig(kubeconfig)
        .start()
        .await
    else {
        return Ok(());
    };
    let outcome = life(&env, true).await;
    if outcome.is_err() {
        // For the report: what the operator said about it.
        let log = env.operator_output();
        let refused_lines: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("403") || l.contains("forbidden"))
            .take(3)
            .collect();
        return outcome.map_err(|e| format!("{e}; operator: {}", refused_lines.join(" | ")));
    }
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_rbac_is_sufficient_and_every_verb_of_it_is_needed() {
    let Some(cluster) = cluster::available() else {
        return;
    };
    let Some(audit_log) = cluster.audit_log.clone() else {
        eprintln!(
            "SKIPPED: needs the control plane of tests/cluster (its audit log), not ZIS_E2E_KUBECONFIG"
        );
        return;
    };
    let grants: Vec<Grant> = shipped_roles().iter().flat_map(grants).collect();
    assert!(!grants.is_empty(), "deploy/rbac.yaml grants nothing");

    let mut runs = vec![run_as(cluster, "rbac-test-full".into(), None)];
    for (i, grant) in grants.iter().enumerate() {
        runs.push(run_as(
            cluster,
            format!("rbac-test-minus-{i}"),
            Some(grant.clone()),
        ));
    }
    // All at once: each mostly waits on its operator.
    let outcomes = futures::future::join_all(runs).await;

    let mut problems = Vec::new();
    if let Err(error) = &outcomes[0] {
        problems.push(format!(
            "with every rule the life of a connection broke: {error}"
        ));
    }
    let over = refused(&audit_log, "rbac-test-full");
    if !over.is_empty() {
        problems.push(format!(
            "with every rule the operator was still refused: {}",
            over.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (i, grant) in grants.iter().enumerate() {
        let account = format!("rbac-test-minus-{i}");
        let refusals = refused(&audit_log, &account);
        let asked = refusals.iter().any(|r| grant.refused_as(r));
        match &outcomes[i + 1] {
            // The namespace watch: its labels decide nothing without a namespace selector.
            Ok(()) if asked && grant.resource == "namespaces" => eprintln!(
                "without {grant}: the operator was refused it, and a life without a namespace selector got through"
            ),
            // A refused watch of ZisIntegrations degrades to listing again and again (backoff).
            Ok(()) if asked && grant.resource == "zisintegrations" && grant.verb == "watch" => {
                eprintln!(
                    "without {grant}: the operator was refused it, and got through by listing again"
                )
            }
            Ok(()) => problems.push(format!(
                "without {grant} everything still worked: the rule is not needed"
            )),
            Err(error) if !asked => problems.push(format!(
                "without {grant} the life broke ({error}) but the operator was never refused {grant}; refused: {:?}",
                refusals.iter().map(ToString::to_string).collect::<Vec<_>>()
            )),
            Err(error) => eprintln!("without {grant}: broke as it must ({error})"),
        }
    }
    assert!(
        problems.is_empty(),
        "RBAC problems:\n{}",
        problems.join("\n")
    );
}

/// One verb of one rule of the chart's Namespaced rendering, its Role or ClusterRole named
/// without the variant's prefix (`""`, `-credentials`, `-leader-election`, `-namespace`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct ChartGrant {
    kind: String,
    role: String,
    group: String,
    resource: String,
    verb: String,
}

impl std::fmt::Display for ChartGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let group = if self.group.is_empty() {
            "core"
        } else {
            &self.group
        };
        write!(
            f,
            "{} {} ({group}, {}{})",
            self.verb, self.resource, self.kind, self.role
        )
    }
}

/// The chart rendered for one variant: release `account` in `zis-system`, limited to `namespace`,
/// whose connections alone may use the credentials (a namespace selector on its name label).
fn render_namespaced(helm: &Path, account: &str, namespace: &str, zendesk_url: &str) -> Vec<Value> {
    let sets = [
        format!("fullnameOverride={account}"),
        "rbac.scope=Namespaced".to_owned(),
        format!("rbac.namespaces={{{namespace}}}"),
        format!("credentials.secretName={account}-credentials"),
        format!("credentials.namespaceSelector=kubernetes.io/metadata.name={namespace}"),
        format!("zendesk.url={zendesk_url}"),
        "zendesk.allowHttp=true".to_owned(),
        "operator.logLevel=zis_operator=debug".to_owned(),
    ];
    let sets: Vec<&str> = sets.iter().map(String::as_str).collect();
    let text = shipping::template(helm, account, "zis-system", None, &sets, &[])
        .unwrap_or_else(|e| panic!("helm template: {e}"));
    shipping::documents(&text)
}

/// Whether a rendered document is a Role or a ClusterRole.
fn is_role(document: &Value) -> bool {
    document["kind"] == "Role" || document["kind"] == "ClusterRole"
}

fn chart_grants(documents: &[Value], account: &str) -> Vec<ChartGrant> {
    let mut all = Vec::new();
    for role in documents.iter().filter(|d| is_role(d)) {
        let name = role["metadata"]["name"].as_str().unwrap_or_default();
        let suffix = name.strip_prefix(account).unwrap_or(name).to_owned();
        for rule in role["rules"].as_array().into_iter().flatten() {
            for group in rule["apiGroups"].as_array().into_iter().flatten() {
                for resource in rule["resources"].as_array().into_iter().flatten() {
                    for verb in rule["verbs"].as_array().into_iter().flatten() {
                        all.push(ChartGrant {
                            kind: role["kind"].as_str().unwrap_or_default().to_owned(),
                            role: suffix.clone(),
                            group: group.as_str().unwrap_or_default().to_owned(),
                            resource: resource.as_str().unwrap_or_default().to_owned(),
                            verb: verb.as_str().unwrap_or_default().to_owned(),
                        });
                    }
                }
            }
        }
    }
    all
}

/// Removes `removed` from the rendered Roles and ClusterRoles (keeping each rule's
/// resourceNames).
fn without_chart_grant(documents: &mut [Value], account: &str, removed: &ChartGrant) {
    for role in documents.iter_mut().filter(|d| is_role(d)) {
        let name = role["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if role["kind"] != removed.kind.as_str()
            || name.strip_prefix(account) != Some(removed.role.as_str())
        {
            continue;
        }
        let rules = role["rules"].as_array().cloned().unwrap_or_default();
        let mut kept = Vec::new();
        for rule in rules {
            let matches = rule["apiGroups"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|g| g == removed.group.as_str())
                && rule["resources"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|r| r == removed.resource.as_str());
            let mut rule = rule;
            if matches {
                let verbs: Vec<Value> = rule["verbs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|v| *v != removed.verb.as_str())
                    .cloned()
                    .collect();
                if verbs.is_empty() {
                    continue;
                }
                rule["verbs"] = json!(verbs);
            }
            kept.push(rule);
        }
        role["rules"] = json!(kept);
    }
}

/// One variant: the chart's ServiceAccount, Roles and ClusterRole (without `removed`) and
/// bindings, its credentials Secret in the release namespace, and the operator run with the chart's arguments
/// as that ServiceAccount through a connection's life. The life's outcome.
async fn run_namespaced(
    cluster: &'static Cluster,
    helm: PathBuf,
    account: String,
    removed: Option<ChartGrant>,
) -> Result<(), String> {
    let Some(env) = Setup::new("rbac-ns")
        .resync("10m")
        .without_operator()
        .start()
        .await
    else {
        return Ok(());
    };
    let url = env.fake_url();
    let access_token = env.access_token.clone();
    let ns = env.ns.clone();
    let (deployment, kubeconfig) = tokio::task::spawn_blocking(move || {
        let mut documents = render_namespaced(&helm, &account, &ns, &url);
        if let Some(removed) = &removed {
            without_chart_grant(&mut documents, &account, removed);
        }
        let rbac: Vec<Value> = documents
            .iter()
            .filter(|d| {
                [
                    "ServiceAccount",
                    "Role",
                    "RoleBinding",
                    "ClusterRole",
                    "ClusterRoleBinding",
                ]
                .contains(&d["kind"].as_str().unwrap_or_default())
            })
            .cloned()
            .collect();
        let mut items = rbac;
        items.push(json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": format!("{account}-credentials"), "namespace": "zis-system"},
            "stringData": {"access-token": access_token},
        }));
        let list = json!({"apiVersion": "v1", "kind": "List", "items": items});
        kubectl(cluster, &["apply", "-f", "-"], Some(&list.to_string()));
        let token = kubectl(
            cluster,
            &[
                "create",
                "token",
                &account,
                "-n",
                "zis-system",
                "--duration",
                "2h",
            ],
            None,
        );
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("rbac-{}-{account}.kubeconfig", std::process::id()));
        shipping::kubeconfig_with_token(&cluster.kubeconfig, token.trim(), &path);
        let deployment = shipping::find(&documents, "Deployment", None)
            .cloned()
            .unwrap_or_else(|| panic!("the chart renders no Deployment"));
        (deployment, path)
    })
    .await
    .map_err(|e| e.to_string())?;
    let log = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-logs")
        .join(&env.ns)
        .join("chart-operator.log");
    let operator = shipping::ChartOperator::start(&deployment, &kubeconfig, log);
    // The chart's namespaced release serves no ZisIntegrations (no integrations.selector).
    let outcome = life(&env, false).await;
    outcome.map_err(|e| {
        let log = operator.log();
        let refused: Vec<&str> = log
            .lines()
            .filter(|l| l.contains("403") || l.contains("forbidden"))
            .take(3)
            .collect();
        format!("{e}; operator: {}", refused.join(" | "))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_charts_namespaced_rbac_is_sufficient_and_the_operator_uses_every_verb_of_it() {
    let Some(cluster) = cluster::available() else {
        return;
    };
    let Some(audit_log) = cluster.audit_log.clone() else {
        eprintln!("SKIPPED: needs the control plane of tests/cluster (its audit log)");
        return;
    };
    let Some(helm) = shipping::helm() else {
        return;
    };
    let sample = render_namespaced(&helm, "rbac-ns-full", "watched", "http://127.0.0.1:1");
    let grants = chart_grants(&sample, "rbac-ns-full");
    assert!(
        grants.iter().any(|g| g.role == "-credentials"),
        "the Namespaced rendering has a Role for the credentials Secret: {grants:?}"
    );
    assert!(
        grants
            .iter()
            .any(|g| g.kind == "ClusterRole" && g.resource == "namespaces"),
        "the Namespaced rendering has a ClusterRole for its namespace's labels: {grants:?}"
    );
    let deployment = shipping::find(&sample, "Deployment", None).expect("a Deployment");
    assert!(
        shipping::operator_args(deployment)
            .contains(&"--namespace-selector=kubernetes.io/metadata.name=watched".to_owned()),
        "the variants run with a namespace selector"
    );

    let mut runs = vec![run_namespaced(
        cluster,
        helm.clone(),
        "rbac-ns-full".into(),
        None,
    )];
    for (i, grant) in grants.iter().enumerate() {
        runs.push(run_namespaced(
            cluster,
            helm.clone(),
            format!("rbac-ns-minus-{i}"),
            Some(grant.clone()),
        ));
    }
    let outcomes = futures::future::join_all(runs).await;

    let mut problems = Vec::new();
    if let Err(error) = &outcomes[0] {
        problems.push(format!(
            "with every rule the life of a connection broke: {error}"
        ));
    }
    let over = refused(&audit_log, "rbac-ns-full");
    if !over.is_empty() {
        problems.push(format!(
            "with every rule the operator was still refused: {}",
            over.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    for (i, grant) in grants.iter().enumerate() {
        let refusals = refused(&audit_log, &format!("rbac-ns-minus-{i}"));
        let asked = refusals.iter().any(|r| {
            (&r.group, &r.resource, r.subresource.as_deref(), &r.verb)
                == (
                    &grant.group,
                    &grant
                        .resource
                        .split('/')
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                    grant.resource.split_once('/').map(|(_, sub)| sub),
                    &grant.verb,
                )
        });
        match (&outcomes[i + 1], asked) {
            (_, false) => problems.push(format!(
                "without {grant} the operator never asked for it: the rule is not needed"
            )),
            (Ok(()), true) => eprintln!(
                "without {grant}: the operator was refused it, and the life still got through (it retries)"
            ),
            (Err(error), true) => eprintln!("without {grant}: broke as it must ({error})"),
        }
    }
    assert!(
        problems.is_empty(),
        "RBAC problems:\n{}",
        problems.join("\n")
    );
}
