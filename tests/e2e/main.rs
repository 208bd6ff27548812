//! End-to-end tests of zis-operator, black-box: the real `zis-operator` binary runs as a child
//! process against a Kubernetes API (an in-process `KubeSandbox` shared by the binary, or the real
//! cluster named by `ZIS_E2E_KUBECONFIG`) and a fake ZIS server per test. Tests read and write
//! `ZisBearerConnection` objects as dynamic JSON, never through the operator's Rust types.
//!
//! Every test has its own namespace, fake ZIS and operator process (`--namespace` scoped), so
//! tests run in parallel without seeing each other. See `README.md` beside this file.

mod harness;

mod adoption;
mod credentials_missing;
mod delete_refused;
mod deletion;
mod drift;
mod events;
mod failures;
mod integrations;
mod kubectl;
mod leader;
mod lifecycle;
mod ownership;
mod reconcile_now;
mod secrets;
mod startup;
mod validation;
mod validation_messages;
