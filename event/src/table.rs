//! The event table: every event type kestrel knows, its Falco name, its
//! category and the schema of its parameters.
//!
//! The probe writes each event's parameters in exactly the order listed here
//! (see `probe/bpf/kestrel_wire.h` for the encodings). Names follow Falco's
//! event table (falcosecurity/libs `driver/event_table.c`) so that
//! `evt.arg.<name>` and `evt.args` mean what they mean in Falco. Parameters
//! marked `hidden` are kestrel's own additions (paths the kernel resolved for
//! us); they are not shown by `evt.args`.
//!
//! Falco exit parameters that equal the return value (the `fd` of `open`, the
//! `res` of most calls) are not on the wire: [`EventInfo::ret`] says how the
//! return value is named and typed.

use super::wire::Category;

/// A stable event type id (the `type` field of the wire header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EventType(pub u16);

/// Named flag and enumeration sets used to render numeric parameters.
/// The tables live in [`super::flags`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FlagSet {
    /// open(2) flags (`O_RDONLY|O_CREAT|...`).
    Open,
    /// openat2 `resolve` flags (`RESOLVE_*`).
    OpenatResolve,
    /// File mode bits (`S_IRUSR|...`).
    Mode,
    /// clone(2) flags (`CLONE_*`).
    Clone,
    /// Namespace flags for setns/unshare (`CLONE_NEW*`).
    Namespaces,
    /// ptrace requests (`PTRACE_ATTACH`, ...), an enumeration.
    PtraceRequest,
    /// Socket address family (`AF_INET`, `AF_PACKET`, ...), an enumeration.
    SocketFamily,
    /// Socket type (`SOCK_STREAM`, ...) with flag bits.
    SocketType,
    /// bpf(2) command (`BPF_PROG_LOAD`, ...), an enumeration.
    BpfCmd,
    /// prctl(2) option (`PR_SET_NAME`, ...), an enumeration.
    PrctlOption,
    /// mount(2) flags (`MS_*`).
    Mount,
    /// umount2 flags (`MNT_FORCE`, ...).
    Umount,
    /// linkat flags (`AT_SYMLINK_FOLLOW`, ...).
    Linkat,
    /// unlinkat flags (`AT_REMOVEDIR`).
    Unlinkat,
    /// fchownat flags (`AT_SYMLINK_NOFOLLOW`, `AT_EMPTY_PATH`).
    Fchownat,
    /// renameat2 flags (`RENAME_*`).
    Renameat2,
    /// accept4/dup3/memfd/userfaultfd flags that are O_CLOEXEC/O_NONBLOCK style.
    FdFlags,
    /// memfd_create flags (`MFD_*`).
    Memfd,
    /// execve result flags (`EXE_WRITABLE|EXE_UPPER_LAYER|...`).
    Exe,
    /// finit_module flags (`MODULE_INIT_*`).
    FinitModule,
    /// fcntl(2) command (`F_DUPFD`, `F_SETFL`, ...), an enumeration.
    FcntlCmd,
    /// Signal number (`SIGKILL`, ...), an enumeration (Falco's `PT_SIGTYPE`).
    Signal,
    /// mmap/mprotect protection (`PROT_READ|PROT_EXEC`).
    Prot,
    /// mmap flags (`MAP_SHARED|MAP_ANONYMOUS`).
    Mmap,
    /// io_uring_setup(2) flags (`IORING_SETUP_SQPOLL`, ...).
    IoUringSetup,
    /// access(2) mode (`R_OK|W_OK`, `F_OK`).
    Access,
    /// lseek(2) whence (`SEEK_SET`, ...), an enumeration.
    Whence,
    /// flock(2) operation (`LOCK_EX|LOCK_NB`).
    Flock,
    /// mlockall(2) flags (`MCL_CURRENT|MCL_FUTURE`).
    Mlockall,
}

/// How a parameter is encoded on the wire and rendered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParamKind {
    /// A file descriptor (signed, 8 bytes).
    Fd,
    /// Signed integer (8 bytes), rendered in decimal.
    Int,
    /// Unsigned integer (8 bytes), rendered in decimal.
    Uint,
    /// Unsigned integer rendered in hex (addresses).
    Hex,
    /// A pid (8 bytes).
    Pid,
    /// A uid (8 bytes); rendered as the user name in `evt.arg.*`.
    Uid,
    /// A gid (8 bytes); rendered as the group name in `evt.arg.*`.
    Gid,
    /// Flag bits (8 bytes) rendered as names joined by `|`.
    Flags(FlagSet),
    /// An enumeration value (8 bytes) rendered as its name.
    Enum(FlagSet),
    /// File mode (8 bytes) rendered as `S_I*` names.
    Mode,
    /// A path as passed by the caller, absolute or relative to the cwd.
    Path,
    /// A path relative to a directory fd. `dirfd` is the index of the fd
    /// parameter; `dirpath` the index of the hidden parameter holding the
    /// kernel-resolved path of that directory (empty when the path is
    /// absolute or the fd is `AT_FDCWD`).
    RelPath {
        /// Index of the directory fd parameter.
        dirfd: u8,
        /// Index of the hidden resolved-directory parameter.
        dirpath: u8,
    },
    /// A string.
    Str,
    /// Raw bytes (I/O data, module images).
    Bytes,
    /// NUL-separated strings (argv, environment), without a final NUL.
    StrList,
    /// `struct kst_fdinfo`, optionally followed by a path: the absolute
    /// path (up to the task's root) of a file or directory, the bound path
    /// of a unix socket (or of its peer when it is not bound; abstract names
    /// start with NUL), `memfd:<name>` for a memfd and `<type>:[<inode>]`
    /// for a namespace file.
    FdInfo,
    /// `struct kst_sock_tuple` holding an address the caller passed, in its
    /// peer side (`family`, `daddr`, `dport`); for a unix address the path
    /// follows the struct (abstract names start with NUL).
    SockAddr,
}

/// One parameter of an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParamInfo {
    /// Falco's parameter name (`evt.arg.<name>`).
    pub name: &'static str,
    /// Encoding and rendering.
    pub kind: ParamKind,
    /// kestrel's own addition; not shown by `evt.args`.
    pub hidden: bool,
}

/// How the return value of an event is named and typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetKind {
    /// No return value (scheduler events).
    None,
    /// `res`: 0 or a negative errno.
    Errno,
    /// `fd`: a new descriptor or a negative errno.
    Fd,
    /// `res`: a pid or a negative errno.
    Pid,
    /// `res`: a count or a negative errno.
    Count,
}

/// What an event is about, for `fd.*` fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FdUse {
    /// The event has no fd (`fd.*` fields are missing).
    None,
    /// The event creates the fd it returns (open, socket, accept, ...).
    Returns,
    /// The event operates on the fd in parameter `index`.
    Param(u8),
}

/// Static description of an event type.
#[derive(Debug, Clone, Copy)]
pub struct EventInfo {
    /// The stable id.
    pub ty: EventType,
    /// Falco's `evt.type` name.
    pub name: &'static str,
    /// Counter category.
    pub category: Category,
    /// Return value naming.
    pub ret: RetKind,
    /// Which fd the event is about.
    pub fd: FdUse,
    /// x86_64 syscall number, `None` for non-syscall events.
    pub nr_x86_64: Option<u32>,
    /// Parameters in wire order.
    pub params: &'static [ParamInfo],
    /// How the probe captures the event: `None` for the events written by
    /// their own BPF routine, `Some(sources)` (one per parameter) for the
    /// ones the generic descriptor-driven routine writes.
    pub capture: Option<&'static [Src]>,
}

/// Where the probe's generic capture routine takes one parameter from.
/// Registers are numbered in syscall argument order (0: `di`, 1: `si`,
/// 2: `dx`, 3: `r10`, 4: `r8`, 5: `r9`). The loader hands these to the
/// probe (map `kst_gdesc`), so the table is the only place that says how a
/// generically captured event is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Src {
    /// Register k sign-extended from 32 bits (a C int: fd, pid, signal).
    Int(u8),
    /// Register k zero-extended from 32 bits (unsigned int, flags).
    U32(u8),
    /// Register k, all 64 bits (sizes, addresses, offsets).
    U64(u8),
    /// NUL-terminated user string at register k (at most 4096 bytes).
    Str(u8),
    /// User memory at register k, as many bytes as register j says (only
    /// when the call succeeded), capped at the snaplen.
    Buf(u8, u8),
    /// User memory at register k, as many bytes as the call returned,
    /// capped at the snaplen.
    BufRet(u8),
    /// The data of the iovec array at register k (count in register j):
    /// the first iovec's bytes, as many as the call returned, capped at
    /// the snaplen.
    IovData(u8, u8),
    /// The total length of the iovec array at register k (count in
    /// register j; the first 8 iovecs).
    IovSize(u8, u8),
    /// The `struct kst_fdinfo` of the descriptor in register k.
    FdInfo(u8),
    /// The C int at user address (register k) + j bytes, read after the
    /// call (the fds pipe(2) and socketpair(2) wrote back).
    UserInt(u8, u8),
    /// The system call number.
    Nr,
    /// The return value (Falco's `getuid` has it as the `uid` parameter).
    Ret,
    /// The u64 at user address (register k) + j bytes, read after the call
    /// (0 when the call failed): a `struct rlimit` member, an offset.
    UserU64(u8, u8),
    /// The `struct timespec` at user address register k, in nanoseconds.
    Timespec(u8),
    /// The hidden dirpath of the relative path in parameter j: the
    /// directory the fd in register k refers to, when that path is
    /// relative and the fd not `AT_FDCWD` (else empty).
    DirPath(u8, u8),
    /// The `struct kst_fdinfo` of the descriptor the call returned.
    FdInfoRet,
}

