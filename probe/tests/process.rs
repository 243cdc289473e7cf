//! Trigger -> expect for process events: exec (from sched_process_exec,
//! with the new image), failed execs (from sys_exit), fork/clone and the
//! scheduler's procfork/procexit, credentials, namespaces, cwd.

mod common;

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use kestrel_probe::EventType;

fn list(b: &[u8]) -> Vec<String> {
    b.split(|&c| c == 0)
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

fn own_exec_gen(h: &Harness) -> u64 {
    // Any event of this process carries its exec generation.
    let tid = gettid();
    let probe = cstr("/proc/self/exe-kst-gen-probe");
    // SAFETY: a chdir that fails (no such directory) with a valid path.
    unsafe { libc::syscall(libc::SYS_chdir, probe.as_ptr()) };
    h.wait("chdir", |r| {
        by(tid, "chdir")(r) && r.s("path") == "/proc/self/exe-kst-gen-probe"
    })
    .hdr()
    .exec_gen
}

#[test]
fn exec_reports_the_new_image() {
    let _g = serial();
    let h = harness();
    let me = std::process::id();
    let tid = gettid();
    let parent_gen = own_exec_gen(h);
    let dir = tempfile::tempdir().expect("tempdir");
    let cwd = std::fs::canonicalize(dir.path()).expect("canonical");
    let marker = unique("exec");
    let file = cwd.join(&marker);
    std::fs::write(&file, b"hello").expect("write");

    let child = Command::new("/bin/cat")
        .arg(&marker)
        .current_dir(&cwd)
        .env("KST_MARK", &marker)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .status()
        .expect("spawn /bin/cat");
    assert!(child.success());

    let r = h.wait("execve", |r| {
        r.name() == "execve" && r.ret() == 0 && list(r.p("argv")).contains(&marker)
    });
    let pid = r.tid();
    let hd = r.hdr();
    assert_eq!(hd.tgid, pid);
    assert_eq!(hd.ptgid, me);
    assert_eq!(r.ev().comm(), b"cat");
    assert_ne!(hd.exec_gen, parent_gen, "exec must change the generation");
    assert_eq!(
        list(r.p("argv")),
        vec!["/bin/cat".to_string(), marker.clone()]
    );
    assert_eq!(r.s("cwd"), cwd.to_string_lossy());
    let real = std::fs::canonicalize("/bin/cat").expect("canonical cat");
    assert_eq!(r.s("trusted_exepath"), real.to_string_lossy());
    assert_eq!(r.s("filename"), "/bin/cat");
    assert!(
        list(r.p("env")).contains(&format!("KST_MARK={marker}")),
        "env: {:?}",
        r.s("env")
    );
    let cgroups = list(r.p("cgroups"));
    let own_v2 = read("/proc/self/cgroup")
        .lines()
        .find_map(|l| l.strip_prefix("0::").map(str::to_string));
    if let Some(v2) = own_v2 {
        assert!(
            cgroups.contains(&format!("unified={v2}")),
            "cgroups {cgroups:?} lack unified={v2}"
        );
    }
    // Controllers of v1 hierarchies, as in /proc/<pid>/cgroup.
    for line in read("/proc/self/cgroup").lines() {
        let mut it = line.splitn(3, ':');
        let (_, ctrls, path) = (it.next(), it.next().unwrap_or(""), it.next().unwrap_or(""));
        for ctrl in ctrls
            .split(',')
            .filter(|c| !c.is_empty() && !c.starts_with("name="))
        {
            if ctrl == "blkio" {
                continue; // the kernel calls this controller "io"
            }
            assert!(
                cgroups.contains(&format!("{ctrl}={path}")),
                "cgroups {cgroups:?} lack {ctrl}={path}"
            );
        }
    }
    assert_eq!(r.i("vpid"), pid as i64);
    // SAFETY: trivial getters about this process.
    let (sid, pgid) = unsafe { (libc::getsid(0), libc::getpgid(0)) };
    assert_eq!(r.i("sid"), sid as i64);
    assert_eq!(r.i("pgid"), pgid as i64);
    assert_eq!(r.i("vpgid"), pgid as i64);
    let stat = read("/proc/self/stat");
    let tty_nr: u64 = stat
        .rsplit(')')
        .next()
        .and_then(|s| s.split_whitespace().nth(4))
        .and_then(|s| s.parse().ok())
        .expect("tty_nr");
    assert_eq!(r.u("tty"), tty_nr);
    let meta = std::fs::metadata(&real).expect("stat cat");
    assert_eq!(r.u("exe_ino"), meta.ino());
    assert_eq!(
        r.u("exe_ino_ctime"),
        meta.ctime() as u64 * 1_000_000_000 + meta.ctime_nsec() as u64
    );
    assert_eq!(
        r.u("exe_ino_mtime"),
        meta.mtime() as u64 * 1_000_000_000 + meta.mtime_nsec() as u64
    );
    // Root holds CAP_DAC_OVERRIDE: the executable is writable to it.
    assert_eq!(r.u("flags") & 1, 1, "EXE_WRITABLE");
    assert_eq!(r.u("flags") & 4, 0, "not a memfd");
    let start = r.u("start_ts");
    assert!(start > 0 && start <= hd.ts_ns);
    let init_start = r.u("pidns_init_start_ts");
    assert!(init_start > 0 && init_start <= start);

    // Only one execve for this pid: the sys_exit of the successful call is
    // not reported again.
    let all = h.settle(Duration::from_millis(200), |r| {
        r.name() == "execve" && r.tid() == pid
    });
    assert_eq!(all.len(), 1, "{all:#?}");

    // The new process: procfork from the spawning thread, procexit at the end.
    let f = h.wait("procfork", |r| {
        r.name() == "procfork" && r.i("child_tid") == pid as i64
    });
    assert_eq!(f.tid(), tid);
    assert_eq!(f.i("child_tgid"), pid as i64);
    assert_eq!(f.i("child_ptgid"), me as i64);
    assert_eq!(f.i("child_vpid"), pid as i64);
    assert_eq!(f.u("start_ts"), start);
    assert_eq!(f.hdr().exec_gen, parent_gen, "fork keeps the generation");
    let x = h.wait("procexit", |r| r.name() == "procexit" && r.tid() == pid);
    assert_eq!(x.i("status"), 0);
    assert_eq!(x.hdr().exec_gen, hd.exec_gen);
    // cat opened the file after exec: same generation as the exec event.
    let o = h.wait("cat's openat", |r| {
        r.name() == "openat" && r.tid() == pid && r.s("name") == marker
    });
    assert_eq!(o.hdr().exec_gen, hd.exec_gen);
}

#[test]
fn failed_exec_is_reported_from_sys_exit() {
    let _g = serial();
    let h = harness();
    let missing = format!("/nonexistent/{}", unique("noexec"));
    let err = Command::new(&missing).status().expect_err("must fail");
    assert_eq!(err.raw_os_error(), Some(libc::ENOENT));
    let r = h.wait("failed execve", |r| {
        r.name() == "execve" && r.s("filename") == missing
    });
    assert_eq!(r.ret(), -(libc::ENOENT as i64));
    assert_eq!(r.hdr().ptgid, std::process::id());
    assert_eq!(r.p("argv"), b"");
}

fn argv(items: &[&str]) -> (Vec<CString>, Vec<*const libc::c_char>) {
    let owned: Vec<CString> = items.iter().map(|s| cstr(s)).collect();
    let mut ptrs: Vec<*const libc::c_char> = owned.iter().map(|c| c.as_ptr()).collect();
    ptrs.push(std::ptr::null());
    (owned, ptrs)
}

#[test]
fn execveat_success_and_failure() {
    let _g = serial();
    let h = harness();
    let marker = unique("execveat");
    let (_own, av) = argv(&["true", &marker]);
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let bin = cstr("/bin");
    // SAFETY: valid path; closed below.
    let dirfd = unsafe { libc::open(bin.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dirfd >= 0);
    let name = cstr("true");
    let pid = in_child(|| {
        // SAFETY: raw execveat with valid pointers prepared before fork.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                dirfd,
                name.as_ptr(),
                av.as_ptr(),
                envp.as_ptr(),
                0,
            )
        };
        1
    });
    let r = h.wait("execve via execveat", |r| {
        r.name() == "execve" && r.tid() == pid && r.ret() == 0
    });
    assert_eq!(list(r.p("argv")), vec!["true".to_string(), marker.clone()]);
    assert_eq!(r.s("filename"), format!("/dev/fd/{dirfd}/true"));
    let real = std::fs::canonicalize("/bin/true").expect("canonical true");
    assert_eq!(r.s("trusted_exepath"), real.to_string_lossy());

    let missing = unique("no-such-binary");
    let cmissing = cstr(&missing);
    let pid = in_child(|| {
        // SAFETY: as above; the call fails and returns.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_execveat,
                dirfd,
                cmissing.as_ptr(),
                av.as_ptr(),
                envp.as_ptr(),
                0,
            )
        };
        if rc == -1 {
            0
        } else {
            1
        }
    });
    let r = h.wait("failed execveat", |r| {
        r.name() == "execveat" && r.tid() == pid
    });
    assert_eq!(r.ev().ty(), EventType::EXECVEAT);
    assert_eq!(r.s("filename"), missing);
    assert_eq!(r.ret(), -(libc::ENOENT as i64));
    // SAFETY: our fd.
    unsafe { libc::close(dirfd) };
}

