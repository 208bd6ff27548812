//! The switches of the fake that tests and users change at run time (`/_fake/settings`) or set
//! with command-line flags.

use serde::Serialize;
use serde_json::{Map, Value};

use super::response::ApiError;

/// Run-time switches.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// Whether PATCH may change `allowed_domain`; when false a PATCH with a different
    /// `allowed_domain` gets 400 `AllowedDomainImmutable`.
    pub patch_allowed_domain: bool,
    /// Requests per minute for the whole account (sliding one-minute window); `None` = unlimited.
    pub rate_limit_per_minute: Option<u32>,
    /// Delay added to every API answer after the request took effect, before the answer is sent.
    pub latency_ms: u64,
    /// Delay added, on top of `latency_ms`, to the answers of the token endpoint: a token granted
    /// (and the one it replaces deleted) reaches its client this much later.
    pub oauth_latency_ms: u64,
    /// Access tokens issued by `POST /oauth/tokens` live at most this many seconds, whatever was
    /// asked (the answer's `expires_in` says so); `None`: as asked.
    pub oauth_max_expires_in: Option<u64>,
    /// Likewise for refresh tokens (`refresh_token_expires_in`).
    pub oauth_max_refresh_token_expires_in: Option<u64>,
    /// Probability (0 to 1) that an API request is answered with a 5xx instead of taking effect.
    pub error_rate: f64,
    /// Probability (0 to 1) that the connection is closed without an answer after the request
    /// took effect.
    pub drop_rate: f64,
    /// Probability (0 to 1) that an API request is answered 429 with `Retry-After: 1` instead
    /// of taking effect (another app on the account used the budget).
    pub throttle_rate: f64,
    /// Up to this many milliseconds more, drawn at random per answer, on top of `latency_ms`.
    pub latency_jitter_ms: u64,
    /// Requests per minute that other apps on the account send, evenly spaced: they count
    /// against `rate_limit_per_minute` (so `X-Rate-Limit-Remaining` shows them) and are refused
    /// like anyone's when the window is full. 0 = none.
    pub other_apps_per_minute: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            patch_allowed_domain: true,
            rate_limit_per_minute: None,
            latency_ms: 0,
            oauth_latency_ms: 0,
            oauth_max_expires_in: None,
            oauth_max_refresh_token_expires_in: None,
            error_rate: 0.0,
            drop_rate: 0.0,
            throttle_rate: 0.0,
            latency_jitter_ms: 0,
            other_apps_per_minute: 0,
        }
    }
}

impl Settings {
    /// Checks the values a user may get wrong (probabilities) and normalizes a limit of 0 to
    /// "unlimited".
    pub fn validated(mut self) -> Result<Settings, String> {
        for (name, value) in [
            ("error_rate", self.error_rate),
            ("drop_rate", self.drop_rate),
            ("throttle_rate", self.throttle_rate),
        ] {
            if !(0.0..=1.0).contains(&value) {
                return Err(format!("{name} must be between 0 and 1"));
            }
        }
        if self.rate_limit_per_minute == Some(0) {
            self.rate_limit_per_minute = None;
        }
        for (name, cap) in [
            ("oauth_max_expires_in", self.oauth_max_expires_in),
            (
                "oauth_max_refresh_token_expires_in",
                self.oauth_max_refresh_token_expires_in,
            ),
        ] {
            if cap == Some(0) {
                return Err(format!("{name} must be at least 1 second, or null"));
            }
        }
        Ok(self)
    }

