//! kestrel's default rules through the engine, without root: for every
//! rule in rules/kestrel_rules.yaml, events that must raise it (one per
//! branch of its condition) and near misses that must raise nothing,
//! replayed with `kestrel replay --json -r rules/kestrel_rules.yaml` from a
//! JSON-lines file (keys are Falco field names). The default
//! `rule_matching: first` is kept, so each firing event also shows that no
//! earlier rule in the file takes it.
//!
//! Every event carries a unique `proc.cmdline` (every rule prints it), so
//! each alert maps back to the event that raised it.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::{json, Value};

/// One firing event: the rule and priority it must raise, the event, and
/// output fields the alert must carry with these values.
struct Fire {
    rule: &'static str,
    priority: &'static str,
    event: Value,
    fields: Vec<(&'static str, Value)>,
}

/// A host process event base.
fn host(evt_type: &str, proc_name: &str) -> Value {
    json!({
        "evt.type": evt_type,
        "proc.name": proc_name,
        "proc.pname": "bash",
        "user.name": "root",
        "user.uid": 0,
        "container.id": "host",
    })
}

fn with(mut base: Value, extra: Value) -> Value {
    let m = base.as_object_mut().expect("object");
    for (k, v) in extra.as_object().expect("object") {
        m.insert(k.clone(), v.clone());
    }
    base
}

fn open_read(proc_name: &str, path: &str) -> Value {
    let (dir, file) = path.rsplit_once('/').expect("absolute path");
    with(
        host("openat", proc_name),
        json!({
            "evt.res": "SUCCESS", "evt.rawres": 3, "fd.num": 3, "fd.typechar": "f", "fd.type": "file",
            "evt.is_open_read": true, "evt.is_open_write": false, "evt.arg.flags": "O_RDONLY",
            "fd.name": path, "fd.directory": if dir.is_empty() { "/" } else { dir }, "fd.filename": file,
        }),
    )
}

fn open_write(proc_name: &str, path: &str, flags: &str) -> Value {
    let (dir, file) = path.rsplit_once('/').expect("absolute path");
    with(
        host("openat", proc_name),
        json!({
            "evt.res": "SUCCESS", "evt.rawres": 3, "fd.num": 3, "fd.typechar": "f", "fd.type": "file",
            "evt.is_open_read": false, "evt.is_open_write": true, "evt.arg.flags": flags,
            "fd.name": path, "fd.directory": if dir.is_empty() { "/" } else { dir }, "fd.filename": file,
        }),
    )
}

fn exec(proc_name: &str, pname: &str, container: &str) -> Value {
    json!({
        "evt.type": "execve", "evt.res": "SUCCESS", "evt.rawres": 0,
        "proc.name": proc_name, "proc.pname": pname, "proc.exepath": format!("/usr/bin/{proc_name}"),
        "user.name": "root", "user.uid": 0, "container.id": container,
        "thread.cap_effective": "CAP_CHOWN CAP_DAC_OVERRIDE CAP_NET_RAW",
    })
}

fn connect(proc_name: &str, sip: &str, sport: u16, res: &str) -> Value {
    with(
        host("connect", proc_name),
        json!({
            "evt.res": res, "fd.typechar": "4", "fd.type": "ipv4",
            "fd.cip": "10.0.0.5", "fd.cport": 40000, "fd.sip": sip, "fd.snet": sip, "fd.sport": sport,
            "fd.name": format!("10.0.0.5:40000->{sip}:{sport}"),
        }),
    )
}

const CONTAINER: &str = "0123456789ab";

fn fires() -> Vec<Fire> {
    let f = |rule, priority, event, fields| Fire {
        rule,
        priority,
        event,
        fields,
    };
    vec![
        f(
            "Privilege Escalation Tool in Privileged Container",
            "Critical",
            with(
                exec("nsenter", "runc", CONTAINER),
                json!({"thread.cap_effective": "CAP_CHOWN CAP_SYS_ADMIN"}),
            ),
            vec![
                ("proc.name", json!("nsenter")),
                ("container.id", json!(CONTAINER)),
            ],
        ),
        f(
            "Privilege Escalation Tool in Privileged Container",
            "Critical",
            with(
                exec("unshare", "bash", CONTAINER),
                json!({"container.privileged": true}),
            ),
            vec![("proc.name", json!("unshare"))],
        ),
        f(
            "Container Started with Sensitive Host Mount",
            "Warning",
            with(
                exec("sh", "containerd-shim", CONTAINER),
                json!({"proc.vpid": 1, "container.mounts": "/etc:/host-etc:ro:false:rprivate",
                       "container.mount.dest[^/(etc|root|proc|sys|boot|dev|lib/modules)(/|$)]": "/host-etc"}),
            ),
            vec![(
                "container.mounts",
                json!("/etc:/host-etc:ro:false:rprivate"),
            )],
        ),
        f(
            "Container Started with Sensitive Host Mount",
            "Warning",
            with(
                exec("dockerd", "containerd-shim", CONTAINER),
                json!({"proc.vpid": 1, "container.mounts": "/var/run/docker.sock:/var/run/docker.sock::true:rprivate",
                       "container.mount.dest[^(/var)?/run/(docker|containerd/containerd|crio/crio|podman/podman)[.]sock$]": "/var/run/docker.sock"}),
            ),
            vec![("proc.name", json!("dockerd"))],
        ),
        f(
            "Namespace Change via setns",
            "Notice",
            with(
                host("setns", "nsenter"),
                json!({"evt.res": "SUCCESS", "evt.arg.nstype": "CLONE_NEWNET", "fd.name": "/proc/1/ns/net"}),
            ),
            vec![("evt.arg.nstype", json!("CLONE_NEWNET"))],
        ),
        f(
            "Namespace Change via unshare",
            "Notice",
            with(
                host("unshare", "unshare"),
                json!({"evt.res": "SUCCESS", "evt.arg.flags": "CLONE_NEWNS|CLONE_NEWUSER"}),
            ),
            vec![("evt.arg.flags", json!("CLONE_NEWNS|CLONE_NEWUSER"))],
        ),
        f(
            "Read Sensitive File",
            "Warning",
            open_read("cat", "/etc/shadow"),
            vec![
                ("fd.name", json!("/etc/shadow")),
                ("proc.name", json!("cat")),
                ("container.id", json!("host")),
            ],
        ),
        f(
            "Read Sensitive File",
            "Warning",
            open_read("python3", "/etc/sudoers.d/90-cloud"),
            vec![("fd.name", json!("/etc/sudoers.d/90-cloud"))],
        ),
        // The ssh client's own-keys exception covers /root/.ssh only.
        f(
            "Read Sensitive File",
            "Warning",
            open_read("ssh", "/etc/shadow"),
            vec![("proc.name", json!("ssh"))],
        ),
        f(
            "Read Sensitive File",
            "Warning",
            open_read("cat", "/root/.ssh/id_ed25519"),
            vec![("fd.name", json!("/root/.ssh/id_ed25519"))],
        ),
        f(
            "Write to Root SSH Directory",
            "Error",
            open_write(
                "bash",
                "/root/.ssh/authorized_keys",
                "O_WRONLY|O_CREAT|O_APPEND",
            ),
            vec![("fd.name", json!("/root/.ssh/authorized_keys"))],
        ),
        f(
            "Coreutils Binary Tampering",
            "Critical",
            open_write("cp", "/usr/bin/ls", "O_WRONLY|O_TRUNC"),
            vec![
                ("fd.name", json!("/usr/bin/ls")),
                ("evt.type", json!("openat")),
            ],
        ),
        f(
            "Coreutils Binary Tampering",
            "Critical",
            with(
                host("unlinkat", "rm"),
                json!({"evt.res": "SUCCESS", "evt.arg.name": "/usr/bin/ps", "evt.arg.dirfd": -100}),
            ),
            vec![("evt.type", json!("unlinkat"))],
        ),
        f(
            "Coreutils Binary Tampering",
            "Critical",
            with(
                host("rename", "mv"),
                json!({"evt.res": "SUCCESS", "evt.arg.oldpath": "/bin/cat", "evt.arg.newpath": "/tmp/cat"}),
            ),
            vec![("evt.type", json!("rename"))],
        ),
        f(
            "Login Binary Tampering",
            "Critical",
            open_write("cp", "/usr/sbin/sshd", "O_WRONLY|O_TRUNC"),
            vec![("fd.name", json!("/usr/sbin/sshd"))],
        ),
        f(
            "Shadow Utils Binary Tampering",
            "Critical",
            open_write("cp", "/usr/sbin/useradd", "O_WRONLY|O_TRUNC"),
            vec![("fd.name", json!("/usr/sbin/useradd"))],
        ),
        f(
            "Write Below Binary Dir",
            "Error",
            open_write("cp", "/usr/local/bin/kestrel-tool", "O_WRONLY|O_CREAT"),
            vec![("fd.name", json!("/usr/local/bin/kestrel-tool"))],
        ),
        f(
            "Write Below Binary Dir",
            "Error",
            open_write(
                "cp",
                "/usr/lib/x86_64-linux-gnu/libz.so.1",
                "O_WRONLY|O_CREAT",
            ),
            vec![("fd.name", json!("/usr/lib/x86_64-linux-gnu/libz.so.1"))],
        ),
        f(
            "Write Below Etc",
            "Error",
            open_write("vim", "/etc/kestrel.conf", "O_WRONLY|O_CREAT|O_TRUNC"),
            vec![
                ("fd.name", json!("/etc/kestrel.conf")),
                ("proc.name", json!("vim")),
            ],
        ),
        f(
            "Symlink to Sensitive File",
            "Warning",
            with(
                host("symlinkat", "ln"),
                json!({"evt.res": "SUCCESS", "evt.arg.target": "/etc/shadow", "evt.arg.linkpath": "/tmp/s"}),
            ),
            vec![
                ("evt.arg.target", json!("/etc/shadow")),
                ("evt.arg.linkpath", json!("/tmp/s")),
            ],
        ),
        f(
            "Symlink to Sensitive File",
            "Warning",
            with(
                host("symlink", "ln"),
                json!({"evt.res": "SUCCESS", "evt.arg.target": "/root/.ssh/id_ed25519", "evt.arg.linkpath": "/tmp/k"}),
            ),
            vec![("evt.arg.target", json!("/root/.ssh/id_ed25519"))],
        ),
        f(
            "Hardlink to Sensitive File",
            "Warning",
            with(
                host("linkat", "ln"),
                json!({"evt.res": "SUCCESS", "evt.arg.oldpath": "/etc/gshadow", "evt.arg.newpath": "/tmp/g"}),
            ),
            vec![("evt.arg.oldpath", json!("/etc/gshadow"))],
        ),
        f(
            "Set Setuid or Setgid Bit",
            "Notice",
            with(
                host("fchmodat", "chmod"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/tmp/x", "evt.arg.mode": "S_ISUID|S_IRWXU|S_IXGRP"}),
            ),
            vec![("evt.arg.filename", json!("/tmp/x"))],
        ),
        f(
            "Set Setuid or Setgid Bit",
            "Notice",
            with(
                host("fchmod", "python3"),
                json!({"evt.res": "SUCCESS", "fd.name": "/tmp/y", "evt.arg.mode": "S_ISGID|S_IRWXU"}),
            ),
            vec![("fd.name", json!("/tmp/y"))],
        ),
        // fchmodat2 called directly (no libc wrapper routes chmod(1) there).
        f(
            "Set Setuid or Setgid Bit",
            "Notice",
            with(
                host("fchmodat2", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/tmp/z", "evt.arg.mode": "S_ISUID|S_IRWXU",
                       "evt.arg.flags": "AT_SYMLINK_NOFOLLOW"}),
            ),
            vec![("evt.arg.filename", json!("/tmp/z"))],
        ),
        f(
            "Permission Change on Sensitive File",
            "Warning",
            with(
                host("fchmodat2", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/usr/local/bin/tool", "evt.arg.mode": "S_IRWXU|S_IRWXG|S_IRWXO",
                       "evt.arg.flags": ""}),
            ),
            vec![("evt.arg.filename", json!("/usr/local/bin/tool"))],
        ),
        f(
            "Permission Change on Sensitive File",
            "Warning",
            with(
                host("fchmodat", "chmod"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/etc/shadow", "evt.arg.mode": "S_IRUSR|S_IWUSR|S_IRGRP"}),
            ),
            vec![("evt.arg.filename", json!("/etc/shadow"))],
        ),
        f(
            "Permission Change on Sensitive File",
            "Warning",
            with(
                host("chmod", "chmod"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/etc/passwd", "evt.arg.mode": "S_IRUSR|S_IWUSR"}),
            ),
            vec![("evt.arg.filename", json!("/etc/passwd"))],
        ),
        f(
            "Ownership Change on Sensitive File",
            "Warning",
            with(
                host("fchownat", "chown"),
                json!({"evt.res": "SUCCESS", "evt.arg.pathname": "/etc/shadow", "evt.arg.uid": 1000, "evt.arg.gid": 1000}),
            ),
            vec![("evt.arg.pathname", json!("/etc/shadow"))],
        ),
        f(
            "Ownership Change on Sensitive File",
            "Warning",
            with(
                host("chown", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.path": "/etc/group", "evt.arg.uid": 0, "evt.arg.gid": 0}),
            ),
            vec![("evt.arg.path", json!("/etc/group"))],
        ),
        f(
            "Clear Log File",
            "Warning",
            open_write("sh", "/var/log/auth.log", "O_WRONLY|O_CREAT|O_TRUNC"),
            vec![("fd.name", json!("/var/log/auth.log"))],
        ),
        f(
            "Clear Log File",
            "Warning",
            with(
                host("unlinkat", "rm"),
                json!({"evt.res": "SUCCESS", "evt.arg.name": "/var/log/nginx/access.log"}),
            ),
            vec![("evt.arg.name", json!("/var/log/nginx/access.log"))],
        ),
        f(
            "Reverse Shell Redirect",
            "Critical",
            with(
                host("dup2", "bash"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 1, "fd.type": "ipv4", "fd.typechar": "4",
                       "fd.name": "10.0.0.5:40000->203.0.113.9:4444"}),
            ),
            vec![("evt.rawres", json!(1)), ("proc.name", json!("bash"))],
        ),
        // dup() or fcntl(F_DUPFD*) onto a closed stdin (python's os.dup).
        f(
            "Reverse Shell Redirect",
            "Critical",
            with(
                host("fcntl", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "evt.arg.cmd": "F_DUPFD_CLOEXEC",
                       "fd.type": "ipv4", "fd.typechar": "4", "fd.name": "10.0.0.5:40000->203.0.113.9:4444"}),
            ),
            vec![("evt.rawres", json!(0)), ("proc.name", json!("python3"))],
        ),
        f(
            "Reverse Shell Redirect",
            "Critical",
            with(
                host("fcntl", "perl"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 2, "evt.arg.cmd": "F_DUPFD",
                       "fd.type": "ipv6", "fd.typechar": "6", "fd.name": "::1:40000->::1:4444"}),
            ),
            vec![("evt.rawres", json!(2))],
        ),
        // A program named sshd whose socket connected out (its local port
        // is not the server port): not sshd's accepted connection.
        f(
            "Reverse Shell Redirect",
            "Critical",
            with(
                host("dup2", "sshd"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "fd.type": "ipv4", "fd.typechar": "4",
                       "fd.name": "10.0.0.5:40000->203.0.113.9:22", "fd.lport": 40000, "fd.sport": 22}),
            ),
            vec![("proc.name", json!("sshd"))],
        ),
        f(
            "Shell Outbound Connection",
            "Warning",
            connect("bash", "203.0.113.9", 443, "SUCCESS"),
            vec![("fd.name", json!("10.0.0.5:40000->203.0.113.9:443"))],
        ),
        f(
            "Outbound Connection to Suspicious Port",
            "Warning",
            connect("curl", "127.0.0.1", 4444, "EINPROGRESS"),
            vec![("fd.sport", json!(4444))],
        ),
        f(
            "Packet Socket Created",
            "Notice",
            with(
                host("socket", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 3, "evt.arg.domain": "AF_PACKET", "evt.arg.type": "SOCK_RAW"}),
            ),
            vec![("proc.name", json!("python3"))],
        ),
        f(
            "io_uring Ring Set Up by Unexpected Program",
            "Notice",
            with(
                host("io_uring_setup", "curing"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 3, "evt.arg.entries": "8", "evt.arg.flags": "IORING_SETUP_SQPOLL"}),
            ),
            vec![
                ("proc.name", json!("curing")),
                ("evt.arg.entries", json!("8")),
            ],
        ),
        f(
            "Kernel Module Loaded",
            "Warning",
            with(
                host("finit_module", "insmod"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "fd.name": "/tmp/rootkit.ko"}),
            ),
            vec![
                ("fd.name", json!("/tmp/rootkit.ko")),
                ("evt.type", json!("finit_module")),
            ],
        ),
        f(
            "Kernel Module Loaded",
            "Warning",
            with(
                host("init_module", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0}),
            ),
            vec![("evt.type", json!("init_module"))],
        ),
        f(
            "Binary Dir Changed by Rename, Link or Unlink",
            "Error",
            with(
                host("renameat2", "mv"),
                json!({"evt.res": "SUCCESS", "evt.arg.oldpath": "/var/tmp/x", "evt.arg.newpath": "/usr/bin/evil"}),
            ),
            vec![("evt.arg.newpath", json!("/usr/bin/evil"))],
        ),
        f(
            "Binary Dir Changed by Rename, Link or Unlink",
            "Error",
            with(
                host("unlinkat", "rm"),
                json!({"evt.res": "SUCCESS", "evt.arg.name": "/usr/local/bin/tool"}),
            ),
            vec![("evt.arg.name", json!("/usr/local/bin/tool"))],
        ),
        f(
            "Etc Changed by Rename, Link or Unlink",
            "Error",
            with(
                host("symlinkat", "ln"),
                json!({"evt.res": "SUCCESS", "evt.arg.target": "/var/tmp/x", "evt.arg.linkpath": "/etc/cron.d/job"}),
            ),
            vec![("evt.arg.linkpath", json!("/etc/cron.d/job"))],
        ),
        // truncate(2) by path: no open for writing to catch.
        f(
            "Binary Dir Changed by Rename, Link or Unlink",
            "Error",
            with(
                host("truncate", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.path": "/usr/local/bin/tool", "evt.arg.length": 0}),
            ),
            vec![("evt.arg.path", json!("/usr/local/bin/tool"))],
        ),
        f(
            "Etc Changed by Rename, Link or Unlink",
            "Error",
            with(
                host("truncate", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.path": "/etc/sudoers.d/ops", "evt.arg.length": 0}),
            ),
            vec![("evt.arg.path", json!("/etc/sudoers.d/ops"))],
        ),
        f(
            "File Created with Setuid or Setgid Mode",
            "Notice",
            with(
                open_write("python3", "/tmp/suid", "O_CREAT|O_WRONLY"),
                json!({"evt.rawarg.mode": 2541, "evt.arg.mode": "04755"}),
            ),
            vec![("fd.name", json!("/tmp/suid"))],
        ),
        // The same with the regular-file type bits (0104755).
        f(
            "File Created with Setuid or Setgid Mode",
            "Notice",
            with(
                open_write("cp", "/tmp/suid2", "O_WRONLY|O_CREAT|O_TRUNC"),
                json!({"evt.rawarg.mode": 35309, "evt.arg.mode": "0104755"}),
            ),
            vec![("fd.name", json!("/tmp/suid2"))],
        ),
        f(
            "Unexpected Outbound Connection from System Utility",
            "Warning",
            with(
                host("connect", "cat"),
                json!({"evt.res": "SUCCESS", "fd.typechar": "4", "fd.type": "ipv4", "fd.name": "10.0.0.5:40000->203.0.113.9:80",
                       "fd.snet": "203.0.113.0", "fd.sip": "203.0.113.9", "proc.exepath": "/tmp/cat"}),
            ),
            vec![("proc.name", json!("cat"))],
        ),
        f(
            "Ptrace Attach or Inject",
            "Warning",
            with(
                host("ptrace", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "evt.arg.request": "PTRACE_POKEDATA", "evt.arg.pid": 1234}),
            ),
            vec![("evt.arg.request", json!("PTRACE_POKEDATA"))],
        ),
        f(
            "Fileless or Staged Execution",
            "Critical",
            with(
                exec("kst", "python3", "host"),
                json!({"proc.is_exe_from_memfd": true, "proc.exepath": "/memfd:kst"}),
            ),
            vec![("proc.exepath", json!("/memfd:kst"))],
        ),
        // A program whose file was deleted, run again through its
        // process's /proc entry.
        f(
            "Fileless or Staged Execution",
            "Critical",
            with(
                exec("exe", "bash", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/tmp/x/sl",
                       "evt.arg.filename": "/proc/4242/exe", "proc.args": "0"}),
            ),
            vec![("proc.exepath", json!("/tmp/x/sl"))],
        ),
        f(
            "Fileless or Staged Execution",
            "Critical",
            with(
                exec("7", "bash", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/tmp/x/sl",
                       "evt.arg.filename": "/proc/4242/fd/7", "proc.args": ""}),
            ),
            vec![("proc.exepath", json!("/tmp/x/sl"))],
        ),
        f(
            "Fileless or Staged Execution",
            "Critical",
            with(
                exec("sh", "bash", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/usr/bin/dash", "proc.args": "/dev/shm/x.sh"}),
            ),
            vec![("proc.exepath", json!("/usr/bin/dash"))],
        ),
        f(
            "Cgroup Release Agent Written",
            "Critical",
            open_write(
                "sh",
                "/sys/fs/cgroup/rdma/release_agent",
                "O_TRUNC|O_CREAT|O_WRONLY",
            ),
            vec![("fd.name", json!("/sys/fs/cgroup/rdma/release_agent"))],
        ),
        f(
            "Shell Spawned by Server Process",
            "Critical",
            exec("sh", "nginx", "host"),
            vec![("proc.name", json!("sh")), ("proc.pname", json!("nginx"))],
        ),
        // A Java server (Tomcat), told by its main class.
        f(
            "Shell Spawned by Server Process",
            "Critical",
            with(
                exec("sh", "java", "host"),
                json!({"proc.pcmdline": "java -Dcatalina.base=/opt/tomcat org.apache.catalina.startup.Bootstrap start"}),
            ),
            vec![("proc.pname", json!("java"))],
        ),
        f(
            "Terminal Shell in Container",
            "Notice",
            with(
                exec("sh", "runc", CONTAINER),
                json!({"proc.tty": 34816, "proc.vpid": 7}),
            ),
            vec![
                ("proc.name", json!("sh")),
                ("proc.tty", json!(34816)),
                ("container.id", json!(CONTAINER)),
            ],
        ),
        f(
            "Exec Session in Container",
            "Informational",
            with(
                exec("ls", "runc", CONTAINER),
                json!({"proc.tty": 0, "proc.vpid": 12}),
            ),
            vec![
                ("proc.name", json!("ls")),
                ("container.id", json!(CONTAINER)),
            ],
        ),
        f(
            "Shell Spawned in Container",
            "Notice",
            exec("bash", "python3", CONTAINER),
            vec![
                ("proc.name", json!("bash")),
                ("container.id", json!(CONTAINER)),
            ],
        ),
        // busybox's standalone shell re-executes /proc/self/exe as "sh".
        f(
            "Shell Spawned in Container",
            "Notice",
            with(
                exec("exe", "sh", CONTAINER),
                json!({"proc.exe": "sh", "proc.exepath": "/bin/busybox"}),
            ),
            vec![("proc.name", json!("exe"))],
        ),
        f(
            "SSH or SCP Launched",
            "Notice",
            exec("scp", "bash", "host"),
            vec![("proc.name", json!("scp"))],
        ),
        f(
            "Process Spawned in Container",
            "Informational",
            exec("ls", "python3", CONTAINER),
            vec![
                ("proc.name", json!("ls")),
                ("container.id", json!(CONTAINER)),
            ],
        ),
    ]
}

