//! Where ZIS lives: validating the account's base URL and building the Connections API URLs.
//!
//! Every user-supplied piece (integration key, connection name) becomes exactly one percent-encoded
//! path segment, so a name holding `/`, `?` or `..` can never reach another endpoint.

use url::Url;

use super::ConfigError;

/// The longest DNS label, and so the longest Zendesk subdomain.
const MAX_SUBDOMAIN_LEN: usize = 63;

/// `https://{subdomain}.zendesk.com` for a valid subdomain (case-insensitive, returned lower-case).
pub(crate) fn subdomain_url(subdomain: &str) -> Result<String, ConfigError> {
    let invalid = || ConfigError::InvalidSubdomain {
        subdomain: subdomain.to_owned(),
    };
    let well_formed = !subdomain.is_empty()
        && subdomain.len() <= MAX_SUBDOMAIN_LEN
        && subdomain
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !subdomain.starts_with('-')
        && !subdomain.ends_with('-');
    if !well_formed {
        return Err(invalid());
    }
    Ok(format!(
        "https://{}.zendesk.com",
        subdomain.to_ascii_lowercase()
    ))
}

/// Parses and checks a base URL: http(s) only, plain http only when allowed, no credentials,
/// query or fragment (they would be silently dropped or leak into logs).
pub(crate) fn parse_base_url(raw: &str, allow_http: bool) -> Result<Url, ConfigError> {
    let shown = redact_userinfo(raw);
    let invalid = |reason: &str| ConfigError::InvalidUrl {
        url: shown.clone(),
        reason: reason.to_owned(),
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(&e.to_string()))?;
    match url.scheme() {
        "https" => {}
        "http" if allow_http => {}
        "http" => return Err(ConfigError::HttpNotAllowed { url: shown }),
        _ => {
            return Err(invalid(
                "the scheme must be https (or http for local servers)",
            ));
        }
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid("the url has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(
            "credentials in the url are not supported; the access token is sent as a bearer token",
        ));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid("the url must not have a query or fragment"));
    }
    Ok(url)
}

/// `{base}/api/services/zis/integrations/{integration}/connections/{rest...}`, each piece of
/// `rest` one encoded segment.
pub(crate) fn connections_url(base: &Url, integration: &str, rest: &[&str]) -> Url {
    let mut url = base.clone();
    // Http(s) URLs always have a path that can take segments; the `if let` only spares an
    // `expect` on that invariant.
    if let Ok(mut segments) = url.path_segments_mut() {
        segments
            .pop_if_empty()
            .extend(["api", "services", "zis", "integrations"])
            .push(integration)
            .push("connections")
            .extend(rest);
    }
    url
}

/// `raw` with any `user:password@` part replaced, for error messages and `Debug`.
pub(crate) fn redact_userinfo(raw: &str) -> String {
    let Some(scheme_end) = raw.find("://") else {
        return raw.to_owned();
    };
    let authority_start = scheme_end + 3;
    let authority_end = raw[authority_start..]
        .find(['/', '?', '#'])
        .map_or(raw.len(), |i| authority_start + i);
    match raw[authority_start..authority_end].rfind('@') {
        Some(at) => format!(
            "{}<redacted>@{}",
            &raw[..authority_start],
            &raw[authority_start + at + 1..]
        ),
        None => raw.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subdomain_becomes_an_https_zendesk_url() {
        assert_eq!(
            subdomain_url("acme").as_deref(),
            Ok("https://acme.zendesk.com")
        );
        assert_eq!(
            subdomain_url("Acme-Support2").as_deref(),
            Ok("https://acme-support2.zendesk.com")
        );
    }

    #[test]
    fn subdomains_with_anything_but_letters_digits_and_dashes_are_refused() {
        for bad in [
            "",
            "acme.evil.com",
            "acme/",
            "ac me",
            "acme_x",
            "-acme",
            "acme-",
            "ächme",
            "acme@evil",
            &"a".repeat(64),
        ] {
            assert_eq!(
                subdomain_url(bad),
                Err(ConfigError::InvalidSubdomain {
                    subdomain: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        assert!(subdomain_url(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn plain_http_is_refused_unless_allowed() {
        assert_eq!(
            parse_base_url("http://127.0.0.1:8080", false),
            Err(ConfigError::HttpNotAllowed {
                url: "http://127.0.0.1:8080".to_owned()
            })
        );
        assert!(parse_base_url("http://127.0.0.1:8080", true).is_ok());
        assert!(parse_base_url("https://acme.zendesk.com", false).is_ok());
    }

    #[test]
    fn malformed_or_unsupported_base_urls_are_refused() {
        for bad in [
            "acme.zendesk.com",
            "ftp://acme.zendesk.com",
            "https://",
            "https://acme.zendesk.com/?x=1",
            "https://acme.zendesk.com/#top",
            "not a url",
        ] {
            assert!(
                matches!(
                    parse_base_url(bad, true),
                    Err(ConfigError::InvalidUrl { .. })
                ),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn credentials_in_a_base_url_are_refused_without_being_repeated() {
        let err = parse_base_url("https://user:hunter2@acme.zendesk.com", false)
            .expect_err("credentials must be refused");
        let text = format!("{err} {err:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("acme.zendesk.com"), "{text}");
    }

    #[test]
    fn connection_urls_follow_the_documented_paths() {
        let base = parse_base_url("https://acme.zendesk.com", false).expect("valid");
        assert_eq!(
            connections_url(&base, "my_integration", &["bearer_token"]).as_str(),
            "https://acme.zendesk.com/api/services/zis/integrations/my_integration/connections/bearer_token"
        );
        assert_eq!(
            connections_url(&base, "my_integration", &["bearer_token", "conn-1"]).as_str(),
            "https://acme.zendesk.com/api/services/zis/integrations/my_integration/connections/bearer_token/conn-1"
        );
        assert_eq!(
            connections_url(&base, "my_integration", &["all"]).as_str(),
            "https://acme.zendesk.com/api/services/zis/integrations/my_integration/connections/all"
        );
    }

    #[test]
    fn a_base_url_with_a_path_keeps_it_as_a_prefix() {
        for raw in ["http://127.0.0.1:9/zis", "http://127.0.0.1:9/zis/"] {
            let base = parse_base_url(raw, true).expect("valid");
            assert_eq!(
                connections_url(&base, "i", &["all"]).as_str(),
                "http://127.0.0.1:9/zis/api/services/zis/integrations/i/connections/all"
            );
        }
    }

    #[test]
    fn path_segments_are_percent_encoded_so_they_cannot_escape() {
        let base = parse_base_url("https://acme.zendesk.com", false).expect("valid");
        let url = connections_url(&base, "a/b", &["bearer_token", "../x?y#z %"]);
        assert_eq!(
            url.path(),
            "/api/services/zis/integrations/a%2Fb/connections/bearer_token/..%2Fx%3Fy%23z%20%25"
        );
        assert_eq!(url.query(), None);
        assert_eq!(url.fragment(), None);
        // A bare `..` would be resolved away by the URL parser; as a pushed segment it is kept
        // inside its own segment.
        let dots = connections_url(&base, "i", &["bearer_token", ".."]);
        assert!(
            dots.path()
                .starts_with("/api/services/zis/integrations/i/connections/")
        );
    }

    #[test]
    fn userinfo_is_redacted_for_display() {
        assert_eq!(
            redact_userinfo("https://u:p@host/x@y"),
            "https://<redacted>@host/x@y"
        );
        assert_eq!(redact_userinfo("https://host/x@y"), "https://host/x@y");
        assert_eq!(redact_userinfo("no scheme"), "no scheme");
    }
}
