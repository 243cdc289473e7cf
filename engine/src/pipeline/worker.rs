//! Workers: one per CPU ring, each pinned to its CPU, running
//! decode → state → match → alert for every record, with no lock on the
//! per-event path.
//!
//! A worker owns its ring (through [`RecordSource`]), its counters, a local
//! latency histogram folded into a shared one every few milliseconds, and a
//! small deferral queue. The shared pieces are read without locks: the
//! process table (lock-free map), the current [`Engine`] (an `ArcSwap`
//! loaded once per batch, so a reload swaps rules between batches without
//! stopping capture) and the output channel (a bounded crossbeam channel;
//! a full channel drops the alert and counts it).
//!
//! Cross-CPU attribution: a process's exec may be recorded in one CPU's
//! ring while its next syscalls land in another's. When the table says an
//! event is `Behind` (its exec has not been applied yet) or its process is
//! unknown (its fork is still in another ring), the worker copies the
//! record into its deferral queue and retries after every batch, keeping
//! per-process order, until the table catches up or the wait
//! ([`WorkerConfig::attribution_wait_ns`], measured from the event's own
//! kernel timestamp) expires; then the event is processed anyway and
//! counted as a late attribution. Nothing is dropped: when the queue is
//! full, its oldest entry is processed early.
//!
//! The queue (`DeferQueue`) is a FIFO per process plus an index of the
//! processes by their oldest record, so a retry looks at the head of each
//! waiting process only (a later record of a process waits behind its
//! head anyway) and overflow finds the oldest record in O(log n). Each
//! record keeps the few header fields its readiness depends on
//! ([`AttributionKey`]), so a retry does not re-parse it. The first
//! version kept one `VecDeque` of records and re-parsed every one of them
//! after every batch, removing from the middle: quadratic exactly when
//! the queue filled (issue 14).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use hdrhistogram::Histogram;

use super::metrics::{new_histogram, DecodeFailure, PipelineMetrics, TrackerView};
use crate::event::table::EVENT_ID_LIMIT;
use crate::event::{DecodeError, EventType, RawEvent};
use crate::fields::live::LiveEvent;
use crate::matcher::RuleSet;
use crate::output::alert::CompiledOutputs;
use crate::output::OutputSender;
use crate::rules::Rule;
use crate::state::process::{attribution_of, lookup_in, AttributionKey};
use crate::state::{boot_clock_ns, Attribution, Context, ProcCache, Process, ProcessTable};
use crate::util::IdBuild;

/// A source of wire records: one CPU's ring buffer, a capture file, a test
/// vector.
pub trait RecordSource: Send {
    /// Hands up to `budget` available records to `f`, in ring order, and
    /// returns how many it handed out. Must not block.
    fn poll(&mut self, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize;

    /// Sleeps until records arrive or `timeout` passes, for a source that
    /// can be woken by its producer (a ring whose probe wakes a parked
    /// reader). Returns `None`, at once, for a source that cannot: the
    /// worker then polls with its sleep back-off.
    fn park(&mut self, _timeout: Duration) -> Option<bool> {
        None
    }
}

/// The rules and outputs in force: swapped whole on reload.
pub struct Engine {
    /// The compiled, indexed rules.
    pub ruleset: RuleSet,
    /// Every rule's compiled output.
    pub outputs: CompiledOutputs,
    /// Where alerts go (the outputs in force; replaced when a reload
    /// changes the output configuration).
    pub sender: OutputSender,
    /// Incremented on every reload; workers publish the epoch they run.
    pub epoch: u64,
    /// `rule_ids[rule.index]`: the rule's id in `outputs`.
    rule_ids: Vec<Option<usize>>,
    /// Event types some enabled rule can match.
    wanted: [bool; EVENT_ID_LIMIT],
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.ruleset.len())
            .field("epoch", &self.epoch)
            .finish()
    }
}

impl Engine {
    /// Bundles a ruleset with the outputs compiled from `rules` (the same
    /// slice the ruleset was built from, in the same order).
    pub fn new(
        ruleset: RuleSet,
        outputs: CompiledOutputs,
        rules: &[Rule],
        sender: OutputSender,
        epoch: u64,
    ) -> Engine {
        let max = rules.iter().map(|r| r.index).max().map_or(0, |m| m + 1);
        let mut rule_ids = vec![None; max];
        for (id, r) in rules.iter().enumerate() {
            rule_ids[r.index] = Some(id);
        }
        let set = ruleset.event_types();
        let mut wanted = [false; EVENT_ID_LIMIT];
        for e in crate::event::EVENTS {
            wanted[e.ty.0 as usize] = set.is_all() || set.contains(e.ty);
        }
        Engine {
            ruleset,
            outputs,
            sender,
            epoch,
            rule_ids,
            wanted,
        }
    }

    /// The output id of a matched rule.
    pub fn rule_id(&self, rule: &Rule) -> Option<usize> {
        self.rule_ids.get(rule.index).copied().flatten()
    }

    /// Whether any enabled rule looks at events of type `ty`.
    pub fn wants(&self, ty: EventType) -> bool {
        self.wanted.get(ty.0 as usize).copied().unwrap_or(false)
    }
}

