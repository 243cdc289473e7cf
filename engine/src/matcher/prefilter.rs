//! Prefilters: cheap, shared tests that answer "this rule cannot match
//! this event" before its condition runs. They never answer "matches": a
//! rule that passes its prefilter is always confirmed by the full check.
//!
//! For each rule, *keys* are derived from the top-level conjunction of its
//! condition. A key is a disjunction of *atoms* (field, kind, needle), one
//! of which must hold whenever the condition holds: `proc.name in (a, b)`
//! gives two exact atoms on `proc.name`; `(fd.name startswith /etc/ or
//! fd.name contains id_rsa)` a prefix and a substring atom on `fd.name`;
//! `fd.name glob '/home/*'` the prefix `/home/`. Only plain single-valued
//! string fields qualify (no transformer, ancestor walk, endpoint pair, or
//! DNS name), and only positive checks (`not` never yields a key).
//!
//! Within one candidate list (the rules of one event type), atoms on the
//! same field from all rules are merged into one [`Group`]: a hash map for
//! exact needles, byte tries for anchored prefixes and suffixes, one memmem
//! finder or one Aho-Corasick automaton for substrings. Matching an event
//! extracts each group's field at most once, runs its structures once and
//! yields a bit mask of the keys that can hold; each rule then checks its
//! keys' bits. Anchored overlapping search is not available in the
//! aho-corasick crate, and a prefix set over paths is exactly what a byte
//! trie walk does, so prefixes and suffixes use a trie.

use std::collections::HashMap;

use aho_corasick::AhoCorasick;
use memchr::memmem;

use crate::fields::{flag, Extract, FieldArg, FieldRef, FieldType};
use crate::rules::ir::{self, CmpOp, Literal, Modifier, Operand, Rhs};

use super::compile::{field_cost, FxBuild};
use super::glob::Glob;
use super::value::{cstr, text_of};

/// Most groups per candidate list (the per-event mask cache is a fixed
/// array of this size).
pub(crate) const MAX_GROUPS: usize = 32;

/// Keys kept per rule.
const MAX_KEYS: usize = 2;

/// What an atom tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum AtomKind {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// One necessary-condition alternative.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Atom {
    pub(crate) field: FieldRef,
    pub(crate) kind: AtomKind,
    pub(crate) needle: Box<[u8]>,
}

/// A disjunction of atoms that holds whenever the rule's condition holds.
#[derive(Debug, Clone)]
pub(crate) struct Key {
    pub(crate) atoms: Vec<Atom>,
}

impl Key {
    fn score(&self) -> u32 {
        let mut fields: Vec<&FieldRef> = self.atoms.iter().map(|a| &a.field).collect();
        fields.sort_by_key(|f| f.text());
        fields.dedup();
        let kinds: u32 = self
            .atoms
            .iter()
            .map(|a| match a.kind {
                AtomKind::Exact => 0,
                AtomKind::Prefix | AtomKind::Suffix => 1,
                AtomKind::Contains => 2,
            })
            .max()
            .unwrap_or(0);
        fields.iter().map(|f| field_cost(f) * 2).sum::<u32>() + kinds
    }

