//! Rust mirror of `probe/bpf/kestrel_wire.h`, the records the probe writes.
//!
//! The C header is the definition; these `#[repr(C)]` structs copy it and
//! `probe/tests/wire_layout.rs` checks sizes and offsets against the header
//! compiled by the host C compiler. Everything here is plain data: records are
//! read in place from ring memory or a capture file, never copied into these
//! structs on the hot path (see [`super::RawEvent`]).

/// Version of the record layout; written into capture files.
pub const WIRE_VERSION: u32 = 1;
/// Length of `comm` (kernel `TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;
/// Most parameters an event may carry.
pub const MAX_PARAMS: usize = 24;
/// Cap on path parameters.
pub const PATH_MAX: usize = 4096;
/// Cap on the argv parameter.
pub const ARGS_MAX: usize = 4096;
/// Cap on the environment parameter.
pub const ENV_MAX: usize = 2048;
/// Cap on I/O data parameters (Falco's default snaplen is 80).
pub const DATA_MAX: usize = 256;
/// Cap on the exec `cgroups` parameter.
pub const CGROUPS_MAX: usize = 2048;

/// Header flag: a string parameter was cut at its cap.
pub const HF_TRUNCATED: u32 = 0x1;
/// Header flag: made by userspace (the /proc scan), not by the kernel.
pub const HF_SYNTHETIC: u32 = 0x2;
/// Header flag: the kernel interest filter evaluated its clauses for this
/// event (the filter's generation in bits 8..16, [`HF_KGEN_SHIFT`]);
/// [`HF_KSEL`] says whether one held.
pub const HF_KEVAL: u32 = 0x4;
/// Header flag: with [`HF_KEVAL`], a clause of the type's filter held.
/// Without it, none did: only rules the filter could not constrain for
/// this type (those that pass it whole) can match.
pub const HF_KSEL: u32 = 0x8;
/// Header flags, bits 8..16: with [`HF_KEVAL`], the generation of the
/// filter that marked the event (the low byte of its install count,
/// [`FCfg::active`]), so that marks are read only by the ruleset that
/// filter was derived from, even across several quick reloads.
pub const HF_KGEN_SHIFT: u32 = 8;
/// Header flag: the event is an io_uring request (the syscall it stands
/// for was not made); its `IORING_OP_*` opcode is in bits 16..24
/// ([`HF_IOOP_SHIFT`]).
pub const HF_IOURING: u32 = 0x10;
/// Header flag: the io_uring request completed in one of the ring's kernel
/// threads (an io-wq worker `iou-wrk-*` or the SQPOLL thread `iou-sqp-*`),
/// threads of the ring owner's process: `tid` is that thread, the other
/// process fields describe the owner (its thread group leader).
pub const HF_IOWORKER: u32 = 0x20;
/// Shift of the io_uring opcode in the header flags (8 bits).
pub const HF_IOOP_SHIFT: u32 = 16;

/// Counter categories, the index into [`Counters`] arrays.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    /// fork, exec, exit, credentials, namespaces.
    Process = 0,
    /// open, link, rename, chmod, ...
    File = 1,
    /// sockets.
    Network = 2,
    /// everything else (bpf, modules, userfaultfd).
    Other = 3,
}

/// Number of counter categories.
pub const CATEGORY_COUNT: usize = 4;

impl Category {
    /// All categories in index order.
    pub const ALL: [Category; CATEGORY_COUNT] = [
        Category::Process,
        Category::File,
        Category::Network,
        Category::Other,
    ];

    /// Lower-case name used in metrics labels and reports.
    pub fn name(self) -> &'static str {
        match self {
            Category::Process => "process",
            Category::File => "file",
            Category::Network => "network",
            Category::Other => "other",
        }
    }
}

