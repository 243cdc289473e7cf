//! Deriving the kernel filter from rule conditions: the abstract clause
//! algebra, the abstraction of each leaf check per event type, and the
//! assembly of per-type clause lists and path/comm sets.
//!
//! Every step only ever keeps or widens the set of events that pass: a
//! leaf abstracts to clauses it implies, `and` meets (each side alone would
//! also do), `or` unions, and every merge that bounds the size of a
//! disjunction is a join. What "implies" means for each field is checked
//! against `fields/live.rs` by the differential tests.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::event::flags::{self, kernel_o};
use crate::event::table::{EventInfo, FdUse, FlagSet, ParamKind, RetKind, EVENT_ID_LIMIT};
use crate::event::{EventType, EVENTS};
use crate::fields::{FieldArg, FieldRef, Value};
use crate::matcher::cstr;
use crate::matcher::interp;
use crate::matcher::testkit::MapEvent;
use crate::rules::ir::{CmpOp, Expr, Literal, Modifier, Operand, Rhs, TrArg};
use crate::rules::Rule;

use super::{
    kernel_testable_path, Clause, CommEntry, DeriveOptions, KernelFilter, PathEntry, PathPattern,
    RetCond, TypeFilter, KPATH_MAX, MAX_CLAUSES, MAX_COMM_ENTRIES, MAX_PATH_ENTRIES, MAX_SETS,
};

/// Clauses kept per sub-formula while abstracting one rule: enough to keep
/// an `or` of a few path lists and flag tests apart, small enough that the
/// pairwise `and` stays cheap.
const MAX_DNF: usize = 16;

/// Failure returns sampled exhaustively: every errno kestrel names
/// (`flags::errno_name`: the table and 512-516) lies above `-ERRNO_SAMPLED`,
/// and some unnamed ones too (a unit test checks).
pub(super) const ERRNO_SAMPLED: i64 = 1024;

/// Above this many atom pairs a path meet keeps one side instead of
/// computing the exact intersection (either side alone is implied).
const MAX_MEET_PAIRS: usize = 4096;

// ------------------------------------------------------------------ atoms

/// One member of a path set: the kernel trie's two kinds of entry.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum Atom {
    /// The whole path.
    Exact(Vec<u8>),
    /// Any path starting with these bytes.
    Prefix(Vec<u8>),
}

impl Atom {
    pub(super) fn pattern(&self) -> &[u8] {
        match self {
            Atom::Exact(p) | Atom::Prefix(p) => p,
        }
    }

    /// Every path this atom matches is matched by `o`.
    fn covered_by(&self, o: &Atom) -> bool {
        match (self, o) {
            (Atom::Exact(x), Atom::Exact(y)) => x == y,
            (Atom::Exact(x) | Atom::Prefix(x), Atom::Prefix(q)) => x.starts_with(q),
            (Atom::Prefix(_), Atom::Exact(_)) => false,
        }
    }

    /// The paths both match, if any (exact: the set of paths one prefix or
    /// exact path matches is closed under intersection).
    fn meet(&self, o: &Atom) -> Option<Atom> {
        if self.covered_by(o) {
            Some(self.clone())
        } else if o.covered_by(self) {
            Some(o.clone())
        } else {
            None
        }
    }

    /// A rough share of opened paths the atom matches, to choose merges.
    fn width(&self) -> f64 {
        match self {
            Atom::Exact(_) => 1e-4,
            Atom::Prefix(p) => {
                let comps = p.split(|&b| b == b'/').filter(|c| !c.is_empty()).count();
                0.25f64.powi(comps as i32).min(1.0)
            }
        }
    }
}

type PathSet = BTreeSet<Atom>;
type CommSet = BTreeSet<[u8; 16]>;

/// Drops atoms another atom of the set covers (the union is unchanged).
fn reduce_paths(s: PathSet) -> PathSet {
    let v: Vec<Atom> = s.into_iter().collect();
    let mut out = PathSet::new();
    for (i, a) in v.iter().enumerate() {
        // Distinct atoms never cover each other both ways.
        let covered = v.iter().enumerate().any(|(j, b)| i != j && a.covered_by(b));
        if !covered {
            out.insert(a.clone());
        }
    }
    out
}

fn paths_width(s: &PathSet) -> f64 {
    s.iter().map(Atom::width).sum::<f64>().min(1.0)
}

/// `a` matches only paths `b` matches.
fn paths_within(a: &PathSet, b: &PathSet) -> bool {
    a.iter().all(|x| b.iter().any(|y| x.covered_by(y)))
}

fn paths_meet(a: &PathSet, b: &PathSet) -> PathSet {
    if a.len() * b.len() > MAX_MEET_PAIRS {
        // Both are necessary; keep the narrower.
        return if paths_width(a) <= paths_width(b) {
            a.clone()
        } else {
            b.clone()
        };
    }
    let mut out = PathSet::new();
    for x in a {
        for y in b {
            if let Some(m) = x.meet(y) {
                out.insert(m);
            }
        }
    }
    reduce_paths(out)
}

// ---------------------------------------------------------------- clauses

pub(super) const RET_SUCCESS: u8 = 1;
pub(super) const RET_FAILURE: u8 = 2;
const RET_ANY: u8 = RET_SUCCESS | RET_FAILURE;
const ACC_ANY: u8 = 0b1111;
/// Flag bits other than the access mode (which `acc` holds).
const NON_ACC: u32 = !3;

/// A conjunction of kernel-testable conditions, before sets get bits.
/// `None` for path or comm means unconstrained; a path set holds for a
/// testable path that some atom matches (unknown paths always pass); a
/// comm set means "`proc.name` is one of these".
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct AClause {
    pub(super) ret: u8,
    pub(super) acc: u8,
    pub(super) any: u32,
    pub(super) none: u32,
    pub(super) path: Option<PathSet>,
    pub(super) comm: Option<CommSet>,
}

impl AClause {
    pub(super) fn top() -> AClause {
        AClause {
            ret: RET_ANY,
            acc: ACC_ANY,
            any: 0,
            none: 0,
            path: None,
            comm: None,
        }
    }

    fn is_top(&self) -> bool {
        *self == AClause::top()
    }

    /// Canonical form; `None` when no event can satisfy it.
    fn normalized(mut self) -> Option<AClause> {
        self.any &= NON_ACC;
        self.none &= NON_ACC;
        if self.ret == 0 || self.acc == 0 {
            return None;
        }
        if self.any != 0 {
            // At least one of `any` that is not excluded by `none`.
            self.any &= !self.none;
            if self.any == 0 {
                return None;
            }
        }
        if self.comm.as_ref().is_some_and(BTreeSet::is_empty) {
            // proc.name in {}: impossible. (An empty path set is not: unknown
            // paths still pass.)
            return None;
        }
        self.path = self.path.map(reduce_paths);
        Some(self)
    }

