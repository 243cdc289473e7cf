//! Falco's metric names and internal events on a real daemon: the
//! `falcosecurity_*` metrics on /metrics (falco_metrics.cpp and the libs
//! metrics collector of Falco 0.44 for names, labels and types), the
//! "Falco internal: metrics snapshot" event of the `metrics:` block, and
//! the drop alert under Falco's name.

mod common;

use std::time::Duration;

use common::{Daemon, DaemonOpts, Metrics};
use serde_json::Value;

const RULE: &str = "- rule: Falco metrics probe
  desc: the test opened its marker file
  condition: evt.type in (open, openat, openat2) and fd.name contains falco-metrics-probe and proc.name = cat
  output: marker opened (file=%fd.name proc=%proc.name)
  priority: NOTICE
  tags: [filesystem, T1005]
";

fn rules_file(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("probe_rules.yaml");
    std::fs::write(&p, RULE).unwrap();
    p
}

/// Opens the marker file `n` times with `cat` (real openat syscalls).
fn open_marker(dir: &std::path::Path, n: usize) {
    let f = dir.join(format!("falco-metrics-probe-{}", common::nonce("m")));
    std::fs::write(&f, b"x").unwrap();
    for _ in 0..n {
        common::run(common::quiet("cat").arg(&f));
    }
}

fn type_of(m: &Metrics, name: &str) -> Option<String> {
    let prefix = format!("# TYPE {name} ");
    m.text
        .lines()
        .find_map(|l| l.strip_prefix(&prefix).map(str::to_string))
}