/// `struct kst_event_hdr`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EventHdr {
    /// `bpf_ktime_get_boot_ns()` at the hook.
    pub ts_ns: u64,
    /// cgroup v2 id of the task.
    pub cgroup_id: u64,
    /// Effective capability set.
    pub cap_effective: u64,
    /// Permitted capability set.
    pub cap_permitted: u64,
    /// Syscall return value (0 for non-syscall events).
    pub ret: i64,
    /// `task->self_exec_id`: changes on every exec of the process.
    pub exec_gen: u64,
    /// Length of the whole record, header included.
    pub len: u32,
    /// Event type id (see [`super::EventType`]).
    pub ty: u16,
    /// Number of parameters that follow.
    pub nparams: u16,
    /// CPU the event was recorded on.
    pub cpu: u32,
    /// Thread id (kernel pid).
    pub tid: u32,
    /// Process id (kernel tgid).
    pub tgid: u32,
    /// tgid of the real parent.
    pub ptgid: u32,
    /// Real uid.
    pub uid: u32,
    /// Effective uid.
    pub euid: u32,
    /// Real gid.
    pub gid: u32,
    /// Effective gid.
    pub egid: u32,
    /// Audit login uid; `u32::MAX` when unset.
    pub loginuid: u32,
    /// Inode number of the pid namespace.
    pub pidns_ino: u32,
    /// Inode number of the mount namespace.
    pub mntns_ino: u32,
    /// `HF_*` flags.
    pub flags: u32,
    /// Task command name, NUL padded.
    pub comm: [u8; COMM_LEN],
}

/// Size of [`EventHdr`] on the wire.
pub const HDR_LEN: usize = std::mem::size_of::<EventHdr>();

/// Socket address families used in [`SockTuple::family`].
pub mod af {
    /// No address.
    pub const UNSPEC: u8 = 0;
    /// Unix domain.
    pub const UNIX: u8 = 1;
    /// IPv4.
    pub const INET: u8 = 2;
    /// IPv6.
    pub const INET6: u8 = 10;
}

/// `struct kst_sock_tuple`: a socket's local (`s*`) and peer (`d*`) ends.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SockTuple {
    /// One of [`af`].
    pub family: u8,
    /// IPPROTO_TCP (6), IPPROTO_UDP (17), IPPROTO_ICMP (1), IPPROTO_RAW (255) or 0.
    pub l4proto: u8,
    /// SOCK_STREAM, SOCK_DGRAM, ...
    pub sock_type: u16,
    /// Local port, host byte order.
    pub sport: u16,
    /// Peer port, host byte order.
    pub dport: u16,
    /// Local address (IPv4 in the first four bytes).
    pub saddr: [u8; 16],
    /// Peer address.
    pub daddr: [u8; 16],
}

/// `struct kst_fdinfo`: what an fd referred to at the syscall's exit.
/// On the wire it may be followed by the path of the file.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FdInfo {
    /// The descriptor.
    pub fd: i32,
    /// Falco's `fd.typechar` character (`b'f'`, `b'4'`, ...), 0 when unknown.
    pub kind: u8,
    /// Padding.
    pub pad: [u8; 3],
    /// Socket endpoints; zero unless a socket.
    pub tuple: SockTuple,
}

/// Size of [`FdInfo`] on the wire (a path may follow).
pub const FDINFO_LEN: usize = std::mem::size_of::<FdInfo>();

/// `struct kst_counters`: one per CPU.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Events the probe tried to emit, by category.
    pub seen: [u64; CATEGORY_COUNT],
    /// Records committed to the ring.
    pub sent: [u64; CATEGORY_COUNT],
    /// Records lost because the ring was full.
    pub dropped: [u64; CATEGORY_COUNT],
}

impl Counters {
    /// Sum of all categories of `seen`.
    pub fn total_seen(&self) -> u64 {
        self.seen.iter().sum()
    }
    /// Sum of all categories of `sent`.
    pub fn total_sent(&self) -> u64 {
        self.sent.iter().sum()
    }
    /// Sum of all categories of `dropped`.
    pub fn total_dropped(&self) -> u64 {
        self.dropped.iter().sum()
    }
}

