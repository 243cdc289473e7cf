//! HTTP(S) output: each alert POSTed to a URL (falcosidekick, webhooks).

use std::time::Duration;

use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};

use super::{Ctx, DropReason, Loss, Sink};
use crate::output::alert::Alert;
use crate::output::config::HttpConfig;

/// Why the HTTP sink cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// A certificate or key file cannot be read.
    #[error("http_output: cannot read {what} '{path}': {source}")]
    Read {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A certificate or key file does not hold what it should.
    #[error("http_output: {what} '{path}': {reason}")]
    Pem {
        /// Which setting.
        what: &'static str,
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

fn read_pem(
    what: &'static str,
    path: &std::path::Path,
) -> Result<Vec<PemItem<'static>>, HttpSetupError> {
    let bytes = std::fs::read(path).map_err(|source| HttpSetupError::Read {
        what,
        path: path.display().to_string(),
        source,
    })?;
    ureq::tls::parse_pem(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| HttpSetupError::Pem {
            what,
            path: path.display().to_string(),
            reason: e.to_string(),
        })
}

fn certs_of(
    what: &'static str,
    path: &std::path::Path,
) -> Result<Vec<Certificate<'static>>, HttpSetupError> {
    let certs: Vec<_> = read_pem(what, path)?
        .into_iter()
        .filter_map(|i| match i {
            PemItem::Certificate(c) => Some(c),
            _ => None,
        })
        .collect();
    if certs.is_empty() {
        return Err(HttpSetupError::Pem {
            what,
            path: path.display().to_string(),
            reason: "no PEM certificate found".into(),
        });
    }
    Ok(certs)
}

/// Certificates from every PEM file in `dir` (none if it does not
/// exist); files that hold no certificate are skipped.
fn certs_in_dir(dir: &std::path::Path) -> Result<Vec<Certificate<'static>>, HttpSetupError> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(Vec::new());
    };
    let mut paths: Vec<_> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    paths.sort();
    let mut out = Vec::new();
    for p in paths {
        match read_pem("ca_path", &p) {
            Ok(items) => out.extend(items.into_iter().filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c),
                _ => None,
            })),
            Err(e) => log::debug!("http_output: skipping {}: {e}", p.display()),
        }
    }
    Ok(out)
}

/// POSTs each alert's line (the JSON alert in JSON mode, with
/// `Content-Type: application/json`; else the text line as `text/plain`).
///
/// A failed attempt (transport error, timeout, 5xx or 429) is retried up
/// to `max_retries` times with exponential back-off starting at
/// `retry_backoff`; other statuses are not retried. Back-off sleeps stop
/// at shutdown's deadline. Every request is bounded by `timeout`.
pub(crate) struct HttpSink {
    agent: ureq::Agent,
    url: String,
    content_type: &'static str,
    max_retries: u32,
    backoff: Duration,
}

impl HttpSink {
    pub fn new(cfg: &HttpConfig, json: bool) -> Result<HttpSink, HttpSetupError> {
        let mut tls = TlsConfig::builder().disable_verification(cfg.insecure);
        let mut roots = Vec::new();
        if let Some(p) = &cfg.ca_cert {
            roots.extend(certs_of("ca_cert", p)?);
        }
        if let Some(p) = &cfg.ca_bundle {
            roots.extend(certs_of("ca_bundle", p)?);
        }
        if let Some(dir) = &cfg.ca_path {
            roots.extend(certs_in_dir(dir)?);
        }
        if !roots.is_empty() {
            tls = tls.root_certs(RootCerts::new_with_certs(&roots));
        }
        if cfg.mtls {
            let chain = certs_of("client_cert", &cfg.client_cert)?;
            let key: PrivateKey<'static> = read_pem("client_key", &cfg.client_key)?
                .into_iter()
                .find_map(|i| match i {
                    PemItem::PrivateKey(k) => Some(k),
                    _ => None,
                })
                .ok_or_else(|| HttpSetupError::Pem {
                    what: "client_key",
                    path: cfg.client_key.display().to_string(),
                    reason: "no PEM private key found".into(),
                })?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key)));
        }
        let mut b = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent(cfg.user_agent.as_str())
            .tls_config(tls.build());
        if !cfg.keep_alive {
            b = b.max_idle_connections(0).max_idle_connections_per_host(0);
        }
        Ok(HttpSink {
            agent: ureq::Agent::new_with_config(b.build()),
            url: cfg.url.clone(),
            content_type: if json {
                "application/json"
            } else {
                "text/plain"
            },
            max_retries: cfg.max_retries,
            backoff: cfg.retry_backoff,
        })
    }

    /// One attempt; `Err((loss, retryable))`.
    fn attempt(&self, body: &str) -> Result<(), (Loss, bool)> {
        let r = self
            .agent
            .post(&self.url)
            .content_type(self.content_type)
            .send(body);
        match r {
            Ok(mut resp) => {
                let status = resp.status().as_u16();
                // Read (a bounded amount of) the body so the connection can
                // be reused.
                if let Err(e) = resp.body_mut().with_config().limit(64 * 1024).read_to_vec() {
                    log::debug!("http_output: reading response body: {e}");
                }
                if (200..300).contains(&status) {
                    Ok(())
                } else {
                    let retry = status >= 500 || status == 429;
                    Err((
                        Loss::new(
                            DropReason::HttpStatus,
                            format!("{}: HTTP status {status}", self.url),
                        ),
                        retry,
                    ))
                }
            }
            Err(e) => Err((
                Loss::new(DropReason::HttpError, format!("{}: {e}", self.url)),
                true,
            )),
        }
    }
}

impl Sink for HttpSink {
    fn write(&mut self, alert: &Alert, ctx: &Ctx) -> Result<(), Loss> {
        let body = alert.line();
        let mut delay = self.backoff;
        let mut attempt = 0;
        loop {
            match self.attempt(body) {
                Ok(()) => return Ok(()),
                Err((loss, retryable)) => {
                    if !retryable || attempt >= self.max_retries {
                        return Err(loss);
                    }
                    ctx.counters
                        .errors
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if !ctx.sleep(delay) {
                        return Err(Loss::new(DropReason::Shutdown, loss.error));
                    }
                    ctx.counters
                        .retries
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    attempt += 1;
                    delay = delay.saturating_mul(2).min(Duration::from_secs(30));
                }
            }
        }
    }
}
