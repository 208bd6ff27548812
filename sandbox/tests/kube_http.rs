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

#[tokio::test]
async fn malformed_selectors_are_refused_with_the_real_servers_messages() {
    let Some(http) = Http::start("selectors").await else {
        return;
    };
    let config_maps = format!("/api/v1/namespaces/{}/configmaps", http.env.ns);
    let secrets = format!("/api/v1/namespaces/{}/secrets", http.env.ns);
    for (path, message) in [
        (
            format!("{config_maps}?labelSelector=a%3D%3D%3Db"),
            "unable to parse requirement: found '=', expected: identifier",
        ),
        (
            format!("{config_maps}?labelSelector=a%3Db%20c"),
            "found 'c', expected: ',' or 'end of string'",
        ),
        (
            format!("{config_maps}?labelSelector=a%2C%2Cb"),
            "found ',', expected: identifier after ','",
        ),
        (
            format!("{config_maps}?labelSelector=a%3Ex"),
            r#"unable to parse requirement: values[0]: Invalid value: "x": for 'Gt', 'Lt' operators, the value must be an integer"#,
        ),
        // Kinds with field selectors of their own (and custom resources) word it differently.
        (
            format!("{config_maps}?fieldSelector=data.a%3D1"),
            r#""data.a" is not a known field selector: only "metadata.name", "metadata.namespace""#,
        ),
        (
            format!("{secrets}?fieldSelector=data.a%3D1"),
            "field label not supported: data.a",
        ),
        (
            format!("{}?fieldSelector=spec.size%3D1", http.widgets),
            "field label not supported: spec.size",
        ),
    ] {
        let (code, status) = http.send(reqwest::Method::GET, &path, None).await;
        assert_eq!(
            (code, status["reason"].as_str(), status["message"].as_str()),
            (400, Some("BadRequest"), Some(message)),
            "{path}"
        );
    }
    let (code, _) = http
        .send(
            reqwest::Method::GET,
            &format!("{config_maps}?labelSelector=a%20in%20()%2Cb%3D"),
            None,
        )
        .await;
    assert_eq!(code, 200, "an empty set and an empty value are valid");
    http.finish().await;
}

#[tokio::test]
async fn lists_leave_out_the_types_of_built_in_items_but_not_of_custom_resources() {
    let Some(http) = Http::start("list-encoding").await else {
        return;
    };
    let config_maps = format!("/api/v1/namespaces/{}/configmaps", http.env.ns);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &config_maps,
            Some(("application/json", config_map)),
        )
        .await;
    assert_eq!(code, 201);
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", widget("w", json!({"size": 1})))),
        )
        .await;
    assert_eq!(code, 201);
    let (_, list) = http.send(reqwest::Method::GET, &config_maps, None).await;
    assert_eq!(
        (&list["kind"], &list["apiVersion"]),
        (&json!("ConfigMapList"), &json!("v1"))
    );
    let item = &list["items"][0];
    assert_eq!(item["metadata"]["name"], "c", "{list}");
    assert!(
        item.get("kind").is_none() && item.get("apiVersion").is_none(),
        "typed list items carry no types: {list}"
    );
    assert!(list["metadata"].get("continue").is_none(), "{list}");
    let (_, list) = http.send(reqwest::Method::GET, &http.widgets, None).await;
    assert_eq!(
        (&list["items"][0]["kind"], &list["items"][0]["apiVersion"]),
        (&json!("Widget"), &json!("test.zis.dev/v1")),
        "{list}"
    );
    assert_eq!(list["metadata"]["continue"], "", "{list}");
    http.finish().await;
}