impl Src {
    /// The probe's encoding: `(kind, a, b)` as in `struct kst_gdesc`
    /// (`probe/bpf/kestrel_wire.h`, `KST_GD_*`).
    pub fn encode(self) -> (u8, u8, u8) {
        match self {
            Src::Int(k) => (1, k, 0),
            Src::U32(k) => (2, k, 0),
            Src::U64(k) => (3, k, 0),
            Src::Str(k) => (4, k, 0),
            Src::Buf(k, j) => (5, k, j),
            Src::BufRet(k) => (6, k, 0),
            Src::IovData(k, j) => (7, k, j),
            Src::IovSize(k, j) => (8, k, j),
            Src::FdInfo(k) => (9, k, 0),
            Src::UserInt(k, j) => (10, k, j),
            Src::Nr => (11, 0, 0),
            Src::Ret => (12, 0, 0),
            Src::UserU64(k, j) => (13, k, j),
            Src::Timespec(k) => (14, k, 0),
            Src::DirPath(k, j) => (15, k, j),
            Src::FdInfoRet => (16, 0, 0),
        }
    }
}

/// Most parameters a generically captured event has (`KST_GD_MAX`).
pub const GENERIC_MAX_PARAMS: usize = 8;

const fn p(name: &'static str, kind: ParamKind) -> ParamInfo {
    ParamInfo {
        name,
        kind,
        hidden: false,
    }
}

const fn hidden(name: &'static str, kind: ParamKind) -> ParamInfo {
    ParamInfo {
        name,
        kind,
        hidden: true,
    }
}

use FlagSet as F;
use ParamKind as K;
use Src as S;

/// Parameters of exec events and of the synthetic `procinfo` event. The
/// successful exec is emitted from `sched_process_exec` with the new image;
/// a failed one from the syscall exit, where only `filename` is known.
pub const EXEC_PARAMS: &[ParamInfo] = &[
    p("argv", K::StrList),             // 0: argv[0..], from mm->arg_start
    p("cwd", K::Path),                 // 1
    p("trusted_exepath", K::Path),     // 2: path of the executable file
    p("filename", K::Path),            // 3: the path given to exec
    p("env", K::StrList),              // 4
    p("cgroups", K::StrList),          // 5: "<controller>=<path>"; "unified=" is the v2 hierarchy
    p("tty", K::Uint),                 // 6: dev_t of the controlling tty, 0 if none
    p("sid", K::Pid),                  // 7: session id (kernel pid)
    p("vpid", K::Pid),                 // 8: pid in its own namespace
    p("vpgid", K::Pid),                // 9
    p("pgid", K::Pid),                 // 10
    p("flags", K::Flags(F::Exe)),      // 11: EXE_* bits
    p("exe_ino", K::Uint),             // 12
    p("exe_ino_ctime", K::Uint),       // 13: epoch ns
    p("exe_ino_mtime", K::Uint),       // 14: epoch ns
    p("start_ts", K::Uint),            // 15: process start, boot-time ns
    p("pidns_init_start_ts", K::Uint), // 16: start of the pid namespace's init, boot-time ns
    p("cap_inheritable", K::Hex),      // 17
];

/// Index of each exec parameter, for readers.
pub mod exec {
    /// argv.
    pub const ARGV: usize = 0;
    /// cwd.
    pub const CWD: usize = 1;
    /// trusted_exepath.
    pub const EXEPATH: usize = 2;
    /// filename.
    pub const FILENAME: usize = 3;
    /// env.
    pub const ENV: usize = 4;
    /// cgroups.
    pub const CGROUPS: usize = 5;
    /// tty.
    pub const TTY: usize = 6;
    /// sid.
    pub const SID: usize = 7;
    /// vpid.
    pub const VPID: usize = 8;
    /// vpgid.
    pub const VPGID: usize = 9;
    /// pgid.
    pub const PGID: usize = 10;
    /// flags.
    pub const FLAGS: usize = 11;
    /// exe_ino.
    pub const EXE_INO: usize = 12;
    /// exe_ino_ctime.
    pub const EXE_INO_CTIME: usize = 13;
    /// exe_ino_mtime.
    pub const EXE_INO_MTIME: usize = 14;
    /// start_ts.
    pub const START_TS: usize = 15;
    /// pidns_init_start_ts.
    pub const PIDNS_INIT_START_TS: usize = 16;
    /// cap_inheritable.
    pub const CAP_INHERITABLE: usize = 17;
}

/// Execve result flag bits (Falco's `PPM_EXE_*`).
pub mod exe_flags {
    /// The executable is writable by the caller.
    pub const WRITABLE: u64 = 1 << 0;
    /// The executable lives in an overlayfs upper layer.
    pub const UPPER_LAYER: u64 = 1 << 1;
    /// The executable is a memfd.
    pub const FROM_MEMFD: u64 = 1 << 2;
    /// The executable lives in an overlayfs lower layer.
    pub const LOWER_LAYER: u64 = 1 << 3;
}

macro_rules! ev {
    ($id:expr, $name:expr, $cat:ident, $ret:ident, $fd:expr, $nr:expr, $params:expr) => {
        EventInfo {
            ty: EventType($id),
            name: $name,
            category: Category::$cat,
            ret: RetKind::$ret,
            fd: $fd,
            nr_x86_64: $nr,
            params: $params,
            capture: None,
        }
    };
}

/// An event the probe's generic routine captures: each parameter with its
/// source.
macro_rules! gev {
    ($id:expr, $name:expr, $cat:ident, $ret:ident, $fd:expr, $nr:expr, [$(($prm:expr, $src:expr)),* $(,)?]) => {
        EventInfo {
            ty: EventType($id),
            name: $name,
            category: Category::$cat,
            ret: RetKind::$ret,
            fd: $fd,
            nr_x86_64: $nr,
            params: &[$($prm),*],
            capture: Some(&[$($src),*]),
        }
    };
}

const NOFD: FdUse = FdUse::None;
const RETFD: FdUse = FdUse::Returns;
const fn fdp(i: u8) -> FdUse {
    FdUse::Param(i)
}

