//! The ledger: how many syscalls of each kind the load generator issued.
//!
//! Every syscall whose event kestrel may trace goes through a wrapper in
//! [`crate::sys`] that records it here, so the ledger cannot forget one.
//! Counts are plain integers in a per-thread ledger (no atomics on the hot
//! path); ledgers are summed when threads finish.

use std::ops::{AddAssign, Sub};

/// A syscall the load generator issues and accounts for. Names are
/// kestrel's event type names (Falco's `evt.type`), except `getppid`,
/// `read` and `write`, which kestrel does not capture and which are
/// accounted for so that a daemon that starts tracing them is still
/// reconciled correctly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sys {
    /// openat(2).
    Openat,
    /// close(2).
    Close,
    /// socket(2).
    Socket,
    /// connect(2).
    Connect,
    /// accept4(2).
    Accept4,
    /// clone(2) (every child process, vfork-style or fork-style).
    Clone,
    /// execve(2)/execveat(2) in a child: kestrel reports any successful
    /// exec as `execve`.
    Execve,
    /// getppid(2): filtered in the kernel by kestrel.
    Getppid,
    /// symlinkat(2).
    Symlinkat,
    /// linkat(2).
    Linkat,
    /// unlinkat(2).
    Unlinkat,
    /// fchmodat(2).
    Fchmodat,
    /// memfd_create(2).
    MemfdCreate,
    /// ptrace(2).
    Ptrace,
    /// userfaultfd(2).
    Userfaultfd,
    /// write(2).
    Write,
    /// read(2).
    Read,
    /// io_uring_setup(2).
    IoUringSetup,
    /// io_uring_enter(2).
    IoUringEnter,
}

impl Sys {
    /// Number of variants.
    pub const COUNT: usize = 19;
    /// Every variant, in index order.
    pub const ALL: [Sys; Sys::COUNT] = [
        Sys::Openat,
        Sys::Close,
        Sys::Socket,
        Sys::Connect,
        Sys::Accept4,
        Sys::Clone,
        Sys::Execve,
        Sys::Getppid,
        Sys::Symlinkat,
        Sys::Linkat,
        Sys::Unlinkat,
        Sys::Fchmodat,
        Sys::MemfdCreate,
        Sys::Ptrace,
        Sys::Userfaultfd,
        Sys::Write,
        Sys::Read,
        Sys::IoUringSetup,
        Sys::IoUringEnter,
    ];

    /// The event type name.
    pub fn name(self) -> &'static str {
        match self {
            Sys::Openat => "openat",
            Sys::Close => "close",
            Sys::Socket => "socket",
            Sys::Connect => "connect",
            Sys::Accept4 => "accept4",
            Sys::Clone => "clone",
            Sys::Execve => "execve",
            Sys::Getppid => "getppid",
            Sys::Symlinkat => "symlinkat",
            Sys::Linkat => "linkat",
            Sys::Unlinkat => "unlinkat",
            Sys::Fchmodat => "fchmodat",
            Sys::MemfdCreate => "memfd_create",
            Sys::Ptrace => "ptrace",
            Sys::Userfaultfd => "userfaultfd",
            Sys::Write => "write",
            Sys::Read => "read",
            Sys::IoUringSetup => "io_uring_setup",
            Sys::IoUringEnter => "io_uring_enter",
        }
    }

    /// Whether kestrel's event table has this type. Used only when the
    /// daemon does not say which types it traces.
    pub fn kestrel_event(self) -> bool {
        !matches!(self, Sys::Getppid)
    }

    /// The variant with this event type name.
    pub fn from_name(name: &str) -> Option<Sys> {
        Sys::ALL.into_iter().find(|s| s.name() == name)
    }
}

/// Who issued a syscall, as the daemon's tracker labels it (`rel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rel {
    /// A thread of the load generator itself.
    Own,
    /// A child process of the load generator.
    Child,
}

