//! Health, metrics, drops and load, for real: /healthz and the /metrics
//! series; zero kernel drops at idle and in the zero-drop smoke check with
//! kestrel-loadgen (issue 5 item 5); with a deliberately tiny ring, drops
//! are counted exactly (seen == sent + dropped) and raise the rate-limited
//! internal alert.

mod common;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{Daemon, DaemonOpts, Metrics};
use serde_json::Value;

/// CPUs the probe has a ring for (possible CPUs).
fn possible_cpus() -> usize {
    let text = std::fs::read_to_string("/sys/devices/system/cpu/possible").unwrap();
    let mut n = 0;
    for part in text.trim().split(',') {
        n += match part.split_once('-') {
            Some((a, b)) => b.parse::<usize>().unwrap() - a.parse::<usize>().unwrap() + 1,
            None => 1,
        };
    }
    n
}

fn loadgen(args: &[&str]) -> (std::process::ExitStatus, String, String) {
    let out = Command::new(common::loadgen_bin())
        .args(args)
        .output()
        .expect("run kestrel-loadgen");
    (
        out.status,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn healthz_and_metrics_series() {
    let _g = common::serial();
    let d = Daemon::start();
    assert_eq!(
        d.get("/healthz").unwrap(),
        (200, "{\"status\": \"ok\"}".to_string())
    );
    assert_eq!(d.get("/no-such-page").unwrap().0, 404);
    let tmp = common::tempdir();
    let n = common::nonce("metrics");
    let nf = tmp.path().join(&n);
    std::fs::write(&nf, b"").unwrap();
    common::run(common::quiet("cat").arg("/etc/shadow").arg(&nf));
    d.wait_alert(|a| common::output_has(a, &n), Duration::from_secs(1))
        .expect("alert");
    // Latency histograms are folded every 50 ms, the kernel counters'
    // snapshot is refreshed every 250 ms.
    let m = d.wait_metrics(
        |m| {
            m.sum("kestrel_alert_latency_seconds_count", &[]) >= 1.0
                && m.sum("kestrel_kernel_events_seen_total", &[]) > 0.0
        },
        Duration::from_secs(2),
    );

    // Every sample belongs to a declared metric.
    let declared: BTreeSet<&str> = m
        .text
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    for s in &m.samples {
        let base = s
            .name
            .strip_suffix("_count")
            .or_else(|| s.name.strip_suffix("_sum"))
            .filter(|b| declared.contains(b))
            .unwrap_or(&s.name);
        assert!(declared.contains(base), "{} has no # TYPE line", s.name);
    }

    // Per CPU: kernel counters by category, ring fill.
    let ncpu = possible_cpus();
    for cpu in 0..ncpu {
        let c = cpu.to_string();
        for name in [
            "kestrel_kernel_events_seen_total",
            "kestrel_kernel_events_sent_total",
            "kestrel_kernel_events_dropped_total",
        ] {
            let cats: BTreeSet<String> = m
                .select(name, &[("cpu", &c)])
                .filter_map(|s| {
                    s.labels
                        .iter()
                        .find(|l| l.0 == "category")
                        .map(|l| l.1.clone())
                })
                .collect();
            assert!(
                cats.contains("file") && cats.contains("process"),
                "{name} cpu {c}: {cats:?}"
            );
        }
        assert_eq!(
            m.select("kestrel_ring_fill_ratio", &[("cpu", &c)]).count(),
            1
        );
    }
    assert!(m.sum("kestrel_kernel_events_seen_total", &[]) > 0.0);
    // Per worker.
    for w in 0..ncpu {
        let id = w.to_string();
        for name in [
            "kestrel_worker_records_total",
            "kestrel_worker_events_processed_total",
            "kestrel_worker_events_deferred_total",
            "kestrel_worker_alerts_total",
            "kestrel_worker_deferred_queue_length",
        ] {
            assert_eq!(
                m.select(name, &[("worker", &id)]).count(),
                1,
                "{name} worker {id}"
            );
        }
    }
    assert!(m.sum("kestrel_worker_events_processed_total", &[]) > 0.0);
    // Alerts by rule and priority.
    assert!(
        m.sum(
            "kestrel_alerts_total",
            &[("rule", "Read Sensitive File"), ("priority", "Warning")]
        ) >= 1.0,
        "{}",
        m.text
    );
    // Outputs.
    assert!(m.sum("kestrel_output_alerts_received_total", &[]) >= 1.0);
    assert!(
        m.sum(
            "kestrel_output_alerts_delivered_total",
            &[("sink", "stdout")]
        ) >= 1.0
    );
    assert_eq!(
        m.select("kestrel_output_queue_depth", &[("sink", "stdout")])
            .count(),
        1
    );
    // The front queue (workers -> dispatcher) reports its depth too.
    assert_eq!(
        m.select("kestrel_output_queue_depth", &[("sink", "front")])
            .count(),
        1
    );
    assert_eq!(m.sum("kestrel_output_alerts_dropped_total", &[]), 0.0);
    // Latency quantiles: present and positive. Our alert's event came long
    // after start-up, so the alert latency is under a second. The event
    // latency is not bounded here: records the kernel wrote while the
    // probe was still loading wait for the workers (about a second on the
    // development VM, see the report).
    for (name, bound) in [
        ("kestrel_event_latency_seconds", 30.0),
        ("kestrel_alert_latency_seconds", 1.0),
    ] {
        let q: Vec<(String, f64)> = m
            .select(name, &[])
            .filter_map(|s| {
                s.labels
                    .iter()
                    .find(|l| l.0 == "quantile")
                    .map(|l| (l.1.clone(), s.value))
            })
            .collect();
        assert!(q.len() >= 3, "{name}: {q:?}");
        for (qq, v) in &q {
            assert!(*v > 0.0 && *v < bound, "{name}{{quantile={qq}}} = {v}");
        }
        assert!(m.sum(&format!("{name}_count"), &[]) >= 1.0, "{name}_count");
    }
    // The rest of the documented series.
    for name in [
        "kestrel_traced_event_types",
        "kestrel_process_table_entries",
        "kestrel_reloads_total",
        "kestrel_process_cpu_seconds_total",
        "kestrel_process_resident_memory_bytes",
        "kestrel_uptime_seconds",
    ] {
        assert!(m.has(name), "{name} missing");
    }
    assert_eq!(
        m.sum("kestrel_traced_event_types", &[("type", "openat")]),
        1.0
    );
    assert!(m.sum("kestrel_process_table_entries", &[]) > 1.0);
    d.stop();
}

#[test]
fn zero_drops_at_idle_and_loadgen_smoke_check() {
    let _g = common::serial();
    let d = Daemon::start();
    std::thread::sleep(Duration::from_secs(1));
    let idle = common::settled(&d, Duration::from_secs(15));
    assert_eq!(
        idle.sum("kestrel_kernel_events_dropped_total", &[]),
        0.0,
        "drops at idle"
    );

    let url = d.url();
    let token = d.token_file();
    let (st, stdout, stderr) = loadgen(&[
        "run",
        "--scenario",
        "open",
        "--threads",
        "1",
        "--rate",
        "50000",
        "--duration",
        "3",
        "--daemon",
        &url,
        "--daemon-token-file",
        token.to_str().expect("UTF-8 temp path"),
        "--json",
    ]);
    let r: Value = serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("no JSON report ({e}): {stdout}\n{stderr}"));
    assert!(st.success(), "kestrel-loadgen exited {st}: {r:#}\n{stderr}");
    assert_eq!(r["passed"], true, "{r:#}");
    assert_eq!(r["dropped"], 0, "{r:#}");
    assert_eq!(r["observed"], r["issued"], "{r:#}");
    assert_eq!(r["lost"], 0, "{r:#}");
    assert_eq!(r["surplus"], 0, "{r:#}");
    let rate = r["rate_per_s"].as_f64().unwrap();
    assert!(rate > 45_000.0, "achieved rate {rate}/s: {r:#}");
    // open + close per operation.
    assert!(r["issued"].as_u64().unwrap() >= 2 * 140_000, "{r:#}");

    let after = common::settled(&d, Duration::from_secs(15));
    assert_eq!(after.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    let stderr = d.stop();
    common::assert_summary_balanced(&stderr);
}

#[test]
fn tiny_ring_drops_are_counted_and_notified() {
    let _g = common::serial();
    let d = Daemon::start_with(DaemonOpts {
        options: vec!["kestrel.ring_buffer_size=4096".into()],
        ..Default::default()
    });
    let started = Instant::now();
    let (st, out, err) = loadgen(&[
        "run",
        "--scenario",
        "open",
        "--threads",
        "2",
        "--rate",
        "max",
        "--duration",
        "1.5",
        "--json",
        "--quiet",
    ]);
    assert!(st.success(), "kestrel-loadgen: {st}\n{out}\n{err}");
    let drop_alert = |a: &Value| common::rule_of(a) == "kestrel internal: syscall event drop";
    let notice = d
        .wait_alert(drop_alert, Duration::from_secs(3))
        .unwrap_or_else(|| panic!("no drop notice; stderr:\n{}", d.stderr()));
    assert_eq!(notice["priority"], "Debug");
    assert_eq!(notice["source"], "internal");
    let f = &notice["output_fields"];
    assert!(f["n_drops"].as_u64().unwrap() > 0, "{notice}");
    assert!(
        f["n_evts"].as_u64().unwrap() >= f["n_drops"].as_u64().unwrap(),
        "{notice}"
    );
    assert_eq!(f["ebpf_enabled"], 1);
    assert!(d.stderr().contains("syscall event drop:"), "{}", d.stderr());

    // Exact accounting per CPU and category, once no event is mid-flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    let m = loop {
        let m = d.metrics();
        if balanced(&m) || Instant::now() > deadline {
            break m;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(balanced(&m), "seen != sent + dropped:\n{}", m.text);
    let dropped = m.sum("kestrel_kernel_events_dropped_total", &[]);
    assert!(
        dropped > 0.0,
        "a 4 KiB ring under a flat-out burst dropped nothing"
    );

    // Rate limit: one notice per 30 s (rate 0.0333, burst 1), however long
    // the drops went on.
    std::thread::sleep(Duration::from_millis(1200));
    let notices = d.alerts_where(drop_alert);
    assert!(started.elapsed() < Duration::from_secs(29));
    assert_eq!(notices.len(), 1, "{notices:?}");
    let stderr = d.stop();
    let s = common::summary(&stderr);
    assert_eq!(s.seen, s.sent + s.dropped, "{s:?}");
    assert!(s.dropped as f64 >= dropped, "{s:?}");
    assert_eq!(
        s.processed, s.sent,
        "every record that made it into a ring is processed: {s:?}"
    );
}

fn balanced(m: &Metrics) -> bool {
    let mut ok = true;
    for s in m.select("kestrel_kernel_events_seen_total", &[]) {
        let l: Vec<(&str, &str)> = s
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let sent = m.sum("kestrel_kernel_events_sent_total", &l);
        let dropped = m.sum("kestrel_kernel_events_dropped_total", &l);
        if s.value != sent + dropped {
            ok = false;
        }
    }
    ok
}

/// Start-up latency. Regression: the probe used to verify and attach its
/// programs one at a time, the sched_process_* hooks first and sys_exit
/// last; sys_exit's verification takes about a second on the development
/// VM, and everything the sched hooks recorded meanwhile waited in the
/// rings (p90 ~0.7 s, max ~1 s right after start-up). Now every program is
/// verified before any is attached.
#[test]
fn event_latency_is_low_right_after_start() {
    let _g = common::serial();
    // Process activity while the daemon starts (a busy node).
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = std::sync::Arc::clone(&stop);
    let churn = std::thread::spawn(move || {
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            common::run(&mut common::quiet("/bin/true"));
            std::thread::sleep(Duration::from_millis(5));
        }
    });
    let d = Daemon::start();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    churn.join().unwrap();
    let m = d.wait_metrics(
        |m| m.sum("kestrel_event_latency_seconds_count", &[]) > 0.0,
        Duration::from_secs(2),
    );
    let max = m.sum("kestrel_event_latency_seconds", &[("quantile", "1")]);
    d.stop();
    assert!(max < 0.1, "event latency max {max} s right after start-up");
}
