//! Cost of turning Falco's reference rules files into a matcher.
//!
//! Two stages are timed separately so a regression can be placed:
//! `load+build` is the whole path from YAML text to a ready [`RuleSet`]
//! (YAML parse, list/macro expansion, typing, then matcher compilation);
//! `build` is the matcher's own compilation (`RuleSet::build`) from the
//! loader's rules, with prefilters. Goal: all three files together under
//! 50 ms for `load+build` on one core of the development VM.
//! Throughput is reported in rules per CPU-second; time is the thread's
//! CPU time (see `engine_support/cpu_time.rs`).

use std::path::PathBuf;

#[path = "engine_support/cpu_time.rs"]
mod cpu_time;

use cpu_time::CpuTime;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use kestrel_engine::matcher::{MatchOptions, RuleSet};
use kestrel_engine::rules::{Loader, Rule};

const SETS: &[(&str, &[&str])] = &[
    ("stable", &["falco_rules.yaml"]),
    ("incubating", &["falco-incubating_rules.yaml"]),
    ("sandbox", &["falco-sandbox_rules.yaml"]),
    (
        "all_three",
        &[
            "falco_rules.yaml",
            "falco-incubating_rules.yaml",
            "falco-sandbox_rules.yaml",
        ],
    ),
];

fn reference(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference")
        .join(name)
}

/// File contents, read once outside the timed loop.
fn texts(files: &[&str]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|f| {
            let p = reference(f);
            let t = std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (f.to_string(), t)
        })
        .collect()
}

fn load(texts: &[(String, String)]) -> Vec<Rule> {
    let mut l = Loader::new();
    for (name, text) in texts {
        let r = l.load_str(name, text);
        assert!(r.successful(), "{name}: {:?}", r.errors);
    }
    l.rules().to_vec()
}

/// YAML text of each set to a ready ruleset: what a start-up or a reload
/// costs.
fn load_and_build(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("compile/load+build");
    g.sample_size(20);
    for (label, files) in SETS {
        let t = texts(files);
        let n = load(&t).len() as u64;
        g.throughput(Throughput::Elements(n));
        g.bench_function(*label, |b| {
            b.iter(|| {
                let rules = load(&t);
                RuleSet::build(&rules, &MatchOptions::default()).expect("builds")
            })
        });
    }
    g.finish();
}

/// Matcher compilation alone (index, prefilter groups, compiled checks)
/// from already loaded rules.
fn build_only(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("compile/build");
    g.sample_size(30);
    for (label, files) in SETS {
        let rules = load(&texts(files));
        g.throughput(Throughput::Elements(rules.len() as u64));
        g.bench_function(*label, |b| {
            b.iter(|| RuleSet::build(&rules, &MatchOptions::default()).expect("builds"))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = load_and_build, build_only
}
criterion_main!(benches);
