//! Alert sinks and the thread that drives each one.
//!
//! Every sink runs on its own named thread behind a bounded queue. The
//! dispatcher only ever `try_send`s into it: a slow or dead sink fills its
//! queue and further alerts are dropped *for that sink* and counted
//! (`queue_full`), never blocking the dispatcher or the workers. Each
//! alert a sink takes from its queue ends in exactly one counter:
//! `delivered`, or a drop with its reason. So at rest, for each sink,
//! `enqueued == delivered + dropped(all reasons except queue_full)` and
//! `offered == enqueued + dropped(queue_full)`.
//!
//! Buffered sinks (stdout, file) count an alert as delivered only once
//! the buffer holding it has been flushed; a failed flush counts every
//! alert in the buffer as lost (`write_error`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender, TryRecvError};

use super::alert::Alert;
use crate::rules::Priority;

pub mod file;
pub mod http;
pub mod program;
pub mod stdout;
pub mod syslog;

/// Why an alert was lost (for one sink, or before reaching any sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// The queue was full.
    QueueFull,
    /// Writing to a file, stdout, the syslog socket or a program's stdin
    /// failed.
    WriteError,
    /// The program could not be started.
    SpawnError,
    /// The HTTP server answered with a non-2xx status (after retries).
    HttpStatus,
    /// The HTTP request failed: connection, TLS, timeout (after retries).
    HttpError,
    /// Still queued (or being retried) when shutdown's deadline passed.
    Shutdown,
    /// The sink's thread failed (panicked).
    SinkFailed,
    /// Sent after the outputs were shut down.
    Closed,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 8;

    /// Every reason, in index order.
    pub const ALL: [DropReason; DropReason::COUNT] = [
        DropReason::QueueFull,
        DropReason::WriteError,
        DropReason::SpawnError,
        DropReason::HttpStatus,
        DropReason::HttpError,
        DropReason::Shutdown,
        DropReason::SinkFailed,
        DropReason::Closed,
    ];

    /// The metric label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::WriteError => "write_error",
            DropReason::SpawnError => "spawn_error",
            DropReason::HttpStatus => "http_status",
            DropReason::HttpError => "http_error",
            DropReason::Shutdown => "shutdown",
            DropReason::SinkFailed => "sink_failed",
            DropReason::Closed => "closed",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Counts of lost alerts by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounts([u64; DropReason::COUNT]);

impl DropCounts {
    /// Alerts lost for `reason`.
    pub fn get(&self, reason: DropReason) -> u64 {
        self.0[reason.index()]
    }

    /// Alerts lost for any reason.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Every reason with its count (zeros included).
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL.iter().map(|&r| (r, self.get(r)))
    }
}

/// Live counters, shared between a sink's thread and the stats reader.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub offered: AtomicU64,
    pub enqueued: AtomicU64,
    pub delivered: AtomicU64,
    pub filtered: AtomicU64,
    pub errors: AtomicU64,
    pub retries: AtomicU64,
    dropped: [AtomicU64; DropReason::COUNT],
}

impl Counters {
    pub fn lost(&self, reason: DropReason, n: u64) {
        self.dropped[reason.index()].fetch_add(n, Ordering::Relaxed);
    }

    pub fn drops(&self) -> DropCounts {
        let mut d = DropCounts::default();
        for (i, c) in self.dropped.iter().enumerate() {
            d.0[i] = c.load(Ordering::Relaxed);
        }
        d
    }
}

/// A snapshot of one sink's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkStats {
    /// `stdout`, `file`, `syslog`, `http` or `program`.
    pub name: &'static str,
    /// Alerts handed to this sink (after its priority filter).
    pub offered: u64,
    /// Alerts that entered its queue.
    pub enqueued: u64,
    /// Alerts written successfully.
    pub delivered: u64,
    /// Alerts below the sink's `min_priority` (not a loss).
    pub filtered: u64,
    /// Lost alerts by reason.
    pub dropped: DropCounts,
    /// Failed attempts (including ones a retry then recovered) and failed
    /// reopen/flush calls.
    pub errors: u64,
    /// Retry attempts (HTTP) and restarts (program).
    pub retries: u64,
    /// Alerts waiting in the queue now.
    pub queue_depth: usize,
    /// The queue's bound.
    pub queue_capacity: usize,
}

/// A lost alert: why, and the error behind it.
#[derive(Debug)]
pub(crate) struct Loss {
    pub reason: DropReason,
    pub error: String,
}

