//! Field extraction for kernel events plus process state: [`LiveEvent`].
//!
//! A `LiveEvent` is a decoded wire record ([`RawEvent`]) together with the
//! process-table entry and image it is attributed to (resolved once, in
//! [`LiveEvent::new`]) and the [`Context`] (users, containers, host name,
//! clock). Every field of the catalogue is extracted here with RULES.md §7
//! semantics; the fd of an event is described lazily, once, on first use.
//!
//! Where kestrel knows more than Falco's thread table would: fields that
//! come from the event header (`proc.pid`, `proc.name`, `thread.tid`,
//! `user.uid`, capabilities, ...) are present even when the process is not
//! in the table; fields that need the table (`proc.exe`, `proc.cwd`,
//! `container.id`, ...) are missing then (§7: "missing without thread").
//! Image fields are also missing when the table is behind the event's exec
//! generation (see [`Attribution`]): an event is never attributed to the
//! image its process had before an exec it went through.
//!
//! Extraction never panics on malformed records: a parameter that is
//! absent, short or unparsable makes the fields built from it missing.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, OnceLock};

use super::{flag, FieldArg, FieldRef, Value, CATALOG};
use crate::event::flags;
use crate::event::table::{exec, FdUse, IoDir, ParamKind, RetKind};
use crate::event::wire::{af, FdInfo, SockTuple};
use crate::event::{EventType, RawEvent};
use crate::state::container::{ContainerInfo, ContainerRef, Mount, ProbeKind};
use crate::state::paths;
use crate::state::process::{
    is_exec_success, split_list, Attribution, GenSel, Generation, Image, Lookup, ProcCache, Process,
};
use crate::state::sockets::{has_peer, Role, IPPROTO_TCP, IPPROTO_UDP};
use crate::state::users::name_or_na;
use crate::state::{Context, ProcessTable};

/// `AT_FDCWD`.
const AT_FDCWD: i64 = -100;
/// `-EINPROGRESS`.
const EINPROGRESS: i64 = -115;

/// Every field the catalogue defines, as a dispatch tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum F {
    EvtNum,
    EvtTime,
    EvtTimeS,
    EvtTimeIso,
    EvtDatetime,
    EvtRawtime,
    EvtType,
    SyscallType,
    EvtCategory,
    EvtCpu,
    EvtDir,
    EvtRes,
    EvtRawres,
    EvtFailed,
    EvtIsOpenRead,
    EvtIsOpenWrite,
    EvtIsOpenExec,
    EvtIsIoUring,
    EvtIoUringOp,
    EvtIsIo,
    EvtIsIoRead,
    EvtIsIoWrite,
    EvtIoDir,
    EvtBuflen,
    EvtArg,
    EvtRawarg,
    EvtArgs,
    EvtBuffer,
    EvtHostname,
    EvtLatency,
    ProcPid,
    ProcPpid,
    ProcVpid,
    ProcName,
    ProcPname,
    ProcAname,
    ProcExe,
    ProcPexe,
    ProcAexe,
    ProcExepath,
    ProcPexepath,
    ProcAexepath,
    ProcArgs,
    ProcCmdline,
    ProcPcmdline,
    ProcAcmdline,
    ProcApid,
    ProcCwd,
    ProcTty,
    ProcSid,
    ProcSname,
    ProcVpgid,
    ProcIsVpgidLeader,
    ProcDuration,
    ProcStartTs,
    ProcEnv,
    ProcExeIno,
    ProcExeInoCtime,
    ProcExeInoMtime,
    ProcExeInoCtimeDur,
    ProcIsExeWritable,
    ProcIsExeUpperLayer,
    ProcIsExeFromMemfd,
    ProcIsHealthcheck,
    ProcIsLivenessProbe,
    ProcIsReadinessProbe,
    ThreadTid,
    ThreadVtid,
    ThreadCapEffective,
    ThreadCapPermitted,
    ThreadCapInheritable,
    FdNum,
    FdType,
    FdTypechar,
    FdName,
    FdNameraw,
    FdDirectory,
    FdFilename,
    FdSockfamily,
    FdL4proto,
    FdIp,
    FdCip,
    FdSip,
    FdLip,
    FdRip,
    FdPort,
    FdCport,
    FdSport,
    FdLport,
    FdRport,
    FdProto,
    FdNet,
    FdCnet,
    FdSnet,
    FdLnet,
    FdRnet,
    FdConnected,
    FdNameChanged,
    FdDnsName,
    UserUid,
    UserName,
    UserLoginuid,
    UserLoginname,
    GroupGid,
    GroupName,
    ContainerId,
    ContainerFullId,
    ContainerName,
    ContainerImage,
    ContainerImageRepository,
    ContainerImageTag,
    ContainerImageId,
    ContainerType,
    ContainerPrivileged,
    ContainerStartTs,
    ContainerMounts,
    ContainerMount,
    ContainerMountDest,
    ContainerMountSource,
    ContainerMountMode,
    ContainerMountRdwr,
    ContainerMountPropagation,
    ContainerHealthcheck,
    ContainerLivenessProbe,
    ContainerReadinessProbe,
    ContainerHostPid,
    ContainerHostNetwork,
    ContainerHostIpc,
    ContainerCniJson,
    ContainerLabels,
    ContainerDuration,
    K8sPodId,
    K8sPodCniJson,
    ContainerLabel,
    K8sNsName,
    K8sPodName,
    K8sPodUid,
    K8sPodSandboxId,
    K8sPodFullSandboxId,
    K8sPodLabel,
    K8sPodLabels,
    K8sPodIp,
    ContainerImageDigest,
    ContainerIp,
    EvtDatetimeS,
    EvtRawtimeS,
    EvtRawtimeNs,
    EvtSource,
    EvtIsAsync,
    EvtAsynctype,
    EvtOutputtime,
    EvtTypeIs,
    EvtInfo,
    EvtCount,
    EvtCountError,
    EvtCountErrorFile,
    EvtCountErrorNet,
    EvtCountErrorMemory,
    EvtCountErrorOther,
    EvtCountExit,
    EvtAbspath,
    EvtAbspathSrc,
    EvtAbspathDst,
    EvtLatencyHuman,
    EvtIsWait,
    EvtIsSyslog,
    EvtReltime,
    EvtReltimeS,
    EvtReltimeNs,
    ProcAargs,
    ProcAenv,
    ProcCmdnargs,
    ProcCmdlenargs,
    ProcExeline,
    ProcLoginshellid,
    ProcPvpid,
    ProcSidExe,
    ProcSidExepath,
    ProcPgidName,
    ProcPgidExe,
    ProcPgidExepath,
    ProcPgid,
    ProcPpidDuration,
    ProcPidTs,
    ProcPpidTs,
    ProcIsSidLeader,
    ProcIsPgidLeader,
    ProcIsExeLowerLayer,
    ProcExeInoCtimeDurPidns,
    ProcPidnsInitStartTs,
    ThreadIsmain,
    UserHomedir,
    UserShell,
    FdIsServer,
    FdUid,
    FdContainername,
    FdContainerdirectory,
    FdCproto,
    FdSproto,
    FdLproto,
    FdRproto,
    FsPathName,
    FsPathNameraw,
    FsPathSource,
    FsPathSourceraw,
    FsPathTarget,
    FsPathTargetraw,
    K8sDeprecated,
    Unknown,
}

