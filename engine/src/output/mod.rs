//! Alerts: output format strings, Falco's text and JSON alert shapes, and
//! the sinks that deliver them.

pub mod format;
pub mod json;
pub mod time;

pub use format::{FormatError, FormatWarning, OutputFormat};
