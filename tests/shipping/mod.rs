//! What the tests of the shipped artefacts share (the Helm chart, the plain manifests, the GitOps
//! health checks): the tools they drive, and reading what the chart renders.
//!
//! - `helm`, `kstatus` and `promrules` are built from their pinned Go modules by
//!   `tests/tools/build.sh` (cached
//!   in `.cache/tools/`; `ZIS_HELM` points at a helm of your own instead). Without Go the tests
//!   that need them print `SKIPPED` and return, as the suites on the real API server do.
//! - Lua: a `lua5.1` (Argo CD runs health checks with gopher-lua, a Lua 5.1), else `lua5.4` or
//!   `lua` from the PATH (`.ci/run` installs Debian's `lua5.1`).

// Shared by several test binaries, each using part of it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

/// The repository's root.
pub fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

pub fn chart_dir() -> PathBuf {
    repo().join("charts/zis-operator")
}

/// The values files the chart is checked with: the defaults (no file) and each `ci/*.yaml`.
pub fn values_files() -> Vec<(String, Option<PathBuf>)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(chart_dir().join("ci"))
        .unwrap_or_else(|e| panic!("charts/zis-operator/ci: {e}"))
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    files.sort();
    let mut all = vec![("default values".to_owned(), None)];
    all.extend(files.into_iter().map(|path| {
        let name = format!(
            "ci/{}",
            path.file_name().unwrap_or_default().to_string_lossy()
        );
        (name, Some(path))
    }));
    all
}

/// A Go tool of `tests/tools/` (built once per test binary), or `None` without Go.
fn go_tool(name: &'static str, cell: &'static OnceLock<Option<PathBuf>>) -> Option<PathBuf> {
    cell.get_or_init(|| {
        let output = Command::new("bash")
            .arg(repo().join("tests/tools/build.sh"))
            .arg(name)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run tests/tools/build.sh: {e}"));
        match output.status.code() {
            Some(0) => {
                let path = String::from_utf8_lossy(&output.stdout).trim().to_owned();
                Some(PathBuf::from(path))
            }
            Some(3) => {
                eprintln!(
                    "SKIPPED: {name} is built from its Go module and Go is not installed (tests/tools/build.sh)"
                );
                None
            }
            _ => panic!(
                "tests/tools/build.sh {name} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    })
    .clone()
}

/// The helm CLI, or `None` (with a note) when it cannot be built here.
pub fn helm() -> Option<PathBuf> {
    static HELM: OnceLock<Option<PathBuf>> = OnceLock::new();
    if let Some(path) = std::env::var_os("ZIS_HELM").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    go_tool("helm", &HELM)
}

/// The kstatus program of `tests/tools/kstatus`, or `None` (with a note).
pub fn kstatus_tool() -> Option<PathBuf> {
    static KSTATUS: OnceLock<Option<PathBuf>> = OnceLock::new();
    go_tool("kstatus", &KSTATUS)
}

/// The promrules program of `tests/tools/promrules` (Prometheus's own rule loader), or `None`.
pub fn promrules_tool() -> Option<PathBuf> {
    static PROMRULES: OnceLock<Option<PathBuf>> = OnceLock::new();
    go_tool("promrules", &PROMRULES)
}

/// A Lua interpreter from the PATH, or `None` (with a note).
pub fn lua() -> Option<PathBuf> {
    static LUA: OnceLock<Option<PathBuf>> = OnceLock::new();
    LUA.get_or_init(|| {
        let found = ["lua5.1", "lua5.4", "lua"].into_iter().find(|name| {
            Command::new(name)
                .arg("-v")
                .output()
                .is_ok_and(|out| out.status.success())
        });
        if found.is_none() {
            eprintln!(
                "SKIPPED: no Lua interpreter (lua5.1, lua5.4 or lua) on the PATH; .ci/run installs Debian's lua5.1"
            );
        }
        found.map(PathBuf::from)
    })
    .clone()
}

/// Runs a command to completion with `input` on stdin; its stdout, or a message with its stderr.
pub fn run(command: &mut Command, input: Option<&str>) -> Result<String, String> {
    let what = format!("{command:?}");
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run {what}: {e}"))?;
    // Dropped at the end of the statement, so the child sees the end of its input.
    if let (Some(mut stdin), Some(text)) = (child.stdin.take(), input) {
        stdin
            .write_all(text.as_bytes())
            .map_err(|e| format!("{what}: writing stdin: {e}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("{what}: {e}"))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(format!(
            "{what} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            String::from_utf8_lossy(&output.stdout)
        ))
    }
}

/// A helm command that keeps its configuration and caches in a folder of the test's own, never
/// in the developer's home.
pub fn helm_command(helm: &Path) -> Command {
    let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("helm-home");
    let mut command = Command::new(helm);
    command
        .env("HELM_CONFIG_HOME", home.join("config"))
        .env("HELM_CACHE_HOME", home.join("cache"))
        .env("HELM_DATA_HOME", home.join("data"))
        .env_remove("HELM_NAMESPACE")
        .env_remove("KUBECONFIG");
    command
}

/// `helm template RELEASE charts/zis-operator -n NAMESPACE [-f FILE] [--set ...] [extra]`.
pub fn template(
    helm: &Path,
    release: &str,
    namespace: &str,
    values: Option<&Path>,
    sets: &[&str],
    extra: &[&str],
) -> Result<String, String> {
    let mut command = helm_command(helm);
    command
        .arg("template")
        .arg(release)
        .arg(chart_dir())
        .args(["--namespace", namespace]);
    if let Some(file) = values {
        command.arg("--values").arg(file);
    }
    for set in sets {
        command.args(["--set", set]);
    }
    command.args(extra);
    run(&mut command, None)
}

/// The documents of a YAML stream, as JSON values (empty documents left out).
pub fn documents(text: &str) -> Vec<Value> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|document| {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("a document does not parse: {e}\n{text}"));
            (!value.is_null()).then_some(value)
        })
        .collect()
}

/// The first document of `kind` (and `name`, if given).
pub fn find<'a>(documents: &'a [Value], kind: &str, name: Option<&str>) -> Option<&'a Value> {
    documents.iter().find(|d| {
        d["kind"] == kind && name.is_none_or(|n| d["metadata"]["name"].as_str() == Some(n))
    })
}