#[test]
fn falco_named_metrics_are_served_with_plausible_values() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let conf = tmp.path().join("site.yaml");
    std::fs::write(&conf, "log_level: info\n").unwrap();
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules_file(tmp.path())],
        options: vec!["metrics.kernel_event_counters_per_cpu_enabled=true".into()],
        config: Some(conf.clone()),
        ..Default::default()
    });
    open_marker(tmp.path(), 3);
    let m = d.wait_metrics(
        |m| m.sum("falcosecurity_falco_rules_matches_total", &[]) >= 3.0,
        Duration::from_secs(3),
    );
    // Rule matches, with Falco's labels: numeric priority (notice = 5),
    // rule_name, source and one tag_<tag>="true" per tag.
    let s: Vec<_> = m
        .select(
            "falcosecurity_falco_rules_matches_total",
            &[
                ("rule_name", "Falco metrics probe"),
                ("priority", "5"),
                ("source", "syscall"),
                ("tag_filesystem", "true"),
                ("tag_T1005", "true"),
            ],
        )
        .collect();
    assert_eq!(s.len(), 1, "{}", m.text);
    assert_eq!(s[0].value, 3.0, "{}", m.text);
    assert_eq!(
        type_of(&m, "falcosecurity_falco_rules_matches_total").as_deref(),
        Some("counter")
    );
    // Kernel counters: events were counted, drops are consistent with
    // kestrel's own counters.
    let evts = m.sum("falcosecurity_scap_n_evts_total", &[]);
    assert!(evts > 0.0, "{}", m.text);
    assert!(
        evts >= m.sum("kestrel_kernel_events_seen_total", &[]) * 0.5,
        "{}",
        m.text
    );
    assert!(m.has("falcosecurity_scap_n_drops_total"));
    assert_eq!(
        m.sum(
            "falcosecurity_scap_n_drops_buffer_total",
            &[("dir", "exit")]
        ),
        m.sum("falcosecurity_scap_n_drops_total", &[]),
        "{}",
        m.text
    );
    assert_eq!(
        m.select(
            "falcosecurity_scap_n_drops_buffer_total",
            &[("dir", "enter"), ("drop", "clone_fork")]
        )
        .count(),
        1
    );
    // Per CPU, summing to the total.
    let per_cpu = m.sum("falcosecurity_scap_n_evts_cpu_total", &[]);
    assert!(per_cpu > 0.0 && m.has("falcosecurity_scap_n_drops_cpu_total"));
    assert!(m
        .select("falcosecurity_scap_n_evts_cpu_total", &[("cpu", "0")])
        .next()
        .is_some());
    assert_eq!(
        type_of(&m, "falcosecurity_scap_n_evts_total").as_deref(),
        Some("counter")
    );
    // Resource gauges: kestrel's own memory, in bytes, near its
    // kestrel_process_resident_memory_bytes.
    let rss = m.sum("falcosecurity_falco_memory_rss_bytes", &[]);
    let own = m.sum("kestrel_process_resident_memory_bytes", &[]);
    assert!(rss > 1e6 && (rss - own).abs() < own * 0.5, "{rss} vs {own}");
    assert_eq!(
        type_of(&m, "falcosecurity_falco_memory_rss_bytes").as_deref(),
        Some("gauge")
    );
    // The memory of the daemon's cgroup, read where Falco reads it (cgroup
    // v1's memory controller) or, on cgroup v2 only, its own cgroup's
    // memory.current: at least the daemon's resident memory.
    let cg = m.sum("falcosecurity_falco_container_memory_used_bytes", &[]);
    let v1 = std::fs::read_to_string("/sys/fs/cgroup/memory/memory.usage_in_bytes")
        .ok()
        .and_then(|s| s.trim().parse::<f64>().ok());
    match v1 {
        Some(v) => assert!((cg - v).abs() < v * 0.5, "{cg} vs {v}"),
        None => assert!(cg >= rss * 0.5, "{cg} vs rss {rss}"),
    }
    let cpu = m.sum("falcosecurity_falco_cpu_usage_ratio", &[]);
    assert!((0.0..=4.0).contains(&cpu), "{cpu}");
    assert!(m.sum("falcosecurity_falco_host_memory_used_bytes", &[]) > 0.0);
    assert!(m.sum("falcosecurity_falco_host_open_fds_total", &[]) > 0.0);
    let ncpu = m.sum("falcosecurity_falco_host_num_cpus_total", &[]);
    assert!(ncpu >= 1.0, "{}", m.text);
    // Outputs and wrapper metrics.
    assert_eq!(
        m.sum("falcosecurity_falco_outputs_queue_num_drops_total", &[]),
        0.0
    );
    let now_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as f64;
    let start = m.sum("falcosecurity_falco_start_timestamp_nanoseconds", &[]);
    assert!(
        start > now_ns - 120e9 && start <= now_ns,
        "{start} vs {now_ns}"
    );
    let boot = m.sum("falcosecurity_falco_host_boot_timestamp_nanoseconds", &[]);
    assert!(boot > 0.0 && boot < start);
    assert!(m.has("falcosecurity_falco_reload_timestamp_nanoseconds"));
    assert!(m.has("falcosecurity_falco_duration_seconds_total"));
    assert!(m.has("falcosecurity_falco_version_info"));
    assert!(m.has("falcosecurity_evt_hostname_info"));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(
        m.select(
            "falcosecurity_falco_kernel_release_info",
            &[("kernel_release", release.trim())]
        )
        .count(),
        1,
        "{}",
        m.text
    );
    // The files in force, by name and SHA-256.
    let sha = |p: &std::path::Path| -> String {
        let o = std::process::Command::new("sha256sum")
            .arg(p)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let rules_sum = sha(&tmp.path().join("probe_rules.yaml"));
    assert_eq!(
        m.select(
            "falcosecurity_falco_sha256_rules_files_info",
            &[("file_name", "probe_rules.yaml"), ("sha256", &rules_sum)]
        )
        .count(),
        1,
        "{}",
        m.text
    );
    let conf_sum = sha(&conf);
    assert_eq!(
        m.select(
            "falcosecurity_falco_sha256_config_files_info",
            &[("file_name", "site.yaml"), ("sha256", &conf_sum)]
        )
        .count(),
        1,
        "{}",
        m.text
    );
    // Every falcosecurity_* sample has Falco's help text.
    for l in m
        .text
        .lines()
        .filter(|l| l.starts_with("# HELP falcosecurity_"))
    {
        assert!(l.ends_with(" https://falco.org/docs/metrics/"), "{l}");
    }
    d.stop();
}

