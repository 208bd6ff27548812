//! Load on the Kubernetes sandbox: many objects and many concurrent watchers.
//! `KUBE_SCALE_OBJECTS` and `KUBE_SCALE_WATCHERS` raise the sizes for a manual measurement.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, PostParams};
use serde_json::json;
use zis_sandbox::kube::KubeSandbox;

fn size(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_objects_reach_every_one_of_hundreds_of_watchers() {
    let objects = size("KUBE_SCALE_OBJECTS", 500);
    let watchers = size("KUBE_SCALE_WATCHERS", 200);
    let sandbox = KubeSandbox::start("127.0.0.1:0".parse().expect("addr"))
        .await
        .expect("sandbox starts");
    let client = sandbox.client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let start_rv = config_maps
        .list(&ListParams::default().limit(1))
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");

    // Watchers read the raw stream (as many clients do) so that the measurement is the
    // server's, not client-side decoding on the same two cores.
    let http = reqwest::Client::new();
    let url = format!(
        "{}/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={start_rv}&timeoutSeconds=120",
        sandbox.url()
    );
    let mut handles = Vec::new();
    for _ in 0..watchers {
        let request = http.get(&url).send();
        handles.push(tokio::spawn(async move {
            let mut response = request.await.expect("watch request");
            assert!(response.status().is_success());
            let mut pending = Vec::new();
            let mut added = 0;
            while let Some(chunk) = response.chunk().await.expect("chunk") {
                pending.extend_from_slice(&chunk);
                while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                    let line: Vec<u8> = pending.drain(..=end).collect();
                    let event: serde_json::Value =
                        serde_json::from_slice(&line).expect("json line");
                    assert_eq!(event["type"], "ADDED", "{event}");
                    added += 1;
                }
                if added == objects {
                    break;
                }
            }
            added
        }));
    }

    let began = Instant::now();
    let writers = 8;
    let mut writes = Vec::new();
    for w in 0..writers {
        let api = config_maps.clone();
        writes.push(tokio::spawn(async move {
            for i in (w..objects).step_by(writers) {
                let cm: ConfigMap = serde_json::from_value(json!({
                    "metadata": {"name": format!("cm-{i:06}"), "labels": {"bucket": (i % 10).to_string()}},
                    "data": {"value": i.to_string()}
                }))
                .expect("cm");
                api.create(&PostParams::default(), &cm).await.expect("create");
            }
        }));
    }
    for write in writes {
        write.await.expect("writer");
    }
    let wrote = began.elapsed();
    for handle in handles {
        let added = tokio::time::timeout(Duration::from_secs(120), handle)
            .await
            .expect("watcher finishes")
            .expect("watcher task");
        assert_eq!(added, objects);
    }
    let delivered = began.elapsed();

    let listed = Instant::now();
    let all = config_maps
        .list(&ListParams::default())
        .await
        .expect("list");
    assert_eq!(all.items.len(), objects);
    let bucket = config_maps
        .list(&ListParams::default().labels("bucket=3"))
        .await
        .expect("list");
    assert_eq!(
        bucket.items.len(),
        (0..objects).filter(|i| i % 10 == 3).count()
    );
    eprintln!(
        "{objects} creates in {wrote:?}; all events to {watchers} watchers after {delivered:?}; full list + selected list in {:?}",
        listed.elapsed()
    );
    sandbox.shutdown().await;
}
