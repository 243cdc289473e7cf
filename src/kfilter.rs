//! The daemon's side of the kernel interest filter: the engine derives a
//! [`KernelFilter`] from the enabled rules; this turns it into the probe's
//! [`FilterProgram`], adding what kestrel's own state needs whatever the
//! rules say:
//!
//! - process state (fork, exec, exit, cwd, credentials, sessions:
//!   `kestrel_probe::events::PROCESS_STATE`) always passes;
//! - socket state (`socket`, `connect`, `accept`, `accept4`) always passes
//!   (and the daemon captures `accept`, `accept4` and `close` whenever a
//!   rule reads socket roles: [`needs_socket_roles`]),
//!   so the process table's socket cache sees every socket it would see
//!   without a filter, and the `close` of a socket whose `connect` or
//!   `accept` was emitted passes too (`TFF_SOCKFD`): a close of a file that
//!   no rule wants costs nothing in userspace.

use kestrel_engine::event::wire::{
    FClause, FilterProgram, TFilter, FR_ANY, FR_FAILURE, FR_SUCCESS, TFF_COMM, TFF_MARK, TFF_PATH,
    TFF_SOCKFD, TF_CLAUSES, TF_DROP,
};
use kestrel_engine::event::EventType;
use kestrel_engine::kfilter::{KernelFilter, RetCond, TypeFilter};
use kestrel_engine::matcher::RuleSet;

/// Event types whose every event kestrel's state needs.
const SOCKET_STATE: &[&str] = &["socket", "connect", "accept", "accept4"];

/// What the probe captures, beyond the rules' own types, when a rule reads
/// socket roles ([`needs_socket_roles`]): the accepts that make a socket a
/// server end (a dup of it in a forked child would otherwise have its
/// direction guessed from the ports), and the closes that end it (only
/// those of sockets pass the filter when no rule wants close:
/// `TFF_SOCKFD`). Cost: two events per accepted connection.
pub const SOCKET_ROLE_STATE: &[&str] = &["accept", "accept4", "close"];

/// Whether events of `types` can read which end of a connection a socket
/// is: a network event about an existing descriptor (connect, bind,
/// listen, sends and receives, the descriptor copies), whose `fd.*` client
/// and server fields come from the socket cache.
pub fn needs_socket_roles(types: &[EventType]) -> bool {
    types.iter().filter_map(|t| t.info()).any(|i| {
        i.category == kestrel_engine::event::wire::Category::Network
            && matches!(i.fd, kestrel_engine::event::table::FdUse::Param(_))
    })
}

/// Whether process or socket state needs every event of this type.
pub fn is_state_type(ty: EventType) -> bool {
    let name = ty.name();
    kestrel_probe::events::PROCESS_STATE.contains(&name) || SOCKET_STATE.contains(&name)
}

/// The filter the probe runs for `ruleset`: derived from the rules when
/// `enabled`, else one that passes everything.
pub fn derive(ruleset: &RuleSet, enabled: bool) -> KernelFilter {
    if enabled {
        KernelFilter::derive(ruleset)
    } else {
        KernelFilter::pass_all()
    }
}

/// The probe's program for `kf`, with kestrel's state needs added.
pub fn program(kf: &KernelFilter) -> FilterProgram {
    let mut types = Vec::new();
    for (id, t) in kf.types.iter().enumerate() {
        let Ok(id16) = u16::try_from(id) else {
            continue;
        };
        let ty = EventType(id16);
        if ty.info().is_none() || is_state_type(ty) {
            continue;
        }
        let close = ty.name() == "close";
        let f = match t {
            TypeFilter::PassAll => continue,
            TypeFilter::Nothing => TFilter {
                mode: TF_DROP,
                flags: if close { TFF_SOCKFD } else { 0 },
                ..TFilter::default()
            },
            TypeFilter::Clauses(cs) | TypeFilter::Mark(cs) => {
                let mut f = TFilter {
                    mode: TF_CLAUSES,
                    nclauses: cs.len().min(kestrel_engine::kfilter::MAX_CLAUSES) as u8,
                    flags: if close { TFF_SOCKFD } else { 0 },
                    ..TFilter::default()
                };
                if matches!(t, TypeFilter::Mark(_)) {
                    f.flags |= TFF_MARK;
                }
                for (slot, c) in f.c.iter_mut().zip(cs) {
                    if c.path_mask != 0 {
                        f.flags |= TFF_PATH;
                    }
                    if c.comm_mask != 0 {
                        f.flags |= TFF_COMM;
                    }
                    *slot = FClause {
                        path_mask: c.path_mask,
                        comm_mask: c.comm_mask,
                        flags_any: c.flags_any,
                        flags_none: c.flags_none,
                        acc_modes: c.acc_modes,
                        ret: match c.ret {
                            RetCond::Any => FR_ANY,
                            RetCond::Success => FR_SUCCESS,
                            RetCond::Failure => FR_FAILURE,
                        },
                        pad: [0; 6],
                    };
                }
                f
            }
        };
        types.push((id16, f));
    }
    FilterProgram {
        types,
        paths: kf
            .paths
            .iter()
            .map(|p| (p.pattern.clone(), p.exact, p.mask))
            .collect(),
        comms: kf.comms.iter().map(|c| (c.comm, c.mask)).collect(),
    }
}

/// What `--dry-run` and the start-up log say about the filter.
/// `captured`: the event types the probe captures (others are not
/// mentioned).
pub fn describe(kf: &KernelFilter, prog: &FilterProgram, captured: &[EventType]) -> String {
    let names = |mode: u8| -> Vec<&str> {
        prog.types
            .iter()
            .filter(|(id, f)| f.mode == mode && captured.contains(&EventType(*id)))
            .filter_map(|(id, _)| EventType(*id).info().map(|i| i.name))
            .collect()
    };
    let dropped = names(TF_DROP);
    let tested = names(TF_CLAUSES).len();
    let mut s = format!(
        "kernel interest filter: {tested} captured event types tested in the kernel, {} \
         dropped ({}), the others pass",
        dropped.len(),
        dropped.join(", ")
    );
    if prog.types.is_empty() {
        s = "kernel interest filter: off (every captured event reaches userspace)".into();
    }
    if log::log_enabled!(log::Level::Debug) {
        s.push('\n');
        s.push_str(&kf.describe());
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use kestrel_engine::event::EVENTS;
    use kestrel_engine::matcher::MatchOptions;

    #[test]
    fn the_default_rules_read_socket_roles() {
        // (This file is also compiled into tests/kfilter_kernel.rs: no
        // other module of the daemon is at hand.)
        let mut l = kestrel_engine::rules::Loader::new();
        let r = l.load_str(
            "kestrel_rules.yaml",
            include_str!("../rules/kestrel_rules.yaml"),
        );
        assert!(r.successful(), "{:?}", r.errors);
        let rs = RuleSet::build(l.rules(), &MatchOptions::default()).expect("builds");
        let set = rs.event_types();
        let types: Vec<EventType> = EVENTS
            .iter()
            .map(|e| e.ty)
            .filter(|t| set.contains(*t))
            .collect();
        // Reverse Shell Redirect reads fd.sport of dups and fcntls.
        assert!(needs_socket_roles(&types));
        // File rules alone do not.
        let files: Vec<EventType> = ["openat", "close", "unlinkat", "execve"]
            .iter()
            .filter_map(|n| EventType::from_name(n))
            .collect();
        assert!(!needs_socket_roles(&files));
        for n in SOCKET_ROLE_STATE {
            assert!(EventType::from_name(n).is_some(), "{n}");
        }
    }
}
