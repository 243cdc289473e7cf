//! The wire contract: compiles probe/bpf/kestrel_wire.h with the host C
//! compiler, prints every size, offset and constant, and compares them with
//! the Rust mirror (event/src/wire.rs) and the event table. No root
//! needed.

use std::collections::BTreeMap;
use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use kestrel_probe::wire::*;
use kestrel_probe::EventType;

/// (C expression, value the Rust side says it has).
fn expectations() -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = Vec::new();
    macro_rules! size {
        ($c:literal, $r:ty) => {
            v.push((format!("sizeof(struct {})", $c), size_of::<$r>() as u64));
        };
    }
    macro_rules! off {
        ($c:literal, $r:ty, $($f:ident => $cf:literal),+ $(,)?) => {
            $(v.push((
                format!("offsetof(struct {}, {})", $c, $cf),
                offset_of!($r, $f) as u64,
            ));)+
        };
    }
    size!("kst_event_hdr", EventHdr);
    off!("kst_event_hdr", EventHdr,
        ts_ns => "ts_ns", cgroup_id => "cgroup_id", cap_effective => "cap_effective",
        cap_permitted => "cap_permitted", ret => "ret", exec_gen => "exec_gen",
        len => "len", ty => "type", nparams => "nparams", cpu => "cpu", tid => "tid",
        tgid => "tgid", ptgid => "ptgid", uid => "uid", euid => "euid", gid => "gid",
        egid => "egid", loginuid => "loginuid", pidns_ino => "pidns_ino",
        mntns_ino => "mntns_ino", flags => "flags", comm => "comm");
    size!("kst_sock_tuple", SockTuple);
    off!("kst_sock_tuple", SockTuple,
        family => "family", l4proto => "l4proto", sock_type => "sock_type",
        sport => "sport", dport => "dport", saddr => "saddr", daddr => "daddr");
    size!("kst_fdinfo", FdInfo);
    off!("kst_fdinfo", FdInfo, fd => "fd", kind => "kind", pad => "pad", tuple => "tuple");
    size!("kst_counters", Counters);
    off!("kst_counters", Counters, seen => "seen", sent => "sent", dropped => "dropped");
    size!("kst_fclause", FClause);
    off!("kst_fclause", FClause,
        path_mask => "path_mask", comm_mask => "comm_mask", flags_any => "flags_any",
        flags_none => "flags_none", acc_modes => "acc_modes", ret => "ret", pad => "pad");
    size!("kst_tfilter", TFilter);
    off!("kst_tfilter", TFilter,
        mode => "mode", nclauses => "nclauses", flags => "flags", pad => "pad", c => "c");
    size!("kst_fpath_key", FPathKey);
    off!("kst_fpath_key", FPathKey, prefixlen => "prefixlen", data => "data");
    size!("kst_fcomm_key", FCommKey);
    off!("kst_fcomm_key", FCommKey, slot => "slot", comm => "comm");
    size!("kst_fcfg", FCfg);
    off!("kst_fcfg", FCfg, active => "active", tracking => "tracking");

    let consts: &[(&str, u64)] = &[
        ("KST_WIRE_VERSION", WIRE_VERSION as u64),
        ("KST_COMM_LEN", COMM_LEN as u64),
        ("KST_MAX_PARAMS", MAX_PARAMS as u64),
        ("KST_PATH_MAX", PATH_MAX as u64),
        ("KST_ARGS_MAX", ARGS_MAX as u64),
        ("KST_ENV_MAX", ENV_MAX as u64),
        ("KST_DATA_MAX", DATA_MAX as u64),
        ("KST_CGROUPS_MAX", CGROUPS_MAX as u64),
        ("KST_HF_TRUNCATED", HF_TRUNCATED as u64),
        ("KST_HF_SYNTHETIC", HF_SYNTHETIC as u64),
        ("KST_HF_KEVAL", HF_KEVAL as u64),
        ("KST_HF_KSEL", HF_KSEL as u64),
        ("KST_HF_KGEN_SHIFT", HF_KGEN_SHIFT as u64),
        ("KST_HF_IOURING", HF_IOURING as u64),
        ("KST_HF_IOWORKER", HF_IOWORKER as u64),
        ("KST_HF_IOOP_SHIFT", HF_IOOP_SHIFT as u64),
        ("KST_CAT_PROCESS", Category::Process as u64),
        ("KST_CAT_FILE", Category::File as u64),
        ("KST_CAT_NETWORK", Category::Network as u64),
        ("KST_CAT_OTHER", Category::Other as u64),
        ("KST_CAT_MAX", CATEGORY_COUNT as u64),
        ("KST_AF_UNSPEC", af::UNSPEC as u64),
        ("KST_AF_UNIX", af::UNIX as u64),
        ("KST_AF_INET", af::INET as u64),
        ("KST_AF_INET6", af::INET6 as u64),
        ("KST_FILTER_CLAUSES", FILTER_CLAUSES as u64),
        ("KST_FPATH_DATA", FPATH_DATA as u64),
        ("KST_FPATH_MAX", FPATH_MAX as u64),
        ("KST_TRACK_SLOTS", TRACK_SLOTS as u64),
        ("KST_TF_PASS", TF_PASS as u64),
        ("KST_TF_CLAUSES", TF_CLAUSES as u64),
        ("KST_TF_DROP", TF_DROP as u64),
        ("KST_TFF_PATH", TFF_PATH as u64),
        ("KST_TFF_COMM", TFF_COMM as u64),
        ("KST_TFF_SOCKFD", TFF_SOCKFD as u64),
        ("KST_TFF_MARK", TFF_MARK as u64),
        ("KST_FR_ANY", FR_ANY as u64),
        ("KST_FR_SUCCESS", FR_SUCCESS as u64),
        ("KST_GD_MAX", kestrel_event::GENERIC_MAX_PARAMS as u64),
        ("sizeof(struct kst_gdesc)", 32),
        ("KST_FR_FAILURE", FR_FAILURE as u64),
    ];
    for (c, r) in consts {
        v.push(((*c).to_string(), *r));
    }
    // The generic capture kinds (`Src::encode`).
    use kestrel_event::Src;
    for (c, s) in [
        ("KST_GD_INT", Src::Int(0)),
        ("KST_GD_U32", Src::U32(0)),
        ("KST_GD_U64", Src::U64(0)),
        ("KST_GD_STR", Src::Str(0)),
        ("KST_GD_BUF", Src::Buf(0, 0)),
        ("KST_GD_BUFRET", Src::BufRet(0)),
        ("KST_GD_IOVDATA", Src::IovData(0, 0)),
        ("KST_GD_IOVSIZE", Src::IovSize(0, 0)),
        ("KST_GD_FDINFO", Src::FdInfo(0)),
        ("KST_GD_USERINT", Src::UserInt(0, 0)),
        ("KST_GD_NR", Src::Nr),
        ("KST_GD_RET", Src::Ret),
        ("KST_GD_USERU64", Src::UserU64(0, 0)),
        ("KST_GD_TIMESPEC", Src::Timespec(0)),
        ("KST_GD_DIRPATH", Src::DirPath(0, 0)),
        ("KST_GD_FDINFORET", Src::FdInfoRet),
    ] {
        v.push((c.to_string(), u64::from(s.encode().0)));
    }
    v
}

