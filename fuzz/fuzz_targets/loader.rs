//! Fuzzes the YAML loader and everything after it (lists, macros,
//! exceptions, overrides, compilation, diagnostics rendering).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let s = String::from_utf8_lossy(data);
    let mut loader = kestrel_engine::rules::Loader::new();
    let r = loader.load_str("fuzz.yaml", &s);
    for d in r.errors.iter().chain(&r.warnings) {
        let _text = d.render_text();
        let _json = d.to_json();
    }
    let _plugins = loader.check_plugin_requirements();
});
