//! [`EmptyHook`]: an empty `tp_btf/sys_exit` program, the floor every
//! syscall hook pays. The overhead benchmark compares kestrel against it;
//! [`EmptyHook::attach_clock`] attaches instead a program that only reads
//! the event clock [`CLOCK_READS`] times, to price one timestamp.

use aya::programs::BtfTracePoint;
use aya::{Ebpf, EbpfLoader};

use crate::loader::{attach_error, load_btf, load_error, program_error};
use crate::ProbeError;

static EMPTY_BPF: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/empty.bpf.o"));

/// Clock reads per run of the clock reference program.
pub const CLOCK_READS: u32 = 10;

/// An attached reference `sys_exit` program; detached on drop.
pub struct EmptyHook {
    ebpf: Ebpf,
    name: &'static str,
}

impl std::fmt::Debug for EmptyHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmptyHook")
    }
}

impl EmptyHook {
    /// Loads and attaches the empty program.
    pub fn attach() -> Result<EmptyHook, ProbeError> {
        EmptyHook::attach_named("kst_empty_sys_exit")
    }

    /// Loads and attaches the program that reads the event clock
    /// ([`CLOCK_READS`] `bpf_ktime_get_boot_ns` calls per run) and does
    /// nothing else.
    pub fn attach_clock() -> Result<EmptyHook, ProbeError> {
        EmptyHook::attach_named("kst_clock_sys_exit")
    }

    fn attach_named(name: &'static str) -> Result<EmptyHook, ProbeError> {
        let btf = load_btf()?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .load(EMPTY_BPF)
            .map_err(|e| load_error("empty.bpf.o", e))?;
        let prog: &mut BtfTracePoint = ebpf
            .program_mut(name)
            .ok_or(ProbeError::Missing("reference program in empty.bpf.o"))?
            .try_into()
            .map_err(|e| program_error(name, e))?;
        prog.load("sys_exit", &btf)
            .map_err(|e| program_error(name, e))?;
        prog.attach()
            .map_err(|e| attach_error(name, "sys_exit", e))?;
        Ok(EmptyHook { ebpf, name })
    }

    /// The program's run count and total run time in nanoseconds (zero
    /// unless BPF statistics are on, see [`crate::Probe::enable_stats`]).
    pub fn stats(&self) -> Result<(u64, u64), ProbeError> {
        let name = self.name;
        let prog = self
            .ebpf
            .program(name)
            .ok_or(ProbeError::Missing("reference program in empty.bpf.o"))?;
        let info = prog.info().map_err(|e| program_error(name, e))?;
        Ok((info.run_count(), info.run_time().as_nanos() as u64))
    }
}
