//! zis-operator: keeps Zendesk Integration Services (ZIS) bearer-token connections in sync with
//! `ZisBearerConnection` objects and the Kubernetes Secrets that hold their tokens.
//!
//! Module map (dependencies point one way: `controller` uses `zis` and `resource`; `zis` knows
//! nothing of Kubernetes):
//! - [`secret`]: the redacted string type every token travels in.
//! - [`zis`]: the typed ZIS Connections API client (HTTP, pacing, error classification).
//! - [`resource`]: the `ZisBearerConnection` custom resource and its CRD.
//! - [`controller`]: the reconcile loop (dereference, validate, plan, act, report).
//! - [`integrations`]: the reconcile loop of `ZisIntegration` objects (tokens and their renewal).
//! - [`digest`]: 8-byte digests of what is only ever compared (event keys, index relations).
//! - [`events`]: Kubernetes Events as `kubectl get events` and `kubectl describe` show them.
//! - [`metrics`]: Prometheus metrics and the health endpoints.
//! - [`leader`]: leader election on a Lease, and the fencing of remote writes.
//! - [`cli`]: command-line flags and environment variables.
//! - [`logging`]: the log subscriber (and what it never lets through).
//! - [`runtime`]: process setup of `zis-operator run`.

pub mod cli;
pub mod controller;
pub mod digest;
pub mod events;
pub mod integrations;
pub mod leader;
pub mod logging;
pub mod metrics;
pub mod resource;
pub mod runtime;
pub mod secret;
pub mod zis;
