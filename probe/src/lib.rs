//! kestrel-probe: loads kestrel's eBPF programs, attaches them to BTF
//! tracepoints and reads the per-CPU ring buffers.
#![deny(missing_docs)]

pub use kestrel_engine::event::wire;
