//! Falco 0.44 fields added to the catalogue, filled for real: the daemon
//! captures real syscalls (mkdirat, renameat through a directory fd, a TCP
//! connect to a name from /etc/hosts) and the alerts show the fields in
//! the text output line and in the JSON `output_fields`.

mod common;

use std::net::TcpListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{Daemon, DaemonOpts};
use serde_json::Value;

/// `field=value` out of an alert's text output (values have no spaces).
fn field<'a>(a: &'a Value, key: &str) -> &'a str {
    let out = a["output"].as_str().expect("output text");
    let pat = format!(" {key}=");
    let start = out
        .find(&pat)
        .unwrap_or_else(|| panic!("{key} not in {out}"))
        + pat.len();
    out[start..].split(' ').next().unwrap_or("")
}

/// A TCP port on 127.0.0.1 that /etc/services names (the first free one
/// above 1024), bound, with its service name.
fn service_listener() -> Option<(TcpListener, u16, String)> {
    let text = std::fs::read_to_string("/etc/services").ok()?;
    let mut seen = std::collections::HashSet::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut f = line.split_whitespace();
        let (Some(name), Some(pp)) = (f.next(), f.next()) else {
            continue;
        };
        let Some((port, "tcp")) = pp.split_once('/') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        // The first name for a port is the one kestrel shows.
        if !seen.insert(port) || port <= 1024 {
            continue;
        }
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            return Some((l, port, name.to_string()));
        }
    }
    None
}

/// Whether the alert's text output starts with `time` (evt.outputtime is
/// the time the output line starts with).
fn out_starts_with_time(a: &Value, time: &str) -> bool {
    a["output"].as_str().is_some_and(|o| o.starts_with(time))
}

/// The passwd home directory and shell of uid 0, as the test reads them.
fn root_account() -> (String, String) {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let line = passwd
        .lines()
        .find(|l| l.split(':').nth(2) == Some("0"))
        .expect("uid 0 in /etc/passwd");
    let f: Vec<&str> = line.split(':').collect();
    (f[5].to_string(), f[6].to_string())
}