#[test]
fn exec_from_a_memfd_is_flagged() {
    let _g = serial();
    let h = harness();
    let image = std::fs::read("/bin/true").expect("read /bin/true");
    let name = unique("memexe");
    // SAFETY: valid C string.
    let mfd = unsafe { libc::memfd_create(cstr(&name).as_ptr(), 0) };
    assert!(mfd >= 0);
    // SAFETY: writing our buffer to our fd.
    let n = unsafe { libc::write(mfd, image.as_ptr().cast(), image.len()) };
    assert_eq!(n, image.len() as isize);
    // The writable fd would make exec fail with ETXTBSY: reopen read-only.
    let ro_path = cstr(&format!("/proc/self/fd/{mfd}"));
    // SAFETY: valid path.
    let ro = unsafe { libc::open(ro_path.as_ptr(), libc::O_RDONLY) };
    assert!(ro >= 0);
    // SAFETY: our fd.
    unsafe { libc::close(mfd) };
    let marker = unique("memfd-argv");
    let (_own, av) = argv(&["memtrue", &marker]);
    let envp: [*const libc::c_char; 1] = [std::ptr::null()];
    let empty = cstr("");
    let pid = in_child(|| {
        // SAFETY: raw execveat of an fd with AT_EMPTY_PATH.
        unsafe {
            libc::syscall(
                libc::SYS_execveat,
                ro,
                empty.as_ptr(),
                av.as_ptr(),
                envp.as_ptr(),
                libc::AT_EMPTY_PATH,
            )
        };
        1
    });
    let r = h.wait("memfd exec", |r| {
        r.name() == "execve" && r.tid() == pid && r.ret() == 0
    });
    assert_eq!(r.u("flags") & 4, 4, "EXE_FROM_MEMFD in {:#x}", r.u("flags"));
    assert_eq!(r.s("trusted_exepath"), format!("memfd:{name}"));
    assert_eq!(list(r.p("argv"))[1], marker);
    // SAFETY: our fd.
    unsafe { libc::close(ro) };
}

