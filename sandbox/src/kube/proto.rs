//! Decoding of Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`).
//!
//! kubectl's imperative generators (`kubectl create configmap|secret|namespace|serviceaccount|
//! role|rolebinding|clusterrole|clusterrolebinding|deployment`, `kubectl auth ...`)
//! send built-in objects as protobuf and do not fall back to JSON, so the server reads the
//! `k8s\0` envelope (`runtime.Unknown`) and converts the few kinds it creates this way to JSON.
//! Responses are always JSON (clients accept it). Only the wire format is implemented here;
//! the field numbers follow the Kubernetes `generated.proto` files.

use serde_json::{Map, Value, json};

/// A body that is not a decodable protobuf object of a supported kind.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProtoError {
    #[error("protobuf body is truncated or malformed")]
    Malformed,
    #[error("protobuf body lacks the k8s envelope")]
    NoEnvelope,
    #[error("protobuf encoding of {0} is not supported by this server; send JSON")]
    UnsupportedKind(String),
}

enum Wire<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
    Fixed,
}

fn varint(data: &[u8], pos: &mut usize) -> Result<u64, ProtoError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*pos).ok_or(ProtoError::Malformed)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(ProtoError::Malformed)
}

/// Splits a message into (field number, value) pairs.
fn fields(data: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, ProtoError> {
    let mut pos = 0;
    let mut out = Vec::new();
    while pos < data.len() {
        let tag = varint(data, &mut pos)?;
        let value = match tag & 7 {
            0 => Wire::Varint(varint(data, &mut pos)?),
            1 => {
                pos += 8;
                Wire::Fixed
            }
            2 => {
                let len =
                    usize::try_from(varint(data, &mut pos)?).map_err(|_| ProtoError::Malformed)?;
                let end = pos.checked_add(len).ok_or(ProtoError::Malformed)?;
                let bytes = data.get(pos..end).ok_or(ProtoError::Malformed)?;
                pos = end;
                Wire::Bytes(bytes)
            }
            5 => {
                pos += 4;
                Wire::Fixed
            }
            _ => return Err(ProtoError::Malformed),
        };
        if pos > data.len() {
            return Err(ProtoError::Malformed);
        }
        out.push((tag >> 3, value));
    }
    Ok(out)
}

/// How a field converts to JSON.
#[derive(Clone, Copy)]
enum Kind {
    Str,
    Bool,
    Int,
    Time,
    Strings,
    Message(&'static [Field]),
    Messages(&'static [Field]),
    StringMap,
    BytesMap,
}

type Field = (u64, &'static str, Kind);

/// Integer fields whose JSON form is `omitempty`, so a zero means "unset".
const OMITTED_WHEN_ZERO: &[&str] = &["generation", "hostPort"];

const OWNER_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "controller", Kind::Bool),
    (7, "blockOwnerDeletion", Kind::Bool),
];
const OBJECT_META: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "generateName", Kind::Str),
    (3, "namespace", Kind::Str),
    (5, "uid", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "generation", Kind::Int),
    (8, "creationTimestamp", Kind::Time),
    (9, "deletionTimestamp", Kind::Time),
    (10, "deletionGracePeriodSeconds", Kind::Int),
    (11, "labels", Kind::StringMap),
    (12, "annotations", Kind::StringMap),
    (13, "ownerReferences", Kind::Messages(OWNER_REFERENCE)),
    (14, "finalizers", Kind::Strings),
];
const CONFIG_MAP: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::StringMap),
    (3, "binaryData", Kind::BytesMap),
    (4, "immutable", Kind::Bool),
];
const SECRET: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "data", Kind::BytesMap),
    (3, "type", Kind::Str),
    (4, "stringData", Kind::StringMap),
    (5, "immutable", Kind::Bool),
];
const NAMESPACE_SPEC: &[Field] = &[(1, "finalizers", Kind::Strings)];
const NAMESPACE_STATUS: &[Field] = &[(1, "phase", Kind::Str)];
const NAMESPACE: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(NAMESPACE_SPEC)),
    (3, "status", Kind::Message(NAMESPACE_STATUS)),
];
const OBJECT_REFERENCE: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "namespace", Kind::Str),
    (3, "name", Kind::Str),
    (4, "uid", Kind::Str),
    (5, "apiVersion", Kind::Str),
    (6, "resourceVersion", Kind::Str),
    (7, "fieldPath", Kind::Str),
];
const LOCAL_OBJECT_REFERENCE: &[Field] = &[(1, "name", Kind::Str)];
const SERVICE_ACCOUNT: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "secrets", Kind::Messages(OBJECT_REFERENCE)),
    (
        3,
        "imagePullSecrets",
        Kind::Messages(LOCAL_OBJECT_REFERENCE),
    ),
    (4, "automountServiceAccountToken", Kind::Bool),
];
const RESOURCE_ATTRIBUTES: &[Field] = &[
    (1, "namespace", Kind::Str),
    (2, "verb", Kind::Str),
    (3, "group", Kind::Str),
    (4, "version", Kind::Str),
    (5, "resource", Kind::Str),
    (6, "subresource", Kind::Str),
    (7, "name", Kind::Str),
];
const NON_RESOURCE_ATTRIBUTES: &[Field] = &[(1, "path", Kind::Str), (2, "verb", Kind::Str)];
const ACCESS_REVIEW_SPEC: &[Field] = &[
    (1, "resourceAttributes", Kind::Message(RESOURCE_ATTRIBUTES)),
    (
        2,
        "nonResourceAttributes",
        Kind::Message(NON_RESOURCE_ATTRIBUTES),
    ),
];
const SELF_SUBJECT_ACCESS_REVIEW: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(ACCESS_REVIEW_SPEC)),
];
const RULES_REVIEW_SPEC: &[Field] = &[(1, "namespace", Kind::Str)];
const SELF_SUBJECT_RULES_REVIEW: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(RULES_REVIEW_SPEC)),
];
const SELF_SUBJECT_REVIEW: &[Field] = &[(1, "metadata", Kind::Message(OBJECT_META))];
const POLICY_RULE: &[Field] = &[
    (1, "verbs", Kind::Strings),
    (2, "apiGroups", Kind::Strings),
    (3, "resources", Kind::Strings),
    (4, "resourceNames", Kind::Strings),
    (5, "nonResourceURLs", Kind::Strings),
];
const SUBJECT: &[Field] = &[
    (1, "kind", Kind::Str),
    (2, "apiGroup", Kind::Str),
    (3, "name", Kind::Str),
    (4, "namespace", Kind::Str),
];
const ROLE_REF: &[Field] = &[
    (1, "apiGroup", Kind::Str),
    (2, "kind", Kind::Str),
    (3, "name", Kind::Str),
];
const LABEL_SELECTOR_REQUIREMENT: &[Field] = &[
    (1, "key", Kind::Str),
    (2, "operator", Kind::Str),
    (3, "values", Kind::Strings),
];
const LABEL_SELECTOR: &[Field] = &[
    (1, "matchLabels", Kind::StringMap),
    (
        2,
        "matchExpressions",
        Kind::Messages(LABEL_SELECTOR_REQUIREMENT),
    ),
];
const AGGREGATION_RULE: &[Field] = &[(1, "clusterRoleSelectors", Kind::Messages(LABEL_SELECTOR))];
const ROLE: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "rules", Kind::Messages(POLICY_RULE)),
];
const CLUSTER_ROLE: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "rules", Kind::Messages(POLICY_RULE)),
    (3, "aggregationRule", Kind::Message(AGGREGATION_RULE)),
];
const ROLE_BINDING: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "subjects", Kind::Messages(SUBJECT)),
    (3, "roleRef", Kind::Message(ROLE_REF)),
];
// What `kubectl create deployment` sends (image, command, port, replicas); other pod fields
// are not decoded.
const CONTAINER_PORT: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "hostPort", Kind::Int),
    (3, "containerPort", Kind::Int),
    (4, "protocol", Kind::Str),
    (5, "hostIP", Kind::Str),
];
const ENV_VAR: &[Field] = &[(1, "name", Kind::Str), (2, "value", Kind::Str)];
const CONTAINER: &[Field] = &[
    (1, "name", Kind::Str),
    (2, "image", Kind::Str),
    (3, "command", Kind::Strings),
    (4, "args", Kind::Strings),
    (5, "workingDir", Kind::Str),
    (6, "ports", Kind::Messages(CONTAINER_PORT)),
    (7, "env", Kind::Messages(ENV_VAR)),
    (14, "imagePullPolicy", Kind::Str),
];
const POD_SPEC: &[Field] = &[
    (2, "containers", Kind::Messages(CONTAINER)),
    (3, "restartPolicy", Kind::Str),
    (8, "serviceAccountName", Kind::Str),
];
const POD_TEMPLATE_SPEC: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(POD_SPEC)),
];
const DEPLOYMENT_STRATEGY: &[Field] = &[(1, "type", Kind::Str)];
const DEPLOYMENT_SPEC: &[Field] = &[
    (1, "replicas", Kind::Int),
    (2, "selector", Kind::Message(LABEL_SELECTOR)),
    (3, "template", Kind::Message(POD_TEMPLATE_SPEC)),
    (4, "strategy", Kind::Message(DEPLOYMENT_STRATEGY)),
];
const DEPLOYMENT: &[Field] = &[
    (1, "metadata", Kind::Message(OBJECT_META)),
    (2, "spec", Kind::Message(DEPLOYMENT_SPEC)),
];
const DELETE_PRECONDITIONS: &[Field] = &[(1, "uid", Kind::Str), (2, "resourceVersion", Kind::Str)];
const DELETE_OPTIONS: &[Field] = &[
    (1, "gracePeriodSeconds", Kind::Int),
    (2, "preconditions", Kind::Message(DELETE_PRECONDITIONS)),
    (3, "orphanDependents", Kind::Bool),
    (4, "propagationPolicy", Kind::Str),
    (5, "dryRun", Kind::Strings),
];

