//! Counters, latency histograms and the Prometheus text format.
//!
//! Workers write only their own counters (relaxed atomics on padded cache
//! lines: no sharing, no locks) and fold their latency samples into a shared
//! histogram once per batch, so the hot path never takes a lock per event.
//! Scrapes read everything and render Prometheus text.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use hdrhistogram::Histogram;

use crate::event::table::EVENT_ID_LIMIT;
use crate::rules::{Priority, Rule};

/// A monotonically increasing counter.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds one.
    #[inline]
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
    /// Adds `n`.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Ordering::Relaxed);
    }
    /// Adds one, for a counter with a single writer (the calling thread
    /// must be the only one that ever changes it): a plain load and store
    /// instead of a locked read-modify-write.
    #[inline]
    pub fn bump(&self) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(1),
            Ordering::Relaxed,
        );
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value set by one thread and read at scrape time (a queue length).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }
    /// Current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// Why a worker could not use a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeFailure {
    /// Fewer bytes than a header, or a length that does not fit.
    Truncated,
    /// An event type id this build does not know.
    UnknownType,
    /// Parameter count or lengths disagree with the schema.
    BadParams,
}

impl DecodeFailure {
    /// All reasons, for rendering.
    pub const ALL: [DecodeFailure; 3] = [
        DecodeFailure::Truncated,
        DecodeFailure::UnknownType,
        DecodeFailure::BadParams,
    ];
    /// Label value.
    pub fn label(self) -> &'static str {
        match self {
            DecodeFailure::Truncated => "truncated",
            DecodeFailure::UnknownType => "unknown_type",
            DecodeFailure::BadParams => "bad_params",
        }
    }
}

/// Counters of one worker. Aligned so two workers never share a cache line.
/// Only the worker itself changes them ([`Counter::bump`]); scrapes read.
#[derive(Debug, Default)]
#[repr(align(128))]
pub struct WorkerStats {
    /// Records read from the ring.
    pub records: Counter,
    /// Events fully processed (decoded, state applied, matched).
    pub processed: Counter,
    /// Records that could not be decoded, by [`DecodeFailure`].
    pub decode_errors: [Counter; 3],
    /// Events held back because their process's exec was not applied yet.
    pub deferred: Counter,
    /// Deferred events processed after the wait expired without the exec
    /// showing up (attribution may be stale).
    pub late_attribution: Counter,
    /// Deferred events processed early because the deferral queue was full
    /// (never lost: they are handled at once, possibly with a stale image).
    pub deferred_overflow: Counter,
    /// Events whose process was not in the table at all.
    pub unknown_process: Counter,
    /// Events the probe marked truncated (`HF_TRUNCATED`: a string, path or
    /// argument list was cut at its cap; the value carries a mark).
    pub truncated: Counter,
    /// Events the kernel filter marked "no clause held", matched against
    /// their type's unconstrained rules only.
    pub marked_off: Counter,
    /// Alerts raised.
    pub alerts: Counter,
    /// Alerts lost because the output channel was full.
    pub alerts_dropped: Counter,
    /// Idle polls (ring empty).
    pub idle_polls: Counter,
    /// Times the worker went to sleep until the probe woke it.
    pub parks: Counter,
    /// Records in the worker's deferral queue, published once per batch
    /// when it changed (not per event).
    pub deferred_queue: Gauge,
    /// Processes the worker's process cache holds (updated every 50 ms).
    pub proc_cache_entries: Gauge,
}

impl WorkerStats {
    /// Counts a decode failure.
    pub fn decode_error(&self, why: DecodeFailure) {
        self.decode_errors[why as usize].bump();
    }
}

/// A latency histogram in nanoseconds (1 ns .. 60 s, 3 significant digits).
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// A histogram a worker folds its local samples into once per batch.
#[derive(Debug)]
pub struct SharedHistogram(Mutex<Histogram<u64>>);

impl Default for SharedHistogram {
    fn default() -> Self {
        SharedHistogram(Mutex::new(new_histogram()))
    }
}

impl SharedHistogram {
    /// Adds `local` into the shared histogram and clears `local`.
    pub fn fold(&self, local: &mut Histogram<u64>) {
        if local.is_empty() {
            return;
        }
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        // Both histograms share bounds, so adding cannot fail; a failure
        // would only lose samples, never corrupt state.
        if h.add(&*local).is_err() {
            log::warn!("latency histogram merge failed; samples lost");
        }
        local.reset();
    }

