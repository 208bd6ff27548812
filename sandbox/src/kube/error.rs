//! API errors shaped like the real API server's `Status` objects (kind Status, apiVersion v1,
//! status Failure, message, reason, details, code), so kubectl and kube-rs report them as they
//! would against a real cluster.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// A failed API request; converts into a `Status` response (or, for paths no API group
/// serves, the plain answers the real server gives there).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
    /// `details` of the Status (name, group, kind, causes), when the real server sends them.
    pub details: Option<Value>,
    pub form: Form,
}

/// How an error is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// A `Status` object (JSON).
    Status,
    /// `404 page not found` as plain text: the real server's answer for a path outside every
    /// API group it serves itself (custom resource groups, unknown groups, other paths).
    PageNotFound,
    /// No body at all (an OpenAPI v3 document that does not exist).
    Empty,
}

/// The API groups kube-apiserver 1.37 serves itself (not through CRDs). A path in one of them
/// that names nothing is answered with a NotFound `Status`; any other with plain text.
const REAL_BUILTIN_GROUPS: [&str; 21] = [
    "",
    "admissionregistration.k8s.io",
    "apiextensions.k8s.io",
    "apiregistration.k8s.io",
    "apps",
    "authentication.k8s.io",
    "authorization.k8s.io",
    "autoscaling",
    "batch",
    "certificates.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
    "events.k8s.io",
    "flowcontrol.apiserver.k8s.io",
    "networking.k8s.io",
    "node.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "resource.k8s.io",
    "scheduling.k8s.io",
    "storage.k8s.io",
];

/// Names the object an error is about, as `details` does: `kind` is the resource (plural)
/// for NotFound/AlreadyExists/Conflict and the Kind for Invalid, like the real server.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    pub group: String,
    pub kind: String,
    pub name: String,
}

impl Subject {
    pub fn new(group: &str, kind: &str, name: &str) -> Subject {
        Subject {
            group: group.to_string(),
            kind: kind.to_string(),
            name: name.to_string(),
        }
    }

    /// `plural.group` (or `plural` for the core group), as used in messages.
    fn qualified(&self) -> String {
        if self.group.is_empty() {
            self.kind.clone()
        } else {
            format!("{}.{}", self.kind, self.group)
        }
    }

    fn details(&self) -> Value {
        let mut details = json!({"kind": self.kind});
        if !self.name.is_empty() {
            details["name"] = json!(self.name);
        }
        if !self.group.is_empty() {
            details["group"] = json!(self.group);
        }
        details
    }
}

/// One `StatusCause` of an Invalid error.
#[derive(Debug, Clone)]
pub struct Cause {
    pub reason: String,
    pub message: String,
    pub field: String,
}

