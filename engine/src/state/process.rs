//! The process table: one entry per process (keyed by tgid), seeded by the
//! /proc scan (`procinfo` records) and kept by fork, exec, exit and a few
//! state syscalls.
//!
//! # Concurrency
//! Entries are immutable `Arc<Process>` values in a papaya lock-free map.
//! Readers (every worker, for every event) take a map guard and clone an
//! `Arc`; no lock is taken. Writers build a modified copy and swap it in
//! with a compare-and-swap (`compute`), retrying on a concurrent change.
//! State changes are rare next to reads (a process execs once, chdirs a few
//! times, but opens thousands of files), so copy-on-write costs little.
//! The only locks are taken by writers on rare paths: the queue of exited
//! processes waiting for their grace period, and the capacity sweep.
//!
//! # Exec generations and cross-CPU ordering
//! Each event header carries `exec_gen` (the kernel's `self_exec_id`,
//! incremented by every exec and inherited by fork). An entry keeps its
//! last [`MAX_GENERATIONS`] images, each tagged with the generation it
//! belongs to. [`ProcessTable::attribution`] compares an event's generation
//! with the entry: equal to the newest image → `Ready`; newer than any image
//! → `Behind` (the exec event is still in another CPU's ring: defer);
//! older → `Ahead` (the event happened before an exec the table already
//! applied: use the older image, if kept).
//!
//! Deferral protocol (for the pipeline): a worker keeps its deferred events
//! in read order and an event waits behind an earlier deferred event of the
//! same process from the same ring (the kernel wrote them in that order).
//! Retry after the table changes; give up after a bounded time, then
//! extract anyway (image fields are then missing, never wrong). Exec
//! generations order images only: a `chdir` on one CPU and a relative
//! `open` on another can still be read in either order.
//!
//! The /proc scan cannot read
//! `self_exec_id`, so scanned images have an unknown generation, which
//! matches any event until the first exec or fork reveals it.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use papaya::{Compute, Operation};

use super::container::{container_from_cgroups, ContainerRef};
use super::paths;
use super::sockets::SocketCache;
use crate::event::table::exec;
use crate::event::wire::HF_SYNTHETIC;
use crate::event::{EventType, RawEvent};

/// Default number of entries.
pub const DEFAULT_CAPACITY: usize = 262_144;
/// Images kept per process (the current one and older ones for events that
/// were read after an exec they preceded).
pub const MAX_GENERATIONS: usize = 4;
/// How long (in event time) an exited process stays in the table so that
/// its late events, read from other CPUs' rings, still find it.
pub const DEFAULT_EXIT_GRACE_NS: u64 = 5_000_000_000;
/// Ancestor walks stop after this many steps (a loop guard on top of the
/// visited check).
pub const MAX_ANCESTOR_DEPTH: usize = 64;

/// What an exec (or the /proc scan) installed: the program image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Image {
    /// `comm` at exec time.
    pub comm: Box<[u8]>,
    /// `argv[0]`.
    pub exe: Box<[u8]>,
    /// `argv[1..]` joined by single spaces.
    pub args: Box<[u8]>,
    /// Resolved executable path.
    pub exepath: Box<[u8]>,
    /// Environment, NUL-separated entries (as on the wire).
    pub env: Box<[u8]>,
    /// Inode of the executable.
    pub exe_ino: u64,
    /// Executable inode ctime, epoch ns (0 = unknown).
    pub exe_ino_ctime: u64,
    /// Executable inode mtime, epoch ns (0 = unknown).
    pub exe_ino_mtime: u64,
    /// `EXE_*` flags.
    pub exe_flags: u64,
    /// Number of arguments after `argv[0]` (`proc.cmdnargs`; `args`
    /// cannot tell an argument with spaces from several).
    pub nargs: u32,
}

/// One image with the exec generation it belongs to and the working
/// directory the process had while running it.
#[derive(Debug, Clone)]
pub struct Generation {
    /// The generation; `None` for images from the /proc scan.
    pub exec_gen: Option<u64>,
    /// The image; `None` when a fork's parent was unknown.
    pub image: Option<Arc<Image>>,
    /// Current working directory (empty when unknown).
    pub cwd: Arc<[u8]>,
}

/// A process. Immutable once in the table; changes replace the entry.
#[derive(Debug)]
pub struct Process {
    /// Process id (kernel view).
    pub tgid: u32,
    /// Parent's tgid.
    pub ptgid: u32,
    /// Last known command name.
    pub comm: Box<[u8]>,
    /// Images, newest first (never empty).
    pub gens: Vec<Generation>,
    /// Session id (kernel view).
    pub sid: u32,
    /// Process group id (kernel view).
    pub pgid: u32,
    /// pid in its own namespace (0 = unknown).
    pub vpid: u32,
    /// Process group id in its own namespace (0 = unknown).
    pub vpgid: u32,
    /// Controlling tty device number.
    pub tty: u32,
    /// Start time, boot-clock ns (0 = unknown).
    pub start_ts: u64,
    /// Start time of the init process of its pid namespace, boot-clock ns.
    pub pidns_init_start_ts: u64,
    /// Inheritable capabilities.
    pub cap_inheritable: u64,
    /// Container.
    pub container: ContainerRef,
    /// Event time at which the leader exited.
    pub exited_ts: Option<u64>,
    last_seen: AtomicU64,
    /// Set once this value has been replaced in (or removed from) the
    /// table: a worker's [`ProcCache`] keeps using a cached entry only
    /// while this is false.
    superseded: AtomicBool,
}

