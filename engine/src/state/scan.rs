//! The start-up scan of /proc: every existing process becomes a synthetic
//! `procinfo` wire record (header flag `HF_SYNTHETIC`), so that the same
//! apply path serves live capture and capture files, and a capture file
//! starts with the state its events need.
//!
//! A process may exit while it is being read; such processes are skipped
//! (counted in the log), never an error for the scan as a whole.

use std::collections::HashMap;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use crate::event::table::exe_flags;
use crate::event::wire::{EventHdr, ARGS_MAX, ENV_MAX, HF_SYNTHETIC, PATH_MAX};
use crate::event::{EventBuilder, EventType};

/// Nanoseconds of `clock`.
fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    let r = unsafe { libc::clock_gettime(clock, &mut ts) };
    if r != 0 {
        return 0;
    }
    (ts.tv_sec as u64).saturating_mul(1_000_000_000) + ts.tv_nsec as u64
}

/// The boot clock (what `bpf_ktime_get_boot_ns` reads), ns.
pub fn boot_clock_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// Epoch ns minus boot-clock ns: add to an event timestamp to get wall
/// time.
pub fn boot_to_epoch_offset_ns() -> i64 {
    let b1 = boot_clock_ns();
    let r = clock_ns(libc::CLOCK_REALTIME);
    let b2 = boot_clock_ns();
    r as i64 - (b1 / 2 + b2 / 2) as i64
}

/// Clock ticks per second (`sysconf(_SC_CLK_TCK)`).
fn clk_tck() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// Fields of `/proc/<pid>/stat` the scan needs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stat {
    /// Parent pid.
    pub ppid: u32,
    /// Process group.
    pub pgrp: u32,
    /// Session.
    pub session: u32,
    /// Controlling tty.
    pub tty_nr: u32,
    /// Start time in clock ticks since boot.
    pub starttime: u64,
}

/// Parses `/proc/<pid>/stat` (the command name may hold spaces and
/// parentheses: fields are counted from the last `)`).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // f[0] is field 3 (state).
    let get = |n: usize| f.get(n - 3).and_then(|s| s.parse::<i64>().ok());
    Some(Stat {
        ppid: get(4)? as u32,
        pgrp: get(5)? as u32,
        session: get(6)? as u32,
        tty_nr: get(7)? as u32,
        starttime: get(22)? as u64,
    })
}

/// Fields of `/proc/<pid>/status` the scan needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Status {
    /// Real, effective uid.
    pub uid: (u32, u32),
    /// Real, effective gid.
    pub gid: (u32, u32),
    /// NSpid (outermost first).
    pub nspid: Vec<u32>,
    /// NSpgid.
    pub nspgid: Vec<u32>,
    /// CapInh, CapPrm, CapEff.
    pub caps: (u64, u64, u64),
    /// Threads in the group.
    pub tgid: u32,
}

/// Parses `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Status {
    let mut s = Status::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let nums = || v.split_whitespace().filter_map(|x| x.parse::<u32>().ok());
        let hex = || u64::from_str_radix(v.trim(), 16).unwrap_or(0);
        match k {
            "Uid" => {
                let n: Vec<u32> = nums().collect();
                s.uid = (
                    n.first().copied().unwrap_or(0),
                    n.get(1).copied().unwrap_or(0),
                );
            }
            "Gid" => {
                let n: Vec<u32> = nums().collect();
                s.gid = (
                    n.first().copied().unwrap_or(0),
                    n.get(1).copied().unwrap_or(0),
                );
            }
            "NSpid" => s.nspid = nums().collect(),
            "NSpgid" => s.nspgid = nums().collect(),
            "CapInh" => s.caps.0 = hex(),
            "CapPrm" => s.caps.1 = hex(),
            "CapEff" => s.caps.2 = hex(),
            "Tgid" => s.tgid = nums().next().unwrap_or(0),
            _ => {}
        }
    }
    s
}

fn read_capped(p: &Path, cap: usize) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    if let Ok(f) = std::fs::File::open(p) {
        // A read error mid-way leaves what was read: best effort.
        if f.take(cap as u64).read_to_end(&mut out).is_err() {
            out.clear();
        }
    }
    out
}

fn readlink_bytes(p: &Path) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::read_link(p)
        .map(|t| t.as_os_str().as_bytes().to_vec())
        .unwrap_or_default()
}

fn ns_ino(p: &Path) -> u32 {
    // "pid:[4026531836]"
    let l = readlink_bytes(p);
    let s = String::from_utf8_lossy(&l);
    s.split('[')
        .nth(1)
        .and_then(|r| r.trim_end_matches(']').parse::<u64>().ok())
        .map_or(0, |v| v as u32)
}

