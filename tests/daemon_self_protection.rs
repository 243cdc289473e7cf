//! Self-protection, for real (docs/RELIABILITY.md "Self-protection"):
//! another process ptraces the daemon, reads its memory, writes its BPF
//! maps with bpftool, tries to detach its probe and rewrites its syscall
//! table, and SIGTERMs it; each raises `kestrel internal: tamper attempt`
//! naming the culprit, counted in kestrel_tamper_events_total. Tampering
//! with a BPF map that is not kestrel's raises nothing; neither does the
//! daemon's own work, nor a SIGHUP (its reload control).

mod common;

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Daemon, DaemonOpts};
use serde_json::Value;

const TAMPER: &str = "kestrel internal: tamper attempt";

fn is_tamper(a: &Value) -> bool {
    common::rule_of(a) == TAMPER
}

fn kind_is(a: &Value, kind: &str) -> bool {
    is_tamper(a) && common::field(a, "kind") == kind
}

/// `bpftool ARGS`, its stdout; panics if it cannot run.
fn bpftool(args: &[&str]) -> (bool, String) {
    let out = Command::new("bpftool")
        .args(args)
        .stderr(Stdio::null())
        .output()
        .expect("run bpftool (scripts/install-deps.sh installs it)");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// `(kind, id)` of the BPF objects `pid` holds, from its fdinfo.
fn bpf_objects(pid: u32) -> BTreeSet<(&'static str, u32)> {
    let mut out = BTreeSet::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fdinfo"))
        .expect("fdinfo")
        .flatten()
    {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        for (key, kind) in [("map_id:", "map"), ("link_id:", "link")] {
            if let Some(v) = text.lines().find_map(|l| l.strip_prefix(key)) {
                if let Ok(id) = v.trim().parse() {
                    out.insert((kind, id));
                }
            }
        }
    }
    out
}

/// The id of the daemon's map called `name`.
fn map_id(pid: u32, name: &str) -> u32 {
    bpf_objects(pid)
        .into_iter()
        .filter(|(k, _)| *k == "map")
        .map(|(_, id)| id)
        .find(|id| {
            bpftool(&["map", "show", "id", &id.to_string()])
                .1
                .contains(&format!("name {name} "))
        })
        .unwrap_or_else(|| panic!("kestrel {pid} holds no map {name}"))
}

/// A python3 one-liner run with a nonce in its command line.
fn python(nonce: &str, code: &str) {
    let st = Command::new(common::python3())
        .args(["-c", code, nonce])
        .status()
        .expect("python3");
    assert!(st.success(), "python3 -c {code}: {st}");
}

#[test]
fn tampering_raises_alerts_naming_the_culprit() {
    common::require_root();
    let _g = common::serial();
    let tmp = common::tempdir();
    let d = Daemon::start_with(DaemonOpts::default());
    let pid = d.pid();
    let wait = Duration::from_secs(10);

    // (a) ptrace: PTRACE_SEIZE and a process_vm_readv (which fails:
    // the address is bogus; failed attempts are reported too).
    let n = common::nonce("ptrace");
    python(
        &n,
        &format!(
            "import ctypes,os\n\
             l=ctypes.CDLL(None,use_errno=True)\n\
             l.ptrace.argtypes=[ctypes.c_long,ctypes.c_long,ctypes.c_void_p,ctypes.c_void_p]\n\
             assert l.ptrace(0x4206,{pid},None,None)==0, os.strerror(ctypes.get_errno())\n\
             l.ptrace(17,{pid},None,None)\n\
             buf=ctypes.create_string_buffer(8)\n\
             class V(ctypes.Structure): _fields_=[('b',ctypes.c_void_p),('n',ctypes.c_size_t)]\n\
             loc=V(ctypes.addressof(buf),8); rem=V(8,8)\n\
             l.process_vm_readv({pid},ctypes.byref(loc),1,ctypes.byref(rem),1,0)\n"
        ),
    );
    let by_nonce = |kind: &'static str| {
        let n = n.clone();
        move |a: &Value| {
            kind_is(a, kind)
                && common::field(a, "proc.cmdline")
                    .as_str()
                    .is_some_and(|c| c.contains(&n))
        }
    };
    let a = d
        .wait_alert(by_nonce("ptrace"), wait)
        .unwrap_or_else(|| panic!("no ptrace alert; stderr:\n{}", d.stderr()));
    assert_eq!(a["priority"], "Critical", "{a}");
    assert_eq!(common::field(&a, "proc.name"), "python3", "{a}");
    assert_eq!(common::field(&a, "op"), "PTRACE_SEIZE", "{a}");
    assert_eq!(common::field(&a, "res"), 0, "{a}");
    let a = d
        .wait_alert(by_nonce("process_vm"), wait)
        .unwrap_or_else(|| panic!("no process_vm alert; stderr:\n{}", d.stderr()));
    assert_eq!(common::field(&a, "op"), "process_vm_readv", "{a}");
    assert!(common::field(&a, "res").as_i64().unwrap() < 0, "{a}");

    // (b) bpftool writes one of kestrel's maps (an unused slot of the
    // generic capture table: type 0 is never captured).
    let gdesc = map_id(pid, "kst_gdesc");
    let zeros: Vec<String> = (0..32).map(|_| "0".to_string()).collect();
    let mut args = vec!["map", "update", "id"];
    let gid = gdesc.to_string();
    args.push(&gid);
    args.extend(["key", "0", "0", "0", "0", "value"]);
    args.extend(zeros.iter().map(String::as_str));
    assert!(bpftool(&args).0, "bpftool map update");
    let a = d
        .wait_alert(
            |a| {
                kind_is(a, "bpf_map_write")
                    && common::field(a, "target")
                        .as_str()
                        .is_some_and(|t| t.contains(&format!("kst_gdesc (id {gdesc})")))
            },
            wait,
        )
        .unwrap_or_else(|| panic!("no map write alert; stderr:\n{}", d.stderr()));
    assert_eq!(a["priority"], "Critical", "{a}");
    assert_eq!(common::field(&a, "proc.name"), "bpftool", "{a}");
    assert_eq!(common::field(&a, "op"), "BPF_MAP_UPDATE_ELEM", "{a}");
    assert_eq!(
        common::field(&a, "proc.exepath")
            .as_str()
            .map(|p| p.ends_with("/bpftool")),
        Some(true),
        "{a}"
    );
    // bpftool took the map's fd by id first: a NOTICE.
    let a = d
        .wait_alert(|a| kind_is(a, "bpf_get_fd"), wait)
        .expect("bpf_get_fd alert");
    assert_eq!(a["priority"], "Notice", "{a}");

    // (c) detaching the sys_exit link: refused by kernels whose raw
    // tracepoint links have no detach (6.18 answers EOPNOTSUPP), and
    // reported either way with the result.
    let links: Vec<u32> = bpf_objects(pid)
        .into_iter()
        .filter(|(k, _)| *k == "link")
        .map(|(_, id)| id)
        .collect();
    assert!(!links.is_empty(), "no links held by kestrel");
    let (detached, _) = bpftool(&["link", "detach", "id", &links[0].to_string()]);
    let a = d
        .wait_alert(|a| kind_is(a, "bpf_link"), wait)
        .unwrap_or_else(|| panic!("no link alert; stderr:\n{}", d.stderr()));
    assert_eq!(common::field(&a, "op"), "BPF_LINK_DETACH", "{a}");
    if detached {
        assert_eq!(common::field(&a, "res"), 0, "{a}");
        assert!(
            d.wait_alert(|a| kind_is(a, "probe_detached"), wait)
                .is_some(),
            "the integrity check missed a detached link"
        );
    } else {
        assert!(common::field(&a, "res").as_i64().unwrap() < 0, "{a}");
    }

    // The syscall table rewritten (openat, 257, no longer traced): the
    // kernel reports the write, the integrity check writes the entry back
    // within a second or two, and openat alerts again.
    let sc = map_id(pid, "kst_sc_type").to_string();
    assert!(bpftool(&["map", "update", "id", &sc, "key", "1", "1", "0", "0", "value", "0", "0"]).0);
    assert!(
        d.wait_alert(|a| kind_is(a, "probe_altered"), wait)
            .is_some(),
        "the integrity check did not restore the syscall table; stderr:\n{}",
        d.stderr()
    );
    let (_, entry) = bpftool(&["map", "lookup", "id", &sc, "key", "1", "1", "0", "0"]);
    assert!(
        !entry.contains("\"value\": 0\n"),
        "openat not restored: {entry}"
    );
    let n = common::nonce("after-restore");
    let nf = tmp.path().join(&n);
    std::fs::write(&nf, b"").unwrap();
    common::run(common::quiet("cat").arg("/etc/shadow").arg(&nf));
    assert!(
        d.wait_alert(|a| common::output_has(a, &n), wait).is_some(),
        "no Read Sensitive File alert after the restore"
    );

    // Negative: a map of the test's own, a SIGHUP reload.
    let tamper_before = d.alerts_where(is_tamper).len();
    let pin = format!("/sys/fs/bpf/kst_selftest_{}", std::process::id());
    assert!(
        bpftool(&[
            "map", "create", &pin, "type", "hash", "key", "4", "value", "4", "entries", "4",
            "name", "kst_neg"
        ])
        .0
    );
    let ok = bpftool(&[
        "map", "update", "pinned", &pin, "key", "1", "0", "0", "0", "value", "1", "0", "0", "0",
    ])
    .0;
    std::fs::remove_file(&pin).expect("unpin the test's map");
    assert!(ok, "bpftool map update of the test's own map");
    d.signal(libc::SIGHUP);
    assert!(d.wait_stderr("reloaded", wait), "no reload");
    // Give a stray record time to arrive.
    std::thread::sleep(Duration::from_millis(1500));
    let extra: Vec<Value> = d.alerts_where(is_tamper).split_off(tamper_before);
    assert!(
        extra.is_empty(),
        "tamper alerts without tampering: {extra:#?}"
    );

    // (f) counted by kind.
    let m = d.metrics();
    for kind in [
        "ptrace",
        "process_vm",
        "bpf_map_write",
        "bpf_get_fd",
        "bpf_link",
        "probe_altered",
    ] {
        assert!(
            m.sum("kestrel_tamper_events_total", &[("kind", kind)]) >= 1.0,
            "kestrel_tamper_events_total{{kind={kind}}} is 0"
        );
    }
    assert_eq!(
        m.sum("kestrel_tamper_events_total", &[("kind", "signal")]),
        0.0
    );
    d.stop();
}

