//! The Kubernetes API against kube-rs: typed and dynamic clients, watchers, a controller with
//! the finalizer helper, server-side apply, optimistic concurrency and validation. The sandbox
//! here; the real API server of `tests/cluster` in `kube_client_real` (the same tests; see
//! `kube_support` for how the backend is chosen).

mod kube_support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch,
    PatchParams, PostParams, WatchEvent, WatchParams,
};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::finalizer::{Event as Finalizer, finalizer};
use kube::runtime::watcher;
use kube_support::Env;
use serde_json::json;

fn widgets_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("test.zis.dev", "v1", "Widget"),
        "widgets",
    )
}

fn widget(name: &str, size: i64) -> DynamicObject {
    serde_json::from_value(json!({
        "apiVersion": "test.zis.dev/v1",
        "kind": "Widget",
        "metadata": {"name": name, "labels": {"app": "watched"}},
        "spec": {"size": size}
    }))
    .expect("widget json")
}

fn api_error(error: kube::Error) -> kube::core::Status {
    match error {
        kube::Error::Api(response) => *response,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_watcher_sees_added_modified_and_deleted_in_order() {
    let Some(env) = Env::with_widgets("a-watcher-sees-added-modified-and-delete").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let mut stream = watcher(widgets.clone(), watcher::Config::default()).boxed();
    // The initial list is empty.
    loop {
        match stream.try_next().await.expect("watch ok").expect("event") {
            watcher::Event::InitDone => break,
            watcher::Event::Init => {}
            other => panic!("unexpected initial event {other:?}"),
        }
    }
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 2}})),
        )
        .await
        .expect("patch");
    widgets
        .delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .expect("event in time")
            .expect("watch ok")
            .expect("stream open");
        match event {
            watcher::Event::Apply(o) => seen.push(format!("apply size={}", o.data["spec"]["size"])),
            watcher::Event::Delete(o) => {
                seen.push(format!("delete size={}", o.data["spec"]["size"]))
            }
            _ => {}
        }
    }
    assert_eq!(seen, ["apply size=1", "apply size=2", "delete size=2"]);
    env.finish().await;
}

