//! The conservativeness property, tested differentially: every event that
//! some enabled rule matches in userspace passes the kernel filter.
//!
//! Events are wire records built with [`EventBuilder`], applied to a real
//! [`ProcessTable`](crate::state::ProcessTable) and matched by the real
//! [`RuleSet`] on a real `LiveEvent`, the daemon's own path; the filter is
//! asked about [`KView::of_record`] of the same record. Paths come from the
//! rules' own literals and adversarial variants of them (`/etc/./shadow`,
//! `//etc/shadow`, `/tmp/../etc/shadow`, trailing slashes, paths relative to
//! the process's cwd or to a dirfd, paths longer than [`KPATH_MAX`], one
//! byte off), with random flags, return values, comms and threads.
//!
//! Rule sets: Falco's three reference files (each, and all together),
//! kestrel's default rules, and random rules over the fields the filter
//! abstracts (proptest). The tests also count how many events match and how
//! many non-matching ones the filter rejects, so that a filter that passes
//! everything, or events that never match, cannot make them pass vacuously.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;

use super::testutil::{
    generic_param, header, image_record, load_files, load_yaml, reference, repo_file, rules_yaml,
    ruleset, Proc, Rng, World,
};
use super::{is_open_family, KernelFilter, KPATH_MAX};
use crate::event::flags::kernel_o;
use crate::event::raw::comm_from;
use crate::event::table::ParamKind;
use crate::event::{EventBuilder, EventType, EVENTS};
use crate::matcher::RuleSet;
use crate::rules::ir::{CmpOp, Expr, Literal, Rhs};
use crate::rules::Rule;

// ------------------------------------------------------------ literal pools

/// Values drawn from the rules, to aim events at them.
#[derive(Debug, Default)]
struct Pools {
    /// Absolute paths some rule's path test accepts (or nearly).
    paths: Vec<String>,
    /// Directories (for cwds and dirfds).
    dirs: Vec<String>,
    /// Names rules compare process names with.
    comms: Vec<String>,
    /// Other string literals (for parameters of other event types).
    strings: Vec<String>,
}

const PATH_FIELDS: &[&str] = &[
    "fd.name",
    "fd.nameraw",
    "fd.directory",
    "fd.filename",
    "evt.arg",
];
const COMM_FIELDS: &[&str] = &["proc.name", "proc.pname", "proc.aname", "proc.sname"];

/// Instances of a glob: `*` as nothing, a word or two components, `?` as a
/// letter, a bracket expression as its first member.
fn glob_instances(p: &str) -> Vec<String> {
    let mut out = Vec::new();
    for star in ["", "a", "x/y"] {
        let mut s = String::new();
        let mut chars = p.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '*' => s.push_str(star),
                '?' => s.push('q'),
                '[' => {
                    let mut first = None;
                    for d in chars.by_ref() {
                        if d == ']' {
                            break;
                        }
                        if first.is_none() && d != '!' && d != '^' {
                            first = Some(d);
                        }
                    }
                    s.push(first.unwrap_or('z'));
                }
                '\\' => {
                    if let Some(d) = chars.next() {
                        s.push(d);
                    }
                }
                c => s.push(c),
            }
        }
        out.push(s);
    }
    out
}

impl Pools {
    fn of(rules: &[Rule]) -> Pools {
        let mut p = Pools::default();
        for r in rules {
            p.walk(&r.condition);
        }
        for d in [
            "/",
            "/etc",
            "/tmp",
            "/root",
            "/var/www/html",
            "/usr/bin",
            "/home/alice",
        ] {
            p.dirs.push(d.into());
        }
        for x in [
            "/tmp/kestrel-x",
            "/etc/shadow",
            "/usr/lib/libc.so.6",
            "/home/alice/f",
        ] {
            p.paths.push(x.into());
        }
        for v in [&mut p.paths, &mut p.dirs, &mut p.comms, &mut p.strings] {
            v.sort();
            v.dedup();
        }
        p
    }

