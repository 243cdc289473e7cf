//! Names of flag bits and enumeration values, for rendering numeric
//! parameters the way Falco does (`O_TRUNC|O_CREAT|O_WRONLY`,
//! `PTRACE_ATTACH`, `AF_PACKET`).
//!
//! Names and their order are Falco's (falcosecurity/libs
//! `driver/flags_table.c`); RULES.md §7.2 requires the same names because
//! rules test them with `contains`/`=`. The probe sends the raw x86_64
//! kernel values of the syscall arguments, whereas Falco's driver first
//! converts them to its own `PPM_*` encoding. Where the two encodings differ
//! in a way that changes the rendering (the access mode of open flags, whose
//! `O_RDONLY` is 0 in the kernel but a bit in Falco's encoding), [`render`]
//! converts to a Falco-like domain first; [`table`] returns the values of
//! that rendering domain.
//!
//! Rendering follows Falco's algorithm (libsinsp `sinsp_evt::get_param_as_str`):
//! - flag sets: walk the table in order; a name matches when all its bits
//!   are set (a 0-valued name only when the whole value is 0); matched bits
//!   are cleared so `O_RDWR` does not also print `O_RDONLY`; stop once a
//!   name equal to the whole value matched;
//! - enumerations: every name whose value equals the value, joined by `|`
//!   (so `1` renders `AF_LOCAL|AF_UNIX`, as Falco does);
//! - modes: like flag sets, but the walk stops at a name equal to the whole
//!   value and prints only that one after the ones matched before it.
//!
//! A value with no matching name renders as `None` (the caller then uses the
//! raw number, as Falco does when the resolved string is empty).

use super::table::FlagSet;

/// Bits of the open-flags rendering domain (Falco's `PPM_O_*` layout).
mod ppm_o {
    pub const NONE: u64 = 0;
    pub const RDONLY: u64 = 1 << 0;
    pub const WRONLY: u64 = 1 << 1;
    pub const RDWR: u64 = RDONLY | WRONLY;
    pub const CREAT: u64 = 1 << 2;
    pub const APPEND: u64 = 1 << 3;
    pub const DSYNC: u64 = 1 << 4;
    pub const EXCL: u64 = 1 << 5;
    pub const NONBLOCK: u64 = 1 << 6;
    pub const SYNC: u64 = 1 << 7;
    pub const TRUNC: u64 = 1 << 8;
    pub const DIRECT: u64 = 1 << 9;
    pub const DIRECTORY: u64 = 1 << 10;
    pub const LARGEFILE: u64 = 1 << 11;
    pub const CLOEXEC: u64 = 1 << 12;
    pub const TMPFILE: u64 = 1 << 13;
}

/// x86_64 kernel open(2) flag values.
pub mod kernel_o {
    /// Access mode mask.
    pub const ACCMODE: u64 = 0o3;
    /// Read only (access mode 0).
    pub const RDONLY: u64 = 0;
    /// Write only.
    pub const WRONLY: u64 = 0o1;
    /// Read and write.
    pub const RDWR: u64 = 0o2;
    /// Create.
    pub const CREAT: u64 = 0o100;
    /// Exclusive create.
    pub const EXCL: u64 = 0o200;
    /// No controlling tty.
    pub const NOCTTY: u64 = 0o400;
    /// Truncate.
    pub const TRUNC: u64 = 0o1000;
    /// Append.
    pub const APPEND: u64 = 0o2000;
    /// Non-blocking.
    pub const NONBLOCK: u64 = 0o4000;
    /// Data sync.
    pub const DSYNC: u64 = 0o10000;
    /// Direct I/O.
    pub const DIRECT: u64 = 0o40000;
    /// Large file.
    pub const LARGEFILE: u64 = 0o100000;
    /// Must be a directory.
    pub const DIRECTORY: u64 = 0o200000;
    /// Do not follow symlinks.
    pub const NOFOLLOW: u64 = 0o400000;
    /// Close on exec.
    pub const CLOEXEC: u64 = 0o2000000;
    /// The `__O_SYNC` bit (O_SYNC is `__O_SYNC | O_DSYNC`).
    pub const SYNC_BIT: u64 = 0o4000000;
    /// The `__O_TMPFILE` bit (O_TMPFILE is `__O_TMPFILE | O_DIRECTORY`).
    pub const TMPFILE_BIT: u64 = 0o20000000;
}

/// Converts kernel open flags to the rendering domain (what Falco's driver
/// does in `open_flags_to_scap`).
pub fn open_flags_to_ppm(k: u64) -> u64 {
    use kernel_o as o;
    let mut r = match k & o::ACCMODE {
        o::WRONLY => ppm_o::WRONLY,
        o::RDWR => ppm_o::RDWR,
        _ => ppm_o::RDONLY,
    };
    for (kb, pb) in [
        (o::CREAT, ppm_o::CREAT),
        (o::APPEND, ppm_o::APPEND),
        (o::DSYNC, ppm_o::DSYNC),
        (o::EXCL, ppm_o::EXCL),
        (o::NONBLOCK, ppm_o::NONBLOCK),
        (o::SYNC_BIT, ppm_o::SYNC),
        (o::TRUNC, ppm_o::TRUNC),
        (o::DIRECT, ppm_o::DIRECT),
        (o::DIRECTORY, ppm_o::DIRECTORY),
        (o::LARGEFILE, ppm_o::LARGEFILE),
        (o::CLOEXEC, ppm_o::CLOEXEC),
        (o::TMPFILE_BIT, ppm_o::TMPFILE),
    ] {
        if k & kb != 0 {
            r |= pb;
        }
    }
    r
}

