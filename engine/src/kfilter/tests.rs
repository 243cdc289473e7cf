//! Unit tests: `kernel_testable_path` and what userspace makes of testable
//! paths, the derivation of each kind of leaf, the prefix closure of path
//! masks, the conservative fallbacks, and the report of what the filter
//! derives for the default rules and Falco's stable file.

use proptest::prelude::*;

use super::derive::{assemble, glob_runs, AClause, Atom, ERRNO_SAMPLED, RENDER_BITS, RET_FAILURE};
use super::testutil::{
    header, image_record, load_files, load_yaml, reference, repo_file, rules_yaml, ruleset, Proc,
    Rng, World,
};
use super::*;
use crate::event::flags::{self, kernel_o as o};
use crate::event::raw::comm_from;
use crate::event::table::FlagSet;
use crate::event::{EventBuilder, RawEvent, EVENTS};
use crate::fields::live::LiveEvent;
use crate::fields::{resolve, Extract, Value};
use crate::state::paths;

// ------------------------------------------------------------- helpers

/// The filter of rules with these conditions.
fn derive(conds: &[&str]) -> KernelFilter {
    let conds: Vec<String> = conds.iter().map(|s| s.to_string()).collect();
    let rules = load_yaml(&rules_yaml(&conds)).expect("rules load");
    KernelFilter::derive(&ruleset(&rules))
}

fn ty(name: &str) -> EventType {
    EventType::from_name(name).expect("event type")
}

/// A main-thread event of `name` as the kernel sees it.
fn kv<'a>(
    name: &str,
    ret: i64,
    flags: Option<u32>,
    path: Option<&'a str>,
    comm: &str,
) -> KView<'a> {
    KView {
        ty: ty(name),
        ret,
        flags,
        path: path.map(str::as_bytes),
        comm: comm_key(comm.as_bytes()),
        leader_comm: comm_key(comm.as_bytes()),
        main_thread: true,
    }
}

/// An openat by `cat` of `path` with `flags`, returning fd 3.
fn openat(path: &str, flags: u64) -> KView<'_> {
    kv("openat", 3, Some(flags as u32), Some(path), "cat")
}

fn clauses<'f>(f: &'f KernelFilter, name: &str) -> &'f [Clause] {
    match &f.types[ty(name).0 as usize] {
        TypeFilter::Clauses(cs) => cs,
        other => panic!("{name}: {other:?}\n{}", f.describe()),
    }
}

fn filter_of<'f>(f: &'f KernelFilter, name: &str) -> &'f TypeFilter {
    &f.types[ty(name).0 as usize]
}

// ------------------------------------------------- kernel_testable_path

#[test]
fn kfilter_testable_paths_are_plain_absolute_paths() {
    for ok in [
        "/",
        "/etc",
        "/etc/shadow",
        "/a/.b",
        "/a/..b",
        "/a/b.",
        "/a.b",
        "/a..b",
        "/.x",
    ] {
        assert!(kernel_testable_path(ok.as_bytes()), "{ok}");
    }
    for bad in [
        "",
        "etc/shadow",
        "./x",
        "//",
        "//etc",
        "/etc//shadow",
        "/etc/",
        "/etc/./shadow",
        "/etc/../shadow",
        "/.",
        "/..",
        "/a/.",
        "/a/..",
        "/a../b",
        "/x../../etc",
        "/a/b../",
        "/etc\0/shadow",
        // The probe does not tell "/a/.." from a name ending in "..".
        "/a/b..",
        "/...",
    ] {
        assert!(!kernel_testable_path(bad.as_bytes()), "{bad:?}");
    }
    let max = format!("/{}", "a".repeat(KPATH_MAX - 1));
    assert!(kernel_testable_path(max.as_bytes()));
    let long = format!("/{}", "a".repeat(KPATH_MAX));
    assert!(!kernel_testable_path(long.as_bytes()));
}

/// Bytes paths are made of, weighted towards the syntax that matters.
fn path_bytes() -> impl Strategy<Value = Vec<u8>> {
    let b = prop_oneof![
        4 => Just(b'/'),
        3 => Just(b'.'),
        3 => prop::sample::select(b"abcx-_".to_vec()),
        1 => any::<u8>(),
    ];
    prop::collection::vec(b, 0..24)
}

