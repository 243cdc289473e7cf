//! Loads the probe and prints every decoded record for a few seconds:
//! `probe_dump [seconds] [all|default]`. A debugging aid, not the CLI.

use std::time::{Duration, Instant};

use kestrel_event::ParamKind;
use kestrel_probe::{events, Backoff, Probe, ProbeConfig, RawEvent};

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(3);
    let all = args.get(2).map(|s| s == "all").unwrap_or(false);
    let cfg = ProbeConfig {
        event_types: if all {
            events::all_kernel()
        } else {
            events::falco_stable_with_state()
        },
        ..ProbeConfig::default()
    };
    let t0 = Instant::now();
    let mut probe = Probe::load(cfg)?;
    eprintln!("loaded in {:?}", t0.elapsed());
    let mut readers = probe.readers()?;
    let end = Instant::now() + Duration::from_secs(secs);
    let mut backoff = Backoff::default();
    while Instant::now() < end {
        let mut got = 0;
        for r in readers.iter_mut() {
            got += r.poll(4096, |rec| match RawEvent::parse(rec) {
                Ok(ev) => {
                    let comm = String::from_utf8_lossy(ev.comm());
                    let mut line = format!(
                        "cpu{} {} tid={} tgid={} ptgid={} comm={} ret={} gen={}",
                        ev.hdr.cpu,
                        ev.info.name,
                        ev.hdr.tid,
                        ev.hdr.tgid,
                        ev.hdr.ptgid,
                        comm,
                        ev.hdr.ret,
                        ev.hdr.exec_gen
                    );
                    for (i, p) in ev.info.params.iter().enumerate() {
                        line.push_str(&format!(" {}={}", p.name, render(&ev, i, p.kind)));
                    }
                    println!("{line}");
                }
                Err(e) => println!("decode error: {e}"),
            });
        }
        backoff.pause(got);
    }
    println!("{:?}", probe.counters_total()?);
    Ok(())
}

fn render(ev: &RawEvent<'_>, i: usize, kind: ParamKind) -> String {
    let b = ev.param(i);
    match kind {
        ParamKind::FdInfo => match ev.param_fdinfo(i) {
            Some((fi, path)) => format!(
                "{{fd={} kind={} {:?} path={:?}}}",
                fi.fd,
                fi.kind as char,
                fi.tuple,
                String::from_utf8_lossy(path)
            ),
            None => "-".into(),
        },
        ParamKind::SockAddr => match ev.param_sockaddr(i) {
            Some(t) => format!("{t:?}"),
            None => "-".into(),
        },
        ParamKind::StrList | ParamKind::Path | ParamKind::RelPath { .. } | ParamKind::Str => {
            format!("{:?}", String::from_utf8_lossy(b).replace('\0', " "))
        }
        ParamKind::Bytes => format!("{} bytes", b.len()),
        _ => match ev.param_i64(i) {
            Some(v) => v.to_string(),
            None => format!("<{} bytes>", b.len()),
        },
    }
}
