//! Shared harness for the kernel tests: one probe capturing every event
//! type, loaded once per test binary, drained by a collector thread that
//! keeps the records of this process and its children.
//!
//! These tests need root and a BTF kernel. They fail (never skip) when the
//! probe cannot load: CI must run them as root.

#![allow(dead_code)]

use std::ffi::CString;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use kestrel_probe::wire::{EventHdr, FdInfo, SockTuple};
use kestrel_probe::{events, Backoff, EventType, Probe, ProbeConfig, RawEvent};

/// Tests run one at a time: some load extra probes, some fork, and the
/// shared collector is simpler to reason about without interleaving.
pub fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Harness {
    pub probe: Mutex<Probe>,
    store: Arc<Mutex<Vec<Vec<u8>>>>,
    decode_errors: Arc<AtomicU64>,
}

/// An owned record.
#[derive(Clone)]
pub struct Rec(pub Vec<u8>);

impl Rec {
    pub fn ev(&self) -> RawEvent<'_> {
        RawEvent::parse(&self.0).expect("records in the store decode")
    }
    pub fn hdr(&self) -> EventHdr {
        self.ev().hdr
    }
    pub fn name(&self) -> &'static str {
        self.ev().info.name
    }
    fn idx(&self, name: &str) -> usize {
        self.ev()
            .param_index(name)
            .unwrap_or_else(|| panic!("{} has no parameter {name}", self.name()))
    }
    /// Raw bytes of a parameter by Falco name.
    pub fn p(&self, name: &str) -> &[u8] {
        let i = self.idx(name);
        let ev = self.ev();
        let b = ev.param(i);
        // Re-borrow from self.0: RawEvent borrows the same buffer.
        let start = b.as_ptr() as usize - self.0.as_ptr() as usize;
        &self.0[start..start + b.len()]
    }
    pub fn s(&self, name: &str) -> String {
        String::from_utf8_lossy(self.p(name)).into_owned()
    }
    pub fn i(&self, name: &str) -> i64 {
        let b: [u8; 8] = self
            .p(name)
            .try_into()
            .unwrap_or_else(|_| panic!("{}.{name} is not an integer", self.name()));
        i64::from_le_bytes(b)
    }
    pub fn u(&self, name: &str) -> u64 {
        self.i(name) as u64
    }
    pub fn fdinfo(&self, name: &str) -> (FdInfo, String) {
        let i = self.idx(name);
        let (fi, path) = self
            .ev()
            .param_fdinfo(i)
            .unwrap_or_else(|| panic!("{}.{name} is not an fdinfo", self.name()));
        (fi, String::from_utf8_lossy(path).into_owned())
    }
    pub fn sockaddr(&self, name: &str) -> (SockTuple, String) {
        let i = self.idx(name);
        let (t, path) = self
            .ev()
            .param_sockaddr_path(i)
            .unwrap_or_else(|| panic!("{}.{name} is not a sockaddr", self.name()));
        (t, String::from_utf8_lossy(path).into_owned())
    }
    pub fn ret(&self) -> i64 {
        self.hdr().ret
    }
    pub fn tid(&self) -> u32 {
        self.hdr().tid
    }
}

impl std::fmt::Debug for Rec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ev = self.ev();
        write!(
            f,
            "{} tid={} ret={} [",
            ev.info.name, ev.hdr.tid, ev.hdr.ret
        )?;
        for (i, p) in ev.info.params.iter().enumerate() {
            write!(f, " {}={:?}", p.name, String::from_utf8_lossy(ev.param(i)))?;
        }
        write!(f, " ]")
    }
}

pub fn harness() -> &'static Harness {
    static H: OnceLock<Harness> = OnceLock::new();
    H.get_or_init(|| {
        let mut probe = Probe::load(ProbeConfig {
            event_types: events::all_kernel(),
            exclude_tgid: None,
            ..ProbeConfig::default()
        })
        .unwrap_or_else(|e| {
            panic!("the probe must load for these tests (run them as root on a BTF kernel): {e}")
        });
        let readers = probe.readers().expect("readers");
        let store = Arc::new(Mutex::new(Vec::new()));
        let decode_errors = Arc::new(AtomicU64::new(0));
        let me = std::process::id();
        {
            let store = Arc::clone(&store);
            let decode_errors = Arc::clone(&decode_errors);
            std::thread::Builder::new()
                .name("collector".into())
                .spawn(move || collect(readers, me, &store, &decode_errors))
                .expect("collector thread");
        }
        Harness {
            probe: Mutex::new(probe),
            store,
            decode_errors,
        }
    })
}

