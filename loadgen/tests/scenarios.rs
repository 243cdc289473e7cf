//! Each scenario issues the syscalls it claims, checked against effects
//! that can be seen from outside the ledger.

use std::sync::Arc;
use std::time::Duration;

use kestrel_loadgen::ledger::{Ledger, Rel, Sys};
use kestrel_loadgen::pacing::Rate;
use kestrel_loadgen::runner::{run, RunConfig};
use kestrel_loadgen::scenario::{
    ExecWorkload, OpenWorkload, Prepared, Scenario, Workload, MIXED_CYCLE, OPEN_FILES,
};
use kestrel_loadgen::sys::Program;

fn ops_config(s: Scenario, threads: usize, ops: u64) -> RunConfig {
    let mut c = RunConfig::new(s);
    c.threads = threads;
    c.duration = None;
    c.ops = Some(ops);
    c
}

#[test]
fn open_opens_existing_files_and_cleans_up() {
    let p = Prepared::new(Scenario::Open, 1, None).unwrap();
    let dir = p.temp_dir().unwrap().to_path_buf();
    assert_eq!(p.open_paths().len(), OPEN_FILES);
    for f in p.open_paths() {
        assert!(std::path::Path::new(f.to_str().unwrap()).is_file());
    }
    let mut w = p.workload(0);
    let mut l = Ledger::new();
    for _ in 0..150 {
        w.op(&mut l).unwrap();
    }
    assert_eq!(l.issued(Rel::Own, Sys::Openat), 150);
    assert_eq!(l.issued(Rel::Own, Sys::Close), 150);
    assert_eq!(l.failed(Rel::Own, Sys::Openat), 0);
    assert_eq!(l.total(), 300);
    // The check is real: once the files are gone, opening fails.
    for f in p.open_paths() {
        std::fs::remove_file(f.to_str().unwrap()).unwrap();
    }
    let err = w.op(&mut l).unwrap_err();
    assert!(err.0.contains("No such file"), "{err}");
    assert_eq!(l.failed(Rel::Own, Sys::Openat), 1);
    assert!(p.cleanup().is_empty());
    assert!(!dir.exists());
}

#[test]
fn open_workload_cycles_through_every_file() {
    let p = Prepared::new(Scenario::Open, 1, None).unwrap();
    let paths = Arc::new(p.open_paths().to_vec());
    let mut w = OpenWorkload::new(Arc::clone(&paths), 5);
    let mut l = Ledger::new();
    // Remove one file: exactly one op per cycle must fail.
    std::fs::remove_file(paths[9].to_str().unwrap()).unwrap();
    let fails = (0..OPEN_FILES * 3)
        .filter(|_| w.op(&mut l).is_err())
        .count();
    assert_eq!(fails, 3);
    p.cleanup();
}

#[test]
fn open_runner_counts() {
    let rep = run(&ops_config(Scenario::Open, 2, 300)).unwrap();
    assert_eq!(rep.ops, 300);
    assert_eq!(rep.op_errors, 0);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Openat), 300);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Close), 300);
    assert_eq!(rep.issued, 600);
    assert_eq!(rep.per_thread.iter().map(|t| t.ops).sum::<u64>(), 300);
    assert_eq!(rep.exit_code(), 0);
}

#[test]
fn exec_really_runs_the_program() {
    let dir =
        std::env::temp_dir().join(format!("kestrel-loadgen-test-exec-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("out");
    let script = format!("echo x >> {}", out.display());
    let mut w = ExecWorkload::new(Program::new("/bin/sh", &["sh", "-c", &script]).unwrap());
    let mut l = Ledger::new();
    for _ in 0..7 {
        w.op(&mut l).unwrap();
    }
    let lines = std::fs::read_to_string(&out).unwrap().lines().count();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(lines, 7);
    assert_eq!(l.issued(Rel::Own, Sys::Clone), 7);
    assert_eq!(l.issued(Rel::Child, Sys::Execve), 7);
    // A program that fails is an operation error.
    let mut bad = ExecWorkload::new(Program::new("/bin/false", &["false"]).unwrap());
    assert!(bad.op(&mut l).is_err());
    let mut missing = ExecWorkload::new(Program::new("/no/such/prog", &["x"]).unwrap());
    let e = missing.op(&mut l).unwrap_err();
    assert!(e.0.contains("execve"), "{e}");
    assert_eq!(l.failed(Rel::Child, Sys::Execve), 1);
}

#[test]
fn exec_runner_counts() {
    let rep = run(&ops_config(Scenario::Exec, 2, 20)).unwrap();
    assert_eq!(rep.op_errors, 0, "{:?}", rep.errors);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Clone), 20);
    assert_eq!(rep.ledger.issued(Rel::Child, Sys::Execve), 20);
    assert_eq!(rep.ledger.failed(Rel::Child, Sys::Execve), 0);
}

