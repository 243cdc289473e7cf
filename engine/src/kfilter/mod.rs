//! The kernel-side interest filter: a conservative predicate per event
//! type, derived from the loaded rules, that the probe evaluates before an
//! event enters its ring.
//!
//! # What and why
//!
//! Most traced syscalls can never match an enabled rule (an `O_RDONLY`
//! `openat` of a file below `/tmp` when the rules only care about reads of
//! credential files and writes below `/etc`), yet each costs a ring record
//! and the worker's decode, attribution and matching. [`KernelFilter::derive`]
//! abstracts every enabled rule's condition, per event type, into a short
//! disjunction of [`Clause`]s over what the probe can test cheaply at
//! `sys_exit`: the return value's sign, the open flags, the opened path
//! (exact paths and prefixes in an LPM trie) and the task's comm. An event
//! that satisfies no clause of its type is dropped in the kernel.
//!
//! The filter is **conservative**: every event that some enabled rule
//! matches in userspace passes it (a false positive costs a record; a false
//! negative is a blind spot an attacker can aim for). [`KernelFilter::passes`]
//! is exactly the predicate the probe evaluates, and the differential tests
//! (`conservative.rs`) hold it against the real matcher on real
//! [`LiveEvent`](crate::fields::live::LiveEvent)s built from wire records,
//! for Falco's three reference files, kestrel's default rules and random
//! rules, with adversarial paths (`/etc/./shadow`, `//etc/shadow`, relative
//! paths under a cwd, long paths).
//!
//! # Design
//!
//! Derivation (module `derive`): the condition is put in negation normal
//! form on the fly; each leaf check becomes a small disjunction of abstract
//! clauses that it implies (for the event type at hand), `and` is the
//! clause-wise meet and `or` the union, bounded by merging the most similar
//! clauses (the join only ever widens). How each leaf is abstracted follows
//! kestrel's field semantics (`fields/live.rs`), not Falco's documentation:
//!
//! - fields that are a function of the return value and the open flags only
//!   (`evt.res`, `evt.rawres`, `evt.failed`, `fd.num`, `evt.is_open_*`,
//!   `evt.arg.flags`, `fd.typechar`, `fd.type`) are evaluated by the
//!   reference interpreter ([`crate::matcher::interp`]) on every point of a
//!   finite domain that covers all their behaviours (all combinations of the
//!   flag bits the rendering reads; every errno and the breakpoints of the
//!   rule's own numeric literals), and the satisfying points are summarised
//!   into return-sign and flag constraints;
//! - path fields of the open family (`fd.name`, `fd.nameraw`, `evt.arg.name`,
//!   `fd.directory`, ...) give exact paths and prefixes, but only for paths
//!   the kernel can test: [`kernel_testable_path`] accepts exactly the
//!   absolute paths that userspace leaves unchanged, so for them every path
//!   field's value is known; anything else passes every path constraint;
//! - `proc.name` `=`/`in` gives comm sets (see "comm" below);
//! - the event type's own constants (`evt.type`, `evt.category`, ...) fold
//!   to true or false;
//! - everything else is "unconstrained".
//!
//! Assembly: per event type the clauses of all rules are deduplicated and
//! merged down to [`MAX_CLAUSES`]; distinct path and comm sets get one bit
//! each (merged, always by union, when there are more than [`MAX_SETS`]).
//!
//! # Comm: main threads only (a change to the first contract)
//!
//! `proc.name` is the *process's* name: for an event of a thread other than
//! the main one, kestrel takes the name its process table keeps for the
//! main thread (`LiveEvent::self_comm`), and the table learns a new name
//! only from the main thread's own events (or an exec, a fork, the /proc
//! scan). A leader that renamed itself (`prctl(PR_SET_NAME)`, a write to
//! `/proc/<pid>/comm`) and then stays quiet, or an exec the worker has not
//! applied yet, leaves the table's name stale: userspace matches
//! `proc.name = old` while neither the thread's nor the leader's current
//! comm is `old`. Comm constraints are therefore applied to main-thread
//! events only ([`KView::main_thread`], `tid == tgid`), where `proc.name` is
//! exactly the header's comm; other threads' comm is "unknown" and passes.
//! [`DeriveOptions::comm_sets`] turns comm constraints off altogether.
//!
//! # Alternatives rejected
//!
//! - Hand-written selectors (Tetragon's way): every rule change would need a
//!   matching kernel change, and nothing proves the two agree.
//! - Exact per-rule evaluation in the kernel: the verifier bounds loops and
//!   program size, and most rule fields (ancestors, containers, users) are
//!   userspace state anyway. A few cheap attributes remove most traffic.
//! - Substring and suffix sets in the kernel: a byte scan per pattern per
//!   event; prefixes in an LPM trie cost one lookup. Rules whose only path
//!   test is `endswith`/`contains` pass every path (see the report test).
//! - Testing the normalised path in the kernel: normalising `..` needs the
//!   cwd and a stack; instead, syntactically unusual paths are "unknown".

