//! Falco's metric set under Falco's names: the `falcosecurity_*`
//! Prometheus metrics Falco 0.44 serves on `/metrics`, and the
//! `output_fields` of its "Falco internal: metrics snapshot" event, filled
//! from kestrel's own counters.
//!
//! A metric is described once ([`FalcoMetric`]: the name Falco's libraries
//! give it, its unit and kind) and converted the way Falco converts it:
//! Prometheus names drop the libraries' unit suffix and end with the
//! Prometheus unit (`memory_rss_kb` → `falcosecurity_falco_memory_rss_bytes`,
//! `cpu_usage_perc` → `falcosecurity_falco_cpu_usage_ratio`), snapshot
//! fields keep the libraries' name behind `falco.` or `scap.` (memory in MB
//! with `convert_memory_to_mb`). [`CATALOGUE`] lists Falco's whole set with
//! kestrel's status for each, for COMPATIBILITY.md.

use super::metrics::PromWriter;

/// The help text Falco gives every metric.
pub const HELP: &str = "https://falco.org/docs/metrics/";

/// The `metrics:` category a metric belongs to (its `*_enabled` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Always there (version, host, timestamps, output drops).
    Wrapper,
    /// `rules_counters_enabled`.
    Rules,
    /// `resource_utilization_enabled`.
    Resource,
    /// `state_counters_enabled`.
    State,
    /// `kernel_event_counters_enabled`.
    Kernel,
    /// `kernel_event_counters_per_cpu_enabled`.
    KernelPerCpu,
}

/// Which categories are collected (Falco's `metrics.*_enabled` flags).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags {
    /// `rules_counters_enabled`.
    pub rules: bool,
    /// `resource_utilization_enabled`.
    pub resource: bool,
    /// `state_counters_enabled`.
    pub state: bool,
    /// `kernel_event_counters_enabled`.
    pub kernel: bool,
    /// `kernel_event_counters_per_cpu_enabled`.
    pub kernel_per_cpu: bool,
}

impl Default for Flags {
    /// Falco's defaults.
    fn default() -> Flags {
        Flags {
            rules: true,
            resource: true,
            state: true,
            kernel: true,
            kernel_per_cpu: false,
        }
    }
}

impl Flags {
    fn wants(&self, g: Group) -> bool {
        match g {
            Group::Wrapper => true,
            Group::Rules => self.rules,
            Group::Resource => self.resource,
            Group::State => self.state,
            Group::Kernel => self.kernel,
            Group::KernelPerCpu => self.kernel_per_cpu,
        }
    }
}

/// The unit Falco's libraries give a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count.
    Count,
    /// KiB (`*_kb`).
    Kib,
    /// Bytes.
    Bytes,
    /// A percentage (`*_perc`); a ratio in Prometheus.
    Perc,
    /// Nanoseconds since the epoch (`*_ts`).
    TimestampNs,
    /// Seconds, monotonic (`*_sec`).
    SecondsCount,
    /// An `_info` gauge (value 1, the information in its labels).
    Info,
}

/// One metric, named as Falco's libraries name it.
#[derive(Debug, Clone, PartialEq)]
pub struct FalcoMetric {
    /// Prometheus subsystem: `falco`, `scap` or `evt`.
    pub subsystem: &'static str,
    /// The libraries' name (`n_evts`, `memory_rss_kb`, ...).
    pub name: String,
    /// Category.
    pub group: Group,
    /// Unit.
    pub unit: Unit,
    /// A counter (else a gauge).
    pub monotonic: bool,
    /// Labels (Prometheus only), sorted by key when rendered.
    pub labels: Vec<(String, String)>,
    /// The value in `unit`.
    pub value: f64,
    /// The key in the snapshot event's `output_fields`; `None`: not there.
    pub snapshot_key: Option<String>,
}

impl FalcoMetric {
    fn new(sub: &'static str, name: &str, group: Group, unit: Unit, mono: bool, v: f64) -> Self {
        let prefix = match group {
            Group::Kernel | Group::KernelPerCpu => "scap.",
            _ => "falco.",
        };
        FalcoMetric {
            subsystem: sub,
            name: name.to_string(),
            group,
            unit,
            monotonic: mono,
            labels: Vec::new(),
            value: v,
            snapshot_key: Some(format!("{prefix}{name}")),
        }
    }

    fn info(sub: &'static str, name: &str, labels: &[(&str, &str)]) -> Self {
        FalcoMetric {
            subsystem: sub,
            name: name.to_string(),
            group: Group::Wrapper,
            unit: Unit::Info,
            monotonic: false,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            value: 1.0,
            snapshot_key: None,
        }
    }

    fn labelled(mut self, labels: &[(&str, &str)]) -> Self {
        self.labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self
    }

