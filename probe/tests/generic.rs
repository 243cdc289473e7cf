//! Trigger -> expect for the events the probe's generic, descriptor-driven
//! routine captures (`Src` lists of the event table): each test makes the
//! real syscall and checks the decoded parameters. Root and a BTF kernel
//! are required; the tests fail when the probe cannot load.

mod common;

use std::ffi::CString;

use common::*;

fn snaplen() -> usize {
    kestrel_probe::ProbeConfig::default().snaplen as usize
}

#[test]
fn kill_tkill_tgkill_carry_pid_and_signal() {
    let _g = serial();
    let h = harness();
    let me = std::process::id() as i32;
    let tid = gettid();
    // Signal 0 checks the target exists and delivers nothing.
    // SAFETY: plain syscalls on our own process.
    unsafe {
        assert_eq!(libc::kill(me, 0), 0);
        assert_eq!(libc::syscall(libc::SYS_tkill, tid, 0), 0);
        assert_eq!(libc::syscall(libc::SYS_tgkill, me, tid, 0), 0);
        // A failing kill: no such process.
        assert_eq!(libc::kill(i32::MAX - 7, libc::SIGTERM), -1);
    }
    let k = h.wait("kill", |r| by(tid, "kill")(r) && r.i("pid") == me as i64);
    assert_eq!(k.u("sig"), 0);
    assert_eq!(k.ret(), 0);
    let bad = h.wait("failed kill", |r| {
        by(tid, "kill")(r) && r.i("pid") == (i32::MAX - 7) as i64
    });
    assert_eq!(bad.u("sig"), libc::SIGTERM as u64);
    assert_eq!(bad.ret(), -(libc::ESRCH as i64));
    let t = h.wait("tkill", by(tid, "tkill"));
    assert_eq!(t.i("tid"), tid as i64);
    let tg = h.wait("tgkill", by(tid, "tgkill"));
    assert_eq!(
        (tg.i("pid"), tg.i("tid"), tg.u("sig")),
        (me as i64, tid as i64, 0)
    );
}

#[test]
fn pipe_write_read_carry_data_capped_at_snaplen_and_the_fd() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    let data: Vec<u8> = (0..200u32).map(|i| b'a' + (i % 26) as u8).collect();
    // SAFETY: valid fds and buffers.
    let w = unsafe { libc::write(fds[1], data.as_ptr().cast(), data.len()) };
    assert_eq!(w, 200);
    let mut back = [0u8; 300];
    // SAFETY: as above.
    let r = unsafe { libc::read(fds[0], back.as_mut_ptr().cast(), back.len()) };
    assert_eq!(r, 200);

    let p = h.wait("pipe2", by(tid, "pipe2"));
    assert_eq!((p.i("fd1"), p.i("fd2")), (fds[0] as i64, fds[1] as i64));
    assert_eq!(p.u("flags"), libc::O_CLOEXEC as u64);

    let wr = h.wait("write", |r| {
        by(tid, "write")(r) && r.i("fd") == fds[1] as i64
    });
    assert_eq!(wr.ret(), 200);
    assert_eq!(wr.u("size"), 200);
    assert_eq!(wr.p("data"), &data[..snaplen()]);
    let (fi, _) = wr.fdinfo("fdinfo");
    assert_eq!(fi.fd, fds[1]);
    assert_eq!(fi.kind, b'p', "a pipe");

    let rd = h.wait("read", |r| by(tid, "read")(r) && r.i("fd") == fds[0] as i64);
    assert_eq!(rd.ret(), 200);
    assert_eq!(rd.u("size"), 300);
    assert_eq!(rd.p("data"), &data[..snaplen()]);
    // A read of 5 bytes carries 5.
    // SAFETY: as above.
    unsafe {
        libc::write(fds[1], b"hello".as_ptr().cast(), 5);
        libc::read(fds[0], back.as_mut_ptr().cast(), back.len());
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    let small = h.wait("short read", |r| {
        by(tid, "read")(r) && r.i("fd") == fds[0] as i64 && r.ret() == 5
    });
    assert_eq!(small.p("data"), b"hello");
}

