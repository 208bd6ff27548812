//! Acceptance of the operator through the client platform teams really use: kubectl.
//!
//! Each test starts a fake ZIS server and a Kubernetes API on a runtime of its own (an in-process
//! sandbox per test here; in `kubectl_operator_real`, the same tests, one real control plane of
//! `tests/cluster` shared by the test binary, its own kubectl, and the operator running as its
//! ServiceAccount), and then drives the Kubernetes side with kubectl only: it applies
//! the CRD and the ready-to-apply files of `examples/` (client-side and server-side apply), starts
//! the real `zis-operator` binary, and checks what kubectl shows (`wait`, `get`, `explain`,
//! `describe`, `diff`, `patch`, `delete`) against what the fake ZIS holds (read through its admin
//! API). Skipped, with a note, when kubectl is not installed. A failing test keeps its directory
//! under the target's tmp dir (kubeconfig, operator log); a passing one removes it.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;
use zis_sandbox::cluster::ControlPlane;
use zis_sandbox::kube::KubeSandbox;
use zis_sandbox::zis::{FakeZis, FakeZisConfig};

/// The integration key the examples use.
const INTEGRATION: &str = "my_integration";
/// The placeholder access token of `examples/operator-credentials.yaml`; the fake accepts it, so
/// the example is applied exactly as shipped.
const EXAMPLE_ACCESS_TOKEN: &str = "replace-with-your-zis-oauth-access-token";
const CRD: &str = "crds/zisbearerconnections.yaml";
const CRD_NAME: &str = "zisbearerconnections.zis-operator.dev";

fn kubectl_available() -> bool {
    Command::new(kubectl_binary())
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The kubectl to run: the control plane's own on the real API server, else the PATH's.
fn kubectl_binary() -> PathBuf {
    match real_control_plane() {
        Some(Ok(plane)) => plane.kubectl(),
        _ => PathBuf::from("kubectl"),
    }
}

/// Whether this test binary is the one for the real API server.
fn on_real_api_server() -> bool {
    env!("CARGO_CRATE_NAME") == "kubectl_operator_real"
}

/// The real control plane this binary shares between its tests (started on first use; torn down
/// by `cluster.sh` once the binary has exited), or `None` in the sandbox binary.
fn real_control_plane() -> Option<&'static Result<ControlPlane, String>> {
    static PLANE: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    on_real_api_server().then(|| {
        PLANE.get_or_init(|| {
            let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("cluster-kubectl-{}", std::process::id()));
            let plane = ControlPlane::start(&dir).map_err(|e| e.to_string())?;
            // Installed once here: every test applies it again, which must then be a no-op, but
            // the first create must not race between tests.
            let installed = Command::new(plane.kubectl())
                .arg("--kubeconfig")
                .arg(plane.admin_kubeconfig())
                .args(["apply", "-f", &repo_path(CRD)])
                .output()
                .map_err(|e| format!("cannot run kubectl: {e}"))?;
            if !installed.status.success() {
                return Err(format!("installing the CRD: {}", text(&installed.stderr)));
            }
            Ok(plane)
        })
    })
}

/// Whether the tests can run here; prints why not.
fn can_run() -> bool {
    if let Some(Err(error)) = real_control_plane() {
        if ControlPlane::can_build() {
            panic!("the real API server did not start: {error}");
        }
        eprintln!("SKIPPED: {error}");
        return false;
    }
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return false;
    }
    true
}

/// Whether `zis-operator run` accepts `flag` (optional flags differ between versions).
fn operator_has_flag(flag: &str) -> bool {
    Command::new(env!("CARGO_BIN_EXE_zis-operator"))
        .args(["run", "--help"])
        .output()
        .is_ok_and(|out| text(&out.stdout).contains(flag))
}

