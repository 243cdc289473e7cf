//! The daemon: load configuration and rules, attach the probe, seed the
//! process table, run one pinned worker per CPU ring, serve metrics, and
//! handle signals (SIGHUP reload, SIGUSR1 reopen files, SIGTERM/SIGINT
//! drain and exit).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context as _, Result};
use arc_swap::ArcSwap;
use kestrel_engine::event::wire::{Category, Counters};
use kestrel_engine::event::{EventType, RawEvent, EVENTS};
use kestrel_engine::matcher::RuleSet;
use kestrel_engine::output::{CompiledOutputs, Outputs, OutputsConfig};
use kestrel_engine::pipeline::falco_metrics;
use kestrel_engine::pipeline::http::WebServer;
use kestrel_engine::pipeline::metrics::{PipelineMetrics, PromWriter};
use kestrel_engine::pipeline::worker::{Engine, RecordSource, Shared, Worker, WorkerConfig};
use kestrel_engine::rules::{Priority, Rule};
use kestrel_engine::state::{scan_proc, Context, ProcessTable};
use kestrel_probe::{Probe, ProbeConfig, RingReader};

use crate::config::Config;
use crate::rulesrc;
use crate::settings::Settings;
use crate::RunArgs;

/// The rings one worker reads (one per CPU by default; several when
/// `kestrel.workers` is below the number of CPUs).
struct RingSource(Vec<RingReader>);

impl RecordSource for RingSource {
    fn poll(&mut self, budget: usize, f: &mut dyn FnMut(&[u8])) -> usize {
        let mut n = 0;
        for r in &mut self.0 {
            if n >= budget {
                break;
            }
            n += r.poll(budget - n, &mut *f);
        }
        n
    }

    fn park(&mut self, timeout: Duration) -> Option<bool> {
        Some(match &self.0[..] {
            [one] => one.park(timeout),
            many => kestrel_probe::park_many(many, timeout),
        })
    }
}

/// Which rings each of `workers` workers reads: ring i goes to worker
/// i mod workers (0 or more than the rings: one worker per ring).
fn assign_rings<T>(rings: Vec<T>, workers: usize) -> Vec<Vec<T>> {
    let n = if workers == 0 || workers > rings.len() {
        rings.len()
    } else {
        workers
    };
    let mut sets: Vec<Vec<T>> = (0..n).map(|_| Vec::new()).collect();
    for (i, r) in rings.into_iter().enumerate() {
        sets[i % n].push(r);
    }
    sets
}

/// The CPU the worker of `ring_cpu`'s ring runs on: `offset` CPUs further
/// in the list of CPUs this process may use (wrapping), so that with the
/// default offset of 1 a saturated CPU's events are handled on its
/// neighbour instead of taking time from the workload that produces them.
fn worker_cpu(ring_cpu: usize, offset: usize, online: &[usize]) -> usize {
    match online.iter().position(|&c| c == ring_cpu) {
        Some(i) => online[(i + offset) % online.len()],
        None => ring_cpu,
    }
}

/// Whether the process table needs events of this type.
pub fn is_state_event(ty: EventType) -> bool {
    kestrel_probe::events::PROCESS_STATE.contains(&ty.name())
}

