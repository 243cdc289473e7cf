//! Trigger -> expect for the interest filter (bpf/filter.h): a filter
//! program installed by hand, real syscalls, and for each one whether its
//! record arrived or the probe counted it as filtered. The filter's
//! derivation from rules is tested in the engine (kestrel_engine::kfilter);
//! here the kernel side must do exactly what the program says. Root and a
//! BTF kernel are required.

mod common;

use std::ffi::CString;
use std::time::Duration;

use common::*;
use kestrel_probe::wire::{
    FClause, FilterProgram, TFilter, COMM_LEN, FR_ANY, FR_SUCCESS, TFF_COMM, TFF_PATH, TFF_SOCKFD,
    TF_CLAUSES, TF_DROP, TRACK_SLOTS,
};
use kestrel_probe::EventType;

const READS: u8 = 0b0101; // O_RDONLY, O_RDWR
const WRITES: u8 = 0b0110; // O_WRONLY, O_RDWR
const ANY_MODE: u8 = 0b1111;

fn ty(name: &str) -> u16 {
    EventType::from_name(name).expect("event type").0
}

fn clause(ret: u8, acc_modes: u8, path_mask: u64, comm_mask: u64) -> FClause {
    FClause {
        path_mask,
        comm_mask,
        acc_modes,
        ret,
        ..FClause::default()
    }
}

fn tfilter(mode: u8, flags: u8, clauses: &[FClause]) -> TFilter {
    let mut f = TFilter {
        mode,
        flags,
        nclauses: clauses.len() as u8,
        ..TFilter::default()
    };
    f.c[..clauses.len()].copy_from_slice(clauses);
    f
}

fn comm(s: &str) -> [u8; COMM_LEN] {
    let mut c = [0u8; COMM_LEN];
    c[..s.len()].copy_from_slice(s.as_bytes());
    c
}

/// Installs `prog` and counts this process's filtered events; undone on
/// drop (no filter, nothing tracked).
struct Installed;

impl Installed {
    fn new(prog: &FilterProgram) -> Installed {
        let mut p = harness().probe.lock().unwrap_or_else(|e| e.into_inner());
        p.install_filter(prog).expect("install the filter");
        let mut t = [0u32; TRACK_SLOTS];
        t[3] = std::process::id();
        p.set_tracked(&t).expect("track this process");
        Installed
    }

    /// This process's (rel 0) or its children's (rel 1) filtered events
    /// of type `name`.
    fn filtered(&self, rel: u8, name: &str) -> u64 {
        let p = harness().probe.lock().unwrap_or_else(|e| e.into_inner());
        p.tracked_filtered()
            .expect("tracked counts")
            .into_iter()
            .filter(|&(tgid, r, t, _)| tgid == std::process::id() && r == rel && t == ty(name))
            .map(|(_, _, _, n)| n)
            .sum()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let mut p = harness().probe.lock().unwrap_or_else(|e| e.into_inner());
        p.install_filter(&FilterProgram::default())
            .expect("remove the filter");
        p.set_tracked(&[0; TRACK_SLOTS]).expect("untrack");
    }
}

fn openat(dirfd: i32, path: &str, flags: i32) -> i64 {
    let c = CString::new(path).expect("no NUL");
    // SAFETY: valid path; the fd is closed at once.
    let fd = unsafe { libc::openat(dirfd, c.as_ptr(), flags | libc::O_CLOEXEC, 0o600) };
    if fd >= 0 {
        // SAFETY: our own fd.
        unsafe { libc::close(fd) };
        fd as i64
    } else {
        -errno()
    }
}

/// The openat records of this thread whose path argument is `path`, made
/// after `since` (boot-clock ns).
fn opened(tid: u32, path: &'static str, since: u64) -> impl Fn(&Rec) -> bool {
    let f = by(tid, "openat");
    move |r: &Rec| f(r) && r.p("name") == path.as_bytes() && r.hdr().ts_ns > since
}