    fn walk(&mut self, e: &Expr) {
        match e {
            Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|x| self.walk(x)),
            Expr::Not(x) => self.walk(x),
            Expr::Check(c) => {
                let Some(f) = c.lhs.field() else { return };
                let name = f.def().name;
                let lits: Vec<String> = match &c.rhs {
                    Rhs::Value(l) => vec![l],
                    Rhs::List(ls) => ls.iter().collect(),
                    _ => Vec::new(),
                }
                .into_iter()
                .filter_map(|l| match l {
                    Literal::Str(s) => Some(String::from_utf8_lossy(s).into_owned()),
                    _ => None,
                })
                .collect();
                for l in lits {
                    if COMM_FIELDS.contains(&name) {
                        self.comms.push(l);
                    } else if PATH_FIELDS.contains(&name) {
                        self.path_literal(name, c.op, &l);
                    } else {
                        self.strings.push(l);
                    }
                }
            }
        }
    }

    fn path_literal(&mut self, field: &str, op: CmpOp, l: &str) {
        let abs = |s: String| {
            if s.starts_with('/') {
                s
            } else {
                format!("/tmp/{s}")
            }
        };
        self.strings.push(l.to_string());
        let ps: Vec<String> = match (field, op) {
            ("fd.directory", _) => {
                self.dirs.push(abs(l.to_string()));
                vec![format!("{l}/passwd"), format!("{l}/ls"), l.to_string()]
            }
            ("fd.filename", _) => {
                vec![
                    format!("/usr/bin/{l}"),
                    format!("/etc/{l}"),
                    format!("/root/.ssh/{l}"),
                ]
            }
            (_, CmpOp::StartsWith) => vec![l.to_string(), format!("{l}x"), format!("{l}/f")],
            (_, CmpOp::PMatch) => vec![l.to_string(), format!("{l}/f"), format!("{l}x")],
            (_, CmpOp::Glob | CmpOp::IGlob) => glob_instances(l),
            (_, CmpOp::EndsWith) => vec![format!("/tmp/{l}"), format!("/etc{l}")],
            (_, CmpOp::Contains | CmpOp::IContains) => {
                vec![format!("/tmp/{l}x"), format!("/etc/{l}")]
            }
            _ => vec![l.to_string()],
        };
        for s in ps {
            let s = abs(s.replace("//", "/"));
            if let Some(i) = s.rfind('/') {
                if i > 0 {
                    self.dirs.push(s[..i].to_string());
                }
            }
            self.paths.push(s);
        }
    }
}

// ---------------------------------------------------------------- events

/// `target` relative to `base` (both absolute): `../` up to the root, then
/// down, unless `target` is below `base`.
fn relative_to(base: &str, target: &str) -> String {
    let b = base.trim_end_matches('/');
    if let Some(rest) = target.strip_prefix(b).and_then(|r| r.strip_prefix('/')) {
        if !rest.is_empty() {
            return rest.to_string();
        }
    }
    let depth = b.split('/').filter(|c| !c.is_empty()).count();
    format!("{}{}", "../".repeat(depth), target.trim_start_matches('/'))
}

/// A spelling of `t` for a process with cwd `cwd` (and optionally a dirfd
/// on `dir`): as is, or an adversarial or near-miss variant.
fn spell(rng: &mut Rng, t: &str, cwd: &str, dir: Option<&str>) -> String {
    let slash = t[1..].find('/').map(|i| i + 1);
    if rng.chance(0.5) {
        return t.to_string();
    }
    match rng.below(14) {
        0 => match slash {
            Some(i) => format!("{}/.{}", &t[..i], &t[i..]),
            None => format!("/.{t}"),
        },
        1 => format!("/{t}"),
        2 => match slash {
            Some(i) => format!("{}/{}", &t[..i], &t[i..]),
            None => format!("{t}/"),
        },
        3 => format!("/tmp/..{t}"),
        4 => format!("{t}/"),
        5 => format!("{t}/."),
        6 => relative_to(cwd, t),
        7 => relative_to(dir.unwrap_or(cwd), t),
        8 => format!("/{}/..{t}", "a".repeat(KPATH_MAX)),
        9 => format!("{t}x"),
        10 if t.len() > 2 => {
            let mut s = t.to_string();
            s.pop();
            s
        }
        11 => format!("/x../..{t}"),
        12 => format!("{t}/../{}", t.rsplit('/').next().unwrap_or("")),
        _ => t.to_string(),
    }
}

