//! The matcher on Falco's three reference rules files: each compiles,
//! enables the documented rules and event types (RULES.md §0.2, §8.1), and
//! the compiled matcher (prefilters on and off, `first` and `all`) agrees
//! with the reference interpreter on generated events whose field values
//! are drawn from the literals the rules use, plus noise and missing
//! fields.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use kestrel_engine::event::EventType;
use kestrel_engine::fields::{flag, FieldArg, FieldRef, Value};
use kestrel_engine::matcher::testkit::{value_from_text, MapEvent};
use kestrel_engine::matcher::{interp, MatchOptions, RuleMatching, RuleSet};
use kestrel_engine::rules::ir::{CmpOp, Expr, Literal, Operand, Rhs, TrArg};
use kestrel_engine::rules::{Loader, Rule};
use proptest::prelude::*;

const STABLE: &str = "falco_rules.yaml";
const INCUBATING: &str = "falco-incubating_rules.yaml";
const SANDBOX: &str = "falco-sandbox_rules.yaml";

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/reference")
        .join(name)
}

fn load(files: &[&str]) -> Vec<Rule> {
    let mut l = Loader::new();
    for f in files {
        let r = l.load_file(&reference(f));
        assert!(r.successful(), "{f}: {:?}", r.errors);
    }
    l.rules().to_vec()
}

fn set(names: &str) -> BTreeSet<String> {
    names.split(", ").map(str::to_string).collect()
}

#[test]
fn reference_files_compile_with_the_documented_rules_and_event_types() {
    let stable = set("connect, dup, dup2, dup3, execve, execveat, finit_module, init_module, link, linkat, open, openat, openat2, ptrace, sendmsg, sendto, socket, symlink, symlinkat");
    let incubating = set("accept, accept4, bpf, chmod, connect, creat, execve, execveat, fchmod, fchmodat, listen, open, openat, openat2, rename, renameat, renameat2, rmdir, sendmsg, sendto, setns, setuid, unlink, unlinkat, unshare");
    let sandbox = set("execve, execveat, mkdir, mkdirat, open, openat, openat2, rename, renameat, renameat2, rmdir, unlink, unlinkat, userfaultfd");
    let all: BTreeSet<String> = stable
        .iter()
        .chain(&incubating)
        .chain(&sandbox)
        .cloned()
        .collect();
    for (files, enabled, types) in [
        (&[STABLE][..], 25, &stable),
        (&[INCUBATING][..], 31, &incubating),
        (&[SANDBOX][..], 25, &sandbox),
        (&[STABLE, INCUBATING, SANDBOX][..], 81, &all),
    ] {
        let rules = load(files);
        for prefilters in [true, false] {
            let rs = RuleSet::build(
                &rules,
                &MatchOptions {
                    prefilters,
                    ..MatchOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("{files:?}: {e}"));
            assert_eq!(rs.len(), enabled, "{files:?}");
            let et = rs.event_types();
            assert!(!et.is_all(), "{files:?}");
            let got: BTreeSet<String> = et.names().into_iter().collect();
            assert_eq!(&got, types, "{files:?}");
        }
    }
}

/// Candidate values per field for one rule, as text.
type Pools = BTreeMap<String, (FieldRef, BTreeSet<String>)>;

fn is_multi(f: &FieldRef) -> bool {
    let d = f.def();
    (d.has(flag::ANY_ANCESTOR) && f.arg == FieldArg::None) || d.has(flag::EITHER_ENDPOINT)
}

fn operand_fields(o: &Operand, out: &mut Vec<FieldRef>) {
    match o {
        Operand::Field(f) => out.push(f.clone()),
        Operand::Transform(_, args) => {
            for a in args {
                if let TrArg::Operand(inner) = a {
                    operand_fields(inner, out);
                }
            }
        }
    }
}

/// Values that exercise a literal under an operator: the literal itself
/// and strings that satisfy the pattern operators.
fn samples(op: CmpOp, l: &Literal) -> Vec<String> {
    match l {
        Literal::Str(b) => {
            let t = String::from_utf8_lossy(b).into_owned();
            let glob = t.replace('*', "ab/c").replace('?', "z");
            match op {
                CmpOp::StartsWith => vec![t.clone(), format!("{t}x/y")],
                CmpOp::EndsWith => vec![t.clone(), format!("/q/{t}")],
                CmpOp::Contains | CmpOp::IContains => {
                    vec![t.clone(), format!("a {t} z"), t.to_uppercase()]
                }
                CmpOp::Glob | CmpOp::IGlob => vec![glob.clone(), glob.to_uppercase()],
                CmpOp::PMatch => vec![t.clone(), format!("{glob}/sub")],
                _ => vec![t],
            }
        }
        Literal::Bytes(b) => vec![String::from_utf8_lossy(b).into_owned()],
        Literal::I64(i) => vec![i.to_string(), (i + 1).to_string(), (i - 1).to_string()],
        Literal::U64(u) => vec![
            u.to_string(),
            (u + 1).to_string(),
            u.saturating_sub(1).to_string(),
        ],
        Literal::Bool(_) => vec!["true".into(), "false".into()],
        Literal::Ip(a) => vec![a.to_string()],
        Literal::Net(n) => vec![n.addr.to_string()],
    }
}

fn harvest(x: &Expr, pools: &mut Pools) {
    match x {
        Expr::And(xs) | Expr::Or(xs) => xs.iter().for_each(|k| harvest(k, pools)),
        Expr::Not(k) => harvest(k, pools),
        Expr::Check(c) => {
            let mut fields = Vec::new();
            operand_fields(&c.lhs, &mut fields);
            if let Rhs::Field(o) = &c.rhs {
                operand_fields(o, &mut fields);
            }
            let lits: Vec<&Literal> = match &c.rhs {
                Rhs::Value(l) => vec![l],
                Rhs::List(ls) => ls.iter().collect(),
                _ => Vec::new(),
            };
            for f in fields {
                if matches!(f.def().name, "evt.type" | "syscall.type") {
                    // Set by the generator from the rule's event types; the
                    // matcher reads it from the `matches` argument.
                    continue;
                }
                let pool = &mut pools
                    .entry(f.text())
                    .or_insert_with(|| (f.clone(), BTreeSet::new()))
                    .1;
                for l in &lits {
                    pool.extend(samples(c.op, l));
                }
            }
        }
    }
}

/// A small deterministic generator (xorshift64*), so that the coverage
/// test is reproducible without proptest's machinery.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn noise(&mut self) -> String {
        let alphabet = b"abcdefghijklmnopqrstuvwxyz/._- 0123456789";
        let n = self.below(10);
        (0..n)
            .map(|_| alphabet[self.below(alphabet.len())] as char)
            .collect()
    }
}

