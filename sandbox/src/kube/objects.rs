//! Object lifecycle rules shared by the write verbs: server-set metadata (uid,
//! creationTimestamp, generation), type and name checks, the status subresource split,
//! schema validation of custom resources and the built-in kinds' normalisation (Secret
//! `stringData`, Namespace labels and phase).

use serde_json::{Map, Value, json};

use super::api::FieldValidation;
use super::defaults;
use super::error::{ApiError, Cause, Subject};
use super::resources::{self, ResourceType};
use super::schema::{self, OBJECT_META_FIELDS};
use super::validation;

/// The current time as the API server writes it (RFC 3339, seconds, UTC).
pub fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A random (version 4) UUID.
pub fn new_uid() -> String {
    let bytes: [u8; 16] = rand::random();
    let mut b = bytes;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// A random suffix for `generateName` (5 characters, as the real server uses).
pub fn name_suffix() -> String {
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    (0..5)
        .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
        .collect()
}

pub fn meta_str<'a>(object: &'a Value, field: &str) -> &'a str {
    object["metadata"][field].as_str().unwrap_or_default()
}

/// Makes sure `object` is a JSON object with a `metadata` object.
pub fn ensure_shape(object: &mut Value) -> Result<(), ApiError> {
    let Some(map) = object.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    };
    match map.get("metadata") {
        None | Some(Value::Null) => {
            map.insert("metadata".into(), Value::Object(Map::new()));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err(ApiError::bad_request("metadata must be an object")),
    }
    Ok(())
}

/// Checks apiVersion/kind against the addressed resource and fills them in when absent.
pub fn check_type_meta(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    ensure_shape(object)?;
    let expected_version = rt.api_version();
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if rt.custom {
        // Unstructured decoding: the apiVersion must be the served one (an empty one too), a
        // wrong kind is a validation error naming it.
        if api_version != expected_version {
            return Err(ApiError::bad_request(format!(
                "the API version in the data ({api_version}) does not match the expected API version ({expected_version})"
            )));
        }
        if !kind.is_empty() && kind != rt.kind {
            return Err(ApiError::invalid(
                &Subject::new(&rt.group, kind, meta_str(object, "name")),
                &[Cause {
                    reason: "FieldValueInvalid".into(),
                    field: "kind".into(),
                    message: format!("Invalid value: {kind:?}: must be {}", rt.kind),
                }],
            ));
        }
    } else if (!api_version.is_empty() && api_version != expected_version)
        || (!kind.is_empty() && kind != rt.kind)
    {
        // Typed decoding: the sent kind and version must be registered, and be this kind.
        let kind = if kind.is_empty() {
            rt.kind.as_str()
        } else {
            kind
        };
        let api_version = if api_version.is_empty() {
            expected_version.as_str()
        } else {
            api_version
        };
        let version = api_version.rsplit('/').next().unwrap_or(api_version);
        let why = if api_version == expected_version
            && resources::is_builtin_kind(&rt.group, &rt.version, kind)
        {
            let internal = if rt.group.is_empty() {
                "core"
            } else {
                rt.group.split('.').next().unwrap_or(&rt.group)
            };
            format!(
                "converting ({version}.{kind}) to ({internal}.{}): unknown conversion",
                rt.kind
            )
        } else {
            format!(
                "no kind {kind:?} is registered for version {api_version:?} in scheme \"pkg/runtime/scheme.go:111\""
            )
        };
        return Err(ApiError::bad_request(format!(
            "{kind} in version {version:?} cannot be handled as a {}: {why}",
            rt.kind
        )));
    }
    object["apiVersion"] = json!(expected_version);
    object["kind"] = json!(rt.kind);
    Ok(())
}

fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !name.is_empty()
        && name.len() <= 63
        && bytes
            .iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

fn is_dns_subdomain(name: &str) -> bool {
    name.len() <= 253 && name.split('.').all(is_dns_label)
}

/// The finalizers every kind accepts without a domain prefix.
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// Whether the kind refuses a finalizer without a domain prefix (other than the standard ones)
/// as the real server's core validation does: the built-in kinds except Lease, core/v1 Event
/// and CustomResourceDefinition. Custom resources get a warning instead
/// ([`finalizer_warnings`]).
fn refuses_unqualified_finalizers(rt: &ResourceType) -> bool {
    !rt.custom
        && !matches!(
            (rt.group.as_str(), rt.kind.as_str()),
            ("coordination.k8s.io", "Lease") | ("", "Event") | ("apiextensions.k8s.io", _)
        )
}

