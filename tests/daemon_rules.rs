//! Every default rule, for real: the daemon runs with its embedded rules and
//! JSON alerts; each rule's action is performed with real syscalls by real
//! child processes (on real files, mostly in temp dirs), and its alert must
//! arrive within one second with the right rule, priority, process, file or
//! argument and container id. Near misses (the same action made benign)
//! must raise nothing; they are checked at the end, after a sentinel alert
//! shows the daemon has caught up.
//!
//! "Containers" are real cgroups named the way docker and containerd name
//! them (v1 under /sys/fs/cgroup/pids, v2 under the unified hierarchy); the
//! child moves itself into the cgroup before it execs the action.
//!
//! One daemon serves the whole table (one test), so a failure lists every
//! case that failed, not only the first.
//!
//! Not triggerable here: "Kernel Module Loaded" (this kernel has no module
//! support: finit_module returns ENOSYS). Its failed attempt is a live near
//! miss; the firing side is covered by tests/rules_default.rs.

mod common;

use std::ffi::CStr;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, FakeContainer, Layout};
use serde_json::{json, Value};

/// How an alert is tied to the action that caused it.
#[derive(Clone, Debug)]
enum Key {
    /// The alert's output text contains this (a nonce in the command line).
    Text(String),
    /// The alert's `container.id` is this short id.
    Container(String),
}

impl Key {
    fn matches(&self, a: &Value) -> bool {
        match self {
            Key::Text(t) => common::output_has(a, t),
            Key::Container(id) => a["output_fields"]["container.id"] == id.as_str(),
        }
    }
}

type MissCheck = Box<dyn Fn(&[Value]) -> Result<(), String>>;

struct Miss {
    what: String,
    key: Key,
    check: MissCheck,
}

struct Live<'a> {
    d: &'a Daemon,
    tmp: tempfile::TempDir,
    failures: Vec<String>,
    misses: Vec<Miss>,
    passed: Vec<String>,
}

/// Removes a path on drop (files created outside the temp dir).
struct Cleanup(Vec<PathBuf>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for p in self.0.iter().rev() {
            // Most were removed by the test itself already.
            if p.is_dir() {
                common::best_effort("remove dir", std::fs::remove_dir(p));
            } else if p.symlink_metadata().is_ok() {
                common::best_effort("remove file", std::fs::remove_file(p));
            }
        }
    }
}

/// How long an expected alert may take after its action: generous, because
/// a loaded CI machine can hold an event back for over a second (a clean
/// CI run once missed a setns alert at 1 s); an alert that arrives ends
/// the wait at once.
const TIMEOUT: Duration = Duration::from_secs(5);

impl<'a> Live<'a> {
    fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// An empty file named after the nonce (to put the nonce on a command line).
    fn nonce_file(&self, tag: &str) -> (String, PathBuf) {
        let n = common::nonce(tag);
        let p = self.tmp().join(&n);
        std::fs::write(&p, b"").expect("create nonce file");
        (n, p)
    }

    /// Runs the action; returns when it has exited.
    fn act(&self, cmd: &mut Command) -> Instant {
        common::run(cmd);
        Instant::now()
    }

    /// Expects an alert of `rule` tied to `key` within a second of `ended`,
    /// with `priority` and output fields equal to `fields`.
    fn expect(
        &mut self,
        what: &str,
        ended: Instant,
        key: &Key,
        rule: &str,
        priority: &str,
        fields: &[(&str, Value)],
    ) -> Option<Value> {
        let got = self.d.wait_alert_until(
            |a| common::rule_of(a) == rule && key.matches(a),
            ended + TIMEOUT,
        );
        let Some(a) = got else {
            let others: Vec<String> = self
                .d
                .alerts_where(|a| key.matches(a))
                .iter()
                .map(|a| a["rule"].to_string())
                .collect();
            self.failures.push(format!(
                "{what}: no '{rule}' alert within {TIMEOUT:?} (alerts for this action: {others:?})"
            ));
            return None;
        };
        let mut ok = true;
        if a["priority"] != priority {
            ok = false;
            self.failures.push(format!(
                "{what}: priority {} (expected {priority})",
                a["priority"]
            ));
        }
        for (k, v) in fields {
            let have = &a["output_fields"][*k];
            if have != v {
                ok = false;
                self.failures.push(format!(
                    "{what}: output field {k} = {have} (expected {v}); alert: {a}"
                ));
            }
        }
        // Actions outside the fake containers run on the host.
        if matches!(key, Key::Text(_)) && !fields.iter().any(|(k, _)| *k == "container.id") {
            let have = &a["output_fields"]["container.id"];
            if have != "host" {
                ok = false;
                self.failures
                    .push(format!("{what}: container.id = {have} (expected \"host\")"));
            }
        }
        if ok {
            self.passed.push(what.to_string());
        }
        Some(a)
    }

    /// Records a near miss: after the sentinel, alerts tied to `key` must
    /// pass `check` (by default: there are none).
    fn miss(&mut self, what: &str, key: Key) {
        self.miss_with(what, key, Box::new(none));
    }

    fn miss_with(&mut self, what: &str, key: Key, check: MissCheck) {
        self.misses.push(Miss {
            what: what.to_string(),
            key,
            check,
        });
    }
}