struct Harness {
    rules: Vec<Rule>,
    pools: Vec<Pools>,
    sets: Vec<(RuleMatching, bool, RuleSet)>,
}

impl Harness {
    fn new(files: &[&str]) -> Harness {
        let rules = load(files);
        let pools = rules
            .iter()
            .map(|r| {
                let mut p = Pools::new();
                harvest(&r.condition, &mut p);
                p
            })
            .collect();
        let mut sets = Vec::new();
        for mode in [RuleMatching::First, RuleMatching::All] {
            for prefilters in [true, false] {
                let opts = MatchOptions {
                    rule_matching: mode,
                    prefilters,
                    ..MatchOptions::default()
                };
                sets.push((mode, prefilters, RuleSet::build(&rules, &opts).unwrap()));
            }
        }
        Harness { rules, pools, sets }
    }

    /// An event aimed at rule `ri`: its event type, its fields drawn from
    /// its literals (mostly), noise or missing; fields of a second rule
    /// mixed in for cross-talk.
    fn event(&self, ri: usize, rng: &mut Rng) -> (String, MapEvent) {
        let r = &self.rules[ri];
        let ty = match &r.evttypes {
            Some(s) if !s.is_empty() => s.iter().nth(rng.below(s.len())).unwrap().clone(),
            _ => "openat".to_string(),
        };
        let mut e = MapEvent::new(&ty);
        let other = rng.below(self.rules.len());
        // How often a field takes one of the rule's own literals: varied per
        // event so that both positive and negated checks get satisfied.
        let from_pool = [4, 7, 9][rng.below(3)];
        for pools in [&self.pools[other], &self.pools[ri]] {
            for (f, pool) in pools.values() {
                let pick = |rng: &mut Rng| -> Option<Value<'static>> {
                    let roll = rng.below(20);
                    let text = if roll == 0 {
                        return None;
                    } else if roll <= from_pool * 2 && !pool.is_empty() {
                        pool.iter().nth(rng.below(pool.len())).unwrap().clone()
                    } else {
                        rng.noise()
                    };
                    value_from_text(f, &text).ok()
                };
                if is_multi(f) {
                    let n = rng.below(4);
                    let vals: Vec<_> = (0..n).filter_map(|_| pick(rng)).collect();
                    e.set_each(f.clone(), vals);
                } else {
                    match pick(rng) {
                        Some(v) => e.set(f.clone(), v),
                        None => e.unset(f),
                    };
                }
            }
        }
        (ty, e)
    }

    fn expected(&self, ty: &str, e: &MapEvent, mode: RuleMatching) -> Vec<String> {
        let enabled = || self.rules.iter().filter(|r| r.enabled);
        let typed: Vec<String> = enabled()
            .filter(|r| r.evttypes.as_ref().is_some_and(|s| s.contains(ty)))
            .filter(|r| interp::eval(&r.condition, e))
            .map(|r| r.name.clone())
            .collect();
        let list = if typed.is_empty() {
            enabled()
                .filter(|r| r.evttypes.as_ref().is_none_or(|s| s.is_empty()))
                .filter(|r| interp::eval(&r.condition, e))
                .map(|r| r.name.clone())
                .collect()
        } else {
            typed
        };
        match mode {
            RuleMatching::All => list,
            RuleMatching::First => list.into_iter().take(1).collect(),
        }
    }

    /// Checks every ruleset variant on the event; returns the rules that
    /// matched (all mode).
    fn check(&self, ty: &str, e: &MapEvent) -> Vec<String> {
        let tid = EventType::from_name(ty).unwrap_or_default();
        let mut all = Vec::new();
        for (mode, prefilters, rs) in &self.sets {
            let mut out = Vec::new();
            rs.matches(tid, ty, e, &mut out);
            let got: Vec<String> = out.iter().map(|r| r.name.clone()).collect();
            let want = self.expected(ty, e, *mode);
            assert_eq!(
                got, want,
                "mode {mode:?} prefilters {prefilters} type {ty} event {e:?}"
            );
            if *mode == RuleMatching::All {
                all = got;
            }
        }
        all
    }
}

