//! Cross-CPU attribution, for real: a process pinned to CPU 0 execs (the
//! exec lands in CPU 0's ring), moves itself to CPU 1 and opens
//! /etc/shadow (the open lands in CPU 1's ring, possibly read before the
//! exec). The alert must name the new image every time: proc.name,
//! proc.exepath and proc.cmdline of python3, never of taskset. A second
//! phase runs a small C program (built with clang) that migrates and opens
//! microseconds after its exec, which makes the worker of CPU 1 see the
//! open before CPU 0's worker has applied the exec far more often (the
//! deferral counter shows it).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Daemon, DaemonOpts};

/// Rounds of exec-then-migrate; `KESTREL_E2E_XCPU_ROUNDS` raises it for a
/// longer soak.
fn rounds() -> usize {
    std::env::var("KESTREL_E2E_XCPU_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50)
}

fn allowed_cpus() -> Vec<usize> {
    // SAFETY: a zeroed cpu_set_t is valid; sched_getaffinity fills it.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: pointer and size describe `set`.
    let r = unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    assert_eq!(r, 0, "sched_getaffinity");
    // SAFETY: CPU_ISSET reads within the set for ids below CPU_SETSIZE.
    (0..libc::CPU_SETSIZE as usize)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect()
}

/// One kind of exec-then-migrate program.
struct Phase {
    /// Tag in the nonces.
    tag: &'static str,
    /// The program taskset execs.
    prog: PathBuf,
    /// Arguments before the nonce.
    args: Vec<String>,
    rounds: usize,
}

/// Runs `rounds` times `taskset -c 0 PROG ARGS... NONCE`; returns the
/// misattributed alerts.
fn run_phase(d: &Daemon, taskset: &Path, p: &Phase) -> Vec<String> {
    let exepath = p.prog.canonicalize().unwrap();
    let name = p.prog.file_name().unwrap().to_str().unwrap().to_string();
    let mut nonces = Vec::new();
    for i in 0..p.rounds {
        let n = common::nonce(&format!("{}{i}", p.tag));
        common::run_ok(
            Command::new(taskset)
                .args(["-c", "0"])
                .arg(&p.prog)
                .args(&p.args)
                .arg(&n),
        );
        nonces.push(n);
    }
    let prefix = format!("ke2e-{}", p.tag);
    let got = d.wait_alerts(
        |a| common::rule_of(a) == "Read Sensitive File" && common::output_has(a, &prefix),
        p.rounds,
        Duration::from_secs(3),
    );
    let mut wrong = Vec::new();
    for n in &nonces {
        let mine: Vec<_> = got
            .iter()
            .filter(|a| {
                a["output_fields"]["proc.cmdline"]
                    .as_str()
                    .is_some_and(|c| c.ends_with(&format!(" {n}")))
            })
            .collect();
        if mine.len() != 1 {
            wrong.push(format!("{n}: {} alerts (expected 1)", mine.len()));
            continue;
        }
        let f = &mine[0]["output_fields"];
        let mut want_cmdline = name.clone();
        for a in &p.args {
            want_cmdline.push(' ');
            want_cmdline.push_str(a);
        }
        want_cmdline.push(' ');
        want_cmdline.push_str(n);
        if f["proc.name"] != name.as_str()
            || f["proc.exepath"] != exepath.to_str().unwrap()
            || f["proc.cmdline"] != want_cmdline.as_str()
            || f["fd.name"] != "/etc/shadow"
        {
            wrong.push(format!(
                "{n}: proc.name={} proc.exepath={} proc.cmdline={} fd.name={}",
                f["proc.name"], f["proc.exepath"], f["proc.cmdline"], f["fd.name"]
            ));
        }
    }
    wrong
}

/// A C program that moves itself to CPU 1 and opens /etc/shadow as its
/// first act: microseconds after its exec, where python3 takes tens of
/// milliseconds, so the exec record is much more likely to be unread.
fn fast_migrator(dir: &Path) -> PathBuf {
    let src = dir.join("migrate.c");
    std::fs::write(
        &src,
        "#define _GNU_SOURCE\n#include <sched.h>\n#include <fcntl.h>\n#include <unistd.h>\n\
         int main(void) { cpu_set_t s; CPU_ZERO(&s); CPU_SET(1, &s);\n\
         if (sched_setaffinity(0, sizeof s, &s)) return 2;\n\
         int fd = open(\"/etc/shadow\", O_RDONLY); if (fd < 0) return 1; close(fd); return 0; }\n",
    )
    .unwrap();
    let bin = dir.join("xcpu-migrate");
    // clang is a build dependency (scripts/install-deps.sh); static, so
    // no dynamic loader runs between the exec and the migration.
    let mut ok = false;
    for extra in [&["-static"][..], &[][..]] {
        let st = Command::new("clang")
            .args(["-O2", "-o"])
            .arg(&bin)
            .arg(&src)
            .args(extra)
            .stderr(std::process::Stdio::null())
            .status()
            .expect("clang (scripts/install-deps.sh installs it)");
        if st.success() {
            ok = true;
            break;
        }
    }
    assert!(ok, "clang could not build the migration helper");
    bin
}

#[test]
fn alerts_name_the_image_after_exec_across_cpus() {
    let _g = common::serial();
    let cpus = allowed_cpus();
    assert!(
        cpus.contains(&0) && cpus.contains(&1),
        "this test needs CPUs 0 and 1 (allowed: {cpus:?})"
    );
    let taskset = common::which("taskset").expect("taskset (util-linux) is needed");
    let tmp = common::tempdir();
    let rounds = rounds();
    let phases = [
        Phase {
            tag: "xcpu-py",
            prog: common::python3(),
            args: vec![
                "-c".into(),
                "import os,sys; os.sched_setaffinity(0, {1}); open('/etc/shadow').read()".into(),
            ],
            rounds,
        },
        Phase {
            tag: "xcpu-c",
            prog: fast_migrator(tmp.path()),
            args: vec![],
            rounds: rounds * 4,
        },
    ];
    // proc.exepath is not in the rule's output: append it.
    let d = Daemon::start_with(DaemonOpts {
        options: vec!["append_output[].extra_fields[]=proc.exepath".into()],
        ..Default::default()
    });
    let mut wrong = Vec::new();
    for p in &phases {
        wrong.extend(run_phase(&d, &taskset, p));
    }
    let m = d.metrics();
    let deferred = m.sum("kestrel_worker_events_deferred_total", &[]);
    let late = m.sum("kestrel_worker_late_attribution_total", &[]);
    eprintln!(
        "cross-CPU rounds: {} python3 + {} C, events deferred: {deferred}, late attributions: {late}",
        phases[0].rounds, phases[1].rounds
    );
    d.stop();
    assert!(
        wrong.is_empty(),
        "misattributed alerts:\n{}",
        wrong.join("\n")
    );
}

/// As a DaemonSet runs it: `HOST_ROOT` names the directory holding the
/// node's /etc (user names of host processes come from there, not from
/// kestrel's own image), and `FALCO_HOSTNAME` the node name alerts carry.
#[test]
fn host_root_and_falco_hostname_name_the_node() {
    let _g = common::serial();
    let root = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(root.path().join("etc")).unwrap();
    std::fs::write(
        root.path().join("etc/passwd"),
        "noderoot:x:0:0:node root:/root:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(root.path().join("etc/group"), "nodegroup:x:0:\n").unwrap();
    let node = common::nonce("node");
    let d = Daemon::start_with(DaemonOpts {
        env: vec![
            ("HOST_ROOT".into(), root.path().display().to_string()),
            ("FALCO_HOSTNAME".into(), node.clone()),
        ],
        options: vec![
            "append_output[].extra_fields[]=user.name".into(),
            "append_output[].extra_fields[]=proc.pid".into(),
        ],
        ..Default::default()
    });
    let child = std::process::Command::new("cat")
        .arg("/etc/shadow")
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("cat");
    let pid = child.id();
    let out = child.wait_with_output().expect("cat");
    assert!(out.status.success());
    let a = d
        .wait_alert(
            |a| common::rule_of(a) == "Read Sensitive File" && common::field(a, "proc.pid") == pid,
            Duration::from_secs(10),
        )
        .unwrap_or_else(|| panic!("no alert; {:?}\n{}", d.alerts(), d.stderr()));
    assert_eq!(common::field(&a, "user.name"), "noderoot", "{a}");
    assert_eq!(a["hostname"], node.as_str(), "{a}");
    d.stop();
}
