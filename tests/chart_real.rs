//! The Helm chart on the real API server of `tests/cluster` (kube-apiserver, etcd and
//! kube-controller-manager v1.37, built from source):
//!
//! - every document the chart renders, with the default values and each `ci/*.yaml`, and
//!   `deploy/install.yaml` are accepted by the API server (`kubectl apply --dry-run=server`,
//!   without a warning), and the operator's
//!   pod passes the API server's Pod Security admission at `restricted` (a Pod built from the
//!   Deployment's template is refused if it does not, which a pod that drops nothing shows);
//! - `helm install` installs both CRDs and the release; the operator, started outside the cluster as
//!   the chart's ServiceAccount (a TokenRequest token) with the chart's arguments and environment,
//!   makes `examples/connection.yaml` Ready against the local ZIS server, without one request
//!   refused by the chart's RBAC; Argo CD's health check, kstatus and Flux's health expressions read
//!   the live objects as documented; every series the PrometheusRule alerts on is one the operator
//!   exports; `helm upgrade` changes the arguments (a namespace selector among them) and the
//!   operator goes on; `helm uninstall` removes the release but leaves the CRDs and the
//!   connections, as NOTES.txt says.
//!
//! Without Go (the API server and helm are built from their Go modules) the tests print `SKIPPED`
//! and return.

#[path = "shipping/mod.rs"]
mod shipping;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use zis_sandbox::cluster::{ControlPlane, ControlPlaneError};
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

/// The Prometheus Operator release whose CRDs (ServiceMonitor, PrometheusRule) the API server gets,
/// so that the chart's monitoring objects are validated too; fetched as the Go module it is.
const PROMETHEUS_OPERATOR: &str = "github.com/prometheus-operator/prometheus-operator@v0.85.0";

/// The CRDs the chart installs from its crds/ (and `helm uninstall` keeps).
const CRDS: [&str; 2] = [
    "zisbearerconnections.zis-operator.dev",
    "zisintegrations.zis-operator.dev",
];

/// The control plane every test of this binary shares, with the monitoring CRDs installed.
fn plane() -> Option<&'static ControlPlane> {
    static PLANE: OnceLock<Option<ControlPlane>> = OnceLock::new();
    PLANE
        .get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("chart-cluster-{}", std::process::id()));
            let plane = match ControlPlane::start(&dir) {
                Ok(plane) => plane,
                Err(ControlPlaneError::GoMissing) => {
                    eprintln!("SKIPPED: the real API server is built with Go, which is missing");
                    return None;
                }
                Err(error) => panic!("the control plane did not start: {error}"),
            };
            install_monitoring_crds(&plane);
            Some(plane)
        })
        .as_ref()
}

fn install_monitoring_crds(plane: &ControlPlane) {
    let out = shipping::run(
        Command::new("go")
            .args(["mod", "download", "-json", PROMETHEUS_OPERATOR])
            .env("GOFLAGS", "-mod=mod")
            .current_dir(std::env::temp_dir()),
        None,
    )
    .unwrap_or_else(|e| panic!("downloading {PROMETHEUS_OPERATOR}: {e}"));
    let module: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    let dir = Path::new(module["Dir"].as_str().unwrap_or_default())
        .join("example/prometheus-operator-crd");
    for kind in ["servicemonitors", "prometheusrules"] {
        let file = dir.join(format!("monitoring.coreos.com_{kind}.yaml"));
        kubectl(plane, &["apply", "--server-side", "-f"], Some(&file), None)
            .unwrap_or_else(|e| panic!("installing {}: {e}", file.display()));
    }
}

