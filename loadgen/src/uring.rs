//! io_uring operations through the `io-uring` crate: the `iouring`
//! scenario's opens, closes and connects, and the `uring` subcommand that
//! performs single requests for the end-to-end tests (tests/iouring.rs).
//!
//! Every request goes through the ring: no open(2), connect(2) or rename(2)
//! is made for it, only io_uring_enter(2) (or none at all with SQPOLL,
//! whose kernel thread picks the requests up by itself).

use std::ffi::{CStr, CString};
use std::io;
use std::net::SocketAddr;

use io_uring::{opcode, squeue, types, IoUring};

use crate::sys::SockAddr;

/// How a ring is set up and its requests flagged.
#[derive(Debug, Clone, Copy, Default)]
pub struct RingOpts {
    /// IORING_SETUP_SQPOLL: a kernel thread (`iou-sqp-<pid>`) polls the
    /// submission queue.
    pub sqpoll: bool,
    /// IOSQE_ASYNC on every request: punted to an io-wq worker
    /// (`iou-wrk-<pid>`) instead of being tried inline.
    pub punt: bool,
    /// IOSQE_IO_LINK between the requests of one batch.
    pub link: bool,
}

/// A ring with its options.
pub struct Ring {
    ring: IoUring,
    opts: RingOpts,
    /// io_uring_enter(2) calls made (ok, failed) since the last
    /// [`Ring::take_enters`].
    enters: (u64, u64),
}

impl std::fmt::Debug for Ring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ring").field("opts", &self.opts).finish()
    }
}

impl Ring {
    /// A ring of `entries` slots.
    pub fn new(entries: u32, opts: RingOpts) -> io::Result<Ring> {
        let mut b = IoUring::builder();
        if opts.sqpoll {
            b.setup_sqpoll(1000);
        }
        Ok(Ring {
            ring: b.build(entries)?,
            opts,
            enters: (0, 0),
        })
    }

    /// The io_uring_enter(2) calls made since the last call, as (ok,
    /// failed), for a ledger (without SQPOLL every wait is one call).
    pub fn take_enters(&mut self) -> (u64, u64) {
        std::mem::take(&mut self.enters)
    }

    fn submit_and_wait(&mut self, want: usize) -> io::Result<usize> {
        let r = self.ring.submit_and_wait(want);
        if r.is_ok() {
            self.enters.0 += 1;
        } else {
            self.enters.1 += 1;
        }
        r
    }

    /// Submits `sqes` as one batch (linked if the ring says so) and waits
    /// for all their completions; returns the results in submission
    /// order (negative errno on failure).
    ///
    /// # Safety
    /// Every pointer the entries hold must stay valid until this returns.
    unsafe fn run(&mut self, sqes: Vec<squeue::Entry>) -> io::Result<Vec<i32>> {
        let n = sqes.len();
        {
            let mut sq = self.ring.submission();
            for (i, e) in sqes.into_iter().enumerate() {
                let mut flags = squeue::Flags::empty();
                if self.opts.punt {
                    flags |= squeue::Flags::ASYNC;
                }
                if self.opts.link && i + 1 < n {
                    flags |= squeue::Flags::IO_LINK;
                }
                let e = e.flags(flags).user_data(i as u64);
                // SAFETY: the caller keeps the entry's buffers alive until
                // the completions are reaped below.
                unsafe { sq.push(&e) }
                    .map_err(|_| io::Error::other("io_uring submission queue full"))?;
            }
        }
        self.submit_and_wait(n)?;
        let mut res = vec![0i32; n];
        let mut got = 0;
        while got < n {
            let mut cq = self.ring.completion();
            cq.sync();
            let mut any = false;
            for c in &mut cq {
                if let Some(slot) = res.get_mut(c.user_data() as usize) {
                    *slot = c.result();
                    got += 1;
                    any = true;
                }
            }
            drop(cq);
            if got < n && !any {
                self.submit_and_wait(1)?;
            }
        }
        Ok(res)
    }

    /// One request; its result.
    fn one(&mut self, e: squeue::Entry) -> io::Result<i32> {
        // SAFETY: callers keep the entry's pointers alive for the call.
        Ok(unsafe { self.run(vec![e]) }?[0])
    }