mod derive;

#[cfg(test)]
mod conservative;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;

use crate::event::flags::kernel_o;
use crate::event::table::fcntl_cmd;
use crate::event::table::EVENT_ID_LIMIT;
use crate::event::{EventType, RawEvent};
use crate::matcher::RuleSet;
use crate::rules::Rule;

/// Position of fcntl's `cmd` parameter.
const FCNTL_CMD: usize = 1;

/// Clauses per event type the kernel evaluates.
pub const MAX_CLAUSES: usize = 8;
/// Path sets and comm sets: bits in a `u64` mask.
pub const MAX_SETS: usize = 64;
/// Longest path (bytes, no NUL) the kernel tests; longer paths are unknown.
pub const KPATH_MAX: usize = 254;
/// Most path-trie entries one filter uses: half the probe's trie
/// (`kst_fpath`, 8192 entries), which holds the filter in force and the
/// one being installed. Past it, the largest path sets stop constraining.
pub const MAX_PATH_ENTRIES: usize = 4096;
/// Most comm entries one filter uses: half the probe's `kst_fcomm` (2048).
pub const MAX_COMM_ENTRIES: usize = 1024;

/// The open flags `creat(2)` implies (what the probe reports as the flags
/// of a `creat` event).
pub const CREAT_FLAGS: u32 = (kernel_o::CREAT | kernel_o::WRONLY | kernel_o::TRUNC) as u32;

/// The filter for every event type, with the maps the probe loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KernelFilter {
    /// Indexed by event type id (`EventType.0 as usize`, `0..EVENT_ID_LIMIT`).
    pub types: Vec<TypeFilter>,
    /// Per event type id: the rules (positions in the order the filter was
    /// derived from, [`RuleSet::enabled_rules`] for [`KernelFilter::derive`])
    /// that the filter cannot constrain on that type: every event of it
    /// may match them. Every other rule of the type can match only events
    /// that satisfy one of the type's clauses ([`KernelFilter::selected`]).
    pub always: Vec<Vec<u32>>,
    /// Path patterns for the kernel's LPM trie. `mask` is already closed
    /// over shorter prefixes: it includes the own bits of every non-exact
    /// entry whose pattern is a prefix of this pattern (so the longest
    /// matching entry's mask holds every set the path belongs to).
    pub paths: Vec<PathEntry>,
    /// Comm (16-byte task name) -> mask of comm sets.
    pub comms: Vec<CommEntry>,
    /// The path sets by bit: `path_sets[i]` lists the patterns of set `i`
    /// (for [`KernelFilter::describe`] and tests; the kernel does not need
    /// it). A set may be empty: a clause that only unknown paths satisfy.
    pub path_sets: Vec<Vec<PathPattern>>,
    /// The comm sets by bit, NUL-padded like `task->comm`.
    pub comm_sets: Vec<Vec<[u8; 16]>>,
}

/// What the probe does with one event type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeFilter {
    /// No enabled rule can match this type (the daemon decides separately
    /// whether process/socket state still needs it).
    Nothing,
    /// Every event of the type must reach userspace.
    PassAll,
    /// An event reaches userspace if any clause holds (1..=MAX_CLAUSES).
    Clauses(Vec<Clause>),
    /// Every event reaches userspace (some rule needs them all: see
    /// [`KernelFilter::always`]), marked by whether a clause holds: the
    /// other rules of the type can match only marked events.
    Mark(Vec<Clause>),
}