/// Converts O_NONBLOCK/O_CLOEXEC style flags (accept4, dup3, userfaultfd)
/// to the rendering domain; no access mode is implied, so 0 is `O_NONE`.
fn fd_flags_to_ppm(k: u64) -> u64 {
    let mut r = 0;
    if k & kernel_o::NONBLOCK != 0 {
        r |= ppm_o::NONBLOCK;
    }
    if k & kernel_o::CLOEXEC != 0 {
        r |= ppm_o::CLOEXEC;
    }
    r
}

const OPEN: &[(u64, &str)] = &[
    (ppm_o::LARGEFILE, "O_LARGEFILE"),
    (ppm_o::DIRECTORY, "O_DIRECTORY"),
    (ppm_o::DIRECT, "O_DIRECT"),
    (ppm_o::TRUNC, "O_TRUNC"),
    (ppm_o::SYNC, "O_SYNC"),
    (ppm_o::NONBLOCK, "O_NONBLOCK"),
    (ppm_o::EXCL, "O_EXCL"),
    (ppm_o::DSYNC, "O_DSYNC"),
    (ppm_o::APPEND, "O_APPEND"),
    (ppm_o::CREAT, "O_CREAT"),
    (ppm_o::RDWR, "O_RDWR"),
    (ppm_o::WRONLY, "O_WRONLY"),
    (ppm_o::RDONLY, "O_RDONLY"),
    (ppm_o::CLOEXEC, "O_CLOEXEC"),
    (ppm_o::NONE, "O_NONE"),
    (ppm_o::TMPFILE, "O_TMPFILE"),
];

const RESOLVE: &[(u64, &str)] = &[
    (0x08, "RESOLVE_BENEATH"),
    (0x10, "RESOLVE_IN_ROOT"),
    (0x02, "RESOLVE_NO_MAGICLINKS"),
    (0x04, "RESOLVE_NO_SYMLINKS"),
    (0x01, "RESOLVE_NO_XDEV"),
    (0x20, "RESOLVE_CACHED"),
];

const MODE: &[(u64, &str)] = &[
    (0o1, "S_IXOTH"),
    (0o2, "S_IWOTH"),
    (0o4, "S_IROTH"),
    (0o10, "S_IXGRP"),
    (0o20, "S_IWGRP"),
    (0o40, "S_IRGRP"),
    (0o100, "S_IXUSR"),
    (0o200, "S_IWUSR"),
    (0o400, "S_IRUSR"),
    (0o1000, "S_ISVTX"),
    (0o2000, "S_ISGID"),
    (0o4000, "S_ISUID"),
];

const CLONE: &[(u64, &str)] = &[
    (0x0000_0400, "CLONE_FILES"),
    (0x0000_0200, "CLONE_FS"),
    (0x8000_0000, "CLONE_IO"),
    (0x0800_0000, "CLONE_NEWIPC"),
    (0x4000_0000, "CLONE_NEWNET"),
    (0x0002_0000, "CLONE_NEWNS"),
    (0x2000_0000, "CLONE_NEWPID"),
    (0x0400_0000, "CLONE_NEWUTS"),
    (0x0000_8000, "CLONE_PARENT"),
    (0x0010_0000, "CLONE_PARENT_SETTID"),
    (0x0000_2000, "CLONE_PTRACE"),
    (0x0000_0800, "CLONE_SIGHAND"),
    (0x0004_0000, "CLONE_SYSVSEM"),
    (0x0001_0000, "CLONE_THREAD"),
    (0x0080_0000, "CLONE_UNTRACED"),
    (0x0000_0100, "CLONE_VM"),
    (0x1000_0000, "CLONE_NEWUSER"),
    (0x0020_0000, "CLONE_CHILD_CLEARTID"),
    (0x0100_0000, "CLONE_CHILD_SETTID"),
    (0x0008_0000, "CLONE_SETTLS"),
    (0x0000_4000, "CLONE_VFORK"),
    (0x0200_0000, "CLONE_NEWCGROUP"),
];

const PTRACE: &[(u64, &str)] = &[
    (33, "PTRACE_SINGLEBLOCK"),
    (32, "PTRACE_SYSEMU_SINGLESTEP"),
    (31, "PTRACE_SYSEMU"),
    (30, "PTRACE_ARCH_PRCTL"),
    (26, "PTRACE_SET_THREAD_AREA"),
    (25, "PTRACE_GET_THREAD_AREA"),
    (21, "PTRACE_OLDSETOPTIONS"),
    (19, "PTRACE_SETFPXREGS"),
    (18, "PTRACE_GETFPXREGS"),
    (15, "PTRACE_SETFPREGS"),
    (14, "PTRACE_GETFPREGS"),
    (13, "PTRACE_SETREGS"),
    (12, "PTRACE_GETREGS"),
    (0x420b, "PTRACE_SETSIGMASK"),
    (0x420a, "PTRACE_GETSIGMASK"),
    (0x4209, "PTRACE_PEEKSIGINFO"),
    (0x4208, "PTRACE_LISTEN"),
    (0x4207, "PTRACE_INTERRUPT"),
    (0x4206, "PTRACE_SEIZE"),
    (0x4205, "PTRACE_SETREGSET"),
    (0x4204, "PTRACE_GETREGSET"),
    (0x4203, "PTRACE_SETSIGINFO"),
    (0x4202, "PTRACE_GETSIGINFO"),
    (0x4201, "PTRACE_GETEVENTMSG"),
    (0x4200, "PTRACE_SETOPTIONS"),
    (24, "PTRACE_SYSCALL"),
    (17, "PTRACE_DETACH"),
    (16, "PTRACE_ATTACH"),
    (9, "PTRACE_SINGLESTEP"),
    (8, "PTRACE_KILL"),
    (7, "PTRACE_CONT"),
    (6, "PTRACE_POKEUSR"),
    (5, "PTRACE_POKEDATA"),
    (4, "PTRACE_POKETEXT"),
    (3, "PTRACE_PEEKUSR"),
    (2, "PTRACE_PEEKDATA"),
    (1, "PTRACE_PEEKTEXT"),
    (0, "PTRACE_TRACEME"),
];

