//! The validation rules of the ZIS Connections API: connection names, allowed domains,
//! integration keys, and the mandatory string fields of request bodies.
//!
//! The vendor documents the name rules (3 to 64 of `[A-Za-z0-9_-]`, `zendesk` reserved) and that
//! `allowed_domain` is a hostname. It does not document the error codes of these 400s, so the
//! fake uses its own, listed in [`ValidationError::code`].

use hyper::StatusCode;
use serde_json::{Map, Value};

use super::response::ApiError;

/// Shortest allowed connection name.
pub const NAME_MIN_LEN: usize = 3;
/// Longest allowed connection name.
pub const NAME_MAX_LEN: usize = 64;
/// Names no connection may take (`zendesk` is the OAuth connection to Zendesk itself).
pub const RESERVED_NAMES: &[&str] = &["zendesk"];
/// Longest integration key.
pub const INTEGRATION_MAX_LEN: usize = 64;

/// A rule a request broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    #[error("name must be {NAME_MIN_LEN} to {NAME_MAX_LEN} characters long")]
    NameLength,
    #[error("name may only contain letters, digits, '_' and '-'")]
    NameCharacters,
    #[error("name {0} is reserved")]
    NameReserved(String),
    #[error("allowed_domain must be a bare hostname: {0}")]
    AllowedDomain(&'static str),
    #[error("field {0} is mandatory")]
    MissingField(&'static str),
    #[error("field {0} must not be empty")]
    EmptyField(&'static str),
    #[error("field {0} must be a string")]
    NotAString(&'static str),
    #[error("header_name must be a valid HTTP header name")]
    HeaderName,
    #[error("username must not contain ':'")]
    Username,
    #[error("body must contain at least one of: {0}")]
    NothingToUpdate(&'static str),
}

impl ValidationError {
    /// The `code` of the 400 answer for this error.
    pub fn code(&self) -> &'static str {
        match self {
            ValidationError::NameLength
            | ValidationError::NameCharacters
            | ValidationError::NameReserved(_) => "InvalidName",
            ValidationError::AllowedDomain(_) => "InvalidAllowedDomain",
            ValidationError::MissingField(_)
            | ValidationError::EmptyField(_)
            | ValidationError::NothingToUpdate(_) => "MissingField",
            ValidationError::NotAString(_) => "InvalidField",
            ValidationError::HeaderName => "InvalidHeaderName",
            ValidationError::Username => "InvalidField",
        }
    }
}

impl From<ValidationError> for ApiError {
    fn from(error: ValidationError) -> Self {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            error.code(),
            capitalize(&error.to_string()),
        )
    }
}

/// Error messages are lower-case; answer titles are sentences.
fn capitalize(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Checks a connection name: 3 to 64 of `[A-Za-z0-9_-]`, not reserved.
pub fn check_name(name: &str) -> Result<(), ValidationError> {
    if !(NAME_MIN_LEN..=NAME_MAX_LEN).contains(&name.len()) {
        return Err(ValidationError::NameLength);
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(ValidationError::NameCharacters);
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(ValidationError::NameReserved(name.to_owned()));
    }
    Ok(())
}

/// Checks an allowed domain: a bare DNS hostname (no scheme, port, path, wildcard or IP address),
/// at most 253 characters of labels of 1 to 63 `[A-Za-z0-9-]` that neither start nor end with `-`.
pub fn check_allowed_domain(domain: &str) -> Result<(), ValidationError> {
    use ValidationError::AllowedDomain;
    if domain.contains("://") {
        return Err(AllowedDomain("no scheme allowed"));
    }
    if domain.contains('/') {
        return Err(AllowedDomain("no path allowed"));
    }
    if domain.contains('*') {
        return Err(AllowedDomain("no wildcard allowed"));
    }
    if domain.contains(':') {
        return Err(AllowedDomain("no port allowed"));
    }
    if domain.len() > 253 {
        return Err(AllowedDomain("at most 253 characters"));
    }
    let labels: Vec<&str> = domain.split('.').collect();
    for label in &labels {
        if label.is_empty() || label.len() > 63 {
            return Err(AllowedDomain("each label must be 1 to 63 characters"));
        }
        if !label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(AllowedDomain(
                "labels may only contain letters, digits and '-'",
            ));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AllowedDomain("labels must not start or end with '-'"));
        }
    }
    // An all-numeric last label is an IP address, never a top-level domain (RFC 3696, 2).
    if labels
        .last()
        .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(AllowedDomain("IP addresses are not allowed"));
    }
    Ok(())
}

