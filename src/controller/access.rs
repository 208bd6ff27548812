//! Who serves which integration. An integration with a `ZisIntegration` is served by it: its
//! Zendesk account, the access token its credentials give (renewed by `integrations`), its
//! namespace selector and adoption rule. Any other integration falls back to the simple
//! single-account mode of the command line (`--zendesk-url`/`--subdomain`,
//! `--credentials-secret`, `--namespace-selector`), when it is configured. Connections, cleanup
//! and the drift watch ask here for a client; this module makes no request itself.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use futures::channel::mpsc::UnboundedSender;

use kube::core::{Selector, SelectorExt};

use super::credentials::{Credentials, CredentialsError};
use super::token_changes::TokenChanges;
use crate::secret::SecretString;
use crate::zis::{ClientConfig, ConfigError, IntegrationClient, ZisClient};

/// The simple single-account mode of the command line.
pub struct SimpleMode {
    pub zis: ZisClient,
    pub credentials: Arc<Credentials>,
    /// `--namespace-selector`: which namespaces may use it; `None` trusts every namespace.
    pub namespaces: Option<Selector>,
}

/// How long a reconcile that saw a refusal waits for a renewal in flight to end before it
/// calls again (a token endpoint answers in well under a second).
const RENEWAL_PATIENCE: Duration = Duration::from_secs(10);

/// What a `ZisIntegration` makes available to connections.
#[derive(Clone)]
pub struct Managed {
    /// The `ZisIntegration`'s name, for messages.
    pub object: String,
    pub zis: ZisClient,
    /// The access token to use, or why there is none.
    pub token: Result<SecretString, NotReady>,
    pub namespaces: Selector,
    /// `adoption: Never`: no connection of the integration adopts.
    pub never_adopt: bool,
}

/// What the registry knows of an integration a `ZisIntegration` names.
#[derive(Clone)]
enum Entry {
    /// Seen by the watch, not reconciled yet: its connections wait quietly rather than fall
    /// back to the simple mode (which may be another account).
    Pending {
        object: String,
    },
    /// Its spec cannot be served (invalid): connections say why.
    Unusable {
        object: String,
        not_ready: NotReady,
    },
    Served(Managed),
}

impl Entry {
    fn object(&self) -> &str {
        match self {
            Entry::Pending { object } | Entry::Unusable { object, .. } => object,
            Entry::Served(managed) => &managed.object,
        }
    }
}

/// Why a `ZisIntegration` serves no token now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotReady {
    /// Its `Ready` reason.
    pub reason: &'static str,
    pub message: String,
}

/// Why a connection cannot use its integration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// The simple mode serves the integration, but its credentials Secret does not.
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(
        "no ZisIntegration serves integration {integration:?} and the operator runs without a simple-mode credentials secret; ask a cluster administrator to create one"
    )]
    NotServed { integration: String },
    #[error(
        "ZisIntegration {object} (integration {integration}) is not Ready ({reason}): {message}"
    )]
    NotReady {
        integration: String,
        object: String,
        reason: &'static str,
        message: String,
    },
    #[error(
        "ZisIntegration {object} does not allow namespace {namespace} to use integration {integration} (its spec.namespaceSelector)"
    )]
    NamespaceNotAllowed {
        integration: String,
        object: String,
        namespace: String,
    },
    #[error(
        "namespace {namespace} may not use the operator's simple-mode credentials (--namespace-selector)"
    )]
    NamespaceNotAllowedBySimpleMode { namespace: String },
}

impl AccessError {
    /// A stable CamelCase reason for the status.
    pub fn reason(&self) -> &'static str {
        match self {
            AccessError::Credentials(_) => "CredentialsMissing",
            AccessError::NotServed { .. } => "IntegrationNotFound",
            AccessError::NotReady { .. } => "IntegrationNotReady",
            AccessError::NamespaceNotAllowed { .. }
            | AccessError::NamespaceNotAllowedBySimpleMode { .. } => "NamespaceNotAllowed",
        }
    }
}

/// Every way to reach an integration, shared by all reconciles.
pub struct Access {
    simple: Option<SimpleMode>,
    managed: RwLock<HashMap<String, Entry>>,
    /// One client per Zendesk account (base URL), so all its integrations share one pacer.
    accounts: Mutex<HashMap<String, ZisClient>>,
    /// How new account clients are made (observer, send permit, pacing).
    template: ClientConfig,
    /// Bumped when a change may cure a failure (an integration became ready, changed its
    /// rules or went): a new epoch opens the retry gates.
    managed_epoch: AtomicU64,
    /// Where to ask for a managed integration's token to be renewed when ZIS refuses it.
    renewals: OnceLock<UnboundedSender<String>>,
    /// Renewals in flight and tokens replaced, to tell a refusal of a replaced token.
    tokens: TokenChanges,
}