/// Settings of the workers.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// How long an event may wait for its process's exec or fork to be
    /// applied, measured from its kernel timestamp.
    pub attribution_wait_ns: u64,
    /// Most records held in a worker's deferral queue.
    pub max_deferred: usize,
    /// Records handled per poll before the worker does its housekeeping.
    pub batch: usize,
    /// Longest pause after a poll that drained the ring (handed out
    /// records, fewer than `batch`). Reading a ring continuously from a
    /// pinned thread makes its control cache lines bounce between the
    /// producer's and the consumer's CPU: the probe engineer measured the
    /// producer's cost per event going from ~260 ns to ~510 ns with a
    /// spinning reader. Reading in batches keeps the producer undisturbed,
    /// and every pause is a sleep and a wake-up, which on a VM costs
    /// microseconds of the worker's CPU: the pause adapts between
    /// `min_batch_pause` and this so that a read finds about
    /// `batch_target` records. At 1 M events/s 1 ms is about 180 KB of an
    /// 8 MiB ring.
    pub batch_pause: Duration,
    /// Shortest pause after a poll that drained the ring.
    pub min_batch_pause: Duration,
    /// Records a read should find: the pause after a drained ring grows
    /// while reads find fewer than half of this and shrinks when they find
    /// more.
    pub batch_target: usize,
    /// First sleep after an empty poll; doubles up to `max_idle_sleep`.
    pub min_idle_sleep: Duration,
    /// Longest sleep when the ring is idle (bounds the latency added to the
    /// first event after a quiet period).
    pub max_idle_sleep: Duration,
    /// Once a sleep has reached `max_idle_sleep` and the ring is still
    /// empty, sleep until the source's producer wakes the worker (at most
    /// this long; it bounds how late a missed wake-up is noticed), instead
    /// of polling: an idle worker then costs nothing and the first event
    /// after a quiet period is handled at once. `None`: never park.
    pub park_timeout: Option<Duration>,
    /// Pin the worker to this CPU.
    pub pin_cpu: Option<usize>,
    /// Scheduling niceness of the worker thread (-20..19; 0 leaves it).
    /// A worker shares its CPU with the workload it watches; a negative
    /// value lets it preempt a busy producer sooner, which bounds the
    /// kernel-to-alert latency under load.
    pub nice: i32,
    /// Run the worker under SCHED_FIFO at this priority (1-99) instead of
    /// a nice level. A worker shares its CPU with the workload it watches;
    /// with an ordinary priority it waits up to a scheduler slice (several
    /// ms) behind a busy producer, with FIFO it runs as soon as its pause
    /// ends: measured here with `open` saturating the worker's CPU, event
    /// latency p99 went from 2.7 ms (nice -10) to 0.21 ms, at the same
    /// throughput. The worker sleeps between batches, so it cannot hold the
    /// CPU unless events arrive faster than it handles them, and then it
    /// still gives the CPU away for a moment every 20 ms (on top of the
    /// kernel's own real-time throttling).
    pub realtime: Option<i32>,
    /// Called on the worker's thread about once a second, after its
    /// process cache is swept: the daemon hands its allocator's per-thread
    /// collection here, since only the owning thread can return its freed
    /// pages.
    pub housekeeping: Option<fn()>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            attribution_wait_ns: 20_000_000,
            max_deferred: 65_536,
            batch: 4096,
            batch_pause: Duration::from_micros(1000),
            min_batch_pause: Duration::from_micros(50),
            batch_target: 1024,
            min_idle_sleep: Duration::from_micros(100),
            max_idle_sleep: Duration::from_micros(500),
            park_timeout: Some(Duration::from_millis(50)),
            pin_cpu: None,
            nice: 0,
            realtime: None,
            housekeeping: None,
        }
    }
}

/// What all workers share.
#[derive(Clone)]
pub struct Shared {
    /// The process table.
    pub table: Arc<ProcessTable>,
    /// Users, containers, host name, clock.
    pub ctx: Arc<Context>,
    /// The rules and outputs in force.
    pub engine: Arc<ArcSwap<Engine>>,
    /// The engine epoch each worker last loaded (for reloads to know when
    /// every worker has moved to a new engine).
    pub epochs: Arc<Vec<AtomicU64>>,
    /// Counters and histograms.
    pub metrics: Arc<PipelineMetrics>,
    /// Set to stop: workers drain what their rings hold, then return.
    pub stop: Arc<AtomicBool>,
}

/// A record waiting in a deferral queue.
struct Deferred {
    /// Order of arrival in the queue (unique, increasing).
    seq: u64,
    ts_ns: u64,
    /// Its [`wait_key`].
    key: Option<AttributionKey>,
    bytes: Vec<u8>,
}

/// A worker's deferral queue: records in arrival order per process, and
/// the processes ordered by their oldest record.
#[derive(Default)]
struct DeferQueue {
    per_tgid: HashMap<u32, VecDeque<Deferred>, IdBuild>,
    /// Arrival number of each waiting process's head record → the process.
    /// The first entry is the oldest record of the whole queue.
    heads: BTreeMap<u64, u32>,
    len: usize,
    next_seq: u64,
}

