//! [`Probe`]: loads the embedded BPF object, creates one ring per CPU,
//! configures the in-kernel filters and attaches the programs.

use std::path::Path;
use std::sync::Arc;

use aya::maps::{Array, ArrayOfMaps, MapData, PerCpuArray};
use aya::programs::BtfTracePoint;
use aya::{Btf, Ebpf, EbpfLoader};
use kestrel_event::wire::{Counters, FilterProgram, TRACK_SLOTS};
use kestrel_event::EventType;

use crate::error::{is_eperm, log_tail};
use crate::filter::FilterMaps;
use crate::ring::{page_size, ParkSlots, RingFill, RingMapping, RingReader};
use crate::selfguard::ObjKind;
use crate::{events, ProbeError};

static KESTREL_BPF: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/kestrel.bpf.o"));

/// Where the kernel publishes its BTF.
pub(crate) const VMLINUX_BTF: &str = "/sys/kernel/btf/vmlinux";

/// Syscall numbers the probe's table covers (`KST_NR_SYSCALLS`).
const NR_SYSCALLS: usize = 512;
/// BPF_MAP_TYPE_RINGBUF.
const MAP_TYPE_RINGBUF: u32 = 27;

/// The programs of the probe and the tracepoints they attach to. The
/// scheduler hooks go first so that no process event is missed once
/// syscalls are reported.
const PROGRAMS: &[(&str, &str)] = &[
    ("kst_sched_fork", "sched_process_fork"),
    ("kst_sched_exec", "sched_process_exec"),
    ("kst_sched_exit", "sched_process_exit"),
    ("kst_sys_exit", "sys_exit"),
];

/// The self-protection signal hook, attached when
/// [`ProbeConfig::self_protect`] is set.
const SELF_PROGRAM: (&str, &str) = ("kst_signal", "signal_generate");

/// Syscalls checked for attempts on kestrel (`KST_NR_*` in
/// `bpf/hook_self.c`): ptrace, process_vm_readv, process_vm_writev, bpf,
/// pidfd_getfd.
const SELF_SYSCALLS: &[usize] = &[101, 310, 311, 321, 438];
/// `KST_SC_SELF`: the kst_sc_type flag of a syscall checked for them.
const SC_SELF: u16 = 0x8000;

/// Programs attached when the kernel has their tracepoint (io_uring's are
/// absent on kernels built without CONFIG_IO_URING); without them io_uring
/// requests are not reported, which the daemon logs once.
const OPTIONAL_PROGRAMS: &[(&str, &str)] = &[
    ("kst_uring_submit", "io_uring_submit_req"),
    ("kst_uring_complete", "io_uring_complete"),
];

/// The command structs of the io_uring ops the probe decodes, and the ops
/// that degrade to the generic `io_uring_op` event when the running
/// kernel's BTF lacks the struct (missing members degrade the same way in
/// the program, by CO-RE field checks).
const URING_LAYOUTS: &[(&str, &str)] = &[
    ("io_kiocb", "every io_uring request (none is reported)"),
    ("io_open", "OPENAT, OPENAT2"),
    ("io_close", "CLOSE"),
    ("io_connect", "CONNECT"),
    ("io_accept", "ACCEPT"),
    ("io_sr_msg", "SEND, RECV"),
    ("io_rename", "RENAMEAT"),
    ("io_unlink", "UNLINKAT"),
    ("io_mkdir", "MKDIRAT"),
    ("io_link", "SYMLINKAT, LINKAT"),
];

/// Logs, once per load, each io_uring op the kernel's BTF cannot describe.
fn log_missing_uring_layouts(btf: &Btf) {
    for (st, ops) in URING_LAYOUTS {
        if btf
            .id_by_type_name_kind(st, aya_obj::btf::BtfKind::Struct)
            .is_err()
        {
            log::warn!(
                "io_uring: struct {st} is not in the kernel's BTF: {ops} reported as io_uring_op events without their parameters"
            );
        }
    }
}

