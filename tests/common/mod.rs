//! Shared helpers of the end-to-end tests: start the real daemon (root,
//! eBPF) with JSON alerts on stdout and a free metrics port, wait until it
//! serves, collect its alerts, scrape its metrics, stop it with SIGTERM;
//! fake containers made of real cgroups; small process helpers.
//!
//! Tests that load the probe take [`serial`] first: they share the kernel
//! (and its rings), so they must not overlap even when the harness runs
//! tests on several threads. Without root they fail, they never skip.

#![allow(dead_code)] // each test binary uses a different subset

pub mod docker;

use std::ffi::CString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The daemon binary under test.
pub const KESTREL: &str = env!("CARGO_BIN_EXE_kestrel");

/// The repository root (rules/, ../shared/reference/ are relative to it).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Falco's unmodified stable rules.
pub fn falco_rules() -> PathBuf {
    repo().join("../shared/reference/falco_rules.yaml")
}

/// kestrel's default rules file.
pub fn default_rules() -> PathBuf {
    repo().join("rules/kestrel_rules.yaml")
}

/// The overlay that switches on the default file's two audit rules
/// ("Exec Session in Container", "Process Spawned in Container").
pub fn audit_rules() -> PathBuf {
    repo().join("rules/kestrel_audit.yaml")
}