/// An open-family record with `path`, run through the table as the worker
/// does, and the userspace value of each path field.
fn path_fields(
    name: &str,
    path: &[u8],
    ret: i64,
    dirfd: i64,
    dirpath: &[u8],
    cwd: &str,
) -> Vec<(String, Option<Vec<u8>>)> {
    let mut rng = Rng::new(7);
    let w = World::new(&[], &mut rng);
    // A process with this cwd.
    let p = Proc {
        tgid: 77,
        ptgid: 1,
        comm: "cat".into(),
        cwd: cwd.into(),
        exec_gen: 1,
    };
    let rec = image_record(
        EventType::PROCINFO,
        header(&p, 77, "cat", 0),
        "/bin/cat",
        &[],
        cwd,
        "/",
    );
    w.table.apply(&RawEvent::parse(&rec).unwrap());
    let info = ty(name).info().unwrap();
    let mut b = EventBuilder::new(info.ty, header(&p, 77, "cat", ret));
    for prm in info.params {
        match prm.name {
            "name" => b.bytes(path),
            "flags" => b.u64(o::RDONLY),
            "mode" | "resolve" => b.u64(0),
            "dirfd" => b.i64(dirfd),
            "dirpath" => b.bytes(dirpath),
            other => panic!("unexpected parameter {other}"),
        };
    }
    let rec = b.finish();
    let raw = RawEvent::parse(&rec).unwrap();
    w.table.apply(&raw);
    let ev = LiveEvent::new(raw, &w.table, &w.ctx, 1);
    let mut fields = vec!["fd.name", "fd.nameraw", "fd.directory", "evt.arg.name"];
    fields.push(if matches!(name, "open" | "creat") {
        "evt.arg[1]"
    } else {
        "evt.arg[2]"
    });
    fields
        .into_iter()
        .map(|f| {
            let r = match f.find('[') {
                Some(i) => resolve(&f[..i], Some(&f[i + 1..f.len() - 1])).unwrap(),
                None => resolve(f, None).unwrap(),
            };
            let v = ev.extract(&r).map(|v| match v {
                Value::Str(s) => s.into_owned(),
                other => panic!("{f}: {other:?}"),
            });
            (f.to_string(), v)
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A testable path is what userspace makes of it, whatever the event
    /// type, return value, dirfd and cwd: so the kernel may decide on it.
    #[test]
    fn kfilter_testable_path_is_the_userspace_value(
        tail in path_bytes(),
        name in prop::sample::select(vec!["open", "openat", "openat2", "creat"]),
        ret in prop::sample::select(vec![3i64, 0, -2, -13]),
        dirfd in prop::sample::select(vec![-100i64, 5]),
        dirpath in prop::sample::select(vec!["", "/srv/data"]),
        cwd in prop::sample::select(vec!["/", "/home/alice", ""]),
    ) {
        let mut p = vec![b'/'];
        p.extend(tail);
        let testable = kernel_testable_path(&p);
        prop_assert_eq!(
            testable,
            paths::is_normal_absolute(&p) && p.len() <= KPATH_MAX
                && !p.contains(&0) && !p.windows(3).any(|w| w == b"../")
                && (p.len() == 1 || !p.ends_with(b"..")),
        );
        if testable {
            prop_assert_eq!(&paths::normalize(&p), &p);
            prop_assert_eq!(paths::resolve(b"/x/y", &p), Some(p.clone()));
            for (f, v) in path_fields(name, &p, ret, dirfd, dirpath.as_bytes(), cwd) {
                let dir = paths::dirname(&p).to_vec();
                match f.as_str() {
                    "fd.directory" => prop_assert!(
                        v.as_ref() == Some(&dir) || v.as_ref() == Some(&p),
                        "{f} of {:?}: {:?}", String::from_utf8_lossy(&p), v
                    ),
                    _ => prop_assert_eq!(v.as_ref(), Some(&p), "{} of {}", f, name),
                }
            }
        }
    }
}

// ------------------------------------------------------------ path leaves

#[test]
fn kfilter_fd_name_equality_gives_exact_paths() {
    let f = derive(&["evt.type = openat and fd.name in (/etc/shadow, /etc/gshadow)"]);
    assert!(f.passes(&openat("/etc/shadow", 0)));
    assert!(f.passes(&openat("/etc/gshadow", 0)));
    assert!(!f.passes(&openat("/etc/shadow-", 0)));
    assert!(!f.passes(&openat("/etc/shado", 0)));
    assert!(!f.passes(&openat("/tmp/x", 0)));
    // Spellings userspace normalises, relative paths and long paths are
    // unknown to the kernel: they pass.
    for unknown in [
        "/etc/./shadow",
        "//etc/shadow",
        "/tmp/../etc/shadow",
        "etc/shadow",
        "../shadow",
    ] {
        assert!(f.passes(&openat(unknown, 0)), "{unknown}");
    }
    let long = format!("/{}/../etc/shadow", "a".repeat(300));
    assert!(f.passes(&openat(&long, 0)));
    assert!(f.passes(&kv("openat", 3, Some(0), None, "cat")));
    assert_eq!(*filter_of(&f, "open"), TypeFilter::Nothing);
}

#[test]
fn kfilter_path_prefixes_globs_and_pmatch() {
    let f = derive(&["evt.type = openat and fd.name startswith /etc/"]);
    assert!(f.passes(&openat("/etc/passwd", 0)));
    assert!(!f.passes(&openat("/etc", 0)));
    assert!(!f.passes(&openat("/etcx", 0)));

    let f = derive(&["evt.type = openat and fd.name glob '/home/*/.ssh/*'"]);
    assert!(f.passes(&openat("/home/a/.ssh/id", 0)));
    assert!(!f.passes(&openat("/root/.ssh/id", 0)));

    // A glob without metacharacters is an equality.
    let f = derive(&["evt.type = openat and fd.name glob /etc/hosts"]);
    assert!(!f.passes(&openat("/etc/hostsx", 0)));

    // pmatch: the path itself or below it, component-wise; relative and
    // untidy list entries mean the same.
    let f = derive(&["evt.type = openat and fd.name pmatch (/usr/bin, 'etc//ssh/', /var/*/log)"]);
    for yes in [
        "/usr/bin",
        "/usr/bin/ls",
        "/etc/ssh",
        "/etc/ssh/sshd_config",
        "/var/x/log",
    ] {
        assert!(f.passes(&openat(yes, 0)), "{yes}");
    }
    for no in ["/usr/binx", "/usr", "/etc/sshd", "/var", "/tmp/x"] {
        assert!(!f.passes(&openat(no, 0)), "{no}");
    }
    // pmatch of the root matches everything.
    let f = derive(&["evt.type = openat and fd.name pmatch (/)"]);
    assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll);
}

#[test]
fn kfilter_fd_directory_is_the_dir_or_a_directory_open() {
    let f = derive(&["evt.type = openat and fd.directory in (/usr/bin, /etc/pam.d)"]);
    assert!(f.passes(&openat("/usr/bin/ls", 0)));
    assert!(f.passes(&openat("/etc/pam.d/sshd", 0)));
    // fd.directory of an O_DIRECTORY open is the path itself.
    assert!(f.passes(&openat("/usr/bin", o::DIRECTORY)));
    assert!(!f.passes(&openat("/usr/binx", 0)));
    assert!(!f.passes(&openat("/usr/lib/x", 0)));
    // The directory of "/x" is "/": everything.
    let f = derive(&["evt.type = openat and fd.directory = /"]);
    assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll);
    let f = derive(&["evt.type = openat and fd.directory pmatch (/var/log)"]);
    assert!(f.passes(&openat("/var/log/x/y", 0)));
    assert!(!f.passes(&openat("/var/logx", 0)));
}

