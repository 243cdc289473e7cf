//! The health and metrics web server (default 127.0.0.1:8765).
//!
//! Endpoints:
//! - `GET /healthz` (path configurable): `{"status": "ok"}` while the daemon
//!   is healthy, 503 otherwise;
//! - `GET /metrics`: Prometheus text;
//! - `POST /track?tgid=N` / `POST /untrack?tgid=N`: count the events of
//!   process N (and its children) separately, for load-generator
//!   reconciliation (see [`super::metrics::Tracker`]).
//!
//! One thread, blocking I/O: scrapes are rare and cheap; nothing here is on
//! the event path.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::metrics::Tracker;

/// Renders the `/metrics` document.
pub type RenderFn = dyn Fn() -> String + Send + Sync;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    /// Binding the listen address failed.
    #[error("cannot listen on {addr}: {msg}")]
    Bind {
        /// The address.
        addr: String,
        /// The reason.
        msg: String,
    },
}

/// A running web server; stops when dropped.
pub struct WebServer {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl std::fmt::Debug for WebServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebServer")
            .field("addr", &self.addr)
            .finish()
    }
}

impl WebServer {
    /// Starts serving on `addr` (`host:port`; port 0 picks a free one).
    pub fn start(
        addr: &str,
        healthz_path: &str,
        healthy: Arc<AtomicBool>,
        tracker: Arc<Tracker>,
        render: Arc<RenderFn>,
    ) -> Result<WebServer, HttpError> {
        let server = tiny_http::Server::http(addr).map_err(|e| HttpError::Bind {
            addr: addr.to_string(),
            msg: e.to_string(),
        })?;
        let local = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| HttpError::Bind {
                addr: addr.to_string(),
                msg: "not an IP address".into(),
            })?;
        let server = Arc::new(server);
        let s2 = Arc::clone(&server);
        let healthz = healthz_path.to_string();
        let thread = std::thread::Builder::new()
            .name("kestrel-http".into())
            .spawn(move || {
                for req in s2.incoming_requests() {
                    handle(req, &healthz, &healthy, &tracker, &*render);
                }
            })
            .map_err(|e| HttpError::Bind {
                addr: addr.to_string(),
                msg: e.to_string(),
            })?;
        Ok(WebServer {
            server,
            thread: Some(thread),
            addr: local,
        })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(t) = self.thread.take() {
            if t.join().is_err() {
                log::warn!("web server thread panicked");
            }
        }
    }
}

fn respond(req: tiny_http::Request, code: u16, ctype: &str, body: String) {
    let header = tiny_http::Header::from_bytes(&b"Content-Type"[..], ctype.as_bytes())
        .expect("static header is valid");
    let resp = tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(header);
    if let Err(e) = req.respond(resp) {
        log::debug!("web server: client went away: {e}");
    }
}

fn query_tgid(url: &str) -> Option<u32> {
    let q = url.split_once('?')?.1;
    q.split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == "tgid")
        .and_then(|(_, v)| v.parse().ok())
}

fn handle(
    req: tiny_http::Request,
    healthz: &str,
    healthy: &AtomicBool,
    tracker: &Tracker,
    render: &RenderFn,
) {
    let url = req.url().to_string();
    let path = url.split('?').next().unwrap_or("");
    let method = req.method().clone();
    use tiny_http::Method;
    match (&method, path) {
        (Method::Get, p) if p == healthz => {
            if healthy.load(Ordering::Relaxed) {
                respond(req, 200, "application/json", "{\"status\": \"ok\"}".into())
            } else {
                respond(
                    req,
                    503,
                    "application/json",
                    "{\"status\": \"unhealthy\"}".into(),
                )
            }
        }
        (Method::Get, "/metrics") => respond(
            req,
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            render(),
        ),
        (Method::Post, "/track") | (Method::Post, "/untrack") => match query_tgid(&url) {
            Some(t) if path == "/track" => {
                if tracker.track(t) {
                    respond(
                        req,
                        200,
                        "application/json",
                        format!("{{\"tracking\": {t}}}"),
                    )
                } else {
                    respond(
                        req,
                        409,
                        "application/json",
                        "{\"error\": \"no free tracking slot\"}".into(),
                    )
                }
            }
            Some(t) => {
                tracker.untrack(t);
                respond(
                    req,
                    200,
                    "application/json",
                    format!("{{\"untracked\": {t}}}"),
                )
            }
            None => respond(
                req,
                400,
                "application/json",
                "{\"error\": \"missing tgid\"}".into(),
            ),
        },
        _ => respond(req, 404, "text/plain", "not found\n".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpStream;

    fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let code = out[9..12].parse().unwrap();
        let body = out
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        (code, body)
    }

    #[test]
    fn endpoints() {
        let healthy = Arc::new(AtomicBool::new(true));
        let tracker = Arc::new(Tracker::default());
        let srv = WebServer::start(
            "127.0.0.1:0",
            "/healthz",
            Arc::clone(&healthy),
            Arc::clone(&tracker),
            Arc::new(|| "kestrel_up 1\n".to_string()),
        )
        .unwrap();
        let a = srv.addr();
        assert_eq!(
            request(a, "GET", "/healthz"),
            (200, "{\"status\": \"ok\"}".into())
        );
        assert_eq!(
            request(a, "GET", "/metrics"),
            (200, "kestrel_up 1\n".into())
        );
        assert_eq!(request(a, "GET", "/nope").0, 404);
        assert_eq!(request(a, "POST", "/track?tgid=42").0, 200);
        crate::pipeline::metrics::TrackerView::new(0).observe(&tracker, 42, 1, 65);
        assert_eq!(tracker.snapshot().len(), 1);
        assert_eq!(request(a, "POST", "/track").0, 400);
        assert_eq!(request(a, "POST", "/untrack?tgid=42").0, 200);
        healthy.store(false, Ordering::Relaxed);
        assert_eq!(request(a, "GET", "/healthz").0, 503);
    }
}