fn open_flags(rng: &mut Rng) -> u64 {
    use kernel_o as o;
    let mut f = *rng.pick(&[0u64, 0, 0, 1, 2, 2, 1, 3]);
    for b in [
        o::CREAT,
        o::TRUNC,
        o::CLOEXEC,
        o::APPEND,
        o::EXCL,
        o::DIRECTORY,
        o::TMPFILE_BIT | o::DIRECTORY,
        o::NONBLOCK,
        o::LARGEFILE,
        o::NOFOLLOW,
        o::DSYNC,
        o::SYNC_BIT | o::DSYNC,
        o::DIRECT,
        o::NOCTTY,
        0o10000000, // O_PATH
    ] {
        if rng.chance(0.12) {
            f |= b;
        }
    }
    f
}

fn ret_of(rng: &mut Rng, success: f64) -> i64 {
    if rng.chance(success) {
        *rng.pick(&[0i64, 1, 2, 3, 4, 7, 42, 1023])
    } else {
        *rng.pick(&[-1i64, -2, -13, -17, -20, -21, -40, -22, -600, -4095])
    }
}

/// Generates events for one world.
struct Gen<'p> {
    rng: Rng,
    pools: &'p Pools,
}

/// One generated record and the comm of its thread group leader.
struct Generated {
    rec: Vec<u8>,
    leader: [u8; 16],
}

