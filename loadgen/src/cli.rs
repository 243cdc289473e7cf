//! Command line.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::pacing::Rate;
use crate::runner::{self, RunConfig};
use crate::scenario::Scenario;
use crate::trigger::ACTIONS;

/// The hidden subcommand the trigger scenario re-executes this program
/// with, under a server's name, to spawn a program from "a server".
pub const SPAWN_HELPER: &str = "spawn-helper";

/// kestrel-loadgen: drives real syscalls at a set rate and reconciles what
/// it issued with what the kestrel daemon observed.
#[derive(Debug, Parser)]
#[command(name = "kestrel-loadgen", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario.
    Run(RunArgs),
    /// List the trigger scenario's actions and the rules they target.
    Triggers,
    /// Perform one io_uring request (or a linked chain) and print its
    /// results as JSON (see `kestrel_loadgen::uring::uring_command`).
    Uring {
        /// Set the ring up with IORING_SETUP_SQPOLL.
        #[arg(long)]
        sqpoll: bool,
        /// Flag every request IOSQE_ASYNC (punted to an io-wq worker).
        #[arg(long = "async")]
        punt: bool,
        /// A word that only shows in the command line (tests tie alerts
        /// to one run with it).
        #[arg(long)]
        tag: Option<String>,
        /// The op and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// (internal) Run a program and exit with its status.
    #[command(name = SPAWN_HELPER, hide = true)]
    SpawnHelper {
        /// Program and arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
        argv: Vec<String>,
    },
}

/// `run` options.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario: open, exec, connect, getppid, mixed (70% open, 20%
    /// connect, 10% exec), trigger, or iouring (opens, closes and
    /// connects through io_uring).
    #[arg(long, short = 's', value_enum)]
    pub scenario: Scenario,
    /// Worker threads.
    #[arg(long, short = 't', default_value_t = 1)]
    pub threads: usize,
    /// Pin thread i to CPU i mod ncpus.
    #[arg(long)]
    pub pin: bool,
    /// Total operations per second across threads (e.g. 1000, 2.5k, 1M),
    /// or "max".
    #[arg(long, short = 'r', default_value = "max")]
    pub rate: Rate,
    /// How long to run (e.g. 10, 2.5, 500ms, 1m); default 10 s unless
    /// --ops is given (trigger: one pass over its actions).
    #[arg(long, short = 'd', value_parser = parse_duration)]
    pub duration: Option<Duration>,
    /// Stop after this many operations in total.
    #[arg(long)]
    pub ops: Option<u64>,
    /// The kestrel daemon's web server, e.g. http://127.0.0.1:8765:
    /// track this process and reconcile its counts.
    #[arg(long)]
    pub daemon: Option<String>,
    /// The file holding the daemon's `webserver.track` bearer token, which
    /// its POST /track requires (default: $KESTREL_TRACK_TOKEN_FILE).
    #[arg(long)]
    pub daemon_token_file: Option<PathBuf>,
    /// Print one JSON object on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
    /// No progress line on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// How long to wait for the daemon's counts to stop changing.
    #[arg(long, value_parser = parse_duration, default_value = "5")]
    pub settle_timeout: Duration,
    /// Wait between connecting to the daemon and requesting /metrics, so
    /// the request's own socket/connect events are counted before the
    /// render.
    #[arg(long, value_parser = parse_duration, default_value = "50ms")]
    pub quiet_gap: Duration,
    /// Trigger scenario with --daemon: after the run, read
    /// kestrel_alerts_total and report for each of kestrel's default rules
    /// that is on (the audit rules the file leaves off are not expected)
    /// whether it fired; exit 4 if one whose action completed did not.
    #[arg(long)]
    pub expect_default_rules: bool,
}

/// Parses `10`, `2.5`, `10s`, `500ms`, `2m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, mult) = if let Some(n) = t.strip_suffix("ms") {
        (n, 1e-3)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.trim().parse().map_err(|_| {
        format!("invalid duration {s:?}: expected seconds (e.g. 10, 2.5, 500ms, 1m)")
    })?;
    let secs = v * mult;
    if !secs.is_finite() || secs <= 0.0 || secs > 365.0 * 86400.0 {
        return Err(format!("invalid duration {s:?}: must be positive"));
    }
    Ok(Duration::from_secs_f64(secs))
}

