//! The drift watch: the remote side read like a Kubernetes reflector. Once per resync interval
//! it lists every connection of each integration in use (`GET .../connections/all`, 100 a page,
//! pages spread over most of the interval, at background priority so that urgent work always
//! goes first in the pacer) and compares them with what the
//! objects' status records. Only an object whose connection is missing or differs (another
//! domain, or an `updated_at` that is not the one recorded: someone changed it) is woken, and
//! marked to read its connection before deciding anything, since a listing can be older than
//! the operator's own writes. Objects in sync cost nothing but their share of the listing: at
//! 10,000 connections about 100 requests a resync instead of 10,000.
//!
//! This module reads the caches and the ZIS client; it writes nothing to Kubernetes.

use std::borrow::Borrow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::runtime::reflector::ObjectRef;
use tracing::{debug, info, warn};

use super::breaker::Admission;
use super::context::{Context, jitter_up_to};
use crate::resource::ZisBearerConnection;
use crate::zis::{IntegrationClient, ZisError};

type Object = ZisBearerConnection;

/// Connections in a page of `GET .../connections/all` (the client asks for the most ZIS serves).
const PAGE_SIZE: usize = 100;

/// One bearer-token connection as a listing shows it (never its token): digests of its domain
/// and update time, since all a listing is asked is whether they equal what a status records,
/// and it holds every connection of an integration for most of a resync interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    allowed_domain: u64,
    /// `None` when the listing does not carry it.
    updated_at: Option<u64>,
}

impl Listed {
    pub fn new(allowed_domain: &str, updated_at: Option<&str>) -> Self {
        Self {
            allowed_domain: digest(allowed_domain),
            updated_at: updated_at.map(digest),
        }
    }

    fn domain_differs(&self, recorded: &str) -> bool {
        self.allowed_domain != digest(recorded)
    }

    /// Whether it was updated at another time than `recorded` says (unknown: no).
    fn updated_otherwise(&self, recorded: Option<&str>) -> bool {
        self.updated_at
            .is_some_and(|at| recorded.map(digest) != Some(at))
    }
}

fn digest(text: &str) -> u64 {
    crate::digest::of(&text)
}

/// Why an object is woken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    /// Its connection is not in the listing.
    Missing,
    /// Its connection has another domain, or was updated by someone else.
    Changed,
    /// The listing was refused: it cannot be told.
    Unchecked,
}

/// Runs the drift watch until the process ends: one pass per resync interval.
pub async fn watch(ctx: Arc<Context>) {
    let resync = ctx.settings.resync;
    // Pages of each integration in its last pass: the next pass spreads as many over the interval.
    let mut pages: HashMap<String, usize> = HashMap::new();
    // The first pass comes within the first interval, not at once: a start is quiet, the status
    // is trusted meanwhile, and replicas started together do not list together.
    tokio::time::sleep(resync / 2 + jitter_up_to(resync / 2)).await;
    loop {
        let started = tokio::time::Instant::now();
        pass(&ctx, &mut pages).await;
        // Never sooner than one interval after the last pass began: any span of one interval
        // then holds at most one pass's pages.
        let next = started + resync + jitter_up_to(resync / 10);
        tokio::time::sleep_until(next).await;
    }
}

