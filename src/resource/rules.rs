//! The spec's rules in words: the regular expressions and limits the operator checks with, the
//! CEL rules (`x-kubernetes-validations`) the CRD carries for them, and the messages both give.
//!
//! An OpenAPI `pattern` makes the API server answer with the bare regular expression ("should
//! match '^[a-z0-9]([-a-z0-9]{0,61}...'"); a CEL rule answers with its message, so every string
//! rule of the spec is a CEL rule here, and `controller::validate` gives the same messages for an
//! object that got past an older CRD (a test evaluates these rules with the sandbox's CEL and
//! compares). Lengths stay OpenAPI `minLength`/`maxLength`: their messages are already words, and
//! `maxLength` is what bounds the cost a real API server estimates for each rule.
//!
//! Only what kube-apiserver's CEL (1.37, and older releases back to 1.25) accepts is used:
//! `matches`, `contains` and the Kubernetes strings library's `lowerAscii`. Regular expressions
//! avoid backslashes (`[.]`, not `\.`), which CEL string literals would need escaped.

use serde_json::{Value, json};

/// `spec.integration`: the vendor's integration key (its length is a separate rule).
pub const INTEGRATION_PATTERN: &str = "^[a-z0-9][-_a-z0-9]*$";
pub const INTEGRATION_MAX_LEN: usize = 64;
pub const INTEGRATION_MESSAGE: &str = "must be a ZIS integration key: lower-case letters, digits, '-' and '_', starting with a letter or digit (such as my_integration)";

/// `spec.connectionName`: the characters ZIS allows in a connection name.
pub const CONNECTION_NAME_PATTERN: &str = "^[-_A-Za-z0-9]*$";
pub const CONNECTION_NAME_MIN_LEN: usize = 3;
pub const CONNECTION_NAME_MAX_LEN: usize = 64;
pub const CONNECTION_NAME_MESSAGE: &str =
    "may contain only letters, digits, '_' and '-' (a ZIS connection name has no dots or spaces)";
/// The connection name ZIS reserves for its own OAuth connection to Zendesk. Refused in any
/// letter case: whether ZIS compares it case-sensitively is not documented.
pub const RESERVED_CONNECTION_NAME: &str = "zendesk";
pub const RESERVED_CONNECTION_NAME_MESSAGE: &str = "zendesk is reserved by ZIS for its own connection to Zendesk (in any letter case); choose another name";