/// One conjunction of kernel-testable conditions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Clause {
    /// Return value condition.
    pub ret: RetCond,
    /// Open family: bit `i` set = access mode `i`
    /// (`flags & O_ACCMODE == i`) allowed; `0b1111` = any. fcntl: bit 1
    /// allows `F_DUPFD` and `F_DUPFD_CLOEXEC`, bit 0 every other command
    /// (see [`KView::flags`]).
    pub acc_modes: u8,
    /// Open family only: if nonzero, `(flags & flags_any) != 0` required
    /// (Linux x86-64 `O_*` values).
    pub flags_any: u32,
    /// Open family only: `(flags & flags_none) == 0` required.
    pub flags_none: u32,
    /// 0 = no path constraint; else `(path's mask & path_mask) != 0`, or the
    /// path is unknown.
    pub path_mask: u64,
    /// 0 = no comm constraint; else, for a main-thread event,
    /// `((mask(thread comm) | mask(leader comm)) & comm_mask) != 0`; other
    /// threads' comm is unknown and passes (see the module docs).
    pub comm_mask: u64,
}

/// The return value condition of a clause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RetCond {
    /// Any return value.
    Any,
    /// `ret >= 0`.
    Success,
    /// `ret < 0`.
    Failure,
}

/// One entry of the path trie.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathEntry {
    /// The path or prefix bytes (no NUL).
    pub pattern: Vec<u8>,
    /// Matches only the whole path (else: any path it is a byte prefix of).
    pub exact: bool,
    /// Sets the matching paths belong to (closed over shorter prefixes).
    pub mask: u64,
}

/// A member of a path set.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PathPattern {
    /// The path or prefix bytes.
    pub pattern: Vec<u8>,
    /// Whole path (else prefix).
    pub exact: bool,
}

/// One entry of the comm map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CommEntry {
    /// NUL-padded like `task->comm`.
    pub comm: [u8; 16],
    /// Sets this comm belongs to.
    pub mask: u64,
}

/// What the kernel sees of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KView<'a> {
    /// Event type.
    pub ty: EventType,
    /// Return value (as in the record header).
    pub ret: i64,
    /// Open family: open flags, the low 32 bits of what the record carries
    /// (creat: [`CREAT_FLAGS`]; openat2: `how.flags`). fcntl: the command
    /// class in the access-mode bits ([`fcntl_cmd::class`]: 1 for the
    /// commands that copy the descriptor, else 0).
    pub flags: Option<u32>,
    /// Open family: the raw user path string as passed to the syscall, the
    /// same bytes the record carries; `None` if not read.
    pub path: Option<&'a [u8]>,
    /// The thread's comm (event header); read once and used for both the
    /// filter and the header.
    pub comm: [u8; 16],
    /// The thread group leader's comm.
    pub leader_comm: [u8; 16],
    /// `tid == tgid`. Added to the first contract: comm constraints apply to
    /// main-thread events only (module docs).
    pub main_thread: bool,
}

