//! Outputs, for real: a real HTTP server on loopback receives the POSTed
//! JSON alert, a real syslog datagram socket receives `<PRI>...` with the
//! priority's severity, the file output appends and reopens on SIGUSR1
//! after a rename (log rotation), the program output pipes to a shell
//! command; a dead or hung HTTP endpoint never blocks capture or the other
//! outputs, and what it loses is counted in /metrics.

mod common;

use std::net::TcpListener;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Daemon, DaemonOpts, Load};
use serde_json::Value;

#[derive(Debug, Clone)]
struct Posted {
    method: String,
    url: String,
    content_type: String,
    user_agent: String,
    body: String,
}

/// A real HTTP server recording every request.
struct Receiver {
    server: Arc<tiny_http::Server>,
    got: Arc<Mutex<Vec<Posted>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind HTTP receiver"));
        let got: Arc<Mutex<Vec<Posted>>> = Arc::default();
        let (s2, g2) = (Arc::clone(&server), Arc::clone(&got));
        let thread = std::thread::spawn(move || {
            for mut req in s2.incoming_requests() {
                let header = |name: &str| {
                    req.headers()
                        .iter()
                        .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
                        .map(|h| h.value.as_str().to_string())
                        .unwrap_or_default()
                };
                let (content_type, user_agent) = (header("Content-Type"), header("User-Agent"));
                let mut body = String::new();
                common::best_effort(
                    "read POST body",
                    std::io::Read::read_to_string(req.as_reader(), &mut body),
                );
                g2.lock().unwrap().push(Posted {
                    method: req.method().as_str().to_string(),
                    url: req.url().to_string(),
                    content_type,
                    user_agent,
                    body,
                });
                common::best_effort(
                    "respond",
                    req.respond(tiny_http::Response::from_string("ok")),
                );
            }
        });
        Receiver {
            server,
            got,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://{}/falco",
            self.server.server_addr().to_ip().unwrap()
        )
    }

    fn wait_for(&self, needle: &str, timeout: Duration) -> Option<Posted> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(p) = self
                .got
                .lock()
                .unwrap()
                .iter()
                .find(|p| p.body.contains(needle))
            {
                return Some(p.clone());
            }
            if Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                eprintln!("the HTTP receiver thread panicked");
            }
        }
    }
}

fn read_lines(p: &Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .map(|s| s.lines().map(str::to_string).collect())
        .unwrap_or_default()
}

fn wait_line(p: &Path, needle: &str, timeout: Duration) -> Option<String> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(l) = read_lines(p).into_iter().find(|l| l.contains(needle)) {
            return Some(l);
        }
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `cat /etc/shadow NONCEFILE` (a Warning alert); returns the nonce.
fn read_shadow(dir: &Path, tag: &str) -> String {
    let n = common::nonce(tag);
    let f = dir.join(&n);
    std::fs::write(&f, b"").unwrap();
    common::run(common::quiet("cat").arg("/etc/shadow").arg(&f));
    n
}

