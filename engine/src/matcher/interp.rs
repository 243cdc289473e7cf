//! The reference interpreter: a plain recursive evaluator of an
//! [`ir::Expr`] against one event, written to be obviously correct rather
//! than fast. No index, no prefilters, no precompiled sets: every check
//! extracts its field, collects all its values and compares them with each
//! literal in turn. The compiled matcher ([`super::RuleSet`]) is tested
//! against it on generated events.
//!
//! It implements the pattern operators (`glob`, `iglob`, `pmatch`) itself,
//! independently of the compiled versions, so that the differential tests
//! compare two implementations of them. It shares with the compiled matcher
//! only scalar comparison (module `value`), transformer evaluation and
//! the DNS cache.

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use crate::fields::{flag, Extract, FieldType, Value};
use crate::rules::ir::{self, CmpOp, Literal, Modifier, Operand, Rhs};

use super::dns::{self, DnsCache};
use super::glob::class_contains;
use super::transform::operand_value;
use super::value::{anchored_regex, compare, text_of, Scalar};

/// Whether `expr` holds for the event, resolving DNS-name literals through
/// the process-wide cache ([`DnsCache::global`]).
pub fn eval<E: Extract + ?Sized>(expr: &ir::Expr, e: &E) -> bool {
    eval_with(expr, e, DnsCache::global())
}

/// Whether `expr` holds for the event, resolving DNS-name literals
/// through `dns`.
pub fn eval_with<E: Extract + ?Sized>(expr: &ir::Expr, e: &E, dns: &Arc<DnsCache>) -> bool {
    match expr {
        ir::Expr::And(xs) => xs.iter().all(|x| eval_with(x, e, dns)),
        ir::Expr::Or(xs) => xs.iter().any(|x| eval_with(x, e, dns)),
        ir::Expr::Not(x) => !eval_with(x, e, dns),
        ir::Expr::Check(c) => check(c, e, dns),
    }
}

/// How the values of the left-hand side combine.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Single,
    AnyAncestor,
    Endpoints,
    List,
}

fn check<E: Extract + ?Sized>(c: &ir::Check, e: &E, dns: &Arc<DnsCache>) -> bool {
    let (mode, values): (Mode, Vec<Value<'_>>) = match &c.lhs {
        Operand::Field(f) => {
            let d = f.def();
            let mode = if d.has(flag::ANY_ANCESTOR) && f.arg == crate::fields::FieldArg::None {
                Mode::AnyAncestor
            } else if d.has(flag::EITHER_ENDPOINT) {
                Mode::Endpoints
            } else if d.has(flag::LIST) {
                Mode::List
            } else {
                Mode::Single
            };
            if mode == Mode::Single {
                (mode, e.extract(f).into_iter().collect())
            } else {
                let mut vals = Vec::new();
                e.extract_each(f, &mut |v| {
                    vals.push(v.into_owned());
                    false
                });
                (mode, vals)
            }
        }
        t @ Operand::Transform(..) => (Mode::Single, operand_value(t, e).into_iter().collect()),
    };
    if c.op == CmpOp::Exists {
        return !values.is_empty();
    }
    // DNS-name fields without a known name compare the socket address with
    // the literal hosts' addresses (§3.15).
    if let Operand::Field(f) = &c.lhs {
        if f.def().has(flag::DNS_NAME)
            && values.is_empty()
            && matches!(c.op, CmpOp::Eq | CmpOp::Ne | CmpOp::In | CmpOp::Intersects)
            && c.modifier.is_none()
        {
            return dns_check(c, f, e, dns);
        }
    }
    if values.is_empty() {
        return false;
    }
    let is_ipnet_endpoint = match &c.lhs {
        Operand::Field(f) => f.def().has(flag::EITHER_ENDPOINT) && f.def().ty == FieldType::IpNet,
        _ => false,
    };
    let pred = |v: &Value<'_>| predicate(c, v, e, is_ipnet_endpoint);
    match mode {
        Mode::Single => pred(&values[0]),
        Mode::AnyAncestor => values.iter().any(pred),
        Mode::Endpoints => {
            if c.op == CmpOp::Ne {
                values.iter().all(pred)
            } else {
                values.iter().any(pred)
            }
        }
        Mode::List => {
            if c.op == CmpOp::In {
                values.iter().all(pred)
            } else {
                values.iter().any(pred)
            }
        }
    }
}