    /// openat through the ring: the new fd or -errno.
    pub fn openat(&mut self, dirfd: i32, path: &CStr, flags: i32, mode: u32) -> io::Result<i32> {
        self.one(
            opcode::OpenAt::new(types::Fd(dirfd), path.as_ptr())
                .flags(flags)
                .mode(mode)
                .build(),
        )
    }

    /// openat2 through the ring.
    pub fn openat2(&mut self, dirfd: i32, path: &CStr, flags: u64, mode: u64) -> io::Result<i32> {
        let how = types::OpenHow::new().flags(flags).mode(mode);
        self.one(opcode::OpenAt2::new(types::Fd(dirfd), path.as_ptr(), &how).build())
    }

    /// close through the ring.
    pub fn close(&mut self, fd: i32) -> io::Result<i32> {
        self.one(opcode::Close::new(types::Fd(fd)).build())
    }

    /// An openat, then a close of the fd it returned (two submissions).
    pub fn open_close(&mut self, dirfd: i32, path: &CStr, flags: i32) -> io::Result<(i32, i32)> {
        let o = self.openat(dirfd, path, flags, 0)?;
        if o < 0 {
            return Ok((o, 0));
        }
        let c = self.close(o)?;
        Ok((o, c))
    }

    /// connect through the ring.
    pub fn connect(&mut self, fd: i32, addr: SocketAddr) -> io::Result<i32> {
        let a = SockAddr::from_std(addr);
        let (ptr, len) = a.as_raw();
        self.one(opcode::Connect::new(types::Fd(fd), ptr, len).build())
    }

    /// accept through the ring (no peer address asked for).
    pub fn accept(&mut self, fd: i32, flags: i32) -> io::Result<i32> {
        self.one(
            opcode::Accept::new(types::Fd(fd), std::ptr::null_mut(), std::ptr::null_mut())
                .flags(flags)
                .build(),
        )
    }

    /// send through the ring.
    pub fn send(&mut self, fd: i32, buf: &[u8]) -> io::Result<i32> {
        self.one(opcode::Send::new(types::Fd(fd), buf.as_ptr(), buf.len() as u32).build())
    }

    /// recv through the ring.
    pub fn recv(&mut self, fd: i32, buf: &mut [u8]) -> io::Result<i32> {
        self.one(opcode::Recv::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32).build())
    }

    /// read through the ring.
    pub fn read(&mut self, fd: i32, buf: &mut [u8]) -> io::Result<i32> {
        self.one(opcode::Read::new(types::Fd(fd), buf.as_mut_ptr(), buf.len() as u32).build())
    }

    /// Registers `fds` as the ring's fixed files (indexes 0..).
    pub fn register_files(&mut self, fds: &[i32]) -> io::Result<()> {
        self.ring.submitter().register_files(fds)
    }

    /// read through the ring of fixed file `index` (IOSQE_FIXED_FILE).
    pub fn read_fixed_file(&mut self, index: u32, buf: &mut [u8]) -> io::Result<i32> {
        self.one(opcode::Read::new(types::Fixed(index), buf.as_mut_ptr(), buf.len() as u32).build())
    }

    /// connect through the ring of fixed file `index` (IOSQE_FIXED_FILE).
    pub fn connect_fixed_file(&mut self, index: u32, addr: SocketAddr) -> io::Result<i32> {
        let a = SockAddr::from_std(addr);
        let (ptr, len) = a.as_raw();
        self.one(opcode::Connect::new(types::Fixed(index), ptr, len).build())
    }

    /// renameat2 through the ring.
    pub fn rename(&mut self, old: &CStr, new: &CStr, flags: u32) -> io::Result<i32> {
        self.one(
            opcode::RenameAt::new(
                types::Fd(libc::AT_FDCWD),
                old.as_ptr(),
                types::Fd(libc::AT_FDCWD),
                new.as_ptr(),
            )
            .flags(flags)
            .build(),
        )
    }

    /// unlinkat through the ring.
    pub fn unlink(&mut self, path: &CStr, flags: i32) -> io::Result<i32> {
        self.one(
            opcode::UnlinkAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
                .flags(flags)
                .build(),
        )
    }

    /// mkdirat through the ring.
    pub fn mkdir(&mut self, path: &CStr, mode: u32) -> io::Result<i32> {
        self.one(
            opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), path.as_ptr())
                .mode(mode)
                .build(),
        )
    }

    /// symlinkat through the ring: `link` will point at `target`.
    pub fn symlink(&mut self, target: &CStr, link: &CStr) -> io::Result<i32> {
        self.one(
            opcode::SymlinkAt::new(types::Fd(libc::AT_FDCWD), target.as_ptr(), link.as_ptr())
                .build(),
        )
    }

    /// linkat through the ring.
    pub fn link(&mut self, old: &CStr, new: &CStr) -> io::Result<i32> {
        self.one(
            opcode::LinkAt::new(
                types::Fd(libc::AT_FDCWD),
                old.as_ptr(),
                types::Fd(libc::AT_FDCWD),
                new.as_ptr(),
            )
            .build(),
        )
    }

    /// A linked chain: mkdirat `dir`, then openat `dir/file` with O_CREAT,
    /// in one submission (IOSQE_IO_LINK regardless of the ring's option).
    pub fn mkdir_then_create(&mut self, dir: &CStr, file: &CStr) -> io::Result<Vec<i32>> {
        let a = opcode::MkDirAt::new(types::Fd(libc::AT_FDCWD), dir.as_ptr())
            .mode(0o755)
            .build()
            .flags(squeue::Flags::IO_LINK);
        let b = opcode::OpenAt::new(types::Fd(libc::AT_FDCWD), file.as_ptr())
            .flags(libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC)
            .mode(0o644)
            .build();
        let saved = self.opts.link;
        self.opts.link = true;
        // SAFETY: dir and file outlive the call.
        let r = unsafe { self.run(vec![a, b]) };
        self.opts.link = saved;
        r
    }
}