/// Near misses: (the rule each one approaches, the event). None may raise
/// any alert.
fn near_misses() -> Vec<(&'static str, Value)> {
    vec![
        // The container process lacks CAP_SYS_ADMIN and is not privileged;
        // the parent is a runtime, so the catch-all stays quiet too.
        (
            "Privilege Escalation Tool in Privileged Container",
            with(
                exec("nsenter", "runc", CONTAINER),
                json!({"container.privileged": false}),
            ),
        ),
        // The same escalation tool with CAP_SYS_ADMIN, on the host.
        (
            "Privilege Escalation Tool in Privileged Container",
            with(
                exec("nsenter", "bash", "host"),
                json!({"thread.cap_effective": "CAP_SYS_ADMIN"}),
            ),
        ),
        // A container with only its runtime's own mounts (the hosts file
        // from the runtime's state directory).
        (
            "Container Started with Sensitive Host Mount",
            with(
                exec("sh", "containerd-shim", CONTAINER),
                json!({"proc.vpid": 1, "container.mounts": "/var/lib/docker/containers/0123/hosts:/etc/hosts::true:rprivate"}),
            ),
        ),
        // A sensitive mount, but not the container's first process.
        (
            "Container Started with Sensitive Host Mount",
            with(
                exec("ls", "containerd-shim", CONTAINER),
                json!({"proc.vpid": 7, "container.mount.dest[^/(etc|root|proc|sys|boot|dev|lib/modules)(/|$)]": "/host-etc"}),
            ),
        ),
        (
            "Namespace Change via setns",
            with(
                host("setns", "nsenter"),
                json!({"evt.res": "SUCCESS", "proc.pname": "containerd-shim", "evt.arg.nstype": "CLONE_NEWNET"}),
            ),
        ),
        (
            "Namespace Change via setns",
            with(
                host("setns", "nsenter"),
                json!({"evt.res": "EINVAL", "evt.arg.nstype": "CLONE_NEWNET"}),
            ),
        ),
        (
            "Namespace Change via unshare",
            with(
                host("unshare", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.flags": "CLONE_FS|CLONE_FILES"}),
            ),
        ),
        (
            "Namespace Change via unshare",
            with(
                host("unshare", "bwrap"),
                json!({"evt.res": "SUCCESS", "evt.arg.flags": "CLONE_NEWNS"}),
            ),
        ),
        ("Read Sensitive File", open_read("sshd", "/etc/shadow")),
        // OpenSSH 9.8+: the per-session process reads PAM files and shadow.
        (
            "Read Sensitive File",
            open_read("sshd-session", "/etc/shadow"),
        ),
        (
            "Read Sensitive File",
            open_read("sshd-session", "/etc/pam.d/sshd"),
        ),
        // root's ssh client reading root's own key.
        (
            "Read Sensitive File",
            open_read("ssh", "/root/.ssh/id_ed25519"),
        ),
        ("Read Sensitive File", open_read("cat", "/etc/hostname")),
        ("Read Sensitive File", open_read("cat", "/etc/shadow.bak")),
        (
            "Read Sensitive File",
            with(
                open_read("cat", "/etc/shadow"),
                json!({"evt.res": "ENOENT", "fd.num": -2, "evt.rawres": -2}),
            ),
        ),
        (
            "Write to Root SSH Directory",
            open_write("bash", "/root/.sshx/authorized_keys", "O_WRONLY|O_CREAT"),
        ),
        (
            "Write to Root SSH Directory",
            open_write("bash", "/tmp/.ssh/authorized_keys", "O_WRONLY|O_CREAT"),
        ),
        (
            "Coreutils Binary Tampering",
            open_write("dpkg", "/usr/bin/ls", "O_WRONLY|O_TRUNC"),
        ),
        (
            "Coreutils Binary Tampering",
            with(
                host("unlinkat", "dpkg"),
                json!({"evt.res": "SUCCESS", "evt.arg.name": "/usr/bin/psql"}),
            ),
        ),
        (
            "Coreutils Binary Tampering",
            with(
                host("unlinkat", "rm"),
                json!({"evt.res": "ENOENT", "evt.arg.name": "/usr/bin/ls"}),
            ),
        ),
        (
            "Login Binary Tampering",
            open_write("cp", "/tmp/build/sshd", "O_WRONLY|O_TRUNC"),
        ),
        (
            "Shadow Utils Binary Tampering",
            with(
                open_write("cp", "/usr/sbin/useradd", "O_WRONLY|O_TRUNC"),
                json!({"proc.pname": "apt-get"}),
            ),
        ),
        (
            "Write Below Binary Dir",
            open_write("cp", "/usr/libexec/kestrel-tool", "O_WRONLY|O_CREAT"),
        ),
        ("Write Below Binary Dir", open_read("cp", "/usr/bin/true")),
        (
            "Write Below Etc",
            open_write("useradd", "/etc/kestrel.conf", "O_WRONLY|O_CREAT"),
        ),
        (
            "Write Below Etc",
            open_write("vim", "/etcetera/kestrel.conf", "O_WRONLY|O_CREAT"),
        ),
        (
            "Symlink to Sensitive File",
            with(
                host("symlinkat", "ln"),
                json!({"evt.res": "SUCCESS", "evt.arg.target": "/etc/hostname", "evt.arg.linkpath": "/tmp/s"}),
            ),
        ),
        (
            "Hardlink to Sensitive File",
            with(
                host("linkat", "ln"),
                json!({"evt.res": "EXDEV", "evt.arg.oldpath": "/etc/shadow", "evt.arg.newpath": "/tmp/g"}),
            ),
        ),
        (
            "Set Setuid or Setgid Bit",
            with(
                host("fchmodat", "chmod"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/tmp/x", "evt.arg.mode": "S_IRWXU|S_IRGRP|S_IXGRP"}),
            ),
        ),
        (
            "Permission Change on Sensitive File",
            with(
                host("fchmodat", "chmod"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/home/k/notes", "evt.arg.mode": "S_IRUSR|S_IWUSR"}),
            ),
        ),
        // fchmodat2 that failed, and one without a setuid/setgid bit.
        (
            "Set Setuid or Setgid Bit",
            with(
                host("fchmodat2", "python3"),
                json!({"evt.res": "EPERM", "evt.arg.filename": "/tmp/z", "evt.arg.mode": "S_ISUID|S_IRWXU",
                       "evt.arg.flags": ""}),
            ),
        ),
        (
            "Permission Change on Sensitive File",
            with(
                host("fchmodat2", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.filename": "/srv/app/tool", "evt.arg.mode": "S_IRWXU",
                       "evt.arg.flags": ""}),
            ),
        ),
        (
            "Ownership Change on Sensitive File",
            with(
                host("fchownat", "chown"),
                json!({"evt.res": "SUCCESS", "evt.arg.pathname": "/srv/data/hosts", "evt.arg.uid": 0, "evt.arg.gid": 0}),
            ),
        ),
        (
            "Clear Log File",
            open_write("logrotate", "/var/log/auth.log", "O_WRONLY|O_CREAT|O_TRUNC"),
        ),
        (
            "Clear Log File",
            open_write("rsyslogd", "/var/log/syslog", "O_WRONLY|O_CREAT|O_APPEND"),
        ),
        (
            "Clear Log File",
            open_write("sh", "/var/log/syslog", "O_WRONLY|O_APPEND"),
        ),
        (
            "Reverse Shell Redirect",
            with(
                host("dup2", "bash"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 1, "fd.type": "file", "fd.typechar": "f", "fd.name": "/tmp/out"}),
            ),
        ),
        (
            "Reverse Shell Redirect",
            with(
                host("dup2", "bash"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 5, "fd.type": "ipv4", "fd.typechar": "4"}),
            ),
        ),
        // fcntl on a socket that copies nothing (F_SETFL returns 0).
        (
            "Reverse Shell Redirect",
            with(
                host("fcntl", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "evt.arg.cmd": "F_SETFL",
                       "fd.type": "ipv4", "fd.typechar": "4", "fd.name": "10.0.0.5:40000->203.0.113.9:4444"}),
            ),
        ),
        // A socket copied by fcntl above the standard descriptors.
        (
            "Reverse Shell Redirect",
            with(
                host("fcntl", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 7, "evt.arg.cmd": "F_DUPFD_CLOEXEC",
                       "fd.type": "ipv4", "fd.typechar": "4", "fd.name": "10.0.0.5:40000->203.0.113.9:4444"}),
            ),
        ),
        // sshd on a port above the ephemeral range (61022), its accepted
        // connection put on the forked child's stdio: the socket cache
        // knows the server end, so the server port is the local one.
        (
            "Reverse Shell Redirect",
            with(
                host("dup2", "sshd"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "fd.type": "ipv4", "fd.typechar": "4",
                       "fd.name": "127.0.0.1:40000->127.0.0.1:61022", "fd.lport": 61022, "fd.sport": 61022}),
            ),
        ),
        // sshd puts the connection it accepted on its re-executed child's
        // stdio: local port = server port.
        (
            "Reverse Shell Redirect",
            with(
                host("dup2", "sshd"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "fd.type": "ipv4", "fd.typechar": "4",
                       "fd.name": "10.0.0.9:51000->10.0.0.5:22", "fd.lport": 22, "fd.sport": 22}),
            ),
        ),
        (
            "Shell Outbound Connection",
            connect("bash", "127.0.0.1", 8080, "SUCCESS"),
        ),
        (
            "Shell Outbound Connection",
            connect("bash", "203.0.113.9", 443, "ECONNREFUSED"),
        ),
        (
            "Outbound Connection to Suspicious Port",
            connect("curl", "127.0.0.1", 4443, "SUCCESS"),
        ),
        (
            "Packet Socket Created",
            with(
                host("socket", "tcpdump"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 3, "evt.arg.domain": "AF_PACKET"}),
            ),
        ),
        (
            "Packet Socket Created",
            with(
                host("socket", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 3, "evt.arg.domain": "AF_INET"}),
            ),
        ),
        (
            "io_uring Ring Set Up by Unexpected Program",
            with(
                host("io_uring_setup", "fio"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 3, "evt.arg.entries": "8"}),
            ),
        ),
        (
            "io_uring Ring Set Up by Unexpected Program",
            with(
                host("io_uring_setup", "curing"),
                json!({"evt.res": "EPERM", "evt.rawres": -1, "evt.arg.entries": "8"}),
            ),
        ),
        (
            "Kernel Module Loaded",
            with(
                host("finit_module", "python3"),
                json!({"evt.res": "ENOSYS", "evt.rawres": -38}),
            ),
        ),
        (
            "Binary Dir Changed by Rename, Link or Unlink",
            with(
                host("linkat", "ln"),
                json!({"evt.res": "SUCCESS", "evt.arg.oldpath": "/usr/bin/ls", "evt.arg.newpath": "/tmp/ls"}),
            ),
        ),
        (
            "Etc Changed by Rename, Link or Unlink",
            with(
                host("renameat2", "useradd"),
                json!({"evt.res": "SUCCESS", "evt.arg.oldpath": "/etc/passwd+", "evt.arg.newpath": "/etc/passwd"}),
            ),
        ),
        // A truncate that failed, one elsewhere, and an ftruncate (its fd
        // was opened for writing, which Write Below * reports).
        (
            "Binary Dir Changed by Rename, Link or Unlink",
            with(
                host("truncate", "python3"),
                json!({"evt.res": "EACCES", "evt.arg.path": "/usr/local/bin/tool", "evt.arg.length": 0}),
            ),
        ),
        (
            "Etc Changed by Rename, Link or Unlink",
            with(
                host("truncate", "python3"),
                json!({"evt.res": "SUCCESS", "evt.arg.path": "/var/lib/app/etc/x", "evt.arg.length": 0}),
            ),
        ),
        (
            "Etc Changed by Rename, Link or Unlink",
            with(
                host("ftruncate", "python3"),
                json!({"evt.res": "SUCCESS", "fd.name": "/etc/hosts", "evt.arg.length": 0}),
            ),
        ),
        (
            "File Created with Setuid or Setgid Mode",
            with(
                open_write("python3", "/tmp/plain", "O_CREAT|O_WRONLY"),
                json!({"evt.rawarg.mode": 493, "evt.arg.mode": "0755"}),
            ),
        ),
        // busybox cp passes the source's st_mode: 0100755, no setuid.
        (
            "File Created with Setuid or Setgid Mode",
            with(
                open_write("cp", "/tmp/copy", "O_WRONLY|O_CREAT|O_TRUNC"),
                json!({"evt.rawarg.mode": 33261, "evt.arg.mode": "0100755"}),
            ),
        ),
        // Sticky only (01755).
        (
            "File Created with Setuid or Setgid Mode",
            with(
                open_write("python3", "/tmp/sticky", "O_CREAT|O_WRONLY"),
                json!({"evt.rawarg.mode": 1005, "evt.arg.mode": "01755"}),
            ),
        ),
        (
            "Unexpected Outbound Connection from System Utility",
            with(
                host("connect", "cat"),
                json!({"evt.res": "SUCCESS", "fd.typechar": "4", "fd.type": "ipv4", "fd.name": "127.0.0.1:40000->127.0.0.1:80",
                       "fd.snet": "127.0.0.0", "fd.sip": "127.0.0.1"}),
            ),
        ),
        (
            "Ptrace Attach or Inject",
            with(
                host("ptrace", "python3"),
                json!({"evt.res": "SUCCESS", "evt.rawres": 0, "evt.arg.request": "PTRACE_TRACEME", "evt.arg.pid": 0}),
            ),
        ),
        (
            "Fileless or Staged Execution",
            with(
                exec("true", "bash", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/usr/bin/true", "proc.args": ""}),
            ),
        ),
        // runc re-executing itself through /proc/self/exe.
        (
            "Fileless or Staged Execution",
            with(
                exec("exe", "runc", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/usr/bin/runc",
                       "evt.arg.filename": "/proc/self/exe", "proc.args": "init"}),
            ),
        ),
        // runc running dockerd's network hook as /proc/<dockerd>/exe.
        (
            "Fileless or Staged Execution",
            with(
                exec("exe", "runc", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/usr/sbin/dockerd",
                       "evt.arg.filename": "/proc/812/exe", "proc.args": "libnetwork-setkey -exec-root=/var/run/docker"}),
            ),
        ),
        // A program reading (not running) another process's /proc entry
        // by its path: cat /proc/4242/exe is an exec of cat.
        (
            "Fileless or Staged Execution",
            with(
                exec("cat", "bash", "host"),
                json!({"proc.is_exe_from_memfd": false, "proc.exepath": "/usr/bin/cat",
                       "evt.arg.filename": "/usr/bin/cat", "proc.args": "/proc/4242/exe"}),
            ),
        ),
        (
            "Cgroup Release Agent Written",
            open_read("cat", "/sys/fs/cgroup/rdma/release_agent"),
        ),
        (
            "Shell Spawned by Server Process",
            exec("sh", "bash", "host"),
        ),
        (
            "Shell Spawned by Server Process",
            exec("ls", "nginx", "host"),
        ),
        // Build tools and npm scripts run by java and node are not servers.
        (
            "Shell Spawned by Server Process",
            with(
                exec("sh", "java", "host"),
                json!({"proc.pcmdline": "java -classpath /usr/share/maven/boot/plexus-classworlds-2.x.jar org.codehaus.plexus.classworlds.launcher.Launcher package"}),
            ),
        ),
        (
            "Shell Spawned by Server Process",
            with(
                exec("sh", "node", "host"),
                json!({"proc.pcmdline": "node /usr/bin/npm test"}),
            ),
        ),
        ("Shell Spawned in Container", exec("sh", "runc", CONTAINER)),
        // A program re-executing itself (/proc/self/exe, named "exe")
        // under an argv[0] that is no shell.
        (
            "Shell Spawned by Server Process",
            with(
                exec("exe", "nginx", "host"),
                json!({"proc.exe": "runc", "proc.exepath": "/usr/bin/runc"}),
            ),
        ),
        // A terminal shell on the host, its parent named like a runtime.
        (
            "Terminal Shell in Container",
            with(exec("sh", "runc", "host"), json!({"proc.tty": 34816})),
        ),
        // A container's own first process (pid 1 in its namespace).
        (
            "Exec Session in Container",
            with(
                exec("sleep", "containerd-shim", CONTAINER),
                json!({"proc.tty": 0, "proc.vpid": 1}),
            ),
        ),
        ("SSH or SCP Launched", exec("ssh-keygen", "bash", "host")),
        (
            "Process Spawned in Container",
            exec("ls", "python3", "host"),
        ),
        (
            "Process Spawned in Container",
            exec("ls", "containerd-shim", CONTAINER),
        ),
    ]
}