/// Everything read about one process, before records are built.
struct Raw {
    pid: u32,
    stat: Stat,
    status: Status,
    comm: Vec<u8>,
    cmdline: Vec<u8>,
    cwd: Vec<u8>,
    exepath: Vec<u8>,
    environ: Vec<u8>,
    cgroups: Vec<u8>,
    loginuid: u32,
    pidns: u32,
    mntns: u32,
    exe_meta: Option<std::fs::Metadata>,
}

fn read_one(proc: &Path, pid: u32) -> io::Result<Raw> {
    let dir = proc.join(pid.to_string());
    let stat_txt = std::fs::read_to_string(dir.join("stat"))?;
    let stat = parse_stat(&stat_txt)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad stat"))?;
    let status = parse_status(&std::fs::read_to_string(dir.join("status"))?);
    let mut comm = read_capped(&dir.join("comm"), 64);
    while comm.last() == Some(&b'\n') {
        comm.pop();
    }
    let mut exepath = readlink_bytes(&dir.join("exe"));
    if let Some(s) = exepath.strip_suffix(b" (deleted)") {
        exepath = s.to_vec();
    }
    let mut cgroups = Vec::new();
    for line in String::from_utf8_lossy(&read_capped(&dir.join("cgroup"), 64 << 10)).lines() {
        // "hier:controllers:path" → "controllers=path"
        let mut f = line.splitn(3, ':');
        let (Some(_), Some(ctl), Some(path)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        cgroups.extend_from_slice(ctl.as_bytes());
        cgroups.push(b'=');
        cgroups.extend_from_slice(path.as_bytes());
        cgroups.push(0);
    }
    let loginuid = std::fs::read_to_string(dir.join("loginuid"))
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .unwrap_or(u32::MAX);
    Ok(Raw {
        pid,
        stat,
        comm,
        cmdline: read_capped(&dir.join("cmdline"), ARGS_MAX),
        cwd: readlink_bytes(&dir.join("cwd")),
        environ: read_capped(&dir.join("environ"), ENV_MAX),
        exe_meta: std::fs::metadata(dir.join("exe")).ok(),
        exepath: exepath[..exepath.len().min(PATH_MAX)].to_vec(),
        cgroups,
        loginuid,
        pidns: ns_ino(&dir.join("ns/pid")),
        mntns: ns_ino(&dir.join("ns/mnt")),
        status,
    })
}

fn build(r: &Raw, now: u64, tck: u64, pidns_init: &HashMap<u32, u64>) -> Vec<u8> {
    let st = &r.status;
    let hdr = EventHdr {
        ts_ns: now,
        cap_effective: st.caps.2,
        cap_permitted: st.caps.1,
        tid: r.pid,
        tgid: r.pid,
        ptgid: r.stat.ppid,
        uid: st.uid.0,
        euid: st.uid.1,
        gid: st.gid.0,
        egid: st.gid.1,
        loginuid: r.loginuid,
        pidns_ino: r.pidns,
        mntns_ino: r.mntns,
        flags: HF_SYNTHETIC,
        comm: crate::event::raw::comm_from(&r.comm),
        ..Default::default()
    };
    let start_ns = r.stat.starttime.saturating_mul(1_000_000_000) / tck;
    let mut flags = 0u64;
    if r.exepath.starts_with(b"/memfd:") {
        flags |= exe_flags::FROM_MEMFD;
    }
    let (ino, ctime, mtime) = match &r.exe_meta {
        Some(m) => {
            let (euid, egid) = (st.uid.1, st.gid.1);
            let mode = m.mode();
            let writable = euid == 0
                || mode & 0o002 != 0
                || (m.uid() == euid && mode & 0o200 != 0)
                || (m.gid() == egid && mode & 0o020 != 0);
            if writable {
                flags |= exe_flags::WRITABLE;
            }
            let ns =
                |s: i64, n: i64| (s.max(0) as u64).saturating_mul(1_000_000_000) + n.max(0) as u64;
            (
                m.ino(),
                ns(m.ctime(), m.ctime_nsec()),
                ns(m.mtime(), m.mtime_nsec()),
            )
        }
        None => (0, 0, 0),
    };
    let last = |v: &[u32], dflt: u32| v.last().copied().unwrap_or(dflt);
    let mut b = EventBuilder::new(EventType::PROCINFO, hdr);
    b.bytes(&r.cmdline)
        .bytes(&r.cwd)
        .bytes(&r.exepath)
        .bytes(b"")
        .bytes(&r.environ)
        .bytes(&r.cgroups)
        .u64(r.stat.tty_nr as u64)
        .u64(r.stat.session as u64)
        .u64(last(&st.nspid, r.pid) as u64)
        .u64(last(&st.nspgid, r.stat.pgrp) as u64)
        .u64(r.stat.pgrp as u64)
        .u64(flags)
        .u64(ino)
        .u64(ctime)
        .u64(mtime)
        .u64(start_ns)
        .u64(pidns_init.get(&r.pidns).copied().unwrap_or(0))
        .u64(st.caps.0);
    b.finish()
}

fn list_pids(proc: &Path) -> io::Result<Vec<u32>> {
    let mut pids: Vec<u32> = std::fs::read_dir(proc)?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().and_then(|s| s.parse().ok()))
        .collect();
    pids.sort_unstable();
    Ok(pids)
}