fn text(bytes: &[u8]) -> Result<String, ProtoError> {
    String::from_utf8(bytes.to_vec()).map_err(|_| ProtoError::Malformed)
}

fn base64(bytes: &[u8]) -> Value {
    serde_json::to_value(k8s_openapi::ByteString(bytes.to_vec())).unwrap_or(Value::Null)
}

/// Seconds of Go's zero `time.Time`, which marks an unset timestamp.
const GO_ZERO_TIME: i64 = -62_135_596_800;

/// A timestamp; Go encodes an unset `metav1.Time` as an empty message (or, in older encoders,
/// as the zero time's seconds), and both mean "no timestamp", not the Unix epoch.
fn time(bytes: &[u8]) -> Result<Value, ProtoError> {
    let mut seconds = None;
    for (number, value) in fields(bytes)? {
        if let (1, Wire::Varint(v)) = (number, value) {
            seconds = Some(v as i64);
        }
    }
    let Some(seconds) = seconds.filter(|s| *s != GO_ZERO_TIME) else {
        return Ok(Value::Null);
    };
    Ok(chrono::DateTime::from_timestamp(seconds, 0)
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)))
        .unwrap_or(Value::Null))
}

fn map_entry(bytes: &[u8]) -> Result<(String, &[u8]), ProtoError> {
    let mut key = String::new();
    let mut value: &[u8] = &[];
    for (number, wire) in fields(bytes)? {
        match (number, wire) {
            (1, Wire::Bytes(b)) => key = text(b)?,
            (2, Wire::Bytes(b)) => value = b,
            _ => {}
        }
    }
    Ok((key, value))
}

