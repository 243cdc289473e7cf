//! kestrel-engine: everything kestrel does after an event leaves the kernel.
//!
//! The engine is pure Rust: no eBPF, no root. It consumes decoded events
//! from the probe's rings, from capture files or from JSON-lines files, and
//! owns the event model ([`event`]), process state ([`state`]), the field
//! catalogue ([`fields`]), Falco's rule language ([`rules`]), matching
//! ([`matcher`]), alert formatting and sinks ([`output`]) and the pipeline
//! that ties them together ([`pipeline`]).
#![deny(missing_docs)]

/// The event model lives in its own crate (shared with the probe); the
/// engine re-exports it under its old path.
pub use kestrel_event as event;
pub mod fields;
pub mod kfilter;
pub mod matcher;
pub mod output;
pub mod pipeline;
pub mod rules;
pub mod state;
pub mod util;
