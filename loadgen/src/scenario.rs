//! Scenarios: what one operation of a worker thread does.
//!
//! | scenario | one operation | syscalls (rel) |
//! |---|---|---|
//! | `open` | open and close one of 64 files created up front | openat, close |
//! | `exec` | vfork-style clone, execve `/bin/true`, wait | clone; execve (child) |
//! | `connect` | TCP connect to a loopback listener, close with a reset | socket, connect, close; the listener thread: accept4, close |
//! | `getppid` | getppid | getppid (kestrel filters it in the kernel) |
//! | `mixed` | a fixed cycle of 10: 7 open, 2 connect, 1 exec | as above |
//! | `trigger` | the next action of the trigger table ([`crate::trigger`]) | per action |
//! | `iouring` | a fixed cycle of 3 through one io_uring per thread: 2 × (openat + close of a prepared file), 1 × (socket(2), then connect + close to the loopback listener) | openat, close, connect as io_uring requests (kestrel reports them as those types), one io_uring_enter each; socket; io_uring_setup once per thread; the listener thread: accept4, close |
//!
//! Everything an operation needs (files, the listener, argv strings) is
//! created before the measurement starts, so an operation issues only the
//! syscalls listed, through [`crate::sys`], which ledgers each one.

use std::ffi::CString;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::ledger::Ledger;
use crate::sys::{self, Errno, Program, SockAddr, Spawner};
use crate::trigger::{TriggerEnv, TriggerStats, TriggerWorkload};

/// A scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scenario {
    /// openat + close over files in a temporary directory.
    Open,
    /// clone (vfork-style) + execve of /bin/true + wait.
    Exec,
    /// TCP socket + connect + close against a loopback listener.
    Connect,
    /// getppid, a syscall kestrel filters out in the kernel.
    Getppid,
    /// 70% open, 20% connect, 10% exec, in a fixed cycle.
    Mixed,
    /// One action per default kestrel rule, in turn.
    Trigger,
    /// Opens, closes and connects made through io_uring, not syscalls.
    Iouring,
}

impl Scenario {
    /// The scenario's name.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Open => "open",
            Scenario::Exec => "exec",
            Scenario::Connect => "connect",
            Scenario::Getppid => "getppid",
            Scenario::Mixed => "mixed",
            Scenario::Trigger => "trigger",
            Scenario::Iouring => "iouring",
        }
    }

    fn needs_listener(self) -> bool {
        matches!(
            self,
            Scenario::Connect | Scenario::Mixed | Scenario::Iouring
        )
    }

    fn needs_files(self) -> bool {
        matches!(self, Scenario::Open | Scenario::Mixed | Scenario::Iouring)
    }
}

/// An operation that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpError(pub String);

impl std::fmt::Display for OpError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl OpError {
    fn sys(what: &str, e: Errno) -> OpError {
        OpError(format!("{what}: {e}"))
    }
}

/// What a worker thread runs.
pub trait Workload: Send {
    /// Performs one operation, recording its syscalls in `l`.
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError>;
    /// Per-action counts, for the trigger scenario.
    fn trigger_stats(&mut self) -> Option<TriggerStats> {
        None
    }
    /// Releases what the operations kept open, recording its syscalls in
    /// `l` (called once, on the worker thread, after the last operation).
    fn finish(&mut self, _l: &mut Ledger) {}
}

/// Why a scenario could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A file system operation failed.
    #[error("{what} {path}: {source}")]
    Fs {
        /// What was being done.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The loopback listener could not start.
    #[error("cannot start the loopback listener: {0}")]
    Listener(#[source] std::io::Error),
    /// Something the scenario needs is missing.
    #[error("{0}")]
    Missing(String),
}

/// A private temporary directory, removed (with its contents) on drop.
#[derive(Debug)]
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// Creates `$TMPDIR/kestrel-loadgen-<pid>-<nanos>`, mode 0700.
    pub fn new() -> Result<TempDir, SetupError> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("kestrel-loadgen-{}-{nanos:09}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| SetupError::Fs {
                what: "cannot create",
                path: path.clone(),
                source: e,
            })?;
        Ok(TempDir { path })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            eprintln!(
                "kestrel-loadgen: warning: cannot remove {}: {e}",
                self.path.display()
            );
        }
    }
}