/// The warnings the real server gives when a custom resource gets a finalizer without a
/// domain prefix (only for finalizers not on `old`).
pub fn finalizer_warnings(rt: &ResourceType, new: &Value, old: Option<&Value>) -> Vec<String> {
    if !rt.custom {
        return Vec::new();
    }
    let before: Vec<&str> = old
        .and_then(|o| o["metadata"]["finalizers"].as_array())
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut added: Vec<&str> = new["metadata"]["finalizers"]
        .as_array()
        .map(|f| f.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    added.retain(|f| !before.contains(f));
    added.sort_unstable();
    added.dedup();
    let mut warnings = Vec::new();
    for finalizer in added {
        for message in validation::label_key_errors(finalizer) {
            warnings.push(format!("metadata.finalizers: {finalizer:?}: {message}"));
        }
        if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer) {
            let path = if finalizer.contains('.') {
                " including a path (/)"
            } else {
                ""
            };
            warnings.push(format!(
                "metadata.finalizers: {finalizer:?}: prefer a domain-qualified finalizer name{path} to avoid accidental conflicts with other finalizer writers"
            ));
        }
    }
    warnings
}

fn invalid_cause(field: &str, value: &Value, message: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        field: field.into(),
        message: format!("{}: {message}", validation::invalid_value(value)),
    }
}

/// Validates object metadata the way the real server's generic checks do.
pub fn validate_metadata(rt: &ResourceType, object: &Value) -> Vec<Cause> {
    let mut causes = Vec::new();
    let name = meta_str(object, "name");
    let namespace_like = rt.plural == "namespaces" && rt.group.is_empty();
    if namespace_like && !is_dns_label(name) {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            field: "metadata.name".into(),
            message: format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
            ),
        });
    } else if !namespace_like
        && !is_dns_subdomain(name)
        && (rt.plural != "events" || name.is_empty())
    {
        causes.push(Cause {
            reason: "FieldValueInvalid".into(),
            field: "metadata.name".into(),
            message: format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
            ),
        });
    }
    let metadata = &object["metadata"];
    if let Some(labels) = metadata["labels"].as_object() {
        for (key, value) in labels {
            for message in validation::label_key_errors(key) {
                causes.push(invalid_cause("metadata.labels", &json!(key), &message));
            }
            match value.as_str() {
                Some(v) => {
                    for message in validation::label_value_errors(v) {
                        causes.push(invalid_cause("metadata.labels", value, &message));
                    }
                }
                None => causes.push(type_cause(&format!("metadata.labels.{key}"), "string")),
            }
        }
    } else if !metadata["labels"].is_null() {
        causes.push(type_cause("metadata.labels", "object"));
    }
    if let Some(annotations) = metadata["annotations"].as_object() {
        for (key, value) in annotations {
            // Case does not matter in annotation keys.
            for message in validation::label_key_errors(&key.to_lowercase()) {
                causes.push(invalid_cause("metadata.annotations", &json!(key), &message));
            }
            if !value.is_string() {
                causes.push(type_cause(&format!("metadata.annotations.{key}"), "string"));
            }
        }
    } else if !metadata["annotations"].is_null() {
        causes.push(type_cause("metadata.annotations", "object"));
    }
    if let Some(finalizers) = metadata["finalizers"].as_array() {
        for finalizer in finalizers {
            match finalizer.as_str() {
                Some(f) => {
                    for message in validation::label_key_errors(f) {
                        causes.push(invalid_cause("metadata.finalizers", finalizer, &message));
                    }
                }
                None => causes.push(type_cause("metadata.finalizers", "string")),
            }
        }
        let has = |f: &str| finalizers.iter().any(|x| x == f);
        if has("orphan") && has("foregroundDeletion") {
            causes.push(invalid_cause(
                "metadata.finalizers",
                &metadata["finalizers"],
                "finalizer orphan and foregroundDeletion cannot be both set",
            ));
        }
        if refuses_unqualified_finalizers(rt) {
            for (i, finalizer) in finalizers.iter().enumerate() {
                if let Some(f) = finalizer.as_str()
                    && !f.contains('/')
                    && !STANDARD_FINALIZERS.contains(&f)
                {
                    causes.push(invalid_cause(
                        &format!("metadata.finalizers[{i}]"),
                        finalizer,
                        "name is neither a standard finalizer name nor is it fully qualified",
                    ));
                }
            }
        }
    } else if !metadata["finalizers"].is_null() {
        causes.push(type_cause("metadata.finalizers", "array"));
    }
    causes
}

