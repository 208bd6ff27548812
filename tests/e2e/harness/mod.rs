//! The e2e harness: the shared Kubernetes API ([`cluster`]), the fake ZIS admin client
//! ([`fake`]), the operator process guard ([`operator`]) one test's world ([`env`]), the
//! waits ([`wait`]) and status reading ([`status`]).

// Shared by several test binaries (`e2e`, `e2e_real`, `rbac_real`), each using part of it.
#![allow(dead_code)]

pub mod cluster;
pub mod env;
pub mod fake;
pub mod integrations;
pub mod operator;
pub mod status;
pub mod wait;

#[allow(unused_imports)]
pub use env::{
    CREDENTIALS_SECRET, Credentials, DOMAIN, FINALIZER, INTEGRATION, Setup, random_token,
};
#[allow(unused_imports)]
pub use status::{assert_no_secret, check_condition, condition};