/// A C string for a path.
pub fn cpath(p: &Path) -> CString {
    // Paths built here never contain NUL bytes.
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

/// Number of files the open scenario cycles through.
pub const OPEN_FILES: usize = 64;

/// `open`: openat + close of one file of a prepared set.
#[derive(Debug)]
pub struct OpenWorkload {
    paths: Arc<Vec<CString>>,
    next: usize,
}

impl OpenWorkload {
    /// Cycles through `paths`, starting at `start`.
    pub fn new(paths: Arc<Vec<CString>>, start: usize) -> OpenWorkload {
        let next = start % paths.len().max(1);
        OpenWorkload { paths, next }
    }
}

impl Workload for OpenWorkload {
    #[inline]
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        let p = &self.paths[self.next];
        self.next += 1;
        if self.next == self.paths.len() {
            self.next = 0;
        }
        let fd = sys::openat(l, p, libc::O_RDONLY | libc::O_CLOEXEC, 0)
            .map_err(|e| OpError::sys(&format!("openat {}", p.to_string_lossy()), e))?;
        sys::close(l, fd).map_err(|e| OpError::sys("close", e))
    }
}

/// `exec`: run a program in a vfork-style child and wait for it.
#[derive(Debug)]
pub struct ExecWorkload {
    spawner: Spawner,
    prog: Program,
}

impl ExecWorkload {
    /// Runs `prog` once per operation.
    pub fn new(prog: Program) -> ExecWorkload {
        ExecWorkload {
            spawner: Spawner::new(),
            prog,
        }
    }
}

impl Workload for ExecWorkload {
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        let out = self
            .spawner
            .run(l, &self.prog)
            .map_err(|e| OpError::sys("clone", e))?;
        let path = self.prog.path().to_string_lossy();
        if let Some(e) = out.exec_error {
            return Err(OpError::sys(&format!("execve {path}"), e));
        }
        if out.status != sys::ExitStatus::Code(0) {
            return Err(OpError(format!("{path} ended with {}", out.status)));
        }
        Ok(())
    }
}

/// `connect`: socket + connect + close (with a reset, so no TIME_WAIT).
#[derive(Debug)]
pub struct ConnectWorkload {
    addr: SockAddr,
}

impl ConnectWorkload {
    /// Connects to `addr`.
    pub fn new(addr: SockAddr) -> ConnectWorkload {
        ConnectWorkload { addr }
    }
}

impl Workload for ConnectWorkload {
    #[inline]
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        let fd = sys::socket(
            l,
            self.addr.family(),
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        )
        .map_err(|e| OpError::sys("socket", e))?;
        let r = sys::set_linger_zero(fd)
            .map_err(|e| OpError::sys("setsockopt SO_LINGER", e))
            .and_then(|()| {
                sys::connect(l, fd, &self.addr)
                    .map_err(|e| OpError::sys(&format!("connect {:?}", self.addr), e))
            });
        let c = sys::close(l, fd).map_err(|e| OpError::sys("close", e));
        r.and(c)
    }
}

/// `getppid`.
#[derive(Debug, Default)]
pub struct GetppidWorkload;

impl Workload for GetppidWorkload {
    #[inline]
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        sys::getppid(l);
        Ok(())
    }
}

/// The mixed cycle: 7 open (O), 2 connect (C), 1 exec (E), spread out.
pub const MIXED_CYCLE: [char; 10] = ['O', 'O', 'C', 'O', 'O', 'E', 'O', 'O', 'C', 'O'];

/// `mixed`: [`MIXED_CYCLE`], each thread starting at a different place.
#[derive(Debug)]
pub struct MixedWorkload {
    open: OpenWorkload,
    connect: ConnectWorkload,
    exec: ExecWorkload,
    pos: usize,
}

