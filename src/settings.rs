//! Typed daemon settings, read from the merged configuration document.
//! Every error names the key and the value that was wrong.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use kestrel_engine::matcher::{MatchOptions, RuleMatching, Selection};
use kestrel_engine::output::{AppendMatch, AppendOutput, ExtraField, OutputsConfig};
use kestrel_engine::pipeline::http::TrackToken;
use kestrel_engine::rules::Priority;
use kestrel_engine::state::ContainerConfig;
use serde_yaml::Value;

use crate::config::Config;

/// `syscall_event_drops`.
#[derive(Debug, Clone, PartialEq)]
pub struct DropPolicy {
    /// Drop ratio (dropped / seen over one second) above which actions run.
    pub threshold: f64,
    /// Log a line on stderr.
    pub log: bool,
    /// Raise the internal alert.
    pub alert: bool,
    /// Notices per second (token bucket refill rate).
    pub rate: f64,
    /// Token bucket size.
    pub max_burst: f64,
}

/// `webserver`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSettings {
    /// `host:port` to listen on.
    pub addr: String,
    /// Path of the health endpoint.
    pub healthz: String,
    /// `webserver.track`: the token `POST /track` and `/untrack` require;
    /// `None` when they are off.
    pub track: Option<TrackToken>,
}

/// `webserver.track`: `None` when disabled; when enabled, the token from
/// `token_file` (which only its owner may read or write) or `token`.
fn track_token(cfg: &Config) -> Result<Option<TrackToken>> {
    if !cfg.bool("webserver.track.enabled")? {
        return Ok(None);
    }
    let file = cfg.string("webserver.track.token_file")?;
    let (text, origin) = if !file.trim().is_empty() {
        use std::os::unix::fs::MetadataExt;
        let path = PathBuf::from(file.trim());
        let md = std::fs::metadata(&path).with_context(|| {
            format!(
                "config key 'webserver.track.token_file': cannot read {}",
                path.display()
            )
        })?;
        if !md.is_file() {
            bail!(
                "config key 'webserver.track.token_file': {} is not a regular file",
                path.display()
            );
        }
        if md.mode() & 0o077 != 0 {
            bail!(
                "config key 'webserver.track.token_file': {} has mode {:04o}; a token file must be readable by its owner only (chmod 600)",
                path.display(),
                md.mode() & 0o7777
            );
        }
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "config key 'webserver.track.token_file': cannot read {}",
                path.display()
            )
        })?;
        (text, "webserver.track.token_file")
    } else {
        (
            cfg.string("webserver.track.token")?,
            "webserver.track.token",
        )
    };
    match TrackToken::new(&text) {
        Some(t) => Ok(Some(t)),
        None => bail!(
            "config key '{origin}': webserver.track.enabled is true, so a token of at least {} characters is required",
            TrackToken::MIN_LEN
        ),
    }
}

/// Falco's `metrics` block, `webserver.prometheus_metrics_enabled` and
/// `kestrel.falco_internal_names`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsSettings {
    /// `metrics.enabled`: the periodic snapshot.
    pub enabled: bool,
    /// `metrics.interval`.
    pub interval: Duration,
    /// `metrics.output_rule`: the snapshot goes through the outputs.
    pub output_rule: bool,
    /// `metrics.output_file`: the snapshot is appended there as JSON lines.
    pub output_file: Option<PathBuf>,
    /// The `*_enabled` category flags.
    pub flags: kestrel_engine::pipeline::falco_metrics::Flags,
    /// `metrics.convert_memory_to_mb`.
    pub memory_mb: bool,
    /// `metrics.include_empty_values`.
    pub include_empty: bool,
    /// `webserver.prometheus_metrics_enabled`: the `falcosecurity_*`
    /// metrics on `/metrics`.
    pub prometheus: bool,
    /// `kestrel.falco_internal_names`: internal alerts are named
    /// `Falco internal: ...` with Falco's output fields.
    pub falco_internal_names: bool,
}

