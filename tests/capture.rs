//! `kestrel capture`, for real: the events it prints for `cat
//! /etc/hostname` (the openat with its file, the execve with its command
//! line), `--filter`, and a capture file that `kestrel replay` turns into
//! the expected alert.
//!
//! capture prints nothing until the probe is attached, so each test runs
//! its action repeatedly until the capture shows it.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

struct Capture {
    child: Child,
    events: Arc<Mutex<Vec<Value>>>,
    other: Arc<Mutex<Vec<String>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Capture {
    fn start(args: &[&str]) -> Capture {
        common::require_root();
        let mut child = Command::new(common::KESTREL)
            .arg("capture")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kestrel capture");
        let stdout = child.stdout.take().unwrap();
        let events: Arc<Mutex<Vec<Value>>> = Arc::default();
        let other: Arc<Mutex<Vec<String>>> = Arc::default();
        let (e2, o2) = (Arc::clone(&events), Arc::clone(&other));
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                match serde_json::from_str::<Value>(&line) {
                    Ok(v) if v.is_object() => e2.lock().unwrap().push(v),
                    _ => o2.lock().unwrap().push(line),
                }
            }
        });
        Capture {
            child,
            events,
            other,
            reader: Some(reader),
        }
    }

    fn events(&self) -> Vec<Value> {
        self.events.lock().unwrap().clone()
    }

    /// Runs `cmd` every 100 ms until an event satisfies `pred` for one of
    /// the runs (by pid); returns that pid.
    fn act_until(
        &mut self,
        mut cmd: impl FnMut() -> Command,
        pred: impl Fn(&Value, u32) -> bool,
        timeout: Duration,
    ) -> u32 {
        let deadline = Instant::now() + timeout;
        let mut pids = Vec::new();
        loop {
            let mut c = cmd();
            let mut child = c
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("run the action");
            pids.push(child.id());
            child.wait().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            let evs = self.events();
            if let Some(p) = pids.iter().find(|p| evs.iter().any(|e| pred(e, **p))) {
                return *p;
            }
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("kestrel capture exited early ({st}): {}", self.stderr_now());
            }
            assert!(
                Instant::now() < deadline,
                "capture never showed the action within {timeout:?}"
            );
        }
    }

    fn stderr_now(&mut self) -> String {
        let mut s = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            common::best_effort(
                "read capture stderr",
                std::io::Read::read_to_string(&mut e, &mut s),
            );
        }
        s
    }

    /// Waits for the exit (after SIGINT when `interrupt`); returns every
    /// event printed and the stderr.
    fn finish(mut self, interrupt: bool, timeout: Duration) -> (Vec<Value>, String) {
        if interrupt {
            // SAFETY: signalling our own child.
            unsafe { libc::kill(self.child.id() as i32, libc::SIGINT) };
        }
        let deadline = Instant::now() + timeout;
        let st = loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                break st;
            }
            if Instant::now() > deadline {
                common::best_effort("kill capture", self.child.kill());
                panic!("kestrel capture did not exit within {timeout:?}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            r.join().unwrap();
        }
        let err = self.stderr_now();
        assert!(st.success(), "kestrel capture exited with {st}: {err}");
        let other = self.other.lock().unwrap().clone();
        assert!(other.is_empty(), "non-JSON stdout lines: {other:?}");
        // The per-CPU counters balance.
        let total = err
            .lines()
            .find(|l| l.trim_start().starts_with("total: seen"))
            .unwrap_or_else(|| panic!("no counter summary: {err}"));
        let n: Vec<u64> = total
            .split_whitespace()
            .filter_map(|w| w.parse().ok())
            .collect();
        assert_eq!(n.len(), 3, "{total}");
        assert_eq!(n[0], n[1] + n[2], "seen != sent + dropped: {total}");
        (self.events(), err)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            common::best_effort("kill capture", self.child.kill());
            common::best_effort("wait for capture", self.child.wait());
        }
    }
}

fn is(e: &Value, k: &str, v: impl Into<Value>) -> bool {
    e[k] == v.into()
}

fn cat(arg: &'static str) -> impl FnMut() -> Command {
    move || {
        let mut c = Command::new("cat");
        c.arg(arg);
        c
    }
}

