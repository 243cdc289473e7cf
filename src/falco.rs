//! Falco's command-line flags, beside kestrel's subcommands, so that a
//! script written for `falco` runs unchanged: `-V`, `-L`, `-l`, `--list`,
//! `-N`, `--format`, `--list-events`, `--support`, `--enable-source`,
//! `--disable-source` and `--version` (RULES.md §10).
//!
//! The flags act in upstream's order (falcosecurity/falco
//! `userspace/falco/app/app.cpp`: `--list-events`, configuration,
//! `--version`, `--list`, source selection, `-V`, rules and `-L`/`-l`,
//! `--support`, then the daemon), so a command line with several of them
//! does what Falco would do. Failures print `Error: <message>` on stderr and
//! exit with 1, as upstream's `falco_run` does; an unknown rule for `-l`
//! is upstream's uncaught exception, `Runtime error: ... Exiting.`.
//!
//! The work is the subcommands' (`validate`, `rules list`, `fields list`);
//! this module only maps the flags onto them.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::Args;
use kestrel_engine::event::{flags, EventInfo, FlagSet, ParamKind, RetKind, EVENTS};
use kestrel_engine::rules::loader::{
    expand_rule_paths, CONTAINER_PROVIDER_VERSION, ENGINE_VERSION, KNOWN_SOURCES,
};
use kestrel_engine::rules::report;
use serde_json::{json, Value as Json};

use crate::config::Config;
use crate::settings::Settings;
use crate::RunArgs;

/// Falco's informational flags (each one acts and exits), and its event
/// source selection.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct FalcoFlags {
    /// Validate these rules files and exit: `<file>: Ok`, or `<file>:
    /// Invalid` and the errors (exit 1). Repeatable; each file sees the
    /// earlier ones' lists and macros. With -L or -l, the rules follow.
    #[arg(short = 'V', long = "validate", value_name = "RULES_FILE")]
    validate: Vec<PathBuf>,
    /// Show the name and description of all rules (-r, the configuration's
    /// rules_files, or the embedded rules) and exit; with
    /// `-o json_output=true`, every rule, macro and list in JSON.
    #[arg(short = 'L')]
    describe_all: bool,
    /// Show the name and description of this rule and exit.
    #[arg(short = 'l', value_name = "RULE")]
    describe_rule: Option<String>,
    /// List all fields and exit; `--list=syscall` lists one event source's
    /// (kestrel has one: syscall).
    #[arg(
        long = "list",
        value_name = "SOURCE",
        num_args = 0..=1,
        require_equals = true,
        default_missing_value = ""
    )]
    list: Option<String>,
    /// With --list: only the field names.
    #[arg(short = 'N')]
    names_only: bool,
    /// Output of --list and --list-events: text, markdown or json.
    #[arg(long, value_name = "FORMAT")]
    format: Option<String>,
    /// Deprecated upstream: --format markdown.
    #[arg(long, hide = true)]
    markdown: bool,
    /// List the event types kestrel captures, with their parameters, and
    /// exit.
    #[arg(long = "list-events")]
    list_events: bool,
    /// Print support information (versions, system, command line,
    /// configuration, rules files with their content) as JSON and exit.
    #[arg(long)]
    support: bool,
    /// Enable only this event source (repeatable; kestrel has one:
    /// syscall). Cannot be mixed with --disable-source.
    #[arg(long = "enable-source", value_name = "EVENT_SOURCE")]
    enable_source: Vec<String>,
    /// Turn off this event source (repeatable); turning off every source is
    /// an error.
    #[arg(long = "disable-source", value_name = "EVENT_SOURCE")]
    disable_source: Vec<String>,
    /// Print version information and exit.
    #[arg(long)]
    version: bool,
}

/// Output format of the listings (upstream `output_format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Text,
    Markdown,
    Json,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Markdown => "markdown",
            Format::Json => "json",
        }
    }
}

/// Upstream's exit for a failed step: `Error: <message>` on stderr, 1.
fn fatal(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("Error: {msg}");
    ExitCode::from(1)
}