fn none(v: &[Value]) -> Result<(), String> {
    if v.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "raised {:?}",
            v.iter().map(|a| a["rule"].to_string()).collect::<Vec<_>>()
        ))
    }
}

/// For container near misses: exactly the catch-all for `proc_name` (which
/// also proves the event was seen) and nothing else.
fn only_catch_all_for(proc_names: &'static [&'static str]) -> MissCheck {
    Box::new(move |v: &[Value]| {
        let mut bad = Vec::new();
        for a in v {
            let name = a["output_fields"]["proc.name"].as_str().unwrap_or("");
            if a["rule"] != "Process Spawned in Container" || !proc_names.contains(&name) {
                bad.push(format!("{} for {name}", a["rule"]));
            }
        }
        for n in proc_names {
            if !v.iter().any(|a| a["output_fields"]["proc.name"] == *n) {
                bad.push(format!(
                    "no 'Process Spawned in Container' for {n} (was the event seen?)"
                ));
            }
        }
        if bad.is_empty() {
            Ok(())
        } else {
            Err(bad.join("; "))
        }
    })
}

fn path_str(p: &Path) -> String {
    p.to_str().expect("UTF-8 path").to_string()
}

/// A system binary directory (one of the rules' `binary_directories`, as
/// the kernel names it) where the test may create and remove files named
/// like system programs without shadowing anything on PATH.
fn scratch_binary_dir(names: &[&str]) -> PathBuf {
    for d in ["/usr/local/sbin", "/usr/local/bin"] {
        let p = Path::new(d);
        let real = p.canonicalize().ok();
        if real.as_deref() == Some(p) && names.iter().all(|n| !p.join(n).exists()) {
            return p.to_path_buf();
        }
    }
    panic!("no binary directory to create {names:?} in (tried /usr/local/sbin, /usr/local/bin)");
}

/// A directory on the same filesystem as /etc/shadow (hard links).
fn same_fs_as_shadow(tmp: &Path) -> PathBuf {
    use std::os::unix::fs::MetadataExt;
    let dev = std::fs::metadata("/etc/shadow").expect("/etc/shadow").dev();
    for d in [
        tmp,
        Path::new("/var/tmp"),
        Path::new("/root"),
        Path::new("/etc"),
    ] {
        if std::fs::metadata(d).map(|m| m.dev()).ok() == Some(dev) {
            return d.to_path_buf();
        }
    }
    panic!("no writable directory on the filesystem of /etc/shadow");
}

/// The first non-loopback IPv4 address of this machine.
fn local_ipv4() -> Ipv4Addr {
    let mut ifap: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills ifap with a list we free below.
    assert_eq!(unsafe { libc::getifaddrs(&mut ifap) }, 0, "getifaddrs");
    let mut found = None;
    let mut cur = ifap;
    while !cur.is_null() {
        // SAFETY: cur is a node of the list getifaddrs returned.
        let ifa = unsafe { &*cur };
        if !ifa.ifa_addr.is_null() {
            // SAFETY: ifa_addr points to a sockaddr of family sa_family.
            let fam = unsafe { (*ifa.ifa_addr).sa_family } as i32;
            if fam == libc::AF_INET {
                // SAFETY: AF_INET addresses are sockaddr_in.
                let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
                let ip = Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                // SAFETY: ifa_name is a NUL-terminated string.
                let _name = unsafe { CStr::from_ptr(ifa.ifa_name) };
                if !ip.is_loopback() && !ip.is_unspecified() {
                    found = Some(ip);
                    break;
                }
            }
        }
        cur = ifa.ifa_next;
    }
    // SAFETY: freeing the list getifaddrs allocated.
    unsafe { libc::freeifaddrs(ifap) };
    found.expect(
        "the 'Shell Outbound Connection' case needs a non-loopback IPv4 address on this machine",
    )
}

/// A loopback listener on one of the rule's suspicious ports.
fn suspicious_listener() -> TcpListener {
    for p in [4444u16, 4445, 5555, 6666, 6667, 6697, 9001, 1337, 31337] {
        if let Ok(l) = TcpListener::bind(("127.0.0.1", p)) {
            return l;
        }
    }
    panic!("every suspicious port (4444, 4445, 5555, ...) is in use on 127.0.0.1");
}

#[test]
fn default_rules_for_real() {
    let _g = common::serial();
    // The audit rules on: the container cases use the catch-all to show
    // each event was seen.
    check_default_rules(Daemon::start_with(common::DaemonOpts {
        rules: common::default_rules_with_audit(),
        ..Default::default()
    }));
}

/// The same actions with a rule beside the defaults that the kernel
/// filter cannot constrain on the open family and close (it needs every
/// open): those types pass whole, the defaults' clauses only mark events,
/// and marked-off events are matched against that rule alone. Every
/// default rule must still fire exactly as above.
#[test]
fn default_rules_for_real_beside_a_rule_needing_every_open() {
    let _g = common::serial();
    let d = Daemon::start_with(common::DaemonOpts {
        rules: vec![
            common::default_rules(),
            common::audit_rules(),
            common::repo().join("perf/zero-drop/adversarial_rules.yaml"),
        ],
        ..Default::default()
    });
    let marked_off = check_default_rules(d);
    assert!(
        marked_off > 0.0,
        "no event was marked off: the marks are not in use"
    );
}