const AF: &[(u64, &str)] = &[
    (39, "AF_NFC"),
    (38, "AF_ALG"),
    (37, "AF_CAIF"),
    (36, "AF_IEEE802154"),
    (35, "AF_PHONET"),
    (34, "AF_ISDN"),
    (33, "AF_RXRPC"),
    (32, "AF_IUCV"),
    (31, "AF_BLUETOOTH"),
    (30, "AF_TIPC"),
    (29, "AF_CAN"),
    (26, "AF_LLC"),
    (25, "AF_WANPIPE"),
    (24, "AF_PPPOX"),
    (23, "AF_IRDA"),
    (22, "AF_SNA"),
    (21, "AF_RDS"),
    (20, "AF_ATMSVC"),
    (19, "AF_ECONET"),
    (18, "AF_ASH"),
    (17, "AF_PACKET"),
    (16, "AF_ROUTE"),
    (16, "AF_NETLINK"),
    (15, "AF_KEY"),
    (14, "AF_SECURITY"),
    (13, "AF_NETBEUI"),
    (12, "AF_DECnet"),
    (11, "AF_ROSE"),
    (10, "AF_INET6"),
    (9, "AF_X25"),
    (8, "AF_ATMPVC"),
    (7, "AF_BRIDGE"),
    (6, "AF_NETROM"),
    (5, "AF_APPLETALK"),
    (4, "AF_IPX"),
    (3, "AF_AX25"),
    (2, "AF_INET"),
    (1, "AF_LOCAL"),
    (1, "AF_UNIX"),
    (0, "AF_UNSPEC"),
];

/// Socket types (the low byte of socket(2)'s `type`). Falco renders `type`
/// as a plain number; kestrel's table marks it as a flag set, so these
/// names are kestrel's own, in kernel order.
const SOCK_TYPE: &[(u64, &str)] = &[
    (1, "SOCK_STREAM"),
    (2, "SOCK_DGRAM"),
    (3, "SOCK_RAW"),
    (4, "SOCK_RDM"),
    (5, "SOCK_SEQPACKET"),
    (6, "SOCK_DCCP"),
    (10, "SOCK_PACKET"),
];
const SOCK_NONBLOCK: u64 = 0o4000;
const SOCK_CLOEXEC: u64 = 0o2000000;

const BPF: &[(u64, &str)] = &[
    (0, "BPF_MAP_CREATE"),
    (1, "BPF_MAP_LOOKUP_ELEM"),
    (2, "BPF_MAP_UPDATE_ELEM"),
    (3, "BPF_MAP_DELETE_ELEM"),
    (4, "BPF_MAP_GET_NEXT_KEY"),
    (5, "BPF_PROG_LOAD"),
    // Falco's table spells this one with a comma; rules compare names
    // verbatim, so kestrel keeps the quirk.
    (6, "BPF_OBJ,PIN"),
    (7, "BPF_OBJ_GET"),
    (8, "BPF_PROG_ATTACH"),
    (9, "BPF_PROG_DETACH"),
    (10, "BPF_PROG_TEST_RUN"),
    (10, "BPF_PROG_RUN"),
    (11, "BPF_PROG_GET_NEXT_ID"),
    (12, "BPF_MAP_GET_NEXT_ID"),
    (13, "BPF_PROG_GET_FD_BY_ID"),
    (14, "BPF_MAP_GET_FD_BY_ID"),
    (15, "BPF_OBJ_GET_INFO_BY_FD"),
    (16, "BPF_PROG_QUERY"),
    (17, "BPF_RAW_TRACEPOINT_OPEN"),
    (18, "BPF_BTF_LOAD"),
    (19, "BPF_BTF_GET_FD_BY_ID"),
    (20, "BPF_TASK_FD_QUERY"),
    (21, "BPF_MAP_LOOKUP_AND_DELETE_ELEM"),
    (22, "BPF_MAP_FREEZE"),
    (23, "BPF_BTF_GET_NEXT_ID"),
    (24, "BPF_MAP_LOOKUP_BATCH"),
    (25, "BPF_MAP_LOOKUP_AND_DELETE_BATCH"),
    (26, "BPF_MAP_UPDATE_BATCH"),
    (27, "BPF_MAP_DELETE_BATCH"),
    (28, "BPF_LINK_CREATE"),
    (29, "BPF_LINK_UPDATE"),
    (30, "BPF_LINK_GET_FD_BY_ID"),
    (31, "BPF_LINK_GET_NEXT_ID"),
    (32, "BPF_ENABLE_STATS"),
    (33, "BPF_ITER_CREATE"),
    (34, "BPF_LINK_DETACH"),
    (35, "BPF_PROG_BIND_MAP"),
];

