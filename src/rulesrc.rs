//! Where rules come from: the embedded default rules, or the files and
//! directories of `-r` / `rules_files` (Falco's loading semantics).

use std::path::PathBuf;

use anyhow::{bail, Result};
use kestrel_engine::rules::loader::{load_paths, Loader};
use kestrel_engine::rules::report::{file_result_text, warnings_text};
use kestrel_engine::rules::Rule;

/// kestrel's default rules, embedded in the binary.
pub const EMBEDDED_RULES: &str = include_str!("../rules/kestrel_rules.yaml");
/// The name the embedded rules carry in messages.
pub const EMBEDDED_NAME: &str = "kestrel_rules.yaml";

/// Loaded rules.
pub struct Loaded {
    /// The loader (lists, macros, details for listings).
    pub loader: Loader,
    /// The compiled rules, in definition order.
    pub rules: Vec<Rule>,
    /// Where they came from, for messages.
    pub origin: String,
}

/// Loads `files` in order (the embedded rules when empty). A failing file
/// stops the load with Falco's verbose error report; warnings are logged.
pub fn load(files: &[PathBuf]) -> Result<Loaded> {
    if files.is_empty() {
        let mut loader = Loader::new();
        let r = loader.load_str(EMBEDDED_NAME, EMBEDDED_RULES);
        if !r.successful() {
            bail!("the embedded rules do not load:\n{}", file_result_text(&r));
        }
        let plugin = loader.check_plugin_requirements();
        if !plugin.is_empty() {
            bail!("the embedded rules require plugins kestrel does not provide: {plugin:?}");
        }
        log_warnings(&warnings_text(&r), &r.name);
        let rules = loader.rules().to_vec();
        return Ok(Loaded {
            loader,
            rules,
            origin: format!("{EMBEDDED_NAME} (embedded)"),
        });
    }
    match load_paths(files) {
        Ok(l) => {
            for r in &l.results {
                log_warnings(&warnings_text(r), &r.name);
            }
            let origin = l
                .results
                .iter()
                .map(|r| r.name.clone())
                .collect::<Vec<_>>()
                .join(", ");
            if l.results.is_empty() {
                bail!(
                    "no rules files found in {} (only *.yaml and *.yml files are loaded)",
                    crate::daemon::describe_paths(files)
                );
            }
            let rules = l.loader.rules().to_vec();
            Ok(Loaded {
                loader: l.loader,
                rules,
                origin,
            })
        }
        Err(f) => {
            let mut msg = String::from("invalid rules:\n");
            if let Some(e) = &f.io_error {
                msg.push_str(e);
                msg.push('\n');
            }
            for r in &f.results {
                msg.push_str(&file_result_text(r));
            }
            bail!("{}", msg.trim_end())
        }
    }
}

fn log_warnings(text: &str, name: &str) {
    if !text.is_empty() {
        log::warn!("{name}: loaded with warnings\n{}", text.trim_end());
    }
}