fn repo_path(relative: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .display()
        .to_string()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// One test's world: a Kubernetes API sandbox, a fake ZIS, a namespace with the operator's
/// credentials, and the operator process watching that namespace.
struct World {
    /// Where the connections and their token Secrets live.
    ns: String,
    /// The operator's own namespace, holding its credentials Secret (as the docs lay it out;
    /// never the namespace of the connections, whose deletion would take the credentials first).
    system_ns: String,
    dir: PathBuf,
    /// Every right: what the person at the keyboard uses.
    kubeconfig: PathBuf,
    /// What the operator runs as (its ServiceAccount on the real API server).
    operator_kubeconfig: PathBuf,
    fake_url: String,
    http: reqwest::Client,
    operator: Option<Child>,
    operator_log: PathBuf,
    // Dropped last: the servers run on this runtime's worker threads while the test thread
    // blocks on kubectl.
    _servers: (Option<KubeSandbox>, FakeZis),
    runtime: tokio::runtime::Runtime,
}

impl World {
    /// Everything a platform team does before applying a connection: install the CRD, create the
    /// namespace, apply the operator's credentials Secret, start the operator.
    fn start(hint: &str) -> World {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"));
        let plane = real_control_plane().map(|started| match started {
            Ok(plane) => plane,
            Err(error) => panic!("the real API server is not available: {error}"),
        });
        let (sandbox, fake) = runtime.block_on(async {
            let any_port = "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}"));
            let sandbox =
                match plane {
                    Some(_) => None,
                    None => Some(KubeSandbox::start(any_port).await.unwrap_or_else(|e| {
                        panic!("cannot start the Kubernetes API sandbox: {e}")
                    })),
                };
            let fake = FakeZis::start(
                FakeZisConfig::new(INTEGRATION, EXAMPLE_ACCESS_TOKEN),
                any_port,
            )
            .await
            .unwrap_or_else(|e| panic!("cannot start the fake ZIS: {e}"));
            (sandbox, fake)
        });
        let unique = format!(
            "{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("kubectl-operator-{unique}-{hint}"));
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let (kubeconfig, operator_kubeconfig) = match (&sandbox, plane) {
            (Some(sandbox), _) => {
                let kubeconfig = dir.join("kubeconfig.yaml");
                sandbox
                    .write_kubeconfig(&kubeconfig)
                    .unwrap_or_else(|e| panic!("writing the kubeconfig: {e}"));
                (kubeconfig.clone(), kubeconfig)
            }
            (None, Some(plane)) => (plane.admin_kubeconfig(), plane.operator_kubeconfig()),
            (None, None) => unreachable!("either a sandbox or the real control plane"),
        };
        // The real API server is shared by every test of the binary: namespaces must not collide.
        let suffix = if plane.is_some() {
            format!("-{unique}")
        } else {
            String::new()
        };
        let mut world = World {
            ns: format!("shop-{hint}{suffix}"),
            system_ns: format!("zis-system-{hint}{suffix}"),
            operator_log: dir.join("operator.log"),
            dir,
            kubeconfig,
            operator_kubeconfig,
            fake_url: fake.url(),
            http: reqwest::Client::new(),
            operator: None,
            _servers: (sandbox, fake),
            runtime,
        };

        world.ok(&["apply", "-f", &repo_path(CRD)]);
        world.ok(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/{CRD_NAME}"),
            "--timeout=30s",
        ]);
        if world._servers.0.is_some() {
            // A fresh sandbox; on the real API server deploy/rbac.yaml made it.
            world.ok(&["create", "namespace", "zis-system"]);
        }
        world.ok(&["create", "namespace", &world.system_ns]);
        world.ok(&["create", "namespace", &world.ns]);
        world.ok(&[
            "apply",
            "-n",
            &world.system_ns,
            "-f",
            &repo_path("examples/operator-credentials.yaml"),
        ]);
        world.start_operator();
        world
    }

    fn start_operator(&mut self) {
        let log = File::create(&self.operator_log)
            .unwrap_or_else(|e| panic!("{}: {e}", self.operator_log.display()));
        let log_err = log.try_clone().unwrap_or_else(|e| panic!("{e}"));
        let mut command = Command::new(env!("CARGO_BIN_EXE_zis-operator"));
        command
            .arg("run")
            .args(["--zendesk-url", &self.fake_url, "--allow-http"])
            .args([
                "--credentials-secret",
                &format!("{}/zis-credentials", self.system_ns),
            ])
            .args(["--namespace", &self.ns, "--resync-interval", "2s"])
            // Leases live in zis-system, where the operator's RBAC allows them; one per test.
            .args(["--leader-election-namespace", "zis-system"])
            .args(["--leader-election-lease", &self.system_ns]);
        if operator_has_flag("--metrics-addr") {
            // Tests run in parallel: never the default port.
            command.args(["--metrics-addr", "127.0.0.1:0"]);
        }
        command
            .env("KUBECONFIG", &self.operator_kubeconfig)
            .env("POD_NAME", format!("{}-operator", self.system_ns))
            .env("RUST_LOG", "zis_operator=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err));
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("ZIS_") {
                command.env_remove(name);
            }
        }
        self.operator = Some(
            command
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start zis-operator: {e}")),
        );
    }

    fn operator_log(&self) -> String {
        std::fs::read(&self.operator_log)
            .map(|bytes| text(&bytes))
            .unwrap_or_default()
    }

    fn command(&self) -> Command {
        let mut command = Command::new(kubectl_binary());
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("kube-cache"))
            .env_remove("KUBECONFIG");
        command
    }

    /// Runs kubectl with `args`.
    fn run(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"))
    }

    /// Runs kubectl and insists on success; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "kubectl {} failed ({}):\nstdout: {}\nstderr: {}\noperator log tail:\n{}",
            args.join(" "),
            out.status,
            text(&out.stdout),
            text(&out.stderr),
            tail(&self.operator_log(), 30),
        );
        text(&out.stdout)
    }

    /// Runs kubectl in the world's namespace and insists on success.
    fn ok_ns(&self, args: &[&str]) -> String {
        let mut all = vec!["-n", self.ns.as_str()];
        all.extend_from_slice(args);
        self.ok(&all)
    }

    /// Runs kubectl in the world's namespace with `input` on stdin.
    fn run_ns_with_input(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command()
            .args(["-n", &self.ns])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
        if let Some(mut stdin) = child.stdin.take() {
            stdin
                .write_all(input.as_bytes())
                .unwrap_or_else(|e| panic!("writing kubectl's stdin: {e}"));
        }
        child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for kubectl: {e}"))
    }

    /// Runs `kubectl -n NS first... | kubectl -n NS second...` and insists both succeed.
    fn pipe_ns(&self, first: &[&str], second: &[&str]) {
        let mut producer = self
            .command()
            .args(["-n", &self.ns])
            .args(first)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
        let stdout = producer
            .stdout
            .take()
            .unwrap_or_else(|| panic!("kubectl's stdout is piped"));
        let consumer = self
            .command()
            .args(["-n", &self.ns])
            .args(second)
            .stdin(Stdio::from(stdout))
            .output()
            .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
        let produced = producer
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for kubectl: {e}"));
        assert!(
            produced.status.success() && consumer.status.success(),
            "kubectl {} | kubectl {} failed: {}{}",
            first.join(" "),
            second.join(" "),
            text(&produced.stderr),
            text(&consumer.stderr)
        );
    }

    /// Sends a signal (`STOP`, `CONT`) to the operator process this test started.
    fn signal_operator(&self, signal: &str) {
        let pid = self
            .operator
            .as_ref()
            .map(Child::id)
            .unwrap_or_else(|| panic!("the operator is not running"));
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .unwrap_or_else(|e| panic!("cannot run kill: {e}"));
        assert!(status.success(), "kill -{signal} {pid} failed");
    }

    fn apply_example(&self, file: &str) {
        self.ok_ns(&["apply", "-f", &repo_path(&format!("examples/{file}"))]);
    }

    fn wait_ready(&self, name: &str) {
        self.ok_ns(&[
            "wait",
            "--for=condition=Ready",
            &format!("zbc/{name}"),
            "--timeout=30s",
        ]);
    }

    /// Every bearer-token connection the fake holds, with its true token.
    fn remote_connections(&self) -> Vec<Value> {
        let url = format!("{}/_fake/connections?type=bearer_token", self.fake_url);
        let body: Value = self.runtime.block_on(async {
            let response = self
                .http
                .get(&url)
                .send()
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}"));
            assert!(response.status().is_success(), "GET {url}: {response:?}");
            response
                .json()
                .await
                .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        });
        match body.get("connections") {
            Some(Value::Array(list)) => list.clone(),
            _ => panic!("unexpected admin answer: {body}"),
        }
    }

    fn remote(&self, name: &str) -> Option<Value> {
        self.remote_connections()
            .into_iter()
            .find(|c| c["integration"] == INTEGRATION && c["name"] == name)
    }

    /// Polls the fake until `check` holds for the connection `name` (or its absence).
    fn await_remote(&self, name: &str, what: &str, check: impl Fn(Option<&Value>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let current = self.remote(name);
            if check(current.as_ref()) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the remote connection {name} never {what}; it is {current:?}\noperator log:\n{}",
                tail(&self.operator_log(), 30)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for World {
    fn drop(&mut self) {
        if let Some(mut child) = self.operator.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

fn tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[test]
fn the_examples_become_ready_and_kubectl_get_explain_and_describe_show_them() {
    if !can_run() {
        return;
    }
    let world = World::start("show");
    world.apply_example("connection.yaml");
    world.wait_ready("payments-api");

    let remote = world
        .remote("payments-api")
        .unwrap_or_else(|| panic!("no remote connection payments-api"));
    assert_eq!(remote["allowed_domain"], "api.payments.example.com");
    assert_eq!(remote["token"], "the-bearer-token-your-integration-sends");

    // The printer columns, by short name and by category.
    for resource in ["zbc", "zis"] {
        let table = world.ok_ns(&["get", resource]);
        let mut lines = table.lines();
        assert_eq!(
            words(lines.next().unwrap_or_default()),
            [
                "NAME",
                "INTEGRATION",
                "CONNECTION",
                "DOMAIN",
                "READY",
                "REASON",
                "AGE"
            ],
            "kubectl get {resource}:\n{table}"
        );
        let row = lines.next().unwrap_or_default().to_string();
        assert_eq!(
            words(&row).get(..6),
            Some(
                &[
                    "payments-api",
                    INTEGRATION,
                    "payments-api",
                    "api.payments.example.com",
                    "True",
                    "Synced"
                ][..]
            ),
            "kubectl get {resource}:\n{table}"
        );
        assert_eq!(lines.next(), None, "one row only:\n{table}");
    }

    // The full resource name and YAML output: the status a person reads.
    let yaml = world.ok_ns(&["get", CRD_NAME, "payments-api", "-o", "yaml"]);
    for expected in [
        "kind: ZisBearerConnection",
        "zis-operator.dev/cleanup",
        "observedGeneration: 1",
        "connectionName: payments-api",
        "tokenFingerprint: hmac-sha256:",
        "reason: Synced",
    ] {
        assert!(yaml.contains(expected), "no {expected:?} in:\n{yaml}");
    }
    assert!(
        !yaml.contains("the-bearer-token-your-integration-sends"),
        "the token leaked into the object:\n{yaml}"
    );

    // The resource is in category `zis` only, not in `all`: discovery says so, and
    // `kubectl get all` never lists it. (The sandbox serves no built-in resource of category
    // `all`, such as pods, so there kubectl answers that the type `all` is unknown; on a real
    // cluster it lists the workloads and no connection.)
    let resources = world.ok(&[
        "api-resources",
        "--api-group=zis-operator.dev",
        "-o",
        "wide",
    ]);
    let row = resources
        .lines()
        .find(|line| line.starts_with("zisbearerconnections "))
        .unwrap_or_else(|| panic!("no zisbearerconnections in api-resources:\n{resources}"));
    assert_eq!(
        words(row).last(),
        Some(&"zis"),
        "the categories column:\n{resources}"
    );
    let all = world.run(&["get", "all", "-n", &world.ns]);
    assert!(
        !text(&all.stdout).contains("payments-api"),
        "kubectl get all lists the connection:\n{}",
        text(&all.stdout)
    );
    assert!(
        all.status.success() || text(&all.stderr).contains(r#"resource type "all""#),
        "kubectl get all failed otherwise: {}",
        text(&all.stderr)
    );

    // The schema is published, so kubectl explain documents every spec field.
    let explained = world.ok(&["explain", "zbc.spec"]);
    for field in [
        "integration",
        "connectionName",
        "allowedDomain",
        "tokenSecretRef",
        "deletionPolicy",
        "adoptionPolicy",
        "suspend",
    ] {
        assert!(
            explained.contains(field),
            "kubectl explain zbc.spec does not mention {field}:\n{explained}"
        );
    }

    // kubectl describe reads core/v1 Events; the operator writes events.k8s.io/v1 ones.
    let described = world.ok_ns(&["describe", "zbc", "payments-api"]);
    let events = described
        .split("Events:")
        .nth(1)
        .unwrap_or_else(|| panic!("no Events section in kubectl describe:\n{described}"));
    assert!(
        events.lines().any(|line| {
            let w = words(line);
            w.first() == Some(&"Normal") && w.get(1) == Some(&"Created")
        }),
        "no Normal Created event in kubectl describe:\n{described}"
    );
}

#[test]
fn rotation_a_domain_patch_and_deletion_through_kubectl_reach_zis() {
    if !can_run() {
        return;
    }
    let world = World::start("life");
    world.apply_example("connection.yaml");
    world.wait_ready("payments-api");
    let first = world
        .remote("payments-api")
        .unwrap_or_else(|| panic!("no remote connection payments-api"));
    assert_eq!(first["token"], "the-bearer-token-your-integration-sends");

    // Rotation the way the docs show it: a client-side dry run piped into apply.
    let rotated = "rotated-bearer-token-0123456789";
    world.pipe_ns(
        &[
            "create",
            "secret",
            "generic",
            "payments-token",
            &format!("--from-literal=token={rotated}"),
            "--dry-run=client",
            "-o",
            "yaml",
        ],
        &["apply", "-f", "-"],
    );
    world.await_remote("payments-api", "got the rotated token", |c| {
        c.is_some_and(|c| c["token"] == rotated)
    });

    // A spec change: kubectl wait must not return on the Ready of the previous generation. The
    // operator is paused (SIGSTOP) so the old Ready=True is certainly still there when kubectl
    // looks; it must time out rather than report the condition met.
    world.signal_operator("STOP");
    world.ok_ns(&[
        "patch",
        "zbc",
        "payments-api",
        "--type",
        "merge",
        "-p",
        r#"{"spec":{"allowedDomain":"api2.payments.example.com"}}"#,
    ]);
    let stale = world.run(&[
        "wait",
        "-n",
        &world.ns,
        "--for=condition=Ready",
        "zbc/payments-api",
        "--timeout=3s",
    ]);
    world.signal_operator("CONT");
    assert!(
        !stale.status.success(),
        "kubectl wait returned on the Ready of generation 1: {}",
        text(&stale.stdout)
    );
    assert!(
        text(&stale.stderr).contains("timed out"),
        "kubectl wait failed otherwise: {}",
        text(&stale.stderr)
    );
    world.wait_ready("payments-api");
    let after = world
        .remote("payments-api")
        .unwrap_or_else(|| panic!("the remote connection went away"));
    assert_eq!(
        after["allowed_domain"], "api2.payments.example.com",
        "kubectl wait returned before the new domain reached ZIS"
    );
    assert_eq!(after["token"], rotated);
    let generation = world.ok_ns(&[
        "get",
        "zbc",
        "payments-api",
        "-o",
        "jsonpath={.metadata.generation} {.status.observedGeneration}",
    ]);
    assert_eq!(generation.trim(), "2 2");

    // The pushes are recorded as events (core/v1 field selectors work on them), without tokens.
    let events = world.ok_ns(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.kind=ZisBearerConnection,involvedObject.name=payments-api",
        "-o",
        "custom-columns=TYPE:.type,REASON:.reason,MESSAGE:.message",
    ]);
    for reason in ["Created", "Updated"] {
        assert!(
            events
                .lines()
                .any(|line| words(line).get(..2) == Some(&["Normal", reason][..])),
            "no Normal {reason} event:\n{events}"
        );
    }
    let log = world.operator_log();
    for token in [
        rotated,
        "the-bearer-token-your-integration-sends",
        EXAMPLE_ACCESS_TOKEN,
    ] {
        assert!(!events.contains(token), "a token in the events:\n{events}");
        assert!(!log.contains(token), "a token in the operator's log");
    }

    // Deletion waits for the finalizer, which deletes the remote connection first.
    world.ok_ns(&[
        "delete",
        "zbc",
        "payments-api",
        "--wait=true",
        "--timeout=30s",
    ]);
    assert_eq!(
        world.remote("payments-api"),
        None,
        "kubectl delete returned while the remote connection still exists"
    );
    let gone = world.run(&["get", "zbc", "payments-api", "-n", &world.ns]);
    assert!(!gone.status.success());
    assert!(
        text(&gone.stderr).contains("NotFound") || text(&gone.stderr).contains("not found"),
        "kubectl get after delete: {}",
        text(&gone.stderr)
    );
}

#[test]
fn an_orphaned_connection_survives_kubectl_delete_and_is_not_taken_back_under_never() {
    if !can_run() {
        return;
    }
    let world = World::start("orphan");
    world.apply_example("connection-orphan-never.yaml");
    world.wait_ready("ledger-api");
    let table = world.ok_ns(&["get", "zbc", "ledger-api"]);
    let row = table.lines().nth(1).unwrap_or_default().to_string();
    assert_eq!(
        words(&row).get(..6),
        Some(
            &[
                "ledger-api",
                INTEGRATION,
                "ledger_api",
                "ledger.example.com",
                "True",
                "Synced"
            ][..]
        ),
        "kubectl get zbc:\n{table}"
    );

    world.ok_ns(&[
        "delete",
        "zbc",
        "ledger-api",
        "--wait=true",
        "--timeout=30s",
    ]);
    let gone = world.run(&["get", "zbc", "ledger-api", "-n", &world.ns]);
    assert!(!gone.status.success(), "the object is still there");
    // The finalizer is gone, so the operator is done with it: the remote must still be there.
    let remote = world
        .remote("ledger_api")
        .unwrap_or_else(|| panic!("the orphaned remote connection was deleted"));
    assert_eq!(remote["token"], "the-bearer-token-the-ledger-api-expects");
    let described = text(&world.run(&["get", "events", "-n", &world.ns]).stdout);
    assert!(
        described.contains("Orphaned"),
        "no Orphaned event in kubectl get events:\n{described}"
    );

    // Applied again, the object finds its name taken remotely (by the orphan) and, with
    // adoptionPolicy Never, reports Conflict and writes nothing.
    world.apply_example("connection-orphan-never.yaml");
    world.ok_ns(&[
        "wait",
        "--for=condition=Stalled",
        "zbc/ledger-api",
        "--timeout=30s",
    ]);
    let ready = world.ok_ns(&[
        "get",
        "zbc",
        "ledger-api",
        "-o",
        r#"jsonpath={.status.conditions[?(@.type=="Ready")].status} {.status.conditions[?(@.type=="Ready")].reason} remote={.status.remote}"#,
    ]);
    assert_eq!(ready, "False Conflict remote=", "Ready and status.remote");
    assert_eq!(
        world.remote("ledger_api"),
        Some(remote),
        "the remote connection was written to under adoptionPolicy Never"
    );
}

#[test]
fn kubectl_apply_rejects_invalid_specs_with_the_field_named() {
    if !can_run() {
        return;
    }
    let world = World::start("invalid");
    // (what, spec, what stderr must say): the field and why, as the API server words it.
    let cases: [(&str, &str, &[&str]); 7] = [
        (
            "a URL as the domain",
            "integration: my_integration\n  allowedDomain: https://api.example.com/hook\n  tokenSecretRef: {name: t}",
            &[
                "is invalid",
                "spec.allowedDomain",
                "without a scheme such as https://",
            ],
        ),
        (
            "an integration key with capitals",
            "integration: My Integration\n  allowedDomain: api.example.com\n  tokenSecretRef: {name: t}",
            &[
                "is invalid",
                "spec.integration",
                "must be a ZIS integration key",
            ],
        ),
        (
            "the reserved connection name",
            "integration: my_integration\n  connectionName: zendesk\n  allowedDomain: api.example.com\n  tokenSecretRef: {name: t}",
            &["is invalid", "spec.connectionName", "reserved"],
        ),
        (
            "an unknown deletion policy",
            "integration: my_integration\n  allowedDomain: api.example.com\n  tokenSecretRef: {name: t}\n  deletionPolicy: Sometimes",
            &["is invalid", "spec.deletionPolicy", "Unsupported value"],
        ),
        (
            "no token Secret",
            "integration: my_integration\n  allowedDomain: api.example.com",
            &["is invalid", "spec.tokenSecretRef", "Required value"],
        ),
        (
            "no domain",
            "integration: my_integration\n  tokenSecretRef: {name: t}",
            &["is invalid", "spec.allowedDomain", "Required value"],
        ),
        (
            "a misspelt field",
            "integration: my_integration\n  allowedDomian: api.example.com\n  allowedDomain: api.example.com\n  tokenSecretRef: {name: t}",
            &["unknown field", "spec.allowedDomian"],
        ),
    ];
    for (what, spec, expected) in cases {
        let manifest = format!(
            "apiVersion: zis-operator.dev/v1alpha1\nkind: ZisBearerConnection\n\
             metadata:\n  name: bad\nspec:\n  {spec}\n"
        );
        let out = world.run_ns_with_input(&["apply", "-f", "-"], &manifest);
        let stderr = text(&out.stderr);
        assert!(
            !out.status.success(),
            "kubectl apply accepted {what}: {}",
            text(&out.stdout)
        );
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "kubectl apply of {what}: no {needle:?} in: {stderr}"
            );
        }
    }
    let listed = world.run(&["get", "zbc", "-n", &world.ns, "-o", "name"]);
    assert_eq!(
        text(&listed.stdout).trim(),
        "",
        "a rejected object was stored"
    );
    assert!(
        world.remote_connections().is_empty(),
        "something reached ZIS"
    );
}

#[test]
fn server_side_apply_as_gitops_tools_use_it_keeps_the_finalizer_and_reaches_zis() {
    if !can_run() {
        return;
    }
    let world = World::start("ssa");
    let example = repo_path("examples/connection.yaml");
    world.ok_ns(&[
        "apply",
        "--server-side",
        "--field-manager=gitops",
        "-f",
        &example,
    ]);
    world.wait_ready("payments-api");

    // The desired state changes in git and is applied again by the same field manager: the
    // operator's finalizer (a field kubectl never set) survives, and the change reaches ZIS.
    let manifest = std::fs::read_to_string(&example)
        .unwrap_or_else(|e| panic!("{example}: {e}"))
        .replace("api.payments.example.com", "api3.payments.example.com");
    let out = world.run_ns_with_input(
        &[
            "apply",
            "--server-side",
            "--field-manager=gitops",
            "-f",
            "-",
        ],
        &manifest,
    );
    assert!(
        out.status.success(),
        "kubectl apply --server-side: {}",
        text(&out.stderr)
    );
    world.wait_ready("payments-api");
    let finalizers = world.ok_ns(&[
        "get",
        "zbc",
        "payments-api",
        "-o",
        "jsonpath={.metadata.finalizers}",
    ]);
    assert!(
        finalizers.contains("zis-operator.dev/cleanup"),
        "the finalizer is gone after a server-side apply: {finalizers}"
    );
    let remote = world
        .remote("payments-api")
        .unwrap_or_else(|| panic!("no remote connection payments-api"));
    assert_eq!(remote["allowed_domain"], "api3.payments.example.com");

    // kubectl diff against the live object shows no spec change once applied.
    let diff = world.run_ns_with_input(
        &["diff", "--server-side", "--field-manager=gitops", "-f", "-"],
        &manifest,
    );
    assert_eq!(
        diff.status.code(),
        Some(0),
        "kubectl diff: {}",
        text(&diff.stderr)
    );
    assert!(
        !text(&diff.stdout).contains("allowedDomain"),
        "kubectl diff shows a spec change after apply:\n{}",
        text(&diff.stdout)
    );
}

#[test]
fn deleting_the_namespace_with_kubectl_deletes_the_remote_connections_first() {
    if !can_run() {
        return;
    }
    let world = World::start("nsdel");
    world.apply_example("connection.yaml");
    world.wait_ready("payments-api");
    assert!(world.remote("payments-api").is_some());

    // The namespace goes with everything in it: kubectl returns once the connection's finalizer
    // has deleted the remote connection and the namespace is gone.
    world.ok(&[
        "delete",
        "namespace",
        &world.ns,
        "--wait=true",
        "--timeout=30s",
    ]);
    assert_eq!(
        world.remote("payments-api"),
        None,
        "the namespace is gone but its remote connection is not"
    );
}