#[test]
fn pread_readv_and_writev_on_a_file() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::fs::canonicalize(dir.path()).unwrap().join("f");
    std::fs::write(&path, b"0123456789abcdef").unwrap();
    let c = CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: valid path, buffers and iovecs; the fd is closed below.
    unsafe {
        let fd = libc::open(c.as_ptr(), libc::O_RDWR);
        assert!(fd >= 0);
        let mut b = [0u8; 4];
        assert_eq!(libc::pread(fd, b.as_mut_ptr().cast(), 4, 10), 4);
        let mut b1 = [0u8; 3];
        let mut b2 = [0u8; 5];
        let iov = [
            libc::iovec {
                iov_base: b1.as_mut_ptr().cast(),
                iov_len: 3,
            },
            libc::iovec {
                iov_base: b2.as_mut_ptr().cast(),
                iov_len: 5,
            },
        ];
        assert_eq!(libc::readv(fd, iov.as_ptr(), 2), 8);
        let out = [
            libc::iovec {
                iov_base: b"XY".as_ptr() as *mut _,
                iov_len: 2,
            },
            libc::iovec {
                iov_base: b"Z".as_ptr() as *mut _,
                iov_len: 1,
            },
        ];
        assert_eq!(libc::writev(fd, out.as_ptr(), 2), 3);
        libc::close(fd);
    }
    let pr = h.wait("pread", by(tid, "pread"));
    assert_eq!(pr.p("data"), b"abcd");
    assert_eq!((pr.u("size"), pr.u("pos")), (4, 10));
    let (_, fpath) = pr.fdinfo("fdinfo");
    assert_eq!(fpath, path.to_str().unwrap());
    let rv = h.wait("readv", by(tid, "readv"));
    assert_eq!(rv.u("size"), 8);
    assert_eq!(rv.p("data"), b"012", "the first iovec's bytes");
    let wv = h.wait("writev", by(tid, "writev"));
    assert_eq!(wv.u("size"), 3);
    assert_eq!(wv.p("data"), b"XY");
    assert_eq!(wv.ret(), 3);
}

#[test]
fn mmap_mprotect_ioctl_socketpair_setsockopt() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let mut sv = [0i32; 2];
    // SAFETY: plain syscalls on memory and fds we own.
    let addr = unsafe {
        let a = libc::mmap(
            std::ptr::null_mut(),
            8192,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        );
        assert_ne!(a, libc::MAP_FAILED);
        assert_eq!(libc::mprotect(a, 4096, libc::PROT_READ), 0);
        assert_eq!(libc::munmap(a, 8192), 0);
        assert_eq!(
            libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()),
            0
        );
        let mut n: libc::c_int = 0;
        assert_eq!(libc::ioctl(sv[0], libc::FIONREAD, &mut n), 0);
        let one: libc::c_int = 1;
        assert_eq!(
            libc::setsockopt(
                sv[0],
                libc::SOL_SOCKET,
                libc::SO_KEEPALIVE,
                (&one as *const libc::c_int).cast(),
                4
            ),
            0
        );
        libc::close(sv[0]);
        libc::close(sv[1]);
        a as u64
    };
    let m = h.wait("mmap", |r| by(tid, "mmap")(r) && r.ret() as u64 == addr);
    assert_eq!(m.u("length"), 8192);
    assert_eq!(m.u("prot"), (libc::PROT_READ | libc::PROT_WRITE) as u64);
    assert_eq!(
        m.u("flags"),
        (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64
    );
    assert_eq!(m.i("fd"), -1);
    let mp = h.wait("mprotect", |r| {
        by(tid, "mprotect")(r) && r.u("addr") == addr
    });
    assert_eq!(
        (mp.u("length"), mp.u("prot")),
        (4096, libc::PROT_READ as u64)
    );
    let mu = h.wait("munmap", |r| by(tid, "munmap")(r) && r.u("addr") == addr);
    assert_eq!(mu.u("length"), 8192);
    let sp = h.wait("socketpair", by(tid, "socketpair"));
    assert_eq!((sp.i("fd1"), sp.i("fd2")), (sv[0] as i64, sv[1] as i64));
    assert_eq!(sp.u("domain"), libc::AF_UNIX as u64);
    let io = h.wait("ioctl", |r| {
        by(tid, "ioctl")(r) && r.i("fd") == sv[0] as i64
    });
    assert_eq!(io.u("request"), libc::FIONREAD);
    let so = h.wait("setsockopt", |r| {
        by(tid, "setsockopt")(r) && r.i("fd") == sv[0] as i64
    });
    assert_eq!(so.i("level"), libc::SOL_SOCKET as i64);
    assert_eq!(so.i("optname"), libc::SO_KEEPALIVE as i64);
    assert_eq!(so.p("val"), &1i32.to_le_bytes());
    assert_eq!(so.u("optlen"), 4);
    let (fi, _) = so.fdinfo("fdinfo");
    assert_eq!(fi.fd, sv[0]);
}

