//! The outputs front: the handle workers send alerts through, the
//! dispatcher thread that filters, collapses repeats and fans alerts out
//! to the sinks, and shutdown.
//!
//! ```text
//! workers ──try_send──▶ [front queue] ──▶ dispatcher ──try_send──▶ [sink queue] ──▶ sink thread
//!                        bounded          priority filter            bounded, one per sink
//!                                         repeat collapsing
//! ```
//!
//! Nothing on the path from a worker blocks: a full queue drops the alert
//! and counts it. The dispatcher exists (rather than workers writing into
//! every sink queue themselves) so that repeat collapsing has one owner
//! without a lock, and a worker's cost per alert is one channel send.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver, Sender};

use super::alert::Alert;
use super::config::OutputsConfig;
use super::sinks::file::FileSink;
use super::sinks::http::{HttpSetupError, HttpSink};
use super::sinks::program::ProgramSink;
use super::sinks::stdout::StdoutSink;
use super::sinks::syslog::SyslogSink;
use super::sinks::{Counters, Ctl, DropCounts, DropReason, SinkHandle, SinkStats};
use crate::rules::Priority;

/// Why the outputs cannot start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error(transparent)]
    Config(#[from] super::config::ConfigError),
    /// The HTTP sink's TLS material cannot be loaded.
    #[error(transparent)]
    Http(#[from] HttpSetupError),
    /// A thread could not be started.
    #[error("cannot start output thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// A snapshot of the outputs' counters, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputsStats {
    /// Alerts accepted into the front queue.
    pub received: u64,
    /// Alerts lost before reaching any sink (`queue_full`, `closed`).
    pub dropped: DropCounts,
    /// Alerts below the configured minimum `priority` (not a loss).
    pub filtered: u64,
    /// Alerts held back by repeat collapsing; each is represented by the
    /// `repeat_count` of a summary alert (not a loss).
    pub repeats_suppressed: u64,
    /// Repeat summaries emitted.
    pub repeat_summaries: u64,
    /// Alerts waiting in the front queue now.
    pub queue_depth: usize,
    /// The front queue's bound.
    pub queue_capacity: usize,
    /// Per sink.
    pub sinks: Vec<SinkStats>,
}

#[derive(Debug, Default)]
struct FrontCounters {
    received: AtomicU64,
    filtered: AtomicU64,
    suppressed: AtomicU64,
    summaries: AtomicU64,
    drops: Counters,
}

/// A cloneable, non-blocking handle for sending alerts (one per worker).
#[derive(Clone)]
pub struct OutputSender {
    tx: Sender<Alert>,
    counters: Arc<FrontCounters>,
    closed: Arc<AtomicBool>,
}

impl OutputSender {
    /// Queues an alert for every sink without blocking. Returns `false`
    /// when the alert was dropped (front queue full, or outputs shut
    /// down); the drop is already counted in [`OutputsStats::dropped`].
    pub fn send(&self, alert: Alert) -> bool {
        if self.closed.load(Ordering::Acquire) {
            self.counters.drops.lost(DropReason::Closed, 1);
            return false;
        }
        match self.tx.try_send(alert) {
            Ok(()) => {
                self.counters.received.fetch_add(1, Ordering::Relaxed);
                true
            }
            Err(crossbeam_channel::TrySendError::Full(_)) => {
                self.counters.drops.lost(DropReason::QueueFull, 1);
                false
            }
            Err(crossbeam_channel::TrySendError::Disconnected(_)) => {
                self.counters.drops.lost(DropReason::Closed, 1);
                false
            }
        }
    }
}

enum FrontCtl {
    /// Drain the front queue, flush repeat summaries, tell sinks to drain.
    Drain,
}

/// The running outputs: the dispatcher and one thread per enabled sink.
pub struct Outputs {
    sender: OutputSender,
    front_rx: Receiver<Alert>,
    ctl: Sender<FrontCtl>,
    capacity: usize,
    sinks: Arc<Vec<SinkHandle>>,
    dispatcher: Option<JoinHandle<()>>,
}

impl Outputs {
    /// Starts the dispatcher and the enabled sinks (stdout, syslog, file,
    /// HTTP, program) described by `config`.
    pub fn start(config: OutputsConfig) -> Result<Outputs, StartError> {
        config.validate()?;
        let cap = config.effective_queue_capacity();
        let buffered = config.buffered_outputs;
        let mut sinks = Vec::new();
        let spawn = |name, sink, minp, aborter| {
            SinkHandle::spawn(name, sink, cap, minp, buffered, aborter).map_err(StartError::Thread)
        };
        if config.stdout.enabled {
            sinks.push(spawn(
                "stdout",
                Box::new(StdoutSink::new()),
                config.stdout.min_priority,
                None,
            )?);
        }
        if config.syslog.enabled {
            let s = SyslogSink::new(config.syslog.socket.clone(), config.syslog.tag.clone());
            sinks.push(spawn(
                "syslog",
                Box::new(s),
                config.syslog.min_priority,
                None,
            )?);
        }
        if config.file.enabled {
            let s = FileSink::new(config.file.filename.clone(), config.file.keep_alive);
            sinks.push(spawn("file", Box::new(s), config.file.min_priority, None)?);
        }
        if config.http.enabled {
            let s = HttpSink::new(&config.http, config.json_output)?;
            sinks.push(spawn("http", Box::new(s), config.http.min_priority, None)?);
        }
        if config.program.enabled {
            let s = ProgramSink::new(config.program.program.clone(), config.program.keep_alive);
            let ab = s.aborter();
            sinks.push(spawn(
                "program",
                Box::new(s),
                config.program.min_priority,
                Some(ab),
            )?);
        }
        let sinks = Arc::new(sinks);
        let (tx, rx) = crossbeam_channel::bounded(cap);
        let (ctl, ctl_rx) = crossbeam_channel::unbounded();
        let counters = Arc::new(FrontCounters::default());
        let d = Dispatcher {
            rx: rx.clone(),
            ctl: ctl_rx,
            sinks: sinks.clone(),
            counters: counters.clone(),
            min_priority: config.priority,
            repeats: Repeats::new(config.repeat_window, config.repeat_max_keys),
        };
        let dispatcher = std::thread::Builder::new()
            .name("kestrel-out-dispatch".into())
            .spawn(move || d.run())
            .map_err(StartError::Thread)?;
        Ok(Outputs {
            sender: OutputSender {
                tx,
                counters,
                closed: Arc::new(AtomicBool::new(false)),
            },
            front_rx: rx,
            ctl,
            capacity: cap,
            sinks,
            dispatcher: Some(dispatcher),
        })
    }

    /// A handle for workers to send alerts through.
    pub fn sender(&self) -> OutputSender {
        self.sender.clone()
    }

    /// A snapshot of every counter.
    pub fn stats(&self) -> OutputsStats {
        let c = &self.sender.counters;
        OutputsStats {
            received: c.received.load(Ordering::Relaxed),
            dropped: c.drops.drops(),
            filtered: c.filtered.load(Ordering::Relaxed),
            repeats_suppressed: c.suppressed.load(Ordering::Relaxed),
            repeat_summaries: c.summaries.load(Ordering::Relaxed),
            queue_depth: self.front_rx.len(),
            queue_capacity: self.capacity,
            sinks: self.sinks.iter().map(SinkHandle::stats).collect(),
        }
    }

    /// Asks file sinks to reopen their file (log rotation; the daemon
    /// calls this on SIGUSR1). Returns at once; the reopen happens on the
    /// sink's thread before its next alert.
    pub fn reopen_files(&self) {
        for s in self.sinks.iter().filter(|s| s.name == "file") {
            if s.ctl.send(Ctl::Reopen).is_err() {
                log::warn!("output file: cannot request reopen: sink thread has stopped");
            }
        }
    }

    /// Stops accepting alerts, delivers everything queued (including
    /// pending repeat summaries), flushes and closes the sinks. Waits at
    /// most `timeout`; what is still queued then is counted as dropped
    /// (`shutdown`), sinks stuck in a write are unblocked where possible
    /// (a program's process group is killed) and not waited for further.
    /// Returns the final counters.
    pub fn shutdown(mut self, timeout: Duration) -> OutputsStats {
        let deadline = Instant::now() + timeout;
        self.sender.closed.store(true, Ordering::Release);
        if self.ctl.send(FrontCtl::Drain).is_err() {
            log::warn!("output dispatcher already stopped");
        }
        let mut joined_dispatcher = true;
        if let Some(d) = self.dispatcher.take() {
            if let Some(d) = join_until(d, deadline) {
                joined_dispatcher = false;
                self.dispatcher = Some(d);
            }
        }
        if !joined_dispatcher {
            // The dispatcher is stuck: whatever is still in the front
            // queue will never reach a sink.
            let mut n = 0;
            while self.front_rx.try_recv().is_ok() {
                n += 1;
            }
            self.sender.counters.drops.lost(DropReason::Shutdown, n);
        }
        let Some(sinks) = Arc::get_mut(&mut self.sinks) else {
            // The dispatcher still holds the sinks (it did not stop in
            // time): abort them through the shared handles.
            for s in self.sinks.iter() {
                s.abort_now();
            }
            return self.stats();
        };
        for s in sinks.iter_mut() {
            if let Some(t) = s.thread.take() {
                if let Some(t) = join_until(t, deadline) {
                    log::warn!(
                        "output {}: not drained within the shutdown timeout; remaining alerts dropped",
                        s.name
                    );
                    s.abort_now();
                    s.thread = Some(t);
                }
            }
        }
        // Aborted sinks get a short grace to account for the alert they
        // were writing (e.g. a killed program's broken pipe).
        let grace = Instant::now() + Duration::from_millis(500);
        for s in sinks.iter_mut() {
            if let Some(t) = s.thread.take() {
                if let Some(t) = join_until(t, grace) {
                    log::warn!("output {}: sink thread did not stop", s.name);
                    s.thread = Some(t);
                }
            }
        }
        self.stats()
    }
}

/// Joins `t` if it finishes before `deadline`; otherwise hands it back.
fn join_until(t: JoinHandle<()>, deadline: Instant) -> Option<JoinHandle<()>> {
    while !t.is_finished() {
        if Instant::now() >= deadline {
            return Some(t);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if t.join().is_err() {
        log::error!("output thread panicked");
    }
    None
}

/// An open repeat window.
struct Window {
    /// The last held-back copy and how many were held back.
    last: Option<Alert>,
    held: u64,
}

/// Repeat collapsing state: identical (rule, message) alerts within a
/// window after a delivered one are held back and summarised.
struct Repeats {
    window: Duration,
    max_keys: usize,
    open: HashMap<(Arc<str>, String), Window>,
    /// Window ends in opening order (windows all have the same length, so
    /// this is also closing order).
    order: VecDeque<(Instant, (Arc<str>, String))>,
}

impl Repeats {
    fn new(window: Duration, max_keys: usize) -> Repeats {
        Repeats {
            window,
            max_keys,
            open: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// `Some(alert)` to deliver now, `None` if held back.
    fn admit(&mut self, a: Alert, now: Instant) -> Option<Alert> {
        if self.window.is_zero() {
            return Some(a);
        }
        let key = (a.rule_arc().clone(), a.message().to_string());
        if let Some(w) = self.open.get_mut(&key) {
            w.held += 1;
            w.last = Some(a);
            return None;
        }
        if self.open.len() < self.max_keys {
            self.order.push_back((now + self.window, key.clone()));
            self.open.insert(
                key,
                Window {
                    last: None,
                    held: 0,
                },
            );
        }
        Some(a)
    }

    fn next_deadline(&self) -> Option<Instant> {
        self.order.front().map(|(t, _)| *t)
    }

    /// Closes the windows ended by `now` (all of them with `None`),
    /// returning the summaries to deliver.
    fn expire(&mut self, now: Option<Instant>) -> Vec<Alert> {
        let mut out = Vec::new();
        while let Some((t, _)) = self.order.front() {
            if now.is_some_and(|n| *t > n) {
                break;
            }
            let (_, key) = self.order.pop_front().expect("front exists");
            if let Some(w) = self.open.remove(&key) {
                if let (Some(last), n) = (w.last, w.held) {
                    out.push(last.repeat_summary(n));
                }
            }
        }
        out
    }
}

struct Dispatcher {
    rx: Receiver<Alert>,
    ctl: Receiver<FrontCtl>,
    sinks: Arc<Vec<SinkHandle>>,
    counters: Arc<FrontCounters>,
    min_priority: Priority,
    repeats: Repeats,
}

impl Dispatcher {
    fn run(mut self) {
        loop {
            let timeout = self
                .repeats
                .next_deadline()
                .map(|t| t.saturating_duration_since(Instant::now()))
                .unwrap_or(Duration::from_secs(1));
            select! {
                recv(self.rx) -> a => match a {
                    Ok(a) => self.dispatch(a),
                    Err(_) => break,
                },
                recv(self.ctl) -> c => match c {
                    Ok(FrontCtl::Drain) | Err(_) => break,
                },
                default(timeout) => {}
            }
            for s in self.repeats.expire(Some(Instant::now())) {
                self.fan_out(s);
            }
        }
        // Drain: everything already accepted goes out, then the summaries
        // of open windows.
        while let Ok(a) = self.rx.try_recv() {
            self.dispatch(a);
        }
        for s in self.repeats.expire(None) {
            self.fan_out(s);
        }
        for s in self.sinks.iter() {
            if s.ctl.send(Ctl::Drain).is_err() {
                log::warn!("output {}: sink thread already stopped", s.name);
            }
        }
    }

    fn dispatch(&mut self, a: Alert) {
        if a.priority() > self.min_priority {
            self.counters.filtered.fetch_add(1, Ordering::Relaxed);
            return;
        }
        match self.repeats.admit(a, Instant::now()) {
            Some(a) => {
                let a = Arc::new(a);
                for s in self.sinks.iter() {
                    s.offer(&a);
                }
            }
            None => {
                self.counters.suppressed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    fn fan_out(&self, summary: Alert) {
        self.counters.summaries.fetch_add(1, Ordering::Relaxed);
        let a = Arc::new(summary);
        for s in self.sinks.iter() {
            s.offer(&a);
        }
    }
}