#[test]
fn compiled_matcher_agrees_with_the_interpreter_on_every_reference_rule() {
    for files in [
        &[STABLE][..],
        &[INCUBATING][..],
        &[SANDBOX][..],
        &[STABLE, INCUBATING, SANDBOX][..],
    ] {
        let h = Harness::new(files);
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut fired = BTreeSet::new();
        let per_rule = 100;
        for ri in 0..h.rules.len() {
            for _ in 0..per_rule {
                let (ty, e) = h.event(ri, &mut rng);
                fired.extend(h.check(&ty, &e));
            }
        }
        let enabled = h.rules.iter().filter(|r| r.enabled).count();
        eprintln!(
            "{files:?}: {} of {enabled} enabled rules fired at least once",
            fired.len()
        );
        // The generator is aimed at each rule; most must fire, or the
        // comparison says little (measured: 22/25, 23/31, 20/25, 65/81).
        assert!(
            fired.len() * 2 > enabled,
            "{files:?}: only {} rules fired",
            fired.len()
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 64,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn stable_file_matcher_agrees_with_the_interpreter(seed in any::<u64>(), pick in any::<usize>()) {
        thread_local! {
            static H: Harness = Harness::new(&[STABLE, INCUBATING, SANDBOX]);
        }
        H.with(|h| {
            let mut rng = Rng(seed | 1);
            for k in 0..8 {
                let (ty, e) = h.event((pick + k) % h.rules.len(), &mut rng);
                h.check(&ty, &e);
            }
        });
    }
}
