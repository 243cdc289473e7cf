//! The fault suite (issue 14, docs/RELIABILITY.md): the daemon under
//! faults of its own process and of its sinks. Each test prints one line
//! `FAULT|<fault>|<expectation>|<measured>` on stdout, which `perf/faults`
//! collects into docs/RELIABILITY.md. Faults covered elsewhere: refused
//! and hung HTTP sinks (tests/daemon_outputs.rs), SIGHUP reloads under
//! load and SIGTERM draining (tests/daemon_signals.rs). The load is
//! kestrel-loadgen's, reconciled ([`common::Load`]).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, DaemonOpts, Load, LOAD_OPTS, LOAD_RATE};

fn report(fault: &str, expectation: &str, measured: &str) {
    println!("FAULT|{fault}|{expectation}|{measured}");
}

/// The ids of the BPF programs, maps and links `pid` holds open, read
/// from its fdinfo (bpftool's pid column needs a bpftool built with BPF
/// skeletons; fdinfo always works).
fn bpf_objects(pid: u32) -> BTreeSet<(&'static str, u32)> {
    let mut out = BTreeSet::new();
    let Ok(rd) = std::fs::read_dir(format!("/proc/{pid}/fdinfo")) else {
        return out;
    };
    for e in rd.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        for l in text.lines() {
            for (key, kind) in [
                ("prog_id:", "prog"),
                ("map_id:", "map"),
                ("link_id:", "link"),
            ] {
                if let Some(v) = l.strip_prefix(key) {
                    if let Ok(id) = v.trim().parse() {
                        out.insert((kind, id));
                    }
                }
            }
        }
    }
    out
}

