//! `kestrel compat --markdown`: COMPATIBILITY.md, Falco 0.44 → kestrel, made
//! from the code so it cannot drift: the flags clap accepts, the config
//! keys kestrel's defaults have, the field catalogue, the event table and
//! the Falco metric catalogue, each against Falco's own list (Falco's
//! flags below; its falco.yaml, event types and syscall fields in
//! tests/data/falco-0.44). tests/compat.rs fails when the committed file
//! differs; `KESTREL_UPDATE_COMPAT=1 cargo test --test compat` rewrites it.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use clap::CommandFactory;
use kestrel_engine::event::syscalls::SYSCALLS_X86_64;
use kestrel_engine::event::EVENTS;
use kestrel_engine::fields::{flag, CATALOG, UNAVAILABLE};
use kestrel_engine::pipeline::falco_metrics::CATALOGUE as METRICS;

/// Falco 0.44.1's command-line options (userspace/falco/app/options.cpp):
/// short name, long name, and what kestrel does that Falco does not, if
/// anything.
const FALCO_FLAGS: &[(Option<char>, Option<&str>, &str)] = &[
    (Some('h'), Some("help"), "kestrel's own help text"),
    (Some('c'), None, ""),
    (None, Some("config-schema"), "no JSON schema is published"),
    (None, Some("rule-schema"), "no JSON schema is published"),
    (None, Some("disable-source"), ""),
    (None, Some("dry-run"), ""),
    (None, Some("enable-source"), ""),
    (Some('i'), None, "kestrel ignores no events by default"),
    (Some('L'), None, ""),
    (Some('l'), None, ""),
    (None, Some("list"), ""),
    (None, Some("list-events"), ""),
    (None, Some("list-plugins"), "kestrel has no plugins"),
    (Some('M'), None, ""),
    (None, Some("markdown"), ""),
    (None, Some("format"), ""),
    (Some('N'), None, ""),
    (Some('o'), Some("option"), ""),
    (None, Some("plugin-info"), "kestrel has no plugins"),
    (
        Some('p'),
        Some("print"),
        "deprecated in Falco; use -o append_output",
    ),
    (Some('P'), Some("pidfile"), ""),
    (Some('r'), None, ""),
    (None, Some("support"), ""),
    (Some('U'), Some("unbuffered"), ""),
    (Some('V'), Some("validate"), ""),
    (Some('v'), None, ""),
    (None, Some("version"), ""),
    (None, Some("page-size"), ""),
];

/// Why a Falco configuration key is not supported (the topmost key of a
/// group is enough).
const KEY_NOTES: &[(&str, &str)] = &[
    (
        "watch_config_files",
        "configuration is re-read on SIGHUP only",
    ),
    (
        "engine",
        "one engine: kestrel's eBPF probe (settings under kestrel.*)",
    ),
    (
        "capture",
        "no capture on alert; `kestrel capture` writes capture files",
    ),
    ("load_plugins", "no plugins"),
    (
        "plugins",
        "no plugins; container metadata is built in (container_engines)",
    ),
    ("plugins_hostinfo", "no plugins"),
    ("buffer_format_base64", "buffers are printed as text"),
    ("webserver.threadiness", "one web server thread"),
    ("webserver.ssl_enabled", "no TLS on the web server"),
    ("webserver.ssl_certificate", "no TLS on the web server"),
    ("log_syslog", "operational logs go to stderr"),
    ("libs_logger", "no separate libraries logger"),
    (
        "output_timeout",
        "outputs never block the pipeline (bounded queues, counted drops)",
    ),
    ("syscall_event_timeouts", "no event-timeout watchdog"),
    ("syscall_event_drops.simulate_drops", "not simulated"),
    (
        "metrics.kernel_iter_event_counters_enabled",
        "no BPF iterators",
    ),
    (
        "http_output.max_consecutive_timeouts",
        "retries are set by http_output.max_retries",
    ),
    (
        "falco_libs.thread_table_auto_purging_interval_s",
        "exited processes leave the table on their exit event",
    ),
    (
        "falco_libs.thread_table_auto_purging_thread_timeout_s",
        "exited processes leave the table on their exit event",
    ),
    ("http_output.echo", "false only (responses are not echoed)"),
    ("http_output.compress_uploads", "false only"),
    ("metrics.libbpf_stats_enabled", "accepted, no values"),
    ("metrics.plugins_metrics_enabled", "accepted; no plugins"),
    (
        "metrics.jemalloc_stats_enabled",
        "accepted; kestrel does not use jemalloc",
    ),
    (
        "config_files",
        "files and directories, with append/override/add-only",
    ),
    (
        "webserver.prometheus_metrics_enabled",
        "kestrel's default is true",
    ),
    ("rules", "commented out in Falco's file"),
    (
        "static_fields",
        "commented out in Falco's file; no static fields",
    ),
];

