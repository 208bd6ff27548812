//! The README's quick start must keep working: the demo's walkthrough (create, rotate, delete)
//! against the real operator binary built for this test run, the examples' walk-through in the
//! demo, the demo's clean-up, and its inner build.

use std::path::Path;
use std::process::Command;

use zis_sandbox::demo::{DemoArgs, Running, run_with};

/// Never completes: the tests stop the demo themselves (never through a signal handler, which
/// would outlive the test in this process).
async fn no_signal() {
    std::future::pending::<()>().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quick_start_demo_walks_a_connection_through_create_rotate_and_delete() {
    let mut running = None;
    let outcome = run_with(
        DemoArgs {
            keep_running: false,
            operator_binary: Some(env!("CARGO_BIN_EXE_zis-operator").into()),
            kubeconfig_out: None,
        },
        no_signal(),
        |demo| running = Some(demo.clone()),
    )
    .await;
    if let Err(error) = outcome {
        panic!("the demo failed: {error}");
    }
    let running = running.unwrap_or_else(|| panic!("the demo never reported its walkthrough done"));
    assert!(
        !running.workdir.exists(),
        "the demo left {} behind",
        running.workdir.display()
    );
}

fn kubectl_available() -> bool {
    Command::new("kubectl")
        .args(["version", "--client"])
        .output()
        .is_ok_and(|out| out.status.success())
}

/// The first ```sh block after the heading `heading` of a Markdown file.
fn shell_block(markdown: &str, heading: &str) -> String {
    let after = markdown
        .split_once(&format!("\n{heading}\n"))
        .unwrap_or_else(|| panic!("no heading {heading:?}"))
        .1;
    let block = after
        .split_once("```sh\n")
        .and_then(|(_, rest)| rest.split_once("\n```"))
        .unwrap_or_else(|| panic!("no sh block after {heading:?}"))
        .0;
    block.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_walk_through_works_as_written_in_the_keep_running_demo() {
    if !kubectl_available() {
        eprintln!("kubectl is not installed: skipping");
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("examples/README.md"))
        .unwrap_or_else(|e| panic!("examples/README.md: {e}"));
    let script = shell_block(&readme, "## Walk-through");

    let (ready_tx, ready_rx) = tokio::sync::oneshot::channel::<Running>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let demo = tokio::spawn(run_with(
        DemoArgs {
            keep_running: true,
            operator_binary: Some(env!("CARGO_BIN_EXE_zis-operator").into()),
            kubeconfig_out: None,
        },
        async {
            let _ = stop_rx.await;
        },
        move |running| {
            let _ = ready_tx.send(running.clone());
        },
    ));
    let running = match ready_rx.await {
        Ok(running) => running,
        Err(_) => panic!("the demo ended before it was ready: {:?}", demo.await),
    };

    let kubeconfig = running.kubeconfig.clone();
    let root = root.to_owned();
    let ran = tokio::task::spawn_blocking(move || {
        Command::new("sh")
            .args(["-e", "-x", "-c", &script])
            .current_dir(&root)
            .env("KUBECONFIG", &kubeconfig)
            .output()
    })
    .await
    .unwrap_or_else(|e| panic!("{e}"))
    .unwrap_or_else(|e| panic!("cannot run sh: {e}"));
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&ran.stdout),
        String::from_utf8_lossy(&ran.stderr)
    );

    let _ = stop_tx.send(());
    let outcome = demo.await.unwrap_or_else(|e| panic!("the demo task: {e}"));
    assert!(ran.status.success(), "the walk-through failed:\n{output}");
    if let Err(error) = outcome {
        panic!("the demo failed after the walk-through: {error}");
    }
    assert!(
        !running.workdir.exists(),
        "the stopped demo left {} behind",
        running.workdir.display()
    );
}

/// A second run of the demo compiles nothing: its inner `cargo build` of the operator must not
/// see the variables `cargo run` set for the demo (they differ from the user's own shell, and
/// `ring`'s build script reruns when they change, recompiling everything above it). Two builds
/// with different such values, like the user's `cargo run` and the demo's inner build, must
/// leave each other's work alone. `ring` is built, not the operator, so that this reuses what
/// `cargo test` already compiled and takes a second.
#[test]
fn the_demos_inner_build_and_the_users_build_do_not_undo_each_others_work() {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let build = |package_dir: &str| {
        let mut command = std::process::Command::new(&cargo);
        command
            .args(["build", "--package", "ring"])
            // What `cargo run` sets for the program it runs, with values of another package.
            .env("CARGO_MANIFEST_DIR", package_dir)
            .env("CARGO_PKG_NAME", package_dir.replace('/', "-"))
            .env("CARGO_PKG_VERSION_MAJOR", "7")
            .env("CARGO_CRATE_NAME", "demo")
            .env("CARGO_PRIMARY_PACKAGE", "1");
        zis_sandbox::demo::scrub_cargo_env(&mut command);
        let output = command
            .output()
            .unwrap_or_else(|e| panic!("cannot run cargo: {e}"));
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "cargo build failed:\n{stderr}");
        stderr
    };
    // The first may compile (when nothing built `ring` for this profile yet).
    build("/work/first-package");
    let second = build("/work/second-package");
    assert!(
        !second.contains("Compiling"),
        "the second build compiled again:\n{second}"
    );
}
