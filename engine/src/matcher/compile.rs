//! Compilation of one rule condition from the typed IR into an evaluation
//! tree with pre-built structures, and its evaluation.
//!
//! Each check becomes a [`Leaf`]: where its value comes from ([`Src`]),
//! how the values of multi-valued fields combine ([`Quant`]) and the test
//! applied to one value ([`Test`]), chosen per operator and literal shape:
//! byte equality, a hash set for `in` lists longer than a few items, memmem
//! finders for `contains`, an Aho-Corasick automaton for `icontains` and
//! `contains anyof`, compiled globs, anchored regexes, `pmatch` trees,
//! integer and address comparisons. The chosen strategy is logged at debug
//! level.
//!
//! The children of `and`/`or` are reordered by estimated cost (cheap field,
//! cheap test first). Evaluation has no side effects, so the reordering is
//! invisible except in time. `not` is kept as is: `not (f = v)` and
//! `f != v` differ when `f` is missing (RULES.md §3.3).

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::IpAddr;
use std::sync::Arc;

use aho_corasick::AhoCorasick;
use memchr::memmem;

use crate::fields::{flag, Extract, FieldArg, FieldClass, FieldRef, FieldType, Value};
use crate::rules::ir::{self, CmpOp, IpNet, Literal, Modifier, Operand, Rhs};

use super::dns::{self, DnsCache, HostEntry};
use super::glob::Glob;
use super::pmatch::PathSet;
use super::transform::operand_value;
use super::value::{anchored_regex, compare, cstr, int_of, text_of, Scalar};
use super::MatchBuildError;

/// A small, fast, non-cryptographic hasher for short byte strings (rule
/// literals are trusted; hash flooding is not a concern here).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const FX_K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let w = u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
            self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(FX_K);
        }
        let mut tail = 0u64;
        for (i, b) in chunks.remainder().iter().enumerate() {
            tail |= u64::from(*b) << (8 * i);
        }
        self.0 = (self.0.rotate_left(5) ^ tail).wrapping_mul(FX_K);
    }
    fn write_usize(&mut self, n: usize) {
        self.0 = (self.0.rotate_left(5) ^ n as u64).wrapping_mul(FX_K);
    }
    fn finish(&self) -> u64 {
        // hashbrown takes the bucket from the low bits, and a product's
        // low bits depend only on the input's low bits: short keys that
        // differ only past their first byte ("p1", "p2", ...) would all
        // share a bucket chain. The rotation brings the well mixed high
        // bits down (measured: `proc.name in` a 100,000-name list took
        // 3.2 us per match without it, 43 times the 100-name list;
        // benches/big_lists.rs).
        self.0.rotate_left(26)
    }
}

/// Hash-builder for [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// `in` lists up to this long are compared one by one: measured faster
/// than hashing for short strings.
const LINEAR_IN_MAX: usize = 4;

/// Per-event evaluation context.
pub(crate) struct Ctx<'a> {
    /// `evt.type` of the event being matched.
    pub(crate) evt_name: &'a str,
}

/// Where a leaf's value comes from.
#[derive(Debug)]
pub(crate) enum Src {
    /// `evt.type` / `syscall.type`: the name handed to `matches`.
    EvtName,
    /// A field read with `extract` (or `extract_each` for multi-valued
    /// quantifiers).
    Field(FieldRef),
    /// A transformer expression.
    Operand(Operand),
}

/// How the values of the left-hand side combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Quant {
    /// One value; missing means false.
    One,
    /// Some value passes (any ancestor, either endpoint, `intersects`).
    Any,
    /// Every value passes and there is at least one (`!=` on endpoints,
    /// `in` on list fields).
    All,
}

