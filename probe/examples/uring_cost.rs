//! What kestrel costs an io_uring open loop:
//!
//!   uring_cost [rounds=7] [iterations=100000]
//!
//! One loop: an IORING_OP_OPENAT of /etc/hostname then an IORING_OP_CLOSE
//! of the fd it returned, each submitted and waited for on its own
//! (io_uring_enter per request), on CPU 1 at real-time priority. Each
//! round runs it bare (no probe) and under kestrel's probe (event types
//! `openat,close`: both requests are captured and emitted as openat and
//! close records, drained by a thread on CPU 0), in alternating order, and
//! prints ns per iteration for both and their ratio; the medians over the
//! rounds follow. Under the probe, the kernel's BPF statistics give the
//! in-kernel cost per program run of `kst_uring_submit`
//! (io_uring_submit_req) and `kst_uring_complete` (io_uring_complete), and
//! per request (both runs). `kst_sys_exit` runs on every io_uring_enter
//! too (untraced here: the filtered path) and is shown beside them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use io_uring::{opcode, types, IoUring};
use kestrel_probe::{events, Backoff, Probe, ProbeConfig};

fn set_fifo(prio: i32) {
    let param = libc::sched_param {
        sched_priority: prio,
    };
    // SAFETY: plain syscall on the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        eprintln!("SCHED_FIFO refused: {}", std::io::Error::last_os_error());
    }
}

fn set_other() {
    let param = libc::sched_param { sched_priority: 0 };
    // SAFETY: plain syscall on the calling thread.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_OTHER, &param) } != 0 {
        eprintln!("SCHED_OTHER refused: {}", std::io::Error::last_os_error());
    }
}

fn one(ring: &mut IoUring, e: io_uring::squeue::Entry) -> anyhow::Result<i32> {
    // SAFETY: the entry's pointers (a static path) outlive the call.
    unsafe { ring.submission().push(&e) }.map_err(|_| anyhow::anyhow!("queue full"))?;
    ring.submit_and_wait(1)?;
    let c = ring
        .completion()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no completion"))?;
    Ok(c.result())
}

/// ns per iteration of openat + close through the ring.
fn uring_loop(ring: &mut IoUring, n: u64) -> anyhow::Result<f64> {
    let path = c"/etc/hostname";
    let t0 = Instant::now();
    for _ in 0..n {
        let fd = one(
            ring,
            opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
                .flags(libc::O_RDONLY | libc::O_CLOEXEC)
                .build(),
        )?;
        anyhow::ensure!(fd >= 0, "openat: {fd}");
        let r = one(ring, opcode::Close::new(types::Fd(fd)).build())?;
        anyhow::ensure!(r == 0, "close: {r}");
    }
    Ok(t0.elapsed().as_nanos() as f64 / n as f64)
}

fn stats(p: &Probe, name: &str) -> anyhow::Result<(u64, u64)> {
    let s = p
        .program_stats()?
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow::anyhow!("no program {name}"))?;
    Ok((s.run_count, s.run_time_ns))
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

const PROGS: [&str; 3] = ["kst_uring_submit", "kst_uring_complete", "kst_sys_exit"];

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(7);
    let n: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let _stats = Probe::enable_stats()?;
    let mut ring = IoUring::new(8)?;
    if !core_affinity::set_for_current(core_affinity::CoreId { id: 1 }) {
        eprintln!("cannot pin to CPU 1");
    }
    let mut bare = Vec::new();
    let mut under = Vec::new();
    let mut ratio = Vec::new();
    let mut prog_ns = [0u64; 3];
    let mut prog_runs = [0u64; 3];
    let mut requests = 0u64;
    let mut dropped = 0u64;
    uring_loop(&mut ring, n / 10)?; // warm-up
    for round in 0..rounds {
        let mut b = 0.0;
        let mut k = 0.0;
        // Alternate which mode goes first.
        for mode in if round % 2 == 0 { [0, 1] } else { [1, 0] } {
            if mode == 0 {
                set_fifo(10);
                b = uring_loop(&mut ring, n)?;
                set_other();
                continue;
            }
            // Probe loaded and drained for this mode only.
            let mut probe = Probe::load(ProbeConfig {
                event_types: events::by_names(&["openat", "close"]),
                exclude_tgid: None,
                ..ProbeConfig::default()
            })?;
            let readers = probe.readers()?;
            let stop = Arc::new(AtomicBool::new(false));
            let (tx, rx) = std::sync::mpsc::channel();
            let drain = {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let mut readers = readers;
                    if !core_affinity::set_for_current(core_affinity::CoreId { id: 0 }) {
                        eprintln!("cannot pin the drain thread");
                    }
                    set_fifo(5);
                    if tx.send(()).is_err() {
                        return;
                    }
                    let mut bo = Backoff::default();
                    while !stop.load(Ordering::Acquire) {
                        let got: usize =
                            readers.iter_mut().map(|r| r.poll(usize::MAX, |_| {})).sum();
                        bo.pause(got);
                    }
                })
            };
            rx.recv()?;
            std::thread::sleep(Duration::from_millis(50));
            let before: Vec<(u64, u64)> = PROGS
                .iter()
                .map(|p| stats(&probe, p))
                .collect::<anyhow::Result<_>>()?;
            set_fifo(10);
            k = uring_loop(&mut ring, n)?;
            set_other();
            for (i, p) in PROGS.iter().enumerate() {
                let (c1, t1) = stats(&probe, p)?;
                prog_runs[i] += c1 - before[i].0;
                prog_ns[i] += t1 - before[i].1;
            }
            requests += 2 * n;
            stop.store(true, Ordering::Release);
            drain
                .join()
                .map_err(|_| anyhow::anyhow!("drain panicked"))?;
            dropped += probe.counters_total()?.total_dropped();
        }
        println!(
            "round {round}: bare {b:.1} ns/iter, kestrel {k:.1} ns/iter, bare/kestrel {:.3}",
            b / k
        );
        bare.push(b);
        under.push(k);
        ratio.push(b / k);
    }
    let mb = median(&mut bare);
    let mk = median(&mut under);
    let mr = median(&mut ratio);
    println!(
        "median over {rounds} rounds of {n} iterations (openat + close through io_uring): \
         bare {mb:.1} ns, kestrel {mk:.1} ns, throughput kestrel/bare {mr:.3}x, \
         +{:.1} ns per iteration",
        mk - mb
    );
    for (i, p) in PROGS.iter().enumerate() {
        println!(
            "{p:19} runs={} ns/run={:.1} ns/request={:.1}",
            prog_runs[i],
            prog_ns[i] as f64 / prog_runs[i].max(1) as f64,
            prog_ns[i] as f64 / requests.max(1) as f64
        );
    }
    println!(
        "io_uring programs: {:.1} ns per request (submit + complete), records dropped: {dropped}",
        (prog_ns[0] + prog_ns[1]) as f64 / requests.max(1) as f64
    );
    Ok(())
}