fn dns_check<E: Extract + ?Sized>(
    c: &ir::Check,
    f: &crate::fields::FieldRef,
    e: &E,
    cache: &Arc<DnsCache>,
) -> bool {
    let Some(addr_field) = dns::address_field(f) else {
        return false;
    };
    let Some(Value::Ip(addr)) = e.extract(&addr_field) else {
        return false;
    };
    let hosts: Vec<&Literal> = match &c.rhs {
        Rhs::Value(l) => vec![l],
        Rhs::List(ls) => ls.iter().collect(),
        _ => return false,
    };
    let found = hosts.iter().any(|l| match l {
        Literal::Str(h) => cache
            .entry(&String::from_utf8_lossy(super::value::cstr(h)))
            .contains(addr),
        _ => false,
    });
    if c.op == CmpOp::Ne {
        !found
    } else {
        found
    }
}

/// `op` between one left-hand value and the right-hand side.
fn predicate<E: Extract + ?Sized>(
    c: &ir::Check,
    v: &Value<'_>,
    e: &E,
    ipnet_endpoint: bool,
) -> bool {
    match (&c.rhs, c.modifier) {
        (Rhs::List(ls), Some(m)) => {
            let n = ls
                .iter()
                .filter(|l| scalar_op(c.op, v, Scalar::of_literal(l)))
                .count();
            match m {
                Modifier::AnyOf => n >= 1,
                Modifier::AllOf => !ls.is_empty() && n == ls.len(),
                Modifier::OneOf => n == 1,
            }
        }
        (Rhs::List(ls), None) => match c.op {
            CmpOp::PMatch => {
                let Some(t) = text_of(v) else { return false };
                ls.iter().any(|l| match l {
                    Literal::Str(p) => naive_pmatch(super::value::cstr(p), t),
                    _ => false,
                })
            }
            // (quirk) `fd.net in (...)` only looks at the first network.
            _ if ipnet_endpoint => ls
                .first()
                .is_some_and(|l| scalar_op(CmpOp::Eq, v, Scalar::of_literal(l))),
            _ => ls
                .iter()
                .any(|l| scalar_op(CmpOp::Eq, v, Scalar::of_literal(l))),
        },
        (Rhs::Value(l), _) => scalar_op(c.op, v, Scalar::of_literal(l)),
        (Rhs::Field(o), _) => match operand_value(o, e) {
            Some(r) => scalar_op(c.op, v, Scalar::of_value(&r)),
            None => false,
        },
        (Rhs::None, _) => false,
    }
}

fn scalar_op(op: CmpOp, v: &Value<'_>, r: Scalar<'_>) -> bool {
    match (op, r) {
        (CmpOp::Glob | CmpOp::IGlob, Scalar::Bytes(p)) => {
            let Some(t) = text_of(v) else { return false };
            if op == CmpOp::IGlob {
                naive_fnmatch(&p.to_ascii_lowercase(), &t.to_ascii_lowercase())
            } else {
                naive_fnmatch(p, t)
            }
        }
        (CmpOp::PMatch, Scalar::Bytes(p)) => {
            let Some(t) = text_of(v) else { return false };
            naive_pmatch(p, t)
        }
        (CmpOp::Regex, Scalar::Bytes(p)) => {
            let Some(t) = text_of(v) else { return false };
            regex_match(p, t)
        }
        (CmpOp::Glob | CmpOp::IGlob | CmpOp::Regex | CmpOp::PMatch, _) => false,
        _ => compare(op, v, r),
    }
}

fn regex_match(p: &[u8], t: &[u8]) -> bool {
    thread_local! {
        static CACHE: RefCell<HashMap<Vec<u8>, Option<regex::bytes::Regex>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|c| {
        c.borrow_mut()
            .entry(p.to_vec())
            .or_insert_with(|| anchored_regex(p).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(t))
    })
}

/// Outcome of reading a bracket expression at the start of a pattern.
enum Bracket {
    /// No closing `]`: the `[` is an ordinary byte.
    Unclosed,
    /// An invalid class name: the pattern matches nothing.
    Invalid,
    /// Whether `c` is in the set, and the pattern length consumed.
    Read(bool, usize),
}

