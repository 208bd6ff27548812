//! The Kubernetes sandbox's wire format checked with a plain HTTP client: discovery, OpenAPI,
//! Status errors, warnings and patch media types, as the real API server sends them.

mod kube_support;

use serde_json::{Value, json};
use zis_sandbox::kube::KubeSandbox;

struct Http {
    sandbox: KubeSandbox,
    client: reqwest::Client,
}

impl Http {
    async fn start() -> Http {
        let sandbox = KubeSandbox::start("127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("sandbox starts");
        let http = Http {
            sandbox,
            client: reqwest::Client::new(),
        };
        let crd: Value = serde_yaml::from_str(kube_support::WIDGET_CRD).expect("crd yaml");
        let (code, body) = http
            .send(
                reqwest::Method::POST,
                "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
                Some(("application/json", crd)),
            )
            .await;
        assert_eq!(code, 201, "{body}");
        http
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
            .request(method, format!("{}{path}", self.sandbox.url()))
            .bearer_auth("ignored-token");
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

const WIDGETS: &str = "/apis/test.zis.dev/v1/namespaces/default/widgets";

fn widget(name: &str, spec: Value) -> Value {
    json!({"apiVersion": "test.zis.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec})
}

#[tokio::test]
async fn discovery_lists_crd_kinds_with_short_names_categories_and_status() {
    let http = Http::start().await;
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
    http.sandbox.shutdown().await;
}

#[tokio::test]
async fn openapi_v3_advertises_field_validation_on_patch_operations() {
    let http = Http::start().await;
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
    assert_eq!(v2["definitions"], serde_json::json!({}));
    http.sandbox.shutdown().await;
}

#[tokio::test]
async fn errors_are_status_objects_with_the_real_servers_details() {
    let http = Http::start().await;
    let (code, status) = http
        .send(reqwest::Method::GET, &format!("{WIDGETS}/absent"), None)
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
            WIDGETS,
            Some(("application/json", widget("bad", json!({"size": 0})))),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(status["reason"], "Invalid");
    assert_eq!(status["details"]["kind"], "Widget");
    assert_eq!(status["details"]["causes"][0]["field"], "spec.size");
    let (code, status) = http
        .send(
            reqwest::Method::GET,
            "/apis/nothing.example/v1/things",
            None,
        )
        .await;
    assert_eq!((code, status["reason"].as_str()), (404, Some("NotFound")));
    http.sandbox.shutdown().await;
}

#[tokio::test]
async fn unknown_fields_warn_by_default_and_fail_strict_validation() {
    let http = Http::start().await;
    let object = widget("w", json!({"size": 1, "shape": "round"}));
    let (code, warnings, stored) = http
        .send_full(
            reqwest::Method::POST,
            WIDGETS,
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
            &format!("{WIDGETS}?fieldValidation=Strict"),
            Some(("application/json", strict)),
        )
        .await;
    assert_eq!(code, 400);
    assert_eq!(
        status["message"],
        r#"Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.shape""#
    );
    http.sandbox.shutdown().await;
}

#[tokio::test]
async fn patch_media_types_follow_the_real_server() {
    let http = Http::start().await;
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            WIDGETS,
            Some(("application/json", widget("w", json!({"size": 1})))),
        )
        .await;
    assert_eq!(code, 201);
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{WIDGETS}/w"),
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
            &format!("{WIDGETS}/w"),
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
            &format!("{WIDGETS}/w"),
            Some((
                "application/apply-patch+yaml",
                widget("w", json!({"size": 3})),
            )),
        )
        .await;
    assert_eq!(code, 400, "fieldManager is required: {status}");
    let (code, patched) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{WIDGETS}/w"),
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
    http.sandbox.shutdown().await;
}

#[tokio::test]
async fn unknown_metadata_and_built_in_fields_are_pruned_like_typed_decoding() {
    let http = Http::start().await;
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
                            "metadata": {"name": "c"}, "datas": {"a": "b"}});
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            "/api/v1/namespaces/default/configmaps?fieldValidation=Strict",
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
            WIDGETS,
            Some(("application/json", typo)),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(warnings, [r#"299 - "unknown field \"metadata.lables\"""#]);
    assert!(stored["metadata"].get("lables").is_none());
    http.sandbox.shutdown().await;
}

#[tokio::test]
async fn put_creates_missing_objects_only_for_kinds_whose_real_strategy_allows_it() {
    let http = Http::start().await;
    let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": "leader"}, "spec": {"holderIdentity": "a"}});
    let (code, created) = http
        .send(
            reqwest::Method::PUT,
            "/apis/coordination.k8s.io/v1/namespaces/default/leases/leader",
            Some(("application/json", lease)),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let (code, _) = http
        .send(
            reqwest::Method::PUT,
            "/api/v1/namespaces/default/configmaps/c",
            Some(("application/json", config_map)),
        )
        .await;
    assert_eq!(code, 404);
    let (code, _) = http
        .send(
            reqwest::Method::PUT,
            &format!("{WIDGETS}/w"),
            Some(("application/json", widget("w", json!({"size": 1})))),
        )
        .await;
    assert_eq!(code, 404);
    http.sandbox.shutdown().await;
}
