//! Matching: the event-type index, prefilters and the compiled evaluator,
//! and the plain reference interpreter used in differential tests.
//!
//! # Design
//!
//! [`RuleSet::build`] takes the loader's rules and the configuration
//! ([`MatchOptions`]) and produces an immutable ruleset, shared by every
//! worker behind an `Arc` and replaced whole on reload:
//!
//! - **Selection** (RULES.md §6.2, §6.3): rules less severe than the
//!   minimum priority are dropped for good; the rest start enabled as the
//!   file says, then `enable`/`disable` by rule name (the greedy `*`
//!   wildcard quirk) or by tag are applied in order. Enabling appends to
//!   the evaluation order; disabling removes.
//! - **Index** (§6.4, §6.6): enabled rules are listed per event type in
//!   enable order, in a dense table indexed by [`EventType`] id, plus a
//!   by-name table for event types kestrel does not capture (JSON replay
//!   may name any syscall). Rules with no event-type restriction go to an
//!   "all events" list evaluated after the typed candidates; **(quirk)** in
//!   `all` mode that list is skipped when a typed candidate matched.
//! - **Prefilters** (module `prefilter`): per candidate list, necessary
//!   conditions of all rules on the same field are merged into one hash
//!   map / trie / Aho-Corasick pass, so that most events are rejected after
//!   one extraction per field. They only ever say "cannot match".
//! - **Evaluation** (module `compile`): each condition is compiled into a tree
//!   of checks with pre-built structures, cheap checks first, evaluated
//!   with short-circuit.
//!
//! [`interp`] evaluates the same IR naively; the property tests hold the
//! two to the same answers. [`testkit::MapEvent`] is an [`Extract`] over
//! explicit field values for tests, golden files and benchmarks. [`dns`]
//! resolves the host names of DNS-name fields and refreshes them in the
//! background.
//!
//! Measured (benches/engine_match.rs, thread CPU time, development VM):
//! about 7 M events/s on the stable file with prefilters, 2.2 M without,
//! 0.8 M for the interpreter loop; building the matcher for all three
//! reference files takes about 2 ms (loading them about 17 ms more).
//!
//! Alternatives rejected: compiling conditions to boxed closures (an enum
//! tree is as direct to evaluate and can be printed and logged; the two
//! were not benchmarked against each other); one global automaton over
//! all fields (fields are extracted lazily, and the rules of one event type
//! share only a few fields, so per-field groups do the same work without
//! extracting fields no candidate needs).

pub mod dns;
pub mod interp;
pub mod testkit;

mod compile;
mod evtset;
mod glob;
mod pmatch;
mod prefilter;
/// Operand (transformer) evaluation, shared with the output formatter.
pub(crate) mod transform;
mod value;
/// C-string view of a literal, shared with the kernel filter's derivation.
pub(crate) use value::cstr;

use std::collections::HashMap;
use std::sync::Arc;

use crate::event::table::EVENT_ID_LIMIT;
use crate::event::EventType;
use crate::fields::Extract;
use crate::kfilter::{KernelFilter, TypeFilter};
use crate::rules::{Priority, Rule};

use compile::{eval_slots, Compiler, Ctx, Leaf, Node, Precheck, PrecheckMemo, PrecheckSlots};
pub use dns::DnsCache;
pub use evtset::EventTypeSet;
use prefilter::{CandKeys, Group, Key, MAX_GROUPS};

/// `rule_matching` (RULES.md §6.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RuleMatching {
    /// Stop at the first matching rule: at most one alert per event.
    #[default]
    First,
    /// Every matching rule, in order.
    All,
}

/// One entry of the configuration's `rules:` selection list (§6.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// `{enable: {rule: P}}`: `P` is a name, `*` its only wildcard.
    EnableRule(String),
    /// `{disable: {rule: P}}`.
    DisableRule(String),
    /// `{enable: {tag: T}}`.
    EnableTag(String),
    /// `{disable: {tag: T}}`.
    DisableTag(String),
}

/// What to build a [`RuleSet`] with.
#[derive(Debug, Clone)]
pub struct MatchOptions {
    /// `first` (default) or `all`.
    pub rule_matching: RuleMatching,
    /// Least severe priority that is evaluated (default `Debug`: all).
    pub min_priority: Priority,
    /// Selection entries, applied in order after loading.
    pub selection: Vec<Selection>,
    /// Use prefilters (default). Off only for tests and benchmarks: the
    /// answers are the same, only slower.
    pub prefilters: bool,
}