/// Parses Falco's `metrics.interval`: a number and a unit (`ms`, `s`, `m`,
/// `h`, `d`, `w`), e.g. `15m`, `1h`, `500ms`; at least 100 ms.
pub fn parse_interval(s: &str) -> Result<Duration> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(|| {
        anyhow!("config key 'metrics.interval': '{t}' has no unit (ms, s, m, h, d, w)")
    })?;
    let (n, unit) = t.split_at(split);
    let n: u64 = n.parse().map_err(|_| {
        anyhow!("config key 'metrics.interval': '{t}' does not start with a number")
    })?;
    let ms = match unit.trim() {
        "ms" => 1,
        "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        u => {
            bail!("config key 'metrics.interval': unknown unit '{u}' in '{t}' (ms, s, m, h, d, w)")
        }
    };
    let d = Duration::from_millis(n.saturating_mul(ms));
    if d < Duration::from_millis(100) {
        bail!("config key 'metrics.interval': '{t}' is below the minimum of 100ms");
    }
    Ok(d)
}

fn metrics_settings(cfg: &Config) -> Result<MetricsSettings> {
    let file = cfg.string("metrics.output_file")?;
    let flag = |k: &str| -> Result<bool> {
        match cfg.get(&format!("metrics.{k}")) {
            None | Some(serde_yaml::Value::Null) => Ok(false),
            _ => cfg.bool(&format!("metrics.{k}")),
        }
    };
    Ok(MetricsSettings {
        enabled: flag("enabled")?,
        interval: parse_interval(&cfg.string("metrics.interval")?)?,
        output_rule: flag("output_rule")?,
        output_file: (!file.trim().is_empty()).then(|| PathBuf::from(file.trim())),
        flags: kestrel_engine::pipeline::falco_metrics::Flags {
            rules: flag("rules_counters_enabled")?,
            resource: flag("resource_utilization_enabled")?,
            state: flag("state_counters_enabled")?,
            kernel: flag("kernel_event_counters_enabled")?,
            kernel_per_cpu: flag("kernel_event_counters_per_cpu_enabled")?,
        },
        memory_mb: flag("convert_memory_to_mb")?,
        include_empty: flag("include_empty_values")?,
        prometheus: cfg.bool("webserver.prometheus_metrics_enabled")?,
        falco_internal_names: cfg.bool("kestrel.falco_internal_names")?,
    })
}

/// Everything the daemon reads from its configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Rules files and directories; empty = the embedded default rules.
    pub rules_files: Vec<PathBuf>,
    /// Selection, minimum priority, rule_matching.
    pub match_opts: MatchOptions,
    /// Outputs.
    pub outputs: OutputsConfig,
    /// The web server, `None` when disabled.
    pub web: Option<WebSettings>,
    /// Dropped-event notices.
    pub drops: DropPolicy,
    /// `base_syscalls.custom_set`.
    pub custom_syscalls: Vec<String>,
    /// `base_syscalls.all`.
    pub all_syscalls: bool,
    /// `falco_libs.snaplen`.
    pub snaplen: u32,
    /// `falco_libs.thread_table_size`.
    pub table_capacity: usize,
    /// `log_level`.
    pub log_level: log::LevelFilter,
    /// `kestrel.ring_buffer_size`: the largest a ring may be.
    pub ring_size: usize,
    /// `kestrel.ring_memory_mb`, in bytes: all rings together.
    pub ring_memory: usize,
    /// `kestrel.workers` (0: one per CPU ring).
    pub workers: usize,
    /// `kestrel.kernel_filter`.
    pub kernel_filter: bool,
    /// `kestrel.pin_workers`.
    pub pin_workers: bool,
    /// `kestrel.worker_cpu_offset`: the worker of CPU i's ring is pinned
    /// to CPU (i + offset) mod n.
    pub worker_cpu_offset: usize,
    /// `kestrel.drop_failed_syscalls`.
    pub drop_failed: bool,
    /// `kestrel.self_protection`.
    pub self_protection: bool,
    /// `kestrel.attribution_wait_us`.
    pub attribution_wait: Duration,
    /// `kestrel.lock_file`: the single-instance lock (`None`: no lock).
    pub lock_file: Option<PathBuf>,
    /// `kestrel.worker_batch_pause_us`.
    pub worker_batch_pause: Duration,
    /// `kestrel.worker_min_batch_pause_us`.
    pub worker_min_batch_pause: Duration,
    /// `kestrel.worker_batch_target`.
    pub worker_batch_target: usize,
    /// `kestrel.worker_max_idle_sleep_us`.
    pub worker_max_idle_sleep: Duration,
    /// `kestrel.worker_park`.
    pub worker_park: bool,
    /// `kestrel.worker_nice`.
    pub worker_nice: i32,
    /// `kestrel.worker_scheduler` / `kestrel.worker_rt_priority`: `Some`
    /// for SCHED_FIFO.
    pub worker_realtime: Option<i32>,
    /// `container_engines`.
    pub containers: ContainerConfig,
    /// Falco-named metrics and internal events.
    pub metrics: MetricsSettings,
}

