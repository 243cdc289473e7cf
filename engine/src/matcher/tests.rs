//! Unit tests of the ruleset on hand-built IR, and the differential
//! property test (compiled matcher with and without prefilters against the
//! reference interpreter) on generated IR and events.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;

use super::testkit::{parse_field, MapEvent};
use super::*;
use crate::fields::{FieldRef, Value};
use crate::rules::ir::{
    Check, CmpOp, Expr, IpNet, Literal, Modifier, Operand, Rhs, TrArg, Transformer,
};

// ---- IR builders -------------------------------------------------------

fn fr(text: &str) -> FieldRef {
    parse_field(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn check(lhs: Operand, op: CmpOp, modifier: Option<Modifier>, rhs: Rhs) -> Expr {
    Expr::Check(Box::new(Check {
        lhs,
        op,
        modifier,
        rhs,
        offset: 0,
    }))
}

fn c(field: &str, op: CmpOp, rhs: Rhs) -> Expr {
    check(Operand::Field(fr(field)), op, None, rhs)
}

fn s(x: &str) -> Literal {
    Literal::Str(x.as_bytes().to_vec())
}

fn v(x: &str) -> Rhs {
    Rhs::Value(s(x))
}

fn list(xs: &[&str]) -> Rhs {
    Rhs::List(xs.iter().map(|x| s(x)).collect())
}

fn ip(x: &str) -> IpAddr {
    x.parse().unwrap()
}

fn net(x: &str) -> Literal {
    let (a, p) = x.split_once('/').unwrap();
    Literal::Net(IpNet {
        addr: ip(a),
        prefix: p.parse().unwrap(),
    })
}

fn not(x: Expr) -> Expr {
    Expr::Not(Box::new(x))
}

fn rule(name: &str, cond: Expr, types: Option<&[&str]>) -> Rule {
    Rule {
        name: name.into(),
        desc: String::new(),
        priority: Priority::Warning,
        tags: BTreeSet::new(),
        source: "syscall".into(),
        enabled: true,
        output: String::new(),
        condition_text: String::new(),
        expanded_condition: String::new(),
        condition: cond,
        evttypes: types.map(|t| t.iter().map(|x| x.to_string()).collect()),
        index: 0,
    }
}

fn ev(ty: &str, fields: &[(&str, &str)]) -> MapEvent {
    let mut e = MapEvent::new(ty);
    for (f, t) in fields {
        e.set_text(f, t).unwrap();
    }
    e
}

fn names(rs: &RuleSet, ty: &str, e: &MapEvent) -> Vec<String> {
    let t = EventType::from_name(ty).unwrap_or_default();
    let mut out = Vec::new();
    rs.matches(t, ty, e, &mut out);
    out.iter().map(|r| r.name.clone()).collect()
}

/// Evaluates one condition with the compiled matcher (prefilters on and
/// off) and the interpreter, asserts they agree, and returns the answer.
fn eval3(cond: &Expr, e: &MapEvent) -> bool {
    let ty = std::str::from_utf8(
        &e.extract(&fr("evt.type"))
            .and_then(|v| v.as_bytes().map(<[u8]>::to_vec))
            .unwrap_or_default(),
    )
    .unwrap()
    .to_string();
    let want = interp::eval(cond, e);
    for prefilters in [true, false] {
        let opts = MatchOptions {
            prefilters,
            ..MatchOptions::default()
        };
        let rs = RuleSet::build(&[rule("r", cond.clone(), None)], &opts).unwrap();
        let got = !names(&rs, &ty, e).is_empty();
        assert_eq!(
            got, want,
            "prefilters={prefilters} cond={cond:?} event={e:?}"
        );
    }
    want
}

// ---- operator semantics ------------------------------------------------

#[test]
fn missing_value_rule() {
    let exec = ev("execve", &[("proc.name", "bash")]);
    assert!(!eval3(&c("fd.name", CmpOp::Ne, v("x")), &exec));
    assert!(eval3(&not(c("fd.name", CmpOp::Eq, v("x"))), &exec));
    assert!(!eval3(&c("fd.name", CmpOp::Exists, Rhs::None), &exec));
    assert!(!eval3(&c("k8s.ns.name", CmpOp::Eq, v("x")), &exec));
    assert!(!eval3(&c("k8s.ns.name", CmpOp::Ne, v("x")), &exec));
    assert!(!eval3(&c("fd.name", CmpOp::In, list(&["a", "b"])), &exec));
    // A present empty string is a value.
    let empty = ev("execve", &[("proc.args", "")]);
    assert!(eval3(&c("proc.args", CmpOp::Eq, v("")), &empty));
    assert!(eval3(&c("proc.args", CmpOp::Exists, Rhs::None), &empty));
}

#[test]
fn string_operators() {
    let e = ev("openat", &[("fd.name", "/etc/Shadow")]);
    assert!(eval3(&c("fd.name", CmpOp::Contains, v("etc/S")), &e));
    assert!(eval3(&c("fd.name", CmpOp::Contains, v("")), &e));
    assert!(!eval3(&c("fd.name", CmpOp::Contains, v("shadow")), &e));
    assert!(eval3(&c("fd.name", CmpOp::IContains, v("SHADOW")), &e));
    assert!(eval3(&c("fd.name", CmpOp::StartsWith, v("/etc/")), &e));
    assert!(eval3(&c("fd.name", CmpOp::EndsWith, v("dow")), &e));
    assert!(eval3(&c("fd.name", CmpOp::Glob, v("/etc/*")), &e));
    assert!(!eval3(&c("fd.name", CmpOp::Glob, v("/etc/s*")), &e));
    assert!(eval3(&c("fd.name", CmpOp::IGlob, v("/ETC/s*")), &e));
    assert!(eval3(&c("fd.name", CmpOp::Regex, v("/etc/[A-Z].*")), &e));
    // Anchored: a partial match is not a match.
    assert!(!eval3(&c("fd.name", CmpOp::Regex, v("etc")), &e));
    assert!(eval3(&c("fd.name", CmpOp::PMatch, list(&["/etc"])), &e));
    assert!(!eval3(&c("fd.name", CmpOp::PMatch, list(&["/et"])), &e));
    assert!(eval3(&c("fd.name", CmpOp::Lt, v("/etc/T")), &e));
    assert!(eval3(&c("fd.name", CmpOp::Ge, v("/etc/Shadow")), &e));
    let long: Vec<&str> = vec!["a", "b", "c", "d", "e", "/etc/Shadow"];
    assert!(eval3(&c("fd.name", CmpOp::In, list(&long)), &e));
    assert!(eval3(
        &c("fd.name", CmpOp::Intersects, list(&["/etc/Shadow"])),
        &e
    ));
}

#[test]
fn numbers_and_booleans() {
    let e = ev(
        "openat",
        &[
            ("fd.num", "-1"),
            ("proc.tty", "0"),
            ("evt.is_open_read", "true"),
        ],
    );
    assert!(eval3(
        &c("fd.num", CmpOp::Eq, Rhs::Value(Literal::I64(-1))),
        &e
    ));
    assert!(eval3(
        &c("fd.num", CmpOp::Lt, Rhs::Value(Literal::I64(0))),
        &e
    ));
    assert!(!eval3(
        &c("proc.tty", CmpOp::Ne, Rhs::Value(Literal::U64(0))),
        &e
    ));
    assert!(eval3(
        &c(
            "fd.num",
            CmpOp::In,
            Rhs::List(vec![Literal::I64(0), Literal::I64(-1)])
        ),
        &e
    ));
    assert!(eval3(
        &c(
            "evt.is_open_read",
            CmpOp::Eq,
            Rhs::Value(Literal::Bool(true))
        ),
        &e
    ));
    assert!(!eval3(
        &c(
            "evt.is_open_read",
            CmpOp::Ne,
            Rhs::Value(Literal::Bool(true))
        ),
        &e
    ));
    let d = ev("execve", &[("proc.duration", "5000000000")]);
    assert!(eval3(
        &c(
            "proc.duration",
            CmpOp::Le,
            Rhs::Value(Literal::U64(5_000_000_000))
        ),
        &d
    ));
}

#[test]
fn bytes_operators() {
    let mut e = MapEvent::new("sendto");
    e.set(
        fr("evt.buffer"),
        Value::Bytes(vec![0, 0xca, 0xfe, 0xba, 0xbe, 0].into()),
    );
    let lit = |b: &[u8]| Rhs::Value(Literal::Bytes(b.to_vec()));
    assert!(eval3(
        &c(
            "evt.buffer",
            CmpOp::BContains,
            lit(&[0xca, 0xfe, 0xba, 0xbe])
        ),
        &e
    ));
    assert!(!eval3(
        &c("evt.buffer", CmpOp::BStartsWith, lit(&[0xca])),
        &e
    ));
    assert!(eval3(
        &c("evt.buffer", CmpOp::BStartsWith, lit(&[0, 0xca])),
        &e
    ));
}

#[test]
fn any_ancestor() {
    let mut e = ev("execve", &[("proc.name", "sshd")]);
    e.set_each(
        fr("proc.aname"),
        vec![Value::string("bash"), Value::string("sshd")],
    );
    assert!(eval3(&c("proc.aname", CmpOp::Eq, v("sshd")), &e));
    assert!(eval3(&c("proc.aname", CmpOp::In, list(&["sshd", "x"])), &e));
    assert!(!eval3(
        &not(c("proc.aname", CmpOp::In, list(&["sshd"]))),
        &e
    ));
    // Only the process itself is sshd: no ancestor matches.
    let mut self_only = ev("execve", &[("proc.name", "sshd")]);
    self_only.set_each(fr("proc.aname"), vec![Value::string("bash")]);
    assert!(!eval3(&c("proc.aname", CmpOp::Eq, v("sshd")), &self_only));
    // No ancestors at all: false for every operator.
    let orphan = ev("execve", &[("proc.name", "init")]);
    assert!(!eval3(&c("proc.aname", CmpOp::Ne, v("sshd")), &orphan));
    // With an index it is a plain field.
    let mut idx = ev("execve", &[("proc.aname[2]", "sshd")]);
    idx.set_each(
        fr("proc.aname"),
        vec![Value::string("bash"), Value::string("sshd")],
    );
    assert!(eval3(&c("proc.aname[2]", CmpOp::Eq, v("sshd")), &idx));
    assert!(!eval3(&c("proc.aname[1]", CmpOp::Eq, v("sshd")), &idx));
}

#[test]
fn either_endpoint() {
    let mut e = MapEvent::new("connect");
    e.set_each(
        fr("fd.ip"),
        vec![Value::Ip(ip("10.0.0.1")), Value::Ip(ip("127.0.0.1"))],
    );
    e.set_each(
        fr("fd.net"),
        vec![Value::Ip(ip("10.0.0.1")), Value::Ip(ip("127.0.0.1"))],
    );
    e.set_each(fr("fd.port"), vec![Value::U64(40000), Value::U64(443)]);
    let ipv = |x: &str| Rhs::Value(Literal::Ip(ip(x)));
    assert!(eval3(&c("fd.ip", CmpOp::Eq, ipv("127.0.0.1")), &e));
    assert!(!eval3(&c("fd.ip", CmpOp::Ne, ipv("127.0.0.1")), &e));
    assert!(eval3(&c("fd.ip", CmpOp::Ne, ipv("1.1.1.1")), &e));
    assert!(!eval3(
        &c("fd.net", CmpOp::Ne, Rhs::Value(net("127.0.0.0/8"))),
        &e
    ));
    assert!(eval3(
        &c("fd.net", CmpOp::Eq, Rhs::Value(net("127.0.0.0/8"))),
        &e
    ));
    // (quirk) only the first network of an `in` list counts.
    assert!(!eval3(
        &c(
            "fd.net",
            CmpOp::In,
            Rhs::List(vec![net("192.168.0.0/16"), net("10.0.0.0/8")])
        ),
        &e
    ));
    assert!(eval3(
        &c(
            "fd.net",
            CmpOp::In,
            Rhs::List(vec![net("10.0.0.0/8"), net("192.168.0.0/16")])
        ),
        &e
    ));
    assert!(eval3(
        &c("fd.port", CmpOp::Eq, Rhs::Value(Literal::U64(443))),
        &e
    ));
    assert!(eval3(
        &c("fd.port", CmpOp::Lt, Rhs::Value(Literal::U64(1024))),
        &e
    ));
    assert!(!eval3(
        &c("fd.port", CmpOp::Ne, Rhs::Value(Literal::U64(443))),
        &e
    ));
    // IPv6 socket against an IPv4 literal: different families differ.
    let mut v6 = MapEvent::new("connect");
    v6.set_each(
        fr("fd.ip"),
        vec![Value::Ip(ip("::1")), Value::Ip(ip("::2"))],
    );
    assert!(eval3(&c("fd.ip", CmpOp::Ne, ipv("0.0.0.0")), &v6));
    // Non-IP fd: false for every operator.
    let unix = ev("connect", &[("fd.name", "/run/x.sock")]);
    assert!(!eval3(&c("fd.ip", CmpOp::Ne, ipv("1.1.1.1")), &unix));
    // A single-address network field.
    let srv = ev("connect", &[("fd.snet", "10.1.2.3")]);
    assert!(eval3(
        &c(
            "fd.snet",
            CmpOp::In,
            Rhs::List(vec![net("192.168.0.0/16"), net("10.0.0.0/8")])
        ),
        &srv
    ));
}

#[test]
fn modifiers() {
    let e = ev("execve", &[("proc.name", "bash")]);
    let m = |op, m, xs: &[&str]| check(Operand::Field(fr("proc.name")), op, Some(m), list(xs));
    assert!(eval3(
        &m(CmpOp::StartsWith, Modifier::AnyOf, &["x", "ba"]),
        &e
    ));
    assert!(!eval3(
        &m(CmpOp::StartsWith, Modifier::AllOf, &["x", "ba"]),
        &e
    ));
    assert!(eval3(
        &m(CmpOp::StartsWith, Modifier::AllOf, &["b", "ba"]),
        &e
    ));
    assert!(eval3(
        &m(CmpOp::StartsWith, Modifier::OneOf, &["x", "ba"]),
        &e
    ));
    assert!(!eval3(
        &m(CmpOp::StartsWith, Modifier::OneOf, &["b", "ba"]),
        &e
    ));
    for md in [Modifier::AnyOf, Modifier::AllOf, Modifier::OneOf] {
        assert!(!eval3(&m(CmpOp::Contains, md, &[]), &e));
    }
    assert!(eval3(
        &m(CmpOp::Contains, Modifier::AnyOf, &["zz", "as"]),
        &e
    ));
    assert!(eval3(&m(CmpOp::Eq, Modifier::AnyOf, &["zz", "bash"]), &e));
    assert!(eval3(
        &m(CmpOp::Regex, Modifier::AllOf, &["b.*", ".*h"]),
        &e
    ));
}

#[test]
fn transformers_and_field_to_field() {
    let e = ev(
        "execve",
        &[
            ("proc.name", "BaSh"),
            ("proc.pname", "bash"),
            ("proc.exepath", "/usr/bin/bash"),
            ("proc.args", "-c ls"),
            ("proc.cmdline", "!!notbase64"),
        ],
    );
    let t =
        |tr, field: &str| Operand::Transform(tr, vec![TrArg::Operand(Operand::Field(fr(field)))]);
    assert!(eval3(
        &check(
            t(Transformer::ToLower, "proc.name"),
            CmpOp::Eq,
            None,
            v("bash")
        ),
        &e
    ));
    assert!(eval3(
        &check(
            t(Transformer::ToUpper, "proc.name"),
            CmpOp::Eq,
            None,
            v("BASH")
        ),
        &e
    ));
    assert!(eval3(
        &check(
            t(Transformer::Basename, "proc.exepath"),
            CmpOp::Eq,
            None,
            v("bash")
        ),
        &e
    ));
    assert!(eval3(
        &check(
            t(Transformer::Len, "proc.args"),
            CmpOp::Gt,
            None,
            Rhs::Value(Literal::U64(3))
        ),
        &e
    ));
    // Undecodable base64 is a missing value: even `!=` is false.
    assert!(!eval3(
        &check(t(Transformer::B64, "proc.cmdline"), CmpOp::Ne, None, v("x")),
        &e
    ));
    assert!(!eval3(
        &check(
            t(Transformer::B64, "proc.cmdline"),
            CmpOp::Exists,
            None,
            Rhs::None
        ),
        &e
    ));
    // Field to field.
    let pname = Rhs::Field(Operand::Field(fr("proc.pname")));
    assert!(!eval3(&c("proc.name", CmpOp::Eq, pname.clone()), &e));
    assert!(eval3(
        &check(
            t(Transformer::ToLower, "proc.name"),
            CmpOp::Eq,
            None,
            pname.clone()
        ),
        &e
    ));
    assert!(eval3(&c("proc.name", CmpOp::Ne, pname), &e));
    // A missing right-hand field makes the check false.
    let missing = Rhs::Field(Operand::Field(fr("proc.pexe")));
    assert!(!eval3(&c("proc.name", CmpOp::Ne, missing), &e));
}

#[test]
fn dns_name_fields() {
    let cache = DnsCache::with_resolver(
        Duration::from_secs(3600),
        Box::new(|h: &str| match h {
            "api.example" => Ok(vec![ip("10.0.0.7"), ip("10.0.0.8")]),
            _ => Err(std::io::Error::other("unknown host")),
        }),
    );
    let build = |cond: Expr| {
        RuleSet::build_with_dns(&[rule("r", cond, None)], &MatchOptions::default(), &cache).unwrap()
    };
    let hit = ev("connect", &[("fd.sip", "10.0.0.8")]);
    let miss = ev("connect", &[("fd.sip", "10.0.0.9")]);
    let eq = build(c("fd.sip.name", CmpOp::Eq, v("api.example")));
    assert_eq!(names(&eq, "connect", &hit), ["r"]);
    assert!(names(&eq, "connect", &miss).is_empty());
    let ne = build(c("fd.sip.name", CmpOp::Ne, v("api.example")));
    assert!(names(&ne, "connect", &hit).is_empty());
    assert_eq!(names(&ne, "connect", &miss), ["r"]);
    let inl = build(c(
        "fd.sip.name",
        CmpOp::In,
        list(&["nosuch.example", "api.example"]),
    ));
    assert_eq!(names(&inl, "connect", &hit), ["r"]);
    // Unresolvable names match nothing; the rule still builds.
    let bad = build(c("fd.sip.name", CmpOp::Eq, v("nosuch.example")));
    assert!(names(&bad, "connect", &hit).is_empty());
    // Non-IP fd: false, even for `!=`.
    let unix = ev("connect", &[("fd.name", "/run/x.sock")]);
    assert!(names(&ne, "connect", &unix).is_empty());
    // A known name is compared as a string.
    let named = ev(
        "connect",
        &[("fd.sip", "10.0.0.9"), ("fd.sip.name", "api.example")],
    );
    assert_eq!(names(&eq, "connect", &named), ["r"]);
    // The interpreter agrees when given the same cache.
    let cond = c("fd.sip.name", CmpOp::Eq, v("api.example"));
    assert!(interp::eval_with(&cond, &hit, &cache));
    assert!(!interp::eval_with(&cond, &miss, &cache));
}

// ---- index, selection, matching modes ----------------------------------

fn simple_rules() -> Vec<Rule> {
    let mut a = rule(
        "Read shadow",
        c("fd.name", CmpOp::Eq, v("/etc/shadow")),
        Some(&["open", "openat"]),
    );
    a.tags.insert("maturity_stable".into());
    a.priority = Priority::Warning;
    let mut b = rule(
        "Read etc",
        c("fd.name", CmpOp::StartsWith, v("/etc/")),
        Some(&["openat"]),
    );
    b.tags.insert("maturity_sandbox".into());
    b.priority = Priority::Notice;
    let mut any = rule("Any bash", c("proc.name", CmpOp::Eq, v("bash")), None);
    any.tags.insert("maturity_incubating".into());
    any.priority = Priority::Informational;
    let mut off = rule(
        "Disabled one",
        c("proc.name", CmpOp::Eq, v("bash")),
        Some(&["openat"]),
    );
    off.enabled = false;
    off.priority = Priority::Critical;
    vec![a, b, any, off]
}

#[test]
fn first_and_all_modes_with_the_all_events_quirk() {
    let rules = simple_rules();
    let e = ev(
        "openat",
        &[("fd.name", "/etc/shadow"), ("proc.name", "bash")],
    );
    let first = RuleSet::build(&rules, &MatchOptions::default()).unwrap();
    assert_eq!(names(&first, "openat", &e), ["Read shadow"]);
    let all = RuleSet::build(
        &rules,
        &MatchOptions {
            rule_matching: RuleMatching::All,
            ..MatchOptions::default()
        },
    )
    .unwrap();
    // (quirk) the all-events rule is skipped after a typed match.
    assert_eq!(names(&all, "openat", &e), ["Read shadow", "Read etc"]);
    let other = ev("openat", &[("fd.name", "/tmp/x"), ("proc.name", "bash")]);
    assert_eq!(names(&all, "openat", &other), ["Any bash"]);
    assert_eq!(names(&first, "openat", &other), ["Any bash"]);
    // An event type with no typed rules only sees the all-events list.
    assert_eq!(names(&all, "execve", &other), ["Any bash"]);
    assert!(all.event_types().is_all());
}

#[test]
fn uncaptured_event_types_by_name() {
    let rules = vec![rule(
        "r",
        c("proc.name", CmpOp::Eq, v("x")),
        Some(&["uselib"]),
    )];
    let rs = RuleSet::build(&rules, &MatchOptions::default()).unwrap();
    let e = ev("uselib", &[("proc.name", "x")]);
    let mut out = Vec::new();
    rs.matches(EventType(0), "uselib", &e, &mut out);
    assert_eq!(out.len(), 1);
    let set = rs.event_types();
    assert!(!set.is_all());
    assert!(set.contains_name("uselib"));
    assert_eq!(set.uncaptured().collect::<Vec<_>>(), ["uselib"]);
}

#[test]
fn selection_and_min_priority() {
    let rules = simple_rules();
    let enabled = |opts: MatchOptions| -> Vec<String> {
        RuleSet::build(&rules, &opts)
            .unwrap()
            .enabled_rules()
            .map(|r| r.name.clone())
            .collect()
    };
    assert_eq!(
        enabled(MatchOptions::default()),
        ["Read shadow", "Read etc", "Any bash"]
    );
    // Minimum priority drops less severe rules for good.
    let warn = MatchOptions {
        min_priority: Priority::Warning,
        selection: vec![Selection::EnableRule("*".into())],
        ..MatchOptions::default()
    };
    assert_eq!(enabled(warn), ["Read shadow", "Disabled one"]);
    // Disable everything, then enable by tag; a file-disabled rule can be
    // enabled by name and goes to the end.
    let sel = MatchOptions {
        selection: vec![
            Selection::DisableRule("*".into()),
            Selection::EnableTag("maturity_sandbox".into()),
            Selection::EnableRule("Disabled one".into()),
            Selection::EnableRule("Read shadow".into()),
        ],
        ..MatchOptions::default()
    };
    let rs = RuleSet::build(&rules, &sel).unwrap();
    let order: Vec<_> = rs.enabled_rules().map(|r| r.name.as_str()).collect();
    assert_eq!(order, ["Read etc", "Disabled one", "Read shadow"]);
    // Enable order is evaluation order.
    let e = ev(
        "openat",
        &[("fd.name", "/etc/shadow"), ("proc.name", "bash")],
    );
    assert_eq!(names(&rs, "openat", &e), ["Read etc"]);
    let tag_off = MatchOptions {
        selection: vec![Selection::DisableTag("maturity_stable".into())],
        ..MatchOptions::default()
    };
    assert_eq!(enabled(tag_off), ["Read etc", "Any bash"]);
}

#[test]
fn wildcard_quirk() {
    assert!(matches_wildcard("*", "anything"));
    assert!(matches_wildcard("Read*", "Read etc"));
    assert!(matches_wildcard("*etc", "Read etc"));
    assert!(matches_wildcard("R*d*c", "Read etc"));
    assert!(!matches_wildcard("*ab", "abab"));
    assert!(matches_wildcard("**ab", "xab"));
    assert!(!matches_wildcard("Read", "Read etc"));
    assert!(matches_wildcard("Read etc", "Read etc"));
    assert!(!matches_wildcard("x*", "Read"));
}

#[test]
fn prefilter_keys_are_derived_and_never_wrong() {
    let cond = Expr::And(vec![
        c(
            "evt.is_open_read",
            CmpOp::Eq,
            Rhs::Value(Literal::Bool(true)),
        ),
        Expr::Or(vec![
            c("fd.name", CmpOp::StartsWith, v("/etc/")),
            Expr::And(vec![
                c("fd.name", CmpOp::Contains, v("/.ssh/")),
                c("fd.name", CmpOp::Glob, v("/home/*/.ssh/*")),
            ]),
            c("fd.directory", CmpOp::In, list(&["/root", "/boot"])),
            c("fd.name", CmpOp::EndsWith, v(".pem")),
        ]),
        not(c("proc.name", CmpOp::In, list(&["sshd"]))),
    ]);
    let keys = prefilter::rule_keys(&cond);
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert_eq!(keys[0].atoms.len(), 5);
    for (name, dir, want) in [
        ("/etc/passwd", "/etc", true),
        ("/home/a/.ssh/id", "/home/a/.ssh", true),
        ("/x/key.pem", "/x", true),
        ("/root/x", "/root", true),
        ("/tmp/x", "/tmp", false),
        ("/etc", "/", false),
    ] {
        let e = ev(
            "openat",
            &[
                ("fd.name", name),
                ("fd.directory", dir),
                ("evt.is_open_read", "true"),
                ("proc.name", "cat"),
            ],
        );
        assert_eq!(eval3(&cond, &e), want, "{name}");
    }
}

#[test]
fn ruleset_is_send_and_sync() {
    let rs = Arc::new(RuleSet::build(&simple_rules(), &MatchOptions::default()).unwrap());
    let e = ev("openat", &[("fd.name", "/etc/shadow")]);
    let r2 = rs.clone();
    let n = std::thread::spawn(move || {
        let mut out = Vec::new();
        r2.matches(
            EventType::from_name("openat").unwrap(),
            "openat",
            &e,
            &mut out,
        );
        out.len()
    })
    .join()
    .unwrap();
    assert_eq!(n, 1);
}

// ---- differential property test on generated IR -----------------------

/// Fields the generator draws from, with their literal pools.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Str,
    Int,
    Uint,
    Bool,
    Ip,
    Net,
}

const STR_POOL: &[&str] = &[
    "bash",
    "sshd",
    "/etc/shadow",
    "/etc/",
    "/etc",
    "/home/a/.ssh/id_rsa",
    "",
    "id_rsa",
    "/tmp/x",
    "Bash",
    "/root",
    "sh",
    "a b",
    "/var/lib/x",
    "/var/log/y",
];
const PAT_POOL: &[&str] = &[
    "/etc/*",
    "*id_rsa*",
    "*sh",
    "[a-c]*",
    "/home/*/.ssh/*",
    "b?sh",
    "*",
    "\\*x",
    "[!/]*",
];
const RE_POOL: &[&str] = &["bash|sh", ".*ssh.*", "/etc/.*", "[a-z]+", "x?"];
const PATH_POOL: &[&str] = &["/etc", "/var/*/x", "/", "/home", "tmp", "/var/log"];

fn field_kind(f: &str) -> Kind {
    match f {
        "fd.num" => Kind::Int,
        "proc.tty" | "fd.port" => Kind::Uint,
        "evt.is_open_read" => Kind::Bool,
        "fd.sip" | "fd.ip" => Kind::Ip,
        "fd.snet" | "fd.net" => Kind::Net,
        _ => Kind::Str,
    }
}

const ALL_FIELDS: &[&str] = &[
    "proc.name",
    "fd.name",
    "fd.directory",
    "proc.cmdline",
    "proc.aname",
    "proc.aname[2]",
    "fd.num",
    "proc.tty",
    "fd.port",
    "evt.is_open_read",
    "fd.sip",
    "fd.ip",
    "fd.snet",
    "fd.net",
    "evt.type",
];
const IP_POOL: &[&str] = &["10.0.0.1", "127.0.0.1", "192.168.1.5", "::1"];
const NET_POOL: &[&str] = &["10.0.0.0/8", "127.0.0.0/8", "0.0.0.0/0", "192.168.0.0/16"];

fn lit_for(kind: Kind, i: usize) -> Literal {
    match kind {
        Kind::Str => s(STR_POOL[i % STR_POOL.len()]),
        Kind::Int => Literal::I64([-1i64, 0, 3, 1000][i % 4]),
        Kind::Uint => Literal::U64([0u64, 22, 443, 40000][i % 4]),
        Kind::Bool => Literal::Bool(i.is_multiple_of(2)),
        Kind::Ip => Literal::Ip(ip(IP_POOL[i % IP_POOL.len()])),
        Kind::Net => net(NET_POOL[i % NET_POOL.len()]),
    }
}

fn arb_check() -> impl Strategy<Value = Expr> {
    (
        0..ALL_FIELDS.len(),
        0..20usize,
        proptest::collection::vec(0..64usize, 0..5),
        0..8usize,
    )
        .prop_map(|(fi, opi, lits, extra)| {
            let field = ALL_FIELDS[fi];
            if field == "evt.type" {
                let names = ["open", "openat", "execve", "kexec_load"];
                let ls: Vec<Literal> = lits.iter().map(|i| s(names[i % names.len()])).collect();
                return match opi % 3 {
                    0 => c(field, CmpOp::In, Rhs::List(ls)),
                    1 => c(field, CmpOp::Eq, v(names[extra % names.len()])),
                    _ => c(field, CmpOp::Ne, v(names[extra % names.len()])),
                };
            }
            let kind = field_kind(field);
            let first = lits.first().copied().unwrap_or(extra);
            let one = lit_for(kind, first);
            let many = Rhs::List(lits.iter().map(|&i| lit_for(kind, i)).collect());
            match kind {
                Kind::Str => {
                    let ops = [
                        CmpOp::Eq,
                        CmpOp::Ne,
                        CmpOp::Lt,
                        CmpOp::Ge,
                        CmpOp::Contains,
                        CmpOp::IContains,
                        CmpOp::StartsWith,
                        CmpOp::EndsWith,
                        CmpOp::Glob,
                        CmpOp::IGlob,
                        CmpOp::Regex,
                        CmpOp::PMatch,
                        CmpOp::In,
                        CmpOp::Intersects,
                        CmpOp::Exists,
                    ];
                    let op = ops[opi % ops.len()];
                    let fieldop = Operand::Field(fr(field));
                    match op {
                        CmpOp::Glob | CmpOp::IGlob => {
                            c(field, op, v(PAT_POOL[first % PAT_POOL.len()]))
                        }
                        CmpOp::Regex => c(field, op, v(RE_POOL[first % RE_POOL.len()])),
                        CmpOp::PMatch => c(
                            field,
                            op,
                            Rhs::List(
                                lits.iter()
                                    .map(|&i| s(PATH_POOL[i % PATH_POOL.len()]))
                                    .collect(),
                            ),
                        ),
                        CmpOp::In | CmpOp::Intersects => c(field, op, many),
                        CmpOp::Exists => c(field, op, Rhs::None),
                        _ if extra == 0 && !field.starts_with("proc.aname") => check(
                            fieldop,
                            op,
                            Some([Modifier::AnyOf, Modifier::AllOf, Modifier::OneOf][first % 3]),
                            many,
                        ),
                        _ if extra == 1 && !field.starts_with("proc.aname") => {
                            let other = ["proc.name", "fd.directory", "proc.cmdline"][first % 3];
                            c(field, op, Rhs::Field(Operand::Field(fr(other))))
                        }
                        _ if extra == 2 && !field.starts_with("proc.aname") => check(
                            Operand::Transform(
                                [
                                    Transformer::ToLower,
                                    Transformer::Basename,
                                    Transformer::ToUpper,
                                ][first % 3],
                                vec![TrArg::Operand(Operand::Field(fr(field)))],
                            ),
                            op,
                            None,
                            Rhs::Value(one),
                        ),
                        _ => c(field, op, Rhs::Value(one)),
                    }
                }
                Kind::Int | Kind::Uint => {
                    let ops = [
                        CmpOp::Eq,
                        CmpOp::Ne,
                        CmpOp::Lt,
                        CmpOp::Le,
                        CmpOp::Gt,
                        CmpOp::Ge,
                        CmpOp::In,
                        CmpOp::Exists,
                    ];
                    match ops[opi % ops.len()] {
                        CmpOp::In => c(field, CmpOp::In, many),
                        CmpOp::Exists => c(field, CmpOp::Exists, Rhs::None),
                        op => c(field, op, Rhs::Value(one)),
                    }
                }
                Kind::Bool | Kind::Ip | Kind::Net => {
                    let ops = [CmpOp::Eq, CmpOp::Ne, CmpOp::In, CmpOp::Exists];
                    match ops[opi % ops.len()] {
                        CmpOp::In => c(field, CmpOp::In, many),
                        CmpOp::Exists => c(field, CmpOp::Exists, Rhs::None),
                        op => c(field, op, Rhs::Value(one)),
                    }
                }
            }
        })
}

fn arb_expr() -> impl Strategy<Value = Expr> {
    arb_check().prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Expr::And),
            proptest::collection::vec(inner.clone(), 1..4).prop_map(Expr::Or),
            inner.prop_map(|x| Expr::Not(Box::new(x))),
        ]
    })
}