impl DeferQueue {
    fn len(&self) -> usize {
        self.len
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Whether a record of process `tgid` is waiting.
    fn holds(&self, tgid: u32) -> bool {
        self.per_tgid.contains_key(&tgid)
    }

    /// Appends a record of `tgid`.
    fn push(&mut self, tgid: u32, ts_ns: u64, key: Option<AttributionKey>, bytes: Vec<u8>) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let q = self.per_tgid.entry(tgid).or_default();
        if q.is_empty() {
            self.heads.insert(seq, tgid);
        }
        q.push_back(Deferred {
            seq,
            ts_ns,
            key,
            bytes,
        });
        self.len += 1;
    }

    /// The oldest waiting record of `tgid`.
    fn head(&self, tgid: u32) -> Option<&Deferred> {
        self.per_tgid.get(&tgid)?.front()
    }

    /// Removes the oldest waiting record of `tgid`.
    fn pop_head(&mut self, tgid: u32) -> Option<Deferred> {
        let q = self.per_tgid.get_mut(&tgid)?;
        let d = q.pop_front()?;
        self.heads.remove(&d.seq);
        match q.front() {
            Some(next) => {
                self.heads.insert(next.seq, tgid);
            }
            None => {
                self.per_tgid.remove(&tgid);
            }
        }
        self.len -= 1;
        Some(d)
    }

    /// Removes the oldest record of the queue.
    fn pop_oldest(&mut self) -> Option<Deferred> {
        let (_, &tgid) = self.heads.first_key_value()?;
        self.pop_head(tgid)
    }

    /// The waiting processes, oldest head first, into `out`.
    fn waiting(&self, out: &mut Vec<u32>) {
        out.clear();
        out.extend(self.heads.values().copied());
    }
}

/// One worker; [`Worker::run`] consumes it on its own thread.
pub struct Worker<S: RecordSource> {
    src: S,
    st: State,
}

/// Event latency is sampled once per this many events of a worker; each
/// sample is weighted by the events it stands for (the last events of a
/// batch by the newest of them), so counts stay exact and quantiles are
/// those of a systematic 1-in-8 sample.
const LATENCY_STRIDE: u64 = 8;

/// Everything of a worker but its source, so that the source can hand
/// records to the state while both are borrowed.
struct State {
    id: usize,
    nworkers: u64,
    shared: Shared,
    cfg: WorkerConfig,
    deferred: DeferQueue,
    /// The deferral queue length last published to the metrics.
    published_deferred: usize,
    /// Scratch list of the waiting processes for a retry pass.
    retry_tgids: Vec<u32>,
    /// Deferred records looked at by retry passes (tests check that a
    /// pass costs the waiting processes, not the queue's length).
    retry_visits: u64,
    local_events: Histogram<u64>,
    /// Kernel timestamps of the events handled since the last clock read:
    /// latency is taken once per batch (one clock read instead of one per
    /// event, which cost ~8% of the daemon's time under an `open` load),
    /// so each event's latency is measured up to the end of its batch.
    /// Sampled: one entry per [`LATENCY_STRIDE`] events, standing for
    /// them all (recording every event cost about 90 instructions each,
    /// ~4% of the per-event path).
    batch_ts: Vec<u64>,
    /// Events since the last sample, and the newest one's timestamp.
    lat_pending: u64,
    lat_last_ts: u64,
    local_alerts: Histogram<u64>,
    seq: u64,
    /// This worker's copies of process-table entries.
    cache: ProcCache,
    /// This worker's view of the load-generator tracker.
    track: TrackerView,
}

impl<S: RecordSource> Worker<S> {
    /// A worker with number `id` out of `nworkers` (event numbers are
    /// unique across workers: `seq * nworkers + id + 1`, never 0).
    pub fn new(id: usize, nworkers: usize, src: S, shared: Shared, cfg: WorkerConfig) -> Self {
        Worker {
            src,
            st: State {
                id,
                nworkers: nworkers.max(1) as u64,
                shared,
                cfg,
                deferred: DeferQueue::default(),
                published_deferred: 0,
                retry_tgids: Vec::new(),
                retry_visits: 0,
                local_events: new_histogram(),
                batch_ts: Vec::with_capacity(4096),
                lat_pending: 0,
                lat_last_ts: 0,
                local_alerts: new_histogram(),
                seq: 0,
                cache: ProcCache::new(),
                track: TrackerView::new(id),
            },
        }
    }