#[test]
fn openat_is_filtered_by_path_sets_flags_and_result() {
    let _g = serial();
    let h = harness();
    let dir = tempfile::Builder::new()
        .prefix("kst-filter")
        .tempdir()
        .expect("tempdir");
    let base = std::fs::canonicalize(dir.path()).expect("canonical");
    let wdir = base.join("w");
    std::fs::create_dir(&wdir).expect("mkdir");
    std::fs::write(base.join("plain"), b"x").expect("write");
    let wpat = format!("{}/", wdir.display());
    let prog = FilterProgram {
        types: vec![(
            ty("openat"),
            tfilter(
                TF_CLAUSES,
                TFF_PATH,
                &[
                    clause(FR_SUCCESS, READS, 1, 0),
                    clause(FR_ANY, WRITES, 2, 0),
                ],
            ),
        )],
        paths: vec![
            (b"/etc/hostname".to_vec(), true, 1),
            (b"/kst-nonexistent/a".to_vec(), true, 1),
            (wpat.clone().into_bytes(), false, 2),
        ],
        comms: vec![],
    };
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let etc = CString::new("/etc").expect("path");
    // SAFETY: valid path; closed below. Opened before the filter is in
    // force: every open of this process while it is counts.
    let etcfd = unsafe { libc::open(etc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(etcfd >= 0);
    let inst = Installed::new(&prog);
    let tid = gettid();
    let t0 = boottime_ns();

    // Emitted: in the set with a read; spellings the filter cannot judge;
    // a relative path; a write below the write prefix.
    let w_file = leak(format!("{}/new", wdir.display()));
    let emitted: Vec<(i32, &'static str, i32)> = vec![
        (libc::AT_FDCWD, "/etc/hostname", libc::O_RDONLY),
        (libc::AT_FDCWD, "/etc/./hostname", libc::O_RDONLY),
        (libc::AT_FDCWD, "//etc/hostname", libc::O_RDONLY),
        (libc::AT_FDCWD, "/etc/../etc/hostname", libc::O_RDONLY),
        (etcfd, "hostname", libc::O_RDONLY),
        (libc::AT_FDCWD, w_file, libc::O_WRONLY | libc::O_CREAT),
    ];
    // Filtered: not in any set; in the set but failed where the clause
    // wants success; a write outside the write prefix; a read below it.
    let plain = leak(format!("{}/plain", base.display()));
    let w_read = leak(format!("{}/new", wdir.display()));
    let filtered: Vec<(i32, &'static str, i32)> = vec![
        (libc::AT_FDCWD, "/etc/passwd", libc::O_RDONLY),
        (libc::AT_FDCWD, "/kst-nonexistent/a", libc::O_RDONLY),
        (libc::AT_FDCWD, plain, libc::O_WRONLY),
        (libc::AT_FDCWD, w_read, libc::O_RDONLY),
    ];
    for (d, p, f) in &emitted {
        openat(*d, p, *f);
    }
    for (d, p, f) in &filtered {
        openat(*d, p, *f);
    }
    for (_, p, _) in &emitted {
        h.wait(p, opened(tid, p, t0));
    }
    // The w_read path equals w_file: it must arrive exactly once (the
    // write), not twice.
    let writes = h.settle(Duration::from_millis(300), opened(tid, w_file, t0));
    assert_eq!(writes.len(), 1, "{writes:#?}");
    for (_, p, _) in &filtered[..3] {
        h.none(Duration::ZERO, p, opened(tid, p, t0));
    }
    assert_eq!(inst.filtered(0, "openat"), filtered.len() as u64);
    // SAFETY: our own fd.
    unsafe { libc::close(etcfd) };
}

#[test]
fn comm_sets_apply_to_main_threads_only() {
    let _g = serial();
    let h = harness();
    let prog = FilterProgram {
        types: vec![(
            ty("setsid"),
            tfilter(TF_CLAUSES, TFF_COMM, &[clause(FR_ANY, ANY_MODE, 0, 4)]),
        )],
        paths: vec![],
        comms: vec![(comm("kst-wanted"), 4), (comm("kst-other"), 8)],
    };
    let inst = Installed::new(&prog);
    let named = |name: &'static [u8]| {
        move || {
            // SAFETY: raw syscalls only in the forked child.
            unsafe {
                libc::prctl(libc::PR_SET_NAME, name.as_ptr() as libc::c_ulong, 0, 0, 0);
                libc::setsid();
            }
            0
        }
    };
    let wanted = in_child(named(b"kst-wanted\0"));
    let other = in_child(named(b"kst-other\0"));
    let unset = in_child(named(b"kst-nobody\0"));
    h.wait("setsid of the wanted comm", |r: &Rec| {
        r.hdr().tgid == wanted && r.name() == "setsid"
    });
    h.none(
        Duration::from_millis(200),
        "setsid of other comms",
        |r: &Rec| (r.hdr().tgid == other || r.hdr().tgid == unset) && r.name() == "setsid",
    );
    assert_eq!(inst.filtered(1, "setsid"), 2);
    // A thread that is not its process's main thread passes comm tests:
    // it may have renamed itself while proc.name is the process's name.
    let t = std::thread::spawn(|| {
        // SAFETY: setsid on a thread of a process that is no session
        // leader: fails with EPERM or succeeds; either way an event.
        unsafe { libc::setsid() };
        gettid()
    })
    .join()
    .expect("thread");
    h.wait("setsid of a secondary thread", by(t, "setsid"));
}

#[test]
fn close_of_a_connected_socket_passes_a_dropping_filter() {
    let _g = serial();
    let h = harness();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("listen");
    let addr = listener.local_addr().expect("addr");
    let prog = FilterProgram {
        types: vec![(ty("close"), tfilter(TF_DROP, TFF_SOCKFD, &[]))],
        paths: vec![],
        comms: vec![],
    };
    let inst = Installed::new(&prog);
    let tid = gettid();
    let sock = std::net::TcpStream::connect(addr).expect("connect");
    let sfd = std::os::fd::AsRawFd::as_raw_fd(&sock);
    let file = std::fs::File::open("/etc/hostname").expect("open");
    let ffd = std::os::fd::AsRawFd::as_raw_fd(&file);
    drop(sock);
    drop(file);
    let closes = |fd: i32| {
        let f = by(tid, "close");
        move |r: &Rec| f(r) && r.i("fd") == fd as i64
    };
    h.wait("close of the connected socket", closes(sfd));
    h.none(Duration::from_millis(200), "close of a file", closes(ffd));
    assert!(inst.filtered(0, "close") >= 1);
}

#[test]
fn a_new_filter_replaces_the_old_one_whole() {
    let _g = serial();
    let h = harness();
    let drop_setsid = |mode| FilterProgram {
        types: vec![(ty("setsid"), tfilter(mode, 0, &[]))],
        paths: vec![(b"/etc/".to_vec(), false, 1)],
        comms: vec![(comm("x"), 1)],
    };
    let inst = Installed::new(&drop_setsid(TF_DROP));
    let tid = gettid();
    // SAFETY: fails with EPERM (not a new session for a thread of this
    // process) or succeeds; an event either way.
    unsafe { libc::setsid() };
    h.none(
        Duration::from_millis(200),
        "setsid under a dropping filter",
        by(tid, "setsid"),
    );
    // Twice, so that both slots have been written over.
    for _ in 0..2 {
        let mut p = h.probe.lock().unwrap_or_else(|e| e.into_inner());
        p.install_filter(&drop_setsid(TF_CLAUSES))
            .expect("reinstall");
        p.install_filter(&FilterProgram::default())
            .expect("pass all");
    }
    // SAFETY: as above.
    unsafe { libc::setsid() };
    h.wait("setsid once nothing filters it", by(tid, "setsid"));
    assert_eq!(inst.filtered(0, "setsid"), 1);
}
