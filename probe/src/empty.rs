//! [`EmptyHook`]: an empty `tp_btf/sys_exit` program, the floor every
//! syscall hook pays. The overhead benchmark compares kestrel against it.

use aya::programs::BtfTracePoint;
use aya::{Ebpf, EbpfLoader};

use crate::loader::{attach_error, load_btf, load_error, program_error};
use crate::ProbeError;

static EMPTY_BPF: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/empty.bpf.o"));

/// An attached empty `sys_exit` program; detached on drop.
pub struct EmptyHook {
    ebpf: Ebpf,
}

impl std::fmt::Debug for EmptyHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EmptyHook")
    }
}

impl EmptyHook {
    /// Loads and attaches the empty program.
    pub fn attach() -> Result<EmptyHook, ProbeError> {
        const NAME: &str = "kst_empty_sys_exit";
        let btf = load_btf()?;
        let mut ebpf = EbpfLoader::new()
            .btf(Some(&btf))
            .load(EMPTY_BPF)
            .map_err(|e| load_error("empty.bpf.o", e))?;
        let prog: &mut BtfTracePoint = ebpf
            .program_mut(NAME)
            .ok_or(ProbeError::Missing("program kst_empty_sys_exit"))?
            .try_into()
            .map_err(|e| program_error(NAME, e))?;
        prog.load("sys_exit", &btf)
            .map_err(|e| program_error(NAME, e))?;
        prog.attach()
            .map_err(|e| attach_error(NAME, "sys_exit", e))?;
        Ok(EmptyHook { ebpf })
    }

    /// The program's run count and total run time in nanoseconds (zero
    /// unless BPF statistics are on, see [`crate::Probe::enable_stats`]).
    pub fn stats(&self) -> Result<(u64, u64), ProbeError> {
        const NAME: &str = "kst_empty_sys_exit";
        let prog = self
            .ebpf
            .program(NAME)
            .ok_or(ProbeError::Missing("program kst_empty_sys_exit"))?;
        let info = prog.info().map_err(|e| program_error(NAME, e))?;
        Ok((info.run_count(), info.run_time().as_nanos() as u64))
    }
}
