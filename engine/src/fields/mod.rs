//! The field catalogue and the extraction interface.
//!
//! A *field* is a named extractor (`proc.name`, `fd.sip`, `proc.aname[2]`).
//! This module defines what each field is (type, argument, flags,
//! description: the [`CATALOG`]), how a field reference is resolved from
//! its text ([`resolve`]), the values fields yield ([`Value`]), and the
//! [`Extract`] trait every event source implements: kernel events with
//! process state ([`crate::fields::live`]), and JSON-lines events
//! ([`crate::fields::json`]).
//!
//! The catalogue follows Falco's (RULES.md §7): same names, same types, same
//! missing-value behaviour, so that the three reference rules files compile
//! and mean the same thing.

use std::borrow::Cow;
use std::net::IpAddr;

pub mod json;
pub mod live;
pub mod render;

/// Type of a field's value (Falco's field types, RULES.md §0.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldType {
    /// A string (`CHARBUF`).
    CharBuf,
    /// Binary data (`BYTEBUF`).
    ByteBuf,
    /// `BOOL`.
    Bool,
    /// `INT64`.
    Int64,
    /// `UINT32`.
    Uint32,
    /// `UINT64`.
    Uint64,
    /// Nanosecond duration (`RELTIME`).
    RelTime,
    /// Nanoseconds since the epoch (`ABSTIME`).
    AbsTime,
    /// A port (`PORT`, u16).
    Port,
    /// An IP address (`IPADDR`).
    IpAddr,
    /// An address tested against networks (`IPNET`): extracts an address,
    /// literals are CIDRs, `=`/`in` mean "inside".
    IpNet,
}

impl FieldType {
    /// Falco's name for the type, as shown by `kestrel fields list`.
    pub fn falco_name(self) -> &'static str {
        match self {
            FieldType::CharBuf => "CHARBUF",
            FieldType::ByteBuf => "BYTEBUF",
            FieldType::Bool => "BOOL",
            FieldType::Int64 => "INT64",
            FieldType::Uint32 => "UINT32",
            FieldType::Uint64 => "UINT64",
            FieldType::RelTime => "RELTIME",
            FieldType::AbsTime => "ABSTIME",
            FieldType::Port => "PORT",
            FieldType::IpAddr => "IPADDR",
            FieldType::IpNet => "IPNET",
        }
    }

    /// Integer-valued types (compared numerically).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            FieldType::Int64
                | FieldType::Uint32
                | FieldType::Uint64
                | FieldType::RelTime
                | FieldType::AbsTime
                | FieldType::Port
        )
    }
}

/// Field flags (bit set).
pub mod flag {
    /// Usable in conditions only, not in outputs (`fd.ip`, `fd.net`, ...).
    pub const FILTER_ONLY: u32 = 1 << 0;
    /// Rejects transformers (`tolower(proc.aname)` is an error).
    pub const NO_TRANSFORMER: u32 = 1 << 1;
    /// Cannot be the right-hand side of a field-to-field comparison.
    pub const NO_RHS: u32 = 1 << 2;
    /// Yields several values (`in` means subset, `intersects` overlap).
    pub const LIST: u32 = 1 << 3;
    /// Without an index, a condition tests every ancestor from the parent
    /// up and is true when one matches (RULES.md §3.15).
    pub const ANY_ANCESTOR: u32 = 1 << 4;
    /// Compares either socket endpoint (`fd.ip`, `fd.port`, `fd.net`,
    /// `fd.proto`): `=`/`in` true if one matches, `!=` true if none does.
    pub const EITHER_ENDPOINT: u32 = 1 << 5;
    /// Deprecated: using it adds a `LOAD_DEPRECATED_ITEM` warning.
    pub const DEPRECATED: u32 = 1 << 6;
    /// Not listed by `fields list -N`.
    pub const HIDDEN: u32 = 1 << 7;
    /// The value is a host name compared by resolution (RULES.md §3.15).
    pub const DNS_NAME: u32 = 1 << 8;
}

/// What goes between the brackets of a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    /// No argument allowed.
    None,
    /// An optional non-negative index (`proc.aname`, `proc.aname[2]`).
    OptIndex,
    /// A required key (`container.mount.dest[/proc*]`).
    Key,
    /// An optional key (`proc.env`, `proc.env[HOME]`).
    OptKey,
    /// An event parameter: `evt.arg.<name>`, `evt.arg[<name>]` or `evt.arg[N]`.
    Param,
}

/// Field class, as listed by `kestrel fields list`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FieldClass {
    /// `evt.*`
    Evt,
    /// `proc.*`
    Process,
    /// `thread.*`
    Thread,
    /// `fd.*`
    Fd,
    /// `user.*`
    User,
    /// `group.*`
    Group,
    /// `container.*`
    Container,
    /// `k8s.*`
    K8s,
    /// `fs.path.*`
    FsPath,
}

impl FieldClass {
    /// Class name and short description for listings.
    pub fn describe(self) -> (&'static str, &'static str) {
        match self {
            FieldClass::Evt => ("evt", "Event fields applicable to syscall events."),
            FieldClass::Process => (
                "process",
                "Fields of the process that generated the event, from kestrel's process table.",
            ),
            FieldClass::Thread => ("thread", "Fields of the thread that generated the event."),
            FieldClass::Fd => (
                "fd",
                "Every syscall that has a file descriptor in its arguments has these fields set with information related to the file.",
            ),
            FieldClass::User => ("user", "Information about the user executing the specific event."),
            FieldClass::Group => ("group", "Information about the user group."),
            FieldClass::Container => (
                "container",
                "Container information, from the cgroup path and the container runtime.",
            ),
            FieldClass::K8s => ("k8s", "Kubernetes pod metadata, from the CRI pod sandbox (or the container's io.kubernetes.pod.* labels)."),
            FieldClass::FsPath => (
                "fs.path",
                "Paths that successful filesystem calls act on (mkdir, unlink, rename, link, symlink, mount, chmod, ...), whether or not the call takes an fd.",
            ),
        }
    }
}

/// Static description of one field.
#[derive(Debug, Clone, Copy)]
pub struct FieldDef {
    /// The name without argument (`proc.aname`).
    pub name: &'static str,
    /// Value type.
    pub ty: FieldType,
    /// What the brackets may hold.
    pub arg: ArgKind,
    /// `flag::*` bits.
    pub flags: u32,
    /// Class for listings.
    pub class: FieldClass,
    /// One-line description.
    pub desc: &'static str,
}

impl FieldDef {
    /// Whether flag `f` is set.
    pub fn has(&self, f: u32) -> bool {
        self.flags & f != 0
    }
}

/// Index of a field in [`CATALOG`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FieldId(pub u16);

impl FieldId {
    /// The field's definition.
    pub fn def(self) -> &'static FieldDef {
        &CATALOG[self.0 as usize]
    }
}

