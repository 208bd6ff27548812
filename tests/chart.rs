//! The Helm chart (`charts/zis-operator`), the plain manifests rendered from it (`deploy/`) and the
//! container image's Dockerfile, checked without a cluster: versions and CRDs in step, every value
//! commented and checked by the schema, `helm lint`, RBAC without wildcards and the same as
//! `deploy/rbac.yaml`, every operator flag reachable from values, the restricted Pod Security
//! settings. `tests/chart_real.rs` installs the chart on the real API server.
//!
//! helm is built from its Go module (`tests/tools/build.sh`); without Go the tests that need it
//! print `SKIPPED` and return.

#[path = "shipping/mod.rs"]
mod shipping;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The chart rendered as release `zis` in `zis-system` with one values file (or the defaults) and
/// `--set`s.
fn render(helm: &Path, values: Option<&Path>, sets: &[&str]) -> Vec<Value> {
    let text = shipping::template(helm, "zis", "zis-system", values, sets, &[])
        .unwrap_or_else(|e| panic!("helm template: {e}"));
    shipping::documents(&text)
}

fn deployment(documents: &[Value]) -> &Value {
    shipping::find(documents, "Deployment", None).expect("a Deployment")
}

/// One verb on one resource, as a rule grants it (`group resource[/sub] verb [names]`).
fn grants(role: &Value) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for rule in role["rules"].as_array().into_iter().flatten() {
        let names: Vec<&str> = rule["resourceNames"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        for group in rule["apiGroups"].as_array().into_iter().flatten() {
            for resource in rule["resources"].as_array().into_iter().flatten() {
                for verb in rule["verbs"].as_array().into_iter().flatten() {
                    all.insert(format!(
                        "{} {} {} {:?}",
                        group.as_str().unwrap_or_default(),
                        resource.as_str().unwrap_or_default(),
                        verb.as_str().unwrap_or_default(),
                        names
                    ));
                }
            }
        }
    }
    all
}

#[test]
fn the_chart_version_and_app_version_follow_the_crate_version() {
    let chart: Value = serde_yaml::from_str(&read(&shipping::chart_dir().join("Chart.yaml")))
        .unwrap_or_else(|e| panic!("Chart.yaml: {e}"));
    let crate_version = env!("CARGO_PKG_VERSION");
    assert_eq!(chart["apiVersion"], "v2");
    assert_eq!(
        chart["appVersion"], crate_version,
        "Chart.yaml's appVersion must be the crate version (Cargo.toml)"
    );
    assert_eq!(
        chart["version"], crate_version,
        "Chart.yaml's version must be the crate version (Cargo.toml)"
    );
}