/// Every document of `kind`.
pub fn all_of<'a>(documents: &'a [Value], kind: &str) -> Vec<&'a Value> {
    documents.iter().filter(|d| d["kind"] == kind).collect()
}

/// The operator container's arguments in a rendered Deployment.
pub fn operator_args(deployment: &Value) -> Vec<String> {
    deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_array()
        .unwrap_or_else(|| panic!("the Deployment has no container args: {deployment}"))
        .iter()
        .map(|arg| arg.as_str().unwrap_or_default().to_owned())
        .collect()
}

/// `obj` as a Lua table constructor (what Argo CD hands a health check).
pub fn lua_literal(value: &Value) -> String {
    match value {
        Value::Null => "nil".to_owned(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => lua_string(s),
        Value::Array(items) => format!(
            "{{{}}}",
            items.iter().map(lua_literal).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(fields) => format!(
            "{{{}}}",
            fields
                .iter()
                .map(|(k, v)| format!("[{}] = {}", lua_string(k), lua_literal(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn lua_string(text: &str) -> String {
    let mut out = String::from("\"");
    for byte in text.bytes() {
        match byte {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b' '..=b'~' => out.push(byte as char),
            // Every other byte as a decimal escape, which Lua 5.1 and 5.4 both read.
            other => out.push_str(&format!("\\{other:03}")),
        }
    }
    out.push('"');
    out
}

/// What a health check says about one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    pub message: String,
}

/// Runs Argo CD's health check `script` on `object` the way Argo CD does: `obj` is a global table,
/// the chunk returns `{status, message}`.
pub fn argocd_health(lua: &Path, script: &Path, object: &Value) -> Result<Health, String> {
    let driver = format!(
        "obj = {}\nlocal check = assert(loadfile({}))\nlocal hs = check()\nio.write(tostring(hs.status), \"\\n\", tostring(hs.message), \"\\n\")\n",
        lua_literal(object),
        lua_string(&script.to_string_lossy()),
    );
    let out = run(Command::new(lua).arg("-"), Some(&driver))?;
    let mut lines = out.lines();
    Ok(Health {
        status: lines.next().unwrap_or_default().to_owned(),
        message: lines.collect::<Vec<_>>().join("\n"),
    })
}

/// How the GitOps readers of `tests/tools/kstatus` judge one object.
#[derive(Debug, Clone)]
pub struct Verdicts {
    /// `sigs.k8s.io/cli-utils` kstatus.
    pub kstatus: Health,
    /// Flux's fork of kstatus.
    pub flux: Health,
    /// Flux's evaluator of the given healthCheckExprs (`Error`: cannot be evaluated).
    pub flux_cel: Option<Health>,
}

fn health_of(value: &Value) -> Health {
    Health {
        status: value["status"].as_str().unwrap_or_default().to_owned(),
        message: value["message"].as_str().unwrap_or_default().to_owned(),
    }
}

/// kstatus, Flux's kstatus and (with `exprs`) Flux's healthCheckExprs verdict on each object.
pub fn gitops_verdicts(
    tool: &Path,
    objects: &[Value],
    exprs: Option<&Value>,
) -> Result<Vec<Verdicts>, String> {
    let input = serde_json::json!({"objects": objects, "healthCheckExprs": exprs});
    let out = run(&mut Command::new(tool), Some(&input.to_string()))?;
    let verdicts: Vec<Value> =
        serde_json::from_str(&out).map_err(|e| format!("kstatus answered {out}: {e}"))?;
    Ok(verdicts
        .iter()
        .map(|v| Verdicts {
            kstatus: health_of(&v["kstatus"]),
            flux: health_of(&v["flux"]),
            flux_cel: v.get("fluxCel").map(health_of),
        })
        .collect())
}

/// The healthCheckExprs for `ZisBearerConnection` in `gitops/flux/zis-operator.yaml`.
pub fn flux_health_exprs() -> Value {
    let path = repo().join("gitops/flux/zis-operator.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    documents(&text)
        .iter()
        .filter(|d| d["kind"] == "Kustomization")
        .flat_map(|d| {
            d["spec"]["healthCheckExprs"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .find(|e| e["kind"] == "ZisBearerConnection")
        .unwrap_or_else(|| {
            panic!(
                "{} has no healthCheckExprs for ZisBearerConnection",
                path.display()
            )
        })
}

/// The Argo CD health check shipped in `gitops/argocd/`.
pub fn argocd_script() -> PathBuf {
    repo().join("gitops/argocd/zisbearerconnection-health.lua")
}

/// The operator as the chart would run it: the live Deployment's arguments and environment (the
/// downward API's values filled in as the kubelet would), the ServiceAccount's token. Only the
/// metrics address moves to a free loopback port. Killed on drop.
pub struct ChartOperator {
    child: Child,
    log: PathBuf,
}

impl ChartOperator {
    pub fn start(deployment: &Value, kubeconfig: &Path, log: PathBuf) -> ChartOperator {
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        let args: Vec<String> = operator_args(deployment)
            .into_iter()
            .map(|arg| {
                if arg.starts_with("--metrics-addr=") {
                    "--metrics-addr=127.0.0.1:0".to_owned()
                } else {
                    arg
                }
            })
            .collect();
        let mut command = Command::new(env!("CARGO_BIN_EXE_zis-operator"));
        for (name, _) in std::env::vars() {
            if name.starts_with("ZIS_") || name == "POD_NAME" || name == "POD_NAMESPACE" {
                command.env_remove(name);
            }
        }
        let pod_name = format!(
            "{}-0",
            deployment["metadata"]["name"].as_str().unwrap_or_default()
        );
        for env in container["env"].as_array().into_iter().flatten() {
            let name = env["name"].as_str().unwrap_or_default();
            let value = match env["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
                Some("metadata.name") => pod_name.clone(),
                Some("metadata.namespace") => deployment["metadata"]["namespace"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                Some(other) => {
                    panic!("the chart sets {name} from {other}, which this test cannot fill in")
                }
                None => env["value"].as_str().unwrap_or_default().to_owned(),
            };
            command.env(name, value);
        }
        let file = std::fs::File::create(&log).unwrap_or_else(|e| panic!("{}: {e}", log.display()));
        let child = command
            .args(&args)
            .env("KUBECONFIG", kubeconfig)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap_or_else(|e| panic!("{e}")))
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start zis-operator: {e}"));
        ChartOperator { child, log }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn metrics_addr(&self) -> Option<String> {
        let log = self.log();
        let line = log.lines().find(|l| l.contains("metrics listening on "))?;
        Some(
            line.rsplit("metrics listening on ")
                .next()?
                .split_whitespace()
                .next()?
                .to_owned(),
        )
    }
}

impl Drop for ChartOperator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes to `out` the kubeconfig `template` with its first user's credentials replaced by
/// `token`.
pub fn kubeconfig_with_token(template: &Path, token: &str, out: &Path) {
    let text =
        std::fs::read_to_string(template).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    let mut config: Value =
        serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", template.display()));
    config["users"][0]["user"] = serde_json::json!({ "token": token });
    std::fs::write(out, config.to_string()).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