const PRCTL: &[(u64, &str)] = &[
    (3, "PR_GET_DUMPABLE"),
    (4, "PR_SET_DUMPABLE"),
    (7, "PR_GET_KEEPCAPS"),
    (8, "PR_SET_KEEPCAPS"),
    (15, "PR_SET_NAME"),
    (16, "PR_GET_NAME"),
    (21, "PR_GET_SECCOMP"),
    (22, "PR_SET_SECCOMP"),
    (23, "PR_CAPBSET_READ"),
    (24, "PR_CAPBSET_DROP"),
    (27, "PR_GET_SECUREBITS"),
    (28, "PR_SET_SECUREBITS"),
    (33, "PR_MCE_KILL"),
    // Listed twice upstream; an exact-match enumeration prints both.
    (33, "PR_MCE_KILL"),
    (35, "PR_SET_MM"),
    (36, "PR_SET_CHILD_SUBREAPER"),
    (37, "PR_GET_CHILD_SUBREAPER"),
    (38, "PR_SET_NO_NEW_PRIVS"),
    (39, "PR_GET_NO_NEW_PRIVS"),
    (40, "PR_GET_TID_ADDRESS"),
    (41, "PR_SET_THP_DISABLE"),
    (42, "PR_GET_THP_DISABLE"),
    (47, "PR_CAP_AMBIENT"),
];

const MOUNT: &[(u64, &str)] = &[
    (1, "RDONLY"),
    (2, "NOSUID"),
    (4, "NODEV"),
    (8, "NOEXEC"),
    (16, "SYNCHRONOUS"),
    (32, "REMOUNT"),
    (64, "MANDLOCK"),
    (128, "DIRSYNC"),
    (1024, "NOATIME"),
    (2048, "NODIRATIME"),
    (4096, "BIND"),
    (8192, "MOVE"),
    (16384, "REC"),
    (32768, "SILENT"),
    (1 << 16, "POSIXACL"),
    (1 << 17, "UNBINDABLE"),
    (1 << 18, "PRIVATE"),
    (1 << 19, "SLAVE"),
    (1 << 20, "SHARED"),
    (1 << 21, "RELATIME"),
    (1 << 22, "KERNMOUNT"),
    (1 << 23, "I_VERSION"),
    (1 << 24, "STRICTATIME"),
    (1 << 25, "LAZYTIME"),
    (1 << 28, "NOSEC"),
    (1 << 29, "BORN"),
    (1 << 30, "ACTIVE"),
    (1 << 31, "NOUSER"),
];
/// `MS_MGC_VAL`: legacy magic in the top 16 bits of mount flags, stripped
/// before rendering (Falco's driver does the same).
const MS_MGC_VAL: u64 = 0xC0ED_0000;
const MS_MGC_MSK: u64 = 0xFFFF_0000;

const UMOUNT: &[(u64, &str)] = &[(1, "FORCE"), (2, "DETACH"), (4, "EXPIRE"), (8, "NOFOLLOW")];

const LINKAT: &[(u64, &str)] = &[(0x400, "AT_SYMLINK_FOLLOW"), (0x1000, "AT_EMPTY_PATH")];

const UNLINKAT: &[(u64, &str)] = &[(0x200, "AT_REMOVEDIR")];

const FCHOWNAT: &[(u64, &str)] = &[(0x100, "AT_SYMLINK_NOFOLLOW"), (0x1000, "AT_EMPTY_PATH")];

const RENAMEAT2: &[(u64, &str)] = &[
    (1, "RENAME_NOREPLACE"),
    (2, "RENAME_EXCHANGE"),
    (4, "RENAME_WHITEOUT"),
];

const MEMFD: &[(u64, &str)] = &[
    (1, "MFD_CLOEXEC"),
    (2, "MFD_ALLOW_SEALING"),
    (4, "MFD_HUGETLB"),
];

const EXE: &[(u64, &str)] = &[
    (1 << 0, "EXE_WRITABLE"),
    (1 << 1, "EXE_UPPER_LAYER"),
    (1 << 2, "EXE_FROM_MEMFD"),
    (1 << 3, "EXE_LOWER_LAYER"),
];

/// Falco has no table for finit_module flags; these are the kernel's names.
const FINIT_MODULE: &[(u64, &str)] = &[
    (1, "MODULE_INIT_IGNORE_MODVERSIONS"),
    (2, "MODULE_INIT_IGNORE_VERMAGIC"),
    (4, "MODULE_INIT_COMPRESSED_FILE"),
];

