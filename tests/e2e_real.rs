//! The end-to-end suite of `tests/e2e/` again, scenario for scenario, on the real Kubernetes API
//! server: kube-apiserver, etcd and kube-controller-manager of `tests/cluster`, built from their
//! Go modules on first use (minutes, once) and started for this test binary. The operator runs as
//! its ServiceAccount with only the rights `deploy/rbac.yaml` grants, so every scenario also
//! proves those rights suffice. Without Go the scenarios return at once, with a note.

#[path = "e2e/main.rs"]
mod e2e;