impl MixedWorkload {
    /// A mix of the three, starting at cycle position `start`.
    pub fn new(
        open: OpenWorkload,
        connect: ConnectWorkload,
        exec: ExecWorkload,
        start: usize,
    ) -> MixedWorkload {
        MixedWorkload {
            open,
            connect,
            exec,
            pos: start % MIXED_CYCLE.len(),
        }
    }
}

impl Workload for MixedWorkload {
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        let which = MIXED_CYCLE[self.pos];
        self.pos = (self.pos + 1) % MIXED_CYCLE.len();
        match which {
            'O' => self.open.op(l),
            'C' => self.connect.op(l),
            _ => self.exec.op(l),
        }
    }
}

/// The iouring cycle: 2 opens (O: openat + close), 1 connect (C: socket,
/// then connect + close through the ring).
pub const IOURING_CYCLE: [char; 3] = ['O', 'C', 'O'];

/// `iouring`: [`IOURING_CYCLE`] through this thread's own ring (created on
/// the first operation, so that its io_uring_setup is ledgered). Each
/// request is submitted and waited for on its own, inline (no SQPOLL, no
/// IOSQE_ASYNC): the daemon must see it as the syscall it stands for.
pub struct IouringWorkload {
    ring: Option<crate::uring::Ring>,
    paths: Arc<Vec<CString>>,
    next: usize,
    addr: SockAddr,
    pos: usize,
}

impl std::fmt::Debug for IouringWorkload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IouringWorkload")
            .field("next", &self.next)
            .field("pos", &self.pos)
            .finish()
    }
}

impl IouringWorkload {
    /// Cycles through `paths` from `start`, connects to `addr`.
    pub fn new(paths: Arc<Vec<CString>>, start: usize, addr: SockAddr) -> IouringWorkload {
        let next = start % paths.len().max(1);
        IouringWorkload {
            ring: None,
            paths,
            next,
            addr,
            pos: start % IOURING_CYCLE.len(),
        }
    }

    /// A request's result as the ledger's outcome, with the
    /// io_uring_enter calls it took.
    fn ring_result(
        l: &mut Ledger,
        ring: &mut crate::uring::Ring,
        sys: crate::ledger::Sys,
        what: &str,
        r: std::io::Result<i32>,
    ) -> Result<i32, OpError> {
        use crate::ledger::{Rel, Sys};
        let (ok, failed) = ring.take_enters();
        for _ in 0..ok {
            l.record(Rel::Own, Sys::IoUringEnter, true);
        }
        for _ in 0..failed {
            l.record(Rel::Own, Sys::IoUringEnter, false);
        }
        let r = r.map_err(|e| OpError(format!("io_uring_enter ({what}): {e}")))?;
        l.record(crate::ledger::Rel::Own, sys, r >= 0);
        if r < 0 {
            return Err(OpError::sys(&format!("io_uring {what}"), Errno(-r)));
        }
        Ok(r)
    }
}

impl Workload for IouringWorkload {
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        use crate::ledger::{Rel, Sys};
        if self.ring.is_none() {
            let r = crate::uring::Ring::new(8, crate::uring::RingOpts::default());
            l.record(Rel::Own, Sys::IoUringSetup, r.is_ok());
            self.ring = Some(r.map_err(|e| OpError(format!("io_uring_setup: {e}")))?);
        }
        let Some(ring) = self.ring.as_mut() else {
            return Err(OpError("no ring".into()));
        };
        let which = IOURING_CYCLE[self.pos];
        self.pos = (self.pos + 1) % IOURING_CYCLE.len();
        if which == 'O' {
            let p = &self.paths[self.next];
            self.next = (self.next + 1) % self.paths.len();
            let r = ring.openat(libc::AT_FDCWD, p, libc::O_RDONLY | libc::O_CLOEXEC, 0);
            let fd = Self::ring_result(l, ring, Sys::Openat, "openat", r)?;
            let r = ring.close(fd);
            Self::ring_result(l, ring, Sys::Close, "close", r).map(|_| ())
        } else {
            let fd = sys::socket(
                l,
                self.addr.family(),
                libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
                0,
            )
            .map_err(|e| OpError::sys("socket", e))?;
            let c = sys::set_linger_zero(fd)
                .map_err(|e| OpError::sys("setsockopt SO_LINGER", e))
                .and_then(|()| {
                    let r = ring.connect(fd, self.addr.to_std());
                    Self::ring_result(l, ring, Sys::Connect, "connect", r)
                });
            let r = ring.close(fd);
            let x = Self::ring_result(l, ring, Sys::Close, "close", r);
            c.and(x).map(|_| ())
        }
    }

    fn finish(&mut self, l: &mut Ledger) {
        // Dropping the ring closes its fd (close(2)).
        if self.ring.take().is_some() {
            l.record(crate::ledger::Rel::Own, crate::ledger::Sys::Close, true);
        }
    }
}

