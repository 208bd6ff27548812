//! OAuth in the fake: the OAuth clients of integrations, the grants they hold and the rules of
//! Zendesk's token endpoint (`POST /oauth/tokens`, served by [`endpoint`]; its admin side, which
//! plays the admin who authorizes an app, is [`admin`]).
//!
//! A **grant** is one authorization: a family of tokens that starts with a refresh token (issued
//! through the admin API, as an admin authorizing the app would get it) or with a
//! client-credentials request. Refreshing rotates the family: the refresh token used is spent
//! (single use), the family's access tokens are deleted, and a new access token and refresh token
//! are issued, as Zendesk announces it ("a successful request will also return a refresh token
//! and delete the previous access and refresh tokens"). Revoking a grant kills every token of the
//! family. Access tokens issued here are ordinary access tokens of the Connections API
//! (`auth::AccessTokens`): their integration is the OAuth client's, their scopes the grant's (or
//! the subset asked for), and they expire on the fake's token clock (`clock`).
//!
//! What the fake does not do: the authorization-code grant and its browser redirect (an admin
//! issues the first refresh token directly instead), PKCE, public clients, client
//! authentication by HTTP Basic (credentials travel in the body, as Zendesk documents), and
//! revoking a whole family when a spent refresh token is presented again (it answers
//! `invalid_grant` and leaves the family alone: whether Zendesk revokes the family then is not
//! documented).
//!
//! Lock order: this module's lock, then the access tokens' lock; never the other way round.

pub mod admin;
pub mod endpoint;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use super::auth::{AccessTokens, Grant, Scope};

/// Lifetime of an access token when the request does not say (Zendesk's default).
pub const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(30 * 60);
/// The shortest `expires_in` the token endpoint accepts (5 minutes).
pub const MIN_EXPIRES_IN: Duration = Duration::from_secs(5 * 60);
/// The longest `expires_in` the token endpoint accepts (48 hours).
pub const MAX_EXPIRES_IN: Duration = Duration::from_secs(48 * 3600);
/// Lifetime of a refresh token when the request does not say (Zendesk's default, 30 days).
pub const DEFAULT_REFRESH_TOKEN_EXPIRES_IN: Duration = Duration::from_secs(30 * 24 * 3600);
/// The shortest `refresh_token_expires_in` the token endpoint accepts (7 days).
pub const MIN_REFRESH_TOKEN_EXPIRES_IN: Duration = Duration::from_secs(7 * 24 * 3600);
/// The longest `refresh_token_expires_in` the token endpoint accepts (90 days).
pub const MAX_REFRESH_TOKEN_EXPIRES_IN: Duration = Duration::from_secs(90 * 24 * 3600);

/// An OAuth client of an integration (Zendesk creates one, `zis_...`, when an integration is
/// registered).
#[derive(Clone, PartialEq, Eq)]
pub struct OAuthClientConfig {
    /// The integration whose Connections API its access tokens open (registered if unknown).
    pub integration: String,
    pub client_id: String,
    pub client_secret: String,
    /// Whether `grant_type=client_credentials` is allowed (otherwise 400 `unauthorized_client`).
    pub allow_client_credentials: bool,
    /// The most its tokens may carry (`read write` by default).
    pub scopes: Vec<Scope>,
}

impl OAuthClientConfig {
    /// A client with scopes `read write` that may only refresh.
    pub fn new(
        integration: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        OAuthClientConfig {
            integration: integration.into(),
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            allow_client_credentials: false,
            scopes: vec![Scope::Read, Scope::Write],
        }
    }
}

// The client secret is a secret.
impl fmt::Debug for OAuthClientConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClientConfig")
            .field("integration", &self.integration)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<redacted>")
            .field("allow_client_credentials", &self.allow_client_credentials)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A refresh token that exists from the start (an admin authorized the app before).
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshTokenConfig {
    /// A client of [`OAuthClientConfig`]; the token carries all of its scopes.
    pub client_id: String,
    pub refresh_token: String,
    /// Counted from start (and from every reset).
    pub lifetime: Duration,
}

