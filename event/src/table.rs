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
    /// io_uring_setup(2) flags (`IORING_SETUP_SQPOLL`, ...).
    IoUringSetup,
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
}

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
    // Falco types the result as an fd whatever the command.
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
            hidden("fdinfo", K::FdInfo),
        ]
    ),
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

/// Names `evt.type` may be compared with: every event kestrel captures plus
/// every x86_64 system call name (rules may name syscalls kestrel does not
/// capture; those rules compile and never fire).
pub fn is_known_event_name(name: &str) -> bool {
    EventType::from_name(name).is_some()
        || super::syscalls::SYSCALLS_X86_64
            .iter()
            .any(|(n, _)| *n == name)
        || matches!(
            name,
            "container" | "signaldeliver" | "switch" | "pluginevent"
        )
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
                assert_eq!(*name, e.name);
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
        assert!(!is_known_event_name("nosuchcall"));
    }
}
