//! The binary: exit statuses, the JSON shape, the trigger suite.

mod common;

use std::process::{Command, Output};

use common::{FakeDaemon, Script};
use serde_json::Value;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kestrel-loadgen"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn kestrel-loadgen")
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(
        text.trim().lines().count(),
        1,
        "exactly one line of JSON: {text}"
    );
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{e}: {text}"))
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["run"][..],
        &["run", "-s", "bogus"],
        &["run", "-s", "open", "--rate", "fast"],
        &["run", "-s", "open", "--threads", "0", "--ops", "1"],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn json_shape_without_daemon() {
    let out = run(&[
        "run", "-s", "open", "-t", "2", "--ops", "200", "--json", "-q",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    for k in [
        "scenario",
        "threads",
        "duration_s",
        "issued",
        "observed",
        "dropped",
        "rate_per_s",
        "latency_ns",
        "per_thread",
        "per_type",
    ] {
        assert!(v.get(k).is_some(), "missing {k}: {v}");
    }
    assert_eq!(v["scenario"], "open");
    assert_eq!(v["threads"], 2);
    assert_eq!(v["issued"], 400);
    assert_eq!(v["observed"], Value::Null);
    for q in ["p50", "p90", "p99", "p999", "max"] {
        assert!(v["latency_ns"][q].as_u64().unwrap() > 0, "{q}");
    }
    let threads = v["per_thread"].as_array().unwrap();
    assert_eq!(threads.len(), 2);
    assert_eq!(threads[0]["ops"], 100);
    let types = v["per_type"].as_array().unwrap();
    assert!(types
        .iter()
        .any(|t| t["type"] == "openat" && t["rel"] == "self" && t["issued"] == 200));
    assert!(v.get("daemon").is_none());
    // Progress lines are off with -q; nothing else on stderr.
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn progress_goes_to_stderr() {
    let out = run(&["run", "-s", "getppid", "-r", "1k", "-d", "1.3"]);
    assert_eq!(out.status.code(), Some(0));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("ops") && err.contains("rate"), "{err}");
    let human = String::from_utf8(out.stdout).unwrap();
    assert!(human.contains("scenario getppid"), "{human}");
    assert!(human.contains("no daemon"), "{human}");
}

fn daemon_run(workload_openat: u64) -> (Output, Value, FakeDaemon) {
    let fake = FakeDaemon::start(Script {
        workload: vec![("self", "openat", workload_openat), ("self", "close", 40)],
        ..Script::default()
    });
    let out = run(&[
        "run",
        "-s",
        "open",
        "--ops",
        "40",
        "--daemon",
        &fake.url,
        "--json",
        "-q",
        "--quiet-gap",
        "5ms",
        "--settle-timeout",
        "3",
    ]);
    let v = json(&out);
    (out, v, fake)
}

#[test]
fn daemon_pass_exits_0_with_daemon_figures() {
    let (out, v, fake) = daemon_run(40);
    assert_eq!(out.status.code(), Some(0), "{v}");
    assert_eq!(v["passed"], true);
    assert_eq!(v["dropped"], 0);
    assert_eq!(v["issued"], v["observed"]);
    assert_eq!(v["daemon"]["rss_bytes"], 40_000_000);
    assert_eq!(v["daemon"]["event_latency_ns"]["p50"], 10_000);
    assert!(v["daemon"]["cpu_seconds"].as_f64().unwrap() > 0.0);
    // It tracked itself (the child's pid), and untracked at the end.
    let seen = fake.seen();
    assert!(seen.tracked.is_some());
    assert_eq!(seen.untracked, vec![seen.tracked.unwrap()]);
}

#[test]
fn daemon_loss_exits_1() {
    let (out, v, _fake) = daemon_run(37);
    assert_eq!(out.status.code(), Some(1), "{v}");
    assert_eq!(v["passed"], false);
    assert_eq!(v["lost"], 3);
    let openat = v["per_type"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "openat")
        .unwrap()
        .clone();
    assert_eq!(openat["status"], "lost");
    assert_eq!(openat["issued"], 40);
    assert_eq!(openat["observed"], 37);
}

/// Why an action may be skipped without failing the test: only what the
/// machine cannot offer (root, kernel modules, a route, a local container
/// image). A missing tool is not one of them: `scripts/install-deps.sh
/// --test` installs every tool the actions use, so a missing one means the
/// actions that need it would silently never run in CI.
fn skip_is_environmental(reason: &str, root: bool) -> bool {
    (!root && reason == "needs root")
        || reason.contains("loadable module support")
        || reason.contains("/lib/modules/")
        || reason.contains("is available unloaded for kernel")
        || reason.starts_with("no route to ")
        || reason.starts_with("set KESTREL_LOADGEN_IMAGE")
}

/// Lists every skipped action on stderr (visible with --nocapture and in
/// the failure message) and fails on any skip that is not environmental,
/// a missing tool above all.
fn check_skips(actions: &[serde_json::Value], root: bool) {
    let mut bad = Vec::new();
    for a in actions {
        let Some(reason) = a.get("skipped").and_then(|r| r.as_str()) else {
            continue;
        };
        let name = a["action"].as_str().unwrap_or("?");
        eprintln!("trigger action {name} SKIPPED: {reason}");
        if !skip_is_environmental(reason, root) {
            bad.push(format!("{name}: {reason}"));
        }
    }
    assert!(
        bad.is_empty(),
        "trigger actions skipped for a reason CI must not accept (install the tools with \
         scripts/install-deps.sh --test):\n{}",
        bad.join("\n")
    );
}

/// Regression (issue 14): cli.rs silently passed actions marked skipped
/// when a tool was missing. A skip for a missing tool now fails.
#[test]
fn trigger_skipped_for_missing_tool_fails() {
    let missing = serde_json::json!([
        {"action": "crontab_edit", "skipped": "crontab not found on PATH"},
    ]);
    let r = std::panic::catch_unwind(|| check_skips(missing.as_array().unwrap(), true));
    assert!(r.is_err(), "a missing tool was accepted");
    let fine = serde_json::json!([
        {"action": "load_module", "skipped": "cannot read /lib/modules/6.18.0/modules.dep: No such file or directory (os error 2)"},
        {"action": "container_host_mount", "skipped": "set KESTREL_LOADGEN_IMAGE to a local image"},
        {"action": "shell_udp", "done": 1},
    ]);
    check_skips(fine.as_array().unwrap(), true);
    let needs_root = serde_json::json!([{"action": "x", "skipped": "needs root"}]);
    check_skips(needs_root.as_array().unwrap(), false);
    let r = std::panic::catch_unwind(|| check_skips(needs_root.as_array().unwrap(), true));
    assert!(r.is_err(), "'needs root' accepted from root");

    // The real thing: with PATH emptied, every tool is missing and the
    // actions that need one are reported as skipped for that reason.
    let out = bin()
        .args(["run", "-s", "trigger", "-t", "1", "--json", "-q"])
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let v = json(&out);
    let actions = v["trigger"].as_array().unwrap();
    let tool_skips: Vec<&serde_json::Value> = actions
        .iter()
        .filter(|a| {
            a["skipped"]
                .as_str()
                .is_some_and(|r| r.ends_with("not found on PATH"))
        })
        .collect();
    assert!(!tool_skips.is_empty(), "{v}");
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let r = std::panic::catch_unwind(|| check_skips(actions, root));
    assert!(r.is_err(), "tool skips passed: {tool_skips:?}");
}

#[test]
fn trigger_runs_every_action_safely() {
    let child = bin()
        .args(["run", "-s", "trigger", "-t", "2", "--json", "-q"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let out = child.wait_with_output().unwrap();
    let v = json(&out);
    assert_eq!(out.status.code(), Some(0), "{v}");
    let actions = v["trigger"].as_array().unwrap();
    assert_eq!(actions.len(), kestrel_loadgen::trigger::ACTIONS.len());
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    check_skips(actions, root);
    for a in actions {
        if a.get("skipped").is_some() {
            continue;
        }
        assert_eq!(a["failed"], 0, "{a}");
        // One pass: each runnable action exactly once, done or denied.
        assert_eq!(
            a["done"].as_u64().unwrap() + a["denied"].as_u64().unwrap(),
            1,
            "{a}"
        );
    }
    // The actions that need nothing always complete, root or not.
    for name in [
        "symlink_over_sensitive_file",
        "setuid_bit",
        "clear_log_file",
        "fileless_memfd_exec",
        "socket_dup_to_stdin",
        "suspicious_port_connect",
    ] {
        let a = actions.iter().find(|a| a["action"] == name).unwrap();
        assert_eq!(a["done"], 1, "{a}");
    }
    // As root, the sandbox and container actions run (they are skipped
    // only for want of root).
    if root {
        for a in actions {
            let name = a["action"].as_str().unwrap();
            // container_host_mount needs a local image named by
            // KESTREL_LOADGEN_IMAGE; it is skipped without one.
            if name.starts_with("container_")
                && name != "container_escalation_tool"
                && name != "container_host_mount"
            {
                assert_eq!(a["done"], 1, "{a}");
            }
            if name.ends_with("_private_etc") || name == "root_ssh_key_write" {
                assert_eq!(a["done"], 1, "{a}");
            }
        }
    }
    // Nothing left behind: no simulated container cgroup (its id carries
    // the pid), no sandbox tmpfs in this mount namespace.
    let id_part = format!("{}{:016x}", kestrel_loadgen::sim::ID_PREFIX, pid);
    for h in cgroup_hierarchies() {
        if let Ok(rd) = std::fs::read_dir(h.join("docker")) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                assert!(!n.starts_with(&id_part), "cgroup {n} left behind");
            }
        }
    }
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(
        !mounts.contains("kestrel-loadgen"),
        "a sandbox mount leaked: {mounts}"
    );
    for p in ["/root/.ssh/authorized_keys", "/var/log/syslog"] {
        // The sandbox writes these in its own tmpfs only; if they exist on
        // the host they must predate the run.
        if let Ok(m) = std::fs::metadata(p) {
            let age = m.modified().unwrap().elapsed().unwrap_or_default();
            assert!(age > std::time::Duration::from_secs(1), "{p} was written");
        }
    }
    assert!(!std::path::Path::new(&format!("/dev/shm/kestrel-loadgen-{pid}-true")).exists());
    for dir in ["/etc", "/dev", "/usr/bin", "/bin"] {
        if let Ok(rd) = std::fs::read_dir(dir) {
            for e in rd.flatten() {
                let n = e.file_name().to_string_lossy().into_owned();
                assert!(
                    !n.starts_with(&format!(".kestrel-loadgen-{pid}-")),
                    "{dir}/{n} left behind"
                );
            }
        }
    }
    let tmp_left = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .any(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with(&format!("kestrel-loadgen-{pid}-"))
        });
    assert!(!tmp_left, "temporary directory left behind");
}

/// Where a simulated container's cgroup can be.
fn cgroup_hierarchies() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut v = vec![root.to_path_buf()];
    if let Ok(rd) = std::fs::read_dir(root) {
        v.extend(rd.flatten().map(|e| e.path()));
    }
    v
}