#[tokio::test]
async fn a_raw_watch_reports_added_modified_deleted_and_bookmarks_with_increasing_versions() {
    let Some(env) = Env::with_widgets("a-raw-watch-reports-added-modified-delet").await else {
        return;
    };
    let client = env.client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &env.ns);
    let list = config_maps
        .list(&ListParams::default())
        .await
        .expect("list");
    let from = list.metadata.resource_version.expect("list rv");
    let mut cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "c"}, "data": {"a": "1"}})).expect("cm");
    let created = config_maps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    cm.metadata.resource_version = created.metadata.resource_version.clone();
    cm.data = Some([("a".to_string(), "2".to_string())].into());
    config_maps
        .replace("c", &PostParams::default(), &cm)
        .await
        .expect("replace");
    config_maps
        .delete("c", &DeleteParams::default())
        .await
        .expect("delete");
    let params = WatchParams::default().timeout(2);
    let mut stream = config_maps
        .watch(&params, &from)
        .await
        .expect("watch")
        .boxed();
    let mut kinds = Vec::new();
    let mut versions = Vec::new();
    while let Some(event) = stream.try_next().await.expect("event") {
        match event {
            WatchEvent::Added(o) | WatchEvent::Modified(o) | WatchEvent::Deleted(o) => {
                kinds.push(if kinds.is_empty() {
                    "ADDED"
                } else if kinds.len() == 1 {
                    "MODIFIED"
                } else {
                    "DELETED"
                });
                versions.push(
                    o.metadata
                        .resource_version
                        .expect("rv")
                        .parse::<u64>()
                        .expect("numeric rv"),
                );
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(kinds, ["ADDED", "MODIFIED", "DELETED"]);
    assert!(versions.windows(2).all(|w| w[0] < w[1]), "{versions:?}");
    env.finish().await;
}

#[tokio::test]
/// Sandbox only: it shrinks the watch history to 5 events, a sandbox knob. The real server
/// keeps every event until etcd is compacted (every 5 minutes), so no test here reaches that
/// point there.
async fn a_watch_from_a_compacted_version_gets_410_and_a_watcher_recovers_by_relisting() {
    if kube_support::on_real_api_server() {
        return;
    }
    let Some(env) =
        Env::with_widgets_and_history("a-watch-from-a-compacted-version-gets-41", 5).await
    else {
        return;
    };
    let client = env.client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &env.ns);
    let first = config_maps
        .list(&ListParams::default())
        .await
        .expect("list");
    let old = first.metadata.resource_version.expect("rv");
    for i in 0..10 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).expect("cm");
        config_maps
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let mut stream = config_maps
        .watch(&WatchParams::default().timeout(2), &old)
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await.expect("event").expect("one event") {
        WatchEvent::Error(e) => {
            assert_eq!(e.code, 410);
            assert_eq!(e.reason, "Expired");
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    // A watcher whose resume point is compacted away relists and carries on.
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    let config = watcher::Config::default()
        .labels("app=watched")
        .timeout(1)
        .disable_bookmarks();
    let mut stream = watcher(widgets.clone(), config).boxed();
    loop {
        if let watcher::Event::InitDone = stream.try_next().await.expect("ok").expect("event") {
            break;
        }
    }
    // Let the watch connection time out, then push the widgets' history past its
    // resourceVersion with objects outside its selection.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for i in 0..10 {
        let mut other = widget(&format!("other{i}"), 1);
        other.metadata.labels = Some([("app".to_string(), "other".to_string())].into());
        widgets
            .create(&PostParams::default(), &other)
            .await
            .expect("create");
    }
    widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 5}})),
        )
        .await
        .expect("patch");
    let mut saw_gone = false;
    let mut relisted_size = None;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while relisted_size.is_none() && tokio::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(5), stream.next()).await {
            Ok(Some(Err(watcher::Error::WatchError(e)))) if e.code == 410 => saw_gone = true,
            Ok(Some(Ok(watcher::Event::InitApply(o)))) if saw_gone => {
                relisted_size = o.data["spec"]["size"].as_i64();
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    assert!(saw_gone, "the watcher met 410 Gone");
    assert_eq!(relisted_size, Some(5), "the relist shows the current state");
    env.finish().await;
}

#[derive(Debug, thiserror::Error)]
enum ReconcileError {
    #[error(transparent)]
    Finalizer(#[from] Box<kube::runtime::finalizer::Error<kube::Error>>),
}

struct Context {
    api: Api<DynamicObject>,
    log: Mutex<Vec<String>>,
}

async fn reconcile(
    object: Arc<DynamicObject>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let api = ctx.api.clone();
    finalizer(&api, "test.zis.dev/cleanup", object, |event| async {
        match event {
            Finalizer::Apply(o) => {
                let name = o.metadata.name.clone().unwrap_or_default();
                let status = json!({
                    "apiVersion": "test.zis.dev/v1", "kind": "Widget",
                    "status": {"observedGeneration": o.metadata.generation,
                               "conditions": [{"type": "Ready", "status": "True"}]}
                });
                ctx.api
                    .patch_status(
                        &name,
                        &PatchParams::apply("widget-controller").force(),
                        &Patch::Apply(&status),
                    )
                    .await?;
                ctx.log.lock().expect("log").push(format!("apply {name}"));
                Ok(Action::await_change())
            }
            Finalizer::Cleanup(o) => {
                ctx.log.lock().expect("log").push(format!(
                    "cleanup {}",
                    o.metadata.name.clone().unwrap_or_default()
                ));
                Ok(Action::await_change())
            }
        }
    })
    .await
    .map_err(|e| ReconcileError::Finalizer(Box::new(e)))
}

fn error_policy(_: Arc<DynamicObject>, _: &ReconcileError, _: Arc<Context>) -> Action {
    Action::requeue(Duration::from_millis(200))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_controller_with_the_finalizer_helper_completes_add_finalize_and_delete() {
    let Some(env) = Env::with_widgets("a-controller-with-the-finalizer-helper-c").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let ctx = Arc::new(Context {
        api: widgets.clone(),
        log: Mutex::new(Vec::new()),
    });
    let controller = Controller::new_with(
        widgets.clone(),
        watcher::Config::default(),
        widgets_resource(),
    )
    .run(reconcile, error_policy, ctx.clone())
    .for_each(|_| async {});
    let handle = tokio::spawn(controller);

    widgets
        .create(&PostParams::default(), &widget("w", 2))
        .await
        .expect("create");
    let ready = async {
        loop {
            let o = widgets.get("w").await.expect("get");
            let has_finalizer = o
                .metadata
                .finalizers
                .as_ref()
                .is_some_and(|f| f.iter().any(|f| f == "test.zis.dev/cleanup"));
            if has_finalizer && o.data["status"]["conditions"][0]["status"] == "True" {
                return o;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let object = tokio::time::timeout(Duration::from_secs(10), ready)
        .await
        .expect("reconciled");
    assert_eq!(object.data["status"]["observedGeneration"], 1);
    assert_eq!(
        object.data["spec"]["size"], 2,
        "status apply left spec alone"
    );
    let managers: Vec<String> = object
        .metadata
        .managed_fields
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert!(
        managers.iter().any(|m| m == "widget-controller"),
        "{managers:?}"
    );

    widgets
        .delete("w", &DeleteParams::default())
        .await
        .expect("delete");
    let gone = async {
        loop {
            if widgets.get_opt("w").await.expect("get").is_none() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("deleted after cleanup");
    let log = ctx.log.lock().expect("log").clone();
    assert_eq!(log.first().map(String::as_str), Some("apply w"));
    assert_eq!(log.last().map(String::as_str), Some("cleanup w"), "{log:?}");
    handle.abort();
    env.finish().await;
}

#[tokio::test]
async fn a_stale_update_gets_409_conflict() {
    let Some(env) = Env::with_widgets("a-stale-update-gets-409-conflict").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let created = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    let mut fresh = created.clone();
    fresh.data["spec"]["size"] = json!(2);
    widgets
        .replace("w", &PostParams::default(), &fresh)
        .await
        .expect("first update");
    let mut stale = created;
    stale.data["spec"]["size"] = json!(3);
    let error = api_error(
        widgets
            .replace("w", &PostParams::default(), &stale)
            .await
            .expect_err("stale"),
    );
    assert_eq!(error.code, 409);
    assert_eq!(error.reason, "Conflict");
    assert!(error.message.contains("the object has been modified; please apply your changes to the latest version and try again"), "{}", error.message);
    env.finish().await;
}

#[tokio::test]
async fn an_object_breaking_the_schema_is_rejected_with_422_naming_the_field() {
    let Some(env) = Env::with_widgets("an-object-breaking-the-schema-is-rejecte").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let mut bad = widget("bad", 1);
    bad.data["spec"] = json!({"size": "large", "color": "green"});
    let error = api_error(
        widgets
            .create(&PostParams::default(), &bad)
            .await
            .expect_err("invalid"),
    );
    assert_eq!(error.code, 422);
    assert_eq!(error.reason, "Invalid");
    assert!(error.message.contains("spec.size"), "{}", error.message);
    assert!(error.message.contains("spec.color"), "{}", error.message);
    let mut missing = widget("missing", 1);
    missing.data["spec"] = json!({});
    let error = api_error(
        widgets
            .create(&PostParams::default(), &missing)
            .await
            .expect_err("invalid"),
    );
    assert!(
        error.message.contains("spec.size: Required value"),
        "{}",
        error.message
    );
    env.finish().await;
}

#[tokio::test]
async fn status_and_spec_writes_stay_in_their_lane_and_generation_follows_spec() {
    let Some(env) = Env::with_widgets("status-and-spec-writes-stay-in-their-lan").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let mut with_status = widget("w", 1);
    with_status.data["status"] = json!({"observedGeneration": 7});
    let created = widgets
        .create(&PostParams::default(), &with_status)
        .await
        .expect("create");
    assert!(
        created.data.get("status").is_none(),
        "status dropped on create"
    );
    assert_eq!(created.metadata.generation, Some(1));
    let status = widgets
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"observedGeneration": 1}, "spec": {"size": 9}})),
        )
        .await
        .expect("status patch");
    assert_eq!(status.data["spec"]["size"], 1);
    assert_eq!(status.metadata.generation, Some(1));
    let labelled = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"metadata": {"labels": {"x": "y"}}, "status": {"observedGeneration": 5}}),
            ),
        )
        .await
        .expect("metadata patch");
    assert_eq!(
        labelled.metadata.generation,
        Some(1),
        "metadata changes keep generation"
    );
    assert_eq!(
        labelled.data["status"]["observedGeneration"], 1,
        "main writes keep status"
    );
    let resized = widgets
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 4}})),
        )
        .await
        .expect("spec patch");
    assert_eq!(resized.metadata.generation, Some(2));
    env.finish().await;
}