#[test]
fn the_charts_crds_are_the_top_level_crds() {
    let listing = |dir: &Path| -> BTreeSet<String> {
        std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|entry| entry.ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    };
    let top = shipping::repo().join("crds");
    let chart = shipping::chart_dir().join("crds");
    assert_eq!(
        listing(&top),
        listing(&chart),
        "charts/zis-operator/crds/ must hold the same files as crds/"
    );
    for name in listing(&top) {
        assert_eq!(
            read(&top.join(&name)),
            read(&chart.join(&name)),
            "charts/zis-operator/crds/{name} differs from crds/{name}: copy it (cp crds/* charts/zis-operator/crds/)"
        );
    }

    // Both CRDs ship, each as the operator prints it (`zis-operator crd`), and Artifact Hub's
    // annotation in Chart.yaml lists exactly them.
    let printed = shipping::run(
        Command::new(env!("CARGO_BIN_EXE_zis-operator")).arg("crd"),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut shipped = Vec::new();
    for name in listing(&chart) {
        shipped.extend(shipping::documents(&read(&chart.join(&name))));
    }
    assert_eq!(
        shipped,
        shipping::documents(&printed),
        "the chart's crds/ are not the CRDs `zis-operator crd` prints"
    );
    let kinds: BTreeSet<(String, String, String)> = shipped
        .iter()
        .flat_map(|crd| {
            crd["spec"]["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|version| {
                    (
                        crd["spec"]["names"]["kind"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        version["name"].as_str().unwrap_or_default().to_owned(),
                        crd["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                    )
                })
        })
        .collect();
    assert_eq!(
        kinds
            .iter()
            .map(|(kind, _, _)| kind.as_str())
            .collect::<BTreeSet<_>>(),
        BTreeSet::from(["ZisBearerConnection", "ZisIntegration"]),
        "the chart ships both CRDs"
    );
    let chart_yaml: Value = serde_yaml::from_str(&read(&shipping::chart_dir().join("Chart.yaml")))
        .unwrap_or_else(|e| panic!("Chart.yaml: {e}"));
    let annotation: Vec<Value> = serde_yaml::from_str(
        chart_yaml["annotations"]["artifacthub.io/crds"]
            .as_str()
            .expect("Chart.yaml's artifacthub.io/crds annotation"),
    )
    .unwrap_or_else(|e| panic!("artifacthub.io/crds: {e}"));
    let listed: BTreeSet<(String, String, String)> = annotation
        .iter()
        .map(|crd| {
            let field = |key: &str| crd[key].as_str().unwrap_or_default().to_owned();
            (field("kind"), field("version"), field("name"))
        })
        .collect();
    assert_eq!(
        listed, kinds,
        "Chart.yaml's artifacthub.io/crds lists other CRDs than crds/ holds"
    );
}

/// Every key of values.yaml is documented: a comment right above it (or at the end of its line),
/// or it belongs to a run of keys at the same depth (no blank line between them) whose comment
/// names it (`nameOverride` and `fullnameOverride` under one comment naming both), or it is a
/// field of a Kubernetes object the chart passes through as is (`resources`, probes, security
/// contexts, selectors), which the object's own comment names.
#[test]
fn every_value_in_values_yaml_is_commented() {
    let text = read(&shipping::chart_dir().join("values.yaml"));
    let undocumented = undocumented_values(&text);
    assert!(
        undocumented.is_empty(),
        "values.yaml keys without a comment:\n{}",
        undocumented.join("\n")
    );
}

/// The keys of a values.yaml `every_value_in_values_yaml_is_commented` finds undocumented.
fn undocumented_values(text: &str) -> Vec<String> {
    const KUBERNETES_OBJECTS: &[&str] = &[
        "resources",
        "livenessProbe",
        "readinessProbe",
        "podSecurityContext",
        "securityContext",
        "namespaceSelector",
        "podSelector",
    ];
    /// A key still open: its depth, its name, the comment of its run (its own, or the one that
    /// names it), and whether a blank line came since (which ends a run).
    struct Open {
        depth: usize,
        key: String,
        run_comment: Option<String>,
        blank_since: bool,
    }
    let names = |comment: &str, key: &str| {
        comment
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|word| word == key)
    };
    let mut undocumented = Vec::new();
    let mut stack: Vec<Open> = Vec::new();
    // The comment lines right above, and their indentation.
    let mut comment_above: Option<(usize, String)> = None;
    for (number, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() {
            comment_above = None;
            stack.iter_mut().for_each(|open| open.blank_since = true);
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            comment_above = match comment_above.take() {
                Some((depth, mut text)) if depth == indent => {
                    text.push_str(comment);
                    Some((depth, text))
                }
                _ => Some((indent, comment.to_owned())),
            };
            continue;
        }
        let key = match trimmed.split_once(':') {
            Some((key, _))
                if !trimmed.starts_with('-') && !key.contains(' ') && !key.is_empty() =>
            {
                key.to_owned()
            }
            _ => {
                comment_above = None;
                continue;
            }
        };
        let own_comment = match comment_above.take() {
            Some((depth, comment)) if depth == indent => Some(comment),
            _ => trimmed.split_once(" # ").map(|(_, c)| c.to_owned()),
        };
        // The run this key continues: a documented sibling above it, no blank line between.
        let run_comment = stack
            .iter()
            .find(|open| open.depth == indent && !open.blank_since)
            .and_then(|open| open.run_comment.clone())
            .filter(|comment| names(comment, &key));
        stack.retain(|open| open.depth < indent);
        let inside_object = stack
            .iter()
            .any(|open| KUBERNETES_OBJECTS.contains(&open.key.as_str()));
        if own_comment.is_none() && run_comment.is_none() && !inside_object {
            undocumented.push(format!("line {}: {}", number + 1, trimmed));
        }
        stack.push(Open {
            depth: indent,
            key,
            run_comment: own_comment.or(run_comment),
            blank_since: false,
        });
    }
    undocumented
}

#[test]
fn the_comment_check_finds_a_key_without_a_comment() {
    let text = "# The section.\nsection:\n  # Documented.\n  first: 1\n  second: 2\n\n# Override the name (nameOverride) or the full name (fullnameOverride).\nnameOverride: \"\"\nfullnameOverride: \"\"\nbare: true\n# Resources.\nresources:\n  limits:\n    memory: 1Mi\n";
    assert_eq!(
        undocumented_values(text),
        vec![
            "line 5: second: 2".to_owned(),
            "line 10: bare: true".to_owned()
        ]
    );
}

#[test]
fn helm_lint_passes_with_the_default_values_and_every_ci_values_file() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    for (name, file) in shipping::values_files() {
        let mut command = shipping::helm_command(&helm);
        command
            .arg("lint")
            .arg("--strict")
            .arg(shipping::chart_dir());
        if let Some(file) = &file {
            command.arg("--values").arg(file);
        }
        let out = shipping::run(&mut command, None)
            .unwrap_or_else(|e| panic!("helm lint with {name}: {e}"));
        assert!(
            out.contains("0 chart(s) failed"),
            "helm lint with {name}: {out}"
        );
    }
}

#[test]
fn the_plain_manifests_are_rendered_from_the_chart_defaults() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let out = tempdir("render");
    shipping::run(
        Command::new("bash")
            .arg(shipping::repo().join("deploy/render.sh"))
            .arg(&out)
            .env("HELM", &helm),
        None,
    )
    .unwrap_or_else(|e| panic!("deploy/render.sh: {e}"));
    for name in ["install.yaml", "rbac.yaml"] {
        assert!(
            read(&out.join(name)) == read(&shipping::repo().join("deploy").join(name)),
            "deploy/{name} is not what the chart renders: run deploy/render.sh"
        );
    }
}