impl Default for MatchOptions {
    fn default() -> MatchOptions {
        MatchOptions {
            rule_matching: RuleMatching::First,
            min_priority: Priority::Debug,
            selection: Vec::new(),
            prefilters: true,
        }
    }
}

/// Why a ruleset cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum MatchBuildError {
    /// A `regex` pattern the regex engine rejects (the loader validates
    /// patterns, so this means the two disagree, or a size limit was hit).
    #[error("rule '{rule}': cannot compile regex {pattern:?}")]
    Regex {
        /// The rule.
        rule: String,
        /// The pattern as written.
        pattern: String,
        /// The regex engine's error.
        #[source]
        source: Box<regex::Error>,
    },
}

/// Greedy wildcard match of rule names (§6.3): `*` is the only wildcard;
/// **(quirk)** no backtracking, so `*ab` does not match `abab`. The
/// loader's implementation, shared so that `-l` listings and selection
/// agree.
pub use crate::rules::loader::matches_wildcard;

/// One candidate rule in a list.
#[derive(Debug)]
struct Cand {
    /// Index into `RuleSet::rules`.
    rule: u32,
    /// The condition, with its `evt.type` checks folded for the list's
    /// event names.
    node: Node,
    /// The condition's cheap checks, run before the prefilters.
    precheck: Option<Precheck>,
    keys: CandKeys,
}

/// The rules one event type is checked against, with their shared
/// prefilter groups.
#[derive(Debug)]
struct CandList {
    cands: Box<[Cand]>,
    groups: Box<[Group]>,
    /// The cheap checks of the candidates' prechecks, by slot.
    slots: Box<[Arc<Leaf>]>,
    /// With few slots: for every combination of their values, the
    /// candidates whose precheck does not reject the event (a bit per
    /// candidate, `words` u64 per combination). The event evaluates each
    /// slot once and skips the rejected candidates without walking their
    /// prechecks.
    survivors: Option<Box<[u64]>>,
    words: usize,
}

/// Lists with at most this many distinct cheap checks get a survivor
/// table (2^n rows).
const SURVIVOR_TABLE_MAX_SLOTS: usize = 10;

/// A compiled, immutable ruleset. `Send + Sync`: share it behind an `Arc`.
#[derive(Debug)]
pub struct RuleSet {
    /// Enabled rules in enable order.
    rules: Vec<Rule>,
    by_type: Vec<Option<Arc<CandList>>>,
    by_name: HashMap<String, Arc<CandList>>,
    all_events: Option<Arc<CandList>>,
    mode: RuleMatching,
    prefilters: bool,
    evttypes: EventTypeSet,
    /// What the lists were built from, kept for [`RuleSet::set_kernel_marks`].
    compiled: Vec<Node>,
    keys: Vec<Vec<Key>>,
    marks: Option<KernelMarks>,
}

/// The kernel interest filter's marks as this ruleset reads them: an
/// event the filter of generation `gen` evaluated and marked "no clause
/// held" can match only the rules the filter cannot constrain on its type
/// (`kfilter` proves the rest cannot match it), so it is matched against
/// `unconstrained[type]` alone.
#[derive(Debug)]
struct KernelMarks {
    gen: u8,
    unconstrained: Vec<Option<Arc<CandList>>>,
}

/// Enabled rule indices (into the input slice), in enable order (§6.2,
/// §6.3).
fn select(rules: &[Rule], opts: &MatchOptions) -> Vec<usize> {
    let eligible = |r: &Rule| r.priority <= opts.min_priority;
    let mut order: Vec<usize> = (0..rules.len())
        .filter(|&i| rules[i].enabled && eligible(&rules[i]))
        .collect();
    for s in &opts.selection {
        let (enable, name, tag) = match s {
            Selection::EnableRule(p) => (true, Some(p), None),
            Selection::DisableRule(p) => (false, Some(p), None),
            Selection::EnableTag(t) => (true, None, Some(t)),
            Selection::DisableTag(t) => (false, None, Some(t)),
        };
        let hit = |r: &Rule| match (name, tag) {
            (Some(p), _) => matches_wildcard(p, &r.name),
            (_, Some(t)) => r.tags.contains(t),
            _ => false,
        };
        if enable {
            for (i, r) in rules.iter().enumerate() {
                if hit(r) && eligible(r) && !order.contains(&i) {
                    order.push(i);
                }
            }
        } else {
            order.retain(|&i| !hit(&rules[i]));
        }
    }
    order
}

