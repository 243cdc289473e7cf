//! Counting and filtering: every record the probe tried to emit is either
//! sent or dropped (exactly), a full ring drops and counts, an idle system
//! with the default ring drops nothing, and the in-kernel filters (event
//! types at runtime, self exclusion, failed syscalls) work. Each test loads
//! its own probe.

mod common;

use std::os::unix::process::CommandExt;
use std::time::{Duration, Instant};

use common::*;
use kestrel_probe::wire::Counters;
use kestrel_probe::{events, EventType, Probe, ProbeConfig, RawEvent, RingReader};

fn load(cfg: ProbeConfig) -> Probe {
    Probe::load(cfg).unwrap_or_else(|e| {
        panic!("the probe must load for these tests (run them as root on a BTF kernel): {e}")
    })
}

fn page() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_PAGESIZE) as usize }
}

/// Drains every ring; returns the records (owned).
fn drain(readers: &mut [RingReader]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for r in readers.iter_mut() {
        while r.poll(usize::MAX, |rec| out.push(rec.to_vec())) > 0 {}
    }
    out
}

fn sum(cs: &[Counters]) -> Counters {
    let mut t = Counters::default();
    for c in cs {
        for i in 0..t.seen.len() {
            t.seen[i] += c.seen[i];
            t.sent[i] += c.sent[i];
            t.dropped[i] += c.dropped[i];
        }
    }
    t
}

/// Stops capture and waits until in-flight programs have finished, so
/// counters and rings are stable.
fn quiesce(p: &mut Probe) {
    p.set_event_types(&[]).expect("disable capture");
    std::thread::sleep(Duration::from_millis(100));
}

fn close_bad_fd(n: usize) {
    for _ in 0..n {
        // SAFETY: closing an invalid fd fails with EBADF and does nothing.
        unsafe { libc::close(-1) };
    }
}

#[test]
fn a_full_ring_drops_and_counts_exactly() {
    let _g = serial();
    let close = EventType::from_name("close").expect("close");
    let mut p = load(ProbeConfig {
        ring_size: page(),
        event_types: vec![close],
        exclude_tgid: None,
        ..ProbeConfig::default()
    });
    let mut readers = p.readers().expect("readers");
    // Nobody reads during the burst: a one-page ring holds ~30 records.
    close_bad_fd(20_000);
    quiesce(&mut p);
    let per_cpu = p.counters().expect("counters");
    let c = sum(&per_cpu);
    for (cpu, pc) in per_cpu.iter().enumerate() {
        assert_eq!(
            pc.total_seen(),
            pc.total_sent() + pc.total_dropped(),
            "cpu {cpu}: {pc:?}"
        );
    }
    assert!(
        c.total_dropped() > 0,
        "a one-page ring must overflow: {c:?}"
    );
    assert!(c.total_seen() >= 20_000, "{c:?}");
    assert_eq!(c.seen[1], c.total_seen(), "close is a file event: {c:?}");
    // What was sent is exactly what the rings hold.
    let recs = drain(&mut readers);
    assert_eq!(recs.len() as u64, c.total_sent(), "{c:?}");
    for r in &recs {
        let ev = RawEvent::parse(r).expect("decodes");
        assert_eq!(ev.ty(), close);
    }
}

#[test]
fn idle_system_default_ring_drops_nothing() {
    let _g = serial();
    let mut p = load(ProbeConfig {
        event_types: events::all_kernel(),
        exclude_tgid: None,
        ..ProbeConfig::default()
    });
    let mut readers = p.readers().expect("readers");
    let mut n = 0usize;
    let end = Instant::now() + Duration::from_secs(2);
    while Instant::now() < end {
        n += drain(&mut readers).len();
        std::thread::sleep(Duration::from_millis(5));
    }
    quiesce(&mut p);
    n += drain(&mut readers).len();
    let c = p.counters_total().expect("counters");
    assert_eq!(c.total_dropped(), 0, "{c:?}");
    assert_eq!(c.total_seen(), c.total_sent(), "{c:?}");
    assert_eq!(
        n as u64,
        c.total_sent(),
        "every sent record was read: {c:?}"
    );
    for f in p.ring_fill() {
        assert_eq!(f.used, 0, "ring {} not drained", f.cpu);
        assert_eq!(f.size, 8 << 20);
    }
}

fn open_marker(path: &str) {
    let c = cstr(path);
    // SAFETY: valid path; the fd (if any) is closed.
    let fd = unsafe { libc::openat(libc::AT_FDCWD, c.as_ptr(), libc::O_RDONLY) };
    if fd >= 0 {
        // SAFETY: our fd.
        unsafe { libc::close(fd) };
    }
}

