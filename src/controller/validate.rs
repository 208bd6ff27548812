//! Turns a spec and the contents of its token Secret into typed desired values, or a typed error
//! that names the field and what is wrong. Pure: no I/O, no clock.
//!
//! The CRD schema already enforces most of these rules on a real API server; they are repeated
//! here so that an object that slipped past (an older CRD, a server without validation, a
//! `metadata.name` used as the connection name) gets a clear `InvalidSpec` instead of a remote 400.

use std::fmt;
use std::sync::LazyLock;

use regex::Regex;

use crate::resource::{
    ALLOWED_DOMAIN_PATTERN, CONNECTION_NAME_PATTERN, INTEGRATION_PATTERN, RESERVED_CONNECTION_NAME,
    ZisBearerConnectionSpec,
};
use crate::secret::SecretString;

/// Largest token pushed (bytes); bigger values are almost certainly the wrong key.
pub const MAX_TOKEN_BYTES: usize = 8192;
/// Longest `allowedDomain` (a DNS name).
const MAX_DOMAIN_LEN: usize = 253;

// The patterns are compile-time constants also checked by unit tests, so they always compile.
static INTEGRATION: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(INTEGRATION_PATTERN).ok());
static CONNECTION_NAME: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(CONNECTION_NAME_PATTERN).ok());
static ALLOWED_DOMAIN: LazyLock<Option<Regex>> =
    LazyLock::new(|| Regex::new(ALLOWED_DOMAIN_PATTERN).ok());

fn matches(re: &LazyLock<Option<Regex>>, value: &str) -> bool {
    re.as_ref().is_some_and(|re| re.is_match(value))
}

/// The remote connection an object asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub integration: String,
    pub connection_name: String,
    pub allowed_domain: String,
}

/// The bytes found under the token key of a Secret (redacted when formatted).
#[derive(Clone, PartialEq, Eq)]
pub struct RawToken(pub Vec<u8>);

impl fmt::Debug for RawToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RawToken(<redacted {} bytes>)", self.0.len())
    }
}

/// What reading the token Secret found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SecretContents {
    /// No Secret of that name in the namespace.
    Missing,
    /// The Secret exists; `value` is the token key's bytes if the key is present.
    Found {
        resource_version: Option<String>,
        value: Option<RawToken>,
    },
}

/// A valid token and the Secret version it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub value: SecretString,
    pub resource_version: Option<String>,
}

/// Why an object cannot be synced as it stands. Messages never contain a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("{field}: {problem}")]
    InvalidSpec {
        field: &'static str,
        problem: String,
    },
    #[error("secret {name:?} not found in the object's namespace")]
    SecretNotFound { name: String },
    #[error("secret {name:?} has no key {key:?}")]
    SecretKeyNotFound { name: String, key: String },
    #[error("key {key:?} of secret {name:?} is empty")]
    TokenEmpty { name: String, key: String },
    #[error("key {key:?} of secret {name:?} is not valid utf-8")]
    TokenNotUtf8 { name: String, key: String },
    #[error(
        "key {key:?} of secret {name:?} holds {size} bytes, more than the {MAX_TOKEN_BYTES} allowed"
    )]
    TokenTooLarge {
        name: String,
        key: String,
        size: usize,
    },
}

impl ValidationError {
    /// The stable `Ready` reason.
    pub fn reason(&self) -> &'static str {
        match self {
            ValidationError::InvalidSpec { .. } => "InvalidSpec",
            ValidationError::SecretNotFound { .. } => "SecretNotFound",
            ValidationError::SecretKeyNotFound { .. } => "SecretKeyNotFound",
            ValidationError::TokenEmpty { .. } => "TokenEmpty",
            ValidationError::TokenNotUtf8 { .. } => "TokenNotUtf8",
            ValidationError::TokenTooLarge { .. } => "TokenTooLarge",
        }
    }
}

fn invalid(field: &'static str, problem: impl Into<String>) -> ValidationError {
    ValidationError::InvalidSpec {
        field,
        problem: problem.into(),
    }
}

/// Checks the spec and resolves the connection name (`spec.connectionName`, else `object_name`).
pub fn target(
    object_name: &str,
    spec: &ZisBearerConnectionSpec,
) -> Result<Target, ValidationError> {
    if !matches(&INTEGRATION, &spec.integration) {
        return Err(invalid(
            "spec.integration",
            format!(
                "{:?} is not an integration key: 1 to 64 of lowercase letters, digits, '-' and '_', starting with a letter or digit",
                spec.integration
            ),
        ));
    }
    let connection_name = match &spec.connection_name {
        Some(name) => {
            check_connection_name(name)
                .map_err(|problem| invalid("spec.connectionName", problem))?;
            name.clone()
        }
        None => {
            check_connection_name(object_name).map_err(|problem| {
                invalid(
                    "spec.connectionName",
                    format!(
                        "not set, and metadata.name cannot serve as the connection name: {problem}; set spec.connectionName"
                    ),
                )
            })?;
            object_name.to_owned()
        }
    };
    let domain = &spec.allowed_domain;
    if domain.is_empty() || domain.len() > MAX_DOMAIN_LEN || !matches(&ALLOWED_DOMAIN, domain) {
        return Err(invalid(
            "spec.allowedDomain",
            format!(
                "{domain:?} is not a bare hostname: lower-case DNS labels separated by dots, at most {MAX_DOMAIN_LEN} characters, no scheme, port, path or wildcard"
            ),
        ));
    }
    if spec.token_secret_ref.name.is_empty() {
        return Err(invalid("spec.tokenSecretRef.name", "must not be empty"));
    }
    if spec.token_secret_ref.key.is_empty() {
        return Err(invalid("spec.tokenSecretRef.key", "must not be empty"));
    }
    Ok(Target {
        integration: spec.integration.clone(),
        connection_name,
        allowed_domain: domain.clone(),
    })
}

