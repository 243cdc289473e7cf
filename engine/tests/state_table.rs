//! Process table upkeep: bounds, exits, state syscalls, the /proc scan.

use std::path::Path;

use kestrel_engine::event::raw::comm_from;
use kestrel_engine::event::wire::EventHdr;
use kestrel_engine::event::{EventBuilder, EventType, RawEvent};
use kestrel_engine::fields::live::LiveEvent;
use kestrel_engine::fields::{resolve, Extract, Value};
use kestrel_engine::state::process::DEFAULT_EXIT_GRACE_NS;
use kestrel_engine::state::{scan_proc, Context, ProcCache, ProcessTable};

fn hdr(tgid: u32, ptgid: u32, gen: u64, ts: u64) -> EventHdr {
    EventHdr {
        ts_ns: ts,
        tid: tgid,
        tgid,
        ptgid,
        exec_gen: gen,
        comm: comm_from(b"p"),
        ..Default::default()
    }
}

fn fork(parent: u32, child: u32, ts: u64) -> Vec<u8> {
    EventBuilder::new(EventType::PROCFORK, hdr(parent, 1, 1, ts))
        .u64(child as u64)
        .u64(child as u64)
        .u64(parent as u64)
        .u64(child as u64)
        .u64(ts)
        .finish()
}

fn exit(tgid: u32, ts: u64) -> Vec<u8> {
    EventBuilder::new(EventType::PROCEXIT, hdr(tgid, 1, 1, ts))
        .i64(0)
        .finish()
}

fn apply(t: &ProcessTable, rec: &[u8]) {
    t.apply(&RawEvent::parse(rec).unwrap());
}

#[test]
fn table_stays_within_capacity_and_counts_evictions() {
    let t = ProcessTable::new(1000);
    for i in 0..5000u32 {
        apply(&t, &fork(1, 100 + i, 10 + i as u64 * 1_000_000_000));
    }
    assert!(t.len() <= 1000, "len {}", t.len());
    let s = t.stats();
    assert_eq!(s.inserted, 5000);
    assert_eq!(s.evicted_capacity as usize + t.len(), 5000);
    assert_eq!(s.orphan_forks, 5000, "parent 1 is not in the table");
    // The most recent processes survive (LRU-ish).
    assert!(t.get(100 + 4999).is_some());
    assert!(t.get(100).is_none());
}

#[test]
fn worker_cache_sweep_lets_go_of_exited_processes() {
    use std::sync::Arc;
    let t = ProcessTable::new(1000);
    let cache = ProcCache::new();
    apply(&t, &fork(1, 10, 1_000));
    for i in 0..200u32 {
        apply(&t, &fork(10, 100 + i, 2_000));
        assert!(cache.get(&t, 100 + i).is_some());
        // Chains hold the parent too.
        assert_eq!(cache.chain(&t, 100 + i, 10).len(), 1);
    }
    // The 200 children and their parent.
    assert_eq!(cache.len(), 201);
    let weak = |pids: std::ops::Range<u32>| -> Vec<std::sync::Weak<_>> {
        pids.map(|pid| Arc::downgrade(&cache.get(&t, pid).unwrap()))
            .collect()
    };
    let (dead, live) = (weak(100..200), weak(200..300));
    // Half of them exit and leave the table; the other half stay.
    for i in 0..100u32 {
        apply(&t, &exit(100 + i, 3_000));
    }
    t.expire(u64::MAX);
    assert!(
        dead.iter().all(|w| w.upgrade().is_some()),
        "before the sweep the cache still holds them"
    );
    cache.sweep();
    assert_eq!(cache.len(), 101);
    assert!(
        dead.iter().all(|w| w.upgrade().is_none()),
        "an exited process is still held"
    );
    assert!(live.iter().all(|w| w.upgrade().is_some()));
    assert!(cache.get(&t, 250).is_some());
}