/// How to load the probe.
#[derive(Debug, Clone)]
pub struct ProbeConfig {
    /// Bytes per CPU ring: a power of two, at least one page. Default 8 MiB.
    pub ring_size: usize,
    /// Event types to capture (see [`events`]). Default: Falco's stable
    /// rules plus what the process table needs.
    pub event_types: Vec<EventType>,
    /// A process whose events the probe drops in the kernel (kestrel
    /// itself). Default: this process. `None` captures everything.
    pub exclude_tgid: Option<u32>,
    /// Drop syscalls that failed (negative return) in the kernel.
    pub drop_failed: bool,
    /// Bytes of I/O data captured by send/recv events (at most 256).
    pub snaplen: u32,
    /// Self-protection: report attempts by other processes on the
    /// excluded process (`exclude_tgid`, which must be this process; with
    /// none, only the checks' cost remains, for measurements) as
    /// `kestrel_tamper` records: bpf(2) on the probe's programs, maps and
    /// links, ptrace, process_vm_readv/writev, pidfd_getfd, and stop or
    /// control signals. Default off.
    pub self_protect: bool,
}

impl Default for ProbeConfig {
    fn default() -> Self {
        ProbeConfig {
            ring_size: 8 << 20,
            event_types: events::falco_stable_with_state(),
            exclude_tgid: Some(std::process::id()),
            drop_failed: false,
            snaplen: 80,
            self_protect: false,
        }
    }
}

/// What [`Probe::check_integrity`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IntegrityIssue {
    /// A probe link no longer attaches its program (kestrel cannot attach
    /// it again through the same link; the alert says so).
    Link {
        /// The program's name.
        program: String,
        /// The link's id.
        link_id: u32,
        /// What changed.
        why: String,
    },
    /// Entries of a configuration map differed from what kestrel wrote;
    /// they were written back.
    Table {
        /// The map.
        map: &'static str,
        /// Entries restored.
        entries: usize,
    },
}

/// Run statistics of one BPF program (needs `kernel.bpf_stats_enabled=1`,
/// see [`Probe::enable_stats`]; zero otherwise).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramStats {
    /// Program name.
    pub name: &'static str,
    /// The kernel's id of the loaded program (as `bpftool prog` shows).
    pub id: u32,
    /// Times the program ran.
    pub run_count: u64,
    /// Total time spent in it, nanoseconds.
    pub run_time_ns: u64,
}

/// `struct kst_gdesc` (`bpf/kestrel_wire.h`): how the generic routine
/// captures one event type.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct GenericDesc {
    kind: [u8; 8],
    a: [u8; 8],
    b: [u8; 8],
    n: u32,
    pad: u32,
}
// SAFETY: GenericDesc is repr(C), integers only, no padding, valid for any
// bit pattern.
unsafe impl aya::Pod for GenericDesc {}

/// Writes the generic capture descriptor of every event type the table
/// describes by parameter sources (the table is their single source).
fn fill_generic(ebpf: &mut Ebpf) -> Result<(), ProbeError> {
    let map = ebpf
        .map_mut("kst_gdesc")
        .ok_or(ProbeError::Missing("map kst_gdesc"))?;
    let mut arr: Array<&mut MapData, GenericDesc> =
        Array::try_from(map).map_err(|e| map_err("kst_gdesc", "open", e))?;
    for e in kestrel_event::EVENTS {
        let Some(src) = e.capture else { continue };
        let mut d = GenericDesc {
            n: src.len() as u32,
            ..GenericDesc::default()
        };
        for (i, s) in src
            .iter()
            .enumerate()
            .take(kestrel_event::GENERIC_MAX_PARAMS)
        {
            let (kind, a, b) = s.encode();
            d.kind[i] = kind;
            d.a[i] = a;
            d.b[i] = b;
        }
        arr.set(u32::from(e.ty.0), d, 0)
            .map_err(|e| map_err("kst_gdesc", "write", e))?;
    }
    Ok(())
}

