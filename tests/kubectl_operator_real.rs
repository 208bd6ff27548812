//! The kubectl acceptance tests of `tests/kubectl_operator.rs` again, on the real Kubernetes API
//! server of `tests/cluster` (built from source on first use) with kubectl of the same release,
//! the operator running as its ServiceAccount under `deploy/rbac.yaml`.

#[path = "kubectl_operator.rs"]
mod kubectl_operator;