#[test]
fn exited_processes_leave_after_the_grace_period() {
    let t = ProcessTable::new(100);
    apply(&t, &fork(1, 50, 1_000));
    apply(&t, &fork(1, 51, 1_000));
    apply(&t, &exit(50, 2_000));
    let p = t.get(50).unwrap();
    assert_eq!(p.exited_ts, Some(2_000));
    // Still there for late events within the grace period.
    apply(&t, &exit(51, 2_000 + DEFAULT_EXIT_GRACE_NS / 2));
    assert!(t.get(50).is_some());
    t.expire(2_000 + DEFAULT_EXIT_GRACE_NS + 1);
    assert!(t.get(50).is_none());
    assert!(t.get(51).is_some());
    assert_eq!(t.stats().evicted_exited, 1);
    // A reused pid is not evicted by the old process's exit.
    apply(&t, &fork(1, 52, 3_000));
    apply(&t, &exit(52, 4_000));
    apply(&t, &fork(1, 52, 5_000));
    t.expire(u64::MAX);
    let p = t.get(52).expect("new process with the reused pid stays");
    assert_eq!(p.exited_ts, None);
}

#[test]
fn session_group_and_capabilities() {
    let t = ProcessTable::new(100);
    apply(&t, &fork(1, 60, 1_000));
    let mut h = hdr(60, 1, 1, 2_000);
    h.ret = 60;
    apply(&t, &EventBuilder::new(EventType(16), h).finish());
    let p = t.get(60).unwrap();
    assert_eq!((p.sid, p.pgid, p.tty), (60, 60, 0));
    let mut h = hdr(60, 1, 1, 3_000);
    h.ret = 0;
    apply(
        &t,
        &EventBuilder::new(EventType(17), h).u64(0).u64(0).finish(),
    );
    assert_eq!(t.get(60).unwrap().pgid, 60);
    apply(
        &t,
        &EventBuilder::new(EventType(18), hdr(60, 1, 1, 4_000))
            .u64(1 << 21)
            .u64(0)
            .u64(0)
            .finish(),
    );
    assert_eq!(t.get(60).unwrap().cap_inheritable, 1 << 21);
    // Failed calls change nothing.
    let mut h = hdr(60, 1, 1, 5_000);
    h.ret = -1;
    apply(
        &t,
        &EventBuilder::new(EventType(18), h)
            .u64(0)
            .u64(0)
            .u64(0)
            .finish(),
    );
    assert_eq!(t.get(60).unwrap().cap_inheritable, 1 << 21);
}

#[test]
fn chdir_fchdir_and_stale_updates() {
    let t = ProcessTable::new(100);
    apply(&t, &fork(1, 70, 1_000));
    apply(
        &t,
        &EventBuilder::new(EventType::CHDIR, hdr(70, 1, 1, 2_000))
            .bytes(b"/srv//app/")
            .finish(),
    );
    assert_eq!(&*t.get(70).unwrap().current().cwd, b"/srv/app");
    apply(
        &t,
        &EventBuilder::new(EventType::CHDIR, hdr(70, 1, 1, 2_100))
            .bytes(b"../data")
            .finish(),
    );
    assert_eq!(&*t.get(70).unwrap().current().cwd, b"/srv/data");
    let fi = kestrel_engine::event::wire::FdInfo {
        fd: 4,
        kind: b'd',
        ..Default::default()
    };
    apply(
        &t,
        &EventBuilder::new(EventType::FCHDIR, hdr(70, 1, 1, 2_200))
            .i64(4)
            .fdinfo(&fi, b"/var/tmp")
            .finish(),
    );
    assert_eq!(&*t.get(70).unwrap().current().cwd, b"/var/tmp");
}