fn type_cause(field: &str, wanted: &str) -> Cause {
    Cause {
        reason: "FieldValueTypeInvalid".into(),
        field: field.into(),
        message: format!("Invalid value: must be of type {wanted}"),
    }
}

/// The Invalid error about an object (details name the Kind, like the real server).
pub fn invalid(rt: &ResourceType, name: &str, causes: &[Cause]) -> ApiError {
    ApiError::invalid(&Subject::new(&rt.group, &rt.kind, name), causes)
}

/// How a Strict unknown-field failure is reported: a decode error (400) for create and update,
/// an Invalid `patch` field (422) for merge and JSON patches, as the real server does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictStyle {
    Decode,
    Patch,
}

/// Prunes, defaults and validates a custom resource against its schema. Returns warnings for
/// pruned fields (fieldValidation=Warn); Strict turns them into errors.
pub fn check_schema(
    rt: &ResourceType,
    object: &mut Value,
    old: Option<&Value>,
    validation: FieldValidation,
    style: StrictStyle,
) -> Result<Vec<String>, ApiError> {
    let submitted = object.clone();
    let mut pruned = prune_typed_fields(rt, object);
    let mut outcome = match &rt.schema {
        Some(schema) => schema::prune_default_validate(schema, object, old),
        None => schema::SchemaOutcome::default(),
    };
    pruned.append(&mut outcome.pruned_fields);
    outcome.pruned_fields = pruned;
    let name = meta_str(object, "name").to_string();
    if !outcome.pruned_fields.is_empty() && validation == FieldValidation::Strict {
        let fields: Vec<String> = outcome
            .pruned_fields
            .iter()
            .map(|f| format!("unknown field \"{}\"", f.trim_start_matches('.')))
            .collect();
        let decoding = format!("strict decoding error: {}", fields.join(", "));
        return Err(match style {
            StrictStyle::Decode => ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: {decoding}",
                kind = rt.kind,
                version = rt.version
            )),
            StrictStyle::Patch => ApiError::invalid(
                &Subject::default(),
                &[Cause {
                    reason: "FieldValueInvalid".into(),
                    field: "patch".into(),
                    message: format!(
                        "Invalid value: {}: {decoding}",
                        Value::String(submitted.to_string())
                    ),
                }],
            ),
        });
    }
    if !outcome.errors.is_empty() {
        let causes: Vec<Cause> = outcome
            .errors
            .iter()
            .map(|e| Cause {
                reason: e.reason.clone(),
                message: e.message.clone(),
                field: e.field.clone(),
            })
            .collect();
        return Err(invalid(rt, &name, &causes));
    }
    Ok(match validation {
        FieldValidation::Warn => outcome
            .pruned_fields
            .iter()
            .map(|f| format!("unknown field \"{}\"", f.trim_start_matches('.')))
            .collect(),
        _ => Vec::new(),
    })
}

/// Top-level fields of the built-in kinds besides apiVersion, kind and metadata (custom
/// resources are pruned by their schema).
fn builtin_fields(rt: &ResourceType) -> Option<&'static [&'static str]> {
    Some(match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "ConfigMap") => &["data", "binaryData", "immutable"],
        ("", "Secret") => &["data", "stringData", "type", "immutable"],
        ("", "Namespace") => &["spec", "status"],
        ("", "ServiceAccount") => &[
            "secrets",
            "imagePullSecrets",
            "automountServiceAccountToken",
        ],
        ("", "Event") => &[
            "involvedObject",
            "reason",
            "message",
            "source",
            "firstTimestamp",
            "lastTimestamp",
            "count",
            "type",
            "eventTime",
            "series",
            "action",
            "related",
            "reportingComponent",
            "reportingInstance",
        ],
        ("events.k8s.io", "Event") => &[
            "eventTime",
            "series",
            "reportingController",
            "reportingInstance",
            "action",
            "reason",
            "regarding",
            "related",
            "note",
            "type",
            "deprecatedSource",
            "deprecatedFirstTimestamp",
            "deprecatedLastTimestamp",
            "deprecatedCount",
        ],
        ("coordination.k8s.io", "Lease") => &["spec"],
        ("apiextensions.k8s.io", _) | ("apps", _) => &["spec", "status"],
        ("rbac.authorization.k8s.io", "Role") => &["rules"],
        ("rbac.authorization.k8s.io", "ClusterRole") => &["rules", "aggregationRule"],
        ("rbac.authorization.k8s.io", _) => &["subjects", "roleRef"],
        _ => return None,
    })
}

