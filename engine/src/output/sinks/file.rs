//! File output: alerts appended to a file, one line each.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

use super::{Ctx, DropReason, Loss, Sink};
use crate::output::alert::Alert;

/// Appends alert lines to `path`.
///
/// With `keep_alive` the file stays open between alerts and [`Sink::reopen`]
/// (SIGUSR1 in the daemon) closes it so that the next alert opens the path
/// again: after a log rotation renamed the file, new alerts go to a new
/// file at the configured path. Without `keep_alive` the file is opened
/// and closed for each flush, as Falco does, so rotation needs nothing.
pub(crate) struct FileSink {
    path: PathBuf,
    keep_alive: bool,
    file: Option<File>,
    buf: Vec<u8>,
}

impl FileSink {
    pub fn new(path: PathBuf, keep_alive: bool) -> FileSink {
        FileSink {
            path,
            keep_alive,
            file: None,
            buf: Vec::with_capacity(64 * 1024),
        }
    }

    /// Opens the file for appending; a file it creates gets mode 0600
    /// (alerts carry command lines and environment values), an existing
    /// file keeps its mode.
    fn open(&self) -> std::io::Result<File> {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)
    }
}

impl Sink for FileSink {
    fn write(&mut self, alert: &Alert, _ctx: &Ctx) -> Result<(), Loss> {
        self.buf.extend_from_slice(alert.line().as_bytes());
        self.buf.push(b'\n');
        Ok(())
    }

    fn buffers(&self) -> bool {
        true
    }

    fn flush(&mut self) -> Result<(), Loss> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = (|| -> std::io::Result<()> {
            let f = match &mut self.file {
                Some(f) => f,
                None => self.file.insert(self.open()?),
            };
            // O_APPEND: one write_all per batch of whole lines.
            f.write_all(&self.buf)
        })();
        self.buf.clear();
        if r.is_err() || !self.keep_alive {
            // After an error, start again from a fresh open.
            self.file = None;
        }
        r.map_err(|e| {
            Loss::new(
                DropReason::WriteError,
                format!("{}: {e}", self.path.display()),
            )
        })
    }

    fn reopen(&mut self) -> std::io::Result<()> {
        self.file = None;
        if self.keep_alive {
            self.file = Some(self.open()?);
        }
        Ok(())
    }

    fn close(&mut self) {
        self.file = None;
    }
}
