//! Access tokens being replaced. Zendesk deletes an access token the moment it issues the next
//! one, so from the start of a renewal until the new token is served, calls made with the old
//! token are refused (401). Such a refusal says nothing about the credentials: the calls are
//! worth making once more with the new token, and must not trip the integration's breaker. This
//! tracks the renewals in flight and counts token changes, so that a reconcile can tell whether
//! the token it used was replaced while its calls ran. No I/O here.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

#[derive(Debug, Default)]
pub struct TokenChanges {
    /// Bumped when a renewal starts, when it ends, and when a new token is served.
    generation: AtomicU64,
    /// The integrations whose token is being renewed.
    in_flight: Mutex<HashSet<String>>,
    /// The integrations whose token ZIS refused since they were last given a new one.
    refused: Mutex<HashSet<String>>,
    /// Woken whenever a renewal ends.
    ended: Notify,
}

impl TokenChanges {
    pub fn new() -> Self {
        Self::default()
    }

    /// Changes whenever a token may have been replaced.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A renewal of `integration`'s token starts: its current token may stop working any moment.
    pub fn renewal_started(&self, integration: &str) {
        lock(&self.in_flight).insert(integration.to_owned());
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// `integration` is served anew (the outcome of a renewal, a changed Secret, a changed spec):
    /// any renewal in flight is over. Returns whether its old token had been refused while
    /// `new_token` replaces it: then what waits for new credentials should go again at once.
    pub fn served(&self, integration: &str, new_token: bool) -> bool {
        let ended = lock(&self.in_flight).remove(integration);
        if ended || new_token {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        if ended {
            self.ended.notify_waiters();
        }
        new_token && lock(&self.refused).remove(integration)
    }

    /// ZIS refused `integration`'s current token.
    pub fn refused(&self, integration: &str) {
        lock(&self.refused).insert(integration.to_owned());
    }

    /// Waits until no renewal is in flight, or `patience` is over.
    pub async fn renewals_settled(&self, patience: Duration) {
        let deadline = Instant::now() + patience;
        loop {
            // Registered before looking, so that an end between the look and the wait counts.
            let ended = self.ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if lock(&self.in_flight).is_empty() {
                return;
            }
            if tokio::time::timeout_at(deadline, ended).await.is_err() {
                return;
            }
        }
    }
}

/// A poisoned lock only means another thread panicked while changing a plain set.
fn lock(set: &Mutex<HashSet<String>>) -> std::sync::MutexGuard<'_, HashSet<String>> {
    set.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_renewal_moves_the_generation_when_it_starts_and_when_it_ends() {
        let changes = TokenChanges::new();
        let before = changes.generation();
        changes.renewal_started("app");
        let during = changes.generation();
        assert_ne!(
            during, before,
            "a call made before the start may use the old token"
        );
        changes.served("app", false);
        assert_ne!(
            changes.generation(),
            during,
            "the renewal's outcome is served"
        );
        let after = changes.generation();
        changes.served("app", false);
        assert_eq!(
            changes.generation(),
            after,
            "no renewal in flight, no new token"
        );
        changes.served("app", true);
        assert_ne!(changes.generation(), after, "a new token without a renewal");
    }

    #[test]
    fn a_refusal_is_told_once_and_only_with_a_new_token() {
        let changes = TokenChanges::new();
        assert!(!changes.served("app", true));
        changes.refused("app");
        assert!(!changes.served("other", true));
        assert!(
            !changes.served("app", false),
            "the same token: still refused"
        );
        assert!(changes.served("app", true));
        assert!(!changes.served("app", true), "forgotten once told");
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_ends_when_the_renewals_end() {
        let changes = std::sync::Arc::new(TokenChanges::new());
        changes.renewal_started("a");
        changes.renewal_started("b");
        let ender = changes.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            ender.served("a", true);
            tokio::time::sleep(Duration::from_millis(100)).await;
            ender.served("b", true);
        });
        let started = Instant::now();
        changes.renewals_settled(Duration::from_secs(10)).await;
        assert_eq!(started.elapsed(), Duration::from_millis(200));
    }

    #[tokio::test(start_paused = true)]
    async fn waiting_for_a_renewal_that_never_ends_stops_at_the_patience() {
        let changes = TokenChanges::new();
        changes.renewal_started("a");
        let started = Instant::now();
        changes.renewals_settled(Duration::from_secs(3)).await;
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        let idle = TokenChanges::new();
        let started = Instant::now();
        idle.renewals_settled(Duration::from_secs(3)).await;
        assert_eq!(
            started.elapsed(),
            Duration::ZERO,
            "nothing in flight: no wait"
        );
    }
}