/// An event: each field missing, drawn from the literal pools, or noise.
fn arb_event() -> impl Strategy<Value = MapEvent> {
    (
        0..4usize,
        proptest::collection::vec((0..4u8, 0..64usize, "[a-z/.]{0,6}"), ALL_FIELDS.len()),
    )
        .prop_map(|(ti, picks)| {
            let ty = ["open", "openat", "execve", "kexec_load"][ti];
            let mut e = MapEvent::new(ty);
            for (field, (mode, i, noise)) in ALL_FIELDS.iter().zip(picks) {
                if *field == "evt.type" || mode == 0 {
                    continue;
                }
                let f = fr(field);
                let kind = field_kind(field);
                let one = |j: usize| -> Value<'static> {
                    match kind {
                        Kind::Str if mode == 3 => Value::string(noise.as_bytes().to_vec()),
                        Kind::Str => {
                            Value::string(STR_POOL[j % STR_POOL.len()].as_bytes().to_vec())
                        }
                        Kind::Int => Value::I64([-1i64, 0, 3, 1000, 7][j % 5]),
                        Kind::Uint => Value::U64([0u64, 22, 443, 40000, 1][j % 5]),
                        Kind::Bool => Value::Bool(j.is_multiple_of(2)),
                        Kind::Ip | Kind::Net => Value::Ip(ip(IP_POOL[j % IP_POOL.len()])),
                    }
                };
                let multi = matches!(*field, "proc.aname" | "fd.ip" | "fd.net" | "fd.port");
                if multi {
                    let n = 1 + i % 3;
                    e.set_each(f, (0..n).map(|k| one(i / 3 + k * 7)).collect());
                } else {
                    e.set(f, one(i));
                }
            }
            e
        })
}