#[test]
fn expect_default_rules_needs_trigger_and_a_daemon() {
    for args in [
        &["run", "-s", "trigger", "--expect-default-rules"][..],
        &[
            "run",
            "-s",
            "open",
            "--ops",
            "1",
            "--daemon",
            "http://127.0.0.1:9",
            "--expect-default-rules",
        ],
    ] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--expect-default-rules"), "{err}");
    }
}

/// A trigger run with --expect-default-rules against a fake daemon that
/// traces no event type (so reconciliation is trivially exact) and raises
/// `added(rule)` alerts for each default rule during the run.
fn rules_run(added: impl Fn(&str) -> u64) -> (Output, Value) {
    let alerts = kestrel_loadgen::rules::enabled_default_rules()
        .into_iter()
        .map(|r| {
            let n = added(&r);
            (r, 5, n)
        })
        .collect();
    let fake = FakeDaemon::start(Script {
        traced: vec![],
        alerts,
        ..Script::default()
    });
    let out = run(&[
        "run",
        "-s",
        "trigger",
        "--daemon",
        &fake.url,
        "--expect-default-rules",
        "--json",
        "-q",
        "--quiet-gap",
        "5ms",
        "--settle-timeout",
        "1",
    ]);
    let v = json(&out);
    (out, v)
}

