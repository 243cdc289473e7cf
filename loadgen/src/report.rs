//! The run report: one JSON object, or a human summary.

use std::time::Duration;

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::ledger::Ledger;
use crate::pacing::Rate;
use crate::reconcile::{self, DaemonLatency, DaemonStats, Drops, Reconciliation, Status, TypeRow};
use crate::rules::{RuleRow, RuleStatus};
use crate::runner::{new_histogram, RunConfig, ThreadResult};
use crate::scenario::{ListenerReport, Scenario};
use crate::trigger::ActionReport;

/// Latency quantiles in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Latency {
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// Maximum.
    pub max: u64,
}

impl Latency {
    /// Quantiles of `h` (all zero when empty).
    pub fn of(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        Latency {
            p50: h.value_at_quantile(0.5),
            p90: h.value_at_quantile(0.9),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
        }
    }
}

/// One thread's figures.
#[derive(Debug, Clone, Serialize)]
pub struct ThreadReport {
    /// Index.
    pub thread: usize,
    /// CPU it was pinned to.
    pub cpu: Option<usize>,
    /// Operations.
    pub ops: u64,
    /// Failed operations.
    pub errors: u64,
    /// Seconds from release to its last operation.
    pub duration_s: f64,
    /// Achieved operations per second.
    pub rate_per_s: f64,
    /// Times it fell more than 100 ms behind its schedule.
    pub schedule_slips: u64,
    /// Per-operation latency.
    pub latency_ns: Latency,
}

/// The whole report. `--json` prints exactly this.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    /// Scenario name.
    pub scenario: Scenario,
    /// Worker threads.
    pub threads: usize,
    /// Whether threads were pinned.
    pub pinned: bool,
    /// Target rate (total ops/s), `null` for max.
    pub target_rate_per_s: Option<f64>,
    /// Wall time of the measurement, seconds.
    pub duration_s: f64,
    /// Operations, all threads.
    pub ops: u64,
    /// Failed operations.
    pub op_errors: u64,
    /// Achieved operations per second (ops / duration_s).
    pub rate_per_s: f64,
    /// Syscalls issued: with a daemon, those of traced types; without,
    /// all.
    pub issued: u64,
    /// Events the daemon counted for the issued types (`null` without a
    /// daemon).
    pub observed: Option<u64>,
    /// Daemon-side drops during the run, all processes.
    pub dropped: Option<u64>,
    /// Breakdown of `dropped`.
    pub dropped_detail: Option<Drops>,
    /// Issued syscalls of types the daemon does not capture.
    pub filtered_in_kernel: Option<u64>,
    /// Of `observed`, events the daemon's kernel interest filter removed
    /// (counted per process in the kernel).
    pub filtered_by_kernel_filter: Option<u64>,
    /// Issued but not observed.
    pub lost: Option<u64>,
    /// Observed but not issued.
    pub surplus: Option<u64>,
    /// Reconciled exactly with no drops (`null` without a daemon).
    pub passed: Option<bool>,
    /// Per-operation latency, all threads.
    pub latency_ns: Latency,
    /// Per thread.
    pub per_thread: Vec<ThreadReport>,
    /// Per event type and rel.
    pub per_type: Vec<TypeRow>,
    /// The daemon's figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub daemon: Option<DaemonStats>,
    /// The loopback listener (connect, mixed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub listener: Option<ListenerReport>,
    /// Per-action outcome (trigger).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trigger: Option<Vec<ActionReport>>,
    /// Per default rule: did it fire (`--expect-default-rules`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleRow>>,
    /// The first error of each thread that had one.
    pub errors: Vec<String>,
    /// Things that make the figures less trustworthy.
    pub warnings: Vec<String>,
    /// Every syscall issued, all types (not serialized; for tests).
    #[serde(skip)]
    pub ledger: Ledger,
}

/// Inputs of [`build`].
pub struct Parts<'a> {
    /// The configuration.
    pub cfg: &'a RunConfig,
    /// Measurement wall time.
    pub wall: Duration,
    /// Per-thread results.
    pub results: &'a [ThreadResult],
    /// Everything issued in the window.
    pub issued: &'a Ledger,
    /// Reconciliation, with a daemon.
    pub recon: Option<&'a Reconciliation>,
    /// Daemon figures.
    pub daemon: Option<DaemonStats>,
    /// Listener report.
    pub listener: Option<ListenerReport>,
    /// Trigger report.
    pub trigger: Option<Vec<ActionReport>>,
    /// Default-rule verdicts.
    pub rules: Option<Vec<RuleRow>>,
    /// Warnings so far.
    pub warnings: Vec<String>,
}

fn rate(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s > 0.0 {
        n as f64 / s
    } else {
        0.0
    }
}

