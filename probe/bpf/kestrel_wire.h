/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0 */
/*
 * kestrel wire format: the records the probe writes into the per-CPU ring
 * buffers, and the maps/globals userspace configures.
 *
 * This header is the single C definition of the format. Its Rust mirror is
 * event/src/wire.rs; probe/tests/wire_layout.rs compiles this header
 * with the host compiler and checks every size and offset against the mirror.
 *
 * A record is:
 *
 *     struct kst_event_hdr hdr;          fixed header
 *     __u16 param_len[hdr.nparams];      byte length of each parameter
 *     __u8  data[];                      the parameters, back to back
 *
 * hdr.len is the length of the whole record. A ring record may be longer
 * than hdr.len (openat is reserved for its largest inline path); readers
 * use hdr.len. Parameters appear in the order of the event's schema
 * (event/src/table.rs). Encodings by kind:
 *   integers (fd, flags, mode, uid, pid, ...): 8 bytes little endian; C ints
 *     (fds, pids) sign-extended, unsigned values (uids, flags) zero-extended;
 *   strings and paths: the bytes, no terminating NUL (len 0 = empty/absent);
 *   string lists (argv, env, cgroups): NUL-separated, no final NUL;
 *   byte buffers: raw bytes;
 *   caller-supplied addresses: struct kst_sock_tuple with the address in
 *     family/daddr/dport, followed by the path of a unix address;
 *   fd descriptions: struct kst_fdinfo followed by an optional path (file
 *     and directory paths up to the task's root, unix socket paths,
 *     "memfd:<name>", "<ns type>:[<inode>]").
 * A parameter the probe could not read has length 0. A string cut at its cap
 * sets KST_HF_TRUNCATED in hdr.flags.
 *
 * Exec records (execve, successful execveat and procinfo) carry cgroups as
 * "<controller>=<path>" entries; "unified=<path>" is the cgroup v2 hierarchy,
 * other entries are the controllers of v1 hierarchies. A failed exec carries
 * only filename (the process image did not change).
 *
 * Event type ids are stable: grouped by category, never reused.
 */
#ifndef KESTREL_WIRE_H
#define KESTREL_WIRE_H

#ifndef __KESTREL_HOST_TYPES
/* The BPF build gets these from kestrel_vmlinux.h. */
#endif

#define KST_WIRE_VERSION 1
#define KST_COMM_LEN 16
#define KST_MAX_PARAMS 24

/* Caps on variable-length parameters (bytes). */
#define KST_PATH_MAX 4096
#define KST_ARGS_MAX 4096
#define KST_ENV_MAX 2048
#define KST_DATA_MAX 256
#define KST_CGROUPS_MAX 2048

/* Header flags. */
#define KST_HF_TRUNCATED 0x1   /* a string parameter was cut at its cap */
#define KST_HF_SYNTHETIC 0x2   /* made by userspace (e.g. /proc scan), not the kernel */
#define KST_HF_KEVAL 0x4       /* the interest filter evaluated its clauses */
#define KST_HF_KSEL 0x8        /* ... and one held */
#define KST_HF_KGEN_SHIFT 8    /* bits 8-15: low byte of kst_fcfg.active */
#define KST_HF_IOURING 0x10    /* an io_uring request, not a system call */
#define KST_HF_IOWORKER 0x20   /* ... completed in an io_uring kernel thread (iou-wrk, iou-sqp) */
#define KST_HF_IOOP_SHIFT 16   /* bits 16-23: its IORING_OP_* opcode */

/*
 * Generic capture descriptors (map kst_gdesc, indexed by event type,
 * filled by the loader from the Rust event table's `Src` lists): for each
 * parameter a kind and two operands, registers numbered in syscall
 * argument order (0 di, 1 si, 2 dx, 3 r10, 4 r8, 5 r9).
 */
#define KST_GD_MAX 8
#define KST_GD_INT 1      /* reg a, sign-extended from 32 bits */
#define KST_GD_U32 2      /* reg a, zero-extended from 32 bits */
#define KST_GD_U64 3      /* reg a */
#define KST_GD_STR 4      /* user string at reg a */
#define KST_GD_BUF 5      /* user bytes at reg a, length reg b (if the call succeeded), snaplen cap */
#define KST_GD_BUFRET 6   /* user bytes at reg a, length = return value, snaplen cap */
#define KST_GD_IOVDATA 7  /* first iovec of the array at reg a (count reg b), return-value bytes */
#define KST_GD_IOVSIZE 8  /* total length of the iovecs at reg a (count reg b, first 8) */
#define KST_GD_FDINFO 9   /* struct kst_fdinfo of the fd in reg a */
#define KST_GD_USERINT 10 /* C int at user address reg a + b bytes, sign-extended */
#define KST_GD_NR 11      /* the syscall number */
#define KST_GD_RET 12     /* the return value */
#define KST_GD_USERU64 13 /* u64 at user address reg a + b bytes (0 if the call failed) */
#define KST_GD_TIMESPEC 14 /* struct timespec at user address reg a, as nanoseconds */
#define KST_GD_DIRPATH 15 /* the directory fd reg a refers to, when the last string was a relative path */
#define KST_GD_FDINFORET 16 /* struct kst_fdinfo of the fd the call returned */

