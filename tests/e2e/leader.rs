//! Several replicas: exactly one leads (a Lease), another takes over when it dies or stops, and a
//! replica that loses the Lease stops writing at once.

use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::Api;
use kube::api::{Patch, PatchParams};
use serde_json::json;

use super::harness::env::TestEnv;
use super::harness::operator::{LEASE_NAMESPACE, OperatorProcess};
use super::harness::{Setup, random_token};

/// Lease duration (15 s) plus the retry period and slack.
const TAKEOVER: Duration = Duration::from_secs(25);

async fn wait_log(env: &mut TestEnv, replica: &OperatorProcess, what: &str, timeout: Duration) {
    let wanted = what.to_owned();
    let log_path = replica.log_path.clone();
    env.eventually(&format!("a replica to log {what:?}"), timeout, async |_| {
        let log = super::harness::operator::read_log(&log_path);
        log.contains(&wanted)
            .then_some(())
            .ok_or_else(|| "not yet".to_owned())
    })
    .await;
}

async fn readyz(replica: &OperatorProcess) -> (u16, String) {
    let addr = replica
        .metrics_addr()
        .unwrap_or_else(|| panic!("no metrics address in the log"));
    let answer = reqwest::get(format!("http://{addr}/readyz"))
        .await
        .unwrap_or_else(|e| panic!("GET /readyz: {e}"));
    let status = answer.status().as_u16();
    (status, answer.text().await.unwrap_or_default())
}

/// `/readyz` once it answers 200, or its last answer after `limit`.
async fn readyz_within(replica: &OperatorProcess, limit: Duration) -> (u16, String) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let answer = readyz(replica).await;
        if answer.0 == 200 || tokio::time::Instant::now() >= deadline {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn leader_and_standby(env: &mut TestEnv) -> (OperatorProcess, OperatorProcess) {
    let leader = env.spawn_replica("a");
    wait_log(env, &leader, "became the leader", Duration::from_secs(20)).await;
    let standby = env.spawn_replica("b");
    wait_log(
        env,
        &standby,
        "waiting to become the leader",
        Duration::from_secs(20),
    )
    .await;
    (leader, standby)
}

#[tokio::test]
async fn two_replicas_elect_one_leader_and_the_standby_takes_over_when_it_dies() {
    let Some(mut env) = Setup::new("leader-dies").without_operator().start().await else {
        return;
    };
    let (mut leader, standby) = leader_and_standby(&mut env).await;
    let (status, body) = readyz(&standby).await;
    assert_eq!(
        status, 200,
        "a standby replica is ready to take over: {body}"
    );
    assert!(body.contains("standby"), "{body}");
    env.put_token("first-token", &random_token("conn-token"))
        .await;
    env.create_ok("first", env.spec("first-token")).await;
    env.wait_ready("first").await;
    assert!(
        !standby.log().contains("became the leader"),
        "two leaders:\n{}",
        standby.log()
    );

    leader.kill();
    env.put_token("second-token", &random_token("conn-token"))
        .await;
    env.create_ok("second", env.spec("second-token")).await;
    wait_log(&mut env, &standby, "became the leader", TAKEOVER).await;
    env.wait_ready("second").await;
    // Readiness waits for every watch's first list; the object watch alone may already have
    // brought "second" to Ready.
    let (status, body) = readyz_within(&standby, Duration::from_secs(10)).await;
    assert_eq!((status, body.trim()), (200, "ok: leader"));
}

#[tokio::test]
async fn sigterm_releases_the_lease_so_the_standby_takes_over_at_once() {
    let Some(mut env) = Setup::new("leader-sigterm")
        .without_operator()
        .start()
        .await
    else {
        return;
    };
    let (mut leader, standby) = leader_and_standby(&mut env).await;
    leader.terminate();
    let status = leader
        .wait_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running 10 s after SIGTERM:\n{}", leader.log()));
    assert!(status.success(), "exit status {status}:\n{}", leader.log());
    assert!(
        leader.log().contains("released the lease"),
        "{}",
        leader.log()
    );
    // Well within the 15 s a dead leader's Lease takes to expire.
    wait_log(
        &mut env,
        &standby,
        "became the leader",
        Duration::from_secs(6),
    )
    .await;
}

#[tokio::test]
async fn a_leader_that_loses_its_lease_stops_writing_at_once() {
    let Some(mut env) = Setup::new("leader-fenced")
        .resync("10m")
        .without_operator()
        .start()
        .await
    else {
        return;
    };
    let mut leader = env.spawn_replica("a");
    wait_log(
        &mut env,
        &leader,
        "became the leader",
        Duration::from_secs(20),
    )
    .await;
    env.put_token("fenced-token", &random_token("conn-token"))
        .await;
    env.create_ok("fenced", env.spec("fenced-token")).await;
    env.wait_ready("fenced").await;

    // Someone else holds the Lease now (as after a network partition the leader did not notice).
    let leases: Api<Lease> = Api::namespaced(env.client.clone(), LEASE_NAMESPACE);
    // As the API server wants it (microseconds): serialized by the type it belongs to.
    let now = serde_json::to_value(MicroTime(k8s_openapi::jiff::Timestamp::now()))
        .unwrap_or_else(|e| panic!("{e}"));
    leases
        .patch(
            &env.ns,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"holderIdentity": "another-replica", "renewTime": now}})),
        )
        .await
        .unwrap_or_else(|e| panic!("taking the lease: {e}"));
    let status = leader
        .wait_exit(Duration::from_secs(10))
        .await
        .unwrap_or_else(|| panic!("still running without the lease:\n{}", leader.log()));
    assert!(!status.success(), "a lost lease is an error exit: {status}");
    assert!(
        leader.log().contains("lost the leader lease"),
        "{}",
        leader.log()
    );

    // Nothing it wrote remotely after that: the rotated token never reaches ZIS.
    let before = env.admin.requests().await.total;
    env.put_token("fenced-token", &random_token("rotated"))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(env.admin.requests().await.total, before);
}