#[test]
fn scan_seeds_ancestors_of_this_process() {
    let recs = scan_proc(Path::new("/proc")).unwrap();
    let t = ProcessTable::new(1 << 16);
    for r in &recs {
        apply(&t, r);
    }
    assert_eq!(t.len(), recs.len());
    let me = std::process::id();
    let mine = t.get(me).unwrap();
    let ctx = Context::default();
    // An event of this process sees its executable and a parent chain.
    let h = EventHdr {
        ts_ns: kestrel_engine::state::boot_clock_ns(),
        tid: me,
        tgid: me,
        ptgid: mine.ptgid,
        exec_gen: 12,
        comm: comm_from(&mine.comm),
        ..Default::default()
    };
    let rec = EventBuilder::new(EventType(64), h)
        .bytes(b"x")
        .u64(0)
        .u64(0)
        .finish();
    let raw = RawEvent::parse(&rec).unwrap();
    t.apply(&raw);
    let e = LiveEvent::new(raw, &t, &ctx, 1);
    let exe = std::env::current_exe().unwrap();
    let got = e.extract(&resolve("proc.exepath", None).unwrap());
    assert_eq!(got, Some(Value::string(exe.to_string_lossy().as_bytes())));
    assert!(e.extract(&resolve("proc.pname", None).unwrap()).is_some());
    assert!(e
        .extract(&resolve("proc.duration", None).unwrap())
        .is_some());
    // The scan's unknown generation was adopted from the first event.
    assert_eq!(t.get(me).unwrap().current().exec_gen, Some(12));
}

/// Issue 14 (bounded memory): a process evicted because the table was
/// over capacity kept its socket-cache entries (only the exit path forgot
/// them), so under churn the cache held sockets of processes kestrel no
/// longer knew until it filled up and started over.
#[test]
fn capacity_eviction_left_the_processes_sockets_behind() {
    use kestrel_engine::event::wire::{FdInfo, SockTuple};
    // connect(fd, addr, tuple) returning 0.
    let connect = |tgid: u32, fd: i64, ts: u64| {
        EventBuilder::new(EventType(129), hdr(tgid, 1, 1, ts))
            .i64(fd)
            .sockaddr(&SockTuple::default())
            .fdinfo(&FdInfo::default(), b"")
            .finish()
    };
    let t = ProcessTable::new(1000);
    apply(&t, &fork(1, 100, 1));
    apply(&t, &connect(100, 5, 2));
    apply(&t, &connect(100, 6, 3));
    assert!(t.sockets.get(100, 5).is_some_and(|s| s.connected));
    assert_eq!(t.stats().socket_cache_entries, 2);
    // Newer processes push process 100 (the least recently seen) out.
    for i in 0..2000u32 {
        apply(&t, &fork(1, 1000 + i, 10 + i as u64 * 1_000));
    }
    assert!(t.get(100).is_none(), "process 100 was evicted");
    assert!(t.stats().evicted_capacity > 0);
    assert!(t.sockets.get(100, 5).is_none() && t.sockets.get(100, 6).is_none());
    assert_eq!(t.stats().socket_cache_entries, 0);
}

/// Issue 14 (bounded memory): after a burst of processes a worker's
/// process cache swept its exited entries but kept the map at its peak
/// size (thousands of buckets per worker, for the daemon's life).
#[test]
fn worker_cache_kept_its_peak_size_after_a_burst() {
    let t = ProcessTable::new(100_000);
    let cache = ProcCache::new();
    apply(&t, &fork(1, 10, 1_000));
    for i in 0..4000u32 {
        apply(&t, &fork(10, 100 + i, 2_000));
        assert!(cache.get(&t, 100 + i).is_some());
    }
    let peak = cache.capacity();
    assert!(peak >= 4000, "capacity {peak}");
    for i in 0..4000u32 {
        apply(&t, &exit(100 + i, 3_000));
    }
    t.expire(u64::MAX);
    cache.sweep();
    assert_eq!(cache.len(), 0);
    assert!(
        cache.capacity() <= 256,
        "capacity {} after the burst (peak {peak})",
        cache.capacity()
    );
    // It still works, and grows again when needed.
    assert!(cache.get(&t, 10).is_some());
    assert_eq!(cache.len(), 1);
}