    /// Applies a partial JSON update (`PUT /_fake/settings`); unknown fields are refused so that
    /// a typo does not silently leave a switch unchanged.
    pub fn patched(&self, patch: &Map<String, Value>) -> Result<Settings, ApiError> {
        let mut next = self.clone();
        let invalid = |field: &str, expected: &str| {
            ApiError::invalid_body(format!("Field {field} must be {expected}"))
        };
        for (field, value) in patch {
            match field.as_str() {
                "patch_allowed_domain" => {
                    next.patch_allowed_domain =
                        value.as_bool().ok_or_else(|| invalid(field, "a boolean"))?;
                }
                "rate_limit_per_minute" => {
                    next.rate_limit_per_minute = match value {
                        Value::Null => None,
                        other => Some(
                            other
                                .as_u64()
                                .and_then(|n| u32::try_from(n).ok())
                                .ok_or_else(|| {
                                    invalid(field, "a 32-bit unsigned integer or null")
                                })?,
                        ),
                    };
                }
                "latency_ms" => {
                    next.latency_ms = value
                        .as_u64()
                        .ok_or_else(|| invalid(field, "an unsigned integer"))?;
                }
                "oauth_latency_ms" => {
                    next.oauth_latency_ms = value
                        .as_u64()
                        .ok_or_else(|| invalid(field, "an unsigned integer"))?;
                }
                "oauth_max_expires_in" | "oauth_max_refresh_token_expires_in" => {
                    let cap = match value {
                        Value::Null => None,
                        other => Some(
                            other
                                .as_u64()
                                .ok_or_else(|| invalid(field, "a number of seconds or null"))?,
                        ),
                    };
                    if field == "oauth_max_expires_in" {
                        next.oauth_max_expires_in = cap;
                    } else {
                        next.oauth_max_refresh_token_expires_in = cap;
                    }
                }
                "error_rate" => {
                    next.error_rate = value.as_f64().ok_or_else(|| invalid(field, "a number"))?;
                }
                "drop_rate" => {
                    next.drop_rate = value.as_f64().ok_or_else(|| invalid(field, "a number"))?;
                }
                "throttle_rate" => {
                    next.throttle_rate =
                        value.as_f64().ok_or_else(|| invalid(field, "a number"))?;
                }
                "latency_jitter_ms" => {
                    next.latency_jitter_ms = value
                        .as_u64()
                        .ok_or_else(|| invalid(field, "an unsigned integer"))?;
                }
                "other_apps_per_minute" => {
                    next.other_apps_per_minute = value
                        .as_u64()
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| invalid(field, "a 32-bit unsigned integer"))?;
                }
                other => {
                    return Err(ApiError::invalid_body(format!("Unknown setting {other}")));
                }
            }
        }
        next.validated().map_err(ApiError::invalid_body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            _ => panic!("not an object"),
        }
    }

    #[test]
    fn a_partial_update_changes_only_the_given_switches() {
        let settings = Settings::default();
        let next = settings
            .patched(&object(
                json!({"latency_ms": 5, "rate_limit_per_minute": 600, "oauth_latency_ms": 7}),
            ))
            .unwrap();
        assert_eq!(next.latency_ms, 5);
        assert_eq!(next.oauth_latency_ms, 7);
        assert_eq!(next.rate_limit_per_minute, Some(600));
        assert!(next.patch_allowed_domain);
        let unlimited = next
            .patched(&object(json!({"rate_limit_per_minute": null})))
            .unwrap();
        assert_eq!(unlimited.rate_limit_per_minute, None);
    }

    #[test]
    fn probabilities_outside_zero_to_one_and_unknown_switches_are_refused() {
        let settings = Settings::default();
        assert!(
            settings
                .patched(&object(json!({"error_rate": 1.5})))
                .is_err()
        );
        assert!(
            settings
                .patched(&object(json!({"drop_rate": -0.1})))
                .is_err()
        );
        assert!(settings.patched(&object(json!({"latency": 5}))).is_err());
        assert!(
            settings
                .patched(&object(json!({"latency_ms": "5"})))
                .is_err()
        );
    }

    #[test]
    fn token_lifetime_caps_are_seconds_or_null_never_zero() {
        let settings = Settings::default();
        let capped = settings
            .patched(&object(json!({"oauth_max_expires_in": 2})))
            .unwrap();
        assert_eq!(capped.oauth_max_expires_in, Some(2));
        assert_eq!(capped.oauth_max_refresh_token_expires_in, None);
        let uncapped = capped
            .patched(&object(json!({"oauth_max_expires_in": null})))
            .unwrap();
        assert_eq!(uncapped.oauth_max_expires_in, None);
        assert!(
            settings
                .patched(&object(json!({"oauth_max_refresh_token_expires_in": 0})))
                .is_err()
        );
        assert!(
            settings
                .patched(&object(json!({"oauth_max_expires_in": "2"})))
                .is_err()
        );
    }

    #[test]
    fn a_rate_limit_of_zero_means_unlimited() {
        let settings = Settings {
            rate_limit_per_minute: Some(0),
            ..Settings::default()
        };
        assert_eq!(settings.validated().unwrap().rate_limit_per_minute, None);
    }
}