impl Gen<'_> {
    fn comm(&mut self) -> String {
        if !self.pools.comms.is_empty() && self.rng.chance(0.6) {
            let c = self.rng.pick(&self.pools.comms).clone();
            // Also the 15-byte cut of a long name, as the kernel keeps it.
            c.chars()
                .take(if self.rng.chance(0.5) { 15 } else { 64 })
                .collect()
        } else {
            self.rng
                .pick(&[
                    "bash",
                    "cat",
                    "kestrel-loadgen",
                    "python3",
                    "worker",
                    "sshd",
                ])
                .to_string()
        }
    }

    /// The process, thread and comm of the next event; `None` as process:
    /// one the table does not know.
    fn who(&mut self, w: &World) -> (Proc, u32, String, [u8; 16]) {
        let mut p = self.rng.pick(&w.procs).clone();
        if self.rng.chance(0.04) {
            p = Proc {
                tgid: 900_000 + self.rng.below(1000) as u32,
                ptgid: 1,
                comm: self.comm(),
                cwd: "/".into(),
                exec_gen: 1,
            };
        }
        let main = self.rng.chance(0.8);
        let tid = if main {
            p.tgid
        } else {
            p.tgid + 1 + self.rng.below(5) as u32
        };
        let comm = if main && self.rng.chance(0.6) {
            p.comm.clone()
        } else {
            self.comm()
        };
        let leader = comm_from(self.comm().as_bytes());
        (p, tid, comm, leader)
    }

    fn target(&mut self) -> String {
        if self.rng.chance(0.85) {
            self.rng.pick(&self.pools.paths).clone()
        } else {
            self.rng
                .pick(&["/tmp/kestrel-x", "/proc/self/status", "/usr/lib/x.so", "/"])
                .to_string()
        }
    }

    fn open_event(&mut self, w: &World) -> Generated {
        let (p, tid, comm, leader) = self.who(w);
        let ty = *self.rng.pick(&[
            "openat", "openat", "openat", "openat", "open", "open", "openat2", "creat",
        ]);
        let info = EventType::from_name(ty)
            .and_then(EventType::info)
            .expect("open type");
        let t = self.target();
        let dir = self.rng.pick(&self.pools.dirs).clone();
        let use_dirfd = self.rng.chance(0.2);
        let path = spell(&mut self.rng, &t, &p.cwd, use_dirfd.then_some(&dir[..]));
        let flags = open_flags(&mut self.rng);
        let ret = ret_of(&mut self.rng, 0.75);
        let mut b = EventBuilder::new(info.ty, header(&p, tid, &comm, ret));
        for (i, prm) in info.params.iter().enumerate() {
            match (prm.name, prm.kind) {
                ("name", _) => b.bytes(path.as_bytes()),
                ("flags", _) => b.u64(if ty == "openat2" && self.rng.chance(0.1) {
                    flags | 1 << 40
                } else {
                    flags
                }),
                ("mode", _) => b.u64(*self.rng.pick(&[0u64, 0o644, 0o755, 0o4755, 0o600])),
                ("dirfd", _) => b.i64(if use_dirfd { 5 } else { -100 }),
                ("dirpath", _) => {
                    if use_dirfd && !path.starts_with('/') && self.rng.chance(0.9) {
                        b.bytes(dir.as_bytes())
                    } else {
                        b.bytes(b"")
                    }
                }
                (_, ParamKind::Flags(_)) => b.u64(self.rng.below(0x40) as u64),
                _ => {
                    generic_param(&mut b, info, i, &mut self.rng, &self.pools.strings);
                    &mut b
                }
            };
        }
        Generated {
            rec: b.finish(),
            leader,
        }
    }

    fn other_event(&mut self, w: &mut World) -> Generated {
        // Types that would rewrite the world's processes behind its back
        // (fork, exit, the scan, cwd changes) are left out.
        let skip = |name: &str| {
            matches!(
                name,
                "procfork" | "procexit" | "procinfo" | "chdir" | "fchdir"
            ) || is_open_family(EventType::from_name(name).unwrap_or_default())
        };
        let candidates: Vec<_> = EVENTS.iter().filter(|e| !skip(e.name)).collect();
        let info = *self.rng.pick(&candidates);
        let (p, tid, comm, leader) = self.who(w);
        if info.ty == EventType::EXECVE && self.rng.chance(0.6) {
            // A successful exec: the process gets a new image and name.
            let mut q = p.clone();
            q.exec_gen += 1;
            q.comm = self.comm();
            let exe = format!("/usr/bin/{}", q.comm);
            let h = header(&q, q.tgid, &q.comm, 0);
            let cg = if self.rng.chance(0.3) {
                format!("/system.slice/docker-{}.scope", super::testutil::CID)
            } else {
                "/user.slice".into()
            };
            let rec = image_record(EventType::EXECVE, h, &exe, &["-c", "id"], &q.cwd, &cg);
            if let Some(slot) = w.procs.iter_mut().find(|x| x.tgid == q.tgid) {
                *slot = q.clone();
            }
            return Generated {
                rec,
                leader: comm_from(q.comm.as_bytes()),
            };
        }
        let ret = ret_of(&mut self.rng, 0.7);
        let mut b = EventBuilder::new(info.ty, header(&p, tid, &comm, ret));
        for i in 0..info.params.len() {
            generic_param(&mut b, info, i, &mut self.rng, &self.pools.strings);
        }
        Generated {
            rec: b.finish(),
            leader,
        }
    }
}

// ----------------------------------------------------------------- runs

/// What one run saw.
#[derive(Debug, Default, Clone)]
struct Stats {
    events: u64,
    open_events: u64,
    matched: u64,
    matched_open: u64,
    /// Events no rule matched, and how many of them the filter rejected.
    unmatched: u64,
    rejected: u64,
    unmatched_open: u64,
    rejected_open: u64,
    /// Events emitted with the mark "no clause held".
    marked_off: u64,
    /// Matched events the filter rejected, or marked so that a matching
    /// rule would not be evaluated: must stay empty.
    false_negatives: Vec<String>,
    /// Matches per rule.
    per_rule: BTreeMap<String, u64>,
}