#[tokio::test]
async fn bodies_the_real_server_cannot_decode_or_type_are_refused_with_its_messages() {
    let Some(http) = Http::start("decoding").await else {
        return;
    };
    let ns = http.env.ns.clone();
    let post = |path: String, body: Value| {
        let http = &http;
        async move {
            http.send(
                reqwest::Method::POST,
                &path,
                Some(("application/json", body)),
            )
            .await
        }
    };
    let (code, status) = post(
        format!("/api/v1/namespaces/{ns}/secrets"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"},
               "data": {"token": "not base64!"}}),
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(
                r#"Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 3"#
            )
        )
    );
    let (code, status) = post(
        format!("/api/v1/namespaces/{ns}/configmaps"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "c"}}),
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(
                r#"Secret in version "v1" cannot be handled as a ConfigMap: converting (v1.Secret) to (core.ConfigMap): unknown conversion"#
            )
        )
    );
    let (code, status) = post(
        format!("/api/v1/namespaces/{ns}/configmaps"),
        json!({"apiVersion": "apps/v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(
                r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: no kind "ConfigMap" is registered for version "apps/v1" in scheme "pkg/runtime/scheme.go:111""#
            )
        )
    );
    // Custom resources: a wrong kind is a validation error, a missing one cannot be decoded.
    let mut other = widget("o", json!({"size": 1}));
    other["kind"] = json!("Other");
    let (code, status) = post(http.widgets.clone(), other).await;
    assert_eq!(
        (code, status["message"].as_str(), &status["details"]["kind"]),
        (
            422,
            Some(
                r#"Other.test.zis.dev "o" is invalid: kind: Invalid value: "Other": must be Widget"#
            ),
            &json!("Other")
        )
    );
    let kindless = r#"{"apiVersion":"test.zis.dev/v1","metadata":{"name":"k"},"spec":{"size":1}}"#;
    let response = http
        .client
        .post(format!("{}{}", http.env.url(), http.widgets))
        .header("content-type", "application/json")
        .body(kindless)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let status: Value = response.json().await.expect("a Status");
    assert_eq!(
        status["message"],
        format!(
            r#"the object provided is unrecognized (must be of type Widget): Object 'Kind' is missing in '{kindless}' ({{"apiVersion":"test.zis.dev/v1 ...)"#
        )
    );
    // An update of a custom resource must name the version it replaces.
    let (code, _) = post(http.widgets.clone(), widget("w", json!({"size": 1}))).await;
    assert_eq!(code, 201);
    let (code, status) = http
        .send(
            reqwest::Method::PUT,
            &format!("{}/w", http.widgets),
            Some(("application/json", widget("w", json!({"size": 2})))),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str(), &status["details"]["kind"]),
        (
            422,
            Some(
                r#"widgets.test.zis.dev "w" is invalid: metadata.resourceVersion: Invalid value: 0: must be specified for an update"#
            ),
            &json!("widgets")
        )
    );
    http.finish().await;
}

#[tokio::test]
async fn finalizer_and_label_names_are_checked_like_the_real_server() {
    let Some(http) = Http::start("finalizer-names").await else {
        return;
    };
    let config_maps = format!("/api/v1/namespaces/{}/configmaps", http.env.ns);
    let config_map = |name: &str, metadata: Value| {
        let mut object = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata});
        object["metadata"]["name"] = json!(name);
        object
    };
    // Built-in kinds refuse a finalizer that is neither standard nor domain-qualified...
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &config_maps,
            Some((
                "application/json",
                config_map("plain", json!({"finalizers": ["plain"]})),
            )),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            422,
            Some(
                r#"ConfigMap "plain" is invalid: metadata.finalizers[0]: Invalid value: "plain": name is neither a standard finalizer name nor is it fully qualified"#
            )
        )
    );
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &config_maps,
            Some((
                "application/json",
                config_map("standard", json!({"finalizers": ["kubernetes"]})),
            )),
        )
        .await;
    assert_eq!(code, 201, "standard finalizers need no domain");
    // ...custom resources take it with a warning.
    let mut plain = widget("plain", json!({"size": 1}));
    plain["metadata"]["finalizers"] = json!(["plain", "a.b"]);
    let (code, warnings, _) = http
        .send_full(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", plain)),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(
        warnings,
        [
            r#"299 - "metadata.finalizers: \"a.b\": prefer a domain-qualified finalizer name including a path (/) to avoid accidental conflicts with other finalizer writers""#,
            r#"299 - "metadata.finalizers: \"plain\": prefer a domain-qualified finalizer name to avoid accidental conflicts with other finalizer writers""#,
        ]
    );
    let mut both = widget("both", json!({"size": 1}));
    both["metadata"]["finalizers"] = json!(["orphan", "foregroundDeletion"]);
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", both)),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            422,
            Some(
                r#"Widget.test.zis.dev "both" is invalid: metadata.finalizers: Invalid value: ["orphan","foregroundDeletion"]: finalizer orphan and foregroundDeletion cannot be both set"#
            )
        )
    );
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &config_maps,
            Some((
                "application/json",
                config_map("labelled", json!({"labels": {"Bad_Prefix/k": "-v"}})),
            )),
        )
        .await;
    assert_eq!(code, 422);
    assert_eq!(
        status["message"],
        r#"ConfigMap "labelled" is invalid: [metadata.labels: Invalid value: "Bad_Prefix/k": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'), metadata.labels: Invalid value: "-v": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')]"#
    );
    http.finish().await;
}