fn names_of(recs: &[Vec<u8>], ty: &str) -> Vec<String> {
    let ty = EventType::from_name(ty).expect("type");
    recs.iter()
        .filter_map(|r| RawEvent::parse(r).ok())
        .filter(|e| e.ty() == ty)
        .map(|e| String::from_utf8_lossy(e.param(1)).into_owned())
        .collect()
}

#[test]
fn event_types_change_at_runtime() {
    let _g = serial();
    let openat = EventType::from_name("openat").expect("openat");
    let close = EventType::from_name("close").expect("close");
    let mut p = load(ProbeConfig {
        event_types: vec![close],
        exclude_tgid: None,
        ..ProbeConfig::default()
    });
    let mut readers = p.readers().expect("readers");
    let off = format!("/nonexistent/{}", unique("off"));
    open_marker(&off);
    p.set_event_types(&[openat, close]).expect("enable openat");
    assert_eq!(p.event_types(), &[openat, close]);
    let on = format!("/nonexistent/{}", unique("on"));
    open_marker(&on);
    std::thread::sleep(Duration::from_millis(50));
    let names = names_of(&drain(&mut readers), "openat");
    assert!(names.contains(&on), "enabled openat missing");
    assert!(!names.contains(&off), "openat seen while disabled");
    assert!(matches!(
        p.set_event_types(&[EventType(60_000)]),
        Err(kestrel_probe::ProbeError::UnknownEventType(60_000))
    ));
    assert_eq!(
        p.event_types(),
        &[openat, close],
        "a rejected set changes nothing"
    );
}

#[test]
fn own_process_and_failed_syscalls_can_be_excluded() {
    let _g = serial();
    let openat = EventType::from_name("openat").expect("openat");
    // Default: the loading process is excluded.
    let mut p = load(ProbeConfig {
        event_types: vec![openat],
        ..ProbeConfig::default()
    });
    let mut readers = p.readers().expect("readers");
    let mine = format!("/nonexistent/{}", unique("self"));
    open_marker(&mine);
    // A child is another process: it is captured.
    let child_path = format!("/nonexistent/{}", unique("child"));
    let cp = cstr(&child_path);
    in_child(|| {
        // SAFETY: raw openat in the child; it fails with ENOENT.
        unsafe { libc::syscall(libc::SYS_openat, libc::AT_FDCWD, cp.as_ptr(), 0) };
        0
    });
    std::thread::sleep(Duration::from_millis(50));
    let names = names_of(&drain(&mut readers), "openat");
    assert!(!names.contains(&mine), "own process not excluded");
    assert!(names.contains(&child_path), "child not captured");
    drop(readers);
    drop(p);

    // drop_failed: the failing open disappears, the successful one stays.
    let mut p = load(ProbeConfig {
        event_types: vec![openat],
        exclude_tgid: None,
        drop_failed: true,
        ..ProbeConfig::default()
    });
    let mut readers = p.readers().expect("readers");
    let bad = format!("/nonexistent/{}", unique("failed"));
    open_marker(&bad);
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join(unique("ok"));
    std::fs::write(&good, b"x").expect("write");
    let good = good.to_string_lossy().into_owned();
    open_marker(&good);
    std::thread::sleep(Duration::from_millis(50));
    let names = names_of(&drain(&mut readers), "openat");
    assert!(names.contains(&good));
    assert!(!names.contains(&bad), "failed syscall not dropped");
}

#[test]
fn readers_are_handed_out_once_and_config_is_checked() {
    let _g = serial();
    let mut p = load(ProbeConfig {
        event_types: vec![],
        ..ProbeConfig::default()
    });
    assert_eq!(p.readers().expect("first").len(), p.cpus());
    assert!(matches!(
        p.readers(),
        Err(kestrel_probe::ProbeError::ReadersTaken)
    ));
    drop(p);
    for bad in [1000usize, 3 * page()] {
        let e = Probe::load(ProbeConfig {
            ring_size: bad,
            ..ProbeConfig::default()
        })
        .expect_err("bad ring size");
        assert!(matches!(e, kestrel_probe::ProbeError::Config(_)), "{e}");
    }
    let e = Probe::load(ProbeConfig {
        snaplen: 4096,
        ..ProbeConfig::default()
    })
    .expect_err("bad snaplen");
    assert!(matches!(e, kestrel_probe::ProbeError::Config(_)), "{e}");
}