fn naive_bracket(p: &[u8], c: u8) -> Bracket {
    let mut i = 1;
    let neg = matches!(p.get(i), Some(b'!' | b'^'));
    if neg {
        i += 1;
    }
    let mut hit = false;
    let mut first = true;
    loop {
        let Some(&b) = p.get(i) else {
            return Bracket::Unclosed;
        };
        if b == b']' && !first {
            return Bracket::Read(hit != neg, i + 1);
        }
        first = false;
        if b == b'[' && matches!(p.get(i + 1), Some(b':' | b'=' | b'.')) {
            let kind = p[i + 1];
            let mut k = i + 2;
            while k + 1 < p.len() && !(p[k] == kind && p[k + 1] == b']') {
                k += 1;
            }
            if k + 1 < p.len() {
                let name = &p[i + 2..k];
                if kind == b':' {
                    match class_contains(name, c) {
                        Some(m) => hit |= m,
                        None => return Bracket::Invalid,
                    }
                } else if name.len() == 1 {
                    hit |= name[0] == c;
                } else {
                    return Bracket::Invalid;
                }
                i = k + 2;
                continue;
            }
        }
        let mut lo = b;
        i += 1;
        if b == b'\\' {
            let Some(&x) = p.get(i) else {
                return Bracket::Unclosed;
            };
            lo = x;
            i += 1;
        }
        if p.get(i) == Some(&b'-') && p.get(i + 1).is_some_and(|&n| n != b']') {
            let mut hi = p[i + 1];
            i += 2;
            if hi == b'\\' {
                let Some(&x) = p.get(i) else {
                    return Bracket::Unclosed;
                };
                hi = x;
                i += 1;
            }
            hit |= lo <= c && c <= hi;
        } else {
            hit |= lo == c;
        }
    }
}

/// POSIX fnmatch with no flags, by direct recursion over the pattern.
fn naive_fnmatch(p: &[u8], s: &[u8]) -> bool {
    let Some(&pc) = p.first() else {
        return s.is_empty();
    };
    match pc {
        b'*' => (0..=s.len()).any(|i| naive_fnmatch(&p[1..], &s[i..])),
        b'?' => !s.is_empty() && naive_fnmatch(&p[1..], &s[1..]),
        b'\\' => match p.get(1) {
            None => false,
            Some(&x) => s.first() == Some(&x) && naive_fnmatch(&p[2..], &s[1..]),
        },
        b'[' => {
            // The bracket's extent does not depend on the byte tested, so
            // probing it with any byte tells whether it is well formed.
            match naive_bracket(p, s.first().copied().unwrap_or(0)) {
                Bracket::Invalid => false,
                Bracket::Unclosed => s.first() == Some(&b'[') && naive_fnmatch(&p[1..], &s[1..]),
                Bracket::Read(hit, n) => !s.is_empty() && hit && naive_fnmatch(&p[n..], &s[1..]),
            }
        }
        _ => s.first() == Some(&pc) && naive_fnmatch(&p[1..], &s[1..]),
    }
}

/// `pmatch` against one listed path: the path's non-empty components are
/// a prefix of the value's, each compared exactly or, when it holds `*`,
/// `?` or `[`, as a glob.
fn naive_pmatch(path: &[u8], v: &[u8]) -> bool {
    let split = |x: &[u8]| -> Vec<Vec<u8>> {
        x.split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec)
            .collect()
    };
    let pc = split(path);
    let vc = split(v);
    pc.len() <= vc.len()
        && pc.iter().zip(&vc).all(|(p, c)| {
            if p.iter().any(|b| matches!(b, b'*' | b'?' | b'[')) {
                naive_fnmatch(p, c)
            } else {
                p == c
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnmatch_agrees_with_the_compiled_glob_on_samples() {
        let pats = [
            "/home/*/.ssh/*",
            "*../*../*",
            "[a-c]x",
            "[!a-c]x",
            "[]]",
            "[!]]",
            "[a-]",
            "[[:digit:]]*",
            "[",
            "a[b",
            "\\*",
            "abc\\",
            "a?c",
            "*",
            "",
            "a*b*c",
            "[[:nosuch:]]",
            "[\\]]",
            "*[",
        ];
        let vals = [
            "/home/a/b/.ssh/x",
            "/a/../b/../c",
            "bx",
            "dx",
            "]",
            "a",
            "-",
            "7up",
            "[",
            "a[b",
            "*",
            "abc\\",
            "abc",
            "",
            "aXbYbZc",
            "a-c",
        ];
        for p in pats {
            let g = super::super::glob::Glob::new(p.as_bytes(), false);
            for v in vals {
                assert_eq!(
                    naive_fnmatch(p.as_bytes(), v.as_bytes()),
                    g.is_match(v.as_bytes()),
                    "pattern {p:?} value {v:?}"
                );
            }
        }
    }

    #[test]
    fn pmatch_examples() {
        assert!(naive_pmatch(b"/tmp/hello", b"/tmp/hello/world"));
        assert!(!naive_pmatch(b"/tmp/hello", b"/tmp/hello_world"));
        assert!(naive_pmatch(b"/tmp/hello", b"//tmp//hello/"));
        assert!(naive_pmatch(b"/var/*/log", b"/var/x/log"));
        assert!(naive_pmatch(b"/", b"/x"));
    }
}