/// fcntl(2) commands: Falco's names (`fcntl_commands`), x86-64 kernel
/// values (Falco's driver converts them to its own `PPM_FCNTL_*` numbers;
/// kestrel keeps the kernel's, as for ptrace requests). Commands Falco
/// does not name (file seals, read/write hints) render `UNKNOWN`, as
/// Falco's `PPM_FCNTL_UNKNOWN` does.
const FCNTL: &[(u64, &str)] = &[
    (1032, "F_GETPIPE_SZ"),
    (1031, "F_SETPIPE_SZ"),
    (1026, "F_NOTIFY"),
    (1030, "F_DUPFD_CLOEXEC"),
    (1029, "F_CANCELLK"),
    (1025, "F_GETLEASE"),
    (1024, "F_SETLEASE"),
    (16, "F_GETOWN_EX"),
    (15, "F_SETOWN_EX"),
    (11, "F_GETSIG"),
    (10, "F_SETSIG"),
    (9, "F_GETOWN"),
    (8, "F_SETOWN"),
    (7, "F_SETLKW"),
    (6, "F_SETLK"),
    (5, "F_GETLK"),
    (4, "F_SETFL"),
    (3, "F_GETFL"),
    (2, "F_SETFD"),
    (1, "F_GETFD"),
    (0, "F_DUPFD"),
    (36, "F_OFD_GETLK"),
    (37, "F_OFD_SETLK"),
    (38, "F_OFD_SETLKW"),
];

/// Signal numbers (x86_64), rendered by name as Falco renders `PT_SIGTYPE`.
const SIGNAL: &[(u64, &str)] = &[
    (1, "SIGHUP"),
    (2, "SIGINT"),
    (3, "SIGQUIT"),
    (4, "SIGILL"),
    (5, "SIGTRAP"),
    (6, "SIGABRT"),
    (7, "SIGBUS"),
    (8, "SIGFPE"),
    (9, "SIGKILL"),
    (10, "SIGUSR1"),
    (11, "SIGSEGV"),
    (12, "SIGUSR2"),
    (13, "SIGPIPE"),
    (14, "SIGALRM"),
    (15, "SIGTERM"),
    (16, "SIGSTKFLT"),
    (17, "SIGCHLD"),
    (18, "SIGCONT"),
    (19, "SIGSTOP"),
    (20, "SIGTSTP"),
    (21, "SIGTTIN"),
    (22, "SIGTTOU"),
    (23, "SIGURG"),
    (24, "SIGXCPU"),
    (25, "SIGXFSZ"),
    (26, "SIGVTALRM"),
    (27, "SIGPROF"),
    (28, "SIGWINCH"),
    (29, "SIGIO"),
    (30, "SIGPWR"),
    (31, "SIGSYS"),
];

/// mmap/mprotect protection bits: Falco's names (`prot_flags`) and
/// order, x86_64 kernel values.
const PROT: &[(u64, &str)] = &[
    (0x1, "PROT_READ"),
    (0x2, "PROT_WRITE"),
    (0x4, "PROT_EXEC"),
    (0x8, "PROT_SEM"),
    (0x0100_0000, "PROT_GROWSDOWN"),
    (0x0200_0000, "PROT_GROWSUP"),
    (0, "PROT_NONE"),
];

/// mmap flags: Falco's names (`mmap_flags`) and order, x86_64 kernel
/// values (the ones x86_64 does not define are left out).
const MMAP: &[(u64, &str)] = &[
    (0x1, "MAP_SHARED"),
    (0x2, "MAP_PRIVATE"),
    (0x10, "MAP_FIXED"),
    (0x20, "MAP_ANONYMOUS"),
    (0x40, "MAP_32BIT"),
    (0x4000, "MAP_NORESERVE"),
    (0x8000, "MAP_POPULATE"),
    (0x10000, "MAP_NONBLOCK"),
    (0x100, "MAP_GROWSDOWN"),
    (0x800, "MAP_DENYWRITE"),
    (0x1000, "MAP_EXECUTABLE"),
    (0x2000, "MAP_LOCKED"),
];

/// io_uring_setup(2) flags: Falco's names (`io_uring_setup_flags`), whose
/// `PPM_IORING_SETUP_*` values equal the kernel's for these bits; newer
/// kernel bits have no Falco name.
const IO_URING_SETUP: &[(u64, &str)] = &[
    (1 << 0, "IORING_SETUP_IOPOLL"),
    (1 << 1, "IORING_SETUP_SQPOLL"),
    (1 << 2, "IORING_SETUP_SQ_AFF"),
    (1 << 3, "IORING_SETUP_CQSIZE"),
    (1 << 4, "IORING_SETUP_CLAMP"),
    (1 << 5, "IORING_SETUP_ATTACH_WQ"),
    (1 << 6, "IORING_SETUP_R_DISABLED"),
];

/// access(2) modes: Falco's names and order (`access_flags`); its values
/// equal the kernel's.
const ACCESS: &[(u64, &str)] = &[(0, "F_OK"), (4, "R_OK"), (2, "W_OK"), (1, "X_OK")];

/// lseek(2) whence: Falco's names and order (`lseek_whence`).
const WHENCE: &[(u64, &str)] = &[(2, "SEEK_END"), (1, "SEEK_CUR"), (0, "SEEK_SET")];

/// flock(2) operations: Falco's names and order (`flock_flags`).
const FLOCK: &[(u64, &str)] = &[
    (1, "LOCK_SH"),
    (2, "LOCK_EX"),
    (4, "LOCK_NB"),
    (8, "LOCK_UN"),
    (0, "LOCK_NONE"),
];

/// mlockall(2) flags: Falco's names and order (`mlockall_flags`).
const MLOCKALL: &[(u64, &str)] = &[(1, "MCL_CURRENT"), (2, "MCL_FUTURE"), (4, "MCL_ONFAULT")];