    fn keyed(mut self, key: Option<String>) -> Self {
        self.snapshot_key = key;
        self
    }

    /// The Prometheus name Falco serves it under.
    pub fn prom_name(&self) -> String {
        if self.unit == Unit::Info {
            return format!("falcosecurity_{}_{}_info", self.subsystem, self.name);
        }
        // The libraries convert memory to bytes and percentages to ratios
        // first, then drop every unit suffix and append the unit's
        // Prometheus name.
        let mut base = format!("falcosecurity_{}_{}_", self.subsystem, self.name);
        for suffix in [
            "_kb",
            "_bytes",
            "_mb",
            "_perc",
            "_percentage",
            "_ratio",
            "_ns",
            "_ts",
            "_sec",
            "_total",
        ] {
            while let Some(i) = base.find(&format!("{suffix}_")) {
                base.replace_range(i..i + suffix.len(), "");
            }
        }
        let base = base.replace('.', "_");
        let unit = match self.unit {
            Unit::Count => "total",
            Unit::Kib | Unit::Bytes => "bytes",
            Unit::Perc => "ratio",
            Unit::TimestampNs => "timestamp_nanoseconds",
            Unit::SecondsCount => "seconds_total",
            Unit::Info => unreachable!("handled above"),
        };
        format!("{base}{unit}")
    }

    /// The value Prometheus gets (bytes, ratios).
    pub fn prom_value(&self) -> f64 {
        match self.unit {
            Unit::Kib => self.value * 1024.0,
            Unit::Perc => self.value / 100.0,
            _ => self.value,
        }
    }

    /// The snapshot field: key and value (`convert_memory_to_mb` turns KiB
    /// and bytes into MB, renaming `_kb`/`_bytes` to `_mb`).
    pub fn snapshot_field(&self, memory_mb: bool) -> Option<(String, serde_json::Value)> {
        let key = self.snapshot_key.as_ref()?;
        let json_num = |v: f64| -> serde_json::Value {
            if v.fract() == 0.0 && (0.0..1.8e19).contains(&v) {
                serde_json::json!(v as u64)
            } else {
                serde_json::json!(v)
            }
        };
        if memory_mb && matches!(self.unit, Unit::Kib | Unit::Bytes) {
            let mb = match self.unit {
                Unit::Kib => self.value / 1024.0,
                _ => self.value / (1024.0 * 1024.0),
            };
            let key = key
                .strip_suffix("_kb")
                .or_else(|| key.strip_suffix("_bytes"))
                .map_or_else(|| key.clone(), |k| format!("{k}_mb"));
            return Some((key, serde_json::json!(mb)));
        }
        Some((key.clone(), json_num(self.value)))
    }
}

/// What the host and kestrel itself use, read as Falco's libraries read it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    /// kestrel's CPU time over its lifetime, percent of one CPU.
    pub cpu_usage_perc: f64,
    /// Resident set, KiB.
    pub memory_rss_kb: u64,
    /// Virtual size, KiB.
    pub memory_vsz_kb: u64,
    /// Proportional set, KiB.
    pub memory_pss_kb: u64,
    /// Busy share of all the host's CPUs since boot, percent.
    pub host_cpu_usage_perc: f64,
    /// Host memory used (total - free - buffers - cached), KiB.
    pub host_memory_used_kb: u64,
    /// Runnable tasks on the host.
    pub host_procs_running: u64,
    /// Allocated file handles on the host.
    pub host_open_fds: u64,
    /// Memory charged to kestrel's cgroup, bytes.
    pub container_memory_used_bytes: u64,
}

fn field_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|r| r.split_whitespace().next()?.parse().ok())
}