/// What the probe should capture: the rules' event types, the process-state
/// set, and `base_syscalls.custom_set` (or everything with
/// `base_syscalls.all`).
pub fn probe_event_types(ruleset: &RuleSet, s: &Settings) -> Result<Vec<EventType>> {
    let set = ruleset.event_types();
    let mut out: Vec<EventType> = Vec::new();
    for e in EVENTS {
        if e.ty == EventType::PROCINFO {
            continue;
        }
        let by_rules = set.is_all() || set.contains(e.ty);
        if s.all_syscalls || by_rules || kestrel_probe::events::PROCESS_STATE.contains(&e.name) {
            out.push(e.ty);
        }
    }
    for name in &s.custom_syscalls {
        let ty = EventType::from_name(name).ok_or_else(|| {
            anyhow!("config key 'base_syscalls.custom_set': kestrel does not capture '{name}'")
        })?;
        if !out.contains(&ty) {
            out.push(ty);
        }
    }
    // Rules reading which end of a connection a socket is (fd.sip,
    // fd.sport, ... of a dup, a send, ...) need the accepts that make
    // sockets server ends, and the closes that end them.
    let mut extra: Vec<&str> = Vec::new();
    if crate::kfilter::needs_socket_roles(&out) {
        extra.extend(crate::kfilter::SOCKET_ROLE_STATE);
    }
    // A rule on an fd-creating call needs close to keep its picture honest.
    if out.iter().any(|t| matches!(t.0, 64..=67)) {
        extra.push("close");
    }
    for name in extra {
        if let Some(ty) = EventType::from_name(name) {
            if !out.contains(&ty) {
                out.push(ty);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Rules, compiled matcher and outputs, built from settings.
struct Built {
    rules: Vec<Rule>,
    ruleset: RuleSet,
    compiled: CompiledOutputs,
    summary: String,
}

fn build(settings: &Settings) -> Result<Built> {
    let loaded = rulesrc::load(&settings.rules_files)?;
    let rules = loaded.rules;
    let ruleset = RuleSet::build(&rules, &settings.match_opts).context("building the matcher")?;
    let (compiled, warnings) =
        CompiledOutputs::compile(&rules, &settings.outputs).context("compiling rule outputs")?;
    for w in warnings {
        log::warn!("{w:?}");
    }
    let summary = format!(
        "{} rules loaded from {}, {} enabled",
        rules.len(),
        loaded.origin,
        ruleset.len()
    );
    Ok(Built {
        rules,
        ruleset,
        compiled,
        summary,
    })
}

/// Entry point of `kestrel` (no subcommand).
pub fn run(args: RunArgs) -> Result<ExitCode> {
    let mut warnings = Vec::new();
    let cfg = Config::load(args.config.as_deref(), &args.options, &mut |w| {
        warnings.push(w)
    })?;
    let mut settings = Settings::from_config(&cfg, &args.rules)?;
    if args.unbuffered {
        settings.outputs.buffered_outputs = false;
    }
    crate::init_logging(settings.log_level);
    for w in warnings {
        log::warn!("{w}");
    }
    let built = build(&settings)?;
    log::info!("{}", built.summary);
    let types = probe_event_types(&built.ruleset, &settings)?;
    let kf = crate::kfilter::derive(&built.ruleset, settings.kernel_filter);
    let filter = crate::kfilter::program(&kf);
    let filter_desc = crate::kfilter::describe(&kf, &filter, &types);
    if args.dry_run {
        println!("{}", built.summary);
        println!("{filter_desc}");
        println!(
            "would capture {} event types: {}",
            types.len(),
            types
                .iter()
                .map(|t| t.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!("configuration: {} (ok)", cfg.origin());
        return Ok(ExitCode::SUCCESS);
    }
    // Before anything with effects outside this process: the probe, the
    // outputs, the web port.
    let _instance = match &settings.lock_file {
        Some(p) => {
            let l = crate::instance::InstanceLock::acquire(p)?;
            log::debug!("holding the instance lock {}", l.path().display());
            Some(l)
        }
        None => None,
    };
    if unsafe { libc::geteuid() } != 0 {
        log::warn!("not running as root: loading the eBPF probe needs CAP_BPF and CAP_PERFMON");
    }

    let outputs = Outputs::start(settings.outputs.clone()).context("starting the outputs")?;

    let ctx = Arc::new(
        Context::system_with(&settings.containers)
            .context("reading users, host name and containers")?,
    );
    let table = Arc::new(ProcessTable::new(settings.table_capacity));
    let ncpus = kestrel_probe::possible_cpus().context("counting CPUs")? as usize;
    let ring_size = settings.ring_size_for(ncpus);
    let mut probe = Probe::load(ProbeConfig {
        ring_size,
        event_types: types.clone(),
        exclude_tgid: Some(std::process::id()),
        drop_failed: settings.drop_failed,
        snaplen: settings.snaplen,
        self_protect: settings.self_protection,
    })
    .context("loading the eBPF probe")?;
    if settings.self_protection {
        kestrel_engine::pipeline::tamper::set_object_names(
            probe
                .self_objects()
                .iter()
                .map(|o| (o.key(), o.name.clone()))
                .collect(),
        );
        log::info!(
            "self-protection: guarding {} BPF objects of this process",
            probe.self_objects().len()
        );
    }
    let gen = probe
        .install_filter(&filter)
        .context("installing the kernel interest filter")?;
    log::info!("{filter_desc}");
    let mut ruleset = built.ruleset;
    ruleset.set_kernel_marks(&kf, gen);
    let engine = Arc::new(ArcSwap::from_pointee(Engine::new(
        ruleset,
        built.compiled,
        &built.rules,
        outputs.sender(),
        1,
    )));
    // Seed the table after attaching, so that no process slips between the
    // scan and the start of capture.
    let started = Instant::now();
    let records = scan_proc(std::path::Path::new("/proc")).context("scanning /proc")?;
    for rec in &records {
        match RawEvent::parse(rec) {
            Ok(ev) => table.apply(&ev),
            Err(e) => log::warn!("/proc scan produced an undecodable record: {e}"),
        }
    }
    log::info!(
        "process table seeded with {} processes in {:.1} ms",
        records.len(),
        started.elapsed().as_secs_f64() * 1e3
    );
    let readers = probe.readers().context("opening the ring buffers")?;
    let nrings = readers.len();
    let sets = assign_rings(readers, settings.workers);
    let nworkers = sets.len();
    let metrics = Arc::new(PipelineMetrics::new(nworkers));
    let stop = Arc::new(AtomicBool::new(false));
    let shared = Shared {
        table: Arc::clone(&table),
        ctx: Arc::clone(&ctx),
        engine: Arc::clone(&engine),
        epochs: Arc::new((0..nworkers).map(|_| AtomicU64::new(0)).collect()),
        metrics: Arc::clone(&metrics),
        stop: Arc::clone(&stop),
    };
    let online: Vec<usize> = core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default();
    let mut workers = Vec::with_capacity(nworkers);
    for (i, set) in sets.into_iter().enumerate() {
        let cpu = set[0].cpu() as usize;
        let cpus: Vec<String> = set.iter().map(|r| r.cpu().to_string()).collect();
        let defaults = WorkerConfig::default();
        let wcfg = WorkerConfig {
            attribution_wait_ns: settings.attribution_wait.as_nanos() as u64,
            pin_cpu: settings
                .pin_workers
                .then(|| worker_cpu(cpu, settings.worker_cpu_offset, &online)),
            nice: settings.worker_nice,
            realtime: settings.worker_realtime,
            batch_pause: settings.worker_batch_pause,
            min_batch_pause: settings
                .worker_min_batch_pause
                .min(settings.worker_batch_pause),
            batch_target: settings.worker_batch_target,
            min_idle_sleep: defaults.min_idle_sleep.min(settings.worker_max_idle_sleep),
            max_idle_sleep: settings.worker_max_idle_sleep,
            park_timeout: defaults.park_timeout.filter(|_| settings.worker_park),
            housekeeping: Some(crate::heap::collect),
            ..defaults
        };
        log::debug!("worker {i}: rings of CPUs {}", cpus.join(","));
        let w = Worker::new(i, nworkers, RingSource(set), shared.clone(), wcfg);
        workers.push(
            std::thread::Builder::new()
                .name(format!("kestrel-worker-{i}"))
                .spawn(move || w.run())
                .context("starting a worker thread")?,
        );
    }
    log::info!(
        "capturing {} event types on {} CPUs ({} KiB ring each, {} MiB in all), {} workers",
        types.len(),
        nrings,
        ring_size >> 10,
        (ring_size * nrings) >> 20,
        nworkers
    );

    let state = Arc::new(DaemonState {
        probe_stats: Arc::new(Mutex::new(probe_handle(&mut probe))),
        probe: Mutex::new(Some(probe)),
        outputs: Mutex::new(Some(outputs)),
        outputs_cfg: Mutex::new(settings.outputs.clone()),
        table: Arc::clone(&table),
        metrics: Arc::clone(&metrics),
        types: Mutex::new(types),
        ctx: Arc::clone(&ctx),
        reloads_ok: AtomicU64::new(0),
        reloads_failed: AtomicU64::new(0),
        started: Instant::now(),
        start_ns: kestrel_engine::output::time::now_epoch_ns(),
        reload_ts_ns: AtomicU64::new(kestrel_engine::output::time::now_epoch_ns()),
        metrics_cfg: Mutex::new(settings.metrics.clone()),
        hashes: Mutex::new(file_hashes(&cfg, &settings)),
        kernel_release: kernel_release(),
        ncpus: (unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }).max(1) as u64,
    });
    {
        // Tracked processes are mirrored into the probe before /track
        // answers, so that the events its filter removes are counted from
        // the load generator's first syscall.
        let st = Arc::clone(&state);
        metrics.tracker.set_listener(Box::new(move |tgids| {
            if let Some(p) = st.probe.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
                if let Err(e) = p.set_tracked(tgids) {
                    log::warn!("cannot mirror the tracked processes into the probe: {e}");
                }
            }
        }));
    }
    let healthy = Arc::new(AtomicBool::new(true));
    let web = match &settings.web {
        Some(w) => {
            let st = Arc::clone(&state);
            let srv = WebServer::start(
                &w.addr,
                &w.healthz,
                Arc::clone(&healthy),
                Arc::clone(&metrics.tracker),
                Arc::new(move || st.render_metrics()),
                w.track.clone(),
            )
            .with_context(|| format!("starting the web server on {}", w.addr))?;
            log::info!("metrics on http://{}/metrics", srv.addr());
            if w.track.is_some() {
                log::info!("POST /track and /untrack enabled (bearer token required)");
            }
            Some(srv)
        }
        None => None,
    };

    // Signals arrive on a channel; the main thread also wakes every second
    // for the drop monitor and housekeeping.
    let (sig_tx, sig_rx) = crossbeam_channel::bounded::<i32>(16);
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGUSR1,
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("installing signal handlers")?;
    let sig_handle = signals.handle();
    let sig_thread = std::thread::Builder::new()
        .name("kestrel-signals".into())
        .spawn(move || {
            for s in signals.forever() {
                if sig_tx.send(s).is_err() {
                    break;
                }
            }
        })
        .context("starting the signal thread")?;

    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs(s));
    let mut drops = DropMonitor::new(
        settings.drops.clone(),
        settings.metrics.falco_internal_names,
    );
    let mut snapshots = SnapshotTimer::default();
    let mut epoch = 1u64;
    let mut last_drop_check = Instant::now();
    loop {
        // Wake 4 times a second to keep the probe's metrics fresh.
        let tick = Duration::from_millis(250);
        let timeout = match deadline {
            Some(d) => d.saturating_duration_since(Instant::now()).min(tick),
            None => tick,
        };
        match sig_rx.recv_timeout(timeout) {
            Ok(signal_hook::consts::SIGHUP) => {
                epoch += 1;
                let mut guard = state.probe.lock().unwrap_or_else(|p| p.into_inner());
                let Some(probe) = guard.as_mut() else { break };
                let result = reload(&args, &state, &engine, &shared, probe, epoch);
                drop(guard);
                match result {
                    Ok((msg, new_settings)) => {
                        state.reloads_ok.fetch_add(1, Ordering::Relaxed);
                        state.reload_ts_ns.store(
                            kestrel_engine::output::time::now_epoch_ns(),
                            Ordering::Relaxed,
                        );
                        drops = DropMonitor::new(
                            new_settings.drops.clone(),
                            new_settings.metrics.falco_internal_names,
                        );
                        *state.metrics_cfg.lock().unwrap_or_else(|p| p.into_inner()) =
                            new_settings.metrics.clone();
                        log::info!("reloaded: {msg}");
                    }
                    Err(e) => {
                        epoch -= 1;
                        state.reloads_failed.fetch_add(1, Ordering::Relaxed);
                        log::error!("reload failed, the previous rules stay in force: {e:#}");
                    }
                }
            }
            Ok(signal_hook::consts::SIGUSR1) => {
                if let Some(o) = state
                    .outputs
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_ref()
                {
                    o.reopen_files();
                    log::info!("output files reopened");
                }
            }
            Ok(s) => {
                log::info!("signal {s}: draining and exiting");
                break;
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    log::info!("duration reached: draining and exiting");
                    break;
                }
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
        }
        // Housekeeping.
        if last_drop_check.elapsed() >= Duration::from_secs(1) {
            last_drop_check = Instant::now();
            table.expire(kestrel_engine::state::boot_clock_ns());
            crate::heap::collect();
            let totals = state
                .probe
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_ref()
                .map(|p| p.counters_total());
            let issues = state
                .probe
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .as_mut()
                .map(|p| p.check_integrity())
                .unwrap_or_default();
            for i in issues {
                use kestrel_engine::pipeline::tamper::{integrity_alert, TamperKind};
                let (kind, target, why) = match i {
                    kestrel_probe::IntegrityIssue::Link {
                        program,
                        link_id,
                        why,
                    } => (
                        TamperKind::ProbeDetached,
                        format!("program {program} (link id {link_id})"),
                        why,
                    ),
                    kestrel_probe::IntegrityIssue::Table { map, entries } => (
                        TamperKind::ProbeAltered,
                        format!("map {map}"),
                        format!("{entries} entries rewritten by another process, restored"),
                    ),
                };
                log::error!("self-protection: {target}: {why}");
                shared.metrics.tamper.count(kind);
                let eng = engine.load();
                if !eng
                    .sender
                    .send(integrity_alert(&eng.outputs, kind, &target, &why))
                {
                    log::warn!("the tamper alert was dropped (outputs full)");
                }
            }
            if let Some(Ok(c)) = totals {
                if let Some((dropped, seen, by_cat)) = drops.observe(&c) {
                    let eng = engine.load();
                    drops.act(dropped, seen, &by_cat, &eng);
                }
            }
        }
        snapshots.tick(&state, &engine);
    }

    // Shutdown: detach the programs (no new records), let the workers drain
    // the rings, then flush the outputs.
    healthy.store(false, Ordering::Relaxed);
    // Stop the kernel side and take the final counters before detaching:
    // the exit summary must count every record the workers are about to
    // drain, not the housekeeping snapshot taken up to 250 ms earlier.
    let probe = state.probe.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(mut probe) = probe {
        if let Err(e) = probe.set_event_types(&[]) {
            log::warn!("could not stop the probe's event filter: {e}");
        }
        // A syscall already past the filter on another CPU commits its
        // record within microseconds.
        std::thread::sleep(Duration::from_millis(5));
        *state.probe_stats.lock().unwrap_or_else(|p| p.into_inner()) = probe_handle(&mut probe);
        drop(probe);
    }
    stop.store(true, Ordering::Release);
    for w in workers {
        if w.join().is_err() {
            log::error!("a worker thread panicked");
        }
    }
    drop(web);
    sig_handle.close();
    if sig_thread.join().is_err() {
        log::warn!("signal thread panicked");
    }
    let outputs = state
        .outputs
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take();
    if let Some(o) = outputs {
        let st = o.shutdown(Duration::from_secs(5));
        // Each sink's final books (the metrics server is already down):
        // offered = delivered + filtered + dropped + still queued.
        for s in &st.sinks {
            let reasons: Vec<String> = s
                .dropped
                .iter()
                .filter(|&(_, n)| n > 0)
                .map(|(r, n)| format!("{} {n}", r.as_str()))
                .collect();
            log::info!(
                "output {} at exit: offered {}, delivered {}, filtered {}, dropped {} ({}), queued {}",
                s.name,
                s.offered,
                s.delivered,
                s.filtered,
                s.dropped.total(),
                if reasons.is_empty() {
                    "none".to_string()
                } else {
                    reasons.join(", ")
                },
                s.queue_depth
            );
        }
        let lost: u64 =
            st.dropped.total() + st.sinks.iter().map(|s| s.dropped.total()).sum::<u64>();
        if lost > 0 {
            log::warn!(
                "{lost} alerts were lost by the outputs (see kestrel_output_alerts_dropped_total)"
            );
        }
    }
    let final_counters = state
        .probe_stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .counters
        .clone();
    print_summary(&final_counters, &metrics);
    Ok(ExitCode::SUCCESS)
}

/// The probe's counters and ring fill, read when metrics are rendered (and
/// kept once more at shutdown, for the exit summary).
#[derive(Debug, Default)]
struct ProbeStats {
    counters: Vec<Counters>,
    fill: Vec<(u32, f64, u64)>,
    /// Events the interest filter removed, by event type id.
    filtered: Vec<u64>,
    /// The same for tracked processes: (tgid, rel, type id, count).
    tracked_filtered: Vec<(u32, u8, u16, u64)>,
}

fn probe_handle(probe: &mut Probe) -> ProbeStats {
    ProbeStats {
        counters: probe.counters().unwrap_or_default(),
        fill: probe
            .ring_fill()
            .iter()
            .map(|f| (f.cpu, f.ratio(), f.used))
            .collect(),
        filtered: probe.filtered_counts().unwrap_or_default(),
        tracked_filtered: probe.tracked_filtered().unwrap_or_default(),
    }
}

struct DaemonState {
    /// The final counters, taken when the probe is detached.
    probe_stats: Arc<Mutex<ProbeStats>>,
    /// The attached probe (`None` once detached). Scrapes read its
    /// counters live, so they agree with the worker counters they are
    /// rendered next to.
    probe: Mutex<Option<Probe>>,
    outputs: Mutex<Option<Outputs>>,
    /// The configuration of the running outputs (a reload restarts them
    /// only when it changes).
    outputs_cfg: Mutex<OutputsConfig>,
    table: Arc<ProcessTable>,
    metrics: Arc<PipelineMetrics>,
    types: Mutex<Vec<EventType>>,
    /// Users, host name and the container metadata cache.
    ctx: Arc<Context>,
    reloads_ok: AtomicU64,
    reloads_failed: AtomicU64,
    started: Instant,
    /// Daemon start, ns since the epoch.
    start_ns: u64,
    /// Start or last successful reload, ns since the epoch.
    reload_ts_ns: AtomicU64,
    /// The Falco metrics settings in force.
    metrics_cfg: Mutex<crate::settings::MetricsSettings>,
    /// SHA-256 of the rules files and configuration files in force.
    hashes: Mutex<FileHashes>,
    /// `uname -r`.
    kernel_release: String,
    /// CPUs the probe has rings for.
    ncpus: u64,
}

impl DaemonState {
    /// The probe's counters: live while attached, else the final ones.
    fn probe_now(&self) -> ProbeStats {
        let live = self
            .probe
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_mut()
            .map(probe_handle);
        match live {
            Some(l) => l,
            None => {
                let s = self.probe_stats.lock().unwrap_or_else(|p| p.into_inner());
                ProbeStats {
                    counters: s.counters.clone(),
                    fill: s.fill.clone(),
                    filtered: s.filtered.clone(),
                    tracked_filtered: s.tracked_filtered.clone(),
                }
            }
        }
    }

    /// What the Falco-named metrics are made of, read now.
    fn falco_inputs(&self, counters: &[Counters]) -> falco_metrics::Inputs {
        let now = kestrel_engine::output::time::now_epoch_ns();
        let uptime_ns = kestrel_engine::state::boot_clock_ns();
        let outputs_queue_drops = self
            .outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map_or(0, |o| {
                let st = o.stats();
                st.dropped.total() + st.sinks.iter().map(|s| s.dropped.total()).sum::<u64>()
            });
        let hashes = self
            .hashes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        falco_metrics::Inputs {
            version: env!("CARGO_PKG_VERSION").to_string(),
            hostname: self.ctx.hostname.clone(),
            kernel_release: self.kernel_release.clone(),
            start_ts_ns: self.start_ns,
            now_ns: now,
            boot_ts_ns: now.saturating_sub(uptime_ns),
            num_cpus: self.ncpus,
            reload_ts_ns: self.reload_ts_ns.load(Ordering::Relaxed),
            outputs_queue_drops,
            rules: self.metrics.rule_counts(),
            per_cpu: counters
                .iter()
                .map(|c| (c.total_seen(), c.total_dropped()))
                .collect(),
            drops_by_category: Category::ALL
                .iter()
                .map(|&cat| {
                    (
                        cat.name(),
                        counters.iter().map(|c| c.dropped[cat as usize]).sum(),
                    )
                })
                .collect(),
            resources: falco_metrics::Resources::read(),
            n_containers: self.ctx.containers.stats().known,
            rules_sha256: hashes.rules,
            config_sha256: hashes.config,
        }
    }

    fn render_metrics(&self) -> String {
        let mut w = PromWriter::new();
        let mcfg = self
            .metrics_cfg
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        {
            let p = self.probe_now();
            if mcfg.prometheus {
                let inputs = self.falco_inputs(&p.counters);
                falco_metrics::render_prometheus(
                    &falco_metrics::collect(&inputs, mcfg.flags),
                    &mut w,
                );
            }
            for (cpu, c) in p.counters.iter().enumerate() {
                let cpu_s = cpu.to_string();
                for cat in Category::ALL {
                    let l = [("cpu", cpu_s.as_str()), ("category", cat.name())];
                    let i = cat as usize;
                    w.counter(
                        "kestrel_kernel_events_seen_total",
                        "Events the probe tried to emit, per CPU and category.",
                        &l,
                        c.seen[i],
                    );
                    w.counter(
                        "kestrel_kernel_events_sent_total",
                        "Events the probe committed to the ring.",
                        &l,
                        c.sent[i],
                    );
                    w.counter(
                        "kestrel_kernel_events_dropped_total",
                        "Events lost in the kernel because the ring was full.",
                        &l,
                        c.dropped[i],
                    );
                }
            }
            for (id, &n) in p.filtered.iter().enumerate() {
                let Some(info) = u16::try_from(id).ok().and_then(|i| EventType(i).info()) else {
                    continue;
                };
                if n > 0 || info.nr_x86_64.is_some() {
                    w.counter(
                        "kestrel_kernel_events_filtered_total",
                        "Events the kernel interest filter kept out of the rings (no enabled \
                         rule could match them and no state needs them), per event type.",
                        &[("event_type", info.name)],
                        n,
                    );
                }
            }
            for (tgid, rel, ty, n) in &p.tracked_filtered {
                let Some(info) = EventType(*ty).info() else {
                    continue;
                };
                let tgid = tgid.to_string();
                w.counter(
                    "kestrel_tracked_events_filtered_total",
                    "Events of tracked processes (self) and their children (child) the kernel \
                     interest filter kept out of the rings, by event type.",
                    &[
                        ("tgid", tgid.as_str()),
                        ("rel", if *rel == 0 { "self" } else { "child" }),
                        ("type", info.name),
                    ],
                    *n,
                );
            }
            for (cpu, ratio, used) in &p.fill {
                let cpu_s = cpu.to_string();
                w.gauge(
                    "kestrel_ring_fill_ratio",
                    "Fraction of the CPU's ring holding unread records.",
                    &[("cpu", &cpu_s)],
                    *ratio,
                );
                w.gauge(
                    "kestrel_ring_used_bytes",
                    "Bytes of unread records in the CPU's ring.",
                    &[("cpu", &cpu_s)],
                    *used as f64,
                );
            }
        }
        for t in self.types.lock().unwrap_or_else(|p| p.into_inner()).iter() {
            w.gauge(
                "kestrel_traced_event_types",
                "Event types the probe captures (1 per type).",
                &[("type", t.name())],
                1.0,
            );
        }
        self.metrics.render(&mut w);
        let cs = self.ctx.containers.stats();
        w.gauge(
            "kestrel_container_metadata_entries",
            "Containers whose runtime metadata is cached.",
            &[],
            cs.known as f64,
        );
        w.gauge(
            "kestrel_container_user_databases",
            "Containers whose user and group files are cached (for user.name).",
            &[],
            self.ctx.users.containers_cached() as f64,
        );
        for (name, help, v) in [
            (
                "kestrel_container_lookups_total",
                "Metadata lookups queued for containers seen without metadata.",
                cs.requested,
            ),
            (
                "kestrel_container_lookups_dropped_total",
                "Metadata lookups not queued because the queue was full.",
                cs.request_dropped,
            ),
            (
                "kestrel_container_lookup_failures_total",
                "Metadata lookups the runtimes could not answer.",
                cs.fetch_failed,
            ),
            (
                "kestrel_container_lookup_waits_total",
                "Events that waited for their container's metadata.",
                cs.lookup_waits,
            ),
            (
                "kestrel_container_lookup_timeouts_total",
                "Containers whose metadata was not there within the lookup timeout \
                 (their first events went out without it).",
                cs.lookup_timeouts,
            ),
            (
                "kestrel_container_stream_events_total",
                "Container events read from the runtimes' event streams.",
                cs.stream_events,
            ),
            (
                "kestrel_container_stream_gaps_total",
                "Runtime event-stream connections lost or refused (then re-tried every second).",
                cs.stream_gaps,
            ),
            (
                "kestrel_container_metadata_evicted_total",
                "Metadata entries dropped after their container was destroyed.",
                cs.evicted,
            ),
        ] {
            w.counter(name, help, &[], v);
        }
        let ts = self.table.stats();
        w.gauge(
            "kestrel_process_table_entries",
            "Processes in the process table.",
            &[],
            ts.entries as f64,
        );
        w.gauge(
            "kestrel_process_table_capacity",
            "Most processes the table holds.",
            &[],
            ts.capacity as f64,
        );
        w.gauge(
            "kestrel_process_table_exits_pending",
            "Exited processes kept for their grace period (late events from other CPUs).",
            &[],
            ts.exits_pending as f64,
        );
        w.gauge(
            "kestrel_socket_cache_entries",
            "Sockets in the socket cache (connection direction, datagram peers).",
            &[],
            ts.socket_cache_entries as f64,
        );
        w.gauge(
            "kestrel_socket_cache_capacity",
            "Most sockets the socket cache holds before it starts over.",
            &[],
            ts.socket_cache_capacity as f64,
        );
        w.counter(
            "kestrel_socket_cache_evictions_total",
            "Socket-cache entries dropped because the cache was full.",
            &[],
            ts.socket_cache_evicted,
        );
        w.counter(
            "kestrel_process_table_evictions_total",
            "Processes removed from the table.",
            &[("reason", "exited")],
            ts.evicted_exited,
        );
        w.counter(
            "kestrel_process_table_evictions_total",
            "Processes removed from the table.",
            &[("reason", "capacity")],
            ts.evicted_capacity,
        );
        if let Some(o) = self
            .outputs
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            let st = o.stats();
            w.counter(
                "kestrel_output_alerts_received_total",
                "Alerts accepted by the outputs.",
                &[],
                st.received,
            );
            w.counter(
                "kestrel_output_alerts_filtered_total",
                "Alerts below the minimum priority (not a loss).",
                &[],
                st.filtered,
            );
            w.counter(
                "kestrel_output_repeats_suppressed_total",
                "Alerts folded into a repeat summary.",
                &[],
                st.repeats_suppressed,
            );
            for (reason, n) in st.dropped.iter() {
                w.counter(
                    "kestrel_output_alerts_dropped_total",
                    "Alerts lost, by output and reason.",
                    &[("sink", "front"), ("reason", reason.as_str())],
                    n,
                );
            }
            w.gauge(
                "kestrel_output_queue_depth",
                "Alerts waiting in the output's queue.",
                &[("sink", "front")],
                st.queue_depth as f64,
            );
            for s in &st.sinks {
                w.counter(
                    "kestrel_output_alerts_delivered_total",
                    "Alerts delivered, by output.",
                    &[("sink", s.name)],
                    s.delivered,
                );
                w.counter(
                    "kestrel_output_errors_total",
                    "Failed writes, by output.",
                    &[("sink", s.name)],
                    s.errors,
                );
                w.gauge(
                    "kestrel_output_queue_depth",
                    "Alerts waiting in the output's queue.",
                    &[("sink", s.name)],
                    s.queue_depth as f64,
                );
                for (reason, n) in s.dropped.iter() {
                    w.counter(
                        "kestrel_output_alerts_dropped_total",
                        "Alerts lost, by output and reason.",
                        &[("sink", s.name), ("reason", reason.as_str())],
                        n,
                    );
                }
            }
        }
        w.counter(
            "kestrel_reloads_total",
            "SIGHUP reloads.",
            &[("result", "ok")],
            self.reloads_ok.load(Ordering::Relaxed),
        );
        w.counter(
            "kestrel_reloads_total",
            "SIGHUP reloads.",
            &[("result", "failed")],
            self.reloads_failed.load(Ordering::Relaxed),
        );
        let (cpu_s, rss) = self_usage();
        w.counter_f64(
            "kestrel_process_cpu_seconds_total",
            "CPU time used by kestrel (user + system).",
            &[],
            cpu_s,
        );
        w.gauge(
            "kestrel_process_resident_memory_bytes",
            "kestrel's resident memory.",
            &[],
            rss as f64,
        );
        w.gauge(
            "kestrel_memory_heap_bytes",
            "Bytes kestrel holds on its heap (allocated, not freed; the allocator's cached pages are in resident memory only).",
            &[],
            crate::heap_bytes() as f64,
        );
        w.gauge(
            "kestrel_uptime_seconds",
            "Seconds since the daemon started.",
            &[],
            self.started.elapsed().as_secs_f64(),
        );
        w.finish()
    }
}

/// CPU seconds (user + system) and resident bytes of this process.
pub fn self_usage() -> (f64, u64) {
    let tck = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let cpu = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let ut: f64 = f.get(11)?.parse().ok()?;
            let st: f64 = f.get(12)?.parse().ok()?;
            Some((ut + st) / tck)
        })
        .unwrap_or(0.0);
    let rss = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |p| p * page);
    (cpu, rss)
}