/// Top-level keys whose scalar leaves are output settings.
const OUTPUT_ROOTS: &[&str] = &[
    "json_output",
    "json_include_output_property",
    "json_include_message_property",
    "json_include_output_fields_property",
    "json_include_tags_property",
    "time_format_iso_8601",
    "priority",
    "buffered_outputs",
    "outputs_queue",
    "stdout_output",
    "syslog_output",
    "file_output",
    "http_output",
    "program_output",
];

/// The smallest ring a memory budget shares out (256 KiB: about 1,400
/// `openat` records, a few milliseconds of one busy CPU).
pub const MIN_RING_SIZE: usize = 256 << 10;

/// See [`Settings::ring_size_for`].
pub fn per_ring_size(max: usize, budget: usize, ncpus: usize) -> usize {
    let share = budget / ncpus.max(1);
    let pow2 = if share == 0 {
        0
    } else {
        1usize << (usize::BITS - 1 - share.leading_zeros())
    };
    pow2.clamp(MIN_RING_SIZE.min(max), max)
}

impl Settings {
    /// The size of each of `ncpus` rings: the memory budget shared out
    /// (rounded down to a power of two, as ring buffers must be), at most
    /// `kestrel.ring_buffer_size` and at least [`MIN_RING_SIZE`].
    pub fn ring_size_for(&self, ncpus: usize) -> usize {
        per_ring_size(self.ring_size, self.ring_memory, ncpus)
    }

