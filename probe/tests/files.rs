//! Trigger -> expect for the header and the file syscalls: each test makes
//! the real syscall and checks the decoded event. Root and a BTF kernel are
//! required; the tests fail when the probe cannot load.

mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use common::*;

/// A scratch directory (canonical path: the kernel reports resolved paths)
/// and an O_PATH-less directory fd for the *at calls.
struct Dir {
    _tmp: tempfile::TempDir,
    path: PathBuf,
    fd: i32,
}

impl Dir {
    fn new() -> Dir {
        let tmp = tempfile::Builder::new()
            .prefix("kst-probe-test")
            .tempdir()
            .expect("tempdir");
        let path = std::fs::canonicalize(tmp.path()).expect("canonical tempdir");
        let c = c(&path);
        // SAFETY: valid path; the fd is closed on drop.
        let fd = unsafe { libc::open(c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
        assert!(fd >= 0, "open dir: {}", std::io::Error::last_os_error());
        Dir {
            _tmp: tmp,
            path,
            fd,
        }
    }
    fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
    fn s(&self) -> String {
        self.path.to_string_lossy().into_owned()
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: our own fd.
        unsafe { libc::close(self.fd) };
    }
}

/// `struct open_how` (libc's is non-exhaustive).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("no NUL")
}

fn ps(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn ns_ino(kind: &str) -> u32 {
    let link = std::fs::read_link(format!("/proc/self/ns/{kind}")).expect("ns link");
    let s = link.to_string_lossy();
    s.trim_start_matches(&format!("{kind}:["))
        .trim_end_matches(']')
        .parse()
        .expect("ns inode")
}

fn status_hex(field: &str) -> u64 {
    let status = read("/proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} in /proc/self/status"));
    u64::from_str_radix(line[field.len()..].trim(), 16).expect("hex")
}

/// The cgroup v2 id of this process: the inode of its cgroup2 directory.
fn cgroup_v2_id() -> Option<u64> {
    let cg = read("/proc/self/cgroup");
    let rel = cg.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
    let mountinfo = read("/proc/self/mountinfo");
    let mnt = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        post.starts_with("cgroup2 ")
            .then(|| pre.split(' ').nth(4).map(str::to_string))
            .flatten()
    })?;
    let meta = std::fs::metadata(format!("{mnt}{rel}")).ok()?;
    Some(meta.ino())
}

#[test]
fn header_describes_the_calling_thread() {
    let _g = serial();
    let h = harness();
    let d = Dir::new();
    let path = d.join(&unique("hdr"));
    std::fs::write(&path, b"x").expect("write");
    let cp = c(&path);
    let t0 = boottime_ns();
    // SAFETY: valid path.
    let fd = unsafe { libc::openat(libc::AT_FDCWD, cp.as_ptr(), libc::O_RDONLY) };
    let t1 = boottime_ns();
    assert!(fd >= 0);
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
    let tid = gettid();
    let want = ps(&path);
    let r = h.wait("openat", |r| by(tid, "openat")(r) && r.s("name") == want);
    let hd = r.hdr();
    let me = std::process::id();
    assert_eq!(hd.tid, tid);
    assert_eq!(hd.tgid, me);
    // SAFETY: trivial getters.
    unsafe {
        assert_eq!(hd.ptgid, libc::getppid() as u32);
        assert_eq!(hd.uid, libc::getuid());
        assert_eq!(hd.euid, libc::geteuid());
        assert_eq!(hd.gid, libc::getgid());
        assert_eq!(hd.egid, libc::getegid());
    }
    let loginuid: u32 = read("/proc/self/loginuid")
        .trim()
        .parse()
        .expect("loginuid");
    assert_eq!(hd.loginuid, loginuid);
    let comm = read(&format!("/proc/self/task/{tid}/comm"));
    assert_eq!(r.ev().comm(), comm.trim_end().as_bytes());
    // bpf_ktime_get_boot_ns() reads the kernel's fast timekeeper, which may
    // trail the vDSO's CLOCK_BOOTTIME by some microseconds: allow 1 ms.
    let slack = 1_000_000;
    assert!(
        hd.ts_ns + slack >= t0 && hd.ts_ns <= t1 + slack,
        "ts {} not within 1 ms of [{t0}, {t1}]",
        hd.ts_ns
    );
    let cpus = h.probe.lock().unwrap().cpus() as u32;
    assert!(hd.cpu < cpus);
    assert_eq!(hd.pidns_ino, ns_ino("pid"));
    assert_eq!(hd.mntns_ino, ns_ino("mnt"));
    assert_eq!(hd.cap_effective, status_hex("CapEff:"));
    assert_eq!(hd.cap_permitted, status_hex("CapPrm:"));
    if let Some(id) = cgroup_v2_id() {
        assert_eq!(hd.cgroup_id, id);
    }
    assert_eq!(hd.flags, 0);
    assert_eq!(r.ret(), fd as i64);
    assert_ne!(hd.exec_gen, 0);
    // Every event of this process carries the same exec generation.
    let close = h.wait("close", |r| by(tid, "close")(r) && r.i("fd") == fd as i64);
    assert_eq!(close.hdr().exec_gen, hd.exec_gen);
    assert_eq!(close.ret(), 0);
}

