//! Hostile input reaching the outputs (issue 14, item 3): a real exec of
//! a file whose name, argv and environment hold bytes that are not UTF-8
//! (`ff`, and `c3 28`, a lead byte followed by a non-continuation), seen
//! by the real probe through a real daemon.
//!
//! The bytes are kept as they are for matching (a rule matches on the
//! valid parts around them) and every invalid byte is written `\xNN` in
//! text and JSON outputs, one escape per byte, the valid neighbours kept
//! (docs/RELIABILITY.md, "Bytes that are not UTF-8").

mod common;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;
use std::time::Duration;

use common::{Daemon, DaemonOpts};

/// The executable's file name: `kst8`, `ff`, `c3 28` (`\xc3(`), `x`.
const NAME: &[u8] = b"kst8\xff\xc3(x";
/// Its rendering in outputs.
const NAME_TEXT: &str = r"kst8\xff\xc3(x";

fn rules(dir: &std::path::Path) -> std::path::PathBuf {
    let p = dir.join("hostile.yaml");
    std::fs::write(
        &p,
        r#"- rule: H6 hostile exec
  desc: an exec whose name, argv and environment are not UTF-8
  condition: evt.type = execve and proc.name startswith "kst8" and proc.exepath endswith "(x" and proc.cmdline contains "(x arg"
  output: "hostile name=%proc.name exepath=%proc.exepath cmd=%proc.cmdline env=%proc.env[KST_BAD] quote=%proc.args"
  priority: WARNING
- rule: H6 long exec
  desc: an exec with oversized argv, or from a directory deeper than the path cap
  condition: evt.type = execve and proc.name in (kst9args, kst9long)
  output: "long args=%proc.args exepath=%proc.exepath cwd=%proc.cwd"
  priority: WARNING
- rule: H6 long io_uring open
  desc: an io_uring open of a path longer than the io_uring path cap
  condition: evt.type = openat and evt.is_io_uring = true and proc.name = kestrel-loadgen and proc.cmdline contains h6uring
  output: "uring open cmd=%proc.cmdline name=%evt.arg.name"
  priority: WARNING
"#,
    )
    .expect("write the rules file");
    p
}

/// Copies a real binary to `dir/NAME` and runs it with hostile argv and
/// environment; returns the nonce in its argv and the exe path's text.
fn hostile_exec(dir: &std::path::Path) -> (String, String) {
    let exe = dir.join(OsStr::from_bytes(NAME));
    std::fs::copy("/bin/true", &exe).expect("copy /bin/true");
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755)).unwrap();
    let nonce = common::nonce("h6");
    let st = Command::new(&exe)
        .arg(OsStr::from_bytes(b"arg\xff"))
        .arg(OsStr::from_bytes(b"\xc3(\"q\\"))
        .arg(&nonce)
        // The probe keeps 2,048 bytes of environment: start from an empty
        // one so that the variable is not past the cap.
        .env_clear()
        .env("KST_BAD", OsStr::from_bytes(b"v\xffw\xc3("))
        .status()
        .expect("run the hostile executable");
    assert!(st.success(), "{st}");
    let dir_text = dir.to_str().expect("utf-8 temp dir");
    (nonce, format!("{dir_text}/{NAME_TEXT}"))
}

