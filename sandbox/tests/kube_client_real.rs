//! The tests of `kube_client.rs` again, on the real Kubernetes API server of `tests/cluster`
//! (kube-apiserver, etcd and kube-controller-manager built from source on first use; set
//! `ZIS_CLUSTER_BIN_DIR` to binaries built before), one control plane shared by the whole
//! binary. Skipped, with a note, when Go is not installed. See `kube_support` for how the
//! backend is chosen and what the tests do differently on a shared server.

#[path = "kube_client.rs"]
mod kube_client;