/// Pod wrapper so aya can read `kst_counters` into the engine's mirror.
#[derive(Clone, Copy)]
#[repr(transparent)]
struct PodCounters(Counters);
// SAFETY: Counters is repr(C), integers only, valid for any bit pattern.
unsafe impl aya::Pod for PodCounters {}

/// The loaded and attached probe. Dropping it detaches every program (the
/// tracepoints let go within an RCU grace period, a few syscalls at most);
/// readers already handed out stay valid and then see no new records.
pub struct Probe {
    // Field order is drop order: programs detach before the maps go.
    ebpf: Ebpf,
    counters: PerCpuArray<MapData, PodCounters>,
    sc_type: Array<MapData, u16>,
    evmask: Array<MapData, [u64; 4]>,
    sc_current: Vec<u16>,
    mask_current: [u64; 4],
    event_types: Vec<EventType>,
    mappings: Vec<Arc<RingMapping>>,
    readers_taken: bool,
    ring_size: usize,
    optional_attached: Vec<&'static str>,
    filter: FilterMaps,
    self_protect: bool,
    self_objects: Vec<crate::selfguard::BpfObject>,
    /// Kept so the rings outlive the outer map's references in any case.
    _rings: Vec<MapData>,
}

impl std::fmt::Debug for Probe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Probe")
            .field("cpus", &self.mappings.len())
            .field("ring_size", &self.ring_size)
            .field("event_types", &self.event_types.len())
            .finish()
    }
}