#[tokio::test]
async fn creates_check_names_namespaces_and_duplicates_like_the_real_server() {
    let Some(env) = Env::with_widgets("creates-check-names-namespaces-and-dupli").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &env.ns, &widgets_resource());
    let mut generated = widget("", 1);
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let created = widgets
        .create(&PostParams::default(), &generated)
        .await
        .expect("generateName");
    assert!(
        created
            .metadata
            .name
            .as_deref()
            .is_some_and(|n| n.starts_with("gen-") && n.len() == 9)
    );
    widgets
        .create(&PostParams::default(), &widget("dup", 1))
        .await
        .expect("create");
    let error = api_error(
        widgets
            .create(&PostParams::default(), &widget("dup", 1))
            .await
            .expect_err("dup"),
    );
    assert_eq!((error.code, error.reason.as_str()), (409, "AlreadyExists"));
    let elsewhere: Api<DynamicObject> =
        Api::namespaced_with(client, "nowhere", &widgets_resource());
    let error = api_error(
        elsewhere
            .create(&PostParams::default(), &widget("x", 1))
            .await
            .expect_err("no ns"),
    );
    assert_eq!(error.code, 404);
    assert_eq!(error.message, r#"namespaces "nowhere" not found"#);
    let error = api_error(widgets.get("absent").await.expect_err("absent"));
    assert_eq!(error.message, r#"widgets.test.zis.dev "absent" not found"#);
    env.finish().await;
}

#[tokio::test]
async fn lists_select_by_labels_and_fields_and_page_with_continue() {
    let Some(env) = Env::with_widgets("lists-select-by-labels-and-fields-and-pa").await else {
        return;
    };
    let client = env.client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &env.ns);
    for i in 0..7 {
        let cm: ConfigMap = serde_json::from_value(json!({
            "metadata": {"name": format!("c{i}"), "labels": {"parity": if i % 2 == 0 { "even" } else { "odd" }}}
        }))
        .expect("cm");
        config_maps
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    let even = config_maps
        .list(&ListParams::default().labels("parity=even"))
        .await
        .expect("list");
    assert_eq!(even.items.len(), 4);
    let not_even = config_maps
        .list(&ListParams::default().labels("parity notin (even)"))
        .await
        .expect("list");
    assert_eq!(not_even.items.len(), 3);
    let named = config_maps
        .list(&ListParams::default().fields("metadata.name=c3"))
        .await
        .expect("list");
    assert_eq!(named.items.len(), 1);
    let mut names = Vec::new();
    let mut params = ListParams::default().limit(3);
    loop {
        let page = config_maps.list(&params).await.expect("page");
        assert!(page.items.len() <= 3);
        names.extend(page.items.into_iter().filter_map(|c| c.metadata.name));
        match page.metadata.continue_.filter(|c| !c.is_empty()) {
            Some(token) => params = params.continue_token(&token),
            None => break,
        }
    }
    assert_eq!(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    env.finish().await;
}

#[tokio::test]
async fn deleting_a_namespace_removes_its_objects_after_their_finalizers() {
    let Some(env) = Env::start("namespace-deletion").await else {
        return;
    };
    let client = env.client().await;
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let team = env.unique("team");
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": team}})).expect("ns");
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .expect("create ns");
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &team);
    let held: ConfigMap = serde_json::from_value(
        json!({"metadata": {"name": "held", "finalizers": ["test.zis.dev/hold"]}}),
    )
    .expect("cm");
    config_maps
        .create(&PostParams::default(), &held)
        .await
        .expect("create");
    let free: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": "free"}})).expect("cm");
    config_maps
        .create(&PostParams::default(), &free)
        .await
        .expect("create");

    namespaces
        .delete(&team, &DeleteParams::default())
        .await
        .expect("delete ns");
    let terminating = namespaces.get(&team).await.expect("still there");
    assert_eq!(
        terminating.status.and_then(|s| s.phase).as_deref(),
        Some("Terminating")
    );
    assert_eq!(
        terminating.metadata.deletion_grace_period_seconds, None,
        "the namespace registry sets no grace period"
    );
    // The namespace controller empties it: shortly after the request on the real server, within
    // it on the sandbox (README, "Simplified").
    env.settles(
        "the free object is deleted, the held one marked",
        || async {
            let free_gone = config_maps.get_opt("free").await.expect("get").is_none();
            let held = config_maps.get("held").await.expect("held stays");
            free_gone && held.metadata.deletion_timestamp.is_some()
        },
    )
    .await;
    // The namespace controller reports what it waits for, as its five conditions.
    env.settles("the namespace reports the held object", || async {
        let conditions: Vec<(String, String, String)> = namespaces
            .get(&team)
            .await
            .expect("get")
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .into_iter()
            .map(|c| (c.type_, c.status, c.message.unwrap_or_default()))
            .collect();
        conditions
            == [
                ("NamespaceDeletionDiscoveryFailure", "False", "All resources successfully discovered"),
                ("NamespaceDeletionGroupVersionParsingFailure", "False", "All legacy kube types successfully parsed"),
                ("NamespaceDeletionContentFailure", "False", "All content successfully deleted, may be waiting on finalization"),
                ("NamespaceContentRemaining", "True", "Some resources are remaining: configmaps. has 1 resource instances"),
                ("NamespaceFinalizersRemaining", "True", "Some content in the namespace has finalizers remaining: test.zis.dev/hold in 1 resource instances"),
            ]
            .map(|(t, s, m)| (t.to_string(), s.to_string(), m.to_string()))
    })
    .await;
    let error = api_error(
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .expect_err("held"),
    );
    assert_eq!(
        (error.code, error.message),
        (
            409,
            format!(r#"object is being deleted: namespaces "{team}" already exists"#)
        )
    );
    let error = api_error(
        config_maps
            .create(&PostParams::default(), &free)
            .await
            .expect_err("terminating"),
    );
    // The refusal names the object, or its generateName while its name is still to be made.
    let refusal = |name: &str| {
        format!(
            "configmaps \"{name}\" is forbidden: unable to create new content in namespace {team} because it is being terminated"
        )
    };
    assert_eq!((error.code, error.message), (403, refusal("free")));
    let generated: ConfigMap =
        serde_json::from_value(json!({"metadata": {"generateName": "gen-"}})).expect("cm");
    let error = api_error(
        config_maps
            .create(&PostParams::default(), &generated)
            .await
            .expect_err("terminating"),
    );
    assert_eq!((error.code, error.message), (403, refusal("gen-")));

    config_maps
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    env.settles(
        "the released object and then the namespace are gone",
        || async {
            config_maps.get_opt("held").await.expect("get").is_none()
                && namespaces.get_opt(&team).await.expect("get").is_none()
        },
    )
    .await;
    env.finish().await;
}

#[tokio::test]
async fn recorder_events_are_visible_through_both_event_apis() {
    use k8s_openapi::api::core::v1::{Event as CoreEvent, ObjectReference};
    use kube::runtime::events::{Event, EventType, Recorder, Reporter};

    let Some(env) = Env::with_widgets("recorder-events").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &env.ns, &widgets_resource());
    let created = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    let reference = ObjectReference {
        api_version: Some("test.zis.dev/v1".into()),
        kind: Some("Widget".into()),
        name: created.metadata.name.clone(),
        namespace: Some(env.ns.clone()),
        uid: created.metadata.uid.clone(),
        ..ObjectReference::default()
    };
    let recorder = Recorder::new(client.clone(), Reporter::from("widget-controller"));
    let event = Event {
        type_: EventType::Normal,
        reason: "Synced".into(),
        note: Some("widget synced".into()),
        action: "Sync".into(),
        secondary: None,
    };
    recorder
        .publish(&event, &reference)
        .await
        .expect("first publish creates");
    recorder
        .publish(&event, &reference)
        .await
        .expect("second publish patches the series");

    let core: Api<CoreEvent> = Api::namespaced(client, &env.ns);
    let listed = core
        .list(&ListParams::default().fields("involvedObject.name=w,involvedObject.kind=Widget"))
        .await
        .expect("core list");
    assert_eq!(listed.items.len(), 1);
    let stored = &listed.items[0];
    assert_eq!(stored.message.as_deref(), Some("widget synced"));
    assert_eq!(
        stored.reporting_component.as_deref(),
        Some("widget-controller")
    );
    assert_eq!(stored.series.as_ref().and_then(|s| s.count), Some(2));
    env.finish().await;
}

#[tokio::test]
async fn a_streaming_list_watcher_gets_initial_events_then_changes() {
    let Some(env) = Env::with_widgets("a-streaming-list-watcher-gets-initial-ev").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    widgets
        .create(&PostParams::default(), &widget("before", 1))
        .await
        .expect("create");
    // kube-rs starts a streaming list at resourceVersion 0: the API server answers it from its
    // watch cache, which may trail a write by a moment. A list at 0 reads the same cache.
    env.settles("a list at resourceVersion 0 shows the widget", || async {
        let listed = widgets
            .list(&ListParams::default().match_any())
            .await
            .expect("list from the cache");
        listed
            .items
            .iter()
            .any(|w| w.metadata.name.as_deref() == Some("before"))
    })
    .await;
    let mut stream = watcher(
        widgets.clone(),
        watcher::Config::default().streaming_lists(),
    )
    .boxed();
    let mut initial = Vec::new();
    loop {
        match stream.try_next().await.expect("ok").expect("event") {
            watcher::Event::InitApply(o) => initial.push(o.metadata.name.unwrap_or_default()),
            watcher::Event::InitDone => break,
            _ => {}
        }
    }
    assert_eq!(initial, ["before"]);
    widgets
        .create(&PostParams::default(), &widget("after", 1))
        .await
        .expect("create");
    let next = tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .expect("in time")
        .expect("ok")
        .expect("event");
    match next {
        watcher::Event::Apply(o) => assert_eq!(o.metadata.name.as_deref(), Some("after")),
        other => panic!("unexpected {other:?}"),
    }
    env.finish().await;
}

#[tokio::test]
async fn server_side_apply_tracks_owners_reports_conflicts_and_honours_force() {
    let Some(env) = Env::with_widgets("server-side-apply-tracks-owners-reports").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let applied = json!({"apiVersion": "test.zis.dev/v1", "kind": "Widget",
                         "metadata": {"name": "w"}, "spec": {"size": 2}});
    let created = widgets
        .patch("w", &PatchParams::apply("alice"), &Patch::Apply(&applied))
        .await
        .expect("apply creates");
    assert_eq!(created.data["spec"]["size"], 2);
    let theirs = json!({"apiVersion": "test.zis.dev/v1", "kind": "Widget",
                        "metadata": {"name": "w"}, "spec": {"size": 3}});
    let error = api_error(
        widgets
            .patch("w", &PatchParams::apply("bob"), &Patch::Apply(&theirs))
            .await
            .expect_err("conflict"),
    );
    assert_eq!(error.code, 409);
    // An Apply manager is named without its API version (an Update manager would have one).
    assert_eq!(
        error.message,
        r#"Apply failed with 1 conflict: conflict with "alice": .spec.size"#
    );
    let forced = widgets
        .patch(
            "w",
            &PatchParams::apply("bob").force(),
            &Patch::Apply(&theirs),
        )
        .await
        .expect("forced");
    assert_eq!(forced.data["spec"]["size"], 3);
    assert_eq!(forced.metadata.generation, Some(2));
    let dry = widgets
        .patch(
            "w",
            &PatchParams::default().dry_run(),
            &Patch::Merge(json!({"spec": {"size": 10}})),
        )
        .await
        .expect("dry run");
    assert_eq!(dry.data["spec"]["size"], 10);
    assert_eq!(
        widgets.get("w").await.expect("get").data["spec"]["size"],
        3,
        "dry run not stored"
    );
    env.finish().await;
}

#[tokio::test]
async fn deleting_a_crd_removes_its_objects_after_their_finalizers_and_stops_serving_them() {
    let Some(env) = Env::start("crd-deletion").await else {
        return;
    };
    let client = env.client().await;
    // A CRD of its own: the common one must stay for the other tests on the real server.
    let group = format!("{}.test.zis.dev", env.unique("deleted"));
    let crd_name = format!("gizmos.{group}");
    let crds = Env::crds_with(client.clone());
    let crd: DynamicObject =
        serde_yaml::from_str(&kube_support::gizmo_crd_in(&group)).expect("crd yaml");
    let created = crds
        .create(&PostParams::default(), &crd)
        .await
        .expect("crd created");
    assert_eq!(
        created.metadata.finalizers, None,
        "the cleanup finalizer comes with the deletion"
    );
    env.crd_established(&crd_name).await;
    let gizmos: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &env.ns,
        &ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, "v1", "Gizmo"), "gizmos"),
    );
    let gizmo = |name: &str, finalizers: &[&str]| -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": format!("{group}/v1"), "kind": "Gizmo",
            "metadata": {"name": name, "finalizers": finalizers}, "spec": {"size": 1}
        }))
        .expect("gizmo")
    };
    gizmos
        .create(
            &PostParams::default(),
            &gizmo("held", &["test.zis.dev/hold"]),
        )
        .await
        .expect("create");
    gizmos
        .create(&PostParams::default(), &gizmo("free", &[]))
        .await
        .expect("create");
    crds.delete(&crd_name, &DeleteParams::default())
        .await
        .expect("delete crd");
    let terminating = crds.get(&crd_name).await.expect("crd kept");
    assert_eq!(
        terminating.metadata.finalizers.as_deref(),
        Some(&["customresourcecleanup.apiextensions.k8s.io".to_string()][..])
    );
    assert_eq!(terminating.metadata.deletion_grace_period_seconds, None);
    let conditions = terminating.data["status"]["conditions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "Terminating" && c["status"] == "True"),
        "{conditions:?}"
    );
    // The CRD's objects are deleted shortly after the request on the real server (by its
    // finalizing controller), within it on the sandbox (README, "Simplified").
    env.settles(
        "the free object is deleted, the held one marked",
        || async {
            let free_gone = gizmos.get_opt("free").await.expect("get").is_none();
            let held = gizmos.get("held").await.expect("held stays");
            free_gone && held.metadata.deletion_timestamp.is_some()
        },
    )
    .await;
    let error = api_error(
        gizmos
            .create(&PostParams::default(), &gizmo("new", &[]))
            .await
            .expect_err("terminating"),
    );
    assert_eq!(
        (error.code, error.reason.as_str(), error.message.as_str()),
        (
            403,
            "Forbidden",
            format!(
                "gizmos.{group} \"new\" is forbidden: create not allowed while custom resource definition is terminating"
            )
            .as_str()
        )
    );

    gizmos
        .patch(
            "held",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"finalizers": null}})),
        )
        .await
        .expect("release");
    env.settles("the CRD is gone and its kind no longer served", || async {
        crds.get_opt(&crd_name).await.expect("get").is_none()
            && gizmos
                .list(&ListParams::default())
                .await
                .err()
                .is_some_and(|e| api_error(e).code == 404)
    })
    .await;
    env.finish().await;
}