/// Rule names defined in the default rules file, in order.
fn rule_names() -> Vec<String> {
    let text = std::fs::read_to_string(common::default_rules()).expect("read default rules");
    text.lines()
        .filter_map(|l| l.strip_prefix("- rule: "))
        .map(|s| s.trim().to_string())
        .collect()
}

/// Writes the events (each with `proc.cmdline` = its tag), replays them,
/// returns the alerts keyed by tag.
fn replay(events: &[(String, Value)]) -> BTreeMap<String, Vec<Value>> {
    replay_with(events, &[])
}

/// [`replay`] with more rules files loaded after the default rules.
fn replay_with(
    events: &[(String, Value)],
    more_rules: &[&std::path::Path],
) -> BTreeMap<String, Vec<Value>> {
    let dir = common::tempdir();
    let path = dir.path().join("events.jsonl");
    let mut text = String::new();
    for (tag, ev) in events {
        let ev = with(ev.clone(), json!({ "proc.cmdline": tag }));
        text.push_str(&ev.to_string());
        text.push('\n');
    }
    std::fs::write(&path, text).expect("write events");
    let out = Command::new(common::KESTREL)
        .args(["replay", "--json", "-r"])
        .arg(common::default_rules())
        .args(
            more_rules
                .iter()
                .flat_map(|r| [std::ffi::OsStr::new("-r"), r.as_os_str()]),
        )
        .arg(&path)
        .output()
        .expect("run kestrel replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "kestrel replay failed ({}): {stderr}",
        out.status
    );
    assert!(
        stderr.contains(&format!("replayed {} events (0 unreadable)", events.len())),
        "not every event was read: {stderr}"
    );
    let mut by_tag: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let a: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("replay printed a non-JSON line ({e}): {line}"));
        let tag = a["output_fields"]["proc.cmdline"]
            .as_str()
            .unwrap_or_else(|| panic!("alert without proc.cmdline: {a}"))
            .to_string();
        by_tag.entry(tag).or_default().push(a);
    }
    by_tag
}

