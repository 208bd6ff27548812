//! Which ZIS endpoint a request path names, and its path template for counters and logs.

use hyper::Method;

use super::store::ConnectionType;

/// Every ZIS path starts with this, then `{integration}/connections/...`.
pub const API_PREFIX: &str = "/api/services/zis/integrations/";
/// Zendesk's OAuth token endpoint.
pub const OAUTH_TOKENS_PATH: &str = "/oauth/tokens";

/// A ZIS API endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiRoute<'a> {
    /// `.../connections/{type}`: create.
    Collection {
        integration: &'a str,
        kind: ConnectionType,
    },
    /// `.../connections/{type}/{name}`: show, update, delete.
    Item {
        integration: &'a str,
        kind: ConnectionType,
        name: &'a str,
    },
    /// `.../connections/all`: list every connection, cursor-paginated.
    All { integration: &'a str },
    /// `/oauth/tokens`: the account's OAuth token endpoint.
    OAuthTokens,
    /// Anything else.
    Unknown,
}

impl<'a> ApiRoute<'a> {
    pub fn parse(path: &'a str) -> ApiRoute<'a> {
        if path == OAUTH_TOKENS_PATH {
            return ApiRoute::OAuthTokens;
        }
        let Some(rest) = path.strip_prefix(API_PREFIX) else {
            return ApiRoute::Unknown;
        };
        let segments: Vec<&str> = rest.split('/').collect();
        match segments.as_slice() {
            [integration, "connections", "all"] if !integration.is_empty() => {
                ApiRoute::All { integration }
            }
            [integration, "connections", kind] if !integration.is_empty() => {
                match ConnectionType::parse(kind) {
                    Some(kind) => ApiRoute::Collection { integration, kind },
                    None => ApiRoute::Unknown,
                }
            }
            [integration, "connections", kind, name]
                if !integration.is_empty() && !name.is_empty() =>
            {
                match ConnectionType::parse(kind) {
                    Some(kind) => ApiRoute::Item {
                        integration,
                        kind,
                        name,
                    },
                    None => ApiRoute::Unknown,
                }
            }
            _ => ApiRoute::Unknown,
        }
    }

    /// The path template relative to `.../connections/`, e.g. `bearer_token/{name}`
    /// (`oauth/tokens` for the token endpoint).
    pub fn template(&self) -> &'static str {
        match self {
            ApiRoute::Collection { kind, .. } => kind.as_str(),
            ApiRoute::Item { kind, .. } => match kind {
                ConnectionType::BearerToken => "bearer_token/{name}",
                ConnectionType::ApiKey => "api_key/{name}",
                ConnectionType::BasicAuth => "basic_auth/{name}",
            },
            ApiRoute::All { .. } => "all",
            ApiRoute::OAuthTokens => "oauth/tokens",
            ApiRoute::Unknown => "unknown",
        }
    }

    pub fn integration(&self) -> Option<&'a str> {
        match self {
            ApiRoute::Collection { integration, .. }
            | ApiRoute::Item { integration, .. }
            | ApiRoute::All { integration } => Some(integration),
            ApiRoute::OAuthTokens | ApiRoute::Unknown => None,
        }
    }
}

/// A static name for a method, so that counters and logs never allocate for it.
pub fn method_name(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_paths_map_to_their_endpoints() {
        let base = "/api/services/zis/integrations/my_integration/connections";
        assert_eq!(
            ApiRoute::parse(&format!("{base}/bearer_token")),
            ApiRoute::Collection {
                integration: "my_integration",
                kind: ConnectionType::BearerToken
            }
        );
        let item = format!("{base}/bearer_token/my_bearer_token_connection");
        let route = ApiRoute::parse(&item);
        assert_eq!(route.template(), "bearer_token/{name}");
        assert_eq!(route.integration(), Some("my_integration"));
        assert_eq!(ApiRoute::parse(&format!("{base}/all")).template(), "all");
        assert_eq!(
            ApiRoute::parse(&format!("{base}/oauth/x")),
            ApiRoute::Unknown
        );
        assert_eq!(
            ApiRoute::parse(&format!("{base}/bearer_token/")),
            ApiRoute::Unknown
        );
        assert_eq!(ApiRoute::parse("/api/v2/tickets"), ApiRoute::Unknown);
        assert_eq!(ApiRoute::parse("/oauth/tokens"), ApiRoute::OAuthTokens);
        assert_eq!(ApiRoute::OAuthTokens.template(), "oauth/tokens");
        assert_eq!(ApiRoute::parse("/oauth/tokens/x"), ApiRoute::Unknown);
    }
}