/// Scans `proc` (normally `/proc`) and returns one `procinfo` record per
/// process, parents before children where pids allow (ascending pid).
/// Fails only if the directory itself cannot be listed.
pub fn scan_proc(proc: &Path) -> io::Result<Vec<Vec<u8>>> {
    let pids = list_pids(proc)?;
    let mut raws = Vec::with_capacity(pids.len());
    let mut skipped = 0usize;
    for pid in pids {
        match read_one(proc, pid) {
            Ok(r) => raws.push(r),
            Err(_) => skipped += 1,
        }
    }
    if skipped > 0 {
        log::debug!("/proc scan: {skipped} processes vanished while being read");
    }
    let tck = clk_tck();
    // The init of each pid namespace is the process whose innermost pid is 1.
    let mut pidns_init = HashMap::new();
    for r in &raws {
        if r.status.nspid.last() == Some(&1) {
            pidns_init.insert(
                r.pidns,
                r.stat.starttime.saturating_mul(1_000_000_000) / tck,
            );
        }
    }
    let now = boot_clock_ns();
    Ok(raws
        .iter()
        .map(|r| build(r, now, tck, &pidns_init))
        .collect())
}

/// Reads one process (for a worker that met a process the table does not
/// know and gave up waiting for its fork). The start time of its pid
/// namespace's init is not looked up: it is 0 (unknown) unless the process
/// is itself a namespace init.
pub fn scan_one(proc: &Path, pid: u32) -> io::Result<Vec<u8>> {
    let r = read_one(proc, pid)?;
    let tck = clk_tck();
    let mut init = HashMap::new();
    if r.status.nspid.last() == Some(&1) {
        init.insert(
            r.pidns,
            r.stat.starttime.saturating_mul(1_000_000_000) / tck,
        );
    }
    Ok(build(&r, boot_clock_ns(), tck, &init))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::RawEvent;

    #[test]
    fn parses_stat_with_odd_comm() {
        let s = parse_stat("1234 (we ird) (x)) S 1 1234 1234 34816 1234 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100").unwrap();
        assert_eq!(
            s,
            Stat {
                ppid: 1,
                pgrp: 1234,
                session: 1234,
                tty_nr: 34816,
                starttime: 987654
            }
        );
        assert!(parse_stat("garbage").is_none());
        assert!(parse_stat("1 (x) S 1").is_none());
    }

    #[test]
    fn parses_status() {
        let s = parse_status("Name:\tbash\nTgid:\t42\nUid:\t1000\t0\t0\t0\nGid:\t100\t50\t50\t50\nNSpid:\t42\t1\nNSpgid:\t42\t1\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000200000\n");
        assert_eq!(s.uid, (1000, 0));
        assert_eq!(s.gid, (100, 50));
        assert_eq!(s.nspid, vec![42, 1]);
        assert_eq!(s.caps, (0, 0x1ff_ffff_ffff, 0x20_0000));
        assert_eq!(s.tgid, 42);
    }

    #[test]
    fn scans_this_machine() {
        let recs = scan_proc(Path::new("/proc")).unwrap();
        assert!(!recs.is_empty());
        let me = std::process::id();
        let mine = recs
            .iter()
            .map(|r| RawEvent::parse(r).unwrap())
            .find(|e| e.hdr.tgid == me)
            .expect("own process scanned");
        assert_eq!(mine.info.name, "procinfo");
        assert!(mine.hdr.flags & HF_SYNTHETIC != 0);
        let exe = std::env::current_exe().unwrap();
        use std::os::unix::ffi::OsStrExt;
        assert_eq!(
            mine.param(crate::event::table::exec::EXEPATH),
            exe.as_os_str().as_bytes()
        );
        assert!(mine.param_u64(crate::event::table::exec::START_TS).unwrap() > 0);
        let one = scan_one(Path::new("/proc"), me).unwrap();
        assert_eq!(RawEvent::parse(&one).unwrap().hdr.tgid, me);
        assert!(scan_one(Path::new("/proc"), u32::MAX - 1).is_err());
    }
}