#[test]
fn new_fields_are_filled_from_real_syscalls() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let dir = tmp.path().to_str().expect("utf-8 temp path").to_string();
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a local port");
    let port = listener.local_addr().unwrap().port();
    let (svc, svc_port, svc_name) =
        service_listener().expect("a free TCP port named in /etc/services");
    // A syslog socket of our own: Falco's test is "/dev/log" in the name.
    std::fs::create_dir(tmp.path().join("dev")).unwrap();
    let log = std::os::unix::net::UnixDatagram::bind(tmp.path().join("dev/log"))
        .expect("bind a dev/log socket");
    let rules = tmp.path().join("fields.yaml");
    std::fs::write(
        &rules,
        format!(
            r#"- rule: H3 mkdirat fields
  desc: t
  condition: evt.type = mkdirat and fs.path.name startswith "{dir}/" and proc.aenv contains "PATH="
  output: "mkdirat name=%fs.path.name raw=%fs.path.nameraw abs=%evt.abspath home=%user.homedir shell=%user.shell ppdur=%proc.ppid.duration sidl=%proc.is_sid_leader pidts=%proc.pid.ts main=%thread.ismain src=%evt.source is=%evt.type.is.mkdirat isnot=%evt.type.is.openat cnt=%evt.count err=%evt.count.error nargs=%proc.cmdnargs pgid=%proc.pgid pgl=%proc.is_pgid_leader pgname=%proc.vpgid.name dts=%evt.datetime.s rel=%evt.reltime rels=%evt.reltime.s relns=%evt.reltime.ns rs=%evt.rawtime.s rns=%evt.rawtime.ns async=%evt.is_async atype=%evt.asynctype otime=%evt.outputtime exits=%evt.count.exit lat=%evt.latency.s cla=%proc.cmdlenargs aargs1=%proc.aargs[1] lsh=%proc.loginshellid pvpid=%proc.pvpid ppts=%proc.ppid.ts sidexe=%proc.sid.exe pgexe=%proc.pgid.exe pgexepath=%proc.vpgid.exepath nsts=%proc.pidns_init_start_ts lower=%proc.is_exe_lower_layer rc=%k8s.rc.name aenvpath=%proc.aenv[PATH] exeline=%proc.exeline"
  priority: WARNING
- rule: H3 failed unlinkat fields
  desc: t
  condition: evt.type = unlinkat and evt.arg.name endswith nosuchfile-h3 and evt.failed = true
  output: "unlinkat cerr=%evt.count.error cfile=%evt.count.error.file cnet=%evt.count.error.net cother=%evt.count.error.other name=%fs.path.name abs=%evt.abspath info=%evt.info"
  priority: WARNING
- rule: H3 accept fields
  desc: t
  condition: evt.type in (accept, accept4) and fd.sport = {port}
  output: "accept server=%fd.is_server"
  priority: WARNING
- rule: H3 link fields
  desc: t
  condition: evt.type in (symlinkat, linkat) and fs.path.source startswith "{dir}/"
  output: "link type=%evt.type src=%fs.path.source dst=%fs.path.target dstraw=%fs.path.targetraw"
  priority: WARNING
- rule: H3 fchmod fields
  desc: t
  condition: evt.type = fchmod and fs.path.name startswith "{dir}/"
  output: "fchmod name=%fs.path.name raw=%fs.path.nameraw"
  priority: WARNING
- rule: H3 proto fields
  desc: t
  condition: evt.type = connect and fd.sport = {svc_port}
  output: "proto sproto=%fd.sproto rproto=%fd.rproto"
  priority: WARNING
- rule: H3 syslog fields
  desc: t
  condition: evt.type in (sendto, sendmsg) and evt.is_syslog = true and fd.name contains "{dir}/dev/log"
  output: "syslog wait=%evt.is_wait name=%fd.name"
  priority: WARNING
- rule: H3 rename fields
  desc: t
  condition: evt.type in (rename, renameat, renameat2) and fs.path.source startswith "{dir}/"
  output: "rename src=%fs.path.source srcraw=%fs.path.sourceraw dst=%fs.path.target dstraw=%fs.path.targetraw asrc=%evt.abspath.src adst=%evt.abspath.dst"
  priority: WARNING
- rule: H3 connect fields
  desc: t
  condition: evt.type = connect and fd.sip.name = localhost and fd.sport = {port}
  output: "connect sys=%evt.is_syslog wait=%evt.is_wait cfile=%evt.count.error.file cnet=%evt.count.error.net sipname=%fd.sip.name ripname=%fd.rip.name cipname=%fd.cip.name server=%fd.is_server uid=%fd.uid cname=%fd.containername"
  priority: WARNING
"#
        ),
    )
    .unwrap();
    let script = tmp.path().join("act.py");
    std::fs::write(
        &script,
        "import os, socket, sys\n\
         d = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)\n\
         os.mkdir('made', dir_fd=d)\n\
         os.rename('made', 'moved', src_dir_fd=d, dst_dir_fd=d)\n\
         os.symlink('moved', 'sl', dir_fd=d)\n\
         os.close(os.open('file1', os.O_CREAT | os.O_WRONLY, 0o644, dir_fd=d))\n\
         os.link('file1', 'hl', src_dir_fd=d, dst_dir_fd=d)\n\
         f = os.open(sys.argv[1] + '/file1', os.O_RDONLY)\n\
         os.fchmod(f, 0o600)\n\
         try:\n    os.unlink('nosuchfile-h3', dir_fd=d)\n\
         except FileNotFoundError:\n    pass\n\
         s = socket.socket()\n\
         s.connect(('127.0.0.1', int(sys.argv[2])))\n\
         s.close()\n\
         u = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
         u.connect(sys.argv[1] + '/dev/log')\n\
         u.send(b'<14>kestrel test')\n\
         u.close()\n\
         s = socket.socket()\n\
         s.connect(('127.0.0.1', int(sys.argv[3])))\n\
         s.close()\n",
    )
    .unwrap();
    let started = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let d = Daemon::start_with(DaemonOpts {
        rules: vec![rules],
        ..Default::default()
    });
    let before = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    // Run from / so that only the directory fd can make the paths absolute.
    let server = std::thread::spawn(move || listener.accept().map(|_| ()));
    common::run_ok(
        common::quiet(common::python3())
            .current_dir("/")
            .arg(&script)
            .arg(&dir)
            .arg(port.to_string())
            .arg(svc_port.to_string()),
    );
    let wait = |rule: &str| {
        d.wait_alert(|a| a["rule"] == rule, Duration::from_secs(5))
            .unwrap_or_else(|| panic!("no '{rule}' alert; stderr:\n{}", d.stderr()))
    };

    let a = wait("H3 mkdirat fields");
    let (home, shell) = root_account();
    assert_eq!(field(&a, "name"), format!("{dir}/made"));
    assert_eq!(field(&a, "raw"), "made");
    assert_eq!(field(&a, "abs"), format!("{dir}/made"));
    assert_eq!(field(&a, "home"), home);
    assert_eq!(field(&a, "shell"), shell);
    let ppdur: u64 = field(&a, "ppdur").parse().expect("proc.ppid.duration");
    assert!(ppdur > 0);
    // Run by the test process: neither a session nor a group leader.
    assert_eq!(field(&a, "sidl"), "false");
    assert_eq!(field(&a, "pgl"), "false");
    let pidts: u64 = field(&a, "pidts").parse().expect("proc.pid.ts");
    assert!(
        pidts >= before - 1_000_000_000 && pidts <= before + 30_000_000_000,
        "proc.pid.ts {pidts} vs start {before}"
    );
    assert_eq!(field(&a, "main"), "true");
    assert_eq!(field(&a, "src"), "syscall");
    assert_eq!(field(&a, "is"), "1");
    assert_eq!(field(&a, "isnot"), "0");
    assert_eq!(field(&a, "cnt"), "1");
    assert_eq!(field(&a, "err"), "0");
    assert_eq!(field(&a, "nargs"), "4");
    let pgid: u32 = field(&a, "pgid").parse().expect("proc.pgid");
    // SAFETY: getpgid(0) has no preconditions.
    let ours = unsafe { libc::getpgid(0) };
    assert_eq!(pgid as i32, ours);
    assert_ne!(field(&a, "pgname"), "<NA>");
    assert_eq!(field(&a, "dts").len(), 10, "date part of evt.datetime.s");
    let rs: u64 = field(&a, "rs").parse().expect("evt.rawtime.s");
    let rns: u64 = field(&a, "rns").parse().expect("evt.rawtime.ns");
    assert!(rns < 1_000_000_000);
    let ts = rs * 1_000_000_000 + rns;
    assert!(ts >= pidts && ts < before + 30_000_000_000);
    // evt.reltime: since the daemon started, before this test's actions.
    let rel: u64 = field(&a, "rel").parse().expect("evt.reltime");
    let rels: u64 = field(&a, "rels").parse().expect("evt.reltime.s");
    let relns: u64 = field(&a, "relns").parse().expect("evt.reltime.ns");
    assert_eq!(rels * 1_000_000_000 + relns, rel);
    assert!(rel > 0 && rel < ts - started, "evt.reltime {rel}");
    assert_eq!(field(&a, "async"), "false");
    assert_eq!(field(&a, "atype"), "<NA>");
    assert_eq!(field(&a, "otime").len(), "HH:MM:SS.nnnnnnnnn".len());
    assert!(out_starts_with_time(&a, field(&a, "otime")));
    assert_eq!(field(&a, "exits"), "1");
    assert_eq!(field(&a, "lat"), "0");
    // The arguments: script, dir, port (lengths without separators).
    let cla: usize = field(&a, "cla").parse().expect("proc.cmdlenargs");
    assert_eq!(
        cla,
        script.display().to_string().len()
            + dir.len()
            + port.to_string().len()
            + svc_port.to_string().len()
    );
    // proc.aargs[1]: the parent's (this test binary's) arguments.
    let own_args = std::env::args().skip(1).collect::<Vec<_>>().join(" ");
    if !own_args.contains(' ') {
        assert_eq!(field(&a, "aargs1"), own_args);
    }
    let lsh: i64 = field(&a, "lsh").parse().expect("proc.loginshellid");
    assert!(lsh > 0);
    assert_eq!(field(&a, "pvpid"), std::process::id().to_string());
    let ppts: u64 = field(&a, "ppts").parse().expect("proc.ppid.ts");
    assert!(ppts < pidts);
    // proc.sid.exe: missing when the session id is 0 (the test runs in
    // init's session, as under a CI runner started without setsid).
    // SAFETY: getsid(0) reads the calling process's session id.
    if unsafe { libc::getsid(0) } == 0 {
        assert_eq!(field(&a, "sidexe"), "<NA>");
    } else {
        assert_ne!(field(&a, "sidexe"), "<NA>");
    }
    assert_ne!(field(&a, "pgexe"), "<NA>");
    assert!(field(&a, "pgexepath").starts_with('/'), "{}", a["output"]);
    let nsts: u64 = field(&a, "nsts").parse().expect("proc.pidns_init_start_ts");
    assert!(nsts < ppts, "the host's init started before the test");
    assert_eq!(field(&a, "lower"), "false");
    // proc.aenv[PATH]: from the parent (this test process) up.
    let path = std::env::var("PATH").unwrap_or_default();
    if !path.is_empty() && !path.contains(' ') {
        assert_eq!(field(&a, "aenvpath"), path);
    }
    // Deprecated in the container plugin 0.7: loads, never has a value.
    assert_eq!(field(&a, "rc"), "<NA>");
    let out = a["output"].as_str().unwrap();
    // proc.exeline: argv[0] as passed, then the arguments.
    assert!(
        out.contains(&format!(
            " exeline={} {} {dir} {port} {svc_port} ",
            common::python3().display(),
            script.display()
        )),
        "proc.exeline: {out}"
    );
    // JSON: the same values under output_fields.
    let of = &a["output_fields"];
    assert_eq!(of["fs.path.name"], format!("{dir}/made"));
    assert_eq!(of["user.homedir"], home.as_str());
    assert_eq!(of["thread.ismain"], true);
    assert_eq!(of["proc.is_sid_leader"], false);

    let a = wait("H3 rename fields");
    assert_eq!(field(&a, "src"), format!("{dir}/made"));
    assert_eq!(field(&a, "srcraw"), "made");
    assert_eq!(field(&a, "dst"), format!("{dir}/moved"));
    assert_eq!(field(&a, "dstraw"), "moved");
    assert_eq!(field(&a, "asrc"), format!("{dir}/made"));
    assert_eq!(field(&a, "adst"), format!("{dir}/moved"));
    assert_eq!(a["output_fields"]["fs.path.target"], format!("{dir}/moved"));

    // The rule names "localhost": kestrel resolved it (from /etc/hosts) in
    // the background, so the server address maps back to that name.
    let a = wait("H3 connect fields");
    assert_eq!(field(&a, "sys"), "false");
    assert_eq!(field(&a, "wait"), "false");
    // A successful connect on a socket: a network "error count" of 0.
    assert_eq!(field(&a, "cfile"), "<NA>");
    assert_eq!(field(&a, "cnet"), "0");
    assert_eq!(field(&a, "sipname"), "localhost");
    assert_eq!(field(&a, "ripname"), "localhost");
    assert_eq!(field(&a, "server"), "false");
    let uid = field(&a, "uid");
    assert!(
        uid.len() > 1 && uid.bytes().all(|b| b.is_ascii_digit()),
        "{uid}"
    );
    assert!(
        field(&a, "cname").starts_with(":127.0.0.1:"),
        "{}",
        a["output"]
    );
    assert_eq!(a["output_fields"]["fd.sip.name"], "localhost");
    server
        .join()
        .unwrap()
        .expect("accept the test's connection");

    let a = wait("H3 failed unlinkat fields");
    // unlinkat has no fd: an "other" error for Falco.
    assert_eq!(field(&a, "cerr"), "1");
    assert_eq!(field(&a, "cfile"), "<NA>");
    assert_eq!(field(&a, "cnet"), "<NA>");
    assert_eq!(field(&a, "cother"), "1");
    // fs.path.* are for successful calls only; evt.abspath is not.
    assert_eq!(field(&a, "name"), "<NA>");
    assert_eq!(field(&a, "abs"), format!("{dir}/nosuchfile-h3"));
    assert!(
        field(&a, "info").starts_with("res=-2(ENOENT)"),
        "{}",
        a["output"]
    );

    let links = d.wait_alerts(|a| a["rule"] == "H3 link fields", 2, Duration::from_secs(5));
    let by_type = |t: &str| {
        links
            .iter()
            .find(|a| field(a, "type") == t)
            .unwrap_or_else(|| panic!("no {t} alert: {links:?}"))
    };
    let a = by_type("symlinkat");
    assert_eq!(field(a, "src"), format!("{dir}/sl"));
    // symlinkat's target is relative to the link, which Falco does not
    // resolve either: only the raw form.
    assert_eq!(field(a, "dst"), "<NA>");
    assert_eq!(field(a, "dstraw"), "moved");
    let a = by_type("linkat");
    assert_eq!(field(a, "src"), format!("{dir}/hl"));
    assert_eq!(field(a, "dst"), format!("{dir}/file1"));

    let a = wait("H3 fchmod fields");
    assert_eq!(field(&a, "name"), format!("{dir}/file1"));
    assert_eq!(field(&a, "raw"), format!("{dir}/file1"));

    // The server port's /etc/services name, as the client sees it.
    let a = wait("H3 proto fields");
    assert_eq!(field(&a, "sproto"), svc_name);
    assert_eq!(field(&a, "rproto"), svc_name);
    drop(svc);

    let a = wait("H3 syslog fields");
    assert_eq!(field(&a, "wait"), "false");
    assert_eq!(field(&a, "name"), format!("{dir}/dev/log"));
    drop(log);

    let a = wait("H3 accept fields");
    assert_eq!(field(&a, "server"), "true");
    d.stop();
}
