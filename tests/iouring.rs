//! io_uring requests on the real kernel (issue 13): a program that opens,
//! connects, renames ... only through io_uring (`kestrel-loadgen uring`,
//! built on the io-uring crate; none of these syscalls is made) must be
//! seen as the syscalls it stands for, by kestrel's default rules and by
//! Falco's own rules file, unchanged.
//!
//! Decoding is checked with a rules file of this test's own whose output
//! prints the decoded event (type, op, arguments, fd, process, thread) for
//! every io_uring request of a `kestrel-loadgen` process; the alert of the
//! default rule is checked beside it. Requests run inline, punted to io-wq
//! workers (IOSQE_ASYNC), submitted by an SQPOLL kernel thread, and as a
//! linked chain.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::process::Command;
use std::time::Duration;

use common::{Daemon, DaemonOpts};
use serde_json::Value;

/// How long a test waits for an alert it expects: generous, because a
/// loaded CI machine can hold an io_uring completion back for seconds; an
/// alert that arrives ends the wait at once.
const WAIT: Duration = Duration::from_secs(10);

const DECODE_RULES: &str = r#"
- rule: io_uring request decoded
  desc: every io_uring request of a kestrel-loadgen process, decoded
  condition: >
    evt.type in (openat, openat2, close, connect, accept4, sendto, recvfrom, renameat2,
    unlinkat, mkdirat, symlinkat, linkat, io_uring_op)
    and evt.is_io_uring = true and proc.name = kestrel-loadgen
  output: >
    uring type=%evt.type op=%evt.io_uring.op rawres=%evt.rawres args=[%evt.args]
    fdname=%fd.name pid=%proc.pid tid=%thread.tid name=%proc.name
  priority: NOTICE
- rule: io_uring ring set up
  desc: io_uring_setup by a kestrel-loadgen process
  condition: evt.type = io_uring_setup and proc.name = kestrel-loadgen
  output: >
    setup rawres=%evt.rawres entries=%evt.arg.entries flags=%evt.arg.flags pid=%proc.pid
  priority: NOTICE
"#;

