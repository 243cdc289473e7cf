//! Output configuration: Falco's `falco.yaml` output keys (RULES.md §10.7)
//! as a plain struct with Falco's defaults, plus a few kestrel keys for
//! what Falco does not have (queue bounds, retries, repeat collapsing).
//!
//! The CLI/config owner fills it from YAML and `-o key=value`;
//! [`OutputsConfig::set`] accepts the dotted keys this module owns with
//! scalar string values, so `-o http_output.url=...` works unchanged.

use std::path::PathBuf;
use std::time::Duration;

use crate::rules::Priority;

/// Why a configuration key or value was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// The key is not an output key kestrel knows.
    #[error("unknown output configuration key '{0}'")]
    UnknownKey(String),
    /// The value does not parse for the key.
    #[error("invalid value '{value}' for '{key}': expected {expected}")]
    InvalidValue {
        /// The dotted key.
        key: String,
        /// The value given.
        value: String,
        /// What the key accepts.
        expected: &'static str,
    },
    /// A Falco option kestrel does not implement, set to a value that would
    /// need it.
    #[error("'{key}' is not supported by kestrel: {reason}")]
    Unsupported {
        /// The dotted key.
        key: String,
        /// Why, and what to do instead.
        reason: &'static str,
    },
}

/// Conditions of an `append_output` entry (`match:`); all given conditions
/// must hold (RULES.md §9.3).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendMatch {
    /// The rule's source must be this (`syscall`).
    pub source: Option<String>,
    /// The rule must have every one of these tags.
    pub tags: Vec<String>,
    /// The rule's name must be this.
    pub rule: Option<String>,
}

/// An `extra_fields` item (RULES.md §9.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtraField {
    /// A plain field name: the key is the field as written, the value its
    /// typed value.
    Field(String),
    /// `key: "%format"`: the key with the rendered format as a string.
    Format {
        /// The `output_fields` key.
        key: String,
        /// The format string.
        format: String,
    },
}

/// One `append_output` entry. Within an entry, `extra_output` is appended
/// before the suggested fields.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendOutput {
    /// Which rules the entry applies to.
    pub matcher: AppendMatch,
    /// Text appended to the format, after a space.
    pub extra_output: Option<String>,
    /// Append ` name_with_underscores=%field` for each suggested field
    /// (the container and Kubernetes fields of RULES.md §9.3).
    pub suggested_output: bool,
    /// Extra JSON `output_fields` keys (not in the text).
    pub extra_fields: Vec<ExtraField>,
}

impl AppendOutput {
    /// Falco's default entry, `{suggested_output: true}`.
    pub fn suggested() -> AppendOutput {
        AppendOutput {
            suggested_output: true,
            ..AppendOutput::default()
        }
    }
}

/// `stdout_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StdoutConfig {
    /// `stdout_output.enabled` (default `true`).
    pub enabled: bool,
    /// kestrel: `stdout_output.min_priority`; alerts less severe are not
    /// sent to this sink (default: none).
    pub min_priority: Option<Priority>,
}

/// `syslog_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogConfig {
    /// `syslog_output.enabled` (default `true`).
    pub enabled: bool,
    /// kestrel: `syslog_output.socket`, the local syslog socket (default
    /// `/dev/log`).
    pub socket: PathBuf,
    /// kestrel: `syslog_output.tag`, the RFC 3164 TAG (default `kestrel`).
    pub tag: String,
    /// kestrel: `syslog_output.min_priority` (default: none).
    pub min_priority: Option<Priority>,
}

/// `file_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileConfig {
    /// `file_output.enabled` (default `false`).
    pub enabled: bool,
    /// `file_output.keep_alive` (default `false`): keep the file open
    /// between alerts instead of opening and closing it for each one.
    pub keep_alive: bool,
    /// `file_output.filename` (default `./events.txt`).
    pub filename: PathBuf,
    /// kestrel: `file_output.min_priority` (default: none).
    pub min_priority: Option<Priority>,
}

