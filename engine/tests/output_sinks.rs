//! Real sinks: an HTTP server on loopback, a syslog datagram socket, files
//! with rotation, programs; dead and blocking sinks never block the
//! sender and their losses are counted exactly.

mod output_support;

use std::os::unix::net::UnixDatagram;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kestrel_engine::fields::Value;
use kestrel_engine::output::{
    Alert, CompiledOutputs, DropReason, Outputs, OutputsConfig, OutputsStats, SinkStats,
};
use kestrel_engine::rules::Priority;
use output_support::{rule, s, MapEvent};

/// A config with every sink off (stdout and syslog are on by default).
fn quiet() -> OutputsConfig {
    let mut c = OutputsConfig {
        append_output: vec![],
        ..OutputsConfig::default()
    };
    c.stdout.enabled = false;
    c.syslog.enabled = false;
    c
}

/// Rules 0 (Warning), 1 (Notice), 2 (Critical) with a `%proc.name` output.
fn outputs_for(cfg: &OutputsConfig) -> CompiledOutputs {
    let rules = vec![
        rule(
            "Warn rule",
            Priority::Warning,
            "warn proc=%proc.name",
            &["t"],
        ),
        rule(
            "Notice rule",
            Priority::Notice,
            "notice proc=%proc.name",
            &[],
        ),
        rule("Crit rule", Priority::Critical, "crit proc=%proc.name", &[]),
    ];
    CompiledOutputs::compile(&rules, cfg).unwrap().0
}

fn alert(out: &CompiledOutputs, rule: usize, name: &str) -> Alert {
    let ev = MapEvent::new(&[
        ("proc.name", s(name)),
        ("evt.time", Value::U64(1_700_000_000_000_000_000)),
    ]);
    out.render(rule, &ev, 7).unwrap()
}

fn sink<'a>(st: &'a OutputsStats, name: &str) -> &'a SinkStats {
    st.sinks.iter().find(|s| s.name == name).unwrap()
}

/// Every alert offered to a sink is accounted for exactly once.
fn assert_accounted(st: &SinkStats) {
    assert_eq!(
        st.offered,
        st.delivered + st.dropped.total(),
        "sink {} not fully accounted: {st:?}",
        st.name
    );
    assert_eq!(st.queue_depth, 0, "{st:?}");
}

fn wait_for(mut cond: impl FnMut() -> bool, what: &str) {
    let end = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Sends every alert, each only once the dispatcher has taken the
/// previous one, so that losses happen at the sink's queue (the case under
/// test) rather than at the front queue. Every `send` must return at once,
/// whatever the sink is doing. Returns how many were accepted.
fn send_paced(outputs: &Outputs, alerts: Vec<Alert>) -> u64 {
    let tx = outputs.sender();
    let mut accepted = 0;
    let mut slowest = Duration::ZERO;
    for a in alerts {
        let t = Instant::now();
        if tx.send(a) {
            accepted += 1;
        }
        slowest = slowest.max(t.elapsed());
        wait_for(|| outputs.stats().queue_depth == 0, "the dispatcher");
    }
    // Far below what waiting for the sink would take (a 60 s program, HTTP
    // retries); loose enough for a loaded 2-core machine.
    assert!(slowest < Duration::from_secs(1), "a send took {slowest:?}");
    accepted
}

struct Req {
    content_type: String,
    user_agent: String,
    body: String,
}

/// A tiny_http server answering with `statuses` in turn (then 200).
fn http_server(statuses: Vec<u16>) -> (String, mpsc::Receiver<Req>) {
    let server = tiny_http::Server::http("127.0.0.1:0").unwrap();
    let port = server.server_addr().to_ip().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut statuses = statuses.into_iter();
        for mut req in server.incoming_requests() {
            let header = |n: &'static str| {
                req.headers()
                    .iter()
                    .find(|h| h.field.equiv(n))
                    .map(|h| h.value.to_string())
                    .unwrap_or_default()
            };
            let content_type = header("Content-Type");
            let user_agent = header("User-Agent");
            assert_eq!(req.method(), &tiny_http::Method::Post);
            let mut body = String::new();
            req.as_reader().read_to_string(&mut body).unwrap();
            let status = statuses.next().unwrap_or(200);
            if tx
                .send(Req {
                    content_type,
                    user_agent,
                    body,
                })
                .is_err()
            {
                return;
            }
            req.respond(tiny_http::Response::empty(status)).unwrap();
        }
    });
    (format!("http://127.0.0.1:{port}/"), rx)
}