#[test]
fn expect_default_rules_passes_when_every_rule_fired() {
    let (out, v) = rules_run(|_| 1);
    assert_eq!(out.status.code(), Some(0), "{v}");
    let rows = v["rules"].as_array().unwrap();
    assert_eq!(
        rows.len(),
        kestrel_loadgen::rules::enabled_default_rules().len()
    );
    for r in rows {
        assert_eq!(r["status"], "fired", "{r}");
        // Increase over the run, not the counter's value.
        assert_eq!(r["alerts"], 1, "{r}");
    }
}

#[test]
fn expect_default_rules_exits_4_when_an_expected_rule_is_silent() {
    // The symlink action needs nothing, so its rule is always expected.
    let silent = "Symlink to Sensitive File";
    let (out, v) = rules_run(|r| u64::from(r != silent));
    assert_eq!(out.status.code(), Some(4), "{v}");
    let rows = v["rules"].as_array().unwrap();
    let row = rows.iter().find(|r| r["rule"] == silent).unwrap();
    assert_eq!(row["status"], "not_fired", "{row}");
    assert_eq!(row["expected"], true);
    assert!(row["note"]
        .as_str()
        .unwrap()
        .contains("symlink_over_sensitive_file"));
    assert_eq!(
        rows.iter().filter(|r| r["status"] == "not_fired").count(),
        1,
        "{rows:?}"
    );
    // The human summary says so too.
    let out = rules_human(silent);
    assert!(out.contains("NOT FIRED") && out.contains(silent), "{out}");
}

fn rules_human(silent: &str) -> String {
    let alerts = kestrel_loadgen::rules::enabled_default_rules()
        .into_iter()
        .map(|r| {
            let n = u64::from(r != silent);
            (r, 0, n)
        })
        .collect();
    let fake = FakeDaemon::start(Script {
        traced: vec![],
        alerts,
        ..Script::default()
    });
    let out = run(&[
        "run",
        "-s",
        "trigger",
        "--daemon",
        &fake.url,
        "--expect-default-rules",
        "-q",
        "--quiet-gap",
        "5ms",
        "--settle-timeout",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(4));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn triggers_subcommand_lists_the_table() {
    let out = run(&["triggers"]);
    assert_eq!(out.status.code(), Some(0));
    let s = String::from_utf8(out.stdout).unwrap();
    assert!(s.contains("read_sensitive_file") && s.contains("Read sensitive file untrusted"));
    assert!(s.contains("container_shell") && s.contains("Shell Spawned in Container"));
}