#[test]
fn open_family() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let d = Dir::new();

    // open(2): name as passed, flags, mode, the fd as return value.
    let p1 = d.join(&unique("open"));
    let c1 = c(&p1);
    // SAFETY: raw syscalls with valid pointers; fds closed below.
    let fd1 = unsafe {
        libc::syscall(
            libc::SYS_open,
            c1.as_ptr(),
            libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC,
            0o640,
        )
    };
    assert!(fd1 >= 0);
    let want = ps(&p1);
    let r = h.wait("open", |r| by(tid, "open")(r) && r.s("name") == want);
    assert_eq!(
        r.u("flags"),
        (libc::O_WRONLY | libc::O_CREAT | libc::O_TRUNC) as u64
    );
    assert_eq!(r.u("mode"), 0o640);
    assert_eq!(r.ret(), fd1);

    // openat relative to a directory fd: the kernel resolves the dirfd.
    let rel = unique("openat-rel");
    let crel = cstr(&rel);
    // SAFETY: as above.
    let fd2 = unsafe { libc::openat(d.fd, crel.as_ptr(), libc::O_RDWR | libc::O_CREAT, 0o600) };
    assert!(fd2 >= 0);
    let r = h.wait("openat", |r| by(tid, "openat")(r) && r.s("name") == rel);
    assert_eq!(r.i("dirfd"), d.fd as i64);
    assert_eq!(r.s("dirpath"), d.s());
    assert_eq!(r.u("flags"), (libc::O_RDWR | libc::O_CREAT) as u64);
    assert_eq!(r.u("mode"), 0o600);
    assert_eq!(r.ret(), fd2 as i64);

    // openat with an absolute path: no dirpath even with a dirfd.
    let abs = ps(&d.join(&rel));
    let cabs = cstr(&abs);
    // SAFETY: as above.
    let fd3 = unsafe { libc::openat(d.fd, cabs.as_ptr(), libc::O_RDONLY) };
    assert!(fd3 >= 0);
    let r = h.wait("openat abs", |r| by(tid, "openat")(r) && r.s("name") == abs);
    assert_eq!(r.s("dirpath"), "");

    // openat relative to the cwd: no dirpath (userspace knows the cwd).
    let cwdrel = cstr("Cargo.toml");
    // SAFETY: as above.
    let fd4 = unsafe { libc::openat(libc::AT_FDCWD, cwdrel.as_ptr(), libc::O_RDONLY) };
    assert!(fd4 >= 0);
    let r = h.wait("openat cwd", |r| {
        by(tid, "openat")(r) && r.s("name") == "Cargo.toml" && r.ret() == fd4 as i64
    });
    assert_eq!(r.i("dirfd"), libc::AT_FDCWD as i64);
    assert_eq!(r.s("dirpath"), "");

    // openat2 with its struct open_how.
    let rel2 = unique("openat2");
    let c2 = cstr(&rel2);
    let how = OpenHow {
        flags: (libc::O_CREAT | libc::O_WRONLY) as u64,
        mode: 0o604,
        resolve: libc::RESOLVE_NO_SYMLINKS,
    };
    // SAFETY: as above.
    let fd5 = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            d.fd,
            c2.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    assert!(fd5 >= 0, "openat2: {}", std::io::Error::last_os_error());
    let r = h.wait("openat2", |r| by(tid, "openat2")(r) && r.s("name") == rel2);
    assert_eq!(r.u("flags"), how.flags);
    assert_eq!(r.u("mode"), 0o604);
    assert_eq!(r.u("resolve"), libc::RESOLVE_NO_SYMLINKS);
    assert_eq!(r.s("dirpath"), d.s());
    assert_eq!(r.ret(), fd5);

    // creat(2)
    let p6 = d.join(&unique("creat"));
    let c6 = c(&p6);
    // SAFETY: as above.
    let fd6 = unsafe { libc::syscall(libc::SYS_creat, c6.as_ptr(), 0o644) };
    assert!(fd6 >= 0);
    let want = ps(&p6);
    let r = h.wait("creat", |r| by(tid, "creat")(r) && r.s("name") == want);
    assert_eq!(r.u("mode"), 0o644);
    assert_eq!(r.ret(), fd6);

    // Paths longer than the in-place record's room take the general path
    // and arrive whole.
    let long = format!(
        "/nonexistent/{}/{}/{}",
        "d".repeat(150),
        "e".repeat(150),
        unique("long")
    );
    let cl = cstr(&long);
    // SAFETY: as above.
    assert_eq!(
        unsafe { libc::openat(libc::AT_FDCWD, cl.as_ptr(), libc::O_RDONLY) },
        -1
    );
    let r = h.wait("openat long", |r| {
        by(tid, "openat")(r) && r.s("name") == long
    });
    assert_eq!(r.ret(), -(libc::ENOENT as i64));
    assert_eq!(r.s("dirpath"), "");

    // A failed open is reported with its errno.
    let missing = ps(&d.join(&unique("missing")));
    let cm = cstr(&missing);
    // SAFETY: as above.
    let bad = unsafe { libc::openat(libc::AT_FDCWD, cm.as_ptr(), libc::O_RDONLY) };
    assert_eq!(bad, -1);
    let r = h.wait("failed openat", |r| {
        by(tid, "openat")(r) && r.s("name") == missing
    });
    assert_eq!(r.ret(), -(libc::ENOENT as i64));

    for fd in [fd1 as i32, fd2, fd3, fd4, fd5 as i32, fd6 as i32] {
        // SAFETY: our fds.
        assert_eq!(unsafe { libc::close(fd) }, 0);
        let r = h.wait("close", |r| by(tid, "close")(r) && r.i("fd") == fd as i64);
        assert_eq!(r.ret(), 0);
    }
    // SAFETY: closing an invalid fd fails harmlessly.
    assert_eq!(unsafe { libc::close(-7) }, -1);
    let r = h.wait("failed close", |r| by(tid, "close")(r) && r.i("fd") == -7);
    assert_eq!(r.ret(), -(libc::EBADF as i64));
}

