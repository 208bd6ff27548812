//! Everything one running fake holds, shared by all connections to it, and how it is reset.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};

use super::auth::{AccessTokens, Grant};
use super::clock::Clock;
use super::counters::Counters;
use super::faults::Faults;
use super::oauth::OAuth;
use super::rate_limit::RateLimiter;
use super::settings::Settings;
use super::store::Store;

/// The shared state of a running fake.
#[derive(Debug)]
pub struct State {
    pub store: Store,
    pub tokens: AccessTokens,
    pub rate: RateLimiter,
    pub faults: Faults,
    pub counters: Counters,
    pub oauth: OAuth,
    /// The clock token lifetimes are measured on.
    pub clock: Clock,
    settings: RwLock<Settings>,
    initial: Initial,
}

/// What `POST /_fake/reset` goes back to.
struct Initial {
    settings: Settings,
    integrations: Vec<String>,
    grants: HashMap<String, Grant>,
}

// The initial grants are keyed by access token: never print them.
impl std::fmt::Debug for Initial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initial")
            .field("settings", &self.settings)
            .field("integrations", &self.integrations)
            .finish_non_exhaustive()
    }
}

impl State {
    pub fn new(
        settings: Settings,
        integrations: Vec<String>,
        grants: HashMap<String, Grant>,
        oauth: OAuth,
    ) -> State {
        let store = Store::default();
        store.reset(&integrations);
        let tokens = AccessTokens::default();
        tokens.replace_all(grants.clone());
        State {
            store,
            tokens,
            rate: RateLimiter::default(),
            faults: Faults::default(),
            counters: Counters::default(),
            oauth,
            clock: Clock::default(),
            settings: RwLock::new(settings.clone()),
            initial: Initial {
                settings,
                integrations,
                grants,
            },
        }
    }

    /// The current switches (a cheap copy).
    pub fn settings(&self) -> Settings {
        self.settings
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub fn set_settings(&self, settings: Settings) {
        let mut current = self
            .settings
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if current.other_apps_per_minute != settings.other_apps_per_minute {
            // Under the settings lock, so the other apps' past is played at the pace it had.
            self.rate.set_other_apps(
                settings.other_apps_per_minute,
                current.rate_limit_per_minute,
                std::time::Instant::now(),
            );
        }
        *current = settings;
    }

    /// Back to the state at start: no connections, the starting integrations, access tokens,
    /// OAuth clients, refresh tokens and settings, the token clock at real time, zero counters,
    /// no faults, an empty rate-limit window.
    pub fn reset(&self) {
        self.store.reset(&self.initial.integrations);
        self.clock.reset();
        self.tokens.replace_all(self.initial.grants.clone());
        self.oauth.reset(self.clock.now());
        self.set_settings(self.initial.settings.clone());
        self.counters.reset();
        self.faults.clear();
        // Also stops the other apps: a fake starts without them.
        self.rate.reset();
    }
}
