//! The Kubernetes API's wire format checked with a plain HTTP client: discovery, OpenAPI,
//! Status errors, warnings and patch media types, as the real API server sends them. The
//! sandbox here; the real API server of `tests/cluster` in `kube_http_real` (the same tests;
//! see `kube_support` for how the backend is chosen).

mod kube_support;

use kube_support::Env;
use serde_json::{Value, json};

struct Http {
    env: Env,
    client: reqwest::Client,
    /// Where this test's Widgets are: `/apis/test.zis.dev/v1/namespaces/NS/widgets`.
    widgets: String,
}

impl Http {
    /// The backend with the Widget CRD installed, or `None` when it cannot run here.
    async fn start(tag: &str) -> Option<Http> {
        let env = Env::with_widgets(tag).await?;
        Some(Http {
            client: env.http(),
            widgets: format!("/apis/test.zis.dev/v1/namespaces/{}/widgets", env.ns),
            env,
        })
    }

    async fn finish(self) {
        self.env.finish().await;
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Value)>,
    ) -> (u16, Value) {
        let (code, _, body) = self.send_full(method, path, body).await;
        (code, body)
    }

    async fn send_full(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<(&str, Value)>,
    ) -> (u16, Vec<String>, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.env.url()));
        if !self.env.is_real() {
            // The sandbox accepts any bearer token (the real server knows the client by its
            // certificate).
            request = request.bearer_auth("ignored-token");
        }
        if let Some((content_type, value)) = body {
            request = request
                .header("content-type", content_type)
                .body(value.to_string());
        }
        let response = request.send().await.expect("request");
        let code = response.status().as_u16();
        let warnings = response
            .headers()
            .get_all("warning")
            .iter()
            .filter_map(|v| v.to_str().ok().map(str::to_string))
            .collect();
        let text = response.text().await.expect("body");
        (
            code,
            warnings,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }
}

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "test.zis.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn discovery_lists_crd_kinds_with_short_names_categories_and_status() {
    let Some(http) = Http::start("discovery-lists-crd-kinds-with").await else {
        return;
    };
    let (code, groups) = http.send(reqwest::Method::GET, "/apis", None).await;
    assert_eq!(code, 200);
    let group = groups["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "test.zis.dev"))
        .cloned()
        .expect("group listed");
    assert_eq!(group["preferredVersion"]["groupVersion"], "test.zis.dev/v1");
    let (_, resources) = http
        .send(reqwest::Method::GET, "/apis/test.zis.dev/v1", None)
        .await;
    assert_eq!(resources["kind"], "APIResourceList");
    let list = resources["resources"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let main = list
        .iter()
        .find(|r| r["name"] == "widgets")
        .expect("widgets");
    assert_eq!(main["shortNames"], json!(["wdg"]));
    assert_eq!(main["categories"], json!(["zis"]));
    assert_eq!(main["namespaced"], true);
    assert!(list.iter().any(|r| r["name"] == "widgets/status"));
    let (_, version) = http.send(reqwest::Method::GET, "/version", None).await;
    assert_eq!(version["major"], "1");
    http.finish().await;
}

#[tokio::test]
async fn openapi_v3_advertises_field_validation_on_patch_operations() {
    let Some(http) = Http::start("openapi-v3-advertises-field-va").await else {
        return;
    };
    // The real server publishes a new CRD's document shortly after the CRD is Established; the
    // sandbox at once (README, "Simplified").
    http.env
        .settles(
            "the CRD's group version is listed in /openapi/v3",
            || async {
                let (_, root) = http.send(reqwest::Method::GET, "/openapi/v3", None).await;
                root["paths"]["apis/test.zis.dev/v1"].is_object()
            },
        )
        .await;
    let (_, root) = http.send(reqwest::Method::GET, "/openapi/v3", None).await;
    let url = root["paths"]["apis/test.zis.dev/v1"]["serverRelativeURL"]
        .as_str()
        .expect("group version listed")
        .to_string();
    assert!(url.contains("?hash="));
    let (code, doc) = http.send(reqwest::Method::GET, &url, None).await;
    assert_eq!(code, 200);
    let patch =
        &doc["paths"]["/apis/test.zis.dev/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
    assert_eq!(patch["x-kubernetes-group-version-kind"]["kind"], "Widget");
    let params = patch["parameters"].as_array().cloned().unwrap_or_default();
    assert!(
        params
            .iter()
            .any(|p| p["name"] == "fieldValidation" && p["in"] == "query")
    );
    let (code, v2) = http.send(reqwest::Method::GET, "/openapi/v2", None).await;
    assert_eq!(code, 200);
    assert_eq!(v2["swagger"], "2.0");
    // The real server describes every kind in OpenAPI v2 too; the sandbox serves an empty
    // document, enough for kubectl, which reads v3 (README, "Simplified").
    let definitions = v2["definitions"].as_object().cloned().unwrap_or_default();
    if http.env.is_real() {
        assert!(
            definitions.contains_key("dev.zis.test.v1.Widget"),
            "{:?}",
            definitions.keys().take(5).collect::<Vec<_>>()
        );
    } else {
        assert!(definitions.is_empty(), "{definitions:?}");
    }
    http.finish().await;
}

#[tokio::test]
async fn errors_are_status_objects_with_the_real_servers_details() {
    let Some(http) = Http::start("errors-are-status-objects-with").await else {
        return;
    };
    let (code, status) = http
        .send(
            reqwest::Method::GET,
            &format!("{}/absent", http.widgets),
            None,
        )
        .await;
    assert_eq!(code, 404);
    assert_eq!(
        status,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "message": "widgets.test.zis.dev \"absent\" not found", "reason": "NotFound",
               "details": {"name": "absent", "group": "test.zis.dev", "kind": "widgets"}, "code": 404})
    );
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", widget("bad", json!({"size": 0})))),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Widget");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.size");
    // A path no API group serves: a group the server does not have, or a resource or version
    // a custom resource group does not have, gets plain text; one in a group of its own
    // (built-in kinds) a NotFound Status; kubectl shows either as "the server could not find
    // the requested resource".
    for path in [
        "/apis/nothing.example/v1/things",
        "/apis/test.zis.dev/v1/namespaces/default/things",
        "/apis/test.zis.dev/v9/widgets",
        "/nothing",
    ] {
        let (code, text) = http.send(reqwest::Method::GET, path, None).await;
        assert_eq!((code, text), (404, json!("404 page not found\n")), "{path}");
    }
    for path in [
        "/api/v1/things",
        "/apis/apps/v1/things",
        "/apis/coordination.k8s.io/v9/leases",
    ] {
        let (code, status) = http.send(reqwest::Method::GET, path, None).await;
        assert_eq!(
            (code, status),
            (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                       "message": "the server could not find the requested resource",
                       "reason": "NotFound", "details": {}, "code": 404})
            ),
            "{path}"
        );
    }
    let (code, body) = http
        .send(
            reqwest::Method::GET,
            "/openapi/v3/apis/nothing.example/v1",
            None,
        )
        .await;
    assert_eq!(
        (code, body),
        (404, json!("")),
        "no OpenAPI document, no body"
    );
    http.finish().await;
}