/// Assembles the report.
pub fn build(p: Parts<'_>) -> RunReport {
    let mut all = new_histogram();
    let mut per_thread = Vec::new();
    let mut errors = Vec::new();
    let mut warnings = p.warnings;
    for r in p.results {
        if all.add(&r.hist).is_err() {
            warnings.push(format!(
                "thread {} latency samples could not be merged",
                r.thread
            ));
        }
        if let Some(e) = &r.first_error {
            errors.push(format!(
                "thread {}: {e} ({} failed operations)",
                r.thread, r.errors
            ));
        }
        per_thread.push(ThreadReport {
            thread: r.thread,
            cpu: r.cpu,
            ops: r.ops,
            errors: r.errors,
            duration_s: r.elapsed.as_secs_f64(),
            rate_per_s: rate(r.ops, r.elapsed),
            schedule_slips: r.slips,
            latency_ns: Latency::of(&r.hist),
        });
    }
    let ops: u64 = p.results.iter().map(|r| r.ops).sum();
    let op_errors: u64 = p.results.iter().map(|r| r.errors).sum();
    let (issued, per_type) = match p.recon {
        Some(r) => (r.issued, r.rows.clone()),
        None => (p.issued.total(), reconcile::unchecked_rows(p.issued)),
    };
    RunReport {
        scenario: p.cfg.scenario,
        threads: p.cfg.threads,
        pinned: p.cfg.pin,
        target_rate_per_s: match p.cfg.rate {
            Rate::Max => None,
            Rate::PerSec(r) => Some(r),
        },
        duration_s: p.wall.as_secs_f64(),
        ops,
        op_errors,
        rate_per_s: rate(ops, p.wall),
        issued,
        observed: p.recon.map(|r| r.observed),
        dropped: p.recon.map(|r| r.dropped.total),
        dropped_detail: p.recon.map(|r| r.dropped),
        filtered_in_kernel: p.recon.map(|r| r.filtered_in_kernel),
        filtered_by_kernel_filter: p.recon.map(|r| r.filtered),
        lost: p.recon.map(|r| r.lost),
        surplus: p.recon.map(|r| r.surplus),
        passed: p.recon.map(Reconciliation::passed),
        latency_ns: Latency::of(&all),
        per_thread,
        per_type,
        daemon: p.daemon,
        listener: p.listener,
        trigger: p.trigger,
        rules: p.rules,
        errors,
        warnings,
        ledger: *p.issued,
    }
}

/// A duration in ns, in a readable unit.
pub fn ns(v: u64) -> String {
    let f = v as f64;
    if v < 1_000 {
        format!("{v}ns")
    } else if v < 1_000_000 {
        format!("{:.1}µs", f / 1e3)
    } else if v < 1_000_000_000 {
        format!("{:.2}ms", f / 1e6)
    } else {
        format!("{:.2}s", f / 1e9)
    }
}

fn opt_ns(v: Option<u64>) -> String {
    v.map_or_else(|| "-".into(), ns)
}

fn lat(l: &Latency) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        ns(l.p50),
        ns(l.p90),
        ns(l.p99),
        ns(l.p999),
        ns(l.max)
    )
}

fn daemon_lat(l: &DaemonLatency) -> String {
    format!(
        "p50 {}  p90 {}  p99 {}  p99.9 {}  max {}",
        opt_ns(l.p50),
        opt_ns(l.p90),
        opt_ns(l.p99),
        opt_ns(l.p999),
        opt_ns(l.max)
    )
}

/// Appends one formatted line to a String.
macro_rules! line {
    ($s:ident, $($t:tt)*) => {{
        $s.push_str(&format!($($t)*));
        $s.push('\n');
    }};
}