impl Resources {
    /// Reads `/proc/self/{stat,status,smaps_rollup}` and the host's
    /// `/proc/{uptime,stat,meminfo,sys/fs/file-nr}`; missing files leave
    /// zeros.
    pub fn read() -> Resources {
        let mut r = Resources::default();
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
        let hz = if hz > 0 { hz as f64 } else { 100.0 };
        let uptime: f64 = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|s| s.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        if let Some((cpu, start)) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| {
                let rest = s.rsplit_once(')')?.1.to_string();
                let f: Vec<&str> = rest.split_whitespace().collect();
                let ut: f64 = f.get(11)?.parse().ok()?;
                let st: f64 = f.get(12)?.parse().ok()?;
                let start: f64 = f.get(19)?.parse().ok()?;
                Some(((ut + st) / hz, start / hz))
            })
        {
            let elapsed = uptime - start;
            if elapsed > 0.0 {
                r.cpu_usage_perc = (100.0 * cpu / elapsed * 10.0).round() / 10.0;
            }
        }
        if let Ok(s) = std::fs::read_to_string("/proc/self/status") {
            r.memory_vsz_kb = field_kb(&s, "VmSize:").unwrap_or(0);
            r.memory_rss_kb = field_kb(&s, "VmRSS:").unwrap_or(0);
        }
        if let Ok(s) = std::fs::read_to_string("/proc/self/smaps_rollup") {
            r.memory_pss_kb = field_kb(&s, "Pss:").unwrap_or(0);
        }
        if let Ok(s) = std::fs::read_to_string("/proc/meminfo") {
            let g = |k| field_kb(&s, k).unwrap_or(0);
            r.host_memory_used_kb = g("MemTotal:")
                .saturating_sub(g("MemFree:"))
                .saturating_sub(g("Buffers:"))
                .saturating_sub(g("Cached:"));
        }
        if let Ok(s) = std::fs::read_to_string("/proc/stat") {
            for l in s.lines() {
                if let Some(rest) = l.strip_prefix("cpu ") {
                    let v: Vec<u64> = rest
                        .split_whitespace()
                        .take(7)
                        .filter_map(|x| x.parse().ok())
                        .collect();
                    let sum: u64 = v.iter().sum();
                    if v.len() == 7 && sum > 0 {
                        let busy = 100.0 - (v[3] as f64 * 100.0 / sum as f64);
                        r.host_cpu_usage_perc = (busy * 10.0).round() / 10.0;
                    }
                } else if let Some(n) = l.strip_prefix("procs_running ") {
                    r.host_procs_running = n.trim().parse().unwrap_or(0);
                }
            }
        }
        r.container_memory_used_bytes = cgroup_memory_bytes();
        if let Ok(s) = std::fs::read_to_string("/proc/sys/fs/file-nr") {
            r.host_open_fds = s
                .split_whitespace()
                .next()
                .and_then(|x| x.parse().ok())
                .unwrap_or(0);
        }
        r
    }
}

/// Memory charged to kestrel's cgroup: the file `FALCO_CGROUP_MEM_PATH`
/// names (Falco's variable), else cgroup v1's
/// `/sys/fs/cgroup/memory/memory.usage_in_bytes` (Falco's default), else
/// cgroup v2's `memory.current` of kestrel's own cgroup; 0 when none can
/// be read.
fn cgroup_memory_bytes() -> u64 {
    let read = |p: &str| -> Option<u64> { std::fs::read_to_string(p).ok()?.trim().parse().ok() };
    if let Ok(p) = std::env::var("FALCO_CGROUP_MEM_PATH") {
        return read(&p).unwrap_or(0);
    }
    if let Some(v) = read("/sys/fs/cgroup/memory/memory.usage_in_bytes") {
        return v;
    }
    std::fs::read_to_string("/proc/self/cgroup")
        .ok()
        .and_then(|s| {
            let path = s.lines().find_map(|l| l.strip_prefix("0::"))?.to_string();
            read(&format!(
                "/sys/fs/cgroup{}/memory.current",
                path.trim_end_matches('/')
            ))
        })
        .unwrap_or(0)
}

pub use super::metrics::RuleCountRow;

/// Everything the Falco-named metrics are made of.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// Reported as `falco.version`.
    pub version: String,
    /// The host name.
    pub hostname: String,
    /// `uname -r`.
    pub kernel_release: String,
    /// Daemon start, ns since the epoch.
    pub start_ts_ns: u64,
    /// Now, ns since the epoch.
    pub now_ns: u64,
    /// Host boot, ns since the epoch.
    pub boot_ts_ns: u64,
    /// Online CPUs.
    pub num_cpus: u64,
    /// Last (re)load of rules and configuration, ns since the epoch.
    pub reload_ts_ns: u64,
    /// Alerts the outputs lost (queue full, failed deliveries).
    pub outputs_queue_drops: u64,
    /// Alerts per rule.
    pub rules: Vec<RuleCountRow>,
    /// Per CPU: events the probe saw, events it dropped.
    pub per_cpu: Vec<(u64, u64)>,
    /// Drops by kestrel category (`process`, `file`, `network`, `other`).
    pub drops_by_category: Vec<(&'static str, u64)>,
    /// Host and self usage.
    pub resources: Resources,
    /// Containers with cached metadata.
    pub n_containers: u64,
    /// Rules files loaded: file name (no directory) and SHA-256, hex.
    pub rules_sha256: Vec<(String, String)>,
    /// Configuration files read: file name and SHA-256, hex.
    pub config_sha256: Vec<(String, String)>,
}

/// Falco's drop buckets whose enter-event counters Falco 0.44 still serves,
/// always 0 (enter events are gone from its libraries, and kestrel has
/// none either).
const DEPRECATED_ENTER_DROPS: [&str; 6] = [
    "clone_fork",
    "execve",
    "connect",
    "open",
    "dir_file",
    "other_interest",
];