impl Rel {
    /// The label value (`self` or `child`).
    pub fn label(self) -> &'static str {
        match self {
            Rel::Own => "self",
            Rel::Child => "child",
        }
    }

    /// Parses a label value.
    pub fn from_label(s: &str) -> Option<Rel> {
        match s {
            "self" => Some(Rel::Own),
            "child" => Some(Rel::Child),
            _ => None,
        }
    }
}

/// Issued and failed syscall counts by (rel, syscall).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ledger {
    issued: [[u64; Sys::COUNT]; 2],
    failed: [[u64; Sys::COUNT]; 2],
}

impl Default for Ledger {
    fn default() -> Self {
        Ledger {
            issued: [[0; Sys::COUNT]; 2],
            failed: [[0; Sys::COUNT]; 2],
        }
    }
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Records one syscall; `ok` is false when it returned an error.
    #[inline]
    pub fn record(&mut self, rel: Rel, sys: Sys, ok: bool) {
        self.issued[rel as usize][sys as usize] += 1;
        if !ok {
            self.failed[rel as usize][sys as usize] += 1;
        }
    }

    /// Syscalls issued.
    pub fn issued(&self, rel: Rel, sys: Sys) -> u64 {
        self.issued[rel as usize][sys as usize]
    }

    /// Syscalls that returned an error (included in [`Ledger::issued`]).
    pub fn failed(&self, rel: Rel, sys: Sys) -> u64 {
        self.failed[rel as usize][sys as usize]
    }

    /// Total syscalls issued.
    pub fn total(&self) -> u64 {
        self.issued.iter().flatten().sum()
    }

    /// `(rel, sys, issued, failed)` for every non-zero entry.
    pub fn entries(&self) -> impl Iterator<Item = (Rel, Sys, u64, u64)> + '_ {
        [Rel::Own, Rel::Child].into_iter().flat_map(move |rel| {
            Sys::ALL.into_iter().filter_map(move |sys| {
                let n = self.issued(rel, sys);
                (n > 0).then(|| (rel, sys, n, self.failed(rel, sys)))
            })
        })
    }
}

impl AddAssign<&Ledger> for Ledger {
    fn add_assign(&mut self, o: &Ledger) {
        for r in 0..2 {
            for s in 0..Sys::COUNT {
                self.issued[r][s] += o.issued[r][s];
                self.failed[r][s] += o.failed[r][s];
            }
        }
    }
}

impl Sub for &Ledger {
    type Output = Ledger;
    /// Entry-wise difference, saturating at zero (ledgers only grow, so a
    /// negative difference means the operands were swapped).
    fn sub(self, o: &Ledger) -> Ledger {
        let mut out = Ledger::default();
        for r in 0..2 {
            for s in 0..Sys::COUNT {
                out.issued[r][s] = self.issued[r][s].saturating_sub(o.issued[r][s]);
                out.failed[r][s] = self.failed[r][s].saturating_sub(o.failed[r][s]);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_round_trip() {
        for (i, s) in Sys::ALL.into_iter().enumerate() {
            assert_eq!(s as usize, i);
            assert_eq!(Sys::from_name(s.name()), Some(s));
        }
        assert_eq!(Sys::from_name("mmap"), None);
    }

    #[test]
    fn record_add_sub() {
        let mut a = Ledger::new();
        a.record(Rel::Own, Sys::Openat, true);
        a.record(Rel::Own, Sys::Openat, false);
        a.record(Rel::Child, Sys::Execve, true);
        assert_eq!(a.issued(Rel::Own, Sys::Openat), 2);
        assert_eq!(a.failed(Rel::Own, Sys::Openat), 1);
        let mut b = a;
        b += &a;
        assert_eq!(b.total(), 6);
        let d = &b - &a;
        assert_eq!(d, a);
        assert_eq!((&a - &b).total(), 0);
        let e: Vec<_> = a.entries().collect();
        assert_eq!(
            e,
            vec![
                (Rel::Own, Sys::Openat, 2, 1),
                (Rel::Child, Sys::Execve, 1, 0)
            ]
        );
    }
}