#[test]
fn capture_json_shows_the_open_and_the_exec_of_cat() {
    let _g = common::serial();
    let mut cap = Capture::start(&["--json", "--duration", "5"]);
    // A run whose successful execve was captured: a cat that exec'd just
    // before the probe attached and exited before the /proc scan is
    // unknown to capture (its open would show no command line).
    let pid = cap.act_until(
        cat("/etc/hostname"),
        |e, p| is(e, "evt.type", "execve") && is(e, "evt.res", "SUCCESS") && is(e, "proc.pid", p),
        Duration::from_secs(4),
    );
    // --duration ends the capture by itself.
    let (evs, _) = cap.finish(false, Duration::from_secs(10));
    let mine: Vec<&Value> = evs.iter().filter(|e| is(e, "proc.pid", pid)).collect();
    let open = mine
        .iter()
        .find(|e| is(e, "evt.type", "openat") && is(e, "fd.name", "/etc/hostname"))
        .expect("the openat of /etc/hostname");
    assert_eq!(open["proc.name"], "cat", "{open}");
    assert_eq!(open["proc.cmdline"], "cat /etc/hostname", "{open}");
    assert_eq!(open["evt.res"], "SUCCESS", "{open}");
    assert_eq!(open["fd.typechar"], "f", "{open}");
    assert!(open["fd.num"].as_i64().is_some_and(|n| n >= 0), "{open}");
    assert!(
        open["evt.arg.flags"]
            .as_str()
            .is_some_and(|f| f.contains("O_RDONLY")),
        "{open}"
    );
    let exec = mine
        .iter()
        // The failed attempts along PATH are execve events too.
        .find(|e| is(e, "evt.type", "execve") && is(e, "evt.res", "SUCCESS"))
        .unwrap_or_else(|| panic!("no successful execve for pid {pid}: {mine:?}"));
    assert_eq!(exec["proc.name"], "cat", "{exec}");
    assert_eq!(exec["proc.cmdline"], "cat /etc/hostname", "{exec}");
    assert_eq!(
        exec["proc.exepath"],
        common::which("cat")
            .unwrap()
            .canonicalize()
            .unwrap()
            .to_str()
            .unwrap(),
        "{exec}"
    );
    // The exec comes before the open in the process's own order.
    let pos = |e: &Value| evs.iter().position(|x| x == e).unwrap();
    assert!(
        exec["evt.time"].as_u64() <= open["evt.time"].as_u64(),
        "execve after openat: {} vs {}",
        pos(exec),
        pos(open)
    );
}

#[test]
fn capture_filter_prints_only_matching_events() {
    let _g = common::serial();
    let mut cap = Capture::start(&["--json", "--filter", "evt.type=openat and proc.name=cat"]);
    cap.act_until(
        cat("/etc/hostname"),
        |e, p| is(e, "proc.pid", p) && is(e, "fd.name", "/etc/hostname"),
        Duration::from_secs(5),
    );
    let (evs, _) = cap.finish(true, Duration::from_secs(10));
    assert!(!evs.is_empty());
    for e in &evs {
        assert!(
            is(e, "evt.type", "openat") && is(e, "proc.name", "cat"),
            "--filter let through: {e}"
        );
    }
}

#[test]
fn capture_file_replays_into_the_expected_alert() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let file = tmp.path().join("trace.kcap");
    let file_s = file.to_str().unwrap().to_string();
    // The filter only limits what is printed; the file gets every event.
    let mut cap = Capture::start(&["--json", "--filter", "proc.name=cat", "-w", &file_s]);
    cap.act_until(
        cat("/etc/shadow"),
        |e, p| {
            is(e, "proc.pid", p) && is(e, "fd.name", "/etc/shadow") && is(e, "evt.type", "openat")
        },
        Duration::from_secs(5),
    );
    let (evs, err) = cap.finish(true, Duration::from_secs(10));
    assert!(evs.iter().all(|e| is(e, "proc.name", "cat")));
    assert!(err.contains(&format!("records to {file_s}")), "{err}");
    assert!(file.metadata().unwrap().len() > 0);
    // Created 0600: a capture holds every event's arguments and environment
    // (the umask can only remove bits).
    {
        use std::os::unix::fs::PermissionsExt;
        let st = std::fs::read_to_string("/proc/self/status").unwrap();
        let um = st
            .lines()
            .find_map(|l| l.strip_prefix("Umask:"))
            .map(|v| u32::from_str_radix(v.trim(), 8).unwrap())
            .expect("Umask in /proc/self/status");
        let mode = file.metadata().unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o600 & !um, "capture file mode {mode:o}");
    }

    let out = Command::new(common::KESTREL)
        .args(["replay", "--json", "-r"])
        .arg(common::default_rules())
        .arg(&file)
        .output()
        .expect("kestrel replay");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "replay failed: {stderr}");
    assert!(stderr.contains("(0 unreadable)"), "{stderr}");
    let alerts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON alert"))
        .collect();
    let comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    let hit = alerts
        .iter()
        .find(|a| {
            a["rule"] == "Read Sensitive File"
                && a["output_fields"]["proc.cmdline"] == "cat /etc/shadow"
        })
        .unwrap_or_else(|| panic!("no Read Sensitive File for cat in the replay: {alerts:?}"));
    let f = &hit["output_fields"];
    assert_eq!(f["fd.name"], "/etc/shadow");
    assert_eq!(f["proc.name"], "cat");
    assert_eq!(
        f["proc.pname"],
        comm.trim(),
        "the /proc snapshot and forks give the parent"
    );
    assert_eq!(f["user.name"], "root");
    assert_eq!(f["container.id"], "host");
    assert_eq!(hit["priority"], "Warning");
}
