//! The trigger suite: one harmless action per detection rule.
//!
//! [`ACTIONS`] is the table to edit when rules change: each row names the
//! action, the rules it should fire (Falco's upstream names, then kestrel's
//! default rules from rules/kestrel_rules.yaml; every default rule has an
//! action), what it needs (root, a program on `PATH`, this program's own
//! executable, a simulated container, a mount sandbox) and the function
//! that performs it. Every action is safe on a developer machine: it works
//! on files it creates under its private temporary directory (or, as root,
//! on a uniquely named empty file it removes at once, or on files of a
//! private tmpfs in a mount namespace of its own, see [`crate::sim`]),
//! changes namespaces or credentials only in a short-lived child, reads
//! sensitive files without keeping or printing anything, and removes the
//! container cgroup it created when the run ends.
//!
//! Actions run on the worker threads in turn. Everything they need (tool
//! paths, argv strings, copies of `/bin/true`) is prepared before the
//! measurement starts, and every syscall the load generator itself issues
//! goes through [`crate::sys`] and is ledgered. Work done in children
//! (spawned tools, fork-style helpers) is not reconciled except for the
//! `execve` of each spawned child.
//!
//! An action that the kernel refuses (EACCES, EPERM, EXDEV, EROFS,
//! EINVAL, ENOSYS: not root, a sysctl, a noexec mount) is reported as
//! *denied*, not as a failure: the attempt still produces the event.

use std::collections::BTreeMap;
use std::ffi::{c_int, c_long, c_void, CStr, CString};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::ledger::Ledger;
use crate::scenario::{cpath, OpError, SetupError, Workload};
use crate::sim::{self, ContainerSim, Sandbox, Step};
use crate::sys::{self, Errno, ExitStatus, Program, SockAddr, Spawner};

/// What an action needs to run.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// Effective uid 0.
    pub root: bool,
    /// Programs that must be on `PATH`.
    pub tools: &'static [&'static str],
    /// This program's own executable (re-executed under a server name).
    pub helper: bool,
    /// A copy of /bin/true in /dev/shm.
    pub shm: bool,
    /// A simulated container: a cgroup named the way docker names its
    /// containers' cgroups, which children join before they exec (root).
    pub container: bool,
    /// A private mount namespace with a tmpfs over this directory (root).
    pub sandbox: Option<SandboxDir>,
    /// A kernel module that can be loaded and unloaded again (root).
    pub module: bool,
    /// A route to TEST-NET-2 (checked with a UDP connect at set-up).
    pub route: bool,
}

const NOTHING: Needs = Needs {
    root: false,
    tools: &[],
    helper: false,
    shm: false,
    container: false,
    sandbox: None,
    module: false,
    route: false,
};
const ROOT: Needs = Needs {
    root: true,
    ..NOTHING
};
const fn tools(t: &'static [&'static str]) -> Needs {
    Needs {
        tools: t,
        ..NOTHING
    }
}
const HELPER: Needs = Needs {
    helper: true,
    ..NOTHING
};
const SHM: Needs = Needs {
    shm: true,
    ..NOTHING
};
const fn container(t: &'static [&'static str]) -> Needs {
    Needs {
        root: true,
        tools: t,
        container: true,
        ..NOTHING
    }
}
const fn sandbox(d: SandboxDir) -> Needs {
    Needs {
        root: true,
        sandbox: Some(d),
        ..NOTHING
    }
}
const MODULE: Needs = Needs {
    root: true,
    tools: &["modprobe"],
    module: true,
    ..NOTHING
};

/// A directory the sandbox actions cover with a private tmpfs, in a mount
/// namespace of their own, before they write "system" files there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SandboxDir {
    /// `/etc`.
    Etc,
    /// `/root`.
    Root,
    /// `/var/log`.
    VarLog,
    /// The first of `/usr/local/sbin`, `/usr/local/bin`, `/usr/sbin`,
    /// `/usr/bin` that is a real directory (not a symlink).
    BinDir,
}

impl SandboxDir {
    const ALL: [SandboxDir; 4] = [
        SandboxDir::Etc,
        SandboxDir::Root,
        SandboxDir::VarLog,
        SandboxDir::BinDir,
    ];

    /// Candidate paths, first match wins.
    fn candidates(self) -> &'static [&'static str] {
        match self {
            SandboxDir::Etc => &["/etc"],
            SandboxDir::Root => &["/root"],
            SandboxDir::VarLog => &["/var/log"],
            SandboxDir::BinDir => &["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin"],
        }
    }

    /// The directory to mount over here, if any.
    fn resolve(self) -> Option<PathBuf> {
        self.candidates()
            .iter()
            .map(PathBuf::from)
            .find(|p| match self {
                // The kestrel rules name these exact paths; mounting over
                // a symlink would cover its target instead.
                SandboxDir::BinDir => std::fs::symlink_metadata(p).is_ok_and(|m| m.is_dir()),
                _ => p.is_dir(),
            })
    }

    /// The candidate paths, for messages.
    pub fn path_text(self) -> String {
        self.candidates().join(" or ")
    }
}