#[test]
fn http_syslog_file_and_program_outputs() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let http = Receiver::start();
    let sock_path = tmp.path().join("log.sock");
    let syslog = UnixDatagram::bind(&sock_path).expect("bind syslog socket");
    syslog
        .set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let file = tmp.path().join("events.json");
    std::fs::write(&file, "pre-existing line\n").unwrap();
    let prog_out = tmp.path().join("program.out");
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "http_output.enabled=true".into(),
            format!("http_output.url={}", http.url()),
            "syslog_output.enabled=true".into(),
            format!("syslog_output.socket={}", sock_path.display()),
            "file_output.enabled=true".into(),
            "file_output.keep_alive=true".into(),
            format!("file_output.filename={}", file.display()),
            "program_output.enabled=true".into(),
            format!("program_output.program=cat >> {}", prog_out.display()),
        ],
        ..Default::default()
    });

    // A Warning and a Notice alert.
    let n1 = read_shadow(tmp.path(), "out-warning");
    let n2 = common::nonce("out-notice");
    common::run(common::quiet("unshare").args(["-m", "true", &n2]));
    let a1 = d
        .wait_alert(|a| common::output_has(a, &n1), Duration::from_secs(1))
        .expect("stdout alert (Warning)");
    let a2 = d
        .wait_alert(|a| common::output_has(a, &n2), Duration::from_secs(1))
        .expect("stdout alert (Notice)");
    assert_eq!(a1["priority"], "Warning");
    assert_eq!(a2["priority"], "Notice");

    // HTTP: the POSTed body is the same JSON alert.
    for (n, a) in [(&n1, &a1), (&n2, &a2)] {
        let p = http
            .wait_for(n, Duration::from_secs(2))
            .unwrap_or_else(|| panic!("no POST for {n}; stderr:\n{}", d.stderr()));
        assert_eq!(p.method, "POST");
        assert_eq!(p.url, "/falco");
        assert!(p.content_type.starts_with("application/json"), "{p:?}");
        assert!(p.user_agent.starts_with("kestrel"), "{p:?}");
        let body: Value = serde_json::from_str(p.body.trim()).expect("POST body is JSON");
        assert_eq!(&body, a, "the POSTed alert differs from stdout's");
    }

    // Syslog: <PRI> = LOG_USER (8) + severity (warning 4, notice 5).
    let mut msgs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(2);
    while msgs.len() < 2 && Instant::now() < deadline {
        let mut buf = vec![0u8; 65536];
        if let Ok(n) = syslog.recv(&mut buf) {
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            if m.contains(&n1) || m.contains(&n2) {
                msgs.push(m);
            }
        }
    }
    let find = |n: &str| {
        msgs.iter()
            .find(|m| m.contains(n))
            .unwrap_or_else(|| panic!("no syslog message for {n}: {msgs:?}"))
            .clone()
    };
    let tag = format!(" kestrel[{}]: ", d.pid());
    for (n, pri, a) in [(&n1, "<12>", &a1), (&n2, "<13>", &a2)] {
        let m = find(n);
        assert!(m.starts_with(pri), "expected {pri}: {m}");
        let (_, json) = m
            .split_once(&tag)
            .unwrap_or_else(|| panic!("no '{tag}' in {m}"));
        let v: Value = serde_json::from_str(json.trim_end_matches('\n')).expect("syslog JSON");
        assert_eq!(&v, a);
        // "<PRI>Mmm dd hh:mm:ss": RFC 3164 timestamp before the tag.
        let stamp = &m[pri.len()..m.find(&tag).unwrap()];
        assert_eq!(stamp.len(), 15, "timestamp {stamp:?}");
    }

    // File: appended after the existing content.
    assert!(wait_line(&file, &n2, Duration::from_secs(1)).is_some());
    let lines = read_lines(&file);
    assert_eq!(lines[0], "pre-existing line", "{lines:?}");
    for n in [&n1, &n2] {
        let l = lines
            .iter()
            .find(|l| l.contains(n.as_str()))
            .expect("file line");
        let v: Value = serde_json::from_str(l).expect("file line is JSON");
        assert_eq!(
            v["rule"],
            if n == &n1 {
                "Read Sensitive File"
            } else {
                "Namespace Change via unshare"
            }
        );
    }

    // Program: `cat >> file` got both alerts.
    for n in [&n1, &n2] {
        assert!(
            wait_line(&prog_out, n, Duration::from_secs(2)).is_some(),
            "program output lacks {n}: {:?}; stderr:\n{}",
            read_lines(&prog_out),
            d.stderr()
        );
    }

    // Rotation: after a rename the open file keeps receiving alerts until
    // SIGUSR1; then a new file appears under the configured name.
    let rotated = tmp.path().join("events.json.1");
    std::fs::rename(&file, &rotated).unwrap();
    let n3 = read_shadow(tmp.path(), "out-rotated");
    assert!(
        wait_line(&rotated, &n3, Duration::from_secs(1)).is_some(),
        "before SIGUSR1 the alert goes to the renamed (still open) file"
    );
    assert!(!file.exists());
    d.signal(libc::SIGUSR1);
    assert!(
        d.wait_stderr("output files reopened", Duration::from_secs(2)),
        "{}",
        d.stderr()
    );
    let n4 = read_shadow(tmp.path(), "out-reopened");
    assert!(
        wait_line(&file, &n4, Duration::from_secs(1)).is_some(),
        "after SIGUSR1 the alert goes to a new {}; stderr:\n{}",
        file.display(),
        d.stderr()
    );
    assert!(read_lines(&rotated).iter().all(|l| !l.contains(&n4)));

    let m = d.metrics();
    for sink in ["stdout", "file", "syslog", "http", "program"] {
        assert!(
            m.sum("kestrel_output_alerts_delivered_total", &[("sink", sink)]) >= 2.0,
            "{sink} delivered too few:\n{}",
            m.text
        );
        assert_eq!(
            m.sum("kestrel_output_alerts_dropped_total", &[("sink", sink)]),
            0.0,
            "{sink} dropped alerts"
        );
    }
    d.stop();
}

/// The count of `reason` in an exit books reasons text (`shutdown 3,
/// http_error 2`).
fn reason_count(reasons: &str, reason: &str) -> u64 {
    reasons
        .split(", ")
        .find_map(|r| r.strip_prefix(reason)?.trim().parse().ok())
        .unwrap_or(0)
}

