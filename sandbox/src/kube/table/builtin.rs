//! Columns and cells of the kube-apiserver printers for the built-in kinds the sandbox serves.
//! The server prints in wide mode, so priority-1 columns have cells too.

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{CREATION_TIMESTAMP_DESCRIPTION, NAME_DESCRIPTION, age, column, name_of};

type Table = (Vec<Value>, Vec<Vec<Value>>);

fn str_at<'a>(obj: &'a Value, pointer: &str) -> &'a str {
    obj.pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn count_at(obj: &Value, pointer: &str) -> usize {
    match obj.pointer(pointer) {
        Some(Value::Object(m)) => m.len(),
        Some(Value::Array(a)) => a.len(),
        _ => 0,
    }
}

fn created(obj: &Value, now: DateTime<Utc>) -> Value {
    Value::from(age(
        obj.pointer("/metadata/creationTimestamp")
            .and_then(Value::as_str),
        now,
    ))
}

fn name_column() -> Value {
    column("Name", "string", "name", NAME_DESCRIPTION, 0)
}

fn age_column() -> Value {
    column("Age", "string", "", CREATION_TIMESTAMP_DESCRIPTION, 0)
}

/// The printer table for a built-in kind, or None when the sandbox has no printer for it.
pub(super) fn table(
    kind: &str,
    api_version: &str,
    objects: &[Value],
    now: DateTime<Utc>,
) -> Option<Table> {
    let core = api_version == "v1";
    match kind {
        "Secret" if core => Some((
            vec![
                name_column(),
                column(
                    "Type",
                    "string",
                    "",
                    "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types",
                    0,
                ),
                column(
                    "Data",
                    "string",
                    "",
                    "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4",
                    0,
                ),
                age_column(),
            ],
            objects
                .iter()
                .map(|o| {
                    vec![
                        name_of(o),
                        Value::from(str_at(o, "/type")),
                        Value::from(count_at(o, "/data")),
                        created(o, now),
                    ]
                })
                .collect(),
        )),
        "ConfigMap" if core => Some((
            vec![
                name_column(),
                column(
                    "Data",
                    "string",
                    "",
                    "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.",
                    0,
                ),
                age_column(),
            ],
            objects
                .iter()
                .map(|o| {
                    let n = count_at(o, "/data") + count_at(o, "/binaryData");
                    vec![name_of(o), Value::from(n), created(o, now)]
                })
                .collect(),
        )),
        "Namespace" if core => Some((
            vec![
                name_column(),
                column("Status", "string", "", "The status of the namespace", 0),
                age_column(),
            ],
            objects
                .iter()
                .map(|o| {
                    vec![
                        name_of(o),
                        Value::from(str_at(o, "/status/phase")),
                        created(o, now),
                    ]
                })
                .collect(),
        )),
        "ServiceAccount" if core => Some((
            vec![
                name_column(),
                column(
                    "Secrets",
                    "string",
                    "",
                    "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
                    0,
                ),
                age_column(),
            ],
            objects
                .iter()
                .map(|o| {
                    vec![
                        name_of(o),
                        Value::from(count_at(o, "/secrets")),
                        created(o, now),
                    ]
                })
                .collect(),
        )),
        "Lease" if api_version == "coordination.k8s.io/v1" => Some((
            vec![
                name_column(),
                column(
                    "Holder",
                    "string",
                    "",
                    "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.",
                    0,
                ),
                age_column(),
            ],
            objects
                .iter()
                .map(|o| {
                    vec![
                        name_of(o),
                        Value::from(str_at(o, "/spec/holderIdentity")),
                        created(o, now),
                    ]
                })
                .collect(),
        )),
        "Service" if core => Some(services(objects, now)),
        "Deployment" if api_version == "apps/v1" => Some(deployments(objects, now)),
        "RoleBinding" | "ClusterRoleBinding" if api_version == "rbac.authorization.k8s.io/v1" => {
            Some(role_bindings(objects, now))
        }
        "Event" if core || api_version == "events.k8s.io/v1" => Some(events(objects, core, now)),
        _ => None,
    }
}