/// `(value, name)` pairs of a flag set or enumeration, in Falco's order.
/// Values are in the rendering domain (see the module documentation): for
/// [`FlagSet::Open`] and [`FlagSet::FdFlags`] that is Falco's `PPM_O_*`
/// layout, for [`FlagSet::SocketType`] only the type enumeration; for every
/// other set the kernel's own values.
pub fn table(set: FlagSet) -> &'static [(u64, &'static str)] {
    match set {
        FlagSet::Open | FlagSet::FdFlags => OPEN,
        FlagSet::OpenatResolve => RESOLVE,
        FlagSet::Mode => MODE,
        FlagSet::Clone | FlagSet::Namespaces => CLONE,
        FlagSet::PtraceRequest => PTRACE,
        FlagSet::SocketFamily => AF,
        FlagSet::SocketType => SOCK_TYPE,
        FlagSet::BpfCmd => BPF,
        FlagSet::PrctlOption => PRCTL,
        FlagSet::Mount => MOUNT,
        FlagSet::Umount => UMOUNT,
        FlagSet::Linkat => LINKAT,
        FlagSet::Unlinkat => UNLINKAT,
        FlagSet::Fchownat => FCHOWNAT,
        FlagSet::Renameat2 => RENAMEAT2,
        FlagSet::Memfd => MEMFD,
        FlagSet::Exe => EXE,
        FlagSet::FinitModule => FINIT_MODULE,
        FlagSet::FcntlCmd => FCNTL,
        FlagSet::Signal => SIGNAL,
        FlagSet::Prot => PROT,
        FlagSet::Mmap => MMAP,
        FlagSet::IoUringSetup => IO_URING_SETUP,
        FlagSet::Access => ACCESS,
        FlagSet::Whence => WHENCE,
        FlagSet::Flock => FLOCK,
        FlagSet::Mlockall => MLOCKALL,
    }
}

/// Whether the set is an enumeration (exact match) rather than bit flags.
pub fn is_enum(set: FlagSet) -> bool {
    matches!(
        set,
        FlagSet::PtraceRequest
            | FlagSet::SocketFamily
            | FlagSet::BpfCmd
            | FlagSet::PrctlOption
            | FlagSet::FcntlCmd
            | FlagSet::Signal
            | FlagSet::Whence
    )
}

/// Renders a flag-set parameter value (as the probe sends it) the way
/// Falco renders the resolved form. `None` when no name applies.
pub fn render(set: FlagSet, raw: u64) -> Option<String> {
    match set {
        FlagSet::Open => render_flags(OPEN, open_flags_to_ppm(raw)),
        FlagSet::FdFlags => render_flags(OPEN, fd_flags_to_ppm(raw)),
        FlagSet::Mount => {
            let v = if raw & MS_MGC_MSK == MS_MGC_VAL {
                raw & !MS_MGC_MSK
            } else {
                raw
            };
            render_flags(MOUNT, v)
        }
        FlagSet::SocketType => {
            let mut out = String::new();
            let ty = raw & 0xff;
            if let Some((_, n)) = SOCK_TYPE.iter().find(|(v, _)| *v == ty) {
                out.push_str(n);
            }
            for (bit, name) in [
                (SOCK_NONBLOCK, "SOCK_NONBLOCK"),
                (SOCK_CLOEXEC, "SOCK_CLOEXEC"),
            ] {
                if raw & bit != 0 {
                    if !out.is_empty() {
                        out.push('|');
                    }
                    out.push_str(name);
                }
            }
            (!out.is_empty()).then_some(out)
        }
        FlagSet::PtraceRequest => render_enum(PTRACE, raw).or_else(|| {
            // Falco's driver maps requests it does not know to
            // PPM_PTRACE_UNKNOWN, which renders by name.
            Some("PTRACE_UNKNOWN".to_string())
        }),
        FlagSet::FcntlCmd => render_enum(FCNTL, raw).or_else(|| Some("UNKNOWN".to_string())),
        s if is_enum(s) => render_enum(table(s), raw),
        s => render_flags(table(s), raw),
    }
}

/// Renders a file mode (`PT_MODE`): `S_I*` names in Falco's order.
pub fn render_mode(raw: u64) -> Option<String> {
    let initial = raw & 0o7777;
    let mut val = initial;
    let mut out = String::new();
    let mut iter = MODE.iter();
    let mut stopped_at = None;
    for &(v, name) in iter.by_ref() {
        if v == initial {
            stopped_at = Some(name);
            break;
        }
        if val != 0 && v != 0 && val & v == v {
            push_name(&mut out, name);
            val &= !v;
        }
    }
    if let Some(name) = stopped_at {
        push_name(&mut out, name);
    }
    (!out.is_empty()).then_some(out)
}

fn push_name(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('|');
    }
    out.push_str(name);
}