/// A burst of alerts against an HTTP endpoint that cannot take them,
/// under kestrel-loadgen load (reconciled): stdout gets every alert at
/// once, the kernel drops nothing, the HTTP output's books balance while
/// it runs (delivered + dropped + queued = received, one request in
/// flight aside) and exactly at exit (what was still queued is dropped
/// with reason `shutdown`), and SIGTERM still exits promptly.
fn dead_endpoint(fault: &str, url: &str, extra: &[&str]) {
    let tmp = common::tempdir();
    let mut options = vec![
        "http_output.enabled=true".to_string(),
        format!("http_output.url={url}"),
    ];
    options.extend(extra.iter().map(|s| s.to_string()));
    options.extend(common::LOAD_OPTS.iter().map(|s| s.to_string()));
    let d = Daemon::start_with(DaemonOpts {
        options,
        ..Default::default()
    });
    let load = Load::start(&d, 4);
    const BURST: usize = 500;
    let n = common::nonce("dead-http");
    let nf = tmp.path().join(&n);
    std::fs::write(&nf, b"").unwrap();
    let started = Instant::now();
    common::run_ok(Command::new(common::python3()).args([
        "-c",
        &format!("import sys\nfor _ in range({BURST}):\n    open('/etc/shadow').close()"),
        &nf.display().to_string(),
    ]));
    let got = d.wait_alerts(
        |a| common::output_has(a, &n),
        BURST,
        Duration::from_secs(30),
    );
    assert_eq!(
        got.len(),
        BURST,
        "stdout was held up by the dead HTTP endpoint; stderr:\n{}",
        d.stderr()
    );
    let took = started.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "burst took {took:?} to reach stdout"
    );
    let issued = load.finish(&d);
    let m = d.wait_metrics(
        |m| m.sum("kestrel_output_alerts_dropped_total", &[("sink", "http")]) > 0.0,
        Duration::from_secs(30),
    );
    let dropped_http = m.sum("kestrel_output_alerts_dropped_total", &[("sink", "http")]);
    assert!(
        m.sum(
            "kestrel_output_alerts_dropped_total",
            &[("sink", "http"), ("reason", "http_error")]
        ) > 0.0,
        "no http_error drops counted for http:\n{}",
        m.text
    );
    // Every alert the outputs accepted is delivered, dropped (counted),
    // queued or (one) in flight on the http output.
    let received = m.sum("kestrel_output_alerts_received_total", &[]);
    let accounted = m.sum("kestrel_output_alerts_delivered_total", &[("sink", "http")])
        + dropped_http
        + m.sum("kestrel_output_queue_depth", &[("sink", "http")]);
    assert!(
        received - accounted <= 1.0 && accounted <= received,
        "http: received {received}, delivered+dropped+queued {accounted}\n{}",
        m.text
    );
    assert_eq!(
        m.sum("kestrel_output_alerts_dropped_total", &[("sink", "stdout")]),
        0.0
    );
    assert!(
        m.sum(
            "kestrel_output_alerts_delivered_total",
            &[("sink", "stdout")]
        ) >= BURST as f64
    );
    // What a stuck output could hold up is the hand-off from the workers:
    // nothing was refused there.
    assert_eq!(m.sum("kestrel_worker_alerts_dropped_total", &[]), 0.0);
    assert_eq!(
        m.sum("kestrel_output_alerts_dropped_total", &[("sink", "front")]),
        0.0
    );
    assert_eq!(m.sum("kestrel_kernel_events_dropped_total", &[]), 0.0);
    assert_eq!(d.get("/healthz").unwrap().0, 200);
    let mut d = d;
    let t = Instant::now();
    let st = d.terminate(Duration::from_secs(30));
    let exit = t.elapsed();
    let stderr = d.stderr();
    assert!(st.success(), "exit {st}; stderr:\n{stderr}");
    assert!(
        exit < Duration::from_secs(15),
        "shutdown with a dead HTTP endpoint took {exit:?}"
    );
    assert!(
        stderr.contains("alerts were lost by the outputs"),
        "the losses are not reported at exit:\n{stderr}"
    );
    // At exit, exactly: every alert produced is on stdout, and the http
    // sink's delivered + dropped = offered = alerts produced, nothing
    // left queued, what was queued counted as dropped for `shutdown`.
    common::assert_summary_balanced(&stderr);
    let sum = common::summary(&stderr);
    assert_eq!(
        d.alerts().len() as u64,
        sum.alerts,
        "stdout vs alerts produced"
    );
    let (out_books, _) = common::exit_books(&stderr, "stdout");
    assert_eq!(out_books, [sum.alerts, sum.alerts, 0, 0, 0], "stdout books");
    let ([offered, delivered, filtered, dropped, queued], reasons) =
        common::exit_books(&stderr, "http");
    assert_eq!(offered, sum.alerts, "http offered vs alerts produced");
    assert_eq!(filtered, 0);
    assert_eq!(queued, 0, "http queue not emptied at exit");
    assert_eq!(
        delivered + dropped,
        offered,
        "http at exit: delivered {delivered} + dropped {dropped} != offered {offered} ({reasons})"
    );
    let at_shutdown = reason_count(&reasons, "shutdown");
    let http_errors = reason_count(&reasons, "http_error");
    assert_eq!(
        at_shutdown + http_errors + reason_count(&reasons, "http_status"),
        dropped,
        "http drop reasons: {reasons}"
    );
    // A line for perf/faults (docs/RELIABILITY.md).
    println!(
        "FAULT|{fault}, under loadgen load|stdout gets every alert at once; loadgen reconciles; http books balance while running and exactly at exit; prompt exit|loadgen {issued} syscalls (open+close at {} opens/s) issued = observed; stdout {BURST}/{BURST} in {} ms; http after the burst: {} delivered + {dropped_http} dropped + {} queued of {received} received; at exit: {delivered} delivered + {dropped} dropped ({http_errors} http_error, {at_shutdown} shutdown) = {offered} offered = {} alerts produced, all on stdout; exit in {} ms; 0 kernel drops",
        common::LOAD_RATE,
        took.as_millis(),
        m.sum("kestrel_output_alerts_delivered_total", &[("sink", "http")]),
        m.sum("kestrel_output_queue_depth", &[("sink", "http")]),
        sum.alerts,
        exit.as_millis()
    );
}