/// Why an action did not complete.
#[derive(Debug)]
pub enum ActError {
    /// A syscall failed: `(step, errno)`.
    Sys(&'static str, Errno),
    /// Something else.
    Other(String),
}

type ActResult = Result<(), ActError>;

/// One row of the table.
#[derive(Debug)]
pub struct Action {
    /// Short name.
    pub name: &'static str,
    /// Rules it should fire.
    pub rules: &'static [&'static str],
    /// What it does, in a few words.
    pub what: &'static str,
    /// Requirements.
    pub needs: Needs,
    /// Performs it.
    pub run: fn(&mut Ctx<'_>) -> ActResult,
}

/// The trigger table. `rules` lists Falco's upstream rule names first,
/// then kestrel's default rules (rules/kestrel_rules.yaml) the action
/// fires; `tests/trigger_table.rs` checks that every default rule is
/// targeted by some action.
pub const ACTIONS: &[Action] = &[
    Action {
        name: "read_sensitive_file",
        rules: &["Read sensitive file untrusted", "Read Sensitive File"],
        what: "open /etc/shadow for reading, close",
        needs: NOTHING,
        run: read_sensitive_file,
    },
    Action {
        name: "directory_traversal_read",
        rules: &["Directory traversal monitored file read"],
        what: "a child opens /etc/../etc/../etc/passwd",
        needs: NOTHING,
        run: directory_traversal_read,
    },
    Action {
        name: "symlink_over_sensitive_file",
        rules: &[
            "Create Symlink Over Sensitive Files",
            "Symlink to Sensitive File",
        ],
        what: "symlink tmp/link -> /etc/shadow, remove it",
        needs: NOTHING,
        run: symlink_over_sensitive_file,
    },
    Action {
        name: "hardlink_over_sensitive_file",
        rules: &[
            "Create Hardlink Over Sensitive Files",
            "Hardlink to Sensitive File",
        ],
        what: "link /etc/shadow to tmp/hardlink (usually refused), remove it",
        needs: NOTHING,
        run: hardlink_over_sensitive_file,
    },
    Action {
        name: "setuid_bit",
        rules: &["Set Setuid or Setgid bit", "Set Setuid or Setgid Bit"],
        what: "create tmp/suid, chmod 4755, remove it",
        needs: NOTHING,
        run: setuid_bit,
    },
    Action {
        name: "unshare_user_namespace",
        rules: &[
            "Change namespace privileges via unshare",
            "Namespace Change via unshare",
        ],
        what: "a child calls unshare(CLONE_NEWUSER) and exits",
        needs: NOTHING,
        run: unshare_user_namespace,
    },
    Action {
        name: "setns",
        rules: &["Change thread namespace", "Namespace Change via setns"],
        what: "a child calls setns into its own UTS namespace and exits",
        needs: NOTHING,
        run: setns_own_namespace,
    },
    Action {
        name: "shell_from_web_server",
        rules: &[
            "Run shell untrusted",
            "Web Server Spawned Shell",
            "Shell Spawned by Server Process",
        ],
        what: "a process named nginx runs /bin/sh -c '/bin/true; exit 0' (the shell forks)",
        needs: HELPER,
        run: shell_from_web_server,
    },
    Action {
        name: "db_server_spawns_process",
        rules: &["DB program spawned process"],
        what: "a process named mysqld runs /bin/true",
        needs: HELPER,
        run: db_server_spawns_process,
    },
    Action {
        name: "search_private_keys",
        rules: &["Search Private Keys or Passwords"],
        what: "find tmp -name id_rsa",
        needs: tools(&["find"]),
        run: search_private_keys,
    },
    Action {
        name: "find_aws_credentials",
        rules: &["Find AWS Credentials"],
        what: "find tmp -path */.aws/credentials",
        needs: tools(&["find"]),
        run: find_aws_credentials,
    },
    Action {
        name: "remove_bulk_data",
        rules: &["Remove Bulk Data from Disk"],
        what: "shred -u a file in tmp",
        needs: tools(&["shred"]),
        run: remove_bulk_data,
    },
    Action {
        name: "clear_log_file",
        rules: &["Clear Log Activities"],
        what: "open tmp/syslog with O_TRUNC, remove it",
        needs: NOTHING,
        run: clear_log_file,
    },
    Action {
        name: "delete_shell_history",
        rules: &["Delete or rename shell history"],
        what: "create and remove tmp/.bash_history",
        needs: NOTHING,
        run: delete_shell_history,
    },
    Action {
        name: "modify_shell_config",
        rules: &["Modify Shell Configuration File"],
        what: "create and remove tmp/.bashrc",
        needs: NOTHING,
        run: modify_shell_config,
    },
    Action {
        name: "exec_from_dev_shm",
        rules: &["Execution from /dev/shm", "Fileless or Staged Execution"],
        what: "run a copy of /bin/true placed in /dev/shm",
        needs: SHM,
        run: exec_from_dev_shm,
    },
    Action {
        name: "fileless_memfd_exec",
        rules: &[
            "Fileless execution via memfd_create",
            "Fileless or Staged Execution",
        ],
        what: "copy /bin/true into a memfd and execveat it",
        needs: NOTHING,
        run: fileless_memfd_exec,
    },
    Action {
        name: "ptrace_attach",
        rules: &["PTRACE attached to process", "Ptrace Attach or Inject"],
        what: "PTRACE_ATTACH to a paused child, then kill it",
        needs: NOTHING,
        run: ptrace_attach,
    },
    Action {
        name: "ptrace_traceme",
        rules: &["PTRACE anti-debug attempt"],
        what: "a child calls PTRACE_TRACEME and exits",
        needs: NOTHING,
        run: ptrace_traceme,
    },
    Action {
        name: "non_sudo_setuid",
        rules: &["Non sudo setuid"],
        what: "a child calls setuid(getuid()) and exits",
        needs: NOTHING,
        run: non_sudo_setuid,
    },
    Action {
        name: "userfaultfd",
        rules: &["Unprivileged Delegation of Page Faults Handling to a Userspace Process"],
        what: "userfaultfd(UFFD_USER_MODE_ONLY), close",
        needs: NOTHING,
        run: userfaultfd,
    },
    Action {
        name: "ssh_version",
        rules: &[
            "Launch Remote File Copy Tools in Container",
            "SSH or SCP Launched",
        ],
        what: "ssh -V",
        needs: tools(&["ssh"]),
        run: ssh_version,
    },
    Action {
        name: "ssh_nonstandard_port",
        rules: &[
            "Disallowed SSH Connection Non Standard Port",
            "SSH or SCP Launched",
        ],
        what: "ssh to 192.0.2.1:2222 (TEST-NET-1, unroutable), 1 s timeout",
        needs: tools(&["ssh"]),
        run: ssh_nonstandard_port,
    },
    Action {
        name: "scp_local_copy",
        rules: &[
            "Launch Remote File Copy Tools in Container",
            "SSH or SCP Launched",
        ],
        what: "scp a file in tmp to another file in tmp",
        needs: tools(&["scp"]),
        run: scp_local_copy,
    },
    Action {
        name: "crontab_list",
        rules: &["Schedule Cron Jobs"],
        what: "crontab -l",
        needs: tools(&["crontab"]),
        run: crontab_list,
    },
    Action {
        name: "write_below_etc",
        rules: &[
            "Write below etc",
            "Write Below Etc",
            "Etc Changed by Rename, Link or Unlink",
        ],
        what: "create and remove /etc/.kestrel-loadgen-<pid>-*",
        needs: ROOT,
        run: write_below_etc,
    },
    Action {
        name: "write_below_binary_dir",
        rules: &[
            "Write below binary dir",
            "Write Below Binary Dir",
            "Binary Dir Changed by Rename, Link or Unlink",
        ],
        what: "create and remove .kestrel-loadgen-<pid>-* in the directory of /bin/true",
        needs: ROOT,
        run: write_below_binary_dir,
    },
    Action {
        name: "create_file_below_dev",
        rules: &["Create files below dev"],
        what: "create and remove /dev/.kestrel-loadgen-<pid>-*",
        needs: ROOT,
        run: create_file_below_dev,
    },
    Action {
        name: "packet_socket",
        rules: &[
            "Packet socket created in container",
            "Packet Socket Created",
        ],
        what: "socket(AF_PACKET, SOCK_RAW, 0), close",
        needs: ROOT,
        run: packet_socket,
    },
    // ---- kestrel's default rules that no upstream action fires
    Action {
        name: "io_uring_setup",
        rules: &["io_uring Ring Set Up by Unexpected Program"],
        what: "io_uring_setup(4, defaults), close",
        needs: NOTHING,
        run: io_uring_ring,
    },
    Action {
        name: "root_ssh_key_write",
        rules: &["Write to Root SSH Directory"],
        what: "private mount ns, tmpfs over /root: create /root/.ssh/authorized_keys",
        needs: sandbox(SandboxDir::Root),
        run: root_ssh_key_write,
    },
    Action {
        name: "coreutils_binary_write",
        rules: &["Coreutils Binary Tampering"],
        what: "private mount ns, tmpfs over a binary dir: create <dir>/ls",
        needs: sandbox(SandboxDir::BinDir),
        run: coreutils_binary_write,
    },
    Action {
        name: "login_binary_write",
        rules: &["Login Binary Tampering"],
        what: "private mount ns, tmpfs over a binary dir: create <dir>/su",
        needs: sandbox(SandboxDir::BinDir),
        run: login_binary_write,
    },
    Action {
        name: "shadowutils_binary_write",
        rules: &["Shadow Utils Binary Tampering"],
        what: "private mount ns, tmpfs over a binary dir: create <dir>/passwd",
        needs: sandbox(SandboxDir::BinDir),
        run: shadowutils_binary_write,
    },
    Action {
        name: "shadow_hardlink_private_etc",
        rules: &["Hardlink to Sensitive File"],
        what: "private mount ns, tmpfs over /etc: create /etc/shadow, link it to /etc/shadow.lnk",
        needs: sandbox(SandboxDir::Etc),
        run: shadow_hardlink_private_etc,
    },
    Action {
        name: "shadow_chmod_private_etc",
        rules: &["Permission Change on Sensitive File"],
        what: "private mount ns, tmpfs over /etc: create /etc/shadow, chmod 0640",
        needs: sandbox(SandboxDir::Etc),
        run: shadow_chmod_private_etc,
    },
    Action {
        name: "shadow_chown_private_etc",
        rules: &["Ownership Change on Sensitive File"],
        what: "private mount ns, tmpfs over /etc: create /etc/shadow, chown 0:0",
        needs: sandbox(SandboxDir::Etc),
        run: shadow_chown_private_etc,
    },
    Action {
        name: "truncate_log_private_var_log",
        rules: &["Clear Log File"],
        what: "private mount ns, tmpfs over /var/log: open /var/log/syslog with O_TRUNC",
        needs: sandbox(SandboxDir::VarLog),
        run: truncate_log_private_var_log,
    },
    Action {
        name: "socket_dup_to_stdin",
        rules: &["Reverse Shell Redirect"],
        what: "a child connects a UDP socket to 127.0.0.1:9 (sends nothing), dup3s it onto fd 0",
        needs: NOTHING,
        run: socket_dup_to_stdin,
    },
    Action {
        name: "shell_udp_connect",
        rules: &["Shell Outbound Connection"],
        what:
            "bash -c 'exec 3<>/dev/udp/198.51.100.1/9' (UDP connect to TEST-NET-2: sends nothing)",
        needs: tools(&["bash"]),
        run: shell_udp_connect,
    },
    Action {
        name: "utility_udp_connect",
        rules: &["Unexpected Outbound Connection from System Utility"],
        what: "bash run through a symlink named cat: exec 3<>/dev/udp/198.51.100.1/9 \
               (UDP connect to TEST-NET-2: sends nothing)",
        needs: Needs {
            route: true,
            ..tools(&["bash"])
        },
        run: utility_udp_connect,
    },
    Action {
        name: "setuid_create",
        rules: &["File Created with Setuid or Setgid Mode"],
        what: "create tmp/suid-create-* with openat(O_CREAT, 04755), remove it",
        needs: NOTHING,
        run: setuid_create,
    },
    Action {
        name: "release_agent_write",
        rules: &["Cgroup Release Agent Written"],
        what: "create and remove tmp/release_agent (a file of that name, no cgroup)",
        needs: NOTHING,
        run: release_agent_write,
    },
    Action {
        name: "suspicious_port_connect",
        rules: &["Outbound Connection to Suspicious Port"],
        what: "connect a UDP socket to 127.0.0.1:4444 (sends nothing), close",
        needs: NOTHING,
        run: suspicious_port_connect,
    },
    Action {
        name: "kernel_module_load",
        rules: &["Kernel Module Loaded"],
        what: "modprobe an unloaded CRC library module (no side effects), modprobe -r it",
        needs: MODULE,
        run: kernel_module_load,
    },
    Action {
        name: "container_escalation_tool",
        rules: &["Privilege Escalation Tool in Privileged Container"],
        what: "in the simulated container, as root with CAP_SYS_ADMIN: nsenter --version",
        needs: container(&["nsenter"]),
        run: container_escalation_tool,
    },
    Action {
        name: "container_host_mount",
        rules: &["Container Started with Sensitive Host Mount"],
        what: "docker run --rm --network none -v /etc:/kestrel-host-etc:ro $KESTREL_LOADGEN_IMAGE true \
               (a real container; the image is a local one that has `true`)",
        needs: Needs {
            root: true,
            tools: &["docker"],
            ..NOTHING
        },
        run: container_host_mount,
    },
    Action {
        name: "container_shell",
        rules: &["Shell Spawned in Container"],
        what: "in the simulated container: /bin/sh -c 'exit 0'",
        needs: container(&[]),
        run: container_shell,
    },
    Action {
        name: "container_terminal_shell",
        rules: &["Terminal Shell in Container"],
        what: "in the simulated container, a process named runc gives /bin/sh a terminal \
               (a pseudo-terminal it allocates, in a new session) and runs it",
        needs: Needs {
            helper: true,
            ..container(&[])
        },
        run: container_terminal_shell,
    },
    Action {
        name: "container_exec_session",
        rules: &["Exec Session in Container"],
        what: "in the simulated container, a process named runc runs /bin/true in a new \
               session without a terminal",
        needs: Needs {
            helper: true,
            ..container(&[])
        },
        run: container_exec_session,
    },
    Action {
        name: "container_process",
        rules: &["Process Spawned in Container"],
        what: "in the simulated container: /bin/true",
        needs: container(&[]),
        run: container_process,
    },
];

/// Server process names the helper runs under (and `runc`, the container
/// runtime's entry point).
const SERVER_NAMES: [&str; 3] = ["nginx", "mysqld", "runc"];
/// The system utility name bash runs under for utility_udp_connect.
const UTILITY_NAME: &str = "cat";
/// Programs looked up on PATH.
const TOOLS: [&str; 9] = [
    "find", "shred", "ssh", "scp", "crontab", "bash", "nsenter", "modprobe", "docker",
];
/// The environment variable that names the image container_host_mount
/// runs (a local image: no registry is asked).
pub const IMAGE_ENV: &str = "KESTREL_LOADGEN_IMAGE";
/// The program copied into /dev/shm and memfds.
const TRUE: &str = "/bin/true";

/// Shared, read-only state prepared before the run.
#[derive(Debug)]
pub struct TriggerEnv {
    tmp: PathBuf,
    pid: u32,
    root: bool,
    tools: BTreeMap<&'static str, PathBuf>,
    server_links: BTreeMap<&'static str, PathBuf>,
    /// bash under a system utility's name ([`UTILITY_NAME`]), when bash is
    /// on PATH.
    utility_link: Option<PathBuf>,
    true_bytes: Vec<u8>,
    shm_true: Option<PathBuf>,
    bin_dir: Option<PathBuf>,
    scp_src: PathBuf,
    devnull: std::fs::File,
    threads: usize,
    skip: Vec<Option<String>>,
    /// `None` when not root (not attempted).
    container: Option<Result<ContainerSim, String>>,
    sandbox_dirs: BTreeMap<SandboxDir, PathBuf>,
    module: Result<&'static str, String>,
    /// Whether a UDP socket can be connected to [`SHELL_UDP_ADDR`].
    route: Result<(), String>,
    /// Held while a module is loaded, so two threads never race on it.
    module_lock: Mutex<()>,
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            std::fs::metadata(p)
                .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
                .unwrap_or(false)
        })
}