/// The argument of a resolved field reference.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FieldArg {
    /// No argument.
    None,
    /// A numeric index (`proc.aname[2]`, `evt.arg[1]`).
    Index(u32),
    /// A key (`proc.env[HOME]`, `evt.arg.flags` → `flags`).
    Key(Box<str>),
}

/// A field as used in a condition or output: the field plus its argument.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldRef {
    /// Which field.
    pub id: FieldId,
    /// Its argument.
    pub arg: FieldArg,
}

impl FieldRef {
    /// The field's definition.
    pub fn def(&self) -> &'static FieldDef {
        self.id.def()
    }

    /// The reference written back as text (`proc.aname[2]`, `evt.arg.flags`).
    pub fn text(&self) -> String {
        let d = self.def();
        match (&self.arg, d.arg) {
            (FieldArg::None, _) => d.name.to_string(),
            (FieldArg::Key(k), ArgKind::Param) => format!("{}.{}", d.name, k),
            (FieldArg::Key(k), _) if d.name == "evt.type.is" => format!("{}.{}", d.name, k),
            (FieldArg::Key(k), _) => format!("{}[{}]", d.name, k),
            (FieldArg::Index(i), _) => format!("{}[{}]", d.name, i),
        }
    }
}

/// A value extracted from an event.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// A string (bytes; not necessarily UTF-8). Compared as a C string.
    Str(Cow<'a, [u8]>),
    /// Binary data.
    Bytes(Cow<'a, [u8]>),
    /// A boolean.
    Bool(bool),
    /// A signed integer.
    I64(i64),
    /// An unsigned integer (also ports, times, durations).
    U64(u64),
    /// An IP address.
    Ip(IpAddr),
}

impl<'a> Value<'a> {
    /// A borrowed string value.
    pub fn str(s: &'a [u8]) -> Value<'a> {
        Value::Str(Cow::Borrowed(s))
    }

    /// An owned string value.
    pub fn string(s: impl Into<Vec<u8>>) -> Value<'static> {
        Value::Str(Cow::Owned(s.into()))
    }

    /// The value as bytes if it is a string or binary.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Str(s) | Value::Bytes(s) => Some(s),
            _ => None,
        }
    }

    /// Detaches the value from the event it was extracted from.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(s) => Value::Bytes(Cow::Owned(s.into_owned())),
            Value::Bool(b) => Value::Bool(b),
            Value::I64(v) => Value::I64(v),
            Value::U64(v) => Value::U64(v),
            Value::Ip(a) => Value::Ip(a),
        }
    }
}

/// Extraction of field values from one event.
///
/// Implementations must never panic on missing data: a field that cannot be
/// computed for the event is *missing* (`None`), which makes every
/// comparison on it false (RULES.md §3.3).
pub trait Extract {
    /// The value of `f` for this event, `None` when missing. For
    /// [`flag::ANY_ANCESTOR`] fields without index this is the output
    /// rendering (ancestor names joined by spaces); for
    /// [`flag::EITHER_ENDPOINT`] fields it is `None` (filter only).
    fn extract(&self, f: &FieldRef) -> Option<Value<'_>>;