/// The test applied to one value.
#[derive(Debug)]
pub(crate) enum Test {
    /// `exists`: the value is there.
    Exists,
    /// Never true (a modifier with an empty list).
    Never,
    /// Any string or binary value (`contains ""`).
    AnyText,
    /// Byte equality.
    Eq(Box<[u8]>),
    /// Byte inequality.
    Ne(Box<[u8]>),
    /// `in` over a short list.
    InSmall(Box<[Box<[u8]>]>),
    /// `in` over a hash set.
    InSet(HashSet<Box<[u8]>, FxBuild>),
    /// Byte-wise ordering.
    Ord(CmpOp, Box<[u8]>),
    /// Substring search.
    Contains(Box<memmem::Finder<'static>>),
    /// Case-insensitive substring search, or any of several substrings.
    Automaton(AhoCorasick),
    /// Prefix.
    StartsWith(Box<[u8]>),
    /// Suffix.
    EndsWith(Box<[u8]>),
    /// `glob` / `iglob`.
    Glob(Glob),
    /// Anchored regex.
    Regex(regex::bytes::Regex),
    /// `pmatch`.
    PMatch(PathSet),
    /// Integer comparison.
    Int(CmpOp, i128),
    /// Integer membership.
    IntIn(Box<[i128]>),
    /// Boolean equality (`ne` inverts).
    Bool {
        /// The literal.
        want: bool,
        /// `!=`.
        ne: bool,
    },
    /// Address equality with any of these.
    IpIn(Box<[IpAddr]>),
    /// Address differs.
    IpNe(IpAddr),
    /// Address inside any of these networks.
    NetIn(Box<[IpNet]>),
    /// Address outside the network.
    NetNotIn(IpNet),
    /// Generic scalar comparison (fallback for unusual combinations).
    Scalar(CmpOp, Literal),
    /// `oneof` / `anyof` / `allof` over per-element tests.
    Modifier(Modifier, Box<[Test]>),
    /// Comparison with another field of the event.
    FieldCmp(CmpOp, Operand),
    /// DNS-name field: a known name is tested with `by_name`; otherwise
    /// the socket address is compared with the hosts' addresses.
    Dns {
        /// The test on a known name.
        by_name: Box<Test>,
        /// The address field (`fd.sip` for `fd.sip.name`).
        addr: FieldRef,
        /// The literal hosts.
        hosts: Box<[Arc<HostEntry>]>,
        /// `!=`: not among them.
        ne: bool,
    },
}

impl Test {
    fn name(&self) -> String {
        match self {
            Test::Exists => "exists".into(),
            Test::Never => "constant false".into(),
            Test::AnyText => "any present string".into(),
            Test::Eq(_) => "byte equality".into(),
            Test::Ne(_) => "byte inequality".into(),
            Test::InSmall(v) => format!("linear scan of {} strings", v.len()),
            Test::InSet(s) => format!("hash set of {} strings", s.len()),
            Test::Ord(..) => "byte-wise ordering".into(),
            Test::Contains(_) => "memmem finder".into(),
            Test::Automaton(a) => format!("aho-corasick over {} patterns", a.patterns_len()),
            Test::StartsWith(_) => "prefix compare".into(),
            Test::EndsWith(_) => "suffix compare".into(),
            Test::Glob(g) => format!("glob ({})", g.strategy_name()),
            Test::Regex(_) => "anchored regex".into(),
            Test::PMatch(_) => "path prefix tree".into(),
            Test::Int(..) => "integer compare".into(),
            Test::IntIn(v) => format!("integer set of {}", v.len()),
            Test::Bool { .. } => "boolean compare".into(),
            Test::IpIn(v) => format!("address set of {}", v.len()),
            Test::IpNe(_) => "address inequality".into(),
            Test::NetIn(v) => format!("{} networks", v.len()),
            Test::NetNotIn(_) => "outside network".into(),
            Test::Scalar(op, _) => format!("generic '{}'", op.as_str()),
            Test::Modifier(m, v) => format!("{m:?} over {} tests", v.len()),
            Test::FieldCmp(op, _) => format!("field-to-field '{}'", op.as_str()),
            Test::Dns { hosts, .. } => format!("resolved addresses of {} hosts", hosts.len()),
        }
    }

    /// Relative cost of one application, for ordering.
    fn cost(&self) -> u32 {
        match self {
            Test::Exists | Test::Never | Test::AnyText => 0,
            Test::Eq(_) | Test::Ne(_) | Test::Int(..) | Test::Bool { .. } | Test::IpNe(_) => 1,
            Test::StartsWith(_) | Test::EndsWith(_) | Test::Ord(..) | Test::NetNotIn(_) => 1,
            Test::InSmall(_) | Test::InSet(_) | Test::IntIn(_) | Test::IpIn(_) | Test::NetIn(_) => {
                2
            }
            Test::Contains(_) | Test::Scalar(..) => 3,
            Test::Automaton(_) => 4,
            Test::Glob(_) | Test::PMatch(_) => 6,
            Test::Dns { .. } => 6,
            Test::FieldCmp(..) => 6,
            Test::Regex(_) => 15,
            Test::Modifier(_, v) => v.iter().map(Test::cost).sum::<u32>() + 1,
        }
    }

