//! The interest filter's maps (probe/bpf/filter.h): installing a
//! [`FilterProgram`] into the slot not in force and flipping to it, the
//! per-type counts of filtered events, and the tracked processes whose
//! filtered events are counted for load-generator reconciliation.
//!
//! A reload must never leave the probe half way between two filters: the
//! program reads the active slot once per run and every map entry is keyed
//! by slot, so the new filter is complete before the flip makes it visible
//! and the old one stays intact until the next install overwrites it.

use aya::maps::lpm_trie::{Key, LpmTrie};
use aya::maps::{Array, HashMap, MapData, PerCpuArray, PerCpuValues};
use kestrel_event::wire::{
    FCfg, FCommKey, FilterProgram, TFilter, COMM_LEN, FILTER_CLAUSES, FPATH_DATA, FPATH_MAX,
    TRACK_SLOTS,
};

use crate::loader::{map_err, take_map};
use crate::ProbeError;

/// Event type ids the filter tables cover (`KST_EV_MAX`).
pub const EV_MAX: usize = 256;

macro_rules! pod {
    ($name:ident, $inner:ty) => {
        #[derive(Clone, Copy)]
        #[repr(transparent)]
        struct $name($inner);
        // SAFETY: the wire structs are repr(C), integers and byte arrays
        // only, valid for any bit pattern.
        unsafe impl aya::Pod for $name {}
    };
}
pod!(PodCfg, FCfg);
pod!(PodTFilter, TFilter);
pod!(PodCommKey, FCommKey);

/// The filter maps of a loaded probe.
pub(crate) struct FilterMaps {
    cfg: Array<MapData, PodCfg>,
    tfilter: Array<MapData, PodTFilter>,
    paths: LpmTrie<MapData, [u8; FPATH_DATA], u64>,
    comms: HashMap<MapData, PodCommKey, u64>,
    filtered: PerCpuArray<MapData, u64>,
    track: HashMap<MapData, u32, u32>,
    track_filtered: PerCpuArray<MapData, u64>,
    /// The slot in force.
    /// Filters installed so far; its low bit is the slot in force.
    active: u32,
    tracking: bool,
    /// Keys written into each slot, to delete them before the slot is
    /// reused.
    path_keys: [Vec<(u32, [u8; FPATH_DATA])>; 2],
    comm_keys: [Vec<FCommKey>; 2],
    /// Per tracking slot, the tgid it counts for.
    tracked: [u32; TRACK_SLOTS],
}

impl FilterMaps {
    pub(crate) fn take(ebpf: &mut aya::Ebpf) -> Result<FilterMaps, ProbeError> {
        macro_rules! open {
            ($ty:ident, $name:literal) => {
                $ty::try_from(take_map(ebpf, $name)?).map_err(|e| map_err($name, "open", e))?
            };
        }
        Ok(FilterMaps {
            cfg: open!(Array, "kst_fcfg"),
            tfilter: open!(Array, "kst_tfilter"),
            paths: open!(LpmTrie, "kst_fpath"),
            comms: open!(HashMap, "kst_fcomm"),
            filtered: open!(PerCpuArray, "kst_filtered"),
            track: open!(HashMap, "kst_track"),
            track_filtered: open!(PerCpuArray, "kst_track_filtered"),
            active: 0,
            tracking: false,
            path_keys: [Vec::new(), Vec::new()],
            comm_keys: [Vec::new(), Vec::new()],
            tracked: [0; TRACK_SLOTS],
        })
    }

    fn write_cfg(&mut self) -> Result<(), ProbeError> {
        let cfg = FCfg {
            active: self.active,
            tracking: u32::from(self.tracking),
        };
        self.cfg
            .set(0, PodCfg(cfg), 0)
            .map_err(|e| map_err("kst_fcfg", "write", e))
    }

    /// Installs `prog` in the slot not in force, then makes it the one in
    /// force. Types `prog` does not list pass everything. Returns the
    /// filter's generation, the low byte of the install count, which the
    /// events it marks carry.
    pub(crate) fn install(&mut self, prog: &FilterProgram) -> Result<u8, ProbeError> {
        check(prog)?;
        let next = self.active.wrapping_add(1);
        let slot = next & 1;
        // Clear what the slot held.
        for (prefixlen, data) in std::mem::take(&mut self.path_keys[slot as usize]) {
            let k = Key::new(prefixlen, data);
            // An entry that is already gone is what we want.
            if let Err(e) = self.paths.remove(&k) {
                log::debug!("kst_fpath: removing a stale entry: {e}");
            }
        }
        for k in std::mem::take(&mut self.comm_keys[slot as usize]) {
            if let Err(e) = self.comms.remove(&PodCommKey(k)) {
                log::debug!("kst_fcomm: removing a stale entry: {e}");
            }
        }
        let mut per_type = vec![TFilter::default(); EV_MAX];
        for (ty, f) in &prog.types {
            per_type[*ty as usize] = *f;
        }
        for (ty, f) in per_type.into_iter().enumerate() {
            self.tfilter
                .set(slot * EV_MAX as u32 + ty as u32, PodTFilter(f), 0)
                .map_err(|e| map_err("kst_tfilter", "write", e))?;
        }
        for (pattern, exact, mask) in &prog.paths {
            let mut data = [0u8; FPATH_DATA];
            data[0] = slot as u8;
            data[1..1 + pattern.len()].copy_from_slice(pattern);
            // An exact entry includes the path's terminating NUL.
            let bytes = 1 + pattern.len() + usize::from(*exact);
            let prefixlen = (bytes * 8) as u32;
            self.paths
                .insert(&Key::new(prefixlen, data), *mask, 0)
                .map_err(|e| map_err("kst_fpath", "write", e))?;
            self.path_keys[slot as usize].push((prefixlen, data));
        }
        for (comm, mask) in &prog.comms {
            let k = FCommKey { slot, comm: *comm };
            self.comms
                .insert(PodCommKey(k), *mask, 0)
                .map_err(|e| map_err("kst_fcomm", "write", e))?;
            self.comm_keys[slot as usize].push(k);
        }
        self.active = next;
        self.write_cfg()?;
        Ok(next as u8)
    }