/// One pass over every integration that objects record connections of.
async fn pass(ctx: &Context, pages: &mut HashMap<String, usize>) {
    let pass_started = Utc::now();
    // Suspended objects make no remote calls, and nobody lists on their behalf.
    let mut recorded: BTreeMap<String, usize> = BTreeMap::new();
    for cached in ctx.store.state() {
        if let Some(integration) = cached.listed_under() {
            *recorded.entry(integration.to_owned()).or_default() += 1;
        }
    }
    // Every page of the pass gets the same slice of the interval (most of it: the pass must end
    // before the next begins). Before an integration's first listing its pages are estimated
    // from the connections recorded (a page holds 100); after it, the last count is known.
    let expected = expected_pages(&recorded, pages);
    let integrations: BTreeSet<String> = recorded.into_keys().collect();
    let spacing = page_spacing(ctx.settings.resync, expected);
    for integration in integrations {
        let epoch = ctx.access.epoch();
        if let Admission::Wait { .. } = ctx.breakers.admit(&integration, epoch) {
            debug!(%integration, "credentials refused; not listing");
            continue;
        }
        let tokens = ctx.access.token_generation();
        let Ok(client) = ctx.access.client(&integration) else {
            continue;
        };
        let listing = list(&client, spacing).await;
        // Decoded one at a time, and only the integration's own.
        let cached = ctx.store.state();
        let objects = cached
            .iter()
            .filter(|cached| cached.listed_under() == Some(integration.as_str()))
            .map(|cached| cached.object());
        let woken = match listing {
            Ok((listed, count)) => {
                pages.insert(integration.clone(), count);
                suspects(objects, &integration, &listed, pass_started)
            }
            // A token replaced meanwhile may be why (Zendesk deletes the old one as soon as it
            // issues the next): the next pass lists with the new one.
            Err(ZisError::Unauthorized | ZisError::Forbidden { .. })
                if ctx.access.token_replaced_since(tokens).await =>
            {
                debug!(%integration, "listing refused while the access token was replaced");
                continue;
            }
            // The credentials are refused: every connection of the integration looks for itself,
            // so that the first refusal trips the integration's breaker and all say why.
            Err(error @ (ZisError::Unauthorized | ZisError::Forbidden { .. })) => {
                warn!(%integration, %error, "listing the connections was refused");
                recorded_in(objects, &integration)
            }
            Err(error) => {
                warn!(%integration, %error, "listing the connections failed; the next pass tries again");
                continue;
            }
        };
        if !woken.is_empty() {
            info!(%integration, woken = woken.len(), "connections differ from the status; checking them");
        }
        for (key, why) in woken {
            debug!(%key, ?why, "drift suspected");
            ctx.look_next_time(&key);
            // A closed channel means the controller is shutting down.
            let _ = ctx.peers.unbounded_send(key);
        }
    }
}

/// Every bearer-token connection of the integration, page by page (background priority: urgent
/// work goes first), `spacing` apart; and how many pages it took.
async fn list(
    client: &IntegrationClient,
    spacing: Duration,
) -> Result<(HashMap<String, Listed>, usize), ZisError> {
    let mut listed = HashMap::new();
    let mut seen_cursors = HashSet::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        if pages > 0 {
            tokio::time::sleep(spacing).await;
        }
        let page = client.list_bearer_page(cursor.as_deref()).await?;
        pages += 1;
        for connection in page.connections {
            let entry = Listed::new(&connection.allowed_domain, Some(&connection.updated_at));
            listed.insert(connection.name, entry);
        }
        match page.next_cursor {
            Some(next) if seen_cursors.insert(next.clone()) => cursor = Some(next),
            Some(_) => {
                return Err(ZisError::Transient {
                    reason: "zis repeated a list cursor".to_owned(),
                });
            }
            None => return Ok((listed, pages)),
        }
    }
}

/// How many pages a pass will list: per integration, the pages of its last listing, but at
/// least enough for the connections objects record (`recorded`, by integration).
pub fn expected_pages(recorded: &BTreeMap<String, usize>, last: &HashMap<String, usize>) -> usize {
    recorded
        .iter()
        .map(|(integration, count)| {
            let estimate = count.div_ceil(PAGE_SIZE).max(1);
            last.get(integration).copied().unwrap_or(0).max(estimate)
        })
        .sum()
}

/// How long to wait between two pages so that `pages` pages spread over most of `interval`.
pub fn page_spacing(interval: Duration, pages: usize) -> Duration {
    let pages = u32::try_from(pages.max(1)).unwrap_or(u32::MAX);
    (interval * 7 / 10) / pages
}

/// Every object (not suspended, not being deleted) that records a connection of `integration`.
fn recorded_in(
    objects: impl IntoIterator<Item = impl Borrow<Object>>,
    integration: &str,
) -> Vec<(ObjectRef<Object>, Drift)> {
    objects
        .into_iter()
        .filter(|object| {
            let object: &Object = object.borrow();
            let recorded = object
                .status
                .as_ref()
                .and_then(|status| status.remote.as_ref())
                .is_some_and(|remote| remote.integration == integration);
            recorded && !object.spec.suspend && object.metadata.deletion_timestamp.is_none()
        })
        .map(|object| (super::index::key_of(object.borrow()), Drift::Unchecked))
        .collect()
}

