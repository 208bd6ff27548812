//! Development tools for zis-operator. Nothing here ships in the operator: the operator crate
//! never depends on this one (only its tests do).
//!
//! - [`bench`]: `zis-sandbox bench`, what many connections on one account cost the operator.
//! - [`zis`]: a local ZIS Connections API server that behaves like the vendor documents it, with
//!   an admin API (`/_fake/`) and fault injection for tests.
//! - [`cluster`]: the real control plane (kube-apiserver, etcd, kube-controller-manager) for tests.
//! - [`demo`]: the quick start: both servers plus the real operator binary, one lifecycle.
//! - [`kube`]: an in-memory Kubernetes API server that real kubectl and kube-rs accept.

pub mod bench;
pub mod cluster;
pub mod demo;
pub mod kube;
pub mod zis;
