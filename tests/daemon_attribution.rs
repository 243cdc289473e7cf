//! Cross-CPU attribution, for real: a process pinned to CPU 0 execs (the
//! exec lands in CPU 0's ring), moves itself to CPU 1 and opens
//! /etc/shadow (the open lands in CPU 1's ring, possibly read before the
//! exec). The alert must name the new image every time: proc.name,
//! proc.exepath and proc.cmdline of python3, never of taskset.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, DaemonOpts};

const ROUNDS: usize = 50;

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

#[test]
fn alerts_name_the_image_after_exec_across_cpus() {
    let _g = common::serial();
    let cpus = allowed_cpus();
    assert!(
        cpus.contains(&0) && cpus.contains(&1),
        "this test needs CPUs 0 and 1 (allowed: {cpus:?})"
    );
    let taskset = common::which("taskset").expect("taskset (util-linux) is needed");
    let py = common::python3();
    let exepath = py.canonicalize().unwrap();
    let script = "import os,sys; os.sched_setaffinity(0, {1}); open('/etc/shadow').read()";
    // proc.exepath is not in the rule's output: append it.
    let d = Daemon::start_with(DaemonOpts {
        options: vec!["append_output[].extra_fields[]=proc.exepath".into()],
        ..Default::default()
    });
    let mut nonces = Vec::new();
    for i in 0..ROUNDS {
        let n = common::nonce(&format!("xcpu{i}"));
        common::run_ok(
            Command::new(&taskset)
                .args(["-c", "0"])
                .arg(&py)
                .args(["-c", script, &n]),
        );
        nonces.push(n);
    }
    let prefix = "ke2e-xcpu";
    let got = d.wait_alerts(
        |a| common::rule_of(a) == "Read Sensitive File" && common::output_has(a, prefix),
        ROUNDS,
        Duration::from_secs(3),
    );
    let py_name = Path::new(&py)
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
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
        let want_cmdline = format!("{py_name} -c {script} {n}");
        if f["proc.name"] != py_name.as_str()
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
    let m = d.metrics();
    let deferred = m.sum("kestrel_worker_events_deferred_total", &[]);
    let late = m.sum("kestrel_worker_late_attribution_total", &[]);
    eprintln!("cross-CPU rounds: {ROUNDS}, events deferred: {deferred}, late attributions: {late}");
    d.stop();
    assert!(
        wrong.is_empty(),
        "misattributed alerts:\n{}",
        wrong.join("\n")
    );
}