/// `http_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpConfig {
    /// `http_output.enabled` (default `false`).
    pub enabled: bool,
    /// `http_output.url` (default empty; required when enabled).
    pub url: String,
    /// `http_output.user_agent` (default `kestrel/<version>`).
    pub user_agent: String,
    /// `http_output.insecure` (default `false`): skip TLS certificate
    /// verification.
    pub insecure: bool,
    /// `http_output.ca_cert` (default empty): PEM file of CA certificates
    /// to trust instead of the built-in roots.
    pub ca_cert: Option<PathBuf>,
    /// `http_output.ca_bundle` (default empty): PEM bundle, same meaning,
    /// added to `ca_cert`.
    pub ca_bundle: Option<PathBuf>,
    /// `http_output.ca_path` (default `/etc/falco/certs/`): a directory
    /// whose PEM certificate files are trusted too, when it exists.
    /// Whenever `ca_cert`, `ca_bundle` or `ca_path` provide certificates,
    /// they replace the built-in (Mozilla) roots.
    pub ca_path: Option<PathBuf>,
    /// `http_output.mtls` (default `false`): present `client_cert` and
    /// `client_key`.
    pub mtls: bool,
    /// `http_output.client_cert` (default `/etc/falco/certs/client/client.crt`).
    pub client_cert: PathBuf,
    /// `http_output.client_key` (default `/etc/falco/certs/client/client.key`).
    pub client_key: PathBuf,
    /// `http_output.keep_alive` (default `false`): reuse connections.
    pub keep_alive: bool,
    /// kestrel: `http_output.timeout_ms`, whole-request timeout
    /// (default 5000).
    pub timeout: Duration,
    /// kestrel: `http_output.max_retries`, further attempts after a failed
    /// one (default 2).
    pub max_retries: u32,
    /// kestrel: `http_output.retry_backoff_ms`, delay before the first
    /// retry, doubled for each next one (default 200).
    pub retry_backoff: Duration,
    /// kestrel: `http_output.min_priority` (default: none).
    pub min_priority: Option<Priority>,
}

/// `program_output`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProgramConfig {
    /// `program_output.enabled` (default `false`).
    pub enabled: bool,
    /// `program_output.keep_alive` (default `false`): one long-lived
    /// process fed one alert per line, restarted if it dies; otherwise one
    /// process per alert.
    pub keep_alive: bool,
    /// `program_output.program` (default empty; required when enabled),
    /// run as `sh -c <program>`.
    pub program: String,
    /// kestrel: `program_output.min_priority` (default: none).
    pub min_priority: Option<Priority>,
}

/// Every output setting (RULES.md §10.7). `Default` is Falco's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputsConfig {
    /// `json_output` (default `false`).
    pub json_output: bool,
    /// `json_include_output_property` (default `true`).
    pub json_include_output_property: bool,
    /// `json_include_message_property` (default `false`).
    pub json_include_message_property: bool,
    /// `json_include_output_fields_property` (default `true`).
    pub json_include_output_fields_property: bool,
    /// `json_include_tags_property` (default `true`).
    pub json_include_tags_property: bool,
    /// `time_format_iso_8601` (default `false`).
    pub time_format_iso_8601: bool,
    /// `append_output` (default `[{suggested_output: true}]`).
    pub append_output: Vec<AppendOutput>,
    /// `priority` (default `debug`): the minimum priority. The loader
    /// already leaves less severe rules out (RULES.md §6.2); the outputs
    /// enforce it again for alerts from elsewhere, counted as filtered.
    pub priority: Priority,
    /// `buffered_outputs` (default `false`): when `false`, stdout and file
    /// sinks flush after every alert; when `true`, they flush when their
    /// queue runs empty.
    pub buffered_outputs: bool,
    /// `outputs_queue.capacity`: alerts waiting in the front queue and in
    /// each sink's queue. Falco's default `0` means unbounded; kestrel
    /// never queues without bound and reads `0` as
    /// [`OutputsConfig::DEFAULT_QUEUE_CAPACITY`].
    pub queue_capacity: usize,
    /// kestrel: `outputs_queue.repeat_window_ms`. When non-zero, an alert
    /// with the same rule and message as one delivered less than this long
    /// ago is held back and counted; when the window closes, one summary
    /// alert carries the count (see [`crate::output::Alert`]). Default 0
    /// (off), so that output is exactly Falco's unless asked otherwise.
    pub repeat_window: Duration,
    /// kestrel: `outputs_queue.repeat_max_keys`: distinct (rule, message)
    /// pairs tracked at once for repeat collapsing; alerts beyond it are
    /// delivered uncollapsed (default 4096).
    pub repeat_max_keys: usize,
    /// `stdout_output`.
    pub stdout: StdoutConfig,
    /// `syslog_output`.
    pub syslog: SyslogConfig,
    /// `file_output`.
    pub file: FileConfig,
    /// `http_output`.
    pub http: HttpConfig,
    /// `program_output`.
    pub program: ProgramConfig,
}