/// Drops unknown `metadata` fields (every kind) and unknown top-level fields of built-in kinds,
/// returning their paths, as the real server's typed decoding does.
fn prune_typed_fields(rt: &ResourceType, object: &mut Value) -> Vec<String> {
    let mut pruned = Vec::new();
    if let Some(metadata) = object["metadata"].as_object_mut() {
        let unknown: Vec<String> = metadata
            .keys()
            .filter(|k| !OBJECT_META_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            metadata.remove(&key);
            pruned.push(format!("metadata.{key}"));
        }
    }
    if let (Some(known), Some(map)) = (builtin_fields(rt), object.as_object_mut()) {
        let unknown: Vec<String> = map
            .keys()
            .filter(|k| !matches!(k.as_str(), "apiVersion" | "kind" | "metadata"))
            .filter(|k| !known.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            map.remove(&key);
            pruned.push(key);
        }
    }
    pruned
}

/// Whether `metadata.generation` must increase from `old` to `new`: any change outside
/// metadata (and outside status where status is a subresource or for CRDs).
pub fn generation_changes(rt: &ResourceType, old: &Value, new: &Value) -> bool {
    let strip = |v: &Value| -> Value {
        let mut v = v.clone();
        if let Some(map) = v.as_object_mut() {
            map.remove("metadata");
            map.remove("apiVersion");
            map.remove("kind");
            if rt.status_subresource {
                map.remove("status");
            }
        }
        v
    };
    strip(old) != strip(new)
}

/// Drops empty `labels`, `annotations`, `finalizers` and `ownerReferences`, which the real
/// server's typed ObjectMeta never keeps (so removing the last finalizer removes the field).
pub fn drop_empty_metadata(object: &mut Value) {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        metadata.retain(|key, value| {
            let collection = matches!(
                key.as_str(),
                "labels" | "annotations" | "finalizers" | "ownerReferences"
            );
            let empty = value.as_object().is_some_and(|m| m.is_empty())
                || value.as_array().is_some_and(|a| a.is_empty());
            !(collection && empty)
        });
    }
}

/// Drops `field` when it is an empty map (an omitempty map of a typed object).
fn drop_empty_map(object: &mut Value, field: &str) {
    if object[field].as_object().is_some_and(|m| m.is_empty())
        && let Some(map) = object.as_object_mut()
    {
        map.remove(field);
    }
}

/// Drops `field` when it is an empty map or list.
fn drop_empty_map_or_list(object: &mut Value, field: &str) {
    drop_empty_map(object, field);
    if object[field].as_array().is_some_and(|a| a.is_empty())
        && let Some(map) = object.as_object_mut()
    {
        map.remove(field);
    }
}

