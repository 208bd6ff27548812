//! The chaos test of `tests/chaos.rs` on the real API server of `tests/cluster` (the operator
//! replicas run as its ServiceAccount under `deploy/rbac.yaml`).

#[path = "chaos.rs"]
mod chaos;
