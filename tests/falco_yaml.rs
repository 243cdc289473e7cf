//! A stock Falco 0.44 falco.yaml as `-c` (tests/data/falco-0.44, Falco's
//! file unmodified): it loads, the keys kestrel has are honoured, every
//! other key is one warning; and Falco's /etc/falco layout: `rules_files`
//! directories (rules.d) load their *.yaml files in name order,
//! `config_files` (config.d) merge with Falco's strategies. No root needed:
//! nothing here loads the probe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const KESTREL: &str = env!("CARGO_BIN_EXE_kestrel");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn stock() -> PathBuf {
    repo().join("tests/data/falco-0.44/falco.yaml")
}

fn kestrel(args: &[&str]) -> Output {
    Command::new(KESTREL)
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .expect("run kestrel")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ok(o: &Output) {
    assert_eq!(
        o.status.code(),
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// The Falco keys of the stock file kestrel does not have.
const UNSUPPORTED: &[&str] = &[
    "watch_config_files",
    "engine",
    "capture",
    "load_plugins",
    "plugins",
    "plugins_hostinfo",
    "buffer_format_base64",
    "http_output.max_consecutive_timeouts",
    "webserver.threadiness",
    "webserver.ssl_enabled",
    "webserver.ssl_certificate",
    "log_syslog",
    "libs_logger",
    "output_timeout",
    "syscall_event_timeouts",
    "syscall_event_drops.simulate_drops",
    "metrics.kernel_iter_event_counters_enabled",
    "falco_libs.thread_table_auto_purging_interval_s",
    "falco_libs.thread_table_auto_purging_thread_timeout_s",
];

#[test]
fn the_fixture_is_falcos_file_unmodified() {
    // sha256 of falco.yaml at falcosecurity/falco tag 0.44.1 (commit
    // f1ac5eb1a1c9da9f797f799121ab700263621443).
    let o = Command::new("sha256sum").arg(stock()).output().unwrap();
    assert!(text(&o.stdout)
        .starts_with("55a172a24335569bc053b53a5a485be9be2fd7b44890b38de92fc8e475bcc86f"));
}

#[test]
fn stock_falco_yaml_loads_and_reports_each_unsupported_key_once() {
    let c = stock();
    let c = c.to_str().unwrap();
    let o = kestrel(&["-c", c, "-r", "rules/kestrel_rules.yaml", "--dry-run"]);
    ok(&o);
    let err = text(&o.stderr);
    for k in UNSUPPORTED {
        let line = format!("Falco configuration key '{k}' is not supported by kestrel");
        assert_eq!(err.matches(&line).count(), 1, "{k}:\n{err}");
    }
    let warnings = err.lines().filter(|l| l.contains(" WARN ")).count();
    assert_eq!(warnings, UNSUPPORTED.len(), "{err}");
    assert!(!err.contains("unknown configuration key"), "{err}");
    assert!(!err.contains("ERROR"), "{err}");
    assert!(text(&o.stdout).contains(&format!("configuration: {c} (ok)")));
}

#[test]
fn stock_falco_yaml_values_are_honoured() {
    let c = stock();
    let o = kestrel(&[
        "-c",
        c.to_str().unwrap(),
        "-r",
        "rules/kestrel_rules.yaml",
        "--support",
    ]);
    ok(&o);
    let j: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    let cfg = &j["config"];
    // Falco's values where they differ from kestrel's defaults.
    assert_eq!(cfg["webserver"]["listen_address"], "0.0.0.0");
    assert_eq!(cfg["webserver"]["prometheus_metrics_enabled"], false);
    assert_eq!(cfg["syslog_output"]["enabled"], true);
    assert_eq!(cfg["http_output"]["user_agent"], "falcosecurity/falco");
    assert_eq!(cfg["file_output"]["filename"], "./events.txt");
    assert_eq!(cfg["metrics"]["interval"], "1h");
    assert_eq!(cfg["metrics"]["plugins_metrics_enabled"], true);
    assert_eq!(cfg["falco_libs"]["snaplen"], 80);
    assert_eq!(cfg["append_output"][0]["suggested_output"], true);
    // Unsupported keys are dropped, not passed on.
    for k in [
        "engine",
        "capture",
        "plugins",
        "libs_logger",
        "config_files",
    ] {
        assert!(cfg.get(k).is_none(), "{k} kept");
    }
    assert!(cfg["webserver"].get("ssl_enabled").is_none());
}

#[test]
fn stock_rules_files_are_read_from_etc_falco() {
    // Without -r the stock file's rules_files apply: /etc/falco is absent
    // here, and the error names the file, as Falco's does.
    if Path::new("/etc/falco/falco_rules.yaml").exists() {
        return;
    }
    let c = stock();
    let o = kestrel(&["-c", c.to_str().unwrap(), "--dry-run"]);
    assert_ne!(o.status.code(), Some(0));
    let err = text(&o.stderr);
    assert!(err.contains("/etc/falco/falco_rules.yaml"), "{err}");
}

const RULE_A: &str = "- rule: Layout rule
  desc: from rules.d/a.yaml
  condition: evt.type = execve and proc.name = layout-probe
  output: layout (proc.name=%proc.name)
  priority: NOTICE
";

/// Loads only after a.yaml (it overrides a.yaml's rule).
const RULE_B: &str = "- rule: Layout rule
  priority: CRITICAL
  override:
    priority: replace
";

#[test]
fn etc_falco_layout_rules_d_and_config_d() {
    let tmp = tempfile::tempdir().unwrap();
    let t = tmp.path();
    let p = |s: &str| t.join(s).display().to_string();
    std::fs::create_dir_all(t.join("rules.d")).unwrap();
    std::fs::create_dir_all(t.join("config.d")).unwrap();
    std::fs::write(
        t.join("falco_rules.yaml"),
        "- list: layout_list\n  items: [a]\n",
    )
    .unwrap();
    std::fs::write(t.join("rules.d/b.yaml"), RULE_B).unwrap();
    std::fs::write(t.join("rules.d/a.yaml"), RULE_A).unwrap();
    // Not *.yaml: skipped (it would not load).
    std::fs::write(t.join("rules.d/notes.txt"), "not: [yaml").unwrap();
    std::fs::write(
        t.join("extra_rules.yaml"),
        "- macro: layout_macro\n  condition: proc.name = x\n",
    )
    .unwrap();
    // config.d, merged in name order: 20 after 10 (the later priority
    // wins), rules_files lists appended to.
    std::fs::write(t.join("config.d/20-prio.yaml"), "priority: warning\n").unwrap();
    std::fs::write(
        t.join("config.d/10-base.yaml"),
        format!(
            "priority: error\njson_output: true\nrules_files:\n  - {}\n",
            p("extra_rules.yaml")
        ),
    )
    .unwrap();
    // add-only: keys already there are kept.
    std::fs::write(
        t.join("addonly.yaml"),
        "json_output: false\nlog_level: debug\n",
    )
    .unwrap();
    let main = t.join("falco.yaml");
    std::fs::write(
        &main,
        format!(
            "config_files:\n  - {}\n  - {}\n  - path: {}\n    strategy: add-only\nrules_files:\n  - {}\n  - {}\n",
            p("config.d"),
            p("missing.d"),
            p("addonly.yaml"),
            p("falco_rules.yaml"),
            p("rules.d"),
        ),
    )
    .unwrap();
    let o = kestrel(&["-c", main.to_str().unwrap(), "--support"]);
    ok(&o);
    let j: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    let names: Vec<&str> = j["rules_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let (fr, a, b, x) = (
        p("falco_rules.yaml"),
        p("rules.d/a.yaml"),
        p("rules.d/b.yaml"),
        p("extra_rules.yaml"),
    );
    assert_eq!(names, [fr.as_str(), a.as_str(), b.as_str(), x.as_str()]);
    let cfg = &j["config"];
    assert_eq!(cfg["priority"], "warning");
    assert_eq!(cfg["json_output"], true);
    assert_eq!(cfg["log_level"], "debug");
    // The rule overridden by b.yaml: loaded in order.
    let o = kestrel(&["-c", main.to_str().unwrap(), "-L", "-o", "json_output=true"]);
    ok(&o);
    let l: Value = serde_json::from_str(text(&o.stdout).trim()).unwrap();
    assert_eq!(l["rules"][0]["info"]["name"], "Layout rule");
    assert_eq!(l["rules"][0]["info"]["priority"], "Critical", "{l}");
    let o = kestrel(&["-c", main.to_str().unwrap(), "--dry-run"]);
    ok(&o);
    assert!(
        text(&o.stdout).contains("1 rules loaded") || text(&o.stdout).contains("1 rule loaded"),
        "{}",
        text(&o.stdout)
    );
    // An included file may not include others.
    std::fs::write(t.join("config.d/30-bad.yaml"), "config_files: [/tmp]\n").unwrap();
    let o = kestrel(&["-c", main.to_str().unwrap(), "--dry-run"]);
    assert_ne!(o.status.code(), Some(0));
    assert!(
        text(&o.stderr).contains("30-bad.yaml"),
        "{}",
        text(&o.stderr)
    );

    std::fs::remove_file(t.join("config.d/30-bad.yaml")).unwrap();

    // `-o config_files=...` includes more, after the file's own.
    std::fs::write(t.join("late.yaml"), "priority: critical\n").unwrap();
    let late = format!("config_files={}", p("late.yaml"));
    let o = kestrel(&["-c", main.to_str().unwrap(), "-o", &late, "--support"]);
    ok(&o);
    let j: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(j["config"]["priority"], "critical");
    assert_eq!(j["config"]["json_output"], true);
    // And without -c.
    let o = kestrel(&["-o", &late, "-r", "rules/kestrel_rules.yaml", "--support"]);
    ok(&o);
    let j: Value = serde_json::from_str(&text(&o.stdout)).unwrap();
    assert_eq!(j["config"]["priority"], "critical");
}
