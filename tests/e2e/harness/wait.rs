//! Waiting, with deadlines, for what should follow an action: every wait polls every 100 ms and,
//! on timeout, panics with what was expected, the last observation and the state of the world
//! (every object's spec and status, the fake's connections and counters, the operator's log tail).

use std::time::{Duration, Instant};

use kube::api::ListParams;
use serde_json::Value;

use super::cluster::cluster;
use super::env::{CONVERGE, EventInfo, TestEnv, to_value};
use super::status::check_condition;

const POLL: Duration = Duration::from_millis(100);

impl TestEnv {
    /// Polls `probe` every 100 ms until it returns `Ok`, or panics after `timeout` with `what`,
    /// the last observation (`Err` text) and the state of the world.
    pub async fn eventually<T>(
        &mut self,
        what: &str,
        timeout: Duration,
        mut probe: impl AsyncFnMut(&TestEnv) -> Result<T, String>,
    ) -> T {
        let started = Instant::now();
        loop {
            let last = match probe(self).await {
                Ok(value) => return value,
                Err(observation) => observation,
            };
            if started.elapsed() > timeout {
                let context = self.context().await;
                panic!(
                    "timed out after {:.1}s waiting for: {what}\nlast observation: {last}\n{context}",
                    timeout.as_secs_f64()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `probe` for `duration` and panics as soon as it fails: a property that must hold.
    pub async fn holds(
        &mut self,
        what: &str,
        duration: Duration,
        mut probe: impl AsyncFnMut(&TestEnv) -> Result<(), String>,
    ) {
        let started = Instant::now();
        while started.elapsed() < duration {
            if let Err(observation) = probe(self).await {
                let context = self.context().await;
                panic!(
                    "stopped holding after {:.1}s: {what}\nobservation: {observation}\n{context}",
                    started.elapsed().as_secs_f64()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Panics with `message` and the state of the world.
    pub async fn fail(&mut self, message: &str) -> ! {
        let context = self.context().await;
        panic!("{message}\n{context}");
    }

    /// Waits until `name` is Ready=True reason Synced for its current generation.
    pub async fn wait_ready(&mut self, name: &str) -> Value {
        self.wait_condition(name, "Ready", "True", "Synced").await
    }

    /// Waits until condition `type_` of `name` has `status` and `reason`, set for the object's
    /// current generation, and returns the object.
    pub async fn wait_condition(
        &mut self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
    ) -> Value {
        self.wait_condition_within(name, type_, status, reason, CONVERGE)
            .await
    }

    pub async fn wait_condition_within(
        &mut self,
        name: &str,
        type_: &str,
        status: &str,
        reason: &str,
        timeout: Duration,
    ) -> Value {
        let what =
            format!("{name}: condition {type_}={status} reason {reason} (current generation)");
        self.eventually(&what, timeout, async |env| {
            let object = env.get(name).await.ok_or("the object does not exist")?;
            check_condition(&object, type_, status, reason)?;
            Ok(object)
        })
        .await
    }

    /// Waits until the object is gone from the API.
    pub async fn wait_gone(&mut self, name: &str) {
        self.eventually(
            &format!("{name} to be gone"),
            CONVERGE,
            async |env| match env.get(name).await {
                None => Ok(()),
                Some(object) => Err(format!(
                    "still there: finalizers {}, deletionTimestamp {}",
                    object["metadata"]["finalizers"], object["metadata"]["deletionTimestamp"]
                )),
            },
        )
        .await
    }

    /// Waits for an event with `reason` about `name`.
    pub async fn wait_event(&mut self, name: &str, reason: &str) -> EventInfo {
        self.wait_event_where(name, &format!("reason {reason}"), |event| {
            event.reason == reason
        })
        .await
    }

    /// Waits for an event about `name` that satisfies `matches` (described by `what`).
    pub async fn wait_event_where(
        &mut self,
        name: &str,
        what: &str,
        matches: impl Fn(&EventInfo) -> bool,
    ) -> EventInfo {
        self.eventually(
            &format!("an event with {what} about {name}"),
            CONVERGE,
            async |env| {
                let events = env.events(name).await?;
                events
                    .iter()
                    .find(|event| matches(event))
                    .cloned()
                    .ok_or_else(|| format!("events so far: {events:?}"))
            },
        )
        .await
    }

    /// Waits until the remote bearer connection `name` satisfies `check`.
    pub async fn wait_remote(
        &mut self,
        what: &str,
        name: &str,
        timeout: Duration,
        check: impl Fn(&Value) -> Result<(), String>,
    ) -> Value {
        self.eventually(what, timeout, async |env| {
            let remote = env
                .remote(name)
                .await
                .ok_or_else(|| format!("no bearer_token connection {name} remotely"))?;
            check(&remote).map(|()| remote)
        })
        .await
    }

    /// Waits until no bearer connection `name` exists remotely.
    pub async fn wait_remote_gone(&mut self, name: &str, timeout: Duration) {
        let what = format!("the remote connection {name} to be gone");
        self.eventually(&what, timeout, async |env| match env.remote(name).await {
            None => Ok(()),
            Some(remote) => Err(format!("still there: {remote}")),
        })
        .await
    }

    /// The state of the world, for failure messages.
    pub async fn context(&mut self) -> String {
        let mut out = String::new();
        let kind = if cluster().real {
            "real cluster"
        } else {
            "sandbox"
        };
        out.push_str(&format!("namespace: {} ({kind})\n", self.ns));
        match self.objects.list(&ListParams::default()).await {
            Ok(list) => {
                for object in list.items {
                    let value = to_value(&object);
                    out.push_str(&format!(
                        "object {} generation {} finalizers {} deletionTimestamp {} spec {} status {}\n",
                        value["metadata"]["name"],
                        value["metadata"]["generation"],
                        value["metadata"]["finalizers"],
                        value["metadata"]["deletionTimestamp"],
                        value["spec"],
                        value["status"],
                    ));
                }
            }
            Err(error) => out.push_str(&format!("cannot list objects: {error}\n")),
        }
        if self.fake.is_some() {
            out.push_str(&format!(
                "remote connections: {}\n",
                Value::Array(self.admin.connections().await)
            ));
            let requests = self.admin.requests().await;
            out.push_str(&format!(
                "requests to the fake (total {}): {:?}\n",
                requests.total, requests.rows
            ));
        }
        out.push_str(&self.log_tail());
        out
    }
}
