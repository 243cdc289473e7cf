//! Runs a scenario: threads, pacing, progress, and the daemon protocol.
//!
//! Order of a run with a daemon (each step before the measurement window
//! opens or after it closes issues syscalls that must not be counted):
//!
//! 1. prepare the scenario (files, listener, trigger environment);
//! 2. spawn the workers; each pins itself, sets its timer slack, reports
//!    ready and waits at the gate (thread creation and pinning are events
//!    too, so they must be over before the baseline);
//! 3. `POST /track?tgid=<pid>`, then scrape until an interval between two
//!    scrapes contains exactly the scrapes' own syscalls: the daemon has
//!    caught up, and the last scrape is the baseline;
//! 4. open the gate; print progress each second; stop
//!    them at the deadline or when each reached its operation budget;
//! 5. stop the listener; scrape until an interval is exact again (events
//!    still in flight are counted), up to the settle timeout;
//! 6. `POST /untrack`, remove temporary files, reconcile.
//!
//! `issued` = the workers' ledgers + the listener's + the shutdown
//! connection + the scrape client's syscalls between the two render
//! points of the baseline and the final scrape.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::daemon::{DaemonClient, DaemonError, Scrape};
use crate::ledger::Ledger;
use crate::pacing::{set_fine_timer_slack, Pacer, Rate};
use crate::reconcile::{self, DaemonStats, Reconciliation};
use crate::report::{self, RunReport};
use crate::rules::{self, RuleRow};
use crate::scenario::{ListenerReport, Prepared, Scenario, SetupError, Workload};
use crate::trigger::{self, TriggerStats};

/// What to run.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// The scenario.
    pub scenario: Scenario,
    /// Worker threads.
    pub threads: usize,
    /// Pin thread i to CPU i mod ncpus.
    pub pin: bool,
    /// Target rate, total across threads.
    pub rate: Rate,
    /// Stop after this long.
    pub duration: Option<Duration>,
    /// Stop after this many operations in total (split across threads).
    /// With neither this nor `duration`, the trigger scenario makes one
    /// pass over its runnable actions.
    pub ops: Option<u64>,
    /// The daemon's web server URL.
    pub daemon: Option<String>,
    /// The file holding the bearer token the daemon's `POST /track`
    /// requires (`webserver.track`), read once before the run.
    pub daemon_token_file: Option<PathBuf>,
    /// Print a progress line on stderr each second.
    pub progress: bool,
    /// How long to wait for the daemon's counts to settle.
    pub settle_timeout: Duration,
    /// Wait between connecting and requesting on scrapes.
    pub quiet_gap: Duration,
    /// This program's executable, for the trigger scenario.
    pub helper_exe: Option<PathBuf>,
    /// Trigger scenario with a daemon: check that every default rule an
    /// action completed for raised an alert.
    pub expect_default_rules: bool,
}

impl RunConfig {
    /// Defaults for `scenario`: one thread, flat out, 10 s, no daemon.
    pub fn new(scenario: Scenario) -> RunConfig {
        RunConfig {
            scenario,
            threads: 1,
            pin: false,
            rate: Rate::Max,
            duration: Some(Duration::from_secs(10)),
            ops: None,
            daemon: None,
            daemon_token_file: None,
            progress: false,
            settle_timeout: Duration::from_secs(5),
            quiet_gap: DaemonClient::DEFAULT_QUIET_GAP,
            helper_exe: None,
            expect_default_rules: false,
        }
    }
}

