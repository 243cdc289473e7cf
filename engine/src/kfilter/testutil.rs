//! Test support for the kernel filter: loading rules, a process world
//! with a table and context, and wire records of every event type, so that
//! the tests evaluate rules exactly as the daemon's workers do (decode,
//! apply to the table, `LiveEvent`, `RuleSet::matches`).

use std::path::PathBuf;

use crate::event::raw::comm_from;
use crate::event::table::{exec, FlagSet, ParamKind};
use crate::event::wire::{af, EventHdr, FdInfo, SockTuple, HF_SYNTHETIC};
use crate::event::{EventBuilder, EventInfo, EventType, RawEvent};
use crate::fields::live::LiveEvent;
use crate::matcher::{MatchOptions, RuleSet};
use crate::rules::{Loader, Rule};
use crate::state::container::{ContainerInfo, Containers};
use crate::state::users::{parse_id_file, NameDb};
use crate::state::{Context, ProcessTable, Users};

use super::{KView, KernelFilter};

/// A container id the world's containerised processes run in.
pub(super) const CID: &str = "3f1e5b2c9d8a7f6e5d4c3b2a19081726354a5b6c7d8e9f0a1b2c3d4e5f607182";

/// A file of the repository (rules/...) or of ../shared/reference.
pub(super) fn repo_file(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(rel)
}

/// Falco's reference file `name`.
pub(super) fn reference(name: &str) -> PathBuf {
    repo_file(&format!("../shared/reference/{name}"))
}

/// Loads files in order; panics on a load error.
pub(super) fn load_files(files: &[PathBuf]) -> Vec<Rule> {
    let mut l = Loader::new();
    for f in files {
        let r = l.load_file(f);
        assert!(r.successful(), "{}: {:?}", f.display(), r.errors);
    }
    l.rules().to_vec()
}

/// Loads rules from YAML text.
pub(super) fn load_yaml(text: &str) -> Result<Vec<Rule>, String> {
    let mut l = Loader::new();
    let r = l.load_str("test.yaml", text);
    if !r.successful() {
        return Err(format!("{:?}", r.errors));
    }
    Ok(l.rules().to_vec())
}

/// One rule per condition, as YAML.
pub(super) fn rules_yaml(conds: &[String]) -> String {
    let mut y = String::new();
    for (i, c) in conds.iter().enumerate() {
        y.push_str(&format!(
            "- rule: r{i}\n  desc: d\n  condition: {}\n  output: o\n  priority: WARNING\n",
            yaml_quote(c)
        ));
    }
    y
}

fn yaml_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The daemon's ruleset for `rules` (default options).
pub(super) fn ruleset(rules: &[Rule]) -> RuleSet {
    RuleSet::build(rules, &MatchOptions::default()).expect("ruleset builds")
}

/// A small deterministic generator (xorshift64*).
#[derive(Debug, Clone)]
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub(super) fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub(super) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }

    pub(super) fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

/// A process the world knows.
#[derive(Debug, Clone)]
pub(super) struct Proc {
    pub(super) tgid: u32,
    pub(super) ptgid: u32,
    pub(super) comm: String,
    pub(super) cwd: String,
    pub(super) exec_gen: u64,
}

/// A process table and context like the daemon's, with processes named
/// after the comms rules test.
pub(super) struct World {
    pub(super) table: ProcessTable,
    pub(super) ctx: Context,
    pub(super) procs: Vec<Proc>,
    pub(super) evt_num: u64,
}

/// Header of an event of `p` (main thread unless `tid` says otherwise).
pub(super) fn header(p: &Proc, tid: u32, comm: &str, ret: i64) -> EventHdr {
    EventHdr {
        ts_ns: 2_000_000_000,
        tid,
        tgid: p.tgid,
        ptgid: p.ptgid,
        ret,
        exec_gen: p.exec_gen,
        uid: 0,
        euid: 0,
        gid: 0,
        egid: 0,
        loginuid: u32::MAX,
        cap_effective: 1 << 21,
        cap_permitted: 1 << 21,
        cpu: 0,
        comm: comm_from(comm.as_bytes()),
        ..Default::default()
    }
}