#[test]
fn metrics_flags_and_prometheus_switch_are_honoured() {
    let _g = common::serial();
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "metrics.rules_counters_enabled=false".into(),
            "metrics.resource_utilization_enabled=false".into(),
        ],
        ..Default::default()
    });
    let m = d.metrics();
    assert!(m.has("falcosecurity_scap_n_evts_total"));
    assert!(!m.has("falcosecurity_falco_memory_rss_bytes"));
    assert!(
        !m.has("falcosecurity_scap_n_evts_cpu_total"),
        "per-CPU is off by default"
    );
    d.stop();
    let d = Daemon::start_with(DaemonOpts {
        options: vec!["webserver.prometheus_metrics_enabled=false".into()],
        ..Default::default()
    });
    let m = d.metrics();
    assert!(m.has("kestrel_kernel_events_seen_total"));
    assert!(!m.text.contains("falcosecurity_"), "{}", m.text);
    d.stop();
}

#[test]
fn metrics_snapshot_event_goes_through_the_outputs() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let file = tmp.path().join("stats.jsonl");
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules_file(tmp.path())],
        options: vec![
            "metrics.enabled=true".into(),
            "metrics.interval=500ms".into(),
            format!("metrics.output_file={}", file.display()),
        ],
        ..Default::default()
    });
    open_marker(tmp.path(), 2);
    let is_snap = |a: &Value| common::rule_of(a) == "Falco internal: metrics snapshot";
    // The first snapshot may predate the matches: wait for one with them.
    let snap = d
        .wait_alert(
            |a| is_snap(a) && a["output_fields"]["falco.rules.Falco_metrics_probe"] == 2,
            Duration::from_secs(4),
        )
        .unwrap_or_else(|| panic!("no snapshot with the matches: {:?}", d.alerts()));
    assert_eq!(snap["priority"], "Informational");
    assert_eq!(snap["source"], "internal");
    assert_eq!(snap["output"], "Falco metrics snapshot");
    let f = &snap["output_fields"];
    assert!(f["scap.n_evts"].as_u64().unwrap() > 0, "{snap}");
    assert!(f["falco.num_evts"].as_u64().unwrap() > 0, "{snap}");
    assert_eq!(f["falco.rules.matches_total"], 2);
    assert_eq!(f["evt.source"], "syscall");
    assert!(f["falco.memory_rss_mb"].as_f64().unwrap() > 1.0, "{snap}");
    assert!(f["scap.n_drops_perc"].is_number());
    assert!(f["scap.evts_rate_sec"].as_f64().unwrap() > 0.0, "{snap}");
    assert!(f["falco.host_num_cpus"].as_u64().unwrap() >= 1);
    assert!(f["falco.version"].is_string());
    // Keys in order, as Falco's JSON library writes them.
    let raw = d
        .raw_alerts()
        .into_iter()
        .find(|l| l.contains("Falco internal: metrics snapshot"))
        .unwrap();
    let keys: Vec<&str> = [
        "\"hostname\"",
        "\"output\"",
        "\"output_fields\"",
        "\"priority\"",
        "\"rule\"",
        "\"source\"",
        "\"time\"",
    ]
    .into_iter()
    .collect();
    let pos: Vec<usize> = keys.iter().map(|k| raw.find(k).unwrap()).collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{raw}");
    // Several snapshots, about every 500 ms.
    std::thread::sleep(Duration::from_millis(1100));
    assert!(d.alerts_where(is_snap).len() >= 2);
    // output_file: JSON lines {"sample": n, "output_fields": {...}}.
    let text = std::fs::read_to_string(&file).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{text}");
    assert_eq!(lines[0]["sample"], 1);
    assert_eq!(lines[1]["sample"], 2);
    assert!(lines[1]["output_fields"]["scap.n_evts"].as_u64().unwrap() > 0);
    d.stop();
}