/// Why a run could not happen.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Setting up the scenario failed.
    #[error("scenario setup failed: {0}")]
    Setup(#[from] SetupError),
    /// The daemon could not be reached or answered badly.
    #[error("daemon: {0}")]
    Daemon(#[from] DaemonError),
    /// A thread could not be started or panicked.
    #[error("thread: {0}")]
    Thread(String),
}

/// One worker's results.
#[derive(Debug)]
pub struct ThreadResult {
    /// Thread index.
    pub thread: usize,
    /// CPU it was pinned to.
    pub cpu: Option<usize>,
    /// Pinning was asked for but failed.
    pub pin_failed: bool,
    /// Operations completed (failed ones included).
    pub ops: u64,
    /// Operations that failed.
    pub errors: u64,
    /// The first failure.
    pub first_error: Option<String>,
    /// Time from release to the last operation.
    pub elapsed: Duration,
    /// Per-operation latency, ns.
    pub hist: Histogram<u64>,
    /// Syscalls issued.
    pub ledger: Ledger,
    /// Schedule restarts (fell behind).
    pub slips: u64,
    /// Trigger counts.
    pub trigger: Option<TriggerStats>,
}

/// A latency histogram in nanoseconds, 1 ns to 60 s, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("static bounds are valid")
}

#[repr(align(128))]
#[derive(Default)]
struct PaddedCounter(AtomicU64);

/// Start line for the workers: each reports ready (set up, pinned) and
/// waits; the main thread waits for all that were started, takes the
/// baseline, then opens the gate. Unlike a `Barrier` it does not need the
/// number of threads up front, so a thread that fails to start cannot
/// leave the others waiting forever.
#[derive(Default)]
struct Gate {
    state: Mutex<(usize, bool)>,
    cv: Condvar,
}

