//! Raw syscalls, each recorded in a [`Ledger`].
//!
//! Everything goes through `libc::syscall(SYS_…)` rather than the libc
//! function of the same name: glibc's `open` issues `openat`, its
//! `symlink` may issue `symlink` or `symlinkat` depending on the version,
//! and its `fork`/`posix_spawn` pick `clone` or `clone3`. Reconciliation
//! needs to know exactly which event each call produces, so the syscall
//! number is chosen here and nowhere else. The one exception is
//! [`Spawner`], which needs glibc's `clone()` wrapper (a raw `clone` with a
//! new stack cannot be expressed in Rust); that wrapper always issues the
//! `clone` syscall.

use std::ffi::{c_char, c_int, c_long, c_void, CStr, CString};
use std::os::fd::RawFd;

use crate::ledger::{Ledger, Rel, Sys};

/// An errno value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    /// The current thread's errno.
    pub fn last() -> Errno {
        Errno(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

#[inline]
fn finish(l: &mut Ledger, sys: Sys, r: c_long) -> Result<c_long, Errno> {
    if r < 0 {
        let e = Errno::last();
        l.record(Rel::Own, sys, false);
        Err(e)
    } else {
        l.record(Rel::Own, sys, true);
        Ok(r)
    }
}

/// `openat(AT_FDCWD, path, flags, mode)`.
#[inline]
pub fn openat(l: &mut Ledger, path: &CStr, flags: c_int, mode: u32) -> Result<RawFd, Errno> {
    // SAFETY: path is a valid NUL-terminated string for the whole call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as c_long,
            path.as_ptr(),
            flags as c_long,
            mode as c_long,
        )
    };
    finish(l, Sys::Openat, r).map(|fd| fd as RawFd)
}

/// `close(fd)`.
#[inline]
pub fn close(l: &mut Ledger, fd: RawFd) -> Result<(), Errno> {
    // SAFETY: closing a descriptor has no memory-safety requirements.
    let r = unsafe { libc::syscall(libc::SYS_close, fd as c_long) };
    finish(l, Sys::Close, r).map(|_| ())
}

/// `socket(domain, ty, proto)`.
#[inline]
pub fn socket(l: &mut Ledger, domain: c_int, ty: c_int, proto: c_int) -> Result<RawFd, Errno> {
    // SAFETY: no pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_socket,
            domain as c_long,
            ty as c_long,
            proto as c_long,
        )
    };
    finish(l, Sys::Socket, r).map(|fd| fd as RawFd)
}

/// A socket address in its C representation.
#[derive(Clone, Copy)]
pub struct SockAddr {
    storage: libc::sockaddr_storage,
    len: libc::socklen_t,
}

impl std::fmt::Debug for SockAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.to_std())
    }
}

impl SockAddr {
    /// Converts a std address.
    pub fn from_std(a: std::net::SocketAddr) -> SockAddr {
        // SAFETY: sockaddr_storage is plain data; all-zero is valid.
        let mut storage: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
        let len = match a {
            std::net::SocketAddr::V4(v4) => {
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: v4.port().to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes(v4.ip().octets()),
                    },
                    sin_zero: [0; 8],
                };
                // SAFETY: sockaddr_storage is larger than sockaddr_in and
                // suitably aligned for it.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in, sin) };
                std::mem::size_of::<libc::sockaddr_in>()
            }
            std::net::SocketAddr::V6(v6) => {
                let sin6 = libc::sockaddr_in6 {
                    sin6_family: libc::AF_INET6 as libc::sa_family_t,
                    sin6_port: v6.port().to_be(),
                    sin6_flowinfo: v6.flowinfo(),
                    sin6_addr: libc::in6_addr {
                        s6_addr: v6.ip().octets(),
                    },
                    sin6_scope_id: v6.scope_id(),
                };
                // SAFETY: as above, for sockaddr_in6.
                unsafe { std::ptr::write(&mut storage as *mut _ as *mut libc::sockaddr_in6, sin6) };
                std::mem::size_of::<libc::sockaddr_in6>()
            }
        };
        SockAddr {
            storage,
            len: len as libc::socklen_t,
        }
    }

    /// Pointer and length for the C socket calls.
    pub fn as_raw(&self) -> (*const libc::sockaddr, libc::socklen_t) {
        (&self.storage as *const _ as *const libc::sockaddr, self.len)
    }

    /// The address family (`AF_INET` or `AF_INET6`).
    pub fn family(&self) -> c_int {
        self.storage.ss_family as c_int
    }

    /// Converts back to a std address.
    pub fn to_std(&self) -> std::net::SocketAddr {
        if self.family() == libc::AF_INET {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in) };
            std::net::SocketAddr::from((
                sin.sin_addr.s_addr.to_ne_bytes(),
                u16::from_be(sin.sin_port),
            ))
        } else {
            // SAFETY: the only other family we build is AF_INET6.
            let sin6 = unsafe { &*(&self.storage as *const _ as *const libc::sockaddr_in6) };
            std::net::SocketAddr::from((sin6.sin6_addr.s6_addr, u16::from_be(sin6.sin6_port)))
        }
    }
}

