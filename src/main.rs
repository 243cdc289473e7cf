//! kestrel: the command-line entry point. A thin layer: argument parsing,
//! configuration, logging and signals; the work lives in kestrel-engine and
//! kestrel-probe.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use mimalloc::MiMalloc;

mod config;

#[global_allocator]
static GLOBAL: MiMalloc = MiMalloc;

/// Runtime security for Linux: eBPF syscall capture and Falco rules.
///
/// With no subcommand, runs the daemon (as root) with the embedded default
/// configuration and rules.
#[derive(Debug, Parser)]
#[command(name = "kestrel", version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

/// Options of the daemon.
#[derive(Debug, Args, Clone, Default)]
struct RunArgs {
    /// Configuration file merged over the embedded defaults.
    #[arg(short = 'c', long = "config", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Rules file or directory; repeatable; replaces the configured rules.
    #[arg(short = 'r', long = "rules", value_name = "FILE")]
    rules: Vec<PathBuf>,
    /// Override a configuration key, Falco style (`-o json_output=true`).
    #[arg(short = 'o', long = "option", value_name = "KEY=VALUE")]
    options: Vec<String>,
    /// Load configuration and rules, report, and exit without capturing.
    #[arg(long)]
    dry_run: bool,
    /// Stop after this many seconds.
    #[arg(short = 'M', long = "duration", value_name = "SECONDS")]
    duration: Option<u64>,
    /// Unbuffered outputs (same as -o buffered_outputs=false).
    #[arg(short = 'U', long)]
    unbuffered: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the daemon (the default when no subcommand is given).
    Run(RunArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Run(args)) => run(args),
        None => run(cli.run),
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
    let mut warnings = Vec::new();
    let cfg = config::Config::load(args.config.as_deref(), &args.options, &mut |w| {
        warnings.push(w)
    })?;
    for w in warnings {
        eprintln!("kestrel: warning: {w}");
    }
    let _ = (
        &cfg,
        args.rules,
        args.dry_run,
        args.duration,
        args.unbuffered,
    );
    anyhow::bail!("the daemon is not wired up yet")
}