#[test]
fn http_posts_json_alerts() {
    let (url, rx) = http_server(vec![]);
    let mut cfg = quiet();
    cfg.json_output = true;
    cfg.http.enabled = true;
    cfg.http.url = url;
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let sent: Vec<Alert> = (0..3).map(|i| alert(&out, 0, &format!("p{i}"))).collect();
    for a in &sent {
        assert!(tx.send(a.clone()));
    }
    for a in &sent {
        let r = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(r.content_type, "application/json");
        assert!(r.user_agent.starts_with("kestrel/"), "{}", r.user_agent);
        assert_eq!(r.body, a.json().unwrap());
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["rule"], "Warn rule");
        assert_eq!(v["priority"], "Warning");
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    let h = sink(&st, "http");
    assert_eq!(h.delivered, 3);
    assert_eq!(h.dropped.total(), 0);
    assert_accounted(h);
}

#[test]
fn http_text_mode_retries_5xx_and_drops_4xx() {
    // First request 503 (retried), then 200; later a 400 (not retried).
    let (url, rx) = http_server(vec![503, 200, 400]);
    let mut cfg = quiet();
    cfg.http.enabled = true;
    cfg.http.url = url;
    cfg.http.retry_backoff = Duration::from_millis(10);
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let a = alert(&out, 0, "first");
    assert!(tx.send(a.clone()));
    let r1 = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let r2 = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(r1.content_type, "text/plain");
    assert_eq!(r1.body, a.text());
    assert_eq!(r2.body, a.text());
    assert!(tx.send(alert(&out, 0, "second")));
    let r3 = rx.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(r3.body.ends_with("warn proc=second"));
    let st = outputs.shutdown(Duration::from_secs(5));
    let h = sink(&st, "http");
    assert_eq!(h.delivered, 1);
    assert_eq!(h.retries, 1);
    assert_eq!(h.dropped.get(DropReason::HttpStatus), 1);
    assert_eq!(h.errors, 2);
    assert_accounted(h);
    assert!(rx.try_recv().is_err(), "the 400 must not be retried");
}

#[test]
fn dead_http_endpoint_never_blocks_and_counts_losses() {
    // A port nothing listens on: bind, note the port, close.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mut cfg = quiet();
    cfg.json_output = true;
    cfg.http.enabled = true;
    cfg.http.url = format!("http://127.0.0.1:{port}/");
    cfg.http.max_retries = 2;
    cfg.http.retry_backoff = Duration::from_millis(50);
    cfg.queue_capacity = 4;
    let out = outputs_for(&cfg);
    let alerts: Vec<Alert> = (0..200).map(|i| alert(&out, 0, &format!("p{i}"))).collect();
    let outputs = Outputs::start(cfg).unwrap();
    let accepted = send_paced(&outputs, alerts);
    let st = outputs.shutdown(Duration::from_millis(300));
    assert_eq!(st.received, accepted);
    assert_eq!(st.received, 200, "paced sends never fill the front queue");
    let h = sink(&st, "http");
    assert_eq!(h.offered, st.received);
    assert_eq!(h.delivered, 0);
    assert!(h.dropped.get(DropReason::QueueFull) > 0, "{h:?}");
    assert!(
        h.dropped.get(DropReason::HttpError) + h.dropped.get(DropReason::Shutdown) > 0,
        "{h:?}"
    );
    assert_accounted(h);
}

