//! The daemon's whole per-event userspace path, without the kernel: wire
//! records of the `kestrel-loadgen --scenario open` workload (an `openat`
//! O_RDONLY of a file in a temporary directory, then its `close`) handed
//! to a real [`Worker`] (decode, attribution, process table, tracker,
//! field extraction, matching, counters, latency histogram) by an
//! in-memory source.
//!
//! Rule sets, as in the zero-drop suite (perf/zero-drop):
//! - `default`: kestrel's embedded default rules;
//! - `stable`: Falco's stable rules file;
//! - `ancestor`: the default rules plus a rule that needs every open and
//!   close and reads `proc.aname[3]`, so every event walks the ancestor
//!   chain (the producer process has four known ancestors);
//! - `ancestor_marked`: the same, with the records marked as the kernel
//!   filter marks them (the live daemon's case: openat passes whole for
//!   the ancestor rule, and the default rules' clauses mark the opens one
//!   of them may match; these match none).
//!
//! `KESTREL_WORKER_PATH_ONCE` also takes `ancestor_only` (the ancestor
//! rule alone) and `none` (no rules).
//!
//! The loadgen process is tracked (as `kestrel-loadgen --daemon` does), so
//! the tracker's per-event bookkeeping is in the measurement.
//!
//! Time is the benchmark thread's CPU time (see engine_support/cpu_time.rs).
//! Results read as events per CPU-second; the inverse is the daemon's
//! userspace CPU per event before ring reading and sleeping.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::Arc;
use std::time::Duration;

#[path = "engine_support/cpu_time.rs"]
mod cpu_time;

use arc_swap::ArcSwap;
use cpu_time::CpuTime;
use criterion::{criterion_group, Criterion, Throughput};
use kestrel_engine::event::raw::comm_from;
use kestrel_engine::event::wire::{EventHdr, HF_KEVAL, HF_KSEL, HF_SYNTHETIC};
use kestrel_engine::event::{EventBuilder, EventType, RawEvent};
use kestrel_engine::kfilter::{KView, KernelFilter};
use kestrel_engine::matcher::{MatchOptions, RuleSet};
use kestrel_engine::output::{CompiledOutputs, Outputs, OutputsConfig};
use kestrel_engine::pipeline::metrics::PipelineMetrics;
use kestrel_engine::pipeline::worker::{Engine, RecordSource, Shared, Worker, WorkerConfig};
use kestrel_engine::rules::{Loader, Rule};
use kestrel_engine::state::{Context, ProcessTable};

/// Records per pass; the source hands out `PASSES` passes per run.
const RECORDS: usize = 4000;
const PASSES: usize = 25;
const LOADGEN: u32 = 4000;

const ANCESTOR_RULE: &str = r#"
- rule: Adversarial ancestor check
  desc: needs every open and close in userspace and walks the ancestors
  condition: evt.type in (open, openat, openat2, close) and proc.aname[3] = kestrel-nonexistent-ancestor
  output: never fires (proc=%proc.name)
  priority: INFO
"#;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn rules(files: &[PathBuf], extra: Option<&str>) -> Vec<Rule> {
    let mut l = Loader::new();
    for p in files {
        let r = l.load_file(p);
        assert!(r.successful(), "{}: {:?}", p.display(), r.errors);
    }
    if let Some(text) = extra {
        let r = l.load_str("ancestor.yaml", text);
        assert!(r.successful(), "{:?}", r.errors);
    }
    l.rules().to_vec()
}

fn hdr(tgid: u32, ptgid: u32, comm: &str, ts_ns: u64) -> EventHdr {
    EventHdr {
        ts_ns,
        tid: tgid,
        tgid,
        ptgid,
        exec_gen: 1,
        uid: 0,
        loginuid: u32::MAX,
        comm: comm_from(comm.as_bytes()),
        ..Default::default()
    }
}

