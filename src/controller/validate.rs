//! Turns a spec and the contents of its token Secret into typed desired values, or a typed error
//! that names the field and what is wrong. Pure: no I/O, no clock.
//!
//! The CRD schema already enforces most of these rules on a real API server; they are repeated
//! here so that an object that slipped past (an older CRD, a server without validation, a
//! `metadata.name` used as the connection name) gets a clear `InvalidSpec` instead of a remote 400.

use std::fmt;

use crate::resource::ZisBearerConnectionSpec;
use crate::resource::rules::{
    self, ALLOWED_DOMAIN_MAX_LEN, CONNECTION_NAME_MAX_LEN, CONNECTION_NAME_MESSAGE,
    CONNECTION_NAME_MIN_LEN, CONNECTION_NAME_PATTERN, INTEGRATION_MAX_LEN, INTEGRATION_MESSAGE,
    INTEGRATION_PATTERN, RESERVED_CONNECTION_NAME, RESERVED_CONNECTION_NAME_MESSAGE,
    SECRET_NAME_MAX_LEN, TOKEN_KEY_MAX_LEN, TOKEN_KEY_MESSAGE, TOKEN_KEY_PATTERN, regex_matches,
};
use crate::secret::SecretString;

/// Largest token pushed (bytes); bigger values are almost certainly the wrong key.
pub const MAX_TOKEN_BYTES: usize = 8192;

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
/// The messages are the CRD's (`crate::resource::rules`), after the offending value.
pub fn target(
    object_name: &str,
    spec: &ZisBearerConnectionSpec,
) -> Result<Target, ValidationError> {
    let integration = &spec.integration;
    if let Some(problem) = integration_problem(integration) {
        return Err(invalid(
            "spec.integration",
            format!("{integration:?}: {problem}"),
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
    let domain_problem = if domain.len() > ALLOWED_DOMAIN_MAX_LEN {
        Some(format!(
            "must be at most {ALLOWED_DOMAIN_MAX_LEN} characters"
        ))
    } else {
        rules::allowed_domain_problem(domain).map(str::to_owned)
    };
    if let Some(problem) = domain_problem {
        return Err(invalid(
            "spec.allowedDomain",
            format!("{domain:?}: {problem}"),
        ));
    }
    let secret = &spec.token_secret_ref;
    if secret.name.is_empty() {
        return Err(invalid("spec.tokenSecretRef.name", "must not be empty"));
    }
    let name_problem = if secret.name.len() > SECRET_NAME_MAX_LEN {
        Some(format!("must be at most {SECRET_NAME_MAX_LEN} characters"))
    } else {
        rules::secret_name_problem(&secret.name).map(str::to_owned)
    };
    if let Some(problem) = name_problem {
        let name = &secret.name;
        return Err(invalid(
            "spec.tokenSecretRef.name",
            format!("{name:?}: {problem}"),
        ));
    }
    if secret.key.is_empty() {
        return Err(invalid("spec.tokenSecretRef.key", "must not be empty"));
    }
    if secret.key.len() > TOKEN_KEY_MAX_LEN || !regex_matches(TOKEN_KEY_PATTERN, &secret.key) {
        let key = &secret.key;
        return Err(invalid(
            "spec.tokenSecretRef.key",
            format!("{key:?}: {TOKEN_KEY_MESSAGE}, at most {TOKEN_KEY_MAX_LEN} characters"),
        ));
    }
    Ok(Target {
        integration: integration.clone(),
        connection_name,
        allowed_domain: domain.clone(),
    })
}

fn integration_problem(integration: &str) -> Option<String> {
    if integration.len() > INTEGRATION_MAX_LEN {
        return Some(format!(
            "must be at most {INTEGRATION_MAX_LEN} characters long"
        ));
    }
    (!regex_matches(INTEGRATION_PATTERN, integration)).then(|| INTEGRATION_MESSAGE.to_owned())
}

fn check_connection_name(name: &str) -> Result<(), String> {
    if !(CONNECTION_NAME_MIN_LEN..=CONNECTION_NAME_MAX_LEN).contains(&name.len()) {
        return Err(format!(
            "{name:?}: must be {CONNECTION_NAME_MIN_LEN} to {CONNECTION_NAME_MAX_LEN} characters long"
        ));
    }
    if !regex_matches(CONNECTION_NAME_PATTERN, name) {
        return Err(format!("{name:?}: {CONNECTION_NAME_MESSAGE}"));
    }
    if name.eq_ignore_ascii_case(RESERVED_CONNECTION_NAME) {
        return Err(format!("{name:?}: {RESERVED_CONNECTION_NAME_MESSAGE}"));
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
                "the reserved connection name in capitals is refused",
                "obj",
                "int",
                Some("ZENDESK"),
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
                "an IP address as the domain is refused",
                "obj",
                "int",
                None,
                "10.0.0.1",
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
    fn secret_references_are_refused_naming_the_field_and_the_problem() {
        let cases = [
            (
                "shop/x",
                "token",
                "spec.tokenSecretRef.name",
                "without a namespace/ prefix",
            ),
            (
                "Bad_Name",
                "token",
                "spec.tokenSecretRef.name",
                "lower-case letters",
            ),
            ("", "token", "spec.tokenSecretRef.name", "must not be empty"),
            (
                "tok",
                "a/b",
                "spec.tokenSecretRef.key",
                "key of the Secret's data",
            ),
            ("tok", "", "spec.tokenSecretRef.key", "must not be empty"),
        ];
        for (name, key, field, words) in cases {
            let mut spec = spec("int", None, "api.example.com");
            spec.token_secret_ref = TokenSecretRef {
                name: name.into(),
                key: key.into(),
            };
            match target("obj", &spec) {
                Err(ValidationError::InvalidSpec {
                    field: got,
                    problem,
                }) => {
                    assert_eq!(got, field, "{name}/{key}");
                    assert!(problem.contains(words), "{name}/{key}: {problem}");
                }
                other => panic!("{name}/{key}: {other:?}"),
            }
        }
        let mut fine = spec("int", None, "api.example.com");
        fine.token_secret_ref.name = "payments-token.v2".into();
        fine.token_secret_ref.key = "token_v2.txt".into();
        assert!(target("obj", &fine).is_ok());
    }

    #[test]
    fn spec_problems_are_explained_in_the_words_of_the_crd() {
        let refused = |connection: Option<&str>, domain: &str| match target(
            "obj",
            &spec("int", connection, domain),
        ) {
            Err(error) => error.to_string(),
            Ok(t) => panic!("accepted {t:?}"),
        };
        assert_eq!(
            refused(None, "10.0.0.1"),
            "spec.allowedDomain: \"10.0.0.1\": must be a hostname such as api.example.com, not an IP address"
        );
        assert_eq!(
            refused(Some("ZENDESK"), "api.example.com"),
            format!("spec.connectionName: \"ZENDESK\": {RESERVED_CONNECTION_NAME_MESSAGE}")
        );
        assert!(refused(None, "https://api.example.com").contains("without a scheme"));
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
