//! The event model: the wire format shared with the probe, the table of
//! event types and their parameters, and zero-copy views of records.

pub mod capfile;
pub mod flags;
pub mod raw;
pub mod syscalls;
pub mod table;
pub mod wire;

pub use raw::{DecodeError, EventBuilder, RawEvent};
pub use table::{EventInfo, EventType, FdUse, FlagSet, ParamInfo, ParamKind, RetKind, EVENTS};