impl FalcoFlags {
    /// `--format` / `--markdown`, checked when the command line is parsed
    /// upstream, before any flag acts.
    fn format(&self) -> Result<Format, String> {
        if self.markdown && self.format.is_some() {
            return Err("Cannot specify both --markdown and --format options together".into());
        }
        match self.format.as_deref().filter(|f| !f.is_empty()) {
            Some(f) => match f.to_ascii_lowercase().as_str() {
                "text" => Ok(Format::Text),
                "markdown" => Ok(Format::Markdown),
                "json" => Ok(Format::Json),
                _ => Err(format!(
                    "Invalid format '{f}'. Valid values are: text, markdown, json"
                )),
            },
            None if self.markdown => {
                eprintln!("WARNING: --markdown is deprecated, use --format markdown instead.");
                Ok(Format::Markdown)
            }
            None => Ok(Format::Text),
        }
    }

    /// The event sources left enabled (upstream `select_event_sources`).
    fn select_sources(&self) -> Result<BTreeSet<&'static str>, String> {
        let known = |s: &str| KNOWN_SOURCES.iter().copied().find(|k| *k == s);
        if !self.enable_source.is_empty() && !self.disable_source.is_empty() {
            return Err("You can not mix --enable-source and --disable-source".into());
        }
        let mut enabled: BTreeSet<&'static str> = KNOWN_SOURCES.iter().copied().collect();
        if !self.enable_source.is_empty() {
            enabled.clear();
            for s in &self.enable_source {
                let k = known(s)
                    .ok_or_else(|| format!("Attempted enabling an unknown event source: {s}"))?;
                enabled.insert(k);
            }
        } else {
            for s in &self.disable_source {
                let k = known(s)
                    .ok_or_else(|| format!("Attempted disabling an unknown event source: {s}"))?;
                enabled.remove(k);
            }
        }
        if enabled.is_empty() {
            return Err("Must enable at least one event source".into());
        }
        Ok(enabled)
    }
}