impl Probe {
    /// Loads the probe, creates the rings, sets the filters and attaches.
    pub fn load(cfg: ProbeConfig) -> Result<Probe, ProbeError> {
        check_ring_size(cfg.ring_size)?;
        if cfg.snaplen > kestrel_event::wire::DATA_MAX as u32 {
            return Err(ProbeError::Config(format!(
                "snaplen {} exceeds the maximum of {}",
                cfg.snaplen,
                kestrel_event::wire::DATA_MAX
            )));
        }
        let btf = load_btf()?;
        let ncpu = possible_cpus()?;

        // Rings first: an unsupported kernel or missing privilege shows
        // here with the clearest error, before any program is verified.
        let mut rings = Vec::with_capacity(ncpu as usize);
        for cpu in 0..ncpu {
            rings.push(create_ring(cpu, cfg.ring_size)?);
        }

        let self_tgid = cfg.exclude_tgid.unwrap_or(0);
        if cfg.self_protect && cfg.exclude_tgid.is_some_and(|t| t != std::process::id()) {
            return Err(ProbeError::Config(
                "self-protection guards the process that loads the probe: exclude_tgid must be its pid"
                    .into(),
            ));
        }
        let drop_failed = u32::from(cfg.drop_failed);
        let self_protect = u32::from(cfg.self_protect);
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .override_global("kst_self_tgid", &self_tgid, true)
            .override_global("kst_drop_failed", &drop_failed, true)
            .override_global("kst_snaplen", &cfg.snaplen, true)
            .override_global("kst_self_protect", &self_protect, true)
            .map_max_entries("kst_rings", ncpu)
            .map_max_entries("kst_scratch", ncpu)
            .map_max_entries("kst_park", ncpu)
            .load(KESTREL_BPF)
            .map_err(|e| load_error("kestrel.bpf.o", e))?;

        {
            let outer = ebpf
                .map_mut("kst_rings")
                .ok_or(ProbeError::Missing("map kst_rings"))?;
            let mut outer: ArrayOfMaps<&mut MapData> =
                ArrayOfMaps::try_from(outer).map_err(|e| map_err("kst_rings", "open", e))?;
            for (cpu, ring) in rings.iter().enumerate() {
                outer
                    .set(cpu as u32, ring, 0)
                    .map_err(|e| map_err("kst_rings", "insert a ring", e))?;
            }
        }
        fill_generic(&mut ebpf)?;
        let counters = PerCpuArray::try_from(take_map(&mut ebpf, "kst_counters")?)
            .map_err(|e| map_err("kst_counters", "open", e))?;
        let sc_type = Array::try_from(take_map(&mut ebpf, "kst_sc_type")?)
            .map_err(|e| map_err("kst_sc_type", "open", e))?;
        let evmask = Array::try_from(take_map(&mut ebpf, "kst_evmask")?)
            .map_err(|e| map_err("kst_evmask", "open", e))?;
        let filter = FilterMaps::take(&mut ebpf)?;

        let park = {
            let map = ebpf
                .map("kst_park")
                .ok_or(ProbeError::Missing("map kst_park"))?;
            let aya::maps::Map::Array(data) = map else {
                return Err(ProbeError::Missing("map kst_park (an array)"));
            };
            Arc::new(ParkSlots::new(
                std::os::fd::AsFd::as_fd(data.fd()),
                ncpu as usize,
            )?)
        };
        let mut mappings = Vec::with_capacity(rings.len());
        for (cpu, ring) in rings.iter().enumerate() {
            mappings.push(Arc::new(RingMapping::new(
                cpu as u32,
                std::os::fd::AsFd::as_fd(ring.fd()),
                cfg.ring_size,
                Arc::clone(&park),
            )?));
        }

        let mut probe = Probe {
            ebpf,
            counters,
            sc_type,
            evmask,
            sc_current: vec![0; NR_SYSCALLS],
            mask_current: [0; 4],
            event_types: Vec::new(),
            mappings,
            readers_taken: false,
            ring_size: cfg.ring_size,
            optional_attached: Vec::new(),
            filter,
            self_protect: cfg.self_protect,
            self_objects: Vec::new(),
            _rings: rings,
        };
        probe.set_event_types(&cfg.event_types)?;

        // Verify every program first, attach them all afterwards: the
        // sys_exit program takes about a second to verify, and records of
        // programs already attached would wait in the rings that long
        // before anyone reads them.
        for (name, tp) in PROGRAMS {
            tracepoint(&mut probe.ebpf, name)?
                .load(tp, &btf)
                .map_err(|e| program_error(name, e))?;
        }
        if cfg.self_protect {
            let (name, tp) = SELF_PROGRAM;
            tracepoint(&mut probe.ebpf, name)?
                .load(tp, &btf)
                .map_err(|e| program_error(name, e))?;
        }
        log_missing_uring_layouts(&btf);
        let mut optional = Vec::new();
        for (name, tp) in OPTIONAL_PROGRAMS {
            match tracepoint(&mut probe.ebpf, name)?.load(tp, &btf) {
                Ok(()) => optional.push((*name, *tp)),
                Err(e) => log::warn!(
                    "io_uring requests will not be reported: {}",
                    program_error(name, e)
                ),
            }
        }
        for (name, tp) in PROGRAMS.iter().chain(optional.iter()) {
            tracepoint(&mut probe.ebpf, name)?
                .attach()
                .map_err(|e| attach_error(name, tp, e))?;
        }
        probe.optional_attached = optional.iter().map(|(n, _)| *n).collect();
        if cfg.self_protect {
            let (name, tp) = SELF_PROGRAM;
            tracepoint(&mut probe.ebpf, name)?
                .attach()
                .map_err(|e| attach_error(name, tp, e))?;
            probe.optional_attached.push(name);
            probe.guard_self()?;
        }
        Ok(probe)
    }