impl RefreshTokenConfig {
    /// A refresh token with the default lifetime (30 days).
    pub fn new(client_id: impl Into<String>, refresh_token: impl Into<String>) -> Self {
        RefreshTokenConfig {
            client_id: client_id.into(),
            refresh_token: refresh_token.into(),
            lifetime: DEFAULT_REFRESH_TOKEN_EXPIRES_IN,
        }
    }
}

impl fmt::Debug for RefreshTokenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshTokenConfig")
            .field("client_id", &self.client_id)
            .field("refresh_token", &"<redacted>")
            .field("lifetime", &self.lifetime)
            .finish()
    }
}

/// Why a token request is refused (the OAuth error codes of RFC 6749, section 5.2, that depend
/// on the fake's state; malformed requests are refused by [`endpoint`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenError {
    /// Unknown client or wrong secret.
    InvalidClient,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The refresh token is unknown, spent, revoked, expired or another client's.
    InvalidGrant(&'static str),
    /// A scope the grant (or client) does not hold.
    InvalidScope,
}

/// Why the admin could not issue a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssueError {
    UnknownClient,
    /// The refresh token value asked for is already taken.
    TokenTaken,
}

/// How long the tokens of one request live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    pub access: Duration,
    pub refresh: Duration,
}

/// The tokens a request produced.
pub struct Issued {
    pub grant_id: u64,
    pub client_id: String,
    pub integration: String,
    pub scopes: BTreeSet<Scope>,
    /// The token and its lifetime.
    pub access_token: Option<(String, Duration)>,
    pub refresh_token: Option<(String, Duration)>,
}

impl fmt::Debug for Issued {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Issued")
            .field("grant_id", &self.grant_id)
            .field("client_id", &self.client_id)
            .field("scopes", &self.scopes)
            .field("access_token", &self.access_token.as_ref().map(|(_, l)| l))
            .field(
                "refresh_token",
                &self.refresh_token.as_ref().map(|(_, l)| l),
            )
            .finish()
    }
}

/// `read write`, the way OAuth writes scopes.
pub fn scope_text(scopes: &BTreeSet<Scope>) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Scopes from their space-separated form; `None` when one is unknown. Empty text is no scope.
pub fn parse_scopes(text: &str) -> Option<BTreeSet<Scope>> {
    text.split_ascii_whitespace().map(Scope::parse).collect()
}

/// A refresh-token request, its credentials as sent.
pub struct RefreshRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub refresh_token: &'a str,
    /// `None`: the grant's scopes.
    pub scopes: Option<BTreeSet<Scope>>,
    pub lifetimes: Lifetimes,
}

/// A client-credentials request.
pub struct ClientCredentialsRequest<'a> {
    pub client_id: &'a str,
    pub client_secret: &'a str,
    /// `None`: the client's scopes.
    pub scopes: Option<BTreeSet<Scope>>,
    pub expires_in: Duration,
}

/// An admin's authorization of an app: a new grant with a refresh token.
pub struct IssueRequest {
    pub client_id: String,
    /// `None`: the client's scopes.
    pub scopes: Option<BTreeSet<Scope>>,
    /// A chosen refresh token value; `None` draws one.
    pub refresh_token: Option<String>,
    /// `Some`: an access token too.
    pub access: Option<Duration>,
    pub refresh: Duration,
}

/// The fake's OAuth clients and grants.
pub struct OAuth {
    inner: Mutex<Inner>,
    initial_clients: Vec<OAuthClientConfig>,
    initial_refresh_tokens: Vec<RefreshTokenConfig>,
}

// Everything inside holds secrets: Debug counts.
impl fmt::Debug for OAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("OAuth")
            .field("clients", &inner.clients.len())
            .field("grants", &inner.grants.len())
            .finish()
    }
}

#[derive(Default)]
struct Inner {
    clients: BTreeMap<String, Client>,
    refresh_tokens: HashMap<String, RefreshEntry>,
    grants: BTreeMap<u64, Family>,
    /// Grant ids and token serials (issue order, for listings).
    next_id: u64,
}

struct Client {
    integration: String,
    secret: String,
    allow_client_credentials: bool,
    scopes: BTreeSet<Scope>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GrantKind {
    RefreshToken,
    ClientCredentials,
}

impl GrantKind {
    fn as_str(self) -> &'static str {
        match self {
            GrantKind::RefreshToken => "refresh_token",
            GrantKind::ClientCredentials => "client_credentials",
        }
    }
}