#[test]
fn fork_clone_and_vfork() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let me = std::process::id() as i64;

    // glibc's fork() is the clone syscall: reported in the parent with the
    // child's pid and in the child with 0.
    let child = in_child(|| 0);
    let r = h.wait("clone (parent)", |r| {
        by(tid, "clone")(r) && r.ret() == child as i64
    });
    assert_eq!(r.u("flags") & 0xff, libc::SIGCHLD as u64);
    let rc = h.wait("clone (child)", by(child, "clone"));
    assert_eq!(rc.ret(), 0);
    assert_eq!(rc.hdr().tgid, child);
    let f = h.wait("procfork", |r| {
        r.name() == "procfork" && r.i("child_tid") == child as i64
    });
    assert_eq!(f.i("child_ptgid"), me);
    h.wait("procexit", |r| r.name() == "procexit" && r.tid() == child);

    // The fork syscall itself.
    // SAFETY: raw fork; the child exits at once without touching state.
    let pid = unsafe { libc::syscall(libc::SYS_fork) };
    if pid == 0 {
        // SAFETY: leave the child immediately.
        unsafe { libc::_exit(0) };
    }
    assert!(pid > 0);
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
    h.wait("fork", |r| by(tid, "fork")(r) && r.ret() == pid);

    // vfork, from a small C program (vfork cannot be called soundly from
    // Rust): it prints its pid and the child's.
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("vfork.c");
    std::fs::write(
        &src,
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/wait.h>\n\
         int main(void) { pid_t c = vfork(); if (c == 0) _exit(0); \
         waitpid(c, 0, 0); printf(\"%d %d\\n\", getpid(), c); return 0; }\n",
    )
    .expect("write vfork.c");
    let exe = dir.path().join("vfork");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let st = Command::new(&cc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .expect("host C compiler");
    assert!(st.success());
    let out = Command::new(&exe).output().expect("run vfork helper");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut it = text
        .split_whitespace()
        .map(|s| s.parse::<i64>().expect("pid"));
    let (helper, vchild) = (it.next().expect("pid"), it.next().expect("child"));
    let r = h.wait("vfork", by(helper as u32, "vfork"));
    assert_eq!(r.ret(), vchild);

    // clone3 with CLONE_PARENT_SETTID: flags come from struct clone_args.
    let mut ptid: i32 = 0;
    // SAFETY: zeroed plain data.
    let mut args: libc::clone_args = unsafe { std::mem::zeroed() };
    args.flags = libc::CLONE_PARENT_SETTID as u64;
    args.parent_tid = &mut ptid as *mut i32 as u64;
    args.exit_signal = libc::SIGCHLD as u64;
    // SAFETY: fork-like clone3 (no shared VM); the child exits at once.
    let pid = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut libc::clone_args,
            std::mem::size_of::<libc::clone_args>(),
        )
    };
    if pid == 0 {
        // SAFETY: leave the child immediately.
        unsafe { libc::_exit(0) };
    }
    assert!(pid > 0, "clone3: {}", std::io::Error::last_os_error());
    // SAFETY: reaping our child.
    unsafe { libc::waitpid(pid as i32, std::ptr::null_mut(), 0) };
    let r = h.wait("clone3", |r| by(tid, "clone3")(r) && r.ret() == pid);
    assert_eq!(r.u("flags"), libc::CLONE_PARENT_SETTID as u64);

    // A thread is not a new process: no procfork for it.
    let t = std::thread::spawn(gettid).join().expect("thread");
    h.none(Duration::from_millis(100), "procfork of a thread", |r| {
        r.name() == "procfork" && r.i("child_tid") == t as i64
    });
}