    fn meet(&self, o: &AClause) -> Option<AClause> {
        let any = match (self.any, o.any) {
            (0, x) | (x, 0) => x,
            // "one of A" and "one of B": keep the side that implies the
            // other, else the narrower (both are necessary).
            (a, b) if a & b == a => a,
            (a, b) if a & b == b => b,
            (a, b) if a.count_ones() <= b.count_ones() => a,
            (_, b) => b,
        };
        let path = match (&self.path, &o.path) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(paths_meet(a, b)),
        };
        let comm = match (&self.comm, &o.comm) {
            (None, x) | (x, None) => x.clone(),
            (Some(a), Some(b)) => Some(a.intersection(b).copied().collect()),
        };
        AClause {
            ret: self.ret & o.ret,
            acc: self.acc & o.acc,
            any,
            none: self.none | o.none,
            path,
            comm,
        }
        .normalized()
    }

    /// The narrowest clause this module can write that both imply.
    fn join(&self, o: &AClause) -> AClause {
        let any = if self.any == 0 || o.any == 0 {
            0
        } else {
            self.any | o.any
        };
        let path = match (&self.path, &o.path) {
            (Some(a), Some(b)) => Some(reduce_paths(a.union(b).cloned().collect())),
            _ => None,
        };
        let comm = match (&self.comm, &o.comm) {
            (Some(a), Some(b)) => Some(a.union(b).copied().collect()),
            _ => None,
        };
        AClause {
            ret: self.ret | o.ret,
            acc: self.acc | o.acc,
            any,
            none: self.none & o.none,
            path,
            comm,
        }
    }

    /// Every event `self` passes, `o` passes.
    fn implies(&self, o: &AClause) -> bool {
        self.ret & !o.ret == 0
            && self.acc & !o.acc == 0
            && o.none & !self.none == 0
            && (o.any == 0 || (self.any != 0 && self.any & !o.any == 0))
            && match (&self.path, &o.path) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => paths_within(a, b),
            }
            && match (&self.comm, &o.comm) {
                (_, None) => true,
                (None, Some(_)) => false,
                (Some(a), Some(b)) => a.is_subset(b),
            }
    }

    /// A rough share of events passing, to choose which clauses to merge.
    fn width(&self) -> f64 {
        let ret = match self.ret {
            RET_ANY => 1.0,
            RET_SUCCESS => 0.9,
            _ => 0.1,
        };
        const ACC_SHARE: [f64; 4] = [0.7, 0.15, 0.15, 0.001];
        let acc: f64 = (0..4)
            .filter(|i| self.acc & (1 << i) != 0)
            .map(|i| ACC_SHARE[i])
            .sum();
        let any = if self.any != 0 { 0.3 } else { 1.0 };
        let none = if self.none != 0 { 0.9 } else { 1.0 };
        let path = self.path.as_ref().map_or(1.0, paths_width);
        let comm = self
            .comm
            .as_ref()
            .map_or(1.0, |c| (0.02 * c.len() as f64).min(1.0));
        ret * acc * any * none * path * comm
    }

    /// Whether the join of two clauses is exactly their union: they differ
    /// in one attribute whose union is representable. `none` is not
    /// (`none A or none B` is narrower than `none A∩B`), nor an `any`
    /// against an unconstrained one.
    fn exact_join(&self, o: &AClause) -> bool {
        let diffs = [
            self.ret != o.ret,
            self.acc != o.acc,
            self.any != o.any && self.any != 0 && o.any != 0,
            self.any != o.any && (self.any == 0 || o.any == 0),
            self.none != o.none,
            self.path != o.path,
            self.comm != o.comm,
        ];
        let n = diffs.iter().filter(|d| **d).count();
        // Differing "any" with one side unconstrained, or differing "none",
        // lose precision when joined.
        n == 1 && !diffs[3] && !diffs[4]
    }
}

type Dnf = Vec<AClause>;

fn dnf_true() -> Dnf {
    vec![AClause::top()]
}

/// Removes clauses implied by another one and merges pairs whose join is
/// exactly their union (fewer clauses for the kernel, nothing lost).
fn simplify(v: Dnf) -> Dnf {
    let mut pending = v;
    let mut out: Dnf = Vec::with_capacity(pending.len());
    while let Some(c) = pending.pop() {
        if c.is_top() {
            return dnf_true();
        }
        if out.iter().any(|o| c.implies(o)) {
            continue;
        }
        out.retain(|o| !o.implies(&c));
        match out.iter().position(|o| o.exact_join(&c)) {
            // The union may now imply or join others: look at it again.
            Some(i) => {
                let o = out.swap_remove(i);
                pending.push(o.join(&c));
            }
            None => out.push(c),
        }
    }
    out
}

/// Simplifies and merges clauses until at most `limit` remain: first
/// merges that lose nothing, then the pair whose join widens least.
fn bound(v: Dnf, limit: usize) -> Dnf {
    let mut v = simplify(v);
    while v.len() > limit {
        let mut pick: Option<(usize, usize)> = None;
        'exact: for i in 0..v.len() {
            for j in i + 1..v.len() {
                if v[i].exact_join(&v[j]) {
                    pick = Some((i, j));
                    break 'exact;
                }
            }
        }
        if pick.is_none() {
            let mut best = f64::INFINITY;
            for i in 0..v.len() {
                for j in i + 1..v.len() {
                    let cost = v[i].join(&v[j]).width() - v[i].width().max(v[j].width());
                    if cost < best {
                        best = cost;
                        pick = Some((i, j));
                    }
                }
            }
        }
        let (i, j) = pick.expect("at least two clauses");
        let b = v.swap_remove(j);
        let a = v.swap_remove(i);
        v.push(a.join(&b));
        v = simplify(v);
    }
    v
}

fn dnf_and(a: &Dnf, b: &Dnf) -> Dnf {
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            if let Some(m) = x.meet(y) {
                out.push(m);
            }
        }
    }
    bound(out, MAX_DNF)
}

// ----------------------------------------------------------------- models

/// The kernel-visible inputs an event-type-local field can depend on.
#[derive(Debug, Clone, Copy)]
struct Point {
    ret: i64,
    /// Kernel open flags.
    flags: u64,
    /// The mode has an execute bit (`evt.is_open_exec`).
    xmode: bool,
}

/// How much of the return value a field reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RetDep {
    None,
    /// Only its sign.
    Sign,
    /// Its value (samples: every errno, the literal breakpoints).
    Full,
}

/// Kernel flag bits Falco's open-flag rendering reads
/// (`flags::open_flags_to_ppm`); the access mode is read too.
pub(super) const RENDER_BITS: u64 = kernel_o::CREAT
    | kernel_o::APPEND
    | kernel_o::DSYNC
    | kernel_o::EXCL
    | kernel_o::NONBLOCK
    | kernel_o::SYNC_BIT
    | kernel_o::TRUNC
    | kernel_o::DIRECT
    | kernel_o::DIRECTORY
    | kernel_o::LARGEFILE
    | kernel_o::CLOEXEC
    | kernel_o::TMPFILE_BIT;

