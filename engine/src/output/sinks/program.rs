//! Program output: alerts piped to `sh -c <program>`.

use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use super::{Aborter, Ctx, DropReason, Loss, Sink};
use crate::output::alert::Alert;

/// Feeds alert lines to a shell command's standard input.
///
/// With `keep_alive` one process runs for the whole session and gets one
/// line per alert; if it has exited (or the write fails with a broken
/// pipe) it is restarted once and the alert written to the new process,
/// each restart counted as a retry. Without `keep_alive` every alert
/// starts a process, writes its line, closes stdin and waits for it to
/// exit, as Falco does.
///
/// Each child runs in its own process group, whose id is published so
/// that shutdown can kill the group (the shell and what it started) when
/// the program stops reading or never exits.
pub(crate) struct ProgramSink {
    program: String,
    keep_alive: bool,
    child: Option<(Child, ChildStdin)>,
    pgid: Arc<AtomicI32>,
    line: Vec<u8>,
}

impl ProgramSink {
    pub fn new(program: String, keep_alive: bool) -> ProgramSink {
        ProgramSink {
            program,
            keep_alive,
            child: None,
            pgid: Arc::new(AtomicI32::new(0)),
            line: Vec::new(),
        }
    }

    /// Kills the current child's process group, if any.
    pub fn aborter(&self) -> Aborter {
        let pgid = self.pgid.clone();
        Arc::new(move || {
            let g = pgid.load(Ordering::Acquire);
            if g > 0 {
                // SAFETY: kill(2) with a negative pid signals the process
                // group we created for our own child; no memory involved.
                unsafe {
                    libc::kill(-g, libc::SIGKILL);
                }
            }
        })
    }

    fn spawn(&mut self) -> Result<(Child, ChildStdin), Loss> {
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(&self.program)
            .stdin(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(|e| {
                Loss::new(
                    DropReason::SpawnError,
                    format!("sh -c {:?}: {e}", self.program),
                )
            })?;
        self.pgid.store(child.id() as i32, Ordering::Release);
        let stdin = child
            .stdin
            .take()
            .ok_or_else(|| Loss::new(DropReason::SpawnError, "child has no stdin pipe"))?;
        Ok((child, stdin))
    }

    fn reap(&mut self, mut child: Child) {
        match child.wait() {
            Ok(st) if !st.success() => {
                log::debug!("program_output: {:?} exited with {st}", self.program)
            }
            Ok(_) => {}
            Err(e) => log::warn!("program_output: waiting for {:?}: {e}", self.program),
        }
        self.pgid.store(0, Ordering::Release);
    }

    fn write_keep_alive(&mut self, ctx: &Ctx) -> Result<(), Loss> {
        // A process that has already exited gets replaced before writing.
        if let Some((c, _)) = &mut self.child {
            if matches!(c.try_wait(), Ok(Some(_))) {
                let (c, _) = self.child.take().expect("checked above");
                self.reap(c);
                ctx.counters.retries.fetch_add(1, Ordering::Relaxed);
            }
        }
        for attempt in 0..2 {
            if self.child.is_none() {
                self.child = Some(self.spawn()?);
            }
            let (_, stdin) = self.child.as_mut().expect("spawned above");
            match stdin.write_all(&self.line).and_then(|()| stdin.flush()) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    let (c, stdin) = self.child.take().expect("present");
                    drop(stdin);
                    self.reap(c);
                    if attempt == 1 || ctx.aborted() {
                        return Err(Loss::new(
                            DropReason::WriteError,
                            format!("writing to {:?}: {e}", self.program),
                        ));
                    }
                    ctx.counters.errors.fetch_add(1, Ordering::Relaxed);
                    ctx.counters.retries.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        unreachable!("the loop returns on its second attempt")
    }

    fn write_once(&mut self) -> Result<(), Loss> {
        let (child, mut stdin) = self.spawn()?;
        let r = stdin.write_all(&self.line);
        drop(stdin);
        self.reap(child);
        r.map_err(|e| {
            Loss::new(
                DropReason::WriteError,
                format!("writing to {:?}: {e}", self.program),
            )
        })
    }
}

impl Sink for ProgramSink {
    fn write(&mut self, alert: &Alert, ctx: &Ctx) -> Result<(), Loss> {
        self.line.clear();
        self.line.extend_from_slice(alert.line().as_bytes());
        self.line.push(b'\n');
        if self.keep_alive {
            self.write_keep_alive(ctx)
        } else {
            self.write_once()
        }
    }

    fn close(&mut self) {
        if let Some((c, stdin)) = self.child.take() {
            // EOF tells the program to finish; shutdown's deadline kills
            // it if it does not.
            drop(stdin);
            self.reap(c);
        }
    }
}
