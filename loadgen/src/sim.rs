//! Stand-ins the trigger suite needs for rules about things a developer
//! machine does not normally have or must not touch: a container, system
//! files, kernel modules.
//!
//! - [`ContainerSim`]: a cgroup named the way docker's cgroupfs driver
//!   names a container's (`<hierarchy>/docker/<64 hex>`). kestrel (like
//!   Falco) takes `container.id` from the cgroup paths of the process, so a
//!   child that joins this cgroup before it execs is "in a container"
//!   with that id. Created before the measurement, removed after it.
//! - [`Sandbox`]: a vfork-style child that unshares its mount namespace,
//!   makes every mount private (so nothing propagates back to the host),
//!   mounts a small tmpfs over a system directory and works on files in
//!   it. The paths the rules look at (`/etc/shadow`, `/root/.ssh/...`,
//!   `/usr/local/bin/ls`) are real paths in the child's view; the host's
//!   files are never opened, and the tmpfs vanishes with the child.
//! - [`pick_module`]: a kernel module whose loading has no effect (a CRC
//!   table library), only if it is present and not loaded.

use std::ffi::{c_int, c_long, c_void, CString};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// v1 controllers tried, in order: those whose cgroups have no effect on
/// a member unless configured (`cpuset` is left out: a new cpuset cgroup
/// has no CPUs, so joining it fails).
const V1_CONTROLLERS: [&str; 7] = [
    "pids",
    "perf_event",
    "cpuacct",
    "cpu",
    "devices",
    "blkio",
    "memory",
];

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// A simulated container's cgroup.
#[derive(Debug)]
pub struct ContainerSim {
    id: String,
    /// Directories this process created, outermost first.
    created: Vec<PathBuf>,
    leaf: PathBuf,
    procs: OwnedFd,
}

/// A 64-hex container id: "kestrel-loadgen-" in hex, then the pid and the
/// time, so concurrent runs never share one.
fn container_id(pid: u32) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    format!("{ID_PREFIX}{:016x}{nanos:016x}", u64::from(pid))
}

/// "kestrel-loadgen-" in hex: the first half of every simulated
/// container id.
pub const ID_PREFIX: &str = "6b65737472656c2d6c6f616467656e2d";

/// The hierarchy to create the cgroup in: a v1 controller's (hybrid or
/// legacy hosts), else the unified one.
fn pick_hierarchy(root: &Path) -> Result<PathBuf, String> {
    for c in V1_CONTROLLERS {
        let h = root.join(c);
        // `tasks` exists only in v1 hierarchies.
        if h.join("tasks").is_file() && h.join("cgroup.procs").is_file() {
            return Ok(h);
        }
    }
    for h in [root.to_path_buf(), root.join("unified")] {
        if h.join("cgroup.controllers").is_file() {
            return Ok(h);
        }
    }
    Err(format!(
        "no cgroup hierarchy found under {}",
        root.display()
    ))
}

impl ContainerSim {
    /// Creates `<hierarchy>/docker/<id>` and opens its `cgroup.procs`.
    pub fn create(pid: u32) -> Result<ContainerSim, String> {
        let hierarchy = pick_hierarchy(Path::new(CGROUP_ROOT))?;
        let id = container_id(pid);
        let docker = hierarchy.join("docker");
        remove_stale(&docker);
        let leaf = docker.join(&id);
        let mut created = Vec::new();
        match std::fs::create_dir(&docker) {
            Ok(()) => created.push(docker.clone()),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(format!("cannot create cgroup {}: {e}", docker.display())),
        }
        let undo = |created: &[PathBuf], msg: String| {
            let w = remove_dirs(created, &leaf);
            if w.is_empty() {
                msg
            } else {
                format!("{msg} (and {})", w.join("; "))
            }
        };
        if let Err(e) = std::fs::create_dir(&leaf) {
            let msg = format!("cannot create cgroup {}: {e}", leaf.display());
            return Err(undo(&created, msg));
        }
        created.push(leaf.clone());
        let procs = leaf.join("cgroup.procs");
        match std::fs::OpenOptions::new().write(true).open(&procs) {
            Ok(f) => Ok(ContainerSim {
                id,
                created,
                leaf: leaf.clone(),
                procs: f.into(),
            }),
            Err(e) => {
                let msg = format!("cannot open {}: {e}", procs.display());
                Err(undo(&created, msg))
            }
        }
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The cgroup directory.
    pub fn path(&self) -> &Path {
        &self.leaf
    }

    /// The cgroup's `cgroup.procs`, open for writing.
    pub fn procs_fd(&self) -> RawFd {
        self.procs.as_raw_fd()
    }

    /// Removes the directories this process created; returns warnings.
    pub fn remove(&self) -> Vec<String> {
        remove_dirs(&self.created, &self.leaf)
    }
}

/// Removes empty cgroups a killed run left in `docker` (ours carry the
/// "kestrel-loadgen-" prefix and the pid, which must be gone).
fn remove_stale(docker: &Path) {
    let Ok(rd) = std::fs::read_dir(docker) else {
        return;
    };
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(pid) = name
            .strip_prefix(ID_PREFIX)
            .and_then(|r| r.get(..16))
            .and_then(|p| u64::from_str_radix(p, 16).ok())
        else {
            continue;
        };
        if !Path::new("/proc").join(pid.to_string()).exists() {
            // Fails harmlessly if it still has members.
            if std::fs::remove_dir(e.path()).is_ok() {
                eprintln!(
                    "kestrel-loadgen: removed the stale cgroup {}",
                    e.path().display()
                );
            }
        }
    }
}