#[test]
fn dropping_the_probe_detaches_its_programs() {
    let _g = serial();
    let close = EventType::from_name("close").expect("close");
    let mut p = load(ProbeConfig {
        event_types: vec![close],
        exclude_tgid: None,
        ..ProbeConfig::default()
    });
    let mut readers = p.readers().expect("readers");
    let ids: Vec<u32> = p
        .program_stats()
        .expect("stats")
        .iter()
        .map(|s| s.id)
        .collect();
    // sched fork/exec/exit, sys_exit, io_uring submit and complete.
    assert_eq!(ids.len(), 6);
    let loaded = || -> Vec<u32> {
        aya::programs::loaded_programs()
            .filter_map(|p| p.ok().map(|p| p.id()))
            .collect()
    };
    let before = loaded();
    assert!(
        ids.iter().all(|id| before.contains(id)),
        "{ids:?} not loaded"
    );
    close_bad_fd(10);
    std::thread::sleep(Duration::from_millis(50));
    assert!(drain(&mut readers).len() >= 10, "attached probe records");
    drop(p);
    // The tracepoint lets go of the program within a grace period (a few
    // syscalls right after the drop may still run it); after that the
    // rings, still mapped by the readers, get nothing.
    std::thread::sleep(Duration::from_millis(200));
    drain(&mut readers);
    close_bad_fd(1000);
    std::thread::sleep(Duration::from_millis(50));
    let late = drain(&mut readers);
    let tids: Vec<u32> = late
        .iter()
        .filter_map(|r| RawEvent::parse(r).ok().map(|e| e.hdr.tid))
        .collect();
    assert_eq!(
        late.len(),
        0,
        "records after drop from tids {tids:?}, me {}",
        gettid()
    );
    // The kernel frees programs after an RCU grace period.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let after = loaded();
        if ids.iter().all(|id| !after.contains(id)) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "programs {ids:?} still loaded 10 s after drop"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs in a child process as an unprivileged user (see below).
#[test]
fn unprivileged_child_helper() {
    if std::env::var_os("KST_UNPRIVILEGED_CHILD").is_none() {
        return; // only meaningful when started by the test below
    }
    match Probe::load(ProbeConfig::default()) {
        Ok(_) => println!("KST-RESULT loaded"),
        Err(e) => println!("KST-RESULT {e}"),
    }
}

#[test]
fn without_privileges_the_error_says_root_is_needed() {
    let _g = serial();
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(&exe)
        .args(["--exact", "unprivileged_child_helper", "--nocapture"])
        .env("KST_UNPRIVILEGED_CHILD", "1")
        .uid(65534)
        .gid(65534)
        .output()
        .expect("run the test binary as nobody");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("KST-RESULT "))
        .unwrap_or_else(|| {
            panic!(
                "child printed no result: {text}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    assert!(
        line.contains("kestrel needs root (CAP_BPF, CAP_PERFMON)"),
        "unexpected: {line}"
    );
}

fn pin_to(cpu: usize) {
    assert!(
        core_affinity::set_for_current(core_affinity::CoreId { id: cpu }),
        "pin to CPU {cpu}"
    );
}

/// A reader that found its ring idle sleeps in `park` until the probe
/// commits the next record to that ring: it is woken by our open on that
/// CPU long before its timeout (without the probe's wake-up it would sleep
/// the whole timeout every time).
#[test]
fn a_parked_reader_is_woken_by_the_next_record() {
    let _g = serial();
    let openat = EventType::from_name("openat").expect("openat");
    let mut p = load(ProbeConfig {
        event_types: vec![openat],
        exclude_tgid: None,
        ..ProbeConfig::default()
    });
    let cpu = 0;
    let mut reader = p
        .readers()
        .expect("readers")
        .into_iter()
        .find(|r| r.cpu() == cpu as u32)
        .expect("a ring for CPU 0");
    let marker = format!("/nonexistent/{}", unique("park"));
    let want = marker.clone();
    let timeout = Duration::from_secs(5);
    let (tx, rx) = std::sync::mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let start = Instant::now();
        let mut parks = 0;
        loop {
            let mut found = false;
            while reader.poll(usize::MAX, |rec| {
                let Ok(e) = RawEvent::parse(rec) else { return };
                if e.ty() == openat && e.param(1) == want.as_bytes() {
                    found = true;
                }
            }) > 0
            {}
            if found {
                return (start.elapsed(), parks);
            }
            if parks == 0 {
                tx.send(()).expect("signal");
            }
            assert!(start.elapsed() < 3 * timeout, "marker never arrived");
            reader.park(timeout);
            parks += 1;
        }
    });
    rx.recv().expect("the reader parks");
    std::thread::sleep(Duration::from_millis(200));
    let opened = std::thread::spawn(move || {
        pin_to(cpu);
        let t = Instant::now();
        open_marker(&marker);
        t
    })
    .join()
    .expect("opener");
    let (elapsed, parks) = waiter.join().expect("waiter");
    let after_open = opened.elapsed();
    assert!(parks >= 1, "the reader never parked");
    assert!(
        after_open < Duration::from_secs(1) && elapsed < timeout,
        "woken {after_open:?} after the open ({parks} parks, {elapsed:?} in all): the probe did not wake the parked reader"
    );
}