#[test]
fn invalid_utf8_in_name_argv_env_is_escaped_per_byte_in_json_and_text() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let r = rules(tmp.path());

    // JSON output.
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![r.clone()],
        ..Default::default()
    });
    let (nonce, exepath) = hostile_exec(tmp.path());
    let a = d
        .wait_alert(|a| common::output_has(a, &nonce), Duration::from_secs(5))
        .unwrap_or_else(|| {
            panic!(
                "no alert for the hostile exec; alerts: {:?}\nstderr:\n{}",
                d.alerts(),
                d.stderr()
            )
        });
    let cmd = format!(r#"{NAME_TEXT} arg\xff \xc3("q\ {nonce}"#);
    let args = format!(r#"arg\xff \xc3("q\ {nonce}"#);
    let want_output = format!(
        "hostile name={NAME_TEXT} exepath={exepath} cmd={cmd} env=v\\xffw\\xc3( quote={args}"
    );
    // `<time>: Warning <message>`, then the default append_output
    // (container fields).
    let output = a["output"].as_str().unwrap();
    let (_, message) = output.split_once(": Warning ").expect("text line shape");
    assert!(
        message.starts_with(&format!("{want_output} container_id=host")),
        "{a}"
    );
    let f = &a["output_fields"];
    assert_eq!(f["proc.name"], NAME_TEXT, "{a}");
    assert_eq!(f["proc.exepath"], exepath.as_str(), "{a}");
    assert_eq!(f["proc.cmdline"], cmd.as_str(), "{a}");
    assert_eq!(f["proc.env[KST_BAD]"], r"v\xffw\xc3(", "{a}");
    // The exact JSON text: the backslash of each `\xNN` escaped once, the
    // quote and backslash of the argument escaped, no U+FFFD anywhere.
    let raw = d
        .raw_alerts()
        .into_iter()
        .find(|l| l.contains(&nonce))
        .expect("the raw alert line");
    assert!(
        raw.contains(r#""proc.name":"kst8\\xff\\xc3(x""#),
        "raw JSON: {raw}"
    );
    assert!(
        raw.contains(&format!(
            r#""proc.cmdline":"kst8\\xff\\xc3(x arg\\xff \\xc3(\"q\\ {nonce}""#
        )),
        "raw JSON: {raw}"
    );
    assert!(
        raw.contains(r#""proc.env[KST_BAD]":"v\\xffw\\xc3(""#),
        "raw JSON: {raw}"
    );
    assert!(!raw.contains('\u{fffd}'), "raw JSON: {raw}");
    d.stop();

    // Text output: the same rendering, one line.
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![r],
        text_output: true,
        ..Default::default()
    });
    let (nonce, exepath) = hostile_exec(tmp.path());
    let want = format!(
        "Warning hostile name={NAME_TEXT} exepath={exepath} cmd={NAME_TEXT} arg\\xff \\xc3(\"q\\ {nonce} env=v\\xffw\\xc3( quote=arg\\xff \\xc3(\"q\\ {nonce}"
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let line = loop {
        if let Some(l) = d.other_stdout().into_iter().find(|l| l.contains(&nonce)) {
            break l;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no text alert; stdout: {:?}\nstderr:\n{}",
            d.other_stdout(),
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(
        line.contains(&format!(": {want} container_id=host")),
        "text line:\n{line}\nwant suffix:\n{want}"
    );
    d.stop();
}

/// argv as the probe keeps it: the NUL-joined list cut to 4,096 bytes, its
/// last three bytes replaced by "...", then split into `argv[0]` and the
/// arguments joined by spaces (`proc.args`).
fn cut_args(argv: &[String]) -> String {
    let mut all = argv.join("\0").into_bytes();
    assert!(all.len() > 4096);
    all.truncate(4096);
    all[4093..].copy_from_slice(b"...");
    let text = String::from_utf8(all).unwrap();
    let mut it = text.split('\0');
    it.next();
    it.collect::<Vec<_>>().join(" ")
}

#[test]
fn oversized_argv_and_paths_are_cut_with_a_visible_mark_and_counted() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let r = rules(tmp.path());
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![r],
        ..Default::default()
    });
    let truncated = |d: &Daemon| {
        d.metrics()
            .sum("kestrel_worker_events_truncated_total", &[])
    };
    let before = truncated(&d);

    // 2,000 arguments of 16 bytes: 34 KB of argv, the probe keeps 4 KB.
    let exe = tmp.path().join("kst9args");
    std::fs::copy("/bin/true", &exe).expect("copy /bin/true");
    let nonce = common::nonce("h6");
    let mut argv = vec![exe.to_str().unwrap().to_string(), nonce.clone()];
    argv.extend((0..2000).map(|i| format!("arg-{i:04}-xxxxxxx")));
    let st = Command::new(&exe)
        .args(&argv[1..])
        .env_clear()
        .status()
        .expect("run with 2,000 arguments");
    assert!(st.success());
    let a = d
        .wait_alert(
            |a| common::output_has(a, &format!("long args={nonce} ")),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no alert for the long argv; stderr:\n{}", d.stderr()));
    let args = a["output_fields"]["proc.args"].as_str().unwrap();
    assert_eq!(args, cut_args(&argv), "{a}");
    assert!(args.ends_with("..."), "{args}");

    // A binary 20 directories of 250 bytes deep (> 5,000 bytes): run
    // from there by a relative path.
    let script = tmp.path().join("deep.py");
    std::fs::write(
        &script,
        "import os, shutil, subprocess, sys\n\
         os.chdir(sys.argv[1])\n\
         for _ in range(20):\n    os.mkdir('d' * 250)\n    os.chdir('d' * 250)\n\
         shutil.copy('/bin/true', 'kst9long')\n\
         subprocess.run(['./kst9long', sys.argv[2]], env={}, check=True)\n",
    )
    .unwrap();
    let nonce2 = common::nonce("h6");
    common::run_ok(
        common::quiet(common::python3())
            .arg(&script)
            .arg(tmp.path())
            .arg(&nonce2),
    );
    let a = d
        .wait_alert(
            |a| common::output_has(a, &format!("long args={nonce2} ")),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no alert for the deep exec; stderr:\n{}", d.stderr()));
    // The walk keeps the whole components that fit in 4,096 bytes (16 of
    // them besides the file name) and "..." stands for the head.
    let tail = format!("/{}", "d".repeat(250)).repeat(16);
    let f = &a["output_fields"];
    assert_eq!(
        f["proc.exepath"],
        format!("...{tail}/kst9long").as_str(),
        "{a}"
    );
    assert_eq!(f["proc.cwd"], format!("...{tail}").as_str(), "{a}");
    // io_uring keeps 1,024 bytes of a path (with the NUL): 1,020 of them
    // and "...".
    let tag = common::nonce("h6uring");
    let long = format!("{}/{}", tmp.path().display(), "u".repeat(1500));
    let out = Command::new(common::loadgen_bin())
        .args(["uring", "--tag", &tag, "open", &long])
        .output()
        .expect("run kestrel-loadgen uring");
    assert!(out.status.success(), "{out:?}");
    let a = d
        .wait_alert(
            |a| common::output_has(a, "uring open cmd=") && common::output_has(a, &tag),
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no alert for the io_uring open; stderr:\n{}", d.stderr()));
    let want = format!("{}...", &long[..1020]);
    assert_eq!(a["output_fields"]["evt.arg.name"], want.as_str(), "{a}");
    let after = d.wait_metrics(
        |m| m.sum("kestrel_worker_events_truncated_total", &[]) >= before + 3.0,
        Duration::from_secs(5),
    );
    assert!(after.sum("kestrel_worker_events_truncated_total", &[]) >= before + 3.0);
    d.stop();
}