#[test]
fn kfilter_unconstrained_path_tests() {
    for c in [
        "fd.name endswith shadow",
        "fd.name contains shadow",
        "fd.name icontains SHADOW",
        "fd.name regex '/etc/.*'",
        "fd.name != /etc/shadow",
        "not fd.name = /etc/shadow",
        "fd.filename = shadow",
        "fd.name exists",
        "fd.name iglob '/ETC/*'",
        "tolower(fd.name) = /etc/shadow",
    ] {
        let f = derive(&[&format!("evt.type = openat and {c}")]);
        assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll, "{c}");
    }
}

#[test]
fn kfilter_substrings_no_testable_path_has_leave_only_unknown_paths() {
    // Falco's directory_traversal: `fd.nameraw contains '../' and fd.nameraw
    // glob '*../*../*'`: no testable path contains "../".
    for c in [
        "fd.nameraw contains '../'",
        "fd.nameraw glob '*../*../*'",
        "fd.name contains '//'",
        "fd.name endswith '/./x'",
        "fd.name = /etc/",
        "fd.name = etc/shadow",
        "fd.name startswith etc/",
    ] {
        let f = derive(&[&format!("evt.type = openat and {c}")]);
        assert!(!f.passes(&openat("/etc/shadow", 0)), "{c}");
        assert!(f.passes(&openat("../../etc/shadow", 0)), "{c}");
        assert!(f.passes(&openat("/etc//shadow", 0)), "{c}");
    }
}

