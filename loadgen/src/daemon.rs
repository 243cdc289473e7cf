//! Talking to the daemon's web server: track/untrack and `/metrics`.
//!
//! The client is a few raw syscalls rather than an HTTP library, because
//! the daemon counts every traced syscall of this process, the scrapes
//! included: each request issues exactly one `socket`, one `connect`, one
//! or more `write`s and `read`s and one `close`, all recorded in the
//! client's own [`Ledger`]. An HTTP library would also resolve names
//! (opening `/etc/hosts`), use `sendto`/`recvfrom`, or keep connections
//! alive across the measurement boundary.
//!
//! A scrape connects, then waits `quiet_gap` before sending the request:
//! the daemon renders `/metrics` only after that gap, by which time it
//! has processed this request's own `socket` and `connect` events, so
//! they land before the render as the ledger snapshot assumes. The ledger
//! snapshot of a scrape is taken after the request is written and before
//! the response is read, which is where the render happens.

use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::RawFd;
use std::time::Duration;

use crate::ledger::Ledger;
use crate::prom::{self, Metrics, ParseIssue};
use crate::sys::{self, Errno, SockAddr};

/// Why talking to the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The URL is not `http://host:port[/prefix]`.
    #[error("bad daemon URL {url:?}: {why}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong.
        why: String,
    },
    /// The host name did not resolve.
    #[error("cannot resolve {host}: {source}")]
    Resolve {
        /// host:port.
        host: String,
        /// The resolver's error.
        #[source]
        source: std::io::Error,
    },
    /// A socket operation failed.
    #[error("{op} to {addr} failed: {errno}")]
    Io {
        /// The operation.
        op: &'static str,
        /// The daemon's address.
        addr: SocketAddr,
        /// The error.
        errno: Errno,
    },
    /// The response is not HTTP we understand.
    #[error("malformed response from {addr} for {path}: {why}")]
    Malformed {
        /// The daemon's address.
        addr: SocketAddr,
        /// The request path.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// The daemon answered with an error status.
    #[error("{method} {path} returned HTTP {status}: {body}")]
    Status {
        /// Request method.
        method: &'static str,
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Response body (trimmed).
        body: String,
    },
}

/// One `/metrics` scrape.
#[derive(Debug, Clone)]
pub struct Scrape {
    /// The parsed document.
    pub metrics: Metrics,
    /// Lines that could not be parsed.
    pub issues: Vec<ParseIssue>,
    /// The client's ledger at the moment the daemon rendered the document.
    pub ledger: Ledger,
}

/// A client of the daemon's web server.
#[derive(Debug)]
pub struct DaemonClient {
    url: String,
    addr: SocketAddr,
    host_header: String,
    prefix: String,
    timeout: Duration,
    quiet_gap: Duration,
    ledger: Ledger,
    /// `Authorization` header line (with CRLF), empty without a token.
    auth: String,
}

impl DaemonClient {
    /// Default wait between connecting and sending a scrape request.
    pub const DEFAULT_QUIET_GAP: Duration = Duration::from_millis(50);