/// Whether the kernel still has the BPF object (`bpftool KIND show id N`).
fn bpf_object_exists(kind: &str, id: u32) -> bool {
    let out = Command::new("bpftool")
        .args([kind, "show", "id", &id.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("run bpftool (scripts/install-deps.sh installs it)");
    out.success()
}

/// `cat /etc/shadow NONCEFILE`: one Read Sensitive File alert carrying the
/// nonce.
fn read_shadow(dir: &Path, tag: &str) -> String {
    let n = common::nonce(tag);
    let nf = dir.join(&n);
    std::fs::write(&nf, b"").unwrap();
    common::run(common::quiet("cat").arg("/etc/shadow").arg(&nf));
    n
}

/// A second kestrel with the first one's lock file stops at once with an
/// error naming the first, before it loads a BPF program; the first keeps
/// running.
#[test]
fn second_instance_is_refused_before_the_probe() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let d = Daemon::start();
    let lock = d.lock_file();
    let t = Instant::now();
    let mut child = Command::new(common::KESTREL)
        .arg("-o")
        .arg(format!("kestrel.lock_file={}", lock.display()))
        .args(["-o", "webserver.listen_port=0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the second kestrel");
    let pid2 = child.id();
    // While it runs, it must never hold a BPF object.
    let mut seen_bpf = BTreeSet::new();
    let st = loop {
        seen_bpf.extend(bpf_objects(pid2));
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if t.elapsed() > Duration::from_secs(20) {
            common::best_effort("kill the second kestrel", child.kill());
            common::best_effort("reap the second kestrel", child.wait());
            panic!("the second kestrel was still running after 20 s");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let took = t.elapsed();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!st.success(), "the second instance exited {st}: {err}");
    assert!(
        err.contains("another kestrel is already running")
            && err.contains(&format!("pid {}", d.pid()))
            && err.contains(&lock.display().to_string()),
        "unclear error: {err}"
    );
    assert!(!err.contains("capturing"), "it loaded the probe: {err}");
    assert!(seen_bpf.is_empty(), "it held BPF objects: {seen_bpf:?}");
    // The first one is unaffected.
    let n = read_shadow(tmp.path(), "after-second");
    assert!(
        d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(30))
            .is_some(),
        "the first daemon stopped alerting"
    );
    let m = d.metrics();
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    report(
        "second instance started beside the first",
        "clear error before the probe; first unaffected",
        &format!(
            "exit {} after {} ms, 0 BPF objects held, first still alerting, 0 kernel drops",
            st.code().unwrap_or(-1),
            took.as_millis()
        ),
    );
    d.stop();
}

/// kill -9 in the middle of kestrel-loadgen load: the kernel frees every
/// program, map and link the daemon held (nothing is pinned), its lock is
/// released, and a restart with the same lock file captures, alerts and
/// passes loadgen's reconciliation.
#[test]
fn kill_9_leaves_no_bpf_objects_and_restarts() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let lock = tmp.path().join("kestrel.lock");
    let opts = DaemonOpts {
        options: std::iter::once(format!("kestrel.lock_file={}", lock.display()))
            .chain(LOAD_OPTS.iter().map(|s| s.to_string()))
            .collect(),
        ..Default::default()
    };
    let d = Daemon::start_with(opts.clone());
    // Load that outlives the daemon: the kill lands in the middle of it.
    let load = Load::start(&d, 6);
    let n = read_shadow(tmp.path(), "before-kill");
    assert!(d
        .wait_alert(|a| common::output_has(a, &n), Duration::from_secs(30))
        .is_some());
    let objs = bpf_objects(d.pid());
    let progs = objs.iter().filter(|(k, _)| *k == "prog").count();
    let links = objs.iter().filter(|(k, _)| *k == "link").count();
    let maps = objs.iter().filter(|(k, _)| *k == "map").count();
    assert!(
        progs > 0 && maps > 0,
        "no BPF objects found in fdinfo: {objs:?}"
    );
    for (k, id) in &objs {
        assert!(bpf_object_exists(k, *id), "{k} {id} not visible to bpftool");
    }
    let pinned_before = std::fs::read_dir("/sys/fs/bpf")
        .map(|r| r.count())
        .unwrap_or(0);
    // The load is still running: the daemon is counting its opens.
    let mut load = load;
    assert!(load.running(), "loadgen finished before the kill");
    let before = d.metrics();
    let tracked_at_kill = before.sum("kestrel_tracked_events_total", &[("rel", "self")]);
    d.signal(libc::SIGKILL);
    drop(d); // reaps it
    let load_exit = load.abandon(Duration::from_secs(60));
    assert!(
        !load_exit.is_some_and(|s| s.success()),
        "loadgen reconciled against a daemon killed in the middle of its run"
    );
    // Objects are freed asynchronously (RCU): allow a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut left: Vec<(&str, u32)>;
    loop {
        left = objs
            .iter()
            .filter(|(k, id)| bpf_object_exists(k, *id))
            .copied()
            .collect();
        if left.is_empty() || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(left.is_empty(), "BPF objects survived kill -9: {left:?}");
    let pinned_after = std::fs::read_dir("/sys/fs/bpf")
        .map(|r| r.count())
        .unwrap_or(0);
    assert!(
        pinned_after <= pinned_before,
        "kestrel pinned something in /sys/fs/bpf"
    );

    // Restart with the same lock file: the dead owner's lock is gone.
    let t = Instant::now();
    let d = Daemon::start_with(opts);
    let restart = t.elapsed();
    let load = Load::start(&d, 3);
    let n = read_shadow(tmp.path(), "after-restart");
    assert!(
        d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(30))
            .is_some(),
        "no alert after the restart"
    );
    let issued = load.finish(&d);
    let m = common::settled(&d, Duration::from_secs(30));
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    report(
        "kill -9 under loadgen load, then restart",
        "no stale BPF programs, links or maps; restart alerts and loadgen reconciles",
        &format!(
            "killed with loadgen running ({tracked_at_kill} of its events counted); {progs} programs, {links} links, {maps} maps all freed; restart healthy in {} ms and alerting; loadgen on the restart {issued} syscalls (open+close at {LOAD_RATE} opens/s) issued = observed, 0 kernel drops",
            restart.as_millis()
        ),
    );
    let stderr = d.stop();
    common::assert_summary_balanced(&stderr);
}

/// `python3` opening /etc/shadow `n` times with the nonce file as argv[1]:
/// `n` Read Sensitive File alerts carrying the nonce.
fn shadow_burst(dir: &Path, tag: &str, n: usize) -> String {
    let nonce = common::nonce(tag);
    let nf = dir.join(&nonce);
    std::fs::write(&nf, b"").unwrap();
    common::run_ok(Command::new(common::python3()).args([
        "-c",
        &format!("import sys\nfor _ in range({n}):\n    open('/etc/shadow').close()"),
        &nf.display().to_string(),
    ]));
    nonce
}

/// One sink's books: received (every alert reaches every sink here: no
/// min_priority), delivered, dropped by reason, still queued.
fn books(m: &common::Metrics, sink: &str) -> (f64, f64, f64) {
    (
        m.sum("kestrel_output_alerts_delivered_total", &[("sink", sink)]),
        m.sum("kestrel_output_alerts_dropped_total", &[("sink", sink)]),
        m.sum("kestrel_output_queue_depth", &[("sink", sink)]),
    )
}

/// File output on a full filesystem, the syslog socket removed and a
/// program output that exits at once, all at the same time: stdout (the
/// healthy sink) gets every alert, the kernel drops nothing, and each
/// faulty sink's delivered + dropped equals what it received, exactly.
#[test]
fn faulty_sinks_lose_only_what_they_count() {
    let _g = common::serial();
    let tmp = common::tempdir();
    // A 64 KiB tmpfs, filled up.
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).unwrap();
    common::run_ok(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k", "kestrel-full"])
            .arg(&full),
    );
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            common::unmount_below(self.0);
        }
    }
    let _u = Unmount(&full);
    {
        use std::io::Write;
        let mut f = std::fs::File::create(full.join("filler")).unwrap();
        let chunk = vec![b'x'; 4096];
        while f.write_all(&chunk).and_then(|()| f.sync_all()).is_ok() {}
    }
    // A syslog socket that existed, then was removed.
    let sock = tmp.path().join("log.sock");
    drop(std::os::unix::net::UnixDatagram::bind(&sock).unwrap());
    std::fs::remove_file(&sock).unwrap();
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "file_output.enabled=true".into(),
            format!(
                "file_output.filename={}",
                full.join("events.json").display()
            ),
            "syslog_output.enabled=true".into(),
            format!("syslog_output.socket={}", sock.display()),
            "program_output.enabled=true".into(),
            "program_output.keep_alive=true".into(),
            "program_output.program=exit 3".into(),
            LOAD_OPTS[0].into(),
        ],
        ..Default::default()
    });
    let load = Load::start(&d, 4);
    const BURST: usize = 300;
    let t = Instant::now();
    let nonce = shadow_burst(tmp.path(), "faulty-sinks", BURST);
    let got = d.wait_alerts(
        |a| common::output_has(a, &nonce),
        BURST,
        Duration::from_secs(30),
    );
    assert_eq!(
        got.len(),
        BURST,
        "stdout missed alerts; stderr:\n{}",
        d.stderr()
    );
    let stdout_in = t.elapsed();
    let issued = load.finish(&d);
    // Let the faulty sinks finish their queues.
    let m = d.wait_metrics(
        |m| {
            ["file", "syslog", "program"]
                .iter()
                .all(|s| books(m, s).2 == 0.0)
        },
        Duration::from_secs(30),
    );
    let received = m.sum("kestrel_output_alerts_received_total", &[]);
    assert!(received >= BURST as f64);
    let mut measured = vec![
        format!("loadgen {issued} syscalls (open+close at {LOAD_RATE} opens/s) issued = observed"),
        format!("stdout {BURST}/{BURST} in {} ms", stdout_in.as_millis()),
    ];
    for sink in ["file", "syslog", "program"] {
        let (delivered, dropped, queued) = books(&m, sink);
        assert_eq!(queued, 0.0, "{sink} still queued:\n{}", m.text);
        assert_eq!(
            delivered + dropped,
            received,
            "{sink}: delivered {delivered} + dropped {dropped} != received {received}\n{}",
            m.text
        );
        if sink != "program" {
            // Nothing can be delivered to a full disk or a missing socket.
            assert_eq!(delivered, 0.0, "{sink} delivered:\n{}", m.text);
            assert_eq!(
                m.sum(
                    "kestrel_output_alerts_dropped_total",
                    &[("sink", sink), ("reason", "write_error")]
                ),
                dropped,
                "{sink} drops not all write errors:\n{}",
                m.text
            );
        }
        measured.push(format!(
            "{sink}: {delivered} delivered + {dropped} dropped = {received} received"
        ));
        if sink == "program" {
            // A line counts as delivered once written into the pipe; the
            // program exits with lines unread in it, which no writer can
            // see. What is visible is each restart.
            measured.push(format!(
                "program restarts (errors) {}",
                m.sum("kestrel_output_errors_total", &[("sink", "program")])
            ));
        }
    }
    assert_eq!(
        m.sum("kestrel_output_alerts_dropped_total", &[("sink", "stdout")]),
        0.0
    );
    assert_eq!(m.sum("kestrel_worker_alerts_dropped_total", &[]), 0.0);
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    assert_eq!(d.get("/healthz").unwrap().0, 200);
    report(
        "file output on a full tmpfs + syslog socket removed + program output exits",
        "stdout gets every alert; each faulty sink delivered + dropped = received; 0 kernel drops",
        &format!("{}; 0 kernel drops", measured.join("; ")),
    );
    d.stop();
}