/// SIGHUP: re-read configuration and rules, build a new engine, swap it in
/// between batches; the probe stays attached and the rings keep flowing.
fn reload(
    args: &RunArgs,
    state: &DaemonState,
    engine: &ArcSwap<Engine>,
    shared: &Shared,
    probe: &mut Probe,
    epoch: u64,
) -> Result<(String, Settings)> {
    let cfg = Config::load(args.config.as_deref(), &args.options, &mut |w| {
        log::warn!("{w}")
    })?;
    let mut settings = Settings::from_config(&cfg, &args.rules)?;
    if args.unbuffered {
        settings.outputs.buffered_outputs = false;
    }
    let built = build(&settings)?;
    let hashes = file_hashes(&cfg, &settings);
    let types = probe_event_types(&built.ruleset, &settings)?;
    let kf = crate::kfilter::derive(&built.ruleset, settings.kernel_filter);
    let filter = crate::kfilter::program(&kf);
    // Outputs: keep the running ones unless their configuration changed.
    let mut outputs_guard = state.outputs.lock().unwrap_or_else(|p| p.into_inner());
    let mut current_cfg = state.outputs_cfg.lock().unwrap_or_else(|p| p.into_inner());
    let replace_outputs = *current_cfg != settings.outputs;
    let (sender, new_outputs) = if replace_outputs {
        let o = Outputs::start(settings.outputs.clone()).context("starting the new outputs")?;
        (o.sender(), Some(o))
    } else {
        let o = outputs_guard
            .as_ref()
            .ok_or_else(|| anyhow!("outputs are shut down"))?;
        (o.sender(), None)
    };
    // The kernel side first (the events the new rules need start flowing),
    // then the rules: the new filter is installed whole in its own slot
    // and takes over in one step, and the new rules replace the old ones
    // between two batches of every worker.
    let desc = crate::kfilter::describe(&kf, &filter, &types);
    let mut cur = state.types.lock().unwrap_or_else(|p| p.into_inner());
    if *cur != types {
        probe
            .set_event_types(&types)
            .context("updating the probe's event filter")?;
        *cur = types;
    }
    drop(cur);
    let gen = probe
        .install_filter(&filter)
        .context("installing the kernel interest filter")?;
    log::info!("{desc}");
    let mut ruleset = built.ruleset;
    ruleset.set_kernel_marks(&kf, gen);
    engine.store(Arc::new(Engine::new(
        ruleset,
        built.compiled,
        &built.rules,
        sender,
        epoch,
    )));
    // Wait until every worker runs the new engine, so that nothing is
    // sent to outputs about to be shut down.
    let deadline = Instant::now() + Duration::from_secs(2);
    while shared
        .epochs
        .iter()
        .any(|e| e.load(Ordering::Acquire) < epoch)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(new) = new_outputs {
        if let Some(old) = outputs_guard.replace(new) {
            old.shutdown(Duration::from_secs(5));
        }
        *current_cfg = settings.outputs.clone();
    }
    drop(current_cfg);
    drop(outputs_guard);
    *state.hashes.lock().unwrap_or_else(|p| p.into_inner()) = hashes;
    Ok((built.summary, settings))
}