    /// Events the filter removed, per event type id, summed over CPUs.
    pub(crate) fn filtered(&self) -> Result<Vec<u64>, ProbeError> {
        let mut out = vec![0u64; EV_MAX];
        for (ty, n) in out.iter_mut().enumerate() {
            let v: PerCpuValues<u64> = self
                .filtered
                .get(&(ty as u32), 0)
                .map_err(|e| map_err("kst_filtered", "read", e))?;
            *n = v.iter().sum();
        }
        Ok(out)
    }

    /// Counts filtered events of `tgids[i]` (and its children) in tracking
    /// slot i; 0 frees a slot. A slot whose process changed starts from
    /// zero.
    pub(crate) fn set_tracked(&mut self, tgids: &[u32; TRACK_SLOTS]) -> Result<(), ProbeError> {
        let ncpu = self.filtered_ncpu()?;
        for (i, &new) in tgids.iter().enumerate() {
            let old = self.tracked[i];
            if new == old {
                continue;
            }
            if old != 0 {
                if let Err(e) = self.track.remove(&old) {
                    log::debug!("kst_track: removing {old}: {e}");
                }
            }
            if new != 0 {
                for k in (i * 2 * EV_MAX) as u32..((i + 1) * 2 * EV_MAX) as u32 {
                    let zeros = PerCpuValues::try_from(vec![0u64; ncpu])
                        .map_err(|e| ProbeError::from_io("zeroing tracked counts", e))?;
                    self.track_filtered
                        .set(k, zeros, 0)
                        .map_err(|e| map_err("kst_track_filtered", "write", e))?;
                }
                self.track
                    .insert(new, i as u32, 0)
                    .map_err(|e| map_err("kst_track", "write", e))?;
            }
            self.tracked[i] = new;
        }
        self.tracking = self.tracked.iter().any(|&t| t != 0);
        self.write_cfg()
    }

    fn filtered_ncpu(&self) -> Result<usize, ProbeError> {
        let v: PerCpuValues<u64> = self
            .filtered
            .get(&0, 0)
            .map_err(|e| map_err("kst_filtered", "read", e))?;
        Ok(v.len())
    }

    /// Filtered events of tracked processes: `(tgid, rel, type, count)`
    /// with rel 0 for the process, 1 for its children; non-zero counts
    /// only.
    pub(crate) fn tracked_filtered(&self) -> Result<Vec<(u32, u8, u16, u64)>, ProbeError> {
        let mut out = Vec::new();
        for (i, &tgid) in self.tracked.iter().enumerate() {
            if tgid == 0 {
                continue;
            }
            for rel in 0..2u8 {
                for ty in 0..EV_MAX {
                    let k = ((i * 2 + rel as usize) * EV_MAX + ty) as u32;
                    let v: PerCpuValues<u64> = self
                        .track_filtered
                        .get(&k, 0)
                        .map_err(|e| map_err("kst_track_filtered", "read", e))?;
                    let n: u64 = v.iter().sum();
                    if n > 0 {
                        out.push((tgid, rel, ty as u16, n));
                    }
                }
            }
        }
        Ok(out)
    }
}

fn check(prog: &FilterProgram) -> Result<(), ProbeError> {
    for (ty, f) in &prog.types {
        if *ty as usize >= EV_MAX || f.nclauses as usize > FILTER_CLAUSES {
            return Err(ProbeError::Config(format!(
                "interest filter: event type {ty} with {} clauses (at most {FILTER_CLAUSES})",
                f.nclauses
            )));
        }
    }
    for (p, _, _) in &prog.paths {
        if p.is_empty() || p.len() > FPATH_MAX {
            return Err(ProbeError::Config(format!(
                "interest filter: path pattern of {} bytes (1 to {FPATH_MAX})",
                p.len()
            )));
        }
    }
    for (c, _) in &prog.comms {
        if c.len() != COMM_LEN {
            return Err(ProbeError::Config("interest filter: bad comm key".into()));
        }
    }
    Ok(())
}
