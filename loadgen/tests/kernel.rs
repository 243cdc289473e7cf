//! Reconciliation against the real kernel.
//!
//! A minimal daemon made of kestrel's own parts: the eBPF probe capturing
//! every event type it knows, one reader thread feeding the engine's
//! `Tracker`, and the engine's web server with the metrics the load
//! generator reads. Every scenario must then reconcile exactly: each
//! traced syscall the load generator issued was emitted by the kernel
//! once, and it issued nothing traced that it did not count.
//!
//! Needs root (BPF) and the feature:
//! `cargo test -p kestrel-loadgen --features kernel-tests --test kernel`

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use kestrel_engine::event::wire::Category;
use kestrel_engine::pipeline::http::{TrackToken, WebServer};
use kestrel_engine::pipeline::metrics::{DecodeFailure, PipelineMetrics, PromWriter};
use kestrel_loadgen::ledger::Sys;
use kestrel_probe::{events, Backoff, Probe, ProbeConfig, RawEvent};
use serde_json::Value;

struct MiniDaemon {
    url: String,
    /// The file holding the POST /track token (removed on drop).
    token_file: std::path::PathBuf,
    stop: Arc<AtomicBool>,
    reader: Option<JoinHandle<()>>,
    web: Option<WebServer>,
}

impl MiniDaemon {
    fn start() -> MiniDaemon {
        // SAFETY: geteuid has no preconditions.
        assert_eq!(unsafe { libc::geteuid() }, 0, "the kernel test needs root");
        // The event types the ledger reconciles, hooked as a daemon whose
        // rules named them would hook them. Not every type kestrel can
        // capture: the load generator's own runtime (brk, futex, mmap,
        // setsockopt of its HTTP client, ...) is not in its ledger, and
        // neither is its incidental I/O (read, write of its output).
        let types: Vec<_> = events::all_kernel()
            .into_iter()
            .filter(|t| {
                Sys::from_name(t.name()).is_some_and(|s| !matches!(s, Sys::Read | Sys::Write))
            })
            .collect();
        let mut probe = Probe::load(ProbeConfig {
            event_types: types.clone(),
            ..ProbeConfig::default()
        })
        .expect("load the probe");
        let mut readers = probe.readers().expect("ring readers");
        let probe = Arc::new(Mutex::new(probe));
        let metrics = Arc::new(PipelineMetrics::new(1));
        let stop = Arc::new(AtomicBool::new(false));
        let (m2, s2) = (Arc::clone(&metrics), Arc::clone(&stop));
        let reader = std::thread::spawn(move || {
            let w = &m2.workers[0];
            let mut track = kestrel_engine::pipeline::metrics::TrackerView::new(0);
            let mut backoff = Backoff::default();
            while !s2.load(Ordering::Relaxed) {
                let mut got = 0;
                for r in readers.iter_mut() {
                    got += r.poll(4096, |rec| {
                        w.records.inc();
                        match RawEvent::parse(rec) {
                            Ok(ev) => {
                                track.observe(&m2.tracker, ev.hdr.tgid, ev.hdr.ptgid, ev.info.ty.0);
                                w.processed.inc();
                            }
                            Err(_) => w.decode_error(DecodeFailure::BadParams),
                        }
                    });
                }
                backoff.pause(got);
            }
        });
        let (m3, p3) = (Arc::clone(&metrics), Arc::clone(&probe));
        let render = move || {
            let mut w = PromWriter::new();
            for t in &types {
                w.gauge(
                    "kestrel_traced_event_types",
                    "Event types captured.",
                    &[("type", t.name())],
                    1.0,
                );
            }
            m3.render(&mut w);
            let counters = p3.lock().unwrap().counters().expect("probe counters");
            for (cpu, c) in counters.iter().enumerate() {
                let cpu = cpu.to_string();
                for cat in Category::ALL {
                    let l = [("cpu", cpu.as_str()), ("category", cat.name())];
                    let i = cat as usize;
                    w.counter("kestrel_kernel_events_seen_total", "Seen.", &l, c.seen[i]);
                    w.counter("kestrel_kernel_events_sent_total", "Sent.", &l, c.sent[i]);
                    w.counter(
                        "kestrel_kernel_events_dropped_total",
                        "Dropped.",
                        &l,
                        c.dropped[i],
                    );
                }
            }
            w.finish()
        };
        let token = format!("kernel-test-{}-{:x}", std::process::id(), {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            t.as_nanos()
        });
        let token_file = std::env::temp_dir().join(format!(
            "kestrel-loadgen-kernel-{}.token",
            std::process::id()
        ));
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&token_file)
                .expect("create the token file");
            writeln!(f, "{token}").expect("write the token");
        }
        let web = WebServer::start(
            "127.0.0.1:0",
            "/healthz",
            Arc::new(AtomicBool::new(true)),
            Arc::clone(&metrics.tracker),
            Arc::new(render),
            TrackToken::new(&token),
        )
        .expect("web server");
        MiniDaemon {
            url: format!("http://{}", web.addr()),
            token_file,
            stop,
            reader: Some(reader),
            web: Some(web),
        }
    }
}

impl Drop for MiniDaemon {
    fn drop(&mut self) {
        std::fs::remove_file(&self.token_file).ok();
        drop(self.web.take());
        self.stop.store(true, Ordering::Relaxed);
        if let Some(r) = self.reader.take() {
            r.join().expect("reader thread");
        }
    }
}

fn loadgen(d: &MiniDaemon, args: &[&str]) -> (Option<i32>, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_kestrel-loadgen"))
        .args(["run", "--daemon", &d.url, "--json", "-q"])
        .arg("--daemon-token-file")
        .arg(&d.token_file)
        .args(args)
        .output()
        .expect("spawn kestrel-loadgen");
    let text = String::from_utf8_lossy(&out.stdout);
    let v: Value = serde_json::from_str(text.trim()).unwrap_or_else(|e| {
        panic!(
            "{e}: {text}\nstderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

#[test]
fn every_scenario_reconciles_with_the_kernel() {
    let d = MiniDaemon::start();
    let runs: &[&[&str]] = &[
        &["-s", "open", "-t", "2", "--ops", "20000"],
        &["-s", "open", "-t", "2", "--rate", "20k", "-d", "1"],
        &["-s", "connect", "-t", "2", "--ops", "2000"],
        &["-s", "exec", "-t", "2", "--ops", "200"],
        &["-s", "getppid", "-t", "2", "--ops", "50000"],
        &["-s", "mixed", "-t", "2", "--pin", "--ops", "2000"],
        &["-s", "trigger", "-t", "2"],
        &["-s", "iouring", "-t", "2", "--ops", "6000"],
    ];
    let mut failures = Vec::new();
    for args in runs {
        let (code, v) = loadgen(&d, args);
        let ok = code == Some(0) && v["passed"] == Value::Bool(true);
        eprintln!(
            "{args:?}: exit {code:?} passed {} issued {} observed {} dropped {}",
            v["passed"], v["issued"], v["observed"], v["dropped"]
        );
        if !ok {
            let bad: Vec<&Value> = v["per_type"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|r| r["status"] == "lost" || r["status"] == "surplus")
                        .collect()
                })
                .unwrap_or_default();
            failures.push(format!(
                "{args:?}: exit {code:?}, rows {bad:?}, warnings {}, errors {}",
                v["warnings"], v["errors"]
            ));
        }
        // Something must actually have been checked.
        assert!(v["issued"].as_u64().unwrap_or(0) > 0, "{args:?}: {v}");
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
