//! Reading status conditions the way kstatus and `kubectl wait` do, and checking text for secrets.

use serde_json::Value;

/// The condition `type_` of an object, if set.
pub fn condition<'a>(object: &'a Value, type_: &str) -> Option<&'a Value> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == type_)
}

/// Ok when condition `type_` has `status` and `reason` and was set for the current generation.
pub fn check_condition(
    object: &Value,
    type_: &str,
    status: &str,
    reason: &str,
) -> Result<(), String> {
    let generation = &object["metadata"]["generation"];
    let found = condition(object, type_)
        .ok_or_else(|| format!("no {type_} condition; status {}", object["status"]))?;
    if found["status"] != status || found["reason"] != reason {
        return Err(format!("{type_} is {found}"));
    }
    if &found["observedGeneration"] != generation {
        return Err(format!(
            "{type_} is {found} but the generation is {generation}"
        ));
    }
    if type_ == "Ready" && status == "True" && &object["status"]["observedGeneration"] != generation
    {
        return Err(format!(
            "status.observedGeneration is {} but the generation is {generation}",
            object["status"]["observedGeneration"]
        ));
    }
    Ok(())
}

/// Panics if any of `secrets` occurs in `text`.
pub fn assert_no_secret(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(
            !secret.is_empty() && !text.contains(secret),
            "a secret ({}...) appears in {what}",
            &secret[..secret.len().min(8)]
        );
    }
}