impl Access {
    pub fn new(simple: Option<SimpleMode>, template: ClientConfig) -> Self {
        Self {
            simple,
            managed: RwLock::new(HashMap::new()),
            accounts: Mutex::new(HashMap::new()),
            template,
            managed_epoch: AtomicU64::new(0),
            renewals: OnceLock::new(),
            tokens: TokenChanges::new(),
        }
    }

    /// Sends the key of a managed integration whose token ZIS refused to `renewals` (the
    /// integrations' controller renews it once). The first call wins.
    pub fn renew_refused_tokens_with(&self, renewals: UnboundedSender<String>) {
        // A second sender is ignored: one integrations controller per process.
        let _ = self.renewals.set(renewals);
    }

    /// ZIS refused the token of `integration` (401/403): a managed integration renews it.
    pub fn token_refused(&self, integration: &str) {
        if !self.is_managed(integration) {
            return;
        }
        self.tokens.refused(integration);
        if let Some(renewals) = self.renewals.get() {
            // A closed channel means the operator is shutting down.
            let _ = renewals.unbounded_send(integration.to_owned());
        }
    }

    /// How clients of new accounts are made.
    pub fn template(&self) -> &ClientConfig {
        &self.template
    }

    /// The simple mode only, for tests and small setups.
    pub fn simple(zis: ZisClient, credentials: Arc<Credentials>) -> Self {
        let template = ClientConfig::for_url(zis.base_url(), true);
        Self::new(
            Some(SimpleMode {
                zis,
                credentials,
                namespaces: None,
            }),
            template,
        )
    }

    /// The simple mode's credentials cache, if that mode is on.
    pub fn simple_credentials(&self) -> Option<&Arc<Credentials>> {
        self.simple.as_ref().map(|simple| &simple.credentials)
    }

    /// Whether the simple mode's credentials Secret has been read once (always, without it).
    pub fn read_once(&self) -> bool {
        self.simple
            .as_ref()
            .is_none_or(|simple| simple.credentials.read_once())
    }

    /// Changes whenever something changes that may cure a failure.
    pub fn epoch(&self) -> u64 {
        let simple = self.simple.as_ref().map_or(0, |s| s.credentials.epoch());
        simple + self.managed_epoch.load(Ordering::SeqCst)
    }

    /// Changes whenever an access token may have been replaced: read it before the calls, to
    /// ask [`Access::token_replaced_since`] after a refusal.
    pub fn token_generation(&self) -> u64 {
        let simple = self.simple.as_ref().map_or(0, |s| s.credentials.epoch());
        simple + self.tokens.generation()
    }

    /// A managed integration's token is about to be renewed: Zendesk deletes the current one
    /// as soon as it issues the next, and calls made with it are refused until the new one is
    /// served.
    pub fn renewal_started(&self, integration: &str) {
        self.tokens.renewal_started(integration);
    }

    /// Whether a token may have been replaced since `generation` was read (after waiting,
    /// [`RENEWAL_PATIENCE`] at most, for the renewals in flight to end): a refusal seen meanwhile may be of
    /// the old token, and the calls are worth making once more with the new one.
    pub async fn token_replaced_since(&self, generation: u64) -> bool {
        self.tokens.renewals_settled(RENEWAL_PATIENCE).await;
        self.token_generation() != generation
    }

    /// The key for token fingerprints (from the simple mode's Secret), if any.
    pub fn fingerprint_key(&self) -> Option<SecretString> {
        self.simple.as_ref()?.credentials.fingerprint_key()
    }