/// The metrics `flags` selects, in Falco's order.
pub fn collect(i: &Inputs, flags: Flags) -> Vec<FalcoMetric> {
    use Group::*;
    use Unit::*;
    let mut m = vec![FalcoMetric::info(
        "falco",
        "version",
        &[("version", &i.version)],
    )];
    for (name, list) in [
        ("sha256_rules_files", &i.rules_sha256),
        ("sha256_config_files", &i.config_sha256),
    ] {
        for (file, sum) in list {
            m.push(FalcoMetric::info(
                "falco",
                name,
                &[("file_name", file), ("sha256", sum)],
            ));
        }
    }
    m.push(FalcoMetric::new(
        "falco",
        "outputs_queue_num_drops",
        Wrapper,
        Count,
        true,
        i.outputs_queue_drops as f64,
    ));
    m.push(FalcoMetric::new(
        "falco",
        "reload_ts",
        Wrapper,
        TimestampNs,
        false,
        i.reload_ts_ns as f64,
    ));
    if flags.rules {
        let total: u64 = i.rules.iter().map(|r| r.4).sum();
        for (name, prio, source, tags, n) in &i.rules {
            if *n == 0 {
                continue;
            }
            let prio = (*prio as u8).to_string();
            let mut labels: Vec<(String, String)> = vec![
                ("priority".into(), prio),
                ("rule_name".into(), name.to_string()),
                ("source".into(), source.to_string()),
            ];
            for t in tags.iter() {
                labels.push((format!("tag_{t}"), "true".into()));
            }
            let mut metric =
                FalcoMetric::new("falco", "rules_matches", Rules, Count, true, *n as f64)
                    .keyed(Some(format!("falco.rules.{}", sanitize_rule_name(name))));
            metric.labels = labels;
            m.push(metric);
        }
        // Only in the snapshot event.
        let mut t = FalcoMetric::new(
            "falco",
            "rules.matches_total",
            Rules,
            Count,
            true,
            total as f64,
        );
        t.snapshot_key = Some("falco.rules.matches_total".into());
        t.subsystem = "";
        m.push(t);
    }
    m.push(FalcoMetric::info(
        "scap",
        "engine_name",
        &[("engine_name", "kestrel"), ("evt_source", "syscall")],
    ));
    if flags.kernel || flags.kernel_per_cpu {
        let evts: u64 = i.per_cpu.iter().map(|c| c.0).sum();
        let drops: u64 = i.per_cpu.iter().map(|c| c.1).sum();
        if flags.kernel {
            m.push(FalcoMetric::new(
                "scap",
                "n_evts",
                Kernel,
                Count,
                true,
                evts as f64,
            ));
            for (cat, n) in &i.drops_by_category {
                m.push(
                    FalcoMetric::new("scap", "n_drops_buffer", Kernel, Count, true, *n as f64)
                        .labelled(&[("dir", "exit"), ("drop", cat)])
                        .keyed(Some(format!("scap.n_drops_buffer_{cat}_exit"))),
                );
            }
            m.push(
                FalcoMetric::new(
                    "scap",
                    "n_drops_buffer_total",
                    Kernel,
                    Count,
                    true,
                    drops as f64,
                )
                .keyed(Some("scap.n_drops_buffer_total".into())),
            );
            m.push(FalcoMetric::new(
                "scap",
                "n_drops",
                Kernel,
                Count,
                true,
                drops as f64,
            ));
        }
        if flags.kernel_per_cpu {
            for (cpu, (e, d)) in i.per_cpu.iter().enumerate() {
                let c = cpu.to_string();
                m.push(
                    FalcoMetric::new("scap", "n_evts_cpu", KernelPerCpu, Count, true, *e as f64)
                        .labelled(&[("cpu", &c)])
                        .keyed(Some(format!("scap.n_evts_cpu_{c}"))),
                );
                m.push(
                    FalcoMetric::new("scap", "n_drops_cpu", KernelPerCpu, Count, true, *d as f64)
                        .labelled(&[("cpu", &c)])
                        .keyed(Some(format!("scap.n_drops_cpu_{c}"))),
                );
            }
        }
        if flags.kernel {
            for d in DEPRECATED_ENTER_DROPS {
                m.push(
                    FalcoMetric::new("scap", "n_drops_buffer", Kernel, Count, true, 0.0)
                        .labelled(&[("dir", "enter"), ("drop", d)])
                        .keyed(None),
                );
            }
        }
    }
    if flags.resource {
        let r = &i.resources;
        for (name, unit, v) in [
            ("cpu_usage_perc", Perc, r.cpu_usage_perc),
            ("memory_rss_kb", Kib, r.memory_rss_kb as f64),
            ("memory_vsz_kb", Kib, r.memory_vsz_kb as f64),
            ("memory_pss_kb", Kib, r.memory_pss_kb as f64),
            (
                "container_memory_used_bytes",
                Bytes,
                r.container_memory_used_bytes as f64,
            ),
            ("host_cpu_usage_perc", Perc, r.host_cpu_usage_perc),
            ("host_memory_used_kb", Kib, r.host_memory_used_kb as f64),
            ("host_procs_running", Count, r.host_procs_running as f64),
            ("host_open_fds", Count, r.host_open_fds as f64),
        ] {
            m.push(FalcoMetric::new("falco", name, Resource, unit, false, v));
        }
    }
    if flags.state {
        m.push(FalcoMetric::new(
            "scap",
            "n_containers",
            State,
            Count,
            false,
            i.n_containers as f64,
        ));
    }
    m.push(FalcoMetric::info(
        "falco",
        "kernel_release",
        &[("kernel_release", &i.kernel_release)],
    ));
    m.push(FalcoMetric::info(
        "evt",
        "hostname",
        &[("hostname", &i.hostname)],
    ));
    let dur = i.now_ns.saturating_sub(i.start_ts_ns) / 1_000_000_000;
    for (name, unit, mono, v) in [
        ("start_ts", TimestampNs, false, i.start_ts_ns as f64),
        ("duration_sec", SecondsCount, true, dur as f64),
        ("host_boot_ts", TimestampNs, false, i.boot_ts_ns as f64),
        ("host_num_cpus", Count, false, i.num_cpus as f64),
    ] {
        m.push(FalcoMetric::new("falco", name, Wrapper, unit, mono, v));
    }
    m.retain(|x| flags.wants(x.group));
    m
}

