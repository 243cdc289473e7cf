//! A dockerd of a test's own (root): its own data root, exec root and
//! socket, no bridge or iptables; it starts its own containerd and runs
//! containers with runc. The test image is imported from a busybox-static
//! root filesystem. Stopped, with its containers, on drop.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::require_root;

pub const IMAGE: &str = "kestrel-test/busybox:1.0";

/// A dockerd of the test's own.
pub struct Dockerd {
    child: Child,
    /// Its data, exec root, socket and log.
    pub dir: tempfile::TempDir,
    /// Its API socket.
    pub sock: PathBuf,
}

/// The docker client: Debian's (docker.io, the daemon's own version) when
/// present, else whichever `docker` is on PATH.
pub fn docker_cli() -> &'static str {
    if Path::new("/usr/bin/docker").exists() {
        "/usr/bin/docker"
    } else {
        "docker"
    }
}

impl Dockerd {
    pub fn start() -> Dockerd {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("kestrel-dockerd")
            .tempdir_in("/var/tmp")
            .expect("tempdir");
        let sock = dir.path().join("docker.sock");
        let child = spawn_dockerd(dir.path(), &sock);
        let d = Dockerd { child, dir, sock };
        d.wait_ready();
        d.import_image();
        d
    }

    /// Stops dockerd (SIGTERM: it stops its containers and its containerd,
    /// as on a node whose Docker is restarted) and starts it again on the
    /// same data root and socket.
    pub fn restart(&mut self) {
        super::stop_runtime("dockerd", &mut self.child);
        eprintln!("dockerd stopped; starting it again");
        self.child = spawn_dockerd(self.dir.path(), &self.sock);
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if self
                .docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success()
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dockerd.log")).unwrap_or_default()
    }

    pub fn docker(&self, args: &[&str]) -> Output {
        Command::new(docker_cli())
            .arg("--host")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run docker")
    }

    pub fn docker_ok(&self, args: &[&str]) -> String {
        let mut cmd = Command::new(docker_cli());
        cmd.arg("--host")
            .arg(format!("unix://{}", self.sock.display()))
            .args(args);
        super::cli_ok(cmd)
    }

    /// The test image: a root filesystem of busybox-static (every applet)
    /// with a passwd and a shadow file, imported with `docker import`.
    pub fn import_image(&self) {
        // Every applet this busybox has (`busybox --list`), so scripts
        // run in the image as they would on a busybox-based host.
        let list = Command::new("/bin/busybox")
            .arg("--list")
            .output()
            .expect("busybox --list (apt-get install busybox-static)");
        let text = String::from_utf8_lossy(&list.stdout).into_owned();
        let applets: Vec<&str> = text
            .split_whitespace()
            .filter(|a| *a != "busybox")
            .collect();
        assert!(applets.contains(&"sh"), "busybox without sh: {text}");
        let tar = super::busybox_rootfs_tar(self.dir.path(), &applets);
        self.docker_ok(&["import", tar.to_str().unwrap(), IMAGE]);
    }

    /// A kestrel configuration that reads this dockerd (and no other
    /// runtime), with the event stream on or off.
    pub fn kestrel_config(&self, events: bool) -> PathBuf {
        super::runtime_config(self.dir.path(), "docker", &self.sock, events)
    }
}

/// dockerd on `sock` with its data, exec root, pid file and log in `dir`
/// (the log is appended to, so a restart keeps the earlier run's lines).
fn spawn_dockerd(dir: &Path, sock: &Path) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("dockerd.log"))
        .expect("log file");
    // No bridge or iptables: this VM's network is not the subject, and
    // containers run with --network none.
    Command::new("dockerd")
        .arg("--host")
        .arg(format!("unix://{}", sock.display()))
        .arg("--data-root")
        .arg(dir.join("data"))
        .arg("--exec-root")
        .arg(dir.join("exec"))
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("spawn dockerd (apt-get install docker.io)")
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        // Containers first, then the daemon (which stops its containerd).
        let ids = self.docker(&["ps", "-aq"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let o = self.docker(&["rm", "-f", id]);
            if !o.status.success() {
                eprintln!(
                    "clean-up: docker rm -f {id}: {}",
                    String::from_utf8_lossy(&o.stderr)
                );
            }
        }
        super::stop_runtime("dockerd", &mut self.child);
        // dockerd leaves its default network namespace (an nsfs mount)
        // under the exec root; while it is mounted the directory cannot be
        // removed.
        super::unmount_below(self.dir.path());
    }
}