#[test]
fn kfilter_path_tests_by_parameter_name_and_position() {
    // evt.arg.name, evt.arg[1] of open/creat, evt.arg[2] of openat/openat2.
    let f = derive(&[
        "evt.type in (open, creat) and evt.arg[1] = /etc/shadow",
        "evt.type in (openat, openat2) and evt.arg[2] startswith /etc/",
        "evt.type = openat2 and evt.arg.name = /root/x",
    ]);
    assert!(!f.passes(&kv("open", 3, Some(0), Some("/tmp/x"), "cat")));
    assert!(f.passes(&kv(
        "creat",
        3,
        Some(CREAT_FLAGS),
        Some("/etc/shadow"),
        "cat"
    )));
    assert!(f.passes(&kv("openat2", 3, Some(0), Some("/root/x"), "cat")));
    assert!(!f.passes(&kv("openat2", 3, Some(0), Some("/root/y"), "cat")));
    // evt.arg[1] of openat is the dirfd: no path constraint.
    let f = derive(&["evt.type = openat and evt.arg[1] = /etc/shadow"]);
    assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll);
    // Path tests on other event types constrain nothing.
    let f = derive(&["evt.type = unlinkat and evt.arg.name = /etc/shadow"]);
    assert_eq!(*filter_of(&f, "unlinkat"), TypeFilter::PassAll);
}

// ----------------------------------------------------------- flag leaves

#[test]
fn kfilter_open_access_modes() {
    let f = derive(&["evt.type = openat and evt.is_open_read = true"]);
    assert_eq!(clauses(&f, "openat")[0].acc_modes, 0b0101);
    assert!(f.passes(&openat("/x", o::RDONLY)));
    assert!(f.passes(&openat("/x", o::RDWR)));
    assert!(!f.passes(&openat("/x", o::WRONLY | o::CREAT)));
    let f = derive(&["evt.type = openat and evt.is_open_write = true"]);
    assert_eq!(clauses(&f, "openat")[0].acc_modes, 0b0110);
    // The complement is a set of access modes too.
    let f = derive(&["evt.type = openat and not evt.is_open_write = true"]);
    assert_eq!(clauses(&f, "openat")[0].acc_modes, 0b1001);
    // creat has no flags parameter: is_open_* is false for it.
    let f = derive(&["evt.type in (open, creat) and evt.is_open_write = true"]);
    assert_eq!(*filter_of(&f, "creat"), TypeFilter::Nothing);
    // Unknown flags pass.
    assert!(f.passes(&kv("open", 3, None, Some("/x"), "cat")));
}

#[test]
fn kfilter_open_flag_names() {
    let f = derive(&["evt.type = openat and evt.arg.flags contains O_TRUNC"]);
    let c = clauses(&f, "openat")[0];
    assert_eq!(c.flags_any, o::TRUNC as u32);
    assert!(!f.passes(&openat("/x", o::WRONLY)));
    // O_DIRECT is a substring of O_DIRECTORY.
    let f = derive(&["evt.type = openat and evt.arg.flags contains O_DIRECT"]);
    assert_eq!(
        clauses(&f, "openat")[0].flags_any,
        (o::DIRECT | o::DIRECTORY) as u32
    );
    let f = derive(&["evt.type = openat and not evt.arg.flags contains O_CREAT"]);
    let c = clauses(&f, "openat")[0];
    assert_eq!(c.flags_none & o::CREAT as u32, o::CREAT as u32);
    assert!(f.passes(&openat("/x", o::RDONLY)));
    assert!(!f.passes(&openat("/x", o::WRONLY | o::CREAT)));
    // O_RDONLY is shown for access mode 0 (and 3, which Falco's encoding
    // cannot tell apart).
    let f = derive(&["evt.type = openat and evt.arg.flags contains O_RDONLY"]);
    assert_eq!(clauses(&f, "openat")[0].acc_modes, 0b1001);
    let f = derive(&["evt.type = openat and evt.is_open_exec = true"]);
    assert_eq!(
        clauses(&f, "openat")[0].flags_any,
        (o::CREAT | o::TMPFILE_BIT) as u32
    );
    // The raw value: the low 32 bits are known.
    let f = derive(&["evt.type = openat and evt.rawarg.flags in (577, 0)"]);
    assert!(f.passes(&openat("/x", 577)));
    assert!(f.passes(&openat("/x", 0)));
    assert!(!f.passes(&openat("/x", 577 | o::CLOEXEC)));
    assert!(!f.passes(&openat("/x", 1)));
    let f = derive(&["evt.type = openat and evt.rawarg.flags > 64"]);
    assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll);
    // fd.typechar = d: a successful O_DIRECTORY open that is not O_TMPFILE.
    let f = derive(&["evt.type = openat and fd.typechar = d"]);
    let c = clauses(&f, "openat")[0];
    assert_eq!(
        (c.ret, c.flags_any),
        (RetCond::Success, o::DIRECTORY as u32)
    );
    // creat has no flags: always a file.
    let f = derive(&["evt.type = creat and fd.typechar = d"]);
    assert_eq!(*filter_of(&f, "creat"), TypeFilter::Nothing);
}