    /// Whether one value passes.
    pub(crate) fn matches<E: Extract + ?Sized>(&self, v: &Value<'_>, e: &E) -> bool {
        match self {
            Test::Exists => true,
            Test::Never => false,
            Test::AnyText => text_of(v).is_some(),
            Test::Eq(b) => text_of(v).is_some_and(|t| t == &b[..]),
            Test::Ne(b) => text_of(v).is_some_and(|t| t != &b[..]),
            Test::InSmall(list) => text_of(v).is_some_and(|t| list.iter().any(|b| &b[..] == t)),
            Test::InSet(set) => text_of(v).is_some_and(|t| set.contains(t)),
            Test::Ord(op, b) => compare(*op, v, Scalar::Bytes(b)),
            Test::Contains(f) => text_of(v).is_some_and(|t| f.find(t).is_some()),
            Test::Automaton(ac) => text_of(v).is_some_and(|t| ac.is_match(t)),
            Test::StartsWith(b) => text_of(v).is_some_and(|t| t.starts_with(b)),
            Test::EndsWith(b) => text_of(v).is_some_and(|t| t.ends_with(b)),
            Test::Glob(g) => text_of(v).is_some_and(|t| g.is_match(t)),
            Test::Regex(re) => text_of(v).is_some_and(|t| re.is_match(t)),
            Test::PMatch(p) => text_of(v).is_some_and(|t| p.is_match(t)),
            Test::Int(op, n) => compare(*op, v, Scalar::Int(*n)),
            Test::IntIn(set) => int_of(v).is_some_and(|i| set.contains(&i)),
            Test::Bool { want, ne } => matches!(v, Value::Bool(b) if (*b == *want) != *ne),
            Test::IpIn(set) => matches!(v, Value::Ip(a) if set.contains(a)),
            Test::IpNe(r) => matches!(v, Value::Ip(a) if a != r),
            Test::NetIn(nets) => matches!(v, Value::Ip(a) if nets.iter().any(|n| n.contains(*a))),
            Test::NetNotIn(n) => matches!(v, Value::Ip(a) if !n.contains(*a)),
            Test::Scalar(op, l) => compare(*op, v, Scalar::of_literal(l)),
            Test::Modifier(m, tests) => {
                if tests.is_empty() {
                    return false;
                }
                match m {
                    Modifier::AnyOf => tests.iter().any(|t| t.matches(v, e)),
                    Modifier::AllOf => tests.iter().all(|t| t.matches(v, e)),
                    Modifier::OneOf => {
                        let mut n = 0;
                        for t in tests.iter() {
                            if t.matches(v, e) {
                                n += 1;
                                if n > 1 {
                                    return false;
                                }
                            }
                        }
                        n == 1
                    }
                }
            }
            Test::FieldCmp(op, rhs) => {
                let Some(r) = operand_value(rhs, e) else {
                    return false;
                };
                match op {
                    CmpOp::Glob | CmpOp::IGlob => match (text_of(v), text_of(&r)) {
                        (Some(t), Some(p)) => Glob::new(p, *op == CmpOp::IGlob).is_match(t),
                        _ => false,
                    },
                    CmpOp::Regex => match (text_of(v), text_of(&r)) {
                        (Some(t), Some(p)) => anchored_regex(p).is_ok_and(|re| re.is_match(t)),
                        _ => false,
                    },
                    CmpOp::PMatch => match (text_of(v), text_of(&r)) {
                        (Some(t), Some(p)) => PathSet::new([p]).is_match(t),
                        _ => false,
                    },
                    _ => compare(*op, v, Scalar::of_value(&r)),
                }
            }
            Test::Dns { by_name, .. } => by_name.matches(v, e),
        }
    }
}

/// An event without fields: what a check on the event name alone sees.
struct NoFields;

impl Extract for NoFields {
    fn extract(&self, _: &FieldRef) -> Option<Value<'_>> {
        None
    }

    fn extract_each(&self, _: &FieldRef, _: &mut dyn FnMut(Value<'_>) -> bool) -> bool {
        false
    }
}

/// One compiled check.
#[derive(Debug)]
pub(crate) struct Leaf {
    pub(crate) src: Src,
    pub(crate) quant: Quant,
    pub(crate) test: Test,
}

impl Leaf {
    fn cost(&self) -> u32 {
        let field = match &self.src {
            Src::EvtName => 0,
            Src::Field(f) => field_cost(f),
            Src::Operand(o) => o.field().map_or(4, field_cost) + 4,
        };
        field + self.test.cost()
    }

    /// The verdict of an `evt.type` check for events named `name`;
    /// `None` for any other check (and for one that reads another field).
    fn evt_name_verdict(&self, name: &str) -> Option<bool> {
        if !matches!(self.src, Src::EvtName) || self.quant != Quant::One {
            return None;
        }
        if matches!(self.test, Test::FieldCmp(..) | Test::Dns { .. }) {
            return None;
        }
        Some(self.test.matches(&Value::str(name.as_bytes()), &NoFields))
    }