    /// Runs until `stop` is set and the source is drained.
    pub fn run(mut self) {
        let st = &mut self.st;
        if let Some(cpu) = st.cfg.pin_cpu {
            if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
                log::warn!("worker {}: could not pin to CPU {cpu}", st.id);
            }
        }
        let mut realtime = false;
        if let Some(prio) = st.cfg.realtime {
            let param = libc::sched_param {
                sched_priority: prio.clamp(1, 99),
            };
            // SAFETY: plain syscalls on this thread's own id.
            let rc = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::pid_t;
                libc::sched_setscheduler(tid, libc::SCHED_FIFO, &param)
            };
            if rc == 0 {
                realtime = true;
            } else {
                log::warn!(
                    "worker {}: could not switch to SCHED_FIFO (needs CAP_SYS_NICE): {}; using nice {}",
                    st.id,
                    std::io::Error::last_os_error(),
                    st.cfg.nice
                );
            }
        }
        if !realtime && st.cfg.nice != 0 {
            // SAFETY: plain syscalls on this thread's own id.
            let rc = unsafe {
                let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
                libc::setpriority(libc::PRIO_PROCESS, tid, st.cfg.nice)
            };
            if rc != 0 {
                log::warn!(
                    "worker {}: could not set nice {}: {}",
                    st.id,
                    st.cfg.nice,
                    std::io::Error::last_os_error()
                );
            }
        }
        // Idle sleeps are short; the default 50 µs timer slack would more
        // than double them.
        // SAFETY: prctl on the calling thread with a plain integer.
        if unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000u64, 0u64, 0u64, 0u64) } != 0 {
            log::debug!("worker {}: could not set timer slack", st.id);
        }
        let stats = Arc::clone(&st.shared.metrics.workers[st.id]);
        let mut idle_sleep = st.cfg.min_idle_sleep;
        let mut pause = st.cfg.min_batch_pause.min(st.cfg.batch_pause);
        let mut busy_since = boot_clock_ns();
        let mut last_fold = boot_clock_ns();
        let mut last_sweep = last_fold;
        loop {
            let stopping = st.shared.stop.load(Ordering::Acquire);
            let engine = st.shared.engine.load_full();
            st.shared.epochs[st.id].store(engine.epoch, Ordering::Release);
            let n = self
                .src
                .poll(st.cfg.batch, &mut |rec| st.handle(rec, &engine));
            st.retry_deferred(stopping);
            let now = boot_clock_ns();
            st.record_batch(now);
            if now.saturating_sub(last_fold) > 50_000_000 {
                st.fold();
                stats.proc_cache_entries.set(st.cache.len() as u64);
                last_fold = now;
            }
            if now.saturating_sub(last_sweep) > 1_000_000_000 {
                st.cache.sweep();
                if let Some(f) = st.cfg.housekeeping {
                    f();
                }
                last_sweep = now;
            }
            if n == 0 {
                if stopping {
                    // Rings are empty: flush what still waits and leave.
                    st.retry_deferred(true);
                    st.record_batch(boot_clock_ns());
                    break;
                }
                stats.idle_polls.bump();
                // Park only with nothing deferred: a deferred event may be
                // released by another worker's progress, not by our ring.
                if idle_sleep >= st.cfg.max_idle_sleep && st.deferred.is_empty() {
                    if let Some(t) = st.cfg.park_timeout {
                        if self.src.park(t).is_some() {
                            stats.parks.bump();
                            continue;
                        }
                    }
                }
                std::thread::sleep(idle_sleep);
                idle_sleep = (idle_sleep * 2).min(st.cfg.max_idle_sleep);
            } else {
                idle_sleep = st.cfg.min_idle_sleep;
                // A full batch means more is waiting: read on at once, but
                // never hold the CPU for more than 20 ms at a stretch.
                if n < st.cfg.batch && !stopping {
                    if n < st.cfg.batch_target / 2 {
                        pause = (pause + pause / 2).min(st.cfg.batch_pause);
                    } else if n > st.cfg.batch_target {
                        pause = (pause / 2).max(st.cfg.min_batch_pause);
                    }
                    std::thread::sleep(pause);
                    busy_since = boot_clock_ns();
                } else if realtime && now.saturating_sub(busy_since) > 20_000_000 {
                    std::thread::sleep(Duration::from_micros(50));
                    busy_since = boot_clock_ns();
                }
            }
        }
        st.fold();
    }
}

impl State {
    /// Records the latency of the events handled since the last call.
    fn record_batch(&mut self, now: u64) {
        let lat = |ts: u64| now.saturating_sub(ts).max(1);
        for ts in self.batch_ts.drain(..) {
            self.local_events
                .saturating_record_n(lat(ts), LATENCY_STRIDE);
        }
        if self.lat_pending > 0 {
            // The batch's newest event stands for the ones since the last
            // sample, so the histogram counts every event.
            self.local_events
                .saturating_record_n(lat(self.lat_last_ts), self.lat_pending);
            self.lat_pending = 0;
        }
    }

    fn fold(&mut self) {
        let m = &self.shared.metrics;
        m.event_latency[self.id].fold(&mut self.local_events);
        m.alert_latency[self.id].fold(&mut self.local_alerts);
    }