#[tokio::test]
async fn immutable_config_maps_refuse_data_changes() {
    let Some(env) = Env::with_widgets("immutable-config-maps-refuse-data-change").await else {
        return;
    };
    let client = env.client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &env.ns);
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": "frozen"}, "data": {"a": "1"}, "immutable": true
    }))
    .expect("cm");
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    let error = api_error(
        config_maps
            .patch(
                "frozen",
                &PatchParams::default(),
                &Patch::Merge(json!({"data": {"a": "2"}})),
            )
            .await
            .expect_err("immutable"),
    );
    assert_eq!(error.code, 422);
    assert!(
        error
            .message
            .contains("data: Forbidden: field is immutable"),
        "{}",
        error.message
    );
    config_maps
        .patch(
            "frozen",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})),
        )
        .await
        .expect("metadata may change");
    env.finish().await;
}

#[tokio::test]
async fn delete_answers_the_marked_object_or_a_success_status_like_the_real_server() {
    let Some(env) = Env::with_widgets("delete-answers-the-marked-object-or-a-su").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let mut held = widget("held", 1);
    held.metadata.finalizers = Some(vec!["test.zis.dev/hold".into()]);
    widgets
        .create(&PostParams::default(), &held)
        .await
        .expect("create");
    widgets
        .create(&PostParams::default(), &widget("free", 1))
        .await
        .expect("create");
    let marked = widgets
        .delete("held", &DeleteParams::default())
        .await
        .expect("delete");
    let object = marked.left().expect("the marked object is returned");
    assert!(object.metadata.deletion_timestamp.is_some());
    let gone = widgets
        .delete("free", &DeleteParams::default())
        .await
        .expect("delete");
    let status = gone.right().expect("a Status is returned");
    assert_eq!(
        status.status,
        Some(kube::core::response::StatusSummary::Success)
    );
    let details = status.details.expect("details");
    assert_eq!(
        (details.name.as_str(), details.kind.as_str()),
        ("free", "widgets")
    );
    env.finish().await;
}

