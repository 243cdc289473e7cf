//! Named sets of event types to hand to [`crate::Probe::set_event_types`].
//!
//! The daemon derives the set it needs from the loaded rules; these sets
//! serve the defaults, tests and benchmarks.

use kestrel_event::{EventType, EVENTS};

/// Events the engine's process table needs whatever the rules say: process
/// creation, image changes, exits, working directory and credential changes.
pub const PROCESS_STATE: &[&str] = &[
    "execve",
    "execveat",
    "procfork",
    "procexit",
    "clone",
    "clone3",
    "fork",
    "vfork",
    "chdir",
    "fchdir",
    "chroot",
    "setuid",
    "setgid",
    "setresuid",
    "setresgid",
    "setreuid",
    "setregid",
    "setsid",
    "setpgid",
    "capset",
    "prctl",
];

/// The event types Falco's stable rules (falco_rules.yaml) compare
/// `evt.type` with, plus `close` to pair with the opens.
pub const FALCO_STABLE_RULES: &[&str] = &[
    "open",
    "openat",
    "openat2",
    "close",
    "execve",
    "execveat",
    "connect",
    "sendto",
    "sendmsg",
    "socket",
    "symlink",
    "symlinkat",
    "link",
    "linkat",
    "init_module",
    "finit_module",
    "dup",
    "dup2",
    "dup3",
    "ptrace",
    "memfd_create",
];

/// Resolves names into event types; unknown names are skipped (the sets
/// above only hold known names, a test checks it).
pub fn by_names(names: &[&str]) -> Vec<EventType> {
    let mut v: Vec<EventType> = names
        .iter()
        .filter_map(|n| EventType::from_name(n))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Every event type the kernel probe can produce (all but the synthetic
/// `procinfo`).
pub fn all_kernel() -> Vec<EventType> {
    EVENTS
        .iter()
        .map(|e| e.ty)
        .filter(|t| *t != EventType::PROCINFO)
        .collect()
}

/// Event types every process makes constantly (I/O, waits, memory, stat
/// and id queries): captured when a rule or filter names them, left out of
/// the unfiltered `kestrel capture` default ([`all_but_high_volume`]), where
/// a reader of the capture's own output would feed it its own reads.
pub const HIGH_VOLUME: &[&str] = &[
    "read",
    "write",
    "pread",
    "pwrite",
    "readv",
    "writev",
    "preadv",
    "pwritev",
    "futex",
    "poll",
    "ppoll",
    "select",
    "epoll_wait",
    "nanosleep",
    "brk",
    "mmap",
    "munmap",
    "mprotect",
    "lseek",
    "ioctl",
    "stat",
    "lstat",
    "fstat",
    "newfstatat",
    "access",
    "getdents",
    "getdents64",
    "getuid",
    "geteuid",
    "getgid",
    "getegid",
    "getrlimit",
    "prlimit",
    "getsockname",
    "getpeername",
];

/// Every kernel event type but the [`HIGH_VOLUME`] ones.
pub fn all_but_high_volume() -> Vec<EventType> {
    all_kernel()
        .into_iter()
        .filter(|t| !HIGH_VOLUME.contains(&t.name()))
        .collect()
}

/// The realistic default: Falco's stable rules plus process state.
pub fn falco_stable_with_state() -> Vec<EventType> {
    let mut v = by_names(FALCO_STABLE_RULES);
    v.extend(by_names(PROCESS_STATE));
    v.sort();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_is_known() {
        for n in PROCESS_STATE
            .iter()
            .chain(FALCO_STABLE_RULES)
            .chain(HIGH_VOLUME)
        {
            assert!(EventType::from_name(n).is_some(), "{n}");
        }
    }

    #[test]
    fn getppid_is_not_in_the_default_set() {
        let set = falco_stable_with_state();
        assert!(set
            .iter()
            .all(|t| t.info().and_then(|i| i.nr_x86_64) != Some(110)));
        assert!(set.contains(&EventType::from_name("openat").unwrap()));
        assert!(!all_kernel().contains(&EventType::PROCINFO));
    }
}