impl Clone for Process {
    fn clone(&self) -> Self {
        Process {
            tgid: self.tgid,
            ptgid: self.ptgid,
            comm: self.comm.clone(),
            gens: self.gens.clone(),
            sid: self.sid,
            pgid: self.pgid,
            vpid: self.vpid,
            vpgid: self.vpgid,
            tty: self.tty,
            start_ts: self.start_ts,
            pidns_init_start_ts: self.pidns_init_start_ts,
            cap_inheritable: self.cap_inheritable,
            container: self.container.clone(),
            exited_ts: self.exited_ts,
            last_seen: AtomicU64::new(self.last_seen.load(Ordering::Relaxed)),
            superseded: AtomicBool::new(false),
        }
    }
}

impl Process {
    /// The current generation.
    pub fn current(&self) -> &Generation {
        &self.gens[0]
    }

    /// The current image, if known.
    pub fn image(&self) -> Option<&Arc<Image>> {
        self.gens[0].image.as_ref()
    }

    /// The generation an event with `exec_gen` belongs to, with its
    /// attribution.
    pub fn generation_for(&self, exec_gen: u64) -> (Attribution, Option<&Generation>) {
        let front = &self.gens[0];
        match front.exec_gen {
            None => return (Attribution::Ready, Some(front)),
            Some(g) if g == exec_gen => return (Attribution::Ready, Some(front)),
            Some(g) if exec_gen > g => return (Attribution::Behind, None),
            _ => {}
        }
        for gen in &self.gens[1..] {
            match gen.exec_gen {
                Some(g) if g == exec_gen => return (Attribution::Ahead, Some(gen)),
                // An older known image: the event's own exec lies between
                // it and a newer one and has not been applied yet (exec
                // generations grow by one per exec).
                Some(g) if g < exec_gen => return (Attribution::Behind, None),
                // A scanned image older than every known exec: the event
                // predates them all and the scan is the best we have.
                None => return (Attribution::Ahead, Some(gen)),
                _ => {}
            }
        }
        // Older than every image still kept.
        (Attribution::Ahead, None)
    }

    /// Whether this value is still the table's entry for its process
    /// (false once a change replaced it or the process was removed).
    pub fn is_current(&self) -> bool {
        !self.superseded.load(Ordering::Acquire)
    }

    fn mark_superseded(&self) {
        self.superseded.store(true, Ordering::Release);
    }

    /// Like [`Process::generation_for`], with the generation as an index
    /// into [`Process::gens`].
    pub fn generation_index_for(&self, exec_gen: u64) -> (Attribution, Option<usize>) {
        let (a, g) = self.generation_for(exec_gen);
        let idx = g.map(|g| {
            self.gens
                .iter()
                .position(|x| std::ptr::eq(x, g))
                .expect("generation_for returns one of the entry's generations")
        });
        (a, idx)
    }

    fn touch(&self, ts: u64) {
        // Store only when it moved by a second: avoids writing a shared
        // cache line on every event of a busy process.
        if ts > self.last_seen.load(Ordering::Relaxed) + 1_000_000_000 {
            self.last_seen.store(ts, Ordering::Relaxed);
        }
    }

    fn with_generation(&self, exec_gen: u64, f: impl FnOnce(&mut Generation)) -> Option<Process> {
        let mut p = self.clone();
        let idx = p
            .gens
            .iter()
            .position(|g| g.exec_gen.is_none_or(|x| x == exec_gen))?;
        f(&mut p.gens[idx]);
        Some(p)
    }
}

/// How an event relates to the table's view of its process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribution {
    /// The table is in sync with the event: use the current image.
    Ready,
    /// The event comes from an exec the table has not applied yet (the exec
    /// event is in another CPU's ring). The caller should defer the event
    /// and retry; if it gives up, image fields are missing.
    Behind,
    /// The event happened before an exec the table already applied: it is
    /// attributed to the older image (missing if no longer kept).
    Ahead,
    /// No entry for the process. A fork may not have been applied yet
    /// (defer like `Behind` for a bounded time), or the process was never
    /// seen (table full, started before the scan...): process fields are
    /// then missing.
    Unknown,
}

/// Counters of the process table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Entries now.
    pub entries: u64,
    /// Configured capacity.
    pub capacity: u64,
    /// Entries created.
    pub inserted: u64,
    /// Entries replaced by a state change.
    pub updated: u64,
    /// Exited entries removed after their grace period.
    pub evicted_exited: u64,
    /// Entries removed because the table was over capacity.
    pub evicted_capacity: u64,
    /// State events ignored because they belong to an image the table has
    /// already moved past (e.g. a chdir read after the next exec).
    pub stale_ignored: u64,
    /// State events whose parameters were unusable.
    pub malformed: u64,
    /// Forks whose parent was not in the table.
    pub orphan_forks: u64,
    /// Socket-cache entries dropped to stay within its bound.
    pub socket_cache_evicted: u64,
    /// Sockets in the socket cache now.
    pub socket_cache_entries: u64,
    /// Most sockets the socket cache holds before it starts over.
    pub socket_cache_capacity: u64,
    /// Exited processes waiting for their grace period to end.
    pub exits_pending: u64,
}

#[derive(Default)]
struct Counters {
    inserted: AtomicU64,
    updated: AtomicU64,
    evicted_exited: AtomicU64,
    evicted_capacity: AtomicU64,
    stale_ignored: AtomicU64,
    malformed: AtomicU64,
    orphan_forks: AtomicU64,
}