/// Runs `kestrel-loadgen uring --tag TAG ARGS` (TAG: a nonce that shows
/// in `proc.cmdline`); its pid and the requests' results.
fn uring_tagged(tag: &str, args: &[&str]) -> (u64, Vec<i64>) {
    let out = Command::new(common::loadgen_bin())
        .args(["uring", "--tag", tag])
        .args(args)
        .output()
        .expect("run kestrel-loadgen uring");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "kestrel-loadgen uring {args:?}: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(stdout.trim()).expect("uring JSON");
    let pid = v["pid"].as_u64().expect("pid");
    let res = v["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r.as_i64().expect("result"))
        .collect();
    (pid, res)
}

fn uring(args: &[&str]) -> (u64, Vec<i64>) {
    uring_tagged("-", args)
}

fn pid_of(a: &Value) -> Option<u64> {
    a["output_fields"]["proc.pid"].as_u64()
}

/// The decode alerts of process `pid`, at least `n` of them (waits up to
/// [`WAIT`]), in arrival order.
fn decoded(d: &Daemon, pid: u64, n: usize) -> Vec<Value> {
    let v = d.wait_alerts(
        |a| common::rule_of(a) == "io_uring request decoded" && pid_of(a) == Some(pid),
        n,
        WAIT,
    );
    assert!(
        v.len() >= n,
        "pid {pid}: {} decoded io_uring events, want {n}: {v:#?}\nstderr:\n{}",
        v.len(),
        d.stderr()
    );
    v
}

fn out(a: &Value) -> &str {
    a["output"].as_str().unwrap_or("")
}

/// The decode alert of `pid` with `evt.type = ty`.
fn decoded_type(d: &Daemon, pid: u64, ty: &str) -> Value {
    d.wait_alert(
        |a| {
            common::rule_of(a) == "io_uring request decoded"
                && pid_of(a) == Some(pid)
                && a["output_fields"]["evt.type"] == ty
        },
        WAIT,
    )
    .unwrap_or_else(|| {
        panic!(
            "pid {pid}: no decoded {ty}; its alerts: {:#?}",
            d.alerts_where(|a| pid_of(a) == Some(pid))
        )
    })
}

/// The alert of `rule` whose output names `tag` (the default rules print
/// the command line, not the pid).
fn rule_alert(d: &Daemon, rule: &str, tag: &str) -> Value {
    rule_alert_of(d, rule, tag, None)
}

/// [`rule_alert`] for an event of type `ty` only (the test's own clean-up
/// syscalls can raise the same rule on the same path).
fn rule_alert_of(d: &Daemon, rule: &str, tag: &str, ty: Option<&str>) -> Value {
    d.wait_alert(
        |a| {
            common::rule_of(a) == rule
                && common::output_has(a, tag)
                && ty.is_none_or(|t| a["output_fields"]["evt.type"] == t)
        },
        WAIT,
    )
    .unwrap_or_else(|| {
        panic!(
            "{tag}: no '{rule}' alert; its alerts: {:#?}\nstderr:\n{}",
            d.alerts_where(|a| common::output_has(a, tag)),
            d.stderr()
        )
    })
}

fn assert_has(a: &Value, needle: &str) {
    assert!(out(a).contains(needle), "{needle:?} not in {:?}", out(a));
}

/// A loopback address of its own (127.x.y.z, not 127.0.0.1) so that
/// listening on a fixed suspicious port collides with nobody.
fn private_loopback() -> Ipv4Addr {
    let p = std::process::id();
    Ipv4Addr::new(
        127,
        90 + (p % 100) as u8,
        ((p >> 8) & 0xff) as u8,
        1 + (p & 0x7f) as u8,
    )
}

#[test]
fn io_uring_requests_are_the_syscalls_they_stand_for() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let rules = tmp.path().join("uring_decode.yaml");
    std::fs::write(&rules, DECODE_RULES).unwrap();
    // Two daemons see every action: one with the default rules, one with
    // the decoding rule (an event raises only its first matching rule, so
    // one daemon with both would hide the decoded form of what the default
    // rules catch).
    let dd = Daemon::start_with(DaemonOpts {
        rules: vec![common::default_rules()],
        ..Default::default()
    });
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules],
        ..Default::default()
    });
    let mut failures = Vec::new();
    let mut check = |what: &str, f: &dyn Fn()| {
        if let Err(e) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
            let msg = e
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{what}: {msg}"));
        }
    };

    // /etc/shadow read through io_uring: inline, punted, SQPOLL.
    for mode in [&[][..], &["--async"][..], &["--sqpoll"][..]] {
        check(&format!("shadow read {mode:?}"), &|| {
            let tag = common::nonce("shadow");
            let mut args = mode.to_vec();
            args.extend(["open", "/etc/shadow"]);
            let (pid, res) = uring_tagged(&tag, &args);
            assert!(res[0] >= 0, "open failed: {res:?}");
            let a = rule_alert(&dd, "Read Sensitive File", &tag);
            assert_eq!(a["output_fields"]["proc.name"], "kestrel-loadgen");
            assert_eq!(a["output_fields"]["fd.name"], "/etc/shadow");
            let e = decoded_type(&d, pid, "openat");
            assert_has(&e, "op=OPENAT");
            assert_has(&e, "name=/etc/shadow");
            assert_has(&e, "O_RDONLY");
            assert_has(&e, &format!("rawres={}", res[0]));
            let tid = e["output_fields"]["thread.tid"].as_u64().unwrap();
            if mode.is_empty() {
                assert_eq!(tid, pid, "inline: the submitter's thread");
            } else {
                // An io-wq worker or the SQPOLL thread: a thread of the
                // ring owner's process, never the owner's main thread.
                assert_ne!(tid, pid, "{mode:?}: completed in an io thread");
                let tgid = std::fs::read_to_string(format!("/proc/{tid}/status"))
                    .ok()
                    .and_then(|s| {
                        s.lines()
                            .find_map(|l| l.strip_prefix("Tgid:").map(|v| v.trim().to_string()))
                    });
                // The io thread may be gone already; when it is not, it
                // belongs to the owner.
                if let Some(t) = tgid {
                    assert_eq!(t, pid.to_string());
                }
            }
            if mode == ["--sqpoll"] {
                let s = d
                    .wait_alert(
                        |a| common::rule_of(a) == "io_uring ring set up" && pid_of(a) == Some(pid),
                        WAIT,
                    )
                    .expect("io_uring_setup event");
                let flags = s["output_fields"]["evt.arg.flags"].as_str().unwrap_or("");
                assert!(
                    flags.contains("IORING_SETUP_SQPOLL"),
                    "setup flags {flags:?} lack SQPOLL"
                );
            }
        });
    }

    // connect to a suspicious port through io_uring.
    check("connect to :4444", &|| {
        let ip = private_loopback();
        let l = TcpListener::bind(SocketAddr::from((ip, 4444))).expect("listen on 4444");
        let tag = common::nonce("connect");
        let (pid, res) = uring_tagged(&tag, &["connect", &format!("{ip}:4444")]);
        drop(l);
        assert_eq!(res[1], 0, "connect: {res:?}");
        let a = rule_alert(&dd, "Outbound Connection to Suspicious Port", &tag);
        assert_eq!(a["output_fields"]["fd.sport"], 4444);
        let e = decoded_type(&d, pid, "connect");
        assert_has(&e, "op=CONNECT");
        assert_has(&e, &format!("->{ip}:4444"));
    });

    // rename into a binary directory through io_uring.
    check("rename into /usr/local/bin", &|| {
        let n = common::nonce("uring");
        let src = tmp.path().join(&n);
        std::fs::write(&src, b"#!/bin/sh\n").unwrap();
        let dst = std::path::Path::new("/usr/local/bin").join(&n);
        let (pid, res) = uring(&["rename", src.to_str().unwrap(), dst.to_str().unwrap()]);
        common::best_effort("remove", std::fs::remove_file(&dst));
        assert_eq!(res[0], 0, "rename: {res:?}");
        let a = rule_alert_of(
            &dd,
            "Binary Dir Changed by Rename, Link or Unlink",
            &n,
            Some("renameat2"),
        );
        assert_eq!(a["output_fields"]["proc.name"], "kestrel-loadgen");
        assert_eq!(a["output_fields"]["evt.arg.newpath"], dst.to_str().unwrap());
        let e = decoded_type(&d, pid, "renameat2");
        assert_has(&e, "op=RENAMEAT");
        assert_has(&e, &format!("oldpath={}", src.display()));
    });

    // Every other decoded op.
    check("openat2", &|| {
        let (pid, res) = uring(&["openat2", "/etc/hostname"]);
        let e = decoded_type(&d, pid, "openat2");
        assert_has(&e, "op=OPENAT2");
        assert_has(&e, "name=/etc/hostname");
        assert_has(&e, &format!("rawres={}", res[0]));
        assert_eq!(e["output_fields"]["fd.name"], "/etc/hostname");
    });
    check("close after open", &|| {
        let (pid, res) = uring(&["close-after-open", "/etc/hostname"]);
        assert_eq!(res[1], 0);
        let e = decoded_type(&d, pid, "close");
        assert_has(&e, "op=CLOSE");
        assert_has(&e, &format!("fd={}", res[0]));
    });
    check("read (io_uring_op)", &|| {
        let (pid, res) = uring(&["read", "/etc/hostname"]);
        let e = decoded_type(&d, pid, "io_uring_op");
        assert_has(&e, "op=READ");
        assert_has(&e, &format!("rawres={}", res[1]));
        assert_eq!(e["output_fields"]["fd.name"], "/etc/hostname");
    });
    // Registered (fixed) files: the fd parameter is the index, the file
    // is the request's own, so fd.name and the tuple are right.
    check("read through a fixed file", &|| {
        let (pid, res) = uring(&["read-fixed", "/etc/hostname"]);
        assert!(res[1] >= 0, "{res:?}");
        let e = decoded_type(&d, pid, "io_uring_op");
        assert_has(&e, "op=READ");
        assert_has(&e, "fd=0");
        assert_eq!(e["output_fields"]["fd.name"], "/etc/hostname");
    });
    check("connect through a fixed file", &|| {
        let l = TcpListener::bind("127.0.0.1:0").expect("listen");
        let port = l.local_addr().unwrap().port();
        let (pid, res) = uring(&["connect-fixed", &format!("127.0.0.1:{port}")]);
        drop(l);
        assert_eq!(res[1], 0, "{res:?}");
        let e = decoded_type(&d, pid, "connect");
        assert_has(&e, "op=CONNECT");
        assert_has(&e, &format!("->127.0.0.1:{port}"));
    });
    check("accept", &|| {
        let (pid, res) = uring(&["accept"]);
        assert!(res[1] >= 0, "accept: {res:?}");
        let e = decoded_type(&d, pid, "accept4");
        assert_has(&e, "op=ACCEPT");
        assert_has(&e, &format!("127.0.0.1:{}", res[0]));
        assert_has(&e, &format!("rawres={}", res[1]));
    });
    check("send and recv", &|| {
        let (pid, res) = uring(&["send-recv"]);
        assert_eq!((res[1], res[3]), (13, 13), "{res:?}");
        let s = decoded_type(&d, pid, "sendto");
        assert_has(&s, "op=SEND");
        assert_has(&s, "data=kestrel-uring");
        let r = decoded_type(&d, pid, "recvfrom");
        assert_has(&r, "op=RECV");
        assert_has(&r, "data=kestrel-uring");
    });
    check("mkdir, symlink, link, unlink, rmdir", &|| {
        let base = tmp.path().join(common::nonce("ops"));
        let dir = base.to_str().unwrap().to_string();
        let (pid, _) = uring(&["mkdir", &dir]);
        assert_has(
            &decoded_type(&d, pid, "mkdirat"),
            &format!("path={dir} mode=0755"),
        );
        let file = format!("{dir}/f");
        std::fs::write(&file, b"x").unwrap();
        let sl = format!("{dir}/s");
        let (pid, res) = uring(&["symlink", "/etc/passwd", &sl]);
        assert_eq!(res[0], 0);
        let e = decoded_type(&d, pid, "symlinkat");
        assert_has(&e, "target=/etc/passwd");
        assert_has(&e, &format!("linkpath={sl}"));
        let hl = format!("{dir}/h");
        let (pid, res) = uring(&["link", &file, &hl]);
        assert_eq!(res[0], 0);
        let e = decoded_type(&d, pid, "linkat");
        assert_has(&e, &format!("oldpath={file}"));
        assert_has(&e, &format!("newpath={hl}"));
        for p in [&hl, &sl, &file] {
            let (pid, res) = uring(&["unlink", p]);
            assert_eq!(res[0], 0);
            assert_has(&decoded_type(&d, pid, "unlinkat"), &format!("name={p}"));
        }
        let (pid, res) = uring(&["rmdir", &dir]);
        assert_eq!(res[0], 0);
        assert_has(&decoded_type(&d, pid, "unlinkat"), "AT_REMOVEDIR");
    });
    check("linked chain", &|| {
        let dir = tmp.path().join(common::nonce("chain"));
        let file = dir.join("f");
        let (pid, res) = uring(&["chain", dir.to_str().unwrap(), file.to_str().unwrap()]);
        assert_eq!(res[0], 0, "{res:?}");
        assert!(res[1] >= 0, "{res:?}");
        let v = decoded(&d, pid, 2);
        assert_eq!(v[0]["output_fields"]["evt.type"], "mkdirat", "{v:#?}");
        assert_eq!(v[1]["output_fields"]["evt.type"], "openat", "{v:#?}");
        assert_eq!(v[1]["output_fields"]["fd.name"], file.to_str().unwrap());
    });
    check("punted rename into /usr/local/bin", &|| {
        let n = common::nonce("uring-async");
        let src = tmp.path().join(&n);
        std::fs::write(&src, b"x").unwrap();
        let dst = std::path::Path::new("/usr/local/bin").join(&n);
        let (_, res) = uring(&[
            "--async",
            "rename",
            src.to_str().unwrap(),
            dst.to_str().unwrap(),
        ]);
        common::best_effort("remove", std::fs::remove_file(&dst));
        assert_eq!(res[0], 0);
        let a = rule_alert_of(
            &dd,
            "Binary Dir Changed by Rename, Link or Unlink",
            &n,
            Some("renameat2"),
        );
        assert_eq!(a["output_fields"]["proc.name"], "kestrel-loadgen");
    });

    let stderr = d.stop();
    let stderr2 = dd.stop();
    assert!(
        failures.is_empty(),
        "{failures:#?}\nstderr:\n{stderr}\n{stderr2}"
    );
}

/// Falco's own stable rules, unmodified: the io_uring read of /etc/shadow
/// raises "Read sensitive file untrusted" like cat(1) would.
#[test]
fn falco_rules_see_an_io_uring_shadow_read() {
    let _g = common::serial();
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![common::falco_rules()],
        ..Default::default()
    });
    let tag = common::nonce("falco-shadow");
    let (_, res) = uring_tagged(&tag, &["open", "/etc/shadow"]);
    assert!(res[0] >= 0);
    let a = rule_alert(&d, "Read sensitive file untrusted", &tag);
    assert_eq!(a["output_fields"]["fd.name"], "/etc/shadow");
    assert_eq!(a["output_fields"]["proc.name"], "kestrel-loadgen");
    d.stop();
}