/// The Service printer: no cluster IP is ever allocated, so that cell is `<none>` unless the
/// manifest set one.
fn services(objects: &[Value], now: DateTime<Utc>) -> Table {
    let columns = vec![
        name_column(),
        column("Type", "string", "", "The type of service.", 0),
        column(
            "Cluster-IP",
            "string",
            "",
            "The cluster IP assigned to the service.",
            0,
        ),
        column(
            "External-IP",
            "string",
            "",
            "The external IP assigned to the service.",
            0,
        ),
        column(
            "Port(s)",
            "string",
            "",
            "The ports exposed by the service.",
            0,
        ),
        age_column(),
        column("Selector", "string", "", "The selector for the service.", 1),
    ];
    let rows = objects
        .iter()
        .map(|o| {
            let service_type = str_at(o, "/spec/type");
            let external = match o.pointer("/spec/externalIPs").and_then(Value::as_array) {
                Some(ips) if !ips.is_empty() => ips
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","),
                _ if service_type == "LoadBalancer" => "<pending>".into(),
                _ if service_type == "ExternalName" => str_at(o, "/spec/externalName").into(),
                _ => "<none>".into(),
            };
            let ports = o
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map(|ports| {
                    ports
                        .iter()
                        .map(|p| {
                            let port = go_number(&p["port"]);
                            let protocol = p["protocol"].as_str().unwrap_or("TCP");
                            match p["nodePort"].as_i64().filter(|n| *n != 0) {
                                Some(node) => format!("{port}:{node}/{protocol}"),
                                None => format!("{port}/{protocol}"),
                            }
                        })
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "<none>".into());
            let selector = selector_text(o.pointer("/spec/selector"));
            vec![
                name_of(o),
                Value::from(service_type),
                Value::from(non_empty(str_at(o, "/spec/clusterIP"), "<none>")),
                Value::from(external),
                Value::from(ports),
                created(o, now),
                Value::from(selector),
            ]
        })
        .collect();
    (columns, rows)
}