#[test]
fn ids_limits_sleep_and_file_calls_from_the_rest_of_falcos_table() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let dir = tempfile::tempdir().expect("tempdir");
    let dpath = std::fs::canonicalize(dir.path()).unwrap();
    std::fs::write(dpath.join("rel"), b"x").unwrap();
    let dc = CString::new(dpath.to_str().unwrap()).unwrap();
    let mut rl = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls with valid pointers; fds closed below.
    let (uid, dfd, efd) = unsafe {
        let uid = libc::getuid();
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut rl), 0);
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 1_000_123,
        };
        // glibc's nanosleep is clock_nanosleep: make the call itself.
        let null: *mut libc::timespec = std::ptr::null_mut();
        assert_eq!(libc::syscall(libc::SYS_nanosleep, &ts, null), 0);
        let dfd = libc::open(dc.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY);
        assert!(dfd >= 0);
        let mut st: libc::stat = std::mem::zeroed();
        assert_eq!(libc::fstatat(dfd, c"rel".as_ptr(), &mut st, 0), 0);
        let efd = libc::eventfd(7, libc::EFD_CLOEXEC);
        assert!(efd >= 0);
        assert_eq!(libc::lseek(dfd, 0, libc::SEEK_SET), 0);
        assert_eq!(libc::flock(dfd, libc::LOCK_SH), 0);
        libc::close(efd);
        libc::close(dfd);
        // A call Falco reports as a generic `syscall` event.
        let old = libc::umask(0o027);
        libc::umask(old);
        (uid, dfd, efd)
    };
    let g = h.wait("getuid", by(tid, "getuid"));
    assert_eq!(g.u("uid"), uid as u64);
    // glibc's getrlimit is prlimit64(0, resource, NULL, &old).
    let r = h.wait("prlimit", |r| {
        by(tid, "prlimit")(r) && r.u("resource") == libc::RLIMIT_NOFILE as u64
    });
    assert_eq!((r.u("oldcur"), r.u("oldmax")), (rl.rlim_cur, rl.rlim_max));
    assert_eq!((r.i("pid"), r.u("newcur")), (0, 0));
    let n = h.wait("nanosleep", by(tid, "nanosleep"));
    assert_eq!(n.u("interval"), 1_000_123);
    let f = h.wait("newfstatat", |r| {
        by(tid, "newfstatat")(r) && r.i("dirfd") == dfd as i64
    });
    assert_eq!(f.s("path"), "rel");
    assert_eq!(
        f.s("dirpath"),
        dpath.to_str().unwrap(),
        "the dirfd's directory"
    );
    let e = h.wait("eventfd2", by(tid, "eventfd2"));
    assert_eq!(e.ret(), efd as i64);
    assert_eq!(
        (e.u("initval"), e.u("flags")),
        (7, libc::EFD_CLOEXEC as u64)
    );
    let l = h.wait("lseek", |r| by(tid, "lseek")(r) && r.i("fd") == dfd as i64);
    assert_eq!(l.u("whence"), libc::SEEK_SET as u64);
    let (_, lpath) = l.fdinfo("fdinfo");
    assert_eq!(lpath, dpath.to_str().unwrap());
    let fl = h.wait("flock", |r| by(tid, "flock")(r) && r.i("fd") == dfd as i64);
    assert_eq!(fl.u("operation"), libc::LOCK_SH as u64);
    let u = h.wait("umask", |r| by(tid, "umask")(r) && r.u("mask") == 0o027);
    assert_eq!((u.u("ID"), u.u("nativeID")), (95, 95));
}

#[test]
fn a_type_no_one_asked_for_is_not_captured() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let without_read: Vec<kestrel_probe::EventType> = kestrel_probe::events::all_kernel()
        .into_iter()
        .filter(|t| t.name() != "read")
        .collect();
    h.probe
        .lock()
        .unwrap()
        .set_event_types(&without_read)
        .expect("set types");
    let mut fds = [0i32; 2];
    let mut b = [0u8; 8];
    // SAFETY: plain syscalls on fds we own.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::write(fds[1], b"unasked".as_ptr().cast(), 7);
        assert_eq!(libc::read(fds[0], b.as_mut_ptr().cast(), 8), 7);
    }
    let fd = fds[0] as i64;
    // The write is captured (so the probe is live), the read is not.
    h.wait("write", |r| {
        by(tid, "write")(r) && r.i("fd") == fds[1] as i64
    });
    h.none(
        std::time::Duration::from_millis(300),
        "read while not hooked",
        |r| by(tid, "read")(r) && r.i("fd") == fd,
    );
    h.probe
        .lock()
        .unwrap()
        .set_event_types(&kestrel_probe::events::all_kernel())
        .expect("restore types");
    // SAFETY: as above.
    unsafe {
        libc::write(fds[1], b"asked".as_ptr().cast(), 5);
        assert_eq!(libc::read(fds[0], b.as_mut_ptr().cast(), 8), 5);
        libc::close(fds[0]);
        libc::close(fds[1]);
    }
    let r = h.wait("read once hooked", |r| {
        by(tid, "read")(r) && r.i("fd") == fd
    });
    assert_eq!(r.p("data"), b"asked");
}