#[test]
fn connect_every_connection_reaches_the_listener() {
    let rep = run(&ops_config(Scenario::Connect, 2, 400)).unwrap();
    assert_eq!(rep.op_errors, 0, "{:?}", rep.errors);
    let l = rep.listener.as_ref().expect("listener report");
    assert_eq!(l.accepted, 400, "{l:?}");
    assert_eq!(l.errors, 0, "{l:?}");
    // Workers: socket+connect+close each; the shutdown connection adds one
    // of each; the listener adds accept4+close per connection and closes
    // its own socket.
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Socket), 401);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Connect), 401);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Accept4), 401);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Close), 401 + 401 + 1);
}

#[test]
fn getppid_issues_getppid() {
    let p = Prepared::new(Scenario::Getppid, 1, None).unwrap();
    let mut w = p.workload(0);
    let mut l = Ledger::new();
    for _ in 0..1000 {
        w.op(&mut l).unwrap();
    }
    assert_eq!(l.issued(Rel::Own, Sys::Getppid), 1000);
    assert_eq!(l.total(), 1000);
    assert_eq!(
        kestrel_loadgen::sys::getppid(&mut l) as u32,
        std::os::unix::process::parent_id()
    );
}

#[test]
fn mixed_follows_its_cycle() {
    let opens = MIXED_CYCLE.iter().filter(|c| **c == 'O').count() as u64;
    let connects = MIXED_CYCLE.iter().filter(|c| **c == 'C').count() as u64;
    let execs = MIXED_CYCLE.iter().filter(|c| **c == 'E').count() as u64;
    assert_eq!((opens, connects, execs), (7, 2, 1));
    let rep = run(&ops_config(Scenario::Mixed, 1, 100)).unwrap();
    assert_eq!(rep.op_errors, 0, "{:?}", rep.errors);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Openat), 70);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Connect), 20 + 1);
    assert_eq!(rep.ledger.issued(Rel::Own, Sys::Clone), 10);
    assert_eq!(rep.ledger.issued(Rel::Child, Sys::Execve), 10);
    assert_eq!(rep.listener.unwrap().accepted, 20);
}

#[test]
fn pacing_holds_a_modest_rate() {
    let mut c = RunConfig::new(Scenario::Getppid);
    c.threads = 2;
    c.rate = Rate::PerSec(2000.0);
    c.duration = Some(Duration::from_secs(1));
    let rep = run(&c).unwrap();
    // 2000/s for 1 s; tolerance for a loaded shared machine.
    let ops = rep.ops as f64;
    assert!((1800.0..=2200.0).contains(&ops), "ops {ops}");
    assert!(
        (1800.0..=2200.0).contains(&rep.rate_per_s),
        "rate {}",
        rep.rate_per_s
    );
    for t in &rep.per_thread {
        assert!((900.0..=1100.0).contains(&(t.ops as f64)), "{t:?}");
    }
}

#[test]
fn duration_limits_a_flat_out_run() {
    let mut c = RunConfig::new(Scenario::Getppid);
    c.duration = Some(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let rep = run(&c).unwrap();
    assert!(t.elapsed() < Duration::from_secs(3));
    assert!(rep.ops > 1000, "{}", rep.ops);
    assert!((0.25..1.5).contains(&rep.duration_s), "{}", rep.duration_s);
    assert!(rep.latency_ns.p50 > 0 && rep.latency_ns.max >= rep.latency_ns.p99);
}

#[test]
fn pinning_reports_cpus() {
    let mut c = ops_config(Scenario::Getppid, 3, 30);
    c.pin = true;
    let rep = run(&c).unwrap();
    let ids = core_ids();
    for t in &rep.per_thread {
        assert_eq!(t.cpu, Some(ids[t.thread % ids.len()]));
    }
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
}

fn core_ids() -> Vec<usize> {
    // The CPUs this process may run on, in order (what pinning uses).
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let list = status
        .lines()
        .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
        .unwrap()
        .trim()
        .to_string();
    let mut out = Vec::new();
    for part in list.split(',') {
        match part.split_once('-') {
            Some((a, b)) => out.extend(a.parse::<usize>().unwrap()..=b.parse().unwrap()),
            None => out.push(part.parse().unwrap()),
        }
    }
    out
}

#[test]
fn a_very_low_rate_still_stops_on_time() {
    // One operation every 20 s per thread: the run must end at the
    // deadline, not after the next scheduled operation.
    let mut c = RunConfig::new(Scenario::Getppid);
    c.rate = Rate::PerSec(0.05);
    c.duration = Some(Duration::from_millis(300));
    let t = std::time::Instant::now();
    let rep = run(&c).unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(rep.ops, 1);
}
