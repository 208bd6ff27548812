//! Access tokens: which integration each belongs to, its scopes and expiry, and the checks a ZIS
//! request goes through (`Authorization: Bearer {access_token}`).
//!
//! Order of the checks: credentials (401 `InvalidCredentials`), then the integration (400
//! `InvalidIntegration` on writes and listing, 404 on show and delete; done by the handlers), then
//! the token's integration and scopes (403 `Forbidden`).

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::sync::{PoisonError, RwLock};
use std::time::{Duration, Instant};

use hyper::StatusCode;
use hyper::header::HeaderValue;

use super::response::ApiError;

/// A permission an access token may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    Read,
    Write,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
        }
    }

    pub fn parse(text: &str) -> Option<Scope> {
        match text {
            "read" => Some(Scope::Read),
            "write" => Some(Scope::Write),
            _ => None,
        }
    }
}

/// What the fake knows of one access token (the token itself is the map key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub integration: String,
    pub scopes: BTreeSet<Scope>,
    pub expires_at: Option<Instant>,
}

impl Grant {
    /// A token with `read write` that never expires.
    pub fn full(integration: &str) -> Grant {
        Grant {
            integration: integration.to_owned(),
            scopes: BTreeSet::from([Scope::Read, Scope::Write]),
            expires_at: None,
        }
    }

    /// Sets a lifetime from `now` (the fake's token clock, see `clock`).
    pub fn expiring_in(mut self, ttl: Option<Duration>, now: Instant) -> Grant {
        self.expires_at = ttl.map(|ttl| now + ttl);
        self
    }
}

/// Why a request's credentials were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("token length is invalid")]
    Missing,
    #[error("authorization scheme must be Bearer")]
    Scheme,
    #[error("token is invalid")]
    Unknown,
    #[error("token has expired")]
    Expired,
    #[error("token does not belong to this integration")]
    OtherIntegration,
    #[error("missing scope {}", .0.as_str())]
    MissingScope(Scope),
}

/// The `WWW-Authenticate` challenges of RFC 6750 (section 3): none names an error when no token
/// was sent; a token that is unknown, revoked or expired is `invalid_token`.
const CHALLENGE_NO_TOKEN: &str = "Bearer realm=\"zis\"";
const CHALLENGE_INVALID: &str = "Bearer realm=\"zis\", error=\"invalid_token\", error_description=\"The access token is invalid\"";
const CHALLENGE_EXPIRED: &str =
    "Bearer realm=\"zis\", error=\"invalid_token\", error_description=\"The access token expired\"";

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        let challenge = match error {
            AuthError::Missing | AuthError::Scheme => Some(CHALLENGE_NO_TOKEN),
            AuthError::Unknown => Some(CHALLENGE_INVALID),
            AuthError::Expired => Some(CHALLENGE_EXPIRED),
            AuthError::OtherIntegration | AuthError::MissingScope(_) => None,
        };
        let error = match error {
            // The reference page's example title, used for a missing or empty token.
            AuthError::Missing => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidCredentials",
                "Token length is invalid",
            ),
            AuthError::Scheme => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidCredentials",
                "Authorization scheme must be Bearer",
            ),
            AuthError::Unknown => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidCredentials",
                "Token is invalid",
            ),
            AuthError::Expired => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "InvalidCredentials",
                "Token has expired",
            ),
            AuthError::OtherIntegration => ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "Cannot access this resource. Token does not belong to this integration",
            ),
            // Exactly the reference page's title for `write`.
            AuthError::MissingScope(scope) => ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                format!(
                    "Cannot access this resource. Missing scope {}",
                    scope.as_str()
                ),
            ),
        };
        error.with_challenge(challenge)
    }
}

/// The access tokens the fake accepts.
#[derive(Default)]
pub struct AccessTokens {
    grants: RwLock<HashMap<String, Grant>>,
}

// The tokens are secrets: Debug shows how many there are, never which.
impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = self
            .grants
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("AccessTokens")
            .field("count", &count)
            .finish()
    }
}

impl AccessTokens {
    /// Adds (or replaces) a token.
    pub fn insert(&self, token: String, grant: Grant) {
        self.grants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(token, grant);
    }

    /// Revokes a token; false when it was not known.
    pub fn remove(&self, token: &str) -> bool {
        self.grants
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(token)
            .is_some()
    }