#[test]
fn refused_http_endpoint_never_blocks_capture() {
    let _g = common::serial();
    // A port nobody listens on: every POST is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    dead_endpoint(
        "HTTP sink refusing connections",
        &format!("http://127.0.0.1:{port}/"),
        &[],
    );
}

#[test]
fn hung_http_endpoint_never_blocks_capture() {
    let _g = common::serial();
    // Accepts connections and never answers.
    let hole = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = hole.local_addr().unwrap().port();
    let held: Arc<Mutex<Vec<std::net::TcpStream>>> = Arc::default();
    let h2 = Arc::clone(&held);
    hole.set_nonblocking(true).unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = Arc::clone(&stop);
    let t = std::thread::spawn(move || {
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            match hole.accept() {
                Ok((c, _)) => h2.lock().unwrap().push(c),
                Err(_) => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    });
    dead_endpoint(
        "HTTP sink that accepts and never reads",
        &format!("http://127.0.0.1:{port}/"),
        &["http_output.timeout_ms=500", "http_output.max_retries=0"],
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    t.join().unwrap();
}

/// The process umask, from `/proc/self/status`.
fn umask() -> u32 {
    let st = std::fs::read_to_string("/proc/self/status").unwrap();
    let v = st
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask in /proc/self/status");
    u32::from_str_radix(v.trim(), 8).unwrap()
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("stat {}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o7777
}

/// Files the daemon creates get the modes docs/RELIABILITY.md lists: the
/// alerts file and the metrics file 0600, the lock file 0644 (the umask
/// can only remove bits).
#[test]
fn created_files_get_safe_modes() {
    let _g = common::serial();
    let tmp = common::tempdir();
    let file = tmp.path().join("alerts.json");
    let metrics = tmp.path().join("metrics.json");
    let d = Daemon::start_with(DaemonOpts {
        options: vec![
            "file_output.enabled=true".into(),
            format!("file_output.filename={}", file.display()),
            "metrics.enabled=true".into(),
            "metrics.interval=500ms".into(),
            format!("metrics.output_file={}", metrics.display()),
        ],
        ..Default::default()
    });
    let n = read_shadow(tmp.path(), "modes");
    wait_line(&file, &n, Duration::from_secs(5))
        .unwrap_or_else(|| panic!("no alert in the file output; stderr:\n{}", d.stderr()));
    let deadline = Instant::now() + Duration::from_secs(5);
    while !metrics.exists() {
        assert!(
            Instant::now() < deadline,
            "no metrics file; stderr:\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let um = umask();
    assert_eq!(mode(&file), 0o600 & !um, "file_output mode");
    assert_eq!(mode(&metrics), 0o600 & !um, "metrics.output_file mode");
    assert_eq!(mode(&d.lock_file()), 0o644 & !um, "lock file mode");
    d.stop();
}
