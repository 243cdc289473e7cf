//! Holds a hook attached for the overhead benchmark (perf/probe-overhead):
//!
//!   overhead_hold empty            attach an empty tp_btf/sys_exit program
//!   overhead_hold clock            attach a tp_btf/sys_exit program that only
//!                                  reads the event clock 10 times
//!   overhead_hold kestrel [CPU]    attach kestrel's probe (Falco's stable
//!                                  rules' event set plus process state) and
//!                                  drain every ring from one thread pinned
//!                                  to CPU (default 0)
//!
//! Prints `ready` once attached, then holds until stdin closes; prints the
//! probe's counters (seen/sent/dropped) and the records drained at the end.

use std::io::{BufRead, Write};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use kestrel_probe::{events, Backoff, EmptyHook, Probe, ProbeConfig};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("");
    match mode {
        "empty" => {
            let _hook = EmptyHook::attach()?;
            ready();
            wait_stdin();
            println!("empty hook detached");
        }
        "clock" => {
            let _hook = EmptyHook::attach_clock()?;
            ready();
            wait_stdin();
            println!("clock hook detached");
        }
        "kestrel" => {
            let cpu: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
            let mut probe = Probe::load(ProbeConfig {
                event_types: events::falco_stable_with_state(),
                ..ProbeConfig::default()
            })?;
            let readers = probe.readers()?;
            let stop = Arc::new(AtomicBool::new(false));
            let drained = Arc::new(AtomicU64::new(0));
            let consumer = {
                let stop = Arc::clone(&stop);
                let drained = Arc::clone(&drained);
                std::thread::Builder::new()
                    .name("drain".into())
                    .spawn(move || drain(readers, cpu, &stop, &drained))?
            };
            ready();
            wait_stdin();
            // Let the consumer catch up with what the loops produced.
            std::thread::sleep(Duration::from_millis(200));
            stop.store(true, Ordering::Release);
            consumer
                .join()
                .map_err(|_| anyhow::anyhow!("drain thread panicked"))?;
            let c = probe.counters_total()?;
            println!(
                "seen={} sent={} dropped={} drained={}",
                c.total_seen(),
                c.total_sent(),
                c.total_dropped(),
                drained.load(Ordering::Acquire)
            );
        }
        _ => anyhow::bail!("usage: overhead_hold empty|clock|kestrel [consumer-cpu]"),
    }
    Ok(())
}

fn ready() {
    println!("ready");
    if let Err(e) = std::io::stdout().flush() {
        eprintln!("stdout: {e}");
    }
}

fn wait_stdin() {
    let stdin = std::io::stdin();
    let mut line = String::new();
    while let Ok(n) = stdin.lock().read_line(&mut line) {
        if n == 0 {
            break;
        }
        line.clear();
    }
}

fn drain(
    mut readers: Vec<kestrel_probe::RingReader>,
    cpu: usize,
    stop: &AtomicBool,
    drained: &AtomicU64,
) {
    if !core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        eprintln!("cannot pin the drain thread to CPU {cpu}");
    }
    // Real-time priority (it sleeps when the rings are empty) so that a busy
    // machine cannot starve the consumer into drops during a measurement.
    let param = libc::sched_param { sched_priority: 5 };
    // SAFETY: plain syscall on this thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        eprintln!("SCHED_FIFO refused: {}", std::io::Error::last_os_error());
    }
    let mut backoff = Backoff::default();
    let mut n = 0u64;
    loop {
        let mut got = 0;
        for r in readers.iter_mut() {
            got += r.poll(usize::MAX, |rec| {
                // Touch the record like a consumer would (type and length).
                std::hint::black_box(rec.len());
            });
        }
        n += got as u64;
        if got == 0 && stop.load(Ordering::Acquire) {
            break;
        }
        backoff.pause(got);
    }
    drained.store(n, Ordering::Release);
}