/// The process table. See the module documentation.
pub struct ProcessTable {
    map: papaya::HashMap<u32, Arc<Process>, crate::util::IdBuild>,
    capacity: usize,
    exit_grace_ns: u64,
    exits: Mutex<VecDeque<(u64, u32)>>,
    sweeping: Mutex<()>,
    counters: Counters,
    /// Bumped after every change to the set of entries (insert, replace,
    /// remove): a worker's cached ancestor chain validated at generation
    /// `g` is still valid while this reads `g`, without walking it.
    generation: AtomicU64,
    /// Per-socket state for `fd.connected`, `fd.name_changed` and the
    /// client/server direction of sockets.
    pub sockets: SocketCache,
}

impl std::fmt::Debug for ProcessTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessTable")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for ProcessTable {
    fn default() -> Self {
        ProcessTable::new(DEFAULT_CAPACITY)
    }
}

/// Splits a NUL-separated list; a trailing NUL does not add an element.
pub fn split_list(b: &[u8]) -> impl Iterator<Item = &[u8]> {
    let b = b.strip_suffix(&[0]).unwrap_or(b);
    let empty = b.is_empty();
    b.split(|&c| c == 0).filter(move |_| !empty)
}

/// Builds the image an exec or procinfo record describes.
pub fn image_from_exec(ev: &RawEvent<'_>) -> Image {
    let argv = ev.param(exec::ARGV);
    let mut it = split_list(argv);
    let exe = it.next().unwrap_or(&[]);
    let mut args = Vec::with_capacity(argv.len().saturating_sub(exe.len()));
    let mut nargs = 0u32;
    for (i, a) in it.enumerate() {
        if i > 0 {
            args.push(b' ');
        }
        args.extend_from_slice(a);
        nargs += 1;
    }
    Image {
        comm: ev.comm().into(),
        exe: exe.into(),
        args: args.into(),
        exepath: ev.param(exec::EXEPATH).into(),
        env: ev.param(exec::ENV).into(),
        exe_ino: ev.param_u64(exec::EXE_INO).unwrap_or(0),
        exe_ino_ctime: ev.param_u64(exec::EXE_INO_CTIME).unwrap_or(0),
        exe_ino_mtime: ev.param_u64(exec::EXE_INO_MTIME).unwrap_or(0),
        exe_flags: ev.param_u64(exec::FLAGS).unwrap_or(0),
        nargs,
    }
}

fn u32_param(ev: &RawEvent<'_>, i: usize) -> Option<u32> {
    ev.param_u64(i).map(|v| v as u32)
}

/// Whether `ev` is a successful exec carrying a new image.
pub fn is_exec_success(ev: &RawEvent<'_>) -> bool {
    ev.ty() == EventType::EXECVE && ev.hdr.ret >= 0 && ev.nparams() > exec::CAP_INHERITABLE
}

/// How `ev` relates to `p`, the table's entry for its process (`None`: no
/// entry); see [`Attribution`].
pub fn attribution_of(ev: &RawEvent<'_>, p: Option<&Process>) -> Attribution {
    AttributionKey::of(ev).attribution(p)
}

/// What [`attribution_of`] needs of an event, a few bytes kept instead of
/// the record so that a waiting event is not re-parsed to be re-checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttributionKey {
    /// The event is a `procinfo` record (always in sync).
    pub procinfo: bool,
    /// The event is a successful exec ([`is_exec_success`]).
    pub exec_success: bool,
    /// The event's exec generation.
    pub exec_gen: u64,
}

impl AttributionKey {
    /// The key of `ev`.
    pub fn of(ev: &RawEvent<'_>) -> AttributionKey {
        AttributionKey {
            procinfo: ev.ty() == EventType::PROCINFO,
            exec_success: is_exec_success(ev),
            exec_gen: ev.hdr.exec_gen,
        }
    }

    /// How the event relates to `p`, the table's entry for its process.
    pub fn attribution(self, p: Option<&Process>) -> Attribution {
        if self.procinfo {
            return Attribution::Ready;
        }
        let Some(p) = p else {
            return Attribution::Unknown;
        };
        if self.exec_success {
            // The exec event itself brings the table in sync.
            return match p.gens[0].exec_gen {
                Some(g) if self.exec_gen < g => Attribution::Ahead,
                _ => Attribution::Ready,
            };
        }
        p.generation_for(self.exec_gen).0
    }
}

/// Which generation of an entry an event is extracted against.
#[derive(Debug, Clone)]
pub enum GenSel {
    /// None (unknown process, or an image no longer kept).
    None,
    /// `process.gens[i]`.
    At(usize),
    /// An exec event whose image the table has not applied yet: the
    /// event's own.
    Own(Generation),
}

/// The entry and generation an event is attributed to
/// ([`ProcessTable::lookup`], [`lookup_in`]).
#[derive(Debug, Clone)]
pub struct Lookup {
    /// How the event relates to the entry.
    pub attribution: Attribution,
    /// The entry.
    pub process: Option<Arc<Process>>,
    /// The generation within it.
    pub gen: GenSel,
}

impl Lookup {
    /// The selected generation.
    pub fn generation(&self) -> Option<&Generation> {
        match &self.gen {
            GenSel::None => None,
            GenSel::At(i) => self.process.as_ref().and_then(|p| p.gens.get(*i)),
            GenSel::Own(g) => Some(g),
        }
    }
}

