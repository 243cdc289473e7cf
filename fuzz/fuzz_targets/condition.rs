//! Fuzzes the condition parser, then the compile stage on what parses.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(e) = kestrel_engine::rules::parse_condition(s) {
            let mut offsets = Vec::new();
            let mut text = String::new();
            e.render(&mut text, &mut offsets);
            let mut warnings = Vec::new();
            let _compiled = kestrel_engine::rules::compile::compile(&e, &offsets, &mut warnings);
            let _types = kestrel_engine::rules::compile::event_types(&e);
        }
    }
});