    fn eval<E: Extract + ?Sized>(&self, e: &E, ctx: &Ctx<'_>) -> bool {
        match self.quant {
            Quant::One => {
                let v = match &self.src {
                    Src::EvtName => Some(Value::str(ctx.evt_name.as_bytes())),
                    Src::Field(f) => e.extract(f),
                    Src::Operand(o) => operand_value(o, e),
                };
                match v {
                    Some(v) => self.test.matches(&v, e),
                    None => match &self.test {
                        Test::Dns {
                            addr, hosts, ne, ..
                        } => match e.extract(addr) {
                            Some(Value::Ip(a)) => hosts.iter().any(|h| h.contains(a)) != *ne,
                            _ => false,
                        },
                        _ => false,
                    },
                }
            }
            Quant::Any => {
                let Src::Field(f) = &self.src else {
                    return false;
                };
                let mut hit = false;
                e.extract_each(f, &mut |v| {
                    hit = self.test.matches(&v, e);
                    hit
                });
                hit
            }
            Quant::All => {
                let Src::Field(f) = &self.src else {
                    return false;
                };
                let mut ok = true;
                let present = e.extract_each(f, &mut |v| {
                    ok = self.test.matches(&v, e);
                    !ok
                });
                present && ok
            }
        }
    }
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    And(Box<[Node]>),
    Or(Box<[Node]>),
    Not(Box<Node>),
    Leaf(Arc<Leaf>),
}

impl Node {
    /// Whether the condition holds for the event.
    pub(crate) fn eval<E: Extract + ?Sized>(&self, e: &E, ctx: &Ctx<'_>) -> bool {
        match self {
            Node::And(xs) => xs.iter().all(|x| x.eval(e, ctx)),
            Node::Or(xs) => xs.iter().any(|x| x.eval(e, ctx)),
            Node::Not(x) => !x.eval(e, ctx),
            Node::Leaf(l) => l.eval(e, ctx),
        }
    }

    /// The condition's cheap checks, for a test run before the
    /// prefilters; `None` when it has none. `slots` interns the checks of
    /// one candidate list, so that a check several rules share runs once
    /// per event.
    pub(crate) fn precheck(&self, slots: &mut PrecheckSlots) -> Option<Precheck> {
        match self.prune(slots) {
            Pruned::Known(p) => Some(p),
            Pruned::Unknown => None,
        }
    }

    fn prune(&self, slots: &mut PrecheckSlots) -> Pruned {
        match self {
            Node::And(xs) | Node::Or(xs) => {
                let mut kids = Vec::new();
                let mut partial = false;
                for x in xs.iter() {
                    match x.prune(slots) {
                        Pruned::Known(p) => kids.push(p),
                        Pruned::Unknown => partial = true,
                    }
                }
                if kids.is_empty() {
                    return Pruned::Unknown;
                }
                let kids = kids.into_boxed_slice();
                Pruned::Known(if matches!(self, Node::And(_)) {
                    Precheck::And(kids, partial)
                } else {
                    Precheck::Or(kids, partial)
                })
            }
            Node::Not(x) => match x.prune(slots) {
                Pruned::Known(p) => Pruned::Known(Precheck::Not(Box::new(p))),
                Pruned::Unknown => Pruned::Unknown,
            },
            Node::Leaf(l) if l.cost() <= PRECHECK_MAX_COST => Pruned::Known(Precheck::Leaf {
                slot: slots.slot(l),
                leaf: Arc::clone(l),
            }),
            Node::Leaf(_) => Pruned::Unknown,
        }
    }

    /// The condition for events whose `evt.type` is `name`: every
    /// `evt.type` check is decided here and folded away (`true` is an empty
    /// `And`, `false` an empty `Or`). Every rule in a per-type candidate
    /// list repeats the type test its list was selected by (Falco's macros
    /// start with `evt.type in (...)`); folded, the event pays none of
    /// them. Checks that compare with another field stay.
    pub(crate) fn fold_evt_name(&self, name: &str) -> Node {
        match self {
            Node::And(xs) | Node::Or(xs) => {
                let and = matches!(self, Node::And(_));
                let mut kids = Vec::with_capacity(xs.len());
                for x in xs.iter() {
                    let k = x.fold_evt_name(name);
                    match k.constant() {
                        // The identity of the connective: drop it.
                        Some(c) if c == and => {}
                        // The absorbing value decides the whole node.
                        Some(c) => return Node::always(c),
                        None => kids.push(k),
                    }
                }
                match (kids.len(), and) {
                    (0, _) => Node::always(and),
                    (1, _) => kids.pop().expect("one child"),
                    (_, true) => Node::And(kids.into()),
                    (_, false) => Node::Or(kids.into()),
                }
            }
            Node::Not(x) => {
                let k = x.fold_evt_name(name);
                match k.constant() {
                    Some(c) => Node::always(!c),
                    None => Node::Not(Box::new(k)),
                }
            }
            Node::Leaf(l) => match l.evt_name_verdict(name) {
                Some(c) => Node::always(c),
                None => Node::Leaf(Arc::clone(l)),
            },
        }
    }

    /// Every `evt.type` check's verdict for `name`, in tree order: events
    /// of two types with the same verdicts can share folded conditions.
    pub(crate) fn evt_name_verdicts(&self, name: &str, out: &mut Vec<bool>) {
        match self {
            Node::And(xs) | Node::Or(xs) => xs.iter().for_each(|x| x.evt_name_verdicts(name, out)),
            Node::Not(x) => x.evt_name_verdicts(name, out),
            Node::Leaf(l) => out.extend(l.evt_name_verdict(name)),
        }
    }

    /// Whether the condition is the constant false of a fold.
    pub(crate) fn is_never(&self) -> bool {
        self.constant() == Some(false)
    }