#[test]
fn kfilter_render_reads_only_the_modelled_bits() {
    // The flag domain the derivation enumerates must be every bit the
    // rendering reads.
    for bit in 2..64 {
        let b = 1u64 << bit;
        if RENDER_BITS & b != 0 {
            continue;
        }
        for v in [0u64, 1, 2, 3, o::CREAT | o::TRUNC | 1, RENDER_BITS | 2] {
            assert_eq!(
                flags::render(FlagSet::Open, v),
                flags::render(FlagSet::Open, v | b),
                "bit {bit:#o}"
            );
        }
    }
}

// ------------------------------------------------------------ ret leaves

#[test]
fn kfilter_return_values() {
    for (c, want) in [
        ("evt.res = SUCCESS", RetCond::Success),
        ("evt.res != SUCCESS", RetCond::Failure),
        ("evt.res = EACCES", RetCond::Failure),
        ("evt.failed = true", RetCond::Failure),
        ("evt.failed = false", RetCond::Success),
        ("fd.num >= 0", RetCond::Success),
        ("fd.num = -1", RetCond::Failure),
        ("evt.rawres in (0, 1, 2)", RetCond::Success),
        ("evt.rawres < 0", RetCond::Failure),
        ("not evt.rawres >= 0", RetCond::Failure),
        ("evt.res startswith E", RetCond::Failure),
    ] {
        let f = derive(&[&format!("evt.type = openat and {c}")]);
        let cs = clauses(&f, "openat");
        assert_eq!((cs.len(), cs[0].ret), (1, want), "{c}");
    }
    for c in [
        "evt.res in (SUCCESS, ENOENT)",
        "evt.res contains S",
        "fd.num != 3",
    ] {
        let f = derive(&[&format!("evt.type = openat and {c}")]);
        assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll, "{c}");
    }
    // On other types too.
    let f = derive(&["evt.type = execve and evt.res = SUCCESS"]);
    assert!(f.passes(&kv("execve", 0, None, None, "sh")));
    assert!(!f.passes(&kv("execve", -2, None, None, "sh")));
    // Every errno kestrel names is sampled.
    for e in ERRNO_SAMPLED + 1..=4095 {
        assert_eq!(flags::errno_name(-e), None, "{e}");
    }
}

/// fcntl's command class takes the access-mode bits: rules on descriptor
/// copies let only `F_DUPFD` and `F_DUPFD_CLOEXEC` through.
#[test]
fn kfilter_fcntl_commands() {
    use crate::event::table::fcntl_cmd;
    let fc = |ret: i64, cmd: u64| kv("fcntl", ret, Some(fcntl_cmd::class(cmd)), None, "python3");
    let f = derive(&[
        "evt.type = fcntl and evt.arg.cmd in (F_DUPFD, F_DUPFD_CLOEXEC) and evt.rawres in (0, 1, 2)",
    ]);
    let cs = clauses(&f, "fcntl");
    assert_eq!(
        (cs.len(), cs[0].acc_modes, cs[0].ret),
        (1, 0b10, RetCond::Success)
    );
    assert!(f.passes(&fc(0, 1030)) && f.passes(&fc(1, 0)));
    assert!(!f.passes(&fc(0, 4)) && !f.passes(&fc(0, 2)) && !f.passes(&fc(-9, 1030)));
    // Negated, by position, one command, none, every command.
    let f = derive(&["evt.type = fcntl and not evt.arg.cmd = F_DUPFD"]);
    assert_eq!(*filter_of(&f, "fcntl"), TypeFilter::PassAll);
    let f = derive(&["evt.type = fcntl and evt.arg[2] = F_SETFL"]);
    assert_eq!(clauses(&f, "fcntl")[0].acc_modes, 0b01);
    assert!(!f.passes(&fc(3, 1030)) && f.passes(&fc(0, 4)));
    let f = derive(&["evt.type = fcntl and evt.arg.cmd = F_DUPFD"]);
    assert_eq!(clauses(&f, "fcntl")[0].acc_modes, 0b10);
    let f = derive(&["evt.type = fcntl and evt.arg.cmd = NOSUCH"]);
    assert_eq!(*filter_of(&f, "fcntl"), TypeFilter::Nothing);
    let f = derive(&["evt.type = fcntl and evt.arg.cmd = UNKNOWN"]);
    assert_eq!(clauses(&f, "fcntl")[0].acc_modes, 0b01);
    let f = derive(&["evt.type = fcntl and evt.arg.cmd startswith F_"]);
    assert_eq!(*filter_of(&f, "fcntl"), TypeFilter::PassAll);
}