impl<'a> KView<'a> {
    /// What the probe saw of the event `raw` was recorded from. The record
    /// has no leader comm; for a main thread it is the thread's own, and
    /// for other threads it does not matter (their comm is unknown to the
    /// filter), so the thread's comm stands in for it.
    pub fn of_record(raw: &RawEvent<'a>) -> KView<'a> {
        let open = raw.ty().open_params();
        let flags = match open {
            Some((_, Some(i))) => raw.param_u64(i).map(|f| f as u32),
            // creat has no flags parameter.
            Some((_, None)) => Some(CREAT_FLAGS),
            None if raw.ty() == EventType::FCNTL => raw
                .param_u64(FCNTL_CMD)
                .map(fcntl_cmd::class)
                // A record without its command: not a copy (userspace
                // sees no command either).
                .or(Some(0)),
            None => None,
        };
        let path = open
            .map(|(name, _)| raw.param(name))
            .filter(|p| !p.is_empty());
        KView {
            ty: raw.ty(),
            ret: raw.hdr.ret,
            flags,
            path,
            comm: raw.hdr.comm,
            leader_comm: raw.hdr.comm,
            main_thread: raw.hdr.tid == raw.hdr.tgid,
        }
    }
}

/// How [`KernelFilter::derive_with`] derives.
#[derive(Debug, Clone)]
pub struct DeriveOptions {
    /// Derive comm constraints from `proc.name` (default). Off, no clause
    /// constrains the comm, and [`KView::main_thread`] does not matter.
    pub comm_sets: bool,
}

impl Default for DeriveOptions {
    fn default() -> DeriveOptions {
        DeriveOptions { comm_sets: true }
    }
}

/// Whether `ty` is one of open, openat, openat2, creat: the types whose
/// flags and path the probe reads for the filter.
pub fn is_open_family(ty: EventType) -> bool {
    ty.open_params().is_some()
}

/// Whether the kernel may test this path against the trie: absolute, at
/// most [`KPATH_MAX`] bytes, and syntactically plain so that kestrel's
/// userspace path normalisation leaves it unchanged. Anything else is
/// "unknown" and passes every path constraint.
///
/// Plain means: starts with `/`; no `//`; no `/./`; no `../` anywhere (which
/// also rules out `/../`); no NUL; does not end with `/`, `/.` or `..`
/// (except `/` itself; `..` rather than `/..` because that is what the
/// probe tests, `probe/bpf/filter.h`). For such a path every path field of an open-family
/// event (`fd.name`, `fd.nameraw`, `evt.arg.name`, `fd.directory`, ...) is a
/// function of the path alone, whatever the cwd, the dirfd and the return
/// value (`state::paths::is_normal_absolute` is the userspace side).
///
/// `../` is excluded even inside a component (`/a../b`, a legal and rare
/// name) so that `fd.nameraw contains '../'`, Falco's directory traversal
/// test, is false for every testable path: that rule then needs only the
/// unknown paths instead of every read. In eBPF this is one forward scan
/// keeping the previous two bytes.
pub fn kernel_testable_path(p: &[u8]) -> bool {
    if p.first() != Some(&b'/') || p.len() > KPATH_MAX {
        return false;
    }
    if p.len() == 1 {
        return true;
    }
    // (b[i-2], b[i-1]) while scanning, as the probe does.
    let (mut prev2, mut prev1) = (0u8, 0u8);
    for &b in p {
        if b == 0 {
            return false;
        }
        // "//", "/./" and any "../".
        if b == b'/' && (prev1 == b'/' || (prev1 == b'.' && (prev2 == b'/' || prev2 == b'.'))) {
            return false;
        }
        prev2 = prev1;
        prev1 = b;
    }
    // A trailing "/", "/." or ".." (the probe's test: it also rejects a
    // plain name ending in "..", which is rare and merely unknown).
    let n = p.len();
    !(p[n - 1] == b'/' || (p[n - 1] == b'.' && matches!(p[n - 2], b'/' | b'.')))
}

/// `c` cut at its first NUL and NUL-padded: the key the comm map uses.
pub fn comm_key(c: &[u8]) -> [u8; 16] {
    let mut k = [0u8; 16];
    for (i, &b) in c.iter().take(16).enumerate() {
        if b == 0 {
            break;
        }
        k[i] = b;
    }
    k
}

impl KernelFilter {
    /// The filter for the enabled rules of a built ruleset.
    pub fn derive(rules: &RuleSet) -> KernelFilter {
        KernelFilter::derive_with(rules.enabled_rules(), &DeriveOptions::default())
    }

    /// The filter for `rules` (each assumed enabled).
    pub fn derive_with<'r>(
        rules: impl IntoIterator<Item = &'r Rule>,
        opts: &DeriveOptions,
    ) -> KernelFilter {
        derive::derive(rules, opts)
    }

    /// A filter that lets everything through (what to load when no
    /// ruleset is known yet).
    pub fn pass_all() -> KernelFilter {
        KernelFilter {
            types: vec![TypeFilter::PassAll; EVENT_ID_LIMIT],
            always: vec![Vec::new(); EVENT_ID_LIMIT],
            paths: Vec::new(),
            comms: Vec::new(),
            path_sets: Vec::new(),
            comm_sets: Vec::new(),
        }
    }

    /// Exactly the predicate the probe evaluates.
    pub fn passes(&self, v: &KView<'_>) -> bool {
        match self.types.get(v.ty.0 as usize) {
            // An id outside the table: nothing known, keep it.
            None | Some(TypeFilter::PassAll | TypeFilter::Mark(_)) => true,
            Some(TypeFilter::Nothing) => false,
            Some(TypeFilter::Clauses(cs)) => self.any_clause(cs, v),
        }
    }

    /// The mark the probe gives an event it emits: `Some(held)` when it
    /// evaluated the type's clauses (`held`: one of them did), `None` when
    /// the type passes whole or is not filtered. An event marked
    /// `Some(false)` can match only the type's [`KernelFilter::always`]
    /// rules.
    pub fn selected(&self, v: &KView<'_>) -> Option<bool> {
        match self.types.get(v.ty.0 as usize) {
            Some(TypeFilter::Clauses(cs) | TypeFilter::Mark(cs)) => Some(self.any_clause(cs, v)),
            _ => None,
        }
    }