/// Clauses per event type the probe's interest filter evaluates.
pub const FILTER_CLAUSES: usize = 8;
/// Bytes of a path-trie key's data (slot byte, path, NUL).
pub const FPATH_DATA: usize = 256;
/// Longest path the filter tests; longer ones pass every path test.
pub const FPATH_MAX: usize = 254;
/// Processes the probe counts filtered events for (load-generator
/// reconciliation).
pub const TRACK_SLOTS: usize = 8;

/// `kst_tfilter.mode`: every event of the type is emitted.
pub const TF_PASS: u8 = 0;
/// `kst_tfilter.mode`: emitted if a clause holds.
pub const TF_CLAUSES: u8 = 1;
/// `kst_tfilter.mode`: no clause can hold.
pub const TF_DROP: u8 = 2;
/// `kst_tfilter.flags`: some clause tests the path.
pub const TFF_PATH: u8 = 0x1;
/// `kst_tfilter.flags`: some clause tests the comm.
pub const TFF_COMM: u8 = 0x2;
/// `kst_tfilter.flags`: close of a socket the probe saw connected or
/// accepted is emitted whatever the clauses say.
pub const TFF_SOCKFD: u8 = 0x4;
/// `kst_tfilter.flags`: every event of the type is emitted; the clauses
/// only mark it ([`HF_KSEL`]).
pub const TFF_MARK: u8 = 0x8;
/// `kst_fclause.ret`: any return value.
pub const FR_ANY: u8 = 0;
/// `kst_fclause.ret`: success (ret >= 0).
pub const FR_SUCCESS: u8 = 1;
/// `kst_fclause.ret`: failure (ret < 0).
pub const FR_FAILURE: u8 = 2;

/// `struct kst_fclause`: one conjunction of the filter.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FClause {
    /// 0: no path test; else the path's sets must meet it.
    pub path_mask: u64,
    /// 0: no comm test; else (main thread only) the comm's sets must meet it.
    pub comm_mask: u64,
    /// Open family: `flags & flags_any != 0` when nonzero.
    pub flags_any: u32,
    /// Open family: `flags & flags_none == 0`.
    pub flags_none: u32,
    /// Open family: bit `flags & 3` must be set.
    pub acc_modes: u8,
    /// `FR_*`.
    pub ret: u8,
    /// Padding.
    pub pad: [u8; 6],
}

/// `struct kst_tfilter`: the filter of one event type.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TFilter {
    /// `TF_*`.
    pub mode: u8,
    /// Clauses in use.
    pub nclauses: u8,
    /// `TFF_*`.
    pub flags: u8,
    /// Padding.
    pub pad: [u8; 5],
    /// The clauses.
    pub c: [FClause; FILTER_CLAUSES],
}

/// `struct kst_fpath_key`: a path-trie key.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FPathKey {
    /// Bits of `data` that count.
    pub prefixlen: u32,
    /// Slot byte, path, NUL for an exact entry.
    pub data: [u8; FPATH_DATA],
}

/// `struct kst_fcomm_key`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FCommKey {
    /// Filter slot.
    pub slot: u32,
    /// Comm cut at the first NUL, zero padded.
    pub comm: [u8; COMM_LEN],
}

/// `struct kst_fcfg`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FCfg {
    /// Filters installed so far: its low bit is the slot in force, its low
    /// byte the generation marks carry ([`HF_KGEN_SHIFT`]).
    pub active: u32,
    /// Whether any process is tracked.
    pub tracking: u32,
}

/// What userspace installs as the probe's interest filter (built from the
/// rules by the engine, written into the maps by the probe loader).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FilterProgram {
    /// `(event type id, filter)`; types not listed pass everything.
    pub types: Vec<(u16, TFilter)>,
    /// Path-trie entries: `(pattern, exact, mask)`.
    pub paths: Vec<(Vec<u8>, bool, u64)>,
    /// Comm entries: `(comm cut at its NUL and zero padded, mask)`.
    pub comms: Vec<([u8; COMM_LEN], u64)>,
}
