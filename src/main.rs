//! kestrel: the command-line entry point. A thin layer: argument parsing,
//! configuration, logging and signals; the work lives in kestrel-engine and
//! kestrel-probe.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod commands;
mod compat;
mod config;
mod daemon;
mod falco;
mod heap;
mod instance;
mod kfilter;
mod rulesrc;
mod settings;

#[global_allocator]
static GLOBAL: heap::CountingMiMalloc = heap::CountingMiMalloc::new();

/// Bytes the daemon holds on its heap (see [`heap`]).
pub fn heap_bytes() -> u64 {
    GLOBAL.live_bytes()
}

/// Runtime security for Linux: eBPF syscall capture and Falco rules.
///
/// With no subcommand, runs the daemon (as root) with the embedded default
/// configuration and rules. Falco's flags work as in Falco: `-V FILE`,
/// `-L`, `-l RULE`, `--list`, `--list-events`, `--support`, `--version`.
#[derive(Debug, Parser)]
#[command(
    name = "kestrel",
    disable_version_flag = true,
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
    #[command(flatten)]
    falco: falco::FalcoFlags,
}

/// Options of the daemon.
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct RunArgs {
    /// Configuration file merged over the embedded defaults.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Rules file or directory; repeatable; replaces the configured rules.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    pub(crate) rules: Vec<PathBuf>,
    /// Override a configuration key, Falco style (`-o json_output=true`).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    pub(crate) options: Vec<String>,
    /// Load configuration and rules, report, and exit without capturing.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// Stop after this many seconds.
    #[arg(short = 'M', long = "duration", value_name = "SECONDS")]
    pub(crate) duration: Option<u64>,
    /// Unbuffered outputs (same as -o buffered_outputs=false).
    #[arg(short = 'U', long)]
    pub(crate) unbuffered: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default when no subcommand is given).
    Run(RunArgs),
    /// Print decoded syscall events like sysdig, or write a capture file (root).
    Capture(commands::CaptureArgs),
    /// Check rules files (like `falco -V`).
    Validate(commands::ValidateArgs),
    /// Rules: `kestrel rules list` (like `falco -L`).
    #[command(subcommand)]
    Rules(commands::RulesCommand),
    /// Fields: `kestrel fields list` (like `falco --list`).
    #[command(subcommand)]
    Fields(commands::FieldsCommand),
    /// Evaluate rules over a capture file or a JSON-lines event file.
    Replay(commands::ReplayArgs),
    /// Print COMPATIBILITY.md (Falco 0.44 flags, config keys, fields,
    /// event types and metrics against kestrel), generated from the code.
    #[command(hide = true)]
    Compat(CompatArgs),
}

/// `kestrel compat`.
#[derive(Debug, Args)]
struct CompatArgs {
    /// Markdown (the only format).
    #[arg(long)]
    markdown: bool,
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if e.use_stderr() => {
            // A usage error exits with 1, as Falco's do (clap's is 2).
            // With stderr gone there is no one left to tell.
            e.print().unwrap_or(());
            return ExitCode::from(1);
        }
        // --help and friends.
        Err(e) => e.exit(),
    };
    let result = match cli.command {
        Some(Command::Run(args)) => run(args),
        Some(Command::Capture(a)) => commands::capture(a),
        Some(Command::Validate(a)) => commands::validate(a),
        Some(Command::Rules(commands::RulesCommand::List(a))) => commands::rules_list(a),
        Some(Command::Fields(commands::FieldsCommand::List(a))) => commands::fields_list(a),
        Some(Command::Replay(a)) => commands::replay(a),
        Some(Command::Compat(a)) => {
            if !a.markdown {
                eprintln!("kestrel compat: --markdown is the only format");
                return ExitCode::from(1);
            }
            print!("{}", compat::markdown());
            Ok(ExitCode::SUCCESS)
        }
        None => falco::run(&cli.falco, cli.run),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("kestrel: error: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn run(args: RunArgs) -> anyhow::Result<ExitCode> {
    daemon::run(args)
}

/// Operational logging to stderr; `RUST_LOG` overrides the configured level.
pub(crate) fn init_logging(level: log::LevelFilter) {
    let mut b = env_logger::Builder::new();
    b.filter_level(level);
    if let Ok(spec) = std::env::var("RUST_LOG") {
        b.parse_filters(&spec);
    }
    b.format_target(false).target(env_logger::Target::Stderr);
    // A second initialisation (tests) is harmless.
    if b.try_init().is_err() {
        log::debug!("logger already initialised");
    }
}