    fn any_clause(&self, cs: &[Clause], v: &KView<'_>) -> bool {
        // Lookups at most once per event, as the probe would.
        let mut path_mask: Option<u64> = None;
        let mut comm_mask: Option<u64> = None;
        cs.iter().any(|c| {
            let ret_ok = match c.ret {
                RetCond::Any => true,
                RetCond::Success => v.ret >= 0,
                RetCond::Failure => v.ret < 0,
            };
            let flags_ok = match v.flags {
                None => true,
                Some(f) => {
                    c.acc_modes & (1 << (f & 3)) != 0
                        && (c.flags_any == 0 || f & c.flags_any != 0)
                        && f & c.flags_none == 0
                }
            };
            let path_ok = c.path_mask == 0
                || match v.path {
                    Some(p) if kernel_testable_path(p) => {
                        *path_mask.get_or_insert_with(|| self.lookup_path(p)) & c.path_mask != 0
                    }
                    _ => true,
                };
            let comm_ok = c.comm_mask == 0
                || !v.main_thread
                || *comm_mask.get_or_insert_with(|| {
                    self.lookup_comm(&v.comm) | self.lookup_comm(&v.leader_comm)
                }) & c.comm_mask
                    != 0;
            ret_ok && flags_ok && path_ok && comm_ok
        })
    }

    /// The longest matching entry's mask: an exact entry matches only the
    /// whole path; a non-exact entry matches any path it is a byte prefix
    /// of (at equal length the exact entry is the longer key); 0 if none.
    pub fn lookup_path(&self, p: &[u8]) -> u64 {
        let mut best: Option<(usize, bool, u64)> = None;
        for e in &self.paths {
            let hit = if e.exact {
                e.pattern == p
            } else {
                p.starts_with(&e.pattern)
            };
            if !hit {
                continue;
            }
            let better = match best {
                None => true,
                Some((len, exact, _)) => {
                    e.pattern.len() > len || (e.pattern.len() == len && e.exact && !exact)
                }
            };
            if better {
                best = Some((e.pattern.len(), e.exact, e.mask));
            }
        }
        best.map_or(0, |b| b.2)
    }

    /// The mask of comm sets `c` (cut at its first NUL) belongs to.
    pub fn lookup_comm(&self, c: &[u8; 16]) -> u64 {
        let k = comm_key(c);
        self.comms
            .binary_search_by(|e| e.comm.cmp(&k))
            .map_or(0, |i| self.comms[i].mask)
    }