    fn constant(&self) -> Option<bool> {
        match self {
            Node::And(xs) if xs.is_empty() => Some(true),
            Node::Or(xs) if xs.is_empty() => Some(false),
            _ => None,
        }
    }

    /// A condition that is always `c`.
    fn always(c: bool) -> Node {
        if c {
            Node::And(Box::new([]))
        } else {
            Node::Or(Box::new([]))
        }
    }

    fn cost(&self) -> u32 {
        match self {
            Node::And(xs) | Node::Or(xs) => xs.iter().map(Node::cost).sum(),
            Node::Not(x) => x.cost(),
            Node::Leaf(l) => l.cost(),
        }
    }
}

enum Pruned {
    Known(Precheck),
    Unknown,
}

/// A rule condition reduced to its cheap checks ([`Node::precheck`]):
/// every check of cost at most [`PRECHECK_MAX_COST`] is kept, the rest are
/// dropped and their place counts as unknown (`partial`). Evaluated in
/// three-valued logic (false and unknown is false, true or unknown is
/// true, not unknown is unknown), it proves a condition false without
/// extracting a string. It runs before the prefilters, which extract and
/// look up strings: a rule about writes is rejected for a read by its
/// open-flags check even where that check sits in one branch of an `or`
/// (`(open_write and ...) or (modify_file and ...)`), which ordering the
/// conjunction by cost cannot put first. Large conditions (Falco's
/// macros expand to hundreds of checks) shrink to the few cheap ones, so
/// the test costs what those checks cost.
#[derive(Debug)]
pub(crate) enum Precheck {
    /// All hold; `true`: some children were dropped.
    And(Box<[Precheck]>, bool),
    /// Any holds; `true`: some children were dropped.
    Or(Box<[Precheck]>, bool),
    Not(Box<Precheck>),
    /// A kept check, with its slot in the list's per-event memo.
    Leaf {
        leaf: Arc<Leaf>,
        slot: Option<u8>,
    },
}

/// Interns the cheap checks of one candidate list: the same check in
/// several rules (`evt.type in (open, openat, openat2)`,
/// `evt.is_open_write = true` in every rule built on Falco's `open_write`
/// macro) gets one slot, and an event evaluates each slot once
/// ([`PrecheckMemo`]). Checks are the same when their text is: the field
/// and the compiled test as printed.
#[derive(Debug, Default)]
pub(crate) struct PrecheckSlots {
    keys: Vec<String>,
    leaves: Vec<Arc<Leaf>>,
}

impl PrecheckSlots {
    fn slot(&mut self, l: &Arc<Leaf>) -> Option<u8> {
        let key = format!("{:?} {:?} {:?}", l.src, l.quant, l.test);
        if let Some(i) = self.keys.iter().position(|k| *k == key) {
            return Some(i as u8);
        }
        if self.keys.len() >= PrecheckMemo::SLOTS {
            return None;
        }
        self.keys.push(key);
        self.leaves.push(Arc::clone(l));
        Some((self.keys.len() - 1) as u8)
    }

    /// The interned checks, by slot.
    pub(crate) fn into_leaves(self) -> Vec<Arc<Leaf>> {
        self.leaves
    }
}

/// Evaluates interned checks into a memo with every slot known.
pub(crate) fn eval_slots<E: Extract + ?Sized>(
    leaves: &[Arc<Leaf>],
    e: &E,
    ctx: &Ctx<'_>,
) -> PrecheckMemo {
    let mut value = 0u64;
    for (i, l) in leaves.iter().enumerate() {
        if l.eval(e, ctx) {
            value |= 1 << i;
        }
    }
    PrecheckMemo {
        known: if leaves.len() >= 64 {
            u64::MAX
        } else {
            (1u64 << leaves.len()) - 1
        },
        value,
    }
}

/// Per-event results of the interned cheap checks of one candidate list.
#[derive(Debug, Default)]
pub(crate) struct PrecheckMemo {
    known: u64,
    value: u64,
}

impl PrecheckMemo {
    /// Interned checks per list; more are evaluated without memo.
    pub(crate) const SLOTS: usize = 64;

    /// The slots' values (bit i: slot i holds).
    pub(crate) fn value(&self) -> u64 {
        self.value
    }

    /// A memo in which the slots are known to hold `value`.
    pub(crate) fn known(n: usize, value: u64) -> PrecheckMemo {
        PrecheckMemo {
            known: if n >= 64 { u64::MAX } else { (1u64 << n) - 1 },
            value,
        }
    }
}

impl Precheck {
    /// Whether the checks prove the condition false when every check has
    /// a slot and `memo` knows them all (no event needed).
    pub(crate) fn is_false_known(&self, memo: &PrecheckMemo) -> bool {
        self.known(memo) == Some(false)
    }

