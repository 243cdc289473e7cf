//! Self-protection's view of the process's own BPF objects: every
//! program, map and link this process holds an fd of, found in
//! `/proc/self/fd` and `/proc/self/fdinfo` (no bpf(2) call, so nothing
//! here depends on the objects' names being unique among the kestrels
//! running on the node).

use std::io;

/// The kind of a BPF object (`KST_SO_*` in `bpf/kestrel_wire.h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ObjKind {
    /// A program.
    Prog = 1,
    /// A map.
    Map = 2,
    /// A link (an attachment of a program).
    Link = 3,
}

impl ObjKind {
    /// The kind by its `KST_SO_*` code.
    pub fn from_code(c: u64) -> Option<ObjKind> {
        match c {
            1 => Some(ObjKind::Prog),
            2 => Some(ObjKind::Map),
            3 => Some(ObjKind::Link),
            _ => None,
        }
    }

    /// `program`, `map`, `link`.
    pub fn name(self) -> &'static str {
        match self {
            ObjKind::Prog => "program",
            ObjKind::Map => "map",
            ObjKind::Link => "link",
        }
    }
}

/// One of the process's BPF objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BpfObject {
    /// Its kind.
    pub kind: ObjKind,
    /// The kernel's id (as `bpftool` shows it).
    pub id: u32,
    /// The fd this process holds it by.
    pub fd: i32,
    /// For a link: the id of the program attached through it.
    pub prog_id: u32,
    /// The program's or map's name; for a link, its program's name
    /// (filled by the loader; empty if unknown).
    pub name: String,
}

impl BpfObject {
    /// The key of `kst_self_ids`: kind << 32 | id.
    pub fn key(&self) -> u64 {
        (self.kind as u64) << 32 | u64::from(self.id)
    }
}

/// The `key:\tvalue` entry of an fdinfo text, as a number.
fn fdinfo_num(text: &str, key: &str) -> Option<u32> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Reads what fd `fd` of this process is, if a BPF object.
pub fn object_at(fd: i32) -> io::Result<Option<BpfObject>> {
    let target = match std::fs::read_link(format!("/proc/self/fd/{fd}")) {
        Ok(t) => t,
        // Closed meanwhile (the directory listing raced a close).
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let (kind, key) = match target.to_str() {
        Some("anon_inode:bpf-prog") => (ObjKind::Prog, "prog_id"),
        Some("anon_inode:bpf-map") => (ObjKind::Map, "map_id"),
        Some("anon_inode:bpf_link") => (ObjKind::Link, "link_id"),
        _ => return Ok(None),
    };
    let text = match std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Some(id) = fdinfo_num(&text, key) else {
        return Ok(None);
    };
    let prog_id = if kind == ObjKind::Link {
        fdinfo_num(&text, "prog_id").unwrap_or(0)
    } else {
        0
    };
    Ok(Some(BpfObject {
        kind,
        id,
        fd,
        prog_id,
        name: String::new(),
    }))
}

/// Every BPF program, map and link this process holds an fd of.
pub fn own_bpf_objects() -> io::Result<Vec<BpfObject>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc/self/fd")? {
        let e = e?;
        let Some(fd) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        if let Some(o) = object_at(fd)? {
            out.push(o);
        }
    }
    out.sort_by_key(|o| (o.kind as u8, o.id));
    out.dedup_by_key(|o| (o.kind as u8, o.id));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fdinfo_numbers_are_found_by_key() {
        let t = "pos:\t0\nflags:\t02000002\nlink_type:\traw_tracepoint\nlink_id:\t17\nprog_tag:\tab\nprog_id:\t42\n";
        assert_eq!(fdinfo_num(t, "link_id"), Some(17));
        assert_eq!(fdinfo_num(t, "prog_id"), Some(42));
        assert_eq!(fdinfo_num(t, "map_id"), None);
    }

    #[test]
    fn keys_put_the_kind_above_the_id() {
        let o = BpfObject {
            kind: ObjKind::Map,
            id: 7,
            fd: 3,
            prog_id: 0,
            name: String::new(),
        };
        assert_eq!(o.key(), (2 << 32) | 7);
        assert_eq!(ObjKind::from_code(3), Some(ObjKind::Link));
        assert_eq!(ObjKind::from_code(9), None);
    }
}