/// `connect(fd, addr)`.
#[inline]
pub fn connect(l: &mut Ledger, fd: RawFd, addr: &SockAddr) -> Result<(), Errno> {
    // SAFETY: addr points to `len` valid bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_connect,
            fd as c_long,
            &addr.storage as *const _ as *const libc::sockaddr,
            addr.len as c_long,
        )
    };
    finish(l, Sys::Connect, r).map(|_| ())
}

/// `accept4(fd, &peer, &len, flags)`; also returns the peer's port.
#[inline]
pub fn accept4_peer(
    l: &mut Ledger,
    fd: RawFd,
    flags: c_int,
) -> (Result<RawFd, Errno>, Option<u16>) {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss and len are valid out pointers of the declared size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_accept4,
            fd as c_long,
            &mut ss as *mut _ as *mut libc::sockaddr,
            &mut len as *mut libc::socklen_t,
            flags as c_long,
        )
    };
    match finish(l, Sys::Accept4, r) {
        Ok(c) => (Ok(c as RawFd), port_of(&ss)),
        Err(e) => (Err(e), None),
    }
}

/// The local port of a socket (getsockname is not a traced event).
pub fn local_port(fd: RawFd) -> Option<u16> {
    // SAFETY: sockaddr_storage is plain data; all-zero is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: ss and len are valid out pointers of the declared size.
    if unsafe { libc::getsockname(fd, &mut ss as *mut _ as *mut libc::sockaddr, &mut len) } < 0 {
        return None;
    }
    port_of(&ss)
}

fn port_of(ss: &libc::sockaddr_storage) -> Option<u16> {
    match ss.ss_family as c_int {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(ss as *const _ as *const libc::sockaddr_in) };
            Some(u16::from_be(sin.sin_port))
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(ss as *const _ as *const libc::sockaddr_in6) };
            Some(u16::from_be(sin6.sin6_port))
        }
        _ => None,
    }
}

/// `getppid()`.
#[inline]
pub fn getppid(l: &mut Ledger) -> c_long {
    // SAFETY: no arguments.
    let r = unsafe { libc::syscall(libc::SYS_getppid) };
    l.record(Rel::Own, Sys::Getppid, true);
    r
}

/// `symlinkat(target, AT_FDCWD, linkpath)`.
pub fn symlinkat(l: &mut Ledger, target: &CStr, linkpath: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_symlinkat,
            target.as_ptr(),
            libc::AT_FDCWD as c_long,
            linkpath.as_ptr(),
        )
    };
    finish(l, Sys::Symlinkat, r).map(|_| ())
}

/// `linkat(AT_FDCWD, old, AT_FDCWD, new, 0)`.
pub fn linkat(l: &mut Ledger, old: &CStr, new: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_linkat,
            libc::AT_FDCWD as c_long,
            old.as_ptr(),
            libc::AT_FDCWD as c_long,
            new.as_ptr(),
            0 as c_long,
        )
    };
    finish(l, Sys::Linkat, r).map(|_| ())
}

/// `unlinkat(AT_FDCWD, path, flags)`.
pub fn unlinkat(l: &mut Ledger, path: &CStr, flags: c_int) -> Result<(), Errno> {
    // SAFETY: path is valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_unlinkat,
            libc::AT_FDCWD as c_long,
            path.as_ptr(),
            flags as c_long,
        )
    };
    finish(l, Sys::Unlinkat, r).map(|_| ())
}