#[test]
fn links_renames_and_removals() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let d = Dir::new();
    let target = d.join(&unique("target"));
    std::fs::write(&target, b"t").expect("write");
    let tgt = ps(&target);

    // symlink(target, linkpath)
    let l1 = ps(&d.join(&unique("sym")));
    // SAFETY: raw syscalls with valid C strings throughout this test.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_symlink, cstr(&tgt).as_ptr(), cstr(&l1).as_ptr()),
            0
        )
    };
    let r = h.wait("symlink", |r| {
        by(tid, "symlink")(r) && r.s("linkpath") == l1
    });
    assert_eq!(r.s("target"), tgt);
    assert_eq!(r.ret(), 0);

    // symlinkat(target, dirfd, relative)
    let l2 = unique("symat");
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::symlinkat(cstr("relative-target").as_ptr(), d.fd, cstr(&l2).as_ptr()),
            0
        )
    };
    let r = h.wait("symlinkat", |r| {
        by(tid, "symlinkat")(r) && r.s("linkpath") == l2
    });
    assert_eq!(r.s("target"), "relative-target");
    assert_eq!(r.i("linkdirfd"), d.fd as i64);
    assert_eq!(r.s("linkdirpath"), d.s());

    // link(old, new)
    let h1 = ps(&d.join(&unique("hard")));
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_link, cstr(&tgt).as_ptr(), cstr(&h1).as_ptr()),
            0
        )
    };
    let r = h.wait("link", |r| by(tid, "link")(r) && r.s("newpath") == h1);
    assert_eq!(r.s("oldpath"), tgt);

    // linkat(dirfd, old, dirfd, new, flags)
    let tname = target.file_name().unwrap().to_string_lossy().into_owned();
    let h2 = unique("hardat");
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::linkat(d.fd, cstr(&tname).as_ptr(), d.fd, cstr(&h2).as_ptr(), 0),
            0
        )
    };
    let r = h.wait("linkat", |r| by(tid, "linkat")(r) && r.s("newpath") == h2);
    assert_eq!(r.s("oldpath"), tname);
    assert_eq!(r.i("olddir"), d.fd as i64);
    assert_eq!(r.i("newdir"), d.fd as i64);
    assert_eq!(r.s("olddirpath"), d.s());
    assert_eq!(r.s("newdirpath"), d.s());
    assert_eq!(r.u("flags"), 0);

    // rename(old, new)
    let r1 = ps(&d.join(&unique("renamed")));
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::syscall(libc::SYS_rename, cstr(&h1).as_ptr(), cstr(&r1).as_ptr()),
            0
        )
    };
    let r = h.wait("rename", |r| by(tid, "rename")(r) && r.s("newpath") == r1);
    assert_eq!(r.s("oldpath"), h1);

    // renameat(dirfd, old, AT_FDCWD, absolute new)
    let r2 = ps(&d.join(&unique("renamedat")));
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::renameat(d.fd, cstr(&h2).as_ptr(), libc::AT_FDCWD, cstr(&r2).as_ptr()),
            0
        )
    };
    let r = h.wait("renameat", |r| {
        by(tid, "renameat")(r) && r.s("newpath") == r2
    });
    assert_eq!(r.s("oldpath"), h2);
    assert_eq!(r.s("olddirpath"), d.s());
    assert_eq!(r.i("newdirfd"), libc::AT_FDCWD as i64);
    assert_eq!(r.s("newdirpath"), "");

    // renameat2 with RENAME_NOREPLACE
    let r3 = unique("renamed2");
    let r2name = Path::new(&r2)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    // SAFETY: as above.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            d.fd,
            cstr(&r2name).as_ptr(),
            d.fd,
            cstr(&r3).as_ptr(),
            libc::RENAME_NOREPLACE,
        )
    };
    assert_eq!(rc, 0);
    let r = h.wait("renameat2", |r| {
        by(tid, "renameat2")(r) && r.s("newpath") == r3
    });
    assert_eq!(r.u("flags"), libc::RENAME_NOREPLACE as u64);
    assert_eq!(r.s("olddirpath"), d.s());
    assert_eq!(r.s("newdirpath"), d.s());

    // unlink(path) and unlinkat(dirfd, name, 0)
    // SAFETY: as above.
    unsafe { assert_eq!(libc::syscall(libc::SYS_unlink, cstr(&r1).as_ptr()), 0) };
    let r = h.wait("unlink", |r| by(tid, "unlink")(r) && r.s("path") == r1);
    assert_eq!(r.ret(), 0);
    // SAFETY: as above.
    unsafe { assert_eq!(libc::unlinkat(d.fd, cstr(&r3).as_ptr(), 0), 0) };
    let r = h.wait("unlinkat", |r| by(tid, "unlinkat")(r) && r.s("name") == r3);
    assert_eq!(r.s("dirpath"), d.s());
    assert_eq!(r.u("flags"), 0);

    // mkdir, mkdirat, rmdir, unlinkat(AT_REMOVEDIR)
    let m1 = ps(&d.join(&unique("mkdir")));
    // SAFETY: as above.
    unsafe { assert_eq!(libc::syscall(libc::SYS_mkdir, cstr(&m1).as_ptr(), 0o750), 0) };
    let r = h.wait("mkdir", |r| by(tid, "mkdir")(r) && r.s("path") == m1);
    assert_eq!(r.u("mode"), 0o750);
    let m2 = unique("mkdirat");
    // SAFETY: as above.
    unsafe { assert_eq!(libc::mkdirat(d.fd, cstr(&m2).as_ptr(), 0o700), 0) };
    let r = h.wait("mkdirat", |r| by(tid, "mkdirat")(r) && r.s("path") == m2);
    assert_eq!(r.u("mode"), 0o700);
    assert_eq!(r.s("dirpath"), d.s());
    // SAFETY: as above.
    unsafe { assert_eq!(libc::syscall(libc::SYS_rmdir, cstr(&m1).as_ptr()), 0) };
    h.wait("rmdir", |r| by(tid, "rmdir")(r) && r.s("path") == m1);
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::unlinkat(d.fd, cstr(&m2).as_ptr(), libc::AT_REMOVEDIR),
            0
        )
    };
    let r = h.wait("unlinkat dir", |r| {
        by(tid, "unlinkat")(r) && r.s("name") == m2
    });
    assert_eq!(r.u("flags"), libc::AT_REMOVEDIR as u64);
}