/// Runs every check on `d` (started with the default rules, maybe among
/// others) and stops it; returns kestrel_worker_events_marked_off_total.
fn check_default_rules(d: Daemon) -> f64 {
    let mut l = Live {
        d: &d,
        tmp: common::tempdir(),
        failures: Vec::new(),
        misses: Vec::new(),
        passed: Vec::new(),
    };
    let py = common::python3();
    let tmp = l.tmp().to_path_buf();
    let s = |p: &Path| path_str(p);

    // ---- Privilege Escalation Tool in Privileged Container
    {
        let c = FakeContainer::new(Layout::DockerV1);
        let key = Key::Container(c.short_id().to_string());
        let end = l.act(c.command("nsenter").arg("--version"));
        if let Some(a) = l.expect(
            "nsenter in a privileged docker (cgroup v1) container",
            end,
            &key,
            "Privilege Escalation Tool in Privileged Container",
            "Critical",
            &[
                ("proc.name", json!("nsenter")),
                ("proc.cmdline", json!("nsenter --version")),
                ("container.id", json!(c.short_id())),
            ],
        ) {
            let caps = a["output_fields"]["thread.cap_effective"]
                .as_str()
                .unwrap_or("");
            if !caps.contains("CAP_SYS_ADMIN") {
                l.failures.push(format!(
                    "nsenter in container: caps {caps:?} lack CAP_SYS_ADMIN"
                ));
            }
        }
        // Near miss: a harmless tool in the same kind of container.
        let c2 = FakeContainer::new(Layout::DockerV2);
        l.act(c2.command("ls").arg("--version"));
        l.miss_with(
            "ls in a privileged container (only the catch-all)",
            Key::Container(c2.short_id().to_string()),
            only_catch_all_for(&["ls"]),
        );
        // Near miss: the escalation tool without CAP_SYS_ADMIN.
        let c3 = FakeContainer::new(Layout::ContainerdV1);
        l.act(
            c3.command("setpriv")
                .args(["--bounding-set", "-sys_admin", "nsenter", "--version"]),
        );
        l.miss_with(
            "nsenter in a container without CAP_SYS_ADMIN (only the catch-all)",
            Key::Container(c3.short_id().to_string()),
            only_catch_all_for(&["setpriv", "nsenter"]),
        );
        // Let the cgroups go only after their alerts are in.
        l.d.wait_alerts(
            |a| Key::Container(c3.short_id().into()).matches(a),
            2,
            TIMEOUT,
        );
    }

    // ---- Namespace Change via setns
    {
        let (n, _) = l.nonce_file("setns");
        let end = l.act(common::quiet("nsenter").args(["--net=/proc/self/ns/net", "true", &n]));
        if let Some(a) = l.expect(
            "nsenter --net joins its own network namespace",
            end,
            &Key::Text(n.clone()),
            "Namespace Change via setns",
            "Notice",
            &[
                ("proc.name", json!("nsenter")),
                ("container.id", json!("host")),
            ],
        ) {
            let t = a["output_fields"]["evt.arg.nstype"].as_str().unwrap_or("");
            if !t.contains("CLONE_NEWNET") {
                l.failures
                    .push(format!("setns: nstype {t:?} lacks CLONE_NEWNET"));
            }
            // The kernel resolves the namespace fd: net:[inode].
            let f = a["output_fields"]["fd.name"].as_str().unwrap_or("");
            if !f.starts_with("net:[") {
                l.failures
                    .push(format!("setns: fd.name {f:?} is not net:[...]"));
            }
        }
        let (n2, _) = l.nonce_file("setns-fail");
        l.act(common::quiet("nsenter").args(["--net=/etc/hostname", "true", &n2]));
        l.miss(
            "setns on a file that is not a namespace (EINVAL)",
            Key::Text(n2),
        );
        let bwrap = common::symlink_as(&tmp, "bwrap", common::which("nsenter").expect("nsenter"));
        let (n3, _) = l.nonce_file("setns-mgr");
        l.act(common::quiet(&bwrap).args(["--net=/proc/self/ns/net", "true", &n3]));
        l.miss("setns by a namespace manager (bwrap)", Key::Text(n3));
    }

    // ---- Namespace Change via unshare
    {
        let (n, _) = l.nonce_file("unshare");
        let end = l.act(common::quiet("unshare").args(["-m", "true", &n]));
        if let Some(a) = l.expect(
            "unshare -m",
            end,
            &Key::Text(n.clone()),
            "Namespace Change via unshare",
            "Notice",
            &[
                ("proc.name", json!("unshare")),
                ("container.id", json!("host")),
            ],
        ) {
            let f = a["output_fields"]["evt.arg.flags"].as_str().unwrap_or("");
            if !f.contains("CLONE_NEWNS") {
                l.failures
                    .push(format!("unshare: flags {f:?} lack CLONE_NEWNS"));
            }
        }
        let (n2, _) = l.nonce_file("unshare-fs");
        l.act(common::quiet(&py).args([
            "-c",
            "import ctypes,sys; l=ctypes.CDLL(None, use_errno=True); sys.exit(l.unshare(0x200))",
            &n2,
        ]));
        l.miss("unshare(CLONE_FS): no new namespace", Key::Text(n2));
        let helper = common::symlink_as(
            &tmp,
            "unshare-helper",
            common::which("unshare").expect("unshare"),
        );
        let (n3, _) = l.nonce_file("unshare-mgr");
        l.act(common::quiet(&helper).args(["-m", "true", &n3]));
        l.miss(
            "unshare by a namespace manager (unshare-helper)",
            Key::Text(n3),
        );
    }

    // ---- Read Sensitive File
    {
        let (n, nf) = l.nonce_file("shadow");
        let end = l.act(common::quiet("cat").arg("/etc/shadow").arg(&nf));
        l.expect(
            "cat /etc/shadow",
            end,
            &Key::Text(n.clone()),
            "Read Sensitive File",
            "Warning",
            &[
                ("fd.name", json!("/etc/shadow")),
                ("proc.name", json!("cat")),
                ("proc.cmdline", json!(format!("cat /etc/shadow {}", s(&nf)))),
                ("user.name", json!("root")),
                ("container.id", json!("host")),
            ],
        );
        let c = FakeContainer::new(Layout::ContainerdV2);
        let end = l.act(c.command("cat").arg("/etc/gshadow"));
        l.expect(
            "cat /etc/gshadow in a containerd (cgroup v2) container",
            end,
            &Key::Container(c.short_id().to_string()),
            "Read Sensitive File",
            "Warning",
            &[
                ("fd.name", json!("/etc/gshadow")),
                ("proc.name", json!("cat")),
                ("container.id", json!(c.short_id())),
            ],
        );
        // A forked subshell (no exec) inherits the container.
        let c2 = FakeContainer::new(Layout::DockerV2);
        let end = l.act(c2.command("sh").args(["-c", "(: < /etc/shadow); true"]));
        l.expect(
            "a forked subshell (no exec) in a docker (cgroup v2) container reads /etc/shadow",
            end,
            &Key::Container(c2.short_id().to_string()),
            "Read Sensitive File",
            "Warning",
            &[
                ("fd.name", json!("/etc/shadow")),
                ("proc.name", json!("sh")),
                ("proc.pname", json!("sh")),
                ("container.id", json!(c2.short_id())),
            ],
        );
        let (n2, nf2) = l.nonce_file("hostname");
        l.act(common::quiet("cat").arg("/etc/hostname").arg(&nf2));
        l.miss("cat /etc/hostname", Key::Text(n2));
        let chk = common::symlink_as(&tmp, "unix_chkpwd", common::which("cat").expect("cat"));
        let (n3, nf3) = l.nonce_file("chkpwd");
        l.act(common::quiet(&chk).arg("/etc/shadow").arg(&nf3));
        l.miss(
            "/etc/shadow read by a credential reader (unix_chkpwd)",
            Key::Text(n3),
        );
    }

    // ---- Write to Root SSH Directory
    {
        let ssh = Path::new("/root/.ssh");
        let mut cleanup = Cleanup(Vec::new());
        if !ssh.exists() {
            std::fs::create_dir(ssh).expect("create /root/.ssh");
            std::fs::set_permissions(ssh, std::fs::Permissions::from_mode(0o700)).unwrap();
            cleanup.0.push(ssh.to_path_buf());
        }
        let n = common::nonce("sshkey");
        let f = ssh.join(&n);
        cleanup.0.push(f.clone());
        let end = l.act(common::quiet("touch").arg(&f));
        l.expect(
            "touch /root/.ssh/<new file>",
            end,
            &Key::Text(n.clone()),
            "Write to Root SSH Directory",
            "Error",
            &[("fd.name", json!(s(&f))), ("proc.name", json!("touch"))],
        );
        let fake = tmp.join(".ssh");
        std::fs::create_dir(&fake).unwrap();
        let n2 = common::nonce("fake-ssh");
        l.act(common::quiet("touch").arg(fake.join(&n2)));
        l.miss("write to a .ssh directory outside /root", Key::Text(n2));
    }

    // ---- Coreutils / Login / Shadow Utils Binary Tampering, Write Below Binary Dir
    {
        let dir = scratch_binary_dir(&["ls", "su", "passwd"]);
        let mut cleanup = Cleanup(Vec::new());
        for (name, rule) in [
            ("ls", "Coreutils Binary Tampering"),
            ("su", "Login Binary Tampering"),
            ("passwd", "Shadow Utils Binary Tampering"),
        ] {
            let f = dir.join(name);
            cleanup.0.push(f.clone());
            let (n, nf) = l.nonce_file(name);
            let end = l.act(common::quiet("touch").arg(&f).arg(&nf));
            l.expect(
                &format!("touch {}", f.display()),
                end,
                &Key::Text(n.clone()),
                rule,
                "Critical",
                &[("fd.name", json!(s(&f))), ("proc.name", json!("touch"))],
            );
            if name == "ls" {
                // The deletion is tampering too (the rename/unlink branch).
                let (n, nf) = l.nonce_file("rm-ls");
                let end = l.act(common::quiet("rm").arg("-f").arg(&f).arg(&nf));
                l.expect(
                    &format!("rm {}", f.display()),
                    end,
                    &Key::Text(n),
                    rule,
                    "Critical",
                    &[("evt.type", json!("unlinkat")), ("proc.name", json!("rm"))],
                );
            } else {
                common::best_effort("remove file", std::fs::remove_file(&f));
            }
            // Near miss: the same name outside the binary directories.
            let sub = tmp.join(format!("build-{name}"));
            std::fs::create_dir(&sub).unwrap();
            let (n2, nf2) = l.nonce_file(&format!("{name}-elsewhere"));
            l.act(common::quiet("touch").arg(sub.join(name)).arg(&nf2));
            l.act(common::quiet("rm").arg(sub.join(name)).arg(&nf2));
            l.miss(
                &format!("touch and rm of {name} in a temp dir"),
                Key::Text(n2),
            );
        }
        // A package manager may write there.
        let dpkg = common::symlink_as(&tmp, "dpkg", common::which("touch").expect("touch"));
        let f = dir.join("passwd");
        cleanup.0.push(f.clone());
        let (n, nf) = l.nonce_file("dpkg");
        l.act(common::quiet(&dpkg).arg(&f).arg(&nf));
        l.miss(&format!("{} written by dpkg", f.display()), Key::Text(n));
        common::best_effort("remove file", std::fs::remove_file(&f));

        let n = common::nonce("newbin");
        let f = dir.join(&n);
        cleanup.0.push(f.clone());
        let end = l.act(common::quiet("touch").arg(&f));
        l.expect(
            "new file in a binary directory",
            end,
            &Key::Text(n.clone()),
            "Write Below Binary Dir",
            "Error",
            &[("fd.name", json!(s(&f))), ("proc.name", json!("touch"))],
        );
        let (n2, nf2) = l.nonce_file("readbin");
        l.act(common::quiet("cat").arg("/usr/bin/true").arg(&nf2));
        l.miss("reading /usr/bin/true", Key::Text(n2));
    }

    // ---- Write Below Etc
    {
        let mut cleanup = Cleanup(Vec::new());
        let n = common::nonce("etc");
        let f = Path::new("/etc").join(&n);
        cleanup.0.push(f.clone());
        let end = l.act(common::quiet("touch").arg(&f));
        l.expect(
            "touch /etc/<new file>",
            end,
            &Key::Text(n),
            "Write Below Etc",
            "Error",
            &[("fd.name", json!(s(&f))), ("proc.name", json!("touch"))],
        );
        let useradd = common::symlink_as(&tmp, "useradd", common::which("touch").expect("touch"));
        let n2 = common::nonce("etc-useradd");
        let f2 = Path::new("/etc").join(&n2);
        cleanup.0.push(f2.clone());
        l.act(common::quiet(&useradd).arg(&f2));
        // Removed by an account tool too (the harness's own unlink would be
        // a change below /etc by a test program).
        let userdel = common::symlink_as(&tmp, "userdel", common::which("rm").expect("rm"));
        l.act(common::quiet(&userdel).arg(&f2));
        l.miss("/etc written and removed by account tools", Key::Text(n2));
    }

    // ---- Symlink / Hardlink to Sensitive File
    {
        let n = common::nonce("symlink");
        let link = tmp.join(&n);
        let end = l.act(common::quiet("ln").arg("-s").arg("/etc/shadow").arg(&link));
        l.expect(
            "ln -s /etc/shadow",
            end,
            &Key::Text(n),
            "Symlink to Sensitive File",
            "Warning",
            &[
                ("evt.arg.target", json!("/etc/shadow")),
                ("evt.arg.linkpath", json!(s(&link))),
                ("proc.name", json!("ln")),
            ],
        );
        let n2 = common::nonce("symlink-ok");
        l.act(
            common::quiet("ln")
                .arg("-s")
                .arg("/etc/hostname")
                .arg(tmp.join(&n2)),
        );
        l.miss("ln -s /etc/hostname", Key::Text(n2));

        let dir = same_fs_as_shadow(&tmp);
        let n = common::nonce("hardlink");
        let hl = dir.join(&n);
        let _c = Cleanup(vec![hl.clone()]);
        let end = l.act(common::quiet("ln").arg("/etc/shadow").arg(&hl));
        l.expect(
            "ln /etc/shadow (hard link)",
            end,
            &Key::Text(n),
            "Hardlink to Sensitive File",
            "Warning",
            &[
                ("evt.arg.oldpath", json!("/etc/shadow")),
                ("evt.arg.newpath", json!(s(&hl))),
                ("proc.name", json!("ln")),
            ],
        );
        let (n2, nf2) = l.nonce_file("hardlink-ok");
        l.act(
            common::quiet("ln")
                .arg(&nf2)
                .arg(tmp.join(format!("{n2}.link"))),
        );
        l.miss("hard link to a temp file", Key::Text(n2));
    }

    // ---- Set Setuid or Setgid Bit, Permission / Ownership Change on Sensitive File
    {
        let (n, nf) = l.nonce_file("setuid");
        let end = l.act(common::quiet("chmod").arg("u+s").arg(&nf));
        if let Some(a) = l.expect(
            "chmod u+s",
            end,
            &Key::Text(n),
            "Set Setuid or Setgid Bit",
            "Notice",
            &[
                ("evt.arg.filename", json!(s(&nf))),
                ("proc.name", json!("chmod")),
            ],
        ) {
            let m = a["output_fields"]["evt.arg.mode"].as_str().unwrap_or("");
            if !m.contains("S_ISUID") {
                l.failures
                    .push(format!("chmod u+s: mode {m:?} lacks S_ISUID"));
            }
        }
        let (n2, nf2) = l.nonce_file("chmod-plain");
        l.act(common::quiet("chmod").arg("0755").arg(&nf2));
        l.miss("chmod 0755", Key::Text(n2));

        use std::os::unix::fs::MetadataExt;
        let before = std::fs::metadata("/etc/shadow").unwrap();
        let (n, nf) = l.nonce_file("chmod-shadow");
        let end = l.act(
            common::quiet("chmod")
                .arg("--reference=/etc/shadow")
                .arg("/etc/shadow")
                .arg(&nf),
        );
        l.expect(
            "chmod of /etc/shadow (mode unchanged)",
            end,
            &Key::Text(n),
            "Permission Change on Sensitive File",
            "Warning",
            &[
                ("evt.arg.filename", json!("/etc/shadow")),
                ("proc.name", json!("chmod")),
            ],
        );
        let (n, nf) = l.nonce_file("chown-shadow");
        let end = l.act(
            common::quiet("chown")
                .arg("--reference=/etc/shadow")
                .arg("/etc/shadow")
                .arg(&nf),
        );
        if let Some(a) = l.expect(
            "chown of /etc/shadow (owner unchanged)",
            end,
            &Key::Text(n),
            "Ownership Change on Sensitive File",
            "Warning",
            &[("proc.name", json!("chown"))],
        ) {
            let f = &a["output_fields"];
            if f["evt.arg.pathname"] != "/etc/shadow" && f["evt.arg.path"] != "/etc/shadow" {
                l.failures.push(format!(
                    "chown /etc/shadow: neither path nor pathname names it: {a}"
                ));
            }
        }
        let after = std::fs::metadata("/etc/shadow").unwrap();
        assert_eq!(
            (before.mode(), before.uid(), before.gid()),
            (after.mode(), after.uid(), after.gid()),
            "/etc/shadow must keep its mode and owner"
        );
        let (n2, nf2) = l.nonce_file("chown-plain");
        l.act(common::quiet("chown").arg("root:root").arg(&nf2));
        l.miss("chown of a temp file", Key::Text(n2));
    }

    // ---- Clear Log File
    {
        let mut cleanup = Cleanup(Vec::new());
        let n = common::nonce("log");
        let f = Path::new("/var/log").join(format!("{n}.log"));
        cleanup.0.push(f.clone());
        let end = l.act(
            common::quiet("sh")
                .arg("-c")
                .arg(format!(": > {}", f.display())),
        );
        l.expect(
            "truncating a file below /var/log",
            end,
            &Key::Text(n.clone()),
            "Clear Log File",
            "Warning",
            &[("fd.name", json!(s(&f))), ("proc.name", json!("sh"))],
        );
        let (n_rm, nf) = l.nonce_file("rm-log");
        let end = l.act(common::quiet("rm").arg(&f).arg(&nf));
        l.expect(
            "rm of a file below /var/log",
            end,
            &Key::Text(n_rm),
            "Clear Log File",
            "Warning",
            &[("evt.type", json!("unlinkat")), ("proc.name", json!("rm"))],
        );
        let n2 = common::nonce("log-append");
        let f2 = Path::new("/var/log").join(format!("{n2}.log"));
        cleanup.0.push(f2.clone());
        l.act(
            common::quiet("sh")
                .arg("-c")
                .arg(format!("echo x >> {}", f2.display())),
        );
        let logrotate = common::symlink_as(&tmp, "logrotate", common::which("rm").expect("rm"));
        l.act(common::quiet(&logrotate).arg(&f2));
        l.miss(
            "append to, then rotate away, a file below /var/log",
            Key::Text(n2),
        );
    }

    // ---- Reverse Shell Redirect, Shell Outbound Connection, Suspicious Port
    {
        let lo = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = lo.local_addr().unwrap().port();
        let n = common::nonce("revshell");
        let end = l.act(common::quiet("bash").args([
            "-c",
            &format!("exec 3<>/dev/tcp/127.0.0.1/{port}; exec 1>&3; true"),
            &n,
        ]));
        if let Some(a) = l.expect(
            "bash redirects stdout to a TCP socket",
            end,
            &Key::Text(n),
            "Reverse Shell Redirect",
            "Critical",
            &[("proc.name", json!("bash")), ("evt.rawres", json!(1))],
        ) {
            let fd = a["output_fields"]["fd.name"].as_str().unwrap_or("");
            if !fd.ends_with(&format!("->127.0.0.1:{port}")) {
                l.failures.push(format!("reverse shell: fd.name {fd:?}"));
            }
        }
        let n2 = common::nonce("dupfile");
        l.act(common::quiet("bash").args([
            "-c",
            &format!("exec 3>{}/out; exec 1>&3; true", tmp.display()),
            &n2,
        ]));
        l.miss("dup2 of a file onto stdout", Key::Text(n2));

        let ip = local_ipv4();
        let any = TcpListener::bind("0.0.0.0:0").unwrap();
        let aport = any.local_addr().unwrap().port();
        let n = common::nonce("shellconn");
        let end = l.act(common::quiet("bash").args([
            "-c",
            &format!("exec 3<>/dev/tcp/{ip}/{aport}; true"),
            &n,
        ]));
        if let Some(a) = l.expect(
            "bash connects to a non-loopback address",
            end,
            &Key::Text(n),
            "Shell Outbound Connection",
            "Warning",
            &[("proc.name", json!("bash"))],
        ) {
            let fd = a["output_fields"]["fd.name"].as_str().unwrap_or("");
            if !fd.ends_with(&format!("->{ip}:{aport}")) {
                l.failures.push(format!("shell connection: fd.name {fd:?}"));
            }
        }
        let n2 = common::nonce("shellconn-lo");
        l.act(common::quiet("bash").args([
            "-c",
            &format!("exec 3<>/dev/tcp/127.0.0.1/{aport}; true"),
            &n2,
        ]));
        l.miss("bash connects to loopback", Key::Text(n2));

        let sus = suspicious_listener();
        let sport = sus.local_addr().unwrap().port();
        let script =
            "import socket,sys; socket.create_connection(('127.0.0.1', int(sys.argv[1]))).close()";
        let n = common::nonce("susport");
        let end = l.act(common::quiet(&py).args(["-c", script, &sport.to_string(), &n]));
        l.expect(
            "connect to a suspicious port",
            end,
            &Key::Text(n),
            "Outbound Connection to Suspicious Port",
            "Warning",
            &[("fd.sport", json!(sport)), ("proc.name", json!("python3"))],
        );
        let n2 = common::nonce("okport");
        l.act(common::quiet(&py).args(["-c", script, &port.to_string(), &n2]));
        l.miss("connect to an ordinary port", Key::Text(n2));
        drop((lo, any, sus));
    }

    // ---- Packet Socket Created
    {
        let script = "import socket,sys; socket.socket(getattr(socket, sys.argv[1]), socket.SOCK_RAW if sys.argv[1] == 'AF_PACKET' else socket.SOCK_DGRAM).close()";
        let n = common::nonce("packet");
        let end = l.act(common::quiet(&py).args(["-c", script, "AF_PACKET", &n]));
        l.expect(
            "AF_PACKET socket",
            end,
            &Key::Text(n),
            "Packet Socket Created",
            "Notice",
            &[
                ("proc.name", json!("python3")),
                ("container.id", json!("host")),
            ],
        );
        let tcpdump = common::symlink_as(&tmp, "tcpdump", &py);
        let n2 = common::nonce("packet-tcpdump");
        l.act(common::quiet(&tcpdump).args(["-c", script, "AF_PACKET", &n2]));
        l.miss("AF_PACKET socket by tcpdump", Key::Text(n2));
        let n3 = common::nonce("inet-socket");
        l.act(common::quiet(&py).args(["-c", script, "AF_INET", &n3]));
        l.miss("AF_INET socket", Key::Text(n3));
    }

    // ---- io_uring Ring Set Up by Unexpected Program: io_uring_setup(2)
    // (425) from python; the same from a program named like fio is quiet.
    {
        let script = "import ctypes,os,sys; l=ctypes.CDLL(None, use_errno=True); p=ctypes.create_string_buffer(120); fd=l.syscall(425, 4, p); sys.exit(1) if fd < 0 else os.close(fd)";
        let n = common::nonce("uring");
        let end = l.act(common::quiet(&py).args(["-c", script, &n]));
        l.expect(
            "io_uring_setup",
            end,
            &Key::Text(n),
            "io_uring Ring Set Up by Unexpected Program",
            "Notice",
            &[
                ("proc.name", json!("python3")),
                ("evt.arg.entries", json!("4")),
                ("container.id", json!("host")),
            ],
        );
        let fio = common::symlink_as(&tmp, "fio", &py);
        let n2 = common::nonce("uring-fio");
        l.act(common::quiet(&fio).args(["-c", script, &n2]));
        l.miss("io_uring_setup by fio", Key::Text(n2));
    }

    // ---- Kernel Module Loaded: no module support here (see the header);
    // a real, failing finit_module must stay quiet.
    {
        let (n, nf) = l.nonce_file("finit");
        let st = common::run(common::quiet(&py).args([
            "-c",
            "import ctypes,os,sys; l=ctypes.CDLL(None, use_errno=True); fd=os.open(sys.argv[1], os.O_RDONLY); r=l.syscall(313, fd, b'', 0); sys.exit(0 if r != 0 else 1)",
            &s(&nf),
        ]));
        assert!(st.success(), "finit_module of an empty file must fail");
        l.miss("failed finit_module", Key::Text(n));
    }

    // ---- Shell Spawned by Server Process
    {
        let nginx = common::copy_as(&tmp, "nginx", "/bin/bash");
        let n = common::nonce("srvshell");
        let end = l.act(common::quiet(&nginx).args(["-c", &format!("sh -c true {n}; true")]));
        l.expect(
            "nginx runs sh",
            end,
            &Key::Text(format!("sh -c true {n}")),
            "Shell Spawned by Server Process",
            "Critical",
            &[
                ("proc.name", json!("sh")),
                ("proc.pname", json!("nginx")),
                ("proc.cmdline", json!(format!("sh -c true {n}"))),
                ("container.id", json!("host")),
            ],
        );
        let (n2, nf2) = l.nonce_file("srv-ls");
        l.act(
            common::quiet(&nginx).args(["-c", &format!("ls {} > /dev/null; true", nf2.display())]),
        );
        l.miss("nginx runs ls", Key::Text(n2));
        let n3 = common::nonce("hostshell");
        l.act(common::quiet("sh").args(["-c", "true", &n3]));
        l.miss(
            "a shell outside any container, parent not a server",
            Key::Text(n3),
        );
    }

    // ---- Shell Spawned in Container, Process Spawned in Container
    {
        let c = FakeContainer::new(Layout::DockerV2);
        let n = common::nonce("ctrshell");
        let end = l.act(c.command("sh").args(["-c", "true", &n]));
        l.expect(
            "sh in a docker (cgroup v2) container",
            end,
            &Key::Container(c.short_id().to_string()),
            "Shell Spawned in Container",
            "Notice",
            &[
                ("proc.name", json!("sh")),
                ("proc.cmdline", json!(format!("sh -c true {n}"))),
                ("container.id", json!(c.short_id())),
            ],
        );
        let c2 = FakeContainer::new(Layout::ContainerdV2);
        let runc = common::copy_as(&tmp, "runc", "/bin/bash");
        let end = l.act(c2.command(&runc).args(["-c", "sh -c true; true"]));
        // A shell whose parent is the runtime's entry point, without a
        // terminal: a scripted exec session (docker exec, kubectl exec).
        l.expect(
            "sh started by runc in a container, no terminal (exec session)",
            end,
            &Key::Container(c2.short_id().to_string()),
            "Exec Session in Container",
            "Informational",
            &[
                ("proc.name", json!("sh")),
                ("proc.pname", json!("runc")),
                ("container.id", json!(c2.short_id())),
            ],
        );

        let c3 = FakeContainer::new(Layout::ContainerdV1);
        let truebin = Path::new("/bin/true").canonicalize().unwrap();
        let end = l.act(c3.command("/bin/true").arg("--help"));
        l.expect(
            "true in a containerd (cgroup v1) container",
            end,
            &Key::Container(c3.short_id().to_string()),
            "Process Spawned in Container",
            "Informational",
            &[
                ("proc.name", json!("true")),
                ("proc.exepath", json!(s(&truebin))),
                ("proc.cmdline", json!("true --help")),
                ("container.id", json!(c3.short_id())),
            ],
        );
        let (n2, nf2) = l.nonce_file("hosttrue");
        l.act(common::quiet("/bin/true").arg(&nf2));
        l.miss("true on the host", Key::Text(n2));
        l.d.wait_alerts(
            |a| Key::Container(c2.short_id().into()).matches(a),
            1,
            TIMEOUT,
        );
    }

    // ---- SSH or SCP Launched
    {
        let ssh = common::which("ssh").unwrap_or_else(|| {
            // No OpenSSH client: a program named ssh is what the rule sees.
            common::symlink_as(&tmp, "ssh", "/bin/true")
        });
        let n = common::nonce("ssh");
        let end = l.act(common::quiet(&ssh).args(["-V", &n]));
        l.expect(
            "ssh -V",
            end,
            &Key::Text(n),
            "SSH or SCP Launched",
            "Notice",
            &[("proc.name", json!("ssh")), ("container.id", json!("host"))],
        );
        let keygen = common::which("ssh-keygen")
            .unwrap_or_else(|| common::symlink_as(&tmp, "ssh-keygen", "/bin/true"));
        let n2 = common::nonce("ssh-keygen");
        l.act(common::quiet(&keygen).args(["-l", "-f", "/dev/null", &n2]));
        l.miss("ssh-keygen", Key::Text(n2));
    }

    // ---- Sentinel, then the near misses.
    let (sn, snf) = l.nonce_file("sentinel");
    let end = l.act(common::quiet("cat").arg("/etc/shadow").arg(&snf));
    l.expect(
        "sentinel",
        end,
        &Key::Text(sn),
        "Read Sensitive File",
        "Warning",
        &[],
    );
    // Events of other CPUs may be up to the attribution wait (20 ms) behind.
    std::thread::sleep(Duration::from_millis(300));
    let misses = std::mem::take(&mut l.misses);
    for m in &misses {
        let got = l.d.alerts_where(|a| m.key.matches(a));
        if let Err(e) = (m.check)(&got) {
            l.failures.push(format!("near miss '{}': {e}", m.what));
        }
    }
    let other = l.d.other_stdout();
    if !other.is_empty() {
        l.failures
            .push(format!("stdout lines that are not JSON alerts: {other:?}"));
    }
    let metrics = l.d.metrics();
    for rule in [
        "Read Sensitive File",
        "Shell Spawned in Container",
        "Process Spawned in Container",
    ] {
        if metrics.sum("kestrel_alerts_total", &[("rule", rule)]) < 1.0 {
            l.failures.push(format!(
                "kestrel_alerts_total{{rule=\"{rule}\"}} did not count"
            ));
        }
    }
    let Live {
        failures, passed, ..
    } = l;
    eprintln!(
        "{} checks passed, {} near misses checked",
        passed.len(),
        misses.len()
    );
    let marked_off = metrics.sum("kestrel_worker_events_marked_off_total", &[]);
    d.stop();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    marked_off
}