/// kestrel without a subcommand: the Falco flags in upstream's order, then
/// the daemon.
pub(crate) fn run(f: &FalcoFlags, args: RunArgs) -> Result<ExitCode> {
    let format = match f.format() {
        Ok(x) => x,
        Err(e) => return Ok(fatal(e)),
    };
    let informational = f.list_events
        || f.version
        || f.list.is_some()
        || !f.validate.is_empty()
        || f.describe_all
        || f.describe_rule.is_some()
        || f.support;
    if informational {
        // `kestrel --list-events | head` ends quietly, as a C program
        // such as falco does, instead of panicking in println!. Only here:
        // the daemon must see EPIPE from its program output, not die.
        // SAFETY: resetting a signal's disposition has no preconditions.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    }
    if let Some(c) = &args.config {
        if std::fs::File::open(c).is_err() {
            return Ok(fatal(format_args!(
                "Could not find configuration file at {}",
                c.display()
            )));
        }
    }
    if f.list_events {
        print_events(format);
        return Ok(ExitCode::SUCCESS);
    }
    let mut warnings = Vec::new();
    let cfg = match Config::load(args.config.as_deref(), &args.options, &mut |w| {
        warnings.push(w)
    }) {
        Ok(c) => c,
        Err(e) => return Ok(fatal(format_args!("{e:#}"))),
    };
    let json_output = match cfg.bool("json_output") {
        Ok(j) => j,
        Err(e) => return Ok(fatal(format_args!("{e:#}"))),
    };
    if informational {
        crate::init_logging(log::LevelFilter::Warn);
        for w in warnings {
            log::warn!("{w}");
        }
    }
    if f.version {
        print_version(json_output);
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(source) = &f.list {
        if !source.is_empty() && !KNOWN_SOURCES.contains(&source.as_str()) {
            return Ok(fatal("Value for --list must be a valid source type"));
        }
        return crate::commands::print_fields(format.name(), f.names_only);
    }
    if let Err(e) = f.select_sources() {
        return Ok(fatal(e));
    }
    if !f.validate.is_empty() {
        return Ok(validate(f, json_output));
    }
    if f.describe_all || f.describe_rule.is_some() || f.support {
        let settings = match Settings::from_config(&cfg, &args.rules) {
            Ok(s) => s,
            Err(e) => return Ok(fatal(format_args!("{e:#}"))),
        };
        let loaded = match crate::rulesrc::load(&settings.rules_files) {
            Ok(l) => l,
            Err(e) => return Ok(fatal(format_args!("{e:#}"))),
        };
        if f.describe_all || f.describe_rule.is_some() {
            return Ok(describe(f, &loaded, json_output));
        }
        return support(&cfg, &loaded);
    }
    crate::daemon::run(args)
}

/// `-L` / `-l` after a successful load.
fn describe(f: &FalcoFlags, loaded: &crate::rulesrc::Loaded, json_output: bool) -> ExitCode {
    let text = match &f.describe_rule {
        Some(name) => report::describe_rule(&loaded.loader, name, json_output),
        None if json_output => Ok(report::list_rules_json(&loaded.loader)),
        None => Ok(report::list_rules_text(&loaded.rules)),
    };
    match text {
        Ok(t) if json_output => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Ok(t) => {
            print!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => runtime_error(e),
    }
}

/// Upstream throws for an unknown `-l` rule; `main` reports the exception.
fn runtime_error(msg: impl std::fmt::Display) -> ExitCode {
    eprintln!("Runtime error: {msg}. Exiting.");
    ExitCode::from(1)
}

/// `-V`: upstream's `validate_rules_files`.
fn validate(f: &FalcoFlags, json_output: bool) -> ExitCode {
    // Upstream validates exactly the files named, whatever their
    // extension; kestrel also takes a directory (its rules files, in
    // `-r`'s order).
    let mut files = Vec::new();
    for p in &f.validate {
        if p.is_dir() {
            match expand_rule_paths(std::slice::from_ref(p)) {
                Ok(v) => files.extend(v),
                Err(e) => return fatal(e),
            }
        } else {
            files.push(p.clone());
        }
    }
    // Upstream reads every file before loading any.
    for p in &files {
        if std::fs::File::open(p).is_err() {
            return fatal(format_args!(
                "Could not open file {} for reading",
                p.display()
            ));
        }
    }
    let rep = report::validate(&files);
    if !rep.plugin_errors.is_empty() {
        let msgs: Vec<&str> = rep
            .plugin_errors
            .iter()
            .map(|d| d.message.as_str())
            .collect();
        return fatal(msgs.join("\n"));
    }
    // Warnings are logged, never part of the summary.
    for r in rep.results.iter().filter(|r| r.successful()) {
        if !r.warnings.is_empty() {
            eprint!("{}", report::file_result_text(r));
        }
    }
    let ok = rep.ok();
    let described = if ok && (f.describe_all || f.describe_rule.is_some()) {
        match report::describe_rules_json(&rep.loader, f.describe_rule.as_deref()) {
            Ok(j) => Some(j),
            Err(e) => return runtime_error(e),
        }
    } else {
        None
    };
    if json_output {
        let mut out = rep.to_json();
        if let Some(d) = described {
            out["falco_describe_results"] = d;
        }
        println!("{out}");
    } else {
        print!("{}", rep.render_text());
        if described.is_some() {
            println!();
            let text = match &f.describe_rule {
                Some(name) => report::describe_rule(&rep.loader, name, false).unwrap_or_default(),
                None => report::list_rules_text(rep.loader.rules()),
            };
            print!("{text}");
        }
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        fatal(rep.summary_text())
    }
}

/// The version facts of `--version` and `--support` (upstream
/// `versions_info::as_json`, with kestrel's own in place of the libs' and
/// the driver's).
fn versions_json() -> Json {
    json!({
        "kestrel_version": env!("CARGO_PKG_VERSION"),
        // Upstream keeps the minor number under the old key for tools
        // that match rules artifacts on it.
        "engine_version": ENGINE_VERSION.minor.to_string(),
        "engine_version_semver": ENGINE_VERSION.to_string(),
        "plugin_versions": { "container": CONTAINER_PROVIDER_VERSION.to_string() },
        "wire_version": kestrel_engine::event::wire::WIRE_VERSION,
    })
}

/// `--version`: upstream's layout (`<Name>: <value>` lines, values in one
/// column), so `grep Engine: | awk '{print $2}'` finds the engine version.
fn print_version(json_output: bool) {
    if json_output {
        println!("{}", versions_json());
        return;
    }
    println!("kestrel version: {}", env!("CARGO_PKG_VERSION"));
    println!("Engine:          {ENGINE_VERSION}");
    println!("Event sources:   {}", KNOWN_SOURCES.join(", "));
    println!("Plugins:         container {CONTAINER_PROVIDER_VERSION} (built in)");
    println!("Driver:");
    println!("  Kind:         kestrel eBPF probe (built in)");
    println!(
        "  Wire version: {}",
        kestrel_engine::event::wire::WIRE_VERSION
    );
}

/// `uname(2)` as upstream's `system_info`.
fn system_info() -> Result<Json, std::io::Error> {
    // SAFETY: utsname is plain bytes; uname fills it and returns 0, or -1
    // with errno set.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let field = |f: &[libc::c_char]| {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(json!({
        "sysname": field(&u.sysname),
        "nodename": field(&u.nodename),
        "release": field(&u.release),
        "version": field(&u.version),
        "machine": field(&u.machine),
    }))
}