fn tag_of(name: &str) -> F {
    match name {
        "evt.num" => F::EvtNum,
        "evt.time" => F::EvtTime,
        "evt.time.s" => F::EvtTimeS,
        "evt.time.iso8601" => F::EvtTimeIso,
        "evt.datetime" => F::EvtDatetime,
        "evt.rawtime" => F::EvtRawtime,
        "evt.type" => F::EvtType,
        "syscall.type" => F::SyscallType,
        "evt.category" => F::EvtCategory,
        "evt.cpu" => F::EvtCpu,
        "evt.dir" => F::EvtDir,
        "evt.res" => F::EvtRes,
        "evt.rawres" => F::EvtRawres,
        "evt.failed" => F::EvtFailed,
        "evt.is_open_read" => F::EvtIsOpenRead,
        "evt.is_open_write" => F::EvtIsOpenWrite,
        "evt.is_open_exec" => F::EvtIsOpenExec,
        "evt.is_io_uring" => F::EvtIsIoUring,
        "evt.io_uring.op" => F::EvtIoUringOp,
        "evt.is_io" => F::EvtIsIo,
        "evt.is_io_read" => F::EvtIsIoRead,
        "evt.is_io_write" => F::EvtIsIoWrite,
        "evt.io_dir" => F::EvtIoDir,
        "evt.buflen" => F::EvtBuflen,
        "evt.arg" => F::EvtArg,
        "evt.rawarg" => F::EvtRawarg,
        "evt.args" => F::EvtArgs,
        "evt.buffer" => F::EvtBuffer,
        "evt.hostname" => F::EvtHostname,
        "evt.latency" => F::EvtLatency,
        "proc.pid" => F::ProcPid,
        "proc.ppid" => F::ProcPpid,
        "proc.vpid" => F::ProcVpid,
        "proc.name" => F::ProcName,
        "proc.pname" => F::ProcPname,
        "proc.aname" => F::ProcAname,
        "proc.exe" => F::ProcExe,
        "proc.pexe" => F::ProcPexe,
        "proc.aexe" => F::ProcAexe,
        "proc.exepath" => F::ProcExepath,
        "proc.pexepath" => F::ProcPexepath,
        "proc.aexepath" => F::ProcAexepath,
        "proc.args" => F::ProcArgs,
        "proc.cmdline" => F::ProcCmdline,
        "proc.pcmdline" => F::ProcPcmdline,
        "proc.acmdline" => F::ProcAcmdline,
        "proc.apid" => F::ProcApid,
        "proc.cwd" => F::ProcCwd,
        "proc.tty" => F::ProcTty,
        "proc.sid" => F::ProcSid,
        "proc.sname" => F::ProcSname,
        "proc.vpgid" => F::ProcVpgid,
        "proc.is_vpgid_leader" => F::ProcIsVpgidLeader,
        "proc.duration" => F::ProcDuration,
        "proc.start_ts" => F::ProcStartTs,
        "proc.env" => F::ProcEnv,
        "proc.exe_ino" => F::ProcExeIno,
        "proc.exe_ino.ctime" => F::ProcExeInoCtime,
        "proc.exe_ino.mtime" => F::ProcExeInoMtime,
        "proc.exe_ino.ctime_duration_proc_start" => F::ProcExeInoCtimeDur,
        "proc.is_exe_writable" => F::ProcIsExeWritable,
        "proc.is_exe_upper_layer" => F::ProcIsExeUpperLayer,
        "proc.is_exe_from_memfd" => F::ProcIsExeFromMemfd,
        "proc.is_container_healthcheck" => F::ProcIsHealthcheck,
        "proc.is_container_liveness_probe" => F::ProcIsLivenessProbe,
        "proc.is_container_readiness_probe" => F::ProcIsReadinessProbe,
        "thread.tid" | "proc.tid" => F::ThreadTid,
        "thread.vtid" => F::ThreadVtid,
        "thread.cap_effective" => F::ThreadCapEffective,
        "thread.cap_permitted" => F::ThreadCapPermitted,
        "thread.cap_inheritable" => F::ThreadCapInheritable,
        "fd.num" => F::FdNum,
        "fd.type" => F::FdType,
        "fd.typechar" => F::FdTypechar,
        "fd.name" => F::FdName,
        "fd.nameraw" => F::FdNameraw,
        "fd.directory" => F::FdDirectory,
        "fd.filename" => F::FdFilename,
        "fd.sockfamily" => F::FdSockfamily,
        "fd.l4proto" => F::FdL4proto,
        "fd.ip" => F::FdIp,
        "fd.cip" => F::FdCip,
        "fd.sip" => F::FdSip,
        "fd.lip" => F::FdLip,
        "fd.rip" | "fd.dip" => F::FdRip,
        "fd.port" => F::FdPort,
        "fd.cport" => F::FdCport,
        "fd.sport" => F::FdSport,
        "fd.lport" => F::FdLport,
        "fd.rport" | "fd.dport" => F::FdRport,
        "fd.proto" => F::FdProto,
        "fd.net" => F::FdNet,
        "fd.cnet" => F::FdCnet,
        "fd.snet" => F::FdSnet,
        "fd.lnet" => F::FdLnet,
        "fd.rnet" => F::FdRnet,
        "fd.connected" => F::FdConnected,
        "fd.name_changed" => F::FdNameChanged,
        "fd.cip.name" | "fd.sip.name" | "fd.lip.name" | "fd.rip.name" => F::FdDnsName,
        "user.uid" => F::UserUid,
        "user.name" => F::UserName,
        "user.loginuid" => F::UserLoginuid,
        "user.loginname" => F::UserLoginname,
        "group.gid" => F::GroupGid,
        "group.name" => F::GroupName,
        "container.id" => F::ContainerId,
        "container.full_id" => F::ContainerFullId,
        "container.name" => F::ContainerName,
        "container.image" => F::ContainerImage,
        "container.image.repository" => F::ContainerImageRepository,
        "container.image.tag" => F::ContainerImageTag,
        "container.image.id" => F::ContainerImageId,
        "container.type" => F::ContainerType,
        "container.privileged" => F::ContainerPrivileged,
        "container.start_ts" => F::ContainerStartTs,
        "container.mounts" => F::ContainerMounts,
        "container.mount" => F::ContainerMount,
        "container.mount.dest" => F::ContainerMountDest,
        "container.mount.source" => F::ContainerMountSource,
        "container.mount.mode" => F::ContainerMountMode,
        "container.mount.rdwr" => F::ContainerMountRdwr,
        "container.mount.propagation" => F::ContainerMountPropagation,
        "container.healthcheck" => F::ContainerHealthcheck,
        "container.liveness_probe" => F::ContainerLivenessProbe,
        "container.readiness_probe" => F::ContainerReadinessProbe,
        "container.host_pid" => F::ContainerHostPid,
        "container.host_network" => F::ContainerHostNetwork,
        "container.host_ipc" => F::ContainerHostIpc,
        "container.cni.json" => F::ContainerCniJson,
        "container.labels" => F::ContainerLabels,
        "container.duration" => F::ContainerDuration,
        "k8s.pod.id" => F::K8sPodId,
        "k8s.pod.cni.json" => F::K8sPodCniJson,
        "container.label" => F::ContainerLabel,
        "k8s.ns.name" => F::K8sNsName,
        "k8s.pod.name" => F::K8sPodName,
        "k8s.pod.uid" => F::K8sPodUid,
        "k8s.pod.sandbox_id" => F::K8sPodSandboxId,
        "k8s.pod.full_sandbox_id" => F::K8sPodFullSandboxId,
        "k8s.pod.label" => F::K8sPodLabel,
        "k8s.pod.labels" => F::K8sPodLabels,
        "k8s.pod.ip" => F::K8sPodIp,
        "container.image.digest" => F::ContainerImageDigest,
        "container.ip" => F::ContainerIp,
        "evt.datetime.s" => F::EvtDatetimeS,
        "evt.rawtime.s" => F::EvtRawtimeS,
        "evt.rawtime.ns" => F::EvtRawtimeNs,
        "evt.source" => F::EvtSource,
        "evt.is_async" => F::EvtIsAsync,
        "evt.asynctype" => F::EvtAsynctype,
        "evt.outputtime" => F::EvtOutputtime,
        "evt.type.is" => F::EvtTypeIs,
        "evt.info" => F::EvtInfo,
        "evt.count" => F::EvtCount,
        "evt.count.error" => F::EvtCountError,
        "evt.count.error.file" => F::EvtCountErrorFile,
        "evt.count.error.net" => F::EvtCountErrorNet,
        "evt.count.error.memory" => F::EvtCountErrorMemory,
        "evt.count.error.other" => F::EvtCountErrorOther,
        "evt.count.exit" => F::EvtCountExit,
        "evt.abspath" => F::EvtAbspath,
        "evt.abspath.src" => F::EvtAbspathSrc,
        "evt.abspath.dst" => F::EvtAbspathDst,
        "evt.latency.s" | "evt.latency.ns" => F::EvtLatency,
        "evt.latency.human" => F::EvtLatencyHuman,
        "evt.is_wait" => F::EvtIsWait,
        "evt.reltime" => F::EvtReltime,
        "evt.reltime.s" => F::EvtReltimeS,
        "evt.reltime.ns" => F::EvtReltimeNs,
        "evt.is_syslog" => F::EvtIsSyslog,
        "proc.aargs" => F::ProcAargs,
        "proc.aenv" => F::ProcAenv,
        "proc.cmdnargs" => F::ProcCmdnargs,
        "proc.cmdlenargs" => F::ProcCmdlenargs,
        "proc.exeline" => F::ProcExeline,
        "proc.loginshellid" => F::ProcLoginshellid,
        "proc.pvpid" => F::ProcPvpid,
        "proc.sid.exe" => F::ProcSidExe,
        "proc.sid.exepath" => F::ProcSidExepath,
        "proc.vpgid.name" | "proc.pgid.name" => F::ProcPgidName,
        "proc.vpgid.exe" | "proc.pgid.exe" => F::ProcPgidExe,
        "proc.vpgid.exepath" | "proc.pgid.exepath" => F::ProcPgidExepath,
        "proc.pgid" => F::ProcPgid,
        "proc.ppid.duration" => F::ProcPpidDuration,
        "proc.pid.ts" => F::ProcPidTs,
        "proc.ppid.ts" => F::ProcPpidTs,
        "proc.is_sid_leader" => F::ProcIsSidLeader,
        "proc.is_pgid_leader" => F::ProcIsPgidLeader,
        "proc.is_exe_lower_layer" => F::ProcIsExeLowerLayer,
        "proc.exe_ino.ctime_duration_pidns_start" => F::ProcExeInoCtimeDurPidns,
        "proc.pidns_init_start_ts" => F::ProcPidnsInitStartTs,
        "thread.ismain" => F::ThreadIsmain,
        "user.homedir" => F::UserHomedir,
        "user.shell" => F::UserShell,
        "fd.is_server" => F::FdIsServer,
        "fd.uid" => F::FdUid,
        "fd.containername" => F::FdContainername,
        "fd.containerdirectory" => F::FdContainerdirectory,
        "fd.cproto" => F::FdCproto,
        "fd.sproto" => F::FdSproto,
        "fd.lproto" => F::FdLproto,
        "fd.rproto" => F::FdRproto,
        "fs.path.name" => F::FsPathName,
        "fs.path.nameraw" => F::FsPathNameraw,
        "fs.path.source" => F::FsPathSource,
        "fs.path.sourceraw" => F::FsPathSourceraw,
        "fs.path.target" => F::FsPathTarget,
        "fs.path.targetraw" => F::FsPathTargetraw,
        n if n.starts_with("k8s.")
            && ["rc", "svc", "rs", "deployment"]
                .iter()
                .any(|k| n[4..].starts_with(&format!("{k}.")))
            || matches!(n, "k8s.ns.id" | "k8s.ns.label" | "k8s.ns.labels") =>
        {
            F::K8sDeprecated
        }
        _ => F::Unknown,
    }
}

fn tag(f: &FieldRef) -> F {
    static TAGS: OnceLock<Vec<F>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| CATALOG.iter().map(|d| tag_of(d.name)).collect());
    tags.get(f.id.0 as usize).copied().unwrap_or(F::Unknown)
}

/// The fd an event is about, described once per event.
#[derive(Debug, Clone)]
struct FdView<'a> {
    /// `fd.num`.
    num: i64,
    /// Whether an fd entry exists (false: failed creation or unknown fd,
    /// where fields fall back to event parameters or are missing).
    entry: bool,
    /// `fd.typechar`.
    typechar: u8,
    /// `fd.type` (entries only).
    type_name: Option<&'static str>,
    /// `fd.name`.
    name: Cow<'a, [u8]>,
    /// `fd.nameraw`.
    nameraw: Cow<'a, [u8]>,
    /// Whether `fd.directory`/`fd.filename` apply (file or directory).
    file_like: bool,
    /// IP endpoints (client, server) for IP sockets.
    ip: Option<IpEnds>,
    /// `fd.connected` (entries only).
    connected: bool,
    /// `fd.name_changed` (entries only).
    name_changed: bool,
    /// What the `<tc>` prefix for rendering the fd in `evt.arg` is made
    /// of (typechar, L4 protocol), when the fd is rendered with one; the
    /// text is built only when rendered.
    render_tag: Option<(u8, Option<u8>)>,
}

/// Endpoints of an IP socket in client/server terms.
#[derive(Debug, Clone, Copy)]
struct IpEnds {
    client: Option<(IpAddr, u16)>,
    server: Option<(IpAddr, u16)>,
    /// The client is the local end.
    local_is_client: bool,
    l4proto: u8,
}

impl IpEnds {
    fn local(&self) -> Option<(IpAddr, u16)> {
        if self.local_is_client {
            self.client
        } else {
            self.server
        }
    }
    fn remote(&self) -> Option<(IpAddr, u16)> {
        if self.local_is_client {
            self.server
        } else {
            self.client
        }
    }
}

fn ip_of(family: u8, a: &[u8; 16]) -> Option<IpAddr> {
    match family {
        af::INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        af::INET6 => {
            let v6 = Ipv6Addr::from(*a);
            // IPv4-mapped addresses are shown as IPv4, as Falco does.
            Some(match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => IpAddr::V6(v6),
            })
        }
        _ => None,
    }
}

fn endpoint_text(out: &mut String, e: Option<(IpAddr, u16)>) {
    use std::fmt::Write;
    match e {
        Some((ip, port)) => {
            // Writing to a String cannot fail.
            write!(out, "{ip}:{port}").expect("write to String");
        }
        None => out.push_str("0.0.0.0:0"),
    }
}

fn l4_name(proto: u8) -> &'static str {
    match proto {
        6 => "tcp",
        17 => "udp",
        1 | 58 => "icmp",
        255 => "raw",
        _ => "<NA>",
    }
}

fn l4_char(proto: u8) -> Option<char> {
    match proto {
        6 => Some('t'),
        17 => Some('u'),
        1 | 58 => Some('i'),
        255 => Some('r'),
        _ => None,
    }
}

fn type_name(c: u8) -> &'static str {
    match c {
        b'f' => "file",
        b'd' => "directory",
        b'4' => "ipv4",
        b'6' => "ipv6",
        b'u' => "unix",
        b'p' => "pipe",
        b'e' => "event",
        b's' => "signalfd",
        b'l' => "eventpoll",
        b'i' => "inotify",
        b't' => "timerfd",
        b'n' => "netlink",
        b'b' => "bpf",
        b'r' => "io_uring",
        b'm' => "memfd",
        b'P' => "pidfd",
        _ => "unknown",
    }
}

/// Renders bytes Falco's default way for binary buffers: printable ASCII
/// as is, everything else as `.`.
pub fn dots(b: &[u8]) -> Vec<u8> {
    b.iter()
        .map(|&c| if (0x20..0x7f).contains(&c) { c } else { b'.' })
        .collect()
}

/// Which parameter of an event a name or position refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum P {
    /// The return value.
    Ret,
    /// Wire parameter `i`.
    Param(usize),
    /// `exe` of exec events: argv[0].
    Exe,
    /// `args` of exec events: argv[1..].
    Args,
}

/// Falco's name for the return value of an event.
fn ret_name(info: &crate::event::EventInfo) -> Option<&'static str> {
    info.ret_name()
}

/// A kernel event with the state needed to extract every field.
pub struct LiveEvent<'a> {
    raw: RawEvent<'a>,
    table: &'a ProcessTable,
    ctx: &'a Context,
    evt_num: u64,
    attribution: Attribution,
    process: Option<Arc<Process>>,
    gen: GenSel,
    cache: Option<&'a ProcCache>,
    /// The parent, looked up on first use (most rules that read an
    /// ancestor read only the parent, often several times per event).
    parent: OnceCell<Option<Arc<Process>>>,
    /// Every ancestor from the parent up, looked up on first use (kept
    /// between events by the worker's cache).
    chain: OnceCell<Arc<[Arc<Process>]>>,
    /// The open flags of an open-family event, read on first use.
    open_flags: OnceCell<Option<u64>>,
    fd: OnceCell<Option<FdView<'a>>>,
    container_info: OnceCell<Option<Arc<ContainerInfo>>>,
}

impl std::fmt::Debug for LiveEvent<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveEvent")
            .field("type", &self.raw.info.name)
            .field("evt_num", &self.evt_num)
            .field("attribution", &self.attribution)
            .field("tgid", &self.raw.hdr.tgid)
            .finish()
    }
}

impl<'a> LiveEvent<'a> {
    /// Binds an event to its process (looked up once here). Apply the event
    /// to the table first ([`ProcessTable::apply`]) so that exec events see
    /// their new image. `evt_num` is the engine's sequence number (from 1).
    pub fn new(raw: RawEvent<'a>, table: &'a ProcessTable, ctx: &'a Context, evt_num: u64) -> Self {
        let l = table.lookup(&raw);
        LiveEvent::with_lookup(raw, table, ctx, evt_num, l, None)
    }