struct kst_gdesc {
	__u8 kind[KST_GD_MAX];
	__u8 a[KST_GD_MAX];
	__u8 b[KST_GD_MAX];
	__u32 n;
	__u32 pad;
};

/*
 * Self-protection records (KST_EV_KESTREL_TAMPER): params kind, target, op, obj;
 * hdr.ret is the result of the attempt (the syscall's return value, or
 * the signal's TRACE_SIGNAL_* result). Emitted whatever the event types,
 * only when the target is kestrel (kst_self_tgid) and the caller is not.
 */
#define KST_TK_BPF_GET_FD 1    /* op: bpf cmd *_GET_FD_BY_ID; target: the id */
#define KST_TK_BPF_MAP_WRITE 2 /* op: bpf cmd; target: map id */
#define KST_TK_BPF_LINK 3      /* op: BPF_LINK_UPDATE / BPF_LINK_DETACH; target: link id */
#define KST_TK_PTRACE 4        /* op: ptrace request; target: tid */
#define KST_TK_PROCESS_VM 5    /* op: 0 process_vm_readv, 1 writev; target: pid */
#define KST_TK_PIDFD_GETFD 6   /* op: the fd taken; target: pid */
#define KST_TK_SIGNAL 7        /* op: signal; target: tid */
/* obj: the kind of BPF object (kst_self_ids keys: obj << 32 | id) */
#define KST_SO_PROG 1
#define KST_SO_MAP 2
#define KST_SO_LINK 3
/* kst_sc_type flag: the syscall is checked for attempts on kestrel
 * (the low bits are the event type, or 0 if not otherwise traced). */
#define KST_SC_SELF 0x8000
/* Signals checked (bit n: signal n): those that stop, kill or dump it:
 * INT QUIT ABRT KILL USR2 TERM STOP TSTP. Not SIGHUP and SIGUSR1 (its
 * reload and reopen controls, sent by logrotate and operators) nor
 * SIGCONT. */
#define KST_SELF_SIGMASK ((1u << 2) | (1u << 3) | (1u << 6) | (1u << 9) | (1u << 12) | \
			  (1u << 15) | (1u << 19) | (1u << 20))

/* Counter categories. */
enum kst_category {
	KST_CAT_PROCESS = 0,
	KST_CAT_FILE = 1,
	KST_CAT_NETWORK = 2,
	KST_CAT_OTHER = 3,
	KST_CAT_MAX = 4,
};

/*
 * Event types. Ranges: 1-63 process, 64-127 file, 128-191 network,
 * 192-255 other. 0 means "not traced" in the syscall table.
 */