    /// A copy of the current contents.
    pub fn snapshot(&self) -> Histogram<u64> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// Merges histograms (e.g. one per worker).
pub fn merge<'a>(hs: impl IntoIterator<Item = &'a SharedHistogram>) -> Histogram<u64> {
    let mut out = new_histogram();
    for h in hs {
        let s = h.snapshot();
        if out.add(&s).is_err() {
            log::warn!("latency histogram merge failed; samples lost");
        }
    }
    out
}

/// Processes whose events are counted separately, so that a load
/// generator can reconcile what it issued with what kestrel processed.
/// At most [`Tracker::SLOTS`] processes; events count when their tgid or
/// their parent's tgid is tracked.
///
/// Every worker counts into its own counters (one writer each, no atomic
/// read-modify-write and no cache line shared with another worker: with
/// two loaded CPUs, shared counters for the same process and event type
/// bounced one line between the workers on every event). A worker checks
/// the tracker's generation on every event (one load of a line written
/// only by `track`/`untrack`) and refreshes its copy of the tracked tgids
/// when it changed; it zeroes its own counters of a slot the first time it
/// sees the slot's new assignment, and a snapshot sums only the workers
/// that have, so a reused slot never shows a previous process's counts.
pub struct Tracker {
    /// Bumped on every change of `tgids`.
    gen: AtomicU64,
    tgids: [AtomicU32; Tracker::SLOTS],
    /// The generation at which each slot got its current tgid.
    slot_gen: [AtomicU64; Tracker::SLOTS],
    workers: Box<[TrackerCounts]>,
    /// Told the tracked tgids (by slot) after every change, before
    /// `track`/`untrack` return (the daemon mirrors them into the probe,
    /// which counts the events its interest filter removes).
    listener: std::sync::Mutex<Option<TrackListener>>,
}

impl std::fmt::Debug for Tracker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracker")
            .field("slots", &self.slots())
            .finish()
    }
}

/// See [`Tracker::set_listener`].
pub type TrackListener = Box<dyn Fn(&[u32; Tracker::SLOTS]) + Send + Sync>;

/// One worker's tracker counters.
#[derive(Debug)]
struct TrackerCounts {
    /// Per slot, the `slot_gen` the counts below belong to.
    seen: [AtomicU64; Tracker::SLOTS],
    /// `[slot][rel][event type]`, rel 0 = the process itself, 1 = a child.
    counts: Box<[Counter]>,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker::new(1)
    }
}

impl Tracker {
    /// Number of processes that can be tracked at once.
    pub const SLOTS: usize = 8;

    /// A tracker for `workers` workers.
    pub fn new(workers: usize) -> Tracker {
        Tracker {
            gen: AtomicU64::new(0),
            tgids: Default::default(),
            slot_gen: Default::default(),
            workers: (0..workers.max(1))
                .map(|_| TrackerCounts {
                    seen: Default::default(),
                    counts: (0..Tracker::SLOTS * 2 * EVENT_ID_LIMIT)
                        .map(|_| Counter::default())
                        .collect(),
                })
                .collect(),
            listener: std::sync::Mutex::new(None),
        }
    }

    /// Calls `f` with the tracked tgids, by slot, after every change.
    pub fn set_listener(&self, f: TrackListener) {
        *self.listener.lock().unwrap_or_else(|p| p.into_inner()) = Some(f);
    }

    /// The tracked tgids by slot (0: free).
    pub fn slots(&self) -> [u32; Tracker::SLOTS] {
        std::array::from_fn(|i| self.tgids[i].load(Ordering::Acquire))
    }

    fn changed(&self) {
        if let Some(f) = &*self.listener.lock().unwrap_or_else(|p| p.into_inner()) {
            f(&self.slots());
        }
    }

    /// Starts tracking `tgid`; returns false when every slot is taken.
    /// Tracking an already tracked tgid is a no-op that returns true.
    pub fn track(&self, tgid: u32) -> bool {
        if tgid == 0 {
            return false;
        }
        if self.tgids.iter().any(|t| t.load(Ordering::Relaxed) == tgid) {
            return true;
        }
        for (i, slot) in self.tgids.iter().enumerate() {
            if slot
                .compare_exchange(0, tgid, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                let g = self.gen.fetch_add(1, Ordering::AcqRel) + 1;
                self.slot_gen[i].store(g, Ordering::Release);
                // Publish the slot's generation before workers can see
                // the new tracker generation.
                self.gen.fetch_add(1, Ordering::AcqRel);
                self.changed();
                return true;
            }
        }
        false
    }