    /// Binds an event to an attribution the caller made
    /// ([`lookup_in`](crate::state::process::lookup_in)
    /// with an entry from its [`ProcCache`]); other processes (parents,
    /// ancestors) are looked up through `cache` when given.
    pub fn with_lookup(
        raw: RawEvent<'a>,
        table: &'a ProcessTable,
        ctx: &'a Context,
        evt_num: u64,
        l: Lookup,
        cache: Option<&'a ProcCache>,
    ) -> Self {
        LiveEvent {
            raw,
            table,
            ctx,
            evt_num,
            attribution: l.attribution,
            process: l.process,
            gen: l.gen,
            cache,
            parent: OnceCell::new(),
            chain: OnceCell::new(),
            open_flags: OnceCell::new(),
            fd: OnceCell::new(),
            container_info: OnceCell::new(),
        }
    }

    fn generation(&self) -> Option<&Generation> {
        match &self.gen {
            GenSel::None => None,
            GenSel::At(i) => self.process.as_ref().and_then(|p| p.gens.get(*i)),
            GenSel::Own(g) => Some(g),
        }
    }

    fn get_process(&self, tgid: u32) -> Option<Arc<Process>> {
        match self.cache {
            Some(c) => c.get(self.table, tgid),
            None => self.table.get(tgid),
        }
    }

