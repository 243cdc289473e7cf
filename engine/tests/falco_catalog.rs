//! kestrel's field catalogue against Falco 0.44's (`--list=syscall`,
//! committed as `tests/data/falco-0.44-syscall-fields.txt` with the libs
//! and container-plugin versions it comes from).
//!
//! Every Falco field must be in kestrel's catalogue or in
//! [`fields::UNAVAILABLE`] with a reason; every kestrel field must be
//! Falco's, or be listed in [`fields::NOT_IN_FALCO`] (with Falco's name for
//! it) or [`fields::FALCO_FORMS`] (a form of a Falco field); a type that
//! differs from Falco's must be in [`fields::TYPE_DIFFERS`] with a reason.
//! The lists must not carry stale entries either.

use std::collections::{BTreeMap, BTreeSet};

use kestrel_engine::fields::{
    self, resolve, ResolveError, CATALOG, FALCO_FORMS, NOT_IN_FALCO, TYPE_DIFFERS, UNAVAILABLE,
};

const FALCO: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../tests/data/falco-0.44-syscall-fields.txt"
));

struct FalcoField {
    ty: String,
    arg: String,
}

fn falco() -> BTreeMap<String, FalcoField> {
    let mut out = BTreeMap::new();
    for (n, line) in FALCO.lines().enumerate() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        assert_eq!(cols.len(), 5, "line {}: {line:?}", n + 1);
        let prev = out.insert(
            cols[0].to_string(),
            FalcoField {
                ty: cols[1].to_string(),
                arg: cols[2].to_string(),
            },
        );
        assert!(prev.is_none(), "{} listed twice", cols[0]);
    }
    out
}

/// The diff: one line per difference that has no reason.
fn unexplained() -> Vec<String> {
    let falco = falco();
    let kestrel: BTreeMap<&str, &fields::FieldDef> = CATALOG.iter().map(|d| (d.name, d)).collect();
    let unavailable: BTreeMap<&str, &str> = UNAVAILABLE.iter().copied().collect();
    let not_in_falco: BTreeSet<&str> = NOT_IN_FALCO.iter().map(|(n, _)| *n).collect();
    let forms: BTreeMap<&str, &str> = FALCO_FORMS.iter().copied().collect();
    let types: BTreeMap<&str, &str> = TYPE_DIFFERS.iter().map(|(n, t, _)| (*n, *t)).collect();
    let mut out = Vec::new();
    for (name, f) in &falco {
        match kestrel.get(name.as_str()) {
            None if unavailable.contains_key(name.as_str()) => {}
            None => out.push(format!("- {name} ({}): Falco field kestrel lacks", f.ty)),
            Some(_) if unavailable.contains_key(name.as_str()) => {
                out.push(format!("! {name}: in the catalogue and in UNAVAILABLE"))
            }
            Some(d) => {
                let ours = d.ty.falco_name();
                if ours != f.ty && types.get(name.as_str()) != Some(&f.ty.as_str()) {
                    out.push(format!(
                        "~ {name}: type {ours}, Falco {} (not in TYPE_DIFFERS)",
                        f.ty
                    ));
                }
                // A field Falco requires an argument for must take one
                // (evt.abspath's "argument" is its .src/.dst suffix, which
                // kestrel spells as fields of their own: FALCO_FORMS).
                let forms_of = forms.values().any(|f| f == name);
                if f.arg.ends_with(",required") && d.arg == fields::ArgKind::None && !forms_of {
                    out.push(format!(
                        "~ {name}: Falco requires an argument, kestrel takes none"
                    ));
                }
            }
        }
    }
    for name in kestrel.keys() {
        if falco.contains_key(*name) {
            continue;
        }
        let explained =
            not_in_falco.contains(name) || forms.get(name).is_some_and(|f| falco.contains_key(*f));
        if !explained {
            out.push(format!("+ {name}: kestrel field Falco lacks"));
        }
    }
    for name in unavailable.keys() {
        if !falco.contains_key(*name) {
            out.push(format!("! {name}: in UNAVAILABLE but not a Falco field"));
        }
    }
    for name in &not_in_falco {
        if falco.contains_key(*name) {
            out.push(format!("! {name}: in NOT_IN_FALCO but Falco has it"));
        }
    }
    for (name, t, _) in TYPE_DIFFERS {
        match (kestrel.get(name), falco.get(*name)) {
            (Some(d), Some(f)) if f.ty == *t && d.ty.falco_name() != *t => {}
            _ => out.push(format!("! {name}: stale TYPE_DIFFERS entry")),
        }
    }
    out
}