/// Events dropped and seen in the last window, and the drops by category.
type DropWindow = (u64, u64, Vec<(&'static str, u64)>);

/// Falco's `syscall_event_drops`: a drop ratio over one-second windows,
/// actions rate-limited by a token bucket.
struct DropMonitor {
    policy: crate::settings::DropPolicy,
    /// Name the alert "Falco internal: syscall event drop", Falco's way.
    falco_names: bool,
    last: Option<(u64, u64, Counters)>,
    tokens: f64,
    last_refill: Instant,
}

impl DropMonitor {
    fn new(policy: crate::settings::DropPolicy, falco_names: bool) -> DropMonitor {
        let tokens = policy.max_burst;
        DropMonitor {
            policy,
            falco_names,
            last: None,
            tokens,
            last_refill: Instant::now(),
        }
    }

    /// Feeds the totals; returns `(dropped, seen)` in the last window when
    /// the ratio crossed the threshold and a notice is allowed.
    fn observe(&mut self, c: &Counters) -> Option<DropWindow> {
        let (seen, dropped) = (c.total_seen(), c.total_dropped());
        let prev = self.last.replace((seen, dropped, *c));
        let (ps, pd, pc) = prev?;
        let (ds, dd) = (seen.saturating_sub(ps), dropped.saturating_sub(pd));
        let by_cat: Vec<(&'static str, u64)> = Category::ALL
            .iter()
            .map(|&k| {
                (
                    k.name(),
                    c.dropped[k as usize].saturating_sub(pc.dropped[k as usize]),
                )
            })
            .collect();
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.last_refill).as_secs_f64() * self.policy.rate)
            .min(self.policy.max_burst);
        self.last_refill = now;
        if dd == 0 || ds == 0 || (dd as f64 / ds as f64) <= self.policy.threshold {
            return None;
        }
        if self.tokens < 1.0 {
            return None;
        }
        self.tokens -= 1.0;
        Some((dd, ds, by_cat))
    }

    fn act(&self, dropped: u64, seen: u64, by_cat: &[(&'static str, u64)], engine: &Engine) {
        let msg = format!("{dropped} system calls dropped in last second.");
        if self.policy.log {
            log::warn!("syscall event drop: {msg} ({seen} seen)");
        }
        if self.policy.alert && self.falco_names {
            // Falco's event_drops.cpp: string values, its message.
            let rule = "Falco internal: syscall event drop";
            let mut f = std::collections::BTreeMap::new();
            f.insert("n_evts".to_string(), serde_json::json!(seen.to_string()));
            f.insert(
                "n_drops".to_string(),
                serde_json::json!(dropped.to_string()),
            );
            f.insert(
                "n_drops_buffer_total".to_string(),
                serde_json::json!(dropped.to_string()),
            );
            for (cat, n) in by_cat {
                f.insert(
                    format!("n_drops_buffer_{cat}_exit"),
                    serde_json::json!(n.to_string()),
                );
            }
            f.insert("ebpf_enabled".to_string(), serde_json::json!("1"));
            let a =
                engine
                    .outputs
                    .internal_falco(rule, Priority::Debug, &format!("{rule}. {msg}"), &f);
            if !engine.sender.send(a) {
                log::warn!("the drop notice itself was dropped (outputs full)");
            }
        } else if self.policy.alert {
            let a = engine.outputs.internal(
                "syscall event drop",
                Priority::Debug,
                &msg,
                &[
                    ("n_drops", serde_json::json!(dropped)),
                    ("n_evts", serde_json::json!(seen)),
                    ("ebpf_enabled", serde_json::json!(1)),
                ],
            );
            if !engine.sender.send(a) {
                log::warn!("the drop notice itself was dropped (outputs full)");
            }
        }
    }
}

fn print_summary(counters: &[Counters], metrics: &PipelineMetrics) {
    let seen: u64 = counters.iter().map(|c| c.total_seen()).sum();
    let sent: u64 = counters.iter().map(|c| c.total_sent()).sum();
    let dropped: u64 = counters.iter().map(|c| c.total_dropped()).sum();
    let processed: u64 = metrics.workers.iter().map(|w| w.processed.get()).sum();
    let alerts: u64 = metrics.workers.iter().map(|w| w.alerts.get()).sum();
    eprintln!(
        "kestrel: events seen {seen}, sent {sent}, dropped in kernel {dropped}, processed {processed}, alerts {alerts}"
    );
}

/// Paths given on the command line, for messages.
pub fn describe_paths(p: &[PathBuf]) -> String {
    p.iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::{assign_rings, worker_cpu};

    #[test]
    fn rings_are_dealt_to_workers_round_robin() {
        assert_eq!(assign_rings(vec![0, 1], 0), vec![vec![0], vec![1]]);
        assert_eq!(assign_rings(vec![0, 1], 1), vec![vec![0, 1]]);
        assert_eq!(
            assign_rings(vec![0, 1, 2, 3, 4], 2),
            vec![vec![0, 2, 4], vec![1, 3]]
        );
        assert_eq!(assign_rings(vec![0, 1], 8), vec![vec![0], vec![1]]);
    }

    #[test]
    fn workers_sit_next_to_their_ring() {
        let online = [0, 1, 2, 3];
        assert_eq!(worker_cpu(0, 1, &online), 1);
        assert_eq!(worker_cpu(3, 1, &online), 0);
        assert_eq!(worker_cpu(2, 0, &online), 2);
        // A ring of a CPU outside our affinity mask keeps its own CPU.
        assert_eq!(worker_cpu(7, 1, &online), 7);
        // Offline CPUs in the middle are skipped.
        assert_eq!(worker_cpu(1, 1, &[0, 1, 3]), 3);
    }
}

/// `uname -r`.
fn kernel_release() -> String {
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return String::new();
    }
    let bytes: Vec<u8> = u
        .release
        .iter()
        .take_while(|&&c| c != 0)
        .map(|&c| c as u8)
        .collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Falco's `metrics.enabled`: a "Falco internal: metrics snapshot" event
/// every `metrics.interval`, through the outputs and/or to a file.
#[derive(Default)]
struct SnapshotTimer {
    last: Option<Instant>,
    prev: Option<falco_metrics::SnapshotPrev>,
    samples: u64,
}

impl SnapshotTimer {
    fn tick(&mut self, state: &DaemonState, engine: &ArcSwap<Engine>) {
        let cfg = state
            .metrics_cfg
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if !cfg.enabled || (!cfg.output_rule && cfg.output_file.is_none()) {
            return;
        }
        let last = *self.last.get_or_insert(state.started);
        if last.elapsed() < cfg.interval {
            return;
        }
        self.last = Some(Instant::now());
        self.samples += 1;
        let p = state.probe_now();
        let inputs = state.falco_inputs(&p.counters);
        let metrics = falco_metrics::collect(&inputs, cfg.flags);
        let (fields, now) = falco_metrics::snapshot_fields(
            &metrics,
            &inputs,
            self.prev.as_ref(),
            cfg.memory_mb,
            cfg.include_empty,
        );
        self.prev = Some(now);
        if cfg.output_rule {
            let eng = engine.load();
            let a = eng.outputs.internal_falco(
                "Falco internal: metrics snapshot",
                Priority::Informational,
                "Falco metrics snapshot",
                &fields,
            );
            if !eng.sender.send(a) {
                log::warn!("the metrics snapshot was dropped (outputs full)");
            }
        }
        if let Some(path) = &cfg.output_file {
            let line = serde_json::json!({"sample": self.samples, "output_fields": fields});
            use std::os::unix::fs::OpenOptionsExt;
            // Created 0600 like file_output (docs/RELIABILITY.md, file modes).
            let r = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(path)
                .and_then(|mut f| {
                    use std::io::Write;
                    writeln!(f, "{line}")
                });
            if let Err(e) = r {
                log::warn!("metrics.output_file {}: {e}", path.display());
            }
        }
    }
}

/// SHA-256 (hex) of the files in force, by file name, as Falco reports
/// them (`falcosecurity_falco_sha256_*_files_info`).
#[derive(Debug, Default, Clone)]
struct FileHashes {
    rules: Vec<(String, String)>,
    config: Vec<(String, String)>,
}

fn sha256_hex(bytes: &[u8]) -> String {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

fn file_name(p: &std::path::Path) -> String {
    p.file_name().map_or_else(
        || p.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Hashes the rules files (directories expanded; the embedded rules as
/// `kestrel_rules.yaml`) and the configuration files read. A file that
/// cannot be read now is left out.
fn file_hashes(cfg: &Config, settings: &Settings) -> FileHashes {
    let mut rules = Vec::new();
    let embedded = || {
        (
            rulesrc::EMBEDDED_NAME.to_string(),
            sha256_hex(rulesrc::EMBEDDED_RULES.as_bytes()),
        )
    };
    if settings.rules_files.is_empty() {
        rules.push(embedded());
    }
    for p in &settings.rules_files {
        if p.as_os_str() == rulesrc::EMBEDDED_ENTRY {
            rules.push(embedded());
            continue;
        }
        let files = kestrel_engine::rules::loader::expand_rule_paths(std::slice::from_ref(p))
            .unwrap_or_default();
        for f in files {
            if let Ok(b) = std::fs::read(&f) {
                rules.push((file_name(&f), sha256_hex(&b)));
            }
        }
    }
    let config = cfg
        .files()
        .iter()
        .filter_map(|f| Some((file_name(f), sha256_hex(&std::fs::read(f).ok()?))))
        .collect();
    FileHashes { rules, config }
}