    /// Enters this process's threads and BPF objects (every program, map
    /// and link it holds an fd of) into the self-protection maps.
    fn guard_self(&mut self) -> Result<(), ProbeError> {
        let mut objs = crate::selfguard::own_bpf_objects()
            .map_err(|e| ProbeError::from_io("listing this process's BPF objects", e))?;
        let mut prog_names = std::collections::HashMap::new();
        for (name, _) in PROGRAMS
            .iter()
            .chain(OPTIONAL_PROGRAMS)
            .chain([&SELF_PROGRAM])
        {
            if let Some(Ok(info)) = self.ebpf.program(name).map(|p| p.info()) {
                prog_names.insert(info.id(), *name);
            }
        }
        for o in &mut objs {
            o.name = match o.kind {
                ObjKind::Prog => prog_names.get(&o.id).copied().unwrap_or("").to_string(),
                ObjKind::Link => prog_names
                    .get(&o.prog_id)
                    .copied()
                    .unwrap_or("")
                    .to_string(),
                ObjKind::Map => aya::maps::MapInfo::from_id(o.id)
                    .ok()
                    .and_then(|i| i.name_as_str().map(str::to_string))
                    .unwrap_or_default(),
            };
        }
        let mut ids: aya::maps::HashMap<&mut MapData, u64, u8> = aya::maps::HashMap::try_from(
            self.ebpf
                .map_mut("kst_self_ids")
                .ok_or(ProbeError::Missing("map kst_self_ids"))?,
        )
        .map_err(|e| map_err("kst_self_ids", "open", e))?;
        for o in &objs {
            ids.insert(o.key(), 1, 0)
                .map_err(|e| map_err("kst_self_ids", "write", e))?;
        }
        let mut tids: aya::maps::HashMap<&mut MapData, u32, u8> = aya::maps::HashMap::try_from(
            self.ebpf
                .map_mut("kst_self_tids")
                .ok_or(ProbeError::Missing("map kst_self_tids"))?,
        )
        .map_err(|e| map_err("kst_self_tids", "open", e))?;
        let tasks = std::fs::read_dir("/proc/self/task")
            .map_err(|e| ProbeError::from_io("reading /proc/self/task", e))?;
        for t in tasks.flatten() {
            if let Some(tid) = t.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) {
                tids.insert(tid, 1, 0)
                    .map_err(|e| map_err("kst_self_tids", "write", e))?;
            }
        }
        self.self_objects = objs;
        Ok(())
    }

    /// Self-protection's integrity check (run it every second or so, off
    /// the event path): every probe link still attached to its program,
    /// and the syscall table and event mask as kestrel wrote them. A table
    /// or mask another process rewrote (with bpf(2), which the probe also
    /// reports) is written back. Returns what it found.
    pub fn check_integrity(&mut self) -> Vec<IntegrityIssue> {
        let mut out = Vec::new();
        if !self.self_protect {
            return out;
        }
        for o in self.self_objects.iter().filter(|o| o.kind == ObjKind::Link) {
            let why = match crate::selfguard::object_at(o.fd) {
                Ok(Some(now)) if now.kind == ObjKind::Link && now.id == o.id => {
                    if now.prog_id == o.prog_id {
                        continue;
                    }
                    if now.prog_id == 0 {
                        "detached".to_string()
                    } else {
                        format!("now runs program id {}", now.prog_id)
                    }
                }
                Ok(_) => "its fd no longer refers to it".to_string(),
                Err(e) => format!("unreadable: {e}"),
            };
            out.push(IntegrityIssue::Link {
                program: o.name.clone(),
                link_id: o.id,
                why,
            });
        }
        let mut rewritten = 0usize;
        for (nr, want) in self.sc_current.iter().enumerate() {
            match self.sc_type.get(&(nr as u32), 0) {
                Ok(v) if v == *want => {}
                _ => {
                    rewritten += 1;
                    if let Err(e) = self.sc_type.set(nr as u32, *want, 0) {
                        log::error!(
                            "self-protection: cannot restore syscall table entry {nr}: {e}"
                        );
                    }
                }
            }
        }
        if rewritten > 0 {
            out.push(IntegrityIssue::Table {
                map: "kst_sc_type",
                entries: rewritten,
            });
        }
        match self.evmask.get(&0, 0) {
            Ok(m) if m == self.mask_current => {}
            _ => {
                if let Err(e) = self.evmask.set(0, self.mask_current, 0) {
                    log::error!("self-protection: cannot restore the event mask: {e}");
                }
                out.push(IntegrityIssue::Table {
                    map: "kst_evmask",
                    entries: 1,
                });
            }
        }
        out
    }

    /// The BPF objects self-protection guards (empty when it is off).
    pub fn self_objects(&self) -> &[crate::selfguard::BpfObject] {
        &self.self_objects
    }

    /// Hands out one reader per CPU ring, in CPU order. Only once: a ring
    /// has exactly one consumer.
    pub fn readers(&mut self) -> Result<Vec<RingReader>, ProbeError> {
        if self.readers_taken {
            return Err(ProbeError::ReadersTaken);
        }
        self.readers_taken = true;
        Ok(self
            .mappings
            .iter()
            .map(|m| RingReader::new(Arc::clone(m)))
            .collect())
    }

    /// The per-CPU counters, indexed by CPU.
    pub fn counters(&self) -> Result<Vec<Counters>, ProbeError> {
        let v = self
            .counters
            .get(&0, 0)
            .map_err(|e| map_err("kst_counters", "read", e))?;
        Ok(v.iter().map(|c| c.0).collect())
    }

    /// The counters summed over all CPUs.
    pub fn counters_total(&self) -> Result<Counters, ProbeError> {
        let mut total = Counters::default();
        for c in self.counters()? {
            for i in 0..total.seen.len() {
                total.seen[i] += c.seen[i];
                total.sent[i] += c.sent[i];
                total.dropped[i] += c.dropped[i];
            }
        }
        Ok(total)
    }

    /// Replaces the set of captured event types. Takes effect for the next
    /// syscall on every CPU; ids kestrel does not know are an error and
    /// change nothing. `procinfo` (made by userspace) is accepted and ignored.
    pub fn set_event_types(&mut self, types: &[EventType]) -> Result<(), ProbeError> {
        let mut sc = vec![0u16; NR_SYSCALLS];
        let mut mask = [0u64; 4];
        for &ty in types {
            let info = ty.info().ok_or(ProbeError::UnknownEventType(ty.0))?;
            if ty == EventType::PROCINFO {
                continue;
            }
            mask[(ty.0 >> 6) as usize & 3] |= 1 << (ty.0 & 63);
            if let Some(nr) = info.nr_x86_64 {
                if let Some(slot) = sc.get_mut(nr as usize) {
                    *slot = ty.0;
                }
            }
        }
        if self.self_protect {
            for &nr in SELF_SYSCALLS {
                sc[nr] |= SC_SELF;
            }
        }
        // Enable the scheduler events first and syscalls after, disable in
        // the same order: either way the window is one syscall.
        self.evmask
            .set(0, mask, 0)
            .map_err(|e| map_err("kst_evmask", "write", e))?;
        self.mask_current = mask;
        for (nr, (&want, cur)) in sc.iter().zip(self.sc_current.iter_mut()).enumerate() {
            if want != *cur {
                self.sc_type
                    .set(nr as u32, want, 0)
                    .map_err(|e| map_err("kst_sc_type", "write", e))?;
                *cur = want;
            }
        }
        let mut types = types.to_vec();
        types.sort();
        types.dedup();
        self.event_types = types;
        Ok(())
    }

    /// Installs the interest filter (see `bpf/filter.h`): written into
    /// the slot not in force, then made the one in force, so a program
    /// run sees either the old filter or the new one, whole. Event types
    /// the program does not list pass everything; the probe starts with
    /// no filter. Returns the filter's generation (the low byte of the
    /// install count): the events it marks carry it
    /// ([`HF_KGEN_SHIFT`](crate::wire::HF_KGEN_SHIFT)).
    pub fn install_filter(&mut self, prog: &FilterProgram) -> Result<u8, ProbeError> {
        self.filter.install(prog)
    }

    /// Events the interest filter removed, per event type id (index),
    /// summed over CPUs.
    pub fn filtered_counts(&self) -> Result<Vec<u64>, ProbeError> {
        self.filter.filtered()
    }

    /// Sets the processes whose filtered events are counted, by tracking
    /// slot (0: free). A slot whose process changed starts from zero.
    pub fn set_tracked(&mut self, tgids: &[u32; TRACK_SLOTS]) -> Result<(), ProbeError> {
        self.filter.set_tracked(tgids)
    }

    /// Filtered events of tracked processes: `(tgid, rel, event type id,
    /// count)`, rel 0 for the process itself and 1 for its children.
    pub fn tracked_filtered(&self) -> Result<Vec<(u32, u8, u16, u64)>, ProbeError> {
        self.filter.tracked_filtered()
    }

    /// The captured event types.
    pub fn event_types(&self) -> &[EventType] {
        &self.event_types
    }

    /// Fill level of every CPU's ring.
    pub fn ring_fill(&self) -> Vec<RingFill> {
        self.mappings.iter().map(|m| m.fill()).collect()
    }

    /// Bytes per ring.
    pub fn ring_size(&self) -> usize {
        self.ring_size
    }

    /// Number of rings (possible CPUs).
    pub fn cpus(&self) -> usize {
        self.mappings.len()
    }

    /// Per-program run counts and times (zero unless BPF stats are on).
    pub fn program_stats(&self) -> Result<Vec<ProgramStats>, ProbeError> {
        let mut out = Vec::new();
        let names = PROGRAMS
            .iter()
            .map(|(n, _)| *n)
            .chain(self.optional_attached.iter().copied());
        for name in names {
            let prog = self
                .ebpf
                .program(name)
                .ok_or(ProbeError::Missing("a program"))?;
            let info = prog.info().map_err(|e| program_error(name, e))?;
            out.push(ProgramStats {
                name,
                id: info.id(),
                run_count: info.run_count(),
                run_time_ns: info.run_time().as_nanos() as u64,
            });
        }
        Ok(out)
    }

    /// Turns on the kernel's BPF run-time statistics for as long as the
    /// returned fd is open (they cost a little on every program run).
    pub fn enable_stats() -> Result<std::os::fd::OwnedFd, ProbeError> {
        aya::sys::enable_stats(aya::sys::Stats::RunTime)
            .map_err(|e| ProbeError::from_io("enabling BPF statistics", e.io_error))
    }
}

