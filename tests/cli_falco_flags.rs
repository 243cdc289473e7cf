//! Falco's flags, run the way Falco's documentation shows them (falco.org
//! "Falco command line"; falcosecurity/falco userspace/falco/app/options.cpp
//! and actions/*.cpp for the output and the exit codes): `-V`, `-L`, `-l`,
//! `--list`, `-N`, `--list-events`, `--support`, `--version`, the event
//! source selection, and the daemon flags they sit beside. No root needed:
//! none of them loads the probe.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const KESTREL: &str = env!("CARGO_BIN_EXE_kestrel");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Runs kestrel in the repository root (so `rules/...` paths work).
fn kestrel(args: &[&str]) -> Output {
    Command::new(KESTREL)
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .expect("run kestrel")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Asserts the exit code, showing both streams when it is wrong.
fn expect_code(o: &Output, code: i32) {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

const RULE_OK: &str = "- rule: Shell spawned\n  desc: a shell ran\n  condition: evt.type = execve and proc.name = bash\n  output: shell (proc.name=%proc.name)\n  priority: WARNING\n";

#[test]
fn validate_a_good_file_prints_ok_and_exits_0() {
    // falco -V /etc/falco/falco_rules.yaml
    let o = kestrel(&["-V", "rules/kestrel_rules.yaml"]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), "rules/kestrel_rules.yaml: Ok\n");
    // Falco's own rules, unmodified.
    let falco = "../shared/reference/falco_rules.yaml";
    let o = kestrel(&["--validate", falco]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{falco}: Ok\n"));
}

#[test]
fn validate_several_files_loads_them_in_order_one_line_each() {
    // The audit overlay appends to the default file's lists and rules: it
    // validates only after it.
    let o = kestrel(&[
        "-V",
        "rules/kestrel_rules.yaml",
        "-V",
        "rules/kestrel_audit.yaml",
    ]);
    expect_code(&o, 0);
    assert_eq!(
        stdout(&o),
        "rules/kestrel_rules.yaml: Ok\nrules/kestrel_audit.yaml: Ok\n"
    );
}

#[test]
fn validate_a_bad_file_shows_the_position_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(
        dir.path(),
        "bad.yaml",
        "- rule: Bad\n  desc: d\n  condition: evt.type = open and proc.nme = x\n  output: o\n  priority: INFO\n",
    );
    let o = kestrel(&["-V", &bad]);
    expect_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "{bad}: Invalid\n1 Errors:\nIn rules content: ({bad}:0:0)\n    rule 'Bad': ({bad}:0:2)\n    rule condition: ({bad}:2:13)\n"
        )),
        "{out}"
    );
    assert!(
        out.contains("------\n  condition: evt.type = open and proc.nme = x\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("\n{}^\n------\n", " ".repeat(33))),
        "{out}"
    );
    assert!(
        out.ends_with("LOAD_ERR_COMPILE_CONDITION (Error compiling condition): filter_check called with nonexistent field proc.nme\n\n"),
        "{out}"
    );
    // Upstream returns the summary as the fatal error too.
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!("Error: {bad}: Invalid\n")),
        "{err}"
    );
}

#[test]
fn validate_reports_each_file_even_after_an_invalid_one() {
    let dir = tempfile::tempdir().unwrap();
    let bad = write(dir.path(), "bad.yaml", "- rule: Bad\n  desc: d\n");
    let good = write(dir.path(), "good.yaml", RULE_OK);
    let o = kestrel(&["-V", &bad, "-V", &good]);
    expect_code(&o, 1);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("{bad}: Invalid\n1 Errors:\n")),
        "{out}"
    );
    // The invalid block ends with a newline; the join adds another.
    assert!(out.ends_with(&format!("\n\n{good}: Ok\n")), "{out}");
}

#[test]
fn validate_with_warnings_says_so_and_logs_them() {
    let dir = tempfile::tempdir().unwrap();
    let warn = write(
        dir.path(),
        "warn.yaml",
        "- rule: No event type\n  desc: d\n  condition: proc.name = x\n  output: o\n  priority: INFO\n",
    );
    let o = kestrel(&["-V", &warn]);
    expect_code(&o, 0);
    assert_eq!(stdout(&o), format!("{warn}: Ok, with warnings\n"));
    let err = stderr(&o);
    assert!(err.contains("1 Warnings:"), "{err}");
    assert!(err.contains("LOAD_NO_EVTTYPE"), "{err}");
}

