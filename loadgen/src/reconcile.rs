//! Reconciliation: what this process issued against what the daemon saw.
//!
//! Pure arithmetic over two scrapes and a ledger, so it is tested without
//! a daemon. For each `(rel, type)`:
//!
//! - `self` rows are reconciled for every syscall type; `child` rows only
//!   for `execve` (what children do after exec is not under our control);
//!   process lifecycle events (`procfork`, `procexit`, `procinfo`) are
//!   shown but not reconciled;
//! - a type the daemon does not trace (`kestrel_traced_event_types` is
//!   absent or 0 for it) is *not captured*: excluded from issued;
//! - an event of a traced type is *observed* when the daemon processed it
//!   (`kestrel_tracked_events_total`) or when its kernel interest filter
//!   removed it because no enabled rule could match it
//!   (`kestrel_tracked_events_filtered_total`): both are counted per
//!   process, so every issued syscall must show up in exactly one;
//! - otherwise observed < issued is *lost*, observed > issued is
//!   *surplus* (our ledger missed a syscall, or the daemon double-counts:
//!   either way the counts do not reconcile).
//!
//! Drops are the increases of `kestrel_kernel_events_dropped_total`,
//! `kestrel_worker_deferred_dropped_total` and
//! `kestrel_worker_decode_errors_total`, summed over all series. They are
//! daemon-wide, not per process: any loss during the run fails it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde::Serialize;

use crate::ledger::{Ledger, Rel, Sys};
use crate::prom::Metrics;

/// Per-process event counts of tracked processes.
pub const TRACKED: &str = "kestrel_tracked_events_total";
/// Per-process counts of events the kernel interest filter removed.
pub const TRACKED_FILTERED: &str = "kestrel_tracked_events_filtered_total";
/// Gauges naming the event types the daemon traces.
pub const TRACED: &str = "kestrel_traced_event_types";
/// Kernel-side drops.
pub const KERNEL_DROPPED: &str = "kestrel_kernel_events_dropped_total";
/// Events lost from a worker's deferral queue.
pub const DEFERRED_DROPPED: &str = "kestrel_worker_deferred_dropped_total";
/// Records a worker could not decode.
pub const DECODE_ERRORS: &str = "kestrel_worker_decode_errors_total";
/// Event types that describe process lifecycle, not syscalls we issue.
pub const LIFECYCLE: [&str; 3] = ["procfork", "procexit", "procinfo"];

/// The verdict for one row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Observed equals issued.
    Ok,
    /// Observed is less than issued.
    Lost,
    /// Observed is more than issued.
    Surplus,
    /// The daemon does not capture this type at all.
    FilteredInKernel,
    /// Shown only (children's syscalls other than execve, lifecycle).
    Unreconciled,
    /// No daemon to compare with.
    Unchecked,
}

impl Status {
    /// For the human summary.
    pub fn text(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Lost => "LOST",
            Status::Surplus => "SURPLUS",
            Status::FilteredInKernel => "not captured",
            Status::Unreconciled => "not reconciled",
            Status::Unchecked => "",
        }
    }
}

/// One `(type, rel)` row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeRow {
    /// Event type name.
    #[serde(rename = "type")]
    pub ty: String,
    /// `self` or `child`.
    pub rel: &'static str,
    /// Syscalls issued (`None` for unreconciled rows).
    pub issued: Option<u64>,
    /// Of which returned an error.
    pub failed: Option<u64>,
    /// Events the daemon counted, processed or removed by its kernel
    /// interest filter (`None` without a daemon).
    pub observed: Option<u64>,
    /// Of `observed`, those the kernel interest filter removed.
    pub filtered: Option<u64>,
    /// Whether the daemon traces the type (`None` without a daemon).
    pub traced: Option<bool>,
    /// Verdict.
    pub status: Status,
}

/// Daemon-side losses during the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Drops {
    /// Ring reservation failures in the probe.
    pub kernel: u64,
    /// Deferral queue overflows in the workers.
    pub deferred: u64,
    /// Undecodable records.
    pub decode_errors: u64,
    /// The sum.
    pub total: u64,
}

/// The outcome of comparing a ledger with two scrapes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reconciliation {
    /// Rows, `self` first, by type name.
    pub rows: Vec<TypeRow>,
    /// Issued syscalls of reconciled, traced types.
    pub issued: u64,
    /// Observed events of reconciled, traced types.
    pub observed: u64,
    /// Of `observed`, those the kernel interest filter removed.
    pub filtered: u64,
    /// Issued syscalls of types the daemon does not trace.
    pub filtered_in_kernel: u64,
    /// Sum over rows of issued - observed where positive.
    pub lost: u64,
    /// Sum over rows of observed - issued where positive.
    pub surplus: u64,
    /// Events of unreconciled rows.
    pub unreconciled: u64,
    /// Daemon-side drops.
    pub dropped: Drops,
    /// Whether the daemon said which types it traces.
    pub traced_known: bool,
    /// Whether a counter went backwards (daemon restart).
    pub counter_reset: bool,
}