enum kst_event_type {
	KST_EV_NONE = 0,
	/* process */
	KST_EV_EXECVE = 1,       /* successful exec (any flavour) and failed execve */
	KST_EV_EXECVEAT = 2,     /* failed execveat */
	KST_EV_CLONE = 3,
	KST_EV_CLONE3 = 4,
	KST_EV_FORK = 5,
	KST_EV_VFORK = 6,
	KST_EV_PROCFORK = 7,     /* sched_process_fork of a new process */
	KST_EV_PROCEXIT = 8,     /* sched_process_exit of a thread group leader */
	KST_EV_PROCINFO = 9,     /* synthetic: a process found by the /proc scan */
	KST_EV_SETUID = 10,
	KST_EV_SETGID = 11,
	KST_EV_SETRESUID = 12,
	KST_EV_SETRESGID = 13,
	KST_EV_SETREUID = 14,
	KST_EV_SETREGID = 15,
	KST_EV_SETSID = 16,
	KST_EV_SETPGID = 17,
	KST_EV_CAPSET = 18,
	KST_EV_PRCTL = 19,
	KST_EV_CHDIR = 20,
	KST_EV_FCHDIR = 21,
	KST_EV_CHROOT = 22,
	KST_EV_PTRACE = 23,
	KST_EV_SETNS = 24,
	KST_EV_UNSHARE = 25,
	/* file */
	KST_EV_OPEN = 64,
	KST_EV_OPENAT = 65,
	KST_EV_OPENAT2 = 66,
	KST_EV_CREAT = 67,
	KST_EV_CLOSE = 68,
	KST_EV_SYMLINK = 69,
	KST_EV_SYMLINKAT = 70,
	KST_EV_LINK = 71,
	KST_EV_LINKAT = 72,
	KST_EV_RENAME = 73,
	KST_EV_RENAMEAT = 74,
	KST_EV_RENAMEAT2 = 75,
	KST_EV_UNLINK = 76,
	KST_EV_UNLINKAT = 77,
	KST_EV_MKDIR = 78,
	KST_EV_MKDIRAT = 79,
	KST_EV_RMDIR = 80,
	KST_EV_CHMOD = 81,
	KST_EV_FCHMOD = 82,
	KST_EV_FCHMODAT = 83,
	KST_EV_CHOWN = 84,
	KST_EV_FCHOWN = 85,
	KST_EV_LCHOWN = 86,
	KST_EV_FCHOWNAT = 87,
	KST_EV_MOUNT = 88,
	KST_EV_UMOUNT2 = 89,
	KST_EV_MEMFD_CREATE = 90,
	KST_EV_FCHMODAT2 = 91,
	KST_EV_TRUNCATE = 92,
	KST_EV_FTRUNCATE = 93,
	/* network */
	KST_EV_SOCKET = 128,
	KST_EV_CONNECT = 129,
	KST_EV_ACCEPT = 130,
	KST_EV_ACCEPT4 = 131,
	KST_EV_BIND = 132,
	KST_EV_LISTEN = 133,
	KST_EV_SENDTO = 134,
	KST_EV_SENDMSG = 135,
	KST_EV_RECVFROM = 136,
	KST_EV_RECVMSG = 137,
	KST_EV_DUP = 138,
	KST_EV_DUP2 = 139,
	KST_EV_DUP3 = 140,
	KST_EV_FCNTL = 141,
	/* other */
	KST_EV_INIT_MODULE = 192,
	KST_EV_FINIT_MODULE = 193,
	KST_EV_BPF = 194,
	KST_EV_USERFAULTFD = 195,
	/* self-protection (hook_self.c): an attempt on kestrel itself */
	KST_EV_KESTREL_TAMPER = 250,
	/* io_uring (224-239) */
	KST_EV_IO_URING_SETUP = 224,
	KST_EV_IO_URING_ENTER = 225,
	KST_EV_IO_URING_REGISTER = 226,
	KST_EV_IO_URING_OP = 227,   /* an io_uring request without a decoded syscall equivalent */
	KST_EV_MAX = 256,
};

struct kst_event_hdr {
	__u64 ts_ns;          /* bpf_ktime_get_boot_ns() at the hook */
	__u64 cgroup_id;      /* cgroup v2 id (bpf_get_current_cgroup_id) */
	__u64 cap_effective;  /* cred->cap_effective */
	__u64 cap_permitted;  /* cred->cap_permitted */
	__s64 ret;            /* syscall return value; 0 for non-syscall events */
	__u64 exec_gen;       /* task->self_exec_id: changes on every exec */
	__u32 len;            /* whole record, header included */
	__u16 type;           /* enum kst_event_type */
	__u16 nparams;
	__u32 cpu;
	__u32 tid;            /* kernel pid of the thread */
	__u32 tgid;           /* kernel pid of the process */
	__u32 ptgid;          /* tgid of real_parent */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 loginuid;       /* 4294967295 when unset */
	__u32 pidns_ino;
	__u32 mntns_ino;
	__u32 flags;          /* KST_HF_* */
	char comm[KST_COMM_LEN];
};                            /* 120 bytes, no implicit padding */

/* Address families in kst_sock_tuple.family. */
#define KST_AF_UNSPEC 0
#define KST_AF_INET 2
#define KST_AF_INET6 10
#define KST_AF_UNIX 1

/*
 * A socket's endpoints as the kernel sees them. For IP sockets "src" is the
 * local end and "dst" the peer (for a listening or unconnected socket dst is
 * zero). IPv4 addresses use the first 4 bytes.
 */
struct kst_sock_tuple {
	__u8 family;          /* KST_AF_* */
	__u8 l4proto;         /* IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_RAW, 0 */
	__u16 sock_type;      /* SOCK_STREAM, SOCK_DGRAM, ... */
	__u16 sport;          /* host byte order */
	__u16 dport;          /* host byte order */
	__u8 saddr[16];
	__u8 daddr[16];
};