    /// Every value of a multi-valued field, in order: the ancestors (from
    /// the parent up) of an [`flag::ANY_ANCESTOR`] field without index,
    /// both endpoints of an [`flag::EITHER_ENDPOINT`] field, the elements
    /// of a [`flag::LIST`] field. `visit` returns `true` to stop early.
    /// Returns `false` when the field has no values at all (missing).
    fn extract_each(&self, f: &FieldRef, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool;
}

use ArgKind as A;
use FieldClass as C;
use FieldType as T;

const fn fd(
    name: &'static str,
    ty: FieldType,
    arg: ArgKind,
    flags: u32,
    class: FieldClass,
    desc: &'static str,
) -> FieldDef {
    FieldDef {
        name,
        ty,
        arg,
        flags,
        class,
        desc,
    }
}

const ANC: u32 = flag::ANY_ANCESTOR | flag::NO_TRANSFORMER | flag::NO_RHS;
const EP: u32 = flag::EITHER_ENDPOINT | flag::FILTER_ONLY | flag::NO_TRANSFORMER | flag::NO_RHS;
const NET: u32 = flag::FILTER_ONLY;
const DNS: u32 = flag::DNS_NAME | flag::NO_TRANSFORMER | flag::NO_RHS;

/// Every field kestrel knows. Order is listing order within a class.
pub const CATALOG: &[FieldDef] = &[
    // ---- evt
    fd(
        "evt.num",
        T::Uint64,
        A::None,
        0,
        C::Evt,
        "event number, starting at 1",
    ),
    fd(
        "evt.time",
        T::AbsTime,
        A::None,
        0,
        C::Evt,
        "event timestamp, local time HH:MM:SS.nnnnnnnnn",
    ),
    fd(
        "evt.time.s",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "event timestamp, local time HH:MM:SS",
    ),
    fd(
        "evt.time.iso8601",
        T::AbsTime,
        A::None,
        0,
        C::Evt,
        "event timestamp, UTC, ISO 8601",
    ),
    fd(
        "evt.datetime",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "event timestamp with date, local time",
    ),
    fd(
        "evt.rawtime",
        T::AbsTime,
        A::None,
        0,
        C::Evt,
        "event timestamp, nanoseconds since the epoch",
    ),
    fd(
        "evt.type",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "event type name (open, execve, connect, ...)",
    ),
    fd(
        "syscall.type",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "system call name; same as evt.type for syscall events",
    ),
    fd(
        "evt.category",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "event category (process, file, network, other)",
    ),
    fd(
        "evt.cpu",
        T::Uint32,
        A::None,
        0,
        C::Evt,
        "CPU the event was captured on",
    ),
    fd(
        "evt.dir",
        T::CharBuf,
        A::None,
        flag::DEPRECATED,
        C::Evt,
        "event direction; always < (exit) in kestrel",
    ),
    fd(
        "evt.res",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "SUCCESS or the errno name of a failed call",
    ),
    fd(
        "evt.rawres",
        T::Int64,
        A::None,
        0,
        C::Evt,
        "raw return value",
    ),
    fd(
        "evt.failed",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "true if the call returned an error",
    ),
    fd(
        "evt.is_open_read",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "open family call with read access",
    ),
    fd(
        "evt.is_open_write",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "open family call with write access",
    ),
    fd(
        "evt.is_open_exec",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "open family call creating a file with an execute bit",
    ),
    fd(
        "evt.is_io_uring",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "true if an io_uring request made the call (the process did not make the system call itself); kestrel only",
    ),
    fd(
        "evt.io_uring.op",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "the io_uring request's opcode without IORING_OP_ (OPENAT, CONNECT, ...); missing for system calls; kestrel only",
    ),
    fd(
        "evt.is_io",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "true for events that read or write an fd (read, send, recvfrom, ...)",
    ),
    fd(
        "evt.is_io_read",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "true for events that read from an fd (read, recv, recvfrom, ...)",
    ),
    fd(
        "evt.is_io_write",
        T::Bool,
        A::None,
        0,
        C::Evt,
        "true for events that write to an fd (write, send, ...)",
    ),
    fd(
        "evt.io_dir",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "'read' for events that read from an fd (read, recvfrom, ...), 'write' for events that write to one (write, sendto, ...)",
    ),
    fd(
        "evt.buflen",
        T::Uint64,
        A::None,
        0,
        C::Evt,
        "the byte count a read or write family call returned (its data's length before the snaplen cut); missing when it failed",
    ),
    fd(
        "evt.arg",
        T::CharBuf,
        A::Param,
        0,
        C::Evt,
        "an event parameter by name or position, rendered as text",
    ),
    fd(
        "evt.rawarg",
        T::Int64,
        A::Param,
        flag::NO_TRANSFORMER | flag::NO_RHS,
        C::Evt,
        "an event parameter by name, raw numeric value",
    ),
    fd(
        "evt.args",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "all parameters as name=value pairs",
    ),
    fd(
        "evt.buffer",
        T::ByteBuf,
        A::None,
        0,
        C::Evt,
        "the data of an I/O event",
    ),
    fd(
        "evt.hostname",
        T::CharBuf,
        A::None,
        0,
        C::Evt,
        "host name (FALCO_HOSTNAME or the system host name)",
    ),
    fd(
        "evt.latency",
        T::RelTime,
        A::None,
        flag::DEPRECATED,
        C::Evt,
        "always 0: kestrel captures exits only",
    ),
    // ---- proc
    fd("proc.pid", T::Int64, A::None, 0, C::Process, "process id"),
    fd(
        "proc.tid",
        T::Int64,
        A::None,
        0,
        C::Process,
        "thread id (same as thread.tid)",
    ),
    fd(
        "proc.ppid",
        T::Int64,
        A::None,
        0,
        C::Process,
        "parent process id",
    ),
    fd(
        "proc.vpid",
        T::Int64,
        A::None,
        0,
        C::Process,
        "process id in its own pid namespace",
    ),
    fd(
        "proc.name",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "command name (comm, at most 15 characters)",
    ),
    fd(
        "proc.pname",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "parent's command name",
    ),
    fd(
        "proc.aname",
        T::CharBuf,
        A::OptIndex,
        ANC,
        C::Process,
        "name of an ancestor (index 0 is the process, 1 its parent); without index, any ancestor",
    ),
    fd(
        "proc.exe",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "argv[0] as passed to exec",
    ),
    fd(
        "proc.pexe",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "parent's argv[0]",
    ),
    fd(
        "proc.aexe",
        T::CharBuf,
        A::OptIndex,
        ANC,
        C::Process,
        "argv[0] of an ancestor",
    ),
    fd(
        "proc.exepath",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "full path of the executable",
    ),
    fd(
        "proc.pexepath",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "parent's executable path",
    ),
    fd(
        "proc.aexepath",
        T::CharBuf,
        A::OptIndex,
        ANC,
        C::Process,
        "executable path of an ancestor",
    ),
    fd(
        "proc.args",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "arguments after argv[0], joined by spaces",
    ),
    fd(
        "proc.cmdline",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "command name and arguments",
    ),
    fd(
        "proc.pcmdline",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "parent's command line",
    ),
    fd(
        "proc.acmdline",
        T::CharBuf,
        A::OptIndex,
        ANC,
        C::Process,
        "command line of an ancestor",
    ),
    fd(
        "proc.apid",
        T::Int64,
        A::OptIndex,
        ANC,
        C::Process,
        "pid of an ancestor",
    ),
    fd(
        "proc.cwd",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "current working directory",
    ),
    fd(
        "proc.tty",
        T::Uint32,
        A::None,
        0,
        C::Process,
        "controlling terminal device number, 0 if none",
    ),
    fd("proc.sid", T::Int64, A::None, 0, C::Process, "session id"),
    fd(
        "proc.sname",
        T::CharBuf,
        A::None,
        0,
        C::Process,
        "name of the session leader",
    ),
    fd(
        "proc.vpgid",
        T::Int64,
        A::None,
        0,
        C::Process,
        "process group id in its pid namespace",
    ),
    fd(
        "proc.is_vpgid_leader",
        T::Bool,
        A::None,
        0,
        C::Process,
        "process is its process group's leader",
    ),
    fd(
        "proc.duration",
        T::RelTime,
        A::None,
        0,
        C::Process,
        "nanoseconds since the process started",
    ),
    fd(
        "proc.start_ts",
        T::AbsTime,
        A::None,
        0,
        C::Process,
        "process start time, epoch ns",
    ),
    fd(
        "proc.env",
        T::CharBuf,
        A::OptKey,
        0,
        C::Process,
        "environment; with a key, one variable's value",
    ),
    fd(
        "proc.exe_ino",
        T::Uint64,
        A::None,
        0,
        C::Process,
        "inode of the executable",
    ),
    fd(
        "proc.exe_ino.ctime",
        T::AbsTime,
        A::None,
        0,
        C::Process,
        "executable inode change time, epoch ns",
    ),
    fd(
        "proc.exe_ino.mtime",
        T::AbsTime,
        A::None,
        0,
        C::Process,
        "executable inode modification time, epoch ns",
    ),
    fd(
        "proc.exe_ino.ctime_duration_proc_start",
        T::AbsTime,
        A::None,
        0,
        C::Process,
        "process start time minus executable ctime, ns",
    ),
    fd(
        "proc.is_exe_writable",
        T::Bool,
        A::None,
        0,
        C::Process,
        "executable is writable by the process's user",
    ),
    fd(
        "proc.is_exe_upper_layer",
        T::Bool,
        A::None,
        0,
        C::Process,
        "executable lives in an overlayfs upper layer",
    ),
    fd(
        "proc.is_exe_from_memfd",
        T::Bool,
        A::None,
        0,
        C::Process,
        "executable is a memfd",
    ),
    fd(
        "proc.is_container_healthcheck",
        T::Bool,
        A::None,
        0,
        C::Process,
        "process runs the container's health check (or descends from one): run from outside the container, not under its init",
    ),
    fd(
        "proc.is_container_liveness_probe",
        T::Bool,
        A::None,
        0,
        C::Process,
        "process runs the container's Kubernetes liveness probe (or descends from one)",
    ),
    fd(
        "proc.is_container_readiness_probe",
        T::Bool,
        A::None,
        0,
        C::Process,
        "process runs the container's Kubernetes readiness probe (or descends from one)",
    ),
    // ---- thread
    fd("thread.tid", T::Int64, A::None, 0, C::Thread, "thread id"),
    fd(
        "thread.vtid",
        T::Int64,
        A::None,
        0,
        C::Thread,
        "thread id in its pid namespace",
    ),
    fd(
        "thread.cap_effective",
        T::CharBuf,
        A::None,
        0,
        C::Thread,
        "effective capabilities, CAP_ names",
    ),
    fd(
        "thread.cap_permitted",
        T::CharBuf,
        A::None,
        0,
        C::Thread,
        "permitted capabilities, CAP_ names",
    ),
    fd(
        "thread.cap_inheritable",
        T::CharBuf,
        A::None,
        0,
        C::Thread,
        "inheritable capabilities, CAP_ names",
    ),
    // ---- fd
    fd(
        "fd.num",
        T::Int64,
        A::None,
        0,
        C::Fd,
        "fd number; -1 when a creating call failed",
    ),
    fd(
        "fd.type",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "fd type (file, directory, ipv4, ipv6, unix, ...)",
    ),
    fd(
        "fd.typechar",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "fd type as one character",
    ),
    fd(
        "fd.name",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "file path, or socket tuple cip:cport->sip:sport",
    ),
    fd(
        "fd.nameraw",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "file path exactly as passed",
    ),
    fd(
        "fd.directory",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "directory of the file",
    ),
    fd(
        "fd.filename",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "file name without directory",
    ),
    fd("fd.sockfamily", T::CharBuf, A::None, 0, C::Fd, "ip or unix"),
    fd(
        "fd.l4proto",
        T::CharBuf,
        A::None,
        0,
        C::Fd,
        "tcp, udp, icmp, raw; <NA> for non-IP fds",
    ),
    fd(
        "fd.ip",
        T::IpAddr,
        A::None,
        EP,
        C::Fd,
        "either endpoint's address (filter only)",
    ),
    fd("fd.cip", T::IpAddr, A::None, 0, C::Fd, "client address"),
    fd("fd.sip", T::IpAddr, A::None, 0, C::Fd, "server address"),
    fd("fd.lip", T::IpAddr, A::None, 0, C::Fd, "local address"),
    fd("fd.rip", T::IpAddr, A::None, 0, C::Fd, "remote address"),
    fd(
        "fd.port",
        T::Port,
        A::None,
        EP,
        C::Fd,
        "either endpoint's port (filter only)",
    ),
    fd("fd.cport", T::Port, A::None, 0, C::Fd, "client port"),
    fd("fd.sport", T::Port, A::None, 0, C::Fd, "server port"),
    fd("fd.lport", T::Port, A::None, 0, C::Fd, "local port"),
    fd("fd.rport", T::Port, A::None, 0, C::Fd, "remote port"),
    fd(
        "fd.dip",
        T::IpAddr,
        A::None,
        0,
        C::Fd,
        "destination (remote) address; same as fd.rip",
    ),
    fd(
        "fd.dport",
        T::Port,
        A::None,
        0,
        C::Fd,
        "destination (remote) port; same as fd.rport",
    ),
    fd(
        "fd.proto",
        T::CharBuf,
        A::None,
        EP,
        C::Fd,
        "either endpoint's protocol (filter only)",
    ),
    fd(
        "fd.net",
        T::IpNet,
        A::None,
        EP,
        C::Fd,
        "either endpoint inside a network (filter only)",
    ),
    fd(
        "fd.cnet",
        T::IpNet,
        A::None,
        NET,
        C::Fd,
        "client address inside a network (filter only)",
    ),
    fd(
        "fd.snet",
        T::IpNet,
        A::None,
        NET,
        C::Fd,
        "server address inside a network (filter only)",
    ),
    fd(
        "fd.lnet",
        T::IpNet,
        A::None,
        NET,
        C::Fd,
        "local address inside a network (filter only)",
    ),
    fd(
        "fd.rnet",
        T::IpNet,
        A::None,
        NET,
        C::Fd,
        "remote address inside a network (filter only)",
    ),
    fd(
        "fd.connected",
        T::Bool,
        A::None,
        0,
        C::Fd,
        "socket is connected or connecting",
    ),
    fd(
        "fd.name_changed",
        T::Bool,
        A::None,
        0,
        C::Fd,
        "this event changed the fd's name",
    ),
    fd(
        "fd.cip.name",
        T::CharBuf,
        A::None,
        DNS,
        C::Fd,
        "DNS name of the client address",
    ),
    fd(
        "fd.sip.name",
        T::CharBuf,
        A::None,
        DNS,
        C::Fd,
        "DNS name of the server address",
    ),
    fd(
        "fd.lip.name",
        T::CharBuf,
        A::None,
        DNS,
        C::Fd,
        "DNS name of the local address",
    ),
    fd(
        "fd.rip.name",
        T::CharBuf,
        A::None,
        DNS,
        C::Fd,
        "DNS name of the remote address",
    ),
    // ---- user / group
    fd(
        "user.uid",
        T::Uint32,
        A::None,
        0,
        C::User,
        "effective user id",
    ),
    fd(
        "user.name",
        T::CharBuf,
        A::None,
        0,
        C::User,
        "user name; <NA> if unknown",
    ),
    fd(
        "user.loginuid",
        T::Int64,
        A::None,
        0,
        C::User,
        "audit login uid; -1 if unset",
    ),
    fd(
        "user.loginname",
        T::CharBuf,
        A::None,
        0,
        C::User,
        "name of the login uid",
    ),
    fd(
        "group.gid",
        T::Uint32,
        A::None,
        0,
        C::Group,
        "effective group id",
    ),
    fd(
        "group.name",
        T::CharBuf,
        A::None,
        0,
        C::Group,
        "group name; <NA> if unknown",
    ),
    // ---- container / k8s
    fd(
        "container.id",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "12-character container id, or host",
    ),
    fd(
        "container.full_id",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "full container id, or host",
    ),
    fd(
        "container.name",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "container name; host for host processes",
    ),
    fd(
        "container.image",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "image name with tag",
    ),
    fd(
        "container.image.repository",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "image repository",
    ),
    fd(
        "container.image.tag",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "image tag",
    ),
    fd(
        "container.image.id",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "image id",
    ),
    fd(
        "container.type",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "runtime (docker, containerd, cri-o, podman)",
    ),
    fd(
        "container.image.digest",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "image digest (sha256:...), when the runtime reports one",
    ),
    fd(
        "container.ip",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "the container's (or its pod's) primary IP address",
    ),
    fd(
        "container.privileged",
        T::Bool,
        A::None,
        0,
        C::Container,
        "container runs privileged",
    ),
    fd(
        "container.start_ts",
        T::AbsTime,
        A::None,
        0,
        C::Container,
        "start of the pid namespace's init, epoch ns",
    ),
    fd(
        "container.duration",
        T::RelTime,
        A::None,
        0,
        C::Container,
        "ns since the container's init started, at the event's time",
    ),
    fd(
        "container.labels",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "all container labels as key:value, comma separated",
    ),
    fd(
        "container.mounts",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "mounts as source:dest:mode:rdrw:propagation, comma separated",
    ),
    fd(
        "container.mount",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "source:dest:mode:rdrw:propagation of the mount at an index, or of the first whose source matches the key (a regex)",
    ),
    fd(
        "container.mount.dest",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "destination of the mount at an index, or of the first whose source matches the key (a regex)",
    ),
    fd(
        "container.mount.source",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "source of the mount at an index, or of the first whose destination matches the key (a regex)",
    ),
    fd(
        "container.mount.mode",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "mode string (Docker's; empty for CRI) of the mount at an index, or of the first whose source matches the key",
    ),
    fd(
        "container.mount.rdwr",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "true or false: the mount at an index, or the first whose source matches the key, is read-write",
    ),
    fd(
        "container.mount.propagation",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "propagation of the mount at an index, or of the first whose source matches the key",
    ),
    fd(
        "container.healthcheck",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "command line of the Docker/podman health check, or NONE (deprecated in Falco's container plugin 0.7, which extracts nothing)",
    ),
    fd(
        "container.liveness_probe",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "command line of the Kubernetes exec liveness probe (from the pod's last-applied configuration), or NONE",
    ),
    fd(
        "container.readiness_probe",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "command line of the Kubernetes exec readiness probe (from the pod's last-applied configuration), or NONE",
    ),
    fd(
        "container.host_pid",
        T::Bool,
        A::None,
        0,
        C::Container,
        "container runs in the host's PID namespace",
    ),
    fd(
        "container.host_network",
        T::Bool,
        A::None,
        0,
        C::Container,
        "container runs in the host's network namespace",
    ),
    fd(
        "container.host_ipc",
        T::Bool,
        A::None,
        0,
        C::Container,
        "container runs in the host's IPC namespace",
    ),
    fd(
        "container.cni.json",
        T::CharBuf,
        A::None,
        0,
        C::Container,
        "the pod's CNI result (interfaces and addresses) as JSON, CRI only; empty otherwise",
    ),
    fd(
        "container.label",
        T::CharBuf,
        A::Key,
        0,
        C::Container,
        "a container label",
    ),
    fd(
        "k8s.ns.name",
        T::CharBuf,
        A::None,
        0,
        C::K8s,
        "pod namespace",
    ),
    fd("k8s.pod.name", T::CharBuf, A::None, 0, C::K8s, "pod name"),
    fd("k8s.pod.uid", T::CharBuf, A::None, 0, C::K8s, "pod uid"),
    fd(
        "k8s.pod.id",
        T::CharBuf,
        A::None,
        flag::DEPRECATED,
        C::K8s,
        "pod uid (the older name of k8s.pod.uid)",
    ),
    fd(
        "k8s.pod.sandbox_id",
        T::CharBuf,
        A::None,
        0,
        C::K8s,
        "12-character id of the pod's sandbox",
    ),
    fd(
        "k8s.pod.full_sandbox_id",
        T::CharBuf,
        A::None,
        0,
        C::K8s,
        "full id of the pod's sandbox",
    ),
    fd(
        "k8s.pod.label",
        T::CharBuf,
        A::Key,
        0,
        C::K8s,
        "a pod label, from the CRI sandbox",
    ),
    fd(
        "k8s.pod.labels",
        T::CharBuf,
        A::None,
        0,
        C::K8s,
        "all pod labels as key:value, comma separated",
    ),
    fd(
        "k8s.pod.ip",
        T::CharBuf,
        A::None,
        0,
        C::K8s,
        "pod IP address",
    ),
    fd(
        "k8s.pod.cni.json",
        T::CharBuf,
        A::None,
        0,
        C::K8s,
        "the pod's CNI result as JSON (as container.cni.json)",
    ),
    // ---- evt (Falco 0.44 catalogue completion)
    fd("evt.datetime.s", T::CharBuf, A::None, 0, C::Evt, "event timestamp with date, local time, without nanoseconds"),
    fd("evt.rawtime.s", T::AbsTime, A::None, 0, C::Evt, "integer part of the event timestamp (seconds since the epoch)"),
    fd("evt.rawtime.ns", T::AbsTime, A::None, 0, C::Evt, "fractional part of the event timestamp (nanoseconds)"),
    fd("evt.reltime", T::RelTime, A::None, 0, C::Evt, "nanoseconds since the capture started (since the daemon set up its context; missing when replaying)"),
    fd("evt.reltime.s", T::RelTime, A::None, 0, C::Evt, "integer part of evt.reltime (seconds)"),
    fd("evt.reltime.ns", T::RelTime, A::None, 0, C::Evt, "fractional part of evt.reltime (nanoseconds)"),
    fd("evt.source", T::CharBuf, A::None, 0, C::Evt, "event source: always syscall"),
    fd("evt.is_async", T::Bool, A::None, 0, C::Evt, "event is an asynchronous (plugin or meta) event: always false, kestrel's events are all syscalls"),
    fd("evt.asynctype", T::CharBuf, A::None, 0, C::Evt, "type of an asynchronous event; missing for syscall events"),
    fd("evt.outputtime", T::CharBuf, A::None, 0, C::Evt, "event timestamp as rendered by the output time format (as evt.time)"),
    fd("evt.type.is", T::Uint32, A::Key, flag::NO_RHS, C::Evt, "evt.type.is.<type>: 1 for events of that type, 0 for others"),
    fd("evt.info", T::CharBuf, A::None, 0, C::Evt, "for syscall events, the parameters as evt.args shows them"),
    fd("evt.count", T::Uint32, A::None, 0, C::Evt, "1 for every event (for aggregations)"),
    fd("evt.count.error", T::Uint32, A::None, 0, C::Evt, "1 for events that returned an error, else 0; missing for events without a return value"),
    fd("evt.count.error.file", T::Uint32, A::None, 0, C::Evt, "as evt.count.error, for events on a file or directory fd (or a failed open); missing for others"),
    fd("evt.count.error.net", T::Uint32, A::None, 0, C::Evt, "as evt.count.error, for events on a socket (or a failed accept or connect); missing for others"),
    fd("evt.count.error.memory", T::Uint32, A::None, 0, C::Evt, "as evt.count.error, for memory events (none is captured: always missing)"),
    fd("evt.count.error.other", T::Uint32, A::None, 0, C::Evt, "as evt.count.error, for events that are neither file, network nor memory ones; missing for those"),
    fd("evt.count.exit", T::Uint32, A::None, 0, C::Evt, "1 for exit events: every kestrel event"),
    fd("evt.abspath", T::CharBuf, A::None, 0, C::Evt, "absolute path from dirfd and name (openat, mkdirat, unlinkat, fchmodat, fchownat, symlinkat; the source of renameat and linkat)"),
    fd("evt.abspath.src", T::CharBuf, A::None, 0, C::Evt, "absolute source path from olddirfd and oldpath (renameat, renameat2, linkat); as evt.abspath for other events"),
    fd("evt.abspath.dst", T::CharBuf, A::None, 0, C::Evt, "absolute destination path from newdirfd and newpath (renameat, renameat2, linkat)"),
    fd("evt.is_wait", T::Bool, A::None, 0, C::Evt, "the call waits (Falco's EF_WAITS events: epoll_wait, poll, ppoll, select, nanosleep)"),
    fd("evt.is_syslog", T::Bool, A::None, 0, C::Evt, "a write-family call (write, send, sendto, sendmsg, ...) to an fd whose name contains /dev/log"),
    fd("evt.latency.s", T::RelTime, A::None, flag::DEPRECATED, C::Evt, "always 0: kestrel captures exits only"),
    fd("evt.latency.ns", T::RelTime, A::None, flag::DEPRECATED, C::Evt, "always 0: kestrel captures exits only"),
    fd("evt.latency.human", T::CharBuf, A::None, flag::DEPRECATED, C::Evt, "always 0ns: kestrel captures exits only"),
    // ---- proc / thread (Falco 0.44 catalogue completion)
    fd("proc.aargs", T::CharBuf, A::OptIndex, ANC, C::Process, "arguments of an ancestor (index 0 is the process); without index, any ancestor"),
    fd("proc.aenv", T::CharBuf, A::OptKey, ANC, C::Process, "environment of an ancestor: [N] the Nth (0 is the process, as without argument), [NAME] the first non-empty value of NAME from the parent up (20 levels); in conditions without argument, any ancestor's environment"),
    fd("proc.cmdnargs", T::Uint64, A::None, 0, C::Process, "number of command line arguments (argv[1..])"),
    fd("proc.cmdlenargs", T::Uint64, A::None, 0, C::Process, "total length of the command line arguments, without separators"),
    fd("proc.exeline", T::CharBuf, A::None, 0, C::Process, "argv[0] (proc.exe) followed by the arguments"),
    fd("proc.loginshellid", T::Int64, A::None, 0, C::Process, "pid of the oldest shell among the process and its ancestors"),
    fd("proc.pvpid", T::Int64, A::None, 0, C::Process, "parent's pid in its pid namespace"),
    fd("proc.sid.exe", T::CharBuf, A::None, 0, C::Process, "argv[0] of the session leader"),
    fd("proc.sid.exepath", T::CharBuf, A::None, 0, C::Process, "executable path of the session leader"),
    fd("proc.vpgid.name", T::CharBuf, A::None, 0, C::Process, "command name of the process group leader"),
    fd("proc.vpgid.exe", T::CharBuf, A::None, 0, C::Process, "argv[0] of the process group leader"),
    fd("proc.vpgid.exepath", T::CharBuf, A::None, 0, C::Process, "executable path of the process group leader"),
    fd("proc.pgid", T::Int64, A::None, 0, C::Process, "process group id (host pid namespace)"),
    fd("proc.pgid.name", T::CharBuf, A::None, 0, C::Process, "command name of the process group leader"),
    fd("proc.pgid.exe", T::CharBuf, A::None, 0, C::Process, "argv[0] of the process group leader"),
    fd("proc.pgid.exepath", T::CharBuf, A::None, 0, C::Process, "executable path of the process group leader"),
    fd("proc.ppid.duration", T::RelTime, A::None, 0, C::Process, "nanoseconds since the parent started"),
    fd("proc.pid.ts", T::RelTime, A::None, 0, C::Process, "process start time, epoch ns"),
    fd("proc.ppid.ts", T::RelTime, A::None, 0, C::Process, "parent's start time, epoch ns"),
    fd("proc.is_sid_leader", T::Bool, A::None, 0, C::Process, "process is its session's leader"),
    fd("proc.is_pgid_leader", T::Bool, A::None, 0, C::Process, "process is its process group's leader (host pid namespace)"),
    fd("proc.exe_ino.ctime_duration_pidns_start", T::AbsTime, A::None, 0, C::Process, "start of the pid namespace's init minus executable ctime, ns"),
    fd("proc.is_exe_lower_layer", T::Bool, A::None, 0, C::Process, "executable lives in an overlayfs lower layer"),
    fd("proc.pidns_init_start_ts", T::Uint64, A::None, 0, C::Process, "start time of the pid namespace's init, epoch ns"),
    fd("thread.ismain", T::Bool, A::None, 0, C::Thread, "the thread is the process's main thread"),
    // ---- user (Falco 0.44 catalogue completion)
    fd("user.homedir", T::CharBuf, A::None, 0, C::User, "home directory of the effective user, from passwd (the container's for container processes)"),
    fd("user.shell", T::CharBuf, A::None, 0, C::User, "login shell of the effective user, from passwd"),
    // ---- fd (Falco 0.44 catalogue completion)
    fd("fd.is_server", T::Bool, A::None, 0, C::Fd, "the process is the server end of the socket"),
    fd("fd.uid", T::CharBuf, A::None, 0, C::Fd, "the thread id followed by the event's fd number, as one string; missing for events without an fd"),
    fd("fd.containername", T::CharBuf, A::None, 0, C::Fd, "container id:fd.name (the id is empty on the host, as in Falco's thread table)"),
    fd("fd.containerdirectory", T::CharBuf, A::None, 0, C::Fd, "container id:fd.directory (the id is empty on the host)"),
    fd("fd.cproto", T::CharBuf, A::None, 0, C::Fd, "service name of the client port (/etc/services)"),
    fd("fd.sproto", T::CharBuf, A::None, 0, C::Fd, "service name of the server port"),
    fd("fd.lproto", T::CharBuf, A::None, 0, C::Fd, "service name of the local port"),
    fd("fd.rproto", T::CharBuf, A::None, 0, C::Fd, "service name of the remote port"),
    // ---- fs.path (Falco 0.44 catalogue completion)
    fd("fs.path.name", T::CharBuf, A::None, 0, C::FsPath, "the path a successful single-path call acted on (mkdir, rmdir, unlink, open, chmod, chown, umount, ...), made absolute"),
    fd("fs.path.nameraw", T::CharBuf, A::None, 0, C::FsPath, "that path as passed"),
    fd("fs.path.source", T::CharBuf, A::None, 0, C::FsPath, "the source path of a successful rename, link, symlink or mount, made absolute"),
    fd("fs.path.sourceraw", T::CharBuf, A::None, 0, C::FsPath, "the source path as passed"),
    fd("fs.path.target", T::CharBuf, A::None, 0, C::FsPath, "the target path of a successful rename, link, symlink or mount, made absolute"),
    fd("fs.path.targetraw", T::CharBuf, A::None, 0, C::FsPath, "the target path as passed"),
    // ---- k8s (deprecated in the container plugin 0.7, which extracts nothing for them)
    fd("k8s.rc.name", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing: deprecated, Falco's container plugin 0.7 extracts nothing (use the k8smeta plugin)"),
    fd("k8s.rc.id", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.rc.label", T::CharBuf, A::Key, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.rc.labels", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.svc.name", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.svc.id", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.svc.label", T::CharBuf, A::Key, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.svc.labels", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.ns.id", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.ns.label", T::CharBuf, A::Key, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.ns.labels", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.rs.name", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.rs.id", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.rs.label", T::CharBuf, A::Key, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.rs.labels", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.deployment.name", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.deployment.id", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.deployment.label", T::CharBuf, A::Key, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
    fd("k8s.deployment.labels", T::CharBuf, A::None, flag::DEPRECATED, C::K8s, "always missing (deprecated, as k8s.rc.name)"),
];

/// Catalogue names Falco 0.44 does not have (neither libs 0.25's
/// filterchecks nor the container plugin 0.7), each with Falco's own name
/// for the same value. Rules meant to load in Falco too, kestrel's
/// default rules among them, must not use them.
pub const NOT_IN_FALCO: &[(&str, &str)] = &[
    ("fd.dip", "fd.rip"),
    ("fd.dport", "fd.rport"),
    ("proc.tid", "thread.tid"),
    ("proc.start_ts", "proc.pid.ts"),
    // io_uring requests: Falco (without its KRSI plugin) does not see them
    // at all, so nothing of its own names them.
    ("evt.is_io_uring", ""),
    ("evt.io_uring.op", ""),
];

/// Falco 0.44 fields kestrel does not provide, each with the reason. A
/// rule that names one fails to load with this reason, `fields list`
/// shows them under "Unavailable", and the catalogue test
/// (`tests/falco_catalog.rs`) accepts a Falco field kestrel lacks only
/// when it is listed here.
pub const UNAVAILABLE: &[(&str, &str)] = &[
    ("evt.deltatime", "not available: needs the previous event in capture order; kestrel's workers process each CPU's events in parallel, with no global previous event"),
    ("evt.deltatime.s", "not available: as evt.deltatime"),
    ("evt.deltatime.ns", "not available: as evt.deltatime"),
    ("evt.pluginname", "not available: plugin events only; kestrel loads no plugins"),
    ("evt.plugininfo", "not available: plugin events only; kestrel loads no plugins"),
    ("evt.around", "not available: works on capture files only (sysdig -r); kestrel reads no capture files"),
    ("evt.is_open_create", "not captured: the probe does not report whether the open created the file (the kernel's FMODE_CREATED)"),
    ("evt.wait_latency", "event not captured: needs the enter event of waiting syscalls; kestrel captures exits only (deprecated in Falco)"),
    ("proc.fdopencount", "not captured: kestrel keeps no per-process fd table"),
    ("proc.fdlimit", "not captured: the probe does not read RLIMIT_NOFILE"),
    ("proc.fdusage", "not captured: needs proc.fdopencount and proc.fdlimit"),
    ("proc.vmsize", "not captured: the probe does not read the task's memory counters"),
    ("proc.vmrss", "not captured: the probe does not read the task's memory counters"),
    ("proc.vmswap", "not captured: the probe does not read the task's memory counters"),
    ("thread.vmsize", "not captured: the probe does not read the task's memory counters"),
    ("thread.vmrss", "not captured: the probe does not read the task's memory counters"),
    ("thread.pfmajor", "not captured: the probe does not read the task's page-fault counters"),
    ("thread.pfminor", "not captured: the probe does not read the task's page-fault counters"),
    ("thread.exectime", "event not captured: needs context-switch events"),
    ("thread.totexectime", "event not captured: needs context-switch events"),
    ("thread.cpu", "not captured: the probe does not read the task's CPU times"),
    ("thread.cpu.user", "not captured: the probe does not read the task's CPU times"),
    ("thread.cpu.system", "not captured: the probe does not read the task's CPU times"),
    ("thread.cgroups", "not kept: the process table keeps the container derived from the cgroup paths, not the paths"),
    ("thread.cgroup", "not kept: the process table keeps the container derived from the cgroup paths, not the paths"),
    ("proc.nthreads", "not tracked: the process table holds processes, not threads"),
    ("proc.nchilds", "not tracked: the process table keeps no child counts"),
    ("proc.stdin.type", "not captured: kestrel keeps no per-process fd table, so fds 0-2 are unknown"),
    ("proc.stdout.type", "not captured: kestrel keeps no per-process fd table, so fds 0-2 are unknown"),
    ("proc.stderr.type", "not captured: kestrel keeps no per-process fd table, so fds 0-2 are unknown"),
    ("proc.stdin.name", "not captured: kestrel keeps no per-process fd table, so fds 0-2 are unknown"),
    ("proc.stdout.name", "not captured: kestrel keeps no per-process fd table, so fds 0-2 are unknown"),
    ("proc.stderr.name", "not captured: kestrel keeps no per-process fd table, so fds 0-2 are unknown"),
    ("fd.types", "not captured: fd.types lists the types of all the process's open fds, and kestrel keeps no per-process fd table"),
    ("fd.dev", "not captured: the probe's fd description carries no device number"),
    ("fd.dev.major", "not captured: the probe's fd description carries no device number"),
    ("fd.dev.minor", "not captured: the probe's fd description carries no device number"),
    ("fd.ino", "not captured: the probe's fd description carries no inode number"),
    ("fd.is_upper_layer", "not captured: the probe's fd description carries no overlayfs layer"),
    ("fd.is_lower_layer", "not captured: the probe's fd description carries no overlayfs layer"),
    ("util.cnt", "not implemented: a counter for sysdig's table views, meaningless in rules"),
    ("fdlist.nums", "not captured: kestrel's poll and ppoll events do not carry the fd list"),
    ("fdlist.names", "not captured: kestrel's poll and ppoll events do not carry the fd list"),
    ("fdlist.cips", "not captured: kestrel's poll and ppoll events do not carry the fd list"),
    ("fdlist.sips", "not captured: kestrel's poll and ppoll events do not carry the fd list"),
    ("fdlist.cports", "not captured: kestrel's poll and ppoll events do not carry the fd list"),
    ("fdlist.sports", "not captured: kestrel's poll and ppoll events do not carry the fd list"),
];

/// Catalogue names that Falco parses as a form of another field rather
/// than list as fields: (kestrel name, Falco field).
pub const FALCO_FORMS: &[(&str, &str)] = &[
    ("evt.abspath.src", "evt.abspath"),
    ("evt.abspath.dst", "evt.abspath"),
];

/// Fields whose type differs from Falco's: (name, Falco's type, why).
pub const TYPE_DIFFERS: &[(&str, &str, &str)] = &[
    ("evt.time", "CHARBUF", "kept as a timestamp so that it compares as a number; rendered as Falco's text"),
    ("evt.time.iso8601", "CHARBUF", "kept as a timestamp so that it compares as a number; rendered as Falco's text"),
    ("evt.cpu", "INT16", "CPU numbers are never negative; same values and rendering"),
    ("evt.rawarg", "DYN", "Falco's type follows the parameter; kestrel's numeric parameters are 64-bit, strings stay strings"),
    ("proc.exe_ino", "INT64", "inode numbers are unsigned 64-bit in the kernel; same rendering"),
    ("fd.proto", "PORT", "compared with service names (/etc/services), as Falco's own description says"),
];

/// The reason a Falco field is unavailable, if it is.
pub fn unavailable(name: &str) -> Option<&'static str> {
    UNAVAILABLE
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, r)| *r)
}