#[test]
fn syslog_datagrams() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sock");
    let sock = UnixDatagram::bind(&path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut cfg = quiet();
    cfg.syslog.enabled = true;
    cfg.syslog.socket = path;
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let w = alert(&out, 0, "cat");
    let c = alert(&out, 2, "nc");
    assert!(tx.send(w.clone()));
    assert!(tx.send(c.clone()));
    let re =
        regex::Regex::new(r"^<(\d+)>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d kestrel\[(\d+)\]: (.*)$")
            .unwrap();
    let mut buf = vec![0u8; 65536];
    for (a, pri) in [(&w, 12), (&c, 10)] {
        let n = sock.recv(&mut buf).unwrap();
        let msg = std::str::from_utf8(&buf[..n]).unwrap();
        let caps = re
            .captures(msg)
            .unwrap_or_else(|| panic!("bad syslog message {msg:?}"));
        // LOG_USER (8) + severity (Warning 4, Critical 2).
        assert_eq!(caps[1].parse::<u32>().unwrap(), pri);
        assert_eq!(caps[2].parse::<u32>().unwrap(), std::process::id());
        assert_eq!(&caps[3], a.text());
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    assert_eq!(sink(&st, "syslog").delivered, 2);
    assert_accounted(sink(&st, "syslog"));
}

#[test]
fn syslog_without_daemon_counts_write_errors() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = quiet();
    cfg.syslog.enabled = true;
    cfg.syslog.socket = dir.path().join("nobody-listens");
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    for i in 0..5 {
        assert!(tx.send(alert(&out, 0, &format!("p{i}"))));
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    let s = sink(&st, "syslog");
    assert_eq!(s.dropped.get(DropReason::WriteError), 5);
    assert_eq!(s.delivered, 0);
    assert_accounted(s);
}

fn lines(p: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn file_append_and_reopen_after_rename() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    std::fs::write(&path, "existing line\n").unwrap();
    let mut cfg = quiet();
    cfg.file.enabled = true;
    cfg.file.keep_alive = true;
    cfg.file.filename = path.clone();
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let a1 = alert(&out, 0, "one");
    let a2 = alert(&out, 1, "two");
    assert!(tx.send(a1.clone()));
    assert!(tx.send(a2.clone()));
    wait_for(
        || sink(&outputs.stats(), "file").delivered == 2,
        "two alerts",
    );
    let rotated = dir.path().join("events.txt.1");
    std::fs::rename(&path, &rotated).unwrap();
    // Still open: without reopen the next alert would follow the rename.
    outputs.reopen_files();
    let a3 = alert(&out, 2, "three");
    assert!(tx.send(a3.clone()));
    let st = outputs.shutdown(Duration::from_secs(5));
    assert_eq!(
        lines(&rotated),
        vec![
            "existing line".to_string(),
            a1.text().into(),
            a2.text().into()
        ]
    );
    assert_eq!(lines(&path), vec![a3.text().to_string()]);
    let f = sink(&st, "file");
    assert_eq!(f.delivered, 3);
    assert_eq!(f.errors, 0);
    assert_accounted(f);
}

#[test]
fn file_without_keep_alive_follows_rotation_and_counts_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let mut cfg = quiet();
    cfg.file.enabled = true;
    cfg.file.filename = path.clone();
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    assert!(tx.send(alert(&out, 0, "one")));
    wait_for(
        || sink(&outputs.stats(), "file").delivered == 1,
        "first alert",
    );
    std::fs::rename(&path, dir.path().join("old")).unwrap();
    assert!(tx.send(alert(&out, 0, "two")));
    wait_for(
        || sink(&outputs.stats(), "file").delivered == 2,
        "second alert",
    );
    assert_eq!(lines(&path).len(), 1);
    // Make the path unopenable: a directory in its place.
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert!(tx.send(alert(&out, 0, "three")));
    let st = outputs.shutdown(Duration::from_secs(5));
    let f = sink(&st, "file");
    assert_eq!(f.delivered, 2);
    assert_eq!(f.dropped.get(DropReason::WriteError), 1);
    assert_accounted(f);
}

