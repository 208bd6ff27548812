//! The connections the fake holds, per integration, with their true secrets.
//!
//! One lock per integration (integrations are few, connections many): a `BTreeMap` keyed by name
//! holds every connection of the integration whatever its type, which makes names unique across
//! types for free and makes a cursor page an `O(log n + page)` range scan.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::ops::Bound;
use std::sync::{Arc, PoisonError, RwLock};

use chrono::{DateTime, TimeDelta, Utc};

/// The connection types the fake stores (`oauth` connections cannot be created through the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ConnectionType {
    BearerToken,
    ApiKey,
    BasicAuth,
}

impl ConnectionType {
    pub const ALL: [ConnectionType; 3] = [
        ConnectionType::ApiKey,
        ConnectionType::BasicAuth,
        ConnectionType::BearerToken,
    ];

    /// The path segment and JSON key of the type.
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionType::BearerToken => "bearer_token",
            ConnectionType::ApiKey => "api_key",
            ConnectionType::BasicAuth => "basic_auth",
        }
    }

    pub fn parse(text: &str) -> Option<ConnectionType> {
        ConnectionType::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// The secret part of a connection, per type.
#[derive(Clone, PartialEq, Eq)]
pub enum Secret {
    BearerToken {
        token: String,
    },
    ApiKey {
        api_key: String,
        header_name: String,
    },
    BasicAuth {
        username: String,
        password: String,
    },
}

impl Secret {
    pub fn connection_type(&self) -> ConnectionType {
        match self {
            Secret::BearerToken { .. } => ConnectionType::BearerToken,
            Secret::ApiKey { .. } => ConnectionType::ApiKey,
            Secret::BasicAuth { .. } => ConnectionType::BasicAuth,
        }
    }
}

// Secrets never appear in Debug output (and so never in logs or panics).
impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Secret::BearerToken { .. } => f.write_str("BearerToken { token: <redacted> }"),
            Secret::ApiKey { header_name, .. } => write!(
                f,
                "ApiKey {{ api_key: <redacted>, header_name: {header_name:?} }}"
            ),
            Secret::BasicAuth { username, .. } => write!(
                f,
                "BasicAuth {{ username: {username:?}, password: <redacted> }}"
            ),
        }
    }
}

/// One stored connection (its name is the key it is stored under).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub secret: Secret,
    pub allowed_domain: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Connection {
    /// A connection created now.
    pub fn new(secret: Secret, allowed_domain: String) -> Connection {
        let now = now_micros();
        Connection {
            secret,
            allowed_domain,
            created_at: now,
            updated_at: now,
        }
    }

    /// Marks the connection as updated now; `updated_at` always moves forward, even when two
    /// updates land within one microsecond, so that a client can see that an update happened.
    pub fn touch(&mut self) {
        let now = now_micros();
        self.updated_at = if now > self.updated_at {
            now
        } else {
            self.updated_at + TimeDelta::microseconds(1)
        };
    }
}

/// The current time truncated to the microseconds the API shows, so that what is stored is what
/// a client reads back.
fn now_micros() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_micros(now.timestamp_micros()).unwrap_or(now)
}

/// Why a store operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("unknown integration")]
    UnknownIntegration,
    #[error("connection name already taken in this integration")]
    NameTaken,
    #[error("connection not found")]
    NotFound,
}

/// Where a page of `GET .../connections/all` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageStart {
    First,
    After(String),
    Before(String),
}

/// One page of connections in name order.
#[derive(Debug)]
pub struct Page {
    pub items: Vec<(String, Connection)>,
    /// More connections exist in the direction of travel (after the page, or before it).
    pub has_more: bool,
}

type Connections = BTreeMap<String, Connection>;

/// All integrations and their connections.
#[derive(Default)]
pub struct Store {
    integrations: RwLock<HashMap<String, Arc<RwLock<Connections>>>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("integrations", &self.integration_keys())
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Registers an integration (no-op when it exists).
    pub fn add_integration(&self, integration: &str) {
        let mut map = self
            .integrations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.entry(integration.to_owned()).or_default();
    }

    pub fn has_integration(&self, integration: &str) -> bool {
        self.integration(integration).is_ok()
    }

    pub fn integration_keys(&self) -> Vec<String> {
        let map = self
            .integrations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut keys: Vec<String> = map.keys().cloned().collect();
        keys.sort();
        keys
    }

