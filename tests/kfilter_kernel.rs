//! The kernel interest filter on the real kernel, differentially: the
//! program the daemon installs for kestrel's default rules, for Falco's
//! stable file and for the other two Falco files, and real `openat` calls
//! (sensitive and ordinary paths, odd spellings, relative and over-long
//! paths, every access mode, successes and failures) from a thread that is
//! not its process's main thread and from a child's main thread. Each call
//! must be emitted by the probe exactly when the engine's model of the
//! filter (`KernelFilter::passes`, the predicate the conservativeness tests
//! hold against the matcher) says it passes, and carry the mark the model
//! gives it (`KernelFilter::selected`: whether a clause held, and the
//! filter's generation). Root and a BTF kernel are required.

mod common;
#[allow(dead_code)]
#[path = "../src/kfilter.rs"]
mod kfilter;
#[allow(unused_imports)]
#[path = "../probe/tests/common/mod.rs"]
mod pcommon;

use std::ffi::CString;
use std::path::PathBuf;
use std::time::Duration;

use kestrel_engine::event::EventType;
use kestrel_engine::kfilter::{comm_key, KView, KernelFilter};
use kestrel_engine::matcher::{MatchOptions, RuleSet};
use kestrel_engine::rules::Loader;
use kestrel_probe::wire::{FilterProgram, HF_KEVAL, HF_KGEN_SHIFT, HF_KSEL};
use pcommon::{boottime_ns, gettid, harness, Rec};

/// One openat of the test: path (as passed), flags (as passed).
struct Call {
    path: CString,
    flags: i32,
}

fn ruleset(files: &[PathBuf]) -> RuleSet {
    let mut l = Loader::new();
    for f in files {
        let r = l.load_file(f);
        assert!(r.successful(), "{}: {:?}", f.display(), r.errors);
    }
    RuleSet::build(l.rules(), &MatchOptions::default()).expect("ruleset builds")
}

fn reference(name: &str) -> PathBuf {
    common::repo().join("../shared/reference").join(name)
}

/// The calls: every path with every access mode, O_CREAT only where a
/// created file is harmless.
fn calls(tmp: &str) -> Vec<Call> {
    let long = format!("/etc/{}", "x".repeat(300));
    let paths: Vec<String> = vec![
        "/etc/shadow".into(),
        "/etc/passwd".into(),
        "/etc/hostname".into(),
        "/etc/sudoers".into(),
        "/etc/./shadow".into(),
        "//etc/shadow".into(),
        "/tmp/../etc/shadow".into(),
        "/etc/shadow/".into(),
        "etc/shadow".into(),
        "/etc/kst-kfilter-missing".into(),
        "/etc/pam.d/kst-kfilter-missing".into(),
        "/usr/bin/kst-kfilter-missing".into(),
        "/bin/sh".into(),
        "/root/.ssh/kst-kfilter-missing".into(),
        "/proc/self/status".into(),
        "/dev/null".into(),
        "/var/log/kst-kfilter-missing".into(),
        long,
        format!("{tmp}/plain"),
    ];
    let mut out = Vec::new();
    for p in &paths {
        let mut modes = vec![libc::O_RDONLY, libc::O_WRONLY, libc::O_RDWR];
        if p.starts_with(tmp) {
            modes.push(libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC);
        }
        for m in modes {
            out.push(Call {
                path: CString::new(p.as_str()).expect("no NUL"),
                flags: m | libc::O_CLOEXEC,
            });
        }
    }
    out
}

/// Makes the calls (raw syscalls only: also used in a forked child) from
/// the current directory `/`; writes each return value into `rets`.
fn make_calls(calls: &[Call], rets: &mut [i64]) {
    for (c, r) in calls.iter().zip(rets.iter_mut()) {
        // SAFETY: valid NUL-terminated path; the fd is closed at once.
        let fd = unsafe { libc::openat(libc::AT_FDCWD, c.path.as_ptr(), c.flags, 0o600) };
        *r = if fd >= 0 {
            // SAFETY: our own fd.
            unsafe { libc::close(fd) };
            fd as i64
        } else {
            -(std::io::Error::last_os_error().raw_os_error().unwrap_or(0) as i64)
        };
    }
}

