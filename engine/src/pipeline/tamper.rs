//! Self-protection alerts: the probe's `kestrel_tamper` records (another
//! process's attempt on kestrel, see `probe/bpf/hook_self.c`) and the
//! daemon's own probe integrity check become `kestrel internal: tamper
//! attempt` alerts, whatever the rules say, counted by kind in
//! `kestrel_tamper_events_total`.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::metrics::Counter;
use crate::event::RawEvent;
use crate::fields::live::LiveEvent;
use crate::fields::render::value_to_json;
use crate::fields::{resolve, Extract};
use crate::output::{Alert, CompiledOutputs};
use crate::rules::Priority;

/// The alert's name (after `kestrel internal: `).
pub const ALERT_NAME: &str = "tamper attempt";

/// What was attempted, by `KST_TK_*` code (`bpf/kestrel_wire.h`) minus
/// one; the last is the daemon's integrity check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TamperKind {
    /// bpf(2) `*_GET_FD_BY_ID` on one of kestrel's programs, maps, links.
    BpfGetFd = 0,
    /// bpf(2) writing one of kestrel's maps (update, delete, freeze, batch).
    BpfMapWrite,
    /// bpf(2) `LINK_UPDATE` / `LINK_DETACH` on one of kestrel's links.
    BpfLink,
    /// ptrace(2) on a kestrel thread.
    Ptrace,
    /// process_vm_readv/writev(2) on kestrel.
    ProcessVm,
    /// pidfd_getfd(2) taking one of kestrel's fds.
    PidfdGetfd,
    /// A stop or control signal sent to kestrel.
    Signal,
    /// The integrity check found a probe link detached or replaced.
    ProbeDetached,
    /// The integrity check found the probe's syscall table or event mask
    /// rewritten (and wrote it back).
    ProbeAltered,
}

impl TamperKind {
    /// Every kind, in code order.
    pub const ALL: [TamperKind; 9] = [
        TamperKind::BpfGetFd,
        TamperKind::BpfMapWrite,
        TamperKind::BpfLink,
        TamperKind::Ptrace,
        TamperKind::ProcessVm,
        TamperKind::PidfdGetfd,
        TamperKind::Signal,
        TamperKind::ProbeDetached,
        TamperKind::ProbeAltered,
    ];

    /// The kind of a record's `KST_TK_*` code.
    pub fn from_code(c: u64) -> Option<TamperKind> {
        match c {
            1..=7 => Some(TamperKind::ALL[c as usize - 1]),
            _ => None,
        }
    }

    /// The `kind` output field and metric label.
    pub fn name(self) -> &'static str {
        match self {
            TamperKind::BpfGetFd => "bpf_get_fd",
            TamperKind::BpfMapWrite => "bpf_map_write",
            TamperKind::BpfLink => "bpf_link",
            TamperKind::Ptrace => "ptrace",
            TamperKind::ProcessVm => "process_vm",
            TamperKind::PidfdGetfd => "pidfd_getfd",
            TamperKind::Signal => "signal",
            TamperKind::ProbeDetached => "probe_detached",
            TamperKind::ProbeAltered => "probe_altered",
        }
    }
}

/// Alerts raised per kind.
#[derive(Debug, Default)]
pub struct TamperCounters {
    n: [Counter; 9],
}

impl TamperCounters {
    /// Counts one attempt.
    pub fn count(&self, k: TamperKind) {
        self.n[k as usize].inc();
    }

    /// Attempts of kind `k` so far.
    pub fn get(&self, k: TamperKind) -> u64 {
        self.n[k as usize].get()
    }
}

/// Names of kestrel's BPF objects by `kind << 32 | id` (the probe's
/// `kst_self_ids` keys), for the alerts' `target` field. Set once by the
/// daemon after the probe loads.
static OBJECT_NAMES: OnceLock<HashMap<u64, String>> = OnceLock::new();

/// Records the names of kestrel's BPF objects (first call wins).
pub fn set_object_names(names: HashMap<u64, String>) {
    if OBJECT_NAMES.set(names).is_err() {
        log::debug!("self-protection: object names already set; kept the first");
    }
}