/// Removes `created` innermost first. Every member has been reaped by now,
/// but a cgroup can stay busy for a moment after its last member exited,
/// so busy is retried.
fn remove_dirs(created: &[PathBuf], leaf: &Path) -> Vec<String> {
    let mut w = Vec::new();
    for d in created.iter().rev() {
        let mut tries = 0;
        loop {
            match std::fs::remove_dir(d) {
                Ok(()) => break,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) && tries < 200 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                // Someone else (a real docker) put cgroups in the parent
                // meanwhile: it is theirs now.
                Err(e) if d != leaf && e.raw_os_error() == Some(libc::ENOTEMPTY) => break,
                Err(e) => {
                    w.push(format!("cannot remove cgroup {}: {e}", d.display()));
                    break;
                }
            }
        }
    }
    w
}

/// One file operation inside the sandbox.
#[derive(Debug)]
pub enum Step {
    /// `mkdirat(path, mode)`.
    Mkdir(CString, u32),
    /// `openat(path, O_WRONLY | O_CREAT | extra, 0600)`, then `close`.
    Create(CString, c_int),
    /// `linkat(old, new)`.
    Link(CString, CString),
    /// `fchmodat(path, mode)`.
    Chmod(CString, u32),
    /// `fchownat(path, 0, 0)`.
    Chown(CString),
}

impl Step {
    fn name(&self) -> &'static str {
        match self {
            Step::Mkdir(..) => "mkdirat",
            Step::Create(..) => "openat",
            Step::Link(..) => "linkat",
            Step::Chmod(..) => "fchmodat",
            Step::Chown(..) => "fchownat",
        }
    }
}

/// What the sandbox child does, and where it reports a failure (the child
/// shares this memory).
#[derive(Debug)]
pub struct Sandbox {
    mountpoint: CString,
    steps: Vec<Step>,
    /// 0: no failure; 1..=3: namespace set-up; 4 + i: `steps[i]`.
    failed: usize,
    errno: c_int,
}

const SANDBOX_SETUP: [&str; 3] = [
    "unshare(CLONE_NEWNS)",
    "mount(MS_REC | MS_PRIVATE) on /",
    "mount tmpfs",
];

impl Sandbox {
    /// A sandbox with a tmpfs over `mountpoint` running `steps`.
    pub fn new(mountpoint: CString, steps: Vec<Step>) -> Sandbox {
        Sandbox {
            mountpoint,
            steps,
            failed: 0,
            errno: 0,
        }
    }

    /// After the child ended: the failed step's name and its errno.
    pub fn failure(&self) -> Option<(&'static str, c_int)> {
        // SAFETY: the child has exited; volatile because it wrote these
        // through a shared mapping the compiler does not know about.
        let (failed, errno) = unsafe {
            (
                std::ptr::read_volatile(&self.failed),
                std::ptr::read_volatile(&self.errno),
            )
        };
        match failed {
            0 => None,
            1..=3 => Some((SANDBOX_SETUP[failed - 1], errno)),
            n => Some((self.steps.get(n - 4).map_or("?", Step::name), errno)),
        }
    }
}