/// An exec-style record (`procinfo` for the /proc scan, `execve` for an
/// exec) describing `p` running `exe` with `args`.
pub(super) fn image_record(
    ty: EventType,
    h: EventHdr,
    exe: &str,
    args: &[&str],
    cwd: &str,
    cgroup: &str,
) -> Vec<u8> {
    let mut argv = Vec::new();
    for s in std::iter::once(&exe).chain(args) {
        argv.extend_from_slice(s.as_bytes());
        argv.push(0);
    }
    let mut b = EventBuilder::new(ty, h);
    for (i, prm) in EventType::EXECVE
        .info()
        .expect("execve")
        .params
        .iter()
        .enumerate()
    {
        match i {
            exec::ARGV => b.bytes(&argv),
            exec::CWD => b.bytes(cwd.as_bytes()),
            exec::EXEPATH | exec::FILENAME => b.bytes(exe.as_bytes()),
            exec::ENV => b.bytes(b"HOME=/root\0"),
            exec::CGROUPS => b.bytes(format!("0::{cgroup}\0").as_bytes()),
            exec::SID | exec::VPID | exec::VPGID | exec::PGID => b.u64(h.tgid as u64),
            exec::TTY => b.u64(34816),
            _ => match prm.kind {
                ParamKind::Path | ParamKind::Str => b.bytes(b""),
                _ => b.u64(0),
            },
        };
    }
    b.finish()
}

impl World {
    /// A world with `comms` as processes (plus a few fixed ones), parents
    /// drawn among earlier processes, some in a container.
    pub(super) fn new(comms: &[String], rng: &mut Rng) -> World {
        let table = ProcessTable::new(1 << 16);
        let db = NameDb {
            users: parse_id_file("root:x:0:0::/:/bin/sh\nalice:x:1000:100::/:/bin/sh\n"),
            groups: parse_id_file("root:x:0:\nusers:x:100:\n"),
            ..Default::default()
        };
        let containers = Containers::disabled();
        containers.insert(ContainerInfo {
            id: CID.into(),
            name: "web".into(),
            image: "nginx:1.25".into(),
            image_repository: "nginx".into(),
            image_tag: "1.25".into(),
            privileged: true,
            ..Default::default()
        });
        let ctx = Context {
            users: Users::fixed(db),
            containers,
            hostname: "node-1".into(),
            boot_to_epoch_ns: 1_700_000_000_000_000_000,
            ..Default::default()
        };
        let mut w = World {
            table,
            ctx,
            procs: Vec::new(),
            evt_num: 0,
        };
        let fixed = [
            "systemd",
            "sshd",
            "bash",
            "sh",
            "nginx",
            "python3",
            "cat",
            "kestrel-loadgen",
        ];
        let cwds = [
            "/",
            "/root",
            "/etc",
            "/var/www/html",
            "/tmp",
            "/home/alice/.ssh",
            "/usr/bin",
        ];
        let mut names: Vec<String> = fixed.iter().map(|s| s.to_string()).collect();
        names.extend(comms.iter().take(120).cloned());
        for (i, name) in names.iter().enumerate() {
            let tgid = 100 + i as u32 * 10;
            let ptgid = if i == 0 {
                0
            } else {
                w.procs[rng.below(i)].tgid
            };
            let p = Proc {
                tgid,
                ptgid,
                comm: name.clone(),
                cwd: rng.pick(&cwds).to_string(),
                exec_gen: 1,
            };
            let mut h = header(&p, tgid, name, 0);
            h.flags = HF_SYNTHETIC;
            let cgroup = if rng.chance(0.3) {
                format!("/system.slice/docker-{CID}.scope")
            } else {
                "/user.slice".to_string()
            };
            let exe = format!("/usr/bin/{name}");
            let rec = image_record(EventType::PROCINFO, h, &exe, &["-x"], &p.cwd, &cgroup);
            w.table
                .apply(&RawEvent::parse(&rec).expect("procinfo parses"));
            w.procs.push(p);
        }
        w
    }

    /// Applies `rec` to the table and matches it as the worker does;
    /// returns the matching rules' names and whether `filter` passes the
    /// kernel's view of the record (with `leader_comm` for the leader).
    pub(super) fn observe(
        &mut self,
        rs: &RuleSet,
        filter: &KernelFilter,
        rec: &[u8],
        leader_comm: [u8; 16],
    ) -> (Vec<String>, bool) {
        let o = self.observe_marked(rs, filter, rec, leader_comm);
        (o.matched, o.passes)
    }

    /// [`World::observe`] with the probe's mark: whether every matched
    /// rule would still be evaluated in userspace (the event passes, and
    /// an event marked "no clause held" is matched only against the
    /// type's [`KernelFilter::always`] rules).
    pub(super) fn observe_marked(
        &mut self,
        rs: &RuleSet,
        filter: &KernelFilter,
        rec: &[u8],
        leader_comm: [u8; 16],
    ) -> Observed {
        let raw = RawEvent::parse(rec).expect("record parses");
        self.table.apply(&raw);
        self.evt_num += 1;
        let ev = LiveEvent::new(raw, &self.table, &self.ctx, self.evt_num);
        let mut out = Vec::new();
        rs.matches(raw.ty(), raw.info.name, &ev, &mut out);
        let mut kv = KView::of_record(&raw);
        if !kv.main_thread {
            kv.leader_comm = leader_comm;
        }
        let passes = filter.passes(&kv);
        let selected = filter.selected(&kv);
        let always = filter.always.get(raw.ty().0 as usize);
        let position = |r: &Rule| rs.enabled_rules().position(|e| std::ptr::eq(e, r));
        let admitted = passes
            && (selected != Some(false)
                || out.iter().all(|r| {
                    position(r).is_some_and(|i| always.is_some_and(|a| a.contains(&(i as u32))))
                }));
        Observed {
            matched: out.iter().map(|r| r.name.clone()).collect(),
            passes,
            admitted,
            marked_off: selected == Some(false),
        }
    }
}