/// Falco's `sanitize_rule_name`: anything but `[A-Za-z0-9_:]` becomes `_`,
/// runs of `_` collapse, a trailing `_` goes.
pub fn sanitize_rule_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars() {
        let c = if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            c
        } else {
            '_'
        };
        if c == '_' && out.ends_with('_') {
            continue;
        }
        out.push(c);
    }
    if out.ends_with('_') {
        out.pop();
    }
    out
}

/// Writes the metrics that Prometheus gets (snapshot-only ones skipped).
pub fn render_prometheus(metrics: &[FalcoMetric], w: &mut PromWriter) {
    for m in metrics {
        if m.subsystem.is_empty() || m.name == "n_drops_buffer_total" {
            // Snapshot-only; Falco serves buffer drops by label instead of
            // the libraries' aggregate.
            continue;
        }
        let mut labels: Vec<(&str, &str)> = m
            .labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        labels.sort();
        let kind = if m.monotonic { "counter" } else { "gauge" };
        w.typed(&m.prom_name(), kind, HELP, &labels, m.prom_value());
    }
}

/// The snapshot event's `output_fields` (Falco's `metrics.output_rule`),
/// sorted by key. Zero values are left out unless `include_empty`, except
/// the rates and `scap.n_drops_perc`, which Falco always sends.
pub fn snapshot_fields(
    metrics: &[FalcoMetric],
    i: &Inputs,
    prev: Option<&SnapshotPrev>,
    memory_mb: bool,
    include_empty: bool,
) -> (
    std::collections::BTreeMap<String, serde_json::Value>,
    SnapshotPrev,
) {
    use serde_json::json;
    let mut f = std::collections::BTreeMap::new();
    f.insert("evt.time".into(), json!(i.now_ns));
    f.insert("falco.reload_ts".into(), json!(i.reload_ts_ns));
    f.insert("falco.version".into(), json!(i.version));
    f.insert("falco.start_ts".into(), json!(i.start_ts_ns));
    f.insert(
        "falco.duration_sec".into(),
        json!(i.now_ns.saturating_sub(i.start_ts_ns) / 1_000_000_000),
    );
    f.insert("falco.kernel_release".into(), json!(i.kernel_release));
    f.insert("evt.hostname".into(), json!(i.hostname));
    f.insert("falco.host_boot_ts".into(), json!(i.boot_ts_ns));
    f.insert("falco.host_num_cpus".into(), json!(i.num_cpus));
    f.insert(
        "falco.outputs_queue_num_drops".into(),
        json!(i.outputs_queue_drops),
    );
    for (file, sum) in &i.rules_sha256 {
        f.insert(
            format!("falco.sha256_rules_file.{}", sanitize_rule_name(file)),
            json!(sum),
        );
    }
    for (file, sum) in &i.config_sha256 {
        f.insert(
            format!("falco.sha256_config_file.{}", sanitize_rule_name(file)),
            json!(sum),
        );
    }
    f.insert("evt.source".into(), json!("syscall"));
    f.insert("scap.engine_name".into(), json!("kestrel"));
    let evts: u64 = i.per_cpu.iter().map(|c| c.0).sum();
    let drops: u64 = i.per_cpu.iter().map(|c| c.1).sum();
    let now = SnapshotPrev {
        time_ns: i.now_ns,
        n_evts: evts,
        n_drops: drops,
    };
    let p = prev.copied().unwrap_or(SnapshotPrev {
        time_ns: i.start_ts_ns,
        n_evts: 0,
        n_drops: 0,
    });
    let dt = i.now_ns.saturating_sub(p.time_ns) as f64 / 1e9;
    let rate = |d: u64| if dt > 0.0 { d as f64 / dt } else { 0.0 };
    let de = evts.saturating_sub(p.n_evts);
    let dd = drops.saturating_sub(p.n_drops);
    // kestrel's workers process every event the probe sends: Falco's
    // "num_evts" (events the userspace read) is the probe's count too.
    f.insert("falco.num_evts".into(), json!(evts));
    f.insert("falco.num_evts_prev".into(), json!(p.n_evts));
    f.insert("falco.evts_rate_sec".into(), json!(rate(de)));
    for m in metrics {
        if matches!(m.unit, Unit::Info) {
            continue;
        }
        let Some((k, v)) = m.snapshot_field(memory_mb) else {
            continue;
        };
        if f.contains_key(&k) {
            continue;
        }
        let zero = v.as_f64() == Some(0.0);
        if zero && !include_empty && m.group != Group::Wrapper {
            continue;
        }
        f.insert(k, v);
    }
    if metrics.iter().any(|m| m.name == "n_evts") {
        f.insert("scap.n_evts_prev".into(), json!(p.n_evts));
        f.insert("scap.evts_rate_sec".into(), json!(rate(de)));
        f.insert("scap.n_drops".into(), json!(drops));
        f.insert("scap.n_drops_prev".into(), json!(p.n_drops));
        f.insert("scap.evts_drop_rate_sec".into(), json!(rate(dd)));
        let perc = if de > 0 {
            100.0 * dd as f64 / de as f64
        } else {
            0.0
        };
        f.insert("scap.n_drops_perc".into(), json!(perc));
    }
    (f, now)
}

