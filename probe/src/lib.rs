//! kestrel-probe: loads kestrel's eBPF programs, attaches them to BTF
//! tracepoints and reads the per-CPU ring buffers.
//!
//! # Design
//!
//! The kernel side (C under `probe/bpf`, built by `build.rs` with clang,
//! CO-RE against hand-written minimal kernel types) is one BPF object:
//!
//! - `tp_btf/sys_exit`: one program for every traced syscall. The syscall
//!   number indexes a table (`kst_sc_type`) that userspace fills from the
//!   wanted event types; an untraced syscall costs one register load and an
//!   inlined array lookup. Arguments are read from the saved registers at
//!   exit, so each syscall is one record carrying its return value.
//! - `tp_btf/sched_process_fork|exec|exit`: process lifecycle. The
//!   successful exec is reported here, with the new image.
//! - Records go to per-CPU BPF ring buffers (an ARRAY_OF_MAPS indexed by
//!   CPU) without wakeups; [`RingReader`] hands them out in place and polls
//!   with [`Backoff`]. Poll in batches: a consumer that spins on a ring
//!   from another CPU doubles the producer's cost per event (measured, see
//!   [`Backoff`]).
//! - Per-CPU counters (`seen == sent + dropped`, by category) make every
//!   loss visible.
//! - In-kernel filters: the syscall table (set with
//!   [`Probe::set_event_types`]), the loader's own process, and optionally
//!   failed syscalls.
//!
//! Kernel requirements: BTF (`/sys/kernel/btf/vmlinux`), BPF ring buffers
//! and `bpf_loop` (5.17+), and the single-word `kernel_cap_t` of 6.3+.
//! Developed and tested on 6.18. x86-64 only (syscall numbers, `pt_regs`);
//! 32-bit (ia32) syscalls are not reported.
//!
//! Rejected alternatives: kprobes, fentry/fexit and BPF LSM are refused by
//! some kernels kestrel targets; a `sys_enter` hook doubles the fixed cost
//! of every syscall; one shared ring collapses under many producers; perf
//! buffers copy twice and reorder per CPU anyway.
//!
//! The wire format is defined once in `bpf/kestrel_wire.h`, mirrored in
//! [`kestrel_event::wire`]; records decode with [`RawEvent`].
//!
//! # Example
//!
//! ```no_run
//! use kestrel_probe::{Backoff, Probe, ProbeConfig, RawEvent};
//!
//! let mut probe = Probe::load(ProbeConfig::default())?;
//! let mut readers = probe.readers()?;
//! let mut backoff = Backoff::default();
//! let reader = &mut readers[0];
//! for _ in 0..100 {
//!     let got = reader.poll(4096, |rec| {
//!         if let Ok(ev) = RawEvent::parse(rec) {
//!             println!("{} by {}", ev.info.name, ev.hdr.tid);
//!         }
//!     });
//!     backoff.pause(got);
//! }
//! println!("{:?}", probe.counters_total()?);
//! # Ok::<(), kestrel_probe::ProbeError>(())
//! ```
#![deny(missing_docs)]

mod empty;
mod error;
pub mod events;
mod filter;
mod loader;
mod ring;
pub mod selfguard;

pub use empty::{EmptyHook, CLOCK_READS};
pub use error::ProbeError;
pub use kestrel_event::wire;
pub use kestrel_event::{DecodeError, EventType, RawEvent};
pub use loader::{possible_cpus, IntegrityIssue, Probe, ProbeConfig, ProgramStats};
pub use ring::{park_many, Backoff, RingFill, RingReader};
