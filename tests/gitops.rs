//! The GitOps health checks of `ZisBearerConnection`, on the sample objects of
//! `tests/gitops/samples.yaml` (one per row of docs/resource.md's conditions table, and the edges):
//!
//! - Argo CD: `gitops/argocd/zisbearerconnection-health.lua` run by a Lua interpreter the way Argo
//!   CD runs it (`obj` a global table, the chunk returns `{status, message}`), and the copy in
//!   `gitops/argocd/argocd-cm.yaml` is the same script;
//! - kstatus readers: `sigs.k8s.io/cli-utils`' kstatus and Flux's fork of it agree, and the
//!   `healthCheckExprs` of `gitops/flux/zis-operator.yaml` judge as Flux's evaluator does (all three
//!   with their own Go code, `tests/tools/kstatus`).
//!
//! `tests/chart_real.rs` runs both on live objects the operator wrote as well.

#[path = "shipping/mod.rs"]
mod shipping;

use serde::Deserialize;
use serde_json::Value;

#[derive(Debug, Deserialize)]
struct Sample {
    name: String,
    argocd: Expected,
    kstatus: String,
    #[serde(rename = "fluxCel")]
    flux_cel: String,
    object: Value,
}

#[derive(Debug, Deserialize)]
struct Expected {
    status: String,
    /// A part of the message.
    message: String,
}

fn samples() -> Vec<Sample> {
    let path = shipping::repo().join("tests/gitops/samples.yaml");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    shipping::documents(&text)
        .into_iter()
        .map(|doc| {
            serde_json::from_value(doc).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        })
        .collect()
}

#[test]
fn the_argocd_health_check_reads_ready_reconciling_stalled_and_the_observed_generation() {
    let Some(lua) = shipping::lua() else {
        return;
    };
    let script = shipping::argocd_script();
    let mut wrong = Vec::new();
    for sample in samples() {
        let health = shipping::argocd_health(&lua, &script, &sample.object)
            .unwrap_or_else(|e| panic!("{}: the health check failed: {e}", sample.name));
        if health.status != sample.argocd.status || !health.message.contains(&sample.argocd.message)
        {
            wrong.push(format!(
                "{}: got {} {:?}, want {} with {:?}",
                sample.name,
                health.status,
                health.message,
                sample.argocd.status,
                sample.argocd.message
            ));
        }
    }
    assert!(wrong.is_empty(), "Argo CD health:\n{}", wrong.join("\n"));
}

#[test]
fn the_health_check_in_argocd_cm_is_the_shipped_script() {
    let cm = shipping::repo().join("gitops/argocd/argocd-cm.yaml");
    let text = std::fs::read_to_string(&cm).unwrap_or_else(|e| panic!("{}: {e}", cm.display()));
    let value: Value = serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let embedded =
        value["data"]["resource.customizations.health.zis-operator.dev_ZisBearerConnection"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("argocd-cm.yaml has no health check for ZisBearerConnection")
            });
    let script = std::fs::read_to_string(shipping::argocd_script())
        .unwrap_or_else(|e| panic!("the Lua script: {e}"));
    assert_eq!(
        embedded, script,
        "gitops/argocd/argocd-cm.yaml embeds another script than zisbearerconnection-health.lua"
    );
}

#[test]
fn kstatus_and_the_flux_health_expressions_read_the_operators_conditions() {
    let Some(tool) = shipping::kstatus_tool() else {
        return;
    };
    let samples = samples();
    let objects: Vec<Value> = samples.iter().map(|s| s.object.clone()).collect();
    let exprs = shipping::flux_health_exprs();
    let verdicts =
        shipping::gitops_verdicts(&tool, &objects, Some(&exprs)).unwrap_or_else(|e| panic!("{e}"));
    let mut wrong = Vec::new();
    for (sample, verdict) in samples.iter().zip(&verdicts) {
        if verdict.kstatus.status != sample.kstatus || verdict.flux.status != sample.kstatus {
            wrong.push(format!(
                "{}: kstatus says {} ({}), Flux's kstatus {} ({}), want {}",
                sample.name,
                verdict.kstatus.status,
                verdict.kstatus.message,
                verdict.flux.status,
                verdict.flux.message,
                sample.kstatus
            ));
        }
        let cel = verdict
            .flux_cel
            .clone()
            .unwrap_or_else(|| panic!("no CEL verdict"));
        if cel.status != sample.flux_cel {
            wrong.push(format!(
                "{}: Flux's healthCheckExprs say {} ({}), want {}",
                sample.name, cel.status, cel.message, sample.flux_cel
            ));
        }
    }
    assert!(wrong.is_empty(), "GitOps readers:\n{}", wrong.join("\n"));
}

#[test]
fn the_flux_and_argocd_examples_order_the_crds_before_the_connections() {
    let dir = shipping::repo().join("gitops");
    let flux = std::fs::read_to_string(dir.join("flux/zis-operator.yaml"))
        .unwrap_or_else(|e| panic!("gitops/flux/zis-operator.yaml: {e}"));
    let flux = shipping::documents(&flux);
    let release = shipping::find(&flux, "HelmRelease", None).expect("a HelmRelease");
    assert_eq!(
        release["spec"]["install"]["crds"], "Create",
        "the HelmRelease installs the CRDs"
    );
    assert_eq!(
        release["spec"]["upgrade"]["crds"], "CreateReplace",
        "the HelmRelease upgrades the CRDs (Helm itself never does)"
    );
    let connections = flux
        .iter()
        .find(|d| d["kind"] == "Kustomization" && d["spec"]["dependsOn"].is_array())
        .expect("a Kustomization of connections that depends on the operator");
    let depends: Vec<&str> = connections["spec"]["dependsOn"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| d["name"].as_str())
        .collect();
    let operator = flux
        .iter()
        .find(|d| d["kind"] == "Kustomization" && d["spec"]["dependsOn"].is_null())
        .expect("a Kustomization that applies the operator's HelmRelease");
    assert!(
        depends.contains(&operator["metadata"]["name"].as_str().unwrap_or_default()),
        "the connections depend on the operator's Kustomization: {depends:?}"
    );
    assert_eq!(
        operator["spec"]["wait"], true,
        "the operator's Kustomization waits for its health"
    );

    let argo = std::fs::read_to_string(dir.join("argocd/applications.yaml"))
        .unwrap_or_else(|e| panic!("gitops/argocd/applications.yaml: {e}"));
    let argo = shipping::documents(&argo);
    let wave = |name: &str| -> i64 {
        let app = shipping::find(&argo, "Application", Some(name))
            .unwrap_or_else(|| panic!("an Application {name}"));
        app["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"]
            .as_str()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("{name} has no sync wave"))
    };
    assert!(
        wave("zis-operator") < wave("zis-connections"),
        "the operator (and its CRDs) sync in an earlier wave than the connections"
    );
}
