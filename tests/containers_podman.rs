//! Real podman, end to end (root): each test runs podman with its own
//! storage (root, runroot, tmpdir), serves podman's API on a socket of its
//! own (`podman system service`, the Docker-compatible endpoints kestrel
//! reads), imports an image made from busybox-static and runs real
//! containers with the podman CLI while a real kestrel daemon watches.
//!
//! What it shows (issue: real containers): podman's libpod cgroup naming
//! gives `container.type = podman`; a short-lived container's first event
//! has its name and image (from podman's event stream, fetched at create);
//! `podman exec -it` of a shell raises "Terminal Shell in Container"; removed
//! containers leave the cache (podman reports `remove` where Docker says
//! `destroy`).
//!
//! This VM's hard RLIMIT_NOFILE is below podman's default for containers
//! (1048576) and the daemon lacks CAP_SYS_RESOURCE to raise it, so runc
//! refuses to start containers with podman's defaults ("error setting
//! rlimit type 7"); the tests pass `--ulimit nofile=1024:1024`.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{container_alert, field, nonce, require_root, serial, Daemon, DaemonOpts};

const IMAGE: &str = "kestrel.local/busybox:1.0";

/// podman with storage of the test's own, and its API service.
struct Podman {
    service: Child,
    dir: tempfile::TempDir,
    sock: PathBuf,
}

impl Podman {
    fn start() -> Podman {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("kestrel-podman")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let sock = dir.path().join("podman.sock");
        let log = std::fs::File::create(dir.path().join("service.log")).expect("log");
        let service = Command::new("podman")
            .args(global_args(dir.path()))
            .args(["system", "service", "--time=0"])
            .arg(format!("unix://{}", sock.display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn podman system service (apt-get install podman)");
        let p = Podman { service, dir, sock };
        let deadline = Instant::now() + Duration::from_secs(30);
        while !p.sock.exists() {
            assert!(
                Instant::now() < deadline,
                "podman's API socket did not appear within 30 s: {}",
                std::fs::read_to_string(p.dir.path().join("service.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let tar = common::busybox_rootfs_tar(p.dir.path(), &["sh", "cat", "ls", "sleep", "true"]);
        p.podman_ok(&["import", tar.to_str().unwrap(), IMAGE]);
        p
    }

    fn podman(&self, args: &[&str]) -> Output {
        Command::new("podman")
            .args(global_args(self.dir.path()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run podman")
    }

    fn podman_ok(&self, args: &[&str]) -> String {
        let mut cmd = Command::new("podman");
        cmd.args(global_args(self.dir.path())).args(args);
        common::cli_ok(cmd)
    }

    /// `podman create` + `podman start -a` of a `--rm` container: the id
    /// is known before the container runs.
    fn run_rm(&self, name: &str, cmd: &[&str]) -> String {
        let mut args = vec!["create", "--rm", "--name", name];
        args.extend_from_slice(RUN_ARGS);
        args.push(IMAGE);
        args.extend_from_slice(cmd);
        let id = self.podman_ok(&args);
        self.podman_ok(&["start", "-a", &id]);
        id
    }

    fn kestrel(&self, options: Vec<String>) -> Daemon {
        let path = common::runtime_config(self.dir.path(), "podman", &self.sock, true);
        Daemon::start_with(DaemonOpts {
            options,
            config: Some(path),
            ..DaemonOpts::default()
        })
    }
}

/// Every podman call uses the test's storage, cgroupfs (no systemd here)
/// and a file events log the API service reads.
fn global_args(dir: &std::path::Path) -> Vec<String> {
    vec![
        format!("--root={}", dir.join("root").display()),
        format!("--runroot={}", dir.join("run").display()),
        format!("--tmpdir={}", dir.join("tmp").display()),
        "--cgroup-manager=cgroupfs".into(),
        "--events-backend=file".into(),
    ]
}

/// No network, and limits this VM lets runc set (see the module doc).
const RUN_ARGS: &[&str] = &[
    "--network",
    "none",
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

impl Drop for Podman {
    fn drop(&mut self) {
        let o = self.podman(&["rm", "-af"]);
        if !o.status.success() {
            eprintln!(
                "clean-up: podman rm -af: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
        common::stop_runtime("podman system service", &mut self.service);
        // podman leaves its storage mounted (overlay): unmount before the
        // directory goes.
        let o = self.podman(&["system", "reset", "--force"]);
        if !o.status.success() {
            eprintln!(
                "clean-up: podman system reset: {}",
                String::from_utf8_lossy(&o.stderr)
            );
        }
    }
}

#[test]
fn podman_container_alerts_with_metadata_and_exec_tty_alerts() {
    let _g = serial();
    let p = Podman::start();
    let d = p.kestrel(Vec::new());
    let name = nonce("pshadow");
    let id = p.run_rm(&name, &["cat", "/etc/shadow"]);
    let a = container_alert(&d, "Read Sensitive File", &id, |a| {
        field(a, "fd.name") == "/etc/shadow"
    });
    assert_eq!(field(&a, "container.name"), name.as_str(), "{a}");
    assert_eq!(
        field(&a, "container.image.repository"),
        "kestrel.local/busybox",
        "{a}"
    );
    assert_eq!(field(&a, "container.image.tag"), "1.0", "{a}");

    // podman exec -it under script(1), which gives it a terminal.
    let running = nonce("ptty");
    let mut args = vec!["run", "-d", "--name", &running];
    args.extend_from_slice(RUN_ARGS);
    args.extend_from_slice(&[IMAGE, "sleep", "600"]);
    let rid = p.podman_ok(&args);
    let line = format!(
        "podman {} exec -it {running} sh -c 'exit 0'",
        global_args(p.dir.path()).join(" ")
    );
    let o = Command::new("script")
        .args(["-qec", &line, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .expect("run script (apt-get install bsdutils)");
    assert!(
        o.status.success(),
        "{line}: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let b = container_alert(&d, "Terminal Shell in Container", &rid, |_| true);
    assert_eq!(field(&b, "proc.name"), "sh", "{b}");
    assert_eq!(field(&b, "container.name"), running.as_str(), "{b}");

    let m = d.metrics();
    assert!(m.sum("kestrel_container_stream_events_total", &[]) >= 1.0);
    assert_eq!(m.sum("kestrel_container_lookup_timeouts_total", &[]), 0.0);
    d.stop();
}

#[test]
fn removed_podman_containers_leave_the_metadata_cache() {
    let _g = serial();
    let p = Podman::start();
    let d = p.kestrel(vec!["container_engines.evict_after_s=1".into()]);
    let n = 3;
    for i in 0..n {
        let id = p.run_rm(&nonce(&format!("pchurn{i}")), &["cat", "/etc/shadow"]);
        container_alert(&d, "Read Sensitive File", &id, |_| true);
    }
    common::wait_container_cache_empty(&d, n);
    d.stop();
}
