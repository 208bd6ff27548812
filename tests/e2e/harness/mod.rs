//! The e2e harness: the shared Kubernetes API ([`cluster`]), the fake ZIS admin client
//! ([`fake`]), the operator process guard ([`operator`]) and one test's world ([`env`]).

pub mod cluster;
pub mod env;
pub mod fake;
pub mod operator;

pub use env::{
    CREDENTIALS_SECRET, Credentials, DOMAIN, FINALIZER, INTEGRATION, Setup, assert_no_secret,
    check_condition, condition, random_token,
};