#[tokio::test]
async fn unknown_fields_warn_by_default_and_fail_strict_validation() {
    let Some(http) = Http::start("unknown-fields-warn-by-default").await else {
        return;
    };
    let object = widget("w", json!({"size": 1, "shape": "round"}));
    let (code, warnings, stored) = http
        .send_full(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", object.clone())),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(warnings, [r#"299 - "unknown field \"spec.shape\"""#]);
    assert!(stored["spec"].get("shape").is_none(), "pruned: {stored}");
    let mut strict = object;
    strict["metadata"]["name"] = json!("s");
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &format!("{}?fieldValidation=Strict", http.widgets),
            Some(("application/json", strict)),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.shape""#
    );
    http.finish().await;
}

#[tokio::test]
async fn patch_media_types_follow_the_real_server() {
    let Some(http) = Http::start("patch-media-types-follow-the-r").await else {
        return;
    };
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", widget("w", json!({"size": 1})))),
        )
        .await;
    assert_eq!(code, 201);
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{}/w", http.widgets),
            Some((
                "application/strategic-merge-patch+json",
                json!({"spec": {"size": 2}}),
            )),
        )
        .await;
    assert_eq!(code, 415);
    assert_eq!(status["reason"], "UnsupportedMediaType");
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{}/w", http.widgets),
            Some((
                "application/json-patch+json",
                json!([{"op": "test", "path": "/spec/size", "value": 5}]),
            )),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        "the server rejected our request due to an error in our request"
    );
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{}/w", http.widgets),
            Some((
                "application/apply-patch+yaml",
                widget("w", json!({"size": 3})),
            )),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            422,
            Some(
                r#"PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch"#
            )
        ),
        "fieldManager is required: {status}"
    );
    let (code, patched) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{}/w", http.widgets),
            Some((
                "application/merge-patch+json",
                json!({"spec": {"size": 4}, "metadata": {"resourceVersion": "1"}}),
            )),
        )
        .await;
    assert_eq!(
        code, 409,
        "a stale resourceVersion in a patch is a precondition: {patched}"
    );
    http.finish().await;
}

#[tokio::test]
async fn unknown_metadata_and_built_in_fields_are_pruned_like_typed_decoding() {
    let Some(http) = Http::start("unknown-metadata-and-built-in").await else {
        return;
    };
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "c"}, "datas": {"a": "b"}});
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &format!(
                "/api/v1/namespaces/{}/configmaps?fieldValidation=Strict",
                http.env.ns
            ),
            Some(("application/json", config_map)),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datas""#
    );
    let mut typo = widget("w", json!({"size": 1}));
    typo["metadata"]["lables"] = json!({"app": "x"});
    let (code, warnings, stored) = http
        .send_full(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", typo)),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(warnings, [r#"299 - "unknown field \"metadata.lables\"""#]);
    assert!(stored["metadata"].get("lables").is_none());
    http.finish().await;
}

#[tokio::test]
async fn put_creates_missing_objects_only_for_kinds_whose_real_strategy_allows_it() {
    let Some(http) = Http::start("put-creates-missing-objects-on").await else {
        return;
    };
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}});
    let (code, created) = http
        .send(
            reqwest::Method::PUT,
            &format!(
                "/apis/coordination.k8s.io/v1/namespaces/{}/leases/leader",
                http.env.ns
            ),
            Some(("application/json", lease)),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let (code, _) = http
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/namespaces/{}/configmaps/c", http.env.ns),
            Some(("application/json", config_map)),
        )
        .await;
    assert_eq!(code, 404);
    let (code, _) = http
        .send(
            reqwest::Method::PUT,
            &format!("{}/w", http.widgets),
            Some(("application/json", widget("w", json!({"size": 1})))),
        )
        .await;
    assert_eq!(code, 404);
    http.finish().await;
}