#[tokio::test]
async fn reviews_and_empty_typed_fields_answer_like_the_real_server() {
    let Some(http) = Http::start("reviews").await else {
        return;
    };
    let review = json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectAccessReview",
                        "spec": {"resourceAttributes": {"verb": "list", "resource": "secrets", "namespace": http.env.ns}}});
    let (code, answer) = http
        .send(
            reqwest::Method::POST,
            "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
            Some(("application/json", review)),
        )
        .await;
    assert_eq!(
        (code, &answer["status"]),
        (201, &json!({"allowed": true})),
        "a cluster administrator is allowed, without a reason: {answer}"
    );
    // Typed objects print their empty structs and lists.
    let ns = http.env.ns.clone();
    let lease =
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "l"}});
    let (code, stored) = http
        .send(
            reqwest::Method::POST,
            &format!("/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"),
            Some(("application/json", lease)),
        )
        .await;
    assert_eq!((code, &stored["spec"]), (201, &json!({})), "{stored}");
    let role = json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "r"}});
    let (code, stored) = http
        .send(
            reqwest::Method::POST,
            &format!("/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"),
            Some(("application/json", role)),
        )
        .await;
    assert_eq!(code, 201);
    assert_eq!(stored.get("rules"), Some(&Value::Null), "{stored}");
    http.finish().await;
}

#[tokio::test]
async fn write_options_preconditions_and_bodies_are_checked_like_the_real_server() {
    let Some(http) = Http::start("options").await else {
        return;
    };
    let config_maps = format!("/api/v1/namespaces/{}/configmaps", http.env.ns);
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let invalid_options = |kind: &str, field: &str, message: &str| {
        format!(r#"{kind}.meta.k8s.io "" is invalid: {field}: {message}"#)
    };
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &format!("{config_maps}?dryRun=Some"),
            Some(("application/json", config_map.clone())),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str().unwrap_or_default()),
        (
            422,
            invalid_options(
                "CreateOptions",
                "dryRun",
                r#"Unsupported value: ["Some"]: supported values: "All""#
            )
            .as_str()
        )
    );
    let (code, created) = http
        .send(
            reqwest::Method::POST,
            &config_maps,
            Some(("application/json", config_map)),
        )
        .await;
    assert_eq!(code, 201, "{created}");
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{config_maps}/c?fieldValidation=Maybe"),
            Some(("application/merge-patch+json", json!({"data": {"a": "b"}}))),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str().unwrap_or_default()),
        (
            422,
            invalid_options(
                "PatchOptions",
                "fieldValidation",
                r#"Unsupported value: "Maybe": supported values: "", "Ignore", "Strict", "Warn""#
            )
            .as_str()
        )
    );
    // Delete preconditions name the Kind and what probably happened.
    let uid = created["metadata"]["uid"].as_str().unwrap_or_default();
    let (code, status) = http
        .send(
            reqwest::Method::DELETE,
            &format!("{config_maps}/c"),
            Some((
                "application/json",
                json!({"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": {"uid": "other"}}),
            )),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str().unwrap_or_default(), &status["details"]["kind"]),
        (
            409,
            format!(
                r#"Operation cannot be fulfilled on ConfigMap "c": the UID in the precondition (other) does not match the UID in record ({uid}). The object might have been deleted and then recreated"#
            )
            .as_str(),
            &json!("ConfigMap")
        )
    );
    // Bodies the server cannot read.
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{config_maps}/c"),
            Some(("application/merge-patch+json", json!([1]))),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(
                "error decoding patch: json: cannot unmarshal array into Go value of type map[string]interface {}"
            )
        )
    );
    let (code, status) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{config_maps}/c"),
            Some(("text/plain", json!({}))),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (415, Some("415: Unsupported Media Type"))
    );
    let response = http
        .client
        .post(format!("{}{config_maps}", http.env.url()))
        .header("content-type", "application/json")
        .send()
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 400);
    let status: Value = response.json().await.expect("a Status");
    assert_eq!(
        status["message"],
        "the object provided is unrecognized (must be of type ConfigMap): couldn't get version/kind; json parse error: unexpected end of JSON input (<empty>)"
    );
    let (code, status) = http
        .send(
            reqwest::Method::POST,
            &format!("{config_maps}/c"),
            Some(("application/json", json!({}))),
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str(), &status["details"]),
        (
            405,
            Some("the server does not allow this method on the requested resource"),
            &json!({})
        )
    );
    let (code, status) = http
        .send(
            reqwest::Method::GET,
            &format!("{config_maps}?limit=ten"),
            None,
        )
        .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            400,
            Some(r#"strconv.ParseInt: parsing "ten": invalid syntax"#)
        )
    );
    http.finish().await;
}