/// Looks a field up by exact name (no argument).
pub fn by_name(name: &str) -> Option<FieldId> {
    CATALOG
        .iter()
        .position(|f| f.name == name)
        .map(|i| FieldId(i as u16))
}

/// Why a field reference does not resolve.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No field has this name.
    #[error("unknown field '{0}'")]
    Unknown(String),
    /// A Falco field kestrel does not provide ([`UNAVAILABLE`]).
    #[error("field '{name}' is not available in kestrel: {reason}")]
    Unavailable {
        /// Field name.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The field takes no argument but one was given.
    #[error("field '{0}' does not take an argument")]
    UnexpectedArg(String),
    /// The field needs an argument.
    #[error("field '{0}' requires an argument")]
    MissingArg(String),
    /// The argument is not a valid index.
    #[error("field '{field}': invalid index '{arg}'")]
    BadIndex {
        /// Field name.
        field: String,
        /// The argument text.
        arg: String,
    },
    /// `evt.arg.<name>` names a parameter no event has.
    #[error("unknown event argument '{0}'")]
    UnknownParam(String),
}

/// Resolves a field as written: `name` is the dotted name (which for
/// `evt.arg.flags` includes the parameter), `arg` the bracket contents.
pub fn resolve(name: &str, arg: Option<&str>) -> Result<FieldRef, ResolveError> {
    if let Some(id) = by_name(name) {
        let def = id.def();
        let arg = match (def.arg, arg) {
            (A::None, None) => FieldArg::None,
            (A::None, Some(_)) => return Err(ResolveError::UnexpectedArg(name.into())),
            (A::OptIndex, None) | (A::OptKey, None) => FieldArg::None,
            (A::OptIndex, Some(a)) => {
                FieldArg::Index(a.trim().parse().map_err(|_| ResolveError::BadIndex {
                    field: name.into(),
                    arg: a.into(),
                })?)
            }
            (A::Key, None) | (A::Param, None) => return Err(ResolveError::MissingArg(name.into())),
            (A::Key, Some(a)) | (A::OptKey, Some(a)) => FieldArg::Key(a.into()),
            (A::Param, Some(a)) => match a.parse::<u32>() {
                Ok(i) => FieldArg::Index(i),
                Err(_) => param_arg(a)?,
            },
        };
        return Ok(FieldRef { id, arg });
    }
    // evt.type.is.<type>
    if let Some(ty) = name.strip_prefix("evt.type.is.") {
        if arg.is_some() {
            return Err(ResolveError::UnexpectedArg(name.into()));
        }
        if ty.is_empty() {
            return Err(ResolveError::MissingArg("evt.type.is".into()));
        }
        let id = by_name("evt.type.is").expect("evt.type.is in catalog");
        return Ok(FieldRef {
            id,
            arg: FieldArg::Key(ty.into()),
        });
    }
    // evt.arg.<param> / evt.rawarg.<param>
    for prefix in ["evt.arg.", "evt.rawarg."] {
        if let Some(param) = name.strip_prefix(prefix) {
            if arg.is_some() {
                return Err(ResolveError::UnexpectedArg(name.into()));
            }
            let id = by_name(&prefix[..prefix.len() - 1]).expect("evt.arg in catalog");
            return Ok(FieldRef {
                id,
                arg: param_arg(param)?,
            });
        }
    }
    if let Some(reason) = unavailable(name) {
        return Err(ResolveError::Unavailable {
            name: name.into(),
            reason,
        });
    }
    Err(ResolveError::Unknown(name.into()))
}