/// A field whose value, for one event type, is a function of a [`Point`].
/// Each mirrors an extractor of `fields/live.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum PointField {
    /// `evt.res`: `SUCCESS`, the errno name, or the number.
    EvtRes,
    /// `evt.rawres` and `evt.rawarg.<ret>`.
    RawRes,
    /// `evt.failed`.
    Failed,
    /// `fd.num` of an event that returns its fd: the fd, -1 on failure.
    FdNumReturned,
    /// `evt.is_open_read` of open/openat/openat2.
    OpenRead,
    /// `evt.is_open_write` of open/openat/openat2.
    OpenWrite,
    /// `evt.is_open_exec` of open/openat/openat2.
    OpenExec,
    /// `evt.is_open_exec` of creat: the mode only.
    CreatExec,
    /// `evt.arg.flags` (by name or position) of open/openat/openat2.
    ArgFlags,
    /// `fd.typechar` of the open family: the failure's byte, and whether
    /// the event has open flags (creat has none: always a file).
    TypeChar(u8, bool),
    /// `fd.type` of the open family; whether the event has open flags.
    FdType(bool),
}

impl PointField {
    fn ret_dep(self) -> RetDep {
        match self {
            PointField::EvtRes | PointField::RawRes | PointField::FdNumReturned => RetDep::Full,
            PointField::Failed | PointField::TypeChar(..) | PointField::FdType(_) => RetDep::Sign,
            _ => RetDep::None,
        }
    }

    /// Kernel flag bits read (bits 0-1: the access mode).
    fn flag_bits(self) -> u64 {
        match self {
            PointField::OpenRead | PointField::OpenWrite => kernel_o::ACCMODE,
            PointField::OpenExec => kernel_o::CREAT | kernel_o::TMPFILE_BIT,
            PointField::ArgFlags => kernel_o::ACCMODE | RENDER_BITS,
            PointField::TypeChar(_, true) | PointField::FdType(true) => {
                kernel_o::DIRECTORY | kernel_o::TMPFILE_BIT
            }
            _ => 0,
        }
    }

    fn reads_mode(self) -> bool {
        matches!(self, PointField::OpenExec | PointField::CreatExec)
    }

    fn value(self, p: &Point) -> Option<Value<'static>> {
        use kernel_o as o;
        let dir_flags = p.flags & o::DIRECTORY != 0 && p.flags & o::TMPFILE_BIT == 0;
        Some(match self {
            PointField::EvtRes => {
                if p.ret >= 0 {
                    Value::str(b"SUCCESS")
                } else {
                    match flags::errno_name(p.ret) {
                        Some(n) => Value::str(n.as_bytes()),
                        None => Value::string(p.ret.to_string()),
                    }
                }
            }
            PointField::RawRes => Value::I64(p.ret),
            PointField::Failed => Value::Bool(p.ret < 0),
            PointField::FdNumReturned => Value::I64(if p.ret < 0 { -1 } else { p.ret }),
            PointField::OpenRead => Value::Bool(matches!(p.flags & o::ACCMODE, 0 | 2)),
            PointField::OpenWrite => Value::Bool(matches!(p.flags & o::ACCMODE, 1 | 2)),
            PointField::OpenExec => {
                Value::Bool(p.flags & (o::CREAT | o::TMPFILE_BIT) != 0 && p.xmode)
            }
            PointField::CreatExec => Value::Bool(p.xmode),
            PointField::ArgFlags => {
                match flags::render(FlagSet::Open, p.flags).filter(|s| !s.is_empty()) {
                    Some(s) => Value::string(s),
                    None => Value::string(p.flags.to_string()),
                }
            }
            PointField::TypeChar(fail, has_flags) => {
                let c = if p.ret < 0 {
                    fail
                } else if has_flags && dir_flags {
                    b'd'
                } else {
                    b'f'
                };
                Value::string(vec![c])
            }
            PointField::FdType(has_flags) => {
                if p.ret < 0 {
                    return None;
                }
                Value::str(if has_flags && dir_flags {
                    b"directory"
                } else {
                    b"file"
                })
            }
        })
    }
}

/// What a path-valued field of an open-family event is, for a testable
/// path `p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PathKind {
    /// `p` itself (`fd.name`, `fd.nameraw`, `evt.arg.name`, `evt.rawarg.name`).
    Name,
    /// `p` (a directory open) or its dirname (`fd.directory`).
    Dir,
    /// A substring of `p`, or missing (`fd.filename`).
    Sub,
}

/// How a field is abstracted for one event type.
#[derive(Debug, Clone)]
enum Model {
    /// The same value for every event of the type (`None`: missing).
    Const(Option<Value<'static>>),
    Point(PointField),
    Path(PathKind),
    /// `proc.name`.
    Comm,
    /// `evt.rawarg.flags` of open/openat/openat2.
    RawFlags,
    /// `evt.arg.cmd` of fcntl.
    FcntlCmd,
    /// Nothing the kernel sees decides it.
    Unknown,
}

fn is_open_family(info: &EventInfo) -> bool {
    info.ty.open_params().is_some()
}

/// Which parameter an `evt.arg`/`evt.rawarg` reference names, following
/// `LiveEvent::find_param` and `visible_params` for open-family events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpenParam {
    Ret,
    Name,
    Flags,
    Other,
    Missing,
}

fn open_param(info: &EventInfo, arg: &FieldArg) -> OpenParam {
    // Open-family events return an fd, named `fd` (RetKind::Fd).
    debug_assert_eq!(info.ret, RetKind::Fd);
    let classify = |i: usize| match info.params[i].name {
        "name" => OpenParam::Name,
        "flags" if matches!(info.params[i].kind, ParamKind::Flags(FlagSet::Open)) => {
            OpenParam::Flags
        }
        _ => OpenParam::Other,
    };
    match arg {
        FieldArg::Key(k) if &**k == "fd" || &**k == "res_or_fd" => OpenParam::Ret,
        FieldArg::Key(k) => match info.params.iter().position(|p| p.name == &**k) {
            Some(i) => classify(i),
            None => OpenParam::Missing,
        },
        FieldArg::Index(0) => OpenParam::Ret,
        FieldArg::Index(n) => {
            let visible: Vec<usize> = (0..info.params.len())
                .filter(|&i| !info.params[i].hidden)
                .collect();
            match visible.get(*n as usize - 1) {
                Some(&i) => classify(i),
                None => OpenParam::Missing,
            }
        }
        FieldArg::None => OpenParam::Missing,
    }
}

