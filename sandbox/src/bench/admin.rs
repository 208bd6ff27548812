//! The local ZIS's admin API (`/_fake/`, see `sandbox/README-zis-admin.md`) as the benchmark
//! reads it: request counters, one connection's true token, what is left of an integration.
//! Admin calls are not counted, rate limited or delayed, so reading them changes nothing that
//! is measured.

use serde::Deserialize;
use serde_json::Value;

use super::BenchError;
use super::report::ZisRequests;

#[derive(Deserialize)]
struct Counters {
    requests: Vec<CounterLine>,
}

#[derive(Deserialize)]
struct CounterLine {
    method: String,
    endpoint: String,
    status: u16,
    count: u64,
}

#[derive(Clone)]
pub(super) struct Admin {
    http: reqwest::Client,
    base: String,
    integration: String,
}

impl Admin {
    pub fn new(http: reqwest::Client, zis_url: &str, integration: &str) -> Admin {
        Admin {
            http,
            base: format!("{zis_url}/_fake"),
            integration: integration.to_owned(),
        }
    }

    /// Every API request answered so far, by kind.
    pub async fn requests(&self) -> Result<ZisRequests, BenchError> {
        let counters: Counters = self
            .http
            .get(format!("{}/requests", self.base))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let mut requests = ZisRequests::default();
        for line in counters.requests {
            requests.add(&line.method, &line.endpoint, line.status, line.count);
        }
        Ok(requests)
    }

    /// Whether the bearer connection `name` holds exactly `token` (compared here, never shown).
    pub async fn holds_token(&self, name: &str, token: &str) -> Result<bool, BenchError> {
        let answer = self
            .http
            .get(format!(
                "{}/connections/{}/bearer_token/{name}",
                self.base, self.integration
            ))
            .send()
            .await?;
        if answer.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(false);
        }
        let entry: Value = answer.error_for_status()?.json().await?;
        Ok(entry["token"].as_str() == Some(token))
    }

    /// How many bearer connections the integration still has.
    pub async fn bearer_connections(&self) -> Result<usize, BenchError> {
        let body: Value = self
            .http
            .get(format!("{}/connections", self.base))
            .query(&[
                ("integration", self.integration.as_str()),
                ("type", "bearer_token"),
            ])
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        Ok(body["connections"].as_array().map_or(0, Vec::len))
    }
}
