//! The detection corpus (detection/corpus.yaml) on the real kernel: every
//! attack action must raise an alert from kestrel's default rules, every
//! benign workload none. Actions run one at a time; an alert belongs to the
//! action whose run window holds its event time.
//!
//! `KESTREL_DETECTION_FALCO=1` also runs the corpus under Falco's three
//! rules files (reported, not asserted); `KESTREL_DETECTION_REPORT=FILE`
//! writes the markdown tables DETECTION.md is made of
//! (`scripts/detection.sh` does both).

mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::docker::{docker_cli, Dockerd, IMAGE};
use common::{Daemon, DaemonOpts};
use serde::Deserialize;

#[derive(Deserialize)]
struct Corpus {
    checks: Vec<Check>,
    attacks: Vec<Action>,
    benign: Vec<Action>,
}

#[derive(Deserialize)]
struct Check {
    id: String,
    name: String,
}

#[derive(Deserialize)]
struct Action {
    id: String,
    #[serde(default)]
    check: String,
    desc: String,
    #[serde(default)]
    setup: String,
    run: String,
    #[serde(default)]
    cleanup: String,
    #[serde(default)]
    known_miss: Option<String>,
    /// The action runs in a real container ($DOCKER, $IMG): as an attack
    /// it counts only alerts raised inside a container.
    #[serde(default)]
    container: bool,
    /// Benign work that runs a tool one of the checks targets by design
    /// (the ssh client of a login): those alerts, by rule and process,
    /// are expected, not false, and must come.
    #[serde(default)]
    expect_alerts: Vec<Expected>,
}

#[derive(Deserialize)]
struct Expected {
    rule: String,
    proc: String,
    why: String,
}

/// What one action raised: rule names with counts.
type Raised = BTreeMap<String, usize>;

struct Env {
    nonce: String,
    ip: Ipv4Addr,
    port: u16,
    py: PathBuf,
    /// The docker client aimed at the test's own dockerd.
    docker: String,
}