/// One grant's tokens. Spent refresh tokens stay in `Inner::refresh_tokens` (marked used) so
/// that presenting one again is told apart from an unknown token.
struct Family {
    kind: GrantKind,
    client_id: String,
    integration: String,
    scopes: BTreeSet<Scope>,
    revoked: bool,
    /// The access tokens alive (unexpired or expired, not yet replaced or revoked).
    access: Vec<AccessEntry>,
}

struct AccessEntry {
    token: String,
    serial: u64,
    scopes: BTreeSet<Scope>,
    lifetime: Duration,
    expires_at: Instant,
}

struct RefreshEntry {
    grant: u64,
    serial: u64,
    lifetime: Duration,
    expires_at: Instant,
    used: bool,
}

/// 64 hex digits from the thread's CSPRNG (as long as Zendesk's tokens).
fn new_token() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl OAuth {
    /// The clients and refresh tokens a fake starts with; fails when a refresh token names an
    /// unknown client or repeats another.
    pub fn new(
        clients: Vec<OAuthClientConfig>,
        refresh_tokens: Vec<RefreshTokenConfig>,
        now: Instant,
    ) -> Result<OAuth, String> {
        let oauth = OAuth {
            inner: Mutex::new(Inner::default()),
            initial_clients: clients,
            initial_refresh_tokens: refresh_tokens,
        };
        oauth.load_initial(now)?;
        Ok(oauth)
    }

    /// Back to the clients and refresh tokens of the start, their lifetimes counted from `now`.
    /// (The access tokens issued meanwhile are dropped with all others by the state's reset.)
    pub fn reset(&self, now: Instant) {
        // Checked when the fake started, so it cannot fail now.
        let _ = self.load_initial(now);
    }

    fn load_initial(&self, now: Instant) -> Result<(), String> {
        let mut inner = self.lock();
        *inner = Inner::default();
        for client in &self.initial_clients {
            inner.register(client.clone());
        }
        for start in &self.initial_refresh_tokens {
            inner
                .issue(
                    None,
                    now,
                    IssueRequest {
                        client_id: start.client_id.clone(),
                        scopes: None,
                        refresh_token: Some(start.refresh_token.clone()),
                        access: None,
                        refresh: start.lifetime,
                    },
                )
                .map_err(|error| match error {
                    IssueError::UnknownClient => format!(
                        "a refresh token names OAuth client {:?}, which is not registered",
                        start.client_id
                    ),
                    IssueError::TokenTaken => "a refresh token is given twice".to_owned(),
                })?;
        }
        Ok(())
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a client, or replaces the one with the same id (a new secret, other rights); the
    /// grants it holds stay valid.
    pub fn register(&self, client: OAuthClientConfig) {
        self.lock().register(client);
    }

    /// Every client, without secrets.
    pub fn client_views(&self) -> Vec<Value> {
        self.lock()
            .clients
            .iter()
            .map(|(id, client)| client_view(id, client))
            .collect()
    }

    /// `grant_type=refresh_token`: rotates the refresh token's grant.
    pub fn refresh(
        &self,
        tokens: &AccessTokens,
        now: Instant,
        request: &RefreshRequest<'_>,
    ) -> Result<Issued, TokenError> {
        let mut inner = self.lock();
        inner.authenticate(request.client_id, request.client_secret)?;
        let Inner {
            refresh_tokens,
            grants,
            next_id,
            ..
        } = &mut *inner;
        let entry = refresh_tokens
            .get_mut(request.refresh_token)
            .ok_or(TokenError::InvalidGrant("The refresh token is invalid"))?;
        let grant_id = entry.grant;
        let family = grants
            .get_mut(&grant_id)
            .ok_or(TokenError::InvalidGrant("The refresh token is invalid"))?;
        if family.client_id != request.client_id {
            return Err(TokenError::InvalidGrant(
                "The refresh token was issued to another client",
            ));
        }
        if family.revoked {
            return Err(TokenError::InvalidGrant(
                "The refresh token has been revoked",
            ));
        }
        if entry.used {
            return Err(TokenError::InvalidGrant(
                "The refresh token has already been used",
            ));
        }
        if now >= entry.expires_at {
            return Err(TokenError::InvalidGrant("The refresh token has expired"));
        }
        let scopes = match &request.scopes {
            Some(asked) if !asked.is_subset(&family.scopes) => {
                return Err(TokenError::InvalidScope);
            }
            Some(asked) if !asked.is_empty() => asked.clone(),
            _ => family.scopes.clone(),
        };
        entry.used = true;
        tokens.remove_all(family.access.iter().map(|a| a.token.as_str()));
        family.access.clear();
        let access = family.new_access(
            tokens,
            next_id,
            scopes.clone(),
            request.lifetimes.access,
            now,
        );
        let refresh = new_token();
        *next_id += 1;
        refresh_tokens.insert(
            refresh.clone(),
            RefreshEntry {
                grant: grant_id,
                serial: *next_id,
                lifetime: request.lifetimes.refresh,
                expires_at: now + request.lifetimes.refresh,
                used: false,
            },
        );
        Ok(Issued {
            grant_id,
            client_id: request.client_id.to_owned(),
            integration: family.integration.clone(),
            scopes,
            access_token: Some((access, request.lifetimes.access)),
            refresh_token: Some((refresh, request.lifetimes.refresh)),
        })
    }

    /// `grant_type=client_credentials`: a new grant holding one access token.
    pub fn client_credentials(
        &self,
        tokens: &AccessTokens,
        now: Instant,
        request: &ClientCredentialsRequest<'_>,
    ) -> Result<Issued, TokenError> {
        let mut inner = self.lock();
        let client = inner.authenticate(request.client_id, request.client_secret)?;
        if !client.allow_client_credentials {
            return Err(TokenError::UnauthorizedClient);
        }
        let scopes = match &request.scopes {
            Some(asked) if !asked.is_subset(&client.scopes) => {
                return Err(TokenError::InvalidScope);
            }
            Some(asked) if !asked.is_empty() => asked.clone(),
            _ => client.scopes.clone(),
        };
        let integration = client.integration.clone();
        let (grant_id, mut family) = inner.new_family(
            GrantKind::ClientCredentials,
            request.client_id,
            &integration,
            scopes.clone(),
        );
        let access = family.new_access(
            tokens,
            &mut inner.next_id,
            scopes.clone(),
            request.expires_in,
            now,
        );
        inner.grants.insert(grant_id, family);
        Ok(Issued {
            grant_id,
            client_id: request.client_id.to_owned(),
            integration,
            scopes,
            access_token: Some((access, request.expires_in)),
            refresh_token: None,
        })
    }

    /// The admin authorizes the app: a new grant with a refresh token (and an access token when
    /// asked). Lifetimes are not bounded here, so tests can use seconds.
    pub fn issue(
        &self,
        tokens: &AccessTokens,
        now: Instant,
        request: IssueRequest,
    ) -> Result<Issued, IssueError> {
        self.lock().issue(Some(tokens), now, request)
    }

    /// Revokes every token of a grant; false when the grant is unknown.
    pub fn revoke(&self, tokens: &AccessTokens, grant_id: u64) -> bool {
        let mut inner = self.lock();
        let Some(family) = inner.grants.get_mut(&grant_id) else {
            return false;
        };
        family.revoked = true;
        tokens.remove_all(family.access.iter().map(|a| a.token.as_str()));
        family.access.clear();
        true
    }

    /// The grant a refresh token (spent or not) belongs to.
    pub fn grant_of(&self, refresh_token: &str) -> Option<u64> {
        self.lock()
            .refresh_tokens
            .get(refresh_token)
            .map(|e| e.grant)
    }

    /// Every token's grant, kind, scopes and lifetime, never its value; optionally only one
    /// client's or one grant's.
    pub fn token_views(
        &self,
        now: Instant,
        client_id: Option<&str>,
        grant_id: Option<u64>,
    ) -> Vec<Value> {
        let inner = self.lock();
        let wanted = |id: u64, family: &Family| {
            client_id.is_none_or(|c| c == family.client_id) && grant_id.is_none_or(|g| g == id)
        };
        let remaining = |expires_at: Instant| expires_at.saturating_duration_since(now).as_secs();
        let mut views: Vec<(u64, Value)> = Vec::new();
        for (id, family) in inner.grants.iter().filter(|(id, f)| wanted(**id, f)) {
            for access in &family.access {
                let state = if now >= access.expires_at {
                    "expired"
                } else {
                    "active"
                };
                views.push((
                    access.serial,
                    json!({
                        "grant_id": id,
                        "grant_type": family.kind.as_str(),
                        "kind": "access_token",
                        "client_id": family.client_id,
                        "integration": family.integration,
                        "scope": scope_text(&access.scopes),
                        "lifetime_seconds": access.lifetime.as_secs(),
                        "expires_in_seconds": remaining(access.expires_at),
                        "state": state,
                    }),
                ));
            }
        }
        for entry in inner.refresh_tokens.values() {
            let Some(family) = inner.grants.get(&entry.grant) else {
                continue;
            };
            if !wanted(entry.grant, family) {
                continue;
            }
            let state = if family.revoked {
                "revoked"
            } else if entry.used {
                "used"
            } else if now >= entry.expires_at {
                "expired"
            } else {
                "active"
            };
            views.push((
                entry.serial,
                json!({
                    "grant_id": entry.grant,
                    "grant_type": family.kind.as_str(),
                    "kind": "refresh_token",
                    "client_id": family.client_id,
                    "integration": family.integration,
                    "scope": scope_text(&family.scopes),
                    "lifetime_seconds": entry.lifetime.as_secs(),
                    "expires_in_seconds": remaining(entry.expires_at),
                    "state": state,
                }),
            ));
        }
        views.sort_by_key(|(serial, _)| *serial);
        views.into_iter().map(|(_, view)| view).collect()
    }
}

fn client_view(client_id: &str, client: &Client) -> Value {
    let scopes: Vec<&str> = client.scopes.iter().map(|s| s.as_str()).collect();
    json!({
        "integration": client.integration,
        "client_id": client_id,
        "allow_client_credentials": client.allow_client_credentials,
        "scopes": scopes,
    })
}

impl Inner {
    fn register(&mut self, config: OAuthClientConfig) {
        self.clients.insert(
            config.client_id,
            Client {
                integration: config.integration,
                secret: config.client_secret,
                allow_client_credentials: config.allow_client_credentials,
                scopes: config.scopes.into_iter().collect(),
            },
        );
    }

    fn authenticate(&self, client_id: &str, secret: &str) -> Result<&Client, TokenError> {
        let client = self
            .clients
            .get(client_id)
            .ok_or(TokenError::InvalidClient)?;
        if client.secret != secret {
            return Err(TokenError::InvalidClient);
        }
        Ok(client)
    }

    fn new_family(
        &mut self,
        kind: GrantKind,
        client_id: &str,
        integration: &str,
        scopes: BTreeSet<Scope>,
    ) -> (u64, Family) {
        self.next_id += 1;
        let family = Family {
            kind,
            client_id: client_id.to_owned(),
            integration: integration.to_owned(),
            scopes,
            revoked: false,
            access: Vec::new(),
        };
        (self.next_id, family)
    }

    /// `tokens` is `None` only at start, when no access token is issued.
    fn issue(
        &mut self,
        tokens: Option<&AccessTokens>,
        now: Instant,
        request: IssueRequest,
    ) -> Result<Issued, IssueError> {
        let client = self
            .clients
            .get(&request.client_id)
            .ok_or(IssueError::UnknownClient)?;
        let integration = client.integration.clone();
        let scopes = request
            .scopes
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| client.scopes.clone());
        let refresh = match request.refresh_token {
            Some(chosen) if self.refresh_tokens.contains_key(&chosen) => {
                return Err(IssueError::TokenTaken);
            }
            Some(chosen) => chosen,
            None => new_token(),
        };
        let (grant_id, mut family) = self.new_family(
            GrantKind::RefreshToken,
            &request.client_id,
            &integration,
            scopes.clone(),
        );
        let access = match (request.access, tokens) {
            (Some(lifetime), Some(tokens)) => Some((
                family.new_access(tokens, &mut self.next_id, scopes.clone(), lifetime, now),
                lifetime,
            )),
            _ => None,
        };
        self.next_id += 1;
        self.refresh_tokens.insert(
            refresh.clone(),
            RefreshEntry {
                grant: grant_id,
                serial: self.next_id,
                lifetime: request.refresh,
                expires_at: now + request.refresh,
                used: false,
            },
        );
        self.grants.insert(grant_id, family);
        Ok(Issued {
            grant_id,
            client_id: request.client_id,
            integration,
            scopes,
            access_token: access,
            refresh_token: Some((refresh, request.refresh)),
        })
    }
}