    /// Stops tracking `tgid`.
    pub fn untrack(&self, tgid: u32) {
        for slot in &self.tgids {
            // Failure means the slot holds another tgid: nothing to do.
            if slot
                .compare_exchange(tgid, 0, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.gen.fetch_add(1, Ordering::AcqRel);
                log::debug!("tracker: stopped tracking {tgid}");
            }
        }
        self.changed();
    }

    /// `(tgid, rel, event type id, count)` for every non-zero count.
    pub fn snapshot(&self) -> Vec<(u32, &'static str, u16, u64)> {
        let mut out = Vec::new();
        for (i, slot) in self.tgids.iter().enumerate() {
            let t = slot.load(Ordering::Acquire);
            if t == 0 {
                continue;
            }
            let sg = self.slot_gen[i].load(Ordering::Acquire);
            for rel in 0..2 {
                for ty in 0..EVENT_ID_LIMIT {
                    let idx = (i * 2 + rel) * EVENT_ID_LIMIT + ty;
                    let n: u64 = self
                        .workers
                        .iter()
                        .filter(|w| w.seen[i].load(Ordering::Acquire) == sg)
                        .map(|w| w.counts[idx].get())
                        .sum();
                    if n > 0 {
                        out.push((t, if rel == 0 { "self" } else { "child" }, ty as u16, n));
                    }
                }
            }
        }
        out
    }
}

/// A worker's view of the [`Tracker`]: its copy of the tracked tgids.
#[derive(Debug)]
pub struct TrackerView {
    worker: usize,
    gen: u64,
    tgids: [u32; Tracker::SLOTS],
    any: bool,
}

impl TrackerView {
    /// The view of worker `worker` (its counters in the tracker).
    pub fn new(worker: usize) -> TrackerView {
        TrackerView {
            worker,
            gen: u64::MAX,
            tgids: [0; Tracker::SLOTS],
            any: false,
        }
    }

    /// Counts one event if its process or parent is tracked.
    #[inline]
    pub fn observe(&mut self, t: &Tracker, tgid: u32, ptgid: u32, ty: u16) {
        let g = t.gen.load(Ordering::Acquire);
        if g != self.gen {
            self.refresh(t, g);
        }
        if self.any {
            self.count(t, tgid, ptgid, ty);
        }
    }

    #[cold]
    fn refresh(&mut self, t: &Tracker, g: u64) {
        let Some(w) = t.workers.get(self.worker) else {
            self.any = false;
            return;
        };
        self.any = false;
        for i in 0..Tracker::SLOTS {
            let tgid = t.tgids[i].load(Ordering::Acquire);
            self.tgids[i] = tgid;
            if tgid == 0 {
                continue;
            }
            self.any = true;
            let sg = t.slot_gen[i].load(Ordering::Acquire);
            if w.seen[i].load(Ordering::Relaxed) != sg {
                for c in &w.counts[i * 2 * EVENT_ID_LIMIT..(i + 1) * 2 * EVENT_ID_LIMIT] {
                    c.0.store(0, Ordering::Relaxed);
                }
                w.seen[i].store(sg, Ordering::Release);
            }
        }
        self.gen = g;
    }

    fn count(&self, t: &Tracker, tgid: u32, ptgid: u32, ty: u16) {
        let Some(w) = t.workers.get(self.worker) else {
            return;
        };
        let ty = ty as usize % EVENT_ID_LIMIT;
        for (i, &s) in self.tgids.iter().enumerate() {
            let rel = if s == 0 {
                continue;
            } else if s == tgid {
                0
            } else if s == ptgid {
                1
            } else {
                continue;
            };
            w.counts[(i * 2 + rel) * EVENT_ID_LIMIT + ty].bump();
        }
    }
}

/// Writes Prometheus text exposition format.
#[derive(Debug, Default)]
pub struct PromWriter {
    out: String,
    declared: std::collections::HashSet<String>,
}

impl PromWriter {
    /// A new, empty document.
    pub fn new() -> PromWriter {
        PromWriter::default()
    }