fn check_ring_size(size: usize) -> Result<(), ProbeError> {
    let page = page_size();
    if size < page || !size.is_power_of_two() || size > (1 << 30) {
        return Err(ProbeError::Config(format!(
            "ring size {size} must be a power of two between {page} and {} bytes",
            1u64 << 30
        )));
    }
    Ok(())
}

pub(crate) fn load_btf() -> Result<Btf, ProbeError> {
    load_btf_from(Path::new(VMLINUX_BTF))
}

fn load_btf_from(path: &Path) -> Result<Btf, ProbeError> {
    if !path.exists() {
        return Err(ProbeError::NoBtf {
            path: path.display().to_string(),
        });
    }
    Btf::parse_file(path, aya::Endianness::default()).map_err(|e| ProbeError::Io {
        what: format!("cannot parse {}: {e}", path.display()),
        source: std::io::Error::other(e.to_string()),
    })
}

/// Number of possible CPUs: the probe creates one ring per possible CPU.
pub fn possible_cpus() -> Result<u32, ProbeError> {
    aya::util::nr_cpus()
        .map(|n| n as u32)
        .map_err(|(path, e)| ProbeError::Io {
            what: format!("cannot read {path}"),
            source: e,
        })
}

fn create_ring(cpu: u32, size: usize) -> Result<MapData, ProbeError> {
    let obj = aya_obj::Map::new_from_params(MAP_TYPE_RINGBUF, 0, 0, size as u32, 0);
    MapData::create(obj, &format!("kst_ring{cpu}"), None).map_err(|e| match e {
        aya::maps::MapError::CreateError { io_error, .. } => match io_error.raw_os_error() {
            Some(libc::EPERM) => ProbeError::NotRoot {
                what: "creating a BPF ring buffer".into(),
                source: io_error,
            },
            Some(libc::EINVAL) => ProbeError::RingBufUnsupported { source: io_error },
            _ => ProbeError::Io {
                what: format!("cannot create the ring buffer of CPU {cpu} ({size} bytes)"),
                source: io_error,
            },
        },
        other => map_err("kst_ring", "create", other),
    })
}