    fn known(&self, memo: &PrecheckMemo) -> Option<bool> {
        match self {
            Precheck::And(xs, partial) => {
                let mut all = !partial;
                for x in xs.iter() {
                    match x.known(memo) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => all = false,
                    }
                }
                all.then_some(true)
            }
            Precheck::Or(xs, partial) => {
                let mut none = !partial;
                for x in xs.iter() {
                    match x.known(memo) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => none = false,
                    }
                }
                none.then_some(false)
            }
            Precheck::Not(x) => x.known(memo).map(|v| !v),
            Precheck::Leaf { slot, .. } => match slot {
                Some(i) if memo.known & (1u64 << i) != 0 => Some(memo.value & (1u64 << i) != 0),
                _ => None,
            },
        }
    }

    /// Whether the cheap checks prove the condition false.
    pub(crate) fn is_false<E: Extract + ?Sized>(
        &self,
        e: &E,
        ctx: &Ctx<'_>,
        memo: &mut PrecheckMemo,
    ) -> bool {
        self.eval(e, ctx, memo) == Some(false)
    }

    /// `Some(value)` when the kept checks decide the node, else `None`.
    fn eval<E: Extract + ?Sized>(
        &self,
        e: &E,
        ctx: &Ctx<'_>,
        memo: &mut PrecheckMemo,
    ) -> Option<bool> {
        match self {
            Precheck::And(xs, partial) => {
                let mut all = !partial;
                for x in xs.iter() {
                    match x.eval(e, ctx, memo) {
                        Some(false) => return Some(false),
                        Some(true) => {}
                        None => all = false,
                    }
                }
                all.then_some(true)
            }
            Precheck::Or(xs, partial) => {
                let mut none = !partial;
                for x in xs.iter() {
                    match x.eval(e, ctx, memo) {
                        Some(true) => return Some(true),
                        Some(false) => {}
                        None => none = false,
                    }
                }
                none.then_some(false)
            }
            Precheck::Not(x) => x.eval(e, ctx, memo).map(|v| !v),
            Precheck::Leaf { leaf, slot } => Some(match slot {
                Some(i) => {
                    let bit = 1u64 << i;
                    if memo.known & bit != 0 {
                        memo.value & bit != 0
                    } else {
                        let v = leaf.eval(e, ctx);
                        memo.known |= bit;
                        if v {
                            memo.value |= bit;
                        }
                        v
                    }
                }
                None => leaf.eval(e, ctx),
            }),
        }
    }
}

/// Most cost of a check a [`Precheck`] keeps: a field read
/// straight from the record and a test no dearer than a short list
/// (`evt.is_open_write = true`, `evt.type in (...)`, `evt.res = SUCCESS`).
const PRECHECK_MAX_COST: u32 = 2;

/// Relative cost of extracting a field. Event-header fields are read from
/// the record, process and fd fields from tables the worker already
/// holds; rendered event arguments, user and container lookups and
/// ancestor walks cost more.
pub(crate) fn field_cost(f: &FieldRef) -> u32 {
    let d = f.def();
    if d.has(flag::ANY_ANCESTOR) {
        return match f.arg {
            FieldArg::Index(n) => 3 + n.min(16),
            _ => 25,
        };
    }
    if d.has(flag::DNS_NAME) {
        return 6;
    }
    if d.has(flag::EITHER_ENDPOINT) {
        return 4;
    }
    match d.class {
        FieldClass::Evt => match d.name {
            "evt.type" | "syscall.type" => 0,
            "evt.arg" | "evt.rawarg" | "evt.args" => 6,
            "evt.buffer" => 4,
            _ => 1,
        },
        FieldClass::Process | FieldClass::Thread => match d.name {
            "proc.args" | "proc.cmdline" | "proc.pcmdline" | "proc.env" => 4,
            "proc.sname" => 8,
            _ => 2,
        },
        FieldClass::Fd | FieldClass::FsPath => 2,
        FieldClass::User | FieldClass::Group => 4,
        FieldClass::Container | FieldClass::K8s => 5,
    }
}

/// The compiler for one rule: holds the DNS cache and names the rule in
/// errors and logs.
pub(crate) struct Compiler<'a> {
    pub(crate) rule: &'a str,
    pub(crate) dns: &'a Arc<DnsCache>,
}

fn is_evt_type(f: &FieldRef) -> bool {
    f.arg == FieldArg::None && matches!(f.def().name, "evt.type" | "syscall.type")
}

fn bytes_of(l: &Literal) -> Option<&[u8]> {
    match l {
        Literal::Str(s) => Some(cstr(s)),
        Literal::Bytes(b) => Some(b),
        _ => None,
    }
}