/// kubectl as the cluster's admin; stdout and stderr (warnings) on success.
fn kubectl(
    plane: &ControlPlane,
    args: &[&str],
    file: Option<&Path>,
    input: Option<&str>,
) -> Result<(String, String), String> {
    let mut command = Command::new(plane.kubectl());
    command
        .arg("--kubeconfig")
        .arg(plane.admin_kubeconfig())
        .args(args);
    if let Some(file) = file {
        command.arg(file);
    }
    let what = format!("kubectl {}", args.join(" "));
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{what}: {e}"))?;
    if let (Some(mut stdin), Some(text)) = (child.stdin.take(), input) {
        use std::io::Write;
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("{what}: {e}"))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    if out.status.success() {
        Ok((stdout, stderr))
    } else {
        Err(format!("{what} failed: {stderr}{stdout}"))
    }
}

fn kubectl_ok(plane: &ControlPlane, args: &[&str], input: Option<&str>) -> String {
    kubectl(plane, args, None, input)
        .unwrap_or_else(|e| panic!("{e}"))
        .0
}

fn get_json(plane: &ControlPlane, args: &[&str]) -> Option<Value> {
    let mut all = vec!["get", "-o", "json"];
    all.extend_from_slice(args);
    let (out, _) = kubectl(plane, &all, None, None).ok()?;
    serde_json::from_str(&out).ok()
}

/// A namespace whose pods must pass the restricted Pod Security profile.
fn restricted_namespace(plane: &ControlPlane, name: &str) {
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": name, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted",
            "pod-security.kubernetes.io/warn": "restricted",
            "pod-security.kubernetes.io/audit": "restricted",
        }},
    });
    kubectl_ok(plane, &["apply", "-f", "-"], Some(&namespace.to_string()));
}

fn namespace(plane: &ControlPlane, name: &str) {
    let namespace = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
    kubectl_ok(plane, &["apply", "-f", "-"], Some(&namespace.to_string()));
}