/// The candidate list of `members` for events named `name` (`None`: any
/// name, the list of rules without an event-type restriction).
fn build_list(
    members: &[u32],
    name: Option<&str>,
    keys: &[Vec<Key>],
    compiled: &[Node],
    prefilters: bool,
) -> CandList {
    let (groups, cand_keys) = if prefilters {
        let rk: Vec<&[Key]> = members.iter().map(|&r| &keys[r as usize][..]).collect();
        prefilter::build_groups(&rk)
    } else {
        (Vec::new(), vec![CandKeys::default(); members.len()])
    };
    let mut slots = PrecheckSlots::default();
    let cands: Box<[Cand]> = members
        .iter()
        .zip(cand_keys)
        .filter_map(|(&rule, keys)| {
            let node = match name {
                Some(n) => compiled[rule as usize].fold_evt_name(n),
                None => compiled[rule as usize].clone(),
            };
            // A rule whose type checks rule these events out is no
            // candidate for them.
            if node.is_never() {
                return None;
            }
            Some(Cand {
                rule,
                precheck: if prefilters {
                    node.precheck(&mut slots)
                } else {
                    None
                },
                node,
                keys,
            })
        })
        .collect();
    let slots = slots.into_leaves();
    let words = cands.len().div_ceil(64).max(1);
    let survivors = (!slots.is_empty() && slots.len() <= SURVIVOR_TABLE_MAX_SLOTS).then(|| {
        let rows = 1usize << slots.len();
        let mut t = vec![0u64; rows * words];
        for v in 0..rows {
            let memo = PrecheckMemo::known(slots.len(), v as u64);
            for (i, c) in cands.iter().enumerate() {
                let rejected = c.precheck.as_ref().is_some_and(|p| p.is_false_known(&memo));
                if !rejected {
                    t[v * words + i / 64] |= 1 << (i % 64);
                }
            }
        }
        t.into_boxed_slice()
    });
    CandList {
        cands,
        groups: groups.into(),
        slots: slots.into(),
        survivors,
        words,
    }
}

impl RuleSet {
    /// Compiles `rules` (the loader's output, in definition order) with the
    /// global DNS cache ([`DnsCache::global`]).
    pub fn build(rules: &[Rule], opts: &MatchOptions) -> Result<RuleSet, MatchBuildError> {
        RuleSet::build_with_dns(rules, opts, DnsCache::global())
    }