/// The Deployment printer; no controller runs, so the status counts stay at zero.
fn deployments(objects: &[Value], now: DateTime<Utc>) -> Table {
    let columns = vec![
        name_column(),
        column(
            "Ready",
            "string",
            "",
            "Number of the pod with ready state",
            0,
        ),
        column(
            "Up-to-date",
            "string",
            "",
            "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
            0,
        ),
        column(
            "Available",
            "string",
            "",
            "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
            0,
        ),
        age_column(),
        column(
            "Containers",
            "string",
            "",
            "Names of each container in the template.",
            1,
        ),
        column(
            "Images",
            "string",
            "",
            "Images referenced by each container in the template.",
            1,
        ),
        column(
            "Selector",
            "string",
            "",
            "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.",
            1,
        ),
    ];
    let count = |o: &Value, pointer: &str| o.pointer(pointer).and_then(Value::as_i64).unwrap_or(0);
    let rows = objects
        .iter()
        .map(|o| {
            let desired = o
                .pointer("/spec/replicas")
                .and_then(Value::as_i64)
                .unwrap_or(1);
            let containers: Vec<&Value> = o
                .pointer("/spec/template/spec/containers")
                .and_then(Value::as_array)
                .map(|c| c.iter().collect())
                .unwrap_or_default();
            let joined = |field: &str| {
                containers
                    .iter()
                    .map(|c| c[field].as_str().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            vec![
                name_of(o),
                Value::from(format!("{}/{desired}", count(o, "/status/readyReplicas"))),
                Value::from(count(o, "/status/updatedReplicas")),
                Value::from(count(o, "/status/availableReplicas")),
                created(o, now),
                Value::from(joined("name")),
                Value::from(joined("image")),
                Value::from(selector_text(o.pointer("/spec/selector/matchLabels"))),
            ]
        })
        .collect();
    (columns, rows)
}

/// The RoleBinding and ClusterRoleBinding printer.
fn role_bindings(objects: &[Value], now: DateTime<Utc>) -> Table {
    let columns = vec![
        name_column(),
        column(
            "Role",
            "string",
            "",
            "RoleRef is the reference to the role the binding grants.",
            0,
        ),
        age_column(),
        column("Users", "string", "", "Users in the binding", 1),
        column("Groups", "string", "", "Groups in the binding", 1),
        column(
            "ServiceAccounts",
            "string",
            "",
            "ServiceAccounts in the binding",
            1,
        ),
    ];
    let rows = objects
        .iter()
        .map(|o| {
            let subjects: Vec<&Value> = o
                .pointer("/subjects")
                .and_then(Value::as_array)
                .map(|s| s.iter().collect())
                .unwrap_or_default();
            let of_kind = |kind: &str| {
                subjects
                    .iter()
                    .filter(|s| s["kind"] == kind)
                    .map(|s| {
                        let name = s["name"].as_str().unwrap_or_default();
                        match (kind, s["namespace"].as_str()) {
                            ("ServiceAccount", Some(ns)) => format!("{ns}/{name}"),
                            _ => name.to_string(),
                        }
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            vec![
                name_of(o),
                Value::from(format!(
                    "{}/{}",
                    str_at(o, "/roleRef/kind"),
                    str_at(o, "/roleRef/name")
                )),
                created(o, now),
                Value::from(of_kind("User")),
                Value::from(of_kind("Group")),
                Value::from(of_kind("ServiceAccount")),
            ]
        })
        .collect();
    (columns, rows)
}

/// `k=v,k2=v2`, or `<none>` for an empty or missing map (as kubectl's label formatting).
fn selector_text(map: Option<&Value>) -> String {
    map.and_then(Value::as_object)
        .filter(|m| !m.is_empty())
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_else(|| "<none>".into())
}

fn go_number(value: &Value) -> String {
    match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => "0".into(),
    }
}

fn events(objects: &[Value], core: bool, now: DateTime<Utc>) -> Table {
    let columns = vec![
        column(
            "Last Seen",
            "string",
            "",
            "The time at which the most recent occurrence of this event was recorded.",
            0,
        ),
        column(
            "Type",
            "string",
            "",
            "Type of this event (Normal, Warning), new types could be added in the future",
            0,
        ),
        column(
            "Reason",
            "string",
            "",
            "This should be a short, machine understandable string that gives the reason for the transition into the object's current status.",
            0,
        ),
        column(
            "Object",
            "string",
            "",
            "The object that this event is about.",
            0,
        ),
        column(
            "Subobject",
            "string",
            "",
            "If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].",
            1,
        ),
        column(
            "Source",
            "string",
            "",
            "The component reporting this event. Should be a short machine understandable string.",
            1,
        ),
        column(
            "Message",
            "string",
            "",
            "A human-readable description of the status of this operation.",
            0,
        ),
        column(
            "First Seen",
            "string",
            "",
            "The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)",
            1,
        ),
        column(
            "Count",
            "string",
            "",
            "The number of times this event has occurred.",
            1,
        ),
        column("Name", "string", "name", NAME_DESCRIPTION, 1),
    ];
    // events.k8s.io/v1 names the same fields differently.
    let (first, last, count, regarding, message, source) = if core {
        (
            "/firstTimestamp",
            "/lastTimestamp",
            "/count",
            "/involvedObject",
            "/message",
            "/source",
        )
    } else {
        (
            "/deprecatedFirstTimestamp",
            "/deprecatedLastTimestamp",
            "/deprecatedCount",
            "/regarding",
            "/note",
            "/deprecatedSource",
        )
    };
    let rows = objects
        .iter()
        .map(|o| {
            let stamp = |p: &str| {
                o.pointer(p)
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
            };
            let first_seen = match stamp(first) {
                Some(t) => age(Some(t), now),
                None => age(stamp("/eventTime"), now),
            };
            let mut last_seen = match stamp(last) {
                Some(t) => age(Some(t), now),
                None => first_seen.clone(),
            };
            let mut n = o.pointer(count).and_then(Value::as_i64).unwrap_or(0);
            if let Some(series) = o.get("series").filter(|s| s.is_object()) {
                last_seen = age(series.get("lastObservedTime").and_then(Value::as_str), now);
                n = series.get("count").and_then(Value::as_i64).unwrap_or(0);
            } else if n == 0 {
                n = 1;
            }
            let kind = str_at(o, &format!("{regarding}/kind")).to_lowercase();
            let target_name = str_at(o, &format!("{regarding}/name"));
            let target = if target_name.is_empty() {
                kind
            } else {
                format!("{kind}/{target_name}")
            };
            let component = non_empty(
                str_at(o, &format!("{source}/component")),
                str_at(o, "/reportingController"),
            );
            let instance = non_empty(
                str_at(o, &format!("{source}/host")),
                str_at(o, "/reportingInstance"),
            );
            let source_text = match (component.is_empty(), instance.is_empty()) {
                (true, _) => String::new(),
                (false, true) => component.to_string(),
                (false, false) => format!("{component}, {instance}"),
            };
            vec![
                Value::from(last_seen),
                Value::from(str_at(o, "/type")),
                Value::from(str_at(o, "/reason")),
                Value::from(target),
                Value::from(str_at(o, &format!("{regarding}/fieldPath"))),
                Value::from(source_text),
                Value::from(str_at(o, message).trim()),
                Value::from(first_seen),
                Value::from(n),
                name_of(o),
            ]
        })
        .collect();
    (columns, rows)
}

fn non_empty<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.is_empty() { b } else { a }
}
