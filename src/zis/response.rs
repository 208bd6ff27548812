//! Turning what ZIS answered into a result: status classification, the error body, `Retry-After`.
//!
//! Pure functions over a status, headers and (already size-capped) body bytes, so every malformed
//! answer can be unit-tested without a server. Nothing here panics, whatever the bytes.

use std::time::{Duration, SystemTime};

use super::ZisError;
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// How long to wait after a 429 that does not say (or says something unreadable).
pub(crate) const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// Longest text taken from a response body into an error message.
const MAX_TITLE_CHARS: usize = 200;

/// Redacts secrets out of text that came back from the server (a server may echo a request).
pub(crate) struct Redactor<'a> {
    secrets: Vec<&'a str>,
}

impl<'a> Redactor<'a> {
    pub(crate) fn new(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Self {
            // Empty or tiny "secrets" would redact ordinary text without protecting anything.
            secrets: secrets.into_iter().filter(|s| s.len() >= 4).collect(),
        }
    }

    pub(crate) fn clean(&self, text: &str) -> String {
        let mut text = text.to_owned();
        for secret in &self.secrets {
            if text.contains(secret) {
                text = text.replace(secret, "<redacted>");
            }
        }
        text
    }
}

/// The code and title of an error body: the documented `{"errors":[{"code","title"}]}`, or the
/// older Zendesk shapes `{"error":"Code","description":"..."}` and
/// `{"error":{"title","message"}}`. `None` when the body is none of these (e.g. a proxy's HTML).
fn error_entry(body: &[u8]) -> Option<(Option<String>, Option<String>)> {
    let parsed: serde_json::Value = serde_json::from_slice(body).ok()?;
    let object = parsed.as_object()?;
    let text = |v: Option<&serde_json::Value>| match v? {
        serde_json::Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
        serde_json::Value::String(_) | serde_json::Value::Null => None,
        other => Some(other.to_string()),
    };
    if let Some(errors) = object.get("errors").and_then(serde_json::Value::as_array) {
        let Some(first) = errors.first() else {
            return Some((None, None));
        };
        let code = text(first.get("code"));
        let title = text(first.get("title")).or_else(|| text(first.get("detail")));
        return Some((code, title));
    }
    match object.get("error")? {
        serde_json::Value::Object(inner) => Some((
            None,
            text(inner.get("title")).or_else(|| text(inner.get("message"))),
        )),
        code => Some((
            text(Some(code)),
            text(object.get("description")).or_else(|| text(object.get("message"))),
        )),
    }
}