/// `fchmodat(AT_FDCWD, path, mode)`.
pub fn fchmodat(l: &mut Ledger, path: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: path is valid for the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_fchmodat,
            libc::AT_FDCWD as c_long,
            path.as_ptr(),
            mode as c_long,
        )
    };
    finish(l, Sys::Fchmodat, r).map(|_| ())
}

/// `memfd_create(name, flags)`.
pub fn memfd_create(l: &mut Ledger, name: &CStr, flags: u32) -> Result<RawFd, Errno> {
    // SAFETY: name is valid for the call.
    let r = unsafe { libc::syscall(libc::SYS_memfd_create, name.as_ptr(), flags as c_long) };
    finish(l, Sys::MemfdCreate, r).map(|fd| fd as RawFd)
}

/// `io_uring_setup(entries, params)` with default parameters: a ring fd.
pub fn io_uring_setup(l: &mut Ledger, entries: u32) -> Result<RawFd, Errno> {
    // struct io_uring_params: 120 bytes, all zero asks for the defaults.
    let mut params = [0u64; 15];
    // SAFETY: params is writable and as large as struct io_uring_params.
    let r = unsafe {
        libc::syscall(
            libc::SYS_io_uring_setup,
            entries as c_long,
            params.as_mut_ptr(),
        )
    };
    finish(l, Sys::IoUringSetup, r).map(|fd| fd as RawFd)
}

/// `userfaultfd(flags)`.
pub fn userfaultfd(l: &mut Ledger, flags: c_int) -> Result<RawFd, Errno> {
    // SAFETY: no pointers.
    let r = unsafe { libc::syscall(libc::SYS_userfaultfd, flags as c_long) };
    finish(l, Sys::Userfaultfd, r).map(|fd| fd as RawFd)
}

/// `ptrace(request, pid, 0, 0)`.
pub fn ptrace(l: &mut Ledger, request: c_int, pid: libc::pid_t) -> Result<(), Errno> {
    // SAFETY: the requests used here take no pointers.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            request as c_long,
            pid as c_long,
            0 as c_long,
            0 as c_long,
        )
    };
    finish(l, Sys::Ptrace, r).map(|_| ())
}

/// Writes all of `buf` with as many `write` calls as needed.
pub fn write_all(l: &mut Ledger, fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: buf is valid for reads of its length.
        let r = unsafe { libc::syscall(libc::SYS_write, fd as c_long, buf.as_ptr(), buf.len()) };
        match finish(l, Sys::Write, r) {
            Ok(n) => buf = &buf[n as usize..],
            Err(Errno(libc::EINTR)) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One `read` call.
pub fn read(l: &mut Ledger, fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is valid for writes of its length.
    let r = unsafe { libc::syscall(libc::SYS_read, fd as c_long, buf.as_mut_ptr(), buf.len()) };
    finish(l, Sys::Read, r).map(|n| n as usize)
}

/// Sets `SO_LINGER {on, 0}`: close sends a reset and leaves no TIME_WAIT
/// socket behind, so a connect loop does not run out of ephemeral ports.
/// setsockopt is not an event kestrel traces, so it is not ledgered.
pub fn set_linger_zero(fd: RawFd) -> Result<(), Errno> {
    let lg = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: lg is a valid linger struct of the given size.
    let r = unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            &lg as *const _ as *const c_void,
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Sets the send and receive timeouts of a socket (connect honours the
/// send timeout). Not a traced event.
pub fn set_timeouts(fd: RawFd, t: std::time::Duration) -> Result<(), Errno> {
    let tv = libc::timeval {
        tv_sec: t.as_secs() as libc::time_t,
        tv_usec: t.subsec_micros() as libc::suseconds_t,
    };
    for opt in [libc::SO_RCVTIMEO, libc::SO_SNDTIMEO] {
        // SAFETY: tv is a valid timeval of the given size.
        let r = unsafe {
            libc::setsockopt(
                fd,
                libc::SOL_SOCKET,
                opt,
                &tv as *const _ as *const c_void,
                std::mem::size_of::<libc::timeval>() as libc::socklen_t,
            )
        };
        if r < 0 {
            return Err(Errno::last());
        }
    }
    Ok(())
}

/// How a child process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Code(c) => write!(f, "exit code {c}"),
            ExitStatus::Signal(s) => write!(f, "signal {s}"),
        }
    }
}

/// Waits for `pid` to end (wait4 is not a traced event).
pub fn wait_exit(pid: libc::pid_t) -> Result<ExitStatus, Errno> {
    loop {
        let mut status: c_int = 0;
        // SAFETY: status is a valid out pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if libc::WIFEXITED(status) {
            return Ok(ExitStatus::Code(libc::WEXITSTATUS(status)));
        }
        if libc::WIFSIGNALED(status) {
            return Ok(ExitStatus::Signal(libc::WTERMSIG(status)));
        }
        // Stopped (e.g. by a ptrace attach): keep waiting for the end.
    }
}

