//! Falco's own stable rules file, unmodified, in the daemon: `cat
//! /etc/shadow` from this test process (its parent is neither a shell nor
//! any program the rule trusts) raises "Read sensitive file untrusted" in
//! Falco's JSON alert shape.

mod common;

use std::time::{Duration, Instant};

use common::{Daemon, DaemonOpts};
use serde_json::Value;

#[test]
fn falco_stable_rules_read_sensitive_file_untrusted() {
    let _g = common::serial();
    let rules = common::falco_rules();
    assert!(rules.exists(), "{} missing", rules.display());
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules.clone()],
        ..Default::default()
    });
    assert!(
        d.stderr().contains("rules loaded from") && d.stderr().contains("falco_rules.yaml"),
        "{}",
        d.stderr()
    );
    let tmp = common::tempdir();
    let n = common::nonce("falco");
    let nf = tmp.path().join(&n);
    std::fs::write(&nf, b"").unwrap();
    let cmdline = format!("cat /etc/shadow {}", nf.display());
    common::run(common::quiet("cat").arg("/etc/shadow").arg(&nf));
    let end = Instant::now();
    let a = d
        .wait_alert_until(
            |a| common::rule_of(a) == "Read sensitive file untrusted" && common::output_has(a, &n),
            end + Duration::from_secs(1),
        )
        .unwrap_or_else(|| {
            panic!(
                "no 'Read sensitive file untrusted' within 1 s; alerts: {:?}\nstderr:\n{}",
                d.alerts_where(|a| common::output_has(a, &n)),
                d.stderr()
            )
        });

    // Falco's shape: exactly these top-level keys, sorted, compact.
    let keys: Vec<&String> = a.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "hostname",
            "output",
            "output_fields",
            "priority",
            "rule",
            "source",
            "tags",
            "time"
        ],
        "{a}"
    );
    let raw = d
        .raw_alerts()
        .into_iter()
        .find(|l| l.contains(&n) && l.contains("Read sensitive file untrusted"))
        .expect("raw alert line");
    // serde_json (without preserve_order) writes maps with sorted keys and
    // no spaces: byte equality means the daemon wrote keys sorted at every
    // level, compactly.
    assert_eq!(
        raw,
        serde_json::to_string(&a).unwrap(),
        "keys not sorted or not compact"
    );
    assert_eq!(a["priority"], "Warning");
    assert_eq!(a["source"], "syscall");
    assert_eq!(a["hostname"], hostname());
    let time = a["time"].as_str().unwrap();
    assert!(
        time.len() == 30
            && time.ends_with('Z')
            && time.as_bytes()[10] == b'T'
            && time.as_bytes()[19] == b'.',
        "time {time:?} is not RFC 3339 UTC with nanoseconds"
    );
    let tags: Vec<&str> = a["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    let mut sorted = tags.clone();
    sorted.sort();
    assert_eq!(tags, sorted, "tags sorted");
    for t in [
        "maturity_stable",
        "filesystem",
        "mitre_credential_access",
        "T1555",
    ] {
        assert!(tags.contains(&t), "{tags:?}");
    }

    // output_fields: typed values, missing ones null.
    let f = &a["output_fields"];
    assert_eq!(f["fd.name"], "/etc/shadow");
    assert_eq!(f["evt.type"], "openat");
    assert_eq!(f["proc.name"], "cat");
    assert_eq!(f["proc.cmdline"], cmdline.as_str());
    assert_eq!(
        f["proc.exepath"],
        common::which("cat")
            .unwrap()
            .canonicalize()
            .unwrap()
            .to_str()
            .unwrap()
    );
    assert_eq!(f["user.name"], "root");
    assert_eq!(f["user.uid"], 0, "user.uid is a number");
    assert!(
        f["user.loginuid"].is_i64(),
        "user.loginuid {}",
        f["user.loginuid"]
    );
    assert!(f["proc.tty"].is_u64(), "proc.tty {}", f["proc.tty"]);
    assert!(f["evt.time"].is_u64(), "evt.time {}", f["evt.time"]);
    assert_eq!(f["container.id"], "host");
    assert_eq!(f["k8s.pod.name"], Value::Null);
    let test_comm = std::fs::read_to_string("/proc/self/comm").unwrap();
    assert_eq!(f["proc.pname"], test_comm.trim());

    let out = a["output"].as_str().unwrap();
    assert!(
        out.contains(
            " Warning Sensitive file opened for reading by non-trusted program | file=/etc/shadow "
        ),
        "{out}"
    );
    assert!(out.contains(&format!("command={cmdline} ")), "{out}");
    d.stop();
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string()
}
