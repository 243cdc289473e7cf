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
    // `time` is the event's own time (output_fields evt.time, ns since
    // the epoch) in UTC.
    let ns = a["output_fields"]["evt.time"].as_u64().expect("evt.time");
    assert_eq!(time, rfc3339_utc(ns), "time vs evt.time");
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

/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ` for nanoseconds since the epoch.
fn rfc3339_utc(ns: u64) -> String {
    let secs = ns / 1_000_000_000;
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    // Civil date from days since 1970-01-01 (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ns % 1_000_000_000
    )
}