/// A program to run in a child: path, argv and an empty environment, or
/// an executable file descriptor (execveat with `AT_EMPTY_PATH`).
#[derive(Debug, Clone)]
pub struct Program {
    path: CString,
    argv: Vec<CString>,
    exec_fd: Option<RawFd>,
    stdio: Option<RawFd>,
    cgroup_procs: Option<RawFd>,
}

impl Program {
    /// `path` with `argv` (`argv[0]` included).
    pub fn new(path: &str, argv: &[&str]) -> Result<Program, std::ffi::NulError> {
        Ok(Program {
            path: CString::new(path)?,
            argv: argv
                .iter()
                .map(|a| CString::new(*a))
                .collect::<Result<_, _>>()?,
            exec_fd: None,
            stdio: None,
            cgroup_procs: None,
        })
    }

    /// Gives the child `fd` (e.g. /dev/null, opened read-write) as stdin,
    /// stdout and stderr, so tools do not write over the report. The
    /// child's `dup3` calls are its own events, not reconciled.
    pub fn with_stdio(mut self, fd: RawFd) -> Program {
        self.stdio = Some(fd);
        self
    }

    /// Runs the file behind `fd` instead of `path` (which is then only
    /// used in messages).
    pub fn with_exec_fd(mut self, fd: RawFd) -> Program {
        self.exec_fd = Some(fd);
        self
    }

    /// Moves the child into a cgroup before it execs: `fd` is that
    /// cgroup's `cgroup.procs`, open for writing; the child writes `0`
    /// (itself) to it. A failed move is reported in
    /// [`SpawnOutcome::cgroup_error`] and the program is not run.
    pub fn with_cgroup(mut self, fd: RawFd) -> Program {
        self.cgroup_procs = Some(fd);
        self
    }

    /// The path, for messages.
    pub fn path(&self) -> &CStr {
        &self.path
    }
}

#[repr(C)]
struct ExecArgs {
    path: *const c_char,
    argv: *const *const c_char,
    envp: *const *const c_char,
    exec_fd: c_int,
    stdio: c_int,
    cgroup_procs: c_int,
    /// Which step failed: 0 none, 1 the cgroup move, 2 the exec.
    failed: c_int,
    errno: c_int,
}

extern "C" fn exec_child(arg: *mut c_void) -> c_int {
    // Runs in the vfork-style child on its own stack while the parent is
    // suspended, sharing its memory: only raw syscalls, no allocation, no
    // locks. The parent reads `errno` after we exec or exit.
    let a = arg as *mut ExecArgs;
    // SAFETY: the parent keeps `*a` and everything it points to alive and
    // untouched until this child has exec'd or exited (CLONE_VFORK).
    unsafe {
        if (*a).stdio > 2 {
            for target in 0..3 {
                libc::syscall(
                    libc::SYS_dup3,
                    (*a).stdio as c_long,
                    target as c_long,
                    0 as c_long,
                );
            }
        }
        if (*a).cgroup_procs >= 0 {
            let r = libc::syscall(
                libc::SYS_write,
                (*a).cgroup_procs as c_long,
                c"0".as_ptr(),
                1 as c_long,
            );
            if r < 0 {
                std::ptr::write_volatile(&mut (*a).errno, *libc::__errno_location());
                std::ptr::write_volatile(&mut (*a).failed, 1);
                libc::_exit(127)
            }
        }
        let r = if (*a).exec_fd >= 0 {
            libc::syscall(
                libc::SYS_execveat,
                (*a).exec_fd as c_long,
                c"".as_ptr(),
                (*a).argv,
                (*a).envp,
                libc::AT_EMPTY_PATH as c_long,
            )
        } else {
            libc::syscall(libc::SYS_execve, (*a).path, (*a).argv, (*a).envp)
        };
        if r < 0 {
            std::ptr::write_volatile(&mut (*a).errno, *libc::__errno_location());
            std::ptr::write_volatile(&mut (*a).failed, 2);
        }
        libc::_exit(127)
    }
}