fn fs_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> SetupError + 'a {
    move |e| SetupError::Fs {
        what,
        path: path.to_path_buf(),
        source: e,
    }
}

impl TriggerEnv {
    /// Prepares the environment under `tmp` for `threads` threads.
    pub fn prepare(
        tmp: &Path,
        threads: usize,
        helper: Option<&Path>,
    ) -> Result<TriggerEnv, SetupError> {
        let pid = std::process::id();
        for t in 0..threads {
            let d = tmp.join(format!("t{t}"));
            std::fs::create_dir(&d).map_err(fs_err("cannot create", &d))?;
        }
        let true_bytes = std::fs::read(TRUE).map_err(fs_err("cannot read", Path::new(TRUE)))?;
        let tools: BTreeMap<_, _> = TOOLS
            .into_iter()
            .filter_map(|t| find_on_path(t).map(|p| (t, p)))
            .collect();
        let mut server_links = BTreeMap::new();
        if let Some(h) = helper {
            for name in SERVER_NAMES {
                let link = tmp.join(name);
                std::os::unix::fs::symlink(h, &link).map_err(fs_err("cannot create", &link))?;
                server_links.insert(name, link);
            }
        }
        let utility_link = match tools.get("bash") {
            Some(bash) => {
                let link = tmp.join(UTILITY_NAME);
                std::os::unix::fs::symlink(bash, &link).map_err(fs_err("cannot create", &link))?;
                Some(link)
            }
            None => None,
        };
        // SAFETY: geteuid has no preconditions.
        let root = unsafe { libc::geteuid() } == 0;
        let shm_true = {
            use std::os::unix::fs::PermissionsExt;
            let p = PathBuf::from(format!("/dev/shm/kestrel-loadgen-{pid}-true"));
            let ok = Path::new("/dev/shm").is_dir()
                && std::fs::write(&p, &true_bytes).is_ok()
                && std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).is_ok();
            if ok {
                Some(p)
            } else {
                // A half-written copy must not stay behind.
                if p.exists() && std::fs::remove_file(&p).is_err() {
                    eprintln!("kestrel-loadgen: warning: cannot remove {}", p.display());
                }
                None
            }
        };
        let bin_dir = std::fs::canonicalize(TRUE)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf));
        let scp_src = tmp.join("scp-src");
        std::fs::write(&scp_src, b"kestrel-loadgen\n")
            .map_err(fs_err("cannot create", &scp_src))?;
        let devnull = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(fs_err("cannot open", Path::new("/dev/null")))?;
        let sandbox_dirs = SandboxDir::ALL
            .into_iter()
            .filter_map(|d| d.resolve().map(|p| (d, p)))
            .collect();
        let module = if root {
            sim::pick_module()
        } else {
            Err("needs root".to_string())
        };
        let route = std::net::UdpSocket::bind("0.0.0.0:0")
            .and_then(|u| u.connect(SHELL_UDP_ADDR))
            .map_err(|e| format!("no route to {SHELL_UDP_ADDR}: {e}"));
        // Last: nothing after this may fail, or the cgroup would be left
        // behind.
        let container = root.then(|| sim::ContainerSim::create(pid));
        let mut env = TriggerEnv {
            tmp: tmp.to_path_buf(),
            pid,
            root,
            tools,
            server_links,
            utility_link,
            true_bytes,
            shm_true,
            bin_dir,
            scp_src,
            devnull,
            threads: threads.max(1),
            skip: Vec::new(),
            container,
            sandbox_dirs,
            module,
            route,
            module_lock: Mutex::new(()),
        };
        env.skip = ACTIONS.iter().map(|a| env.skip_reason(a)).collect();
        Ok(env)
    }

    fn skip_reason(&self, a: &Action) -> Option<String> {
        if a.needs.root && !self.root {
            return Some("needs root".into());
        }
        // Before the tools: no module support at all says more than a
        // missing modprobe.
        if a.needs.module {
            if let Err(e) = &self.module {
                return Some(e.clone());
            }
        }
        if let Some(t) = a.needs.tools.iter().find(|t| !self.tools.contains_key(*t)) {
            return Some(format!("{t} not found on PATH"));
        }
        if a.needs.helper && self.server_links.is_empty() {
            return Some("own executable unknown".into());
        }
        if a.needs.shm && self.shm_true.is_none() {
            return Some("cannot place a program in /dev/shm".into());
        }
        if a.needs.container {
            match &self.container {
                Some(Ok(_)) => {}
                Some(Err(e)) => return Some(format!("no simulated container: {e}")),
                None => return Some("needs root".into()),
            }
        }
        if let Some(d) = a.needs.sandbox {
            if !self.sandbox_dirs.contains_key(&d) {
                return Some(format!("no directory {} to mount over", d.path_text()));
            }
        }
        if a.needs.route {
            if let Err(e) = &self.route {
                return Some(e.clone());
            }
        }
        if a.name == "container_host_mount" && std::env::var_os(IMAGE_ENV).is_none() {
            return Some(format!(
                "set {IMAGE_ENV} to a local image that has `true` (docker run; no registry is asked)"
            ));
        }
        if a.name == "write_below_binary_dir" && self.bin_dir.is_none() {
            return Some(format!("cannot resolve the directory of {TRUE}"));
        }
        None
    }

    /// Why each action of [`ACTIONS`] is skipped (`None`: it runs).
    pub fn skipped(&self) -> &[Option<String>] {
        &self.skip
    }

    /// The simulated container's cgroup directory and id, when there is
    /// one.
    pub fn container(&self) -> Option<(&Path, &str)> {
        match &self.container {
            Some(Ok(c)) => Some((c.path(), c.id())),
            _ => None,
        }
    }

    /// Number of actions that can run here: one pass over the table.
    pub fn runnable(&self) -> usize {
        self.skip.iter().filter(|s| s.is_none()).count()
    }

    /// Removes what [`TriggerEnv::prepare`] created outside the temporary
    /// directory, and anything an action could not remove; returns
    /// warnings.
    pub fn cleanup(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(Ok(c)) = &self.container {
            w.extend(c.remove());
        }
        if let Some(p) = &self.shm_true {
            if let Err(e) = std::fs::remove_file(p) {
                w.push(format!("cannot remove {}: {e}", p.display()));
            }
        }
        let prefix = format!(".kestrel-loadgen-{}-", self.pid);
        let dirs = [
            Some(PathBuf::from("/etc")),
            Some(PathBuf::from("/dev")),
            self.bin_dir.clone(),
        ];
        for d in dirs.into_iter().flatten() {
            let Ok(rd) = std::fs::read_dir(&d) else {
                continue;
            };
            for e in rd.flatten() {
                if e.file_name().to_string_lossy().starts_with(&prefix) {
                    let p = e.path();
                    match std::fs::remove_file(&p) {
                        Ok(()) => w.push(format!("removed leftover {}", p.display())),
                        Err(err) => {
                            w.push(format!("cannot remove leftover {}: {err}", p.display()))
                        }
                    }
                }
            }
        }
        w
    }
}