#[test]
fn program_keep_alive_single_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prog.out");
    let mut cfg = quiet();
    cfg.json_output = true;
    cfg.program.enabled = true;
    cfg.program.keep_alive = true;
    cfg.program.program = format!("cat > '{}'", path.display());
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let sent: Vec<Alert> = (0..5).map(|i| alert(&out, 0, &format!("p{i}"))).collect();
    for a in &sent {
        assert!(tx.send(a.clone()));
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    let p = sink(&st, "program");
    assert_eq!(p.delivered, 5);
    assert_eq!(p.retries, 0, "one process for all alerts");
    assert_accounted(p);
    // `cat > file` truncates at start: all five lines prove one process.
    let expected: Vec<String> = sent.iter().map(|a| a.json().unwrap().to_string()).collect();
    assert_eq!(lines(&path), expected);
}

#[test]
fn program_per_alert_process() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prog.out");
    let mut cfg = quiet();
    cfg.program.enabled = true;
    cfg.program.program = format!("cat >> '{}'", path.display());
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let sent: Vec<Alert> = (0..3).map(|i| alert(&out, 1, &format!("p{i}"))).collect();
    for a in &sent {
        assert!(tx.send(a.clone()));
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    assert_eq!(sink(&st, "program").delivered, 3);
    let expected: Vec<String> = sent.iter().map(|a| a.text().to_string()).collect();
    assert_eq!(lines(&path), expected);
}

#[test]
fn program_restarted_when_it_dies() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("prog.out");
    let mut cfg = quiet();
    cfg.program.enabled = true;
    cfg.program.keep_alive = true;
    // Reads one line and exits: every alert needs a new process. `exec`
    // keeps the shell's pid, recorded so the test can see it exit.
    let pidfile = dir.path().join("pid");
    cfg.program.program = format!(
        "echo $$ > '{}'; exec head -n 1 >> '{}'",
        pidfile.display(),
        path.display()
    );
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    for i in 0..3 {
        assert!(tx.send(alert(&out, 0, &format!("p{i}"))));
        wait_for(
            || lines(&path).len() == i + 1,
            "the program to write its line",
        );
        // A line written while the old reader is exiting would sit in a
        // pipe nobody reads: wait until it is gone (or a zombie).
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let stat = format!("/proc/{}/stat", pid.trim());
        wait_for(
            || match std::fs::read_to_string(&stat) {
                Ok(s) => s
                    .rsplit(')')
                    .next()
                    .unwrap_or("")
                    .trim_start()
                    .starts_with('Z'),
                Err(_) => true,
            },
            "the program to exit",
        );
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    let p = sink(&st, "program");
    assert_eq!(p.delivered, 3);
    assert!(p.retries >= 2, "{p:?}");
    assert_accounted(p);
}

/// A program that never reads: its pipe fills, the sink thread blocks in
/// a write, the queue fills, and the sender goes on.
fn blocking_program(keep_alive: bool) {
    let mut cfg = quiet();
    cfg.program.enabled = true;
    cfg.program.keep_alive = keep_alive;
    cfg.program.program = "sleep 60".into();
    cfg.queue_capacity = 8;
    let rules = vec![rule("Big", Priority::Error, "%proc.cmdline", &[])];
    let out = CompiledOutputs::compile(&rules, &cfg).unwrap().0;
    // 16 KiB lines: four fill a 64 KiB pipe.
    let big = "x".repeat(16 * 1024);
    let ev = MapEvent::new(&[("proc.cmdline", s(&big))]);
    let outputs = Outputs::start(cfg).unwrap();
    let alerts: Vec<Alert> = (0..100).map(|_| out.render(0, &ev, 0).unwrap()).collect();
    let accepted = send_paced(&outputs, alerts);
    let t1 = Instant::now();
    let st = outputs.shutdown(Duration::from_millis(300));
    assert!(
        t1.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        t1.elapsed()
    );
    assert_eq!(st.received, accepted);
    assert_eq!(st.received, 100, "paced sends never fill the front queue");
    let p = sink(&st, "program");
    assert_eq!(p.offered, accepted);
    assert!(p.dropped.get(DropReason::QueueFull) > 0, "{p:?}");
    assert!(p.delivered <= 5, "{p:?}");
    assert_accounted(p);
}

#[test]
fn blocking_program_keep_alive_never_blocks_sender() {
    blocking_program(true);
}

#[test]
fn blocking_program_per_alert_never_blocks_sender() {
    blocking_program(false);
}