/// A /proc-scan record of a process (the table's seed).
fn scanned(tgid: u32, ptgid: u32, comm: &str, exe: &str) -> Vec<u8> {
    let mut h = hdr(tgid, ptgid, comm, 1);
    h.flags = HF_SYNTHETIC;
    let mut argv = exe.as_bytes().to_vec();
    argv.push(0);
    EventBuilder::new(EventType::PROCINFO, h)
        .bytes(&argv)
        .bytes(b"/root")
        .bytes(exe.as_bytes())
        .bytes(exe.as_bytes())
        .bytes(b"HOME=/root")
        .bytes(b"unified=/user.slice")
        .u64(34816)
        .u64(1)
        .u64(tgid as u64)
        .u64(tgid as u64)
        .u64(tgid as u64)
        .u64(0)
        .u64(77)
        .u64(0)
        .u64(0)
        .u64(1_000)
        .u64(500)
        .u64(0)
        .finish()
}

/// The loadgen `open` scenario's records: openat O_RDONLY, close.
fn workload() -> Vec<Vec<u8>> {
    let mut v = Vec::with_capacity(RECORDS);
    for i in 0..RECORDS / 2 {
        let ts = 1_000_000 + i as u64;
        let mut h = hdr(LOADGEN, 3000, "kestrel-loadgen", ts);
        h.ret = 7;
        let path = format!("/tmp/kestrel-loadgen.Xa91/f{}", i % 64);
        v.push(
            EventBuilder::new(EventType(65), h)
                .i64(-100)
                .bytes(path.as_bytes())
                .u64(0o2000000) // O_RDONLY|O_CLOEXEC
                .u64(0)
                .bytes(b"")
                .finish(),
        );
        let mut h = hdr(LOADGEN, 3000, "kestrel-loadgen", ts);
        h.ret = 0;
        v.push(EventBuilder::new(EventType(68), h).i64(7).finish());
    }
    v
}

/// The kernel filter the daemon derives for `rules`.
fn filter_of(rules: &[Rule]) -> KernelFilter {
    KernelFilter::derive(&RuleSet::build(rules, &MatchOptions::default()).expect("ruleset"))
}

/// Hands out `passes` copies of the records, then nothing.
struct Replay {
    recs: Arc<Vec<Vec<u8>>>,
    pos: usize,
    left: usize,
}

impl RecordSource for Replay {
    fn poll(&mut self, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let mut n = 0;
        while n < budget && self.left > 0 {
            f(&self.recs[self.pos]);
            n += 1;
            self.pos += 1;
            if self.pos == self.recs.len() {
                self.pos = 0;
                self.left -= 1;
            }
        }
        n
    }
}

struct Setup {
    shared: Shared,
    _outputs: Outputs,
}

/// The records as the probe emits them under the kernel filter derived
/// from `ruleset` (slot 0): each marked as the filter's model marks it
/// (`KernelFilter::selected`; every record passes these rules' filter).
fn marked(recs: &[Vec<u8>], kf: &KernelFilter) -> Vec<Vec<u8>> {
    let at = std::mem::offset_of!(EventHdr, flags);
    recs.iter()
        .map(|r| {
            let raw = RawEvent::parse(r).expect("record");
            assert!(kf.passes(&KView::of_record(&raw)), "filtered record");
            let mark = match kf.selected(&KView::of_record(&raw)) {
                None => 0,
                Some(held) => HF_KEVAL | if held { HF_KSEL } else { 0 },
            };
            let mut r = r.clone();
            let flags = u32::from_le_bytes(r[at..at + 4].try_into().expect("4 bytes")) | mark;
            r[at..at + 4].copy_from_slice(&flags.to_le_bytes());
            r
        })
        .collect()
}