/// Counts for one action.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ActionCount {
    /// Completed.
    pub done: u64,
    /// Refused by the kernel (the attempt still produces events).
    pub denied: u64,
    /// Failed otherwise.
    pub failed: u64,
    /// The last refusal or failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// Per-action counts of one thread (or merged).
#[derive(Debug, Clone, Default)]
pub struct TriggerStats {
    /// Indexed like [`ACTIONS`].
    pub counts: Vec<ActionCount>,
}

impl TriggerStats {
    fn new() -> TriggerStats {
        TriggerStats {
            counts: vec![ActionCount::default(); ACTIONS.len()],
        }
    }

    /// Adds `o` into `self`.
    pub fn merge(&mut self, o: &TriggerStats) {
        if self.counts.len() < o.counts.len() {
            self.counts.resize(o.counts.len(), ActionCount::default());
        }
        for (a, b) in self.counts.iter_mut().zip(&o.counts) {
            a.done += b.done;
            a.denied += b.denied;
            a.failed += b.failed;
            if b.last_error.is_some() {
                a.last_error.clone_from(&b.last_error);
            }
        }
    }
}

/// One row of the trigger report.
#[derive(Debug, Clone, Serialize)]
pub struct ActionReport {
    /// Action name.
    pub action: &'static str,
    /// Rules it should fire.
    pub rules: &'static [&'static str],
    /// Why it did not run at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// Counts.
    #[serde(flatten)]
    pub count: ActionCount,
}

/// The report rows for merged stats.
pub fn report(env: &TriggerEnv, stats: &TriggerStats) -> Vec<ActionReport> {
    ACTIONS
        .iter()
        .enumerate()
        .map(|(i, a)| ActionReport {
            action: a.name,
            rules: a.rules,
            skipped: env.skip.get(i).cloned().flatten(),
            count: stats.counts.get(i).cloned().unwrap_or_default(),
        })
        .collect()
}

/// What an action runs with.
pub struct Ctx<'a> {
    env: &'a TriggerEnv,
    l: &'a mut Ledger,
    spawner: &'a mut Spawner,
    thread: usize,
    seq: u64,
}