impl ApiError {
    fn plain(code: u16, reason: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            reason,
            message: message.into(),
            details: None,
            form: Form::Status,
        }
    }

    pub fn not_found(subject: &Subject) -> ApiError {
        ApiError {
            details: Some(subject.details()),
            ..ApiError::plain(
                404,
                "NotFound",
                format!("{} \"{}\" not found", subject.qualified(), subject.name),
            )
        }
    }

    /// A path in API group `group` that names no served resource (or version): a NotFound
    /// `Status` in the groups the real server serves itself, plain `404 page not found` in any
    /// other (kubectl turns that into the same message; kube-rs into a 404 error).
    pub fn not_served(group: &str) -> ApiError {
        let form = if REAL_BUILTIN_GROUPS.contains(&group) {
            Form::Status
        } else {
            Form::PageNotFound
        };
        ApiError {
            details: Some(json!({})),
            form,
            ..ApiError::plain(
                404,
                "NotFound",
                "the server could not find the requested resource",
            )
        }
    }

    /// A path outside `/api` and `/apis` that the server does not know.
    pub fn page_not_found() -> ApiError {
        ApiError {
            form: Form::PageNotFound,
            ..ApiError::not_served("")
        }
    }

    /// An OpenAPI v3 document that does not exist: 404 without a body.
    pub fn no_document() -> ApiError {
        ApiError {
            form: Form::Empty,
            ..ApiError::not_served("")
        }
    }

    pub fn already_exists(subject: &Subject) -> ApiError {
        ApiError {
            details: Some(subject.details()),
            ..ApiError::plain(
                409,
                "AlreadyExists",
                format!(
                    "{} \"{}\" already exists",
                    subject.qualified(),
                    subject.name
                ),
            )
        }
    }

    /// Stale resourceVersion or failed precondition.
    pub fn conflict(subject: &Subject, why: &str) -> ApiError {
        ApiError {
            details: Some(subject.details()),
            ..ApiError::plain(
                409,
                "Conflict",
                format!(
                    "Operation cannot be fulfilled on {} \"{}\": {why}",
                    subject.qualified(),
                    subject.name
                ),
            )
        }
    }

    /// The optimistic-concurrency conflict of an update with a stale resourceVersion.
    pub fn stale(subject: &Subject) -> ApiError {
        ApiError::conflict(
            subject,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// 422 Invalid; `subject.kind` is the Kind here (as the real server's details are).
    pub fn invalid(subject: &Subject, causes: &[Cause]) -> ApiError {
        let summaries: Vec<String> = causes
            .iter()
            .map(|c| {
                if c.field.is_empty() {
                    c.message.clone()
                } else {
                    format!("{}: {}", c.field, c.message)
                }
            })
            .collect();
        let joined = if summaries.len() == 1 {
            summaries[0].clone()
        } else {
            format!("[{}]", summaries.join(", "))
        };
        let mut details = subject.details();
        details["causes"] = Value::Array(
            causes
                .iter()
                .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
                .collect(),
        );
        ApiError {
            details: Some(details),
            ..ApiError::plain(
                422,
                "Invalid",
                format!(
                    "{} \"{}\" is invalid: {joined}",
                    subject.qualified(),
                    subject.name
                ),
            )
        }
    }

    /// 422 without a field (e.g. a failed JSON patch `test`).
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::plain(422, "Invalid", message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::plain(400, "BadRequest", message)
    }

    /// 403 naming the object as the real server's `NewForbidden` does (no name, no quotes).
    pub fn forbidden(subject: &Subject, why: &str) -> ApiError {
        let message = if subject.name.is_empty() {
            format!("{} is forbidden: {why}", subject.qualified())
        } else {
            format!(
                "{} \"{}\" is forbidden: {why}",
                subject.qualified(),
                subject.name
            )
        };
        ApiError {
            details: Some(subject.details()),
            ..ApiError::plain(403, "Forbidden", message)
        }
    }

    /// 405, worded as the real server words it (the method is not named).
    pub fn method_not_allowed() -> ApiError {
        ApiError {
            details: Some(json!({})),
            ..ApiError::plain(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
            )
        }
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> ApiError {
        ApiError::plain(415, "UnsupportedMediaType", message)
    }

    /// 415 for a body type no handler reads at all (the real server's generic answer).
    pub fn unsupported_media_type_generic() -> ApiError {
        ApiError {
            details: Some(json!({})),
            ..ApiError::unsupported_media_type("415: Unsupported Media Type")
        }
    }

    /// The `410 Gone` of a resourceVersion older than the kept history.
    pub fn expired(message: impl Into<String>) -> ApiError {
        ApiError::plain(410, "Expired", message)
    }

    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::plain(500, "InternalError", message)
    }

    /// A storage failure the real server passes through without a reason (500, reason unset).
    pub fn unknown(message: impl Into<String>) -> ApiError {
        ApiError::plain(500, "", message)
    }

    /// The `Status` object of this error.
    pub fn status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if self.reason.is_empty()
            && let Some(map) = status.as_object_mut()
        {
            map.remove("reason");
        }
        if let Some(details) = &self.details {
            status["details"] = details.clone();
        }
        status
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        match self.form {
            Form::Status => {}
            Form::Empty => return code.into_response(),
            Form::PageNotFound => {
                let mut response = (code, "404 page not found\n").into_response();
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; charset=utf-8"),
                );
                return response;
            }
        }
        let body = self.status().to_string();
        let mut response = (code, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}