impl Stats {
    fn add(&mut self, o: &Stats) {
        self.events += o.events;
        self.open_events += o.open_events;
        self.matched += o.matched;
        self.matched_open += o.matched_open;
        self.unmatched += o.unmatched;
        self.rejected += o.rejected;
        self.unmatched_open += o.unmatched_open;
        self.rejected_open += o.rejected_open;
        self.marked_off += o.marked_off;
        self.false_negatives
            .extend(o.false_negatives.iter().cloned());
        for (k, v) in &o.per_rule {
            *self.per_rule.entry(k.clone()).or_insert(0) += v;
        }
    }

    fn summary(&self, name: &str) -> String {
        let pct = |a: u64, b: u64| {
            if b == 0 {
                0.0
            } else {
                100.0 * a as f64 / b as f64
            }
        };
        format!(
            "{name}: {} events ({} open family): {} matched ({:.1}%; open family {}), \
             {} rules fired; filter rejected {:.1}% of unmatched events \
             ({:.1}% of unmatched open-family events); false negatives: {}",
            self.events,
            self.open_events,
            self.matched,
            pct(self.matched, self.events),
            self.matched_open,
            self.per_rule.len(),
            pct(self.rejected, self.unmatched),
            pct(self.rejected_open, self.unmatched_open),
            self.false_negatives.len()
        )
    }
}

/// Describes a record for a failure message.
fn describe_record(rec: &[u8]) -> String {
    let raw = crate::event::RawEvent::parse(rec).expect("parses");
    let kv = super::KView::of_record(&raw);
    format!(
        "{} tid={} tgid={} ret={} flags={:?} path={:?} comm={:?} main={}",
        raw.info.name,
        raw.hdr.tid,
        raw.hdr.tgid,
        kv.ret,
        kv.flags.map(|f| format!("{f:#o}")),
        kv.path.map(String::from_utf8_lossy),
        String::from_utf8_lossy(raw.comm()),
        kv.main_thread
    )
}

/// Generates `n` events against `rules` and checks the property.
fn run(rules: &[Rule], filter: &KernelFilter, n: usize, seed: u64) -> Stats {
    let rs: RuleSet = ruleset(rules);
    let pools = Pools::of(rules);
    let mut rng = Rng::new(seed);
    let mut w = World::new(&pools.comms, &mut rng);
    let mut g = Gen { rng, pools: &pools };
    let mut st = Stats::default();
    for _ in 0..n {
        let open = g.rng.chance(0.75);
        let ev = if open {
            g.open_event(&w)
        } else {
            g.other_event(&mut w)
        };
        let o = w.observe_marked(&rs, filter, &ev.rec, ev.leader);
        let (matched, passes) = (o.matched, o.passes);
        st.marked_off += u64::from(o.marked_off);
        st.events += 1;
        st.open_events += u64::from(open);
        if matched.is_empty() {
            st.unmatched += 1;
            st.rejected += u64::from(!passes);
            if open {
                st.unmatched_open += 1;
                st.rejected_open += u64::from(!passes);
            }
        } else {
            st.matched += 1;
            st.matched_open += u64::from(open);
            for m in &matched {
                *st.per_rule.entry(m.clone()).or_insert(0) += 1;
            }
            if !o.admitted && st.false_negatives.len() < 20 {
                st.false_negatives
                    .push(format!("{matched:?} matched {}", describe_record(&ev.rec)));
            }
        }
    }
    st
}

fn assert_no_false_negatives(name: &str, st: &Stats) {
    assert!(
        st.false_negatives.is_empty(),
        "{name}: events matched in userspace but rejected by the kernel filter:\n{}",
        st.false_negatives.join("\n")
    );
}

// ---------------------------------------------------------- fixed rules

fn stable() -> Vec<Rule> {
    load_files(&[reference("falco_rules.yaml")])
}