fn check_connection_name(name: &str) -> Result<(), String> {
    if !matches(&CONNECTION_NAME, name) {
        return Err(format!(
            "{name:?} must be 3 to 64 of letters, digits, '_' and '-'"
        ));
    }
    if name == RESERVED_CONNECTION_NAME {
        return Err(format!("{name:?} is reserved by ZIS"));
    }
    Ok(())
}

/// Checks the token found in the Secret named by `spec.tokenSecretRef`.
pub fn token(
    secret_name: &str,
    key: &str,
    contents: SecretContents,
) -> Result<Token, ValidationError> {
    let (resource_version, value) = match contents {
        SecretContents::Missing => {
            return Err(ValidationError::SecretNotFound {
                name: secret_name.to_owned(),
            });
        }
        SecretContents::Found {
            resource_version,
            value,
        } => (resource_version, value),
    };
    let names = || (secret_name.to_owned(), key.to_owned());
    let Some(RawToken(bytes)) = value else {
        let (name, key) = names();
        return Err(ValidationError::SecretKeyNotFound { name, key });
    };
    if bytes.is_empty() {
        let (name, key) = names();
        return Err(ValidationError::TokenEmpty { name, key });
    }
    if bytes.len() > MAX_TOKEN_BYTES {
        let (name, key) = names();
        return Err(ValidationError::TokenTooLarge {
            name,
            key,
            size: bytes.len(),
        });
    }
    let Ok(text) = String::from_utf8(bytes) else {
        let (name, key) = names();
        return Err(ValidationError::TokenNotUtf8 { name, key });
    };
    // A value made only of whitespace is as unusable as an empty one (a common copy mistake).
    if text.trim().is_empty() {
        let (name, key) = names();
        return Err(ValidationError::TokenEmpty { name, key });
    }
    Ok(Token {
        value: SecretString::new(text),
        resource_version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{AdoptionPolicy, DeletionPolicy, TokenSecretRef};

    fn spec(
        integration: &str,
        connection_name: Option<&str>,
        domain: &str,
    ) -> ZisBearerConnectionSpec {
        ZisBearerConnectionSpec {
            integration: integration.into(),
            connection_name: connection_name.map(Into::into),
            allowed_domain: domain.into(),
            token_secret_ref: TokenSecretRef {
                name: "tok".into(),
                key: "token".into(),
            },
            deletion_policy: DeletionPolicy::Delete,
            adoption_policy: AdoptionPolicy::Adopt,
            suspend: false,
        }
    }

    #[test]
    fn the_pattern_constants_compile() {
        assert!(INTEGRATION.is_some() && CONNECTION_NAME.is_some() && ALLOWED_DOMAIN.is_some());
    }

    #[test]
    fn specs_are_accepted_or_refused_naming_the_field() {
        // (case, object name, integration, connectionName, allowedDomain, expected field or Ok name)
        let long_integration = "a".repeat(65);
        let long_name = "n".repeat(65);
        let long_label = format!("{}.example.com", "l".repeat(64));
        let long_domain = format!("{}.com", ["abcdefghij"; 23].join("."));
        type Case<'a> = (
            &'a str,
            &'a str,
            &'a str,
            Option<&'a str>,
            &'a str,
            Result<&'a str, &'a str>,
        );
        let cases: Vec<Case> = vec![
            (
                "a valid spec with a connection name uses it",
                "obj",
                "my_int-1",
                Some("Conn_1"),
                "api.example.com",
                Ok("Conn_1"),
            ),
            (
                "without a connection name the object name is used",
                "conn-a",
                "int",
                None,
                "example.com",
                Ok("conn-a"),
            ),
            (
                "an object name with dots and no connection name is refused",
                "a.b.c",
                "int",
                None,
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "an object name shorter than three is refused",
                "ab",
                "int",
                None,
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "a connection name shorter than three is refused",
                "obj",
                "int",
                Some("ab"),
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "a connection name longer than 64 is refused",
                "obj",
                "int",
                Some(long_name.as_str()),
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "a connection name with a dot is refused",
                "obj",
                "int",
                Some("a.bc"),
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "the reserved connection name zendesk is refused",
                "obj",
                "int",
                Some("zendesk"),
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "an object named zendesk without connection name is refused",
                "zendesk",
                "int",
                None,
                "example.com",
                Err("spec.connectionName"),
            ),
            (
                "an upper-case integration is refused",
                "obj",
                "Int",
                None,
                "example.com",
                Err("spec.integration"),
            ),
            (
                "an empty integration is refused",
                "obj",
                "",
                None,
                "example.com",
                Err("spec.integration"),
            ),
            (
                "an integration longer than 64 is refused",
                "obj",
                long_integration.as_str(),
                None,
                "example.com",
                Err("spec.integration"),
            ),
            (
                "an integration starting with a dash is refused",
                "obj",
                "-int",
                None,
                "example.com",
                Err("spec.integration"),
            ),
            (
                "a single-label domain is accepted",
                "obj",
                "int",
                None,
                "localhost",
                Ok("obj"),
            ),
            (
                "a domain with a scheme is refused",
                "obj",
                "int",
                None,
                "https://example.com",
                Err("spec.allowedDomain"),
            ),
            (
                "a domain with a port is refused",
                "obj",
                "int",
                None,
                "example.com:443",
                Err("spec.allowedDomain"),
            ),
            (
                "a domain with a path is refused",
                "obj",
                "int",
                None,
                "example.com/x",
                Err("spec.allowedDomain"),
            ),
            (
                "a wildcard domain is refused",
                "obj",
                "int",
                None,
                "*.example.com",
                Err("spec.allowedDomain"),
            ),
            (
                "an upper-case domain is refused",
                "obj",
                "int",
                None,
                "Example.com",
                Err("spec.allowedDomain"),
            ),
            (
                "an empty domain is refused",
                "obj",
                "int",
                None,
                "",
                Err("spec.allowedDomain"),
            ),
            (
                "a domain with an empty label is refused",
                "obj",
                "int",
                None,
                "a..b",
                Err("spec.allowedDomain"),
            ),
            (
                "a domain label longer than 63 is refused",
                "obj",
                "int",
                None,
                long_label.as_str(),
                Err("spec.allowedDomain"),
            ),
            (
                "a domain longer than 253 is refused",
                "obj",
                "int",
                None,
                long_domain.as_str(),
                Err("spec.allowedDomain"),
            ),
        ];
        for (case, object, integration, connection, domain, expected) in cases {
            let got = target(object, &spec(integration, connection, domain));
            match (expected, got) {
                (Ok(name), Ok(t)) => {
                    assert_eq!(t.connection_name, name, "{case}");
                    assert_eq!(t.integration, integration, "{case}");
                    assert_eq!(t.allowed_domain, domain, "{case}");
                }
                (Err(field), Err(ValidationError::InvalidSpec { field: got, .. })) => {
                    assert_eq!(got, field, "{case}")
                }
                (expected, got) => panic!("{case}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn token_secrets_are_checked_with_a_specific_reason() {
        let found = |bytes: Option<&[u8]>| SecretContents::Found {
            resource_version: Some("7".into()),
            value: bytes.map(|b| RawToken(b.to_vec())),
        };
        let big = vec![b'x'; MAX_TOKEN_BYTES + 1];
        let limit = vec![b'x'; MAX_TOKEN_BYTES];
        let cases: Vec<(&str, SecretContents, Result<(), &str>)> = vec![
            (
                "a present utf-8 token is accepted",
                found(Some(b"abc")),
                Ok(()),
            ),
            (
                "a token of exactly the limit is accepted",
                found(Some(&limit)),
                Ok(()),
            ),
            (
                "a missing secret is reported",
                SecretContents::Missing,
                Err("SecretNotFound"),
            ),
            (
                "a missing key is reported",
                found(None),
                Err("SecretKeyNotFound"),
            ),
            (
                "an empty token is reported",
                found(Some(b"")),
                Err("TokenEmpty"),
            ),
            (
                "a whitespace-only token is reported as empty",
                found(Some(b" \n")),
                Err("TokenEmpty"),
            ),
            (
                "a non utf-8 token is reported",
                found(Some(&[0xff, 0xfe, 0x00])),
                Err("TokenNotUtf8"),
            ),
            (
                "a token over 8192 bytes is reported",
                found(Some(&big)),
                Err("TokenTooLarge"),
            ),
        ];
        for (case, contents, expected) in cases {
            match (expected, token("tok", "token", contents)) {
                (Ok(()), Ok(t)) => assert_eq!(t.resource_version.as_deref(), Some("7"), "{case}"),
                (Err(reason), Err(e)) => assert_eq!(e.reason(), reason, "{case}"),
                (expected, got) => panic!("{case}: expected {expected:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn validation_errors_never_show_the_token_bytes() {
        let err = token(
            "tok",
            "token",
            SecretContents::Found {
                resource_version: None,
                value: Some(RawToken(vec![0xff, b'z', b'q', b'9', b'x'])),
            },
        )
        .expect_err("not utf-8");
        assert!(!format!("{err} {err:?}").contains("zq9x"));
        assert_eq!(
            format!("{:?}", RawToken(b"hunter2".to_vec())),
            "RawToken(<redacted 7 bytes>)"
        );
    }
}