/// What [`World::observe_marked`] saw of one event.
pub(super) struct Observed {
    /// Names of the rules that matched.
    pub(super) matched: Vec<String>,
    /// The filter lets the event through.
    pub(super) passes: bool,
    /// Every matched rule is still evaluated (see `observe_marked`).
    pub(super) admitted: bool,
    /// Emitted with the mark "no clause held".
    pub(super) marked_off: bool,
}

/// Random parameter bytes of kind `k` for events other than the open
/// family (whose path and flags the generator chooses itself).
pub(super) fn generic_param(
    b: &mut EventBuilder,
    info: &EventInfo,
    i: usize,
    rng: &mut Rng,
    strings: &[String],
) {
    match info.params[i].kind {
        ParamKind::Fd => {
            b.i64(*rng.pick(&[-100i64, 0, 1, 2, 3, 5, 17, -1]));
        }
        ParamKind::Int | ParamKind::Pid => {
            b.i64(*rng.pick(&[0i64, 1, 2, 100, -1, 4444, 31337, 65535]));
        }
        ParamKind::Uint | ParamKind::Hex | ParamKind::Uid | ParamKind::Gid => {
            b.u64(*rng.pick(&[0u64, 1, 2, 1000, 65534, u32::MAX as u64]));
        }
        ParamKind::Flags(set) | ParamKind::Enum(set) => {
            let v = match set {
                FlagSet::Namespaces => *rng.pick(&[0u64, 0x2000_0000, 0x1000_0000, 0x0002_0000]),
                FlagSet::PtraceRequest => *rng.pick(&[0u64, 16, 4, 5, 0x4206]),
                FlagSet::SocketFamily => *rng.pick(&[1u64, 2, 10, 16, 17]),
                // F_DUPFD, F_GETFD, F_SETFL, F_DUPFD_CLOEXEC, F_SETPIPE_SZ,
                // an unnamed one.
                FlagSet::FcntlCmd => *rng.pick(&[0u64, 1, 4, 1030, 1031, 1033]),
                _ => rng.next() & 0xffff,
            };
            b.u64(v);
        }
        ParamKind::Mode => {
            b.u64(*rng.pick(&[0u64, 0o644, 0o755, 0o4755, 0o2755]));
        }
        ParamKind::Path | ParamKind::RelPath { .. } | ParamKind::Str => {
            let v = if strings.is_empty() || rng.chance(0.2) {
                "/tmp/x".to_string()
            } else {
                rng.pick(strings).clone()
            };
            b.bytes(v.as_bytes());
        }
        ParamKind::Bytes => {
            b.bytes(b"\xca\xfe\xba\xbe hello");
        }
        ParamKind::StrList => {
            let v = if strings.is_empty() {
                "a".to_string()
            } else {
                rng.pick(strings).clone()
            };
            b.bytes(format!("{v}\0-c\0x\0").as_bytes());
        }
        ParamKind::FdInfo => {
            let kind = *rng.pick(&[b'f', b'd', b'4', b'6', b'u', 0u8]);
            let mut t = SockTuple::default();
            if matches!(kind, b'4' | b'6') {
                t.family = if kind == b'4' { af::INET } else { af::INET6 };
                t.l4proto = *rng.pick(&[6u8, 17]);
                t.sport = *rng.pick(&[40000u16, 4444, 80, 443, 22]);
                t.dport = *rng.pick(&[4444u16, 80, 443, 53, 6667]);
                t.saddr[..4].copy_from_slice(&[10, 0, 0, 1]);
                let d: &[u8; 4] = rng.pick(&[[127u8, 0, 0, 1], [8, 8, 8, 8]]);
                t.daddr[..4].copy_from_slice(d);
            }
            let fi = FdInfo {
                fd: 3,
                kind,
                pad: [0; 3],
                tuple: t,
            };
            let path = if (kind == b'f' || kind == b'd') && !strings.is_empty() {
                rng.pick(strings).clone()
            } else {
                String::new()
            };
            b.fdinfo(&fi, path.as_bytes());
        }
        ParamKind::SockAddr => {
            let mut t = SockTuple {
                family: af::INET,
                ..Default::default()
            };
            t.dport = *rng.pick(&[4444u16, 80, 443]);
            t.daddr[..4].copy_from_slice(&[1, 2, 3, 4]);
            b.sockaddr(&t);
        }
    }
}