    fn handle(&mut self, rec: &[u8], engine: &Engine) {
        let stats = &self.shared.metrics.workers[self.id];
        stats.records.bump();
        let raw = match RawEvent::parse(rec) {
            Ok(r) => r,
            Err(e) => {
                stats.decode_error(decode_failure(&e));
                log::debug!("worker {}: undecodable record: {e}", self.id);
                return;
            }
        };
        if raw.hdr.flags & crate::event::wire::HF_TRUNCATED != 0 {
            stats.truncated.bump();
        }
        // Keep per-process order: if an earlier event of this process is
        // waiting, this one waits behind it.
        let tgid = raw.hdr.tgid;
        if !self.deferred.is_empty() && self.deferred.holds(tgid) {
            self.defer(&raw);
            return;
        }
        let p = self.cache.get(&self.shared.table, tgid);
        if must_wait(&raw, p.as_deref()) {
            self.defer(&raw);
            return;
        }
        self.process(&raw, engine, false, p);
    }

    /// A self-protection record: an internal alert whatever the rules.
    /// It waits for its sender's exec like any other event (a tool run
    /// for the attempt, such as bpftool, has just been exec'd and its
    /// exec record may still be in another CPU's ring), so the sender's
    /// executable and command line are known; after the wait the
    /// header's fields stand in.
    fn tamper(&mut self, raw: &RawEvent<'_>, engine: &Engine, p: Option<Arc<Process>>) {
        let shared = &self.shared;
        let stats = &shared.metrics.workers[self.id];
        let p = match p {
            Some(p) if p.is_current() => Some(p),
            _ => self.cache.get(&shared.table, raw.hdr.tgid),
        };
        let ev = LiveEvent::with_lookup(
            *raw,
            &shared.table,
            &shared.ctx,
            0,
            lookup_in(raw, p),
            Some(&self.cache),
        );
        let Some((kind, alert)) = super::tamper::alert(raw, &ev, &engine.outputs) else {
            stats.decode_error(DecodeFailure::BadParams);
            return;
        };
        shared.metrics.tamper.count(kind);
        stats.alerts.bump();
        if !engine.sender.send(alert) {
            stats.alerts_dropped.bump();
        }
        stats.processed.bump();
    }

    fn defer(&mut self, raw: &RawEvent<'_>) {
        let stats = Arc::clone(&self.shared.metrics.workers[self.id]);
        stats.deferred.bump();
        if self.deferred.len() >= self.cfg.max_deferred {
            // Full: process the oldest now rather than lose anything.
            if let Some(old) = self.deferred.pop_oldest() {
                stats.deferred_overflow.bump();
                let engine = self.shared.engine.load_full();
                self.process_bytes(&old.bytes, &engine, true);
            }
        }
        self.deferred.push(
            raw.hdr.tgid,
            raw.hdr.ts_ns,
            wait_key(raw),
            raw.bytes().to_vec(),
        );
    }

    /// Processes deferred records whose process caught up or whose wait
    /// expired, in order per process. `force` processes everything.
    /// Looks at the head of each waiting process and at the records it
    /// releases, never at the records still blocked behind a head.
    fn retry_deferred(&mut self, force: bool) {
        self.retry_deferred_inner(force);
        // The queue length for /metrics: one store per batch at most, and
        // none while it stays the same (empty, most of the time).
        let len = self.deferred.len();
        if len != self.published_deferred {
            self.published_deferred = len;
            self.shared.metrics.workers[self.id]
                .deferred_queue
                .set(len as u64);
        }
    }

    fn retry_deferred_inner(&mut self, force: bool) {
        if self.deferred.is_empty() {
            return;
        }
        let engine = self.shared.engine.load_full();
        let now = boot_clock_ns();
        let mut tgids = std::mem::take(&mut self.retry_tgids);
        self.deferred.waiting(&mut tgids);
        for &tgid in &tgids {
            while let Some(d) = self.deferred.head(tgid) {
                self.retry_visits += 1;
                let (ts_ns, key) = (d.ts_ns, d.key);
                let expired = force || now.saturating_sub(ts_ns) >= self.cfg.attribution_wait_ns;
                let p = self.cache.get(&self.shared.table, tgid);
                let ready = !key.is_some_and(|k| must_wait_key(k, p.as_deref()));
                if !ready && !expired {
                    break;
                }
                let d = self.deferred.pop_head(tgid).expect("head exists");
                self.process_bytes(&d.bytes, &engine, !ready);
            }
        }
        self.retry_tgids = tgids;
    }

    fn process_bytes(&mut self, bytes: &[u8], engine: &Engine, late: bool) {
        match RawEvent::parse(bytes) {
            Ok(raw) => {
                let p = self.cache.get(&self.shared.table, raw.hdr.tgid);
                self.process(&raw, engine, late, p)
            }
            Err(e) => self.shared.metrics.workers[self.id].decode_error(decode_failure(&e)),
        }
    }

