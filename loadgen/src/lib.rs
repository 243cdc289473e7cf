//! kestrel-loadgen: drives real syscalls at a set rate from N threads and
//! reconciles what it issued with what the kestrel daemon observed.
//!
//! Design:
//! - **Real syscalls, exactly accounted.** Every syscall an operation
//!   issues goes through a wrapper in [`sys`] that calls the syscall by
//!   number and records it in a per-thread [`ledger::Ledger`]. libc
//!   wrappers are avoided because they choose syscalls behind our back
//!   (`open` → `openat`, `fork` → `clone` or `clone3`), and std's network
//!   and file APIs add calls (`sendto`, `statx`, `fchmod`) the ledger would
//!   miss. Setup (files, listener, threads, pinning) happens before the
//!   measurement window and cleanup after it.
//! - **Pacing** ([`pacing`]): an absolute per-thread schedule, sleeping for
//!   long gaps and spinning for short ones; `max` runs flat out.
//! - **Latency**: each operation is timed with the monotonic clock (vDSO,
//!   no syscall) and recorded in a per-thread hdrhistogram, merged at the
//!   end.
//! - **Reconciliation** ([`reconcile`], [`daemon`], [`runner`]): the daemon
//!   counts events per tracked process (`POST /track?tgid=`); the load
//!   generator scrapes `/metrics` before and after, waits until the counts
//!   have settled, and compares per event type. Its own scrapes are
//!   syscalls too: the HTTP client is a handful of raw, ledgered syscalls,
//!   and the ledger is snapshotted at the point where the daemon renders.
//!
//! Rejected: an HTTP library for the scrapes (unaccountable syscalls and
//! name lookups inside the window); random operation mixes (a fixed cycle
//! makes runs reproducible); counting expected events from a model of the
//! daemon rather than from what was actually issued (a failed or retried
//! syscall would make the model wrong).

pub mod cli;
pub mod daemon;
pub mod ledger;
pub mod pacing;
pub mod prom;
pub mod reconcile;
pub mod report;
pub mod rules;
pub mod runner;
pub mod scenario;
pub mod sim;
pub mod sys;
pub mod trigger;
pub mod uring;