#[test]
fn the_field_catalogue_diff_against_falco_0_44_is_explained() {
    let diff = unexplained();
    assert!(
        diff.is_empty(),
        "catalogue differences without a reason:\n{}",
        diff.join("\n")
    );
}

#[test]
fn the_committed_list_is_falcos_whole_catalogue() {
    // Sanity of the data file: the classes Falco lists for the syscall
    // source, and a count that only changes with a new Falco version.
    let falco = falco();
    assert_eq!(falco.len(), 276);
    for prefix in [
        "evt.",
        "proc.",
        "thread.",
        "user.",
        "group.",
        "fd.",
        "fs.path.",
        "util.",
        "fdlist.",
        "container.",
        "k8s.",
    ] {
        assert!(
            falco.keys().any(|k| k.starts_with(prefix)),
            "no {prefix} field"
        );
    }
}

#[test]
fn every_reason_is_a_sentence_and_unavailable_fields_fail_with_it() {
    for (name, reason) in UNAVAILABLE {
        assert!(reason.len() > 20, "{name}: reason too short: {reason:?}");
        match resolve(name, None) {
            Err(ResolveError::Unavailable { name: n, reason: r }) => {
                assert_eq!(n, *name);
                assert_eq!(r, *reason);
                let msg = ResolveError::Unavailable { name: n, reason: r }.to_string();
                assert!(msg.contains(reason), "{msg}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    for (name, _, why) in TYPE_DIFFERS {
        assert!(why.len() > 20, "{name}: reason too short");
    }
}

#[test]
fn every_falco_field_kestrel_has_resolves_as_falco_writes_it() {
    for line in FALCO.lines().filter(|l| !l.starts_with('#')) {
        let cols: Vec<&str> = line.split('\t').collect();
        let (name, arg) = (cols[0], cols[2]);
        if fields::unavailable(name).is_some() {
            continue;
        }
        let r = if arg.ends_with(",required") {
            match name {
                "evt.arg" | "evt.rawarg" => resolve("evt.arg.fd", None),
                "evt.type.is" => resolve("evt.type.is.open", None),
                "evt.abspath" => resolve("evt.abspath", None)
                    .and_then(|_| resolve("evt.abspath.src", None))
                    .and_then(|_| resolve("evt.abspath.dst", None)),
                _ => resolve(name, Some("1")),
            }
        } else {
            resolve(name, None)
        };
        r.unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    assert_eq!(
        resolve("evt.type.is.openat", None).unwrap().text(),
        "evt.type.is.openat"
    );
}

#[test]
fn rules_load_with_the_new_fields_and_fail_on_unavailable_ones_with_the_reason() {
    use kestrel_engine::rules::Loader;
    let rule = |cond: &str, out: &str| {
        format!(
            "- rule: r\n  desc: d\n  condition: {cond}\n  output: \"{out}\"\n  priority: INFO\n"
        )
    };
    let mut l = Loader::new();
    let r = l.load_str(
        "ok.yaml",
        &rule(
            "evt.type in (mkdirat, renameat2) and fs.path.name startswith /tmp and user.shell != \"\" and proc.is_sid_leader = false and evt.type.is.mkdirat = 1",
            "%fs.path.name %fs.path.source %fs.path.target %evt.abspath %evt.abspath.dst %user.homedir %user.shell %proc.exeline %proc.ppid.duration %fd.sip.name",
        ),
    );
    assert!(
        r.errors.is_empty(),
        "{:?}",
        r.errors.iter().map(|e| e.render_text()).collect::<Vec<_>>()
    );

    let mut l = Loader::new();
    let r = l.load_str(
        "bad.yaml",
        &rule("evt.type = open and proc.vmrss > 100", "x"),
    );
    assert_eq!(r.errors.len(), 1);
    assert_eq!(
        r.errors[0].message,
        "filter_check called with field proc.vmrss, which kestrel does not provide: not captured: the probe does not read the task's memory counters"
    );
}