impl Ctx<'_> {
    /// `tmp/t<thread>/<name>`: fixed names the rules look for.
    fn own(&self, name: &str) -> CString {
        cpath(&self.env.tmp.join(format!("t{}", self.thread)).join(name))
    }

    /// A name unique to this thread and operation.
    fn unique(&self, stem: &str) -> String {
        format!("{stem}-{}-{}", self.thread, self.seq)
    }

    /// A path below a system directory, with the prefix cleanup looks for.
    fn system(&self, dir: &Path) -> CString {
        cpath(&dir.join(format!(
            ".kestrel-loadgen-{}-{}",
            self.env.pid,
            self.unique("f")
        )))
    }

    fn create(&mut self, p: &CStr, extra: c_int) -> ActResult {
        let fd = sys::openat(
            self.l,
            p,
            libc::O_WRONLY | libc::O_CREAT | libc::O_CLOEXEC | extra,
            0o600,
        )
        .map_err(|e| ActError::Sys("openat", e))?;
        sys::close(self.l, fd).map_err(|e| ActError::Sys("close", e))
    }

    fn remove(&mut self, p: &CStr) -> ActResult {
        sys::unlinkat(self.l, p, 0).map_err(|e| ActError::Sys("unlinkat", e))
    }

    /// Creates and removes `p`; the removal happens even if creating
    /// failed half-way.
    fn create_remove(&mut self, p: &CStr, extra: c_int) -> ActResult {
        let r = self.create(p, extra);
        if r.is_ok() {
            self.remove(p)?;
        }
        r
    }

    fn tool(&self, name: &str) -> Result<&str, ActError> {
        self.env
            .tools
            .get(name)
            .and_then(|p| p.to_str())
            .ok_or_else(|| ActError::Other(format!("{name} not found")))
    }

    /// Runs a program; succeeds when it could be exec'd, whatever its
    /// exit status.
    fn spawn(&mut self, prog: Program) -> Result<ExitStatus, ActError> {
        use std::os::fd::AsRawFd;
        let prog = prog.with_stdio(self.env.devnull.as_raw_fd());
        let out = self
            .spawner
            .run(self.l, &prog)
            .map_err(|e| ActError::Sys("clone", e))?;
        if let Some(e) = out.cgroup_error {
            return Err(ActError::Sys("write cgroup.procs", e));
        }
        match out.exec_error {
            Some(e) => Err(ActError::Sys("execve", e)),
            None => Ok(out.status),
        }
    }

    fn spawn_args(&mut self, path: &str, argv: &[&str]) -> Result<ExitStatus, ActError> {
        let prog = Program::new(path, argv).map_err(|e| ActError::Other(e.to_string()))?;
        self.spawn(prog)
    }

    /// Runs `f` in a fork-style child that reports an errno as its exit
    /// code.
    fn fork_errno(
        &mut self,
        f: extern "C" fn(*mut c_void) -> c_int,
        step: &'static str,
    ) -> ActResult {
        // SAFETY: every child function below issues raw syscalls only.
        let (_, st) = unsafe { self.spawner.fork_run(self.l, f, std::ptr::null_mut()) }
            .map_err(|e| ActError::Sys("clone", e))?;
        match st {
            ExitStatus::Code(0) => Ok(()),
            ExitStatus::Code(e) => Err(ActError::Sys(step, Errno(e))),
            ExitStatus::Signal(s) => Err(ActError::Other(format!(
                "{step} child killed by signal {s}"
            ))),
        }
    }
}

// ---- child functions: raw syscalls only, exit code = errno (0: success)

fn child_exit(r: c_long) -> ! {
    // SAFETY: reading errno and _exit are async-signal-safe.
    unsafe {
        if r < 0 {
            libc::_exit(*libc::__errno_location())
        }
        libc::_exit(0)
    }
}

const TRAVERSAL_PATH: &CStr = c"/etc/../etc/../etc/passwd";

extern "C" fn child_traversal(_: *mut c_void) -> c_int {
    // SAFETY: raw syscalls with valid arguments.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as c_long,
            TRAVERSAL_PATH.as_ptr(),
            (libc::O_RDONLY | libc::O_CLOEXEC) as c_long,
            0 as c_long,
        );
        if fd >= 0 {
            libc::syscall(libc::SYS_close, fd);
        }
        child_exit(fd)
    }
}

extern "C" fn child_unshare(_: *mut c_void) -> c_int {
    // SAFETY: raw syscall; the namespace dies with this child.
    child_exit(unsafe { libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER as c_long) })
}

extern "C" fn child_setns(_: *mut c_void) -> c_int {
    // SAFETY: raw syscalls with valid arguments; joining our own namespace
    // changes nothing, and the child exits right away.
    unsafe {
        let fd = libc::syscall(
            libc::SYS_openat,
            libc::AT_FDCWD as c_long,
            c"/proc/self/ns/uts".as_ptr(),
            (libc::O_RDONLY | libc::O_CLOEXEC) as c_long,
            0 as c_long,
        );
        if fd < 0 {
            child_exit(fd)
        }
        child_exit(libc::syscall(
            libc::SYS_setns,
            fd,
            libc::CLONE_NEWUTS as c_long,
        ))
    }
}

extern "C" fn child_traceme(_: *mut c_void) -> c_int {
    // SAFETY: raw syscall; the child exits right away.
    child_exit(unsafe {
        libc::syscall(
            libc::SYS_ptrace,
            libc::PTRACE_TRACEME as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        )
    })
}

extern "C" fn child_setuid(_: *mut c_void) -> c_int {
    // SAFETY: raw syscalls; setting the uid it already has.
    unsafe {
        let uid = libc::syscall(libc::SYS_getuid);
        child_exit(libc::syscall(libc::SYS_setuid, uid))
    }
}

extern "C" fn child_pause(_: *mut c_void) -> c_int {
    loop {
        // SAFETY: pause has no arguments; the parent kills us.
        unsafe { libc::syscall(libc::SYS_pause) };
    }
}

// ---- actions

fn read_sensitive_file(c: &mut Ctx<'_>) -> ActResult {
    let fd = sys::openat(c.l, c"/etc/shadow", libc::O_RDONLY | libc::O_CLOEXEC, 0)
        .map_err(|e| ActError::Sys("openat /etc/shadow", e))?;
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))
}

fn directory_traversal_read(c: &mut Ctx<'_>) -> ActResult {
    // In a child so the parent process is kestrel-loadgen, not the shell
    // that started it (the rule ignores shells' children).
    c.fork_errno(child_traversal, "openat /etc/../etc/../etc/passwd")
}

fn symlink_over_sensitive_file(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own(&c.unique("shadow-link"));
    sys::symlinkat(c.l, c"/etc/shadow", &p).map_err(|e| ActError::Sys("symlinkat", e))?;
    c.remove(&p)
}

fn hardlink_over_sensitive_file(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own(&c.unique("shadow-hardlink"));
    sys::linkat(c.l, c"/etc/shadow", &p).map_err(|e| ActError::Sys("linkat", e))?;
    c.remove(&p)
}

fn setuid_bit(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own(&c.unique("suid"));
    c.create(&p, libc::O_EXCL)?;
    let r = sys::fchmodat(c.l, &p, 0o4755).map_err(|e| ActError::Sys("fchmodat", e));
    c.remove(&p)?;
    r
}

fn unshare_user_namespace(c: &mut Ctx<'_>) -> ActResult {
    c.fork_errno(child_unshare, "unshare(CLONE_NEWUSER)")
}

fn setns_own_namespace(c: &mut Ctx<'_>) -> ActResult {
    c.fork_errno(child_setns, "setns")
}