/// The default rules with their audit rules on.
pub fn default_rules_with_audit() -> Vec<PathBuf> {
    vec![default_rules(), audit_rules()]
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Serialises the tests of one binary that touch the kernel. A failed
/// test poisons nothing for the others.
pub fn serial() -> MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Fails (never skips) when not root: the eBPF tests are part of CI.
pub fn require_root() {
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    assert_eq!(
        euid, 0,
        "this end-to-end test loads the eBPF probe and must run as root \
         (sudo scripts/test.sh); it fails rather than skips"
    );
}

/// A unique token for command lines and file names.
pub fn nonce(tag: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("ke2e-{tag}-{}-{n}", std::process::id())
}

/// 64 random lower-case hex digits (a container id).
pub fn random_hex64() -> String {
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .expect("read /dev/urandom");
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Options of [`Daemon::start_with`].
#[derive(Debug, Clone, Default)]
pub struct DaemonOpts {
    /// `-r` files (empty: the embedded default rules).
    pub rules: Vec<PathBuf>,
    /// `-o key=value` overrides, added after the harness's own.
    pub options: Vec<String>,
    /// `-c FILE`.
    pub config: Option<PathBuf>,
    /// Leave stdout as text (no `json_output=true`).
    pub text_output: bool,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// A command that runs kestrel (it must exec it, keeping the pid),
    /// e.g. `setpriv --bounding-set=... --`.
    pub wrapper: Vec<String>,
}

#[derive(Default)]
struct Collected {
    alerts: Vec<Value>,
    /// The alerts' lines as written.
    raw: Vec<String>,
    /// stdout lines that are not JSON objects.
    other: Vec<String>,
    stdout_closed: bool,
}

/// A running `kestrel` daemon.
pub struct Daemon {
    child: Option<Child>,
    /// The metrics/health server's address.
    pub addr: SocketAddr,
    out: Arc<(Mutex<Collected>, Condvar)>,
    err: Arc<Mutex<Vec<String>>>,
    readers: Vec<JoinHandle<()>>,
    /// Holds `track.token` (mode 0600): the `webserver.track` bearer token
    /// this daemon's POST /track requires.
    token_dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts the daemon with the embedded default rules.
    pub fn start() -> Daemon {
        Daemon::start_with(DaemonOpts::default())
    }

    /// Starts the daemon: JSON alerts on stdout (unless `text_output`), the
    /// web server on a free port; returns once `/healthz` answers. Panics
    /// with the daemon's stderr if it exits or does not get ready.
    pub fn start_with(o: DaemonOpts) -> Daemon {
        require_root();
        let mut cmd = match o.wrapper.split_first() {
            Some((prog, args)) => {
                let mut c = Command::new(prog);
                c.args(args).arg(KESTREL);
                c
            }
            None => Command::new(KESTREL),
        };
        if let Some(c) = &o.config {
            cmd.arg("-c").arg(c);
        }
        for r in &o.rules {
            cmd.arg("-r").arg(r);
        }
        if !o.text_output {
            cmd.args(["-o", "json_output=true"]);
        }
        // Port 0: the daemon picks a free port and logs it.
        cmd.args(["-o", "webserver.listen_port=0"]);
        // POST /track (kestrel-loadgen's reconciliation) with a token of
        // this daemon's own.
        let token_dir = tempdir();
        {
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(token_dir.path().join("track.token"))
                .expect("create the track token file");
            writeln!(f, "{}", random_hex64()).expect("write the track token");
        }
        // The single-instance lock: each test daemon its own, so that the
        // daemons of parallel tests (and of other checkouts) never collide.
        cmd.arg("-o").arg(format!(
            "kestrel.lock_file={}",
            token_dir.path().join("kestrel.lock").display()
        ));
        cmd.args(["-o", "webserver.track.enabled=true"]);
        cmd.arg("-o").arg(format!(
            "webserver.track.token_file={}",
            token_dir.path().join("track.token").display()
        ));
        for opt in &o.options {
            cmd.arg("-o").arg(opt);
        }
        cmd.envs(o.env.iter().map(|(k, v)| (k, v)));
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn kestrel");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        let out: Arc<(Mutex<Collected>, Condvar)> = Arc::default();
        let err: Arc<Mutex<Vec<String>>> = Arc::default();
        let addr_slot: Arc<(Mutex<Option<SocketAddr>>, Condvar)> = Arc::default();
        let o2 = Arc::clone(&out);
        let r1 = std::thread::spawn(move || {
            let rd = BufReader::new(stdout);
            for line in rd.lines() {
                let Ok(line) = line else { break };
                let (m, cv) = &*o2;
                let mut c = m.lock().unwrap();
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => {
                        c.alerts.push(v);
                        c.raw.push(line);
                    }
                    _ => c.other.push(line),
                }
                cv.notify_all();
            }
            let (m, cv) = &*o2;
            m.lock().unwrap().stdout_closed = true;
            cv.notify_all();
        });
        let (e2, a2) = (Arc::clone(&err), Arc::clone(&addr_slot));
        let r2 = std::thread::spawn(move || {
            let rd = BufReader::new(stderr);
            for line in rd.lines() {
                let Ok(line) = line else { break };
                if std::env::var_os("KESTREL_E2E_VERBOSE").is_some() {
                    eprintln!("[kestrel] {line}");
                }
                if let Some(rest) = line.split("metrics on http://").nth(1) {
                    if let Some(a) = rest.strip_suffix("/metrics") {
                        if let Ok(sa) = a.trim().parse::<SocketAddr>() {
                            let (m, cv) = &*a2;
                            *m.lock().unwrap() = Some(sa);
                            cv.notify_all();
                        }
                    }
                }
                e2.lock().unwrap().push(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            {
                let (m, cv) = &*addr_slot;
                let g = m.lock().unwrap();
                let (g, _) = cv
                    .wait_timeout_while(g, Duration::from_millis(100), |a| a.is_none())
                    .unwrap();
                if let Some(a) = *g {
                    break a;
                }
            }
            if let Ok(Some(st)) = child.try_wait() {
                // Let the stderr reader finish.
                std::thread::sleep(Duration::from_millis(200));
                panic!(
                    "kestrel exited during start-up ({st}); stderr:\n{}",
                    err.lock().unwrap().join("\n")
                );
            }
            if Instant::now() > deadline {
                best_effort("kill kestrel", child.kill());
                panic!(
                    "kestrel did not report its metrics address within 30 s; stderr:\n{}",
                    err.lock().unwrap().join("\n")
                );
            }
        };
        let d = Daemon {
            child: Some(child),
            addr,
            out,
            err,
            readers: vec![r1, r2],
            token_dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok((200, body)) = d.get("/healthz") {
                assert_eq!(body.trim(), "{\"status\": \"ok\"}");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "/healthz did not answer 200 within 10 s; stderr:\n{}",
                d.stderr()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        d
    }

    /// The daemon's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(|c| c.id()).unwrap_or(0)
    }

    /// The file holding this daemon's `webserver.track` token; give it to
    /// kestrel-loadgen as `KESTREL_TRACK_TOKEN_FILE` or
    /// `--daemon-token-file`.
    pub fn token_file(&self) -> PathBuf {
        self.token_dir.path().join("track.token")
    }

    /// This daemon's single-instance lock file (`kestrel.lock_file`).
    pub fn lock_file(&self) -> PathBuf {
        self.token_dir.path().join("kestrel.lock")
    }

    /// `http://ADDR` of the web server.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sends a signal to the daemon.
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill with a pid we own and a valid signal number.
        let r = unsafe { libc::kill(self.pid() as i32, sig) };
        assert_eq!(r, 0, "kill({}, {sig})", self.pid());
    }

    /// Everything the daemon wrote on stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap().join("\n")
    }

    /// Waits until a stderr line contains `needle`.
    pub fn wait_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.err.lock().unwrap().iter().any(|l| l.contains(needle)) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Every alert received so far.
    pub fn alerts(&self) -> Vec<Value> {
        self.out.0.lock().unwrap().alerts.clone()
    }

    /// The alert lines exactly as the daemon wrote them.
    pub fn raw_alerts(&self) -> Vec<String> {
        self.out.0.lock().unwrap().raw.clone()
    }

    /// stdout lines that were not JSON objects.
    pub fn other_stdout(&self) -> Vec<String> {
        self.out.0.lock().unwrap().other.clone()
    }

    /// Alerts (so far) satisfying `pred`.
    pub fn alerts_where(&self, pred: impl Fn(&Value) -> bool) -> Vec<Value> {
        self.out
            .0
            .lock()
            .unwrap()
            .alerts
            .iter()
            .filter(|a| pred(a))
            .cloned()
            .collect()
    }

    /// Waits until an alert satisfies `pred`, up to `deadline`.
    pub fn wait_alert_until(
        &self,
        pred: impl Fn(&Value) -> bool,
        deadline: Instant,
    ) -> Option<Value> {
        let (m, cv) = &*self.out;
        let mut g = m.lock().unwrap();
        loop {
            if let Some(a) = g.alerts.iter().find(|a| pred(a)) {
                return Some(a.clone());
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// Waits up to `timeout` for an alert satisfying `pred`.
    pub fn wait_alert(&self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<Value> {
        self.wait_alert_until(pred, Instant::now() + timeout)
    }

    /// Waits until at least `n` alerts satisfy `pred`; returns them all.
    pub fn wait_alerts(
        &self,
        pred: impl Fn(&Value) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Vec<Value> {
        let deadline = Instant::now() + timeout;
        let (m, cv) = &*self.out;
        let mut g = m.lock().unwrap();
        loop {
            let v: Vec<Value> = g.alerts.iter().filter(|a| pred(a)).cloned().collect();
            let now = Instant::now();
            if v.len() >= n || now >= deadline {
                return v;
            }
            g = cv.wait_timeout(g, deadline - now).unwrap().0;
        }
    }

    /// A GET on the web server: (status, body).
    pub fn get(&self, path: &str) -> std::io::Result<(u16, String)> {
        http_request(self.addr, "GET", path)
    }

    /// The parsed `/metrics` document.
    pub fn metrics(&self) -> Metrics {
        let (code, body) = self.get("/metrics").expect("GET /metrics");
        assert_eq!(code, 200, "GET /metrics: {body}");
        Metrics::parse(&body)
    }

    /// Polls `/metrics` until `f` holds; returns the last scrape.
    pub fn wait_metrics(&self, f: impl Fn(&Metrics) -> bool, timeout: Duration) -> Metrics {
        let deadline = Instant::now() + timeout;
        loop {
            let m = self.metrics();
            if f(&m) || Instant::now() > deadline {
                return m;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, wait for the exit (10 s at most), assert exit status 0 and
    /// return the stderr; the stdout reader has read everything by then.
    pub fn stop(mut self) -> String {
        let st = self.terminate(Duration::from_secs(10));
        assert!(
            st.success(),
            "kestrel exited with {st} after SIGTERM; stderr:\n{}",
            self.stderr()
        );
        self.stderr()
    }

    /// SIGTERM and wait; returns the exit status.
    pub fn terminate(&mut self, timeout: Duration) -> ExitStatus {
        let mut child = self.child.take().expect("daemon running");
        // SAFETY: kill with our child's pid.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + timeout;
        let st = loop {
            if let Some(st) = child.try_wait().expect("wait for kestrel") {
                break st;
            }
            if Instant::now() > deadline {
                best_effort("kill kestrel", child.kill());
                best_effort("wait for kestrel", child.wait());
                panic!(
                    "kestrel did not exit within {timeout:?} of SIGTERM; stderr:\n{}",
                    self.stderr()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        for r in self.readers.drain(..) {
            if r.join().is_err() {
                eprintln!("an output reader thread panicked");
            }
        }
        st
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        // A failed test must not leave a daemon attached to the kernel.
        if let Some(mut c) = self.child.take() {
            best_effort("kill kestrel", c.kill());
            best_effort("wait for kestrel", c.wait());
        }
    }
}

/// A minimal HTTP/1.1 client (one request per connection).
pub fn http_request(addr: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    )?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let text = String::from_utf8_lossy(&raw).into_owned();
    let code = text
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad HTTP response: {text:?}")))?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|x| x.1.to_string())
        .unwrap_or_default();
    Ok((code, body))
}

/// One Prometheus sample.
#[derive(Debug, Clone)]
pub struct Sample {
    /// Metric name.
    pub name: String,
    /// Labels in document order.
    pub labels: Vec<(String, String)>,
    /// Value.
    pub value: f64,
}

/// A parsed `/metrics` document.
#[derive(Debug, Clone)]
pub struct Metrics {
    /// Every sample.
    pub samples: Vec<Sample>,
    /// The raw text.
    pub text: String,
}

impl Metrics {
    /// Parses Prometheus text exposition (the subset kestrel writes).
    pub fn parse(text: &str) -> Metrics {
        let mut samples = Vec::new();
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (head, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("sample without a value: {line:?}"));
            let value: f64 = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                "NaN" => f64::NAN,
                v => v
                    .parse()
                    .unwrap_or_else(|_| panic!("bad value in {line:?}")),
            };
            let (name, labels) = match head.split_once('{') {
                Some((n, rest)) => (n, parse_labels(rest.strip_suffix('}').expect("}"))),
                None => (head, Vec::new()),
            };
            samples.push(Sample {
                name: name.to_string(),
                labels,
                value,
            });
        }
        Metrics {
            samples,
            text: text.to_string(),
        }
    }

    /// Samples of `name` whose labels include all of `want`.
    pub fn select<'a>(
        &'a self,
        name: &'a str,
        want: &'a [(&'a str, &'a str)],
    ) -> impl Iterator<Item = &'a Sample> + 'a {
        self.samples.iter().filter(move |s| {
            s.name == name
                && want
                    .iter()
                    .all(|(k, v)| s.labels.iter().any(|(lk, lv)| lk == k && lv == v))
        })
    }

    /// Sum of `name` over samples whose labels include `want`.
    pub fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.select(name, want).map(|s| s.value).sum()
    }

    /// Whether any sample of `name` exists.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|s| s.name == name)
    }
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let eq = s[i..].find('=').map(|k| i + k).expect("label has =");
        let key = s[i..eq].trim_start_matches(',').trim().to_string();
        let mut j = eq + 2; // skip ="
        let mut val = String::new();
        while j < b.len() && b[j] != b'"' {
            if b[j] == b'\\' && j + 1 < b.len() {
                j += 1;
                val.push(match b[j] {
                    b'n' => '\n',
                    c => c as char,
                });
            } else {
                // Labels are ASCII in practice; keep multi-byte text intact.
                let ch = s[j..].chars().next().expect("char");
                val.push(ch);
                j += ch.len_utf8() - 1;
            }
            j += 1;
        }
        out.push((key, val));
        i = j + 1;
        while i < b.len() && b[i] == b',' {
            i += 1;
        }
    }
    out
}

/// `alert["output_fields"][field]`.
pub fn field<'a>(a: &'a Value, f: &str) -> &'a Value {
    &a["output_fields"][f]
}

/// `alert["rule"]` as text.
pub fn rule_of(a: &Value) -> &str {
    a["rule"].as_str().unwrap_or("")
}

/// Whether the alert's output text contains `needle`.
pub fn output_has(a: &Value, needle: &str) -> bool {
    a["output"].as_str().is_some_and(|o| o.contains(needle))
}

/// Runs a command to completion (stdio to /dev/null unless captured by
/// the caller) and returns when it exited; panics if it cannot start.
pub fn run(cmd: &mut Command) -> ExitStatus {
    cmd.stdin(Stdio::null());
    let desc = format!("{cmd:?}");
    cmd.status()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"))
}

/// Runs a command and asserts it succeeded.
pub fn run_ok(cmd: &mut Command) {
    let desc = format!("{cmd:?}");
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {desc}: {e}"));
    assert!(
        out.status.success(),
        "{desc} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A command with quiet stdio.
pub fn quiet(prog: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(prog);
    c.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The Python 3 interpreter to run (a real binary, not a pyenv shim: the
/// tests look at `proc.name`).
pub fn python3() -> PathBuf {
    for p in ["/usr/bin/python3", "/usr/local/bin/python3"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    let out = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .expect("python3 is needed by the end-to-end tests (scripts/install-deps.sh installs it)");
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Full path of a program on PATH.
pub fn which(prog: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(prog))
        .find(|p| p.is_file())
}

/// Which kind of runtime layout a fake container imitates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// cgroup v1, docker's cgroupfs driver: `/<ctrl>/docker/<id>`.
    DockerV1,
    /// cgroup v2, docker's systemd driver: `system.slice/docker-<id>.scope`.
    DockerV2,
    /// cgroup v1, containerd under kubelet's cgroupfs driver:
    /// `/<ctrl>/kubepods/burstable/pod<uid>/<id>`.
    ContainerdV1,
    /// cgroup v2, containerd under kubelet's systemd driver:
    /// `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/cri-containerd-<id>.scope`.
    ContainerdV2,
}

/// A "container": a real cgroup named the way a runtime names it. Child
/// processes started with [`FakeContainer::command`] move themselves into
/// it before they exec. Removed (with any directory this created) on drop.
pub struct FakeContainer {
    /// Full 64-hex id.
    pub id: String,
    /// The cgroup directory.
    pub dir: PathBuf,
    /// Directories this created, deepest last.
    created: Vec<PathBuf>,
    procs: CString,
}

/// The v1 controller hierarchy used for v1 layouts (pids: harmless to
/// move a process into, unlike memory or cpuset).
const V1_ROOT: &str = "/sys/fs/cgroup/pids";
/// The v2 hierarchy of a hybrid layout (or the root on a v2-only host).
fn v2_root() -> PathBuf {
    let hybrid = Path::new("/sys/fs/cgroup/unified");
    if hybrid.join("cgroup.procs").exists() {
        hybrid.to_path_buf()
    } else {
        PathBuf::from("/sys/fs/cgroup")
    }
}

impl FakeContainer {
    /// Creates the cgroup.
    pub fn new(layout: Layout) -> FakeContainer {
        require_root();
        let id = random_hex64();
        let pod = &random_hex64()[..32];
        let pod_uid = format!(
            "{}-{}-{}-{}-{}",
            &pod[..8],
            &pod[8..12],
            &pod[12..16],
            &pod[16..20],
            &pod[20..32]
        );
        let rel: PathBuf = match layout {
            Layout::DockerV1 => Path::new(V1_ROOT).join("docker").join(&id),
            Layout::ContainerdV1 => Path::new(V1_ROOT)
                .join("kubepods/burstable")
                .join(format!("pod{pod_uid}"))
                .join(&id),
            Layout::DockerV2 => v2_root()
                .join("system.slice")
                .join(format!("docker-{id}.scope")),
            Layout::ContainerdV2 => {
                let u = pod_uid.replace('-', "_");
                v2_root()
                    .join("kubepods.slice/kubepods-burstable.slice")
                    .join(format!("kubepods-burstable-pod{u}.slice"))
                    .join(format!("cri-containerd-{id}.scope"))
            }
        };
        if matches!(layout, Layout::DockerV1 | Layout::ContainerdV1) {
            assert!(
                Path::new(V1_ROOT).join("cgroup.procs").exists(),
                "{V1_ROOT} is not a cgroup v1 hierarchy (hybrid cgroups expected)"
            );
        }
        let mut created = Vec::new();
        let mut cur = PathBuf::from("/");
        for c in rel.components().skip(1) {
            cur.push(c);
            if !cur.exists() {
                std::fs::create_dir(&cur)
                    .unwrap_or_else(|e| panic!("create cgroup {}: {e}", cur.display()));
                created.push(cur.clone());
            }
        }
        let procs = CString::new(
            rel.join("cgroup.procs")
                .into_os_string()
                .into_encoded_bytes(),
        )
        .expect("no NUL in path");
        FakeContainer {
            id,
            dir: rel,
            created,
            procs,
        }
    }

    /// The 12-character id `container.id` shows.
    pub fn short_id(&self) -> &str {
        &self.id[..12]
    }

    /// A command whose process joins this cgroup before it execs.
    pub fn command(&self, prog: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = quiet(prog);
        let procs = self.procs.clone();
        // SAFETY: the closure only makes async-signal-safe calls (open,
        // write, close) on data prepared before the fork.
        unsafe {
            c.pre_exec(move || {
                let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                let r = libc::write(fd, b"0".as_ptr().cast(), 1);
                let err = std::io::Error::last_os_error();
                libc::close(fd);
                if r != 1 {
                    return Err(err);
                }
                Ok(())
            });
        }
        c
    }
}

impl Drop for FakeContainer {
    fn drop(&mut self) {
        for d in self.created.iter().rev() {
            // Exited children may take a moment to leave the cgroup.
            for _ in 0..50 {
                match std::fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => break,
                }
            }
        }
    }
}

/// The `kestrel-loadgen` binary next to the kestrel binary, built first
/// when missing (with the same profile and target directory). A stale one
/// is used as found: scripts/test.sh and scripts/detection.sh build it first.
pub fn loadgen_bin() -> PathBuf {
    let kestrel = Path::new(KESTREL);
    let dir = kestrel.parent().expect("kestrel binary has a directory");
    let bin = dir.join("kestrel-loadgen");
    if bin.exists() {
        return bin;
    }
    let profile = dir.file_name().and_then(|s| s.to_str()).unwrap_or("debug");
    let target_dir = dir.parent().expect("profile dir has a parent");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(repo())
        .args(["build", "-p", "kestrel-loadgen", "--bin", "kestrel-loadgen"])
        .arg("--target-dir")
        .arg(target_dir);
    match profile {
        "debug" => {}
        "release" => {
            cmd.arg("--release");
        }
        other => {
            cmd.args(["--profile", other]);
        }
    }
    let st = cmd.status().expect("run cargo to build kestrel-loadgen");
    assert!(st.success(), "building kestrel-loadgen failed: {st}");
    assert!(bin.exists(), "{} missing after the build", bin.display());
    bin
}

/// A temporary directory (removed on drop).
pub fn tempdir() -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix("kestrel-e2e-")
        .tempdir()
        .expect("create a temp dir")
}

/// Makes `link` a symlink to `target` (so that a program runs under
/// another `comm`).
pub fn symlink_as(dir: &Path, name: &str, target: impl AsRef<Path>) -> PathBuf {
    let p = dir.join(name);
    std::os::unix::fs::symlink(target.as_ref(), &p)
        .unwrap_or_else(|e| panic!("symlink {}: {e}", p.display()));
    p
}

/// Copies `src` to `dir/name`, executable.
pub fn copy_as(dir: &Path, name: &str, src: impl AsRef<Path>) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let p = dir.join(name);
    std::fs::copy(src.as_ref(), &p)
        .unwrap_or_else(|e| panic!("copy {} to {}: {e}", src.as_ref().display(), p.display()));
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    p
}

/// `/metrics` fetched after the connection has sat idle for `gap`: the
/// daemon refreshes its kernel counters every 250 ms, so after a longer
/// gap the scrape's own connect is in both the kernel and the worker
/// counters.
pub fn metrics_after_gap(d: &Daemon, gap: Duration) -> Metrics {
    let mut s = TcpStream::connect_timeout(&d.addr, Duration::from_secs(5)).expect("connect");
    std::thread::sleep(gap);
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
        d.addr
    )
    .expect("send request");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("read response");
    let text = String::from_utf8_lossy(&raw);
    let body = text.split_once("\r\n\r\n").map(|x| x.1).unwrap_or("");
    Metrics::parse(body)
}

/// Waits until the daemon has caught up: every record the kernel
/// committed (`kestrel_kernel_events_sent_total`, all CPUs) has been read
/// by a worker (`kestrel_worker_records_total`, all workers). Other
/// processes keep the counters moving, so this polls until one scrape
/// shows them equal.
pub fn settled(d: &Daemon, timeout: Duration) -> Metrics {
    let deadline = Instant::now() + timeout;
    loop {
        let m = metrics_after_gap(d, Duration::from_millis(300));
        let records = m.sum("kestrel_worker_records_total", &[]);
        let sent = m.sum("kestrel_kernel_events_sent_total", &[]);
        if records == sent && sent > 0.0 {
            return m;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never settled within {timeout:?}: worker records {records} vs kernel sent {sent}"
        );
    }
}

/// The totals of the daemon's exit summary line
/// (`events seen S, sent N, dropped in kernel D, processed P, alerts A`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub seen: u64,
    pub sent: u64,
    pub dropped: u64,
    pub processed: u64,
    pub alerts: u64,
}

/// Parses the exit summary from the daemon's stderr.
pub fn summary(stderr: &str) -> Summary {
    let line = stderr
        .lines()
        .rev()
        .find(|l| l.contains("kestrel: events seen"))
        .unwrap_or_else(|| panic!("no exit summary in stderr:\n{stderr}"));
    let num = |key: &str| -> u64 {
        let rest = line
            .split(key)
            .nth(1)
            .unwrap_or_else(|| panic!("'{key}' missing in {line:?}"));
        rest.trim_start()
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad number after '{key}' in {line:?}"))
    };
    Summary {
        seen: num("events seen"),
        sent: num(", sent"),
        dropped: num("dropped in kernel"),
        processed: num("processed"),
        alerts: num("alerts"),
    }
}

/// The exit summary balances: every event the kernel saw was sent or
/// counted as dropped, none was dropped, and every sent one was processed.
pub fn assert_summary_balanced(stderr: &str) {
    let s = summary(stderr);
    assert_eq!(s.seen, s.sent + s.dropped, "{s:?}");
    assert_eq!(s.dropped, 0, "kernel drops: {s:?}");
    assert_eq!(
        s.processed, s.sent,
        "events sent by the kernel vs processed by the workers: {s:?}"
    );
}

/// Best-effort clean-up: a failure is reported on stderr, not fatal.
pub fn best_effort<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) {
    if let Err(e) = r {
        eprintln!("clean-up: {what}: {e}");
    }
}

// ------------------------------------------------------- real runtimes

/// A container id's 12-character form (`container.id`).
pub fn short_id(id: &str) -> &str {
    &id[..12]
}

/// The first alert of `rule` for the container whose full id is `id` that
/// also satisfies `more`, within 10 s; panics with every alert otherwise.
pub fn container_alert(d: &Daemon, rule: &str, id: &str, more: impl Fn(&Value) -> bool) -> Value {
    d.wait_alert(
        |a| rule_of(a) == rule && field(a, "container.id") == short_id(id) && more(a),
        Duration::from_secs(10),
    )
    .unwrap_or_else(|| {
        panic!(
            "no '{rule}' alert for container {id}; alerts: {:?}\nstderr:\n{}",
            d.alerts(),
            d.stderr()
        )
    })
}

/// Stops a runtime daemon the test started (`what` names it): SIGTERM,
/// up to 20 s for it to exit, then SIGKILL.
pub fn stop_runtime(what: &str, child: &mut Child) {
    best_effort(
        &format!("stop {what}"),
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status(),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    best_effort(&format!("kill {what}"), child.kill());
    best_effort(&format!("reap {what}"), child.wait());
}

/// Waits up to 10 s for metric `name` (summed over its labels) to rise
/// above `floor` and returns its value; fails saying `what` did not
/// happen, with the daemon's stderr, if it does not.
pub fn wait_metric_above(d: &Daemon, name: &str, floor: f64, what: &str) -> f64 {
    let m = d.wait_metrics(|m| m.sum(name, &[]) > floor, Duration::from_secs(10));
    let v = m.sum(name, &[]);
    assert!(v > floor, "{what} ({name} stayed at {v})\n{}", d.stderr());
    v
}

/// Detaches every mount below `dir` (deepest first), so that a runtime's
/// leftover mounts (dockerd's nsfs at exec/netns/default) do not keep the
/// test's temporary directory from being removed.
pub fn unmount_below(dir: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| Path::new(p).starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in points {
        best_effort(
            &format!("umount {p}"),
            Command::new("umount").args(["-l", p]).status(),
        );
    }
}

/// A kestrel configuration file in `dir` that reads one container runtime
/// (`engine`: docker, podman or cri) on socket `sock` and no other, with
/// its event stream on or off.
pub fn runtime_config(dir: &Path, engine: &str, sock: &Path, events: bool) -> PathBuf {
    let path = dir.join(format!(
        "kestrel-{}.yaml",
        if events { "events" } else { "lookup" }
    ));
    let mut text = String::from("container_engines:\n");
    for e in ["docker", "podman", "cri"] {
        if e == engine {
            text.push_str(&format!(
                "  {e}:\n    enabled: true\n    sockets: [{}]\n",
                sock.display()
            ));
        } else {
            text.push_str(&format!("  {e}:\n    enabled: false\n    sockets: []\n"));
        }
    }
    text.push_str(&format!("  lookup_timeout_ms: 2000\n  events: {events}\n"));
    std::fs::write(&path, text).expect("write config");
    path
}

/// A container image's root filesystem under `dir/rootfs`, tarred into
/// `dir/rootfs.tar`: busybox-static with its applets `applets`, a passwd
/// and a shadow file. Returns the tar's path.
pub fn busybox_rootfs_tar(dir: &Path, applets: &[&str]) -> PathBuf {
    let root = dir.join("rootfs");
    for d in ["bin", "etc", "tmp", "root", "proc", "sys", "dev"] {
        std::fs::create_dir_all(root.join(d)).expect("mkdir");
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("copy /bin/busybox (apt-get install busybox-static)");
    for applet in applets {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).expect("link");
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/shadow"), "root:*:19000:0:99999:7:::\n").unwrap();
    let tar = dir.join("rootfs.tar");
    run_ok(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
    );
    tar
}

/// Waits (20 s at most) until at least `n` container entries were evicted
/// and none is left; panics with the counts otherwise.
pub fn wait_container_cache_empty(d: &Daemon, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = d.metrics();
        let evicted = m.sum("kestrel_container_metadata_evicted_total", &[]);
        let entries = m.sum("kestrel_container_metadata_entries", &[]);
        if evicted >= n as f64 && entries == 0.0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "after {n} containers came and went: {evicted} evicted, {entries} entries left"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs a runtime CLI and returns its trimmed stdout; panics with its
/// output when it fails.
pub fn cli_ok(mut cmd: Command) -> String {
    let o = cmd.stdin(Stdio::null()).output().expect("run the CLI");
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&o.stderr),
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

/// `kestrel -c CONFIG --dry-run`: asserts the configuration (and the rules
/// it names) load, returns stderr (the load report).
pub fn dry_run_config(config: &Path) -> String {
    let out = Command::new(KESTREL)
        .arg("-c")
        .arg(config)
        .arg("--dry-run")
        .output()
        .expect("run kestrel");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(
        out.status.success(),
        "{} does not load:\n{stderr}\n{}",
        config.display(),
        std::fs::read_to_string(config).unwrap_or_default()
    );
    stderr
}

/// The rate of [`Load`]: opens per second on one thread. Half of what the
/// daemon sustains without a kernel drop on the development VM (Intel
/// Xeon, 2 vCPUs, shared), so that a CPU issuing syscalls about half as
/// fast (AMD EPYC runners) still keeps up.
pub const LOAD_RATE: u32 = 10_000;

/// The daemon options of a run under [`Load`]: the kernel interest filter
/// off, so that loadgen's opens (which no rule matches) reach the rings
/// and the workers instead of being dropped by the probe's filter, the
/// load being real work for the daemon.
pub const LOAD_OPTS: &[&str] = &["kestrel.kernel_filter=false"];

/// A kestrel-loadgen `open` run against a daemon, tracked by it (`POST
/// /track` with the daemon's token) and reconciled at the end: every
/// traced syscall loadgen issued must be seen by the daemon exactly once.
pub struct Load {
    child: Option<Child>,
    /// loadgen's temporary files (a killed run leaves them here).
    _tmp: tempfile::TempDir,
}

impl Load {
    /// Starts `secs` seconds of opens at [`LOAD_RATE`] and returns once
    /// the daemon counts at least 1,000 events of the tracked process
    /// (loadgen's set-up and baseline scrape are over, the load runs).
    pub fn start(d: &Daemon, secs: u32) -> Load {
        let tmp = tempdir();
        let child = Command::new(loadgen_bin())
            .args(["run", "--scenario", "open", "--threads", "1", "--rate"])
            .arg(LOAD_RATE.to_string())
            .args([
                "--duration",
                &secs.to_string(),
                "--json",
                "--quiet",
                "--daemon",
            ])
            .arg(d.url())
            .env("KESTREL_TRACK_TOKEN_FILE", d.token_file())
            .env("TMPDIR", tmp.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kestrel-loadgen");
        let mut l = Load {
            child: Some(child),
            _tmp: tmp,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let m = d.metrics();
            let seen = m.sum("kestrel_tracked_events_total", &[("rel", "self")])
                + m.sum("kestrel_tracked_events_filtered_total", &[("rel", "self")]);
            if seen >= 1000.0 {
                return l;
            }
            let c = l.child.as_mut().expect("loadgen running");
            if let Some(st) = c.try_wait().expect("poll kestrel-loadgen") {
                let mut err = String::new();
                if let Some(mut e) = c.stderr.take() {
                    best_effort("read loadgen stderr", e.read_to_string(&mut err));
                }
                panic!("kestrel-loadgen exited ({st}) before its load started: {err}");
            }
            assert!(
                Instant::now() < deadline,
                "kestrel-loadgen's load did not reach the daemon within 30 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether loadgen is still running (its load not over yet).
    pub fn running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
    }

    /// Waits for the report and asserts the reconciliation: passed, none
    /// dropped, observed = issued. Returns the operations issued.
    pub fn finish(mut self, d: &Daemon) -> u64 {
        let child = self.child.take().expect("loadgen running");
        let out = child.wait_with_output().expect("wait for kestrel-loadgen");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let r: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "no loadgen report ({e}): {stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        assert!(
            out.status.success(),
            "loadgen failed: {r:#}\nkestrel stderr:\n{}",
            d.stderr()
        );
        assert_eq!(r["passed"], true, "{r:#}");
        assert_eq!(r["dropped"], 0, "{r:#}");
        assert_eq!(r["observed"], r["issued"], "{r:#}");
        // The daemon ran with LOAD_OPTS: the load went through the rings
        // and the workers, none of it stopped by the kernel filter.
        assert_eq!(r["filtered_by_kernel_filter"], 0, "{r:#}");
        r["issued"].as_u64().unwrap_or(0)
    }

    /// For a run whose daemon went away: waits up to `grace` for loadgen
    /// to give up on its own, then kills it (by pid). Returns its exit
    /// status.
    pub fn abandon(mut self, grace: Duration) -> Option<ExitStatus> {
        let mut c = self.child.take()?;
        let deadline = Instant::now() + grace;
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                return Some(st);
            }
            if Instant::now() > deadline {
                best_effort("kill kestrel-loadgen", c.kill());
                return c.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        // A failed test must not leave loadgen running.
        if let Some(mut c) = self.child.take() {
            best_effort("kill kestrel-loadgen", c.kill());
            best_effort("reap kestrel-loadgen", c.wait());
        }
    }
}

/// One sink's final books from the daemon's exit log (`output NAME at
/// exit: offered O, delivered D, filtered F, dropped X (REASONS), queued
/// Q`): the numbers and the reasons text.
pub fn exit_books(stderr: &str, sink: &str) -> ([u64; 5], String) {
    let head = format!("output {sink} at exit: ");
    let line = stderr
        .lines()
        .find_map(|l| l.split_once(&head).map(|x| x.1))
        .unwrap_or_else(|| panic!("no exit books for {sink}:\n{stderr}"));
    let num = |key: &str| -> u64 {
        line.split(key)
            .nth(1)
            .and_then(|r| r.trim_start().split(|c: char| !c.is_ascii_digit()).next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{key}' in {line:?}"))
    };
    let reasons = line
        .split_once('(')
        .and_then(|(_, r)| r.split_once(')'))
        .map(|(r, _)| r.to_string())
        .unwrap_or_default();
    (
        [
            num("offered"),
            num("delivered"),
            num("filtered"),
            num("dropped"),
            num("queued"),
        ],
        reasons,
    )
}