fn expected(rules: &[Rule], ty: &str, e: &MapEvent, mode: RuleMatching) -> Vec<String> {
    let typed: Vec<String> = rules
        .iter()
        .filter(|r| {
            r.evttypes
                .as_ref()
                .is_some_and(|s| !s.is_empty() && s.contains(ty))
        })
        .filter(|r| interp::eval(&r.condition, e))
        .map(|r| r.name.clone())
        .collect();
    let list = if !typed.is_empty() {
        typed
    } else {
        rules
            .iter()
            .filter(|r| r.evttypes.as_ref().is_none_or(|s| s.is_empty()))
            .filter(|r| interp::eval(&r.condition, e))
            .map(|r| r.name.clone())
            .collect()
    };
    match mode {
        RuleMatching::All => list,
        RuleMatching::First => list.into_iter().take(1).collect(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn compiled_matches_interpreter(
        conds in proptest::collection::vec((arb_expr(), proptest::option::of(proptest::collection::btree_set(0..4usize, 1..3))), 1..6),
        events in proptest::collection::vec(arb_event(), 1..8),
    ) {
        let tys = ["open", "openat", "execve", "kexec_load"];
        let rules: Vec<Rule> = conds
            .into_iter()
            .enumerate()
            .map(|(i, (cond, types))| {
                let mut r = rule(&format!("r{i}"), cond, None);
                r.evttypes = types.map(|t| t.into_iter().map(|j| tys[j].to_string()).collect());
                r
            })
            .collect();
        for mode in [RuleMatching::First, RuleMatching::All] {
            for prefilters in [true, false] {
                let opts = MatchOptions { rule_matching: mode, prefilters, ..MatchOptions::default() };
                let rs = RuleSet::build(&rules, &opts).unwrap();
                for e in &events {
                    let ty = std::str::from_utf8(e.extract(&fr("evt.type")).unwrap().as_bytes().unwrap()).unwrap().to_string();
                    let got = names(&rs, &ty, e);
                    let want = expected(&rules, &ty, e, mode);
                    prop_assert_eq!(got, want, "mode={:?} prefilters={} event={:?}", mode, prefilters, e);
                }
            }
        }
    }
}

#[test]
fn evt_type_checks_fold_per_event_name() {
    // Per-type lists decide `evt.type` checks when they are built; the
    // answers must be those of evaluating them per event.
    let by_branch = Expr::Or(vec![
        Expr::And(vec![
            c("evt.type", CmpOp::Eq, v("openat")),
            c("fd.name", CmpOp::Eq, v("/a")),
        ]),
        Expr::And(vec![
            not(c("evt.type", CmpOp::In, list(&["openat", "open"]))),
            c("fd.name", CmpOp::Eq, v("/b")),
        ]),
    ]);
    let only_open = Expr::And(vec![
        c("evt.type", CmpOp::Eq, v("open")),
        c("fd.name", CmpOp::Exists, Rhs::None),
    ]);
    let rules = [
        rule("branch", by_branch, Some(&["openat", "open", "close"])),
        rule("only open", only_open, Some(&["openat", "open"])),
    ];
    for prefilters in [true, false] {
        let opts = MatchOptions {
            prefilters,
            ..MatchOptions::default()
        };
        let rs = RuleSet::build(&rules, &opts).unwrap();
        let cases = [
            ("openat", "/a", vec!["branch"]),
            ("openat", "/b", vec![]),
            ("open", "/a", vec!["only open"]),
            ("open", "/b", vec!["only open"]),
            ("close", "/b", vec!["branch"]),
            ("close", "/a", vec![]),
        ];
        for (ty, name, want) in cases {
            let e = ev(ty, &[("fd.name", name)]);
            assert_eq!(
                names(&rs, ty, &e),
                want,
                "{ty} {name} prefilters={prefilters}"
            );
        }
    }
}

#[test]
fn a_regex_the_engine_rejects_is_a_build_error_naming_the_rule() {
    let rules = [rule(
        "bad regex",
        c("proc.name", CmpOp::Regex, v("(")),
        None,
    )];
    let err = RuleSet::build(&rules, &MatchOptions::default()).unwrap_err();
    let MatchBuildError::Regex { rule, pattern, .. } = &err;
    assert_eq!(rule, "bad regex");
    assert_eq!(pattern, "(");
    assert!(err.to_string().contains("bad regex"));
}