    /// Counts of event types by filter kind: (nothing, pass all, clauses),
    /// over the types kestrel captures.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for (id, t) in self.types.iter().enumerate() {
            if EventType(id as u16).info().is_none() {
                continue;
            }
            match t {
                TypeFilter::Nothing => n.0 += 1,
                TypeFilter::PassAll => n.1 += 1,
                TypeFilter::Clauses(_) | TypeFilter::Mark(_) => n.2 += 1,
            }
        }
        n
    }

    /// Human-readable summary per event type, for logs and `--dry-run`.
    pub fn describe(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        let (nothing, all, clauses) = self.counts();
        lines.push(format!(
            "kernel filter: {clauses} event types with clauses, {all} pass all, {nothing} dropped; \
             {} path patterns in {} sets, {} comms in {} sets",
            self.paths.len(),
            self.path_sets.len(),
            self.comms.len(),
            self.comm_sets.len()
        ));
        let names = |want: fn(&TypeFilter) -> bool| -> Vec<&'static str> {
            self.types
                .iter()
                .enumerate()
                .filter(|(_, t)| want(t))
                .filter_map(|(id, _)| EventType(id as u16).info().map(|i| i.name))
                .collect()
        };
        let all_names = names(|t| *t == TypeFilter::PassAll);
        if !all_names.is_empty() {
            lines.push(format!("  pass all: {}", all_names.join(", ")));
        }
        for (id, t) in self.types.iter().enumerate() {
            let (TypeFilter::Clauses(cs) | TypeFilter::Mark(cs), Some(info)) =
                (t, EventType(id as u16).info())
            else {
                continue;
            };
            let how = if matches!(t, TypeFilter::Mark(_)) {
                format!(
                    ", every event passes (marked; {} rule(s) need them all)",
                    self.always.get(id).map_or(0, Vec::len)
                )
            } else {
                String::new()
            };
            lines.push(format!("  {}: {} clause(s){how}", info.name, cs.len()));
            for c in cs {
                lines.push(format!("    - {}", self.describe_clause(c)));
            }
        }
        let nothing_names = names(|t| *t == TypeFilter::Nothing);
        lines.push(format!(
            "  dropped ({}): {}",
            nothing_names.len(),
            nothing_names.join(", ")
        ));
        let mut out = lines.join("\n");
        out.push('\n');
        out
    }

    /// One clause as text: `ret>=0 acc=RDONLY|RDWR any=O_CREAT none=...
    /// path#0{/etc/shadow, /etc/pam.d/...} comm#1{bash, sh}`.
    pub fn describe_clause(&self, c: &Clause) -> String {
        let mut parts: Vec<String> = Vec::new();
        match c.ret {
            RetCond::Any => {}
            RetCond::Success => parts.push("ret>=0".into()),
            RetCond::Failure => parts.push("ret<0".into()),
        }
        if c.acc_modes != 0b1111 {
            const ACC: [&str; 4] = ["RDONLY", "WRONLY", "RDWR", "ACC3"];
            let m: Vec<&str> = (0..4)
                .filter(|i| c.acc_modes & (1 << i) != 0)
                .map(|i| ACC[i])
                .collect();
            parts.push(format!("acc={}", m.join("|")));
        }
        if c.flags_any != 0 {
            parts.push(format!("any={}", flag_names(c.flags_any)));
        }
        if c.flags_none != 0 {
            parts.push(format!("none={}", flag_names(c.flags_none)));
        }
        if c.path_mask != 0 {
            parts.push(self.describe_sets(c.path_mask, true));
        }
        if c.comm_mask != 0 {
            parts.push(self.describe_sets(c.comm_mask, false));
        }
        if parts.is_empty() {
            "any event".into()
        } else {
            parts.join(" ")
        }
    }

    fn describe_sets(&self, mask: u64, path: bool) -> String {
        const SHOWN: usize = 6;
        let mut out = Vec::new();
        for i in (0..64).filter(|i| mask & (1u64 << i) != 0) {
            let items: Vec<String> = if path {
                self.path_sets
                    .get(i)
                    .map(|s| {
                        s.iter()
                            .map(|p| {
                                let t = String::from_utf8_lossy(&p.pattern).into_owned();
                                if p.exact {
                                    t
                                } else {
                                    format!("{t}*")
                                }
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                self.comm_sets
                    .get(i)
                    .map(|s| {
                        s.iter()
                            .map(|c| {
                                String::from_utf8_lossy(&c[..])
                                    .trim_end_matches('\0')
                                    .to_string()
                            })
                            .collect()
                    })
                    .unwrap_or_default()
            };
            let more = items.len().saturating_sub(SHOWN);
            let mut shown = items.into_iter().take(SHOWN).collect::<Vec<_>>();
            if more > 0 {
                shown.push(format!("+{more}"));
            }
            let shown = shown.join(", ");
            out.push(format!(
                "{}#{i}{{{shown}}}",
                if path { "path" } else { "comm" }
            ));
        }
        out.join("|")
    }
}

/// Names of kernel open-flag bits, for descriptions.
fn flag_names(bits: u32) -> String {
    use kernel_o as o;
    const NAMES: &[(u64, &str)] = &[
        (o::CREAT, "O_CREAT"),
        (o::EXCL, "O_EXCL"),
        (o::NOCTTY, "O_NOCTTY"),
        (o::TRUNC, "O_TRUNC"),
        (o::APPEND, "O_APPEND"),
        (o::NONBLOCK, "O_NONBLOCK"),
        (o::DSYNC, "O_DSYNC"),
        (o::DIRECT, "O_DIRECT"),
        (o::LARGEFILE, "O_LARGEFILE"),
        (o::DIRECTORY, "O_DIRECTORY"),
        (o::NOFOLLOW, "O_NOFOLLOW"),
        (o::CLOEXEC, "O_CLOEXEC"),
        (o::SYNC_BIT, "__O_SYNC"),
        (o::TMPFILE_BIT, "__O_TMPFILE"),
    ];
    let mut rest = bits as u64;
    let mut out = Vec::new();
    for &(b, n) in NAMES {
        if rest & b != 0 {
            out.push(n.to_string());
            rest &= !b;
        }
    }
    if rest != 0 {
        out.push(format!("{rest:#o}"));
    }
    out.join("|")
}
