//! Maps request paths to what they address: discovery documents, OpenAPI documents or a
//! resource (group, version, optional namespace, plural, optional name and subresource),
//! including the legacy `/watch/` paths.

/// What a request path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Version,
    Health,
    /// `/api`
    CoreVersions,
    /// `/api/v1`, `/apis/{group}/{version}`
    GroupVersion {
        group: String,
        version: String,
    },
    /// `/apis`
    Groups,
    /// `/apis/{group}`
    Group {
        group: String,
    },
    /// `/openapi/v2`
    OpenApiV2,
    /// `/openapi/v3`
    OpenApiRoot,
    /// `/openapi/v3/{api/v1 | apis/group/version}`
    OpenApiGroupVersion {
        group: String,
        version: String,
    },
    Resource(ResourcePath),
    Unknown,
}

/// A resource path.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    pub group: String,
    pub version: String,
    pub namespace: Option<String>,
    pub plural: String,
    pub name: Option<String>,
    pub subresource: Option<String>,
    /// Reached through a legacy `/watch/` prefix.
    pub legacy_watch: bool,
}

pub fn parse(path: &str) -> Route {
    let segments: Vec<&str> = path
        .trim_start_matches('/')
        .trim_end_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => Route::Version,
        ["healthz" | "readyz" | "livez", ..] => Route::Health,
        ["api"] => Route::CoreVersions,
        ["api", version] => Route::GroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["apis"] => Route::Groups,
        ["apis", group] => Route::Group {
            group: group.to_string(),
        },
        ["apis", group, version] => Route::GroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiRoot,
        ["openapi", "v3", "api", version] => Route::OpenApiGroupVersion {
            group: String::new(),
            version: version.to_string(),
        },
        ["openapi", "v3", "apis", group, version] => Route::OpenApiGroupVersion {
            group: group.to_string(),
            version: version.to_string(),
        },
        ["api", version, rest @ ..] => resource(String::new(), version, rest),
        ["apis", group, version, rest @ ..] => resource(group.to_string(), version, rest),
        _ => Route::Unknown,
    }
}

fn resource(group: String, version: &str, rest: &[&str]) -> Route {
    let (legacy_watch, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    let owned = |s: &&str| s.to_string();
    let (namespace, plural, name, subresource) = match rest {
        // `/namespaces/{ns}/{plural}...`, unless it is a namespace's own subresource.
        ["namespaces", ns, plural, tail @ ..] if *plural != "status" && *plural != "finalize" => {
            if tail.len() > 2 {
                return Route::Unknown;
            }
            (
                Some(ns.to_string()),
                plural.to_string(),
                tail.first().map(owned),
                tail.get(1).map(owned),
            )
        }
        [plural, tail @ ..] if tail.len() <= 2 => (
            None,
            plural.to_string(),
            tail.first().map(owned),
            tail.get(1).map(owned),
        ),
        _ => return Route::Unknown,
    };
    Route::Resource(ResourcePath {
        group,
        version: version.to_string(),
        namespace,
        plural,
        name,
        subresource,
        legacy_watch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespaced_cluster_and_watch_paths_are_told_apart() {
        let Route::Resource(r) = parse("/apis/example.com/v1/namespaces/ns1/widgets/w1/status")
        else {
            panic!("resource expected");
        };
        assert_eq!(r.namespace.as_deref(), Some("ns1"));
        assert_eq!(r.name.as_deref(), Some("w1"));
        assert_eq!(r.subresource.as_deref(), Some("status"));

        let Route::Resource(r) = parse("/api/v1/namespaces/ns1/status") else {
            panic!("resource expected");
        };
        assert_eq!(r.plural, "namespaces");
        assert_eq!(r.name.as_deref(), Some("ns1"));
        assert_eq!(r.subresource.as_deref(), Some("status"));

        let Route::Resource(r) = parse("/api/v1/watch/namespaces/ns1/configmaps") else {
            panic!("resource expected");
        };
        assert!(r.legacy_watch);
        assert_eq!(r.plural, "configmaps");
        assert_eq!(
            parse("/apis/example.com/v1"),
            Route::GroupVersion {
                group: "example.com".into(),
                version: "v1".into()
            }
        );
    }
}
