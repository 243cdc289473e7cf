//! Hostile rules input (issue 14): a 100,000-entry list loads fast and
//! matches in constant time; nesting 10,000 deep, in a condition, through
//! macros or in the YAML itself, is a clear error and never a stack
//! overflow.

use std::time::{Duration, Instant};

use kestrel_engine::event::EventType;
use kestrel_engine::matcher::testkit::MapEvent;
use kestrel_engine::matcher::{MatchOptions, RuleSet};
use kestrel_engine::rules::{parse_condition, Loader};

/// Rules with a list of `n` paths and a rule testing `fd.name in (list)`.
fn list_rules(n: usize) -> String {
    let mut s = String::with_capacity(n * 16 + 512);
    s.push_str("- list: big_paths\n  items: [");
    for i in 0..n {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&format!("/data/f{i}"));
    }
    s.push_str("]\n");
    s.push_str(
        "- rule: Big List\n  desc: hostile input\n  condition: evt.type = openat and fd.name in (big_paths)\n  output: \"hit %fd.name\"\n  priority: WARNING\n",
    );
    s
}

fn load(text: &str) -> (RuleSet, Duration) {
    let t = Instant::now();
    let mut l = Loader::new();
    let r = l.load_str("big.yaml", text);
    assert!(
        r.errors.is_empty(),
        "{:?}",
        r.errors.first().map(|d| d.render_text())
    );
    let rs = RuleSet::build(l.rules(), &MatchOptions::default()).expect("build");
    (rs, t.elapsed())
}

fn event(name: &str) -> MapEvent {
    let mut e = MapEvent::new("openat");
    e.set_text("fd.name", name).unwrap();
    e
}

/// ns per match over `rounds` rounds of the hit and the miss event.
fn ns_per_match(rs: &RuleSet, hit: &MapEvent, miss: &MapEvent, rounds: u32) -> f64 {
    let ty = EventType::from_name("openat").unwrap();
    let mut out = Vec::new();
    let t = Instant::now();
    for _ in 0..rounds {
        out.clear();
        rs.matches(ty, "openat", hit, &mut out);
        assert_eq!(out.len(), 1);
        out.clear();
        rs.matches(ty, "openat", miss, &mut out);
        assert!(out.is_empty());
    }
    t.elapsed().as_nanos() as f64 / f64::from(rounds * 2)
}

#[test]
#[ignore]
fn list_load_scaling() {
    for n in [1000usize, 2000, 4000, 8000] {
        let text = list_rules(n);
        let t = Instant::now();
        let mut l = Loader::new();
        let r = l.load_str("big.yaml", &text);
        let t_load = t.elapsed();
        assert!(r.errors.is_empty());
        let t = Instant::now();
        let _rs = RuleSet::build(l.rules(), &MatchOptions::default()).expect("build");
        println!("n={n}: load {t_load:?}, build {:?}", t.elapsed());
    }
}

#[test]
fn list_of_100k_entries_loads_in_under_a_second_and_matches_in_constant_time() {
    let big = list_rules(100_000);
    let small = list_rules(100);
    let (rs_big, load_big) = load(&big);
    let (rs_small, _) = load(&small);
    // CI runs the tests optimised (scripts/test.sh --release): there the
    // issue's bound holds; an unoptimised build gets ten times the room.
    let bound = if cfg!(debug_assertions) {
        Duration::from_secs(10)
    } else {
        Duration::from_secs(1)
    };
    println!("100,000-entry list: loaded and built in {load_big:?}");
    assert!(load_big < bound, "loading took {load_big:?}");

    let (hit_b, hit_s) = (event("/data/f99999"), event("/data/f99"));
    let miss = event("/data/f100000x");
    // Warm up, then take the best of five (other load on the machine
    // only ever makes a round slower).
    ns_per_match(&rs_big, &hit_b, &miss, 1000);
    ns_per_match(&rs_small, &hit_s, &miss, 1000);
    let best = |rs: &RuleSet, hit: &MapEvent| {
        (0..5)
            .map(|_| ns_per_match(rs, hit, &miss, 20_000))
            .fold(f64::INFINITY, f64::min)
    };
    let (t_big, t_small) = (best(&rs_big, &hit_b), best(&rs_small, &hit_s));
    println!("match: {t_big:.0} ns with 100,000 entries, {t_small:.0} ns with 100");
    // 1,000 times the entries: a linear scan would take ~1,000 times as
    // long; a hash lookup takes about the same, plus the cache misses of
    // a table that no longer fits in the CPU caches.
    assert!(
        t_big < t_small * 20.0,
        "100,000 entries: {t_big:.0} ns/match, 100 entries: {t_small:.0} ns/match"
    );
}