    /// The decoded record.
    pub fn raw(&self) -> &RawEvent<'a> {
        &self.raw
    }

    /// How the event was attributed to its process.
    pub fn attribution(&self) -> Attribution {
        self.attribution
    }

    /// The event's sequence number.
    pub fn evt_num(&self) -> u64 {
        self.evt_num
    }

    /// The context the event is extracted with.
    pub fn context(&self) -> &Context {
        self.ctx
    }

    /// The event's process entry, if known.
    pub fn process(&self) -> Option<&Arc<Process>> {
        self.process.as_ref()
    }

    /// Event time as epoch ns.
    pub fn epoch_ns(&self) -> u64 {
        self.ctx.epoch_ns(self.raw.hdr.ts_ns)
    }

    fn image(&self) -> Option<&Image> {
        self.generation()?.image.as_deref()
    }

    fn cwd(&self) -> Option<&[u8]> {
        let c = &self.generation()?.cwd;
        (!c.is_empty()).then_some(&c[..])
    }

    fn container(&self) -> Option<&ContainerRef> {
        self.process.as_ref().map(|p| &p.container)
    }

    fn container_info(&self) -> Option<&Arc<ContainerInfo>> {
        self.container_info
            .get_or_init(|| self.container().and_then(|c| self.ctx.containers.get(c)))
            .as_ref()
    }

    fn has_ret(&self) -> bool {
        self.raw.info.ret != RetKind::None
    }

    // ---------------------------------------------------------------- params

    fn find_param(&self, name: &str) -> Option<P> {
        if ret_name(self.raw.info) == Some(name) {
            return Some(P::Ret);
        }
        if name == "res_or_fd" && self.has_ret() {
            return Some(P::Ret);
        }
        if let Some(i) = self.raw.param_index(name) {
            return Some(P::Param(i));
        }
        let is_exec = matches!(
            self.raw.ty(),
            EventType::EXECVE | EventType::EXECVEAT | EventType::PROCINFO
        );
        match name {
            "exe" if is_exec => Some(P::Exe),
            "args" if is_exec => Some(P::Args),
            _ => None,
        }
    }

    /// Parameters in `evt.args` / `evt.arg[N]` order: the return value,
    /// then the visible wire parameters.
    fn visible_params(&self) -> impl Iterator<Item = (&'static str, P)> + '_ {
        let ret = ret_name(self.raw.info).map(|n| (n, P::Ret));
        ret.into_iter().chain(
            self.raw
                .info
                .params
                .iter()
                .enumerate()
                .filter(|(_, p)| !p.hidden)
                .map(|(i, p)| (p.name, P::Param(i))),
        )
    }

    fn argv(&self) -> impl Iterator<Item = &'a [u8]> {
        split_list(self.raw.param(exec::ARGV))
    }

    /// The raw rendering of a parameter and its resolved rendering (if any;
    /// an empty resolved form counts as none).
    fn param_text(&self, p: P) -> (Cow<'a, [u8]>, Option<Cow<'a, [u8]>>) {
        let raw = &self.raw;
        let num = |v: i64| Cow::Owned(v.to_string().into_bytes());
        match p {
            P::Ret => {
                let r = raw.hdr.ret;
                let resolved = match raw.info.ret {
                    _ if r < 0 => flags::errno_name(r).map(|n| Cow::Borrowed(n.as_bytes())),
                    RetKind::Fd if raw.info.fd == FdUse::Returns => self.fd_render(),
                    RetKind::Pid => self.pid_comm(r),
                    _ => None,
                };
                (num(r), resolved)
            }
            P::Exe => (Cow::Borrowed(self.argv().next().unwrap_or(&[])), None),
            P::Args => {
                let mut b = Vec::new();
                for a in self.argv().skip(1) {
                    b.extend_from_slice(a);
                    b.push(0);
                }
                (Cow::Owned(dots(&b)), None)
            }
            P::Param(i) => {
                let info = &raw.info.params[i];
                let bytes = raw.param(i);
                if bytes.is_empty() {
                    let na: &'static [u8] = match info.kind {
                        ParamKind::Bytes
                        | ParamKind::StrList
                        | ParamKind::FdInfo
                        | ParamKind::SockAddr => b"NULL",
                        _ => b"<NA>",
                    };
                    return (Cow::Borrowed(na), None);
                }
                let int = raw.param_i64(i);
                match info.kind {
                    ParamKind::Fd => {
                        let Some(v) = int else {
                            return (Cow::Borrowed(b"<NA>"), None);
                        };
                        (num(v), self.render_fd_param(i, v))
                    }
                    ParamKind::Int => (int.map_or(Cow::Borrowed(b"<NA>"), num), None),
                    ParamKind::Uint => (
                        raw.param_u64(i).map_or(Cow::Borrowed(b"<NA>"), |v| {
                            Cow::Owned(v.to_string().into_bytes())
                        }),
                        None,
                    ),
                    ParamKind::Hex => (
                        raw.param_u64(i).map_or(Cow::Borrowed(b"<NA>"), |v| {
                            Cow::Owned(format!("{v:X}").into_bytes())
                        }),
                        None,
                    ),
                    ParamKind::Pid => {
                        let Some(v) = int else {
                            return (Cow::Borrowed(b"<NA>"), None);
                        };
                        (num(v), self.pid_comm(v))
                    }
                    ParamKind::Uid | ParamKind::Gid => {
                        let Some(v) = raw.param_u64(i) else {
                            return (Cow::Borrowed(b"<NA>"), None);
                        };
                        let v = v as u32;
                        if v == u32::MAX {
                            return (Cow::Borrowed(b"-1"), Some(Cow::Borrowed(b"<NONE>")));
                        }
                        let c = self.container().cloned().unwrap_or_else(ContainerRef::host);
                        let name = if info.kind == ParamKind::Uid {
                            self.ctx.users.user_name(&c, raw.hdr.tgid, v)
                        } else {
                            self.ctx.users.group_name(&c, raw.hdr.tgid, v)
                        };
                        let resolved = name.map_or(b"<NA>".to_vec(), |n| n.as_bytes().to_vec());
                        (num(v as i64), Some(Cow::Owned(resolved)))
                    }
                    ParamKind::Flags(set) | ParamKind::Enum(set) => {
                        let Some(v) = raw.param_u64(i) else {
                            return (Cow::Borrowed(b"<NA>"), None);
                        };
                        (
                            Cow::Owned(v.to_string().into_bytes()),
                            flags::render(set, v).map(|s| Cow::Owned(s.into_bytes())),
                        )
                    }
                    ParamKind::Mode => {
                        let Some(v) = raw.param_u64(i) else {
                            return (Cow::Borrowed(b"<NA>"), None);
                        };
                        let txt = if v == 0 {
                            "0".to_string()
                        } else {
                            format!("0{v:o}")
                        };
                        // Falco gives symbolic names to chmod-family modes
                        // (PT_MODE); open/mkdir modes are plain octal.
                        let named =
                            matches!(raw.info.name, "chmod" | "fchmod" | "fchmodat" | "fchmodat2");
                        let resolved = if named { flags::render_mode(v) } else { None };
                        (
                            Cow::Owned(txt.into_bytes()),
                            resolved.map(|s| Cow::Owned(s.into_bytes())),
                        )
                    }
                    ParamKind::Path => {
                        let resolved = if bytes.first() == Some(&b'/') {
                            None
                        } else {
                            self.cwd()
                                .and_then(|c| paths::resolve(c, bytes))
                                .map(Cow::Owned)
                        };
                        (Cow::Borrowed(bytes), resolved)
                    }
                    ParamKind::RelPath { dirfd, dirpath } => {
                        let resolved = if bytes.first() == Some(&b'/') {
                            None
                        } else {
                            self.rel_base(dirfd as usize, dirpath as usize)
                                .and_then(|b| paths::resolve(&b, bytes))
                                .map(Cow::Owned)
                        };
                        (Cow::Borrowed(bytes), resolved)
                    }
                    ParamKind::Str => (Cow::Borrowed(bytes), None),
                    ParamKind::Bytes => (Cow::Owned(dots(bytes)), None),
                    ParamKind::StrList => {
                        let mut b = Vec::new();
                        for (k, s) in split_list(bytes).enumerate() {
                            if k > 0 {
                                b.push(b'.');
                            }
                            b.extend_from_slice(s);
                        }
                        (Cow::Owned(b), None)
                    }
                    ParamKind::FdInfo => match raw.param_fdinfo(i) {
                        Some((fi, path)) => (Cow::Owned(fdinfo_text(&fi, path)), None),
                        None => (Cow::Borrowed(b"NULL"), None),
                    },
                    ParamKind::SockAddr => match raw.param_sockaddr(i) {
                        Some(t) => (
                            Cow::Owned(sockaddr_text(
                                &t,
                                &bytes[std::mem::size_of::<SockTuple>()..],
                            )),
                            None,
                        ),
                        None => (Cow::Borrowed(b"NULL"), None),
                    },
                }
            }
        }
    }

    /// The directory a relative path parameter is resolved against.
    fn rel_base(&self, dirfd: usize, dirpath: usize) -> Option<Vec<u8>> {
        let dp = self.raw.param(dirpath);
        if dp.first() == Some(&b'/') {
            return Some(dp.to_vec());
        }
        match self.raw.param_i64(dirfd) {
            Some(AT_FDCWD) | None => self.cwd().map(<[u8]>::to_vec),
            Some(_) => None,
        }
    }

    fn pid_comm(&self, pid: i64) -> Option<Cow<'a, [u8]>> {
        let pid = u32::try_from(pid).ok()?;
        let p = self.get_process(pid)?;
        Some(Cow::Owned(p.comm.to_vec()))
    }

    /// `<tag>name` for the event's own fd.
    fn fd_render(&self) -> Option<Cow<'a, [u8]>> {
        let fd = self.fd_view()?;
        let (tc, l4) = fd.render_tag?;
        let mut b = render_tag(tc, l4).into_bytes();
        b.extend_from_slice(&fd.name);
        Some(Cow::Owned(b))
    }

    fn render_fd_param(&self, i: usize, v: i64) -> Option<Cow<'a, [u8]>> {
        if let FdUse::Param(k) = self.raw.info.fd {
            if k as usize == i {
                return self.fd_render();
            }
        }
        if v == AT_FDCWD {
            return Some(Cow::Borrowed(b"AT_FDCWD"));
        }
        if v < 0 {
            return flags::errno_name(v).map(|n| Cow::Borrowed(n.as_bytes()));
        }
        // A dirfd whose path the kernel resolved for us.
        for p in self.raw.info.params {
            if let ParamKind::RelPath { dirfd, dirpath } = p.kind {
                if dirfd as usize == i {
                    let d = self.raw.param(dirpath as usize);
                    if d.first() == Some(&b'/') {
                        let mut b = b"<d>".to_vec();
                        b.extend_from_slice(d);
                        return Some(Cow::Owned(b));
                    }
                }
            }
        }
        None
    }

    fn arg_value(&self, p: P) -> Value<'_> {
        let (raw, resolved) = self.param_text(p);
        match resolved {
            Some(r) if !r.is_empty() => Value::Str(r),
            _ => Value::Str(raw),
        }
    }

    fn rawarg_value(&self, p: P) -> Option<Value<'_>> {
        let raw = &self.raw;
        match p {
            P::Ret => Some(Value::I64(raw.hdr.ret)),
            P::Exe | P::Args => Some(self.arg_value(p)),
            P::Param(i) => {
                let info = &raw.info.params[i];
                let b = raw.param(i);
                match info.kind {
                    ParamKind::Path | ParamKind::RelPath { .. } | ParamKind::Str => {
                        Some(Value::str(b))
                    }
                    ParamKind::Bytes | ParamKind::StrList => Some(Value::Bytes(Cow::Borrowed(b))),
                    ParamKind::FdInfo => {
                        raw.param_fdinfo(i).map(|(fi, _)| Value::I64(fi.fd as i64))
                    }
                    ParamKind::SockAddr => Some(self.arg_value(p)),
                    ParamKind::Uid | ParamKind::Gid => raw.param_u64(i).map(|v| {
                        let v = v as u32;
                        Value::I64(if v == u32::MAX { -1 } else { v as i64 })
                    }),
                    _ => raw.param_i64(i).map(Value::I64),
                }
            }
        }
    }

    fn param_by_arg(&self, f: &FieldRef) -> Option<P> {
        match &f.arg {
            FieldArg::Key(k) => self.find_param(k),
            FieldArg::Index(n) => self.visible_params().nth(*n as usize).map(|(_, p)| p),
            FieldArg::None => None,
        }
    }

    /// `evt.args`: `name=value` pairs, `name=raw(resolved)` where a
    /// resolved form exists.
    pub fn args_text(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for (k, (name, p)) in self.visible_params().enumerate() {
            if k > 0 {
                out.push(b' ');
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            let (raw, resolved) = self.param_text(p);
            out.extend_from_slice(&raw);
            if let Some(r) = resolved.filter(|r| !r.is_empty() && **r != *raw) {
                out.push(b'(');
                out.extend_from_slice(&r);
                out.push(b')');
            }
        }
        out
    }

    /// Names and rendered values (as `evt.arg.<name>` yields them) of every
    /// parameter, for JSON output.
    pub fn arg_values(&self) -> Vec<(&'static str, Vec<u8>)> {
        self.visible_params()
            .map(|(n, p)| {
                let v = self.arg_value(p);
                (n, v.as_bytes().map(<[u8]>::to_vec).unwrap_or_default())
            })
            .collect()
    }

    // -------------------------------------------------------------------- fd

    fn fd_view(&self) -> Option<&FdView<'a>> {
        self.fd.get_or_init(|| self.compute_fd()).as_ref()
    }

    fn compute_fd(&self) -> Option<FdView<'a>> {
        let raw = &self.raw;
        let info = raw.info;
        match info.fd {
            FdUse::None => None,
            FdUse::Returns => Some(self.fd_returned()),
            FdUse::Param(i) => {
                let num = raw.param_i64(i as usize).unwrap_or(-1);
                let fdinfo = info
                    .params
                    .iter()
                    .position(|p| p.kind == ParamKind::FdInfo)
                    .and_then(|k| raw.param_fdinfo(k))
                    .filter(|(fi, _)| fi.kind != 0);
                Some(match fdinfo {
                    Some((fi, path)) => self.fd_from_info(num, &fi, path),
                    None => FdView {
                        num,
                        entry: false,
                        typechar: b'o',
                        type_name: None,
                        name: Cow::Borrowed(b""),
                        nameraw: Cow::Borrowed(b""),
                        file_like: false,
                        ip: None,
                        connected: false,
                        name_changed: false,
                        render_tag: None,
                    },
                })
            }
        }
    }

    /// fd of an event that creates it (open, socket, accept, ...).
    fn fd_returned(&self) -> FdView<'a> {
        let raw = &self.raw;
        let name = raw.info.name;
        let ret = raw.hdr.ret;
        let open = raw.ty().open_params();
        let is_open = open.is_some();
        let (path_raw, path_abs) = match open {
            Some((name_idx, _)) => self.open_path(name_idx),
            None => (&[][..], None),
        };
        if ret < 0 {
            // No fd entry: Falco's fallbacks (RULES.md §7.4).
            let typechar = match name {
                "openat" | "openat2" | "creat" => b'f',
                "socket" | "accept" | "accept4" => b'4',
                _ => b'o',
            };
            let fallback: Cow<'a, [u8]> = match name {
                "open" | "creat" => Cow::Borrowed(path_raw),
                "openat" | "openat2" => path_abs.clone().unwrap_or(Cow::Borrowed(path_raw)),
                "accept" | "accept4" => match raw.param_fdinfo(0) {
                    Some((fi, p)) if fi.kind != 0 => {
                        Cow::Owned(self.fd_from_info(-1, &fi, p).name.into_owned())
                    }
                    _ => Cow::Borrowed(b""),
                },
                _ => Cow::Borrowed(b""),
            };
            let nameraw = if is_open {
                Cow::Borrowed(path_raw)
            } else {
                fallback.clone()
            };
            return FdView {
                num: -1,
                entry: false,
                typechar,
                type_name: None,
                name: fallback,
                nameraw,
                file_like: is_open,
                ip: None,
                connected: false,
                name_changed: false,
                render_tag: None,
            };
        }
        let mut v = FdView {
            num: ret,
            entry: true,
            typechar: b'o',
            type_name: None,
            name: Cow::Borrowed(b""),
            nameraw: Cow::Borrowed(b""),
            file_like: false,
            ip: None,
            connected: false,
            name_changed: false,
            render_tag: None,
        };
        if let Some((_, flags_idx)) = open {
            let dir = flags_idx.and_then(|k| raw.param_u64(k)).is_some_and(|f| {
                f & flags::kernel_o::DIRECTORY != 0 && f & flags::kernel_o::TMPFILE_BIT == 0
            });
            v.typechar = if dir { b'd' } else { b'f' };
            v.name = path_abs.unwrap_or(Cow::Borrowed(path_raw));
            v.nameraw = Cow::Borrowed(path_raw);
            v.file_like = true;
            v.type_name = Some(type_name(v.typechar));
            v.render_tag = Some((v.typechar, None));
            return v;
        }
        match name {
            "memfd_create" => {
                v.typechar = b'm';
                v.name = Cow::Borrowed(raw.param(0));
                v.nameraw = v.name.clone();
            }
            "userfaultfd" => {
                v.typechar = b'u';
                v.type_name = Some("userfaultfd");
            }
            "socket" => {
                let domain = raw.param_u64(0).unwrap_or(0);
                let ty = raw.param_u64(1).unwrap_or(0) & 0xff;
                let proto = raw.param_u64(2).unwrap_or(0);
                v.typechar = match domain {
                    2 => b'4',
                    10 => b'6',
                    1 => b'u',
                    16 => b'n',
                    _ => b'o',
                };
                if matches!(v.typechar, b'4' | b'6') {
                    let l4 = match (ty, proto) {
                        (1, _) => IPPROTO_TCP,
                        (2, _) => IPPROTO_UDP,
                        (3, 1) | (3, 58) => 1,
                        (3, _) => 255,
                        _ => 0,
                    };
                    v.ip = Some(IpEnds {
                        client: None,
                        server: None,
                        local_is_client: true,
                        l4proto: l4,
                    });
                }
            }
            "accept" | "accept4" => {
                if let Some((fi, p)) = raw.param_fdinfo(0).filter(|(fi, _)| fi.kind != 0) {
                    let mut a = self.fd_from_info(ret, &fi, p);
                    a.connected = true;
                    return a;
                }
                v.typechar = b'4';
                v.connected = true;
            }
            _ => {}
        }
        if v.type_name.is_none() {
            v.type_name = Some(type_name(v.typechar));
        }
        v.render_tag = Some((v.typechar, v.ip.map(|i| i.l4proto)));
        v
    }

    /// The path of an open-family event: as passed, and resolved/normalised
    /// (`None` when it cannot be made absolute).
    fn open_path(&self, i: usize) -> (&'a [u8], Option<Cow<'a, [u8]>>) {
        let raw = &self.raw;
        let p = raw.param(i);
        // Most opened paths are absolute and already normal: no copy.
        if paths::is_normal_absolute(p) {
            return (p, Some(Cow::Borrowed(p)));
        }
        let abs = match raw.info.params[i].kind {
            ParamKind::RelPath { dirfd, dirpath } => {
                if p.first() == Some(&b'/') {
                    Some(paths::normalize(p))
                } else {
                    self.rel_base(dirfd as usize, dirpath as usize)
                        .and_then(|b| paths::resolve(&b, p))
                }
            }
            _ => match self.cwd() {
                Some(c) => paths::resolve(c, p),
                None => (p.first() == Some(&b'/')).then(|| paths::normalize(p)),
            },
        };
        (p, abs.map(Cow::Owned))
    }

    /// fd described by a kernel `kst_fdinfo`.
    fn fd_from_info(&self, num: i64, fi: &FdInfo, path: &'a [u8]) -> FdView<'a> {
        let raw = &self.raw;
        let mut typechar = fi.kind;
        let t = fi.tuple;
        let is_ip = matches!(typechar, b'4' | b'6')
            || (typechar == 0 && matches!(t.family, af::INET | af::INET6));
        if is_ip && !matches!(typechar, b'4' | b'6') {
            typechar = if t.family == af::INET6 { b'6' } else { b'4' };
        }
        let mut v = FdView {
            num,
            entry: true,
            typechar,
            type_name: Some(type_name(typechar)),
            name: Cow::Borrowed(path),
            nameraw: Cow::Borrowed(path),
            file_like: matches!(typechar, b'f' | b'd'),
            ip: None,
            connected: false,
            name_changed: false,
            render_tag: None,
        };
        if v.file_like && path.first() == Some(&b'/') {
            v.name = Cow::Owned(paths::normalize(path));
        }
        if is_ip {
            let local = ip_of(t.family, &t.saddr).map(|a| (a, t.sport));
            let mut peer = has_peer(&t)
                .then(|| ip_of(t.family, &t.daddr).map(|a| (a, t.dport)))
                .flatten();
            let ty = raw.info.name;
            if peer.is_none() && ty == "connect" {
                // The kernel had no peer yet (failed connect): use the
                // address the caller asked for.
                peer = raw
                    .param_index("addr")
                    .and_then(|k| raw.param_sockaddr(k))
                    .filter(has_peer_or_addr)
                    .and_then(|a| {
                        ip_of(a.family, &a.daddr)
                            .or_else(|| ip_of(a.family, &a.saddr))
                            .map(|ip| (ip, if a.dport != 0 { a.dport } else { a.sport }))
                    });
            }
            let cache = self.table.sockets.get(raw.hdr.tgid, num as i32);
            let role = match ty {
                "connect" => Role::Client,
                "accept" | "accept4" | "listen" | "bind" => Role::Server,
                _ => match cache.map(|c| c.role) {
                    Some(r) if r != Role::Unknown => r,
                    _ => guess_role(local, peer, ty),
                },
            };
            let local_is_client = role != Role::Server;
            let (client, server) = if local_is_client {
                (local, peer)
            } else {
                (peer, local)
            };
            let connected = match ty {
                "connect" => raw.hdr.ret == 0 || raw.hdr.ret == EINPROGRESS,
                "accept" | "accept4" => true,
                _ => cache.map_or(peer.is_some() && t.l4proto == IPPROTO_TCP, |c| {
                    c.connected || (peer.is_some() && t.l4proto == IPPROTO_TCP)
                }),
            };
            v.connected = connected;
            v.name_changed = matches!(ty, "sendto" | "sendmsg")
                && self.table.sockets.name_changed(
                    raw.hdr.tgid,
                    num as i32,
                    raw.hdr.ts_ns,
                    raw.hdr.tid,
                );
            let ends = IpEnds {
                client,
                server,
                local_is_client,
                l4proto: t.l4proto,
            };
            let mut s = String::new();
            if client.is_none() {
                // A listening or unconnected socket: its own address.
                endpoint_text(&mut s, server);
            } else {
                endpoint_text(&mut s, client);
                s.push_str("->");
                endpoint_text(&mut s, server);
            }
            if client.is_none() && server.is_none() {
                s.clear();
            }
            v.name = Cow::Owned(s.into_bytes());
            v.nameraw = v.name.clone();
            v.ip = Some(ends);
        }
        v.render_tag = Some((typechar, v.ip.map(|i| i.l4proto)));
        v
    }

    // ------------------------------------------------------------- ancestors

    fn ancestors(&self) -> impl Iterator<Item = Arc<Process>> + '_ {
        self.table
            .ancestors_cached(self.raw.hdr.tgid, self.raw.hdr.ptgid, self.cache)
    }

    /// Ancestor `n` (1 = the parent), looked up once per event.
    fn ancestor(&self, n: u32) -> Option<&Process> {
        match n {
            0 => None,
            1 if self.cache.is_none() => match self.chain.get() {
                Some(c) => c.first().map(|p| &**p),
                None => self
                    .parent
                    .get_or_init(|| self.ancestors().next())
                    .as_deref(),
            },
            n => self.chain().get(n as usize - 1).map(|p| &**p),
        }
    }

    /// Every ancestor from the parent up, looked up once per event.
    fn chain(&self) -> &[Arc<Process>] {
        self.chain.get_or_init(|| {
            let h = &self.raw.hdr;
            match self.cache {
                Some(c) => c.chain(self.table, h.tgid, h.ptgid),
                None => self.ancestors().collect(),
            }
        })
    }

    fn self_cmdline(&self) -> Option<Vec<u8>> {
        let img = self.image()?;
        Some(cmdline(self.self_comm(), &img.args))
    }

    /// The process's command name: proc.* fields describe the process (its
    /// main thread), so an event from another thread, which may have renamed
    /// itself (`pthread_setname_np`), takes the name the table keeps for the
    /// main thread; the header's comm is used for the main thread itself and
    /// when the table has no entry.
    fn self_comm(&self) -> &[u8] {
        let h = &self.raw.hdr;
        if h.tid != h.tgid {
            if let Some(p) = &self.process {
                if !p.comm.is_empty() {
                    return &p.comm;
                }
            }
        }
        self.raw.comm()
    }

    /// One ancestor-style field of process `p` (`None` = self).
    fn anc_value<'s>(&'s self, t: F, p: Option<&'s Process>) -> Option<Value<'s>> {
        match p {
            None => match t {
                F::ProcAname => Some(Value::str(self.self_comm())),
                F::ProcAexe => self.image().map(|i| Value::str(&i.exe)),
                F::ProcAexepath => self.image().map(|i| Value::str(&i.exepath)),
                F::ProcAcmdline => self.self_cmdline().map(Value::string),
                F::ProcApid => Some(Value::I64(self.raw.hdr.tgid as i64)),
                F::ProcAargs => self.image().map(|i| Value::str(&i.args)),
                _ => None,
            },
            Some(p) => match t {
                F::ProcAname => Some(Value::str(&p.comm)),
                F::ProcAexe => p.image().map(|i| Value::str(&i.exe)),
                F::ProcAexepath => p.image().map(|i| Value::str(&i.exepath)),
                F::ProcAcmdline => p.image().map(|i| Value::string(cmdline(&p.comm, &i.args))),
                F::ProcApid => Some(Value::I64(p.tgid as i64)),
                F::ProcAargs => p.image().map(|i| Value::str(&i.args)),
                F::ProcAenv => p.image().map(|i| Value::string(env_joined(&i.env))),
                _ => None,
            },
        }
    }

    fn sname(&self) -> Value<'static> {
        let Some(me) = &self.process else {
            return Value::string("");
        };
        let sid = me.sid;
        if sid == 0 {
            return Value::string("");
        }
        if me.tgid == sid {
            return Value::string(self.self_comm());
        }
        let mut best: Option<Box<[u8]>> = Some(self.self_comm().into());
        for a in self.ancestors() {
            if a.sid != sid {
                break;
            }
            best = Some(a.comm.clone());
            if a.tgid == sid {
                break;
            }
        }
        Value::string(best.map(|b| b.to_vec()).unwrap_or_default())
    }

    fn env_value(&self, key: Option<&str>) -> Option<Value<'static>> {
        let img = self.image()?;
        let entries = split_list(&img.env);
        match key {
            None => {
                let mut out = Vec::new();
                for (i, e) in entries.enumerate() {
                    if i > 0 {
                        out.push(b' ');
                    }
                    out.extend_from_slice(e);
                }
                Some(Value::string(out))
            }
            Some(k) => {
                for e in entries {
                    if let Some(rest) = e.strip_prefix(k.as_bytes()) {
                        if let Some(v) = rest.strip_prefix(b"=") {
                            return Some(Value::string(v.trim_ascii()));
                        }
                    }
                }
                Some(Value::string(""))
            }
        }
    }

    fn user_container(&self) -> ContainerRef {
        self.container().cloned().unwrap_or_else(ContainerRef::host)
    }

    /// The mount a `container.mount*[K]` field names: the one at index
    /// `K`, else the first whose source (destination, for
    /// `container.mount.source`) matches `K` as an unanchored regex.
    fn mount_at(&self, arg: &FieldArg, by_dest: bool) -> Option<&Mount> {
        let info = self.container_info()?;
        let key = match arg {
            FieldArg::Index(i) => return info.mounts.get(*i as usize),
            FieldArg::Key(k) => k,
            FieldArg::None => return None,
        };
        if let Ok(idx) = key.parse::<usize>() {
            return info.mounts.get(idx);
        }
        let re = cached_regex(key)?;
        info.mounts.iter().find(|m| {
            re.is_match(if by_dest {
                m.dest.as_bytes()
            } else {
                m.source.as_bytes()
            })
        })
    }

    /// One part of the mount a `container.mount*[K]` field names; missing
    /// when no mount is named (Falco's field text says `none`, its code
    /// sets no value).
    fn mount_field(&self, t: F, arg: &FieldArg) -> Option<Value<'_>> {
        self.container()?;
        let m = self.mount_at(arg, t == F::ContainerMountSource)?;
        Some(match t {
            F::ContainerMount => Value::string(m.text()),
            F::ContainerMountSource => Value::str(m.source.as_bytes()),
            F::ContainerMountDest => Value::str(m.dest.as_bytes()),
            F::ContainerMountMode => Value::str(m.mode.as_bytes()),
            F::ContainerMountRdwr => Value::str(if m.rw { b"true" } else { b"false" }),
            _ => Value::str(m.propagation.as_bytes()),
        })
    }

    /// The health probe the event's process runs (Falco's thread
    /// category): walking from the topmost of its ancestors still in its
    /// container down to it, the first that is the container's init
    /// (vpid 1) makes it an ordinary container process, and the first
    /// whose command line (now or before an exec) is one of the
    /// container's probes makes it that probe. So a probe's children are
    /// probes too, and a command run by the container's own processes
    /// never is: only commands the runtime execs into the container from
    /// outside. Computed when asked, from
    /// the metadata at hand then (Falco decides at exec, and only if the
    /// metadata was known by then).
    fn probe_category(&self) -> Option<ProbeKind> {
        let p = self.process.as_ref()?;
        if p.container.is_host() {
            return None;
        }
        let info = self.container_info()?;
        if info.probes.is_empty() {
            return None;
        }
        // None: undecided; Some(None): under the container's init. A
        // process's older images count too: a probe's shell that execs its
        // command stays the probe, as Falco keeps a thread's category
        // across exec.
        let decide = |x: &Process, now: Option<Option<ProbeKind>>| {
            if x.vpid == 1 {
                return Some(None);
            }
            let hit = x
                .gens
                .iter()
                .filter_map(|g| g.image.as_deref())
                .find_map(|i| info.probe_of(&i.exe, &i.args));
            match hit {
                Some(k) => Some(Some(k)),
                None => now,
            }
        };
        let mut cat = decide(p, None);
        for a in self.chain() {
            if a.container.id != p.container.id {
                break;
            }
            cat = decide(a, cat);
        }
        cat.flatten()
    }

    fn label(&self, key: &str) -> Option<Value<'_>> {
        let info = self.container_info()?;
        info.labels.get(key).map(|v| Value::string(v.as_bytes()))
    }

    fn open_flags(&self) -> Option<u64> {
        *self.open_flags.get_or_init(|| {
            let (_, flags) = self.raw.ty().open_params()?;
            self.raw.param_u64(flags?)
        })
    }

    fn is_open_exec(&self) -> bool {
        let mode = self
            .raw
            .param_index("mode")
            .and_then(|k| self.raw.param_u64(k))
            .unwrap_or(0);
        match self.raw.info.name {
            "creat" => mode & 0o111 != 0,
            _ => self.open_flags().is_some_and(|f| {
                f & (flags::kernel_o::CREAT | flags::kernel_o::TMPFILE_BIT) != 0
                    && mode & 0o111 != 0
            }),
        }
    }

    fn is_syscall(&self) -> bool {
        self.raw.info.nr_x86_64.is_some() || is_exec_success(&self.raw)
    }

    fn image_field(&self, t: F) -> Option<Value<'_>> {
        let img = self.image()?;
        Some(match t {
            F::ProcExe => Value::str(&img.exe),
            F::ProcExepath => Value::str(&img.exepath),
            F::ProcArgs => Value::str(&img.args),
            F::ProcExeIno => return (img.exe_ino != 0).then_some(Value::U64(img.exe_ino)),
            F::ProcExeInoCtime => {
                return (img.exe_ino_ctime != 0).then_some(Value::U64(img.exe_ino_ctime))
            }
            F::ProcExeInoMtime => {
                return (img.exe_ino_mtime != 0).then_some(Value::U64(img.exe_ino_mtime))
            }
            F::ProcExeInoCtimeDur => {
                let start = self.process.as_ref()?.start_ts;
                if start == 0 || img.exe_ino_ctime == 0 {
                    return None;
                }
                Value::U64(self.ctx.epoch_ns(start).saturating_sub(img.exe_ino_ctime))
            }
            F::ProcIsExeWritable => {
                Value::Bool(img.exe_flags & crate::event::table::exe_flags::WRITABLE != 0)
            }
            F::ProcIsExeUpperLayer => {
                Value::Bool(img.exe_flags & crate::event::table::exe_flags::UPPER_LAYER != 0)
            }
            F::ProcIsExeFromMemfd => {
                Value::Bool(img.exe_flags & crate::event::table::exe_flags::FROM_MEMFD != 0)
            }
            _ => return None,
        })
    }

    fn parent_field(&self, t: F) -> Option<Value<'_>> {
        let p = self.ancestor(1)?;
        match t {
            F::ProcPname => Some(Value::str(&p.comm)),
            F::ProcPexe => p.image().map(|i| Value::str(&i.exe)),
            F::ProcPexepath => p.image().map(|i| Value::str(&i.exepath)),
            F::ProcPcmdline => p.image().map(|i| Value::string(cmdline(&p.comm, &i.args))),
            _ => None,
        }
    }

    fn fd_field(&self, t: F) -> Option<Value<'_>> {
        let fd = self.fd_view()?;
        let ends = fd.ip.as_ref();
        let ip = |e: Option<(IpAddr, u16)>| e.map(|(a, _)| Value::Ip(a));
        let port = |e: Option<(IpAddr, u16)>| e.map(|(_, p)| Value::U64(p as u64));
        match t {
            F::FdNum => Some(Value::I64(fd.num)),
            F::FdTypechar => Some(Value::Str(Cow::Owned(vec![fd.typechar]))),
            F::FdName => Some(Value::str(&fd.name)),
            F::FdNameraw => Some(Value::str(&fd.nameraw)),
            F::FdDirectory | F::FdFilename => {
                if !fd.file_like || fd.name.is_empty() {
                    return None;
                }
                if t == F::FdDirectory {
                    if fd.typechar == b'd' {
                        return Some(Value::str(&fd.name));
                    }
                    Some(Value::str(paths::dirname(&fd.name)))
                } else {
                    if fd.typechar == b'd' {
                        return None;
                    }
                    Some(Value::str(paths::basename(&fd.name)))
                }
            }
            _ if !fd.entry => None,
            F::FdType => fd.type_name.map(|n| Value::str(n.as_bytes())),
            F::FdSockfamily => match fd.typechar {
                b'4' | b'6' => Some(Value::str(b"ip")),
                b'u' if fd.type_name != Some("userfaultfd") => Some(Value::str(b"unix")),
                _ => None,
            },
            F::FdL4proto => Some(Value::str(
                ends.map_or("<NA>", |e| l4_name(e.l4proto)).as_bytes(),
            )),
            F::FdConnected => Some(Value::Bool(fd.connected)),
            F::FdNameChanged => Some(Value::Bool(fd.name_changed)),
            F::FdCip | F::FdCnet => ip(ends?.client),
            F::FdSip | F::FdSnet => ip(ends?.server),
            F::FdLip | F::FdLnet => ip(ends?.local()),
            F::FdRip | F::FdRnet => ip(ends?.remote()),
            F::FdCport => port(ends?.client),
            F::FdSport => port(ends?.server),
            F::FdLport => port(ends?.local()),
            F::FdRport => port(ends?.remote()),
            _ => None,
        }
    }

    fn fd_each(&self, t: F, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let Some(fd) = self.fd_view() else {
            return false;
        };
        let Some(e) = fd.ip.filter(|_| fd.entry) else {
            return false;
        };
        let eps: Vec<(IpAddr, u16)> = [e.client, e.server].into_iter().flatten().collect();
        if eps.is_empty() {
            return false;
        }
        for (a, p) in eps {
            let v = match t {
                F::FdIp | F::FdNet => Value::Ip(a),
                F::FdPort => Value::U64(p as u64),
                F::FdProto => match self.ctx.services.name(p, e.l4proto) {
                    Some(n) => Value::string(n.as_bytes()),
                    None => continue,
                },
                _ => return false,
            };
            if visit(v) {
                break;
            }
        }
        true
    }

    /// `evt.count.error*`: 1 if the call failed, else 0, for the events of
    /// the class (Falco's rules: by the type of the event's fd, or for
    /// events without one, failed opens are file, failed accepts and
    /// connects network); missing for other events and for events without
    /// a return value.
    fn error_count(&self, t: F) -> Option<Value<'static>> {
        if !self.has_ret() {
            return None;
        }
        #[derive(PartialEq)]
        enum Class {
            File,
            Net,
            Other,
        }
        let class = match self.fd_view().filter(|fd| fd.entry) {
            Some(fd) => match fd.typechar {
                b'f' | b'd' => Class::File,
                b'4' | b'6' | b'u' => Class::Net,
                _ => Class::Other,
            },
            None => match self.raw.info.name {
                "open" | "creat" | "openat" | "openat2" | "open_by_handle_at" => Class::File,
                "accept" | "accept4" | "connect" => Class::Net,
                _ => Class::Other,
            },
        };
        let counts = match t {
            F::EvtCountError => true,
            F::EvtCountErrorFile => class == Class::File,
            F::EvtCountErrorNet => class == Class::Net,
            // No memory-category event is captured.
            F::EvtCountErrorMemory => false,
            _ => class == Class::Other,
        };
        counts.then(|| Value::U64(u64::from(self.raw.hdr.ret < 0)))
    }

    /// The topmost of the process and its ancestors that share its
    /// session (`by_sid`) or process group, as Falco finds a session or
    /// group leader: `None` is the process itself, `Some(a)` an ancestor.
    /// Missing without a table entry or id.
    fn group_top(&self, by_sid: bool) -> Option<Option<&Process>> {
        let me = self.process.as_ref()?;
        let key = |p: &Process| if by_sid { p.sid } else { p.pgid };
        let id = key(me);
        if id == 0 {
            return None;
        }
        let mut top = None;
        if me.tgid != id {
            for a in self.chain() {
                if key(a) != id {
                    break;
                }
                top = Some(&**a);
                if a.tgid == id {
                    break;
                }
            }
        }
        Some(top)
    }

    /// `proc.sid.exe*` / `proc.vpgid.*` / `proc.pgid.*`: a field of the
    /// [`group_top`](Self::group_top) process.
    fn group_field(&self, t: F) -> Option<Value<'_>> {
        let by_sid = matches!(t, F::ProcSidExe | F::ProcSidExepath);
        let top = self.group_top(by_sid)?;
        let img = match top {
            None => self.image(),
            Some(p) => p.image().map(|i| &**i),
        };
        match t {
            F::ProcPgidName => Some(match top {
                None => Value::str(self.self_comm()),
                Some(p) => Value::string(p.comm.to_vec()),
            }),
            F::ProcSidExe | F::ProcPgidExe => img.map(|i| Value::string(i.exe.to_vec())),
            _ => img.map(|i| Value::string(i.exepath.to_vec())),
        }
    }

    /// `evt.abspath` (`dst`: `evt.abspath.dst`): the path parameter of the
    /// `*at` call made absolute against its directory fd, as Falco's
    /// table of (dirfd, path) pairs says; missing when that directory is
    /// unknown.
    fn abspath(&self, dst: bool) -> Option<Vec<u8>> {
        let raw = &self.raw;
        let path = match (raw.info.name, dst) {
            ("renameat" | "renameat2" | "linkat", false) => "oldpath",
            ("renameat" | "renameat2" | "linkat", true) => "newpath",
            ("symlinkat", _) => "linkpath",
            ("openat" | "openat2" | "unlinkat", _) => "name",
            ("mkdirat", _) => "path",
            ("fchmodat" | "fchmodat2", _) => "filename",
            ("fchownat", _) => "pathname",
            _ => return None,
        };
        let i = raw.param_index(path)?;
        let p = raw.param(i);
        if p.is_empty() {
            return None;
        }
        if p.first() == Some(&b'/') {
            return Some(paths::normalize(p));
        }
        let ParamKind::RelPath { dirfd, dirpath } = raw.info.params[i].kind else {
            return None;
        };
        self.rel_base(dirfd as usize, dirpath as usize)
            .and_then(|b| paths::resolve(&b, p))
    }

    /// `fs.path.*`: the path parameters of a successful filesystem call
    /// (Falco's fspath tables): as passed (`*raw`) or made absolute
    /// against the directory fd or the working directory.
    fn fs_path(&self, t: F) -> Option<Cow<'a, [u8]>> {
        let raw = &self.raw;
        let name = raw.info.name;
        let ok = match name {
            "open" | "openat" | "openat2" => raw.hdr.ret >= 0,
            _ => raw.hdr.ret == 0,
        };
        if !ok {
            return None;
        }
        let want_source = matches!(t, F::FsPathSource | F::FsPathSourceraw);
        let want_target = matches!(t, F::FsPathTarget | F::FsPathTargetraw);
        let is_raw = matches!(
            t,
            F::FsPathNameraw | F::FsPathSourceraw | F::FsPathTargetraw
        );
        let param = match name {
            "mkdir" | "mkdirat" | "rmdir" | "unlink" | "chown" | "lchown" => "path",
            "unlinkat" | "open" | "openat" | "openat2" | "umount" | "umount2" => "name",
            "chmod" | "fchmodat" | "fchmodat2" => "filename",
            "fchownat" => "pathname",
            "quotactl" => "special",
            "fchmod" | "fchown" => "fd",
            "rename" | "renameat" | "renameat2" if want_source => "oldpath",
            "rename" | "renameat" | "renameat2" if want_target => "newpath",
            "link" | "linkat" if want_source => "newpath",
            "link" | "linkat" if want_target => "oldpath",
            "symlink" | "symlinkat" if want_source => "linkpath",
            "symlink" | "symlinkat" if want_target => "target",
            "mount" if want_source => "dev",
            "mount" if want_target => "dir",
            _ => return None,
        };
        let two_paths = matches!(
            name,
            "rename"
                | "renameat"
                | "renameat2"
                | "link"
                | "linkat"
                | "symlink"
                | "symlinkat"
                | "mount"
        );
        if two_paths != (want_source || want_target) {
            return None;
        }
        if param == "fd" {
            // fchmod/fchown act on an open fd: its name.
            let fd = self.fd_view()?;
            return (!fd.name.is_empty()).then(|| fd.name.clone());
        }
        let i = raw.param_index(param)?;
        let p = raw.param(i);
        if is_raw {
            return Some(Cow::Borrowed(p));
        }
        if p.first() == Some(&b'/') {
            return Some(if paths::is_normal_absolute(p) {
                Cow::Borrowed(p)
            } else {
                Cow::Owned(paths::normalize(p))
            });
        }
        let abs = match raw.info.params[i].kind {
            ParamKind::RelPath { dirfd, dirpath } => self
                .rel_base(dirfd as usize, dirpath as usize)
                .and_then(|b| paths::resolve(&b, p)),
            // symlinkat's target is relative to the link's directory,
            // which Falco does not resolve either.
            _ if name == "symlinkat" => None,
            _ => self.cwd().and_then(|c| paths::resolve(c, p)),
        };
        abs.map(Cow::Owned)
    }

    /// The fd fields added for Falco 0.44's catalogue.
    fn fd_extra(&self, t: F) -> Option<Value<'_>> {
        let fd = self.fd_view()?;
        let ends = fd.ip.as_ref();
        let proto = |e: Option<(IpAddr, u16)>, l4: u8| {
            let (_, port) = e?;
            self.ctx
                .services
                .name(port, l4)
                .map(|n| Value::string(n.as_bytes()))
        };
        match t {
            F::FdUid => {
                (fd.num >= 0).then(|| Value::string(format!("{}{}", self.raw.hdr.tid, fd.num)))
            }
            F::FdContainername | F::FdContainerdirectory => {
                // The thread's container id as Falco's container plugin
                // keeps it: empty on the host.
                let c = self.container()?;
                let id = if c.is_host() {
                    String::new()
                } else {
                    c.short_id().to_string()
                };
                let part: &[u8] = if t == F::FdContainername {
                    &fd.name
                } else {
                    if !fd.file_like || fd.name.is_empty() {
                        return None;
                    }
                    if fd.typechar == b'd' {
                        &fd.name
                    } else {
                        paths::dirname(&fd.name)
                    }
                };
                let mut v = id.into_bytes();
                v.push(b':');
                v.extend_from_slice(part);
                Some(Value::string(v))
            }
            _ if !fd.entry => None,
            F::FdIsServer => Some(Value::Bool(ends.is_some_and(|e| !e.local_is_client))),
            F::FdCproto => proto(ends?.client, ends?.l4proto),
            F::FdSproto => proto(ends?.server, ends?.l4proto),
            F::FdLproto => proto(ends?.local(), ends?.l4proto),
            F::FdRproto => proto(ends?.remote(), ends?.l4proto),
            _ => None,
        }
    }

    fn container_field(&self, t: F) -> Option<Value<'_>> {
        let c = self.container()?;
        match t {
            F::ContainerId => return Some(Value::str(c.short_id().as_bytes())),
            F::ContainerFullId => return Some(Value::str(c.id.as_bytes())),
            F::ContainerType => return Some(Value::str(c.runtime.name().as_bytes())),
            F::ContainerStartTs => {
                let ts = self.process.as_ref()?.pidns_init_start_ts;
                return (ts != 0).then(|| Value::U64(self.ctx.epoch_ns(ts)));
            }
            F::ContainerDuration => {
                // Both on the boot clock: the event's time since the
                // container's init started.
                let ts = self.process.as_ref()?.pidns_init_start_ts;
                return (ts != 0).then(|| Value::U64(self.raw.hdr.ts_ns.saturating_sub(ts)));
            }
            _ => {}
        }
        let info = self.container_info()?;
        let s = |x: &str| Some(Value::string(x.as_bytes()));
        match t {
            F::ContainerName => s(&info.name),
            F::ContainerImage => s(&info.image),
            F::ContainerImageRepository => s(&info.image_repository),
            F::ContainerImageTag => s(&info.image_tag),
            F::ContainerImageId => s(&info.image_id),
            F::ContainerPrivileged => Some(Value::Bool(info.privileged)),
            F::ContainerMounts => Some(Value::string(info.mounts_text())),
            F::ContainerImageDigest => s(&info.image_digest),
            F::ContainerIp => s(&info.ip),
            // The pod from the CRI sandbox; a container without one
            // (Docker with Kubernetes labels, dockershim) by its labels.
            F::K8sNsName => match &info.pod {
                Some(p) => s(&p.namespace),
                None => self.label("io.kubernetes.pod.namespace"),
            },
            F::K8sPodName => match &info.pod {
                Some(p) => s(&p.name),
                None => self.label("io.kubernetes.pod.name"),
            },
            F::ContainerLabels => Some(Value::string(info.labels_text())),
            F::K8sPodUid | F::K8sPodId => match &info.pod {
                Some(p) => s(&p.uid),
                None => self.label("io.kubernetes.pod.uid"),
            },
            F::K8sPodSandboxId => {
                let p = info.pod.as_ref()?;
                s(p.sandbox_id.get(..12).unwrap_or(&p.sandbox_id))
            }
            F::K8sPodFullSandboxId => s(&info.pod.as_ref()?.sandbox_id),
            F::K8sPodLabels => Some(Value::string(info.pod.as_ref()?.labels_text())),
            F::K8sPodIp => s(&info.pod.as_ref()?.ip),
            F::ContainerHealthcheck => Some(Value::string(info.probe_text(ProbeKind::Healthcheck))),
            F::ContainerLivenessProbe => Some(Value::string(info.probe_text(ProbeKind::Liveness))),
            F::ContainerReadinessProbe => {
                Some(Value::string(info.probe_text(ProbeKind::Readiness)))
            }
            F::ContainerHostPid => Some(Value::Bool(info.host_pid)),
            F::ContainerHostNetwork => Some(Value::Bool(info.host_network)),
            F::ContainerHostIpc => Some(Value::Bool(info.host_ipc)),
            // Present and empty without a pod (Docker, podman), as the
            // container plugin; k8s.pod.cni.json is missing then.
            F::ContainerCniJson => s(info.pod.as_ref().map_or("", |p| &p.cni_result)),
            F::K8sPodCniJson => s(&info.pod.as_ref()?.cni_result),
            _ => None,
        }
    }
}