/// Attributes `ev` to `p`, the table's current entry for its process.
pub fn lookup_in(ev: &RawEvent<'_>, p: Option<Arc<Process>>) -> Lookup {
    let Some(p) = p else {
        return Lookup {
            attribution: Attribution::Unknown,
            process: None,
            gen: GenSel::None,
        };
    };
    p.touch(ev.hdr.ts_ns);
    let (attribution, gen) = if is_exec_success(ev) {
        match p
            .gens
            .iter()
            .position(|g| g.exec_gen == Some(ev.hdr.exec_gen))
        {
            Some(0) => (Attribution::Ready, GenSel::At(0)),
            Some(i) => (Attribution::Ahead, GenSel::At(i)),
            // Not applied yet: the event carries its own image.
            None => (
                Attribution::Ready,
                GenSel::Own(Generation {
                    exec_gen: Some(ev.hdr.exec_gen),
                    image: Some(Arc::new(image_from_exec(ev))),
                    cwd: ev.param(exec::CWD).into(),
                }),
            ),
        }
    } else {
        let (a, i) = p.generation_index_for(ev.hdr.exec_gen);
        (a, i.map_or(GenSel::None, GenSel::At))
    };
    Lookup {
        attribution,
        process: Some(p),
        gen,
    }
}

/// Entries a [`ProcCache`] holds before it starts over.
const PROC_CACHE_CAPACITY: usize = 4096;

/// A worker's private cache of process-table entries.
///
/// Every event needs its process's entry, often several times (attribution,
/// state refresh, extraction) and, for rules on ancestors, its parents'
/// entries too. A lookup in the shared lock-free map pins an epoch guard
/// and hashes into a table other workers write to; measured on the `open`
/// workload, the table's `get` and `attribution` were about 9 % of the
/// worker's time. The cache is a plain hash map owned by one worker: an
/// entry is used as long as the table has not replaced it
/// ([`Process::is_current`], one load of a flag on the entry's own cache
/// line, which writers set only when they replace the entry), so it never
/// serves stale state. It does not cache absence: an unknown process is
/// looked up in the table each time.
///
/// It also keeps each process's ancestor chain ([`ProcCache::chain`]),
/// valid while the event's parent is the chain's first element and every
/// element is current (a process's parent only changes by replacing its
/// entry), and, for a chain cut short by a parent missing from the table,
/// while that parent is still missing.
#[derive(Debug, Default)]
pub struct ProcCache {
    map: std::cell::RefCell<HashMap<u32, CacheEntry, crate::util::IdBuild>>,
}

#[derive(Debug)]
struct CacheEntry {
    p: Arc<Process>,
    chain: Option<CachedChain>,
}

#[derive(Debug)]
struct CachedChain {
    /// The table's generation read before the chain was last validated.
    generation: u64,
    first_parent: u32,
    /// The parent the walk could not find in the table, if it stopped
    /// there.
    missing: Option<u32>,
    procs: Arc<[Arc<Process>]>,
}

impl ProcCache {
    /// An empty cache.
    pub fn new() -> ProcCache {
        ProcCache::default()
    }

    /// The table's current entry for `tgid`.
    pub fn get(&self, table: &ProcessTable, tgid: u32) -> Option<Arc<Process>> {
        let mut m = self.map.borrow_mut();
        if let Some(e) = m.get(&tgid) {
            if e.p.is_current() {
                return Some(Arc::clone(&e.p));
            }
        }
        match table.get(tgid) {
            Some(p) => {
                if m.len() >= PROC_CACHE_CAPACITY {
                    m.clear();
                }
                m.insert(
                    tgid,
                    CacheEntry {
                        p: Arc::clone(&p),
                        chain: None,
                    },
                );
                Some(p)
            }
            None => {
                m.remove(&tgid);
                None
            }
        }
    }

    /// The ancestors of `tgid` from `first_parent` up, as
    /// [`ProcessTable::ancestors`] walks them, kept between events.
    pub fn chain(&self, table: &ProcessTable, tgid: u32, first_parent: u32) -> Arc<[Arc<Process>]> {
        // Read before validating: a change made during the walk bumps it
        // past what the chain records.
        let generation = table.generation();
        {
            let mut m = self.map.borrow_mut();
            if let Some(c) = m.get_mut(&tgid).and_then(|e| e.chain.as_mut()) {
                if c.first_parent == first_parent {
                    if c.generation == generation {
                        return Arc::clone(&c.procs);
                    }
                    if c.procs.iter().all(|p| p.is_current())
                        && c.missing.is_none_or(|t| table.get(t).is_none())
                    {
                        c.generation = generation;
                        return Arc::clone(&c.procs);
                    }
                }
            }
        }
        let mut walk = table.ancestors_cached(tgid, first_parent, Some(self));
        let procs: Arc<[Arc<Process>]> = walk.by_ref().collect();
        let missing = walk.missing();
        if let Some(e) = self.map.borrow_mut().get_mut(&tgid) {
            e.chain = Some(CachedChain {
                generation,
                first_parent,
                missing,
                procs: Arc::clone(&procs),
            });
        }
        procs
    }

    /// Forgets entries the table has replaced or removed (exited
    /// processes) and chains holding such an entry. Without it a worker
    /// would keep up to 4,096 dead processes, and their
    /// ancestors, alive until the cache filled and started over: under
    /// process churn, megabytes held for nothing. The worker calls it
    /// about once a second; it costs one flag load per entry.
    pub fn sweep(&self) {
        let mut m = self.map.borrow_mut();
        m.retain(|_, e| {
            if !e.p.is_current() {
                return false;
            }
            if e.chain
                .as_ref()
                .is_some_and(|c| !c.procs.iter().all(|p| p.is_current()))
            {
                e.chain = None;
            }
            true
        });
        // A burst of processes grows the map to thousands of buckets; give
        // them back once most entries are gone (the map would otherwise
        // keep its peak size for the daemon's life).
        if m.capacity() > 4 * m.len().max(64) {
            let keep = 2 * m.len();
            m.shrink_to(keep);
        }
    }