/// SIGUSR1 every 10 ms while alerts stream into a file output that is
/// rotated (renamed) twice: every alert is in one of the three files,
/// exactly once, and the daemon, stdout and the kernel side are unaffected.
#[test]
fn sigusr1_rotation_storm_loses_no_alert() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let file = tmp.path().join("events.json");
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "file_output.enabled=true".into(),
            "file_output.keep_alive=true".into(),
            format!("file_output.filename={}", file.display()),
            LOAD_OPTS[0].into(),
        ],
        ..Default::default()
    });
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, pid) = (std::sync::Arc::clone(&stop), d.pid() as i32);
    let storm = std::thread::spawn(move || {
        let mut n = 0u32;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            // SAFETY: kill with the daemon's pid and a valid signal.
            assert_eq!(unsafe { libc::kill(pid, libc::SIGUSR1) }, 0);
            n += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        n
    });
    let load = Load::start(&d, 3);
    const ROUNDS: usize = 3;
    const BURST: usize = 400;
    let mut nonces = Vec::new();
    for r in 0..ROUNDS {
        nonces.push(shadow_burst(tmp.path(), &format!("usr1-{r}"), BURST));
        std::thread::sleep(Duration::from_millis(300));
        if r + 1 < ROUNDS {
            std::fs::rename(&file, tmp.path().join(format!("events.json.{r}"))).unwrap();
        }
    }
    for n in &nonces {
        let got = d.wait_alerts(|a| common::output_has(a, n), BURST, Duration::from_secs(30));
        assert_eq!(got.len(), BURST, "stdout missed alerts of {n}");
    }
    let issued = load.finish(&d);
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let signals = storm.join().unwrap();
    let m = d.wait_metrics(|m| books(m, "file").2 == 0.0, Duration::from_secs(30));
    let mut lines = Vec::new();
    for f in ["events.json.0", "events.json.1", "events.json"] {
        let text = std::fs::read_to_string(tmp.path().join(f)).unwrap_or_default();
        lines.extend(text.lines().map(str::to_string));
    }
    for n in &nonces {
        let c = lines.iter().filter(|l| l.contains(n.as_str())).count();
        assert_eq!(c, BURST, "file output has {c} of {BURST} alerts of {n}");
    }
    let (delivered, dropped, _) = books(&m, "file");
    assert_eq!(dropped, 0.0, "{}", m.text);
    assert_eq!(delivered, lines.len() as f64, "{}", m.text);
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    assert_eq!(d.get("/healthz").unwrap().0, 200);
    report(
        "SIGUSR1 rotation storm",
        "every alert in exactly one of the rotated files; 0 kernel drops",
        &format!(
            "{signals} SIGUSR1 at 10 ms, 2 renames, loadgen {issued} syscalls (open+close at {LOAD_RATE} opens/s) issued = observed: {}/{} alerts in the files, 0 dropped, 0 kernel drops",
            ROUNDS * BURST,
            ROUNDS * BURST
        ),
    );
    d.stop();
}