fn has_peer_or_addr(t: &SockTuple) -> bool {
    has_peer(t) || t.sport != 0 || t.saddr.iter().any(|&b| b != 0)
}

/// Which end connected when neither the event nor the cache says: the side
/// with the ephemeral (higher) port is the client.
fn guess_role(local: Option<(IpAddr, u16)>, peer: Option<(IpAddr, u16)>, ty: &str) -> Role {
    match (local, peer) {
        (Some((_, lp)), Some((_, pp))) if lp < pp && lp != 0 => Role::Server,
        (Some(_), None) if matches!(ty, "recvfrom" | "recvmsg") => Role::Server,
        _ => Role::Client,
    }
}

fn render_tag(typechar: u8, l4: Option<u8>) -> String {
    let mut s = String::from("<");
    s.push(typechar as char);
    if let Some(c) = l4.and_then(l4_char) {
        s.push(c);
    }
    s.push('>');
    s
}

fn cmdline(comm: &[u8], args: &[u8]) -> Vec<u8> {
    let mut v = comm.to_vec();
    if !args.is_empty() {
        v.push(b' ');
        v.extend_from_slice(args);
    }
    v
}

/// Text of a socket tuple parameter (`sip:sport->dip:dport`, the unix path,
/// or the file path).
fn fdinfo_text(fi: &FdInfo, path: &[u8]) -> Vec<u8> {
    let t = &fi.tuple;
    match t.family {
        af::INET | af::INET6 => {
            let mut s = String::new();
            endpoint_text(&mut s, ip_of(t.family, &t.saddr).map(|a| (a, t.sport)));
            s.push_str("->");
            endpoint_text(&mut s, ip_of(t.family, &t.daddr).map(|a| (a, t.dport)));
            s.into_bytes()
        }
        _ => path.to_vec(),
    }
}