impl RunReport {
    /// The human summary.
    pub fn human(&self) -> String {
        let mut s = String::new();
        let target = self
            .target_rate_per_s
            .map_or_else(|| "max".to_string(), |r| format!("{r:.0}/s"));
        line!(
            s,
            "kestrel-loadgen: scenario {}, {} thread(s){}, target rate {}, {:.2} s",
            self.scenario.name(),
            self.threads,
            if self.pinned { " pinned" } else { "" },
            target,
            self.duration_s
        );
        line!(
            s,
            "  ops      {} ({} failed), {:.1} ops/s",
            self.ops,
            self.op_errors,
            self.rate_per_s
        );
        line!(s, "  latency  {}", lat(&self.latency_ns));
        if self.per_thread.len() > 1 {
            for t in &self.per_thread {
                line!(
                    s,
                    "  thread {:>3}{}  ops {:>10}  {:>12.1}/s  {}{}",
                    t.thread,
                    t.cpu.map_or_else(String::new, |c| format!(" cpu {c}")),
                    t.ops,
                    t.rate_per_s,
                    lat(&t.latency_ns),
                    if t.schedule_slips > 0 {
                        format!("  ({} schedule slips)", t.schedule_slips)
                    } else {
                        String::new()
                    }
                );
            }
        }
        if let Some(l) = &self.listener {
            line!(
                s,
                "  listener {} accepted {} connection(s)",
                l.addr,
                l.accepted
            );
        }
        if let Some(tr) = &self.trigger {
            line!(s, "  trigger actions:");
            for a in tr {
                let state = match &a.skipped {
                    Some(why) => format!("skipped ({why})"),
                    None => format!(
                        "done {}  denied {}  failed {}{}",
                        a.count.done,
                        a.count.denied,
                        a.count.failed,
                        a.count
                            .last_error
                            .as_ref()
                            .map_or_else(String::new, |e| format!("  [{e}]"))
                    ),
                };
                line!(s, "    {:<30} {}", a.action, state);
            }
        }
        if let Some(rows) = &self.rules {
            let count = |st: RuleStatus| rows.iter().filter(|r| r.status == st).count();
            line!(
                s,
                "  default rules: {} fired, {} not fired, {} not run (alerts during the run, all processes)",
                count(RuleStatus::Fired),
                count(RuleStatus::NotFired),
                count(RuleStatus::NotRun)
            );
            for r in rows {
                line!(
                    s,
                    "    {:<9} {:>5}  {}{}",
                    r.status.text(),
                    r.alerts,
                    r.rule,
                    r.note
                        .as_ref()
                        .map_or_else(String::new, |n| format!("  [{n}]"))
                );
            }
        }
        line!(s, "  syscalls:");
        line!(
            s,
            "    {:<14} {:<6} {:>12} {:>10} {:>12} {:>12}  status",
            "type",
            "rel",
            "issued",
            "failed",
            "observed",
            "(filtered)"
        );
        for r in &self.per_type {
            let o = |v: Option<u64>| v.map_or_else(|| "-".to_string(), |v| v.to_string());
            line!(
                s,
                "    {:<14} {:<6} {:>12} {:>10} {:>12} {:>12}  {}",
                r.ty,
                r.rel,
                o(r.issued),
                o(r.failed),
                o(r.observed),
                o(r.filtered),
                if r.status == Status::Unchecked {
                    ""
                } else {
                    r.status.text()
                }
            );
        }
        if let Some(d) = &self.daemon {
            line!(s, "  daemon {}:", d.url);
            if let Some(dd) = &self.dropped_detail {
                line!(
                    s,
                    "    dropped  {} (kernel {}, deferral overflow {}, decode errors {})",
                    dd.total,
                    dd.kernel,
                    dd.deferred,
                    dd.decode_errors
                );
            }
            if let Some(c) = d.cpu_seconds {
                line!(
                    s,
                    "    cpu      {:.3} s ({:.1}% of one core)",
                    c,
                    d.cpu_share_of_one_core.unwrap_or(0.0) * 100.0
                );
            }
            if let Some(r) = d.rss_bytes {
                line!(s, "    rss      {:.1} MiB", r as f64 / (1024.0 * 1024.0));
            }
            if let Some(n) = d.events_processed {
                line!(s, "    events processed (all processes) {n}");
            }
            if let Some(l) = &d.event_latency_ns {
                line!(s, "    event latency  {}", daemon_lat(l));
            }
            if let Some(l) = &d.alert_latency_ns {
                line!(s, "    alert latency  {}", daemon_lat(l));
            }
        }
        for e in &self.errors {
            line!(s, "  error: {e}");
        }
        for w in &self.warnings {
            line!(s, "  warning: {w}");
        }
        match self.passed {
            Some(true) => {
                line!(
                    s,
                    "  PASS: issued {} = observed {} ({} processed, {} removed by the kernel \
                     filter), 0 dropped",
                    self.issued,
                    self.observed.unwrap_or(0),
                    self.observed.unwrap_or(0) - self.filtered_by_kernel_filter.unwrap_or(0),
                    self.filtered_by_kernel_filter.unwrap_or(0)
                );
            }
            Some(false) => {
                line!(
                    s,
                    "  FAIL: issued {}, observed {} (lost {}, surplus {}), dropped {}",
                    self.issued,
                    self.observed.unwrap_or(0),
                    self.lost.unwrap_or(0),
                    self.surplus.unwrap_or(0),
                    self.dropped.unwrap_or(0)
                );
            }
            None => {
                line!(
                    s,
                    "  issued {} syscalls (no daemon to reconcile with)",
                    self.issued
                );
            }
        }
        s
    }

    /// The process exit status: 0 success, 1 reconciliation failed
    /// (something lost, extra or dropped), 3 operations failed, 4 a
    /// default rule whose action completed raised no alert.
    pub fn exit_code(&self) -> u8 {
        if self.passed == Some(false) {
            1
        } else if self.op_errors > 0 {
            3
        } else if self
            .rules
            .as_ref()
            .is_some_and(|r| !crate::rules::all_expected_fired(r))
        {
            4
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readable_durations() {
        assert_eq!(ns(999), "999ns");
        assert_eq!(ns(1_500), "1.5µs");
        assert_eq!(ns(2_500_000), "2.50ms");
        assert_eq!(ns(3_000_000_000), "3.00s");
    }

    #[test]
    fn latency_of_histogram() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let l = Latency::of(&h);
        assert!((499_000..=501_000).contains(&l.p50), "{l:?}");
        assert!((989_000..=991_000).contains(&l.p99), "{l:?}");
        assert!((999_000..=1_001_000).contains(&l.max), "{l:?}");
        assert_eq!(Latency::of(&new_histogram()), Latency::default());
    }
}
