//! A fake kestrel daemon for reconciliation tests: serves /track,
//! /untrack and /metrics on loopback with tiny_http, and renders tracked
//! counts the way the real tracker would see the load generator's own
//! scrapes, plus a scripted workload.
#![allow(dead_code)] // each test binary uses a different part

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// What the fake reports.
#[derive(Debug, Clone)]
pub struct Script {
    /// Event types it says it traces.
    pub traced: Vec<&'static str>,
    /// (rel, type, count) added from scrape `after_from` on.
    pub workload: Vec<(&'static str, &'static str, u64)>,
    /// First scrape (1-based, counted from /track) that includes the
    /// workload. The load generator's baseline settles on scrape 2 when
    /// nothing lags, so 3 is the first scrape after the run.
    pub after_from: u64,
    /// Scrape at which only this share of the workload is visible yet.
    pub lag: Option<(u64, f64)>,
    /// Kernel drops that appear after the run.
    pub kernel_drops_after: u64,
    /// Status of /track.
    pub track_status: u16,
    /// Bump a self openat counter on every scrape (never settles).
    pub restless: bool,
    /// Export the traced-types gauges.
    pub export_traced: bool,
    /// `kestrel_alerts_total` series: (rule, alerts before the run,
    /// alerts added from scrape `after_from` on).
    pub alerts: Vec<(String, u64, u64)>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            traced: vec!["openat", "close", "socket", "connect", "clone", "execve"],
            workload: Vec::new(),
            after_from: 3,
            lag: None,
            kernel_drops_after: 0,
            track_status: 200,
            restless: false,
            export_traced: true,
            alerts: Vec::new(),
        }
    }
}

/// What the fake saw.
#[derive(Debug, Default, Clone)]
pub struct Seen {
    pub tracked: Option<u32>,
    pub untracked: Vec<u32>,
    pub scrapes: u64,
}

pub struct FakeDaemon {
    pub url: String,
    seen: Arc<Mutex<Seen>>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDaemon {
    pub fn start(script: Script) -> FakeDaemon {
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind"));
        let url = format!("http://{}", server.server_addr().to_ip().expect("ip"));
        let seen = Arc::new(Mutex::new(Seen::default()));
        let (s2, seen2) = (Arc::clone(&server), Arc::clone(&seen));
        let thread = std::thread::spawn(move || {
            for req in s2.incoming_requests() {
                let url = req.url().to_string();
                let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                let tgid: Option<u32> = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("tgid="))
                    .and_then(|v| v.parse().ok());
                let (code, body) = {
                    let mut st = seen2.lock().unwrap();
                    match (req.method(), path) {
                        (tiny_http::Method::Post, "/track") => {
                            if script.track_status == 200 {
                                st.tracked = tgid;
                                st.scrapes = 0;
                            }
                            (script.track_status, "{}".to_string())
                        }
                        (tiny_http::Method::Post, "/untrack") => {
                            st.untracked.extend(tgid);
                            (200, "{}".to_string())
                        }
                        (tiny_http::Method::Get, "/metrics") => {
                            if st.tracked.is_some() {
                                st.scrapes += 1;
                            }
                            (200, render(&script, &st))
                        }
                        _ => (404, "not found".to_string()),
                    }
                };
                let resp = tiny_http::Response::from_string(body).with_status_code(code);
                // The client may have gone away; nothing to do about it.
                drop(req.respond(resp));
            }
        });
        FakeDaemon {
            url,
            seen,
            server,
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Seen {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            t.join().expect("fake daemon thread");
        }
    }
}

fn render(script: &Script, st: &Seen) -> String {
    let mut out = String::new();
    if script.export_traced {
        for t in &script.traced {
            writeln!(out, "kestrel_traced_event_types{{type=\"{t}\"}} 1").unwrap();
        }
        writeln!(out, "kestrel_traced_event_types{{type=\"getppid\"}} 0").unwrap();
    }
    let n = st.scrapes;
    if let Some(tgid) = st.tracked {
        let mut counts: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        // Scrape k's socket and connect happen before its render; the
        // closes of /track and of scrapes 1..k-1 happen before it too.
        for ty in ["socket", "connect", "close"] {
            if script.traced.contains(&ty) {
                *counts.entry(("self", ty)).or_default() += n;
            }
        }
        if n >= script.after_from {
            let share = match script.lag {
                Some((at, s)) if at == n => s,
                _ => 1.0,
            };
            for (rel, ty, c) in &script.workload {
                *counts.entry((rel, ty)).or_default() += (*c as f64 * share) as u64;
            }
        }
        if script.restless {
            *counts.entry(("self", "openat")).or_default() += n;
        }
        // Another process's counts must be ignored.
        writeln!(
            out,
            "kestrel_tracked_events_total{{tgid=\"{}\",rel=\"self\",type=\"openat\"}} 12345",
            tgid + 1
        )
        .unwrap();
        for ((rel, ty), c) in counts {
            writeln!(
                out,
                "kestrel_tracked_events_total{{tgid=\"{tgid}\",rel=\"{rel}\",type=\"{ty}\"}} {c}"
            )
            .unwrap();
        }
    }
    let after = n >= script.after_from;
    for (rule, before, added) in &script.alerts {
        let v = before + if after { *added } else { 0 };
        writeln!(
            out,
            "kestrel_alerts_total{{rule=\"{rule}\",priority=\"Notice\"}} {v}"
        )
        .unwrap();
    }
    let drops = 7 + if after { script.kernel_drops_after } else { 0 };
    writeln!(out, "# TYPE kestrel_kernel_events_dropped_total counter").unwrap();
    writeln!(
        out,
        "kestrel_kernel_events_dropped_total{{cpu=\"0\",category=\"file\"}} {drops}"
    )
    .unwrap();
    writeln!(
        out,
        "kestrel_kernel_events_dropped_total{{cpu=\"1\",category=\"file\"}} 0"
    )
    .unwrap();
    writeln!(
        out,
        "kestrel_worker_deferred_dropped_total{{worker=\"0\"}} 0"
    )
    .unwrap();
    writeln!(
        out,
        "kestrel_worker_decode_errors_total{{worker=\"0\",reason=\"truncated\"}} 0"
    )
    .unwrap();
    writeln!(
        out,
        "kestrel_process_cpu_seconds_total {}",
        1.0 + n as f64 * 0.25
    )
    .unwrap();
    writeln!(out, "kestrel_process_resident_memory_bytes 40000000").unwrap();
    for (q, v) in [
        ("0.5", "0.00001"),
        ("0.9", "0.00002"),
        ("0.99", "0.00005"),
        ("0.999", "0.0001"),
        ("1", "0.002"),
    ] {
        writeln!(out, "kestrel_event_latency_seconds{{quantile=\"{q}\"}} {v}").unwrap();
    }
    out
}