/// Checks an integration key: 1 to 64 of lowercase `a-z`, digits, `-` and `_`.
pub fn is_valid_integration_key(key: &str) -> bool {
    (1..=INTEGRATION_MAX_LEN).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// Checks an HTTP header name (an RFC 9110 token).
pub fn check_header_name(name: &str) -> Result<(), ValidationError> {
    let is_token_char = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if name.is_empty() || !name.bytes().all(is_token_char) {
        return Err(ValidationError::HeaderName);
    }
    Ok(())
}

/// Checks a basic-auth user name, which cannot hold the `:` that separates it from the password.
pub fn check_username(username: &str) -> Result<(), ValidationError> {
    if username.contains(':') {
        return Err(ValidationError::Username);
    }
    Ok(())
}

/// A mandatory string field: present, a string, not empty.
pub fn required_string(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<String, ValidationError> {
    optional_string(body, field)?.ok_or(ValidationError::MissingField(field))
}

/// An optional string field: absent or `null` gives `None`; when present it must be a non-empty
/// string.
pub fn optional_string(
    body: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, ValidationError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Err(ValidationError::EmptyField(field)),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(ValidationError::NotAString(field)),
    }
}

/// Parses a request body that must be a JSON object. Unknown fields are kept (and later ignored).
pub fn parse_object(body: &[u8]) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ApiError::invalid_body("Body must be a JSON object")),
        Err(_) => Err(ApiError::invalid_body("Body is not valid JSON")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn names_of_3_to_64_allowed_characters_are_accepted() {
        for name in [
            "abc",
            "my_bearer_token_connection",
            "A-b_9",
            &"x".repeat(64),
        ] {
            assert_eq!(check_name(name), Ok(()), "{name}");
        }
    }

    #[test]
    fn names_outside_3_to_64_characters_are_refused() {
        assert_eq!(check_name("ab"), Err(ValidationError::NameLength));
        assert_eq!(check_name(""), Err(ValidationError::NameLength));
        assert_eq!(
            check_name(&"x".repeat(65)),
            Err(ValidationError::NameLength)
        );
    }

    #[test]
    fn names_with_other_characters_are_refused() {
        for name in ["my name", "my.name", "my/name", "naïve", "a+b"] {
            assert_eq!(
                check_name(name),
                Err(ValidationError::NameCharacters),
                "{name}"
            );
        }
    }

    #[test]
    fn the_name_zendesk_is_reserved() {
        assert_eq!(
            check_name("zendesk"),
            Err(ValidationError::NameReserved("zendesk".into()))
        );
        assert_eq!(
            ApiError::from(ValidationError::NameLength).code,
            "InvalidName"
        );
    }

    #[test]
    fn bare_hostnames_are_valid_allowed_domains() {
        for domain in ["api.example.com", "localhost", "a-b.example.co.uk", "x1.io"] {
            assert_eq!(check_allowed_domain(domain), Ok(()), "{domain}");
        }
    }

    #[test]
    fn domains_with_scheme_port_path_wildcard_or_ip_are_refused() {
        for domain in [
            "https://api.example.com",
            "api.example.com:443",
            "api.example.com/v1",
            "*.example.com",
            "10.0.0.1",
            "",
            "api..example.com",
            "-api.example.com",
            "api_x.example.com",
            "api.example.com.",
            "api example.com",
            &format!("{}.com", "a".repeat(64)),
        ] {
            assert!(check_allowed_domain(domain).is_err(), "{domain:?}");
        }
        assert_eq!(
            ApiError::from(ValidationError::AllowedDomain("x")).code,
            "InvalidAllowedDomain"
        );
    }

    #[test]
    fn integration_keys_are_lowercase_letters_digits_dash_underscore() {
        assert!(is_valid_integration_key("my_integration-2"));
        assert!(!is_valid_integration_key("My_integration"));
        assert!(!is_valid_integration_key(""));
        assert!(!is_valid_integration_key(&"a".repeat(65)));
    }

    #[test]
    fn mandatory_fields_must_be_non_empty_strings() {
        let body = object(json!({"token": "t", "empty": "", "number": 5, "null": null}));
        assert_eq!(required_string(&body, "token"), Ok("t".to_owned()));
        assert_eq!(
            required_string(&body, "missing"),
            Err(ValidationError::MissingField("missing"))
        );
        assert_eq!(
            required_string(&body, "null"),
            Err(ValidationError::MissingField("null"))
        );
        assert_eq!(
            required_string(&body, "empty"),
            Err(ValidationError::EmptyField("empty"))
        );
        assert_eq!(
            required_string(&body, "number"),
            Err(ValidationError::NotAString("number"))
        );
        assert_eq!(
            ApiError::from(ValidationError::NotAString("x")).code,
            "InvalidField"
        );
        assert_eq!(
            ApiError::from(ValidationError::EmptyField("x")).code,
            "MissingField"
        );
    }

    #[test]
    fn header_names_and_usernames_are_checked() {
        assert_eq!(check_header_name("x-api-key"), Ok(()));
        assert_eq!(
            check_header_name("x api key"),
            Err(ValidationError::HeaderName)
        );
        assert_eq!(check_header_name(""), Err(ValidationError::HeaderName));
        assert_eq!(check_username("user"), Ok(()));
        assert_eq!(check_username("us:er"), Err(ValidationError::Username));
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(parse_object(br#"{"a":1}"#).is_ok());
        assert_eq!(
            parse_object(b"not json").map_err(|e| e.code),
            Err("InvalidBody")
        );
        assert_eq!(parse_object(b"[1]").map_err(|e| e.code), Err("InvalidBody"));
        assert_eq!(parse_object(b"").map_err(|e| e.code), Err("InvalidBody"));
    }

    #[test]
    fn error_titles_are_capitalized_sentences() {
        let error = ApiError::from(ValidationError::MissingField("token"));
        assert_eq!(error.title, "Field token is mandatory");
    }
}
