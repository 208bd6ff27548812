//! The defaults the real API server gives built-in kinds the sandbox stores generically
//! (`SetDefaults_*` of `k8s.io/kubernetes/pkg/apis/*/v1`), so that what `kubectl get -o yaml`
//! shows matches a cluster. Checked field by field against kube-apiserver 1.37 by
//! `kubectl_create_makes_roles_bindings_and_deployments_from_protobuf_bodies`,
//! `deployments_get_the_real_servers_defaults_down_to_their_containers` and
//! `kubectl_cluster_info_works_and_services_apply_with_defaults_and_print_like_a_cluster`
//! (`sandbox/tests/kube_kubectl.rs`, run on both backends).
//!
//! Not defaulted: what needs an allocator or a controller (a Service's cluster IP, IP families
//! and node ports) and pod-spec fields beyond the ones below.

use serde_json::{Value, json};

/// Sets `object[field]` to `value` when it is missing (or null).
fn or_default(object: &mut Value, field: &str, value: Value) {
    if object.is_object() && object[field].is_null() {
        object[field] = value;
    }
}

/// Services: `type` ClusterIP, `sessionAffinity` None, `internalTrafficPolicy` Cluster (not for
/// ExternalName), `externalTrafficPolicy` Cluster (NodePort and LoadBalancer), each port's
/// `protocol` TCP and `targetPort` its `port`; an empty `status.loadBalancer`. No cluster IP is
/// allocated.
pub fn service(object: &mut Value) {
    if !object["spec"].is_object() {
        object["spec"] = json!({});
    }
    let spec = &mut object["spec"];
    if spec["type"].as_str().is_none_or(str::is_empty) {
        spec["type"] = json!("ClusterIP");
    }
    if spec["sessionAffinity"].as_str().is_none_or(str::is_empty) {
        spec["sessionAffinity"] = json!("None");
    }
    let kind = spec["type"].as_str().unwrap_or_default().to_string();
    if kind != "ExternalName" {
        or_default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if matches!(kind.as_str(), "NodePort" | "LoadBalancer") {
        or_default(spec, "externalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter(|p| p.is_object()) {
            if port["protocol"].as_str().is_none_or(str::is_empty) {
                port["protocol"] = json!("TCP");
            }
            if port["targetPort"].is_null() {
                port["targetPort"] = port["port"].clone();
            }
        }
    }
    if !object["status"].is_object() {
        object["status"] = json!({});
    }
    or_default(&mut object["status"], "loadBalancer", json!({}));
}

/// Leases: an empty `spec` (the typed object always has one).
pub fn lease(object: &mut Value) {
    or_default(object, "spec", json!({}));
}

/// Roles and ClusterRoles: `rules` null when none are given (as the typed object prints).
pub fn role(object: &mut Value) {
    if let Some(map) = object.as_object_mut() {
        map.entry("rules").or_insert(Value::Null);
    }
}

/// Deployments: `replicas` 1, `revisionHistoryLimit` 10, `progressDeadlineSeconds` 600, the
/// RollingUpdate strategy with 25% surge and unavailability, the pod template's defaults
/// ([`pod_spec`]) and an empty `status`.
pub fn deployment(object: &mut Value) {
    if !object["spec"].is_object() {
        object["spec"] = json!({});
    }
    let spec = &mut object["spec"];
    or_default(spec, "replicas", json!(1));
    or_default(spec, "revisionHistoryLimit", json!(10));
    or_default(spec, "progressDeadlineSeconds", json!(600));
    if !spec["strategy"].is_object() {
        spec["strategy"] = json!({});
    }
    let strategy = &mut spec["strategy"];
    or_default(strategy, "type", json!("RollingUpdate"));
    if strategy["type"] == "RollingUpdate" {
        if !strategy["rollingUpdate"].is_object() {
            strategy["rollingUpdate"] = json!({});
        }
        or_default(&mut strategy["rollingUpdate"], "maxSurge", json!("25%"));
        or_default(
            &mut strategy["rollingUpdate"],
            "maxUnavailable",
            json!("25%"),
        );
    }
    if let Some(pod) = spec
        .get_mut("template")
        .and_then(|t| t.get_mut("spec"))
        .filter(|s| s.is_object())
    {
        pod_spec(pod);
    }
    if !object["status"].is_object() {
        object["status"] = json!({});
    }
}

/// A pod spec: `restartPolicy` Always, `dnsPolicy` ClusterFirst, `schedulerName`
/// default-scheduler, an empty `securityContext`, `terminationGracePeriodSeconds` 30, the
/// defaults of every (init) container ([`container`]) and `defaultMode` 0644 of secret,
/// configMap, downwardAPI and projected volumes.
fn pod_spec(spec: &mut Value) {
    or_default(spec, "restartPolicy", json!("Always"));
    or_default(spec, "dnsPolicy", json!("ClusterFirst"));
    or_default(spec, "schedulerName", json!("default-scheduler"));
    or_default(spec, "securityContext", json!({}));
    or_default(spec, "terminationGracePeriodSeconds", json!(30));
    for list in ["initContainers", "containers"] {
        if let Some(containers) = spec.get_mut(list).and_then(Value::as_array_mut) {
            containers
                .iter_mut()
                .filter(|c| c.is_object())
                .for_each(container);
        }
    }
    if let Some(volumes) = spec.get_mut("volumes").and_then(Value::as_array_mut) {
        for volume in volumes.iter_mut() {
            for source in ["secret", "configMap", "downwardAPI", "projected"] {
                if let Some(source) = volume.get_mut(source).filter(|s| s.is_object()) {
                    or_default(source, "defaultMode", json!(0o644));
                }
            }
        }
    }
}

/// A container: `imagePullPolicy` (Always for the `latest` tag, stated or implied, else
/// IfNotPresent), empty `resources`, `terminationMessagePath` /dev/termination-log,
/// `terminationMessagePolicy` File, each port's `protocol` TCP, the probes' timings and HTTP
/// scheme, and `apiVersion` v1 of `fieldRef` environment sources.
fn container(container: &mut Value) {
    let image = container["image"].as_str().unwrap_or_default();
    let pull = if image_tag(image) == Some("latest") {
        "Always"
    } else {
        "IfNotPresent"
    };
    or_default(container, "imagePullPolicy", json!(pull));
    or_default(container, "resources", json!({}));
    or_default(
        container,
        "terminationMessagePath",
        json!("/dev/termination-log"),
    );
    or_default(container, "terminationMessagePolicy", json!("File"));
    if let Some(ports) = container.get_mut("ports").and_then(Value::as_array_mut) {
        for port in ports.iter_mut().filter(|p| p.is_object()) {
            or_default(port, "protocol", json!("TCP"));
        }
    }
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        // Looked up, not indexed: indexing would insert a null for a missing probe.
        let Some(probe) = container.get_mut(probe).filter(|p| p.is_object()) else {
            continue;
        };
        or_default(probe, "timeoutSeconds", json!(1));
        or_default(probe, "periodSeconds", json!(10));
        or_default(probe, "successThreshold", json!(1));
        or_default(probe, "failureThreshold", json!(3));
        if probe["httpGet"].is_object() {
            or_default(&mut probe["httpGet"], "scheme", json!("HTTP"));
        }
    }
    if let Some(env) = container.get_mut("env").and_then(Value::as_array_mut) {
        for variable in env.iter_mut() {
            if let Some(field_ref) = variable
                .get_mut("valueFrom")
                .and_then(|from| from.get_mut("fieldRef"))
                .filter(|r| r.is_object())
            {
                or_default(field_ref, "apiVersion", json!("v1"));
            }
        }
    }
}

/// The tag of an image reference: the one stated, `latest` when neither a tag nor a digest is,
/// none for a digest alone.
fn image_tag(image: &str) -> Option<&str> {
    let (name, digest) = match image.split_once('@') {
        Some((name, digest)) => (name, Some(digest)),
        None => (image, None),
    };
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.rsplit_once(':') {
        Some((_, tag)) => Some(tag),
        None if digest.is_none() => Some("latest"),
        None => None,
    }
}

#[cfg(test)]
mod tests {
    use super::image_tag;

    #[test]
    fn image_tags_are_read_like_the_real_servers_image_parser() {
        assert_eq!(image_tag("nginx"), Some("latest"));
        assert_eq!(image_tag("nginx:1.27"), Some("1.27"));
        assert_eq!(image_tag("localhost:5000/team/app"), Some("latest"));
        assert_eq!(image_tag("localhost:5000/team/app:v2"), Some("v2"));
        assert_eq!(image_tag("app@sha256:abc"), None);
        assert_eq!(image_tag("app:v1@sha256:abc"), Some("v1"));
    }
}
