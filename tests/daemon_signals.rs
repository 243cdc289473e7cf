//! Signals, for real: SIGHUP swaps the rules without detaching the probe
//! (and keeps the old rules when the new ones are invalid), SIGHUP under
//! load loses no event, SIGTERM in the middle of a burst under load
//! drains what the kernel already emitted.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Daemon, DaemonOpts, Load};
use serde_json::Value;

fn rule_file(name: &str, path: &Path) -> String {
    format!(
        "- rule: {name}\n  desc: end-to-end reload test\n  condition: evt.type in (open, openat, openat2) and fd.name = \"{}\"\n  output: \"{name} (file=%fd.name proc=%proc.name cmdline=%proc.cmdline)\"\n  priority: WARNING\n  tags: [e2e]\n",
        path.display()
    )
}

/// `cat FILE NONCEFILE`; returns the nonce.
fn cat(file: &Path, dir: &Path, tag: &str) -> (String, Instant) {
    let n = common::nonce(tag);
    let nf = dir.join(&n);
    std::fs::write(&nf, b"").unwrap();
    common::run(common::quiet("cat").arg(file).arg(&nf));
    (n, Instant::now())
}

#[test]
fn sighup_swaps_rules_and_invalid_rules_keep_the_old_ones() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let a = tmp.path().join("a.txt");
    let b = tmp.path().join("b.txt");
    std::fs::write(&a, b"a").unwrap();
    std::fs::write(&b, b"b").unwrap();
    let rules = tmp.path().join("rules.yaml");
    std::fs::write(&rules, rule_file("E2E reload A", &a)).unwrap();
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules.clone()],
        ..Default::default()
    });
    let has = |rule: &'static str, n: String| {
        move |x: &Value| common::rule_of(x) == rule && common::output_has(x, &n)
    };

    // Rule A is in force; B does not exist yet.
    let (n, end) = cat(&a, tmp.path(), "a1");
    assert!(
        d.wait_alert_until(has("E2E reload A", n), end + Duration::from_secs(1))
            .is_some(),
        "rule A did not fire before the reload"
    );
    let (nb0, _) = cat(&b, tmp.path(), "b0");

    // Swap in rule B.
    std::fs::write(&rules, rule_file("E2E reload B", &b)).unwrap();
    d.signal(libc::SIGHUP);
    let m = d.wait_metrics(
        |m| m.sum("kestrel_reloads_total", &[("result", "ok")]) >= 1.0,
        Duration::from_secs(5),
    );
    assert_eq!(
        m.sum("kestrel_reloads_total", &[("result", "ok")]),
        1.0,
        "reload not counted as ok; stderr:\n{}",
        d.stderr()
    );
    assert_eq!(m.sum("kestrel_reloads_total", &[("result", "failed")]), 0.0);
    assert!(
        d.wait_stderr("reloaded:", Duration::from_secs(1)),
        "{}",
        d.stderr()
    );
    let (n, end) = cat(&b, tmp.path(), "b1");
    assert!(
        d.wait_alert_until(has("E2E reload B", n), end + Duration::from_secs(1))
            .is_some(),
        "the new rule B did not fire after SIGHUP"
    );
    let (na, _) = cat(&a, tmp.path(), "a2");

    // Invalid rules: the reload fails, B stays in force.
    std::fs::write(
        &rules,
        "- rule: E2E broken\n  desc: x\n  condition: evt.type = openat and and\n  output: x\n  priority: WARNING\n",
    )
    .unwrap();
    d.signal(libc::SIGHUP);
    let m = d.wait_metrics(
        |m| m.sum("kestrel_reloads_total", &[("result", "failed")]) >= 1.0,
        Duration::from_secs(5),
    );
    assert_eq!(m.sum("kestrel_reloads_total", &[("result", "failed")]), 1.0);
    assert_eq!(m.sum("kestrel_reloads_total", &[("result", "ok")]), 1.0);
    assert!(
        d.wait_stderr("reload failed", Duration::from_secs(1)),
        "no reload error logged:\n{}",
        d.stderr()
    );
    let (n, end) = cat(&b, tmp.path(), "b2");
    assert!(
        d.wait_alert_until(has("E2E reload B", n), end + Duration::from_secs(1))
            .is_some(),
        "rule B stopped firing after a failed reload"
    );
    assert!(d.get("/healthz").unwrap().0 == 200);

    // Sentinel passed: nothing from the rules not in force at the time.
    assert!(
        d.alerts_where(|x| common::output_has(x, &nb0) || common::output_has(x, &na))
            .is_empty(),
        "a rule fired while it was not in force: {:?}",
        d.alerts()
    );
    assert!(d
        .alerts_where(|x| common::rule_of(x) == "E2E broken")
        .is_empty());
    d.stop();
}