    /// Parses `http://host:port[/prefix]` and resolves the host (once,
    /// now, so no name lookup happens during a measurement).
    pub fn new(url: &str) -> Result<DaemonClient, DaemonError> {
        let bad = |why: &str| DaemonError::BadUrl {
            url: url.to_string(),
            why: why.to_string(),
        };
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| bad("only http:// is supported"))?;
        let (hostport, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        if hostport.is_empty() {
            return Err(bad("no host"));
        }
        let with_port = if hostport.starts_with('[') {
            if hostport.contains("]:") {
                hostport.to_string()
            } else {
                format!("{hostport}:80")
            }
        } else if hostport.contains(':') {
            hostport.to_string()
        } else {
            format!("{hostport}:80")
        };
        let addr = with_port
            .to_socket_addrs()
            .map_err(|e| DaemonError::Resolve {
                host: with_port.clone(),
                source: e,
            })?
            .next()
            .ok_or_else(|| bad("host resolved to no address"))?;
        Ok(DaemonClient {
            url: url.to_string(),
            addr,
            host_header: hostport.to_string(),
            prefix: prefix.to_string(),
            timeout: Duration::from_secs(5),
            quiet_gap: Self::DEFAULT_QUIET_GAP,
            ledger: Ledger::new(),
            auth: String::new(),
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request (the
    /// daemon's `webserver.track` token); an empty token sends none.
    pub fn set_token(&mut self, token: &str) {
        self.auth = if token.is_empty() {
            String::new()
        } else {
            format!("Authorization: Bearer {token}\r\n")
        };
    }

    /// Sets the wait between connect and request on scrapes.
    pub fn set_quiet_gap(&mut self, d: Duration) {
        self.quiet_gap = d;
    }

    /// The URL given.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The resolved address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Every syscall the client issued so far.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// `POST /track?tgid=N`.
    pub fn track(&mut self, tgid: u32) -> Result<(), DaemonError> {
        self.request("POST", &format!("/track?tgid={tgid}"), false)
            .map(|_| ())
    }

    /// `POST /untrack?tgid=N`.
    pub fn untrack(&mut self, tgid: u32) -> Result<(), DaemonError> {
        self.request("POST", &format!("/untrack?tgid={tgid}"), false)
            .map(|_| ())
    }

    /// `GET /metrics`, parsed.
    pub fn scrape(&mut self) -> Result<Scrape, DaemonError> {
        let (body, ledger) = self.request("GET", "/metrics", true)?;
        let (metrics, issues) = prom::parse(&body);
        Ok(Scrape {
            metrics,
            issues,
            ledger,
        })
    }

    fn io(&self, op: &'static str, errno: Errno) -> DaemonError {
        DaemonError::Io {
            op,
            addr: self.addr,
            errno,
        }
    }

    /// Sends one request and returns the body and the ledger as it was
    /// between sending and reading.
    fn request(
        &mut self,
        method: &'static str,
        path: &str,
        quiet: bool,
    ) -> Result<(String, Ledger), DaemonError> {
        let sa = SockAddr::from_std(self.addr);
        let fd = sys::socket(
            &mut self.ledger,
            sa.family(),
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
        )
        .map_err(|e| self.io("socket", e))?;
        let r = self.exchange(fd, &sa, method, path, quiet);
        let closed = sys::close(&mut self.ledger, fd);
        let (raw, at_render) = r?;
        closed.map_err(|e| self.io("close", e))?;
        let full = format!("{}{}", self.prefix, path);
        let (status, body) = parse_response(&raw).map_err(|why| DaemonError::Malformed {
            addr: self.addr,
            path: full.clone(),
            why,
        })?;
        if !(200..300).contains(&status) {
            return Err(DaemonError::Status {
                method,
                path: full,
                status,
                body: body.trim().chars().take(200).collect(),
            });
        }
        Ok((body, at_render))
    }

    fn exchange(
        &mut self,
        fd: RawFd,
        sa: &SockAddr,
        method: &'static str,
        path: &str,
        quiet: bool,
    ) -> Result<(Vec<u8>, Ledger), DaemonError> {
        sys::set_timeouts(fd, self.timeout).map_err(|e| self.io("setsockopt", e))?;
        sys::connect(&mut self.ledger, fd, sa).map_err(|e| self.io("connect", e))?;
        if quiet && !self.quiet_gap.is_zero() {
            std::thread::sleep(self.quiet_gap);
        }
        let req = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\nUser-Agent: kestrel-loadgen\r\nAccept: text/plain\r\n{}Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.prefix, self.host_header, self.auth
        );
        sys::write_all(&mut self.ledger, fd, req.as_bytes()).map_err(|e| self.io("write", e))?;
        let at_render = self.ledger;
        let mut raw = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            match sys::read(&mut self.ledger, fd, &mut buf) {
                Ok(0) => break,
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(Errno(libc::EINTR)) => continue,
                Err(e) => return Err(self.io("read", e)),
            }
            if raw.len() > 64 * 1024 * 1024 {
                return Err(DaemonError::Malformed {
                    addr: self.addr,
                    path: path.to_string(),
                    why: "response larger than 64 MiB".into(),
                });
            }
        }
        Ok((raw, at_render))
    }
}

/// Splits an HTTP/1.x response into status and body; decodes chunked
/// transfer encoding and honours Content-Length.
pub fn parse_response(raw: &[u8]) -> Result<(u16, String), String> {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or("no end of headers")?;
    let head = std::str::from_utf8(&raw[..split]).map_err(|_| "headers are not UTF-8")?;
    let mut body = &raw[split + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.split_whitespace();
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(format!("bad status line {status_line:?}"));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let mut chunked = false;
    let mut length = None;
    for l in lines {
        let Some((k, v)) = l.split_once(':') else {
            continue;
        };
        let (k, v) = (k.trim(), v.trim());
        if k.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked") {
            chunked = true;
        } else if k.eq_ignore_ascii_case("content-length") {
            length = Some(
                v.parse::<usize>()
                    .map_err(|_| format!("bad Content-Length {v:?}"))?,
            );
        }
    }
    let decoded;
    if chunked {
        decoded = dechunk(body)?;
        body = &decoded;
    } else if let Some(n) = length {
        if body.len() < n {
            return Err(format!("body truncated: {} of {n} bytes", body.len()));
        }
        body = &body[..n];
    }
    let text = String::from_utf8(body.to_vec()).map_err(|_| "body is not UTF-8")?;
    Ok((status, text))
}

fn dechunk(mut b: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let eol = b
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or("chunk size line not terminated")?;
        let line = std::str::from_utf8(&b[..eol]).map_err(|_| "bad chunk size")?;
        let size_hex = line.split(';').next().unwrap_or("").trim();
        let size =
            usize::from_str_radix(size_hex, 16).map_err(|_| format!("bad chunk size {line:?}"))?;
        b = &b[eol + 2..];
        if size == 0 {
            return Ok(out);
        }
        if b.len() < size + 2 {
            return Err("chunk truncated".into());
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parsing() {
        let c = DaemonClient::new("http://127.0.0.1:8765").unwrap();
        assert_eq!(c.addr(), "127.0.0.1:8765".parse().unwrap());
        assert_eq!(c.prefix, "");
        let c = DaemonClient::new("http://127.0.0.1:9/kestrel/").unwrap();
        assert_eq!(c.prefix, "/kestrel");
        let c = DaemonClient::new("http://[::1]:8765").unwrap();
        assert_eq!(c.addr(), "[::1]:8765".parse().unwrap());
        let c = DaemonClient::new("http://127.0.0.1").unwrap();
        assert_eq!(c.addr().port(), 80);
        for bad in ["https://127.0.0.1:1", "127.0.0.1:1", "http://", "http:///x"] {
            assert!(DaemonClient::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn response_parsing() {
        let r = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello trailing";
        assert_eq!(parse_response(r).unwrap(), (200, "hello".into()));
        let r = b"HTTP/1.1 200 OK\r\ntransfer-encoding: Chunked\r\n\r\n5\r\nhello\r\n6;x=y\r\n world\r\n0\r\n\r\n";
        assert_eq!(parse_response(r).unwrap(), (200, "hello world".into()));
        let r = b"HTTP/1.0 409 Conflict\r\n\r\n{\"error\": 1}";
        assert_eq!(parse_response(r).unwrap(), (409, "{\"error\": 1}".into()));
        assert!(parse_response(b"garbage").is_err());
        assert!(parse_response(b"SSH-2.0\r\n\r\n").is_err());
        assert!(parse_response(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort").is_err());
    }
}