/// The previous snapshot's totals, for the deltas and rates.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotPrev {
    /// When it was taken, ns since the epoch.
    pub time_ns: u64,
    /// `scap.n_evts` then.
    pub n_evts: u64,
    /// `scap.n_drops` then.
    pub n_drops: u64,
}

/// kestrel's status for one Falco metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Served with the value Falco means.
    Yes,
    /// Served, with a difference the note explains.
    Partly,
    /// Not served; the note says why.
    No,
}

impl Status {
    /// Short label for tables.
    pub fn label(self) -> &'static str {
        match self {
            Status::Yes => "yes",
            Status::Partly => "partly",
            Status::No => "no",
        }
    }
}

/// Falco 0.44's Prometheus metric set (falco_metrics.cpp and the libs
/// metrics collector, modern eBPF engine), with kestrel's status.
pub const CATALOGUE: &[(&str, Status, &str)] = &[
    ("falcosecurity_falco_version_info", Status::Partly, "label version is kestrel's version"),
    ("falcosecurity_falco_sha256_rules_files_info", Status::Yes, "labels file_name, sha256; the embedded rules as kestrel_rules.yaml"),
    ("falcosecurity_falco_sha256_config_files_info", Status::Yes, "labels file_name, sha256: -c and the config_files it included"),
    ("falcosecurity_falco_outputs_queue_num_drops_total", Status::Yes, "alerts the outputs lost (queue full or delivery given up)"),
    ("falcosecurity_falco_reload_timestamp_nanoseconds", Status::Yes, "start or last SIGHUP reload"),
    ("falcosecurity_falco_rules_matches_total", Status::Yes, "labels priority (number), rule_name, source, tag_<tag>=\"true\"; rules with no match are left out, as in Falco"),
    ("falcosecurity_falco_jemalloc_*", Status::No, "kestrel does not use jemalloc"),
    ("falcosecurity_scap_engine_name_info", Status::Partly, "engine_name=\"kestrel\""),
    ("falcosecurity_scap_n_evts_total", Status::Yes, "events the probe tried to emit (sent + dropped)"),
    ("falcosecurity_scap_n_drops_total", Status::Yes, "events lost because a ring was full"),
    ("falcosecurity_scap_n_drops_buffer_total", Status::Partly, "dir=\"exit\", drop = kestrel's categories (process, file, network, other) instead of Falco's syscall groups; dir=\"enter\" always 0, as in Falco 0.44"),
    ("falcosecurity_scap_n_drops_scratch_map_total", Status::No, "kestrel has no scratch map"),
    ("falcosecurity_scap_n_drops_page_faults_total", Status::No, "not counted by the probe"),
    ("falcosecurity_scap_n_drops_bug_total", Status::No, "not counted by the probe"),
    ("falcosecurity_scap_n_preemptions_total", Status::No, "kernel-module engine only"),
    ("falcosecurity_scap_n_evts_cpu_total", Status::Yes, "label cpu; with metrics.kernel_event_counters_per_cpu_enabled"),
    ("falcosecurity_scap_n_drops_cpu_total", Status::Yes, "label cpu; with metrics.kernel_event_counters_per_cpu_enabled"),
    ("falcosecurity_scap_n_evts_task*_total", Status::No, "kestrel seeds its process table from /proc, not BPF iterators"),
    ("falcosecurity_scap_<program>_run_cnt_total / run_time_ns / avg_time_ns", Status::No, "libbpf_stats_enabled is accepted but not collected"),
    ("falcosecurity_falco_cpu_usage_ratio", Status::Yes, "CPU time over lifetime, as Falco computes it"),
    ("falcosecurity_falco_memory_rss_bytes", Status::Yes, ""),
    ("falcosecurity_falco_memory_vsz_bytes", Status::Yes, ""),
    ("falcosecurity_falco_memory_pss_bytes", Status::Yes, ""),
    ("falcosecurity_falco_container_memory_used_bytes", Status::Yes, "FALCO_CGROUP_MEM_PATH, else cgroup v1's memory.usage_in_bytes as in Falco, else kestrel's cgroup v2 memory.current"),
    ("falcosecurity_falco_host_cpu_usage_ratio", Status::Yes, ""),
    ("falcosecurity_falco_host_memory_used_bytes", Status::Yes, ""),
    ("falcosecurity_falco_host_procs_running_total", Status::Yes, ""),
    ("falcosecurity_falco_host_open_fds_total", Status::Yes, ""),
    ("falcosecurity_scap_n_threads_total", Status::No, "kestrel's table holds processes, not threads (kestrel_process_table_entries)"),
    ("falcosecurity_scap_n_fds_total", Status::No, "kestrel keeps no fd table"),
    ("falcosecurity_scap_n_*_fd_lookups_total, n_*_thread_lookups_total, n_added_*/n_removed_*, n_*_evts*", Status::No, "no such tables in kestrel"),
    ("falcosecurity_scap_n_drops_full_threadtable_total", Status::No, "see kestrel_process_table_evictions_total{reason=\"capacity\"}"),
    ("falcosecurity_scap_n_missing_container_images_total", Status::No, "not counted"),
    ("falcosecurity_scap_n_containers_total", Status::Yes, "containers whose metadata is cached"),
    ("falcosecurity_plugins_*", Status::No, "kestrel has no plugins"),
    ("falcosecurity_falco_kernel_release_info", Status::Yes, ""),
    ("falcosecurity_evt_hostname_info", Status::Yes, ""),
    ("falcosecurity_falco_start_timestamp_nanoseconds", Status::Yes, ""),
    ("falcosecurity_falco_duration_seconds_total", Status::Yes, ""),
    ("falcosecurity_falco_host_boot_timestamp_nanoseconds", Status::Yes, ""),
    ("falcosecurity_falco_host_num_cpus_total", Status::Yes, ""),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::Priority;

    fn inputs() -> Inputs {
        Inputs {
            version: "1.2.3".into(),
            hostname: "h".into(),
            kernel_release: "6.1".into(),
            start_ts_ns: 1_000_000_000_000,
            now_ns: 1_010_000_000_000,
            boot_ts_ns: 5,
            num_cpus: 2,
            reload_ts_ns: 1_000_000_000_000,
            outputs_queue_drops: 3,
            rules: vec![(
                "Read sensitive file".into(),
                Priority::Warning,
                "syscall".into(),
                vec!["T1555".to_string(), "filesystem".to_string()].into(),
                7,
            )],
            per_cpu: vec![(10, 1), (20, 0)],
            drops_by_category: vec![("file", 1)],
            resources: Resources {
                memory_rss_kb: 2048,
                cpu_usage_perc: 12.5,
                ..Resources::default()
            },
            n_containers: 0,
            rules_sha256: vec![("r.yaml".into(), "ab".into())],
            config_sha256: vec![],
        }
    }

    #[test]
    fn names_follow_falco_conventions() {
        let m = collect(
            &inputs(),
            Flags {
                kernel_per_cpu: true,
                ..Flags::default()
            },
        );
        let names: Vec<String> = m
            .iter()
            .filter(|x| !x.subsystem.is_empty())
            .map(|x| x.prom_name())
            .collect();
        for want in [
            "falcosecurity_falco_version_info",
            "falcosecurity_scap_n_evts_total",
            "falcosecurity_scap_n_drops_total",
            "falcosecurity_scap_n_drops_buffer_total",
            "falcosecurity_scap_n_evts_cpu_total",
            "falcosecurity_scap_n_drops_cpu_total",
            "falcosecurity_falco_rules_matches_total",
            "falcosecurity_falco_outputs_queue_num_drops_total",
            "falcosecurity_falco_cpu_usage_ratio",
            "falcosecurity_falco_memory_rss_bytes",
            "falcosecurity_falco_host_memory_used_bytes",
            "falcosecurity_falco_host_procs_running_total",
            "falcosecurity_falco_reload_timestamp_nanoseconds",
            "falcosecurity_falco_start_timestamp_nanoseconds",
            "falcosecurity_falco_duration_seconds_total",
            "falcosecurity_falco_host_num_cpus_total",
            "falcosecurity_evt_hostname_info",
            "falcosecurity_falco_sha256_rules_files_info",
        ] {
            assert!(
                names.iter().any(|n| n == want),
                "{want} missing from {names:?}"
            );
        }
        // Every served name is in the catalogue.
        for n in &names {
            assert!(
                CATALOGUE.iter().any(|c| c.0 == n && c.1 != Status::No),
                "{n} not catalogued"
            );
        }
        let mut w = PromWriter::new();
        render_prometheus(&m, &mut w);
        let text = w.finish();
        assert!(text.contains("# TYPE falcosecurity_scap_n_evts_total counter\n"));
        assert!(
            text.contains("falcosecurity_scap_n_evts_total 30\n"),
            "{text}"
        );
        assert!(text.contains("falcosecurity_scap_n_evts_cpu_total{cpu=\"1\"} 20\n"));
        assert!(text
            .contains("falcosecurity_scap_n_drops_buffer_total{dir=\"exit\",drop=\"file\"} 1\n"));
        assert!(text.contains(
            "falcosecurity_scap_n_drops_buffer_total{dir=\"enter\",drop=\"clone_fork\"} 0\n"
        ));
        assert!(text.contains("falcosecurity_falco_rules_matches_total{priority=\"4\",rule_name=\"Read sensitive file\",source=\"syscall\",tag_T1555=\"true\",tag_filesystem=\"true\"} 7\n"), "{text}");
        assert!(text.contains("falcosecurity_falco_memory_rss_bytes 2097152\n"));
        assert!(text.contains("falcosecurity_falco_cpu_usage_ratio 0.125\n"));
        assert!(text.contains("# TYPE falcosecurity_falco_memory_rss_bytes gauge\n"));
        assert!(!text.contains("n_drops_buffer_total_total"));
    }

    #[test]
    fn flags_select_groups_and_snapshot_fields() {
        let i = inputs();
        let m = collect(
            &i,
            Flags {
                rules: false,
                resource: false,
                ..Flags::default()
            },
        );
        assert!(!m
            .iter()
            .any(|x| x.name == "rules_matches" || x.name == "memory_rss_kb"));
        assert!(!m.iter().any(|x| x.name == "n_evts_cpu"));
        let m = collect(&i, Flags::default());
        let (f, prev) = snapshot_fields(&m, &i, None, true, false);
        assert_eq!(f["scap.n_evts"], 30);
        assert_eq!(f["scap.n_drops"], 1);
        assert_eq!(f["falco.rules.Read_sensitive_file"], 7);
        assert_eq!(f["falco.rules.matches_total"], 7);
        assert_eq!(f["falco.memory_rss_mb"], 2.0);
        assert_eq!(f["scap.n_drops_buffer_file_exit"], 1);
        assert_eq!(f["falco.outputs_queue_num_drops"], 3);
        assert!(!f.contains_key("falco.memory_vsz_mb"), "zero left out");
        assert_eq!(f["scap.evts_rate_sec"], 3.0);
        assert_eq!(prev.n_evts, 30);
        let (f, _) = snapshot_fields(&m, &i, None, false, true);
        assert_eq!(f["falco.memory_rss_kb"], 2048);
        assert_eq!(f["falco.memory_vsz_kb"], 0);
    }

    #[test]
    fn rule_names_are_sanitized_like_falco() {
        assert_eq!(
            sanitize_rule_name("Read sensitive file (untrusted)"),
            "Read_sensitive_file_untrusted"
        );
        assert_eq!(sanitize_rule_name("a::b--c"), "a::b_c");
    }
}
