//! Leader election on a `coordination.k8s.io/v1` Lease, so that several replicas can run and
//! exactly one reconciles.
//!
//! The algorithm is client-go's: a replica takes the Lease when it is free or when its holder has
//! not renewed it for `lease_duration` (measured on this replica's own clock, from when it saw the
//! record change, so clocks need not agree), and the leader renews it every `retry_period`.
//! Every write is conditional on the Lease's `resourceVersion`, so two replicas can never both
//! believe they took it.
//!
//! Fencing: a leader may act only until `renew_deadline` after the start of its last successful
//! renewal ([`Leadership::is_leader`]), which is earlier than any other replica may take over
//! (`lease_duration` after it saw that renewal). Remote writes check it just before they go out;
//! once it lapses the process stops reconciling at once.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{ObjectMeta, PostParams};
use tracing::{debug, info, warn};

/// Timing of the election (client-go's defaults).
#[derive(Debug, Clone)]
pub struct Timing {
    /// How long a Lease not renewed stays its holder's.
    pub lease_duration: Duration,
    /// How long after the start of its last successful renewal a leader may still act.
    pub renew_deadline: Duration,
    /// How often the leader renews and the others try.
    pub retry_period: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Whether this replica may act as the leader, shared with everything that writes.
#[derive(Debug)]
pub struct Leadership {
    /// Until when this replica may act; `None` while it does not lead. Without election the
    /// deadline never comes.
    valid_until: Mutex<Option<Deadline>>,
}

#[derive(Debug, Clone, Copy)]
enum Deadline {
    At(Instant),
    Never,
}

impl Leadership {
    /// A replica that does not lead (yet).
    pub fn follower() -> Self {
        Self {
            valid_until: Mutex::new(None),
        }
    }

    /// Leader election turned off: this process always leads.
    pub fn unconditional() -> Self {
        Self {
            valid_until: Mutex::new(Some(Deadline::Never)),
        }
    }

    /// Whether this replica may write now.
    pub fn is_leader(&self) -> bool {
        match *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(Deadline::Never) => true,
            Some(Deadline::At(until)) => Instant::now() < until,
            None => false,
        }
    }

    fn extend_to(&self, until: Instant) {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = Some(Deadline::At(until));
    }