    /// Entries the cache has room for without growing.
    pub fn capacity(&self) -> usize {
        self.map.borrow().capacity()
    }

    /// Number of entries held (current or not).
    pub fn len(&self) -> usize {
        self.map.borrow().len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.map.borrow().is_empty()
    }
}

impl ProcessTable {
    /// An empty table holding at most `capacity` processes.
    pub fn new(capacity: usize) -> ProcessTable {
        ProcessTable::with_grace(capacity, DEFAULT_EXIT_GRACE_NS)
    }

    /// An empty table with an explicit exit grace period (event-time ns).
    pub fn with_grace(capacity: usize, exit_grace_ns: u64) -> ProcessTable {
        let capacity = capacity.max(1);
        ProcessTable {
            map: papaya::HashMap::builder()
                .capacity(capacity.min(1 << 16))
                .hasher(crate::util::IdBuild::default())
                .build(),
            capacity,
            exit_grace_ns,
            exits: Mutex::new(VecDeque::new()),
            sweeping: Mutex::new(()),
            counters: Counters::default(),
            generation: AtomicU64::new(0),
            sockets: SocketCache::new((capacity / 4).max(1024)),
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// The change generation (see `generation`).
    fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Marks a change, after it is visible in the map.
    fn changed(&self) {
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// `old` was replaced in or removed from the map: workers stop using
    /// their copies of it and revalidate their ancestor chains.
    fn retire(&self, old: &Process) {
        old.mark_superseded();
        self.changed();
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The entry of process `tgid`.
    pub fn get(&self, tgid: u32) -> Option<Arc<Process>> {
        self.map.pin().get(&tgid).cloned()
    }

    /// Counters.
    pub fn stats(&self) -> TableStats {
        let c = &self.counters;
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        TableStats {
            entries: self.map.len() as u64,
            capacity: self.capacity as u64,
            inserted: l(&c.inserted),
            updated: l(&c.updated),
            evicted_exited: l(&c.evicted_exited),
            evicted_capacity: l(&c.evicted_capacity),
            stale_ignored: l(&c.stale_ignored),
            malformed: l(&c.malformed),
            orphan_forks: l(&c.orphan_forks),
            socket_cache_evicted: self.sockets.evicted(),
            socket_cache_entries: self.sockets.len() as u64,
            socket_cache_capacity: self.sockets.capacity() as u64,
            exits_pending: self.exits.lock().map_or(0, |q| q.len() as u64),
        }
    }

    /// How `ev` relates to the table (see [`Attribution`]).
    pub fn attribution(&self, ev: &RawEvent<'_>) -> Attribution {
        if ev.ty() == EventType::PROCINFO {
            return Attribution::Ready;
        }
        let guard = self.map.pin();
        attribution_of(ev, guard.get(&ev.hdr.tgid).map(|p| &**p))
    }

    /// The entry and generation an event should be extracted against.
    pub fn lookup(&self, ev: &RawEvent<'_>) -> Lookup {
        lookup_in(ev, self.get(ev.hdr.tgid))
    }

    /// Applies the state change an event describes. Call it for every
    /// event, before extracting fields from it (an exec event's fields
    /// describe the new program). Events that change no state cost a type
    /// dispatch. Events whose attribution is `Behind` should be deferred,
    /// not applied.
    pub fn apply(&self, ev: &RawEvent<'_>) {
        self.apply_with(ev, None);
    }

    /// [`ProcessTable::apply`] with the event's entry already at hand
    /// (`cur`, from a [`ProcCache`]): an event that changes no process
    /// state then costs no map lookup.
    pub fn apply_with(&self, ev: &RawEvent<'_>, cur: Option<&Process>) {
        let ty = ev.ty();
        match ty.0 {
            9 => self.apply_procinfo(ev),
            1 if is_exec_success(ev) => self.apply_exec(ev),
            7 => self.apply_fork(ev),
            8 => self.apply_exit(ev),
            16 if ev.hdr.ret >= 0 => self.apply_setsid(ev),
            17 if ev.hdr.ret == 0 => self.apply_setpgid(ev),
            18 if ev.hdr.ret == 0 => {
                if let Some(inh) = ev.param_u64(0) {
                    self.modify(ev.hdr.tgid, |p| {
                        (p.cap_inheritable != inh).then(|| Process {
                            cap_inheritable: inh,
                            ..p.clone()
                        })
                    });
                }
            }
            20 if ev.hdr.ret == 0 => {
                let path = ev.param(0);
                self.apply_cwd(ev, |cwd| paths::resolve(cwd, path));
            }
            21 if ev.hdr.ret == 0 => match ev.param_fdinfo(1) {
                Some((_, path)) if path.first() == Some(&b'/') => {
                    let path = paths::normalize(path);
                    self.apply_cwd(ev, |_| Some(path.clone()));
                }
                _ => {
                    self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                }
            },
            // Only the arms above change the entry; after them `cur` is
            // stale.
            _ => {
                self.sockets.apply(ev);
                self.refresh(ev, cur);
                return;
            }
        }
        self.refresh(ev, None);
    }

    /// Removes exited processes whose grace period ended before `now_ts`
    /// (event time, boot-clock ns). [`ProcessTable::apply`] calls this on
    /// every exit; a pipeline may also call it periodically.
    pub fn expire(&self, now_ts: u64) {
        let due: Vec<(u64, u32)> = {
            let Ok(mut q) = self.exits.lock() else { return };
            let mut v = Vec::new();
            while let Some(&(ts, tgid)) = q.front() {
                if ts.saturating_add(self.exit_grace_ns) > now_ts {
                    break;
                }
                q.pop_front();
                v.push((ts, tgid));
            }
            v
        };
        let guard = self.map.pin();
        for (ts, tgid) in due {
            // Only if it is still the same exited process (the pid may have
            // been reused by a new process in the meantime).
            if let Ok(Some((_, p))) = guard.remove_if(&tgid, |_, p| p.exited_ts == Some(ts)) {
                self.sockets.forget(tgid);
                self.retire(p);
                self.counters.evicted_exited.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Replaces the entry of `tgid` with `f(old)` when `f` returns `Some`.
    fn modify(&self, tgid: u32, mut f: impl FnMut(&Process) -> Option<Process>) {
        let guard = self.map.pin();
        let r = guard.compute(tgid, |entry| match entry {
            Some((_, p)) => match f(p) {
                Some(n) => Operation::Insert(Arc::new(n)),
                None => Operation::Abort(()),
            },
            None => Operation::Abort(()),
        });
        if let Compute::Updated { old: (_, old), .. } = r {
            self.retire(old);
            self.counters.updated.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn insert(&self, p: Process) {
        let guard = self.map.pin();
        let old = guard.insert(p.tgid, Arc::new(p));
        if let Some(o) = old {
            o.mark_superseded();
        }
        self.changed();
        if old.is_none() {
            self.counters.inserted.fetch_add(1, Ordering::Relaxed);
            drop(guard);
            if self.map.len() > self.capacity {
                self.sweep();
            }
        } else {
            self.counters.updated.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Brings the table back under capacity: exited processes first (oldest
    /// exit first), then the least recently seen. Removes a sixteenth of the
    /// capacity at once so the O(n) scan is amortised.
    fn sweep(&self) {
        let Ok(_g) = self.sweeping.try_lock() else {
            return;
        };
        let len = self.map.len();
        if len <= self.capacity {
            return;
        }
        let target = self.capacity - self.capacity / 16;
        let excess = len.saturating_sub(target);
        let guard = self.map.pin();
        // Sort key: exited entries before live ones, then by age.
        let mut cands: Vec<(u8, u64, u32)> = guard
            .iter()
            .map(|(k, p)| match p.exited_ts {
                Some(ts) => (0, ts, *k),
                None => (1, p.last_seen.load(Ordering::Relaxed), *k),
            })
            .collect();
        if excess < cands.len() {
            cands.select_nth_unstable(excess);
            cands.truncate(excess);
        }
        for (_, _, tgid) in cands {
            if let Some(p) = guard.remove(&tgid) {
                // Its sockets go with it, as on the exit path: nothing
                // else would remove them before the cache filled.
                self.sockets.forget(tgid);
                self.retire(p);
                self.counters
                    .evicted_capacity
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn apply_procinfo(&self, ev: &RawEvent<'_>) {
        let tgid = ev.hdr.tgid;
        if let Some(p) = self.get(tgid) {
            // A live entry knows more than a scan (the scan may run after
            // capture started); only an entry that is itself from a scan is
            // replaced.
            if p.gens[0].exec_gen.is_some() {
                return;
            }
        }
        let exec_gen = (ev.hdr.flags & HF_SYNTHETIC == 0).then_some(ev.hdr.exec_gen);
        self.insert(self.process_from_exec(ev, exec_gen, None));
    }

    fn process_from_exec(
        &self,
        ev: &RawEvent<'_>,
        exec_gen: Option<u64>,
        old: Option<&Process>,
    ) -> Process {
        let h = &ev.hdr;
        let image = Arc::new(image_from_exec(ev));
        let cwd_param = ev.param(exec::CWD);
        let cwd: Arc<[u8]> = if cwd_param.is_empty() {
            old.map_or_else(|| Arc::from(&[][..]), |o| o.gens[0].cwd.clone())
        } else {
            cwd_param.into()
        };
        let container = {
            let list = ev.param(exec::CGROUPS);
            if list.is_empty() {
                old.map_or_else(ContainerRef::host, |o| o.container.clone())
            } else {
                container_from_cgroups(split_list(list))
            }
        };
        let mut gens = vec![Generation {
            exec_gen,
            image: Some(image),
            cwd,
        }];
        if let Some(o) = old {
            // Older images stay behind the new one, newest first.
            for g in &o.gens {
                if gens.len() >= MAX_GENERATIONS {
                    break;
                }
                if exec_gen.is_some() && g.exec_gen == exec_gen {
                    continue;
                }
                gens.push(g.clone());
            }
        }
        let or_old = |v: Option<u32>, f: fn(&Process) -> u32| v.or_else(|| old.map(f)).unwrap_or(0);
        Process {
            tgid: h.tgid,
            ptgid: h.ptgid,
            comm: ev.comm().into(),
            gens,
            sid: or_old(u32_param(ev, exec::SID), |o| o.sid),
            pgid: or_old(u32_param(ev, exec::PGID), |o| o.pgid),
            vpid: or_old(u32_param(ev, exec::VPID), |o| o.vpid),
            vpgid: or_old(u32_param(ev, exec::VPGID), |o| o.vpgid),
            tty: or_old(u32_param(ev, exec::TTY), |o| o.tty),
            start_ts: ev
                .param_u64(exec::START_TS)
                .filter(|&v| v != 0)
                .or(old.map(|o| o.start_ts))
                .unwrap_or(0),
            pidns_init_start_ts: ev
                .param_u64(exec::PIDNS_INIT_START_TS)
                .filter(|&v| v != 0)
                .or(old.map(|o| o.pidns_init_start_ts))
                .unwrap_or(0),
            cap_inheritable: ev
                .param_u64(exec::CAP_INHERITABLE)
                .or(old.map(|o| o.cap_inheritable))
                .unwrap_or(0),
            container,
            exited_ts: None,
            last_seen: AtomicU64::new(h.ts_ns),
            superseded: AtomicBool::new(false),
        }
    }

    fn apply_exec(&self, ev: &RawEvent<'_>) {
        let g = ev.hdr.exec_gen;
        let tgid = ev.hdr.tgid;
        let guard = self.map.pin();
        let mut inserted = false;
        let r = guard.compute(tgid, |entry| {
            let old = entry.map(|(_, p)| &**p);
            if let Some(o) = old {
                if o.gens.iter().any(|x| x.exec_gen == Some(g)) {
                    // Already applied (a replay of the same event).
                    return Operation::Abort(());
                }
                if let Some(front) = o.gens[0].exec_gen {
                    if g < front {
                        // An exec older than one already applied: slot its
                        // image in among the older ones.
                        let mut p = o.clone();
                        let gen = Generation {
                            exec_gen: Some(g),
                            image: Some(Arc::new(image_from_exec(ev))),
                            cwd: ev.param(exec::CWD).into(),
                        };
                        let at = p
                            .gens
                            .iter()
                            .position(|x| x.exec_gen.is_none_or(|v| v < g))
                            .unwrap_or(p.gens.len());
                        p.gens.insert(at, gen);
                        p.gens.truncate(MAX_GENERATIONS);
                        return Operation::Insert(Arc::new(p));
                    }
                }
            }
            inserted = old.is_none();
            Operation::Insert(Arc::new(self.process_from_exec(ev, Some(g), old)))
        });
        match r {
            Compute::Inserted(..) => {
                self.changed();
                self.counters.inserted.fetch_add(1, Ordering::Relaxed);
            }
            Compute::Updated { old: (_, old), .. } => {
                self.retire(old);
                self.counters.updated.fetch_add(1, Ordering::Relaxed);
            }
            _ => {}
        }
        drop(guard);
        if inserted && self.map.len() > self.capacity {
            self.sweep();
        }
    }

    fn apply_fork(&self, ev: &RawEvent<'_>) {
        let (Some(child_tgid), Some(child_ptgid)) = (u32_param(ev, 1), u32_param(ev, 2)) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let child_vpid = u32_param(ev, 3).unwrap_or(0);
        let start_ts = ev.param_u64(4).unwrap_or(0);
        if let Some(existing) = self.get(child_tgid) {
            // The child's own exec may have been applied first (it was read
            // from another ring and the caller stopped deferring it). Same
            // process: keep what it knows.
            if existing.start_ts == start_ts && start_ts != 0 {
                return;
            }
        }
        let parent = self.get(ev.hdr.tgid);
        let g = ev.hdr.exec_gen;
        let (gen, p) = match &parent {
            Some(p) => {
                let gen = p
                    .generation_for(g)
                    .1
                    .cloned()
                    .unwrap_or_else(|| p.gens[0].clone());
                (gen, Some(&**p))
            }
            None => {
                self.counters.orphan_forks.fetch_add(1, Ordering::Relaxed);
                (
                    Generation {
                        exec_gen: None,
                        image: None,
                        cwd: Arc::from(&[][..]),
                    },
                    None,
                )
            }
        };
        let new_pidns = child_vpid == 1;
        let child = Process {
            tgid: child_tgid,
            ptgid: child_ptgid,
            comm: ev.comm().into(),
            gens: vec![Generation {
                exec_gen: Some(g),
                ..gen
            }],
            sid: p.map_or(0, |p| p.sid),
            pgid: p.map_or(0, |p| p.pgid),
            vpid: child_vpid,
            vpgid: p.map_or(0, |p| if new_pidns { 0 } else { p.vpgid }),
            tty: p.map_or(0, |p| p.tty),
            start_ts,
            pidns_init_start_ts: if new_pidns {
                start_ts
            } else {
                p.map_or(0, |p| p.pidns_init_start_ts)
            },
            cap_inheritable: p.map_or(0, |p| p.cap_inheritable),
            container: p.map_or_else(ContainerRef::host, |p| p.container.clone()),
            exited_ts: None,
            last_seen: AtomicU64::new(ev.hdr.ts_ns),
            superseded: AtomicBool::new(false),
        };
        // Sockets first: once the child is in the table, a worker holding
        // its first events (deferred until its fork is applied) may read
        // them.
        self.sockets.inherit(ev.hdr.tgid, child_tgid);
        self.insert(child);
    }

    fn apply_exit(&self, ev: &RawEvent<'_>) {
        let ts = ev.hdr.ts_ns;
        let tgid = ev.hdr.tgid;
        let mut marked = false;
        self.modify(tgid, |p| {
            marked = p.exited_ts.is_none();
            marked.then(|| Process {
                exited_ts: Some(ts),
                ..p.clone()
            })
        });
        if marked {
            if let Ok(mut q) = self.exits.lock() {
                q.push_back((ts, tgid));
            }
        }
        self.expire(ts);
    }

    fn apply_setsid(&self, ev: &RawEvent<'_>) {
        let tgid = ev.hdr.tgid;
        self.modify(tgid, |p| {
            Some(Process {
                sid: tgid,
                pgid: tgid,
                vpgid: p.vpid,
                // A new session has no controlling terminal.
                tty: 0,
                ..p.clone()
            })
        });
    }

    fn apply_setpgid(&self, ev: &RawEvent<'_>) {
        let (Some(pid), Some(pgid)) = (ev.param_u64(0), ev.param_u64(1)) else {
            self.counters.malformed.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let (pid, pgid) = (pid as u32, pgid as u32);
        let caller = ev.hdr.tgid;
        let Some(me) = self.get(caller) else { return };
        // Arguments are pids of the caller's namespace. Only the caller
        // itself, or any process when the caller is in the initial
        // namespace (vpid == tgid), can be mapped to a table key.
        let host_ns = me.vpid == caller || me.vpid == 0;
        let target = if pid == 0 || pid == me.vpid || pid == caller {
            caller
        } else if host_ns {
            pid
        } else {
            return;
        };
        self.modify(target, |p| {
            let own_vpid = if p.vpid != 0 { p.vpid } else { p.tgid };
            let (vpgid, kpgid) = if pgid == 0 || pgid == own_vpid {
                (own_vpid, p.tgid)
            } else if host_ns {
                (pgid, pgid)
            } else {
                (pgid, 0)
            };
            Some(Process {
                pgid: kpgid,
                vpgid,
                ..p.clone()
            })
        });
    }

    fn apply_cwd(&self, ev: &RawEvent<'_>, new_cwd: impl Fn(&[u8]) -> Option<Vec<u8>>) {
        let g = ev.hdr.exec_gen;
        let mut stale = false;
        self.modify(ev.hdr.tgid, |p| {
            let r = p.with_generation(g, |gen| {
                if let Some(c) = new_cwd(&gen.cwd) {
                    gen.cwd = c.into();
                }
            });
            stale = r.is_none();
            r
        });
        if stale {
            self.counters.stale_ignored.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Keeps the entry's comm, parent and (for scanned entries) generation
    /// in step with what the event header shows. Writes only on change.
    fn refresh(&self, ev: &RawEvent<'_>, cur: Option<&Process>) {
        let h = &ev.hdr;
        if h.tgid == 0 || matches!(ev.ty().0, 7 | 9) {
            return;
        }
        let fetched;
        let p = match cur {
            Some(p) => p,
            None => {
                let Some(p) = self.get(h.tgid) else { return };
                fetched = p;
                &*fetched
            }
        };
        let gen_unknown = p.gens[0].exec_gen.is_none();
        let current = gen_unknown || p.gens[0].exec_gen == Some(h.exec_gen);
        if !current {
            return;
        }
        // Only the main thread's name is the process's name: other threads
        // may have renamed themselves.
        let main_thread = h.tid == h.tgid;
        // The header's name equals the entry's when it starts with it and
        // ends there (NUL padding or the full 16 bytes): no scan for the
        // NUL on every event.
        let same_comm = || {
            let n = p.comm.len();
            n <= h.comm.len() && h.comm[..n] == *p.comm && h.comm.get(n).is_none_or(|&b| b == 0)
        };
        if !gen_unknown && (!main_thread || same_comm()) && p.ptgid == h.ptgid {
            return;
        }
        let comm = ev.comm();
        self.modify(h.tgid, |p| {
            let mut n = p.clone();
            if main_thread || n.comm.is_empty() {
                n.comm = comm.into();
            }
            n.ptgid = h.ptgid;
            if n.gens[0].exec_gen.is_none() {
                n.gens[0].exec_gen = Some(h.exec_gen);
            }
            Some(n)
        });
    }

    /// The ancestors of a process, from its parent up: stops at an unknown
    /// parent, at pid 0, at a loop or after [`MAX_ANCESTOR_DEPTH`] steps.
    /// `first_parent` is where the walk starts (the event header's ptgid,
    /// fresher than the entry's).
    pub fn ancestors(&self, tgid: u32, first_parent: u32) -> Ancestors<'_> {
        self.ancestors_cached(tgid, first_parent, None)
    }

    /// [`ProcessTable::ancestors`] through a worker's cache.
    pub fn ancestors_cached<'a>(
        &'a self,
        tgid: u32,
        first_parent: u32,
        cache: Option<&'a ProcCache>,
    ) -> Ancestors<'a> {
        let mut visited = [0u32; MAX_ANCESTOR_DEPTH + 1];
        visited[0] = tgid;
        Ancestors {
            table: self,
            cache,
            next: first_parent,
            visited,
            len: 1,
        }
    }
}

/// Iterator over ancestors (see [`ProcessTable::ancestors`]).
pub struct Ancestors<'a> {
    table: &'a ProcessTable,
    cache: Option<&'a ProcCache>,
    next: u32,
    visited: [u32; MAX_ANCESTOR_DEPTH + 1],
    len: usize,
}

impl Ancestors<'_> {
    /// After the walk ended: the parent it stopped at because the table
    /// has no entry for it (`None` when it ended at pid 0, a loop or the
    /// depth limit).
    pub fn missing(&self) -> Option<u32> {
        let t = self.next;
        if t == 0 || self.len > MAX_ANCESTOR_DEPTH || self.visited[..self.len].contains(&t) {
            return None;
        }
        Some(t)
    }
}

impl Iterator for Ancestors<'_> {
    type Item = Arc<Process>;
    fn next(&mut self) -> Option<Arc<Process>> {
        let t = self.next;
        if t == 0 || self.len > MAX_ANCESTOR_DEPTH || self.visited[..self.len].contains(&t) {
            return None;
        }
        let p = match self.cache {
            Some(c) => c.get(self.table, t)?,
            None => self.table.get(t)?,
        };
        self.visited[self.len] = t;
        self.len += 1;
        self.next = p.ptgid;
        Some(p)
    }
}
