//! Measures the probe's own cost per program run with the kernel's BPF
//! statistics (run_time_ns / run_cnt), which load on other CPUs does not
//! distort the way wall-clock loops are distorted:
//!
//!   probe_cost [iterations]
//!
//! Runs a getppid loop (untraced: the filtered path) and an openat+close
//! loop (traced) in this process, pinned to CPU 1, with a drain thread on
//! CPU 0, and prints ns per sys_exit program run for each; then a read(2)
//! loop on /dev/zero (untraced unless KST_EVENTS names `read`). KST_EVENTS
//! (comma-separated names) replaces the default event set; KST_RING sets
//! the ring size in bytes. KST_FILTER=<path prefix> installs an interest
//! filter that emits an openat only below that prefix and no close (of a
//! file): `KST_FILTER=/usr/bin/` measures the filtered path of both calls,
//! `KST_FILTER=/etc/` an emitted openat and a filtered close.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kestrel_event::wire::{
    FClause, FilterProgram, TFilter, FR_ANY, TFF_PATH, TFF_SOCKFD, TF_CLAUSES, TF_DROP,
};
use kestrel_event::EventType;
use kestrel_probe::{events, Backoff, EmptyHook, Probe, ProbeConfig};

fn stats(p: &Probe) -> anyhow::Result<(u64, u64)> {
    let s = p
        .program_stats()?
        .into_iter()
        .find(|s| s.name == "kst_sys_exit")
        .ok_or_else(|| anyhow::anyhow!("no kst_sys_exit"))?;
    Ok((s.run_count, s.run_time_ns))
}

/// openat emitted below `prefix` (any flags, any result); close emitted
/// only for sockets.
fn prefix_filter(prefix: &[u8]) -> FilterProgram {
    let id = |name| EventType::from_name(name).map_or(0, |t| t.0);
    let mut openat = TFilter {
        mode: TF_CLAUSES,
        nclauses: 1,
        flags: TFF_PATH,
        ..TFilter::default()
    };
    openat.c[0] = FClause {
        path_mask: 1,
        acc_modes: 0b111,
        ret: FR_ANY,
        ..FClause::default()
    };
    if std::env::var_os("KST_FILTER_DROPALL").is_some() {
        openat = TFilter {
            mode: TF_DROP,
            ..TFilter::default()
        };
    }
    let close = TFilter {
        mode: TF_DROP,
        flags: if std::env::var_os("KST_FILTER_NOSOCK").is_some() {
            0
        } else {
            TFF_SOCKFD
        },
        ..TFilter::default()
    };
    FilterProgram {
        types: vec![(id("openat"), openat), (id("close"), close)],
        paths: vec![(prefix.to_vec(), false, 1)],
        comms: Vec::new(),
    }
}

fn set_fifo(prio: i32) {
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: plain syscall on the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        eprintln!("SCHED_FIFO refused: {}", std::io::Error::last_os_error());
    }
}

fn getppid_loop(n: u64) {
    for _ in 0..n {
        // SAFETY: getppid has no arguments and cannot fail.
        unsafe { libc::getppid() };
    }
}

fn openclose_loop(n: u64) {
    let path = c"/etc/hostname";
    for _ in 0..n {
        // SAFETY: a valid NUL-terminated path; the fd is closed right away.
        let fd = unsafe { libc::openat(libc::AT_FDCWD, path.as_ptr(), libc::O_RDONLY) };
        if fd >= 0 {
            // SAFETY: fd was just opened by us.
            unsafe { libc::close(fd) };
        }
    }
}

/// read(2) of 64 bytes from /dev/zero: untraced unless KST_EVENTS names
/// `read`; traced, it is a generically captured event (data capped at the
/// snaplen, fd, size and fdinfo).
fn read_loop(n: u64) {
    // SAFETY: a valid path; the fd is closed at the end.
    let fd = unsafe { libc::open(c"/dev/zero".as_ptr(), libc::O_RDONLY) };
    if fd < 0 {
        return;
    }
    let mut buf = [0u8; 64];
    for _ in 0..n {
        // SAFETY: buf has 64 bytes.
        unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    }
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
}

/// The child the kill loop signals.
static KILL_PID: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(0);

fn kill_loop_fn(n: u64) {
    let pid = KILL_PID.load(Ordering::Relaxed);
    for _ in 0..n {
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(pid, libc::SIGCONT) };
    }
}

/// Runs and run time of kst_signal (zeros when it is not attached).
fn signal_stats(p: &Probe) -> anyhow::Result<(u64, u64)> {
    Ok(p.program_stats()?
        .into_iter()
        .find(|s| s.name == "kst_signal")
        .map_or((0, 0), |s| (s.run_count, s.run_time_ns)))
}

