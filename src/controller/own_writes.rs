//! The versions of objects that this process's own status writes made, so that the watch's echo
//! of such a write wakes no reconcile: the reconcile that wrote it decided already, knowing what
//! it wrote, and any other writer's change comes as a version of its own. Of a new object's four
//! reconciles, two were such echoes (the finalizer's echo still wakes one: kube's finalizer
//! helper relies on it).
//!
//! One exception: a reconcile woken by something else (a Secret, the drift watch) may find the
//! cache still one of our writes behind, and waits for the newer copy instead of reading it
//! (`apply::fresh`). Then the echo is let through ([`OwnWrites::wait_for_echo`]).

use std::collections::HashMap;
use std::sync::Mutex;

use kube::runtime::reflector::ObjectRef;

use crate::resource::ZisBearerConnection;

type Object = ZisBearerConnection;

/// Most versions kept for one object: an echo that outran the answer to its write is noted after
/// it passed, and only a later echo (or the object's deletion, or a relist) forgets it.
const MOST_UNSEEN: usize = 4;

/// The digest of a `resourceVersion`, as the object cache and this record keep it.
pub fn version_digest(version: &str) -> u64 {
    crate::digest::of(&version)
}

/// Per object, the versions our status writes made whose echoes the watch has not brought yet.
#[derive(Debug, Default)]
pub struct OwnWrites {
    unseen: Mutex<HashMap<ObjectRef<Object>, Unseen>>,
}

#[derive(Debug, Default)]
struct Unseen {
    /// Oldest first; the last is the latest write.
    versions: Vec<u64>,
    /// A reconcile holds a copy older than the latest write and waits for its echo.
    waited_for: bool,
}

impl OwnWrites {
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that a status write of `key` made `version`.
    pub(super) fn wrote(&self, key: &ObjectRef<Object>, version: &str) {
        let mut unseen = self.lock();
        let versions = &mut unseen.entry(key.clone()).or_default().versions;
        if versions.len() == MOST_UNSEEN {
            versions.remove(0);
        }
        versions.push(version_digest(version));
    }

    /// Whether the watch's copy of `key` at `version` (a digest) is the echo of one of our own
    /// writes that no reconcile waits for. The writes up to that one are forgotten: the watch
    /// brings an object's versions in order, so their echoes have passed.
    pub fn is_unwaited_echo(&self, key: &ObjectRef<Object>, version: u64) -> bool {
        let mut unseen = self.lock();
        let Some(entry) = unseen.get_mut(key) else {
            return false;
        };
        let Some(position) = entry.versions.iter().position(|v| *v == version) else {
            return false;
        };
        entry.versions.drain(..=position);
        if !entry.versions.is_empty() {
            // An older write's echo: the latest one is still to come.
            return true;
        }
        let waited_for = entry.waited_for;
        unseen.remove(key);
        !waited_for
    }

    /// For a reconcile holding a copy of `key` older than the latest status write: whether that
    /// write's echo is still to come, in which case it will wake the object. `false` when it came
    /// already (or was lost to a restarted watch): the copy must be read again.
    pub(super) fn wait_for_echo(&self, key: &ObjectRef<Object>) -> bool {
        let mut unseen = self.lock();
        match unseen.get_mut(key) {
            Some(entry) if !entry.versions.is_empty() => {
                entry.waited_for = true;
                true
            }
            _ => false,
        }
    }

    /// The object is gone: nothing more comes from the watch.
    pub fn forget(&self, key: &ObjectRef<Object>) {
        self.lock().remove(key);
    }

    /// The watch lists again and brings only the latest versions: echoes not seen are lost.
    pub fn forget_all(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ObjectRef<Object>, Unseen>> {
        // A poisoned lock only means a panic elsewhere mid-update of plain vectors.
        self.unseen.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> ObjectRef<Object> {
        ObjectRef::new(name).within("team")
    }

    #[test]
    fn the_echo_of_our_write_wakes_nobody_and_other_versions_do() {
        let writes = OwnWrites::new();
        writes.wrote(&key("a"), "10");
        assert!(!writes.is_unwaited_echo(&key("a"), version_digest("9")));
        assert!(!writes.is_unwaited_echo(&key("b"), version_digest("10")));
        assert!(writes.is_unwaited_echo(&key("a"), version_digest("10")));
        // Seen once: a later copy at the same version (a relist) is no echo.
        assert!(!writes.is_unwaited_echo(&key("a"), version_digest("10")));
    }

    #[test]
    fn the_echo_of_an_earlier_write_passes_over_it_and_wakes_nobody() {
        let writes = OwnWrites::new();
        writes.wrote(&key("a"), "10");
        writes.wrote(&key("a"), "11");
        assert!(writes.is_unwaited_echo(&key("a"), version_digest("11")));
        // The echo of the first write came after (or never): no longer expected.
        assert!(!writes.is_unwaited_echo(&key("a"), version_digest("10")));
        assert!(!writes.wait_for_echo(&key("a")));
    }

    #[test]
    fn a_reconcile_waiting_for_the_latest_echo_is_woken_by_it_only() {
        let writes = OwnWrites::new();
        writes.wrote(&key("a"), "10");
        writes.wrote(&key("a"), "11");
        assert!(writes.wait_for_echo(&key("a")));
        assert!(
            writes.is_unwaited_echo(&key("a"), version_digest("10")),
            "the first write's echo brings a copy still older than the latest write"
        );
        assert!(
            !writes.is_unwaited_echo(&key("a"), version_digest("11")),
            "the awaited echo must wake the object"
        );
    }

    #[test]
    fn an_echo_that_came_already_is_not_waited_for() {
        let writes = OwnWrites::new();
        assert!(!writes.wait_for_echo(&key("a")), "nothing written");
        writes.wrote(&key("a"), "10");
        assert!(writes.is_unwaited_echo(&key("a"), version_digest("10")));
        assert!(!writes.wait_for_echo(&key("a")));
    }

    #[test]
    fn a_relist_or_a_deletion_forgets_the_echoes_not_seen() {
        let writes = OwnWrites::new();
        writes.wrote(&key("a"), "10");
        writes.wrote(&key("b"), "20");
        writes.forget(&key("a"));
        assert!(!writes.wait_for_echo(&key("a")));
        assert!(writes.wait_for_echo(&key("b")));
        writes.forget_all();
        assert!(!writes.wait_for_echo(&key("b")));
        assert!(!writes.is_unwaited_echo(&key("b"), version_digest("20")));
    }

    #[test]
    fn only_the_latest_writes_are_kept() {
        let writes = OwnWrites::new();
        for version in 1..=10 {
            writes.wrote(&key("a"), &version.to_string());
        }
        assert!(!writes.is_unwaited_echo(&key("a"), version_digest("6")));
        assert!(writes.is_unwaited_echo(&key("a"), version_digest("7")));
        assert!(writes.is_unwaited_echo(&key("a"), version_digest("10")));
    }
}