// ----------------------------------------------------------- comm leaves

#[test]
fn kfilter_comm_sets_apply_to_main_threads() {
    let f = derive(&["evt.type = openat and proc.name in (bash, sh, averyveryverylongname)"]);
    let c = clauses(&f, "openat")[0];
    assert_ne!(c.comm_mask, 0);
    assert!(f.passes(&kv("openat", 3, Some(0), Some("/x"), "bash")));
    assert!(!f.passes(&kv("openat", 3, Some(0), Some("/x"), "cat")));
    // Another thread's proc.name is the table's name for the main thread,
    // which may be stale: its comm is unknown to the filter.
    let thread = KView {
        main_thread: false,
        ..kv("openat", 3, Some(0), Some("/x"), "cat")
    };
    assert!(f.passes(&thread));
    // Names longer than a comm can never be proc.name.
    let f = derive(&["evt.type = openat and proc.name = averyveryverylongname"]);
    assert_eq!(*filter_of(&f, "openat"), TypeFilter::Nothing);
    for c in [
        "proc.name != bash",
        "not proc.name = bash",
        "proc.name startswith ba",
        "proc.pname = bash",
    ] {
        let f = derive(&[&format!("evt.type = openat and {c}")]);
        assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll, "{c}");
    }
    // Off by option.
    let rules = load_yaml(&rules_yaml(&[
        "evt.type = openat and proc.name = bash".into()
    ]))
    .unwrap();
    let f = KernelFilter::derive_with(&rules, &DeriveOptions { comm_sets: false });
    assert_eq!(*filter_of(&f, "openat"), TypeFilter::PassAll);
}

/// Why comm constraints stop at the main thread: a thread's `proc.name`
/// comes from the table, which keeps the leader's name as of its last
/// event, while the kernel sees the names the tasks have now.
#[test]
fn kfilter_regression_stale_table_comm_of_a_thread() {
    let rules = load_yaml(&rules_yaml(&[
        "evt.type = openat and proc.name = bash".into()
    ]))
    .unwrap();
    let rs = ruleset(&rules);
    let f = KernelFilter::derive(&rs);
    let mut rng = Rng::new(3);
    let mut w = World::new(&["bash".into()], &mut rng);
    let p = w.procs.iter().find(|p| p.comm == "bash").unwrap().clone();
    // The leader renamed itself to "x" (prctl: no event), then a thread,
    // also named "x", opens a file.
    let info = ty("openat").info().unwrap();
    let mut b = EventBuilder::new(info.ty, header(&p, p.tgid + 1, "x", 3));
    b.i64(-100).bytes(b"/tmp/f").u64(0).u64(0).bytes(b"");
    let (matched, passes) = w.observe(&rs, &f, &b.finish(), comm_from(b"x"));
    assert_eq!(
        matched,
        vec!["r0".to_string()],
        "userspace sees the stale name"
    );
    assert!(passes);
    // The same with the first contract (comm tested on every thread) would
    // have dropped it.
    let mut cs = clauses(&f, "openat").to_vec();
    assert!(cs.iter().all(|c| c.comm_mask != 0));
    cs.clear();
}

// ------------------------------------------------------------ structure

#[test]
fn kfilter_event_type_tests_inside_conditions() {
    let f = derive(&["evt.type in (open, openat) and (evt.type = open or fd.name = /x)"]);
    assert_eq!(*filter_of(&f, "open"), TypeFilter::PassAll);
    assert!(!f.passes(&openat("/y", 0)));
    // A rule with no event type applies to every type.
    let f = derive(&["proc.name = bash"]);
    for t in ["openat", "execve", "connect", "close"] {
        assert_eq!(clauses(&f, t).len(), 1, "{t}");
    }
    // No rule for a type: nothing.
    let f = derive(&["evt.type = openat and fd.name = /x"]);
    assert_eq!(*filter_of(&f, "connect"), TypeFilter::Nothing);
    assert!(!f.passes(&kv("connect", 0, None, None, "bash")));
}