#[test]
fn permission_changes() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let d = Dir::new();
    let f = d.join(&unique("perm"));
    std::fs::write(&f, b"p").expect("write");
    let fs = ps(&f);
    let name = f.file_name().unwrap().to_string_lossy().into_owned();
    let cf = cstr(&fs);

    // SAFETY: raw syscalls with valid C strings and our own fds.
    unsafe { assert_eq!(libc::syscall(libc::SYS_chmod, cf.as_ptr(), 0o600), 0) };
    let r = h.wait("chmod", |r| by(tid, "chmod")(r) && r.s("filename") == fs);
    assert_eq!(r.u("mode"), 0o600);

    // SAFETY: as above.
    let fd = unsafe { libc::open(cf.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    // SAFETY: as above.
    unsafe { assert_eq!(libc::fchmod(fd, 0o644), 0) };
    let r = h.wait("fchmod", |r| by(tid, "fchmod")(r) && r.i("fd") == fd as i64);
    assert_eq!(r.u("mode"), 0o644);
    let (fi, path) = r.fdinfo("fdinfo");
    assert_eq!(fi.fd, fd);
    assert_eq!(fi.kind, b'f');
    assert_eq!(path, fs);

    // SAFETY: as above.
    unsafe { assert_eq!(libc::fchmodat(d.fd, cstr(&name).as_ptr(), 0o640, 0), 0) };
    let r = h.wait("fchmodat", |r| {
        by(tid, "fchmodat")(r) && r.s("filename") == name
    });
    assert_eq!(r.u("mode"), 0o640);
    assert_eq!(r.s("dirpath"), d.s());

    // fchmodat2 (no libc wrapper): the flags come after the mode.
    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::syscall(
                452,
                d.fd,
                cstr(&name).as_ptr(),
                0o4750,
                libc::AT_SYMLINK_NOFOLLOW
            ),
            0
        )
    };
    let r = h.wait("fchmodat2", |r| {
        by(tid, "fchmodat2")(r) && r.s("filename") == name
    });
    assert_eq!(
        (r.u("mode"), r.u("flags")),
        (0o4750, libc::AT_SYMLINK_NOFOLLOW as u64)
    );
    assert_eq!(r.s("dirpath"), d.s());

    // SAFETY: as above.
    unsafe { assert_eq!(libc::syscall(libc::SYS_chown, cf.as_ptr(), 1234, 5678), 0) };
    let r = h.wait("chown", |r| by(tid, "chown")(r) && r.s("path") == fs);
    assert_eq!((r.u("uid"), r.u("gid")), (1234, 5678));

    // SAFETY: as above.
    unsafe { assert_eq!(libc::syscall(libc::SYS_lchown, cf.as_ptr(), 4321, 8765), 0) };
    let r = h.wait("lchown", |r| by(tid, "lchown")(r) && r.s("path") == fs);
    assert_eq!((r.u("uid"), r.u("gid")), (4321, 8765));

    // SAFETY: as above.
    unsafe { assert_eq!(libc::fchown(fd, 11, 22), 0) };
    let r = h.wait("fchown", |r| by(tid, "fchown")(r) && r.i("fd") == fd as i64);
    assert_eq!((r.u("uid"), r.u("gid")), (11, 22));
    assert_eq!(r.fdinfo("fdinfo").1, fs);

    // SAFETY: as above.
    unsafe {
        assert_eq!(
            libc::fchownat(
                d.fd,
                cstr(&name).as_ptr(),
                33,
                44,
                libc::AT_SYMLINK_NOFOLLOW
            ),
            0
        )
    };
    let r = h.wait("fchownat", |r| {
        by(tid, "fchownat")(r) && r.s("pathname") == name
    });
    assert_eq!((r.u("uid"), r.u("gid")), (33, 44));
    assert_eq!(r.u("flags"), libc::AT_SYMLINK_NOFOLLOW as u64);
    assert_eq!(r.s("dirpath"), d.s());
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
}