/// What the listener saw.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListenerReport {
    /// The address it listened on.
    pub addr: String,
    /// Connections accepted from workers (the shutdown connection is not
    /// counted).
    pub accepted: u64,
    /// accept4/close failures.
    pub errors: u64,
    /// The first failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_error: Option<String>,
}

/// A loopback TCP listener on its own thread that accepts connections and
/// closes them (accept4 + close, ledgered).
#[derive(Debug)]
pub struct Listener {
    addr: SockAddr,
    stop: Arc<AtomicBool>,
    wake_port: Arc<AtomicU32>,
    accepted: Arc<AtomicU64>,
    thread: Option<JoinHandle<(Ledger, u64, Option<String>)>>,
}

impl Listener {
    /// Binds 127.0.0.1 on a free port and starts accepting.
    ///
    /// The backlog is as large as the kernel allows (`net.core.somaxconn`,
    /// 4096 by default): std's `TcpListener` uses 128, which a flat-out
    /// connect loop fills in a few milliseconds whenever the listener
    /// thread is descheduled, and every overflow costs a connect the 1 s
    /// SYN retransmission timeout.
    pub fn start() -> Result<Listener, SetupError> {
        let fd = listen_loopback().map_err(SetupError::Listener)?;
        let port = sys::local_port(fd).ok_or_else(|| {
            SetupError::Listener(std::io::Error::other("getsockname on the listener failed"))
        })?;
        let addr = SockAddr::from_std(std::net::SocketAddr::from(([127, 0, 0, 1], port)));
        let stop = Arc::new(AtomicBool::new(false));
        let wake_port = Arc::new(AtomicU32::new(0));
        let accepted = Arc::new(AtomicU64::new(0));
        let (s, w, a) = (
            Arc::clone(&stop),
            Arc::clone(&wake_port),
            Arc::clone(&accepted),
        );
        let thread = std::thread::Builder::new()
            .name("loadgen-listen".into())
            .spawn(move || accept_loop(fd, &s, &w, &a))
            .map_err(SetupError::Listener)?;
        Ok(Listener {
            addr,
            stop,
            wake_port,
            accepted,
            thread: Some(thread),
        })
    }

    /// The listening address.
    pub fn addr(&self) -> SockAddr {
        self.addr
    }

    /// Connections accepted so far.
    pub fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }

    /// Stops the thread: connects once more (recorded in `l`) so the
    /// blocked accept returns, and joins. The listener drains every
    /// connection queued before that one, so all worker connections that
    /// completed are counted. Returns the report and the thread's ledger.
    pub fn stop(mut self, l: &mut Ledger) -> (ListenerReport, Ledger) {
        self.stop.store(true, Ordering::SeqCst);
        let mut wake_err = None;
        match sys::socket(
            l,
            self.addr.family(),
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        ) {
            Ok(fd) => {
                match sys::connect(l, fd, &self.addr) {
                    Ok(()) => {
                        let port = sys::local_port(fd).unwrap_or(0);
                        self.wake_port
                            .store(u32::from(port) | 1 << 16, Ordering::SeqCst);
                    }
                    Err(e) => wake_err = Some(format!("shutdown connect: {e}")),
                }
                if let Err(e) = sys::close(l, fd) {
                    wake_err.get_or_insert(format!("shutdown close: {e}"));
                }
            }
            Err(e) => wake_err = Some(format!("shutdown socket: {e}")),
        }
        let mut report = ListenerReport {
            addr: format!("{:?}", self.addr),
            ..ListenerReport::default()
        };
        let mut ledger = Ledger::new();
        if wake_err.is_none() {
            if let Some(t) = self.thread.take() {
                match t.join() {
                    Ok((led, errors, first)) => {
                        ledger = led;
                        report.errors = errors;
                        report.first_error = first;
                    }
                    Err(_) => {
                        report.errors += 1;
                        report.first_error = Some("listener thread panicked".into());
                    }
                }
            }
        } else {
            // The thread stays blocked in accept; it is detached and ends
            // with the process. Its ledger is lost, which the report says.
            report.errors += 1;
            report.first_error = wake_err;
        }
        report.accepted = self.accepted();
        (report, ledger)
    }
}