/// Every event type, in id order.
pub const EVENTS: &[EventInfo] = &[
    // ---- process (1-63)
    ev!(1, "execve", Process, Errno, NOFD, Some(59), EXEC_PARAMS),
    ev!(2, "execveat", Process, Errno, NOFD, Some(322), EXEC_PARAMS),
    ev!(
        3,
        "clone",
        Process,
        Pid,
        NOFD,
        Some(56),
        &[p("flags", K::Flags(F::Clone))]
    ),
    ev!(
        4,
        "clone3",
        Process,
        Pid,
        NOFD,
        Some(435),
        &[p("flags", K::Flags(F::Clone))]
    ),
    ev!(5, "fork", Process, Pid, NOFD, Some(57), &[]),
    ev!(6, "vfork", Process, Pid, NOFD, Some(58), &[]),
    ev!(
        7,
        "procfork",
        Process,
        None,
        NOFD,
        None,
        &[
            p("child_tid", K::Pid),
            p("child_tgid", K::Pid),
            p("child_ptgid", K::Pid),
            p("child_vpid", K::Pid),
            p("start_ts", K::Uint),
        ]
    ),
    ev!(
        8,
        "procexit",
        Process,
        None,
        NOFD,
        None,
        &[p("status", K::Int)]
    ),
    ev!(9, "procinfo", Process, None, NOFD, None, EXEC_PARAMS),
    ev!(
        10,
        "setuid",
        Process,
        Errno,
        NOFD,
        Some(105),
        &[p("uid", K::Uid)]
    ),
    ev!(
        11,
        "setgid",
        Process,
        Errno,
        NOFD,
        Some(106),
        &[p("gid", K::Gid)]
    ),
    ev!(
        12,
        "setresuid",
        Process,
        Errno,
        NOFD,
        Some(117),
        &[p("ruid", K::Uid), p("euid", K::Uid), p("suid", K::Uid)]
    ),
    ev!(
        13,
        "setresgid",
        Process,
        Errno,
        NOFD,
        Some(119),
        &[p("rgid", K::Gid), p("egid", K::Gid), p("sgid", K::Gid)]
    ),
    ev!(
        14,
        "setreuid",
        Process,
        Errno,
        NOFD,
        Some(113),
        &[p("ruid", K::Uid), p("euid", K::Uid)]
    ),
    ev!(
        15,
        "setregid",
        Process,
        Errno,
        NOFD,
        Some(114),
        &[p("rgid", K::Gid), p("egid", K::Gid)]
    ),
    ev!(16, "setsid", Process, Pid, NOFD, Some(112), &[]),
    ev!(
        17,
        "setpgid",
        Process,
        Errno,
        NOFD,
        Some(109),
        &[p("pid", K::Pid), p("pgid", K::Pid)]
    ),
    ev!(
        18,
        "capset",
        Process,
        Errno,
        NOFD,
        Some(126),
        &[
            p("cap_inheritable", K::Hex),
            p("cap_permitted", K::Hex),
            p("cap_effective", K::Hex)
        ]
    ),
    ev!(
        19,
        "prctl",
        Process,
        Count,
        NOFD,
        Some(157),
        &[
            p("option", K::Enum(F::PrctlOption)),
            p("arg2_str", K::Str),
            p("arg2_int", K::Int)
        ]
    ),
    ev!(
        20,
        "chdir",
        Process,
        Errno,
        NOFD,
        Some(80),
        &[p("path", K::Path)]
    ),
    ev!(
        21,
        "fchdir",
        Process,
        Errno,
        fdp(0),
        Some(81),
        &[p("fd", K::Fd), hidden("fdinfo", K::FdInfo)]
    ),
    ev!(
        22,
        "chroot",
        Process,
        Errno,
        NOFD,
        Some(161),
        &[p("path", K::Path)]
    ),
    ev!(
        23,
        "ptrace",
        Process,
        Count,
        NOFD,
        Some(101),
        &[
            p("request", K::Enum(F::PtraceRequest)),
            p("pid", K::Pid),
            p("addr", K::Hex),
            p("data", K::Hex),
        ]
    ),
    ev!(
        24,
        "setns",
        Process,
        Errno,
        fdp(0),
        Some(308),
        &[
            p("fd", K::Fd),
            p("nstype", K::Flags(F::Namespaces)),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    ev!(
        25,
        "unshare",
        Process,
        Errno,
        NOFD,
        Some(272),
        &[p("flags", K::Flags(F::Namespaces))]
    ),
    // ---- generic capture (see [`Src`]): Falco's parameters, in Falco's
    // order, less the return value; an fd comes with its hidden fdinfo.
    gev!(
        26,
        "kill",
        Process,
        Errno,
        NOFD,
        Some(62),
        [
            (p("pid", K::Pid), S::Int(0)),
            (p("sig", K::Enum(F::Signal)), S::U32(1)),
        ]
    ),
    gev!(
        27,
        "tkill",
        Process,
        Errno,
        NOFD,
        Some(200),
        [
            (p("tid", K::Pid), S::Int(0)),
            (p("sig", K::Enum(F::Signal)), S::U32(1)),
        ]
    ),
    gev!(
        28,
        "tgkill",
        Process,
        Errno,
        NOFD,
        Some(234),
        [
            (p("pid", K::Pid), S::Int(0)),
            (p("tid", K::Pid), S::Int(1)),
            (p("sig", K::Enum(F::Signal)), S::U32(2)),
        ]
    ),
    // process_vm_readv/writev: the local iovecs (register 1, count 2) hold
    // the data that moved.
    gev!(
        29,
        "process_vm_readv",
        Process,
        Count,
        NOFD,
        Some(310),
        [
            (p("pid", K::Pid), S::Int(0)),
            (p("data", K::Bytes), S::IovData(1, 2)),
        ]
    ),
    gev!(
        30,
        "process_vm_writev",
        Process,
        Count,
        NOFD,
        Some(311),
        [
            (p("pid", K::Pid), S::Int(0)),
            (p("data", K::Bytes), S::IovData(1, 2)),
        ]
    ),
    // pivot_root has no event of its own in Falco's table (Falco reports
    // it as a generic `syscall` event: ID, nativeID); kestrel adds the two
    // paths, hidden.
    gev!(
        31,
        "pivot_root",
        Process,
        Errno,
        NOFD,
        Some(155),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("new_root", K::Path), S::Str(0)),
            (hidden("put_old", K::Path), S::Str(1)),
        ]
    ),
    // The rest of Falco's event table for x86_64, captured generically.
    // Parameters Falco fills from kernel state kestrel does not read (vm
    // sizes, fd lists, semop's operations, signal masks) are left out;
    // flag parameters without a flag set here render as numbers.
    gev!(
        32,
        "getrlimit",
        Process,
        Errno,
        NOFD,
        Some(97),
        [
            (p("cur", K::Int), S::UserU64(1, 0)),
            (p("max", K::Int), S::UserU64(1, 8)),
            (p("resource", K::Uint), S::U32(0)),
        ]
    ),
    gev!(
        33,
        "setrlimit",
        Process,
        Errno,
        NOFD,
        Some(160),
        [
            (p("cur", K::Int), S::UserU64(1, 0)),
            (p("max", K::Int), S::UserU64(1, 8)),
            (p("resource", K::Uint), S::U32(0)),
        ]
    ),
    gev!(
        34,
        "prlimit",
        Process,
        Errno,
        NOFD,
        Some(302),
        [
            (p("newcur", K::Int), S::UserU64(2, 0)),
            (p("newmax", K::Int), S::UserU64(2, 8)),
            (p("oldcur", K::Int), S::UserU64(3, 0)),
            (p("oldmax", K::Int), S::UserU64(3, 8)),
            (p("pid", K::Int), S::Int(0)),
            (p("resource", K::Uint), S::U32(1)),
        ]
    ),
    gev!(
        35,
        "pidfd_open",
        Process,
        Fd,
        NOFD,
        Some(434),
        [
            (p("pid", K::Pid), S::Int(0)),
            (p("flags", K::Uint), S::U32(1)),
        ]
    ),
    gev!(
        36,
        "pidfd_getfd",
        Process,
        Fd,
        NOFD,
        Some(438),
        [
            (p("pid_fd", K::Fd), S::Int(0)),
            (p("target_fd", K::Fd), S::Int(1)),
            (p("flags", K::Uint), S::U32(2)),
        ]
    ),
    gev!(
        37,
        "semop",
        Process,
        Errno,
        NOFD,
        Some(65),
        [
            (p("nsops", K::Uint), S::U64(2)),
            (p("semid", K::Int), S::Int(0)),
        ]
    ),
    gev!(
        38,
        "semget",
        Process,
        Errno,
        NOFD,
        Some(64),
        [
            (p("key", K::Int), S::Int(0)),
            (p("nsems", K::Int), S::Int(1)),
            (p("semflg", K::Hex), S::U32(2)),
        ]
    ),
    gev!(
        39,
        "semctl",
        Process,
        Errno,
        NOFD,
        Some(66),
        [
            (p("semid", K::Int), S::Int(0)),
            (p("semnum", K::Int), S::Int(1)),
            (p("cmd", K::Uint), S::U32(2)),
            (p("val", K::Int), S::Int(3)),
        ]
    ),
    // getuid and friends: Falco has the result as the parameter, no res.
    gev!(
        40,
        "getuid",
        Process,
        None,
        NOFD,
        Some(102),
        [(p("uid", K::Uid), S::Ret)]
    ),
    gev!(
        41,
        "geteuid",
        Process,
        None,
        NOFD,
        Some(107),
        [(p("euid", K::Uid), S::Ret)]
    ),
    gev!(
        42,
        "getgid",
        Process,
        None,
        NOFD,
        Some(104),
        [(p("gid", K::Gid), S::Ret)]
    ),
    gev!(
        43,
        "getegid",
        Process,
        None,
        NOFD,
        Some(108),
        [(p("egid", K::Gid), S::Ret)]
    ),
    gev!(
        44,
        "getresuid",
        Process,
        Errno,
        NOFD,
        Some(118),
        [
            (p("ruid", K::Uid), S::UserInt(0, 0)),
            (p("euid", K::Uid), S::UserInt(1, 0)),
            (p("suid", K::Uid), S::UserInt(2, 0)),
        ]
    ),
    gev!(
        45,
        "getresgid",
        Process,
        Errno,
        NOFD,
        Some(120),
        [
            (p("rgid", K::Gid), S::UserInt(0, 0)),
            (p("egid", K::Gid), S::UserInt(1, 0)),
            (p("sgid", K::Gid), S::UserInt(2, 0)),
        ]
    ),
    gev!(
        46,
        "signalfd",
        Process,
        Count,
        NOFD,
        Some(282),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("mask", K::Hex), S::UserInt(1, 0)),
        ]
    ),
    gev!(
        47,
        "signalfd4",
        Process,
        Count,
        NOFD,
        Some(289),
        [
            (p("flags", K::Flags(F::FdFlags)), S::U32(3)),
            (p("fd", K::Fd), S::Int(0)),
            (p("mask", K::Hex), S::UserInt(1, 0)),
        ]
    ),
    gev!(
        48,
        "nanosleep",
        Process,
        Errno,
        NOFD,
        Some(35),
        [(p("interval", K::Uint), S::Timespec(0)),]
    ),
    gev!(
        49,
        "futex",
        Process,
        Count,
        NOFD,
        Some(202),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("op", K::Uint), S::U32(1)),
            (p("val", K::Uint), S::U64(2)),
        ]
    ),
    // System calls without an event of their own in Falco's table, which
    // Falco reports as generic `syscall` events named after the call (ID,
    // nativeID: the syscall number); kestrel adds a few arguments, hidden.
    // The security-relevant ones only: ids are limited to 255.
    gev!(
        50,
        "setfsuid",
        Process,
        Count,
        NOFD,
        Some(122),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("uid", K::Uid), S::U32(0)),
        ]
    ),
    gev!(
        51,
        "setfsgid",
        Process,
        Count,
        NOFD,
        Some(123),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("gid", K::Gid), S::U32(0)),
        ]
    ),
    gev!(
        52,
        "setgroups",
        Process,
        Count,
        NOFD,
        Some(116),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("size", K::Int), S::Int(0)),
        ]
    ),
    gev!(
        53,
        "personality",
        Process,
        Count,
        NOFD,
        Some(135),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("persona", K::Hex), S::U32(0)),
        ]
    ),
    gev!(
        54,
        "pidfd_send_signal",
        Process,
        Count,
        NOFD,
        Some(424),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("pidfd", K::Fd), S::Int(0)),
            (hidden("sig", K::Enum(F::Signal)), S::U32(1)),
        ]
    ),
    gev!(
        55,
        "rt_sigqueueinfo",
        Process,
        Count,
        NOFD,
        Some(129),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("pid", K::Pid), S::Int(0)),
            (hidden("sig", K::Enum(F::Signal)), S::U32(1)),
        ]
    ),
    gev!(
        56,
        "rt_tgsigqueueinfo",
        Process,
        Count,
        NOFD,
        Some(297),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("pid", K::Pid), S::Int(0)),
            (hidden("tid", K::Pid), S::Int(1)),
            (hidden("sig", K::Enum(F::Signal)), S::U32(2)),
        ]
    ),
    gev!(
        57,
        "kcmp",
        Process,
        Count,
        NOFD,
        Some(312),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("pid1", K::Pid), S::Int(0)),
            (hidden("pid2", K::Pid), S::Int(1)),
        ]
    ),
    gev!(
        58,
        "process_madvise",
        Process,
        Count,
        NOFD,
        Some(440),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("pidfd", K::Fd), S::Int(0)),
        ]
    ),
    gev!(
        59,
        "umask",
        Process,
        Count,
        NOFD,
        Some(95),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("mask", K::Mode), S::U32(0)),
        ]
    ),
    gev!(
        60,
        "acct",
        Process,
        Count,
        NOFD,
        Some(163),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("filename", K::Path), S::Str(0)),
        ]
    ),
    gev!(
        61,
        "vhangup",
        Process,
        Count,
        NOFD,
        Some(153),
        [(p("ID", K::Uint), S::Nr), (p("nativeID", K::Uint), S::Nr),]
    ),
    gev!(
        62,
        "sethostname",
        Process,
        Count,
        NOFD,
        Some(170),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("name", K::Str), S::Str(0)),
        ]
    ),
    gev!(
        63,
        "setdomainname",
        Process,
        Count,
        NOFD,
        Some(171),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("name", K::Str), S::Str(0)),
        ]
    ),
    // ---- file (64-127)
    ev!(
        64,
        "open",
        File,
        Fd,
        RETFD,
        Some(2),
        &[
            p("name", K::Path),
            p("flags", K::Flags(F::Open)),
            p("mode", K::Mode)
        ]
    ),
    ev!(
        65,
        "openat",
        File,
        Fd,
        RETFD,
        Some(257),
        &[
            p("dirfd", K::Fd),
            p(
                "name",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 4
                }
            ),
            p("flags", K::Flags(F::Open)),
            p("mode", K::Mode),
            hidden("dirpath", K::Path),
        ]
    ),
    ev!(
        66,
        "openat2",
        File,
        Fd,
        RETFD,
        Some(437),
        &[
            p("dirfd", K::Fd),
            p(
                "name",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 5
                }
            ),
            p("flags", K::Flags(F::Open)),
            p("mode", K::Mode),
            p("resolve", K::Flags(F::OpenatResolve)),
            hidden("dirpath", K::Path),
        ]
    ),
    ev!(
        67,
        "creat",
        File,
        Fd,
        RETFD,
        Some(85),
        &[p("name", K::Path), p("mode", K::Mode)]
    ),
    ev!(68, "close", File, Errno, fdp(0), Some(3), &[p("fd", K::Fd)]),
    ev!(
        69,
        "symlink",
        File,
        Errno,
        NOFD,
        Some(88),
        &[p("target", K::Str), p("linkpath", K::Path)]
    ),
    ev!(
        70,
        "symlinkat",
        File,
        Errno,
        NOFD,
        Some(266),
        &[
            p("target", K::Str),
            p("linkdirfd", K::Fd),
            p(
                "linkpath",
                K::RelPath {
                    dirfd: 1,
                    dirpath: 3
                }
            ),
            hidden("linkdirpath", K::Path),
        ]
    ),
    ev!(
        71,
        "link",
        File,
        Errno,
        NOFD,
        Some(86),
        &[p("oldpath", K::Path), p("newpath", K::Path)]
    ),
    ev!(
        72,
        "linkat",
        File,
        Errno,
        NOFD,
        Some(265),
        &[
            p("olddir", K::Fd),
            p(
                "oldpath",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 5
                }
            ),
            p("newdir", K::Fd),
            p(
                "newpath",
                K::RelPath {
                    dirfd: 2,
                    dirpath: 6
                }
            ),
            p("flags", K::Flags(F::Linkat)),
            hidden("olddirpath", K::Path),
            hidden("newdirpath", K::Path),
        ]
    ),
    ev!(
        73,
        "rename",
        File,
        Errno,
        NOFD,
        Some(82),
        &[p("oldpath", K::Path), p("newpath", K::Path)]
    ),
    ev!(
        74,
        "renameat",
        File,
        Errno,
        NOFD,
        Some(264),
        &[
            p("olddirfd", K::Fd),
            p(
                "oldpath",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 4
                }
            ),
            p("newdirfd", K::Fd),
            p(
                "newpath",
                K::RelPath {
                    dirfd: 2,
                    dirpath: 5
                }
            ),
            hidden("olddirpath", K::Path),
            hidden("newdirpath", K::Path),
        ]
    ),
    ev!(
        75,
        "renameat2",
        File,
        Errno,
        NOFD,
        Some(316),
        &[
            p("olddirfd", K::Fd),
            p(
                "oldpath",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 5
                }
            ),
            p("newdirfd", K::Fd),
            p(
                "newpath",
                K::RelPath {
                    dirfd: 2,
                    dirpath: 6
                }
            ),
            p("flags", K::Flags(F::Renameat2)),
            hidden("olddirpath", K::Path),
            hidden("newdirpath", K::Path),
        ]
    ),
    ev!(
        76,
        "unlink",
        File,
        Errno,
        NOFD,
        Some(87),
        &[p("path", K::Path)]
    ),
    ev!(
        77,
        "unlinkat",
        File,
        Errno,
        NOFD,
        Some(263),
        &[
            p("dirfd", K::Fd),
            p(
                "name",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 3
                }
            ),
            p("flags", K::Flags(F::Unlinkat)),
            hidden("dirpath", K::Path),
        ]
    ),
    ev!(
        78,
        "mkdir",
        File,
        Errno,
        NOFD,
        Some(83),
        &[p("path", K::Path), p("mode", K::Mode)]
    ),
    ev!(
        79,
        "mkdirat",
        File,
        Errno,
        NOFD,
        Some(258),
        &[
            p("dirfd", K::Fd),
            p(
                "path",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 3
                }
            ),
            p("mode", K::Mode),
            hidden("dirpath", K::Path),
        ]
    ),
    ev!(
        80,
        "rmdir",
        File,
        Errno,
        NOFD,
        Some(84),
        &[p("path", K::Path)]
    ),
    ev!(
        81,
        "chmod",
        File,
        Errno,
        NOFD,
        Some(90),
        &[p("filename", K::Path), p("mode", K::Mode)]
    ),
    ev!(
        82,
        "fchmod",
        File,
        Errno,
        fdp(0),
        Some(91),
        &[
            p("fd", K::Fd),
            p("mode", K::Mode),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    ev!(
        83,
        "fchmodat",
        File,
        Errno,
        NOFD,
        Some(268),
        &[
            p("dirfd", K::Fd),
            p(
                "filename",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 3
                }
            ),
            p("mode", K::Mode),
            hidden("dirpath", K::Path),
        ]
    ),
    ev!(
        84,
        "chown",
        File,
        Errno,
        NOFD,
        Some(92),
        &[p("path", K::Path), p("uid", K::Uid), p("gid", K::Gid)]
    ),
    ev!(
        85,
        "fchown",
        File,
        Errno,
        fdp(0),
        Some(93),
        &[
            p("fd", K::Fd),
            p("uid", K::Uid),
            p("gid", K::Gid),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    ev!(
        86,
        "lchown",
        File,
        Errno,
        NOFD,
        Some(94),
        &[p("path", K::Path), p("uid", K::Uid), p("gid", K::Gid)]
    ),
    ev!(
        87,
        "fchownat",
        File,
        Errno,
        NOFD,
        Some(260),
        &[
            p("dirfd", K::Fd),
            p(
                "pathname",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 5
                }
            ),
            p("uid", K::Uid),
            p("gid", K::Gid),
            p("flags", K::Flags(F::Fchownat)),
            hidden("dirpath", K::Path),
        ]
    ),
    ev!(
        88,
        "mount",
        File,
        Errno,
        NOFD,
        Some(165),
        &[
            p("dev", K::Str),
            p("dir", K::Path),
            p("type", K::Str),
            p("flags", K::Flags(F::Mount)),
        ]
    ),
    ev!(
        89,
        "umount2",
        File,
        Errno,
        NOFD,
        Some(166),
        &[p("name", K::Path), p("flags", K::Flags(F::Umount))]
    ),
    ev!(
        90,
        "memfd_create",
        File,
        Fd,
        RETFD,
        Some(319),
        &[p("name", K::Str), p("flags", K::Flags(F::Memfd))]
    ),
    // fchmodat2 (Linux 6.6): fchmodat with the flags argument the older
    // call lacks. Falco's event table has no such event; kestrel mirrors
    // fchmodat's parameters (the path resolved against dirfd as for the
    // other *at calls) and adds the flags, which take the same
    // AT_SYMLINK_NOFOLLOW and AT_EMPTY_PATH values as fchownat's.
    ev!(
        91,
        "fchmodat2",
        File,
        Errno,
        NOFD,
        Some(452),
        &[
            p("dirfd", K::Fd),
            p(
                "filename",
                K::RelPath {
                    dirfd: 0,
                    dirpath: 4
                }
            ),
            p("mode", K::Mode),
            p("flags", K::Flags(F::Fchownat)),
            hidden("dirpath", K::Path),
        ]
    ),
    // truncate, ftruncate: the syscall's own parameters (the path as
    // passed, resolved against the cwd like the other path calls; the fd
    // with its file), the length in full 64 bits.
    ev!(
        92,
        "truncate",
        File,
        Errno,
        NOFD,
        Some(76),
        &[p("path", K::Path), p("length", K::Uint)]
    ),
    ev!(
        93,
        "ftruncate",
        File,
        Errno,
        fdp(0),
        Some(77),
        &[
            p("fd", K::Fd),
            p("length", K::Uint),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    // read/write family: Falco's `data` is the buffer (at most snaplen
    // bytes of what moved), `size` the length asked for.
    gev!(
        94,
        "read",
        File,
        Count,
        fdp(1),
        Some(0),
        [
            (p("data", K::Bytes), S::BufRet(1)),
            (p("fd", K::Fd), S::Int(0)),
            (p("size", K::Uint), S::U64(2)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        95,
        "write",
        File,
        Count,
        fdp(1),
        Some(1),
        [
            (p("data", K::Bytes), S::Buf(1, 2)),
            (p("fd", K::Fd), S::Int(0)),
            (p("size", K::Uint), S::U64(2)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    // Falco names pread64/pwrite64 `pread`/`pwrite`.
    gev!(
        96,
        "pread",
        File,
        Count,
        fdp(1),
        Some(17),
        [
            (p("data", K::Bytes), S::BufRet(1)),
            (p("fd", K::Fd), S::Int(0)),
            (p("size", K::Uint), S::U64(2)),
            (p("pos", K::Uint), S::U64(3)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        97,
        "pwrite",
        File,
        Count,
        fdp(1),
        Some(18),
        [
            (p("data", K::Bytes), S::Buf(1, 2)),
            (p("fd", K::Fd), S::Int(0)),
            (p("size", K::Uint), S::U64(2)),
            (p("pos", K::Uint), S::U64(3)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        98,
        "readv",
        File,
        Count,
        fdp(2),
        Some(19),
        [
            (p("size", K::Uint), S::IovSize(1, 2)),
            (p("data", K::Bytes), S::IovData(1, 2)),
            (p("fd", K::Fd), S::Int(0)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        99,
        "writev",
        File,
        Count,
        fdp(1),
        Some(20),
        [
            (p("data", K::Bytes), S::IovData(1, 2)),
            (p("fd", K::Fd), S::Int(0)),
            (p("size", K::Uint), S::IovSize(1, 2)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        100,
        "preadv",
        File,
        Count,
        fdp(2),
        Some(295),
        [
            (p("size", K::Uint), S::IovSize(1, 2)),
            (p("data", K::Bytes), S::IovData(1, 2)),
            (p("fd", K::Fd), S::Int(0)),
            (p("pos", K::Uint), S::U64(3)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        101,
        "pwritev",
        File,
        Count,
        fdp(1),
        Some(296),
        [
            (p("data", K::Bytes), S::IovData(1, 2)),
            (p("fd", K::Fd), S::Int(0)),
            (p("size", K::Uint), S::IovSize(1, 2)),
            (p("pos", K::Uint), S::U64(3)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    // pipe, pipe2: the two fds the kernel wrote back (Falco's `ino`, the
    // pipe's inode, is not captured).
    gev!(
        102,
        "pipe",
        File,
        Errno,
        NOFD,
        Some(22),
        [
            (p("fd1", K::Fd), S::UserInt(0, 0)),
            (p("fd2", K::Fd), S::UserInt(0, 4)),
        ]
    ),
    gev!(
        103,
        "pipe2",
        File,
        Errno,
        NOFD,
        Some(293),
        [
            (p("fd1", K::Fd), S::UserInt(0, 0)),
            (p("fd2", K::Fd), S::UserInt(0, 4)),
            (p("flags", K::Flags(F::FdFlags)), S::U32(1)),
        ]
    ),
    gev!(
        104,
        "ioctl",
        File,
        Errno,
        fdp(0),
        Some(16),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("request", K::Hex), S::U32(1)),
            (p("argument", K::Hex), S::U64(2)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        105,
        "access",
        File,
        Errno,
        NOFD,
        Some(21),
        [
            (p("name", K::Path), S::Str(0)),
            (p("mode", K::Flags(F::Access)), S::U32(1)),
        ]
    ),
    gev!(
        106,
        "stat",
        File,
        Errno,
        NOFD,
        Some(4),
        [(p("path", K::Path), S::Str(0))]
    ),
    gev!(
        107,
        "lstat",
        File,
        Errno,
        NOFD,
        Some(6),
        [(p("path", K::Path), S::Str(0))]
    ),
    gev!(
        108,
        "fstat",
        File,
        Errno,
        fdp(0),
        Some(5),
        [
            (p("fd", K::Fd), S::Int(0)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        109,
        "newfstatat",
        File,
        Errno,
        NOFD,
        Some(262),
        [
            (p("dirfd", K::Fd), S::Int(0)),
            (
                p(
                    "path",
                    K::RelPath {
                        dirfd: 0,
                        dirpath: 3
                    }
                ),
                S::Str(1)
            ),
            (p("flags", K::Flags(F::Fchownat)), S::U32(3)),
            (hidden("dirpath", K::Path), S::DirPath(0, 1)),
        ]
    ),
    gev!(
        110,
        "mknod",
        File,
        Errno,
        NOFD,
        Some(133),
        [
            (p("path", K::Path), S::Str(0)),
            (p("mode", K::Mode), S::U32(1)),
            (p("dev", K::Uint), S::U32(2)),
        ]
    ),
    gev!(
        111,
        "mknodat",
        File,
        Errno,
        NOFD,
        Some(259),
        [
            (p("dirfd", K::Fd), S::Int(0)),
            (
                p(
                    "path",
                    K::RelPath {
                        dirfd: 0,
                        dirpath: 4
                    }
                ),
                S::Str(1)
            ),
            (p("mode", K::Mode), S::U32(2)),
            (p("dev", K::Uint), S::U32(3)),
            (hidden("dirpath", K::Path), S::DirPath(0, 1)),
        ]
    ),
    gev!(
        112,
        "getcwd",
        File,
        Count,
        NOFD,
        Some(79),
        [(p("path", K::Str), S::Str(0))]
    ),
    gev!(
        113,
        "getdents",
        File,
        Count,
        fdp(0),
        Some(78),
        [
            (p("fd", K::Fd), S::Int(0)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        114,
        "getdents64",
        File,
        Count,
        fdp(0),
        Some(217),
        [
            (p("fd", K::Fd), S::Int(0)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        115,
        "lseek",
        File,
        Count,
        fdp(0),
        Some(8),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("offset", K::Uint), S::U64(1)),
            (p("whence", K::Enum(F::Whence)), S::U32(2)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        116,
        "flock",
        File,
        Errno,
        fdp(0),
        Some(73),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("operation", K::Flags(F::Flock)), S::U32(1)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        117,
        "copy_file_range",
        File,
        Count,
        NOFD,
        Some(326),
        [
            (p("fdout", K::Fd), S::Int(2)),
            (p("offout", K::Uint), S::UserU64(3, 0)),
            (p("fdin", K::Fd), S::Int(0)),
            (p("offin", K::Uint), S::UserU64(1, 0)),
            (p("len", K::Uint), S::U64(4)),
        ]
    ),
    gev!(
        118,
        "sendfile",
        File,
        Count,
        fdp(1),
        Some(40),
        [
            (p("offset", K::Uint), S::UserU64(2, 0)),
            (p("out_fd", K::Fd), S::Int(0)),
            (p("in_fd", K::Fd), S::Int(1)),
            (p("size", K::Uint), S::U64(3)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        119,
        "splice",
        File,
        Count,
        NOFD,
        Some(275),
        [
            (p("fd_in", K::Fd), S::Int(0)),
            (p("fd_out", K::Fd), S::Int(2)),
            (p("size", K::Uint), S::U64(4)),
            (p("flags", K::Uint), S::U32(5)),
        ]
    ),
    gev!(
        120,
        "open_by_handle_at",
        File,
        Fd,
        RETFD,
        Some(304),
        [
            (p("mountfd", K::Fd), S::Int(0)),
            (p("flags", K::Flags(F::Open)), S::U32(2)),
            (hidden("fdinfo", K::FdInfo), S::FdInfoRet),
        ]
    ),
    gev!(
        121,
        "close_range",
        File,
        Errno,
        NOFD,
        Some(436),
        [
            (p("first", K::Uint), S::U32(0)),
            (p("last", K::Uint), S::U32(1)),
            (p("flags", K::Uint), S::U32(2)),
        ]
    ),
    gev!(122, "inotify_init", File, Count, NOFD, Some(253), []),
    gev!(
        123,
        "inotify_init1",
        File,
        Count,
        NOFD,
        Some(294),
        [(p("flags", K::Flags(F::FdFlags)), S::U32(0)),]
    ),
    gev!(
        124,
        "eventfd",
        File,
        Count,
        NOFD,
        Some(284),
        [(p("initval", K::Uint), S::U32(0))]
    ),
    gev!(
        125,
        "eventfd2",
        File,
        Count,
        NOFD,
        Some(290),
        [
            (p("flags", K::Flags(F::FdFlags)), S::U32(1)),
            (p("initval", K::Uint), S::U32(0)),
        ]
    ),
    gev!(
        126,
        "timerfd_create",
        File,
        Count,
        NOFD,
        Some(283),
        [
            (p("clockid", K::Uint), S::U32(0)),
            (p("flags", K::Uint), S::U32(1)),
        ]
    ),
    gev!(
        127,
        "name_to_handle_at",
        File,
        Count,
        NOFD,
        Some(303),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("dirfd", K::Fd), S::Int(0)),
            (hidden("pathname", K::Str), S::Str(1)),
        ]
    ),
    // ---- network (128-191)
    ev!(
        128,
        "socket",
        Network,
        Fd,
        RETFD,
        Some(41),
        &[
            p("domain", K::Enum(F::SocketFamily)),
            p("type", K::Flags(F::SocketType)),
            p("proto", K::Uint),
        ]
    ),
    ev!(
        129,
        "connect",
        Network,
        Errno,
        fdp(0),
        Some(42),
        &[
            p("fd", K::Fd),
            p("addr", K::SockAddr),
            p("tuple", K::FdInfo)
        ]
    ),
    ev!(
        130,
        "accept",
        Network,
        Fd,
        RETFD,
        Some(43),
        &[p("tuple", K::FdInfo)]
    ),
    ev!(
        131,
        "accept4",
        Network,
        Fd,
        RETFD,
        Some(288),
        &[p("tuple", K::FdInfo), p("flags", K::Flags(F::FdFlags))]
    ),
    ev!(
        132,
        "bind",
        Network,
        Errno,
        fdp(0),
        Some(49),
        &[
            p("fd", K::Fd),
            p("addr", K::SockAddr),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    ev!(
        133,
        "listen",
        Network,
        Errno,
        fdp(0),
        Some(50),
        &[
            p("fd", K::Fd),
            p("backlog", K::Int),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    ev!(
        134,
        "sendto",
        Network,
        Count,
        fdp(0),
        Some(44),
        &[
            p("fd", K::Fd),
            p("size", K::Uint),
            p("tuple", K::FdInfo),
            p("data", K::Bytes),
        ]
    ),
    ev!(
        135,
        "sendmsg",
        Network,
        Count,
        fdp(0),
        Some(46),
        &[
            p("fd", K::Fd),
            p("size", K::Uint),
            p("tuple", K::FdInfo),
            p("data", K::Bytes),
        ]
    ),
    ev!(
        136,
        "recvfrom",
        Network,
        Count,
        fdp(0),
        Some(45),
        &[
            p("fd", K::Fd),
            p("size", K::Uint),
            p("tuple", K::FdInfo),
            p("data", K::Bytes),
        ]
    ),
    ev!(
        137,
        "recvmsg",
        Network,
        Count,
        fdp(0),
        Some(47),
        &[
            p("fd", K::Fd),
            p("size", K::Uint),
            p("tuple", K::FdInfo),
            p("data", K::Bytes),
        ]
    ),
    ev!(
        138,
        "dup",
        Network,
        Fd,
        fdp(0),
        Some(32),
        &[p("oldfd", K::Fd), hidden("fdinfo", K::FdInfo)]
    ),
    ev!(
        139,
        "dup2",
        Network,
        Fd,
        fdp(0),
        Some(33),
        &[
            p("oldfd", K::Fd),
            p("newfd", K::Fd),
            hidden("fdinfo", K::FdInfo)
        ]
    ),
    ev!(
        140,
        "dup3",
        Network,
        Fd,
        fdp(0),
        Some(292),
        &[
            p("oldfd", K::Fd),
            p("newfd", K::Fd),
            p("flags", K::Flags(F::FdFlags)),
            hidden("fdinfo", K::FdInfo),
        ]
    ),
    // fcntl: only F_DUPFD and F_DUPFD_CLOEXEC return a descriptor, but
    // Falco types the result as an fd whatever the command; `arg` is the
    // third argument, as in Falco's exit event.
    ev!(
        141,
        "fcntl",
        Network,
        Fd,
        fdp(0),
        Some(72),
        &[
            p("fd", K::Fd),
            p("cmd", K::Enum(F::FcntlCmd)),
            p("arg", K::Hex),
            hidden("fdinfo", K::FdInfo),
        ]
    ),
    gev!(
        142,
        "socketpair",
        Network,
        Errno,
        NOFD,
        Some(53),
        [
            (p("fd1", K::Fd), S::UserInt(3, 0)),
            (p("fd2", K::Fd), S::UserInt(3, 4)),
            (p("domain", K::Enum(F::SocketFamily)), S::U32(0)),
            (p("type", K::Flags(F::SocketType)), S::U32(1)),
            (p("proto", K::Uint), S::U32(2)),
        ]
    ),
    gev!(
        143,
        "setsockopt",
        Network,
        Errno,
        fdp(0),
        Some(54),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("level", K::Int), S::Int(1)),
            (p("optname", K::Int), S::Int(2)),
            (p("val", K::Bytes), S::Buf(3, 4)),
            (p("optlen", K::Uint), S::U32(4)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    // getsockopt: `val` and `optlen` are what the kernel wrote back; the
    // length is read from user memory, the value is not captured.
    gev!(
        144,
        "getsockopt",
        Network,
        Errno,
        fdp(0),
        Some(55),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("level", K::Int), S::Int(1)),
            (p("optname", K::Int), S::Int(2)),
            (p("optlen", K::Uint), S::UserInt(4, 0)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    // sendmmsg, recvmmsg: the socket and its tuple (the messages' data
    // and sizes are not captured).
    gev!(
        145,
        "sendmmsg",
        Network,
        Count,
        fdp(0),
        Some(307),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("tuple", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        146,
        "recvmmsg",
        Network,
        Count,
        fdp(0),
        Some(299),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("tuple", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(
        147,
        "shutdown",
        Network,
        Errno,
        fdp(0),
        Some(48),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("how", K::Uint), S::U32(1)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(0)),
        ]
    ),
    gev!(148, "getsockname", Network, Errno, NOFD, Some(51), []),
    gev!(149, "getpeername", Network, Errno, NOFD, Some(52), []),
    // ---- other (192-255)
    ev!(
        192,
        "init_module",
        Other,
        Errno,
        NOFD,
        Some(175),
        &[p("length", K::Uint), p("uargs", K::Str)]
    ),
    ev!(
        193,
        "finit_module",
        Other,
        Errno,
        fdp(0),
        Some(313),
        &[
            p("fd", K::Fd),
            p("uargs", K::Str),
            p("flags", K::Flags(F::FinitModule)),
            hidden("fdinfo", K::FdInfo),
        ]
    ),
    ev!(
        194,
        "bpf",
        Other,
        Fd,
        NOFD,
        Some(321),
        &[p("cmd", K::Enum(F::BpfCmd))]
    ),
    ev!(
        195,
        "userfaultfd",
        Other,
        Fd,
        RETFD,
        Some(323),
        &[p("flags", K::Flags(F::FdFlags))]
    ),
    gev!(
        196,
        "mmap",
        Other,
        Count,
        fdp(4),
        Some(9),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("length", K::Uint), S::U64(1)),
            (p("prot", K::Flags(F::Prot)), S::U32(2)),
            (p("flags", K::Flags(F::Mmap)), S::U32(3)),
            (p("fd", K::Fd), S::Int(4)),
            (p("offset", K::Uint), S::U64(5)),
            (hidden("fdinfo", K::FdInfo), S::FdInfo(4)),
        ]
    ),
    gev!(
        197,
        "mprotect",
        Other,
        Errno,
        NOFD,
        Some(10),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("length", K::Uint), S::U64(1)),
            (p("prot", K::Flags(F::Prot)), S::U32(2)),
        ]
    ),
    gev!(
        198,
        "munmap",
        Other,
        Errno,
        NOFD,
        Some(11),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("length", K::Uint), S::U64(1)),
        ]
    ),
    gev!(
        199,
        "delete_module",
        Other,
        Errno,
        NOFD,
        Some(176),
        [
            (p("name", K::Str), S::Str(0)),
            (p("flags", K::Uint), S::U32(1)),
        ]
    ),
    gev!(
        200,
        "brk",
        Other,
        Count,
        NOFD,
        Some(12),
        [(p("addr", K::Hex), S::U64(0))]
    ),
    gev!(
        201,
        "mlock",
        Other,
        Errno,
        NOFD,
        Some(149),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("len", K::Uint), S::U64(1)),
        ]
    ),
    gev!(
        202,
        "munlock",
        Other,
        Errno,
        NOFD,
        Some(150),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("len", K::Uint), S::U64(1)),
        ]
    ),
    gev!(
        203,
        "mlockall",
        Other,
        Errno,
        NOFD,
        Some(151),
        [(p("flags", K::Flags(F::Mlockall)), S::U32(0))]
    ),
    gev!(204, "munlockall", Other, Errno, NOFD, Some(152), []),
    gev!(
        205,
        "mlock2",
        Other,
        Errno,
        NOFD,
        Some(325),
        [
            (p("addr", K::Hex), S::U64(0)),
            (p("len", K::Uint), S::U64(1)),
            (p("flags", K::Uint), S::U32(2)),
        ]
    ),
    gev!(
        206,
        "epoll_create",
        Other,
        Count,
        NOFD,
        Some(213),
        [(p("size", K::Int), S::Int(0))]
    ),
    gev!(
        207,
        "epoll_create1",
        Other,
        Count,
        NOFD,
        Some(291),
        [(p("flags", K::Flags(F::FdFlags)), S::U32(0)),]
    ),
    gev!(
        208,
        "epoll_wait",
        Other,
        Count,
        NOFD,
        Some(232),
        [(p("maxevents", K::Int), S::Int(2))]
    ),
    gev!(
        209,
        "poll",
        Other,
        Count,
        NOFD,
        Some(7),
        [(p("timeout", K::Int), S::Int(2))]
    ),
    gev!(
        210,
        "ppoll",
        Other,
        Count,
        NOFD,
        Some(271),
        [(p("timeout", K::Uint), S::Timespec(2))]
    ),
    gev!(211, "select", Other, Count, NOFD, Some(23), []),
    gev!(
        212,
        "seccomp",
        Other,
        Errno,
        NOFD,
        Some(317),
        [
            (p("op", K::Uint), S::U32(0)),
            (p("flags", K::Uint), S::U32(1)),
        ]
    ),
    gev!(
        213,
        "fsconfig",
        Other,
        Errno,
        NOFD,
        Some(431),
        [
            (p("fd", K::Fd), S::Int(0)),
            (p("cmd", K::Uint), S::U32(1)),
            (p("key", K::Str), S::Str(2)),
            (p("aux", K::Int), S::Int(4)),
        ]
    ),
    gev!(
        214,
        "swapon",
        Other,
        Count,
        NOFD,
        Some(167),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("path", K::Path), S::Str(0)),
        ]
    ),
    gev!(
        215,
        "swapoff",
        Other,
        Count,
        NOFD,
        Some(168),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("path", K::Path), S::Str(0)),
        ]
    ),
    gev!(
        216,
        "reboot",
        Other,
        Count,
        NOFD,
        Some(169),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("cmd", K::Hex), S::U32(2)),
        ]
    ),
    gev!(
        217,
        "kexec_load",
        Other,
        Count,
        NOFD,
        Some(246),
        [(p("ID", K::Uint), S::Nr), (p("nativeID", K::Uint), S::Nr),]
    ),
    gev!(
        218,
        "kexec_file_load",
        Other,
        Count,
        NOFD,
        Some(320),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("kernel_fd", K::Fd), S::Int(0)),
        ]
    ),
    gev!(
        219,
        "perf_event_open",
        Other,
        Count,
        NOFD,
        Some(298),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("pid", K::Pid), S::Int(1)),
        ]
    ),
    gev!(
        220,
        "keyctl",
        Other,
        Count,
        NOFD,
        Some(250),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("operation", K::Int), S::Int(0)),
        ]
    ),
    gev!(
        221,
        "add_key",
        Other,
        Count,
        NOFD,
        Some(248),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("type", K::Str), S::Str(0)),
        ]
    ),
    gev!(
        222,
        "syslog",
        Other,
        Count,
        NOFD,
        Some(103),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("type", K::Int), S::Int(0)),
        ]
    ),
    gev!(
        223,
        "fanotify_init",
        Other,
        Count,
        NOFD,
        Some(300),
        [
            (p("ID", K::Uint), S::Nr),
            (p("nativeID", K::Uint), S::Nr),
            (hidden("flags", K::Hex), S::U32(0)),
        ]
    ),
    // ---- io_uring (224-239). The requests a ring executes arrive as the
    // events of their syscall equivalents (openat, connect, renameat2, ...)
    // with `HF_IOURING` set; these are the ring's own calls and the
    // requests without a decoded equivalent.
    ev!(
        224,
        "io_uring_setup",
        Other,
        Fd,
        RETFD,
        Some(425),
        &[
            p("entries", K::Uint),
            p("sq_entries", K::Uint),
            p("cq_entries", K::Uint),
            p("flags", K::Flags(F::IoUringSetup)),
            p("sq_thread_cpu", K::Int),
            p("sq_thread_idle", K::Uint),
            p("features", K::Hex),
        ]
    ),
    ev!(
        225,
        "io_uring_enter",
        Other,
        Count,
        fdp(0),
        Some(426),
        &[
            p("fd", K::Fd),
            p("to_submit", K::Uint),
            p("min_complete", K::Uint),
            p("flags", K::Hex),
        ]
    ),
    ev!(
        226,
        "io_uring_register",
        Other,
        Errno,
        fdp(0),
        Some(427),
        &[
            p("fd", K::Fd),
            p("opcode", K::Uint),
            p("arg", K::Hex),
            p("nr_args", K::Uint),
        ]
    ),
    // A request whose op kestrel does not decode as a syscall (read,
    // write, ...): its opcode, fd (a registered-file index with
    // IOSQE_FIXED_FILE), size, and what the request's file is.
    ev!(
        227,
        "io_uring_op",
        Other,
        Count,
        fdp(1),
        None,
        &[
            p("op", K::Uint),
            p("fd", K::Fd),
            p("size", K::Uint),
            hidden("fdinfo", K::FdInfo),
        ]
    ),
    // Self-protection (probe/bpf/hook_self.c): another process's attempt
    // on kestrel. Never matched by rules: the daemon turns it into a
    // `kestrel internal: tamper attempt` alert. kind is a KST_TK_* code,
    // target the id or tid attempted on, op the bpf command, ptrace
    // request or signal, obj the kind of BPF object (KST_SO_*).
    ev!(
        250,
        "kestrel_tamper",
        Other,
        Errno,
        NOFD,
        None,
        &[
            p("kind", K::Uint),
            p("target", K::Uint),
            p("op", K::Uint),
            p("obj", K::Uint),
        ]
    ),
];

impl EventInfo {
    /// Falco's name for the return value (`evt.arg.<name>`): `fd` for the
    /// calls that create the descriptor they return, `res` for the others
    /// (the dups and fcntl return one too, under the name `res`); `None`
    /// for events without a return value.
    pub fn ret_name(&self) -> Option<&'static str> {
        match self.ret {
            RetKind::None => None,
            RetKind::Fd if !is_fd_copy(self.name) && self.name != "userfaultfd" => Some("fd"),
            _ => Some("res"),
        }
    }
}

/// Which way data moves in an I/O event (Falco's `EC_IO_READ` and
/// `EC_IO_WRITE` categories, for `evt.is_io*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IoDir {
    /// Reads from an fd (read, pread, readv, preadv, recvfrom, recvmsg, recvmmsg).
    Read,
    /// Writes to an fd (write, pwrite, writev, pwritev, sendto, sendmsg, sendmmsg,
    /// sendfile).
    Write,
}

impl EventInfo {
    /// The I/O direction of the event, `None` when it is not an I/O event.
    pub fn io_dir(&self) -> Option<IoDir> {
        match self.name {
            "read" | "pread" | "readv" | "preadv" | "recvfrom" | "recvmsg" | "recvmmsg" => {
                Some(IoDir::Read)
            }
            "write" | "pwrite" | "writev" | "pwritev" | "sendto" | "sendmsg" | "sendmmsg"
            | "sendfile" => Some(IoDir::Write),
            _ => None,
        }
    }
}

/// The calls that copy a descriptor onto a new number (dup, dup2, dup3,
/// and fcntl with `F_DUPFD` or `F_DUPFD_CLOEXEC`).
pub fn is_fd_copy(name: &str) -> bool {
    matches!(name, "dup" | "dup2" | "dup3" | "fcntl")
}

/// fcntl(2) commands (x86-64 values) that duplicate the descriptor.
pub mod fcntl_cmd {
    /// `F_DUPFD`.
    pub const DUPFD: u64 = 0;
    /// `F_DUPFD_CLOEXEC`.
    pub const DUPFD_CLOEXEC: u64 = 1030;

    /// Whether `cmd` duplicates the descriptor (its result is a new fd).
    pub fn is_dup(cmd: u64) -> bool {
        cmd as u32 == DUPFD as u32 || cmd as u32 == DUPFD_CLOEXEC as u32
    }

    /// The command class the kernel interest filter tests (as the
    /// "access mode" of the flag test, see `probe/bpf/filter.h`): 1 for
    /// the duplicating commands, 0 for every other.
    pub fn class(cmd: u64) -> u32 {
        u32::from(is_dup(cmd))
    }
}

impl EventType {
    /// Successful exec (any flavour) and failed execve.
    pub const EXECVE: EventType = EventType(1);
    /// Failed execveat.
    pub const EXECVEAT: EventType = EventType(2);
    /// A new process (sched_process_fork).
    pub const PROCFORK: EventType = EventType(7);
    /// A thread group leader exited.
    pub const PROCEXIT: EventType = EventType(8);
    /// A process found by the /proc scan.
    pub const PROCINFO: EventType = EventType(9);
    /// A self-protection record: another process's attempt on kestrel.
    pub const TAMPER: EventType = EventType(250);
    /// chdir.
    pub const CHDIR: EventType = EventType(20);
    /// fcntl.
    pub const FCNTL: EventType = EventType(141);
    /// fchdir.
    pub const FCHDIR: EventType = EventType(21);

    /// Static description, `None` for an unknown id.
    pub fn info(self) -> Option<&'static EventInfo> {
        lookup(self)
    }

    /// The open family (open, openat, openat2, creat): positions of the
    /// path parameter and of the flags (creat has none); `None` for other
    /// types. By id, so the per-event path compares no names.
    pub fn open_params(self) -> Option<(usize, Option<usize>)> {
        match self.0 {
            64 => Some((0, Some(1))),
            65 | 66 => Some((1, Some(2))),
            67 => Some((0, None)),
            _ => None,
        }
    }

    /// Falco name, or `"unknown"`.
    pub fn name(self) -> &'static str {
        self.info().map_or("unknown", |i| i.name)
    }

    /// The event type with this Falco name, if kestrel captures it.
    pub fn from_name(name: &str) -> Option<EventType> {
        EVENTS.iter().find(|e| e.name == name).map(|e| e.ty)
    }
}

/// Largest event id plus one: the size of id-indexed tables.
pub const EVENT_ID_LIMIT: usize = 256;

static BY_ID: std::sync::OnceLock<[Option<&'static EventInfo>; EVENT_ID_LIMIT]> =
    std::sync::OnceLock::new();

fn lookup(ty: EventType) -> Option<&'static EventInfo> {
    let table = BY_ID.get_or_init(|| {
        let mut t = [None; EVENT_ID_LIMIT];
        for e in EVENTS {
            t[e.ty.0 as usize] = Some(e);
        }
        t
    });
    table.get(ty.0 as usize).copied().flatten()
}

/// Falco event names whose x86_64 system call has another name:
/// `(Falco name, syscall name)`.
pub const FALCO_SYSCALL_ALIASES: &[(&str, &str)] = &[
    ("pread", "pread64"),
    ("pwrite", "pwrite64"),
    ("prlimit", "prlimit64"),
];

/// Event names of Falco's event table (falcosecurity/libs
/// `driver/event_table.c`) for system calls x86_64 does not have (they
/// exist on 32-bit and other architectures).
pub const FALCO_OTHER_ARCH: &[&str] = &[
    "umount", "mmap2", "stat64", "fstat64", "lstat64", "llseek", "recv", "send",
];

/// Names `evt.type` may be compared with: every event kestrel captures,
/// every x86_64 system call name and every name of Falco's event table
/// (rules may name events kestrel does not capture; those rules compile,
/// with a warning from [`uncapturable_reason`], and never fire).
pub fn is_known_event_name(name: &str) -> bool {
    EventType::from_name(name).is_some()
        || super::syscalls::SYSCALLS_X86_64
            .iter()
            .any(|(n, _)| *n == name)
        || FALCO_SYSCALL_ALIASES.iter().any(|(f, _)| *f == name)
        || FALCO_OTHER_ARCH.contains(&name)
        || matches!(
            name,
            "container" | "signaldeliver" | "switch" | "pluginevent"
        )
}

/// Why kestrel cannot capture the event type `name` on this machine
/// (x86_64), or `None` when it can (or the name is not an event type at
/// all). The reason completes "event type `name` ...".
pub fn uncapturable_reason(name: &str) -> Option<&'static str> {
    if EventType::from_name(name).is_some() || !is_known_event_name(name) {
        return None;
    }
    if FALCO_OTHER_ARCH.contains(&name) {
        return Some("is not a system call on x86_64");
    }
    if let Some((falco, _)) = FALCO_SYSCALL_ALIASES.iter().find(|(_, sc)| *sc == name) {
        return Some(match *falco {
            "pread" => "is captured under Falco's name 'pread'",
            "pwrite" => "is captured under Falco's name 'pwrite'",
            _ => "is captured under Falco's name 'prlimit'",
        });
    }
    match name {
        "container" => Some("is a Falco plugin/container meta-event kestrel does not produce"),
        "signaldeliver" | "switch" | "pluginevent" => {
            Some("is a Falco driver event kestrel does not produce")
        }
        _ => Some("is a system call kestrel does not capture (no event in its event table)"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn open_params_agree_with_the_event_table() {
        for info in EVENTS {
            let family = matches!(info.name, "open" | "openat" | "openat2" | "creat");
            let pos = |n: &str| info.params.iter().position(|p| p.name == n);
            let want = family.then(|| (pos("name").expect("path"), pos("flags")));
            assert_eq!(info.ty.open_params(), want, "{}", info.name);
        }
    }

    use super::*;

    #[test]
    fn ids_are_unique_sorted_and_in_range() {
        let mut last = 0u16;
        for e in EVENTS {
            assert!(e.ty.0 > last, "{} out of order", e.name);
            assert!((e.ty.0 as usize) < EVENT_ID_LIMIT);
            last = e.ty.0;
        }
    }

    #[test]
    fn category_matches_id_range() {
        for e in EVENTS {
            let expected = match e.ty.0 {
                1..=63 => Category::Process,
                64..=127 => Category::File,
                128..=191 => Category::Network,
                _ => Category::Other,
            };
            assert_eq!(e.category, expected, "{}", e.name);
        }
    }

    #[test]
    fn syscall_numbers_match_the_uapi_table() {
        for e in EVENTS {
            if let Some(nr) = e.nr_x86_64 {
                let (name, _) = crate::syscalls::SYSCALLS_X86_64
                    .iter()
                    .find(|(_, n)| *n == nr)
                    .expect("number in table");
                let falco = FALCO_SYSCALL_ALIASES
                    .iter()
                    .find(|(_, sc)| sc == name)
                    .map_or(*name, |(f, _)| *f);
                assert_eq!(falco, e.name);
            }
        }
    }

    #[test]
    fn relpath_indices_point_at_fd_and_hidden_path() {
        for e in EVENTS {
            assert!(e.params.len() <= crate::wire::MAX_PARAMS);
            for prm in e.params {
                if let ParamKind::RelPath { dirfd, dirpath } = prm.kind {
                    assert_eq!(e.params[dirfd as usize].kind, ParamKind::Fd, "{}", e.name);
                    let d = e.params[dirpath as usize];
                    assert!(d.hidden && d.kind == ParamKind::Path, "{}", e.name);
                }
            }
            if let FdUse::Param(i) = e.fd {
                assert_eq!(e.params[i as usize].kind, ParamKind::Fd, "{}", e.name);
            }
        }
    }

    #[test]
    fn lookup_by_id_and_name() {
        assert_eq!(EventType::from_name("openat"), Some(EventType(65)));
        assert_eq!(EventType(65).name(), "openat");
        assert_eq!(EventType(999).info().map(|i| i.name), None);
        assert!(is_known_event_name("read"));
        assert!(is_known_event_name("umount"));
        assert!(is_known_event_name("pread"));
        assert!(!is_known_event_name("nosuchcall"));
        assert_eq!(uncapturable_reason("read"), None);
        assert_eq!(uncapturable_reason("nosuchcall"), None);
        assert!(uncapturable_reason("umount").is_some());
        assert!(uncapturable_reason("pread64").is_some_and(|r| r.contains("'pread'")));
        assert!(uncapturable_reason("uselib").is_some());
    }

    #[test]
    fn generic_sources_agree_with_the_params() {
        for e in EVENTS {
            let Some(src) = e.capture else { continue };
            assert_eq!(src.len(), e.params.len(), "{}", e.name);
            assert!(src.len() <= GENERIC_MAX_PARAMS, "{}", e.name);
            assert!(e.nr_x86_64.is_some(), "{}", e.name);
            for (prm, s) in e.params.iter().zip(src) {
                let (kind, a, b) = s.encode();
                assert!(kind > 0 && a < 6 && b < 16, "{} {}", e.name, prm.name);
                let ok = match prm.kind {
                    ParamKind::Fd => matches!(s, Src::Int(_) | Src::UserInt(..)),
                    ParamKind::FdInfo => matches!(s, Src::FdInfo(_) | Src::FdInfoRet),
                    ParamKind::Bytes => {
                        matches!(s, Src::Buf(..) | Src::BufRet(_) | Src::IovData(..))
                    }
                    ParamKind::Path if prm.hidden => matches!(s, Src::Str(_) | Src::DirPath(..)),
                    ParamKind::Path | ParamKind::Str => matches!(s, Src::Str(_)),
                    ParamKind::RelPath { dirfd, dirpath } => {
                        // The dirpath source names the dirfd's register
                        // and this parameter.
                        let me = e.params.iter().position(|q| q == prm).expect("param");
                        let fd_reg = match src[dirfd as usize] {
                            Src::Int(k) => k,
                            _ => panic!("{}: dirfd not from a register", e.name),
                        };
                        matches!(s, Src::Str(_))
                            && src[dirpath as usize] == Src::DirPath(fd_reg, me as u8)
                    }
                    ParamKind::StrList | ParamKind::SockAddr => false,
                    _ => !matches!(
                        s,
                        Src::Str(_)
                            | Src::Buf(..)
                            | Src::BufRet(_)
                            | Src::IovData(..)
                            | Src::FdInfo(_)
                            | Src::FdInfoRet
                            | Src::DirPath(..)
                    ),
                };
                assert!(ok, "{} {}: {:?} from {:?}", e.name, prm.name, prm.kind, s);
            }
            // The hidden fdinfo describes the event's fd.
            if let FdUse::Param(i) = e.fd {
                if let Some(fi) = e.params.iter().position(|p| p.kind == ParamKind::FdInfo) {
                    assert_eq!(
                        src[fi],
                        Src::FdInfo(match src[i as usize] {
                            Src::Int(k) => k,
                            _ => panic!("{}: fd not from a register", e.name),
                        }),
                        "{}",
                        e.name
                    );
                }
            }
        }
    }
}