/// truncate by path and ftruncate by fd, with lengths beyond 32 bits.
#[test]
fn truncations() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let d = Dir::new();
    let f = d.join(&unique("trunc"));
    std::fs::write(&f, b"t").expect("write");
    let fs = ps(&f);
    let cf = cstr(&fs);
    let big: i64 = (5 << 32) + 7;

    // SAFETY: raw syscalls with a valid C string and our own fd.
    unsafe { assert_eq!(libc::syscall(libc::SYS_truncate, cf.as_ptr(), big), 0) };
    let r = h.wait("truncate", |r| by(tid, "truncate")(r) && r.s("path") == fs);
    assert_eq!((r.u("length"), r.ret()), (big as u64, 0));

    // SAFETY: as above.
    let fd = unsafe { libc::open(cf.as_ptr(), libc::O_WRONLY) };
    assert!(fd >= 0);
    // SAFETY: as above.
    unsafe { assert_eq!(libc::syscall(libc::SYS_ftruncate, fd, 3i64), 0) };
    let r = h.wait("ftruncate", |r| {
        by(tid, "ftruncate")(r) && r.i("fd") == fd as i64
    });
    assert_eq!(r.u("length"), 3);
    let (fi, path) = r.fdinfo("fdinfo");
    assert_eq!((fi.fd, fi.kind), (fd, b'f'));
    assert_eq!(path, fs);
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
}