impl Family {
    /// Issues an access token of this family, usable on the Connections API at once.
    fn new_access(
        &mut self,
        tokens: &AccessTokens,
        next_id: &mut u64,
        scopes: BTreeSet<Scope>,
        lifetime: Duration,
        now: Instant,
    ) -> String {
        let token = new_token();
        *next_id += 1;
        tokens.insert(
            token.clone(),
            Grant {
                integration: self.integration.clone(),
                scopes: scopes.clone(),
                expires_at: None,
            }
            .expiring_in(Some(lifetime), now),
        );
        self.access.push(AccessEntry {
            token: token.clone(),
            serial: *next_id,
            scopes,
            lifetime,
            expires_at: now + lifetime,
        });
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    fn lifetimes() -> Lifetimes {
        Lifetimes {
            access: HOUR,
            refresh: 24 * HOUR,
        }
    }

    fn oauth(now: Instant) -> OAuth {
        let mut cc = OAuthClientConfig::new("two", "zis_two", "secret-two");
        cc.allow_client_credentials = true;
        OAuth::new(
            vec![OAuthClientConfig::new("one", "zis_one", "secret-one"), cc],
            vec![RefreshTokenConfig::new("zis_one", "start-refresh")],
            now,
        )
        .unwrap()
    }

    fn refresh<'a>(token: &'a str) -> RefreshRequest<'a> {
        RefreshRequest {
            client_id: "zis_one",
            client_secret: "secret-one",
            refresh_token: token,
            scopes: None,
            lifetimes: lifetimes(),
        }
    }

    #[test]
    fn a_refresh_spends_the_token_and_replaces_the_familys_access_token() {
        let now = Instant::now();
        let (oauth, tokens) = (oauth(now), AccessTokens::default());
        let first = oauth
            .refresh(&tokens, now, &refresh("start-refresh"))
            .unwrap();
        let (access, _) = first.access_token.clone().unwrap();
        let header =
            |t: &str| hyper::header::HeaderValue::from_str(&format!("Bearer {t}")).unwrap();
        assert!(tokens.authenticate(Some(&header(&access)), now).is_ok());
        assert!(matches!(
            oauth.refresh(&tokens, now, &refresh("start-refresh")),
            Err(TokenError::InvalidGrant(
                "The refresh token has already been used"
            ))
        ));
        let (next, _) = first.refresh_token.unwrap();
        let second = oauth.refresh(&tokens, now, &refresh(&next)).unwrap();
        assert_eq!(second.grant_id, first.grant_id);
        assert!(tokens.authenticate(Some(&header(&access)), now).is_err());
        assert_eq!(scope_text(&second.scopes), "read write");
    }

    #[test]
    fn refresh_tokens_are_refused_when_expired_revoked_unknown_or_of_another_client() {
        let now = Instant::now();
        let (oauth, tokens) = (oauth(now), AccessTokens::default());
        let later = now + DEFAULT_REFRESH_TOKEN_EXPIRES_IN;
        assert!(matches!(
            oauth.refresh(&tokens, later, &refresh("start-refresh")),
            Err(TokenError::InvalidGrant("The refresh token has expired"))
        ));
        assert!(matches!(
            oauth.refresh(&tokens, now, &refresh("nope")),
            Err(TokenError::InvalidGrant("The refresh token is invalid"))
        ));
        let other = RefreshRequest {
            client_id: "zis_two",
            client_secret: "secret-two",
            ..refresh("start-refresh")
        };
        assert!(matches!(
            oauth.refresh(&tokens, now, &other),
            Err(TokenError::InvalidGrant(
                "The refresh token was issued to another client"
            ))
        ));
        let grant = oauth.grant_of("start-refresh").unwrap();
        assert!(oauth.revoke(&tokens, grant));
        assert!(matches!(
            oauth.refresh(&tokens, now, &refresh("start-refresh")),
            Err(TokenError::InvalidGrant(
                "The refresh token has been revoked"
            ))
        ));
        assert!(!oauth.revoke(&tokens, 999));
    }

    #[test]
    fn wrong_client_credentials_come_before_anything_about_the_token() {
        let now = Instant::now();
        let (oauth, tokens) = (oauth(now), AccessTokens::default());
        let wrong = RefreshRequest {
            client_secret: "guess",
            ..refresh("nope")
        };
        assert!(matches!(
            oauth.refresh(&tokens, now, &wrong),
            Err(TokenError::InvalidClient)
        ));
        // The refused request did not spend the token.
        assert!(
            oauth
                .refresh(&tokens, now, &refresh("start-refresh"))
                .is_ok()
        );
    }

    #[test]
    fn a_narrower_scope_may_be_asked_for_a_wider_one_may_not() {
        let now = Instant::now();
        let (oauth, tokens) = (oauth(now), AccessTokens::default());
        let wider = RefreshRequest {
            scopes: Some(BTreeSet::from([Scope::Read])),
            ..refresh("start-refresh")
        };
        let issued = oauth.refresh(&tokens, now, &wider).unwrap();
        assert_eq!(scope_text(&issued.scopes), "read");
        let (next, _) = issued.refresh_token.unwrap();
        // The family keeps what the admin granted; the next refresh may ask for all of it.
        let again = oauth.refresh(&tokens, now, &refresh(&next)).unwrap();
        assert_eq!(scope_text(&again.scopes), "read write");
        let mut narrow = OAuthClientConfig::new("one", "zis_narrow", "s");
        narrow.allow_client_credentials = true;
        narrow.scopes = vec![Scope::Read];
        oauth.register(narrow);
        let request = ClientCredentialsRequest {
            client_id: "zis_narrow",
            client_secret: "s",
            scopes: Some(BTreeSet::from([Scope::Read, Scope::Write])),
            expires_in: HOUR,
        };
        assert!(matches!(
            oauth.client_credentials(&tokens, now, &request),
            Err(TokenError::InvalidScope)
        ));
    }

    #[test]
    fn client_credentials_need_the_clients_permission() {
        let now = Instant::now();
        let (oauth, tokens) = (oauth(now), AccessTokens::default());
        let mut request = ClientCredentialsRequest {
            client_id: "zis_one",
            client_secret: "secret-one",
            scopes: None,
            expires_in: HOUR,
        };
        assert!(matches!(
            oauth.client_credentials(&tokens, now, &request),
            Err(TokenError::UnauthorizedClient)
        ));
        request.client_id = "zis_two";
        request.client_secret = "secret-two";
        let issued = oauth.client_credentials(&tokens, now, &request).unwrap();
        assert!(issued.refresh_token.is_none());
        assert_eq!(issued.integration, "two");
    }

    #[test]
    fn listings_show_lifetimes_and_states_never_values() {
        let now = Instant::now();
        let (oauth, tokens) = (oauth(now), AccessTokens::default());
        let issued = oauth
            .refresh(&tokens, now, &refresh("start-refresh"))
            .unwrap();
        let views = oauth.token_views(now, None, None);
        let states: Vec<(&str, &str)> = views
            .iter()
            .map(|v| (v["kind"].as_str().unwrap(), v["state"].as_str().unwrap()))
            .collect();
        assert_eq!(
            states,
            vec![
                ("refresh_token", "used"),
                ("access_token", "active"),
                ("refresh_token", "active")
            ]
        );
        let text = serde_json::to_string(&views).unwrap();
        assert!(!text.contains("start-refresh"));
        assert!(!text.contains(&issued.access_token.unwrap().0));
        assert!(!format!("{oauth:?} {:?}", oauth.initial_clients).contains("secret-one"));
    }

    #[test]
    fn a_refresh_token_for_an_unknown_client_is_refused_at_start() {
        let error = OAuth::new(
            Vec::new(),
            vec![RefreshTokenConfig::new("zis_ghost", "r")],
            Instant::now(),
        )
        .unwrap_err();
        assert!(error.contains("zis_ghost"), "{error}");
        assert!(!error.contains("\"r\""), "{error}");
    }
}