#[test]
fn the_kustomization_beside_install_yaml_builds_the_same_objects() {
    let kubectl = std::env::var_os("ZIS_CLUSTER_BIN_DIR")
        .map(|dir| Path::new(&dir).join("kubectl"))
        .filter(|path| path.exists())
        .unwrap_or_else(|| "kubectl".into());
    let built = match shipping::run(
        Command::new(&kubectl)
            .arg("kustomize")
            .arg(shipping::repo().join("deploy")),
        None,
    ) {
        Ok(built) => built,
        Err(error) if error.contains("cannot run") => {
            eprintln!("SKIPPED: no kubectl to run kustomize with ({error})");
            return;
        }
        Err(error) => panic!("kubectl kustomize deploy/: {error}"),
    };
    let key = |d: &Value| {
        format!(
            "{} {} {}",
            d["kind"],
            d["metadata"]["namespace"].as_str().unwrap_or_default(),
            d["metadata"]["name"]
        )
    };
    let mut from_kustomize = shipping::documents(&built);
    let mut install = shipping::documents(&read(&shipping::repo().join("deploy/install.yaml")));
    from_kustomize.sort_by_key(key);
    install.sort_by_key(key);
    assert_eq!(
        from_kustomize, install,
        "kubectl kustomize deploy/ builds other objects than deploy/install.yaml"
    );
}

