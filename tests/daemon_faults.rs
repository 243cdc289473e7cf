//! The fault suite (issue 14, docs/RELIABILITY.md): the daemon under
//! faults of its own process and of its sinks. Each test prints one line
//! `FAULT|<fault>|<expectation>|<measured>` on stdout, which `perf/faults`
//! collects into docs/RELIABILITY.md. Faults already covered elsewhere:
//! refused and hung HTTP sinks (tests/daemon_outputs.rs), SIGHUP reloads
//! under load and SIGTERM draining (tests/daemon_signals.rs).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, DaemonOpts};

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
        d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(5))
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

/// kill -9: the kernel frees every program, map and link the daemon held
/// (nothing is pinned), its lock is released, and a restart with the same
/// lock file captures and alerts again.
#[test]
fn kill_9_leaves_no_bpf_objects_and_restarts() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let lock = tmp.path().join("kestrel.lock");
    let opts = DaemonOpts {
        options: vec![format!("kestrel.lock_file={}", lock.display())],
        ..Default::default()
    };
    let d = Daemon::start_with(opts.clone());
    let n = read_shadow(tmp.path(), "before-kill");
    assert!(d
        .wait_alert(|a| common::output_has(a, &n), Duration::from_secs(5))
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
    d.signal(libc::SIGKILL);
    drop(d); // reaps it
             // Objects are freed asynchronously (RCU): allow a moment.
    let deadline = Instant::now() + Duration::from_secs(5);
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
    let n = read_shadow(tmp.path(), "after-restart");
    assert!(
        d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(5))
            .is_some(),
        "no alert after the restart"
    );
    let m = d.metrics();
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    report(
        "kill -9 and restart",
        "no stale BPF programs, links or maps; restart alerts",
        &format!(
            "{progs} programs, {links} links, {maps} maps all freed; restart healthy in {} ms and alerting, 0 kernel drops",
            restart.as_millis()
        ),
    );
    d.stop();
}