#[test]
fn credentials_sessions_and_caps() {
    let _g = serial();
    let h = harness();
    // SAFETY: trivial getter.
    let pgid = unsafe { libc::getpgid(0) };
    let pid = in_child(|| {
        // SAFETY: raw credential syscalls in the child; as root, setting
        // 0 (or leaving ids unchanged with -1) succeeds without effect.
        // Each failure exits with its own code.
        unsafe {
            let steps = [
                libc::syscall(libc::SYS_setuid, 0) == 0,
                libc::syscall(libc::SYS_setgid, 0) == 0,
                libc::syscall(libc::SYS_setresuid, -1, 0, -1) == 0,
                libc::syscall(libc::SYS_setresgid, 0, -1, -1) == 0,
                libc::syscall(libc::SYS_setreuid, -1, 0) == 0,
                libc::syscall(libc::SYS_setregid, 0, -1) == 0,
                // Joining our own group changes nothing; after setsid the
                // child could no longer change its group.
                libc::syscall(libc::SYS_setpgid, 0, pgid) == 0,
                libc::syscall(libc::SYS_setsid) > 0,
            ];
            if let Some(i) = steps.iter().position(|ok| !ok) {
                return 10 + i as i32;
            }
            // capset with the current sets (version 3, two data words).
            let mut hdr = [0x2008_0522u32, 0];
            let mut data = [0u32; 6];
            if libc::syscall(libc::SYS_capget, hdr.as_mut_ptr(), data.as_mut_ptr()) != 0 {
                return 20;
            }
            if libc::syscall(libc::SYS_capset, hdr.as_mut_ptr(), data.as_ptr()) != 0 {
                return 21;
            }
            0
        }
    });
    let r = h.wait("setuid", by(pid, "setuid"));
    assert_eq!((r.u("uid"), r.ret()), (0, 0));
    assert_eq!(h.wait("setgid", by(pid, "setgid")).u("gid"), 0);
    let r = h.wait("setresuid", by(pid, "setresuid"));
    assert_eq!(
        (r.u("ruid"), r.u("euid"), r.u("suid")),
        (u32::MAX as u64, 0, u32::MAX as u64)
    );
    let r = h.wait("setresgid", by(pid, "setresgid"));
    assert_eq!(
        (r.u("rgid"), r.u("egid"), r.u("sgid")),
        (0, u32::MAX as u64, u32::MAX as u64)
    );
    let r = h.wait("setreuid", by(pid, "setreuid"));
    assert_eq!((r.u("ruid"), r.u("euid")), (u32::MAX as u64, 0));
    let r = h.wait("setregid", by(pid, "setregid"));
    assert_eq!((r.u("rgid"), r.u("egid")), (0, u32::MAX as u64));
    let r = h.wait("setsid", by(pid, "setsid"));
    assert_eq!(r.ret(), pid as i64, "the new session id is the pid");
    let r = h.wait("setpgid", by(pid, "setpgid"));
    assert_eq!((r.i("pid"), r.i("pgid"), r.ret()), (0, pgid as i64, 0));
    let r = h.wait("capset", by(pid, "capset"));
    assert_eq!(r.ret(), 0);
    let hd = r.hdr();
    assert_eq!(r.u("cap_effective"), hd.cap_effective);
    assert_eq!(r.u("cap_permitted"), hd.cap_permitted);
}

