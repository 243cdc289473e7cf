//! kestrel-event: the bottom of kestrel's crate graph.
//!
//! The wire format the probe writes ([`wire`], the Rust mirror of
//! `probe/bpf/kestrel_wire.h`), the table of event types and their
//! parameters ([`table`]), flag and syscall-number tables, zero-copy views
//! of ring records ([`raw`]) and the capture-file format ([`capfile`]).
//!
//! Both sides of the kernel boundary use it: the probe crate (loader and
//! ring readers) and the engine (state, fields, matching). Its only
//! dependency is thiserror, so the probe does not pull in the engine's rules, outputs
//! and HTTP stack just to know its own record layout.
#![deny(missing_docs)]

pub mod capfile;
pub mod flags;
pub mod iouring;
pub mod raw;
pub mod syscalls;
pub mod table;
pub mod wire;

pub use raw::{DecodeError, EventBuilder, RawEvent};
pub use table::{
    EventInfo, EventType, FdUse, FlagSet, ParamInfo, ParamKind, RetKind, Src, EVENTS,
    GENERIC_MAX_PARAMS,
};