/// This program re-executed under `name` (a symlink named so) as the
/// spawn helper, running `args` (the helper's options, then the program
/// and its arguments).
fn helper_program(c: &Ctx<'_>, name: &str, args: &[&str]) -> Result<Program, ActError> {
    let link = c
        .env
        .server_links
        .get(name)
        .and_then(|p| p.to_str())
        .ok_or_else(|| ActError::Other("own executable unknown".into()))?;
    let mut full = vec![name, crate::cli::SPAWN_HELPER];
    full.extend_from_slice(args);
    Program::new(link, &full).map_err(|e| ActError::Other(e.to_string()))
}

/// Runs the helper program and requires it to exit 0.
fn run_helper(c: &mut Ctx<'_>, name: &str, prog: Program) -> ActResult {
    match c.spawn(prog)? {
        ExitStatus::Code(0) => Ok(()),
        st => Err(ActError::Other(format!("{name} helper ended with {st}"))),
    }
}

fn server_spawn(c: &mut Ctx<'_>, server: &str, argv: &[&str]) -> ActResult {
    let prog = helper_program(c, server, argv)?;
    run_helper(c, server, prog)
}

fn shell_from_web_server(c: &mut Ctx<'_>) -> ActResult {
    server_spawn(c, "nginx", &["/bin/sh", "-c", "/bin/true; exit 0"])
}

fn db_server_spawns_process(c: &mut Ctx<'_>) -> ActResult {
    server_spawn(c, "mysqld", &[TRUE])
}

fn search_private_keys(c: &mut Ctx<'_>) -> ActResult {
    let find = c.tool("find")?.to_string();
    let tmp = c.env.tmp.to_string_lossy().into_owned();
    c.spawn_args(&find, &["find", &tmp, "-name", "id_rsa"])
        .map(|_| ())
}

fn find_aws_credentials(c: &mut Ctx<'_>) -> ActResult {
    let find = c.tool("find")?.to_string();
    let tmp = c.env.tmp.to_string_lossy().into_owned();
    c.spawn_args(&find, &["find", &tmp, "-path", "*/.aws/credentials"])
        .map(|_| ())
}

fn remove_bulk_data(c: &mut Ctx<'_>) -> ActResult {
    let shred = c.tool("shred")?.to_string();
    let p = c.own(&c.unique("shred-me"));
    c.create(&p, libc::O_EXCL)?;
    let ps = p.to_string_lossy().into_owned();
    let st = c.spawn_args(&shred, &["shred", "-u", &ps]);
    if !matches!(st, Ok(ExitStatus::Code(0))) {
        // shred did not remove it.
        c.remove(&p)?;
    }
    st.map(|_| ())
}

fn clear_log_file(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own("syslog");
    c.create_remove(&p, libc::O_TRUNC)
}

fn delete_shell_history(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own(".bash_history");
    c.create_remove(&p, 0)
}

fn modify_shell_config(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own(".bashrc");
    c.create_remove(&p, 0)
}

fn exec_from_dev_shm(c: &mut Ctx<'_>) -> ActResult {
    let p = c
        .env
        .shm_true
        .as_ref()
        .and_then(|p| p.to_str())
        .ok_or_else(|| ActError::Other("no program in /dev/shm".into()))?
        .to_string();
    c.spawn_args(&p, &["true"]).map(|_| ())
}

fn fileless_memfd_exec(c: &mut Ctx<'_>) -> ActResult {
    let fd = sys::memfd_create(c.l, c"kestrel-loadgen", libc::MFD_CLOEXEC)
        .map_err(|e| ActError::Sys("memfd_create", e))?;
    let r = sys::write_all(c.l, fd, &c.env.true_bytes)
        .map_err(|e| ActError::Sys("write", e))
        .and_then(|()| {
            let prog = Program::new("memfd:kestrel-loadgen", &["true"])
                .map_err(|e| ActError::Other(e.to_string()))?
                .with_exec_fd(fd);
            c.spawn(prog).map(|_| ())
        });
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))?;
    r
}

fn ptrace_attach(c: &mut Ctx<'_>) -> ActResult {
    // SAFETY: the child only calls pause.
    let pid = unsafe { c.spawner.fork_start(c.l, child_pause, std::ptr::null_mut()) }
        .map_err(|e| ActError::Sys("clone", e))?;
    let r = sys::ptrace(c.l, libc::PTRACE_ATTACH as c_int, pid)
        .map_err(|e| ActError::Sys("ptrace(PTRACE_ATTACH)", e));
    // SAFETY: pid is our own child; kill is not a traced event.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    sys::wait_exit(pid).map_err(|e| ActError::Sys("waitpid", e))?;
    r
}

fn ptrace_traceme(c: &mut Ctx<'_>) -> ActResult {
    c.fork_errno(child_traceme, "ptrace(PTRACE_TRACEME)")
}

fn non_sudo_setuid(c: &mut Ctx<'_>) -> ActResult {
    c.fork_errno(child_setuid, "setuid")
}

/// From linux/userfaultfd.h; not in the libc crate.
const UFFD_USER_MODE_ONLY: c_int = 1;

fn userfaultfd(c: &mut Ctx<'_>) -> ActResult {
    let fd = sys::userfaultfd(c.l, libc::O_CLOEXEC | UFFD_USER_MODE_ONLY)
        .map_err(|e| ActError::Sys("userfaultfd", e))?;
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))
}

fn ssh_version(c: &mut Ctx<'_>) -> ActResult {
    let ssh = c.tool("ssh")?.to_string();
    c.spawn_args(&ssh, &["ssh", "-V"]).map(|_| ())
}

fn ssh_nonstandard_port(c: &mut Ctx<'_>) -> ActResult {
    let ssh = c.tool("ssh")?.to_string();
    c.spawn_args(
        &ssh,
        &[
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "ConnectTimeout=1",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-p",
            "2222",
            "kestrel@192.0.2.1",
            "true",
        ],
    )
    .map(|_| ())
}

fn scp_local_copy(c: &mut Ctx<'_>) -> ActResult {
    let scp = c.tool("scp")?.to_string();
    let src = c.env.scp_src.to_string_lossy().into_owned();
    let dst = c.own(&c.unique("scp-copy"));
    let ds = dst.to_string_lossy().into_owned();
    let st = c.spawn_args(&scp, &["scp", "-q", &src, &ds])?;
    if st == ExitStatus::Code(0) {
        c.remove(&dst)?;
    }
    Ok(())
}

fn crontab_list(c: &mut Ctx<'_>) -> ActResult {
    let crontab = c.tool("crontab")?.to_string();
    c.spawn_args(&crontab, &["crontab", "-l"]).map(|_| ())
}

fn write_below_etc(c: &mut Ctx<'_>) -> ActResult {
    let p = c.system(Path::new("/etc"));
    c.create_remove(&p, libc::O_EXCL)
}

fn write_below_binary_dir(c: &mut Ctx<'_>) -> ActResult {
    let dir = c
        .env
        .bin_dir
        .clone()
        .ok_or_else(|| ActError::Other("no binary dir".into()))?;
    let p = c.system(&dir);
    c.create_remove(&p, libc::O_EXCL)
}

fn create_file_below_dev(c: &mut Ctx<'_>) -> ActResult {
    let p = c.system(Path::new("/dev"));
    c.create_remove(&p, libc::O_EXCL)
}

fn packet_socket(c: &mut Ctx<'_>) -> ActResult {
    // Protocol 0: the socket receives nothing until bound, which it never is.
    let fd = sys::socket(c.l, libc::AF_PACKET, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0)
        .map_err(|e| ActError::Sys("socket(AF_PACKET)", e))?;
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))
}

// ---- kestrel's default rules