    /// Reads the settings; `cli_rules` (from `-r`) replace `rules_files`.
    pub fn from_config(cfg: &Config, cli_rules: &[PathBuf]) -> Result<Settings> {
        let rules_files = if cli_rules.is_empty() {
            cfg.strings("rules_files")?
                .into_iter()
                .map(PathBuf::from)
                .collect()
        } else {
            cli_rules.to_vec()
        };
        let prio_text = cfg.string("priority")?;
        let min_priority = Priority::parse(&prio_text).ok_or_else(|| {
            anyhow!("config key 'priority': '{prio_text}' is not a priority (emergency, alert, critical, error, warning, notice, informational, debug)")
        })?;
        let rule_matching = match cfg.string("rule_matching")?.trim() {
            "first" => RuleMatching::First,
            "all" => RuleMatching::All,
            other => bail!("config key 'rule_matching': '{other}' must be 'first' or 'all'"),
        };
        let match_opts = MatchOptions {
            rule_matching,
            min_priority,
            selection: selection(cfg)?,
            prefilters: true,
        };
        let web = if cfg.bool("webserver.enabled")? {
            let host = cfg.string("webserver.listen_address")?;
            let port = cfg.u64("webserver.listen_port")?;
            if port > u64::from(u16::MAX) {
                bail!("config key 'webserver.listen_port': {port} is not a port number");
            }
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host
            };
            let mut healthz = cfg.string("webserver.k8s_healthz_endpoint")?;
            if !healthz.starts_with('/') {
                healthz.insert(0, '/');
            }
            Some(WebSettings {
                addr: format!("{host}:{port}"),
                healthz,
                track: track_token(cfg)?,
            })
        } else {
            None
        };
        let actions = cfg.strings("syscall_event_drops.actions")?;
        for a in &actions {
            if !matches!(a.as_str(), "log" | "alert" | "ignore") {
                bail!("config key 'syscall_event_drops.actions': unknown action '{a}' (log, alert, ignore)");
            }
        }
        let drops = DropPolicy {
            threshold: cfg.f64("syscall_event_drops.threshold")?,
            log: actions.iter().any(|a| a == "log"),
            alert: actions.iter().any(|a| a == "alert"),
            rate: cfg.f64("syscall_event_drops.rate")?,
            max_burst: cfg.f64("syscall_event_drops.max_burst")?.max(1.0),
        };
        if !(0.0..=1.0).contains(&drops.threshold) {
            bail!(
                "config key 'syscall_event_drops.threshold': {} must be between 0 and 1",
                drops.threshold
            );
        }
        let ring_size = cfg.u64("kestrel.ring_buffer_size")? as usize;
        if !ring_size.is_power_of_two() || ring_size < 4096 {
            bail!("config key 'kestrel.ring_buffer_size': {ring_size} must be a power of two of at least 4096");
        }
        let log_level = match cfg.string("log_level")?.trim() {
            "error" => log::LevelFilter::Error,
            "warning" | "warn" => log::LevelFilter::Warn,
            "info" | "notice" => log::LevelFilter::Info,
            "debug" => log::LevelFilter::Debug,
            "trace" => log::LevelFilter::Trace,
            other => {
                bail!("config key 'log_level': '{other}' must be error, warning, info or debug")
            }
        };
        Ok(Settings {
            metrics: metrics_settings(cfg)?,
            rules_files,
            match_opts,
            outputs: outputs(cfg)?,
            web,
            drops,
            custom_syscalls: cfg.strings("base_syscalls.custom_set")?,
            all_syscalls: cfg.bool("base_syscalls.all")?,
            snaplen: cfg.u64("falco_libs.snaplen")?.min(256) as u32,
            table_capacity: cfg.u64("falco_libs.thread_table_size")?.max(1024) as usize,
            log_level,
            ring_size,
            ring_memory: (cfg.u64("kestrel.ring_memory_mb")? as usize).saturating_mul(1 << 20),
            workers: cfg.u64("kestrel.workers")? as usize,
            kernel_filter: cfg.bool("kestrel.kernel_filter")?,
            pin_workers: cfg.bool("kestrel.pin_workers")?,
            worker_cpu_offset: cfg.u64("kestrel.worker_cpu_offset")? as usize,
            drop_failed: cfg.bool("kestrel.drop_failed_syscalls")?,
            self_protection: cfg.bool("kestrel.self_protection")?,
            attribution_wait: Duration::from_micros(cfg.u64("kestrel.attribution_wait_us")?),
            lock_file: Some(cfg.string("kestrel.lock_file")?)
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .map(PathBuf::from),
            worker_batch_pause: Duration::from_micros(cfg.u64("kestrel.worker_batch_pause_us")?),
            worker_min_batch_pause: Duration::from_micros(
                cfg.u64("kestrel.worker_min_batch_pause_us")?,
            ),
            worker_batch_target: (cfg.u64("kestrel.worker_batch_target")? as usize).max(1),
            worker_max_idle_sleep: Duration::from_micros(
                cfg.u64("kestrel.worker_max_idle_sleep_us")?,
            ),
            worker_park: cfg.bool("kestrel.worker_park")?,
            worker_nice: {
                let n = cfg.string("kestrel.worker_nice")?;
                let n: i32 = n.trim().parse().map_err(|_| {
                    anyhow!("config key 'kestrel.worker_nice': '{n}' is not an integer")
                })?;
                if !(-20..=19).contains(&n) {
                    bail!("config key 'kestrel.worker_nice': {n} must be between -20 and 19");
                }
                n
            },
            worker_realtime: match cfg.string("kestrel.worker_scheduler")?.trim() {
                "fifo" => {
                    let p = cfg.u64("kestrel.worker_rt_priority")?;
                    if !(1..=99).contains(&p) {
                        bail!(
                            "config key 'kestrel.worker_rt_priority': {p} must be between 1 and 99"
                        );
                    }
                    Some(p as i32)
                }
                "other" | "normal" => None,
                other => bail!(
                    "config key 'kestrel.worker_scheduler': '{other}' must be 'fifo' or 'other'"
                ),
            },
            containers: containers(cfg)?,
        })
    }
}