    /// Drops every connection and keeps only the given integrations.
    pub fn reset(&self, integrations: &[String]) {
        let mut map = self
            .integrations
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        map.clear();
        for key in integrations {
            map.entry(key.clone()).or_default();
        }
    }

    fn integration(&self, integration: &str) -> Result<Arc<RwLock<Connections>>, StoreError> {
        let map = self
            .integrations
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        map.get(integration)
            .cloned()
            .ok_or(StoreError::UnknownIntegration)
    }

    /// Adds a connection; fails when any connection of the integration holds the name.
    pub fn create(
        &self,
        integration: &str,
        name: &str,
        connection: Connection,
    ) -> Result<Connection, StoreError> {
        let connections = self.integration(integration)?;
        let mut connections = connections.write().unwrap_or_else(PoisonError::into_inner);
        if connections.contains_key(name) {
            return Err(StoreError::NameTaken);
        }
        connections.insert(name.to_owned(), connection.clone());
        Ok(connection)
    }

    /// The connection of that type and name; one of another type is "not found".
    pub fn get(
        &self,
        integration: &str,
        kind: ConnectionType,
        name: &str,
    ) -> Result<Connection, StoreError> {
        let connections = self.integration(integration)?;
        let connections = connections.read().unwrap_or_else(PoisonError::into_inner);
        connections
            .get(name)
            .filter(|c| c.secret.connection_type() == kind)
            .cloned()
            .ok_or(StoreError::NotFound)
    }

    /// Marks the connection of that type and name updated, then changes it with `change` (which
    /// may set `updated_at` itself). When `change` fails nothing is stored.
    pub fn update<E: From<StoreError>>(
        &self,
        integration: &str,
        kind: ConnectionType,
        name: &str,
        change: impl FnOnce(&mut Connection) -> Result<(), E>,
    ) -> Result<(), E> {
        let connections = self.integration(integration)?;
        let mut connections = connections.write().unwrap_or_else(PoisonError::into_inner);
        let stored = connections
            .get_mut(name)
            .filter(|c| c.secret.connection_type() == kind)
            .ok_or(StoreError::NotFound)?;
        let mut changed = stored.clone();
        changed.touch();
        change(&mut changed)?;
        *stored = changed;
        Ok(())
    }

    /// Removes the connection of that type and name.
    pub fn delete(
        &self,
        integration: &str,
        kind: ConnectionType,
        name: &str,
    ) -> Result<(), StoreError> {
        let connections = self.integration(integration)?;
        let mut connections = connections.write().unwrap_or_else(PoisonError::into_inner);
        match connections.get(name) {
            Some(c) if c.secret.connection_type() == kind => {
                connections.remove(name);
                Ok(())
            }
            _ => Err(StoreError::NotFound),
        }
    }

    /// Up to `size` connections of the integration in name order, from `start`.
    pub fn page(
        &self,
        integration: &str,
        start: &PageStart,
        size: usize,
    ) -> Result<Page, StoreError> {
        let connections = self.integration(integration)?;
        let connections = connections.read().unwrap_or_else(PoisonError::into_inner);
        let clone = |(name, c): (&String, &Connection)| (name.clone(), c.clone());
        let page = match start {
            PageStart::First | PageStart::After(_) => {
                let lower = match start {
                    PageStart::After(after) => Bound::Excluded(after.as_str()),
                    _ => Bound::Unbounded,
                };
                let mut range = connections.range::<str, _>((lower, Bound::Unbounded));
                let items: Vec<_> = range.by_ref().take(size).map(clone).collect();
                let has_more = range.next().is_some();
                Page { items, has_more }
            }
            PageStart::Before(before) => {
                let mut range = connections
                    .range::<str, _>((Bound::Unbounded, Bound::Excluded(before.as_str())))
                    .rev();
                let mut items: Vec<_> = range.by_ref().take(size).map(clone).collect();
                let has_more = range.next().is_some();
                items.reverse();
                Page { items, has_more }
            }
        };
        Ok(page)
    }