fn model(info: &EventInfo, f: &FieldRef, opts: &DeriveOptions) -> Model {
    let open = is_open_family(info);
    let has_ret = info.ret != RetKind::None;
    let open_flags = matches!(info.name, "open" | "openat" | "openat2");
    match f.def().name {
        "evt.type" => Model::Const(Some(Value::str(info.name.as_bytes()))),
        "syscall.type" if info.nr_x86_64.is_some() => {
            Model::Const(Some(Value::str(info.name.as_bytes())))
        }
        "evt.category" => Model::Const(Some(Value::str(info.category.name().as_bytes()))),
        "evt.dir" => Model::Const(Some(Value::str(b"<"))),
        "evt.res" if has_ret => Model::Point(PointField::EvtRes),
        "evt.rawres" if has_ret => Model::Point(PointField::RawRes),
        "evt.res" | "evt.rawres" => Model::Const(None),
        "evt.failed" if has_ret => Model::Point(PointField::Failed),
        "evt.failed" => Model::Const(Some(Value::Bool(false))),
        "fd.num" => match info.fd {
            FdUse::Returns => Model::Point(PointField::FdNumReturned),
            FdUse::None => Model::Const(None),
            FdUse::Param(_) => Model::Unknown,
        },
        "evt.is_open_read" if open_flags => Model::Point(PointField::OpenRead),
        "evt.is_open_write" if open_flags => Model::Point(PointField::OpenWrite),
        "evt.is_open_exec" if open_flags => Model::Point(PointField::OpenExec),
        "evt.is_open_exec" if info.name == "creat" => Model::Point(PointField::CreatExec),
        // No open flags: always present and false.
        "evt.is_open_read" | "evt.is_open_write" | "evt.is_open_exec" => {
            Model::Const(Some(Value::Bool(false)))
        }
        "evt.arg" | "evt.rawarg" if open => {
            let raw = f.def().name == "evt.rawarg";
            match (open_param(info, &f.arg), raw) {
                (OpenParam::Ret, false) => Model::Unknown,
                (OpenParam::Ret, true) => Model::Point(PointField::RawRes),
                (OpenParam::Name, _) => Model::Path(PathKind::Name),
                (OpenParam::Flags, false) => Model::Point(PointField::ArgFlags),
                (OpenParam::Flags, true) => Model::RawFlags,
                (OpenParam::Other, _) => Model::Unknown,
                (OpenParam::Missing, _) => Model::Const(None),
            }
        }
        "fd.name" | "fd.nameraw" if open => Model::Path(PathKind::Name),
        "fd.directory" if open => Model::Path(PathKind::Dir),
        "fd.filename" if open => Model::Path(PathKind::Sub),
        "fd.typechar" if open => Model::Point(PointField::TypeChar(
            if info.name == "open" { b'o' } else { b'f' },
            open_flags,
        )),
        "fd.type" if open => Model::Point(PointField::FdType(open_flags)),
        "evt.arg" if info.ty == EventType::FCNTL && is_fcntl_cmd(info, &f.arg) => Model::FcntlCmd,
        "proc.name" if opts.comm_sets => Model::Comm,
        _ => Model::Unknown,
    }
}

/// Whether an `evt.arg` reference of fcntl names its `cmd` (by name or
/// by position: the return value is `evt.arg[0]`, as in
/// `LiveEvent::visible_params`).
fn is_fcntl_cmd(info: &EventInfo, arg: &FieldArg) -> bool {
    let cmd = info.params.iter().position(|p| p.name == "cmd");
    match arg {
        FieldArg::Key(k) => &**k == "cmd",
        FieldArg::Index(n) if *n > 0 => {
            (0..info.params.len())
                .filter(|&i| !info.params[i].hidden)
                .nth(*n as usize - 1)
                == cmd
        }
        _ => false,
    }
}

/// The one field an operand reads (through transformers), if exactly one.
fn sole_field(o: &Operand) -> Option<&FieldRef> {
    fn walk<'a>(o: &'a Operand, found: &mut Option<&'a FieldRef>, ok: &mut bool) {
        match o {
            Operand::Field(f) => match found {
                Some(g) if *g != f => *ok = false,
                _ => *found = Some(f),
            },
            Operand::Transform(_, args) => {
                for a in args {
                    walk_arg(a, found, ok);
                }
            }
        }
    }
    fn walk_arg<'a>(a: &'a TrArg, found: &mut Option<&'a FieldRef>, ok: &mut bool) {
        match a {
            TrArg::Operand(o) => walk(o, found, ok),
            TrArg::Literal(_) => {}
            TrArg::List(xs) => xs.iter().for_each(|x| walk_arg(x, found, ok)),
        }
    }
    let mut found = None;
    let mut ok = true;
    walk(o, &mut found, &mut ok);
    found.filter(|_| ok)
}

/// Return values to evaluate a `RetDep::Full` field at: every errno kestrel
/// names and some it does not, both signs' extremes, small fds, and each
/// integer literal of the check with its neighbours (numeric comparisons
/// are constant between consecutive literals, so one sample per interval
/// decides them).
fn ret_samples(c: &crate::rules::ir::Check) -> Vec<i64> {
    let mut s: BTreeSet<i64> = BTreeSet::new();
    s.extend(-ERRNO_SAMPLED..=16);
    s.extend([
        i64::MIN,
        i64::MIN + 1,
        -65536,
        -4096,
        -4095,
        -4000,
        255,
        256,
        1023,
        1024,
        65535,
        65536,
        i32::MAX as i64,
        u32::MAX as i64,
        i64::MAX - 1,
        i64::MAX,
    ]);
    let mut lit = |l: &Literal| {
        let v = match l {
            Literal::I64(v) => Some(*v as i128),
            Literal::U64(v) => Some(*v as i128),
            Literal::Str(b) => std::str::from_utf8(cstr(b))
                .ok()
                .and_then(|t| t.trim().parse::<i128>().ok()),
            _ => None,
        };
        if let Some(v) = v {
            for d in [-1i128, 0, 1] {
                if let Ok(x) = i64::try_from(v + d) {
                    s.insert(x);
                }
            }
        }
    };
    match &c.rhs {
        Rhs::Value(l) => lit(l),
        Rhs::List(ls) => ls.iter().for_each(&mut lit),
        _ => {}
    }
    s.into_iter().collect()
}

/// Every combination of the bits in `mask` (the access mode counts as one
/// four-valued bit pair).
fn flag_points(mask: u64) -> Vec<u64> {
    let accs: &[u64] = if mask & kernel_o::ACCMODE != 0 {
        &[0, 1, 2, 3]
    } else {
        &[0]
    };
    let bits: Vec<u64> = (2..64)
        .map(|i| 1u64 << i)
        .filter(|b| mask & b != 0)
        .collect();
    let mut out = Vec::with_capacity(accs.len() << bits.len());
    for sub in 0u64..(1 << bits.len()) {
        let mut v = 0;
        for (i, b) in bits.iter().enumerate() {
            if sub & (1 << i) != 0 {
                v |= b;
            }
        }
        for a in accs {
            out.push(v | a);
        }
    }
    out
}

/// The narrowest single clause covering `pts` on the flag bits `mask`.
fn flags_clause(mask: u64, pts: &[u64]) -> AClause {
    let mut c = AClause::top();
    if mask & kernel_o::ACCMODE != 0 {
        c.acc = pts.iter().fold(0, |m, f| m | (1 << (f & 3)));
    }
    let other = (mask & !kernel_o::ACCMODE) as u32;
    let seen = pts.iter().fold(0u32, |m, f| m | (*f as u32 & other));
    c.none = other & !seen;
    if seen != 0 && pts.iter().all(|f| *f as u32 & seen != 0) {
        c.any = hitting_set(seen, pts);
    }
    c
}