/// `container_engines`: the runtimes' sockets, as Falco's container plugin
/// names them (`engines.<runtime>.enabled` / `sockets`).
fn containers(cfg: &Config) -> Result<ContainerConfig> {
    let sockets = |engine: &str| -> Result<Vec<PathBuf>> {
        if !cfg.bool(&format!("container_engines.{engine}.enabled"))? {
            return Ok(Vec::new());
        }
        Ok(cfg
            .strings(&format!("container_engines.{engine}.sockets"))?
            .into_iter()
            .map(PathBuf::from)
            .collect())
    };
    Ok(ContainerConfig {
        docker_sockets: sockets("docker")?,
        podman_sockets: sockets("podman")?,
        cri_sockets: sockets("cri")?,
        lookup_timeout: Duration::from_millis(cfg.u64("container_engines.lookup_timeout_ms")?),
        events: cfg.bool("container_engines.events")?,
        evict_after: Duration::from_secs(cfg.u64("container_engines.evict_after_s")?),
    })
}

fn selection(cfg: &Config) -> Result<Vec<Selection>> {
    let mut out = Vec::new();
    for (i, item) in cfg.seq("rules")?.iter().enumerate() {
        let ctx = || format!("config key 'rules[{i}]'");
        let m = item
            .as_mapping()
            .ok_or_else(|| anyhow!("{}: expected {{enable: ...}} or {{disable: ...}}", ctx()))?;
        for (k, v) in m {
            let action = k.as_str().unwrap_or("");
            let inner = v.as_mapping().ok_or_else(|| {
                anyhow!("{}: '{action}' needs {{rule: NAME}} or {{tag: TAG}}", ctx())
            })?;
            for (kk, vv) in inner {
                let what = kk.as_str().unwrap_or("");
                let val = scalar_text(vv)
                    .ok_or_else(|| anyhow!("{}: '{action}.{what}' must be a string", ctx()))?;
                out.push(match (action, what) {
                    ("enable", "rule") => Selection::EnableRule(val),
                    ("disable", "rule") => Selection::DisableRule(val),
                    ("enable", "tag") => Selection::EnableTag(val),
                    ("disable", "tag") => Selection::DisableTag(val),
                    _ => bail!(
                        "{}: expected enable/disable with rule/tag, found '{action}.{what}'",
                        ctx()
                    ),
                });
            }
        }
    }
    Ok(out)
}

fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Fills [`OutputsConfig`] from the scalar leaves of the output keys (each
/// through `OutputsConfig::set`, so names and checks live in one place)
/// and from `append_output`.
fn outputs(cfg: &Config) -> Result<OutputsConfig> {
    let mut oc = OutputsConfig::default();
    for root in OUTPUT_ROOTS {
        let Some(v) = cfg.get(root) else { continue };
        let mut leaves = Vec::new();
        collect_leaves(root, v, &mut leaves);
        for (key, value) in leaves {
            oc.set(&key, &value)
                .with_context(|| format!("config key '{key}'"))?;
        }
    }
    oc.append_output = append_output(&cfg.seq("append_output")?)?;
    oc.validate().context("output configuration")?;
    Ok(oc)
}

fn collect_leaves(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Mapping(m) => {
            for (k, v) in m {
                if let Some(k) = k.as_str() {
                    collect_leaves(&format!("{prefix}.{k}"), v, out);
                }
            }
        }
        Value::Null => {}
        other => {
            if let Some(s) = scalar_text(other) {
                out.push((prefix.to_string(), s));
            }
        }
    }
}

