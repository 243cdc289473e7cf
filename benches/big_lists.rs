//! Big lists (issue 14, item 3): "a rules list of 100,000 entries loads in
//! under 1 s and matches in O(1)".
//!
//! `big_list/load+build/N`: YAML text of a rules file whose list of N
//! paths is written on one line (the hostile form: every position on
//! that line used to cost a walk from its start) to a ready [`RuleSet`],
//! for N = 1,000, 10,000 and 100,000.
//!
//! `big_list/match/OP/N`: one matching event and one that misses, both
//! against a rule set holding just one rule with a list of N entries, for
//! `fd.name in (list)`, `proc.name in (list)` and `fd.name pmatch (list)`
//! with N = 100 and 100,000. Constant-time matching shows as the same
//! time for both sizes (a linear scan would take about 1,000 times as
//! long at 100,000).
//!
//! Time is the benchmark thread's CPU time (`engine_support/cpu_time.rs`).
//! Run: `cargo bench --bench big_lists`; results in BENCHMARKS.md.

#[path = "engine_support/cpu_time.rs"]
mod cpu_time;

use std::time::Duration;

use cpu_time::CpuTime;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kestrel_engine::event::EventType;
use kestrel_engine::matcher::testkit::MapEvent;
use kestrel_engine::matcher::{MatchOptions, RuleSet};
use kestrel_engine::rules::Loader;

/// A rules file: list `big` of `n` items made by `item(i)`, on one line,
/// and one rule testing `FIELD OP (big)` on openat.
fn rules_text(n: usize, item: impl Fn(usize) -> String, field: &str, op: &str) -> String {
    let mut s = String::with_capacity(n * 16 + 512);
    s.push_str("- list: big\n  items: [");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&item(i));
    }
    s.push_str("]\n");
    s.push_str(&format!(
        "- rule: Big List\n  desc: issue 14 big lists\n  condition: evt.type = openat and {field} {op} (big)\n  output: \"hit %{field}\"\n  priority: WARNING\n"
    ));
    s
}

fn load_and_build(text: &str) -> RuleSet {
    let mut l = Loader::new();
    let r = l.load_str("big.yaml", text);
    assert!(
        r.errors.is_empty(),
        "{:?}",
        r.errors.first().map(|d| d.render_text())
    );
    RuleSet::build(l.rules(), &MatchOptions::default()).expect("build")
}

fn load(c: &mut Criterion<CpuTime>) {
    let mut g = c.benchmark_group("big_list/load+build");
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    for n in [1_000usize, 10_000, 100_000] {
        let text = rules_text(n, |i| format!("/data/f{i}"), "fd.name", "in");
        g.throughput(Throughput::Elements(n as u64));
        g.bench_with_input(BenchmarkId::from_parameter(n), &text, |b, t| {
            b.iter(|| load_and_build(t))
        });
    }
    g.finish();
}

/// One operator's case: the list items and the field values of a hit
/// (the list's last entry, or under its last directory) and a miss.
struct Case {
    label: &'static str,
    field: &'static str,
    op: &'static str,
    item: fn(usize) -> String,
    hit: fn(usize) -> String,
    miss: &'static str,
}

const CASES: &[Case] = &[
    Case {
        label: "fd.name_in",
        field: "fd.name",
        op: "in",
        item: |i| format!("/data/f{i}"),
        hit: |n| format!("/data/f{}", n - 1),
        miss: "/data/f-none",
    },
    Case {
        label: "proc.name_in",
        field: "proc.name",
        op: "in",
        item: |i| format!("p{i}"),
        hit: |n| format!("p{}", n - 1),
        miss: "p-none",
    },
    Case {
        label: "fd.name_pmatch",
        field: "fd.name",
        op: "pmatch",
        item: |i| format!("/data/d{i}"),
        hit: |n| format!("/data/d{}/sub/file", n - 1),
        miss: "/data/d-none/file",
    },
];

fn event(field: &str, value: &str) -> MapEvent {
    let mut e = MapEvent::new("openat");
    e.set_text(field, value).expect("settable field");
    e
}

fn matching(c: &mut Criterion<CpuTime>) {
    let ty = EventType::from_name("openat").expect("openat");
    for case in CASES {
        let mut g = c.benchmark_group(format!("big_list/match/{}", case.label));
        g.sample_size(30);
        g.warm_up_time(Duration::from_secs(1));
        g.measurement_time(Duration::from_secs(3));
        for n in [100usize, 100_000] {
            let rs = load_and_build(&rules_text(n, case.item, case.field, case.op));
            let hit = event(case.field, &(case.hit)(n));
            let miss = event(case.field, case.miss);
            let mut out = Vec::new();
            // The events do what they are named for.
            rs.matches(ty, "openat", &hit, &mut out);
            assert_eq!(out.len(), 1, "{} {n}: the hit does not match", case.label);
            out.clear();
            rs.matches(ty, "openat", &miss, &mut out);
            assert!(out.is_empty(), "{} {n}: the miss matches", case.label);
            // Two matches per iteration: the hit, then the miss.
            g.throughput(Throughput::Elements(2));
            g.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| {
                    out.clear();
                    rs.matches(ty, "openat", &hit, &mut out);
                    rs.matches(ty, "openat", &miss, &mut out);
                    out.len()
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime);
    targets = load, matching
}
criterion_main!(benches);