fn param_arg(param: &str) -> Result<FieldArg, ResolveError> {
    let known = crate::event::EVENTS
        .iter()
        .flat_map(|e| e.params.iter())
        .any(|p| p.name == param)
        || matches!(param, "res" | "fd" | "exe" | "args" | "res_or_fd");
    if known {
        Ok(FieldArg::Key(param.into()))
    } else {
        Err(ResolveError::UnknownParam(param.into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = CATALOG.iter().map(|f| f.name).collect();
        names.sort_unstable();
        let n = names.len();
        names.dedup();
        assert_eq!(n, names.len());
    }

    #[test]
    fn resolve_forms() {
        let r = resolve("proc.aname", Some("2")).unwrap();
        assert_eq!(r.text(), "proc.aname[2]");
        let r = resolve("evt.arg.flags", None).unwrap();
        assert_eq!(r.text(), "evt.arg.flags");
        assert_eq!(
            resolve("evt.arg", Some("flags")).unwrap().arg,
            FieldArg::Key("flags".into())
        );
        assert!(matches!(
            resolve("evt.arg.nosuch", None),
            Err(ResolveError::UnknownParam(_))
        ));
        assert!(matches!(
            resolve("proc.nosuch", None),
            Err(ResolveError::Unknown(_))
        ));
        assert!(matches!(
            resolve("proc.name", Some("1")),
            Err(ResolveError::UnexpectedArg(_))
        ));
        assert!(matches!(
            resolve("proc.aname", Some("x")),
            Err(ResolveError::BadIndex { .. })
        ));
        let r = resolve("container.mount.dest", Some("/proc*")).unwrap();
        assert_eq!(r.text(), "container.mount.dest[/proc*]");
    }

    #[test]
    fn the_names_falco_lacks_are_in_the_catalogue() {
        for (name, falco) in NOT_IN_FALCO {
            assert!(by_name(name).is_some(), "{name} is not in the catalogue");
            assert!(by_name(falco).is_none() || by_name(falco) != by_name(name));
        }
    }

    #[test]
    fn every_field_the_reference_files_use_resolves() {
        for (name, arg) in [
            ("proc.aexepath", Some("2")),
            ("proc.exe_ino.ctime_duration_proc_start", None),
            ("fd.sip.name", None),
            ("evt.arg.request", None),
            ("evt.arg.linkpath", None),
            ("evt.arg.cmd", None),
            ("evt.arg.uid", None),
            ("k8s.ns.name", None),
        ] {
            resolve(name, arg).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
