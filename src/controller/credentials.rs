//! The operator's own ZIS credentials: one Secret (`--credentials-secret NAMESPACE/NAME`) whose
//! key `access-token` serves every integration and whose key named exactly like an integration
//! serves that integration only (and wins). An optional `fingerprint-key` keys the token
//! fingerprints (see `fingerprint`). These two keys are reserved: an integration with one of these
//! names is served by `access-token` only. The Secret is watched; every change of its data
//! replaces the cached copy and asks for every object to be reconciled (a 401 or 403 is retried at
//! once).

use std::collections::BTreeMap;
use std::sync::RwLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::secret::SecretString;

/// The key that serves every integration.
pub const SHARED_KEY: &str = "access-token";
/// The key that keys token fingerprints.
pub const FINGERPRINT_KEY: &str = "fingerprint-key";
/// Keys with a meaning of their own: never an integration's own access token, even for an
/// integration with that very name (it uses `access-token`).
const RESERVED_KEYS: [&str; 2] = [SHARED_KEY, FINGERPRINT_KEY];

/// What is known of the credentials Secret.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum State {
    /// Not read yet: reconciles wait quietly (a start, a slow API server).
    #[default]
    Unknown,
    /// Still not read once the start-up wait is over: now worth reporting.
    Unreadable,
    /// The Secret does not exist.
    Missing,
    /// The Secret's entries (values redacted when formatted).
    Loaded(BTreeMap<String, SecretString>),
}

/// Why no access token can be used for an integration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialsError {
    #[error("the operator's credentials secret {secret} has not been read yet")]
    NotLoaded { secret: String },
    #[error(
        "the operator's credentials secret {secret} could not be read (the operator's log says why; check its RBAC and the secret's namespace)"
    )]
    Unreadable { secret: String },
    #[error("the operator's credentials secret {secret} does not exist")]
    SecretMissing { secret: String },
    #[error(
        "the operator's credentials secret {secret} has neither key {integration:?} nor key \"access-token\""
    )]
    KeyMissing { secret: String, integration: String },
}

/// The cached credentials, shared by every reconcile.
#[derive(Debug)]
pub struct Credentials {
    /// `NAMESPACE/NAME`, for messages.
    secret: String,
    state: RwLock<State>,
    /// Bumped on every change, so failures caused by old credentials are retried at once.
    epoch: AtomicU64,
}

impl Credentials {
    pub fn new(secret: impl Into<String>) -> Self {
        Self {
            secret: secret.into(),
            state: RwLock::new(State::Unknown),
            epoch: AtomicU64::new(0),
        }
    }

    /// Replaces the cache with the Secret's entries; `None` when the Secret is gone. Values that
    /// are not UTF-8 or are blank are ignored (they cannot be bearer tokens). Returns whether
    /// anything changed: only then is the epoch bumped, since a new epoch opens every retry gate
    /// (a metadata-only touch or a relist of the same data must not).
    pub fn replace(&self, data: Option<BTreeMap<String, Vec<u8>>>) -> bool {
        let next = match data {
            None => State::Missing,
            Some(data) => State::Loaded(
                data.into_iter()
                    .filter_map(|(key, bytes)| {
                        let text = String::from_utf8(bytes).ok()?;
                        let text = text.trim();
                        (!text.is_empty()).then(|| (key, SecretString::new(text)))
                    })
                    .collect(),
            ),
        };
        // A poisoned lock only means another thread panicked mid-write of a plain value.
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if *state == next {
            return false;
        }
        *state = next;
        self.epoch.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Whether the Secret has been read (or found missing) at least once; until then reconciles
    /// wait quietly instead of reporting every object as lacking credentials.
    pub fn read_once(&self) -> bool {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        *state != State::Unknown
    }

    /// Ends the quiet wait when the start-up wait is over and the Secret still has not been
    /// read: from now on connections report it. Returns whether the state changed.
    pub fn stop_waiting(&self) -> bool {
        let mut state = self.state.write().unwrap_or_else(|e| e.into_inner());
        if *state != State::Unknown {
            return false;
        }
        *state = State::Unreadable;
        self.epoch.fetch_add(1, Ordering::SeqCst);
        true
    }

    /// Changes whenever the Secret changes.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::SeqCst)
    }