/// `--support`: upstream's `print_support`, one JSON line.
fn support(cfg: &Config, loaded: &crate::rulesrc::Loaded) -> Result<ExitCode> {
    let system = match system_info() {
        Ok(s) => s,
        Err(e) => return Ok(fatal(format_args!("Could not get system info: {e}"))),
    };
    let rules_files: Vec<Json> = loaded
        .files
        .iter()
        .map(|f| json!({ "name": f.name, "variants": [{ "content": f.content() }] }))
        .collect();
    let out = json!({
        "system_info": system,
        "version": env!("CARGO_PKG_VERSION"),
        "engine_info": versions_json(),
        "cmdline": std::env::args().collect::<Vec<_>>().join(" "),
        "config": cfg.to_json(),
        "rules_files": rules_files,
    });
    println!("{out}");
    Ok(ExitCode::SUCCESS)
}

/// Upstream's category of an event: syscalls, tracepoints (kestrel's
/// process fork and exit), metaevents (the /proc snapshot's `procinfo`).
fn category(e: &EventInfo) -> usize {
    if e.nr_x86_64.is_some() {
        0
    } else if e.ty == kestrel_engine::event::EventType::PROCINFO {
        3
    } else {
        1
    }
}

const CATEGORIES: [&str; 4] = [
    "Syscall events",
    "Tracepoint events",
    "Plugin events",
    "Metaevents",
];

/// libsinsp's `param_type_to_string` for kestrel's parameter kinds.
fn param_type(k: ParamKind) -> &'static str {
    match k {
        ParamKind::Fd => "FD",
        ParamKind::Int => "INT64",
        ParamKind::Uint | ParamKind::Hex => "UINT64",
        ParamKind::Pid => "PID",
        ParamKind::Uid => "UID",
        ParamKind::Gid => "GID",
        ParamKind::Flags(_) => "FLAGS32",
        ParamKind::Enum(FlagSet::Signal) => "SIGTYPE",
        ParamKind::Enum(_) => "ENUMFLAGS32",
        ParamKind::Mode => "MODE",
        ParamKind::Path => "FSPATH",
        ParamKind::RelPath { .. } => "FSRELPATH",
        ParamKind::Str => "CHARBUF",
        ParamKind::Bytes | ParamKind::FdInfo => "BYTEBUF",
        ParamKind::StrList => "CHARBUFARRAY",
        ParamKind::SockAddr => "SOCKADDR",
    }
}

/// One listed parameter: type, name and, for flag sets, the flag names.
struct Param {
    ty: &'static str,
    name: &'static str,
    flags: Option<Vec<&'static str>>,
}

/// The parameters `evt.arg.*` knows for an event: the return value first
/// (upstream's exit events start with it), then the visible parameters.
fn params(e: &EventInfo) -> Vec<Param> {
    let ty = match e.ret {
        RetKind::None => None,
        RetKind::Errno | RetKind::Count => Some("ERRNO"),
        RetKind::Fd => Some("FD"),
        RetKind::Pid => Some("PID"),
    };
    let ret = ty.zip(e.ret_name());
    let names = |s: FlagSet| -> Option<Vec<&'static str>> {
        Some(flags::table(s).iter().map(|(_, n)| *n).collect())
    };
    ret.map(|(ty, name)| Param {
        ty,
        name,
        flags: None,
    })
    .into_iter()
    .chain(e.params.iter().filter(|p| !p.hidden).map(|p| Param {
        ty: param_type(p.kind),
        name: p.name,
        flags: match p.kind {
            // Upstream lists no names for a PT_SIGTYPE.
            ParamKind::Enum(FlagSet::Signal) => None,
            ParamKind::Flags(s) | ParamKind::Enum(s) => names(s),
            _ => None,
        },
    }))
    .collect()
}