/// A syscall every filter passes (socket state), to know that the
/// calls' records, if any, have been read.
fn marker() {
    // SAFETY: plain syscalls on our own fd.
    unsafe {
        let fd = libc::socket(libc::AF_UNIX, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd >= 0 {
            libc::close(fd);
        }
    }
}

fn thread_comm() -> [u8; 16] {
    let c = std::fs::read("/proc/thread-self/comm").expect("read comm");
    comm_key(c.strip_suffix(b"\n").unwrap_or(&c))
}

/// The openat records of `tid` made after `since`, as (path, flags,
/// header flags).
fn emitted(tid: u32, since: u64) -> Vec<(Vec<u8>, u64, u32)> {
    let openat = EventType::from_name("openat").expect("openat");
    let socket = EventType::from_name("socket").expect("socket");
    let mine = move |r: &Rec| r.tid() == tid && r.hdr().ts_ns > since;
    harness().wait("the marker socket", move |r: &Rec| {
        mine(r) && r.ev().ty() == socket
    });
    harness()
        .settle(Duration::from_millis(200), move |r: &Rec| {
            mine(r) && r.ev().ty() == openat
        })
        .iter()
        .map(|r| (r.p("name").to_vec(), r.u("flags"), r.hdr().flags))
        .collect()
}

/// What one caller did and what the probe emitted for it.
struct Run {
    who: &'static str,
    rets: Vec<i64>,
    got: Vec<(Vec<u8>, u64, u32)>,
    comm: [u8; 16],
    main_thread: bool,
    /// The filter's generation (what `install_filter` returned).
    gen: u8,
}

/// Compares what the probe emitted, and how it marked it, with the model
/// for one set of calls; returns (passed, filtered, marked off) counts.
fn compare(name: &str, kf: &KernelFilter, calls: &[Call], run: &Run) -> (usize, usize, usize) {
    let Run {
        who,
        rets,
        got,
        comm,
        main_thread,
        gen,
    } = run;
    let (comm, main_thread) = (*comm, *main_thread);
    let ty = EventType::from_name("openat").expect("openat");
    let mut wrong = Vec::new();
    let (mut passed, mut filtered, mut marked_off) = (0, 0, 0);
    for (c, &ret) in calls.iter().zip(rets) {
        let path = c.path.as_bytes();
        let flags = c.flags as u32;
        let view = KView {
            ty,
            ret,
            flags: Some(flags),
            path: Some(path),
            comm,
            leader_comm: comm,
            main_thread,
        };
        let expect = kf.passes(&view);
        // The header flags the model says the probe sets.
        let mark = match kf.selected(&view) {
            None => 0,
            Some(held) => {
                HF_KEVAL | if held { HF_KSEL } else { 0 } | u32::from(*gen) << HF_KGEN_SHIFT
            }
        };
        // A path longer than the record's room arrives cut.
        let same = |p: &[u8]| p == path || (p.len() >= 200 && path.starts_with(p));
        let mine: Vec<u32> = got
            .iter()
            .filter(|(p, f, _)| same(p) && *f as u32 == flags)
            .map(|(_, _, h)| *h)
            .collect();
        if expect {
            passed += 1;
        } else {
            filtered += 1;
        }
        if expect && mark & (HF_KEVAL | HF_KSEL) == HF_KEVAL {
            marked_off += 1;
        }
        let marks = HF_KEVAL | HF_KSEL | 0xff << HF_KGEN_SHIFT;
        if mine.len() != usize::from(expect) || mine.iter().any(|h| h & marks != mark) {
            wrong.push(format!(
                "{} flags={flags:#o} ret={ret}: model says {} with marks {mark:#x}, probe \
                 emitted {} with marks {:x?}",
                String::from_utf8_lossy(path),
                if expect { "pass" } else { "filter" },
                mine.len(),
                mine.iter().map(|h| h & marks).collect::<Vec<_>>()
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{name} ({who}): the probe and the model disagree:\n{}",
        wrong.join("\n")
    );
    (passed, filtered, marked_off)
}

#[test]
fn kernel_filter_emits_exactly_what_the_model_passes() {
    common::require_root();
    let _serial = pcommon::serial();
    let tmp = tempfile::tempdir().expect("tempdir");
    let tmp_s = tmp.path().to_str().expect("utf-8 tempdir").to_string();
    // Relative paths resolve against "/": "etc/shadow" is a real file.
    std::env::set_current_dir("/").expect("chdir /");
    let calls = calls(&tmp_s);
    let sets: Vec<(&str, Vec<PathBuf>)> = vec![
        (
            "kestrel default rules",
            vec![common::repo().join("rules/kestrel_rules.yaml")],
        ),
        ("falco_rules.yaml", vec![reference("falco_rules.yaml")]),
        (
            "all three Falco files",
            vec![
                reference("falco_rules.yaml"),
                reference("falco-incubating_rules.yaml"),
                reference("falco-sandbox_rules.yaml"),
            ],
        ),
        // A rule that needs every open: openat passes whole, and the
        // default rules' clauses only mark.
        (
            "default rules + a rule needing every open",
            vec![
                common::repo().join("rules/kestrel_rules.yaml"),
                common::repo().join("perf/zero-drop/adversarial_rules.yaml"),
            ],
        ),
    ];
    let me = std::process::id();
    let mut total = (0, 0, 0);
    for (name, files) in sets {
        let rs = ruleset(&files);
        let kf = kfilter::derive(&rs, true);
        let prog = kfilter::program(&kf);
        let gen = harness()
            .probe
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .install_filter(&prog)
            .expect("install the filter");

        // A thread that is not its process's main thread.
        let since = boottime_ns();
        let (tid, rets, comm) = std::thread::scope(|s| {
            s.spawn(|| {
                let mut rets = vec![0i64; calls.len()];
                make_calls(&calls, &mut rets);
                marker();
                (gettid(), rets, thread_comm())
            })
            .join()
            .expect("caller thread")
        });
        assert_ne!(tid, me);
        let run = Run {
            who: "thread",
            rets,
            got: emitted(tid, since),
            comm,
            main_thread: false,
            gen,
        };
        let (p, f, m) = compare(name, &kf, &calls, &run);
        total = (total.0 + p, total.1 + f, total.2 + m);

        // A child's main thread (its comm is this thread's, inherited).
        let comm = thread_comm();
        let n = calls.len();
        // SAFETY: a fresh shared anonymous mapping of n i64s, unmapped below.
        let shared = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                n * 8,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(shared, libc::MAP_FAILED, "mmap");
        let since = boottime_ns();
        let child = pcommon::in_child(|| {
            // SAFETY: the mapping holds n i64s and outlives the child.
            let rets = unsafe { std::slice::from_raw_parts_mut(shared.cast::<i64>(), n) };
            make_calls(&calls, rets);
            marker();
            0
        });
        // SAFETY: the child has exited; the mapping holds n i64s.
        let rets = unsafe { std::slice::from_raw_parts(shared.cast::<i64>(), n) }.to_vec();
        // SAFETY: our own mapping, no longer used.
        unsafe { libc::munmap(shared, n * 8) };
        let run = Run {
            who: "child",
            rets,
            got: emitted(child, since),
            comm,
            main_thread: true,
            gen,
        };
        let (p, f, m) = compare(name, &kf, &calls, &run);
        total = (total.0 + p, total.1 + f, total.2 + m);
        println!(
            "{name}: {} calls per process, filter installed and checked",
            n
        );
    }
    harness()
        .probe
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .install_filter(&FilterProgram::default())
        .expect("remove the filter");
    println!(
        "passed {} (marked \"no clause held\" {}) / filtered {} (model and probe agree)",
        total.0, total.2, total.1
    );
    // Not vacuous: every outcome occurs.
    assert!(
        total.0 >= 10 && total.1 >= 10 && total.2 >= 10,
        "passed {} filtered {} marked off {}",
        total.0,
        total.1,
        total.2
    );
}

/// fcntl under the default rules: the probe tests the command class in
/// the kernel, so only the copies (`F_DUPFD`, `F_DUPFD_CLOEXEC`) that
/// succeed reach userspace, exactly as the model says.
#[test]
fn kernel_filter_sends_only_descriptor_copying_fcntls() {
    use kestrel_engine::event::table::fcntl_cmd;
    common::require_root();
    let _serial = pcommon::serial();
    let rs = ruleset(&[common::repo().join("rules/kestrel_rules.yaml")]);
    let kf = kfilter::derive(&rs, true);
    harness()
        .probe
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .install_filter(&kfilter::program(&kf))
        .expect("install the filter");
    let fcntl = EventType::from_name("fcntl").expect("fcntl");
    let since = boottime_ns();
    // (fd, cmd, arg) from a thread of its own; the results come back.
    let (tid, done) = std::thread::scope(|s| {
        s.spawn(|| {
            // SAFETY: plain syscalls on our own descriptors.
            unsafe {
                let sock = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
                let fl = libc::fcntl(sock, libc::F_GETFL);
                let mut done = vec![(libc::F_GETFL, fl as i64)];
                let r = libc::fcntl(sock, libc::F_SETFL, fl | libc::O_NONBLOCK);
                done.push((libc::F_SETFL, r as i64));
                for cmd in [libc::F_DUPFD, libc::F_DUPFD_CLOEXEC] {
                    let d = libc::fcntl(sock, cmd, 0);
                    done.push((cmd, d as i64));
                    libc::close(d);
                }
                let bad = libc::fcntl(-1, libc::F_DUPFD, 0);
                assert_eq!(bad, -1);
                done.push((libc::F_DUPFD, -(libc::EBADF as i64)));
                libc::close(sock);
                marker();
                (gettid(), done)
            }
        })
        .join()
        .expect("caller thread")
    });
    let mine = move |r: &Rec| r.tid() == tid && r.hdr().ts_ns > since;
    let socket = EventType::from_name("socket").expect("socket");
    harness().wait("the marker socket", move |r: &Rec| {
        mine(r) && r.ev().ty() == socket
    });
    let got: Vec<(u64, i64)> = harness()
        .settle(Duration::from_millis(200), move |r: &Rec| {
            mine(r) && r.ev().ty() == fcntl
        })
        .iter()
        .map(|r| (r.u("cmd"), r.ret()))
        .collect();
    let comm = comm_key(b"x");
    let want: Vec<(u64, i64)> = done
        .iter()
        .map(|&(cmd, ret)| (cmd as u64, ret))
        .filter(|&(cmd, ret)| {
            kf.passes(&KView {
                ty: fcntl,
                ret,
                flags: Some(fcntl_cmd::class(cmd)),
                path: None,
                comm,
                leader_comm: comm,
                main_thread: false,
            })
        })
        .collect();
    // The model keeps exactly the two successful copies.
    assert_eq!(
        want.iter().map(|w| w.0).collect::<Vec<_>>(),
        vec![libc::F_DUPFD as u64, libc::F_DUPFD_CLOEXEC as u64]
    );
    assert_eq!(got, want, "emitted fcntls (cmd, ret)");
}