#[tokio::test]
async fn a_label_selected_watch_sees_objects_enter_and_leave_its_selection() {
    let Some(env) = Env::with_widgets("a-label-selected-watch-sees-objects-ente").await else {
        return;
    };
    let client = env.client().await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &env.ns);
    let list = config_maps
        .list(&ListParams::default())
        .await
        .expect("list");
    let from = list.metadata.resource_version.expect("rv");
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": "c"}})).expect("cm");
    config_maps
        .create(&PostParams::default(), &cm)
        .await
        .expect("create");
    for team in ["a", "b"] {
        config_maps
            .patch(
                "c",
                &PatchParams::default(),
                &Patch::Merge(json!({"metadata": {"labels": {"team": team}}})),
            )
            .await
            .expect("label");
    }
    let latest = config_maps
        .get("c")
        .await
        .expect("get")
        .metadata
        .resource_version
        .expect("rv");
    let params = WatchParams::default().labels("team=a").timeout(1);
    let mut stream = config_maps
        .watch(&params, &from)
        .await
        .expect("watch")
        .boxed();
    let mut seen = Vec::new();
    while let Some(event) = stream.try_next().await.expect("event") {
        match event {
            WatchEvent::Added(o) => seen.push(format!(
                "ADDED {:?}",
                o.metadata.labels.unwrap_or_default().get("team")
            )),
            WatchEvent::Modified(_) => seen.push("MODIFIED".into()),
            WatchEvent::Deleted(o) => {
                assert_eq!(o.metadata.resource_version.as_ref(), Some(&latest));
                seen.push(format!(
                    "DELETED {:?}",
                    o.metadata.labels.unwrap_or_default().get("team")
                ))
            }
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("{e:?}"),
        }
    }
    // Leaving the selection is a DELETED of the last content the watch selected, at the
    // version of the change.
    assert_eq!(seen, [r#"ADDED Some("a")"#, r#"DELETED Some("a")"#]);
    env.finish().await;
}

#[tokio::test]
async fn kube_discovery_finds_crd_kinds_in_legacy_and_aggregated_form() {
    let Some(env) = Env::with_widgets("kube-discovery-finds-crd-kinds-in-legacy").await else {
        return;
    };
    let client = env.client().await;
    for aggregated in [false, true] {
        let discovery = kube::Discovery::new(client.clone());
        let discovery = if aggregated {
            discovery
                .run_aggregated()
                .await
                .expect("aggregated discovery")
        } else {
            discovery.run().await.expect("legacy discovery")
        };
        let (resource, capabilities) = discovery
            .resolve_gvk(&GroupVersionKind::gvk("test.zis.dev", "v1", "Widget"))
            .expect("Widget discovered");
        assert_eq!(resource.plural, "widgets");
        assert_eq!(capabilities.scope, kube::discovery::Scope::Namespaced);
        assert!(
            capabilities
                .subresources
                .iter()
                .any(|(r, _)| r.plural == "widgets/status" || r.plural == "status"),
            "aggregated={aggregated}"
        );
        assert!(discovery.has_group("coordination.k8s.io"));
    }
    env.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_updates_from_the_same_version_let_exactly_one_win() {
    let Some(env) = Env::with_widgets("concurrent-updates-from-the-same-version").await else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> = Api::namespaced_with(client, &env.ns, &widgets_resource());
    let base = widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for size in 2..18 {
        let api = widgets.clone();
        let mut update = base.clone();
        update.data["spec"]["size"] = json!(size);
        tasks.push(tokio::spawn(async move {
            api.replace("w", &PostParams::default(), &update).await
        }));
    }
    let mut won = Vec::new();
    let mut conflicts = 0;
    for task in tasks {
        match task.await.expect("task") {
            Ok(object) => won.push(object.data["spec"]["size"].clone()),
            Err(error) => {
                assert_eq!(api_error(error).code, 409);
                conflicts += 1;
            }
        }
    }
    assert_eq!((won.len(), conflicts), (1, 15));
    assert_eq!(
        widgets.get("w").await.expect("get").data["spec"]["size"],
        won[0]
    );
    env.finish().await;
}

#[tokio::test]
async fn a_busy_resource_does_not_expire_the_watches_of_a_quiet_one() {
    let Some(env) =
        Env::with_widgets_and_history("a-busy-resource-does-not-expire-the-watc", 5).await
    else {
        return;
    };
    let client = env.client().await;
    let widgets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &env.ns, &widgets_resource());
    let from = widgets
        .list(&ListParams::default())
        .await
        .expect("list")
        .metadata
        .resource_version
        .expect("rv");
    let config_maps: Api<ConfigMap> = Api::namespaced(client, &env.ns);
    for i in 0..10 {
        let cm: ConfigMap =
            serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).expect("cm");
        config_maps
            .create(&PostParams::default(), &cm)
            .await
            .expect("create");
    }
    widgets
        .create(&PostParams::default(), &widget("w", 1))
        .await
        .expect("create");
    let mut stream = widgets
        .watch(&WatchParams::default().timeout(1), &from)
        .await
        .expect("watch")
        .boxed();
    match stream.try_next().await.expect("event").expect("one event") {
        WatchEvent::Added(o) => assert_eq!(o.metadata.name.as_deref(), Some("w")),
        other => panic!("expected ADDED, got {other:?}"),
    }
    env.finish().await;
}