fn sockaddr_text(t: &SockTuple, tail: &[u8]) -> Vec<u8> {
    match t.family {
        af::INET | af::INET6 => {
            // A caller-supplied address: the kernel mirror fills the peer
            // fields; fall back to the local ones.
            let (a, p) = if has_peer(t) {
                (&t.daddr, t.dport)
            } else {
                (&t.saddr, t.sport)
            };
            let mut s = String::new();
            endpoint_text(&mut s, ip_of(t.family, a).map(|ip| (ip, p)));
            s.into_bytes()
        }
        af::UNIX => tail.to_vec(),
        f => format!("family {f}").into_bytes(),
    }
}

fn cached_regex(key: &str) -> Option<Arc<regex::bytes::Regex>> {
    static CACHE: OnceLock<papaya::HashMap<Box<str>, Option<Arc<regex::bytes::Regex>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(papaya::HashMap::new);
    let g = cache.pin();
    if let Some(r) = g.get(key) {
        return r.clone();
    }
    let r = regex::bytes::Regex::new(key).ok().map(Arc::new);
    // Keys come from rules: a small set. Bound it anyway.
    if g.len() < 4096 {
        g.insert(key.into(), r.clone());
    }
    r
}

/// An environment (NUL-separated entries) as `proc.env` shows it: the
/// entries joined by spaces.
fn env_joined(env: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (i, e) in split_list(env).enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        out.extend_from_slice(e);
    }
    out
}