/// socket + bind 127.0.0.1:0 + listen with the largest backlog. Runs
/// before the measurement window, so it uses libc directly.
fn listen_loopback() -> std::io::Result<RawFd> {
    // SAFETY: plain socket calls on a descriptor we own; closed on error.
    unsafe {
        let fd = libc::socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sa = SockAddr::from_std(std::net::SocketAddr::from(([127, 0, 0, 1], 0)));
        let (ptr, len) = sa.as_raw();
        if libc::bind(fd, ptr, len) < 0 || libc::listen(fd, libc::c_int::MAX) < 0 {
            let e = std::io::Error::last_os_error();
            libc::close(fd);
            return Err(e);
        }
        Ok(fd)
    }
}

fn accept_loop(
    fd: RawFd,
    stop: &AtomicBool,
    wake_port: &AtomicU32,
    accepted: &AtomicU64,
) -> (Ledger, u64, Option<String>) {
    let mut l = Ledger::new();
    let mut errors = 0u64;
    let mut first: Option<String> = None;
    let mut fail = |msg: String, errors: &mut u64| {
        *errors += 1;
        first.get_or_insert(msg);
    };
    loop {
        let (r, peer) = sys::accept4_peer(&mut l, fd, libc::SOCK_CLOEXEC);
        match r {
            Ok(c) => {
                if let Err(e) = sys::close(&mut l, c) {
                    fail(format!("close accepted socket: {e}"), &mut errors);
                }
                if stop.load(Ordering::SeqCst) && is_wake(peer, wake_port) {
                    break;
                }
                accepted.fetch_add(1, Ordering::Relaxed);
            }
            Err(Errno(libc::EINTR | libc::ECONNABORTED)) => {}
            Err(e) => {
                fail(format!("accept4: {e}"), &mut errors);
                // Out of descriptors or similar: back off rather than spin.
                std::thread::sleep(Duration::from_millis(1));
            }
        }
    }
    if let Err(e) = sys::close(&mut l, fd) {
        fail(format!("close listening socket: {e}"), &mut errors);
    }
    (l, errors, first)
}

/// Whether the connection from `peer` is the shutdown connection; waits
/// briefly for the stopping thread to publish its port, which it does just
/// after its connect returns.
fn is_wake(peer: Option<u16>, wake_port: &AtomicU32) -> bool {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let w = wake_port.load(Ordering::SeqCst);
        if w != 0 {
            return peer.map(u32::from) == Some(w & 0xffff);
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::yield_now();
    }
}

/// A scenario with everything it needs, ready to hand out workloads.
#[derive(Debug)]
pub struct Prepared {
    scenario: Scenario,
    tmp: Option<TempDir>,
    open_paths: Arc<Vec<CString>>,
    listener: Option<Listener>,
    exec_prog: Option<Program>,
    trigger: Option<Arc<TriggerEnv>>,
}

/// The program the exec scenario runs.
pub const EXEC_PROGRAM: &str = "/bin/true";