fn default_rules() -> Vec<Rule> {
    load_files(&[repo_file("rules/kestrel_rules.yaml")])
}

/// The rule sets the daemon is documented with.
fn fixed_rule_sets() -> Vec<(&'static str, Vec<Rule>)> {
    let r = reference;
    vec![
        ("kestrel default rules", default_rules()),
        ("falco_rules.yaml", stable()),
        (
            "falco-incubating_rules.yaml",
            load_files(&[r("falco-incubating_rules.yaml")]),
        ),
        (
            "falco-sandbox_rules.yaml",
            load_files(&[r("falco-sandbox_rules.yaml")]),
        ),
        (
            "all three Falco files",
            load_files(&[
                r("falco_rules.yaml"),
                r("falco-incubating_rules.yaml"),
                r("falco-sandbox_rules.yaml"),
            ]),
        ),
    ]
}

/// With a rule the filter cannot constrain on the open family and close
/// (the zero-drop suite's adversarial rule), those types pass whole and
/// the default rules' clauses only mark events: every event a default
/// rule matches must carry the mark, and most of the others must not.
#[test]
fn kfilter_marks_every_event_a_constrained_rule_matches_beside_one_it_cannot() {
    let mut rules = default_rules();
    rules.extend(
        super::testutil::load_yaml(
            "- rule: Needs every open\n  desc: d\n  condition: evt.type in (open, openat, openat2, \
             close) and proc.aname[3] = kestrel-nonexistent-ancestor\n  output: o\n  priority: INFO\n",
        )
        .expect("loads"),
    );
    let rs = ruleset(&rules);
    let filter = KernelFilter::derive(&rs);
    let openat = EventType::from_name("openat").expect("openat").0 as usize;
    assert!(
        matches!(filter.types[openat], super::TypeFilter::Mark(_)),
        "openat: {:?}",
        filter.types[openat]
    );
    let last = (rs.len() - 1) as u32;
    assert_eq!(filter.always[openat], vec![last]);
    let st = run(&rules, &filter, 100_000, 0xadd);
    println!("{}", st.summary("default + every-open rule"));
    assert_no_false_negatives("default + every-open rule", &st);
    assert!(
        st.matched_open >= 100,
        "only {} open events matched",
        st.matched_open
    );
    assert!(
        st.marked_off * 4 >= st.unmatched_open,
        "only {} of {} unmatched open events marked off",
        st.marked_off,
        st.unmatched_open
    );
}

#[test]
fn kfilter_passes_every_event_the_reference_and_default_rules_match() {
    const EVENTS_PER_SET: usize = 100_000;
    for (i, (name, rules)) in fixed_rule_sets().into_iter().enumerate() {
        let rs = ruleset(&rules);
        let filter = KernelFilter::derive(&rs);
        let st = run(&rules, &filter, EVENTS_PER_SET, 0x5eed + i as u64);
        println!("{}", st.summary(name));
        assert_no_false_negatives(name, &st);
        // Not vacuous: rules fire, on open-family events too, and the
        // filter removes a real share of what no rule wants.
        assert!(
            st.matched >= 300,
            "{name}: only {} events matched",
            st.matched
        );
        assert!(
            st.matched_open >= 100,
            "{name}: only {} open events matched",
            st.matched_open
        );
        assert!(
            st.rejected_open * 4 >= st.unmatched_open,
            "{name}: filter rejected only {} of {} unmatched open events",
            st.rejected_open,
            st.unmatched_open
        );
    }
}

// --------------------------------------------------------- random rules

const PATH_VALUES: &[&str] = &[
    "/etc/shadow",
    "/etc",
    "/etc/",
    "/etc/pam.d",
    "/root/.ssh",
    "/root/.ssh/",
    "/usr/bin",
    "/usr/bin/ls",
    "/tmp",
    "/var/log",
    "/",
    "shadow",
    "../",
    "/home/*/.ssh/*",
    "/etc/*.conf",
    "*shadow*",
    "/etc/sudoers.d",
    "etc/shadow",
    "/dev/shm",
    "/proc/*/environ",
    "/var/www/html",
    "/a../b",
    "/etc//shadow",
    "/usr/[bs]bin",
    "ls",
    "passwd",
];