#[tokio::test]
async fn empty_labels_annotations_and_finalizers_are_dropped_like_typed_object_meta() {
    let Some(http) = Http::start("empty-metadata").await else {
        return;
    };
    let config_maps = format!("/api/v1/namespaces/{}/configmaps", http.env.ns);
    let (code, created) = http
        .send(
            reqwest::Method::POST,
            &config_maps,
            Some((
                "application/json",
                json!({"apiVersion": "v1", "kind": "ConfigMap", "data": {},
                       "metadata": {"name": "c", "labels": {}, "annotations": {}, "finalizers": []}}),
            )),
        )
        .await;
    assert_eq!(code, 201);
    for field in ["labels", "annotations", "finalizers"] {
        assert!(created["metadata"].get(field).is_none(), "{created}");
    }
    assert!(created.get("data").is_none(), "{created}");
    // Removing the last finalizer or label of a custom resource removes the field.
    let mut held = widget("w", json!({"size": 1}));
    held["metadata"]["finalizers"] = json!(["test.zis.dev/hold"]);
    held["metadata"]["labels"] = json!({"app": "x"});
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &http.widgets,
            Some(("application/json", held)),
        )
        .await;
    assert_eq!(code, 201);
    let (code, patched) = http
        .send(
            reqwest::Method::PATCH,
            &format!("{}/w", http.widgets),
            Some((
                "application/json-patch+json",
                json!([{"op": "remove", "path": "/metadata/finalizers/0"},
                       {"op": "remove", "path": "/metadata/labels/app"}]),
            )),
        )
        .await;
    assert_eq!(code, 200);
    assert!(
        patched["metadata"].get("finalizers").is_none()
            && patched["metadata"].get("labels").is_none(),
        "{patched}"
    );
    http.finish().await;
}

#[tokio::test]
async fn immutable_fields_of_built_in_kinds_refuse_changes_like_the_real_server() {
    let Some(http) = Http::start("immutable-fields").await else {
        return;
    };
    let ns = http.env.ns.clone();
    let merge = |path: String, patch: Value| {
        let http = &http;
        async move {
            http.send(
                reqwest::Method::PATCH,
                &path,
                Some(("application/merge-patch+json", patch)),
            )
            .await
        }
    };
    let secrets = format!("/api/v1/namespaces/{ns}/secrets");
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &secrets,
            Some((
                "application/json",
                json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}}),
            )),
        )
        .await;
    assert_eq!(code, 201);
    let (code, status) = merge(format!("{secrets}/s"), json!({"type": "example.com/token"})).await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            422,
            Some(
                r#"Secret "s" is invalid: type: Invalid value: "example.com/token": field is immutable"#
            )
        )
    );
    let (code, status) = merge(
        format!("{secrets}/s"),
        json!({"metadata": {"uid": "other"}}),
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            422,
            Some(
                r#"Secret "s" is invalid: metadata.uid: Invalid value: "other": field is immutable"#
            )
        )
    );
    let deployments = format!("/apis/apps/v1/namespaces/{ns}/deployments");
    let template = |app: &str| json!({"metadata": {"labels": {"app": app}}, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            &deployments,
            Some((
                "application/json",
                json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
                       "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": template("a")}}),
            )),
        )
        .await;
    assert_eq!(code, 201);
    let (code, status) = merge(
        format!("{deployments}/d"),
        json!({"spec": {"selector": {"matchLabels": {"app": "b"}}, "template": template("b")}}),
    )
    .await;
    assert_eq!(
        (code, status["message"].as_str()),
        (
            422,
            Some(
                r#"Deployment.apps "d" is invalid: spec.selector: Invalid value: {"matchLabels":{"app":"b"}}: field is immutable"#
            )
        )
    );
    // Emptying a namespace's finalizers through /finalize leaves an empty spec.
    let team = http.env.unique("finalized");
    let (code, _) = http
        .send(
            reqwest::Method::POST,
            "/api/v1/namespaces",
            Some((
                "application/json",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team}}),
            )),
        )
        .await;
    assert_eq!(code, 201);
    let (code, finalized) = http
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/namespaces/{team}/finalize"),
            Some((
                "application/json",
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": team},
                       "spec": {"finalizers": []}}),
            )),
        )
        .await;
    assert_eq!((code, &finalized["spec"]), (200, &json!({})), "{finalized}");
    http.finish().await;
}