/// Kind-specific normalisation of built-in objects on every write.
pub fn normalize_builtin(rt: &ResourceType, object: &mut Value) -> Result<(), ApiError> {
    if rt.custom {
        return Ok(());
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("apps", "Deployment") => defaults::deployment(object),
        ("coordination.k8s.io", "Lease") => defaults::lease(object),
        ("rbac.authorization.k8s.io", "Role" | "ClusterRole") => defaults::role(object),
        _ => {}
    }
    if !rt.group.is_empty() {
        return Ok(());
    }
    let name = meta_str(object, "name").to_string();
    match rt.kind.as_str() {
        "Secret" => normalize_secret(rt, &name, object),
        "ConfigMap" => {
            check_base64(rt, object, "binaryData")?;
            drop_empty_map(object, "data");
            drop_empty_map(object, "binaryData");
            let mut causes = Vec::new();
            for field in ["data", "binaryData"] {
                if let Some(map) = object[field].as_object() {
                    for (key, value) in map {
                        if !valid_data_key(key) {
                            causes.push(data_key_cause(field, key));
                        }
                        if !value.is_string() {
                            causes.push(type_cause(&format!("{field}[{key}]"), "string"));
                        }
                    }
                }
            }
            let size = data_size(&object["data"], false) + data_size(&object["binaryData"], true);
            if size > MAX_DATA_SIZE {
                // The real server reports the whole object, whose path prints as `[]`.
                causes.push(too_long_cause("[]"));
            }
            if causes.is_empty() {
                Ok(())
            } else {
                Err(invalid(rt, &name, &causes))
            }
        }
        "Service" => {
            defaults::service(object);
            Ok(())
        }
        "Namespace" => {
            object["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            // A new namespace (no status yet) gets the `kubernetes` finalizer; an emptied list
            // is dropped, as the typed spec prints it (`spec: {}`).
            if object["spec"]["finalizers"].is_null() && object["status"]["phase"].is_null() {
                object["spec"]["finalizers"] = json!(["kubernetes"]);
            }
            if !object["spec"].is_object() {
                object["spec"] = json!({});
            }
            drop_empty_map_or_list(&mut object["spec"], "finalizers");
            let phase = if object["metadata"]["deletionTimestamp"].is_string() {
                "Terminating"
            } else {
                "Active"
            };
            object["status"]["phase"] = json!(phase);
            Ok(())
        }
        _ => Ok(()),
    }
}

fn valid_data_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn data_key_cause(field: &str, key: &str) -> Cause {
    Cause {
        reason: "FieldValueInvalid".into(),
        field: format!("{field}[{key}]"),
        message: format!(
            "Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
        ),
    }
}

/// The most a ConfigMap's or Secret's data may hold: keys and values, in bytes (1 MiB).
const MAX_DATA_SIZE: usize = 1024 * 1024;

/// The bytes of a data map as the real server counts them: each key plus its value (decoded
/// when `base64`).
fn data_size(map: &Value, base64: bool) -> usize {
    let Some(map) = map.as_object() else {
        return 0;
    };
    map.iter()
        .map(|(key, value)| {
            let text = value.as_str().unwrap_or_default();
            let bytes = if base64 {
                serde_json::from_value::<k8s_openapi::ByteString>(value.clone())
                    .map(|b| b.0.len())
                    .unwrap_or(text.len())
            } else {
                text.len()
            };
            key.len() + bytes
        })
        .sum()
}

fn too_long_cause(field: &str) -> Cause {
    Cause {
        reason: "FieldValueTooLong".into(),
        field: field.into(),
        message: format!("Too long: may not be more than {MAX_DATA_SIZE} bytes"),
    }
}

/// Secrets: `stringData` is merged into base64 `data` and dropped; `type` defaults to Opaque;
/// `data` values must be base64.
/// Bytes fields are base64 in JSON; the real server fails to decode a malformed one (400, before
/// any validation), with Go's offset of the first bad byte.
fn check_base64(rt: &ResourceType, object: &Value, field: &str) -> Result<(), ApiError> {
    let Some(map) = object[field].as_object() else {
        return Ok(());
    };
    for value in map.values() {
        if let Some(offset) = value.as_str().and_then(validation::base64_error_offset) {
            return Err(ApiError::bad_request(format!(
                "{kind} in version \"{version}\" cannot be handled as a {kind}: illegal base64 data at input byte {offset}",
                kind = rt.kind,
                version = rt.version
            )));
        }
    }
    Ok(())
}

fn normalize_secret(rt: &ResourceType, name: &str, object: &mut Value) -> Result<(), ApiError> {
    check_base64(rt, object, "data")?;
    let mut causes = Vec::new();
    if let Some(Value::Object(string_data)) =
        object.as_object_mut().and_then(|m| m.remove("stringData"))
    {
        for (key, value) in string_data {
            let Some(text) = value.as_str() else {
                causes.push(type_cause(&format!("stringData[{key}]"), "string"));
                continue;
            };
            let encoded = serde_json::to_value(k8s_openapi::ByteString(text.as_bytes().to_vec()))
                .map_err(|e| ApiError::internal(format!("encoding secret data: {e}")))?;
            object["data"][key] = encoded;
        }
    }
    if let Some(data) = object["data"].as_object() {
        for (key, value) in data {
            if !valid_data_key(key) {
                causes.push(data_key_cause("data", key));
            }
            if !value.is_string() {
                causes.push(type_cause(&format!("data[{key}]"), "string"));
            }
        }
    }
    drop_empty_map(object, "data");
    if data_size(&object["data"], true) > MAX_DATA_SIZE {
        causes.push(too_long_cause("data"));
    }
    if object["type"].as_str().is_none_or(str::is_empty) {
        object["type"] = json!("Opaque");
    }
    if causes.is_empty() {
        Ok(())
    } else {
        Err(invalid(rt, name, &causes))
    }
}

/// Removes server-owned fields a client must not set on create.
pub fn reset_for_create(rt: &ResourceType, object: &mut Value) {
    if let Some(metadata) = object["metadata"].as_object_mut() {
        for field in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "selfLink",
        ] {
            metadata.remove(field);
        }
        metadata.insert("uid".into(), json!(new_uid()));
        metadata.insert("creationTimestamp".into(), json!(now()));
        if rt.has_generation {
            metadata.insert("generation".into(), json!(1));
        }
    }
    if rt.status_subresource
        && let Some(map) = object.as_object_mut()
    {
        map.remove("status");
    }
}