impl Env {
    /// Runs one of an action's scripts; it must succeed (the failure shows
    /// the script, its variables and its output).
    fn script(&self, body: &str, stage: &Path, work: &Path) {
        if body.trim().is_empty() {
            return;
        }
        common::run_ok(
            Command::new("bash")
                .args(["-e", "-c", body])
                .current_dir(work)
                .env("S", stage)
                .env("N", &self.nonce)
                .env("IP", self.ip.to_string())
                .env("PORT", self.port.to_string())
                .env("PY", &self.py)
                .env("LOADGEN", common::loadgen_bin())
                .env("DOCKER", &self.docker)
                .env("IMG", IMAGE),
        );
    }
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_nanos() as u64
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction]Z` to ns since the epoch.
fn rfc3339_ns(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[10] != b'T' || !s.ends_with('Z') {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (h, mi, se) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Days from the civil date (proleptic Gregorian).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let mut ns = ((days * 86_400 + h * 3600 + mi * 60 + se) as u64) * 1_000_000_000;
    let frac = &s[19..s.len() - 1];
    if let Some(f) = frac.strip_prefix('.') {
        let digits: String = f.chars().take(9).collect();
        let v: u64 = digits.parse().ok()?;
        ns += v * 10u64.pow(9 - digits.len() as u32);
    }
    Some(ns)
}

/// A non-loopback IPv4 address of this machine (the one the default route
/// leaves from).
fn local_ip() -> Ipv4Addr {
    let s = std::net::UdpSocket::bind("0.0.0.0:0").expect("udp");
    if s.connect("192.0.2.254:9").is_ok() {
        if let Ok(SocketAddr::V4(a)) = s.local_addr() {
            if !a.ip().is_unspecified() && !a.ip().is_loopback() {
                return *a.ip();
            }
        }
    }
    let out = Command::new("hostname")
        .arg("-I")
        .output()
        .expect("hostname -I");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .filter_map(|w| w.parse::<Ipv4Addr>().ok())
        .find(|a| !a.is_loopback())
        .expect("a non-loopback IPv4 address")
}

/// Accepts on every address the corpus connects to, answers "exit" and
/// closes, so reverse shells end by themselves.
fn listeners(stop: Arc<AtomicBool>) -> u16 {
    let v4 = TcpListener::bind((Ipv4Addr::UNSPECIFIED, 0)).expect("bind v4");
    let port = v4.local_addr().unwrap().port();
    let v6 = TcpListener::bind((Ipv6Addr::LOCALHOST, port)).ok();
    for l in std::iter::once(v4).chain(v6) {
        l.set_nonblocking(true).unwrap();
        let stop = stop.clone();
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                match l.accept() {
                    Ok((mut c, _)) => {
                        std::thread::spawn(move || {
                            std::thread::sleep(Duration::from_millis(150));
                            common::best_effort("answer a reverse shell", c.write_all(b"exit\n"));
                            std::thread::sleep(Duration::from_millis(50));
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
    }
    port
}

struct Run {
    attacks: Vec<Raised>,
    benign: Vec<Raised>,
    /// The outputs of the alerts benign work raised.
    false_alerts: Vec<Vec<String>>,
    /// Benign work's expected alerts (`expect_alerts`), by rule.
    expected: Vec<Raised>,
}

/// Runs the whole corpus under one daemon with `rules` (empty: the
/// embedded defaults), reading the test's dockerd for container metadata.
fn run_corpus(c: &Corpus, env: &Env, dk: &Dockerd, rules: Vec<PathBuf>) -> Run {
    let d = Daemon::start_with(DaemonOpts {
        rules,
        config: Some(dk.kestrel_config(true)),
        ..DaemonOpts::default()
    });
    let base = common::tempdir();
    // The staging directory lives on the root filesystem, beside /etc and
    // /usr, so that `mv` from it is a rename; removed on drop, a failed
    // action's panic included.
    let stage_root = tempfile::Builder::new()
        .prefix("kst-det-")
        .tempdir_in("/var/tmp")
        .expect("a staging directory in /var/tmp");
    // (attack, index, start, end, container alerts only)
    let mut windows: Vec<(bool, usize, u64, u64, bool)> = Vec::new();
    let mut step = |attack: bool, i: usize, a: &Action| {
        let stage = stage_root.path().join(&a.id);
        let work = base.path().join(&a.id);
        std::fs::create_dir_all(&stage).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        env.script(&a.setup, &stage, &work);
        // Gaps well beyond the slack below keep setup and cleanup events
        // out of the run's window.
        std::thread::sleep(Duration::from_millis(30));
        let t0 = now_ns();
        env.script(&a.run, &stage, &work);
        let t1 = now_ns();
        std::thread::sleep(Duration::from_millis(30));
        env.script(&a.cleanup, &stage, &work);
        // The run alone: setup and cleanup are the harness's scaffolding.
        windows.push((attack, i, t0, t1, attack && a.container));
        std::thread::sleep(Duration::from_millis(20));
    };
    for (i, a) in c.attacks.iter().enumerate() {
        step(true, i, a);
    }
    for (i, a) in c.benign.iter().enumerate() {
        step(false, i, a);
    }
    drop(stage_root);
    common::settled(&d, Duration::from_secs(60));
    std::thread::sleep(Duration::from_millis(500));
    let mut run = Run {
        attacks: vec![Raised::new(); c.attacks.len()],
        benign: vec![Raised::new(); c.benign.len()],
        false_alerts: vec![Vec::new(); c.benign.len()],
        expected: vec![Raised::new(); c.benign.len()],
    };
    // Event time and the harness's clock agree to well under this.
    let slack = 5_000_000;
    for a in d.alerts() {
        let Some(t) = a["time"].as_str().and_then(rfc3339_ns) else {
            continue;
        };
        let rule = common::rule_of(&a).to_string();
        let cid = a["output_fields"]["container.id"]
            .as_str()
            .unwrap_or("host");
        let in_container = !cid.is_empty() && cid != "host";
        for &(attack, i, t0, t1, container_only) in &windows {
            if t + slack >= t0 && t <= t1 + slack && (in_container || !container_only) {
                let proc = a["output_fields"]["proc.name"].as_str().unwrap_or("");
                let m = if attack {
                    &mut run.attacks[i]
                } else if c.benign[i]
                    .expect_alerts
                    .iter()
                    .any(|e| e.rule == rule && e.proc == proc)
                {
                    &mut run.expected[i]
                } else {
                    run.false_alerts[i].push(a["output"].as_str().unwrap_or("").to_string());
                    &mut run.benign[i]
                };
                *m.entry(rule.clone()).or_default() += 1;
            }
        }
    }
    d.stop();
    run
}

fn rules_text(r: &Raised) -> String {
    if r.is_empty() {
        return "—".to_string();
    }
    r.iter()
        .map(|(k, n)| {
            if *n > 1 {
                format!("{k} ×{n}")
            } else {
                k.clone()
            }
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A markdown table's head: the fixed columns, then one per run.
fn table_head(s: &mut String, cols: &[&str], runs: &[(&str, &Run)], suffix: &str) {
    s.push('|');
    for c in cols {
        write!(s, " {c} |").expect("write to a String");
    }
    for (name, _) in runs {
        write!(s, " {name}{suffix} |").expect("write to a String");
    }
    s.push_str("\n|");
    for _ in 0..cols.len() + runs.len() {
        s.push_str("---|");
    }
    s.push('\n');
}

fn report(c: &Corpus, runs: &[(&str, &Run)]) -> String {
    let mut s = String::new();
    // Recall per check.
    table_head(&mut s, &["check", "attacks"], runs, "");
    let mut totals = vec![0usize; runs.len()];
    for ch in &c.checks {
        let idx: Vec<usize> = (0..c.attacks.len())
            .filter(|&i| c.attacks[i].check == ch.id)
            .collect();
        write!(s, "| {} ({}) | {} |", ch.name, ch.id, idx.len()).expect("write to a String");
        for (k, (_, r)) in runs.iter().enumerate() {
            let hit = idx.iter().filter(|&&i| !r.attacks[i].is_empty()).count();
            totals[k] += hit;
            write!(s, " {hit}/{} |", idx.len()).expect("write to a String");
        }
        s.push('\n');
    }
    write!(s, "| **all** | {} |", c.attacks.len()).expect("write to a String");
    for t in &totals {
        write!(
            s,
            " **{t}/{} ({:.0} %)** |",
            c.attacks.len(),
            100.0 * *t as f64 / c.attacks.len() as f64
        )
        .expect("write to a String");
    }
    s.push_str("\n\n");
    // False alerts per benign workload.
    table_head(&mut s, &["benign workload"], runs, ": false alerts");
    for (i, b) in c.benign.iter().enumerate() {
        write!(s, "| {} ({}) |", b.desc, b.id).expect("write to a String");
        for (_, r) in runs {
            let n: usize = r.benign[i].values().sum();
            let expected = if r.expected[i].is_empty() {
                String::new()
            } else {
                format!(" (expected: {})", rules_text(&r.expected[i]))
            };
            write!(
                s,
                " {n} {}{expected} |",
                if n > 0 {
                    rules_text(&r.benign[i])
                } else {
                    String::new()
                }
            )
            .expect("write to a String");
        }
        s.push('\n');
    }
    s.push('\n');
    // Every attack.
    table_head(&mut s, &["attack", "check"], runs, "");
    for (i, a) in c.attacks.iter().enumerate() {
        write!(s, "| {}: {} | {} |", a.id, a.desc, a.check).expect("write to a String");
        for (_, r) in runs {
            write!(s, " {} |", rules_text(&r.attacks[i])).expect("write to a String");
        }
        s.push('\n');
    }
    s
}

#[test]
fn detection_corpus() {
    let _g = common::serial();
    common::require_root();
    let text = std::fs::read_to_string(common::repo().join("detection/corpus.yaml"))
        .expect("detection/corpus.yaml");
    let c: Corpus = serde_yaml::from_str(&text).expect("corpus parses");
    assert!(
        c.attacks.len() >= 60,
        "the attack corpus has {} actions",
        c.attacks.len()
    );
    for a in &c.attacks {
        assert!(
            c.checks.iter().any(|ch| ch.id == a.check),
            "{}: unknown check {}",
            a.id,
            a.check
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let port = listeners(stop.clone());
    let dk = Dockerd::start();
    let env = Env {
        nonce: common::nonce("det").replace(['-', '_'], ""),
        ip: local_ip(),
        port,
        py: common::python3(),
        docker: format!("{} --host unix://{}", docker_cli(), dk.sock.display()),
    };
    let defaults = run_corpus(&c, &env, &dk, Vec::new());
    let falco = std::env::var_os("KESTREL_DETECTION_FALCO").map(|_| {
        let r = common::repo().join("../shared/reference");
        run_corpus(
            &c,
            &env,
            &dk,
            vec![
                r.join("falco_rules.yaml"),
                r.join("falco-incubating_rules.yaml"),
                r.join("falco-sandbox_rules.yaml"),
            ],
        )
    });
    stop.store(true, Ordering::Relaxed);
    drop(dk);
    let mut runs: Vec<(&str, &Run)> = vec![("kestrel defaults", &defaults)];
    if let Some(f) = &falco {
        runs.push(("Falco's three files (in kestrel)", f));
    }
    let rep = report(&c, &runs);
    println!("{rep}");
    if let Some(p) = std::env::var_os("KESTREL_DETECTION_REPORT") {
        std::fs::write(p, &rep).expect("write report");
    }

    let mut failures = Vec::new();
    for (i, a) in c.attacks.iter().enumerate() {
        let caught = !defaults.attacks[i].is_empty();
        match (&a.known_miss, caught) {
            (None, false) => failures.push(format!("attack {} ({}) raised nothing", a.id, a.desc)),
            (Some(why), true) => failures.push(format!(
                "attack {} is marked known_miss ({why}) but raised {}: drop the mark",
                a.id,
                rules_text(&defaults.attacks[i])
            )),
            _ => {}
        }
    }
    for (i, b) in c.benign.iter().enumerate() {
        for e in &b.expect_alerts {
            if !defaults.expected[i].contains_key(&e.rule) {
                failures.push(format!(
                    "benign {}: the expected '{}' from {} ({}) did not come",
                    b.id, e.rule, e.proc, e.why
                ));
            }
        }
        if !defaults.benign[i].is_empty() {
            failures.push(format!(
                "benign {} ({}) raised {}:\n  {}",
                b.id,
                b.desc,
                rules_text(&defaults.benign[i]),
                defaults.false_alerts[i].join("\n  ")
            ));
        }
    }
    assert!(failures.is_empty(), "{}\n\n{rep}", failures.join("\n"));
}