impl Prepared {
    /// Creates the files, starts the listener, checks the programs.
    /// `helper_exe` is this program's own executable (the trigger
    /// scenario re-executes it under server names).
    pub fn new(
        scenario: Scenario,
        threads: usize,
        helper_exe: Option<&Path>,
    ) -> Result<Prepared, SetupError> {
        let mut p = Prepared {
            scenario,
            tmp: None,
            open_paths: Arc::new(Vec::new()),
            listener: None,
            exec_prog: None,
            trigger: None,
        };
        if scenario.needs_files() || scenario == Scenario::Trigger {
            p.tmp = Some(TempDir::new()?);
        }
        if scenario.needs_files() {
            let dir = p
                .tmp
                .as_ref()
                .map(|t| t.path().to_path_buf())
                .unwrap_or_default();
            let mut paths = Vec::with_capacity(OPEN_FILES);
            for i in 0..OPEN_FILES {
                let f = dir.join(format!("file-{i:02}"));
                std::fs::write(&f, b"kestrel-loadgen\n").map_err(|e| SetupError::Fs {
                    what: "cannot create",
                    path: f.clone(),
                    source: e,
                })?;
                paths.push(cpath(&f));
            }
            p.open_paths = Arc::new(paths);
        }
        if scenario.needs_listener() {
            p.listener = Some(Listener::start()?);
        }
        if matches!(scenario, Scenario::Exec | Scenario::Mixed) {
            if !Path::new(EXEC_PROGRAM).is_file() {
                return Err(SetupError::Missing(format!(
                    "{EXEC_PROGRAM} is missing; the exec scenario runs it"
                )));
            }
            p.exec_prog = Some(Program::new(EXEC_PROGRAM, &["true"]).expect("no NUL"));
        }
        if scenario == Scenario::Trigger {
            let dir = p
                .tmp
                .as_ref()
                .map(|t| t.path().to_path_buf())
                .unwrap_or_default();
            p.trigger = Some(Arc::new(TriggerEnv::prepare(&dir, threads, helper_exe)?));
        }
        Ok(p)
    }

    /// The scenario.
    pub fn scenario(&self) -> Scenario {
        self.scenario
    }

    /// The temporary directory, if the scenario uses one.
    pub fn temp_dir(&self) -> Option<&Path> {
        self.tmp.as_ref().map(|t| t.path())
    }

    /// The files the open scenario cycles through.
    pub fn open_paths(&self) -> &[CString] {
        &self.open_paths
    }

    /// The trigger environment.
    pub fn trigger_env(&self) -> Option<&TriggerEnv> {
        self.trigger.as_deref()
    }

    /// The workload of thread `thread`.
    pub fn workload(&self, thread: usize) -> Box<dyn Workload> {
        let open = || {
            OpenWorkload::new(
                Arc::clone(&self.open_paths),
                thread * OPEN_FILES / 7 + thread,
            )
        };
        let connect = || ConnectWorkload::new(self.listener.as_ref().expect("listener").addr());
        let exec = || ExecWorkload::new(self.exec_prog.clone().expect("exec program"));
        match self.scenario {
            Scenario::Open => Box::new(open()),
            Scenario::Exec => Box::new(exec()),
            Scenario::Connect => Box::new(connect()),
            Scenario::Getppid => Box::new(GetppidWorkload),
            Scenario::Mixed => Box::new(MixedWorkload::new(open(), connect(), exec(), thread * 3)),
            Scenario::Trigger => Box::new(TriggerWorkload::new(
                Arc::clone(self.trigger.as_ref().expect("trigger env")),
                thread,
            )),
            Scenario::Iouring => Box::new(IouringWorkload::new(
                Arc::clone(&self.open_paths),
                thread * OPEN_FILES / 7 + thread,
                self.listener.as_ref().expect("listener").addr(),
            )),
        }
    }

    /// Stops the listener (if any), recording the shutdown syscalls in
    /// `l`; returns its report and its thread's ledger.
    pub fn stop_listener(&mut self, l: &mut Ledger) -> Option<(ListenerReport, Ledger)> {
        self.listener.take().map(|x| x.stop(l))
    }

    /// Removes everything the scenario created; returns warnings.
    pub fn cleanup(mut self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(t) = self.trigger.take() {
            w.extend(t.cleanup());
        }
        drop(self.tmp.take());
        w
    }
}