const COMM_VALUES: &[&str] = &[
    "bash",
    "sh",
    "cat",
    "sshd",
    "nginx",
    "kestrel-loadgen",
    "python3",
    "averyveryverylongname",
    "systemd",
    "",
];

fn quoted(v: &str) -> String {
    format!("\"{v}\"")
}

fn list_of(vs: &[&str]) -> String {
    format!(
        "({})",
        vs.iter().map(|v| quoted(v)).collect::<Vec<_>>().join(", ")
    )
}

fn path_leaf() -> impl Strategy<Value = String> {
    let field = prop::sample::select(vec![
        "fd.name",
        "fd.nameraw",
        "fd.directory",
        "fd.filename",
        "evt.arg.name",
        "evt.arg[1]",
        "evt.arg[2]",
    ]);
    let op = prop::sample::select(vec![
        "=",
        "!=",
        "in",
        "startswith",
        "endswith",
        "contains",
        "icontains",
        "glob",
        "iglob",
        "pmatch",
        "regex",
        "exists",
        "startswith anyof",
        "startswith allof",
        "= oneof",
        "glob anyof",
        ">",
    ]);
    let vals = prop::collection::vec(prop::sample::select(PATH_VALUES.to_vec()), 1..4);
    (field, op, vals).prop_map(|(f, op, vals)| match op {
        "exists" => format!("{f} exists"),
        // Ordering operators take a number token.
        ">" => format!("{f} > 5"),
        "in" | "pmatch" => format!("{f} {op} {}", list_of(&vals)),
        o if o.contains(' ') => format!("{f} {o} {}", list_of(&vals)),
        "regex" => format!(
            "{f} regex {}",
            quoted(&format!("{}.*", vals[0].replace('*', "")))
        ),
        _ => format!("{f} {op} {}", quoted(vals[0])),
    })
}

fn flag_leaf() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "evt.is_open_read = true",
        "evt.is_open_read = false",
        "evt.is_open_write = true",
        "evt.is_open_write = false",
        "evt.is_open_exec = true",
        "evt.is_open_exec = false",
        "evt.arg.flags contains O_TRUNC",
        "evt.arg.flags contains O_CREAT",
        "evt.arg.flags contains O_DIRECT",
        "evt.arg.flags contains O_RDWR",
        "evt.arg.flags contains O_RDONLY",
        "evt.arg.flags contains O_SYNC",
        "evt.arg.flags contains \"O_CREAT|O_EXCL\"",
        "evt.arg.flags = \"O_RDONLY|O_CLOEXEC\"",
        "evt.arg.flags = O_WRONLY",
        "evt.arg.flags icontains o_tmpfile",
        "evt.arg.flags startswith O_LARGEFILE",
        "evt.arg.flags endswith O_RDONLY",
        "evt.arg.flags in (O_RDONLY, O_WRONLY)",
        "evt.rawarg.flags = 577",
        "evt.rawarg.flags = 0",
        "evt.rawarg.flags in (524288, 524289, 2)",
        "evt.rawarg.flags > 64",
        "evt.arg[3] contains O_CREAT",
        "evt.arg[2] contains O_TRUNC",
        "fd.typechar = f",
        "fd.typechar = d",
        "fd.typechar = o",
        "fd.type = file",
        "fd.type = directory",
    ])
    .prop_map(str::to_string)
}

fn ret_leaf() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "evt.res = SUCCESS",
        "evt.res = ENOENT",
        "evt.res = EACCES",
        "evt.res != SUCCESS",
        "evt.res in (SUCCESS, ENOENT)",
        "evt.res startswith E",
        "evt.res contains 4",
        "evt.rawres >= 0",
        "evt.rawres < 0",
        "evt.rawres = -2",
        "evt.rawres in (0, 1, 2)",
        "evt.rawres > 5",
        "evt.failed = true",
        "evt.failed = false",
        "fd.num >= 0",
        "fd.num = -1",
        "fd.num > 5",
        "fd.num < 3",
        "evt.arg.fd exists",
        "evt.rawarg.fd >= 0",
    ])
    .prop_map(str::to_string)
}

