//! The subcommands besides the daemon: `capture`, `validate`, `rules list`,
//! `fields list` and `replay`.

use std::io::{BufRead, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use kestrel_engine::event::capfile::{self, CapHeader};
use kestrel_engine::event::{EventType, RawEvent, EVENTS};
use kestrel_engine::fields::json::JsonEvent;
use kestrel_engine::fields::live::LiveEvent;
use kestrel_engine::fields::{render, FieldClass, CATALOG};
use kestrel_engine::matcher::{MatchOptions, RuleSet};
use kestrel_engine::output::{CompiledOutputs, Outputs};
use kestrel_engine::rules::loader::Loader;
use kestrel_engine::rules::report;
use kestrel_engine::state::{boot_to_epoch_offset_ns, scan_proc, Context, ProcessTable};
use kestrel_probe::{Probe, ProbeConfig};

use crate::config::Config;
use crate::settings::Settings;

/// `kestrel capture`.
#[derive(Debug, Args)]
pub struct CaptureArgs {
    /// One JSON object per event, keyed by Falco field names.
    #[arg(long)]
    json: bool,
    /// Print only events matching this condition (Falco's rule language,
    /// e.g. `evt.type=openat and proc.name=cat`, `proc.pid=42`). Without
    /// one naming them, the calls every process makes all the time (read,
    /// write, futex, poll, mmap, stat, ...) are not captured.
    #[arg(long, value_name = "CONDITION")]
    filter: Option<String>,
    /// Stop after this many seconds.
    #[arg(long, value_name = "SECONDS")]
    duration: Option<f64>,
    /// Also write every captured event to a capture file (kestrel replay
    /// reads it); the /proc snapshot goes first.
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    write: Option<PathBuf>,
    /// Bytes per CPU ring (a power of two).
    #[arg(long, default_value_t = 8 << 20)]
    ring_size: usize,
    /// Print nothing (with -w: only write the file).
    #[arg(short, long)]
    quiet: bool,
}

/// `kestrel validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Rules files, validated in order into one collection.
    #[arg(short = 'r', long = "rules", value_name = "FILE", required = true)]
    rules: Vec<PathBuf>,
    /// Falco's JSON result.
    #[arg(long)]
    json: bool,
}

/// `kestrel rules ...`.
#[derive(Debug, Subcommand)]
pub enum RulesCommand {
    /// Describe the loaded rules (like `falco -L`, or `-l RULE`).
    List(RulesListArgs),
}

/// `kestrel rules list`.
#[derive(Debug, Args)]
pub struct RulesListArgs {
    /// Rules files or directories (default: the configured or embedded rules).
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// JSON output.
    #[arg(long)]
    json: bool,
    /// Describe only this rule.
    #[arg(short = 'l', value_name = "RULE")]
    rule: Option<String>,
}

/// `kestrel fields ...`.
#[derive(Debug, Subcommand)]
pub enum FieldsCommand {
    /// The field catalogue (like `falco --list`).
    List(FieldsListArgs),
}

/// `kestrel fields list`.
#[derive(Debug, Args)]
pub struct FieldsListArgs {
    /// JSON output (same as --format json).
    #[arg(long)]
    json: bool,
    /// text, markdown or json.
    #[arg(long, default_value = "text")]
    format: String,
    /// Only field names, one per line.
    #[arg(short = 'N')]
    names: bool,
}

/// `kestrel replay`.
#[derive(Debug, Args)]
pub struct ReplayArgs {
    /// JSON alerts (same as -o json_output=true).
    #[arg(long)]
    json: bool,
    /// Rules files or directories (default: the configured or embedded rules).
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Configuration file.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Override a configuration key.
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// A capture file written by `kestrel capture -w`, or a JSON-lines
    /// event file (one object per line, keys are Falco field names).
    file: PathBuf,
}