fn render_flags(t: &[(u64, &str)], initial: u64) -> Option<String> {
    let mut val = initial;
    let mut out = String::new();
    for &(v, name) in t {
        let hit = (v == 0 && initial == 0) || (v != 0 && val != 0 && val & v == v);
        if hit {
            val &= !v;
            push_name(&mut out, name);
            if v == initial {
                break;
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn render_enum(t: &[(u64, &str)], v: u64) -> Option<String> {
    let mut out = String::new();
    for &(tv, name) in t {
        if tv == v {
            push_name(&mut out, name);
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Linux errno names, index = errno number (x86_64 / generic).
const ERRNO: &[&str] = &[
    "",
    "EPERM",
    "ENOENT",
    "ESRCH",
    "EINTR",
    "EIO",
    "ENXIO",
    "E2BIG",
    "ENOEXEC",
    "EBADF",
    "ECHILD",
    "EAGAIN",
    "ENOMEM",
    "EACCES",
    "EFAULT",
    "ENOTBLK",
    "EBUSY",
    "EEXIST",
    "EXDEV",
    "ENODEV",
    "ENOTDIR",
    "EISDIR",
    "EINVAL",
    "ENFILE",
    "EMFILE",
    "ENOTTY",
    "ETXTBSY",
    "EFBIG",
    "ENOSPC",
    "ESPIPE",
    "EROFS",
    "EMLINK",
    "EPIPE",
    "EDOM",
    "ERANGE",
    "EDEADLK",
    "ENAMETOOLONG",
    "ENOLCK",
    "ENOSYS",
    "ENOTEMPTY",
    "ELOOP",
    "",
    "ENOMSG",
    "EIDRM",
    "ECHRNG",
    "EL2NSYNC",
    "EL3HLT",
    "EL3RST",
    "ELNRNG",
    "EUNATCH",
    "ENOCSI",
    "EL2HLT",
    "EBADE",
    "EBADR",
    "EXFULL",
    "ENOANO",
    "EBADRQC",
    "EBADSLT",
    "",
    "EBFONT",
    "ENOSTR",
    "ENODATA",
    "ETIME",
    "ENOSR",
    "ENONET",
    "ENOPKG",
    "EREMOTE",
    "ENOLINK",
    "EADV",
    "ESRMNT",
    "ECOMM",
    "EPROTO",
    "EMULTIHOP",
    "EDOTDOT",
    "EBADMSG",
    "EOVERFLOW",
    "ENOTUNIQ",
    "EBADFD",
    "EREMCHG",
    "ELIBACC",
    "ELIBBAD",
    "ELIBSCN",
    "ELIBMAX",
    "ELIBEXEC",
    "EILSEQ",
    "ERESTART",
    "ESTRPIPE",
    "EUSERS",
    "ENOTSOCK",
    "EDESTADDRREQ",
    "EMSGSIZE",
    "EPROTOTYPE",
    "ENOPROTOOPT",
    "EPROTONOSUPPORT",
    "ESOCKTNOSUPPORT",
    "EOPNOTSUPP",
    "EPFNOSUPPORT",
    "EAFNOSUPPORT",
    "EADDRINUSE",
    "EADDRNOTAVAIL",
    "ENETDOWN",
    "ENETUNREACH",
    "ENETRESET",
    "ECONNABORTED",
    "ECONNRESET",
    "ENOBUFS",
    "EISCONN",
    "ENOTCONN",
    "ESHUTDOWN",
    "ETOOMANYREFS",
    "ETIMEDOUT",
    "ECONNREFUSED",
    "EHOSTDOWN",
    "EHOSTUNREACH",
    "EALREADY",
    "EINPROGRESS",
    "ESTALE",
    "EUCLEAN",
    "ENOTNAM",
    "ENAVAIL",
    "EISNAM",
    "EREMOTEIO",
    "EDQUOT",
    "ENOMEDIUM",
    "EMEDIUMTYPE",
    "ECANCELED",
    "ENOKEY",
    "EKEYEXPIRED",
    "EKEYREVOKED",
    "EKEYREJECTED",
    "EOWNERDEAD",
    "ENOTRECOVERABLE",
    "ERFKILL",
    "EHWPOISON",
];

/// Symbol of an errno given as a negative return value (`-2` → `ENOENT`).
/// Kernel-internal restart codes map to their kernel names.
pub fn errno_name(ret: i64) -> Option<&'static str> {
    let e = ret.checked_neg()?;
    match e {
        512 => return Some("ERESTARTSYS"),
        513 => return Some("ERESTARTNOINTR"),
        514 => return Some("ERESTARTNOHAND"),
        515 => return Some("ENOIOCTLCMD"),
        516 => return Some("ERESTART_RESTARTBLOCK"),
        _ => {}
    }
    let name = ERRNO.get(usize::try_from(e).ok()?)?;
    (!name.is_empty()).then_some(*name)
}

/// Capability names in bit order (`CAP_CHOWN` is bit 0).
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// A capability set as `CAP_*` names in bit order joined by single spaces
/// (`""` for the empty set). Unknown bits are skipped.
pub fn caps_text(set: u64) -> String {
    let mut out = String::new();
    for (bit, name) in CAPS.iter().enumerate() {
        if set & (1u64 << bit) != 0 {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(name);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fcntl_commands_render_falco_names() {
        assert_eq!(render(FlagSet::Access, 6).as_deref(), Some("R_OK|W_OK"));
        assert_eq!(render(FlagSet::Access, 0).as_deref(), Some("F_OK"));
        assert_eq!(render(FlagSet::Whence, 2).as_deref(), Some("SEEK_END"));
        assert_eq!(
            render(FlagSet::Flock, 6).as_deref(),
            Some("LOCK_EX|LOCK_NB")
        );
        assert_eq!(
            render(FlagSet::Mlockall, 3).as_deref(),
            Some("MCL_CURRENT|MCL_FUTURE")
        );
        assert_eq!(render(FlagSet::Signal, 9).as_deref(), Some("SIGKILL"));
        assert_eq!(render(FlagSet::Signal, 15).as_deref(), Some("SIGTERM"));
        assert_eq!(render(FlagSet::Signal, 64), None);
        assert_eq!(
            render(FlagSet::Prot, 5).as_deref(),
            Some("PROT_READ|PROT_EXEC")
        );
        assert_eq!(render(FlagSet::Prot, 0).as_deref(), Some("PROT_NONE"));
        assert_eq!(
            render(FlagSet::Mmap, 0x22).as_deref(),
            Some("MAP_PRIVATE|MAP_ANONYMOUS")
        );
        assert_eq!(render(FlagSet::FcntlCmd, 0).as_deref(), Some("F_DUPFD"));
        assert_eq!(
            render(FlagSet::FcntlCmd, 1030).as_deref(),
            Some("F_DUPFD_CLOEXEC")
        );
        assert_eq!(render(FlagSet::FcntlCmd, 4).as_deref(), Some("F_SETFL"));
        // F_ADD_SEALS: no Falco name.
        assert_eq!(render(FlagSet::FcntlCmd, 1033).as_deref(), Some("UNKNOWN"));
        assert!(crate::table::fcntl_cmd::is_dup(0) && crate::table::fcntl_cmd::is_dup(1030));
        assert!(!crate::table::fcntl_cmd::is_dup(4));
    }

    #[test]
    fn open_flags_follow_falco_order() {
        use kernel_o as o;
        assert_eq!(render(FlagSet::Open, 0).as_deref(), Some("O_RDONLY"));
        assert_eq!(
            render(FlagSet::Open, o::WRONLY | o::CREAT | o::TRUNC).as_deref(),
            Some("O_TRUNC|O_CREAT|O_WRONLY")
        );
        // O_RDWR must not also print O_RDONLY / O_WRONLY.
        assert_eq!(
            render(FlagSet::Open, o::RDWR | o::CLOEXEC).as_deref(),
            Some("O_RDWR|O_CLOEXEC")
        );
        assert_eq!(
            render(FlagSet::Open, o::TMPFILE_BIT | o::DIRECTORY | o::RDWR).as_deref(),
            Some("O_DIRECTORY|O_RDWR|O_TMPFILE")
        );
        assert_eq!(render(FlagSet::FdFlags, 0).as_deref(), Some("O_NONE"));
        assert_eq!(
            render(FlagSet::FdFlags, o::CLOEXEC).as_deref(),
            Some("O_CLOEXEC")
        );
    }

    #[test]
    fn enums_match_exactly_and_print_aliases() {
        assert_eq!(
            render(FlagSet::SocketFamily, 17).as_deref(),
            Some("AF_PACKET")
        );
        assert_eq!(
            render(FlagSet::SocketFamily, 1).as_deref(),
            Some("AF_LOCAL|AF_UNIX")
        );
        assert_eq!(render(FlagSet::SocketFamily, 99), None);
        assert_eq!(
            render(FlagSet::PtraceRequest, 16).as_deref(),
            Some("PTRACE_ATTACH")
        );
        assert_eq!(
            render(FlagSet::PtraceRequest, 0).as_deref(),
            Some("PTRACE_TRACEME")
        );
        assert_eq!(
            render(FlagSet::PtraceRequest, 0x4206).as_deref(),
            Some("PTRACE_SEIZE")
        );
        assert_eq!(
            render(FlagSet::PtraceRequest, 9999).as_deref(),
            Some("PTRACE_UNKNOWN")
        );
        assert_eq!(render(FlagSet::BpfCmd, 5).as_deref(), Some("BPF_PROG_LOAD"));
        assert_eq!(render(FlagSet::BpfCmd, 6).as_deref(), Some("BPF_OBJ,PIN"));
    }

    #[test]
    fn modes_and_other_sets() {
        assert_eq!(
            render_mode(0o755).as_deref(),
            Some("S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR")
        );
        assert_eq!(
            render_mode(0o4755).as_deref(),
            Some("S_IXOTH|S_IROTH|S_IXGRP|S_IRGRP|S_IXUSR|S_IWUSR|S_IRUSR|S_ISUID")
        );
        assert_eq!(render_mode(0o2000).as_deref(), Some("S_ISGID"));
        assert_eq!(render_mode(0), None);
        assert_eq!(
            render(FlagSet::Exe, 1 | 8).as_deref(),
            Some("EXE_WRITABLE|EXE_LOWER_LAYER")
        );
        assert_eq!(render(FlagSet::Exe, 0), None);
        assert_eq!(
            render(FlagSet::Mount, 0xC0ED_0000 | 4096 | 16384).as_deref(),
            Some("BIND|REC")
        );
        assert_eq!(
            render(FlagSet::SocketType, 1 | 0o2000000).as_deref(),
            Some("SOCK_STREAM|SOCK_CLOEXEC")
        );
        assert_eq!(
            render(FlagSet::Namespaces, 0x4000_0000).as_deref(),
            Some("CLONE_NEWNET")
        );
    }

    #[test]
    fn errno_and_caps() {
        assert_eq!(errno_name(-2), Some("ENOENT"));
        assert_eq!(errno_name(-115), Some("EINPROGRESS"));
        assert_eq!(errno_name(-13), Some("EACCES"));
        assert_eq!(errno_name(0), None);
        assert_eq!(errno_name(-100_000), None);
        assert_eq!(errno_name(i64::MIN), None);
        assert_eq!(caps_text(0), "");
        assert_eq!(caps_text(1 | (1 << 21)), "CAP_CHOWN CAP_SYS_ADMIN");
        assert_eq!(CAPS[40], "CAP_CHECKPOINT_RESTORE");
    }
}