fn append_output(items: &[Value]) -> Result<Vec<AppendOutput>> {
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ctx = || format!("config key 'append_output[{i}]'");
        let m = item
            .as_mapping()
            .ok_or_else(|| anyhow!("{}: expected a mapping", ctx()))?;
        let mut a = AppendOutput::default();
        for (k, v) in m {
            match k.as_str().unwrap_or("") {
                "suggested_output" => {
                    a.suggested_output = match v {
                        Value::Bool(b) => *b,
                        other => crate::config::parse_bool(&scalar_text(other).unwrap_or_default())
                            .ok_or_else(|| anyhow!("{}: suggested_output must be true or false", ctx()))?,
                    }
                }
                "extra_output" => {
                    a.extra_output = Some(scalar_text(v).ok_or_else(|| anyhow!("{}: extra_output must be a string", ctx()))?)
                }
                "extra_fields" => {
                    let list = v.as_sequence().ok_or_else(|| anyhow!("{}: extra_fields must be a list", ctx()))?;
                    for f in list {
                        match f {
                            Value::Mapping(fm) => {
                                for (fk, fv) in fm {
                                    a.extra_fields.push(ExtraField::Format {
                                        key: scalar_text(fk).unwrap_or_default(),
                                        format: scalar_text(fv).ok_or_else(|| anyhow!("{}: extra_fields values must be strings", ctx()))?,
                                    });
                                }
                            }
                            other => a.extra_fields.push(ExtraField::Field(
                                scalar_text(other).ok_or_else(|| anyhow!("{}: extra_fields items must be field names or key: format maps", ctx()))?,
                            )),
                        }
                    }
                }
                "match" => {
                    let mm = v.as_mapping().ok_or_else(|| anyhow!("{}: match must be a mapping", ctx()))?;
                    let mut am = AppendMatch::default();
                    for (mk, mv) in mm {
                        match mk.as_str().unwrap_or("") {
                            "source" => am.source = scalar_text(mv),
                            "rule" => am.rule = scalar_text(mv),
                            "tags" => {
                                am.tags = mv
                                    .as_sequence()
                                    .map(|s| s.iter().filter_map(scalar_text).collect())
                                    .or_else(|| scalar_text(mv).map(|t| vec![t]))
                                    .unwrap_or_default()
                            }
                            other => bail!("{}: unknown match key '{other}' (source, tags, rule)", ctx()),
                        }
                    }
                    a.matcher = am;
                }
                other => bail!("{}: unknown key '{other}' (suggested_output, extra_output, extra_fields, match)", ctx()),
            }
        }
        out.push(a);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ring_budget_is_shared_out_in_powers_of_two() {
        let mib = 1usize << 20;
        // The default budget (256 MiB, rings of at most 8 MiB).
        assert_eq!(per_ring_size(8 * mib, 256 * mib, 2), 8 * mib);
        assert_eq!(per_ring_size(8 * mib, 256 * mib, 32), 8 * mib);
        assert_eq!(per_ring_size(8 * mib, 256 * mib, 64), 4 * mib);
        assert_eq!(per_ring_size(8 * mib, 256 * mib, 128), 2 * mib);
        // 256 MiB / 192 = 1.33 MiB, rounded down.
        assert_eq!(per_ring_size(8 * mib, 256 * mib, 192), mib);
        // Never below the floor, never above the cap.
        assert_eq!(per_ring_size(8 * mib, mib, 64), MIN_RING_SIZE);
        assert_eq!(per_ring_size(64 << 10, 256 * mib, 2), 64 << 10);
        assert_eq!(per_ring_size(8 * mib, 0, 4), MIN_RING_SIZE);
    }

    use super::*;

    fn settings(o: &[&str]) -> Result<Settings> {
        let o: Vec<String> = o.iter().map(|s| s.to_string()).collect();
        let cfg = Config::load(None, &o, &mut |_| {})?;
        Settings::from_config(&cfg, &[])
    }

    #[test]
    fn defaults() {
        let s = settings(&[]).unwrap();
        assert!(s.rules_files.is_empty());
        assert_eq!(s.match_opts.rule_matching, RuleMatching::First);
        assert_eq!(s.match_opts.min_priority, Priority::Debug);
        assert_eq!(s.web.unwrap().addr, "127.0.0.1:8765");
        assert_eq!(s.ring_size, 8 << 20);
        assert_eq!(per_ring_size(s.ring_size, s.ring_memory, 2), 8 << 20);
        assert_eq!(s.workers, 0);
        assert_eq!(s.outputs.append_output, vec![AppendOutput::suggested()]);
        assert!(s.outputs.stdout.enabled);
        assert!(!s.outputs.json_output);
        assert!(s.drops.log && s.drops.alert);
        assert_eq!(
            s.lock_file.as_deref(),
            Some(std::path::Path::new("/run/kestrel/kestrel.lock"))
        );
        assert_eq!(settings(&["kestrel.lock_file="]).unwrap().lock_file, None);
    }

    #[test]
    fn falco_keys_reach_the_outputs_and_selection() {
        let s = settings(&[
            "json_output=true",
            "priority=warning",
            "rule_matching=all",
            "file_output.enabled=true",
            "file_output.filename=/tmp/x.txt",
            "rules[].disable.rule=*",
            "rules[].enable.tag=maturity_stable",
            "append_output[].extra_output=pid=%proc.pid",
            "webserver.listen_port=9999",
        ])
        .unwrap();
        assert!(s.outputs.json_output);
        assert!(s.outputs.file.enabled);
        assert_eq!(s.outputs.file.filename, PathBuf::from("/tmp/x.txt"));
        assert_eq!(s.match_opts.min_priority, Priority::Warning);
        assert_eq!(s.match_opts.rule_matching, RuleMatching::All);
        assert_eq!(
            s.match_opts.selection,
            vec![
                Selection::DisableRule("*".into()),
                Selection::EnableTag("maturity_stable".into())
            ]
        );
        assert_eq!(
            s.outputs
                .append_output
                .last()
                .unwrap()
                .extra_output
                .as_deref(),
            Some("pid=%proc.pid")
        );
        assert_eq!(s.web.unwrap().addr, "127.0.0.1:9999");
    }

    /// Regression (issue 14): `POST /track` unauthenticated. The write
    /// endpoints are off unless configured, and turning them on needs a
    /// token that only its owner can read.
    #[test]
    fn post_track_unauthenticated_needs_a_token() {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(settings(&[]).unwrap().web.unwrap().track, None);
        let e = settings(&["webserver.track.enabled=true"])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("webserver.track.token") && e.contains("16"),
            "{e}"
        );
        let e = settings(&[
            "webserver.track.enabled=true",
            "webserver.track.token=short",
        ])
        .unwrap_err()
        .to_string();
        assert!(e.contains("at least 16"), "{e}");
        let s = settings(&[
            "webserver.track.enabled=true",
            "webserver.track.token=0123456789abcdef",
        ])
        .unwrap();
        assert!(s.web.unwrap().track.unwrap().matches(b"0123456789abcdef"));

        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("token");
        std::fs::write(&f, "fedcba9876543210fedcba\n").unwrap();
        let opt = format!("webserver.track.token_file={}", f.display());
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = settings(&["webserver.track.enabled=true", &opt])
            .unwrap_err()
            .to_string();
        assert!(e.contains("mode 0644") && e.contains("chmod 600"), "{e}");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o600)).unwrap();
        let s = settings(&["webserver.track.enabled=true", &opt]).unwrap();
        let t = s.web.unwrap().track.unwrap();
        assert!(t.matches(b"fedcba9876543210fedcba"));
        // The file wins over the value.
        let s = settings(&[
            "webserver.track.enabled=true",
            &opt,
            "webserver.track.token=0123456789abcdef",
        ])
        .unwrap();
        assert!(!s.web.unwrap().track.unwrap().matches(b"0123456789abcdef"));
        let missing = format!("webserver.track.token_file={}/nope", dir.path().display());
        let e = settings(&["webserver.track.enabled=true", &missing]).unwrap_err();
        assert!(format!("{e:#}").contains("cannot read"), "{e:#}");
        // A token file alone does not turn the endpoints on.
        assert_eq!(settings(&[&opt]).unwrap().web.unwrap().track, None);
    }

    #[test]
    fn bad_values_name_the_key() {
        for (o, key) in [
            ("priority=loud", "priority"),
            ("rule_matching=some", "rule_matching"),
            ("kestrel.ring_buffer_size=1000", "ring_buffer_size"),
            ("http_output.enabled=true", "http_output"),
            ("stdout_output.enabled=perhaps", "stdout_output.enabled"),
            ("syscall_event_drops.threshold=2", "threshold"),
            ("rules[].enable.bogus=x", "rules[0]"),
        ] {
            let e = format!("{:#}", settings(&[o]).unwrap_err());
            assert!(e.contains(key), "{o}: {e}");
        }
    }
}