#[test]
fn metrics_snapshot_text_shape() {
    let _g = common::serial();
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "metrics.enabled=true".into(),
            "metrics.interval=300ms".into(),
            "metrics.convert_memory_to_mb=false".into(),
        ],
        text_output: true,
        ..Default::default()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(3);
    let line = loop {
        if let Some(l) = d
            .other_stdout()
            .into_iter()
            .find(|l| l.contains("Falco metrics snapshot"))
        {
            break l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            d.other_stdout()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // "<time>: Informational Falco metrics snapshot (k=v k=v ...)", values
    // as JSON (strings quoted), keys in order.
    let (_, rest) = line
        .split_once(": Informational Falco metrics snapshot (")
        .expect(&line);
    assert!(rest.ends_with(')'), "{line}");
    assert!(rest.contains("evt.source=\"syscall\""), "{line}");
    assert!(rest.contains("falco.memory_rss_kb="), "{line}");
    let keys: Vec<&str> = rest
        .trim_end_matches(')')
        .split(' ')
        .filter_map(|kv| kv.split_once('=').map(|x| x.0))
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    d.stop();
}

#[test]
fn drop_alert_can_carry_falcos_name_and_fields() {
    let _g = common::serial();
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "kestrel.ring_buffer_size=4096".into(),
            "kestrel.falco_internal_names=true".into(),
        ],
        ..Default::default()
    });
    let out = std::process::Command::new(common::loadgen_bin())
        .args([
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
        ])
        .output()
        .expect("run kestrel-loadgen");
    assert!(out.status.success(), "{out:?}");
    let notice = d
        .wait_alert(
            |a| common::rule_of(a) == "Falco internal: syscall event drop",
            Duration::from_secs(3),
        )
        .unwrap_or_else(|| panic!("no drop notice; stderr:\n{}", d.stderr()));
    assert_eq!(notice["priority"], "Debug");
    assert_eq!(notice["source"], "internal");
    let msg = notice["output"].as_str().unwrap();
    assert!(
        msg.starts_with("Falco internal: syscall event drop. ")
            && msg.ends_with(" system calls dropped in last second."),
        "{msg}"
    );
    // Falco writes the counts as strings.
    let f = &notice["output_fields"];
    let n = |k: &str| -> u64 {
        f[k].as_str()
            .unwrap_or_else(|| panic!("{k} not a string: {notice}"))
            .parse()
            .unwrap()
    };
    assert!(n("n_drops") > 0);
    assert!(n("n_evts") >= n("n_drops"));
    assert_eq!(n("n_drops_buffer_total"), n("n_drops"));
    let by_cat: u64 = ["process", "file", "network", "other"]
        .iter()
        .map(|c| n(&format!("n_drops_buffer_{c}_exit")))
        .sum();
    assert_eq!(by_cat, n("n_drops"), "{notice}");
    assert_eq!(f["ebpf_enabled"], "1");
    assert!(d
        .alerts_where(|a| common::rule_of(a).starts_with("kestrel internal"))
        .is_empty());
    d.stop();
}

#[test]
fn daemon_runs_with_a_stock_falco_yaml() {
    let _g = common::serial();
    let stock = common::repo().join("tests/data/falco-0.44/falco.yaml");
    let d = Daemon::start_with(DaemonOpts {
        config: Some(stock),
        rules: vec![common::default_rules()],
        // Falco's file turns its Prometheus metrics off; turned on here to
        // see them next to a stock configuration's other settings.
        options: vec!["webserver.prometheus_metrics_enabled=true".into()],
        ..Default::default()
    });
    let tmp = common::tempdir();
    let n = common::nonce("stock");
    let nf = tmp.path().join(&n);
    std::fs::write(&nf, b"").unwrap();
    common::run(common::quiet("cat").arg("/etc/shadow").arg(&nf));
    let a = d
        .wait_alert(|a| common::output_has(a, &n), Duration::from_secs(2))
        .unwrap_or_else(|| panic!("no alert; stderr:\n{}", d.stderr()));
    assert_eq!(a["source"], "syscall");
    let m = d.wait_metrics(
        |m| m.sum("falcosecurity_falco_rules_matches_total", &[]) >= 1.0,
        Duration::from_secs(2),
    );
    assert!(m.sum("falcosecurity_scap_n_evts_total", &[]) > 0.0);
    let err = d.stop();
    assert_eq!(
        err.matches("Falco configuration key 'engine' is not supported")
            .count(),
        1,
        "{err}"
    );
}