impl Loss {
    pub fn new(reason: DropReason, error: impl std::fmt::Display) -> Loss {
        Loss {
            reason,
            error: error.to_string(),
        }
    }
}

/// What a sink thread lends its sink while writing.
pub(crate) struct Ctx {
    pub counters: Arc<Counters>,
    pub abort: Arc<AtomicBool>,
}

impl Ctx {
    /// Sleeps up to `d`; returns `false` (early) if shutdown's deadline
    /// passed, so retry loops stop.
    pub fn sleep(&self, d: Duration) -> bool {
        let end = Instant::now() + d;
        loop {
            if self.abort.load(Ordering::Relaxed) {
                return false;
            }
            let now = Instant::now();
            if now >= end {
                return true;
            }
            std::thread::sleep((end - now).min(Duration::from_millis(10)));
        }
    }

    pub fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed)
    }
}

/// One alert destination.
pub(crate) trait Sink: Send + 'static {
    /// Writes one alert. Buffering sinks may keep it in a buffer until
    /// [`Sink::flush`].
    fn write(&mut self, alert: &Alert, ctx: &Ctx) -> Result<(), Loss>;
    /// Pushes buffered alerts out.
    fn flush(&mut self) -> Result<(), Loss> {
        Ok(())
    }
    /// Whether `write` buffers (then delivery is counted at flush).
    fn buffers(&self) -> bool {
        false
    }
    /// Reopens files (log rotation).
    fn reopen(&mut self) -> std::io::Result<()> {
        Ok(())
    }
    /// Releases resources at the end (closes files, waits for children).
    fn close(&mut self) {}
}

/// Something that unblocks a sink stuck in a write at shutdown's deadline
/// (the program sink kills its child).
pub(crate) type Aborter = Arc<dyn Fn() + Send + Sync>;

pub(crate) enum Ctl {
    Reopen,
    Drain,
}

/// Logs sink errors at most once per second, with the number skipped.
struct ErrLog {
    name: &'static str,
    last: Option<Instant>,
    skipped: u64,
}

impl ErrLog {
    fn log(&mut self, loss: &Loss) {
        let now = Instant::now();
        if self
            .last
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(1))
        {
            self.skipped += 1;
            return;
        }
        if self.skipped > 0 {
            log::warn!(
                "output {}: alert lost ({}): {} ({} more losses not logged)",
                self.name,
                loss.reason.as_str(),
                loss.error,
                self.skipped
            );
        } else {
            log::warn!(
                "output {}: alert lost ({}): {}",
                self.name,
                loss.reason.as_str(),
                loss.error
            );
        }
        self.last = Some(now);
        self.skipped = 0;
    }
}

/// The dispatcher's and the front's handle on a running sink.
pub(crate) struct SinkHandle {
    pub name: &'static str,
    pub min_priority: Option<Priority>,
    pub tx: Sender<Arc<Alert>>,
    /// A receiver clone, to count what is left at shutdown's deadline.
    pub rx: Receiver<Arc<Alert>>,
    pub ctl: Sender<Ctl>,
    pub counters: Arc<Counters>,
    pub abort: Arc<AtomicBool>,
    pub dead: Arc<AtomicBool>,
    pub aborter: Option<Aborter>,
    pub capacity: usize,
    pub thread: Option<JoinHandle<()>>,
}