    /// Applies, matches and counts one event; `p` is the table's entry for
    /// its process as the worker last saw it.
    fn process(
        &mut self,
        raw: &RawEvent<'_>,
        engine: &Engine,
        late: bool,
        p: Option<Arc<Process>>,
    ) {
        let shared = &self.shared;
        let stats = &shared.metrics.workers[self.id];
        let tgid = raw.hdr.tgid;
        if late {
            stats.late_attribution.bump();
            // The wait expired and the process is still missing (its fork
            // was never seen, e.g. dropped in the kernel): its fields fall
            // back to what the record's header carries.
            if attribution_of(raw, p.as_deref()) == Attribution::Unknown {
                stats.unknown_process.bump();
            }
        }
        if raw.ty() == EventType::TAMPER {
            self.tamper(raw, engine, p);
            return;
        }
        self.track
            .observe(&shared.metrics.tracker, tgid, raw.hdr.ptgid, raw.hdr.ty);
        shared.table.apply_with(raw, p.as_deref());
        if crate::state::process::is_exec_success(raw) {
            if let Some(p) = shared.table.get(tgid) {
                shared.ctx.containers.prefetch(&p.container);
            }
        }
        self.seq += 1;
        let ty = raw.ty();
        if engine.wants(ty) {
            // A state event may have replaced the entry.
            let p = match p {
                Some(p) if p.is_current() => Some(p),
                _ => self.cache.get(&shared.table, tgid),
            };
            let evt_num = (self.seq - 1) * self.nworkers + self.id as u64 + 1;
            let ev = LiveEvent::with_lookup(
                *raw,
                &shared.table,
                &shared.ctx,
                evt_num,
                lookup_in(raw, p),
                Some(&self.cache),
            );
            let mut out: Vec<&Rule> = Vec::new();
            let marked_off = engine.ruleset.marked_off(raw.hdr.flags);
            if marked_off {
                stats.marked_off.bump();
            }
            engine
                .ruleset
                .matches_marked(ty, raw.info.name, &ev, marked_off, &mut out);
            for rule in out {
                let Some(id) = engine.rule_id(rule) else {
                    log::error!("matched rule '{}' has no compiled output", rule.name);
                    continue;
                };
                if let Some(alert) = engine.outputs.render(id, &ev, raw.hdr.ts_ns) {
                    stats.alerts.bump();
                    shared.metrics.count_alert(alert.rule_arc(), rule);
                    let lat = boot_clock_ns().saturating_sub(raw.hdr.ts_ns).max(1);
                    self.local_alerts.saturating_record(lat);
                    if !engine.sender.send(alert) {
                        stats.alerts_dropped.bump();
                    }
                }
            }
        }
        self.lat_pending += 1;
        if self.lat_pending == LATENCY_STRIDE {
            self.batch_ts.push(raw.hdr.ts_ns);
            self.lat_pending = 0;
        } else {
            self.lat_last_ts = raw.hdr.ts_ns;
        }
        stats.processed.bump();
    }
}

/// Whether the table is not ready for this event yet; `p` is its entry.
fn must_wait(raw: &RawEvent<'_>, p: Option<&Process>) -> bool {
    wait_key(raw).is_some_and(|k| must_wait_key(k, p))
}

/// What [`must_wait`] needs of an event, kept with a deferred record so
/// that it is not re-parsed at every retry; `None` for the events that
/// never wait (`procinfo`, `procexit`).
fn wait_key(raw: &RawEvent<'_>) -> Option<AttributionKey> {
    let ty = raw.ty();
    if ty == EventType::PROCINFO || ty == EventType::PROCEXIT {
        return None;
    }
    Some(AttributionKey::of(raw))
}

/// [`must_wait`] on an event's [`wait_key`].
fn must_wait_key(key: AttributionKey, p: Option<&Process>) -> bool {
    match key.attribution(p) {
        Attribution::Ready | Attribution::Ahead => false,
        Attribution::Behind => true,
        // An exec brings its own image; anything else from an unknown
        // process waits a little for its fork to be applied.
        Attribution::Unknown => !key.exec_success,
    }
}

