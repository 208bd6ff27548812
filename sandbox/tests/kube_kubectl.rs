//! The Kubernetes sandbox against the real kubectl (the one on the PATH).

mod kube_support;

use std::io::BufRead;
use std::time::Duration;

use kube_support::{Env, kubectl, scratch_dir, widget};

#[test]
fn the_cli_writes_a_kubeconfig_announces_its_url_and_exits_cleanly_on_sigterm() {
    let dir = scratch_dir("cli");
    let kubeconfig = dir.join("kubeconfig");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zis-sandbox"))
        .args(["kube", "--listen", "127.0.0.1:0", "--kubeconfig-out"])
        .arg(&kubeconfig)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn zis-sandbox");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = std::io::BufReader::new(stdout).lines();
    let line = lines.next().expect("a line").expect("utf8 line");
    let url = line
        .strip_prefix("kube sandbox listening on http://")
        .map(|hostport| format!("http://{hostport}"))
        .unwrap_or_else(|| panic!("unexpected announcement: {line}"));
    let config = std::fs::read_to_string(&kubeconfig).expect("kubeconfig written");
    assert!(config.contains(&format!("server: {url}")), "{config}");
    assert!(config.contains("current-context: zis-sandbox"), "{config}");

    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let (ok, out, err) = runtime.block_on(kubectl(
        &kubeconfig,
        &dir,
        &["get", "namespace", "kube-system", "-o", "name"],
    ));
    assert!(ok, "{err}");
    assert_eq!(out.trim(), "namespace/kube-system");

    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("child exits");
    assert!(exit.success(), "exit status {exit:?}");
    assert!(lines.next().is_none(), "exactly one line on stdout");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_applies_a_crd_then_its_objects_and_reads_them_back() {
    let env = Env::start("apply").await;
    env.install_widgets().await;
    let first = env.write("w1.yaml", &widget("w1", 3, "{app: demo}"));
    let second = env.write("w2.yaml", &widget("w2", 4, "{app: other}"));
    let out = env
        .ok(&["apply", "-f", first.to_str().expect("utf8")])
        .await;
    assert_eq!(out.trim(), "widget.test.zis.dev/w1 created");
    env.ok(&["apply", "-f", second.to_str().expect("utf8")])
        .await;

    let yaml = env.ok(&["get", "widget", "w1", "-o", "yaml"]).await;
    let object: serde_json::Value = serde_yaml::from_str(&yaml).expect("yaml");
    assert_eq!(object["spec"]["color"], "blue", "default applied: {yaml}");
    assert_eq!(object["metadata"]["generation"], 1);
    assert!(
        object["metadata"]["uid"]
            .as_str()
            .is_some_and(|u| u.len() == 36)
    );
    assert!(
        object["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .is_string()
    );

    let selected = env
        .ok(&["get", "wdg", "-l", "app=demo", "-o", "name"])
        .await;
    assert_eq!(selected.trim(), "widget.test.zis.dev/w1");
    let selected = env
        .ok(&["get", "widgets", "-l", "app notin (demo)", "-o", "name"])
        .await;
    assert_eq!(selected.trim(), "widget.test.zis.dev/w2");
    let by_category = env.ok(&["get", "zis", "-o", "name"]).await;
    assert_eq!(by_category.lines().count(), 2, "{by_category}");

    // Applying the same file again is a no-op; a changed file patches the object.
    let again = env
        .ok(&["apply", "-f", first.to_str().expect("utf8")])
        .await;
    assert_eq!(again.trim(), "widget.test.zis.dev/w1 unchanged");
    env.write("w1.yaml", &widget("w1", 7, "{app: demo}"));
    let changed = env
        .ok(&["apply", "-f", first.to_str().expect("utf8")])
        .await;
    assert_eq!(changed.trim(), "widget.test.zis.dev/w1 configured");
    let size = env
        .ok(&[
            "get",
            "widget",
            "w1",
            "-o",
            "jsonpath={.spec.size} {.metadata.generation}",
        ])
        .await;
    assert_eq!(size, "7 2");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_merge_and_json_patches_change_the_object_and_a_failed_test_is_refused() {
    let env = Env::start("patch").await;
    env.install_widgets().await;
    let file = env.write("w.yaml", &widget("w", 3, "{app: demo}"));
    env.ok(&["apply", "-f", file.to_str().expect("utf8")]).await;
    env.ok(&[
        "patch",
        "widget",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"color":"red"}}"#,
    ])
    .await;
    env.ok(&[
        "patch",
        "widget",
        "w",
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/size","value":9}]"#,
    ])
    .await;
    let spec = env
        .ok(&[
            "get",
            "widget",
            "w",
            "-o",
            "jsonpath={.spec.color} {.spec.size}",
        ])
        .await;
    assert_eq!(spec, "red 9");
    let (ok, _, err) = env
        .kubectl(&[
            "patch",
            "widget",
            "w",
            "--type",
            "json",
            "-p",
            r#"[{"op":"test","path":"/spec/size","value":1}]"#,
        ])
        .await;
    assert!(!ok);
    assert!(err.contains("test") || err.contains("rejected"), "{err}");
    let (ok, _, err) = env
        .kubectl(&[
            "patch",
            "widget",
            "w",
            "--type",
            "strategic",
            "-p",
            r#"{"spec":{"size":2}}"#,
        ])
        .await;
    assert!(!ok);
    assert!(
        err.contains("application/strategic-merge-patch+json is not supported"),
        "{err}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_wait_sees_a_condition_set_through_the_status_subresource() {
    let env = Env::start("wait").await;
    env.install_widgets().await;
    let file = env.write("w.yaml", &widget("w", 3, "{app: demo}"));
    env.ok(&["apply", "-f", file.to_str().expect("utf8")]).await;
    let waiter = {
        let kubeconfig = env.kubeconfig.clone();
        let dir = env.dir.clone();
        tokio::spawn(async move {
            kubectl(
                &kubeconfig,
                &dir,
                &["wait", "--for=condition=Ready", "widget/w", "--timeout=20s"],
            )
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.ok(&[
        "patch",
        "widget",
        "w",
        "--subresource=status",
        "--type",
        "merge",
        "-p",
        r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]},"spec":{"size":99}}"#,
    ])
    .await;
    let (ok, out, err) = waiter.await.expect("waiter joins");
    assert!(ok, "{err}");
    assert!(out.contains("condition met"), "{out}");
    // The status write left spec alone.
    let spec = env
        .ok(&[
            "get",
            "widget",
            "w",
            "-o",
            "jsonpath={.spec.size} {.metadata.generation}",
        ])
        .await;
    assert_eq!(spec, "3 1");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_delete_marks_an_object_with_a_finalizer_until_the_finalizer_is_removed() {
    let env = Env::start("finalizer").await;
    env.install_widgets().await;
    let file = env.write("w.yaml", &widget("w", 3, "{app: demo}"));
    env.ok(&["apply", "-f", file.to_str().expect("utf8")]).await;
    env.ok(&[
        "patch",
        "widget",
        "w",
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"finalizers":["test.zis.dev/hold"]}}"#,
    ])
    .await;
    env.ok(&["delete", "widget", "w", "--wait=false"]).await;
    let stamp = env
        .ok(&[
            "get",
            "widget",
            "w",
            "-o",
            "jsonpath={.metadata.deletionTimestamp}",
        ])
        .await;
    assert!(stamp.ends_with('Z'), "deletionTimestamp shown: {stamp:?}");
    env.ok(&[
        "patch",
        "widget",
        "w",
        "--type",
        "json",
        "-p",
        r#"[{"op":"remove","path":"/metadata/finalizers"}]"#,
    ])
    .await;
    let (ok, _, err) = env.kubectl(&["get", "widget", "w"]).await;
    assert!(!ok);
    assert!(
        err.contains("NotFound") || err.contains("not found"),
        "{err}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_apply_is_refused_for_schema_violations_and_unknown_fields() {
    let env = Env::start("schema").await;
    env.install_widgets().await;
    let bad = env.write("bad.yaml", &widget("bad", 0, "{app: demo}"));
    let (ok, _, err) = env
        .kubectl(&["apply", "-f", bad.to_str().expect("utf8")])
        .await;
    assert!(!ok);
    assert!(
        err.contains("is invalid") && err.contains("spec.size"),
        "{err}"
    );

    let unknown = env.write(
        "unknown.yaml",
        "apiVersion: test.zis.dev/v1\nkind: Widget\nmetadata:\n  name: u\nspec:\n  size: 2\n  shape: round\n",
    );
    let (ok, _, err) = env
        .kubectl(&["apply", "-f", unknown.to_str().expect("utf8")])
        .await;
    assert!(!ok);
    assert!(
        err.contains(r#"strict decoding error: unknown field "spec.shape""#),
        "{err}"
    );
    // With validation off the field is pruned and the object stored.
    env.ok(&[
        "apply",
        "--validate=false",
        "-f",
        unknown.to_str().expect("utf8"),
    ])
    .await;
    let spec = env
        .ok(&["get", "widget", "u", "-o", "jsonpath={.spec}"])
        .await;
    assert!(!spec.contains("shape"), "{spec}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_generators_and_namespace_deletion_work() {
    let env = Env::start("generators").await;
    let answer = env
        .ok(&["auth", "can-i", "list", "secrets", "-n", "default"])
        .await;
    assert_eq!(answer.trim(), "yes");
    env.ok(&["create", "namespace", "team"]).await;
    env.ok(&[
        "-n",
        "team",
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=token=abc",
    ])
    .await;
    env.ok(&[
        "-n",
        "team",
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ])
    .await;
    env.ok(&["-n", "team", "create", "serviceaccount", "bot"])
        .await;
    let data = env
        .ok(&[
            "-n",
            "team",
            "get",
            "secret",
            "creds",
            "-o",
            "jsonpath={.data.token} {.type}",
        ])
        .await;
    assert_eq!(data, "YWJj Opaque");
    let (ok, _, err) = env
        .kubectl(&["-n", "missing", "create", "configmap", "x"])
        .await;
    assert!(!ok);
    assert!(err.contains(r#"namespaces "missing" not found"#), "{err}");
    env.ok(&["delete", "namespace", "team"]).await;
    let (ok, _, err) = env.kubectl(&["get", "namespace", "team"]).await;
    assert!(!ok, "namespace gone");
    assert!(err.contains("not found"), "{err}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_list_and_whoami_describe_an_all_powerful_user() {
    let env = Env::start("auth").await;
    let rules = env.ok(&["auth", "can-i", "--list", "-n", "default"]).await;
    let granted: Vec<&str> = rules.lines().skip(1).collect();
    assert!(
        granted
            .iter()
            .any(|l| l.starts_with("*.*") && l.ends_with("[*]")),
        "every resource and verb: {rules}"
    );
    let who = env.ok(&["auth", "whoami", "-o", "json"]).await;
    let review: serde_json::Value = serde_json::from_str(&who).expect("json");
    assert_eq!(review["kind"], "SelfSubjectReview");
    assert_eq!(review["status"]["userInfo"]["username"], "zis-sandbox");
    assert!(
        review["metadata"]["creationTimestamp"].is_null(),
        "an unset protobuf timestamp is not the Unix epoch: {who}"
    );
    let table = env.ok(&["auth", "whoami"]).await;
    assert!(table.contains("system:masters"), "{table}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cluster_info_works_and_services_apply_with_defaults_and_print_like_a_cluster() {
    let env = Env::start("services").await;
    let info = env.ok(&["cluster-info"]).await;
    assert!(
        info.starts_with("Kubernetes control plane is running at http://127.0.0.1:"),
        "{info}"
    );
    let service = env.write(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: metrics\n  labels: {kubernetes.io/cluster-service: \"true\"}\nspec:\n  selector: {app: op}\n  ports:\n  - port: 8080\n",
    );
    env.ok(&[
        "-n",
        "kube-system",
        "apply",
        "-f",
        service.to_str().expect("utf8"),
    ])
    .await;
    let table = env.ok(&["get", "svc", "-A", "-o", "wide"]).await;
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        [
            "kube-system",
            "metrics",
            "ClusterIP",
            "<none>",
            "<none>",
            "8080/TCP",
            row[6],
            "app=op"
        ],
        "{table}"
    );
    let spec = env
        .ok(&[
            "-n",
            "kube-system",
            "get",
            "svc",
            "metrics",
            "-o",
            "jsonpath={.spec.ports[0].targetPort} {.spec.sessionAffinity}",
        ])
        .await;
    assert_eq!(spec, "8080 None");
    let info = env.ok(&["cluster-info"]).await;
    assert!(info.contains("metrics is running at"), "{info}");
    let all = env.ok(&["get", "all", "-A", "-o", "name"]).await;
    assert_eq!(all.trim(), "service/metrics");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_describes_the_fields_of_built_in_kinds() {
    let env = Env::start("explain").await;
    let data = env.ok(&["explain", "secret.data"]).await;
    assert!(data.contains("FIELD: data <map[string]string>"), "{data}");
    assert!(data.contains("base64 encoded string"), "{data}");
    let image = env
        .ok(&["explain", "deploy.spec.template.spec.containers.image"])
        .await;
    assert!(image.contains("FIELD: image <string>"), "{image}");
    let namespace = env.ok(&["explain", "namespace"]).await;
    assert!(namespace.contains("metadata\t<ObjectMeta>"), "{namespace}");
    assert!(
        !namespace.contains("<ObjectMeta> -required-"),
        "metadata is not required: {namespace}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_create_makes_roles_bindings_and_deployments_from_protobuf_bodies() {
    let env = Env::start("rbac").await;
    env.ok(&[
        "create",
        "role",
        "reader",
        "--verb=get,list",
        "--resource=configmaps",
    ])
    .await;
    env.ok(&[
        "create",
        "rolebinding",
        "reader",
        "--role=reader",
        "--serviceaccount=default:bot",
    ])
    .await;
    env.ok(&["create", "clusterrole", "agg", "--aggregation-rule=team=a"])
        .await;
    env.ok(&[
        "create",
        "clusterrolebinding",
        "admins",
        "--clusterrole=agg",
        "--user=ann",
    ])
    .await;
    env.ok(&[
        "create",
        "deployment",
        "web",
        "--image=nginx",
        "--port=80",
        "-r",
        "2",
    ])
    .await;
    let rules = env
        .ok(&["get", "role", "reader", "-o", "jsonpath={.rules}"])
        .await;
    assert_eq!(
        rules,
        r#"[{"apiGroups":[""],"resources":["configmaps"],"verbs":["get","list"]}]"#
    );
    let binding = env
        .ok(&[
            "get",
            "rolebinding",
            "reader",
            "-o",
            "jsonpath={.subjects[0].name} {.roleRef.kind}/{.roleRef.name}",
        ])
        .await;
    assert_eq!(binding, "bot Role/reader");
    let selectors = env
        .ok(&[
            "get",
            "clusterrole",
            "agg",
            "-o",
            "jsonpath={.aggregationRule.clusterRoleSelectors[0].matchLabels.team}",
        ])
        .await;
    assert_eq!(selectors, "a");
    let user = env
        .ok(&[
            "get",
            "clusterrolebinding",
            "admins",
            "-o",
            "jsonpath={.subjects[0].kind}={.subjects[0].name}",
        ])
        .await;
    assert_eq!(user, "User=ann");
    let deployment = env
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers}"])
        .await;
    assert_eq!(
        deployment,
        r#"2 web [{"image":"nginx","name":"nginx","ports":[{"containerPort":80}]}]"#
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cannot_delete_the_default_and_system_namespaces() {
    let env = Env::start("immortal").await;
    env.ok(&["create", "namespace", "team"]).await;
    let (ok, _, err) = env.kubectl(&["delete", "namespace", "default"]).await;
    assert!(!ok);
    assert!(
        err.contains(
            r#"Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted"#
        ),
        "{err}"
    );
    let (ok, out, err) = env.kubectl(&["delete", "namespace", "--all"]).await;
    assert!(!ok, "the system namespaces refuse: {out}");
    assert!(out.contains(r#"namespace "team" deleted"#), "{out}");
    assert!(
        err.contains(r#"namespaces "kube-system" is forbidden"#),
        "{err}"
    );
    let left = env.ok(&["get", "namespaces", "-o", "name"]).await;
    assert_eq!(
        left.lines().collect::<Vec<_>>(),
        [
            "namespace/default",
            "namespace/kube-public",
            "namespace/kube-system"
        ]
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_ends_when_the_crd_is_deleted() {
    let env = Env::start("watch-crd").await;
    env.install_widgets().await;
    let file = env.write("w.yaml", &widget("w", 3, "{app: demo}"));
    env.ok(&["apply", "-f", file.to_str().expect("utf8")]).await;
    let watchers: Vec<_> = ["default", "kube-system"]
        .into_iter()
        .map(|namespace| {
            let kubeconfig = env.kubeconfig.clone();
            let dir = env.dir.clone();
            tokio::spawn(async move {
                let args = ["-n", namespace, "get", "widgets", "-w", "-o", "name"];
                tokio::time::timeout(Duration::from_secs(15), kubectl(&kubeconfig, &dir, &args))
                    .await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    env.ok(&["delete", "crd", "widgets.test.zis.dev"]).await;
    for watcher in watchers {
        let (ok, out, err) = watcher
            .await
            .expect("watcher joins")
            .expect("the watch ends with the CRD, not at the timeout");
        assert!(ok, "{err}");
        assert!(out.lines().all(|l| l == "widget.test.zis.dev/w"), "{out}");
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmaps_and_secrets_over_one_mebibyte_are_refused() {
    let env = Env::start("too-big").await;
    let big = env.write("big.txt", &"a".repeat(1_100_000));
    let fits = env.write("fits.txt", &"a".repeat(1_000_000));
    let from = |path: &std::path::Path| format!("--from-file={}", path.to_str().expect("utf8"));
    let (ok, _, err) = env
        .kubectl(&["create", "configmap", "big", &from(&big)])
        .await;
    assert!(!ok);
    assert!(
        err.contains(
            r#"ConfigMap "big" is invalid: []: Too long: may not be more than 1048576 bytes"#
        ),
        "{err}"
    );
    let (ok, _, err) = env
        .kubectl(&["create", "secret", "generic", "big", &from(&big)])
        .await;
    assert!(!ok);
    assert!(
        err.contains(
            r#"Secret "big" is invalid: data: Too long: may not be more than 1048576 bytes"#
        ),
        "{err}"
    );
    env.ok(&["create", "configmap", "fits", &from(&fits)]).await;
    env.ok(&["create", "secret", "generic", "fits", &from(&fits)])
        .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_prints_deployments_and_bindings_with_their_real_columns() {
    let env = Env::start("printers").await;
    env.ok(&["create", "deployment", "web", "--image=nginx", "-r", "3"])
        .await;
    env.ok(&[
        "create",
        "rolebinding",
        "rb",
        "--role=r",
        "--user=ann",
        "--serviceaccount=default:bot",
    ])
    .await;
    let deployments = env.ok(&["get", "deploy", "-o", "wide"]).await;
    let header: Vec<&str> = deployments
        .lines()
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .collect();
    assert_eq!(
        header,
        [
            "NAME",
            "READY",
            "UP-TO-DATE",
            "AVAILABLE",
            "AGE",
            "CONTAINERS",
            "IMAGES",
            "SELECTOR"
        ]
    );
    let row: Vec<&str> = deployments
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["web", "0/3", "0", "0", row[4], "nginx", "nginx", "app=web"]
    );
    let bindings = env.ok(&["get", "rolebinding", "-o", "wide"]).await;
    let row: Vec<&str> = bindings
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    assert_eq!(
        row,
        ["rb", "Role/r", row[2], "ann", "default/bot"],
        "{bindings}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn applying_a_crd_and_its_object_in_one_file_asks_to_install_the_crd_first() {
    let env = Env::start("crd-and-object").await;
    let both = format!(
        "{}\n---\n{}",
        kube_support::WIDGET_CRD,
        widget("w", 3, "{app: demo}")
    );
    let file = env.write("both.yaml", &both);
    let path = file.to_str().expect("utf8");
    let (ok, out, err) = env.kubectl(&["apply", "-f", path]).await;
    assert!(!ok);
    assert!(out.contains("widgets.test.zis.dev created"), "{out}");
    assert!(
        err.contains(r#"no matches for kind "Widget" in version "test.zis.dev/v1""#)
            && err.contains("ensure CRDs are installed first"),
        "the real server's answer, not a validation failure: {err}"
    );
    let again = env.ok(&["apply", "-f", path]).await;
    assert!(again.contains("widget.test.zis.dev/w created"), "{again}");
    env.finish().await;
}
