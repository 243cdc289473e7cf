//! Syslog output: RFC 3164-style messages to the local syslog socket.

use std::io::Write;
use std::os::unix::net::{UnixDatagram, UnixStream};
use std::path::PathBuf;

use super::{Ctx, DropReason, Loss, Sink};
use crate::output::alert::Alert;
use crate::output::time;

/// `LOG_USER` (1) shifted into the facility bits.
const FACILITY_USER: u8 = 1 << 3;

enum Conn {
    Dgram(UnixDatagram),
    Stream(UnixStream),
}

/// Sends each alert as `<PRI>Mmm dd hh:mm:ss TAG[PID]: <line>` to a unix
/// socket (`/dev/log` by default), facility `LOG_USER`, severity from the
/// alert's priority (RULES.md §6.1), as glibc's `syslog(3)` would. A
/// datagram socket gets one datagram per alert; a stream socket (some
/// syslog daemons) gets NUL-terminated messages. The connection is made
/// lazily and remade once per alert after a failure, so a restarted
/// syslog daemon is picked up again.
pub(crate) struct SyslogSink {
    path: PathBuf,
    tag: String,
    pid: u32,
    conn: Option<Conn>,
    msg: String,
}

impl SyslogSink {
    pub fn new(path: PathBuf, tag: String) -> SyslogSink {
        SyslogSink {
            path,
            tag,
            pid: std::process::id(),
            conn: None,
            msg: String::new(),
        }
    }

    fn connect(&self) -> std::io::Result<Conn> {
        let s = UnixDatagram::unbound()?;
        match s.connect(&self.path) {
            Ok(()) => Ok(Conn::Dgram(s)),
            Err(e) if e.raw_os_error() == Some(libc::EPROTOTYPE) => {
                Ok(Conn::Stream(UnixStream::connect(&self.path)?))
            }
            Err(e) => Err(e),
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.conn.is_none() {
            self.conn = Some(self.connect()?);
        }
        let r = match self.conn.as_mut().expect("connected above") {
            Conn::Dgram(s) => s.send(self.msg.as_bytes()).map(|_| ()),
            Conn::Stream(s) => s
                .write_all(self.msg.as_bytes())
                .and_then(|()| s.write_all(b"\0")),
        };
        if r.is_err() {
            self.conn = None;
        }
        r
    }
}

impl Sink for SyslogSink {
    fn write(&mut self, alert: &Alert, _ctx: &Ctx) -> Result<(), Loss> {
        let pri = FACILITY_USER | alert.priority().syslog_level();
        self.msg.clear();
        self.msg.push('<');
        self.msg.push_str(&pri.to_string());
        self.msg.push('>');
        time::push_rfc3164(&mut self.msg, time::now_epoch_ns());
        self.msg.push(' ');
        self.msg.push_str(&self.tag);
        self.msg.push('[');
        self.msg.push_str(&self.pid.to_string());
        self.msg.push_str("]: ");
        self.msg.push_str(alert.line());
        // One reconnect: the daemon may have restarted since the last alert.
        match self.send() {
            Ok(()) => Ok(()),
            Err(_) => self.send().map_err(|e| {
                Loss::new(
                    DropReason::WriteError,
                    format!("syslog {}: {e}", self.path.display()),
                )
            }),
        }
    }
}