fn object_name(obj: u64, id: u64) -> String {
    let kind = match obj {
        1 => "program",
        2 => "map",
        3 => "link",
        _ => "object",
    };
    let name = OBJECT_NAMES
        .get()
        .and_then(|m| m.get(&(obj << 32 | (id & 0xffff_ffff))))
        .filter(|n| !n.is_empty());
    match name {
        Some(n) => format!("{kind} {n} (id {id})"),
        None => format!("{kind} id {id}"),
    }
}

/// The name of a bpf(2) command kestrel checks.
fn bpf_cmd_name(cmd: u64) -> String {
    let n = match cmd {
        2 => "BPF_MAP_UPDATE_ELEM",
        3 => "BPF_MAP_DELETE_ELEM",
        13 => "BPF_PROG_GET_FD_BY_ID",
        14 => "BPF_MAP_GET_FD_BY_ID",
        21 => "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
        22 => "BPF_MAP_FREEZE",
        25 => "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
        26 => "BPF_MAP_UPDATE_BATCH",
        27 => "BPF_MAP_DELETE_BATCH",
        29 => "BPF_LINK_UPDATE",
        30 => "BPF_LINK_GET_FD_BY_ID",
        34 => "BPF_LINK_DETACH",
        _ => return format!("bpf cmd {cmd}"),
    };
    n.to_string()
}

fn ptrace_request_name(r: u64) -> String {
    let n = match r {
        0 => "PTRACE_TRACEME",
        1 => "PTRACE_PEEKTEXT",
        2 => "PTRACE_PEEKDATA",
        4 => "PTRACE_POKETEXT",
        5 => "PTRACE_POKEDATA",
        16 => "PTRACE_ATTACH",
        17 => "PTRACE_DETACH",
        0x4206 => "PTRACE_SEIZE",
        0x4207 => "PTRACE_INTERRUPT",
        _ => return format!("ptrace request {r}"),
    };
    n.to_string()
}

fn signal_name(s: u64) -> String {
    let n = match s {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        10 => "SIGUSR1",
        12 => "SIGUSR2",
        15 => "SIGTERM",
        18 => "SIGCONT",
        19 => "SIGSTOP",
        20 => "SIGTSTP",
        _ => return format!("signal {s}"),
    };
    n.to_string()
}

/// The priority of an attempt: CRITICAL for everything that can blind or
/// subvert kestrel, WARNING for signals that stop or kill it (the probe
/// reports neither SIGHUP nor SIGUSR1, its reload and reopen controls)
/// and NOTICE for taking an fd of one of its objects by id (`bpftool prog
/// show` and `bpftool map show` do that for every object: a read, not a
/// change).
fn priority(kind: TamperKind) -> Priority {
    match kind {
        TamperKind::BpfGetFd => Priority::Notice,
        TamperKind::Signal => Priority::Warning,
        _ => Priority::Critical,
    }
}