#[test]
fn sighup_under_load_loses_no_event() {
    let _g = common::serial();
    let loadgen = common::loadgen_bin();
    let d = Daemon::start();
    let child = Command::new(&loadgen)
        .args([
            "run",
            "--scenario",
            "open",
            "--threads",
            "1",
            "--rate",
            "20000",
            "--duration",
            "4",
            "--json",
            "--quiet",
            "--daemon",
        ])
        .arg(d.url())
        .env("KESTREL_TRACK_TOKEN_FILE", d.token_file())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start kestrel-loadgen");
    // Reload several times while the load runs (loadgen spends its first
    // moments on setup and a baseline scrape).
    std::thread::sleep(Duration::from_millis(800));
    for _ in 0..5 {
        d.signal(libc::SIGHUP);
        std::thread::sleep(Duration::from_millis(400));
    }
    let out = child.wait_with_output().expect("wait for kestrel-loadgen");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|e| {
        panic!(
            "kestrel-loadgen printed no JSON report ({e}): {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(
        out.status.success(),
        "kestrel-loadgen failed ({}): {report:#}\nkestrel stderr:\n{}",
        out.status,
        d.stderr()
    );
    assert_eq!(report["passed"], true, "{report:#}");
    assert_eq!(report["dropped"], 0, "{report:#}");
    assert_eq!(report["observed"], report["issued"], "{report:#}");
    assert!(
        report["issued"].as_u64().unwrap_or(0) > 100_000,
        "{report:#}"
    );

    let m = d.metrics();
    assert_eq!(
        m.sum("kestrel_reloads_total", &[("result", "ok")]),
        5.0,
        "stderr:\n{}",
        d.stderr()
    );
    assert_eq!(m.sum("kestrel_reloads_total", &[("result", "failed")]), 0.0);
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    let settled = common::settled(&d, Duration::from_secs(15));
    assert_eq!(settled.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    assert_eq!(settled.sum("kestrel_worker_decode_errors_total", &[]), 0.0);
    assert_eq!(
        settled.sum("kestrel_worker_deferred_dropped_total", &[]),
        0.0
    );
    let stderr = d.stop();
    common::assert_summary_balanced(&stderr);
}

/// SIGTERM in the middle of a burst, under kestrel-loadgen load: the
/// signal arrives while loadgen is issuing and a process is still opening
/// /etc/shadow (alerts being produced). Every record the kernel wrote to
/// the rings before the probe stopped is processed (exit summary: kernel
/// sent = processed, none dropped) and every alert produced reaches both
/// stdout and the file output.
#[test]
fn sigterm_mid_burst_under_load_drains_the_rings() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let file = tmp.path().join("events.json");
    let mut d = Daemon::start_with(DaemonOpts {
        options: vec![
            "file_output.enabled=true".into(),
            format!("file_output.filename={}", file.display()),
            common::LOAD_OPTS[0].into(),
        ],
        ..Default::default()
    });
    // Longer than the test: the daemon goes away in the middle of it.
    let mut load = Load::start(&d, 120);
    let n = common::nonce("drain");
    let mut burst = Command::new(common::python3())
        .args([
            "-c",
            // At most 2,000 opens/s: alerts keep coming, at a rate the
            // daemon sustains beside the load.
            "import time\nwhile True:\n    for _ in range(20):\n        open('/etc/shadow').close()\n    time.sleep(0.01)",
            &n,
        ])
        .stdin(Stdio::null())
        .spawn()
        .expect("start the burst");
    const BEFORE: usize = 500;
    let early = d.wait_alerts(
        |a| common::output_has(a, &n),
        BEFORE,
        Duration::from_secs(60),
    );
    assert!(
        early.len() >= BEFORE,
        "only {} burst alerts; stderr:\n{}",
        early.len(),
        d.stderr()
    );
    assert!(load.running(), "loadgen finished before the SIGTERM");
    assert!(
        matches!(burst.try_wait(), Ok(None)),
        "the burst ended before the SIGTERM"
    );
    let t = Instant::now();
    let st = d.terminate(Duration::from_secs(60));
    let exit_ms = t.elapsed().as_millis();
    // Both were still running when the daemon was gone.
    let burst_running = matches!(burst.try_wait(), Ok(None));
    let load_running = load.running();
    common::best_effort("stop the burst", burst.kill());
    common::best_effort("reap the burst", burst.wait());
    // Its daemon is gone: it cannot reconcile any more.
    load.abandon(Duration::ZERO);
    let stderr = d.stderr();
    assert!(st.success(), "kestrel exited with {st}; stderr:\n{stderr}");
    assert!(
        burst_running && load_running,
        "the SIGTERM did not land in the middle of the load (burst running {burst_running}, loadgen running {load_running})"
    );
    assert!(stderr.contains("draining and exiting"), "{stderr}");
    common::assert_summary_balanced(&stderr);
    let sum = common::summary(&stderr);
    // Every alert produced reached stdout and the file, exactly once.
    let on_stdout = d.alerts().len() as u64;
    let in_file = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count() as u64;
    assert_eq!(
        on_stdout, sum.alerts,
        "stdout vs alerts produced; stderr:\n{stderr}"
    );
    assert_eq!(
        in_file, sum.alerts,
        "file vs alerts produced; stderr:\n{stderr}"
    );
    for sink in ["stdout", "file"] {
        let ([offered, delivered, filtered, dropped, queued], _) =
            common::exit_books(&stderr, sink);
        assert_eq!(
            (offered, delivered, filtered, dropped, queued),
            (sum.alerts, sum.alerts, 0, 0, 0),
            "{sink}: offered, delivered, filtered, dropped, queued"
        );
    }
    let burst_alerts = d
        .alerts_where(|a| common::rule_of(a) == "Read Sensitive File" && common::output_has(a, &n))
        .len();
    // A line for perf/faults (docs/RELIABILITY.md).
    println!(
        "FAULT|SIGTERM in the middle of a burst, under loadgen load|every record in the rings processed; every alert produced delivered to stdout and file|SIGTERM after {} burst alerts with the burst and loadgen ({}/s) still running; exit in {exit_ms} ms; kernel sent {} = processed {}, 0 dropped in kernel; {} alerts produced ({burst_alerts} of the burst): stdout {on_stdout}, file {in_file}, 0 dropped",
        early.len(),
        common::LOAD_RATE,
        sum.sent,
        sum.processed,
        sum.alerts,
    );
}

#[test]
fn sighup_swaps_outputs_without_losing_alerts() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let (fa, fb) = (tmp.path().join("a.json"), tmp.path().join("b.json"));
    let cfg = tmp.path().join("kestrel.yaml");
    let write_cfg = |file: &Path| {
        std::fs::write(
            &cfg,
            format!(
                "json_output: true\nfile_output:\n  enabled: true\n  filename: {}\n",
                file.display()
            ),
        )
        .unwrap()
    };
    write_cfg(&fa);
    let d = Daemon::start_with(DaemonOpts {
        config: Some(cfg.clone()),
        ..Default::default()
    });
    const OPENS: usize = 400;
    let n = common::nonce("swap");
    // ~1.2 s of alerts while the file output is swapped four times.
    let mut burst = Command::new(common::python3())
        .args([
            "-c",
            &format!(
                "import time\nfor _ in range({OPENS}):\n    open('/etc/shadow').close()\n    time.sleep(0.003)"
            ),
            &n,
        ])
        .spawn()
        .expect("start the burst");
    for (i, f) in [&fb, &fa, &fb, &fa].into_iter().enumerate() {
        std::thread::sleep(Duration::from_millis(250));
        write_cfg(f);
        d.signal(libc::SIGHUP);
        d.wait_metrics(
            |m| m.sum("kestrel_reloads_total", &[("result", "ok")]) >= (i + 1) as f64,
            Duration::from_secs(5),
        );
    }
    assert!(burst.wait().unwrap().success());
    let on_stdout = d.wait_alerts(|a| common::output_has(a, &n), OPENS, Duration::from_secs(3));
    assert_eq!(on_stdout.len(), OPENS, "stdout; stderr:\n{}", d.stderr());
    let m = d.metrics();
    assert_eq!(m.sum("kestrel_reloads_total", &[("result", "ok")]), 4.0);
    let stderr = d.stop();
    let count = |p: &Path| {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(&n))
            .count()
    };
    let (ca, cb) = (count(&fa), count(&fb));
    assert!(ca > 0 && cb > 0, "both files get alerts: {ca} {cb}");
    assert_eq!(
        ca + cb,
        OPENS,
        "each alert in exactly one file across the swaps ({ca} + {cb}); stderr:\n{stderr}"
    );
    assert!(!stderr.contains("lost by the outputs"), "{stderr}");
}