fn io_uring_ring(c: &mut Ctx<'_>) -> ActResult {
    let fd = sys::io_uring_setup(c.l, 4).map_err(|e| ActError::Sys("io_uring_setup", e))?;
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))
}

/// Runs `steps` in a sandbox child with a tmpfs over `dir`.
fn in_sandbox(
    c: &mut Ctx<'_>,
    dir: SandboxDir,
    steps: impl FnOnce(&Path) -> Vec<Step>,
) -> ActResult {
    let mp = c
        .env
        .sandbox_dirs
        .get(&dir)
        .ok_or_else(|| ActError::Other(format!("no directory {}", dir.path_text())))?
        .clone();
    let mut sb = Sandbox::new(cpath(&mp), steps(&mp));
    // SAFETY: sandbox_child issues raw syscalls only, reports through
    // `sb` (alive until it has exited) and ends with _exit.
    let st = unsafe {
        c.spawner.vfork_run(
            c.l,
            sim::sandbox_child,
            &mut sb as *mut Sandbox as *mut c_void,
        )
    }
    .map_err(|e| ActError::Sys("clone", e))?;
    if let Some((step, e)) = sb.failure() {
        return Err(ActError::Sys(step, Errno(e)));
    }
    match st {
        ExitStatus::Code(0) => Ok(()),
        st => Err(ActError::Other(format!("sandbox child ended with {st}"))),
    }
}

fn root_ssh_key_write(c: &mut Ctx<'_>) -> ActResult {
    in_sandbox(c, SandboxDir::Root, |root| {
        let ssh = root.join(".ssh");
        vec![
            Step::Mkdir(cpath(&ssh), 0o700),
            Step::Create(cpath(&ssh.join("authorized_keys")), 0),
        ]
    })
}

fn binary_write(c: &mut Ctx<'_>, name: &'static str) -> ActResult {
    in_sandbox(c, SandboxDir::BinDir, |dir| {
        vec![Step::Create(cpath(&dir.join(name)), 0)]
    })
}

fn coreutils_binary_write(c: &mut Ctx<'_>) -> ActResult {
    binary_write(c, "ls")
}

fn login_binary_write(c: &mut Ctx<'_>) -> ActResult {
    binary_write(c, "su")
}

fn shadowutils_binary_write(c: &mut Ctx<'_>) -> ActResult {
    binary_write(c, "passwd")
}

/// In a sandbox over /etc: creates /etc/shadow (the tmpfs one), then
/// `then` on it.
fn on_private_shadow(c: &mut Ctx<'_>, then: impl FnOnce(&Path) -> Step) -> ActResult {
    in_sandbox(c, SandboxDir::Etc, |etc| {
        let shadow = etc.join("shadow");
        let next = then(&shadow);
        vec![Step::Create(cpath(&shadow), 0), next]
    })
}

fn shadow_hardlink_private_etc(c: &mut Ctx<'_>) -> ActResult {
    on_private_shadow(c, |p| {
        Step::Link(cpath(p), cpath(&p.with_file_name("shadow.lnk")))
    })
}

fn shadow_chmod_private_etc(c: &mut Ctx<'_>) -> ActResult {
    on_private_shadow(c, |p| Step::Chmod(cpath(p), 0o640))
}

fn shadow_chown_private_etc(c: &mut Ctx<'_>) -> ActResult {
    on_private_shadow(c, |p| Step::Chown(cpath(p)))
}

fn truncate_log_private_var_log(c: &mut Ctx<'_>) -> ActResult {
    in_sandbox(c, SandboxDir::VarLog, |log| {
        vec![Step::Create(cpath(&log.join("syslog")), libc::O_TRUNC)]
    })
}

/// A `sockaddr_in` for 127.0.0.1:`port`, built without allocating.
fn loopback_v4(port: u16) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: port.to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from_ne_bytes([127, 0, 0, 1]),
        },
        sin_zero: [0; 8],
    }
}

extern "C" fn child_socket_to_stdin(_: *mut c_void) -> c_int {
    // SAFETY: raw syscalls with valid arguments; replacing fd 0 of this
    // child (its own copy of the table) affects nobody else.
    unsafe {
        let s = libc::syscall(
            libc::SYS_socket,
            libc::AF_INET as c_long,
            (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as c_long,
            0 as c_long,
        );
        if s < 0 {
            child_exit(s)
        }
        // UDP: connect only sets the peer, nothing is sent.
        let sa = loopback_v4(9);
        let r = libc::syscall(
            libc::SYS_connect,
            s,
            &sa as *const libc::sockaddr_in,
            std::mem::size_of::<libc::sockaddr_in>() as c_long,
        );
        if r < 0 {
            child_exit(r)
        }
        child_exit(libc::syscall(libc::SYS_dup3, s, 0 as c_long, 0 as c_long))
    }
}

fn socket_dup_to_stdin(c: &mut Ctx<'_>) -> ActResult {
    c.fork_errno(child_socket_to_stdin, "socket/connect/dup3")
}

/// TEST-NET-2 (RFC 5737), discard port: a UDP connect to it needs a route
/// but sends nothing.
const SHELL_UDP_ADDR: &str = "198.51.100.1:9";
/// The same address as bash's network redirection names it.
const SHELL_UDP_TARGET: &str = "/dev/udp/198.51.100.1/9";

fn shell_udp_connect(c: &mut Ctx<'_>) -> ActResult {
    let bash = c.tool("bash")?.to_string();
    let script = format!("exec 3<>{SHELL_UDP_TARGET}");
    match c.spawn_args(&bash, &["bash", "-c", &script])? {
        ExitStatus::Code(0) => Ok(()),
        st => Err(ActError::Other(format!(
            "bash could not open {SHELL_UDP_TARGET} ({st}): bash built without network redirections?"
        ))),
    }
}

fn utility_udp_connect(c: &mut Ctx<'_>) -> ActResult {
    let link = c
        .env
        .utility_link
        .as_ref()
        .and_then(|p| p.to_str())
        .ok_or_else(|| ActError::Other("bash not found on PATH".into()))?
        .to_string();
    let script = format!("exec 3<>{SHELL_UDP_TARGET}");
    match c.spawn_args(&link, &[UTILITY_NAME, "-c", &script])? {
        ExitStatus::Code(0) => Ok(()),
        st => Err(ActError::Other(format!(
            "bash as {UTILITY_NAME} could not open {SHELL_UDP_TARGET} ({st})"
        ))),
    }
}

fn setuid_create(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own(&c.unique("suid-create"));
    let fd = sys::openat(
        c.l,
        &p,
        libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC,
        0o4755,
    )
    .map_err(|e| ActError::Sys("openat", e))?;
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))?;
    c.remove(&p)
}

fn release_agent_write(c: &mut Ctx<'_>) -> ActResult {
    let p = c.own("release_agent");
    c.create_remove(&p, 0)
}

fn suspicious_port_connect(c: &mut Ctx<'_>) -> ActResult {
    let fd = sys::socket(c.l, libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0)
        .map_err(|e| ActError::Sys("socket", e))?;
    let addr = SockAddr::from_std(std::net::SocketAddr::from(([127, 0, 0, 1], 4444)));
    let r = sys::connect(c.l, fd, &addr).map_err(|e| ActError::Sys("connect 127.0.0.1:4444", e));
    sys::close(c.l, fd).map_err(|e| ActError::Sys("close", e))?;
    r
}