#[test]
fn prctl_ptrace_and_namespaces() {
    let _g = serial();
    let h = harness();
    let tid = gettid();
    let newname = cstr("kst-prctl-name");
    let pid = in_child(|| {
        // SAFETY: raw syscalls in the child.
        unsafe {
            let ok = libc::syscall(
                libc::SYS_prctl,
                libc::PR_SET_NAME,
                newname.as_ptr(),
                0,
                0,
                0,
            ) == 0
                && libc::syscall(libc::SYS_prctl, libc::PR_SET_DUMPABLE, 1, 0, 0, 0) == 0
                && libc::syscall(libc::SYS_ptrace, libc::PTRACE_TRACEME, 0, 0, 0) == 0
                && libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUTS) == 0;
            if ok {
                0
            } else {
                1
            }
        }
    });
    let r = h.wait("prctl PR_SET_NAME", |r| {
        by(pid, "prctl")(r) && r.i("option") == libc::PR_SET_NAME as i64
    });
    // The name is truncated to the kernel's 15 characters.
    assert_eq!(r.s("arg2_str"), "kst-prctl-name");
    assert_eq!(r.ev().comm(), b"kst-prctl-name", "comm is read at exit");
    let r = h.wait("prctl PR_SET_DUMPABLE", |r| {
        by(pid, "prctl")(r) && r.i("option") == libc::PR_SET_DUMPABLE as i64
    });
    assert_eq!(r.i("arg2_int"), 1);
    assert_eq!(r.p("arg2_str"), b"");
    let r = h.wait("ptrace", by(pid, "ptrace"));
    assert_eq!((r.i("request"), r.i("pid"), r.ret()), (0, 0, 0));
    let r = h.wait("unshare", by(pid, "unshare"));
    assert_eq!((r.u("flags"), r.ret()), (libc::CLONE_NEWUTS as u64, 0));

    // setns into our own UTS namespace: allowed for root, no effect.
    let nspath = cstr("/proc/self/ns/uts");
    // SAFETY: valid path; closed below.
    let fd = unsafe { libc::open(nspath.as_ptr(), libc::O_RDONLY) };
    assert!(fd >= 0);
    // SAFETY: our fd.
    let rc = unsafe { libc::setns(fd, libc::CLONE_NEWUTS) };
    assert_eq!(rc, 0);
    let r = h.wait("setns", |r| by(tid, "setns")(r) && r.i("fd") == fd as i64);
    assert_eq!(r.u("nstype"), libc::CLONE_NEWUTS as u64);
    let link = std::fs::read_link("/proc/self/ns/uts").expect("ns link");
    assert_eq!(r.fdinfo("fdinfo").1, link.to_string_lossy());
    // SAFETY: our fd.
    unsafe { libc::close(fd) };
}

#[test]
fn chdir_fchdir_chroot() {
    let _g = serial();
    let h = harness();
    let dir = tempfile::tempdir().expect("tempdir");
    let path = std::fs::canonicalize(dir.path()).expect("canonical");
    let ps = path.to_string_lossy().into_owned();
    let cpath = cstr(&ps);
    let root = cstr("/");
    // SAFETY: valid path; closed below.
    let dfd = unsafe { libc::open(cpath.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY) };
    assert!(dfd >= 0);
    let pid = in_child(|| {
        // SAFETY: raw syscalls in the child.
        unsafe {
            let ok = libc::syscall(libc::SYS_chdir, cpath.as_ptr()) == 0
                && libc::syscall(libc::SYS_chdir, root.as_ptr()) == 0
                && libc::syscall(libc::SYS_fchdir, dfd) == 0
                && libc::syscall(libc::SYS_chroot, root.as_ptr()) == 0;
            if ok {
                0
            } else {
                1
            }
        }
    });
    let r = h.wait("chdir", |r| by(pid, "chdir")(r) && r.s("path") == ps);
    assert_eq!(r.ret(), 0);
    let r = h.wait("fchdir", by(pid, "fchdir"));
    assert_eq!(r.i("fd"), dfd as i64);
    let (fi, p) = r.fdinfo("fdinfo");
    assert_eq!((fi.kind, p.as_str()), (b'd', ps.as_str()));
    let r = h.wait("chroot", by(pid, "chroot"));
    assert_eq!((r.s("path").as_str(), r.ret()), ("/", 0));
    // SAFETY: our fd.
    unsafe { libc::close(dfd) };
}
