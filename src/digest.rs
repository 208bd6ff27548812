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