#[test]
fn no_rbac_rule_has_a_wildcard_and_the_cluster_wide_rules_are_deploy_rbac_yaml() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    for (name, file) in shipping::values_files() {
        let documents = render(&helm, file.as_deref(), &[]);
        for role in documents
            .iter()
            .filter(|d| d["kind"] == "Role" || d["kind"] == "ClusterRole")
        {
            for grant in grants(role) {
                assert!(
                    !grant.contains('*'),
                    "{name}: {} {} grants a wildcard: {grant}",
                    role["kind"],
                    role["metadata"]["name"]
                );
            }
        }
    }
    // The default rendering's roles are the ones deploy/rbac.yaml ships (and rbac_real proves).
    let rendered = shipping::documents(
        &shipping::template(&helm, "zis-operator", "zis-system", None, &[], &[])
            .unwrap_or_else(|e| panic!("{e}")),
    );
    let shipped = shipping::documents(&read(&shipping::repo().join("deploy/rbac.yaml")));
    for kind in ["ClusterRole", "Role"] {
        let rendered: Vec<_> = shipping::all_of(&rendered, kind)
            .into_iter()
            .map(|r| (r["metadata"]["name"].clone(), grants(r)))
            .collect();
        let shipped: Vec<_> = shipping::all_of(&shipped, kind)
            .into_iter()
            .map(|r| (r["metadata"]["name"].clone(), grants(r)))
            .collect();
        assert_eq!(
            rendered, shipped,
            "the chart's {kind}s and deploy/rbac.yaml's differ"
        );
    }
}

#[test]
fn the_namespaced_scope_gives_roles_in_one_namespace_and_limits_the_operator_to_it() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let cluster_wide = render(&helm, None, &[]);
    let cluster_grants =
        grants(shipping::find(&cluster_wide, "ClusterRole", None).expect("a ClusterRole"));

    // Namespaces and ZisIntegrations are cluster-scoped: the ClusterRole's rules on them have no
    // place in a Role (a namespaced release serves ZisIntegrations only with a selector).
    let namespaces_rule = BTreeSet::from([
        r#" namespaces list []"#.to_owned(),
        r#" namespaces watch []"#.to_owned(),
        r#"zis-operator.dev zisintegrations list []"#.to_owned(),
        r#"zis-operator.dev zisintegrations watch []"#.to_owned(),
        r#"zis-operator.dev zisintegrations/status patch []"#.to_owned(),
    ]);
    assert!(
        cluster_grants.is_superset(&namespaces_rule),
        "the ClusterRole lists and watches namespaces (their labels) and ZisIntegrations: {cluster_grants:?}"
    );

    let documents = render(
        &helm,
        None,
        &[
            "rbac.scope=Namespaced",
            "rbac.namespaces={shop}",
            "credentials.secretName=shop-credentials",
        ],
    );
    // Cluster-wide, only reading the labels of that one namespace, by name.
    let cluster_roles = shipping::all_of(&documents, "ClusterRole");
    assert_eq!(
        cluster_roles
            .iter()
            .map(|role| (role["metadata"]["name"].clone(), grants(role)))
            .collect::<Vec<_>>(),
        vec![(
            Value::from("zis-zis-operator-namespace"),
            BTreeSet::from([
                r#" namespaces list ["shop"]"#.to_owned(),
                r#" namespaces watch ["shop"]"#.to_owned(),
            ])
        )],
        "the Namespaced scope's only ClusterRole lists and watches the one namespace by name"
    );
    let cluster_bindings = shipping::all_of(&documents, "ClusterRoleBinding");
    assert_eq!(cluster_bindings.len(), 1, "{cluster_bindings:?}");
    assert_eq!(
        cluster_bindings[0]["roleRef"]["name"],
        "zis-zis-operator-namespace"
    );
    assert_eq!(
        cluster_bindings[0]["subjects"][0]["name"],
        "zis-zis-operator"
    );
    assert_eq!(
        cluster_bindings[0]["subjects"][0]["namespace"],
        "zis-system"
    );
    let shop =
        shipping::find(&documents, "Role", Some("zis-zis-operator")).expect("a Role in shop");
    assert_eq!(shop["metadata"]["namespace"], "shop");
    assert_eq!(
        grants(shop),
        cluster_grants
            .difference(&namespaces_rule)
            .cloned()
            .collect::<BTreeSet<_>>(),
        "the Role in shop grants what the ClusterRole does, but on namespaces and ZisIntegrations"
    );
    let credentials = shipping::find(&documents, "Role", Some("zis-zis-operator-credentials"))
        .expect("a Role for the credentials Secret");
    assert_eq!(credentials["metadata"]["namespace"], "zis-system");
    assert_eq!(
        grants(credentials),
        BTreeSet::from([
            r#" secrets list ["shop-credentials"]"#.to_owned(),
            r#" secrets watch ["shop-credentials"]"#.to_owned(),
        ]),
        "the credentials Role names that one Secret, and only lists and watches it"
    );
    for binding in shipping::all_of(&documents, "RoleBinding") {
        assert_eq!(binding["subjects"][0]["name"], "zis-zis-operator");
        assert_eq!(binding["subjects"][0]["namespace"], "zis-system");
    }
    let args = shipping::operator_args(deployment(&documents));
    assert!(args.contains(&"--namespace=shop".to_owned()), "{args:?}");
    assert!(
        args.contains(&"--credentials-secret=zis-system/shop-credentials".to_owned()),
        "{args:?}"
    );

    // Watching the release's own namespace: its Role covers the credentials Secret already.
    let documents = render(
        &helm,
        None,
        &["rbac.scope=Namespaced", "rbac.namespaces={zis-system}"],
    );
    assert!(
        shipping::find(&documents, "Role", Some("zis-zis-operator-credentials")).is_none(),
        "no separate credentials Role when the operator watches its own namespace"
    );
}

