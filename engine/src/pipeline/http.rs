//! The health and metrics web server (default 127.0.0.1:8765).
//!
//! Endpoints:
//! - `GET /healthz` (path configurable): `{"status": "ok"}` while the daemon
//!   is healthy, 503 otherwise;
//! - `GET /metrics`: Prometheus text;
//! - `POST /track?tgid=N` / `POST /untrack?tgid=N`: count the events of
//!   process N (and its children) separately, for load-generator
//!   reconciliation (see [`super::metrics::Tracker`]). These are the only
//!   write endpoints. They answer 403 unless the server was started with a
//!   [`TrackToken`], and then 401 to any request whose
//!   `Authorization: Bearer <token>` header does not carry that token
//!   (compared in constant time). Without this, any local user could take
//!   the 8 tracking slots.
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

/// The secret a client must present to use `POST /track` and
/// `POST /untrack`. Its `Debug` output never shows the value.
#[derive(Clone, PartialEq, Eq)]
pub struct TrackToken(String);

impl TrackToken {
    /// The shortest token accepted, in bytes.
    pub const MIN_LEN: usize = 16;

    /// A token from its text (surrounding whitespace removed); `None` when
    /// it is shorter than [`TrackToken::MIN_LEN`] bytes.
    pub fn new(text: &str) -> Option<TrackToken> {
        let t = text.trim();
        (t.len() >= Self::MIN_LEN).then(|| TrackToken(t.to_string()))
    }

    /// Whether `given` is the token. The time taken depends only on the
    /// lengths, never on where the first differing byte is.
    pub fn matches(&self, given: &[u8]) -> bool {
        let want = self.0.as_bytes();
        if want.len() != given.len() {
            return false;
        }
        let mut diff = 0u8;
        for (a, b) in want.iter().zip(given) {
            diff |= a ^ b;
        }
        // Keep the optimiser from turning the loop into an early exit.
        std::hint::black_box(diff) == 0
    }
}

