//! Digests of values the operator only compares (event keys, what the index and a drift listing
//! hold): 8 bytes instead of the strings, where thousands are kept. The same value gives the same
//! digest within a process; nothing stores them across restarts.

use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};

/// The digest of `value`.
pub fn of(value: &impl Hash) -> u64 {
    let mut hasher = DefaultHasher::new();
    value.hash(&mut hasher);
    hasher.finish()
}

/// The digest of `value`'s JSON, hashed as it is written (no buffer); `None` when it cannot be
/// serialized.
pub fn of_json(value: &impl serde::Serialize) -> Option<u64> {
    let mut hasher = HashWriter(DefaultHasher::new());
    serde_json::to_writer(&mut hasher, value).ok()?;
    Some(hasher.0.finish())
}

/// Feeds what is written to a hasher.
struct HashWriter(DefaultHasher);

impl std::io::Write for HashWriter {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.write(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_json_gives_equal_digests_and_a_change_another() {
        let a = serde_json::json!({"reason": "Synced", "generation": 1});
        let same = serde_json::json!({"reason": "Synced", "generation": 1});
        let other = serde_json::json!({"reason": "Synced", "generation": 2});
        assert_eq!(of_json(&a), of_json(&same));
        assert!(of_json(&a).is_some());
        assert_ne!(of_json(&a), of_json(&other));
    }
}