const FALCO_EVENT_TYPES: &str = include_str!("../tests/data/falco-0.44/event_types.tsv");
/// Falco 0.44.1's `--list=syscall` catalogue (libs 0.25.4 and the container
/// plugin 0.7.1), one field a line, tab-separated, name first.
const FALCO_FIELDS: &str = include_str!("../tests/data/falco-0.44-syscall-fields.txt");

fn note(key: &str) -> &'static str {
    KEY_NOTES
        .iter()
        .find(|(k, _)| *k == key)
        .map_or("", |(_, n)| n)
}

/// Whether kestrel's command line takes the flag.
fn accepts(short: Option<char>, long: Option<&str>) -> bool {
    let cmd = crate::Cli::command();
    let mut cmds = vec![cmd];
    let mut all = Vec::new();
    while let Some(c) = cmds.pop() {
        for a in c.get_arguments() {
            all.push((a.get_short(), a.get_long().map(str::to_string)));
        }
        cmds.extend(c.get_subcommands().cloned());
    }
    let (short, long) = (short, long.map(str::to_string));
    if short == Some('h') || long.as_deref() == Some("help") {
        return true; // clap's own
    }
    all.iter()
        .any(|(s, l)| (short.is_some() && *s == short) || (long.is_some() && *l == long))
}

