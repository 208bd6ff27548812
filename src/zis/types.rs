//! Request and response shapes of the ZIS Connections API.

use crate::secret::SecretString;

/// A bearer-token connection as ZIS reports it (the token is never readable).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerConnection {
    pub name: String,
    pub allowed_domain: String,
    /// RFC 3339 as ZIS sent it.
    pub created_at: String,
    /// RFC 3339 as ZIS sent it.
    pub updated_at: String,
}

/// The body of a create call.
#[derive(Debug, Clone)]
pub struct NewBearerConnection {
    pub name: String,
    pub token: SecretString,
    pub allowed_domain: String,
}

/// The body of an update call: only the fields that are `Some` are sent.
#[derive(Debug, Clone, Default)]
pub struct BearerTokenUpdate {
    pub token: Option<SecretString>,
    pub allowed_domain: Option<String>,
}

/// One connection of any type, from `GET .../connections/all`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionSummary {
    /// `bearer_token`, `api_key`, `basic_auth`, `oauth`, or whatever else ZIS reports.
    pub kind: String,
    pub name: String,
    pub allowed_domain: Option<String>,
}

/// Every connection of an integration, all cursor pages followed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectionList {
    pub connections: Vec<ConnectionSummary>,
}

/// One page of the bearer-token connections of an integration, from `GET .../connections/all`
/// (see `IntegrationClient::list_bearer_page`). Holds no token: ZIS shows tokens as `*****` and
/// the page keeps none of them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BearerPage {
    /// The page's bearer-token connections, in the order ZIS listed them.
    pub connections: Vec<BearerConnection>,
    /// The cursor of the next page (`page[after]`); `None` on the last page.
    pub next_cursor: Option<String>,
}