/// Copies the fields no update may change from the stored object.
/// A write that names a different uid than the stored object's is refused (other server-set
/// metadata is silently kept, as the real server does).
pub fn changed_uid(old: &Value, new: &Value) -> Option<Cause> {
    let uid = new["metadata"]["uid"].as_str().filter(|u| !u.is_empty())?;
    (uid != meta_str(old, "uid")).then(|| Cause {
        reason: "FieldValueInvalid".into(),
        field: "metadata.uid".into(),
        message: format!(
            "{}: field is immutable",
            validation::invalid_value(&json!(uid))
        ),
    })
}

pub fn keep_immutable_metadata(rt: &ResourceType, old: &Value, new: &mut Value) {
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
        "name",
        "namespace",
    ] {
        match old["metadata"].get(field) {
            Some(value) if !value.is_null() => new["metadata"][field] = value.clone(),
            _ => {
                if let Some(metadata) = new["metadata"].as_object_mut() {
                    metadata.remove(field);
                }
            }
        }
    }
    if let Some(metadata) = new["metadata"].as_object_mut() {
        metadata.remove("selfLink");
        if !rt.has_generation {
            metadata.remove("generation");
        }
    }
}

pub fn finalizers(object: &Value) -> Vec<String> {
    object["metadata"]["finalizers"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub fn is_deleting(object: &Value) -> bool {
    object["metadata"]["deletionTimestamp"].is_string()
}

/// ConfigMaps and Secrets marked `immutable: true` keep their data and stay immutable.
pub fn immutable_data(rt: &ResourceType, old: &Value, new: &Value) -> Vec<Cause> {
    let changed = |field: &str, value: &Value| Cause {
        reason: "FieldValueInvalid".into(),
        field: field.into(),
        message: format!("{}: field is immutable", validation::invalid_value(value)),
    };
    if rt.custom {
        return Vec::new();
    }
    match (rt.group.as_str(), rt.kind.as_str()) {
        ("", "Secret") if old["type"] != new["type"] => {
            return vec![changed("type", &new["type"])];
        }
        ("apps", "Deployment") if old["spec"]["selector"] != new["spec"]["selector"] => {
            return vec![changed("spec.selector", &new["spec"]["selector"])];
        }
        _ => {}
    }
    if !rt.group.is_empty() || !matches!(rt.kind.as_str(), "ConfigMap" | "Secret") {
        return Vec::new();
    }
    if old["immutable"] != Value::Bool(true) {
        return Vec::new();
    }
    let forbidden = |field: &str| Cause {
        reason: "FieldValueForbidden".into(),
        field: field.into(),
        message: "Forbidden: field is immutable when `immutable` is set".into(),
    };
    let mut causes = Vec::new();
    if new["immutable"] != Value::Bool(true) {
        causes.push(forbidden("immutable"));
    }
    for field in ["data", "binaryData"] {
        let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(Map::is_empty);
        let same = old[field] == new[field] || (empty(&old[field]) && empty(&new[field]));
        if !same {
            causes.push(forbidden(field));
        }
    }
    causes
}