/// One of the object's `tp_btf` programs.
fn tracepoint<'a>(
    ebpf: &'a mut Ebpf,
    name: &'static str,
) -> Result<&'a mut BtfTracePoint, ProbeError> {
    ebpf.program_mut(name)
        .ok_or(ProbeError::Missing("a program"))?
        .try_into()
        .map_err(|e| program_error(name, e))
}

pub(crate) fn take_map(ebpf: &mut Ebpf, name: &'static str) -> Result<aya::maps::Map, ProbeError> {
    ebpf.take_map(name).ok_or(ProbeError::Missing(name))
}

pub(crate) fn map_err(map: &'static str, what: &'static str, e: aya::maps::MapError) -> ProbeError {
    if is_eperm(&e) {
        return ProbeError::NotRoot {
            what: format!("{what} BPF map {map}"),
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
    }
    ProbeError::Map {
        map,
        what,
        source: e,
    }
}

pub(crate) fn load_error(object: &'static str, e: aya::EbpfError) -> ProbeError {
    if is_eperm(&e) {
        return ProbeError::NotRoot {
            what: format!("loading {object}"),
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
    }
    ProbeError::Load { object, source: e }
}

pub(crate) fn program_error(program: &'static str, e: aya::programs::ProgramError) -> ProbeError {
    if is_eperm(&e) {
        return ProbeError::NotRoot {
            what: format!("loading BPF program {program}"),
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
    }
    match e {
        aya::programs::ProgramError::LoadError {
            io_error,
            verifier_log,
        } => ProbeError::Program {
            program,
            message: format!(
                "the verifier rejected it; end of its log:\n{}",
                log_tail(&verifier_log.to_string(), 40)
            ),
            source: Box::new(io_error),
        },
        other => ProbeError::Program {
            program,
            message: other.to_string(),
            source: Box::new(other),
        },
    }
}

pub(crate) fn attach_error(
    program: &'static str,
    tracepoint: &'static str,
    e: aya::programs::ProgramError,
) -> ProbeError {
    if is_eperm(&e) {
        return ProbeError::NotRoot {
            what: format!("attaching {program} to {tracepoint}"),
            source: std::io::Error::from_raw_os_error(libc::EPERM),
        };
    }
    ProbeError::Attach {
        program,
        tracepoint,
        source: e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_kernel_describes_every_decoded_io_uring_op() {
        let btf = load_btf().expect("kernel BTF");
        for (st, _) in URING_LAYOUTS {
            assert!(
                btf.id_by_type_name_kind(st, aya_obj::btf::BtfKind::Struct)
                    .is_ok(),
                "struct {st} missing"
            );
        }
        assert!(btf
            .id_by_type_name_kind("io_no_such_op", aya_obj::btf::BtfKind::Struct)
            .is_err());
    }

    #[test]
    fn missing_btf_is_a_clear_error() {
        let e = load_btf_from(Path::new("/nonexistent/btf/vmlinux")).unwrap_err();
        assert!(matches!(e, ProbeError::NoBtf { .. }));
        assert!(e.to_string().contains("CONFIG_DEBUG_INFO_BTF"), "{e}");
    }

    #[test]
    fn probe_and_readers_move_between_threads() {
        fn send<T: Send>() {}
        send::<Probe>();
        send::<RingReader>();
        send::<crate::EmptyHook>();
    }

    #[test]
    fn ring_size_must_be_a_power_of_two_of_pages() {
        assert!(check_ring_size(8 << 20).is_ok());
        assert!(check_ring_size(page_size()).is_ok());
        assert!(matches!(check_ring_size(1000), Err(ProbeError::Config(_))));
        assert!(matches!(
            check_ring_size(3 * page_size()),
            Err(ProbeError::Config(_))
        ));
    }
}