impl Reconciliation {
    /// Nothing lost, nothing extra, and nothing unreconciled moved: used
    /// to decide that the daemon has caught up.
    pub fn exact(&self) -> bool {
        self.lost == 0 && self.surplus == 0 && self.unreconciled == 0
    }

    /// The run passes: every traced syscall observed exactly once and no
    /// drop anywhere.
    pub fn passed(&self) -> bool {
        self.lost == 0 && self.surplus == 0 && self.dropped.total == 0 && !self.counter_reset
    }
}

/// The event types the daemon says it traces, or `None` if it does not
/// export [`TRACED`].
pub fn traced_types(m: &Metrics) -> Option<BTreeSet<String>> {
    if !m.has(TRACED) {
        return None;
    }
    Some(
        m.select(TRACED, &[])
            .filter(|s| s.value != 0.0)
            .filter_map(|s| s.label("type").map(str::to_string))
            .collect(),
    )
}

fn tracked_counts(m: &Metrics, name: &str, tgid: &str) -> BTreeMap<(Rel, String), f64> {
    let mut out = BTreeMap::new();
    for s in m.select(name, &[("tgid", tgid)]) {
        let (Some(rel), Some(ty)) = (s.label("rel").and_then(Rel::from_label), s.label("type"))
        else {
            continue;
        };
        *out.entry((rel, ty.to_string())).or_insert(0.0) += s.value;
    }
    out
}

fn reconciled(rel: Rel, ty: &str) -> bool {
    match rel {
        Rel::Own => !LIFECYCLE.contains(&ty),
        Rel::Child => ty == Sys::Execve.name(),
    }
}

fn count(v: f64) -> u64 {
    if v.is_finite() && v > 0.0 {
        v.round() as u64
    } else {
        0
    }
}

/// Compares `issued` with the tracked counts of `tgid` between `before`
/// and `after`.
pub fn reconcile(tgid: u32, before: &Metrics, after: &Metrics, issued: &Ledger) -> Reconciliation {
    let tgid = tgid.to_string();
    let traced = traced_types(after);
    let mut counter_reset = false;
    let mut increase = |name: &str| {
        let b = tracked_counts(before, name, &tgid);
        let a = tracked_counts(after, name, &tgid);
        let mut out: BTreeMap<(Rel, String), u64> = BTreeMap::new();
        for (k, &va) in &a {
            let vb = b.get(k).copied().unwrap_or(0.0);
            let d = if va >= vb {
                va - vb
            } else {
                counter_reset = true;
                va
            };
            out.insert(k.clone(), count(d));
        }
        if b.keys().any(|k| !a.contains_key(k)) {
            // A series disappeared: untracked and re-tracked, or a restart.
            counter_reset = true;
        }
        out
    };
    let processed = increase(TRACKED);
    let filtered = increase(TRACKED_FILTERED);
    let mut observed = processed;
    for (k, n) in &filtered {
        *observed.entry(k.clone()).or_insert(0) += n;
    }
    let mut keys: BTreeSet<(Rel, String)> = observed.keys().cloned().collect();
    let mut ledger_rows: BTreeMap<(Rel, String), (u64, u64)> = BTreeMap::new();
    for (rel, sys, n, f) in issued.entries() {
        keys.insert((rel, sys.name().to_string()));
        ledger_rows.insert((rel, sys.name().to_string()), (n, f));
    }
    let mut r = Reconciliation {
        rows: Vec::new(),
        issued: 0,
        observed: 0,
        filtered: 0,
        filtered_in_kernel: 0,
        lost: 0,
        surplus: 0,
        unreconciled: 0,
        dropped: Drops::default(),
        traced_known: traced.is_some(),
        counter_reset,
    };
    for key in keys {
        let (rel, ty) = &key;
        let obs = observed.get(&key).copied().unwrap_or(0);
        let fil = filtered.get(&key).copied().unwrap_or(0);
        let (n, f) = ledger_rows.get(&key).copied().unwrap_or((0, 0));
        let is_traced = match &traced {
            Some(set) => set.contains(ty),
            // Without the gauges: kestrel's own event types are assumed
            // traced, anything else not (getppid, read, write).
            None => Sys::from_name(ty).is_none_or(Sys::kestrel_event),
        };
        let (issued_v, failed_v, status) = if !reconciled(*rel, ty) {
            r.unreconciled += obs;
            (None, None, Status::Unreconciled)
        } else if !is_traced {
            r.filtered_in_kernel += n;
            (Some(n), Some(f), Status::FilteredInKernel)
        } else {
            r.issued += n;
            r.observed += obs;
            r.filtered += fil;
            let st = if obs < n {
                r.lost += n - obs;
                Status::Lost
            } else if obs > n {
                r.surplus += obs - n;
                Status::Surplus
            } else {
                Status::Ok
            };
            (Some(n), Some(f), st)
        };
        r.rows.push(TypeRow {
            ty: ty.clone(),
            rel: rel.label(),
            issued: issued_v,
            failed: failed_v,
            observed: Some(obs),
            filtered: Some(fil),
            traced: Some(is_traced),
            status,
        });
    }
    let inc = |name| {
        let (v, reset) = after.increase_since(before, name, &[]);
        (count(v), reset)
    };
    let (kernel, r1) = inc(KERNEL_DROPPED);
    let (deferred, r2) = inc(DEFERRED_DROPPED);
    let (decode_errors, r3) = inc(DECODE_ERRORS);
    r.counter_reset |= r1 || r2 || r3;
    r.dropped = Drops {
        kernel,
        deferred,
        decode_errors,
        total: kernel + deferred + decode_errors,
    };
    r
}