fn kernel_module_load(c: &mut Ctx<'_>) -> ActResult {
    let m = *c
        .env
        .module
        .as_ref()
        .map_err(|e| ActError::Other(e.clone()))?;
    let modprobe = c.tool("modprobe")?.to_string();
    let _held = c.env.module_lock.lock().unwrap_or_else(|p| p.into_inner());
    if sim::module_present(m) {
        // Loaded by someone else since the start: theirs, leave it alone.
        return Err(ActError::Other(format!(
            "module {m} is loaded already; not touching it"
        )));
    }
    match c.spawn_args(&modprobe, &["modprobe", m])? {
        ExitStatus::Code(0) => {}
        st => return Err(ActError::Other(format!("modprobe {m} ended with {st}"))),
    }
    match c.spawn_args(&modprobe, &["modprobe", "-r", m])? {
        ExitStatus::Code(0) => Ok(()),
        st => Err(ActError::Other(format!(
            "modprobe -r {m} ended with {st}: the module is still loaded"
        ))),
    }
}

/// The simulated container's `cgroup.procs`, for [`Program::with_cgroup`].
fn container_procs(c: &Ctx<'_>) -> Result<std::os::fd::RawFd, ActError> {
    match &c.env.container {
        Some(Ok(sim)) => Ok(sim.procs_fd()),
        _ => Err(ActError::Other("no simulated container".into())),
    }
}

/// Runs `path argv` in the simulated container.
fn in_container(c: &mut Ctx<'_>, path: &str, argv: &[&str]) -> ActResult {
    let fd = container_procs(c)?;
    let prog = Program::new(path, argv)
        .map_err(|e| ActError::Other(e.to_string()))?
        .with_cgroup(fd);
    c.spawn(prog).map(|_| ())
}

fn container_escalation_tool(c: &mut Ctx<'_>) -> ActResult {
    let nsenter = c.tool("nsenter")?.to_string();
    in_container(c, &nsenter, &["nsenter", "--version"])
}

fn container_shell(c: &mut Ctx<'_>) -> ActResult {
    in_container(c, "/bin/sh", &["sh", "-c", "exit 0"])
}

/// The helper, named `runc`, in the simulated container, running `argv`
/// with the terminal mode `tty` (the helper's `--tty` / `--no-tty`).
fn runtime_exec(c: &mut Ctx<'_>, tty: &str, argv: &[&str]) -> ActResult {
    let mut args = vec![tty];
    args.extend_from_slice(argv);
    let prog = helper_program(c, "runc", &args)?.with_cgroup(container_procs(c)?);
    run_helper(c, "runc", prog)
}

fn container_terminal_shell(c: &mut Ctx<'_>) -> ActResult {
    runtime_exec(c, crate::cli::HELPER_TTY, &["/bin/sh", "-c", "exit 0"])
}

fn container_exec_session(c: &mut Ctx<'_>) -> ActResult {
    runtime_exec(c, crate::cli::HELPER_NO_TTY, &[TRUE])
}

/// A real container with the host's /etc mounted read-only, through the
/// docker CLI; the daemon needs the runtime's metadata to see the mount.
fn container_host_mount(c: &mut Ctx<'_>) -> ActResult {
    let docker = c.tool("docker")?.to_string();
    let image =
        std::env::var(IMAGE_ENV).map_err(|_| ActError::Other(format!("{IMAGE_ENV} is not set")))?;
    let argv = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "--pull",
        "never",
        "-v",
        "/etc:/kestrel-host-etc:ro",
        image.as_str(),
        "true",
    ];
    match c.spawn_args(&docker, &argv)? {
        ExitStatus::Code(0) => Ok(()),
        st => Err(ActError::Other(format!("docker run ended with {st}"))),
    }
}

fn container_process(c: &mut Ctx<'_>) -> ActResult {
    in_container(c, TRUE, &["true"])
}

/// Whether an errno means "the kernel refused" rather than "broken".
fn is_denial(e: Errno) -> bool {
    matches!(
        e.0,
        libc::EACCES | libc::EPERM | libc::EXDEV | libc::EROFS | libc::EINVAL | libc::ENOSYS
    )
}

/// Where thread `thread` of `threads` starts in a table of `n` actions:
/// right after the share of the threads before it, shares split like the
/// runner splits `--ops` (the first `n % threads` threads take one more),
/// so one pass runs each action exactly once.
fn start_position(thread: usize, threads: usize, n: usize) -> usize {
    if n == 0 {
        return 0;
    }
    let t = threads.max(1);
    (thread * (n / t) + thread.min(n % t)) % n
}

/// The trigger scenario's workload: the runnable actions in turn.
#[derive(Debug)]
pub struct TriggerWorkload {
    env: Arc<TriggerEnv>,
    spawner: Spawner,
    runnable: Vec<usize>,
    thread: usize,
    pos: usize,
    seq: u64,
    stats: TriggerStats,
}

impl TriggerWorkload {
    /// Thread `thread`'s workload. Threads start evenly spread over the
    /// table, so `--ops <runnable actions>` runs each action once whatever
    /// the thread count.
    pub fn new(env: Arc<TriggerEnv>, thread: usize) -> TriggerWorkload {
        let runnable: Vec<usize> = (0..ACTIONS.len())
            .filter(|&i| env.skip.get(i).is_none_or(|s| s.is_none()))
            .collect();
        let pos = start_position(thread, env.threads, runnable.len());
        TriggerWorkload {
            env,
            spawner: Spawner::new(),
            runnable,
            thread,
            pos,
            seq: 0,
            stats: TriggerStats::new(),
        }
    }
}

impl Workload for TriggerWorkload {
    fn op(&mut self, l: &mut Ledger) -> Result<(), OpError> {
        let Some(&i) = self.runnable.get(self.pos) else {
            return Err(OpError("no trigger action can run here".into()));
        };
        self.pos = (self.pos + 1) % self.runnable.len();
        self.seq += 1;
        let a = &ACTIONS[i];
        let mut ctx = Ctx {
            env: &self.env,
            l,
            spawner: &mut self.spawner,
            thread: self.thread,
            seq: self.seq,
        };
        let r = (a.run)(&mut ctx);
        let count = &mut self.stats.counts[i];
        match r {
            Ok(()) => {
                count.done += 1;
                Ok(())
            }
            Err(ActError::Sys(step, e)) if is_denial(e) => {
                count.denied += 1;
                count.last_error = Some(format!("{step}: {e}"));
                Ok(())
            }
            Err(err) => {
                let msg = match err {
                    ActError::Sys(step, e) => format!("{step}: {e}"),
                    ActError::Other(m) => m,
                };
                count.failed += 1;
                count.last_error = Some(msg.clone());
                Err(OpError(format!("trigger {}: {msg}", a.name)))
            }
        }
    }

    fn trigger_stats(&mut self) -> Option<TriggerStats> {
        Some(std::mem::replace(&mut self.stats, TriggerStats::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_are_unique_and_documented() {
        let mut names: Vec<_> = ACTIONS.iter().map(|a| a.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ACTIONS.len());
        for a in ACTIONS {
            assert!(!a.rules.is_empty(), "{} names no rule", a.name);
            assert!(!a.what.is_empty());
        }
    }

    #[test]
    fn one_pass_covers_each_action_once() {
        for threads in 1..6 {
            for n in 1..50 {
                let mut seen = vec![0; n];
                for t in 0..threads {
                    // The runner's budget for thread t.
                    let budget = n / threads + usize::from(t < n % threads);
                    let start = start_position(t, threads, n);
                    for k in 0..budget {
                        seen[(start + k) % n] += 1;
                    }
                }
                assert!(
                    seen.iter().all(|&c| c == 1),
                    "{threads} threads, {n}: {seen:?}"
                );
            }
        }
    }

    #[test]
    fn denials_are_told_apart_from_failures() {
        assert!(is_denial(Errno(libc::EACCES)));
        assert!(is_denial(Errno(libc::EPERM)));
        assert!(!is_denial(Errno(libc::ENOENT)));
        assert!(!is_denial(Errno(libc::EBADF)));
    }
}