/// Runs `f` on a thread with the default 2 MiB test stack, so that
/// unbounded recursion would crash the test instead of passing on a big
/// main-thread stack.
fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .expect("panicked");
}

const DEPTH: usize = 10_000;

#[test]
fn parenthesised_condition_10000_deep_is_a_clear_error() {
    on_small_stack(|| {
        let c = format!("{}evt.type = open{}", "(".repeat(DEPTH), ")".repeat(DEPTH));
        let e = parse_condition(&c).unwrap_err().to_string();
        assert!(e.contains("max depth"), "{e}");
        // A chain of 10,000 (or 9,999) `not`s is not nesting that needs
        // a limit: it loads, compiles and matches correctly without deep
        // recursion.
        for (nots, openat_matches) in [(DEPTH, false), (DEPTH - 1, true)] {
            let c = format!("{}evt.type = open", "not ".repeat(nots));
            let doc = format!(
                "- rule: Nots\n  desc: d\n  condition: {c}\n  output: o\n  priority: WARNING\n"
            );
            let mut l = Loader::new();
            let r = l.load_str("nots.yaml", &doc);
            assert!(r.errors.is_empty(), "{:?}", r.errors[0].render_text());
            let rs = RuleSet::build(l.rules(), &MatchOptions::default()).expect("build");
            let ty = EventType::from_name("openat").unwrap();
            let mut out = Vec::new();
            rs.matches(ty, "openat", &event("/x"), &mut out);
            assert_eq!(out.len() == 1, openat_matches, "{nots} nots");
        }
        let c = format!("evt.type in {}open{}", "(".repeat(DEPTH), ")".repeat(DEPTH));
        assert!(parse_condition(&c).is_err());
    });
}

#[test]
fn macro_chain_10000_deep_is_a_clear_error() {
    on_small_stack(|| {
        let mut s = String::from("- macro: m0\n  condition: evt.type = open\n");
        for i in 1..=DEPTH {
            s.push_str(&format!(
                "- macro: m{i}\n  condition: (m{} and proc.name != x{i})\n",
                i - 1
            ));
        }
        s.push_str(&format!(
            "- rule: Deep\n  desc: d\n  condition: m{DEPTH}\n  output: o\n  priority: WARNING\n"
        ));
        let mut l = Loader::new();
        let r = l.load_str("deep.yaml", &s);
        let all: Vec<String> = r
            .errors
            .iter()
            .chain(&r.warnings)
            .map(|d| d.render_text())
            .collect();
        assert!(
            all.iter()
                .any(|t| t.contains("nesting exceeds") || t.contains("depth")),
            "no clear error: {all:?}"
        );
        assert!(l.rules().iter().all(|r| r.name != "Deep" || !r.enabled));
    });
}

#[test]
fn yaml_nested_10000_deep_is_a_clear_error() {
    on_small_stack(|| {
        for doc in [
            format!("- rule: {}x{}\n", "[".repeat(DEPTH), "]".repeat(DEPTH)),
            format!("{}\n", "- ".repeat(DEPTH)),
            format!(
                "- list: l\n  items: {}a{}\n",
                "[".repeat(DEPTH),
                "]".repeat(DEPTH)
            ),
        ] {
            let mut l = Loader::new();
            let r = l.load_str("deep.yaml", &doc);
            assert!(!r.errors.is_empty(), "accepted {:.40}...", doc);
            assert!(!r.errors[0].render_text().is_empty());
        }
    });
}

/// Found by `fuzz/ci.sh` (loader target): an error position inside a
/// multi-byte character (here U+FFFD, from invalid UTF-8 read lossily)
/// sliced a string off a character boundary and panicked. The input is in
/// fuzz/corpus/loader/crash-utf8-offset-in-char.
#[test]
fn error_offset_inside_a_multibyte_character_does_not_panic() {
    let bytes = include_bytes!("../../fuzz/corpus/loader/crash-utf8-offset-in-char");
    let text = String::from_utf8_lossy(bytes);
    let mut l = Loader::new();
    let r = l.load_str("crash.yaml", &text);
    for d in r.errors.iter().chain(&r.warnings) {
        assert!(!d.render_text().is_empty());
    }
    assert!(!r.errors.is_empty() || !r.warnings.is_empty());
}