/// Rows for a run without a daemon: issued counts only.
pub fn unchecked_rows(issued: &Ledger) -> Vec<TypeRow> {
    issued
        .entries()
        .map(|(rel, sys, n, f)| TypeRow {
            ty: sys.name().to_string(),
            rel: rel.label(),
            issued: Some(n),
            failed: Some(f),
            observed: None,
            filtered: None,
            traced: None,
            status: Status::Unchecked,
        })
        .collect()
}

/// Latency quantiles in nanoseconds from a daemon summary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct DaemonLatency {
    /// Median.
    pub p50: Option<u64>,
    /// 90th percentile.
    pub p90: Option<u64>,
    /// 99th percentile.
    pub p99: Option<u64>,
    /// 99.9th percentile.
    pub p999: Option<u64>,
    /// Maximum (quantile "1").
    pub max: Option<u64>,
}

fn summary_ns(m: &Metrics, name: &str) -> Option<DaemonLatency> {
    let q = |qs: &str| m.get(name, &[("quantile", qs)]).map(|s| count(s * 1e9));
    let l = DaemonLatency {
        p50: q("0.5"),
        p90: q("0.9"),
        p99: q("0.99"),
        p999: q("0.999"),
        max: q("1"),
    };
    (l != DaemonLatency::default()).then_some(l)
}

/// The daemon's own figures over the run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DaemonStats {
    /// The daemon's URL.
    pub url: String,
    /// CPU seconds the daemon used during the run.
    pub cpu_seconds: Option<f64>,
    /// The same, as a share of one core over the run's wall time.
    pub cpu_share_of_one_core: Option<f64>,
    /// Resident memory at the end, in bytes.
    pub rss_bytes: Option<u64>,
    /// Events processed by all workers during the run (all processes).
    pub events_processed: Option<u64>,
    /// Kernel-side events sent during the run (all processes).
    pub kernel_events_sent: Option<u64>,
    /// Kernel timestamp → event processed (cumulative since the daemon
    /// started, not only this run).
    pub event_latency_ns: Option<DaemonLatency>,
    /// Kernel timestamp → alert handed to outputs (cumulative).
    pub alert_latency_ns: Option<DaemonLatency>,
    /// Whether the daemon's counts stopped changing before the final read
    /// (and before the first one).
    pub settled: bool,
    /// Lines of the scrapes that could not be parsed.
    pub parse_issues: usize,
}

