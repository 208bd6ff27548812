//! The Kubernetes API against the real kubectl: the sandbox with the kubectl on the PATH here,
//! and the real API server of `tests/cluster` with its own kubectl in `kube_kubectl_real` (the
//! same tests; see `kube_support` for how the backend is chosen).

mod kube_support;

use std::io::BufRead;
use std::time::Duration;

use kube_support::{Env, Kubectl, gizmo_crd_in, gizmo_in, on_real_api_server, scratch_dir, widget};

/// Sandbox only: `zis-sandbox kube` is the sandbox's own command line.
#[test]
fn the_cli_writes_a_kubeconfig_announces_its_url_and_exits_cleanly_on_sigterm() {
    if on_real_api_server() {
        return;
    }
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
    let (ok, out, err) = runtime.block_on(Kubectl::from_path(&kubeconfig, &dir).run(&[
        "get",
        "namespace",
        "kube-system",
        "-o",
        "name",
    ]));
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
    let Some(env) = Env::start("apply").await else {
        return;
    };
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
    let Some(env) = Env::start("patch").await else {
        return;
    };
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
    let Some(env) = Env::start("wait").await else {
        return;
    };
    env.install_widgets().await;
    let file = env.write("w.yaml", &widget("w", 3, "{app: demo}"));
    env.ok(&["apply", "-f", file.to_str().expect("utf8")]).await;
    let waiter = {
        let kubectl = env.kubectl.clone();
        tokio::spawn(async move {
            kubectl
                .run(&["wait", "--for=condition=Ready", "widget/w", "--timeout=20s"])
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
    let Some(env) = Env::start("finalizer").await else {
        return;
    };
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
    let Some(env) = Env::start("schema").await else {
        return;
    };
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
    let Some(env) = Env::start("generators").await else {
        return;
    };
    let answer = env
        .ok(&["auth", "can-i", "list", "secrets", "-n", "default"])
        .await;
    assert_eq!(answer.trim(), "yes");
    let team = env.unique("team");
    env.ok(&["create", "namespace", &team]).await;
    env.ok(&[
        "-n",
        &team,
        "create",
        "secret",
        "generic",
        "creds",
        "--from-literal=token=abc",
    ])
    .await;
    env.ok(&[
        "-n",
        &team,
        "create",
        "configmap",
        "settings",
        "--from-literal=a=b",
    ])
    .await;
    env.ok(&["-n", &team, "create", "serviceaccount", "bot"])
        .await;
    let data = env
        .ok(&[
            "-n",
            &team,
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
    // kubectl waits until the namespace is gone (on the real server, until the namespace
    // controller has emptied it).
    env.ok(&["delete", "namespace", &team]).await;
    let (ok, _, err) = env.kubectl(&["get", "namespace", &team]).await;
    assert!(!ok, "namespace gone");
    assert!(err.contains("not found"), "{err}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_auth_can_i_list_and_whoami_describe_an_all_powerful_user() {
    let Some(env) = Env::start("auth").await else {
        return;
    };
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
    assert_eq!(review["status"]["userInfo"]["username"], env.username());
    // Stamped with the time of the request (not left unset, which a protobuf answer would
    // show as the Unix epoch).
    let stamped = review["metadata"]["creationTimestamp"]
        .as_str()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .unwrap_or_else(|| panic!("a creationTimestamp: {who}"));
    let age = chrono::Utc::now().signed_duration_since(stamped);
    assert!(age.num_seconds().abs() < 60, "stamped now: {who}");
    let table = env.ok(&["auth", "whoami"]).await;
    assert!(table.contains("system:masters"), "{table}");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cluster_info_works_and_services_apply_with_defaults_and_print_like_a_cluster() {
    let Some(env) = Env::start("services").await else {
        return;
    };
    let ns = env.ns.as_str();
    // cluster-info lists the control plane and the Services labelled as cluster services of the
    // namespace given (kube-system by default; this test's own on the shared real server).
    let info = env.ok(&["-n", ns, "cluster-info"]).await;
    assert!(
        info.starts_with(&format!(
            "Kubernetes control plane is running at {}\n",
            env.url()
        )),
        "{info}"
    );
    let service = env.write(
        "svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: metrics\n  labels: {kubernetes.io/cluster-service: \"true\"}\nspec:\n  selector: {app: op}\n  ports:\n  - port: 8080\n",
    );
    env.ok(&["-n", ns, "apply", "-f", service.to_str().expect("utf8")])
        .await;
    let table = env.ok(&["-n", ns, "get", "svc", "-o", "wide"]).await;
    let row: Vec<&str> = table
        .lines()
        .nth(1)
        .expect("a row")
        .split_whitespace()
        .collect();
    // The real server allocates a cluster IP from its service range; the sandbox allocates none
    // (README, "Simplified").
    let cluster_ip = if env.is_real() {
        assert!(row[2].parse::<std::net::Ipv4Addr>().is_ok(), "{table}");
        row[2]
    } else {
        "<none>"
    };
    assert_eq!(
        row,
        [
            "metrics",
            "ClusterIP",
            cluster_ip,
            "<none>",
            "8080/TCP",
            row[5],
            "app=op"
        ],
        "{table}"
    );
    let spec = env
        .ok(&[
            "-n",
            ns,
            "get",
            "svc",
            "metrics",
            "-o",
            "jsonpath={.spec.ports[0].targetPort} {.spec.ports[0].protocol} {.spec.sessionAffinity} {.spec.internalTrafficPolicy} {.status}",
        ])
        .await;
    assert_eq!(spec, r#"8080 TCP None Cluster {"loadBalancer":{}}"#);
    let info = env.ok(&["-n", ns, "cluster-info"]).await;
    assert!(info.contains("metrics is running at"), "{info}");
    let all = env.ok(&["-n", ns, "get", "all", "-o", "name"]).await;
    assert_eq!(all.trim(), "service/metrics");
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_explain_describes_the_fields_of_built_in_kinds() {
    let Some(env) = Env::start("explain").await else {
        return;
    };
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
    let Some(env) = Env::start("rbac").await else {
        return;
    };
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
    let (agg, admins) = (env.unique("agg"), env.unique("admins"));
    env.ok(&["create", "clusterrole", &agg, "--aggregation-rule=team=a"])
        .await;
    env.ok(&[
        "create",
        "clusterrolebinding",
        &admins,
        &format!("--clusterrole={agg}"),
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
            &agg,
            "-o",
            "jsonpath={.aggregationRule.clusterRoleSelectors[0].matchLabels.team}",
        ])
        .await;
    assert_eq!(selectors, "a");
    let user = env
        .ok(&[
            "get",
            "clusterrolebinding",
            &admins,
            "-o",
            "jsonpath={.subjects[0].kind}={.subjects[0].name}",
        ])
        .await;
    assert_eq!(user, "User=ann");
    let deployment = env
        .ok(&["get", "deploy", "web", "-o", "jsonpath={.spec.replicas} {.spec.selector.matchLabels.app} {.spec.template.spec.containers}"])
        .await;
    // With the real server's container defaults (see also
    // deployments_get_the_real_servers_defaults_down_to_their_containers).
    assert_eq!(
        deployment,
        r#"2 web [{"image":"nginx","imagePullPolicy":"Always","name":"nginx","ports":[{"containerPort":80,"protocol":"TCP"}],"resources":{},"terminationMessagePath":"/dev/termination-log","terminationMessagePolicy":"File"}]"#
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_cannot_delete_the_default_and_system_namespaces() {
    let Some(env) = Env::start("immortal").await else {
        return;
    };
    let team = env.unique("team");
    env.ok(&["create", "namespace", &team]).await;
    let (ok, _, err) = env.kubectl(&["delete", "namespace", "default"]).await;
    assert!(!ok);
    assert!(
        err.contains(
            r#"Error from server (Forbidden): namespaces "default" is forbidden: this namespace may not be deleted"#
        ),
        "{err}"
    );
    // Named rather than `--all`, which would take the other tests' namespaces on the shared
    // real server.
    let (ok, out, err) = env
        .kubectl(&["delete", "namespace", &team, "kube-system", "kube-public"])
        .await;
    assert!(!ok, "the system namespaces refuse: {out}");
    assert!(
        out.contains(&format!(r#"namespace "{team}" deleted"#)),
        "{out}"
    );
    for system in ["kube-system", "kube-public"] {
        assert!(
            err.contains(&format!(
                r#"namespaces "{system}" is forbidden: this namespace may not be deleted"#
            )),
            "{err}"
        );
    }
    let left = env.ok(&["get", "namespaces", "-o", "name"]).await;
    let left: Vec<&str> = left.lines().collect();
    for system in ["default", "kube-public", "kube-system"] {
        assert!(
            left.contains(&format!("namespace/{system}").as_str()),
            "{left:?}"
        );
    }
    // kubectl does not wait for the deletion when some of the names failed: the real server's
    // namespace controller removes the namespace shortly after, the sandbox at once.
    env.settles(&format!("namespace {team} is gone"), || async {
        let (found, _, _) = env.kubectl(&["get", "namespace", &team]).await;
        !found
    })
    .await;
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_get_watch_ends_when_the_crd_is_deleted() {
    let Some(env) = Env::start("watch-crd").await else {
        return;
    };
    // A CRD of its own: the common one must stay for the other tests on the real server.
    let group = format!("{}.test.zis.dev", env.unique("watch"));
    let crd = env.write("crd.yaml", &gizmo_crd_in(&group));
    env.ok(&["apply", "-f", crd.to_str().expect("utf8")]).await;
    let crd_name = format!("crd/gizmos.{group}");
    env.ok(&[
        "wait",
        "--for=condition=Established",
        &crd_name,
        "--timeout=10s",
    ])
    .await;
    let file = env.write("w.yaml", &gizmo_in(&group, "w", 3));
    env.ok(&["apply", "-f", file.to_str().expect("utf8")]).await;
    let watchers: Vec<_> = [env.ns.clone(), "kube-system".to_string()]
        .into_iter()
        .map(|namespace| {
            let kubectl = env.kubectl.clone();
            let resource = format!("gizmos.{group}");
            tokio::spawn(async move {
                let args = ["-n", &namespace, "get", &resource, "-w", "-o", "name"];
                tokio::time::timeout(Duration::from_secs(15), kubectl.run(&args)).await
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(800)).await;
    env.ok(&["delete", &crd_name]).await;
    let expected = format!("gizmo.{group}/w");
    for watcher in watchers {
        let (ok, out, err) = watcher
            .await
            .expect("watcher joins")
            .expect("the watch ends with the CRD, not at the timeout");
        assert!(ok, "{err}");
        assert!(out.lines().all(|l| l == expected), "{out}");
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configmaps_and_secrets_over_one_mebibyte_are_refused() {
    let Some(env) = Env::start("too-big").await else {
        return;
    };
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
    let Some(env) = Env::start("printers").await else {
        return;
    };
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
    let Some(env) = Env::start("crd-and-object").await else {
        return;
    };
    // A CRD of its own, new to the server (the common one is installed before the tests run).
    let group = format!("{}.test.zis.dev", env.unique("both"));
    let both = format!(
        "{}\n---\n{}",
        gizmo_crd_in(&group),
        gizmo_in(&group, "w", 3)
    );
    let file = env.write("both.yaml", &both);
    let path = file.to_str().expect("utf8");
    let (ok, out, err) = env.kubectl(&["apply", "-f", path]).await;
    assert!(!ok);
    assert!(out.contains(&format!("gizmos.{group} created")), "{out}");
    assert!(
        err.contains(&format!(
            r#"no matches for kind "Gizmo" in version "{group}/v1""#
        )) && err.contains("ensure CRDs are installed first"),
        "the real server's answer, not a validation failure: {err}"
    );
    env.ok(&[
        "wait",
        "--for=condition=Established",
        &format!("crd/gizmos.{group}"),
        "--timeout=10s",
    ])
    .await;
    let again = env.ok(&["apply", "-f", path]).await;
    assert!(
        again.contains(&format!("gizmo.{group}/w created")),
        "{again}"
    );
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deployments_get_the_real_servers_defaults_down_to_their_containers() {
    let Some(env) = Env::start("deployment-defaults").await else {
        return;
    };
    let manifest = env.write(
        "deployment.yaml",
        r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: full}
spec:
  selector: {matchLabels: {app: full}}
  template:
    metadata: {labels: {app: full}}
    spec:
      initContainers:
      - {name: init, image: "busybox:1.36"}
      containers:
      - name: main
        image: "nginx:latest"
        ports: [{containerPort: 80, name: http}]
        env: [{name: POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}]
        readinessProbe: {httpGet: {path: /, port: 80}}
        livenessProbe: {tcpSocket: {port: 80}}
        startupProbe: {exec: {command: ["true"]}, periodSeconds: 5}
      - {name: side, image: "registry.local:5000/side", imagePullPolicy: Never}
      volumes:
      - {name: secret, secret: {secretName: creds}}
      - {name: config, configMap: {name: settings}}
      - {name: scratch, emptyDir: {}}
"#,
    );
    env.ok(&["apply", "-f", manifest.to_str().expect("utf8")])
        .await;
    let json = env.ok(&["get", "deployment", "full", "-o", "json"]).await;
    let stored: serde_json::Value = serde_json::from_str(&json).expect("json");
    let timing = serde_json::json!({"timeoutSeconds": 1, "periodSeconds": 10, "successThreshold": 1, "failureThreshold": 3});
    let probe = |handler: serde_json::Value| {
        let mut probe = timing.clone();
        probe
            .as_object_mut()
            .expect("object")
            .extend(handler.as_object().expect("object").clone());
        probe
    };
    let defaults = serde_json::json!({
        "resources": {},
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    });
    let with_defaults = |container: serde_json::Value| {
        let mut container = container;
        container
            .as_object_mut()
            .expect("object")
            .extend(defaults.as_object().expect("object").clone());
        container
    };
    let expected = serde_json::json!({
        "replicas": 1,
        "revisionHistoryLimit": 10,
        "progressDeadlineSeconds": 600,
        "selector": {"matchLabels": {"app": "full"}},
        "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
        "template": {
            "metadata": {"labels": {"app": "full"}},
            "spec": {
                "dnsPolicy": "ClusterFirst",
                "restartPolicy": "Always",
                "schedulerName": "default-scheduler",
                "securityContext": {},
                "terminationGracePeriodSeconds": 30,
                "initContainers": [with_defaults(serde_json::json!(
                    {"name": "init", "image": "busybox:1.36", "imagePullPolicy": "IfNotPresent"}
                ))],
                "containers": [
                    with_defaults(serde_json::json!({
                        "name": "main",
                        "image": "nginx:latest",
                        "imagePullPolicy": "Always",
                        "ports": [{"containerPort": 80, "name": "http", "protocol": "TCP"}],
                        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}],
                        "readinessProbe": probe(serde_json::json!({"httpGet": {"path": "/", "port": 80, "scheme": "HTTP"}})),
                        "livenessProbe": probe(serde_json::json!({"tcpSocket": {"port": 80}})),
                        "startupProbe": probe(serde_json::json!({"exec": {"command": ["true"]}, "periodSeconds": 5})),
                    })),
                    with_defaults(serde_json::json!(
                        {"name": "side", "image": "registry.local:5000/side", "imagePullPolicy": "Never"}
                    )),
                ],
                "volumes": [
                    {"name": "secret", "secret": {"secretName": "creds", "defaultMode": 420}},
                    {"name": "config", "configMap": {"name": "settings", "defaultMode": 420}},
                    {"name": "scratch", "emptyDir": {}},
                ],
            },
        },
    });
    assert_eq!(stored["spec"], expected, "{json}");
    assert_eq!(stored["status"], serde_json::json!({}), "{json}");
    assert_eq!(stored["metadata"]["generation"], 1, "{json}");
    env.finish().await;
}