    /// The client for `integration`, with the access token that serves it now.
    pub fn client(&self, integration: &str) -> Result<IntegrationClient, AccessError> {
        let not_ready = |object: String, not_ready: NotReady| AccessError::NotReady {
            integration: integration.to_owned(),
            object,
            reason: not_ready.reason,
            message: not_ready.message,
        };
        match self.entry(integration) {
            Some(Entry::Served(managed)) => {
                return match managed.token {
                    Ok(token) => Ok(managed.zis.integration(integration, token)),
                    Err(reason) => Err(not_ready(managed.object, reason)),
                };
            }
            Some(Entry::Unusable {
                object,
                not_ready: reason,
            }) => {
                return Err(not_ready(object, reason));
            }
            Some(Entry::Pending { object }) => {
                let reason = NotReady {
                    reason: "Pending",
                    message: "not reconciled yet".to_owned(),
                };
                return Err(not_ready(object, reason));
            }
            None => {}
        }
        let Some(simple) = &self.simple else {
            return Err(AccessError::NotServed {
                integration: integration.to_owned(),
            });
        };
        let token = simple.credentials.for_integration(integration)?;
        Ok(simple.zis.integration(integration, token))
    }

    /// Whether a connection in `namespace` (with `labels`) may use `integration`.
    pub fn admits(
        &self,
        integration: &str,
        namespace: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(), AccessError> {
        if let Some(entry) = self.entry(integration) {
            // Not served yet, or not servable: the connection waits on `client` instead.
            let Entry::Served(managed) = entry else {
                return Ok(());
            };
            return if managed.namespaces.matches(labels) {
                Ok(())
            } else {
                Err(AccessError::NamespaceNotAllowed {
                    integration: integration.to_owned(),
                    object: managed.object,
                    namespace: namespace.to_owned(),
                })
            };
        }
        match self.simple.as_ref().and_then(|s| s.namespaces.as_ref()) {
            Some(selector) if !selector.matches(labels) => {
                Err(AccessError::NamespaceNotAllowedBySimpleMode {
                    namespace: namespace.to_owned(),
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether the integration refuses adoption for every connection (`adoption: Never`).
    pub fn never_adopts(&self, integration: &str) -> bool {
        matches!(self.entry(integration), Some(Entry::Served(managed)) if managed.never_adopt)
    }

    /// Whether a `ZisIntegration` names `integration` (served or not).
    pub fn is_managed(&self, integration: &str) -> bool {
        self.entry(integration).is_some()
    }

    /// Whether the `ZisIntegration` of `integration` has not been reconciled yet since this
    /// replica started leading: its connections wait without a word.
    pub fn pending(&self, integration: &str) -> bool {
        matches!(self.entry(integration), Some(Entry::Pending { .. }))
    }

    /// The name of the `ZisIntegration` that holds `integration`'s entry, if any.
    pub fn object_of(&self, integration: &str) -> Option<String> {
        self.entry(integration)
            .map(|entry| entry.object().to_owned())
    }

    /// Every integration a `ZisIntegration` holds, with that object's name.
    pub fn managed(&self) -> Vec<(String, String)> {
        let all = self.managed.read().unwrap_or_else(|e| e.into_inner());
        all.iter()
            .map(|(key, entry)| (key.clone(), entry.object().to_owned()))
            .collect()
    }

    /// The watch saw `object` name `integration`: until it is reconciled, its connections wait.
    pub fn announce(&self, integration: &str, object: &str) {
        let mut all = self.managed.write().unwrap_or_else(|e| e.into_inner());
        all.entry(integration.to_owned())
            .or_insert_with(|| Entry::Pending {
                object: object.to_owned(),
            });
    }

    /// `object`'s spec cannot serve `integration`: its connections say why.
    /// Returns whether that changed anything.
    pub fn refuse(&self, integration: &str, object: &str, not_ready: NotReady) -> bool {
        let mut all = self.managed.write().unwrap_or_else(|e| e.into_inner());
        let changed = match all.get(integration) {
            Some(Entry::Unusable {
                object: was,
                not_ready: why,
            }) => was != object || *why != not_ready,
            _ => true,
        };
        let entry = Entry::Unusable {
            object: object.to_owned(),
            not_ready,
        };
        all.insert(integration.to_owned(), entry);
        self.tokens.served(integration, true);
        if changed {
            self.managed_epoch.fetch_add(1, Ordering::SeqCst);
        }
        changed
    }

    /// `object` now names `integration` only: the keys it served before (its spec's key was
    /// changed) are released and returned.
    pub fn release_others(&self, object: &str, integration: &str) -> Vec<String> {
        let mut all = self.managed.write().unwrap_or_else(|e| e.into_inner());
        let released: Vec<String> = all
            .iter()
            .filter(|(key, entry)| *key != integration && entry.object() == object)
            .map(|(key, _)| key.clone())
            .collect();
        for key in &released {
            all.remove(key);
        }
        if !released.is_empty() {
            self.managed_epoch.fetch_add(1, Ordering::SeqCst);
        }
        released
    }

    /// Makes `managed` serve `integration` (and ends its renewal in flight, if any). Returns
    /// whether anything a connection relies on changed (then the epoch is bumped): a renewed
    /// token alone is not such a change, unless ZIS had refused the old one: then the
    /// connections held back by the integration's breaker try again at once.
    pub fn serve(&self, integration: &str, managed: Managed) -> bool {
        let mut all = self.managed.write().unwrap_or_else(|e| e.into_inner());
        let (changed, new_token) = match all.get(integration) {
            Some(Entry::Served(old)) => (
                old.object != managed.object
                    || old.zis.base_url() != managed.zis.base_url()
                    || old.token.is_ok() != managed.token.is_ok()
                    || old.token.as_ref().err() != managed.token.as_ref().err()
                    || old.namespaces != managed.namespaces
                    || old.never_adopt != managed.never_adopt,
                old.token.as_ref().ok() != managed.token.as_ref().ok(),
            ),
            _ => (true, true),
        };
        let refused_before = self.tokens.served(integration, new_token);
        let changed = changed || refused_before;
        all.insert(integration.to_owned(), Entry::Served(managed));
        if changed {
            self.managed_epoch.fetch_add(1, Ordering::SeqCst);
        }
        changed
    }

    /// The `ZisIntegration` of `integration` is gone: the integration falls back to the simple
    /// mode, if any.
    pub fn forget(&self, integration: &str) {
        let mut all = self.managed.write().unwrap_or_else(|e| e.into_inner());
        if all.remove(integration).is_some() {
            self.tokens.served(integration, true);
            self.managed_epoch.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The client of the Zendesk account at `base_url` (made once per account).
    pub fn account(&self, base_url: &str) -> Result<ZisClient, ConfigError> {
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = accounts.get(base_url) {
            return Ok(client.clone());
        }
        let mut config = self.template.clone();
        // Plain http only where the command line allows it (`--allow-http`, local servers).
        config.base_url = base_url.to_owned();
        let client = ZisClient::new(config)?;
        accounts.insert(base_url.to_owned(), client.clone());
        Ok(client)
    }

    fn entry(&self, integration: &str) -> Option<Entry> {
        let all = self.managed.read().unwrap_or_else(|e| e.into_inner());
        all.get(integration).cloned()
    }
}

/// Parses a label selector as `kubectl -l` takes it: comma-separated `key=value`,
/// `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key`, `!key`.
pub fn parse_selector(text: &str) -> Result<Selector, String> {
    use kube::core::Expression;
    let mut expressions = Vec::new();
    for part in split_top_level(text) {
        let part = part.trim();
        if part.is_empty() {
            return Err(format!("empty requirement in selector {text:?}"));
        }
        let set = |rest: &str| -> Result<std::collections::BTreeSet<String>, String> {
            let inner = rest
                .trim()
                .strip_prefix('(')
                .and_then(|r| r.strip_suffix(')'))
                .ok_or_else(|| format!("expected (values) in {part:?}"))?;
            Ok(inner.split(',').map(|v| v.trim().to_owned()).collect())
        };
        let expression = if let Some((key, rest)) = part.split_once(" notin ") {
            Expression::NotIn(key.trim().to_owned(), set(rest)?)
        } else if let Some((key, rest)) = part.split_once(" in ") {
            Expression::In(key.trim().to_owned(), set(rest)?)
        } else if let Some((key, value)) = part.split_once("!=") {
            Expression::NotEqual(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some((key, value)) = part.split_once("==").or_else(|| part.split_once('=')) {
            Expression::Equal(key.trim().to_owned(), value.trim().to_owned())
        } else if let Some(key) = part.strip_prefix('!') {
            Expression::DoesNotExist(key.trim().to_owned())
        } else {
            Expression::Exists(part.to_owned())
        };
        expressions.push(expression);
    }
    Ok(expressions.into_iter().collect())
}

/// Splits on the commas outside parentheses.
fn split_top_level(text: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0usize, 0usize);
    for (i, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            ',' if depth == 0 => {
                parts.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn registry() -> Access {
        Access::new(None, ClientConfig::for_url("http://127.0.0.1:9", true))
    }

    fn served(access: &Access, object: &str, never_adopt: bool) -> Managed {
        with_token(access, object, never_adopt, "token-for-tests")
    }

    fn with_token(access: &Access, object: &str, never_adopt: bool, token: &str) -> Managed {
        Managed {
            object: object.to_owned(),
            zis: access.account("http://127.0.0.1:9").expect("client"),
            token: Ok(SecretString::new(token)),
            namespaces: parse_selector("team=payments").expect("selector"),
            never_adopt,
        }
    }

    #[test]
    fn an_announced_integration_waits_and_never_falls_back_until_served() {
        let access = registry();
        assert!(matches!(
            access.client("app"),
            Err(AccessError::NotServed { .. })
        ));
        access.announce("app", "app-object");
        assert!(access.pending("app"));
        let epoch = access.epoch();
        assert!(matches!(
            access.client("app"),
            Err(AccessError::NotReady {
                reason: "Pending",
                ..
            })
        ));
        assert!(access.admits("app", "ns", &labels(&[])).is_ok());

        assert!(access.serve("app", served(&access, "app-object", true)));
        assert!(access.epoch() > epoch, "serving opens the retry gates");
        assert!(!access.pending("app"));
        assert!(access.client("app").is_ok());
        assert!(access.never_adopts("app"));
        assert!(matches!(
            access.admits("app", "ns", &labels(&[("team", "ledger")])),
            Err(AccessError::NamespaceNotAllowed { .. })
        ));
        let epoch = access.epoch();
        assert!(
            !access.serve("app", with_token(&access, "app-object", true, "renewed")),
            "a renewed token alone changes nothing connections rely on"
        );
        assert_eq!(access.epoch(), epoch);
    }

    #[test]
    fn a_new_token_after_a_refusal_opens_the_retry_gates() {
        let access = registry();
        access.serve("app", served(&access, "app-object", false));
        access.token_refused("app");
        let epoch = access.epoch();
        assert!(
            !access.serve("app", served(&access, "app-object", false)),
            "the refused token again: nothing to retry"
        );
        assert!(access.serve("app", with_token(&access, "app-object", false, "renewed")));
        assert!(access.epoch() > epoch);
        assert!(
            !access.serve("app", with_token(&access, "app-object", false, "again")),
            "the refusal was answered"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_during_a_renewal_is_of_a_replaced_token() {
        let access = std::sync::Arc::new(registry());
        access.serve("app", served(&access, "app-object", false));
        let before = access.token_generation();
        assert!(
            !access.token_replaced_since(before).await,
            "nothing happened"
        );
        access.renewal_started("app");
        let during = access.token_generation();
        let server = access.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            server.serve("app", with_token(&server, "app-object", false, "renewed"));
        });
        let started = tokio::time::Instant::now();
        assert!(
            access.token_replaced_since(during).await,
            "a call made just after the start may still have used the old token"
        );
        assert_eq!(
            started.elapsed(),
            Duration::from_millis(50),
            "waited for the new token to be served"
        );
        assert!(access.token_replaced_since(before).await);
        let after = access.token_generation();
        assert!(!access.token_replaced_since(after).await);
    }

    #[test]
    fn an_unusable_spec_is_reported_and_a_changed_key_releases_the_old_one() {
        let access = registry();
        let not_ready = NotReady {
            reason: "InvalidSpec",
            message: "spec.url: not a URL".to_owned(),
        };
        assert!(access.refuse("app", "app-object", not_ready.clone()));
        assert!(!access.refuse("app", "app-object", not_ready));
        match access.client("app") {
            Err(AccessError::NotReady { reason, object, .. }) => {
                assert_eq!((reason, object.as_str()), ("InvalidSpec", "app-object"));
            }
            other => panic!("{:?}", other.map(|_| ())),
        }
        assert_eq!(access.release_others("app-object", "renamed"), vec!["app"]);
        assert!(!access.is_managed("app"));
    }

    #[test]
    fn selectors_are_read_as_kubectl_reads_them() {
        let selector =
            parse_selector("team in (payments,ledger),env!=dev,managed").expect("parses");
        assert!(selector.matches(&labels(&[("team", "payments"), ("managed", "")])));
        assert!(!selector.matches(&labels(&[("team", "payments")])));
        assert!(!selector.matches(&labels(&[
            ("team", "payments"),
            ("managed", ""),
            ("env", "dev")
        ])));
        let selector = parse_selector("zis=allowed,!frozen").expect("parses");
        assert!(selector.matches(&labels(&[("zis", "allowed")])));
        assert!(!selector.matches(&labels(&[("zis", "allowed"), ("frozen", "yes")])));
        assert!(parse_selector("a,,b").is_err());
        assert!(parse_selector("team in payments").is_err());
    }
}