/// Computes [`DaemonStats`] over `wall` from two scrapes.
pub fn daemon_stats(url: &str, before: &Metrics, after: &Metrics, wall: Duration) -> DaemonStats {
    let increase = |name: &str| {
        after
            .has(name)
            .then(|| after.increase_since(before, name, &[]).0)
    };
    let cpu = increase("kestrel_process_cpu_seconds_total");
    DaemonStats {
        url: url.to_string(),
        cpu_seconds: cpu,
        cpu_share_of_one_core: cpu.and_then(|c| {
            let w = wall.as_secs_f64();
            (w > 0.0).then(|| c / w)
        }),
        rss_bytes: after
            .get("kestrel_process_resident_memory_bytes", &[])
            .map(count),
        events_processed: increase("kestrel_worker_events_processed_total").map(count),
        kernel_events_sent: increase("kestrel_kernel_events_sent_total").map(count),
        event_latency_ns: summary_ns(after, "kestrel_event_latency_seconds"),
        alert_latency_ns: summary_ns(after, "kestrel_alert_latency_seconds"),
        settled: false,
        parse_issues: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prom::parse;

    fn m(s: &str) -> Metrics {
        let (m, issues) = parse(s);
        assert!(issues.is_empty(), "{issues:?}");
        m
    }

    fn row<'a>(r: &'a Reconciliation, ty: &str, rel: &str) -> &'a TypeRow {
        r.rows
            .iter()
            .find(|x| x.ty == ty && x.rel == rel)
            .unwrap_or_else(|| panic!("no row {ty}/{rel} in {:?}", r.rows))
    }

    const TRACED_DOC: &str = "kestrel_traced_event_types{type=\"openat\"} 1\n\
        kestrel_traced_event_types{type=\"close\"} 1\n\
        kestrel_traced_event_types{type=\"clone\"} 1\n\
        kestrel_traced_event_types{type=\"execve\"} 1\n\
        kestrel_traced_event_types{type=\"connect\"} 0\n";

    #[test]
    fn exact_match_passes() {
        let before = m(&format!(
            "{TRACED_DOC}kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"openat\"}} 5\n"
        ));
        let after = m(&format!(
            "{TRACED_DOC}kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"openat\"}} 105\n\
             kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"close\"}} 100\n\
             kestrel_tracked_events_total{{tgid=\"8\",rel=\"self\",type=\"close\"}} 999\n"
        ));
        let mut l = Ledger::new();
        for _ in 0..100 {
            l.record(Rel::Own, Sys::Openat, true);
            l.record(Rel::Own, Sys::Close, true);
            l.record(Rel::Own, Sys::Getppid, true);
        }
        let r = reconcile(7, &before, &after, &l);
        assert_eq!(r.issued, 200);
        assert_eq!(r.observed, 200);
        assert_eq!(r.filtered_in_kernel, 100);
        assert_eq!(row(&r, "getppid", "self").status, Status::FilteredInKernel);
        assert_eq!(row(&r, "openat", "self").status, Status::Ok);
        assert!(r.exact() && r.passed());
        assert!(r.traced_known);
    }

    /// Events the kernel interest filter removed count as observed, per
    /// process, and the rest must have been processed: together exactly
    /// what was issued.
    #[test]
    fn kernel_filtered_events_are_observed() {
        let before = m(&format!(
            "{TRACED_DOC}kestrel_tracked_events_filtered_total{{tgid=\"7\",rel=\"self\",type=\"openat\"}} 4\n"
        ));
        let after = m(&format!(
            "{TRACED_DOC}kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"openat\"}} 10\n\
             kestrel_tracked_events_filtered_total{{tgid=\"7\",rel=\"self\",type=\"openat\"}} 94\n\
             kestrel_tracked_events_filtered_total{{tgid=\"7\",rel=\"self\",type=\"close\"}} 99\n\
             kestrel_tracked_events_filtered_total{{tgid=\"8\",rel=\"self\",type=\"close\"}} 7\n"
        ));
        let mut l = Ledger::new();
        for _ in 0..100 {
            l.record(Rel::Own, Sys::Openat, true);
            l.record(Rel::Own, Sys::Close, true);
        }
        let r = reconcile(7, &before, &after, &l);
        assert_eq!((r.issued, r.observed, r.filtered), (200, 199, 189));
        assert_eq!(row(&r, "openat", "self").status, Status::Ok);
        assert_eq!(row(&r, "openat", "self").filtered, Some(90));
        assert_eq!(row(&r, "close", "self").status, Status::Lost);
        assert_eq!(r.lost, 1);
        assert!(!r.passed());
    }

    #[test]
    fn loss_surplus_drops_and_children() {
        let before = m(&format!(
            "{TRACED_DOC}kestrel_kernel_events_dropped_total{{cpu=\"0\",category=\"file\"}} 3\n\
             kestrel_worker_deferred_dropped_total{{worker=\"0\"}} 0\n"
        ));
        let after = m(&format!(
            "{TRACED_DOC}kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"clone\"}} 9\n\
             kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"openat\"}} 11\n\
             kestrel_tracked_events_total{{tgid=\"7\",rel=\"child\",type=\"execve\"}} 10\n\
             kestrel_tracked_events_total{{tgid=\"7\",rel=\"child\",type=\"openat\"}} 40\n\
             kestrel_tracked_events_total{{tgid=\"7\",rel=\"self\",type=\"procfork\"}} 10\n\
             kestrel_kernel_events_dropped_total{{cpu=\"0\",category=\"file\"}} 5\n\
             kestrel_kernel_events_dropped_total{{cpu=\"1\",category=\"file\"}} 1\n\
             kestrel_worker_deferred_dropped_total{{worker=\"0\"}} 2\n\
             kestrel_worker_decode_errors_total{{worker=\"0\",reason=\"truncated\"}} 1\n"
        ));
        let mut l = Ledger::new();
        for _ in 0..10 {
            l.record(Rel::Own, Sys::Clone, true);
            l.record(Rel::Child, Sys::Execve, true);
            l.record(Rel::Own, Sys::Openat, false);
        }
        let r = reconcile(7, &before, &after, &l);
        assert_eq!(row(&r, "clone", "self").status, Status::Lost);
        assert_eq!(row(&r, "openat", "self").status, Status::Surplus);
        assert_eq!(row(&r, "openat", "self").failed, Some(10));
        assert_eq!(row(&r, "execve", "child").status, Status::Ok);
        assert_eq!(row(&r, "openat", "child").status, Status::Unreconciled);
        assert_eq!(row(&r, "procfork", "self").status, Status::Unreconciled);
        assert_eq!((r.lost, r.surplus, r.unreconciled), (1, 1, 50));
        assert_eq!((r.issued, r.observed), (30, 30));
        assert_eq!(
            r.dropped,
            Drops {
                kernel: 3,
                deferred: 2,
                decode_errors: 1,
                total: 6
            }
        );
        assert!(!r.exact() && !r.passed());
    }

    #[test]
    fn untraced_connect_and_unknown_traced_set() {
        let mut l = Ledger::new();
        l.record(Rel::Own, Sys::Connect, true);
        l.record(Rel::Own, Sys::Getppid, true);
        let r = reconcile(7, &m(TRACED_DOC), &m(TRACED_DOC), &l);
        assert_eq!(row(&r, "connect", "self").status, Status::FilteredInKernel);
        assert!(r.passed());
        // Without the gauges, connect is assumed traced (and here lost);
        // getppid is not a kestrel event type.
        let r = reconcile(7, &Metrics::default(), &Metrics::default(), &l);
        assert!(!r.traced_known);
        assert_eq!(row(&r, "connect", "self").status, Status::Lost);
        assert_eq!(row(&r, "getppid", "self").status, Status::FilteredInKernel);
    }

    #[test]
    fn counter_reset_fails_the_run() {
        let before = m("kestrel_tracked_events_total{tgid=\"7\",rel=\"self\",type=\"close\"} 50\n");
        let after = m("kestrel_tracked_events_total{tgid=\"7\",rel=\"self\",type=\"close\"} 2\n");
        let mut l = Ledger::new();
        l.record(Rel::Own, Sys::Close, true);
        l.record(Rel::Own, Sys::Close, true);
        let r = reconcile(7, &before, &after, &l);
        assert!(r.counter_reset);
        assert!(r.exact());
        assert!(!r.passed());
    }

    #[test]
    fn daemon_figures() {
        let before = m("kestrel_process_cpu_seconds_total 10\n\
                        kestrel_worker_events_processed_total{worker=\"0\"} 100\n");
        let after = m("kestrel_process_cpu_seconds_total 11.5\n\
                       kestrel_process_resident_memory_bytes 5e7\n\
                       kestrel_worker_events_processed_total{worker=\"0\"} 300\n\
                       kestrel_worker_events_processed_total{worker=\"1\"} 50\n\
                       kestrel_event_latency_seconds{quantile=\"0.5\"} 0.000002\n\
                       kestrel_event_latency_seconds{quantile=\"1\"} 0.5\n");
        let d = daemon_stats("u", &before, &after, Duration::from_secs(3));
        assert_eq!(d.cpu_seconds, Some(1.5));
        assert_eq!(d.cpu_share_of_one_core, Some(0.5));
        assert_eq!(d.rss_bytes, Some(50_000_000));
        assert_eq!(d.events_processed, Some(250));
        assert_eq!(d.kernel_events_sent, None);
        let el = d.event_latency_ns.unwrap();
        assert_eq!(
            (el.p50, el.p99, el.max),
            (Some(2000), None, Some(500_000_000))
        );
        assert_eq!(d.alert_latency_ns, None);
    }
}
