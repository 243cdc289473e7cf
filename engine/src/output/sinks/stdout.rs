//! Standard output: one line per alert (text or JSON).

use std::io::Write;

use super::{Ctx, DropReason, Loss, Sink};
use crate::output::alert::Alert;

/// Writes alert lines to the process's standard output. Lines are
/// collected in a buffer and written with one `write_all` per flush, so a
/// failed write loses exactly the alerts in that buffer (and is counted
/// so), and a successful one never interleaves half lines with other
/// writers to stdout.
pub(crate) struct StdoutSink {
    buf: Vec<u8>,
}

impl StdoutSink {
    pub fn new() -> StdoutSink {
        StdoutSink {
            buf: Vec::with_capacity(64 * 1024),
        }
    }
}

impl Sink for StdoutSink {
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
        let mut out = std::io::stdout().lock();
        let r = out.write_all(&self.buf).and_then(|()| out.flush());
        self.buf.clear();
        r.map_err(|e| Loss::new(DropReason::WriteError, format!("stdout: {e}")))
    }
}