#[test]
fn validate_a_missing_file_is_upstreams_error() {
    let o = kestrel(&["-V", "/nonexistent/rules.yaml"]);
    expect_code(&o, 1);
    assert_eq!(o.stdout, b"");
    assert_eq!(
        stderr(&o),
        "Error: Could not open file /nonexistent/rules.yaml for reading\n"
    );
}

#[test]
fn validate_json_output_and_rule_listing_after_it() {
    let o = kestrel(&["-V", "rules/kestrel_rules.yaml", "-o", "json_output=true"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).expect("one JSON line");
    let r = &j["falco_load_results"][0];
    assert_eq!(r["name"], "rules/kestrel_rules.yaml");
    assert_eq!(r["successful"], true);
    assert!(j.get("falco_describe_results").is_none());

    // -V with -L: the listing follows the summary after a blank line.
    let o = kestrel(&["-V", "rules/kestrel_rules.yaml", "-L"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "rules/kestrel_rules.yaml: Ok\n\n{:<50} Description\n",
            "Rule"
        )),
        "{out}"
    );
    assert!(out.contains("\nRead Sensitive File "), "{out}");

    let o = kestrel(&[
        "-V",
        "rules/kestrel_rules.yaml",
        "-l",
        "Read Sensitive File",
        "-o",
        "json_output=true",
    ]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(
        j["falco_describe_results"]["rules"][0]["info"]["name"],
        "Read Sensitive File"
    );
}

#[test]
fn list_rules_describes_every_rule() {
    // falco -L
    let o = kestrel(&["-L"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{:<50} Description", "Rule"));
    assert_eq!(lines[1], format!("{:<50} -----------", "----"));
    // Each rule: the name in 50 columns, the description wrapped at 59
    // columns under column 51, then an empty line.
    let i = lines
        .iter()
        .position(|l| l.starts_with("Read Sensitive File "))
        .expect("Read Sensitive File listed");
    assert_eq!(&lines[i][..51], format!("{:<50} ", "Read Sensitive File"));
    assert!(lines[i].len() <= 51 + 59, "{}", lines[i]);
    assert!(lines[i + 1].starts_with(&" ".repeat(51)));
    assert!(out.ends_with("\n\n"));

    // -r replaces the rules: Falco's own file.
    let o = kestrel(&["-L", "-r", "../shared/reference/falco_rules.yaml"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("\nTerminal shell in container "), "{out}");
    assert!(!out.contains("\nRead Sensitive File "), "{out}");

    // JSON: every rule, macro and list.
    let o = kestrel(&["-L", "-o", "json_output=true"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    for k in ["lists", "macros", "required_engine_version", "rules"] {
        assert!(j.get(k).is_some(), "{k} missing");
    }
    assert!(j["rules"]
        .as_array()
        .unwrap()
        .iter()
        .any(|r| r["info"]["name"] == "Read Sensitive File"));
}

#[test]
fn describe_one_rule() {
    // falco -l "Read Sensitive File"
    let o = kestrel(&["-l", "Read Sensitive File"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "{:<50} Description\n{:<50} -----------\n{:<50} A program ",
            "Rule", "----", "Read Sensitive File"
        )),
        "{out}"
    );
    assert_eq!(out.matches("\n\n").count(), 1, "one rule: {out}");

    let o = kestrel(&["-l", "Read Sensitive File", "-o", "json_output=true"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["rules"].as_array().unwrap().len(), 1);
    assert_eq!(j["rules"][0]["info"]["name"], "Read Sensitive File");

    let o = kestrel(&["-l", "No Such Rule"]);
    expect_code(&o, 1);
    assert_eq!(
        stderr(&o),
        "Runtime error: Rule \"No Such Rule\" is not loaded. Exiting.\n"
    );
}

#[test]
fn list_fields() {
    // falco --list
    let o = kestrel(&["--list"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("{}\nField Class:", "-".repeat(31))),
        "{out}"
    );
    assert!(out.contains(&format!("\n{:<30}syscall\n", "Event Sources:")));
    assert!(out.contains("\nproc.name "), "{out}");
    // Falco 0.44's fields: filled ones in their class, the others in the
    // unavailable class with the reason.
    assert!(
        out.contains(&format!("{:<30}fs.path", "Field Class:")),
        "{out}"
    );
    assert!(out.contains("\nfs.path.name "), "{out}");
    assert!(out.contains("\nuser.homedir "), "{out}");
    assert!(
        out.contains(&format!("{:<30}unavailable", "Field Class:")),
        "{out}"
    );
    assert!(
        out.contains("\nfd.ino                        UNAVAILABLE not captured: the probe's fd description carries no inode number"),
        "{out}"
    );

    // falco --list=syscall -N: one name per line.
    let o = kestrel(&["--list=syscall", "-N"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    let names: Vec<&str> = out.lines().collect();
    assert!(names.contains(&"proc.name"));
    assert!(names.contains(&"fd.name"));
    assert!(names.contains(&"proc.exeline"));
    // Unavailable fields are not listed as usable names.
    assert!(!names.contains(&"fd.ino"));
    assert!(names.iter().all(|n| !n.is_empty() && !n.contains(' ')));

    let o = kestrel(&["--list", "--format", "json"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(!j["fieldclasses"].as_array().unwrap().is_empty());
    assert!(j["unavailable"]
        .as_array()
        .unwrap()
        .iter()
        .any(|u| u["name"] == "proc.vmrss" && u["reason"].as_str().unwrap().contains("memory")));

    let o = kestrel(&["--list=syscall", "-N", "--format=json"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert!(j["fieldnames"]
        .as_array()
        .unwrap()
        .contains(&Value::from("proc.name")));

    // A source kestrel does not have.
    let o = kestrel(&["--list=k8s_audit"]);
    expect_code(&o, 1);
    assert_eq!(o.stdout, b"");
    assert_eq!(
        stderr(&o),
        "Error: Value for --list must be a valid source type\n"
    );

    let o = kestrel(&["--list", "--format", "yaml"]);
    expect_code(&o, 1);
    assert_eq!(
        stderr(&o),
        "Error: Invalid format 'yaml'. Valid values are: text, markdown, json\n"
    );
}

#[test]
fn list_events() {
    // falco --list-events
    let o = kestrel(&["--list-events"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("The events below are valid for kestrel *Wire Version*: "),
        "{}",
        lines[0]
    );
    assert_eq!(lines[1], "## Syscall events");
    assert_eq!(lines[2], "");
    let openat = lines
        .iter()
        .find(|l| l.starts_with("< openat("))
        .expect("openat listed");
    assert!(
        openat.starts_with("< openat(FD **fd**, FD **dirfd**, FSRELPATH **name**, FLAGS32 **flags**: O_LARGEFILE, "),
        "{openat}"
    );
    assert!(
        openat.contains(", O_CREAT, ") && openat.ends_with(')'),
        "{openat}"
    );
    assert!(lines.contains(&"## Tracepoint events"));
    assert!(lines.contains(&"## Metaevents"));
    assert!(lines.iter().any(|l| l.starts_with("> procexit(")));

    let o = kestrel(&["--list-events", "--format", "json"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let sys = j["Syscall events"].as_array().unwrap();
    let execve = sys.iter().find(|e| e["name"] == "execve").unwrap();
    assert_eq!(execve["dir"], "<");
    assert_eq!(execve["available"], true);
    assert_eq!(execve["params"][0]["type"], "ERRNO");

    let o = kestrel(&["--list-events", "--format", "markdown"]);
    expect_code(&o, 0);
    assert!(stdout(&o).contains(
        "\nDefault | Dir | Name | Params \n:-------|:----|:-----|:-----\nYes | `<` | `execve` | "
    ));
}

#[test]
fn support_is_one_json_object_with_the_rules_files() {
    // falco --support | jq
    let o = kestrel(&["--support"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert_eq!(out.lines().count(), 1, "one line");
    let j: Value = serde_json::from_str(&out).expect("JSON");
    let keys: Vec<&String> = j.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "cmdline",
            "config",
            "engine_info",
            "rules_files",
            "system_info",
            "version"
        ]
    );
    assert_eq!(j["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["engine_info"]["engine_version_semver"], "0.62.0");
    assert_eq!(j["system_info"]["sysname"], "Linux");
    assert!(j["cmdline"].as_str().unwrap().ends_with(" --support"));
    assert_eq!(j["config"]["json_output"], false);
    let rf = &j["rules_files"][0];
    assert_eq!(rf["name"], "kestrel_rules.yaml");
    assert!(rf["variants"][0]["content"]
        .as_str()
        .unwrap()
        .contains("- rule: Read Sensitive File"));

    // With -r, the files named, with their content; -o reaches the config.
    let o = kestrel(&[
        "--support",
        "-r",
        "rules/kestrel_rules.yaml",
        "-r",
        "rules/kestrel_audit.yaml",
        "-o",
        "priority=warning",
    ]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(&stdout(&o)).unwrap();
    let names: Vec<&str> = j["rules_files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["rules/kestrel_rules.yaml", "rules/kestrel_audit.yaml"]
    );
    let audit = std::fs::read_to_string(repo().join("rules/kestrel_audit.yaml")).unwrap();
    assert_eq!(
        j["rules_files"][1]["variants"][0]["content"],
        audit.as_str()
    );
    assert_eq!(j["config"]["priority"], "warning");
}

#[test]
fn version_is_the_only_version_flag() {
    // falco --version
    let o = kestrel(&["--version"]);
    expect_code(&o, 0);
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!(
            "kestrel version: {}\nEngine:          0.62.0\n",
            env!("CARGO_PKG_VERSION")
        )),
        "{out}"
    );
    // What `falco --version | grep Engine: | awk '{print $2}'` reads.
    let engine = out
        .lines()
        .find(|l| l.starts_with("Engine:"))
        .and_then(|l| l.split_whitespace().nth(1));
    assert_eq!(engine, Some("0.62.0"));

    let o = kestrel(&["--version", "-o", "json_output=true"]);
    expect_code(&o, 0);
    let j: Value = serde_json::from_str(stdout(&o).trim()).unwrap();
    assert_eq!(j["kestrel_version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(j["engine_version"], "62");
    assert_eq!(j["engine_version_semver"], "0.62.0");

    // -V is validation now: without a file it is a usage error.
    let o = kestrel(&["-V"]);
    expect_code(&o, 1);
    assert!(!stdout(&o).contains("version"));
}

#[test]
fn event_source_selection() {
    // kestrel has one source; turning it off is upstream's error.
    let o = kestrel(&["--disable-source", "syscall", "-L"]);
    expect_code(&o, 1);
    assert_eq!(o.stdout, b"");
    assert_eq!(stderr(&o), "Error: Must enable at least one event source\n");

    let o = kestrel(&["--disable-source", "k8s_audit", "--dry-run"]);
    expect_code(&o, 1);
    assert_eq!(
        stderr(&o),
        "Error: Attempted disabling an unknown event source: k8s_audit\n"
    );

    let o = kestrel(&["--enable-source", "aws_cloudtrail", "--dry-run"]);
    expect_code(&o, 1);
    assert_eq!(
        stderr(&o),
        "Error: Attempted enabling an unknown event source: aws_cloudtrail\n"
    );

    let o = kestrel(&[
        "--enable-source",
        "syscall",
        "--disable-source",
        "syscall",
        "--dry-run",
    ]);
    expect_code(&o, 1);
    assert_eq!(
        stderr(&o),
        "Error: You can not mix --enable-source and --disable-source\n"
    );

    let o = kestrel(&["--enable-source", "syscall", "-l", "Read Sensitive File"]);
    expect_code(&o, 0);

    // Upstream lists fields before it selects sources.
    let o = kestrel(&["--disable-source", "syscall", "--list", "-N"]);
    expect_code(&o, 0);
}

#[test]
fn daemon_flags_still_work_beside_them() {
    // -c, -r, -o, -U, -M and --dry-run: load everything, capture nothing.
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(dir.path(), "kestrel.yaml", "priority: notice\n");
    let o = kestrel(&[
        "--dry-run",
        "-U",
        "-M",
        "1",
        "-c",
        &cfg,
        "-r",
        "rules/kestrel_rules.yaml",
        "-o",
        "json_output=true",
        "--enable-source",
        "syscall",
    ]);
    expect_code(&o, 0);
    assert!(
        stdout(&o).contains(&format!("configuration: {cfg} (ok)")),
        "{}",
        stdout(&o)
    );

    // A configuration file that is not there: upstream's message.
    let o = kestrel(&["-L", "-c", "/nonexistent/kestrel.yaml"]);
    expect_code(&o, 1);
    assert_eq!(
        stderr(&o),
        "Error: Could not find configuration file at /nonexistent/kestrel.yaml\n"
    );

    // An unknown flag is a usage error, exit 1 as in Falco.
    let o = kestrel(&["--no-such-flag"]);
    expect_code(&o, 1);

    // The subcommands are still there, and do not mix with the flags.
    let o = kestrel(&["validate", "-r", "rules/kestrel_rules.yaml"]);
    expect_code(&o, 0);
    assert!(stdout(&o).starts_with("rules/kestrel_rules.yaml: Ok\n"));
    let o = kestrel(&["-L", "rules", "list"]);
    expect_code(&o, 1);
}
