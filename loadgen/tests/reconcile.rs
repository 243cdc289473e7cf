//! Reconciliation end to end against a fake daemon on loopback: the real
//! runner, the real scrape client and settle logic, scripted counts.

mod common;

use std::time::Duration;

use common::{FakeDaemon, Script};
use kestrel_loadgen::reconcile::Status;
use kestrel_loadgen::runner::{run, RunConfig, RunError};
use kestrel_loadgen::scenario::Scenario;

const OPS: u64 = 40;

fn config(url: &str) -> RunConfig {
    let mut c = RunConfig::new(Scenario::Open);
    c.threads = 2;
    c.duration = None;
    c.ops = Some(OPS);
    c.daemon = Some(url.to_string());
    c.settle_timeout = Duration::from_secs(3);
    c.quiet_gap = Duration::from_millis(5);
    c
}

fn open_workload(openat: u64) -> Vec<(&'static str, &'static str, u64)> {
    vec![("self", "openat", openat), ("self", "close", OPS)]
}

#[test]
fn exact_counts_pass_and_scrapes_are_accounted_for() {
    let fake = FakeDaemon::start(Script {
        workload: open_workload(OPS),
        ..Script::default()
    });
    let rep = run(&config(&fake.url)).expect("run");
    assert_eq!(rep.passed, Some(true), "{}", rep.human());
    assert_eq!(rep.lost, Some(0));
    assert_eq!(rep.dropped, Some(0));
    let row = |ty: &str| {
        rep.per_type
            .iter()
            .find(|r| r.ty == ty && r.rel == "self")
            .unwrap_or_else(|| panic!("no {ty} row"))
            .clone()
    };
    assert_eq!(row("openat").issued, Some(OPS));
    assert_eq!(row("openat").observed, Some(OPS));
    // The scrape client's own socket/connect/close between the baseline
    // and the final scrape are issued and observed too.
    let sock = row("socket");
    assert!(sock.issued.unwrap() >= 2, "{sock:?}");
    assert_eq!(sock.issued, sock.observed);
    let close = row("close");
    assert_eq!(close.issued.unwrap(), OPS + sock.issued.unwrap());
    assert_eq!(close.status, Status::Ok);
    // read/write are not traced: filtered, excluded from issued.
    assert_eq!(row("write").status, Status::FilteredInKernel);
    assert_eq!(rep.issued, rep.observed.unwrap());
    assert_eq!(rep.exit_code(), 0);
    assert!(rep.warnings.is_empty(), "{:?}", rep.warnings);
    // Tracked and untracked our own pid.
    let seen = fake.seen();
    assert_eq!(seen.tracked, Some(std::process::id()));
    assert_eq!(seen.untracked, vec![std::process::id()]);
    let d = rep.daemon.expect("daemon stats");
    assert!(d.settled);
    assert_eq!(d.rss_bytes, Some(40_000_000));
    assert!(d.cpu_seconds.unwrap() >= 0.5, "{d:?}");
    assert_eq!(d.event_latency_ns.unwrap().p99, Some(50_000));
}

#[test]
fn a_missing_event_fails_the_run() {
    let fake = FakeDaemon::start(Script {
        workload: open_workload(OPS - 1),
        ..Script::default()
    });
    let rep = run(&config(&fake.url)).expect("run");
    assert_eq!(rep.passed, Some(false));
    assert_eq!(rep.lost, Some(1));
    let openat = rep.per_type.iter().find(|r| r.ty == "openat").unwrap();
    assert_eq!(openat.status, Status::Lost);
    assert_eq!(rep.exit_code(), 1);
}

#[test]
fn an_extra_event_fails_the_run() {
    let fake = FakeDaemon::start(Script {
        workload: open_workload(OPS + 2),
        ..Script::default()
    });
    let rep = run(&config(&fake.url)).expect("run");
    assert_eq!(rep.surplus, Some(2));
    assert_eq!(rep.passed, Some(false));
}

#[test]
fn kernel_drops_fail_the_run() {
    let fake = FakeDaemon::start(Script {
        workload: open_workload(OPS),
        kernel_drops_after: 3,
        ..Script::default()
    });
    let rep = run(&config(&fake.url)).expect("run");
    assert_eq!(rep.lost, Some(0));
    assert_eq!(rep.dropped, Some(3));
    assert_eq!(rep.dropped_detail.unwrap().kernel, 3);
    assert_eq!(rep.passed, Some(false));
    assert_eq!(rep.exit_code(), 1);
}

#[test]
fn in_flight_events_are_waited_for() {
    // The first scrape after the run sees only half the events.
    let fake = FakeDaemon::start(Script {
        workload: open_workload(OPS),
        lag: Some((3, 0.5)),
        ..Script::default()
    });
    let rep = run(&config(&fake.url)).expect("run");
    assert_eq!(rep.passed, Some(true), "{}", rep.human());
    assert!(fake.seen().scrapes >= 5);
}

#[test]
fn untraced_types_are_filtered_not_lost() {
    let fake = FakeDaemon::start(Script {
        traced: vec!["close"],
        workload: vec![("self", "close", OPS)],
        ..Script::default()
    });
    let rep = run(&config(&fake.url)).expect("run");
    let openat = rep.per_type.iter().find(|r| r.ty == "openat").unwrap();
    assert_eq!(openat.status, Status::FilteredInKernel);
    assert_eq!(openat.issued, Some(OPS));
    assert!(rep.filtered_in_kernel.unwrap() >= OPS);
    assert_eq!(rep.passed, Some(true), "{}", rep.human());
}

#[test]
fn a_daemon_that_never_settles_is_reported_not_waited_on_forever() {
    let fake = FakeDaemon::start(Script {
        workload: open_workload(OPS),
        restless: true,
        ..Script::default()
    });
    let mut c = config(&fake.url);
    c.settle_timeout = Duration::from_millis(200);
    let rep = run(&c).expect("run");
    assert!(!rep.daemon.as_ref().unwrap().settled);
    assert!(
        rep.warnings.iter().any(|w| w.contains("did not settle")),
        "{:?}",
        rep.warnings
    );
    assert_eq!(rep.passed, Some(false));
}

#[test]
fn refused_tracking_is_an_error() {
    let fake = FakeDaemon::start(Script {
        track_status: 409,
        ..Script::default()
    });
    match run(&config(&fake.url)) {
        Err(RunError::Daemon(e)) => assert!(e.to_string().contains("409"), "{e}"),
        other => panic!("expected a daemon error, got {other:?}"),
    }
}

#[test]
fn an_unreachable_daemon_is_an_error() {
    // A port nobody listens on: bind, note it, close.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = run(&config(&format!("http://127.0.0.1:{port}"))).unwrap_err();
    assert!(err.to_string().contains("connect"), "{err}");
}