fn cstr(s: &str) -> Result<CString, String> {
    CString::new(s).map_err(|_| format!("{s:?} contains a NUL byte"))
}

/// `kestrel-loadgen uring [--sqpoll] [--async] OP ARGS...`: performs one
/// io_uring request (or a linked chain) and prints its results as one JSON
/// object: `{"pid":..,"op":..,"results":[..]}`. Ops: `open PATH`,
/// `openat2 PATH`, `create PATH`, `close-after-open PATH`, `connect
/// ADDR:PORT`, `rename OLD NEW`, `unlink PATH`, `rmdir PATH`, `mkdir
/// PATH`, `symlink TARGET LINK`, `link OLD NEW`, `read PATH`, `read-fixed
/// PATH` and `connect-fixed ADDR:PORT` (through a registered file,
/// IOSQE_FIXED_FILE), `accept`
/// (a loopback listener and a client of its own), `send-recv` (a
/// socketpair), `chain DIR FILE` (mkdirat linked to openat O_CREAT).
pub fn uring_command(opts: RingOpts, args: &[String]) -> Result<String, String> {
    let (op, rest) = args.split_first().ok_or("uring: an op is required")?;
    let arg = |i: usize| -> Result<&str, String> {
        rest.get(i)
            .map(|s| s.as_str())
            .ok_or_else(|| format!("uring {op}: argument {} missing", i + 1))
    };
    let mut ring = Ring::new(8, opts).map_err(|e| format!("io_uring_setup: {e}"))?;
    let e = |e: io::Error| format!("io_uring_enter: {e}");
    let results: Vec<i64> = match op.as_str() {
        "open" => {
            let p = cstr(arg(0)?)?;
            let fd = ring
                .openat(libc::AT_FDCWD, &p, libc::O_RDONLY | libc::O_CLOEXEC, 0)
                .map_err(e)?;
            vec![fd.into()]
        }
        "openat2" => {
            let p = cstr(arg(0)?)?;
            let fd = ring
                .openat2(
                    libc::AT_FDCWD,
                    &p,
                    (libc::O_RDONLY | libc::O_CLOEXEC) as u64,
                    0,
                )
                .map_err(e)?;
            vec![fd.into()]
        }
        "create" => {
            let p = cstr(arg(0)?)?;
            let fd = ring
                .openat(
                    libc::AT_FDCWD,
                    &p,
                    libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o644,
                )
                .map_err(e)?;
            vec![fd.into()]
        }
        "close-after-open" => {
            let p = cstr(arg(0)?)?;
            let (o, c) = ring
                .open_close(libc::AT_FDCWD, &p, libc::O_RDONLY | libc::O_CLOEXEC)
                .map_err(e)?;
            vec![o.into(), c.into()]
        }
        "read" => {
            let p = cstr(arg(0)?)?;
            let fd = ring
                .openat(libc::AT_FDCWD, &p, libc::O_RDONLY | libc::O_CLOEXEC, 0)
                .map_err(e)?;
            let mut buf = [0u8; 64];
            let n = if fd >= 0 {
                ring.read(fd, &mut buf).map_err(e)?
            } else {
                fd
            };
            vec![fd.into(), n.into()]
        }
        "read-fixed" => {
            // open(2) itself, then the read through a registered file.
            let p = cstr(arg(0)?)?;
            // SAFETY: a valid path; the fd stays open for the process's life.
            let fd = unsafe { libc::open(p.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
            if fd < 0 {
                return Err(format!("open: {}", io::Error::last_os_error()));
            }
            ring.register_files(&[fd])
                .map_err(|x| format!("io_uring_register: {x}"))?;
            let mut buf = [0u8; 64];
            vec![
                fd.into(),
                ring.read_fixed_file(0, &mut buf).map_err(e)?.into(),
            ]
        }
        "connect-fixed" => {
            let a: SocketAddr = arg(0)?
                .parse()
                .map_err(|x| format!("uring connect-fixed: {x}"))?;
            let dom = if a.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            // SAFETY: plain socket(2).
            let fd = unsafe { libc::socket(dom, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(format!("socket: {}", io::Error::last_os_error()));
            }
            ring.register_files(&[fd])
                .map_err(|x| format!("io_uring_register: {x}"))?;
            vec![fd.into(), ring.connect_fixed_file(0, a).map_err(e)?.into()]
        }
        "connect" => {
            let a: SocketAddr = arg(0)?.parse().map_err(|x| format!("uring connect: {x}"))?;
            let dom = if a.is_ipv4() {
                libc::AF_INET
            } else {
                libc::AF_INET6
            };
            // SAFETY: plain socket(2).
            let fd = unsafe { libc::socket(dom, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
            if fd < 0 {
                return Err(format!("socket: {}", io::Error::last_os_error()));
            }
            let r = ring.connect(fd, a).map_err(e)?;
            vec![fd.into(), r.into()]
        }
        "accept" => {
            let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|x| x.to_string())?;
            let addr = l.local_addr().map_err(|x| x.to_string())?;
            let c = std::net::TcpStream::connect(addr).map_err(|x| x.to_string())?;
            use std::os::fd::AsRawFd;
            let fd = ring.accept(l.as_raw_fd(), libc::SOCK_CLOEXEC).map_err(e)?;
            drop(c);
            vec![i64::from(addr.port()), fd.into()]
        }
        "send-recv" => {
            let mut sv = [0i32; 2];
            // SAFETY: sv has room for the two fds.
            if unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, sv.as_mut_ptr()) }
                != 0
            {
                return Err(format!("socketpair: {}", io::Error::last_os_error()));
            }
            let s = ring.send(sv[0], b"kestrel-uring").map_err(e)?;
            let mut buf = [0u8; 64];
            let r = ring.recv(sv[1], &mut buf).map_err(e)?;
            vec![sv[0].into(), s.into(), sv[1].into(), r.into()]
        }
        "rename" => {
            let (a, b) = (cstr(arg(0)?)?, cstr(arg(1)?)?);
            vec![ring.rename(&a, &b, 0).map_err(e)?.into()]
        }
        "unlink" => vec![ring.unlink(&cstr(arg(0)?)?, 0).map_err(e)?.into()],
        "rmdir" => vec![ring
            .unlink(&cstr(arg(0)?)?, libc::AT_REMOVEDIR)
            .map_err(e)?
            .into()],
        "mkdir" => vec![ring.mkdir(&cstr(arg(0)?)?, 0o755).map_err(e)?.into()],
        "symlink" => {
            let (a, b) = (cstr(arg(0)?)?, cstr(arg(1)?)?);
            vec![ring.symlink(&a, &b).map_err(e)?.into()]
        }
        "link" => {
            let (a, b) = (cstr(arg(0)?)?, cstr(arg(1)?)?);
            vec![ring.link(&a, &b).map_err(e)?.into()]
        }
        "chain" => {
            let (a, b) = (cstr(arg(0)?)?, cstr(arg(1)?)?);
            ring.mkdir_then_create(&a, &b)
                .map_err(e)?
                .into_iter()
                .map(i64::from)
                .collect()
        }
        other => return Err(format!("uring: unknown op {other:?}")),
    };
    Ok(serde_json::json!({
        "pid": std::process::id(),
        "op": op,
        "results": results,
    })
    .to_string())
}
