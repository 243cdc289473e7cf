//! Replays the committed fuzz corpus (`fuzz/corpus/*`) through the
//! condition parser and the loader: nothing may panic.

use std::path::PathBuf;

use kestrel_engine::rules::{compile, parse_condition, Loader};

fn replay(bytes: &[u8]) {
    let s = String::from_utf8_lossy(bytes);
    if let Ok(e) = parse_condition(&s) {
        let mut offsets = Vec::new();
        let mut text = String::new();
        e.render(&mut text, &mut offsets);
        // Rendering re-parses to the same text (the printer is the parser's
        // inverse on what it accepts).
        if let Ok(again) = parse_condition(&text) {
            assert_eq!(again.to_text(), text, "render round trip of {s:?}");
        }
        let mut w = Vec::new();
        // Errors are fine; the checks below only need "no panic", but an
        // IR for an accepted condition must have one check per offset.
        if let Ok(ir) = compile::compile(&e, &offsets, &mut w) {
            assert!(!matches!(ir, kestrel_engine::rules::ir::Expr::And(ref c) if c.is_empty()));
        }
        if let Ok(types) = compile::event_types(&e) {
            assert!(types.len() <= compile::event_universe().len());
        }
    }
    let mut l = Loader::new();
    let r = l.load_str("corpus.yaml", &s);
    for d in r.errors.iter().chain(&r.warnings) {
        assert!(!d.render_text().is_empty());
        assert!(d.to_json()["code"].is_string());
    }
}

#[test]
fn corpus_replays_without_panics() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus");
    let mut n = 0;
    for sub in ["condition", "loader"] {
        for e in std::fs::read_dir(root.join(sub)).unwrap() {
            let p = e.unwrap().path();
            let bytes = std::fs::read(&p).unwrap();
            let name = p.display().to_string();
            // The default test-thread stack (2 MiB): deep but bounded
            // recursion (nesting limits, macro chains) must fit in it.
            std::thread::Builder::new()
                .stack_size(2 << 20)
                .spawn(move || replay(&bytes))
                .unwrap()
                .join()
                .unwrap_or_else(|_| panic!("panic on {name}"));
            n += 1;
        }
    }
    assert!(n > 400, "corpus too small: {n}");
}