    /// Like [`RuleSet::build`], resolving host names of DNS-name fields
    /// through `dns` (its own resolver and refresh interval).
    pub fn build_with_dns(
        rules: &[Rule],
        opts: &MatchOptions,
        dns: &Arc<DnsCache>,
    ) -> Result<RuleSet, MatchBuildError> {
        let order = select(rules, opts);
        let mut enabled = Vec::with_capacity(order.len());
        let mut compiled = Vec::with_capacity(order.len());
        let mut keys = Vec::with_capacity(order.len());
        for &i in &order {
            let r = &rules[i];
            let c = Compiler { rule: &r.name, dns };
            compiled.push(c.expr(&r.condition)?);
            let k = if opts.prefilters {
                prefilter::rule_keys(&r.condition)
            } else {
                Vec::new()
            };
            for key in &k {
                log::debug!("rule '{}': prefilter key {}", r.name, key.describe());
            }
            keys.push(k);
            enabled.push(r.clone());
        }

        // Members of each list, in enable order.
        let mut typed: HashMap<&str, Vec<u32>> = HashMap::new();
        let mut untyped: Vec<u32> = Vec::new();
        let mut evttypes = EventTypeSet::new();
        for (pos, r) in enabled.iter().enumerate() {
            match &r.evttypes {
                Some(set) if !set.is_empty() => {
                    for name in set {
                        typed.entry(name.as_str()).or_default().push(pos as u32);
                        evttypes.insert_name(name);
                    }
                }
                _ => untyped.push(pos as u32),
            }
        }
        if !untyped.is_empty() {
            evttypes = EventTypeSet::all();
        }

        // Each event name gets its members' conditions with the
        // `evt.type` checks folded; names with the same members and the
        // same verdicts on every such check share one list.
        let mut shared: HashMap<(Vec<u32>, Vec<bool>), Arc<CandList>> = HashMap::new();
        let mut by_type: Vec<Option<Arc<CandList>>> = vec![None; EVENT_ID_LIMIT];
        let mut by_name = HashMap::new();
        for (name, members) in typed {
            let mut verdicts = Vec::new();
            for &m in &members {
                compiled[m as usize].evt_name_verdicts(name, &mut verdicts);
            }
            let list = shared
                .entry((members.clone(), verdicts))
                .or_insert_with(|| {
                    Arc::new(build_list(
                        &members,
                        Some(name),
                        &keys,
                        &compiled,
                        opts.prefilters,
                    ))
                })
                .clone();
            if let Some(ty) = EventType::from_name(name) {
                // The list is folded for this name: an event of this type
                // under another name takes `by_name` (see `matches`).
                if ty.info().is_some_and(|i| i.name == name) {
                    by_type[ty.0 as usize] = Some(list.clone());
                }
            }
            by_name.insert(name.to_string(), list);
        }
        let all_events = (!untyped.is_empty()).then(|| {
            Arc::new(build_list(
                &untyped,
                None,
                &keys,
                &compiled,
                opts.prefilters,
            ))
        });

        log::debug!(
            "ruleset: {} enabled rules, {} distinct candidate lists, {} rules for all event types",
            enabled.len(),
            shared.len(),
            untyped.len()
        );
        Ok(RuleSet {
            rules: enabled,
            by_type,
            by_name,
            all_events,
            mode: opts.rule_matching,
            prefilters: opts.prefilters,
            evttypes,
            compiled,
            keys,
            marks: None,
        })
    }

    /// Reads the marks of the kernel filter `kf`, derived from this
    /// ruleset ([`KernelFilter::derive`]) and installed as generation
    /// `gen` (what the probe's `install_filter` returns): from now on an
    /// event that filter marks "no clause held" is matched against its
    /// type's unconstrained rules only. Events marked by another filter (an
    /// older or newer one) are matched against every candidate, as are
    /// unmarked ones.
    pub fn set_kernel_marks(&mut self, kf: &KernelFilter, gen: u8) {
        let mut unconstrained: Vec<Option<Arc<CandList>>> = vec![None; EVENT_ID_LIMIT];
        let mut shared: HashMap<Vec<u32>, Arc<CandList>> = HashMap::new();
        for (id, t) in kf.types.iter().enumerate() {
            if !matches!(t, TypeFilter::Clauses(_) | TypeFilter::Mark(_)) {
                continue;
            }
            let (Some(Some(list)), Some(info)) =
                (self.by_type.get(id), EventType(id as u16).info())
            else {
                continue;
            };
            let always = kf.always.get(id).map_or(&[][..], Vec::as_slice);
            let members: Vec<u32> = list
                .cands
                .iter()
                .map(|c| c.rule)
                .filter(|r| always.contains(r))
                .collect();
            let l = shared.entry(members.clone()).or_insert_with(|| {
                Arc::new(build_list(
                    &members,
                    Some(info.name),
                    &self.keys,
                    &self.compiled,
                    self.prefilters,
                ))
            });
            unconstrained[id] = Some(l.clone());
        }
        self.marks = Some(KernelMarks { gen, unconstrained });
    }

    /// Whether header flags `flags` mark an event "no clause held" by the
    /// filter [`RuleSet::set_kernel_marks`] was given.
    pub fn marked_off(&self, flags: u32) -> bool {
        use crate::event::wire::{HF_KEVAL, HF_KGEN_SHIFT, HF_KSEL};
        self.marks.as_ref().is_some_and(|m| {
            flags & (HF_KEVAL | HF_KSEL) == HF_KEVAL && (flags >> HF_KGEN_SHIFT) as u8 == m.gen
        })
    }