    /// The access token for `integration`: its own key, else `access-token`.
    pub fn for_integration(&self, integration: &str) -> Result<SecretString, CredentialsError> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        match &*state {
            State::Unknown => Err(CredentialsError::NotLoaded {
                secret: self.secret.clone(),
            }),
            State::Unreadable => Err(CredentialsError::Unreadable {
                secret: self.secret.clone(),
            }),
            State::Missing => Err(CredentialsError::SecretMissing {
                secret: self.secret.clone(),
            }),
            State::Loaded(entries) => entries
                .get(integration)
                // An integration named like a reserved key has no key of its own: the
                // fingerprint key must never be sent to ZIS as an access token.
                .filter(|_| !RESERVED_KEYS.contains(&integration))
                .or_else(|| entries.get(SHARED_KEY))
                .cloned()
                .ok_or_else(|| CredentialsError::KeyMissing {
                    secret: self.secret.clone(),
                    integration: integration.to_owned(),
                }),
        }
    }

    /// The key for token fingerprints, if the Secret sets one.
    pub fn fingerprint_key(&self) -> Option<SecretString> {
        let state = self.state.read().unwrap_or_else(|e| e.into_inner());
        match &*state {
            State::Loaded(entries) => entries.get(FINGERPRINT_KEY).cloned(),
            State::Unknown | State::Unreadable | State::Missing => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loaded(entries: &[(&str, &str)]) -> Credentials {
        let creds = Credentials::new("ops/zis");
        creds.replace(Some(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.as_bytes().to_vec()))
                .collect(),
        ));
        creds
    }

    #[test]
    fn the_shared_access_token_serves_every_integration() {
        let creds = loaded(&[("access-token", "shared")]);
        assert_eq!(
            creds.for_integration("a").map(|t| t.expose().to_owned()),
            Ok("shared".into())
        );
        assert_eq!(
            creds.for_integration("b").map(|t| t.expose().to_owned()),
            Ok("shared".into())
        );
    }

    #[test]
    fn a_key_named_after_an_integration_wins_for_that_integration_only() {
        let creds = loaded(&[("access-token", "shared"), ("billing", "own")]);
        assert_eq!(
            creds
                .for_integration("billing")
                .map(|t| t.expose().to_owned()),
            Ok("own".into())
        );
        assert_eq!(
            creds
                .for_integration("other")
                .map(|t| t.expose().to_owned()),
            Ok("shared".into())
        );
    }

    #[test]
    fn an_integration_named_like_a_reserved_key_never_gets_the_fingerprint_key() {
        let creds = loaded(&[("access-token", "shared"), ("fingerprint-key", "hmac-key")]);
        assert_eq!(
            creds
                .for_integration("fingerprint-key")
                .map(|t| t.expose().to_owned()),
            Ok("shared".into())
        );
        let creds = loaded(&[("fingerprint-key", "hmac-key")]);
        assert!(matches!(
            creds.for_integration("fingerprint-key"),
            Err(CredentialsError::KeyMissing { .. })
        ));
    }

    #[test]
    fn missing_credentials_are_reported_by_cause() {
        let creds = Credentials::new("ops/zis");
        assert!(matches!(
            creds.for_integration("a"),
            Err(CredentialsError::NotLoaded { .. })
        ));
        creds.replace(None);
        assert!(matches!(
            creds.for_integration("a"),
            Err(CredentialsError::SecretMissing { .. })
        ));
        let creds = loaded(&[("billing", "own"), ("access-token", "  ")]);
        assert!(matches!(
            creds.for_integration("a"),
            Err(CredentialsError::KeyMissing { .. })
        ));
    }

    #[test]
    fn credentials_still_unread_after_the_start_up_wait_are_reported_as_unreadable() {
        let creds = Credentials::new("ops/zis");
        assert!(!creds.read_once());
        let epoch = creds.epoch();
        assert!(creds.stop_waiting());
        assert!(creds.read_once(), "no longer waiting quietly");
        assert_eq!(creds.epoch(), epoch + 1, "waiting objects are woken");
        assert!(matches!(
            creds.for_integration("a"),
            Err(CredentialsError::Unreadable { .. })
        ));
        assert!(!creds.stop_waiting(), "once only");
        creds.replace(Some([("access-token".to_owned(), b"x".to_vec())].into()));
        assert!(creds.for_integration("a").is_ok());
        assert!(
            !creds.stop_waiting(),
            "a read Secret is never unreadable again"
        );
    }

    #[test]
    fn a_changed_secret_replaces_the_cached_tokens() {
        let creds = loaded(&[("access-token", "first")]);
        creds.replace(Some(
            [("access-token".to_owned(), b"second".to_vec())].into(),
        ));
        assert_eq!(
            creds.for_integration("a").map(|t| t.expose().to_owned()),
            Ok("second".into())
        );
    }

    #[test]
    fn only_a_change_of_the_data_bumps_the_epoch() {
        let creds = loaded(&[("access-token", "first")]);
        let epoch = creds.epoch();
        let same = || Some([("access-token".to_owned(), b"first".to_vec())].into());
        assert!(!creds.replace(same()), "the same data again is no change");
        assert_eq!(creds.epoch(), epoch);
        assert!(creds.replace(Some(
            [("access-token".to_owned(), b"second".to_vec())].into()
        )));
        assert_eq!(creds.epoch(), epoch + 1);
        assert!(creds.replace(None), "the Secret going away is a change");
        assert!(!creds.replace(None));
        assert_eq!(creds.epoch(), epoch + 2);
    }

    #[test]
    fn the_fingerprint_key_is_optional() {
        assert!(loaded(&[("access-token", "x")]).fingerprint_key().is_none());
        let key = loaded(&[("fingerprint-key", "k")]).fingerprint_key();
        assert_eq!(key.map(|k| k.expose().to_owned()), Some("k".into()));
    }

    #[test]
    fn the_cache_never_prints_a_token() {
        let creds = loaded(&[("access-token", "very-secret-value")]);
        assert!(!format!("{creds:?}").contains("very-secret-value"));
    }
}