fn decode_failure(e: &DecodeError) -> DecodeFailure {
    match e {
        DecodeError::ShortHeader { .. } | DecodeError::BadLength { .. } => DecodeFailure::Truncated,
        DecodeError::UnknownType(_) => DecodeFailure::UnknownType,
        DecodeError::ParamCount { .. } | DecodeError::ParamOverflow { .. } => {
            DecodeFailure::BadParams
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::raw::comm_from;
    use crate::event::wire::EventHdr;
    use crate::event::EventBuilder;
    use crate::matcher::MatchOptions;
    use crate::output::{Outputs, OutputsConfig};

    struct Vector(VecDeque<Vec<u8>>);

    impl RecordSource for Vector {
        fn poll(&mut self, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
            let mut n = 0;
            while n < budget {
                let Some(r) = self.0.pop_front() else { break };
                f(&r);
                n += 1;
            }
            n
        }
    }

    /// A worker's shared state with no rules, stdout off, one worker and
    /// an empty process table; `stop` is the worker's stop flag.
    fn setup(stop: Arc<AtomicBool>) -> (Shared, Arc<PipelineMetrics>, Outputs) {
        let mut oc = OutputsConfig::default();
        oc.stdout.enabled = false;
        let outputs = Outputs::start(oc.clone()).unwrap();
        let ruleset = RuleSet::build(&[], &MatchOptions::default()).unwrap();
        let (compiled, _) = CompiledOutputs::compile(&[], &oc).unwrap();
        let engine = Engine::new(ruleset, compiled, &[], outputs.sender(), 1);
        let metrics = Arc::new(PipelineMetrics::new(1));
        let shared = Shared {
            table: Arc::new(ProcessTable::new(1024)),
            ctx: Arc::new(Context::replay("test", 0)),
            engine: Arc::new(ArcSwap::from_pointee(engine)),
            epochs: Arc::new(vec![AtomicU64::new(0)]),
            metrics: Arc::clone(&metrics),
            stop,
        };
        (shared, metrics, outputs)
    }

    fn openat(tgid: u32, comm: &str) -> Vec<u8> {
        openat_at(tgid, comm, 1)
    }

    fn openat_at(tgid: u32, comm: &str, ts_ns: u64) -> Vec<u8> {
        let h = EventHdr {
            ts_ns,
            tid: tgid,
            tgid,
            ptgid: 1,
            ret: 3,
            exec_gen: 1,
            comm: comm_from(comm.as_bytes()),
            ..Default::default()
        };
        EventBuilder::new(EventType(65), h)
            .i64(-100)
            .bytes(b"/etc/hostname")
            .u64(0)
            .u64(0)
            .bytes(b"")
            .finish()
    }

    /// An event of a process the table never heard of waits for its fork,
    /// then is processed anyway: counted as a late attribution and as an
    /// unknown process, and never lost.
    #[test]
    fn unknown_process_is_counted_and_processed() {
        let (shared, metrics, outputs) = setup(Arc::new(AtomicBool::new(true)));
        let src = Vector(VecDeque::from([
            openat(4242, "ghost"),
            openat(4242, "ghost"),
        ]));
        let cfg = WorkerConfig {
            attribution_wait_ns: 1_000_000,
            ..WorkerConfig::default()
        };
        Worker::new(0, 1, src, shared, cfg).run();
        let w = &metrics.workers[0];
        assert_eq!(w.records.get(), 2);
        assert_eq!(w.processed.get(), 2);
        assert_eq!(w.deferred.get(), 2);
        assert_eq!(w.late_attribution.get(), 2);
        assert_eq!(w.unknown_process.get(), 2);
        outputs.shutdown(Duration::from_secs(1));
    }

    /// A worker on an empty source, for driving its state by hand.
    fn idle_worker(cfg: WorkerConfig) -> (Worker<Vector>, Arc<PipelineMetrics>, Outputs) {
        let (shared, metrics, outputs) = setup(Arc::new(AtomicBool::new(false)));
        let w = Worker::new(0, 1, Vector(VecDeque::new()), shared, cfg);
        (w, metrics, outputs)
    }

    /// Issue 14: a retry pass re-parsed every deferred record and removed
    /// from the middle of the queue, so with the queue full (65,536
    /// records) every batch cost the whole queue. Now a pass looks at one
    /// record per waiting process.
    #[test]
    fn deferral_queue_retry_is_linear() {
        let cfg = WorkerConfig {
            attribution_wait_ns: 3_600_000_000_000,
            ..WorkerConfig::default()
        };
        let max = cfg.max_deferred;
        let (mut w, metrics, outputs) = idle_worker(cfg);
        let engine = w.st.shared.engine.load_full();
        let procs = 256u32;
        let now = boot_clock_ns();
        let start = std::time::Instant::now();
        for i in 0..max as u32 {
            let rec = openat_at(10_000 + i % procs, "ghost", now);
            w.st.handle(&rec, &engine);
            if i % 4096 == 4095 {
                w.st.retry_deferred(false);
            }
        }
        assert_eq!(w.st.deferred.len(), max);
        let before = w.st.retry_visits;
        for _ in 0..100 {
            w.st.retry_deferred(false);
        }
        assert_eq!(w.st.retry_visits - before, 100 * procs as u64);
        // 16 batches while filling and 100 full-queue passes: the old
        // queue parsed ~6.5 M records here, this looks at ~30 k heads.
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        let st = &metrics.workers[0];
        assert_eq!(st.deferred.get(), max as u64);
        assert_eq!(st.processed.get(), 0);
        assert_eq!(st.deferred_overflow.get(), 0);
        w.st.retry_deferred(true);
        assert!(w.st.deferred.is_empty());
        assert_eq!(st.processed.get(), max as u64);
        assert_eq!(st.late_attribution.get(), max as u64);
        outputs.shutdown(Duration::from_secs(1));
    }

    /// An expired record is processed; a record whose wait expired but
    /// whose process has an earlier record still waiting stays behind it.
    #[test]
    fn deferral_keeps_process_order_and_expires() {
        let cfg = WorkerConfig {
            attribution_wait_ns: 1_000_000_000,
            ..WorkerConfig::default()
        };
        let (mut w, metrics, outputs) = idle_worker(cfg);
        let engine = w.st.shared.engine.load_full();
        let now = boot_clock_ns();
        let old = now.saturating_sub(5_000_000_000);
        // Process 1: a fresh record, then an expired one behind it.
        w.st.handle(&openat_at(1001, "a", now), &engine);
        w.st.handle(&openat_at(1001, "a", old), &engine);
        // Process 2: an expired record, then a fresh one.
        w.st.handle(&openat_at(1002, "b", old), &engine);
        w.st.handle(&openat_at(1002, "b", now + 1), &engine);
        assert_eq!(w.st.deferred.len(), 4);
        let st = &metrics.workers[0];
        assert_eq!(
            st.deferred_queue.get(),
            0,
            "published per batch, not per event"
        );
        w.st.retry_deferred(false);
        assert_eq!(st.deferred_queue.get(), 3);
        assert_eq!(st.processed.get(), 1);
        assert_eq!(st.late_attribution.get(), 1);
        assert_eq!(w.st.deferred.head(1001).map(|d| d.ts_ns), Some(now));
        assert_eq!(w.st.deferred.head(1002).map(|d| d.ts_ns), Some(now + 1));
        // A later event of a waiting process queues behind it even if it
        // would not wait by itself.
        w.st.handle(&openat_at(1002, "b", old), &engine);
        assert_eq!(w.st.deferred.len(), 4);
        w.st.retry_deferred(true);
        assert!(w.st.deferred.is_empty());
        assert_eq!(st.deferred_queue.get(), 0);
        assert_eq!(st.processed.get(), 5);
        outputs.shutdown(Duration::from_secs(1));
    }

    /// A full queue processes its globally oldest record, whichever
    /// process it belongs to, and counts the overflow.
    #[test]
    fn deferral_overflow_processes_oldest() {
        let cfg = WorkerConfig {
            attribution_wait_ns: 3_600_000_000_000,
            max_deferred: 3,
            ..WorkerConfig::default()
        };
        let (mut w, metrics, outputs) = idle_worker(cfg);
        let engine = w.st.shared.engine.load_full();
        let now = boot_clock_ns();
        // Arrival order: A(1) B(2) A(3) C(4) D(5).
        for (tgid, ts) in [(1u32, 1u64), (2, 2), (1, 3), (3, 4), (4, 5)] {
            w.st.handle(&openat_at(tgid, "x", now + ts), &engine);
        }
        let st = &metrics.workers[0];
        assert_eq!(st.deferred_overflow.get(), 2);
        assert_eq!(st.processed.get(), 2);
        assert_eq!(w.st.deferred.len(), 3);
        // A(1) then B(2) went first; A(3) is now A's head.
        assert_eq!(w.st.deferred.head(1).map(|d| d.ts_ns), Some(now + 3));
        assert!(!w.st.deferred.holds(2));
        let oldest = w.st.deferred.pop_oldest().map(|d| d.ts_ns);
        assert_eq!(oldest, Some(now + 3));
        outputs.shutdown(Duration::from_secs(1));
    }

    /// A source that can be woken: counts parks, delivers its records only
    /// after the first park, and says whether anything was deferred then.
    struct Wakeable {
        recs: VecDeque<Vec<u8>>,
        parks: Arc<AtomicU64>,
        stop: Arc<AtomicBool>,
    }

    impl RecordSource for Wakeable {
        fn poll(&mut self, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
            if self.parks.load(Ordering::Relaxed) == 0 {
                return 0;
            }
            let mut n = 0;
            while n < budget {
                let Some(r) = self.recs.pop_front() else {
                    break;
                };
                f(&r);
                n += 1;
            }
            n
        }

        fn park(&mut self, _timeout: Duration) -> Option<bool> {
            let n = self.parks.fetch_add(1, Ordering::Relaxed) + 1;
            if n >= 3 {
                self.stop.store(true, Ordering::Release);
            }
            Some(!self.recs.is_empty())
        }
    }

    /// An idle worker parks (after its sleep back-off) instead of polling,
    /// and never while an event waits in its deferral queue: the two
    /// records of an unknown process are held for 50 ms, so all parks
    /// but the first come after they were processed.
    #[test]
    fn idle_worker_parks_but_not_with_deferred_events() {
        let stop = Arc::new(AtomicBool::new(false));
        let parks = Arc::new(AtomicU64::new(0));
        let (shared, metrics, outputs) = setup(Arc::clone(&stop));
        let src = Wakeable {
            recs: VecDeque::from([
                openat_at(4242, "ghost", boot_clock_ns()),
                openat_at(4242, "ghost", boot_clock_ns()),
            ]),
            parks: Arc::clone(&parks),
            stop,
        };
        let cfg = WorkerConfig {
            attribution_wait_ns: 50_000_000,
            ..WorkerConfig::default()
        };
        let start = std::time::Instant::now();
        Worker::new(0, 1, src, shared, cfg).run();
        let w = &metrics.workers[0];
        assert_eq!(parks.load(Ordering::Relaxed), 3);
        assert_eq!(w.parks.get(), 3);
        assert_eq!(w.processed.get(), 2);
        // The second park waited for the deferred events' 50 ms.
        assert!(start.elapsed() >= Duration::from_millis(50));
        assert!(w.idle_polls.get() >= 3);
        outputs.shutdown(Duration::from_secs(1));
    }
}