    fn resign(&self) {
        *self.valid_until.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

/// One replica's candidacy for one Lease.
pub struct Candidate {
    api: Api<Lease>,
    name: String,
    identity: String,
    timing: Timing,
    /// The holder and renew time last seen, and when (this replica's clock) they were first seen.
    observed: Option<(Option<String>, Option<MicroTime>, Instant)>,
}

/// Why a write of the Lease did not make this replica the holder.
#[derive(Debug, thiserror::Error)]
pub enum ElectionError {
    #[error("the lease is held by {0}")]
    HeldBy(String),
    #[error("kubernetes api call on the lease failed: {0}")]
    Kube(#[from] kube::Error),
}

impl Candidate {
    pub fn new(api: Api<Lease>, name: &str, identity: &str, timing: Timing) -> Self {
        Self {
            api,
            name: name.to_owned(),
            identity: identity.to_owned(),
            timing,
            observed: None,
        }
    }

    pub fn identity(&self) -> &str {
        &self.identity
    }

    /// Waits until this replica holds the Lease, then makes `leadership` say so.
    pub async fn acquire(&mut self, leadership: &Leadership) {
        loop {
            let started = Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(()) => {
                    leadership.extend_to(started + self.timing.renew_deadline);
                    info!(lease = %self.name, identity = %self.identity, "became the leader");
                    return;
                }
                Err(ElectionError::HeldBy(holder)) => {
                    debug!(lease = %self.name, %holder, "another replica leads; standing by");
                }
                Err(error) => warn!(lease = %self.name, %error, "cannot take the lease; retrying"),
            }
            tokio::time::sleep(self.jittered_retry()).await;
        }
    }

    /// Renews the Lease every retry period; returns once leadership is lost (the renew deadline
    /// passed without a successful renewal, or another replica holds it).
    pub async fn hold(&mut self, leadership: &Leadership) {
        loop {
            tokio::time::sleep(self.timing.retry_period).await;
            let started = Instant::now();
            match self.try_acquire_or_renew().await {
                Ok(()) => leadership.extend_to(started + self.timing.renew_deadline),
                Err(ElectionError::HeldBy(holder)) => {
                    leadership.resign();
                    warn!(lease = %self.name, %holder, "another replica took the lease");
                    return;
                }
                Err(error) => {
                    warn!(lease = %self.name, %error, "cannot renew the lease");
                    if !leadership.is_leader() {
                        leadership.resign();
                        return;
                    }
                }
            }
        }
    }

    /// Gives the Lease up so that another replica can take it at once (at shutdown).
    pub async fn release(&mut self, leadership: &Leadership) {
        leadership.resign();
        let Ok(Some(mut lease)) = self.api.get_opt(&self.name).await else {
            return;
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        if spec.holder_identity.as_deref() != Some(&self.identity) {
            return;
        }
        spec.holder_identity = None;
        spec.lease_duration_seconds = Some(1);
        spec.renew_time = Some(MicroTime(Timestamp::now()));
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => info!(lease = %self.name, "released the lease"),
            Err(error) => warn!(lease = %self.name, %error, "could not release the lease"),
        }
    }

    fn jittered_retry(&self) -> Duration {
        let period = self.timing.retry_period;
        period + super::controller::context::jitter_up_to(period / 5)
    }

    async fn try_acquire_or_renew(&mut self) -> Result<(), ElectionError> {
        let now = MicroTime(Timestamp::now());
        let duration_seconds = i32::try_from(self.timing.lease_duration.as_secs()).unwrap_or(15);
        let Some(mut lease) = self.api.get_opt(&self.name).await? else {
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.name.clone()),
                    ..Default::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(self.identity.clone()),
                    lease_duration_seconds: Some(duration_seconds),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..Default::default()
                }),
            };
            self.api.create(&PostParams::default(), &lease).await?;
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(Default::default);
        let holder = spec.holder_identity.clone().filter(|h| !h.is_empty());
        let ours = holder.as_deref() == Some(&self.identity);
        if !ours {
            if let Some(holder) = holder.clone()
                && !self.expired(
                    &holder,
                    spec.renew_time.clone(),
                    spec.lease_duration_seconds,
                )
            {
                return Err(ElectionError::HeldBy(holder));
            }
            spec.holder_identity = Some(self.identity.clone());
            spec.acquire_time = Some(now.clone());
            spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
        }
        spec.lease_duration_seconds = Some(duration_seconds);
        spec.renew_time = Some(now);
        // Conditional on the resourceVersion just read: a replica that raced us gets a 409.
        match self
            .api
            .replace(&self.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 => Err(ElectionError::HeldBy(
                holder.unwrap_or_else(|| "a replica that was faster".to_owned()),
            )),
            Err(error) => Err(error.into()),
        }
    }

    /// Whether `holder`'s claim has lapsed: its record has not changed for its lease duration,
    /// on this replica's clock.
    fn expired(
        &mut self,
        holder: &str,
        renew_time: Option<MicroTime>,
        duration_seconds: Option<i32>,
    ) -> bool {
        let record = (Some(holder.to_owned()), renew_time);
        let now = Instant::now();
        let since = match &self.observed {
            Some((h, r, at)) if (h, r) == (&record.0, &record.1) => *at,
            _ => {
                self.observed = Some((record.0, record.1, now));
                now
            }
        };
        let duration = duration_seconds
            .and_then(|s| u64::try_from(s).ok())
            .map(Duration::from_secs)
            .unwrap_or(self.timing.lease_duration);
        now.duration_since(since) > duration
    }
}