/// SIGHUP every 100 ms for 4 s under kestrel-loadgen load, alternating a
/// valid rules file, an invalid one and an invalid configuration file:
/// the daemon stays up with the last valid rules, loadgen reconciles with
/// no loss, and alerts keep coming.
#[test]
fn sighup_storm_with_invalid_rules_and_config() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let rules = tmp.path().join("rules.yaml");
    let target = tmp.path().join("target.txt");
    std::fs::write(&target, b"t").unwrap();
    let valid = format!(
        "- rule: E2E storm\n  desc: fault suite\n  condition: evt.type in (open, openat, openat2) and fd.name = \"{}\"\n  output: \"E2E storm (file=%fd.name cmdline=%proc.cmdline)\"\n  priority: WARNING\n",
        target.display()
    );
    std::fs::write(&rules, &valid).unwrap();
    let config = tmp.path().join("kestrel.yaml");
    let valid_cfg = "json_output: true\n";
    std::fs::write(&config, valid_cfg).unwrap();
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules.clone()],
        config: Some(config.clone()),
        options: LOAD_OPTS.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    });
    let load = Load::start(&d, 5);
    let t = Instant::now();
    let mut sent = 0u32;
    let mut alerts_expected = Vec::new();
    while t.elapsed() < Duration::from_secs(4) {
        match sent % 3 {
            0 => {
                std::fs::write(&rules, &valid).unwrap();
                std::fs::write(&config, valid_cfg).unwrap();
            }
            1 => std::fs::write(&rules, "- rule: broken\n  condition: (((\n").unwrap(),
            _ => {
                std::fs::write(&rules, &valid).unwrap();
                std::fs::write(&config, "json_output: [not, a, bool\n").unwrap();
            }
        }
        d.signal(libc::SIGHUP);
        sent += 1;
        if sent.is_multiple_of(10) {
            let n = common::nonce("storm");
            common::run(common::quiet("cat").arg(&target).arg(tmp.path().join(&n)));
            alerts_expected.push(n);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    // End on valid files, one last reload.
    std::fs::write(&rules, &valid).unwrap();
    std::fs::write(&config, valid_cfg).unwrap();
    d.signal(libc::SIGHUP);
    sent += 1;
    let issued = load.finish(&d);
    // Every reload is accounted for, ok or failed (signals that arrive
    // while a reload runs may be merged by the kernel: at most `sent`).
    let m = d.wait_metrics(
        |m| {
            m.sum("kestrel_reloads_total", &[("result", "ok")])
                + m.sum("kestrel_reloads_total", &[("result", "failed")])
                >= f64::from(sent) / 2.0
        },
        Duration::from_secs(60),
    );
    let ok = m.sum("kestrel_reloads_total", &[("result", "ok")]);
    let failed = m.sum("kestrel_reloads_total", &[("result", "failed")]);
    assert!(failed > 0.0 && ok > 0.0, "ok {ok} failed {failed}");
    assert!(ok + failed <= f64::from(sent));
    // The valid rule still fires after the storm.
    let n = common::nonce("after-storm");
    common::run(common::quiet("cat").arg(&target).arg(tmp.path().join(&n)));
    assert!(
        d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(30))
            .is_some(),
        "no alert after the storm; stderr:\n{}",
        d.stderr()
    );
    let during = alerts_expected
        .iter()
        .filter(|n| d.alerts_where(|a| common::output_has(a, n)).len() == 1)
        .count();
    assert_eq!(
        during,
        alerts_expected.len(),
        "alerts lost during the storm"
    );
    let settled = common::settled(&d, Duration::from_secs(30));
    assert_eq!(settled.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    report(
        "SIGHUP every 100 ms with invalid rules and config swapped in",
        "daemon up with the last valid rules; loadgen reconciles; every alert delivered; 0 kernel drops",
        &format!(
            "{sent} SIGHUP in 4 s: {ok} reloads ok, {failed} failed (rest merged while reloading); loadgen {issued} syscalls (open+close at {LOAD_RATE} opens/s) issued = observed; {}/{} alerts during the storm; 0 kernel drops",
            during,
            alerts_expected.len()
        ),
    );
    d.stop();
}

/// program_output runs like Falco's (popen(3): `/bin/sh -c PROGRAM`): the
/// shell interprets the configured command, and only it. Alert text goes
/// to the program's stdin, so shell syntax in an event (a file name here)
/// is never executed.
#[test]
fn program_output_never_interprets_alert_text() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let out = tmp.path().join("program.out");
    // A file name cannot hold '/': the canary is relative to the cwd the
    // program would run in (the daemon's, which is this test's).
    let name = common::nonce("canary");
    let canary = std::env::current_dir().unwrap().join(&name);
    let hostile = tmp
        .path()
        .join(format!("$(touch {name});`touch {name}`;touch {name}"));
    std::fs::write(&hostile, b"").unwrap();
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "program_output.enabled=true".into(),
            // Shell syntax in the configuration is the shell's, as in Falco.
            format!("program_output.program=cat >> {} && true", out.display()),
        ],
        ..Default::default()
    });
    let n = common::nonce("program-shell");
    let nf = tmp.path().join(&n);
    std::fs::write(&nf, b"").unwrap();
    common::run(
        common::quiet("cat")
            .arg("/etc/shadow")
            .arg(&hostile)
            .arg(&nf),
    );
    let a = d
        .wait_alert(|a| common::output_has(a, &n), Duration::from_secs(30))
        .expect("alert");
    assert!(a["output"].as_str().unwrap().contains("$(touch"), "{a}");
    let deadline = Instant::now() + Duration::from_secs(5);
    let text = loop {
        let t = std::fs::read_to_string(&out).unwrap_or_default();
        if t.contains(&n) || Instant::now() > deadline {
            break t;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(text.contains(&n) && text.contains("$(touch"), "{text}");
    assert!(!canary.exists(), "alert text was run by a shell");
    assert!(!Path::new("/").join(&name).exists());
    d.stop();
}

/// The capabilities README.md documents, as a bounding set under uid 0.
const DOCUMENTED_CAPS: [&str; 4] = ["bpf", "perfmon", "sys_ptrace", "dac_read_search"];

fn setpriv(caps: &[&str]) -> Vec<String> {
    let set: Vec<String> = caps.iter().map(|c| format!("+{c}")).collect();
    vec![
        "setpriv".into(),
        format!("--bounding-set=-all,{}", set.join(",")),
        "--inh-caps=-all".into(),
        "--".into(),
    ]
}

/// Least privilege: with only the documented capabilities the daemon
/// captures and alerts; without CAP_BPF or CAP_PERFMON it stops at once
/// with a message naming them.
#[test]
fn least_privilege_documented_capabilities_suffice() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let d = Daemon::start_with(DaemonOpts {
        wrapper: setpriv(&DOCUMENTED_CAPS),
        ..Default::default()
    });
    let status = std::fs::read_to_string(format!("/proc/{}/status", d.pid())).unwrap();
    let bnd = status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .map(|v| u64::from_str_radix(v.trim(), 16).unwrap())
        .unwrap();
    // CAP_DAC_READ_SEARCH 2, CAP_SYS_PTRACE 19, CAP_PERFMON 38, CAP_BPF 39.
    assert_eq!(bnd, (1 << 2) | (1 << 19) | (1 << 38) | (1 << 39), "{bnd:x}");
    let n = read_shadow(tmp.path(), "least-priv");
    assert!(
        d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(30))
            .is_some(),
        "no alert with the documented capabilities; stderr:\n{}",
        d.stderr()
    );
    d.stop();
    let mut measured = vec!["documented set: starts and alerts".to_string()];
    for missing in ["bpf", "perfmon"] {
        let caps: Vec<&str> = DOCUMENTED_CAPS
            .iter()
            .copied()
            .filter(|c| *c != missing)
            .collect();
        let w = setpriv(&caps);
        let out = Command::new(&w[0])
            .args(&w[1..])
            .arg(common::KESTREL)
            .arg("-o")
            .arg(format!(
                "kestrel.lock_file={}",
                tmp.path().join("k.lock").display()
            ))
            .args(["-o", "webserver.listen_port=0", "-M", "5"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "ran without CAP_{missing}: {err}");
        assert!(
            err.contains("CAP_BPF, CAP_PERFMON") && err.contains("refused"),
            "unclear error without CAP_{missing}: {err}"
        );
        measured.push(format!(
            "without CAP_{}: exit {}, \"{}\"",
            missing.to_uppercase(),
            out.status.code().unwrap_or(-1),
            err.lines()
                .find(|l| l.contains("error"))
                .unwrap_or("")
                .trim()
        ));
    }
    report(
        "least privilege (setpriv bounding set)",
        "documented capabilities suffice; a missing one is a clear error",
        &measured.join("; ").replace('|', "/"),
    );
}