impl OutputsConfig {
    /// Queue capacity used when `outputs_queue.capacity` is 0.
    pub const DEFAULT_QUEUE_CAPACITY: usize = 16_384;

    /// The effective bound of each queue.
    pub fn effective_queue_capacity(&self) -> usize {
        if self.queue_capacity == 0 {
            Self::DEFAULT_QUEUE_CAPACITY
        } else {
            self.queue_capacity
        }
    }
}

impl Default for OutputsConfig {
    fn default() -> Self {
        OutputsConfig {
            json_output: false,
            json_include_output_property: true,
            json_include_message_property: false,
            json_include_output_fields_property: true,
            json_include_tags_property: true,
            time_format_iso_8601: false,
            append_output: vec![AppendOutput::suggested()],
            priority: Priority::Debug,
            buffered_outputs: false,
            queue_capacity: 0,
            repeat_window: Duration::ZERO,
            repeat_max_keys: 4096,
            stdout: StdoutConfig {
                enabled: true,
                min_priority: None,
            },
            syslog: SyslogConfig {
                enabled: true,
                socket: PathBuf::from("/dev/log"),
                tag: "kestrel".into(),
                min_priority: None,
            },
            file: FileConfig {
                enabled: false,
                keep_alive: false,
                filename: PathBuf::from("./events.txt"),
                min_priority: None,
            },
            http: HttpConfig {
                enabled: false,
                url: String::new(),
                user_agent: concat!("kestrel/", env!("CARGO_PKG_VERSION")).into(),
                insecure: false,
                ca_cert: None,
                ca_bundle: None,
                ca_path: Some(PathBuf::from("/etc/falco/certs/")),
                mtls: false,
                client_cert: PathBuf::from("/etc/falco/certs/client/client.crt"),
                client_key: PathBuf::from("/etc/falco/certs/client/client.key"),
                keep_alive: false,
                timeout: Duration::from_millis(5000),
                max_retries: 2,
                retry_backoff: Duration::from_millis(200),
                min_priority: None,
            },
            program: ProgramConfig {
                enabled: false,
                keep_alive: false,
                program: String::new(),
                min_priority: None,
            },
        }
    }
}

/// YAML-style booleans as yaml-cpp reads them.
fn parse_bool(key: &str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "y" => Ok(true),
        "false" | "no" | "off" | "n" => Ok(false),
        _ => Err(ConfigError::InvalidValue {
            key: key.into(),
            value: v.into(),
            expected: "a boolean (true/false)",
        }),
    }
}

fn parse_u64(key: &str, v: &str) -> Result<u64, ConfigError> {
    v.trim().parse().map_err(|_| ConfigError::InvalidValue {
        key: key.into(),
        value: v.into(),
        expected: "a non-negative integer",
    })
}

fn parse_priority(key: &str, v: &str) -> Result<Priority, ConfigError> {
    Priority::parse(v).ok_or_else(|| ConfigError::InvalidValue {
        key: key.into(),
        value: v.into(),
        expected:
            "a priority (emergency, alert, critical, error, warning, notice, informational, debug)",
    })
}

fn opt_path(v: &str) -> Option<PathBuf> {
    let v = v.trim();
    (!v.is_empty()).then(|| PathBuf::from(v))
}

