//! A larger per-thread cache for glibc's allocator, set before the operator starts.
//!
//! glibc's malloc keeps at most 7 freed blocks of each size per thread before it falls back to its
//! shared bins. The operator allocates and frees many small blocks per watch event (parsing,
//! trimming, compressing the object for the cache), so with the default most frees go to the
//! bins, and sorting the bins costs more the larger the heap: at 10,000 connections the allocator
//! was the only part of the operator's CPU per connection that grew with the number of
//! connections. A cache of 128 blocks a size keeps those frees thread-local.
//!
//! glibc reads this setting only from the `GLIBC_TUNABLES` environment variable when a process
//! starts (there is no `mallopt` for it), so [`apply`] sets it and executes the same program again
//! in the same process (the PID, arguments and everything else stay). An operator whose
//! environment already names `glibc.malloc.tcache_count` is left as it is: that is how to choose
//! another value, or the default (`GLIBC_TUNABLES=glibc.malloc.tcache_count=7`).

/// The tunable and the value the operator runs with.
const TCACHE_COUNT: &str = "glibc.malloc.tcache_count";
const TCACHE_COUNT_VALUE: &str = "128";

/// The `GLIBC_TUNABLES` value to run with, or `None` when the current one already chooses the
/// cache size (or cannot be read as text, so cannot be extended safely).
pub fn tunables_with_thread_cache(current: Option<&std::ffi::OsStr>) -> Option<String> {
    let setting = format!("{TCACHE_COUNT}={TCACHE_COUNT_VALUE}");
    let Some(current) = current else {
        return Some(setting);
    };
    let current = current.to_str()?;
    let already_chosen = current
        .split(':')
        .any(|tunable| tunable.split('=').next() == Some(TCACHE_COUNT));
    match (already_chosen, current.is_empty()) {
        (true, _) => None,
        (false, true) => Some(setting),
        (false, false) => Some(format!("{current}:{setting}")),
    }
}

/// Runs this program again with the larger thread cache, unless the environment already chooses
/// one. Call it first thing in `main`, while the process has one thread: it returns only when no
/// new program was started (already set, not glibc, or the exec failed, in which case the
/// operator runs on with glibc's defaults, which are correct, only slower).
pub fn apply() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;

        let Some(tunables) =
            tunables_with_thread_cache(std::env::var_os("GLIBC_TUNABLES").as_deref())
        else {
            return;
        };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_default();
        // `/proc/self/exe` is this very binary, even when argv[0] is a bare name from the PATH.
        let _exec_failed = std::process::Command::new("/proc/self/exe")
            .arg0(arg0)
            .args(args)
            .env("GLIBC_TUNABLES", tunables)
            .exec();
    }
}

#[cfg(test)]
mod tests {
    use super::tunables_with_thread_cache;
    use std::ffi::OsStr;

    #[test]
    fn sets_the_cache_size_when_nothing_is_tuned() {
        assert_eq!(
            tunables_with_thread_cache(None).as_deref(),
            Some("glibc.malloc.tcache_count=128")
        );
        assert_eq!(
            tunables_with_thread_cache(Some(OsStr::new(""))).as_deref(),
            Some("glibc.malloc.tcache_count=128")
        );
    }

    #[test]
    fn keeps_other_tunables_and_adds_the_cache_size() {
        assert_eq!(
            tunables_with_thread_cache(Some(OsStr::new("glibc.malloc.arena_max=2"))).as_deref(),
            Some("glibc.malloc.arena_max=2:glibc.malloc.tcache_count=128")
        );
    }

    #[test]
    fn leaves_a_chosen_cache_size_alone() {
        // Also what keeps the program from executing itself again and again.
        for chosen in [
            "glibc.malloc.tcache_count=7",
            "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0",
        ] {
            assert_eq!(
                tunables_with_thread_cache(Some(OsStr::new(chosen))),
                None,
                "{chosen}"
            );
        }
        // A name that only starts like it is another tunable.
        assert!(
            tunables_with_thread_cache(Some(OsStr::new("glibc.malloc.tcache_count_x=1"))).is_some()
        );
    }
}