#[test]
fn mount_memfd_and_modules() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let d = Dir::new();

    // mount/umount2 of a tmpfs: the event is reported whatever the result.
    let target = d.s();
    let dev = unique("tmpfs");
    let flags = libc::MS_NOSUID | libc::MS_NODEV;
    // SAFETY: valid C strings; the mount is undone right after.
    let rc = unsafe {
        libc::mount(
            cstr(&dev).as_ptr(),
            cstr(&target).as_ptr(),
            cstr("tmpfs").as_ptr(),
            flags,
            std::ptr::null(),
        )
    };
    let e = errno();
    let r = h.wait("mount", |r| by(tid, "mount")(r) && r.s("dev") == dev);
    assert_eq!(r.s("dir"), target);
    assert_eq!(r.s("type"), "tmpfs");
    assert_eq!(r.u("flags"), flags);
    assert_eq!(r.ret(), if rc == 0 { 0 } else { -e });
    // SAFETY: as above.
    let rc = unsafe { libc::umount2(cstr(&target).as_ptr(), libc::MNT_DETACH) };
    let e = errno();
    let r = h.wait("umount2", |r| {
        by(tid, "umount2")(r) && r.s("name") == target
    });
    assert_eq!(r.u("flags"), libc::MNT_DETACH as u64);
    assert_eq!(r.ret(), if rc == 0 { 0 } else { -e });

    // memfd_create
    let name = unique("memfd");
    // SAFETY: valid C string; the fd is closed below.
    let fd = unsafe { libc::memfd_create(cstr(&name).as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    let r = h.wait("memfd_create", |r| {
        by(tid, "memfd_create")(r) && r.s("name") == name
    });
    assert_eq!(r.u("flags"), libc::MFD_CLOEXEC as u64);
    assert_eq!(r.ret(), fd as i64);
    // SAFETY: our fd.
    unsafe { libc::close(fd) };

    // init_module with a bogus image fails, and is reported with its args.
    let image = [0u8; 16];
    let args = unique("uargs");
    // SAFETY: a readable 16-byte buffer and a C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_init_module,
            image.as_ptr(),
            image.len(),
            cstr(&args).as_ptr(),
        )
    };
    assert_eq!(rc, -1);
    let r = h.wait("init_module", |r| {
        by(tid, "init_module")(r) && r.s("uargs") == args
    });
    assert_eq!(r.u("length"), 16);
    assert!(r.ret() < 0);

    // finit_module on a file that is no module.
    let f = d.join(&unique("notamodule"));
    std::fs::write(&f, b"not an ELF").expect("write");
    let file = std::fs::File::open(&f).expect("open");
    let mfd = std::os::fd::AsRawFd::as_raw_fd(&file);
    let args2 = unique("fuargs");
    // SAFETY: our fd and a C string.
    let rc = unsafe { libc::syscall(libc::SYS_finit_module, mfd, cstr(&args2).as_ptr(), 0) };
    assert_eq!(rc, -1);
    let r = h.wait("finit_module", |r| {
        by(tid, "finit_module")(r) && r.s("uargs") == args2
    });
    assert_eq!(r.i("fd"), mfd as i64);
    let (fi, path) = r.fdinfo("fdinfo");
    assert_eq!(fi.kind, b'f');
    assert_eq!(path, ps(&f));
    assert!(r.ret() < 0);
}

#[test]
fn bpf_and_userfaultfd() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    // An invalid bpf command: rejected, still reported with its cmd.
    // SAFETY: the kernel rejects the command before reading attr.
    let rc = unsafe { libc::syscall(libc::SYS_bpf, 4242, std::ptr::null::<u8>(), 0) };
    assert_eq!(rc, -1);
    let e = errno();
    let r = h.wait("bpf", |r| by(tid, "bpf")(r) && r.i("cmd") == 4242);
    assert_eq!(r.ret(), -e);

    // SAFETY: userfaultfd takes flags only; the fd is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_userfaultfd, libc::O_CLOEXEC | libc::O_NONBLOCK) };
    let e = errno();
    let r = h.wait("userfaultfd", by(tid, "userfaultfd"));
    assert_eq!(r.u("flags"), (libc::O_CLOEXEC | libc::O_NONBLOCK) as u64);
    if fd >= 0 {
        assert_eq!(r.ret(), fd);
        // SAFETY: our fd.
        unsafe { libc::close(fd as i32) };
    } else {
        assert_eq!(r.ret(), -e);
    }
}
