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
        let log = std::fs::File::create(dir.path().join("dockerd.log")).expect("log file");
        // No bridge or iptables: this VM's network is not the subject, and
        // containers run with --network none.
        let child = Command::new("dockerd")
            .arg("--host")
            .arg(format!("unix://{}", sock.display()))
            .arg("--data-root")
            .arg(dir.path().join("data"))
            .arg("--exec-root")
            .arg(dir.path().join("exec"))
            .arg("--pidfile")
            .arg(dir.path().join("dockerd.pid"))
            .args(["--iptables=false", "--ip6tables=false", "--bridge=none"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("spawn dockerd (apt-get install docker.io)");
        let d = Dockerd { child, dir, sock };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if d.docker(&["version", "--format", "{{.Server.Version}}"])
                .status
                .success()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not answer within 60 s; its log:\n{}",
                d.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        d.import_image();
        d
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
        // dockerd leaves mounts under its exec root (the nsfs of
        // exec/netns/default); detach them, deepest first, so that the
        // TempDir can be removed.
        for m in mounts_under(self.dir.path()).iter().rev() {
            let o = Command::new("umount").arg("-l").arg(m).output();
            if !o.as_ref().is_ok_and(|o| o.status.success()) {
                eprintln!("clean-up: umount -l {}: {o:?}", m.display());
            }
        }
    }
}

/// Mount points at or below `dir`, in mount order (from
/// /proc/self/mountinfo; its octal escapes decoded).
fn mounts_under(dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect()
}

/// Decodes mountinfo's `\NNN` octal escapes (space, tab, newline, `\`).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let oct = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) if b[i] == b'\\' => {
                out.push(d.iter().fold(0u8, |n, c| n.wrapping_mul(8) + (c - b'0')));
                i += 4;
            }
            _ => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}