impl OutputsConfig {
    /// Sets one dotted key from its string value, as `-o key=value` does
    /// (RULES.md §10.5). Falco keys are accepted with Falco's meaning;
    /// Falco options kestrel does not implement are accepted only with
    /// their "off" value. `append_output[].extra_output` and
    /// `append_output[].suggested_output` append a new entry.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), ConfigError> {
        let b = |v: &str| parse_bool(key, v);
        let off_only = |reason: &'static str| -> Result<(), ConfigError> {
            if parse_bool(key, value)? {
                Err(ConfigError::Unsupported {
                    key: key.into(),
                    reason,
                })
            } else {
                Ok(())
            }
        };
        let min_prio = |v: &str| -> Result<Option<Priority>, ConfigError> {
            if v.trim().is_empty() {
                Ok(None)
            } else {
                parse_priority(key, v).map(Some)
            }
        };
        match key {
            "json_output" => self.json_output = b(value)?,
            "json_include_output_property" => self.json_include_output_property = b(value)?,
            "json_include_message_property" => self.json_include_message_property = b(value)?,
            "json_include_output_fields_property" => {
                self.json_include_output_fields_property = b(value)?
            }
            "json_include_tags_property" => self.json_include_tags_property = b(value)?,
            "time_format_iso_8601" => self.time_format_iso_8601 = b(value)?,
            "priority" => self.priority = parse_priority(key, value)?,
            "buffered_outputs" => self.buffered_outputs = b(value)?,
            "outputs_queue.capacity" => {
                self.queue_capacity = parse_u64(key, value)? as usize;
            }
            "outputs_queue.repeat_window_ms" => {
                self.repeat_window = Duration::from_millis(parse_u64(key, value)?);
            }
            "outputs_queue.repeat_max_keys" => {
                self.repeat_max_keys = parse_u64(key, value)? as usize;
            }
            "append_output[].extra_output" => self.append_output.push(AppendOutput {
                extra_output: Some(value.to_string()),
                ..AppendOutput::default()
            }),
            "append_output[].suggested_output" => self.append_output.push(AppendOutput {
                suggested_output: b(value)?,
                ..AppendOutput::default()
            }),
            "stdout_output.enabled" => self.stdout.enabled = b(value)?,
            "stdout_output.min_priority" => self.stdout.min_priority = min_prio(value)?,
            "syslog_output.enabled" => self.syslog.enabled = b(value)?,
            "syslog_output.socket" => self.syslog.socket = PathBuf::from(value.trim()),
            "syslog_output.tag" => self.syslog.tag = value.trim().to_string(),
            "syslog_output.min_priority" => self.syslog.min_priority = min_prio(value)?,
            "file_output.enabled" => self.file.enabled = b(value)?,
            "file_output.keep_alive" => self.file.keep_alive = b(value)?,
            "file_output.filename" => self.file.filename = PathBuf::from(value.trim()),
            "file_output.min_priority" => self.file.min_priority = min_prio(value)?,
            "http_output.enabled" => self.http.enabled = b(value)?,
            "http_output.url" => self.http.url = value.trim().to_string(),
            "http_output.user_agent" => self.http.user_agent = value.to_string(),
            "http_output.insecure" => self.http.insecure = b(value)?,
            "http_output.ca_cert" => self.http.ca_cert = opt_path(value),
            "http_output.ca_bundle" => self.http.ca_bundle = opt_path(value),
            "http_output.ca_path" => self.http.ca_path = opt_path(value),
            "http_output.mtls" => self.http.mtls = b(value)?,
            "http_output.client_cert" => self.http.client_cert = PathBuf::from(value.trim()),
            "http_output.client_key" => self.http.client_key = PathBuf::from(value.trim()),
            "http_output.keep_alive" => self.http.keep_alive = b(value)?,
            "http_output.echo" => {
                off_only("responses are not echoed; failures are logged and counted")?
            }
            "http_output.compress_uploads" => off_only("uploads are sent uncompressed")?,
            "http_output.timeout_ms" => {
                self.http.timeout = Duration::from_millis(parse_u64(key, value)?.max(1));
            }
            "http_output.max_retries" => {
                self.http.max_retries = parse_u64(key, value)?.min(100) as u32
            }
            "http_output.retry_backoff_ms" => {
                self.http.retry_backoff = Duration::from_millis(parse_u64(key, value)?);
            }
            "http_output.min_priority" => self.http.min_priority = min_prio(value)?,
            "program_output.enabled" => self.program.enabled = b(value)?,
            "program_output.keep_alive" => self.program.keep_alive = b(value)?,
            "program_output.program" => self.program.program = value.to_string(),
            "program_output.min_priority" => self.program.min_priority = min_prio(value)?,
            _ => return Err(ConfigError::UnknownKey(key.into())),
        }
        Ok(())
    }

    /// Checks settings that only make sense together (an enabled HTTP sink
    /// needs a URL, an enabled program sink a program).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.http.enabled && self.http.url.trim().is_empty() {
            return Err(ConfigError::InvalidValue {
                key: "http_output.url".into(),
                value: String::new(),
                expected: "an http:// or https:// URL when http_output.enabled is true",
            });
        }
        if self.http.enabled
            && !(self.http.url.starts_with("http://") || self.http.url.starts_with("https://"))
        {
            return Err(ConfigError::InvalidValue {
                key: "http_output.url".into(),
                value: self.http.url.clone(),
                expected: "an http:// or https:// URL",
            });
        }
        if self.program.enabled && self.program.program.trim().is_empty() {
            return Err(ConfigError::InvalidValue {
                key: "program_output.program".into(),
                value: String::new(),
                expected: "a shell command when program_output.enabled is true",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_falcos() {
        let c = OutputsConfig::default();
        assert!(!c.json_output);
        assert!(c.json_include_output_property);
        assert!(!c.json_include_message_property);
        assert!(c.json_include_output_fields_property);
        assert!(c.json_include_tags_property);
        assert!(!c.time_format_iso_8601);
        assert_eq!(c.append_output, vec![AppendOutput::suggested()]);
        assert_eq!(c.priority, Priority::Debug);
        assert!(c.stdout.enabled && c.syslog.enabled);
        assert!(!c.file.enabled && !c.file.keep_alive);
        assert_eq!(c.file.filename, PathBuf::from("./events.txt"));
        assert!(!c.http.enabled && !c.program.enabled);
        assert_eq!(
            c.effective_queue_capacity(),
            OutputsConfig::DEFAULT_QUEUE_CAPACITY
        );
        assert_eq!(c.repeat_window, Duration::ZERO);
    }

    #[test]
    fn set_keys() {
        let mut c = OutputsConfig::default();
        c.set("json_output", "true").unwrap();
        c.set("priority", "Info").unwrap();
        c.set("http_output.url", "http://127.0.0.1:2801/").unwrap();
        c.set("http_output.enabled", "yes").unwrap();
        c.set("file_output.filename", "/tmp/x.log").unwrap();
        c.set("outputs_queue.capacity", "10").unwrap();
        c.set("append_output[].extra_output", "pid=%proc.pid")
            .unwrap();
        c.set("http_output.echo", "false").unwrap();
        assert!(c.json_output);
        assert_eq!(c.priority, Priority::Informational);
        assert!(c.http.enabled);
        assert_eq!(c.http.url, "http://127.0.0.1:2801/");
        assert_eq!(c.effective_queue_capacity(), 10);
        assert_eq!(c.append_output.len(), 2);
        assert_eq!(
            c.append_output[1].extra_output.as_deref(),
            Some("pid=%proc.pid")
        );
        c.validate().unwrap();

        assert!(matches!(
            c.set("json_output", "maybe"),
            Err(ConfigError::InvalidValue { .. })
        ));
        assert!(matches!(
            c.set("nosuch.key", "1"),
            Err(ConfigError::UnknownKey(_))
        ));
        assert!(matches!(
            c.set("http_output.echo", "true"),
            Err(ConfigError::Unsupported { .. })
        ));
        assert!(matches!(
            c.set("priority", "loud"),
            Err(ConfigError::InvalidValue { .. })
        ));
        c.set("http_output.url", "ftp://x").unwrap();
        assert!(c.validate().is_err());
        let mut c = OutputsConfig::default();
        c.set("program_output.enabled", "true").unwrap();
        assert!(c.validate().is_err());
    }
}