/// Records the failure of step `n` in the shared `Sandbox` and exits.
///
/// # Safety
/// `sb` points to the parent's live `Sandbox`.
unsafe fn sandbox_fail(sb: *mut Sandbox, n: usize) -> ! {
    // SAFETY: per the contract; errno is per-thread and readable.
    unsafe {
        std::ptr::write_volatile(&mut (*sb).errno, *libc::__errno_location());
        std::ptr::write_volatile(&mut (*sb).failed, n);
        libc::_exit(1)
    }
}

/// The sandbox child: runs in a `clone(CLONE_VM | CLONE_VFORK)` child on
/// its own stack, raw syscalls only, and always ends with `_exit`.
pub extern "C" fn sandbox_child(arg: *mut c_void) -> c_int {
    let sb = arg as *mut Sandbox;
    // SAFETY: the parent keeps `*sb` alive and untouched until this child
    // has exited (CLONE_VFORK); every pointer passed is a valid C string.
    unsafe {
        if libc::syscall(libc::SYS_unshare, libc::CLONE_NEWNS as c_long) < 0 {
            sandbox_fail(sb, 1)
        }
        // Before anything is mounted: the new namespace's copies of shared
        // mounts would otherwise propagate the tmpfs back to the host.
        if libc::syscall(
            libc::SYS_mount,
            std::ptr::null::<libc::c_char>(),
            c"/".as_ptr(),
            std::ptr::null::<libc::c_char>(),
            (libc::MS_REC | libc::MS_PRIVATE) as c_long,
            std::ptr::null::<c_void>(),
        ) < 0
        {
            sandbox_fail(sb, 2)
        }
        if libc::syscall(
            libc::SYS_mount,
            c"kestrel-loadgen".as_ptr(),
            (*sb).mountpoint.as_ptr(),
            c"tmpfs".as_ptr(),
            (libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC) as c_long,
            c"size=64k,mode=755".as_ptr(),
        ) < 0
        {
            sandbox_fail(sb, 3)
        }
        let at = libc::AT_FDCWD as c_long;
        for (i, st) in (*sb).steps.iter().enumerate() {
            let r = match st {
                Step::Mkdir(p, mode) => {
                    libc::syscall(libc::SYS_mkdirat, at, p.as_ptr(), *mode as c_long)
                }
                Step::Create(p, extra) => {
                    let fd = libc::syscall(
                        libc::SYS_openat,
                        at,
                        p.as_ptr(),
                        (libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | *extra) as c_long,
                        0o600 as c_long,
                    );
                    if fd >= 0 {
                        libc::syscall(libc::SYS_close, fd);
                    }
                    fd
                }
                Step::Link(old, new) => libc::syscall(
                    libc::SYS_linkat,
                    at,
                    old.as_ptr(),
                    at,
                    new.as_ptr(),
                    0 as c_long,
                ),
                Step::Chmod(p, mode) => {
                    libc::syscall(libc::SYS_fchmodat, at, p.as_ptr(), *mode as c_long)
                }
                Step::Chown(p) => libc::syscall(
                    libc::SYS_fchownat,
                    at,
                    p.as_ptr(),
                    0 as c_long,
                    0 as c_long,
                    0 as c_long,
                ),
            };
            if r < 0 {
                sandbox_fail(sb, 4 + i)
            }
        }
        libc::_exit(0)
    }
}

/// Modules whose loading has no side effect: CRC table libraries that
/// register nothing. Tried in order.
pub const MODULE_CANDIDATES: [&str; 4] = ["crc4", "crc7", "crc8", "crc_itu_t"];

/// The running kernel's release (`uname -r`).
fn kernel_release() -> Option<String> {
    // SAFETY: utsname is plain data; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    // SAFETY: u is a valid out pointer.
    if unsafe { libc::uname(&mut u) } != 0 {
        return None;
    }
    // SAFETY: uname NUL-terminates the field.
    let r = unsafe { std::ffi::CStr::from_ptr(u.release.as_ptr()) };
    Some(r.to_string_lossy().into_owned())
}

/// Whether `m` appears in a modules.dep text (file names use `-` or `_`).
fn in_modules_dep(dep: &str, m: &str) -> bool {
    let forms = [m.to_string(), m.replace('_', "-")];
    dep.lines().any(|l| {
        let file = l.split(':').next().unwrap_or("");
        let base = file.rsplit('/').next().unwrap_or("");
        let stem = base.split(".ko").next().unwrap_or("");
        base.contains(".ko") && forms.iter().any(|f| f == stem)
    })
}

