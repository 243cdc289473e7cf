//! Golden compile-error suite: every `tests/golden/compile_errors/*.yaml`
//! holds a rules text, the expected error code, a substring of the
//! message and the `line:col` (0-based, as `-V` prints them) of the last
//! context location.

use std::path::PathBuf;

use kestrel_engine::rules::yaml::parse_documents;
use kestrel_engine::rules::Loader;

#[test]
fn golden_compile_errors() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/golden/compile_errors");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "golden suite too small");
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let docs = parse_documents(&text).unwrap();
        let case = &docs[0];
        let get = |k: &str| {
            case.get(k)
                .and_then(|n| n.scalar())
                .unwrap_or_else(|| panic!("{}: missing {k}", f.display()))
                .to_string()
        };
        let (code, message, position, rules) =
            (get("code"), get("message"), get("position"), get("rules"));
        let mut l = Loader::new();
        let r = l.load_str("golden.yaml", &rules);
        let Some(d) = r.errors.first() else {
            failures.push(format!("{}: no error", f.display()));
            continue;
        };
        let last = d.locations.last().unwrap();
        let got_pos = format!("{}:{}", last.pos.line, last.pos.column);
        if d.code.as_str() != code || !d.message.contains(&message) || got_pos != position {
            failures.push(format!(
                "{}: got {} '{}' at {}\n{}",
                f.display(),
                d.code.as_str(),
                d.message,
                got_pos,
                d.render_text()
            ));
        }
        // The rendered block always carries a snippet with a caret.
        assert!(d.render_text().contains("^\n------\n"), "{}", f.display());
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