/// What happened to a spawned program.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnOutcome {
    /// Why moving the child into its cgroup failed, if it did (the
    /// program was then not run).
    pub cgroup_error: Option<Errno>,
    /// Why the exec failed, if it did.
    pub exec_error: Option<Errno>,
    /// How the child ended.
    pub status: ExitStatus,
}

const CHILD_STACK: usize = 64 * 1024;

/// Starts children with `clone(CLONE_VM | CLONE_VFORK)` (what vfork does,
/// and what posix_spawn does inside glibc) on a stack of its own, execs a
/// program in them and waits. One per thread; the stack is reused.
pub struct Spawner {
    stack: Vec<u8>,
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Spawner").finish_non_exhaustive()
    }
}

impl Default for Spawner {
    fn default() -> Self {
        Spawner::new()
    }
}

impl Spawner {
    /// A spawner with its own child stack.
    pub fn new() -> Spawner {
        Spawner {
            stack: vec![0; CHILD_STACK],
        }
    }

    fn stack_top(&mut self) -> *mut c_void {
        let top = self.stack.as_mut_ptr() as usize + self.stack.len();
        (top & !15) as *mut c_void
    }

    /// Runs `prog` in a child and waits for it. Records `clone` (self) and
    /// `execve` (child; failed when the exec failed; not at all when the
    /// cgroup move failed and no exec was attempted).
    pub fn run(&mut self, l: &mut Ledger, prog: &Program) -> Result<SpawnOutcome, Errno> {
        let mut argv: Vec<*const c_char> = prog.argv.iter().map(|a| a.as_ptr()).collect();
        argv.push(std::ptr::null());
        let envp: [*const c_char; 1] = [std::ptr::null()];
        let mut args = ExecArgs {
            path: prog.path.as_ptr(),
            argv: argv.as_ptr(),
            envp: envp.as_ptr(),
            exec_fd: prog.exec_fd.unwrap_or(-1),
            stdio: prog.stdio.unwrap_or(-1),
            cgroup_procs: prog.cgroup_procs.unwrap_or(-1),
            failed: 0,
            errno: 0,
        };
        let top = self.stack_top();
        // SAFETY: the child runs `exec_child` on our private stack and only
        // issues raw syscalls; CLONE_VFORK keeps this thread suspended (and
        // `args`, `argv`, `envp`, `self.stack` alive) until it has exec'd.
        let pid = unsafe {
            libc::clone(
                exec_child,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                &mut args as *mut ExecArgs as *mut c_void,
            )
        };
        if pid < 0 {
            let e = Errno::last();
            l.record(Rel::Own, Sys::Clone, false);
            return Err(e);
        }
        l.record(Rel::Own, Sys::Clone, true);
        // SAFETY: the child has exec'd or exited, so nothing writes `args`.
        let (failed, child_errno) = unsafe {
            (
                std::ptr::read_volatile(&args.failed),
                std::ptr::read_volatile(&args.errno),
            )
        };
        if failed != 1 {
            l.record(Rel::Child, Sys::Execve, failed == 0);
        }
        let status = wait_exit(pid)?;
        Ok(SpawnOutcome {
            cgroup_error: (failed == 1).then_some(Errno(child_errno)),
            exec_error: (failed == 2).then_some(Errno(child_errno)),
            status,
        })
    }

    /// Runs `f(arg)` in a fork-style child (`clone(SIGCHLD)`, copied
    /// memory) and waits; records `clone`. The child's syscalls are not
    /// ledgered (only `execve` is reconciled for children). `f` must only
    /// issue raw syscalls and end with `_exit`.
    ///
    /// # Safety
    /// `arg` must be valid for `f`; `f` must be async-signal-safe.
    pub unsafe fn fork_run(
        &mut self,
        l: &mut Ledger,
        f: extern "C" fn(*mut c_void) -> c_int,
        arg: *mut c_void,
    ) -> Result<(libc::pid_t, ExitStatus), Errno> {
        // SAFETY: forwarded from the caller.
        let pid = unsafe { self.fork_start(l, f, arg) }?;
        Ok((pid, wait_exit(pid)?))
    }