/// `spec.allowedDomain`: a bare DNS hostname, lower case.
pub const ALLOWED_DOMAIN_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?([.][a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$";
/// A last label of digits only: an IPv4 address (a top-level domain is never all-numeric,
/// RFC 3696 section 2), and the rule the local ZIS server applies too.
pub const IP_ADDRESS_PATTERN: &str = "(^|[.])[0-9]+$";
pub const ALLOWED_DOMAIN_MAX_LEN: usize = 253;
const HOSTNAME: &str = "must be a bare hostname such as api.example.com";
/// What `allowedDomain` must be, when no more specific clue applies.
pub const ALLOWED_DOMAIN_MESSAGE: &str = "must be a bare hostname such as api.example.com: dot-separated labels of lower-case letters, digits and '-', each 1 to 63 characters, starting and ending with a letter or digit";

/// `spec.tokenSecretRef.name`: a Secret's name (a DNS-1123 subdomain).
pub const SECRET_NAME_PATTERN: &str =
    "^[a-z0-9]([-a-z0-9]*[a-z0-9])?([.][a-z0-9]([-a-z0-9]*[a-z0-9])?)*$";
pub const SECRET_NAME_MAX_LEN: usize = 253;
pub const SECRET_NAME_MESSAGE: &str = "must be the name of a Secret: lower-case letters, digits, '-' and '.', starting and ending with a letter or digit";
pub const SECRET_NAME_WITH_NAMESPACE_MESSAGE: &str =
    "must be the name of a Secret in this object's own namespace, without a namespace/ prefix";

/// `spec.tokenSecretRef.key`: a key of a Secret's data.
pub const TOKEN_KEY_PATTERN: &str = "^[-._a-zA-Z0-9]+$";
pub const TOKEN_KEY_MAX_LEN: usize = 253;
pub const TOKEN_KEY_MESSAGE: &str =
    "must be a key of the Secret's data: letters, digits, '-', '_' and '.'";

/// A more specific message for a value that breaks a rule: the first clue that applies wins.
pub struct Clue {
    /// The condition in CEL (`self` is the value).
    pub cel: &'static str,
    /// The same condition in Rust.
    pub applies: fn(&str) -> bool,
    pub message: &'static str,
}

fn ip_address(value: &str) -> bool {
    regex_matches(IP_ADDRESS_PATTERN, value)
}

/// The clues for a bad `allowedDomain`, most telling first.
pub const ALLOWED_DOMAIN_CLUES: [Clue; 7] = [
    Clue {
        cel: "self.contains('://')",
        applies: |v| v.contains("://"),
        message: "must be a bare hostname such as api.example.com, without a scheme such as https://",
    },
    Clue {
        cel: "self.contains('/')",
        applies: |v| v.contains('/'),
        message: "must be a bare hostname such as api.example.com, without a path",
    },
    Clue {
        // Two colons: an IPv6 address (one colon is a port).
        cel: "self.matches(':.*:')",
        applies: |v| v.matches(':').count() >= 2,
        message: "must be a hostname such as api.example.com, not an IP address",
    },
    Clue {
        cel: "self.contains(':')",
        applies: |v| v.contains(':'),
        message: "must be a bare hostname such as api.example.com, without a port",
    },
    Clue {
        cel: "self.contains('*')",
        applies: |v| v.contains('*'),
        message: "must be a bare hostname such as api.example.com, not a wildcard",
    },
    Clue {
        cel: "self.matches('[A-Z]')",
        applies: |v| v.bytes().any(|b| b.is_ascii_uppercase()),
        message: "must be a bare hostname such as api.example.com, in lower case",
    },
    Clue {
        cel: "self.matches('(^|[.])[0-9]+$')",
        applies: ip_address,
        message: "must be a hostname such as api.example.com, not an IP address",
    },
];

/// The clues for a bad Secret name.
pub const SECRET_NAME_CLUES: [Clue; 1] = [Clue {
    cel: "self.contains('/')",
    applies: |v| v.contains('/'),
    message: SECRET_NAME_WITH_NAMESPACE_MESSAGE,
}];

/// Whether `value` matches `pattern` (one of the constants above, which always compile).
pub fn regex_matches(pattern: &str, value: &str) -> bool {
    use std::collections::HashMap;
    use std::sync::{LazyLock, Mutex};
    static CACHE: LazyLock<Mutex<HashMap<String, Option<regex::Regex>>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    // Looked up before inserting: an entry would allocate the key at every call.
    if let Some(compiled) = cache.get(pattern) {
        return compiled.as_ref().is_some_and(|re| re.is_match(value));
    }
    cache
        .entry(pattern.to_owned())
        .or_insert_with(|| regex::Regex::new(pattern).ok())
        .as_ref()
        .is_some_and(|re| re.is_match(value))
}

/// The message for a value that breaks a rule: the first clue that applies, else `fallback`.
pub fn explain(clues: &[Clue], value: &str, fallback: &'static str) -> &'static str {
    clues
        .iter()
        .find(|clue| (clue.applies)(value))
        .map_or(fallback, |clue| clue.message)
}

/// `allowedDomain`'s problem in words, if it has one (its length aside).
pub fn allowed_domain_problem(domain: &str) -> Option<&'static str> {
    let valid = regex_matches(ALLOWED_DOMAIN_PATTERN, domain) && !ip_address(domain);
    (!valid).then(|| explain(&ALLOWED_DOMAIN_CLUES, domain, ALLOWED_DOMAIN_MESSAGE))
}

/// A Secret name's problem in words, if it has one (its length aside).
pub fn secret_name_problem(name: &str) -> Option<&'static str> {
    (!regex_matches(SECRET_NAME_PATTERN, name))
        .then(|| explain(&SECRET_NAME_CLUES, name, SECRET_NAME_MESSAGE))
}

/// A CEL string literal of `text`.
fn cel_string(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

/// `clue1 ? "m1" : clue2 ? "m2" : ... "fallback"`.
fn message_expression(clues: &[Clue], fallback: &str) -> String {
    let mut expression = String::new();
    for clue in clues {
        expression.push_str(&format!("{} ? {} : ", clue.cel, cel_string(clue.message)));
    }
    expression.push_str(&cel_string(fallback));
    expression
}

fn matches_rule(pattern: &str) -> String {
    format!("self.matches('{pattern}')")
}

/// `x-kubernetes-validations` of `spec.integration`.
pub fn integration() -> Value {
    json!([{"rule": matches_rule(INTEGRATION_PATTERN), "message": INTEGRATION_MESSAGE}])
}

/// `x-kubernetes-validations` of `spec.connectionName`.
pub fn connection_name() -> Value {
    json!([
        {"rule": matches_rule(CONNECTION_NAME_PATTERN), "message": CONNECTION_NAME_MESSAGE},
        {
            "rule": format!("self.lowerAscii() != '{RESERVED_CONNECTION_NAME}'"),
            "message": RESERVED_CONNECTION_NAME_MESSAGE
        }
    ])
}

/// `x-kubernetes-validations` of `spec.allowedDomain`: one rule, whose message names the first
/// problem found (a URL breaks several rules at once; one clear message is enough).
pub fn allowed_domain() -> Value {
    json!([{
        "rule": format!(
            "{} && !self.matches('{IP_ADDRESS_PATTERN}')",
            matches_rule(ALLOWED_DOMAIN_PATTERN)
        ),
        "message": format!("{HOSTNAME}, without scheme, port or path"),
        "messageExpression": message_expression(&ALLOWED_DOMAIN_CLUES, ALLOWED_DOMAIN_MESSAGE),
    }])
}

/// `x-kubernetes-validations` of `spec.tokenSecretRef.name`.
pub fn secret_name() -> Value {
    json!([{
        "rule": matches_rule(SECRET_NAME_PATTERN),
        "message": SECRET_NAME_MESSAGE,
        "messageExpression": message_expression(&SECRET_NAME_CLUES, SECRET_NAME_MESSAGE),
    }])
}

/// `x-kubernetes-validations` of the name of a Secret named together with its namespace.
pub fn plain_secret_name() -> Value {
    json!([{"rule": matches_rule(SECRET_NAME_PATTERN), "message": SECRET_NAME_MESSAGE}])
}

/// `x-kubernetes-validations` of `spec.tokenSecretRef.key`.
pub fn token_key() -> Value {
    json!([{"rule": matches_rule(TOKEN_KEY_PATTERN), "message": TOKEN_KEY_MESSAGE}])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles_and_has_no_backslash_for_cel() {
        for pattern in [
            INTEGRATION_PATTERN,
            CONNECTION_NAME_PATTERN,
            ALLOWED_DOMAIN_PATTERN,
            IP_ADDRESS_PATTERN,
            SECRET_NAME_PATTERN,
            TOKEN_KEY_PATTERN,
        ] {
            assert!(regex::Regex::new(pattern).is_ok(), "{pattern}");
            assert!(
                !pattern.contains('\\') && !pattern.contains('\''),
                "{pattern}"
            );
        }
    }

    #[test]
    fn domains_are_explained_by_their_most_telling_problem() {
        let cases = [
            ("api.example.com", None),
            ("localhost", None),
            ("a-1.b2.example", None),
            ("https://api.example.com/v1", Some("without a scheme")),
            ("api.example.com/v1", Some("without a path")),
            ("api.example.com:443", Some("without a port")),
            ("::1", Some("not an IP address")),
            ("*.example.com", Some("not a wildcard")),
            ("API.example.com", Some("in lower case")),
            ("10.0.0.1", Some("not an IP address")),
            ("example.123", Some("not an IP address")),
            ("api_v1.example.com", Some("dot-separated labels")),
            ("-api.example.com", Some("dot-separated labels")),
            ("api..example.com", Some("dot-separated labels")),
            ("", Some("dot-separated labels")),
        ];
        for (domain, expected) in cases {
            let problem = allowed_domain_problem(domain);
            match expected {
                None => assert_eq!(problem, None, "{domain}"),
                Some(words) => assert!(
                    problem.is_some_and(|p| p.contains(words) && p.contains("api.example.com")),
                    "{domain}: {problem:?}"
                ),
            }
        }
    }

    #[test]
    fn secret_names_with_a_namespace_are_told_to_drop_it() {
        assert_eq!(secret_name_problem("payments-token"), None);
        assert_eq!(secret_name_problem("a.b-c"), None);
        assert_eq!(
            secret_name_problem("shop/x"),
            Some(SECRET_NAME_WITH_NAMESPACE_MESSAGE)
        );
        assert_eq!(secret_name_problem("Bad_Name"), Some(SECRET_NAME_MESSAGE));
    }

    #[test]
    fn message_expressions_quote_their_messages_for_cel() {
        let expression = message_expression(&SECRET_NAME_CLUES, SECRET_NAME_MESSAGE);
        assert_eq!(
            expression,
            format!(
                "self.contains('/') ? \"{SECRET_NAME_WITH_NAMESPACE_MESSAGE}\" : \"{SECRET_NAME_MESSAGE}\""
            )
        );
        assert_eq!(cel_string(r#"a "b" \c"#), r#""a \"b\" \\c""#);
    }
}