impl Compiler<'_> {
    /// Compiles an expression.
    pub(crate) fn expr(&self, x: &ir::Expr) -> Result<Node, MatchBuildError> {
        Ok(match x {
            ir::Expr::And(xs) | ir::Expr::Or(xs) => {
                let mut kids = Vec::with_capacity(xs.len());
                for k in xs {
                    // Flatten nested nodes of the same kind: fewer levels,
                    // and the cost ordering sees every sibling.
                    match (x, self.expr(k)?) {
                        (ir::Expr::And(_), Node::And(inner))
                        | (ir::Expr::Or(_), Node::Or(inner)) => kids.extend(inner.into_vec()),
                        (_, n) => kids.push(n),
                    }
                }
                kids.sort_by_key(Node::cost);
                if kids.len() == 1 {
                    kids.pop().expect("one child")
                } else if matches!(x, ir::Expr::And(_)) {
                    Node::And(kids.into())
                } else {
                    Node::Or(kids.into())
                }
            }
            ir::Expr::Not(inner) => Node::Not(Box::new(self.expr(inner)?)),
            ir::Expr::Check(c) => Node::Leaf(Arc::new(self.check(c)?)),
        })
    }

    fn check(&self, c: &ir::Check) -> Result<Leaf, MatchBuildError> {
        let (src, quant, ipnet_endpoint) = match &c.lhs {
            Operand::Field(f) if is_evt_type(f) => (Src::EvtName, Quant::One, false),
            Operand::Field(f) => {
                let d = f.def();
                if d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None {
                    (Src::Field(f.clone()), Quant::Any, false)
                } else if d.has(flag::EITHER_ENDPOINT) {
                    let q = if c.op == CmpOp::Ne {
                        Quant::All
                    } else {
                        Quant::Any
                    };
                    (Src::Field(f.clone()), q, d.ty == FieldType::IpNet)
                } else if d.has(flag::LIST) {
                    let q = if c.op == CmpOp::In {
                        Quant::All
                    } else {
                        Quant::Any
                    };
                    (Src::Field(f.clone()), q, false)
                } else {
                    (Src::Field(f.clone()), Quant::One, false)
                }
            }
            o @ Operand::Transform(..) => (Src::Operand(o.clone()), Quant::One, false),
        };
        let test = if c.op == CmpOp::Exists {
            Test::Exists
        } else {
            let by_value = self.test(c, ipnet_endpoint)?;
            match &c.lhs {
                Operand::Field(f)
                    if f.def().has(flag::DNS_NAME)
                        && c.modifier.is_none()
                        && matches!(
                            c.op,
                            CmpOp::Eq | CmpOp::Ne | CmpOp::In | CmpOp::Intersects
                        ) =>
                {
                    self.dns_test(c, f, by_value)
                }
                _ => by_value,
            }
        };
        let what = match &c.lhs {
            Operand::Field(f) => f.text(),
            Operand::Transform(t, _) => format!("{t:?}(..)"),
        };
        log::debug!(
            "rule '{}': check '{} {}' at offset {}: {} ({:?})",
            self.rule,
            what,
            c.op.as_str(),
            c.offset,
            test.name(),
            quant
        );
        Ok(Leaf { src, quant, test })
    }

    fn dns_test(&self, c: &ir::Check, f: &FieldRef, by_name: Test) -> Test {
        let Some(addr) = dns::address_field(f) else {
            return by_name;
        };
        let lits: Vec<&Literal> = match &c.rhs {
            Rhs::Value(l) => vec![l],
            Rhs::List(ls) => ls.iter().collect(),
            _ => return by_name,
        };
        let hosts = lits
            .iter()
            .filter_map(|l| bytes_of(l))
            .map(|h| self.dns.entry(&String::from_utf8_lossy(h)))
            .collect();
        Test::Dns {
            by_name: Box::new(by_name),
            addr,
            hosts,
            ne: c.op == CmpOp::Ne,
        }
    }

    fn test(&self, c: &ir::Check, ipnet_endpoint: bool) -> Result<Test, MatchBuildError> {
        match (&c.rhs, c.modifier) {
            (Rhs::List(ls), Some(m)) => {
                if ls.is_empty() {
                    return Ok(Test::Never);
                }
                if m == Modifier::AnyOf {
                    if matches!(c.op, CmpOp::Eq) {
                        return self.in_list(ls);
                    }
                    if c.op == CmpOp::Contains {
                        if let Some(needles) = ls.iter().map(bytes_of).collect::<Option<Vec<_>>>() {
                            if needles.iter().any(|n| n.is_empty()) {
                                return Ok(Test::AnyText);
                            }
                            if let Ok(ac) = AhoCorasick::new(&needles) {
                                return Ok(Test::Automaton(ac));
                            }
                        }
                    }
                }
                let tests = ls
                    .iter()
                    .map(|l| self.single(c.op, l))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Test::Modifier(m, tests.into()))
            }
            (Rhs::List(ls), None) => match c.op {
                CmpOp::PMatch => Ok(Test::PMatch(PathSet::new(ls.iter().filter_map(bytes_of)))),
                // (quirk) `fd.net in (...)` uses only the first network.
                _ if ipnet_endpoint => match ls.first() {
                    Some(l) => self.single(CmpOp::Eq, l),
                    None => Ok(Test::Never),
                },
                _ => self.in_list(ls),
            },
            (Rhs::Value(l), _) => self.single(c.op, l),
            (Rhs::Field(o), _) => Ok(Test::FieldCmp(c.op, o.clone())),
            (Rhs::None, _) => Ok(Test::Never),
        }
    }

    fn in_list(&self, ls: &[Literal]) -> Result<Test, MatchBuildError> {
        if ls.is_empty() {
            return Ok(Test::Never);
        }
        if let Some(items) = ls.iter().map(bytes_of).collect::<Option<Vec<_>>>() {
            return Ok(if items.len() <= LINEAR_IN_MAX {
                Test::InSmall(items.into_iter().map(Into::into).collect())
            } else {
                Test::InSet(items.into_iter().map(Into::into).collect())
            });
        }
        let ints: Option<Vec<i128>> = ls
            .iter()
            .map(|l| match l {
                Literal::I64(i) => Some(i128::from(*i)),
                Literal::U64(u) => Some(i128::from(*u)),
                _ => None,
            })
            .collect();
        if let Some(v) = ints {
            return Ok(Test::IntIn(v.into()));
        }
        let ips: Option<Vec<IpAddr>> = ls
            .iter()
            .map(|l| match l {
                Literal::Ip(a) => Some(*a),
                _ => None,
            })
            .collect();
        if let Some(v) = ips {
            return Ok(Test::IpIn(v.into()));
        }
        let nets: Option<Vec<IpNet>> = ls
            .iter()
            .map(|l| match l {
                Literal::Net(n) => Some(*n),
                _ => None,
            })
            .collect();
        if let Some(v) = nets {
            return Ok(Test::NetIn(v.into()));
        }
        let tests = ls
            .iter()
            .map(|l| self.single(CmpOp::Eq, l))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Test::Modifier(Modifier::AnyOf, tests.into()))
    }

    fn single(&self, op: CmpOp, l: &Literal) -> Result<Test, MatchBuildError> {
        if let Some(b) = bytes_of(l) {
            let owned: Box<[u8]> = b.into();
            return Ok(match op {
                CmpOp::Eq | CmpOp::In | CmpOp::Intersects => Test::Eq(owned),
                CmpOp::Ne => Test::Ne(owned),
                CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => Test::Ord(op, owned),
                CmpOp::Contains | CmpOp::BContains if b.is_empty() => Test::AnyText,
                CmpOp::Contains | CmpOp::BContains => {
                    Test::Contains(Box::new(memmem::Finder::new(b).into_owned()))
                }
                CmpOp::IContains if b.is_empty() => Test::AnyText,
                CmpOp::IContains => match AhoCorasick::builder()
                    .ascii_case_insensitive(true)
                    .build([b])
                {
                    Ok(ac) => Test::Automaton(ac),
                    Err(_) => Test::Scalar(op, l.clone()),
                },
                CmpOp::StartsWith | CmpOp::BStartsWith => Test::StartsWith(owned),
                CmpOp::EndsWith => Test::EndsWith(owned),
                CmpOp::Glob => Test::Glob(Glob::new(b, false)),
                CmpOp::IGlob => Test::Glob(Glob::new(b, true)),
                CmpOp::Regex => {
                    Test::Regex(anchored_regex(b).map_err(|source| MatchBuildError::Regex {
                        rule: self.rule.to_string(),
                        pattern: String::from_utf8_lossy(b).into_owned(),
                        source: Box::new(source),
                    })?)
                }
                CmpOp::PMatch => Test::PMatch(PathSet::new([b])),
                CmpOp::Exists => Test::Exists,
            });
        }
        Ok(match (op, l) {
            (CmpOp::Eq | CmpOp::In | CmpOp::Intersects, Literal::I64(_) | Literal::U64(_))
            | (
                CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge,
                Literal::I64(_) | Literal::U64(_),
            ) => {
                let n = match l {
                    Literal::I64(i) => i128::from(*i),
                    Literal::U64(u) => i128::from(*u),
                    _ => unreachable!("matched integer literal"),
                };
                let op = if matches!(op, CmpOp::In | CmpOp::Intersects) {
                    CmpOp::Eq
                } else {
                    op
                };
                Test::Int(op, n)
            }
            (CmpOp::Eq | CmpOp::In | CmpOp::Intersects, Literal::Bool(b)) => Test::Bool {
                want: *b,
                ne: false,
            },
            (CmpOp::Ne, Literal::Bool(b)) => Test::Bool { want: *b, ne: true },
            (CmpOp::Eq | CmpOp::In | CmpOp::Intersects, Literal::Ip(a)) => {
                Test::IpIn(Box::new([*a]))
            }
            (CmpOp::Ne, Literal::Ip(a)) => Test::IpNe(*a),
            (CmpOp::Eq | CmpOp::In | CmpOp::Intersects, Literal::Net(n)) => {
                Test::NetIn(Box::new([*n]))
            }
            (CmpOp::Ne, Literal::Net(n)) => Test::NetNotIn(*n),
            _ => Test::Scalar(op, l.clone()),
        })
    }
}