#[test]
fn wrong_values_fail_at_install_with_a_message_naming_the_value() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let cases: &[(&[&str], &str)] = &[
        (
            &["rbac.scope=Namespaced", "rbac.namespaces={shop,billing}"],
            "/rbac/namespaces': maxItems: got 2, want 1",
        ),
        (
            &["rbac.scope=Namespaced"],
            "/rbac/namespaces': minItems: got 0, want 1",
        ),
        (
            &["rbac.namespaces={shop}"],
            "/rbac/namespaces': maxItems: got 1, want 0",
        ),
        (&["rbac.scope=Everywhere"], "/rbac/scope'"),
        (
            &[
                "zendesk.subdomain=acme",
                "zendesk.url=https://acme.zendesk.com",
            ],
            "/zendesk/url': maxLength",
        ),
        (
            &["zendesk.subdomain=https://acme.zendesk.com"],
            "/zendesk/subdomain'",
        ),
        (&["zendesk.url=acme.zendesk.com"], "/zendesk/url'"),
        (&["zendesk.subdomian=acme"], "'subdomian' not allowed"),
        (&["credentials.create=true"], "/credentials/accessToken'"),
        (
            &[
                "credentials.fingerprintKey=short",
                "credentials.create=true",
                "credentials.accessToken=x",
            ],
            "/credentials/fingerprintKey'",
        ),
        (
            &["leaderElection.enabled=false", "replicaCount=2"],
            "/replicaCount': maximum: got 2, want 1",
        ),
        (
            &["podDisruptionBudget.enabled=true", "replicaCount=1"],
            "/replicaCount': minimum",
        ),
        (&["operator.resyncInterval=10"], "/operator/resyncInterval'"),
        (&["operator.resyncInterval=1d"], "/operator/resyncInterval'"),
        (&["operator.concurrency=0"], "/operator/concurrency'"),
        (&["operator.logFormat=xml"], "/operator/logFormat'"),
        (
            &["networkPolicy.enabled=true"],
            "/networkPolicy/apiServer/cidrs'",
        ),
        (&["image.digest=latest"], "/image/digest'"),
        (&["metrics.port=80000"], "/metrics/port'"),
    ];
    let mut wrong = Vec::new();
    for (sets, expected) in cases {
        match shipping::template(&helm, "zis", "zis-system", None, sets, &[]) {
            Ok(_) => wrong.push(format!("{sets:?} was accepted")),
            Err(error) if !error.contains(expected) => wrong.push(format!(
                "{sets:?}: the error does not say {expected:?}: {error}"
            )),
            Err(_) => {}
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn every_operator_flag_can_be_set_from_values() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let help = shipping::run(
        Command::new(env!("CARGO_BIN_EXE_zis-operator")).args(["run", "--help"]),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let flags: BTreeSet<String> = help
        .split_whitespace()
        .filter(|word| word.starts_with("--") && word.len() > 2)
        .map(|word| {
            word.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .split('=')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .filter(|flag| flag != "--help")
        .collect();
    let mut rendered = BTreeSet::new();
    let mut variants: Vec<Vec<Value>> = shipping::values_files()
        .iter()
        .map(|(_, file)| render(&helm, file.as_deref(), &[]))
        .collect();
    variants.push(render(
        &helm,
        None,
        &[
            "zendesk.url=http://127.0.0.1:8080",
            "zendesk.allowHttp=true",
        ],
    ));
    for documents in &variants {
        for arg in shipping::operator_args(deployment(documents)) {
            rendered.insert(arg.split('=').next().unwrap_or_default().to_owned());
        }
    }
    let missing: Vec<&String> = flags.difference(&rendered).collect();
    assert!(
        missing.is_empty(),
        "flags of `zis-operator run` no values file of the chart sets: {missing:?}"
    );
}

#[test]
fn the_deployment_runs_under_the_restricted_profile_with_probes_resources_and_the_pods_identity() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    for (name, file) in shipping::values_files() {
        let documents = render(&helm, file.as_deref(), &[]);
        let deployment = deployment(&documents);
        let pod = &deployment["spec"]["template"]["spec"];
        let container = &pod["containers"][0];
        let security = &container["securityContext"];
        assert_eq!(pod["securityContext"]["runAsNonRoot"], true, "{name}");
        assert!(
            pod["securityContext"]["runAsUser"]
                .as_u64()
                .is_some_and(|u| u > 0),
            "{name}"
        );
        assert_eq!(
            pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault",
            "{name}"
        );
        assert_eq!(security["allowPrivilegeEscalation"], false, "{name}");
        assert_eq!(security["readOnlyRootFilesystem"], true, "{name}");
        assert_eq!(
            security["capabilities"]["drop"],
            serde_json::json!(["ALL"]),
            "{name}"
        );
        assert_eq!(
            container["livenessProbe"]["httpGet"]["path"], "/healthz",
            "{name}"
        );
        assert_eq!(
            container["readinessProbe"]["httpGet"]["path"], "/readyz",
            "{name}"
        );
        assert!(
            container["resources"]["requests"]["memory"].is_string(),
            "{name}"
        );
        assert!(
            container["resources"]["limits"]["memory"].is_string(),
            "{name}"
        );
        let env: Vec<(String, String)> = container["env"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| {
                Some((
                    e["name"].as_str()?.to_owned(),
                    e["valueFrom"]["fieldRef"]["fieldPath"].as_str()?.to_owned(),
                ))
            })
            .collect();
        assert!(
            env.contains(&("POD_NAME".into(), "metadata.name".into())),
            "{name}: {env:?}"
        );
        assert!(
            env.contains(&("POD_NAMESPACE".into(), "metadata.namespace".into())),
            "{name}: {env:?}"
        );
        let args = shipping::operator_args(deployment);
        let leader = args.contains(&"--leader-election=true".to_owned());
        let replicas = deployment["spec"]["replicas"].as_u64().unwrap_or_default();
        let strategy = deployment["spec"]["strategy"]["type"]
            .as_str()
            .unwrap_or_default();
        if leader {
            assert_eq!(strategy, "RollingUpdate", "{name}");
            assert!(
                replicas >= 2,
                "{name}: {replicas} replicas with leader election"
            );
        } else {
            assert_eq!(strategy, "Recreate", "{name}: without leader election");
            assert_eq!(replicas, 1, "{name}: without leader election");
        }
    }
    let defaults = render(&helm, None, &[]);
    assert_eq!(
        deployment(&defaults)["spec"]["replicas"],
        2,
        "two replicas by default"
    );
}

#[test]
fn the_alerts_load_in_prometheus_and_read_the_release_namespaces_series() {
    let (Some(helm), Some(promrules)) = (shipping::helm(), shipping::promrules_tool()) else {
        return;
    };
    let documents = render(&helm, None, &["metrics.prometheusRule.enabled=true"]);
    let rule = shipping::find(&documents, "PrometheusRule", None).expect("a PrometheusRule");
    // Prometheus's own loader: the PromQL of each expression, the durations, the templates.
    let loaded = shipping::run(
        &mut Command::new(&promrules),
        Some(&rule["spec"].to_string()),
    )
    .unwrap_or_else(|e| panic!("Prometheus refuses the chart's rules: {e}"));
    assert!(loaded.contains("7 rules"), "{loaded}");
    let alerts: Vec<&str> = rule["spec"]["groups"][0]["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| r["alert"].as_str())
        .collect();
    for expected in [
        "ZisIntegrationNotReady",
        "ZisCredentialsRefused",
        "ZisConnectionsStalled",
        "ZisConnectionsNotReady",
        "ZisRateLimited",
        "ZisReconcileErrors",
        "ZisOperatorNoLeader",
    ] {
        assert!(
            alerts.contains(&expected),
            "no alert {expected}: {alerts:?}"
        );
    }
    for r in rule["spec"]["groups"][0]["rules"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let expr = r["expr"].as_str().unwrap_or_default();
        assert!(
            expr.contains(r#"namespace="zis-system""#),
            "{}: reads another release's series too: {expr}",
            r["alert"]
        );
    }
}

/// The Dockerfile, read as a list of instructions (continuation lines joined).
fn dockerfile() -> Vec<String> {
    let text = read(&shipping::repo().join("Dockerfile"));
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => current.push_str(part),
            None => {
                current.push_str(line);
                instructions.push(std::mem::take(&mut current));
            }
        }
    }
    instructions
}

#[test]
fn the_image_holds_only_the_release_operator_binary_and_runs_as_a_numeric_non_root_user() {
    let instructions = dockerfile();
    let stages: Vec<&String> = instructions
        .iter()
        .filter(|i| i.starts_with("FROM "))
        .collect();
    assert!(stages.len() >= 2, "a multi-stage build: {stages:?}");
    let build: Vec<&String> = instructions
        .iter()
        .filter(|i| i.starts_with("RUN ") && i.contains("cargo build"))
        .collect();
    assert_eq!(build.len(), 1, "one cargo build: {build:?}");
    for needed in [
        "--release",
        "--locked",
        "-p zis-operator",
        "--bin zis-operator",
    ] {
        assert!(
            build[0].contains(needed),
            "the cargo build lacks {needed}: {}",
            build[0]
        );
    }
    assert!(
        !build[0].contains("zis-sandbox"),
        "the image must not build the sandbox's tools"
    );
    let last = instructions
        .iter()
        .rposition(|i| i.starts_with("FROM "))
        .unwrap_or_default();
    let final_stage = &instructions[last..];
    assert!(
        final_stage[0].contains("distroless"),
        "a minimal final image: {}",
        final_stage[0]
    );
    let copies: Vec<&String> = final_stage
        .iter()
        .filter(|i| i.starts_with("COPY"))
        .collect();
    assert_eq!(
        copies.len(),
        1,
        "the final image gets one file, the binary: {copies:?}"
    );
    assert!(copies[0].contains("zis-operator"), "{}", copies[0]);
    let user = final_stage
        .iter()
        .find_map(|i| i.strip_prefix("USER "))
        .expect("a USER in the final stage");
    let (uid, gid) = user.trim().split_once(':').expect("USER uid:gid");
    let uid: u64 = uid
        .parse()
        .unwrap_or_else(|_| panic!("a numeric user: {user}"));
    let _: u64 = gid
        .parse()
        .unwrap_or_else(|_| panic!("a numeric group: {user}"));
    assert!(uid > 0, "a non-root user: {user}");

    // The chart's runAsUser is the image's user, so runAsNonRoot holds with either.
    let values: Value = serde_yaml::from_str(&read(&shipping::chart_dir().join("values.yaml")))
        .unwrap_or_else(|e| panic!("values.yaml: {e}"));
    assert_eq!(values["podSecurityContext"]["runAsUser"], uid);

    let ignore = read(&shipping::repo().join(".dockerignore"));
    for excluded in ["target", ".git", ".cache"] {
        assert!(
            ignore.lines().any(|l| l.trim() == excluded),
            ".dockerignore must leave out {excluded}"
        );
    }
}

fn tempdir(hint: &str) -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chart-{hint}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}

#[test]
fn refresh_token_secrets_get_update_by_name_only_and_a_namespaced_release_watches_integrations_only_with_a_selector()
 {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let documents = render(
        &helm,
        None,
        &[
            "integrations.refreshTokenSecrets[0].namespace=payments",
            "integrations.refreshTokenSecrets[0].name=zendesk-oauth",
        ],
    );
    let write_back = shipping::find(
        &documents,
        "Role",
        Some("zis-zis-operator-write-back-zendesk-oauth"),
    )
    .expect("a Role for the refresh-token Secret");
    assert_eq!(write_back["metadata"]["namespace"], "payments");
    assert_eq!(
        grants(write_back),
        BTreeSet::from([r#" secrets update ["zendesk-oauth"]"#.to_owned()])
    );
    let binding = shipping::find(
        &documents,
        "RoleBinding",
        Some("zis-zis-operator-write-back-zendesk-oauth"),
    )
    .expect("its RoleBinding");
    assert_eq!(binding["subjects"][0]["name"], "zis-zis-operator");
    // No other rule anywhere updates Secrets.
    for kind in ["Role", "ClusterRole"] {
        for role in shipping::all_of(&documents, kind) {
            let updates: Vec<String> = grants(role)
                .into_iter()
                .filter(|grant| grant.starts_with(" secrets update"))
                .collect();
            assert!(
                updates.is_empty() || role["metadata"]["name"] == write_back["metadata"]["name"],
                "{kind} {} updates Secrets: {updates:?}",
                role["metadata"]["name"]
            );
        }
    }

    let namespaced = ["rbac.scope=Namespaced", "rbac.namespaces={shop}"];
    let without = render(&helm, None, &namespaced);
    assert!(
        shipping::find(
            &without,
            "ClusterRole",
            Some("zis-zis-operator-integrations")
        )
        .is_none(),
        "a namespaced release without a selector watches no ZisIntegrations"
    );
    let mut with_selector = namespaced.to_vec();
    with_selector.push("integrations.selector=team=shop");
    let with = render(&helm, None, &with_selector);
    let role = shipping::find(&with, "ClusterRole", Some("zis-zis-operator-integrations"))
        .expect("a ClusterRole for the selected ZisIntegrations");
    assert_eq!(
        grants(role),
        BTreeSet::from([
            "zis-operator.dev zisintegrations list []".to_owned(),
            "zis-operator.dev zisintegrations watch []".to_owned(),
            "zis-operator.dev zisintegrations/status patch []".to_owned(),
        ])
    );
    let args = shipping::operator_args(deployment(&with));
    assert!(
        args.iter()
            .any(|arg| arg == "--integration-selector=team=shop"),
        "{args:?}"
    );
}

#[test]
fn integrations_from_values_are_rendered_and_their_refresh_token_secrets_get_update() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let dir = tempfile_dir();
    let values = dir.join("integrations.yaml");
    std::fs::write(
        &values,
        r#"integrations:
  refreshTokenSecrets:
  - {namespace: zis-system, name: acme-oauth}
  objects:
  - name: acme-app
    labels: {team: payments}
    spec:
      integration: acme_app
      subdomain: acme
      credentials:
        secretRef: {namespace: zis-system, name: acme-oauth}
        grant: RefreshToken
      namespaceSelector: {matchLabels: {team: payments}}
  - name: static-app
    spec:
      integration: static_app
      subdomain: acme
      credentials:
        secretRef: {namespace: zis-system, name: static-token}
      namespaceSelector: {}
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let documents = render(&helm, Some(&values), &[]);
    let integration = shipping::find(&documents, "ZisIntegration", Some("acme-app"))
        .expect("the ZisIntegration from values");
    assert_eq!(integration["spec"]["integration"], "acme_app");
    assert_eq!(integration["metadata"]["labels"]["team"], "payments");
    assert!(shipping::find(&documents, "ZisIntegration", Some("static-app")).is_some());
    let write_back: Vec<&Value> = shipping::all_of(&documents, "Role")
        .into_iter()
        .filter(|role| {
            grants(role)
                .iter()
                .any(|g| g.starts_with(" secrets update"))
        })
        .collect();
    assert_eq!(
        write_back.len(),
        1,
        "one Role for the one refresh-token Secret (named twice), none for a static token"
    );
    assert_eq!(
        grants(write_back[0]),
        BTreeSet::from([r#" secrets update ["acme-oauth"]"#.to_owned()])
    );
}

/// A fresh folder under the target's temporary directory.
fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chart-values-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir
}