/// The objects of `integration` whose recorded connection is missing from `listed` or differs
/// from it. Objects synced after `pass_started` are left out: the listing may predate them.
pub fn suspects(
    objects: impl IntoIterator<Item = impl Borrow<Object>>,
    integration: &str,
    listed: &HashMap<String, Listed>,
    pass_started: DateTime<Utc>,
) -> Vec<(ObjectRef<Object>, Drift)> {
    let mut woken = Vec::new();
    for object in objects {
        let object: &Object = object.borrow();
        let Some(status) = object.status.as_ref() else {
            continue;
        };
        let Some(remote) = status.remote.as_ref() else {
            continue;
        };
        if remote.integration != integration
            || object.spec.suspend
            || object.metadata.deletion_timestamp.is_some()
        {
            continue;
        }
        let recent = status
            .last_sync_time
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .is_some_and(|t| t >= pass_started);
        if recent {
            continue;
        }
        let drift = match listed.get(&remote.connection_name) {
            None => Some(Drift::Missing),
            Some(found) => {
                let domain_differs = found.domain_differs(&remote.allowed_domain);
                let touched = found.updated_otherwise(status.updated_at.as_deref());
                (domain_differs || touched).then_some(Drift::Changed)
            }
        };
        if let Some(drift) = drift {
            woken.push((super::index::key_of(object), drift));
        }
    }
    woken
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::{
        RemoteConnection, TokenSecretRef, ZisBearerConnectionSpec, ZisBearerConnectionStatus,
    };

    #[test]
    fn a_first_pass_spreads_the_pages_the_recorded_connections_need() {
        let recorded = BTreeMap::from([("big".to_owned(), 1000), ("small".to_owned(), 3)]);
        // Before any listing: 10 pages for 1,000 connections, 1 for 3.
        assert_eq!(expected_pages(&recorded, &HashMap::new()), 11);
        // A listing that took more pages (connections nobody records) is remembered.
        let last = HashMap::from([("big".to_owned(), 14), ("small".to_owned(), 1)]);
        assert_eq!(expected_pages(&recorded, &last), 15);
        // At a 60 s resync, 11 pages are 3.8 s apart: the pass ends within the interval.
        let spacing = page_spacing(Duration::from_secs(60), 11);
        assert!(spacing * 11 < Duration::from_secs(60), "{spacing:?}");
    }

    fn object(name: &str, domain: &str, updated_at: &str, synced_at: &str) -> Object {
        let mut object = Object::new(
            name,
            ZisBearerConnectionSpec {
                integration: "int".into(),
                connection_name: None,
                allowed_domain: domain.into(),
                token_secret_ref: TokenSecretRef {
                    name: "tok".into(),
                    key: "token".into(),
                },
                deletion_policy: Default::default(),
                adoption_policy: Default::default(),
                suspend: false,
            },
        );
        object.metadata.namespace = Some("ns".into());
        object.status = Some(ZisBearerConnectionStatus {
            remote: Some(RemoteConnection {
                integration: "int".into(),
                connection_name: name.into(),
                allowed_domain: domain.into(),
            }),
            updated_at: Some(updated_at.into()),
            last_sync_time: Some(synced_at.into()),
            ..Default::default()
        });
        object
    }

    fn listed(domain: &str, updated_at: Option<&str>) -> Listed {
        Listed::new(domain, updated_at)
    }

    #[test]
    fn only_connections_missing_or_changed_remotely_wake_their_object() {
        let before = "2026-01-01T00:00:00Z";
        let objects = [
            object("same", "a.example.com", "u1", before),
            object("gone", "a.example.com", "u1", before),
            object("moved", "a.example.com", "u1", before),
            object("touched", "a.example.com", "u1", before),
            object("fresh", "a.example.com", "u1", "2026-01-01T00:10:00Z"),
        ];
        let listing: HashMap<String, Listed> = [
            ("same".to_owned(), listed("a.example.com", Some("u1"))),
            ("moved".to_owned(), listed("b.example.com", Some("u1"))),
            ("touched".to_owned(), listed("a.example.com", Some("u2"))),
            ("unrelated".to_owned(), listed("x.example.com", Some("u9"))),
        ]
        .into();
        let started = "2026-01-01T00:05:00Z".parse().expect("time");
        let mut woken: Vec<(String, Drift)> = suspects(objects.iter(), "int", &listing, started)
            .into_iter()
            .map(|(key, why)| (key.name, why))
            .collect();
        woken.sort_by(|a, b| a.0.cmp(&b.0));
        assert_eq!(
            woken,
            [
                ("gone".to_owned(), Drift::Missing),
                ("moved".to_owned(), Drift::Changed),
                ("touched".to_owned(), Drift::Changed),
            ],
            "a connection synced after the listing began is left for the next pass"
        );
        assert!(suspects(objects.iter(), "other", &listing, started).is_empty());
    }
}
