//! CustomResourceDefinition handling: validation of the definition, the defaults and status the
//! real apiextensions server sets (NamesAccepted, Established, acceptedNames, storedVersions)
//! and the cleanup finalizer that removes a deleted CRD's objects first.

use serde_json::{Value, json};

use super::error::Cause;
use super::objects::now;

/// The finalizer the real server adds to a CRD when it is deleted, so that its objects go first.
pub const CLEANUP_FINALIZER: &str = "customresourcecleanup.apiextensions.k8s.io";

fn cause(field: &str, reason: &str, message: String) -> Cause {
    Cause {
        reason: reason.into(),
        field: field.into(),
        message,
    }
}

/// Applies the server defaults (singular, listKind, conversion) and checks the definition.
pub fn default_and_validate(crd: &mut Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let spec = &mut crd["spec"];
    let kind = spec["names"]["kind"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if spec["names"]["singular"].as_str().is_none_or(str::is_empty) && !kind.is_empty() {
        spec["names"]["singular"] = json!(kind.to_lowercase());
    }
    if spec["names"]["listKind"].as_str().is_none_or(str::is_empty) && !kind.is_empty() {
        spec["names"]["listKind"] = json!(format!("{kind}List"));
    }
    if spec["conversion"].is_null() {
        spec["conversion"] = json!({"strategy": "None"});
    }
    let group = spec["group"].as_str().unwrap_or_default().to_string();
    let plural = spec["names"]["plural"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if group.is_empty() {
        causes.push(cause(
            "spec.group",
            "FieldValueRequired",
            "Required value".into(),
        ));
    } else if !group.contains('.') {
        causes.push(cause(
            "spec.group",
            "FieldValueInvalid",
            format!("Invalid value: \"{group}\": should be a domain with at least one dot"),
        ));
    }
    if plural.is_empty() {
        causes.push(cause(
            "spec.names.plural",
            "FieldValueRequired",
            "Required value".into(),
        ));
    } else if plural != plural.to_lowercase() {
        causes.push(cause(
            "spec.names.plural",
            "FieldValueInvalid",
            format!("Invalid value: \"{plural}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-'"),
        ));
    }
    if kind.is_empty() {
        causes.push(cause(
            "spec.names.kind",
            "FieldValueRequired",
            "Required value".into(),
        ));
    }
    let name = crd["metadata"]["name"].as_str().unwrap_or_default();
    if !plural.is_empty() && !group.is_empty() && name != format!("{plural}.{group}") {
        causes.push(cause(
            "metadata.name",
            "FieldValueInvalid",
            format!("Invalid value: \"{name}\": must be spec.names.plural+\".\"+spec.group"),
        ));
    }
    match crd["spec"]["scope"].as_str() {
        Some("Namespaced" | "Cluster") => {}
        other => causes.push(cause(
            "spec.scope",
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {}: supported values: \"Cluster\", \"Namespaced\"",
                other
                    .map(|s| format!("\"{s}\""))
                    .unwrap_or_else(|| "\"\"".into())
            ),
        )),
    }
    let versions = crd["spec"]["versions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if versions.is_empty() {
        causes.push(cause(
            "spec.versions",
            "FieldValueInvalid",
            "Invalid value: []: must have exactly one version marked as storage version".into(),
        ));
    } else {
        let storage = versions
            .iter()
            .filter(|v| v["storage"].as_bool() == Some(true))
            .count();
        if storage != 1 {
            causes.push(cause(
                "spec.versions",
                "FieldValueInvalid",
                "Invalid value: must have exactly one version marked as storage version".into(),
            ));
        }
        for (i, version) in versions.iter().enumerate() {
            if version["name"].as_str().is_none_or(str::is_empty) {
                causes.push(cause(
                    &format!("spec.versions[{i}].name"),
                    "FieldValueRequired",
                    "Required value".into(),
                ));
            }
            if version["schema"]["openAPIV3Schema"].is_null() {
                causes.push(cause(
                    &format!("spec.versions[{i}].schema.openAPIV3Schema"),
                    "FieldValueRequired",
                    "Required value: schemas are required".into(),
                ));
            }
        }
    }
    causes
}

/// Sets the status the real server's controllers set once names are accepted.
pub fn set_status(crd: &mut Value, old: Option<&Value>) {
    let names = crd["spec"]["names"].clone();
    let mut stored: Vec<String> = old
        .and_then(|o| o["status"]["storedVersions"].as_array())
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    for version in crd["spec"]["versions"].as_array().into_iter().flatten() {
        if version["storage"].as_bool() == Some(true)
            && let Some(name) = version["name"].as_str()
            && !stored.iter().any(|s| s == name)
        {
            stored.push(name.to_string());
        }
    }
    let previous_conditions = old
        .map(|o| o["status"]["conditions"].clone())
        .unwrap_or(Value::Null);
    let since = |kind: &str| -> String {
        previous_conditions
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|c| c["type"] == kind && c["status"] == "True")
            })
            .and_then(|c| c["lastTransitionTime"].as_str())
            .map(str::to_string)
            .unwrap_or_else(now)
    };
    let mut conditions = vec![
        json!({"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
               "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")}),
        json!({"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
               "message": "the initial names have been accepted", "lastTransitionTime": since("Established")}),
    ];
    if crd["metadata"]["deletionTimestamp"].is_string() {
        conditions.push(json!({"type": "Terminating", "status": "True", "reason": "InstanceDeletionInProgress",
            "message": "CustomResource deletion is in progress", "lastTransitionTime": since("Terminating")}));
    }
    crd["status"] = json!({
        "acceptedNames": names,
        "storedVersions": stored,
        "conditions": conditions,
    });
}

/// Adds the cleanup finalizer on create.
pub fn add_cleanup_finalizer(crd: &mut Value) {
    let finalizers = &mut crd["metadata"]["finalizers"];
    if !finalizers.is_array() {
        *finalizers = json!([]);
    }
    if let Some(list) = finalizers.as_array_mut()
        && !list.iter().any(|f| f == CLEANUP_FINALIZER)
    {
        list.push(json!(CLEANUP_FINALIZER));
    }
}

/// (group, plural) of the resource a CRD defines.
pub fn storage_key(crd: &Value) -> (String, String) {
    (
        crd["spec"]["group"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        crd["spec"]["names"]["plural"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    )
}