/// A small set of bits such that every point has one of them set (every
/// point has some bit of `seen`): singletons, then pairs, then triples,
/// else all of `seen`.
fn hitting_set(seen: u32, pts: &[u64]) -> u32 {
    let bits: Vec<u32> = (0..32)
        .map(|i| 1u32 << i)
        .filter(|b| seen & b != 0)
        .collect();
    let hits = |m: u32| pts.iter().all(|f| *f as u32 & m != 0);
    for &a in &bits {
        if hits(a) {
            return a;
        }
    }
    for (i, &a) in bits.iter().enumerate() {
        for &b in &bits[i + 1..] {
            if hits(a | b) {
                return a | b;
            }
        }
    }
    for (i, &a) in bits.iter().enumerate() {
        for (j, &b) in bits.iter().enumerate().skip(i + 1) {
            for &c in &bits[j + 1..] {
                if hits(a | b | c) {
                    return a | b | c;
                }
            }
        }
    }
    seen
}

// ----------------------------------------------------------- path leaves

/// Substrings a testable path (and so every value a path field derives
/// from it) never contains.
fn impossible_in_testable(s: &[u8]) -> bool {
    s.contains(&0)
        || s.windows(2).any(|w| w == b"//")
        || s.windows(3).any(|w| w == b"/./" || w == b"../")
}

/// Literal runs every match of a glob contains (split at wildcards, bracket
/// expressions and escapes; conservative: shorter runs are still implied).
pub(super) fn glob_runs(p: &[u8]) -> Vec<&[u8]> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            b'*' | b'?' | b'\\' | b'[' => {
                if i > start {
                    runs.push(&p[start..i]);
                }
                match p[i] {
                    // A bracket expression: skip to its end (a `]` right after
                    // `[` or `[!` is a member); no end: stop, the rest is not
                    // known to be literal.
                    b'[' => {
                        let mut j = i + 1;
                        if matches!(p.get(j), Some(b'!' | b'^')) {
                            j += 1;
                        }
                        if p.get(j) == Some(&b']') {
                            j += 1;
                        }
                        match p[j.min(p.len())..].iter().position(|&b| b == b']') {
                            Some(k) => i = j + k + 1,
                            None => return runs,
                        }
                    }
                    b'\\' => i += 2,
                    _ => i += 1,
                }
                start = i;
            }
            _ => i += 1,
        }
    }
    if start < p.len() {
        runs.push(&p[start..]);
    }
    runs
}

/// The bytes before the first glob metacharacter, and whether that is the
/// whole pattern.
fn glob_prefix(p: &[u8]) -> (&[u8], bool) {
    match p
        .iter()
        .position(|b| matches!(b, b'*' | b'?' | b'[' | b'\\'))
    {
        Some(i) => (&p[..i], false),
        None => (p, true),
    }
}

fn one(c: AClause) -> Dnf {
    vec![c]
}

fn path_clause(atoms: PathSet) -> Dnf {
    one(AClause {
        path: Some(reduce_paths(atoms)),
        ..AClause::top()
    })
}

/// Only unknown paths can satisfy it.
fn no_testable_path() -> Dnf {
    path_clause(PathSet::new())
}

fn prefix_atom(p: &[u8]) -> Dnf {
    if p.is_empty() || p == b"/" {
        return dnf_true();
    }
    if p[0] != b'/' || p.len() > KPATH_MAX || impossible_in_testable(p) {
        return no_testable_path();
    }
    path_clause(PathSet::from([Atom::Prefix(p.to_vec())]))
}

fn exact_atom(p: &[u8]) -> Dnf {
    if kernel_testable_path(p) {
        path_clause(PathSet::from([Atom::Exact(p.to_vec())]))
    } else {
        no_testable_path()
    }
}

/// `fd.directory = d`: a directory open of `d` or a file directly below.
fn dir_atoms(d: &[u8]) -> Dnf {
    if d == b"/" {
        return dnf_true();
    }
    if !kernel_testable_path(d) {
        return no_testable_path();
    }
    let mut below = d.to_vec();
    below.push(b'/');
    if below.len() > KPATH_MAX {
        return exact_atom(d);
    }
    path_clause(PathSet::from([
        Atom::Exact(d.to_vec()),
        Atom::Prefix(below),
    ]))
}

/// `pmatch` of one listed path: equal to or below it, component-wise
/// (a component with `*`, `?` or `[` is a glob that cannot cross `/`).
fn pmatch_atoms(l: &[u8]) -> Dnf {
    let mut lit: Vec<&[u8]> = Vec::new();
    let mut glob = false;
    for comp in l.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        if comp.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
            glob = true;
            break;
        }
        if comp == b"." || comp == b".." {
            // No testable path has such a component.
            return no_testable_path();
        }
        lit.push(comp);
    }
    if lit.is_empty() {
        return dnf_true();
    }
    let mut d = Vec::new();
    for c in &lit {
        d.push(b'/');
        d.extend_from_slice(c);
    }
    if glob {
        d.push(b'/');
        prefix_atom(&d)
    } else {
        dir_atoms(&d)
    }
}

/// One literal of a positive check on a path field of an open-family
/// event, for testable paths.
fn path_literal(kind: PathKind, op: CmpOp, l: &[u8]) -> Dnf {
    // The value is a substring of the path: a literal every match must
    // contain that no testable path contains rules the check out.
    let needs_substring = match op {
        CmpOp::Eq | CmpOp::In | CmpOp::Intersects | CmpOp::Contains | CmpOp::StartsWith => {
            Some(vec![l])
        }
        CmpOp::EndsWith => Some(vec![l]),
        CmpOp::IContains if !l.iter().any(u8::is_ascii_alphabetic) => Some(vec![l]),
        CmpOp::Glob => Some(glob_runs(l)),
        CmpOp::IGlob => Some(
            glob_runs(l)
                .into_iter()
                .filter(|r| !r.iter().any(u8::is_ascii_alphabetic))
                .collect(),
        ),
        _ => None,
    };
    if needs_substring.is_some_and(|rs| rs.iter().any(|r| impossible_in_testable(r))) {
        return no_testable_path();
    }
    match (kind, op) {
        (PathKind::Name, CmpOp::Eq | CmpOp::In | CmpOp::Intersects) => exact_atom(l),
        (PathKind::Dir, CmpOp::Eq | CmpOp::In | CmpOp::Intersects) => dir_atoms(l),
        // Both the path and its dirname start like the value does.
        (PathKind::Name | PathKind::Dir, CmpOp::StartsWith) => prefix_atom(l),
        (PathKind::Name | PathKind::Dir, CmpOp::Glob) => match glob_prefix(l) {
            (whole, true) => path_literal(kind, CmpOp::Eq, whole),
            (pre, false) => prefix_atom(pre),
        },
        (PathKind::Name | PathKind::Dir, CmpOp::PMatch) => pmatch_atoms(l),
        _ => dnf_true(),
    }
}

fn str_literal(l: &Literal) -> Option<&[u8]> {
    match l {
        Literal::Str(s) => Some(cstr(s)),
        _ => None,
    }
}

fn str_literals(rhs: &Rhs) -> Option<Vec<&[u8]>> {
    match rhs {
        Rhs::Value(l) => Some(vec![str_literal(l)?]),
        Rhs::List(ls) => ls.iter().map(str_literal).collect(),
        _ => None,
    }
}