/// (d) SIGTERM from another process: the alert names the sender and is
/// written before the daemon exits (the record is in the ring before the
/// signal is delivered; shutdown drains the rings).
#[test]
fn sigterm_from_another_process_is_reported_before_exit() {
    common::require_root();
    let _g = common::serial();
    let mut d = Daemon::start();
    let n = common::nonce("term");
    let st = Command::new("sh")
        .args(["-c", &format!("kill -TERM {} # {n}", d.pid())])
        .status()
        .expect("sh");
    assert!(st.success());
    let st = d.terminate(Duration::from_secs(10));
    assert!(st.success(), "exit {st}");
    let a = d
        .alerts_where(|a| {
            kind_is(a, "signal")
                && common::field(a, "proc.cmdline")
                    .as_str()
                    .is_some_and(|c| c.contains(&n))
        })
        .pop()
        .unwrap_or_else(|| panic!("no SIGTERM alert; stderr:\n{}", d.stderr()));
    assert_eq!(a["priority"], "Warning", "{a}");
    assert_eq!(common::field(&a, "op"), "SIGTERM", "{a}");
    assert_eq!(common::field(&a, "proc.name"), "sh", "{a}");
}

/// `kestrel.self_protection=false`: no check, no alert.
#[test]
fn self_protection_can_be_turned_off() {
    common::require_root();
    let _g = common::serial();
    let d = Daemon::start_with(DaemonOpts {
        options: vec!["kestrel.self_protection=false".into()],
        ..Default::default()
    });
    let gdesc = map_id(d.pid(), "kst_gdesc").to_string();
    let mut args = vec![
        "map", "update", "id", &gdesc, "key", "0", "0", "0", "0", "value",
    ];
    args.extend(std::iter::repeat_n("0", 32));
    assert!(bpftool(&args).0);
    std::thread::sleep(Duration::from_millis(1500));
    assert!(d.alerts_where(is_tamper).is_empty());
    assert!(!bpf_objects(d.pid()).is_empty());
    d.stop();
}