/// A bare Pod made of the Deployment's pod template (pods are what Pod Security admission
/// enforces; a Deployment only gets a warning).
fn pod_of(deployment: &Value, name: &str) -> Value {
    let template = &deployment["spec"]["template"];
    let mut metadata = template["metadata"].clone();
    metadata["name"] = json!(name);
    metadata["namespace"] = deployment["metadata"]["namespace"].clone();
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

#[test]
fn every_rendered_document_is_accepted_by_the_api_server_and_the_pod_passes_the_restricted_profile()
{
    let Some(helm) = shipping::helm() else {
        return;
    };
    let Some(plane) = plane() else {
        return;
    };
    // A release of its own (cluster-wide names too), apart from the one the other test installs.
    let release_namespace = "zis-chart";
    restricted_namespace(plane, release_namespace);
    // The namespace ci/namespaced-values.yaml limits the operator to.
    namespace(plane, "shop");
    let mut problems = Vec::new();
    for (name, file) in shipping::values_files() {
        let rendered =
            shipping::template(&helm, "dry", release_namespace, file.as_deref(), &[], &[])
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        let documents = shipping::documents(&rendered);
        match kubectl(
            plane,
            &["apply", "--dry-run=server", "-f", "-"],
            None,
            Some(&rendered),
        ) {
            Ok((_, warnings)) if warnings.contains("Warning") => {
                problems.push(format!("{name}: the API server warns: {warnings}"))
            }
            Ok(_) => {}
            Err(error) => problems.push(format!("{name}: refused: {error}")),
        }
        // The pod needs its ServiceAccount to exist (the ServiceAccount admission plugin).
        let account = shipping::find(&documents, "ServiceAccount", None).expect("a ServiceAccount");
        kubectl_ok(plane, &["apply", "-f", "-"], Some(&account.to_string()));
        let deployment = shipping::find(&documents, "Deployment", None).expect("a Deployment");
        let pod = pod_of(deployment, "psa-check");
        match kubectl(
            plane,
            &["apply", "--dry-run=server", "-f", "-"],
            None,
            Some(&pod.to_string()),
        ) {
            Ok((_, warnings)) if warnings.contains("Warning") => {
                problems.push(format!("{name}: the pod gets a warning: {warnings}"))
            }
            Ok(_) => {}
            Err(error) => problems.push(format!(
                "{name}: the pod does not pass the restricted profile: {error}"
            )),
        }
    }
    // The plain manifests, as the README applies them. Objects of the same names exist already
    // (the cluster script applied deploy/rbac.yaml client-side, the other test's helm install
    // made the CRD), which only draws warnings about their apply history.
    let install = shipping::repo().join("deploy/install.yaml");
    match kubectl(
        plane,
        &["apply", "--server-side", "--dry-run=server", "-f"],
        Some(&install),
        None,
    ) {
        Ok((_, warnings))
            if warnings
                .lines()
                .any(|w| w.contains("Warning") && !w.contains("last-applied-configuration")) =>
        {
            problems.push(format!(
                "deploy/install.yaml: the API server warns: {warnings}"
            ))
        }
        Ok(_) => {}
        Err(error) => problems.push(format!("deploy/install.yaml: refused: {error}")),
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // The check has teeth: the same pod, keeping its capabilities, is refused.
    let rendered = shipping::template(&helm, "dry", release_namespace, None, &[], &[])
        .unwrap_or_else(|e| panic!("{e}"));
    let documents = shipping::documents(&rendered);
    let deployment = shipping::find(&documents, "Deployment", None).expect("a Deployment");
    let mut pod = pod_of(deployment, "psa-check-capabilities");
    pod["spec"]["containers"][0]["securityContext"]
        .as_object_mut()
        .map(|security| security.remove("capabilities"));
    match kubectl(
        plane,
        &["apply", "--dry-run=server", "-f", "-"],
        None,
        Some(&pod.to_string()),
    ) {
        Ok(_) => {
            panic!("a pod keeping its capabilities was admitted: Pod Security is not enforced")
        }
        Err(error) => assert!(
            error.contains("violates PodSecurity \"restricted"),
            "refused for another reason: {error}"
        ),
    }
}

/// A kubeconfig for the chart's ServiceAccount (a TokenRequest token, as a pod would mount).
fn service_account_kubeconfig(plane: &ControlPlane, namespace: &str, account: &str) -> PathBuf {
    let token = kubectl_ok(
        plane,
        &[
            "create",
            "token",
            account,
            "-n",
            namespace,
            "--duration",
            "1h",
        ],
        None,
    );
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("chart-{}-{account}.kubeconfig", std::process::id()));
    shipping::kubeconfig_with_token(&plane.admin_kubeconfig(), token.trim(), &path);
    path
}

/// Polls `probe` every 200 ms until it answers `Some`, or panics after `limit`.
fn wait_for<T>(
    what: &str,
    limit: Duration,
    context: impl Fn() -> String,
    mut probe: impl FnMut() -> Option<T>,
) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(
            started.elapsed() < limit,
            "{what}: not within {limit:?}\n{}",
            context()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn condition<'a>(object: &'a Value, kind: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == kind)
}

/// What Argo CD's health check, kstatus, Flux's kstatus and Flux's health expressions say about a
/// live object: each must say `expected` (argocd, kstatus and Flux's, Flux's expressions).
fn check_gitops_readers(object: &Value, expected: (&str, &str, &str)) {
    if let Some(lua) = shipping::lua() {
        let health = shipping::argocd_health(&lua, &shipping::argocd_script(), object)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            health.status, expected.0,
            "Argo CD health of {object}: {health:?}"
        );
    }
    if let Some(tool) = shipping::kstatus_tool() {
        let exprs = shipping::flux_health_exprs();
        let verdicts = shipping::gitops_verdicts(&tool, std::slice::from_ref(object), Some(&exprs))
            .unwrap_or_else(|e| panic!("{e}"));
        let verdict = &verdicts[0];
        assert_eq!(
            verdict.kstatus.status, expected.1,
            "kstatus of {object}: {verdict:?}"
        );
        assert_eq!(
            verdict.flux.status, expected.1,
            "Flux's kstatus of {object}: {verdict:?}"
        );
        let cel = verdict.flux_cel.as_ref().map(|h| h.status.as_str());
        assert_eq!(
            cel,
            Some(expected.2),
            "Flux's health expressions on {object}: {verdict:?}"
        );
    }
}