    /// Runs `f(arg)` in a vfork-style child (`clone(CLONE_VM |
    /// CLONE_VFORK)`, shared memory, this thread suspended until the child
    /// exits) and waits; records `clone`. Because memory is shared, `f`
    /// can report back through `*arg` (use volatile writes); it has its
    /// own filesystem context, so it may unshare its mount namespace.
    ///
    /// # Safety
    /// As for [`Spawner::fork_run`]; in addition `f` must not return
    /// (it must end with `_exit`), must not touch this thread's stack
    /// except through `arg`, and must not exec.
    pub unsafe fn vfork_run(
        &mut self,
        l: &mut Ledger,
        f: extern "C" fn(*mut c_void) -> c_int,
        arg: *mut c_void,
    ) -> Result<ExitStatus, Errno> {
        let top = self.stack_top();
        // SAFETY: the child runs `f` on our private stack; CLONE_VFORK
        // keeps this thread (and `*arg`) untouched until it has exited.
        let pid = unsafe {
            libc::clone(
                f,
                top,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                arg,
            )
        };
        if pid < 0 {
            let e = Errno::last();
            l.record(Rel::Own, Sys::Clone, false);
            return Err(e);
        }
        l.record(Rel::Own, Sys::Clone, true);
        wait_exit(pid)
    }

    /// Starts `f(arg)` in a fork-style child and returns its pid without
    /// waiting; the caller must reap it with [`wait_exit`].
    ///
    /// # Safety
    /// As for [`Spawner::fork_run`].
    pub unsafe fn fork_start(
        &mut self,
        l: &mut Ledger,
        f: extern "C" fn(*mut c_void) -> c_int,
        arg: *mut c_void,
    ) -> Result<libc::pid_t, Errno> {
        let top = self.stack_top();
        // SAFETY: without CLONE_VM the child gets a copy of our memory, the
        // stack included; the caller guarantees `f` only issues syscalls.
        let pid = unsafe { libc::clone(f, top, libc::SIGCHLD, arg) };
        if pid < 0 {
            let e = Errno::last();
            l.record(Rel::Own, Sys::Clone, false);
            return Err(e);
        }
        l.record(Rel::Own, Sys::Clone, true);
        Ok(pid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spawner_runs_programs_and_reports_exec_failures() {
        let mut l = Ledger::new();
        let mut s = Spawner::new();
        let ok = s
            .run(&mut l, &Program::new("/bin/true", &["true"]).unwrap())
            .unwrap();
        assert_eq!(
            ok,
            SpawnOutcome {
                cgroup_error: None,
                exec_error: None,
                status: ExitStatus::Code(0)
            }
        );
        let f = s
            .run(&mut l, &Program::new("/bin/false", &["false"]).unwrap())
            .unwrap();
        assert_eq!(f.status, ExitStatus::Code(1));
        let missing = s
            .run(
                &mut l,
                &Program::new("/nonexistent/kestrel", &["x"]).unwrap(),
            )
            .unwrap();
        assert_eq!(missing.exec_error, Some(Errno(libc::ENOENT)));
        assert_eq!(missing.status, ExitStatus::Code(127));
        assert_eq!(l.issued(Rel::Own, Sys::Clone), 3);
        assert_eq!(l.issued(Rel::Child, Sys::Execve), 3);
        assert_eq!(l.failed(Rel::Child, Sys::Execve), 1);
    }

    extern "C" fn exit_with_arg(arg: *mut c_void) -> c_int {
        // SAFETY: _exit is async-signal-safe.
        unsafe { libc::_exit(arg as usize as c_int) }
    }

    #[test]
    fn fork_run_returns_the_child_status() {
        let mut l = Ledger::new();
        let mut s = Spawner::new();
        // SAFETY: the callback only calls _exit.
        let (_, st) = unsafe { s.fork_run(&mut l, exit_with_arg, 7usize as *mut c_void) }.unwrap();
        assert_eq!(st, ExitStatus::Code(7));
        assert_eq!(l.issued(Rel::Own, Sys::Clone), 1);
    }

    #[test]
    fn sockaddr_round_trips() {
        for a in ["127.0.0.1:8765", "[::1]:9"] {
            let sa: std::net::SocketAddr = a.parse().unwrap();
            assert_eq!(SockAddr::from_std(sa).to_std(), sa);
        }
    }
}