    /// Runs one candidate list; returns whether a rule matched.
    fn run<'r, E: Extract + ?Sized>(
        &'r self,
        list: &CandList,
        e: &E,
        ctx: &Ctx<'_>,
        out: &mut Vec<&'r Rule>,
    ) -> bool {
        let mut masks = [0u64; MAX_GROUPS];
        let mut done: u32 = 0;
        let mut memo = PrecheckMemo::default();
        let mut matched = false;
        // With a survivor table, every slot is evaluated once up front
        // and rejected candidates are skipped by their bit.
        let survivors = list.survivors.as_ref().map(|t| {
            let m = eval_slots(&list.slots, e, ctx);
            let row = m.value() as usize * list.words;
            &t[row..row + list.words]
        });
        'cands: for (i, c) in list.cands.iter().enumerate() {
            let node = &c.node;
            if let Some(sv) = survivors {
                if sv[i / 64] & (1 << (i % 64)) == 0 {
                    continue;
                }
            }
            if self.prefilters {
                // The prefilter verdict is free when its groups already ran
                // for an earlier candidate; otherwise the condition's cheap
                // checks go first (they are per rule, the groups shared).
                let known = !c.keys.keys.is_empty()
                    && c.keys
                        .keys
                        .iter()
                        .flatten()
                        .all(|&(g, _)| done & (1 << g) != 0);
                if !known && survivors.is_none() {
                    if let Some(p) = &c.precheck {
                        if p.is_false(e, ctx, &mut memo) {
                            continue;
                        }
                    }
                }
                for key in c.keys.keys.iter() {
                    let mut pass = false;
                    for &(g, bits) in key.iter() {
                        let g = g as usize;
                        if done & (1 << g) == 0 {
                            masks[g] = list.groups[g].eval(e);
                            done |= 1 << g;
                        }
                        if masks[g] & bits != 0 {
                            pass = true;
                            break;
                        }
                    }
                    if !pass {
                        continue 'cands;
                    }
                }
            }
            if node.eval(e, ctx) {
                out.push(&self.rules[c.rule as usize]);
                matched = true;
                if self.mode == RuleMatching::First {
                    return true;
                }
            }
        }
        matched
    }

    /// Matching rules for one event, in order (at most one with
    /// [`RuleMatching::First`]), appended to `out`. `ty` selects the
    /// candidates when kestrel captures that event type; otherwise
    /// `evt_name` does (JSON replay of other syscalls). `evt_name` is also
    /// the value `evt.type` checks see.
    pub fn matches<'r, E: Extract + ?Sized>(
        &'r self,
        ty: EventType,
        evt_name: &str,
        e: &E,
        out: &mut Vec<&'r Rule>,
    ) {
        self.matches_marked(ty, evt_name, e, false, out);
    }

    /// [`RuleSet::matches`] for an event the kernel filter marked "no
    /// clause held" (`marked_off`, see [`RuleSet::marked_off`]): only
    /// the type's unconstrained rules are candidates.
    pub fn matches_marked<'r, E: Extract + ?Sized>(
        &'r self,
        ty: EventType,
        evt_name: &str,
        e: &E,
        marked_off: bool,
        out: &mut Vec<&'r Rule>,
    ) {
        let ctx = Ctx { evt_name };
        // Lists are folded for the event name their `evt.type` checks
        // see: the per-type table serves the type's own name.
        let list = match ty.info() {
            Some(i) if i.name == evt_name => {
                let table = match &self.marks {
                    Some(m) if marked_off => &m.unconstrained,
                    _ => &self.by_type,
                };
                table.get(ty.0 as usize).and_then(Option::as_deref)
            }
            _ => self.by_name.get(evt_name).map(|l| &**l),
        };
        let typed_matched = match list {
            Some(l) => self.run(l, e, &ctx, out),
            None => false,
        };
        // (quirk) `all` mode skips the all-events list after a typed match;
        // `first` mode has stopped already.
        if typed_matched {
            return;
        }
        if let Some(l) = &self.all_events {
            self.run(l, e, &ctx, out);
        }
    }

    /// Event types any enabled rule needs (for the probe's in-kernel
    /// filter); [`EventTypeSet::is_all`] when a rule has no event-type
    /// restriction.
    pub fn event_types(&self) -> EventTypeSet {
        self.evttypes.clone()
    }

    /// The enabled rules, in evaluation (enable) order.
    pub fn enabled_rules(&self) -> impl Iterator<Item = &Rule> {
        self.rules.iter()
    }

    /// Number of enabled rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether no rule is enabled.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<RuleSet>();
}

#[cfg(test)]
mod tests;