/// Every `KST_EV_<NAME> = <id>` of the header, with the Rust table's id for
/// the Falco name `<name>`.
fn event_ids(header: &str) -> Vec<(String, u64)> {
    let mut v = Vec::new();
    for line in header.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("KST_EV_") else {
            continue;
        };
        let Some((name, _)) = rest.split_once(" = ") else {
            continue;
        };
        if name == "NONE" || name == "MAX" {
            continue;
        }
        let falco = name.to_ascii_lowercase();
        let ty = EventType::from_name(&falco)
            .unwrap_or_else(|| panic!("KST_EV_{name}: no event {falco} in the Rust table"));
        v.push((format!("KST_EV_{name}"), ty.0 as u64));
    }
    v
}

#[test]
fn c_header_and_rust_mirror_agree() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let header_path = manifest.join("bpf/kestrel_wire.h");
    let header = std::fs::read_to_string(&header_path).expect("read kestrel_wire.h");
    let mut checks = expectations();
    let events = event_ids(&header);
    assert_eq!(
        events.len(),
        kestrel_event::EVENTS
            .iter()
            .filter(|e| e.capture.is_none())
            .count(),
        "every Rust event type with its own BPF routine has a KST_EV_ constant and vice versa \
         (the generically captured ones need none)"
    );
    checks.extend(events);

    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path().join("layout.c");
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <linux/types.h>\n#include \"kestrel_wire.h\"\nint main(void) {\n",
    );
    for (expr, _) in &checks {
        c.push_str(&format!(
            "    printf(\"%s=%llu\\n\", \"{expr}\", (unsigned long long)({expr}));\n"
        ));
    }
    c.push_str("    return 0;\n}\n");
    std::fs::write(&src, c).expect("write layout.c");
    let exe = dir.path().join("layout");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(&cc)
        .arg("-Wall")
        .arg("-Werror")
        .arg("-I")
        .arg(manifest.join("bpf"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .output()
        .unwrap_or_else(|e| panic!("cannot run the host C compiler {cc}: {e}"));
    assert!(
        out.status.success(),
        "{cc} failed on kestrel_wire.h:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = Command::new(&exe).output().expect("run layout");
    assert!(run.status.success());
    let got: BTreeMap<String, u64> = String::from_utf8_lossy(&run.stdout)
        .lines()
        .filter_map(|l| l.rsplit_once('='))
        .map(|(k, v)| (k.to_string(), v.parse().expect("number")))
        .collect();
    let mut bad = Vec::new();
    for (expr, rust) in &checks {
        match got.get(expr) {
            Some(c) if c == rust => {}
            Some(c) => bad.push(format!("{expr}: C {c}, Rust {rust}")),
            None => bad.push(format!("{expr}: not printed")),
        }
    }
    assert!(bad.is_empty(), "wire mismatch:\n{}", bad.join("\n"));
    assert_eq!(size_of::<EventHdr>(), 120);
}