#[test]
fn kfilter_or_of_leaves_keeps_them_apart() {
    let f = derive(&[
        "evt.type = openat and ((evt.is_open_write = true and fd.name startswith /etc/) \
         or (evt.is_open_read = true and fd.name = /etc/shadow))",
    ]);
    assert_eq!(clauses(&f, "openat").len(), 2);
    assert!(f.passes(&openat("/etc/hosts", o::WRONLY)));
    assert!(!f.passes(&openat("/etc/hosts", o::RDONLY)));
    assert!(f.passes(&openat("/etc/shadow", o::RDONLY)));
}

#[test]
fn kfilter_too_many_clauses_are_joined_conservatively() {
    // 20 alternatives, each an access mode and a path: more than the kernel
    // evaluates. Whatever is merged, each still passes.
    let alts: Vec<String> = (0..20)
        .map(|i| {
            let m = if i % 2 == 0 { "read" } else { "write" };
            format!("(evt.is_open_{m} = true and fd.name = /d{i}/f)")
        })
        .collect();
    let f = derive(&[&format!("evt.type = openat and ({})", alts.join(" or "))]);
    assert!(clauses(&f, "openat").len() <= MAX_CLAUSES);
    for i in 0..20 {
        let fl = if i % 2 == 0 { o::RDONLY } else { o::WRONLY };
        assert!(f.passes(&openat(&format!("/d{i}/f"), fl)), "{i}");
    }
    assert!(!f.passes(&openat("/tmp/x", 0)));
}

#[test]
fn kfilter_too_many_sets_are_merged_conservatively() {
    // 10 event types x 8 clauses, each with its own path set and comm set:
    // 80 sets of each kind.
    let mut per_type = vec![Vec::new(); crate::event::table::EVENT_ID_LIMIT];
    let mut all = Vec::new();
    for t in 0..10 {
        for k in 0..8 {
            let i = t * 8 + k;
            let c = AClause {
                path: Some([Atom::Exact(format!("/p{i}").into_bytes())].into()),
                comm: Some([comm_key(format!("c{i}").as_bytes())].into()),
                ..AClause::top()
            };
            per_type[64 + t].push(c);
            all.push((64 + t, i));
        }
    }
    let f = assemble(per_type);
    assert!(f.path_sets.len() <= MAX_SETS && f.comm_sets.len() <= MAX_SETS);
    for (t, i) in all {
        let path = format!("/p{i}");
        let v = KView {
            ty: EventType(t as u16),
            ret: 0,
            flags: None,
            path: Some(path.as_bytes()),
            comm: comm_key(format!("c{i}").as_bytes()),
            leader_comm: [0; 16],
            main_thread: true,
        };
        assert!(f.passes(&v), "{i}");
    }
}

#[test]
fn kfilter_too_many_map_entries_drop_the_largest_sets() {
    let t = ty("openat").0 as usize;
    let mut per_type = vec![Vec::new(); crate::event::table::EVENT_ID_LIMIT];
    let big: std::collections::BTreeSet<Atom> = (0..MAX_PATH_ENTRIES + 10)
        .map(|i| Atom::Exact(format!("/big/{i}").into_bytes()))
        .collect();
    per_type[t].push(AClause {
        acc: 0b0001,
        path: Some(big),
        ..AClause::top()
    });
    per_type[t].push(AClause {
        acc: 0b0010,
        path: Some([Atom::Prefix(b"/etc/".to_vec())].into()),
        ..AClause::top()
    });
    let f = assemble(per_type);
    assert!(f.paths.len() <= MAX_PATH_ENTRIES);
    // The big set no longer constrains; the small one still does.
    assert!(f.passes(&openat("/tmp/x", o::RDONLY)));
    assert!(f.passes(&openat("/big/7", o::RDONLY)));
    assert!(f.passes(&openat("/etc/x", o::WRONLY)));
    assert!(!f.passes(&openat("/tmp/x", o::WRONLY)));
}