fn esc(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The whole document.
pub fn markdown() -> String {
    let mut m = String::new();
    m.push_str(
        "# kestrel and Falco 0.44: compatibility\n\n\
         Generated from the code by `kestrel compat --markdown`; do not edit by hand.\n\
         Regenerate with `KESTREL_UPDATE_COMPAT=1 cargo test --test compat` (tests/compat.rs\n\
         fails when this file differs from the generated text).\n\n\
         Falco's side comes from Falco 0.44.1 and the libraries it builds with\n\
         (falcosecurity/libs 0.25.4): its flags, its stock falco.yaml, its event types\n\
         and its syscall fields (tests/data/falco-0.44, sources in the README there), and\n\
         its Prometheus metrics (falco_metrics.cpp, the libs metrics collector).\n\n",
    );

    // Flags.
    let mut yes = 0;
    let mut rows = String::new();
    for (s, l, n) in FALCO_FLAGS {
        let name = match (s, l) {
            (Some(s), Some(l)) => format!("`-{s}`, `--{l}`"),
            (Some(s), None) => format!("`-{s}`"),
            (None, Some(l)) => format!("`--{l}`"),
            (None, None) => continue,
        };
        let ok = accepts(*s, *l);
        yes += usize::from(ok);
        writeln!(
            rows,
            "| {name} | {} | {} |",
            if ok { "yes" } else { "no" },
            esc(n)
        )
        .expect("write to String");
    }
    writeln!(
        m,
        "## Command-line flags\n\n{yes} of Falco's {} flags are accepted.\n\n| Falco flag | kestrel | Note |\n|---|---|---|\n{rows}",
        FALCO_FLAGS.len()
    )
    .expect("write to String");

    // Configuration keys.
    let keys = crate::config::falco_key_paths();
    let mut rows = String::new();
    let mut honoured = 0;
    let mut shown_keys = 0;
    for k in &keys {
        let ok = crate::config::is_kestrel_key(k);
        // One row per key: below an unsupported key, its children add
        // nothing.
        if !ok
            && keys
                .iter()
                .any(|p| k.starts_with(&format!("{p}.")) && !crate::config::is_kestrel_key(p))
        {
            continue;
        }
        honoured += usize::from(ok);
        shown_keys += 1;
        let status = if ok { "yes" } else { "no (warning, ignored)" };
        let n = note(k);
        let depth = k.matches('.').count();
        let shown = format!("{}`{k}`", "&nbsp;&nbsp;".repeat(depth));
        writeln!(rows, "| {shown} | {status} | {} |", esc(n)).expect("write to String");
    }
    let kestrel_only: Vec<String> =
        serde_yaml::from_str::<serde_yaml::Value>(crate::config::DEFAULT_CONFIG)
            .ok()
            .and_then(|v| {
                v.as_mapping().map(|m| {
                    m.keys()
                        .filter_map(|k| k.as_str())
                        .filter(|k| !crate::config::is_falco_key(k))
                        .map(|k| format!("`{k}`"))
                        .collect()
                })
            })
            .unwrap_or_default();
    writeln!(
        m,
        "## Configuration keys (falco.yaml)\n\n\
         Every key of Falco's stock falco.yaml. \"yes\": kestrel reads it (kestrel.yaml documents\n\
         each); \"no\": a file that sets it loads, with one warning naming the key. kestrel's own\n\
         top-level keys: {}.\n\n\
         {honoured} of {} keys are read (keys below an unsupported key are not listed).\n\n| Key | kestrel | Note |\n|---|---|---|\n{rows}",
        kestrel_only.join(", "),
        shown_keys
    )
    .expect("write to String");

    // Fields.
    let falco_fields: Vec<&str> = FALCO_FIELDS
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split('\t').next())
        .collect();
    let kestrel_fields: BTreeSet<&str> = CATALOG.iter().map(|d| d.name).collect();
    let mut rows = String::new();
    let mut have = 0;
    for f in &falco_fields {
        let def = CATALOG.iter().find(|d| d.name == *f);
        let reason = UNAVAILABLE.iter().find(|(n, _)| n == f).map(|(_, r)| *r);
        let status = match (def, reason) {
            (Some(d), _) if d.has(flag::DEPRECATED) => "yes (deprecated)".to_string(),
            (Some(_), _) => "yes".to_string(),
            (None, Some(r)) => format!("no: {r}"),
            (None, None) => "no".to_string(),
        };
        have += usize::from(def.is_some());
        writeln!(rows, "| `{f}` | {status} |").expect("write to String");
    }
    let falco_set: BTreeSet<&str> = falco_fields.iter().copied().collect();
    let extra: Vec<String> = kestrel_fields
        .iter()
        .filter(|f| !falco_set.contains(*f))
        .map(|f| format!("`{f}`"))
        .collect();
    writeln!(
        m,
        "## Fields (syscall source)\n\n\
         {have} of Falco's {} syscall-source fields are in kestrel's catalogue (`kestrel --list`).\n\
         Fields kestrel has beyond that list: {}.\n\n| Falco field | kestrel |\n|---|---|\n{rows}",
        falco_fields.len(),
        if extra.is_empty() {
            "none".to_string()
        } else {
            extra.join(", ")
        }
    )
    .expect("write to String");

    // Event types.
    let captured: BTreeSet<&str> = EVENTS.iter().map(|e| e.name).collect();
    let x86: BTreeSet<&str> = SYSCALLS_X86_64.iter().map(|(n, _)| *n).collect();
    let mut rows = String::new();
    let mut n_captured = 0;
    let mut total = 0;
    let mut falco_names = BTreeSet::new();
    for line in FALCO_EVENT_TYPES.lines() {
        let Some((name, kind)) = line.split_once('\t') else {
            continue;
        };
        falco_names.insert(name);
        total += 1;
        let status = if captured.contains(name) {
            n_captured += 1;
            "captured"
        } else if kind == "syscall" && !x86.contains(name) {
            "no (not an x86_64 syscall)"
        } else if kind == "syscall" {
            "no"
        } else {
            "no (not a syscall)"
        };
        writeln!(rows, "| `{name}` | {kind} | {status} |").expect("write to String");
    }
    let extra: Vec<String> = captured
        .iter()
        .filter(|n| !falco_names.contains(*n))
        .map(|n| format!("`{n}`"))
        .collect();
    writeln!(
        m,
        "## Event types (`evt.type`)\n\n\
         {n_captured} of the {total} event type names Falco's rules can use are captured\n\
         (`kestrel --list-events`). kestrel-only event types: {}.\n\n\
         | Falco event type | Kind | kestrel |\n|---|---|---|\n{rows}",
        if extra.is_empty() {
            "none".to_string()
        } else {
            extra.join(", ")
        }
    )
    .expect("write to String");

    // Metrics.
    let mut rows = String::new();
    for (name, status, n) in METRICS {
        writeln!(
            rows,
            "| `{}` | {} | {} |",
            esc(name),
            status.label(),
            esc(n)
        )
        .expect("write to String");
    }
    writeln!(
        m,
        "## Prometheus metrics\n\n\
         Served on `/metrics` beside kestrel's own `kestrel_*` metrics while\n\
         `webserver.prometheus_metrics_enabled` is true (kestrel's default); the `metrics.*_enabled`\n\
         flags choose the categories, as in Falco. The `metrics:` block's snapshot event\n\
         (\"Falco internal: metrics snapshot\") carries the same values under Falco's `falco.*` and\n\
         `scap.*` names.\n\n| Falco metric | kestrel | Note |\n|---|---|---|\n{rows}"
    )
    .expect("write to String");
    while m.ends_with("\n\n") {
        m.pop();
    }
    m
}