/// The alert for one `kestrel_tamper` record, with the sender's process
/// fields as the rules would see them; `None` for an unknown kind.
pub fn alert(
    raw: &RawEvent<'_>,
    ev: &LiveEvent<'_>,
    outputs: &CompiledOutputs,
) -> Option<(TamperKind, Alert)> {
    let kind = TamperKind::from_code(raw.param_u64(0)?)?;
    let target = raw.param_u64(1).unwrap_or(0);
    let op = raw.param_u64(2).unwrap_or(0);
    let obj = raw.param_u64(3).unwrap_or(0);
    let res = raw.hdr.ret;
    let (target_s, op_s, what) = match kind {
        TamperKind::BpfGetFd => (
            object_name(obj, target),
            bpf_cmd_name(op),
            "took an fd of kestrel's",
        ),
        TamperKind::BpfMapWrite => (
            object_name(obj, target),
            bpf_cmd_name(op),
            "wrote kestrel's",
        ),
        TamperKind::BpfLink => (
            object_name(obj, target),
            bpf_cmd_name(op),
            "changed kestrel's",
        ),
        TamperKind::Ptrace => (
            format!("tid {target}"),
            ptrace_request_name(op),
            "ptraced kestrel",
        ),
        TamperKind::ProcessVm => (
            format!("pid {target}"),
            if op == 1 {
                "process_vm_writev"
            } else {
                "process_vm_readv"
            }
            .to_string(),
            "accessed kestrel's memory",
        ),
        TamperKind::PidfdGetfd => (
            format!("pid {target}"),
            format!("fd {op}"),
            "took an fd of kestrel",
        ),
        TamperKind::Signal => (
            format!("tid {target}"),
            signal_name(op),
            "signalled kestrel",
        ),
        TamperKind::ProbeDetached | TamperKind::ProbeAltered => return None,
    };
    let mut fields: Vec<(&str, serde_json::Value)> = vec![
        ("kind", kind.name().into()),
        ("target", target_s.clone().into()),
        ("op", op_s.clone().into()),
        ("res", res.into()),
    ];
    let mut name = String::new();
    for f in [
        "proc.name",
        "proc.pid",
        "proc.exepath",
        "proc.cmdline",
        "user.name",
        "container.id",
    ] {
        let v = resolve(f, None)
            .ok()
            .and_then(|r| ev.extract(&r).map(|v| value_to_json(&v)))
            .unwrap_or(serde_json::Value::Null);
        if f == "proc.name" {
            name = v.as_str().unwrap_or("?").to_string();
        }
        fields.push((f, v));
    }
    let msg = format!(
        "Tamper attempt: {name} (pid {}) {what} {target_s} ({op_s}, res {res})",
        raw.hdr.tgid
    );
    Some((
        kind,
        outputs.internal(ALERT_NAME, priority(kind), &msg, &fields),
    ))
}

/// The alert for what the integrity check found: a probe link detached
/// or replaced (`kind` probe_detached) or a configuration map rewritten
/// and written back (probe_altered).
pub fn integrity_alert(
    outputs: &CompiledOutputs,
    kind: TamperKind,
    target: &str,
    why: &str,
) -> Alert {
    let msg = match kind {
        TamperKind::ProbeDetached => format!("Tamper attempt: probe detached: {target} ({why})"),
        _ => format!("Tamper attempt: probe altered: {target} ({why})"),
    };
    outputs.internal(
        ALERT_NAME,
        Priority::Critical,
        &msg,
        &[
            ("kind", kind.name().into()),
            ("target", target.into()),
            ("op", why.into()),
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_wire_codes() {
        assert_eq!(TamperKind::from_code(1), Some(TamperKind::BpfGetFd));
        assert_eq!(TamperKind::from_code(2), Some(TamperKind::BpfMapWrite));
        assert_eq!(TamperKind::from_code(4), Some(TamperKind::Ptrace));
        assert_eq!(TamperKind::from_code(7), Some(TamperKind::Signal));
        assert_eq!(TamperKind::from_code(0), None);
        assert_eq!(TamperKind::from_code(8), None);
    }

    #[test]
    fn priorities_rank_blinding_above_stopping_above_reading() {
        assert_eq!(priority(TamperKind::BpfMapWrite), Priority::Critical);
        assert_eq!(priority(TamperKind::Ptrace), Priority::Critical);
        assert_eq!(priority(TamperKind::ProcessVm), Priority::Critical);
        assert_eq!(priority(TamperKind::Signal), Priority::Warning);
        assert_eq!(priority(TamperKind::BpfGetFd), Priority::Notice);
    }

    #[test]
    fn targets_are_named_when_known() {
        assert_eq!(object_name(2, 77), "map id 77");
        assert_eq!(bpf_cmd_name(2), "BPF_MAP_UPDATE_ELEM");
        assert_eq!(bpf_cmd_name(99), "bpf cmd 99");
        assert_eq!(signal_name(15), "SIGTERM");
        assert_eq!(ptrace_request_name(0x4206), "PTRACE_SEIZE");
    }
}