/// Combines the per-literal abstractions of a check with a list: `in`,
/// `pmatch`, `anyof` and `oneof` hold if one literal does; `allof` if all
/// do; an empty list never holds.
fn per_literal(
    op: CmpOp,
    modifier: Option<Modifier>,
    lits: &[&[u8]],
    f: impl Fn(CmpOp, &[u8]) -> Dnf,
) -> Dnf {
    if lits.is_empty() {
        return Vec::new();
    }
    match modifier {
        Some(Modifier::AllOf) => {
            let mut acc = dnf_true();
            for l in lits {
                acc = dnf_and(&acc, &f(op, l));
            }
            acc
        }
        _ => {
            let mut acc = Vec::new();
            for l in lits {
                acc.extend(f(op, l));
            }
            bound(acc, MAX_DNF)
        }
    }
}

// ---------------------------------------------------------- the deriver

/// (event type id, negated, address of the check in the rule's IR): the
/// same check is abstracted once per type (a key by text would format
/// every leaf, large lists included, once per type).
type LeafKey = (u16, bool, usize);

/// Abstracts rule conditions, caching leaf abstractions.
struct Deriver<'o> {
    opts: &'o DeriveOptions,
    /// Abstractions of the leaves of the rule being derived.
    leaves: HashMap<LeafKey, Dnf>,
    /// (point field, negated, check text) -> abstraction: shared by every
    /// type with the same model.
    points: HashMap<(PointField, bool, String), Dnf>,
}

fn check_key(c: &crate::rules::ir::Check) -> String {
    format!("{:?}|{:?}|{:?}|{:?}", c.lhs, c.op, c.modifier, c.rhs)
}

impl Deriver<'_> {
    fn expr(&mut self, info: &EventInfo, e: &Expr, neg: bool) -> Dnf {
        match (e, neg) {
            (Expr::And(xs), false) | (Expr::Or(xs), true) => {
                let mut acc = dnf_true();
                for x in xs {
                    let d = self.expr(info, x, neg);
                    acc = dnf_and(&acc, &d);
                    if acc.is_empty() {
                        break;
                    }
                }
                acc
            }
            (Expr::Or(xs), false) | (Expr::And(xs), true) => {
                let mut acc = Vec::new();
                for x in xs {
                    let d = self.expr(info, x, neg);
                    if d.iter().any(AClause::is_top) {
                        return dnf_true();
                    }
                    acc.extend(d);
                }
                bound(acc, MAX_DNF)
            }
            (Expr::Not(x), n) => self.expr(info, x, !n),
            (Expr::Check(c), n) => {
                let key = (info.ty.0, n, &**c as *const _ as usize);
                if let Some(d) = self.leaves.get(&key) {
                    return d.clone();
                }
                let d = self.leaf(info, c, n);
                self.leaves.insert(key, d.clone());
                d
            }
        }
    }

    fn leaf(&mut self, info: &EventInfo, c: &crate::rules::ir::Check, neg: bool) -> Dnf {
        if matches!(c.rhs, Rhs::Field(_)) {
            return dnf_true();
        }
        let Some(f) = sole_field(&c.lhs) else {
            return dnf_true();
        };
        let plain = matches!(c.lhs, Operand::Field(_));
        match model(info, f, self.opts) {
            Model::Const(v) => {
                let mut e = MapEvent::new(info.name);
                match v {
                    Some(v) => e.set(f.clone(), v),
                    None => e.unset(f),
                };
                if eval(c, neg, &e) {
                    dnf_true()
                } else {
                    Vec::new()
                }
            }
            // A transformer over a value sampled at breakpoints is not
            // constant between them.
            Model::Point(pf) if !plain && pf.ret_dep() == RetDep::Full => dnf_true(),
            Model::Point(pf) => {
                let key = (pf, neg, check_key(c));
                if let Some(d) = self.points.get(&key) {
                    return d.clone();
                }
                let d = point_leaf(pf, f, c, neg);
                self.points.insert(key, d.clone());
                d
            }
            Model::Path(kind) if plain && !neg => match str_literals(&c.rhs) {
                Some(lits) => {
                    per_literal(c.op, c.modifier, &lits, |op, l| path_literal(kind, op, l))
                }
                None => dnf_true(),
            },
            Model::Comm if plain && !neg => comm_leaf(c),
            Model::RawFlags if plain && !neg => raw_flags_leaf(c),
            Model::FcntlCmd => fcntl_cmd_leaf(f, c, neg),
            _ => dnf_true(),
        }
    }
}

fn eval(c: &crate::rules::ir::Check, neg: bool, e: &MapEvent) -> bool {
    let x = Expr::Check(Box::new(c.clone()));
    interp::eval(&x, e) != neg
}

/// Evaluates the check on every point of the field's domain and
/// summarises the satisfying points per return sign.
fn point_leaf(pf: PointField, f: &FieldRef, c: &crate::rules::ir::Check, neg: bool) -> Dnf {
    let rets = match pf.ret_dep() {
        RetDep::None => vec![0],
        RetDep::Sign => vec![0, -1],
        RetDep::Full => ret_samples(c),
    };
    let mask = pf.flag_bits();
    let fl = flag_points(mask);
    let modes: &[bool] = if pf.reads_mode() {
        &[false, true]
    } else {
        &[false]
    };
    // Pattern operators on `evt.res` of a failure see the decimal text of
    // any negative value; samples cannot cover every regex, so failures
    // count as satisfying.
    let failure_unknown = pf == PointField::EvtRes
        && !matches!(
            c.op,
            CmpOp::Eq | CmpOp::Ne | CmpOp::In | CmpOp::Intersects | CmpOp::Exists
        );
    let mut e = MapEvent::new("x");
    let x = Expr::Check(Box::new(c.clone()));
    // Satisfying flag values per return sign: [success, failure].
    let mut sat: [BTreeSet<u64>; 2] = [BTreeSet::new(), BTreeSet::new()];
    let mut total = [0usize; 2];
    for &ret in &rets {
        let sign = usize::from(ret < 0);
        for &flags in &fl {
            for &xmode in modes {
                total[sign] += 1;
                if sign == 1 && failure_unknown {
                    sat[1].insert(flags);
                    continue;
                }
                let p = Point { ret, flags, xmode };
                match pf.value(&p) {
                    Some(v) => e.set(f.clone(), v),
                    None => e.unset(f),
                };
                if interp::eval(&x, &e) != neg {
                    sat[sign].insert(flags);
                }
            }
        }
    }
    if pf.ret_dep() == RetDep::None {
        // Both "signs" saw the same ret: one group.
        let pts: Vec<u64> = sat[0].iter().copied().collect();
        return if pts.is_empty() {
            Vec::new()
        } else {
            simplify(one(flags_clause(mask, &pts)))
        };
    }
    let mut out = Vec::new();
    for (sign, bit) in [(0usize, RET_SUCCESS), (1, RET_FAILURE)] {
        if total[sign] == 0 || sat[sign].is_empty() {
            continue;
        }
        let pts: Vec<u64> = sat[sign].iter().copied().collect();
        let mut cl = flags_clause(mask, &pts);
        cl.ret = bit;
        out.push(cl);
    }
    let same_but_ret = |a: &AClause, b: &AClause| {
        AClause {
            ret: 0,
            ..a.clone()
        } == AClause {
            ret: 0,
            ..b.clone()
        }
    };
    if out.len() == 2 && same_but_ret(&out[0], &out[1]) {
        let mut cl = out.swap_remove(0);
        cl.ret = RET_ANY;
        out = vec![cl];
    }
    simplify(out)
}