impl SinkHandle {
    /// Starts `sink` on its own thread.
    pub fn spawn(
        name: &'static str,
        sink: Box<dyn Sink>,
        capacity: usize,
        min_priority: Option<Priority>,
        buffered: bool,
        aborter: Option<Aborter>,
    ) -> std::io::Result<SinkHandle> {
        let (tx, rx) = crossbeam_channel::bounded(capacity);
        let (ctl, ctl_rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(Counters::default());
        let abort = Arc::new(AtomicBool::new(false));
        let dead = Arc::new(AtomicBool::new(false));
        let worker = Worker {
            sink,
            rx: rx.clone(),
            ctl: ctl_rx,
            ctx: Ctx {
                counters: counters.clone(),
                abort: abort.clone(),
            },
            buffered,
            unflushed: 0,
            errlog: ErrLog {
                name,
                last: None,
                skipped: 0,
            },
        };
        let dead2 = dead.clone();
        let thread = std::thread::Builder::new()
            .name(format!("kestrel-out-{name}"))
            .spawn(move || {
                let r =
                    std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || worker.run()));
                if r.is_err() {
                    log::error!("output {name}: sink thread failed; its alerts are now dropped");
                    dead2.store(true, Ordering::Release);
                }
            })?;
        Ok(SinkHandle {
            name,
            min_priority,
            tx,
            rx,
            ctl,
            counters,
            abort,
            dead,
            aborter,
            capacity,
            thread: Some(thread),
        })
    }

    /// Offers an alert without blocking; losses are counted.
    pub fn offer(&self, alert: &Arc<Alert>) {
        let c = &self.counters;
        if self.min_priority.is_some_and(|m| alert.priority() > m) {
            c.filtered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        c.offered.fetch_add(1, Ordering::Relaxed);
        if self.dead.load(Ordering::Acquire) {
            c.lost(DropReason::SinkFailed, 1);
            return;
        }
        match self.tx.try_send(alert.clone()) {
            Ok(()) => {
                c.enqueued.fetch_add(1, Ordering::Relaxed);
            }
            Err(crossbeam_channel::TrySendError::Full(_)) => c.lost(DropReason::QueueFull, 1),
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                c.lost(DropReason::SinkFailed, 1)
            }
        }
    }

    pub fn stats(&self) -> SinkStats {
        let c = &self.counters;
        SinkStats {
            name: self.name,
            offered: c.offered.load(Ordering::Relaxed),
            enqueued: c.enqueued.load(Ordering::Relaxed),
            delivered: c.delivered.load(Ordering::Relaxed),
            filtered: c.filtered.load(Ordering::Relaxed),
            dropped: c.drops(),
            errors: c.errors.load(Ordering::Relaxed),
            retries: c.retries.load(Ordering::Relaxed),
            queue_depth: self.tx.len(),
            queue_capacity: self.capacity,
        }
    }

    /// Gives up on the sink: stops its retries, unblocks it, and counts
    /// what is still queued as lost.
    pub fn abort_now(&self) {
        self.abort.store(true, Ordering::Release);
        if let Some(a) = &self.aborter {
            a();
        }
        let mut n = 0;
        while self.rx.try_recv().is_ok() {
            n += 1;
        }
        if n > 0 {
            self.counters.lost(DropReason::Shutdown, n);
        }
    }
}

struct Worker {
    sink: Box<dyn Sink>,
    rx: Receiver<Arc<Alert>>,
    ctl: Receiver<Ctl>,
    ctx: Ctx,
    buffered: bool,
    unflushed: u64,
    errlog: ErrLog,
}

impl Worker {
    fn run(mut self) {
        let mut draining = false;
        loop {
            if self.ctx.aborted() {
                break;
            }
            if draining {
                match self.rx.try_recv() {
                    Ok(a) => self.handle(&a),
                    Err(TryRecvError::Empty) | Err(TryRecvError::Disconnected) => break,
                }
                continue;
            }
            select! {
                recv(self.rx) -> a => match a {
                    Ok(a) => self.handle(&a),
                    Err(_) => draining = true,
                },
                recv(self.ctl) -> c => match c {
                    Ok(Ctl::Reopen) => {
                        self.flush();
                        if let Err(e) = self.sink.reopen() {
                            self.ctx.counters.errors.fetch_add(1, Ordering::Relaxed);
                            log::warn!("output {}: reopen failed: {e}", self.errlog.name);
                        }
                    }
                    Ok(Ctl::Drain) | Err(_) => draining = true,
                },
                default(Duration::from_millis(200)) => {}
            }
            // Unbuffered mode flushes after every alert; buffered mode when
            // the queue runs empty (batching under load, prompt when idle).
            if self.unflushed > 0 && (!self.buffered || self.rx.is_empty()) {
                self.flush();
            }
        }
        // Whatever is left when aborting is counted by the aborter.
        self.flush();
        self.sink.close();
    }

    fn handle(&mut self, a: &Alert) {
        let c = &self.ctx.counters;
        if self.ctx.aborted() {
            c.lost(DropReason::Shutdown, 1);
            return;
        }
        match self.sink.write(a, &self.ctx) {
            Ok(()) => {
                if self.sink.buffers() {
                    self.unflushed += 1;
                } else {
                    c.delivered.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(loss) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                c.lost(loss.reason, 1);
                self.errlog.log(&loss);
            }
        }
    }

    fn flush(&mut self) {
        let n = std::mem::take(&mut self.unflushed);
        let c = &self.ctx.counters;
        match self.sink.flush() {
            Ok(()) => {
                c.delivered.fetch_add(n, Ordering::Relaxed);
            }
            Err(loss) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                c.lost(loss.reason, n);
                self.errlog.log(&loss);
            }
        }
    }
}
