//! Rules on the system calls the probe captures through its generic
//! routine, end to end: the real daemon with a rules file naming them, real
//! processes making the calls, the alert checked field by field. Also the
//! load warning for an event type kestrel cannot capture.

mod common;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, DaemonOpts};
use serde_json::Value;

const RULES: &str = r#"
- rule: Signal Sent To Sleeper
  desc: a process signals another (test rule)
  condition: evt.type in (kill, tgkill) and evt.arg.sig = SIGUSR1
  output: signal %evt.arg.sig (%evt.rawarg.sig) to %evt.rawarg.pid (%evt.arg.pid) by %proc.pid (%proc.name)
  priority: WARNING
- rule: Write To Test File
  desc: a write on a test file, with the data (test rule)
  condition: evt.type in (write, pwrite) and fd.name endswith ".h2-io" and evt.is_io = true and evt.is_io_write = true and evt.is_io_read = false
  output: write %fd.name size=%evt.rawarg.size res=%evt.res buffer=%evt.buffer dir=%evt.io_dir buflen=%evt.buflen
  priority: NOTICE
- rule: Read From Test File
  desc: a read of a test file (test rule)
  condition: evt.type = read and fd.name endswith ".h2-io" and evt.rawres > 0 and evt.is_io_read = true and evt.is_io_write = false
  output: read %fd.name size=%evt.arg.size buffer=%evt.buffer dir=%evt.io_dir buflen=%evt.buflen
  priority: NOTICE
- rule: Unmount Something
  desc: names an event x86_64 does not have (test rule)
  condition: evt.type = umount
  output: umount %evt.args
  priority: NOTICE
"#;

fn start(dir: &tempfile::TempDir, options: &[&str]) -> Daemon {
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).expect("write rules");
    Daemon::start_with(DaemonOpts {
        rules: vec![rules],
        options: options.iter().map(|s| s.to_string()).collect(),
        ..DaemonOpts::default()
    })
}

fn field<'a>(a: &'a Value, f: &str) -> &'a Value {
    &a["output_fields"][f]
}

#[test]
fn kill_rule_fires_when_a_process_signals_another_and_io_rules_carry_the_buffer() {
    let _g = common::serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = start(&dir, &[]);
    assert!(
        d.wait_stderr("umount", Duration::from_secs(5)),
        "the load warns about the uncapturable type; stderr:\n{}",
        d.stderr()
    );
    let stderr = d.stderr();
    assert!(
        stderr.contains("Unmount Something") && stderr.contains("'umount'"),
        "the warning names the rule and the type:\n{stderr}"
    );

    // A real process signals another one: /bin/kill (procps) calls kill(2).
    let mut target = Command::new("sleep")
        .arg("30")
        .stdin(Stdio::null())
        .spawn()
        .expect("spawn sleep");
    let tpid = target.id();
    // SIGUSR1 ends sleep (no handler); the alert is about the sending.
    let st = Command::new("kill")
        .args(["-USR1", &tpid.to_string()])
        .status()
        .expect("run kill");
    assert!(st.success());
    let a = d
        .wait_alert(
            |a| {
                a["rule"] == "Signal Sent To Sleeper"
                    && field(a, "evt.rawarg.pid").as_i64() == Some(tpid as i64)
            },
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| {
            panic!(
                "no kill alert for pid {tpid}; alerts: {:#?}\nstderr:\n{}",
                d.alerts(),
                d.stderr()
            )
        });
    assert_eq!(field(&a, "evt.arg.sig"), "SIGUSR1", "{a:#}");
    assert_eq!(field(&a, "evt.rawarg.sig").to_string(), "10", "{a:#}");
    assert_eq!(field(&a, "proc.name"), "kill", "{a:#}");
    // evt.arg.pid names the target process, as for the other pid params.
    assert_eq!(field(&a, "evt.arg.pid"), "sleep", "{a:#}");
    common::best_effort("reap sleep", target.wait());

    // write and read with 200 bytes: the buffer is cut at the snaplen (80).
    let path = dir.path().join("data.h2-io");
    let payload: String = (0..200).map(|i| (b'a' + (i % 26) as u8) as char).collect();
    {
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .expect("create");
        f.write_all(payload.as_bytes()).expect("write");
    }
    let back = std::fs::read(&path).expect("read back");
    assert_eq!(back.len(), 200);
    let name = std::fs::canonicalize(&path).unwrap();
    let name = name.to_str().unwrap();
    let w = d
        .wait_alert(
            |a| a["rule"] == "Write To Test File" && field(a, "fd.name") == name,
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no write alert; alerts: {:#?}", d.alerts()));
    assert_eq!(field(&w, "evt.buffer"), &payload[..80], "{w:#}");
    assert_eq!(field(&w, "evt.rawarg.size").to_string(), "200", "{w:#}");
    assert_eq!(field(&w, "evt.io_dir"), "write", "{w:#}");
    assert_eq!(field(&w, "evt.buflen").to_string(), "200", "{w:#}");
    let r = d
        .wait_alert(
            |a| a["rule"] == "Read From Test File" && field(a, "fd.name") == name,
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no read alert; alerts: {:#?}", d.alerts()));
    assert_eq!(field(&r, "evt.buffer"), &payload[..80], "{r:#}");
    assert_eq!(field(&r, "evt.io_dir"), "read", "{r:#}");
    assert_eq!(field(&r, "evt.buflen").to_string(), "200", "{r:#}");
    d.stop();
}

#[test]
fn snaplen_option_sets_the_buffer_length() {
    let _g = common::serial();
    let dir = tempfile::tempdir().expect("tempdir");
    let d = start(&dir, &["falco_libs.snaplen=16"]);
    let path = dir.path().join("small.h2-io");
    let payload = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::fs::write(&path, payload).expect("write");
    let name = std::fs::canonicalize(&path).unwrap();
    let name = name.to_str().unwrap().to_string();
    let w = d
        .wait_alert(
            |a| a["rule"] == "Write To Test File" && field(a, "fd.name") == name.as_str(),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no write alert; alerts: {:#?}", d.alerts()));
    assert_eq!(field(&w, "evt.buffer"), &payload[..16], "{w:#}");
    assert_eq!(field(&w, "evt.rawarg.size").to_string(), "36", "{w:#}");
    d.stop();
}

#[test]
fn validate_warns_about_an_uncapturable_type_naming_rule_and_type() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules.yaml");
    std::fs::write(&rules, RULES).expect("write rules");
    for args in [
        vec!["validate", "-r", rules.to_str().unwrap()],
        vec!["-V", rules.to_str().unwrap()],
    ] {
        let o = Command::new(common::KESTREL)
            .args(&args)
            .output()
            .expect("run kestrel");
        let out =
            String::from_utf8_lossy(&o.stdout).into_owned() + &String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{args:?}: {out}");
        assert!(out.contains("Ok, with warnings"), "{args:?}: {out}");
        assert!(
            out.contains("rule 'Unmount Something'")
                && out.contains("LOAD_COMPILE_CONDITION")
                && out.contains("event type 'umount' is not a system call on x86_64"),
            "{args:?}: {out}"
        );
        // The capturable names (kill, tgkill, read, write, pwrite) do not warn.
        assert!(!out.contains("'kill'") && !out.contains("'read'"), "{out}");
    }
}