/// `proc.name = / in / = anyof ...`: the comm is one of the literals that
/// fit a comm (15 bytes; longer ones can never equal `proc.name`).
fn comm_leaf(c: &crate::rules::ir::Check) -> Dnf {
    let op_ok = match (c.op, c.modifier) {
        (
            CmpOp::Eq | CmpOp::In | CmpOp::Intersects,
            None | Some(Modifier::AnyOf | Modifier::OneOf),
        ) => true,
        (CmpOp::Glob, None) => {
            str_literals(&c.rhs).is_some_and(|ls| ls.iter().all(|l| glob_prefix(l).1))
        }
        _ => false,
    };
    if !op_ok {
        return dnf_true();
    }
    let Some(lits) = str_literals(&c.rhs) else {
        return dnf_true();
    };
    let set: CommSet = lits
        .iter()
        .filter(|l| l.len() <= 15)
        .map(|l| super::comm_key(l))
        .collect();
    if set.is_empty() {
        return Vec::new();
    }
    one(AClause {
        comm: Some(set),
        ..AClause::top()
    })
}

/// `evt.rawarg.flags = v` / `in (...)`: the low 32 bits are known.
fn raw_flags_leaf(c: &crate::rules::ir::Check) -> Dnf {
    if !matches!(c.op, CmpOp::Eq | CmpOp::In | CmpOp::Intersects)
        || !matches!(c.modifier, None | Some(Modifier::AnyOf | Modifier::OneOf))
    {
        return dnf_true();
    }
    let lits: Vec<&Literal> = match &c.rhs {
        Rhs::Value(l) => vec![l],
        Rhs::List(ls) => ls.iter().collect(),
        _ => return dnf_true(),
    };
    let mut out = Vec::new();
    for l in lits {
        let v = match l {
            Literal::I64(v) => *v as u64,
            Literal::U64(v) => *v,
            _ => return dnf_true(),
        };
        let low = v as u32;
        let rest = low & NON_ACC;
        out.push(AClause {
            acc: 1 << (low & 3),
            any: rest & rest.wrapping_neg(),
            none: !low & NON_ACC,
            ..AClause::top()
        });
    }
    bound(out, MAX_DNF)
}

/// A command Falco has no name for (`F_ADD_SEALS`): every such command
/// renders `UNKNOWN`, so one stands for all.
const UNNAMED_FCNTL_CMD: u64 = 1033;

/// `evt.arg.cmd` of fcntl, whose value is the command's name: the check is
/// evaluated on every named command and on an unnamed one (exact, since
/// the field takes no other values), and the satisfying commands give the
/// classes the clause allows ([`crate::event::table::fcntl_cmd::class`],
/// tested in the access-mode bits).
fn fcntl_cmd_leaf(f: &FieldRef, c: &crate::rules::ir::Check, neg: bool) -> Dnf {
    use crate::event::table::fcntl_cmd;
    let mut e = MapEvent::new("fcntl");
    let x = Expr::Check(Box::new(c.clone()));
    let mut acc = 0u8;
    let named = flags::table(FlagSet::FcntlCmd).iter().map(|(v, _)| *v);
    for cmd in named.chain([UNNAMED_FCNTL_CMD]) {
        match flags::render(FlagSet::FcntlCmd, cmd) {
            Some(name) => e.set(f.clone(), Value::string(name)),
            None => e.unset(f),
        };
        if interp::eval(&x, &e) != neg {
            acc |= 1 << fcntl_cmd::class(cmd);
        }
    }
    match acc {
        0 => Vec::new(),
        0b11 => dnf_true(),
        _ => one(AClause {
            acc,
            ..AClause::top()
        }),
    }
}

// --------------------------------------------------------------- assembly

/// Which event types a rule is listed under (the matcher's index:
/// `RuleSet::build`): its event-type set, or every type when it has none.
fn rule_types(r: &Rule) -> Vec<&'static EventInfo> {
    match &r.evttypes {
        Some(set) if !set.is_empty() => set
            .iter()
            .filter_map(|n| EventType::from_name(n))
            .filter_map(EventType::info)
            .collect(),
        _ => EVENTS.iter().collect(),
    }
}

/// Merges sets (by union, which only widens) until at most `MAX_SETS`
/// remain; returns the sets and, per input set, its index.
fn assign_sets<T: Ord + Clone>(
    sets: Vec<BTreeSet<T>>,
    width: impl Fn(&BTreeSet<T>) -> f64,
) -> (Vec<BTreeSet<T>>, Vec<usize>) {
    let mut groups: Vec<(BTreeSet<T>, Vec<usize>)> = sets
        .into_iter()
        .enumerate()
        .map(|(i, s)| (s, vec![i]))
        .collect();
    while groups.len() > MAX_SETS {
        let mut best = (f64::INFINITY, 0, 1);
        for i in 0..groups.len() {
            for j in i + 1..groups.len() {
                let u: BTreeSet<T> = groups[i].0.union(&groups[j].0).cloned().collect();
                let cost = width(&u) - width(&groups[i].0).max(width(&groups[j].0));
                if cost < best.0 {
                    best = (cost, i, j);
                }
            }
        }
        let (_, i, j) = best;
        let (sj, mj) = groups.swap_remove(j);
        groups[i].0.extend(sj);
        groups[i].1.extend(mj);
    }
    let n = groups.iter().map(|g| g.1.len()).sum();
    let mut index = vec![0; n];
    let mut out = Vec::with_capacity(groups.len());
    for (k, (s, members)) in groups.into_iter().enumerate() {
        for m in members {
            index[m] = k;
        }
        out.push(s);
    }
    (out, index)
}