fn message(bytes: &[u8], schema: &[Field]) -> Result<Value, ProtoError> {
    let mut out = Map::new();
    for (number, wire) in fields(bytes)? {
        let Some((_, name, kind)) = schema.iter().find(|(n, _, _)| *n == number) else {
            continue;
        };
        let name = name.to_string();
        match (kind, wire) {
            // Go encodes unset (empty) strings and zero generations; JSON omits them.
            (Kind::Str, Wire::Bytes(b)) => {
                if !b.is_empty() {
                    out.insert(name, json!(text(b)?));
                }
            }
            (Kind::Bool, Wire::Varint(v)) => {
                out.insert(name, json!(v != 0));
            }
            (Kind::Int, Wire::Varint(v)) => {
                // Go encodes every plain (non-pointer) integer; JSON omits the zero of the
                // `omitempty` ones.
                if v != 0 || !OMITTED_WHEN_ZERO.contains(&name.as_str()) {
                    out.insert(name, json!(v as i64));
                }
            }
            (Kind::Time, Wire::Bytes(b)) => {
                let stamp = time(b)?;
                if !stamp.is_null() {
                    out.insert(name, stamp);
                }
            }
            (Kind::Strings, Wire::Bytes(b)) => {
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(items) = list.as_array_mut() {
                    items.push(json!(text(b)?));
                }
            }
            (Kind::Message(inner), Wire::Bytes(b)) => {
                out.insert(name, message(b, inner)?);
            }
            (Kind::Messages(inner), Wire::Bytes(b)) => {
                let item = message(b, inner)?;
                let list = out.entry(name).or_insert_with(|| json!([]));
                if let Some(items) = list.as_array_mut() {
                    items.push(item);
                }
            }
            (Kind::StringMap, Wire::Bytes(b)) => {
                let (key, value) = map_entry(b)?;
                out.entry(name).or_insert_with(|| json!({}))[key] = json!(text(value)?);
            }
            (Kind::BytesMap, Wire::Bytes(b)) => {
                let (key, value) = map_entry(b)?;
                out.entry(name).or_insert_with(|| json!({}))[key] = base64(value);
            }
            _ => return Err(ProtoError::Malformed),
        }
    }
    Ok(Value::Object(out))
}