fn main() -> anyhow::Result<()> {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let _stats = Probe::enable_stats()?;
    // A process to signal: SIGCONT to a running process is generated
    // (and ignored) every time, with no effect on it.
    let mut child = std::process::Command::new("sleep").arg("600").spawn()?;
    let cpid = child.id() as i32;
    let kill_loop = move |n: u64| {
        for _ in 0..n {
            // SAFETY: kill(2) on our own child.
            unsafe { libc::kill(cpid, libc::SIGCONT) };
        }
    };
    let t = std::time::Instant::now();
    kill_loop(n);
    let bare_kill = t.elapsed().as_nanos() as f64 / n as f64;
    // KST_SELF_PROTECT=1: with self-protection (kst_signal attached and
    // the self-protection syscalls flagged; the loops stay traced, as no
    // process is excluded).
    let self_protect = std::env::var_os("KST_SELF_PROTECT").is_some();
    let mut probe = Probe::load(ProbeConfig {
        self_protect,
        event_types: match std::env::var("KST_EVENTS") {
            Ok(list) => events::by_names(&list.split(',').collect::<Vec<_>>()),
            Err(_) => events::falco_stable_with_state(),
        },
        exclude_tgid: None,
        ring_size: std::env::var("KST_RING")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(8 << 20),
        ..ProbeConfig::default()
    })?;
    if let Ok(prefix) = std::env::var("KST_FILTER") {
        probe.install_filter(&prefix_filter(prefix.as_bytes()))?;
    }
    let readers = probe.readers()?;
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    // The drain thread pins itself before the loop thread takes CPU 1 with
    // real-time priority (a thread spawned afterwards would inherit both
    // and never get to run).
    let drain = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut readers = readers;
            if !core_affinity::set_for_current(core_affinity::CoreId { id: 0 }) {
                eprintln!("cannot pin the drain thread");
            }
            set_fifo(5);
            if ready_tx.send(()).is_err() {
                return;
            }
            let mut b = Backoff::default();
            // KST_NODRAIN: read nothing until the loops are done (with a
            // ring large enough), to see the producer without a consumer.
            if std::env::var_os("KST_NODRAIN").is_some() {
                while !stop.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
            while !stop.load(Ordering::Acquire) {
                let got: usize = readers.iter_mut().map(|r| r.poll(usize::MAX, |_| {})).sum();
                b.pause(got);
            }
        })
    };
    ready_rx.recv()?;
    if !core_affinity::set_for_current(core_affinity::CoreId { id: 1 }) {
        eprintln!("cannot pin to CPU 1");
    }
    // Real-time priority keeps other tasks off the measured CPU, so the
    // caches stay ours and the numbers stay comparable on a busy machine.
    set_fifo(10);
    let mut seen0 = probe.counters_total()?.total_seen();
    let mut floor = 0.0f64;
    for (name, f) in [
        ("getppid", getppid_loop as fn(u64)),
        ("openat+close", openclose_loop as fn(u64)),
        ("read", read_loop as fn(u64)),
        ("kill", kill_loop_fn as fn(u64)),
    ] {
        KILL_PID.store(cpid, Ordering::Relaxed);
        let (c0, t0) = stats(&probe)?;
        f(n);
        let (c1, t1) = stats(&probe)?;
        let runs = c1 - c0;
        let sent = probe.counters_total()?.total_seen() - seen0;
        seen0 += sent;
        // Runs that emitted nothing (other threads' untraced syscalls) cost
        // about what the filtered getppid path costs; the rest is the
        // traced events' cost.
        let untraced = if floor > 0.0 {
            floor
        } else {
            (t1 - t0) as f64 / runs.max(1) as f64
        };
        if floor == 0.0 {
            floor = untraced;
        }
        let syscalls = if name == "openat+close" { 2 * n } else { n };
        let per_call = (t1 - t0) as f64 / syscalls as f64;
        let per_event = if sent > 0 {
            ((t1 - t0) as f64 - (runs - sent) as f64 * untraced) / sent as f64
        } else {
            0.0
        };
        println!(
            "{name:13} kst_sys_exit runs={runs} ns/run={:.1} events={sent} ns/event={per_event:.1} ns/loop-syscall={per_call:.1}",
            (t1 - t0) as f64 / runs.max(1) as f64
        );
    }
    let sig0 = signal_stats(&probe)?;
    let t = std::time::Instant::now();
    kill_loop(n);
    let probed_kill = t.elapsed().as_nanos() as f64 / n as f64;
    let sig1 = signal_stats(&probe)?;
    println!(
        "kill SIGCONT  bare ns/kill={bare_kill:.1} probed ns/kill={probed_kill:.1} kst_signal runs={} ns/run={:.1} (self_protect={self_protect})",
        sig1.0 - sig0.0,
        (sig1.1 - sig0.1) as f64 / (sig1.0 - sig0.0).max(1) as f64
    );
    if let Err(e) = child.kill().and_then(|()| child.wait().map(drop)) {
        eprintln!("cannot stop the signalled child: {e}");
    }
    stop.store(true, Ordering::Release);
    drain
        .join()
        .map_err(|_| anyhow::anyhow!("drain panicked"))?;
    let c = probe.counters_total()?;
    println!("{c:?}");
    if c.total_dropped() > 0 {
        eprintln!(
            "WARNING: {} records dropped, the numbers above are not valid",
            c.total_dropped()
        );
    }
    drop(probe);

    // The empty program's own cost, for reference.
    let hook = EmptyHook::attach()?;
    let before = hook.stats()?;
    getppid_loop(n);
    let after = hook.stats()?;
    println!(
        "empty hook    runs={} ns/run={:.1}",
        after.0 - before.0,
        (after.1 - before.1) as f64 / (after.0 - before.0).max(1) as f64
    );
    Ok(())
}