/// With a rule that needs every open beside the default rules, opens none
/// of the defaults can match arrive marked "no clause held" by the kernel
/// filter. After reloads (each installs a new filter generation) the new
/// rules read the new filter's marks: plain opens keep being marked off,
/// and a read of /etc/shadow still raises the default rule's alert.
#[test]
fn kernel_filter_marks_are_read_across_reloads() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![
            common::default_rules(),
            common::repo().join("perf/zero-drop/adversarial_rules.yaml"),
        ],
        ..Default::default()
    });
    let plain = tmp.path().join("plain.txt");
    std::fs::write(&plain, b"x").unwrap();
    for reload in 1..=3 {
        d.signal(libc::SIGHUP);
        d.wait_metrics(
            |m| m.sum("kestrel_reloads_total", &[("result", "ok")]) >= f64::from(reload),
            Duration::from_secs(5),
        );
        let before = d
            .metrics()
            .sum("kestrel_worker_events_marked_off_total", &[]);
        for _ in 0..200 {
            drop(std::fs::File::open(&plain).expect("open"));
        }
        let m = d.wait_metrics(
            |m| m.sum("kestrel_worker_events_marked_off_total", &[]) >= before + 200.0,
            Duration::from_secs(5),
        );
        assert!(
            m.sum("kestrel_worker_events_marked_off_total", &[]) >= before + 200.0,
            "after reload {reload}: {} events marked off, {before} before 200 plain opens",
            m.sum("kestrel_worker_events_marked_off_total", &[])
        );
        let (n, end) = cat(
            Path::new("/etc/shadow"),
            tmp.path(),
            &format!("shadow{reload}"),
        );
        assert!(
            d.wait_alert_until(
                |a: &Value| common::rule_of(a) == "Read Sensitive File"
                    && common::output_has(a, &n),
                end + Duration::from_secs(2)
            )
            .is_some(),
            "after reload {reload}: no Read Sensitive File alert"
        );
    }
    assert_eq!(
        d.metrics()
            .sum("kestrel_reloads_total", &[("result", "failed")]),
        0.0
    );
}