    fn declare(&mut self, name: &str, kind: &str, help: &str) {
        if self.declared.insert(name.to_string()) {
            self.out
                .push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                self.out.push_str(k);
                self.out.push_str("=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.out.push_str("\\\\"),
                        '"' => self.out.push_str("\\\""),
                        '\n' => self.out.push_str("\\n"),
                        c => self.out.push(c),
                    }
                }
                self.out.push('"');
            }
            self.out.push('}');
        }
        if value.fract() == 0.0 && value.abs() < 1e15 {
            self.out.push_str(&format!(" {}\n", value as i64));
        } else {
            self.out.push_str(&format!(" {value}\n"));
        }
    }

    /// A sample of a metric of type `kind` (`counter`, `gauge`).
    pub fn typed(&mut self, name: &str, kind: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        self.declare(name, kind, help);
        self.sample(name, labels, v);
    }

    /// A counter sample.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: u64) {
        self.declare(name, "counter", help);
        self.sample(name, labels, value as f64);
    }

    /// A counter sample with a fractional value (seconds).
    pub fn counter_f64(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.declare(name, "counter", help);
        self.sample(name, labels, value);
    }

    /// A gauge sample.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], value: f64) {
        self.declare(name, "gauge", help);
        self.sample(name, labels, value);
    }

    /// A summary from a nanosecond histogram, exported in seconds with the
    /// quantiles 0.5, 0.9, 0.99, 0.999 and the max (quantile "1").
    pub fn summary_ns(
        &mut self,
        name: &str,
        help: &str,
        labels: &[(&str, &str)],
        h: &Histogram<u64>,
    ) {
        self.declare(name, "summary", help);
        for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
            let qs = if q == 1.0 {
                "1".to_string()
            } else {
                q.to_string()
            };
            let mut l: Vec<(&str, &str)> = labels.to_vec();
            l.push(("quantile", &qs));
            let v = if q == 1.0 {
                h.max()
            } else {
                h.value_at_quantile(q)
            };
            self.sample(name, &l, v as f64 / 1e9);
        }
        let sum_name = format!("{name}_sum");
        let count_name = format!("{name}_count");
        let sum = h.mean() * h.len() as f64 / 1e9;
        self.sample(&sum_name, labels, sum);
        self.sample(&count_name, labels, h.len() as f64);
    }

    /// The document.
    pub fn finish(self) -> String {
        self.out
    }
}

/// Shared pipeline metrics: one [`WorkerStats`] and latency histograms per
/// worker, the tracker, and a few gauges.
#[derive(Debug)]
pub struct PipelineMetrics {
    /// Per worker, indexed by worker number.
    pub workers: Vec<Arc<WorkerStats>>,
    /// Kernel timestamp → event processed, per worker.
    pub event_latency: Vec<Arc<SharedHistogram>>,
    /// Kernel timestamp → alert handed to the outputs, per worker.
    pub alert_latency: Vec<Arc<SharedHistogram>>,
    /// Load-generator reconciliation.
    pub tracker: Arc<Tracker>,
    /// Alerts by rule name, with the rule's priority, source and tags.
    pub alerts_by_rule: papaya::HashMap<Arc<str>, RuleCount>,
    /// Self-protection alerts by kind.
    pub tamper: super::tamper::TamperCounters,
    /// Probe links the integrity check attached again.
    pub probe_reattached: Counter,
}

/// One rule's alert counter: name, priority, source, tags, alerts.
pub type RuleCountRow = (Arc<str>, Priority, Arc<str>, Arc<[String]>, u64);

/// The alerts of one rule, with what Falco labels its counter with.
#[derive(Debug)]
pub struct RuleCount {
    /// The rule's priority.
    pub priority: Priority,
    /// The rule's event source.
    pub source: Arc<str>,
    /// The rule's tags, sorted.
    pub tags: Arc<[String]>,
    /// Alerts raised.
    pub n: Counter,
}

impl PipelineMetrics {
    /// Metrics for `n` workers.
    pub fn new(n: usize) -> PipelineMetrics {
        PipelineMetrics {
            workers: (0..n).map(|_| Arc::new(WorkerStats::default())).collect(),
            event_latency: (0..n)
                .map(|_| Arc::new(SharedHistogram::default()))
                .collect(),
            alert_latency: (0..n)
                .map(|_| Arc::new(SharedHistogram::default()))
                .collect(),
            tracker: Arc::new(Tracker::new(n)),
            alerts_by_rule: papaya::HashMap::new(),
            tamper: Default::default(),
            probe_reattached: Counter::default(),
        }
    }