/// One line of printable text, at most [`MAX_TITLE_CHARS`] characters, secrets redacted.
/// `kind` followed by every cause of the transport failure `err`, `: `-separated (uncleaned: the
/// caller redacts it).
pub(crate) fn with_causes(kind: &str, err: &reqwest::Error) -> String {
    let mut text = kind.to_owned();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(err);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub(crate) fn tidy(text: &str, redactor: &Redactor<'_>) -> String {
    let cleaned = redactor.clean(text);
    let mut line: String = cleaned
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(MAX_TITLE_CHARS + 1)
        .collect();
    if line.chars().count() > MAX_TITLE_CHARS {
        line = line.chars().take(MAX_TITLE_CHARS).collect();
        line.push('…');
    }
    line.trim().to_owned()
}

/// A short description of a body that is not the documented error shape.
pub(crate) fn body_excerpt(body: &[u8], redactor: &Redactor<'_>) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let text = tidy(text, redactor);
    (!text.is_empty()).then_some(text)
}

/// The canonical reason phrase, or the bare number.
fn reason_phrase(status: StatusCode) -> String {
    status
        .canonical_reason()
        .map_or_else(|| format!("HTTP {}", status.as_u16()), str::to_owned)
}

/// The error for a non-success answer. `max_retry_after` caps the wait a 429 asks for.
pub(crate) fn classify_failure(
    status: StatusCode,
    headers: &HeaderMap,
    body: &[u8],
    max_retry_after: Duration,
    redactor: &Redactor<'_>,
) -> ZisError {
    let entry = error_entry(body);
    let code = entry
        .as_ref()
        .and_then(|(code, _)| code.as_deref())
        .map(|c| tidy(c, redactor));
    let title = entry
        .as_ref()
        .and_then(|(_, title)| title.as_deref())
        .map(|t| tidy(t, redactor))
        .or_else(|| {
            // Only fall back to raw text when it is not the documented shape (e.g. an HTML page
            // from a proxy); a documented body without a title gets the reason phrase.
            entry
                .is_none()
                .then(|| body_excerpt(body, redactor))
                .flatten()
        })
        .unwrap_or_else(|| reason_phrase(status));
    match status.as_u16() {
        401 => ZisError::Unauthorized,
        403 => ZisError::Forbidden { title },
        404 => ZisError::NotFound,
        409 => ZisError::Conflict,
        429 => ZisError::RateLimited {
            retry_after: retry_after(headers, SystemTime::now())
                .unwrap_or(DEFAULT_RETRY_AFTER)
                .min(max_retry_after),
        },
        // A request timeout says nothing about the request itself.
        408 => ZisError::Transient {
            reason: format!("zis answered HTTP 408: {title}"),
        },
        300..=399 => ZisError::Invalid {
            code: code.unwrap_or_else(|| "UnexpectedRedirect".to_owned()),
            title: format!(
                "zis answered with a redirect (HTTP {}); check the base url",
                status.as_u16()
            ),
        },
        400..=499 => ZisError::Invalid {
            code: code.unwrap_or_else(|| format!("Http{}", status.as_u16())),
            title,
        },
        500..=599 => ZisError::Transient {
            reason: format!("zis answered HTTP {}: {title}", status.as_u16()),
        },
        other => ZisError::Transient {
            reason: format!("zis answered with unexpected status {other}"),
        },
    }
}

/// The wait a `Retry-After` header asks for: delta-seconds (fractions tolerated) or an HTTP date
/// (a date in the past means no wait). `None` when absent or unreadable.
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok();
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// `X-Rate-Limit` and `X-Rate-Limit-Remaining` (the account's requests a minute and how many are
/// left in the current window), when an answer carries both, readable.
pub(crate) fn rate_limit(headers: &HeaderMap) -> Option<(u32, u32)> {
    let number =
        |name: &str| -> Option<u32> { headers.get(name)?.to_str().ok()?.trim().parse().ok() };
    Some((number("x-rate-limit")?, number("x-rate-limit-remaining")?))
}

/// Parses a success body, any failure becoming [`ZisError::Transient`].
pub(crate) fn parse_success<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
    redactor: &Redactor<'_>,
) -> Result<T, ZisError> {
    serde_json::from_slice(body).map_err(|e| ZisError::Transient {
        reason: tidy(
            &format!("zis answered with an unreadable {what} body: {e}"),
            redactor,
        ),
    })
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    const CAP: Duration = Duration::from_secs(300);

    fn classify(status: u16, body: &str) -> ZisError {
        let redactor = Redactor::new(["SECRET-TOKEN-123"]);
        classify_failure(
            StatusCode::from_u16(status).expect("valid status"),
            &HeaderMap::new(),
            body.as_bytes(),
            CAP,
            &redactor,
        )
    }

    fn headers(retry_after: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(retry_after).expect("valid header"),
        );
        headers
    }

    #[test]
    fn documented_statuses_map_to_their_error_classes() {
        let documented = |code: &str, title: &str| {
            format!(r#"{{"errors":[{{"code":"{code}","title":"{title}"}}]}}"#)
        };
        assert_eq!(
            classify(
                401,
                &documented("InvalidCredentials", "Token length is invalid")
            ),
            ZisError::Unauthorized
        );
        assert_eq!(
            classify(
                403,
                &documented(
                    "Forbidden",
                    "Cannot access this resource. Missing scope write"
                )
            ),
            ZisError::Forbidden {
                title: "Cannot access this resource. Missing scope write".to_owned()
            }
        );
        assert_eq!(
            classify(404, &documented("NotFound", "Connection does not exist")),
            ZisError::NotFound
        );
        assert_eq!(
            classify(409, &documented("Conflict", "Resource conflict")),
            ZisError::Conflict
        );
        assert_eq!(
            classify(
                400,
                &documented("InvalidIntegration", "Specified integration is not valid")
            ),
            ZisError::Invalid {
                code: "InvalidIntegration".to_owned(),
                title: "Specified integration is not valid".to_owned()
            }
        );
        assert_eq!(
            classify(422, &documented("Unprocessable", "name is too short")),
            ZisError::Invalid {
                code: "Unprocessable".to_owned(),
                title: "name is too short".to_owned()
            }
        );
        assert!(matches!(
            classify(429, &documented("TooManyRequests", "Too many requests")),
            ZisError::RateLimited { .. }
        ));
        assert!(matches!(
            classify(503, &documented("Unavailable", "down")),
            ZisError::Transient { .. }
        ));
        assert!(matches!(classify(408, ""), ZisError::Transient { .. }));
    }

    #[test]
    fn a_4xx_without_the_documented_body_still_gives_a_code_and_title() {
        assert_eq!(
            classify(400, ""),
            ZisError::Invalid {
                code: "Http400".to_owned(),
                title: "Bad Request".to_owned()
            }
        );
        assert_eq!(
            classify(418, "<html><body>teapot\n</body></html>"),
            ZisError::Invalid {
                code: "Http418".to_owned(),
                title: "<html><body>teapot </body></html>".to_owned()
            }
        );
        assert_eq!(
            classify(400, r#"{"errors":[]}"#),
            ZisError::Invalid {
                code: "Http400".to_owned(),
                title: "Bad Request".to_owned()
            }
        );
        assert_eq!(
            classify(400, r#"{"errors":[{"code":5,"title":null,"detail":"d"}]}"#),
            ZisError::Invalid {
                code: "5".to_owned(),
                title: "d".to_owned()
            }
        );
        assert_eq!(
            classify(
                500,
                r#"{"error":"RecordInvalid","description":"Name: is too short"}"#
            ),
            ZisError::Transient {
                reason: "zis answered HTTP 500: Name: is too short".to_owned()
            }
        );
        assert_eq!(
            classify(
                400,
                r#"{"error":"RecordInvalid","description":"Name: is too short"}"#
            ),
            ZisError::Invalid {
                code: "RecordInvalid".to_owned(),
                title: "Name: is too short".to_owned()
            }
        );
        assert_eq!(
            classify(403, r#"{"error":{"title":"Forbidden","message":"nope"}}"#),
            ZisError::Forbidden {
                title: "Forbidden".to_owned()
            }
        );
        assert_eq!(
            classify(403, "\u{0}\u{1}garbage"),
            ZisError::Forbidden {
                title: "garbage".to_owned()
            }
        );
        assert_eq!(
            classify(403, ""),
            ZisError::Forbidden {
                title: "Forbidden".to_owned()
            }
        );
    }

    #[test]
    fn non_utf8_and_huge_error_bodies_give_short_messages() {
        let redactor = Redactor::new([]);
        let err = classify_failure(
            StatusCode::BAD_REQUEST,
            &HeaderMap::new(),
            &[0xff, 0xfe, 0x00],
            CAP,
            &redactor,
        );
        assert_eq!(
            err,
            ZisError::Invalid {
                code: "Http400".to_owned(),
                title: "Bad Request".to_owned()
            }
        );
        let huge = "x".repeat(100_000);
        match classify(400, &huge) {
            ZisError::Invalid { title, .. } => assert!(title.chars().count() <= 201),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn secrets_echoed_by_the_server_are_redacted_from_errors() {
        let err = classify(
            400,
            r#"{"errors":[{"code":"Bad SECRET-TOKEN-123","title":"token SECRET-TOKEN-123 is bad"}]}"#,
        );
        assert!(!format!("{err} {err:?}").contains("SECRET-TOKEN-123"));
        let err = classify(500, "echo: SECRET-TOKEN-123");
        assert!(!format!("{err} {err:?}").contains("SECRET-TOKEN-123"));
    }

    #[test]
    fn redirects_are_reported_as_a_configuration_problem() {
        assert!(matches!(
            classify(301, ""),
            ZisError::Invalid { code, .. } if code == "UnexpectedRedirect"
        ));
    }

    #[test]
    fn retry_after_accepts_seconds_fractions_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(
            retry_after(&headers(" 2 "), now),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            retry_after(&headers("1.5"), now),
            Some(Duration::from_millis(1500))
        );
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:47 GMT"), now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            retry_after(&headers("Sun, 06 Nov 1994 08:49:27 GMT"), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&headers("-3"), now), None);
        assert_eq!(retry_after(&headers("1e400"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn a_429_waits_the_default_when_unsaid_and_never_beyond_the_cap() {
        let redactor = Redactor::new([]);
        let classify_429 = |headers: &HeaderMap| {
            classify_failure(
                StatusCode::TOO_MANY_REQUESTS,
                headers,
                b"",
                Duration::from_secs(60),
                &redactor,
            )
        };
        assert_eq!(
            classify_429(&HeaderMap::new()),
            ZisError::RateLimited {
                retry_after: DEFAULT_RETRY_AFTER
            }
        );
        assert_eq!(
            classify_429(&headers("3")),
            ZisError::RateLimited {
                retry_after: Duration::from_secs(3)
            }
        );
        assert_eq!(
            classify_429(&headers("86400")),
            ZisError::RateLimited {
                retry_after: Duration::from_secs(60)
            }
        );
    }

    #[test]
    fn rate_limit_headers_are_read_only_when_both_are_numbers() {
        let with = |pairs: &[(&'static str, &str)]| {
            let mut headers = HeaderMap::new();
            for (name, value) in pairs {
                headers.insert(*name, HeaderValue::from_str(value).expect("valid header"));
            }
            rate_limit(&headers)
        };
        assert_eq!(
            with(&[("x-rate-limit", "700"), ("x-rate-limit-remaining", " 699 ")]),
            Some((700, 699))
        );
        assert_eq!(with(&[("x-rate-limit", "700")]), None);
        assert_eq!(with(&[("x-rate-limit-remaining", "5")]), None);
        assert_eq!(
            with(&[("x-rate-limit", "700"), ("x-rate-limit-remaining", "-1")]),
            None
        );
        assert_eq!(
            with(&[("x-rate-limit", "lots"), ("x-rate-limit-remaining", "1")]),
            None
        );
    }

    #[test]
    fn unreadable_success_bodies_are_transient() {
        let redactor = Redactor::new([]);
        let parsed: Result<serde_json::Value, _> = parse_success(b"{not json", "show", &redactor);
        assert!(matches!(parsed, Err(ZisError::Transient { .. })));
    }
}