    /// Every connection, `(integration, name, connection)`, optionally of one integration only.
    pub fn all(&self, only: Option<&str>) -> Vec<(String, String, Connection)> {
        let keys: Vec<String> = self
            .integration_keys()
            .into_iter()
            .filter(|k| only.is_none_or(|only| only == k))
            .collect();
        let mut out = Vec::new();
        for key in keys {
            let Ok(connections) = self.integration(&key) else {
                continue;
            };
            let connections = connections.read().unwrap_or_else(PoisonError::into_inner);
            out.extend(
                connections
                    .iter()
                    .map(|(name, c)| (key.clone(), name.clone(), c.clone())),
            );
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(token: &str) -> Connection {
        Connection::new(
            Secret::BearerToken {
                token: token.into(),
            },
            "api.example.com".into(),
        )
    }

    fn api_key() -> Connection {
        Connection::new(
            Secret::ApiKey {
                api_key: "k".into(),
                header_name: "x-api-key".into(),
            },
            "api.example.com".into(),
        )
    }

    #[test]
    fn names_are_unique_across_connection_types() {
        let store = Store::default();
        store.add_integration("i");
        store.create("i", "shared", api_key()).unwrap();
        assert_eq!(
            store.create("i", "shared", bearer("t")),
            Err(StoreError::NameTaken)
        );
        assert_eq!(
            store.get("i", ConnectionType::BearerToken, "shared"),
            Err(StoreError::NotFound)
        );
        assert_eq!(
            store.delete("i", ConnectionType::BearerToken, "shared"),
            Err(StoreError::NotFound)
        );
        assert!(store.get("i", ConnectionType::ApiKey, "shared").is_ok());
    }

    #[test]
    fn unknown_integrations_are_reported() {
        let store = Store::default();
        assert_eq!(
            store.create("nope", "abc", bearer("t")),
            Err(StoreError::UnknownIntegration)
        );
    }

    #[test]
    fn updates_move_updated_at_forward_and_keep_created_at() {
        let store = Store::default();
        store.add_integration("i");
        let created = store.create("i", "abc", bearer("t")).unwrap();
        for _ in 0..3 {
            store
                .update::<StoreError>("i", ConnectionType::BearerToken, "abc", |c| {
                    c.secret = Secret::BearerToken { token: "u".into() };
                    Ok(())
                })
                .unwrap();
        }
        let updated = store.get("i", ConnectionType::BearerToken, "abc").unwrap();
        assert!(updated.updated_at > created.updated_at);
        assert_eq!(updated.created_at, created.created_at);
        assert_eq!(updated.secret, Secret::BearerToken { token: "u".into() });
    }

    #[test]
    fn a_failed_update_changes_nothing() {
        let store = Store::default();
        store.add_integration("i");
        let created = store.create("i", "abc", bearer("t")).unwrap();
        let result = store.update("i", ConnectionType::BearerToken, "abc", |c| {
            c.allowed_domain = "other.example.com".into();
            Err(StoreError::NotFound)
        });
        assert!(result.is_err());
        assert_eq!(
            store.get("i", ConnectionType::BearerToken, "abc").unwrap(),
            created
        );
    }

    #[test]
    fn pages_walk_forward_and_backward_in_name_order() {
        let store = Store::default();
        store.add_integration("i");
        for n in 0..25 {
            store.create("i", &format!("c{n:03}"), bearer("t")).unwrap();
        }
        let first = store.page("i", &PageStart::First, 10).unwrap();
        assert_eq!(first.items.len(), 10);
        assert!(first.has_more);
        assert_eq!(first.items[0].0, "c000");
        let third = store
            .page("i", &PageStart::After("c019".into()), 10)
            .unwrap();
        assert_eq!(third.items.len(), 5);
        assert!(!third.has_more);
        let back = store
            .page("i", &PageStart::Before("c020".into()), 10)
            .unwrap();
        assert_eq!(back.items.first().map(|i| i.0.as_str()), Some("c010"));
        assert_eq!(back.items.last().map(|i| i.0.as_str()), Some("c019"));
        assert!(back.has_more);
        let start = store
            .page("i", &PageStart::Before("c005".into()), 10)
            .unwrap();
        assert_eq!(start.items.len(), 5);
        assert!(!start.has_more);
    }

    #[test]
    fn debug_output_never_shows_secrets() {
        let text = format!("{:?}", bearer("super-secret-token"));
        assert!(!text.contains("super-secret-token"));
        assert!(text.contains("<redacted>"));
    }
}