#[test]
fn kfilter_path_masks_are_closed_over_shorter_prefixes() {
    let mut per_type = vec![Vec::new(); crate::event::table::EVENT_ID_LIMIT];
    let set = |atoms: Vec<Atom>| AClause {
        path: Some(atoms.into_iter().collect()),
        ..AClause::top()
    };
    let t = ty("openat").0 as usize;
    per_type[t].push(set(vec![Atom::Prefix(b"/etc/".to_vec())]));
    per_type[t].push(AClause {
        ret: RET_FAILURE,
        ..set(vec![Atom::Exact(b"/etc/shadow".to_vec())])
    });
    per_type[t].push(AClause {
        acc: 0b0010,
        ..set(vec![
            Atom::Prefix(b"/etc/ssh/".to_vec()),
            Atom::Exact(b"/etc".to_vec()),
        ])
    });
    let f = assemble(per_type);
    let bit = |a: &str| {
        let i = f
            .path_sets
            .iter()
            .position(|s| s.iter().any(|p| p.pattern == a.as_bytes()))
            .unwrap();
        1u64 << i
    };
    let (etc, shadow, ssh) = (bit("/etc/"), bit("/etc/shadow"), bit("/etc/ssh/"));
    assert_eq!(f.lookup_path(b"/etc/shadow"), etc | shadow);
    assert_eq!(f.lookup_path(b"/etc/ssh/sshd_config"), etc | ssh);
    assert_eq!(f.lookup_path(b"/etc/hosts"), etc);
    assert_eq!(f.lookup_path(b"/etc"), ssh);
    assert_eq!(f.lookup_path(b"/etcx"), 0);
    // Every entry's mask holds the own bits of its shorter prefixes.
    for e in &f.paths {
        for p in f.paths.iter().filter(|p| !p.exact) {
            if e.pattern.starts_with(&p.pattern) {
                let own: u64 = f
                    .path_sets
                    .iter()
                    .enumerate()
                    .filter(|(_, s)| s.iter().any(|x| x.pattern == p.pattern && !x.exact))
                    .map(|(i, _)| 1u64 << i)
                    .sum();
                assert_eq!(e.mask & own, own, "{:?} / {:?}", e.pattern, p.pattern);
            }
        }
    }
}

#[test]
fn kfilter_glob_literal_runs() {
    let runs = |p: &str| -> Vec<String> {
        glob_runs(p.as_bytes())
            .into_iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect()
    };
    assert_eq!(runs("*../*../*"), vec!["../", "../"]);
    assert_eq!(runs("/a[/.]b?c\\*d"), vec!["/a", "b", "c", "d"]);
    assert_eq!(runs("/a[]x]/y"), vec!["/a", "/y"]);
    assert_eq!(runs("/a[x"), vec!["/a"]);
}

// ---------------------------------------------------------------- report

/// What the filter derives for kestrel's default rules and Falco's stable
/// file, and the loadgen `open` scenario's event against each (run with
/// `--nocapture` to read it).
#[test]
fn kfilter_report_default_and_stable_rules() {
    let loadgen = KView {
        ty: ty("openat"),
        ret: 3,
        flags: Some((o::RDONLY | o::CLOEXEC) as u32),
        path: Some(b"/tmp/kestrel-loadgen-4242-000000001/file17"),
        comm: comm_key(b"kestrel-loadgen"),
        leader_comm: comm_key(b"kestrel-loadgen"),
        main_thread: false,
    };
    for (name, file) in [
        (
            "kestrel default rules",
            repo_file("rules/kestrel_rules.yaml"),
        ),
        ("falco_rules.yaml", reference("falco_rules.yaml")),
    ] {
        let rules = load_files(&[file]);
        let rs = ruleset(&rules);
        let t0 = std::time::Instant::now();
        let f = KernelFilter::derive(&rs);
        println!("derived in {:?}", t0.elapsed());
        println!("==== {name}\n{}", f.describe());
        println!(
            "loadgen openat O_RDONLY of /tmp/...: passes = {}",
            f.passes(&loadgen)
        );
        assert!(!f.passes(&loadgen), "{name}: the loadgen open passes");
        assert!(
            !f.passes(&KView {
                main_thread: true,
                ..loadgen
            }),
            "{name}"
        );
        // The same read of a credential file passes.
        assert!(f.passes(&KView {
            path: Some(b"/etc/shadow"),
            ..loadgen
        }));
        let (_, _, with_clauses) = f.counts();
        assert!(with_clauses > 0);
        assert!(clauses(&f, "openat").len() <= MAX_CLAUSES);
        // Which rules keep the filter wide: those whose own filter passes
        // every event of a type, or every open-family event of some
        // access mode whatever its path.
        for r in &rules {
            let one = KernelFilter::derive_with([r], &DeriveOptions::default());
            let all: Vec<&str> = EVENTS
                .iter()
                .filter(|i| one.types[i.ty.0 as usize] == TypeFilter::PassAll)
                .map(|i| i.name)
                .collect();
            if !all.is_empty() {
                println!("  rule '{}': passes every {}", r.name, all.join(", "));
            }
            if let TypeFilter::Clauses(cs) = &one.types[ty("openat").0 as usize] {
                for c in cs.iter().filter(|c| c.path_mask == 0) {
                    println!("  rule '{}': openat {}", r.name, one.describe_clause(c));
                }
            }
        }
    }
}