/// `marks`: read the kernel filter's marks (the records must carry them).
fn setup(rules: &[Rule], marks: Option<&KernelFilter>) -> Setup {
    let mut oc = OutputsConfig::default();
    oc.stdout.enabled = false;
    let outputs = Outputs::start(oc.clone()).expect("outputs");
    let mut ruleset = RuleSet::build(rules, &MatchOptions::default()).expect("ruleset");
    if let Some(kf) = marks {
        ruleset.set_kernel_marks(kf, 0);
    }
    let (compiled, _) = CompiledOutputs::compile(rules, &oc).expect("outputs compile");
    let engine = Engine::new(ruleset, compiled, rules, outputs.sender(), 1);
    let table = ProcessTable::new(4096);
    // init <- sshd <- sshd <- bash <- kestrel-loadgen
    for rec in [
        scanned(1, 0, "systemd", "/usr/lib/systemd/systemd"),
        scanned(1000, 1, "sshd", "/usr/sbin/sshd"),
        scanned(2000, 1000, "sshd", "/usr/sbin/sshd"),
        scanned(3000, 2000, "bash", "/usr/bin/bash"),
        scanned(
            LOADGEN,
            3000,
            "kestrel-loadgen",
            "/usr/local/bin/kestrel-loadgen",
        ),
    ] {
        table.apply(&RawEvent::parse(&rec).expect("procinfo"));
    }
    let metrics = Arc::new(PipelineMetrics::new(1));
    assert!(metrics.tracker.track(LOADGEN));
    let shared = Shared {
        table: Arc::new(table),
        ctx: Arc::new(Context::replay("bench", 0)),
        engine: Arc::new(ArcSwap::from_pointee(engine)),
        epochs: Arc::new(vec![AtomicU64::new(0)]),
        metrics,
        stop: Arc::new(AtomicBool::new(true)),
    };
    Setup {
        shared,
        _outputs: outputs,
    }
}

fn bench(c: &mut Criterion<CpuTime>) {
    let default = repo("rules/kestrel_rules.yaml");
    let stable = repo("../shared/reference/falco_rules.yaml");
    let sets: [(&str, Vec<Rule>, bool); 4] = [
        (
            "default",
            rules(std::slice::from_ref(&default), None),
            false,
        ),
        ("stable", rules(&[stable], None), false),
        (
            "ancestor",
            rules(std::slice::from_ref(&default), Some(ANCESTOR_RULE)),
            false,
        ),
        (
            "ancestor_marked",
            rules(&[default], Some(ANCESTOR_RULE)),
            true,
        ),
    ];
    let plain = Arc::new(workload());
    let mut g = c.benchmark_group("worker_path");
    g.throughput(Throughput::Elements((RECORDS * PASSES) as u64));
    for (name, rs, marks) in &sets {
        let kf = marks.then(|| filter_of(rs));
        let s = setup(rs, kf.as_ref());
        let recs = match &kf {
            Some(kf) => Arc::new(marked(&plain, kf)),
            None => Arc::clone(&plain),
        };
        g.bench_function(*name, |b| {
            b.iter(|| {
                let src = Replay {
                    recs: Arc::clone(&recs),
                    pos: 0,
                    left: PASSES,
                };
                let cfg = WorkerConfig {
                    batch_pause: Duration::ZERO,
                    ..WorkerConfig::default()
                };
                Worker::new(0, 1, src, s.shared.clone(), cfg).run();
            })
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().with_measurement(CpuTime).sample_size(20);
    targets = bench
}

/// `KESTREL_WORKER_PATH_ONCE=<set>:<passes>`: set up, run the workload
/// `passes` times through one worker and exit, for instruction counts
/// under `valgrind --tool=callgrind` (deterministic where CPU time on a
/// shared VM is not): the difference between two pass counts divided by
/// the events in between is the instructions per event.
fn once(spec: &str) {
    let (name, passes) = spec.split_once(':').unwrap_or((spec, "1"));
    let passes: usize = passes.parse().expect("passes");
    let default = repo("rules/kestrel_rules.yaml");
    let rs = match name {
        "default" => rules(std::slice::from_ref(&default), None),
        "stable" => rules(&[repo("../shared/reference/falco_rules.yaml")], None),
        "ancestor" | "ancestor_marked" => rules(&[default], Some(ANCESTOR_RULE)),
        "ancestor_only" => rules(&[], Some(ANCESTOR_RULE)),
        "none" => Vec::new(),
        other => panic!("unknown rule set {other}"),
    };
    let kf = (name == "ancestor_marked").then(|| filter_of(&rs));
    let s = setup(&rs, kf.as_ref());
    let recs = match &kf {
        Some(kf) => marked(&workload(), kf),
        None => workload(),
    };
    let src = Replay {
        recs: Arc::new(recs),
        pos: 0,
        left: passes,
    };
    let cfg = WorkerConfig {
        batch_pause: Duration::ZERO,
        ..WorkerConfig::default()
    };
    Worker::new(0, 1, src, s.shared.clone(), cfg).run();
}

fn main() {
    if let Ok(spec) = std::env::var("KESTREL_WORKER_PATH_ONCE") {
        once(&spec);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