    /// Counts one alert of `rule`, named `name` (lock-free after the
    /// rule's first alert).
    pub fn count_alert(&self, name: &Arc<str>, rule: &Rule) {
        let m = self.alerts_by_rule.pin();
        match m.get(name) {
            Some(c) => c.n.inc(),
            None => {
                let c = m.get_or_insert_with(Arc::clone(name), || RuleCount {
                    priority: rule.priority,
                    source: rule.source.as_str().into(),
                    tags: rule.tags.iter().cloned().collect(),
                    n: Counter::default(),
                });
                c.n.inc();
            }
        }
    }

    /// `(rule, priority, source, tags, alerts)` of every rule that raised
    /// an alert, sorted by rule name.
    pub fn rule_counts(&self) -> Vec<RuleCountRow> {
        let mut v: Vec<_> = self
            .alerts_by_rule
            .pin()
            .iter()
            .map(|(k, c)| {
                (
                    Arc::clone(k),
                    c.priority,
                    Arc::clone(&c.source),
                    Arc::clone(&c.tags),
                    c.n.get(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Renders the worker, latency and tracker metrics.
    pub fn render(&self, w: &mut PromWriter) {
        for (i, s) in self.workers.iter().enumerate() {
            let id = i.to_string();
            let l = [("worker", id.as_str())];
            w.counter(
                "kestrel_worker_records_total",
                "Records read from the worker's ring.",
                &l,
                s.records.get(),
            );
            w.counter(
                "kestrel_worker_events_processed_total",
                "Events decoded, applied to process state and matched.",
                &l,
                s.processed.get(),
            );
            for why in DecodeFailure::ALL {
                w.counter(
                    "kestrel_worker_decode_errors_total",
                    "Records the worker could not decode, by reason.",
                    &[("worker", id.as_str()), ("reason", why.label())],
                    s.decode_errors[why as usize].get(),
                );
            }
            w.counter(
                "kestrel_worker_events_deferred_total",
                "Events held back until their process's exec was applied.",
                &l,
                s.deferred.get(),
            );
            w.gauge(
                "kestrel_worker_process_cache_entries",
                "Processes in the worker's process cache (bound 4096; entries of replaced or exited processes are swept every second).",
                &l,
                s.proc_cache_entries.get() as f64,
            );
            w.counter(
                "kestrel_worker_late_attribution_total",
                "Deferred events processed after the wait expired.",
                &l,
                s.late_attribution.get(),
            );
            w.counter(
                "kestrel_worker_deferred_dropped_total",
                "Deferred events processed early because the deferral queue was full (never lost; attribution may be stale).",
                &l,
                s.deferred_overflow.get(),
            );
            w.counter(
                "kestrel_worker_events_marked_off_total",
                "Events the kernel filter passed with no clause held (a rule needs every event of their type): matched against those rules only.",
                &l,
                s.marked_off.get(),
            );
            w.counter(
                "kestrel_worker_events_truncated_total",
                "Events with a string, path or argument list cut at the probe's cap (argv 4096 bytes, paths 4096 bytes); the cut value ends with \"...\".",
                &l,
                s.truncated.get(),
            );
            w.counter(
                "kestrel_worker_unknown_process_total",
                "Events from processes missing from the process table.",
                &l,
                s.unknown_process.get(),
            );
            w.counter(
                "kestrel_worker_alerts_total",
                "Alerts raised by the worker.",
                &l,
                s.alerts.get(),
            );
            w.counter(
                "kestrel_worker_alerts_dropped_total",
                "Alerts lost because the output channel was full.",
                &l,
                s.alerts_dropped.get(),
            );
            w.counter(
                "kestrel_worker_idle_polls_total",
                "Polls that found the worker's ring empty.",
                &l,
                s.idle_polls.get(),
            );
            w.counter(
                "kestrel_worker_parks_total",
                "Times the worker slept until the probe's next record woke it.",
                &l,
                s.parks.get(),
            );
            w.gauge(
                "kestrel_worker_deferred_queue_length",
                "Records waiting in the worker's deferral queue (as of its last batch).",
                &l,
                s.deferred_queue.get() as f64,
            );
        }
        let ev = merge(self.event_latency.iter().map(|a| a.as_ref()));
        w.summary_ns(
            "kestrel_event_latency_seconds",
            "Kernel timestamp to event processed (measured at the end of each batch; one event in eight sampled, weighted by eight, so the count is every event).",
            &[],
            &ev,
        );
        let al = merge(self.alert_latency.iter().map(|a| a.as_ref()));
        w.summary_ns(
            "kestrel_alert_latency_seconds",
            "Kernel timestamp to alert handed to the outputs.",
            &[],
            &al,
        );
        for (rule, prio, _, _, n) in self.rule_counts() {
            w.counter(
                "kestrel_alerts_total",
                "Alerts raised, by rule and priority.",
                &[("rule", &rule), ("priority", prio.name())],
                n,
            );
        }
        for k in super::tamper::TamperKind::ALL {
            w.counter(
                "kestrel_tamper_events_total",
                "Self-protection alerts (kestrel internal: tamper attempt), by kind.",
                &[("kind", k.name())],
                self.tamper.get(k),
            );
        }
        w.counter(
            "kestrel_probe_reattached_total",
            "Probe programs the integrity check found detached and attached again.",
            &[],
            self.probe_reattached.get(),
        );
        for (tgid, rel, ty, n) in self.tracker.snapshot() {
            let t = tgid.to_string();
            let name = crate::event::EventType(ty).name();
            w.counter(
                "kestrel_tracked_events_total",
                "Events processed for tracked processes (self) and their children (child), by event type.",
                &[("tgid", t.as_str()), ("rel", rel), ("type", name)],
                n,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracker_counts_self_and_children_only_when_tracked() {
        let t = Tracker::new(2);
        let mut w0 = TrackerView::new(0);
        let mut w1 = TrackerView::new(1);
        w0.observe(&t, 10, 1, 65);
        assert!(t.snapshot().is_empty());
        assert!(t.track(10));
        w0.observe(&t, 10, 1, 65);
        w1.observe(&t, 10, 1, 65);
        w1.observe(&t, 11, 10, 1);
        w0.observe(&t, 12, 1, 65);
        let s = t.snapshot();
        assert!(s.contains(&(10, "self", 65, 2)), "{s:?}");
        assert!(s.contains(&(10, "child", 1, 1)));
        assert_eq!(s.len(), 2);
        t.untrack(10);
        assert!(t.snapshot().is_empty());
        w0.observe(&t, 10, 1, 65);
        // A reused slot starts from zero in every worker, including one
        // that has not handled an event since.
        assert!(t.track(20));
        assert!(t.snapshot().is_empty());
        w0.observe(&t, 20, 1, 65);
        assert_eq!(t.snapshot(), vec![(20, "self", 65, 1)]);
        for i in 0..Tracker::SLOTS as u32 - 1 {
            assert!(t.track(100 + i));
        }
        assert!(!t.track(999));
    }

    #[test]
    fn prometheus_text_shape() {
        let mut w = PromWriter::new();
        w.counter("kestrel_x_total", "X.", &[("a", "b\"c")], 3);
        w.counter("kestrel_x_total", "X.", &[("a", "d")], 4);
        let mut h = new_histogram();
        h.record(1_000).unwrap();
        h.record(3_000).unwrap();
        w.summary_ns("kestrel_lat_seconds", "L.", &[], &h);
        let s = w.finish();
        assert_eq!(s.matches("# TYPE kestrel_x_total counter").count(), 1);
        assert!(s.contains("kestrel_x_total{a=\"b\\\"c\"} 3\n"));
        assert!(s.contains("kestrel_lat_seconds_count 2\n"));
        assert!(s.contains("kestrel_lat_seconds{quantile=\"0.5\"} 0.000001"));
    }

    #[test]
    fn histograms_fold_and_merge() {
        let shared = SharedHistogram::default();
        let mut local = new_histogram();
        local.record(5).unwrap();
        shared.fold(&mut local);
        assert!(local.is_empty());
        let other = SharedHistogram::default();
        let mut l2 = new_histogram();
        l2.record(7).unwrap();
        other.fold(&mut l2);
        assert_eq!(merge([&shared, &other]).len(), 2);
    }
}