/// Decodes a `k8s\0`-prefixed protobuf object into its JSON form.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let unknown = body.strip_prefix(b"k8s\0").ok_or(ProtoError::NoEnvelope)?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, wire) in fields(unknown)? {
        match (number, wire) {
            (1, Wire::Bytes(type_meta)) => {
                for (n, w) in fields(type_meta)? {
                    match (n, w) {
                        (1, Wire::Bytes(b)) => api_version = text(b)?,
                        (2, Wire::Bytes(b)) => kind = text(b)?,
                        _ => {}
                    }
                }
            }
            (2, Wire::Bytes(b)) => raw = b,
            _ => {}
        }
    }
    let schema = match (api_version.as_str(), kind.as_str()) {
        ("v1", "ConfigMap") => CONFIG_MAP,
        ("v1", "Secret") => SECRET,
        ("v1", "Namespace") => NAMESPACE,
        ("v1", "ServiceAccount") => SERVICE_ACCOUNT,
        (_, "DeleteOptions") => DELETE_OPTIONS,
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview") => SELF_SUBJECT_ACCESS_REVIEW,
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview") => SELF_SUBJECT_RULES_REVIEW,
        ("authentication.k8s.io/v1", "SelfSubjectReview") => SELF_SUBJECT_REVIEW,
        ("rbac.authorization.k8s.io/v1", "Role") => ROLE,
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => CLUSTER_ROLE,
        ("rbac.authorization.k8s.io/v1", "RoleBinding" | "ClusterRoleBinding") => ROLE_BINDING,
        ("apps/v1", "Deployment") => DEPLOYMENT,
        _ => {
            return Err(ProtoError::UnsupportedKind(format!(
                "{api_version}, Kind={kind}"
            )));
        }
    };
    let mut object = message(raw, schema)?;
    object["apiVersion"] = json!(api_version);
    object["kind"] = json!(kind);
    Ok(object)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = vec![((number << 3) | 2) as u8, bytes.len() as u8];
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn a_protobuf_secret_decodes_to_json_with_base64_data() {
        let mut meta = field(1, b"creds");
        meta.extend(field(2, b""));
        meta.extend(field(11, &[field(1, b"app"), field(2, b"demo")].concat()));
        let mut secret = field(1, &meta);
        secret.extend(field(2, &[field(1, b"token"), field(2, b"abc")].concat()));
        secret.extend(field(3, b"Opaque"));
        let type_meta = [field(1, b"v1"), field(2, b"Secret")].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        body.extend(field(2, &secret));
        let decoded = decode(&body).expect("decodes");
        assert_eq!(
            decoded,
            json!({"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                   "metadata": {"name": "creds", "labels": {"app": "demo"}},
                   "data": {"token": "YWJj"}})
        );
    }

    #[test]
    fn unknown_kinds_and_truncated_bodies_are_refused() {
        let type_meta = [field(1, b"v1"), field(2, b"Pod")].concat();
        let mut body = b"k8s\0".to_vec();
        body.extend(field(1, &type_meta));
        assert!(matches!(decode(&body), Err(ProtoError::UnsupportedKind(_))));
        assert_eq!(decode(b"k8s\0\x0a\x09ab"), Err(ProtoError::Malformed));
        assert_eq!(decode(b"{}"), Err(ProtoError::NoEnvelope));
    }
}