impl Gate {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, bool)> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Worker side: ready, then wait for the gate to open.
    fn arrive_and_wait(&self) {
        let mut s = self.lock();
        s.0 += 1;
        self.cv.notify_all();
        while !s.1 {
            s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    /// Main side: wait until `n` workers are ready.
    fn wait_ready(&self, n: usize) {
        let mut s = self.lock();
        while s.0 < n {
            s = self.cv.wait(s).unwrap_or_else(|p| p.into_inner());
        }
    }

    fn open(&self) {
        self.lock().1 = true;
        self.cv.notify_all();
    }
}

struct Shared {
    stop: AtomicBool,
    done: AtomicUsize,
    progress: Vec<PaddedCounter>,
    gate: Gate,
}

struct WorkerSpec {
    thread: usize,
    cpu: Option<core_affinity::CoreId>,
    interval: Option<Duration>,
    budget: Option<u64>,
    workload: Box<dyn Workload>,
}

fn worker(spec: WorkerSpec, shared: Arc<Shared>) -> ThreadResult {
    let WorkerSpec {
        thread,
        cpu,
        interval,
        budget,
        mut workload,
    } = spec;
    let mut pin_failed = false;
    if let Some(c) = cpu {
        pin_failed = !core_affinity::set_for_current(c);
    }
    if interval.is_some() {
        // Failure only makes short sleeps coarser; pacing still holds.
        set_fine_timer_slack();
    }
    let mut hist = new_histogram();
    let mut ledger = Ledger::new();
    let mut pacer = Pacer::new(interval);
    let budget = budget.unwrap_or(u64::MAX);
    let mut ops = 0u64;
    let mut errors = 0u64;
    let mut first_error = None;
    shared.gate.arrive_and_wait();
    let start = Instant::now();
    let mut last = start;
    while ops < budget && !shared.stop.load(Ordering::Relaxed) {
        if !pacer.wait(&shared.stop) {
            break;
        }
        let t0 = Instant::now();
        let r = workload.op(&mut ledger);
        let t1 = Instant::now();
        hist.saturating_record((t1 - t0).as_nanos().max(1) as u64);
        last = t1;
        ops += 1;
        shared.progress[thread].0.store(ops, Ordering::Relaxed);
        if let Err(e) = r {
            errors += 1;
            first_error.get_or_insert(e.0);
        }
    }
    workload.finish(&mut ledger);
    shared.done.fetch_add(1, Ordering::Release);
    ThreadResult {
        thread,
        cpu: cpu.map(|c| c.id),
        pin_failed,
        ops,
        errors,
        first_error,
        elapsed: last - start,
        hist,
        ledger,
        slips: pacer.slips(),
        trigger: workload.trigger_stats(),
    }
}

/// Scrapes until the interval between two consecutive scrapes reconciles
/// exactly with the client's own syscalls (nothing else of ours is in
/// flight), or until `timeout`. Returns the last scrape, whether it
/// settled, and the number of unparsable lines seen.
pub fn settle(
    client: &mut DaemonClient,
    tgid: u32,
    timeout: Duration,
) -> Result<(Scrape, bool, usize), DaemonError> {
    let deadline = Instant::now() + timeout;
    let mut prev = client.scrape()?;
    let mut issues = prev.issues.len();
    loop {
        let next = client.scrape()?;
        issues += next.issues.len();
        let own = &next.ledger - &prev.ledger;
        if reconcile::reconcile(tgid, &prev.metrics, &next.metrics, &own).exact() {
            return Ok((next, true, issues));
        }
        if Instant::now() >= deadline {
            return Ok((next, false, issues));
        }
        prev = next;
    }
}

/// The default-rule verdicts from the baseline and `end`. Alerts can trail
/// the events the settle step waited for (an exec deferred, a worker
/// behind), so while an expected rule has not fired the daemon is
/// scraped again, up to `timeout`. These scrapes come after the final
/// render point and do not touch the reconciliation.
fn await_rules(
    c: &mut DaemonClient,
    baseline: &crate::prom::Metrics,
    end: Scrape,
    actions: &[trigger::ActionReport],
    timeout: Duration,
) -> Result<Vec<RuleRow>, DaemonError> {
    let names = rules::enabled_default_rules();
    let deadline = Instant::now() + timeout;
    let mut latest = end.metrics;
    loop {
        let rows = rules::check(&names, actions, &rules::alert_increases(baseline, &latest));
        if rules::all_expected_fired(&rows) || Instant::now() >= deadline {
            return Ok(rows);
        }
        std::thread::sleep(Duration::from_millis(100));
        latest = c.scrape()?.metrics;
    }
}

fn budgets(ops: Option<u64>, threads: usize) -> Vec<Option<u64>> {
    (0..threads)
        .map(|i| {
            ops.map(|n| {
                let t = threads as u64;
                n / t + u64::from((i as u64) < n % t)
            })
        })
        .collect()
}

/// Runs `cfg` and returns the report.
pub fn run(cfg: &RunConfig) -> Result<RunReport, RunError> {
    if cfg.threads == 0 || cfg.threads > 4096 {
        return Err(RunError::Config(format!(
            "--threads must be between 1 and 4096, not {}",
            cfg.threads
        )));
    }
    if cfg.duration.is_none() && cfg.ops.is_none() && cfg.scenario != Scenario::Trigger {
        return Err(RunError::Config("give --duration or --ops".into()));
    }
    if cfg.ops == Some(0) {
        return Err(RunError::Config("--ops must be at least 1".into()));
    }
    if cfg.expect_default_rules && (cfg.scenario != Scenario::Trigger || cfg.daemon.is_none()) {
        return Err(RunError::Config(
            "--expect-default-rules needs --scenario trigger and --daemon".into(),
        ));
    }
    let pid = std::process::id();
    let mut warnings: Vec<String> = Vec::new();
    let mut client = match &cfg.daemon {
        Some(url) => {
            let mut c = DaemonClient::new(url)?;
            c.set_quiet_gap(cfg.quiet_gap);
            if let Some(f) = &cfg.daemon_token_file {
                let t = std::fs::read_to_string(f).map_err(|e| {
                    RunError::Config(format!("cannot read the token file {}: {e}", f.display()))
                })?;
                c.set_token(t.trim());
            }
            Some(c)
        }
        None => None,
    };
    let mut prepared = Prepared::new(cfg.scenario, cfg.threads, cfg.helper_exe.as_deref())?;
    let mut ops_total = cfg.ops;
    if cfg.ops.is_none() && cfg.duration.is_none() {
        // The trigger scenario's default: every runnable action once.
        ops_total = Some(prepared.trigger_env().map_or(1, |e| e.runnable().max(1)) as u64);
    }

    let cores = if cfg.pin {
        match core_affinity::get_core_ids() {
            Some(c) if !c.is_empty() => Some(c),
            _ => {
                warnings.push("cannot read the CPU set; threads are not pinned".into());
                None
            }
        }
    } else {
        None
    };
    let interval = cfg.rate.per_thread_interval(cfg.threads);
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        done: AtomicUsize::new(0),
        progress: (0..cfg.threads).map(|_| PaddedCounter::default()).collect(),
        gate: Gate::default(),
    });
    let mut handles = Vec::with_capacity(cfg.threads);
    let mut spawn_error = None;
    for (i, budget) in budgets(ops_total, cfg.threads).into_iter().enumerate() {
        let spec = WorkerSpec {
            thread: i,
            cpu: cores.as_ref().map(|c| c[i % c.len()]),
            interval,
            budget,
            workload: prepared.workload(i),
        };
        let sh = Arc::clone(&shared);
        match std::thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || worker(spec, sh))
        {
            Ok(h) => handles.push(h),
            Err(e) => {
                spawn_error = Some(format!("cannot start worker thread {i}: {e}"));
                break;
            }
        }
    }
    shared.gate.wait_ready(handles.len());
    if let Some(e) = spawn_error {
        shared.stop.store(true, Ordering::SeqCst);
        shared.gate.open();
        for h in handles {
            if h.join().is_err() {
                eprintln!("kestrel-loadgen: a worker panicked");
            }
        }
        prepared.cleanup();
        return Err(RunError::Thread(e));
    }

    // Baseline. On failure, release the workers with the stop flag set so
    // they exit at once, then report.
    let mut begin: Option<(Scrape, bool, usize)> = None;
    if let Some(c) = client.as_mut() {
        let r = c
            .track(pid)
            .and_then(|()| settle(c, pid, cfg.settle_timeout));
        match r {
            Ok(b) => begin = Some(b),
            Err(e) => {
                shared.stop.store(true, Ordering::SeqCst);
                shared.gate.open();
                for h in handles {
                    if h.join().is_err() {
                        eprintln!("kestrel-loadgen: a worker panicked");
                    }
                }
                if let Err(e2) = c.untrack(pid) {
                    eprintln!("kestrel-loadgen: untrack failed too: {e2}");
                }
                prepared.cleanup();
                return Err(e.into());
            }
        }
    }

    shared.gate.open();
    let start = Instant::now();
    let deadline = cfg.duration.map(|d| start + d);
    let mut next_tick = start + Duration::from_secs(1);
    let (mut last_ops, mut last_t) = (0u64, start);
    loop {
        if shared.done.load(Ordering::Acquire) == cfg.threads {
            break;
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) {
            break;
        }
        if now >= next_tick {
            let ops: u64 = shared
                .progress
                .iter()
                .map(|p| p.0.load(Ordering::Relaxed))
                .sum();
            if cfg.progress {
                let dt = (now - last_t).as_secs_f64();
                eprintln!(
                    "kestrel-loadgen: {:>6.1}s  ops {:>12}  rate {:>12.0}/s",
                    (now - start).as_secs_f64(),
                    ops,
                    (ops - last_ops) as f64 / dt
                );
            }
            last_ops = ops;
            last_t = now;
            next_tick += Duration::from_secs(1);
        }
        let mut wake = next_tick;
        if let Some(d) = deadline {
            wake = wake.min(d);
        }
        let sleep = wake
            .saturating_duration_since(Instant::now())
            .min(Duration::from_millis(10));
        std::thread::sleep(sleep);
    }
    shared.stop.store(true, Ordering::SeqCst);
    let mut results = Vec::with_capacity(cfg.threads);
    for h in handles {
        match h.join() {
            Ok(r) => results.push(r),
            Err(_) => {
                prepared.cleanup();
                return Err(RunError::Thread("a worker thread panicked".into()));
            }
        }
    }
    let wall = start.elapsed();
    let trig: Option<Vec<trigger::ActionReport>> = prepared.trigger_env().map(|env| {
        let mut merged = TriggerStats::default();
        for r in &results {
            if let Some(s) = &r.trigger {
                merged.merge(s);
            }
        }
        trigger::report(env, &merged)
    });

    let mut issued = Ledger::new();
    for r in &results {
        issued += &r.ledger;
    }
    let mut listener: Option<ListenerReport> = None;
    let mut shutdown = Ledger::new();
    if let Some((rep, led)) = prepared.stop_listener(&mut shutdown) {
        issued += &led;
        issued += &shutdown;
        if rep.first_error.is_some() {
            warnings.push(format!(
                "listener: {} error(s), first: {}",
                rep.errors,
                rep.first_error.as_deref().unwrap_or("")
            ));
        }
        listener = Some(rep);
    }

    let mut recon: Option<Reconciliation> = None;
    let mut daemon: Option<DaemonStats> = None;
    let mut rules: Option<Vec<RuleRow>> = None;
    if let (Some(c), Some((b, b_settled, b_issues))) = (client.as_mut(), begin) {
        match settle(c, pid, cfg.settle_timeout) {
            Ok((end, e_settled, e_issues)) => {
                issued += &(&end.ledger - &b.ledger);
                let r = reconcile::reconcile(pid, &b.metrics, &end.metrics, &issued);
                let mut d = reconcile::daemon_stats(c.url(), &b.metrics, &end.metrics, wall);
                d.settled = b_settled && e_settled;
                d.parse_issues = b_issues + e_issues;
                if !b_settled {
                    warnings.push(format!(
                        "the daemon's counts for this process did not settle within {:?} before the run; the baseline may be off",
                        cfg.settle_timeout
                    ));
                }
                if !e_settled {
                    warnings.push(format!(
                        "the daemon's counts did not settle within {:?} after the run; events still in flight count as lost",
                        cfg.settle_timeout
                    ));
                }
                if d.parse_issues > 0 {
                    warnings.push(format!(
                        "{} metrics line(s) could not be parsed",
                        d.parse_issues
                    ));
                }
                if !r.traced_known {
                    warnings.push(format!(
                        "the daemon does not export {}; every kestrel event type is assumed traced",
                        reconcile::TRACED
                    ));
                }
                let missing: Vec<&str> = [
                    reconcile::KERNEL_DROPPED,
                    reconcile::DEFERRED_DROPPED,
                    reconcile::DECODE_ERRORS,
                ]
                .into_iter()
                .filter(|m| !end.metrics.has(m))
                .collect();
                if !missing.is_empty() {
                    warnings.push(format!(
                        "the daemon does not export {}; those drops count as zero",
                        missing.join(", ")
                    ));
                }
                if r.counter_reset {
                    warnings.push("a daemon counter went backwards (restart or re-track); the run cannot pass".into());
                }
                recon = Some(r);
                daemon = Some(d);
                if cfg.expect_default_rules {
                    let actions = trig.as_deref().unwrap_or_default();
                    match await_rules(c, &b.metrics, end, actions, cfg.settle_timeout) {
                        Ok(r) => rules = Some(r),
                        Err(e) => warnings.push(format!("cannot read the alert counts: {e}")),
                    }
                }
            }
            Err(e) => {
                if let Err(e2) = c.untrack(pid) {
                    eprintln!("kestrel-loadgen: untrack failed too: {e2}");
                }
                prepared.cleanup();
                return Err(e.into());
            }
        }
        if let Err(e) = c.untrack(pid) {
            warnings.push(format!("untrack failed: {e}"));
        }
    }

    warnings.extend(prepared.cleanup());
    for r in &results {
        if r.pin_failed {
            warnings.push(format!("thread {} could not be pinned", r.thread));
        }
    }

    Ok(report::build(report::Parts {
        cfg,
        wall,
        results: &results,
        issued: &issued,
        recon: recon.as_ref(),
        daemon,
        listener,
        trigger: trig,
        rules,
        warnings,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_split_evenly() {
        assert_eq!(budgets(None, 2), vec![None, None]);
        assert_eq!(budgets(Some(10), 3), vec![Some(4), Some(3), Some(3)]);
        assert_eq!(
            budgets(Some(2), 4),
            vec![Some(1), Some(1), Some(0), Some(0)]
        );
    }
}