    /// Revokes several tokens at once.
    pub fn remove_all<'a>(&self, tokens: impl IntoIterator<Item = &'a str>) {
        let mut grants = self.grants.write().unwrap_or_else(PoisonError::into_inner);
        for token in tokens {
            grants.remove(token);
        }
    }

    /// Replaces every token.
    pub fn replace_all(&self, grants: HashMap<String, Grant>) {
        *self.grants.write().unwrap_or_else(PoisonError::into_inner) = grants;
    }

    /// The grant of a valid (known, unexpired at `now`) bearer token from an `Authorization`
    /// header.
    pub fn authenticate(
        &self,
        header: Option<&HeaderValue>,
        now: Instant,
    ) -> Result<Grant, AuthError> {
        let token = bearer_token(header)?;
        let grants = self.grants.read().unwrap_or_else(PoisonError::into_inner);
        let grant = grants.get(token).ok_or(AuthError::Unknown)?;
        if grant.expires_at.is_some_and(|at| now >= at) {
            return Err(AuthError::Expired);
        }
        Ok(grant.clone())
    }
}

/// Checks that an authenticated grant may act on `integration` with `scope`.
pub fn authorize(grant: &Grant, integration: &str, scope: Scope) -> Result<(), AuthError> {
    if grant.integration != integration {
        return Err(AuthError::OtherIntegration);
    }
    if !grant.scopes.contains(&scope) {
        return Err(AuthError::MissingScope(scope));
    }
    Ok(())
}

/// The token of an `Authorization: Bearer <token>` header (scheme case-insensitive).
fn bearer_token(header: Option<&HeaderValue>) -> Result<&str, AuthError> {
    let Some(value) = header else {
        return Err(AuthError::Missing);
    };
    let value = value.to_str().map_err(|_| AuthError::Unknown)?.trim();
    if value.is_empty() {
        return Err(AuthError::Missing);
    }
    let (scheme, token) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(AuthError::Scheme);
    }
    let token = token.trim();
    if token.is_empty() {
        return Err(AuthError::Missing);
    }
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> AccessTokens {
        let tokens = AccessTokens::default();
        tokens.insert("good".into(), Grant::full("one"));
        let mut read_only = Grant::full("one");
        read_only.scopes = BTreeSet::from([Scope::Read]);
        tokens.insert("reader".into(), read_only);
        tokens.insert(
            "old".into(),
            Grant::full("one").expiring_in(Some(Duration::ZERO), Instant::now()),
        );
        tokens
    }

    fn header(text: &str) -> HeaderValue {
        HeaderValue::from_str(text).unwrap()
    }

    #[test]
    fn a_known_bearer_token_is_accepted_whatever_the_scheme_case() {
        let tokens = tokens();
        assert!(
            tokens
                .authenticate(Some(&header("Bearer good")), Instant::now())
                .is_ok()
        );
        assert!(
            tokens
                .authenticate(Some(&header("bearer good")), Instant::now())
                .is_ok()
        );
    }

    #[test]
    fn missing_unknown_and_expired_tokens_are_refused() {
        let tokens = tokens();
        assert_eq!(
            tokens.authenticate(None, Instant::now()),
            Err(AuthError::Missing)
        );
        assert_eq!(
            tokens.authenticate(Some(&header("Bearer ")), Instant::now()),
            Err(AuthError::Missing)
        );
        assert_eq!(
            tokens.authenticate(Some(&header("Basic abc")), Instant::now()),
            Err(AuthError::Scheme)
        );
        assert_eq!(
            tokens.authenticate(Some(&header("Bearer nope")), Instant::now()),
            Err(AuthError::Unknown)
        );
        assert_eq!(
            tokens.authenticate(Some(&header("Bearer old")), Instant::now()),
            Err(AuthError::Expired)
        );
        let error = ApiError::from(AuthError::Expired);
        assert_eq!(
            (error.status.as_u16(), error.code),
            (401, "InvalidCredentials")
        );
        assert!(error.challenge.unwrap().contains("error=\"invalid_token\""));
        let missing = ApiError::from(AuthError::Missing).challenge.unwrap();
        assert!(!missing.contains("error="), "{missing}");
        assert_eq!(ApiError::from(AuthError::OtherIntegration).challenge, None);
    }

    #[test]
    fn tokens_of_other_integrations_and_missing_scopes_are_forbidden() {
        let tokens = tokens();
        let reader = tokens
            .authenticate(Some(&header("Bearer reader")), Instant::now())
            .unwrap();
        assert_eq!(authorize(&reader, "one", Scope::Read), Ok(()));
        assert_eq!(
            authorize(&reader, "one", Scope::Write),
            Err(AuthError::MissingScope(Scope::Write))
        );
        assert_eq!(
            authorize(&reader, "two", Scope::Read),
            Err(AuthError::OtherIntegration)
        );
        let error = ApiError::from(AuthError::MissingScope(Scope::Write));
        assert_eq!(error.status.as_u16(), 403);
        assert_eq!(
            error.title,
            "Cannot access this resource. Missing scope write"
        );
    }

    #[test]
    fn debug_output_never_shows_tokens() {
        assert!(!format!("{:?}", tokens()).contains("good"));
    }
}