/// The requests of `user` the API server refused (403), from its audit log.
fn refused(plane: &ControlPlane, user: &str) -> Vec<String> {
    let text = std::fs::read_to_string(plane.audit_log()).unwrap_or_default();
    text.lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|e| e["user"]["username"] == user && e["responseStatus"]["code"] == 403)
        .map(|e| format!("{} {}", e["verb"], e["requestURI"]))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_install_runs_the_operator_as_the_charts_service_account_then_upgrade_and_uninstall() {
    let Some(helm) = shipping::helm() else {
        return;
    };
    let Some(plane) = tokio::task::spawn_blocking(plane).await.unwrap_or_default() else {
        return;
    };
    let release_namespace = "zis-install";
    let connections = "shop-install";
    restricted_namespace(plane, release_namespace);
    namespace(plane, connections);

    // The local ZIS serves the examples' integration with the access token the chart's
    // values-created credentials Secret holds.
    let access_token = format!("chart-access-{}", std::process::id());
    let fake = FakeZis::start(
        FakeZisConfig {
            integrations: vec![("my_integration".to_owned(), access_token.clone())],
            ..FakeZisConfig::default()
        },
        "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
    )
    .await
    .unwrap_or_else(|e| panic!("the local ZIS did not start: {e}"));

    let helm_in_cluster = |args: &[&str]| -> Result<String, String> {
        let mut command = shipping::helm_command(&helm);
        command
            .args(args)
            .arg("--kubeconfig")
            .arg(plane.admin_kubeconfig())
            .args(["--namespace", release_namespace]);
        shipping::run(&mut command, None)
    };
    let zendesk_url = format!("zendesk.url={}", fake.url());
    let token = format!("credentials.accessToken={access_token}");
    let chart = shipping::chart_dir().to_string_lossy().into_owned();
    let install = helm_in_cluster(&[
        "install",
        "zis",
        &chart,
        "--set",
        &zendesk_url,
        "--set",
        "zendesk.allowHttp=true",
        "--set",
        "credentials.create=true",
        "--set",
        &token,
    ])
    .unwrap_or_else(|e| panic!("helm install: {e}"));
    assert!(
        install.contains("STATUS: deployed"),
        "helm install: {install}"
    );
    assert!(
        install.contains(
            "`helm uninstall` removes the operator but keeps the CRDs and every ZisBearerConnection"
        ),
        "the install notes say what an uninstall keeps: {install}"
    );

    // Helm installed both CRDs from the chart's crds/.
    for name in CRDS {
        let crd = wait_for(
            &format!("the CRD {name} Established"),
            Duration::from_secs(30),
            String::new,
            || {
                let crd = get_json(plane, &["crd", name])?;
                condition(&crd, "Established").filter(|c| c["status"] == "True")?;
                Some(crd)
            },
        );
        assert!(
            crd["metadata"]["annotations"]["meta.helm.sh/release-name"].is_null(),
            "CRDs are not part of the release"
        );
    }

    let deployment = get_json(
        plane,
        &["deployment", "zis-zis-operator", "-n", release_namespace],
    )
    .expect("the chart's Deployment");
    let account = deployment["spec"]["template"]["spec"]["serviceAccountName"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let kubeconfig = service_account_kubeconfig(plane, release_namespace, &account);
    let log_dir =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("chart-{}", std::process::id()));
    std::fs::create_dir_all(&log_dir).unwrap_or_else(|e| panic!("{e}"));
    let mut operator = Some(shipping::ChartOperator::start(
        &deployment,
        &kubeconfig,
        log_dir.join("operator-1.log"),
    ));
    let log_of = |operator: &Option<shipping::ChartOperator>| {
        operator.as_ref().map(|o| o.log()).unwrap_or_default()
    };

    // The examples' connection becomes Ready with the token of its Secret pushed to ZIS.
    let example = shipping::repo().join("examples/connection.yaml");
    kubectl(
        plane,
        &["apply", "-n", connections, "-f"],
        Some(&example),
        None,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let ready = wait_for(
        "payments-api Ready",
        Duration::from_secs(60),
        || log_of(&operator),
        || {
            let object = get_json(plane, &["zbc", "payments-api", "-n", connections])?;
            condition(&object, "Ready").filter(|c| c["status"] == "True")?;
            Some(object)
        },
    );
    let remote: Value = reqwest::get(format!("{}/_fake/connections", fake.url()))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .json()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        remote["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|c| c["integration"] == "my_integration"
                && c["name"] == "payments-api"
                && c["token"] == "the-bearer-token-your-integration-sends"),
        "the remote connection: {remote}"
    );
    check_gitops_readers(&ready, ("Healthy", "Current", "Current"));

    // A connection whose Secret is missing is Stalled, and every reader says it failed.
    let missing = json!({
        "apiVersion": "zis-operator.dev/v1alpha1", "kind": "ZisBearerConnection",
        "metadata": {"name": "no-secret", "namespace": connections},
        "spec": {"integration": "my_integration", "allowedDomain": "api.example.com",
                 "tokenSecretRef": {"name": "does-not-exist"}},
    });
    kubectl_ok(plane, &["apply", "-f", "-"], Some(&missing.to_string()));
    let stalled = wait_for(
        "no-secret Stalled",
        Duration::from_secs(30),
        || log_of(&operator),
        || {
            let object = get_json(plane, &["zbc", "no-secret", "-n", connections])?;
            condition(&object, "Stalled").filter(|c| c["status"] == "True")?;
            Some(object)
        },
    );
    check_gitops_readers(&stalled, ("Degraded", "Failed", "Failed"));

    // A ZisIntegration whose credentials Secret is missing: the chart's RBAC lets the operator
    // watch it and report so in its status (and the integrations gauge has a series).
    let integration = json!({
        "apiVersion": "zis-operator.dev/v1alpha1", "kind": "ZisIntegration",
        "metadata": {"name": "chart-app"},
        "spec": {"integration": "chart_app", "subdomain": "acme",
                 "credentials": {"secretRef": {"namespace": release_namespace, "name": "chart-app-oauth"},
                                 "grant": "RefreshToken"},
                 "namespaceSelector": {}},
    });
    kubectl_ok(plane, &["apply", "-f", "-"], Some(&integration.to_string()));
    wait_for(
        "chart-app SecretNotFound",
        Duration::from_secs(30),
        || log_of(&operator),
        || {
            let object = get_json(plane, &["zint", "chart-app"])?;
            condition(&object, "Ready").filter(|c| c["reason"] == "SecretNotFound")?;
            Some(object)
        },
    );

    // Every series the alerts read is one the operator exports.
    let addr = operator
        .as_ref()
        .and_then(shipping::ChartOperator::metrics_addr)
        .expect("the metrics address in the log");
    let metrics = reqwest::get(format!("http://{addr}/metrics"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .text()
        .await
        .unwrap_or_default();
    let rules = shipping::template(
        &helm,
        "zis",
        release_namespace,
        None,
        &["metrics.prometheusRule.enabled=true"],
        &["--show-only", "templates/prometheusrule.yaml"],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let series: std::collections::BTreeSet<&str> = rules
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("zis_operator_"))
        .collect();
    assert!(
        series.len() >= 5,
        "the alerts read the operator's series: {series:?}"
    );
    for name in &series {
        assert!(
            metrics
                .lines()
                .any(|line| line.starts_with(&format!("{name}{{"))
                    || line.starts_with(&format!("{name} "))),
            "the PrometheusRule reads {name}, which the operator does not export:\n{metrics}"
        );
    }

    // helm upgrade: new arguments in the Deployment, among them a namespace selector that lets
    // the connections' namespace use the credentials; the operator restarted with them goes on.
    let selector =
        format!("credentials.namespaceSelector=kubernetes.io/metadata.name={connections}");
    let upgrade = helm_in_cluster(&[
        "upgrade",
        "zis",
        &chart,
        "--reuse-values",
        "--set",
        "operator.concurrency=2",
        "--set",
        "operator.logFormat=json",
        "--set",
        &selector,
    ])
    .unwrap_or_else(|e| panic!("helm upgrade: {e}"));
    assert!(upgrade.contains("REVISION: 2"), "helm upgrade: {upgrade}");
    let upgraded = get_json(
        plane,
        &["deployment", "zis-zis-operator", "-n", release_namespace],
    )
    .expect("the Deployment");
    let args = shipping::operator_args(&upgraded);
    assert!(
        args.contains(&"--concurrency=2".to_owned())
            && args.contains(&"--log-format=json".to_owned())
            && args.contains(&format!(
                "--namespace-selector=kubernetes.io/metadata.name={connections}"
            )),
        "{args:?}"
    );
    drop(operator.take());
    operator = Some(shipping::ChartOperator::start(
        &upgraded,
        &kubeconfig,
        log_dir.join("operator-2.log"),
    ));
    kubectl_ok(
        plane,
        &[
            "patch",
            "zbc",
            "payments-api",
            "-n",
            connections,
            "--type",
            "merge",
            "-p",
            r#"{"spec":{"allowedDomain":"api2.payments.example.com"}}"#,
        ],
        None,
    );
    wait_for(
        "payments-api Ready for generation 2",
        Duration::from_secs(60),
        || log_of(&operator),
        || {
            let object = get_json(plane, &["zbc", "payments-api", "-n", connections])?;
            condition(&object, "Ready")
                .filter(|c| c["status"] == "True" && c["observedGeneration"] == 2)?;
            Some(())
        },
    );
    assert!(
        log_of(&operator).lines().any(|line| line.starts_with('{')),
        "the upgraded operator logs JSON"
    );

    let user = format!("system:serviceaccount:{release_namespace}:{account}");
    let refusals = refused(plane, &user);
    assert!(
        refusals.is_empty(),
        "the chart's RBAC refused the operator: {refusals:?}"
    );

    // helm uninstall: the release goes, the CRD and the connections stay.
    drop(operator.take());
    let uninstall =
        helm_in_cluster(&["uninstall", "zis"]).unwrap_or_else(|e| panic!("helm uninstall: {e}"));
    assert!(uninstall.contains("uninstalled"), "{uninstall}");
    for gone in [
        vec!["deployment", "zis-zis-operator"],
        vec!["serviceaccount", &account],
        vec!["secret", "zis-credentials"],
        vec!["role", "zis-zis-operator-leader-election"],
    ] {
        let mut args = gone.clone();
        args.extend_from_slice(&["-n", release_namespace]);
        assert!(
            get_json(plane, &args).is_none(),
            "{gone:?} is left after helm uninstall"
        );
    }
    assert!(
        get_json(plane, &["clusterrole", "zis-zis-operator"]).is_none(),
        "the ClusterRole is left"
    );
    for name in CRDS {
        assert!(
            get_json(plane, &["crd", name]).is_some(),
            "helm uninstall keeps the CRD {name}"
        );
    }
    let left =
        get_json(plane, &["zbc", "payments-api", "-n", connections]).expect("the connection stays");
    assert_eq!(
        left["metadata"]["finalizers"],
        json!(["zis-operator.dev/cleanup"])
    );

    // Leave nothing behind for the other tests: no operator will remove the finalizers.
    for name in ["payments-api", "no-secret"] {
        let _ = kubectl(
            plane,
            &[
                "patch",
                "zbc",
                name,
                "-n",
                connections,
                "--type",
                "merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ],
            None,
            None,
        );
    }
    let _ = kubectl(
        plane,
        &["delete", "namespace", connections, "--wait=false"],
        None,
        None,
    );
}
