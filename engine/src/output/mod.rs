//! Alerts: output format strings, Falco's text and JSON alert shapes, and
//! the sinks that deliver them.