impl RunArgs {
    /// The run configuration.
    pub fn config(&self) -> RunConfig {
        RunConfig {
            scenario: self.scenario,
            threads: self.threads,
            pin: self.pin,
            rate: self.rate,
            duration: self.duration.or(
                if self.ops.is_none() && self.scenario != Scenario::Trigger {
                    Some(Duration::from_secs(10))
                } else {
                    None
                },
            ),
            ops: self.ops,
            daemon: self.daemon.clone(),
            daemon_token_file: self.daemon_token_file.clone().or_else(|| {
                std::env::var_os("KESTREL_TRACK_TOKEN_FILE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from)
            }),
            progress: !self.quiet,
            settle_timeout: self.settle_timeout,
            quiet_gap: self.quiet_gap,
            helper_exe: std::env::current_exe().ok(),
            expect_default_rules: self.expect_default_rules,
        }
    }
}

/// The helper's first argument `--tty`: run the program in a new session
/// whose controlling terminal is a pseudo-terminal the helper allocates (the
/// way a runtime's `exec -it` starts a shell); `--no-tty`: in a new session
/// without one (a scripted exec).
pub const HELPER_TTY: &str = "--tty";
/// See [`HELPER_TTY`].
pub const HELPER_NO_TTY: &str = "--no-tty";

fn spawn_helper(argv: &[String]) -> ExitCode {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    let (mode, argv) = match argv.first().map(String::as_str) {
        Some(m @ (HELPER_TTY | HELPER_NO_TTY)) => (Some(m), &argv[1..]),
        _ => (None, argv),
    };
    let Some((prog, args)) = argv.split_first() else {
        eprintln!("kestrel-loadgen {SPAWN_HELPER}: no program");
        return ExitCode::from(2);
    };
    let mut cmd = std::process::Command::new(prog);
    cmd.args(args);
    // The pty pair, kept open until the program ended.
    let mut pty: Option<(libc::c_int, libc::c_int)> = None;
    if mode == Some(HELPER_TTY) {
        let (mut master, mut slave) = (-1, -1);
        // SAFETY: openpty writes the two descriptors; the name, termios
        // and window-size arguments may be null.
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        if r != 0 {
            eprintln!(
                "kestrel-loadgen {SPAWN_HELPER}: openpty: {}",
                std::io::Error::last_os_error()
            );
            return ExitCode::from(2);
        }
        pty = Some((master, slave));
        // SAFETY: between fork and exec the closure only makes
        // async-signal-safe calls (setsid, ioctl, dup2).
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0
                    || libc::ioctl(slave, libc::TIOCSCTTY, 0) < 0
                    || libc::dup2(slave, 0) < 0
                    || libc::dup2(slave, 1) < 0
                    || libc::dup2(slave, 2) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    } else if mode == Some(HELPER_NO_TTY) {
        // SAFETY: setsid is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let status = cmd.status();
    if let Some((master, slave)) = pty {
        // SAFETY: both are descriptors openpty gave us, closed once.
        unsafe {
            libc::close(slave);
            libc::close(master);
        }
    }
    match status {
        Ok(st) => match (st.code(), st.signal()) {
            (Some(c), _) => ExitCode::from(c as u8),
            (None, Some(sig)) => ExitCode::from(128u8.wrapping_add(sig as u8)),
            _ => ExitCode::from(2),
        },
        Err(e) => {
            eprintln!("kestrel-loadgen {SPAWN_HELPER}: cannot run {prog}: {e}");
            ExitCode::from(127)
        }
    }
}

fn list_triggers() -> String {
    let mut s = String::new();
    for a in ACTIONS {
        let mut needs = Vec::new();
        if a.needs.root {
            needs.push("root".to_string());
        }
        needs.extend(a.needs.tools.iter().map(|t| (*t).to_string()));
        if a.needs.helper {
            needs.push("own executable".into());
        }
        if a.needs.shm {
            needs.push("/dev/shm".into());
        }
        if a.needs.container {
            needs.push("a cgroup to simulate a container in".into());
        }
        if let Some(d) = a.needs.sandbox {
            needs.push(format!("a private mount namespace over {}", d.path_text()));
        }
        if a.needs.module {
            needs.push("an unloaded CRC library module".into());
        }
        if a.needs.route {
            needs.push("a route to 198.51.100.1".into());
        }
        s.push_str(&format!(
            "{:<30} {}\n{:<30}   rules: {}\n{}",
            a.name,
            a.what,
            "",
            a.rules.join("; "),
            if needs.is_empty() {
                String::new()
            } else {
                format!("{:<30}   needs: {}\n", "", needs.join(", "))
            }
        ));
    }
    s
}

/// Runs the program with parsed arguments; returns the exit status
/// (0 ok, 1 reconciliation failed, 2 error, 3 operations failed, 4 an
/// expected default rule did not fire).
pub fn main_with(cli: Cli) -> ExitCode {
    match cli.command {
        Command::SpawnHelper { argv } => spawn_helper(&argv),
        Command::Uring {
            sqpoll, punt, args, ..
        } => {
            let opts = crate::uring::RingOpts {
                sqpoll,
                punt,
                link: false,
            };
            match crate::uring::uring_command(opts, &args) {
                Ok(j) => {
                    println!("{j}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("kestrel-loadgen: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Triggers => {
            print!("{}", list_triggers());
            ExitCode::SUCCESS
        }
        Command::Run(args) => match runner::run(&args.config()) {
            Ok(rep) => {
                if args.json {
                    match serde_json::to_string(&rep) {
                        Ok(j) => println!("{j}"),
                        Err(e) => {
                            eprintln!("kestrel-loadgen: cannot serialize the report: {e}");
                            return ExitCode::from(2);
                        }
                    }
                } else {
                    print!("{}", rep.human());
                }
                ExitCode::from(rep.exit_code())
            }
            Err(e) => {
                eprintln!("kestrel-loadgen: {e}");
                ExitCode::from(2)
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("kestrel-loadgen").chain(args.iter().copied()))
    }

    fn run_args(args: &[&str]) -> RunArgs {
        match parse(args).unwrap().command {
            Command::Run(r) => r,
            c => panic!("not run: {c:?}"),
        }
    }

    #[test]
    fn full_run_line() {
        let r = run_args(&[
            "run",
            "--scenario",
            "open",
            "--threads",
            "4",
            "--pin",
            "--rate",
            "100k",
            "--duration",
            "2.5",
            "--daemon",
            "http://127.0.0.1:8765",
            "--json",
        ]);
        assert_eq!(r.scenario, Scenario::Open);
        assert_eq!(r.threads, 4);
        assert!(r.pin && r.json && !r.quiet);
        assert_eq!(r.rate, Rate::PerSec(100_000.0));
        assert_eq!(r.duration, Some(Duration::from_millis(2500)));
        let c = r.config();
        assert_eq!(c.daemon.as_deref(), Some("http://127.0.0.1:8765"));
        assert!(c.progress);
    }

    #[test]
    fn defaults() {
        let r = run_args(&["run", "-s", "getppid"]);
        assert_eq!(r.threads, 1);
        assert_eq!(r.rate, Rate::Max);
        let c = r.config();
        assert_eq!(c.duration, Some(Duration::from_secs(10)));
        assert_eq!(c.ops, None);
        assert_eq!(c.settle_timeout, Duration::from_secs(5));
        assert_eq!(c.quiet_gap, Duration::from_millis(50));
        // --ops alone: no time limit.
        let c = run_args(&["run", "-s", "exec", "--ops", "10", "-r", "max"]).config();
        assert_eq!((c.duration, c.ops), (None, Some(10)));
        // Trigger: one pass by default.
        let c = run_args(&["run", "-s", "trigger"]).config();
        assert_eq!((c.duration, c.ops), (None, None));
    }

    #[test]
    fn every_scenario_parses() {
        for s in ["open", "exec", "connect", "getppid", "mixed", "trigger"] {
            assert_eq!(run_args(&["run", "-s", s]).scenario.name(), s);
        }
    }

    #[test]
    fn bad_input_is_rejected() {
        for bad in [
            &["run"][..],
            &["run", "-s", "nope"],
            &["run", "-s", "open", "--rate", "fast"],
            &["run", "-s", "open", "--rate", "0"],
            &["run", "-s", "open", "--threads", "-1"],
            &["run", "-s", "open", "--duration", "0"],
            &["run", "-s", "open", "--duration", "soon"],
            &["run", "-s", "open", "--ops", "x"],
            &["frobnicate"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("-1").is_err());
        assert!(parse_duration("inf").is_err());
    }

    #[test]
    fn spawn_helper_takes_the_rest_verbatim() {
        match parse(&["spawn-helper", "/bin/sh", "-c", "exit 0"])
            .unwrap()
            .command
        {
            Command::SpawnHelper { argv } => assert_eq!(argv, ["/bin/sh", "-c", "exit 0"]),
            c => panic!("{c:?}"),
        }
    }

    #[test]
    fn trigger_list_names_every_action() {
        let l = list_triggers();
        for a in ACTIONS {
            assert!(l.contains(a.name));
        }
    }
}
