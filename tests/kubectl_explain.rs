//! `kubectl explain` documents the resource well: every field's description reads as whole
//! paragraphs (kubectl wraps them; a line break from a doc comment would cut a sentence in the
//! middle of kubectl's lines), and a field with a default says it, since kubectl explain does
//! not print `default`. Runs the committed CRD through the Kubernetes API sandbox and the real
//! kubectl; skipped, with a note, when kubectl is not installed.

use std::path::{Path, PathBuf};
use std::process::Command;

use zis_sandbox::kube::KubeSandbox;

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| out.status.success())
}

fn kubectl(kubeconfig: &Path, args: &[&str]) -> String {
    let out = Command::new("kubectl")
        .env("KUBECONFIG", kubeconfig)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run kubectl: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// kubectl explain wraps descriptions greedily at 80 columns: a description line that is
/// followed by more of the same paragraph although the next word would have fit was broken by
/// the description itself.
fn ragged_lines(explained: &str) -> Vec<String> {
    let lines: Vec<&str> = explained.lines().collect();
    let mut ragged = Vec::new();
    for pair in lines.windows(2) {
        let (line, next) = (pair[0], pair[1]);
        let is_text = |l: &str| l.starts_with("    ") && !l.trim().is_empty();
        if !is_text(line) || !is_text(next) {
            continue;
        }
        let next_word = next.split_whitespace().next().unwrap_or_default();
        if line.trim_end().len() + 1 + next_word.len() <= 80 {
            ragged.push(format!("{line:?} / {next:?}"));
        }
    }
    ragged
}

#[test]
fn kubectl_explain_shows_whole_paragraphs_and_the_defaults() {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap_or_else(|e| panic!("runtime: {e}"));
    let sandbox = runtime
        .block_on(KubeSandbox::start(
            "127.0.0.1:0".parse().unwrap_or_else(|e| panic!("{e}")),
        ))
        .unwrap_or_else(|e| panic!("cannot start the Kubernetes API sandbox: {e}"));
    let kubeconfig = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kubectl-explain-{}.kubeconfig", std::process::id()));
    sandbox
        .write_kubeconfig(&kubeconfig)
        .unwrap_or_else(|e| panic!("writing the kubeconfig: {e}"));
    let crd = Path::new(env!("CARGO_MANIFEST_DIR")).join("crds/zisbearerconnections.yaml");
    kubectl(&kubeconfig, &["apply", "-f", &crd.display().to_string()]);
    kubectl(
        &kubeconfig,
        &[
            "wait",
            "--for=condition=Established",
            "crd/zisbearerconnections.zis-operator.dev",
            "--timeout=30s",
        ],
    );

    // A discovery cache of its own, filled after the CRD is served (the one `apply` filled
    // predates it, and explain does not refresh it).
    let cache = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kubectl-explain-{}-cache", std::process::id()));
    let cache_dir = format!("--cache-dir={}", cache.display());
    let explain = |what: &str| kubectl(&kubeconfig, &["explain", what, &cache_dir]);
    let spec = explain("zbc.spec");
    let secret_ref = explain("zbc.spec.tokenSecretRef");
    let status = explain("zbc.status");
    let _ = std::fs::remove_file(&kubeconfig);
    let _ = std::fs::remove_dir_all(&cache);
    drop(sandbox);

    for (field, default) in [
        ("deletionPolicy", "Defaults to `Delete`."),
        ("adoptionPolicy", "Defaults to `Adopt`."),
        ("suspend", "Defaults to `false`."),
    ] {
        let block = spec
            .split(&format!("\n  {field}\t"))
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .unwrap_or_else(|| panic!("no field {field} in:\n{spec}"));
        assert!(
            block
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .contains(default),
            "{field} does not say {default:?}:\n{block}"
        );
    }
    assert!(
        secret_ref.contains("Defaults to `token`."),
        "tokenSecretRef.key does not name its default:\n{secret_ref}"
    );
    for explained in [&spec, &secret_ref, &status] {
        let ragged = ragged_lines(explained);
        assert!(
            ragged.is_empty(),
            "descriptions broken mid-sentence:\n{}\n\n{explained}",
            ragged.join("\n")
        );
    }
}