/// The value of variable `key` in an environment, trimmed as `proc.env[K]`
/// gives it; `None` if unset.
fn env_get<'e>(env: &'e [u8], key: &str) -> Option<&'e [u8]> {
    split_list(env).find_map(|e| {
        e.strip_prefix(key.as_bytes())
            .and_then(|r| r.strip_prefix(b"="))
            .map(<[u8]>::trim_ascii)
    })
}

/// Local date and time `YYYY-MM-DD HH:MM:SS.nnnnnnnnn` (`evt.datetime`).
pub fn local_datetime(epoch_ns: u64) -> String {
    let secs = (epoch_ns / 1_000_000_000) as i64;
    let local = secs + crate::output::time::local_offset_secs(secs);
    let (y, mo, d) = crate::output::time::civil_from_days(local.div_euclid(86_400));
    let sod = local.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02} {:02}:{:02}:{:02}.{:09}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60,
        epoch_ns % 1_000_000_000
    )
}

impl super::Extract for LiveEvent<'_> {
    fn extract(&self, f: &FieldRef) -> Option<Value<'_>> {
        let raw = &self.raw;
        let h = &raw.hdr;
        let t = tag(f);
        let d = f.def();
        if d.has(flag::EITHER_ENDPOINT) {
            return None;
        }
        match t {
            F::EvtNum => Some(Value::U64(self.evt_num)),
            F::EvtTime | F::EvtTimeIso | F::EvtRawtime => Some(Value::U64(self.epoch_ns())),
            F::EvtTimeS => {
                let mut s = String::new();
                crate::output::time::push_local_hms(&mut s, self.epoch_ns());
                s.truncate(8);
                Some(Value::string(s))
            }
            F::EvtDatetime => Some(Value::string(local_datetime(self.epoch_ns()))),
            F::EvtType => Some(Value::str(raw.info.name.as_bytes())),
            F::SyscallType => self
                .is_syscall()
                .then(|| Value::str(raw.info.name.as_bytes())),
            F::EvtCategory => Some(Value::str(raw.info.category.name().as_bytes())),
            F::EvtCpu => Some(Value::U64(h.cpu as u64)),
            F::EvtDir => Some(Value::str(b"<")),
            F::EvtRes => self.has_ret().then(|| {
                if h.ret >= 0 {
                    Value::str(b"SUCCESS")
                } else {
                    match flags::errno_name(h.ret) {
                        Some(n) => Value::str(n.as_bytes()),
                        None => Value::string(h.ret.to_string()),
                    }
                }
            }),
            F::EvtRawres => self.has_ret().then_some(Value::I64(h.ret)),
            F::EvtFailed => Some(Value::Bool(self.has_ret() && h.ret < 0)),
            F::EvtIsOpenRead => {
                Some(Value::Bool(self.open_flags().is_some_and(|f| {
                    matches!(f & flags::kernel_o::ACCMODE, 0 | 2)
                })))
            }
            F::EvtIsOpenWrite => {
                Some(Value::Bool(self.open_flags().is_some_and(|f| {
                    matches!(f & flags::kernel_o::ACCMODE, 1 | 2)
                })))
            }
            F::EvtIsOpenExec => Some(Value::Bool(self.is_open_exec())),
            F::EvtIsIoUring => Some(Value::Bool(crate::event::iouring::op_of(h).is_some())),
            F::EvtIoUringOp => {
                crate::event::iouring::op_of(h).map(|op| match crate::event::iouring::op_name(op) {
                    Some(n) => Value::str(n.as_bytes()),
                    None => Value::string(op.to_string()),
                })
            }
            F::EvtIsIo => Some(Value::Bool(raw.info.io_dir().is_some())),
            F::EvtIsIoRead => Some(Value::Bool(raw.info.io_dir() == Some(IoDir::Read))),
            F::EvtIsIoWrite => Some(Value::Bool(raw.info.io_dir() == Some(IoDir::Write))),
            F::EvtIoDir => raw.info.io_dir().map(|d| {
                Value::str(match d {
                    IoDir::Read => b"read".as_slice(),
                    IoDir::Write => b"write".as_slice(),
                })
            }),
            // Falco: the return value of an I/O call on an fd, when not an
            // error.
            F::EvtBuflen => (raw.info.io_dir().is_some() && self.has_ret() && h.ret >= 0)
                .then_some(Value::U64(h.ret as u64)),
            F::EvtArg => self.param_by_arg(f).map(|p| self.arg_value(p)),
            F::EvtRawarg => self.param_by_arg(f).and_then(|p| self.rawarg_value(p)),
            F::EvtArgs => Some(Value::string(self.args_text())),
            F::EvtBuffer => raw
                .param_index("data")
                .map(|i| Value::Bytes(Cow::Borrowed(raw.param(i)))),
            F::EvtHostname => Some(Value::str(self.ctx.hostname.as_bytes())),
            F::EvtLatency => Some(Value::U64(0)),

            F::ProcPid => Some(Value::I64(h.tgid as i64)),
            F::ProcPpid => Some(Value::I64(h.ptgid as i64)),
            F::ProcName => Some(Value::str(self.self_comm())),
            F::ThreadTid => Some(Value::I64(h.tid as i64)),
            F::ThreadCapEffective => Some(Value::string(flags::caps_text(h.cap_effective))),
            F::ThreadCapPermitted => Some(Value::string(flags::caps_text(h.cap_permitted))),
            F::ProcPname | F::ProcPexe | F::ProcPexepath | F::ProcPcmdline => self.parent_field(t),
            F::ProcAname
            | F::ProcAexe
            | F::ProcAexepath
            | F::ProcAcmdline
            | F::ProcApid
            | F::ProcAargs => {
                match f.arg {
                    FieldArg::Index(0) => self.anc_value(t, None),
                    FieldArg::Index(n) => {
                        let a = self.ancestor(n)?;
                        self.anc_value(t, Some(a))
                    }
                    _ => {
                        // Output rendering: every ancestor from the parent up.
                        let mut out = Vec::new();
                        let mut any = false;
                        for a in self.chain() {
                            let Some(v) = self.anc_value(t, Some(a)) else {
                                break;
                            };
                            if any {
                                out.push(b' ');
                            }
                            any = true;
                            match v {
                                Value::I64(n) => out.extend_from_slice(n.to_string().as_bytes()),
                                v => out.extend_from_slice(v.as_bytes().unwrap_or(&[])),
                            }
                        }
                        any.then(|| Value::string(out))
                    }
                }
            }
            F::ProcExe
            | F::ProcExepath
            | F::ProcArgs
            | F::ProcExeIno
            | F::ProcExeInoCtime
            | F::ProcExeInoMtime
            | F::ProcExeInoCtimeDur
            | F::ProcIsExeWritable
            | F::ProcIsExeUpperLayer
            | F::ProcIsExeFromMemfd => self.image_field(t),
            F::ProcCmdline => self.self_cmdline().map(Value::string),
            F::ProcCwd => {
                self.generation()?;
                self.image()?;
                Some(Value::str(self.cwd().unwrap_or(b"")))
            }
            F::ProcEnv => match &f.arg {
                FieldArg::Key(k) => self.env_value(Some(k)),
                _ => self.env_value(None),
            },
            F::ProcIsHealthcheck | F::ProcIsLivenessProbe | F::ProcIsReadinessProbe => {
                self.process.as_ref()?;
                let want = match t {
                    F::ProcIsHealthcheck => ProbeKind::Healthcheck,
                    F::ProcIsLivenessProbe => ProbeKind::Liveness,
                    _ => ProbeKind::Readiness,
                };
                Some(Value::Bool(self.probe_category() == Some(want)))
            }
            F::ProcVpid
            | F::ProcTty
            | F::ProcSid
            | F::ProcSname
            | F::ProcVpgid
            | F::ProcIsVpgidLeader
            | F::ProcDuration
            | F::ProcStartTs
            | F::ThreadVtid
            | F::ThreadCapInheritable => {
                let p = self.process.as_ref()?;
                match t {
                    F::ProcVpid => (p.vpid != 0).then_some(Value::I64(p.vpid as i64)),
                    F::ProcTty => Some(Value::U64(p.tty as u64)),
                    F::ProcSid => Some(Value::I64(p.sid as i64)),
                    F::ProcSname => Some(self.sname()),
                    F::ProcVpgid => (p.vpgid != 0).then_some(Value::I64(p.vpgid as i64)),
                    F::ProcIsVpgidLeader => Some(Value::Bool(p.vpid != 0 && p.vpgid == p.vpid)),
                    F::ProcDuration => (p.start_ts != 0 && h.ts_ns >= p.start_ts)
                        .then(|| Value::U64(h.ts_ns - p.start_ts)),
                    F::ProcStartTs => {
                        (p.start_ts != 0).then(|| Value::U64(self.ctx.epoch_ns(p.start_ts)))
                    }
                    F::ThreadVtid => {
                        if h.tid == h.tgid && p.vpid != 0 {
                            Some(Value::I64(p.vpid as i64))
                        } else if p.vpid == p.tgid {
                            Some(Value::I64(h.tid as i64))
                        } else {
                            None
                        }
                    }
                    F::ThreadCapInheritable => {
                        Some(Value::string(flags::caps_text(p.cap_inheritable)))
                    }
                    _ => None,
                }
            }

            F::FdNum
            | F::FdType
            | F::FdTypechar
            | F::FdName
            | F::FdNameraw
            | F::FdDirectory
            | F::FdFilename
            | F::FdSockfamily
            | F::FdL4proto
            | F::FdCip
            | F::FdSip
            | F::FdLip
            | F::FdRip
            | F::FdCport
            | F::FdSport
            | F::FdLport
            | F::FdRport
            | F::FdCnet
            | F::FdSnet
            | F::FdLnet
            | F::FdRnet
            | F::FdConnected
            | F::FdNameChanged => self.fd_field(t),
            // The name a rule's host name resolved to this address, as
            // Falco's DNS manager gives it; missing otherwise (the
            // matcher then compares addresses, RULES.md §3.15).
            F::FdDnsName => {
                let addr = match d.name {
                    "fd.cip.name" => F::FdCip,
                    "fd.sip.name" => F::FdSip,
                    "fd.lip.name" => F::FdLip,
                    _ => F::FdRip,
                };
                let Some(Value::Ip(ip)) = self.fd_field(addr) else {
                    return None;
                };
                let n = crate::matcher::DnsCache::global().name_of(ip)?;
                Some(Value::string(n.as_bytes()))
            }
            F::FdIp | F::FdPort | F::FdProto | F::FdNet => None,

            F::UserUid => Some(Value::U64(h.euid as u64)),
            F::GroupGid => Some(Value::U64(h.egid as u64)),
            F::UserLoginuid => Some(Value::I64(if h.loginuid == u32::MAX {
                -1
            } else {
                h.loginuid as i64
            })),
            F::UserName | F::UserLoginname | F::GroupName => {
                let c = self.user_container();
                let (id, name) = match t {
                    F::UserName => (h.euid, self.ctx.users.user_name(&c, h.tgid, h.euid)),
                    F::UserLoginname => (
                        h.loginuid,
                        (h.loginuid != u32::MAX)
                            .then(|| self.ctx.users.user_name(&c, h.tgid, h.loginuid))
                            .flatten(),
                    ),
                    _ => (h.egid, self.ctx.users.group_name(&c, h.tgid, h.egid)),
                };
                Some(Value::string(name_or_na(name.as_deref(), id).as_bytes()))
            }

            F::ContainerMount
            | F::ContainerMountDest
            | F::ContainerMountSource
            | F::ContainerMountMode
            | F::ContainerMountRdwr
            | F::ContainerMountPropagation => self.mount_field(t, &f.arg),
            F::ContainerLabel => match &f.arg {
                FieldArg::Key(k) => {
                    self.container()?;
                    self.label(k)
                }
                _ => None,
            },
            F::K8sPodLabel => match &f.arg {
                FieldArg::Key(k) => {
                    self.container()?;
                    let v = self.container_info()?.pod.as_ref()?.labels.get(&**k)?;
                    Some(Value::string(v.as_bytes()))
                }
                _ => None,
            },
            F::ContainerId
            | F::ContainerFullId
            | F::ContainerName
            | F::ContainerImage
            | F::ContainerImageRepository
            | F::ContainerImageTag
            | F::ContainerImageId
            | F::ContainerType
            | F::ContainerPrivileged
            | F::ContainerStartTs
            | F::ContainerMounts
            | F::K8sNsName
            | F::K8sPodName
            | F::K8sPodUid
            | F::K8sPodSandboxId
            | F::K8sPodFullSandboxId
            | F::K8sPodLabels
            | F::K8sPodIp
            | F::ContainerImageDigest
            | F::ContainerIp
            | F::ContainerHealthcheck
            | F::ContainerLivenessProbe
            | F::ContainerReadinessProbe
            | F::ContainerHostPid
            | F::ContainerHostNetwork
            | F::ContainerHostIpc
            | F::ContainerCniJson
            | F::ContainerLabels
            | F::ContainerDuration
            | F::K8sPodId
            | F::K8sPodCniJson => self.container_field(t),
            F::EvtDatetimeS => {
                let mut d = local_datetime(self.epoch_ns());
                d.truncate(19);
                Some(Value::string(d))
            }
            F::EvtRawtimeS => Some(Value::U64(self.epoch_ns() / 1_000_000_000)),
            F::EvtRawtimeNs => Some(Value::U64(self.epoch_ns() % 1_000_000_000)),
            F::EvtReltime | F::EvtReltimeS | F::EvtReltimeNs => {
                let start = self.ctx.capture_start_ns;
                if start == 0 || h.ts_ns < start {
                    return None;
                }
                let d = h.ts_ns - start;
                Some(Value::U64(match t {
                    F::EvtReltime => d,
                    F::EvtReltimeS => d / 1_000_000_000,
                    _ => d % 1_000_000_000,
                }))
            }
            F::EvtSource => Some(Value::str(b"syscall")),
            F::EvtIsAsync => Some(Value::Bool(false)),
            F::EvtAsynctype => None,
            F::EvtOutputtime => {
                let mut s = String::new();
                crate::output::time::push_local_hms(&mut s, self.epoch_ns());
                Some(Value::string(s))
            }
            F::EvtTypeIs => match &f.arg {
                FieldArg::Key(k) => Some(Value::U64(u64::from(raw.info.name == &**k))),
                _ => None,
            },
            F::EvtInfo => Some(Value::string(self.args_text())),
            F::EvtCount | F::EvtCountExit => Some(Value::U64(1)),
            F::EvtCountError
            | F::EvtCountErrorFile
            | F::EvtCountErrorNet
            | F::EvtCountErrorMemory
            | F::EvtCountErrorOther => self.error_count(t),
            F::EvtIsWait => Some(Value::Bool(matches!(
                raw.info.name,
                "epoll_wait" | "poll" | "ppoll" | "select" | "nanosleep"
            ))),
            F::EvtIsSyslog => {
                let writes = matches!(
                    raw.info.name,
                    "write"
                        | "writev"
                        | "pwrite"
                        | "pwritev"
                        | "send"
                        | "sendto"
                        | "sendmsg"
                        | "sendmmsg"
                        | "copy_file_range"
                );
                let syslog = writes
                    && self
                        .fd_view()
                        .is_some_and(|fd| fd.entry && fd.name.windows(8).any(|w| w == b"/dev/log"));
                Some(Value::Bool(syslog))
            }
            F::EvtAbspath | F::EvtAbspathSrc | F::EvtAbspathDst => {
                self.abspath(t == F::EvtAbspathDst).map(Value::string)
            }
            F::EvtLatencyHuman => Some(Value::str(b"0ns")),
            F::ProcAenv => {
                let level = match &f.arg {
                    FieldArg::None => Some(0),
                    FieldArg::Index(n) => Some(*n),
                    FieldArg::Key(k) => k.parse::<u32>().ok(),
                };
                match (level, &f.arg) {
                    (Some(0), _) => self.env_value(None),
                    (Some(n), _) => {
                        let a = self.ancestor(n)?;
                        a.image().map(|i| Value::string(env_joined(&i.env)))
                    }
                    (None, FieldArg::Key(k)) => {
                        // The first ancestor (from the parent, 20 levels
                        // at most) where the variable is set and not empty.
                        for a in self.chain().iter().take(20) {
                            let Some(i) = a.image() else { continue };
                            if let Some(v) = env_get(&i.env, k) {
                                if !v.is_empty() {
                                    return Some(Value::string(v.to_vec()));
                                }
                            }
                        }
                        Some(Value::string(""))
                    }
                    (None, _) => None,
                }
            }
            F::ProcCmdnargs => self.image().map(|i| Value::U64(u64::from(i.nargs))),
            F::ProcCmdlenargs => {
                // The argument text is the arguments joined by single
                // spaces: its length less the separators.
                let i = self.image()?;
                let seps = u64::from(i.nargs.saturating_sub(1));
                Some(Value::U64((i.args.len() as u64).saturating_sub(seps)))
            }
            F::ProcExeline => {
                // Falco's form: argv[0], a space, the arguments (so a
                // trailing space when there are none).
                let img = self.image()?;
                let mut v = img.exe.to_vec();
                v.push(b' ');
                v.extend_from_slice(&img.args);
                Some(Value::string(v))
            }
            F::ProcLoginshellid => {
                self.process.as_ref()?;
                // The oldest process, from this one up, whose name ends
                // in "sh" (Falco's test).
                let is_shell = |c: &[u8]| c.ends_with(b"sh");
                let mut found = is_shell(self.self_comm()).then_some(h.tgid);
                for a in self.chain() {
                    if is_shell(&a.comm) {
                        found = Some(a.tgid);
                    }
                }
                found.map(|p| Value::I64(p as i64))
            }
            F::ProcPvpid => {
                let p = self.ancestor(1)?;
                (p.vpid != 0).then_some(Value::I64(p.vpid as i64))
            }
            F::ProcSidExe
            | F::ProcSidExepath
            | F::ProcPgidName
            | F::ProcPgidExe
            | F::ProcPgidExepath => self.group_field(t),
            F::ProcPgid => {
                let p = self.process.as_ref()?;
                (p.pgid != 0).then_some(Value::I64(p.pgid as i64))
            }
            F::ProcIsSidLeader => {
                let p = self.process.as_ref()?;
                Some(Value::Bool(p.sid != 0 && p.sid == p.tgid))
            }
            F::ProcIsPgidLeader => {
                let p = self.process.as_ref()?;
                Some(Value::Bool(p.pgid != 0 && p.pgid == p.tgid))
            }
            F::ProcPidTs => {
                let p = self.process.as_ref()?;
                (p.start_ts != 0).then(|| Value::U64(self.ctx.epoch_ns(p.start_ts)))
            }
            F::ProcPpidTs | F::ProcPpidDuration => {
                let p = self.ancestor(1)?;
                if p.start_ts == 0 {
                    return None;
                }
                if t == F::ProcPpidTs {
                    Some(Value::U64(self.ctx.epoch_ns(p.start_ts)))
                } else {
                    (h.ts_ns >= p.start_ts).then(|| Value::U64(h.ts_ns - p.start_ts))
                }
            }
            F::ProcIsExeLowerLayer => {
                let img = self.image()?;
                Some(Value::Bool(
                    img.exe_flags & crate::event::table::exe_flags::LOWER_LAYER != 0,
                ))
            }
            F::ProcPidnsInitStartTs => {
                let ts = self.process.as_ref()?.pidns_init_start_ts;
                (ts != 0).then(|| Value::U64(self.ctx.epoch_ns(ts)))
            }
            F::ProcExeInoCtimeDurPidns => {
                // Only when the executable changed after the namespace's
                // init started (Falco's rule).
                let ts = self.process.as_ref()?.pidns_init_start_ts;
                let ctime = self.image()?.exe_ino_ctime;
                let start = self.ctx.epoch_ns(ts);
                (ts != 0 && ctime > start).then(|| Value::U64(ctime - start))
            }
            F::ThreadIsmain => Some(Value::Bool(h.tid == h.tgid)),
            F::UserHomedir | F::UserShell => {
                let c = self.user_container();
                let a = self.ctx.users.account(&c, h.tgid, h.euid)?;
                Some(Value::string(
                    if t == F::UserHomedir { a.home } else { a.shell }.as_bytes(),
                ))
            }
            F::FdIsServer
            | F::FdUid
            | F::FdContainername
            | F::FdContainerdirectory
            | F::FdCproto
            | F::FdSproto
            | F::FdLproto
            | F::FdRproto => self.fd_extra(t),
            F::FsPathName
            | F::FsPathNameraw
            | F::FsPathSource
            | F::FsPathSourceraw
            | F::FsPathTarget
            | F::FsPathTargetraw => self.fs_path(t).map(Value::Str),
            // Deprecated in the container plugin 0.7, which sets nothing.
            F::K8sDeprecated => None,
            F::Unknown => None,
        }
    }

    fn extract_each(&self, f: &FieldRef, visit: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        let t = tag(f);
        let d = f.def();
        if d.has(flag::EITHER_ENDPOINT) {
            return self.fd_each(t, visit);
        }
        if d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None {
            let mut any = false;
            for a in self.chain() {
                let Some(v) = self.anc_value(t, Some(a)) else {
                    break;
                };
                any = true;
                if visit(v) {
                    break;
                }
            }
            return any;
        }
        match self.extract(f) {
            Some(v) => {
                visit(v);
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalogue_field_is_dispatched() {
        for d in CATALOG {
            assert_ne!(tag_of(d.name), F::Unknown, "{} has no extractor", d.name);
        }
    }

    #[test]
    fn dates() {
        use crate::output::time::civil_from_days;
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn dots_rendering() {
        assert_eq!(dots(b"-la\0x\n"), b"-la.x.");
    }
}
