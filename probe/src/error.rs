//! [`ProbeError`]: everything that can go wrong loading, attaching and
//! reading the probe, with the cause kept.

use std::io;

/// Errors of the probe loader and ring readers.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    /// The kernel refused a BPF operation for lack of privilege (EPERM).
    #[error("kestrel needs root (CAP_BPF, CAP_PERFMON): {what} was refused")]
    NotRoot {
        /// The operation that was refused.
        what: String,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The kernel exposes no BTF, which BTF tracepoints and CO-RE need.
    #[error(
        "the kernel has no BTF ({path} is missing): kestrel needs a kernel built with \
         CONFIG_DEBUG_INFO_BTF=y"
    )]
    NoBtf {
        /// The file that was looked for.
        path: String,
    },
    /// BPF ring buffers (Linux 5.8+) could not be created.
    #[error("the kernel does not support BPF ring buffers (needs Linux 5.8 or later)")]
    RingBufUnsupported {
        /// The kernel's answer to the map creation.
        #[source]
        source: io::Error,
    },
    /// A configuration value is out of range.
    #[error("invalid probe configuration: {0}")]
    Config(String),
    /// An event type id that kestrel does not know.
    #[error("unknown event type id {0}")]
    UnknownEventType(u16),
    /// The BPF object could not be parsed, relocated or its maps created.
    #[error("cannot load the BPF object {object}")]
    Load {
        /// Which embedded object.
        object: &'static str,
        /// aya's error.
        #[source]
        source: aya::EbpfError,
    },
    /// The kernel verifier (or the loader) rejected a program.
    #[error("cannot load BPF program {program}: {message}")]
    Program {
        /// Program name.
        program: &'static str,
        /// The error, with the tail of the verifier log when there is one.
        message: String,
        /// The underlying error (the syscall's for a verifier rejection:
        /// the full log is not repeated).
        #[source]
        source: Box<dyn std::error::Error + Send + Sync + 'static>,
    },
    /// A program could not be attached to its tracepoint.
    #[error("cannot attach BPF program {program} to {tracepoint}")]
    Attach {
        /// Program name.
        program: &'static str,
        /// Tracepoint name.
        tracepoint: &'static str,
        /// aya's error.
        #[source]
        source: aya::programs::ProgramError,
    },
    /// A map operation failed.
    #[error("BPF map {map}: {what}")]
    Map {
        /// Map name.
        map: &'static str,
        /// What was being done.
        what: &'static str,
        /// aya's error.
        #[source]
        source: aya::maps::MapError,
    },
    /// The object lacks a map or program the loader expects (a build bug).
    #[error("the BPF object has no {0}")]
    Missing(&'static str),
    /// Mapping a ring buffer into memory failed.
    #[error("cannot mmap the ring buffer of CPU {cpu}")]
    Mmap {
        /// The ring's CPU.
        cpu: u32,
        /// The kernel's answer.
        #[source]
        source: io::Error,
    },
    /// The ring readers were already handed out.
    #[error("the ring readers were already taken from this probe")]
    ReadersTaken,
    /// Another system error (reading /sys, the CPU list, BTF).
    #[error("{what}")]
    Io {
        /// What was being done.
        what: String,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl ProbeError {
    /// Classifies a failed BPF syscall: EPERM becomes [`ProbeError::NotRoot`].
    pub(crate) fn from_io(what: impl Into<String>, e: io::Error) -> ProbeError {
        let what = what.into();
        if e.raw_os_error() == Some(libc::EPERM) {
            ProbeError::NotRoot { what, source: e }
        } else {
            ProbeError::Io { what, source: e }
        }
    }
}

/// Finds an EPERM anywhere in an error's source chain.
pub(crate) fn is_eperm(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<io::Error>() {
            if io.raw_os_error() == Some(libc::EPERM) {
                return true;
            }
        }
        if let Some(aya::programs::ProgramError::LoadError { io_error, .. }) =
            err.downcast_ref::<aya::programs::ProgramError>()
        {
            if io_error.raw_os_error() == Some(libc::EPERM) {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// The last `lines` lines of a verifier log: the error is at the end, and
/// a full log can run to megabytes.
pub(crate) fn log_tail(log: &str, lines: usize) -> String {
    let all: Vec<&str> = log.lines().collect();
    let start = all.len().saturating_sub(lines);
    all[start..].join("\n")
}
