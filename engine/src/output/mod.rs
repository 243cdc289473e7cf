//! Alerts: output format strings, Falco's text and JSON alert shapes, and
//! the sinks that deliver them (RULES.md §9, §10.7).
//!
//! - [`mod@format`]: compiles format strings ([`OutputFormat::compile`]) and
//!   renders them against any [`crate::fields::Extract`].
//! - [`alert`]: [`CompiledOutputs`] (every rule's assembled format and
//!   JSON layout, built once, shared behind an `Arc`) renders a match into
//!   an owned [`Alert`] on the worker thread.
//! - [`config`]: [`OutputsConfig`], Falco's output keys with Falco's
//!   defaults and [`OutputsConfig::set`] for `-o key=value`.
//! - [`Outputs`]: the running outputs. Workers hold an [`OutputSender`]
//!   and never block on it; a dispatcher thread filters, collapses
//!   repeats (optional) and fans out to one thread per sink (stdout,
//!   syslog, file, HTTP, program), each behind a bounded queue. Every lost
//!   alert is counted per sink with a reason ([`OutputsStats`]).
//!
//! Alternatives rejected: rendering on the output thread (it would need
//! the event, which lives in a ring buffer the worker must release, so the
//! worker renders); one shared queue per sink written directly by workers
//! (repeat collapsing would need a lock shared by all workers).

pub mod alert;
pub mod config;
pub mod format;
mod front;
pub mod json;
pub mod sinks;
pub mod time;

pub use alert::{Alert, CompileError, CompiledOutputs, RuleId, RuleWarning};
pub use config::{
    AppendMatch, AppendOutput, ConfigError, ExtraField, FileConfig, HttpConfig, OutputsConfig,
    ProgramConfig, StdoutConfig, SyslogConfig,
};
pub use format::{FormatError, FormatWarning, OutputFormat};
pub use front::{OutputSender, Outputs, OutputsStats, StartError};
pub use sinks::http::HttpSetupError;
pub use sinks::{DropCounts, DropReason, SinkStats};