fn collect(
    mut readers: Vec<kestrel_probe::RingReader>,
    me: u32,
    store: &Mutex<Vec<Vec<u8>>>,
    decode_errors: &AtomicU64,
) {
    let mut backoff = Backoff::new(
        Duration::from_micros(100),
        Duration::from_micros(20),
        Duration::from_micros(500),
    );
    loop {
        let mut got = 0;
        for r in readers.iter_mut() {
            got += r.poll(usize::MAX, |rec| match RawEvent::parse(rec) {
                Ok(ev) => {
                    if ev.hdr.tgid == me || ev.hdr.ptgid == me {
                        store
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push(rec.to_vec());
                    }
                }
                Err(e) => {
                    eprintln!("decode error: {e}");
                    decode_errors.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        backoff.pause(got);
    }
}

impl Harness {
    /// Waits up to 5 s for records matching `pred`; returns all matches
    /// seen once at least `min` matched.
    pub fn wait_n(&self, min: usize, pred: impl Fn(&Rec) -> bool) -> Vec<Rec> {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            assert_eq!(
                self.decode_errors.load(Ordering::Relaxed),
                0,
                "the probe wrote records that do not decode"
            );
            let found: Vec<Rec> = self
                .store
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .iter()
                .map(|b| Rec(b.clone()))
                .filter(|r| pred(r))
                .collect();
            if found.len() >= min || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The one record matching `pred` (panics if none arrives in 5 s).
    pub fn wait(&self, what: &str, pred: impl Fn(&Rec) -> bool) -> Rec {
        let v = self.wait_n(1, pred);
        match v.into_iter().next() {
            Some(r) => r,
            None => {
                let recent: Vec<Rec> = self
                    .store
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .iter()
                    .rev()
                    .take(15)
                    .map(|b| Rec(b.clone()))
                    .collect();
                panic!("no {what} event arrived within 5 s; latest records: {recent:#?}")
            }
        }
    }

    /// Every record matching `pred` after waiting `wait` for stragglers.
    pub fn settle(&self, wait: Duration, pred: impl Fn(&Rec) -> bool) -> Vec<Rec> {
        std::thread::sleep(wait);
        self.store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|b| Rec(b.clone()))
            .filter(|r| pred(r))
            .collect()
    }

    /// Asserts that no record matching `pred` arrives within `wait`.
    pub fn none(&self, wait: Duration, what: &str, pred: impl Fn(&Rec) -> bool) {
        std::thread::sleep(wait);
        let found: Vec<Rec> = self
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|b| Rec(b.clone()))
            .filter(|r| pred(r))
            .collect();
        assert!(found.is_empty(), "unexpected {what}: {found:#?}");
    }
}

/// Records of `name` made by thread `tid`.
pub fn by(tid: u32, name: &'static str) -> impl Fn(&Rec) -> bool {
    let ty = EventType::from_name(name).unwrap_or_else(|| panic!("unknown event {name}"));
    move |r: &Rec| r.tid() == tid && r.ev().ty() == ty
}

pub fn gettid() -> u32 {
    // SAFETY: gettid has no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

pub fn errno() -> i64 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64
}

pub fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL in test strings")
}

/// CLOCK_BOOTTIME in ns: the clock of the records' `ts_ns`.
pub fn boottime_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid out pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// A name unique to this test run.
pub fn unique(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "kst-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Runs `f` in a forked child and returns the child's pid once it exited
/// with status 0. `f` must only make raw syscalls (the child of a threaded
/// process may not allocate or take locks).
pub fn in_child(f: impl FnOnce() -> i32) -> u32 {
    // SAFETY: the child runs only `f`, which makes raw syscalls, then
    // _exit()s without unwinding or running destructors.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed: {}", std::io::Error::last_os_error());
    if pid == 0 {
        let code = f();
        // SAFETY: terminating the child without running Rust teardown.
        unsafe { libc::_exit(code) };
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "child failed with status {status:#x}"
    );
    pid as u32
}

/// Reads a file into a string (for /proc lookups).
pub fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