/* fd kinds in kst_fdinfo.kind: the characters of Falco's fd.typechar. */
#define KST_FD_FILE 'f'
#define KST_FD_DIRECTORY 'd'
#define KST_FD_IPV4 '4'
#define KST_FD_IPV6 '6'
#define KST_FD_UNIX 'u'
#define KST_FD_PIPE 'p'
#define KST_FD_EVENT 'e'
#define KST_FD_SIGNALFD 's'
#define KST_FD_EVENTPOLL 'l'
#define KST_FD_INOTIFY 'i'
#define KST_FD_TIMERFD 't'
#define KST_FD_NETLINK 'n'
#define KST_FD_BPF 'b'
#define KST_FD_USERFAULTFD 'u'
#define KST_FD_IOURING 'r'
#define KST_FD_MEMFD 'm'
#define KST_FD_PIDFD 'P'
#define KST_FD_UNKNOWN 'o'

/*
 * What an fd refers to, resolved in the kernel at the syscall's exit, so that
 * userspace needs no fd table. Followed by the file's absolute path (files,
 * directories, unix socket paths) when there is one; the param length says.
 */
struct kst_fdinfo {
	__s32 fd;
	__u8 kind;            /* KST_FD_* */
	__u8 pad[3];
	struct kst_sock_tuple tuple;  /* zero unless a socket */
};

/* Per-CPU counters (BPF_MAP_TYPE_PERCPU_ARRAY, one element). */
struct kst_counters {
	__u64 seen[KST_CAT_MAX];     /* events the probe tried to emit */
	__u64 sent[KST_CAT_MAX];     /* records committed to the ring */
	__u64 dropped[KST_CAT_MAX];  /* reserve/output failures: ring full */
};

/*
 * The interest filter (filter.h): what userspace derives from the loaded
 * rules and writes into maps, per event type, in two slots so that a
 * reload fills the inactive slot and then flips kst_fcfg.active.
 */
#define KST_FILTER_CLAUSES 8
/* Bytes of an LPM key's data: the slot byte, up to KST_FPATH_MAX path
 * bytes and the NUL that ends an exact entry. */
#define KST_FPATH_DATA 256
#define KST_FPATH_MAX 254
#define KST_TRACK_SLOTS 8

/* kst_tfilter.mode */
#define KST_TF_PASS 0     /* every event of the type is emitted */
#define KST_TF_CLAUSES 1  /* emitted if a clause holds */
#define KST_TF_DROP 2     /* no clause can hold */
/* kst_tfilter.flags */
#define KST_TFF_PATH 0x1  /* some clause tests the path */
#define KST_TFF_COMM 0x2  /* some clause tests the comm */
#define KST_TFF_SOCKFD 0x4 /* close: also emitted when the fd is a socket the
			    * probe saw connect or accept (socket state) */
#define KST_TFF_MARK 0x8  /* emitted whatever the clauses say; they only set
			   * KST_HF_KSEL (some rules need every event of the
			   * type, the others only what the clauses pass) */
/* kst_fclause.ret */
#define KST_FR_ANY 0
#define KST_FR_SUCCESS 1
#define KST_FR_FAILURE 2

struct kst_fclause {
	__u64 path_mask;      /* 0: no path test; else the path's sets must meet it (unknown paths pass) */
	__u64 comm_mask;      /* 0: no comm test; else (main thread only) the comm's sets must meet it */
	__u32 flags_any;      /* open family: flags & flags_any != 0 (if nonzero) */
	__u32 flags_none;     /* open family: flags & flags_none == 0 */
	__u8 acc_modes;       /* open family: bit (flags & 3) must be set; fcntl: bit
			       * 1 passes F_DUPFD/F_DUPFD_CLOEXEC, bit 0 the others */
	__u8 ret;             /* KST_FR_* */
	__u8 pad[6];
};                            /* 32 bytes */

struct kst_tfilter {
	__u8 mode;            /* KST_TF_* */
	__u8 nclauses;
	__u8 flags;           /* KST_TFF_* */
	__u8 pad[5];
	struct kst_fclause c[KST_FILTER_CLAUSES];
};                            /* 264 bytes */

struct kst_fpath_key {
	__u32 prefixlen;      /* bits of data that count */
	__u8 data[KST_FPATH_DATA]; /* slot, path bytes, NUL for an exact entry */
};

struct kst_fcomm_key {
	__u32 slot;
	char comm[KST_COMM_LEN]; /* cut at the first NUL, zero padded */
};

struct kst_fcfg {
	__u32 active;         /* filters installed: low bit the slot in force,
			       * low byte the generation marks carry */
	__u32 tracking;       /* kst_track has entries */
};

#endif /* KESTREL_WIRE_H */