/// Compiles a `--filter` condition through the rule loader, so it gets the
/// whole language and the same error reports as rules.
fn compile_filter(cond: &str) -> Result<RuleSet> {
    let mut body = String::from("- rule: capture filter\n  desc: capture filter\n  output: x\n  priority: debug\n  condition: |-\n");
    for line in cond.lines() {
        body.push_str("    ");
        body.push_str(line);
        body.push('\n');
    }
    let mut loader = Loader::new();
    let r = loader.load_str("--filter", &body);
    if !r.successful() {
        let msgs: Vec<String> = r.errors.iter().map(|d| d.message.clone()).collect();
        bail!("invalid --filter '{cond}': {}", msgs.join("; "));
    }
    RuleSet::build(loader.rules(), &MatchOptions::default()).context("building the filter")
}

/// `kestrel capture`.
pub fn capture(a: CaptureArgs) -> Result<ExitCode> {
    crate::init_logging(log::LevelFilter::Warn);
    let filter = a.filter.as_deref().map(compile_filter).transpose()?;
    let types: Vec<EventType> = match &filter {
        Some(f) if !f.event_types().is_all() => {
            let set = f.event_types();
            let mut v: Vec<EventType> = EVENTS
                .iter()
                .map(|e| e.ty)
                .filter(|t| set.contains(*t) || crate::daemon::is_state_event(*t))
                .filter(|t| *t != EventType::PROCINFO)
                .collect();
            v.sort();
            v
        }
        // Without a filter naming them, not the calls every process makes
        // all the time (read, write, futex, ...): see HIGH_VOLUME.
        _ => kestrel_probe::events::all_but_high_volume(),
    };
    let ctx = Context::system().context("reading users, host name and containers")?;
    let table = ProcessTable::new(262_144);
    let mut probe = Probe::load(ProbeConfig {
        ring_size: a.ring_size,
        event_types: types,
        ..ProbeConfig::default()
    })
    .context("loading the eBPF probe")?;
    let snapshot = scan_proc(Path::new("/proc")).context("scanning /proc")?;
    let mut writer = match &a.write {
        Some(p) => {
            let h = CapHeader::new(
                kestrel_engine::state::system_hostname(),
                boot_to_epoch_offset_ns(),
                kestrel_engine::output::time::now_epoch_ns(),
            );
            let mut w = capfile::Writer::create(p, &h)
                .with_context(|| format!("creating capture file {}", p.display()))?;
            for rec in &snapshot {
                w.write_record(rec)?;
            }
            Some(w)
        }
        None => None,
    };
    for rec in &snapshot {
        if let Ok(ev) = RawEvent::parse(rec) {
            table.apply(&ev);
        }
    }
    let mut readers = probe.readers().context("opening the ring buffers")?;
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        signal_hook::flag::register(sig, Arc::clone(&stop))
            .context("installing signal handlers")?;
    }
    let deadline = a
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut evt_num = 0u64;
    let mut matches = Vec::new();
    let mut io_error: Option<std::io::Error> = None;
    let mut idle = 0u32;
    let mut draining = false;
    loop {
        if !draining
            && (stop.load(Ordering::Relaxed) || deadline.is_some_and(|d| Instant::now() >= d))
        {
            draining = true;
        }
        let mut n = 0;
        // Poll the rings in batches; records of one batch are handled in
        // ring order, which is time order per CPU.
        for r in readers.iter_mut() {
            n += r.poll(4096, |rec| {
                let Ok(ev) = RawEvent::parse(rec) else { return };
                if let Some(w) = writer.as_mut() {
                    if let Err(e) = w.write_record(rec) {
                        io_error.get_or_insert(e);
                    }
                }
                table.apply(&ev);
                evt_num += 1;
                if a.quiet {
                    return;
                }
                let le = LiveEvent::new(ev, &table, &ctx, evt_num);
                if let Some(f) = &filter {
                    matches.clear();
                    f.matches(ev.ty(), ev.info.name, &le, &mut matches);
                    if matches.is_empty() {
                        return;
                    }
                }
                let line = if a.json {
                    render::to_json_line(&le)
                } else {
                    render::text_line(&le)
                };
                if let Err(e) = writeln!(out, "{line}") {
                    io_error.get_or_insert(e);
                }
            });
        }
        if let Some(e) = io_error.take() {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                break;
            }
            return Err(anyhow!(e).context("writing events"));
        }
        if n == 0 {
            if draining {
                break;
            }
            out.flush().ok();
            idle = idle.saturating_add(1);
            std::thread::sleep(Duration::from_micros(if idle < 10 { 100 } else { 2000 }));
        } else {
            idle = 0;
        }
        if draining && n == 0 {
            break;
        }
        if draining {
            // Stop the kernel side once; what is in the rings still drains.
            probe.set_event_types(&[]).ok();
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(anyhow!(e).context("writing events"));
        }
    }
    drop(out);
    let counters = probe.counters().context("reading the probe counters")?;
    if let Some(w) = writer.take() {
        let records = w.records();
        w.finish().context("finishing the capture file")?;
        eprintln!(
            "kestrel: wrote {records} records to {}",
            a.write
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    eprintln!("kestrel: per-CPU counters (seen, sent, dropped):");
    let (mut ts, mut tn, mut td) = (0, 0, 0);
    for (cpu, c) in counters.iter().enumerate() {
        eprintln!(
            "  cpu {cpu}: seen {} sent {} dropped {}",
            c.total_seen(),
            c.total_sent(),
            c.total_dropped()
        );
        ts += c.total_seen();
        tn += c.total_sent();
        td += c.total_dropped();
    }
    eprintln!("  total: seen {ts} sent {tn} dropped {td}");
    Ok(ExitCode::SUCCESS)
}

/// `kestrel validate`.
pub fn validate(a: ValidateArgs) -> Result<ExitCode> {
    crate::init_logging(log::LevelFilter::Warn);
    let files =
        kestrel_engine::rules::loader::expand_rule_paths(&a.rules).map_err(|e| anyhow!(e))?;
    if files.is_empty() {
        bail!(
            "no rules files (*.yaml, *.yml) in {}",
            crate::daemon::describe_paths(&a.rules)
        );
    }
    let rep = report::validate(&files);
    if a.json {
        println!("{}", rep.render_json());
    } else {
        print!("{}", rep.render_text());
        for r in &rep.results {
            if !r.warnings.is_empty() && r.successful() {
                eprint!("{}", report::warnings_text(r));
            }
        }
        println!();
        for r in &rep.results {
            println!("{}: {}", r.name, report::counts_line(r));
        }
    }
    Ok(if rep.ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Rules for `rules list` / `replay`: `-r` files, else the configuration's
/// `rules_files`, else the embedded rules.
fn settings_for(config: Option<&Path>, options: &[String], rules: &[PathBuf]) -> Result<Settings> {
    let cfg = Config::load(config, options, &mut |w| log::warn!("{w}"))?;
    Settings::from_config(&cfg, rules)
}

/// `kestrel rules list`.
pub fn rules_list(a: RulesListArgs) -> Result<ExitCode> {
    crate::init_logging(log::LevelFilter::Warn);
    let s = settings_for(a.config.as_deref(), &[], &a.rules)?;
    let loaded = crate::rulesrc::load(&s.rules_files)?;
    match &a.rule {
        Some(name) => match report::describe_rule(&loaded.loader, name, a.json) {
            Ok(t) => print!("{t}"),
            Err(e) => bail!("{e}"),
        },
        None => {
            if a.json {
                println!("{}", report::list_rules_json(&loaded.loader));
            } else {
                print!("{}", report::list_rules_text(&loaded.rules));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `kestrel fields list`.
pub fn fields_list(a: FieldsListArgs) -> Result<ExitCode> {
    let format = if a.json { "json" } else { a.format.as_str() };
    print_fields(format, a.names)
}

/// The field catalogue in `format` (text, markdown or json), or only the
/// names (`-N`): `kestrel fields list` and `kestrel --list`. kestrel has
/// one event source, syscall, so every class belongs to it.
pub fn print_fields(format: &str, names: bool) -> Result<ExitCode> {
    let classes = [
        FieldClass::Evt,
        FieldClass::Process,
        FieldClass::Thread,
        FieldClass::Fd,
        FieldClass::FsPath,
        FieldClass::User,
        FieldClass::Group,
        FieldClass::Container,
        FieldClass::K8s,
    ];
    let shown =
        |d: &&kestrel_engine::fields::FieldDef| !d.has(kestrel_engine::fields::flag::HIDDEN);
    let display = |d: &kestrel_engine::fields::FieldDef| match d.arg {
        kestrel_engine::fields::ArgKind::None => d.name.to_string(),
        kestrel_engine::fields::ArgKind::Param => format!("{}.<name>", d.name),
        _ => format!("{}[...]", d.name),
    };
    match (format, names) {
        ("json", true) => {
            let names: Vec<String> = CATALOG
                .iter()
                .filter(shown)
                .filter(|d| !d.has(kestrel_engine::fields::flag::DEPRECATED))
                .map(display)
                .collect();
            println!("{}", serde_json::json!({ "fieldnames": names }));
        }
        (_, true) => {
            for d in CATALOG
                .iter()
                .filter(shown)
                .filter(|d| !d.has(kestrel_engine::fields::flag::DEPRECATED))
            {
                println!("{}", display(d));
            }
        }
        ("json", false) => {
            let cls: Vec<serde_json::Value> = classes
                .iter()
                .map(|c| {
                    let (name, desc) = c.describe();
                    let fields: Vec<serde_json::Value> = CATALOG
                        .iter()
                        .filter(|d| d.class == *c)
                        .filter(shown)
                        .map(|d| {
                            serde_json::json!({
                                "name": display(d),
                                "type": d.ty.falco_name(),
                                "desc": d.desc,
                                "filter_only": d.has(kestrel_engine::fields::flag::FILTER_ONLY),
                                "deprecated": d.has(kestrel_engine::fields::flag::DEPRECATED),
                            })
                        })
                        .collect();
                    serde_json::json!({ "name": name, "desc": desc, "event_sources": ["syscall"], "fields": fields })
                })
                .collect();
            let unavailable: Vec<serde_json::Value> = kestrel_engine::fields::UNAVAILABLE
                .iter()
                .map(|(n, r)| serde_json::json!({ "name": n, "reason": r }))
                .collect();
            println!(
                "{}",
                serde_json::json!({ "fieldclasses": cls, "unavailable": unavailable })
            );
        }
        ("markdown", false) => {
            for c in classes {
                let (name, desc) = c.describe();
                println!("## Field Class: {name}\n\n{desc}\n\nEvent Sources: syscall\n");
                println!("Name | Type | Description\n:----|:-----|:-----------");
                for d in CATALOG.iter().filter(|d| d.class == c).filter(shown) {
                    println!("`{}` | {} | {}", display(d), d.ty.falco_name(), d.desc);
                }
                println!();
            }
            println!("## Unavailable\n\nFalco 0.44 fields kestrel does not provide; a rule that uses one fails to load with the reason.\n");
            println!("Name | Reason\n:----|:-----");
            for (n, r) in kestrel_engine::fields::UNAVAILABLE {
                println!("`{n}` | {r}");
            }
            println!();
        }
        ("text", false) => {
            for c in classes {
                let (name, desc) = c.describe();
                println!("{}", "-".repeat(31));
                println!("{:<30}{name}", "Field Class:");
                println!("{:<30}{desc}", "Description:");
                println!("{:<30}syscall", "Event Sources:");
                println!();
                for d in CATALOG.iter().filter(|d| d.class == c).filter(shown) {
                    let text = format!("{} {}", d.ty.falco_name(), d.desc);
                    println!(
                        "{:<30}{}",
                        display(d),
                        report::wrap_text(&text, 30, 110).trim_end()
                    );
                }
                println!();
            }
            println!("{}", "-".repeat(31));
            println!("{:<30}unavailable", "Field Class:");
            println!(
                "{:<30}Falco 0.44 fields kestrel does not provide; a rule that uses one fails to load with the reason.",
                "Description:"
            );
            println!();
            for (n, r) in kestrel_engine::fields::UNAVAILABLE {
                let text = format!("UNAVAILABLE {r}");
                println!("{n:<30}{}", report::wrap_text(&text, 30, 110).trim_end());
            }
            println!();
        }
        (other, _) => bail!("unknown format '{other}' (text, markdown, json)"),
    }
    Ok(ExitCode::SUCCESS)
}

/// `kestrel replay`.
pub fn replay(a: ReplayArgs) -> Result<ExitCode> {
    let mut options = a.options.clone();
    if a.json {
        options.push("json_output=true".into());
    }
    let mut s = settings_for(a.config.as_deref(), &options, &a.rules)?;
    crate::init_logging(s.log_level);
    // Replay prints to stdout only, exactly as the daemon's stdout output.
    s.outputs.stdout.enabled = true;
    s.outputs.syslog.enabled = false;
    let loaded = crate::rulesrc::load(&s.rules_files)?;
    let ruleset = RuleSet::build(&loaded.rules, &s.match_opts).context("building the matcher")?;
    let (compiled, _) =
        CompiledOutputs::compile(&loaded.rules, &s.outputs).context("compiling rule outputs")?;
    let outputs = Outputs::start(s.outputs.clone()).context("starting the outputs")?;
    let engine = kestrel_engine::pipeline::worker::Engine::new(
        ruleset,
        compiled,
        &loaded.rules,
        outputs.sender(),
        1,
    );
    let mut head = [0u8; 8];
    let n = std::fs::File::open(&a.file)
        .and_then(|mut f| std::io::Read::read(&mut f, &mut head))
        .with_context(|| format!("reading {}", a.file.display()))?;
    let stats = if n == 8 && head == capfile::MAGIC {
        replay_capture(&a.file, &engine)?
    } else {
        replay_json(&a.file, &engine)?
    };
    let st = outputs.shutdown(Duration::from_secs(10));
    eprintln!(
        "kestrel: replayed {} events ({} unreadable), {} alerts",
        stats.0, stats.1, st.received
    );
    Ok(if stats.1 > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn alert<'e>(
    engine: &'e kestrel_engine::pipeline::worker::Engine,
    e: &dyn kestrel_engine::fields::Extract,
    ty: EventType,
    name: &str,
    ts: u64,
    out: &mut Vec<&'e kestrel_engine::rules::Rule>,
) {
    out.clear();
    engine.ruleset.matches(ty, name, e, out);
    for r in out.iter() {
        if let Some(id) = engine.rule_id(r) {
            if let Some(a) = engine.outputs.render(id, e, ts) {
                engine.sender.send(a);
            }
        }
    }
}

fn replay_capture(
    path: &Path,
    engine: &kestrel_engine::pipeline::worker::Engine,
) -> Result<(u64, u64)> {
    let mut reader =
        capfile::Reader::open(path).with_context(|| format!("opening {}", path.display()))?;
    let h = reader.header().clone();
    let ctx = Context::replay(h.hostname.clone(), h.boot_to_epoch_ns);
    let table = ProcessTable::new(262_144);
    let (mut n, mut bad, mut seq) = (0u64, 0u64, 0u64);
    let mut out = Vec::new();
    while let Some(r) = reader.next_record() {
        let rec = match r {
            Ok(r) => r,
            Err(e) => {
                bad += 1;
                log::warn!("{}: {e}", path.display());
                continue;
            }
        };
        let ev = match RawEvent::parse(rec.bytes) {
            Ok(ev) => ev,
            Err(e) => {
                bad += 1;
                log::warn!("{}: record at byte {}: {e}", path.display(), rec.offset);
                continue;
            }
        };
        table.apply(&ev);
        if ev.ty() == EventType::PROCINFO {
            continue;
        }
        n += 1;
        seq += 1;
        if engine.wants(ev.ty()) {
            let le = LiveEvent::new(ev, &table, &ctx, seq);
            alert(engine, &le, ev.ty(), ev.info.name, ev.hdr.ts_ns, &mut out);
        }
    }
    Ok((n, bad))
}

fn replay_json(
    path: &Path,
    engine: &kestrel_engine::pipeline::worker::Engine,
) -> Result<(u64, u64)> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let (mut n, mut bad) = (0u64, 0u64);
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(f).lines().enumerate() {
        let line = line.with_context(|| format!("reading {}", path.display()))?;
        if line.trim().is_empty() {
            continue;
        }
        let ev = match JsonEvent::parse_numbered(&line, i + 1) {
            Ok(ev) => ev,
            Err(e) => {
                bad += 1;
                eprintln!("kestrel: {}: {e}", path.display());
                continue;
            }
        };
        n += 1;
        let name = ev.evt_type().to_string();
        let ty = EventType::from_name(&name).unwrap_or_default();
        alert(engine, &ev, ty, &name, 0, &mut out);
    }
    Ok((n, bad))
}