fn comm_leaf() -> impl Strategy<Value = String> {
    let op = prop::sample::select(vec![
        "=",
        "in",
        "!=",
        "startswith",
        "= anyof",
        "glob",
        "pname",
        "aname0",
    ]);
    let vals = prop::collection::vec(prop::sample::select(COMM_VALUES.to_vec()), 1..4);
    (op, vals).prop_map(|(op, vals)| match op {
        "in" => format!("proc.name in {}", list_of(&vals)),
        "= anyof" => format!("proc.name = anyof {}", list_of(&vals)),
        "pname" => format!("proc.pname = {}", quoted(vals[0])),
        "aname0" => format!("proc.aname[0] = {}", quoted(vals[0])),
        _ => format!("proc.name {op} {}", quoted(vals[0])),
    })
}

fn type_leaf() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "evt.type = openat",
        "evt.type in (open, openat, creat)",
        "evt.type in (open, openat, openat2)",
        "evt.type != open",
        "evt.type = execve",
        "evt.type in (openat, execve, connect)",
        "evt.type = creat",
        "syscall.type = openat2",
    ])
    .prop_map(str::to_string)
}

fn condition() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        4 => path_leaf(),
        2 => flag_leaf(),
        2 => ret_leaf(),
        2 => comm_leaf(),
        2 => type_leaf(),
    ];
    let expr = leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|xs| format!("({})", xs.join(" and "))),
            prop::collection::vec(inner.clone(), 2..4)
                .prop_map(|xs| format!("({})", xs.join(" or "))),
            inner.prop_map(|x| format!("not ({x})")),
        ]
    });
    // Most rules name their event types, as real ones do.
    (expr, prop::option::weighted(0.7, type_leaf())).prop_map(|(e, t)| match t {
        Some(t) => format!("{t} and {e}"),
        None => e,
    })
}

fn random_rules() -> impl Strategy<Value = (Vec<String>, u64)> {
    (prop::collection::vec(condition(), 1..4), any::<u64>())
}

/// Loads, derives and runs one random rule set.
fn run_random(conds: &[String], seed: u64, n: usize) -> Stats {
    let rules = load_yaml(&rules_yaml(conds)).unwrap_or_else(|e| panic!("{conds:?}: {e}"));
    let rs = ruleset(&rules);
    let filter = KernelFilter::derive(&rs);
    let mut st = run(&rules, &filter, n, seed);
    for f in &mut st.false_negatives {
        f.push_str(&format!("\n  rules: {conds:?}"));
    }
    st
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn kfilter_passes_every_event_random_rules_match((conds, seed) in random_rules()) {
        let st = run_random(&conds, seed, 400);
        prop_assert!(
            st.false_negatives.is_empty(),
            "false negatives:\n{}",
            st.false_negatives.join("\n")
        );
    }
}

#[test]
fn kfilter_random_rules_are_not_vacuous() {
    // The same generator on a fixed seed, aggregated: enough events match,
    // and the filter rejects a share of the others.
    let mut runner = TestRunner::deterministic();
    let strat = random_rules();
    let mut total = Stats::default();
    for _ in 0..150 {
        let (conds, seed) = strat
            .new_tree(&mut runner)
            .expect("strategy generates")
            .current();
        total.add(&run_random(&conds, seed, 400));
    }
    println!("{}", total.summary("random rules (150 sets)"));
    assert_no_false_negatives("random rules", &total);
    assert!(
        total.matched * 50 >= total.events,
        "too few matches: {}",
        total.summary("random")
    );
    assert!(
        total.rejected * 10 >= total.unmatched,
        "too few rejections: {}",
        total.summary("random")
    );
}