/// `--list-events`: upstream's `print_syscall_events` layout over kestrel's
/// event table. kestrel has one record per syscall, the exit with every
/// parameter (`<`); its fork/exit/procinfo events are upstream's enter
/// events (`>`). Every event listed can be captured, so all are available.
fn print_events(format: Format) {
    let wire = kestrel_engine::event::wire::WIRE_VERSION;
    let dir = |e: &EventInfo| if e.nr_x86_64.is_some() { '<' } else { '>' };
    if format == Format::Json {
        let mut root = serde_json::Map::new();
        root.insert("schema_version".into(), json!(wire.to_string()));
        for (i, cat) in CATEGORIES.iter().enumerate() {
            let evs: Vec<Json> = EVENTS
                .iter()
                .filter(|e| category(e) == i)
                .map(|e| {
                    let ps: Vec<Json> = params(e)
                        .into_iter()
                        .map(|p| {
                            let mut o = json!({ "type": p.ty, "name": p.name });
                            if let Some(f) = p.flags {
                                o["flags"] = json!(f);
                            }
                            o
                        })
                        .collect();
                    json!({
                        "name": e.name,
                        "dir": dir(e).to_string(),
                        "available": true,
                        "params": ps,
                    })
                })
                .collect();
            root.insert((*cat).into(), Json::Array(evs));
        }
        println!(
            "{}",
            serde_json::to_string_pretty(&Json::Object(root)).unwrap_or_default()
        );
        return;
    }
    let md = format == Format::Markdown;
    println!("The events below are valid for kestrel *Wire Version*: {wire}");
    for (i, cat) in CATEGORIES.iter().enumerate() {
        println!("## {cat}\n");
        if md {
            println!("Default | Dir | Name | Params ");
            println!(":-------|:----|:-----|:-----");
        }
        for e in EVENTS.iter().filter(|e| category(e) == i) {
            let ps: Vec<String> = params(e)
                .into_iter()
                .map(|p| {
                    let mut s = format!("{} **{}**", p.ty, p.name);
                    if let Some(f) = p.flags {
                        let names: Vec<String> = f
                            .iter()
                            .map(|n| if md { format!("*{n}*") } else { n.to_string() })
                            .collect();
                        s.push_str(": ");
                        s.push_str(&names.join(", "));
                    }
                    s
                })
                .collect();
            if md {
                println!("Yes | `{}` | `{}` | {}", dir(e), e.name, ps.join(", "));
            } else {
                println!("{} {}({})", dir(e), e.name, ps.join(", "));
            }
        }
        println!();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(enable: &[&str], disable: &[&str]) -> FalcoFlags {
        FalcoFlags {
            enable_source: enable.iter().map(|s| s.to_string()).collect(),
            disable_source: disable.iter().map(|s| s.to_string()).collect(),
            ..FalcoFlags::default()
        }
    }

    #[test]
    fn source_selection_errors_are_upstreams() {
        assert!(flags(&[], &[]).select_sources().is_ok());
        assert!(flags(&["syscall"], &[]).select_sources().is_ok());
        assert_eq!(
            flags(&[], &["syscall"]).select_sources().unwrap_err(),
            "Must enable at least one event source"
        );
        assert_eq!(
            flags(&["k8s_audit"], &[]).select_sources().unwrap_err(),
            "Attempted enabling an unknown event source: k8s_audit"
        );
        assert_eq!(
            flags(&[], &["aws_cloudtrail"])
                .select_sources()
                .unwrap_err(),
            "Attempted disabling an unknown event source: aws_cloudtrail"
        );
        assert_eq!(
            flags(&["syscall"], &["syscall"])
                .select_sources()
                .unwrap_err(),
            "You can not mix --enable-source and --disable-source"
        );
    }

    #[test]
    fn format_parsing_is_upstreams() {
        let f = |fmt: Option<&str>, md: bool| FalcoFlags {
            format: fmt.map(str::to_string),
            markdown: md,
            ..FalcoFlags::default()
        };
        assert_eq!(f(None, false).format(), Ok(Format::Text));
        assert_eq!(f(Some("JSON"), false).format(), Ok(Format::Json));
        assert_eq!(f(None, true).format(), Ok(Format::Markdown));
        assert_eq!(
            f(Some("yaml"), false).format().unwrap_err(),
            "Invalid format 'yaml'. Valid values are: text, markdown, json"
        );
        assert!(f(Some("text"), true).format().is_err());
    }

    #[test]
    fn every_listed_parameter_has_a_type() {
        for e in EVENTS {
            for p in params(e) {
                assert!(!p.ty.is_empty() && !p.name.is_empty(), "{}", e.name);
            }
        }
        let open = EVENTS.iter().find(|e| e.name == "openat").unwrap();
        let ps = params(open);
        assert_eq!((ps[0].ty, ps[0].name), ("FD", "fd"));
        assert!(ps
            .iter()
            .any(|p| p.flags.as_ref().is_some_and(|f| f.contains(&"O_CREAT"))));
    }
}