#[test]
fn priority_filters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let mut cfg = quiet();
    cfg.priority = Priority::Notice;
    cfg.file.enabled = true;
    cfg.file.filename = path.clone();
    cfg.file.min_priority = Some(Priority::Warning);
    let out = CompiledOutputs::compile(
        &[
            rule("dbg", Priority::Debug, "d", &[]),
            rule("note", Priority::Notice, "n", &[]),
            rule("warn", Priority::Warning, "w", &[]),
            rule("crit", Priority::Critical, "c", &[]),
        ],
        &cfg,
    )
    .unwrap()
    .0;
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    for r in 0..4 {
        assert!(tx.send(out.render(r, &MapEvent::default(), 0).unwrap()));
    }
    let st = outputs.shutdown(Duration::from_secs(5));
    assert_eq!(st.filtered, 1);
    let f = sink(&st, "file");
    assert_eq!(f.filtered, 1);
    assert_eq!(f.delivered, 2);
    assert_eq!(st.dropped.total(), 0);
    let got: Vec<String> = lines(&path)
        .iter()
        .map(|l| l.split(' ').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(got, ["Warning", "Critical"]);
}

#[test]
fn repeat_collapsing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let mut cfg = quiet();
    cfg.file.enabled = true;
    cfg.file.filename = path.clone();
    cfg.repeat_window = Duration::from_millis(200);
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    let a = alert(&out, 0, "same");
    let b = alert(&out, 0, "other");
    for _ in 0..5 {
        assert!(tx.send(a.clone()));
    }
    assert!(tx.send(b.clone()));
    wait_for(
        || outputs.stats().repeat_summaries == 1,
        "the window to close",
    );
    // A new window starts: delivered at once.
    assert!(tx.send(a.clone()));
    let st = outputs.shutdown(Duration::from_secs(5));
    assert_eq!(st.repeats_suppressed, 4);
    assert_eq!(st.repeat_summaries, 1);
    assert_eq!(
        lines(&path),
        vec![
            a.text().to_string(),
            b.text().to_string(),
            format!("{} (repeated 4 times)", a.text()),
            a.text().to_string(),
        ]
    );
    assert_accounted(sink(&st, "file"));
}

#[test]
fn shutdown_drains_everything_queued() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let mut cfg = quiet();
    cfg.file.enabled = true;
    cfg.file.keep_alive = true;
    cfg.buffered_outputs = true;
    cfg.file.filename = path.clone();
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let tx = outputs.sender();
    for i in 0..2000 {
        assert!(tx.send(alert(&out, 0, &format!("p{i}"))));
    }
    let st = outputs.shutdown(Duration::from_secs(10));
    assert_eq!(st.received, 2000);
    assert_eq!(sink(&st, "file").delivered, 2000);
    let got = lines(&path);
    assert_eq!(got.len(), 2000);
    assert!(got[1999].ends_with("warn proc=p1999"));
    // After shutdown the handle refuses, without blocking.
    assert!(!tx.send(alert(&out, 0, "late")));
}

#[test]
fn internal_alerts_go_through_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.txt");
    let mut cfg = quiet();
    cfg.file.enabled = true;
    cfg.file.filename = path.clone();
    let out = outputs_for(&cfg);
    let outputs = Outputs::start(cfg).unwrap();
    let a = out.internal(
        "syscall event drop",
        Priority::Critical,
        "Events dropped",
        &[("n_drops", serde_json::json!(3))],
    );
    assert!(outputs.sender().send(a.clone()));
    outputs.shutdown(Duration::from_secs(5));
    assert_eq!(lines(&path), vec![a.text().to_string()]);
    assert!(a.text().ends_with("Critical Events dropped (n_drops=3)"));
}

#[test]
fn bad_configs_are_rejected() {
    let mut cfg = quiet();
    cfg.http.enabled = true;
    assert!(Outputs::start(cfg.clone()).is_err());
    cfg.http.url = "http://127.0.0.1:1/".into();
    cfg.http.ca_cert = Some("/nonexistent/ca.pem".into());
    let e = Outputs::start(cfg).err().unwrap();
    assert!(e.to_string().contains("ca_cert"), "{e}");
}