/// Which sets keep their constraint so that their members fit in `max`
/// map entries: per set, its index among the kept ones. The largest sets go
/// first.
fn fit_entries<T: Ord + Clone>(sets: &[BTreeSet<T>], max: usize) -> Vec<Option<usize>> {
    let mut alive = vec![true; sets.len()];
    loop {
        let members: BTreeSet<&T> = sets
            .iter()
            .zip(&alive)
            .filter(|(_, a)| **a)
            .flat_map(|(s, _)| s.iter())
            .collect();
        if members.len() <= max {
            break;
        }
        let largest = (0..sets.len())
            .filter(|&i| alive[i])
            .max_by_key(|&i| sets[i].len())
            .expect("some set holds the members");
        log::debug!(
            "kernel filter: a set of {} entries dropped (over {max} map entries)",
            sets[largest].len()
        );
        alive[largest] = false;
    }
    let mut next = 0;
    alive
        .iter()
        .map(|&a| {
            a.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect()
}

fn kept<T: Clone>(sets: &[T], keep: &[Option<usize>]) -> Vec<T> {
    sets.iter()
        .zip(keep)
        .filter(|(_, k)| k.is_some())
        .map(|(s, _)| s.clone())
        .collect()
}

pub(super) fn derive<'r>(
    rules: impl IntoIterator<Item = &'r Rule>,
    opts: &DeriveOptions,
) -> KernelFilter {
    let mut d = Deriver {
        opts,
        leaves: HashMap::new(),
        points: HashMap::new(),
    };
    // Per type: the clauses of the rules the filter can constrain, and
    // the rules it cannot (their abstraction is "any event"). The latter
    // make the type pass whole; the former's clauses then still mark
    // the events one of them may match.
    let mut per_type: Vec<Dnf> = vec![Vec::new(); EVENT_ID_LIMIT];
    let mut always: Vec<Vec<u32>> = vec![Vec::new(); EVENT_ID_LIMIT];
    for (index, r) in rules.into_iter().enumerate() {
        // Keys are addresses inside this rule's condition.
        d.leaves.clear();
        for info in rule_types(r) {
            let dnf = d.expr(info, &r.condition, false);
            log::debug!(
                "kernel filter: rule '{}' on {}: {} clause(s)",
                r.name,
                info.name,
                dnf.len()
            );
            let id = info.ty.0 as usize;
            if dnf.iter().any(AClause::is_top) {
                always[id].push(index as u32);
                continue;
            }
            let slot = &mut per_type[id];
            slot.extend(dnf);
            *slot = simplify(std::mem::take(slot));
        }
    }
    let per_type: Vec<Dnf> = per_type
        .into_iter()
        .map(|v| bound(v, MAX_CLAUSES))
        .collect();
    assemble_with(per_type, always)
}

/// Gives sets their bits and builds the kernel's maps (no rule passes
/// any type whole).
#[cfg(test)]
pub(super) fn assemble(per_type: Vec<Dnf>) -> KernelFilter {
    assemble_with(per_type, vec![Vec::new(); EVENT_ID_LIMIT])
}

/// Gives sets their bits and builds the kernel's maps. `always[ty]`: the
/// rules (by position) whose abstraction on `ty` is "any event".
pub(super) fn assemble_with(per_type: Vec<Dnf>, always: Vec<Vec<u32>>) -> KernelFilter {
    // Distinct sets in first-seen order.
    let mut path_ids: BTreeMap<PathSet, usize> = BTreeMap::new();
    let mut comm_ids: BTreeMap<CommSet, usize> = BTreeMap::new();
    let mut path_list: Vec<PathSet> = Vec::new();
    let mut comm_list: Vec<CommSet> = Vec::new();
    for c in per_type.iter().flatten() {
        if let Some(p) = &c.path {
            if !path_ids.contains_key(p) {
                path_ids.insert(p.clone(), path_list.len());
                path_list.push(p.clone());
            }
        }
        if let Some(s) = &c.comm {
            if !comm_ids.contains_key(s) {
                comm_ids.insert(s.clone(), comm_list.len());
                comm_list.push(s.clone());
            }
        }
    }
    if path_list.len() > MAX_SETS || comm_list.len() > MAX_SETS {
        log::debug!(
            "kernel filter: {} path sets, {} comm sets: merging to {MAX_SETS}",
            path_list.len(),
            comm_list.len()
        );
    }
    // Too many map entries: the largest sets stop constraining (their
    // clauses pass every path or comm), which only widens.
    let path_kept = fit_entries(&path_list, MAX_PATH_ENTRIES);
    let comm_kept = fit_entries(&comm_list, MAX_COMM_ENTRIES);
    let (path_sets, path_index) = assign_sets(kept(&path_list, &path_kept), paths_width);
    let (comm_sets, comm_index) = assign_sets(kept(&comm_list, &comm_kept), |s| {
        (0.02 * s.len() as f64).min(1.0)
    });

    let types = per_type
        .iter()
        .zip(&always)
        .map(|(v, always)| {
            if v.is_empty() {
                if always.is_empty() {
                    TypeFilter::Nothing
                } else {
                    TypeFilter::PassAll
                }
            } else if v.iter().any(AClause::is_top) {
                TypeFilter::PassAll
            } else {
                let mut cs: Vec<Clause> = v
                    .iter()
                    .map(|c| Clause {
                        ret: match c.ret {
                            RET_SUCCESS => RetCond::Success,
                            RET_FAILURE => RetCond::Failure,
                            _ => RetCond::Any,
                        },
                        acc_modes: c.acc,
                        flags_any: c.any,
                        flags_none: c.none,
                        path_mask: c
                            .path
                            .as_ref()
                            .and_then(|p| path_kept[path_ids[p]])
                            .map_or(0, |i| 1u64 << path_index[i]),
                        comm_mask: c
                            .comm
                            .as_ref()
                            .and_then(|s| comm_kept[comm_ids[s]])
                            .map_or(0, |i| 1u64 << comm_index[i]),
                    })
                    .collect();
                // Merged sets can make two clauses equal.
                cs.dedup();
                if always.is_empty() {
                    TypeFilter::Clauses(cs)
                } else {
                    TypeFilter::Mark(cs)
                }
            }
        })
        .collect();

    // Trie entries: each atom with the bits of the sets holding it, then
    // closed over shorter non-exact prefixes.
    let mut own: BTreeMap<&Atom, u64> = BTreeMap::new();
    for (i, s) in path_sets.iter().enumerate() {
        for a in s {
            *own.entry(a).or_insert(0) |= 1u64 << i;
        }
    }
    let prefixes: Vec<(&[u8], u64)> = own
        .iter()
        .filter_map(|(a, m)| match a {
            Atom::Prefix(p) => Some((&p[..], *m)),
            Atom::Exact(_) => None,
        })
        .collect();
    let paths: Vec<PathEntry> = own
        .iter()
        .map(|(a, m)| {
            let mut mask = *m;
            for (p, pm) in &prefixes {
                if a.pattern().starts_with(p) {
                    mask |= pm;
                }
            }
            PathEntry {
                pattern: a.pattern().to_vec(),
                exact: matches!(a, Atom::Exact(_)),
                mask,
            }
        })
        .collect();

    let mut comm_masks: BTreeMap<[u8; 16], u64> = BTreeMap::new();
    for (i, s) in comm_sets.iter().enumerate() {
        for c in s {
            *comm_masks.entry(*c).or_insert(0) |= 1u64 << i;
        }
    }
    let comms = comm_masks
        .into_iter()
        .map(|(comm, mask)| CommEntry { comm, mask })
        .collect();

    KernelFilter {
        types,
        always,
        paths,
        comms,
        path_sets: path_sets
            .into_iter()
            .map(|s| {
                s.into_iter()
                    .map(|a| PathPattern {
                        exact: matches!(a, Atom::Exact(_)),
                        pattern: a.pattern().to_vec(),
                    })
                    .collect()
            })
            .collect(),
        comm_sets: comm_sets
            .into_iter()
            .map(|s| s.into_iter().collect())
            .collect(),
    }
}