impl std::fmt::Debug for TrackToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrackToken(<redacted>)")
    }
}

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
    /// `track`: the token that `POST /track` and `/untrack` require; `None`
    /// turns both off (403).
    pub fn start(
        addr: &str,
        healthz_path: &str,
        healthy: Arc<AtomicBool>,
        tracker: Arc<Tracker>,
        render: Arc<RenderFn>,
        track: Option<TrackToken>,
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
                    handle(req, &healthz, &healthy, &tracker, &*render, track.as_ref());
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
    // Always a Content-Length, never chunked: tiny_http switches to chunked
    // transfer above 32 KiB, which /metrics passes with Falco's metrics
    // beside kestrel's, and simple scrapers (curl -0, HTTP/1.0 clients,
    // hand-written probes) then read chunk sizes as samples.
    let resp = tiny_http::Response::from_string(body)
        .with_status_code(code)
        .with_header(header)
        .with_chunked_threshold(usize::MAX);
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

/// Whether the request carries `Authorization: Bearer <token>`.
fn authorized(req: &tiny_http::Request, token: &TrackToken) -> bool {
    req.headers()
        .iter()
        .filter(|h| h.field.equiv("Authorization"))
        .any(|h| {
            let v = h.value.as_str().trim();
            match v.split_once(' ') {
                Some((scheme, cred)) if scheme.eq_ignore_ascii_case("bearer") => {
                    token.matches(cred.trim().as_bytes())
                }
                _ => false,
            }
        })
}

fn handle(
    req: tiny_http::Request,
    healthz: &str,
    healthy: &AtomicBool,
    tracker: &Tracker,
    render: &RenderFn,
    track: Option<&TrackToken>,
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
        (Method::Post, "/track") | (Method::Post, "/untrack") if track.is_none() => respond(
            req,
            403,
            "application/json",
            "{\"error\": \"write endpoints are disabled (webserver.track.enabled)\"}".into(),
        ),
        (Method::Post, "/track") | (Method::Post, "/untrack")
            if !track.is_some_and(|t| authorized(&req, t)) =>
        {
            let header = tiny_http::Header::from_bytes(&b"WWW-Authenticate"[..], &b"Bearer"[..])
                .expect("static header is valid");
            let ctype =
                tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/json"[..])
                    .expect("static header is valid");
            let resp =
                tiny_http::Response::from_string("{\"error\": \"missing or wrong bearer token\"}")
                    .with_status_code(401)
                    .with_header(header)
                    .with_header(ctype);
            if let Err(e) = req.respond(resp) {
                log::debug!("web server: client went away: {e}");
            }
        }
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
        request_with(addr, method, path, "")
    }

    fn request_with(addr: SocketAddr, method: &str, path: &str, extra: &str) -> (u16, String) {
        let mut s = TcpStream::connect(addr).unwrap();
        write!(
            s,
            "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n{extra}Content-Length: 0\r\n\r\n"
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

    fn tracked(t: &Tracker) -> Vec<u32> {
        t.slots().into_iter().filter(|&x| x != 0).collect()
    }

    const TOKEN: &str = "0123456789abcdef0123456789abcdef";

    fn bearer(t: &str) -> String {
        format!("Authorization: Bearer {t}\r\n")
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
            TrackToken::new(TOKEN),
        )
        .unwrap();
        let auth = bearer(TOKEN);
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
        assert_eq!(request_with(a, "POST", "/track?tgid=42", &auth).0, 200);
        crate::pipeline::metrics::TrackerView::new(0).observe(&tracker, 42, 1, 65);
        assert_eq!(tracker.snapshot().len(), 1);
        assert_eq!(request_with(a, "POST", "/track", &auth).0, 400);
        assert_eq!(request_with(a, "POST", "/untrack?tgid=42", &auth).0, 200);
        healthy.store(false, Ordering::Relaxed);
        assert_eq!(request(a, "GET", "/healthz").0, 503);
    }

    /// Regression: a /metrics body over 32 KiB (Falco's metrics beside
    /// kestrel's, with many rules matched) went out chunked, and scrapers
    /// that read the body as is took the chunk sizes for samples.
    #[test]
    fn large_metrics_body_is_sent_with_a_content_length_not_chunked() {
        let body: String = (0..4000)
            .map(|i| format!("kestrel_x{{n=\"{i}\"}} {i}\n"))
            .collect();
        assert!(body.len() > 64 * 1024);
        let served = body.clone();
        let srv = WebServer::start(
            "127.0.0.1:0",
            "/healthz",
            Arc::new(AtomicBool::new(true)),
            Arc::new(Tracker::default()),
            Arc::new(move || served.clone()),
            None,
        )
        .unwrap();
        let mut s = TcpStream::connect(srv.addr()).unwrap();
        write!(
            s,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        let (head, got) = out.split_once("\r\n\r\n").unwrap();
        let head = head.to_ascii_lowercase();
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        assert_eq!(got, body);
    }

    /// Regression (issue 14): `POST /track` was unauthenticated, so any
    /// local user could take all 8 tracking slots. Without a token the
    /// write endpoints are off; with one, a request must carry it.
    #[test]
    fn post_track_unauthenticated_is_refused() {
        let tracker = Arc::new(Tracker::default());
        let start = |token: Option<TrackToken>| {
            WebServer::start(
                "127.0.0.1:0",
                "/healthz",
                Arc::new(AtomicBool::new(true)),
                Arc::clone(&tracker),
                Arc::new(String::new),
                token,
            )
            .unwrap()
        };
        // Off: every write is refused, even with a plausible token.
        let off = start(None);
        for t in 1..=9u32 {
            let (code, body) = request_with(
                off.addr(),
                "POST",
                &format!("/track?tgid={t}"),
                &bearer(TOKEN),
            );
            assert_eq!(code, 403, "{body}");
            assert!(body.contains("webserver.track.enabled"), "{body}");
        }
        assert_eq!(request(off.addr(), "POST", "/untrack?tgid=1").0, 403);
        assert_eq!(request(off.addr(), "GET", "/metrics").0, 200);
        drop(off);
        assert!(tracker.snapshot().is_empty());
        assert_eq!(tracked(&tracker).len(), 0);

        // On: no header, a wrong token, a prefix of it, another scheme.
        let on = start(TrackToken::new(TOKEN));
        let a = on.addr();
        let wrong = [
            String::new(),
            bearer("0123456789abcdef0123456789abcdeX"),
            bearer(&TOKEN[..31]),
            bearer(&format!("{TOKEN}0")),
            format!("Authorization: Basic {TOKEN}\r\n"),
            "Authorization: Bearer\r\n".to_string(),
        ];
        for (i, h) in wrong.iter().enumerate() {
            for _ in 0..9 {
                let (code, body) = request_with(a, "POST", &format!("/track?tgid={}", 100 + i), h);
                assert_eq!(code, 401, "{h:?}: {body}");
            }
        }
        assert_eq!(tracked(&tracker).len(), 0, "a refused request took a slot");
        // The right token, case-insensitive scheme.
        let ok = format!("authorization: bearer {TOKEN}\r\n");
        assert_eq!(request_with(a, "POST", "/track?tgid=7", &ok).0, 200);
        assert_eq!(tracked(&tracker), vec![7]);
        assert_eq!(request(a, "POST", "/untrack?tgid=7").0, 401);
        assert_eq!(tracked(&tracker), vec![7]);
        assert_eq!(request_with(a, "POST", "/untrack?tgid=7", &ok).0, 200);
        assert!(tracked(&tracker).is_empty());
    }

    #[test]
    fn track_token_rules() {
        assert!(TrackToken::new("short").is_none());
        assert!(TrackToken::new("  \n").is_none());
        let t = TrackToken::new(&format!("  {TOKEN}\n")).unwrap();
        assert!(t.matches(TOKEN.as_bytes()));
        assert!(!t.matches(&TOKEN.as_bytes()[1..]));
        assert!(!t.matches(b""));
        assert_eq!(format!("{t:?}"), "TrackToken(<redacted>)");
    }
}