/// Whether `m` is listed in a /proc/modules text.
fn in_proc_modules(text: &str, m: &str) -> bool {
    text.lines().any(|l| l.split_whitespace().next() == Some(m))
}

/// Whether module `m` is loaded (or built in) right now. A stat, which is
/// not an event kestrel traces, so it is safe inside the measurement.
pub fn module_present(m: &str) -> bool {
    Path::new("/sys/module").join(m).exists()
}

/// A module from [`MODULE_CANDIDATES`] that exists for the running kernel
/// and is not loaded, or why there is none.
pub fn pick_module() -> Result<&'static str, String> {
    let loaded = std::fs::read_to_string("/proc/modules")
        .map_err(|e| format!("the kernel has no loadable module support (/proc/modules: {e})"))?;
    let rel = kernel_release().ok_or("cannot read the kernel release")?;
    let dep_path = format!("/lib/modules/{rel}/modules.dep");
    let dep =
        std::fs::read_to_string(&dep_path).map_err(|e| format!("cannot read {dep_path}: {e}"))?;
    MODULE_CANDIDATES
        .into_iter()
        .find(|m| in_modules_dep(&dep, m) && !in_proc_modules(&loaded, m) && !module_present(m))
        .ok_or_else(|| {
            format!(
                "none of {} is available unloaded for kernel {rel}",
                MODULE_CANDIDATES.join(", ")
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_look_like_dockers() {
        let id = container_id(4242);
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        // "kestrel-loadgen-" in hex.
        assert!(id.starts_with("6b65737472656c2d6c6f616467656e2d"), "{id}");
        assert_ne!(container_id(1), container_id(2));
    }

    #[test]
    fn hierarchy_choice() {
        let d = std::env::temp_dir().join(format!("kestrel-loadgen-cgtest-{}", std::process::id()));
        if d.exists() {
            std::fs::remove_dir_all(&d).unwrap();
        }
        std::fs::create_dir_all(&d).unwrap();
        assert!(pick_hierarchy(&d).is_err());
        // Unified only.
        std::fs::write(d.join("cgroup.controllers"), "").unwrap();
        assert_eq!(pick_hierarchy(&d).unwrap(), d);
        // A v1 controller wins; cpuset alone is never used.
        std::fs::create_dir(d.join("cpuset")).unwrap();
        std::fs::write(d.join("cpuset/tasks"), "").unwrap();
        std::fs::write(d.join("cpuset/cgroup.procs"), "").unwrap();
        assert_eq!(pick_hierarchy(&d).unwrap(), d);
        std::fs::create_dir(d.join("pids")).unwrap();
        std::fs::write(d.join("pids/tasks"), "").unwrap();
        std::fs::write(d.join("pids/cgroup.procs"), "").unwrap();
        assert_eq!(pick_hierarchy(&d).unwrap(), d.join("pids"));
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn module_lists() {
        let dep = "kernel/lib/crc8.ko.zst:\nkernel/lib/crc-itu-t.ko: kernel/lib/x.ko\nkernel/drivers/crc7x.ko:\n";
        assert!(in_modules_dep(dep, "crc8"));
        assert!(in_modules_dep(dep, "crc_itu_t"));
        assert!(!in_modules_dep(dep, "crc7"));
        assert!(!in_modules_dep(dep, "crc4"));
        let proc = "crc8 16384 0 - Live 0x0\nfoo 1 0 - Live 0x0\n";
        assert!(in_proc_modules(proc, "crc8"));
        assert!(!in_proc_modules(proc, "crc7"));
    }

    #[test]
    fn sandbox_failures_name_the_step() {
        let mut sb = Sandbox::new(c"/x".into(), vec![Step::Chown(c"/x/y".into())]);
        assert_eq!(sb.failure(), None);
        sb.failed = 2;
        sb.errno = libc::EPERM;
        assert_eq!(
            sb.failure(),
            Some(("mount(MS_REC | MS_PRIVATE) on /", libc::EPERM))
        );
        sb.failed = 4;
        assert_eq!(sb.failure(), Some(("fchownat", libc::EPERM)));
    }
}
