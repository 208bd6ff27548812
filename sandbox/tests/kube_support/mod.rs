//! Shared fixtures of the Kubernetes sandbox tests: a small test CRD and a kubectl runner.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use zis_sandbox::kube::KubeSandbox;

/// A namespaced test CRD with a status subresource, a schema with required/minimum/enum/default
/// fields, short names, a category and printer columns.
pub const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.test.zis.dev
spec:
  group: test.zis.dev
  scope: Namespaced
  names:
    plural: widgets
    singular: widget
    kind: Widget
    shortNames: [wdg]
    categories: [zis]
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
    additionalPrinterColumns:
    - name: Size
      type: integer
      jsonPath: .spec.size
    - name: Ready
      type: string
      jsonPath: .status.conditions[?(@.type=="Ready")].status
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size:
                type: integer
                minimum: 1
              color:
                type: string
                enum: [blue, red]
                default: blue
          status:
            type: object
            properties:
              observedGeneration:
                type: integer
              conditions:
                type: array
                items:
                  type: object
                  required: [type, status]
                  properties:
                    type: {type: string}
                    status: {type: string}
                    reason: {type: string}
"#;

/// A running sandbox plus a private kubectl home and kubeconfig.
pub struct Env {
    pub sandbox: KubeSandbox,
    pub dir: PathBuf,
    pub kubeconfig: PathBuf,
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A fresh scratch directory under the system temp dir.
pub fn scratch_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!(
        "zis-kube-{tag}-{}-{n}-{}",
        std::process::id(),
        rand::random::<u32>()
    ));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

impl Env {
    pub async fn start(tag: &str) -> Env {
        let sandbox = KubeSandbox::start("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("sandbox starts");
        let dir = scratch_dir(tag);
        let kubeconfig = dir.join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig).expect("kubeconfig");
        Env {
            sandbox,
            dir,
            kubeconfig,
        }
    }

    pub fn write(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).expect("write manifest");
        path
    }

    /// Runs `kubectl --kubeconfig ... ARGS`; returns (success, stdout, stderr).
    pub async fn kubectl(&self, args: &[&str]) -> (bool, String, String) {
        kubectl(&self.kubeconfig, &self.dir, args).await
    }

    /// Runs kubectl and fails the test when it fails.
    pub async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.kubectl(args).await;
        assert!(ok, "kubectl {args:?} failed: {err}\n{out}");
        out
    }

    /// Stops the server and removes the scratch directory (kubectl's cache, manifests).
    pub async fn finish(self) {
        self.sandbox.shutdown().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }

    /// Applies the test CRD and waits until it is Established.
    pub async fn install_widgets(&self) {
        let crd = self.write("crd.yaml", WIDGET_CRD);
        self.ok(&["apply", "-f", crd.to_str().expect("utf8")]).await;
        self.ok(&[
            "wait",
            "--for=condition=Established",
            "crd/widgets.test.zis.dev",
            "--timeout=10s",
        ])
        .await;
    }
}

pub async fn kubectl(kubeconfig: &Path, home: &Path, args: &[&str]) -> (bool, String, String) {
    let output = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(args)
        .env("HOME", home)
        .env_remove("KUBECONFIG")
        .output()
        .await
        .expect("kubectl runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

pub fn widget(name: &str, size: i64, labels: &str) -> String {
    format!(
        "apiVersion: test.zis.dev/v1\nkind: Widget\nmetadata:\n  name: {name}\n  labels: {labels}\nspec:\n  size: {size}\n"
    )
}