    /// A readable form for debug logs.
    pub(crate) fn describe(&self) -> String {
        self.atoms
            .iter()
            .map(|a| {
                format!(
                    "{} {:?} {:?}",
                    a.field.text(),
                    a.kind,
                    String::from_utf8_lossy(&a.needle)
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// Fields with a handful of distinct values (`fd.typechar` is `f` for
/// most open events): a key on them passes nearly every event and only
/// costs an extraction. Measured on the stable file: such keys made the
/// prefilter slower than the checks it guards.
const LOW_CARDINALITY: &[&str] = &[
    "fd.typechar",
    "fd.type",
    "fd.l4proto",
    "fd.sockfamily",
    "evt.res",
    "evt.dir",
    "evt.category",
];

/// Substring, prefix and suffix needles shorter than this match too many
/// values to filter anything.
const MIN_PARTIAL_NEEDLE: usize = 3;

fn keyable_field(o: &Operand) -> Option<&FieldRef> {
    let Operand::Field(f) = o else { return None };
    let d = f.def();
    if LOW_CARDINALITY.contains(&d.name) {
        return None;
    }
    let special = flag::ANY_ANCESTOR | flag::EITHER_ENDPOINT | flag::LIST | flag::DNS_NAME;
    if d.flags & special != 0 || d.ty != FieldType::CharBuf {
        return None;
    }
    if f.arg == FieldArg::None && matches!(d.name, "evt.type" | "syscall.type") {
        // Already enforced by the event-type index.
        return None;
    }
    Some(f)
}

fn str_lit(l: &Literal) -> Option<&[u8]> {
    match l {
        Literal::Str(s) => Some(cstr(s)),
        _ => None,
    }
}

/// Atoms of one check, if it is a positive needle test on a keyable field.
fn check_atoms(c: &ir::Check) -> Option<Vec<Atom>> {
    let field = keyable_field(&c.lhs)?;
    let lits: Vec<&Literal> = match (&c.rhs, c.modifier) {
        (Rhs::Value(l), None) => vec![l],
        (Rhs::List(ls), None) if matches!(c.op, CmpOp::In | CmpOp::Intersects) => {
            ls.iter().collect()
        }
        (Rhs::List(ls), Some(Modifier::AnyOf)) => ls.iter().collect(),
        _ => return None,
    };
    let kind = match c.op {
        CmpOp::Eq | CmpOp::In | CmpOp::Intersects => AtomKind::Exact,
        CmpOp::StartsWith => AtomKind::Prefix,
        CmpOp::EndsWith => AtomKind::Suffix,
        CmpOp::Contains => AtomKind::Contains,
        CmpOp::Glob if c.modifier.is_none() => {
            let p = str_lit(lits.first()?)?;
            let g = Glob::new(p, false);
            let prefix = g.literal_prefix();
            if prefix.len() < MIN_PARTIAL_NEEDLE {
                return None;
            }
            return Some(vec![Atom {
                field: field.clone(),
                kind: AtomKind::Prefix,
                needle: prefix.into(),
            }]);
        }
        _ => return None,
    };
    if lits.is_empty() {
        // `in ()` never holds: no atom can be satisfied, which is right,
        // but an empty key would read as "no prefilter"; leave it to the
        // full check.
        return None;
    }
    let mut atoms = Vec::with_capacity(lits.len());
    for l in lits {
        let needle = str_lit(l)?;
        if needle.len() < MIN_PARTIAL_NEEDLE && kind != AtomKind::Exact {
            // Always (or nearly always) true: no filtering power.
            return None;
        }
        atoms.push(Atom {
            field: field.clone(),
            kind,
            needle: needle.into(),
        });
    }
    Some(atoms)
}

/// The best key implied by `x`, if any.
fn expr_key(x: &ir::Expr) -> Option<Key> {
    match x {
        ir::Expr::Check(c) => check_atoms(c).map(|atoms| Key { atoms }),
        ir::Expr::And(xs) => xs.iter().filter_map(expr_key).min_by_key(Key::score),
        ir::Expr::Or(xs) => {
            let mut atoms = Vec::new();
            for k in xs {
                atoms.extend(expr_key(k)?.atoms);
            }
            Some(Key { atoms })
        }
        ir::Expr::Not(_) => None,
    }
}

fn conjuncts<'a>(x: &'a ir::Expr, out: &mut Vec<&'a ir::Expr>) {
    match x {
        ir::Expr::And(xs) => xs.iter().for_each(|k| conjuncts(k, out)),
        other => out.push(other),
    }
}

/// Up to [`MAX_KEYS`] keys for a condition, cheapest first.
pub(crate) fn rule_keys(cond: &ir::Expr) -> Vec<Key> {
    let mut cs = Vec::new();
    conjuncts(cond, &mut cs);
    let mut keys: Vec<Key> = cs.into_iter().filter_map(expr_key).collect();
    keys.sort_by_key(Key::score);
    keys.truncate(MAX_KEYS);
    keys
}

/// A byte trie over needles, walked from the start (prefixes) or the end
/// (suffixes) of a value.
#[derive(Debug, Default)]
struct Trie {
    /// (bits of needles ending here, children sorted by byte)
    nodes: Vec<(u64, Vec<(u8, u32)>)>,
}

impl Trie {
    fn insert(&mut self, needle: impl Iterator<Item = u8>, bit: u64) {
        if self.nodes.is_empty() {
            self.nodes.push((0, Vec::new()));
        }
        let mut n = 0usize;
        for b in needle {
            let next = match self.nodes[n].1.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => self.nodes[n].1[i].1 as usize,
                Err(i) => {
                    let id = self.nodes.len();
                    self.nodes.push((0, Vec::new()));
                    self.nodes[n].1.insert(i, (b, id as u32));
                    id
                }
            };
            n = next;
        }
        self.nodes[n].0 |= bit;
    }

    fn walk(&self, bytes: impl Iterator<Item = u8>) -> u64 {
        let Some(root) = self.nodes.first() else {
            return 0;
        };
        let mut mask = root.0;
        let mut n = 0usize;
        for b in bytes {
            let kids = &self.nodes[n].1;
            match kids.binary_search_by_key(&b, |c| c.0) {
                Ok(i) => {
                    n = kids[i].1 as usize;
                    mask |= self.nodes[n].0;
                }
                Err(_) => break,
            }
        }
        mask
    }
}

#[derive(Debug)]
enum Substrings {
    None,
    One(Box<memmem::Finder<'static>>, u64),
    Many(AhoCorasick, Vec<u64>),
}

/// All atoms on one field within one candidate list.
#[derive(Debug)]
pub(crate) struct Group {
    pub(crate) field: FieldRef,
    exact: HashMap<Box<[u8]>, u64, FxBuild>,
    prefix: Trie,
    suffix: Trie,
    substr: Substrings,
    /// Bits assigned so far (at most 64).
    used: u32,
    pending_substr: Vec<(Box<[u8]>, u64)>,
}

impl Group {
    fn new(field: FieldRef) -> Group {
        Group {
            field,
            exact: HashMap::default(),
            prefix: Trie::default(),
            suffix: Trie::default(),
            substr: Substrings::None,
            used: 0,
            pending_substr: Vec::new(),
        }
    }

    fn add(&mut self, a: &Atom, bit: u64) {
        match a.kind {
            AtomKind::Exact => *self.exact.entry(a.needle.clone()).or_insert(0) |= bit,
            AtomKind::Prefix => self.prefix.insert(a.needle.iter().copied(), bit),
            AtomKind::Suffix => self.suffix.insert(a.needle.iter().rev().copied(), bit),
            AtomKind::Contains => {
                match self.pending_substr.iter_mut().find(|(n, _)| *n == a.needle) {
                    Some((_, m)) => *m |= bit,
                    None => self.pending_substr.push((a.needle.clone(), bit)),
                }
            }
        }
    }

    fn finish(&mut self) {
        let pending = std::mem::take(&mut self.pending_substr);
        self.substr = match pending.len() {
            0 => Substrings::None,
            1 => Substrings::One(
                Box::new(memmem::Finder::new(&pending[0].0[..]).into_owned()),
                pending[0].1,
            ),
            _ => {
                let needles: Vec<&[u8]> = pending.iter().map(|(n, _)| &n[..]).collect();
                match AhoCorasick::new(&needles) {
                    Ok(ac) => Substrings::Many(ac, pending.iter().map(|p| p.1).collect()),
                    Err(e) => {
                        // Cannot happen for a few short needles; if it does,
                        // every substring key passes (no filtering, still
                        // correct).
                        log::warn!("prefilter automaton for {}: {e}", self.field.text());
                        let all = pending.iter().fold(0, |m, p| m | p.1);
                        Substrings::One(Box::new(memmem::Finder::new(b"").into_owned()), all)
                    }
                }
            }
        };
    }

    /// Bits of the keys that can hold for this event.
    pub(crate) fn eval<E: Extract + ?Sized>(&self, e: &E) -> u64 {
        let Some(v) = e.extract(&self.field) else {
            return 0;
        };
        let Some(t) = text_of(&v) else { return 0 };
        let mut m = self.exact.get(t).copied().unwrap_or(0);
        m |= self.prefix.walk(t.iter().copied());
        m |= self.suffix.walk(t.iter().rev().copied());
        match &self.substr {
            Substrings::None => {}
            Substrings::One(f, bit) => {
                if m & bit != *bit && f.find(t).is_some() {
                    m |= bit;
                }
            }
            Substrings::Many(ac, bits) => {
                for hit in ac.find_overlapping_iter(t) {
                    m |= bits[hit.pattern().as_usize()];
                }
            }
        }
        m
    }
}

/// A rule's keys inside one candidate list: for each key, the (group,
/// bits) pairs of which one must be set.
#[derive(Debug, Default, Clone)]
pub(crate) struct CandKeys {
    pub(crate) keys: Box<[KeyBits]>,
}

/// One key of a candidate: (group index, bits) pairs, one of which must be
/// set in the event's group masks.
pub(crate) type KeyBits = Box<[(u16, u64)]>;

/// Builds the groups of one candidate list and the per-rule key bits.
pub(crate) fn build_groups(rule_keys: &[&[Key]]) -> (Vec<Group>, Vec<CandKeys>) {
    let mut groups: Vec<Group> = Vec::new();
    let mut out = Vec::with_capacity(rule_keys.len());
    for keys in rule_keys {
        let mut cand = Vec::new();
        'key: for k in keys.iter() {
            // Which groups this key needs, reserving one bit in each.
            let mut parts: Vec<(u16, u64)> = Vec::new();
            let mut fields: Vec<&FieldRef> = k.atoms.iter().map(|a| &a.field).collect();
            fields.dedup();
            let mut plan: Vec<(usize, u64)> = Vec::new();
            for f in fields {
                if plan.iter().any(|(g, _)| groups[*g].field == *f) {
                    continue;
                }
                let g = match groups.iter().position(|g| g.field == *f && g.used < 64) {
                    Some(g) => g,
                    None if groups.len() < MAX_GROUPS => {
                        groups.push(Group::new(f.clone()));
                        groups.len() - 1
                    }
                    // Out of groups: the rule simply has one key fewer.
                    None => continue 'key,
                };
                plan.push((g, 1u64 << groups[g].used));
                groups[g].used += 1;
            }
            for a in &k.atoms {
                let (g, bit) = *plan
                    .iter()
                    .find(|(g, _)| groups[*g].field == a.field)
                    .expect("planned group for every field");
                groups[g].add(a, bit);
            }
            for (g, bit) in plan {
                match parts.iter_mut().find(|(pg, _)| *pg as usize == g) {
                    Some((_, m)) => *m |= bit,
                    None => parts.push((g as u16, bit)),
                }
            }
            cand.push(parts.into_boxed_slice());
        }
        out.push(CandKeys { keys: cand.into() });
    }
    for g in &mut groups {
        g.finish();
    }
    (groups, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trie_prefixes_and_suffixes() {
        let mut t = Trie::default();
        t.insert(b"/etc/".iter().copied(), 1);
        t.insert(b"/etc/ssh".iter().copied(), 2);
        t.insert(b"/root".iter().copied(), 4);
        assert_eq!(t.walk(b"/etc/ssh/x".iter().copied()), 3);
        assert_eq!(t.walk(b"/etc".iter().copied()), 0);
        assert_eq!(t.walk(b"/rootx".iter().copied()), 4);
        assert_eq!(t.walk(b"".iter().copied()), 0);
        let mut s = Trie::default();
        s.insert(b".pem".iter().rev().copied(), 8);
        assert_eq!(s.walk(b"/a/key.pem".iter().rev().copied()), 8);
        assert_eq!(s.walk(b"/a/key.pe".iter().rev().copied()), 0);
    }
}