#[test]
fn every_default_rule_fires_and_near_misses_stay_quiet() {
    let fires = fires();
    let misses = near_misses();
    let names = rule_names();
    assert_eq!(names.len(), 36, "rules in the default file: {names:?}");

    // The table covers every rule, both ways, and names only real rules.
    let fired: BTreeSet<&str> = fires.iter().map(|f| f.rule).collect();
    let missed: BTreeSet<&str> = misses.iter().map(|m| m.0).collect();
    for n in &names {
        assert!(fired.contains(n.as_str()), "no firing event for rule '{n}'");
        assert!(missed.contains(n.as_str()), "no near miss for rule '{n}'");
    }
    for r in fired.iter().chain(missed.iter()) {
        assert!(names.iter().any(|n| n == r), "'{r}' is not a default rule");
    }

    let mut events = Vec::new();
    for (i, f) in fires.iter().enumerate() {
        events.push((format!("fire-{i}"), f.event.clone()));
    }
    for (i, m) in misses.iter().enumerate() {
        events.push((format!("miss-{i}"), m.1.clone()));
    }
    // The audit rules the file leaves off are switched on by the overlay
    // the rules file documents; without it their events raise nothing.
    let alerts = replay_with(&events, &[&common::audit_rules()]);
    let audit = ["Exec Session in Container", "Process Spawned in Container"];
    let audit_events: Vec<(String, Value)> = fires
        .iter()
        .zip(&events)
        .filter(|(f, _)| audit.contains(&f.rule))
        .map(|(_, e)| e.clone())
        .collect();
    assert_eq!(audit_events.len(), 2, "one firing event per audit rule");
    let off = replay(&audit_events);
    assert!(off.is_empty(), "audit rules fired while off: {off:?}");

    let mut failures = Vec::new();
    for (i, f) in fires.iter().enumerate() {
        let tag = format!("fire-{i}");
        let got = alerts.get(&tag).cloned().unwrap_or_default();
        if got.len() != 1 {
            failures.push(format!(
                "{tag} ({}): expected exactly one alert, got {}: {got:?}",
                f.rule,
                got.len()
            ));
            continue;
        }
        let a = &got[0];
        if a["rule"] != f.rule {
            failures.push(format!(
                "{tag}: expected rule '{}', got {}",
                f.rule, a["rule"]
            ));
        }
        if a["priority"] != f.priority {
            failures.push(format!(
                "{tag} ({}): expected priority {}, got {}",
                f.rule, f.priority, a["priority"]
            ));
        }
        for (k, v) in &f.fields {
            if &a["output_fields"][*k] != v {
                failures.push(format!(
                    "{tag} ({}): output field {k}: expected {v}, got {}",
                    f.rule, a["output_fields"][*k]
                ));
            }
        }
        if a["source"] != "syscall" || !a["time"].as_str().is_some_and(|t| t.ends_with('Z')) {
            failures.push(format!("{tag}: not Falco's alert shape: {a}"));
        }
    }
    for (i, (rule, _)) in misses.iter().enumerate() {
        let tag = format!("miss-{i}");
        if let Some(got) = alerts.get(&tag) {
            let rules: Vec<&Value> = got.iter().map(|a| &a["rule"]).collect();
            failures.push(format!("{tag} (near miss of '{rule}') raised {rules:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The table above runs with the embedded copy of the rules too: the
/// binary's built-in rules are the file's.
#[test]
fn embedded_rules_are_the_file() {
    let dir = common::tempdir();
    let path = dir.path().join("e.jsonl");
    let ev = with(
        open_read("cat", "/etc/shadow"),
        json!({"proc.cmdline": "x"}),
    );
    std::fs::write(&path, format!("{ev}\n")).unwrap();
    let out = Command::new(common::KESTREL)
        .args(["replay", "--json"])
        .arg(&path)
        .output()
        .expect("run kestrel replay");
    assert!(out.status.success());
    let a: Value =
        serde_json::from_slice(out.stdout.split(|b| *b == b'\n').next().expect("one alert"))
            .expect("JSON alert");
    assert_eq!(a["rule"], "Read Sensitive File");
    let listed = Command::new(common::KESTREL)
        .args(["rules", "list", "--json"])
        .output()
        .expect("kestrel rules list");
    let text = String::from_utf8_lossy(&listed.stdout);
    for n in rule_names() {
        assert!(
            text.contains(&format!("\"{n}\"")),
            "embedded rules lack '{n}'"
        );
    }
}

/// The tuning the rules file's header documents, as a site would write it
/// in a file of its own: appended exception values, a replaced
/// `user_known_*` macro, appended list items. Each silences exactly what
/// it names: the same action by another program, or by the named program
/// elsewhere, still alerts.
#[test]
fn site_tuning_silences_only_what_it_names() {
    let dir = common::tempdir();
    let tuning = dir.path().join("site.yaml");
    std::fs::write(
        &tuning,
        r#"
- rule: Write Below Binary Dir
  exceptions:
    - name: known_program_files
      values:
        - [deploy-agent, /usr/local/bin/]
  override:
    exceptions: append

- rule: Clear Log File
  exceptions:
    - name: known_programs
      values: [app-rotator]
  override:
    exceptions: append

- rule: SSH or SCP Launched
  exceptions:
    - name: known_program_parents
      values:
        - [ssh, backup-sync]
  override:
    exceptions: append

- rule: Unexpected Outbound Connection from System Utility
  exceptions:
    - name: known_program_destinations
      values:
        - [tar, [10.20.0.0/16]]
  override:
    exceptions: append

- macro: user_known_read_sensitive_file_activities
  condition: (proc.name = backup-agent and fd.name = /etc/shadow)
  override:
    condition: replace

- list: user_known_ptrace_binaries
  items: [gdb]
  override:
    items: append

- list: server_binaries
  items: [node]
  override:
    items: append
"#,
    )
    .expect("write tuning file");

    let ptrace = |p: &str| {
        with(
            host("ptrace", p),
            json!({"evt.res": "SUCCESS", "evt.rawres": 0, "evt.arg.request": "PTRACE_ATTACH", "evt.arg.pid": 1234}),
        )
    };
    let utility_connect = |sip: &str| connect("tar", sip, 443, "SUCCESS");
    let truncate_log = |p: &str| open_write(p, "/var/log/app.log", "O_WRONLY|O_TRUNC");
    // (event, the rule it must raise with the tuning, or None)
    let cases: Vec<(Value, Option<&str>)> = vec![
        (
            open_write("deploy-agent", "/usr/local/bin/tool", "O_WRONLY|O_CREAT"),
            None,
        ),
        (
            open_write("deploy-agent", "/usr/bin/tool", "O_WRONLY|O_CREAT"),
            Some("Write Below Binary Dir"),
        ),
        (
            open_write("other-agent", "/usr/local/bin/tool", "O_WRONLY|O_CREAT"),
            Some("Write Below Binary Dir"),
        ),
        (truncate_log("app-rotator"), None),
        (truncate_log("sh"), Some("Clear Log File")),
        (exec("ssh", "backup-sync", "host"), None),
        (exec("ssh", "bash", "host"), Some("SSH or SCP Launched")),
        (
            exec("scp", "backup-sync", "host"),
            Some("SSH or SCP Launched"),
        ),
        (utility_connect("10.20.3.4"), None),
        (
            utility_connect("10.30.3.4"),
            Some("Unexpected Outbound Connection from System Utility"),
        ),
        (open_read("backup-agent", "/etc/shadow"), None),
        (
            open_read("backup-agent", "/etc/sudoers"),
            Some("Read Sensitive File"),
        ),
        (open_read("cat", "/etc/shadow"), Some("Read Sensitive File")),
        (ptrace("gdb"), None),
        (ptrace("python3"), Some("Ptrace Attach or Inject")),
        (
            exec("sh", "node", "host"),
            Some("Shell Spawned by Server Process"),
        ),
    ];
    let events: Vec<(String, Value)> = cases
        .iter()
        .enumerate()
        .map(|(i, (e, _))| (format!("tune-{i}"), e.clone()))
        .collect();

    // Without the tuning every case alerts: the tuning is what silences.
    let untuned = replay(&events);
    let tuned = replay_with(&events, &[&tuning]);
    let mut failures = Vec::new();
    for (i, (_, want)) in cases.iter().enumerate() {
        let tag = format!("tune-{i}");
        let node_case = matches!(want, Some("Shell Spawned by Server Process"));
        // node is no server by default: only the appended list makes it one.
        if node_case && untuned.contains_key(&tag) {
            failures.push(format!(
                "{tag}: node counted as a server without the tuning"
            ));
        }
        if !node_case && !untuned.contains_key(&tag) {
            failures.push(format!("{tag}: no alert even without the tuning"));
        }
        let got: Vec<&Value> = tuned
            .get(&tag)
            .map(|v| v.iter().map(|a| &a["rule"]).collect())
            .unwrap_or_default();
        match want {
            None if !got.is_empty() => failures.push(format!("{tag}: tuned away, yet {got:?}")),
            Some(r) if got != [&json!(r)] => {
                failures.push(format!("{tag}: expected exactly '{r}', got {got:?}"))
            }
            _ => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The default rules stay valid Falco rules: every field they name (in
/// conditions, outputs and exceptions) is in kestrel's catalogue, which
/// follows Falco's, and none is one of the few names kestrel has and
/// Falco 0.44 does not.
#[test]
fn default_rules_use_only_falco_fields() {
    use kestrel_engine::fields::{by_name, NOT_IN_FALCO};
    let text = std::fs::read_to_string(common::default_rules()).expect("read default rules");
    let classes = [
        "evt.",
        "proc.",
        "thread.",
        "fd.",
        "user.",
        "group.",
        "container.",
        "k8s.",
        "fs.",
    ];
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let code = line.split('#').next().unwrap_or("");
        let bytes = code.as_bytes();
        let mut i = 0;
        while i < bytes.len() {
            let boundary = i == 0
                || !(bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b'.'
                    || bytes[i - 1] == b'/');
            if boundary {
                if let Some(c) = classes.iter().find(|c| code[i..].starts_with(**c)) {
                    let end = code[i..]
                        .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '.'))
                        .map_or(code.len(), |e| i + e);
                    let tok = code[i..end].trim_end_matches('.');
                    if tok.len() > c.len() {
                        seen.insert(tok.to_string());
                    }
                    i = end;
                    continue;
                }
            }
            i += 1;
        }
    }
    assert!(seen.len() > 20, "too few fields found: {seen:?}");
    let mut bad = Vec::new();
    for f in &seen {
        let generic = f.starts_with("evt.arg.") || f.starts_with("evt.rawarg.");
        if !generic && by_name(f).is_none() {
            bad.push(format!("{f}: not a field"));
        }
        if let Some((_, falco)) = NOT_IN_FALCO.iter().find(|(n, _)| n == f) {
            bad.push(format!("{f}: not in Falco 0.44 (Falco names it {falco})"));
        }
    }
    assert!(bad.is_empty(), "{bad:?}");
}
